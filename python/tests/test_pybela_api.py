"""pybela's API on rill beyond the tutorial: errors, callbacks that raise,
exact n values of sparse variables, Monitor, Logger, Controller and
send_buffer, against a real `rill serve`."""

import logging
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import rill
from rill import Streamer, Monitor, Logger, Controller, RillError


@pytest.fixture
def streamer(rill_server):
    s = Streamer(ip="127.0.0.1", port=rill_server.port)
    s.connect()
    yield s
    s.disconnect()


def test_defaults_are_pybelas():
    s = Streamer()
    assert (s.ip, s.port, s.data_add, s.control_add) == ("192.168.7.2", 5555, "gui_data",
                                                         "gui_control")
    assert s.streaming_buffers_queue_length == 1000


def test_missing_library_error_names_every_place_tried(tmp_path):
    env = dict(os.environ, RILL_LIB=str(tmp_path / "nowhere" / "librill.so"),
               PYTHONPATH=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
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


def test_unknown_variable_raises_not_found(streamer):
    with pytest.raises(rill.RillNotFoundError):
        streamer.start_streaming(["no_such_var"])
    assert not streamer.is_streaming()


def test_raising_callback_is_reported_and_the_stream_continues(streamer, caplog):
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
    assert np.all(np.diff(seen) == 1024), "every buffer reached the callback"
    assert streamer.callback_errors >= 4
    text = caplog.text
    assert "boom in the user's callback" in text and "Traceback" in text
    # The data kept flowing into the queue too, without a gap.
    q = streamer.streaming_buffers_queue["frame"]
    assert len(q) >= len(seen)
    assert all(b["ref_timestamp"] == a["ref_timestamp"] + 1024 for a, b in zip(q, q[1:]))


def test_async_callbacks_work_without_the_users_loop(streamer):
    got = []

    async def cb(block):
        got.append([b["name"] for b in block])

    streamer.start_streaming(["frame", "sine"], on_block_callback=cb)
    streamer.wait(0.5)
    streamer.stop_streaming()
    assert got and all(names == ["frame", "sine"] for names in got)


def test_stop_delivers_every_buffer_up_to_the_stop(streamer):
    streamer.start_streaming(["frame"])
    streamer.wait(0.3)
    before = streamer.get_latest_timestamp()
    streamer.stop_streaming()
    d = streamer.streaming_buffers_data["frame"]
    assert np.array_equal(d, np.arange(d[0], d[0] + len(d)))
    # Values up to (at least) the tick seen just before the stop arrived.
    assert d[-1] >= before - 1024, (d[-1], before)


def test_stream_n_values_of_a_sparse_variable_is_exact(streamer):
    out = streamer.stream_n_values(["events"], n_values=300)
    ev = out["events"]
    assert sum(len(b["data"]) for b in ev) == 300
    ticks = streamer.streaming_buffers_timestamps()["events"]
    vals = streamer.streaming_buffers_data["events"]
    assert len(ticks) == len(vals) == 300
    np.testing.assert_array_equal(vals, ticks.astype(np.int64))  # events = frame number
    assert all(t % 64 == 0 or t % 100 == 7 for t in ticks[:50])


def test_saving_a_sparse_stream_loads_back(streamer, tmp_path):
    streamer.start_streaming(["events"], saving_enabled=True, saving_dir=str(tmp_path))
    streamer.wait(0.3)
    streamer.stop_streaming()
    q = streamer.streaming_buffers_queue["events"]
    loaded = streamer.load_data_from_file(str(tmp_path / "events_var_stream.txt"))
    assert len(loaded) == len(q) > 0
    for a, b in zip(q, loaded):
        assert a["ref_timestamp"] == b["ref_timestamp"]
        np.testing.assert_array_equal(a["data"], b["data"])
        np.testing.assert_array_equal(a["rel_timestamps"], b["rel_timestamps"])
    # A second session does not overwrite the first file (pybela's naming).
    streamer.start_streaming(["events"], saving_enabled=True, saving_dir=str(tmp_path))
    streamer.stop_streaming()
    assert (tmp_path / "events_var_stream__1.txt").exists(), os.listdir(tmp_path)


def test_send_buffer_reaches_the_device(streamer):
    streamer.send_buffer(0, "d", 4, [1.0, 2.0, 3.5, 0.25])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        v = [w["value"] for w in streamer.list()["watchers"] if w["name"] == "inbox"][0]
        if v == 6.75:
            break
        time.sleep(0.05)
    assert v == 6.75


def test_monitor_peek_and_n_values(rill_server, tmp_path):
    m = Monitor(ip="127.0.0.1", port=rill_server.port)
    m.connect()
    try:
        p = m.peek(["frame", "gain"])
        assert p["gain"]["value"] == 1.0
        assert abs(p["frame"]["value"] - p["frame"]["timestamp"]) < 1
        vals = m.monitor_n_values(["frame"], periods=[441], n_values=10)
        t, v = vals["frame"]["timestamps"], vals["frame"]["values"]
        assert len(t) == len(v) == 10
        np.testing.assert_array_equal(v, t.astype(np.float64))
        assert np.all(np.diff(t) >= 441), np.diff(t)
        m.start_monitoring(["frame"], periods=441, saving_enabled=True,
                           saving_dir=str(tmp_path))
        m.wait(0.3)
        got = m.stop_monitoring()
        loaded = m.load_data_from_file(str(tmp_path / "frame_monitor.txt"))
        np.testing.assert_array_equal(loaded["timestamps"], got["frame"]["timestamps"])
        assert len(loaded["values"]) >= 3
    finally:
        m.disconnect()


def test_logger_logs_downloads_and_reads_back(rill_server, tmp_path):
    lg = Logger(ip="127.0.0.1", port=rill_server.port)
    lg.connect()
    try:
        paths = lg.start_logging(["frame", "events"], logging_dir=str(tmp_path))
        assert paths["remote_paths"] == {"frame": "frame.bin", "events": "events.bin"}
        lg.wait(0.5)
        lg.stop_logging(["frame", "events"])
        frame = lg.read_binary_file(paths["local_paths"]["frame"], "dense")
        assert frame["var_name"] == "frame" and frame["type"] == "i"
        bufs = frame["buffers"]
        assert len(bufs) >= 10
        for b in bufs[:-1]:  # the last body is zero-padded
            assert len(b["data"]) == 1024
            np.testing.assert_array_equal(b["data"], np.arange(b["ref_timestamp"],
                                                               b["ref_timestamp"] + 1024))
        ev = lg.read_binary_file(paths["local_paths"]["events"], "sparse")
        b = ev["buffers"][0]
        np.testing.assert_array_equal(b["data"][:10], b["ref_timestamp"] + b["rel_timestamps"][:10])
    finally:
        lg.disconnect()


def test_controller_sets_and_gets(rill_server):
    c = Controller(ip="127.0.0.1", port=rill_server.port)
    c.connect()
    try:
        c.start_controlling(["gain"])
        assert c.get_controlled_status(["gain"]) == {"gain": True}
        c.send_value(["gain"], [0.25])
        assert c.get_value(["gain"]) == {"gain": 0.25}
        c.stop_controlling(["gain"])
        assert c.get_controlled_status(["gain"]) == {"gain": False}
    finally:
        c.disconnect()


def test_works_inside_a_running_event_loop_as_in_jupyter(rill_server):
    """Jupyter runs cells inside an asyncio loop: pybela needs nest_asyncio
    there; rill's calls never touch the caller's loop."""
    import asyncio

    async def cell():
        s = Streamer(ip="127.0.0.1", port=rill_server.port)
        s.connect()
        try:
            got = []
            s.start_streaming(["frame"], on_buffer_callback=lambda b: got.append(b))
            await asyncio.sleep(0.3)  # the loop stays free while data arrives
            s.stop_streaming()
            out = s.stream_n_values(["sine"], n_values=100)
            return len(got), sum(len(b["data"]) for b in out["sine"])
        finally:
            s.disconnect()

    n, m = asyncio.run(cell())
    assert n >= 3 and m == 100
