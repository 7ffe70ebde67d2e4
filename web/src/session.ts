// The page's connection to its server, as a session: connect (the socket
// in a worker where the browser has them), the native hello, the dashboard
// subscription, a list request every second, and reconnecting with back-off
// when the socket closes. What arrives is handed on to the app; what the
// session itself needs (its state, the project's name, dropped-buffer
// notices, whether the server has a dashboard relay) it keeps.

import {
  Connection,
  ConnectionEvents,
  Link,
  ServerAddress,
  WorkerConnection,
  controlUrl,
} from './connection';
import { ControlMessage, DASH_SUBSCRIBE, HELLO, HandlerFrame, NativeMessage, listCommand } from './protocol';

export type ConnState = 'connecting' | 'open' | 'native' | 'closed';

export interface Hello {
  maxValues: number;
  queueBytes: number;
  sampleRate: number;
}

export interface SessionHooks {
  /** Native mode is on: streams may start. */
  live(h: Hello): void;
  /** Every other control message. */
  control(m: ControlMessage): void;
  native(m: NativeMessage): void;
  handlerFrame(f: HandlerFrame): void;
  /** The socket closed; a new one is being opened. */
  closed(reason: string): void;
}

const LIST_PERIOD_MS = 1000;

export class Session {
  state: ConnState = 'connecting';
  project = '';
  hello: Hello | null = null;
  lastError = '';
  protocolErrors = 0;
  droppedNotices = 0;
  /** null until the server answered the dashboard subscription. */
  dashAvailable: boolean | null = null;
  /** Waited for before subscribing to handlers (custom types loading). */
  beforeSubscribe: Promise<unknown> = Promise.resolve();
  link: Link | null = null;
  private listId = 1;
  private listTimer = 0;
  private retryMs = 500;

  constructor(
    readonly address: ServerAddress,
    private hooks: SessionHooks,
    private makeWorker: (() => Worker) | null,
  ) {}

  start(): void {
    this.state = 'connecting';
    const ev: ConnectionEvents = {
      onOpen: () => {
        this.state = 'open';
        this.retryMs = 500;
        link.send(HELLO);
      },
      onClose: (reason) => this.closed(link, reason),
      onControl: (m) => this.control(m),
      onNative: (m) => this.hooks.native(m),
      onHandlerFrame: (f) => this.hooks.handlerFrame(f),
      onProtocolError: (e) => {
        this.protocolErrors++;
        this.lastError = `protocol: ${e}`;
      },
    };
    const url = controlUrl(this.address);
    const link: Link = this.makeWorker ? new WorkerConnection(url, ev, this.makeWorker) : new Connection(url, ev);
    this.link = link;
    link.open();
  }

  private closed(link: Link, reason: string): void {
    if (link !== this.link) return;
    this.state = 'closed';
    this.lastError = `disconnected: ${reason}; retrying`;
    clearInterval(this.listTimer);
    this.hooks.closed(reason);
    setTimeout(() => this.start(), this.retryMs);
    this.retryMs = Math.min(5000, this.retryMs * 2);
  }

  send(text: string): boolean {
    return this.link?.send(text) ?? false;
  }

  /** A message as if from the server (tests replay recorded messages). */
  feed(data: string | ArrayBuffer): void {
    this.link?.dispatch(data);
  }

  private control(m: ControlMessage): void {
    switch (m.t) {
      case 'connection':
        this.project = m.projectName;
        return;
      case 'hello': {
        this.state = 'native';
        this.hello = m;
        this.hooks.live(m);
        const link = this.link;
        void this.beforeSubscribe.then(() => {
          if (this.link === link) this.send(DASH_SUBSCRIBE);
        });
        this.requestList();
        clearInterval(this.listTimer);
        this.listTimer = window.setInterval(() => this.requestList(), LIST_PERIOD_MS);
        return;
      }
      case 'dropped':
        this.droppedNotices = Math.max(this.droppedNotices, m.total);
        return;
      case 'dash':
        this.dashAvailable = true;
        return;
      case 'error':
        // A server without the dashboard relay refuses the subscription.
        if (m.id === 'dash') {
          this.dashAvailable = false;
          return;
        }
        break;
    }
    this.hooks.control(m);
  }

  private requestList(): void {
    this.send(listCommand(this.listId++));
  }
}
