"""Spectrogram: the first input channel's spectrum over time, in dB (EasyDSP's spectrogram example, with numpy's FFT)."""
import numpy as np

import rill.browserinterface as browserinterface

FFT_SIZE = 512
spectrogram = None
window = np.hanning(FFT_SIZE)


def when_new_config(buffer_frames, rate, channels, volume):
    global spectrogram
    bins = FFT_SIZE // 2 + 1
    spectrogram = browserinterface.add_handler("Spectrogram", "base:spectrogram", {
        "width": 300, "height": bins, "min": -120, "max": 0, "delta_freq": rate / FFT_SIZE})
    print(f"spectrogram of {bins} bins, {rate / FFT_SIZE:.1f} Hz each")


def handle_data(buffer):
    if spectrogram is None:
        return
    x = buffer[:, 0].astype(np.float64) / 32768.0
    for start in range(0, len(x) - FFT_SIZE + 1, FFT_SIZE):
        spectrum = np.abs(np.fft.rfft(x[start:start + FFT_SIZE] * window)) * 2 / window.sum()
        spectrogram.send_data((20 * np.log10(spectrum + 1e-12)).tolist())


browserinterface.register_when_new_config(when_new_config)
browserinterface.register_handle_data(handle_data)
browserinterface.start()
browserinterface.loop_callbacks()
