// framepipe's web client. The first half is shared with dashboard.js (the session, API calls, the
// optional API token, the live event stream, formatting); the second half is the library page
// (index.html) and runs only there. Plain ES modules, no build step: every URL is relative, so the
// pages work at "/" and "/dashboard" alike.

// ---------------------------------------------------------------------------------------------
// Shared
// ---------------------------------------------------------------------------------------------

const TOKEN_KEY = 'framepipe.api_token';

// The server's way of knowing who asks (GET /api/auth/me): 'accounts' (users sign in; the session
// is an HttpOnly cookie the page never sees), 'none' (one open single-user server, maybe behind one
// shared API token) or 'unknown' until the server answered. `user` is null while nobody is signed in.
// `shareMaxSeconds`: the longest share link, when the server says (null: learnt from a refusal).
export const session = { auth: 'unknown', signupOpen: false, user: null, shareMaxSeconds: null };

export function accountsOn() {
  return session.auth === 'accounts';
}

// In single-user mode everyone is the admin, as before accounts existed.
export function isAdmin() {
  return !accountsOn() || Boolean(session.user && session.user.admin);
}

export function storedToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';  // storage disabled: the token lives only as long as the page
  }
}

function storeToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Nothing to do: the page keeps working until it is reloaded.
  }
}

// `url` with `params` added to its query string (relative URLs stay relative).
export function withQuery(url, params) {
  const entries = Object.entries(params).filter(([, value]) => value !== undefined && value !== '');
  if (entries.length === 0) return url;
  const query = entries.map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`);
  return url + (url.includes('?') ? '&' : '?') + query.join('&');
}

// The API answers with absolute paths ("/api/jobs/ID/result"); made relative so that a page served
// below a prefix keeps working.
export function relativeUrl(path) {
  return path.startsWith('/') ? path.slice(1) : path;
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;  // 0: the server could not be reached
  }
}

const authListeners = new Set();

// Shows the token form; `listener` runs after a new token is saved.
export function onTokenSaved(listener) {
  authListeners.add(listener);
}

export function showAuthPanel(message = '') {
  const panel = document.getElementById('auth-panel');
  if (!panel) return;
  const wasHidden = panel.hidden;
  panel.hidden = false;
  document.getElementById('auth-error').textContent = message;
  if (wasHidden) document.getElementById('auth-token').focus();
}

function setUpAuthPanel() {
  const form = document.getElementById('auth-form');
  if (!form) return;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const input = document.getElementById('auth-token');
    const token = input.value.trim();
    if (!token) {
      document.getElementById('auth-error').textContent = 'Enter the token first.';
      return;
    }
    storeToken(token);
    input.value = '';
    document.getElementById('auth-panel').hidden = true;
    for (const listener of authListeners) listener();
  });
}

// The saved API token, for the single-user mode only: with accounts a stale token from that mode
// would shadow the session cookie.
export function currentToken() {
  return accountsOn() ? '' : storedToken();
}

export function authHeaders() {
  const token = currentToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

const signedOutListeners = new Set();

// `listener(message)` runs when the session ends: signed out here, or refused by the server.
export function onSignedOut(listener) {
  signedOutListeners.add(listener);
}

function sessionLost(message) {
  session.user = null;
  showAccount();
  for (const listener of signedOutListeners) listener(message);
}

// A 401 from the API: with accounts the session has ended; without, the token is missing or wrong.
function unauthorized() {
  if (accountsOn()) {
    if (session.user) sessionLost('Your session has ended: sign in again.');
    return;
  }
  showAuthPanel(storedToken() ? 'The saved token was refused; enter the right one.' : '');
}

// Calls the JSON API; `body` is sent as JSON. Returns the parsed answer (null for 204); throws
// ApiError with the server's own words. `signIn`: a 401 is the answer itself (a wrong password),
// not a sign that the session ended.
export async function api(path, { method = 'GET', body, signIn = false } = {}) {
  const headers = { Accept: 'application/json', ...authHeaders() };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, 'the server cannot be reached');
  }
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    const message = (answer && typeof answer.error === 'string' && answer.error) || `HTTP ${response.status}`;
    if (response.status === 401 && !signIn) unauthorized();
    const error = new ApiError(response.status, message);
    error.retryAfter = Number(response.headers.get('Retry-After')) || 0;
    throw error;
  }
  return answer;
}

// Asks the server who we are and fills `session`. Without an Authorization header: a token saved
// for the single-user mode must not hide the session cookie. A server from before accounts (404)
// is the open single-user mode. Returns {} or {error} (the server could not be reached).
export async function loadSession() {
  let response;
  try {
    response = await fetch('api/auth/me', { headers: { Accept: 'application/json' }, cache: 'no-store' });
  } catch {
    return { error: new ApiError(0, 'the server cannot be reached') };
  }
  const answer = await response.json().catch(() => null);
  if (!answer || (answer.auth !== 'accounts' && answer.auth !== 'none')) {
    if (response.status >= 500) return { error: new ApiError(response.status, `HTTP ${response.status}`) };
    Object.assign(session, { auth: 'none', signupOpen: false, user: null });
  } else {
    session.auth = answer.auth;
    session.signupOpen = Boolean(answer.signup_open);
    session.user = response.ok && answer.user && typeof answer.user === 'object' ? answer.user : null;
    const longest = answer.share_max_ttl_seconds;
    session.shareMaxSeconds = Number.isInteger(longest) && longest > 0 ? longest : null;
  }
  showAccount();
  return {};
}

// The header's account corner: the user's name and a sign-out button with accounts, a discreet
// "single-user mode" without. Links for admins only are hidden from the others.
export function showAccount() {
  const box = document.getElementById('account');
  if (!box) return;
  const user = accountsOn() ? session.user : null;
  box.hidden = !(session.auth === 'none' || user);
  document.getElementById('account-mode').hidden = session.auth !== 'none';
  document.getElementById('account-user').hidden = !user;
  document.getElementById('sign-out').hidden = !user;
  document.getElementById('account-name').textContent = user ? user.username : '';
  document.getElementById('account-admin').hidden = !(user && user.admin);
  for (const link of document.querySelectorAll('[data-admin-link], [data-accounts-link]')) {
    link.hidden = (link.hasAttribute('data-admin-link') && !isAdmin()) || (link.hasAttribute('data-accounts-link') && !user);
  }
}

export async function signOut() {
  try {
    await api('api/auth/logout', { method: 'POST', signIn: true });
  } catch {
    // The session is gone on the server already, or the server is away: signed out here anyway.
  }
  sessionLost('');
}

function setUpSignOut() {
  const button = document.getElementById('sign-out');
  if (button) button.addEventListener('click', signOut);
}

// A live Server-Sent Events stream. EventSource reconnects by itself when a connection drops, but
// gives up for good on an HTTP error (401, 5xx) or a wrong content type; that case is retried here
// with a doubling delay, after asking the API whether a token or a session is what is missing.
// `handlers`: { events: {name: (data) => void}, open: () => void }. `onStatus` receives
// 'live' | 'reconnecting' | 'offline' | 'auth'.
export function liveStream(path, handlers, onStatus) {
  let source = null;
  let retryTimer = 0;
  let delayMs = 1000;
  let stopped = false;  // until restarted: a check under way must not open it again
  const maxDelayMs = 30000;

  function open() {
    clearTimeout(retryTimer);
    if (stopped) return;
    if (source) source.close();
    source = new EventSource(withQuery(path, { token: currentToken() }));
    source.addEventListener('open', () => {
      delayMs = 1000;
      onStatus('live');
      if (handlers.open) handlers.open();
    });
    for (const [name, handle] of Object.entries(handlers.events)) {
      source.addEventListener(name, (event) => {
        let data;
        try {
          data = JSON.parse(event.data);
        } catch {
          return;  // a malformed event is dropped; the next one carries the full state again
        }
        handle(data);
      });
    }
    source.addEventListener('error', () => {
      if (source.readyState !== EventSource.CLOSED) {
        onStatus('reconnecting');
        return;
      }
      source.close();
      source = null;
      // Any route that needs a caller: /api/workers is for admins only.
      api('api/filters').then(
        () => schedule(),  // the API answers: the stream itself failed, try it again later
        (error) => {
          if (stopped) return;
          if (error.status === 401) onStatus('auth');  // retried once a token is saved or signed in
          else schedule();
        });
    });
  }

  function schedule() {
    if (stopped) return;
    onStatus('offline');
    retryTimer = setTimeout(open, delayMs);
    delayMs = Math.min(delayMs * 2, maxDelayMs);
  }

  open();
  return {
    restart() {
      delayMs = 1000;
      stopped = false;
      open();
    },
    stop() {
      stopped = true;
      clearTimeout(retryTimer);
      if (source) source.close();
      source = null;
    },
  };
}

const LIVE_TEXT = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline, retrying…',
  auth: 'Token needed',
  'signed-out': 'Signed out',
};

export function showLiveStatus(status) {
  const holder = document.querySelector('.live-status');
  if (!holder) return;
  holder.dataset.live = status;
  document.getElementById('live-text').textContent = LIVE_TEXT[status] || status;
}

// Fills the "no worker" notice's command and the footer's version from GET /api/cluster.
// Returns {cluster} (the answer, for pages that need more of it) or {error} (an ApiError).
export async function loadClusterInfo() {
  let cluster;
  try {
    cluster = await api('api/cluster');
  } catch (error) {
    return { error };  // the notice keeps its generic command
  }
  if (cluster && cluster.worker_command) {
    for (const element of document.querySelectorAll('[data-worker-command], #worker-command')) {
      element.textContent = cluster.worker_command;
    }
  }
  const version = document.getElementById('version');
  if (version && cluster && cluster.version) version.textContent = `framepipe ${cluster.version}`;
  return { cluster };
}

export function showNoWorkerNotice(workers) {
  const notice = document.getElementById('no-workers');
  if (notice) notice.hidden = workers.length > 0;
}

function setUpCopyButtons() {
  document.addEventListener('click', async (event) => {
    const button = event.target.closest('[data-copy]');
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    const field = source instanceof HTMLInputElement;
    const text = field ? source.value : source.textContent;
    try {
      await navigator.clipboard.writeText(text);
      flashButton(button, 'Copied');
    } catch {
      // No clipboard (plain http on another host): select the text so that Ctrl+C works.
      if (field) {
        source.focus();
        source.select();
      } else {
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
      }
      flashButton(button, 'Press Ctrl+C');
    }
  });
}

function flashButton(button, text) {
  const original = button.dataset.label || button.textContent;
  button.dataset.label = original;
  button.textContent = text;
  setTimeout(() => { button.textContent = original; }, 1500);
}

export function announce(text) {
  const announcer = document.getElementById('announcer');
  if (!announcer) return;
  announcer.textContent = '';
  // A fresh text node after a tick makes screen readers read repeated messages too.
  setTimeout(() => { announcer.textContent = text; }, 50);
}

// Creates an element: el('p', {class: 'x', text: 'hello'}, child, ...). Text is never parsed as
// HTML: job names and error messages come from users and peers.
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') element.textContent = value;
    else if (key === 'class') element.className = value;
    else if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child);
  }
  return element;
}

// Sizes in powers of 1024, as the server counts quotas and results: "1.2 GiB", "50 MiB".
export function formatBytes(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) return '–';
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${Math.round(value)} bytes`;
  const digits = value < 10 && !Number.isInteger(value) ? 1 : 0;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

export function formatNumber(value, fractionDigits = 0) {
  if (!Number.isFinite(value)) return '–';
  return value.toLocaleString(undefined, {
    minimumFractionDigits: fractionDigits,
    maximumFractionDigits: fractionDigits,
  });
}

// "45 s", "3 min 05 s", "1 h 02 min".
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  const total = Math.round(seconds);
  if (total < 60) return `${total} s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${minutes} min ${String(total % 60).padStart(2, '0')} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

export function formatClock(isoText) {
  const date = new Date(isoText);
  if (Number.isNaN(date.getTime())) return '';
  const today = new Date().toDateString() === date.toDateString();
  return today
    ? date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })
    : date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function throughputText(fps) {
  return `${formatNumber(fps || 0, 1)} frames/s`;
}

// An output format's name as people write it: "webm" -> "WebM", "mp4" -> "MP4".
export function formatLabel(name) {
  const labels = { webm: 'WebM', ogg: 'Ogg' };
  return labels[name] || String(name || '').toUpperCase();
}

// A codec (libavcodec's name, as the job JSON gives it) as people write it: "h264" -> "H.264".
export function codecLabel(codec) {
  const labels = {
    h264: 'H.264', hevc: 'HEVC', vp8: 'VP8', vp9: 'VP9', av1: 'AV1', mpeg4: 'MPEG-4 Part 2',
    aac: 'AAC', mp3: 'MP3', opus: 'Opus', vorbis: 'Vorbis', flac: 'FLAC', pcm_s16le: 'PCM',
    ac3: 'AC-3', eac3: 'E-AC-3',
  };
  return labels[codec] || codec;
}

// What a job's result is: "WebM · VP9 + Opus", "MP3 · MP3 audio", "MP4 · H.264, no audio".
// The audio codec is absent from the job until the input is probed, null when there is none.
export function outputText(job) {
  if (!job.format) return '';
  const label = formatLabel(job.format);
  const video = job.output_video_codec ? codecLabel(job.output_video_codec) : '';
  const audio = job.output_audio_codec ? codecLabel(job.output_audio_codec) : '';
  if (!video) return audio ? `${label} · ${audio} audio` : label;
  if (audio) return `${label} · ${video} + ${audio}`;
  return job.output_audio_codec === null ? `${label} · ${video}, no audio` : `${label} · ${video}`;
}

export function workersText(count) {
  return count === 1 ? '1 worker' : `${count} workers`;
}

// Job states that no longer change.
export const FINISHED_STATES = new Set(['done', 'failed', 'canceled']);

// Orders two versions of one job so that an older copy (a GET answered after a newer event) never
// replaces a newer one.
function stateRank(state) {
  return state === 'queued' ? 0 : state === 'running' ? 1 : 2;
}

export function isNewer(candidate, current) {
  if (!current) return true;
  const difference = stateRank(candidate.state) - stateRank(current.state);
  if (difference !== 0) return difference > 0;
  if (FINISHED_STATES.has(candidate.state)) return true;
  return (candidate.frames_done || 0) >= (current.frames_done || 0);
}

setUpAuthPanel();
setUpCopyButtons();
setUpSignOut();

// ---------------------------------------------------------------------------------------------
// The library page (index.html)
// ---------------------------------------------------------------------------------------------

// Parses chain text the way the server does (worker/src/filters.cpp): "name", "name=value" (the
// first parameter) or "name=key=value:key=value", steps separated by commas; blank means "copy".
// Returns {steps: [{name, values: {param: text}}]} or {error}. Rules that span parameters (edges'
// low <= high, scale's width or height) are left to the server, whose answer is shown as is.
export function parseChain(text, catalogue) {
  const trimmed = text.trim();
  if (trimmed === '') return { steps: [] };
  const byName = new Map(catalogue.map((filter) => [filter.name, filter]));
  const validFilters = `valid filters: ${catalogue.map((filter) => filter.name).join(', ')}`;
  const steps = [];
  const parts = trimmed.split(',');
  for (let position = 0; position < parts.length; position += 1) {
    const part = parts[position];
    const equals = part.indexOf('=');
    const name = (equals < 0 ? part : part.slice(0, equals)).trim();
    if (!name) return { error: `step ${position + 1} has no filter name; ${validFilters}` };
    const filter = byName.get(name);
    if (!filter) return { error: `unknown filter '${name}'; ${validFilters}` };
    const validParams = `valid parameters: ${filter.params.map((param) => param.name).join(', ')}`;
    const values = {};
    if (equals >= 0) {
      const argumentsText = part.slice(equals + 1).trim();
      if (filter.params.length === 0) return { error: `${name}: takes no parameters` };
      if (!argumentsText) return { error: `${name}: '=' must be followed by a value or key=value pairs; ${validParams}` };
      const items = argumentsText.split(':');
      for (let index = 0; index < items.length; index += 1) {
        const item = items[index].trim();
        if (!item) return { error: `${name}: empty parameter (a stray ':'); ${validParams}` };
        const itemEquals = item.indexOf('=');
        let param;
        let valueText;
        if (itemEquals < 0) {
          if (index !== 0) return { error: `${name}: value '${item}' has no key; only the first value may omit it; ${validParams}` };
          [param] = filter.params;
          valueText = item;
        } else {
          const key = item.slice(0, itemEquals).trim();
          valueText = item.slice(itemEquals + 1).trim();
          param = filter.params.find((candidate) => candidate.name === key);
          if (!param) return { error: `${name}: unknown parameter '${key}'; ${validParams}` };
        }
        if (param.name in values) return { error: `${name}: parameter '${param.name}' is given more than once` };
        const problem = checkValue(param, valueText);
        if (problem) return { error: `${name}: parameter '${param.name}' ${problem}` };
        values[param.name] = valueText;
      }
    }
    for (const param of filter.params) {
      if (!(param.name in values)) values[param.name] = String(param.default);
    }
    steps.push({ name, values });
  }
  return { steps };
}

// Returns what is wrong with one parameter value, or ''.
function checkValue(param, valueText) {
  if (valueText === '') return 'has no value';
  const value = Number(valueText.replace(/^\+/, ''));
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(valueText) || !Number.isFinite(value)) {
    return `must be ${param.type === 'integer' ? 'an integer' : 'a number'}, got '${valueText}'`;
  }
  if (param.type === 'integer' && !Number.isInteger(value)) return `must be an integer, got '${valueText}'`;
  if (Array.isArray(param.choices) && param.choices.length > 0) {
    return param.choices.includes(value) ? '' : `must be one of ${param.choices.join(', ')}, got '${valueText}'`;
  }
  if (value < param.min || value > param.max) return `must be between ${param.min} and ${param.max}, got '${valueText}'`;
  return '';
}

export function chainText(steps, catalogue) {
  return steps.map((step) => {
    const filter = catalogue.find((candidate) => candidate.name === step.name);
    if (!filter || filter.params.length === 0) return step.name;
    const values = filter.params.map((param) => `${param.name}=${String(step.values[param.name] ?? param.default).trim()}`);
    return `${step.name}=${values.join(':')}`;
  }).join(',');
}

function initJobsPage() {
  const jobs = new Map();  // id -> {job, card, parts}
  const chain = { catalogue: [], steps: [] };
  let formats = [];  // GET /api/cluster's output formats; [] until known (the server's default)
  let liveWorkers = null;  // null until known
  let jobsLoaded = false;  // "no jobs yet" is said only once the server has told us so

  const $ = (id) => document.getElementById(id);

  // ---- Chain editor ----

  function filterSpec(name) {
    return chain.catalogue.find((filter) => filter.name === name);
  }

  function renderSteps(focus) {
    const list = $('chain-steps');
    list.replaceChildren();
    chain.steps.forEach((step, index) => list.append(stepItem(step, index)));
    $('chain-empty').hidden = chain.steps.length > 0;
    if (focus) {
      const target = list.querySelector(focus);
      if (target && !target.disabled) target.focus();
      else $('add-filter').focus();
    }
  }

  function stepItem(step, index) {
    const filter = filterSpec(step.name);
    const label = `step ${index + 1}, ${step.name}`;
    const paramsBox = el('div', { class: 'step-params' });
    for (const param of filter.params) {
      const id = `step-${index}-${param.name}`;
      const helpId = `${id}-help`;
      let input;
      if (Array.isArray(param.choices) && param.choices.length > 0) {
        input = el('select', { id, 'aria-describedby': helpId });
        for (const choice of param.choices) {
          input.append(el('option', { value: String(choice), text: String(choice) }));
        }
        input.value = String(step.values[param.name]);
      } else {
        input = el('input', {
          id,
          type: 'number',
          inputmode: param.type === 'integer' ? 'numeric' : 'decimal',
          min: param.min,
          max: param.max,
          step: param.type === 'integer' ? 1 : 'any',
          value: step.values[param.name],
          required: true,
          'aria-describedby': helpId,
        });
      }
      input.dataset.param = param.name;
      input.addEventListener('input', () => {
        step.values[param.name] = input.value;
        input.setAttribute('aria-invalid', String(!input.checkValidity() || input.value === ''));
        syncTextFromSteps();
      });
      paramsBox.append(el('div', { class: 'step-param' },
        el('label', { for: id, text: param.name }),
        input,
        el('span', { id: helpId, class: 'hint', text: rangeText(param) + (param.help ? ` ${param.help}` : '') })));
    }
    const last = index === chain.steps.length - 1;
    return el('li', { class: 'step', dataset: { filter: step.name } },
      el('div', { class: 'step-head' },
        el('span', { class: 'step-number', 'aria-hidden': 'true', text: String(index + 1) }),
        el('span', { class: 'step-name' }, el('strong', { text: step.name }), el('span', { class: 'hint', text: filter.help })),
        el('span', { class: 'step-buttons' },
          el('button', { type: 'button', class: 'icon-button', 'data-action': 'up', disabled: index === 0, 'aria-label': `Move ${label} up`, title: 'Move up', text: '↑', onclick: () => moveStep(index, -1) }),
          el('button', { type: 'button', class: 'icon-button', 'data-action': 'down', disabled: last, 'aria-label': `Move ${label} down`, title: 'Move down', text: '↓', onclick: () => moveStep(index, 1) }),
          el('button', { type: 'button', class: 'icon-button danger', 'data-action': 'remove', 'aria-label': `Remove ${label}`, title: 'Remove', text: '✕', onclick: () => removeStep(index) }))),
      filter.params.length > 0 ? paramsBox : null);
  }

  function rangeText(param) {
    if (Array.isArray(param.choices) && param.choices.length > 0) return `One of ${param.choices.join(', ')}.`;
    return `${param.type === 'integer' ? 'Integer' : 'Number'} from ${param.min} to ${param.max}, default ${param.default}.`;
  }

  function moveStep(index, offset) {
    const [step] = chain.steps.splice(index, 1);
    chain.steps.splice(index + offset, 0, step);
    renderSteps(`li:nth-child(${index + offset + 1}) [data-action="${offset < 0 ? 'up' : 'down'}"]`);
    syncTextFromSteps();
    announce(`${step.name} moved to step ${index + offset + 1}`);
  }

  function removeStep(index) {
    const [step] = chain.steps.splice(index, 1);
    const next = Math.min(index, chain.steps.length - 1);
    renderSteps(next >= 0 ? `li:nth-child(${next + 1}) [data-action="remove"]` : '#none');
    syncTextFromSteps();
    announce(`${step.name} removed`);
  }

  function addStep() {
    const filter = filterSpec($('add-filter').value);
    if (!filter) return;
    const values = {};
    for (const param of filter.params) values[param.name] = String(param.default);
    chain.steps.push({ name: filter.name, values });
    renderSteps(filter.params.length > 0 ? `li:last-child [data-param]` : null);
    syncTextFromSteps();
    announce(`${filter.name} added as step ${chain.steps.length}`);
  }

  function syncTextFromSteps() {
    const text = chainText(chain.steps, chain.catalogue);
    $('chain-text').value = text;
    showChainError(parseChain(text, chain.catalogue).error || '');
    showFormatHelp();
  }

  function syncStepsFromText() {
    showFormatHelp();
    const parsed = parseChain($('chain-text').value, chain.catalogue);
    if (parsed.error) {
      showChainError(parsed.error);
      $('chain-steps').classList.add('stale');
      return;
    }
    showChainError('');
    chain.steps = parsed.steps;
    renderSteps(null);
  }

  function showChainError(message) {
    $('chain-error').textContent = message;
    $('chain-text').setAttribute('aria-invalid', String(Boolean(message)));
    if (!message) $('chain-steps').classList.remove('stale');
  }

  function showFilterHelp() {
    const filter = filterSpec($('add-filter').value);
    $('add-filter-help').textContent = filter ? filter.help : '';
  }

  async function loadFilters() {
    try {
      chain.catalogue = await api('api/filters');
    } catch (error) {
      $('add-filter').replaceChildren(el('option', { text: 'Filters unavailable' }));
      $('add-filter-help').textContent = error.status === 401 && !accountsOn()
        ? 'Enter the API token above to load the filters.'
        : `The filter list could not be loaded (${error.message}); you can still type a chain.`;
      return;
    }
    const select = $('add-filter');
    select.replaceChildren(...chain.catalogue.map((filter) => el('option', { value: filter.name, text: filter.name })));
    const preferred = chain.catalogue.find((filter) => filter.name !== 'copy');
    if (preferred) select.value = preferred.name;
    select.disabled = false;
    $('add-step').disabled = false;
    showFilterHelp();
    if ($('chain-text').value.trim()) syncStepsFromText();
  }

  // ---- Output format ----

  function selectedFormat() {
    return formats.find((format) => format.name === $('format').value) || null;
  }

  // The chain leaves pictures alone (only `copy` steps, or none), as the server's rule for audio
  // formats says; read from the text so that it holds without the filter catalogue too.
  function chainIsCopy() {
    return $('chain-text').value.split(',')
      .map((step) => step.split('=')[0].trim())
      .every((name) => name === '' || name === 'copy');
  }

  // What is wrong with the chosen format and chain, or ''.
  function formatConflict() {
    const format = selectedFormat();
    if (!format || format.kind !== 'audio' || chainIsCopy()) return '';
    return `${formatLabel(format.name)} is audio only and takes the copy chain: remove the filter steps or choose a video format`;
  }

  function showFormatHelp() {
    const format = selectedFormat();
    if (format) {
      const encoders = [format.video_encoder && `${format.video_encoder} video`,
        format.audio_encoder && `${format.audio_encoder} audio`].filter(Boolean).join(', ');
      $('format-codecs').textContent = `A .${format.extension} file: ${encoders}.`;
    }
    const conflict = formatConflict();
    const help = $('format-help');
    help.textContent = conflict ? `${conflict}.` : 'Audio formats keep only the sound track and take the copy chain: no filter steps.';
    help.classList.toggle('warning-text', Boolean(conflict));
    $('format').setAttribute('aria-invalid', String(Boolean(conflict)));
  }

  // Fills the selector from GET /api/cluster, video and audio formats apart, the server's default
  // chosen; the user's choice is kept across reloads of the list. Without the list the form sends
  // no format and the server uses its default.
  function showFormats({ cluster, error }) {
    const select = $('format');
    const listed = cluster && Array.isArray(cluster.formats)
      ? cluster.formats.filter((format) => format && typeof format.name === 'string') : [];
    if (listed.length === 0) {
      if (formats.length > 0) return;  // keep a list loaded earlier
      select.replaceChildren(el('option', { value: '', text: 'Server default' }));
      select.disabled = true;
      $('format-codecs').textContent = error && error.status === 401 && !accountsOn()
        ? 'Enter the API token above to load the formats.'
        : `The format list could not be loaded${error ? ` (${error.message})` : ''}; the result will be in the server's default format.`;
      showFormatHelp();
      return;
    }
    formats = listed;
    const previous = select.value;
    const fallback = listed.some((format) => format.name === cluster.default_format) ? cluster.default_format : listed[0].name;
    const groups = [['video', 'Video'], ['audio', 'Audio only']].map(([kind, label]) => {
      const options = listed.filter((format) => format.kind === kind).map((format) => el('option', {
        value: format.name,
        text: `${formatLabel(format.name)}${format.name === cluster.default_format ? ' (default)' : ''}`,
      }));
      return options.length > 0 ? el('optgroup', { label }, ...options) : null;
    });
    select.replaceChildren(...groups.filter(Boolean));
    select.value = listed.some((format) => format.name === previous) ? previous : fallback;
    select.disabled = false;
    showFormatHelp();
  }

  async function loadClusterAndFormats() {
    showFormats(await loadClusterInfo());
  }

  // ---- Upload ----

  let upload = null;  // the XMLHttpRequest under way

  function describeFile(file) {
    $('file-info').textContent = file ? `${file.name} · ${formatBytes(file.size)}` : 'MP4, MKV, MOV, AVI, WebM…';
    $('drop-zone').classList.toggle('has-file', Boolean(file));
  }

  function setUpDropZone() {
    const zone = $('drop-zone');
    const input = $('file-input');
    input.addEventListener('change', () => {
      describeFile(input.files[0]);
      $('upload-error').textContent = '';
    });
    zone.addEventListener('dragover', (event) => {
      event.preventDefault();
      zone.classList.add('dragging');
    });
    zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
    zone.addEventListener('drop', (event) => {
      event.preventDefault();
      zone.classList.remove('dragging');
      if (event.dataTransfer.files.length > 0) {
        input.files = event.dataTransfer.files;
        input.dispatchEvent(new Event('change'));
      }
    });
  }

  const REFUSALS = {
    400: 'The server refused the job',
    401: 'The server needs an API token',
    409: 'The server refused the job',
    413: 'The file is too large for this server',
    415: 'The server cannot take this upload',
    503: 'The server is not taking jobs right now',
    507: 'There is no room for this upload',
  };

  function uploadFailure(status, body) {
    const detail = body && typeof body.error === 'string' ? body.error : '';
    const lead = REFUSALS[status] || `The upload failed (HTTP ${status})`;
    return detail ? `${lead}: ${detail}.` : `${lead}.`;
  }

  function setUploading(active) {
    $('start-button').disabled = active;
    $('abort-upload').hidden = !active;
    $('upload-progress').hidden = !active;
    $('upload-form').setAttribute('aria-busy', String(active));
  }

  function startUpload(event) {
    event.preventDefault();
    const errorBox = $('upload-error');
    errorBox.textContent = '';
    const file = $('file-input').files[0];
    if (!file) {
      errorBox.textContent = 'Choose a video file first.';
      $('file-input').focus();
      return;
    }
    const filters = $('chain-text').value.trim();
    if (chain.catalogue.length > 0) {
      const parsed = parseChain(filters, chain.catalogue);
      if (parsed.error) {
        errorBox.textContent = `Fix the filter chain first: ${parsed.error}.`;
        $('chain-text').focus();
        return;
      }
    }
    const conflict = formatConflict();
    if (conflict) {
      // The server would refuse it too, but only once the whole file is uploaded.
      errorBox.textContent = `Fix the format first: ${conflict}.`;
      $('format').focus();
      return;
    }
    const crf = $('crf').value.trim();
    if (crf && !$('crf').checkValidity()) {
      errorBox.textContent = 'The quality (CRF) must be a whole number from 0 to 51.';
      $('crf').focus();
      return;
    }

    const form = new FormData();
    form.append('filters', filters);
    if ($('preset').value) form.append('preset', $('preset').value);
    if ($('distribution').value !== 'auto') form.append('distribution', $('distribution').value);
    if (crf) form.append('crf', crf);
    if ($('format').value) form.append('format', $('format').value);
    form.append('file', file, file.name);

    const request = new XMLHttpRequest();
    upload = request;
    request.open('POST', 'api/jobs');
    request.responseType = 'json';
    for (const [name, value] of Object.entries(authHeaders())) request.setRequestHeader(name, value);
    const started = performance.now();
    request.upload.addEventListener('progress', (progress) => {
      if (!progress.lengthComputable) return;
      const percent = Math.floor((100 * progress.loaded) / progress.total);
      const seconds = (performance.now() - started) / 1000;
      const rate = seconds > 0.5 ? ` · ${formatBytes(progress.loaded / seconds)}/s` : '';
      $('upload-bar').value = percent;
      $('upload-text').textContent = `Uploading ${formatBytes(progress.loaded)} of ${formatBytes(progress.total)} (${percent}%)${rate}`;
    });
    request.upload.addEventListener('load', () => {
      $('upload-bar').value = 100;
      $('upload-text').textContent = 'Upload complete; the server is checking the video…';
    });
    request.addEventListener('load', () => {
      upload = null;
      setUploading(false);
      const body = request.response;
      if (request.status === 201 && body && body.id) {
        mergeJob(body);
        announce(`Job for ${body.input_name} created`);
        $('file-input').value = '';
        describeFile(null);
        const card = jobs.get(body.id)?.card;
        if (card) card.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
        refreshUsageSoon();
        return;
      }
      if (request.status === 401) unauthorized();
      errorBox.textContent = uploadFailure(request.status, body);
    });
    request.addEventListener('error', () => {
      upload = null;
      setUploading(false);
      errorBox.textContent = 'The upload failed: the connection to the server was lost.';
    });
    request.addEventListener('abort', () => {
      upload = null;
      setUploading(false);
      errorBox.textContent = 'Upload canceled.';
    });
    $('upload-bar').value = 0;
    $('upload-text').textContent = `Uploading ${file.name}…`;
    setUploading(true);
    request.send(form);
  }

  // ---- Library ----

  // `ordered`: the job comes from the event stream, whose events arrive in order; a copy from a
  // GET may be older than the last event, so it only ever moves a job forward.
  function mergeJob(job, ordered = false) {
    if (!job || typeof job.id !== 'string') return;
    if (job.deleted) {
      removeJob(job.id);
      return;
    }
    const entry = jobs.get(job.id);
    if (entry && !ordered && !isNewer(job, entry.job)) return;
    const stateChanged = !entry || entry.job.state !== job.state;
    if (entry && stateChanged) announce(`${job.input_name}: ${stateLabel(job.state)}`);
    if (entry) {
      entry.job = job;
      updateCard(entry);
    } else {
      const created = { job, ...buildCard(job) };
      jobs.set(job.id, created);
      updateCard(created);
      insertCard(created);
    }
    updateListChrome();
    if (stateChanged) {
      playlist.update();
      refreshUsageSoon();
    }
  }

  function removeJob(id) {
    const entry = jobs.get(id);
    if (!entry) return;
    if (openVideo === entry) closeVideo();
    entry.card.remove();
    jobs.delete(id);
    updateListChrome();
    playlist.update();
    refreshUsageSoon();
  }

  // Forgets every job (another user signs in next).
  function clearLibrary() {
    closeVideo();
    jobs.clear();
    $('job-list').replaceChildren();
    posterQueue.length = 0;
    jobsLoaded = false;
    playlist.update();
    updateListChrome();
  }

  // Newest first, as the server lists them.
  function insertCard(entry) {
    const list = $('job-list');
    const key = sortKey(entry.job);
    for (const card of list.children) {
      const other = jobs.get(card.dataset.jobId);
      if (other && sortKey(other.job) < key) {
        list.insertBefore(entry.card, card);
        return;
      }
    }
    list.append(entry.card);
  }

  function sortKey(job) {
    return `${job.created_at || ''}|${job.id}`;
  }

  function updateListChrome() {
    const count = jobs.size;
    $('jobs-empty').hidden = count > 0 || !jobsLoaded;
    const active = [...jobs.values()].filter((entry) => !FINISHED_STATES.has(entry.job.state)).length;
    $('jobs-count').textContent = count === 0 ? '' : `${count} ${count === 1 ? 'item' : 'items'}${active ? `, ${active} in progress` : ''}`;
    const shown = [...jobs.values()].filter((entry) => !entry.card.hidden).length;
    const searching = searchWords().length > 0;
    $('search-status').textContent = searching && count > 0 ? `${shown} of ${count} shown` : '';
    $('search-empty').hidden = !(searching && count > 0 && shown === 0);
    $('search-empty').textContent = `Nothing in your library matches “${$('library-search').value.trim()}”.`;
  }

  function stateLabel(state) {
    return { queued: 'Queued', running: 'Running', done: 'Done', failed: 'Failed', canceled: 'Canceled' }[state] || state;
  }

  // ---- Search ----

  function searchWords() {
    return $('library-search').value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  }

  // By name and format: every word typed must appear in one of them.
  function matchesSearch(job, words = searchWords()) {
    if (words.length === 0) return true;
    const text = `${job.input_name || ''} ${job.format || ''} ${outputText(job)} ${jobKind(job)}`.toLowerCase();
    return words.every((word) => text.includes(word));
  }

  function applySearch() {
    const words = searchWords();
    for (const entry of jobs.values()) entry.card.hidden = !matchesSearch(entry.job, words);
    updateListChrome();
  }

  // ---- Cards ----

  function jobKind(job) {
    return (job.mime_type || '').startsWith('audio/') || job.output_video_codec === null ? 'audio' : 'video';
  }

  function jobDuration(job) {
    const seconds = job.duration_seconds ?? job.duration;
    return Number.isFinite(seconds) && seconds > 0 ? seconds : null;
  }

  // The browser says what it can play; a format it cannot is offered for download only.
  function playable(job) {
    const mimeType = job.mime_type || 'video/mp4';
    return document.createElement(jobKind(job)).canPlayType(mimeType) !== '';
  }

  // A <video> or a link cannot send headers: the result route takes a single-user token in the
  // query; with accounts the session cookie goes along by itself.
  function resultUrl(job, download = false) {
    return withQuery(relativeUrl(job.result_url), { download: download ? 1 : undefined, access_token: currentToken() });
  }

  function buildCard(job) {
    const titleId = `job-${job.id}-title`;
    const parts = {
      thumb: el('div', { class: 'job-thumb', 'aria-hidden': 'true' }),
      length: el('span', { class: 'thumb-length' }),
      title: el('h3', { id: titleId, class: 'job-title' }),
      badge: el('span', { class: 'badge' }),
      meta: el('p', { class: 'job-meta' }),
      output: el('span', { class: 'job-format' }),
      filters: el('code', { class: 'job-filters' }),
      mode: el('p', { class: 'job-mode hint' }),
      progressRow: el('div', { class: 'progress-row' }),
      progress: el('progress', { max: 100, 'aria-labelledby': titleId }),
      percent: el('span', { class: 'job-percent' }),
      stats: el('p', { class: 'job-stats' }),
      message: el('p', { class: 'job-message' }),
      error: el('p', { class: 'job-error', role: 'alert' }),
      result: el('div', { class: 'job-result', id: `job-${job.id}-result` }),
      actions: el('div', { class: 'job-actions' }),
    };
    parts.progressRow.append(parts.progress, parts.percent);
    parts.thumb.append(placeholder(jobKind(job)), parts.length);
    const card =
        el('li', { class: 'job', dataset: { jobId: job.id } },
          el('article', { 'aria-labelledby': titleId },
            parts.thumb,
            el('div', { class: 'job-body' },
              el('div', { class: 'job-head' }, parts.title, parts.badge), parts.meta,
              el('p', { class: 'job-output' }, el('span', { class: 'hint', text: 'Output ' }), parts.output),
              el('p', { class: 'job-chain' }, el('span', { class: 'hint', text: 'Filters ' }), parts.filters),
              parts.mode, parts.progressRow, parts.stats, parts.message, parts.error),
            parts.result, parts.actions));
    return { card, parts, poster: '' };
  }

  function updateCard(entry) {
    const { job, card, parts } = entry;
    card.dataset.state = job.state;
    card.dataset.kind = jobKind(job);
    card.hidden = !matchesSearch(job);
    parts.thumb.querySelector('.poster-placeholder').dataset.kind = jobKind(job);
    parts.title.textContent = job.input_name || job.id;
    parts.badge.textContent = stateLabel(job.state);
    parts.badge.className = `badge state-${job.state}`;
    parts.filters.textContent = job.filters || 'copy';
    parts.output.textContent = outputText(job) || formatLabel('mp4');  // a job from before formats
    // How the cluster dealt the job, and why (known once it started).
    const mode = job.distribution && job.distribution.mode;
    parts.mode.textContent =
        mode ? `Dealt as ${mode}${job.distribution.why ? `: ${job.distribution.why}` : ''}` : '';
    parts.mode.hidden = !mode;

    const duration = jobDuration(job);
    parts.length.textContent = duration ? formatPlayTime(duration) : '';
    parts.length.hidden = !duration;

    const meta = [];
    if (duration) meta.push(formatDuration(duration));
    if (job.state === 'done' && job.output_bytes) meta.push(formatBytes(job.output_bytes));
    else if (job.input_bytes) meta.push(`${formatBytes(job.input_bytes)} uploaded`);
    if (job.width && job.height) {
      // An audio format keeps only the sound track: the picture size is the input's alone.
      let out = '';
      if (job.output_video_codec === null) {
        out = ' → sound only';
      } else if (job.out_width && job.out_height &&
                 (job.out_width !== job.width || job.out_height !== job.height)) {
        out = ` → ${job.out_width}×${job.out_height}`;
      }
      meta.push(`${job.width}×${job.height}${out}`);
    }
    if (job.created_at) meta.push(`created ${formatClock(job.created_at)}`);
    parts.meta.textContent = meta.join(' · ');

    const total = job.frames_total || 0;
    const done = job.frames_done || 0;
    if (job.state === 'done') {
      parts.progress.value = 100;
      parts.percent.textContent = '100%';
    } else if (total > 0) {
      const percent = Math.min(100, Math.floor((100 * done) / total));
      parts.progress.value = percent;
      parts.percent.textContent = `${percent}%`;
    } else if (job.state === 'running') {
      parts.progress.removeAttribute('value');  // indeterminate: the total is not known yet
      parts.percent.textContent = '';
    } else {
      parts.progress.value = 0;
      parts.percent.textContent = '';
    }
    // A finished item says so in its badge; a full bar would only repeat it.
    parts.progressRow.hidden = FINISHED_STATES.has(job.state);

    const stats = [];
    if (total > 0) stats.push(`${formatNumber(done)} of ${job.frames_total_exact === false ? 'about ' : ''}${formatNumber(total)} frames`);
    else if (done > 0) stats.push(`${formatNumber(done)} frames`);
    if (job.state === 'running') {
      stats.push(throughputText(job.fps));
      if (job.fps > 0 && total > done) stats.push(`about ${formatDuration((total - done) / job.fps)} left`);
    }
    // A finished job's numbers are in the server's message ("done: 75 frames in 2.5 s, 1.2 MiB").
    parts.stats.textContent = FINISHED_STATES.has(job.state) ? '' : stats.join(' · ');

    // The server's sentence explains waits and trouble; while running normally it repeats the stats.
    const message = job.message || '';
    const repeatsStats = (job.state === 'running' && message.startsWith('processing')) ||
      (job.state === 'canceled' && message === 'canceled');
    parts.message.textContent = repeatsStats || job.state === 'failed' ? '' : message;
    parts.message.hidden = parts.message.textContent === '';
    parts.error.textContent = job.state === 'failed' ? (job.error || message || 'The job failed.') : '';
    parts.error.hidden = job.state !== 'failed';

    updateResult(entry);
    updateActions(entry);
    if (job.state === 'done') wantPoster(entry);
  }

  // The result area holds the open video player, or says why there is none.
  function updateResult(entry) {
    const { job, parts } = entry;
    if (openVideo === entry) return;  // keep the player as it is
    const unplayable = job.state === 'done' && job.result_url && !playable(job);
    if (unplayable) {
      if (parts.result.dataset.for === job.result_url) return;
      parts.result.dataset.for = job.result_url;
      parts.result.replaceChildren(el('p', { class: 'job-unplayable', text: `This browser cannot play ${formatLabel(job.format || 'mp4')}; download it.` }));
      parts.result.hidden = false;
      return;
    }
    delete parts.result.dataset.for;
    parts.result.replaceChildren();
    parts.result.hidden = true;
  }

  function updateActions(entry) {
    const { job, parts } = entry;
    const active = !FINISHED_STATES.has(job.state);
    const ready = job.state === 'done' && Boolean(job.result_url);
    const wanted = `${job.state}|${ready && playable(job)}|${accountsOn()}|${currentToken()}`;
    if (parts.actions.dataset.kind === wanted) return;
    parts.actions.dataset.kind = wanted;
    const name = job.input_name;
    const buttons = [];
    if (ready && playable(job)) {
      const audio = jobKind(job) === 'audio';
      buttons.push(el('button', {
        type: 'button',
        class: 'button small primary play-button',
        text: audio ? 'Play' : openVideo === entry ? 'Close player' : 'Play',
        'aria-label': audio ? `Play ${name} in the audio playlist` : `Play ${name}`,
        'aria-controls': audio ? 'playlist' : parts.result.id,
        'aria-expanded': audio ? undefined : String(openVideo === entry),
        onclick: () => (audio ? playlist.play(job.id) : toggleVideo(entry)),
      }));
    }
    if (ready && accountsOn()) {
      buttons.push(el('button', {
        type: 'button',
        class: 'button small share-button',
        text: 'Share…',
        'aria-label': `Share ${name}`,
        'aria-haspopup': 'dialog',
        onclick: () => openShareDialog(entry),
      }));
    }
    if (ready) {
      const size = job.output_bytes ? ` (${formatBytes(job.output_bytes)})` : '';
      buttons.push(el('a', { class: 'button small', href: resultUrl(job, true), download: '', text: `Download ${formatLabel(job.format || 'mp4')}${size}` }));
    }
    const text = active ? 'Cancel job' : job.state === 'done' ? 'Delete' : 'Remove from list';
    buttons.push(el('button', {
      type: 'button',
      class: `button small delete-button ${active || job.state === 'done' ? 'danger' : ''}`,
      text,
      'aria-label': `${text}: ${name}`,
      onclick: (event) => deleteJob(entry, event.currentTarget),
    }));
    parts.actions.replaceChildren(...buttons);
    // The poster plays too, for a pointer; keyboards and screen readers have the Play button.
    const play = parts.actions.querySelector('.play-button');
    parts.thumb.classList.toggle('playable', Boolean(play));
    parts.thumb.onclick = play ? () => play.click() : null;
  }

  async function deleteJob(entry, button) {
    const { job } = entry;
    const question = !FINISHED_STATES.has(job.state)
      ? `Cancel the job for ${job.input_name}? Its progress and files are discarded.`
      : job.state === 'done' ? `Delete ${job.input_name} and its result${accountsOn() ? ', and the links that share it' : ''}? This cannot be undone.` : null;
    if (question && !window.confirm(question)) return;
    button.disabled = true;
    try {
      const answer = await api(`api/jobs/${encodeURIComponent(job.id)}`, { method: 'DELETE' });
      if (answer && answer.deleted) removeJob(job.id);
      else if (answer) mergeJob(answer, true);
      announce(answer && answer.deleted ? `${job.input_name} removed` : `${job.input_name} canceled`);
      if (answer && answer.deleted && accountsOn()) loadShares();
    } catch (error) {
      if (error.status === 404) {
        removeJob(job.id);
        return;
      }
      button.disabled = false;
      entry.parts.error.hidden = false;
      entry.parts.error.textContent = `Could not ${FINISHED_STATES.has(job.state) ? 'delete' : 'cancel'} the job: ${error.message}.`;
    }
  }

  // A full list from the server: adds and updates, and drops jobs deleted while we were away.
  async function loadJobs() {
    let list;
    try {
      list = await api('api/jobs');
    } catch (error) {
      if (error.status !== 401) $('jobs-count').textContent = `Could not load the library: ${error.message}.`;
      return;
    }
    if (!Array.isArray(list)) return;
    jobsLoaded = true;
    const present = new Set(list.map((job) => job.id));
    for (const id of [...jobs.keys()]) if (!present.has(id)) removeJob(id);
    for (const job of list) mergeJob(job);
    updateListChrome();
  }

  // ---- Posters ----

  // GET /api/jobs/{id}/poster, fetched (the single-user token goes in a header, which an <img>
  // cannot send) and shown as a data: URL, as the page's security policy allows. 404 (none: audio
  // without a cover, a job from before posters) keeps the placeholder: never a broken image.
  const posterQueue = [];
  let postersLoading = 0;
  const POSTER_FETCHES_AT_ONCE = 2;
  const POSTER_RETRY_MS = 1000;
  const POSTER_TRIES = 8;

  // A job done moments ago may not have its poster yet.
  function posterMayStillCome(entry) {
    const finished = Date.parse(entry.job.finished_at || '');
    return (entry.posterTries || 0) < POSTER_TRIES && Number.isFinite(finished) &&
      Date.now() - finished < POSTER_RETRY_MS * POSTER_TRIES;
  }

  function wantPoster(entry) {
    if (entry.poster) return;
    entry.poster = 'queued';
    posterQueue.push(entry);
    pumpPosters();
  }

  function pumpPosters() {
    while (postersLoading < POSTER_FETCHES_AT_ONCE && posterQueue.length > 0) {
      const entry = posterQueue.shift();
      if (jobs.get(entry.job.id) !== entry) continue;
      postersLoading += 1;
      fetchPoster(entry.job.id).then((url) => {
        if (!url && posterMayStillCome(entry)) {
          // The head makes the poster just after the job is done: ask again shortly.
          entry.poster = '';
          entry.posterTries = (entry.posterTries || 0) + 1;
          setTimeout(() => { if (jobs.get(entry.job.id) === entry) wantPoster(entry); }, POSTER_RETRY_MS);
          return;
        }
        entry.poster = url || 'none';
        if (url && jobs.get(entry.job.id) === entry) showPoster(entry, url);
        else entry.card.dataset.poster = 'none';
      }).finally(() => {
        postersLoading -= 1;
        pumpPosters();
      });
    }
  }

  async function fetchPoster(id) {
    try {
      const response = await fetch(`api/jobs/${encodeURIComponent(id)}/poster`, { headers: authHeaders() });
      const type = response.headers.get('Content-Type') || '';
      if (!response.ok || !type.startsWith('image/')) return null;
      const blob = await response.blob();
      return await new Promise((resolve) => {
        const reader = new FileReader();
        reader.addEventListener('load', () => resolve(typeof reader.result === 'string' ? reader.result : null));
        reader.addEventListener('error', () => resolve(null));
        reader.readAsDataURL(blob);
      });
    } catch {
      return null;
    }
  }

  // The card's data-poster says how it ended: 'shown', or 'none' (the placeholder stays).
  function showPoster(entry, url) {
    const image = el('img', { class: 'job-poster', alt: '', src: url, decoding: 'async' });
    image.addEventListener('load', () => { entry.card.dataset.poster = 'shown'; });
    image.addEventListener('error', () => {  // not an image after all: the placeholder shows again
      image.remove();
      entry.poster = 'none';
      entry.card.dataset.poster = 'none';
    });
    entry.parts.thumb.querySelector('.job-poster')?.remove();
    entry.parts.thumb.prepend(image);
  }

  // ---- Video player (in the item's card) ----

  let openVideo = null;  // the entry whose player is open

  function toggleVideo(entry) {
    if (openVideo === entry) {
      closeVideo();
      return;
    }
    closeVideo();
    playlist.pause();
    const { job, parts } = entry;
    const video = el('video', {
      controls: true,
      playsinline: true,
      preload: 'auto',
      src: resultUrl(job),
      poster: entry.poster && entry.poster.startsWith('data:') ? entry.poster : undefined,
      'aria-label': `Result of ${job.input_name}`,
    });
    parts.result.replaceChildren(video);
    parts.result.hidden = false;
    openVideo = entry;
    setPlayButton(entry, true);
    video.play().catch(() => {
      // The browser wants a click on the controls first (autoplay policy): they are there.
    });
    video.focus();
  }

  function closeVideo() {
    const entry = openVideo;
    if (!entry) return;
    openVideo = null;
    const video = entry.parts.result.querySelector('video');
    if (video) {
      video.pause();
      video.removeAttribute('src');
      video.load();  // lets the browser close the connection
    }
    entry.parts.result.replaceChildren();
    entry.parts.result.hidden = true;
    setPlayButton(entry, false);
  }

  function setPlayButton(entry, open) {
    const button = entry.parts.actions.querySelector('.play-button');
    if (!button || jobKind(entry.job) === 'audio') return;
    button.textContent = open ? 'Close player' : 'Play';
    button.setAttribute('aria-expanded', String(open));
  }

  // ---- Audio playlist ----

  // Every finished audio result of the library, oldest first; one <audio> plays them in turn.
  const playlist = (() => {
    const audio = $('playlist-audio');
    let currentId = null;

    function tracks() {
      return [...jobs.values()]
        .filter((entry) => entry.job.state === 'done' && entry.job.result_url && jobKind(entry.job) === 'audio' && playable(entry.job))
        .sort((a, b) => (sortKey(a.job) < sortKey(b.job) ? -1 : 1));
    }

    function render() {
      const list = tracks();
      $('playlist').hidden = list.length === 0;
      $('playlist-count').textContent = list.length === 1 ? '1 track' : `${list.length} tracks`;
      const index = list.findIndex((entry) => entry.job.id === currentId);
      $('playlist-previous').disabled = index <= 0;
      $('playlist-next').disabled = index < 0 || index >= list.length - 1;
      $('playlist-now').textContent = index >= 0 ? list[index].job.input_name : 'nothing';
      $('playlist-tracks').replaceChildren(...list.map((entry, position) => {
        const current = entry.job.id === currentId;
        const duration = jobDuration(entry.job);
        return el('li', { class: current ? 'track current' : 'track', dataset: { jobId: entry.job.id }, 'aria-current': current ? 'true' : undefined },
          el('button', { type: 'button', class: 'track-button', onclick: () => play(entry.job.id) },
            el('span', { class: 'track-number', text: String(position + 1) }),
            el('span', { class: 'track-name', text: entry.job.input_name }),
            el('span', { class: 'track-length hint', text: duration ? formatPlayTime(duration) : '' }),
            current ? el('span', { class: 'visually-hidden', text: ' (now playing)' }) : null));
      }));
    }

    function play(id, { scroll = true } = {}) {
      const entry = jobs.get(id);
      if (!entry) return;
      closeVideo();
      currentId = id;
      audio.dataset.jobId = id;
      audio.src = resultUrl(entry.job);
      render();
      if (scroll) $('playlist').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
      audio.play().catch(() => {
        // Refused without a gesture (autoplay policy): the controls start it.
      });
      announce(`Playing ${entry.job.input_name}`);
    }

    function step(offset) {
      const list = tracks();
      const index = list.findIndex((entry) => entry.job.id === currentId);
      const next = list[index + offset];
      if (index >= 0 && next) play(next.job.id, { scroll: false });
    }

    function stop() {
      currentId = null;
      audio.pause();
      audio.removeAttribute('src');
      delete audio.dataset.jobId;
      audio.load();
    }

    audio.addEventListener('ended', () => step(1));
    $('playlist-previous').addEventListener('click', () => step(-1));
    $('playlist-next').addEventListener('click', () => step(1));

    return {
      play,
      pause() {
        audio.pause();
      },
      update() {
        if (currentId && !tracks().some((entry) => entry.job.id === currentId)) stop();
        render();
      },
    };
  })();

  // ---- Usage (accounts) ----

  let usageTimer = 0;

  function refreshUsageSoon() {
    if (!accountsOn() || !session.user) return;
    clearTimeout(usageTimer);
    usageTimer = setTimeout(refreshUsage, 800);
  }

  async function refreshUsage() {
    try {
      const me = await api('api/auth/me');
      if (me && me.user && session.user) {
        session.user = me.user;
        showUsage();
      }
    } catch {
      // Shown again with the next change.
    }
  }

  function showUsage() {
    const user = accountsOn() ? session.user : null;
    $('usage').hidden = !user;
    if (!user) return;
    const used = Number(user.used_bytes) || 0;
    const quota = Number(user.quota_bytes) || 0;
    const bar = $('usage-bar');
    bar.hidden = quota <= 0;
    if (quota > 0) {
      bar.max = quota;
      bar.value = Math.min(used, quota);
      $('usage-text').textContent = `${formatBytes(used)} of ${formatBytes(quota)} used`;
      const full = used / quota;
      $('usage-note').textContent = full >= 0.9 ? ' · almost full: delete items to make room' : '';
      $('usage').classList.toggle('nearly-full', full >= 0.9);
    } else {
      $('usage-text').textContent = `${formatBytes(used)} used`;
      $('usage-note').textContent = ' · no quota';
      $('usage').classList.remove('nearly-full');
    }
  }

  // ---- Share links (accounts) ----

  const LIFETIMES = [[3600, '1 hour'], [86400, '1 day'], [604800, '7 days'], [2592000, '30 days']];
  let shareMaxSeconds = null;  // the server's longest lifetime, once known (session's or learnt)
  let shareEntry = null;  // the item the dialog shares
  let shares = [];

  function lifetimeText(seconds) {
    const units = [[86400, 'day'], [3600, 'hour'], [60, 'minute'], [1, 'second']];
    const [size, name] = units.find(([unit]) => seconds % unit === 0 && seconds >= unit) || [1, 'second'];
    const count = seconds / size;
    return `${count} ${name}${count === 1 ? '' : 's'}`;
  }

  // The server names its longest lifetime when it refuses a longer one ("ttl_seconds is 1..3600").
  function learnMaxLifetime(message) {
    const found = /ttl_seconds is 1\.\.(\d+)/.exec(message || '');
    if (found) shareMaxSeconds = Number(found[1]);
    return Boolean(found);
  }

  // Asks for a lifetime of 0 s, which the server refuses before making anything, naming its limit.
  async function probeMaxLifetime(job) {
    try {
      await api(`api/jobs/${encodeURIComponent(job.id)}/shares`, { method: 'POST', body: { ttl_seconds: 0 } });
    } catch (error) {
      learnMaxLifetime(error.message);
    }
  }

  function renderLifetimes() {
    const box = $('share-ttl-options');
    const checked = box.querySelector('input:checked');
    const previous = checked ? Number(checked.value) : 86400;
    const max = shareMaxSeconds;
    const choices = LIFETIMES.map(([seconds, label]) => ({ seconds, label, allowed: !max || seconds <= max }));
    if (max && max < LIFETIMES[LIFETIMES.length - 1][0] && !LIFETIMES.some(([seconds]) => seconds === max)) {
      choices.push({ seconds: max, label: `${lifetimeText(max)} (the longest)`, allowed: true });
      choices.sort((a, b) => a.seconds - b.seconds);
    }
    const allowed = choices.filter((choice) => choice.allowed);
    const selected = allowed.some((choice) => choice.seconds === previous) ? previous
      : allowed.length > 0 ? allowed[allowed.length - 1].seconds : 0;
    box.replaceChildren(...choices.map((choice) => {
      const id = `share-ttl-${choice.seconds}`;
      return el('label', { class: choice.allowed ? 'choice' : 'choice disabled', for: id },
        el('input', { type: 'radio', name: 'share-ttl', id, value: choice.seconds, checked: choice.seconds === selected, disabled: !choice.allowed }),
        el('span', { text: choice.label }));
    }));
    $('share-ttl-note').textContent = max ? `This server keeps a link ${lifetimeText(max)} at most.` : '';
  }

  function openShareDialog(entry) {
    shareEntry = entry;
    $('share-name').textContent = entry.job.input_name;
    $('share-error').textContent = '';
    $('share-result').hidden = true;
    $('share-url').value = '';
    $('share-limit').value = '';
    $('share-create').disabled = false;
    $('share-create').textContent = 'Create link';
    if (shareMaxSeconds === null) shareMaxSeconds = session.shareMaxSeconds;
    renderLifetimes();
    $('share-dialog').showModal();
    if (shareMaxSeconds === null) probeMaxLifetime(entry.job).then(renderLifetimes);
  }

  async function createShare(event) {
    event.preventDefault();
    if (!shareEntry) return;
    const job = shareEntry.job;
    const errorBox = $('share-error');
    errorBox.textContent = '';
    const checked = $('share-ttl-options').querySelector('input:checked');
    if (!checked) {
      errorBox.textContent = 'Choose how long the link works.';
      return;
    }
    const body = { ttl_seconds: Number(checked.value) };
    const limitText = $('share-limit').value.trim();
    if (limitText) {
      const limit = Number(limitText);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000000) {
        errorBox.textContent = 'The download limit is a whole number from 1 to 1000000, or empty for none.';
        $('share-limit').focus();
        return;
      }
      body.max_downloads = limit;
    }
    const button = $('share-create');
    button.disabled = true;
    try {
      const share = await api(`api/jobs/${encodeURIComponent(job.id)}/shares`, { method: 'POST', body });
      $('share-url').value = new URL(relativeUrl(share.url), document.baseURI).href;
      const limit = share.max_downloads ? `, for ${formatNumber(share.max_downloads)} ${share.max_downloads === 1 ? 'download' : 'downloads'}` : '';
      $('share-expiry').textContent = `Works until ${formatClock(share.expires_at)}${limit}. Anyone with the link can play and download it.`;
      $('share-result').hidden = false;
      button.textContent = 'Create another link';
      $('share-url').focus();
      $('share-url').select();
      announce('Share link created');
      loadShares();
    } catch (error) {
      if (error.status === 400 && learnMaxLifetime(error.message)) renderLifetimes();
      errorBox.textContent = `The link could not be made: ${error.message}.`;
    } finally {
      button.disabled = false;
    }
  }

  const SHARE_STATES = { active: 'Active', revoked: 'Revoked', expired: 'Expired', used_up: 'Used up' };

  async function loadShares() {
    if (!accountsOn() || !session.user) return;
    try {
      const list = await api('api/shares');
      shares = Array.isArray(list) ? list : [];
      $('shares-error').textContent = '';
    } catch (error) {
      if (error.status !== 401) $('shares-error').textContent = `Could not load the shared links: ${error.message}.`;
      return;
    }
    renderShares();
  }

  function renderShares() {
    const sorted = shares.slice().sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
    $('shares-empty').hidden = sorted.length > 0;
    $('shares-table').hidden = sorted.length === 0;
    $('shares-body').replaceChildren(...sorted.map((share) => {
      const entry = jobs.get(share.job_id);
      const name = entry ? entry.job.input_name : 'a deleted item';
      const downloads = share.max_downloads ? `${formatNumber(share.downloads)} of ${formatNumber(share.max_downloads)}` : formatNumber(share.downloads);
      const active = share.state === 'active';
      return el('tr', { dataset: { shareId: share.id, state: share.state } },
        el('th', { scope: 'row' }, el('span', { class: 'cell-main', text: name }),
          el('span', { class: 'cell-note', text: `created ${formatClock(share.created_at)}` })),
        el('td', {}, el('span', { class: `badge share-${share.state}`, text: SHARE_STATES[share.state] || share.state })),
        el('td', { class: 'numeric share-downloads', text: downloads }),
        el('td', { text: `${active ? 'until ' : ''}${formatClock(share.expires_at)}` }),
        el('td', { class: 'row-actions' }, active ? el('button', {
          type: 'button',
          class: 'button small danger revoke-share',
          text: 'Revoke',
          'aria-label': `Revoke the link to ${name} created ${formatClock(share.created_at)}`,
          onclick: (event) => revokeShare(share, name, event.currentTarget),
        }) : null));
    }));
  }

  async function revokeShare(share, name, button) {
    if (!window.confirm(`Revoke this link to ${name}? Whoever has it can no longer open it.`)) return;
    button.disabled = true;
    try {
      await api(`api/shares/${encodeURIComponent(share.id)}`, { method: 'DELETE' });
      announce(`The link to ${name} is revoked`);
    } catch (error) {
      $('shares-error').textContent = `Could not revoke the link: ${error.message}.`;
      button.disabled = false;
    }
    loadShares();
  }

  // ---- Personal API tokens (accounts) ----

  async function loadTokens() {
    if (!accountsOn() || !session.user) return;
    let list;
    try {
      list = await api('api/auth/tokens');
    } catch (error) {
      if (error.status !== 401) $('token-error').textContent = `Could not load your tokens: ${error.message}.`;
      return;
    }
    const tokens = Array.isArray(list) ? list : [];
    $('tokens-empty').hidden = tokens.length > 0;
    $('tokens-table').hidden = tokens.length === 0;
    $('tokens-body').replaceChildren(...tokens.map((token) => {
      const label = token.label || 'no label';
      return el('tr', { dataset: { tokenId: token.id } },
        el('th', { scope: 'row', class: token.label ? '' : 'hint', text: label }),
        el('td', { text: formatClock(token.created_at) }),
        el('td', { text: token.last_used_at ? formatClock(token.last_used_at) : 'never' }),
        el('td', { class: 'row-actions' }, el('button', {
          type: 'button',
          class: 'button small danger',
          text: 'Revoke',
          'aria-label': `Revoke the token ${label}`,
          onclick: (event) => revokeToken(token, label, event.currentTarget),
        })));
    }));
  }

  async function createToken(event) {
    event.preventDefault();
    $('token-error').textContent = '';
    const button = $('token-create');
    button.disabled = true;
    try {
      const made = await api('api/auth/tokens', { method: 'POST', body: { label: $('token-label').value.trim() } });
      $('token-value').textContent = made.token;
      $('token-example').textContent = `curl -H "Authorization: Bearer ${made.token}" ${new URL('api/jobs', document.baseURI).href}`;
      $('token-created').hidden = false;
      $('token-label').value = '';
      $('token-created').querySelector('[data-copy="token-value"]').focus();
      loadTokens();
    } catch (error) {
      $('token-error').textContent = `The token could not be made: ${error.message}.`;
    } finally {
      button.disabled = false;
    }
  }

  function forgetShownToken() {
    $('token-value').textContent = '';
    $('token-example').textContent = '';
    $('token-created').hidden = true;
  }

  async function revokeToken(token, label, button) {
    if (!window.confirm(`Revoke the token ${label}? Scripts using it stop working.`)) return;
    button.disabled = true;
    try {
      await api(`api/auth/tokens/${encodeURIComponent(token.id)}`, { method: 'DELETE' });
      announce(`Token ${label} revoked`);
    } catch (error) {
      $('token-error').textContent = `Could not revoke the token: ${error.message}.`;
      button.disabled = false;
    }
    loadTokens();
  }

  async function changePassword(event) {
    event.preventDefault();
    const error = $('password-error');
    error.textContent = '';
    const fresh = $('new-password').value;
    if (fresh !== $('repeat-password').value) {
      error.textContent = 'The two new passwords differ.';
      $('repeat-password').focus();
      return;
    }
    const button = $('password-button');
    button.disabled = true;
    try {
      const changed = await api('api/auth/password', {
        method: 'POST',
        body: { current_password: $('current-password').value, new_password: fresh },
      });
      for (const id of ['current-password', 'new-password', 'repeat-password']) $(id).value = '';
      const others = changed.sessions_ended === 1 ? '1 other session' : `${changed.sessions_ended} other sessions`;
      announce(`Password changed; ${others} signed out`);
      error.textContent = '';
      $('password-form-title').textContent = `Password changed (${others} signed out)`;
    } catch (failure) {
      error.textContent = `The password was not changed: ${failure.message}.`;
    } finally {
      button.disabled = false;
    }
  }

  // ---- Users (accounts, admins) ----

  async function loadUsers() {
    if (!accountsOn() || !session.user || !session.user.admin) return;
    let list;
    try {
      list = await api('api/users');
    } catch (error) {
      if (error.status !== 401) $('users-error').textContent = `Could not load the users: ${error.message}.`;
      return;
    }
    const users = Array.isArray(list) ? list : [];
    $('users-count').textContent = users.length === 1 ? '1 user' : `${users.length} users`;
    $('users-body').replaceChildren(...users.map(userRow));
    $('user-form-hint').textContent = session.signupOpen
      ? 'Sign-up is open: people can also create their own accounts on the sign-in page.'
      : 'Sign-up is closed on this server: accounts are made here.';
  }

  function userRow(user) {
    const self = session.user && user.id === session.user.id;
    const quotaId = `quota-${user.id}`;
    const used = formatBytes(Number(user.used_bytes) || 0);
    const quota = user.quota_bytes ? formatBytes(user.quota_bytes) : 'no quota';
    const input = el('input', {
      id: quotaId,
      type: 'number',
      min: 0,
      step: 1,
      inputmode: 'numeric',
      class: 'quota-input',
      value: user.quota_is_default ? '' : user.quota_bytes ? Math.round(user.quota_bytes / 1048576) : 0,
      placeholder: 'default',
    });
    const setQuota = (event) => {
      event.preventDefault();
      const text = input.value.trim();
      const value = text === '' ? null : Number(text);
      if (value !== null && (!Number.isInteger(value) || value < 0)) {
        $('users-error').textContent = 'A quota is a whole number of MiB (0: none), or empty for the server\'s default.';
        input.focus();
        return;
      }
      changeUser(user, { quota_mb: value }, `${user.username}'s quota is ${value === null ? 'the default' : value === 0 ? 'none' : `${value} MiB`}`);
    };
    return el('tr', { dataset: { userId: user.id, username: user.username } },
      el('th', { scope: 'row' },
        el('span', { class: 'cell-main', text: user.username }),
        user.admin ? el('span', { class: 'badge', text: 'Admin' }) : null,
        self ? el('span', { class: 'cell-note', text: 'you' }) : null),
      el('td', {}, el('span', { class: 'cell-main', text: `${used} of ${quota}` }),
        user.quota_is_default ? el('span', { class: 'cell-note', text: 'the server\'s default quota' }) : null),
      el('td', {}, el('form', { class: 'quota-form', onsubmit: setQuota },
        el('label', { for: quotaId, class: 'visually-hidden', text: `Quota of ${user.username} in MiB` }),
        input,
        el('button', { type: 'submit', class: 'button small', text: 'Set', 'aria-label': `Set the quota of ${user.username}` }))),
      el('td', {}, el('span', { class: user.disabled ? 'badge state-failed' : 'badge state-done', text: user.disabled ? 'Disabled' : 'Active' })),
      el('td', { class: 'row-actions' },
        self ? null : el('button', {
          type: 'button',
          class: 'button small',
          text: user.disabled ? 'Enable' : 'Disable',
          'aria-label': `${user.disabled ? 'Enable' : 'Disable'} ${user.username}`,
          onclick: () => changeUser(user, { disabled: !user.disabled }, `${user.username} ${user.disabled ? 'enabled' : 'disabled'}`),
        }),
        self ? null : el('button', {
          type: 'button',
          class: 'button small',
          text: user.admin ? 'Remove admin' : 'Make admin',
          'aria-label': user.admin ? `Take admin rights from ${user.username}` : `Make ${user.username} an admin`,
          onclick: () => changeUser(user, { admin: !user.admin },
            user.admin ? `${user.username} is no longer an admin` : `${user.username} is an admin`),
        }),
        self ? null : el('button', {
          type: 'button',
          class: 'button small',
          text: 'New password',
          'aria-label': `Set a new password for ${user.username}`,
          onclick: () => openSetPassword(user),
        }),
        self ? null : el('button', {
          type: 'button',
          class: 'button small danger',
          text: 'Delete',
          'aria-label': `Delete ${user.username}`,
          onclick: (event) => deleteUser(user, event.currentTarget),
        })));
  }

  async function changeUser(user, change, done) {
    $('users-error').textContent = '';
    try {
      await api(`api/users/${encodeURIComponent(user.id)}`, { method: 'PATCH', body: change });
      announce(done);
    } catch (error) {
      $('users-error').textContent = `Could not change ${user.username}: ${error.message}.`;
    }
    await loadUsers();
    if (session.user && user.id === session.user.id) refreshUsage();
  }

  // The admin's "New password" for another user: a dialog, so the password is typed masked.
  let passwordUser = null;

  function openSetPassword(user) {
    passwordUser = user;
    $('set-password-name').textContent = user.username;
    $('set-password-value').value = '';
    $('set-password-error').textContent = '';
    $('set-password-dialog').showModal();
    $('set-password-value').focus();
  }

  async function submitSetPassword(event) {
    event.preventDefault();
    if (!passwordUser) return;
    const user = passwordUser;
    const button = $('set-password-button');
    button.disabled = true;
    try {
      await api(`api/users/${encodeURIComponent(user.id)}`, { method: 'PATCH', body: { password: $('set-password-value').value } });
      $('set-password-dialog').close();
      announce(`${user.username} has a new password; their sessions ended`);
      await loadUsers();
    } catch (error) {
      $('set-password-error').textContent = `The password was not set: ${error.message}.`;
    } finally {
      button.disabled = false;
    }
  }

  async function deleteUser(user, button) {
    if (!window.confirm(`Delete ${user.username} with all their jobs, results and links? This cannot be undone.`)) return;
    button.disabled = true;
    $('users-error').textContent = '';
    try {
      await api(`api/users/${encodeURIComponent(user.id)}`, { method: 'DELETE' });
      announce(`${user.username} deleted`);
    } catch (error) {
      $('users-error').textContent = `Could not delete ${user.username}: ${error.message}.`;
      button.disabled = false;
    }
    loadUsers();
  }

  async function addUser(event) {
    event.preventDefault();
    const errorBox = $('user-form-error');
    errorBox.textContent = '';
    const username = $('new-user-name').value;
    const password = $('new-user-password').value;
    const problem = credentialsProblem(username, password);
    if (problem) {
      errorBox.textContent = problem;
      return;
    }
    $('new-user-button').disabled = true;
    try {
      const user = await api('api/users', { method: 'POST', body: { username, password } });
      $('new-user-name').value = '';
      $('new-user-password').value = '';
      announce(`${user.username} added`);
      loadUsers();
    } catch (error) {
      errorBox.textContent = `${sentence(error.message)}`;
    } finally {
      $('new-user-button').disabled = false;
    }
  }

  // ---- Signing in and up (accounts) ----

  // The server's rules, checked first so that a typo costs no round trip; the server has the last word.
  function credentialsProblem(username, password) {
    if (username.length < 1 || username.length > 64) return 'A user name has 1 to 64 characters.';
    if (password.length < 10) return 'A password has at least 10 characters.';
    return '';
  }

  // The server's words as a sentence: "wrong user name or password" -> "Wrong user name or password."
  function sentence(text) {
    const trimmed = String(text || '').trim();
    if (!trimmed) return '';
    return `${trimmed[0].toUpperCase()}${trimmed.slice(1)}${/[.!?]$/.test(trimmed) ? '' : '.'}`;
  }

  let throttleTimer = 0;

  // After a 429: the button stays off, counting down the server's Retry-After.
  function waitBeforeSignIn(seconds) {
    const button = $('signin-button');
    let left = Math.max(1, Math.ceil(seconds));
    clearInterval(throttleTimer);
    const tick = () => {
      if (left <= 0) {
        clearInterval(throttleTimer);
        button.disabled = false;
        button.textContent = 'Sign in';
        $('signin-error').textContent = '';
        return;
      }
      button.disabled = true;
      button.textContent = `Try again in ${left} s`;
      $('signin-error').textContent = `Too many failed sign-ins: try again in ${left} s.`;
      left -= 1;
    };
    tick();
    throttleTimer = setInterval(tick, 1000);
  }

  function showSignIn(message = '') {
    $('main').hidden = true;
    $('sign-in').hidden = false;
    $('sign-in-notice').textContent = message;
    $('sign-in-notice').hidden = !message;
    $('signup-form').hidden = !session.signupOpen;
    $('signup-closed').hidden = session.signupOpen;
    $('signin-error').textContent = '';
    $('signup-error').textContent = '';
    $('signin-username').focus();
  }

  async function submitSignIn(event) {
    event.preventDefault();
    const username = $('signin-username').value;
    const password = $('signin-password').value;
    const errorBox = $('signin-error');
    errorBox.textContent = '';
    if (!username || !password) {
      errorBox.textContent = 'Enter your user name and password.';
      (username ? $('signin-password') : $('signin-username')).focus();
      return;
    }
    const button = $('signin-button');
    button.disabled = true;
    button.textContent = 'Signing in…';
    try {
      await api('api/auth/login', { method: 'POST', body: { username, password }, signIn: true });
    } catch (error) {
      button.disabled = false;
      button.textContent = 'Sign in';
      if (error.status === 429) {
        waitBeforeSignIn(error.retryAfter || Number(/(\d+) s/.exec(error.message)?.[1]) || 5);
        return;
      }
      errorBox.textContent = error.status === 0 ? 'The server cannot be reached; try again.' : sentence(error.message);
      $('signin-password').select();
      return;
    }
    button.disabled = false;
    button.textContent = 'Sign in';
    $('signin-password').value = '';
    await afterSignIn(errorBox);
  }

  async function submitSignUp(event) {
    event.preventDefault();
    const username = $('signup-username').value;
    const password = $('signup-password').value;
    const errorBox = $('signup-error');
    errorBox.textContent = '';
    const problem = credentialsProblem(username, password);
    if (problem) {
      errorBox.textContent = problem;
      (problem.includes('password') ? $('signup-password') : $('signup-username')).focus();
      return;
    }
    const button = $('signup-button');
    button.disabled = true;
    try {
      await api('api/auth/signup', { method: 'POST', body: { username, password }, signIn: true });
      await api('api/auth/login', { method: 'POST', body: { username, password }, signIn: true });
    } catch (error) {
      if (error.status === 403 && /sign-up is closed/.test(error.message)) {
        session.signupOpen = false;
        showSignIn();
        $('signin-error').textContent = sentence(error.message);
        return;
      }
      errorBox.textContent = error.status === 0 ? 'The server cannot be reached; try again.' : sentence(error.message);
      return;
    } finally {
      button.disabled = false;
    }
    $('signup-password').value = '';
    await afterSignIn(errorBox);
  }

  async function afterSignIn(errorBox) {
    const { error } = await loadSession();
    if (error || !session.user) {
      errorBox.textContent = error
        ? 'Signed in, but the server cannot be reached now; reload the page.'
        : 'Signed in, but this browser does not send the session back: allow cookies for this site.';
      return;
    }
    $('signin-form').reset();
    $('signup-form').reset();
    enterLibrary();
    announce(`Signed in as ${session.user.username}`);
  }

  // ---- Workers (for the notice and the header) ----

  function showWorkers(update) {
    const workers = Array.isArray(update.workers) ? update.workers : [];
    liveWorkers = workers;
    showNoWorkerNotice(workers);
    const status = document.querySelector('.live-status');
    // Only admins get the cluster's throughput; the others learn how many workers there are.
    const throughput = Number.isFinite(update.throughput_fps) ? ` · ${throughputText(update.throughput_fps)}` : '';
    if (status) status.title = `${workersText(workers.length)}${throughput}`;
  }

  async function loadWorkers() {
    try {
      const workers = await api('api/workers');
      if (liveWorkers === null && Array.isArray(workers)) showWorkers({ workers, throughput_fps: 0 });
    } catch {
      // The event stream brings the list every second anyway.
    }
  }

  // ---- Start ----

  let stream = null;
  let sharesTimer = 0;

  function start() {
    loadFilters();
    loadJobs();
    if (isAdmin()) loadWorkers();  // GET /api/workers is for admins; the stream tells the others
    loadClusterAndFormats();
    if (accountsOn()) {
      loadShares();
      loadTokens();
      loadUsers();
    }
  }

  // The library, for the user signed in (or everyone, in single-user mode).
  function enterLibrary() {
    $('sign-in').hidden = true;
    $('main').hidden = false;
    const accounts = accountsOn();
    $('account-panels').hidden = !accounts;
    $('users-panel').hidden = !(accounts && isAdmin());
    // For password managers: whose password the form changes.
    $('password-form-name').value = session.user && session.user.username ? session.user.username : '';
    showUsage();
    start();
    if (stream) stream.restart();
    else stream = liveStream('api/events', {
      open: () => {
        loadJobs();  // a reconnect may have missed deletions
        if (session.auth === 'unknown') loadSession().then(() => accountsOn() && !session.user && leaveLibrary(''));
      },
      events: { job: (job) => mergeJob(job, true), workers: showWorkers },
    }, (status) => {
      if (status === 'auth' && accountsOn()) return;  // the sign-in form is back, the header says so
      showLiveStatus(status);
      if (status === 'auth') showAuthPanel();
    });
    clearInterval(sharesTimer);
    // Download counts change as others use the links.
    if (accounts) sharesTimer = setInterval(() => { if (!document.hidden) loadShares(); }, 30_000);
  }

  // Signed out (or never in): nothing of the last user stays in the page.
  function leaveLibrary(message) {
    if (stream) stream.stop();
    clearInterval(sharesTimer);
    clearTimeout(usageTimer);
    if (upload) upload.abort();
    showLiveStatus('signed-out');
    if ($('share-dialog').open) $('share-dialog').close();
    if ($('set-password-dialog').open) $('set-password-dialog').close();
    playlist.pause();
    clearLibrary();
    shares = [];
    renderShares();
    forgetShownToken();
    $('tokens-body').replaceChildren();
    $('users-body').replaceChildren();
    $('upload-error').textContent = '';
    showSignIn(message);
  }

  setUpDropZone();
  $('add-step').addEventListener('click', addStep);
  $('add-filter').addEventListener('change', showFilterHelp);
  $('chain-text').addEventListener('input', syncStepsFromText);
  $('format').addEventListener('change', () => {
    showFormatHelp();
    $('upload-error').textContent = '';
  });
  $('upload-form').addEventListener('submit', startUpload);
  $('abort-upload').addEventListener('click', () => { if (upload) upload.abort(); });
  $('library-search').addEventListener('input', applySearch);
  $('signin-form').addEventListener('submit', submitSignIn);
  $('signup-form').addEventListener('submit', submitSignUp);
  $('share-form').addEventListener('submit', createShare);
  $('share-close').addEventListener('click', () => $('share-dialog').close());
  $('share-dialog').addEventListener('close', () => { shareEntry = null; });
  $('shares-refresh').addEventListener('click', loadShares);
  $('token-form').addEventListener('submit', createToken);
  $('token-done').addEventListener('click', forgetShownToken);
  $('password-form').addEventListener('submit', changePassword);
  $('set-password-form').addEventListener('submit', submitSetPassword);
  $('set-password-cancel').addEventListener('click', () => $('set-password-dialog').close());
  $('set-password-dialog').addEventListener('close', () => {
    passwordUser = null;
    $('set-password-value').value = '';
  });
  $('user-form').addEventListener('submit', addUser);
  updateListChrome();

  onSignedOut((message) => leaveLibrary(message));
  onTokenSaved(() => {
    start();
    if (stream) stream.restart();
    // The download links carry the token in their query.
    for (const entry of jobs.values()) {
      delete entry.parts.actions.dataset.kind;
      updateActions(entry);
    }
  });

  loadSession().then(() => {
    if (accountsOn() && !session.user) leaveLibrary('');
    else enterLibrary();  // single-user mode, or the server unreachable: the page as before accounts
  });
}

// "0:03", "12:05", "1:02:03": a media length as players show it.
export function formatPlayTime(seconds) {
  const total = Math.round(seconds);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = String(total % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${rest}` : `${minutes}:${rest}`;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
const KIND_ICONS = {
  // A film camera and a pair of notes, 24x24, drawn in the text colour.
  video: 'M3 6.5A1.5 1.5 0 0 1 4.5 5h10A1.5 1.5 0 0 1 16 6.5v2.3l4.2-2.5A.5.5 0 0 1 21 6.7v10.6a.5.5 0 0 1-.8.4L16 15.2v2.3a1.5 1.5 0 0 1-1.5 1.5h-10A1.5 1.5 0 0 1 3 17.5z',
  audio: 'M9 17.5a2.5 2.5 0 1 1-1.5-2.3V5.8a1 1 0 0 1 .8-1l10-2A1 1 0 0 1 19.5 3.8v11.7a2.5 2.5 0 1 1-1.5-2.3V7.2l-9 1.8z',
};

// The neutral stand-in for a poster: an icon of the kind of result.
function placeholder(kind) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'kind-icon');
  svg.setAttribute('focusable', 'false');
  for (const [name, path] of Object.entries(KIND_ICONS)) {
    const shape = document.createElementNS(SVG_NS, 'path');
    shape.setAttribute('d', path);
    shape.setAttribute('class', `icon-${name}`);
    svg.append(shape);
  }
  return el('span', { class: 'poster-placeholder', dataset: { kind } }, svg);
}

if (document.body.dataset.page === 'jobs') initJobsPage();
