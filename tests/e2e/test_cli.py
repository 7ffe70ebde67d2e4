"""The host-side command line against a real `rill serve`: rill ls, stream
(to every saving format and to standard output), peek, set, and the errors a
user meets (no server; the server killed in the middle of a stream)."""

import json
import os
import pathlib
import signal
import subprocess
import time

from conftest import rill_bin, stop_server
from helpers import DEMO_VARS, RATE, parse_log_buffers, parse_log_file


def rill(*args, url, timeout=30):
    return subprocess.run([rill_bin(), *args, "--url", url], capture_output=True,
                          text=True, timeout=timeout)


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


def test_no_server_is_a_clear_error_with_exit_status_1(tmp_path):
    r = subprocess.run([rill_bin(), "ls", "--url", "ws://127.0.0.1:1"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 1
    assert 'cannot connect to ws://127.0.0.1:1: connection refused (is "rill serve" running?)' \
        in r.stderr
    r = subprocess.run([rill_bin(), "stream", "nope", "-n", "5", "--url", "ws://127.0.0.1:1"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1


def test_server_killed_mid_stream_gives_a_clear_error_within_2_s_and_keeps_the_file(
        rill_serve, tmp_path):
    srv = rill_serve()
    out = tmp_path / "out"
    client = subprocess.Popen([rill_bin(), "stream", "frame", "-o", str(out), "--format", "csv",
                               "--url", srv.url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    assert client.poll() is None, client.stderr.read()
    stop_server(srv, signal.SIGKILL)
    t0 = time.monotonic()
    try:
        _, err = client.communicate(timeout=2.0)
    finally:
        if client.poll() is None:
            client.kill()
    assert time.monotonic() - t0 < 2.0
    assert client.returncode == 1
    assert "connection" in err and "lost" in err, err
    rows = (out / "frame.csv").read_text().splitlines()
    assert rows[0] == "timestamp,frame" and len(rows) > 1000
    pairs = [tuple(int(float(x)) for x in row.split(",")) for row in rows[1:]]
    assert all(t == v for t, v in pairs)
    assert [t for t, _ in pairs] == list(range(pairs[0][0], pairs[0][0] + len(pairs)))


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
    for name, vtype in (("frame", "i"), ("frame_d", "d")):
        path = tmp_path / f"{name}.bin"
        assert f"-> {path}" in r.stderr
        # The download is byte for byte the device's own file.
        assert path.read_bytes() == (pathlib.Path(rill_server.logdir) / path.name).read_bytes()
        header, bufs, rest = parse_log_file(path.read_bytes())
        assert header["name"] == name and not rest
        pairs = []
        for b in parse_log_buffers(bufs, vtype, 0):
            pairs += [(b["ref"] + i, v) for i, v in enumerate(b["data"])]
        want = int(0.5 * RATE)
        # The values of exactly 0.5 s (plus the Watcher's end value and
        # padding), each equal to its tick, contiguous.
        assert all(v == t for t, v in pairs[:want + 1])
        assert [t for t, _ in pairs[:want + 1]] == list(range(pairs[0][0], pairs[0][0] + want + 1))
        assert all(v == 0 for _, v in pairs[want + 1:])


def test_log_without_a_directory_or_duration_is_a_usage_error(rill_server, tmp_path):
    r = rill("log", "frame", "-d", "1", "-o", str(tmp_path / "missing"), url=rill_server.url)
    assert r.returncode == 2 and "is not a directory" in r.stderr
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


def test_send_refuses_values_its_type_cannot_hold_and_non_numbers(rill_server):
    r = rill("send", "--type", "i", "1.5", url=rill_server.url)
    assert r.returncode == 2 and "does not fit a int32" in r.stderr
    r = rill("send", "1e39", url=rill_server.url)  # beyond float's range
    assert r.returncode == 2 and "does not fit a float; use --type d" in r.stderr
    r = rill("send", "--type", "c", "300", url=rill_server.url)
    assert r.returncode == 2 and "does not fit a char" in r.stderr
    r = rill("send", "1", "two", url=rill_server.url)
    assert r.returncode == 2 and "'two' is not a number" in r.stderr
    r = rill("send", "--type", "q", "1", url=rill_server.url)
    assert r.returncode == 2 and "--type wants" in r.stderr
