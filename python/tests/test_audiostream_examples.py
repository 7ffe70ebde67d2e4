"""kivy audiostream's documented examples on rill.audiostream, each run as
its own program, and what they produced checked sample by sample.

The programs are audiostream's text with these changes only: the import
lines (`audiostream` becomes `rill.audiostream`), and Python 2's xrange in
its docs written as range. Which device: $RILL_AUDIO_BACKEND and
$RILL_AUDIO_DEVICE, as a user picks a device for code that names none (the
file backend: a WAV written or read; dummy: a clock). audiofile_source.py
imports librosa, which Debian 12 does not package: its load() is
standins/librosa (README there). Sources: kivy/audiostream 69f6b10,
docs/source/examples.rst, examples/simple_sinsource.py, record_mac.py and
audiofile_source.py; the AudioSample example of docs/source/api.rst is in
test_audiostream.py. The Kivy apps (sinslider, multiplesin, pdbloop, pdpad)
need Kivy and a window; pdpad's calls (PatchSource, libpd_float,
libpd_bang) are in test_audiostream.py.
"""

import os
import subprocess
import sys
import wave

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

SIMPLE_SINSOURCE = '''from time import sleep
from rill.audiostream import get_output
from rill.audiostream.sources.wave import SineSource

# get a output stream where we can play samples
stream = get_output(channels=2, rate=22050, buffersize=128)

# create one wave sin() at 220Hz, attach it to our speaker, and play
sinsource = SineSource(stream, 220)
sinsource.start()

# you can change the frequency of the source during the playtime
for x in range(20):
    sinsource.frequency = 220 + x * 20
    sleep(.1)

# ok we are done, stop everything.
sinsource.stop()
'''

# docs/source/examples.rst: its two examples, in order, as one program
# (the second uses the first's `sleep`).
DOCS_EXAMPLES = '''
from time import sleep
from rill.audiostream import get_output
from rill.audiostream.sources.wave import SineSource

# get a output stream where we can play samples
stream = get_output(channels=2, rate=22050, buffersize=1024)

# create one wave sin() at 440Hz, attach it to our speaker, and play
sinsource = SineSource(stream, 440)
sinsource.start()

# you can change the frequency of the source during the playtime
for x in range(10):
    sinsource.frequency = 440 + x
    sleep(.5)

# ok we are done, stop everything.
sinsource.stop()

from rill.audiostream import get_input

# declare a callback where we'll receive the data
def callback_mic(data):
    print('i got', len(data))

# get the microphone (or from another source if available)
mic = get_input(callback=callback_mic)
mic.start()
sleep(5)
mic.stop()
'''

RECORD_MAC = '''import time
import wave
from rill.audiostream import get_input

frames = []


def mic_callback(buf):
    print('got', len(buf))
    frames.append(buf)

# get the default audio input (mic on most cases)


mic = get_input(callback=mic_callback)
mic.start()

time.sleep(5)

mic.stop()

wf = wave.open("test.wav", 'wb')
wf.setnchannels(mic.channels)
wf.setsampwidth(2)
wf.setframerate(mic.rate)
wf.writeframes(b''.join(frames))
wf.close()
'''

AUDIOFILE_SOURCE = '''import sys
from time import sleep
import librosa
import numpy as np
from rill.audiostream import get_output
from rill.audiostream.sources.thread import ThreadSource


class MonoAmplitudeSource(ThreadSource):
    """A data source for float32 mono binary data, as loaded by libROSA/soundfile."""
    def __init__(self, stream, data, *args, **kwargs):
        super().__init__(stream, *args, **kwargs)
        self.chunksize = kwargs.get('chunksize', 64)
        self.data = data
        self.cursor = 0

    def get_bytes(self):
        chunk = self.data[self.cursor:self.cursor+self.chunksize]
        self.cursor += self.chunksize

        if not isinstance(chunk, np.ndarray):
            chunk = np.array(chunk)
        assert len(chunk.shape) == 1 and chunk.dtype == np.dtype('float32')

        # Convert to 16 bit format.
        return (chunk * 2**15).astype('int16').tobytes()


# For example purposes, load first 30 seconds only.
# Data must be mono.
data, sr = librosa.core.load(sys.argv[1], mono=True, sr=None, duration=30)

stream = get_output(channels=1, rate=sr, buffersize=1024)
source = MonoAmplitudeSource(stream, data)
source.start()

# Wait until playback has finished.
while source.cursor < len(data):
    sleep(.5)

source.stop()
'''


def run(code, tmp_path, backend, device=None, args=(), timeout=60):
    path = tmp_path / "example.py"
    path.write_text(code)
    env = dict(os.environ, RILL_AUDIO_BACKEND=backend, PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([os.path.join(HERE, ".."),
                                           os.path.join(HERE, "standins")]))
    if device is not None:
        env["RILL_AUDIO_DEVICE"] = str(device)
    r = subprocess.run([sys.executable, str(path), *map(str, args)], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "Traceback" not in r.stderr and "exception" not in r.stderr, r.stderr[-3000:]
    return r.stdout.splitlines()


def read_wav(path):
    with wave.open(str(path)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        return x.reshape(-1, w.getnchannels()), w.getframerate()


def sine(f, n0, n, rate=22050, amplitude=0.5):
    i = np.arange(n0, n0 + n)
    return np.trunc(65535 / np.pi * amplitude *
                    np.sin(2 * np.pi * ((i * f) % rate) / rate)).astype(np.int64)


def split_sines(y, freqs, rate, block):
    """What a SineSource played, as (start, frequency) stretches: each is
    sine(f) from phase 0, and a new one starts only at an upward zero
    crossing of the old (its last value <= 0, its next > 0). Silence up to
    the end of an output block is an underrun (returned, to be checked
    against the source's count)."""
    stretches, underruns = [(0, freqs[0])], 0
    i, n, f = 0, 0, freqs[0]
    while i < len(y):
        run_ = min(len(y) - i, 4096)
        want = sine(f, n, run_, rate)
        bad = np.flatnonzero(y[i:i + run_] != want)
        if len(bad) == 0:
            i, n = i + run_, n + run_
            continue
        i, n = i + bad[0], n + bad[0]
        old_next = sine(f, n, 1, rate)[0]
        new = [g for g in freqs if g >= f and i > 0 and y[i - 1] <= 0 < old_next and
               np.array_equal(y[i:i + 40], sine(g, 0, len(y[i:i + 40]), rate))]
        if new:
            f, n = new[0], 0
            stretches.append((i, f))
            continue
        end = (i // block + 1) * block
        assert y[i] == 0 and not np.any(y[i:end]), (
            f"sample {i}: {y[max(0, i - 3):i + 3]} is neither sine({f}) nor a new "
            f"wave at a crossing nor an underrun")
        underruns += 1
        i = end
    return stretches, underruns


def test_simple_sinsource_plays_its_twenty_steps_at_upward_crossings(tmp_path):
    run(SIMPLE_SINSOURCE, tmp_path, "file", tmp_path / "out.wav")
    x, rate = read_wav(tmp_path / "out.wav")
    assert rate == 22050 and x.shape[1] == 2
    assert np.array_equal(x[:, 0], x[:, 1]), "the same wave on both channels"
    nz = np.flatnonzero(x[:, 0])
    y = x[nz[0] - 1:nz[-1] + 1, 0].astype(np.int64)  # from phase 0 to the stop
    freqs = [220 + 20 * k for k in range(20)]
    # The output's blocks are 128 frames from the file's start.
    stretches, underruns = split_sines(y, freqs, rate, 128)
    got = [f for _, f in stretches]
    # Every step (220 itself again first) in order, each from an upward
    # crossing; 0.1 s apart (2205 samples) as the program's sleep(.1) makes
    # them, give or take a period and the sleeps' lateness on a loaded
    # machine (the median is within 10 %). The
    # thread writes up to the sample's ring ahead (16 KiB, 186 ms here), so
    # stop(), 0.1 s after the last step, may cut the last one or two before
    # they play, as audiostream's 16 KiB queue does.
    assert got == ([220] + freqs)[:len(got)] and len(got) >= 19, got
    # (From 240 on: the thread filled the ring before the first step.)
    gaps = np.diff([s for s, _ in stretches[2:]])
    assert np.all((gaps > 1000) & (gaps < 3 * 2205)) and \
        abs(np.median(gaps) - 2205) < 220, gaps
    assert y.max() == int(0.5 * 65535 / np.pi)  # audiostream's level, -10 dBFS
    assert underruns <= 1, underruns  # the first block may come before the thread


def test_docs_examples_play_a_sine_then_get_the_microphone_without_poll(tmp_path):
    lines = run(DOCS_EXAMPLES, tmp_path, "dummy")
    # The dummy input: 44.1 kHz mono, blocks of its 256 frames (-1: the
    # device's), for about 5 s, delivered with no poll() (as on iOS).
    assert set(lines) == {"i got 512"}, set(lines)
    assert 4.5 * 44100 / 256 <= len(lines) <= 5.5 * 44100 / 256, len(lines)


def test_record_mac_records_the_input_file_exactly(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.integers(-32768, 32767, (2 * 44100 + 123, 2), dtype=np.int16)
    with wave.open(str(tmp_path / "in.wav"), "wb") as w:
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(44100)
        w.writeframes(data.astype("<i2").tobytes())
    lines = run(RECORD_MAC, tmp_path, "file", tmp_path / "in.wav")
    x, rate = read_wav(tmp_path / "test.wav")
    # The input has the file's rate and channels; 2 s of it, all delivered
    # within the 5 s, in order, nothing lost or repeated.
    assert rate == 44100 and x.shape[1] == 2
    assert np.array_equal(x, data)
    assert lines and all(x.startswith("got ") for x in lines)
    assert sum(int(x.split()[1]) for x in lines) == data.nbytes


def test_audiofile_source_plays_the_file_in_order(tmp_path):
    data = (np.arange(2 * 22050) % 30000 + 1).astype(np.int16)  # 2 s, no zero
    with wave.open(str(tmp_path / "in.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(22050)
        w.writeframes(data.astype("<i2").tobytes())
    run(AUDIOFILE_SOURCE, tmp_path, "file", tmp_path / "out.wav", args=[tmp_path / "in.wav"])
    x, rate = read_wav(tmp_path / "out.wav")
    assert rate == 22050 and x.shape[1] == 1
    y = x[:, 0]
    played = y[y != 0]  # underrun silence (a late Python thread) left out
    # In order, exactly; the example stops once its cursor passed the end,
    # which may cut what was still queued (its sample's ring, 8192 frames).
    assert np.array_equal(played, data[:len(played)])
    assert len(played) >= len(data) - 8192, len(played)
