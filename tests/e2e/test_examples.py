"""The C examples of examples/ (pybela's Streamer tutorials in C) run
against a real `rill serve`, and what they print is checked. Each runs twice:
against rill's native mode, and against `rill serve --compat-only`, which
speaks only the Watcher protocol as a Bela board does, so the client's
automatic choice falls back to its compatibility mode."""

import math
import re
import signal
import subprocess
import time

import pytest

from conftest import example_path, rill_bin
from helpers import RATE


@pytest.fixture(params=["native", "compat-only"])
def rill_server(request, rill_serve):
    """A `rill serve` on the demo source, speaking rill's native mode or only
    the Watcher protocol."""
    return rill_serve() if request.param == "native" else rill_serve("--compat-only")


def run(name, *args, timeout=30):
    r = subprocess.run([example_path(name), *args], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{name} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def test_stream_callbacks_gets_buffers_and_blocks_aligned_across_lengths(rill_server):
    out = run("stream_callbacks", rill_server.url, "1")
    # sine comes in 1024-value buffers, frame_d in 512: the blocks cut both
    # at the same 1024 ticks.
    assert re.search(r"^buffer sine first_ts \d+ count 1024$", out, re.M)
    assert re.search(r"^buffer frame_d first_ts \d+ count 512$", out, re.M)
    blocks = re.findall(r"^block first_ts (\d+) ticks 1024 sine:1024 frame_d:1024$", out, re.M)
    assert len(blocks) == 3
    firsts = [int(b) for b in blocks]
    assert firsts == [firsts[0], firsts[0] + 1024, firsts[0] + 2048]
    m = re.search(r"blocks (\d+) \((\d+) aligned\)", out)
    assert m and int(m.group(1)) >= 30 and m.group(1) == m.group(2)


def test_stream_n_values_returns_exactly_n_contiguous_values(rill_server):
    out = run("stream_n_values", rill_server.url, "1000", "frame", "sine")
    m = re.search(r"^frame: 1000 values, ticks (\d+)\.\.(\d+) contiguous, first (\S+) last (\S+)$",
                  out, re.M)
    assert m, out
    first, last = int(m.group(1)), int(m.group(2))
    assert last - first == 999
    assert float(m.group(3)) == first and float(m.group(4)) == last  # frame = tick
    # Both variables from the same tick.
    assert re.search(rf"^sine: 1000 values, ticks {first}\.\.{last} contiguous", out, re.M), out


def test_schedule_delivers_one_second_starting_one_second_later(rill_server):
    out = run("schedule", rill_server.url)
    start = int(re.search(r"scheduled 44100 ticks from tick (\d+)", out).group(1))
    assert "done: every variable delivered its values" in out
    for var in ("sine", "chirp"):
        m = re.search(rf"^{var}: (\d+) values, ticks (\d+)\.\.(\d+)$", out, re.M)
        assert m, out
        assert int(m.group(1)) == RATE
        assert (int(m.group(2)), int(m.group(3))) == (start, start + RATE - 1)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "bin", "wav", "flac"])
def test_save_and_load_reads_back_what_was_streamed(rill_server, tmp_path, fmt):
    out = run("save_and_load", rill_server.url, str(tmp_path), fmt)
    lines = [ln for ln in out.splitlines() if "streamed" in ln]
    assert len(lines) == 2
    for ln in lines:
        m = re.search(r"streamed (\d+) values, loaded (\d+), the same", ln)
        assert m and m.group(1) == m.group(2) and int(m.group(1)) > 0, ln
    assert "sine" in lines[0] and f"{RATE} values" in lines[0]


def test_device_sensor_serves_its_variables_takes_control_and_buffers(tmp_path):
    """examples/device_sensor.c, the device side: its four variables as
    declared, the sensor's values exactly the sine of its ticks, the sparse
    peaks at the sine's tops, a gain set remotely scaling what the loop
    makes, a buffer sent reaching its callback; Ctrl-C ends it with 0."""
    proc = subprocess.Popen([example_path("device_sensor"), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        m = re.match(r"device_sensor: listening on (ws://127\.0\.0\.1:\d+)$", line.strip())
        assert m, line
        url = m.group(1)

        def rill(*args):
            r = subprocess.run([rill_bin(), *args, "--url", url], capture_output=True,
                               text=True, timeout=30)
            assert r.returncode == 0, (args, r.stderr)
            return r.stdout

        rows = [line.split()[:3] for line in rill("ls").splitlines()[1:]]
        assert rows == [["sensor", "float", "dense"], ["peak", "int32", "sparse"],
                        ["gain", "float", "dense"], ["received", "double", "dense"]], rows

        def sensor(n):
            out = rill("stream", "sensor", "-n", str(n)).splitlines()
            return [(int(t), float(v)) for _, t, v in (row.split(",") for row in out)]

        def check(values, gain):
            assert len(values) == 2000 and all(b[0] - a[0] == 1 for a, b in zip(values, values[1:]))
            for t, v in values:
                want = gain * 0.5 * math.sin(2 * math.pi * 5 * (t % 8820) / 44100)
                assert abs(v - want) < 1e-6, (t, v, want)

        check(sensor(2000), 1.0)
        peaks = [row.split(",") for row in rill("stream", "peak", "-d", "0.5").splitlines()]
        assert len(peaks) in (2, 3), peaks
        assert all(int(t) % 8820 == 2205 and int(v) == int(t) for _, t, v in peaks), peaks
        # A peek of the sparse peak (set every 0.2 s) within 0.05 s mostly
        # times out: said as what it is, not "operation timed out".
        for _ in range(40):
            r = subprocess.run([rill_bin(), "peek", "peak", "--timeout", "0.05", "--url", url],
                               capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                break
        assert r.returncode == 1 and r.stderr == (
            "rill peek: peak: the program set no value within 0.05 s (a sparse variable is "
            "set only when its program sets it; wait longer with --timeout SECONDS)\n"), r.stderr
        rill("set", "gain", "0.25")
        check(sensor(2000), 0.25)
        rill("send", "1", "2", "3.5")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            received = float(rill("peek", "received").split()[2])
            if received == 6.5:
                break
            time.sleep(0.05)
        assert received == 6.5
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
