import 'uplot/dist/uPlot.min.css';
import './style.css';
import { App } from './app';
import { serverAddress } from './connection';

const app = new App(document.getElementById('app')!, serverAddress(window.location));
// A small hook for the browser tests (tests/web): read what is plotted and
// replay recorded server messages.
(window as unknown as { __rill: unknown }).__rill = app.testApi();
app.start();
