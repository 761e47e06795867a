// Shared by the browser scripts (e2e.mjs, screenshots.mjs): local framepipe clusters that never
// outlive the script, free ports, generated videos, and Debian's Chromium settings.
//
// Importing this module creates a scratch directory and installs handlers so that, however the
// script ends (normal exit, exception, SIGINT/SIGTERM/SIGHUP), every cluster it started is killed
// (SIGKILL of its process group) and the scratch directory removed.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const CLUSTER_START_MS = 60_000;
const STOP_GRACE_MS = 15_000;

// ---- Processes and files that must not outlive the test ----

const liveGroups = new Set();  // process group ids of clusters still running
export const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'framepipe-browser-'));

function killAllGroups() {
  for (const group of liveGroups) {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  liveGroups.clear();
}

process.on('exit', () => {
  killAllGroups();
  fs.rmSync(scratch, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    console.error(`${path.basename(process.argv[1] || 'node')}: ${signal}, stopping`);
    process.exit(1);  // the exit handler kills the clusters
  });
}
export async function waitFor(predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let lastError = null;
  while (Date.now() < deadline) {
    try {
      if (await predicate()) return;
    } catch (error) {
      lastError = error;
    }
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${lastError ? ` (last error: ${lastError.message})` : ''}`);
}

// ---- Ports ----

function bindable(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// The first of `count` consecutive free ports, none of them in `avoid`.
async function freePortRange(count, avoid) {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    const ports = Array.from({ length: count }, (_, index) => base + index);
    if (ports.some((port) => avoid.includes(port))) continue;
    let free = true;
    for (const port of ports) {
      if (!(await bindable(port))) {
        free = false;
        break;
      }
    }
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

// ---- A local cluster ----

// `auth`: 'none' (the open single-user mode, said explicitly: the default will change) or
// 'accounts'; `extraArgs`: more flags for `framepipe up` (e.g. ['--share-max-ttl', '1h']).
export class Cluster {
  constructor(binary, workers, name, { auth = 'none', extraArgs = [] } = {}) {
    this.binary = binary;
    this.workers = workers;
    this.auth = auth;
    this.extraArgs = extraArgs;
    this.dir = path.join(scratch, name);
    this.logPath = path.join(this.dir, 'up.log');
    this.child = null;
    this.exit = null;
  }

  get url() {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  async start() {
    fs.mkdirSync(this.dir, { recursive: true });
    this.httpPort = await freePort();
    this.zmqBase = await freePortRange(5, [this.httpPort]);
    const log = fs.openSync(this.logPath, 'w');
    const args = ['up', '--workers', String(this.workers), '--http-port', String(this.httpPort),
      '--zmq-port-base', String(this.zmqBase), '--data-dir', path.join(this.dir, 'data'),
      '--bind-host', '127.0.0.1', '--auth', this.auth, ...this.extraArgs];
    this.child = spawn(this.binary, args, { detached: true, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    const spawnError = new Promise((resolve) => this.child.once('error', resolve));
    this.child.once('exit', (code, signal) => { this.exit = { code, signal }; });
    if (this.child.pid) liveGroups.add(this.child.pid);
    const failed = await Promise.race([spawnError, sleep(100).then(() => null)]);
    if (failed) throw new Error(`cannot start ${this.binary}: ${failed.message}`);

    await waitFor(async () => {
      if (this.exit) throw new Error(`framepipe up exited (${JSON.stringify(this.exit)}); log: ${this.logTail()}`);
      return (await this.status('/health')) === 200;
    }, CLUSTER_START_MS, 'GET /health to answer 200');
    // With accounts GET /api/workers needs an admin, whom a fresh cluster does not have yet:
    // /health counts the workers for anybody.
    if (this.workers > 0 && this.auth === 'accounts') {
      await waitFor(async () => (await this.json('/health')).workers >= this.workers,
        CLUSTER_START_MS, `${this.workers} worker(s) in GET /health`);
    } else if (this.workers > 0) {
      await waitFor(async () => (await this.json('/api/workers')).length >= this.workers,
        CLUSTER_START_MS, `${this.workers} worker(s) in GET /api/workers`);
    }
  }

  async status(route) {
    try {
      const response = await fetch(this.url + route, { signal: AbortSignal.timeout(5000) });
      await response.arrayBuffer();
      return response.status;
    } catch {
      return 0;
    }
  }

  async json(route) {
    const response = await fetch(this.url + route, { signal: AbortSignal.timeout(10_000) });
    const body = await response.json();
    if (!response.ok) throw new Error(`GET ${route}: HTTP ${response.status} ${JSON.stringify(body)}`);
    return body;
  }

  logTail(lines = 40) {
    try {
      return fs.readFileSync(this.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  // SIGTERM to `framepipe up`, which stops its processes in order; after a grace period, SIGKILL
  // of the whole group whatever happened, so that nothing it started outlives the test.
  async stop() {
    if (!this.child || !this.child.pid) return;
    const group = this.child.pid;
    if (!this.exit) {
      try {
        process.kill(group, 'SIGTERM');
      } catch {
        // It is gone already.
      }
      const deadline = Date.now() + STOP_GRACE_MS;
      while (!this.exit && Date.now() < deadline) await sleep(100);
      if (!this.exit) console.error(`framepipe up (pid ${group}) ignored SIGTERM for ${STOP_GRACE_MS / 1000} s`);
    }
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      // Every process of the group has exited.
    }
    const reaped = Date.now() + 5000;  // let Node collect the exit status: no zombie left behind
    while (!this.exit && Date.now() < reaped) await sleep(50);
    liveGroups.delete(group);
    this.child = null;
  }

  saveLog(artifacts, name) {
    try {
      fs.copyFileSync(this.logPath, path.join(artifacts, name));
    } catch {
      // Nothing logged.
    }
  }
}

// ---- The test video ----

// H.264 and AAC in MP4, `seconds` long, from ffmpeg's lavfi test sources; `audio: false` leaves
// the sound track out.
export function makeVideo(file, seconds, size = '320x240', { audio = true } = {}) {
  const sound = audio
    ? ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
      '-c:a', 'aac', '-b:a', '96k', '-shortest']
    : [];
  const result = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=25:duration=${seconds}`, ...sound,
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p',
    '-movflags', '+faststart', file], { encoding: 'utf8' });
  if (result.error) throw new Error(`cannot run ffmpeg: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`ffmpeg failed: ${result.stderr.trim()}`);
}

// One JPEG picture of `size` from ffmpeg's lavfi test source (a stand-in poster).
export function makePicture(file, size = '320x180') {
  const result = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=1`, '-frames:v', '1', file], { encoding: 'utf8' });
  if (result.error) throw new Error(`cannot run ffmpeg: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`ffmpeg failed: ${result.stderr.trim()}`);
}

// ---- Checks, and a bound on the whole run ----

// Ends the script as failed if it runs longer than `ms` (a hung browser or cluster).
export function giveUpAfter(label, ms) {
  setTimeout(() => {
    console.error(`${label}: still running after ${ms / 1000} s, giving up`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }, ms).unref();
}

export const outcomes = [];  // {name, ok, detail}

// Runs one check. `needs`: names of earlier checks it depends on; if one of them did not pass,
// this check fails as "not run" so the count of checks stays the same on every run.
export async function check(name, fn, needs = []) {
  const missing = needs.filter((need) => !outcomes.some((outcome) => outcome.name === need && outcome.ok));
  if (missing.length > 0) {
    outcomes.push({ name, ok: false, detail: `not run: needs "${missing.join('", "')}"` });
    console.log(`FAIL ${name}: not run, needs "${missing.join('", "')}"`);
    return;
  }
  const started = Date.now();
  try {
    const detail = await fn();
    outcomes.push({ name, ok: true, detail });
    console.log(`PASS ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)${detail ? `: ${detail}` : ''}`);
  } catch (error) {
    const detail = error && error.message ? error.message.split('\n')[0] : String(error);
    outcomes.push({ name, ok: false, detail });
    console.log(`FAIL ${name}: ${detail}`);
  }
}

export function assert(condition, message) {
  if (!condition) throw new Error(message);
}

// ---- The page ----

// Uploads `file` through the page's form with `format` chosen in the selector (if given) and
// `chainText` as the chain; returns the answer to POST /api/jobs as {status, body}.
export async function uploadThroughPage(page, file, format, chainText) {
  await page.waitForFunction(() => !document.querySelector('#format').disabled, null, { timeout: 15_000 });
  await page.fill('#chain-text', chainText);
  if (format) await page.selectOption('#format', format);
  await page.setInputFiles('#file-input', file);
  const answer = page.waitForResponse((response) => response.request().method() === 'POST' &&
    new URL(response.url()).pathname === '/api/jobs', { timeout: 60_000 });
  await page.click('#start-button');
  const response = await answer;
  return { status: response.status(), body: await response.json().catch(() => null) };
}

// Waits until the job's card is final; throws unless it is done.
export async function waitUntilDone(page, jobId, timeoutMs) {
  const card = `li.job[data-job-id="${jobId}"]`;
  const final = await page.waitForFunction((selector) => {
    const element = document.querySelector(selector);
    const finished = element && ['done', 'failed', 'canceled'].includes(element.dataset.state);
    return finished ? element.dataset.state : false;
  }, card, { timeout: timeoutMs, polling: 250 }).then((handle) => handle.jsonValue());
  if (final !== 'done') {
    const error = await page.locator(`${card} .job-error`).textContent().catch(() => '');
    throw new Error(`the job ended ${final}: ${error}`);
  }
}

// Records a page's uncaught exceptions and console errors (failed requests included) in
// `problems`, except those `expected(text, url)` says were provoked on purpose; everything the
// console says goes to `consoleLog`. Confirmation dialogs ("Revoke…?", "Delete…?") are accepted.
export function watchPage(page, label, problems, consoleLog, expected = () => false) {
  page.on('pageerror', (error) => {
    problems.push(`${label}: uncaught ${error.message}`);
    consoleLog.push(`[${label}] pageerror ${error.message}`);
  });
  page.on('console', (message) => {
    const url = message.location().url || '';
    consoleLog.push(`[${label}] ${message.type()} ${message.text()}${url ? ` (${url})` : ''}`);
    if (message.type() === 'error' && !expected(message.text(), url)) {
      problems.push(`${label}: console error: ${message.text()}`);
    }
  });
  page.on('dialog', (dialog) => dialog.accept());
}
