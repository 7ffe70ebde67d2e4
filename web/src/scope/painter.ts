// Where the charts' plot canvases are painted: on the main thread
// (LocalPainter), or in a worker holding them as OffscreenCanvases
// (WorkerPainter, paint.worker.ts), which takes the rasterising of lines
// and the hand-off of every frame to the compositor off the page's main
// thread. Both paint the same scenes with the same code (scene.ts).

import { AxesScene, paintAxes } from './render';
import { Scene, backing, paintScene } from './scene';

/** A chart's canvas: its axes (null: unchanged, left as they are on the
 * canvas), and its plot area's scene at (left, top) of it. */
export interface ChartPicture {
  kind: 'chart';
  axes: AxesScene | null;
  plot: Scene;
  left: number;
  top: number;
}

/** What a painter paints on a canvas: a plot area's scene, axes, or both. */
export type Picture = Scene | AxesScene | ChartPicture;

/** Paint a picture on its canvas (sized for it first). */
export function paintPicture(c: HTMLCanvasElement | OffscreenCanvas, p: Picture): void {
  if (!('kind' in p && p.kind === 'chart')) backing(c, p);
  else if (p.axes) backing(c, p.axes);
  const g = c.getContext('2d', { alpha: false }) as CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D | null;
  if (!g) return;
  if ('kind' in p && p.kind === 'axes') paintAxes(g, p);
  else if ('kind' in p && p.kind === 'chart') {
    if (p.axes) paintAxes(g, p.axes);
    paintScene(g, p.plot, p.left, p.top);
  } else paintScene(g, p as Scene);
}

/** A newer picture for a canvas replaces an older one not yet painted,
 * keeping the older one's axes if it changed them and the newer did not. */
export function newer(old: Picture | undefined, p: Picture): Picture {
  if (old && 'kind' in old && old.kind === 'chart' && old.axes && 'kind' in p && p.kind === 'chart' && !p.axes) return { ...p, axes: old.axes };
  return p;
}

export interface Pixels {
  width: number;
  height: number;
  /** RGBA, row by row. */
  data: Uint8ClampedArray;
}

export interface Painter {
  /** Take a canvas (before anything was drawn on it). */
  add(id: number, canvas: HTMLCanvasElement): void;
  paint(id: number, picture: Picture): void;
  /** The scenes given since the last flush go out together (a worker
   * paints them in one task, so their canvases reach the compositor in the
   * same frame). */
  flush(): void;
  remove(id: number): void;
  /** The canvas's pixels (tests read what is drawn). */
  pixels(id: number): Promise<Pixels | null>;
  /** Scenes given are not all painted yet. */
  readonly busy: boolean;
  readonly kind: 'main' | 'worker';
}

export class LocalPainter implements Painter {
  readonly kind = 'main' as const;
  readonly busy = false;
  private canvases = new Map<number, HTMLCanvasElement>();

  add(id: number, canvas: HTMLCanvasElement): void {
    this.canvases.set(id, canvas);
  }

  paint(id: number, picture: Picture): void {
    const c = this.canvases.get(id);
    if (c) paintPicture(c, picture);
  }

  flush(): void {}

  remove(id: number): void {
    this.canvases.delete(id);
  }

  async pixels(id: number): Promise<Pixels | null> {
    const c = this.canvases.get(id);
    const g = c?.getContext('2d', { alpha: false });
    if (!c || !g) return null;
    return { width: c.width, height: c.height, data: g.getImageData(0, 0, c.width, c.height).data };
  }
}

/**
 * The scenes of one animation frame go to the worker in one message, so it
 * paints them in one task and their canvases reach the compositor in one
 * frame: a software compositor redraws the box around everything that
 * changed in a frame, and charts that change together lie together. One
 * batch is in flight: the next waits until the worker has painted the one
 * before (it says so), and while it waits a chart's newer scene replaces
 * its older one. A worker that falls behind (a loaded machine) then skips
 * pictures instead of painting a growing queue of old ones.
 */
export class WorkerPainter implements Painter {
  readonly kind = 'worker' as const;
  private replies = new Map<number, (p: Pixels | null) => void>();
  private next = 1;
  private inflight = false;
  /** Scenes given since the last flush, and those waiting for the worker. */
  private pending = new Map<number, Picture>();
  private waiting = new Map<number, Picture>();
  /** Scenes replaced before they were sent (tests, benchmarks). */
  skipped = 0;
  /** Batches sent to the worker. */
  batches = 0;

  constructor(private worker: Worker) {
    worker.onmessage = (e: MessageEvent) => {
      const m = e.data;
      if (m.painted !== undefined) {
        this.inflight = false;
        if (this.waiting.size) {
          const w = this.waiting;
          this.waiting = new Map();
          this.send(w);
        }
        return;
      }
      const r = this.replies.get(m.reply);
      if (r) {
        this.replies.delete(m.reply);
        r(m.pixels ?? null);
      }
    };
  }

  get busy(): boolean {
    return this.inflight || this.pending.size > 0;
  }

  /** Whether canvases can be handed to a worker here. */
  static available(): boolean {
    return typeof Worker !== 'undefined' && typeof OffscreenCanvas !== 'undefined' && 'transferControlToOffscreen' in HTMLCanvasElement.prototype;
  }

  add(id: number, canvas: HTMLCanvasElement): void {
    const off = canvas.transferControlToOffscreen();
    this.worker.postMessage({ add: id, canvas: off }, [off]);
  }

  paint(id: number, picture: Picture): void {
    this.pending.set(id, newer(this.pending.get(id), picture));
  }

  flush(): void {
    if (!this.pending.size) return;
    const batch = this.pending;
    this.pending = new Map();
    if (!this.inflight) return this.send(batch);
    for (const [id, scene] of batch) {
      if (this.waiting.has(id)) this.skipped++;
      this.waiting.set(id, newer(this.waiting.get(id), scene));
    }
  }

  private send(batch: Map<number, Picture>): void {
    this.inflight = true;
    this.batches++;
    const scenes = [...batch];
    const transfer: ArrayBuffer[] = [];
    for (const [, p] of scenes) {
      const s = 'kind' in p && p.kind === 'chart' ? p.plot : p;
      if ('traces' in s) for (const t of s.traces) transfer.push(t.pts.buffer as ArrayBuffer);
    }
    this.worker.postMessage({ paint: scenes }, transfer);
  }

  remove(id: number): void {
    this.pending.delete(id);
    this.waiting.delete(id);
    this.worker.postMessage({ remove: id });
  }

  pixels(id: number): Promise<Pixels | null> {
    const reply = this.next++;
    return new Promise((resolve) => {
      this.replies.set(reply, resolve);
      this.worker.postMessage({ pixels: id, reply });
    });
  }
}
