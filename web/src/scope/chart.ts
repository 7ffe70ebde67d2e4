// One chart of the dashboard, an oscilloscope: one or more traces (streamed
// variables) over a common time base, with a trigger, pause, zoom and pan of
// the paused trace, two cursors with readouts, a spectrum (FFT) view and an
// X-Y view. Bela's IDE scope is the model users know.
//
// Views:
//   time  roll (trigger off): the newest window, scrolling with the device's
//         clock; triggered (auto/normal/single): sweeps placed on the
//         trigger, so a periodic signal stands still. Values are decimated
//         to the minimum and maximum of each pixel column (peaks are never
//         lost), and drawn exactly, sample by sample, once they fit.
//   fft   the amplitude spectrum of the newest N values of each trace.
//   xy    trace 2 against trace 1, over the window of the time view.
//
// Drawing: one opaque canvas (axes, labels and the plot area), repainted
// only when the picture changes: a new sweep, new values in a free-running
// or spectrum view, the clock in roll mode, new axes, or the user. It is
// painted by the chart's painter (in a worker where it can: painter.ts),
// from plain pictures made here (ChartPicture: an AxesScene and a Scene).
// Over the plot area lies a canvas never painted (transparent), which
// takes the mouse. One canvas a chart, not one for the axes and one for
// the plot: each canvas painted in a worker costs a commit (~0.6 ms of the
// worker, ~0.3 ms of the display compositor) whatever it shows.

import { Decimator, Series } from '../series';
import type { Stream } from '../streams';
import { readout, Readout, panRange, zoomRange } from './cursors';
import { FFT_SIZES, Spectrum, WindowKind, spectrumPeak, toDb } from './fft';
import { LocalPainter, Painter, Pixels } from './painter';
import { Axis, AxesScene, Box, MARGIN, axesScene, pixelRatio, plainLabel, toPx } from './render';
import { Scene, gridOf, sceneKey, tracePoints } from './scene';
import { DIVISIONS, niceCeil, reading, si } from './ticks';
import { Sweep, TriggerScanner, TriggerSettings, defaultTrigger, sweepFor } from './trigger';

export type ChartMode = 'time' | 'fft' | 'xy';

export interface ScopeSettings {
  mode: ChartMode;
  /** Seconds per division; the window is 10 divisions. */
  timeDiv: number;
  trigger: TriggerSettings & { source: number };
  /** Amplitude: automatic, or a fixed range (dB in the spectrum's dB view). */
  y: { auto: boolean; min: number; max: number };
  fft: { size: number; window: WindowKind; logFreq: boolean; db: boolean };
}

export function defaultSettings(): ScopeSettings {
  return {
    mode: 'time',
    timeDiv: 0.2,
    trigger: { ...defaultTrigger(), source: 0 },
    y: { auto: true, min: -1, max: 1 },
    fft: { size: 4096, window: 'hann', logFreq: false, db: true },
  };
}

export interface Trace {
  stream: Stream;
  color: string;
}

const PLOT_HEIGHT = 140;
/** Roll windows at least this long scroll with the clock. */
const ROLL_CLOCK_SECONDS = 0.5;
const MAX_POINTS = 8192;

/** What a chart draws, in numbers (tests read it; the readouts show it). */
export interface ScopeSnapshot {
  mode: ChartMode;
  paused: boolean;
  rate: number;
  settings: ScopeSettings;
  /** The time view's window in ticks, and its trigger (NaN: free-running). */
  sweep: Sweep | null;
  /** The x range shown, in the view's units (seconds from the reference,
   * Hz, or trace 1's values), and the y range. */
  view: [number, number];
  yRange: [number, number];
  /** The reference tick of the time view (the trigger, or the window's end). */
  reference: number;
  traces: { name: string; x: number[]; y: number[] }[];
  fft: { size: number; window: WindowKind; binHz: number; peakHz: number; peakDb: number; peakAmp: number } | null;
  cursors: Readout;
  /** Whether the points drawn are the samples themselves (no decimation). */
  exact: boolean;
  triggers: number;
  updates: number;
  repaints: number;
  message: string;
  /** The plot area's width in CSS pixels: the time view's buckets. */
  plotWidth: number;
}

export class ScopeChart {
  readonly el: HTMLElement;
  readonly plotEl: HTMLElement;
  readonly bg: HTMLCanvasElement;
  readonly fg: HTMLCanvasElement;
  readonly readoutEl: HTMLElement;
  traces: Trace[] = [];
  settings: ScopeSettings = defaultSettings();
  paused = false;
  /** Pictures shown (a new sweep, new values in a roll or spectrum
   * view, a change by the user). */
  updates = 0;
  /** Times the chart's canvas was repainted: only when the picture's
   * pixels differ from those on screen (a steady triggered signal, or a
   * constant one, costs no repaint). */
  repaints = 0;
  private paintedKey = NaN;
  /** The plot area's pixels (tests), cut from the chart's canvas. */
  async pixels(): Promise<Pixels | null> {
    const p = await this.painter.pixels(this.id);
    if (!p) return null;
    const b = this.box();
    const dpr = p.width / Math.max(1, Math.round(this.width));
    const x0 = Math.round(b.left * dpr),
      y0 = Math.round(b.top * dpr),
      w = Math.max(1, Math.round(b.width * dpr)),
      h = Math.max(1, Math.round(b.height * dpr));
    const data = new Uint8ClampedArray(w * h * 4);
    for (let y = 0; y < h; y++) data.set(p.data.subarray(((y0 + y) * p.width + x0) * 4, ((y0 + y) * p.width + x0 + w) * 4), y * w * 4);
    return { width: w, height: h, data };
  }
  /** Called when the chart's state changes in a way its controls show. */
  onChange: () => void = () => {};

  private width = 900;
  private frozen: Series[] | null = null;
  private frozenSpectra: Float64Array[] | null = null;
  private sweep: Sweep | null = null;
  private ref = NaN;
  private view: [number, number] | null = null;
  private cursorX: [number, number] = [NaN, NaN];
  private scanner: TriggerScanner | null = null;
  private armedAt = -Infinity;
  private decimators: Decimator[] = [];
  private dirty = true;
  private forceReadout = true;
  private drawnVersions = '';
  private bgKey = '';
  private axes: AxesScene | null = null;
  private yRange: [number, number] = [-1, 1];
  private yShrinkSince = 0;
  private spectra = new Map<string, Spectrum>();
  private lastSpectra: Float64Array[] = [];
  private fftBuf = new Float64Array(0);
  private px: Float64Array[] = [];
  private py: Float64Array[] = [];
  private pn: number[] = [];
  private exact = false;
  private message = '';
  private lastReadout = '';
  private drag: { x: number; view: [number, number]; moved: boolean } | null = null;
  private onMove: (e: MouseEvent) => void = () => {};
  private onUp: (e: MouseEvent) => void = () => {};

  /** Who paints the plot canvas (this chart's id there). */
  readonly painter: Painter;
  readonly id = ++chartIds;
  private fgSize = '';

  constructor(
    readonly name: string,
    width: number,
    painter?: Painter,
  ) {
    this.el = document.createElement('div');
    this.el.className = 'chart scope';
    this.el.dataset.var = name;
    this.plotEl = document.createElement('div');
    this.plotEl.className = 'scope-plot';
    this.bg = document.createElement('canvas');
    this.bg.className = 'scope-bg';
    this.fg = document.createElement('canvas');
    this.fg.className = 'scope-fg';
    this.plotEl.append(this.bg, this.fg);
    this.readoutEl = document.createElement('div');
    this.readoutEl.className = 'scope-readout';
    this.el.append(this.plotEl, this.readoutEl);
    this.width = width;
    // The chart's canvas goes to its painter before anyone draws on it.
    this.painter = painter ?? new LocalPainter();
    this.painter.add(this.id, this.bg);
    this.layout();
    this.bindMouse();
  }

  get rate(): number {
    return this.traces[0]?.stream ? this.rateOf() : 0;
  }
  /** Set by the chart set: the device's rate. */
  rateOf: () => number = () => 0;

  /** Seconds of values the chart needs kept (its window, with room to pan). */
  keepSeconds(): number {
    const s = this.settings;
    if (s.mode === 'fft') return Math.max(2, (1.5 * s.fft.size) / Math.max(1, this.rate || 48000));
    return Math.max(2, 2 * DIVISIONS * s.timeDiv);
  }

  private box(): Box {
    return { left: MARGIN.left, top: MARGIN.top, width: Math.max(50, this.width - MARGIN.left - MARGIN.right), height: PLOT_HEIGHT };
  }

  private layout(): void {
    const b = this.box();
    const h = b.top + b.height + MARGIN.bottom;
    this.plotEl.style.height = `${h}px`;
    this.plotEl.style.width = `${this.width}px`;
    // CSS sizes here; the backing stores are sized where they are painted.
    this.bg.style.width = `${this.width}px`;
    this.bg.style.height = `${h}px`;
    this.fg.style.width = `${b.width}px`;
    this.fg.style.height = `${b.height}px`;
    this.fg.style.left = `${b.left}px`;
    this.fg.style.top = `${b.top}px`;
    this.bgKey = '';
    this.dirty = true;
  }

  resize(width: number): void {
    if (width === this.width) return;
    this.width = width;
    this.layout();
  }

  setTraces(traces: Trace[]): void {
    this.traces = traces;
    this.decimators = traces.map((t) => new Decimator(t.stream.series, MAX_POINTS / 2));
    this.scanner = null;
    if (this.settings.trigger.source >= traces.length) this.settings.trigger.source = 0;
    this.dirty = true;
  }

  /** A trace's series was replaced (the stream restarted or grew). */
  seriesReplaced(): void {
    this.decimators = this.traces.map((t) => new Decimator(t.stream.series, MAX_POINTS / 2));
    this.scanner = null;
    this.dirty = true;
  }

  /** Change settings; a change of view or of the trigger starts afresh. */
  set(change: Partial<Omit<ScopeSettings, 'trigger' | 'y' | 'fft'>> & { trigger?: Partial<ScopeSettings['trigger']>; y?: Partial<ScopeSettings['y']>; fft?: Partial<ScopeSettings['fft']> }): void {
    const s = this.settings;
    const modeBefore = s.mode;
    const trigBefore = s.trigger.mode;
    if (change.mode !== undefined) s.mode = change.mode;
    if (change.timeDiv !== undefined && change.timeDiv > 0) s.timeDiv = change.timeDiv;
    if (change.trigger) Object.assign(s.trigger, change.trigger);
    if (change.y) Object.assign(s.y, change.y);
    if (change.fft) {
      Object.assign(s.fft, change.fft);
      if (!FFT_SIZES.includes(s.fft.size)) s.fft.size = 4096;
    }
    if (s.trigger.source >= this.traces.length) s.trigger.source = 0;
    if (s.mode !== modeBefore) this.cursorX = [NaN, NaN];
    if (s.trigger.mode === 'single' && (trigBefore !== 'single' || change.trigger?.mode === 'single')) this.arm();
    else if (change.mode !== undefined || change.timeDiv !== undefined || change.trigger) {
      this.sweep = null;
      if (this.paused && s.trigger.mode !== 'single') this.resume();
    }
    if (change.y?.auto === false || change.y?.min !== undefined) this.yShrinkSince = 0;
    this.view = null;
    this.dirty = this.forceReadout = true;
    this.onChange();
  }

  /** Single mode: wait for the next trigger, show its sweep, stop. */
  arm(): void {
    this.paused = false;
    this.frozen = null;
    this.frozenSpectra = null;
    this.view = null;
    const src = this.traces[this.settings.trigger.source];
    this.armedAt = src ? src.stream.series.lastTick : -Infinity;
    this.sweep = null;
    this.dirty = true;
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.forceReadout = true;
    this.frozen = this.traces.map((t) => t.stream.series.frozenCopy());
    this.frozenSpectra = this.lastSpectra.map((a) => a.slice());
    this.dirty = true;
    this.onChange();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.forceReadout = true;
    this.frozen = null;
    this.frozenSpectra = null;
    this.view = null;
    if (this.settings.trigger.mode === 'single') this.arm();
    this.dirty = true;
    this.onChange();
  }

  /** Place cursor A (0) or B (1) at x in the view's units (NaN removes it). */
  setCursor(k: 0 | 1, x: number): void {
    this.cursorX[k] = x;
    this.dirty = this.forceReadout = true;
  }

  clearCursors(): void {
    this.cursorX = [NaN, NaN];
    this.dirty = this.forceReadout = true;
  }

  /** Zoom/pan (paused only): show [lo, hi] of the view's units. */
  setView(lo: number, hi: number): void {
    if (!this.paused || !(hi > lo)) return;
    const [blo, bhi] = this.bounds();
    this.view = [Math.max(blo, lo), Math.min(bhi, hi)];
    this.dirty = true;
  }

  resetView(): void {
    this.view = null;
    this.dirty = true;
  }

  // ---- What to show ------------------------------------------------------------------

  private seriesOf(i: number): Series {
    return this.frozen ? this.frozen[i] : this.traces[i].stream.series;
  }

  private span(): number {
    return DIVISIONS * this.settings.timeDiv * this.rate;
  }

  /** The default x range of the current view, in its units. */
  private defaultView(): [number, number] {
    const s = this.settings;
    if (s.mode === 'fft') {
      const nyq = this.rate / 2;
      return s.fft.logFreq ? [Math.max(1, this.rate / s.fft.size), nyq] : [0, nyq];
    }
    const W = DIVISIONS * s.timeDiv;
    // Triggered modes keep one layout whether a sweep was triggered or
    // auto free-runs (its reference is then where the trigger would be), so
    // the axes do not jump; roll shows the time before the newest value.
    if (s.trigger.mode !== 'off') {
      const pos = Math.min(1, Math.max(0, s.trigger.position));
      return [-pos * W, (1 - pos) * W];
    }
    return [-W, 0];
  }

  /** How far a paused view may zoom out or pan. */
  private bounds(): [number, number] {
    if (this.settings.mode === 'fft') return this.defaultView();
    if (this.settings.mode === 'xy') return this.defaultView();
    const s = this.seriesOf(0);
    if (!s || s.len === 0 || !Number.isFinite(this.ref)) return this.defaultView();
    const r = this.rate;
    return [(s.oldestTick - this.ref) / r, (s.lastTick - this.ref) / r];
  }

  private currentView(): [number, number] {
    return this.view ?? this.defaultView();
  }

  /** Decide what the time (and X-Y) view shows now; true when it changed. */
  private chooseSweep(live: number): boolean {
    const s = this.settings;
    const r = this.rate;
    const span = this.span();
    if (this.paused || !this.traces.length || !(r > 0)) return false;
    if (s.trigger.mode === 'off') {
      // Long windows scroll with the device's clock (smoothly, between
      // buffers); short ones follow the newest value, or a buffer's worth
      // of them would always be missing at the right.
      const src = this.traces[0].stream.series;
      const t1 = Math.floor(Number.isFinite(live) && span >= ROLL_CLOCK_SECONDS * r ? live : src.lastTick);
      const sw = { t0: t1 - span, t1, trigger: NaN };
      const changed = !this.sweep || this.sweep.t1 !== t1 || this.sweep.t0 !== sw.t0;
      this.sweep = sw;
      this.ref = t1;
      return changed;
    }
    const src = this.traces[Math.min(s.trigger.source, this.traces.length - 1)].stream.series;
    if (!this.scanner || this.scanner.series !== src) this.scanner = new TriggerScanner(src);
    this.scanner.scan(s.trigger);
    const auto = Math.max(2 * span, 0.1 * r);
    const sw = sweepFor(this.scanner, s.trigger, span, auto, this.armedAt);
    if (!sw) return false;
    const same = this.sweep && this.sweep.t0 === sw.t0 && this.sweep.t1 === sw.t1;
    this.sweep = sw;
    this.ref = Number.isFinite(sw.trigger) ? sw.trigger : sw.t0 + Math.min(1, Math.max(0, s.trigger.position)) * span;
    if (s.trigger.mode === 'single') {
      this.pause();
      this.onChange();
    }
    return !same;
  }

  private versions(): string {
    let v = '';
    for (const t of this.traces) v += `${t.stream.series.version},`;
    return v;
  }

  /** Called once per animation frame while the chart is on screen, with the
   * device's tick now (estimated; NaN when unknown). */
  frame(live: number): boolean {
    if (!this.traces.length) return false;
    const s = this.settings;
    let changed = this.dirty;
    const versions = this.versions();
    if (!this.paused) {
      if (s.mode === 'fft') changed ||= versions !== this.drawnVersions;
      else {
        const moved = this.chooseSweep(live);
        changed ||= moved;
        // A free-running or roll window also changes when values arrive.
        if (!Number.isFinite(this.sweep?.trigger ?? NaN) && versions !== this.drawnVersions) changed = true;
      }
    }
    if (!changed) return false;
    this.dirty = false;
    this.drawnVersions = versions;
    this.render();
    return true;
  }

  // ---- Drawing ----------------------------------------------------------------------

  private ensureBuffers(): void {
    while (this.px.length < this.traces.length) {
      this.px.push(new Float64Array(MAX_POINTS));
      this.py.push(new Float64Array(MAX_POINTS));
      this.pn.push(0);
    }
  }

  private render(): void {
    this.ensureBuffers();
    this.message = '';
    const mode = this.settings.mode;
    if (mode === 'fft') this.computeFft();
    else if (mode === 'xy') this.computeXy();
    else this.computeTime();
    const [x, xBg] = this.xAxes();
    const y = this.yAxis();
    const axesChanged = this.drawBackground(xBg, y);
    const b = this.box();
    const dpr = pixelRatio();
    const dots = this.exact && mode === 'time' && this.pn[0] > 1 && b.width / this.pn[0] >= 5;
    const scene = this.scene(x, xBg, y, b, dpr, dots);
    this.updates++;
    // The same pixels as on screen: no repaint (and no new frame for the
    // compositor to copy).
    const key = sceneKey(scene);
    const size = `${b.width}x${b.height}@${dpr}`;
    if (axesChanged || key !== this.paintedKey || size !== this.fgSize) {
      this.paintedKey = key;
      this.fgSize = size;
      // The axes only when they changed: the canvas keeps its pixels, so
      // the rest of the time only the plot area is painted (and handed to
      // the compositor as the frame's damage). Painting the labels again
      // in every frame of a scrolling chart cost more than the second
      // canvas did.
      this.painter.paint(this.id, { kind: 'chart', axes: axesChanged ? this.axes : null, plot: scene, left: b.left, top: b.top });
      this.repaints++;
    }
    if (this.forceReadout || this.readoutsDue) this.renderReadout();
    else this.readoutStale = true;
    this.forceReadout = false;
  }

  /** Time view: each trace's values over the view, decimated per pixel. */
  private computeTime(): void {
    const r = this.rate;
    const b = this.box();
    if (!this.sweep || !(r > 0)) {
      this.pn.fill(0);
      this.message = this.settings.trigger.mode === 'normal' || this.settings.trigger.mode === 'single' ? 'waiting for a trigger' : 'waiting for values';
      this.exact = false;
      return;
    }
    const [v0, v1] = this.currentView();
    const t0 = this.ref + v0 * r,
      t1 = this.ref + v1 * r;
    const roll = this.settings.trigger.mode === 'off' && !this.paused && !this.view;
    let exact = true;
    for (let i = 0; i < this.traces.length; i++) {
      const s = this.seriesOf(i);
      const n =
        roll && this.decimators[i]?.series === s
          ? this.decimators[i].decimate(t0, t1, b.width, r, this.px[i], this.py[i])
          : s.decimate(t0, t1, b.width, r, this.px[i], this.py[i]);
      if (i === 0) exact = s.upperBound(t1) - s.lowerBound(t0) === n;
      this.pn[i] = withNewest(s, t1, r, n, this.px[i], this.py[i]);
    }
    this.exact = exact;
  }

  private spectrum(): Spectrum {
    const { size, window } = this.settings.fft;
    const key = `${size}/${window}`;
    let sp = this.spectra.get(key);
    if (!sp) {
      sp = new Spectrum(size, window);
      this.spectra.clear();
      this.spectra.set(key, sp);
    }
    return sp;
  }

  /** Spectrum view: the newest N values of each trace (or those frozen). */
  private computeFft(): void {
    const { size, db, logFreq } = this.settings.fft;
    const r = this.rate;
    if (this.fftBuf.length !== size) this.fftBuf = new Float64Array(size);
    const sp = this.spectrum();
    const spectra: Float64Array[] = [];
    let waiting = false;
    for (let i = 0; i < this.traces.length; i++) {
      let amp: Float64Array | null = null;
      if (this.paused && this.frozenSpectra?.[i]?.length === size / 2 + 1) amp = this.frozenSpectra[i];
      else {
        const s = this.seriesOf(i);
        if (s.len < size) {
          waiting = true;
          this.pn[i] = 0;
          spectra.push(new Float64Array(0));
          continue;
        }
        for (let k = 0, p = s.at(s.len - size); k < size; k++, p = p + 1 === s.cap ? 0 : p + 1) this.fftBuf[k] = s.vals[p];
        amp = sp.compute(this.fftBuf).slice();
      }
      spectra.push(amp);
      // Bins per pixel column: the largest of each column (peaks kept), or
      // every bin once they fit.
      const [f0, f1] = this.currentView();
      const b = this.box();
      const binHz = r / size;
      const k0 = Math.max(logFreq ? 1 : 0, Math.floor(f0 / binHz)),
        k1 = Math.min(amp.length - 1, Math.ceil(f1 / binHz));
      const xs = this.px[i],
        ys = this.py[i];
      let n = 0;
      const conv = (a: number) => (db ? toDb(a) : a);
      if (k1 - k0 <= b.width) {
        for (let k = k0; k <= k1 && n < MAX_POINTS; k++) {
          xs[n] = k * binHz;
          ys[n++] = conv(amp[k]);
        }
      } else {
        let col = -1,
          best = -Infinity,
          bestK = 0;
        const x = { lo: f0, hi: f1, log: logFreq } as Axis;
        for (let k = k0; k <= k1; k++) {
          const c = Math.floor(toPx(k * binHz, x, b.width));
          if (c !== col) {
            if (col >= 0 && n < MAX_POINTS) {
              xs[n] = bestK * binHz;
              ys[n++] = conv(best);
            }
            col = c;
            best = -Infinity;
          }
          if (amp[k] > best) {
            best = amp[k];
            bestK = k;
          }
        }
        if (col >= 0 && n < MAX_POINTS) {
          xs[n] = bestK * binHz;
          ys[n++] = conv(best);
        }
      }
      this.pn[i] = n;
    }
    this.lastSpectra = spectra;
    this.exact = false;
    if (waiting) this.message = `collecting ${size} values for the spectrum`;
  }

  /** X-Y view: trace 2 against trace 1 at the same ticks, over the time
   * view's window. */
  private computeXy(): void {
    this.pn.fill(0);
    this.exact = false;
    if (this.traces.length < 2) {
      this.message = 'X-Y needs two traces: add one with "+ trace"';
      return;
    }
    if (!this.sweep) {
      this.message = 'waiting for values';
      return;
    }
    const a = this.seriesOf(0),
      b = this.seriesOf(1);
    const i0 = a.lowerBound(this.sweep.t0),
      i1 = a.upperBound(this.sweep.t1);
    const stride = Math.max(1, Math.ceil((i1 - i0) / MAX_POINTS));
    let n = 0;
    let j = b.lowerBound(this.sweep.t0);
    for (let i = i0; i < i1 && n < MAX_POINTS; i += stride) {
      const p = a.at(i);
      const t = a.ticks[p];
      while (j < b.len && b.ticks[b.at(j)] < t) j++;
      if (j >= b.len) break;
      const q = b.at(j);
      if (b.ticks[q] !== t) continue;
      this.px[0][n] = a.vals[p];
      this.py[0][n++] = b.vals[q];
    }
    this.pn[0] = n;
  }

  /** The x axis for drawing (the points' units: absolute seconds in the time
   * view) and for labels (the view's units). */
  private xAxes(): [Axis, Axis] {
    const s = this.settings;
    if (s.mode === 'fft') {
      const [lo, hi] = this.currentView();
      const a: Axis = { lo, hi, log: s.fft.logFreq, label: (v) => si(v, 'Hz', 3).replace(' Hz', ''), title: 'frequency (Hz)' };
      return [a, a];
    }
    if (s.mode === 'xy') {
      const [lo, hi] = this.xyRange(0);
      const a: Axis = { lo, hi, log: false, label: plainLabel, title: this.traces[0] ? `${this.traces[0].stream.v.name} (x)` : 'x' };
      return [a, a];
    }
    const [v0, v1] = this.currentView();
    const r = this.rate || 1;
    const base = Number.isFinite(this.ref) ? this.ref / r : 0;
    const title = s.trigger.mode !== 'off' ? `time from the trigger, ${si(s.timeDiv, 's')}/div` : `time before the newest value, ${si(s.timeDiv, 's')}/div`;
    const zoomed = this.view !== null;
    const label: Axis = { lo: v0, hi: v1, log: false, label: (v, st) => si(Math.abs(v) < st * 1e-6 ? 0 : v, 's', 3), title: zoomed ? `${title} (zoomed)` : title, divisions: zoomed ? undefined : DIVISIONS };
    return [{ ...label, lo: base + v0, hi: base + v1 }, label];
  }

  private xyRange(i: number): [number, number] {
    const s = this.settings;
    if (!s.y.auto) return [s.y.min, s.y.max];
    let lo = Infinity,
      hi = -Infinity;
    const a = i === 0 ? this.px[0] : this.py[0];
    for (let k = 0; k < this.pn[0]; k++) {
      if (a[k] < lo) lo = a[k];
      if (a[k] > hi) hi = a[k];
    }
    return niceRange(lo, hi);
  }

  private yAxis(): Axis {
    const s = this.settings;
    if (s.mode === 'xy') {
      const [lo, hi] = this.xyRange(1);
      return { lo, hi, log: false, label: plainLabel, title: this.traces[1] ? `${this.traces[1].stream.v.name} (y)` : 'y' };
    }
    let range: [number, number];
    if (!s.y.auto) range = [s.y.min, s.y.max];
    else {
      let lo = Infinity,
        hi = -Infinity;
      for (let i = 0; i < this.traces.length; i++)
        for (let k = 0; k < this.pn[i]; k++) {
          const v = this.py[i][k];
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
      if (s.mode === 'fft' && s.fft.db) {
        const top = Number.isFinite(hi) ? 10 * Math.ceil((hi + 1) / 10) : 0;
        range = [top - 120, top];
      } else range = this.autoRange(lo, hi);
    }
    if (!(range[1] > range[0])) range = [range[0] - 1, range[0] + 1];
    this.yRange = range;
    const title = s.mode === 'fft' ? (s.fft.db ? 'amplitude (dB)' : 'amplitude') : '';
    return { lo: range[0], hi: range[1], log: false, label: plainLabel, title, divisions: s.mode === 'time' && !s.y.auto ? 8 : undefined };
  }

  /** Automatic amplitude: grows at once to show every value, shrinks only
   * after the values have used less than a third of it for a second, so
   * the scale does not flicker. */
  private autoRange(lo: number, hi: number): [number, number] {
    if (!Number.isFinite(lo)) return this.yRange;
    const [cl, ch] = this.yRange;
    const fits = lo >= cl && hi <= ch;
    const small = hi - lo < (ch - cl) / 3 || (lo > cl + (ch - cl) / 2 || hi < ch - (ch - cl) / 2);
    const now = performance.now();
    if (fits && !small) {
      this.yShrinkSince = 0;
      return this.yRange;
    }
    if (fits && small) {
      if (!this.yShrinkSince) this.yShrinkSince = now;
      if (now - this.yShrinkSince < 1000) return this.yRange;
    }
    this.yShrinkSince = 0;
    this.yRange = niceRange(lo, hi);
    return this.yRange;
  }

  /** The axes' picture, made anew when they change (then true). */
  private drawBackground(x: Axis, y: Axis): boolean {
    const key = `${this.width}|${x.lo}|${x.hi}|${x.log}|${x.title}|${x.divisions}|${y.lo}|${y.hi}|${y.title}|${y.divisions}|${this.message}|${pixelRatio()}`;
    if (key === this.bgKey && this.axes) return false;
    this.bgKey = key;
    const b = this.box();
    this.axes = axesScene(this.width, b.top + b.height + MARGIN.bottom, pixelRatio(), b, x, y);
    return true;
  }

  /** What the plot area shows now, in pixels. */
  private scene(x: Axis, xBg: Axis, y: Axis, b: Box, dpr: number, dots: boolean): Scene {
    const s = this.settings;
    const grid = gridOf(xBg, y, b.width, b.height);
    const traces = this.traces.map((t, i) => {
      const { pts, n } = tracePoints(this.px[i], this.py[i], this.pn[i], x, y, b.width, b.height, dots);
      return { color: t.color, pts, n, dots };
    });
    let trigger: Scene['trigger'] = null;
    if (s.mode === 'time' && s.trigger.mode !== 'off' && this.sweep && Number.isFinite(this.sweep.trigger))
      trigger = { x: Math.round(toPx(this.sweep.trigger / this.rate, x, b.width)), y: Math.round(b.height - toPx(s.trigger.level, y, b.height)) };
    const cursors = this.cursorX.map((cx) => (Number.isFinite(cx) ? Math.round(toPx(cx, xBg, b.width)) : NaN)) as [number, number];
    return { w: b.width, h: b.height, dpr, ...grid, traces, trigger, cursors, message: this.message };
  }

  // ---- Readouts ---------------------------------------------------------------------

  /** The value of trace `i` at x in the view's units. */
  valueAt(x: number, i = 0): number {
    const s = this.settings;
    if (!this.traces[i]) return NaN;
    if (s.mode === 'time') {
      if (!Number.isFinite(this.ref)) return NaN;
      return this.seriesOf(i).valueAt(this.ref + x * this.rate);
    }
    if (s.mode === 'fft') {
      const amp = this.lastSpectra[i];
      if (!amp || !amp.length) return NaN;
      const k = Math.round((x * s.fft.size) / this.rate);
      if (k < 0 || k >= amp.length) return NaN;
      return s.fft.db ? toDb(amp[k]) : amp[k];
    }
    return NaN;
  }

  readout(): Readout {
    return readout(this.cursorX[0], this.cursorX[1], (x) => this.valueAt(x, 0));
  }

  private fftPeak(): ScopeSnapshot['fft'] {
    const s = this.settings;
    if (s.mode !== 'fft' || !this.lastSpectra[0]?.length) return null;
    const p = spectrumPeak(this.lastSpectra[0], this.rate, s.fft.size);
    const amp = s.fft.window === 'flattop' || s.fft.window === 'rect' ? p.binAmp : p.amp;
    return { size: s.fft.size, window: s.fft.window, binHz: this.rate / s.fft.size, peakHz: p.freq, peakDb: toDb(amp), peakAmp: amp };
  }

  /** Whether readouts may change in this frame: the chart set lets all
   * charts' readouts change together, READOUT_HZ times a second (a text
   * change costs the page a layout and a paint; numbers changing faster
   * cannot be read anyway); the user's changes show at once. */
  readoutsDue = true;
  /** A picture was shown whose readout is not. */
  readoutStale = false;

  /** The readout line. */
  renderReadout(): void {
    this.readoutStale = false;
    const s = this.settings;
    const parts: string[] = [];
    const unit = s.mode === 'fft' ? 'Hz' : s.mode === 'time' ? 's' : '';
    const yunit = s.mode === 'fft' && s.fft.db ? ' dB' : '';
    const r = this.readout();
    const num = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(4)).toString() : '—');
    // Values to the resolution of the y axis on screen (X-Y: its own).
    const span = s.mode === 'xy' ? NaN : this.yRange[1] - this.yRange[0];
    const val = (v: number) => reading(v, span);
    if (r.a) parts.push(`A: ${unit ? si(r.a.x, unit, 4) : num(r.a.x)}, ${val(r.a.y)}${yunit}`);
    if (r.b) parts.push(`B: ${unit ? si(r.b.x, unit, 4) : num(r.b.x)}, ${val(r.b.y)}${yunit}`);
    if (r.a && r.b) {
      parts.push(`Δ${s.mode === 'fft' ? 'f' : 't'} ${unit ? si(r.dx, unit, 4) : num(r.dx)}`, `Δv ${val(r.dy)}${yunit}`);
      if (s.mode === 'time') parts.push(`1/Δt ${si(r.inv, 'Hz', 4)}`);
    }
    const peak = this.fftPeak();
    if (peak) parts.push(`peak ${si(peak.peakHz, 'Hz', 4)} ${peak.peakDb.toFixed(1)} dB (bin ${si(peak.binHz, 'Hz', 3)})`);
    if (s.mode === 'time' && s.trigger.mode !== 'off') {
      const trig = this.sweep && Number.isFinite(this.sweep.trigger);
      parts.push(this.paused ? (s.trigger.mode === 'single' ? 'single: stopped' : 'stopped') : trig ? 'triggered' : s.trigger.mode === 'auto' ? 'auto (no trigger)' : 'waiting');
    } else if (this.paused) parts.push('stopped');
    if (this.view) parts.push('zoomed (double-click to reset)');
    const text = parts.join('   ');
    if (text !== this.lastReadout) {
      this.lastReadout = text;
      this.readoutEl.textContent = text || '\u00a0';
    }
  }

  // ---- Mouse: cursors, zoom and pan --------------------------------------------------

  private mouseX(e: MouseEvent): number {
    const rect = this.fg.getBoundingClientRect();
    const px = e.clientX - rect.left;
    const a = this.xAxes()[1];
    const w = rect.width || 1;
    if (a.log) return a.lo * (a.hi / a.lo) ** (px / w);
    return a.lo + (px / w) * (a.hi - a.lo);
  }

  private bindMouse(): void {
    this.fg.addEventListener('mousedown', (e) => {
      if (e.button !== 0) return;
      this.drag = { x: e.clientX, view: this.currentView(), moved: false };
    });
    this.onMove = (e) => {
      const d = this.drag;
      if (!d) return;
      if (Math.abs(e.clientX - d.x) > 3) d.moved = true;
      if (!d.moved || !this.paused || this.settings.mode === 'xy') return;
      const w = this.fg.getBoundingClientRect().width || 1;
      const [lo, hi] = this.bounds();
      const dx = (-(e.clientX - d.x) / w) * (d.view[1] - d.view[0]);
      this.view = panRange(d.view[0], d.view[1], dx, lo, hi);
      this.dirty = true;
    };
    this.onUp = (e) => {
      const d = this.drag;
      this.drag = null;
      if (!d || d.moved || e.target !== this.fg) return;
      this.setCursor(e.shiftKey ? 1 : 0, this.mouseX(e));
    };
    // On the window: a drag may leave the plot.
    window.addEventListener('mousemove', this.onMove);
    window.addEventListener('mouseup', this.onUp);
    this.fg.addEventListener('dblclick', () => this.resetView());
    this.fg.addEventListener(
      'wheel',
      (e) => {
        if (!this.paused || this.settings.mode === 'xy') return;
        e.preventDefault();
        const [v0, v1] = this.currentView();
        const [lo, hi] = this.bounds();
        const minSpan = this.settings.mode === 'fft' ? (4 * this.rate) / this.settings.fft.size : 4 / (this.rate || 1);
        this.view = zoomRange(v0, v1, this.mouseX(e), e.deltaY < 0 ? 0.8 : 1.25, lo, hi, minSpan);
        this.dirty = true;
      },
      { passive: false },
    );
  }

  // ---- For tests ---------------------------------------------------------------------

  snapshot(): ScopeSnapshot {
    const [v0, v1] = this.currentView();
    return {
      mode: this.settings.mode,
      paused: this.paused,
      rate: this.rate,
      settings: JSON.parse(JSON.stringify(this.settings, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v))),
      sweep: this.sweep ? { ...this.sweep } : null,
      view: [v0, v1],
      yRange: [...this.yRange] as [number, number],
      reference: this.ref,
      traces: this.traces.map((t, i) => ({ name: t.stream.v.name, x: Array.from(this.px[i]?.subarray(0, this.pn[i]) ?? []), y: Array.from(this.py[i]?.subarray(0, this.pn[i]) ?? []) })),
      fft: this.fftPeak(),
      cursors: this.readout(),
      exact: this.exact,
      triggers: this.scanner?.found ?? 0,
      updates: this.updates,
      repaints: this.repaints,
      message: this.message,
      plotWidth: this.box().width,
    };
  }

  /** The smallest and largest value of trace i with ticks in [t0, t1] (the
   * paused copy when stopped): what decimation must keep. */
  raw(t0: number, t1: number, i = 0): { min: number; max: number; count: number } {
    const s = this.seriesOf(i);
    let min = Infinity,
      max = -Infinity;
    const a = s.lowerBound(t0),
      b = s.upperBound(t1);
    for (let k = a; k < b; k++) {
      const v = s.vals[s.at(k)];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    return { min, max, count: b - a };
  }

  destroy(): void {
    window.removeEventListener('mousemove', this.onMove);
    window.removeEventListener('mouseup', this.onUp);
    this.painter.remove(this.id);
    this.el.remove();
  }
}

let chartIds = 0;

/** A range with a little room around [lo, hi], on 1-2-5 steps. */
/** The window's newest value after its decimated points, unless it is the
 * last of them: a bucket's points are its minimum and maximum (one, at its
 * first value, when they are equal), so without it a trace would end up to
 * a bucket short of the window's newest value, at an x that moves with how
 * the buckets fall (a flat line one pixel longer or shorter from one
 * picture to the next). Returns the new number of points. */
export function withNewest(s: Series, t1: number, rate: number, n: number, px: Float64Array, py: Float64Array): number {
  const last = s.upperBound(t1) - 1;
  if (n === 0 || n >= px.length || last < 0 || last >= s.len) return n;
  const p = s.at(last);
  const x = s.ticks[p] * (1 / rate); // as the decimated points were
  if (!(x > px[n - 1])) return n;
  px[n] = x;
  py[n] = s.vals[p];
  return n + 1;
}

export function niceRange(lo: number, hi: number): [number, number] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [-1, 1];
  if (hi - lo < 1e-12 * Math.max(1, Math.abs(hi))) {
    const d = Math.abs(hi) > 0 ? Math.abs(hi) * 0.1 : 1;
    return [lo - d, hi + d];
  }
  const step = niceCeil((hi - lo) / 8);
  return [Math.floor(lo / step - 1e-9) * step, Math.ceil(hi / step + 1e-9) * step];
}
