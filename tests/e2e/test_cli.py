"""The host-side command line against a real `rill serve`: rill ls, stream
(to every saving format and to standard output), peek, set, log, send,
convert, and the errors a user meets (bad numbers and URLs, no server, a
host that does not resolve, a port that is not a rill serve, a format that
cannot hold a variable, the server killed in the middle of a stream). Exit
status: 0 success, 1 failure, 2 usage (tools/rill.c)."""

import asyncio
import json
import os
import pathlib
import signal
import socket
import subprocess
import threading
import time

import pytest

from belaclient import run as run_async
from conftest import rill_bin, stop_server
from helpers import DEMO_VARS, RATE, f32, is_event_frame, parse_log_buffers, parse_log_file
from nativeclient import NativeClient

FORMATS = ("bin", "csv", "jsonl", "wav", "flac")


def rill(*args, url, timeout=30):
    return subprocess.run([rill_bin(), *args, "--url", url], capture_output=True,
                          text=True, timeout=timeout)


def run(*args, env=None, timeout=30):
    """rill without --url (the environment decides)."""
    return subprocess.run([rill_bin(), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def csv_pairs(path):
    rows = pathlib.Path(path).read_text().splitlines()
    return [(int(t), float(v)) for t, v in (row.split(",") for row in rows[1:])]


def jsonl_pairs(path):
    pairs = []
    for line in pathlib.Path(path).read_text().splitlines():
        obj = json.loads(line)
        rel = obj.get("rel_timestamps", range(len(obj["data"])))
        pairs += [(obj["ref_timestamp"] + r, v) for r, v in zip(rel, obj["data"])]
    return pairs


def device_tick(url):
    r = rill("peek", "frame", url=url)
    assert r.returncode == 0, r.stderr
    return int(r.stdout.split()[1])


def ls_rows(url):
    """rill ls as {name: {column: text}}, by the header's column names."""
    lines = rill("ls", url=url).stdout.splitlines()
    head = lines[0].split()
    return {ln.split()[0]: dict(zip(head, ln.split())) for ln in lines[1:]}


def test_ls_prints_a_header_then_every_variable_name_first(rill_server):
    r = rill("ls", url=rill_server.url)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["name", "type", "mode", "length", "watched", "logged",
                                "controlled", "monitor", "value"]
    assert [ln.split()[0] for ln in lines[1:]] == [v[0] for v in DEMO_VARS]
    assert lines[1].split()[1:4] == ["int32", "dense", "1024"]
    rows = ls_rows(rill_server.url)
    assert rows["frame_d"]["length"] == "512"  # doubles: 512 per Bela buffer
    assert rows["events"]["length"] == "512"   # sparse int32


@pytest.mark.parametrize("protocol", ["native", "compat"])
def test_stream_n_values_at_a_sensor_rate_ends_with_the_nth_not_a_full_buffer(rill_serve,
                                                                             protocol):
    """At 100 Hz a Bela buffer of 1024 values takes 10.24 s to fill: -n 5 of
    dense variables ends when the 5th value is set (the device ends the
    stream and sends the partial buffer), with exactly 5 values each."""
    srv = rill_serve(*(["--compat-only"] if protocol == "compat" else []), rate=100)
    t0 = time.monotonic()
    r = rill("stream", "frame", "sine", "-n", "5", url=srv.url)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    rows = [line.split(",") for line in r.stdout.splitlines()]
    for name in ("frame", "sine"):
        ticks = [int(row[1]) for row in rows if row[0] == name]
        assert len(ticks) == 5 and ticks == list(range(ticks[0], ticks[0] + 5)), r.stdout
    assert [int(float(row[2])) for row in rows if row[0] == "frame"] == \
        [int(row[1]) for row in rows if row[0] == "frame"]
    assert took < 6, f"-n 5 at 100 Hz took {took:.1f} s"


def test_stream_at_a_sensor_rate_is_live_for_dense_and_sparse_variables(rill_serve):
    """At 100 Hz a Bela buffer holds 10 s of a dense variable and 512 of a
    sparse one's values: rill stream asks for buffers short enough that
    values come within a fraction of a second, all of them, in order."""
    srv = rill_serve(rate=100)
    t0 = time.monotonic()
    r = rill("stream", "frame", "events", "-n", "3", url=srv.url)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    rows = [line.split(",") for line in r.stdout.splitlines()]
    frames = [int(row[1]) for row in rows if row[0] == "frame"]
    events = [int(row[1]) for row in rows if row[0] == "events"]
    assert frames == list(range(frames[0], frames[0] + 3)), r.stdout
    assert len(events) == 3 and all(is_event_frame(t) for t in events), r.stdout
    assert took < 5, f"3 values at 100 Hz took {took:.1f} s"
    p = subprocess.Popen([rill_bin(), "stream", "sine", "--url", srv.url],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        first = p.stdout.readline()
        took = time.monotonic() - t0
    finally:
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=10)
    # rill monitor's default period is a tenth of a second there (10 ticks),
    # not 1000 ticks (10 s).
    t0 = time.monotonic()
    r = rill("monitor", "frame", "-n", "3", url=srv.url)
    assert r.returncode == 0, r.stderr
    ticks = [int(line.split()[1]) for line in r.stdout.splitlines()]
    assert len(ticks) == 3 and ticks[1] - ticks[0] == ticks[2] - ticks[1] == 10, r.stdout
    assert time.monotonic() - t0 < 2
    assert first.startswith("sine,"), first
    # Through a pipe, as a script reads it: printed lines go out when the
    # writer has caught up, not when stdio's 4 KiB buffer fills (~2 s of
    # lines at 100 Hz: 3.1 s in all before).
    assert took < 2, f"the first value took {took:.1f} s"


def test_stream_buffer_lengths_follow_the_rate(rill_serve, tmp_path):
    """The buffers rill stream asks for (RILL_CLIENT_LENGTH_LIVE), as jsonl
    records them one per line: at 44.1 kHz the Bela size (1024 int32s, 512
    doubles, 16 sparse values); at 100 Hz 4 values (25 a second) and events
    one by one."""
    for rate, want in ((44100, {"frame": 1024, "frame_d": 512, "events": 16}),
                       (100, {"frame": 4, "frame_d": 4, "events": 1})):
        srv = rill_serve(rate=rate)
        out = tmp_path / str(rate)
        n = 4096 if rate == 44100 else 12
        r = rill("stream", "frame", "frame_d", "events", "-n", str(n), "-o", str(out),
                 "--format", "jsonl", url=srv.url)
        assert r.returncode == 0, r.stderr
        for name, length in want.items():
            rows = [json.loads(line) for line in (out / f"{name}.jsonl").read_text().splitlines()]
            sizes = [len(row["data"]) for row in rows]
            assert sum(sizes) == n and set(sizes[:-1]) == {length}, (rate, name, sizes)


def test_serve_at_a_low_rate_starts_streams_and_stops_without_waiting_out_its_blocks(rill_serve):
    """At 20 Hz a 64-frame block lasts 3.2 s, and while nothing is watched
    the demo sleeps 8 blocks at a time (25.6 s): a client's stream must still
    come within the client's margin (one announced block, 64 ticks, ahead of
    the device's clock, one more block: ~6.4 s), and Ctrl-C must stop the
    server at once. By default the demo's blocks are 10 ms below 6400 Hz (one
    frame at 20 Hz), announced so, and a stream comes within a few ticks."""
    srv = rill_serve(rate=20)          # --block 64
    time.sleep(1)                      # the demo is in its idle sleep now
    t0 = time.monotonic()
    r = rill("stream", "frame", "-n", "2", url=srv.url)
    took = time.monotonic() - t0
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 2, r.stderr
    assert took < 12, f"the stream took {took:.1f} s to come"
    time.sleep(1)
    t0 = time.monotonic()
    assert stop_server(srv) == 0
    assert time.monotonic() - t0 < 2
    srv = rill_serve(rate=20, block=None)
    assert "20 Hz, 1-frame blocks" in srv.process._rill_output()
    for _ in range(2):
        t0 = time.monotonic()
        r = rill("stream", "frame", "-n", "2", url=srv.url)
        took = time.monotonic() - t0
        assert r.returncode == 0 and len(r.stdout.splitlines()) == 2, r.stderr
        # 2 ticks, the client's 50 ms and one tick of margin: 6.4 s before.
        assert took < 1.5, f"the stream took {took:.1f} s to come"


def test_stream_exactly_n_values_round_trips_through_csv_jsonl_and_bin(rill_server, tmp_path):
    for fmt in ("csv", "jsonl", "bin"):
        out = tmp_path / fmt
        r = rill("stream", "frame", "frame_d", "-n", "2500", "-o", str(out),
                 "--format", fmt, url=rill_server.url)
        assert r.returncode == 0, r.stderr
        for name in ("frame", "frame_d"):
            path = out / f"{name}.{fmt}"
            if fmt == "csv":
                rows = path.read_text().splitlines()
                assert rows[0] == f"timestamp,{name}"
                pairs = [tuple(float(x) for x in row.split(",")) for row in rows[1:]]
            elif fmt == "jsonl":
                pairs = []
                for line in path.read_text().splitlines():
                    obj = json.loads(line)
                    pairs += [(obj["ref_timestamp"] + i, v) for i, v in enumerate(obj["data"])]
            else:
                header, bufs, rest = parse_log_file(path.read_bytes())
                assert header["name"] == name and not rest
                vtype = "i" if name == "frame" else "d"
                pairs = []
                for b in parse_log_buffers(bufs, vtype, 0):
                    pairs += [(b["ref"] + i, v) for i, v in enumerate(b["data"])]
                assert all(v == 0 for _, v in pairs[2500:]), "bin: padding is zeros"
                pairs = pairs[:2500]
            assert len(pairs) == 2500, f"{fmt} {name}: {len(pairs)} values"
            ticks = [int(t) for t, _ in pairs]
            assert all(v == t for t, v in pairs), f"{fmt} {name}: a value differs from its tick"
            assert ticks == list(range(ticks[0], ticks[0] + 2500)), f"{fmt} {name}: not contiguous"


def test_stream_seconds_to_stdout_gives_rate_times_seconds_dense_values(rill_server):
    r = rill("stream", "frame", "-d", "0.25", url=rill_server.url)
    assert r.returncode == 0, r.stderr
    rows = [row.split(",") for row in r.stdout.splitlines()]
    assert len(rows) == int(0.25 * RATE)
    assert all(name == "frame" and int(t) == int(float(v)) for name, t, v in rows)
    ticks = [int(t) for _, t, _ in rows]
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))


def test_peek_and_set_reach_the_device(rill_server):
    r = rill("peek", "frame", url=rill_server.url)
    assert r.returncode == 0, r.stderr
    name, tick, value = r.stdout.split()
    assert name == "frame" and int(tick) == int(float(value))
    r = rill("set", "gain", "0.5", url=rill_server.url)
    assert r.returncode == 0, r.stderr
    gain = ls_rows(rill_server.url)["gain"]
    assert gain["controlled"] == "yes" and float(gain["value"]) == 0.5


@pytest.mark.parametrize("protocol", ["native", "compat"])
def test_peek_takes_several_variables_one_line_each_in_order(rill_serve, protocol):
    """pybela's peek takes a list; rill peek VAR... prints each one's line in
    the order given, on a rill serve and on a Bela-like device alike; one
    unknown name fails the whole command before anything is peeked."""
    srv = rill_serve(*(["--compat-only"] if protocol == "compat" else []))
    r = rill("peek", "frame", "gain", "frame_d", url=srv.url)
    assert r.returncode == 0, r.stderr
    lines = [line.split() for line in r.stdout.splitlines()]
    assert [x[0] for x in lines] == ["frame", "gain", "frame_d"], r.stdout
    assert int(lines[0][1]) == int(float(lines[0][2]))      # frame's value is its tick
    assert float(lines[1][2]) == 1.0                          # gain's default
    assert int(lines[2][1]) == int(float(lines[2][2]))
    r = rill("peek", "frame", "nosuch", url=srv.url)
    assert r.returncode == 1 and r.stdout == "", (r.stdout, r.stderr)
    assert "the device has no variable 'nosuch'" in r.stderr, r.stderr
    assert "did you mean" not in r.stderr, r.stderr
    # A typo away from a name (a letter off, two swapped, the case): that name.
    for typo, meant in (("sin", "sine"), ("gian", "gain"), ("Frame", "frame"),
                        ("evnets", "events")):
        r = rill("peek", typo, url=srv.url)
        assert r.returncode == 1 and r.stderr.rstrip().endswith(
            f"the device has no variable '{typo}' (see rill ls); did you mean '{meant}'?"), r.stderr


def test_set_with_a_mask_changes_only_the_masked_bits(rill_server):
    assert rill("set", "flags", "0xf0", url=rill_server.url).returncode == 0
    r = rill("set", "flags", "0x05", "--mask", "0x0f", url=rill_server.url)
    assert r.returncode == 0, r.stderr

    def reads():  # what the device program reads now (rill ls' value column)
        return float(ls_rows(rill_server.url)["flags"]["value"])

    assert reads() == 0xf5
    assert rill("set", "flags", "0", "--mask", "0x30", url=rill_server.url).returncode == 0
    assert reads() == 0xc5
    r = rill("set", "flags", "1.5", "--mask", "1", url=rill_server.url)
    assert r.returncode == 2 and "unsigned 32-bit integers" in r.stderr


def test_set_takes_negative_values_refuses_what_the_type_cannot_hold_and_releases(rill_server):
    url = rill_server.url
    r = rill("set", "gain", "-0.5", url=url)  # a value, not an option
    assert r.returncode == 0, r.stderr
    gain = ls_rows(url)["gain"]
    assert gain["controlled"] == "yes" and float(gain["value"]) == -0.5
    # What the program would read must be VALUE itself, not VALUE cut to
    # the variable's type; nothing is taken over then.
    for args, words in ((["flags", "-1"], "-1 does not fit flags, a uint32: give a whole "
                         "number in its range"),
                        (["events", "1.5"], "1.5 does not fit events, an int32"),
                        (["events", "3000000000"], "3000000000 does not fit events, an int32"),
                        (["gain", "1e39"], "1e39 does not fit gain, a float (too large)"),
                        (["gain", "loud"], "the value for gain, 'loud', is not a number"),
                        (["gain"], "rill set: give gain a VALUE to set, or --release to give "
                         "it back to the device program (rill set --help)\n")):
        r = rill("set", *args, url=url)
        assert r.returncode == 2 and words in r.stderr, (args, r.returncode, r.stderr)
    rows = ls_rows(url)
    assert rows["events"]["controlled"] == "no" and float(rows["gain"]["value"]) == -0.5
    r = rill("set", "gain", "--release", url=url)
    assert r.returncode == 0, r.stderr
    assert ls_rows(url)["gain"]["controlled"] == "no"
    r = rill("set", "gain", "--release", "--mask", "1", url=url)
    assert r.returncode == 2 and "--release takes no --mask" in r.stderr, r.stderr
    r = rill("set", "gain", "1", "--release", url=url)
    assert r.returncode == 2 and "unexpected argument '1'" in r.stderr, r.stderr


def test_no_server_is_a_clear_error_with_exit_status_1(tmp_path):
    r = subprocess.run([rill_bin(), "ls", "--url", "ws://127.0.0.1:1"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 1
    assert r.stderr == ('rill ls: cannot connect to ws://127.0.0.1:1: connection refused '
                        '(is "rill serve" running? start it, or check the port in --url)\n')
    r = subprocess.run([rill_bin(), "stream", "nope", "-n", "5", "--url", "ws://127.0.0.1:1"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "connection refused" in r.stderr
    assert not (tmp_path / "nope.csv").exists()


def read_back(path, fmt):
    """(tick, value) pairs of a saved `frame` stream, read by Python where it
    can (csv, jsonl, bin) and through `rill convert` to csv otherwise."""
    if fmt == "csv":
        return csv_pairs(path)
    if fmt == "jsonl":
        return jsonl_pairs(path)
    if fmt == "bin":
        header, bufs, rest = parse_log_file(path.read_bytes())
        assert header["name"] == "frame" and not rest
        pairs = []
        for b in parse_log_buffers(bufs, "i", 0):
            pairs += [(b["ref"] + i, v) for i, v in enumerate(b["data"])]
        while pairs and pairs[-1][1] == 0 and pairs[-1][0] != 0:
            pairs.pop()  # the zero padding of the last body
        return pairs
    out = path.with_name(path.name + ".csv")
    c = subprocess.run([rill_bin(), "convert", str(path), "--to", "csv", "-o", str(out)],
                       capture_output=True, text=True, timeout=30)
    assert c.returncode == 0, c.stderr
    return csv_pairs(out)


def test_server_killed_mid_stream_fails_within_2_s_and_leaves_every_format_valid(
        rill_serve, tmp_path):
    """One client per format streams `frame` (value == tick) until the server
    is SIGKILLed: each exits 1 within 2 s saying the connection was lost, and
    leaves a file `rill info` reads whose values are a gapless run of the
    stream from its first tick."""
    srv = rill_serve()
    clients = {}
    for fmt in FORMATS:
        clients[fmt] = subprocess.Popen(
            [rill_bin(), "stream", "frame", "-o", str(tmp_path / fmt), "--format", fmt,
             "--url", srv.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2.0)
        for fmt, c in clients.items():
            assert c.poll() is None, (fmt, c.stderr.read())
        stop_server(srv, signal.SIGKILL)
        t0 = time.monotonic()
        errors = {}
        for fmt, c in clients.items():
            _, errors[fmt] = c.communicate(timeout=max(0.1, t0 + 2.0 - time.monotonic()))
        took = time.monotonic() - t0
    finally:
        for c in clients.values():
            if c.poll() is None:
                c.kill()
                c.wait()
    assert took < 2.0, f"the clients took {took:.2f} s to exit"
    for fmt, c in clients.items():
        path = tmp_path / fmt / f"frame.{fmt}"
        assert c.returncode == 1, (fmt, c.returncode, errors[fmt])
        assert "connection to" in errors[fmt] and "was lost" in errors[fmt], errors[fmt]
        info = subprocess.run([rill_bin(), "info", str(path)], capture_output=True,
                              text=True, timeout=30)
        assert info.returncode == 0, (fmt, info.stderr)
        fields = dict(line.split(None, 1) for line in info.stdout.splitlines())
        pairs = read_back(path, fmt)
        # flac keeps whole 4096-value blocks only; every other format all.
        assert len(pairs) > (4096 if fmt == "flac" else 10000), (fmt, len(pairs))
        if fmt != "bin":  # bin's count includes the padding
            assert int(fields["values"]) == len(pairs), (fmt, fields, len(pairs))
        first = pairs[0][0]
        assert [t for t, _ in pairs] == list(range(first, first + len(pairs))), fmt
        assert all(v == t for t, v in pairs), f"{fmt}: a value differs from its tick"


def test_wav_files_open_in_sox_with_the_right_rate_and_length(rill_server, tmp_path):
    r = rill("stream", "sine", "-n", "44100", "-o", str(tmp_path), "--format", "wav",
             url=rill_server.url)
    assert r.returncode == 0, r.stderr
    wav = str(tmp_path / "sine.wav")
    info = {k: subprocess.run(["soxi", flag, wav], capture_output=True, text=True,
                              check=True).stdout.strip()
            for k, flag in (("rate", "-r"), ("channels", "-c"), ("samples", "-s"))}
    assert info == {"rate": "44100", "channels": "1", "samples": "44100"}, info
    # sox reads the samples too: the demo's sine has amplitude 0.5.
    stat = subprocess.run(["sox", wav, "-n", "stat"], capture_output=True, text=True)
    peak = float(next(ln.split(":")[1] for ln in stat.stderr.splitlines()
                      if ln.startswith("Maximum amplitude")))
    assert abs(peak - 0.5) < 0.01, stat.stderr


def test_float_and_double_wav_files_open_in_sox_without_a_warning(rill_server, tmp_path):
    """A non-PCM fmt chunk must carry its cbSize: with the 16-byte chunk libsndfile
    writes for float, soxi warns "wave header missing extended part of fmt chunk"
    (issue 13, minor; libsndfile's WAVE_FORMAT_EXTENSIBLE gets the same warning
    from sox 14.4). rill writes what sox writes: an 18-byte IEEE-float fmt chunk
    with cbSize 0, then fact."""
    r = rill("stream", "sine", "frame_d", "-n", "4410", "-o", str(tmp_path), "--format", "wav",
             url=rill_server.url)
    assert r.returncode == 0, r.stderr
    for name, bits in (("sine", 32), ("frame_d", 64)):
        wav = str(tmp_path / f"{name}.wav")
        with open(wav, "rb") as f:
            head = f.read(50)
        assert head[12:16] == b"fmt " and int.from_bytes(head[16:20], "little") == 18, head
        assert int.from_bytes(head[20:22], "little") == 3, head            # IEEE float
        assert int.from_bytes(head[34:36], "little") == bits, head
        assert head[36:38] == b"\0\0" and head[38:42] == b"fact", head     # cbSize 0
        assert int.from_bytes(head[46:50], "little") == 4410, head          # frames
        s = subprocess.run(["soxi", wav], capture_output=True, text=True)
        assert s.returncode == 0 and s.stderr == "", s.stderr
        assert "Floating Point" in s.stdout and "4410 samples" in s.stdout, s.stdout
        info = subprocess.run([rill_bin(), "info", wav], capture_output=True, text=True)
        assert info.returncode == 0, info.stderr
        fields = dict(line.split(None, 1) for line in info.stdout.splitlines())
        assert fields["values"] == "4410" and fields["variable"] == name, fields
        assert fields["rate"] == "44100", fields  # wav keeps the rate


def flac_total_samples(path):
    """STREAMINFO's 36-bit total sample count (0: unknown)."""
    with open(path, "rb") as f:
        head = f.read(26)
    assert head[:4] == b"fLaC" and head[4] & 0x7F == 0, head   # STREAMINFO first
    return (head[8 + 13] & 0x0F) << 32 | int.from_bytes(head[8 + 14:8 + 18], "big")


@pytest.mark.parametrize("fmt", ["flac", "wav"])
def test_a_killed_stream_leaves_headers_that_count_what_the_files_hold(rill_server, tmp_path,
                                                                        fmt):
    """SIGKILL: no handler runs, libsndfile never closes the files. A FLAC file's
    STREAMINFO said 0 samples (issue 13, minor): the writer now keeps it at the
    samples of the frames written, as the WAV headers are kept after each write.
    Each header must equal what the file decodes to (rill info), and soxi agree."""
    out = tmp_path / "out"
    p = subprocess.Popen([rill_bin(), "stream", "sine", "frame", "-o", str(out), "--format", fmt,
                          "--url", rill_server.url], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:   # a few blocks in each file
            sizes = [f.stat().st_size for f in out.glob(f"*.{fmt}")] if out.exists() else []
            if len(sizes) == 2 and min(sizes) > 40000:
                break
            time.sleep(0.1)
        assert p.poll() is None, p.stderr.read()
    finally:
        p.kill()
        p.wait(10)
    assert p.returncode == -signal.SIGKILL
    for name in ("sine", "frame"):
        path = str(out / f"{name}.{fmt}")
        info = subprocess.run([rill_bin(), "info", path], capture_output=True, text=True)
        assert info.returncode == 0, info.stderr
        decoded = int(dict(line.split(None, 1) for line in info.stdout.splitlines())["values"])
        soxi = subprocess.run(["soxi", "-s", path], capture_output=True, text=True)
        assert soxi.returncode == 0, soxi.stderr
        if fmt == "flac":
            assert flac_total_samples(path) == decoded, (name, flac_total_samples(path), decoded)
        assert decoded > 8192 and int(soxi.stdout) == decoded, (name, soxi.stdout, decoded)


def test_info_says_what_a_text_file_does_not_record(rill_server, tmp_path):
    """csv and jsonl keep numbers as text: the type shown is read from the
    values and the line says so; csv keeps no buffers either."""
    for fmt in ("csv", "jsonl"):
        out = tmp_path / fmt
        r = rill("stream", "frame", "sine", "-n", "3000", "-o", str(out), "--format", fmt,
                 url=rill_server.url)
        assert r.returncode == 0, r.stderr
        for name, read_as in (("frame", "int32"), ("sine", "double")):
            info = run("info", str(out / f"{name}.{fmt}"))
            assert info.returncode == 0, info.stderr
            fields = dict(line.split(None, 1) for line in info.stdout.splitlines())
            assert fields["type"] == (f"{read_as} (read from the values: a {fmt} file "
                                      "does not record the type)"), fields
            assert fields["values"] == "3000", fields
            if fmt == "csv":
                assert fields["buffers"] == "not recorded in a csv file", fields
            else:
                assert int(fields["buffers"]) >= 3, fields  # 1024-value buffers


def test_convert_type_restores_a_csv_variables_own_type_or_says_what_does_not_fit(
        rill_server, tmp_path):
    """A float variable's csv reads back as double; --type float writes a bin
    of floats, as the device's own log would be, with the same values."""
    r = rill("stream", "sine", "frame", "-n", "2048", "-o", str(tmp_path), "--format", "csv",
             url=rill_server.url)
    assert r.returncode == 0, r.stderr
    src, dst = tmp_path / "sine.csv", tmp_path / "sine.bin"
    c = run("convert", str(src), str(dst), "--type", "float")
    assert c.returncode == 0 and c.stderr == "", c.stderr
    header, bufs, rest = parse_log_file(dst.read_bytes())
    assert header["name"] == "sine" and header["type"] == "f" and not rest, header
    got = [v for b in parse_log_buffers(bufs, "f", 0) for v in b["data"]][:2048]
    # Each float printed in the fewest digits that read back as that float.
    assert got == [f32(v) for _, v in csv_pairs(src)]
    texts = [row.split(",")[1] for row in src.read_text().splitlines()[1:]]
    long = [t for t in texts if len(t.split("e")[0].lstrip("-").replace(".", "").lstrip("0")) > 9]
    assert not long, long[:5]
    assert "type       float\n" in run("info", str(dst)).stdout
    # The letters pybela's list uses work too; a name that is no type is refused.
    assert run("convert", str(src), str(tmp_path / "l.bin"), "--type", "f").returncode == 0
    bad = run("convert", str(src), str(tmp_path / "x.bin"), "--type", "float64")
    assert bad.returncode == 2 and "--type wants c, i, j, f or d" in bad.stderr, bad.stderr
    # frame's ticks do not fit a char: the first that does not is named, with
    # its tick, and nothing is left behind.
    first = csv_pairs(tmp_path / "frame.csv")[0]
    out = tmp_path / "frame.char.csv"
    c = run("convert", str(tmp_path / "frame.csv"), str(out), "--type", "char")
    assert c.returncode == 2, c.stderr
    assert c.stderr == (f"rill convert: {tmp_path / 'frame.csv'}: value 1 ({first[1]:.0f}, "
                        f"tick {first[0]}) cannot be stored as char: give --type a type "
                        f"that holds it; {out} removed\n"), c.stderr
    assert not out.exists()


def test_info_and_convert_read_back_what_was_streamed(rill_server, tmp_path):
    r = rill("stream", "frame_d", "-n", "2048", "-o", str(tmp_path), "--format", "bin",
             url=rill_server.url)
    assert r.returncode == 0, r.stderr
    src = str(tmp_path / "frame_d.bin")
    info = subprocess.run([rill_bin(), "info", src], capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    fields = dict(line.split(None, 1) for line in info.stdout.splitlines())
    assert fields["variable"] == "frame_d" and fields["type"] == "double"
    assert fields["values"] == "2048" and fields["buffers"] == "4"  # 512-value bodies
    assert "padding" not in fields, fields  # whole bodies: nothing to say
    assert fields["rate"] == "not recorded in a bin file", fields  # not "0"
    # bin records no sample rate: converting to wav needs one, and says so.
    bad = subprocess.run([rill_bin(), "convert", src, "--to", "wav"], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "give it with --rate HZ" in bad.stderr
    assert not (tmp_path / "frame_d.wav").exists()
    for fmt, extra in (("csv", []), ("wav", ["--rate", "44100"])):
        c = subprocess.run([rill_bin(), "convert", src, "--to", fmt, *extra],
                           capture_output=True, text=True)
        assert c.returncode == 0, c.stderr
    rows = (tmp_path / "frame_d.csv").read_text().splitlines()[1:]
    pairs = [(int(t), float(v)) for t, v in (row.split(",") for row in rows)]
    assert len(pairs) == 2048 and all(float(t) == v for t, v in pairs)
    soxi = subprocess.run(["soxi", "-s", str(tmp_path / "frame_d.wav")], capture_output=True,
                          text=True, check=True)
    assert soxi.stdout.strip() == "2048"


def test_monitor_prints_values_exactly_one_period_apart(rill_server):
    r = rill("monitor", "frame", "gain", "--period", "2205", "-n", "4", url=rill_server.url)
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines()]
    frames = [(int(t), float(v)) for name, t, v in rows if name == "frame"]
    gains = [float(v) for name, _, v in rows if name == "gain"]
    assert len(frames) == 4 and len(gains) == 4
    assert all(v == t for t, v in frames)
    assert [b[0] - a[0] for a, b in zip(frames, frames[1:])] == [2205] * 3
    assert gains == [1.0] * 4


def test_log_logs_on_the_device_then_downloads_exactly_the_seconds_asked(rill_server, tmp_path):
    r = rill("log", "frame", "frame_d", "-d", "0.5", "-o", str(tmp_path), url=rill_server.url)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "" and r.stdout == ""  # not a terminal: nothing to say
    for name, vtype in (("frame", "i"), ("frame_d", "d")):
        path = tmp_path / f"{name}.bin"
        # The download is byte for byte the device's own file.
        assert path.read_bytes() == (pathlib.Path(rill_server.logdir) / path.name).read_bytes()
        header, bufs, rest = parse_log_file(path.read_bytes())
        assert header["name"] == name and not rest
        pairs = []
        for b in parse_log_buffers(bufs, vtype, 0):
            pairs += [(b["ref"] + i, v) for i, v in enumerate(b["data"])]
        want = int(0.5 * RATE)
        # The values of exactly 0.5 s, each equal to its tick, contiguous,
        # then the last body's padding (no Watcher end value: asked one
        # tick less, the device logs no tick past the 0.5 s).
        assert all(v == t for t, v in pairs[:want])
        assert [t for t, _ in pairs[:want]] == list(range(pairs[0][0], pairs[0][0] + want))
        assert all(v == 0 for _, v in pairs[want:]), pairs[want:want + 3]


def test_a_killed_server_keeps_all_but_the_last_second_of_a_slow_log(rill_serve, tmp_path):
    """At 100 Hz a log body (1024 int32s) is 10 s of values, written whole:
    a rill serve killed mid-log kept none of them. The device writes the body
    so far once a second, zero-padded in the body's place: after 3 s of
    logging and a SIGKILL the file holds at least 2 s of the values, each
    equal to its tick, contiguous from the start; a sparse log's events too."""
    srv = rill_serve(rate=100, block=None)
    log = subprocess.Popen([rill_bin(), "log", "frame", "events", "-d", "60", "-o",
                            str(tmp_path), "--url", srv.url],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3.5)
        srv.process.kill()
        srv.process.wait(5)
        srv.process._rill_stopped_by_test = True
        out, err = log.communicate(timeout=10)
    finally:
        if log.poll() is None:
            log.kill()
    assert log.returncode == 1, (out, err)
    files = {p.name.split(".")[0].split("+")[0]: p for p in pathlib.Path(srv.logdir).iterdir()}
    header, bufs, rest = parse_log_file(files["frame"].read_bytes())
    assert header["name"] == "frame" and len(bufs) == 1 and not rest, (header, len(bufs), rest)
    b = parse_log_buffers(bufs, "i", 0)[0]
    got = [v for v in b["data"] if v != 0]
    assert len(got) >= 200, f"{len(got)} values kept of ~300"
    assert got == list(range(b["ref"], b["ref"] + len(got)))
    assert all(v == 0 for v in b["data"][len(got):])  # the padding after them
    header, bufs, rest = parse_log_file(files["events"].read_bytes())
    ev = parse_log_buffers(bufs, "i", 1)[0]
    got = [(ev["ref"] + r, v) for r, v in zip(ev["rel"], ev["data"]) if v != 0]
    assert len(got) >= 2 and all(t == v and is_event_frame(v) for t, v in got), got


def test_a_failed_download_says_how_to_fetch_the_file_that_stays_on_the_device(rill_server):
    # /proc is a directory where no file can be made, even by root: the
    # download fails after the device has logged.
    import re
    import urllib.request
    r = rill("log", "frame", "-d", "0.2", "-o", "/proc", url=rill_server.url)
    assert r.returncode == 1, r.stderr
    m = re.search(r"frame: the device's file (\S+) was not downloaded: cannot create "
                  r"/proc/(\S+)\.part: .*; it stays on the "
                  r"device: curl -fo (\S+) '(http://\S+)'$", r.stderr, re.M)
    assert m and m.group(1) == m.group(2) == m.group(3), r.stderr
    # One line: the reason inside it, not the library's line above it.
    assert len(r.stderr.splitlines()) == 1, r.stderr
    # The URL as said. The command failed on its side at once, without
    # waiting for the device to close the file: until it does, the device
    # answers 409 (as to rill's client, which waits the same way).
    import urllib.error
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(m.group(4), timeout=10) as got:
                body = got.read()
            break
        except urllib.error.HTTPError as e:
            if e.code != 409 or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    header, bufs, _ = parse_log_file(body)
    assert header["name"] == "frame" and len(bufs) >= int(0.2 * RATE) // 1024, header


def test_log_from_a_bela_board_says_how_to_copy_each_file_in_one_line(rill_serve, tmp_path):
    """A Bela board (a server speaking only the Watcher protocol) logs but
    serves no files over HTTP: rill log says, in one line per file, that
    the file stays there and the scp command that copies it."""
    import re
    srv = rill_serve("--compat-only")
    r = rill("log", "frame", "-d", "0.2", "-o", str(tmp_path), url=srv.url)
    assert r.returncode == 1, r.stderr
    m = re.fullmatch(r"rill log: frame: the device's file (\S+\.bin) was not downloaded: a "
                     r"Bela board serves its log files over SFTP only: copy it with "
                     r"'scp root@127\.0\.0\.1:Bela/projects/<project>/(\S+) \.'\n", r.stderr)
    assert m and m.group(1) == m.group(2), r.stderr
    assert os.path.getsize(os.path.join(srv.logdir, m.group(1))) > 0
    assert os.listdir(tmp_path) == []


def test_log_keeps_an_earlier_download_of_the_same_name_as_pybela_does(rill_serve, tmp_path):
    """Two devices (or one restarted in a fresh log directory) name their
    files alike: the second download went over the first. It now goes to
    <name>_<k>.bin, pybela's rule for its copies, and says so."""
    out = tmp_path / "logs"
    out.mkdir()
    (out / "frame.bin").write_bytes(b"an earlier run")
    (out / "frame_1.bin").write_bytes(b"and another")
    srv = rill_serve()
    r = rill("log", "frame", "-d", "0.1", "-o", str(out), url=srv.url)
    assert r.returncode == 0, r.stderr
    assert r.stderr == (f"rill log: {out}/frame.bin exists (kept); the download goes to "
                        f"{out}/frame_2.bin\n"), r.stderr
    assert (out / "frame.bin").read_bytes() == b"an earlier run"
    assert (out / "frame_1.bin").read_bytes() == b"and another"
    header, bufs, _ = parse_log_file((out / "frame_2.bin").read_bytes())
    assert header["name"] == "frame" and bufs, header
    assert sorted(os.listdir(srv.logdir)) == ["frame.bin"]
    # The device keeps its earlier file and names the next frame+0.bin (its
    # directory's history); a fresh DIR still gets DIR/frame.bin.
    fresh = tmp_path / "fresh"
    r = rill("log", "frame", "-d", "0.1", "-o", str(fresh), url=srv.url)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert sorted(os.listdir(srv.logdir)) == ["frame+0.bin", "frame.bin"]
    assert os.listdir(fresh) == ["frame.bin"]
    assert (fresh / "frame.bin").read_bytes() == \
        (pathlib.Path(srv.logdir) / "frame+0.bin").read_bytes()


def test_log_makes_its_output_directory_as_stream_does(rill_server, tmp_path):
    """rill stream -o DIR makes DIR; rill log -o DIR said 'not a directory
    (create it first)', so the README's `rill log sine frame -d 2 -o logs`
    failed in a fresh directory. It is made now, before the device logs; one
    that cannot be made is said before anything is logged, and a run that
    fails leaves no empty directory behind."""
    out = tmp_path / "logs"
    r = rill("log", "frame", "-d", "0.1", "-o", str(out), url=rill_server.url)
    assert r.returncode == 0, r.stderr
    header, bufs, _ = parse_log_file((out / "frame.bin").read_bytes())
    assert header["name"] == "frame" and bufs, header
    before = sorted(os.listdir(rill_server.logdir))
    r = rill("log", "frame", "-d", "0.1", "-o", str(tmp_path / "no" / "such"),
             url=rill_server.url)
    assert r.returncode == 1, r.stderr
    assert f"cannot create directory {tmp_path / 'no' / 'such'}: No such file" in r.stderr
    assert sorted(os.listdir(rill_server.logdir)) == before  # nothing was logged
    r = rill("log", "nosuchvar", "-d", "0.1", "-o", str(tmp_path / "unused"),
             url=rill_server.url)
    assert r.returncode == 1 and not (tmp_path / "unused").exists(), r.stderr
    # Refused after the directory was made (a start tick in the past): it
    # goes again.
    r = rill("log", "frame", "-d", "0.1", "--at", "1", "-o", str(tmp_path / "unused"),
             url=rill_server.url)
    assert r.returncode == 2 and "--at 1 is in the past" in r.stderr, r.stderr
    assert not (tmp_path / "unused").exists()


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
def test_a_device_on_an_ipv6_address_is_reached_with_brackets(rill_serve, tmp_path):
    """rill serve --host ::1 prints ws://[::1]:PORT; the client reads that URL
    (it said "has a bad port"), connects, and fetches a log file over HTTP
    from the same address."""
    srv = rill_serve(host="::1")
    assert f"listening on ws://[::1]:{srv.port} " in srv.output(), srv.output()
    url = f"ws://[::1]:{srv.port}"
    r = rill("ls", url=url)
    assert r.returncode == 0 and "sine" in r.stdout, r.stderr
    r = rill("log", "frame", "-d", "0.1", "-o", str(tmp_path / "logs"), url=url)
    assert r.returncode == 0, r.stderr
    header, bufs, _ = parse_log_file((tmp_path / "logs" / "frame.bin").read_bytes())
    assert header["name"] == "frame" and bufs, header
    r = rill("ls", url=f"ws://[::1:{srv.port}")
    assert r.returncode == 2 and "has a bad IPv6 address: write ws://[ADDRESS]:PORT" in r.stderr, \
        r.stderr


def test_log_without_a_directory_or_duration_is_a_usage_error(rill_server, tmp_path):
    (tmp_path / "a_file").write_text("x")
    r = rill("log", "frame", "-d", "1", "-o", str(tmp_path / "a_file"), url=rill_server.url)
    assert r.returncode == 2 and f"-o {tmp_path / 'a_file'} is not a directory" in r.stderr
    r = rill("log", "frame", url=rill_server.url)
    assert r.returncode == 2 and "usage: rill log" in r.stderr
    r = rill("log", "nosuchvar", "-d", "0.1", "-o", str(tmp_path), url=rill_server.url)
    assert r.returncode == 1 and "nosuchvar" in r.stderr


def test_send_delivers_a_buffer_the_device_program_sums(rill_server):
    r = rill("send", "1", "2", "3.5", "-0.25", url=rill_server.url)
    assert r.returncode == 0, r.stderr
    r = rill("peek", "inbox", url=rill_server.url)
    assert float(r.stdout.split()[2]) == 6.25
    p = subprocess.run([rill_bin(), "send", "--type", "i", "-", "--url", rill_server.url],
                       input="\n".join(str(i) for i in range(1, 1001)), capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    r = rill("peek", "inbox", url=rill_server.url)
    assert float(r.stdout.split()[2]) == 500500
    # One line of 3000 values (13 KB): none cut in two where a line buffer ends.
    p = subprocess.run([rill_bin(), "send", "--type", "i", "-", "--url", rill_server.url],
                       input=" ".join(str(i) for i in range(1, 3001)) + "\n",
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    r = rill("peek", "inbox", url=rill_server.url)
    assert float(r.stdout.split()[2]) == 3000 * 3001 // 2


def test_send_options_take_their_values_wherever_they_stand(rill_server):
    # --timeout's value is its own, not a value to send; a negative number
    # between options is a value.
    r = rill("send", "--timeout", "5", "1", "2", "3", url=rill_server.url)
    assert r.returncode == 0, r.stderr
    assert float(rill("peek", "inbox", url=rill_server.url).stdout.split()[2]) == 6
    r = rill("send", "4", "--timeout", "5", "-2", "--type", "d", "0.5", url=rill_server.url)
    assert r.returncode == 0, r.stderr
    assert float(rill("peek", "inbox", url=rill_server.url).stdout.split()[2]) == 2.5


def test_send_refuses_values_its_type_cannot_hold_and_non_numbers(rill_server):
    r = rill("send", "--type", "i", "1.5", url=rill_server.url)
    assert r.returncode == 2 and "does not fit an int32" in r.stderr
    r = rill("send", "1e39", url=rill_server.url)  # beyond float's range
    assert r.returncode == 2 and "does not fit a float; use --type d" in r.stderr
    r = rill("send", "--type", "c", "300", url=rill_server.url)
    assert r.returncode == 2 and "does not fit a char" in r.stderr
    r = rill("send", "1", "two", url=rill_server.url)
    assert r.returncode == 2 and "value 2, 'two', is not a number" in r.stderr
    # A variable's name where the values go: the channel is an option.
    r = rill("send", "sine", "1", url=rill_server.url)
    assert r.returncode == 2 and "value 1, 'sine', is not a number (rill send takes values " \
        "only: the channel is --channel N" in r.stderr
    p = subprocess.run([rill_bin(), "send", "-", "--url", rill_server.url],
                       input="1 2\n3 x4\n", capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and \
        "value 4, 'x4' (line 2 of standard input), is not a number" in p.stderr, p.stderr
    r = rill("send", "--type", "q", "1", url=rill_server.url)
    assert r.returncode == 2 and "--type wants" in r.stderr
    r = rill("send", "1", "1e400", url=rill_server.url)
    assert r.returncode == 2 and "value 2, '1e400', is beyond every type's range" in r.stderr
    # A buffer the device refuses is a failure, with the device's reason
    # (it said "sent", exit 0, while the device ignored it).
    for n, status in ((16380, 0), (16381, 1)):
        p = subprocess.run([rill_bin(), "send", "-", "--url", rill_server.url],
                           input=" ".join(["0.5"] * n), capture_output=True, text=True,
                           timeout=30)
        assert p.returncode == status, (n, p.returncode, p.stderr)
    assert "message over 65536 bytes (the server's max_message_bytes)" in p.stderr, p.stderr
    assert p.stderr.endswith("rill send: the device refused the buffer (its reason is "
                             "above)\n"), p.stderr


def test_set_refuses_what_json_cannot_carry_before_connecting():
    # Sent, inf and nan left the value out and the device refused the
    # command, yet rill set said nothing and exited 0.
    for value, why in (("inf", "has no inf or nan"), ("-inf", "has no inf or nan"),
                       ("nan", "has no inf or nan"), ("1e400", "beyond every type's range")):
        r = run("set", "gain", value, "--url", "ws://127.0.0.1:9")
        assert r.returncode == 2, (value, r.returncode, r.stderr)
        assert r.stderr.startswith(f"rill set: the value for gain, '{value}', cannot be set: ")
        assert why in r.stderr, r.stderr


# ---- -d SECONDS and --at TICK -------------------------------------------------------

@pytest.mark.parametrize("protocol", ["native", "compat"])
def test_stream_seconds_of_a_sparse_and_a_dense_variable_end_on_the_device(rill_serve,
                                                                          protocol):
    """-d 0.5: the device ends both streams after 0.5 s of ticks. frame (dense)
    gives exactly 0.5 x rate values from the common start tick; events
    (sparse) gives exactly the event frames of those ticks, nothing after. In
    rill's native mode and in the Watcher's (a Bela board's), where the
    client trims the value at the end tick and the zero padding."""
    srv = rill_serve(*(["--compat-only"] if protocol == "compat" else []))
    want = int(0.5 * RATE)
    r = rill("stream", "events", "frame", "-d", "0.5", url=srv.url)
    assert r.returncode == 0, r.stderr
    rows = [row.split(",") for row in r.stdout.splitlines()]
    frames = [int(t) for name, t, _ in rows if name == "frame"]
    events = [(int(t), int(float(v))) for name, t, v in rows if name == "events"]
    start = frames[0]
    assert frames == list(range(start, start + want)), (len(frames), frames[:3], frames[-3:])
    outside = [t for t, _ in events if not start <= t < start + want]
    assert not outside, f"events outside [{start}, {start + want}): {outside[:5]}"
    assert [t for t, _ in events] == [f for f in range(start, start + want)
                                      if is_event_frame(f)]
    assert all(v == t for t, v in events)


def test_stream_seconds_at_a_future_tick_to_files_holds_exactly_those_ticks(
        rill_server, tmp_path):
    want = int(0.5 * RATE)
    at = device_tick(rill_server.url) + int(0.5 * RATE)
    r = rill("stream", "events", "frame_d", "-d", "0.5", "--at", str(at), "-o",
             str(tmp_path), url=rill_server.url)
    assert r.returncode == 0, r.stderr
    dense = csv_pairs(tmp_path / "frame_d.csv")
    assert [t for t, _ in dense] == list(range(at, at + want))
    events = csv_pairs(tmp_path / "events.csv")
    assert [t for t, _ in events] == [f for f in range(at, at + want) if is_event_frame(f)]
    assert all(v == t for t, v in dense + events)


def test_stream_and_log_refuse_a_start_tick_in_the_past(rill_server, tmp_path):
    for cmd in (["stream", "frame", "-d", "0.1", "-o", str(tmp_path / "s")],
                ["log", "frame", "-d", "0.1", "-o", str(tmp_path)]):
        t0 = time.monotonic()
        r = rill(*cmd, "--at", "5", url=rill_server.url, timeout=20)
        assert r.returncode == 2, (cmd, r.returncode, r.stderr)
        assert time.monotonic() - t0 < 5
        assert "--at 5 is in the past: the device is at tick " in r.stderr, r.stderr
        now = int(r.stderr.split("at tick ")[1].split()[0])
        assert now > 5
    assert not (tmp_path / "s").exists()
    assert list(tmp_path.iterdir()) == []


# ---- numbers, URLs, connections ----------------------------------------------------

BAD_NUMBERS = [
    (["stream", "frame", "-n", "1.5"], "-n wants a whole number"),
    (["stream", "frame", "-n", "0"], "-n wants a whole number"),
    (["stream", "frame", "-n", "-3"], "-n wants a whole number"),
    (["stream", "frame", "-n", "ten"], "-n wants a whole number"),
    (["stream", "frame", "-d", "0"], "-d wants a number of seconds above 0"),
    (["stream", "frame", "-d", "-1"],
     "-d wants a number of seconds above 0, up to 10000000, not '-1'"),
    (["stream", "frame", "-d", "1e12"], "-d wants a number of seconds above 0, up to"),
    (["stream", "frame", "-d", "1s"], "-d wants a number"),
    (["stream", "frame", "-d", "nan"], "-d wants a number"),
    (["stream", "frame", "-n", "5", "--at", "1.5"], "--at wants a whole number"),
    (["stream", "frame", "-n", "5", "--at", "0"],
     "--at wants a whole number from 1 to 9007199254740992, not '0'"),
    (["stream", "frame", "-n", "5", "-d", "1"], "-n and -d exclude each other"),
    (["stream", "frame", "-n", "5", "--format", "wav"], "--format needs -o DIR"),
    (["stream", "frame", "sine", "frame", "-n", "5"], "frame is named twice"),
    (["stream", "frame", "-n", "5", "-o", "x", "--format", "mp3"], "unknown format 'mp3'"),
    (["stream", "frame", "-n", "5", "-o", "take.wav"],
     "-o take.wav: -o names a directory, each variable going to DIR/<var>.<format>; "
     "for wav files give -o DIR --format wav"),
    (["stream", "frame", "-n", "5", "-o", "runs/take.csv"], "for csv files give -o DIR --format csv"),
    (["monitor", "frame", "--period", "0"], "--period wants a whole number from 2"),
    (["monitor", "frame", "--period", "1"],
     "--period wants a whole number from 2 to 2147483647, not '1'"),  # not 2.14748e+09
    (["monitor", "frame", "--period", "2.5"], "--period wants a whole number"),
    (["monitor", "frame", "-n", "0"], "-n wants a whole number from 1"),
    (["monitor", "frame", "-n", "2.5"], "-n wants a whole number"),
    (["log", "frame", "-d", "0"], "-d wants a number of seconds above 0"),
    (["log", "frame", "-d", "x"], "-d wants a number"),
    (["log", "frame", "-d", "1", "--at", "-4"], "--at wants a whole number"),
    (["send", "--channel", "-1", "1"], "--channel wants a whole number"),
    (["send", "--channel", "1.5", "1"], "--channel wants a whole number"),
    (["send", "--channel", "", "1"], "--channel wants a whole number"),
    (["convert", "x.bin", "--to", "wav", "--rate", "0"], "--rate wants a number"),
    (["convert", "x.bin", "--to", "wav", "--rate", "fast"], "--rate wants a number"),
]


def test_an_existing_directory_named_like_a_file_is_still_a_directory(rill_server, tmp_path):
    out = tmp_path / "take.csv"
    out.mkdir()
    r = rill("stream", "frame", "-n", "5", "-o", str(out), url=rill_server.url)
    assert r.returncode == 0, r.stderr
    assert len(csv_pairs(out / "frame.csv")) == 5


@pytest.mark.parametrize("args,words", BAD_NUMBERS, ids=[" ".join(a) for a, _ in BAD_NUMBERS])
def test_bad_numbers_are_usage_errors_before_connecting(args, words):
    # Nothing listens on port 9: the options are checked first.
    extra = [] if args[0] == "convert" else ["--url", "ws://127.0.0.1:9"]
    r = run(*args, *extra)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert words in r.stderr, r.stderr
    assert "cannot connect" not in r.stderr and r.stdout == ""


HOST_COMMANDS = [["ls"], ["stream", "frame", "-n", "5"], ["peek", "frame"],
                 ["monitor", "frame", "-n", "1"], ["set", "gain", "1"],
                 ["log", "frame", "-d", "1"], ["send", "1"], ["audio"]]


@pytest.mark.parametrize("cmd", HOST_COMMANDS, ids=[c[0] for c in HOST_COMMANDS])
def test_a_malformed_url_is_a_usage_error_for_every_host_command(cmd, tmp_path):
    for url, words in (("127.0.0.1:5555", "is not a ws:// URL"),
                       ("wss://bela.local", "rill speaks plain ws:// only"),
                       ("ws://", "has no host name"),
                       ("ws://bela.local:99999", "has a bad port"),
                       ("ws://bela.local:55x", "has a bad port")):
        r = subprocess.run([rill_bin(), *cmd, "--url", url], capture_output=True, text=True,
                           timeout=10, cwd=tmp_path)
        assert r.returncode == 2, (cmd, url, r.returncode, r.stderr)
        assert f"rill {cmd[0]}: '{url}'" in r.stderr and words in r.stderr, r.stderr
    env = dict(os.environ, RILL_URL="http://127.0.0.1:5555")
    r = subprocess.run([rill_bin(), *cmd], capture_output=True, text=True, timeout=10,
                       cwd=tmp_path, env=env)
    assert r.returncode == 2 and "(from $RILL_URL) is not a ws:// URL" in r.stderr, r.stderr


@pytest.mark.parametrize("cmd", HOST_COMMANDS, ids=[c[0] for c in HOST_COMMANDS])
def test_a_device_address_given_as_an_argument_says_to_use_url(cmd, tmp_path):
    # `rill ls ws://bela.local:5555`: the address is neither taken for a
    # variable's name (connecting to the default device) nor reported as
    # one argument too many; nothing is contacted.
    for url in ("ws://127.0.0.1:9", "wss://bela.local"):
        r = subprocess.run([rill_bin(), cmd[0], url, *cmd[1:]], capture_output=True,
                           text=True, timeout=10, cwd=tmp_path)
        assert r.returncode == 2, (cmd, url, r.returncode, r.stderr)
        assert f"rill {cmd[0]}: '{url}' looks like a device address: give it as --url {url}" \
            in r.stderr, r.stderr
        assert "cannot connect" not in r.stderr and r.stdout == "", r.stderr


def test_a_host_that_does_not_resolve_is_named_with_what_to_do():
    r = run("ls", "--url", "ws://no-such-host.invalid:5555", timeout=60)
    assert r.returncode == 1, r.stderr
    assert "cannot resolve host 'no-such-host.invalid'" in r.stderr, r.stderr
    assert "check the host name in --url" in r.stderr, r.stderr
    assert "input/output error" not in r.stderr, r.stderr


def ls_against_a_silent_listener(*args):
    """`rill ls ARGS` against a TCP listener that accepts and never says a
    word: (its result, seconds it took)."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    port = lsock.getsockname()[1]
    try:
        t0 = time.monotonic()
        r = run("ls", "--url", f"ws://127.0.0.1:{port}", *args, timeout=30)
        return r, time.monotonic() - t0
    finally:
        lsock.close()


def test_a_port_that_never_answers_the_handshake_says_what_to_check():
    """A TCP listener that accepts and says nothing (not a rill serve): the
    client gives up after its 5 s timeout and asks whether it is a rill serve
    or a Bela and whether the port is right."""
    r, took = ls_against_a_silent_listener()
    assert r.returncode == 1, r.stderr
    assert "did not answer the WebSocket handshake" in r.stderr, r.stderr
    assert "is that a rill serve or a Bela board, and is the port right" in r.stderr
    assert "give it longer with --timeout SECONDS" in r.stderr, r.stderr
    assert "within 5000 ms" in r.stderr, r.stderr
    assert 4.9 <= took < 15, took


def test_serve_that_cannot_start_says_why_in_one_line(tmp_path):
    """A port another program holds, a log directory that is not there:
    rill serve exits 1 with one line that says what and what to do (it
    printed the library's line and then 'not started (input/output error;
    the reason is above)')."""
    import socket
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    port = held.getsockname()[1]
    try:
        cases = ((["--port", str(port)],
                  f"rill serve: not started: cannot listen on 127.0.0.1:{port}: "
                  "Address already in use (another program uses the port: "
                  "pick another with --port)"),
                 (["--port", "0", "--log-dir", str(tmp_path / "missing")],
                  f"rill serve: not started: log directory {tmp_path / 'missing'} "
                  "does not exist (create it"),
                 (["--port", "0", "--log-dir", str(tmp_path / "a_file")],
                  f"rill serve: not started: log directory {tmp_path / 'a_file'} "
                  "is not a directory (check the path"))
        (tmp_path / "a_file").write_text("")
        for args, want in cases:
            r = run("serve", "--source", "demo", *args, timeout=30)
            assert r.returncode == 1, (args, r.returncode, r.stderr)
            lines = r.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith(want), (args, r.stderr)
    finally:
        held.close()


def test_timeout_sets_how_long_a_command_waits_for_the_device():
    """--timeout SECONDS replaces the 5 s wait (for a slow or lossy link,
    or to fail sooner); a value that is not a time is a usage error."""
    r, took = ls_against_a_silent_listener("--timeout", "1.5")
    assert r.returncode == 1, r.stderr
    assert "did not answer the WebSocket handshake within 1500 ms" in r.stderr, r.stderr
    assert 1.4 <= took < 4.5, took
    for bad in ("0", "-1", "x", "5s", "7200"):
        r = run("stream", "frame", "-n", "1", "--timeout", bad, timeout=30)
        assert r.returncode == 2, (bad, r.stderr)
        assert f"rill stream: --timeout wants a number from 0.001 to 3600, not '{bad}'" \
            in r.stderr, r.stderr


def test_rill_url_from_the_environment_is_used_without_url(rill_server, tmp_path):
    env = dict(os.environ, RILL_URL=rill_server.url)
    r = run("ls", env=env)
    assert r.returncode == 0, r.stderr
    assert [ln.split()[0] for ln in r.stdout.splitlines()[1:]] == [v[0] for v in DEMO_VARS]
    r = run("stream", "frame", "-n", "100", "-o", str(tmp_path), env=env)
    assert r.returncode == 0, r.stderr
    assert len(csv_pairs(tmp_path / "frame.csv")) == 100
    # --url still wins over the environment.
    env = dict(os.environ, RILL_URL="ws://127.0.0.1:1")
    assert run("peek", "frame", "--url", rill_server.url, env=env).returncode == 0
    assert run("peek", "frame", env=env).returncode == 1


# ---- set --mask, formats -----------------------------------------------------------

def test_set_with_a_mask_on_a_float_or_double_is_refused(rill_server):
    for name, vtype in (("gain", "float"), ("inbox", "double")):
        r = rill("set", name, "1", "--mask", "1", url=rill_server.url)
        assert r.returncode == 2, (name, r.returncode, r.stderr)
        assert f"--mask is for integer variables, and {name} is {vtype}" in r.stderr
        row = ls_rows(rill_server.url)[name]
        assert row["controlled"] == "no", row  # refused before taking control
    r = rill("set", "nosuch", "1", url=rill_server.url)
    assert r.returncode == 1 and "the device has no variable 'nosuch'" in r.stderr


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_a_format_that_cannot_hold_a_variable_writes_no_file(rill_server, tmp_path, fmt):
    out = tmp_path / "out"
    r = rill("stream", "sine", "events", "-n", "10", "-o", str(out), "--format", fmt,
             url=rill_server.url)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert f'{fmt} holds dense numeric variables only; "events" is sparse int32' \
        in r.stderr, r.stderr
    assert not out.exists() or list(out.iterdir()) == []
    # The variable is not left streaming on the device either.
    assert ls_rows(rill_server.url)["sine"]["watched"] == "no"


# ---- convert ---------------------------------------------------------------------------

def test_a_file_that_cannot_be_read_gets_one_line_saying_why(tmp_path):
    (tmp_path / "cut.bin").write_bytes(b"garbage")
    (tmp_path / "bad.csv").write_text("timestamp,x\n1,2\nfoo,bar\n")
    (tmp_path / "notes.log").write_text("hello\n")
    (tmp_path / "dir.csv").mkdir()
    (tmp_path / "empty.bin").write_bytes(b"")
    (tmp_path / "text.wav").write_text("not a sound\n")
    for name, why in (("missing.bin", "not found"), ("missing.wav", "not found"),
                      ("cut.bin", "log file: truncated inside the magic"),
                      ("empty.bin", "it is empty (0 bytes: its writer never wrote?)"),
                      ("text.wav", "not a sound file libsndfile reads (Format not recognised)"),
                      ("bad.csv", 'line 3 is not "timestamp,value"'),
                      ("notes.log", "unknown file extension (expected .bin, .wav"),
                      ("dir.csv", "it is a directory (name a file in it)")):
        path = str(tmp_path / name)
        for cmd in (["info", path], ["convert", path, "--to", "jsonl"]):
            r = run(*cmd)
            assert r.returncode == 1, (cmd, r.stderr)
            # One line: the command, the file, and the reader's own reason.
            assert r.stderr.startswith(f"rill {cmd[0]}: cannot read {path}: {why}"), r.stderr
            assert r.stderr.count("\n") == 1 and r.stdout == "", r.stderr
    assert not (tmp_path / "bad.jsonl").exists()


def test_info_of_a_file_with_no_values_gives_no_ticks(tmp_path):
    """'first tick 0' for a file without values named a tick no value has."""
    (tmp_path / "x.csv").write_text("timestamp,x\n")
    (tmp_path / "y.jsonl").write_text("")
    for name in ("x.csv", "y.jsonl"):
        r = run("info", str(tmp_path / name))
        assert r.returncode == 0, r.stderr
        info = {ln[:11].strip(): ln[11:] for ln in r.stdout.splitlines()}
        assert (info["values"], info["first tick"], info["last tick"]) == ("0", "none",
                                                                           "none"), info


def test_convert_to_jsonl_reads_back_equal_to_the_source(rill_server, tmp_path):
    """A dense float and a sparse int32 stream, saved as csv, converted to
    jsonl: the same ticks and values (the sparse one with rel_timestamps),
    and back to csv byte for byte."""
    r = rill("stream", "sine", "events", "-d", "0.3", "-o", str(tmp_path), url=rill_server.url)
    assert r.returncode == 0, r.stderr
    for name, mode in (("sine", "dense"), ("events", "sparse")):
        src = tmp_path / f"{name}.csv"
        c = run("convert", str(src), "--to", "jsonl")
        assert c.returncode == 0 and c.stderr == "", c.stderr
        dst = tmp_path / f"{name}.jsonl"
        want = csv_pairs(src)
        assert len(want) > 50
        assert jsonl_pairs(dst) == want, name
        lines = [json.loads(x) for x in dst.read_text().splitlines()]
        assert all(("rel_timestamps" in o) == (mode == "sparse") for o in lines), name
        info = run("info", str(dst))
        assert info.returncode == 0, info.stderr
        fields = dict(line.split(None, 1) for line in info.stdout.splitlines())
        assert fields["values"] == str(len(want)) and fields["mode"] == mode, fields
        back = tmp_path / f"{name}.back.csv"
        c = run("convert", str(dst), "--to", "csv", "-o", str(back))
        assert c.returncode == 0, c.stderr
        assert back.read_text() == src.read_text(), name


def test_convert_takes_the_output_as_a_second_argument_its_name_saying_the_format(rill_server,
                                                                                 tmp_path):
    r = rill("stream", "sine", "-n", "2048", "-o", str(tmp_path), url=rill_server.url)
    assert r.returncode == 0, r.stderr
    src = tmp_path / "sine.csv"
    # As sox: `rill convert IN OUT`; the same file as --to's.
    assert run("convert", str(src), str(tmp_path / "a.jsonl")).returncode == 0
    assert run("convert", str(src), "--to", "jsonl", "-o", str(tmp_path / "b.jsonl")).returncode == 0
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    # -o alone says the format by its name too.
    assert run("convert", str(src), "-o", str(tmp_path / "c.jsonl")).returncode == 0
    assert (tmp_path / "c.jsonl").read_bytes() == (tmp_path / "a.jsonl").read_bytes()
    # A wav still needs the rate a csv does not record.
    c = run("convert", str(src), str(tmp_path / "take.wav"))
    assert c.returncode == 2 and "records no sample rate; give it with --rate HZ" in c.stderr
    c = run("convert", str(src), str(tmp_path / "take.wav"), "--rate", "44100")
    assert c.returncode == 0, c.stderr
    info = dict(line.split(None, 1) for line in run("info", str(tmp_path / "take.wav"))
                .stdout.splitlines())
    assert info["format"] == "wav" and info["values"] == "2048" and info["rate"] == "44100"
    # A name that says no format, and two outputs, are usage errors; nothing written.
    c = run("convert", str(src), str(tmp_path / "out.xyz"))
    assert c.returncode == 2 and "cannot tell the format from the name" in c.stderr \
        and "or give --to" in c.stderr, c.stderr
    c = run("convert", str(src), str(tmp_path / "d.jsonl"), "-o", str(tmp_path / "e.jsonl"))
    assert c.returncode == 2 and "two outputs" in c.stderr, c.stderr
    c = run("convert", str(src), str(tmp_path / "f.wav"), "--to", "jsonl")
    assert c.returncode == 2 and "f.wav names a .wav file, but --to is jsonl" in c.stderr, c.stderr
    assert not any((tmp_path / n).exists() for n in ("out.xyz", "d.jsonl", "e.jsonl", "f.wav"))
    # A name of no known format takes what --to says.
    assert run("convert", str(src), str(tmp_path / "g.txt"), "--to", "jsonl").returncode == 0
    assert (tmp_path / "g.txt").read_bytes() == (tmp_path / "a.jsonl").read_bytes()


def test_info_and_convert_say_when_a_file_ends_cut_short(rill_server, tmp_path):
    """A writer killed mid-write leaves part of a buffer (bin) or of a line
    (csv, jsonl): the readers skip it, and rill info and rill convert now say
    so instead of reading past it in silence. A csv row that lost only its
    newline still parses (a number cut short does too): kept, and noted."""
    def last_line_cut(keep):
        return lambda data: data[:data.rindex(b"\n", 0, len(data) - 1) + 1 + keep]
    for fmt, cut, words, left in (
            ("bin", lambda d: d[:-3000], "is truncated: ", 2048),
            ("csv", last_line_cut(3), "line 3073 is cut short; ignored", 3071),
            ("csv", lambda d: d[:-1], "line 3073 has no newline: it may be cut short", 3072),
            ("jsonl", lambda d: d[:-9], "line 3 is cut short; ignored", 2048)):
        out = tmp_path / f"{fmt}{left}"
        r = rill("stream", "sine", "-n", "3072", "-o", str(out), "--format", fmt,
                 url=rill_server.url)
        assert r.returncode == 0, r.stderr
        f = out / f"sine.{fmt}"
        whole = dict(ln.split(None, 1) for ln in run("info", str(f)).stdout.splitlines())
        assert "note" not in whole and whole["values"] == "3072", whole
        c = run("convert", str(f), str(out / "whole.wav"), "--rate", "44100")
        assert c.returncode == 0 and c.stderr == "", c.stderr
        f.write_bytes(cut(f.read_bytes()))
        i = run("info", str(f))
        assert i.returncode == 0, i.stderr
        info = dict(ln.split(None, 1) for ln in i.stdout.splitlines())
        assert words in info.get("note", ""), (fmt, info)
        assert info["values"] == str(left), (fmt, info)
        c = run("convert", str(f), str(out / "cut.wav"), "--rate", "44100")
        assert c.returncode == 0, c.stderr
        assert c.stderr.startswith(f"rill convert: {f}: ") and words in c.stderr, c.stderr
        back = dict(ln.split(None, 1) for ln in run("info", str(out / "cut.wav")).stdout
                    .splitlines())
        assert back["values"] == str(left), (back, info)


def test_convert_refuses_an_output_that_is_its_input_under_another_name(rill_server, tmp_path):
    r = rill("stream", "sine", "-n", "2048", "-o", str(tmp_path), url=rill_server.url)
    assert r.returncode == 0, r.stderr
    src = tmp_path / "sine.csv"
    before = src.read_bytes()
    (tmp_path / "link.jsonl").symlink_to(src)
    os.link(src, tmp_path / "hard.csv")
    for out in (tmp_path / "link.jsonl", tmp_path / "hard.csv", f"{tmp_path}/./sine.csv"):
        c = run("convert", str(src), str(out), "--to", str(out).rsplit(".", 1)[1])
        assert c.returncode == 2, (out, c.returncode, c.stderr)
        assert f"{out} is {src} itself" in c.stderr and "give another OUT" in c.stderr, c.stderr
        assert src.read_bytes() == before, out


def test_convert_keeps_an_output_that_is_there_unless_force_and_a_failure_keeps_it_too(
        rill_server, tmp_path):
    """rill convert wrote over any OUT (and a failed conversion then removed
    it): now it refuses, as rill stream does; --force replaces it only once
    the conversion has succeeded."""
    r = rill("stream", "sine", "-n", "2048", "-o", str(tmp_path), url=rill_server.url)
    assert r.returncode == 0, r.stderr
    src, out = tmp_path / "sine.csv", tmp_path / "sine.jsonl"
    out.write_text("my notes\n")
    c = run("convert", str(src), "--to", "jsonl")
    assert c.returncode == 2, c.stderr
    assert c.stderr == (f"rill convert: {out} is there already (kept): give another OUT, or "
                        "--force to write over it\n"), c.stderr
    assert out.read_text() == "my notes\n"
    # A conversion that fails (a char cannot hold the sine's first value)
    # or cannot start (jsonl holds no char) leaves it as it was.
    binary = tmp_path / "sine.bin"
    binary.write_bytes(b"an earlier take")
    c = run("convert", str(src), str(binary), "--type", "char", "--force")
    assert c.returncode == 2 and c.stderr.rstrip().endswith(f"{binary} kept as it was"), \
        c.stderr
    c = run("convert", str(src), str(out), "--type", "char", "--force")
    assert c.returncode == 2 and c.stderr.startswith(f"rill convert: cannot write {out}: jsonl "
                                                     "cannot hold char"), c.stderr
    assert out.read_text() == "my notes\n" and binary.read_bytes() == b"an earlier take"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sine.bin", "sine.csv", "sine.jsonl"]
    # A link where the conversion is written before it replaces OUT (a
    # leftover, or planted) is replaced, not written through.
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("keep me\n")
    (tmp_path / "sine.jsonl.partial").symlink_to(elsewhere)
    c = run("convert", str(src), str(out), "--force")
    assert c.returncode == 0, c.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sum(len(row["data"]) for row in rows) == 2048
    assert elsewhere.read_text() == "keep me\n"
    elsewhere.unlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sine.bin", "sine.csv", "sine.jsonl"]


def test_dash_as_the_output_is_standard_output_for_stream_and_refused_elsewhere(rill_server,
                                                                               tmp_path):
    """-o - made a directory named '-'."""
    r = subprocess.run([rill_bin(), "stream", "sine", "-n", "5", "-o", "-", "--url",
                        rill_server.url], capture_output=True, text=True, timeout=30,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [ln.split(",")[0] for ln in r.stdout.splitlines()] == ["sine"] * 5
    for args, words in ((["log", "sine", "-d", "0.1", "-o", "-", "--url", rill_server.url],
                         "rill log: -o - : the device's files are downloaded into a directory"),
                        (["convert", "x.csv", "-", "--to", "jsonl"],
                         "rill convert: - : the output is a file"),
                        (["convert", "x.csv", "-o", "-"], "rill convert: - : the output is a "
                                                          "file")):
        r = subprocess.run([rill_bin(), *args], capture_output=True, text=True, timeout=30,
                           cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.startswith(words), (args, r.stderr)
    assert list(tmp_path.iterdir()) == []


def test_stream_keeps_a_recording_already_in_the_directory_unless_forced(rill_server, tmp_path):
    out = tmp_path / "take"
    r = rill("stream", "sine", "-n", "300", "-o", str(out), url=rill_server.url)
    assert r.returncode == 0, r.stderr
    first = (out / "sine.csv").read_bytes()
    # Again into the same directory: refused before connecting, nothing
    # truncated, and the new variable's file not made either.
    r = rill("stream", "frame", "sine", "-n", "100", "-o", str(out), url="ws://127.0.0.1:9")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert f"{out} already holds sine.csv; nothing was written: give another -o DIR, " \
        "move it away, or --force to write over it" in r.stderr, r.stderr
    assert (out / "sine.csv").read_bytes() == first
    assert sorted(p.name for p in out.iterdir()) == ["sine.csv"]
    # Another format is another file; --force writes over.
    r = rill("stream", "sine", "-n", "100", "-o", str(out), "--format", "jsonl",
             url=rill_server.url)
    assert r.returncode == 0, r.stderr
    r = rill("stream", "sine", "frame", "-n", "100", "-o", str(out), url=rill_server.url)
    assert r.returncode == 2 and "holds sine.csv; nothing" in r.stderr, r.stderr
    r = rill("stream", "sine", "-n", "100", "-o", str(out), "--force", url=rill_server.url)
    assert r.returncode == 0, r.stderr
    assert len(csv_pairs(out / "sine.csv")) == 100
    # --force replaces a link with the recording; what it pointed to stays.
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me\n")
    (out / "sine.csv").unlink()
    (out / "sine.csv").symlink_to(target)
    r = rill("stream", "sine", "-n", "100", "-o", str(out), "--force", url=rill_server.url)
    assert r.returncode == 0, r.stderr
    assert target.read_text() == "keep me\n"
    assert not (out / "sine.csv").is_symlink() and len(csv_pairs(out / "sine.csv")) == 100
    # A directory is not replaced: said before any file is touched.
    kept = (out / "sine.csv").read_bytes()
    (out / "frame.csv").mkdir()
    r = rill("stream", "sine", "frame", "-n", "100", "-o", str(out), "--force",
             url=rill_server.url)
    assert r.returncode == 1, r.stderr
    assert f"cannot replace {out}/frame.csv: it is a directory; nothing was written" \
        in r.stderr, r.stderr
    assert (out / "sine.csv").read_bytes() == kept
    r = rill("stream", "sine", "-n", "5", "--force", url="ws://127.0.0.1:9")
    assert r.returncode == 2 and "--force goes with -o DIR" in r.stderr, r.stderr


def test_two_streams_started_at_once_into_one_directory_never_write_over_each_other(
        rill_server, tmp_path):
    """Both pass the check before connecting; one of them used to truncate the
    other's file as it began and both said nothing (exit 0). The name is now
    claimed with O_EXCL: one writes its N rows, the other stops with the
    reason, its own earlier files removed and the winner's kept."""
    for k in range(3):
        out = tmp_path / f"take{k}"
        cmd = [rill_bin(), "stream", "frame", "sine", "-n", "2000", "-o", str(out),
               "--url", rill_server.url]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
        res = [(p.wait(20), p.communicate()[1]) for p in procs]
        codes = sorted(rc for rc, _ in res)
        assert codes in ([0, 1], [0, 2]), res
        lost = [err for rc, err in res if rc != 0][0]
        assert ("appeared while this command started (another one writing into "
                f"{out}?); it was kept and nothing was written" in lost
                or "already holds" in lost), lost
        assert len(lost.splitlines()) == 1, lost
        frames = csv_pairs(out / "frame.csv")
        first = int(frames[0][1])
        assert [v for _, v in frames] == list(range(first, first + 2000))
        assert len(csv_pairs(out / "sine.csv")) == 2000


def test_a_sparse_bin_reads_back_without_its_padding(rill_server, tmp_path):
    """A sparse variable's values through bin and back: the same ticks and
    values, none of the last body's zero padding (relative tick 0, value 0:
    its ticks would not rise) passing as data; rill info counts them so and
    says a bin file's mode is what --sparse says. A sound format refuses a
    sparse variable in one line, as a usage error, writing nothing."""
    r = rill("stream", "events", "-d", "0.5", "-o", str(tmp_path), url=rill_server.url)
    assert r.returncode == 0, r.stderr
    src = tmp_path / "events.csv"
    want = csv_pairs(src)
    assert len(want) > 100 and len(want) % 512, len(want)  # the last sparse body is padded
    c = run("convert", str(src), str(tmp_path / "events.bin"))
    assert c.returncode == 0, c.stderr
    c = run("convert", str(tmp_path / "events.bin"), str(tmp_path / "back.csv"), "--sparse")
    assert c.returncode == 0, c.stderr
    assert csv_pairs(tmp_path / "back.csv") == want
    info = dict(line.split(None, 1) for line in
                run("info", str(tmp_path / "events.bin"), "--sparse").stdout.splitlines())
    assert info["values"] == str(len(want)) and info["last"] == f"tick  {want[-1][0]}", info
    assert info["mode"] == "sparse (as --sparse says: a bin file does not record the mode)"
    # Without --sparse the mode is told from the buffers (values, then ticks
    # that rise from 0), and said; --dense reads it as dense all the same.
    info = dict(line.split(None, 1) for line in
                run("info", str(tmp_path / "events.bin")).stdout.splitlines())
    assert info["mode"].startswith("sparse (told from its buffers"), info
    assert info["values"] == str(len(want)), info
    c = run("convert", str(tmp_path / "events.bin"), str(tmp_path / "told.csv"))
    assert c.returncode == 0, c.stderr
    assert c.stderr == (f"rill convert: {tmp_path / 'events.bin'}: read as a sparse variable's "
                        "log, told from its buffers (values and rising ticks): a bin file does "
                        "not record the mode; --dense reads it as dense\n"), c.stderr
    assert csv_pairs(tmp_path / "told.csv") == want
    info = dict(line.split(None, 1) for line in
                run("info", str(tmp_path / "events.bin"), "--dense").stdout.splitlines())
    assert info["mode"] == "dense (as --dense says: a bin file does not record the mode)", info
    assert info["values"] == str((len(want) + 511) // 512 * 1024), info
    both = run("info", str(tmp_path / "events.bin"), "--dense", "--sparse")
    assert both.returncode == 2 and "--sparse and --dense: give one" in both.stderr, both.stderr
    # A dense variable's log stays dense.
    r = rill("stream", "frame", "-n", "3000", "-o", str(tmp_path), "--format", "bin",
             url=rill_server.url)
    assert r.returncode == 0, r.stderr
    info = dict(line.split(None, 1) for line in
                run("info", str(tmp_path / "frame.bin")).stdout.splitlines())
    assert info["mode"].startswith("dense (a bin file does not record the mode: add --sparse"), info
    # 3000 values in 1024-value bodies: 72 zeros of padding, counted and said.
    assert info["values"] == "3072", info
    assert info["padding"].startswith("the last buffer ends in 72 zeros: the stream's padding"), info
    for fmt in ("wav", "flac"):
        c = run("convert", str(src), str(tmp_path / f"events.{fmt}"), "--rate", "44100")
        assert c.returncode == 2 and c.stderr.count("\n") == 1, c.stderr
        assert c.stderr.startswith(f"rill convert: cannot write {tmp_path / f'events.{fmt}'}: "
                                   f"{fmt} holds dense numeric variables only"), c.stderr
        assert not (tmp_path / f"events.{fmt}").exists()


def test_values_flac_cannot_hold_are_said_once_with_their_count(tmp_path):
    """flac holds 24-bit samples: audio beyond -1.0..1.0 (and NaN) and integers
    beyond 24 bits are clipped. The values stay as close as flac can hold them,
    and the writer says, once, how many of how many were clipped and that wav
    keeps every value; values that fit say nothing."""
    audio = tmp_path / "audio.csv"
    audio.write_text("timestamp,level\n0,0.5\n1,1.0\n2,1.5\n3,-2\n4,nan\n5,-1.0\n")
    c = run("convert", str(audio), str(tmp_path / "audio.flac"), "--rate", "1000")
    assert c.returncode == 0, c.stderr
    assert c.stderr.count("\n") == 1 and "audio.flac: 3 of 6 values were outside flac's " \
        "range and were clipped to it (-1.0 to 1.0, NaN stored as 0; wav keeps every value " \
        "exactly)" in c.stderr, c.stderr
    assert run("convert", str(tmp_path / "audio.flac"), str(tmp_path / "back.csv")).returncode == 0
    back = [v for _, v in csv_pairs(tmp_path / "back.csv")]
    assert back[0] == 0.5 and back[3] == -1.0 and back[4] == 0.0 and back[5] == -1.0, back
    assert 1.0 - 2 ** -23 <= back[1] == back[2] < 1.0, back

    counts = tmp_path / "counts.csv"
    counts.write_text("timestamp,frame\n0,8388607\n1,8388608\n2,-8388609\n3,7\n")
    c = run("convert", str(counts), str(tmp_path / "counts.flac"), "--rate", "1000")
    assert c.returncode == 0, c.stderr
    assert "counts.flac: 2 of 4 values were outside flac's range and were clipped to it " \
        "(24-bit integers, -8388608 to 8388607; wav keeps every value exactly)" in c.stderr, \
        c.stderr
    run("convert", str(tmp_path / "counts.flac"), str(tmp_path / "counts.back.csv"))
    assert [v for _, v in csv_pairs(tmp_path / "counts.back.csv")] == \
        [8388607, 8388607, -8388608, 7]
    c = run("convert", str(counts), str(tmp_path / "counts.wav"), "--rate", "1000")
    assert c.returncode == 0 and c.stderr == "", c.stderr

    fits = tmp_path / "fits.csv"
    fits.write_text("timestamp,level\n0,1.0\n1,-1.0\n2,0.25\n")
    c = run("convert", str(fits), str(tmp_path / "fits.flac"), "--rate", "1000")
    assert c.returncode == 0 and c.stderr == "", c.stderr


# ---- help ----------------------------------------------------------------------------

def commands():
    """The commands `rill help` lists."""
    out = run("help").stdout
    section = out.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in section.splitlines()]


def test_every_command_has_help_with_usage_and_examples():
    names = commands()
    assert {"serve", "ls", "stream", "peek", "monitor", "set", "log", "send", "audio",
            "info", "convert", "version", "help"} <= set(names), names
    for name in names:
        r = run(name, "--help")
        assert r.returncode == 0, (name, r.returncode, r.stderr)
        assert r.stderr == "", (name, r.stderr)
        assert r.stdout.startswith(f"usage: rill {name}"), (name, r.stdout[:80])
        assert "\nexample" in r.stdout, (name, r.stdout)
        # rill help NAME prints the same.
        h = run("help", name)
        assert h.returncode == 0 and h.stdout == r.stdout, name


@pytest.mark.parametrize("cmd", HOST_COMMANDS, ids=[c[0] for c in HOST_COMMANDS])
def test_host_command_help_says_where_the_url_comes_from(cmd):
    r = run(cmd[0], "--help")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert "--url URL" in text and "(default $RILL_URL, else ws://127.0.0.1:5555)" in text, \
        r.stdout


def test_unknown_options_and_commands_are_usage_errors():
    for args in (["ls", "--bogus"], ["stream", "frame", "--bogus"], ["peek"],
                 ["set", "gain"], ["monitor"], ["log", "frame"], ["frobnicate"],
                 ["help", "frobnicate"], ["info"], ["convert", "x.csv"]):
        r = run(*args, "--url", "ws://127.0.0.1:9") if args[0] not in (
            "frobnicate", "help", "info", "convert") else run(*args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert r.stderr != "" and r.stdout == "", (args, r.stdout)


def test_a_refused_stream_ends_each_command_at_once_with_the_devices_reason(rill_server,
                                                                            tmp_path):
    """A variable carries at most 64 streams. With "sine" full, rill stream
    waited for ever, rill monitor said the connection was lost, rill peek
    waited its timeout, rill log said 'lost ... invalid argument'. Each now
    fails at once (exit 1) under the device's own sentence."""
    reason = 'rill: the device refused a command: {}: "sine" already has 64 streams'

    async def body():
        holders = [NativeClient(rill_server.url) for _ in range(64)]
        try:
            for c in holders:
                await c.connect()
                await c.start_monitoring(["sine"], [44100])
            await holders[-1].list()  # every monitor has been taken
            for args, cmd, last in (
                    (["stream", "sine", "-n", "10"], "watch",
                     "rill stream: the device refused to stream (its reason is above)\n"),
                    (["stream", "sine", "-d", "1", "-o", str(tmp_path / "s")], "watch",
                     "rill stream: the device refused to stream (its reason is above); "
                     "nothing arrived, so no file was kept\n"),
                    (["stream", "frame", "sine", "-d", "1", "-o", str(tmp_path / "fs")],
                     "watch", "rill stream: the device refused to stream (its reason is "
                     "above); the files keep what arrived\n"),
                    (["monitor", "sine", "-n", "2"], "monitor",
                     "rill monitor: the device refused to monitor (its reason is above)\n"),
                    (["peek", "sine"], "monitor",
                     "rill peek: sine: the device refused to read it (its reason is above)\n"),
                    (["log", "frame", "sine", "-d", "1", "-o", str(tmp_path / "l")], "log",
                     "rill log: the device refused to log sine (its reason is above); the "
                     "others were stopped, nothing downloaded\n")):
                t0 = time.monotonic()
                r = await asyncio.to_thread(rill, *args, url=rill_server.url, timeout=30)
                took = time.monotonic() - t0
                assert r.returncode == 1, (args, r.returncode, r.stderr)
                assert r.stderr.startswith(reason.format(cmd)), (args, r.stderr)
                assert r.stderr.endswith(last), (args, r.stderr)
                assert took < 3, (args, took)
            # Files of a header alone are not left to pass for a recording;
            # what did arrive is kept.
            assert list((tmp_path / "s").iterdir()) == []
            assert len(csv_pairs(tmp_path / "fs" / "frame.csv")) > 0
            # The device and the other variables are fine.
            r = await asyncio.to_thread(rill, "stream", "frame", "-n", "10",
                                        url=rill_server.url)
            assert r.returncode == 0 and len(r.stdout.splitlines()) == 10, r.stderr
        finally:
            for c in holders:
                await c.close()
    run_async(body())


def test_stream_reconnect_to_a_device_whose_program_changed_ends_with_one_reason(tmp_path):
    """The device comes back on its port with other variables: rill stream
    --reconnect ends (exit 1) saying why once, and its last line ends with
    the time, not a dangling '; '."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def serve(*args):
        p = subprocess.Popen([rill_bin(), "serve", "--port", str(port), *args], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert "listening on" in p.stdout.readline()
        return p

    first = serve()
    cli = subprocess.Popen([rill_bin(), "stream", "sine", "--reconnect", "--url",
                            f"ws://127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    second = None
    try:
        time.sleep(0.5)
        first.kill()
        first.wait(10)
        second = serve("--source", "sine:440")
        _, err = cli.communicate(timeout=30)
    finally:
        for p in (first, second, cli):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)
    assert cli.returncode == 1, err
    assert err.count("not reconnected: the device has 1 variable now and had 12: its program "
                     "changed; connect again") == 1, err
    last = err.splitlines()[-1]
    assert last.startswith(f"rill stream: the connection to ws://127.0.0.1:{port} was lost "
                           "after ") and last.endswith(" s"), last
