// Encoders for tests: build the exact bytes the server sends
// (docs/PROTOCOL.md §4.1, docs/HANDLERS.md "Binary data frames").

const SIZE: Record<string, number> = { c: 1, i: 4, j: 4, f: 4, d: 8, h: 2 };

function putValues(dv: DataView, off: number, type: string, values: number[]): void {
  values.forEach((v, k) => {
    const p = off + k * SIZE[type];
    if (type === 'c') dv.setUint8(p, v);
    else if (type === 'i') dv.setInt32(p, v, true);
    else if (type === 'j') dv.setUint32(p, v, true);
    else if (type === 'f') dv.setFloat32(p, v, true);
    else if (type === 'd') dv.setFloat64(p, v, true);
    else if (type === 'h') dv.setInt16(p, v, true);
  });
}

export interface NativeOpts {
  kind?: number;
  type?: string;
  flags?: number;
  varId?: number;
  seq?: number;
  ts?: number;
  dropped?: number;
  values?: number[];
  rel?: number[];
}

export function encodeNative(o: NativeOpts): ArrayBuffer {
  const type = o.type ?? 'f';
  const values = o.values ?? [];
  const flags = o.flags ?? 0;
  const size = SIZE[type];
  let len = 32 + values.length * size;
  let relOff = 0;
  if (flags & 1) {
    relOff = (len + 3) & ~3;
    len = relOff + 4 * values.length;
  }
  const buf = new ArrayBuffer(len);
  const dv = new DataView(buf);
  dv.setUint8(0, 1);
  dv.setUint8(1, o.kind ?? 0);
  dv.setUint8(2, type.charCodeAt(0));
  dv.setUint8(3, flags);
  dv.setUint32(4, o.varId ?? 0, true);
  dv.setBigUint64(8, BigInt(o.seq ?? 0), true);
  dv.setBigUint64(16, BigInt(o.ts ?? 0), true);
  dv.setUint32(24, values.length, true);
  dv.setUint32(28, o.dropped ?? 0, true);
  putValues(dv, 32, type, values);
  if (flags & 1) (o.rel ?? values.map((_, k) => k)).forEach((r, k) => dv.setUint32(relOff + 4 * k, r, true));
  return buf;
}

export interface FrameOpts {
  type?: string;
  replace?: boolean;
  handler: number;
  seq?: number;
  tick?: number;
  arg?: number;
  values: number[];
}

export function encodeHandlerFrame(o: FrameOpts): ArrayBuffer {
  const type = o.type ?? 'f';
  const buf = new ArrayBuffer(32 + o.values.length * SIZE[type]);
  const dv = new DataView(buf);
  dv.setUint8(0, 1);
  dv.setUint8(1, 16);
  dv.setUint8(2, type.charCodeAt(0));
  dv.setUint8(3, o.replace ? 1 : 0);
  dv.setUint32(4, o.handler, true);
  dv.setBigUint64(8, BigInt(o.seq ?? 0), true);
  dv.setBigUint64(16, BigInt(o.tick ?? 0), true);
  dv.setUint32(24, o.values.length, true);
  dv.setUint32(28, o.arg ?? 0, true);
  putValues(dv, 32, type, o.values);
  return buf;
}
