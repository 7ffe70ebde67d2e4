"""plot_data for rill.pybela: pybela's live plot, drawn with matplotlib.

pybela draws with a bokeh server app, and Debian 12 has no bokeh; Debian
has matplotlib (python3-matplotlib), which draws from the same data pybela's
plot reads (each variable's last streamed buffer and the ticks of its
values), on a Bela board as on a rill device, in:

  - Jupyter: an image under the cell, replaced in place every
    plot_update_delay ms by a thread of the plot's own (IPython display
    handles; no widget extension needed);
  - a script with a display: a window (matplotlib's interactive backend),
    redrawn while the script waits in the streamer's wait() (pybela's
    plot, too, only moves while its event loop runs there);
  - headless (no display, MPLBACKEND=Agg): the figure is updated in memory
    by the plot's thread; `plot.figure.savefig(...)` saves it.

Why not the dashboard's live chart: it exists only on rill devices (not on
a Bela), needs a browser, and draws what the page streams itself, not what
this Python object received.
"""

import collections
import threading
import time

import numpy as np

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
          "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#1a55FF", "#FF1A1A"]


def _in_jupyter():
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


class LivePlot:
    """One live plot: y_vars against the ticks of x_var's values, the last
    `rollover` points of each, redrawn every plot_update_delay ms."""

    def __init__(self, streamer, x_var, y_vars, y_range, plot_update_delay, rollover):
        try:
            import matplotlib
        except ImportError as e:
            raise ImportError("rill.pybela's plot_data draws with matplotlib: install it "
                              "(apt-get install python3-matplotlib)") from e
        self.matplotlib = matplotlib
        self.streamer = streamer
        self.x_var = x_var
        self.y_vars = list(y_vars)
        self.y_range = y_range
        self.delay = max(1, int(plot_update_delay)) / 1000.0
        self.rollover = int(rollover) if rollover else None
        self.points = {v: (collections.deque(maxlen=self.rollover),
                           collections.deque(maxlen=self.rollover)) for v in self.y_vars}
        self.seen = {v: None for v in self.y_vars}
        self.updates = 0
        self.mode = None
        self.figure = None
        self._stop = threading.Event()
        self._thread = None
        self._handle = None
        self._last = 0.0

    # ---- drawing --------------------------------------------------------------

    def _make_figure(self, pyplot):
        if pyplot:
            import matplotlib.pyplot as plt
            fig = plt.figure(figsize=(7, 2.8))
        else:
            from matplotlib.figure import Figure
            fig = Figure(figsize=(7, 2.8))
        ax = fig.add_subplot(1, 1, 1)
        ax.set_xlabel("timestamps")
        ax.set_ylabel("value")
        if self.y_range is not None:
            ax.set_ylim(self.y_range[0], self.y_range[1])
        self.lines = {}
        for i, v in enumerate(self.y_vars):
            (self.lines[v],) = ax.plot([], [], color=COLORS[i % len(COLORS)], label=v)
        ax.legend(loc="upper left")
        ax.margins(x=0)
        self.ax = ax
        self.figure = fig
        return fig

    def _collect(self):
        """Append what arrived since the last update: each variable's last
        streamed buffer, once, against the ticks of x_var's."""
        lsb = self.streamer.last_streamed_buffer
        xb = lsb.get(self.x_var) or {}
        xt = xb.get("timestamps")
        changed = False
        for v in self.y_vars:
            b = lsb.get(v) or {}
            data = b.get("data")
            ts = b.get("timestamps") if v != self.x_var else xt
            if data is None or ts is None or len(data) == 0 or len(ts) == 0:
                continue
            key = (int(ts[0]), len(data))
            if self.seen[v] == key:
                continue
            self.seen[v] = key
            n = min(len(data), len(ts))
            vals = np.asarray(data[:n], dtype=float) if not isinstance(data[0], bytes) \
                else np.frombuffer(b"".join(data[:n]), np.uint8).astype(float)
            xs, ys = self.points[v]
            xs.extend(np.asarray(ts[:n], dtype=float).tolist())
            ys.extend(vals.tolist())
            changed = True
        return changed

    def update(self):
        """Redraw if anything new arrived; returns whether it did."""
        if not self._collect():
            return False
        lo = hi = None
        for v in self.y_vars:
            xs, ys = self.points[v]
            self.lines[v].set_data(list(xs), list(ys))
            if xs:
                lo = xs[0] if lo is None else min(lo, xs[0])
                hi = xs[-1] if hi is None else max(hi, xs[-1])
        if lo is not None and hi is not None and hi > lo:
            self.ax.set_xlim(lo, hi)
        if self.y_range is None:
            self.ax.relim()
            self.ax.autoscale_view(scalex=False)
        self.updates += 1
        return True

    # ---- running ----------------------------------------------------------------

    def start(self):
        if _in_jupyter():
            from IPython.display import display
            self.mode = "jupyter"
            fig = self._make_figure(pyplot=False)
            self.update()
            self._handle = display(fig, display_id=True)
            self._thread = threading.Thread(target=self._run, daemon=True, name="rill-plot")
            self._thread.start()
            return
        backend = self.matplotlib.get_backend().lower()
        interactive = backend not in ("agg", "pdf", "ps", "svg", "cairo", "template") \
            and not backend.startswith("module://matplotlib_inline")
        if interactive:
            import matplotlib.pyplot as plt
            self.mode = "window"
            self._make_figure(pyplot=True)
            self.update()
            plt.show(block=False)
            plt.pause(0.001)
            return
        self.mode = "headless"
        self._make_figure(pyplot=False)
        self.update()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rill-plot")
        self._thread.start()

    def _run(self):
        while not self._stop.wait(self.delay):
            try:
                if self.update() and self.mode == "jupyter":
                    self._handle.update(self.figure)
                elif self.mode == "headless":
                    self.figure.canvas.draw() if self.figure.canvas is not None else None
            except Exception:  # a closed kernel, a closed figure
                if self._stop.is_set():
                    return

    def pump(self):
        """The script's wait(): redraw a window when due, and let it handle
        its events."""
        if self.mode != "window" or self._stop.is_set():
            return
        now = time.monotonic()
        if now - self._last >= self.delay:
            self._last = now
            self.update()
            import matplotlib.pyplot as plt
            if not plt.fignum_exists(self.figure.number):
                self.stop()
                return
            self.figure.canvas.draw_idle()
            self.figure.canvas.flush_events()

    def stop(self):
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2)
        try:
            self.streamer._plots.remove(self)
        except ValueError:
            pass
