// The cluster dashboard: the live workers table, summary tiles and two charts (throughput over
// time, share of frames per worker), all fed by the `workers` and `job` events of /api/events.
// Chart.js comes from /assets/chart.umd.js (Debian's libjs-chart.js 3.9.1, copied by the build).
// With accounts it is for admins: others get a sentence saying so, not empty charts.
import {
  accountsOn,
  api,
  el,
  formatNumber,
  formatDuration,
  isAdmin,
  isNewer,
  liveStream,
  loadClusterInfo,
  loadSession,
  onSignedOut,
  onTokenSaved,
  session,
  showAuthPanel,
  showLiveStatus,
  showNoWorkerNotice,
  throughputText,
  workersText,
  FINISHED_STATES,
} from './app.js';

const HISTORY_SECONDS = 300;
// A heartbeat older than this is shown as late (the registry drops a worker after 3 s of silence).
const LATE_HEARTBEAT_MS = 2000;

const $ = (id) => document.getElementById(id);
const history = [];  // {time: ms, fps}, oldest first, at most HISTORY_SECONDS old
const jobs = new Map();  // id -> job, for the jobs tile
let throughputChart = null;
let shareChart = null;

function cssColor(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

// Colours that stay apart for common colour-vision deficiencies (Okabe-Ito).
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];

function createCharts() {
  const { Chart } = window;
  if (!Chart) {
    $('charts-error').textContent = 'The charts cannot be drawn: /assets/chart.umd.js did not load.';
    return;
  }
  const text = cssColor('--text-muted', '#555');
  const grid = cssColor('--border', '#ddd');
  const accent = cssColor('--accent', '#2563eb');
  Chart.defaults.color = text;
  Chart.defaults.borderColor = grid;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)').matches;

  throughputChart = new Chart($('throughput-chart'), {
    type: 'line',
    data: {
      datasets: [{
        label: 'Cluster frames/s',
        data: [],
        borderColor: accent,
        backgroundColor: `${accent}22`,
        fill: true,
        pointRadius: 0,
        borderWidth: 2,
        tension: 0.25,
      }],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: {
        x: {
          type: 'linear',
          min: -HISTORY_SECONDS,
          max: 0,
          ticks: {
            stepSize: 60,
            callback: (value) => (value === 0 ? 'now' : `${Math.round(-value / 60)} min ago`),
          },
        },
        y: {
          beginAtZero: true,
          suggestedMax: 10,
          title: { display: true, text: 'frames/s' },
        },
      },
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            title: (items) => (items.length ? `${formatDuration(-items[0].parsed.x)} ago` : ''),
            label: (item) => throughputText(item.parsed.y),
          },
        },
      },
    },
  });

  shareChart = new Chart($('share-chart'), {
    type: 'doughnut',
    data: { labels: [], datasets: [{ data: [], backgroundColor: [], borderColor: cssColor('--surface', '#fff'), borderWidth: 2 }] },
    options: {
      animation: reducedMotion ? false : { duration: 300 },
      maintainAspectRatio: false,
      cutout: '55%',
      plugins: {
        legend: { position: 'bottom', labels: { boxWidth: 12 } },
        tooltip: {
          callbacks: {
            label: (item) => {
              const total = item.dataset.data.reduce((sum, value) => sum + value, 0);
              const percent = total > 0 ? ((100 * item.parsed) / total).toFixed(1) : '0';
              return `${item.label}: ${formatNumber(item.parsed)} frames (${percent}%)`;
            },
          },
        },
      },
    },
  });
}

function recordThroughput(fps) {
  const now = Date.now();
  history.push({ time: now, fps: Number.isFinite(fps) ? fps : 0 });
  while (history.length > 0 && now - history[0].time > HISTORY_SECONDS * 1000) history.shift();
  if (!throughputChart) return;
  throughputChart.data.datasets[0].data = history.map((point) => ({ x: (point.time - now) / 1000, y: point.fps }));
  throughputChart.update('none');
  const peak = Math.max(...history.map((point) => point.fps));
  $('throughput-chart').setAttribute('aria-label',
    `Line chart of cluster throughput: now ${throughputText(fps)}, peak ${throughputText(peak)} in the last ${formatDuration((now - history[0].time) / 1000)}`);
}

function updateShare(workers) {
  const withFrames = workers.filter((worker) => worker.frames_done > 0);
  $('share-empty').hidden = withFrames.length > 0;
  if (!shareChart) return;
  const dataset = shareChart.data.datasets[0];
  shareChart.data.labels = withFrames.map((worker) => worker.name);
  dataset.data = withFrames.map((worker) => worker.frames_done);
  dataset.backgroundColor = withFrames.map((worker) => colourFor(worker.name));
  shareChart.update();
  const total = withFrames.reduce((sum, worker) => sum + worker.frames_done, 0);
  const parts = withFrames.map((worker) => `${worker.name} ${((100 * worker.frames_done) / total).toFixed(0)}%`);
  $('share-chart').setAttribute('aria-label',
    parts.length ? `Doughnut chart of frames per worker: ${parts.join(', ')}` : 'Doughnut chart of frames per worker: no frames yet');
}

// A worker keeps its colour while it stays connected.
const colours = new Map();
function colourFor(name) {
  if (!colours.has(name)) {
    const used = new Set(colours.values());
    colours.set(name, PALETTE.find((colour) => !used.has(colour)) || PALETTE[colours.size % PALETTE.length]);
  }
  return colours.get(name);
}

function forgetColours(workers) {
  const names = new Set(workers.map((worker) => worker.name));
  for (const name of [...colours.keys()]) if (!names.has(name)) colours.delete(name);
}

function heartbeatText(ms) {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 1000) return 'just now';
  return `${(ms / 1000).toFixed(1)} s ago`;
}

function workerRow(worker) {
  const late = worker.last_heartbeat_ms_ago > LATE_HEARTBEAT_MS;
  const state = worker.state || 'unknown';
  const details = [worker.pid ? `pid ${worker.pid}` : '', worker.cores ? `${worker.cores} cores` : '', worker.version ? `version ${worker.version}` : '']
    .filter(Boolean).join(', ');
  return el('tr', { dataset: { worker: worker.name } },
    el('th', { scope: 'row' },
      el('span', { class: 'swatch', style: `background:${colourFor(worker.name)}`, 'aria-hidden': 'true' }),
      el('span', { text: worker.name }),
      details ? el('span', { class: 'cell-note', text: details }) : null),
    el('td', { text: worker.host || '–' }),
    el('td', {}, el('span', { class: `badge state-${state === 'busy' ? 'running' : 'idle'}`, text: state })),
    el('td', { class: 'numeric', text: formatNumber(worker.frames_done) }),
    el('td', { class: 'numeric', text: formatNumber(worker.fps, 1) }),
    el('td', { class: 'numeric', text: formatNumber(worker.cpu_percent, 0) }),
    el('td', { class: 'numeric', text: formatNumber((worker.rss_bytes || 0) / (1024 * 1024), 0) }),
    el('td', { class: 'numeric', text: formatNumber(worker.filter_ms, 1) }),
    el('td', { class: late ? 'late' : '', text: heartbeatText(worker.last_heartbeat_ms_ago) }),
    el('td', {}, worker.current_job ? el('code', { text: worker.current_job, title: worker.current_job }) : el('span', { class: 'hint', text: 'none' })));
}

function showWorkers(update) {
  const workers = (Array.isArray(update.workers) ? update.workers : [])
    .slice()
    .sort((a, b) => String(a.name).localeCompare(String(b.name)));
  const throughput = Number.isFinite(update.throughput_fps)
    ? update.throughput_fps
    : workers.reduce((sum, worker) => sum + (worker.fps || 0), 0);
  forgetColours(workers);
  $('workers-body').replaceChildren(...workers.map(workerRow));
  $('workers-table').hidden = workers.length === 0;
  $('workers-empty').hidden = workers.length > 0;
  showNoWorkerNotice(workers);

  const busy = workers.filter((worker) => worker.state === 'busy').length;
  $('tile-workers').textContent = String(workers.length);
  $('tile-workers-note').textContent = workers.length ? `${busy} busy, ${workers.length - busy} idle` : 'none connected';
  $('tile-throughput').textContent = formatNumber(throughput, 1);
  $('tile-frames').textContent = formatNumber(workers.reduce((sum, worker) => sum + (worker.frames_done || 0), 0));
  $('workers-updated').textContent = `${workersText(workers.length)} · updated ${new Date().toLocaleTimeString()}`;

  recordThroughput(throughput);
  updateShare(workers);
}

function showJob(job, ordered) {
  if (!job || typeof job.id !== 'string') return;
  if (job.deleted) jobs.delete(job.id);
  else if (ordered || isNewer(job, jobs.get(job.id))) jobs.set(job.id, job);
  showJobCounts();
}

function showJobCounts() {
  let running = 0;
  let queued = 0;
  for (const job of jobs.values()) {
    if (job.state === 'running') running += 1;
    else if (job.state === 'queued') queued += 1;
  }
  $('tile-jobs').textContent = String(running);
  const finished = [...jobs.values()].filter((job) => FINISHED_STATES.has(job.state)).length;
  $('tile-jobs-note').textContent = `${queued} queued · ${finished} finished`;
}

async function loadJobs() {
  try {
    const list = await api('api/jobs');
    if (!Array.isArray(list)) return;
    const present = new Set(list.map((job) => job.id));
    for (const id of [...jobs.keys()]) if (!present.has(id)) jobs.delete(id);
    for (const job of list) showJob(job, false);
    showJobCounts();
  } catch {
    // The stream's snapshot fills the tile as well.
  }
}

async function loadWorkers() {
  try {
    const workers = await api('api/workers');
    if (Array.isArray(workers) && history.length === 0) showWorkers({ workers });
  } catch {
    // Shown once the stream delivers its first `workers` event.
  }
}

function start() {
  loadWorkers();
  loadJobs();
  loadClusterInfo();
}

// Instead of the dashboard: why it is not shown, and where to go.
function showGate(text, linkText) {
  $('main').hidden = true;
  $('gate').hidden = false;
  $('gate-text').textContent = text;
  $('gate-link').textContent = linkText;
  document.querySelector('.live-status').hidden = Boolean(session.user);  // nothing live here for them
  if (!session.user) showLiveStatus('signed-out');
}

let stream = null;

async function boot() {
  await loadSession();
  if (accountsOn() && !session.user) {
    showGate('Sign in to see the cluster dashboard.', 'Sign in');
    return;
  }
  if (!isAdmin()) {
    showGate('Only an admin sees the cluster dashboard: it shows every worker of the cluster. Your own jobs and their progress are in your library.',
      'Go to your library');
    return;
  }
  $('main').hidden = false;  // before the charts, which take the size of their boxes
  createCharts();
  stream = liveStream('api/events', {
    open: loadJobs,
    events: { workers: showWorkers, job: (job) => showJob(job, true) },
  }, (status) => {
    if (status === 'auth' && accountsOn()) return;  // signed out: the page says so instead
    showLiveStatus(status);
    if (status === 'auth') showAuthPanel();
  });
  start();
}

onSignedOut(() => {
  if (stream) stream.stop();
  showGate('You are signed out.', 'Sign in again');
});
onTokenSaved(() => {
  start();
  if (stream) stream.restart();
});
boot();
