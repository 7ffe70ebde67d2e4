// Colour ramps as 256-entry RGBA lookup tables (one Uint32 per entry, in
// the byte order of ImageData on little-endian machines).

function lut(stops: [number, number, number][]): Uint32Array {
  const out = new Uint32Array(256);
  const n = stops.length - 1;
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * n;
    const k = Math.min(n - 1, Math.floor(t));
    const f = t - k;
    const a = stops[k],
      b = stops[k + 1];
    const r = Math.round(a[0] + (b[0] - a[0]) * f);
    const g = Math.round(a[1] + (b[1] - a[1]) * f);
    const bl = Math.round(a[2] + (b[2] - a[2]) * f);
    out[i] = (255 << 24) | (bl << 16) | (g << 8) | r;
  }
  return out;
}

/** Viridis (the spectrogram's ramp in EasyDSP), from 9 stops. */
export const VIRIDIS = lut([
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
]);

/** The heat map's ramp in EasyDSP: blue, cyan, lime, yellow, red. */
export const HEAT = lut([
  [0, 0, 255],
  [0, 255, 255],
  [0, 255, 0],
  [255, 255, 0],
  [255, 0, 0],
]);

/** Index into a LUT for v in [lo, hi]; NaN gives -1. */
export function lutIndex(v: number, lo: number, hi: number): number {
  if (Number.isNaN(v)) return -1;
  const t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
  return t <= 0 ? 0 : t >= 1 ? 255 : (t * 255) | 0;
}
