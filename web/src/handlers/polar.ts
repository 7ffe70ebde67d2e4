// Polar line and area charts: EasyDSP's base:polar:line / base:polar:area.
// Angles 0, 360/N, ..., 360 (N + 1 of them, N = numPoints), counter-
// clockwise from `orientation` degrees; radial axis 0 .. rmax.
//
// Fixes: appending 0 works; appends past N + 1 values scroll (the oldest
// radius goes) instead of having no angle; `legend` {from, to, step} labels
// the angular axis.

import type { HandlerFrame } from '../protocol';
import { HandlerModel, HandlerView, defaultColor, isNumArray, numParam, warn } from './types';

export class PolarModel implements HandlerModel {
  version = 0;
  warnings: string[] = [];
  readonly names: string[];
  readonly numPoints: number;
  readonly radii: number[][];
  readonly title: string;
  readonly orientation: number;
  readonly rmax: number;
  readonly legend: { from: number; to: number; step: number } | null;

  constructor(params: Record<string, unknown>) {
    const s = Array.isArray(params.series) ? params.series : ['r'];
    this.names = s.map((e: any, i: number) => (typeof e === 'string' ? e : typeof e?.name === 'string' ? e.name : `series ${i + 1}`));
    this.numPoints = Math.max(1, Math.floor(numParam(params, 'numPoints', 36)));
    if (typeof params.numPoints !== 'number') warn(this, 'no numPoints: using 36');
    this.radii = this.names.map(() => []);
    this.title = typeof params.title === 'string' ? params.title : '';
    this.orientation = numParam(params, 'orientation', 0);
    this.rmax = numParam(params, 'rmax', 1);
    const l = params.legend as any;
    this.legend =
      l && typeof l === 'object' && [l.from, l.to, l.step].every((v) => typeof v === 'number') && l.step > 0
        ? { from: l.from, to: l.to, step: l.step }
        : null;
  }

  /** Angle in degrees of point k. */
  angle(k: number): number {
    return (k * 360) / this.numPoints;
  }

  private append(i: number, v: number): void {
    const r = this.radii[i];
    r.push(v);
    if (r.length > this.numPoints + 1) r.shift();
  }

  /** A list with one object per series: {"append": v} or {"replace": [...]}. */
  data(d: unknown): void {
    if (!Array.isArray(d)) {
      warn(this, 'polar data must be a list with one object per series');
      return;
    }
    d.slice(0, this.names.length).forEach((e: any, i) => {
      if (e && typeof e.append === 'number') this.append(i, e.append);
      else if (e && isNumArray(e.replace)) this.radii[i] = e.replace.slice(0, this.numPoints + 1).map((v: number | null) => v ?? NaN);
      else if (e !== null && e !== undefined && Object.keys(e).length)
        warn(this, `series ${i}: expected {"append": number} or {"replace": [numbers]}`);
    });
    if (d.length > this.names.length) warn(this, `${d.length} entries for ${this.names.length} series: the rest ignored`);
    this.version++;
  }

  /** Binary: arg = series index; replace flag: the values replace the
   * curve, else each is appended. */
  frame(f: HandlerFrame): void {
    if (f.arg >= this.names.length) {
      warn(this, `binary data for series ${f.arg}, which does not exist`);
      return;
    }
    if (f.replace) this.radii[f.arg] = Array.from(f.values.subarray(0, this.numPoints + 1));
    else for (let k = 0; k < f.count; k++) this.append(f.arg, f.values[k]);
    this.version++;
  }
}

export class PolarView implements HandlerView {
  private canvas: HTMLCanvasElement;
  private drawn = -1;

  constructor(
    el: HTMLElement,
    private model: PolarModel,
    private area: boolean,
    private size = 350,
  ) {
    this.canvas = document.createElement('canvas');
    this.canvas.width = size;
    this.canvas.height = size;
    this.canvas.className = 'polar';
    el.appendChild(this.canvas);
  }

  /** Canvas coordinates of radius r at angle deg. */
  xy(r: number, deg: number): [number, number] {
    const m = this.model;
    const c = this.size / 2;
    const R = c - 30;
    const a = ((deg + m.orientation) * Math.PI) / 180;
    const rr = (Math.max(0, Math.min(r, m.rmax)) / m.rmax) * R;
    return [c + rr * Math.cos(a), c - rr * Math.sin(a)]; // counter-clockwise
  }

  draw(): void {
    const m = this.model;
    if (this.drawn === m.version) return;
    this.drawn = m.version;
    const g = this.canvas.getContext('2d');
    if (!g) return;
    const c = this.size / 2;
    const R = c - 30;
    g.fillStyle = '#f8f8ff'; // ghost white, as in EasyDSP
    g.fillRect(0, 0, this.size, this.size);
    g.strokeStyle = '#ccc';
    g.lineWidth = 1;
    g.font = '12px Arial, sans-serif';
    g.fillStyle = 'grey';
    for (let k = 1; k <= 4; k++) {
      g.beginPath();
      g.arc(c, c, (R * k) / 4, 0, 2 * Math.PI);
      g.stroke();
    }
    const labels: number[] = [];
    if (m.legend) for (let a = m.legend.from; a <= m.legend.to && labels.length < 72; a += m.legend.step) labels.push(a);
    else for (let a = 0; a < 360; a += 30) labels.push(a);
    g.textAlign = 'center';
    g.textBaseline = 'middle';
    for (const a of labels) {
      const [x, y] = this.xy(m.rmax, a);
      g.beginPath();
      g.moveTo(c, c);
      g.lineTo(x, y);
      g.stroke();
      const [lx, ly] = this.xy(m.rmax * 1.1, a);
      g.fillText(`${a}°`, lx, ly);
    }
    if (m.title) g.fillText(m.title, c, 8);
    m.radii.forEach((radii, i) => {
      if (radii.length === 0) return;
      const color = defaultColor(i);
      g.beginPath();
      radii.forEach((r, k) => {
        const [x, y] = this.xy(Number.isFinite(r) ? r : 0, m.angle(k));
        if (k === 0) g.moveTo(x, y);
        else g.lineTo(x, y);
      });
      g.strokeStyle = color;
      g.lineWidth = 2;
      if (this.area) {
        g.closePath();
        g.globalAlpha = 0.4;
        g.fillStyle = color;
        g.fill();
        g.globalAlpha = 1;
      }
      g.stroke();
    });
  }

  destroy(): void {
    this.canvas.remove();
  }

  snapshot(): unknown {
    return { radii: this.model.radii.map((r) => r.slice()), numPoints: this.model.numPoints };
  }
}
