"""The five C audio examples of examples/ (audiostream's examples in C,
docs/AUDIO.md) run on the file backend, and the sound files they write are
checked sample by sample against what each one should have played.

Only the standard library reads the files (`wave`, 16-bit PCM). The Pd
example needs `pd` (puredata-core) and a JACK server: it gets one from
conftest's jack_server under a fixed name. A missing example binary or
program fails the test; nothing is skipped.
"""

import array
import math
import os
import random
import re
import shutil
import subprocess
import sys
import wave

import pytest

from conftest import REPO, example_path, jack_server

PD_SERVER = "rill-e2e-audio-examples"


def run(name, *args, timeout=60):
    r = subprocess.run([example_path(name), *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"{name} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def read_wav(path):
    """(rate, channels, samples): 16-bit PCM, samples interleaved."""
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2, f"{path}: {8 * w.getsampwidth()}-bit, not 16"
        rate, channels, n = w.getframerate(), w.getnchannels(), w.getnframes()
        data = array.array("h")
        data.frombytes(w.readframes(n))
    if sys.byteorder == "big":
        data.byteswap()
    assert len(data) == n * channels
    return rate, channels, data


def write_wav(path, rate, frames):
    """A 16-bit WAV of the given frames (lists of ints, one per channel)."""
    data = array.array("h", [v for frame in frames for v in frame])
    if sys.byteorder == "big":
        data.byteswap()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(len(frames[0]))
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())


def channel(data, channels, k):
    return data[k::channels]


def s16(x):
    """What the engine stores for the float x: lrint(x * 32768), clamped."""
    v = round(x * 32768.0)
    return max(-32768, min(32767, v))


def test_audio_sine_sweeps_from_220_to_620_hz_in_exact_20_hz_steps(tmp_path):
    """220 Hz, up 20 Hz every 0.1 s, twenty times. Every 128-frame block must
    be the sine 0.5 sin(2 pi phase) continued from the previous block's phase
    at 220 + 20 k Hz (to a 16-bit step), k never going down, from 220 to 620
    Hz, then only silence (the blocks after the sine's removal): a wrong
    frequency, a jump of phase or a lost block breaks it."""
    path = tmp_path / "sweep.wav"
    out = run("audio_sine", "file", path)
    assert "ending at 620 Hz" in out, out
    rate, channels, data = read_wav(path)
    assert (rate, channels) == (22050, 2)
    left, right = channel(data, 2, 0), channel(data, 2, 1)
    assert left == right, "the two channels differ"
    block = 128
    n = len(left)

    # The sine is removed before the output closes: silence may end it.
    while n > 0 and left[n - 1] == 0:
        n -= 1
    n = -(-n // block) * block
    assert all(v == 0 for v in left[n:])
    assert n >= 2 * rate, f"only {n} frames of sound (the sweep lasts 2.1 s)"

    phase, freq = 0.0, 220.0
    per_block = []
    for start in range(0, n, block):
        got = left[start:start + block]
        for f in [freq + 20 * k for k in range(int((620 - freq) / 20) + 1)]:
            inc = f / rate
            want = [s16(0.5 * math.sin(2 * math.pi * (phase + inc * i))) for i in range(len(got))]
            if all(abs(a - b) <= 1 for a, b in zip(got, want)):
                break
        else:
            pytest.fail(f"block at frame {start} ({start / rate:.3f} s) is no 0.5 sine "
                        f"continuing from phase {phase:.6f} at {freq:g} Hz or a later step: "
                        f"{list(got[:8])}...")
        freq = f
        phase += inc * len(got)
        phase -= math.floor(phase)
        per_block.append(freq)

    steps = [per_block[0]] + [b for a, b in zip(per_block, per_block[1:]) if b != a]
    lengths = {f: per_block.count(f) * block / rate for f in steps}
    print(f"steps (Hz: seconds): {', '.join(f'{f:g}: {s:.2f}' for f, s in lengths.items())}")
    assert steps[0] == 220 and steps[-1] == 620, steps
    # Each sine_set lands at the next block; two only share one if the
    # audio thread stalled for the 0.1 s between them (a loaded machine).
    assert len(steps) >= 19, f"only {len(steps)} distinct frequencies: {steps}"
    inner = sorted(lengths[f] for f in steps[1:-1])
    assert 0.05 <= inner[len(inner) // 2] <= 0.3, f"median step {inner[len(inner) // 2]:.3f} s"


def test_audio_sample_write_plays_the_sawtooth_exactly(tmp_path):
    """The 22000 frames written in chunks of 100 (a 220.5 Hz sawtooth,
    phase * 600 - 30000) are in the file exactly, in order, from its first
    frame, and only silence follows."""
    path = tmp_path / "saw.wav"
    out = run("audio_sample_write", "file", path)
    assert re.search(r"^played 22000 frames from the sample", out, re.M), out
    rate, channels, data = read_wav(path)
    assert (rate, channels) == (22050, 1)
    want = [(i % 100) * 600 - 30000 for i in range(22000)]
    assert len(data) >= len(want), f"only {len(data)} frames"
    for i, (a, b) in enumerate(zip(data, want)):
        assert a == b, f"frame {i}: {a}, the sawtooth is {b}"
    rest = data[len(want):]
    assert all(v == 0 for v in rest), "something other than silence after the sawtooth"


def test_audio_record_of_a_file_reproduces_it_exactly(tmp_path):
    """audio_record with the file backend as its microphone: the WAV it
    writes holds exactly the input file's frames, rate and channels."""
    rng = random.Random(5)
    rate, n = 32000, 16000
    frames = [(rng.randint(-32768, 32767), rng.randint(-32768, 32767)) for _ in range(n)]
    src, dst = tmp_path / "in.wav", tmp_path / "rec.wav"
    write_wav(src, rate, frames)
    out = run("audio_record", dst, "file", src, 30)
    assert re.search(rf"^recorded {n} frames at {rate} Hz from file .*\(0 blocks dropped\)$",
                     out, re.M), out
    got_rate, channels, data = read_wav(dst)
    assert (got_rate, channels) == (rate, 2)
    want = array.array("h", [v for f in frames for v in f])
    assert len(data) == len(want), f"{len(data) // 2} frames recorded, the file has {n}"
    for i in range(len(want)):
        assert data[i] == want[i], f"frame {i // 2} channel {i % 2}: {data[i]} != {want[i]}"


def test_audio_thread_file_plays_the_files_samples_in_order(tmp_path):
    """A worker reads the file and the mixer plays it: the output holds every
    frame of the file, in order, exactly, and nothing else but silence (the
    blocks played before the worker's first chunk, or while it lagged)."""
    rng = random.Random(9)
    rate, n = 22050, 11025

    def nonzero():
        return rng.randint(1, 32767) * rng.choice((-1, 1))

    frames = [(nonzero(), nonzero()) for _ in range(n)]
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    write_wav(src, rate, frames)
    out = run("audio_thread_file", src, "file", dst)
    assert re.search(rf"^played .*: {n} frames at {rate} Hz$", out, re.M), out
    got_rate, channels, data = read_wav(dst)
    assert (got_rate, channels) == (rate, 2)
    played = [(data[2 * i], data[2 * i + 1]) for i in range(len(data) // 2)]
    silent = [i for i, f in enumerate(played) if f == (0, 0)]
    sound = [f for f in played if f != (0, 0)]
    assert all(f[0] != 0 and f[1] != 0 for f in sound), "a half-silent frame"
    assert len(sound) == n, f"{len(sound)} non-silent frames, the file has {n}"
    for i, (a, b) in enumerate(zip(sound, frames)):
        assert a == b, f"sound frame {i}: {a}, the file's is {b}"
    first = next(i for i, f in enumerate(played) if f != (0, 0))
    print(f"{first} silent frames before the file, {len(silent) - first} after or between")


@pytest.fixture
def pd_jack():
    if shutil.which("pd") is None:
        pytest.fail("pd is not installed (puredata-core)")
    with jack_server(PD_SERVER, rate=48000, period=256) as name:
        yield name


def test_audio_pd_records_the_demo_patch_a_440_hz_tone(tmp_path, pd_jack):
    """examples/audio_pd_demo.pd is osc~ 440 times (0.3 + 0.2 osc~ 0.5): a
    440 Hz tone whose amplitude swings between 0.1 and 0.5 every 2 s. The 3 s
    recorded must be that: the same on both channels, 440 Hz to 0.1 Hz by its
    zero crossings, peaks reaching 0.5 and falling to 0.1."""
    patch = os.path.join(REPO, "examples", "audio_pd_demo.pd")
    path = tmp_path / "pd.wav"
    out = run("audio_pd", patch, path, 3, "--server", pd_jack, timeout=90)
    assert re.search(r"^played .* for 3\.0 s: \d+ frames from Pd", out, re.M), out
    rate, channels, data = read_wav(path)
    assert (rate, channels) == (48000, 2)
    left, right = channel(data, 2, 0), channel(data, 2, 1)
    assert len(left) == 3 * rate
    # The same on both channels, once both have sound: the Pd source
    # connects Pd's ports one after the other, so on a loaded machine its
    # first JACK cycle or two can hold the first channel only.
    both = next((i for i in range(len(left)) if left[i] != 0 and right[i] != 0), None)
    assert both is not None and both < rate // 2, f"both channels sound only from {both}"
    assert all(a == b or 0 in (a, b) for a, b in zip(left[:both], right[:both]))
    assert left[both:] == right[both:], "the two channels differ"
    x = [v / 32768.0 for v in left]

    # The period between each two upward zero crossings (each placed by
    # linear interpolation). Where Pd missed a JACK cycle (a block of
    # silence) or frames were lost between the two clocks, a period comes
    # out wrong: those few are left out, the rest averaged.
    ups = [(i - 1) + x[i - 1] / (x[i - 1] - x[i]) for i in range(1, len(x))
           if x[i - 1] < 0 <= x[i]]
    periods = sorted(b - a for a, b in zip(ups, ups[1:]))
    assert len(periods) > 440, f"only {len(periods)} periods of sound"
    med = periods[len(periods) // 2]
    kept = [p for p in periods if abs(p - med) < 0.02 * med]
    freq = rate * len(kept) / sum(kept)
    # The envelope: peaks of 50 ms windows with sound throughout.
    win = rate // 20
    peaks = [max(abs(v) for v in x[k:k + win]) for k in range(0, len(x) - win + 1, win)
             if sum(1 for v in x[k:k + win] if v == 0) < 16]
    print(f"{freq:.4f} Hz from {len(kept)} of {len(periods)} periods; "
          f"window peaks {min(peaks):.3f}..{max(peaks):.3f}")
    assert len(kept) >= 0.9 * len(periods), f"{len(periods) - len(kept)} periods off"
    assert abs(freq - 440) < 0.1, f"{freq} Hz"
    assert 0.45 <= max(peaks) <= 0.51, max(peaks)
    assert min(peaks) <= 0.15, min(peaks)
