// The page's WebSocket, in a worker: messages are received and decoded
// here (JSON parsed, binary headers checked, values viewed in place) and
// handed to the page in batches, one per burst of stream data (other
// messages wait up to HOLD_MS for one), with the buffers transferred (not
// copied). The page's main thread then spends one event on eight channels'
// buffers and the handler frames that came meanwhile instead of one each,
// and no time parsing.
//
// Page -> worker: {open: url} | {send: text} | {close: true}
// Worker -> page: {t: 'open'} | {t: 'close', reason} | {t: 'batch', items}

import { DecodeError, binaryKind, decodeHandlerFrame, decodeNative, parseControl } from './protocol';
import type { LinkItem } from './connection';

let ws: WebSocket | null = null;
let pending: LinkItem[] = [];
let transfer: ArrayBuffer[] = [];
let timer: ReturnType<typeof setTimeout> | null = null;
let due = Infinity;
const MAX_BATCH = 256;
/** How long a batch with stream data waits for more messages: the server
 * writes a burst (every channel's buffer of the same block) in a few TCP
 * segments that arrive within a millisecond or two. */
const GATHER_MS = 2;
/** How long other messages (handler frames and events, replies) may wait
 * for the next batch: each batch is an event for the page's main thread,
 * and a spectrogram's columns arrive one message each, 100-200 a second,
 * for a picture redrawn 20 times a second. Stream data that arrives
 * meanwhile takes them along after GATHER_MS. */
const HOLD_MS = 16;

const post = (m: unknown, t: Transferable[] = []) => (self as unknown as Worker).postMessage(m, t);

function flush(): void {
  if (timer !== null) clearTimeout(timer);
  timer = null;
  due = Infinity;
  if (!pending.length) return;
  const items = pending,
    bufs = transfer;
  pending = [];
  transfer = [];
  post({ t: 'batch', items }, bufs);
}

function queue(item: LinkItem, buf?: ArrayBuffer, waitMs = HOLD_MS): void {
  pending.push(item);
  if (buf) transfer.push(buf);
  if (pending.length >= MAX_BATCH) return flush();
  // After the messages that arrived together have been read; stream data
  // brings the batch forward.
  const at = performance.now() + waitMs;
  if (at >= due) return;
  if (timer !== null) clearTimeout(timer);
  due = at;
  timer = setTimeout(flush, waitMs);
}

function receive(data: string | ArrayBuffer): void {
  try {
    if (typeof data === 'string') {
      queue({ c: parseControl(data), bytes: data.length });
      return;
    }
    const k = binaryKind(data);
    if (k === 'native') queue({ n: decodeNative(data), bytes: data.byteLength }, data, GATHER_MS);
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
