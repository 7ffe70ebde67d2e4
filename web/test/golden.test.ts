// The golden binary messages of tests/golden/, written by the C encoders
// (tests/proto/golden_test.c fails if they change their bytes), read here
// by the page's own decoders (src/protocol.ts): if a decoder and the C
// encoders disagree, this test fails. golden.json says what each message
// means.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { binaryKind, decodeHandlerFrame, decodeNative } from '../src/protocol';

// A plain path: under jsdom, URL is jsdom's class, which node:fs does not
// take (and Vite rewrites new URL(..., import.meta.url) into an asset).
const dir = decodeURIComponent(import.meta.url.replace(/^file:\/\//, '').replace(/[^/]*$/, '')) +
  '../../tests/golden/';

interface Meaning {
  decoder: 'native' | 'compat' | 'handler';
  [field: string]: unknown;
}

const golden: Record<string, Meaning> = JSON.parse(readFileSync(dir + 'golden.json', 'utf8'));

function bytes(file: string): ArrayBuffer {
  const b = readFileSync(dir + file);
  // A buffer of its own, as a WebSocket message's is.
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

const entries = (decoder: Meaning['decoder']) =>
  Object.entries(golden).filter(([, m]) => m.decoder === decoder);

describe('golden messages (tests/golden)', () => {
  it('has every kind of message', () => {
    expect(entries('native').length).toBeGreaterThanOrEqual(9);
    expect(entries('handler').length).toBeGreaterThanOrEqual(2);
    expect(entries('compat').length).toBe(1);
  });

  it.each(entries('native'))('%s decodes as the C encoder wrote it', (file, m) => {
    const buf = bytes(file);
    expect(binaryKind(buf)).toBe('native');
    const d = decodeNative(buf);
    expect({
      kind: d.kind,
      type: d.type,
      sparse: d.sparse,
      last: d.last,
      varId: d.varId,
      seq: d.seq,
      ts: d.ts,
      count: d.count,
      dropped: d.dropped,
      values: Array.from(d.values),
      rel: d.rel === null ? null : Array.from(d.rel),
    }).toEqual({ ...m, decoder: undefined });
  });

  it.each(entries('handler'))('%s decodes as the C encoder wrote it', (file, m) => {
    const buf = bytes(file);
    expect(binaryKind(buf)).toBe('handler');
    const f = decodeHandlerFrame(buf);
    expect({
      type: String.fromCharCode(new Uint8Array(buf)[2]),
      handler: f.handler,
      seq: f.seq,
      tick: f.tick,
      replace: f.replace,
      arg: f.arg,
      count: f.count,
      values: Array.from(f.values),
    }).toEqual({ ...m, decoder: undefined });
  });

  // The page never speaks the compatibility format (it is native only), so
  // src/protocol.ts has no decoder for it: the pair is read here as
  // docs/PROTOCOL.md §3 describes it, and by the end-to-end suite's
  // pybela-like client (tests/e2e/test_golden.py).
  it.each(entries('compat'))('%s and its header read as PROTOCOL.md §3 says', (file, m) => {
    const header = new TextDecoder().decode(bytes(m.header as string));
    expect(header).toBe(`${m.id}/${m.type}`);
    const body = new DataView(bytes(file));
    expect(body.byteLength).toBe(4104);
    expect(Number(body.getBigUint64(0, true))).toBe(m.ref);
    const n = m.n as number;
    expect(n).toBe((4104 - 8) / 4);
    const values = Array.from({ length: n }, (_, k) => body.getFloat32(8 + 4 * k, true));
    const given = m.values as number[];
    expect(values.slice(0, given.length)).toEqual(given);
    expect(values.slice(given.length).every((v) => v === 0)).toBe(true); // padding
  });
});
