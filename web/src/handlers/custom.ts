// Custom handler types: JavaScript modules the page loads from the server
// (`rill serve --handlers DIR`, served at /handlers/), EasyDSP's
// dataHandlers.registerNewType() as rill does it. A module registers types
// with the same model/view interface the built-in ones use:
//
//   export default function register(rill) {
//     rill.registerType('my:type', {
//       createModel(params, ctx) { return { version: 0, warnings: [], data(d) {...}, frame(f) {...} } },
//       createView(element, model, params) { return { draw() {...}, destroy() {...}, snapshot() {...} } },
//     });
//   }
//
// or, as in EasyDSP's js/myHandlers.js, with a constructor taking the
// tab's element and the parameters and returning {newData(data)}:
//
//   dataHandlers.registerNewType('customtype', function (html, parameters) {
//     return { newData(data) { ... } };
//   });
//
// (window.dataHandlers and window.rill are this same API, so a module may
// also register at its top level.) docs/HANDLERS.md has the details.

import type { HandlerFrame } from '../protocol';
import { HEAT, VIRIDIS, lutIndex } from './colormap';
import type { HandlerTypeDef, TypeRegistry } from './registry';
import { HandlerModel, HandlerView, Vec, defaultColor, isNumArray, numParam, optNum, warn } from './types';

/** EasyDSP's handler: made with (element, parameters), fed with newData. */
export type EasyDspHandler = (el: HTMLElement, params: Record<string, unknown>) => { newData(data: unknown): void; destroy?(): void };

export interface CustomApi {
  version: 1;
  registerType(name: string, def: HandlerTypeDef): void;
  registerNewType(name: string, ctor: EasyDspHandler): void;
  helpers: Record<string, unknown>;
}

/** EasyDSP's kind of handler as a model and a view: the data goes to
 * newData as it arrives (shown or not, as in EasyDSP); binary frames as
 * {tick, arg, values: number[]}. */
function easyDspType(name: string, ctor: EasyDspHandler): HandlerTypeDef {
  interface M extends HandlerModel {
    instance: ReturnType<EasyDspHandler> | null;
    queued: unknown[];
    received: unknown[];
  }
  return {
    origin: 'custom (EasyDSP style)',
    createModel(): HandlerModel {
      const m: M = {
        version: 0,
        warnings: [],
        instance: null,
        queued: [],
        received: [],
        data(d: unknown) {
          m.version++;
          if (m.received.length < 50) m.received.push(d);
          if (m.instance) m.instance.newData(d);
          else m.queued.push(d);
        },
        frame(f: HandlerFrame) {
          m.data({ tick: f.tick, arg: f.arg, replace: f.replace, values: Array.from(f.values) });
        },
      };
      return m;
    },
    createView(el, model, params): HandlerView {
      const m = model as M;
      // EasyDSP calls `new type(html, parameters)`; an arrow function
      // cannot be a constructor, so it is called instead.
      let inst: ReturnType<EasyDspHandler>;
      try {
        inst = new (ctor as unknown as new (e: HTMLElement, p: Record<string, unknown>) => ReturnType<EasyDspHandler>)(el, params);
      } catch (e) {
        if (!(e instanceof TypeError) || !/constructor/.test(e.message)) throw e;
        inst = ctor(el, params);
      }
      // A constructor that returns nothing (`this.newData = ...`) is the object itself.
      m.instance = inst && typeof inst.newData === 'function' ? inst : null;
      if (!m.instance) throw new Error(`the "${name}" handler returned no newData(data)`);
      for (const d of m.queued.splice(0)) m.instance.newData(d);
      return {
        draw() {},
        destroy() {
          m.instance?.destroy?.();
          el.textContent = '';
        },
        snapshot: () => ({ received: m.received.slice(), html: el.innerHTML.slice(0, 2000) }),
      };
    },
  };
}

/** The object modules register their types with. */
export function customApi(registry: TypeRegistry, origin: () => string): CustomApi {
  return {
    version: 1,
    registerType(name, def) {
      registry.register(name, { ...def, origin: def.origin ?? origin() });
    },
    registerNewType(name, ctor) {
      if (typeof ctor !== 'function') throw new Error(`registerNewType("${name}", fn): fn must be a function (element, parameters) returning {newData(data)}`);
      registry.register(name, { ...easyDspType(name, ctor), origin: origin() });
    },
    helpers: { warn, numParam, optNum, isNumArray, defaultColor, Vec, colormaps: { VIRIDIS, HEAT, lutIndex } },
  };
}

export interface LoadResult {
  loaded: string[];
  failed: { file: string; error: string }[];
}

/**
 * Load every module the server lists at /handlers/ (nothing when the
 * server has no --handlers directory: it answers 404). `base` is the
 * server's http(s)://host:port; `token` is added to each request, so the
 * modules load from any page origin (the Vite dev server too).
 */
export async function loadCustomHandlers(base: string, token: string | null, api: CustomApi, setOrigin: (file: string) => void): Promise<LoadResult> {
  const out: LoadResult = { loaded: [], failed: [] };
  const q = token ? `?token=${encodeURIComponent(token)}` : '';
  let files: string[];
  try {
    const r = await fetch(`${base}/handlers/${q}`, { cache: 'no-store' });
    if (r.status === 404) return out;
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const index = await r.json();
    files = (Array.isArray(index.files) ? index.files : [])
      .map((f: { name?: unknown }) => f?.name)
      .filter((n: unknown): n is string => typeof n === 'string' && /\.m?js$/.test(n))
      .sort();
  } catch (e) {
    out.failed.push({ file: '/handlers/', error: (e as Error).message });
    return out;
  }
  const g = globalThis as unknown as { rill?: CustomApi; dataHandlers?: CustomApi };
  g.rill = api;
  g.dataHandlers = api;
  for (const f of files) {
    setOrigin(f);
    try {
      const mod = await import(/* @vite-ignore */ `${base}/handlers/${encodeURIComponent(f)}${q}`);
      const reg = typeof mod.default === 'function' ? mod.default : typeof mod.register === 'function' ? mod.register : null;
      if (reg) await reg(api);
      out.loaded.push(f);
    } catch (e) {
      out.failed.push({ file: f, error: (e as Error).message });
    }
  }
  return out;
}
