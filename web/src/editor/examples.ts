// The editor's examples: the scripts `rill serve` lists at /examples/
// (python/examples by default, --examples DIR). As in EasyDSP, a list.json
// of {name, description, file} there names and orders them; scripts it
// does not mention follow, named by file.

import { describeScript } from './traceback';

export interface Example {
  file: string;
  name: string;
  description: string;
}

export function exampleUrl(base: string, token: string | null, file = ''): string {
  return `${base}/examples/${encodeURIComponent(file)}${token ? `?token=${encodeURIComponent(token)}` : ''}`;
}

/** The examples list (empty when the server has none). */
export async function listExamples(base: string, token: string | null): Promise<Example[]> {
  const r = await fetch(exampleUrl(base, token), { cache: 'no-store' });
  if (!r.ok) throw new Error(`/examples/: HTTP ${r.status}`);
  const index = await r.json();
  const files: string[] = (Array.isArray(index.files) ? index.files : []).map((f: { name?: unknown }) => String(f?.name ?? ''));
  const scripts = files.filter((f) => f.endsWith('.py'));
  const out: Example[] = [];
  if (files.includes('list.json')) {
    try {
      const lr = await fetch(exampleUrl(base, token, 'list.json'), { cache: 'no-store' });
      const list = await lr.json();
      if (Array.isArray(list))
        for (const e of list) {
          const file = typeof e?.file === 'string' ? e.file : '';
          if (!scripts.includes(file) || out.some((x) => x.file === file)) continue;
          out.push({ file, name: typeof e.name === 'string' ? e.name : file, description: typeof e.description === 'string' ? e.description : '' });
        }
    } catch {
      // A broken list.json: the files by name, below.
    }
  }
  for (const f of scripts) if (!out.some((x) => x.file === f)) out.push({ file: f, name: f, description: '' });
  return out;
}

export async function loadExample(base: string, token: string | null, file: string): Promise<{ code: string; description: string }> {
  const r = await fetch(exampleUrl(base, token, file), { cache: 'no-store' });
  if (!r.ok) throw new Error(`${file}: HTTP ${r.status}`);
  const code = await r.text();
  return { code, description: describeScript(code) };
}
