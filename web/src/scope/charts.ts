// The charts of the variables panel: one scope per variable clicked (click
// it again to close it), more traces added to a chart from its "+ trace"
// list. Charts hold streams through the StreamSet, so a variable shown in
// two charts is watched once; they outlive a reconnect (their traces are
// bound again to the new connection's streams by name) and a change of the
// device's rate.

import { defaultColor } from '../handlers/types';
import type { VarInfo } from '../protocol';
import type { StreamTaps } from '../recording';
import type { Stream, StreamSet } from '../streams';
import { ScopeChart, ScopeSettings } from './chart';
import type { Painter } from './painter';
import { buildControls } from './controls';

interface ChartEntry {
  chart: ScopeChart;
  /** The names of its traces, in order (the first names the chart). */
  names: string[];
  streams: (Stream | null)[];
  sync: () => void;
  chips: HTMLElement;
  addSel: HTMLSelectElement;
  play: HTMLButtonElement;
  rec: HTMLButtonElement;
  keep: number;
}

/** Readout updates a second. */
const READOUT_HZ = 5;

export class ChartSet {
  readonly charts: ChartEntry[] = [];
  private readoutsAt = -Infinity;
  /** Who paints the plot canvases: one for all charts (null: each chart
   * on the main thread). */
  painter: Painter | null = null;

  constructor(
    readonly root: HTMLElement,
    private streams: StreamSet,
    private taps: StreamTaps,
    private vars: () => VarInfo[],
    private width: () => number,
  ) {
    taps.onState = (name) => {
      for (const c of this.charts) if (c.names[0] === name) this.syncButtons(c);
    };
    streams.onReplaced = (s) => {
      for (const c of this.charts) if (c.streams.includes(s)) c.chart.seriesReplaced();
    };
  }

  get rate(): number {
    return this.streams.rate;
  }

  find(name: string): ChartEntry | undefined {
    return this.charts.find((c) => c.names[0] === name);
  }

  /** The variables streamed by any chart. */
  streaming(): string[] {
    return [...this.streams.streams.values()].map((s) => s.v.name);
  }

  /** A click on a variable: its chart opens, or closes if open. */
  toggle(name: string): void {
    const c = this.find(name);
    if (c) this.close(c);
    else this.open([name]);
  }

  open(names: string[], settings?: Partial<ScopeSettings>): ChartEntry | null {
    const vs = names.map((n) => this.vars().find((v) => v.name === n)).filter((v): v is VarInfo => !!v);
    if (!vs.length) return null;
    const chart = new ScopeChart(vs[0].name, this.width(), this.painter ?? undefined);
    chart.rateOf = () => this.streams.rate;
    if (settings) Object.assign(chart.settings, settings);
    const tools = document.createElement('div');
    tools.className = 'chart-tools';
    const chips = document.createElement('span');
    chips.className = 'trace-chips';
    const addSel = document.createElement('select');
    addSel.className = 'trace-add';
    addSel.title = 'overlay another variable on this chart';
    const play = document.createElement('button');
    play.className = 'play';
    play.textContent = 'Play';
    const rec = document.createElement('button');
    rec.className = 'record';
    rec.textContent = 'Record';
    tools.append(chips, addSel, play, rec);
    const { root: controls, sync } = buildControls(chart);
    chart.el.prepend(tools, controls);
    this.root.appendChild(chart.el);
    const entry: ChartEntry = { chart, names: vs.map((v) => v.name), streams: [], sync, chips, addSel, play, rec, keep: 0 };
    chart.onChange = () => {
      sync();
      this.ensureKeep(entry);
    };
    addSel.onchange = () => {
      if (addSel.value) this.addTrace(entry, addSel.value);
      addSel.value = '';
    };
    play.onclick = async () => {
      const s = entry.streams[0];
      if (!s) return;
      play.disabled = true;
      await this.taps.togglePlay(s, this.rate);
      play.disabled = s.v.timestampMode === 1;
      this.syncButtons(entry);
    };
    rec.onclick = () => {
      const s = entry.streams[0];
      if (s) this.taps.toggleRecord(s, this.rate);
    };
    this.charts.push(entry);
    this.bind(entry);
    return entry;
  }

  addTrace(c: ChartEntry, name: string): void {
    if (c.names.includes(name)) return;
    const v = this.vars().find((x) => x.name === name);
    if (!v) return;
    c.names.push(name);
    const [s] = this.streams.acquire([v], c.chart.keepSeconds());
    c.streams.push(s);
    this.applyTraces(c);
  }

  removeTrace(c: ChartEntry, k: number): void {
    if (k === 0) return this.close(c);
    const s = c.streams[k];
    c.names.splice(k, 1);
    c.streams.splice(k, 1);
    if (s) this.streams.release(s);
    this.applyTraces(c);
  }

  close(c: ChartEntry): void {
    const s0 = c.streams[0];
    if (s0 && s0.users === 1) this.taps.drop(s0);
    for (const s of c.streams) if (s) this.streams.release(s);
    c.chart.destroy();
    this.charts.splice(this.charts.indexOf(c), 1);
  }

  /** Take streams for every trace (after open, or a reconnect's list). */
  private bind(c: ChartEntry): void {
    const vs = c.names.map((n) => this.vars().find((v) => v.name === n));
    const keep = c.chart.keepSeconds();
    const have = vs.filter((v): v is VarInfo => !!v);
    const got = this.streams.acquire(have, keep);
    c.streams = vs.map((v) => (v ? got[have.indexOf(v)] : null));
    c.keep = keep;
    this.applyTraces(c);
  }

  private applyTraces(c: ChartEntry): void {
    const live = c.streams.map((s, i) => ({ s, i })).filter((x): x is { s: Stream; i: number } => !!x.s);
    c.chart.setTraces(live.map(({ s, i }) => ({ stream: s, color: defaultColor(i) })));
    c.chips.textContent = '';
    c.names.forEach((n, i) => {
      const chip = document.createElement('span');
      chip.className = 'trace-chip';
      chip.dataset.trace = n;
      const dot = document.createElement('span');
      dot.className = 'trace-dot';
      dot.style.background = defaultColor(i);
      const label = document.createElement('span');
      label.className = 'chart-name';
      label.textContent = n;
      chip.append(dot, label);
      if (i > 0) {
        const x = document.createElement('button');
        x.className = 'trace-remove';
        x.textContent = '×';
        x.title = `remove ${n} from this chart`;
        x.onclick = () => this.removeTrace(c, i);
        chip.appendChild(x);
      }
      c.chips.appendChild(chip);
    });
    this.fillAdd(c);
    this.syncButtons(c);
    c.sync();
  }

  private fillAdd(c: ChartEntry): void {
    c.addSel.textContent = '';
    const head = document.createElement('option');
    head.value = '';
    head.textContent = '+ trace';
    c.addSel.appendChild(head);
    for (const v of this.vars()) {
      if (c.names.includes(v.name)) continue;
      const o = document.createElement('option');
      o.value = v.name;
      o.textContent = v.name;
      c.addSel.appendChild(o);
    }
  }

  private syncButtons(c: ChartEntry): void {
    const name = c.names[0];
    const s = c.streams[0];
    const sparse = !s || s.v.timestampMode === 1;
    const rate = this.rate;
    c.play.textContent = this.taps.isPlaying(name) ? 'Stop' : 'Play';
    c.play.title = `play ${name} as audio at ${rate} Hz`;
    const recording = this.taps.recorded(name) !== null;
    c.rec.textContent = recording ? 'Stop and save' : 'Record';
    c.rec.classList.toggle('recording', recording);
    c.rec.title = `record ${name} to a WAV file (${rate} Hz, 16-bit); press again to download`;
    c.play.disabled = c.rec.disabled = sparse; // no sample clock
  }

  private ensureKeep(c: ChartEntry): void {
    const keep = c.chart.keepSeconds();
    if (keep <= c.keep) return;
    c.keep = keep;
    for (const s of c.streams) if (s) this.streams.keep(s, keep);
  }

  /** The variable list changed (a new connection, or the list refreshed). */
  listChanged(namesChanged: boolean): void {
    for (const c of this.charts) {
      if (c.streams.some((s, i) => !s || !this.streams.streams.has(s.v.id) || s.v.name !== c.names[i])) this.bind(c);
      else if (namesChanged) this.fillAdd(c);
    }
  }

  /** The connection closed: streams are gone; charts stay, to rebind. */
  detach(): void {
    for (const c of this.charts) c.streams = c.streams.map(() => null);
  }

  /** Draw each chart whose picture changed; the streams they show go
   * into `drawn`. */
  frame(live: number, drawn: Set<Stream>): void {
    // The readouts change together, in a frame that draws charts anyway
    // (or after twice their period): one layout for all of them, and no
    // frame of their own for the compositor.
    const now = performance.now();
    const due = now - this.readoutsAt >= 1000 / READOUT_HZ;
    for (const c of this.charts) c.chart.readoutsDue = due;
    let any = false;
    for (const c of this.charts)
      if (c.chart.frame(live)) {
        any = true;
        for (const s of c.streams) if (s) drawn.add(s);
      }
    if (due && (any || now - this.readoutsAt >= 2000 / READOUT_HZ)) {
      this.readoutsAt = now;
      for (const c of this.charts) if (c.chart.readoutStale) c.chart.renderReadout();
    }
    this.painter?.flush();
  }

  /** Whether a chart shows any trace (it moves with the device clock). */
  animating(): boolean {
    for (const c of this.charts) if (c.streams.some((s) => s !== null)) return true;
    return false;
  }

  /** Whether the painter still has scenes to paint (a worker's batch). */
  painting(): boolean {
    return this.painter?.busy ?? false;
  }

  resize(): void {
    const w = this.width();
    for (const c of this.charts) c.chart.resize(w);
  }
}
