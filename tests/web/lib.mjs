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

/** Start `rill serve --source demo --port 0` and wait for its port. A
 * first argument that is an object gives extra environment variables. */
export async function startServer(...args) {
  const env = args.length && typeof args[0] === 'object' ? args.shift() : {};
  const bin = rillBin();
  if (!fs.existsSync(bin)) throw new Error(`rill binary not found: ${bin} (build it, or set RILL_BIN)`);
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rill-web-'));
  const proc = spawn(bin, ['serve', '--source', 'demo', '--port', '0', '--log-dir', logDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
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
  });
  return {
    port,
    pid: proc.pid,
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}`,
    output: () => out,
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill('SIGINT');
      const code = await new Promise((r) => proc.on('exit', (c) => r(c)));
      fs.rmSync(logDir, { recursive: true, force: true });
      return code;
    },
  };
}

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
