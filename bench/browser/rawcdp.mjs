// The dashboard benchmark's browser, driven over the Chrome DevTools
// Protocol itself (a pipe, --remote-debugging-pipe) instead of through
// Playwright. Playwright enables the Network domain on every page and
// worker and has no option to leave it off, so with it Chromium encodes
// every WebSocket message the page receives (~375 a second here) and sends
// it through the browser process to the driver: work a user's browser
// never does, counted in the benchmark's Chromium figure. This driver
// enables only what the benchmark reads (Page, Runtime for console errors,
// and the domains the benchmark asks for itself: Performance, HeapProfiler,
// Profiler, Tracing).
//
// It offers the part of Playwright's API the benchmark uses, so one
// benchmark runs on either (RILL_BENCH_BROWSER_DRIVER=playwright):
//   launchRawBrowser() -> { browser }; browser.newPage({ viewport }),
//   browser.close(); page.goto, evaluate, waitForFunction, click,
//   setViewportSize, screenshot, on('console' | 'pageerror'),
//   page.context().newCDPSession(page) -> { send },
//   page.context().browser().startTracing(page, { path, categories }),
//   stopTracing().
// The switches are Playwright's for Chromium that bear on a page's timers,
// rendering and background work, plus the browser tests' own.
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const SWITCHES = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-background-networking',
  '--disable-background-timer-throttling',
  '--disable-backgrounding-occluded-windows',
  '--disable-renderer-backgrounding',
  '--disable-back-forward-cache',
  '--disable-breakpad',
  '--disable-component-update',
  '--disable-component-extensions-with-background-pages',
  '--disable-default-apps',
  '--disable-dev-shm-usage',
  '--disable-extensions',
  '--disable-hang-monitor',
  '--disable-ipc-flooding-protection',
  '--disable-popup-blocking',
  '--disable-sync',
  '--force-color-profile=srgb',
  '--metrics-recording-only',
  '--password-store=basic',
  '--use-mock-keychain',
  '--autoplay-policy=no-user-gesture-required',
  '--hide-scrollbars',
  '--mute-audio',
  '--no-startup-window',
  '--remote-debugging-pipe',
];

/** Values through Runtime.evaluate's JSON: numbers that are not finite
 * and typed arrays survive (as they do through Playwright). */
const ENCODE = `(v) => JSON.stringify(v, (k, x) =>
  typeof x === 'number' && !Number.isFinite(x) ? { __rawcdp_number: String(x) }
  : ArrayBuffer.isView(x) ? Array.from(x) : x)`;
const decode = (text) =>
  text === undefined ? undefined : JSON.parse(text, (k, x) => (x && typeof x === 'object' && '__rawcdp_number' in x ? Number(x.__rawcdp_number) : x));

class Connection extends EventEmitter {
  constructor(write, read) {
    super();
    this.write = write;
    this.nextId = 1;
    this.pending = new Map();
    let buf = '';
    read.setEncoding('utf8');
    read.on('data', (chunk) => {
      buf += chunk;
      for (let end = buf.indexOf('\0'); end >= 0; end = buf.indexOf('\0')) {
        const msg = JSON.parse(buf.slice(0, end));
        buf = buf.slice(end + 1);
        if (msg.id !== undefined) {
          const p = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (!p) continue;
          if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
          else p.resolve(msg.result);
        } else this.emit('event', msg);
      }
    });
    read.on('close', () => {
      for (const p of this.pending.values()) p.reject(new Error(`${p.method}: the browser closed`));
      this.pending.clear();
    });
  }

  send(method, params = {}, sessionId = undefined) {
    const id = this.nextId++;
    const msg = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.write.write(JSON.stringify(msg) + '\0');
    });
  }
}

class RawPage extends EventEmitter {
  constructor(browser, conn, sessionId, targetId) {
    super();
    this.targetId = targetId;
    this.browser = browser;
    this.conn = conn;
    this.sessionId = sessionId;
    this.loaded = null;
    conn.on('event', (e) => {
      if (e.sessionId !== sessionId) return;
      if (e.method === 'Page.loadEventFired' && this.loaded) this.loaded();
      else if (e.method === 'Runtime.consoleAPICalled' && e.params.type === 'error') {
        const text = e.params.args.map((a) => (a.value !== undefined ? String(a.value) : a.description || '')).join(' ');
        this.emit('console', { type: () => 'error', text: () => text });
      } else if (e.method === 'Runtime.exceptionThrown') {
        const d = e.params.exceptionDetails;
        this.emit('pageerror', new Error(d.exception?.description || d.text));
      }
    });
  }

  send(method, params) {
    return this.conn.send(method, params, this.sessionId);
  }

  async goto(url) {
    const loaded = new Promise((resolve) => (this.loaded = resolve));
    const r = await this.send('Page.navigate', { url });
    if (r.errorText) throw new Error(`${url}: ${r.errorText}`);
    await loaded;
    this.loaded = null;
  }

  async evaluate(fn, arg) {
    const call = `(${fn})(${arg === undefined ? '' : JSON.stringify(arg)})`;
    const r = await this.send('Runtime.evaluate', {
      expression: `(async () => (${ENCODE})(await ${call}))()`,
      awaitPromise: true,
      returnByValue: true,
    });
    if (r.exceptionDetails) throw new Error(`evaluate: ${r.exceptionDetails.exception?.description || r.exceptionDetails.text}`);
    return decode(r.result.value);
  }

  async waitForFunction(fn, arg = undefined, { timeout = 30000 } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
      if (await this.evaluate(fn, arg ?? undefined)) return;
      if (Date.now() > deadline) throw new Error(`waitForFunction: not true within ${timeout} ms: ${fn}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** A real click in the middle of the element (scrolled into view). */
  async click(selector) {
    const at = await this.evaluate((sel) => {
      const el = document.querySelector(sel);
      if (!el) return null;
      el.scrollIntoView({ block: 'center', inline: 'center' });
      const r = el.getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
    }, selector);
    if (!at) throw new Error(`click: no element matches ${selector}`);
    const ev = { x: at.x, y: at.y, button: 'left', clickCount: 1 };
    await this.send('Input.dispatchMouseEvent', { type: 'mouseMoved', x: at.x, y: at.y });
    await this.send('Input.dispatchMouseEvent', { type: 'mousePressed', ...ev });
    await this.send('Input.dispatchMouseEvent', { type: 'mouseReleased', ...ev });
  }

  /** As Playwright sizes a page: its window (the surface the display
   * compositor draws) and its viewport both. */
  async setViewportSize({ width, height }) {
    const { windowId } = await this.conn.send('Browser.getWindowForTarget', { targetId: this.targetId });
    await this.conn.send('Browser.setWindowBounds', { windowId, bounds: { width, height } });
    await this.send('Emulation.setDeviceMetricsOverride', { width, height, screenWidth: width, screenHeight: height, deviceScaleFactor: 1, mobile: false });
  }

  async screenshot({ path: file }) {
    const { data } = await this.send('Page.captureScreenshot', { format: 'png' });
    fs.writeFileSync(file, Buffer.from(data, 'base64'));
  }

  context() {
    return { newCDPSession: async () => ({ send: (m, p) => this.send(m, p) }), browser: () => this.browser };
  }
}

class RawBrowser {
  constructor(proc, conn, dataDir) {
    this.proc = proc;
    this.conn = conn;
    this.dataDir = dataDir;
  }

  async newPage({ viewport } = {}) {
    const { targetId } = await this.conn.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.conn.send('Target.attachToTarget', { targetId, flatten: true });
    const page = new RawPage(this, this.conn, sessionId, targetId);
    await page.send('Page.enable');
    await page.send('Runtime.enable');
    if (viewport) await page.setViewportSize(viewport);
    return page;
  }

  async startTracing(page, { path: file, categories }) {
    this.traceFile = file;
    await this.conn.send('Tracing.start', { categories: categories.join(','), transferMode: 'ReturnAsStream' });
  }

  async stopTracing() {
    const done = new Promise((resolve) => {
      const on = (e) => {
        if (e.method === 'Tracing.tracingComplete') {
          this.conn.off('event', on);
          resolve(e.params.stream);
        }
      };
      this.conn.on('event', on);
    });
    await this.conn.send('Tracing.end');
    const handle = await done;
    const fd = fs.openSync(this.traceFile, 'w');
    try {
      for (;;) {
        const r = await this.conn.send('IO.read', { handle, size: 1 << 20 });
        fs.writeSync(fd, r.base64Encoded ? Buffer.from(r.data, 'base64') : r.data);
        if (r.eof) break;
      }
    } finally {
      fs.closeSync(fd);
      await this.conn.send('IO.close', { handle });
    }
  }

  async close() {
    const exited = new Promise((resolve) => this.proc.once('exit', resolve));
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.conn.send('Browser.close').catch(() => {});
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Launch `chromium` (CHROMIUM, else /usr/bin/chromium) with a fresh profile. */
export async function launchRawBrowser() {
  const exe = process.env.CHROMIUM || '/usr/bin/chromium';
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rill-bench-chromium-'));
  const proc = spawn(exe, [...SWITCHES, `--user-data-dir=${dataDir}`], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
  const conn = new Connection(proc.stdio[3], proc.stdio[4]);
  const failed = new Promise((_, reject) => proc.once('exit', (code) => reject(new Error(`${exe} exited (${code}) before it answered: ${err}`))));
  await Promise.race([conn.send('Browser.getVersion'), failed]);
  failed.catch(() => {});
  return { browser: new RawBrowser(proc, conn, dataDir) };
}
