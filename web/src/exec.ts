// The editor pane: run a program on the device (EasyDSP's Execute/Stop).
// Only a server started with `rill serve --allow-exec --token ...` accepts
// it (docs/PROTOCOL.md §7: remote code execution for the device's owner);
// any other refuses, and the console says why. The pane has its own
// WebSocket, so a running program never disturbs the dashboard's streams.
import './exec.css';
import { ServerAddress, controlUrl } from './connection';

/** Split a command line into argv as a shell would split words: spaces
 *  separate, '...' and "..." group, backslash escapes (outside '...').
 *  Nothing is expanded: write `sh -c '...'` for a shell. */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let have = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote === "'") {
      if (ch === "'") quote = null;
      else cur += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = null;
      else if (ch === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) cur += line[++i];
      else cur += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      have = true;
    } else if (ch === '\\' && i + 1 < line.length) {
      cur += line[++i];
      have = true;
    } else if (/\s/.test(ch)) {
      if (have) out.push(cur);
      cur = '';
      have = false;
    } else {
      cur += ch;
      have = true;
    }
  }
  if (quote) throw new Error(`unclosed ${quote} quote`);
  if (have) out.push(cur);
  return out;
}

const CONSOLE_MAX = 200_000;

export class ExecPanel {
  private ws: WebSocket | null = null;
  private ready = false;
  private job: number | null = null;
  private pending: string[] | null = null;
  private input: HTMLInputElement;
  private run: HTMLButtonElement;
  private stop: HTMLButtonElement;
  private out: HTMLPreElement;
  private status: HTMLElement;

  constructor(
    root: HTMLElement,
    private addr: ServerAddress,
  ) {
    const sec = document.createElement('section');
    sec.className = 'exec';
    sec.innerHTML =
      '<h2>Run a program on the device</h2>' +
      '<p class="hint">Needs <code>rill serve --allow-exec --token …</code>: whoever holds the token runs programs there. ' +
      'No shell unless you write one: <code>sh -c \'…\'</code>.</p>' +
      '<div class="exec-row"><input class="exec-cmd" type="text" spellcheck="false" placeholder="program and arguments, e.g. build/examples/dash_doa">' +
      '<button class="exec-run">Execute</button><button class="exec-stop" disabled>Stop</button></div>' +
      '<div class="exec-status"></div><pre class="exec-console"></pre>';
    root.appendChild(sec);
    this.input = sec.querySelector('.exec-cmd')!;
    this.run = sec.querySelector('.exec-run')!;
    this.stop = sec.querySelector('.exec-stop')!;
    this.out = sec.querySelector('.exec-console')!;
    this.status = sec.querySelector('.exec-status')!;
    this.run.onclick = () => this.execute();
    this.stop.onclick = () => this.send({ rill: 'exec-stop', ...(this.job !== null ? { job: this.job } : {}) });
    this.input.onkeydown = (e) => {
      if (e.key === 'Enter') this.execute();
    };
  }

  private print(text: string, cls = ''): void {
    const span = document.createElement('span');
    if (cls) span.className = cls;
    span.textContent = text;
    this.out.appendChild(span);
    while (this.out.textContent!.length > CONSOLE_MAX && this.out.firstChild) this.out.removeChild(this.out.firstChild);
    this.out.scrollTop = this.out.scrollHeight;
  }

  private setStatus(s: string): void {
    this.status.textContent = s;
  }

  private send(m: object): void {
    if (this.ws && this.ready) this.ws.send(JSON.stringify(m));
  }

  execute(): void {
    let argv: string[];
    try {
      argv = splitArgs(this.input.value);
    } catch (e) {
      this.print(`${(e as Error).message}\n`, 'exec-err');
      return;
    }
    if (argv.length === 0) return;
    this.print(`$ ${this.input.value}\n`, 'exec-cmdline');
    this.pending = argv;
    if (this.ws && this.ready) this.flush();
    else if (!this.ws) this.connect();
  }

  private flush(): void {
    if (!this.pending) return;
    this.send({ rill: 'exec', id: 'exec', argv: this.pending });
    this.pending = null;
  }

  private connect(): void {
    const ws = new WebSocket(controlUrl(this.addr));
    this.ws = ws;
    this.ready = false;
    ws.onopen = () => ws.send(JSON.stringify({ rill: 'hello', version: 1 }));
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      this.job = null;
      this.stop.disabled = true;
      this.setStatus('disconnected');
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== 'string') return;
      let m: any;
      try {
        m = JSON.parse(e.data);
      } catch {
        return;
      }
      if (m.rill === 'hello') {
        this.ready = true;
        this.flush();
      } else if (m.error && (m.error.cmd === 'exec' || m.error.id === 'exec')) {
        this.print(`${m.error.message}\n`, 'exec-err');
        this.setStatus('refused');
      } else if (m.event === 'exec-started') {
        this.job = m.job;
        this.stop.disabled = false;
        this.setStatus(`running (pid ${m.pid})`);
      } else if (m.event === 'exec-output') {
        this.print(String(m.text ?? ''), m.stream === 'stderr' ? 'exec-stderr' : '');
      } else if (m.event === 'exec-exit') {
        const how = m.signal ? `ended by signal ${m.signal}` : `exited with code ${m.code}`;
        this.print(`[${how}]\n`, 'exec-cmdline');
        this.setStatus(how);
        if (this.job === m.job) {
          this.job = null;
          this.stop.disabled = true;
        }
      }
    };
  }
}
