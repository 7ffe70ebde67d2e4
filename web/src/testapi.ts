// window.__rill: what the browser tests (tests/web) and the benchmark
// (bench/browser) read and drive. Plain numbers and strings only.

import type { App } from './app';
import type { ScopeSettings } from './scope/chart';

type SettingsChange = Partial<Omit<ScopeSettings, 'trigger' | 'y' | 'fft'>> & {
  trigger?: Partial<ScopeSettings['trigger']>;
  y?: Partial<ScopeSettings['y']>;
  fft?: Partial<ScopeSettings['fft']>;
};

export function testApi(app: App) {
  const entry = (name: string) => app.charts.find(name);
  return {
    state: () => app.state,
    /** Animation frames the page has drawn so far (none while idle). */
    frames: () => app.frames,
    vars: () => app.vars.map((v) => ({ name: v.name, type: v.type, timestampMode: v.timestampMode })),
    streaming: () => app.charts.streaming(),
    /** The chart named for a variable: what it draws (its first trace's
     * points in seconds of the device clock, x and y; the window, xMin and
     * xMax) and its stream's counters; the scope's own snapshot in `scope`. */
    chart: (name: string) => {
      const c = entry(name);
      const s = c?.streams[0];
      if (!c || !s) return null;
      const snap = c.chart.snapshot();
      const r = snap.rate || 1;
      const t0 = snap.traces[0];
      const time = snap.mode === 'time';
      return {
        x: time && t0 ? t0.x : [],
        y: time && t0 ? t0.y : [],
        xMin: time ? snap.reference / r + snap.view[0] : NaN,
        xMax: time ? snap.reference / r + snap.view[1] : NaN,
        updates: snap.updates,
        scope: snap,
        received: s.series.received,
        buffers: s.buffers,
        dropped: s.dropped,
        lastTick: s.series.lastTick,
        playing: app.taps.isPlaying(name),
        player: app.taps.playerStats(name),
        recording: app.taps.recorded(name),
      };
    },
    /** Open a chart of these variables (the first names it). */
    openChart: (names: string[], settings?: SettingsChange) => {
      const c = app.charts.open(names);
      if (c && settings) c.chart.set(settings);
      return !!c;
    },
    scopeSet: (name: string, settings: SettingsChange) => entry(name)?.chart.set(settings),
    scopePause: (name: string) => entry(name)?.chart.pause(),
    scopeResume: (name: string) => entry(name)?.chart.resume(),
    scopeView: (name: string, lo: number, hi: number) => entry(name)?.chart.setView(lo, hi),
    scopeCursor: (name: string, k: 0 | 1, x: number) => entry(name)?.chart.setCursor(k, x),
    /** The plot canvas's pixels, wherever it is painted (a promise of
     * {width, height, rgba: base64}). */
    scopePixels: async (name: string) => {
      const p = await entry(name)?.chart.pixels();
      if (!p) return null;
      let bin = '';
      for (let i = 0; i < p.data.length; i += 0x8000) bin += String.fromCharCode(...p.data.subarray(i, i + 0x8000));
      return { width: p.width, height: p.height, rgba: btoa(bin) };
    },
    painter: () => app.charts.painter?.kind ?? 'main',
    scopeRaw: (name: string, t0: number, t1: number, i = 0) => entry(name)?.chart.raw(t0, t1, i) ?? null,
    scopeReadout: (name: string) => entry(name)?.chart.readoutEl.textContent ?? null,
    latencyMs: () => app.latencyMs(),
    rate: () => app.rate,
    handlerIds: () => [...app.handlers.handlers.keys()],
    handler: (id: number) => app.handlers.snapshot(id),
    handlerTypes: () => app.handlers.types(),
    select: (t: 'vars' | number) => app.select(t),
    feed: (data: string | ArrayBuffer) => app.session.feed(data),
    feedBase64: (b64: string) => {
      const bin = atob(b64);
      const buf = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
      app.session.feed(buf.buffer);
    },
    /** Show and draw every panel at once (the variables and each handler tab). */
    showAll: (on: boolean) => {
      app.showAll = on;
      app.select(app.tab);
      app.charts.resize();
    },
    /** Start recording, for every dense buffer, its lag behind live (ms)
     * when a chart that shows it is next drawn; latencyTake() returns them.
     * The device clock is the estimate now, extrapolated (start it while the
     * page keeps up). */
    latencyProbe: (capacity = 1 << 17) => {
      const t0 = performance.now();
      app.probe = { pending: [], lags: new Float64Array(capacity), ages: new Float64Array(capacity), n: 0, t0, tick0: app.clock.liveTick(t0) };
    },
    /** The lags recorded since the last call (and with `ages`, each
     * buffer's oldest value's age when drawn too: {lags, ages}). */
    latencyTake: (ages = false) => {
      const p = app.probe;
      if (!p) return ages ? { lags: [], ages: [] } : [];
      const lags = Array.from(p.lags.subarray(0, p.n));
      const old = Array.from(p.ages.subarray(0, p.n));
      p.n = 0;
      return ages ? { lags, ages: old } : lags;
    },
    /** Messages and main-thread events of the connection (batches when its
     * socket is in a worker). */
    linkStats: () => {
      const l = app.session.link as unknown as { messagesIn: number; bytesIn: number; batches?: number } | null;
      return { messages: l?.messagesIn ?? 0, bytes: l?.bytesIn ?? 0, batches: l?.batches ?? null, worker: l?.batches !== undefined };
    },
    protocolErrors: () => app.session.protocolErrors,
    lastError: () => app.lastError || app.session.lastError,
    audioConfig: () => app.dom.configValues(),
  };
}
