// Data handler tabs in real Chromium, fed with recorded handler messages
// (the server's relay of messages from user programs comes later; these
// tests then only need to send the same messages through it). Each test
// checks what was drawn: the plotted data and pixels of the canvas.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, openPage, sleep, startServer, teardown, waitLive } from './lib.mjs';
import { create, data, feed, handlerFrame, remove } from './messages.mjs';

let srv, b, page, errors;
before(async () => {
  srv = await startServer();
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

async function show(id) {
  await page.click(`.handler-tab[data-handler="${id}"]`);
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  return page.evaluate((i) => window.__rill.handler(i), id);
}

/** RGBA of canvas pixel (x, y) in the panel of handler id. */
async function pixel(id, x, y, selector = 'canvas') {
  return page.evaluate(
    ([i, px, py, sel]) => {
      const c = document.querySelector(`.handler-panel[data-handler="${i}"] ${sel}`);
      return Array.from(c.getContext('2d').getImageData(px, py, 1, 1).data);
    },
    [id, x, y, selector],
  );
}

/** How many pixels of the handler's canvas are close to an RGB colour. */
async function countColor(id, rgb, selector = 'canvas', tol = 40) {
  return page.evaluate(
    ([i, c, sel, t]) => {
      let n = 0;
      for (const cv of document.querySelectorAll(`.handler-panel[data-handler="${i}"] ${sel}`)) {
        const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
        for (let k = 0; k < d.length; k += 4)
          if (Math.abs(d[k] - c[0]) < t && Math.abs(d[k + 1] - c[1]) < t && Math.abs(d[k + 2] - c[2]) < t && d[k + 3] > 200) n++;
      }
      return n;
    },
    [id, rgb, selector, tol],
  );
}

const near = (a, b, tol = 3) => a.slice(0, 3).every((v, k) => Math.abs(v - b[k]) <= tol);

describe('data handler tabs', () => {
  it('line, area, bar and scatter draw the data sent, with add and replace', async () => {
    const series = [{ name: 'left', color: '#ff0000' }, { name: 'right', color: '#0000ff' }];
    await feed(page, [
      create(1, 'Line', 'base:graph:line', { series, xName: 'time', min: -1, max: 1 }),
      create(2, 'Area', 'area', { series }),
      create(3, 'Histogram', 'bar', { series: [{ name: 'count', color: '#00aa00' }] }),
      create(4, 'Scatter', 'base:graph:plot', { series }),
      data(1, { add: [{ x: [0, 1, 2], y: [0.5, -0.5, 0.25] }, { x: [1, 2], y: [0.1, 0.2] }] }),
      data(1, { add: [{ x: [3], y: [0] }] }),
      data(2, { add: [{ x: [0, 1], y: [1, 2] }] }),
      data(2, { replace: [{ x: [5, 6], y: [3, 4] }] }),
      data(3, { add: [{ x: [0, 1, 2, 3], y: [4, 8, 2, 1] }] }),
      handlerFrame({ handler: 4, arg: 1, values: [0, 0, 1, 1, 2, 4] }),
    ]);
    assert.deepEqual(await page.$$eval('.handler-tab', (t) => t.map((e) => e.textContent)), ['Line', 'Area', 'Histogram', 'Scatter']);
    const line = await show(1);
    assert.deepEqual(line.drawn.plotted, [[0, 1, 2, 3], [0.5, -0.5, 0.25, 0], [null, 0.1, 0.2, null]]);
    assert.ok((await countColor(1, [255, 0, 0])) > 50, 'the red series is drawn');
    assert.ok((await countColor(1, [0, 0, 255])) > 20, 'the blue series is drawn');
    const area = await show(2);
    assert.deepEqual(area.drawn.plotted, [[5, 6], [3, 4], [null, null]]);
    const bar = await show(3);
    assert.deepEqual(bar.drawn.plotted, [[0, 1, 2, 3], [4, 8, 2, 1]]);
    assert.ok((await countColor(3, [0, 170, 0], 'canvas', 60)) > 500, 'the bars are filled');
    const sc = await show(4);
    assert.deepEqual(sc.drawn.series[1], { name: 'right', color: '#0000ff', x: [0, 1, 2], y: [0, 1, 4] });
    assert.ok((await countColor(4, [0, 0, 255])) > 10, 'the points are drawn');
  });

  it('polar line and area draw radii at their angles', async () => {
    await feed(page, [
      create(10, 'Direction', 'base:polar:line', { series: ['doa'], numPoints: 4, rmax: 1, title: 'DOA' }),
      create(11, 'Pattern', 'polar-area', { series: ['gain'], numPoints: 4, rmax: 2 }),
      data(10, [{ replace: [1, 1, 1, 1, 1] }]),
      handlerFrame({ handler: 11, arg: 0, values: [2, 2, 2, 2, 2] }),
    ]);
    const p = await show(10);
    assert.deepEqual(p.drawn.radii, [[1, 1, 1, 1, 1]]);
    // A square through (c + R, c) and (c, c - R): its edge's midpoint is blue.
    const c = 175, R = 145;
    assert.ok(near(await pixel(10, Math.round(c + R / 2), Math.round(c - R / 2)), [0x1f, 0x77, 0xb4], 60), 'the curve passes there');
    const a = await show(11);
    assert.deepEqual(a.drawn.radii, [[2, 2, 2, 2, 2]]);
    // The area is filled: a point inside the square is tinted blue.
    const inside = await pixel(11, c + 30, c - 30);
    assert.ok(inside[2] > inside[0] + 40, `filled: ${inside}`);
  });

  it('a heat map draws rows as given with the blue-to-red ramp', async () => {
    // rill's opaque ramp from min to max (opt-in "range"; EasyDSP's look below).
    await feed(page, [create(20, 'Heat', 'base:heatmap', { range: true, min: 0, max: 1 }), data(20, [[0, 0, 1], [1, 0.5, 0]])]);
    const h = await show(20);
    assert.deepEqual([h.drawn.rows, h.drawn.cols], [2, 3]);
    assert.deepEqual((await pixel(20, 0, 0)).slice(0, 3), [0, 0, 255]); // 0: blue
    assert.deepEqual((await pixel(20, 2, 0)).slice(0, 3), [255, 0, 0]); // row 0, column 2: red
    assert.deepEqual((await pixel(20, 0, 1)).slice(0, 3), [255, 0, 0]); // row 1, column 0
    assert.ok(near(await pixel(20, 1, 1), [0, 255, 0], 5)); // 0.5: lime
    // Binary: a new image replaces it.
    await feed(page, [handlerFrame({ handler: 20, arg: 2, values: [1, 1, 1, 1] })]);
    const h2 = await show(20);
    assert.deepEqual([h2.drawn.rows, h2.drawn.cols], [2, 2]);
    assert.deepEqual((await pixel(20, 1, 1)).slice(0, 3), [255, 0, 0]);
    // EasyDSP's defaults: max 1 red and opaque, 0 blue at opacity min = 0.05.
    await feed(page, [create(21, 'Heat E', 'base:heatmap', {}), data(21, [[0, 1]])]);
    await show(21);
    assert.deepEqual(await pixel(21, 1, 0), [255, 0, 0, 255]);
    assert.deepEqual(await pixel(21, 0, 0), [0, 0, 255, 13]);
    // 800 px wide by default: in a phone-wide window it shrinks to fit,
    // its aspect kept, and the page does not scroll sideways.
    await feed(page, [data(21, Array.from({ length: 20 }, () => Array(40).fill(0.5)))]);
    await page.setViewportSize({ width: 360, height: 800 });
    try {
      await show(21);
      const fit = await page.evaluate(() => {
        const r = document.querySelector('.handler-panel[data-handler="21"] canvas').getBoundingClientRect();
        return { right: r.right, w: r.width, h: r.height, scroll: document.documentElement.scrollWidth, inner: window.innerWidth };
      });
      assert.ok(fit.scroll <= fit.inner && fit.right <= fit.inner, JSON.stringify(fit));
      assert.ok(Math.abs(fit.w / fit.h - 2) < 0.05 && fit.w > 300, JSON.stringify(fit));
    } finally {
      await page.setViewportSize({ width: 1400, height: 900 });
    }
  });

  it('two spectrograms on one page scroll their own columns in', async () => {
    await feed(page, [
      create(30, 'Spectrum A', 'base:spectrogram', { width: 8, height: 4, min: 0, max: 1, delta_freq: 1000 }),
      create(31, 'Spectrum B', 'spectrogram', { width: 8, height: 4, min: 0, max: 1 }),
      data(30, [0, 0, 0, 1]), // one JSON column: only the top bin is hot
      handlerFrame({ handler: 30, values: [1, 0, 0, 0, 1, 0, 0, 0] }), // two binary columns: the lowest bin
      handlerFrame({ handler: 31, values: [0, 0, 0, 0] }),
    ]);
    const s = await show(30);
    assert.equal(s.drawn.total, 3);
    assert.deepEqual(s.drawn.columns, [[0, 0, 0, 1], [1, 0, 0, 0], [1, 0, 0, 0]]);
    const YELLOW = [253, 231, 37], PURPLE = [68, 1, 84];
    // Newest column on the right, lowest frequency at the bottom.
    assert.ok(near(await pixel(30, 7, 3, '.spectrogram canvas'), YELLOW), 'newest column, lowest bin');
    assert.ok(near(await pixel(30, 7, 0, '.spectrogram canvas'), PURPLE), 'newest column, top bin');
    assert.ok(near(await pixel(30, 5, 0, '.spectrogram canvas'), YELLOW), 'oldest column, top bin');
    const s2 = await show(31);
    assert.equal(s2.drawn.total, 1);
    assert.ok(near(await pixel(31, 7, 3, '.spectrogram canvas'), PURPLE));
    // More columns than the width: the oldest scroll out.
    const cols = [];
    for (let k = 0; k < 9; k++) cols.push(...[k % 2, 0, 0, 0]);
    await feed(page, [handlerFrame({ handler: 30, values: cols })]);
    const s3 = await show(30);
    assert.equal(s3.drawn.columns.length, 8);
    assert.deepEqual(s3.drawn.columns[7], [0, 0, 0, 0]);
    assert.deepEqual(s3.drawn.columns[6], [1, 0, 0, 0]);
    assert.ok(near(await pixel(30, 6, 3, '.spectrogram canvas'), YELLOW));
    assert.ok(near(await pixel(30, 7, 3, '.spectrogram canvas'), PURPLE));
  });

  it('a level meter shows one bar per channel', async () => {
    await feed(page, [create(40, 'Levels', 'meter', { channels: ['L', 'R'], min: -60, max: 0 }), data(40, [-6, -60])]);
    const m = await show(40);
    assert.deepEqual(m.drawn.levels, [-6, -60]);
    // L is 90% full: the top of its bar (x 50..78, y 10..250) is coloured.
    const top = await pixel(40, 64, 40);
    assert.ok(!near(top, [230, 230, 230], 10), `L bar drawn near the top: ${top}`);
    assert.ok(near(await pixel(40, 64 + 38, 40), [230, 230, 230], 10), 'R bar empty');
    await feed(page, [handlerFrame({ handler: 40, values: [-30, -30] })]);
    assert.deepEqual((await show(40)).drawn.levels, [-30, -30]);
  });

  it('an audio player plays PCM frames through an AudioWorklet', async () => {
    const rate = 16000;
    await feed(page, [create(50, 'Output', 'audio', { rate, channels: 1 })]);
    await show(50);
    await page.click('.handler-panel[data-handler="50"] .player button');
    await page.waitForFunction(() => window.__rill.handler(50).drawn.playing, null, { timeout: 5000 });
    // 0.5 s of a 440 Hz sine in int16 frames of 800.
    const frames = [];
    for (let f = 0; f < 10; f++) {
      const v = [];
      for (let k = 0; k < 800; k++) v.push(Math.round(16000 * Math.sin((2 * Math.PI * 440 * (f * 800 + k)) / rate)));
      frames.push(handlerFrame({ handler: 50, type: 'h', arg: 1, values: v }));
    }
    await feed(page, frames);
    const a = await show(50);
    assert.equal(a.drawn.framesReceived, 8000);
    assert.ok(a.drawn.peaks[0] > 0.45 && a.drawn.peaks[0] < 0.5);
    // The worklet reports what it holds and plays.
    await page.waitForFunction(() => window.__rill.handler(50).drawn.stats.queued > 0 || window.__rill.handler(50).drawn.stats.underruns > 0, null, {
      timeout: 5000,
    });
    assert.equal(await page.locator('.handler-panel[data-handler="50"] .player button').textContent(), 'Stop');
    await page.click('.handler-panel[data-handler="50"] .player button');
    assert.equal((await show(50)).drawn.playing, false);
  });

  it('a handler can be replaced and removed; an unknown type says so', async () => {
    await feed(page, [
      create(60, 'Old', 'line', { series: [{ name: 'a' }] }),
      create(60, 'New', 'meter', { channels: 1 }),
      create(61, 'Mystery', 'base:sparkles', {}),
    ]);
    assert.equal(await page.textContent('.handler-tab[data-handler="60"]'), 'New');
    assert.equal((await show(60)).type, 'meter');
    await show(61);
    assert.match(await page.textContent('.handler-panel[data-handler="61"] .handler-status'), /unknown handler type "base:sparkles"/);
    // Its data are taken unseen: the tab says why; the page's error line
    // does not call it an unknown handler.
    await feed(page, [data(61, [1, 2, 3])]);
    await sleep(1100); // the error line is redrawn in the badges' turn
    assert.doesNotMatch(await page.textContent('#errors'), /unknown handler/);
    await feed(page, [remove(60), remove(61)]);
    assert.equal(await page.locator('.handler-tab[data-handler="60"], .handler-tab[data-handler="61"]').count(), 0);
    // Bad data is reported in the tab, not thrown.
    await feed(page, [create(62, 'Bad', 'line', { series: [{ name: 'a' }] }), data(62, { add: [{ x: [1, 2], y: [1] }] })]);
    const bad = await show(62);
    assert.match(bad.warnings.join(), /same length/);
    assert.equal(await page.evaluate(() => window.__rill.protocolErrors()), 0);
  });
});
