// The charts are oscilloscopes: checked by what they draw, in real Chromium
// against a real `rill serve --rate 48000` (the demo's sine is 440 Hz,
// amplitude 0.5; `frame` holds its own tick; `noise` is white).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, openPage, sleep, startServer, teardown, waitLive } from './lib.mjs';

const RATE = 48000;
let srv, b, page, errors;
before(async () => {
  srv = await startServer('--rate', String(RATE));
  b = await launchBrowser();
  ({ page, errors } = await openPage(b.browser, `${srv.http}/`));
  await waitLive(page);
});
after(() =>
  teardown(
    () => assert.deepEqual(errors, [], 'no console errors in the whole run'),
    () => b?.close(),
    srv,
  ),
);

const snap = (name) => page.evaluate((n) => window.__rill.chart(n), name);
const set = (name, s) => page.evaluate(([n, x]) => window.__rill.scopeSet(n, x), [name, s]);
const open = (names, s) => page.evaluate(([n, x]) => window.__rill.openChart(n, x), [names, s]);

/** Wait until the chart has drawn `more` more frames than `from`. */
async function drawn(name, from, more = 1) {
  await page.waitForFunction(([n, u]) => (window.__rill.chart(n)?.updates ?? 0) >= u, [name, from + more], { timeout: 20000 });
  return snap(name);
}

/** Wait until the chart shows a triggered sweep. A change of the trigger
 * drops the sweep shown, and the frames drawn until the scanner finds an
 * edge with the values it needs after it have none. */
async function triggered(name) {
  await page.waitForFunction((n) => Number.isFinite(window.__rill.chart(n)?.scope?.sweep?.trigger ?? NaN), name, { timeout: 20000 });
  return snap(name);
}

/** The trace as drawn: for each pixel column of the plot canvas (painted in
 * a worker or on the page), the mean row of the trace's pixels (NaN where
 * the column is empty). */
async function columns(name) {
  const { width: w, height: h, rgba } = await page.evaluate((n) => window.__rill.scopePixels(n), name);
  const d = Buffer.from(rgba, "base64");
  const out = [];
  for (let x = 0; x < w; x++) {
    let sum = 0,
      cnt = 0;
    for (let y = 0; y < h; y++) {
      const k = 4 * (y * w + x);
      // The first trace's blue (#1f77b4), not the markers or the grid.
      if (d[k + 2] > 120 && d[k] < 120 && d[k + 1] < 200) {
        sum += y;
        cnt++;
      }
    }
    out.push(cnt ? sum / cnt : NaN);
  }
  return out;
}

/** Linear interpolation of the points (x ascending) at x. */
function at(xs, ys, x) {
  let i = xs.findIndex((v) => v >= x);
  if (i <= 0) return NaN;
  return ys[i - 1] + ((ys[i] - ys[i - 1]) * (x - xs[i - 1])) / (xs[i] - xs[i - 1]);
}

describe('the scope', () => {
  it('a triggered 440 Hz sine stands still across frames (and scrolls without the trigger)', async () => {
    // Where OffscreenCanvas is, the plot canvases are painted in a worker.
    assert.equal(await page.evaluate(() => window.__rill.painter()), 'worker');
    await page.click('#vars tr[data-var="sine"]');
    await set('sine', { timeDiv: 0.001, trigger: { mode: 'normal', slope: 'rising', level: 0, position: 0.5 } });
    let s = await triggered('sine');
    const pictures = [];
    const triggers = new Set();
    for (let k = 0; k < 8; k++) {
      s = await drawn('sine', s.updates);
      const sc = s.scope;
      assert.equal(sc.mode, 'time');
      assert.ok(Number.isFinite(sc.sweep.trigger), 'a triggered sweep');
      triggers.add(sc.sweep.trigger);
      // Points relative to the trigger, in seconds.
      const rel = s.x.map((x) => x - sc.reference / RATE);
      const curve = [];
      for (let t = -0.0045; t <= 0.0045; t += 0.00025) curve.push(at(rel, s.y, t));
      pictures.push({ curve, cols: await columns('sine') });
      // At the trigger the sine is at the level and rising.
      assert.ok(Math.abs(at(rel, s.y, 0)) < 0.01, `value at the trigger ${at(rel, s.y, 0)}`);
      assert.ok(at(rel, s.y, 0.0002) > 0.1);
      assert.ok(s.scope.exact, '480 samples over the plot: drawn exactly');
    }
    assert.ok(triggers.size >= 6, `sweeps of new data: ${triggers.size} different triggers`);
    // The same curve every time: sample values within 0.01 of amplitude 0.5 ...
    for (const p of pictures.slice(1))
      for (let i = 0; i < p.curve.length; i++) assert.ok(Math.abs(p.curve[i] - pictures[0].curve[i]) < 0.01, `point ${i}: ${p.curve[i]} vs ${pictures[0].curve[i]}`);
    // ... and the same pixels: each column's trace within a pixel.
    const diffs = (a, bb) => a.map((v, i) => Math.abs(v - bb[i])).filter(Number.isFinite);
    for (const p of pictures.slice(1)) {
      const d = diffs(p.cols, pictures[0].cols);
      assert.ok(d.length > 500, `${d.length} columns drawn`);
      assert.ok(Math.max(...d) <= 1.5, `largest move between frames: ${Math.max(...d)} px`);
    }
    // Without the trigger the same view moves: the check above can fail.
    await set('sine', { trigger: { mode: 'off' } });
    const r1 = await drawn('sine', (await snap('sine')).updates, 2);
    const c1 = await columns('sine');
    await drawn('sine', r1.updates, 3);
    const c2 = await columns('sine');
    assert.ok(Math.max(...diffs(c1, c2)) > 10, 'a roll view of the sine moves');
  });

  it('cursors read Δt, Δvalue and 1/Δt; clicked on the plot (A) and shift-clicked (B)', async () => {
    await set('sine', { timeDiv: 0.001, trigger: { mode: 'normal', position: 0.5 } });
    await drawn('sine', (await triggered('sine')).updates, 2);
    await page.evaluate(() => window.__rill.scopePause('sine'));
    const box = await page.locator('.chart[data-var="sine"] canvas.scope-fg').boundingBox();
    const s = await snap('sine');
    const [v0, v1] = s.scope.view;
    const px = (t) => box.x + ((t - v0) / (v1 - v0)) * box.width;
    // A at the trigger, B one period (1/440 s) later.
    await page.mouse.click(px(0), box.y + box.height / 2);
    await page.keyboard.down('Shift');
    await page.mouse.click(px(1 / 440), box.y + box.height / 2);
    await page.keyboard.up('Shift');
    const c = (await snap('sine')).scope.cursors;
    const pxSeconds = (v1 - v0) / box.width;
    assert.ok(Math.abs(c.a.x) <= pxSeconds, `A at ${c.a.x} s`);
    assert.ok(Math.abs(c.dx - 1 / 440) <= 2 * pxSeconds, `Δt ${c.dx}`);
    assert.ok(Math.abs(c.inv - 440) < 440 * 0.03, `1/Δt ${c.inv}`);
    // A period apart on a sine: the same value, within a pixel's worth of slope.
    assert.ok(Math.abs(c.dy) < 0.5 * 2 * Math.PI * 440 * 2 * pxSeconds, `Δv ${c.dy}`);
    // The readout line is written in the chart's next frame.
    await page.waitForFunction(() => (window.__rill.scopeReadout('sine') ?? '').includes('Δt'), null, { timeout: 20000 });
    const text = await page.evaluate(() => window.__rill.scopeReadout('sine'));
    assert.match(text, /A: .*B: .*Δt .* ms.*Δv .*1\/Δt 4[34]\d(\.\d+)? Hz/);
    // Values to the axis' resolution (a ±0.5 sine: four decimals), with no
    // exponent even at the zero crossing, and no "-0".
    assert.match(text, /A: [^,]+, -?\d\.\d{4} {3}B: [^,]+, -?\d\.\d{4} .*Δv -?\d\.\d{4} /);
    assert.doesNotMatch(text, /\de[-+]?\d|-0\.0000\b/);
    await page.click('.chart[data-var="sine"] .scope-cursors-clear');
    await page.click('.chart[data-var="sine"] .scope-run'); // Run again
    assert.equal((await snap('sine')).scope.paused, false);
  });

  it('the spectrum of the sine peaks at 440 Hz within one bin, at -6 dB', async () => {
    await set('sine', { mode: 'fft', fft: { size: 4096, window: 'hann', db: true, logFreq: false } });
    const s = await drawn('sine', (await snap('sine')).updates, 3);
    const f = s.scope.fft;
    assert.equal(f.binHz, RATE / 4096);
    assert.ok(Math.abs(f.peakHz - 440) <= f.binHz, `peak at ${f.peakHz} Hz`);
    assert.ok(Math.abs(f.peakDb - -6.02) < 1.5, `peak ${f.peakDb} dB`);
    // Drawn there: the highest point of the trace is in the column of 440 Hz.
    const cols = await columns('sine');
    let top = 0;
    cols.forEach((y, x) => {
      if (Number.isFinite(y) && !(cols[top] <= y)) top = x;
    });
    const width = cols.length;
    const [f0, f1] = s.scope.view;
    const hz = f0 + ((top + 0.5) / width) * (f1 - f0);
    assert.ok(Math.abs(hz - 440) <= f.binHz + (f1 - f0) / width, `drawn peak at ${hz} Hz`);
    // The readout says so, and the controls show the spectrum's.
    assert.match(await page.evaluate(() => window.__rill.scopeReadout('sine')), /peak 4[34]\d(\.\d)? Hz -(5\.[5-9]|6\.[0-5]) dB/);
    assert.equal(await page.inputValue('.chart[data-var="sine"] .scope-fft-size'), '4096');
    await set('sine', { mode: 'time' });
  });

  it('min/max decimation keeps every peak of 48 kHz noise over a second; stopped and zoomed, the samples themselves', async () => {
    await page.click('#vars tr[data-var="frame"]');
    await page.click('#vars tr[data-var="noise"]');
    await set('noise', { timeDiv: 0.1 }); // one second: 48000 values over the plot
    let s = await drawn('noise', 0, 3);
    // The window (one second) is filled: the values held cover 90% of it
    // (at load 30 a paused window was seen half empty when the test only
    // counted the values received).
    await page.waitForFunction(
      (rate) => {
        const c = window.__rill.chart('noise');
        const a = c.scope.reference + c.scope.view[0] * rate,
          b = c.scope.reference + c.scope.view[1] * rate;
        return c.received > 60000 && window.__rill.scopeRaw('noise', a, b).count >= 0.9 * (b - a);
      },
      RATE,
      { timeout: 20000 },
    );
    await page.evaluate(() => window.__rill.scopePause('noise'));
    s = await drawn('noise', s.updates);
    const sc = s.scope;
    assert.ok(!sc.exact && s.x.length <= 2 * (sc.plotWidth + 2), `${s.x.length} points for ${sc.plotWidth} px`);
    const t0 = sc.reference + sc.view[0] * RATE,
      t1 = sc.reference + sc.view[1] * RATE;
    // Buckets lie on a grid of (t1 - t0) / width ticks: between any two of
    // their edges the points drawn have exactly the raw values' extremes.
    // Segments of 7 buckets across the plot; one that holds fewer values
    // than its ticks (a buffer the server dropped for a starved page, on a
    // loaded machine) is passed over for the next position, and 12 whole
    // segments must be checked.
    const w = (t1 - t0) / sc.plotWidth;
    const step = Math.floor(sc.plotWidth / 24);
    let checked = 0;
    const partial = [];
    for (let k = 0; checked < 12 && (k + 1) * step + 9 < sc.plotWidth; k++) {
      const a = (Math.floor(t0 / w) + 2 + k * step) * w;
      const e = a + 7 * w;
      const raw = await page.evaluate(([x, y]) => window.__rill.scopeRaw('noise', x, y - 1e-6), [a, e]);
      if (raw.count < Math.floor(e - a) - 1) {
        partial.push(raw.count);
        continue;
      }
      let mn = Infinity,
        mx = -Infinity;
      s.x.forEach((x, i) => {
        const t = x * RATE;
        if (t >= a && t < e) (mn = Math.min(mn, s.y[i])), (mx = Math.max(mx, s.y[i]));
      });
      assert.ok(raw.count > 200, `segment ${k}: ${raw.count} values`);
      assert.equal(mx, raw.max, `segment ${k}: largest drawn ${mx}, of the values ${raw.max}`);
      assert.equal(mn, raw.min, `segment ${k}`);
      checked++;
    }
    assert.equal(checked, 12, `whole segments checked (segments with a gap: ${partial.join(' ')} values)`);
    const all = await page.evaluate(([x, y]) => window.__rill.scopeRaw('noise', x, y), [t0, t1]);
    assert.equal(Math.max(...s.y), all.max);
    assert.equal(Math.min(...s.y), all.min);

    // The frame counter (value == tick), stopped, zoomed in with the wheel
    // around the middle: the points are the samples, one per tick.
    await set('frame', { timeDiv: 0.1 });
    await drawn('frame', 0, 3);
    await page.click('.chart[data-var="frame"] .scope-run');
    const box = await page.locator('.chart[data-var="frame"] canvas.scope-fg').boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    for (let k = 0; k < 40; k++) await page.mouse.wheel(0, -100);
    await page.waitForFunction(() => window.__rill.chart('frame').scope.exact, null, { timeout: 20000 });
    const z = await snap('frame');
    const span = (z.scope.view[1] - z.scope.view[0]) * RATE;
    assert.ok(span < 200, `zoomed to ${span} samples`);
    assert.ok(z.x.length >= Math.floor(span) && z.x.length <= Math.ceil(span) + 1, `${z.x.length} points for ${span} ticks`);
    for (let i = 0; i < z.x.length; i++) {
      assert.equal(z.y[i], Math.round(z.x[i] * RATE), `point ${i} is the sample at its tick`);
      if (i) assert.equal(Math.round((z.x[i] - z.x[i - 1]) * RATE), 1, 'consecutive ticks');
    }
    // Stopped: new values arrive but the picture stays; dragging pans it.
    const before = z.scope.view;
    const u = z.updates;
    await sleep(300);
    assert.equal((await snap('frame')).updates, u, 'no redraw while stopped');
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 100, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    const panned = (await drawn('frame', u)).scope.view;
    assert.ok(panned[0] < before[0] && Math.abs(panned[1] - panned[0] - (before[1] - before[0])) < 1e-9, `panned from ${before} to ${panned}`);
    await page.dblclick('.chart[data-var="frame"] canvas.scope-fg');
    await page.click('.chart[data-var="frame"] .scope-run');
    await page.click('#vars tr[data-var="frame"]');
    await page.click('#vars tr[data-var="noise"]');
  });

  it('single mode takes one sweep and stops; several variables overlay one chart; X-Y plots one against the other', async () => {
    await set('sine', { timeDiv: 0.001, trigger: { mode: 'single', position: 0.25 } });
    await page.waitForFunction(() => window.__rill.chart('sine').scope.paused, null, { timeout: 20000 });
    const s1 = await snap('sine');
    assert.ok(Number.isFinite(s1.scope.sweep.trigger));
    assert.equal(await page.textContent('.chart[data-var="sine"] .scope-run'), 'Run');
    await sleep(300);
    assert.equal((await snap('sine')).scope.sweep.trigger, s1.scope.sweep.trigger, 'stays on its sweep');
    await set('sine', { trigger: { mode: 'off' } });

    // mic0 and mic1 (mic1 is mic0 delayed) on one chart, one watch each.
    assert.equal(await open(['mic0', 'mic1'], { timeDiv: 0.005 }), true);
    const m = await drawn('mic0', 0, 3);
    assert.deepEqual(m.scope.traces.map((t) => t.name), ['mic0', 'mic1']);
    assert.ok(m.scope.traces.every((t) => t.x.length > 100), 'both drawn');
    assert.deepEqual((await page.evaluate(() => window.__rill.streaming())).sort(), ['mic0', 'mic1', 'sine']);
    // X-Y pairs the values of the same tick: frame_d against frame (both
    // are the tick) lies exactly on y = x.
    assert.equal(await open(['frame', 'frame_d'], { mode: 'xy', timeDiv: 0.01 }), true);
    await page.waitForFunction(() => window.__rill.chart('frame').scope.traces[0].x.length > 4700, null, { timeout: 20000 });
    const t = (await snap('frame')).scope.traces[0];
    for (let i = 0; i < t.x.length; i++) assert.equal(t.y[i], t.x[i], `point ${i}`);
    // Every tick of the time view's window (100 ms), once.
    assert.ok(t.x.length <= 4801 && t.x[t.x.length - 1] - t.x[0] === t.x.length - 1, `${t.x.length} points from ${t.x[0]}`);
    await page.click('#vars tr[data-var="frame"]');
    // A trace removed from the chart; then the chart closed: no watch left.
    await page.click('.chart[data-var="mic0"] .trace-chip[data-trace="mic1"] .trace-remove');
    assert.deepEqual((await page.evaluate(() => window.__rill.streaming())).sort(), ['mic0', 'sine']);
    await page.click('#vars tr[data-var="mic0"]');
    assert.deepEqual(await page.evaluate(() => window.__rill.streaming()), ['sine']);
  });
});
