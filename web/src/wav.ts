// WAV files of recorded streams: 16-bit PCM (what every player and sox
// open), values clipped to -1 .. 1, interleaved channels, the device's rate.

export function encodeWav(planes: Float32Array[], rate: number): ArrayBuffer {
  const channels = Math.max(1, planes.length);
  const frames = planes.length ? Math.min(...planes.map((p) => p.length)) : 0;
  const dataBytes = frames * channels * 2;
  const buf = new ArrayBuffer(44 + dataBytes);
  const dv = new DataView(buf);
  const ascii = (off: number, s: string) => [...s].forEach((c, i) => dv.setUint8(off + i, c.charCodeAt(0)));
  const r = Math.round(rate);
  ascii(0, 'RIFF');
  dv.setUint32(4, 36 + dataBytes, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  dv.setUint32(16, 16, true); // fmt chunk size
  dv.setUint16(20, 1, true); // PCM
  dv.setUint16(22, channels, true);
  dv.setUint32(24, r, true);
  dv.setUint32(28, r * channels * 2, true); // byte rate
  dv.setUint16(32, channels * 2, true); // block align
  dv.setUint16(34, 16, true);
  ascii(36, 'data');
  dv.setUint32(40, dataBytes, true);
  let p = 44;
  for (let f = 0; f < frames; f++)
    for (let c = 0; c < channels; c++) {
      const v = Math.max(-1, Math.min(1, planes[c][f]));
      dv.setInt16(p, v < 0 ? Math.round(v * 32768) : Math.round(v * 32767), true);
      p += 2;
    }
  return buf;
}

/** Concatenate recorded chunks. */
export function concat(chunks: Float32Array[]): Float32Array {
  const n = chunks.reduce((s, c) => s + c.length, 0);
  const out = new Float32Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
