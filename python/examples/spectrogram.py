"""A spectrogram of the first channel: one column per buffer (a Hann
window, in dB, up to 3 kHz), as EasyDSP's spectrogram example draws it,
with numpy's FFT instead of EasyDSP's `algorithms` package.

    PYTHONPATH=python python3 python/examples/spectrogram.py
"""
import numpy as np

import rill.browserinterface as browserinterface

max_freq = 3000
spectrogram = None
height = 0


def init(buffer_frames, rate, channels, volume):
    global spectrogram, height
    height = int(np.ceil(max_freq / rate * buffer_frames))
    if spectrogram is not None:
        spectrogram.remove()
    spectrogram = browserinterface.add_handler(
        "Spectrogram", "base:spectrogram",
        {"width": 200, "height": height, "min": -100, "max": 0,
         "delta_freq": rate / buffer_frames})


def handle(buffer):
    x = buffer[:, 0].astype(np.float64) / 32768.0
    w = np.hanning(len(x))
    mag = np.abs(np.fft.rfft(x * w))[:height] / (w.sum() / 2)
    spectrogram.send_data(np.round(20 * np.log10(np.maximum(mag, 1e-6)), 2))


browserinterface.register_when_new_config(init)
browserinterface.register_handle_data(handle)
browserinterface.start()
browserinterface.loop_callbacks()
