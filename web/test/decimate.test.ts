import { describe, expect, it } from 'vitest';
import { Decimator, Series } from '../src/series';

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CAP = 8192;

/** Series.decimate and each Decimator draw the same window: the same points. */
function same(s: Series, ds: Decimator | Decimator[], t0: number, t1: number, buckets: number, rate: number, cap = CAP): number {
  const ax = new Float64Array(cap), ay = new Float64Array(cap);
  const bx = new Float64Array(cap), by = new Float64Array(cap);
  const na = s.decimate(t0, t1, buckets, rate, ax, ay);
  for (const d of Array.isArray(ds) ? ds : [ds]) {
    const nb = d.decimate(t0, t1, buckets, rate, bx, by);
    expect(nb).toBe(na);
    // Object.is: NaN equals NaN, as toEqual has it; compared here, since
    // toEqual on thousands of points every frame is slow.
    let k = 0;
    while (k < na && Object.is(ax[k], bx[k]) && Object.is(ay[k], by[k])) k++;
    if (k < na) expect([k, bx[k], by[k]]).toEqual([k, ax[k], ay[k]]);
  }
  return na;
}

describe('Decimator: the decimation of a scrolling window, kept between frames', () => {
  it('equals a decimation from scratch, frame after frame, for random data and scroll steps', () => {
    for (let seed = 1; seed <= 8; seed++) {
      const r = rng(seed);
      const rate = 48000;
      const window = 2 * rate;
      const buckets = 300 + Math.floor(r() * 1100);
      const s = new Series(Math.ceil(window * 1.25) + 1024);
      const d = new Decimator(s, 2048);
      const small = new Decimator(s, 200); // a ring of fewer buckets than the window's
      let tick = Math.floor(r() * 1e6);
      let live = tick;
      let points = 0;
      for (let frame = 0; frame < 120; frame++) {
        // 0-3 buffers of 1024 values arrive (a coarse sine, so values repeat,
        // with spikes);
        // now and then buffers are lost (a jump in ticks).
        const nb = Math.floor(r() * 4);
        for (let k = 0; k < nb; k++) {
          if (r() < 0.05) tick += Math.floor(r() * 20000);
          const v = Float64Array.from({ length: 1024 }, (_, j) => Math.round(Math.sin((tick + j) / 300) * 20) + (r() < 0.001 ? 10 * (r() - 0.5) : 0));
          s.pushDense(tick, v);
          tick += 1024;
        }
        // The window scrolls with the clock: about a frame's ticks, sometimes
        // a stall, sometimes ahead of or behind the data.
        live += r() < 0.1 ? Math.floor(r() * 5000) : 800 + Math.floor(r() * 10);
        if (r() < 0.1) live = tick - Math.floor(r() * 3000);
        const t1 = Math.floor(live);
        points += same(s, [d, small], t1 - window, t1, buckets, rate, 4096);
      }
      expect(points).toBeGreaterThan(0);
      // Most frames fold only the new values.
      expect(d.rebuilds).toBeLessThan(20);
    }
  });

  it('sparse values at irregular ticks, and a ring smaller than the window', () => {
    for (let seed = 100; seed < 110; seed++) {
      const r = rng(seed);
      const s = new Series(500); // drops values still in the window
      const d = new Decimator(s, 256);
      let tick = 0;
      for (let frame = 0; frame < 200; frame++) {
        const n = Math.floor(r() * 200);
        for (let k = 0; k < n; k++) {
          tick += 1 + Math.floor(r() * (r() < 0.95 ? 3 : 200));
          s.pushDense(tick, [r() < 0.01 ? NaN : Math.floor(r() * 100) - 50]);
        }
        same(s, d, tick - 5000, tick - Math.floor(r() * 50), 60 + Math.floor(r() * 60), 1000);
      }
    }
  });

  it('starts over when the width changes, the series is cleared or the window goes back', () => {
    const r = rng(7);
    const s = new Series(100000);
    const d = new Decimator(s, 2048);
    s.pushDense(0, Float64Array.from({ length: 50000 }, () => r()));
    same(s, d, 10000, 40000, 500, 1000);
    same(s, d, 10000, 40000, 700, 1000); // a wider chart
    same(s, d, 5000, 35000, 700, 1000); // back in time
    s.clear();
    s.pushDense(100, Float64Array.from({ length: 50000 }, () => -r()));
    same(s, d, 20000, 50000, 700, 1000);
    s.pushDense(50100, Float64Array.from({ length: 3000 }, () => r() * 3));
    same(s, d, 23000, 53000, 700, 1000);
    // Few values in the window: copied as they are, by both.
    expect(same(s, d, 52990, 53000, 700, 1000)).toBe(11);
    // A tiny output: the buckets that do not fit are left out, by both.
    same(s, d, 23000, 53000, 700, 1000, 101);
  });

  it('keeps each pixel column\'s minimum and maximum: a one-value spike stays', () => {
    const s = new Series(200000);
    const d = new Decimator(s, 2048);
    const x = new Float64Array(4096), y = new Float64Array(4096);
    for (let f = 0; f < 100; f++) {
      const v = new Float64Array(1024);
      if (f === 50) v[333] = 7;
      if (f === 60) v[1] = -7;
      s.pushDense(f * 1024, v);
      const t1 = f * 1024 + 1023;
      const n = d.decimate(t1 - 96000, t1, 1000, 48000, x, y);
      const ys = Array.from(y.subarray(0, n));
      if (f >= 50) expect(Math.max(...ys)).toBe(7);
      if (f >= 60) expect(Math.min(...ys)).toBe(-7);
      expect(n).toBeLessThanOrEqual(2 * 1001);
    }
  });
});
