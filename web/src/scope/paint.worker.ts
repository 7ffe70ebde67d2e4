// The charts' plot canvases, painted off the page's main thread: each is an
// OffscreenCanvas handed over by WorkerPainter (painter.ts); a scene is
// painted as it arrives, and the canvas's frame goes to the compositor from
// here when the message's task ends.
//
// Page -> worker: {add: id, canvas} | {paint: id, scene} | {remove: id} |
//                 {pixels: id, reply}
// Worker -> page: {painted: id} after each scene | {reply, pixels: {width,
//                 height, data} | null}

import { backing, paintScene } from './scene';

const canvases = new Map<number, OffscreenCanvas>();

self.onmessage = (e: MessageEvent) => {
  const m = e.data;
  if (m.add !== undefined) canvases.set(m.add, m.canvas);
  else if (m.paint !== undefined) {
    const c = canvases.get(m.paint);
    if (c) {
      backing(c, m.scene);
      const g = c.getContext('2d', { alpha: false });
      if (g) paintScene(g, m.scene);
    }
    (self as unknown as Worker).postMessage({ painted: m.paint });
  } else if (m.remove !== undefined) canvases.delete(m.remove);
  else if (m.pixels !== undefined) {
    const c = canvases.get(m.pixels);
    const g = c?.getContext('2d', { alpha: false });
    const pixels = c && g ? { width: c.width, height: c.height, data: g.getImageData(0, 0, c.width, c.height).data } : null;
    (self as unknown as Worker).postMessage({ reply: m.reply, pixels }, pixels ? [pixels.data.buffer] : []);
  }
};
