// line, area, bar (histogram) and scatter charts: EasyDSP's base:graph:*
// handlers, with its parameters and its add / replace data, drawn by uPlot.
//
// Fixes of EasyDSP's defects: min/max of 0 are honoured; a data list longer
// than the series is cut (with a warning) instead of throwing; xLimitDistance
// works (keep the points within that distance of the largest x).

import uPlot from 'uplot';
import type { HandlerFrame } from '../protocol';
import { HandlerModel, HandlerView, Vec, defaultColor, isNumArray, optNum, warn } from './types';

export type CartesianKind = 'line' | 'area' | 'bar' | 'scatter';

export interface SeriesData {
  name: string;
  color: string;
  x: Vec;
  y: Vec;
}

export class CartesianModel implements HandlerModel {
  version = 0;
  warnings: string[] = [];
  readonly series: SeriesData[];
  readonly xName: string;
  readonly min?: number;
  readonly max?: number;
  readonly xLimitNb: number;
  readonly xLimitDistance: number;

  constructor(params: Record<string, unknown>) {
    const s = Array.isArray(params.series) ? params.series : [{ name: 'y' }];
    this.series = s.map((e: any, i: number) => ({
      name: typeof e === 'string' ? e : typeof e?.name === 'string' ? e.name : `series ${i + 1}`,
      color: typeof e?.color === 'string' ? e.color : defaultColor(i),
      x: new Vec(),
      y: new Vec(),
    }));
    this.xName = typeof params.xName === 'string' ? params.xName : 'x';
    this.min = optNum(params, 'min');
    this.max = optNum(params, 'max');
    this.xLimitNb = optNum(params, 'xLimitNb') ?? -1;
    this.xLimitDistance = optNum(params, 'xLimitDistance') ?? -1;
  }

  data(d: unknown): void {
    if (d === null || typeof d !== 'object') {
      warn(this, 'data must be {"add": [...]} or {"replace": [...]}');
      return;
    }
    const o = d as Record<string, unknown>;
    const replace = Array.isArray(o.replace);
    const list = replace ? o.replace : o.add;
    if (!Array.isArray(list)) {
      warn(this, 'data must be {"add": [...]} or {"replace": [...]}');
      return;
    }
    if (replace) for (const s of this.series) s.x.clear(), s.y.clear();
    if (list.length > this.series.length)
      warn(this, `${list.length} series of data for ${this.series.length} series: the rest ignored`);
    const n = Math.min(list.length, this.series.length);
    for (let i = 0; i < n; i++) {
      const e = list[i] as any;
      if (e === null || typeof e !== 'object') continue;
      if (!isNumArray(e.x) || !isNumArray(e.y) || e.x.length !== e.y.length) {
        warn(this, `series ${i}: "x" and "y" must be number arrays of the same length; skipped`);
        continue;
      }
      const s = this.series[i];
      if (typeof e.color === 'string') s.color = e.color;
      for (let k = 0; k < e.x.length; k++) {
        s.x.push(e.x[k] ?? NaN);
        s.y.push(e.y[k] ?? NaN);
      }
    }
    this.limit();
    this.version++;
  }

  /** Binary: arg = series index, values = x0, y0, x1, y1, ...; the replace
   * flag replaces that series' points. */
  frame(f: HandlerFrame): void {
    const s = this.series[f.arg];
    if (s === undefined) {
      warn(this, `binary data for series ${f.arg}, which does not exist`);
      return;
    }
    if (f.count % 2 !== 0) {
      warn(this, 'binary chart data must be x, y pairs');
      return;
    }
    if (f.replace) s.x.clear(), s.y.clear();
    const v = f.values;
    for (let k = 0; k < f.count; k += 2) {
      s.x.push(v[k]);
      s.y.push(v[k + 1]);
    }
    this.limit();
    this.version++;
  }

  /** xLimitNb: keep the points whose x is among the last xLimitNb distinct
   * x values of all series; xLimitDistance: those within that distance of
   * the largest x. */
  private limit(): void {
    let lowest = -Infinity;
    if (this.xLimitNb > 0) {
      const all = new Set<number>();
      for (const s of this.series) for (let k = 0; k < s.x.n; k++) all.add(s.x.a[k]);
      if (all.size > this.xLimitNb) {
        const sorted = Float64Array.from(all).sort();
        lowest = sorted[sorted.length - this.xLimitNb];
      }
    }
    if (this.xLimitDistance > 0) {
      let maxX = -Infinity;
      for (const s of this.series) for (let k = 0; k < s.x.n; k++) if (s.x.a[k] > maxX) maxX = s.x.a[k];
      lowest = Math.max(lowest, maxX - this.xLimitDistance);
    }
    if (lowest === -Infinity) return;
    for (const s of this.series) {
      const xs = s.x.a;
      s.y.filter((i) => xs[i] >= lowest);
      s.x.filter((i) => xs[i] >= lowest);
    }
  }

  /** The series aligned on the union of their x values (null where a
   * series has no point: a gap for uPlot), as uPlot draws them. */
  aligned(): (number | null)[][] {
    const xs = new Set<number>();
    for (const s of this.series) for (let k = 0; k < s.x.n; k++) xs.add(s.x.a[k]);
    const x = Array.from(xs).sort((a, b) => a - b);
    const out: (number | null)[][] = [x];
    const index = new Map<number, number>();
    x.forEach((v, i) => index.set(v, i));
    for (const s of this.series) {
      const y: (number | null)[] = new Array(x.length).fill(null);
      for (let k = 0; k < s.x.n; k++) {
        const v = s.y.a[k];
        y[index.get(s.x.a[k])!] = Number.isFinite(v) ? v : null;
      }
      out.push(y);
    }
    return out;
  }
}

function withAlpha(color: string, alpha: number): string {
  const m = /^#([0-9a-f]{6})$/i.exec(color);
  if (!m) return color;
  const v = parseInt(m[1], 16);
  return `rgba(${v >> 16},${(v >> 8) & 255},${v & 255},${alpha})`;
}

export class CartesianView implements HandlerView {
  private plot: uPlot;
  private drawn = -1;
  private colors: string[];

  constructor(
    private el: HTMLElement,
    private model: CartesianModel,
    kind: CartesianKind,
    width = 800,
    height = 250,
  ) {
    this.colors = model.series.map((s) => s.color);
    const bars = uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8, 64] }) : undefined;
    const opts: uPlot.Options = {
      width,
      height,
      scales: {
        x: { time: false },
        y: model.min !== undefined || model.max !== undefined
          ? { auto: false, range: (_u, lo, hi) => [model.min ?? lo, model.max ?? hi] }
          : {},
      },
      legend: { show: true },
      axes: [{ label: model.xName }, {}],
      series: [
        { label: model.xName },
        ...model.series.map((s) => ({
          label: s.name,
          stroke: s.color,
          width: kind === 'scatter' ? 0 : 1.5,
          fill: kind === 'area' || kind === 'bar' ? withAlpha(s.color, kind === 'bar' ? 0.75 : 0.35) : undefined,
          paths: kind === 'bar' ? bars : kind === 'scatter' ? () => null : undefined,
          points: kind === 'scatter' ? { show: true, size: 5, fill: s.color } : { show: false },
          spanGaps: true,
        })),
      ],
    };
    this.plot = new uPlot(opts, model.aligned() as unknown as uPlot.AlignedData, el);
  }

  draw(): void {
    if (this.drawn === this.model.version) return;
    this.drawn = this.model.version;
    const recolor = this.model.series.some((s, i) => s.color !== this.colors[i]);
    if (recolor) {
      // uPlot has no setter for a series' colour: rebuild the series' styles.
      this.model.series.forEach((s, i) => {
        const ser = this.plot.series[i + 1] as any;
        ser._stroke = ser.stroke = () => s.color;
        this.colors[i] = s.color;
      });
    }
    this.plot.setData(this.model.aligned() as unknown as uPlot.AlignedData);
  }

  destroy(): void {
    this.plot.destroy();
    this.el.textContent = '';
  }

  snapshot(): unknown {
    return {
      series: this.model.series.map((s) => ({ name: s.name, color: s.color, x: Array.from(s.x.view()), y: Array.from(s.y.view()) })),
      plotted: (this.plot.data as unknown as (number | null)[][]).map((a) => Array.from(a)),
    };
  }
}
