// The scope's spectrum view: a radix-2 FFT of the newest N values of a
// trace, through a window, as amplitude per frequency bin. Amplitudes are
// corrected for the window's coherent gain, so a sine of amplitude A reads
// A at its bin (20 log10 A dB, 0 dB for a full-scale sine of amplitude 1).

export type WindowKind = 'rect' | 'hann' | 'hamming' | 'blackman' | 'flattop';
export const WINDOWS: readonly WindowKind[] = ['hann', 'hamming', 'blackman', 'flattop', 'rect'];
export const FFT_SIZES: readonly number[] = [256, 512, 1024, 2048, 4096, 8192, 16384, 32768];

/** Window coefficients, periodic form (as used for spectral analysis). */
export function windowCoefficients(kind: WindowKind, n: number): Float64Array {
  const w = new Float64Array(n);
  const a = (2 * Math.PI) / n;
  for (let i = 0; i < n; i++) {
    switch (kind) {
      case 'rect':
        w[i] = 1;
        break;
      case 'hann':
        w[i] = 0.5 - 0.5 * Math.cos(a * i);
        break;
      case 'hamming':
        w[i] = 0.54 - 0.46 * Math.cos(a * i);
        break;
      case 'blackman':
        w[i] = 0.42 - 0.5 * Math.cos(a * i) + 0.08 * Math.cos(2 * a * i);
        break;
      case 'flattop':
        w[i] = 0.21557895 - 0.41663158 * Math.cos(a * i) + 0.277263158 * Math.cos(2 * a * i) - 0.083578947 * Math.cos(3 * a * i) + 0.006947368 * Math.cos(4 * a * i);
        break;
    }
  }
  return w;
}

export function isPowerOfTwo(n: number): boolean {
  return n >= 2 && (n & (n - 1)) === 0;
}

/** An in-place complex FFT of one size: twiddles and bit reversal
 * precomputed, no allocation per transform. */
export class FFT {
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;
  private readonly rev: Uint32Array;

  constructor(readonly n: number) {
    if (!isPowerOfTwo(n)) throw new Error(`FFT size ${n} is not a power of two`);
    this.cos = new Float64Array(n / 2);
    this.sin = new Float64Array(n / 2);
    for (let k = 0; k < n / 2; k++) {
      this.cos[k] = Math.cos((2 * Math.PI * k) / n);
      this.sin[k] = -Math.sin((2 * Math.PI * k) / n);
    }
    this.rev = new Uint32Array(n);
    const bits = Math.log2(n);
    for (let i = 0; i < n; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      this.rev[i] = r;
    }
  }

  /** X[k] = sum x[j] e^(-2 pi i jk / n), in place. */
  transform(re: Float64Array, im: Float64Array): void {
    const n = this.n;
    for (let i = 0; i < n; i++) {
      const j = this.rev[i];
      if (j > i) {
        let t = re[i];
        re[i] = re[j];
        re[j] = t;
        t = im[i];
        im[i] = im[j];
        im[j] = t;
      }
    }
    for (let size = 2; size <= n; size <<= 1) {
      const half = size >> 1;
      const step = n / size;
      for (let start = 0; start < n; start += size) {
        for (let k = 0, tw = 0; k < half; k++, tw += step) {
          const i = start + k,
            j = i + half;
          const c = this.cos[tw],
            s = this.sin[tw];
          const xr = re[j] * c - im[j] * s;
          const xi = re[j] * s + im[j] * c;
          re[j] = re[i] - xr;
          im[j] = im[i] - xi;
          re[i] += xr;
          im[i] += xi;
        }
      }
    }
  }
}

/** Amplitude spectra of real signals of one size and window. */
export class Spectrum {
  readonly fft: FFT;
  readonly window: Float64Array;
  private readonly re: Float64Array;
  private readonly im: Float64Array;
  /** Amplitude per bin, n / 2 + 1 of them (bin k is k * rate / n Hz). */
  readonly amp: Float64Array;
  private readonly gain: number;

  constructor(
    readonly n: number,
    readonly kind: WindowKind,
  ) {
    this.fft = new FFT(n);
    this.window = windowCoefficients(kind, n);
    this.re = new Float64Array(n);
    this.im = new Float64Array(n);
    this.amp = new Float64Array(n / 2 + 1);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += this.window[i];
    this.gain = sum;
  }

  /** The spectrum of x[0..n) (any indexable of n numbers). */
  compute(x: ArrayLike<number>): Float64Array {
    const n = this.n;
    for (let i = 0; i < n; i++) {
      this.re[i] = x[i] * this.window[i];
      this.im[i] = 0;
    }
    this.fft.transform(this.re, this.im);
    const half = n / 2;
    for (let k = 0; k <= half; k++) {
      const m = Math.hypot(this.re[k], this.im[k]) / this.gain;
      this.amp[k] = k === 0 || k === half ? m : 2 * m;
    }
    return this.amp;
  }
}

export function toDb(amp: number): number {
  return 20 * Math.log10(Math.max(amp, 1e-15));
}

/** The largest bin of amp (skipping DC), with its frequency and amplitude
 * refined by a parabola through the log amplitudes of it and its
 * neighbours (so a sine between two bins reads close to its own amplitude,
 * not the window's scalloping loss: right for windows with a rounded main
 * lobe, hann, hamming, blackman). binAmp is the bin's own amplitude, the
 * one to read with the flat-top window, made for that. */
export function spectrumPeak(amp: Float64Array, rate: number, n: number): { bin: number; freq: number; amp: number; binAmp: number } {
  let best = 1;
  for (let k = 2; k < amp.length; k++) if (amp[k] > amp[best]) best = k;
  let delta = 0,
    peak = amp[best];
  if (best > 0 && best < amp.length - 1) {
    const a = Math.log(Math.max(amp[best - 1], 1e-30)),
      b = Math.log(Math.max(amp[best], 1e-30)),
      c = Math.log(Math.max(amp[best + 1], 1e-30));
    const d = a - 2 * b + c;
    if (d < 0) {
      delta = Math.max(-0.5, Math.min(0.5, (0.5 * (a - c)) / d));
      peak = Math.exp(b - 0.25 * (a - c) * delta);
    }
  }
  return { bin: best, freq: ((best + delta) * rate) / n, amp: peak, binAmp: amp[best] };
}
