import { describe, expect, it } from 'vitest';
import { CartesianModel } from '../src/handlers/cartesian';
import { HeatmapModel } from '../src/handlers/heatmap';
import { MeterModel } from '../src/handlers/meter';
import { PcmQueue, deinterleave } from '../src/handlers/pcm';
import { PolarModel } from '../src/handlers/polar';
import { HandlerManager, canonicalType, createModel } from '../src/handlers/registry';
import { SpectrogramModel } from '../src/handlers/spectrogram';
import { AudioModel } from '../src/handlers/audio';
import { decodeHandlerFrame } from '../src/protocol';
import { encodeHandlerFrame } from './encode';

const frame = (o: Parameters<typeof encodeHandlerFrame>[0]) => decodeHandlerFrame(encodeHandlerFrame(o));
const pts = (m: CartesianModel, i: number) => ({ x: Array.from(m.series[i].x.view()), y: Array.from(m.series[i].y.view()) });

describe('line / area / bar / scatter (EasyDSP base:graph:*)', () => {
  const params = { series: [{ name: 'a', color: 'red' }, { name: 'b' }], xName: 't' };

  it('add appends element i to series i', () => {
    const m = new CartesianModel(params);
    m.data({ add: [{ x: [1, 2], y: [10, 20] }, { x: [1], y: [5] }] });
    m.data({ add: [{ x: [3], y: [30] }] }); // a shorter list is fine
    expect(pts(m, 0)).toEqual({ x: [1, 2, 3], y: [10, 20, 30] });
    expect(pts(m, 1)).toEqual({ x: [1], y: [5] });
    expect(m.series[0].color).toBe('red');
    expect(m.series[1].color).toMatch(/^#/);
    expect(m.xName).toBe('t');
  });

  it('replace clears every series first, and wins over add', () => {
    const m = new CartesianModel(params);
    m.data({ add: [{ x: [1, 2], y: [1, 2] }, { x: [1], y: [1] }] });
    m.data({ replace: [{ x: [7], y: [70], color: 'blue' }], add: [{ x: [8], y: [80] }] });
    expect(pts(m, 0)).toEqual({ x: [7], y: [70] });
    expect(pts(m, 1)).toEqual({ x: [], y: [] });
    expect(m.series[0].color).toBe('blue');
  });

  it('skips an element whose x and y lengths differ (EasyDSP\'s getting-started case)', () => {
    const m = new CartesianModel(params);
    m.data({ add: [{ x: [1, 2, 3, 4], y: [1, 2, 3, 4, 5] }, { x: [1], y: [2] }] });
    expect(pts(m, 0).x).toEqual([]);
    expect(pts(m, 1).y).toEqual([2]);
    expect(m.warnings.join()).toMatch(/same length/);
  });

  it('ignores data for series that do not exist, with a warning (EasyDSP threw)', () => {
    const m = new CartesianModel({ series: [{ name: 'a' }] });
    m.data({ add: [{ x: [1], y: [1] }, { x: [2], y: [2] }] });
    expect(pts(m, 0).x).toEqual([1]);
    expect(m.warnings.length).toBe(1);
  });

  it('xLimitNb keeps the last N distinct x values across series', () => {
    const m = new CartesianModel({ ...params, xLimitNb: 3 });
    m.data({ add: [{ x: [1, 2, 3], y: [1, 2, 3] }, { x: [2, 4], y: [2, 4] }] });
    expect(pts(m, 0)).toEqual({ x: [2, 3], y: [2, 3] });
    expect(pts(m, 1)).toEqual({ x: [2, 4], y: [2, 4] });
    m.data({ add: [{ x: [5, 6], y: [5, 6] }] });
    expect(pts(m, 0).x).toEqual([5, 6]);
    expect(pts(m, 1).x).toEqual([4]);
  });

  it('xLimitDistance keeps the points within that distance of the largest x', () => {
    const m = new CartesianModel({ series: [{ name: 'a' }], xLimitDistance: 1.5 });
    m.data({ add: [{ x: [0, 1, 2, 3], y: [0, 1, 2, 3] }] });
    expect(pts(m, 0).x).toEqual([2, 3]);
  });

  it('min and max of 0 are honoured (EasyDSP ignored falsy values)', () => {
    const m = new CartesianModel({ series: [{ name: 'a' }], min: 0, max: 0.5 });
    expect([m.min, m.max]).toEqual([0, 0.5]);
    expect(new CartesianModel({ series: [] }).min).toBeUndefined();
  });

  it('binary frames carry x, y pairs for one series; replace replaces that series', () => {
    const m = new CartesianModel(params);
    m.frame(frame({ handler: 1, arg: 1, values: [0, 1, 1, 4] }));
    m.frame(frame({ handler: 1, arg: 1, values: [2, 9] }));
    expect(pts(m, 1)).toEqual({ x: [0, 1, 2], y: [1, 4, 9] });
    m.frame(frame({ handler: 1, arg: 1, replace: true, values: [5, 5] }));
    expect(pts(m, 1)).toEqual({ x: [5], y: [5] });
    m.frame(frame({ handler: 1, arg: 9, values: [1, 1] }));
    m.frame(frame({ handler: 1, arg: 0, values: [1] }));
    expect(m.warnings.length).toBe(2);
  });

  it('aligns series on the union of x values for drawing', () => {
    const m = new CartesianModel(params);
    m.data({ add: [{ x: [1, 3], y: [10, 30] }, { x: [2, 3], y: [20, 31] }] });
    const [x, a, b] = m.aligned();
    expect(x).toEqual([1, 2, 3]);
    expect(a).toEqual([10, null, 30]);
    expect(b).toEqual([null, 20, 31]);
  });
});

describe('polar line / area (EasyDSP base:polar:*)', () => {
  const params = { series: ['front', 'back'], numPoints: 4, rmax: 2, orientation: 90, title: 'DOA' };

  it('has N + 1 angles from 0 to 360', () => {
    const m = new PolarModel(params);
    expect([0, 1, 2, 3, 4].map((k) => m.angle(k))).toEqual([0, 90, 180, 270, 360]);
    expect([m.rmax, m.orientation, m.title]).toEqual([2, 90, 'DOA']);
  });

  it('append pushes one radius per series, including 0; replace replaces all', () => {
    const m = new PolarModel(params);
    m.data([{ append: 1 }, { append: 0 }]);
    m.data([{ append: 0 }]);
    expect(m.radii).toEqual([[1, 0], [0]]);
    m.data([{ replace: [1, 2, 3, 4, 1] }, {}]);
    expect(m.radii[0]).toEqual([1, 2, 3, 4, 1]);
  });

  it('appends past N + 1 values scroll', () => {
    const m = new PolarModel(params);
    for (let k = 0; k < 7; k++) m.data([{ append: k }]);
    expect(m.radii[0]).toEqual([2, 3, 4, 5, 6]);
  });

  it('binary frames append to or replace one series', () => {
    const m = new PolarModel(params);
    m.frame(frame({ handler: 1, arg: 1, replace: true, values: [1, 1, 1, 1, 1, 9] }));
    expect(m.radii[1]).toEqual([1, 1, 1, 1, 1]);
    m.frame(frame({ handler: 1, arg: 0, values: [0.5, 0.25] }));
    expect(m.radii[0]).toEqual([0.5, 0.25]);
  });

  it('legend labels the angular axis', () => {
    expect(new PolarModel({ ...params, legend: { from: 0, to: 180, step: 45 } }).legend).toEqual({ from: 0, to: 180, step: 45 });
  });
});

describe('heat map (EasyDSP base:heatmap)', () => {
  it('each message replaces the image, rows as given (not transposed)', () => {
    const m = new HeatmapModel({ max: 4 });
    m.data([[0, 1, 2], [3, 4, 5]]);
    expect([m.rows, m.cols, m.at(0, 2), m.at(1, 0)]).toEqual([2, 3, 2, 3]);
    m.data([[9]]);
    expect([m.rows, m.cols, m.at(0, 0)]).toEqual([1, 1, 9]);
    expect([m.min, m.max]).toEqual([0.05, 4]);
  });

  it("defaults are EasyDSP's: the ramp from 0 to max 1, opacity value / max but at least min 0.05", () => {
    const m = new HeatmapModel({});
    expect([m.min, m.max, m.range]).toEqual([0.05, 1, false]);
    const rgba = (c: number) => [c & 255, (c >> 8) & 255, (c >> 16) & 255, c >>> 24];
    expect(rgba(m.color(1))).toEqual([255, 0, 0, 255]); // max: red, opaque
    expect(rgba(m.color(0))).toEqual([0, 0, 255, 13]); // 0: blue at opacity 0.05
    expect(rgba(m.color(0.5))[3]).toBe(128);
    expect(rgba(m.color(-3))).toEqual([0, 0, 255, 13]);
    expect(m.color(NaN)).toBe(0);
  });

  it('opt-in "range": min is the value at the bottom of the ramp, every cell opaque', () => {
    const m = new HeatmapModel({ range: true, min: -1, max: 1 });
    const rgba = (c: number) => [c & 255, (c >> 8) & 255, (c >> 16) & 255, c >>> 24];
    expect(rgba(m.color(-1))).toEqual([0, 0, 255, 255]);
    const mid = rgba(m.color(0)); // lime, within a step of the ramp
    expect([mid[0], mid[1], mid[3]]).toEqual([0, 255, 255]);
    expect(mid[2]).toBeLessThan(5);
    expect(rgba(m.color(1))).toEqual([255, 0, 0, 255]);
    expect(new HeatmapModel({ range: true }).min).toBe(0);
  });

  it('pads ragged rows with NaN', () => {
    const m = new HeatmapModel({});
    m.data([[1, 2], [3]]);
    expect(Number.isNaN(m.at(1, 1))).toBe(true);
  });

  it('binary frames: arg is the row length', () => {
    const m = new HeatmapModel({});
    m.frame(frame({ handler: 1, arg: 2, values: [1, 2, 3, 4, 5, 6] }));
    expect([m.rows, m.cols, m.at(2, 1)]).toEqual([3, 2, 6]);
    m.frame(frame({ handler: 1, arg: 4, values: [1, 2, 3] }));
    expect(m.warnings.length).toBe(1);
  });
});

describe('spectrogram (EasyDSP base:spectrogram)', () => {
  it('each column shifts in from the right; width columns are kept', () => {
    const m = new SpectrogramModel({ width: 3, height: 2, delta_freq: 100 });
    for (let k = 0; k < 5; k++) m.data([k, k + 0.5]);
    expect(m.filled).toBe(3);
    expect([0, 1, 2].map((i) => Array.from(m.column(i)))).toEqual([[2, 2.5], [3, 3.5], [4, 4.5]]);
    expect(m.deltaFreq).toBe(100);
  });

  it('pads a short column with NaN and cuts a long one', () => {
    const m = new SpectrogramModel({ width: 2, height: 3 });
    m.data([1]);
    m.data([1, 2, 3, 4]);
    expect(Number.isNaN(m.column(0)[1])).toBe(true);
    expect(Array.from(m.column(1))).toEqual([1, 2, 3]);
    expect(m.warnings.length).toBe(2);
  });

  it('binary frames append several columns; replace starts over', () => {
    const m = new SpectrogramModel({ width: 4, height: 2 });
    m.frame(frame({ handler: 1, values: [1, 2, 3, 4, 5, 6] }));
    expect(m.filled).toBe(3);
    m.frame(frame({ handler: 1, replace: true, values: [7, 8] }));
    expect(m.filled).toBe(1);
    expect(Array.from(m.column(0))).toEqual([7, 8]);
    m.frame(frame({ handler: 1, values: [1, 2, 3] }));
    expect(m.warnings.length).toBe(1);
  });

  it("colour range as EasyDSP's page: the data's without min/max (Plotly's automatic zmin/zmax), a given min or max wins", () => {
    const d = new SpectrogramModel({ width: 2, height: 2 });
    d.data([[-3, 1], [2, 5]]);
    expect(d.range()).toEqual([-3, 5]);
    expect(d.updateRate).toBe(20);
    expect(new SpectrogramModel({ min: -90, max: 0 }).range()).toEqual([-90, 0]);
    const half = new SpectrogramModel({ width: 2, height: 2, max: 10 });
    half.data([[-3, 1]]);
    expect(half.range()).toEqual([-3, 10]);
    expect(new SpectrogramModel({ update_rate: 0 }).updateRate).toBe(0);
  });

  it('any number per page: models are independent', () => {
    const a = new SpectrogramModel({ width: 2, height: 1 });
    const b = new SpectrogramModel({ width: 2, height: 1 });
    a.data([1]);
    expect([a.filled, b.filled]).toEqual([1, 0]);
  });
});

describe('level meter', () => {
  it('each message sets the levels; peaks hold, then fall', () => {
    const m = new MeterModel({ channels: ['L', 'R'], min: -60, max: 0, peakHold: 1000 });
    m.data([-10, -20], 0);
    m.data({ levels: [-30, -5] }, 500);
    expect(Array.from(m.levels)).toEqual([-30, -5]);
    expect(Array.from(m.peaks)).toEqual([-10, -5]);
    m.data([-40, -40], 1600);
    expect(Array.from(m.peaks)).toEqual([-40, -40]);
    expect(m.fraction(-30)).toBe(0.5);
    expect(m.fraction(10)).toBe(1);
  });

  it('channels may be a count; binary frames carry one level per channel', () => {
    const m = new MeterModel({ channels: 3 });
    expect(m.names).toEqual(['1', '2', '3']);
    m.frame(frame({ handler: 1, values: [-1, -2, -3] }), 0);
    expect(Array.from(m.levels)).toEqual([-1, -2, -3]);
  });
});

describe('audio player', () => {
  it('deinterleaves int16 frames and hands them to the player', () => {
    const m = new AudioModel({ rate: 8000, channels: 2 }, 44100);
    const got: Float32Array[][] = [];
    m.sink = (p) => got.push(p);
    m.frame(frame({ handler: 1, type: 'h', arg: 2, values: [16384, -16384, 8192, 0] }));
    expect(m.framesReceived).toBe(2);
    expect(got[0].map((p) => Array.from(p))).toEqual([[0.5, 0.25], [-0.5, 0]]);
    m.frame(frame({ handler: 1, arg: 3, values: [0, 0, 0] }));
    m.data({ add: [0.1, 0.2, 0.3] });
    expect(m.warnings.length).toBe(2);
    expect(m.rate).toBe(8000);
    expect(new AudioModel({}, 44100).rate).toBe(44100);
  });

  it('the queue resamples linearly to the output rate', () => {
    const q = new PcmQueue(1, 1000, 2000, 1, 0.001); // 2 output frames per input frame
    q.push([Float32Array.from([0, 1, 2, 3, 4])]);
    const out = [new Float32Array(6)];
    q.pull(out);
    expect(Array.from(out[0])).toEqual([0, 0.5, 1, 1.5, 2, 2.5]);
  });

  it('an underrun plays zeros (not stale samples) and waits for the prebuffer', () => {
    const q = new PcmQueue(1, 1000, 1000, 1, 0.003);
    q.push([Float32Array.from([0.5, 0.5, 0.5])]);
    const out = [new Float32Array(5).fill(9)];
    q.pull(out);
    expect(Array.from(out[0])).toEqual([0.5, 0.5, 0, 0, 0]);
    expect(q.underruns).toBe(1);
    q.push([Float32Array.from([0.25])]); // 2 frames wait (one was never played) < prebuffer of 3: silent
    const out2 = [new Float32Array(2).fill(9)];
    q.pull(out2);
    expect(Array.from(out2[0])).toEqual([0, 0]);
  });

  it('the queue is bounded: the oldest frames go, delay does not build up', () => {
    const q = new PcmQueue(1, 1000, 1000, 0.256, 0.001); // 256 frames
    for (let k = 0; k < 10; k++) q.push([new Float32Array(100).fill(k)]);
    expect(q.queued).toBeLessThanOrEqual(256);
    expect(q.overflows).toBeGreaterThan(0);
    const out = [new Float32Array(1)];
    q.pull(out);
    expect(out[0][0]).toBeGreaterThanOrEqual(7); // recent data, not the first pushes
  });

  it('deinterleave splits frames into channels', () => {
    expect(deinterleave([1, 2, 3, 4, 5, 6], 3).map((p) => Array.from(p))).toEqual([[1, 4], [2, 5], [3, 6]]);
  });
});

describe('handler registry and tabs', () => {
  it('knows rill\'s names and EasyDSP\'s', () => {
    expect(canonicalType('base:graph:plot')).toBe('scatter');
    expect(canonicalType('base:spectrogram')).toBe('spectrogram');
    expect(canonicalType('meter')).toBe('meter');
    expect(canonicalType('base:nope')).toBeNull();
    for (const t of ['line', 'area', 'bar', 'scatter', 'polar-line', 'polar-area', 'heatmap', 'spectrogram', 'audio', 'meter'] as const)
      expect(createModel(t, {})).toBeTruthy();
  });

  it('creates a tab per handler, feeds it, replaces and removes it', () => {
    const tabs = document.createElement('nav');
    const panels = document.createElement('main');
    const hm = new HandlerManager(tabs, panels, false);
    hm.create({ id: 1, name: 'Spectrum', type: 'base:spectrogram', params: { width: 2, height: 2 } });
    hm.create({ id: 2, name: 'Odd', type: 'sparkles', params: {} });
    expect(tabs.querySelectorAll('.handler-tab').length).toBe(2);
    expect(panels.querySelector('[data-handler="2"] .handler-status')!.textContent).toMatch(/unknown handler type "sparkles"/);
    expect(hm.data(1, [1, 2])).toBe(true);
    expect(hm.frame(decodeHandlerFrame(encodeHandlerFrame({ handler: 1, values: [3, 4], tick: 77 })))).toBe(true);
    expect(hm.data(9, [1])).toBe(false);
    expect((hm.snapshot(1) as any).messages).toBe(2);
    expect(hm.handlers.get(1)!.lastTick).toBe(77);
    // The same id again replaces the handler (a restarted program).
    hm.create({ id: 1, name: 'Level', type: 'meter', params: {} });
    expect(tabs.querySelectorAll('.handler-tab').length).toBe(2);
    expect(tabs.querySelector('[data-handler="1"]')!.textContent).toBe('Level');
    hm.remove(1);
    hm.remove(2);
    expect(tabs.children.length + panels.children.length).toBe(0);
  });
});
