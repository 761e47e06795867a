#!/usr/bin/env node
// Browser test of framepipe's accounts (`framepipe up --auth accounts`) in Debian's Chromium, driven
// by playwright-core: sign-up of the first user (the admin) through the page, sign-out and sign-in
// (a wrong password shown), an upload into the user's library (poster or placeholder, never a
// broken image; search; usage against the quota), the result played in the page, a share link made
// in the dialog (lifetimes capped by --share-max-ttl 1h) and opened in a fresh browser context
// without cookies (the player plays, the download answers), the link revoked in the page and a
// 1-second link left to expire (both give the 410 page), personal API tokens, a second user who
// sees nothing of the first's and is told the dashboard is for admins, the admin's Users panel
// (quota, disable, delete), the audio playlist moving to the next track, and the 507 of an upload
// over quota.
//
// Usage: node tests/browser/accounts.mjs <framepipe-binary> <artifact-dir>
// Needs: /usr/bin/chromium, ffmpeg, `npm ci` in tests/browser. Prints one line per check and
// "N passed, M failed" last; exits non-zero when a check failed. The cluster runs in its own process
// group and is stopped however the test ends (see cluster.mjs).
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import {
  CHROMIUM, CHROMIUM_ARGS, Cluster, assert, check, giveUpAfter, makePicture, makeVideo, outcomes, scratch,
  uploadThroughPage, waitFor, waitUntilDone, watchPage,
} from './cluster.mjs';

const INPUT_SECONDS = 3;
const DURATION_TOLERANCE_SECONDS = 0.3;
const QUOTA_MB = 200;
const JOB_TIMEOUT_MS = 180_000;
const WHOLE_RUN_MS = 12 * 60_000;
const ALICE = { username: 'alice', password: 'alice-long-password' };
const BOB = { username: 'bob', password: 'bob-long-password' };

giveUpAfter('accounts', WHOLE_RUN_MS);

// ---- The pages ----

// Refusals the flows below provoke on purpose, which Chromium logs as console errors: /api/auth/me
// signed out, a wrong password, a disabled account, the share dialog learning the longest lifetime,
// posters that do not exist, gone share links, an upload over quota, another user's job, a wrong
// current password.
const EXPECTED_FAILURES = /status of (400|401|403|404|410|507)\b/;

async function signUp(page, { username, password }) {
  await page.fill('#signup-username', username);
  await page.fill('#signup-password', password);
  await page.click('#signup-button');
  await page.waitForSelector('#main', { state: 'visible', timeout: 30_000 });
  await page.waitForFunction((name) => document.querySelector('#account-name').textContent === name, username, { timeout: 10_000 });
}

async function signIn(page, { username, password }) {
  await page.fill('#signin-username', username);
  await page.fill('#signin-password', password);
  await page.click('#signin-button');
}

// A <video> or <audio> gets data without error and muted play() advances it. Returns what it saw.
async function playMedia(locator) {
  return locator.evaluate(async (media) => {
    const loaded = await new Promise((resolve) => {
      if (media.error || media.readyState >= 2) return resolve();
      media.addEventListener('loadeddata', resolve, { once: true });
      media.addEventListener('canplay', resolve, { once: true });
      media.addEventListener('error', resolve, { once: true });
      media.preload = 'auto';
      setTimeout(resolve, 20_000);
    }).then(() => ({ readyState: media.readyState, duration: media.duration, error: media.error && media.error.code }));
    if (loaded.error) return { ...loaded, start: 0, now: 0 };
    media.muted = true;
    await media.play();
    const start = media.currentTime;
    const deadline = performance.now() + 15_000;
    while (performance.now() < deadline && media.currentTime < start + 0.5 && !media.error) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    media.pause();
    return { ...loaded, start, now: media.currentTime, error: media.error && media.error.code };
  });
}

function assertPlayed(played, tag) {
  assert(!played.error, `the <${tag}> reports error code ${played.error}`);
  assert(played.readyState >= 2, `readyState ${played.readyState}, expected >= 2`);
  assert(Number.isFinite(played.duration) && Math.abs(played.duration - INPUT_SECONDS) <= DURATION_TOLERANCE_SECONDS,
    `duration ${played.duration} s, expected ${INPUT_SECONDS} ± ${DURATION_TOLERANCE_SECONDS}`);
  assert(played.now >= played.start + 0.5, `currentTime went from ${played.start} to ${played.now}`);
  return `readyState ${played.readyState}, duration ${played.duration.toFixed(3)} s, currentTime ${played.start.toFixed(2)} -> ${played.now.toFixed(2)}`;
}

// The link's row in the Shared links panel, once it shows what GET /api/shares answered to a
// click on Refresh (the row drawn from the last list may be there already).
async function shareRow(page, shareId) {
  const answer = page.waitForResponse((response) => new URL(response.url()).pathname === '/api/shares' &&
    response.request().method() === 'GET', { timeout: 15_000 });
  await page.click('#shares-refresh');
  const list = await (await answer).json();
  const share = list.find((candidate) => candidate.id === shareId);
  assert(share, `GET /api/shares does not list ${shareId}`);
  await page.waitForFunction(({ id, state, downloads }) => {
    const row = document.querySelector(`#shares-body tr[data-share-id="${id}"]`);
    return row && row.dataset.state === state && row.querySelector('.share-downloads').textContent.startsWith(String(downloads));
  }, share, { timeout: 10_000 });
  return page.locator(`#shares-body tr[data-share-id="${shareId}"]`);
}

async function main() {
  const [binaryArgument, artifactArgument] = process.argv.slice(2);
  if (!binaryArgument || !artifactArgument) {
    console.error('usage: node tests/browser/accounts.mjs <framepipe-binary> <artifact-dir>');
    process.exit(2);
  }
  const binary = path.resolve(binaryArgument);
  const artifacts = path.resolve(artifactArgument);
  fs.mkdirSync(artifacts, { recursive: true });
  const video = path.join(scratch, 'holiday clip.mp4');
  const picture = path.join(scratch, 'poster.jpg');
  const problems = [];
  const consoleLog = [];

  let browser = null;
  const cluster = new Cluster(binary, 1, 'accounts-cluster', {
    auth: 'accounts', extraArgs: ['--share-max-ttl', '1h', '--quota-mb', String(QUOTA_MB)],
  });
  // alice: the first user, an admin; bob: the second; visitor: a fresh context without cookies.
  const state = { alice: null, bob: null, visitor: null, jobId: null, job: null, share: null, audioJobs: [] };

  try {
    await check('test video and picture generated with ffmpeg', async () => {
      makeVideo(video, INPUT_SECONDS);
      makePicture(picture);
      return `${fs.statSync(video).size} bytes, a ${fs.statSync(picture).size}-byte JPEG`;
    });

    await check('cluster starts (framepipe up --auth accounts --share-max-ttl 1h, 1 worker)', async () => {
      assert(fs.existsSync(binary), `no such file: ${binary}`);
      await cluster.start();
      const me = await fetch(`${cluster.url}/api/auth/me`, { signal: AbortSignal.timeout(10_000) });
      const body = await me.json();
      assert(me.status === 401 && body.auth === 'accounts', `GET /api/auth/me answered ${me.status} ${JSON.stringify(body)}`);
      return cluster.url;
    });

    await check('Chromium starts', async () => {
      assert(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install chromium)`);
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
      return browser.version();
    });

    const ready = ['cluster starts (framepipe up --auth accounts --share-max-ttl 1h, 1 worker)', 'Chromium starts'];

    async function newPage(label) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      context.setDefaultTimeout(30_000);
      const page = await context.newPage();
      watchPage(page, label, problems, consoleLog, (text) => EXPECTED_FAILURES.test(text));
      return page;
    }

    // ---- Signing up, out and in ----

    await check('signed out: the sign-in and sign-up forms, labelled, with autocomplete; no library', async () => {
      const page = await newPage('alice');
      state.alice = page;
      const response = await page.goto(`${cluster.url}/`, { waitUntil: 'load' });
      assert(response && response.status() === 200, `GET / answered ${response && response.status()}`);
      await page.waitForSelector('#signin-form', { state: 'visible', timeout: 15_000 });
      await page.waitForSelector('#signup-form', { state: 'visible', timeout: 5_000 });
      const form = await page.evaluate(() => {
        const field = (id) => {
          const input = document.getElementById(id);
          const label = document.querySelector(`label[for="${id}"]`);
          return { autocomplete: input.getAttribute('autocomplete'), label: label ? label.textContent.trim() : '' };
        };
        return {
          main: document.querySelector('#main').hidden,
          fields: ['signin-username', 'signin-password', 'signup-username', 'signup-password'].map(field),
        };
      });
      assert(form.main, 'the library is shown to nobody');
      const expected = ['username', 'current-password', 'username', 'new-password'];
      form.fields.forEach((field, index) => {
        assert(field.label, `field ${index} has no label`);
        assert(field.autocomplete === expected[index], `field ${index} (${field.label}) has autocomplete "${field.autocomplete}", expected "${expected[index]}"`);
      });
      await page.screenshot({ path: path.join(artifacts, 'accounts-sign-in.png'), fullPage: true });
      return form.fields.map((field) => `${field.label}: ${field.autocomplete}`).join(', ');
    }, ready);

    const signedOutPage = ['signed out: the sign-in and sign-up forms, labelled, with autocomplete; no library'];

    // The server's answer replaced in the browser: this cluster has sign-up open.
    await check('sign-up closed (signup_open false): no sign-up form, "ask an admin" instead', async () => {
      const page = await newPage('closed');
      await page.route('**/api/auth/me', (route) => route.fulfill({
        status: 401, contentType: 'application/json',
        body: JSON.stringify({ auth: 'accounts', signup_open: false, error: 'sign in first' }),
      }));
      await page.goto(`${cluster.url}/`, { waitUntil: 'load' });
      await page.waitForSelector('#signup-closed', { state: 'visible', timeout: 15_000 });
      assert(await page.locator('#signup-form').isHidden(), 'the sign-up form is shown');
      assert(await page.locator('#signin-form').isVisible(), 'the sign-in form is hidden');
      const text = (await page.textContent('#signup-closed')).trim();
      assert(/ask an admin/i.test(text), `the page says "${text}"`);
      await page.context().close();
      return text;
    }, ready);

    await check('sign-up through the page: the first user is an admin and lands in the library', async () => {
      const page = state.alice;
      await signUp(page, ALICE);
      await page.waitForSelector('#account-admin', { state: 'visible', timeout: 10_000 });
      await page.waitForSelector('#users-panel', { state: 'visible', timeout: 10_000 });
      await page.waitForSelector('#jobs-empty', { state: 'visible', timeout: 15_000 });
      await page.waitForFunction(() => document.querySelector('.live-status').dataset.live === 'live', null, { timeout: 15_000 });
      const usage = (await page.textContent('#usage-text')).trim();
      assert(usage === `0 bytes of ${QUOTA_MB} MiB used`, `the usage says "${usage}"`);
      return usage;
    }, signedOutPage);

    const alice = ['sign-up through the page: the first user is an admin and lands in the library'];

    await check('sign-out returns to the sign-in form; the session is gone', async () => {
      const page = state.alice;
      await page.click('#sign-out');
      await page.waitForSelector('#signin-form', { state: 'visible', timeout: 10_000 });
      assert(await page.locator('#main').isHidden(), 'the library is still shown');
      const status = await page.evaluate(() => fetch('api/auth/me').then((response) => response.status));
      assert(status === 401, `GET /api/auth/me answers ${status} after signing out`);
    }, alice);

    await check('a wrong password shows the server\'s error', async () => {
      const page = state.alice;
      await signIn(page, { username: ALICE.username, password: 'not-the-password' });
      await page.waitForFunction(() => document.querySelector('#signin-error').textContent.trim() !== '', null, { timeout: 15_000 });
      const text = (await page.textContent('#signin-error')).trim();
      assert(/wrong user name or password/i.test(text), `the form says "${text}"`);
      assert(await page.locator('#main').isHidden(), 'the library is shown after a wrong password');
      return text;
    }, ['sign-out returns to the sign-in form; the session is gone']);

    await check('sign-in with the right password: the library again', async () => {
      const page = state.alice;
      await signIn(page, ALICE);
      await page.waitForSelector('#main', { state: 'visible', timeout: 30_000 });
      assert((await page.textContent('#account-name')) === ALICE.username, 'the header does not name alice');
      await page.waitForFunction(() => !document.querySelector('#add-filter').disabled, null, { timeout: 15_000 });
    }, ['sign-out returns to the sign-in form; the session is gone']);

    const signedIn = ['sign-in with the right password: the library again'];

    // ---- The library ----

    await check('upload into the library: done, with its poster or a placeholder (never a broken image)', async () => {
      const page = state.alice;
      const answer = await uploadThroughPage(page, video, 'mp4', 'grayscale');
      assert(answer.status === 201, `POST /api/jobs answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      state.jobId = answer.body.id;
      await waitUntilDone(page, state.jobId, JOB_TIMEOUT_MS);
      const card = `li.job[data-job-id="${state.jobId}"]`;
      // The poster is asked for once the job is done: an image, or 404 and the placeholder.
      await page.waitForSelector(`${card}[data-poster]`, { state: 'attached', timeout: 15_000 });
      const thumb = await page.evaluate((selector) => {
        const box = document.querySelector(`${selector} .job-thumb`);
        const image = box.querySelector('img');
        const placeholder = box.querySelector('.poster-placeholder');
        return {
          poster: document.querySelector(selector).dataset.poster,
          image: image ? { width: image.naturalWidth, height: image.naturalHeight } : null,
          placeholder: placeholder ? placeholder.dataset.kind : null,
          placeholderShown: placeholder ? placeholder.getBoundingClientRect().width > 0 : false,
          length: box.querySelector('.thumb-length').textContent,
          facts: document.querySelector(`${selector} .job-meta`).textContent,
        };
      }, card);
      if (thumb.poster === 'shown') {
        assert(thumb.image && thumb.image.width > 0 && thumb.image.width <= 320 && thumb.image.height <= 180, `the poster is ${JSON.stringify(thumb.image)}`);
      } else {
        assert(!thumb.image && thumb.placeholder === 'video' && thumb.placeholderShown, `no poster, and no video placeholder alone: ${JSON.stringify(thumb)}`);
      }
      assert(thumb.length === '0:03', `the thumbnail says the length is "${thumb.length}"`);
      state.job = await page.evaluate((id) => fetch(`api/jobs/${id}`).then((response) => response.json()), state.jobId);
      await page.screenshot({ path: path.join(artifacts, 'accounts-library.png'), fullPage: true });
      return `${thumb.image ? `poster ${thumb.image.width}x${thumb.image.height}` : 'placeholder (no poster)'}; ${thumb.facts}`;
    }, signedIn);

    const uploaded = ['upload into the library: done, with its poster or a placeholder (never a broken image)'];

    // The page's side of posters whatever the server has: its answers are replaced in the browser.
    await check('posters: a JPEG answer is shown in the card, a broken one leaves the placeholder', async () => {
      const page = state.alice;
      const card = `li.job[data-job-id="${state.jobId}"]`;
      const route = '**/api/jobs/*/poster';
      const shownAs = async (body) => {
        await page.route(route, (request) => request.fulfill({ status: 200, contentType: 'image/jpeg', body }));
        try {
          await page.reload({ waitUntil: 'load' });
          await page.waitForSelector(`${card}[data-poster]`, { state: 'attached', timeout: 15_000 });
          return await page.evaluate((selector) => {
            const image = document.querySelector(`${selector} .job-thumb img`);
            return {
              poster: document.querySelector(selector).dataset.poster,
              image: image ? `${image.naturalWidth}x${image.naturalHeight}` : null,
              placeholder: getComputedStyle(document.querySelector(`${selector} .poster-placeholder`)).display !== 'none',
            };
          }, card);
        } finally {
          await page.unroute(route);
        }
      };
      const good = await shownAs(fs.readFileSync(picture));
      assert(good.poster === 'shown' && good.image === '320x180', `a 320x180 JPEG is shown as ${JSON.stringify(good)}`);
      const broken = await shownAs(Buffer.from('this is no JPEG'));
      assert(broken.poster === 'none' && broken.image === null && broken.placeholder, `a broken JPEG is shown as ${JSON.stringify(broken)}`);
      await page.reload({ waitUntil: 'load' });
      await page.waitForSelector(`${card}[data-poster]`, { state: 'attached', timeout: 15_000 });
      return `JPEG: ${good.image}; broken: placeholder`;
    }, uploaded);

    await check(`the result plays in the page: duration ${INPUT_SECONDS} s ± ${DURATION_TOLERANCE_SECONDS}, time advances`, async () => {
      const page = state.alice;
      await page.click(`li.job[data-job-id="${state.jobId}"] .play-button`);
      const player = page.locator(`li.job[data-job-id="${state.jobId}"] .job-result video`);
      await player.waitFor({ state: 'visible', timeout: 10_000 });
      const detail = assertPlayed(await playMedia(player), 'video');
      await page.screenshot({ path: path.join(artifacts, 'accounts-player.png'), fullPage: true });
      await page.click(`li.job[data-job-id="${state.jobId}"] .play-button`);  // "Close player"
      await player.waitFor({ state: 'detached', timeout: 10_000 });
      return detail;
    }, uploaded);

    await check('usage at the top of the library counts the result against the quota', async () => {
      const page = state.alice;
      const expected = state.job.output_bytes;
      await page.waitForFunction((quota) => new RegExp(`KiB of ${quota} MiB used`).test(document.querySelector('#usage-text').textContent),
        QUOTA_MB, { timeout: 15_000 });
      const text = (await page.textContent('#usage-text')).trim();
      const kib = Number(/^([\d.]+) KiB/.exec(text)[1]);
      assert(Math.abs(kib * 1024 - expected) <= 1024, `the page says "${text}", the result has ${expected} bytes`);
      return text;
    }, uploaded);

    await check('search filters the library by name and format', async () => {
      const page = state.alice;
      const card = page.locator(`li.job[data-job-id="${state.jobId}"]`);
      await page.fill('#library-search', 'no such name');
      await card.waitFor({ state: 'hidden', timeout: 5_000 });
      await page.waitForSelector('#search-empty', { state: 'visible', timeout: 5_000 });
      await page.fill('#library-search', 'holiday');
      await card.waitFor({ state: 'visible', timeout: 5_000 });
      await page.fill('#library-search', 'mp3');
      await card.waitFor({ state: 'hidden', timeout: 5_000 });
      await page.fill('#library-search', 'MP4');
      await card.waitFor({ state: 'visible', timeout: 5_000 });
      await page.fill('#library-search', '');
      return (await page.textContent('#jobs-count')).trim();
    }, uploaded);

    // ---- Share links ----

    await check('share dialog: lifetimes capped at the server\'s 1 h, the link shown with a copy button', async () => {
      const page = state.alice;
      await page.click(`li.job[data-job-id="${state.jobId}"] .share-button`);
      await page.waitForSelector('#share-dialog[open]', { timeout: 10_000 });
      // The dialog learns the server's longest lifetime and disables the longer choices.
      await page.waitForFunction(() => document.querySelector('#share-ttl-86400')?.disabled === true, null, { timeout: 15_000 });
      const choices = await page.evaluate(() => [...document.querySelectorAll('#share-ttl-options input')]
        .map((input) => `${input.value}${input.disabled ? ' (disabled)' : ''}${input.checked ? ' (checked)' : ''}`));
      assert(choices.includes('3600 (checked)'), `the lifetimes are ${choices.join(', ')}`);
      const answer = page.waitForResponse((response) => response.request().method() === 'POST' &&
        /\/shares$/.test(new URL(response.url()).pathname) && response.status() !== 400, { timeout: 30_000 });
      await page.click('#share-create');
      const response = await answer;
      assert(response.status() === 201, `POST shares answered ${response.status()}`);
      state.share = await response.json();
      await page.waitForSelector('#share-result', { state: 'visible', timeout: 10_000 });
      const link = await page.inputValue('#share-url');
      assert(link === `${cluster.url}${state.share.url}`, `the dialog shows "${link}", the server made ${state.share.url}`);
      assert(await page.locator('#share-result [data-copy="share-url"]').isVisible(), 'no copy button beside the link');
      await page.screenshot({ path: path.join(artifacts, 'accounts-share-dialog.png') });
      await page.click('#share-close');
      await page.waitForSelector('#share-dialog', { state: 'hidden', timeout: 5_000 });
      return `${choices.join(', ')}; ${link}`;
    }, uploaded);

    const shared = ['share dialog: lifetimes capped at the server\'s 1 h, the link shown with a copy button'];

    await check('the link in a fresh browser context (no cookies): the player plays, #download answers', async () => {
      state.visitor = await newPage('visitor');
      const page = state.visitor;
      const cookies = await page.context().cookies();
      assert(cookies.length === 0, `the fresh context has ${cookies.length} cookies`);
      const response = await page.goto(`${cluster.url}${state.share.url}`, { waitUntil: 'load' });
      assert(response.status() === 200, `the link answered ${response.status()}`);
      const played = assertPlayed(await playMedia(page.locator('video#player')), 'video');
      const href = await page.getAttribute('#download', 'href');
      const download = await page.context().request.get(new URL(href, `${cluster.url}/`).href);
      const body = await download.body();
      assert(download.status() === 200, `GET #download answered ${download.status()}`);
      assert(body.length === state.job.output_bytes, `the download has ${body.length} bytes, the result ${state.job.output_bytes}`);
      assert(/^attachment/.test(download.headers()['content-disposition'] || ''), `Content-Disposition is "${download.headers()['content-disposition']}"`);
      const styled = await page.evaluate(() => getComputedStyle(document.querySelector('.share-player')).width !== 'auto' &&
        document.body.classList.contains('share-page'));
      assert(styled, 'the share page is not styled');
      await page.screenshot({ path: path.join(artifacts, 'accounts-share-page.png'), fullPage: true });
      return `${played}; download ${body.length} bytes`;
    }, shared);

    await check('the Shared links panel lists the link: active, its downloads counted', async () => {
      const page = state.alice;
      const row = await shareRow(page, state.share.id);
      const shown = await row.evaluate((element) => ({
        state: element.dataset.state,
        downloads: Number(element.querySelector('.share-downloads').textContent),
        name: element.querySelector('th').textContent,
      }));
      assert(shown.state === 'active', `the link is ${shown.state}`);
      assert(shown.downloads >= 1, `${shown.downloads} downloads counted`);
      assert(shown.name.includes('holiday clip.mp4'), `the row names "${shown.name}"`);
      return `${shown.downloads} downloads`;
    }, ['the link in a fresh browser context (no cookies): the player plays, #download answers']);

    await check('revoked in the page: the fresh context gets the 410 page with #gone', async () => {
      const page = state.alice;
      const row = await shareRow(page, state.share.id);
      await row.locator('.revoke-share').click();
      await page.waitForSelector(`#shares-body tr[data-share-id="${state.share.id}"][data-state="revoked"]`, { timeout: 10_000 });
      const response = await state.visitor.goto(`${cluster.url}${state.share.url}`, { waitUntil: 'load' });
      assert(response.status() === 410, `the revoked link answered ${response.status()}`);
      const text = (await state.visitor.textContent('#gone')).trim();
      await state.visitor.screenshot({ path: path.join(artifacts, 'accounts-share-gone.png'), fullPage: true });
      return text;
    }, ['the link in a fresh browser context (no cookies): the player plays, #download answers']);

    await check('a 1-second link made with the session cookie expires: 410 and #gone', async () => {
      const made = await state.alice.evaluate((id) => fetch(`api/jobs/${id}/shares`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ttl_seconds: 1 }),
      }).then(async (response) => ({ status: response.status, body: await response.json() })), state.jobId);
      assert(made.status === 201, `POST shares answered ${made.status} ${JSON.stringify(made.body)}`);
      let status = 0;
      await waitFor(async () => {
        status = (await state.visitor.goto(`${cluster.url}${made.body.url}`, { waitUntil: 'load' })).status();
        return status === 410;
      }, 30_000, 'the 1-second link to answer 410');
      assert(await state.visitor.locator('#gone').isVisible(), 'no #gone on the page');
      return `${made.body.url.slice(0, 12)}… answered ${status}`;
    }, shared);

    // ---- Personal API tokens ----

    await check('API tokens: made with a label, shown once with a curl example, it works, revoked it does not', async () => {
      const page = state.alice;
      await page.fill('#token-label', 'test script');
      await page.click('#token-create');
      await page.waitForSelector('#token-created', { state: 'visible', timeout: 10_000 });
      const token = (await page.textContent('#token-value')).trim();
      const example = (await page.textContent('#token-example')).trim();
      assert(token.length >= 20, `the token shown is "${token}"`);
      assert(example === `curl -H "Authorization: Bearer ${token}" ${cluster.url}/api/jobs`, `the example is "${example}"`);
      const listed = await fetch(`${cluster.url}/api/jobs`, { headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
      const jobs = await listed.json();
      assert(listed.status === 200 && jobs.some((job) => job.id === state.jobId), `GET /api/jobs with the token answered ${listed.status}`);
      await page.click('#token-done');
      assert(await page.locator('#token-created').isHidden(), 'the token is still shown');
      assert(!(await page.textContent('#token-value')), 'the token is still in the page');
      const row = page.locator('#tokens-body tr', { hasText: 'test script' });
      await row.waitFor({ timeout: 10_000 });
      await row.locator('button').click();
      await row.waitFor({ state: 'detached', timeout: 10_000 });
      const refused = await fetch(`${cluster.url}/api/jobs`, { headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
      assert(refused.status === 401, `GET /api/jobs with the revoked token answered ${refused.status}`);
      return example.replace(token, 'TOKEN');
    }, signedIn);

    await check('password: a mismatch is caught in the page, a wrong current one refused, the right one changes it', async () => {
      const page = state.alice;
      const fresh = 'alice-newer-password';
      const waitForText = (selector, text) => page.waitForFunction(
        ([where, what]) => document.querySelector(where).textContent.includes(what), [selector, text], { timeout: 10_000 });
      await page.fill('#current-password', ALICE.password);
      await page.fill('#new-password', fresh);
      await page.fill('#repeat-password', 'alice-other-password');
      await page.click('#password-button');
      await waitForText('#password-error', 'differ');
      await page.fill('#current-password', 'not-the-password');
      await page.fill('#repeat-password', fresh);
      await page.click('#password-button');
      await waitForText('#password-error', 'the current password is wrong');
      await page.fill('#current-password', ALICE.password);
      await page.click('#password-button');
      await waitForText('#password-form-title', 'Password changed');
      assert(!(await page.inputValue('#new-password')), 'the new password stays in the form');
      const login = (password) => fetch(`${cluster.url}/api/auth/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: ALICE.username, password }),
        signal: AbortSignal.timeout(10_000),
      });
      const old = await login(ALICE.password);
      assert(old.status === 401, `the old password signed in: ${old.status}`);
      ALICE.password = fresh;
      const now = await login(ALICE.password);
      assert(now.status === 200, `the new password did not sign in: ${now.status}`);
      const me = await page.evaluate(async () => (await fetch('api/auth/me')).status);
      assert(me === 200, `the page's own session ended with the change: ${me}`);
    }, signedIn);

    // ---- A second user ----

    await check('a second user signs up in another context and does not see the first user\'s job', async () => {
      const page = await newPage('bob');
      state.bob = page;
      await page.goto(`${cluster.url}/`, { waitUntil: 'load' });
      await page.waitForSelector('#signup-form', { state: 'visible', timeout: 15_000 });
      await signUp(page, BOB);
      await page.waitForSelector('#jobs-empty', { state: 'visible', timeout: 15_000 });
      assert(await page.locator('li.job').count() === 0, 'bob sees jobs');
      assert(await page.locator('#account-admin').isHidden(), 'bob is shown as an admin');
      assert(await page.locator('#users-panel').isHidden(), 'bob sees the Users panel');
      assert(await page.locator('a[href="dashboard"]').isHidden(), 'bob sees the dashboard link');
      const status = await page.evaluate((id) => fetch(`api/jobs/${id}`).then((response) => response.status), state.jobId);
      assert(status === 404, `GET alice's job as bob answered ${status}`);
      return `alice's job is ${status} for bob`;
    }, uploaded);

    const bob = ['a second user signs up in another context and does not see the first user\'s job'];

    await check('the dashboard tells a non-admin it is for admins (no broken charts)', async () => {
      const page = state.bob;
      await page.goto(`${cluster.url}/dashboard`, { waitUntil: 'load' });
      await page.waitForSelector('#gate', { state: 'visible', timeout: 15_000 });
      const text = (await page.textContent('#gate-text')).trim();
      assert(/only an admin/i.test(text), `the dashboard says "${text}"`);
      assert(await page.locator('#main').isHidden(), 'the dashboard itself is shown');
      await page.screenshot({ path: path.join(artifacts, 'accounts-dashboard-non-admin.png') });
      await page.goto(`${cluster.url}/`, { waitUntil: 'load' });
      await page.waitForSelector('#main', { state: 'visible', timeout: 15_000 });
      return text;
    }, bob);

    await check('Users panel: the admin makes bob an admin and back, sets his quota and password, disables him (his sign-in is refused), deletes him', async () => {
      const page = state.alice;
      await page.reload({ waitUntil: 'load' });
      const row = page.locator(`#users-body tr[data-username="${BOB.username}"]`);
      await row.waitFor({ timeout: 15_000 });
      await row.getByRole('button', { name: `Make ${BOB.username} an admin` }).click();
      await row.getByRole('button', { name: `Take admin rights from ${BOB.username}` }).waitFor({ timeout: 10_000 });
      assert(/Admin/.test(await row.textContent()), 'bob\'s row does not say Admin');
      await row.getByRole('button', { name: `Take admin rights from ${BOB.username}` }).click();
      await row.getByRole('button', { name: `Make ${BOB.username} an admin` }).waitFor({ timeout: 10_000 });
      await row.getByRole('button', { name: `Set a new password for ${BOB.username}` }).click();
      await page.fill('#set-password-value', 'short');
      await page.click('#set-password-button');  // the browser's own check stops it
      assert(await page.locator('#set-password-dialog').isVisible(), 'a short password closed the dialog');
      BOB.password = 'set-by-the-admin';
      await page.fill('#set-password-value', BOB.password);
      await page.click('#set-password-button');
      await page.locator('#set-password-dialog').waitFor({ state: 'hidden', timeout: 10_000 });
      const login = await fetch(`${cluster.url}/api/auth/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(BOB),
        signal: AbortSignal.timeout(10_000),
      });
      assert(login.status === 200, `bob could not sign in with the password the admin set: ${login.status}`);
      await row.locator('.quota-input').fill('1');
      await row.locator('.quota-form button').click();
      await page.waitForFunction((name) => /of 1 MiB/.test(document.querySelector(`#users-body tr[data-username="${name}"]`)?.textContent || ''),
        BOB.username, { timeout: 10_000 });
      await row.getByRole('button', { name: `Disable ${BOB.username}` }).click();
      await page.waitForFunction((name) => /Disabled/.test(document.querySelector(`#users-body tr[data-username="${name}"]`)?.textContent || ''),
        BOB.username, { timeout: 10_000 });
      await page.screenshot({ path: path.join(artifacts, 'accounts-users.png'), fullPage: true });

      // Bob's session ends with the account: his next request brings the sign-in form back.
      await state.bob.reload({ waitUntil: 'load' });
      await state.bob.waitForSelector('#signin-form', { state: 'visible', timeout: 15_000 });
      await signIn(state.bob, BOB);
      await state.bob.waitForFunction(() => /disabled/i.test(document.querySelector('#signin-error').textContent), null, { timeout: 15_000 });
      const refusal = (await state.bob.textContent('#signin-error')).trim();

      await row.getByRole('button', { name: `Delete ${BOB.username}` }).click();
      await row.waitFor({ state: 'detached', timeout: 15_000 });
      return refusal;
    }, bob);

    // ---- Audio playlist ----

    await check('audio playlist: two MP3 results, the player moves to the next track when one ends', async () => {
      const page = state.alice;
      for (let index = 0; index < 2; index += 1) {
        const answer = await uploadThroughPage(page, video, 'mp3', '');
        assert(answer.status === 201, `POST /api/jobs answered ${answer.status}: ${JSON.stringify(answer.body)}`);
        state.audioJobs.push(answer.body.id);
      }
      for (const id of state.audioJobs) await waitUntilDone(page, id, JOB_TIMEOUT_MS);
      await page.waitForFunction(() => document.querySelectorAll('#playlist-tracks li').length === 2, null, { timeout: 10_000 });
      const [first, second] = state.audioJobs;
      const placeholder = await page.getAttribute(`li.job[data-job-id="${first}"] .poster-placeholder`, 'data-kind');
      assert(placeholder === 'audio', `the MP3's placeholder is "${placeholder}"`);
      await page.click(`li.job[data-job-id="${first}"] .play-button`);
      await page.waitForFunction((id) => document.querySelector('#playlist-tracks li[aria-current="true"]')?.dataset.jobId === id, first, { timeout: 10_000 });
      const player = page.locator('#playlist-audio');
      const played = assertPlayed(await playMedia(player), 'audio');
      // Near the end of the first track; its `ended` starts the second.
      await player.evaluate(async (audio) => {
        audio.muted = true;
        audio.currentTime = Math.max(0, audio.duration - 0.3);
        await audio.play();
      });
      await page.waitForFunction((id) => document.querySelector('#playlist-audio').dataset.jobId === id &&
        document.querySelector('#playlist-tracks li[aria-current="true"]')?.dataset.jobId === id, second, { timeout: 20_000 });
      await page.waitForFunction(() => {
        const audio = document.querySelector('#playlist-audio');
        return !audio.paused && audio.currentTime > 0.2;
      }, null, { timeout: 20_000 });
      await page.locator('#playlist').screenshot({ path: path.join(artifacts, 'accounts-playlist.png') });
      await player.evaluate((audio) => audio.pause());
      return `first track: ${played}; then the second plays`;
    }, signedIn);

    // ---- Quota ----

    await check('an upload over quota: the 507 is shown with the figures', async () => {
      const page = state.alice;
      const row = page.locator(`#users-body tr[data-username="${ALICE.username}"]`);
      await row.locator('.quota-input').fill('1');
      await row.locator('.quota-form button').click();
      await page.waitForFunction(() => / of 1 MiB used/.test(document.querySelector('#usage-text').textContent), null, { timeout: 15_000 });
      const answer = await uploadThroughPage(page, { name: 'big.mp4', mimeType: 'video/mp4', buffer: Buffer.alloc(2 * 1024 * 1024) }, 'mp4', '');
      assert(answer.status === 507, `POST /api/jobs answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      await page.waitForFunction(() => /quota/.test(document.querySelector('#upload-error').textContent), null, { timeout: 10_000 });
      const text = (await page.textContent('#upload-error')).trim();
      assert(/\d+ MiB used of 1 MiB/.test(text), `the page says "${text}"`);
      await row.locator('.quota-input').fill('');  // back to the server's default
      await row.locator('.quota-form button').click();
      await page.waitForFunction((quota) => new RegExp(`of ${quota} MiB used`).test(document.querySelector('#usage-text').textContent),
        QUOTA_MB, { timeout: 15_000 });
      return text;
    }, signedIn);

    await check('deleting an item frees its room: the usage goes down', async () => {
      const page = state.alice;
      const before = (await page.textContent('#usage-text')).trim();
      await page.click(`li.job[data-job-id="${state.jobId}"] .delete-button`);
      await page.waitForSelector(`li.job[data-job-id="${state.jobId}"]`, { state: 'detached', timeout: 15_000 });
      await page.waitForFunction((text) => document.querySelector('#usage-text').textContent.trim() !== text, before, { timeout: 15_000 });
      return `${before} -> ${(await page.textContent('#usage-text')).trim()}`;
    }, uploaded);

    await check('no JavaScript errors in the pages (refusals provoked on purpose aside)', async () => {
      assert(problems.length === 0, problems.slice(0, 5).join(' | '));
    }, ready);
  } finally {
    if (browser) await browser.close().catch(() => {});
    await cluster.stop();
    cluster.saveLog(artifacts, 'up-accounts.log');
    fs.writeFileSync(path.join(artifacts, 'browser-console-accounts.log'), `${consoleLog.join('\n')}\n`);
  }

  const failed = outcomes.filter((outcome) => !outcome.ok).length;
  if (failed > 0) {
    const file = path.join(artifacts, 'up-accounts.log');
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trimEnd() : '';
    if (text) console.log(`---- cluster log (last lines, whole file in ${file}) ----\n${text.split('\n').slice(-30).join('\n')}`);
  }
  console.log(`${outcomes.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`accounts: ${error && error.stack ? error.stack : error}`);
    console.log(`${outcomes.filter((outcome) => outcome.ok).length} passed, ${outcomes.filter((outcome) => !outcome.ok).length + 1} failed`);
    process.exit(1);
  });
