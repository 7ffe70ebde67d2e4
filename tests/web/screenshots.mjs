// `make screenshots`: pictures of the dashboard for the README, written to
// the directory given (docs/img): the live variables, and handler tabs fed
// with the same kind of messages a program sends (docs/HANDLERS.md).
import fs from 'node:fs';
import path from 'node:path';
import { launchBrowser, openPage, sleep, startServer, waitLive } from './lib.mjs';
import { create, data, feed, handlerFrame } from './messages.mjs';

const out = path.resolve(process.argv[2] || 'docs/img');
fs.mkdirSync(out, { recursive: true });
const srv = await startServer();
const b = await launchBrowser();
try {
  const { page } = await openPage(b.browser, `${srv.http}/`);
  await waitLive(page);
  for (const v of ['sine', 'chirp', 'events', 'level']) await page.click(`#vars tr[data-var="${v}"]`);
  await sleep(2500);
  await page.screenshot({ path: path.join(out, 'dashboard.png') });

  // A spectrogram of a rising tone, a level meter, a polar plot, a histogram.
  const H = 128, W = 300;
  const cols = [];
  for (let t = 0; t < W; t++) {
    const peak = 10 + ((t * 0.9) % (H - 20));
    for (let k = 0; k < H; k++) cols.push(-90 + 80 * Math.exp(-(((k - peak) / 2.5) ** 2)) + 60 * Math.exp(-(((k - 2 * peak) / 3) ** 2)) * (2 * peak < H ? 1 : 0) + 6 * Math.random());
  }
  const hist = { x: [], y: [] };
  for (let k = -20; k <= 20; k++) {
    hist.x.push(k / 40);
    hist.y.push(Math.round(1000 * Math.exp(-((k / 8) ** 2))));
  }
  const doa = [];
  for (let k = 0; k <= 36; k++) doa.push(0.15 + 0.8 * Math.exp(-(((k - 9) / 2.5) ** 2)));
  await feed(page, [
    create(1, 'Spectrum', 'spectrogram', { width: W, height: H, min: -90, max: 0, delta_freq: 172 }),
    handlerFrame({ handler: 1, values: cols }),
    create(2, 'Levels', 'meter', { channels: ['1', '2', '3', '4', '5', '6'], min: -60, max: 0 }),
    data(2, [-12, -18, -7, -30, -22, -3]),
    create(3, 'Direction', 'polar-area', { series: ['estimate'], numPoints: 36, rmax: 1, title: 'direction of arrival' }),
    data(3, [{ replace: doa }]),
    create(4, 'Histogram', 'bar', { series: [{ name: 'count', color: '#2ca02c' }], xName: 'sample value' }),
    data(4, { replace: [hist] }),
  ]);
  for (const [id, name] of [[1, 'spectrogram'], [2, 'meter'], [3, 'polar'], [4, 'histogram']]) {
    await page.click(`.handler-tab[data-handler="${id}"]`);
    await sleep(300);
    await page.screenshot({ path: path.join(out, `handler-${name}.png`) });
  }
  console.log(`screenshots written to ${out}`);
} finally {
  await b.close();
  await srv.stop();
}
