// framepipe's web client. The first half is shared with dashboard.js (API calls, the optional API
// token, the live event stream, formatting); the second half is the jobs page (index.html) and runs
// only there. Plain ES modules, no build step: every URL is relative, so the pages work at "/" and
// "/dashboard" alike.

// ---------------------------------------------------------------------------------------------
// Shared
// ---------------------------------------------------------------------------------------------

const TOKEN_KEY = 'framepipe.api_token';

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

export function authHeaders() {
  const token = storedToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

// Calls the JSON API. Returns the parsed body; throws ApiError with the server's own words.
export async function api(path, { method = 'GET' } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: { Accept: 'application/json', ...authHeaders() },
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'the server cannot be reached');
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = (body && typeof body.error === 'string' && body.error) || `HTTP ${response.status}`;
    if (response.status === 401) {
      showAuthPanel(storedToken() ? 'The saved token was refused; enter the right one.' : '');
    }
    throw new ApiError(response.status, message);
  }
  return body;
}

// A live Server-Sent Events stream. EventSource reconnects by itself when a connection drops, but
// gives up for good on an HTTP error (401, 5xx) or a wrong content type; that case is retried here
// with a doubling delay, after asking the API whether a token is what is missing.
// `handlers`: { events: {name: (data) => void}, open: () => void }. `onStatus` receives
// 'live' | 'reconnecting' | 'offline' | 'auth'.
export function liveStream(path, handlers, onStatus) {
  let source = null;
  let retryTimer = 0;
  let delayMs = 1000;
  const maxDelayMs = 30000;

  function open() {
    clearTimeout(retryTimer);
    if (source) source.close();
    source = new EventSource(withQuery(path, { token: storedToken() }));
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
      api('api/workers').then(
        () => schedule(),  // the API answers: the stream itself failed, try it again later
        (error) => {
          if (error.status === 401) onStatus('auth');  // retried once a token is saved
          else schedule();
        });
    });
  }

  function schedule() {
    onStatus('offline');
    retryTimer = setTimeout(open, delayMs);
    delayMs = Math.min(delayMs * 2, maxDelayMs);
  }

  open();
  return {
    restart() {
      delayMs = 1000;
      open();
    },
  };
}

const LIVE_TEXT = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline, retrying…',
  auth: 'Token needed',
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
    const text = document.getElementById(button.dataset.copy).textContent;
    try {
      await navigator.clipboard.writeText(text);
      flashButton(button, 'Copied');
    } catch {
      // No clipboard (plain http on another host): select the text so that Ctrl+C works.
      const range = document.createRange();
      range.selectNodeContents(document.getElementById(button.dataset.copy));
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
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

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) return '–';
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  if (unit === 0) return `${value} bytes`;
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
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

// ---------------------------------------------------------------------------------------------
// The jobs page
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
      $('add-filter-help').textContent = error.status === 401
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
      $('format-codecs').textContent = error && error.status === 401
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
    507: 'The server is out of disk space',
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
        return;
      }
      if (request.status === 401) showAuthPanel(storedToken() ? 'The saved token was refused; enter the right one.' : '');
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

  // ---- Job list ----

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
    if (entry && entry.job.state !== job.state) announce(`${job.input_name}: ${stateLabel(job.state)}`);
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
  }

  function removeJob(id) {
    const entry = jobs.get(id);
    if (!entry) return;
    entry.card.remove();
    jobs.delete(id);
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
    $('jobs-count').textContent = count === 0 ? '' : `${count} ${count === 1 ? 'job' : 'jobs'}${active ? `, ${active} active` : ''}`;
  }

  function stateLabel(state) {
    return { queued: 'Queued', running: 'Running', done: 'Done', failed: 'Failed', canceled: 'Canceled' }[state] || state;
  }

  function buildCard(job) {
    const titleId = `job-${job.id}-title`;
    const parts = {
      title: el('h3', {id: titleId, class: 'job-title'}),
      badge: el('span', {class: 'badge'}),
      meta: el('p', {class: 'job-meta'}),
      output: el('span', {class: 'job-format'}),
      filters: el('code', {class: 'job-filters'}),
      mode: el('p', {class: 'job-mode hint'}),
      progress: el('progress', {max: 100, 'aria-labelledby': titleId}),
      percent: el('span', {class: 'job-percent'}),
      stats: el('p', {class: 'job-stats'}),
      message: el('p', {class: 'job-message'}),
      error: el('p', {class: 'job-error', role: 'alert'}),
      result: el('div', {class: 'job-result'}),
      actions: el('div', {class: 'job-actions'}),
    };
    const card =
        el('li', {class: 'job', dataset: {jobId: job.id}},
           el('article', {'aria-labelledby': titleId},
              el('div', {class: 'job-head'}, parts.title, parts.badge), parts.meta,
              el('p', {class: 'job-output'}, el('span', {class: 'hint', text: 'Output '}),
                 parts.output),
              el('p', {class: 'job-chain'}, el('span', {class: 'hint', text: 'Filters '}),
                 parts.filters),
              parts.mode, el('div', {class: 'progress-row'}, parts.progress, parts.percent),
              parts.stats, parts.message, parts.error, parts.result, parts.actions));
    return { card, parts };
  }

  function updateCard(entry) {
    const { job, card, parts } = entry;
    card.dataset.state = job.state;
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

    const meta = [];
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
    if (job.duration) meta.push(formatDuration(job.duration));
    if (job.input_bytes) meta.push(formatBytes(job.input_bytes));
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
  }

  function updateResult({ job, parts }) {
    const ready = job.state === 'done' && job.result_url;
    if (!ready) {
      parts.result.replaceChildren();
      parts.result.hidden = true;
      return;
    }
    if (parts.result.dataset.for === job.result_url) return;  // keep the player as it is
    parts.result.dataset.for = job.result_url;
    // A <video> or a link cannot send headers: the result route takes the token in the query.
    const token = storedToken();
    const source = withQuery(relativeUrl(job.result_url), { access_token: token });
    const download = withQuery(relativeUrl(job.result_url), { download: 1, access_token: token });
    const size = job.output_bytes ? ` (${formatBytes(job.output_bytes)})` : '';
    const label = formatLabel(job.format || 'mp4');
    // The browser says what it can play; a format it cannot is offered for download, saying so.
    const mimeType = job.mime_type || 'video/mp4';
    const kind = mimeType.startsWith('audio/') ? 'audio' : 'video';
    const playable = document.createElement(kind).canPlayType(mimeType) !== '';
    const player = playable
      ? el(kind, { controls: true, preload: 'metadata', playsinline: kind === 'video', src: source, 'aria-label': `Result of ${job.input_name}` })
      : el('p', { class: 'job-unplayable', text: `This browser cannot play ${label}; download it.` });
    parts.result.replaceChildren(
      player,
      el('a', { class: 'button', href: download, download: '', text: `Download ${label}${size}` }));
    parts.result.hidden = false;
  }

  function updateActions(entry) {
    const { job, parts } = entry;
    const active = !FINISHED_STATES.has(job.state);
    const wanted = active ? 'cancel' : 'delete';
    if (parts.actions.dataset.kind === wanted) return;
    parts.actions.dataset.kind = wanted;
    const text = active ? 'Cancel job' : job.state === 'done' ? 'Delete job and result' : 'Remove from list';
    parts.actions.replaceChildren(el('button', {
      type: 'button',
      class: `button small ${active ? 'danger' : ''}`,
      text,
      'aria-label': `${text}: ${job.input_name}`,
      onclick: (event) => deleteJob(entry, event.currentTarget),
    }));
  }

  async function deleteJob(entry, button) {
    const { job } = entry;
    const question = !FINISHED_STATES.has(job.state)
      ? `Cancel the job for ${job.input_name}? Its progress and files are discarded.`
      : job.state === 'done' ? `Delete the result of ${job.input_name}? This cannot be undone.` : null;
    if (question && !window.confirm(question)) return;
    button.disabled = true;
    try {
      const answer = await api(`api/jobs/${encodeURIComponent(job.id)}`, { method: 'DELETE' });
      if (answer && answer.deleted) removeJob(job.id);
      else if (answer) mergeJob(answer, true);
      announce(answer && answer.deleted ? `${job.input_name} removed` : `${job.input_name} canceled`);
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
      if (error.status !== 401) $('jobs-count').textContent = `Could not load the jobs: ${error.message}.`;
      return;
    }
    if (!Array.isArray(list)) return;
    jobsLoaded = true;
    const present = new Set(list.map((job) => job.id));
    for (const id of [...jobs.keys()]) if (!present.has(id)) removeJob(id);
    for (const job of list) mergeJob(job);
    updateListChrome();
  }

  // ---- Workers (for the notice and the header) ----

  function showWorkers(update) {
    const workers = Array.isArray(update.workers) ? update.workers : [];
    liveWorkers = workers;
    showNoWorkerNotice(workers);
    const status = document.querySelector('.live-status');
    if (status) status.title = `${workersText(workers.length)} · ${throughputText(update.throughput_fps)}`;
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

  function start() {
    loadFilters();
    loadJobs();
    loadWorkers();
    loadClusterAndFormats();
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
  updateListChrome();

  const stream = liveStream('api/events', {
    open: loadJobs,  // a reconnect may have missed deletions
    events: { job: (job) => mergeJob(job, true), workers: showWorkers },
  }, (status) => {
    showLiveStatus(status);
    if (status === 'auth') showAuthPanel();
  });
  onTokenSaved(() => {
    start();
    stream.restart();
    for (const entry of jobs.values()) delete entry.parts.result.dataset.for;
    for (const entry of jobs.values()) updateResult(entry);
  });
  start();
}

if (document.body.dataset.page === 'jobs') initJobsPage();
