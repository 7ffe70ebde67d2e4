// The dashboard in real Chromium against a real `rill serve` (demo source).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchBrowser, openPage, rillLs, sleep, startServer, teardown, waitLive, withServer } from './lib.mjs';

const TYPE_LETTER = { char: 'c', int32: 'i', uint32: 'j', float: 'f', double: 'd' };

let srv, b;
before(async () => {
  srv = await startServer();
  b = await launchBrowser();
});
after(() => teardown(() => b?.close(), srv));

async function chart(page, name) {
  return page.evaluate((n) => window.__rill.chart(n), name);
}

// Waits until `minValues` values arrived and the plot drew `minPoints` of them
// (the plot redraws on the next animation frame, after the values arrive).
async function waitChart(page, name, minValues = 1000, minPoints = 1) {
  await page.waitForFunction(([n, m, p]) => (window.__rill.chart(n)?.received ?? 0) >= m && window.__rill.chart(n).x.length >= p, [name, minValues, minPoints], {
    timeout: 10000,
  });
}

describe('dashboard against rill serve', () => {
  it('is served at / and loads without console errors', async () => {
    const { page, errors, status } = await openPage(b.browser, `${srv.http}/`);
    assert.equal(status, 200);
    await waitLive(page);
    await sleep(500);
    assert.deepEqual(errors, []);
    assert.match(await page.textContent('#conn-badge'), /live/);
    // The audio configuration panel shows the rate from the list reply.
    assert.match(await page.textContent('#config dd[data-key="sample rate"]'), /44100 Hz/);
    await page.close();
  });

  it('lists the variables exactly as `rill ls` does', async () => {
    const { page, errors } = await openPage(b.browser, `${srv.http}/`);
    await waitLive(page);
    // Columns by their header's names, wherever they are.
    const [head, ...lines] = rillLs(srv.ws).trim().split('\n');
    const col = Object.fromEntries(head.trim().split(/\s+/).map((h, i) => [h, i]));
    const ls = lines
      .map((line) => line.trim().split(/\s+/))
      .map((f) => ({ name: f[col.name], type: TYPE_LETTER[f[col.type]], mode: f[col.mode] }));
    const rows = await page.$$eval('#vars tbody tr', (trs) =>
      trs.map((tr) => ({ name: tr.querySelector('.name').textContent, type: tr.querySelector('.type').textContent, mode: tr.querySelector('.mode').textContent })),
    );
    assert.ok(ls.length >= 10, 'rill ls lists the demo variables');
    assert.deepEqual(rows, ls);
    // In a wide window every column shows, a streaming (bold) row's too:
    // the side panel is as wide as the table needs, nothing scrolls or is cut.
    await page.click('#vars tr[data-var="sine"]');
    await page.waitForSelector('#vars tr.streaming[data-var="sine"]');
    const box = await page.evaluate(() => {
      const b = document.querySelector('.table-box');
      return { scroll: b.scrollWidth, client: b.clientWidth };
    });
    assert.ok(box.scroll <= box.client, `the table is cut: ${JSON.stringify(box)}`);
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('streams a clicked variable into a live chart that moves with the device clock', async () => {
    const { page, errors } = await openPage(b.browser, `${srv.http}/`);
    await waitLive(page);
    await page.click('#vars tr[data-var="frame"]');
    // A few buffers (of 1024 values at 44.1 kHz), not just the first.
    await waitChart(page, 'frame', 4096, 101);
    const rate = await page.evaluate(() => window.__rill.rate());
    const s1 = await chart(page, 'frame');
    await sleep(700);
    const s2 = await chart(page, 'frame');
    // The window scrolled by about the time waited, and the data changed.
    assert.ok(s2.xMax - s1.xMax > 0.4, `x axis moved from ${s1.xMax} to ${s2.xMax}`);
    assert.ok(s2.xMax - s2.xMin > 1.9, 'a two-second window');
    assert.notDeepEqual(s2.y, s1.y);
    assert.ok(s2.received > s1.received);
    // `frame` holds its own tick: every plotted point sits on y = x * rate,
    // so the native messages were decoded exactly.
    for (const s of [s1, s2]) {
      assert.ok(s.x.length > 100);
      for (let k = 0; k < s.x.length; k++) assert.ok(Math.abs(s.y[k] - s.x[k] * rate) < 1e-6 * s.y[k] + 0.5, `point ${k}: ${s.x[k]}, ${s.y[k]}`);
      assert.ok(s.x[s.x.length - 1] <= s.xMax + 1e-9);
    }
    // Several at once: the sine too, with its amplitude of 0.5.
    await page.click('#vars tr[data-var="sine"]');
    await waitChart(page, 'sine', 20000);
    const sine = await chart(page, 'sine');
    assert.ok(Math.max(...sine.y) > 0.45 && Math.max(...sine.y) <= 0.5 + 1e-6);
    assert.ok(Math.min(...sine.y) < -0.45);
    assert.deepEqual(await page.evaluate(() => window.__rill.streaming().sort()), ['frame', 'sine']);
    // A sparse variable: points at their own ticks.
    await page.click('#vars tr[data-var="events"]');
    await waitChart(page, 'events', 100);
    const ev = await chart(page, 'events');
    for (let k = 0; k < ev.x.length; k++) assert.ok(Math.abs(ev.y[k] - ev.x[k] * rate) < 0.5);
    // Click again: stopped.
    await page.click('#vars tr[data-var="frame"]');
    assert.equal(await chart(page, 'frame'), null);
    assert.equal(await page.locator('.chart[data-var="frame"]').count(), 0);
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('draws no animation frames while idle, yet keeps its device tick current; a chart wakes it', async () => {
    const { page, errors } = await openPage(b.browser, `${srv.http}/`);
    await waitLive(page);
    const frames = () => page.evaluate(() => window.__rill.frames());
    const tick = async () => Number(await page.textContent('#config dd[data-key="device tick"]'));
    // Past the second it stays awake after the hello and the first list.
    await sleep(1500);
    const f0 = await frames();
    const t0 = await tick();
    await sleep(1500);
    const f1 = await frames();
    assert.ok(f1 - f0 <= 1, `${f1 - f0} animation frames in 1.5 s on an idle page`);
    // The once-a-second list replies still reach the page, on its timer.
    assert.ok((await tick()) > t0, 'the device tick shown moved while idle');
    // A chart animates in every frame (it scrolls with the device clock).
    await page.click('#vars tr[data-var="sine"]');
    await waitChart(page, 'sine', 4096, 101);
    const f2 = await frames();
    await sleep(1000);
    const f3 = await frames();
    assert.ok(f3 - f2 >= 20, `only ${f3 - f2} animation frames in 1 s with a chart streaming`);
    // Closed, the page goes back to sleep.
    await page.click('#vars tr[data-var="sine"]');
    await page.waitForFunction(() => window.__rill.streaming().length === 0);
    await sleep(1500);
    const f4 = await frames();
    await sleep(1000);
    assert.ok((await frames()) - f4 <= 1, 'animation frames went on after the chart closed');
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('shows how far behind live the page is, and the drops (none here)', async () => {
    const { page, errors } = await openPage(b.browser, `${srv.http}/`);
    await waitLive(page);
    assert.match(await page.textContent('#latency-badge'), /latency —/);
    await page.click('#vars tr[data-var="noise"]');
    await waitChart(page, 'noise', 5000);
    await sleep(300);
    const ms = await page.evaluate(() => window.__rill.latencyMs());
    assert.ok(Number.isFinite(ms) && ms >= 0 && ms < 1000, `latency ${ms} ms`);
    assert.match(await page.textContent('#latency-badge'), /^latency \d+ ms$/);
    assert.equal(await page.getAttribute('#drops-badge', 'data-count'), '0');
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('plays a streamed variable through an AudioWorklet and records it to a WAV file sox opens', async () => {
    const { page, errors } = await openPage(b.browser, `${srv.http}/`);
    await waitLive(page);
    await page.click('#vars tr[data-var="sine"]');
    await waitChart(page, 'sine');
    const box = '.chart[data-var="sine"]';
    await page.click(`${box} button.play`);
    await page.waitForFunction(() => {
      const c = window.__rill.chart('sine');
      return c.playing && c.player && (c.player.queued > 0 || c.player.underruns > 0);
    }, null, { timeout: 5000 });
    await page.click(`${box} button.play`);
    assert.equal((await chart(page, 'sine')).playing, false);
    // Record about a second, then save.
    await page.click(`${box} button.record`);
    await sleep(1000);
    const recorded = (await chart(page, 'sine')).recording;
    assert.ok(recorded > 20000, `${recorded} values recorded`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(`${box} button.record`)]);
    assert.equal(download.suggestedFilename(), 'sine.wav');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rill-wav-')), 'sine.wav');
    await download.saveAs(file);
    const soxi = (opt) => execFileSync('soxi', [opt, file], { encoding: 'utf8' }).trim();
    assert.equal(soxi('-r'), '44100');
    assert.equal(soxi('-c'), '1');
    assert.equal(soxi('-b'), '16');
    const samples = Number(soxi('-s'));
    assert.ok(samples >= recorded && samples < 44100 * 3, `${samples} samples`);
    // The sine's amplitude (0.5) survives: its peak in 16-bit is about 16384.
    const pcm = fs.readFileSync(file).subarray(44);
    let peak = 0;
    for (let k = 0; k + 1 < pcm.length; k += 2) peak = Math.max(peak, Math.abs(pcm.readInt16LE(k)));
    assert.ok(peak > 15000 && peak <= 16384, `peak ${peak}`);
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('serves two pages at once, each updating on its own', async () => {
    const a = await openPage(b.browser, `${srv.http}/`);
    const c = await openPage(b.browser, `${srv.http}/`);
    await Promise.all([waitLive(a.page), waitLive(c.page)]);
    await a.page.click('#vars tr[data-var="chirp"]');
    await c.page.click('#vars tr[data-var="chirp"]');
    await Promise.all([waitChart(a.page, 'chirp'), waitChart(c.page, 'chirp')]);
    const [a1, c1] = [await chart(a.page, 'chirp'), await chart(c.page, 'chirp')];
    await sleep(600);
    const [a2, c2] = [await chart(a.page, 'chirp'), await chart(c.page, 'chirp')];
    assert.ok(a2.xMax > a1.xMax + 0.3 && a2.received > a1.received, 'page 1 updates');
    assert.ok(c2.xMax > c1.xMax + 0.3 && c2.received > c1.received, 'page 2 updates');
    // Closing one page does not disturb the other.
    await a.page.close();
    await sleep(300);
    const c3 = await chart(c.page, 'chirp');
    await sleep(500);
    const c4 = await chart(c.page, 'chirp');
    assert.ok(c4.received > c3.received && c4.xMax > c3.xMax);
    assert.deepEqual([...a.errors, ...c.errors], []);
    await c.page.close();
  });

  it('opens and closes a chart from the keyboard: Tab to a row, Enter or Space', async () => {
    const { page, errors } = await openPage(b.browser, `${srv.http}/`);
    try {
      await waitLive(page);
      const row = '#vars tr[data-var="noise"]';
      assert.equal(await page.getAttribute(row, 'role'), 'button');
      assert.equal(await page.getAttribute(row, 'aria-pressed'), 'false');
      await page.focus(row);
      await page.keyboard.press('Enter');
      await waitChart(page, 'noise');
      await page.waitForFunction((sel) => document.querySelector(sel).getAttribute('aria-pressed') === 'true', row, { timeout: 5000 });
      await page.keyboard.press(' ');
      await page.waitForFunction(() => !document.querySelector('.chart[data-var="noise"]'), null, { timeout: 5000 });
      await page.waitForFunction((sel) => document.querySelector(sel).getAttribute('aria-pressed') === 'false', row, { timeout: 5000 });
      assert.equal(await page.evaluate(() => window.scrollY), 0, 'Space did not scroll the page');
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });

  it('fits a phone-wide window: nothing off the right edge, the chart under the table', async () => {
    // 360 px: the narrowest common phone, where the table's columns
    // cannot all fit and the header's badges must wrap.
    const page = await b.browser.newPage({ viewport: { width: 360, height: 800 } });
    try {
      await page.goto(`${srv.http}/`);
      await waitLive(page);
      await page.click('#vars tr[data-var="sine"]');
      await waitChart(page, 'sine');
      const box = await page.evaluate(() => {
        const r = (sel) => document.querySelector(sel).getBoundingClientRect();
        const table = r('#vars'), chart = r('.chart[data-var="sine"]'), canvas = r('.chart[data-var="sine"] canvas');
        return { scroll: document.documentElement.scrollWidth, inner: window.innerWidth, tableBottom: table.bottom, chartTop: chart.top, chartRight: chart.right, canvasW: canvas.width };
      });
      assert.ok(box.scroll <= box.inner, `the page scrolls sideways: ${box.scroll} px wide in a ${box.inner} px window`);
      assert.ok(box.chartTop >= box.tableBottom, `the chart sits beside the table (top ${box.chartTop}, table ends at ${box.tableBottom})`);
      assert.ok(box.chartRight <= box.inner && box.canvasW > 300, JSON.stringify(box));
    } finally {
      await page.close();
    }
  });
});

describe('serving options', () => {
  it('with --token: the page opened with ?token= loads and streams; without it, 401', async () => {
    await withServer(['--token', 's3cret-T0ken'], async (t) => {
      const res = await fetch(`${t.http}/`);
      assert.equal(res.status, 401);
      const { page, errors, status } = await openPage(b.browser, `${t.http}/?token=s3cret-T0ken`);
      assert.equal(status, 200);
      await waitLive(page);
      await page.click('#vars tr[data-var="sine"]');
      await waitChart(page, 'sine');
      assert.deepEqual(errors, []);
      await page.close();
      // Another page's origin may not open the WebSocket (the Origin check).
      const foreign = await openPage(b.browser, `${srv.http}/?server=${encodeURIComponent(t.ws)}&token=s3cret-T0ken`);
      await sleep(1500);
      assert.notEqual(await foreign.page.evaluate(() => window.__rill.state()), 'native');
      await foreign.page.close();
    });
  });

  it("--web-root '' serves no pages; --web-root DIR serves DIR", async () => {
    await withServer(['--web-root', ''], async (none) => {
      assert.equal((await fetch(`${none.http}/`)).status, 404);
      assert.match(none.output(), /no dashboard/);
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rill-webroot-'));
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><p>hello from a web root</p>');
    await withServer(['--web-root', dir], async (own) => {
      const r = await fetch(`${own.http}/`);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type'), /text\/html/);
      assert.match(await r.text(), /hello from a web root/);
      assert.equal((await fetch(`${own.http}/nope.js`)).status, 404);
      assert.equal((await fetch(`${own.http}/.hidden`)).status, 404);
    }).finally(() => fs.rmSync(dir, { recursive: true, force: true }));
  });
});
