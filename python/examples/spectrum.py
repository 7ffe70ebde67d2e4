"""The magnitude spectrum of the first channel, every buffer (a Hann
window, in dB), on a line chart: EasyDSP's "DFT" example with numpy only.

    PYTHONPATH=python python3 python/examples/spectrum.py
"""
import numpy as np

import rill.browserinterface as browserinterface

chart = browserinterface.add_handler(
    "Spectrum", "base:graph:line",
    {"xName": "Hz", "min": -120, "max": 0, "series": [{"name": "channel 1", "color": "steelblue"}]})


def handle(buffer):
    x = buffer[:, 0].astype(np.float64) / 32768.0
    w = np.hanning(len(x))
    mag = np.abs(np.fft.rfft(x * w)) / (w.sum() / 2)
    db = 20 * np.log10(np.maximum(mag, 1e-6))
    freq = np.fft.rfftfreq(len(x), 1.0 / browserinterface.rate)
    step = max(1, len(freq) // 256)  # a few hundred points are enough to see
    chart.send_data({"replace": [{"x": np.round(freq[::step], 1), "y": np.round(db[::step], 2)}]})


browserinterface.register_handle_data(handle)
browserinterface.start()
browserinterface.loop_callbacks()
