// The page's DOM: the header's badges, the tabs, the variables table, the
// audio configuration panel, the error line and the charts' column. It
// renders what it is given and writes only what changed (an unchanged
// write still costs the page a style, layout and paint pass).

import type { VarInfo } from './protocol';

/** Set an element's text or class only when it changes. */
export function setText(e: Element, text: string): void {
  if (e.textContent !== text) e.textContent = text;
}
export function setClass(e: Element, cls: string): void {
  if (e.className !== cls) e.className = cls;
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export interface Badges {
  title: string;
  state: 'connecting' | 'open' | 'native' | 'closed';
  latencyMs: number;
  latencyClass: string;
  drops: number;
  error: string;
}

/** What the variables table shows of a variable being streamed. */
export interface VarState {
  streaming: boolean;
  dropped: number;
}

export class DashboardDom {
  readonly header: HTMLElement;
  readonly project: HTMLElement;
  readonly conn: HTMLElement;
  readonly lat: HTMLElement;
  readonly drops: HTMLElement;
  readonly tabs: HTMLElement;
  readonly varsTab: HTMLButtonElement;
  readonly panels: HTMLElement;
  readonly varsPanel: HTMLElement;
  readonly cfg: HTMLElement;
  cfgRows: HTMLElement;
  readonly table: HTMLTableElement;
  readonly charts: HTMLElement;
  readonly errors: HTMLElement;
  private rowsBuilt = '';
  /** A variable's row was clicked. */
  onVarClick: (name: string) => void = () => {};
  onTab: (t: 'vars') => void = () => {};

  constructor(root: HTMLElement, audioForm: HTMLElement) {
    this.header = el('header');
    const title = el('h1', '', 'rill');
    this.project = el('span', 'project', '');
    this.conn = el('span', 'badge conn none', 'connecting');
    this.conn.id = 'conn-badge';
    this.lat = el('span', 'badge latency none', 'latency —');
    this.lat.id = 'latency-badge';
    this.lat.title = 'how far behind live the page is: the device tick now (estimated) minus the newest tick received';
    this.drops = el('span', 'badge drops none', 'drops 0');
    this.drops.id = 'drops-badge';
    this.drops.title = 'buffers the server dropped for this page (announced by the native protocol)';
    this.header.append(title, this.project, this.conn, this.lat, this.drops);

    this.tabs = el('nav', 'tabs');
    this.varsTab = el('button', 'tab', 'Variables');
    this.varsTab.dataset.tab = 'vars';
    this.varsTab.onclick = () => this.onTab('vars');
    this.tabs.appendChild(this.varsTab);

    this.panels = el('main', 'panels');
    this.varsPanel = el('section', 'panel vars-panel');
    this.varsPanel.dataset.tab = 'vars';
    const side = el('div', 'side');
    this.cfg = el('div', 'card config');
    this.cfg.id = 'config';
    this.cfgRows = el('dl');
    this.cfg.append(el('h2', '', 'Audio configuration'), this.cfgRows, audioForm);
    this.table = el('table', 'vars');
    this.table.id = 'vars';
    this.table.innerHTML =
      '<thead><tr><th>name</th><th>type</th><th>timestamps</th><th>state</th><th>drops</th></tr></thead><tbody></tbody>';
    const hint = el('p', 'hint', 'Click a variable to open it in a scope; click again to close it. In a scope: click the plot for cursor A, shift-click for B; Stop, then wheel to zoom and drag to pan.');
    // The table scrolls sideways inside its own box when a long name or
    // state cannot fit a narrow window; the page itself never does.
    const tableBox = el('div', 'table-box');
    tableBox.append(this.table);
    side.append(this.cfg, hint, tableBox);
    this.charts = el('div', 'charts');
    this.charts.id = 'charts';
    this.errors = el('div', 'errors');
    this.errors.id = 'errors';
    this.varsPanel.append(side, this.charts);
    this.panels.append(this.varsPanel);
    root.append(this.header, this.tabs, this.errors, this.panels);
  }

  chartWidth(): number {
    const w = this.charts.clientWidth || 900;
    return Math.max(300, Math.min(1400, w - 20));
  }

  badges(b: Badges): void {
    setText(this.project, b.title);
    const connText = { connecting: 'connecting', open: 'connected', native: 'live', closed: 'disconnected' }[b.state];
    setText(this.conn, connText);
    setClass(this.conn, `badge conn ${b.state === 'native' ? 'ok' : b.state === 'closed' ? 'bad' : 'warn'}`);
    const ms = b.latencyMs;
    setText(this.lat, Number.isFinite(ms) ? `latency ${Math.ceil(ms)} ms` : 'latency —');
    setClass(this.lat, `badge latency ${b.latencyClass}`);
    this.lat.dataset.ms = Number.isFinite(ms) ? String(ms) : '';
    setText(this.drops, `drops ${b.drops}`);
    setClass(this.drops, `badge drops ${b.drops > 0 ? 'warn' : 'ok'}`);
    this.drops.dataset.count = String(b.drops);
    setText(this.errors, b.error);
  }

  /** The variables table; rows are rebuilt only when the list changed.
   * Returns true when it was rebuilt. */
  vars(vars: VarInfo[], state: (v: VarInfo) => VarState, force = false): boolean {
    const tbody = this.table.querySelector('tbody')!;
    const key = vars.map((v) => `${v.id}:${v.name}:${v.type}:${v.timestampMode}`).join('|');
    const rebuilt = force || key !== this.rowsBuilt;
    if (rebuilt) {
      this.rowsBuilt = key;
      tbody.textContent = '';
      for (const v of vars) {
        const tr = el('tr');
        tr.dataset.var = v.name;
        tr.onclick = () => this.onVarClick(v.name);
        // Keyboard too: Tab to a row, Enter or Space opens or closes its chart.
        tr.tabIndex = 0;
        tr.setAttribute('role', 'button');
        tr.setAttribute('aria-pressed', 'false');
        tr.onkeydown = (e) => {
          if (e.key !== 'Enter' && e.key !== ' ') return;
          e.preventDefault();
          this.onVarClick(v.name);
        };
        tr.append(
          el('td', 'name', v.name),
          el('td', 'type', v.type),
          el('td', 'mode', v.timestampMode === 1 ? 'sparse' : 'dense'),
          el('td', 'state', ''),
          el('td', 'drops', '0'),
        );
        tbody.appendChild(tr);
      }
    }
    const rows = tbody.children;
    for (let i = 0; i < vars.length && i < rows.length; i++) {
      const v = vars[i];
      const s = state(v);
      const tr = rows[i] as HTMLElement;
      tr.classList.toggle('streaming', s.streaming);
      if (tr.getAttribute('aria-pressed') !== String(s.streaming)) tr.setAttribute('aria-pressed', String(s.streaming));
      const st = [s.streaming ? 'streaming' : v.watched ? 'watched' : '', v.logged ? 'logged' : '', v.controlled ? 'controlled' : '', v.monitor ? `monitor ${v.monitor}` : '']
        .filter(Boolean)
        .join(', ');
      setText(tr.children[3], st || 'idle');
      setText(tr.children[4], String(s.dropped));
    }
    return rebuilt;
  }

  /** The configuration rows; only they are rebuilt, so the form below
   * keeps its entries and focus. */
  config(rows: [string, string][]): void {
    const dl = el('dl');
    for (const [k, v] of rows) {
      const dt = el('dt', '', k);
      const dd = el('dd', '', v);
      dd.dataset.key = k;
      dl.append(dt, dd);
    }
    this.cfgRows.replaceWith(dl);
    this.cfgRows = dl;
  }

  configValues(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const dd of this.cfg.querySelectorAll('dd')) out[(dd as HTMLElement).dataset.key ?? ''] = dd.textContent ?? '';
    return out;
  }
}
