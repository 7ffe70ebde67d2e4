// Spectrogram: EasyDSP's base:spectrogram. Each column (height magnitudes,
// lowest frequency first) scrolls in from the right; `width` columns are
// kept. Any number per page (EasyDSP: one). A short column is padded with
// NaN (drawn as the background), a long one cut. Colours: viridis over
// [min, max].
//
// Defaults as EasyDSP's: min 0, max 150 (dB of its int16 audio) and
// update_rate 20 (redraws a second at most; EasyDSP read it but redrew on
// every column). rill's improvements are opt-in: "autoscale": true colours
// over the range of the data shown (a given min or max still wins), and
// "update_rate": 0 redraws on every animation frame that has new columns.
//
// Drawing is incremental: new columns are painted into a ring canvas, and
// the visible canvas copies the ring in two pieces, so a frame costs the
// new columns, not the whole image.

import type { HandlerFrame } from '../protocol';
import { VIRIDIS, lutIndex } from './colormap';
import { HandlerModel, HandlerView, isNumArray, numParam, optNum, warn } from './types';

export class SpectrogramModel implements HandlerModel {
  version = 0;
  warnings: string[] = [];
  readonly width: number;
  readonly height: number;
  readonly min?: number;
  readonly max?: number;
  readonly deltaFreq: number;
  /** Redraws a second at most; 0: every frame with new columns. */
  readonly updateRate: number;
  readonly autoscale: boolean;
  /** Columns, ring-ordered: column j of the ring at [j * height, (j+1) * height). */
  readonly cells: Float32Array;
  /** Columns received in all (the ring slot of column n is n % width). */
  total = 0;
  /** Bumped when the whole image must be redrawn (replace, clear). */
  epoch = 0;

  constructor(params: Record<string, unknown>) {
    this.width = Math.max(1, Math.min(8192, Math.floor(numParam(params, 'width', 800))));
    this.height = Math.max(1, Math.min(8192, Math.floor(numParam(params, 'height', 600))));
    this.autoscale = params.autoscale === true;
    this.min = optNum(params, 'min') ?? (this.autoscale ? undefined : 0);
    this.max = optNum(params, 'max') ?? (this.autoscale ? undefined : 150);
    this.deltaFreq = numParam(params, 'delta_freq', 1);
    this.updateRate = Math.max(0, numParam(params, 'update_rate', 20));
    this.cells = new Float32Array(this.width * this.height).fill(NaN);
  }

  /** Number of columns held (at most width). */
  get filled(): number {
    return Math.min(this.total, this.width);
  }

  private push(col: ArrayLike<number>, from = 0, n = col.length): void {
    const slot = this.total % this.width;
    const h = this.height;
    const base = slot * h;
    const m = Math.min(n, h);
    for (let k = 0; k < m; k++) this.cells[base + k] = col[from + k] ?? NaN;
    this.cells.fill(NaN, base + m, base + h);
    this.total++;
  }

  clear(): void {
    this.cells.fill(NaN);
    this.total = 0;
    this.epoch++;
    this.version++;
  }

  /** One column (a flat list), several (a list of lists), or
   * {"replace": [[...], ...]} to start over with these columns. */
  data(d: unknown): void {
    let cols: unknown[];
    if (isNumArray(d)) cols = [d];
    else if (Array.isArray(d)) cols = d;
    else if (d && typeof d === 'object' && Array.isArray((d as any).replace)) {
      this.clear();
      cols = (d as any).replace;
    } else if (d && typeof d === 'object' && Array.isArray((d as any).add)) cols = (d as any).add;
    else {
      warn(this, 'spectrogram data must be a column of magnitudes (a list of numbers)');
      return;
    }
    for (const c of cols) {
      if (!isNumArray(c)) {
        warn(this, 'a spectrogram column must be a list of numbers');
        continue;
      }
      if (c.length !== this.height) warn(this, `column of ${c.length} values for height ${this.height}`);
      this.push(c);
    }
    this.version++;
  }

  /** Binary: count = k x height values, k columns; replace flag clears first. */
  frame(f: HandlerFrame): void {
    if (f.count % this.height !== 0) {
      warn(this, `binary spectrogram data: ${f.count} values are not columns of ${this.height}`);
      return;
    }
    if (f.replace) this.clear();
    for (let off = 0; off < f.count; off += this.height) this.push(f.values, off, this.height);
    this.version++;
  }

  /** Column i of those held, oldest first. */
  column(i: number): Float32Array {
    const first = this.total - this.filled;
    const slot = (first + i) % this.width;
    return this.cells.subarray(slot * this.height, (slot + 1) * this.height);
  }

  range(): [number, number] {
    if (this.min !== undefined && this.max !== undefined) return [this.min, this.max];
    let lo = Infinity,
      hi = -Infinity;
    for (let k = 0; k < this.cells.length; k++) {
      const v = this.cells[k];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (lo > hi) lo = hi = 0;
    return [this.min ?? lo, this.max ?? hi];
  }
}

export class SpectrogramView implements HandlerView {
  readonly canvas: HTMLCanvasElement;
  private ring: HTMLCanvasElement;
  private paintedTotal = 0;
  private epoch = -1;
  private lo = 0;
  private hi = 0;
  private drawn = -1;
  private lastRangeCheck = 0;
  private lastDraw = -Infinity;
  /** One column of pixels (and a view of them), reused for every column painted. */
  private column: { img: ImageData; px: Uint32Array } | null = null;

  constructor(
    el: HTMLElement,
    private model: SpectrogramModel,
  ) {
    const wrap = document.createElement('div');
    wrap.className = 'spectrogram';
    const label = document.createElement('div');
    label.className = 'axis-label';
    label.textContent = `Frequency [Hz]: 0 – ${model.deltaFreq * model.height} (bottom to top)`;
    this.canvas = document.createElement('canvas');
    this.canvas.width = model.width;
    this.canvas.height = model.height;
    this.ring = document.createElement('canvas');
    this.ring.width = model.width;
    this.ring.height = model.height;
    wrap.append(label, this.canvas);
    el.appendChild(wrap);
  }

  private paintColumns(g: CanvasRenderingContext2D, from: number, to: number): void {
    const m = this.model;
    const h = m.height;
    const n = to - from;
    if (n <= 0) return;
    if (!this.column) {
      const img = g.createImageData(1, h);
      this.column = { img, px: new Uint32Array(img.data.buffer) };
    }
    const { img, px } = this.column;
    for (let c = from; c < to; c++) {
      const slot = c % m.width;
      const base = slot * h;
      for (let k = 0; k < h; k++) {
        const i = lutIndex(m.cells[base + k], this.lo, this.hi);
        px[h - 1 - k] = i < 0 ? 0xff202020 : VIRIDIS[i]; // low frequencies at the bottom
      }
      g.putImageData(img, slot, 0);
    }
  }

  draw(force = false): void {
    const m = this.model;
    if (this.drawn === m.version) return;
    const now0 = performance.now();
    // At most update_rate redraws a second (a frame's worth early is fine).
    if (!force && m.updateRate > 0 && now0 - this.lastDraw < 1000 / m.updateRate - 8) return;
    this.lastDraw = now0;
    this.drawn = m.version;
    const g = this.ring.getContext('2d');
    const out = this.canvas.getContext('2d');
    if (!g || !out) return;
    let full = this.epoch !== m.epoch;
    const now = performance.now();
    if (m.min === undefined || m.max === undefined) {
      if (full || now - this.lastRangeCheck > 500) {
        this.lastRangeCheck = now;
        const [lo, hi] = m.range();
        if (lo !== this.lo || hi !== this.hi) {
          this.lo = lo;
          this.hi = hi;
          full = true;
        }
      }
    } else [this.lo, this.hi] = [m.min, m.max];
    if (full) {
      g.fillStyle = '#202020';
      g.fillRect(0, 0, m.width, m.height);
      this.paintColumns(g, m.total - m.filled, m.total);
      this.epoch = m.epoch;
    } else {
      this.paintColumns(g, Math.max(this.paintedTotal, m.total - m.width), m.total);
    }
    this.paintedTotal = m.total;
    // Oldest column on the left: the ring from slot (total % width) on.
    out.fillStyle = '#202020';
    out.fillRect(0, 0, m.width, m.height);
    const held = m.filled;
    const start = (m.total - held) % m.width;
    const right = Math.min(held, m.width - start);
    const x0 = m.width - held; // right-aligned while filling
    if (right > 0) out.drawImage(this.ring, start, 0, right, m.height, x0, 0, right, m.height);
    if (held > right) out.drawImage(this.ring, 0, 0, held - right, m.height, x0 + right, 0, held - right, m.height);
  }

  destroy(): void {
    this.canvas.parentElement?.remove();
  }

  snapshot(): unknown {
    const m = this.model;
    this.draw(true);
    const cols: number[][] = [];
    for (let i = 0; i < m.filled; i++) cols.push(Array.from(m.column(i)));
    return { width: m.width, height: m.height, total: m.total, range: [this.lo, this.hi], columns: cols };
  }
}
