import { beforeEach, describe, expect, it } from 'vitest';
import { AudioForm, audioValues, buildChange, isSettable, readSettable } from '../src/audioform';
import { audioConfigCommand, parseControl } from '../src/protocol';

// The demo's description (rill serve --source demo), as the server sends it.
const SETTABLE = { bufferFrames: [1, 65536], rates: [8000, 16000, 22050, 32000, 44100, 48000, 96000], volume: [0, 100] };
const DEMO = { bufferFrames: 1024, channels: 2, rate: 44100, settable: SETTABLE, variables: ['mic0', 'mic1'], volume: 100 };

describe('readSettable (PROTOCOL.md §2.2)', () => {
  it('is null without a description or without settable (the program takes no changes)', () => {
    expect(readSettable(undefined)).toBeNull();
    expect(readSettable({ rate: 44100, channels: 1 })).toBeNull();
    expect(readSettable({ rate: 44100, settable: null })).toBeNull();
    expect(readSettable({ rate: 44100, settable: [1, 2] })).toBeNull();
  });

  it('is {} when nothing may change', () => {
    const s = readSettable({ rate: 44100, settable: {} });
    expect(s).toEqual({});
    for (const f of ['rate', 'channels', 'bufferFrames', 'volume'] as const) expect(isSettable(s, f)).toBe(false);
  });

  it('reads every field', () => {
    expect(readSettable({ settable: { bufferFrames: [1, 65536], channels: [1, 16], rates: [8000, 96000], volume: [0, 100] } })).toEqual({
      bufferFrames: [1, 65536],
      channels: [1, 16],
      rates: [8000, 96000],
      volume: [0, 100],
    });
  });

  it('reads a partial settable: the fields left out are fixed', () => {
    // rill serve --source file:x.wav: rate and channels fixed.
    const s = readSettable({ settable: { bufferFrames: [1, 65536], volume: [0, 100] } });
    expect(s).toEqual({ bufferFrames: [1, 65536], volume: [0, 100] });
    expect(isSettable(s, 'rate')).toBe(false);
    expect(isSettable(s, 'channels')).toBe(false);
    expect(isSettable(s, 'bufferFrames')).toBe(true);
    expect(isSettable(readSettable(DEMO), 'rate')).toBe(true);
    expect(isSettable(null, 'volume')).toBe(false);
  });

  it('leaves out malformed entries', () => {
    expect(
      readSettable({ settable: { rates: [], channels: [4, 1], bufferFrames: [1], volume: ['0', 100], extra: 1 } }),
    ).toEqual({});
    expect(readSettable({ settable: { rates: [44100, 'x', -1, null, 48000], channels: 2 } })).toEqual({ rates: [44100, 48000] });
  });

  it('reads the values of a description', () => {
    expect(audioValues(DEMO)).toEqual({ rate: 44100, channels: 2, bufferFrames: 1024, volume: 100 });
    expect(audioValues({ rate: 48000, channels: 1 })).toEqual({ rate: 48000, channels: 1 });
    expect(audioValues(undefined)).toEqual({});
  });
});

describe('buildChange: the request from the form', () => {
  const shown = { rate: 44100, channels: 2, bufferFrames: 1024, volume: 100 };
  const same = { rate: '44100', channels: '2', bufferFrames: '1024', volume: '100' };
  const demo = readSettable(DEMO);

  it('sends only the fields that changed, as numbers', () => {
    expect(buildChange(shown, same, demo)).toEqual({ change: {} });
    expect(buildChange(shown, { ...same, volume: '50', bufferFrames: '512', rate: '48000' }, demo)).toEqual({
      change: { rate: 48000, bufferFrames: 512, volume: 50 },
    });
    const built = buildChange(shown, { ...same, bufferFrames: ' 256 ' }, demo);
    expect(built.change).toEqual({ bufferFrames: 256 });
    expect(typeof built.change!.bufferFrames).toBe('number');
  });

  it('sends only the fields offered', () => {
    // Channels is fixed on the demo: an entry for it is not sent.
    expect(buildChange(shown, { ...same, channels: '1', volume: '0' }, demo)).toEqual({ change: { volume: 0 } });
    expect(buildChange(shown, { ...same, rate: '8000' }, {})).toEqual({ change: {} });
    expect(buildChange(shown, { ...same, rate: '8000' }, null)).toEqual({ change: {} });
    expect(buildChange(shown, { channels: '4' }, { channels: [1, 16] })).toEqual({ change: { channels: 4 } });
  });

  it('leaves the ranges to the server, which says what it offers', () => {
    expect(buildChange(shown, { ...same, rate: '12345', bufferFrames: '70000' }, demo)).toEqual({ change: { rate: 12345, bufferFrames: 70000 } });
  });

  it('refuses entries that are not numbers (whole numbers for channels and buffer frames)', () => {
    expect(buildChange(shown, { ...same, bufferFrames: '' }, demo)).toEqual({ error: 'buffer frames: enter a whole number' });
    expect(buildChange(shown, { ...same, bufferFrames: '2.5' }, demo)).toEqual({ error: 'buffer frames: "2.5" is not a whole number' });
    expect(buildChange(shown, { ...same, volume: 'loud' }, demo)).toEqual({ error: 'volume: "loud" is not a number' });
    expect(buildChange(shown, { channels: '1e400' }, { channels: [1, 16] }).error).toMatch(/^channels: /);
    // A fractional volume or rate is a number.
    expect(buildChange(shown, { ...same, volume: '37.5' }, demo)).toEqual({ change: { volume: 37.5 } });
  });

  it('becomes the audio-config message of PROTOCOL.md §8', () => {
    expect(JSON.parse(audioConfigCommand(5, { rate: 48000, bufferFrames: 512 }))).toEqual({ rill: 'audio-config', id: 5, rate: 48000, bufferFrames: 512 });
    expect(audioConfigCommand(6, {})).toBe('{"rill":"audio-config","id":6}');
    expect(JSON.parse(audioConfigCommand(7, { rate: 8000, channels: 1, bufferFrames: 64, volume: 80 }))).toEqual({
      rill: 'audio-config',
      id: 7,
      rate: 8000,
      channels: 1,
      bufferFrames: 64,
      volume: 80,
    });
  });
});

describe('the audio messages (PROTOCOL.md §2.2, §8)', () => {
  it('reads the audio event with its sampleRate', () => {
    const m = parseControl(`{"audio":${JSON.stringify({ ...DEMO, rate: 48000 })},"event":"audio","sampleRate":48000}`);
    expect(m).toEqual({ t: 'audio', audio: { ...DEMO, rate: 48000 }, sampleRate: 48000 });
    expect(parseControl('{"audio":null,"event":"audio","sampleRate":44100}')).toEqual({ t: 'audio', audio: undefined, sampleRate: 44100 });
    expect(parseControl('{"audio":null,"event":"audio","sampleRate":"fast"}')).toEqual({ t: 'audio', audio: undefined });
  });

  it('reads the reply to audio-config', () => {
    expect(parseControl(`{"audio":${JSON.stringify(DEMO)},"event":"audio-config","id":8}`)).toEqual({ t: 'audio-config', id: 8, audio: DEMO });
  });

  it('reads a refusal with its cmd', () => {
    const text =
      '{"error":{"cmd":"audio-config","id":5,"message":"audio-config: rate 12345 is not offered by this device (it offers 8000, 16000, 22050, 32000, 44100, 48000, 96000); refused"}}';
    expect(parseControl(text)).toEqual({
      t: 'error',
      cmd: 'audio-config',
      id: 5,
      message: 'audio-config: rate 12345 is not offered by this device (it offers 8000, 16000, 22050, 32000, 44100, 48000, 96000); refused',
    });
  });

  it('reads settable in the list reply', () => {
    const m = parseControl(`{"id":1,"watcher":{"audio":${JSON.stringify(DEMO)},"sampleRate":44100,"timestamp":5,"watchers":[]}}`);
    expect(m.t === 'list' && readSettable(m.list.audio)).toEqual(SETTABLE);
  });
});

describe('AudioForm', () => {
  let sent: string[];
  let form: AudioForm;
  const $ = <T extends HTMLElement>(sel: string) => form.root.querySelector(sel) as T;
  beforeEach(() => {
    sent = [];
    form = new AudioForm((t) => (sent.push(t), true));
    document.body.replaceChildren(form.root);
  });

  it('shows nothing without a description, a hint without settable', () => {
    form.update(undefined, false);
    expect(form.root.textContent).toBe('');
    form.update({ rate: 44100, channels: 1, bufferFrames: 256, variables: ['in'] }, true);
    expect($('#audio-form')).toBeNull();
    expect(form.root.textContent).toMatch(/Read-only/);
  });

  it('shows the description, with only the settable fields enabled', () => {
    form.update(DEMO, false);
    const rate = $<HTMLSelectElement>('#audio-rate');
    expect([...rate.options].map((o) => o.value)).toEqual(SETTABLE.rates.map(String));
    expect(rate.value).toBe('44100');
    expect(rate.disabled).toBe(false);
    const ch = $<HTMLSelectElement>('#audio-channels');
    expect(ch.value).toBe('2');
    expect(ch.disabled).toBe(true);
    expect($<HTMLInputElement>('#audio-frames').value).toBe('1024');
    const vol = $<HTMLInputElement>('#audio-volume');
    expect([vol.type, vol.min, vol.max, vol.value]).toEqual(['range', '0', '100', '100']);
    expect($('#audio-volume-value').textContent).toBe('100');
    expect($<HTMLButtonElement>('#audio-apply').disabled).toBe(false);
  });

  it('a range of channels is a select of each count', () => {
    form.update({ ...DEMO, channels: 4, settable: { channels: [1, 16] } }, true);
    const ch = $<HTMLSelectElement>('#audio-channels');
    expect(ch.options.length).toBe(16);
    expect([ch.value, ch.disabled]).toEqual(['4', false]);
    expect($<HTMLSelectElement>('#audio-rate').disabled).toBe(true);
    expect($<HTMLSelectElement>('#audio-rate').value).toBe('44100');
  });

  it('with {} nothing may change: every field disabled, no Apply', () => {
    form.update({ ...DEMO, settable: {} }, true);
    for (const id of ['#audio-rate', '#audio-channels', '#audio-frames', '#audio-volume']) expect($<HTMLInputElement>(id).disabled).toBe(true);
    expect($<HTMLButtonElement>('#audio-apply').disabled).toBe(true);
  });

  it('Apply sends the changed fields, then shows applied and the new values', () => {
    form.update(DEMO, false);
    $<HTMLInputElement>('#audio-frames').value = '512';
    $<HTMLSelectElement>('#audio-rate').value = '48000';
    form.apply();
    expect(sent.map((t) => JSON.parse(t))).toEqual([{ rill: 'audio-config', id: 1, rate: 48000, bufferFrames: 512 }]);
    expect($('#audio-status').textContent).toBe('applying…');
    expect($<HTMLButtonElement>('#audio-apply').disabled).toBe(true);
    const now = { ...DEMO, rate: 48000, bufferFrames: 512 };
    form.update(now, true); // the audio event comes first
    expect(form.control({ t: 'audio-config', id: 1, audio: now })).toBe(true);
    expect($('#audio-status').textContent).toBe('applied');
    expect($<HTMLButtonElement>('#audio-apply').disabled).toBe(false);
    expect($<HTMLSelectElement>('#audio-rate').value).toBe('48000');
    // Nothing changed since: Apply sends nothing.
    form.apply();
    expect(sent.length).toBe(1);
    expect($('#audio-status').textContent).toBe('no change');
  });

  it("shows a refusal's sentence, as rill audio does, and keeps the entries", () => {
    form.update(DEMO, false);
    $<HTMLInputElement>('#audio-frames').value = '70000';
    form.apply();
    const message = 'audio-config: bufferFrames 70000 is out of range (1 to 65536); refused';
    expect(form.control({ t: 'error', cmd: 'audio-config', id: 1, message })).toBe(true);
    expect($('#audio-status').textContent).toBe('bufferFrames 70000 is out of range (1 to 65536)');
    expect($('#audio-status').dataset.state).toBe('error');
    expect($<HTMLInputElement>('#audio-frames').value).toBe('70000');
    // Other errors are not the form's.
    expect(form.control({ t: 'error', message: 'nope', id: 'dash' })).toBe(false);
  });

  it('an entry that is not a number is not sent', () => {
    form.update(DEMO, false);
    $<HTMLInputElement>('#audio-frames').value = '';
    form.apply();
    expect(sent).toEqual([]);
    expect($('#audio-status').textContent).toBe('buffer frames: enter a whole number');
  });

  it("takes every event's values (another client's change), but a list reply that repeats them leaves the entries", () => {
    form.update(DEMO, false);
    $<HTMLInputElement>('#audio-frames').value = '300';
    form.update(DEMO, false);
    expect($<HTMLInputElement>('#audio-frames').value).toBe('300');
    form.update({ ...DEMO, volume: 20 }, true);
    expect($<HTMLInputElement>('#audio-frames').value).toBe('1024');
    expect($<HTMLInputElement>('#audio-volume').value).toBe('20');
    expect($('#audio-volume-value').textContent).toBe('20');
    // A list reply with a description that differs is taken too.
    form.update({ ...DEMO, volume: 30 }, false);
    expect($<HTMLInputElement>('#audio-volume').value).toBe('30');
  });

  it('not connected: says so', () => {
    form = new AudioForm(() => false);
    document.body.replaceChildren(form.root);
    form.update(DEMO, false);
    $<HTMLInputElement>('#audio-volume').value = '10';
    form.apply();
    expect($('#audio-status').textContent).toMatch(/not connected/);
  });
});
