// A streamed variable's live scrolling chart: the last `seconds` of its
// Series, decimated into preallocated typed arrays (a Decimator: each frame
// folds in only the values that arrived) and handed to uPlot once per
// animation frame when something changed.
//
// A dense variable's line is uPlot's linear path, stroked by drawLine below
// on the canvas's own path instead of a new Path2D per frame (building a
// Path2D of a few thousand points costs the page several times as much):
// the same points, rounding, clip and style as uPlot's drawPath, so the same
// pixels.

import uPlot from 'uplot';
import { Decimator, Series } from './series';

const MAX_POINTS = 4096;

/** uPlot's own path builder, for what drawLine does not do the same way. */
const linear = uPlot.paths.linear!();

/** uPlot's roundDec(v, 3): a stroke width in device pixels. */
function roundDec3(v: number): number {
  if (Number.isInteger(v)) return v;
  return Math.round(v * 1000 * (1 + Number.EPSILON)) / 1000;
}

/** uPlot's fields of a scale and a series that its path builders read. */
interface ScaleState {
  _min: number;
  _max: number;
  dir: number;
  ori: number;
  distr: number;
}
interface SeriesState {
  _stroke: string | null;
  width: number;
  pxAlign: number;
  dash?: number[];
  cap?: CanvasLineCap;
  scale: string;
}

export class LiveChart {
  readonly plot: uPlot;
  private x = new Float64Array(MAX_POINTS);
  private y = new Float64Array(MAX_POINTS);
  private n = 0;
  private decimator: Decimator;
  /** The data indices drawLine strokes in this redraw (-1: none). */
  private line0 = -1;
  private line1 = -1;
  private drawnVersion = -1;
  private drawnT1 = -1;
  /** Times the plotted data was replaced (tests). */
  updates = 0;

  constructor(
    readonly el: HTMLElement,
    readonly name: string,
    readonly series: Series,
    readonly sparse: boolean,
    public seconds: number,
    width: number,
  ) {
    this.decimator = new Decimator(series, MAX_POINTS / 2);
    this.plot = new uPlot(
      {
        width,
        height: 170,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: false } },
        axes: [{ label: `${name}: seconds (device clock)`, labelSize: 20, size: 30 }, { size: 60 }],
        series: [
          {},
          {
            stroke: '#1f77b4',
            width: sparse ? 0 : 1,
            paths: sparse ? () => null : (u, si, i0, i1) => this.buildLine(u, si, i0, i1),
            points: { show: sparse, size: 3, fill: '#1f77b4' },
          },
        ],
        hooks: sparse ? {} : { drawSeries: [(u, si) => this.drawLine(u, si)] },
      },
      [new Float64Array(0), new Float64Array(0)] as unknown as uPlot.AlignedData,
      el,
    );
  }

  /** Redraw for the window ending at tick t1, if anything changed. */
  draw(t1: number, rate: number): void {
    if (!(rate > 0) || !Number.isFinite(t1)) return;
    const t1r = Math.floor(t1);
    if (this.series.version === this.drawnVersion && t1r === this.drawnT1) return;
    this.drawnVersion = this.series.version;
    this.drawnT1 = t1r;
    const t0 = t1r - this.seconds * rate;
    const buckets = Math.max(100, Math.floor(this.plot.width));
    this.n = this.decimator.decimate(t0, t1r, buckets, rate, this.x, this.y);
    this.plot.batch(() => {
      this.plot.setData([this.x.subarray(0, this.n), this.y.subarray(0, this.n)] as unknown as uPlot.AlignedData, false);
      this.plot.setScale('x', { min: t0 / rate, max: t1r / rate });
    });
    this.updates++;
  }

  /** uPlot asks for the line's path: none when drawLine will stroke it
   * (a horizontal, linear, ascending x scale and a vertical y scale, whole
   * pixels, and too few points for uPlot to decimate them itself); else
   * uPlot's own. */
  private buildLine(u: uPlot, si: number, i0: number, i1: number): uPlot.Series.Paths | null {
    const s = u.series[si] as unknown as SeriesState;
    const sx = u.scales.x as unknown as ScaleState;
    const sy = u.scales[s.scale] as unknown as ScaleState;
    this.line0 = this.line1 = -1;
    if (sx.ori !== 0 || sx.dir !== 1 || sx.distr !== 1 || sy.dir !== 1 || sy.distr !== 1 || s.pxAlign !== 1 || i1 - i0 >= u.bbox.width * 4)
      return linear(u, si, i0, i1);
    this.line0 = i0;
    this.line1 = i1;
    return null;
  }

  /** uPlot's drawPath for the line of points i0..i1 (linear(), no gaps: the
   * values are never null), with the canvas's own path. */
  private drawLine(u: uPlot, si: number): void {
    const i0 = this.line0,
      i1 = this.line1;
    this.line0 = this.line1 = -1;
    if (i0 < 0) return;
    const s = u.series[si] as unknown as SeriesState;
    const width = roundDec3(s.width * uPlot.pxRatio);
    if (!(width > 0) || !s._stroke) return;
    const ctx = u.ctx;
    const { left, top, width: w, height: h } = u.bbox;
    const sx = u.scales.x as unknown as ScaleState;
    const sy = u.scales[s.scale] as unknown as ScaleState;
    const xs = u.data[0] as unknown as ArrayLike<number>;
    const ys = u.data[si] as unknown as ArrayLike<number>;
    const offset = (width % 2) / 2;
    ctx.save();
    if (offset > 0) ctx.translate(offset, offset);
    ctx.strokeStyle = s._stroke;
    ctx.lineWidth = width;
    ctx.lineJoin = 'round';
    ctx.lineCap = s.cap ?? 'butt';
    ctx.setLineDash(s.dash ?? []);
    ctx.beginPath();
    ctx.rect(left - width / 2, top - width / 2, w + width, h + width);
    ctx.clip();
    ctx.beginPath();
    // uPlot's valToPosH / valToPosV (off + dim * pct), rounded (pxAlign 1).
    const xMin = sx._min,
      xD = sx._max - sx._min,
      yMin = sy._min,
      yD = sy._max - sy._min;
    for (let i = i0; i <= i1; i++) ctx.lineTo(Math.round(left + w * ((xs[i] - xMin) / xD)), Math.round(top + h * (1 - (ys[i] - yMin) / yD)));
    ctx.stroke();
    ctx.restore();
  }

  resize(width: number): void {
    this.plot.setSize({ width, height: 170 });
    this.drawnVersion = -1;
  }

  /** What is plotted now (tests compare two of these). */
  snapshot(): { x: number[]; y: number[]; xMin: number; xMax: number; updates: number } {
    return {
      x: Array.from(this.x.subarray(0, this.n)),
      y: Array.from(this.y.subarray(0, this.n)),
      xMin: this.plot.scales.x.min ?? NaN,
      xMax: this.plot.scales.x.max ?? NaN,
      updates: this.updates,
    };
  }

  destroy(): void {
    this.plot.destroy();
    this.el.remove();
  }
}
