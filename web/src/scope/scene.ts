// What a chart's plot area shows, as plain data: the grid, each trace as
// pixel coordinates, the trigger's and cursors' marks, a message. A scene
// is computed where the values are and painted wherever the canvas is: on
// the page's main thread, or in a worker that holds the canvas
// (paint.worker.ts, an OffscreenCanvas), so that rasterising lines and
// handing frames to the compositor cost the main thread nothing.

import { Axis, axisTicks, toPx } from './render';

export interface TraceScene {
  color: string;
  /** x, y pairs in CSS pixels from the plot's top left; a pair of BREAK
   * ends a line (a missing value). Consecutive repeats are left out. */
  pts: Int16Array;
  /** Values in pts used (twice the points). */
  n: number;
  dots: boolean;
}

export interface Scene {
  w: number;
  h: number;
  dpr: number;
  gridX: number[];
  gridY: number[];
  /** The zero line's y, NaN when 0 is not in view. */
  zeroY: number;
  traces: TraceScene[];
  trigger: { x: number; y: number } | null;
  /** Cursor A and B's x, NaN when not placed or not in view. */
  cursors: [number, number];
  message: string;
}

export const BREAK = -32768;
const LIMIT = 16000;

function clamp16(v: number): number {
  return v < -LIMIT ? -LIMIT : v > LIMIT ? LIMIT : v;
}

/** Points (data units) to pixel pairs, as drawn: rounded, repeats left
 * out, and (unless `keepAll`: a point is a dot) a point in the middle of a
 * horizontal or vertical run left out too, since the line through it is
 * the same line: a flat trace is one segment, so it paints the same pixels
 * whichever samples its buckets started at (and is not repainted). */
export function tracePoints(xs: ArrayLike<number>, ys: ArrayLike<number>, n: number, x: Axis, y: Axis, w: number, h: number, keepAll = false): { pts: Int16Array; n: number } {
  const out = new Int16Array(2 * n + 2);
  const xl = x.lo,
    xs_ = x.log ? 1 / Math.log(x.hi / x.lo) : 1 / (x.hi - x.lo),
    yl = y.lo,
    ys_ = 1 / (y.hi - y.lo);
  let k = 0,
    px0 = NaN,
    py0 = NaN;
  for (let i = 0; i < n; i++) {
    const yv = ys[i];
    if (!Number.isFinite(yv)) {
      if (k && out[k - 2] !== BREAK) {
        out[k++] = BREAK;
        out[k++] = BREAK;
      }
      px0 = NaN;
      continue;
    }
    const xv = xs[i];
    const px = clamp16(Math.round((x.log ? Math.log(xv / xl) * xs_ : (xv - xl) * xs_) * w));
    const py = clamp16(Math.round((1 - (yv - yl) * ys_) * h));
    if (px === px0 && py === py0) continue;
    if (!keepAll && k >= 4 && out[k - 4] !== BREAK && out[k - 2] !== BREAK) {
      const ax = out[k - 4],
        ay = out[k - 3],
        bx = out[k - 2],
        by = out[k - 1];
      if ((ay === by && by === py && (bx - ax) * (px - bx) > 0) || (ax === bx && bx === px && (by - ay) * (py - by) > 0)) {
        out[k - 2] = px; // b lies on the segment from a to here
        out[k - 1] = py;
        px0 = px;
        py0 = py;
        continue;
      }
    }
    out[k++] = px;
    out[k++] = py;
    px0 = px;
    py0 = py;
  }
  return { pts: out, n: k };
}

/** The grid lines' positions for the label axes. */
export function gridOf(x: Axis, y: Axis, w: number, h: number): { gridX: number[]; gridY: number[]; zeroY: number } {
  const gridX = axisTicks(x)
    .values.map((v) => Math.round(toPx(v, x, w)))
    .filter((px) => px >= 0 && px <= w + 1);
  const gridY = axisTicks(y)
    .values.map((v) => Math.round(h - toPx(v, y, h)))
    .filter((py) => py >= -1 && py <= h + 1);
  const zeroY = !y.log && y.lo < 0 && y.hi > 0 ? Math.round(h - toPx(0, y, h)) : NaN;
  return { gridX, gridY, zeroY };
}

/** A hash of everything a scene draws: equal keys, equal pixels (FNV-1a
 * over 32-bit words; the traces' points two at a time). */
export function sceneKey(s: Scene): number {
  let h = 0x811c9dc5 | 0;
  const mix = (v: number) => {
    h = Math.imul(h ^ v, 0x01000193);
  };
  mix(s.w);
  mix(s.h);
  mix(Math.round(s.dpr * 100));
  for (const v of s.gridX) mix(v);
  mix(-1);
  for (const v of s.gridY) mix(v);
  mix(Number.isNaN(s.zeroY) ? -2 : s.zeroY);
  for (const t of s.traces) {
    for (let i = 0; i < t.color.length; i++) mix(t.color.charCodeAt(i));
    mix(t.dots ? 1 : 0);
    mix(t.n);
    const p = t.pts;
    for (let i = 0; i + 1 < t.n; i += 2) h = Math.imul(h ^ ((p[i] << 16) | (p[i + 1] & 0xffff)), 0x01000193);
  }
  mix(s.trigger ? s.trigger.x : -3);
  mix(s.trigger ? s.trigger.y : -3);
  for (const c of s.cursors) mix(Number.isNaN(c) ? -4 : c);
  for (let i = 0; i < s.message.length; i++) mix(s.message.charCodeAt(i));
  return h >>> 0;
}

type Ctx = CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;

/** Size a canvas's backing store for a scene (never its CSS size: a canvas
 * handed to a worker is sized there). */
export function backing(c: { width: number; height: number }, s: { w: number; h: number; dpr: number }): boolean {
  const W = Math.max(1, Math.round(s.w * s.dpr)),
    H = Math.max(1, Math.round(s.h * s.dpr));
  const changed = c.width !== W || c.height !== H;
  if (c.width !== W) c.width = W;
  if (c.height !== H) c.height = H;
  return changed;
}

/** Paint a scene (its canvas already sized to w x h at dpr), or at (left,
 * top) of a larger canvas, inside its w x h (a chart's plot area). */
export function paintScene(g: Ctx, s: Scene, left = 0, top = 0): void {
  const { w, h } = s;
  g.setTransform(s.dpr, 0, 0, s.dpr, left * s.dpr, top * s.dpr);
  g.save();
  g.beginPath();
  g.rect(0, 0, w, h);
  g.clip();
  paintSceneIn(g, s);
  g.restore();
}

function paintSceneIn(g: Ctx, s: Scene): void {
  const { w, h } = s;
  g.fillStyle = '#fff';
  g.fillRect(0, 0, w, h);
  g.lineWidth = 1;
  g.setLineDash([]);
  g.strokeStyle = '#e4e7eb';
  g.beginPath();
  for (const px of s.gridX) {
    g.moveTo(px + 0.5, 0);
    g.lineTo(px + 0.5, h);
  }
  for (const py of s.gridY) {
    g.moveTo(0, py + 0.5);
    g.lineTo(w, py + 0.5);
  }
  g.stroke();
  if (!Number.isNaN(s.zeroY)) {
    g.strokeStyle = '#c5cad1';
    g.beginPath();
    g.moveTo(0, s.zeroY + 0.5);
    g.lineTo(w, s.zeroY + 0.5);
    g.stroke();
  }
  g.strokeStyle = '#9aa3ad';
  g.strokeRect(0.5, 0.5, w - 1, h - 1);
  g.lineJoin = 'round';
  for (const t of s.traces) {
    if (t.n < 2) continue;
    g.strokeStyle = t.color;
    g.beginPath();
    let pen = false;
    for (let i = 0; i < t.n; i += 2) {
      const px = t.pts[i],
        py = t.pts[i + 1];
      if (px === BREAK) {
        pen = false;
        continue;
      }
      if (pen) g.lineTo(px + 0.5, py + 0.5);
      else g.moveTo(px + 0.5, py + 0.5);
      pen = true;
    }
    g.stroke();
    if (t.dots) {
      g.fillStyle = t.color;
      for (let i = 0; i < t.n; i += 2) if (t.pts[i] !== BREAK) g.fillRect(t.pts[i] - 1, t.pts[i + 1] - 1, 3, 3);
    }
  }
  if (s.trigger) {
    const { x: px, y: py } = s.trigger;
    g.fillStyle = '#e07b00';
    g.beginPath();
    g.moveTo(px + 0.5 - 5, 0);
    g.lineTo(px + 0.5 + 5, 0);
    g.lineTo(px + 0.5, 7);
    g.fill();
    if (py >= 0 && py <= h) {
      g.beginPath();
      g.moveTo(w, py + 0.5 - 5);
      g.lineTo(w, py + 0.5 + 5);
      g.lineTo(w - 7, py + 0.5);
      g.fill();
    }
  }
  s.cursors.forEach((cx, k) => {
    if (Number.isNaN(cx) || cx < 0 || cx > w) return;
    const px = cx + 0.5;
    g.strokeStyle = k === 0 ? '#c0392b' : '#8e44ad';
    g.setLineDash(k === 0 ? [] : [4, 3]);
    g.beginPath();
    g.moveTo(px, 0);
    g.lineTo(px, h);
    g.stroke();
    g.setLineDash([]);
    g.fillStyle = k === 0 ? '#c0392b' : '#8e44ad';
    g.font = '11px system-ui, sans-serif';
    g.textBaseline = 'top';
    const right = px > w - 12;
    g.textAlign = right ? 'right' : 'left';
    g.fillText(k === 0 ? 'A' : 'B', px + (right ? -3 : 3), 2);
  });
  if (s.message) {
    g.fillStyle = '#999';
    g.font = '12px system-ui, sans-serif';
    g.textAlign = 'center';
    g.textBaseline = 'middle';
    g.fillText(s.message, w / 2, h / 2);
  }
}
