// How far behind live the page is. The device's clock is its tick; the
// page's is performance.now(). Every tick the page hears about (a list
// reply's latest tick, the newest value of a buffer) was current on the
// device at or before the moment it arrived, so tick / rate - arrival is a
// lower bound of the offset between the two clocks; the largest recent
// bound is the estimate (taken over a sliding window, so the two clocks may
// drift apart slowly). Live now = arrival time + offset, and the lag of a
// stream is live now minus its newest tick.

export class LiveClock {
  rate = 0;
  private samples: { at: number; offset: number }[] = [];
  private readonly windowMs: number;

  constructor(windowMs = 10000) {
    this.windowMs = windowMs;
  }

  reset(rate: number): void {
    this.rate = rate;
    this.samples = [];
  }

  /** The device was at `tick` (or later) when the page got it at `nowMs`. */
  observe(tick: number, nowMs: number): void {
    if (!(this.rate > 0)) return;
    const offset = tick / this.rate - nowMs / 1000;
    const s = this.samples;
    while (s.length && s[0].at < nowMs - this.windowMs) s.shift();
    // Keep a decreasing list: an older, smaller bound can never be the max.
    while (s.length && s[s.length - 1].offset <= offset) s.pop();
    s.push({ at: nowMs, offset });
  }

  get known(): boolean {
    return this.rate > 0 && this.samples.length > 0;
  }

  /** The device's tick now, estimated. */
  liveTick(nowMs: number): number {
    if (!this.known) return NaN;
    return (this.samples[0].offset + nowMs / 1000) * this.rate;
  }

  /** Milliseconds between live now and `tick`. */
  lagMs(tick: number, nowMs: number): number {
    if (!this.known || tick < 0) return NaN;
    return Math.max(0, ((this.liveTick(nowMs) - tick) / this.rate) * 1000);
  }
}

/** The badge's colour, with EasyDSP's thresholds. */
export function latencyClass(ms: number): 'ok' | 'warn' | 'bad' | 'none' {
  if (!Number.isFinite(ms)) return 'none';
  return ms < 400 ? 'ok' : ms < 1000 ? 'warn' : 'bad';
}
