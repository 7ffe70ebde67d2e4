// Execute / Stop in the page (rill serve --allow-exec): refused with a
// clear message by a server without it; with it (and its token) the
// program's output reaches the console pane and Stop ends it.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, openPage, startServer, teardown, waitLive } from './lib.mjs';

const servers = [];
let b;
after(() => teardown(() => b?.close(), ...servers));

async function execute(page, line) {
  await page.fill('.exec-cmd', line);
  await page.click('.exec-run');
}

const consoleText = (page) => page.textContent('.exec-console');

describe('running a program from the page', () => {
  it('is refused, with the reason in the console, without --allow-exec', async () => {
    const srv = await startServer();
    servers.push(srv);
    b = await launchBrowser();
    const { page, errors } = await openPage(b.browser, `${srv.http}/`);
    await waitLive(page);
    await execute(page, 'echo hi');
    await page.waitForFunction(() => document.querySelector('.exec-console').textContent.includes('refused'), null, { timeout: 10000 });
    const text = await consoleText(page);
    assert.match(text, /exec: refused: this server does not run programs \(start it with rill serve --allow-exec --token SECRET/);
    assert.doesNotMatch(text, /^hi$/m);
    assert.equal(await page.textContent('.exec-status'), 'refused');
    assert.deepEqual(errors, []);
  });

  it('with --allow-exec and the token: output in the console, exit status, Stop kills it', async () => {
    const srv = await startServer('--allow-exec', '--token', 's3cret');
    servers.push(srv);
    const { page, errors } = await openPage(b.browser, `${srv.http}/?token=s3cret`);
    await waitLive(page);
    await execute(page, `sh -c 'echo hello from the device; echo oops >&2; exit 2'`);
    await page.waitForFunction(() => document.querySelector('.exec-console').textContent.includes('[exited with code 2]'), null, {
      timeout: 10000,
    });
    const text = await consoleText(page);
    assert.match(text, /hello from the device\n/);
    assert.equal(await page.textContent('.exec-console .exec-stderr'), 'oops\n');
    await execute(page, 'sleep 60');
    await page.waitForFunction(() => document.querySelector('.exec-status').textContent.startsWith('running'), null, { timeout: 10000 });
    assert.equal(await page.isEnabled('.exec-stop'), true);
    await page.click('.exec-stop');
    await page.waitForFunction(() => document.querySelector('.exec-console').textContent.includes('[ended by signal 15]'), null, {
      timeout: 10000,
    });
    assert.equal(await page.isEnabled('.exec-stop'), false);
    assert.deepEqual(errors, []);
  });
});
