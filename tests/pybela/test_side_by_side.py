"""The same scenario through the real pybela and through rill.pybela,
against the same device, compared field by field.

Each scenario (scenarios.py) runs twice in fresh processes, once with
`import pybela`, once with `import rill.pybela`, one after the other
against one device. What a program could depend on must be equal: return
values, their types (list vs array, int vs float, None), keys, file names,
the queue's shape, whether calls block. Data taken at different moments
differs in its ticks, so there the same checks must hold for both
(frame numbers from ref_timestamp, no gaps, periods); files read back are
compared exactly, read by both libraries. Where rill differs on purpose the
test says so and checks the difference is exactly the documented one
(python/README.md's table).
"""

import glob
import os

from checks import check_dense, check_logger_run, check_sparse


def both(run_scenario, port, name, **args):
    return (run_scenario(name, port, client="pybela", **args),
            run_scenario(name, port, client="rill", **args))


def same(p, r, *keys):
    for k in keys:
        assert p[k] == r[k], f"{k}: pybela {p[k]!r} != rill {r[k]!r}"


def test_connection_and_variable_table(device, run_scenario):
    p, r = both(run_scenario, device.port, "watcher_basics")
    same(p, r, "connect", "again", "is_connected", "is_connected_after", "project_name",
         "sample_rate", "sample_rate_type", "ws_ctrl_add", "ws_data_add", "watcher_vars",
         "list_keys", "list_watcher_keys", "latest_timestamp_type", "unwatched", "watched",
         "prop", "prop_missing", "data_length", "buffer_size", "byte_size", "unknown_var",
         "wait_negative", "wait_return", "disconnect")
    assert abs(p["wait_s"] - r["wait_s"]) < 0.1


def test_start_stop_streaming(device, run_scenario):
    names = "frame_i,frame_j,frame_f,frame_d,event_i,event_f"
    p, r = both(run_scenario, device.port, "stream_start_stop", vars=names, seconds=1.0)
    same(p, r, "start_return", "stop_return_type", "is_streaming", "is_streaming_after",
         "queue_keys", "data_type", "queue_types", "last_streamed_keys")
    for res in (p, r):
        for name in names.split(","):
            q = res["queue"][name]
            if name.startswith("frame"):
                n = 512 if name == "frame_d" else 1024
                # pybela drops what arrives after its stop; rill delivers the
                # values up to the stop, the last buffer unpadded.
                got = check_dense(name, q, n=n, allow_short_last=res is r)
                assert got >= 40000
                assert res["data_lengths"][name] == got
                lsb = res["last_streamed_buffer"][name]
                assert lsb["data"] == q[-1]["data"]
                assert lsb["timestamps"] == list(range(q[-1]["ref_timestamp"],
                                                       q[-1]["ref_timestamp"]
                                                       + len(q[-1]["data"])))
            else:
                assert check_sparse(name, q) > 0
                assert sorted(q[0]) == ["data", "ref_timestamp", "rel_timestamps"]


def test_saving_and_files_written_by_either_read_the_same_with_either(device, run_scenario,
                                                                    tmp_path):
    """Saving names files as pybela does and writes what was received; the
    streams and monitors pybela saved, and rill's, load to the same data
    through pybela's load_data_from_file and rill's."""
    d = tmp_path / "files"
    d.mkdir()
    saved = {}
    for client in ("pybela", "rill"):
        sub = d / client
        sub.mkdir()
        saved[client] = run_scenario("stream_saving", device.port, client=client, dir=str(sub),
                                     vars="frame_i,frame_d,event_f")
        msub = d / (client + "-mon")
        msub.mkdir()
        run_scenario("monitor", device.port, client=client, dir=str(msub), vars="frame_i,frame_d",
                     period=4000, n=3, seconds=0.5)
    same(saved["pybela"], saved["rill"], "files", "loaded_types", "missing_file")
    for res in saved.values():
        for name in ("frame_i", "frame_d", "event_f"):
            assert res["loaded"][name] == res["queue"][name]
        check_dense("frame_i", res["loaded"]["frame_i"], n=1024,
                    allow_short_last=res is saved["rill"])
        check_sparse("event_f", res["loaded"]["event_f"])
    streams = ";".join(sorted(glob.glob(str(d / "*" / "*_test*.txt"))))
    monitors = ";".join(sorted(glob.glob(str(d / "*-mon" / "*_monitor.txt"))))
    p, r = both(run_scenario, 0, "read_files", streams=streams, monitors=monitors)
    assert p["streams"] == r["streams"]
    assert p["monitors"] == r["monitors"]
    assert p["none_path"] == r["none_path"] is None
    assert len(p["streams"]) == 12 and len(p["monitors"]) == 4


def test_stream_n_values(device, run_scenario):
    p, r = both(run_scenario, device.port, "stream_n_values", vars="frame_i,frame_d", n=3000)
    same(p, r, "keys", "others_empty", "is_streaming_after", "queue_length", "n0", "n-5",
         "n0_queue_length", "n-5_queue_length", "n0_is_streaming_after")
    assert all(v == [] for v in r["n0"].values()) and r["n0_queue_length"] == 0
    for res in (p, r):
        got_i = check_dense("frame_i", res["returned"]["frame_i"], n=1024)
        got_d = check_dense("frame_d", res["returned"]["frame_d"], n=512)
        assert got_i >= 3000 and got_d >= 3000
    # Whole buffers, as pybela: the same number for the variable that sets
    # the queue length (the shortest buffers).
    assert len(p["returned"]["frame_d"]) == len(r["returned"]["frame_d"]) == 6


def test_schedule_streaming_blocks_and_saves(device, run_scenario):
    p, r = both(run_scenario, device.port, "schedule_streaming", vars="frame_i,frame_d")
    same(p, r, "return", "is_streaming_after", "latest_type")
    for res in (p, r):
        assert res["seconds"] >= 0.7, "schedule_streaming returns when the schedule ended"
    for name, n in (("frame_i", 1024), ("frame_d", 512)):
        for res in (p, r):
            q = res["queue"][name]
            assert q[0]["ref_timestamp"] == res["start"]
            assert res["loaded"][name] == q
        # pybela (as Bela sends it): start .. start + duration inclusive, the
        # last buffer zero-padded; rill: exactly [start, start + duration).
        assert check_dense(name, p["queue"][name], n=n, allow_padded_last=True) == \
            p["duration"] + 1
        assert check_dense(name, r["queue"][name], n=None) == r["duration"]
        assert all(len(b["data"]) == n for b in r["queue"][name][:-1])


def test_on_buffer_callbacks(device, run_scenario):
    p, r = both(run_scenario, device.port, "on_buffer_callback", vars="frame_i,frame_d,event_f")
    same(p, r, "calls_after_stop", "both_callbacks")
    assert r["both_callbacks"] == {"raised": None, "calls": [], "values": True}
    assert p["kinds"][0]["dict"]["name"] == r["kinds"][0]["dict"]["name"] == "str"
    for res in (p, r):
        for name, n in (("frame_i", 1024), ("frame_d", 512)):
            bufs = [{"ref_timestamp": t, "data": d}
                    for t, d in zip(res["timestamps"][name], res["buffers"][name])]
            assert check_dense(name, bufs, n=n, allow_short_last=res is r) >= 44100
    p, r = both(run_scenario, device.port, "on_buffer_async_callback", vars="frame_i,frame_d")
    for res in (p, r):
        for name, n in (("frame_i", 1024), ("frame_d", 512)):
            refs = res["refs"][name]
            assert len(refs) >= 20 and all(b - a == n for a, b in zip(refs, refs[1:]))


def test_on_block_callbacks(device, run_scenario):
    p, r = both(run_scenario, device.port, "on_block_callback", vars="frame_i,frame_f")
    for res in (p, r):
        blocks = res["blocks"]
        assert len(blocks) >= 30
        for blk in blocks:
            assert [b["name"] for b in blk] == ["frame_i", "frame_f"]
            assert blk[0]["ref_timestamp"] == blk[1]["ref_timestamp"]
            assert sorted(blk[0]) == ["data", "name", "ref_timestamp"]
        for i, name in enumerate(("frame_i", "frame_f")):
            check_dense(name, [blk[i] for blk in blocks], n=1024)


def test_on_block_with_a_sparse_variable_keeps_the_dense_rate_in_rill(device, run_scenario):
    """pybela groups whatever arrives next into blocks; rill cuts blocks at
    the dense variables' ticks and gives the sparse values that fall in each,
    at the dense rate (a difference, on purpose)."""
    r = run_scenario("on_block_callback", device.port, client="rill",
                     vars="frame_i,frame_d,event_i", seconds=1.0)
    blocks = r["blocks"]
    assert len(blocks) >= 35, len(blocks)  # 44100 / 1024 per second
    ticks = []
    late = 0
    for blk in blocks:
        assert [b["name"] for b in blk] == ["frame_i", "frame_d", "event_i"]
        i, d, e = blk
        assert len(i["data"]) == len(d["data"]) == 1024
        assert i["ref_timestamp"] == d["ref_timestamp"]
        for v, rel in zip(e["data"], e["rel_timestamps"]):
            t = e["ref_timestamp"] + rel
            # A sparse value set in the frame that completes the dense
            # buffers may arrive just after its block went out: it comes
            # with the next one, its tick right (python/README.md).
            assert i["ref_timestamp"] - 1024 <= t < i["ref_timestamp"] + 1024 and v == t
            late += t < i["ref_timestamp"]
        ticks += [e["ref_timestamp"] + rel for rel in e["rel_timestamps"]]
    assert late <= len(blocks) // 4, f"{late} sparse values late in {len(blocks)} blocks"
    assert all(b - a == 7 for a, b in zip(ticks, ticks[1:])), "a sparse value missing"
    check_dense("frame_i", [blk[0] for blk in blocks], n=1024)


def test_send_buffer(device, run_scenario):
    p = run_scenario("send_buffer", device.port, client="pybela")
    n_p = len(device.received())
    r = run_scenario("send_buffer", device.port, client="rill")
    got = device.received()
    same(p, r, "returns", "sent")
    assert got[:n_p] == got[n_p:n_p + 4], "rill sent other values than pybela"
    # 'j': pybela's struct cannot pack it (struct.error); rill sends it.
    assert p["j_error"] == "error" and r["j_error"] is None
    assert got[-1] == {"id": 5, "type": "j", "count": 3, "values": [1, 2, 4294967295]}


def test_monitor(device, run_scenario):
    period = 2000
    p, r = both(run_scenario, device.port, "monitor", vars="frame_i,frame_d", period=period, n=10)
    same(p, r, "connect", "start_return", "stop_keys", "values_keys", "values_types", "files",
         "n_values_keys")
    for res in (p, r):
        for name in ("frame_i", "frame_d"):
            assert res["peek"][name]["value"] == res["peek"][name]["timestamp"]
            for key in ("stop", "n_values", "inherited"):
                got = res[key][name]
                ts = got["timestamps"]
                assert got["values"] == ts and len(ts) >= (10 if key != "inherited" else 5)
                assert all(b - a == period for a, b in zip(ts, ts[1:])), (key, ts[:4])
            assert res["loaded"][name] == res["stop"][name]
            assert type(res["peek"][name]["value"]).__name__ == \
                ("int" if name == "frame_i" else "float")
    assert len(r["n_values"]["frame_i"]["timestamps"]) == 10


def test_peek_at_a_variable_the_program_never_sets_says_so_in_rill(device, run_scenario):
    """pybela's peek waits for ever for a sparse variable the program does
    not set; rill's raises a timeout that names it and says why, keeps the
    values it did get (e.peeked), and the connection goes on (python/README.md)."""
    r = run_scenario("peek_unset", device.port, client="rill", timeout_ms=500)
    assert r["raises"] == "RillTimeoutError" and r["is_timeout"], r
    msg = r["message"]
    assert "trigger" in msg and "0.5 s" in msg and "sparse" in msg and "timeout_ms" in msg, msg
    assert 0.4 < r["seconds"] < 3, r["seconds"]
    got = r["peeked"]
    assert list(got) == ["frame_i"], got
    assert got["frame_i"]["value"] == got["frame_i"]["timestamp"]
    assert r["after"]["frame_i"]["value"] == r["after"]["frame_i"]["timestamp"]


def test_stop_logging_stops_a_log_a_crashed_session_left_running(device, run_scenario):
    """A notebook that died while logging leaves the device logging; a new
    Logger's stop_logging() stops it, with pybela and with rill."""
    for client in ("pybela", "rill"):
        s = run_scenario("log_orphan", device.port, client=client, step="start",
                         vars="frame_i,event_i")
        assert s["logged"] == ["event_i", "frame_i"], (client, s)
        r = run_scenario("log_orphan", device.port, client=client, step="stop")
        assert r["before"] == ["event_i", "frame_i"], (client, r)
        assert r["is_logging"] is False and r["stop_return"] is None, (client, r)
        assert r["after"] == [], (client, r)


def test_controller(device, run_scenario):
    p, r = both(run_scenario, device.port, "controller")
    same(p, r, "status_before", "start_return", "status", "send_return", "value", "stop_return",
         "status_after")
    for res in (p, r):
        frames = [v for b in res["frame_d"] for v in b["data"]]
        scaled = [v for b in res["scaled"] for v in b["data"]]
        assert scaled[:1024] == [0.5 * f for f in frames[:1024]]


def test_sessions(device, run_scenario):
    p, r = both(run_scenario, device.port, "ended_session_buffer")
    same(p, r, "trigger")
    p, r = both(run_scenario, device.port, "session_leak", vars="frame_d,scaled", runs=3)
    for res in (p, r):
        for s in res["sessions"]:
            b = s["frame_d"]
            assert b[0]["first"] == b[0]["ref_timestamp"]
            assert all(y["ref_timestamp"] == x["ref_timestamp"] + x["n"] for x, y in zip(b, b[1:]))


def test_logger_pybela_over_sftp_and_rill_over_http_on_the_same_device(device_path_netns,
                                                                       run_netns,
                                                                       run_scenario):
    """pybela's whole Logger over a real sshd, then rill.pybela's over HTTP,
    against one device laid out as a Bela (--bela-project): each checked in
    full, and compared."""
    project = "side-by-side"
    res = run_netns([device_path_netns, "--port", "0", "--bela-project", project], project,
                    "logger", client=["pybela", "rill"], vars="frame_i,frame_j")
    assert "Accepted publickey for root" in res["sshd_log"]
    p, r = res["runs"][0]["scenario"], res["runs"][1]["scenario"]
    check_logger_run(p, project)
    check_logger_run(r, project)
    same(p, r, "project_name", "is_logging_before", "is_logging", "is_logging_after",
         "stop_return", "copy_all_return", "delete_one_return", "delete_all_return",
         "device_after_delete_all")
    for key in ("start", "start_no_transfer", "schedule"):
        assert p[key]["remote_paths"] == r[key]["remote_paths"], key
        assert {v: os.path.basename(x) for v, x in p[key]["local_paths"].items()} == \
            {v: os.path.basename(x) for v, x in r[key]["local_paths"].items()}, key
    assert {v: os.path.basename(x) for v, x in p["copy_returns"].items()} == \
        {v: os.path.basename(x) for v, x in r["copy_returns"].items()}
    # pybela blocks in schedule_logging for the duration in whole seconds,
    # rill until the logging has ended.
    assert p["schedule_seconds"] >= 1.0 and r["schedule_seconds"] >= 1.2
    # The log files both copied, read by both: equal.
    logs = []
    for v in ("frame_i", "frame_j"):
        for k in ("start", "schedule"):
            logs += [f"{p[k]['local_paths'][v]}:dense", f"{r[k]['local_paths'][v]}:dense"]
    pr, rr = both(run_scenario, 0, "read_files", logs=";".join(logs))
    assert pr["logs"] == rr["logs"]
    assert len(pr["logs"]) == 8 and all("buffers" in x for x in pr["logs"].values())


def test_read_binary_file_reads_every_type_and_mode_as_pybela(device, run_scenario):
    """Log files of dense and sparse variables of each type pybela can
    read, read by both: equal. ('c' files pybela cannot read: its sizes for
    'c' are wrong, spec §3.6; rill reads them, see test_pybela_api.py.)"""
    names = ["frame_f", "frame_d", "event_i", "event_j", "event_f", "event_d"]
    ret = run_scenario("log_some", device.port, client="rill", vars=",".join(names))
    modes = {n: "sparse" if n.startswith("event") else "dense" for n in names}
    logs = ";".join(f"{ret['local_paths'][n]}:{modes[n]}" for n in names)
    p, r = both(run_scenario, 0, "read_files", logs=logs)
    assert p["logs"] == r["logs"]
    for n in names:
        parsed = next(v for k, v in p["logs"].items() if k.endswith(f"/{n}.bin"))
        if modes[n] == "sparse":
            assert check_sparse(n, parsed["buffers"], allow_padded_last=True) > 5000
        else:
            assert check_dense(n, parsed["buffers"], n=512 if n == "frame_d" else 1024,
                               allow_padded_last=True) > 40000


def test_rill_pybela_logger_over_sftp_on_a_device_that_speaks_only_the_watcher_protocol(
        device_path_netns, run_netns):
    """A Bela speaks only the Watcher protocol and serves files over SFTP:
    rill.pybela then copies, lists and deletes with paramiko, as pybela."""
    project = "compat-sftp"
    res = run_netns([device_path_netns, "--port", "0", "--compat-only", "--bela-project",
                     project], project, "logger", client="rill", vars="frame_i,frame_j")
    assert "Accepted publickey for root" in res["sshd_log"]
    check_logger_run(res["scenario"], project)
