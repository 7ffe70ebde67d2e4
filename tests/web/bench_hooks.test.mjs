// The page's hooks for the browser benchmark (bench/browser/): showAll draws
// the variables' charts and every handler tab at once, and the latency probe
// gives each dense buffer's lag behind live when it is drawn.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, openPage, sleep, startServer, teardown, waitLive } from './lib.mjs';
import { create, feed, handlerFrame } from './messages.mjs';

let srv, b, page, errors;
before(async () => {
  srv = await startServer('--rate', '48000');
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

const hidden = () =>
  page.evaluate(() => ({
    vars: document.querySelector('.vars-panel').hidden,
    spec: document.querySelector('.handler-panel[data-handler="70"]').hidden,
  }));

describe('benchmark hooks', () => {
  it('showAll shows and draws the charts and the handler tabs together', async () => {
    await feed(page, [create(70, 'Spectrum', 'spectrogram', { width: 8, height: 4, min: 0, max: 1 })]);
    await page.evaluate(() => window.__rill.select('vars')); // a first handler shows its own tab
    await page.click('#vars tr[data-var="sine"]');
    assert.deepEqual(await hidden(), { vars: false, spec: true }, 'one tab at a time by default');

    await page.evaluate(() => window.__rill.showAll(true));
    assert.deepEqual(await hidden(), { vars: false, spec: false });
    await page.waitForFunction(() => (window.__rill.chart('sine')?.buffers ?? 0) > 5);
    const u0 = (await page.evaluate(() => window.__rill.chart('sine'))).updates;
    await feed(page, [handlerFrame({ handler: 70, values: [1, 0, 0, 0] })]);
    await sleep(300);
    // The chart keeps redrawing while the spectrogram tab is shown...
    assert.ok((await page.evaluate(() => window.__rill.chart('sine'))).updates > u0 + 3, 'the chart is redrawn');
    // ...and the spectrogram's canvas was painted by the page's own frame
    // (snapshot() would draw it; read the pixels before asking for one).
    const px = await page.evaluate(() =>
      Array.from(document.querySelector('.handler-panel[data-handler="70"] .spectrogram canvas').getContext('2d').getImageData(7, 3, 1, 1).data),
    );
    assert.deepEqual(px.slice(0, 3), [253, 231, 37], 'newest column, lowest bin: yellow');

    // Selecting a tab while showAll is on keeps everything shown; off again, one tab.
    await page.evaluate(() => window.__rill.select(70));
    assert.deepEqual(await hidden(), { vars: false, spec: false });
    await page.evaluate(() => window.__rill.showAll(false));
    assert.deepEqual(await hidden(), { vars: true, spec: false });
    await page.evaluate(() => window.__rill.select('vars'));
  });

  it('the latency probe gives one lag per dense buffer drawn', async () => {
    // Start and take in the same task as the buffer counts, so none slips between.
    const b0 = await page.evaluate(() => (window.__rill.latencyProbe(), window.__rill.chart('sine').buffers));
    await sleep(1000);
    const [lags, b1] = await page.evaluate(() => [window.__rill.latencyTake(), window.__rill.chart('sine').buffers]);
    // 48 kHz in buffers of 2048 (20 a second at least): ~23 a second, each
    // drawn once; those of the last frame or two may still wait for their frame.
    assert.ok(lags.length > 15, `${lags.length} lags`);
    assert.ok(lags.length <= b1 - b0 && lags.length >= 0.6 * (b1 - b0), `${lags.length} lags for ${b1 - b0} buffers`);
    // The probe's clock is the estimate at its start, extrapolated: a buffer
    // faster than those it was calibrated on may show a lag a little below 0.
    assert.ok(lags.every((x) => Number.isFinite(x) && x > -5 && x < 5000), 'lags are finite and bounded');
    const again = await page.evaluate(() => window.__rill.latencyTake());
    assert.ok(again.length < lags.length / 2, 'taken lags are cleared');
  });
});

// The benchmark drives Chromium over its DevTools pipe (bench/browser/rawcdp.mjs),
// not through Playwright: the same page, clicked and read the same way.
describe("the benchmark's own browser driver", () => {
  it('loads the dashboard, clicks a variable into a chart, reads values, sizes the window, reports errors', async () => {
    const { launchRawBrowser } = await import('../../bench/browser/rawcdp.mjs');
    const { browser } = await launchRawBrowser();
    try {
      const p = await browser.newPage({ viewport: { width: 1000, height: 700 } });
      const seen = [];
      p.on('console', (m) => m.type() === 'error' && seen.push(m.text()));
      p.on('pageerror', (e) => seen.push(e.message));
      await p.goto(`${srv.http}/`);
      await p.waitForFunction(() => window.__rill && window.__rill.state() === 'native' && window.__rill.vars().length > 0, null, { timeout: 10000 });
      await p.click('#vars tr[data-var="frame"]');
      await p.waitForFunction((n) => (window.__rill.chart(n)?.buffers ?? 0) > 2, 'frame', { timeout: 10000 });
      // Values come back as they are: numbers, NaN, arrays of a typed array.
      assert.deepEqual(await p.evaluate(() => window.__rill.streaming()), ['frame']);
      assert.ok(Number.isNaN(await p.evaluate(() => NaN)));
      assert.deepEqual(await p.evaluate((x) => [x, Float64Array.of(1.5, Infinity)], 7), [7, [1.5, Infinity]]);
      await p.setViewportSize({ width: 1200, height: 2000 });
      assert.deepEqual(await p.evaluate(() => [innerWidth, innerHeight]), [1200, 2000]);
      const cdp = await p.context().newCDPSession(p);
      await cdp.send('Performance.enable');
      const { metrics } = await cdp.send('Performance.getMetrics');
      assert.ok(metrics.some((m) => m.name === 'TaskDuration' && m.value > 0));
      await assert.rejects(p.evaluate(() => nosuchname), /nosuchname is not defined/);
      await p.evaluate(() => console.error('a console error'));
      await p.evaluate(() => setTimeout(() => { throw new Error('thrown later'); }));
      await sleep(200);
      assert.equal(seen.length, 2, seen.join(' | '));
      assert.equal(seen[0], 'a console error');
      assert.match(seen[1], /thrown later/);
    } finally {
      await browser.close();
    }
  });
});
