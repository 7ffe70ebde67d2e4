import { ChartPicture, newer } from '../src/scope/painter';
import type { AxesScene } from '../src/scope/render';
import { BREAK, Scene, tracePoints } from '../src/scope/scene';
import type { Axis } from '../src/scope/render';
import { withNewest } from '../src/scope/chart';
import { describe, expect, it } from 'vitest';
import { Series } from '../src/series';
import { TriggerScanner, defaultTrigger, sweepFor } from '../src/scope/trigger';
import { FFT, Spectrum, spectrumPeak, toDb, windowCoefficients } from '../src/scope/fft';
import { panRange, pxToX, readout, xToPx, zoomRange } from '../src/scope/cursors';
import { TIME_DIVS, logTicks, niceCeil, reading, si, steps125, ticks } from '../src/scope/ticks';

const RATE = 48000;

function sine(freq: number, n: number, { t0 = 0, amp = 0.5, phase = 0, noise = 0 } = {}): Float64Array {
  const out = new Float64Array(n);
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff) - 0.5;
  for (let k = 0; k < n; k++) out[k] = amp * Math.sin(2 * Math.PI * freq * ((t0 + k) / RATE) + phase) + noise * rnd();
  return out;
}

describe('trigger', () => {
  it('finds every rising zero crossing of a sine, interpolated to a fraction of a sample', () => {
    const s = new Series(1 << 16);
    s.pushDense(0, sine(440, 48000));
    const sc = new TriggerScanner(s);
    const t = { ...defaultTrigger(), mode: 'normal' as const };
    sc.scan(t);
    // 440 crossings a second; the first at tick 0 has no sample before it.
    expect(sc.found).toBe(439);
    const period = RATE / 440;
    const last = sc.latest(Infinity);
    // The newest crossing is at a multiple of the period (exact: zero phase).
    expect(Math.abs(last / period - Math.round(last / period))).toBeLessThan(1e-3);
  });

  it('gives falling crossings when asked, and a level other than zero', () => {
    const s = new Series(1 << 16);
    s.pushDense(0, sine(100, 4800));
    const sc = new TriggerScanner(s);
    sc.scan({ ...defaultTrigger(), mode: 'normal', slope: 'falling', level: 0.25 });
    // Falling through 0.25 (= 0.5 sin 30°): at phase 150°, period 480 ticks.
    const T = sc.latest(Infinity);
    const phase = ((T % 480) / 480) * 360;
    expect(phase).toBeCloseTo(150, 1);
    expect(sc.found).toBe(10);
  });

  it('reads each value once, as buffers arrive, with the same events as one scan of all', () => {
    const x = sine(440, 24000, { noise: 0.01 });
    const whole = new Series(1 << 16);
    whole.pushDense(0, x);
    const a = new TriggerScanner(whole);
    const t = { ...defaultTrigger(), mode: 'normal' as const };
    a.scan(t);
    const inc = new Series(1 << 16);
    const b = new TriggerScanner(inc);
    for (let k = 0; k < x.length; k += 1000) {
      inc.pushDense(k, x.subarray(k, k + 1000));
      b.scan(t);
    }
    expect(b.found).toBe(a.found);
    expect(b.latest(Infinity)).toBe(a.latest(Infinity));
  });

  it('ignores noise on a slow edge: hysteresis gives one event per period', () => {
    // A 5 Hz sine with noise of 2% of full scale: without hysteresis each
    // crossing would chatter.
    const s = new Series(1 << 17);
    s.pushDense(0, sine(5, 47000, { noise: 0.02 }));
    const sc = new TriggerScanner(s);
    sc.scan({ ...defaultTrigger(), mode: 'normal', hysteresis: 0.05 });
    expect(sc.found).toBe(4); // rising crossings at 0.2, 0.4, 0.6, 0.8 s
    const chatter = new TriggerScanner(s);
    chatter.scan({ ...defaultTrigger(), mode: 'normal', hysteresis: 0 });
    expect(chatter.found).toBeGreaterThan(8);
  });

  it('shows the newest complete sweep, at the same phase frame after frame (a periodic signal stands still)', () => {
    const s = new Series(1 << 16);
    const sc = new TriggerScanner(s);
    const t = { ...defaultTrigger(), mode: 'normal' as const, position: 0.25 };
    const span = 480; // 10 ms
    const x = sine(440, 48000);
    const phases: number[] = [];
    for (let k = 0; k < 48000; k += 1024) {
      s.pushDense(k, x.subarray(k, k + 1024));
      sc.scan(t);
      const sw = sweepFor(sc, t, span, span * 2);
      if (!sw) continue;
      expect(sw.t1).toBeLessThanOrEqual(s.lastTick);
      expect(sw.t1 - sw.t0).toBeCloseTo(span, 9);
      expect(sw.trigger - sw.t0).toBeCloseTo(0.25 * span, 9);
      // The value at the trigger is the level, and rising.
      expect(Math.abs(s.valueAt(sw.trigger))).toBeLessThan(1e-3);
      expect(s.valueAt(sw.trigger + 5)).toBeGreaterThan(0);
      phases.push((sw.trigger * 440) / RATE - Math.round((sw.trigger * 440) / RATE));
    }
    expect(phases.length).toBeGreaterThan(40);
    for (const p of phases) expect(Math.abs(p)).toBeLessThan(1e-4);
  });

  it('auto free-runs on a signal that never crosses; normal shows nothing new; single takes one sweep', () => {
    const s = new Series(1 << 16);
    s.pushDense(0, new Float64Array(4800).fill(0.1));
    const sc = new TriggerScanner(s);
    const auto = { ...defaultTrigger(), mode: 'auto' as const };
    sc.scan(auto);
    expect(sweepFor(sc, auto, 480, 960)).toEqual({ t0: 4799 - 480, t1: 4799, trigger: NaN });
    const normal = { ...auto, mode: 'normal' as const };
    sc.scan(normal);
    expect(sweepFor(sc, normal, 480, 960)).toBeNull();
    // Single: armed at tick 4799, the first crossing after it whose sweep is complete.
    const single = { ...auto, mode: 'single' as const };
    s.pushDense(4800, sine(440, 4800, { t0: 4800 }));
    sc.scan(single);
    const sw = sweepFor(sc, single, 480, 960, 4799)!;
    expect(sw.trigger).toBeGreaterThan(4799);
    expect(sw.trigger).toBeLessThan(4800 + RATE / 440 + 1);
    // Later data does not move it.
    s.pushDense(9600, sine(440, 4800, { t0: 9600 }));
    sc.scan(single);
    expect(sweepFor(sc, single, 480, 960, 4799)!.trigger).toBe(sw.trigger);
  });
});

describe('FFT', () => {
  it('transforms like the definition', () => {
    const n = 16;
    const f = new FFT(n);
    const re = new Float64Array(n),
      im = new Float64Array(n);
    const x = Array.from({ length: n }, (_, k) => Math.cos(k * 0.7) + 0.3 * k);
    x.forEach((v, k) => (re[k] = v));
    f.transform(re, im);
    for (let k = 0; k < n; k++) {
      let sr = 0,
        si_ = 0;
      for (let j = 0; j < n; j++) {
        sr += x[j] * Math.cos((-2 * Math.PI * j * k) / n);
        si_ += x[j] * Math.sin((-2 * Math.PI * j * k) / n);
      }
      expect(re[k]).toBeCloseTo(sr, 9);
      expect(im[k]).toBeCloseTo(si_, 9);
    }
  });

  it('puts a 440 Hz sine of amplitude 0.5 at 440 Hz within one bin, at -6 dB', () => {
    for (const kind of ['hann', 'blackman', 'flattop', 'rect', 'hamming'] as const) {
      const n = 4096;
      const sp = new Spectrum(n, kind);
      const amp = sp.compute(sine(440, n, { phase: 0.3 }));
      const peak = spectrumPeak(amp, RATE, n);
      expect(Math.abs(peak.freq - 440)).toBeLessThan(RATE / n);
      if (kind === 'flattop') expect(toDb(peak.binAmp)).toBeCloseTo(-6.02, 1);
      else if (kind === 'rect') expect(toDb(peak.binAmp)).toBeGreaterThan(-6.02 - 4); // scalloping of up to ~4 dB
      else expect(Math.abs(toDb(peak.amp) - -6.02)).toBeLessThan(0.5); // interpolated: most of the scalloping corrected
    }
    // On a bin centre every window reads the amplitude.
    const n = 1024;
    const bin = 40;
    const x = sine((bin * RATE) / n, n);
    const sp = new Spectrum(n, 'hann');
    const amp = sp.compute(x);
    expect(amp[bin]).toBeCloseTo(0.5, 6);
    expect(spectrumPeak(amp, RATE, n).freq).toBeCloseTo((bin * RATE) / n, 6);
  });

  it('has windows of the usual shapes', () => {
    const w = windowCoefficients('hann', 8);
    expect(Array.from(w).map((v) => Number(v.toFixed(6)))).toEqual([0, 0.146447, 0.5, 0.853553, 1, 0.853553, 0.5, 0.146447]);
    expect(() => new FFT(1000)).toThrow(/power of two/);
  });
});

describe('cursors and axes', () => {
  it('reads values at two cursors and the frequency between them', () => {
    const s = new Series(1024);
    s.pushDense(100, Float64Array.from({ length: 200 }, (_, k) => 2 * k));
    expect(s.valueAt(150)).toBe(100);
    expect(s.valueAt(150.25)).toBeCloseTo(100.5, 12);
    expect(s.valueAt(99)).toBeNaN();
    expect(s.valueAt(400)).toBeNaN();
    const r = readout(110, 130, (t) => s.valueAt(t));
    expect(r).toEqual({ a: { x: 110, y: 20 }, b: { x: 130, y: 60 }, dx: 20, dy: 40, inv: 0.05 });
    expect(readout(NaN, 130, (t) => s.valueAt(t)).dx).toBeNaN();
  });

  it('maps pixels and values both ways, on linear and log axes; zooms and pans inside bounds', () => {
    expect(pxToX(250, 1000, 0, 2)).toBe(0.5);
    expect(xToPx(0.5, 1000, 0, 2)).toBe(250);
    expect(pxToX(500, 1000, 10, 1000, true)).toBeCloseTo(100, 9);
    expect(xToPx(100, 1000, 10, 1000, true)).toBeCloseTo(500, 9);
    expect(zoomRange(0, 10, 5, 0.5, 0, 10, 0.001)).toEqual([2.5, 7.5]);
    expect(zoomRange(0, 10, 0, 0.5, 0, 10, 0.001)).toEqual([0, 5]);
    expect(zoomRange(2, 4, 3, 100, 0, 10, 0.001)).toEqual([0, 10]);
    expect(zoomRange(0, 10, 5, 1e-9, 0, 10, 0.5)).toEqual([4.75, 5.25]);
    expect(panRange(2, 4, 10, 0, 10)).toEqual([8, 10]);
    expect(panRange(2, 4, -10, 0, 10)).toEqual([0, 2]);
  });

  it('labels axes in 1-2-5 steps with SI prefixes', () => {
    expect(TIME_DIVS[0]).toBe(1e-5);
    expect(TIME_DIVS.slice(0, 4)).toEqual([1e-5, 2e-5, 5e-5, 1e-4]);
    expect(TIME_DIVS[TIME_DIVS.length - 1]).toBe(10);
    expect(steps125(1, 10)).toEqual([1, 2, 5, 10]);
    expect(niceCeil(0.3)).toBe(0.5);
    expect(ticks(-0.5, 0.5, 4)).toEqual([-0.5, 0, 0.5]);
    expect(ticks(-0.5, 0.5, 5)).toEqual([-0.4, -0.2, 0, 0.2, 0.4]);
    expect(logTicks(20, 200000)).toEqual([100, 1000, 10000, 100000]);
    expect(logTicks(20, 2000)).toEqual([20, 50, 100, 200, 500, 1000, 2000]);
    expect(si(0.002, 's')).toBe('2 ms');
    expect(si(440.25, 'Hz', 4)).toBe('440.3 Hz');
    expect(si(2e-5, 's')).toBe('20 µs');
    expect(si(0, 'V')).toBe('0 V');
  });

  it('reads cursor values to the resolution of the axis shown, never in exponents or as -0', () => {
    // A sine on a -1..1 axis, read at its zero crossing and at a peak.
    expect(reading(2.635e-13, 2)).toBe('0.0000');
    expect(reading(-0.000001076, 2)).toBe('0.0000');
    expect(reading(0.49999, 2)).toBe('0.5000');
    expect(reading(-0.12345, 2)).toBe('-0.1235');
    // A frame counter on a 20000-wide axis reads whole; dB to a hundredth.
    expect(reading(6412345.2, 20000)).toBe('6412345');
    expect(reading(123456789012, 1e6)).toBe('123456789012');
    expect(reading(-5.8123, 120)).toBe('-5.81');
    // A tiny axis keeps its digits; no axis (X-Y): four significant digits.
    expect(reading(3.21e-7, 1e-6)).toBe('0.0000003210');
    expect(reading(2.635e-13, NaN)).toBe('2.635e-13');
    expect(reading(1234.5678, 0)).toBe('1235');
    expect(reading(NaN, 2)).toBe('—');
  });
});

describe('a chart picture replaced before it was painted', () => {
  const axes = { kind: 'axes' } as unknown as AxesScene;
  const plot = (n: number) => ({ w: n }) as unknown as Scene;
  it('hands on the axes it changed, so a newer picture that leaves them as they are does not lose them', () => {
    const older: ChartPicture = { kind: 'chart', axes, plot: plot(1), left: 58, top: 6 };
    const later: ChartPicture = { kind: 'chart', axes: null, plot: plot(2), left: 58, top: 6 };
    expect(newer(older, later)).toEqual({ ...later, axes });
    expect(newer(undefined, later)).toBe(later);
    const axes2 = { kind: 'axes', w: 2 } as unknown as AxesScene;
    expect(newer(older, { ...later, axes: axes2 })).toEqual({ ...later, axes: axes2 });
  });
});

describe('a flat trace', () => {
  const xAxis = { lo: 0, hi: 888, log: false } as Axis;
  const yAxis = { lo: -1, hi: 1, log: false } as Axis;
  const pts = (xs: number[], ys: number[], keepAll = false) => {
    const r = tracePoints(xs, ys, xs.length, xAxis, yAxis, 888, 140, keepAll);
    return Array.from(r.pts.subarray(0, r.n));
  };

  it('is one segment: points in the middle of a horizontal or vertical run are left out, turns and dots kept', () => {
    // y = 0 is pixel 70; y = 1 pixel 0, y = -1 pixel 140.
    expect(pts([0, 1, 3, 5, 888], [0, 0, 0, 0, 0])).toEqual([0, 70, 888, 70]);
    // A bucket's minimum and maximum at one x, then the line goes on.
    expect(pts([0, 10, 10, 10, 20], [0, 0, 1, -1, -1])).toEqual([0, 70, 10, 70, 10, 0, 10, 140, 20, 140]);
    expect(pts([0, 10, 10, 10], [0, 0.5, 1, 0.75])).toEqual([0, 70, 10, 35, 10, 0, 10, 18]);
    // Going back along the same line (X-Y) is not a run.
    expect(pts([0, 10, 5], [0, 0, 0])).toEqual([0, 70, 10, 70, 5, 70]);
    // A gap ends the run.
    expect(pts([0, 1, NaN, 3, 4], [0, 0, NaN, 0, 0].map((v, i) => (i === 2 ? NaN : v)))).toEqual([0, 70, 1, 70, BREAK, BREAK, 3, 70, 4, 70]);
    // Dots: every point is drawn.
    expect(pts([0, 1, 2], [0, 0, 0], true)).toEqual([0, 70, 1, 70, 2, 70]);
  });

  it('ends at the newest value of the window, wherever the buckets fall, so its pixels stay the same', () => {
    const s = new Series(1 << 16);
    s.pushDense(0, new Float64Array(20000).fill(0.25));
    const w = 888,
      span = 4800;
    const x = new Float64Array(4 * w),
      y = new Float64Array(4 * w);
    const keys = new Set<string>();
    const ends = new Set<number>();
    for (const last of [9000, 11048, 13096, 15144, 17192]) {
      const t0 = last - span;
      let n = s.decimate(t0, last, w, RATE, x, y);
      ends.add(Math.round(((x[n - 1] - t0 / RATE) / (span / RATE)) * w)); // its last bucket's first value
      n = withNewest(s, last, RATE, n, x, y);
      expect(x[n - 1]).toBeCloseTo(last / RATE, 12);
      expect(withNewest(s, last, RATE, n, x, y)).toBe(n); // once
      const ax = { lo: t0 / RATE, hi: last / RATE, log: false } as Axis;
      const r = tracePoints(x, y, n, ax, yAxis, w, 140);
      keys.add(Array.from(r.pts.subarray(0, r.n)).join(','));
    }
    expect(ends.size).toBeGreaterThan(1); // without it, the end moved
    expect([...keys]).toEqual([`0,53,${w},53`]);
  });
});
