import { describe, expect, it } from 'vitest';
import { customApi } from '../src/handlers/custom';
import { HandlerManager } from '../src/handlers/registry';
import { decodeHandlerFrame } from '../src/protocol';
import { encodeHandlerFrame } from './encode';

function manager() {
  const tabs = document.createElement('nav');
  const panels = document.createElement('main');
  return new HandlerManager(tabs, panels);
}

describe('custom handler types', () => {
  it("registerType: the built-in types' model/view interface; data and frames reach the model, the view draws it", () => {
    const hm = manager();
    const api = customApi(hm.registry, () => 'test.js');
    const drawn: number[] = [];
    api.registerType('counter', {
      createModel: (params) => ({
        version: 0,
        warnings: [],
        total: Number(params.start ?? 0),
        data(d: unknown) {
          (this as any).total += Number(d);
          this.version++;
        },
        frame(f) {
          for (const v of f.values) (this as any).total += v;
          this.version++;
        },
      }),
      createView: (el, model) => ({
        draw: () => {
          drawn.push((model as any).total);
          el.textContent = String((model as any).total);
        },
        destroy: () => {},
        snapshot: () => ({ total: (model as any).total }),
      }),
    });
    expect(hm.types()).toContain('counter');
    const h = hm.create({ id: 1, name: 'Count', type: 'counter', params: { start: 10 } });
    expect(h.kind).toBe('counter');
    hm.data(1, 5);
    hm.frame(decodeHandlerFrame(encodeHandlerFrame({ handler: 1, values: [1, 2] })));
    h.panel.hidden = false;
    hm.draw();
    expect(drawn).toEqual([18]);
    expect((hm.snapshot(1) as any).drawn).toEqual({ total: 18 });
  });

  it("registerNewType: EasyDSP's (element, parameters) -> {newData} handlers, as constructors or plain functions", () => {
    const hm = manager();
    const api = customApi(hm.registry, () => 'myHandlers.js');
    // EasyDSP's documented example, without jQuery.
    function myDataHandler(this: unknown, html: HTMLElement, parameters: Record<string, unknown>) {
      html.append(JSON.stringify(parameters));
      return { newData: (data: unknown) => html.append(`|${JSON.stringify(data)}`) };
    }
    api.registerNewType('customtype', myDataHandler as any);
    api.registerNewType('arrow', (html) => ({ newData: (d) => html.append(`<${String(d)}>`) }));
    const a = hm.create({ id: 2, name: 'Custom thing', type: 'customtype', params: { param2: 'hello' } });
    hm.data(2, { newData: { i: 1 } });
    hm.data(2, ['an', 'array']);
    expect(a.panel.textContent).toContain('{"param2":"hello"}|{"newData":{"i":1}}|["an","array"]');
    const b = hm.create({ id: 3, name: 'Arrow', type: 'arrow', params: {} });
    hm.data(3, 7);
    expect(b.panel.textContent).toContain('<7>');
  });

  it('a name taken is refused; a type that throws is reported in its tab, the page goes on', () => {
    const hm = manager();
    const api = customApi(hm.registry, () => 'bad.js');
    expect(() => api.registerNewType('line', () => ({ newData() {} }))).toThrow(/"line" exists already \(built-in\)/);
    expect(() => api.registerType('nothing', {} as any)).toThrow(/createModel/);
    api.registerNewType('boom', () => {
      throw new Error('broken handler');
    });
    const h = hm.create({ id: 4, name: 'Boom', type: 'boom', params: {} });
    expect(h.status.textContent).toBe('handler type "boom" failed: broken handler');
    // Its data are taken unseen: the tab says why, the page's error line
    // does not repeat it as an unknown handler.
    expect(hm.data(4, 1)).toBe(true);
    expect(h.status.textContent).toBe('handler type "boom" failed: broken handler');
    expect(hm.data(99, 1)).toBe(false);
    api.registerNewType('flaky', () => ({
      newData() {
        throw new Error('bad data');
      },
    }));
    hm.create({ id: 5, name: 'Flaky', type: 'flaky', params: {} });
    expect(hm.data(5, 1)).toBe(true);
    hm.draw();
    expect(hm.handlers.get(5)!.status.textContent).toBe('error: bad data');
  });
});
