// A live variable's recent values: a ring of (tick, value) pairs in typed
// arrays, and min/max decimation into preallocated arrays for drawing, so a
// chart of 100 000 values costs a few thousand points per frame and no
// objects.

import type { NativeMessage } from './protocol';

export class Series {
  readonly cap: number;
  private ticks: Float64Array;
  private vals: Float64Array;
  private head = 0; // next write index
  len = 0;
  /** Tick of the newest value, -1 if none. */
  lastTick = -1;
  /** Values received in all. */
  received = 0;
  /** Bumped on every change, so a view redraws only when needed. */
  version = 0;

  constructor(cap: number) {
    this.cap = Math.max(2, cap | 0);
    this.ticks = new Float64Array(this.cap);
    this.vals = new Float64Array(this.cap);
  }

  clear(): void {
    this.head = 0;
    this.len = 0;
    this.lastTick = -1;
    this.version++;
  }

  private put(tick: number, v: number): void {
    this.ticks[this.head] = tick;
    this.vals[this.head] = v;
    this.head = this.head + 1 === this.cap ? 0 : this.head + 1;
    if (this.len < this.cap) this.len++;
  }

  /** Append a native stream buffer or monitor value. */
  pushMessage(m: NativeMessage): void {
    if (m.count === 0) return;
    const v = m.values;
    const n = m.count;
    // Only the newest `cap` values can stay.
    const first = n > this.cap ? n - this.cap : 0;
    if (m.rel !== null) {
      const rel = m.rel;
      for (let k = first; k < n; k++) this.put(m.ts + rel[k], v[k]);
      this.lastTick = m.ts + rel[n - 1];
    } else {
      for (let k = first; k < n; k++) this.put(m.ts + k, v[k]);
      this.lastTick = m.ts + n - 1;
    }
    this.received += n;
    this.version++;
  }

  /** Append values at consecutive ticks from `ts` (tests, recorded data). */
  pushDense(ts: number, values: ArrayLike<number>): void {
    for (let k = 0; k < values.length; k++) this.put(ts + k, values[k]);
    if (values.length) this.lastTick = ts + values.length - 1;
    this.received += values.length;
    this.version++;
  }

  /** Index in storage of the i-th oldest value. */
  private at(i: number): number {
    let p = this.head - this.len + i;
    if (p < 0) p += this.cap;
    return p;
  }

  /**
   * Decimate the values with ticks in [t0, t1] into at most 2 * buckets
   * points (the minimum and maximum of each bucket, in time order), written
   * to outX (seconds = tick / rate) and outY. Returns the point count. When
   * the values fit, they are copied as they are.
   */
  decimate(t0: number, t1: number, buckets: number, rate: number, outX: Float64Array, outY: Float64Array): number {
    const len = this.len;
    if (len === 0 || t1 < t0) return 0;
    // First index with tick >= t0 (binary search: ticks increase).
    let lo = 0,
      hi = len;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ticks[this.at(mid)] < t0) lo = mid + 1;
      else hi = mid;
    }
    const start = lo;
    const maxOut = Math.min(outX.length, outY.length);
    const inv = 1 / rate;
    if (len - start <= maxOut && len - start <= 2 * buckets) {
      let n = 0;
      for (let i = start; i < len; i++) {
        const p = this.at(i);
        if (this.ticks[p] > t1) break;
        outX[n] = this.ticks[p] * inv;
        outY[n] = this.vals[p];
        n++;
      }
      return n;
    }
    const span = (t1 - t0) / buckets || 1;
    let n = 0;
    let b = -1,
      minV = 0,
      maxV = 0,
      minT = 0,
      maxT = 0;
    const flush = () => {
      if (b < 0 || n + 2 > maxOut) return;
      if (minT <= maxT) {
        outX[n] = minT * inv; outY[n++] = minV;
        if (maxT !== minT) { outX[n] = maxT * inv; outY[n++] = maxV; }
      } else {
        outX[n] = maxT * inv; outY[n++] = maxV;
        outX[n] = minT * inv; outY[n++] = minV;
      }
    };
    for (let i = start; i < len; i++) {
      const p = this.at(i);
      const t = this.ticks[p];
      if (t > t1) break;
      const v = this.vals[p];
      const bi = Math.floor((t - t0) / span);
      if (bi !== b) {
        flush();
        b = bi;
        minV = maxV = v;
        minT = maxT = t;
      } else if (v < minV) {
        minV = v;
        minT = t;
      } else if (v > maxV) {
        maxV = v;
        maxT = t;
      }
    }
    flush();
    return n;
  }
}
