// Browser benchmark of the dashboard (`make bench`, after the C benches).
//
// A real `rill serve --source demo --rate 48000` and Debian's headless
// Chromium (playwright-core from web/node_modules, nothing downloaded). The
// page streams 8 dense variables into live charts and draws 2 spectrograms
// of 257 bins at 48000/512 columns per second each (sent by a program,
// spectrogram_feeder.mjs, through the server's handler relay; injected in the
// page if the server has none), with every panel on
// screen at once (the page's showAll test hook and a viewport tall enough for
// all of them). Measured over RILL_BENCH_BROWSER_S seconds (default 30):
//
//   fps          requestAnimationFrame timestamps, frames counted per second
//                of the run: the median and the 5th percentile of those
//   busy         Chrome DevTools Protocol Performance.getMetrics: the delta of
//                TaskDuration (all main-thread tasks) and ScriptDuration (JS)
//                over the delta of its Timestamp, as % of the main thread
//   CPU          CDP ThreadTime (the page's main thread), and user + system
//                time of every Chromium process and of rill serve (/proc), as %
//                of one core: what drawing costs even when a loaded machine
//                holds the frame rate down
//   JS heap      JSHeapUsedSize after HeapProfiler.collectGarbage, at the
//                start and at the end of the run
//   delay        buffer leaving the server -> drawn: for every dense buffer,
//                its newest tick's lag behind the device's live tick at the end
//                of the first animation frame that draws it. The device clock
//                is the latency badge's estimate (web/src/latency.ts: tick /
//                rate - arrival, the largest over 10 s, i.e. calibrated on the
//                fastest transit) taken while the charts stream before the
//                idle baseline, when the page keeps up, and extrapolated with
//                performance.now() (both CLOCK_MONOTONIC; the demo sleeps to
//                absolute deadlines). Not at the end of the baseline: with
//                nothing streaming, the estimate rests on the list replies
//                alone, whose ticks lag (an unwatched demo makes its blocks
//                eight at a time; a reply waits in the socket's worker for
//                the next batch), and read up to ~22 ms behind the device.
//                Error: the calibration's transit (under 1 ms on an idle page)
//                and one source block (64 frames, 1.3 ms), so about +-2 ms.
//                The server sends a buffer when its newest value is written,
//                so this is the issue's "server -> drawn" whatever the buffer
//                length; the age of each buffer's oldest value when drawn is
//                printed too (it adds the time the buffer took to fill: what
//                a user sees of an event's lag)
//
//   pictures     per chart, the pictures shown per second (new sweeps, new
//                values), and the canvas repaints among them (a picture whose
//                pixels equal those on screen is not repainted), medians over
//                the 8 charts
//
//   left open    before all that, the page as a user opens it and leaves it
//                (the variables' table, nothing streaming, no frame counter
//                of the bench's): Chromium's CPU and the page's own animation
//                frames a second (none: an idle page draws on a 200 ms timer)
//
// Two workloads, each against its baseline measured in the same run (the
// same page, same layout, nothing streaming):
//   scope  the scope features on: each chart triggered (auto, rising
//          through 0) at 10 ms/div (100 ms windows of 4800 values, drawn as
//          per-pixel min/max), with both cursors placed and read out
//   roll   the charts as they were before the scope: 2 s windows scrolling
//          with the device's clock (the trigger off), every frame
// The spectrograms run at their default update_rate (EasyDSP's, 20/s).
//
// Environment: RILL_BIN (the rill binary; required), RILL_BENCH_JSON (rows
// appended as JSON lines), RILL_BENCH_BROWSER_S (30), RILL_BENCH_BROWSER_IDLE_S
// (10), RILL_BENCH_BROWSER_RUNS (1; medians over runs),
// RILL_BENCH_BROWSER_MODES (scope,roll), RILL_BENCH_BROWSER_QUERY (added to
// the page's URL, to compare the page's options: worker=0 keeps the socket
// on the main thread, paint=main the charts' painting, buffers=N), CHROMIUM
// (/usr/bin/chromium), RILL_BENCH_BROWSER_PROFILE (5 s of the loaded page,
// for finding what limits it: a JS CPU profile if the path ends in
// .cpuprofile, a Chrome trace if it ends in .json; bench/browser/summarize.mjs
// tallies either; RILL_BENCH_BROWSER_TRACE_CATEGORIES adds trace categories,
// comma-separated), RILL_BENCH_BROWSER_WEB_ROOT (another dashboard build,
// given to rill serve as --web-root; it must have this page's test hooks),
// RILL_BENCH_BROWSER_SHOT (a PNG of the first run's page, loaded),
// RILL_BENCH_BROWSER_DRIVER (cdp: Chromium driven over its DevTools pipe by
// rawcdp.mjs, the default; playwright: as the browser tests drive it, which
// adds DevTools' reports of every WebSocket message to Chromium's CPU).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const SUITE = 'browser';
const RATE = 48000;
const CHANNELS = 8;
const SPEC_HEIGHT = 257; // bins of a 512-point FFT
const SPEC_WIDTH = 400; // columns kept (4.3 s)
const SPEC_RATE = RATE / 512; // columns per second per spectrogram
const SPECS = 2;
const INJECT_IDS = [9001, 9002]; // handler ids when injected through the page
const SECONDS = Number(process.env.RILL_BENCH_BROWSER_S || 30);
const IDLE_SECONDS = Number(process.env.RILL_BENCH_BROWSER_IDLE_S || Math.min(10, SECONDS));
const OPENED_SECONDS = Math.min(5, IDLE_SECONDS);
const RUNS = Math.max(1, Number(process.env.RILL_BENCH_BROWSER_RUNS || 1));
const QUERY = process.env.RILL_BENCH_BROWSER_QUERY || '';
const WEB_ROOT = process.env.RILL_BENCH_BROWSER_WEB_ROOT || '';
const MODES = (process.env.RILL_BENCH_BROWSER_MODES || 'scope,roll').split(',').filter((m) => m === 'scope' || m === 'roll');
/** The scope workload's settings, and its cursors (seconds from the trigger). */
const SCOPE = { timeDiv: 0.01, trigger: { mode: 'auto', slope: 'rising', level: 0, position: 0.5 } };
const WARMUP_MS = 3000;
const CLOCK_ERROR_MS = 3; // the delay's error, about +-2 ms (see the header), with a margin
const CALIBRATE_MS = 2000; // charts streaming before the probe's clock is read
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function skip(why) {
  console.log(`\n== browser: dashboard in headless Chromium ==\nskipped: ${why}`);
  process.exit(0);
}

const bin = process.env.RILL_BIN;
if (!bin || !fs.existsSync(bin)) skip(`rill binary not found (${bin || 'RILL_BIN unset'})`);
if (!fs.existsSync(CHROMIUM)) skip(`${CHROMIUM} not found (make deps installs Debian's chromium)`);
if (!fs.existsSync(path.join(REPO, 'web', 'dist', 'index.html'))) skip('web/dist is not built (make build)');
// The server and browser exactly as the browser tests start them
// (tests/web/lib.mjs), imported once the checks above have passed, since
// it loads playwright-core on import.
let startServer, launchBrowser;
try {
  ({ startServer, launchBrowser } = await import('../../tests/web/lib.mjs'));
} catch {
  skip('playwright-core is not installed in web/node_modules (make deps runs npm ci)');
}
// The browser: driven over its DevTools pipe by rawcdp.mjs (the default:
// nothing but what the figures need runs in Chromium), or by Playwright as
// the browser tests drive it, which adds Network reports of every
// WebSocket message to Chromium's CPU (rawcdp.mjs's header).
const DRIVER = process.env.RILL_BENCH_BROWSER_DRIVER || 'cdp';
if (DRIVER === 'cdp') ({ launchRawBrowser: launchBrowser } = await import('./rawcdp.mjs'));
else if (DRIVER !== 'playwright') skip(`RILL_BENCH_BROWSER_DRIVER is cdp or playwright, not '${DRIVER}'`);

// ---- statistics -----------------------------------------------------------------------

function percentile(a, p) {
  if (!a.length) return NaN;
  const s = Float64Array.from(a).sort();
  const idx = (p / 100) * (s.length - 1);
  const lo = Math.floor(idx);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] * (1 - (idx - lo)) + s[hi] * (idx - lo);
}
const median = (a) => percentile(a, 50);

/** Frames counted in each whole second of [t0, t1) (rAF timestamps, ms). */
function fpsPerSecond(stamps, t0, t1) {
  const n = Math.floor((t1 - t0) / 1000);
  const bins = new Array(n).fill(0);
  for (const t of stamps) {
    const b = Math.floor((t - t0) / 1000);
    if (b >= 0 && b < n) bins[b]++;
  }
  return bins;
}

// ---- one measurement window -----------------------------------------------------------

/** CPU seconds (user + system) used so far by a process tree: the browser
 * (every Chromium process under this script) or one process (rill serve). */
function procStats() {
  const all = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const r = st.slice(st.lastIndexOf(')') + 2).split(' ');
      all.set(Number(d), { comm: st.slice(st.indexOf('(') + 1, st.lastIndexOf(')')), ppid: Number(r[1]), cpu: (Number(r[11]) + Number(r[12])) / 100 });
    } catch {
      // gone meanwhile
    }
  }
  return all;
}
function cpuSeconds(serverPid) {
  const all = procStats();
  let browser = 0;
  const roots = [...all].filter(([, p]) => p.ppid === process.pid && /chrom/i.test(p.comm)).map(([pid]) => pid);
  const seen = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of all) if (!seen.has(pid) && seen.has(p.ppid)) seen.add(pid), (grew = true);
  }
  const byType = {};
  for (const pid of seen) {
    browser += all.get(pid).cpu;
    let type = 'browser';
    try {
      const m = /--type=([a-z-]+)/.exec(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      if (m) type = m[1];
    } catch {
      // gone meanwhile
    }
    byType[type] = (byType[type] || 0) + all.get(pid).cpu;
  }
  return { browser, byType, server: all.get(serverPid)?.cpu ?? NaN };
}

async function metrics(cdp) {
  const { metrics: m } = await cdp.send('Performance.getMetrics');
  return Object.fromEntries(m.map((x) => [x.name, x.value]));
}

async function heapAfterGc(cdp) {
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.send('HeapProfiler.collectGarbage');
  return (await metrics(cdp)).JSHeapUsedSize;
}

/** Measure the page for `seconds`: fps, main-thread busy time, heap. */
async function measure(page, cdp, serverPid, seconds, { probe = false, profile = null, counter = true } = {}) {
  const heap0 = await heapAfterGc(cdp);
  const appFrames0 = await page.evaluate(() => window.__rill.frames?.() ?? NaN);
  // Without the counter the page's own frames are all there is: a page left
  // open as a user leaves it.
  if (counter) await page.evaluate((cap) => {
    const b = (window.__bench = { t: new Float64Array(cap), n: 0, on: true });
    const f = (ts) => {
      if (!b.on) return;
      if (b.n < b.t.length) b.t[b.n++] = ts;
      requestAnimationFrame(f);
    };
    requestAnimationFrame(f);
  }, Math.ceil(seconds * 250) + 1000);
  if (probe) await page.evaluate(() => window.__rill.latencyTake()); // drop the warm-up's
  const m0 = await metrics(cdp);
  const c0 = cpuSeconds(serverPid);
  const t0 = await page.evaluate(() => performance.now());
  if (profile) {
    // 5 s of the run: a JS CPU profile (.cpuprofile), or a Chrome trace
    // (.json: every main-thread task, paint and raster event).
    const trace = profile.endsWith('.json');
    if (trace)
      await page.context().browser().startTracing(page, {
        path: profile,
        categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'blink', 'cc', 'gpu', 'v8.execute', 'toplevel', ...(process.env.RILL_BENCH_BROWSER_TRACE_CATEGORIES || '').split(',').filter(Boolean)],
      });
    else {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.start');
    }
    await sleep(Math.min(5000, seconds * 1000));
    if (trace) await page.context().browser().stopTracing();
    else fs.writeFileSync(profile, JSON.stringify((await cdp.send('Profiler.stop')).profile));
    await sleep(Math.max(0, seconds * 1000 - 5000));
  } else await sleep(seconds * 1000);
  const t1 = await page.evaluate(() => performance.now());
  const c1 = cpuSeconds(serverPid);
  const m1 = await metrics(cdp);
  const appFrames1 = await page.evaluate(() => window.__rill.frames?.() ?? NaN);
  const stamps = counter
    ? await page.evaluate(() => {
        window.__bench.on = false;
        return Array.from(window.__bench.t.subarray(0, window.__bench.n));
      })
    : [];
  // (A page from before the ages were recorded returns the lags alone.)
  const taken = probe ? await page.evaluate(() => window.__rill.latencyTake(true)) : { lags: [], ages: [] };
  const { lags, ages } = Array.isArray(taken) ? { lags: taken, ages: [] } : taken;
  const heap1 = await heapAfterGc(cdp);
  const wall = m1.Timestamp - m0.Timestamp;
  const fps = fpsPerSecond(stamps, t0, t1);
  const gaps = [];
  for (let i = 1; i < stamps.length; i++) gaps.push(stamps[i] - stamps[i - 1]);
  return {
    frames: stamps.length,
    appFps: (1000 * (appFrames1 - appFrames0)) / (t1 - t0),
    fpsMedian: median(fps),
    fpsP5: percentile(fps, 5),
    frameP99: percentile(gaps, 99),
    busy: (100 * (m1.TaskDuration - m0.TaskDuration)) / wall,
    script: (100 * (m1.ScriptDuration - m0.ScriptDuration)) / wall,
    thread: (100 * (m1.ThreadTime - m0.ThreadTime)) / wall,
    browserCpu: (100 * (c1.browser - c0.browser)) / wall,
    byType: Object.fromEntries(Object.keys(c1.byType).map((k) => [k, (100 * (c1.byType[k] - (c0.byType[k] || 0))) / wall])),
    serverCpu: (100 * (c1.server - c0.server)) / wall,
    layoutStyle: (100 * (m1.LayoutDuration - m0.LayoutDuration + m1.RecalcStyleDuration - m0.RecalcStyleDuration)) / wall,
    heap0: heap0 / 1048576,
    heap1: heap1 / 1048576,
    growth: (heap1 - heap0) / 1048576,
    lags,
    ages,
  };
}

// ---- the page --------------------------------------------------------------------------

/** A program that makes the spectrograms through the server's handler relay
 * (spectrogram_feeder.mjs); null if the relay does not show them to the page. */
async function startFeeder(page, http) {
  const proc = spawn(process.execPath, ['--experimental-websocket', '--no-warnings', path.join(HERE, 'spectrogram_feeder.mjs'), http.replace(/^http/, 'ws'), String(SPECS), String(SPEC_HEIGHT), String(SPEC_WIDTH), String(SPEC_RATE)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const stop = async () => {
    if (proc.exitCode === null) {
      proc.stdin.end();
      await Promise.race([new Promise((r) => proc.on('exit', r)), sleep(2000)]);
      if (proc.exitCode === null) proc.kill();
    }
  };
  try {
    await page.waitForFunction(
      (n) => window.__rill.handlerIds().filter((id) => window.__rill.handler(id)?.type === 'spectrogram').length >= n,
      SPECS,
      { timeout: 15000 },
    );
  } catch {
    await stop();
    console.log(`bench browser: the server's handler relay did not show the spectrograms (${out.trim() || 'no output'}); injecting them in the page instead`);
    return null;
  }
  const ids = await page.evaluate(() => window.__rill.handlerIds().filter((id) => window.__rill.handler(id)?.type === 'spectrogram'));
  return { ids, go: () => proc.stdin.write('go\n'), stop, output: () => out };
}

/** Without the relay: two spectrograms fed in the page, one binary frame per
 * column per spectrogram at SPEC_RATE, through the page's message dispatch
 * (window.__rill.feed), as the relay would deliver them. */
async function createInjected(page) {
  await page.evaluate(
    ({ ids, width, height }) => {
      for (const id of ids)
        window.__rill.feed(JSON.stringify({ event: 'handler', id, name: `Spectrum ${id}`, type: 'spectrogram', parameters: { width, height, min: -100, max: 0 } }));
    },
    { ids: INJECT_IDS, width: SPEC_WIDTH, height: SPEC_HEIGHT },
  );
  return INJECT_IDS;
}

async function startSpectrograms(page) {
  await page.evaluate(
    ({ ids, width, height, rate }) => {
      for (const [k, id] of ids.entries())
        window.__rill.feed(
          JSON.stringify({
            event: 'handler',
            id,
            name: `Spectrum ${'AB'[k]}`,
            type: 'spectrogram',
            parameters: { width, height, min: -100, max: 0, delta_freq: 48000 / 512 },
          }),
        );
      // 200 precomputed columns: a tone sweeping up with a harmonic, over noise (dB).
      const PAT = 200;
      const pat = new Float32Array(PAT * height);
      for (let c = 0; c < PAT; c++) {
        const peak = 5 + ((c * 1.3) % (height - 10));
        for (let k = 0; k < height; k++)
          pat[c * height + k] = -90 + 80 * Math.exp(-(((k - peak) / 2) ** 2)) + 50 * Math.exp(-(((k - 2 * peak) / 3) ** 2)) + 8 * Math.random();
      }
      let seq = 0;
      const start = performance.now();
      const g = (window.__spec = { sent: 0, timer: 0 });
      g.timer = setInterval(() => {
        const due = Math.floor(((performance.now() - start) / 1000) * rate);
        for (; g.sent < due; g.sent++) {
          const col = pat.subarray((g.sent % PAT) * height, (g.sent % PAT + 1) * height);
          for (const id of ids) {
            const buf = new ArrayBuffer(32 + height * 4);
            const dv = new DataView(buf);
            dv.setUint8(0, 1); // version
            dv.setUint8(1, 16); // kind: handler data
            dv.setUint8(2, 'f'.charCodeAt(0));
            dv.setUint32(4, id, true);
            dv.setBigUint64(8, BigInt(seq++), true);
            dv.setUint32(24, height, true);
            new Float32Array(buf, 32, height).set(col);
            window.__rill.feed(buf);
          }
        }
      }, 4);
    },
    { ids: INJECT_IDS, width: SPEC_WIDTH, height: SPEC_HEIGHT, rate: SPEC_RATE },
  );
}

/** Everything measured must be on screen: each chart and each spectrogram. */
async function checkVisible(page, names, specIds) {
  return page.evaluate(
    ({ names, ids }) => {
      const H = window.innerHeight, W = window.innerWidth;
      const on = (e) => {
        if (!e) return false;
        const r = e.getBoundingClientRect();
        return r.width > 0 && r.height > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= H && r.right <= W;
      };
      const bad = [];
      for (const n of names) if (!on(document.querySelector(`.chart[data-var="${n}"] canvas`))) bad.push(n);
      for (const id of ids) if (!on(document.querySelector(`.handler-panel[data-handler="${id}"] .spectrogram canvas`))) bad.push(`spectrogram ${id}`);
      return bad;
    },
    { names, ids: specIds },
  );
}

async function drawnState(page, names, specIds) {
  return page.evaluate(
    ({ names, ids }) => ({
      charts: names.map((n) => {
        const c = window.__rill.chart(n);
        return { name: n, updates: c.updates, points: c.x.length, dropped: c.dropped, buffers: c.buffers, cursors: Number.isFinite(c.scope.cursors.dx) ? 1 : 0, repaints: c.scope.repaints, link: window.__rill.linkStats() };
      }),
      specs: ids.map((id) => {
        const h = window.__rill.handler(id);
        // A pixel of the newest column must be painted (not the background).
        const cv = document.querySelector(`.handler-panel[data-handler="${id}"] .spectrogram canvas`);
        const d = cv.getContext('2d').getImageData(cv.width - 1, 0, 1, cv.height).data;
        let painted = 0;
        for (let k = 0; k < d.length; k += 4) if (!(d[k] === 0x20 && d[k + 1] === 0x20 && d[k + 2] === 0x20)) painted++;
        return { id, total: h.drawn.total, painted };
      }),
      protocolErrors: window.__rill.protocolErrors(),
      lastError: window.__rill.lastError(),
    }),
    { names, ids: specIds },
  );
}

/** Open the 8 charts (and set up the workload). */
async function openCharts(page, names, mode) {
  for (const n of names) await page.click(`#vars tr[data-var="${n}"]`);
  if (mode !== 'scope') return;
  await page.evaluate(
    ([ns, settings]) => {
      for (const n of ns) {
        window.__rill.scopeSet(n, settings);
        window.__rill.scopeCursor(n, 0, -0.02);
        window.__rill.scopeCursor(n, 1, 0.02);
      }
    },
    [names, SCOPE],
  );
}

async function oneRun(run, mode) {
  const srv = await startServer('--rate', String(RATE), ...(WEB_ROOT ? ['--web-root', WEB_ROOT] : []));
  const { browser } = await launchBrowser();
  let feeder = null;
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${srv.http}/${QUERY ? `?${QUERY}` : ''}`);
    await page.waitForFunction(() => window.__rill && window.__rill.state() === 'native' && window.__rill.vars().length > 0, null, {
      timeout: 10000,
    });
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    // The page as a user opens it and leaves it: the variables' table,
    // nothing streaming, no frame counter of the bench's.
    await sleep(2000);
    const opened = await measure(page, cdp, srv.pid, OPENED_SECONDS, { counter: false });
    const dense = (await page.evaluate(() => window.__rill.vars())).filter((v) => v.timestampMode === 0).map((v) => v.name);
    if (dense.length < CHANNELS) throw new Error(`the demo has ${dense.length} dense variables, the bench needs ${CHANNELS}`);
    const names = dense.slice(0, CHANNELS);

    // Every panel at once; the spectrogram tabs exist (empty) in the baseline too.
    await page.evaluate(() => window.__rill.showAll(true));
    feeder = await startFeeder(page, srv.http);
    const specIds = feeder ? feeder.ids : await createInjected(page);
    await page.evaluate(() => window.__rill.select('vars')); // a first handler shows its own tab
    // A viewport tall enough for the 8 charts and both spectrograms: with the
    // charts in place, size it to the page.
    for (const n of names) await page.click(`#vars tr[data-var="${n}"]`);
    await page.waitForFunction((ns) => ns.every((n) => (window.__rill.chart(n)?.buffers ?? 0) > 0), names, { timeout: 10000 });
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    await page.setViewportSize({ width: 1400, height: height + 10 });
    // The probe's device clock: the page's estimate now, from the buffers
    // of 8 streams while it keeps up, extrapolated from here on (lags
    // recorded before the loaded run are dropped at its start).
    await sleep(CALIBRATE_MS);
    await page.evaluate(() => window.__rill.latencyProbe());
    for (const n of names) await page.click(`#vars tr[data-var="${n}"]`); // stop: the baseline streams nothing
    await page.waitForFunction(() => window.__rill.streaming().length === 0);
    await sleep(3000); // buffers still in flight drain before the baseline

    const idle = await measure(page, cdp, srv.pid, IDLE_SECONDS);

    await openCharts(page, names, mode);
    if (feeder) feeder.go();
    else await startSpectrograms(page);
    await sleep(WARMUP_MS);
    const hidden = await checkVisible(page, names, specIds);
    if (hidden.length) throw new Error(`not on screen: ${hidden.join(', ')}`);
    if (process.env.RILL_BENCH_BROWSER_SHOT && run === 0) await page.screenshot({ path: process.env.RILL_BENCH_BROWSER_SHOT });
    const before = await drawnState(page, names, specIds);
    const profile = process.env.RILL_BENCH_BROWSER_PROFILE && run === 0 ? process.env.RILL_BENCH_BROWSER_PROFILE : null;
    const load = await measure(page, cdp, srv.pid, SECONDS, { probe: true, profile });
    const after = await drawnState(page, names, specIds);
    if (feeder) await feeder.stop();
    else await page.evaluate(() => clearInterval(window.__spec.timer));
    // The figures only count if everything was drawn during the run. In
    // roll, each chart redraws in (nearly) every frame: the window scrolls;
    // a scope shows a new picture for a buffer that arrived (two in one
    // frame make one picture), at least for half of them, or of the frames
    // when a starved page draws fewer frames than buffers arrive.
    for (const [k, c] of after.charts.entries()) {
      const n = c.updates - before.charts[k].updates;
      const bufs = c.buffers - before.charts[k].buffers;
      if (mode === 'roll' ? !(n >= 0.8 * load.frames - 5) : !(n >= 0.5 * Math.min(bufs, load.frames) && bufs >= 10 * SECONDS))
        throw new Error(`chart ${c.name} was redrawn ${n} times in ${load.frames} frames: ${JSON.stringify(c)}`);
      if (mode === 'scope' && !(c.cursors > 0)) throw new Error(`chart ${c.name}: no cursor readout (${JSON.stringify(c)})`);
    }
    for (const [k, s] of after.specs.entries())
      if (!(s.total > before.specs[k].total + SECONDS && s.painted > SPEC_HEIGHT / 2))
        throw new Error(`spectrogram ${s.id} was not drawn: ${JSON.stringify(s)}`);
    if (after.protocolErrors) throw new Error(`protocol errors in the page: ${after.lastError}`);
    if (errors.length) throw new Error(`console errors: ${errors.join('; ')}`);
    const dropped = after.charts.reduce((n, c, k) => n + c.dropped - before.charts[k].dropped, 0);
    const buffers = after.charts.reduce((n, c, k) => n + c.buffers - before.charts[k].buffers, 0);
    // A chart with no points at the end: the page fell more than its window behind.
    const empty = after.charts.filter((c) => c.points === 0).map((c) => c.name);
    const columns = after.specs.reduce((n, s, k) => n + s.total - before.specs[k].total, 0);
    return { opened, idle, load, dropped, buffers, empty, columns, viewport: `1400x${height + 10}`, names, relay: !!feeder, before, after };
  } finally {
    await feeder?.stop();
    await browser.close();
    await srv.stop();
  }
}

// ---- report ------------------------------------------------------------------------------

function row(r) {
  const base = r.baseline_name !== undefined ? `${r.baseline_name} ${Number(r.baseline_median.toPrecision(3))}` : '-';
  const ratio = r.baseline_name !== undefined && Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)}x` : '-';
  const met = r.met === undefined ? '-' : r.met ? 'yes' : 'NO';
  const med = Number(r.median.toPrecision(4));
  console.log(`${r.name.padEnd(44)} ${String(med).padStart(12)} ${r.unit.padEnd(6)}  ${base.padEnd(30)} ${ratio.padStart(8)}  ${(r.target ?? '-').padEnd(16)} ${met}`);
  const path = process.env.RILL_BENCH_JSON;
  if (!path) return;
  const j = { suite: SUITE, name: r.name, median: Number(r.median.toPrecision(6)), unit: r.unit };
  if (r.baseline_name !== undefined) {
    Object.assign(j, { baseline: r.baseline_name, baseline_median: Number(r.baseline_median.toPrecision(6)) });
    if (Number.isFinite(r.ratio)) j.ratio = Number(r.ratio.toFixed(4));
  }
  if (r.target !== undefined) Object.assign(j, { target: r.target, met: !!r.met });
  fs.appendFileSync(path, `${JSON.stringify(j)}\n`);
}

/** Each chart's pictures (or canvas repaints) per second over the run,
 * the median over charts. */
function redrawRate(r, key = 'updates') {
  return median(r.after.charts.map((c, k) => (c[key] - r.before.charts[k][key]) / SECONDS));
}

const byMode = {};
try {
  for (const mode of MODES) {
    byMode[mode] = [];
    for (let k = 0; k < RUNS; k++) byMode[mode].push(await oneRun(k, mode));
  }
} catch (e) {
  console.error(`bench browser: ${e.stack || e}`);
  process.exit(1);
}
const loadavg = os.loadavg().map((x) => x.toFixed(2)).join(' ');
const first = byMode[MODES[0]][0];
console.log(`\n== browser: dashboard in headless Chromium, ${CHANNELS} channels at ${RATE / 1000} kHz + 2 spectrograms ==`);
console.log(
  `${SECONDS} s loaded, ${IDLE_SECONDS} s idle baseline, ${RUNS} run(s) per workload, medians over runs; viewport ${first.viewport}, all on screen; ` +
    `channels ${first.names.join(' ')}; spectrograms: ${SPEC_HEIGHT} bins at ${SPEC_RATE} columns/s each, one binary frame per column, ` +
    (Object.values(byMode).flat().every((r) => r.relay)
      ? "sent by a program through the server's handler relay"
      : 'fed through the page\'s message dispatch in some runs (the relay did not show them)') +
    `; page options: ${QUERY || 'none'}; workloads: ${MODES.join(', ')} (scope: trigger auto, ${SCOPE.timeDiv * 1000} ms/div, cursors; roll: 2 s windows on the device clock); load average ${loadavg} (2 cores, shared)`,
);
const summary = [];
for (const mode of MODES) {
  const runs = byMode[mode];
  const SUITE_NAME = mode === 'scope' ? '' : ` [${mode}]`;
  const med = (f) => median(runs.map(f));
  const lags = runs.flatMap((r) => r.load.lags);
  console.log(`\n-- workload: ${mode} --`);
  console.log(`${'benchmark'.padEnd(44)} ${'median'.padStart(12)} ${'unit'.padEnd(6)}  ${'baseline (same run)'.padEnd(30)} ${'ratio'.padStart(8)}  ${'target'.padEnd(16)} met`);
  const R = (r) => row({ ...r, name: r.name + SUITE_NAME });
  const fpsMed = med((r) => r.load.fpsMedian), idleFps = med((r) => r.idle.fpsMedian);
  const target = mode === 'scope';
  R({ name: 'fps, median of per-second counts', median: fpsMed, unit: 'fps', baseline_name: 'idle page', baseline_median: idleFps, ratio: fpsMed / idleFps });
  const p5 = med((r) => r.load.fpsP5);
  R({ name: 'fps, 5th percentile of per-second counts', median: p5, unit: 'fps', baseline_name: 'idle page', baseline_median: med((r) => r.idle.fpsP5), ratio: p5 / med((r) => r.idle.fpsP5), ...(target ? { target: '>= 55 fps', met: p5 >= 55 } : {}) });
  R({ name: 'frame interval p99', median: med((r) => r.load.frameP99), unit: 'ms', baseline_name: 'idle page', baseline_median: med((r) => r.idle.frameP99), ratio: med((r) => r.load.frameP99) / med((r) => r.idle.frameP99) });
  const busy = med((r) => r.load.busy), idleBusy = med((r) => r.idle.busy);
  R({ name: 'main thread busy (CDP TaskDuration)', median: busy, unit: '%', baseline_name: 'idle page', baseline_median: idleBusy, ratio: busy / idleBusy });
  R({ name: 'main thread in JS (CDP ScriptDuration)', median: med((r) => r.load.script), unit: '%', baseline_name: 'idle page', baseline_median: med((r) => r.idle.script), ratio: med((r) => r.load.script) / med((r) => r.idle.script) });
  const cpuRow = (name, f, extra = {}) => R({ name, median: med((r) => f(r.load)), unit: '%core', baseline_name: 'idle page', baseline_median: med((r) => f(r.idle)), ratio: med((r) => f(r.load)) / med((r) => f(r.idle)), ...extra });
  cpuRow('main thread CPU (CDP ThreadTime)', (m) => m.thread);
  const cpu = med((r) => r.load.browserCpu);
  cpuRow('Chromium CPU, all its processes', (m) => m.browserCpu, target ? { target: '<= 60 %core', met: cpu <= 60 } : {});
  cpuRow('rill serve CPU', (m) => m.serverCpu);
  R({ name: 'page left open, nothing streaming: Chromium CPU', median: med((r) => r.opened.browserCpu), unit: '%core', baseline_name: 'idle page', baseline_median: med((r) => r.idle.browserCpu), ratio: med((r) => r.opened.browserCpu) / med((r) => r.idle.browserCpu) });
  R({ name: "page left open: the page's animation frames", median: med((r) => r.opened.appFps), unit: '/s' });
  R({ name: 'chart pictures per second (median chart)', median: med((r) => redrawRate(r)), unit: '/s' });
  R({ name: 'chart canvas repaints per second (median)', median: med((r) => redrawRate(r, 'repaints')), unit: '/s' });
  R({ name: 'page events for the data (batches) per s', median: med((r) => (r.after.charts[0].link.batches - r.before.charts[0].link.batches) / SECONDS), unit: '/s', baseline_name: 'messages', baseline_median: med((r) => (r.after.charts[0].link.messages - r.before.charts[0].link.messages) / SECONDS), ratio: NaN });
  R({ name: 'JS heap after GC, start of run', median: med((r) => r.load.heap0), unit: 'MiB' });
  const growth = med((r) => r.load.growth);
  const maxGrowth = Math.max(...runs.map((r) => r.load.growth));
  R({ name: `JS heap growth over ${SECONDS} s (after GC)`, median: growth, unit: 'MiB', baseline_name: 'idle page', baseline_median: med((r) => r.idle.growth), ratio: NaN, target: '<= 1 MiB, every run', met: maxGrowth <= 1 });
  R({ name: 'delay server -> drawn, p50 (every buffer)', median: median(lags), unit: 'ms' });
  R({ name: 'delay server -> drawn, p95', median: percentile(lags, 95), unit: 'ms' });
  const p99 = percentile(lags, 99);
  // No buffer is drawn before it left the server: a minimum below the
  // method's error (about -2 ms, see the header) means the probe's clock was
  // wrong, and so are the delay rows; the target then counts as not met.
  const minLag = lags.reduce((a, x) => Math.min(a, x), Infinity);
  const clockOk = minLag >= -CLOCK_ERROR_MS;
  if (!clockOk) console.log(`delay rows INVALID: a buffer was drawn ${(-minLag).toFixed(1)} ms before it was made (the probe's device clock is off)`);
  R({ name: 'delay server -> drawn, p99', median: p99, unit: 'ms', ...(target ? { target: '<= 25 ms', met: clockOk && p99 <= 25 } : {}) });
  R({ name: 'delay server -> drawn, min (clock check)', median: minLag, unit: 'ms', target: `>= -${CLOCK_ERROR_MS} ms`, met: clockOk });
  const ages = runs.flatMap((r) => r.load.ages);
  R({ name: "a buffer's oldest value when drawn, p50", median: median(ages), unit: 'ms' });
  R({ name: "a buffer's oldest value when drawn, p99", median: percentile(ages, 99), unit: 'ms' });
  for (const [k, r] of runs.entries())
    if (r.empty.length) console.log(`run ${k + 1}: charts empty at the end (the page was more than their window behind): ${r.empty.join(' ')}`);
  R({ name: `spectrogram columns received (~${Math.round(SPECS * SPEC_RATE * SECONDS)} sent)`, median: med((r) => r.columns), unit: 'cols' });
  R({ name: `buffers dropped for the page (${Math.round(med((r) => r.buffers))} drawn)`, median: med((r) => r.dropped), unit: 'bufs' });
  const types = [...new Set(runs.flatMap((r) => Object.keys(r.load.byType)))].sort();
  const fmt = (f) => types.map((t) => `${t} ${med((r) => f(r)[t] ?? 0).toFixed(1)}`).join(', ');
  console.log(`Chromium CPU by process type, % of a core: loaded: ${fmt((r) => r.load.byType)}; idle: ${fmt((r) => r.idle.byType)}`);
  summary.push(
    `${mode}: fps p5 ${p5.toFixed(1)} (idle ${med((r) => r.idle.fpsP5).toFixed(1)}), interval p99 ${med((r) => r.load.frameP99).toFixed(1)} ms (idle ${med((r) => r.idle.frameP99).toFixed(1)}), ` +
      `main thread busy ${busy.toFixed(0)}% (idle ${idleBusy.toFixed(0)}%), Chromium CPU ${cpu.toFixed(0)}% of a core (idle ${med((r) => r.idle.browserCpu).toFixed(0)}%), ` +
      `delay p50 ${median(lags).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms${clockOk ? '' : ' (INVALID: clock check failed)'}`,
  );
}
console.log('\nsummary (targets for scope: fps p5 >= 55, Chromium <= 60% of a core, delay p99 <= 25 ms):');
for (const line of summary) console.log(`  ${line}`);
