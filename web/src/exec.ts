// The editor pane: EasyDSP's code editor, run on the device. Write (or load
// an example of) a Python script that uses rill.browserinterface, press
// Execute (or Ctrl+Enter), read its output in the console; a traceback's
// line is marked in the editor. Below it, any program can be run by its
// command line. Only a server started with `rill serve --allow-exec
// --token ...` accepts either (docs/PROTOCOL.md §7: remote code execution
// for the device's owner); any other refuses, and the console says why.
// The pane has its own WebSocket, so a running program never disturbs the
// dashboard's streams. One program at a time: Execute stops the one
// running first.
import './exec.css';
import { ServerAddress, controlUrl } from './connection';
import type { CodeEditor } from './editor/cm';
import { Example, listExamples, loadExample } from './editor/examples';
import { ScriptError, parseTraceback } from './editor/traceback';

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
const STDERR_KEEP = 65_536;
const STORE_KEY = 'rill.editor';
const DEFAULT_NAME = 'editor.py';
const TEMPLATE = `"""A script for rill's dashboard (EasyDSP's browserinterface)."""
import rill.browserinterface as browserinterface

def handle_data(buffer):
    print("buffer of", buffer.shape)

browserinterface.register_handle_data(handle_data)
browserinterface.start()
browserinterface.loop_callbacks()
`;

type Request = { kind: 'script'; code: string; name: string } | { kind: 'argv'; argv: string[] };

export class ExecPanel {
  private ws: WebSocket | null = null;
  private ready = false;
  private job: number | null = null;
  /** What the running job is: a script (its file name) or a command. */
  private jobScript: string | null = null;
  private stderr = '';
  private pending: Request | null = null;
  private editor: CodeEditor | null = null;
  private examples: Example[] = [];
  private scriptName = DEFAULT_NAME;
  private saveTimer = 0;
  readonly root: HTMLElement;
  private input: HTMLInputElement;
  private run: HTMLButtonElement;
  private stop: HTMLButtonElement;
  private edRun: HTMLButtonElement;
  private edStop: HTMLButtonElement;
  private exSel: HTMLSelectElement;
  private exInfo: HTMLElement;
  private nameEl: HTMLElement;
  private errEl: HTMLElement;
  private out: HTMLPreElement;
  private status: HTMLElement;
  /** The last error a traceback pointed at (tests). */
  lastError: ScriptError | null = null;
  /** Resolves once CodeMirror is up. */
  readonly ready$: Promise<void>;

  constructor(
    root: HTMLElement,
    private addr: ServerAddress,
  ) {
    const sec = document.createElement('section');
    sec.className = 'exec';
    sec.innerHTML =
      '<h2>Code editor: run a script on the device</h2>' +
      '<p class="hint">Needs <code>rill serve --allow-exec --token …</code>: whoever holds the token runs programs there. ' +
      'Scripts run with <code>python3 -u</code>, <code>RILL_URL</code> and <code>RILL_TOKEN</code> set, so ' +
      '<code>rill.browserinterface</code> connects to this server and its handlers appear as tabs above. Ctrl+Enter runs.</p>' +
      '<div class="editor-row"><select class="editor-examples" title="load an example (rill serve --examples DIR)"><option value="">examples…</option></select>' +
      '<span class="editor-name"></span><span class="editor-example-info hint"></span><span class="spacer"></span>' +
      '<button class="editor-run">Execute</button><button class="editor-stop" disabled>Stop</button></div>' +
      '<div class="editor-host"></div><div class="editor-error"></div>' +
      '<div class="exec-row"><input class="exec-cmd" type="text" spellcheck="false" placeholder="or a program and its arguments, e.g. build/examples/dash_doa (no shell unless you write sh -c \'…\')">' +
      '<button class="exec-run">Run</button><button class="exec-stop" disabled>Stop</button></div>' +
      '<div class="exec-status"></div><pre class="exec-console"></pre>';
    root.appendChild(sec);
    this.root = sec;
    const q = <T extends Element>(s: string) => sec.querySelector(s) as T;
    this.input = q('.exec-cmd');
    this.run = q('.exec-run');
    this.stop = q('.exec-stop');
    this.edRun = q('.editor-run');
    this.edStop = q('.editor-stop');
    this.exSel = q('.editor-examples');
    this.exInfo = q('.editor-example-info');
    this.nameEl = q('.editor-name');
    this.errEl = q('.editor-error');
    this.out = q('.exec-console');
    this.status = q('.exec-status');
    this.run.onclick = () => this.executeCommand();
    this.edRun.onclick = () => this.executeScript();
    this.stop.onclick = this.edStop.onclick = () => this.stopJob();
    this.input.onkeydown = (e) => {
      if (e.key === 'Enter') this.executeCommand();
    };
    this.exSel.onchange = () => {
      if (this.exSel.value) void this.loadExample(this.exSel.value);
    };
    let saved: { code?: string; name?: string } = {};
    try {
      saved = JSON.parse(localStorage.getItem(STORE_KEY) ?? '{}');
    } catch {
      saved = {};
    }
    this.setName(typeof saved.name === 'string' ? saved.name : DEFAULT_NAME);
    const code = typeof saved.code === 'string' ? saved.code : TEMPLATE;
    const host = q<HTMLElement>('.editor-host');
    this.ready$ = import('./editor/cm').then(({ createEditor }) => {
      this.editor = createEditor(host, code, () => this.executeScript(), () => this.changed());
    });
    void this.refreshExamples();
  }

  private get httpBase(): string {
    return this.addr.base.replace(/^ws/, 'http');
  }

  private setName(name: string): void {
    this.scriptName = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(name) ? name : DEFAULT_NAME;
    this.nameEl.textContent = this.scriptName;
  }

  /** The editor's text changed: saved (at most once a second), as EasyDSP's editor saved to localStorage. */
  private changed(): void {
    clearTimeout(this.saveTimer);
    this.saveTimer = window.setTimeout(() => {
      try {
        localStorage.setItem(STORE_KEY, JSON.stringify({ code: this.editor?.get() ?? '', name: this.scriptName }));
      } catch {
        // storage full or off: nothing to do
      }
    }, 1000);
  }

  async refreshExamples(): Promise<Example[]> {
    try {
      this.examples = await listExamples(this.httpBase, this.addr.token);
    } catch (e) {
      this.examples = [];
      this.exInfo.textContent = `examples: ${(e as Error).message}`;
    }
    for (const o of [...this.exSel.options].slice(1)) o.remove();
    for (const ex of this.examples) {
      const o = document.createElement('option');
      o.value = ex.file;
      o.textContent = ex.name === ex.file ? ex.file : `${ex.name} (${ex.file})`;
      if (ex.description) o.title = ex.description;
      this.exSel.appendChild(o);
    }
    this.exSel.disabled = this.examples.length === 0;
    return this.examples;
  }

  async loadExample(file: string): Promise<void> {
    await this.ready$;
    try {
      const { code, description } = await loadExample(this.httpBase, this.addr.token, file);
      this.editor!.set(code);
      this.setName(file);
      const ex = this.examples.find((e) => e.file === file);
      this.exInfo.textContent = ex?.description || description;
      this.clearError();
      this.changed();
    } catch (e) {
      this.exInfo.textContent = (e as Error).message;
    }
    this.exSel.value = '';
  }

  /** The editor (tests, and scripts that set the code). */
  async code(text?: string): Promise<string> {
    await this.ready$;
    if (text !== undefined) {
      this.editor!.set(text);
      this.changed();
    }
    return this.editor!.get();
  }

  markedLine(): number | null {
    return this.editor?.marked() ?? null;
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

  private clearError(): void {
    this.lastError = null;
    this.errEl.textContent = '';
    this.editor?.markError(null);
  }

  private send(m: object): void {
    if (this.ws && this.ready) this.ws.send(JSON.stringify(m));
  }

  private stopJob(): void {
    if (this.job !== null) this.send({ rill: 'exec-stop', job: this.job });
  }

  executeScript(): void {
    if (!this.editor) return;
    this.clearError();
    this.out.textContent = '';
    this.print(`$ python3 -u ${this.scriptName}\n`, 'exec-cmdline');
    this.request({ kind: 'script', code: this.editor.get(), name: this.scriptName });
  }

  executeCommand(): void {
    let argv: string[];
    try {
      argv = splitArgs(this.input.value);
    } catch (e) {
      this.print(`${(e as Error).message}\n`, 'exec-err');
      return;
    }
    if (argv.length === 0) return;
    this.print(`$ ${this.input.value}\n`, 'exec-cmdline');
    this.request({ kind: 'argv', argv });
  }

  private request(r: Request): void {
    this.stopJob(); // one program at a time
    this.pending = r;
    if (this.ws && this.ready) this.flush();
    else if (!this.ws) this.connect();
  }

  private flush(): void {
    const r = this.pending;
    if (!r) return;
    this.pending = null;
    this.stderr = '';
    this.jobScript = r.kind === 'script' ? r.name : null;
    if (r.kind === 'script') this.send({ rill: 'exec', id: 'exec', script: r.code, name: r.name });
    else this.send({ rill: 'exec', id: 'exec', argv: r.argv });
  }

  private running(on: boolean): void {
    this.stop.disabled = this.edStop.disabled = !on;
  }

  /** stderr of a script so far: a traceback's line is marked. */
  private scriptStderr(text: string): void {
    if (this.jobScript === null) return;
    this.stderr = (this.stderr + text).slice(-STDERR_KEEP);
    const err = parseTraceback(this.stderr, this.jobScript);
    if (!err || (this.lastError && this.lastError.line === err.line && this.lastError.message === err.message)) return;
    this.lastError = err;
    this.editor?.markError(err.line, err.message);
    this.errEl.textContent = `line ${err.line}: ${err.message}`;
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
      this.running(false);
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
        this.running(true);
        this.setStatus(`running (pid ${m.pid})`);
      } else if (m.event === 'exec-output') {
        const text = String(m.text ?? '');
        this.print(text, m.stream === 'stderr' ? 'exec-stderr' : '');
        if (m.stream === 'stderr' && m.job === this.job) this.scriptStderr(text);
      } else if (m.event === 'exec-exit') {
        const how = m.signal ? `ended by signal ${m.signal}` : `exited with code ${m.code}`;
        this.print(`[${how}]\n`, 'exec-cmdline');
        this.setStatus(how);
        if (this.job === m.job) {
          this.job = null;
          this.running(false);
        }
      }
    };
  }
}
