// The audio configuration form (PROTOCOL.md §8): shown under the audio
// panel's description when the device takes changes (the description's
// `settable`), it sends {"rill":"audio-config"} with the fields the user
// changed and shows "applying…", then "applied" or the server's refusal
// verbatim. The server checks every value against what it offers, so the
// form only checks that an entry is a number; the fields it does not offer
// are shown, disabled.
//
// The form takes the description's values on every audio event (a change
// by this page or any other client) and whenever the description differs
// from the one it shows; a list reply that repeats it leaves the user's
// entries alone.

import { AudioChange, ControlMessage, audioConfigCommand } from './protocol';

export type AudioField = 'rate' | 'channels' | 'bufferFrames' | 'volume';
export const AUDIO_FIELDS: readonly AudioField[] = ['rate', 'channels', 'bufferFrames', 'volume'];

/** What may change, from the description's `settable` (PROTOCOL.md §2.2). */
export interface Settable {
  /** The rates offered, in Hz. */
  rates?: number[];
  /** [min, max], inclusive. */
  channels?: [number, number];
  bufferFrames?: [number, number];
  volume?: [number, number];
}

/** The description's values of the four fields (absent when not reported). */
export type AudioValues = Partial<Record<AudioField, number>>;

/** The form's entries, as typed (the inputs' values). */
export type AudioEntries = Partial<Record<AudioField, string>>;

const LABEL: Record<AudioField, string> = { rate: 'rate', channels: 'channels', bufferFrames: 'buffer frames', volume: 'volume' };
const INTEGER: Record<AudioField, boolean> = { rate: false, channels: true, bufferFrames: true, volume: false };
/** A select lists every value of a range of at most this many. */
const MAX_OPTIONS = 64;
const REPLY_TIMEOUT_MS = 30000;

function finite(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function range(v: unknown): [number, number] | undefined {
  if (!Array.isArray(v) || v.length !== 2 || !finite(v[0]) || !finite(v[1]) || v[0] > v[1]) return undefined;
  return [v[0], v[1]];
}

/** The description's `settable`: null when it has none (the program takes
 * no changes) or there is no description; {} when nothing may change.
 * Malformed entries are left out (that field is then fixed). */
export function readSettable(audio: Record<string, unknown> | undefined): Settable | null {
  if (!audio) return null;
  const s = audio.settable as Record<string, unknown> | undefined;
  if (!s || typeof s !== 'object' || Array.isArray(s)) return null;
  const out: Settable = {};
  if (Array.isArray(s.rates)) {
    const rates = s.rates.filter((r): r is number => finite(r) && r > 0);
    if (rates.length) out.rates = rates;
  }
  for (const k of ['channels', 'bufferFrames', 'volume'] as const) {
    const r = range(s[k]);
    if (r) out[k] = r;
  }
  return out;
}

/** Whether the user may change `f`. */
export function isSettable(s: Settable | null, f: AudioField): boolean {
  if (!s) return false;
  return f === 'rate' ? s.rates !== undefined : s[f] !== undefined;
}

/** The description's numeric values of the four fields. */
export function audioValues(audio: Record<string, unknown> | undefined): AudioValues {
  const out: AudioValues = {};
  if (audio) for (const f of AUDIO_FIELDS) if (finite(audio[f])) out[f] = audio[f] as number;
  return out;
}

export type Built = { change: AudioChange; error?: undefined } | { error: string; change?: undefined };

/** The change to ask for: each settable field whose entry differs from the
 * value the form was filled with (`shown`), as a number (an integer for
 * channels and buffer frames). An entry that is not a number is an error;
 * whether a value is offered is the server's to say. */
export function buildChange(shown: AudioValues, entries: AudioEntries, settable: Settable | null): Built {
  const change: AudioChange = {};
  for (const f of AUDIO_FIELDS) {
    if (!isSettable(settable, f)) continue;
    const text = entries[f];
    if (text === undefined) continue;
    const t = text.trim();
    const v = t === '' ? NaN : Number(t);
    const kind = INTEGER[f] ? 'a whole number' : 'a number';
    if (t === '') return { error: `${LABEL[f]}: enter ${kind}` };
    if (!Number.isFinite(v) || (INTEGER[f] && !Number.isInteger(v))) return { error: `${LABEL[f]}: "${t}" is not ${kind}` };
    if (v !== shown[f]) change[f] = v;
  }
  return { change };
}

// ---- The form ------------------------------------------------------------------

type Control = HTMLSelectElement | HTMLInputElement;

const IDS: Record<AudioField, string> = { rate: 'audio-rate', channels: 'audio-channels', bufferFrames: 'audio-frames', volume: 'audio-volume' };

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function option(select: HTMLSelectElement, value: number, text: string): void {
  const o = el('option', '', text);
  o.value = String(value);
  select.appendChild(o);
}

/** A refusal's sentence without the protocol's framing around it
 * ("audio-config: ...; refused"), as `rill audio` prints it. */
export function deviceSentence(message: string): string {
  let m = message;
  if (m.startsWith('audio-config: ')) m = m.slice(14);
  if (m.startsWith('refused: ')) m = m.slice(9);
  if (m.endsWith('; refused')) m = m.slice(0, -9);
  return m;
}

export class AudioForm {
  /** The form's place in the panel (the form, or a hint when there is none). */
  readonly root: HTMLDivElement;
  private controls: Partial<Record<AudioField, Control>> = {};
  private volumeOut: HTMLOutputElement | null = null;
  private applyButton: HTMLButtonElement | null = null;
  private statusLine: HTMLElement;
  private audio: Record<string, unknown> | undefined;
  private settable: Settable | null = null;
  /** The values the form was filled with (as its inputs hold them). */
  private shown: AudioValues = {};
  private shownKey = '';
  private layoutKey = '';
  private nextId = 1;
  private pending: { id: number; timer: number } | null = null;

  constructor(private send: (text: string) => boolean) {
    this.root = el('div', 'audio-form-box');
    this.statusLine = el('p', 'audio-status');
    this.statusLine.id = 'audio-status';
    this.statusLine.setAttribute('role', 'status');
  }

  /** A description from a list reply (`event` false: only if it differs from
   * the one shown) or an audio event (`event` true: always). */
  update(audio: Record<string, unknown> | undefined, event: boolean): void {
    const key = audio ? JSON.stringify(audio) : '';
    if (!event && key === this.shownKey) return;
    this.shownKey = key;
    this.audio = audio;
    this.settable = readSettable(audio);
    const layout = `${audio ? 1 : 0}|${JSON.stringify(this.settable)}|${audio && finite(audio.volume) ? 1 : 0}`;
    if (layout !== this.layoutKey) {
      this.layoutKey = layout;
      this.build();
    }
    this.fill();
  }

  /** A control message for the form: the reply to its request, or a refusal.
   * Returns whether it was one. */
  control(m: ControlMessage): boolean {
    if (m.t === 'audio-config') {
      if (this.pending && m.id === this.pending.id) {
        this.finish();
        this.setStatus('applied', 'ok');
      }
      this.update(m.audio, true);
      return true;
    }
    if (m.t === 'error' && m.cmd === 'audio-config') {
      if (!this.pending || m.id === this.pending.id) {
        this.finish();
        this.setStatus(deviceSentence(m.message), 'error');
      }
      return true;
    }
    return false;
  }

  /** What the inputs hold now. */
  entries(): AudioEntries {
    const out: AudioEntries = {};
    for (const f of AUDIO_FIELDS) {
      const c = this.controls[f];
      if (c && !c.disabled) out[f] = c.value;
    }
    return out;
  }

  apply(): void {
    if (this.pending) return;
    const built = buildChange(this.shown, this.entries(), this.settable);
    if (built.error !== undefined) {
      this.setStatus(built.error, 'error');
      return;
    }
    if (Object.keys(built.change).length === 0) {
      this.setStatus('no change', 'ok');
      return;
    }
    const id = this.nextId++;
    if (!this.send(audioConfigCommand(id, built.change))) {
      this.setStatus('not connected; try again', 'error');
      return;
    }
    this.pending = {
      id,
      timer: window.setTimeout(() => {
        this.finish();
        this.setStatus(`no answer from the server in ${REPLY_TIMEOUT_MS / 1000} s`, 'error');
      }, REPLY_TIMEOUT_MS),
    };
    if (this.applyButton) this.applyButton.disabled = true;
    this.setStatus('applying…', 'pending');
  }

  private finish(): void {
    if (this.pending) clearTimeout(this.pending.timer);
    this.pending = null;
    if (this.applyButton) this.applyButton.disabled = !this.anySettable();
  }

  private anySettable(): boolean {
    return AUDIO_FIELDS.some((f) => isSettable(this.settable, f));
  }

  private setStatus(text: string, state: 'ok' | 'error' | 'pending'): void {
    this.statusLine.textContent = text;
    this.statusLine.dataset.state = state;
  }

  // ---- DOM -------------------------------------------------------------------------

  private build(): void {
    this.root.textContent = '';
    this.controls = {};
    this.volumeOut = null;
    this.applyButton = null;
    const audio = this.audio;
    const s = this.settable;
    if (!audio) return;
    if (!s) {
      this.root.appendChild(el('p', 'hint', "Read-only: this device's program does not take audio configuration changes."));
      return;
    }
    const form = el('form', 'audio-form');
    form.id = 'audio-form';
    form.noValidate = true; // the server says what is offered
    form.onsubmit = (e) => {
      e.preventDefault();
      this.apply();
    };
    form.appendChild(el('h3', '', 'Change'));
    const grid = el('div', 'audio-fields');
    for (const f of AUDIO_FIELDS) {
      if (f === 'volume' && !finite(audio.volume) && !s.volume) continue; // the program reports no volume
      const c = this.input(f, s);
      c.id = IDS[f];
      c.dataset.field = f;
      const label = el('label', '', LABEL[f]);
      label.htmlFor = c.id;
      const cell = el('div', 'audio-field');
      cell.appendChild(c);
      if (f === 'volume') {
        const out = el('output', 'audio-volume-value');
        out.id = 'audio-volume-value';
        out.htmlFor.add(c.id);
        c.addEventListener('input', () => (out.textContent = c.value));
        cell.appendChild(out);
        this.volumeOut = out;
      }
      if (!isSettable(s, f)) {
        c.disabled = true;
        c.title = `${LABEL[f]} is fixed on this device`;
        cell.appendChild(el('span', 'fixed', 'fixed'));
      }
      grid.append(label, cell);
      this.controls[f] = c;
    }
    form.appendChild(grid);
    const actions = el('div', 'audio-actions');
    const apply = el('button', 'apply', 'Apply');
    apply.type = 'submit';
    apply.id = 'audio-apply';
    apply.disabled = !this.anySettable() || this.pending !== null;
    actions.append(apply, this.statusLine);
    form.appendChild(actions);
    if (!this.anySettable()) form.appendChild(el('p', 'hint', 'Nothing may change on this device.'));
    this.applyButton = apply;
    this.root.appendChild(form);
  }

  /** The input of one field: its options and bounds from `settable`. */
  private input(f: AudioField, s: Settable): Control {
    if (f === 'rate') {
      const sel = el('select');
      for (const r of s.rates ?? []) option(sel, r, `${r} Hz`);
      return sel;
    }
    const r = s[f];
    if (f === 'channels' && (!r || r[1] - r[0] < MAX_OPTIONS)) {
      const sel = el('select');
      if (r) for (let n = r[0]; n <= r[1]; n++) option(sel, n, String(n));
      return sel;
    }
    const input = el('input');
    input.type = f === 'volume' ? 'range' : 'number';
    if (r) {
      input.min = String(r[0]);
      input.max = String(r[1]);
    }
    input.step = f === 'volume' ? '1' : INTEGER[f] ? '1' : 'any';
    return input;
  }

  /** Put the description's values into the inputs. */
  private fill(): void {
    const v = audioValues(this.audio);
    this.shown = {};
    for (const f of AUDIO_FIELDS) {
      const c = this.controls[f];
      if (!c) continue;
      const x = v[f];
      if (c instanceof HTMLSelectElement) {
        // A value the options lack (a fixed field, or one not offered) is
        // shown all the same.
        if (x !== undefined && ![...c.options].some((o) => o.value === String(x)))
          option(c, x, f === 'rate' ? `${x} Hz` : String(x));
        c.value = x === undefined ? '' : String(x);
      } else {
        c.value = x === undefined ? '' : String(x);
      }
      // As the input holds it (a range rounds to its step).
      const held = c.value === '' ? undefined : Number(c.value);
      if (held !== undefined) this.shown[f] = held;
    }
    if (this.volumeOut) this.volumeOut.textContent = this.controls.volume?.value ?? '';
  }
}
