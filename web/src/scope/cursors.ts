// Cursor readouts: two cursors A and B on a chart's x axis (time, or
// frequency in the spectrum view), and what lies between them.

export interface CursorPoint {
  x: number;
  y: number;
}

export interface Readout {
  a: CursorPoint | null;
  b: CursorPoint | null;
  /** B - A on each axis, and 1 / Δx (a frequency when x is time). */
  dx: number;
  dy: number;
  inv: number;
}

/** The readout for cursors at xa and xb (NaN: not placed), reading the
 * trace with `at` (NaN where it has no value). */
export function readout(xa: number, xb: number, at: (x: number) => number): Readout {
  const a = Number.isFinite(xa) ? { x: xa, y: at(xa) } : null;
  const b = Number.isFinite(xb) ? { x: xb, y: at(xb) } : null;
  const dx = a && b ? b.x - a.x : NaN;
  const dy = a && b ? b.y - a.y : NaN;
  return { a, b, dx, dy, inv: Number.isFinite(dx) && dx !== 0 ? 1 / Math.abs(dx) : NaN };
}

/** Position on a plot (pixels from its left edge) to x, and back, for a
 * linear or logarithmic axis over [x0, x1] drawn `width` pixels wide. */
export function pxToX(px: number, width: number, x0: number, x1: number, log = false): number {
  const f = px / width;
  if (log) return x0 * (x1 / x0) ** f;
  return x0 + f * (x1 - x0);
}

export function xToPx(x: number, width: number, x0: number, x1: number, log = false): number {
  if (log) return (Math.log(x / x0) / Math.log(x1 / x0)) * width;
  return ((x - x0) / (x1 - x0)) * width;
}

/** Zoom [x0, x1] by `factor` (< 1 zooms in) around x, kept inside
 * [lo, hi] and at least `minSpan` wide. */
export function zoomRange(x0: number, x1: number, x: number, factor: number, lo: number, hi: number, minSpan: number): [number, number] {
  let span = Math.max(minSpan, (x1 - x0) * factor);
  span = Math.min(span, hi - lo);
  const f = x1 > x0 ? (x - x0) / (x1 - x0) : 0.5;
  let n0 = x - f * span;
  let n1 = n0 + span;
  if (n0 < lo) [n0, n1] = [lo, lo + span];
  if (n1 > hi) [n0, n1] = [hi - span, hi];
  return [n0, n1];
}

/** Move [x0, x1] by dx, kept inside [lo, hi]. */
export function panRange(x0: number, x1: number, dx: number, lo: number, hi: number): [number, number] {
  const span = x1 - x0;
  let n0 = Math.max(lo, Math.min(hi - span, x0 + dx));
  if (span >= hi - lo) n0 = lo;
  return [n0, n0 + span];
}
