// Level meter: one bar per channel, with a peak marker that holds for
// `peakHold` ms and then falls. Levels are in the meter's unit (dB by
// default, min -60, max 0); each message replaces the current levels.

import type { HandlerFrame } from '../protocol';
import { HandlerModel, HandlerView, isNumArray, numParam, warn } from './types';

export class MeterModel implements HandlerModel {
  version = 0;
  warnings: string[] = [];
  readonly names: string[];
  readonly min: number;
  readonly max: number;
  readonly unit: string;
  readonly peakHold: number;
  readonly levels: Float64Array;
  readonly peaks: Float64Array;
  private peakAt: Float64Array;

  constructor(params: Record<string, unknown>) {
    const ch = params.channels;
    this.names = Array.isArray(ch)
      ? ch.map((c, i) => (typeof c === 'string' ? c : `${i + 1}`))
      : Array.from({ length: Math.max(1, Math.min(256, Math.floor(numParam(params, 'channels', 1)))) }, (_, i) => `${i + 1}`);
    this.min = numParam(params, 'min', -60);
    this.max = numParam(params, 'max', 0);
    this.unit = typeof params.unit === 'string' ? params.unit : 'dB';
    this.peakHold = numParam(params, 'peakHold', 1500);
    this.levels = new Float64Array(this.names.length).fill(this.min);
    this.peaks = new Float64Array(this.names.length).fill(this.min);
    this.peakAt = new Float64Array(this.names.length);
  }

  /** New levels (one per channel) at time `now` (ms). */
  set(values: ArrayLike<number>, now: number): void {
    const n = Math.min(values.length, this.levels.length);
    if (values.length !== this.levels.length)
      warn(this, `${values.length} levels for ${this.levels.length} channels`);
    for (let i = 0; i < n; i++) {
      const v = Number.isFinite(values[i]) ? values[i] : this.min;
      this.levels[i] = v;
      if (v >= this.peaks[i] || now - this.peakAt[i] > this.peakHold) {
        this.peaks[i] = v;
        this.peakAt[i] = now;
      }
    }
    this.version++;
  }

  /** A list of levels, or {"levels": [...]}. */
  data(d: unknown, now = performance.now()): void {
    const l = isNumArray(d) ? d : d && typeof d === 'object' && isNumArray((d as any).levels) ? (d as any).levels : null;
    if (l === null) {
      warn(this, 'meter data must be a list of levels, one per channel');
      return;
    }
    this.set(l.map((v: number | null) => v ?? NaN), now);
  }

  frame(f: HandlerFrame, now = performance.now()): void {
    this.set(f.values, now);
  }

  /** Fraction of the scale for a level. */
  fraction(v: number): number {
    const t = (v - this.min) / (this.max - this.min || 1);
    return t < 0 ? 0 : t > 1 ? 1 : t;
  }
}

export class MeterView implements HandlerView {
  readonly canvas: HTMLCanvasElement;
  private drawn = -1;
  private readonly barW = 28;
  private readonly h = 240;

  constructor(
    el: HTMLElement,
    private model: MeterModel,
  ) {
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'meter';
    this.canvas.width = 50 + model.names.length * (this.barW + 10);
    this.canvas.height = this.h + 40;
    el.appendChild(this.canvas);
  }

  draw(): void {
    const m = this.model;
    if (this.drawn === m.version) return;
    this.drawn = m.version;
    const g = this.canvas.getContext('2d');
    if (!g) return;
    const H = this.h;
    g.clearRect(0, 0, this.canvas.width, this.canvas.height);
    g.font = '11px sans-serif';
    g.fillStyle = '#555';
    g.textAlign = 'right';
    for (let k = 0; k <= 4; k++) {
      const v = m.min + ((m.max - m.min) * k) / 4;
      g.fillText(`${Math.round(v * 10) / 10}`, 40, 10 + H - (H * k) / 4 + 4);
    }
    g.textAlign = 'center';
    m.names.forEach((name, i) => {
      const x = 50 + i * (this.barW + 10);
      g.fillStyle = '#e6e6e6';
      g.fillRect(x, 10, this.barW, H);
      const f = m.fraction(m.levels[i]);
      g.fillStyle = f > 0.9 ? '#d62728' : f > 0.7 ? '#ff9f0e' : '#2ca02c';
      g.fillRect(x, 10 + H * (1 - f), this.barW, H * f);
      const p = m.fraction(m.peaks[i]);
      g.fillStyle = '#222';
      g.fillRect(x, 10 + H * (1 - p) - 1, this.barW, 2);
      g.fillText(name, x + this.barW / 2, H + 26);
    });
  }

  destroy(): void {
    this.canvas.remove();
  }

  snapshot(): unknown {
    return { names: this.model.names, levels: Array.from(this.model.levels), peaks: Array.from(this.model.peaks), unit: this.model.unit };
  }
}
