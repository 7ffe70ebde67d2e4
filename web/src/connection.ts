// The page's WebSocket to rill serve: /gui_control in native mode, which
// carries JSON control messages, native data messages and handler frames.

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

export class Connection {
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
