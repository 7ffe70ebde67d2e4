// The audio player's queue, shared by the page (tests) and the
// AudioWorklet: planar float frames in, resampled by linear interpolation
// from the source rate to the output rate, bounded (when more than
// `maxFrames` wait, the oldest go: clock drift never builds up delay), and
// silence (zeros) after an underrun until `prebuffer` frames wait again.
// Fixes EasyDSP's unbounded queue and unzeroed underrun blocks.

export class PcmQueue {
  readonly channels: number;
  private buf: Float32Array[];
  private read = 0; // fractional read position, in source frames
  private len = 0; // source frames stored (from index 0)
  private playing = false;
  step: number;
  maxFrames: number;
  prebuffer: number;
  underruns = 0;
  overflows = 0;
  /** Last frame of the previous block, carried for interpolation. */

  constructor(channels: number, srcRate: number, outRate: number, maxSeconds = 0.5, prebufferSeconds = 0.05) {
    this.channels = Math.max(1, channels | 0);
    this.step = srcRate / outRate;
    this.maxFrames = Math.max(256, Math.ceil(maxSeconds * srcRate));
    this.prebuffer = Math.max(1, Math.ceil(prebufferSeconds * srcRate));
    this.buf = Array.from({ length: this.channels }, () => new Float32Array(this.maxFrames * 2 + 4));
  }

  /** Source frames waiting. */
  get queued(): number {
    return Math.max(0, this.len - this.read);
  }

  /** Append planar frames (one array per channel, equal lengths). */
  push(planes: Float32Array[]): void {
    const n = planes[0]?.length ?? 0;
    if (n === 0) return;
    // Compact: drop frames already played (keep one for interpolation).
    const keep = Math.max(0, Math.floor(this.read) - 1);
    if (keep > 0) {
      for (const b of this.buf) b.copyWithin(0, keep, this.len);
      this.len -= keep;
      this.read -= keep;
    }
    // Bound: drop the oldest waiting frames.
    const excess = this.queued + n - this.maxFrames;
    if (excess > 0) {
      this.overflows++;
      this.read += excess;
      const drop = Math.floor(this.read);
      for (const b of this.buf) b.copyWithin(0, drop, this.len);
      this.len -= drop;
      this.read -= drop;
    }
    if (this.len + n > this.buf[0].length) {
      const cap = Math.max(this.buf[0].length * 2, this.len + n);
      this.buf = this.buf.map((b) => {
        const nb = new Float32Array(cap);
        nb.set(b.subarray(0, this.len));
        return nb;
      });
    }
    for (let c = 0; c < this.channels; c++) this.buf[c].set(planes[Math.min(c, planes.length - 1)].subarray(0, n), this.len);
    this.len += n;
  }

  /** Fill `out` (one array per output channel) with the next frames. */
  pull(out: Float32Array[]): void {
    const n = out[0]?.length ?? 0;
    if (!this.playing && this.queued >= this.prebuffer) this.playing = true;
    let k = 0;
    if (this.playing) {
      for (; k < n; k++) {
        const i = Math.floor(this.read);
        if (i + 1 >= this.len) {
          this.playing = false;
          this.underruns++;
          break;
        }
        const f = this.read - i;
        for (let c = 0; c < out.length; c++) {
          const b = this.buf[Math.min(c, this.channels - 1)];
          out[c][k] = b[i] + (b[i + 1] - b[i]) * f;
        }
        this.read += this.step;
      }
    }
    for (let c = 0; c < out.length; c++) out[c].fill(0, k);
  }
}

/** Interleaved samples to planar channels. */
export function deinterleave(values: ArrayLike<number>, channels: number): Float32Array[] {
  const ch = Math.max(1, channels | 0);
  const frames = Math.floor(values.length / ch);
  const out = Array.from({ length: ch }, () => new Float32Array(frames));
  for (let f = 0; f < frames; f++) for (let c = 0; c < ch; c++) out[c][f] = values[f * ch + c];
  return out;
}
