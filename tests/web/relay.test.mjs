// The dashboard relay end to end: a real C program (examples/dash_tour,
// every handler type, through include/rill/dash.h) connects to a real
// `rill serve`; its tabs appear in real pages with the data it sent,
// checked on what was drawn; two pages, one opened after the program
// started; the tabs go when the program exits. Also the audio panel shows
// the device's audio description.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { launchBrowser, openPage, rillBin, sleep, startServer, teardown, waitLive } from './lib.mjs';

const example = (name) => path.join(path.dirname(path.dirname(rillBin())), 'examples', name);

let srv, b, pages = [], prog;
before(async () => {
  srv = await startServer();
  b = await launchBrowser();
  const first = await openPage(b.browser, `${srv.http}/`);
  await waitLive(first.page);
  pages.push(first);
});
after(() =>
  teardown(
    () => {
      for (const p of pages) assert.deepEqual(p.errors, [], 'no console errors in the whole run');
    },
    () => {
      if (prog && prog.exitCode === null) prog.kill('SIGKILL');
    },
    () => b?.close(),
    srv,
  ),
);

/** Retry fn until it stops throwing (5 s), so a check waits for the next
 * round of data instead of depending on timing. */
async function eventually(fn, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > end) throw e;
      await sleep(100);
    }
  }
}

async function tabs(page) {
  return page.$$eval('.handler-tab', (t) => t.map((e) => [e.textContent, Number(e.dataset.handler)]));
}

async function show(page, id) {
  await page.click(`.handler-tab[data-handler="${id}"]`);
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  return page.evaluate((i) => window.__rill.handler(i), id);
}

async function pixel(page, id, x, y, selector = 'canvas') {
  return page.evaluate(
    ([i, px, py, sel]) => {
      const c = document.querySelector(`.handler-panel[data-handler="${i}"] ${sel}`);
      return Array.from(c.getContext('2d').getImageData(px, py, 1, 1).data);
    },
    [id, x, y, selector],
  );
}

async function countColor(page, id, rgb, tol = 40) {
  return page.evaluate(
    ([i, c, t]) => {
      let n = 0;
      for (const cv of document.querySelectorAll(`.handler-panel[data-handler="${i}"] canvas`)) {
        const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
        for (let k = 0; k < d.length; k += 4)
          if (Math.abs(d[k] - c[0]) < t && Math.abs(d[k + 1] - c[1]) < t && Math.abs(d[k + 2] - c[2]) < t && d[k + 3] > 200) n++;
      }
      return n;
    },
    [id, rgb, tol],
  );
}

const near = (a, c, tol = 3) => a.slice(0, 3).every((v, k) => Math.abs(v - c[k]) <= tol);

/** Every tab of dash_tour shows what the program sent (its fixed data). */
async function checkTour(page) {
  const ids = Object.fromEntries(await tabs(page));
  assert.deepEqual(Object.keys(ids).sort(), ['Area', 'Direction', 'Heat', 'Histogram', 'Levels', 'Line', 'Output', 'Pattern', 'Scatter', 'Spectrum']);
  await eventually(async () => {
    const line = await show(page, ids.Line);
    assert.equal(line.type, 'line');
    assert.deepEqual(line.drawn.plotted, [[0, 1, 2, 3], [0.5, -0.5, 0.25, 0], [null, 0.1, 0.2, null]]);
    assert.ok((await countColor(page, ids.Line, [255, 0, 0])) > 50, 'the red series is drawn');
  });
  await eventually(async () => assert.deepEqual((await show(page, ids.Area)).drawn.plotted, [[5, 6], [3, 4], [null, null]]));
  await eventually(async () => {
    assert.deepEqual((await show(page, ids.Histogram)).drawn.plotted, [[0, 1, 2, 3], [4, 8, 2, 1]]);
    assert.ok((await countColor(page, ids.Histogram, [0, 170, 0], 60)) > 500, 'the bars are filled');
  });
  await eventually(async () => {
    const sc = await show(page, ids.Scatter);
    assert.deepEqual(sc.drawn.series[1], { name: 'right', color: '#0000ff', x: [0, 1, 2], y: [0, 1, 4] });
    assert.ok((await countColor(page, ids.Scatter, [0, 0, 255])) > 10, 'the points are drawn');
  });
  const c = 175, R = 145;
  await eventually(async () => {
    assert.deepEqual((await show(page, ids.Direction)).drawn.radii, [[1, 1, 1, 1, 1]]);
    assert.ok(near(await pixel(page, ids.Direction, Math.round(c + R / 2), Math.round(c - R / 2)), [0x1f, 0x77, 0xb4], 60), 'the curve passes there');
  });
  await eventually(async () => {
    assert.deepEqual((await show(page, ids.Pattern)).drawn.radii, [[2, 2, 2, 2, 2]]);
    const inside = await pixel(page, ids.Pattern, c + 30, c - 30);
    assert.ok(inside[2] > inside[0] + 40, `filled: ${inside}`);
  });
  await eventually(async () => {
    const h = await show(page, ids.Heat);
    assert.deepEqual([h.drawn.rows, h.drawn.cols], [2, 3]);
    assert.deepEqual((await pixel(page, ids.Heat, 0, 0)).slice(0, 3), [0, 0, 255]);
    assert.deepEqual((await pixel(page, ids.Heat, 2, 0)).slice(0, 3), [255, 0, 0]);
    assert.ok(near(await pixel(page, ids.Heat, 1, 1), [0, 255, 0], 5));
  });
  await eventually(async () => {
    const s = await show(page, ids.Spectrum);
    assert.deepEqual(s.drawn.columns, [[0, 0, 0, 1], [1, 0, 0, 0], [1, 0, 0, 0]]);
    const YELLOW = [253, 231, 37], PURPLE = [68, 1, 84];
    assert.ok(near(await pixel(page, ids.Spectrum, 7, 3, '.spectrogram canvas'), YELLOW), 'newest column, lowest bin');
    assert.ok(near(await pixel(page, ids.Spectrum, 7, 0, '.spectrogram canvas'), PURPLE), 'newest column, top bin');
    assert.ok(near(await pixel(page, ids.Spectrum, 5, 0, '.spectrogram canvas'), YELLOW), 'oldest column, top bin');
  });
  await eventually(async () => {
    const a = await show(page, ids.Output);
    assert.ok(a.drawn.framesReceived >= 800 && a.drawn.framesReceived % 800 === 0, `frames ${a.drawn.framesReceived}`);
    assert.ok(a.drawn.peaks[0] > 0.45 && a.drawn.peaks[0] < 0.5, `peak ${a.drawn.peaks[0]}`);
  });
  await eventually(async () => {
    assert.deepEqual((await show(page, ids.Levels)).drawn.levels, [-6, -60]);
    const top = await pixel(page, ids.Levels, 64, 40);
    assert.ok(!near(top, [230, 230, 230], 10), `L bar drawn near the top: ${top}`);
    assert.ok(near(await pixel(page, ids.Levels, 64 + 38, 40), [230, 230, 230], 10), 'R bar empty');
  });
}

describe('dashboard relay with a real C program', () => {
  it('the audio panel shows the audio description of the device', async () => {
    const { page } = pages[0];
    const cfg = await eventually(async () => {
      const c = await page.evaluate(() => window.__rill.audioConfig());
      assert.equal(c['channel variables'], 'mic0, mic1');
      return c;
    });
    assert.equal(cfg.channels, '2');
    assert.equal(cfg['buffer frames'], '1024');
    assert.equal(cfg.volume, '100');
    assert.equal(cfg['audio rate'], '44100 Hz');
  });

  it('a program adds every handler type; each tab shows its data, on two pages, one opened later', async () => {
    assert.ok(fs.existsSync(example('dash_tour')), `${example('dash_tour')} not built`);
    prog = spawn(example('dash_tour'), [srv.ws, '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    prog.stdout.on('data', (d) => (out += d));
    prog.stderr.on('data', (d) => (out += d));
    await pages[0].page.waitForFunction(() => window.__rill.handlerIds().length === 10, null, { timeout: 10000 }).catch((e) => {
      throw new Error(`${e.message}\n${out}`);
    });
    const later = await openPage(b.browser, `${srv.http}/`);
    pages.push(later);
    await waitLive(later.page);
    await later.page.waitForFunction(() => window.__rill.handlerIds().length === 10, null, { timeout: 10000 });
    for (const { page } of pages) await checkTour(page);
    // Both pages number the handlers the same (server-wide ids).
    assert.deepEqual(await tabs(pages[0].page), await tabs(later.page));
  });

  it('when the program exits, its tabs go from every page', async () => {
    prog.kill('SIGTERM');
    for (const { page } of pages) await page.waitForFunction(() => window.__rill.handlerIds().length === 0, null, { timeout: 10000 });
    for (const { page } of pages) assert.equal(await page.locator('.handler-tab').count(), 0);
  });
});
