"""`rill serve --source jack|alsa|file|sine`: an audio input's channels as
dense float variables in1..inN, ticked by the audio clock, against a real
server process, ALSA's null device and a real JACK server (jackd -d dummy)."""

import csv
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import rill_bin, stop_server, jack_server, write_wav
from helpers import f32


def stream_csv(url, tmp_path, n, *names):
    out = tmp_path / "out"
    r = subprocess.run([rill_bin(), "stream", *names, "-n", str(n), "-o", str(out),
                        "--format", "csv", "--url", url],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    result = {}
    for name in names:
        with open(out / f"{name}.csv") as f:
            rows = list(csv.reader(f))[1:]
        result[name] = [(int(t), float(v)) for t, v in rows]
    return result


def read_float_wav(path):
    """Frames of a 2-channel 32-bit float WAV (what the file backend writes
    for float output), checking the header's rate and channels."""
    import struct
    b = path.read_bytes()
    assert b[:4] == b"RIFF" and b[8:12] == b"WAVE"
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(b):
        cid, size = b[pos:pos + 4], struct.unpack_from("<I", b, pos + 4)[0]
        body = b[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = struct.unpack_from("<HHIIHH", body)
        elif cid == b"data":
            data = body
        pos += 8 + size + (size & 1)
    tag, channels, rate, _, _, bits = fmt
    assert (tag, channels, rate, bits) == (3, 2, 48000, 32), fmt
    vals = struct.unpack(f"<{len(data) // 4}f", data)
    return [vals[i:i + 2] for i in range(0, len(vals), 2)]


def test_file_source_streams_exactly_the_files_samples(rill_serve, tmp_path):
    path = tmp_path / "test.wav"
    frames = 12000  # 0.25 s: the 20000 values below cross the loop point
    data = write_wav(path, 48000, frames)
    srv = rill_serve("--source", f"file:{path}", "--rate", "8000")
    out = srv.process._rill_output()
    assert "input file" in out and "48000 Hz, 2 channels" in out, out
    # The --rate given is not the file's: said, not silently dropped.
    assert ("rill serve: warning: --rate 8000 not used: --source file:"
            f"{path} runs at its own rate, 48000 Hz") in out, out
    got = stream_csv(srv.url, tmp_path, 20000, "in1", "in2")
    for ch, name in enumerate(("in1", "in2")):
        pairs = got[name]
        assert len(pairs) == 20000
        ticks = [t for t, _ in pairs]
        assert ticks == list(range(ticks[0], ticks[0] + 20000)), "contiguous ticks"
        # Tick k is frame k of the (looped) file, value for value (each
        # float in csv as the fewest digits that read back as it).
        bad = [(t, v) for t, v in pairs if f32(v) != data[ch][t % frames] / 32768.0]
        assert not bad, f"{name}: {len(bad)} values differ, first {bad[:3]}"


def test_sine_source_has_the_requested_frequency(rill_serve, tmp_path):
    srv = rill_serve("--source", "sine:1000.5", "--rate", "48000")
    assert "not used" not in srv.output(), srv.output()  # a sine takes the rate given
    pairs = stream_csv(srv.url, tmp_path, 48000, "in1")["in1"]
    v = [x for _, x in pairs]
    assert max(v) <= 0.5 and min(v) >= -0.5 and max(v) > 0.49
    # Upward zero crossings, interpolated: frequency within 0.01 Hz.
    ups = [i + v[i] / (v[i] - v[i + 1]) for i in range(len(v) - 1) if v[i] <= 0 < v[i + 1]]
    freq = (len(ups) - 1) / (ups[-1] - ups[0]) * 48000
    assert abs(freq - 1000.5) < 0.01, freq


def test_bad_sources_are_refused_with_the_reason(tmp_path):
    """One line on stderr saying which source and why (not the library's line
    and then the command's); a malformed source is a usage error (2)."""
    text = tmp_path / "notes.wav"
    text.write_text("these are words, not samples\n")
    for spec, status, words in (
            ("file:/nonexistent.wav", 1, "input '/nonexistent.wav': No such file or directory"),
            (f"file:{text}", 1, "not a sound file libsndfile reads (Format not recognised)"),
            (f"file:{tmp_path}", 1, "Is a directory"),
            ("sine:30000", 2, "half the rate"),
            ("sine:abc", 2, "not 'abc'"),
            ("alsa:nosuchpcm", 1, "nosuchpcm"),
            ("bogus", 2, "available: demo"),
            ("nats://127.0.0.1:1/board", 1, "cannot connect to NATS at nats://127.0.0.1:1")):
        r = subprocess.run([rill_bin(), "serve", "--port", "0", "--source", spec],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == status, (spec, r.returncode, r.stderr)
        assert words in r.stderr, (spec, r.stderr)
        assert r.stderr.count("\n") == 1, (spec, r.stderr)
        assert "System error" not in r.stderr and "(conn.c:" not in r.stderr, (spec, r.stderr)
        if spec != "bogus":
            assert r.stderr.startswith(f"rill serve: cannot {'read' if 'nats' in spec else 'open'} "
                                       f"--source {spec}: "), (spec, r.stderr)


def test_alsa_null_streams_silence_and_plays_client_buffers(rill_serve, tmp_path):
    srv = rill_serve("--source", "alsa:null", "--rate", "48000", "--block", "256")
    pairs = stream_csv(srv.url, tmp_path, 4800, "in1")["in1"]
    assert len(pairs) == 4800 and all(v == 0 for _, v in pairs)
    r = subprocess.run([rill_bin(), "send", "--url", srv.url, "0.1", "0.2", "0.3"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    time.sleep(0.2)
    assert stop_server(srv) == 0
    assert "3 client samples played, 0 dropped" in srv.process._rill_output()


def test_file_play_writes_what_clients_send(rill_serve, tmp_path):
    src, back = tmp_path / "in.wav", tmp_path / "back.wav"
    write_wav(src, 48000, 4800)
    srv = rill_serve("--source", f"file:{src}", "--play", f"file:{back}")
    values = [round(0.001 * i, 3) for i in range(1, 501)]
    r = subprocess.run([rill_bin(), "send", "--url", srv.url, *map(str, values)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    time.sleep(0.5)
    assert stop_server(srv) == 0
    frames = read_float_wav(back)
    # The buffer plays once, on both channels, among silence.
    played = [left for left, _ in frames if left != 0]
    assert len(played) == 500
    assert all(abs(p - v) < 1e-6 for p, v in zip(played, values))
    assert all(left == right for left, right in frames)


def test_file_play_never_writes_over_a_recording(rill_serve, tmp_path):
    """--play file:PATH keeps a file that is there (an earlier run's
    recording): the output goes to PATH's first free <base>_<k>.wav, said
    on stdout; and a client's rate change, which reopens the output, starts
    the next free name instead of truncating what was played so far."""
    back = tmp_path / "back.wav"
    back.write_bytes(b"an earlier take")
    srv = rill_serve("--source", "sine:440", "--play", f"file:{back}")
    out = srv.process._rill_output()
    first = tmp_path / "back_1.wav"
    assert f"rill serve: {back} exists (kept); client buffers play into {first}" in out, out
    assert f"client buffers play on file {first}" in out, out

    def send(*values):
        r = subprocess.run([rill_bin(), "send", "--url", srv.url, *map(str, values)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr

    send(0.25, 0.5)
    time.sleep(0.5)
    r = subprocess.run([rill_bin(), "audio", "--rate", "48000", "--url", srv.url],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    second = tmp_path / "back_2.wav"
    deadline = time.monotonic() + 5
    while f"client buffers play into {second}" not in srv.process._rill_output():
        assert time.monotonic() < deadline, srv.process._rill_output()
        time.sleep(0.05)
    assert stop_server(srv) == 0
    assert back.read_bytes() == b"an earlier take"
    import struct
    b = first.read_bytes()               # the take before the change, whole
    data = b[b.index(b"data") + 8:]
    vals = struct.unpack(f"<{len(data) // 4}f", data)
    assert [v for v in vals if v != 0][:2] == [0.25, 0.5]
    assert second.stat().st_size > 44


def test_play_into_the_source_file_is_refused_and_a_bad_play_says_so(tmp_path):
    """--source file:x.wav --play file:x.wav truncated the file being played
    (found: a 1 s take left as 0.7 MB of the output's silence)."""
    src = tmp_path / "in.wav"
    write_wav(src, 48000, 4800)
    before = src.read_bytes()
    (tmp_path / "link.wav").symlink_to(src)
    for play in (src, tmp_path / "link.wav", f"{tmp_path}/./in.wav"):
        r = subprocess.run([rill_bin(), "serve", "--port", "0", "--source", f"file:{src}",
                            "--play", f"file:{play}"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, (play, r.returncode, r.stderr)
        assert r.stderr == (f"rill serve: --play file:{play} is the source's own file: writing "
                            "it would destroy it; give another path\n"), r.stderr
        assert src.read_bytes() == before, play
    # An output that cannot be made: which option, and why in one line.
    bad = tmp_path / "no" / "such" / "back.wav"
    r = subprocess.run([rill_bin(), "serve", "--port", "0", "--source", "sine:440",
                        "--play", f"file:{bad}"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith(f"rill serve: --play file:{bad}: ") and \
        r.stderr.endswith("No such file or directory\n") and r.stderr.count("\n") == 1, r.stderr


@pytest.fixture
def jackd():
    with jack_server("rill-e2e") as name:
        yield name


def test_jack_source_ticks_with_the_jack_clock(rill_serve, tmp_path, jackd):
    srv = rill_serve("--source", f"jack:{jackd}")  # with the fixture's --rate 44100 --block 64
    out = srv.process._rill_output()
    assert "input jack" in out and "48000 Hz" in out, out
    # JACK's rate and period are the server's, said as such; what was asked
    # and not used is said too.
    assert re.search(r"listening on \S+ \(project \S+, source jack:\S+, 48000 Hz, "
                     r"1024-frame blocks\)", out), out
    assert "warning: --rate 44100 not used" in out and "runs at its own rate, 48000 Hz" in out
    assert "warning: --block 64 not used" in out and "delivers 1024-frame blocks" in out
    # A JACK server without real-time priority can run late on a loaded
    # machine (an xrun): the frames it skipped were never captured, so the
    # ticks jump. Then `rill stream` must name the jump, `rill serve` must
    # report the xrun, and the test tries again.
    for attempt in range(3):
        r = subprocess.run([rill_bin(), "stream", "in1", "-n", "9600", "-o",
                            str(tmp_path / f"out{attempt}"), "--format", "csv",
                            "--url", srv.url], capture_output=True, text=True, timeout=60)
        if r.returncode == 0:
            break
        assert "the device's clock jumped from tick" in r.stderr, r.stderr
        assert "lost in transit" not in r.stderr, r.stderr
        time.sleep(1.5)  # the server reports xruns once a second
        assert re.search(r"input jack: \d+ xruns? so far", srv.process._rill_output()), \
            srv.process._rill_output()
    assert r.returncode == 0, r.stderr
    with open(tmp_path / f"out{attempt}" / "in1.csv") as f:
        pairs = [(int(t), float(v)) for t, v in list(csv.reader(f))[1:]]
    ticks = [t for t, _ in pairs]
    assert ticks == list(range(ticks[0], ticks[0] + 9600))
    assert all(v == 0 for _, v in pairs)  # the dummy driver captures silence


def test_a_jack_server_that_goes_away_stops_rill_serve_and_its_clients_are_told(rill_serve):
    """The JACK server is the source's clock: when it shuts down nothing more
    can stream. rill serve says so and exits 1 (a supervisor restarts it),
    not a silent server whose clients wait for ever; each client gets a
    close frame saying why (1001), not a socket that just ends."""
    with jack_server("rill-e2e-gone") as name:
        srv = rill_serve("--source", f"jack:{name}")
        srv.process._rill_stopped_by_test = True
        client = subprocess.Popen([rill_bin(), "stream", "in1", "--url", srv.url],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(1)
        subprocess.run(["pkill", "-TERM", "-f", f"jackd --no-realtime -n {name} "], check=True)
        assert srv.process.wait(10) == 1
        _, err = client.communicate(timeout=10)
    srv.process._rill_reader.join(5)
    out = srv.process._rill_output()
    assert (f"rill serve: input jack {name} failed (the JACK server shut down or dropped "
            "this client): its clock stopped, so nothing more can stream; stopping") in out, out
    assert "client buffers no longer play" not in out, out   # the input's failure says it
    assert client.returncode == 1
    assert "the server closed the connection (code 1001: the server is stopping)" in err, err
