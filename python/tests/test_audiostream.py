"""kivy audiostream's API on rill's engine: the module layout, samples,
ThreadSource and SineSource as audiostream defines them (read back from
what the file backend wrote), the input's deliveries, buffer sizes and
argument checks, a JACK round trip through a real `jackd -d dummy`, and
PatchSource with a real Pd, driven by messages. audiostream's documented
examples, as programs: test_audiostream_examples.py."""

import importlib
import shutil
import threading
import time
import wave

import numpy as np
import pytest

import rill.audiostream as audiostream
from rill.audiostream import (get_output, get_input, get_input_sources, AudioSample,
                              AudioException)
from rill.audiostream.sources.thread import ThreadSource
from rill.audiostream.sources.wave import SineSource
from rill.audiostream.sources.puredata import PatchSource, libpd_float, libpd_bang
from rill import RillError

from conftest import jack_server_named


def read_wav(path):
    with wave.open(str(path)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        return x.reshape(-1, w.getnchannels()), w.getframerate()


def write_wav(path, data, rate=44100, channels=1):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(np.asarray(data, "<i2").tobytes())


def first_sound(x):
    nz = np.nonzero(x.any(axis=1))[0]
    assert len(nz), "the output file is silent"
    return nz[0]


def play_frames(stream, n):
    """Wait until the output has played n more frames (its clock, not ours)."""
    end = stream.stats()["frames"] + n
    deadline = time.monotonic() + 20
    while stream.stats()["frames"] < end and time.monotonic() < deadline:
        time.sleep(0.01)


KIVY_PEAK = 0.5 * 65535 / np.pi  # audiostream's SineSource amplitude 0.5, in int16 units


# ---- Layout ---------------------------------------------------------------------


def test_the_modules_are_laid_out_as_audiostreams():
    core = importlib.import_module("rill.audiostream.core")
    assert audiostream.__version__ == (0, 2)
    assert set(audiostream.__all__) == {"get_output", "get_input", "get_input_sources",
                                        "AudioOutput", "AudioInput", "AudioSample",
                                        "AudioException"}
    for name in audiostream.__all__:
        assert getattr(audiostream, name) is getattr(core, name)
    # The sources where audiostream has them, and from the package as before.
    assert audiostream.ThreadSource is ThreadSource
    assert audiostream.SineSource is SineSource and issubclass(SineSource, ThreadSource)
    assert audiostream.PatchSource is PatchSource and issubclass(PatchSource, ThreadSource)
    assert issubclass(ThreadSource, threading.Thread)
    assert issubclass(AudioException, RillError)


# ---- Output and samples -----------------------------------------------------------


def test_a_write_of_part_of_a_frame_or_not_of_bytes_says_what_is_wrong(tmp_path):
    stream = get_output(channels=2, buffersize=256, rate=48000, backend="file",
                        device=str(tmp_path / "out.wav"))
    sample = AudioSample()
    stream.add_sample(sample)
    for chunk, n in ((b"\x00", "1 byte,"), (np.zeros(7, np.int16), "14 bytes,")):
        with pytest.raises(RillError, match=n + r" not a whole number of frames: "
                           r"a frame is 4 bytes \(2 channels of s16\); nothing written"):
            sample.write(chunk)
    with pytest.raises(TypeError, match=r"AudioSample.write takes bytes.*not float"):
        sample.write(3.5)
    # A strided view (two channels of a 4-column array) is written as its
    # values, frame by frame: nothing else reached the sample before it.
    frames = np.arange(1, 17, dtype=np.int16).reshape(4, 4)[:, :2]
    sample.write(frames)
    sample.play()
    deadline = time.monotonic() + 20
    while sample.stats()["frames"] < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    stream.close()
    x, _ = read_wav(tmp_path / "out.wav")
    start = first_sound(x)
    assert x[start:start + 4].tolist() == frames.tolist()
    assert not x[start + 4:].any()


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


def test_output_arguments_are_checked_and_properties_read_only():
    for kw, err, words in (({"encoding": 24}, ValueError, "encoding must be 8 or 16"),
                           ({"channels": 0}, ValueError, "channels must be at least 1"),
                           ({"buffersize": -1}, ValueError, "buffersize must be at least 0"),
                           ({"rate": 44100.5}, TypeError, "rate must be an integer"),
                           ({"bogus": 1}, TypeError, "unknown option 'bogus'")):
        with pytest.raises(err, match=words):
            get_output(backend="dummy", **kw)
    stream = get_output(channels=1, rate=22050, buffersize=256, encoding=8, backend="dummy")
    assert (stream.rate, stream.channels, stream.buffersize, stream.encoding) == \
        (22050, 1, 256, 8)
    for name in ("rate", "channels", "buffersize", "encoding"):
        with pytest.raises(AttributeError):
            setattr(stream, name, 1)
    stream.close()


def test_a_stopped_sample_that_nothing_drains_is_an_error_not_a_hang():
    stream = get_output(channels=2, rate=22050, buffersize=1024, backend="dummy")
    sample = AudioSample()
    stream.add_sample(sample)
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
    stream.remove_sample(sample)
    stream.close()


def test_wait_for_an_end_that_cannot_come_raises_instead_of_hanging(ramp_wav):
    stream = get_output(channels=1, rate=22050, buffersize=256, backend="dummy")
    t0 = time.monotonic()
    with pytest.raises(AudioException, match="never ends by itself.*wait with a timeout"):
        stream.wait()            # no max_frames: it would never return
    assert time.monotonic() - t0 < 1
    assert stream.wait(0.05) is False
    stream.close()
    with pytest.raises(AudioException, match="closed"):
        stream.wait()
    path, _ = ramp_wav
    mic = get_input(callback=lambda b: None, source=f"file:{path}", delivery="thread")
    with pytest.raises(AudioException, match="not running.*start it"):
        mic.wait()
    mic.start()
    assert mic.wait(5) is True
    mic.close()


# ---- ThreadSource -------------------------------------------------------------------


class Ramp(ThreadSource):
    """audiofile_source.py's pattern: 64-sample slices of known data, then
    b"" for ever (audiostream's loop does not end)."""

    def __init__(self, stream, data, *args, **kwargs):
        super().__init__(stream, *args, **kwargs)
        self.data, self.pos, self.calls = data, 0, 0

    def get_bytes(self):
        self.calls += 1
        chunk = self.data[self.pos:self.pos + 64]
        self.pos += 64
        return chunk.tobytes()


def test_thread_source_is_a_daemon_thread_that_plays_every_frame_once(tmp_path):
    stream = get_output(channels=1, rate=22050, buffersize=128, backend="file",
                        device=str(tmp_path / "ramp.wav"))
    data = (np.arange(5000) % 30000 + 1).astype("<i2")
    src = Ramp(stream, data)
    assert isinstance(src, threading.Thread) and src.daemon and not src.is_alive()
    assert (src.buffersize, src.channels, src.rate) == (128, 1, 22050)
    assert isinstance(src.sample, AudioSample) and src.sample in stream._samples
    src.start()
    deadline = time.monotonic() + 10
    while src.sample.stats()["frames"] < len(data) and time.monotonic() < deadline:
        time.sleep(0.02)
    # b"" did not end it, nor made it spin: it asks about once a buffer.
    calls = src.calls
    time.sleep(0.3)
    assert src.is_alive()
    assert src.calls - calls < 0.3 / (128 / 22050) * 2 + 10, src.calls - calls
    st, ost = src.sample.stats(), stream.stats()
    src.stop()
    src.join(5)
    assert not src.is_alive()
    with pytest.raises(RuntimeError, match="starts once"):
        src.start()
    stream.close()
    x, _ = read_wav(tmp_path / "ramp.wav")
    # Every frame once, in order. The data has no zero, so silence the mixer
    # played while the Python thread was late (an underrun, on a loaded
    # machine) is told apart and left out; it is counted.
    y = x[:, 0]
    assert np.array_equal(y[y != 0], data)
    k = first_sound(x)
    gaps = np.count_nonzero(y[k:np.flatnonzero(y)[-1]] == 0)
    assert gaps == 0 or st["underruns"] > 0 or ost["xruns"] > 0, (gaps, st, ost)


def test_thread_source_keeps_partial_frames_for_the_next_chunk(tmp_path):
    class Odd(ThreadSource):  # 3 bytes at a time: never a whole stereo frame
        def __init__(self, stream, data):
            super().__init__(stream)
            self.raw, self.pos = data.tobytes(), 0

        def get_bytes(self):
            chunk = self.raw[self.pos:self.pos + 3]
            self.pos += 3
            return chunk

    stream = get_output(channels=2, rate=22050, buffersize=128, backend="file",
                        device=str(tmp_path / "odd.wav"))
    data = (np.arange(2 * 3000) % 20000 + 1).astype("<i2")
    src = Odd(stream, data)
    src.start()
    deadline = time.monotonic() + 10
    while src.sample.stats()["frames"] < 3000 and time.monotonic() < deadline:
        time.sleep(0.02)
    src.stop()
    stream.close()
    x, _ = read_wav(tmp_path / "odd.wav")
    y = x[x.any(axis=1)]
    assert np.array_equal(y.reshape(-1), data)


def test_get_bytes_raising_ends_the_source_and_is_reported(caplog):
    class Bad(ThreadSource):
        def get_bytes(self):
            raise ValueError("bad generator")

    stream = get_output(channels=1, backend="dummy")
    src = Bad(stream)
    src.start()
    src.join(5)
    assert not src.is_alive()
    assert "bad generator" in caplog.text and "Bad.get_bytes" in caplog.text
    src.stop()
    stream.close()


def test_closing_the_output_ends_its_thread_sources():
    stream = get_output(channels=1, rate=22050, buffersize=128, backend="dummy")

    class Loud(ThreadSource):
        def get_bytes(self):
            return b"\x00\x40" * 256

    src = Loud(stream)
    src.start()
    time.sleep(0.2)  # its ring is full: it waits in write
    stream.close()
    src.join(5)
    assert not src.is_alive()


# ---- SineSource ----------------------------------------------------------------------


def sine_values(f, n, rate, amplitude=0.5):
    i = np.arange(n)
    return np.trunc(65535 / np.pi * amplitude *
                    np.sin(2 * np.pi * ((i * f) % rate) / rate)).astype(int)


def test_sine_generator_and_chunks_are_audiostreams_with_an_exact_frequency():
    stream = get_output(channels=2, rate=22050, buffersize=128, backend="dummy")
    src = SineSource(stream, 220)
    assert src.chunksize == 64 and src.frequency == 220
    # audiostream's sine(): trunc((65535/pi) * amplitude * sin(...)), here
    # without its restart every int(rate/f) samples (rate/f = 100.227...).
    g = src.sine(frequency=220)
    assert [next(g) for _ in range(3000)] == sine_values(220, 3000, 22050).tolist()
    loud = src.sine(frequency=220, amplitude=3)  # clamped to 1 before use
    assert max(next(loud) for _ in range(200)) == int(65535 / np.pi)
    # get_bytes: 64 bytes of 16-bit stereo, the same wave on both channels.
    b = np.frombuffer(src.get_bytes() + src.get_bytes(), "<i2").reshape(-1, 2)
    assert b.shape == (32, 2) and np.array_equal(b[:, 0], b[:, 1])
    assert np.array_equal(b[:, 0], sine_values(220, 32, 22050))
    # chunksize may be given (audiostream reads it, then its base refuses it).
    assert len(SineSource(stream, 440, chunksize=256).get_bytes()) == 256
    assert len(SineSource(get_output(channels=3, backend="dummy"), 440).get_bytes()) == 60
    with pytest.raises(ValueError, match="chunksize"):
        SineSource(stream, 440, chunksize=1)
    stream.close()


def test_sine_source_switches_frequency_at_an_upward_zero_crossing():
    stream = get_output(channels=1, rate=22050, buffersize=128, backend="dummy")
    src = SineSource(stream, 220)
    vals = []
    for _ in range(10):
        vals += np.frombuffer(src.get_bytes(), "<i2").tolist()
    src.frequency = 440
    for _ in range(20):
        vals += np.frombuffer(src.get_bytes(), "<i2").tolist()
    old = sine_values(220, len(vals), 22050)
    k = next(i for i in range(len(vals)) if vals[i] != old[i])
    # The old wave up to an upward crossing (it was <= 0, its next is > 0),
    # then the new one from phase 0.
    assert k >= 320 and vals[k - 1] <= 0 and old[k] > 0 and k < 320 + 101
    assert vals[k:] == sine_values(440, len(vals) - k, 22050).tolist()
    stream.close()


def test_engine_sine_is_exact_and_phase_continuous(tmp_path):
    stream = get_output(channels=2, rate=22050, buffersize=128, backend="file",
                        device=str(tmp_path / "sine.wav"))
    sine = SineSource(stream, 220, engine=True)
    try:
        sine.start()
        assert sine.is_alive()
        play_frames(stream, 5000)
        sine.frequency = 240  # simple_sinsource.py's step
        play_frames(stream, 6000)
        sine.stop()
        sine.join(5)
        assert not sine.is_alive()
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


# ---- Input -----------------------------------------------------------------------


@pytest.fixture
def ramp_wav(tmp_path):
    path = tmp_path / "in.wav"
    data = (np.arange(40000) % 2000 - 1000).astype("<i2")  # 0.9 s
    write_wav(path, data)
    return path, data


def test_input_auto_delivers_by_itself_until_poll_takes_over(ramp_wav):
    path, data = ramp_wav
    got = []
    main = threading.current_thread()
    mic = get_input(callback=lambda b: got.append((threading.current_thread(), b)),
                    source=f"file:{path}", buffersize=2000)
    assert mic.delivery == "auto" and mic.buffersize == 2000
    mic.start()
    deadline = time.monotonic() + 5
    while len(got) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(got) >= 3 and got[0][0] is not main
    # audiostream's Android loop: poll() takes over, the rest comes here.
    while not mic.wait(0) or mic.poll():
        mic.poll()
        time.sleep(0.01)
    mic.stop()
    first_main = next(i for i, (t, _) in enumerate(got) if t is main)
    assert first_main >= 3 and len(got) - first_main >= 10, (first_main, len(got))
    assert all(t is main for t, _ in got[first_main:]), "handed over once"
    # Exactly 2000 bytes each, nothing lost or repeated across the hand-over
    # (40000 x 2 bytes: 40 buffers).
    assert all(len(b) == 2000 for _, b in got)
    assert np.array_equal(np.frombuffer(b"".join(b for _, b in got), "<i2"), data)
    mic.close()


def test_input_thread_delivers_on_the_engines_thread_and_poll_is_a_no_op(ramp_wav):
    path, data = ramp_wav
    got = []
    mic = get_input(callback=lambda b: got.append((threading.current_thread(), b)),
                    source=f"file:{path}", delivery="thread", buffersize=1000)
    mic.start()
    assert mic.wait(5)
    assert mic.poll() is False
    mic.stop()
    mic.close()
    assert {t for t, _ in got} and threading.current_thread() not in {t for t, _ in got}
    assert np.array_equal(np.frombuffer(b"".join(b for _, b in got), "<i2"), data)


def test_input_poll_delivers_only_in_poll_in_whole_buffers(ramp_wav):
    path, data = ramp_wav
    got = []
    mic = get_input(callback=got.append, source=f"file:{path}", delivery="poll",
                    buffersize=3000)
    mic.start()
    assert mic.wait(5)
    time.sleep(0.05)
    assert got == [], "nothing without poll()"
    assert mic.poll(maxiter=2) and len(got) == 2  # audiostream's maxiter
    while mic.poll():
        pass
    mic.stop()
    mic.close()
    # 80000 bytes: 26 buffers of 3000; the last 2000 bytes stay queued, as
    # audiostream's remainder smaller than buffersize.
    assert [len(b) for b in got] == [3000] * 26
    assert np.array_equal(np.frombuffer(b"".join(got), "<i2"), data[:39000])


def test_input_arguments_are_checked_and_properties_read_only(ramp_wav):
    path, _ = ramp_wav
    src = f"file:{path}"
    for kw, err, words in (({"encoding": 24}, ValueError, "encoding must be 8 or 16"),
                           ({"channels": 0}, ValueError, "channels must be at least 1"),
                           ({"buffersize": 3}, ValueError, "whole frames"),
                           ({"buffersize": -5}, ValueError, "buffersize must be at least 1"),
                           ({"rate": "fast"}, TypeError, "rate must be an integer"),
                           ({"delivery": "soon"}, ValueError, "delivery must be one of"),
                           ({"callback": 5}, TypeError, "callback must be callable")):
        with pytest.raises(err, match=words):
            get_input(source=src, **kw)
    # A source no backend has (a typo) is an error naming each backend's
    # reason, not the dummy backend's silence in its place.
    with pytest.raises(AudioException, match=r"no backend has an input 'mci' \(jack: .*; "
                                             r"alsa: .*; file: .*\)"):
        get_input(callback=print, source="mci")
    cb = print
    mic = get_input(callback=cb, source=src)
    # A file input has the file's rate and channels; -1: the device's block.
    assert (mic.callback, mic.source, mic.rate, mic.channels, mic.encoding) == \
        (cb, src, 44100, 1, 16)
    assert mic.buffersize > 0 and mic.buffersize % 2 == 0
    for name in ("callback", "source", "rate", "channels", "buffersize", "encoding"):
        with pytest.raises(AttributeError):
            setattr(mic, name, None)
    mic.close()


def test_input_sources_are_listed():
    s = get_input_sources()
    assert s[0] == "default" and "dummy:default" in s


# ---- JACK -----------------------------------------------------------------------


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
                    connect="pyout:out_1", rate=48000, channels=1, delivery="poll")
    mic.start()
    # JACK applies a new connection at a later cycle: play only once the
    # input has been running for a few periods.
    deadline = time.monotonic() + 5
    while mic.stats()["blocks"] < 8 and time.monotonic() < deadline:
        mic.poll(0)
        time.sleep(0.01)
    data = (np.arange(1, 9601) % 32000).astype("<i2")
    src = Ramp(stream, data)
    src.start()
    deadline = time.monotonic() + 10
    while src.sample.stats()["frames"] < len(data) and time.monotonic() < deadline:
        mic.poll(0)  # keep the input's ring drained
        time.sleep(0.02)
    end = time.monotonic() + 0.2
    while time.monotonic() < end:
        mic.poll(0)
        time.sleep(0.02)
    mic.stop()
    mic.poll(0)
    src.stop()
    assert src.sample.stats()["frames"] >= len(data)
    assert mic.stats()["dropped"] == 0, mic.stats()
    mic.close()
    stream.close()
    x = np.frombuffer(b"".join(got), "<i2")
    assert np.count_nonzero(x), "nothing came back"
    # Frame-exact through JACK (the data has no zero: underrun silence,
    # if the Python thread was late, is left out) ...
    y = x[x != 0]
    if not np.array_equal(y, data):
        # ... except whole periods a non-real-time jackd skipped on a loaded
        # machine: what came back is still in order, never repeated or
        # altered, and only whole 256-frame periods are missing.
        assert np.all(np.diff(y.astype(int)) >= 1), "out of order or repeated"
        assert np.all(np.isin(y, data))
        missing = len(data) - len(y)
        assert 0 < missing <= 4 * 256, missing


# ---- Pure Data ---------------------------------------------------------------------

# [osc~] at 440 Hz scaled by 0.25 on both channels; [r freq] sets the
# frequency, [r trigger] (a bang) the scale to 0.5, [r both] routes
# "freq F" / "amp A" messages to the same two.
CTL_PATCH = """#N canvas 0 0 600 400 12;
#X obj 30 30 r freq;
#X obj 30 80 osc~ 440;
#X obj 30 130 *~ 0.25;
#X obj 30 180 dac~;
#X obj 150 30 r trigger;
#X msg 150 60 0.5;
#X obj 300 30 r both;
#X obj 300 60 route freq amp;
#X connect 0 0 1 0;
#X connect 1 0 2 0;
#X connect 2 0 3 0;
#X connect 2 0 3 1;
#X connect 4 0 5 0;
#X connect 5 0 2 1;
#X connect 6 0 7 0;
#X connect 7 0 1 0;
#X connect 7 1 2 1;
"""


def start_patch(pd):
    for attempt in range(3):
        try:
            pd.start()  # starts `pd -nogui -jack` and waits for its ports
            return
        except RillError as e:
            # On a heavily loaded machine Pd's ports can miss the engine's
            # connection deadline (RILL_EIO, "cannot connect"); try again.
            if e.name != "RILL_EIO" or attempt == 2:
                raise
            pd.sample.stop()


def peak_and_level(seg, rate):
    """The spectrum's peak (bins of rate / len(seg): 2.5 Hz for 0.4 s) and
    the peak level. A period that a loaded, non-real-time jackd skips
    breaks the sine's phase and can move the peak a few bins (325 Hz for
    330 seen under load)."""
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    return np.argmax(spec) * rate / len(seg), np.abs(seg).max() / 32768


def test_patch_source_plays_a_pd_patch_and_follows_its_messages(jack_server, tmp_path):
    if not shutil.which("pd"):
        pytest.fail("puredata-core is in scripts/debian-packages.txt; pd is missing")
    patch = tmp_path / "ctl.pd"
    patch.write_text(CTL_PATCH)
    stream = get_output(channels=2, backend="jack", device=jack_server, name="pyout",
                        connect="")
    chunks = []
    mic = get_input(callback=chunks.append, source="jack", device=jack_server, name="pyin",
                    connect="pyout:out_1", rate=48000, channels=1)
    mic.start()
    pd = PatchSource(stream, str(patch), jack_server=jack_server)
    assert pd.patch == str(patch) and isinstance(pd, threading.Thread)
    with pytest.raises(AudioException, match="start"):
        pd.send_float("freq", 660)  # not playing yet
    assert libpd_float("freq", 660) == -1  # pylibpd's "no such receiver"
    start_patch(pd)
    marks = []

    def now():
        return sum(len(c) for c in chunks) // 2

    def hold(seconds=0.8):
        time.sleep(seconds)
        marks.append(now())

    try:
        hold()                                   # 440 Hz at 0.25
        pd.send_float("freq", 660); hold()       # a float
        pd.send_message("both", "freq", 330); hold()  # a message through [route]
        assert libpd_float("freq", 550) == 0; hold()  # pylibpd's call
        assert libpd_bang("trigger") == 0; hold()     # a bang: the scale goes to 0.5
        pd.send_message("both", "amp", 0.125); hold()
        with pytest.raises(ValueError, match="one word"):
            pd.send_float("two words", 1)
        with pytest.raises(ValueError, match="as a number"):
            pd.send_bang("1.5")
        with pytest.raises(ValueError, match="finite"):
            pd.send_float("freq", float("nan"))
        with pytest.raises(AudioException, match="'a;b'"):
            pd.send_bang("a;b")  # refused by rill_audio_pd_send, with its reason
    finally:
        pd.stop()
        pd.join(5)
        mic.stop()
        mic.close()
        stream.close()
    assert not pd.is_alive()
    x = np.frombuffer(b"".join(chunks), "<i2").astype(float)
    want = [(440, 0.25), (660, 0.25), (330, 0.25), (550, 0.25), (550, 0.5), (550, 0.125)]
    start = 0
    for (f, level), end in zip(want, marks):
        # The message takes a moment; measure the second half of each stretch.
        seg = x[(start + end) // 2:end]
        start = end
        got_f, got_level = peak_and_level(seg, 48000)
        # +-8 Hz: 3 bins, still far from every other note (110 Hz apart).
        assert abs(got_f - f) <= 8, (f, got_f)
        assert abs(got_level - level) < 0.02, (level, got_level)
