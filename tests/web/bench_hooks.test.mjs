// The page's hooks for the browser benchmark (bench/browser/): showAll draws
// the variables' charts and every handler tab at once, and the latency probe
// gives each dense buffer's lag behind live when it is drawn.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, openPage, sleep, startServer, waitLive } from './lib.mjs';
import { create, feed, handlerFrame } from './messages.mjs';

let srv, b, page, errors;
before(async () => {
  srv = await startServer('--rate', '48000');
  b = await launchBrowser();
  ({ page, errors } = await openPage(b.browser, `${srv.http}/`));
  await waitLive(page);
});
after(async () => {
  assert.deepEqual(errors, [], 'no console errors in the whole run');
  await b?.close();
  await srv?.stop();
});

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
    await page.evaluate(() => window.__rill.latencyProbe());
    const b0 = (await page.evaluate(() => window.__rill.chart('sine'))).buffers;
    await sleep(1000);
    const lags = await page.evaluate(() => window.__rill.latencyTake());
    const b1 = (await page.evaluate(() => window.__rill.chart('sine'))).buffers;
    // 48 kHz in buffers of 256: ~187 a second, each drawn once.
    assert.ok(lags.length > 100, `${lags.length} lags`);
    assert.ok(Math.abs(lags.length - (b1 - b0)) <= 20, `${lags.length} lags for ${b1 - b0} buffers`);
    assert.ok(lags.every((x) => Number.isFinite(x) && x >= 0 && x < 5000), 'lags are finite, non-negative, bounded');
    assert.deepEqual(await page.evaluate(() => window.__rill.latencyTake()).then((l) => l.length < 20), true, 'taken lags are cleared');
  });
});
