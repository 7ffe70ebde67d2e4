// Data handlers: one tab each, created, fed and removed by handler messages
// (docs/HANDLERS.md). Type names are rill's short ones; EasyDSP's are
// accepted as aliases, so its examples' add_handler calls work unchanged.

import type { HandlerCreate, HandlerFrame } from '../protocol';
import { AudioModel, AudioView } from './audio';
import { CartesianKind, CartesianModel, CartesianView } from './cartesian';
import { HeatmapModel, HeatmapView } from './heatmap';
import { MeterModel, MeterView } from './meter';
import { PolarModel, PolarView } from './polar';
import { SpectrogramModel, SpectrogramView } from './spectrogram';
import { warn, type HandlerModel, type HandlerView } from './types';

/** A handler type: how to make its model (the data and its semantics, no
 * DOM) and its view (draws the model into the tab's element). Built-in and
 * custom types (custom.ts, loaded from `rill serve --handlers DIR`) are
 * made the same way. */
export interface HandlerTypeDef {
  createModel(params: Record<string, unknown>, ctx: { sampleRate: number }): HandlerModel;
  createView(el: HTMLElement, model: HandlerModel, params: Record<string, unknown>): HandlerView;
  /** Where it came from: "built-in", or the module that registered it. */
  origin?: string;
}

export const HANDLER_TYPES = [
  'line',
  'area',
  'bar',
  'scatter',
  'polar-line',
  'polar-area',
  'heatmap',
  'spectrogram',
  'audio',
  'meter',
] as const;
export type HandlerType = (typeof HANDLER_TYPES)[number];

const ALIASES: Record<string, HandlerType> = {
  'base:graph:line': 'line',
  'base:graph:area': 'area',
  'base:graph:bar': 'bar',
  'base:graph:plot': 'scatter',
  plot: 'scatter',
  histogram: 'bar',
  'base:polar:line': 'polar-line',
  'base:polar:area': 'polar-area',
  'base:heatmap': 'heatmap',
  'base:spectrogram': 'spectrogram',
  'base:audio': 'audio',
  'base:meter': 'meter',
};

export function canonicalType(t: string): HandlerType | null {
  if ((HANDLER_TYPES as readonly string[]).includes(t)) return t as HandlerType;
  return ALIASES[t] ?? null;
}

export function createModel(type: HandlerType, params: Record<string, unknown>, sampleRate = 48000): HandlerModel {
  switch (type) {
    case 'line':
    case 'area':
    case 'bar':
    case 'scatter':
      return new CartesianModel(params);
    case 'polar-line':
    case 'polar-area':
      return new PolarModel(params);
    case 'heatmap':
      return new HeatmapModel(params);
    case 'spectrogram':
      return new SpectrogramModel(params);
    case 'audio':
      return new AudioModel(params, sampleRate);
    case 'meter':
      return new MeterModel(params);
  }
}

export function createView(type: HandlerType, el: HTMLElement, model: HandlerModel, params: Record<string, unknown>): HandlerView {
  switch (type) {
    case 'line':
    case 'area':
    case 'bar':
    case 'scatter': {
      const w = typeof params.width === 'number' ? params.width : 800;
      const h = typeof params.height === 'number' ? params.height : 250;
      return new CartesianView(el, model as CartesianModel, type as CartesianKind, w, h);
    }
    case 'polar-line':
    case 'polar-area':
      return new PolarView(el, model as PolarModel, type === 'polar-area');
    case 'heatmap':
      return new HeatmapView(el, model as HeatmapModel);
    case 'spectrogram':
      return new SpectrogramView(el, model as SpectrogramModel);
    case 'audio':
      return new AudioView(el, model as AudioModel);
    case 'meter':
      return new MeterView(el, model as MeterModel);
  }
}

/** Every type the page knows, by name (EasyDSP's names included). */
export class TypeRegistry {
  private types = new Map<string, HandlerTypeDef>();

  constructor() {
    for (const t of HANDLER_TYPES) {
      const def: HandlerTypeDef = {
        createModel: (p, ctx) => createModel(t, p, ctx.sampleRate),
        createView: (el, m, p) => createView(t, el, m, p),
        origin: 'built-in',
      };
      this.types.set(t, def);
    }
    for (const [alias, t] of Object.entries(ALIASES)) this.types.set(alias, this.types.get(t)!);
  }

  /** Add a type; a name already taken (built-in or custom) is refused. */
  register(name: string, def: HandlerTypeDef): void {
    if (typeof name !== 'string' || !name) throw new Error('a handler type needs a name (a non-empty string)');
    if (!def || typeof def.createModel !== 'function' || typeof def.createView !== 'function')
      throw new Error(`handler type "${name}": give createModel(params, ctx) and createView(element, model, params)`);
    const had = this.types.get(name);
    if (had) throw new Error(`handler type "${name}" exists already (${had.origin ?? 'custom'}); pick another name`);
    this.types.set(name, def);
  }

  get(name: string): HandlerTypeDef | null {
    return this.types.get(name) ?? null;
  }

  /** The canonical name shown in a tab: rill's short name for EasyDSP's. */
  label(name: string): string {
    return canonicalType(name) ?? name;
  }

  names(): string[] {
    return [...this.types.keys()].filter((n) => !ALIASES[n]);
  }
}

/** Run a handler's code; what it throws goes to its tab's status line. */
function guard(h: Handler, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (h.model) warn(h.model, `error: ${(e as Error).message}`);
    else h.status.textContent = `error: ${(e as Error).message}`;
  }
}

export interface Handler {
  id: number;
  name: string;
  type: string;
  /** The type's canonical name, null when the page does not know it. */
  kind: string | null;
  params: Record<string, unknown>;
  model: HandlerModel | null;
  view: HandlerView | null;
  tab: HTMLElement;
  panel: HTMLElement;
  status: HTMLElement;
  shownWarnings: number;
  messages: number;
  lastTick: number;
}

/** The tabs of the page's data handlers. `views: false` keeps models only
 * (unit tests without a canvas). */
export class HandlerManager {
  readonly handlers = new Map<number, Handler>();
  readonly registry = new TypeRegistry();
  sampleRate = 48000;
  /** Called when a tab is clicked (the app shows its panel). */
  onSelect: (id: number) => void = () => {};
  selected: number | null = null;

  constructor(
    private tabBar: HTMLElement,
    private panels: HTMLElement,
    private views = true,
  ) {}

  create(h: HandlerCreate): Handler {
    this.remove(h.id);
    const def = this.registry.get(h.type);
    const kind = def ? this.registry.label(h.type) : null;
    const tab = document.createElement('button');
    tab.className = 'tab handler-tab';
    tab.dataset.handler = String(h.id);
    tab.textContent = h.name;
    tab.onclick = () => this.onSelect(h.id);
    const panel = document.createElement('section');
    panel.className = 'panel handler-panel';
    panel.dataset.handler = String(h.id);
    panel.hidden = true;
    const title = document.createElement('h2');
    title.textContent = `${h.name} `;
    const small = document.createElement('small');
    small.textContent = kind ?? h.type;
    title.appendChild(small);
    const body = document.createElement('div');
    body.className = 'handler-body';
    const status = document.createElement('div');
    status.className = 'handler-status';
    panel.append(title, body, status);
    this.tabBar.appendChild(tab);
    this.panels.appendChild(panel);
    const handler: Handler = {
      id: h.id,
      name: h.name,
      type: h.type,
      kind,
      params: h.params,
      model: null,
      view: null,
      tab,
      panel,
      status,
      shownWarnings: 0,
      messages: 0,
      lastTick: -1,
    };
    if (!def) {
      status.textContent = `unknown handler type "${h.type}" (known: ${this.registry.names().join(', ')})`;
    } else {
      // A custom type's code may throw: the tab says so, the page goes on.
      try {
        handler.model = def.createModel(h.params, { sampleRate: this.sampleRate });
        if (this.views) handler.view = def.createView(body, handler.model, h.params);
      } catch (e) {
        handler.model = null;
        handler.view = null;
        status.textContent = `handler type "${h.type}" failed: ${(e as Error).message}`;
      }
    }
    this.handlers.set(h.id, handler);
    return handler;
  }

  remove(id: number): void {
    const h = this.handlers.get(id);
    if (!h) return;
    h.view?.destroy();
    h.tab.remove();
    h.panel.remove();
    this.handlers.delete(id);
    if (this.selected === id) this.selected = null;
  }

  clear(): void {
    for (const id of [...this.handlers.keys()]) this.remove(id);
  }

  /** False for a handler never created; a handler whose type is unknown
   * or failed takes its data unseen (its tab says why). */
  data(id: number, data: unknown, tick?: number): boolean {
    const h = this.handlers.get(id);
    if (!h) return false;
    if (!h.model) return true;
    guard(h, () => h.model!.data(data));
    h.messages++;
    if (tick !== undefined) h.lastTick = tick;
    return true;
  }

  frame(f: HandlerFrame): boolean {
    const h = this.handlers.get(f.handler);
    if (!h) return false;
    if (!h.model) return true;
    guard(h, () => h.model!.frame(f));
    h.messages++;
    if (f.tick > 0) h.lastTick = f.tick;
    return true;
  }

  /** Draw what changed: the visible handler's view, every handler's status. */
  draw(): void {
    for (const h of this.handlers.values()) {
      if (!h.model) continue;
      if (h.model.warnings.length !== h.shownWarnings) {
        h.shownWarnings = h.model.warnings.length;
        h.status.textContent = h.model.warnings.join('\n');
      }
      if (!h.panel.hidden && h.view) guard(h, () => h.view!.draw());
    }
  }

  types(): string[] {
    return this.registry.names();
  }

  snapshot(id: number): unknown {
    const h = this.handlers.get(id);
    if (!h) return null;
    h.view?.draw();
    return {
      id: h.id,
      name: h.name,
      type: h.kind,
      messages: h.messages,
      warnings: h.model?.warnings.slice() ?? [],
      drawn: h.view?.snapshot() ?? null,
    };
  }
}
