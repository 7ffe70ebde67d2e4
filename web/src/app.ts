// The dashboard: connects to the server the page came from (native mode),
// lists the variables, streams the ones the user clicks into live charts,
// shows the latency and drops, the audio configuration, and one tab per
// data handler.

import { AudioForm } from './audioform';
import { Connection, ServerAddress, controlUrl } from './connection';
import { HandlerManager } from './handlers/registry';
import { LiveChart } from './livechart';
import { LiveClock, latencyClass } from './latency';
import {
  ControlMessage,
  DASH_SUBSCRIBE,
  HELLO,
  HandlerFrame,
  KIND_END,
  ListReply,
  NativeMessage,
  VarInfo,
  listCommand,
  unwatchCommand,
  watchCommand,
} from './protocol';
import { WorkletPlayer } from './player';
import { Series } from './series';
import { concat, encodeWav } from './wav';

const LIST_PERIOD_MS = 1000;
const WINDOW_SECONDS = 2;

interface Stream {
  v: VarInfo;
  series: Series;
  chart: LiveChart;
  dropped: number;
  lastSeq: number;
  buffers: number;
  ended: boolean;
  /** Playing through the speakers (dense variables). */
  player: WorkletPlayer | null;
  /** Recording: the values received since Record was pressed. */
  rec: Float32Array[] | null;
  playButton: HTMLButtonElement;
  recButton: HTMLButtonElement;
}

/** Set an element's text or class only when it changes: an unchanged write
 * still costs the page a style, layout and paint pass. */
function setText(e: Element, text: string): void {
  if (e.textContent !== text) e.textContent = text;
}
function setClass(e: Element, cls: string): void {
  if (e.className !== cls) e.className = cls;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Values per buffer asked for a variable: about 25-50 buffers a second for
 * dense variables (each message costs the page ~85 us of main thread, so
 * fewer, longer ones draw faster), small buffers for sparse ones (their
 * values may be rare). */
export function bufferLength(rate: number, sparse: boolean, maxValues = 65536): number {
  if (sparse) return 16;
  let n = 1;
  while (n * 2 <= rate / 25 && n * 2 <= maxValues) n *= 2;
  return n;
}

export class App {
  readonly clock = new LiveClock();
  readonly handlers: HandlerManager;
  private conn: Connection | null = null;
  private vars: VarInfo[] = [];
  private streams = new Map<number, Stream>();
  private wanted = new Set<string>(); // names to stream, kept across reconnects
  private rate = 0;
  private project = '';
  private hello: { maxValues: number; queueBytes: number; sampleRate: number } | null = null;
  private latestTick = 0;
  private audio: Record<string, unknown> | undefined;
  private audioForm = new AudioForm((text) => this.conn?.send(text) ?? false);
  private listId = 1;
  private listTimer = 0;
  private retryMs = 500;
  private droppedTotal = 0;
  private droppedNotices = 0;
  private dashAvailable: boolean | null = null;
  private protocolErrors = 0;
  private lastError = '';
  private state: 'connecting' | 'open' | 'native' | 'closed' = 'connecting';
  private tab: 'vars' | number = 'vars';
  private ui: Record<string, HTMLElement> = {};
  private rowsBuilt = '';
  private lastBadges = 0;
  /** Every panel shown and drawn at once (benchmarks: all on screen). */
  private showAll = false;
  /** Benchmark probe: the newest tick of each dense buffer received, until
   * the frame that draws it, then its lag behind live (ms) at that moment,
   * on the device clock as estimated when the probe started (t0, tick0): a
   * page that falls behind for long would drag the running estimate along. */
  private probe: { pending: Float64Array; np: number; lags: Float64Array; n: number; t0: number; tick0: number } | null = null;

  constructor(
    private root: HTMLElement,
    private address: ServerAddress,
  ) {
    this.build();
    this.handlers = new HandlerManager(this.ui.tabs, this.ui.panels);
    this.handlers.onSelect = (id) => this.select(id);
    this.select('vars');
  }

  // ---- UI skeleton --------------------------------------------------------------

  private build(): void {
    const header = el('header');
    const title = el('h1', '', 'rill');
    const project = el('span', 'project', '');
    const conn = el('span', 'badge conn none', 'connecting');
    conn.id = 'conn-badge';
    const lat = el('span', 'badge latency none', 'latency —');
    lat.id = 'latency-badge';
    lat.title = 'how far behind live the page is: the device tick now (estimated) minus the newest tick received';
    const drops = el('span', 'badge drops none', 'drops 0');
    drops.id = 'drops-badge';
    drops.title = 'buffers the server dropped for this page (announced by the native protocol)';
    header.append(title, project, conn, lat, drops);

    const tabs = el('nav', 'tabs');
    const varsTab = el('button', 'tab', 'Variables');
    varsTab.dataset.tab = 'vars';
    varsTab.onclick = () => this.select('vars');
    tabs.appendChild(varsTab);

    const panels = el('main', 'panels');
    const varsPanel = el('section', 'panel vars-panel');
    varsPanel.dataset.tab = 'vars';
    const side = el('div', 'side');
    const cfg = el('div', 'card config');
    cfg.id = 'config';
    const cfgRows = el('dl');
    cfg.append(el('h2', '', 'Audio configuration'), cfgRows, this.audioForm.root);
    const table = el('table', 'vars');
    table.id = 'vars';
    table.innerHTML =
      '<thead><tr><th>name</th><th>type</th><th>timestamps</th><th>state</th><th>drops</th></tr></thead><tbody></tbody>';
    const hint = el('p', 'hint', 'Click a variable to stream it into a live chart; click again to stop.');
    side.append(cfg, hint, table);
    const charts = el('div', 'charts');
    charts.id = 'charts';
    const errors = el('div', 'errors');
    errors.id = 'errors';
    varsPanel.append(side, charts);
    panels.append(varsPanel);
    this.root.append(header, tabs, errors, panels);
    Object.assign(this.ui, { project, conn, lat, drops, tabs, varsTab, panels, varsPanel, cfg, cfgRows, table, charts, errors });
  }

  select(t: 'vars' | number): void {
    this.tab = t;
    this.handlers.selected = t === 'vars' ? null : t;
    this.ui.varsPanel.hidden = !this.showAll && t !== 'vars';
    this.ui.varsTab.classList.toggle('active', t === 'vars');
    for (const h of this.handlers.handlers.values()) {
      h.panel.hidden = !this.showAll && h.id !== t;
      h.tab.classList.toggle('active', h.id === t);
    }
  }

  // ---- Connection -----------------------------------------------------------------

  start(): void {
    this.connect();
    const frame = () => {
      this.draw();
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
    window.addEventListener('resize', () => {
      for (const s of this.streams.values()) s.chart.resize(this.chartWidth());
    });
  }

  private connect(): void {
    this.state = 'connecting';
    const conn = new Connection(controlUrl(this.address), {
      onOpen: () => {
        this.state = 'open';
        this.retryMs = 500;
        conn.send(HELLO);
      },
      onClose: (reason) => this.closed(conn, reason),
      onControl: (m) => this.control(m),
      onNative: (m) => this.native(m),
      onHandlerFrame: (f) => this.handlerFrame(f),
      onProtocolError: (e) => this.protocolError(e),
    });
    this.conn = conn;
    conn.open();
  }

  private closed(conn: Connection, reason: string): void {
    if (conn !== this.conn) return;
    this.state = 'closed';
    this.lastError = `disconnected: ${reason}; retrying`;
    clearInterval(this.listTimer);
    for (const s of this.streams.values()) {
      s.player?.stop();
      s.chart.destroy();
    }
    this.streams.clear();
    this.handlers.clear();
    if (this.tab !== 'vars') this.select('vars');
    setTimeout(() => this.connect(), this.retryMs);
    this.retryMs = Math.min(5000, this.retryMs * 2);
  }

  private send(text: string): void {
    this.conn?.send(text);
  }

  /** A message as if from the server (tests replay recorded messages). */
  feed(data: string | ArrayBuffer): void {
    this.conn?.dispatch(data);
  }

  private protocolError(e: string): void {
    this.protocolErrors++;
    this.lastError = `protocol: ${e}`;
  }

  private control(m: ControlMessage): void {
    switch (m.t) {
      case 'connection':
        this.project = m.projectName;
        break;
      case 'hello':
        this.state = 'native';
        this.hello = m;
        this.rate = m.sampleRate;
        this.clock.reset(m.sampleRate);
        this.handlers.sampleRate = m.sampleRate;
        this.send(DASH_SUBSCRIBE);
        this.requestList();
        clearInterval(this.listTimer);
        this.listTimer = window.setInterval(() => this.requestList(), LIST_PERIOD_MS);
        break;
      case 'list':
        this.list(m.list);
        break;
      case 'dropped':
        this.droppedNotices = Math.max(this.droppedNotices, m.total);
        break;
      case 'error':
        if (this.audioForm.control(m)) break; // a refused audio change: the form shows it
        // A server without the dashboard relay refuses the subscription.
        if (m.id === 'dash') this.dashAvailable = false;
        else this.lastError = `server: ${m.message}`;
        break;
      case 'dash':
        this.dashAvailable = true;
        break;
      case 'handler': {
        const first = this.handlers.handlers.size === 0;
        this.handlers.create(m.handler);
        // Show the new tab only if the user has not picked one yet.
        if (first && this.tab === 'vars' && this.streams.size === 0) this.select(m.handler.id);
        else this.select(this.tab);
        break;
      }
      case 'handler-data':
        if (!this.handlers.data(m.id, m.data, m.tick)) this.lastError = `data for unknown handler ${m.id}`;
        else if (m.tick !== undefined) this.clock.observe(m.tick, performance.now());
        break;
      case 'audio':
        if (m.sampleRate) this.setRate(m.sampleRate); // the device's rate follows the audio's
        this.audio = m.audio;
        this.audioForm.update(m.audio, true);
        this.renderConfig();
        break;
      case 'audio-config': // the reply to the form's change (after the audio event)
        this.audioForm.control(m);
        if (m.audio) this.audio = m.audio;
        this.renderConfig();
        break;
      case 'handler-remove':
        this.handlers.remove(m.id);
        if (this.tab === m.id) this.select('vars');
        break;
      default:
        break;
    }
  }

  private requestList(): void {
    this.send(listCommand(this.listId++));
  }

  private list(l: ListReply): void {
    const now = performance.now();
    this.setRate(l.sampleRate);
    this.latestTick = l.timestamp;
    this.clock.observe(l.timestamp, now);
    this.vars = l.vars;
    this.audio = l.audio;
    this.audioForm.update(l.audio, false);
    // Streams wanted (from before a reconnect) start once the list is known.
    const start: VarInfo[] = [];
    for (const v of l.vars) if (this.wanted.has(v.name) && !this.streams.has(v.id)) start.push(v);
    if (start.length) this.startStreams(start);
    this.renderVars();
    this.renderConfig();
  }

  /** The device's rate, from a list reply or an audio event (it changes with
   * the audio's, PROTOCOL.md §8). Streams running restart at the new one:
   * their charts (ticks / rate), buffer lengths and Play; a recording is
   * saved first, at the rate it was recorded at. */
  private setRate(rate: number): void {
    if (!(rate > 0) || rate === this.rate) return;
    const running = [...this.streams.values()];
    for (const s of running) if (s.rec) this.toggleRecord(s);
    this.rate = rate;
    this.clock.reset(rate);
    this.handlers.sampleRate = rate;
    if (!running.length) return;
    for (const s of running) {
      s.player?.stop();
      s.chart.destroy();
      this.streams.delete(s.v.id);
    }
    this.startStreams(running.map((s) => s.v)); // watch again: the new lengths
    for (const s of running) {
      const n = this.streams.get(s.v.id);
      if (s.player && n) void this.togglePlay(n);
    }
  }

  // ---- Streams --------------------------------------------------------------------

  private chartWidth(): number {
    const w = this.ui.charts.clientWidth || 900;
    return Math.max(300, Math.min(1400, w - 20));
  }

  toggle(name: string): void {
    const v = this.vars.find((x) => x.name === name);
    if (!v) return;
    if (this.streams.has(v.id)) this.stopStream(v);
    else this.startStreams([v]);
  }

  private startStreams(vs: VarInfo[]): void {
    const lengths = vs.map((v) => bufferLength(this.rate, v.timestampMode === 1, this.hello?.maxValues));
    for (const v of vs) {
      this.wanted.add(v.name);
      const box = el('div', 'chart');
      box.dataset.var = v.name;
      const tools = el('div', 'chart-tools');
      const playButton = el('button', 'play', 'Play');
      const recButton = el('button', 'record', 'Record');
      playButton.title = `play ${v.name} as audio at ${this.rate} Hz`;
      recButton.title = `record ${v.name} to a WAV file (${this.rate} Hz, 16-bit); press again to download`;
      if (v.timestampMode === 1) playButton.disabled = recButton.disabled = true; // no sample clock
      tools.append(el('span', 'chart-name', v.name), playButton, recButton);
      box.appendChild(tools);
      this.ui.charts.appendChild(box);
      const cap = Math.ceil(this.rate * WINDOW_SECONDS * 1.25) + 1024;
      const series = new Series(cap);
      const chart = new LiveChart(box, v.name, series, v.timestampMode === 1, WINDOW_SECONDS, this.chartWidth());
      const s: Stream = { v, series, chart, dropped: 0, lastSeq: -1, buffers: 0, ended: false, player: null, rec: null, playButton, recButton };
      playButton.onclick = () => void this.togglePlay(s);
      recButton.onclick = () => this.toggleRecord(s);
      this.streams.set(v.id, s);
    }
    this.send(watchCommand(vs.map((v) => v.name), lengths));
    this.renderVars(true);
  }

  private async togglePlay(s: Stream): Promise<void> {
    if (s.player) {
      s.player.stop();
      s.player = null;
      s.playButton.textContent = 'Play';
      return;
    }
    s.playButton.disabled = true;
    try {
      s.player = await WorkletPlayer.start(1, this.rate);
      s.playButton.textContent = 'Stop';
    } catch (e) {
      this.lastError = `cannot play ${s.v.name}: ${(e as Error).message}`;
    } finally {
      s.playButton.disabled = false;
    }
  }

  private toggleRecord(s: Stream): void {
    if (!s.rec) {
      s.rec = [];
      s.recButton.textContent = 'Stop and save';
      s.recButton.classList.add('recording');
      return;
    }
    const wav = encodeWav([concat(s.rec)], this.rate);
    s.rec = null;
    s.recButton.textContent = 'Record';
    s.recButton.classList.remove('recording');
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([wav], { type: 'audio/wav' }));
    a.download = `${s.v.name}.wav`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }

  private stopStream(v: VarInfo): void {
    this.wanted.delete(v.name);
    const s = this.streams.get(v.id);
    s?.player?.stop();
    if (s) s.chart.destroy();
    this.streams.delete(v.id);
    this.send(unwatchCommand([v.name]));
    this.renderVars(true);
  }

  private native(m: NativeMessage): void {
    const s = this.streams.get(m.varId);
    if (!s) return; // a buffer still in flight after unwatch
    s.dropped += m.dropped;
    this.droppedTotal += m.dropped;
    s.lastSeq = m.seq;
    if (m.kind === KIND_END || m.last) s.ended = true;
    if (m.count === 0) return;
    s.buffers++;
    s.series.pushMessage(m);
    if ((s.player || s.rec) && !m.sparse) {
      if (s.rec) s.rec.push(Float32Array.from(m.values));
      if (s.player) s.player.push([Float32Array.from(m.values)]);
    }
    this.clock.observe(s.series.lastTick, performance.now());
    const p = this.probe;
    if (p && !m.sparse && p.np < p.pending.length) p.pending[p.np++] = s.series.lastTick;
  }

  private handlerFrame(f: HandlerFrame): void {
    if (!this.handlers.frame(f)) this.lastError = `binary data for unknown handler ${f.handler}`;
    else if (f.tick > 0) this.clock.observe(f.tick, performance.now());
  }

  // ---- Drawing ----------------------------------------------------------------------

  /** The lag of the page behind live, in ms: over the dense streams (a sparse
   * one may just be quiet), else the handlers that carry ticks. */
  latencyMs(now = performance.now()): number {
    let newest = -1;
    for (const s of this.streams.values()) if (s.v.timestampMode === 0) newest = Math.max(newest, s.series.lastTick);
    if (newest < 0) for (const h of this.handlers.handlers.values()) newest = Math.max(newest, h.lastTick);
    return newest < 0 ? NaN : this.clock.lagMs(newest, now);
  }

  private draw(): void {
    const now = performance.now();
    const live = this.clock.liveTick(now);
    if (this.tab === 'vars' || this.showAll) {
      for (const s of this.streams.values()) {
        // Scroll with the device's clock; without an estimate, follow the data.
        const t1 = Number.isFinite(live) ? live : s.series.lastTick;
        s.chart.draw(t1, this.rate);
      }
      const p = this.probe;
      if (p && p.np > 0) {
        const drawn = performance.now();
        const live = Number.isFinite(p.tick0) ? p.tick0 + ((drawn - p.t0) / 1000) * this.rate : this.clock.liveTick(drawn);
        for (let i = 0; i < p.np && p.n < p.lags.length; i++) p.lags[p.n++] = ((live - p.pending[i]) / this.rate) * 1000;
        p.np = 0;
      }
    }
    this.handlers.draw();
    if (now - this.lastBadges > 200) {
      this.lastBadges = now;
      this.renderBadges(now);
    }
  }

  private renderBadges(now: number): void {
    const { conn, lat, drops, project, errors } = this.ui;
    setText(project, this.project ? `${this.project} @ ${this.address.base}` : this.address.base);
    const connText = { connecting: 'connecting', open: 'connected', native: 'live', closed: 'disconnected' }[this.state];
    setText(conn, connText);
    setClass(conn, `badge conn ${this.state === 'native' ? 'ok' : this.state === 'closed' ? 'bad' : 'warn'}`);
    const ms = this.latencyMs(now);
    setText(lat, Number.isFinite(ms) ? `latency ${Math.ceil(ms)} ms` : 'latency —');
    setClass(lat, `badge latency ${latencyClass(ms)}`);
    lat.dataset.ms = Number.isFinite(ms) ? String(ms) : '';
    const total = Math.max(this.droppedTotal, this.droppedNotices);
    setText(drops, `drops ${total}`);
    setClass(drops, `badge drops ${total > 0 ? 'warn' : 'ok'}`);
    drops.dataset.count = String(total);
    setText(errors, this.lastError);
    this.renderVars();
  }

  private renderVars(force = false): void {
    const tbody = this.ui.table.querySelector('tbody')!;
    const key = this.vars.map((v) => `${v.id}:${v.name}:${v.type}:${v.timestampMode}`).join('|');
    if (force || key !== this.rowsBuilt) {
      this.rowsBuilt = key;
      tbody.textContent = '';
      for (const v of this.vars) {
        const tr = el('tr');
        tr.dataset.var = v.name;
        tr.onclick = () => this.toggle(v.name);
        tr.append(
          el('td', 'name', v.name),
          el('td', 'type', v.type),
          el('td', 'mode', v.timestampMode === 1 ? 'sparse' : 'dense'),
          el('td', 'state', ''),
          el('td', 'drops', '0'),
        );
        tbody.appendChild(tr);
      }
    }
    const rows = tbody.children;
    for (let i = 0; i < this.vars.length && i < rows.length; i++) {
      const v = this.vars[i];
      const s = this.streams.get(v.id);
      const tr = rows[i] as HTMLElement;
      tr.classList.toggle('streaming', !!s);
      const state = [s ? 'streaming' : v.watched ? 'watched' : '', v.logged ? 'logged' : '', v.controlled ? 'controlled' : '', v.monitor ? `monitor ${v.monitor}` : '']
        .filter(Boolean)
        .join(', ');
      setText(tr.children[3], state || 'idle');
      setText(tr.children[4], String(s ? s.dropped : 0));
    }
  }

  private renderConfig(): void {
    const rows: [string, string][] = [
      ['sample rate', this.rate ? `${this.rate} Hz` : '—'],
      ['device tick', String(this.latestTick)],
      ['variables', String(this.vars.length)],
    ];
    const a = this.audio ?? {};
    const f = (k: string) => (a[k] === undefined ? '—' : String(a[k]));
    rows.push(['audio rate', a.rate === undefined ? '—' : `${f('rate')} Hz`], ['channels', f('channels')], ['buffer frames', f('bufferFrames')], ['volume', f('volume')]);
    if (Array.isArray(a.variables)) rows.push(['channel variables', a.variables.map(String).join(', ')]);
    if (this.hello) rows.push(['queue', `${(this.hello.queueBytes / 1048576).toFixed(1)} MiB`]);
    rows.push(['handlers', this.dashAvailable === false ? 'not offered by this server' : String(this.handlers.handlers.size)]);
    // Only the rows are rebuilt: the form below keeps its entries and focus.
    const dl = el('dl');
    for (const [k, v] of rows) {
      const dt = el('dt', '', k);
      const dd = el('dd', '', v);
      dd.dataset.key = k;
      dl.append(dt, dd);
    }
    this.ui.cfgRows.replaceWith(dl);
    this.ui.cfgRows = dl;
  }

  // ---- For tests ------------------------------------------------------------------------

  testApi() {
    return {
      state: () => this.state,
      vars: () => this.vars.map((v) => ({ name: v.name, type: v.type, timestampMode: v.timestampMode })),
      streaming: () => [...this.streams.values()].map((s) => s.v.name),
      chart: (name: string) => {
        for (const s of this.streams.values())
          if (s.v.name === name)
            return {
              ...s.chart.snapshot(),
              received: s.series.received,
              buffers: s.buffers,
              dropped: s.dropped,
              lastTick: s.series.lastTick,
              playing: s.player !== null,
              player: s.player?.stats ?? null,
              recording: s.rec ? s.rec.reduce((n, c) => n + c.length, 0) : null,
            };
        return null;
      },
      latencyMs: () => this.latencyMs(),
      rate: () => this.rate,
      handlerIds: () => [...this.handlers.handlers.keys()],
      handler: (id: number) => this.handlers.snapshot(id),
      select: (t: 'vars' | number) => this.select(t),
      feed: (data: string) => this.feed(data),
      feedBase64: (b64: string) => {
        const bin = atob(b64);
        const buf = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
        this.feed(buf.buffer);
      },
      /** Show and draw every panel at once (the variables and each handler tab). */
      showAll: (on: boolean) => {
        this.showAll = on;
        this.select(this.tab);
        for (const s of this.streams.values()) s.chart.resize(this.chartWidth());
      },
      /** Start recording, for every dense buffer, its lag behind live (ms) when
       * the charts that show it are drawn; latencyTake() returns them. The
       * device clock is the estimate now, extrapolated (start it while the
       * page keeps up). */
      latencyProbe: (capacity = 1 << 17) => {
        const t0 = performance.now();
        this.probe = { pending: new Float64Array(4096), np: 0, lags: new Float64Array(capacity), n: 0, t0, tick0: this.clock.liveTick(t0) };
      },
      latencyTake: () => {
        const p = this.probe;
        if (!p) return [];
        const out = Array.from(p.lags.subarray(0, p.n));
        p.n = 0;
        return out;
      },
      protocolErrors: () => this.protocolErrors,
      lastError: () => this.lastError,
      audioConfig: () => {
        const out: Record<string, string> = {};
        for (const dd of this.ui.cfg.querySelectorAll('dd')) out[(dd as HTMLElement).dataset.key ?? ''] = dd.textContent ?? '';
        return out;
      },
    };
  }
}
