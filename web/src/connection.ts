// The page's WebSocket to rill serve: /gui_control in native mode, which
// carries JSON control messages, native data messages and handler frames.
// Two ways to hold it, with one interface (Link): in a worker
// (WorkerConnection, datalink.worker.ts: receiving and decoding off the
// main thread, in batches), or on the main thread (Connection: where
// workers are not available, and for replaying recorded messages).

import {
  ControlMessage,
  DecodeError,
  HandlerFrame,
  NativeMessage,
  binaryKind,
  decodeHandlerFrame,
  decodeNative,
  parseControl,
} from './protocol';

export interface ServerAddress {
  /** ws://host:port, no path. */
  base: string;
  token: string | null;
}

/** Where the page's server is: `?server=ws://host:port` if given, else the
 * host the page came from; `?token=` is passed on. */
export function serverAddress(loc: { protocol: string; host: string; search: string }): ServerAddress {
  const q = new URLSearchParams(loc.search);
  const token = q.get('token');
  let base = q.get('server');
  if (base) base = base.replace(/\/+$/, '').replace(/\/gui_control$/, '');
  else base = `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}`;
  return { base, token: token === null || token === '' ? null : token };
}

export function controlUrl(a: ServerAddress): string {
  return `${a.base}/gui_control${a.token ? `?token=${encodeURIComponent(a.token)}` : ''}`;
}

export interface ConnectionEvents {
  onOpen(): void;
  onClose(reason: string): void;
  onControl(m: ControlMessage): void;
  onNative(m: NativeMessage): void;
  onHandlerFrame(f: HandlerFrame): void;
  onProtocolError(e: string): void;
}

/** One received message, decoded (the worker's batches carry these). */
export type LinkItem =
  | { c: ControlMessage; bytes: number }
  | { n: NativeMessage; bytes: number }
  | { h: HandlerFrame; bytes: number }
  | { e: string; bytes: number };

export interface Link {
  open(): void;
  send(text: string): boolean;
  close(): void;
  /** One message as if from the server (tests replay recorded ones). */
  dispatch(data: string | ArrayBuffer): void;
  readonly isOpen: boolean;
  bytesIn: number;
  messagesIn: number;
}

/** Hand decoded items to the events, in order. */
export function deliver(ev: ConnectionEvents, it: LinkItem): void {
  if ('c' in it) ev.onControl(it.c);
  else if ('n' in it) ev.onNative(it.n);
  else if ('h' in it) ev.onHandlerFrame(it.h);
  else ev.onProtocolError(it.e);
}

/** The socket in a worker (datalink.worker.ts). */
export class WorkerConnection implements Link {
  private worker: Worker | null = null;
  private openNow = false;
  private direct: Connection;
  bytesIn = 0;
  messagesIn = 0;
  /** Batches received (each is one main-thread event). */
  batches = 0;

  constructor(
    private url: string,
    private ev: ConnectionEvents,
    private makeWorker: () => Worker,
  ) {
    this.direct = new Connection(url, ev);
  }

  open(): void {
    const w = this.makeWorker();
    this.worker = w;
    w.onmessage = (e: MessageEvent) => {
      if (this.worker !== w) return;
      const m = e.data;
      if (m.t === 'batch') {
        this.batches++;
        for (const it of m.items as LinkItem[]) {
          this.messagesIn++;
          this.bytesIn += it.bytes;
          deliver(this.ev, it);
        }
      } else if (m.t === 'open') {
        this.openNow = true;
        this.ev.onOpen();
      } else if (m.t === 'close') {
        this.openNow = false;
        this.worker = null;
        w.terminate();
        this.ev.onClose(m.reason);
      }
    };
    w.onerror = (e) => {
      if (this.worker !== w) return;
      this.openNow = false;
      this.worker = null;
      w.terminate();
      this.ev.onClose(`the connection's worker failed: ${e.message}`);
    };
    w.postMessage({ open: this.url });
  }

  dispatch(data: string | ArrayBuffer): void {
    this.direct.dispatch(data);
  }

  send(text: string): boolean {
    if (!this.worker || !this.openNow) return false;
    this.worker.postMessage({ send: text });
    return true;
  }

  close(): void {
    const w = this.worker;
    this.worker = null;
    this.openNow = false;
    w?.postMessage({ close: true });
    setTimeout(() => w?.terminate(), 1000);
  }

  get isOpen(): boolean {
    return this.openNow;
  }
}

export class Connection implements Link {
  private ws: WebSocket | null = null;
  bytesIn = 0;
  messagesIn = 0;

  constructor(
    private url: string,
    private ev: ConnectionEvents,
  ) {}

  open(): void {
    const ws = new WebSocket(this.url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => this.ev.onOpen();
    ws.onclose = (e) => {
      if (this.ws === ws) this.ws = null;
      this.ev.onClose(e.reason || `closed (code ${e.code})`);
    };
    ws.onmessage = (e) => this.dispatch(e.data);
  }

  /** One message from the server (also used by tests to replay recordings). */
  dispatch(data: string | ArrayBuffer): void {
    this.messagesIn++;
    try {
      if (typeof data === 'string') {
        this.bytesIn += data.length;
        this.ev.onControl(parseControl(data));
        return;
      }
      this.bytesIn += data.byteLength;
      const k = binaryKind(data);
      if (k === 'native') this.ev.onNative(decodeNative(data));
      else if (k === 'handler') this.ev.onHandlerFrame(decodeHandlerFrame(data));
      else this.ev.onProtocolError(`unknown binary message of ${data.byteLength} bytes`);
    } catch (err) {
      if (err instanceof DecodeError) this.ev.onProtocolError(err.message);
      else throw err;
    }
  }

  send(text: string): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(text);
    return true;
  }

  close(): void {
    const ws = this.ws;
    this.ws = null;
    ws?.close();
  }

  get isOpen(): boolean {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }
}
