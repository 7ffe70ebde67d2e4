import 'uplot/dist/uPlot.min.css';
import './style.css';
import { App } from './app';
import { serverAddress } from './connection';
import { ExecPanel } from './exec';

const addr = serverAddress(window.location);
const app = new App(document.getElementById('app')!, addr);
// Execute / Stop (rill serve --allow-exec), below the dashboard.
const execRoot = document.createElement('div');
document.body.insertBefore(execRoot, document.getElementById('app')!.nextSibling);
new ExecPanel(execRoot, addr);
// A small hook for the browser tests (tests/web): read what is plotted and
// replay recorded server messages.
(window as unknown as { __rill: unknown }).__rill = app.testApi();
app.start();
