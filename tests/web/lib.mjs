// Helpers for the browser tests: a real `rill serve` and headless Chromium
// (Debian's, driven by playwright-core from web/node_modules; nothing is
// downloaded).
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
const require = createRequire(path.join(REPO, 'web', 'package.json'));
export const { chromium } = require('playwright-core');

export function rillBin() {
  return process.env.RILL_BIN || path.join(REPO, 'build', 'bin', 'rill');
}

// Every server started and not yet stopped. A test file's `after` hook
// stops them through teardown(), which fails the file unless each exits
// with status 0 after SIGINT (under CI's ASan pass, a leak or a bad access
// at exit is a non-zero status): a server is never left running, and its
// exit is never unchecked.
const live = new Set();

/** How a server ended, in words: "" when it exited 0. */
function exitProblem(r) {
  if (r === null) return 'did not exit within 10 s of SIGINT (killed)';
  if (r.signal) return `was killed by ${r.signal}`;
  return r.code === 0 ? '' : `exited with status ${r.code}`;
}

/** Start `rill serve --source demo --port 0` and wait for its port.
 *  stop() sends SIGINT and returns the exit status (a signal's name if one
 *  ended it, null if it hung and was killed); stopChecked() throws, with the
 *  server's output, unless that status is 0. */
export async function startServer(...args) {
  const bin = rillBin();
  if (!fs.existsSync(bin)) throw new Error(`rill binary not found: ${bin} (build it, or set RILL_BIN)`);
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rill-web-'));
  const proc = spawn(bin, ['serve', '--source', 'demo', '--port', '0', '--log-dir', logDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  // Not what keeps node running: a file whose hooks failed must still end
  // (the 'exit' handler below kills what is left, and fails the run).
  proc.unref();
  proc.stdout.unref();
  proc.stderr.unref();
  let out = '';
  let result;
  const srv = {
    pid: proc.pid,
    output: () => out,
    async stop() {
      if (result === undefined) {
        live.delete(srv);
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGINT');
        let timer;
        const r = await Promise.race([exited, new Promise((res) => (timer = setTimeout(() => res(null), 10000)))]);
        clearTimeout(timer);
        if (r === null) {
          proc.kill('SIGKILL');
          await exited;
        }
        fs.rmSync(logDir, { recursive: true, force: true });
        result = r;
      }
      return result === null ? null : result.signal || result.code;
    },
    async stopChecked() {
      await srv.stop();
      const problem = exitProblem(result);
      if (problem) throw new Error(`rill serve ${args.join(' ')} ${problem}; its output:\n${out.slice(-4000)}`);
    },
  };
  live.add(srv);
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rill serve printed no port in 10 s:\n${out}`)), 10000);
    const onData = (d) => {
      out += d;
      const m = /listening on ws:\/\/(?:\[[^\]]+\]|[^\s:/]+):(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => reject(new Error(`rill serve exited with ${code}:\n${out}`)));
  }).catch(async (e) => {
    await srv.stop();
    throw e;
  });
  return Object.assign(srv, { port, http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}` });
}

/** Run `fn(srv)` with a server of its own, then stop it: the test fails if
 *  fn does, or if the server does not exit with status 0 (both said). */
export async function withServer(args, fn) {
  const srv = await startServer(...args);
  let failure;
  try {
    return await fn(srv);
  } catch (e) {
    failure = e;
    throw e;
  } finally {
    try {
      await srv.stopChecked();
    } catch (e) {
      if (!failure) throw e;
      failure.message += `\n(and then: ${e.message})`;
    }
  }
}

/** A test file's `after`: run every step (checks, closing the browser,
 *  stopping servers) even when one fails, then stop every server still
 *  running; throw one error naming every failure, so none hides another
 *  and no server is left behind. Server steps: pass the server itself. */
export async function teardown(...steps) {
  const failures = [];
  for (const step of steps) {
    try {
      if (step && typeof step.stopChecked === 'function') await step.stopChecked();
      else if (typeof step === 'function') await step();
    } catch (e) {
      failures.push(e);
    }
  }
  for (const srv of [...live]) {
    try {
      await srv.stopChecked();
      failures.push(new Error(`a rill serve (pid ${srv.pid}) was still running at the end of the file`));
    } catch (e) {
      failures.push(e);
    }
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new Error(failures.map((e) => e.stack || e.message).join('\n---\n'));
}

// A last resort: a server still running when node exits (a file without
// teardown, a crashed hook) is killed, and the run fails.
process.on('exit', () => {
  for (const srv of live) {
    process.exitCode = 1;
    console.error(`rill serve (pid ${srv.pid}) still running at exit: killed`);
    try {
      process.kill(srv.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

export async function launchBrowser() {
  // playwright gives every launch a fresh, empty profile (--user-data-dir).
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
    },
  };
}

/** A page that records console errors and uncaught exceptions. */
export async function openPage(browser, url) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  const resp = await page.goto(url);
  return { page, errors, status: resp ? resp.status() : 0 };
}

/** Wait until the page is live (native hello done and the list received). */
export async function waitLive(page, timeout = 10000) {
  await page.waitForFunction(() => window.__rill && window.__rill.state() === 'native' && window.__rill.vars().length > 0, null, {
    timeout,
  });
}

export function rillLs(url, ...args) {
  return execFileSync(rillBin(), ['ls', '--url', url, ...args], { encoding: 'utf8' });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
