// A live variable's recent values: a ring of (tick, value) pairs in typed
// arrays, and min/max decimation into preallocated arrays for drawing, so a
// chart of 100 000 values costs a few thousand points per frame and no
// objects.
//
// Decimation buckets lie on an absolute grid of ticks (bucket b holds the
// ticks t with floor(t / width) = b), so as the window scrolls, a bucket
// keeps its values: a Decimator keeps each bucket's minimum and maximum and
// folds in only the values that arrived since the last frame, and the
// result is the same as Series.decimate's from scratch.

import type { NativeMessage } from './protocol';

/** The bucket of a tick: one function for both decimations, so they agree
 * to the last bit on where a bucket starts. */
function bucketOf(t: number, width: number): number {
  return Math.floor(t / width);
}

export class Series {
  readonly cap: number;
  /** Storage, a ring (read by Decimator; only Series writes). */
  readonly ticks: Float64Array;
  readonly vals: Float64Array;
  private head = 0; // next write index
  len = 0;
  /** Tick of the newest value, -1 if none. */
  lastTick = -1;
  /** Values received in all. */
  received = 0;
  /** Bumped on every change, so a view redraws only when needed. */
  version = 0;
  /** Bumped by clear(), so a Decimator starts over. */
  epoch = 0;

  constructor(cap: number) {
    this.cap = Math.max(2, cap | 0);
    this.ticks = new Float64Array(this.cap);
    this.vals = new Float64Array(this.cap);
  }

  /** Tick of the oldest value held, NaN if none. */
  get oldestTick(): number {
    return this.len ? this.ticks[this.at(0)] : NaN;
  }

  /** A copy of everything held (a paused scope's frozen data). */
  frozenCopy(): Series {
    const c = new Series(Math.max(2, this.len));
    for (let i = 0; i < this.len; i++) {
      const p = this.at(i);
      c.ticks[i] = this.ticks[p];
      c.vals[i] = this.vals[p];
    }
    c.len = this.len;
    c.head = this.len % c.cap;
    c.lastTick = this.lastTick;
    c.received = this.len;
    return c;
  }

  /** The same values in a larger ring (a longer time base needs more). */
  grown(cap: number): Series {
    if (cap <= this.cap) return this;
    const c = new Series(cap);
    for (let i = 0; i < this.len; i++) {
      const p = this.at(i);
      c.ticks[i] = this.ticks[p];
      c.vals[i] = this.vals[p];
    }
    c.len = this.len;
    c.head = this.len;
    c.lastTick = this.lastTick;
    c.received = this.received;
    c.version = this.version + 1;
    c.epoch = this.epoch + 1;
    return c;
  }

  /** The value at tick t: linear between the two values around it (a value
   * at exactly t is returned as it is); NaN outside the values held. */
  valueAt(t: number): number {
    if (this.len === 0) return NaN;
    const i = this.lowerBound(t);
    if (i >= this.len) return NaN;
    const p = this.at(i);
    const t1 = this.ticks[p];
    if (t1 === t) return this.vals[p];
    if (i === 0) return NaN;
    const q = this.at(i - 1);
    const t0 = this.ticks[q];
    return this.vals[q] + ((this.vals[p] - this.vals[q]) * (t - t0)) / (t1 - t0);
  }

  clear(): void {
    this.head = 0;
    this.len = 0;
    this.lastTick = -1;
    this.version++;
    this.epoch++;
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
  at(i: number): number {
    let p = this.head - this.len + i;
    if (p < 0) p += this.cap;
    return p;
  }

  /** The first i (oldest first) whose tick is >= t, or len (ticks increase). */
  lowerBound(t: number): number {
    let lo = 0,
      hi = this.len;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ticks[this.at(mid)] < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The first i whose tick is > t, or len. */
  upperBound(t: number): number {
    let lo = 0,
      hi = this.len;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ticks[this.at(mid)] <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The first i whose tick is in bucket b or a later one, or len. */
  bucketStart(b: number, width: number): number {
    let lo = 0,
      hi = this.len;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (bucketOf(this.ticks[this.at(mid)], width) < b) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Decimate the values with ticks in [t0, t1] into at most 2 * (buckets + 1)
   * points (the minimum and maximum of each bucket, in time order), written
   * to outX (seconds = tick / rate) and outY. Buckets are (t1 - t0) /
   * buckets ticks wide, on a grid of absolute ticks (from tick 0), so the
   * first and last may be cut by the window. Returns the point count. When
   * the values fit, they are copied as they are.
   */
  decimate(t0: number, t1: number, buckets: number, rate: number, outX: Float64Array, outY: Float64Array): number {
    if (this.len === 0 || t1 < t0) return 0;
    const start = this.lowerBound(t0);
    const end = this.upperBound(t1);
    const maxOut = Math.min(outX.length, outY.length);
    if (end - start <= maxOut && end - start <= 2 * buckets) return this.copy(start, end, 1 / rate, outX, outY, 0);
    return this.bucketize(start, end, (t1 - t0) / buckets || 1, 1 / rate, outX, outY, 0, maxOut);
  }

  /** Copy values [i0, i1) (oldest first) to out from index n; returns the new n. */
  copy(i0: number, i1: number, inv: number, outX: Float64Array, outY: Float64Array, n: number): number {
    for (let i = i0; i < i1; i++) {
      const p = this.at(i);
      outX[n] = this.ticks[p] * inv;
      outY[n] = this.vals[p];
      n++;
    }
    return n;
  }

  /** Values [i0, i1) (oldest first), bucketed: each bucket's minimum and
   * maximum from index n (one point if they are the same value), in time
   * order; a bucket that would not fit in maxOut is left out. Returns the
   * new n. */
  bucketize(i0: number, i1: number, width: number, inv: number, outX: Float64Array, outY: Float64Array, n: number, maxOut: number): number {
    if (i0 >= i1) return n;
    const ticks = this.ticks,
      vals = this.vals;
    let p = this.at(i0);
    let b = bucketOf(ticks[p], width);
    let minV = vals[p],
      maxV = minV,
      minT = ticks[p],
      maxT = minT;
    for (let i = i0 + 1; i < i1; i++) {
      if (++p === this.cap) p = 0;
      const t = ticks[p];
      const v = vals[p];
      const bi = bucketOf(t, width);
      if (bi !== b) {
        n = emit(minT, minV, maxT, maxV, inv, outX, outY, n, maxOut);
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
    return emit(minT, minV, maxT, maxV, inv, outX, outY, n, maxOut);
  }
}

/** A bucket's points: its minimum and maximum in time order, one point if
 * they are the same value. */
function emit(minT: number, minV: number, maxT: number, maxV: number, inv: number, outX: Float64Array, outY: Float64Array, n: number, maxOut: number): number {
  if (n + 2 > maxOut) return n;
  if (minT <= maxT) {
    outX[n] = minT * inv;
    outY[n++] = minV;
    if (maxT !== minT) {
      outX[n] = maxT * inv;
      outY[n++] = maxV;
    }
  } else {
    outX[n] = maxT * inv;
    outY[n++] = maxV;
    outX[n] = minT * inv;
    outY[n++] = minV;
  }
  return n;
}

/**
 * Series.decimate for a scrolling window, drawn frame after frame: each
 * bucket's minimum and maximum are kept, on the absolute grid, and a frame
 * folds in only the values that arrived since the last one; the buckets cut
 * by the window's edges are decimated from the values. The points are the
 * same as Series.decimate's.
 */
export class Decimator {
  private width = NaN;
  private epoch = -1;
  private readonly size: number;
  private readonly minV: Float64Array;
  private readonly maxV: Float64Array;
  private readonly minT: Float64Array;
  private readonly maxT: Float64Array;
  /** Values in each bucket slot; 0 for an empty bucket. */
  private readonly count: Uint32Array;
  /** Buckets [lo, hi] are held (every value of the series in them folded). */
  private lo = 0;
  private hi = -1;
  /** series.received when last folded, and the newest tick folded. */
  private folded = 0;
  private lastTick = -Infinity;
  /** Frames drawn from scratch (tests). */
  rebuilds = 0;

  /** `buckets`: the most buckets a window is drawn with; a ring of twice
   * that holds the window's and the newer ones' (data ahead of the clock). */
  constructor(
    readonly series: Series,
    buckets: number,
  ) {
    this.size = Math.max(16, 2 * Math.ceil(buckets) + 16);
    this.minV = new Float64Array(this.size);
    this.maxV = new Float64Array(this.size);
    this.minT = new Float64Array(this.size);
    this.maxT = new Float64Array(this.size);
    this.count = new Uint32Array(this.size);
  }

  /** Forget every bucket; fold from bucket `from` on. */
  private reset(from: number, width: number): void {
    const s = this.series;
    this.width = width;
    this.epoch = s.epoch;
    this.lo = from;
    this.hi = from - 1;
    this.rebuilds++;
    this.foldRange(s.bucketStart(from, width), s.len);
    this.folded = s.received;
  }

  private slot(b: number): number {
    const k = b % this.size;
    return k < 0 ? k + this.size : k;
  }

  /** Fold values [i0, i1) (oldest first) into their buckets. */
  private foldRange(i0: number, i1: number): boolean {
    const s = this.series;
    const ticks = s.ticks,
      vals = s.vals,
      w = this.width;
    let p = s.at(i0);
    for (let i = i0; i < i1; i++, p = p + 1 === s.cap ? 0 : p + 1) {
      const t = ticks[p];
      const v = vals[p];
      if (t < this.lastTick) return false; // ticks went back: start over
      this.lastTick = t;
      const b = bucketOf(t, w);
      if (b < this.lo) continue; // before the buckets held
      if (b > this.hi) {
        // New buckets: empty until their first value; the oldest leave the ring.
        if (b - this.hi >= this.size) this.count.fill(0);
        else for (let k = this.hi + 1; k <= b; k++) this.count[this.slot(k)] = 0;
        this.hi = b;
        if (this.hi - this.lo >= this.size) this.lo = this.hi - this.size + 1;
      }
      const k = this.slot(b);
      if (this.count[k]++ === 0) {
        this.minV[k] = this.maxV[k] = v;
        this.minT[k] = this.maxT[k] = t;
      } else if (v < this.minV[k]) {
        this.minV[k] = v;
        this.minT[k] = t;
      } else if (v > this.maxV[k]) {
        this.maxV[k] = v;
        this.maxT[k] = t;
      }
    }
    return true;
  }

  /** Series.decimate(t0, t1, buckets, rate, outX, outY), the same points. */
  decimate(t0: number, t1: number, buckets: number, rate: number, outX: Float64Array, outY: Float64Array): number {
    const s = this.series;
    if (s.len === 0 || t1 < t0) return 0;
    const w = (t1 - t0) / buckets || 1;
    const bFirst = bucketOf(t0, w);
    const bLast = bucketOf(t1, w);
    // Fold what arrived since the last frame; start over if that is not possible.
    const fresh = s.received - this.folded;
    if (w !== this.width || s.epoch !== this.epoch || fresh > s.len || bFirst + 1 < this.lo) {
      this.lastTick = -Infinity;
      this.reset(bFirst + 1, w);
    } else if (fresh > 0) {
      if (!this.foldRange(s.len - fresh, s.len)) {
        this.lastTick = -Infinity;
        this.reset(bFirst + 1, w);
      }
      this.folded = s.received;
    }

    const start = s.lowerBound(t0);
    const end = s.upperBound(t1);
    const maxOut = Math.min(outX.length, outY.length);
    const inv = 1 / rate;
    if (end - start <= maxOut && end - start <= 2 * buckets) return s.copy(start, end, inv, outX, outY, 0);
    if (bLast <= bFirst + 1) return s.bucketize(start, end, w, inv, outX, outY, 0, maxOut);

    // Buckets held whole: from the first inside the window, and whose
    // values are all still in the series (the oldest may have been dropped
    // from its ring: the buckets up to the oldest value's are decimated
    // from the values left).
    const oldest = s.len > 0 ? s.ticks[s.at(0)] : 0;
    const from = Math.max(bFirst + 1, this.lo, bucketOf(oldest, w) + 1);
    const to = bLast - 1; // the last bucket is cut by t1
    let n = 0;
    // The first bucket (cut by t0), and any not held.
    const mid = s.bucketStart(Math.min(from, bLast), w);
    n = s.bucketize(start, Math.min(mid, end), w, inv, outX, outY, n, maxOut);
    const top = Math.min(to, this.hi);
    for (let b = from; b <= top; b++) {
      const k = this.slot(b);
      if (this.count[k] === 0) continue;
      n = emit(this.minT[k], this.minV[k], this.maxT[k], this.maxV[k], inv, outX, outY, n, maxOut);
    }
    // The last bucket, up to t1.
    return s.bucketize(Math.max(start, s.bucketStart(bLast, w)), end, w, inv, outX, outY, n, maxOut);
  }
}
