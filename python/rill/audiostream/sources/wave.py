"""audiostream.sources.wave: SineSource.

    sinsource = SineSource(stream, 220)
    sinsource.start()
    sinsource.frequency = 240      # takes over at the next upward zero crossing
    sinsource.stop()

As audiostream's: a ThreadSource whose get_bytes() returns `chunksize`
bytes (default 64) of 16-bit samples from the generator sine(), the same
wave on every channel, amplitude 0.5 peaking at 65535/pi * 0.5 (about
10430, -10 dBFS); a new frequency takes over at the first upward zero
crossing, from phase 0. Differences, fixes of audiostream's defects: sine()
has the exact frequency (audiostream's restarts its phase every
int(rate/frequency) samples, so the pitch is rate/int(rate/frequency) with a
jump each period; its crossing is where that restart puts an exact 0, rill's
where the last value is <= 0 and the next > 0);
the amplitude is clamped to 0..1 before use; `chunksize` may be given; any
number of channels; a zero crossing across two chunks counts; a stream of
another encoding gets the 16-bit samples converted.

SineSource(stream, f, engine=True): rill's engine computes the sine on the
audio thread instead (exact, phase-continuous at every change, no Python in
the loop); the thread only waits for stop().
"""

import math

import numpy as np

from ..core import AudioSample, _EngineSine
from .thread import ThreadSource

__all__ = ("SineSource",)


class SineSource(ThreadSource):

    def __init__(self, stream, frequency, *args, **kwargs):
        self._engine = bool(kwargs.pop("engine", False))
        self._amplitude = float(kwargs.pop("amplitude", 0.5))
        self._freq = float(frequency)
        ThreadSource.__init__(self, stream, *args, **kwargs)
        self.chunksize = int(kwargs.get("chunksize", 64))
        if self.chunksize < 2:
            raise ValueError(f"SineSource: chunksize is in bytes, at least 2, "
                             f"not {self.chunksize}")
        self.next_gen = None
        self.gen = self.sine(frequency=self._freq, amplitude=self._amplitude)
        self._last = None

    def _make_sample(self, stream, **kwargs):
        if self._engine:
            return _EngineSine(self._freq, self._amplitude)
        return AudioSample(encoding=16)  # sine() is 16-bit whatever the output

    def __set_freq__(self, freq):
        self._freq = float(freq)
        if self._engine:
            self.sample.set(self._freq, self._amplitude)
        else:
            self.next_gen = self.sine(frequency=self._freq, amplitude=self._amplitude)

    def __get_freq__(self):
        return self._freq

    frequency = property(__get_freq__, __set_freq__)

    def sine(self, frequency=440.0, amplitude=0.5):
        """The 16-bit samples of a sine at `rate`, from phase 0, for ever."""
        amplitude = max(0.0, min(1.0, float(amplitude)))
        af = 65535 / math.pi * amplitude
        rate, f = float(self.rate), float(frequency)
        i = 0
        while True:
            # The phase as an exact fraction of the rate, so it never drifts.
            yield int(af * math.sin(2 * math.pi * ((i * f) % rate) / rate))
            i += 1

    def get_bytes(self):
        n = max(1, self.chunksize // (2 * self.channels))
        vals = [0] * n
        gen, nxt, last = self.gen, self.next_gen, self._last
        for k in range(n):
            v = next(gen)
            if nxt is not None and last is not None and last <= 0 and v > 0:
                self.gen = gen = nxt
                self.next_gen = nxt = None
                v = next(gen)
            vals[k] = last = v
        self._last = last
        return np.repeat(np.array(vals, np.int16), self.channels).tobytes()

    def run(self):
        if self._engine:
            self._halt.wait()
        else:
            ThreadSource.run(self)
