import { describe, expect, it } from 'vitest';
import { Series } from '../src/series';
import { LiveClock, latencyClass } from '../src/latency';
import { bufferLength } from '../src/app';
import { StreamSet } from '../src/streams';
import { decodeNative } from '../src/protocol';
import { encodeNative } from './encode';

describe('Series: a live variable\'s recent values', () => {
  it('keeps the newest cap values with their ticks, dense and sparse', () => {
    const s = new Series(4);
    s.pushMessage(decodeNative(encodeNative({ ts: 100, values: [1, 2, 3] })));
    s.pushMessage(decodeNative(encodeNative({ type: 'i', flags: 1, ts: 200, values: [7, 8], rel: [0, 10] })));
    expect(s.len).toBe(4);
    expect(s.lastTick).toBe(210);
    expect(s.received).toBe(5);
    const x = new Float64Array(10), y = new Float64Array(10);
    const n = s.decimate(0, 1000, 100, 1, x, y);
    expect(Array.from(x.subarray(0, n))).toEqual([101, 102, 200, 210]);
    expect(Array.from(y.subarray(0, n))).toEqual([2, 3, 7, 8]);
  });

  it('decimates to the min and max of each bucket, in time order', () => {
    const s = new Series(1000);
    const v = Array.from({ length: 100 }, (_, k) => (k === 13 ? 50 : k === 17 ? -50 : 0));
    s.pushDense(0, v);
    const x = new Float64Array(64), y = new Float64Array(64);
    const n = s.decimate(0, 99, 10, 10, x, y); // 10 buckets of 10 ticks
    expect(n).toBeLessThanOrEqual(20);
    const ys = Array.from(y.subarray(0, n));
    expect(Math.max(...ys)).toBe(50);
    expect(Math.min(...ys)).toBe(-50);
    // x in seconds (rate 10), increasing
    const xs = Array.from(x.subarray(0, n));
    expect(xs).toEqual([...xs].sort((a, b) => a - b));
    expect(xs).toContain(1.3);
  });

  it('decimates only the window asked for', () => {
    const s = new Series(100);
    s.pushDense(0, Array.from({ length: 100 }, (_, k) => k));
    const x = new Float64Array(100), y = new Float64Array(100);
    const n = s.decimate(90, 95, 50, 1, x, y);
    expect(Array.from(y.subarray(0, n))).toEqual([90, 91, 92, 93, 94, 95]);
  });
});

describe('LiveClock: how far behind live the page is', () => {
  it('takes the largest lower bound of the clock offset', () => {
    const c = new LiveClock();
    c.reset(1000);
    c.observe(5000, 1000); // arrived 0 ms late: offset 4 s
    c.observe(5400, 1500); // arrived 100 ms late
    expect(c.liveTick(2000)).toBeCloseTo(6000);
    expect(c.lagMs(5900, 2000)).toBeCloseTo(100);
    expect(c.lagMs(6500, 2000)).toBe(0);
  });

  it('forgets bounds older than its window (clock drift)', () => {
    const c = new LiveClock(1000);
    c.reset(1000);
    c.observe(10000, 0);
    c.observe(10500, 2000); // the device's clock is slower; the old bound expires
    expect(c.liveTick(2000)).toBeCloseTo(10500);
  });

  it('knows nothing before the first observation', () => {
    const c = new LiveClock();
    expect(Number.isNaN(c.lagMs(1, 1))).toBe(true);
    expect(latencyClass(NaN)).toBe('none');
    expect([latencyClass(10), latencyClass(500), latencyClass(2000)]).toEqual(['ok', 'warn', 'bad']);
  });
});

describe('buffer lengths asked for', () => {
  it('about 100 buffers a second for dense variables, small buffers for sparse ones', () => {
    expect(bufferLength(44100, false)).toBe(1024);
    expect(bufferLength(48000, false)).toBe(1024);
    expect(bufferLength(100, false)).toBe(4);
    expect(bufferLength(44100, true)).toBe(16);
    expect(bufferLength(8000, true)).toBe(2);
    expect(bufferLength(100, true)).toBe(1); // events at a sensor rate come at once
  });
});

import { concat, encodeWav } from '../src/wav';

describe('WAV recording', () => {
  it('writes a 16-bit PCM header and clipped, interleaved samples', () => {
    const wav = encodeWav([Float32Array.from([0, 0.5, -1, 2]), Float32Array.from([1, -0.5, 0, 0])], 44100);
    const dv = new DataView(wav);
    const str = (o: number) => String.fromCharCode(...new Uint8Array(wav, o, 4));
    expect([str(0), str(8), str(12), str(36)]).toEqual(['RIFF', 'WAVE', 'fmt ', 'data']);
    expect(dv.getUint32(4, true)).toBe(36 + 16);
    expect([dv.getUint16(20, true), dv.getUint16(22, true), dv.getUint32(24, true)]).toEqual([1, 2, 44100]);
    expect([dv.getUint32(28, true), dv.getUint16(32, true), dv.getUint16(34, true), dv.getUint32(40, true)]).toEqual([176400, 4, 16, 16]);
    const samples = Array.from({ length: 8 }, (_, k) => dv.getInt16(44 + 2 * k, true));
    expect(samples).toEqual([0, 32767, 16384, -16384, -32768, 0, 32767, 0]);
  });

  it('concatenates recorded chunks', () => {
    expect(Array.from(concat([Float32Array.from([1, 2]), Float32Array.from([3])]))).toEqual([1, 2, 3]);
  });
});

describe('stream starts: dense streams on a common tick grid', () => {
  const v = (id: number, name: string, timestampMode: number) => ({ id, name, type: 'f' as const, timestampMode, watched: false, logged: false, controlled: false, monitor: 0, logFileName: '', value: null });
  const started = (live: number) => {
    const sent: any[] = [];
    const set = new StreamSet((t) => sent.push(JSON.parse(t).watcher[0]));
    set.rate = 48000;
    set.liveTick = () => live;
    return { set, sent };
  };

  it('charts opened at different times get buffers that end at the same ticks: starts are multiples of the buffer length, ahead of live', () => {
    const { set, sent } = started(100_000);
    set.acquire([v(0, 'a', 0), v(1, 'events', 1)]);
    set.liveTick = () => 100_000 + 777;
    set.acquire([v(2, 'b', 0)]);
    const [first, second] = sent;
    expect(first.lengths).toEqual([2048, 16]);
    const [a, events] = first.timestamps;
    const [b] = second.timestamps;
    for (const t of [a, b]) {
      expect(t % 2048).toBe(0);
      expect(t).toBeGreaterThanOrEqual(100_000 + 0.05 * 48000);
      expect(t).toBeLessThan(100_000 + 0.05 * 48000 + 2048 + 777);
    }
    expect(events).toBe(0); // a sparse stream starts at once
  });

  it('without an estimate of the device clock, streams start at once (tick 0)', () => {
    const { set, sent } = started(NaN);
    set.acquire([v(0, 'a', 0)]);
    expect(sent[0].timestamps).toEqual([0]);
  });
});
