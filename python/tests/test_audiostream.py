"""kivy audiostream's examples (seeds/002 and its examples) on rill's engine:
the samples they should produce, read back from what the file backend
wrote, on the dummy backend (which discards output: counters only), and
through a real JACK server (`jackd --no-realtime -d dummy`) into a rill
input."""

import os
import shutil
import time
import wave

import numpy as np
import pytest

import rill.audiostream as audiostream
from rill.audiostream import (get_output, get_input, get_input_sources, AudioSample,
                              ThreadSource, SineSource)
from rill import RillError

from conftest import jack_server_named


def read_wav(path):
    with wave.open(str(path)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        return x.reshape(-1, w.getnchannels()), w.getframerate()


def first_sound(x):
    nz = np.nonzero(x.any(axis=1))[0]
    assert len(nz), "the output file is silent"
    return nz[0]


KIVY_PEAK = 0.5 * 65535 / np.pi  # audiostream's SineSource amplitude 0.5, in int16 units


def test_doc_sample_example_writes_exact_frames(tmp_path, monkeypatch):
    monkeypatch.setenv("RILL_AUDIO_BACKEND", "file")
    monkeypatch.setenv("RILL_AUDIO_DEVICE", str(tmp_path / "out.wav"))
    # --- audiostream's AudioSample example (the loop bounded) ---
    stream = get_output(channels=1, buffersize=1024, rate=22050)
    sample = AudioSample()
    stream.add_sample(sample)

    sample.play()
    for _ in range(1500):
        # audio stuff, this is not accurate.
        sample.write("\x00\x00\x00\x00\xff\xff\xff\xff")
    # ---
    assert (stream.backend, stream.rate, stream.channels, stream.encoding) == ("file", 22050, 1, 16)
    deadline = time.monotonic() + 20  # the output's pace, on a loaded machine
    while sample.stats()["frames"] < 6000 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    st = sample.stats()
    stream.close()
    assert st["frames"] == 6000, st  # 1500 writes of 4 mono frames
    x, rate = read_wav(tmp_path / "out.wav")
    assert rate == 22050
    # Mono int16 0x0000 0x0000 0xffff 0xffff: frames 0, 0, -1, -1, each
    # pattern whole and in order. Where the writer fell behind the mixer
    # (play() takes effect at once, the writes are 8 bytes each), a block
    # ends in silence, as audiostream's underrun does, and the data goes on
    # at the next block.
    y = x[:, 0]
    assert set(np.unique(y)) <= {0, -1}
    neg = np.flatnonzero(y == -1)
    assert len(neg) == 3000
    starts = neg[::2]
    assert np.array_equal(neg[1::2], starts + 1), "-1 comes in pairs"
    steps = np.diff(starts)
    resumed = starts[1:][steps != 4]
    assert np.all((resumed - 2) % 1024 == 0), (resumed, st)
    assert len(resumed) <= st["underruns"]


def test_sine_source_is_exact_and_phase_continuous(tmp_path):
    stream = get_output(channels=2, rate=22050, buffersize=128, backend="file",
                        device=str(tmp_path / "sine.wav"))
    sine = SineSource(stream, 220)

    def play_frames(n):  # by the output's clock, not ours (a loaded machine)
        end = stream.stats()["frames"] + n
        deadline = time.monotonic() + 20
        while stream.stats()["frames"] < end and time.monotonic() < deadline:
            time.sleep(0.01)

    try:
        sine.start()
        play_frames(5000)
        sine.frequency = 240  # simple_sinsource.py's step
        play_frames(6000)
        sine.stop()
    finally:
        stream.close()
    x, rate = read_wav(tmp_path / "sine.wav")
    assert np.array_equal(x[:, 0], x[:, 1]), "the same wave on every channel"
    y = x[:, 0].astype(float)
    k0 = first_sound(x) - 1  # the phase starts at 0
    n = 2000
    ref = KIVY_PEAK * np.sin(2 * np.pi * 220 * np.arange(n) / rate)
    assert np.abs(y[k0:k0 + n] - ref).max() <= 1.0
    assert abs(y.max() - KIVY_PEAK) <= 1.5
    # No jump anywhere: a step never exceeds the steepest slope of the wave.
    seg = y[k0:np.nonzero(y)[0][-1]]
    assert np.abs(np.diff(seg)).max() <= 2 * np.pi * 240 / rate * KIVY_PEAK + 2
    # The new frequency really plays at the end: zero crossings per second.
    tail = seg[-4000:]
    crossings = np.count_nonzero((tail[:-1] < 0) & (tail[1:] >= 0))
    assert abs(crossings / (len(tail) / rate) - 240) < 7, crossings


class Ramp(ThreadSource):
    """audiofile_source.py's pattern: 64-sample slices of known data."""

    def __init__(self, stream, data):
        super().__init__(stream)
        self.data, self.pos = data, 0

    def get_bytes(self):
        chunk = self.data[self.pos:self.pos + 64]
        self.pos += 64
        return chunk.tobytes()


def test_thread_source_plays_every_frame_once(tmp_path):
    stream = get_output(channels=1, rate=22050, buffersize=128, backend="file",
                        device=str(tmp_path / "ramp.wav"))
    data = (np.arange(5000) % 30000 + 1).astype("<i2")
    src = Ramp(stream, data)
    src.start()
    deadline = time.monotonic() + 10
    while not src.finished and time.monotonic() < deadline:
        time.sleep(0.02)
    assert src.finished
    src.stop()
    st, ost = src.stats(), stream.stats()
    src.start()  # a restart works (audiostream's thread cannot)
    src.stop()
    stream.close()
    x, _ = read_wav(tmp_path / "ramp.wav")
    # Every frame once, in order. The data has no zero, so silence the mixer
    # played while the Python worker was late (an underrun, on a loaded
    # machine) is told apart and left out; it is counted.
    y = x[:, 0]
    assert np.array_equal(y[y != 0], data)
    k = first_sound(x)
    gaps = np.count_nonzero(y[k:np.flatnonzero(y)[-1]] == 0)
    assert gaps == 0 or st["underruns"] > 0 or ost["xruns"] > 0, (gaps, st, ost)


def test_get_bytes_raising_ends_the_source_and_is_reported(tmp_path, caplog):
    class Bad(ThreadSource):
        def get_bytes(self):
            raise ValueError("bad generator")

    stream = get_output(channels=1, backend="dummy")
    src = Bad(stream)
    src.start()
    deadline = time.monotonic() + 5
    while not src.finished and time.monotonic() < deadline:
        time.sleep(0.02)
    assert src.finished
    assert "bad generator" in caplog.text
    src.stop()
    stream.close()


def test_dummy_backend_runs_the_examples():
    stream = get_output(channels=2, rate=22050, buffersize=1024, backend="dummy")
    sample = AudioSample()
    stream.add_sample(sample)
    sine = SineSource(stream, 440)
    sine.start()
    sample.play()
    frame = np.array([1000, -1000], "<i2").tobytes()
    for _ in range(8):
        sample.write(frame * 1024)
    sample.stop()
    with pytest.raises(RillError) as e:  # nothing drains a stopped sample:
        for _ in range(100):              # an error, not a hang
            sample.write(frame * 1024)
    assert e.value.name == "RILL_EFULL"
    st = stream.stats()
    assert st["frames"] >= 4096 and st["started"]
    stream.remove_sample(sine)
    stream.close()


def test_input_from_a_file_polls_every_frame(tmp_path):
    path = tmp_path / "in.wav"
    data = (np.arange(10000) % 2000 - 1000).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(44100)
        w.writeframes(data.tobytes())
    # --- audiostream's input example (print() for Python 3; loop bounded) ---
    got = []

    def mic_callback(buf):
        got.append(buf)

    mic = get_input(callback=mic_callback, source=f"file:{path}", realtime=False)
    mic.start()
    mic.wait(5)
    while mic.poll():
        pass
    mic.stop()
    # ---
    x = np.frombuffer(b"".join(got), "<i2")
    assert mic.rate == 44100 and mic.channels == 1
    assert np.array_equal(x, data)


def test_input_sources_are_listed():
    s = get_input_sources()
    assert s[0] == "default" and "dummy:default" in s


@pytest.fixture
def jack_server():
    # A fixed name: jackd2 reclaims a dead server's registry entry only when
    # one of the same name starts.
    with jack_server_named("rill-py", period=256) as name:
        yield name


def test_jack_thread_source_comes_back_exact_in_an_input(jack_server):
    stream = get_output(channels=1, backend="jack", device=jack_server, name="pyout",
                        connect="")
    assert stream.backend == "jack" and stream.rate == 48000
    got = []
    mic = get_input(callback=got.append, source="jack", device=jack_server, name="pyin",
                    connect="pyout:out_1", rate=48000, channels=1)
    mic.start()
    # JACK applies a new connection at a later cycle: play only once the
    # input has been running for a few periods.
    deadline = time.monotonic() + 5
    while mic.stats()["blocks"] < 8 and time.monotonic() < deadline:
        mic.poll()
        time.sleep(0.01)
    data = (np.arange(1, 9601) % 32000).astype("<i2")
    src = Ramp(stream, data)
    src.start()
    deadline = time.monotonic() + 10
    while not src.finished and time.monotonic() < deadline:
        mic.poll()  # keep the input's ring drained
        time.sleep(0.02)
    end = time.monotonic() + 0.2
    while time.monotonic() < end:
        mic.poll()
        time.sleep(0.02)
    mic.stop()
    mic.poll()
    src.stop()
    assert src.finished
    assert mic.stats()["dropped"] == 0, mic.stats()
    mic.close()
    stream.close()
    x = np.frombuffer(b"".join(got), "<i2")
    assert np.count_nonzero(x), "nothing came back"
    # Frame-exact through JACK (the data has no zero: underrun silence,
    # if the Python worker was late, is left out) ...
    y = x[x != 0]
    if not np.array_equal(y, data):
        # ... except whole periods a non-real-time jackd skipped on a loaded
        # machine: what came back is still in order, never repeated or
        # altered, and only whole 256-frame periods are missing.
        assert np.all(np.diff(y.astype(int)) >= 1), "out of order or repeated"
        assert np.all(np.isin(y, data))
        missing = len(data) - len(y)
        assert 0 < missing <= 4 * 256, missing


OSC_PATCH = """#N canvas 0 0 450 300 12;
#X obj 30 30 osc~ 440;
#X obj 30 80 *~ 0.25;
#X obj 30 130 dac~;
#X connect 0 0 1 0;
#X connect 1 0 2 0;
#X connect 1 0 2 1;
"""


def test_patch_source_plays_a_pd_patch_through_jack(jack_server, tmp_path):
    if not shutil.which("pd"):
        pytest.fail("puredata-core is in scripts/debian-packages.txt; pd is missing")
    patch = tmp_path / "osc.pd"
    patch.write_text(OSC_PATCH)
    stream = get_output(channels=2, backend="jack", device=jack_server, name="pyout",
                        connect="")
    got = []
    mic = get_input(callback=got.append, source="jack", device=jack_server, name="pyin",
                    connect="pyout:out_1", rate=48000, channels=1)
    mic.start()
    pd = audiostream.PatchSource(stream, str(patch), jack_server=jack_server)
    for attempt in range(3):
        try:
            pd.start()  # starts `pd -nogui -jack` and waits for its ports
            break
        except RillError as e:
            # On a heavily loaded machine Pd's ports can miss the engine's
            # connection deadline (RILL_EIO, "cannot connect"); try again.
            if e.name != "RILL_EIO" or attempt == 2:
                raise
            pd.stop()
    deadline = time.monotonic() + 10
    while sum(len(b) for b in got) < 2 * 48000 * 2 and time.monotonic() < deadline:
        mic.poll()
        time.sleep(0.05)
    pd.stop()
    mic.stop()
    mic.poll()
    mic.close()
    stream.close()
    x = np.frombuffer(b"".join(got), "<i2").astype(float)
    nz = np.flatnonzero(x)
    assert len(nz) > 48000, "the patch was not heard"
    seg = x[nz[0]:nz[-1]][-48000:]
    # The spectrum's peak (1 Hz bins): robust to a period a loaded,
    # non-real-time jackd may skip.
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    peak = np.argmax(spec) * 48000 / len(seg)
    assert abs(peak - 440) <= 2, peak
    assert abs(np.abs(seg).max() - 0.25 * 32768) < 0.02 * 32768
