// Where the time goes in a profile written by dashboard_bench.mjs with
// RILL_BENCH_BROWSER_PROFILE: node bench/browser/summarize.mjs FILE
//   .cpuprofile: self time per JS function (top 25)
//   .json (Chrome trace): per thread of the page's renderer, the time of
//   each event name (inclusive, so nested names overlap), top 25, in ms per
//   second of trace: wall time, and thread CPU time (tdur), which a loaded
//   machine does not inflate.
import fs from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node bench/browser/summarize.mjs FILE.cpuprofile|FILE.json');
  process.exit(2);
}
const data = JSON.parse(fs.readFileSync(file, 'utf8'));

if (file.endsWith('.cpuprofile')) {
  const byId = new Map(data.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  data.samples.forEach((id, i) => {
    const n = byId.get(id);
    const f = n.callFrame;
    const k = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}:${f.columnNumber + 1}`;
    self.set(k, (self.get(k) || 0) + data.timeDeltas[i]);
    total += data.timeDeltas[i];
  });
  console.log(`${(total / 1e6).toFixed(2)} s sampled; self time:`);
  for (const [k, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25))
    console.log(`${(t / 1000).toFixed(0).padStart(8)} ms ${((100 * t) / total).toFixed(1).padStart(5)}%  ${k}`);
} else {
  const ev = data.traceEvents || data;
  const names = new Map();
  for (const e of ev) if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, e.args.name);
  // The renderer: the process with a CrRendererMain thread and the most events.
  const count = new Map();
  for (const e of ev) if (e.ph === 'X') count.set(e.pid, (count.get(e.pid) || 0) + 1);
  const renderers = [...names].filter(([, n]) => n === 'CrRendererMain').map(([k]) => Number(k.split(':')[0]));
  const pid = renderers.sort((a, b) => (count.get(b) || 0) - (count.get(a) || 0))[0];
  let t0 = Infinity, t1 = -Infinity;
  for (const e of ev) if (e.pid === pid && e.ts) { t0 = Math.min(t0, e.ts); t1 = Math.max(t1, e.ts + (e.dur || 0)); }
  const secs = (t1 - t0) / 1e6;
  console.log(`renderer pid ${pid}, ${secs.toFixed(2)} s of trace; ms per second (inclusive, nested events overlap): wall, CPU, count per second`);
  const per = new Map();
  for (const e of ev) {
    if (e.pid !== pid || e.ph !== 'X' || !e.dur) continue;
    const th = names.get(`${e.pid}:${e.tid}`) || String(e.tid);
    if (!per.has(th)) per.set(th, new Map());
    const m = per.get(th);
    const x = m.get(e.name) || { d: 0, t: 0, n: 0 };
    x.d += e.dur;
    x.t += e.tdur || 0;
    x.n++;
    m.set(e.name, x);
  }
  const runTask = (m) => (m.get('ThreadControllerImpl::RunTask') || m.get('ThreadPool_RunTask') || { d: 0 }).d;
  for (const [th, m] of [...per].sort((a, b) => runTask(b[1]) - runTask(a[1]))) {
    const top = [...m].sort((a, b) => b[1].d - a[1].d).slice(0, th === 'CrRendererMain' ? 25 : 6);
    console.log(`-- ${th}`);
    for (const [n, x] of top)
      console.log(`${(x.d / 1000 / secs).toFixed(1).padStart(8)} ${(x.t / 1000 / secs).toFixed(1).padStart(8)} ${(x.n / secs).toFixed(0).padStart(6)}  ${n}`);
  }
}
