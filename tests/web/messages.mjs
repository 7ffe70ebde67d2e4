// Handler messages as a program would send them through the server
// (docs/HANDLERS.md, "Dashboard messages"): JSON text, and binary frames
// built byte by byte here.

const SIZE = { f: 4, d: 8, h: 2, i: 4 };

/** A binary handler data frame: 32-byte header, then little-endian values. */
export function handlerFrame({ handler, type = 'f', replace = false, seq = 0, tick = 0, arg = 0, values }) {
  const buf = Buffer.alloc(32 + values.length * SIZE[type]);
  buf.writeUInt8(1, 0); // version
  buf.writeUInt8(16, 1); // kind: handler data
  buf.write(type, 2, 'latin1');
  buf.writeUInt8(replace ? 1 : 0, 3);
  buf.writeUInt32LE(handler, 4);
  buf.writeBigUInt64LE(BigInt(seq), 8);
  buf.writeBigUInt64LE(BigInt(tick), 16);
  buf.writeUInt32LE(values.length, 24);
  buf.writeUInt32LE(arg, 28);
  values.forEach((v, k) => {
    const p = 32 + k * SIZE[type];
    if (type === 'f') buf.writeFloatLE(v, p);
    else if (type === 'd') buf.writeDoubleLE(v, p);
    else if (type === 'h') buf.writeInt16LE(v, p);
    else buf.writeInt32LE(v, p);
  });
  return { binary: buf.toString('base64') };
}

export const create = (id, name, type, parameters) => ({ text: JSON.stringify({ event: 'handler', id, name, type, parameters }) });
export const data = (id, d, tick) => ({ text: JSON.stringify({ event: 'handler-data', id, data: d, ...(tick ? { tick } : {}) }) });
export const remove = (id) => ({ text: JSON.stringify({ event: 'handler-remove', id }) });

/** Feed recorded messages to a page, as if its server sent them. */
export async function feed(page, messages) {
  await page.evaluate((ms) => {
    for (const m of ms) {
      if (m.text !== undefined) window.__rill.feed(m.text);
      else window.__rill.feedBase64(m.binary);
    }
  }, messages);
}
