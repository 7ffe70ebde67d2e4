// The scope's trigger: where a sweep starts, so a periodic signal is drawn
// at the same phase frame after frame and stands still.
//
// A TriggerScanner reads a Series once, sample by sample, as values arrive
// (each sample is looked at once, whatever the frame rate) and keeps the
// ticks of the recent trigger events. An event is a crossing of `level` in
// the direction of `slope`, armed by hysteresis: a rising event needs the
// signal to have been at or below level - h since the previous event, so
// noise riding on a slow edge gives one event, not a burst. Its tick is
// interpolated between the two samples around the crossing, so sweeps line
// up to a fraction of a sample.
//
// Which sweep to show (sweepFor) follows an oscilloscope's modes:
//   auto    the newest complete triggered sweep; free-running (the newest
//           window) when no event came for a while, so a flat line shows
//   normal  the newest complete triggered sweep; nothing new without one
//   single  the first complete sweep after arming, then the scope stops

import type { Series } from '../series';

export type TriggerMode = 'off' | 'auto' | 'normal' | 'single';
export type Slope = 'rising' | 'falling';

export interface TriggerSettings {
  mode: TriggerMode;
  slope: Slope;
  level: number;
  /** Absolute hysteresis; NaN: 2% of the signal's recent peak-to-peak. */
  hysteresis: number;
  /** Where the trigger sits in the window, 0 (left edge) to 1 (right edge). */
  position: number;
}

export function defaultTrigger(): TriggerSettings {
  return { mode: 'off', slope: 'rising', level: 0, hysteresis: NaN, position: 0.5 };
}

const EVENTS = 256;
const PP_BLOCKS = 8;

export class TriggerScanner {
  /** Ticks of the newest events, a ring; count in all. */
  private events = new Float64Array(EVENTS);
  private count = 0;
  private armed = false;
  private prevT = NaN;
  private prevV = NaN;
  private folded = 0;
  private epoch = -1;
  private slope: Slope = 'rising';
  private level = 0;
  private hyst = NaN;
  /** Peak-to-peak of the last few scans, for the automatic hysteresis. */
  private pp = new Float64Array(PP_BLOCKS);
  private ppN = 0;
  /** Events found in all (tests). */
  found = 0;

  constructor(readonly series: Series) {}

  /** Forget every event; the next scan reads the whole series again. */
  reset(): void {
    this.count = 0;
    this.armed = false;
    this.prevT = this.prevV = NaN;
    this.folded = -1;
    this.ppN = 0;
  }

  private hysteresis(): number {
    if (Number.isFinite(this.hyst)) return Math.max(0, this.hyst);
    let pp = 0;
    for (let k = 0; k < Math.min(this.ppN, PP_BLOCKS); k++) pp = Math.max(pp, this.pp[k]);
    return 0.02 * pp;
  }

  /** Read the values that arrived since the last scan (all of them after a
   * reset, a change of settings or a cleared series). */
  scan(t: TriggerSettings): void {
    const s = this.series;
    if (t.slope !== this.slope || t.level !== this.level || !Object.is(t.hysteresis, this.hyst) || s.epoch !== this.epoch) {
      this.slope = t.slope;
      this.level = t.level;
      this.hyst = t.hysteresis;
      this.epoch = s.epoch;
      this.reset();
    }
    let fresh = this.folded < 0 ? s.len : s.received - this.folded;
    if (fresh > s.len) {
      // Values went by unread (a very long frame): start after the gap.
      fresh = s.len;
      this.armed = false;
      this.prevT = this.prevV = NaN;
    }
    this.folded = s.received;
    if (fresh <= 0) return;
    const rising = this.slope === 'rising';
    const level = this.level;
    const ticks = s.ticks,
      vals = s.vals;
    let p = s.at(s.len - fresh);
    let lo = Infinity,
      hi = -Infinity;
    // The hysteresis of this block is that of the blocks before it (the
    // first block of all: its own peak-to-peak, found in a first pass).
    if (this.ppN === 0) {
      for (let i = 0, q = p; i < fresh; i++, q = q + 1 === s.cap ? 0 : q + 1) {
        const v = vals[q];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      this.pp[0] = hi - lo;
      this.ppN = 1;
      lo = Infinity;
      hi = -Infinity;
    }
    const h = this.hysteresis();
    const arm = rising ? level - h : level + h;
    let armed = this.armed,
      pt = this.prevT,
      pv = this.prevV;
    for (let i = 0; i < fresh; i++, p = p + 1 === s.cap ? 0 : p + 1) {
      const tk = ticks[p],
        v = vals[p];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      if (rising) {
        if (v <= arm) armed = true;
        else if (armed && v >= level && pv < level) {
          this.push(pt + ((level - pv) / (v - pv)) * (tk - pt));
          armed = false;
        }
      } else {
        if (v >= arm) armed = true;
        else if (armed && v <= level && pv > level) {
          this.push(pt + ((pv - level) / (pv - v)) * (tk - pt));
          armed = false;
        }
      }
      // A crossing needs a sample before it: the first ever only arms.
      pt = tk;
      pv = v;
    }
    this.armed = armed;
    this.prevT = pt;
    this.prevV = pv;
    if (hi >= lo) this.pp[this.ppN++ % PP_BLOCKS] = hi - lo;
  }

  private push(tick: number): void {
    if (!Number.isFinite(tick)) return;
    this.events[this.count % EVENTS] = tick;
    this.count++;
    this.found++;
  }

  /** The newest event at or before `maxTick` (and after `minTick`), or NaN. */
  latest(maxTick: number, minTick = -Infinity): number {
    const n = Math.min(this.count, EVENTS);
    for (let k = 1; k <= n; k++) {
      const t = this.events[(this.count - k) % EVENTS];
      if (t <= maxTick) return t > minTick ? t : NaN;
    }
    return NaN;
  }

  /** The oldest event after `minTick` and at or before `maxTick`, or NaN. */
  first(minTick: number, maxTick: number): number {
    const n = Math.min(this.count, EVENTS);
    let best = NaN;
    for (let k = 1; k <= n; k++) {
      const t = this.events[(this.count - k) % EVENTS];
      if (t <= minTick) break;
      if (t <= maxTick) best = t;
    }
    return best;
  }
}

/** A sweep: the window [t0, t1] of ticks to draw, and the trigger's tick
 * (NaN when free-running). */
export interface Sweep {
  t0: number;
  t1: number;
  trigger: number;
}

/**
 * The sweep to show now, for a window of `span` ticks: the newest one that
 * is complete (its values up to t1 have arrived), or null to keep showing
 * the last one (normal mode without a new event; single mode once done).
 * `armedAt`: single mode's arming tick. Auto mode free-runs after `autoTicks`
 * without an event.
 */
export function sweepFor(
  sc: TriggerScanner,
  t: TriggerSettings,
  span: number,
  autoTicks: number,
  armedAt = -Infinity,
): Sweep | null {
  const s = sc.series;
  if (s.len === 0) return null;
  const last = s.lastTick;
  const oldest = s.ticks[s.at(0)];
  const pos = Math.min(1, Math.max(0, t.position));
  const pre = pos * span,
    post = span - pre;
  if (t.mode === 'single') {
    const T = sc.first(armedAt, last - post);
    return Number.isFinite(T) ? { t0: T - pre, t1: T + post, trigger: T } : null;
  }
  const T = sc.latest(last - post, oldest + pre - 1);
  if (Number.isFinite(T) && (t.mode === 'normal' || last - post - T <= autoTicks)) return { t0: T - pre, t1: T + post, trigger: T };
  if (t.mode === 'auto') return { t0: last - span, t1: last, trigger: NaN };
  return null;
}
