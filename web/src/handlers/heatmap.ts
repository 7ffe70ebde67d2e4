// Heat map: EasyDSP's base:heatmap. Data is a 2-D array of rows; each
// message replaces the image. Drawn as it is given (row r is line r from
// the top, column c is x = c; EasyDSP transposed it and clipped non-square
// data), every cell, any number per page.
//
// Parameters and defaults as EasyDSP's (simpleheat): `max` (1) is the value
// drawn red; the ramp runs from 0 to max; `min` (0.05) is the smallest
// opacity, a cell's opacity being its value / max, so small values fade
// into the page. rill's improvement is opt-in: with "range": true, `min`
// (default 0) is a value, the ramp runs from min to max and every cell is
// opaque (what EasyDSP's documentation says min is).

import type { HandlerFrame } from '../protocol';
import { HEAT, lutIndex } from './colormap';
import { HandlerModel, HandlerView, isNumArray, numParam, warn } from './types';

export class HeatmapModel implements HandlerModel {
  version = 0;
  warnings: string[] = [];
  rows = 0;
  cols = 0;
  cells: Float32Array = new Float32Array(0);
  readonly min: number;
  readonly max: number;
  /** min is a value and cells are opaque (rill), or min is the smallest
   * opacity (EasyDSP). */
  readonly range: boolean;

  constructor(params: Record<string, unknown>) {
    this.range = params.range === true;
    this.max = numParam(params, 'max', 1);
    this.min = numParam(params, 'min', this.range ? 0 : 0.05);
  }

  /** A cell's colour, RGBA as one little-endian Uint32 (0: transparent). */
  color(v: number): number {
    if (Number.isNaN(v)) return 0;
    if (this.range) return HEAT[lutIndex(v, this.min, this.max)];
    const t = this.max > 0 ? Math.min(1, Math.max(0, v / this.max)) : 0;
    const alpha = Math.round(255 * Math.min(1, Math.max(t, this.min, 0)));
    return ((alpha << 24) | (HEAT[(t * 255) | 0] & 0xffffff)) >>> 0;
  }

  data(d: unknown): void {
    if (!Array.isArray(d) || !d.every((r) => isNumArray(r))) {
      warn(this, 'heat map data must be a list of rows of numbers');
      return;
    }
    const rows = d as number[][];
    const cols = rows.reduce((m, r) => Math.max(m, r.length), 0);
    const cells = new Float32Array(rows.length * cols).fill(NaN);
    rows.forEach((r, i) => r.forEach((v, j) => (cells[i * cols + j] = v ?? NaN)));
    this.set(rows.length, cols, cells);
  }

  /** Binary: arg = row length; count = rows x row length. */
  frame(f: HandlerFrame): void {
    const cols = f.arg;
    if (cols === 0 || f.count % cols !== 0) {
      warn(this, `binary heat map: ${f.count} values are not rows of ${cols}`);
      return;
    }
    this.set(f.count / cols, cols, Float32Array.from(f.values));
  }

  private set(rows: number, cols: number, cells: Float32Array): void {
    this.rows = rows;
    this.cols = cols;
    this.cells = cells;
    this.version++;
  }

  at(r: number, c: number): number {
    return this.cells[r * this.cols + c];
  }
}

export class HeatmapView implements HandlerView {
  readonly canvas: HTMLCanvasElement;
  private drawn = -1;

  constructor(
    el: HTMLElement,
    private model: HeatmapModel,
  ) {
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'heatmap';
    this.canvas.width = 1;
    this.canvas.height = 1;
    el.appendChild(this.canvas);
  }

  draw(): void {
    const m = this.model;
    if (this.drawn === m.version) return;
    this.drawn = m.version;
    if (m.rows === 0 || m.cols === 0) return;
    if (this.canvas.width !== m.cols) this.canvas.width = m.cols;
    if (this.canvas.height !== m.rows) this.canvas.height = m.rows;
    // Scaled up by CSS, pixelated, to at most 800 px wide; narrower in a
    // narrow window (max-width in style.css), its height following.
    const scale = Math.max(1, Math.floor(800 / Math.max(m.cols, 1)));
    this.canvas.style.width = `${m.cols * scale}px`;
    this.canvas.style.height = 'auto';
    const g = this.canvas.getContext('2d');
    if (!g) return;
    const img = g.createImageData(m.cols, m.rows);
    const px = new Uint32Array(img.data.buffer);
    for (let k = 0; k < m.cells.length; k++) px[k] = m.color(m.cells[k]);
    g.putImageData(img, 0, 0);
  }

  destroy(): void {
    this.canvas.remove();
  }

  snapshot(): unknown {
    return { rows: this.model.rows, cols: this.model.cols, cells: Array.from(this.model.cells) };
  }
}
