// Spectrogram: EasyDSP's base:spectrogram. Each column (height magnitudes,
// lowest frequency first) scrolls in from the right; `width` columns are
// kept. Any number per page (EasyDSP: one). A short column is padded with
// NaN (drawn as the background), a long one cut. Colours: viridis over
// [min, max].
//
// Defaults as EasyDSP's page: without min or max the colours span the
// data shown (EasyDSP handed its parameters' min and max to Plotly as
// zmin/zmax, so Plotly's automatic range applied; the 0 and 150 in its
// code were never used); a given min or max wins. update_rate 20: redraws
// a second at most (EasyDSP read it but redrew on every column); rill's
// opt-in "update_rate": 0 redraws on every animation frame that has new
// columns.
//
// Drawing: each column is coloured once, into a ring of colours in memory,
// and a redraw lays the ring out into one image put on the canvas.

import type { HandlerFrame } from '../protocol';
import { VIRIDIS, lutIndex } from './colormap';

/** #202020, opaque: no data. */
const BACKGROUND = 0xff202020;
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
  /** Columns, ring-ordered: column j of the ring at [j * height, (j+1) * height). */
  readonly cells: Float32Array;
  /** Columns received in all (the ring slot of column n is n % width). */
  total = 0;
  /** Bumped when the whole image must be redrawn (replace, clear). */
  epoch = 0;

  constructor(params: Record<string, unknown>) {
    this.width = Math.max(1, Math.min(8192, Math.floor(numParam(params, 'width', 800))));
    this.height = Math.max(1, Math.min(8192, Math.floor(numParam(params, 'height', 600))));
    this.min = optNum(params, 'min');
    this.max = optNum(params, 'max');
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
  private ctx: CanvasRenderingContext2D | null;
  /** The columns' colours, an image whose columns are a ring like the
   * model's (column slot s at x = s), top row first: coloured once, when
   * the column arrives or the range changes, and copied row by row. */
  private colors: Uint32Array;
  /** The picture, row by row, and a view of it as pixels. */
  private image: ImageData | null = null;
  private px: Uint32Array | null = null;
  private coloredTotal = 0;
  private epoch = -1;
  private lo = 0;
  private hi = 0;
  private drawn = -1;
  private lastRangeCheck = 0;
  private lastDraw = -Infinity;

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
    // Opaque (every colour is): a compositor without GPU then copies the
    // canvas instead of blending it over the page. Desynchronized: its
    // pictures go to the compositor when drawn, and the page's other
    // commits do not copy it again (without a GPU, an ordinary canvas is
    // copied at every commit of the page, ~0.1 ms each).
    this.ctx = this.canvas.getContext('2d', { alpha: false });
    this.colors = new Uint32Array(model.width * model.height).fill(BACKGROUND);
    wrap.append(label, this.canvas);
    el.appendChild(wrap);
  }

  /** Colour the columns [from, to) of the model (by count received). */
  private colorColumns(from: number, to: number): void {
    const m = this.model;
    const h = m.height;
    const W = m.width;
    for (let c = from; c < to; c++) {
      const slot = c % W;
      const base = slot * h;
      for (let k = 0; k < h; k++) {
        const i = lutIndex(m.cells[base + k], this.lo, this.hi);
        this.colors[(h - 1 - k) * W + slot] = i < 0 ? BACKGROUND : VIRIDIS[i]; // low frequencies at the bottom
      }
    }
  }

  /**
   * Repaint: new columns are coloured into the ring, then the whole picture
   * is laid out from it (oldest column on the left, right-aligned while
   * filling) and put on the canvas at once. Scrolling moves every pixel
   * anyway; one putImageData of memory the page owns is the cheapest way
   * to a software canvas (drawing from another canvas makes the browser
   * snapshot it first).
   */
  draw(force = false): void {
    const m = this.model;
    if (this.drawn === m.version) return;
    const now0 = performance.now();
    // At most update_rate redraws a second (a frame's worth early is fine).
    if (!force && m.updateRate > 0 && now0 - this.lastDraw < 1000 / m.updateRate - 8) return;
    this.lastDraw = now0;
    this.drawn = m.version;
    const out = this.ctx;
    if (!out) return;
    let full = this.epoch !== m.epoch;
    if (m.min === undefined || m.max === undefined) {
      if (full || now0 - this.lastRangeCheck > 500) {
        this.lastRangeCheck = now0;
        const [lo, hi] = m.range();
        if (lo !== this.lo || hi !== this.hi) {
          this.lo = lo;
          this.hi = hi;
          full = true;
        }
      }
    } else [this.lo, this.hi] = [m.min, m.max];
    if (full) {
      this.colors.fill(BACKGROUND);
      this.colorColumns(m.total - m.filled, m.total);
      this.epoch = m.epoch;
    } else this.colorColumns(Math.max(this.coloredTotal, m.total - m.width), m.total);
    this.coloredTotal = m.total;
    if (!this.image) {
      this.image = out.createImageData(m.width, m.height);
      this.px = new Uint32Array(this.image.data.buffer);
    }
    const px = this.px!;
    const W = m.width,
      h = m.height;
    const held = m.filled;
    const x0 = W - held; // right-aligned while filling
    const start = (m.total - held) % W; // the oldest column's slot
    const right = Math.min(held, W - start);
    const colors = this.colors;
    for (let y = 0, row = 0; y < h; y++, row += W) {
      if (x0 > 0) px.fill(BACKGROUND, row, row + x0);
      px.set(colors.subarray(row + start, row + start + right), row + x0);
      if (held > right) px.set(colors.subarray(row, row + held - right), row + x0 + right);
    }
    out.putImageData(this.image, 0, 0);
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
