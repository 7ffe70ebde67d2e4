"""rill.pybela beyond what pybela does: errors, the explicit options (numpy,
exact, wait=False), callbacks that raise or await, sessions that do not
leak into each other, the Logger's transfers over HTTP, plot_data, and the
places where pybela's behaviour is fixed; against a real `rill serve`.

(Everything pybela does is compared with the real pybela, field by field,
in tests/pybela/test_side_by_side.py.)"""

import asyncio
import json
import logging
import os
import re
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from rill import Streamer, Monitor, Logger, Controller, RillError

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def streamer(rill_server):
    s = Streamer(ip="127.0.0.1", port=rill_server.port)
    s.connect()
    yield s
    s.disconnect()


def continuous(buffers, n=None):
    for b in buffers:
        ref, data = b["ref_timestamp"], list(b["data"])
        assert data == list(range(ref, ref + len(data))), (ref, data[:4])
        if n is not None:
            assert len(data) == n
    for a, b in zip(buffers, buffers[1:]):
        assert b["ref_timestamp"] == a["ref_timestamp"] + len(a["data"])


def test_defaults_are_pybelas():
    s = Streamer()
    assert (s.ip, s.port, s.data_add, s.control_add) == ("192.168.7.2", 5555, "gui_data",
                                                         "gui_control")
    assert s.ws_ctrl_add == "ws://192.168.7.2:5555/gui_control"
    assert s.ws_data_add == "ws://192.168.7.2:5555/gui_data"
    assert s.streaming_buffers_queue_length == 1000
    assert s.project_name is None and s.sample_rate is None
    assert s.get_data_length("c", "dense") == 512 and s.get_data_length("c", "sparse") == 341
    assert s.get_data_byte_size("c") == 8 and s.get_buffer_size("d", "sparse") == 4104


def test_missing_library_error_names_every_place_tried(tmp_path):
    env = dict(os.environ, RILL_LIB=str(tmp_path / "nowhere" / "librill.so"),
               PYTHONPATH=os.path.join(HERE, ".."))
    r = subprocess.run([sys.executable, "-c", "import rill"], env=env, capture_output=True,
                       text=True, cwd=str(tmp_path))
    assert r.returncode != 0
    assert "cannot load librill.so" in r.stderr and "nowhere/librill.so" in r.stderr, r.stderr
    assert "RILL_LIB" in r.stderr


def test_connection_refused_is_a_connection_error_with_rills_reason():
    s = Streamer(ip="127.0.0.1", port=1, timeout_ms=2000)
    with pytest.raises(ConnectionError) as e:
        s.connect()
    assert isinstance(e.value, RillError)
    assert e.value.name in ("RILL_EREFUSED", "RILL_ETIMEOUT")
    assert e.value.message, "the log message of librill should be attached"
    # One sentence: where, librill's reason, the symbol; the reason once.
    assert str(e.value) == f"connect to ws://127.0.0.1:1: {e.value.message} [{e.value.name}]"
    assert str(e.value).count("refused") <= 1, str(e.value)


def test_something_not_a_watcher_on_the_port_gets_the_hint():
    """An HTTP server on the port: its 404, without the page's first tag,
    and what to check, as the CLI says it."""
    import http.server
    srv = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        s = Streamer(ip="127.0.0.1", port=srv.server_address[1], timeout_ms=2000)
        with pytest.raises(ConnectionError) as e:
            s.connect()
    finally:
        srv.shutdown()
        srv.server_close()
    assert e.value.name == "RILL_ENOTFOUND"
    assert e.value.message == (f"127.0.0.1:{srv.server_address[1]} refused /gui_control with "
                               "HTTP 404; is that a rill serve or a Bela board, and is the "
                               "port right (both use 5555 unless told otherwise)?"), e.value


def test_control_add_and_data_add_are_the_paths_used(rill_server):
    s = Streamer(ip="127.0.0.1", port=rill_server.port, control_add="gui2_control",
                 timeout_ms=2000)
    with pytest.raises(ConnectionError) as e:
        s.connect()  # rill serve has only /gui_control
    assert e.value.message.endswith("and control_add (gui2_control)?"), e.value
    s = Streamer(ip="127.0.0.1", port=rill_server.port, control_add="/gui_control")
    assert s.connect() == 1
    s.disconnect()


def test_connect_gives_pybelas_project_name_sample_rate_and_list(streamer):
    assert streamer.project_name == "rill-demo"
    assert streamer.sample_rate == 44100 and type(streamer.sample_rate) is int
    lst = streamer.list()
    assert sorted(lst) == ["sampleRate", "timestamp", "watchers"]
    assert type(lst["timestamp"]) is int and type(streamer.get_latest_timestamp()) is int
    w = lst["watchers"][0]
    assert sorted(w) == ["controlled", "logFileName", "logged", "monitor", "name",
                         "timestampMode", "type", "value", "valueInput", "watched"]
    assert streamer.connect() == "Already connected"
    assert streamer.monitored_vars is None


@pytest.mark.parametrize("bad", [-1, 1000001, 2.5, "2000", True])
def test_busy_poll_us_out_of_range_is_refused(bad):
    with pytest.raises(ValueError, match="busy_poll_us is a whole number"):
        Streamer(ip="127.0.0.1", busy_poll_us=bad)


def test_busy_poll_us_keeps_the_io_thread_awake_while_data_flows(rill_server):
    # The option reaches the C client: its I/O thread spins while the demo's
    # buffers arrive (a core), where the default sleeps between them.
    def cpu_while_streaming(**kw):
        s = Streamer(ip="127.0.0.1", port=rill_server.port, **kw)
        s.connect()
        got = []
        s.start_streaming(["frame"], on_buffer_callback=lambda b: got.append(b))
        s.wait(0.2)
        cpu0, t0 = time.process_time(), time.monotonic()
        s.wait(0.8)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
        s.stop_streaming()
        s.disconnect()
        assert got, "no buffers arrived"
        return cpu / wall

    assert Streamer().busy_poll_us == 0
    idle = cpu_while_streaming()
    busy = cpu_while_streaming(busy_poll_us=500000)
    assert busy > 0.2 and busy > 4 * idle, (busy, idle)


def test_unknown_variable_raises_value_error_as_pybela(streamer):
    with pytest.raises(ValueError, match="Variable no_such_var is not in the watcher") as e:
        streamer.start_streaming(["no_such_var"])
    assert "Did you mean" not in str(e.value)
    assert not streamer.is_streaming()
    # pybela's words, then the name meant when one is a typo away.
    with pytest.raises(ValueError, match=r"Variable sien is not in the watcher\. .*"
                                         r"watcher\.list\(\)\. Did you mean 'sine'\?$"):
        streamer.start_streaming(["sien"])


def test_disconnect_during_a_batch_of_callbacks_delivers_no_more_of_it(rill_server, caplog):
    # A slow callback lets buffers queue up; disconnect() while it runs
    # must not hand the rest of the batch to callbacks that would find the
    # connection gone (each raising in send_buffer).
    s = Streamer(ip="127.0.0.1", port=rill_server.port)
    s.connect()
    calls, started = [], []

    def cb(buf):
        started.append(time.monotonic())
        time.sleep(0.03)
        s.send_buffer(0, "f", 4, [0.0] * 4)
        calls.append(buf["buffer"]["ref_timestamp"])

    with caplog.at_level(logging.ERROR, logger="rill"):
        s.start_streaming(["frame"], on_buffer_callback=cb)
        deadline = time.monotonic() + 10
        while len(calls) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)  # 47 buffers a second, 33 handled: a backlog
        s.disconnect()
        n = len(started)
        time.sleep(0.2)
    assert len(calls) >= 10, calls
    assert len(started) == n, "no callback after disconnect() returned"
    assert s.callback_errors == 0 and "on_buffer_callback" not in caplog.text, caplog.text


def test_a_raising_callback_is_reported_and_the_stream_continues(streamer, caplog):
    seen = []

    def cb(buf):
        seen.append(buf["buffer"]["ref_timestamp"])
        if len(seen) % 2:
            raise RuntimeError("boom in the user's callback")

    with caplog.at_level(logging.ERROR, logger="rill"):
        streamer.start_streaming(["frame"], on_buffer_callback=cb)
        deadline = time.monotonic() + 10
        while len(seen) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        streamer.stop_streaming()
    assert len(seen) >= 8, seen
    assert all(b - a == 1024 for a, b in zip(seen, seen[1:])), "every buffer reached it"
    assert streamer.callback_errors >= 4
    text = caplog.text
    assert "boom in the user's callback" in text and "Traceback" in text
    q = streamer.streaming_buffers_queue["frame"]
    assert len(q) >= len(seen)
    continuous(q[:-1], 1024)


def ipv6_loopback():
    import socket
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
def test_an_ipv6_address_as_ip_connects(rill_serve, tmp_path):
    """pybela's ip= may be an IPv6 address; the URL gets its brackets (the C
    client refused ws://[::1]:PORT before) and the stream flows."""
    srv = rill_serve(host="::1")
    s = Streamer(ip="::1", port=srv.port)
    assert s.url == f"ws://[::1]:{srv.port}"
    s.connect()
    try:
        got = s.stream_n_values(["frame"], n_values=1024)
        continuous(got["frame"], 1024)
    finally:
        s.disconnect()
    # Given with its brackets, as pybela takes it (it was ws://[[::1]]:PORT,
    # refused); the log files come from the same host.
    lg = Logger(ip="[::1]", port=srv.port)
    assert lg.url == f"ws://[::1]:{srv.port}"
    lg.connect()
    try:
        out = lg.start_logging(["frame"], logging_dir=str(tmp_path))
        lg.wait(0.3)
        lg.stop_logging()
        assert os.path.getsize(out["local_paths"]["frame"]) > 4104
    finally:
        lg.disconnect()


def said_counts(text, what):
    """From the log: (tracebacks, repeats said) of exceptions in `what`."""
    import re
    full = text.count(f"rill: exception in {what} ")
    more = sum(int(n) for n in re.findall(
        rf"rill: the same exception in {re.escape(what)} (\d+) more times?", text))
    return full, more


def test_stop_streaming_returns_after_the_last_buffers_callback_has_run(streamer):
    """stop_streaming waited for the stream's last buffer, but was told of it
    just before that buffer's callback ran: a script reading what its
    callback gathered could miss the last buffer, and the callback still ran
    after the stop (its exception said after the stop's summary). Each
    callback here takes 15 ms (under a buffer's 23 ms): when the stop
    returns, none is running and the last buffer is in."""
    state = {"running": False, "started": 0, "finished": 0, "last": None}

    def cb(buf):
        state["running"] = True
        state["started"] += 1
        time.sleep(0.015)
        state["last"] = buf["buffer"]["ref_timestamp"]
        state["finished"] += 1
        state["running"] = False

    for _ in range(3):
        state.update(started=0, finished=0)
        streamer.start_streaming(["frame"], on_buffer_callback=cb)
        time.sleep(0.5)
        streamer.stop_streaming()
        seen = dict(state)
        time.sleep(0.2)
        assert not seen["running"] and seen["started"] == seen["finished"] >= 10, seen
        assert state["finished"] == seen["finished"], (seen, state)  # none after the stop


def test_a_callback_raising_on_every_buffer_is_said_once_then_counted(streamer, caplog):
    """40 tracebacks a second would bury everything else: the first is said in
    full, its repeats in one line at most once a second, the rest when the
    stream stops; the counts add up to every exception. A later stream says
    its first exception in full again."""
    calls = []

    def cb(buf):
        calls.append(1)
        raise IndexError(f"list index {len(calls)} out of range")

    with caplog.at_level(logging.ERROR, logger="rill"):
        streamer.start_streaming(["frame"], on_buffer_callback=cb)
        time.sleep(2.6)
        during = said_counts(caplog.text, "on_buffer_callback")
        streamer.stop_streaming()
        full, more = said_counts(caplog.text, "on_buffer_callback")
    assert len(calls) >= 90, len(calls)  # ~43 buffers a second
    assert caplog.text.count("Traceback") == 1 and full == 1, caplog.text[:2000]
    assert 1 <= during[1] and len(caplog.records) <= 1 + 3 + 1, \
        [r.getMessage()[:120] for r in caplog.records]
    assert full + more == len(calls) == streamer.callback_errors, (full, more, len(calls))
    line = [r.getMessage() for r in caplog.records if "the same exception" in r.getMessage()][0]
    assert "(IndexError: list index" in line and "test_pybela_api.py line" in line \
        and "the stream goes on" in line, line
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="rill"):
        streamer.start_streaming(["frame"], on_buffer_callback=cb)
        deadline = time.monotonic() + 5
        while "Traceback" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        streamer.stop_streaming()
    assert caplog.text.count("Traceback") == 1, caplog.text[:2000]


def test_async_callbacks_run_also_when_they_await(streamer):
    got, slept = [], []

    async def block_cb(block):
        got.append([b["name"] for b in block])

    streamer.start_streaming(["frame", "sine"], on_block_callback=block_cb)
    streamer.wait(0.5)
    streamer.stop_streaming()
    assert got and all(names == ["frame", "sine"] for names in got)

    async def buffer_cb(buf):
        await asyncio.sleep(0.001)  # suspends: goes on as a task of the poll thread
        slept.append(buf["buffer"]["ref_timestamp"])

    streamer.start_streaming(["frame"], on_buffer_callback=buffer_cb)
    streamer.wait(0.5)
    streamer.stop_streaming()
    time.sleep(0.1)
    assert len(slept) >= 10 and slept == sorted(slept)


def test_stop_delivers_every_buffer_up_to_the_stop(streamer):
    streamer.start_streaming(["frame"])
    streamer.wait(0.3)
    before = streamer.get_latest_timestamp()
    streamer.stop_streaming()
    d = streamer.streaming_buffers_data["frame"]
    assert d == list(range(d[0], d[0] + len(d)))
    assert d[-1] >= before - 1024, (d[-1], before)


def test_numpy_option_gives_arrays_straight_from_the_c_buffers(rill_server):
    s = Streamer(ip="127.0.0.1", port=rill_server.port, numpy=True)
    s.connect()
    try:
        q = s.stream_n_values(["frame", "frame_d", "events"], n_values=1000)
        assert isinstance(q["frame"][0]["data"], np.ndarray)
        assert q["frame"][0]["data"].dtype == np.int32
        assert q["events"][0]["rel_timestamps"].dtype == np.uint32
        data = s.streaming_buffers_data
        assert data["frame"].dtype == np.int32 and data["frame_d"].dtype == np.float64
        ts = s.streaming_buffers_timestamps()
        np.testing.assert_array_equal(data["frame"], ts["frame"].astype(np.int64))
        lsb = s.last_streamed_buffer["frame"]
        assert isinstance(lsb["timestamps"], np.ndarray)
    finally:
        s.disconnect()


def test_stream_n_values_exact_gives_exactly_n_values(streamer):
    out = streamer.stream_n_values(["events"], n_values=300, exact=True)
    assert sum(len(b["data"]) for b in out["events"]) == 300
    vals = streamer.streaming_buffers_data["events"]
    ticks = [b["ref_timestamp"] + r for b in out["events"] for r in b["rel_timestamps"]]
    assert vals == ticks  # events = frame number
    out = streamer.stream_n_values(["frame", "frame_d"], n_values=1500, exact=True)
    for var in ("frame", "frame_d"):
        assert sum(len(b["data"]) for b in out[var]) == 1500
        continuous(out[var])
    assert out["frame"][0]["ref_timestamp"] == out["frame_d"][0]["ref_timestamp"]


def test_schedule_streaming_wait_false_returns_at_once(streamer, tmp_path):
    start = streamer.get_latest_timestamp() + 44100 // 2
    t0 = time.monotonic()
    assert streamer.schedule_streaming(["frame"], [start], [22050], saving_enabled=True,
                                       saving_dir=str(tmp_path), wait=False) is None
    assert time.monotonic() - t0 < 0.3
    assert streamer.wait_for_schedule(timeout=10)
    q = streamer.streaming_buffers_queue["frame"]
    assert q[0]["ref_timestamp"] == start and sum(len(b["data"]) for b in q) == 22050
    continuous(q)
    with pytest.raises(ValueError, match="durations must be > 0"):
        streamer.schedule_streaming(["frame"], [start], [0])
    # A negative tick: a ValueError that says what ticks are (it was "invalid
    # argument [RILL_EINVAL]" from the C call).
    with pytest.raises(ValueError, match=r"schedule_streaming: timestamps must be ticks from "
                                         r"0 to 2\^63 \(the device's clock: see "
                                         r"get_latest_timestamp\(\)\), not -1000"):
        streamer.schedule_streaming(["frame"], [-1000], [100])


def test_out_of_range_periods_and_log_ticks_say_what_is_wrong(rill_server):
    """pybela sends a negative or huge period and gets nothing, without a
    word; rill says which period is wrong (it was "invalid argument", or
    2**40 taken as 0 by ctypes: no values). Period 0 stops monitoring, as
    the Watcher's."""
    m = Monitor(ip="127.0.0.1", port=rill_server.port)
    m.connect()
    lg = Logger(ip="127.0.0.1", port=rill_server.port)
    lg.connect()
    try:
        for bad in (-5, 2**31, 2**40):
            with pytest.raises(ValueError, match=rf"periods must be ticks from 1 to 2147483647 "
                                                 rf"\(0 stops monitoring\), not {bad}$"):
                m.start_monitoring(["frame"], periods=[bad])
        assert m.start_monitoring(["frame"], periods=[0]) is None
        for ts, d, said in (([-5], [100], "timestamps must be ticks from 0 to 2^63 (the "
                             "device's clock: see get_latest_timestamp()), not -5"),
                            ([0], [-1], "durations must be ticks from 0 to 2^63 (how many "
                             "ticks), not -1")):
            with pytest.raises(ValueError) as e:
                lg.schedule_logging(["frame"], timestamps=ts, durations=d, transfer=False)
            assert str(e.value) == "schedule_logging: " + said
        assert lg.list()["watchers"][0]["logged"] is False
    finally:
        m.disconnect()
        lg.disconnect()


def test_a_bela_session_never_takes_the_previous_sessions_buffers(rill_serve):
    """Compatibility mode (as against a Bela): what arrives after
    stop_streaming (the padded last buffer) never reaches the next
    session; issue 15 saw 5434 values where 4410 were asked."""
    srv = rill_serve("--compat-only")
    s = Streamer(ip="127.0.0.1", port=srv.port)
    s.connect()
    try:
        assert not s._native
        for _ in range(3):
            s.start_streaming(["frame"])
            s.wait(0.3)
            s.stop_streaming()
            out = s.stream_n_values(["frame"], n_values=4410, exact=True)
            assert sum(len(b["data"]) for b in out["frame"]) == 4410
            continuous(out["frame"])
            out = s.stream_n_values(["frame"], n_values=4410)
            assert 4410 <= sum(len(b["data"]) for b in out["frame"]) <= 4410 + 2048
            continuous(out["frame"], 1024)
    finally:
        s.disconnect()


def test_on_block_with_a_sparse_variable_delivers_at_the_dense_rate(streamer):
    blocks = []
    streamer.start_streaming(["frame", "events"], on_block_callback=blocks.append)
    streamer.wait(0.5)
    streamer.stop_streaming()
    assert len(blocks) >= 15, len(blocks)  # 44100 / 1024 per second
    for blk in blocks:
        f, e = blk[0]["buffer"], blk[1]["buffer"]
        assert len(f["data"]) == 1024
        for v, r in zip(e["data"], e["rel_timestamps"]):
            # at most one block late (a value of the block's last frame)
            assert f["ref_timestamp"] - 1024 <= e["ref_timestamp"] + r < f["ref_timestamp"] + 1024
            assert v == e["ref_timestamp"] + r


def test_saving_a_sparse_stream_loads_back(streamer, tmp_path):
    streamer.start_streaming(["events"], saving_enabled=True, saving_dir=str(tmp_path))
    streamer.wait(0.3)
    streamer.stop_streaming()
    q = streamer.streaming_buffers_queue["events"]
    loaded = streamer.load_data_from_file(str(tmp_path / "events_var_stream.txt"))
    assert loaded == q and len(q) > 0
    streamer.start_streaming(["events"], saving_enabled=True, saving_dir=str(tmp_path))
    streamer.stop_streaming()
    assert (tmp_path / "events_var_stream__1.txt").exists(), os.listdir(tmp_path)


def test_a_buffer_the_device_refuses_is_warned_of_with_its_reason(streamer, caplog):
    """pybela's send_buffer returns None whatever the device does: so does
    rill.pybela's, and the device's refusal (over rill serve's 64 KiB a
    message) reaches the "rill" logger and `errors` with the device's words."""
    with caplog.at_level(logging.WARNING, logger="rill"):
        assert streamer.send_buffer(0, "f", 16381, [0.5] * 16381) is None
        deadline = time.monotonic() + 5
        while not streamer.errors and time.monotonic() < deadline:
            time.sleep(0.02)
    assert streamer.errors and streamer.errors[-1][0] == "RILL_EINVAL", streamer.errors
    assert "message over 65536 bytes" in streamer.errors[-1][1]
    lines = [r.getMessage() for r in caplog.records if r.name == "rill"]
    assert any(m.startswith(f"rill: {streamer.url}: the device refused a command: message "
                            "over 65536 bytes") for m in lines), lines


def test_send_buffer_reaches_the_device(streamer):
    def inbox_becomes(expected):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            v = [w["value"] for w in streamer.list()["watchers"] if w["name"] == "inbox"][0]
            if v == expected:
                return
            time.sleep(0.05)
        assert v == expected

    assert streamer.send_buffer(0, "d", 4, [1.0, 2.0, 3.5, 0.25]) is None
    inbox_becomes(6.75)
    streamer.send_buffer(0, "j", 2, [1, 4294967294])  # pybela cannot pack 'j'
    inbox_becomes(4294967295.0)
    streamer.send_buffer(0, "c", 2, [b"\x01", b"\xff"])
    inbox_becomes(1.0 + 255.0)
    # numpy arrays of another type are converted, read-only ones and views
    # sent as they are, a 2-D array as its values in C order.
    streamer.send_buffer(0, "i", 3, np.array([1, -2, 40], dtype=np.int64))
    inbox_becomes(39.0)
    ro = np.array([0.5, 0.25, 8.0])
    ro.flags.writeable = False
    streamer.send_buffer(0, "d", 3, ro)
    inbox_becomes(8.75)
    streamer.send_buffer(0, "f", 2, np.arange(10, dtype=np.float32)[::5])
    inbox_becomes(5.0)
    streamer.send_buffer(0, "f", 4, np.full((2, 2), 1.5))
    inbox_becomes(6.0)
    # A letter that is no Bela type: pybela's struct.pack raises struct.error;
    # so does rill (a ValueError too), saying which letters there are. It
    # raised KeyError: 'x'. Nothing is sent.
    for bad in ("x", "q", "", "ff", None, 3):
        with pytest.raises(struct.error) as e:
            streamer.send_buffer(0, bad, 3, [1, 2, 3])
        assert isinstance(e.value, ValueError)
        assert f"buffer_type {bad!r} is not a Bela buffer type" in str(e.value)
        assert "'i' (int32), 'j' (uint32), 'f' (float), 'd' (double) or 'c'" in str(e.value)
    # A buffer_id or a value that does not fit: pybela's struct.pack raises
    # struct.error; so does rill, naming it. They were sent wrapped or cut
    # (2**31 as -2147483648, id 2**32 as id 0, 1.5 as 1). Nothing is sent.
    for args, said in [((-1, "f", 1, [1.0]), "buffer_id -1 is out of range"),
                       ((2**32, "f", 1, [1.0]), "buffer_id 4294967296 is out of range"),
                       ((0, "i", 2, [1, 2**31]), "value 2147483648 (index 1) does not fit "
                        "buffer type 'i' (int32): -2147483648 to 2147483647"),
                       ((0, "i", 2, np.array([1, -2**31 - 1])), "value -2147483649 (index 1)"),
                       ((0, "i", 2, [1.5, 2.0]), "value 1.5 (index 0) does not fit"),
                       ((0, "i", 1, [float("nan")]), "value nan (index 0)"),
                       ((0, "j", 2, [3, -1]), "value -1 (index 1) does not fit buffer type "
                        "'j' (uint32)"),
                       ((0, "c", 2, [65, 256]), "value 256 (index 1) does not fit buffer type "
                        "'c' (char): 0 to 255"),
                       ((0, "f", 2, [1.0, 1e39]), "value 1e+39 (index 1) does not fit buffer "
                        "type 'f' (float)")]:
        with pytest.raises(struct.error) as e:
            streamer.send_buffer(*args)
        assert isinstance(e.value, ValueError)
        assert said in str(e.value) and "nothing was sent" in str(e.value), str(e.value)
    time.sleep(0.2)
    inbox_becomes(6.0)
    # What fits is sent: whole floats into 'i', infinities as floats, a
    # bytes object as a 'c' buffer.
    streamer.send_buffer(0, "i", 2, [2.0, -1e9])
    inbox_becomes(-999999998.0)
    streamer.send_buffer(0, "c", 3, b"\x01\x02\x03")
    inbox_becomes(6.0)


def test_monitor_values_peek_n_values_and_async(rill_server, tmp_path):
    m = Monitor(ip="127.0.0.1", port=rill_server.port)
    assert m.connect() is None
    try:
        p = m.peek(["frame", "gain"])
        assert p["gain"]["value"] == 1.0 and type(p["frame"]["value"]) is int
        assert p["frame"]["value"] == p["frame"]["timestamp"]
        vals = m.monitor_n_values(["frame"], periods=[441], n_values=10)
        t, v = vals["frame"]["timestamps"], vals["frame"]["values"]
        assert len(t) == len(v) == 10 and v == t
        assert all(b - a == 441 for a, b in zip(t, t[1:])), t
        assert m.last_streamed_buffer["frame"] == {"timestamp": t[-1], "value": v[-1]}
        # monitor_n_values left the queue at 10 values, as pybela's does.
        assert m.streaming_buffers_queue_length == 10
        m.streaming_buffers_queue_length = 2000
        m.start_monitoring(["frame"], periods=441, saving_enabled=True, saving_dir=str(tmp_path))
        m.wait(0.3)
        got = m.stop_monitoring()
        loaded = m.load_data_from_file(str(tmp_path / "frame_monitor.txt"))
        assert loaded == got["frame"] and len(loaded["values"]) >= 3
        out = asyncio.run(m.async_monitor_n_values(["frame"], periods=[441], n_values=5))
        assert len(out["frame"]["timestamps"]) == 5
        with pytest.raises(AssertionError):
            m.start_monitoring(["frame"], periods=[441, 441])
    finally:
        m.disconnect()


def test_async_stream_n_values(streamer):
    async def cell():
        return await streamer.async_stream_n_values(["frame"], n_values=2000)

    out = asyncio.run(cell())
    assert sum(len(b["data"]) for b in out["frame"]) >= 2000
    continuous(out["frame"], 1024)


def test_logger_logs_copies_lists_and_deletes_over_http(rill_server, tmp_path, capsys):
    lg = Logger(ip="127.0.0.1", port=rill_server.port)
    lg.connect()
    try:
        paths = lg.start_logging(["frame", "events"], logging_dir=str(tmp_path / "a"))
        assert paths["remote_paths"] == {"frame": "/root/Bela/projects/rill-demo/frame.bin",
                                         "events": "/root/Bela/projects/rill-demo/events.bin"}
        assert paths["local_paths"]["frame"] == str(tmp_path / "a" / "frame.bin")
        assert lg.is_logging()
        lg.wait(0.5)
        assert lg.stop_logging(["frame", "events"]) is None
        assert not lg.is_logging()
        frame = lg.read_binary_file(paths["local_paths"]["frame"], "dense")
        assert frame["project_name"] == "watcher"  # pybela's key for the magic
        assert frame["var_name"] == "frame" and frame["type"] == "i"
        bufs = frame["buffers"]
        assert len(bufs) >= 10
        continuous(bufs[:-1], 1024)
        ev = lg.read_binary_file(paths["local_paths"]["events"], "sparse")
        b = ev["buffers"][0]
        assert b["data"][:10] == [b["ref_timestamp"] + r for r in b["rel_timestamps"][:10]]
        on_device = os.path.join(rill_server.logdir, "frame.bin")
        with open(on_device, "rb") as f, open(paths["local_paths"]["frame"], "rb") as g:
            assert f.read() == g.read()

        # copy_file_from_bela renames an existing copy, as pybela.
        again = lg.copy_file_from_bela(paths["remote_paths"]["frame"],
                                       paths["local_paths"]["frame"], verbose=False)
        assert again == str(tmp_path / "a" / "frame_1.bin") and os.path.exists(again)
        # Only log files leave the device's log directory (it may be the
        # program's working directory).
        with open(os.path.join(rill_server.logdir, "notes.txt"), "w") as f:
            f.write("private")
        assert lg.copy_file_from_bela("/root/Bela/projects/rill-demo/notes.txt",
                                      str(tmp_path / "notes.txt"), verbose=False) is None
        assert "only its log files" in capsys.readouterr().out  # printed, as pybela's errors
        assert not os.path.exists(tmp_path / "notes.txt")
        # finish_copying_file completes a copy cut short.
        cut = tmp_path / "cut.bin"
        with open(on_device, "rb") as f:
            cut.write_bytes(f.read()[:5000])
        lg.finish_copying_file(paths["remote_paths"]["frame"], str(cut))
        with open(on_device, "rb") as f:
            assert cut.read_bytes() == f.read()
        # A path in another project names another file: refused, not taken
        # as this project's file of that name (it was copied, and deleted).
        for other in ("/root/Bela/projects/other/frame.bin", "/tmp/frame.bin"):
            assert lg.copy_file_from_bela(other, str(tmp_path / "other.bin")) is None
            said = capsys.readouterr().out
            assert f"{other} is not in this device's project directory " \
                   "/root/Bela/projects/rill-demo: a rill device serves only its own log " \
                   "files" in said, said
            assert "already exists" not in said and not os.path.exists(tmp_path / "other.bin")
            lg.delete_file_from_bela(other)
            assert "is not in this device's project directory" in capsys.readouterr().out
            assert os.path.exists(on_device)
        assert lg.copy_file_from_bela("frame.bin", str(tmp_path / "bare.bin"),
                                      verbose=False) == str(tmp_path / "bare.bin")
        # Every .bin file, then deletions.
        lg.copy_all_bin_files_in_project(dir=str(tmp_path / "all"), verbose=False)
        assert sorted(os.listdir(tmp_path / "all")) == ["events.bin", "frame.bin"]
        lg.delete_file_from_bela(paths["remote_paths"]["events"], verbose=False)
        assert not os.path.exists(os.path.join(rill_server.logdir, "events.bin"))
        lg.delete_all_bin_files_in_project(verbose=False)
        assert [f for f in os.listdir(rill_server.logdir) if f.endswith(".bin")] == []
    finally:
        lg.disconnect()


def test_disconnecting_while_logging_says_the_device_goes_on(rill_server, tmp_path, caplog):
    """As on a Bela, a log goes on when its Logger disconnects (another
    Logger can stop it); rill says so, and that nothing was copied."""
    lg = Logger(ip="127.0.0.1", port=rill_server.port)
    lg.connect()
    lg.start_logging(["frame"], transfer=True, logging_dir=str(tmp_path / "a"))
    with caplog.at_level(logging.WARNING, logger="rill"):
        assert lg.disconnect() is None
    said = [r.getMessage() for r in caplog.records if r.name == "rill"]
    assert "rill: disconnecting while logging frame: the device goes on logging (until " \
           "stop_logging() or the schedule's end) and nothing is copied" in said[-1], said
    other = Logger(ip="127.0.0.1", port=rill_server.port)
    other.connect()
    try:
        assert [w["name"] for w in other.list()["watchers"] if w["logged"]] == ["frame"]
        other.stop_logging()
        deadline = time.monotonic() + 5  # the tick thread takes the unlog
        while [w for w in other.list()["watchers"] if w["logged"]]:
            assert time.monotonic() < deadline, "still logging"
            time.sleep(0.02)
    finally:
        other.disconnect()
    assert not os.listdir(tmp_path / "a")


def test_copy_and_delete_all_bin_files_skip_a_file_still_being_logged(rill_server, tmp_path, capsys):
    """A rill device serves a log file once it is finished: copying every
    file must not wait for one that is still being written (it waited the
    download's 10 s and then gave up on the files after it)."""
    lg = Logger(ip="127.0.0.1", port=rill_server.port)
    lg.connect()
    try:
        lg.delete_all_bin_files_in_project(verbose=False)  # other tests' logs
        capsys.readouterr()
        # None there: pybela's warning, not "All .bin files ... copied".
        lg.copy_all_bin_files_in_project(dir=str(tmp_path / "none"))
        lg.delete_all_bin_files_in_project()
        said = capsys.readouterr().out
        assert said == "No .bin files in /root/Bela/projects/rill-demo.\n" * 2, said
        assert not os.path.exists(tmp_path / "none")
        lg.start_logging(["events", "level"], transfer=False)  # before and after "frame"
        lg.wait(0.3)
        lg.stop_logging(["events", "level"])
        lg.start_logging(["frame"], transfer=False)
        lg.wait(0.3)
        t0 = time.monotonic()
        lg.copy_all_bin_files_in_project(dir=str(tmp_path / "all"))
        took = time.monotonic() - t0
        assert took < 3, took
        assert sorted(os.listdir(tmp_path / "all")) == ["events.bin", "level.bin"]
        said = capsys.readouterr().out
        assert "frame.bin is still being logged: not copied" in said
        # Not "All ... copied" when one was not.
        assert said.endswith("The .bin files in /root/Bela/projects/rill-demo have been copied "
                             f"to {tmp_path / 'all'} but 1.\n"), said
        # Deleting every file deletes all but the one being written.
        lg.delete_all_bin_files_in_project()
        said = capsys.readouterr().out
        assert "frame.bin is still being logged: not deleted" in said
        assert said.endswith("have been removed but 1.\n"), said
        assert sorted(f for f in os.listdir(rill_server.logdir)
                      if f.endswith(".bin")) == ["frame.bin"]
        lg.stop_logging(["frame"])
    finally:
        lg.disconnect()


def test_schedule_logging_honours_each_variables_timestamp_and_duration(rill_server, tmp_path):
    lg = Logger(ip="127.0.0.1", port=rill_server.port)
    lg.connect()
    try:
        now = lg.get_latest_timestamp()
        starts = [now + 4410, now + 13230]
        durations = [4410, 8820]
        t0 = time.monotonic()
        out = lg.schedule_logging(["frame", "frame_d"], timestamps=starts,
                                  durations=durations, logging_dir=str(tmp_path))
        assert time.monotonic() - t0 >= (13230 + 8820 - 4410) / 44100
        for var, start, d in (("frame", starts[0], durations[0]),
                              ("frame_d", starts[1], durations[1])):
            parsed = lg.read_binary_file(out["local_paths"][var], "dense")
            vals = [v for b in parsed["buffers"] for v in b["data"]]
            assert parsed["buffers"][0]["ref_timestamp"] == start
            # Bela's rule: start .. start + duration inclusive, then padding.
            assert vals[:d + 1] == list(range(start, start + d + 1))
            assert all(v == 0 for v in vals[d + 1:])
        assert not lg.is_logging()
    finally:
        lg.disconnect()


def test_read_binary_file_reads_char_logs_pybela_cannot(tmp_path):
    """A 'c' log (pybela sizes it 520 bytes a buffer instead of 4104)."""
    name = b"chars"
    head = b"watcher\0" + name + b"\0c\0" + struct.pack("<II", 1, 2)
    head += b"\0" * ((4 - len(head) % 4) % 4)
    bodies = []
    for k in range(2):
        ref = 1000 + 4096 * k
        vals = bytes((ref + i) & 0xFF for i in range(4096))
        bodies.append(struct.pack("<Q", ref) + vals)
    path = tmp_path / "chars.bin"
    path.write_bytes(head + b"".join(bodies) + b"partial")
    r = Logger().read_binary_file(str(path), "dense")
    assert (r["var_name"], r["type"]) == ("chars", "c")
    assert [b["ref_timestamp"] for b in r["buffers"]] == [1000, 5096]
    assert r["buffers"][1]["data"][:2] == [bytes([(5096) & 0xFF]), bytes([(5097) & 0xFF])]
    assert Logger().read_binary_file(None, "dense") is None
    # Not a log file: a ValueError that says so (it was "subsection not
    # found"; pybela's reader loops for ever on a header with no NUL).
    for junk in (b"hello, not a log file" * 10, b"watcher\0x\0q\0" + b"\0" * 4200,
                 b"WATCHER\0x\0i\0" + b"\0" * 4200, b"watcher\0" + b"x" * 5000):
        path.write_bytes(junk)
        with pytest.raises(ValueError, match=rf"^{re.escape(str(path))} is not a Watcher log "
                                             r"file: it does not start with the header"):
            Logger().read_binary_file(str(path), "dense")


def test_monitor_n_values_refuses_a_period_that_never_delivers(rill_server):
    """A period of 0 stops monitoring on the Watcher: pybela waits for ever
    for the values; rill.pybela says so at once."""
    m = Monitor(ip="127.0.0.1", port=rill_server.port)
    m.connect()
    try:
        t0 = time.monotonic()
        with pytest.raises(ValueError, match=r"periods must be at least 1 tick, not \[0\] "
                                             r"\(a period of 0 stops monitoring\)"):
            m.monitor_n_values(["sine"], periods=[0], n_values=3)
        assert time.monotonic() - t0 < 1
        got = m.monitor_n_values(["sine"], periods=[100], n_values=3)
        assert len(got["sine"]["values"]) == 3
    finally:
        m.disconnect()


def test_controller_sets_and_gets(rill_server, capsys):
    c = Controller(ip="127.0.0.1", port=rill_server.port)
    c.connect()
    try:
        assert c.start_controlling(["gain"]) is None
        assert c.get_controlled_status(["gain"]) == {"gain": True}
        assert c.send_value(["gain"], [0.25]) is None
        assert c.get_value(["gain"]) == {"gain": 0.25}
        with pytest.raises(AssertionError):
            c.send_value(["gain"], 0.5)  # pybela wants a list
        # Not a number: pybela's TypeError, in words that say which value.
        for bad in ("x", None, [1]):
            with pytest.raises(TypeError, match=rf"send_value: the value for gain, "
                                                rf"{re.escape(repr(bad))}, is not a number"):
                c.send_value(["gain"], [bad])
        assert c.get_value(["gain"]) == {"gain": 0.25}  # nothing was sent
        c.send_value(["gain"], [np.float32(0.5)])  # numpy numbers are numbers
        assert c.get_value(["gain"]) == {"gain": 0.5}
        # JSON has no inf or nan: a ValueError with librill's reason, not a
        # command the device drops without a word.
        for bad in (float("inf"), float("nan")):
            with pytest.raises(ValueError, match="JSON, which has no inf or nan"):
                c.send_value(["gain"], [bad])
        assert c.get_value(["gain"]) == {"gain": 0.5}
        c.stop_controlling(["gain"])
        assert c.get_controlled_status(["gain"]) == {"gain": False}
        # A value out of the variable's range: pybela sends it without a
        # word and the device saturates it; rill sends it and says so.
        c.start_controlling(["frame", "flags"])
        capsys.readouterr()
        c.send_value(["frame", "flags"], [2**31, -3])
        said = capsys.readouterr().out
        assert ("Value 2147483648 is out of the range of the variable frame of type i "
                "(-2147483648 to 2147483647). The device will hold 2147483647.") in said, said
        assert "Value -3 is out of the range of the variable flags of type j " \
               "(0 to 4294967295). The device will hold 0." in said, said
        assert c.get_value(["frame", "flags"]) == {"frame": 2147483647, "flags": 0}
        c.send_value(["frame", "flags"], [-7, 4294967295])
        assert capsys.readouterr().out == ""
        assert c.get_value(["frame", "flags"]) == {"frame": -7, "flags": 4294967295}
        c.stop_controlling(["frame", "flags"])
    finally:
        c.disconnect()


def test_works_inside_a_running_event_loop_as_in_jupyter(rill_server):
    """Jupyter runs cells inside an asyncio loop: pybela needs nest_asyncio
    there; rill's calls never touch the caller's loop."""

    async def cell():
        s = Streamer(ip="127.0.0.1", port=rill_server.port)
        s.connect()
        try:
            got = []
            s.start_streaming(["frame"], on_buffer_callback=lambda b: got.append(b))
            await asyncio.sleep(0.3)  # the loop stays free while data arrives
            s.wait(0.1)
            s.stop_streaming()
            out = s.stream_n_values(["sine"], n_values=100)
            return len(got), sum(len(b["data"]) for b in out["sine"])
        finally:
            s.disconnect()

    n, m = asyncio.run(cell())
    assert n >= 3 and m == 1024


def test_wait_without_a_time_waits_until_interrupted(rill_server):
    code = textwrap.dedent(f"""
        import time
        from rill import Streamer
        s = Streamer(ip="127.0.0.1", port={rill_server.port})
        s.connect()
        print("waiting", flush=True)
        t0 = time.monotonic()
        try:
            s.wait()
        except KeyboardInterrupt:
            print("interrupted after", round(time.monotonic() - t0, 1), flush=True)
        s.disconnect()
    """)
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, ".."))
    p = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "waiting"
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=10)
    # At once: the wait sleeps in steps of 0.5 s, but a signal ends a step.
    assert out.startswith("interrupted after") and 1.4 <= float(out.split()[-1]) <= 1.9, out


def test_an_interrupted_blocking_call_stops_what_it_started(rill_server):
    """Ctrl-C (a notebook's interrupt) in stream_n_values, schedule_streaming
    or monitor_n_values stops the streaming or monitoring it started, keeps
    what came, and the object goes on working (the stream ran on, and a
    monitor_n_values after an interrupted one raised TypeError)."""
    code = textwrap.dedent(f"""
        import json, logging, os, signal, threading
        said = []
        class H(logging.Handler):
            def emit(self, r):
                said.append(r.getMessage())
        logging.getLogger("rill").addHandler(H())
        from rill import Streamer, Monitor
        out = {{}}
        def interrupt_soon():
            threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        s = Streamer(ip="127.0.0.1", port={rill_server.port})
        s.connect()
        for name, call in (
                ("n_values", lambda: s.stream_n_values(["frame"], n_values=10**8)),
                ("exact", lambda: s.stream_n_values(["frame"], n_values=10**8, exact=True)),
                ("schedule", lambda: s.schedule_streaming(
                    ["frame"], [s.get_latest_timestamp()], [10**8]))):
            interrupt_soon()
            try:
                call()
                out[name] = "returned"
            except KeyboardInterrupt:
                out[name] = {{"streaming": s.is_streaming(),
                             "got": len(s.streaming_buffers_data["frame"])}}
        q = s.stream_n_values(["frame"], n_values=2048)
        d = [v for b in q["frame"] for v in b["data"]]
        out["after"] = len(d) >= 2048 and d == list(range(d[0], d[0] + len(d)))
        s.disconnect()
        m = Monitor(ip="127.0.0.1", port={rill_server.port})
        m.connect()
        interrupt_soon()
        try:
            m.monitor_n_values(["frame"], periods=[44100], n_values=1000)
        except KeyboardInterrupt:
            out["monitor"] = {{"streaming": m.is_streaming(),
                              "got": len(m.values["frame"]["values"])}}
        out["monitor_after"] = len(m.monitor_n_values(["frame"], periods=[100],
                                                      n_values=3)["frame"]["values"])
        out["device_monitors"] = [w["name"] for w in m.list()["watchers"] if w["monitor"]]
        m.disconnect()
        out["said"] = said
        print(json.dumps(out))
    """)
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, ".."))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.splitlines()[-1])
    for name in ("n_values", "exact", "schedule"):
        assert out[name]["streaming"] is False and out[name]["got"] > 1000, (name, out)
    assert out["after"] is True
    assert out["monitor"]["streaming"] is False and out["monitor"]["got"] >= 1, out
    assert out["monitor_after"] == 3 and out["device_monitors"] == []
    said = out["said"]
    for what in ("stream_n_values", "stream_n_values", "schedule_streaming"):
        assert f"rill: {what} interrupted: streaming of frame stopped (what came is in the " \
               "queue)" in said, said
    assert "rill: monitor_n_values interrupted: monitoring of frame stopped (what came is " \
           "in values)" in said, said


def test_monitor_n_values_while_monitoring_starts_afresh(rill_server):
    m = Monitor(ip="127.0.0.1", port=rill_server.port)
    m.connect()
    try:
        m.start_monitoring(["frame"], periods=[441])
        got = m.monitor_n_values(["frame", "gain"], periods=[441, 882], n_values=4)
        assert [len(got[v]["values"]) for v in ("frame", "gain")] == [4, 4]
        ts = got["gain"]["timestamps"]
        assert all(b - a == 882 for a, b in zip(ts, ts[1:])), ts
        m.start_monitoring(["frame"], periods=[441])
        assert m._periods == [441]  # noqa: SLF001 (pybela keeps the session's periods)
        m.stop_monitoring()
    finally:
        m.disconnect()


def test_periods_given_to_a_streamer_are_ignored_with_pybelas_warning(streamer):
    for call in (lambda: streamer.start_streaming(["frame"], periods=[100]),
                 lambda: streamer.stream_n_values(["frame"], periods=100, n_values=10)):
        with pytest.warns(UserWarning, match="^Periods list is ignored in streaming mode "
                                             "STREAM$"):
            call()
        streamer.stop_streaming()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        streamer.stream_n_values(["frame"], n_values=10)  # none without periods


def test_a_device_that_goes_away_ends_the_sessions_and_says_how_to_go_on(rill_serve, tmp_path):
    """The device stops mid-stream: the stream and the monitor end with the
    connection (is_streaming() False, the save files closed with whole
    lines); stop_streaming and stop_monitoring return as pybela's do (they
    raised RillConnectionError); a new start says to connect() again."""
    import conftest
    srv = rill_serve()
    s = Streamer(ip="127.0.0.1", port=srv.port)
    m = Monitor(ip="127.0.0.1", port=srv.port)
    s.connect()
    m.connect()
    s.start_streaming(["frame"], saving_enabled=True, saving_dir=str(tmp_path / "s"))
    m.start_monitoring(["frame"], periods=[441], saving_enabled=True,
                       saving_dir=str(tmp_path / "m"))
    # Calls waiting for values end at once with the reason (they waited out
    # their time limit, tens of seconds here, then said "timed out").
    waiting = {}

    def wait_for(name, call):
        t0 = time.monotonic()
        try:
            call()
            waiting[name] = "returned"
        except Exception as e:
            waiting[name] = (type(e).__name__, str(e), time.monotonic() - t0)

    s2 = Streamer(ip="127.0.0.1", port=srv.port)
    m2 = Monitor(ip="127.0.0.1", port=srv.port)
    s2.connect()
    m2.connect()
    threads = [threading.Thread(target=wait_for, args=(
                   "stream_n_values", lambda: s2.stream_n_values(["frame"], n_values=10**6))),
               threading.Thread(target=wait_for, args=(
                   "monitor_n_values", lambda: m2.monitor_n_values(["frame"], periods=[44100],
                                                                   n_values=100)))]
    for t in threads:
        t.start()
    time.sleep(0.5)
    assert conftest._e2e.stop_server(srv) == 0
    for t in threads:
        t.join(10)
    for name, n, has in (("stream_n_values", 10**6, "the queue has"),
                         ("monitor_n_values", 100, "values has")):
        kind, msg, took = waiting[name]
        assert kind == "RillConnectionError" and took < 3, waiting
        assert msg.startswith(f"{name}: the connection to ws://127.0.0.1:{srv.port} was lost "
                              f"before {n} values came ({has} what came)"), msg
    s2.disconnect()
    m2.disconnect()
    deadline = time.monotonic() + 5
    while s.is_streaming() or m.is_streaming():
        assert time.monotonic() < deadline, "still streaming after the device went away"
        time.sleep(0.02)
    assert not s.is_connected() and not m.is_connected()
    assert s.stop_streaming() is None
    assert m.stop_monitoring()["frame"]["values"]
    saved = s.load_data_from_file(str(tmp_path / "s" / "frame_var_stream.txt"))
    assert saved and [b["ref_timestamp"] for b in saved] == \
        [saved[0]["ref_timestamp"] + sum(len(b["data"]) for b in saved[:i])
         for i in range(len(saved))]
    assert len(m.load_data_from_file(str(tmp_path / "m" / "frame_monitor.txt"))["values"]) >= 5
    for call in (lambda: s.start_streaming(["frame"]), lambda: m.peek(["frame"])):
        with pytest.raises(ConnectionError, match=rf"lost its connection to "
                                                  rf"ws://127.0.0.1:{srv.port} \(the device "
                                                  r"closed it or went away\): call connect\(\) "
                                                  r"to connect again"):
            call()
    s.disconnect()
    m.disconnect()


def test_a_full_disk_stops_saving_once_keeps_whole_lines_and_streaming_goes_on(rill_server,
                                                                              tmp_path):
    """A save file that can grow no more (here: RLIMIT_FSIZE, as a full
    disk) is said once per file, left with whole lines only, and the values
    still reach the queue (it was said for every buffer, in librill's
    "input/output error", while pybela writes half lines)."""
    code = textwrap.dedent(f"""
        import json, logging, resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (60000, 60000))
        said = []
        class H(logging.Handler):
            def emit(self, r):
                said.append(r.getMessage())
        logging.getLogger("rill").addHandler(H())
        from rill import Streamer, Monitor
        s = Streamer(ip="127.0.0.1", port={rill_server.port})
        s.connect()
        m = Monitor(ip="127.0.0.1", port={rill_server.port})
        m.connect()
        s.start_streaming(["frame"], saving_enabled=True, saving_dir="s")
        m.start_monitoring(["frame"], periods=[5], saving_enabled=True, saving_dir="m")
        s.wait(1.5)
        s.stop_streaming()
        got = m.stop_monitoring()
        print(json.dumps({{"said": said, "queue": len(s.streaming_buffers_queue["frame"]),
                          "saved": s.load_data_from_file("s/frame_var_stream.txt"),
                          "monitored": len(got["frame"]["values"]),
                          "mon_saved": m.load_data_from_file("m/frame_monitor.txt")}}))
        s.disconnect(); m.disconnect()
    """)
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, ".."))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       cwd=str(tmp_path), timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.splitlines()[-1])
    said = [m for m in out["said"] if "saving" in m]
    assert len(said) == 2, out["said"]
    for where, what in (("s/frame_var_stream.txt", "write failed: File too large"),
                        ("m/frame_monitor.txt", "File too large")):
        assert any(m.startswith(f"rill: saving frame to {where} stopped: {what} (what was "
                                "saved stays in the file, whole") for m in said), said
        with open(tmp_path / where, "rb") as f:
            assert f.read().endswith(b"\n")
    saved = out["saved"]
    assert saved is not None and 2 <= len(saved) < out["queue"], (len(saved), out["queue"])
    assert [b["ref_timestamp"] for b in saved] == \
        [saved[0]["ref_timestamp"] + sum(len(b["data"]) for b in saved[:i])
         for i in range(len(saved))]
    mon = out["mon_saved"]
    assert mon is not None and 100 < len(mon["values"]) < out["monitored"]
    assert mon["values"] == mon["timestamps"]


def test_plot_data_draws_the_streamed_values_headless(streamer, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    streamer.start_streaming(["frame", "sine"])
    with pytest.raises(ValueError, match="chirp is not being streamed"):
        streamer.plot_data("frame", ["chirp"])
    plot = streamer.plot_data(x_var="frame", y_vars=["frame", "sine"], y_range=[-1, 1],
                              plot_update_delay=50, rollover=3000)
    streamer.wait(1.0)
    streamer.stop_streaming()
    assert plot.mode == "headless" and plot.updates >= 5
    xs, ys = plot.lines["frame"].get_data()
    assert 1024 <= len(xs) <= 3000 and list(ys) == [float(x) for x in xs]
    sx, sy = plot.lines["sine"].get_data()
    assert len(sx) >= 1024 and max(abs(v) for v in sy) <= 1.0
    assert plot.ax.get_ylim() == (-1.0, 1.0)
    plot.figure.savefig(tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 1000
    streamer.cleanup()
    assert not streamer.is_connected() and plot._stop.is_set()


def test_connect_ssh_on_a_rill_device_says_none_is_needed(streamer, capsys):
    assert streamer.connect_ssh() is None
    out = capsys.readouterr().out
    assert "Error while connecting to Bela via ssh" in out and "over HTTP" in out
    assert streamer.ssh_client is None and streamer.sftp_client is None
    assert streamer.disconnect_ssh() is None


def test_pybela_tutorial_code_gets_lists_and_ints(streamer):
    """What pybela's tutorials do with the data (tutorial 7 concatenates
    lists; tutorial 1 compares and flattens) works as with pybela."""
    streamer.start_streaming(["events", "frame"])
    streamer.wait(0.5)
    streamer.stop_streaming()
    q = streamer.streaming_buffers_queue["events"]
    first = q[0]
    joined = [first["ref_timestamp"]] * len(first["rel_timestamps"]) + first["rel_timestamps"]
    assert type(joined) is list and len(joined) == 2 * len(first["rel_timestamps"])
    ticks = [first["ref_timestamp"] + r for r in first["rel_timestamps"]]
    assert ticks == first["data"] and all(type(t) is int for t in ticks)
    frames = streamer.streaming_buffers_queue["frame"]
    flat = []
    for b in frames:
        flat.extend([b["ref_timestamp"] + i for i in range(len(b["data"]))])
    assert flat == streamer.streaming_buffers_data["frame"]
    assert type(streamer.get_latest_timestamp() + streamer.sample_rate) is int


def test_load_buffers_reads_every_format_with_ticks(rill_server, tmp_path):
    """rill.pybela.load_buffers (a rill addition): a dense bin as whole Bela
    buffers (the last padded), a sparse one without its padding, and the same
    stream as csv, each with numpy arrays and the ticks of its values."""
    from rill.pybela import load_buffers
    from conftest import rill_bin

    def stream(*args):
        r = subprocess.run([rill_bin(), "stream", *args, "--url", rill_server.url],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr

    stream("frame", "-n", "2000", "-o", str(tmp_path / "bin"), "--format", "bin")
    stream("frame", "-n", "2000", "-o", str(tmp_path / "csv"))
    stream("events", "-d", "0.3", "-o", str(tmp_path / "bin"), "--format", "bin")
    dense = load_buffers(str(tmp_path / "bin" / "frame.bin"))
    assert [len(b["data"]) for b in dense] == [1024, 1024]
    first = dense[0]["ref_timestamp"]
    values = np.concatenate([b["data"] for b in dense])
    assert list(values[:2000]) == list(range(first, first + 2000))
    assert not values[2000:].any() and "rel_timestamps" not in dense[0]  # the padding
    flat = load_buffers(str(tmp_path / "csv" / "frame.csv"))
    got = np.concatenate([b["data"] for b in flat])
    assert len(got) == 2000 and got[0] == flat[0]["ref_timestamp"]
    assert np.all(np.diff(got) == 1)
    sparse = load_buffers(str(tmp_path / "bin" / "events.bin"), "sparse")
    assert sparse and all(len(b["data"]) == len(b["rel_timestamps"]) for b in sparse)
    for b in sparse:
        ticks = b["ref_timestamp"] + b["rel_timestamps"]
        assert list(b["data"]) == list(ticks), "an event's value is its frame number"
        assert np.all(np.diff(ticks) > 0), "rising ticks: no padding read as data"
