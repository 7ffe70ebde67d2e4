// Where the charts' plot canvases are painted: on the main thread
// (LocalPainter), or in a worker holding them as OffscreenCanvases
// (WorkerPainter, paint.worker.ts), which takes the rasterising of lines
// and the hand-off of every frame to the compositor off the page's main
// thread. Both paint the same scenes with the same code (scene.ts).

import { Scene, backing, paintScene } from './scene';

export interface Pixels {
  width: number;
  height: number;
  /** RGBA, row by row. */
  data: Uint8ClampedArray;
}

export interface Painter {
  /** Take a chart's plot canvas (before anything was drawn on it). */
  add(id: number, canvas: HTMLCanvasElement): void;
  paint(id: number, scene: Scene): void;
  remove(id: number): void;
  /** The canvas's pixels (tests read what is drawn). */
  pixels(id: number): Promise<Pixels | null>;
  readonly kind: 'main' | 'worker';
}

export class LocalPainter implements Painter {
  readonly kind = 'main' as const;
  private canvases = new Map<number, HTMLCanvasElement>();

  add(id: number, canvas: HTMLCanvasElement): void {
    this.canvases.set(id, canvas);
  }

  paint(id: number, scene: Scene): void {
    const c = this.canvases.get(id);
    if (!c) return;
    backing(c, scene);
    const g = c.getContext('2d', { alpha: false });
    if (g) paintScene(g, scene);
  }

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
 * One scene per chart in flight: a chart's next scene waits until the
 * worker has painted the one before (it says so), and a newer one replaces
 * it while it waits. A worker that falls behind (a loaded machine) then
 * skips pictures instead of painting a growing queue of old ones.
 */
export class WorkerPainter implements Painter {
  readonly kind = 'worker' as const;
  private replies = new Map<number, (p: Pixels | null) => void>();
  private next = 1;
  private inflight = new Set<number>();
  private waiting = new Map<number, Scene>();
  /** Scenes replaced before they were sent (tests, benchmarks). */
  skipped = 0;

  constructor(private worker: Worker) {
    worker.onmessage = (e: MessageEvent) => {
      const m = e.data;
      if (m.painted !== undefined) {
        this.inflight.delete(m.painted);
        const s = this.waiting.get(m.painted);
        if (s) {
          this.waiting.delete(m.painted);
          this.send(m.painted, s);
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

  /** Whether canvases can be handed to a worker here. */
  static available(): boolean {
    return typeof Worker !== 'undefined' && typeof OffscreenCanvas !== 'undefined' && 'transferControlToOffscreen' in HTMLCanvasElement.prototype;
  }

  add(id: number, canvas: HTMLCanvasElement): void {
    const off = canvas.transferControlToOffscreen();
    this.worker.postMessage({ add: id, canvas: off }, [off]);
  }

  paint(id: number, scene: Scene): void {
    if (this.inflight.has(id)) {
      if (this.waiting.has(id)) this.skipped++;
      this.waiting.set(id, scene);
      return;
    }
    this.send(id, scene);
  }

  private send(id: number, scene: Scene): void {
    this.inflight.add(id);
    this.worker.postMessage(
      { paint: id, scene },
      scene.traces.map((t) => t.pts.buffer as ArrayBuffer),
    );
  }

  remove(id: number): void {
    this.inflight.delete(id);
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
