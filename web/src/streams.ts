// The variables the page streams: one watch per variable however many
// charts show it, the values kept in a Series ring, and the counters the
// variable table shows. A stream is started by the first chart that needs
// it and stopped when the last one lets go; the names wanted survive a
// reconnect, and every stream restarts when the device's rate changes (its
// buffer lengths and its chart's ticks per second change with it).

import { KIND_END, NativeMessage, VarInfo, unwatchCommand, watchCommand } from './protocol';
import { Series } from './series';

/** Seconds of values a stream keeps at least (a chart asks for more). */
export const MIN_KEEP_SECONDS = 2;

/** Values per buffer asked for a variable: a power of two, for dense
 * variables the largest that arrives at least `perSecond` times a second
 * (25 by default: 25-50 buffers a second; each message costs the browser
 * and the page a fixed amount, so fewer, longer ones cost less, but the
 * first value of a buffer waits the buffer's length to be sent); small
 * buffers for sparse ones, whose values may be rare: up to 16, at most
 * rate / 2756, so that one set on every tick sends at most ~2756 buffers a
 * second while events at a sensor rate (below 5.5 kHz) come one by one
 * (`rill stream` asks for the same). */
export function bufferLength(rate: number, sparse: boolean, maxValues = 65536, perSecond = 25): number {
  const per = sparse ? rate / 2756 : rate / perSecond;
  const cap = sparse ? 16 : maxValues;
  let n = 1;
  while (n * 2 <= per && n * 2 <= cap) n *= 2;
  return n;
}

export function seriesCapacity(rate: number, seconds: number): number {
  return Math.ceil(rate * Math.max(MIN_KEEP_SECONDS, seconds) * 1.25) + 1024;
}

/** How far ahead of the device's estimated tick a dense stream's aligned
 * start is put: enough for the watch command to reach the device before
 * it (a start already past only means that stream starts at once). */
const ALIGN_LEAD_S = 0.05;

/** Something that wants every buffer of a stream (Play, Record). */
export type Tap = (m: NativeMessage) => void;

export interface Stream {
  v: VarInfo;
  series: Series;
  dropped: number;
  lastSeq: number;
  buffers: number;
  ended: boolean;
  /** Charts (or anything) holding the stream. */
  users: number;
  /** Seconds the stream's users need kept. */
  keepSeconds: number;
  taps: Set<Tap>;
}

export class StreamSet {
  readonly streams = new Map<number, Stream>();
  /** Names to stream, kept across reconnects. */
  readonly wanted = new Set<string>();
  rate = 0;
  maxValues = 65536;
  /** Buffers a second asked for at least (bufferLength): 20, so 2048
   * values (43 ms) at 44.1 and 48 kHz. Each message costs the browser's
   * network stack and the page ~0.3 ms of CPU whatever its size (measured
   * in headless Chromium: 8 channels at 48 kHz cost 40% of a core in
   * buffers of 1024, 30% in buffers of 2048), and a scope has no use for
   * more pictures a second than that; the price is that a value waits up
   * to one buffer (43 ms) to leave the device. */
  buffersPerSecond = 20;
  droppedTotal = 0;
  /** Called with each buffer's newest tick (the latency clock). */
  onTick: (tick: number, sparse: boolean) => void = () => {};
  /** A stream's series was replaced (a longer keep, a new rate). */
  onReplaced: (s: Stream) => void = () => {};

  /** The device's tick now, as the page estimates it (NaN: not known yet,
   * and streams start at once). */
  liveTick: () => number = () => NaN;

  constructor(private send: (text: string) => void) {}

  byName(name: string): Stream | undefined {
    for (const s of this.streams.values()) if (s.v.name === name) return s;
    return undefined;
  }

  /** Hold streams of these variables, starting those not running yet (one
   * watch command for all of them). */
  acquire(vs: VarInfo[], keepSeconds = MIN_KEEP_SECONDS): Stream[] {
    const start: VarInfo[] = [];
    const out: Stream[] = [];
    for (const v of vs) {
      let s = this.streams.get(v.id);
      if (!s) {
        s = {
          v,
          series: new Series(seriesCapacity(this.rate, keepSeconds)),
          dropped: 0,
          lastSeq: -1,
          buffers: 0,
          ended: false,
          users: 0,
          keepSeconds,
          taps: new Set(),
        };
        this.streams.set(v.id, s);
        start.push(v);
      } else this.keep(s, keepSeconds);
      s.users++;
      this.wanted.add(v.name);
      out.push(s);
    }
    if (start.length) this.watch(start);
    return out;
  }

  /**
   * Start streams. A dense stream starts at a tick that is a multiple of
   * its buffer length, a little ahead of live (the server waits for it),
   * so every dense stream's buffers end at the same ticks however far
   * apart the charts were opened: the server sends them in one burst, the
   * page draws them in one frame, and the frames between bursts are left
   * to the rest of the page. Drawn in whatever frame each arrived in, 8
   * channels' buffers changed the charts in nearly every frame, and the
   * spectrograms and badges, which wait for a frame without a chart's
   * change, ended up drawn with them (a software compositor then redraws
   * the box around both: most of the page).
   */
  private watch(vs: VarInfo[]): void {
    const lengths = vs.map((v) => bufferLength(this.rate, v.timestampMode === 1, this.maxValues, this.buffersPerSecond));
    const live = this.liveTick();
    const lead = live + this.rate * ALIGN_LEAD_S;
    const starts = vs.map((v, i) => (v.timestampMode === 0 && Number.isFinite(lead) && lead > 0 ? Math.ceil(lead / lengths[i]) * lengths[i] : 0));
    this.send(watchCommand(vs.map((v) => v.name), lengths, starts));
  }

  /** Let go of a stream; the last user stops it. */
  release(s: Stream): void {
    if (--s.users > 0) return;
    this.streams.delete(s.v.id);
    this.wanted.delete(s.v.name);
    s.taps.clear();
    this.send(unwatchCommand([s.v.name]));
  }

  /** Keep at least `seconds` of a stream's values (a longer time base). */
  keep(s: Stream, seconds: number): void {
    if (seconds <= s.keepSeconds) return;
    s.keepSeconds = seconds;
    const cap = seriesCapacity(this.rate, seconds);
    if (cap > s.series.cap) {
      s.series = s.series.grown(cap);
      this.onReplaced(s);
    }
  }

  /** One native message. */
  native(m: NativeMessage): Stream | undefined {
    const s = this.streams.get(m.varId);
    if (!s) return undefined; // a buffer still in flight after unwatch
    s.dropped += m.dropped;
    this.droppedTotal += m.dropped;
    s.lastSeq = m.seq;
    if (m.kind === KIND_END || m.last) s.ended = true;
    if (m.count === 0) return s;
    s.buffers++;
    s.series.pushMessage(m);
    for (const t of s.taps) t(m);
    this.onTick(s.series.lastTick, m.sparse);
    return s;
  }

  /** The connection closed: every stream is gone (the wanted names stay). */
  clear(): void {
    this.streams.clear();
  }

  /** The device's rate changed: every running stream starts over at the
   * new rate (new buffer lengths, an empty series of the right size). */
  restart(rate: number): void {
    this.rate = rate;
    const running = [...this.streams.values()];
    if (!running.length) return;
    this.send(unwatchCommand(running.map((s) => s.v.name)));
    for (const s of running) {
      s.series = new Series(seriesCapacity(rate, s.keepSeconds));
      s.buffers = 0;
      s.ended = false;
      this.onReplaced(s);
    }
    this.watch(running.map((s) => s.v));
  }

  /** After a reconnect's first list: the variables to stream again. */
  missing(vars: VarInfo[]): VarInfo[] {
    return vars.filter((v) => this.wanted.has(v.name) && !this.streams.has(v.id));
  }
}
