// `make screenshots`: pictures of the dashboard for the README and
// docs/HANDLERS.md, written to the directory given (docs/img): the scopes,
// handler tabs fed with the same kind of messages a program sends
// (docs/HANDLERS.md), a custom handler type, and the code editor.
import fs from 'node:fs';
import path from 'node:path';
import { REPO, launchBrowser, openPage, rillBin, sleep, startServer, waitLive } from './lib.mjs';
import { create, data, feed, handlerFrame } from './messages.mjs';

const out = path.resolve(process.argv[2] || 'docs/img');
fs.mkdirSync(out, { recursive: true });
const lib = path.resolve(path.dirname(rillBin()), '..', 'src', 'librill.so');
const srv = await startServer({ RILL_LIB: lib }, '--rate', '48000', '--allow-exec', '--token', 'shots', '--python', '/usr/bin/python3', '--handlers', path.join(REPO, 'examples', 'handlers'));
const b = await launchBrowser();
try {
  const { page } = await openPage(b.browser, `${srv.http}/?token=shots`);
  await waitLive(page);
  // Scopes: the 440 Hz sine triggered, with cursors one period apart; the
  // two microphones overlaid; the chirp's spectrum.
  await page.click('#vars tr[data-var="sine"]');
  await page.evaluate(() => {
    window.__rill.scopeSet('sine', { timeDiv: 0.001, trigger: { mode: 'normal', slope: 'rising', level: 0 } });
    window.__rill.openChart(['mic0', 'mic1'], { timeDiv: 0.002 });
    window.__rill.openChart(['chirp'], { mode: 'fft', fft: { size: 4096, window: 'hann', logFreq: true, db: true } });
  });
  await sleep(1500);
  await page.evaluate(() => {
    window.__rill.scopeCursor('sine', 0, 0);
    window.__rill.scopeCursor('sine', 1, 1 / 440);
  });
  await sleep(600);
  await page.screenshot({ path: path.join(out, 'dashboard.png'), clip: { x: 0, y: 0, width: 1400, height: 900 } });

  // A spectrogram of a rising tone, a level meter, a polar plot, a histogram,
  // and the needle meter of examples/handlers.
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
    create(5, 'Level (custom type)', 'needle', { min: -60, max: 0, unit: 'dB' }),
    data(5, -9.5),
  ]);
  for (const [id, name] of [[1, 'spectrogram'], [2, 'meter'], [3, 'polar'], [4, 'histogram'], [5, 'custom']]) {
    await page.click(`.handler-tab[data-handler="${id}"]`);
    await sleep(300);
    await page.screenshot({ path: path.join(out, `handler-${name}.png`), clip: { x: 0, y: 0, width: 1400, height: 700 } });
  }

  // The editor: a script whose traceback marks its line.
  await page.click('.tab[data-tab="vars"]');
  await page.evaluate(() => window.__rill.editor.ready());
  await page.evaluate(() =>
    window.__rill.editor.code(
      [
        '"""Levels in dB of each input channel."""',
        'import numpy as np',
        'import rill.browserinterface as browserinterface',
        '',
        'def handle_data(buffer):',
        '    x = buffer / 32768.0',
        '    levels = 10 * np.log10(np.mean(x * x, axis=0))',
        '    print("levels", np.round(levels, 1))',
        '    raise ValueError("oops: a bug on line 9")',
        '',
        'browserinterface.register_handle_data(handle_data)',
        'browserinterface.start()',
        'browserinterface.loop_callbacks()',
        '',
      ].join('\n'),
    ),
  );
  await page.click('.editor-run');
  await page.waitForSelector('.cm-error-line', { timeout: 15000 });
  await sleep(500);
  await page.click('.editor-stop').catch(() => {});
  await sleep(500);
  const box = await page.locator('section.exec').boundingBox();
  await page.screenshot({ path: path.join(out, 'editor.png'), clip: { x: 0, y: box.y, width: 1400, height: Math.min(760, box.height) } });
  console.log(`screenshots written to ${out}`);
} finally {
  await b.close();
  await srv.stop();
}
