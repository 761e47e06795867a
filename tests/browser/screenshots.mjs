#!/usr/bin/env node
// Takes the README's screenshots in Debian's Chromium: the library with a finished job (its
// result in the card's <video>) and a job under way, and the dashboard of a two-worker cluster
// while that job runs (throughput history and share of frames filled in). Not a test: run it by
// hand after a change to the pages, from a build tree where `npm ci` was run (ctest's
// browser.npm_ci does it):
//
//   node build/tests/browser/screenshots.mjs build/bin/framepipe docs
//
// Writes <out-dir>/page.png and <out-dir>/dashboard.png.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import {
  CHROMIUM, CHROMIUM_ARGS, Cluster, makeVideo, scratch, uploadThroughPage, waitFor,
} from './cluster.mjs';

const VIEWPORT = { width: 1280, height: 860 };
const SHORT_CHAIN = 'grayscale';
const LONG_CHAIN = 'blur=sigma=3,edges';
const JOB_TIMEOUT_MS = 300_000;

async function upload(page, file, chain) {
  const { status, body } = await uploadThroughPage(page, file, null, chain);
  if (status !== 201) throw new Error(`upload: HTTP ${status} ${JSON.stringify(body)}`);
  return body.id;
}

async function main() {
  const [binaryArgument, outArgument] = process.argv.slice(2);
  if (!binaryArgument || !outArgument) {
    console.error('usage: node screenshots.mjs <framepipe-binary> <out-dir>');
    return 2;
  }
  const out = path.resolve(outArgument);
  fs.mkdirSync(out, { recursive: true });
  const short = path.join(scratch, 'clip.mp4');
  const long = path.join(scratch, 'concert.mp4');
  makeVideo(short, 4, '640x360');
  makeVideo(long, 60, '960x540');

  const cluster = new Cluster(path.resolve(binaryArgument), 2, 'screenshots');
  let context = null;
  try {
    await cluster.start();
    context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(scratch, 'profile-')), {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: VIEWPORT,
    });
    // The dashboard first, so that its throughput history covers the whole run.
    const dashboard = await context.newPage();
    await dashboard.goto(`${cluster.url}/dashboard`, { waitUntil: 'load' });
    const jobs = context.pages()[0];
    await jobs.goto(`${cluster.url}/`, { waitUntil: 'load' });
    await jobs.waitForFunction(() => !document.querySelector('#add-filter').disabled);

    const shortId = await upload(jobs, short, SHORT_CHAIN);
    await jobs.waitForSelector(`li.job[data-job-id="${shortId}"][data-state="done"] .play-button`, { timeout: JOB_TIMEOUT_MS });
    // A frame in the player, opened in the item's card: play a moment, then pause.
    await jobs.click(`li.job[data-job-id="${shortId}"] .play-button`);
    await jobs.locator(`li.job[data-job-id="${shortId}"] .job-result video`).evaluate(async (video) => {
      video.muted = true;
      await video.play();
      while (video.currentTime < 1.2) await new Promise((resolve) => setTimeout(resolve, 50));
      video.pause();
    });

    const longId = await upload(jobs, long, LONG_CHAIN);
    const progress = async () => (await cluster.json(`/api/jobs/${longId}`));
    await waitFor(async () => {
      const job = await progress();
      return job.frames_total > 0 && job.frames_done / job.frames_total >= 0.55;
    }, JOB_TIMEOUT_MS, 'the long job to pass 55%');
    await jobs.evaluate(() => window.scrollTo(0, 0));
    await jobs.screenshot({ path: path.join(out, 'page.png') });
    await waitFor(async () => {
      const job = await progress();
      return job.frames_done / job.frames_total >= 0.8;
    }, JOB_TIMEOUT_MS, 'the long job to pass 80%');
    await sleep(500);
    await dashboard.screenshot({ path: path.join(out, 'dashboard.png') });
    const job = await progress();
    console.log(`screenshots in ${out}: page.png, dashboard.png (long job at ${job.frames_done}/${job.frames_total} frames, ${job.fps.toFixed(1)} frames/s)`);
    return 0;
  } finally {
    if (context) await context.close().catch(() => {});
    await cluster.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`screenshots: ${error && error.stack ? error.stack : error}`);
    process.exit(1);
  });
