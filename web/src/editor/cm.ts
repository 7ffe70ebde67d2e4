// The code editor itself: CodeMirror 6 with Python highlighting, and a
// marker for the line a traceback points at. Loaded on demand (its own
// chunk), so the dashboard's first paint does not wait for it.

import { python } from '@codemirror/lang-python';
import { EditorState, StateEffect, StateField } from '@codemirror/state';
import { Decoration, DecorationSet, keymap } from '@codemirror/view';
import { EditorView, basicSetup } from 'codemirror';

export interface CodeEditor {
  view: EditorView;
  get(): string;
  set(code: string): void;
  /** Mark a 1-based line (null clears), with a tooltip; scrolls to it. */
  markError(line: number | null, message?: string): void;
  /** The marked line, or null. */
  marked(): number | null;
}

const setError = StateEffect.define<{ line: number; message: string } | null>();

const errorField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(deco, tr) {
    deco = deco.map(tr.changes);
    for (const e of tr.effects) {
      if (!e.is(setError)) continue;
      if (e.value === null) deco = Decoration.none;
      else {
        const n = Math.min(Math.max(1, e.value.line), tr.state.doc.lines);
        const line = tr.state.doc.line(n);
        deco = Decoration.set([Decoration.line({ class: 'cm-error-line', attributes: { title: e.value.message, 'data-line': String(e.value.line) } }).range(line.from)]);
      }
    }
    return deco;
  },
  provide: (f) => EditorView.decorations.from(f),
});

export function createEditor(parent: HTMLElement, doc: string, onRun: () => void, onChange: () => void): CodeEditor {
  let markedLine: number | null = null;
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        keymap.of([
          { key: 'Mod-Enter', run: () => (onRun(), true) },
          { key: 'Mod-e', run: () => (onRun(), true), preventDefault: true },
        ]),
        basicSetup,
        python(),
        errorField,
        EditorView.updateListener.of((u) => {
          if (u.docChanged) onChange();
        }),
        EditorView.theme({ '&': { height: '320px', fontSize: '13px' }, '.cm-scroller': { overflow: 'auto' } }),
      ],
    }),
  });
  return {
    view,
    get: () => view.state.doc.toString(),
    set: (code) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: code }, effects: setError.of(null) }),
    markError(line, message = '') {
      markedLine = line;
      if (line === null) {
        view.dispatch({ effects: setError.of(null) });
        return;
      }
      const n = Math.min(Math.max(1, line), view.state.doc.lines);
      view.dispatch({ effects: [setError.of({ line, message }), EditorView.scrollIntoView(view.state.doc.line(n).from, { y: 'center' })] });
    },
    marked: () => markedLine,
  };
}
