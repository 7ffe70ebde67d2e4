"""Input levels: the RMS of each channel of every buffer, in dBFS, on a
level meter, and their history on a line chart.

    PYTHONPATH=python python3 python/examples/levels.py
"""
import numpy as np

import rill.browserinterface as browserinterface

meter = None
history = None
seconds = 0.0


def when_config(buffer_frames, rate, channels, volume):
    global meter, history
    if meter is None:
        meter = browserinterface.add_handler(
            "Levels", "meter", {"channels": channels, "min": -60, "max": 0, "unit": "dBFS"})
        history = browserinterface.add_handler(
            "Level history", "base:graph:line",
            {"xName": "s", "min": -60, "max": 0, "xLimitNb": 200,
             "series": [{"name": f"channel {c + 1}"} for c in range(channels)]})


def handle(buffer):
    global seconds
    x = buffer.astype(np.float64) / 32768.0
    rms = np.sqrt(np.mean(x * x, axis=0))
    db = 20 * np.log10(np.maximum(rms, 1e-6))
    meter.send_data(db)
    seconds += len(buffer) / browserinterface.rate
    history.send_data({"add": [{"x": [round(seconds, 3)], "y": [float(v)]} for v in db]})


browserinterface.register_when_new_config(when_config)
browserinterface.register_handle_data(handle)
browserinterface.start()
browserinterface.loop_callbacks()
