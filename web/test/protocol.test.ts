import { describe, expect, it } from 'vitest';
import {
  DecodeError,
  binaryKind,
  decodeHandlerFrame,
  decodeNative,
  listCommand,
  parseControl,
  unwatchCommand,
  watchCommand,
} from '../src/protocol';
import { controlUrl, serverAddress } from '../src/connection';
import { encodeHandlerFrame, encodeNative } from './encode';

describe('native messages (PROTOCOL.md §4)', () => {
  it('decodes a dense float buffer as a view on the message', () => {
    const buf = encodeNative({ type: 'f', varId: 2, seq: 7, ts: 44100, dropped: 3, values: [0.5, -0.25, 1] });
    expect(buf.byteLength).toBe(32 + 12);
    const m = decodeNative(buf);
    expect(m).toMatchObject({ kind: 0, type: 'f', sparse: false, last: false, varId: 2, seq: 7, ts: 44100, count: 3, dropped: 3, rel: null });
    expect(Array.from(m.values)).toEqual([0.5, -0.25, 1]);
    expect(m.values.buffer).toBe(buf); // no copy
  });

  it('decodes every type letter', () => {
    const cases: [string, number[]][] = [
      ['c', [0, 200, 255]],
      ['i', [-5, 2147483647]],
      ['j', [4294967295, 1]],
      ['d', [Math.PI, -1e300]],
    ];
    for (const [type, values] of cases) expect(Array.from(decodeNative(encodeNative({ type, values })).values)).toEqual(values);
  });

  it('a dense float buffer of 1024 values is 4128 bytes', () => {
    expect(decodeNative(encodeNative({ values: new Array(1024).fill(0) })).count).toBe(1024);
    expect(encodeNative({ values: new Array(1024).fill(0) }).byteLength).toBe(4128);
  });

  it('decodes sparse buffers: padding to 4 bytes, then relative timestamps', () => {
    // The example of §4.1: a sparse char buffer of 3 values is 48 bytes.
    const buf = encodeNative({ type: 'c', flags: 1, ts: 1000, values: [7, 8, 9], rel: [0, 5, 64] });
    expect(buf.byteLength).toBe(48);
    const m = decodeNative(buf);
    expect(m.sparse).toBe(true);
    expect(Array.from(m.values)).toEqual([7, 8, 9]);
    expect(Array.from(m.rel!)).toEqual([0, 5, 64]);
  });

  it('decodes the last flag, monitor values and end messages', () => {
    expect(decodeNative(encodeNative({ flags: 2, values: [1] })).last).toBe(true);
    const mon = decodeNative(encodeNative({ kind: 1, type: 'd', ts: 99, values: [4.5] }));
    expect(mon).toMatchObject({ kind: 1, ts: 99, count: 1 });
    expect(decodeNative(encodeNative({ kind: 2, ts: 123 }))).toMatchObject({ kind: 2, count: 0, ts: 123 });
  });

  it('reads 64-bit ticks', () => {
    expect(decodeNative(encodeNative({ ts: 2 ** 40 + 3, seq: 2 ** 33, values: [1] }))).toMatchObject({ ts: 2 ** 40 + 3, seq: 2 ** 33 });
  });

  it('refuses what §4.4 refuses', () => {
    const bad: [string, ArrayBuffer][] = [
      ['short', new ArrayBuffer(31)],
      ['version', (() => { const b = encodeNative({ values: [1] }); new DataView(b).setUint8(0, 2); return b; })()],
      ['kind', (() => { const b = encodeNative({ values: [1] }); new DataView(b).setUint8(1, 3); return b; })()],
      ['type', (() => { const b = encodeNative({ values: [1] }); new DataView(b).setUint8(2, 0x78); return b; })()],
      ['flag bits', encodeNative({ flags: 4, values: [1] })],
      ['empty buffer', encodeNative({ values: [] })],
      ['monitor count', encodeNative({ kind: 1, values: [1, 2] })],
      ['end with values', encodeNative({ kind: 2, values: [1] })],
      ['length', encodeNative({ values: [1, 2] }).slice(0, 36)],
      ['padding', (() => { const b = encodeNative({ type: 'c', flags: 1, values: [1] }); new DataView(b).setUint8(33, 1); return b; })()],
    ];
    for (const [what, b] of bad) expect(() => decodeNative(b), what).toThrow(DecodeError);
  });

  it('tells native messages from handler frames', () => {
    expect(binaryKind(encodeNative({ values: [1] }))).toBe('native');
    expect(binaryKind(encodeHandlerFrame({ handler: 1, values: [1] }))).toBe('handler');
    expect(binaryKind(new Uint8Array([30, 47, 102]).buffer)).toBe('unknown'); // a compat header "0/f"
  });
});

describe('handler frames (HANDLERS.md)', () => {
  it('decodes float32 frames as a view', () => {
    const buf = encodeHandlerFrame({ handler: 3, seq: 9, tick: 48000, arg: 2, replace: true, values: [0.5, 1.5] });
    const f = decodeHandlerFrame(buf);
    expect(f).toMatchObject({ handler: 3, seq: 9, tick: 48000, arg: 2, replace: true, count: 2 });
    expect(Array.from(f.values)).toEqual([0.5, 1.5]);
    expect(f.values.buffer).toBe(buf);
  });

  it('scales int16 PCM to -1 .. 1', () => {
    const f = decodeHandlerFrame(encodeHandlerFrame({ handler: 1, type: 'h', values: [-32768, 0, 16384, 32767] }));
    expect(Array.from(f.values)).toEqual([-1, 0, 0.5, 32767 / 32768]);
  });

  it('decodes float64 and int32 values', () => {
    expect(Array.from(decodeHandlerFrame(encodeHandlerFrame({ handler: 1, type: 'd', values: [1e-300, 2] })).values)).toEqual([1e-300, 2]);
    expect(Array.from(decodeHandlerFrame(encodeHandlerFrame({ handler: 1, type: 'i', values: [-7, 9] })).values)).toEqual([-7, 9]);
  });

  it('refuses bad frames', () => {
    expect(() => decodeHandlerFrame(new ArrayBuffer(8))).toThrow(DecodeError);
    expect(() => decodeHandlerFrame(encodeNative({ values: [1] }))).toThrow(DecodeError);
    const t = encodeHandlerFrame({ handler: 1, values: [1] });
    new DataView(t).setUint8(2, 0x63);
    expect(() => decodeHandlerFrame(t)).toThrow(/value type/);
    const fl = encodeHandlerFrame({ handler: 1, values: [1] });
    new DataView(fl).setUint8(3, 2);
    expect(() => decodeHandlerFrame(fl)).toThrow(/flag/);
    expect(() => decodeHandlerFrame(encodeHandlerFrame({ handler: 1, values: [1, 2] }).slice(0, 36))).toThrow(/needs 40/);
  });
});

describe('control messages', () => {
  it('reads the hello reply and the connection event', () => {
    expect(parseControl('{"rill":"hello","version":1,"maxValues":65536,"queueBytes":8388608,"sampleRate":44100}')).toEqual({
      t: 'hello', version: 1, maxValues: 65536, queueBytes: 8388608, sampleRate: 44100,
    });
    expect(parseControl('{"event":"connection","projectName":"p"}')).toEqual({ t: 'connection', projectName: 'p' });
  });

  it('reads a list reply (PROTOCOL.md §2.2)', () => {
    const m = parseControl(
      '{"id":7,"watcher":{"sampleRate":44100,"timestamp":1234567,"watchers":[{"controlled":false,"logFileName":"","logged":false,"monitor":0,"name":"myvar","timestampMode":1,"type":"d","value":1234567,"valueInput":1234567,"watched":true}]}}',
    );
    expect(m.t).toBe('list');
    if (m.t !== 'list') return;
    expect(m.list).toMatchObject({ id: 7, sampleRate: 44100, timestamp: 1234567 });
    expect(m.list.vars[0]).toMatchObject({ id: 0, name: 'myvar', type: 'd', timestampMode: 1, watched: true, value: 1234567 });
  });

  it('reads the audio description: in the list reply and as a notice', () => {
    const m = parseControl(
      '{"id":1,"watcher":{"audio":{"bufferFrames":1024,"channels":2,"rate":44100,"variables":["mic0","mic1"],"volume":100},"sampleRate":44100,"timestamp":5,"watchers":[]}}',
    );
    expect(m.t).toBe('list');
    if (m.t !== 'list') return;
    expect(m.list.audio).toEqual({ bufferFrames: 1024, channels: 2, rate: 44100, variables: ['mic0', 'mic1'], volume: 100 });
    expect(parseControl('{"audio":{"bufferFrames":256,"channels":1,"rate":48000,"variables":["in"]},"event":"audio"}')).toEqual({
      t: 'audio', audio: { bufferFrames: 256, channels: 1, rate: 48000, variables: ['in'] },
    });
    expect(parseControl('{"audio":null,"event":"audio"}')).toEqual({ t: 'audio', audio: undefined });
  });

  it('reads notices and errors', () => {
    expect(parseControl('{"event":"dropped","buffers":3,"total":17,"variable":"frame"}')).toEqual({ t: 'dropped', buffers: 3, total: 17, variable: 'frame' });
    expect(parseControl('{"error":{"id":"dash","message":"nope"}}')).toEqual({ t: 'error', message: 'nope', id: 'dash' });
    expect(parseControl('{"event":"log-ended","logFileName":"a.bin"}').t).toBe('other');
  });

  it('reads handler messages', () => {
    expect(parseControl('{"event":"handler","id":1,"name":"Spectrum","type":"spectrogram","parameters":{"height":4}}')).toEqual({
      t: 'handler', handler: { id: 1, name: 'Spectrum', type: 'spectrogram', params: { height: 4 } },
    });
    expect(parseControl('{"event":"handler","id":2,"type":"line"}')).toEqual({ t: 'handler', handler: { id: 2, name: 'handler 2', type: 'line', params: {} } });
    expect(parseControl('{"event":"handler-data","id":1,"data":[1,2],"tick":5}')).toEqual({ t: 'handler-data', id: 1, data: [1, 2], tick: 5 });
    expect(parseControl('{"event":"handler-remove","id":1}')).toEqual({ t: 'handler-remove', id: 1 });
    expect(parseControl('{"rill":"dash","version":1}')).toEqual({ t: 'dash', version: 1 });
    expect(() => parseControl('{"event":"handler","id":"x","type":"line"}')).toThrow(DecodeError);
    expect(() => parseControl('{"event":"handler-data","data":1}')).toThrow(DecodeError);
  });

  it('refuses non-JSON and non-objects', () => {
    expect(() => parseControl('nope')).toThrow(DecodeError);
    expect(() => parseControl('[1]')).toThrow(DecodeError);
  });

  it('writes the commands the page sends', () => {
    expect(JSON.parse(listCommand(3))).toEqual({ id: 3, watcher: [{ cmd: 'list' }] });
    expect(JSON.parse(watchCommand(['a', 'b'], [512, 16]))).toEqual({
      watcher: [{ cmd: 'watch', watchers: ['a', 'b'], timestamps: [0, 0], durations: [0, 0], lengths: [512, 16] }],
    });
    expect(JSON.parse(unwatchCommand(['a']))).toEqual({ watcher: [{ cmd: 'unwatch', watchers: ['a'] }] });
  });
});

describe('server address', () => {
  it('is the page\'s own host, or ?server=, with ?token= passed on', () => {
    expect(serverAddress({ protocol: 'http:', host: '127.0.0.1:5555', search: '' })).toEqual({ base: 'ws://127.0.0.1:5555', token: null });
    expect(serverAddress({ protocol: 'https:', host: 'dev:8443', search: '' }).base).toBe('wss://dev:8443');
    const a = serverAddress({ protocol: 'http:', host: 'x:1', search: '?server=ws://10.0.0.2:6000/&token=s3 cret' });
    expect(a).toEqual({ base: 'ws://10.0.0.2:6000', token: 's3 cret' });
    expect(controlUrl(a)).toBe('ws://10.0.0.2:6000/gui_control?token=s3%20cret');
  });
});
