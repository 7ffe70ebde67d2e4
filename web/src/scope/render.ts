// Axes for the scope: tick positions, value to pixel, and the background
// canvas (frame, grid and tick labels), drawn only when the axes change. The
// plot area itself is a scene (scene.ts) on its own canvas.

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
