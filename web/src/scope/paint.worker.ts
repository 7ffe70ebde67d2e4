// The charts' canvases (plot areas and axes), painted off the page's main
// thread: each is an OffscreenCanvas handed over by WorkerPainter
// (painter.ts); a frame's pictures arrive together and are painted in one
// task, at whose end every canvas painted goes to the compositor. (A
// canvas of the page's own is also copied again by the page at each of its
// commits when there is no GPU; these are not.)
//
// Page -> worker: {add: id, canvas} | {paint: [[id, picture], ...]} |
//                 {remove: id} | {pixels: id, reply}
// Worker -> page: {painted: true} after each batch | {reply, pixels: {width,
//                 height, data} | null}

import { Picture, paintPicture } from './painter';

const canvases = new Map<number, OffscreenCanvas>();

self.onmessage = (e: MessageEvent) => {
  const m = e.data;
  if (m.add !== undefined) canvases.set(m.add, m.canvas);
  else if (m.paint !== undefined) {
    for (const [id, picture] of m.paint as [number, Picture][]) {
      const c = canvases.get(id);
      if (c) paintPicture(c, picture);
    }
    (self as unknown as Worker).postMessage({ painted: true });
  } else if (m.remove !== undefined) canvases.delete(m.remove);
  else if (m.pixels !== undefined) {
    const c = canvases.get(m.pixels);
    const g = c?.getContext('2d', { alpha: false });
    const pixels = c && g ? { width: c.width, height: c.height, data: g.getImageData(0, 0, c.width, c.height).data } : null;
    (self as unknown as Worker).postMessage({ reply: m.reply, pixels }, pixels ? [pixels.data.buffer] : []);
  }
};
