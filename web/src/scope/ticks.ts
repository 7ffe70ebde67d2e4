// Axis arithmetic for the scope: the 1-2-5 steps of a time base, "nice"
// tick positions for any range, and numbers written with SI prefixes, as an
// oscilloscope labels them (2 ms/div, 440 Hz, -6.02 dB).

/** Steps of a 1-2-5 sequence from `lo` to `hi` (inclusive, within rounding). */
export function steps125(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)) - 1; e <= Math.ceil(Math.log10(hi)) + 1; e++)
    for (const m of [1, 2, 5]) {
      const v = Number((m * 10 ** e).toPrecision(3));
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
    }
  return out;
}

/** Time per division, 10 µs to 10 s; a window is 10 divisions. */
export const TIME_DIVS = steps125(10e-6, 10);
export const DIVISIONS = 10;

/** The smallest 1, 2 or 5 times a power of ten that is >= x (x > 0). */
export function niceCeil(x: number): number {
  if (!(x > 0)) return 1;
  const e = Math.floor(Math.log10(x));
  const b = 10 ** e;
  for (const m of [1, 2, 5, 10]) if (m * b >= x * (1 - 1e-12)) return m * b;
  return 10 * b;
}

/** Tick positions covering [lo, hi] with a 1-2-5 step, about `target` of
 * them; values are rounded to the step so labels print cleanly. */
export function ticks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo) || !Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  const step = niceCeil((hi - lo) / Math.max(1, target));
  const out: number[] = [];
  const first = Math.ceil(lo / step - 1e-9);
  for (let k = first; k * step <= hi + step * 1e-9 && out.length < 1000; k++) out.push(Number((k * step).toPrecision(12)));
  return out;
}

/** Decade ticks for a log axis over [lo, hi] (lo > 0): 1, 2, 5 per decade
 * when few decades are shown, else only the decades. */
export function logTicks(lo: number, hi: number): number[] {
  if (!(lo > 0) || !(hi > lo)) return [];
  const out: number[] = [];
  const decades = Math.log10(hi / lo);
  const ms = decades <= 3 ? [1, 2, 5] : [1];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++)
    for (const m of ms) {
      const v = Number((m * 10 ** e).toPrecision(6));
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
    }
  return out;
}

const PREFIXES: [number, string][] = [
  [1e9, 'G'],
  [1e6, 'M'],
  [1e3, 'k'],
  [1, ''],
  [1e-3, 'm'],
  [1e-6, 'µ'],
  [1e-9, 'n'],
];

/** A number with an SI prefix and a unit: si(0.002, 's') = "2 ms",
 * si(440.25, 'Hz', 4) = "440.3 Hz". `digits` significant digits, trailing
 * zeros dropped. */
export function si(v: number, unit: string, digits = 3): string {
  if (!Number.isFinite(v)) return `— ${unit}`.trim();
  if (v === 0) return `0 ${unit}`.trim();
  const a = Math.abs(v);
  let [scale, p] = PREFIXES[PREFIXES.length - 1];
  for (const [s, q] of PREFIXES)
    if (a >= s * (1 - 1e-12)) {
      scale = s;
      p = q;
      break;
    }
  const n = Number((v / scale).toPrecision(digits));
  return `${n} ${p}${unit}`.trim();
}

/** A value read at a cursor, to the resolution the chart shows: a ten
 * thousandth of the axis' span (`span`), fixed decimals, no exponent, no
 * "-0" — so a sine read at its zero crossing says 0.0000, not 2.635e-13,
 * and a counter reads whole. Without a span (or one too small for fixed
 * decimals), four significant digits. */
export function reading(v: number, span: number): string {
  if (!Number.isFinite(v)) return '—';
  if (!(span >= 1e-8) || !Number.isFinite(span)) return String(Number(v.toPrecision(4)));
  const decimals = Math.max(0, Math.min(12, Math.ceil(-Math.log10(span / 10000) - 1e-9)));
  const t = v.toFixed(decimals);
  return /^-0(\.0*)?$/.test(t) ? t.slice(1) : t;
}

/** A plain number for an axis label: few digits, no exponent for the usual
 * ranges. */
export function plain(v: number, step: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return v.toExponential(Math.max(0, Math.min(6, -Math.floor(Math.log10(step)) + Math.floor(Math.log10(a)))));
  const decimals = Math.max(0, Math.min(10, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}
