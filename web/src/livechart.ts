// A streamed variable's live scrolling chart: the last `seconds` of its
// Series, decimated into preallocated typed arrays (a Decimator: each frame
// folds in only the values that arrived) and handed to uPlot once per
// animation frame when something changed.

import uPlot from 'uplot';
import { Decimator, Series } from './series';

const MAX_POINTS = 4096;

export class LiveChart {
  readonly plot: uPlot;
  private x = new Float64Array(MAX_POINTS);
  private y = new Float64Array(MAX_POINTS);
  private n = 0;
  private decimator: Decimator;
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
            paths: sparse ? () => null : undefined,
            points: { show: sparse, size: 3, fill: '#1f77b4' },
          },
        ],
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
