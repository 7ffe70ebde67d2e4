// Heat map: EasyDSP's base:heatmap. Data is a 2-D array of rows; each
// message replaces the image. Fixes: drawn as it is given (row r is line r
// from the top, column c is x = c; EasyDSP transposed it and clipped
// non-square data), every cell is drawn, `min` is the value drawn at the
// bottom of the ramp (EasyDSP passed it as an opacity), any number per page.

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

  constructor(params: Record<string, unknown>) {
    this.max = numParam(params, 'max', 1);
    this.min = numParam(params, 'min', 0);
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
    // Scaled up by CSS, pixelated, to at most 800 px wide.
    const scale = Math.max(1, Math.floor(800 / Math.max(m.cols, 1)));
    this.canvas.style.width = `${m.cols * scale}px`;
    this.canvas.style.height = `${m.rows * scale}px`;
    const g = this.canvas.getContext('2d');
    if (!g) return;
    const img = g.createImageData(m.cols, m.rows);
    const px = new Uint32Array(img.data.buffer);
    for (let k = 0; k < m.cells.length; k++) {
      const i = lutIndex(m.cells[k], m.min, m.max);
      px[k] = i < 0 ? 0 : HEAT[i];
    }
    g.putImageData(img, 0, 0);
  }

  destroy(): void {
    this.canvas.remove();
  }

  snapshot(): unknown {
    return { rows: this.model.rows, cols: this.model.cols, cells: Array.from(this.model.cells) };
  }
}
