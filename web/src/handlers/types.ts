// What every data handler is made of: a model (the data and its
// semantics: add / replace / append; no DOM, unit-tested) and a view (draws
// the model into a tab, only when the tab is visible and the model changed).

import type { HandlerFrame } from '../protocol';

export interface HandlerModel {
  /** JSON data from a handler-data message. */
  data(d: unknown): void;
  /** A binary handler frame. */
  frame(f: HandlerFrame): void;
  /** Bumped on every change. */
  version: number;
  /** Problems with data received (shown in the tab, never thrown). */
  warnings: string[];
}

export interface HandlerView {
  draw(): void;
  destroy(): void;
  /** What is drawn, for tests: plain numbers. */
  snapshot(): unknown;
}

export function warn(model: HandlerModel, msg: string): void {
  if (model.warnings.length >= 20) model.warnings.shift();
  model.warnings.push(msg);
}

export function isNumArray(a: unknown): a is number[] {
  return Array.isArray(a) && a.every((v) => typeof v === 'number' || v === null);
}

export function numParam(p: Record<string, unknown>, key: string, dflt: number): number {
  const v = p[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : dflt;
}

/** A value that may be given or not; 0 counts as given (EasyDSP ignored it). */
export function optNum(p: Record<string, unknown>, key: string): number | undefined {
  const v = p[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Growable float64 array. */
export class Vec {
  a = new Float64Array(16);
  n = 0;
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  clear(): void {
    this.n = 0;
  }
  view(): Float64Array {
    return this.a.subarray(0, this.n);
  }
  /** Keep the elements where keep(i) is true, in order. */
  filter(keep: (i: number) => boolean): void {
    let w = 0;
    for (let r = 0; r < this.n; r++) if (keep(r)) this.a[w++] = this.a[r];
    this.n = w;
  }
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

export function defaultColor(i: number): string {
  return PALETTE[i % PALETTE.length];
}
