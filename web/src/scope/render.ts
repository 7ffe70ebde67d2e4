// Drawing helpers shared by the scope's views: the plot's frame, grid and
// tick labels (drawn on a background canvas only when the axes change), and
// traces as one path each on the foreground canvas (the plot area only, so a
// new frame repaints and recomposites as few pixels as possible).

import { logTicks, plain, ticks } from './ticks';

export interface Axis {
  lo: number;
  hi: number;
  log: boolean;
  /** Label for a tick value. */
  label: (v: number, step: number) => string;
  /** Axis title, under (x) or beside (y) the plot. */
  title: string;
  /** Fixed divisions (an oscilloscope's 10 x 8 grid) instead of nice ticks. */
  divisions?: number;
}

export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

export const MARGIN = { left: 58, right: 10, top: 6, bottom: 30 };

/** Size a canvas for CSS size w x h at the device's pixel ratio; returns
 * the ratio, and whether the backing store changed (and was cleared). */
export function sizeCanvas(c: HTMLCanvasElement, w: number, h: number): { dpr: number; changed: boolean } {
  const dpr = Math.max(1, Math.min(3, globalThis.devicePixelRatio || 1));
  const W = Math.max(1, Math.round(w * dpr)),
    H = Math.max(1, Math.round(h * dpr));
  const changed = c.width !== W || c.height !== H;
  if (changed) {
    c.width = W;
    c.height = H;
    c.style.width = `${w}px`;
    c.style.height = `${h}px`;
  }
  return { dpr, changed };
}

export function axisTicks(a: Axis): { values: number[]; step: number } {
  if (a.divisions) {
    const step = (a.hi - a.lo) / a.divisions;
    return { values: Array.from({ length: a.divisions + 1 }, (_, k) => a.lo + k * step), step };
  }
  if (a.log) {
    const v = logTicks(a.lo, a.hi);
    return { values: v, step: v.length > 1 ? v[1] - v[0] : 1 };
  }
  const v = ticks(a.lo, a.hi, 5);
  return { values: v, step: v.length > 1 ? v[1] - v[0] : Math.abs(a.hi - a.lo) || 1 };
}

export function toPx(v: number, a: Axis, len: number): number {
  if (a.log) return (Math.log(v / a.lo) / Math.log(a.hi / a.lo)) * len;
  return ((v - a.lo) / (a.hi - a.lo)) * len;
}

/** The plot area's white, grid, zero line and frame, at the origin (the
 * foreground canvas draws this under its traces, so it can be opaque: the
 * compositor then copies it instead of blending it over what is beneath). */
export function drawGrid(g: CanvasRenderingContext2D, w: number, h: number, x: Axis, y: Axis): void {
  g.fillStyle = '#fff';
  g.fillRect(0, 0, w, h);
  g.lineWidth = 1;
  const xt = axisTicks(x),
    yt = axisTicks(y);
  g.strokeStyle = '#e4e7eb';
  g.beginPath();
  for (const v of xt.values) {
    const px = Math.round(toPx(v, x, w)) + 0.5;
    if (px < 0 || px > w + 1) continue;
    g.moveTo(px, 0);
    g.lineTo(px, h);
  }
  for (const v of yt.values) {
    const py = Math.round(h - toPx(v, y, h)) + 0.5;
    if (py < -1 || py > h + 1) continue;
    g.moveTo(0, py);
    g.lineTo(w, py);
  }
  g.stroke();
  if (!y.log && y.lo < 0 && y.hi > 0) {
    g.strokeStyle = '#c5cad1';
    g.beginPath();
    const py = Math.round(h - toPx(0, y, h)) + 0.5;
    g.moveTo(0, py);
    g.lineTo(w, py);
    g.stroke();
  }
  g.strokeStyle = '#9aa3ad';
  g.strokeRect(0.5, 0.5, w - 1, h - 1);
}

/** The frame, grid and labels of a plot in `box` (CSS pixels). */
export function drawAxes(g: CanvasRenderingContext2D, dpr: number, box: Box, x: Axis, y: Axis, extra?: (g: CanvasRenderingContext2D) => void): void {
  const W = g.canvas.width / dpr,
    H = g.canvas.height / dpr;
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, W, H);
  g.fillStyle = '#fff';
  g.fillRect(box.left, box.top, box.width, box.height);
  g.font = '11px system-ui, sans-serif';
  g.lineWidth = 1;
  const xt = axisTicks(x),
    yt = axisTicks(y);
  // Grid.
  g.strokeStyle = '#e4e7eb';
  g.beginPath();
  for (const v of xt.values) {
    const px = Math.round(box.left + toPx(v, x, box.width)) + 0.5;
    if (px < box.left || px > box.left + box.width + 1) continue;
    g.moveTo(px, box.top);
    g.lineTo(px, box.top + box.height);
  }
  for (const v of yt.values) {
    const py = Math.round(box.top + box.height - toPx(v, y, box.height)) + 0.5;
    if (py < box.top - 1 || py > box.top + box.height + 1) continue;
    g.moveTo(box.left, py);
    g.lineTo(box.left + box.width, py);
  }
  g.stroke();
  // Zero line, a little darker.
  if (!y.log && y.lo < 0 && y.hi > 0) {
    g.strokeStyle = '#c5cad1';
    g.beginPath();
    const py = Math.round(box.top + box.height - toPx(0, y, box.height)) + 0.5;
    g.moveTo(box.left, py);
    g.lineTo(box.left + box.width, py);
    g.stroke();
  }
  g.strokeStyle = '#9aa3ad';
  g.strokeRect(box.left + 0.5, box.top + 0.5, box.width - 1, box.height - 1);
  // Labels.
  g.fillStyle = '#555';
  g.textAlign = 'center';
  g.textBaseline = 'top';
  let lastRight = -Infinity;
  for (const v of xt.values) {
    const px = box.left + toPx(v, x, box.width);
    const s = x.label(v, xt.step);
    const w = g.measureText(s).width;
    if (px - w / 2 < lastRight + 6 || px < box.left - 1 || px > box.left + box.width + 1) continue;
    g.fillText(s, Math.min(Math.max(px, box.left + w / 2), box.left + box.width - w / 2), box.top + box.height + 3);
    lastRight = px + w / 2;
  }
  g.textAlign = 'right';
  g.textBaseline = 'middle';
  for (const v of yt.values) {
    const py = box.top + box.height - toPx(v, y, box.height);
    if (py < box.top - 1 || py > box.top + box.height + 1) continue;
    g.fillText(y.label(v, yt.step), box.left - 4, Math.min(Math.max(py, box.top + 5), box.top + box.height - 5));
  }
  g.textAlign = 'right';
  g.textBaseline = 'bottom';
  g.fillStyle = '#777';
  g.fillText(x.title, box.left + box.width, H - 1);
  if (y.title) {
    g.save();
    g.translate(10, box.top + box.height / 2);
    g.rotate(-Math.PI / 2);
    g.textAlign = 'center';
    g.textBaseline = 'top';
    g.fillText(y.title, 0, -8);
    g.restore();
  }
  extra?.(g);
}

export const plainLabel = (v: number, step: number) => plain(v, step);

/**
 * Stroke points (x, y in data units) as one path on the foreground canvas,
 * whose origin is the plot's top left. Pixel positions are rounded (crisp,
 * and consecutive points on the same pixel cost nothing); when the points
 * are far apart (exact samples, zoomed in) each sample gets a dot too.
 */
export function drawTrace(
  g: CanvasRenderingContext2D,
  xs: ArrayLike<number>,
  ys: ArrayLike<number>,
  n: number,
  x: Axis,
  y: Axis,
  w: number,
  h: number,
  color: string,
  dots = false,
): void {
  if (n <= 0) return;
  g.strokeStyle = color;
  g.lineWidth = 1;
  g.lineJoin = 'round';
  g.beginPath();
  const xl = x.lo,
    xs_ = x.log ? 1 / Math.log(x.hi / x.lo) : 1 / (x.hi - x.lo),
    yl = y.lo,
    ys_ = 1 / (y.hi - y.lo);
  let px0 = NaN,
    py0 = NaN,
    started = false;
  for (let i = 0; i < n; i++) {
    const xv = xs[i],
      yv = ys[i];
    if (!Number.isFinite(yv)) {
      started = false;
      continue;
    }
    const px = Math.round((x.log ? Math.log(xv / xl) * xs_ : (xv - xl) * xs_) * w);
    const py = Math.round((1 - (yv - yl) * ys_) * h);
    if (!started) {
      g.moveTo(px + 0.5, py + 0.5);
      started = true;
    } else if (px !== px0 || py !== py0) g.lineTo(px + 0.5, py + 0.5);
    px0 = px;
    py0 = py;
  }
  g.stroke();
  if (dots) {
    g.fillStyle = color;
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(ys[i])) continue;
      const px = Math.round((x.log ? Math.log(xs[i] / xl) * xs_ : (xs[i] - xl) * xs_) * w);
      const py = Math.round((1 - (ys[i] - yl) * ys_) * h);
      g.fillRect(px - 1, py - 1, 3, 3);
    }
  }
}

/** FNV-1a over 32-bit words, to tell whether a picture changed. */
export function hashInit(): number {
  return 0x811c9dc5;
}
export function hashWord(h: number, v: number): number {
  h ^= v & 0xffff;
  h = Math.imul(h, 0x01000193);
  h ^= (v >>> 16) & 0xffff;
  return Math.imul(h, 0x01000193);
}

/** The pixels drawTrace would stroke for these points, hashed into h: the
 * same rounding, consecutive repeats skipped, breaks at missing values. */
export function hashTrace(h: number, xs: ArrayLike<number>, ys: ArrayLike<number>, n: number, x: Axis, y: Axis, w: number, hh: number): number {
  const xl = x.lo,
    xs_ = x.log ? 1 / Math.log(x.hi / x.lo) : 1 / (x.hi - x.lo),
    yl = y.lo,
    ys_ = 1 / (y.hi - y.lo);
  let px0 = NaN,
    py0 = NaN;
  h = hashWord(h, n);
  for (let i = 0; i < n; i++) {
    const yv = ys[i];
    if (!Number.isFinite(yv)) {
      h = hashWord(h, 0x7fffffff);
      px0 = NaN;
      continue;
    }
    const xv = xs[i];
    const px = Math.round((x.log ? Math.log(xv / xl) * xs_ : (xv - xl) * xs_) * w);
    const py = Math.round((1 - (yv - yl) * ys_) * hh);
    if (px === px0 && py === py0) continue;
    h = hashWord(hashWord(h, px), py);
    px0 = px;
    py0 = py;
  }
  return h;
}
