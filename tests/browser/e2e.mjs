#!/usr/bin/env node
// End-to-end test of framepipe's web pages in Debian's Chromium (driven by playwright-core, which
// downloads no browser), in the open single-user mode (`--auth none`; accounts.mjs tests accounts):
// a real local cluster, a video generated with ffmpeg, an upload through the page's file input with
// a filter chain chosen in the UI, the job followed to the end through the live events, the result
// played in the library's <video>, output formats chosen in the page's selector (WebM played in
// Chromium, MP3 in the audio playlist, AVI offered for download, refusals shown), the dashboard,
// and the "no worker" notice of a cluster without workers.
//
// Usage: node tests/browser/e2e.mjs <framepipe-binary> <artifact-dir>
// Needs: /usr/bin/chromium, ffmpeg, `npm ci` in tests/browser. Prints one line per check and
// "N passed, M failed" last; exits non-zero when a check failed. Every cluster runs in its own
// process group and is stopped (SIGTERM to `framepipe up`, then SIGKILL of the group) however the
// test ends.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import {
  CHROMIUM, CHROMIUM_ARGS, Cluster, assert, check, giveUpAfter, makeVideo, outcomes, scratch,
  uploadThroughPage, waitUntilDone, watchPage,
} from './cluster.mjs';

const INPUT_SECONDS = 3;
const DURATION_TOLERANCE_SECONDS = 0.3;
const JOB_TIMEOUT_MS = 180_000;
const WHOLE_RUN_MS = 10 * 60_000;

giveUpAfter('e2e', WHOLE_RUN_MS);

// ---- The browser ----

// Opens the item's player with its Play button: a video plays in the card, an audio result in the
// page's playlist. Returns the locator of the <video> or <audio>.
async function openPlayer(page, jobId, tag) {
  await page.click(`li.job[data-job-id="${jobId}"] .play-button`);
  if (tag === 'video') {
    const player = page.locator(`li.job[data-job-id="${jobId}"] .job-result video`);
    await player.waitFor({ state: 'attached', timeout: 10_000 });
    return player;
  }
  await page.waitForFunction((id) => document.querySelector('#playlist-audio').dataset.jobId === id, jobId, { timeout: 10_000 });
  return page.locator('#playlist-audio');
}

// Checks that the job's <video> or <audio> plays: it gets data (loadeddata or canplay,
// readyState >= 2) without an error, its duration is the input's, and muted play() advances it.
async function checkPlays(page, jobId, tag) {
  const player = await openPlayer(page, jobId, tag);
  const loaded = await player.evaluate((media) => new Promise((resolve) => {
    const report = (event) => resolve({
      event, readyState: media.readyState, duration: media.duration, error: media.error && (media.error.message || `code ${media.error.code}`),
    });
    if (media.error) return report('error');
    if (media.readyState >= 2) return report('already');
    media.addEventListener('loadeddata', () => report('loadeddata'), { once: true });
    media.addEventListener('canplay', () => report('canplay'), { once: true });
    media.addEventListener('error', () => report('error'), { once: true });
    media.preload = 'auto';  // 'metadata' may stop before the first data
    media.load();
    setTimeout(() => report('timeout'), 20_000);
  }));
  assert(!loaded.error, `the <${tag}> reports an error: ${loaded.error}`);
  assert(loaded.readyState >= 2, `readyState ${loaded.readyState} (${loaded.event}), expected >= 2`);
  assert(Number.isFinite(loaded.duration) && Math.abs(loaded.duration - INPUT_SECONDS) <= DURATION_TOLERANCE_SECONDS,
    `duration ${loaded.duration} s, expected ${INPUT_SECONDS} ± ${DURATION_TOLERANCE_SECONDS}`);
  const played = await player.evaluate(async (media) => {
    media.muted = true;
    await media.play();
    const start = media.currentTime;
    const deadline = performance.now() + 10_000;
    while (performance.now() < deadline && media.currentTime < start + 0.5 && !media.error) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    media.pause();
    return { start, now: media.currentTime, error: media.error && media.error.code };
  });
  assert(!played.error, `the <${tag}> failed while playing (code ${played.error})`);
  assert(played.now >= played.start + 0.5, `currentTime went from ${played.start} to ${played.now} in 10 s`);
  return `${loaded.event}, readyState ${loaded.readyState}, duration ${loaded.duration.toFixed(3)} s, currentTime ${played.start.toFixed(2)} -> ${played.now.toFixed(2)}`;
}

// A job without a poster (audio, or a server from before posters) answers 404: the page shows its
// placeholder, and Chromium logs the answer as an error all the same.
function noPoster(text, url) {
  return /\/poster$/.test(url) && /status of 404/.test(text);
}

async function main() {
  const [binaryArgument, artifactArgument] = process.argv.slice(2);
  if (!binaryArgument || !artifactArgument) {
    console.error('usage: node tests/browser/e2e.mjs <framepipe-binary> <artifact-dir>');
    process.exit(2);
  }
  const binary = path.resolve(binaryArgument);
  const artifacts = path.resolve(artifactArgument);
  fs.mkdirSync(artifacts, { recursive: true });
  const video = path.join(scratch, 'input.mp4');
  const silent = path.join(scratch, 'silent.mp4');
  const problems = [];
  const consoleLog = [];

  let context = null;
  const cluster = new Cluster(binary, 1, 'cluster');
  const idle = new Cluster(binary, 0, 'idle-cluster');
  const state = { jobId: null, page: null, formatJobs: {} };

  try {
    await check('test video generated with ffmpeg', async () => {
      makeVideo(video, INPUT_SECONDS);
      makeVideo(silent, INPUT_SECONDS, '320x240', { audio: false });
      return `${fs.statSync(video).size} bytes, ${fs.statSync(silent).size} bytes without audio`;
    });

    await check('cluster starts (framepipe up --workers 1): /health 200, 1 worker registered', async () => {
      assert(fs.existsSync(binary), `no such file: ${binary}`);
      await cluster.start();
      return `${cluster.url}, ZeroMQ ports from ${cluster.zmqBase}`;
    });

    await check('Chromium starts with a fresh profile', async () => {
      assert(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install chromium)`);
      const profile = fs.mkdtempSync(path.join(scratch, 'chromium-profile-'));
      context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: { width: 1280, height: 900 },
        timeout: 60_000,
      });
      context.setDefaultTimeout(30_000);
      return context.browser() ? context.browser().version() : 'persistent context';
    });

    const ready = ['cluster starts (framepipe up --workers 1): /health 200, 1 worker registered',
      'Chromium starts with a fresh profile'];

    await check('jobs page loads the filter catalogue; no "no worker" notice with a worker', async () => {
      const page = context.pages()[0] || await context.newPage();
      state.page = page;
      watchPage(page, 'jobs page', problems, consoleLog, noPoster);
      const response = await page.goto(`${cluster.url}/`, { waitUntil: 'load' });
      assert(response && response.status() === 200, `GET / answered ${response && response.status()}`);
      await page.waitForFunction(() => {
        const select = document.querySelector('#add-filter');
        return select && !select.disabled && [...select.options].some((option) => option.value === 'grayscale');
      }, null, { timeout: 15_000 });
      // The worker list arrives by GET /api/workers and the event stream; give both a moment.
      await page.waitForFunction(() => document.querySelector('.live-status')?.dataset.live === 'live', null, { timeout: 15_000 });
      await sleep(1500);
      assert(await page.locator('#no-workers').isHidden(), 'the "no worker" notice is shown although a worker is registered');
      const count = await page.locator('#add-filter option').count();
      return `${count} filters`;
    }, ready);

    await check('single-user mode (--auth none): no sign-in, the header says so, no account panels', async () => {
      const page = state.page;
      await page.waitForSelector('#account-mode', { state: 'visible', timeout: 10_000 });
      const shown = await page.evaluate(() => ({
        mode: document.querySelector('#account-mode').textContent.trim(),
        signIn: !document.querySelector('#sign-in').hidden,
        signOut: !document.querySelector('#sign-out').hidden,
        panels: !document.querySelector('#account-panels').hidden,
        dashboard: !document.querySelector('a[href="dashboard"]').hidden,
      }));
      assert(/single-user/i.test(shown.mode), `the header says "${shown.mode}"`);
      assert(!shown.signIn && !shown.signOut, `sign-in form shown: ${shown.signIn}, sign-out button shown: ${shown.signOut}`);
      assert(!shown.panels, 'the shared links, tokens and users panels are shown');
      assert(shown.dashboard, 'the dashboard link is hidden');
      return shown.mode;
    }, ['jobs page loads the filter catalogue; no "no worker" notice with a worker']);

    await check('chain editor: a typo is reported, the grayscale step gives "grayscale"', async () => {
      const page = state.page;
      await page.fill('#chain-text', 'grayscale,nosuchfilter');
      await page.waitForFunction(() => /unknown filter/.test(document.querySelector('#chain-error').textContent));
      await page.fill('#chain-text', '');
      assert((await page.locator('li.step').count()) === 0, 'clearing the chain text left steps behind');
      await page.selectOption('#add-filter', 'grayscale');
      await page.click('#add-step');
      await page.waitForSelector('li.step[data-filter="grayscale"]');
      const text = await page.inputValue('#chain-text');
      assert(text === 'grayscale', `chain text is "${text}", expected "grayscale"`);
      assert((await page.textContent('#chain-error')).trim() === '', 'an error is shown for a valid chain');
    }, ['jobs page loads the filter catalogue; no "no worker" notice with a worker']);

    await check('upload through the file input: POST /api/jobs answers 201, a job card appears', async () => {
      const page = state.page;
      await page.setInputFiles('#file-input', video);
      const answer = page.waitForResponse((response) => response.request().method() === 'POST' &&
        new URL(response.url()).pathname === '/api/jobs', { timeout: 60_000 });
      await page.click('#start-button');
      const response = await answer;
      const body = await response.json().catch(() => null);
      assert(response.status() === 201, `POST /api/jobs answered ${response.status()}: ${JSON.stringify(body)}`);
      assert(body && body.id, 'the 201 answer has no job id');
      assert(body.filters && body.filters.includes('grayscale'), `the job's filters are "${body.filters}"`);
      state.jobId = body.id;
      await page.waitForSelector(`li.job[data-job-id="${body.id}"]`, { timeout: 10_000 });
      return `job ${body.id}`;
    }, ['chain editor: a typo is reported, the grayscale step gives "grayscale"']);

    await check('job card reaches state done and 100% through live events', async () => {
      const page = state.page;
      const card = `li.job[data-job-id="${state.jobId}"]`;
      await waitUntilDone(page, state.jobId, JOB_TIMEOUT_MS);
      const value = await page.locator(`${card} progress`).evaluate((bar) => [bar.value, bar.max]);
      assert(value[0] === value[1], `the progress bar shows ${value[0]} of ${value[1]}`);
      const percent = (await page.textContent(`${card} .job-percent`)).trim();
      assert(percent === '100%', `the card shows "${percent}"`);
      const job = await cluster.json(`/api/jobs/${state.jobId}`);
      assert(job.state === 'done', `GET /api/jobs/${state.jobId} says ${job.state}`);
      assert(job.frames_total > 0 && job.frames_done === job.frames_total,
        `frames_done ${job.frames_done} of frames_total ${job.frames_total}`);
      return `${job.frames_done} frames`;
    }, ['upload through the file input: POST /api/jobs answers 201, a job card appears']);

    const finished = ['job card reaches state done and 100% through live events'];

    await check(`result plays in the page's <video>: duration ${INPUT_SECONDS} s ± ${DURATION_TOLERANCE_SECONDS}, time advances`, async () => {
      const page = state.page;
      const player = await openPlayer(page, state.jobId, 'video');
      const loaded = await player.evaluate((video) => new Promise((resolve) => {
        const report = () => resolve({ duration: video.duration, error: video.error && video.error.message });
        if (video.readyState >= 1) return report();
        video.addEventListener('loadedmetadata', report, { once: true });
        video.addEventListener('error', report, { once: true });
        setTimeout(report, 20_000);
      }));
      assert(!loaded.error, `the <video> reports an error: ${loaded.error}`);
      assert(Number.isFinite(loaded.duration), `no metadata: duration is ${loaded.duration}`);
      assert(Math.abs(loaded.duration - INPUT_SECONDS) <= DURATION_TOLERANCE_SECONDS,
        `duration ${loaded.duration} s, expected ${INPUT_SECONDS} ± ${DURATION_TOLERANCE_SECONDS}`);
      // Muted, so that the autoplay policy allows play() without a user gesture.
      const played = await player.evaluate(async (video) => {
        video.muted = true;
        await video.play();
        const start = video.currentTime;
        const deadline = performance.now() + 10_000;
        while (performance.now() < deadline && video.currentTime < start + 0.5) {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        return { start, now: video.currentTime, paused: video.paused, width: video.videoWidth, height: video.videoHeight };
      });
      assert(played.now >= played.start + 0.5, `currentTime went from ${played.start} to ${played.now} in 10 s`);
      assert(played.width > 0 && played.height > 0, `the video has no picture size (${played.width}x${played.height})`);
      await page.screenshot({ path: path.join(artifacts, 'page.png'), fullPage: true });
      return `duration ${loaded.duration.toFixed(3)} s, ${played.width}x${played.height}, currentTime ${played.start.toFixed(2)} -> ${played.now.toFixed(2)}`;
    }, finished);

    await check('download link: ?download=1 answers with Content-Disposition: attachment, Range works', async () => {
      const page = state.page;
      const href = await page.locator(`li.job[data-job-id="${state.jobId}"] a[download]`).getAttribute('href');
      assert(href && href.includes('download=1'), `the download link is "${href}"`);
      const url = new URL(href, `${cluster.url}/`);
      const response = await fetch(url, { headers: { Range: 'bytes=0-1023' }, signal: AbortSignal.timeout(10_000) });
      const body = Buffer.from(await response.arrayBuffer());
      assert(response.status === 206, `GET ${url.pathname}${url.search} with Range answered ${response.status}`);
      assert(body.length === 1024, `the range has ${body.length} bytes`);
      assert(body.subarray(4, 8).toString('latin1') === 'ftyp', 'the result does not start with an MP4 ftyp box');
      const disposition = response.headers.get('content-disposition') || '';
      assert(/^attachment/i.test(disposition), `Content-Disposition is "${disposition}"`);
      return disposition;
    }, finished);

    await check('per-job event stream /api/jobs/{id}/events ends with "event: end" (state done)', async () => {
      const page = state.page;
      const outcome = await page.evaluate((id) => new Promise((resolve) => {
        const source = new EventSource(`api/jobs/${encodeURIComponent(id)}/events`);
        const seen = [];
        const finish = (result) => {
          source.close();
          resolve({ ...result, seen });
        };
        source.addEventListener('job', () => seen.push('job'));
        source.addEventListener('end', (event) => {
          try {
            finish({ end: JSON.parse(event.data) });
          } catch (error) {
            finish({ problem: `end data is not JSON: ${error.message}` });
          }
        });
        source.addEventListener('error', () => {
          if (source.readyState === EventSource.CLOSED) finish({ problem: 'the stream failed (HTTP error or wrong content type)' });
        });
        setTimeout(() => finish({ problem: 'no end event in 10 s' }), 10_000);
      }), state.jobId);
      assert(!outcome.problem, `${outcome.problem}; events seen: ${outcome.seen.join(', ') || 'none'}`);
      assert(outcome.end.id === state.jobId && outcome.end.state === 'done',
        `end event carries ${JSON.stringify({ id: outcome.end.id, state: outcome.end.state })}`);
    }, finished);

    await check('job list survives a reload (it comes from the server)', async () => {
      const page = state.page;
      await page.reload({ waitUntil: 'load' });
      await page.waitForSelector(`li.job[data-job-id="${state.jobId}"][data-state="done"] .play-button`, { timeout: 15_000 });
      await openPlayer(page, state.jobId, 'video');
    }, finished);

    // ---- Output formats ----

    const reloaded = ['job list survives a reload (it comes from the server)'];

    await check('format selector: video and audio groups from GET /api/cluster, the default chosen', async () => {
      const page = state.page;
      const info = await cluster.json('/api/cluster');
      await page.waitForFunction(() => !document.querySelector('#format').disabled, null, { timeout: 15_000 });
      const shown = await page.evaluate(() => ({
        value: document.querySelector('#format').value,
        groups: [...document.querySelectorAll('#format optgroup')].map((group) => ({
          label: group.label, names: [...group.querySelectorAll('option')].map((option) => option.value),
        })),
      }));
      const expected = ['video', 'audio'].map((kind) => info.formats.filter((format) => format.kind === kind).map((format) => format.name));
      assert(shown.groups.length === 2, `${shown.groups.length} option groups: ${JSON.stringify(shown.groups)}`);
      assert(JSON.stringify(shown.groups.map((group) => group.names)) === JSON.stringify(expected),
        `groups ${JSON.stringify(shown.groups)}, expected ${JSON.stringify(expected)}`);
      assert(shown.value === info.default_format, `"${shown.value}" is chosen, expected the default "${info.default_format}"`);
      return shown.groups.map((group) => `${group.label}: ${group.names.join(', ')}`).join('; ');
    }, reloaded);

    const selector = ['format selector: video and audio groups from GET /api/cluster, the default chosen'];

    await check('an audio format with filter steps: the page says it takes the copy chain and uploads nothing', async () => {
      const page = state.page;
      let posts = 0;
      const count = (request) => { if (request.method() === 'POST') posts += 1; };
      page.on('request', count);
      try {
        await page.fill('#chain-text', 'grayscale');
        await page.selectOption('#format', 'mp3');
        const help = await page.locator('#format-help').evaluate((element) => ({ text: element.textContent, warning: element.classList.contains('warning-text') }));
        assert(help.warning && /copy chain/.test(help.text), `the help near the selector says "${help.text}" (warning: ${help.warning})`);
        await page.setInputFiles('#file-input', video);
        await page.click('#start-button');
        await page.waitForFunction(() => /copy chain/.test(document.querySelector('#upload-error').textContent), null, { timeout: 5000 });
        await sleep(500);
        assert(posts === 0, `${posts} POST request(s) were sent`);
        return (await page.textContent('#upload-error')).trim();
      } finally {
        page.off('request', count);
      }
    }, selector);

    await check('the server\'s 400 (MP3 from a file without audio) is shown as the upload error', async () => {
      const page = state.page;
      const before = problems.length;
      const answer = await uploadThroughPage(page, silent, 'mp3', '');
      assert(answer.status === 400, `POST /api/jobs answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      assert(/"mp3"/.test(answer.body && answer.body.error), `the refusal does not name the format sent: ${JSON.stringify(answer.body)}`);
      await page.waitForFunction(() => /no audio track/.test(document.querySelector('#upload-error').textContent), null, { timeout: 5000 });
      // Chromium logs every 4xx answer as a console error: this one is expected.
      problems.splice(before, problems.length - before,
        ...problems.slice(before).filter((problem) => !/status of 400/.test(problem)));
      return (await page.textContent('#upload-error')).trim();
    }, selector);

    for (const [format, label, chainText, expected, tag] of [
      ['webm', 'WebM', 'grayscale', 'WebM · VP9 + Opus', 'video'],
      ['mp3', 'MP3', '', 'MP3 · MP3 audio', 'audio'],
    ]) {
      const converted = `${format} chosen in the page: the job's format is ${format}, it is done, its card says "${expected}"`;
      await check(converted, async () => {
        const page = state.page;
        const answer = await uploadThroughPage(page, video, format, chainText);
        assert(answer.status === 201, `POST /api/jobs answered ${answer.status}: ${JSON.stringify(answer.body)}`);
        assert(answer.body.format === format, `the job's format is "${answer.body.format}" (the form sends "${format}")`);
        state.formatJobs[format] = answer.body.id;
        await waitUntilDone(page, answer.body.id, JOB_TIMEOUT_MS);
        const card = `li.job[data-job-id="${answer.body.id}"]`;
        const shown = (await page.textContent(`${card} .job-format`)).trim();
        assert(shown === expected, `the card says "${shown}"`);
        const download = (await page.textContent(`${card} a[download]`)).trim();
        assert(download.startsWith(`Download ${label} (`), `the download link says "${download}"`);
        const job = await cluster.json(`/api/jobs/${answer.body.id}`);
        return `job ${job.id}: ${job.mime_type}, ${job.output_video_codec || 'no video'} + ${job.output_audio_codec}, ${job.output_bytes} bytes`;
      }, selector);
      await check(`${format} result plays in Chromium's <${tag}>: data without error, duration ${INPUT_SECONDS} s ± ${DURATION_TOLERANCE_SECONDS}, time advances`,
        () => checkPlays(state.page, state.formatJobs[format], tag), [converted]);
    }

    await check('a format Chromium cannot play (AVI): the card says so and offers the download', async () => {
      const page = state.page;
      const playable = await page.evaluate(() => document.createElement('video').canPlayType('video/x-msvideo'));
      assert(playable === '', `Chromium says "${playable}" to canPlayType("video/x-msvideo"); this check expects ""`);
      const answer = await uploadThroughPage(page, video, 'avi', '');
      assert(answer.status === 201, `POST /api/jobs answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      await waitUntilDone(page, answer.body.id, JOB_TIMEOUT_MS);
      const result = `li.job[data-job-id="${answer.body.id}"] .job-result`;
      assert((await page.locator(`${result} video, ${result} audio`).count()) === 0, 'the card has a player for AVI');
      const sentence = (await page.textContent(`${result} .job-unplayable`)).trim();
      assert(sentence === 'This browser cannot play AVI; download it.', `the card says "${sentence}"`);
      const href = await page.locator(`li.job[data-job-id="${answer.body.id}"] a[download]`).getAttribute('href');
      const response = await fetch(new URL(href, `${cluster.url}/`), { headers: { Range: 'bytes=0-15' }, signal: AbortSignal.timeout(10_000) });
      const head = Buffer.from(await response.arrayBuffer());
      assert(response.status === 206 && head.subarray(8, 12).toString('latin1') === 'AVI ', `the download answered ${response.status}, starting ${JSON.stringify(head.toString('latin1'))}`);
      await page.screenshot({ path: path.join(artifacts, 'formats.png'), fullPage: true });
      return `${sentence} (${response.headers.get('content-type')})`;
    }, selector);

    await check('dashboard: worker row, throughput and share charts fed by live events', async () => {
      const page = await context.newPage();
      watchPage(page, 'dashboard', problems, consoleLog, noPoster);
      const response = await page.goto(`${cluster.url}/dashboard`, { waitUntil: 'load' });
      assert(response && response.status() === 200, `GET /dashboard answered ${response && response.status()}`);
      await page.waitForSelector('#workers-body tr[data-worker]', { timeout: 15_000 });
      const rows = await page.locator('#workers-body tr[data-worker]').count();
      assert(rows === 1, `${rows} worker rows, expected 1`);
      const chartLoaded = await page.evaluate(() => typeof window.Chart === 'function');
      assert(chartLoaded, 'window.Chart is missing: /assets/chart.umd.js did not load');
      // Every `workers` event adds a point; 3 points means the stream is live.
      await page.waitForFunction(() => {
        const chart = window.Chart.getChart(document.querySelector('#throughput-chart'));
        return chart && chart.data.datasets[0].data.length >= 3;
      }, null, { timeout: 15_000 });
      const share = await page.evaluate(() => {
        const chart = window.Chart.getChart(document.querySelector('#share-chart'));
        return chart ? chart.data.datasets[0].data.reduce((sum, value) => sum + value, 0) : -1;
      });
      assert(share > 0, `the share chart counts ${share} frames`);
      const box = await page.locator('#throughput-chart').boundingBox();
      assert(box && box.width > 100 && box.height > 100, `the throughput canvas is ${JSON.stringify(box)}`);
      await page.screenshot({ path: path.join(artifacts, 'dashboard.png'), fullPage: true });
      await page.close();
      return `${share} frames in the share chart`;
    }, ready);

    await check('no JavaScript errors or failed requests in the pages', async () => {
      assert(problems.length === 0, problems.slice(0, 5).join(' | '));
    }, ready);

    // Closed first: a page whose server goes away logs failed requests, which are not errors here.
    if (state.page) await state.page.close().catch(() => {});
    await cluster.stop();
    cluster.saveLog(artifacts, 'up.log');

    await check('a cluster without workers shows the "no worker" notice with the exact command', async () => {
      await idle.start();
      const info = await idle.json('/api/cluster');
      const expected = `framepipe worker tcp://127.0.0.1:${idle.zmqBase}`;
      assert(info.worker_command === expected, `GET /api/cluster says "${info.worker_command}", expected "${expected}"`);
      const page = await context.newPage();
      watchPage(page, 'idle jobs page', problems, consoleLog, noPoster);
      await page.goto(`${idle.url}/`, { waitUntil: 'load' });
      await page.waitForSelector('#no-workers', { state: 'visible', timeout: 15_000 });
      await page.waitForFunction((command) => document.querySelector('#worker-command').textContent.trim() === command,
        expected, { timeout: 10_000 });
      await page.screenshot({ path: path.join(artifacts, 'no-workers.png'), fullPage: true });
      await page.close();
      return expected;
    }, ['Chromium starts with a fresh profile']);
  } finally {
    if (context) await context.close().catch(() => {});
    await cluster.stop();
    await idle.stop();
    cluster.saveLog(artifacts, 'up.log');
    idle.saveLog(artifacts, 'up-idle.log');
    fs.writeFileSync(path.join(artifacts, 'browser-console.log'), `${consoleLog.join('\n')}\n`);
  }

  const failed = outcomes.filter((outcome) => !outcome.ok).length;
  if (failed > 0) {
    for (const [label, name] of [['cluster', 'up.log'], ['idle cluster', 'up-idle.log']]) {
      const file = path.join(artifacts, name);
      const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trimEnd() : '';
      if (!text) continue;
      const tail = text.split('\n').slice(-30).join('\n');
      console.log(`---- ${label} log (last lines, whole file in ${file}) ----\n${tail}`);
    }
  }
  console.log(`${outcomes.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`e2e: ${error && error.stack ? error.stack : error}`);
    console.log(`${outcomes.filter((outcome) => outcome.ok).length} passed, ${outcomes.filter((outcome) => !outcome.ok).length + 1} failed`);
    process.exit(1);
  });
