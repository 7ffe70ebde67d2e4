// Axes for the scope: tick positions, value to pixel, and the background
// canvas's picture (frame, grid and tick labels: an AxesScene), made only
// when the axes change and painted by the chart's painter, like the plot
// area's scene (scene.ts) on its own canvas.

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

/** The device pixel ratio canvases are sized for (1 to 3). */
export function pixelRatio(): number {
  return Math.max(1, Math.min(3, globalThis.devicePixelRatio || 1));
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

/** A plot's frame, grid and labels, as plain data (computed where the
 * axes are, painted wherever the canvas is: paintAxes). */
export interface AxesScene {
  kind: 'axes';
  /** The canvas in CSS pixels, and the device pixel ratio. */
  w: number;
  h: number;
  dpr: number;
  box: Box;
  /** Grid lines: x positions and y positions (CSS pixels, on the canvas). */
  gridX: number[];
  gridY: number[];
  zeroY: number;
  /** Tick labels: x labels at their centre (drawn left to right, one that
   * would touch the previous is left out), y labels at their middle. */
  xLabels: { text: string; x: number }[];
  yLabels: { text: string; y: number }[];
  xTitle: string;
  yTitle: string;
}

/** The frame, grid and labels of a plot in `box` on a w x h canvas. */
export function axesScene(w: number, h: number, dpr: number, box: Box, x: Axis, y: Axis): AxesScene {
  const xt = axisTicks(x),
    yt = axisTicks(y);
  const gridX: number[] = [],
    gridY: number[] = [],
    xLabels: AxesScene['xLabels'] = [],
    yLabels: AxesScene['yLabels'] = [];
  for (const v of xt.values) {
    const px = box.left + toPx(v, x, box.width);
    const gx = Math.round(px) + 0.5;
    if (gx >= box.left && gx <= box.left + box.width + 1) gridX.push(gx);
    if (px >= box.left - 1 && px <= box.left + box.width + 1) xLabels.push({ text: x.label(v, xt.step), x: px });
  }
  for (const v of yt.values) {
    const py = box.top + box.height - toPx(v, y, box.height);
    const gy = Math.round(py) + 0.5;
    if (gy >= box.top - 1 && gy <= box.top + box.height + 1) gridY.push(gy);
    if (py >= box.top - 1 && py <= box.top + box.height + 1) yLabels.push({ text: y.label(v, yt.step), y: Math.min(Math.max(py, box.top + 5), box.top + box.height - 5) });
  }
  const zeroY = !y.log && y.lo < 0 && y.hi > 0 ? Math.round(box.top + box.height - toPx(0, y, box.height)) + 0.5 : NaN;
  return { kind: 'axes', w, h, dpr, box, gridX, gridY, zeroY, xLabels, yLabels, xTitle: x.title, yTitle: y.title };
}

type Ctx = CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;

/** Paint an axes scene, on white (the chart panel's colour: the canvas is
 * opaque), its canvas already sized to w x h at dpr. */
export function paintAxes(g: Ctx, a: AxesScene): void {
  const { box } = a;
  g.setTransform(a.dpr, 0, 0, a.dpr, 0, 0);
  g.fillStyle = '#fff';
  g.fillRect(0, 0, a.w, a.h);
  g.font = '11px system-ui, sans-serif';
  g.lineWidth = 1;
  g.strokeStyle = '#e4e7eb';
  g.beginPath();
  for (const px of a.gridX) {
    g.moveTo(px, box.top);
    g.lineTo(px, box.top + box.height);
  }
  for (const py of a.gridY) {
    g.moveTo(box.left, py);
    g.lineTo(box.left + box.width, py);
  }
  g.stroke();
  // Zero line, a little darker.
  if (!Number.isNaN(a.zeroY)) {
    g.strokeStyle = '#c5cad1';
    g.beginPath();
    g.moveTo(box.left, a.zeroY);
    g.lineTo(box.left + box.width, a.zeroY);
    g.stroke();
  }
  g.strokeStyle = '#9aa3ad';
  g.strokeRect(box.left + 0.5, box.top + 0.5, box.width - 1, box.height - 1);
  // Labels.
  g.fillStyle = '#555';
  g.textAlign = 'center';
  g.textBaseline = 'top';
  let lastRight = -Infinity;
  for (const { text, x: px } of a.xLabels) {
    const w = g.measureText(text).width;
    if (px - w / 2 < lastRight + 6) continue;
    g.fillText(text, Math.min(Math.max(px, box.left + w / 2), box.left + box.width - w / 2), box.top + box.height + 3);
    lastRight = px + w / 2;
  }
  g.textAlign = 'right';
  g.textBaseline = 'middle';
  for (const { text, y: py } of a.yLabels) g.fillText(text, box.left - 4, py);
  g.textAlign = 'right';
  g.textBaseline = 'bottom';
  g.fillStyle = '#777';
  g.fillText(a.xTitle, box.left + box.width, a.h - 1);
  if (a.yTitle) {
    g.save();
    g.translate(10, box.top + box.height / 2);
    g.rotate(-Math.PI / 2);
    g.textAlign = 'center';
    g.textBaseline = 'top';
    g.fillText(a.yTitle, 0, -8);
    g.restore();
  }
}

export const plainLabel = (v: number, step: number) => plain(v, step);
