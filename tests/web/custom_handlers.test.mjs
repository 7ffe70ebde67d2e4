// Custom handler types (rill serve --handlers DIR): the page loads the
// modules the server lists and handlers of their types work like the
// built-in ones. examples/handlers holds one of rill's model/view kind
// (needle.js) and EasyDSP's own example as it is (customtype.js).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO, launchBrowser, openPage, startServer, teardown, waitLive } from './lib.mjs';
import { create, data, feed, handlerFrame } from './messages.mjs';

let b;
const servers = [];
before(async () => {
  b = await launchBrowser();
});
after(() => teardown(() => b?.close(), ...servers));

const show = (page, id) =>
  page.evaluate((i) => {
    window.__rill.select(i);
    return window.__rill.handler(i);
  }, id);

describe('custom handler types', () => {
  it("loads examples/handlers: a needle meter (rill's model/view) and EasyDSP's customtype, fed like any handler", async () => {
    const srv = await startServer('--handlers', path.join(REPO, 'examples', 'handlers'), '--token', 't0k');
    servers.push(srv);
    const { page, errors } = await openPage(b.browser, `${srv.http}/?token=t0k`);
    await waitLive(page);
    await page.waitForFunction(() => window.__rill.handlerTypes().includes('customtype'), null, { timeout: 20000 });
    const types = await page.evaluate(() => window.__rill.handlerTypes());
    assert.ok(types.includes('needle') && types.includes('customtype'), `types: ${types}`);
    await feed(page, [
      create(1, 'Level', 'needle', { min: -60, max: 0, unit: 'dB' }),
      data(1, -12.5),
      create(2, 'Custom thing', 'customtype', { param1: true, param2: 'hello', param3: [0, 1, 2] }),
      data(2, { newData: { i: 1 } }),
      data(2, ['an', 'array', 'this', 'time']),
    ]);
    const n = await show(page, 1);
    assert.equal(n.type, 'needle');
    assert.deepEqual(n.drawn, { value: -12.5, min: -60, max: 0, unit: 'dB' });
    assert.deepEqual(n.warnings, []);
    // Drawn: the needle at 47.9% of the half circle (-12.5 on -60..0) leans
    // right of vertical, in the meter's blue.
    const px = await page.evaluate(() => {
      const c = document.querySelector('.handler-panel[data-handler="1"] canvas.needle');
      const g = c.getContext('2d');
      const a = Math.PI * (1 + 47.5 / 60);
      const x = Math.round(150 + 100 * Math.cos(a)),
        y = Math.round(155 + 100 * Math.sin(a));
      return Array.from(g.getImageData(x - 1, y - 1, 3, 3).data);
    });
    assert.ok(px.some((v, k) => k % 4 === 2 && v > 150 && px[k - 2] < 80), `needle pixels: ${px}`);
    // A binary frame moves it.
    await feed(page, [handlerFrame({ handler: 1, values: [-3] })]);
    assert.equal((await show(page, 1)).drawn.value, -3);
    // EasyDSP's handler as EasyDSP wrote it: the parameters, then each data.
    const c = await show(page, 2);
    assert.equal(c.type, 'customtype');
    const text = await page.textContent('.handler-panel[data-handler="2"] .handler-body');
    assert.equal(text, '{"param1":true,"param2":"hello","param3":[0,1,2]}{"newData":{"i":1}}["an","array","this","time"]');
    // Wrong data for the needle: a warning in its tab, the page goes on.
    await feed(page, [data(1, 'loud')]);
    assert.deepEqual((await show(page, 1)).warnings, ['needle data must be a number (or a list of one)']);
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('a module that fails to load is reported and the others still work; no --handlers, none loaded', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rill-handlers-'));
    fs.writeFileSync(path.join(dir, 'a_broken.js'), 'export default function () { throw new Error("nope"); }\n');
    fs.copyFileSync(path.join(REPO, 'examples', 'handlers', 'needle.js'), path.join(dir, 'needle.js'));
    const srv = await startServer('--handlers', dir);
    servers.push(srv);
    const { page } = await openPage(b.browser, `${srv.http}/`);
    await waitLive(page);
    await page.waitForFunction(() => window.__rill.lastError().includes('custom handlers') && window.__rill.handlerTypes().includes('needle'), null, { timeout: 20000 });
    assert.equal(await page.evaluate(() => window.__rill.lastError()), 'custom handlers: a_broken.js: nope');
    assert.ok((await page.evaluate(() => window.__rill.handlerTypes())).includes('needle'));
    await page.close();
    const plain = await startServer();
    servers.push(plain);
    const p2 = await openPage(b.browser, `${plain.http}/`);
    await waitLive(p2.page);
    await feed(p2.page, [create(3, 'Level', 'needle', {})]);
    assert.match((await show(p2.page, 3)).warnings.join('') + (await p2.page.textContent('.handler-panel[data-handler="3"] .handler-status')), /unknown handler type "needle"/);
    assert.deepEqual(p2.errors, []);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
