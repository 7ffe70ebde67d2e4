// rill's wire formats, as the browser sees them.
//  - native data messages (docs/PROTOCOL.md §4): one binary message per
//    stream buffer, monitor value or end of stream;
//  - handler data frames (docs/HANDLERS.md, "Dashboard messages"): big
//    handler data (spectrogram columns, audio) in binary;
//  - JSON control messages: list replies, notices, errors, handler events.
// Values are returned as typed-array views on the received buffer (no copy,
// no per-value objects) when the platform is little-endian, which every
// browser in use is; otherwise as a copy.

export type TypeLetter = 'c' | 'i' | 'j' | 'f' | 'd';

export const TYPE_SIZE: Record<TypeLetter, number> = { c: 1, i: 4, j: 4, f: 4, d: 8 };

export type Values = Uint8Array | Int32Array | Uint32Array | Float32Array | Float64Array;

export const NATIVE_VERSION = 1;
export const NATIVE_HEADER = 32;
export const KIND_BUFFER = 0;
export const KIND_MONITOR = 1;
export const KIND_END = 2;
/** Binary handler data frame (docs/HANDLERS.md). */
export const KIND_HANDLER = 16;

export const FLAG_SPARSE = 1;
export const FLAG_LAST = 2;
/** Handler frames: replace the handler's data instead of adding to it. */
export const FLAG_REPLACE = 1;

export class DecodeError extends Error {}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface NativeMessage {
  kind: 0 | 1 | 2;
  type: TypeLetter;
  sparse: boolean;
  last: boolean;
  varId: number;
  /** Sequence number (exact up to 2^53). */
  seq: number;
  /** Tick of value 0 (monitor: of the value; end: of the end). */
  ts: number;
  count: number;
  dropped: number;
  values: Values;
  /** Sparse only: value tick - ts, one per value. */
  rel: Uint32Array | null;
}

function isTypeLetter(c: number): boolean {
  return c === 0x63 || c === 0x69 || c === 0x6a || c === 0x66 || c === 0x64;
}

function view(type: string, buf: ArrayBuffer, off: number, count: number): Values {
  const dv = new DataView(buf);
  switch (type) {
    case 'c':
      return new Uint8Array(buf, off, count);
    case 'i':
      if (LITTLE_ENDIAN) return new Int32Array(buf, off, count);
      return Int32Array.from({ length: count }, (_, k) => dv.getInt32(off + 4 * k, true));
    case 'j':
      if (LITTLE_ENDIAN) return new Uint32Array(buf, off, count);
      return Uint32Array.from({ length: count }, (_, k) => dv.getUint32(off + 4 * k, true));
    case 'f':
      if (LITTLE_ENDIAN) return new Float32Array(buf, off, count);
      return Float32Array.from({ length: count }, (_, k) => dv.getFloat32(off + 4 * k, true));
    default:
      if (LITTLE_ENDIAN) return new Float64Array(buf, off, count);
      return Float64Array.from({ length: count }, (_, k) => dv.getFloat64(off + 8 * k, true));
  }
}

/** Values of a typed view that may start at an unaligned offset. */
function alignedView(type: string, buf: ArrayBuffer, off: number, count: number): Values {
  const size = TYPE_SIZE[type as TypeLetter];
  if (off % size === 0) return view(type, buf, off, count);
  return view(type, buf.slice(off, off + count * size), 0, count);
}

function u64(dv: DataView, off: number): number {
  return Number(dv.getBigUint64(off, true));
}

/** Decode one native message (PROTOCOL.md §4), refusing what §4.4 refuses. */
export function decodeNative(buf: ArrayBuffer): NativeMessage {
  if (buf.byteLength < NATIVE_HEADER)
    throw new DecodeError(`native message of ${buf.byteLength} bytes (at least 32)`);
  const dv = new DataView(buf);
  const version = dv.getUint8(0);
  if (version !== NATIVE_VERSION) throw new DecodeError(`native version ${version}, expected 1`);
  const kind = dv.getUint8(1);
  if (kind > KIND_END) throw new DecodeError(`unknown native kind ${kind}`);
  const letter = dv.getUint8(2);
  if (!isTypeLetter(letter)) throw new DecodeError(`unknown type letter 0x${letter.toString(16)}`);
  const type = String.fromCharCode(letter) as TypeLetter;
  const flags = dv.getUint8(3);
  if (flags & ~(FLAG_SPARSE | FLAG_LAST)) throw new DecodeError(`unknown flag bits 0x${flags.toString(16)}`);
  const count = dv.getUint32(24, true);
  if (kind === KIND_BUFFER && count < 1) throw new DecodeError('stream buffer with no values');
  if (kind === KIND_MONITOR && (count !== 1 || flags !== 0))
    throw new DecodeError('monitor value must have count 1 and no flags');
  if (kind === KIND_END && (count !== 0 || flags !== 0))
    throw new DecodeError('end of stream must have count 0 and no flags');
  const size = TYPE_SIZE[type];
  const sparse = (flags & FLAG_SPARSE) !== 0;
  let len = NATIVE_HEADER + count * size;
  let relOff = 0;
  if (sparse) {
    relOff = (len + 3) & ~3;
    len = relOff + 4 * count;
  }
  if (buf.byteLength !== len)
    throw new DecodeError(`native message of ${buf.byteLength} bytes, count ${count} needs ${len}`);
  if (sparse) {
    for (let p = NATIVE_HEADER + count * size; p < relOff; p++)
      if (dv.getUint8(p) !== 0) throw new DecodeError('non-zero padding');
  }
  return {
    kind: kind as 0 | 1 | 2,
    type,
    sparse,
    last: (flags & FLAG_LAST) !== 0,
    varId: dv.getUint32(4, true),
    seq: u64(dv, 8),
    ts: u64(dv, 16),
    count,
    dropped: dv.getUint32(28, true),
    values: view(type, buf, NATIVE_HEADER, count),
    rel: sparse ? (view('j', buf, relOff, count) as Uint32Array) : null,
  };
}

export type HandlerValueType = 'f' | 'd' | 'h' | 'i';
const HANDLER_SIZE: Record<HandlerValueType, number> = { f: 4, d: 8, h: 2, i: 4 };

export interface HandlerFrame {
  handler: number;
  seq: number;
  tick: number;
  replace: boolean;
  /** Series index (charts), channels (audio), row length (heatmap). */
  arg: number;
  count: number;
  /** The values, as float32 (int16 audio scaled to [-1, 1)). */
  values: Float32Array | Float64Array;
}

/** Decode a binary handler data frame (HANDLERS.md, "Binary data frames"). */
export function decodeHandlerFrame(buf: ArrayBuffer): HandlerFrame {
  if (buf.byteLength < NATIVE_HEADER)
    throw new DecodeError(`handler frame of ${buf.byteLength} bytes (at least 32)`);
  const dv = new DataView(buf);
  if (dv.getUint8(0) !== NATIVE_VERSION || dv.getUint8(1) !== KIND_HANDLER)
    throw new DecodeError('not a handler frame (version 1, kind 16)');
  const letter = String.fromCharCode(dv.getUint8(2));
  if (!(letter in HANDLER_SIZE)) throw new DecodeError(`unknown handler value type '${letter}'`);
  const type = letter as HandlerValueType;
  const flags = dv.getUint8(3);
  if (flags & ~FLAG_REPLACE) throw new DecodeError(`unknown flag bits 0x${flags.toString(16)}`);
  const count = dv.getUint32(24, true);
  const len = NATIVE_HEADER + count * HANDLER_SIZE[type];
  if (buf.byteLength !== len)
    throw new DecodeError(`handler frame of ${buf.byteLength} bytes, count ${count} needs ${len}`);
  let values: Float32Array | Float64Array;
  if (type === 'f') values = alignedView('f', buf, NATIVE_HEADER, count) as Float32Array;
  else if (type === 'd') values = alignedView('d', buf, NATIVE_HEADER, count) as Float64Array;
  else if (type === 'i') values = Float64Array.from(alignedView('i', buf, NATIVE_HEADER, count));
  else {
    values = new Float32Array(count);
    for (let k = 0; k < count; k++) values[k] = dv.getInt16(NATIVE_HEADER + 2 * k, true) / 32768;
  }
  return {
    handler: dv.getUint32(4, true),
    seq: u64(dv, 8),
    tick: u64(dv, 16),
    replace: (flags & FLAG_REPLACE) !== 0,
    arg: dv.getUint32(28, true),
    count,
    values,
  };
}

/** Which decoder a binary message needs. */
export function binaryKind(buf: ArrayBuffer): 'native' | 'handler' | 'unknown' {
  if (buf.byteLength < 2) return 'unknown';
  const b = new Uint8Array(buf, 0, 2);
  if (b[0] !== NATIVE_VERSION) return 'unknown';
  if (b[1] <= KIND_END) return 'native';
  if (b[1] === KIND_HANDLER) return 'handler';
  return 'unknown';
}

// ---- JSON control messages ---------------------------------------------------

export interface VarInfo {
  id: number;
  name: string;
  type: TypeLetter;
  timestampMode: number;
  watched: boolean;
  logged: boolean;
  controlled: boolean;
  monitor: number;
  logFileName: string;
  value: number | null;
}

export interface ListReply {
  id?: number | string;
  sampleRate: number;
  timestamp: number;
  vars: VarInfo[];
  /** Audio configuration (PROTOCOL.md §2.2: rate, channels, bufferFrames,
   *  volume, variables), when the device program declared one. */
  audio?: Record<string, unknown>;
}

export interface HandlerCreate {
  id: number;
  name: string;
  type: string;
  params: Record<string, unknown>;
}

export type ControlMessage =
  | { t: 'connection'; projectName: string }
  | { t: 'hello'; version: number; sampleRate: number; maxValues: number; queueBytes: number }
  | { t: 'list'; list: ListReply }
  | { t: 'dropped'; variable?: string; buffers: number; total: number }
  | { t: 'error'; message: string; id?: unknown; cmd?: string }
  | { t: 'dash'; version: number }
  | { t: 'handler'; handler: HandlerCreate }
  | { t: 'handler-data'; id: number; data: unknown; tick?: number }
  | { t: 'handler-remove'; id: number }
  | { t: 'audio'; audio: Record<string, unknown> | undefined; sampleRate?: number }
  | { t: 'audio-config'; id?: unknown; audio: Record<string, unknown> | undefined }
  | { t: 'other'; msg: unknown };

/** An audio description (PROTOCOL.md §2.2), or undefined for null / not an object. */
function audioObject(a: unknown): Record<string, unknown> | undefined {
  return a && typeof a === 'object' && !Array.isArray(a) ? (a as Record<string, unknown>) : undefined;
}

function num(v: unknown, dflt = 0): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : dflt;
}

/** Classify one JSON text message from the control socket. */
export function parseControl(text: string): ControlMessage {
  let m: any;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new DecodeError(`control message is not JSON: ${(e as Error).message}`);
  }
  if (m === null || typeof m !== 'object' || Array.isArray(m))
    throw new DecodeError('control message is not a JSON object');
  if (m.rill === 'hello')
    return {
      t: 'hello',
      version: num(m.version),
      sampleRate: num(m.sampleRate),
      maxValues: num(m.maxValues),
      queueBytes: num(m.queueBytes),
    };
  if (m.rill === 'dash') return { t: 'dash', version: num(m.version) };
  if (m.error && typeof m.error === 'object')
    return {
      t: 'error',
      message: String(m.error.message ?? ''),
      id: m.error.id,
      cmd: typeof m.error.cmd === 'string' ? m.error.cmd : undefined,
    };
  if (typeof m.event === 'string') {
    switch (m.event) {
      case 'connection':
        return { t: 'connection', projectName: String(m.projectName ?? '') };
      case 'dropped':
        return {
          t: 'dropped',
          variable: typeof m.variable === 'string' ? m.variable : undefined,
          buffers: num(m.buffers),
          total: num(m.total),
        };
      case 'handler': {
        if (typeof m.id !== 'number' || typeof m.type !== 'string')
          throw new DecodeError('handler event needs a numeric "id" and a string "type"');
        const params = m.parameters && typeof m.parameters === 'object' ? m.parameters : {};
        return {
          t: 'handler',
          handler: { id: m.id, name: typeof m.name === 'string' ? m.name : `handler ${m.id}`, type: m.type, params },
        };
      }
      case 'handler-data':
        if (typeof m.id !== 'number') throw new DecodeError('handler-data needs a numeric "id"');
        return { t: 'handler-data', id: m.id, data: m.data, tick: typeof m.tick === 'number' ? m.tick : undefined };
      case 'audio':
        return {
          t: 'audio',
          audio: audioObject(m.audio),
          sampleRate: typeof m.sampleRate === 'number' && m.sampleRate > 0 ? m.sampleRate : undefined,
        };
      case 'audio-config':
        // The reply to our audio-config request (PROTOCOL.md §8).
        return { t: 'audio-config', id: m.id, audio: audioObject(m.audio) };
      case 'handler-remove':
        if (typeof m.id !== 'number') throw new DecodeError('handler-remove needs a numeric "id"');
        return { t: 'handler-remove', id: m.id };
    }
    return { t: 'other', msg: m };
  }
  const w = m.watcher;
  if (w && typeof w === 'object' && Array.isArray(w.watchers)) {
    const vars: VarInfo[] = w.watchers.map((v: any, i: number) => ({
      id: i,
      name: String(v.name),
      type: (typeof v.type === 'string' ? v.type : 'f') as TypeLetter,
      timestampMode: num(v.timestampMode),
      watched: !!v.watched,
      logged: !!v.logged,
      controlled: !!v.controlled,
      monitor: num(v.monitor),
      logFileName: String(v.logFileName ?? ''),
      value: typeof v.value === 'number' ? v.value : null,
    }));
    return {
      t: 'list',
      list: {
        id: m.id,
        sampleRate: num(w.sampleRate),
        timestamp: num(w.timestamp),
        vars,
        audio: audioObject(w.audio),
      },
    };
  }
  return { t: 'other', msg: m };
}

// ---- Commands the page sends ----------------------------------------------------

export const HELLO = JSON.stringify({ rill: 'hello', version: 1 });
export const DASH_SUBSCRIBE = JSON.stringify({ rill: 'dash', version: 1 });

export function listCommand(id: number): string {
  return JSON.stringify({ id, watcher: [{ cmd: 'list' }] });
}

/** Watch `names` in buffers of `lengths` values, each from its tick in
 * `starts` (0 or absent: now; a tick already past also means now). */
export function watchCommand(names: string[], lengths: number[], starts: number[] = []): string {
  return JSON.stringify({
    watcher: [{ cmd: 'watch', watchers: names, timestamps: names.map((_, i) => starts[i] ?? 0), durations: names.map(() => 0), lengths }],
  });
}

export function unwatchCommand(names: string[]): string {
  return JSON.stringify({ watcher: [{ cmd: 'unwatch', watchers: names }] });
}

/** The fields of an audio configuration change (PROTOCOL.md §8). */
export interface AudioChange {
  rate?: number;
  channels?: number;
  bufferFrames?: number;
  volume?: number;
}

/** Ask the device to change its audio configuration (PROTOCOL.md §8); only
 * the fields given are sent. */
export function audioConfigCommand(id: number, change: AudioChange): string {
  const m: Record<string, unknown> = { rill: 'audio-config', id };
  for (const k of ['rate', 'channels', 'bufferFrames', 'volume'] as const) if (change[k] !== undefined) m[k] = change[k];
  return JSON.stringify(m);
}
