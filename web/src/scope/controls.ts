// A chart's controls, as on an oscilloscope's front panel: the view (time,
// spectrum, X-Y), time per division, amplitude, trigger (mode, slope,
// level, source, position), run/stop, the spectrum's size, window and
// scales, and clearing the cursors. Each is a plain form element with a
// class of its own; changing one calls chart.set().

import type { ScopeChart } from './chart';
import { FFT_SIZES, WINDOWS } from './fft';
import { TIME_DIVS, si } from './ticks';

const Y_RANGES: [string, string][] = [
  ['auto', 'auto'],
  ['±0.01', '-0.01,0.01'],
  ['±0.1', '-0.1,0.1'],
  ['±0.5', '-0.5,0.5'],
  ['±1', '-1,1'],
  ['±2', '-2,2'],
  ['±10', '-10,10'],
  ['±100', '-100,100'],
  ['±1000', '-1000,1000'],
  ['0 … 1', '0,1'],
  ['-120 … 0 dB', '-120,0'],
  ['-60 … 0 dB', '-60,0'],
  ['custom', 'custom'],
];

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function select(cls: string, title: string, options: [string, string][]): HTMLSelectElement {
  const s = el('select', cls);
  s.title = title;
  for (const [label, value] of options) {
    const o = document.createElement('option');
    o.value = value;
    o.textContent = label;
    s.appendChild(o);
  }
  return s;
}

function group(label: string, ...items: HTMLElement[]): HTMLElement {
  const g = el('span', 'scope-group');
  if (label) g.appendChild(el('span', 'scope-label', label));
  g.append(...items);
  return g;
}

function numberInput(cls: string, title: string, step = 'any'): HTMLInputElement {
  const i = el('input', cls);
  i.type = 'number';
  i.step = step;
  i.title = title;
  return i;
}

/** Build the controls of a chart; returns their root and a function that
 * shows the chart's current settings in them. */
export function buildControls(chart: ScopeChart): { root: HTMLElement; sync: () => void } {
  const root = el('div', 'scope-controls');
  const mode = select('scope-mode', 'view: the values over time, their spectrum, or trace 2 against trace 1', [
    ['time', 'time'],
    ['spectrum (FFT)', 'fft'],
    ['X-Y', 'xy'],
  ]);
  const tdiv = select(
    'scope-timediv',
    'time base: time per division (the window is 10 divisions)',
    TIME_DIVS.map((v) => [`${si(v, 's')}/div`, String(v)]),
  );
  const yr = select('scope-y', 'amplitude: automatic, or a fixed range', Y_RANGES);
  const ymin = numberInput('scope-ymin', 'bottom of the amplitude range');
  const ymax = numberInput('scope-ymax', 'top of the amplitude range');
  const tmode = select('scope-trig-mode', 'trigger: off (roll), auto (free-runs without a trigger), normal (only triggered sweeps), single (one sweep, then stop)', [
    ['off (roll)', 'off'],
    ['auto', 'auto'],
    ['normal', 'normal'],
    ['single', 'single'],
  ]);
  const slope = select('scope-trig-slope', 'trigger on a rising or a falling edge', [
    ['rising ↑', 'rising'],
    ['falling ↓', 'falling'],
  ]);
  const level = numberInput('scope-trig-level', 'trigger level');
  const source = select('scope-trig-source', 'the trace that triggers', []);
  const pos = select(
    'scope-trig-pos',
    'where the trigger sits in the window',
    [10, 25, 50, 75, 90].map((p) => [`${p}%`, String(p / 100)]),
  );
  const run = el('button', 'scope-run', 'Stop');
  run.title = 'stop (freeze the picture: then zoom with the wheel, pan by dragging) or run again';
  const fsize = select(
    'scope-fft-size',
    'FFT size (values per spectrum)',
    FFT_SIZES.map((n) => [String(n), String(n)]),
  );
  const fwin = select(
    'scope-fft-window',
    'window applied before the FFT',
    WINDOWS.map((w) => [w, w]),
  );
  const flog = el('input', 'scope-fft-log');
  flog.type = 'checkbox';
  flog.title = 'logarithmic frequency axis';
  const fdb = el('input', 'scope-fft-db');
  fdb.type = 'checkbox';
  fdb.title = 'amplitude in dB (0 dB: amplitude 1)';
  const clear = el('button', 'scope-cursors-clear', 'Clear cursors');
  clear.title = 'cursors: click the plot for A, shift-click for B';

  const timeGroup = group('', tdiv);
  const yGroup = group('Y', yr, ymin, ymax);
  const trigGroup = group('trigger', tmode, slope, level, source, pos);
  const fftGroup = group('FFT', fsize, fwin, group('log f', flog), group('dB', fdb));
  root.append(mode, timeGroup, yGroup, trigGroup, fftGroup, run, clear);

  const sync = () => {
    const s = chart.settings;
    mode.value = s.mode;
    tdiv.value = String(s.timeDiv);
    const key = `${s.y.min},${s.y.max}`;
    const preset = Y_RANGES.find(([, v]) => v === key);
    yr.value = s.y.auto ? 'auto' : preset ? key : 'custom';
    ymin.hidden = ymax.hidden = s.y.auto || !!preset;
    if (document.activeElement !== ymin) ymin.value = String(s.y.min);
    if (document.activeElement !== ymax) ymax.value = String(s.y.max);
    tmode.value = s.trigger.mode;
    slope.value = s.trigger.slope;
    if (document.activeElement !== level) level.value = String(s.trigger.level);
    source.textContent = '';
    chart.traces.forEach((t, i) => {
      const o = document.createElement('option');
      o.value = String(i);
      o.textContent = t.stream.v.name;
      source.appendChild(o);
    });
    source.value = String(s.trigger.source);
    pos.value = String(s.trigger.position);
    for (const e of [slope, level, source, pos]) e.disabled = s.trigger.mode === 'off';
    fsize.value = String(s.fft.size);
    fwin.value = s.fft.window;
    flog.checked = s.fft.logFreq;
    fdb.checked = s.fft.db;
    timeGroup.hidden = s.mode === 'fft';
    trigGroup.hidden = s.mode === 'fft';
    fftGroup.hidden = s.mode !== 'fft';
    run.textContent = chart.paused ? 'Run' : 'Stop';
    run.classList.toggle('stopped', chart.paused);
  };

  mode.onchange = () => chart.set({ mode: mode.value as 'time' | 'fft' | 'xy' });
  tdiv.onchange = () => chart.set({ timeDiv: Number(tdiv.value) });
  yr.onchange = () => {
    if (yr.value === 'auto') chart.set({ y: { auto: true } });
    else if (yr.value === 'custom') {
      chart.set({ y: { auto: false, min: chart.settings.y.min, max: chart.settings.y.max } });
      ymin.hidden = ymax.hidden = false;
    } else {
      const [lo, hi] = yr.value.split(',').map(Number);
      chart.set({ y: { auto: false, min: lo, max: hi } });
    }
  };
  const setRange = () => {
    const lo = Number(ymin.value),
      hi = Number(ymax.value);
    if (Number.isFinite(lo) && Number.isFinite(hi) && hi > lo) chart.set({ y: { auto: false, min: lo, max: hi } });
  };
  ymin.onchange = ymax.onchange = setRange;
  tmode.onchange = () => chart.set({ trigger: { mode: tmode.value as 'off' | 'auto' | 'normal' | 'single' } });
  slope.onchange = () => chart.set({ trigger: { slope: slope.value as 'rising' | 'falling' } });
  level.onchange = () => {
    const v = Number(level.value);
    if (level.value.trim() !== '' && Number.isFinite(v)) chart.set({ trigger: { level: v } });
  };
  source.onchange = () => chart.set({ trigger: { source: Number(source.value) } });
  pos.onchange = () => chart.set({ trigger: { position: Number(pos.value) } });
  run.onclick = () => {
    if (chart.paused) chart.resume();
    else if (chart.settings.trigger.mode === 'single') chart.arm();
    else chart.pause();
    sync();
  };
  fsize.onchange = () => chart.set({ fft: { size: Number(fsize.value) } });
  fwin.onchange = () => chart.set({ fft: { window: fwin.value as (typeof WINDOWS)[number] } });
  flog.onchange = () => chart.set({ fft: { logFreq: flog.checked } });
  fdb.onchange = () => chart.set({ fft: { db: fdb.checked } });
  clear.onclick = () => chart.clearCursors();
  sync();
  return { root, sync };
}
