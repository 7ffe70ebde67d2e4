// The code editor (EasyDSP's): Python scripts using rill.browserinterface,
// run on the device by `rill serve --allow-exec --token`, with the
// examples of python/examples loadable, the output in the console, Stop,
// and the line of a traceback marked. Real python3, real librill.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, launchBrowser, openPage, rillBin, startServer, teardown, waitLive } from './lib.mjs';

// A librill built with ASan or TSan cannot be loaded into an uninstrumented
// python3 (scripts/test.sh skips the Python suites there for the same reason).
const buildDir = path.resolve(path.dirname(rillBin()), '..');
const cache = path.join(buildDir, 'CMakeCache.txt');
const sanitized = fs.existsSync(cache) && /^RILL_(ASAN|TSAN):BOOL=ON/m.test(fs.readFileSync(cache, 'utf8'));

let srv, b, page, errors;
const TOKEN = 'ed1t0r';
before(async () => {
  if (sanitized) return;
  // The scripts load the librill next to this rill binary.
  const lib = path.resolve(path.dirname(rillBin()), '..', 'src', 'librill.so');
  // Debian's python3 (numpy), as the other Python suites use.
  srv = await startServer({ RILL_LIB: lib }, '--rate', '48000', '--allow-exec', '--token', TOKEN, '--python', '/usr/bin/python3', '--handlers', path.join(REPO, 'examples', 'handlers'));
  b = await launchBrowser();
  ({ page, errors } = await openPage(b.browser, `${srv.http}/?token=${TOKEN}`));
  await waitLive(page);
  await page.evaluate(() => window.__rill.editor.ready());
});
after(() => {
  if (sanitized) return;
  return teardown(
    () => assert.deepEqual(errors, [], 'no console errors in the whole run'),
    () => b?.close(),
    srv,
  );
});

const consoleText = () => page.textContent('.exec-console');
const waitConsole = (text, timeout = 15000) =>
  page.waitForFunction((t) => document.querySelector('.exec-console').textContent.includes(t), text, { timeout });
const handlerNames = () => page.evaluate(() => window.__rill.handlerIds().map((id) => window.__rill.handler(id).name));

describe('the code editor', { skip: sanitized && `${buildDir} is a sanitizer build: its librill cannot load into python3` }, () => {
  it('loads an example from python/examples, runs it: its output in the console, its handlers as tabs; Stop ends it', async () => {
    const examples = await page.evaluate(() => window.__rill.editor.examples());
    const files = examples.map((e) => e.file);
    // python/examples' list.json names them, in its order.
    assert.deepEqual(files.slice(0, 3), ['minimal.py', 'levels.py', 'spectrum.py']);
    assert.equal(examples[1].name, 'Levels');
    await page.selectOption('.editor-examples', 'levels.py');
    await page.waitForFunction(() => document.querySelector('.editor-name').textContent === 'levels.py');
    const code = await page.evaluate(() => window.__rill.editor.code());
    assert.ok(code.startsWith('"""Input levels:'), code.slice(0, 80));
    assert.match(await page.textContent('.editor-example-info'), /^Input levels in dBFS: a meter/);
    await page.click('.editor-run');
    await waitConsole('input: 2 channels at 48000 Hz, buffers of 1024 frames');
    assert.match(await page.textContent('.exec-status'), /^running \(pid \d+\)$/);
    // The script's handlers, relayed to this page, with data flowing.
    await page.waitForFunction(() => {
      const ids = window.__rill.handlerIds();
      return ids.length === 2 && ids.every((id) => window.__rill.handler(id).messages > 5);
    }, null, { timeout: 15000 });
    assert.deepEqual((await handlerNames()).sort(), ['Level history', 'Levels']);
    const levels = await page.evaluate(() => {
      const id = window.__rill.handlerIds().find((i) => window.__rill.handler(i).name === 'Levels');
      return window.__rill.handler(id).drawn.levels;
    });
    assert.equal(levels.length, 2);
    assert.ok(levels.every((l) => l > -40 && l < 0), `levels ${levels} dB`);
    await page.click('.editor-stop');
    await waitConsole('[ended by signal 15]');
    // Its handlers go with it.
    await page.waitForFunction(() => window.__rill.handlerIds().length === 0, null, { timeout: 20000 });
    assert.equal(await page.isEnabled('.editor-stop'), false);
  });

  it('marks the line a traceback points at (the innermost frame of the script), and a syntax error', async () => {
    await page.evaluate(() =>
      window.__rill.editor.code(['"""Fails on purpose."""', 'def f(x):', '    return 1 / x', '', 'print("before")', 'f(0)', ''].join('\n')),
    );
    await page.click('.editor-run');
    await waitConsole('[exited with code 1]');
    assert.match(await consoleText(), /before\n/);
    await page.waitForSelector('.cm-error-line');
    assert.equal(await page.getAttribute('.cm-error-line', 'data-line'), '3');
    assert.equal(await page.textContent('.cm-error-line'), '    return 1 / x');
    assert.equal(await page.textContent('.editor-error'), 'line 3: ZeroDivisionError: division by zero');
    assert.deepEqual(await page.evaluate(() => window.__rill.editor.lastError()), { line: 3, lines: [6, 3], message: 'ZeroDivisionError: division by zero' });
    // A syntax error, from Ctrl+Enter in the editor.
    await page.evaluate(() => window.__rill.editor.code('import os\nx = (\nprint(x)\n'));
    await page.click('.cm-content');
    await page.keyboard.press('Control+Enter');
    await waitConsole('[exited with code 1]');
    await page.waitForFunction(() => window.__rill.editor.markedLine() !== null);
    const err = await page.evaluate(() => window.__rill.editor.lastError());
    assert.equal(err.line, 2);
    assert.match(err.message, /^SyntaxError: /);
    assert.equal(await page.getAttribute('.cm-error-line', 'data-line'), '2');
    // Running again clears the marker.
    await page.evaluate(() => window.__rill.editor.code('print("fine")\n'));
    await page.click('.editor-run');
    await waitConsole('[exited with code 0]');
    assert.equal(await page.locator('.cm-error-line').count(), 0);
    assert.equal(await page.textContent('.editor-error'), '');
  });

  it('a script may use a custom handler type (rill serve --handlers)', async () => {
    await page.evaluate(() =>
      window.__rill.editor.code(
        [
          'import time',
          'import rill.browserinterface as browserinterface',
          'browserinterface.start()',
          'h = browserinterface.add_handler("Needle", "needle", {"min": -60, "max": 0, "unit": "dB"})',
          'h.send_data(-6.5)',
          'print("sent", flush=True)',
          'time.sleep(60)',
          '',
        ].join('\n'),
      ),
    );
    await page.click('.editor-run');
    await waitConsole('sent');
    await page.waitForFunction(() => window.__rill.handlerIds().some((id) => window.__rill.handler(id).type === 'needle' && window.__rill.handler(id).messages > 0), null, { timeout: 20000 });
    const id = await page.evaluate(() => window.__rill.handlerIds().find((i) => window.__rill.handler(i).type === 'needle'));
    const h = await page.evaluate((i) => (window.__rill.select(i), window.__rill.handler(i)), id);
    assert.deepEqual(h.drawn, { value: -6.5, min: -60, max: 0, unit: 'dB' });
    await page.evaluate(() => window.__rill.select('vars'));
    await page.click('.editor-stop');
    await waitConsole('[ended by signal 15]');
  });
});
