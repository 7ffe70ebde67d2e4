// The page's WebSocket, in a worker: messages are received and decoded
// here (JSON parsed, binary headers checked, values viewed in place) and
// handed to the page in batches, one per burst of arrivals, with the
// buffers transferred (not copied). The page's main thread then spends one
// event on eight channels' buffers instead of eight, and no time parsing.
//
// Page -> worker: {open: url} | {send: text} | {close: true}
// Worker -> page: {t: 'open'} | {t: 'close', reason} | {t: 'batch', items}

import { DecodeError, binaryKind, decodeHandlerFrame, decodeNative, parseControl } from './protocol';
import type { LinkItem } from './connection';

let ws: WebSocket | null = null;
let pending: LinkItem[] = [];
let transfer: ArrayBuffer[] = [];
let scheduled = false;
const MAX_BATCH = 256;
/** How long a batch waits for more messages: the server writes a burst
 * (every channel's buffer of the same block, then handler frames) in a few
 * TCP segments that arrive within a millisecond or two. */
const GATHER_MS = 2;

const post = (m: unknown, t: Transferable[] = []) => (self as unknown as Worker).postMessage(m, t);

function flush(): void {
  scheduled = false;
  if (!pending.length) return;
  const items = pending,
    bufs = transfer;
  pending = [];
  transfer = [];
  post({ t: 'batch', items }, bufs);
}

function queue(item: LinkItem, buf?: ArrayBuffer): void {
  pending.push(item);
  if (buf) transfer.push(buf);
  if (pending.length >= MAX_BATCH) flush();
  else if (!scheduled) {
    scheduled = true;
    // After the messages that arrived together have been read.
    setTimeout(flush, GATHER_MS);
  }
}

function receive(data: string | ArrayBuffer): void {
  try {
    if (typeof data === 'string') {
      queue({ c: parseControl(data), bytes: data.length });
      return;
    }
    const k = binaryKind(data);
    if (k === 'native') queue({ n: decodeNative(data), bytes: data.byteLength }, data);
    else if (k === 'handler') queue({ h: decodeHandlerFrame(data), bytes: data.byteLength }, data);
    else queue({ e: `unknown binary message of ${data.byteLength} bytes`, bytes: data.byteLength });
  } catch (err) {
    queue({ e: err instanceof DecodeError ? err.message : String(err), bytes: 0 });
  }
}

self.onmessage = (e: MessageEvent) => {
  const m = e.data;
  if (m.open) {
    const sock = new WebSocket(m.open);
    sock.binaryType = 'arraybuffer';
    ws = sock;
    sock.onopen = () => post({ t: 'open' });
    sock.onclose = (ev) => {
      flush();
      if (ws === sock) ws = null;
      post({ t: 'close', reason: ev.reason || `closed (code ${ev.code})` });
    };
    sock.onmessage = (ev) => receive(ev.data);
  } else if (m.send !== undefined) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(m.send);
  } else if (m.close) {
    const sock = ws;
    ws = null;
    sock?.close();
  }
};
