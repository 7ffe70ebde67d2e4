// The dashboard: connects to the server the page came from (native mode),
// lists the variables, streams the ones the user opens into scopes, shows
// the latency and drops, the audio configuration, and one tab per data
// handler. This file only wires the parts together:
//   session.ts    the connection (socket in a worker, hello, list, reconnect)
//   streams.ts    the variables streamed, their values and counters
//   recording.ts  Play and Record of a streamed variable
//   scope/        the charts (scopes) of the variables panel
//   dom.ts        the page's skeleton, badges, table and panels
//   handlers/     the data handlers' tabs (built-in and custom types)
//   testapi.ts    window.__rill, the browser tests' and benchmarks' hook

import { AudioForm } from './audioform';
import type { ServerAddress } from './connection';
import { DashboardDom } from './dom';
import { HandlerManager } from './handlers/registry';
import { LiveClock, latencyClass } from './latency';
import type { ControlMessage, ListReply, VarInfo } from './protocol';
import { StreamTaps } from './recording';
import { ChartSet } from './scope/charts';
import { Session } from './session';
import { Stream, StreamSet } from './streams';

export { bufferLength } from './streams';

/** Longest that other views wait for a frame without chart changes. */
const SYNC_WAIT_MS = 100;

/** With nothing to animate, the page draws on a timer this often (the
 * badges' period) instead of in every animation frame: an idle dashboard
 * left open costs the browser a timer, not 60 frames a second. */
const IDLE_DRAW_MS = 200;

/** How long after the last data, message or input the page keeps drawing
 * in every animation frame (a handler's rate-limited redraw, a chart just
 * opened, a reply on its way). */
const AWAKE_MS = 1000;

/** The benchmark's probe: the newest tick of each dense buffer received,
 * until a frame draws a chart that shows it, then its lag behind live (ms)
 * at that moment, on the device clock as estimated when the probe started
 * (t0, tick0): a page that falls behind for long would drag the running
 * estimate along. The newest value left the server with its buffer, so
 * that lag is the buffer's time from the server to the screen; `ages`
 * holds the same for the buffer's oldest value, which also waited for the
 * buffer to fill. */
interface Probe {
  pending: { stream: Stream; tick: number; first: number }[];
  lags: Float64Array;
  ages: Float64Array;
  n: number;
  t0: number;
  tick0: number;
}

export class App {
  readonly clock = new LiveClock();
  readonly dom: DashboardDom;
  readonly handlers: HandlerManager;
  readonly streams: StreamSet;
  readonly taps = new StreamTaps();
  readonly charts: ChartSet;
  readonly session: Session;
  readonly audioForm: AudioForm;
  vars: VarInfo[] = [];
  rate = 0;
  private latestTick = 0;
  private audio: Record<string, unknown> | undefined;
  lastError = '';
  tab: 'vars' | number = 'vars';
  private lastBadges = 0;
  /** Every panel shown and drawn at once (benchmarks: all on screen). */
  showAll = false;
  probe: Probe | null = null;
  private drawnStreams = new Set<Stream>();
  /** When the handlers' tabs and the badges last had their turn. */
  private lastOther = -Infinity;
  /** The configuration box waits for the badges' turn (a list reply's new
   * device tick, once a second). */
  private configStale = false;
  private configKey = '';
  /** The draw loop: an animation frame is requested (`frameQueued`), or
   * an idle timer runs (`idleTimer`); `awakeUntil` keeps frames coming. */
  private frameQueued = false;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  private awakeUntil = 0;
  /** Animation frames drawn (the browser tests read it). */
  frames = 0;

  constructor(
    root: HTMLElement,
    readonly address: ServerAddress,
    makeWorker: (() => Worker) | null = null,
  ) {
    this.audioForm = new AudioForm((text) => this.session.send(text));
    this.dom = new DashboardDom(root, this.audioForm.root);
    this.dom.onVarClick = (name) => this.charts.toggle(name);
    this.dom.onTab = (t) => this.select(t);
    this.streams = new StreamSet((text) => this.session.send(text));
    this.streams.liveTick = () => this.clock.liveTick(performance.now());
    this.streams.onTick = (tick, sparse) => {
      this.clock.observe(tick, performance.now());
      void sparse;
    };
    this.taps.onError = (msg) => (this.lastError = msg);
    this.charts = new ChartSet(this.dom.charts, this.streams, this.taps, () => this.vars, () => this.dom.chartWidth());
    this.handlers = new HandlerManager(this.dom.tabs, this.dom.panels);
    this.handlers.onSelect = (id) => this.select(id);
    this.session = new Session(
      address,
      {
        live: (h) => {
          this.wake();
          this.streams.maxValues = h.maxValues;
          this.setRate(h.sampleRate);
          this.clock.reset(h.sampleRate);
        },
        control: (m) => {
          // The list reply comes every second: it wakes the page only
          // when the variables changed (list()).
          if (m.t !== 'list') this.wake();
          this.control(m);
        },
        native: (m) => {
          this.wake();
          const s = this.streams.native(m);
          const p = this.probe;
          if (p && s && !m.sparse && m.count > 0 && p.pending.length < 4096) p.pending.push({ stream: s, tick: s.series.lastTick, first: m.ts });
        },
        handlerFrame: (f) => {
          this.wake();
          if (!this.handlers.frame(f)) this.lastError = `binary data for unknown handler ${f.handler}`;
          else if (f.tick > 0) this.clock.observe(f.tick, performance.now());
        },
        closed: () => {
          this.wake();
          for (const s of this.streams.streams.values()) this.taps.drop(s);
          this.streams.clear();
          this.charts.detach();
          this.handlers.clear();
          if (this.tab !== 'vars') this.select('vars');
        },
      },
      makeWorker,
    );
    this.select('vars');
  }

  get state() {
    return this.session.state;
  }

  select(t: 'vars' | number): void {
    this.tab = t;
    this.handlers.selected = t === 'vars' ? null : t;
    this.dom.varsPanel.hidden = !this.showAll && t !== 'vars';
    this.dom.varsTab.classList.toggle('active', t === 'vars');
    for (const h of this.handlers.handlers.values()) {
      h.panel.hidden = !this.showAll && h.id !== t;
      h.tab.classList.toggle('active', h.id === t);
    }
  }

  start(): void {
    this.session.start();
    window.addEventListener('resize', () => {
      this.charts.resize();
      this.wake();
    });
    for (const ev of ['pointerdown', 'pointermove', 'keydown', 'input', 'wheel'])
      window.addEventListener(ev, () => this.wake(), { capture: true, passive: true });
    document.addEventListener('visibilitychange', () => this.wake());
    this.wake();
  }

  /** Draw in every animation frame from now until AWAKE_MS after the last
   * call, and as long as there is something to animate. */
  wake(): void {
    this.awakeUntil = performance.now() + AWAKE_MS;
    if (this.frameQueued) return;
    if (this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    this.frameQueued = true;
    requestAnimationFrame(this.animationFrame);
  }

  // A draw that throws still schedules the next one (the error reaches the
  // console): one bad frame must not stop the page.
  private readonly animationFrame = (): void => {
    this.frameQueued = false;
    this.frames++;
    try {
      this.draw();
    } finally {
      this.next();
    }
  };

  private readonly idleFrame = (): void => {
    this.idleTimer = null;
    try {
      this.draw();
    } finally {
      this.next();
    }
  };

  /** The next draw: an animation frame while anything moves (a chart of
   * the shown panel scrolls with the device clock whether or not values
   * arrive), else the idle timer. */
  private next(): void {
    const charts = (this.tab === 'vars' || this.showAll) && this.charts.animating();
    if (charts || this.charts.painting() || this.probe || performance.now() < this.awakeUntil) {
      this.frameQueued = true;
      requestAnimationFrame(this.animationFrame);
    } else this.idleTimer = setTimeout(this.idleFrame, IDLE_DRAW_MS);
  }

  private control(m: ControlMessage): void {
    switch (m.t) {
      case 'list':
        this.list(m.list);
        break;
      case 'error':
        if (this.audioForm.control(m)) break; // a refused audio change: the form shows it
        this.lastError = `server: ${m.message}`;
        break;
      case 'handler': {
        const first = this.handlers.handlers.size === 0;
        this.handlers.create(m.handler);
        // Show the new tab only if the user has not picked one yet.
        if (first && this.tab === 'vars' && this.charts.charts.length === 0) this.select(m.handler.id);
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

  private list(l: ListReply): void {
    this.setRate(l.sampleRate);
    this.latestTick = l.timestamp;
    this.clock.observe(l.timestamp, performance.now());
    const before = this.vars.map((v) => v.name).join('|');
    this.vars = l.vars;
    this.audio = l.audio;
    this.audioForm.update(l.audio, false);
    // Charts (from before a reconnect, or opened by name) take their streams.
    const changed = before !== this.vars.map((v) => v.name).join('|');
    if (changed) this.wake();
    this.charts.listChanged(changed);
    // What changed shows at once; a list that changed only the device tick
    // (one a second) and the counters waits for the badges' turn, draw().
    if (changed) this.renderVars();
    this.renderConfig(true);
  }

  /** The device's rate, from hello, a list reply or an audio event (it
   * changes with the audio's, PROTOCOL.md §8). Streams running restart at
   * the new one (their buffer lengths and ticks per second); a recording is
   * saved first, at the rate it was recorded at, and Play starts again. */
  private setRate(rate: number): void {
    if (!(rate > 0) || rate === this.rate) return;
    const again = this.taps.rateChanging(this.streams.streams.values());
    this.rate = rate;
    this.clock.reset(rate);
    this.handlers.sampleRate = rate;
    this.streams.restart(rate);
    for (const name of again) {
      const s = this.streams.byName(name);
      if (s) void this.taps.togglePlay(s, rate);
    }
  }

  /** The lag of the page behind live, in ms: over the dense streams (a sparse
   * one may just be quiet), else the handlers that carry ticks. */
  latencyMs(now = performance.now()): number {
    let newest = -1;
    for (const s of this.streams.streams.values()) if (s.v.timestampMode === 0) newest = Math.max(newest, s.series.lastTick);
    if (newest < 0) for (const h of this.handlers.handlers.values()) newest = Math.max(newest, h.lastTick);
    return newest < 0 ? NaN : this.clock.lagMs(newest, now);
  }

  /**
   * One animation frame. Changes far apart on the page go to different
   * frames: a software compositor (headless Chromium, machines without GPU
   * compositing) redraws, in every frame with a change, the one box around
   * everything that changed in it, at ~5 ns a pixel. The charts change
   * together (their scenes go to the painter in one batch: one box around
   * the charts that changed); the handlers' tabs (spectrograms below them)
   * and the badges and table (at the top) wait for a frame in which no
   * chart changes and the painter has nothing in flight, or at most
   * SYNC_WAIT_MS. In the benchmark's layout, a spectrogram redrawn in a
   * chart's frame made that frame's box the whole page (4 Mpx, ~18 ms of
   * the compositor) instead of the charts' (~1 Mpx) and the spectrograms'
   * (~0.8 Mpx) apart. For the same reason the badges, the table and the
   * configuration box (the top of the page) and the handlers' tabs (its
   * bottom) take turns: a frame for the first when they are due (5 times
   * a second), the others' frames for the second.
   */
  private draw(): void {
    const now = performance.now();
    let chartsDrew = false;
    if (this.tab === 'vars' || this.showAll) {
      const live = this.clock.liveTick(now);
      this.drawnStreams.clear();
      this.charts.frame(live, this.drawnStreams);
      chartsDrew = this.drawnStreams.size > 0;
      const p = this.probe;
      if (p && p.pending.length && this.drawnStreams.size) {
        const drawn = performance.now();
        const liveNow = Number.isFinite(p.tick0) ? p.tick0 + ((drawn - p.t0) / 1000) * this.rate : this.clock.liveTick(drawn);
        let keep = 0;
        for (const e of p.pending) {
          if (this.drawnStreams.has(e.stream)) {
            if (p.n < p.lags.length) {
              p.ages[p.n] = ((liveNow - e.first) / this.rate) * 1000;
              p.lags[p.n++] = ((liveNow - e.tick) / this.rate) * 1000;
            }
          } else p.pending[keep++] = e;
        }
        p.pending.length = keep;
      }
    }
    const apart = !chartsDrew && !this.charts.painting();
    if (!apart && now - this.lastOther < SYNC_WAIT_MS) return;
    this.lastOther = now;
    if (now - this.lastBadges > 200) {
      this.lastBadges = now;
      this.renderBadges(now);
      if (this.configStale) this.renderConfig();
    } else this.handlers.draw();
  }

  private renderBadges(now: number): void {
    const ms = this.latencyMs(now);
    const s = this.session;
    this.dom.badges({
      title: s.project ? `${s.project} @ ${this.address.base}` : this.address.base,
      state: s.state,
      latencyMs: ms,
      latencyClass: latencyClass(ms),
      drops: Math.max(this.streams.droppedTotal, s.droppedNotices),
      error: this.lastError || s.lastError,
    });
    this.renderVars();
  }

  renderVars(force = false): void {
    this.dom.vars(
      this.vars,
      (v) => {
        const st = this.streams.streams.get(v.id);
        return { streaming: !!st && st.v.name === v.name, dropped: st ? st.dropped : 0 };
      },
      force,
    );
  }

  /** The configuration box; `tickOnly`: unless more than the device tick
   * changed, only marked stale (drawn in the badges' turn). */
  private renderConfig(tickOnly = false): void {
    const rows: [string, string][] = [
      ['sample rate', this.rate ? `${this.rate} Hz` : '—'],
      ['device tick', String(this.latestTick)],
      ['variables', String(this.vars.length)],
    ];
    const a = this.audio ?? {};
    const f = (k: string) => (a[k] === undefined ? '—' : String(a[k]));
    rows.push(['audio rate', a.rate === undefined ? '—' : `${f('rate')} Hz`], ['channels', f('channels')], ['buffer frames', f('bufferFrames')], ['volume', f('volume')]);
    if (Array.isArray(a.variables)) rows.push(['channel variables', a.variables.map(String).join(', ')]);
    const h = this.session.hello;
    if (h) rows.push(['queue', `${(h.queueBytes / 1048576).toFixed(1)} MiB`]);
    rows.push(['handlers', this.session.dashAvailable === false ? 'not offered by this server' : String(this.handlers.handlers.size)]);
    const key = JSON.stringify(rows.filter((r) => r[0] !== 'device tick'));
    if (tickOnly && key === this.configKey) {
      this.configStale = true;
      return;
    }
    this.configKey = key;
    this.configStale = false;
    this.dom.config(rows);
  }
}
