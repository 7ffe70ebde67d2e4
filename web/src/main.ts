import 'uplot/dist/uPlot.min.css';
import './style.css';
import { App } from './app';
import { serverAddress } from './connection';
import { ExecPanel } from './exec';
import { customApi, loadCustomHandlers } from './handlers/custom';
import { WorkerPainter } from './scope/painter';
import { testApi } from './testapi';

const addr = serverAddress(window.location);
// The socket and its decoding run in a worker (datalink.worker.ts);
// ?worker=0 keeps them on the main thread (for comparing the two).
const useWorker = typeof Worker !== 'undefined' && new URLSearchParams(window.location.search).get('worker') !== '0';
const makeWorker = useWorker ? () => new Worker(new URL('./datalink.worker.ts', import.meta.url), { type: 'module' }) : null;
const app = new App(document.getElementById('app')!, addr, makeWorker);
// The charts' plot canvases are painted in a worker (scope/paint.worker.ts)
// where OffscreenCanvas is available; ?paint=main keeps them here.
if (WorkerPainter.available() && new URLSearchParams(window.location.search).get('paint') !== 'main')
  app.charts.painter = new WorkerPainter(new Worker(new URL('./scope/paint.worker.ts', import.meta.url), { type: 'module' }));
// ?buffers=N: dense variables arrive in buffers of at least N a second.
const perSecond = Number(new URLSearchParams(window.location.search).get('buffers'));
if (perSecond > 0) app.streams.buffersPerSecond = perSecond;

// Custom handler types (rill serve --handlers DIR) load before the page
// subscribes to the handlers, so no handler arrives before its type.
let origin = '';
const api = customApi(app.handlers.registry, () => `custom: ${origin}`);
app.session.beforeSubscribe = loadCustomHandlers(addr.base.replace(/^ws/, 'http'), addr.token, api, (f) => (origin = f)).then((r) => {
  if (r.failed.length) app.lastError = `custom handlers: ${r.failed.map((f) => `${f.file}: ${f.error}`).join('; ')}`;
  return r;
});

// Execute / Stop (rill serve --allow-exec), below the dashboard.
const execRoot = document.createElement('div');
document.body.insertBefore(execRoot, document.getElementById('app')!.nextSibling);
const editor = new ExecPanel(execRoot, addr);
// A small hook for the browser tests (tests/web): read what is plotted and
// replay recorded server messages.
(window as unknown as { __rill: unknown }).__rill = {
  ...testApi(app),
  editor: {
    ready: () => editor.ready$.then(() => true),
    code: (text?: string) => editor.code(text),
    markedLine: () => editor.markedLine(),
    lastError: () => editor.lastError,
    examples: () => editor.refreshExamples(),
    load: (file: string) => editor.loadExample(file),
  },
};
app.start();
