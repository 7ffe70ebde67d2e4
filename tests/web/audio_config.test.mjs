// The dashboard's audio configuration form (PROTOCOL.md §8) in real Chromium
// against a real `rill serve`: the demo source (rate, buffer frames and
// volume offered, channels fixed) and a file source (rate and channels
// fixed). A change made on one page reaches every page and `rill audio`;
// a refusal shows the server's message and changes nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launchBrowser, openPage, rillBin, sleep, startServer, teardown, waitLive } from './lib.mjs';

const DEMO_RATES = ['8000', '16000', '22050', '32000', '44100', '48000', '96000'];

let b;
before(async () => {
  b = await launchBrowser();
});
after(() => teardown(() => b?.close()));

/** `rill audio --url URL [args]`: its exit code, stdout as {field: value}, stderr. */
function rillAudio(url, ...args) {
  const r = spawnSync(rillBin(), ['audio', '--url', url, ...args], { encoding: 'utf8', timeout: 20000 });
  const fields = {};
  for (const line of r.stdout.trim().split('\n')) {
    const m = /^(\w+(?: \w+)?)\s{2,}(.*)$/.exec(line);
    if (m) fields[m[1]] = m[2];
  }
  return { code: r.status, fields, stderr: r.stderr };
}

/** What the form shows: each field's value, whether it may be edited, and
 * what the user sees of it (a select's chosen option, the volume's number). */
async function form(page) {
  return page.evaluate(() => {
    const q = (s) => document.querySelector(s);
    const field = (id) => {
      const e = q(id);
      if (!e) return null;
      const shown = e.tagName === 'SELECT' ? (e.selectedOptions[0]?.textContent ?? '') : e.value;
      const r = e.getBoundingClientRect();
      return { value: e.value, shown, disabled: e.disabled, visible: r.width > 0 && r.height > 0 };
    };
    return {
      rate: field('#audio-rate'),
      rates: q('#audio-rate') ? [...q('#audio-rate').options].map((o) => o.value) : null,
      channels: field('#audio-channels'),
      frames: field('#audio-frames'),
      volume: field('#audio-volume'),
      volumeShown: q('#audio-volume-value')?.textContent ?? null,
      apply: q('#audio-apply') ? { disabled: q('#audio-apply').disabled } : null,
      status: q('#audio-status')?.textContent ?? null,
      statusState: q('#audio-status')?.dataset.state ?? null,
    };
  });
}

const panel = (page) => page.evaluate(() => window.__rill.audioConfig());

async function waitStatus(page, timeout = 15000) {
  await page.waitForFunction(() => ['ok', 'error'].includes(document.querySelector('#audio-status')?.dataset.state), null, { timeout });
  return form(page);
}

async function waitChart(page, name, minValues, minPoints) {
  await page.waitForFunction(([n, m, p]) => (window.__rill.chart(n)?.received ?? 0) >= m && window.__rill.chart(n).x.length >= p, [name, minValues, minPoints], {
    timeout: 10000,
  });
  return page.evaluate((n) => window.__rill.chart(n), name);
}

/** Every plotted point of a variable holding its own tick sits on y = x * rate. */
function onTickLine(s, rate, what) {
  assert.ok(s.x.length > 0, `${what}: points plotted`);
  for (let k = 0; k < s.x.length; k++)
    assert.ok(Math.abs(s.y[k] - s.x[k] * rate) < 1e-6 * s.y[k] + 0.5, `${what} point ${k}: (${s.x[k]}, ${s.y[k]}) not on y = x * ${rate}`);
}

/** A mono 16-bit PCM WAV file of `frames` frames of a sine. */
function writeWav(file, rate, frames) {
  const data = Buffer.alloc(frames * 2);
  for (let k = 0; k < frames; k++) data.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 300 * k) / rate)), 2 * k);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  fs.writeFileSync(file, Buffer.concat([h, data]));
}

describe('audio configuration form: demo source', () => {
  let srv;
  before(async () => {
    srv = await startServer();
  });
  after(() => teardown(srv));

  it('shows the current configuration; only what the demo offers may be edited', async () => {
    const { page, errors } = await openPage(b.browser, `${srv.http}/`);
    await waitLive(page);
    await page.waitForSelector('#audio-form', { state: 'visible' });
    const f = await form(page);
    assert.deepEqual(f.rate, { value: '44100', shown: '44100 Hz', disabled: false, visible: true });
    assert.deepEqual(f.rates, DEMO_RATES);
    // Channels is fixed on the demo: shown, not editable.
    assert.deepEqual(f.channels, { value: '2', shown: '2', disabled: true, visible: true });
    assert.deepEqual(f.frames, { value: '1024', shown: '1024', disabled: false, visible: true });
    assert.deepEqual(f.volume, { value: '100', shown: '100', disabled: false, visible: true });
    assert.equal(f.volumeShown, '100');
    assert.deepEqual(f.apply, { disabled: false });
    assert.equal(f.status, '');
    assert.equal(await page.isVisible('#audio-channels + .fixed'), true);
    // The slider's number follows it as it moves.
    await page.locator('#audio-volume').fill('30');
    assert.equal(await page.textContent('#audio-volume-value'), '30');
    const cfg = await panel(page);
    assert.deepEqual([cfg['audio rate'], cfg.channels, cfg['buffer frames'], cfg.volume], ['44100 Hz', '2', '1024', '100']);
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('applies rate 48000, volume 50 and 512 frames: the panel, a second page and `rill audio` show them; the charts follow the new rate', async () => {
    const a = await openPage(b.browser, `${srv.http}/`);
    const c = await openPage(b.browser, `${srv.http}/`);
    const { page } = a;
    await Promise.all([waitLive(page), waitLive(c.page)]);
    await page.waitForSelector('#audio-form');
    await page.click('#vars tr[data-var="frame"]');
    await page.click('#vars tr[data-var="events"]');
    await page.click('#vars tr[data-var="sine"]');
    onTickLine(await waitChart(page, 'frame', 4096, 101), 44100, 'frame at 44100 Hz');
    // The sine plays through the speakers (an AudioWorklet at the page's rate).
    await waitChart(page, 'sine', 1024, 1);
    await page.click('.chart[data-var="sine"] button.play');
    await page.waitForFunction(() => window.__rill.chart('sine').playing, null, { timeout: 5000 });
    // Two seconds of it, so a restart shows as fewer values received.
    const before = (await waitChart(page, 'sine', 88200, 1)).received;

    await page.selectOption('#audio-rate', '48000');
    await page.fill('#audio-frames', '512');
    await page.locator('#audio-volume').fill('50');
    assert.equal(await page.textContent('#audio-volume-value'), '50');
    await page.click('#audio-apply');
    const f = await waitStatus(page);
    assert.equal(f.status, 'applied', `status: ${f.status}`);
    assert.equal(f.statusState, 'ok');
    assert.equal(await page.isVisible('#audio-status'), true);
    // The form holds the values in effect, and the panel shows them.
    assert.deepEqual([f.rate.shown, f.frames.value, f.volume.value, f.volumeShown, f.channels.value], ['48000 Hz', '512', '50', '50', '2']);
    const cfg = await panel(page);
    assert.deepEqual([cfg['audio rate'], cfg['sample rate'], cfg['buffer frames'], cfg.volume, cfg.channels], ['48000 Hz', '48000 Hz', '512', '50', '2']);
    assert.equal(await page.evaluate(() => window.__rill.rate()), 48000);
    // The streams restarted at the new rate (new charts, watched again).
    const restarted = await page.evaluate(() => window.__rill.chart('sine').received);
    assert.ok(restarted < before, `sine restarted: ${restarted} values received since, ${before} before`);

    // The device says so too.
    const cli = rillAudio(srv.ws);
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual([cli.fields.rate, cli.fields['buffer frames'], cli.fields.volume, cli.fields.channels], ['48000 Hz', '512', '50', '2']);

    // The other page got the event: its panel, its form and its rate.
    await c.page.waitForFunction(() => window.__rill.audioConfig()['audio rate'] === '48000 Hz', null, { timeout: 5000 });
    const cc = await panel(c.page);
    assert.deepEqual([cc['sample rate'], cc['buffer frames'], cc.volume], ['48000 Hz', '512', '50']);
    const cf = await form(c.page);
    assert.deepEqual([cf.rate.shown, cf.frames.value, cf.volume.value, cf.volumeShown], ['48000 Hz', '512', '50', '50']);
    assert.equal(cf.status, '', 'the other page asked for nothing');
    assert.equal(await c.page.evaluate(() => window.__rill.rate()), 48000);

    // The charts restarted at the new rate: the plot's x is tick / 48000,
    // a two-second window at the device's clock, and it keeps moving.
    const s1 = await waitChart(page, 'frame', 4096, 101);
    onTickLine(s1, 48000, 'frame at 48000 Hz');
    assert.ok(Math.abs(s1.xMax - s1.lastTick / 48000) < 0.5, `window ends at ${s1.xMax} s, newest value at ${s1.lastTick / 48000} s`);
    assert.ok(Math.abs(s1.xMax - s1.xMin - 2) < 1e-6, 'a two-second window');
    const ev = await waitChart(page, 'events', 10, 5);
    onTickLine(ev, 48000, 'events at 48000 Hz');
    await sleep(700);
    const s2 = await page.evaluate(() => window.__rill.chart('frame'));
    assert.ok(s2.xMax - s1.xMax > 0.4, `x axis moved from ${s1.xMax} to ${s2.xMax}`);
    assert.ok(s2.received > s1.received);
    onTickLine(s2, 48000, 'frame, later');
    assert.deepEqual((await page.evaluate(() => window.__rill.streaming())).sort(), ['events', 'frame', 'sine']);
    // Play restarted at the new rate, and is fed.
    await page.waitForFunction(() => {
      const c = window.__rill.chart('sine');
      return c.playing && c.player && (c.player.queued > 0 || c.player.underruns > 0);
    }, null, { timeout: 5000 });
    assert.equal(await page.textContent('.chart[data-var="sine"] button.play'), 'Stop');

    // Another client's change (rill audio) back to the start: this page's
    // form and panel follow.
    const back = rillAudio(srv.ws, '--rate', '44100', '--volume', '100', '--buffer-frames', '1024');
    assert.equal(back.code, 0, back.stderr);
    await page.waitForFunction(() => document.querySelector('#audio-rate').value === '44100', null, { timeout: 5000 });
    const f2 = await form(page);
    assert.deepEqual([f2.rate.shown, f2.frames.value, f2.volume.value, f2.volumeShown], ['44100 Hz', '1024', '100', '100']);
    assert.equal((await panel(page))['audio rate'], '44100 Hz');
    assert.equal(await page.evaluate(() => window.__rill.rate()), 44100);
    onTickLine(await waitChart(page, 'frame', 4096, 101), 44100, 'frame back at 44100 Hz');

    assert.deepEqual([...a.errors, ...c.errors], []);
    await page.close();
    await c.page.close();
  });

  it('a value the device does not offer: the server refuses, the page shows its message, nothing changes', async () => {
    const { page, errors } = await openPage(b.browser, `${srv.http}/`);
    await waitLive(page);
    await page.waitForSelector('#audio-form');
    assert.equal(await page.isDisabled('#audio-channels'), true, 'channels is fixed on the demo');

    // A rate the select does not list (put there by hand): refused, with the
    // same sentence `rill audio` prints.
    const cli = rillAudio(srv.ws, '--rate', '12345');
    assert.notEqual(cli.code, 0);
    const refusal = /not changed: (.*)/.exec(cli.stderr)?.[1];
    assert.match(refusal ?? '', /^rate 12345 is not offered by this device \(it offers 8000, .*\)$/);
    await page.evaluate(() => {
      const sel = document.querySelector('#audio-rate');
      const o = document.createElement('option');
      o.value = '12345';
      o.textContent = '12345 Hz';
      sel.appendChild(o);
      sel.value = '12345';
    });
    await page.click('#audio-apply');
    let f = await waitStatus(page);
    assert.equal(f.status, refusal);
    assert.equal(f.statusState, 'error');
    assert.equal(await page.isVisible('#audio-status'), true);
    assert.equal(await page.evaluate(() => window.__rill.rate()), 44100);
    let cfg = await panel(page);
    assert.deepEqual([cfg['audio rate'], cfg['buffer frames'], cfg.volume], ['44100 Hz', '1024', '100']);

    // Buffer frames out of range, sent together with a volume the device
    // would take: the whole change is refused.
    await page.selectOption('#audio-rate', '44100');
    await page.fill('#audio-frames', '70000');
    await page.locator('#audio-volume').fill('20');
    await page.click('#audio-apply');
    f = await waitStatus(page);
    assert.equal(f.status, 'bufferFrames 70000 is out of range (1 to 65536)');
    await sleep(300);
    cfg = await panel(page);
    assert.deepEqual([cfg['audio rate'], cfg['buffer frames'], cfg.volume], ['44100 Hz', '1024', '100']);
    const now = rillAudio(srv.ws);
    assert.deepEqual([now.fields.rate, now.fields['buffer frames'], now.fields.volume], ['44100 Hz', '1024', '100']);
    // The refusal is the form's; the page's error line stays clear.
    assert.equal(await page.textContent('#errors'), '');

    // An entry that is not a number is not sent.
    await page.fill('#audio-frames', '');
    await page.click('#audio-apply');
    assert.equal(await page.textContent('#audio-status'), 'buffer frames: enter a whole number');
    assert.deepEqual(errors, []);
    await page.close();
  });
});

describe('audio configuration form: file source (rate and channels fixed)', () => {
  let srv, dir;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rill-audio-form-'));
    const wav = path.join(dir, 'tone.wav');
    writeWav(wav, 22050, 22050);
    srv = await startServer('--source', `file:${wav}`);
  });
  after(() => teardown(srv, () => fs.rmSync(dir, { recursive: true, force: true })));

  it("shows the file's rate and channels fixed; takes a volume; refuses a rate", async () => {
    const { page, errors } = await openPage(b.browser, `${srv.http}/`);
    await waitLive(page);
    await page.waitForSelector('#audio-form');
    let f = await form(page);
    assert.deepEqual(f.rate, { value: '22050', shown: '22050 Hz', disabled: true, visible: true });
    assert.deepEqual(f.channels, { value: '1', shown: '1', disabled: true, visible: true });
    assert.equal(f.frames.disabled, false);
    assert.equal(f.volume.disabled, false);
    assert.equal(await page.evaluate(() => window.__rill.rate()), 22050);

    await page.locator('#audio-volume').fill('40');
    await page.click('#audio-apply');
    f = await waitStatus(page);
    assert.equal(f.status, 'applied');
    assert.equal((await panel(page)).volume, '40');
    assert.equal(rillAudio(srv.ws).fields.volume, '40');

    // The disabled rate select, enabled by hand: the server still refuses.
    await page.evaluate(() => {
      const sel = document.querySelector('#audio-rate');
      sel.disabled = false;
      const o = document.createElement('option');
      o.value = '48000';
      sel.appendChild(o);
      sel.value = '48000';
    });
    await page.click('#audio-apply');
    f = await waitStatus(page);
    // The form does not send a field the device does not offer; with nothing
    // else changed, nothing is sent.
    assert.equal(f.status, 'no change');
    assert.equal((await panel(page))['audio rate'], '22050 Hz');
    const cli = rillAudio(srv.ws, '--rate', '48000');
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /not changed: the rate is fixed at 22050 Hz on this device$/m);
    assert.deepEqual(errors, []);
    await page.close();
  });
});
