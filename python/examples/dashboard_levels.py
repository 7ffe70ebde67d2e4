"""Input levels: a meter of each input channel's level in dB, and a line chart of the first channel's level over time."""
# Runs from the dashboard's editor (rill serve --allow-exec --token ...),
# or from a terminal: RILL_URL=ws://127.0.0.1:5555 python3 dashboard_levels.py
import numpy as np

import rill.browserinterface as browserinterface

meter = None
history = None
t = 0.0


def when_new_config(buffer_frames, rate, channels, volume):
    global meter, history
    print(f"input: {channels} channels at {rate} Hz, buffers of {buffer_frames} frames")
    meter = browserinterface.add_handler("Levels", "meter", {"channels": channels, "min": -80, "max": 0})
    history = browserinterface.add_handler("Level history", "line", {
        "series": [{"name": "channel 1"}], "xName": "seconds", "min": -80, "max": 0, "xLimitNb": 200})


def handle_data(buffer):
    global t
    if meter is None:
        return
    x = buffer.astype(np.float64) / 32768.0
    db = 10 * np.log10(np.mean(x * x, axis=0) + 1e-12)
    meter.send_data([float(v) for v in db])
    t += len(buffer) / browserinterface.rate
    history.send_data({"add": [{"x": [t], "y": [float(db[0])]}]})


browserinterface.register_when_new_config(when_new_config)
browserinterface.register_handle_data(handle_data)
browserinterface.start()
browserinterface.loop_callbacks()
