"""Changing the audio configuration of a real `rill serve` (docs/PROTOCOL.md
§8): `rill audio` prints and changes it, and what each source takes (demo,
sine, alsa:null, a real JACK server, file) is checked by what the device
then streams."""

import asyncio
import csv
import math
import re
import shutil
import struct
import subprocess
import time

import pytest

from belaclient import run
from conftest import rill_bin, jack_server, write_wav
from nativeclient import NativeClient

DEMO_RATES = "8000, 16000, 22050, 32000, 44100, 48000, 96000"
SOURCE_RATES = "8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000"


def rill(*args, timeout=60):
    return subprocess.run([rill_bin(), *args], capture_output=True, text=True,
                          timeout=timeout)


def audio(url, *args):
    return rill("audio", "--url", url, *args)


def parse_config(stdout):
    """`rill audio`'s table as a dict."""
    m = re.fullmatch(r"rate +(\S+) Hz\nchannels +(\d+)\nbuffer frames +(\d+)\n"
                     r"volume +(.+)\nvariables +(.*)\n", stdout)
    assert m, f"unexpected `rill audio` output: {stdout!r}"
    return {"rate": float(m.group(1)), "channels": int(m.group(2)),
            "bufferFrames": int(m.group(3)), "volume": m.group(4),
            "variables": m.group(5).split()}


def change_ok(url, *args):
    r = audio(url, *args)
    assert r.returncode == 0, (args, r.returncode, r.stderr)
    assert r.stderr == "", r.stderr
    return parse_config(r.stdout)


def change_refused(url, *args):
    """A refused change: exit 1, the device's sentence, the old config printed."""
    before = parse_config(audio(url).stdout)
    r = audio(url, *args)
    assert r.returncode == 1, (args, r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("rill audio: not changed: "), r.stderr
    assert "audio-config" not in r.stderr and "; refused" not in r.stderr, r.stderr
    assert parse_config(r.stdout) == before, "a refused change changed something"
    return r.stderr


def stream_csv(url, tmp_path, n, *names, tag="out"):
    out = tmp_path / tag
    r = rill("stream", *names, "-n", str(n), "-o", str(out), "--format", "csv",
             "--url", url)
    assert r.returncode == 0, r.stderr
    result = {}
    for name in names:
        with open(out / f"{name}.csv") as f:
            rows = list(csv.reader(f))[1:]
        result[name] = [(int(t), float(v)) for t, v in rows]
    return result


def peek(url, name):
    r = rill("peek", name, "--url", url)
    assert r.returncode == 0, r.stderr
    var, tick, value = r.stdout.split()
    assert var == name
    return int(tick), float(value)


def timed_peek(url, var):
    """(tick, the middle of the call's time span)."""
    s0 = time.monotonic()
    tick, _ = peek(url, var)
    return tick, (s0 + time.monotonic()) / 2


def tick_rate(url, want, var="frame", seconds=2.0):
    """Ticks per second over `seconds`, from two `rill peek`s of a dense
    variable (the tick it was last set at), each timed at the middle of its
    call. A loaded machine can delay a call by a good part of a second, so
    up to three measurements; the first within 15 % of `want` is returned,
    else the last."""
    for _ in range(3):
        t0, s0 = timed_peek(url, var)
        time.sleep(seconds)
        t1, s1 = timed_peek(url, var)
        rate = (t1 - t0) / (s1 - s0)
        if abs(rate - want) < 0.15 * want:
            break
    return rate


def rms(values):
    return math.sqrt(sum(v * v for v in values) / len(values))


def frequency(values, rate):
    """From upward zero crossings, interpolated."""
    ups = [i + values[i] / (values[i] - values[i + 1])
           for i in range(len(values) - 1) if values[i] <= 0 < values[i + 1]]
    assert len(ups) > 10, "no oscillation"
    return (len(ups) - 1) / (ups[-1] - ups[0]) * rate


def native_list(url):
    async def body():
        c = NativeClient(url)
        try:
            await c.connect()
            return await c.list()
        finally:
            await c.close()
    return run(body(), 30)


# ---- demo ------------------------------------------------------------------------


def test_demo_prints_and_changes_volume_buffer_frames_and_rate(rill_serve, tmp_path):
    srv = rill_serve()  # demo, 44100 Hz
    assert change_ok(srv.url) == {"rate": 44100, "channels": 2, "bufferFrames": 1024,
                                  "volume": "100", "variables": ["mic0", "mic1"]}
    lst = native_list(srv.url)
    assert lst["audio"]["settable"] == {
        "bufferFrames": [1, 65536], "rates": [8000, 16000, 22050, 32000, 44100, 48000, 96000],
        "volume": [0, 100]}
    before, _ = peek(srv.url, "frame")
    assert change_ok(srv.url, "--volume", "40", "--buffer-frames", "512", "--rate", "16000") == {
        "rate": 16000, "channels": 2, "bufferFrames": 512, "volume": "40",
        "variables": ["mic0", "mic1"]}
    # Every client sees it: the list's sampleRate and description.
    lst = native_list(srv.url)
    assert lst["sampleRate"] == 16000
    assert lst["audio"]["rate"] == 16000 and lst["audio"]["bufferFrames"] == 512
    assert lst["audio"]["volume"] == 40
    # The demo ticks at the new rate ...
    rate = tick_rate(srv.url, 16000)
    assert abs(rate - 16000) < 0.15 * 16000, rate
    # ... going on from where it was: contiguous ticks above the old ones,
    # and the frame counter equal to its tick.
    pairs = stream_csv(srv.url, tmp_path, 4800, "frame")["frame"]
    ticks = [t for t, _ in pairs]
    assert len(ticks) == 4800
    assert ticks == list(range(ticks[0], ticks[0] + 4800)), "contiguous ticks"
    assert ticks[0] > before, (ticks[0], before)
    assert all(v == t for t, v in pairs)
    # And back up.
    assert change_ok(srv.url, "--rate", "48000")["rate"] == 48000
    rate = tick_rate(srv.url, 48000)
    assert abs(rate - 48000) < 0.15 * 48000, rate


def test_demo_volume_scales_the_microphones(rill_serve, tmp_path):
    srv = rill_serve()
    full = [v for _, v in stream_csv(srv.url, tmp_path, 44100, "mic0", tag="full")["mic0"]]
    assert rms(full) > 0.01, rms(full)
    change_ok(srv.url, "--volume", "25")
    quarter = [v for _, v in stream_csv(srv.url, tmp_path, 44100, "mic0", tag="q")["mic0"]]
    ratio = rms(quarter) / rms(full)
    assert abs(ratio - 0.25) < 0.025, ratio
    change_ok(srv.url, "--volume", "0")
    silent = stream_csv(srv.url, tmp_path, 4410, "mic0", "mic1", tag="zero")
    assert all(v == 0 for _, v in silent["mic0"]) and all(v == 0 for _, v in silent["mic1"])


def test_demo_refuses_channels_and_rates_it_does_not_offer(rill_serve):
    srv = rill_serve()
    err = change_refused(srv.url, "--channels", "1")
    assert err == ("rill audio: not changed: the channel count is "
                   "fixed at 2 on this device\n"), err
    err = change_refused(srv.url, "--rate", "12345")
    assert err == (f"rill audio: not changed: rate 12345 is not offered "
                   f"by this device (it offers {DEMO_RATES})\n"), err
    # The same values as now are no change, and accepted.
    assert change_ok(srv.url, "--rate", "44100", "--channels", "2", "--volume", "100",
                     "--buffer-frames", "1024")["rate"] == 44100


@pytest.mark.parametrize("args,words", [
    (("--volume", "101"), "--volume wants a number from 0 to 100, not '101'"),
    (("--volume", "-1"), "--volume"),
    (("--rate", "abc"), "--rate wants a number"),
    (("--rate", "0"), "--rate"),
    (("--channels", "0"), "--channels"),
    (("--channels", "1.5"), "--channels"),
    (("--buffer-frames", "0"), "--buffer-frames"),
    (("--buffer-frames", "65537"), "--buffer-frames"),
    (("extra",), "unexpected argument 'extra'"),
])
def test_audio_usage_errors_exit_2_with_a_message(args, words):
    # No server needed: the options are checked first.
    r = rill("audio", "--url", "ws://127.0.0.1:9", *args)
    assert r.returncode == 2, (args, r.returncode, r.stderr)
    assert words in r.stderr, (args, r.stderr)
    assert r.stdout == ""


def test_audio_without_a_server_exits_1(tmp_path):
    r = rill("audio", "--url", "ws://127.0.0.1:9", "--volume", "10")
    assert r.returncode == 1
    assert "cannot connect" in r.stderr, r.stderr


def test_another_client_sees_the_change_before_the_requester_is_answered(rill_serve):
    srv = rill_serve()

    async def body():
        watcher, asker = NativeClient(srv.url), NativeClient(srv.url)
        try:
            await watcher.connect()
            await asker.connect()
            # Through the CLI: the watching client is told.
            loop = asyncio.get_running_loop()
            r = await loop.run_in_executor(None, audio, srv.url, "--volume", "30",
                                           "--rate", "22050")
            assert r.returncode == 0, r.stderr
            await watcher.changed.wait_until(
                lambda: any(e.get("event") == "audio" and e["audio"]["volume"] == 30 and
                            e["sampleRate"] == 22050 for e in watcher.events),
                10, "the audio event")
            ev = [e for e in watcher.events if e.get("event") == "audio"][-1]
            assert ev["audio"]["rate"] == 22050 and ev["audio"]["variables"] == ["mic0", "mic1"]
            # Raw: the requester's own socket has the event first, then the answer.
            for k in range(5):
                n0 = len(asker.events)
                await asker.send_control({"rill": "audio-config", "id": 40 + k,
                                          "volume": 50 + k})
                await asker.changed.wait_until(
                    lambda: any(e.get("event") == "audio-config" and e.get("id") == 40 + k
                                for e in asker.events[n0:]), 10, "the answer")
                kinds = [(e.get("event"), e.get("audio", {}).get("volume"))
                         for e in asker.events[n0:]]
                i_ans = kinds.index(("audio-config", 50 + k))
                assert ("audio", 50 + k) in kinds[:i_ans], kinds
                ans = asker.events[n0 + i_ans]
                assert ans["audio"]["volume"] == 50 + k and ans["audio"]["rate"] == 22050
            # A refusal names the command and echoes the id.
            await asker.send_control({"rill": "audio-config", "id": "bad", "channels": 4})
            err = await asker.wait_error()
            assert err == {"cmd": "audio-config", "id": "bad",
                           "message": "audio-config: the channel count is fixed at 2 "
                                      "on this device; refused"}, err
            assert not watcher.errors and not watcher.violations
            assert not any(e.get("event") == "audio-config" for e in watcher.events)
        finally:
            await watcher.close()
            await asker.close()

    run(body(), 60)


# ---- sine ------------------------------------------------------------------------


def test_sine_keeps_its_frequency_at_a_new_rate(rill_serve, tmp_path):
    srv = rill_serve("--source", "sine:440", "--rate", "48000")
    cfg = change_ok(srv.url)
    assert cfg["rate"] == 48000 and cfg["channels"] == 1 and cfg["variables"] == ["in1"]
    before, _ = peek(srv.url, "in1")
    assert change_ok(srv.url, "--rate", "16000")["rate"] == 16000
    assert native_list(srv.url)["sampleRate"] == 16000
    pairs = stream_csv(srv.url, tmp_path, 16000, "in1")["in1"]
    ticks = [t for t, _ in pairs]
    assert ticks == list(range(ticks[0], ticks[0] + 16000)) and ticks[0] > before
    v = [x for _, x in pairs]
    assert max(v) <= 0.5 and max(v) > 0.49
    f = frequency(v, 16000)
    assert abs(f - 440) < 0.1, f
    # The volume is a gain on it.
    change_ok(srv.url, "--volume", "50")
    v = [x for _, x in stream_csv(srv.url, tmp_path, 1600, "in1", tag="half")["in1"]]
    assert 0.245 < max(v) <= 0.25, max(v)


def test_sine_refuses_a_rate_too_low_for_its_frequency(rill_serve):
    srv = rill_serve("--source", "sine:5000", "--rate", "44100")
    err = change_refused(srv.url, "--rate", "8000")
    assert err == ("rill audio: not changed: the sine's 5000 Hz needs a "
                   "rate above 10000 Hz\n"), err
    err = change_refused(srv.url, "--rate", "12345")
    assert f"(it offers {SOURCE_RATES})" in err, err
    assert "fixed at 1" in change_refused(srv.url, "--channels", "2")
    # Still the old rate, still streaming.
    assert native_list(srv.url)["sampleRate"] == 44100
    assert change_ok(srv.url, "--rate", "11025")["rate"] == 11025


# ---- alsa:null ---------------------------------------------------------------------


def test_alsa_null_reopens_with_other_channels_and_rates(rill_serve, tmp_path):
    srv = rill_serve("--source", "alsa:null", "--rate", "48000", "--block", "256")
    cfg = change_ok(srv.url)
    assert cfg["channels"] == 2 and cfg["variables"] == ["in1", "in2"]
    assert native_list(srv.url)["audio"]["settable"] == {
        "bufferFrames": [1, 65536], "channels": [1, 16],
        "rates": [8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000],
        "volume": [0, 100]}
    cfg = change_ok(srv.url, "--channels", "1")
    assert cfg["channels"] == 1 and cfg["variables"] == ["in1"]
    assert native_list(srv.url)["audio"]["variables"] == ["in1"]
    cfg = change_ok(srv.url, "--channels", "2")
    assert cfg["channels"] == 2 and cfg["variables"] == ["in1", "in2"]
    t0, _ = peek(srv.url, "in1")
    cfg = change_ok(srv.url, "--rate", "16000")
    assert cfg["rate"] == 16000
    assert native_list(srv.url)["sampleRate"] == 16000
    pairs = stream_csv(srv.url, tmp_path, 1600, "in1", "in2")
    for name in ("in1", "in2"):
        ticks = [t for t, _ in pairs[name]]
        assert ticks == list(range(ticks[0], ticks[0] + 1600)) and ticks[0] > t0
        assert all(v == 0 for _, v in pairs[name])
    rate = tick_rate(srv.url, 16000, "in1")
    assert abs(rate - 16000) < 0.15 * 16000, rate
    err = change_refused(srv.url, "--channels", "17")
    assert "channels 17 is not offered by this device (1 to 16)" in err, err


# ---- jack ------------------------------------------------------------------------


@pytest.fixture
def jackd():
    with jack_server("rill-e2e-cfg") as name:
        yield name


def test_jack_takes_channels_but_not_a_rate(rill_serve, jackd):
    srv = rill_serve("--source", f"jack:{jackd}")
    cfg = change_ok(srv.url)
    assert cfg["rate"] == 48000 and cfg["variables"] == ["in1", "in2"]
    err = change_refused(srv.url, "--rate", "44100")
    assert err == ("rill audio: not changed: the rate is fixed at 48000 Hz "
                   "on this device\n"), err
    assert "rates" not in native_list(srv.url)["audio"]["settable"]
    assert change_ok(srv.url, "--channels", "1")["variables"] == ["in1"]
    cfg = change_ok(srv.url, "--channels", "3", "--volume", "70")
    assert cfg["variables"] == ["in1", "in2", "in3"] and cfg["volume"] == "70"
    ls = rill("ls", "--url", srv.url)
    assert ls.returncode == 0
    assert [line.split()[0] for line in ls.stdout.splitlines()[1:]] == ["in1", "in2", "in3"]
    lst = native_list(srv.url)
    assert lst["audio"]["variables"] == ["in1", "in2", "in3"]
    assert lst["sampleRate"] == 48000
    # The new port delivers: in3 ticks along with the others.
    t1, _ = peek(srv.url, "in3")
    time.sleep(0.3)
    t2, _ = peek(srv.url, "in3")
    assert t2 > t1


# ---- file ------------------------------------------------------------------------


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def test_file_takes_a_volume_only(rill_serve, tmp_path):
    path = tmp_path / "in.wav"
    frames = 12000
    data = write_wav(path, 48000, frames, seed=11)
    srv = rill_serve("--source", f"file:{path}")
    cfg = change_ok(srv.url)
    assert cfg["rate"] == 48000 and cfg["channels"] == 2
    assert native_list(srv.url)["audio"]["settable"] == {"bufferFrames": [1, 65536],
                                                         "volume": [0, 100]}
    err = change_refused(srv.url, "--rate", "44100")
    assert "the rate is fixed at 48000 Hz on this device" in err, err
    err = change_refused(srv.url, "--channels", "1")
    assert "the channel count is fixed at 2 on this device" in err, err
    cfg = change_ok(srv.url, "--volume", "30", "--buffer-frames", "300")
    assert cfg["volume"] == "30" and cfg["bufferFrames"] == 300
    gain = f32(0.3)
    got = stream_csv(srv.url, tmp_path, 20000, "in1", "in2")
    for ch, name in enumerate(("in1", "in2")):
        pairs = got[name]
        ticks = [t for t, _ in pairs]
        assert ticks == list(range(ticks[0], ticks[0] + 20000))
        bad = []
        for t, v in pairs:
            want = f32(gain * f32(data[ch][t % frames] / 32768.0))
            if abs(v - want) > 1e-6 * max(abs(want), 1e-30):
                bad.append((t, v, want))
        assert not bad, f"{name}: {len(bad)} values differ, first {bad[:3]}"
