"""The real pybela 2.0.3, unmodified, against rill's devices: streaming,
callbacks, sending, monitoring and control, through its public API as a
user's script calls it (scenarios.py), each in its own process.

Two devices: tests/pybela/device.c (pybela_device: every type, dense and
sparse, a buffer callback that prints what it receives) and `rill serve
--source demo`. The data is checked exactly: dense buffers hold the frame
numbers from ref_timestamp and follow each other without a gap; sparse
values sit on their event frames at ref + rel_timestamps.
"""

import math
import struct


from checks import DEVICE_NAMES, DEVICE_VARS, check_dense, check_sparse

DENSE_MIX = "frame_i,frame_j,frame_f,frame_d,frame_c"
SPARSE_MIX = "event_i,event_j,event_f,event_d"   # pybela cannot parse sparse 'c' (spec §3.6)


def test_connect_and_the_variable_table_are_what_pybela_expects(device, run_scenario):
    r = run_scenario("watcher_basics", device.port)
    assert r["connect"] == 1 and r["again"] == "Already connected"
    assert r["is_connected"] and not r["is_connected_after"]
    assert r["project_name"] == "pybela-device"
    assert r["sample_rate"] == 44100 and r["sample_rate_type"] == "int"
    assert [v["name"] for v in r["watcher_vars"]] == DEVICE_NAMES
    for v in r["watcher_vars"]:
        t, mode = DEVICE_VARS[v["name"]]
        assert (v["type"], v["timestamp_mode"], v["monitor"]) == (t, mode, 0), v
    assert r["unwatched"] == DEVICE_NAMES and r["watched"] == []
    assert r["unknown_var"] == "ValueError"
    assert 0.29 < r["wait_s"] < 1.0


def test_start_stop_streaming_gives_continuous_exact_buffers_of_every_type(device, run_scenario):
    r = run_scenario("stream_start_stop", device.port, vars=DENSE_MIX + "," + SPARSE_MIX,
                     seconds=1.5)
    assert r["is_streaming"] and not r["is_streaming_after"]
    for name in DENSE_MIX.split(","):
        n = {"frame_d": 512, "frame_c": 4096}.get(name, 1024)
        got = check_dense(name, r["queue"][name], n=n)
        assert got >= 44100 * 1.0 - 2 * n, (name, got)
    for name in SPARSE_MIX.split(","):
        got = check_sparse(name, r["queue"][name])
        assert got > 0
    # last_streamed_buffer: the last buffer's data and every value's tick.
    lsb = r["last_streamed_buffer"]["frame_i"]
    assert lsb["timestamps"][0] == lsb["data"][0] and len(lsb["timestamps"]) == 1024


def test_start_stop_streaming_against_rill_serve_demo(rill_server, run_scenario):
    r = run_scenario("stream_start_stop", rill_server.port, vars="frame,frame_d,events",
                     seconds=1.0)
    check_dense("frame", r["queue"]["frame"], n=1024)
    check_dense("frame_d", r["queue"]["frame_d"], n=512)
    for b in r["queue"]["events"]:
        for v, rel in zip(b["data"], b["rel_timestamps"]):
            assert v == b["ref_timestamp"] + rel or (v == 0 and rel == 0)


def test_saving_writes_pybelas_json_lines_that_load_back_equal_to_the_queue(device, run_scenario):
    r = run_scenario("stream_saving", device.port, vars="frame_i,frame_d,event_f", seconds=1.0)
    assert r["files"] == ["event_f_test.txt", "event_f_test__1.txt", "frame_d_test.txt",
                          "frame_d_test__1.txt", "frame_i_test.txt", "frame_i_test__1.txt"]
    for name in ("frame_i", "frame_d", "event_f"):
        loaded, queue = r["loaded"][name], r["queue"][name]
        assert loaded == queue, f"{name}: the file differs from the queue"
    check_dense("frame_i", r["loaded"]["frame_i"], n=1024)
    check_sparse("event_f", r["loaded"]["event_f"])
    assert r["missing_file"] is None


def test_stream_n_values_returns_enough_contiguous_values(device, run_scenario):
    r = run_scenario("stream_n_values", device.port, vars="frame_i,frame_d", n=3000)
    assert r["others_empty"]
    assert check_dense("frame_i", r["returned"]["frame_i"], n=1024) >= 3000
    assert check_dense("frame_d", r["returned"]["frame_d"], n=512) >= 3000


def test_schedule_streaming_blocks_until_done_and_keeps_start_plus_duration(device, run_scenario):
    r = run_scenario("schedule_streaming", device.port, vars="frame_i,frame_d")
    assert r["return"] is None
    assert r["seconds"] >= 0.7, "pybela's schedule_streaming returns when the schedule ended"
    start, duration = r["start"], r["duration"]
    for name, n in (("frame_i", 1024), ("frame_d", 512)):
        q = r["queue"][name]
        assert q[0]["ref_timestamp"] == start, (name, q[0]["ref_timestamp"], start)
        # Bela's schedule: values at start .. start + duration inclusive,
        # the last buffer zero-padded.
        got = check_dense(name, q, n=n, allow_padded_last=True)
        assert got == duration + 1, (name, got, duration + 1)
        assert r["loaded"][name] == q


def test_on_buffer_callback_sees_every_buffer_in_order(device, run_scenario):
    r = run_scenario("on_buffer_callback", device.port, vars="frame_i,frame_d,event_f",
                     seconds=1.5, until="frame_i:44100,frame_d:44100,event_f:1")
    for name, n in (("frame_i", 1024), ("frame_d", 512)):
        bufs = [{"ref_timestamp": t, "data": d}
                for t, d in zip(r["timestamps"][name], r["buffers"][name])]
        assert check_dense(name, bufs, n=n) >= 44100
    assert len(r["timestamps"]["event_f"]) >= 1
    assert r["calls_after_stop"] == {"frame_i": 0, "frame_d": 0, "event_f": 0}


def test_async_on_buffer_callback_runs_for_every_buffer(device, run_scenario):
    r = run_scenario("on_buffer_async_callback", device.port, vars="frame_i,frame_d")
    for name, n in (("frame_i", 1024), ("frame_d", 512)):
        refs = r["refs"][name]
        assert len(refs) >= 20, (name, len(refs))
        assert all(b - a == n for a, b in zip(refs, refs[1:])), (name, refs[:5])


def test_on_block_callback_groups_one_buffer_per_variable(device, run_scenario):
    r = run_scenario("on_block_callback", device.port, vars="frame_i,frame_f")
    blocks = r["blocks"]
    assert len(blocks) >= 30
    for blk in blocks:
        assert [b["name"] for b in blk] == ["frame_i", "frame_f"], [b["name"] for b in blk]
        assert blk[0]["ref_timestamp"] == blk[1]["ref_timestamp"]
    for i, name in enumerate(("frame_i", "frame_f")):
        check_dense(name, [blk[i] for blk in blocks], n=1024)


def test_send_buffer_of_every_type_reaches_the_device_exactly(device, run_scenario):
    r = run_scenario("send_buffer", device.port)
    assert r["returns"] == [None, None, None, None]
    assert r["j_error"] == "error", "pybela's struct has no 'j' (spec §4)"
    got = device.received()
    assert [(b["id"], b["type"], b["count"]) for b in got] == \
        [(1, "f", 5), (2, "i", 5), (3, "d", 5), (4, "c", 4)], got
    # Floats are printed with 9 digits: the same float32 read back.
    assert [struct.pack("<f", x) for x in got[0]["values"]] == \
        [struct.pack("<f", v) for v in r["sent"][0][2]]
    assert got[1]["values"] == r["sent"][1][2]
    assert got[2]["values"] == r["sent"][2][2]
    assert got[3]["values"] == r["sent"][3][2] == [97, 0, 255, 90]


def test_monitor_peek_periods_saving_and_n_values(device, run_scenario):
    period = 2000
    r = run_scenario("monitor", device.port, vars="frame_i,frame_d", period=period, n=10)
    assert r["connect"] is None, "pybela's Monitor.connect returns nothing"
    for name in ("frame_i", "frame_d"):
        p = r["peek"][name]
        assert p["value"] == p["timestamp"]
        got = r["stop"][name]
        ts, vals = got["timestamps"], got["values"]
        assert len(ts) >= 15, (name, len(ts))
        assert vals == ts
        assert all(b - a == period for a, b in zip(ts, ts[1:])), ts[:5]
        assert r["loaded"][name] == got
        assert r["loaded_raw"][name][0] == {"timestamp": ts[0], "value": vals[0]}
        nv = r["n_values"][name]
        assert len(nv["timestamps"]) >= 10 and nv["values"] == nv["timestamps"]
        assert all(b - a == period for a, b in zip(nv["timestamps"], nv["timestamps"][1:]))
        inh = r["inherited"][name]
        assert len(inh["timestamps"]) >= 5 and inh["values"] == inh["timestamps"]
        assert all(b - a == period for a, b in zip(inh["timestamps"], inh["timestamps"][1:]))
    assert r["files"] == ["frame_d_monitor.txt", "frame_i_monitor.txt"]
    assert r["stop_keys"] == ["frame_d", "frame_i"]


def test_controller_sets_values_the_program_reads(device, run_scenario):
    r = run_scenario("controller", device.port)
    assert r["status_before"] == {"gain": False, "steps": False}
    assert r["status"] == {"gain": True, "steps": True}
    assert r["value"] == {"gain": 0.5, "steps": 3}
    assert r["status_after"] == {"gain": False, "steps": False}
    # The program multiplies the frame by what it reads from gain.
    frames = [v for b in r["frame_d"] for v in b["data"]]
    scaled = [v for b in r["scaled"] for v in b["data"]]
    assert r["scaled"][0]["ref_timestamp"] == r["frame_d"][0]["ref_timestamp"]
    n = min(len(frames), len(scaled))
    assert n >= 1024 and all(math.isclose(s, 0.5 * f) for s, f in zip(scaled[:n], frames[:n]))
