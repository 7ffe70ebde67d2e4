"""load(): a 16-bit WAV as float32 samples in [-1, 1) and its rate."""

import wave

import numpy as np


def load(path, mono=True, sr=None, duration=None):
    if sr is not None:
        raise NotImplementedError("this stand-in does not resample (sr=None only)")
    with wave.open(str(path)) as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: 16-bit WAV only")
        rate, ch = w.getframerate(), w.getnchannels()
        n = w.getnframes()
        if duration is not None:
            n = min(n, int(duration * rate))
        x = np.frombuffer(w.readframes(n), "<i2").reshape(-1, ch)
    y = x.astype(np.float32) / 32768.0
    return (y.mean(axis=1, dtype=np.float32) if mono else y.T), rate
