"""What a user's script does with pybela, one scenario per function.

Each scenario is run in a fresh Python process, as a user's script or a
notebook kernel runs pybela, with either the real pybela 2.0.3
(`--client pybela`: `from pybela import Streamer, ...`) or rill's drop-in
(`--client rill`: `from rill.pybela import Streamer, ...`). It uses the
public API only, and returns what it saw as JSON (numbers, lists, the
library's own return values turned into plain data), which the tests
check (test_real_pybela*.py) or compare between the two clients
(test_side_by_side.py).

    python3 scenarios.py NAME --client pybela|rill --port PORT --result OUT.json \\
        [--arg KEY=VALUE ...]

The process prints whatever the library prints (pybela prints a lot); the
result goes to OUT.json only. A scenario that raises writes
{"exception": "<type>: <message>", "traceback": ...} instead.
"""

import argparse
import hashlib
import json
import os
import sys
import time
import traceback

SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def plain(x):
    """The library's return values as JSON-able data, keeping what pybela
    code could observe: lists stay lists, tuples become lists, bytes (a 'c'
    value) become their integer, numpy values their Python value."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, bytes):
        return x[0] if len(x) == 1 else list(x)
    if np is not None and isinstance(x, np.ndarray):
        return [plain(v) for v in x.tolist()]
    if np is not None and isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and x != x:
        return None
    return x


def kinds(x):
    """The Python types of a return value's parts: what pybela code could
    depend on (list vs array, int vs float, None)."""
    if isinstance(x, dict):
        return {"dict": {str(k): kinds(v) for k, v in sorted(x.items(), key=lambda kv: str(kv[0]))}}
    if isinstance(x, (list, tuple)):
        return {type(x).__name__: kinds(x[0]) if len(x) else None}
    return type(x).__name__


def attempt(fn, *a, **kw):
    """fn's result as plain data, or {"raises": <exception type name>}."""
    try:
        return plain(fn(*a, **kw))
    except Exception as e:
        return {"raises": type(e).__name__}


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def load_api(client):
    if client == "pybela":
        import pybela as api
    elif client == "rill":
        import rill.pybela as api
    else:
        raise SystemExit(f"unknown --client {client}")
    return api


def dense_ok(buffers):
    """Problems of dense buffers of a frame counter: value i == ref + i, and
    each buffer starts where the previous ended."""
    problems = []
    for k, b in enumerate(buffers):
        ref, data = b["ref_timestamp"], b["data"]
        want = [(ref + i) for i in range(len(data))]
        if [int(v) if not isinstance(v, bytes) else v[0] for v in data] != want:
            problems.append(f"buffer {k} (ref {ref}) is not ref..ref+{len(data) - 1}")
    for a, b in zip(buffers, buffers[1:]):
        if b["ref_timestamp"] != a["ref_timestamp"] + len(a["data"]):
            problems.append(f"gap: ref {a['ref_timestamp']} + {len(a['data'])} != {b['ref_timestamp']}")
    return problems


# ---- Watcher -------------------------------------------------------------------


@scenario
def watcher_basics(api, port, args):
    """The connection and the variable table as a user sees them."""
    s = api.Streamer(ip="127.0.0.1", port=port)
    ret_connect = s.connect()
    out = {
        "connect": plain(ret_connect),
        "is_connected": s.is_connected(),
        "project_name": s.project_name,
        "sample_rate": s.sample_rate,
        "sample_rate_type": type(s.sample_rate).__name__,
        "ws_ctrl_add": s.ws_ctrl_add,
        "ws_data_add": s.ws_data_add,
        "watcher_vars": s.watcher_vars,
        "list_keys": sorted(s.list().keys()),
        "list_watcher_keys": sorted(s.list()["watchers"][0].keys()),
        "latest_timestamp_type": type(s.get_latest_timestamp()).__name__,
        "unwatched": [v["name"] for v in s.unwatched_vars],
        "watched": [v["name"] for v in s.watched_vars],
        "prop": s.get_prop_of_var("frame_d" if args.get("demo") else "frame_f", "type"),
        "prop_missing": s.get_prop_of_var("no_such_var", "type"),
        "data_length": {f"{t}{m}": attempt(s.get_data_length, t, m) for t in "cijfdx"
                        for m in ("dense", "sparse", "other")},
        "buffer_size": {f"{t}{m}": attempt(s.get_buffer_size, t, m) for t in "cijfdx"
                        for m in ("dense", "sparse", "other")},
        "byte_size": {t: attempt(s.get_data_byte_size, t) for t in "cijfdx"},
        "again": plain(s.connect()),
    }
    try:
        s.start_streaming(["no_such_var"])
        out["unknown_var"] = None
    except Exception as e:
        out["unknown_var"] = type(e).__name__
    out["wait_negative"] = None
    try:
        s.wait(-1)
    except Exception as e:
        out["wait_negative"] = type(e).__name__
    t0 = time.monotonic()
    out["wait_return"] = plain(s.wait(0.3))
    out["wait_s"] = time.monotonic() - t0
    out["disconnect"] = plain(s.disconnect())
    out["is_connected_after"] = s.is_connected()
    return out


# ---- Streamer --------------------------------------------------------------------


@scenario
def stream_start_stop(api, port, args):
    """start_streaming, wait, stop_streaming; the queue and the data."""
    variables = args["vars"].split(",")
    s = api.Streamer(ip="127.0.0.1", port=port)
    s.connect()
    ret = s.start_streaming(variables)
    watched = [v["name"] for v in s.watched_vars]
    s.wait(float(args.get("seconds", 1.0)))
    streaming = s.is_streaming()
    ret_stop = s.stop_streaming()
    q = s.streaming_buffers_queue
    out = {
        "start_return": plain(ret), "stop_return_type": type(ret_stop).__name__,
        "watched_while_streaming": watched, "is_streaming": streaming,
        "is_streaming_after": s.is_streaming(),
        "queue": {v: plain(q[v]) for v in variables},
        "queue_keys": sorted(q.keys()),
        "data_lengths": {v: len(s.streaming_buffers_data[v]) for v in variables},
        "data_type": type(s.streaming_buffers_data[variables[0]]).__name__,
        "queue_types": kinds(q[variables[0]][:1]),
        "last_streamed_buffer": {v: plain(s.last_streamed_buffer[v]) for v in variables},
        "last_streamed_keys": {v: sorted(s.last_streamed_buffer[v].keys()) for v in variables},
    }
    s.disconnect()
    return out


@scenario
def stream_saving(api, port, args):
    """start_streaming with saving, stop, and load the files back."""
    variables = args["vars"].split(",")
    d = args["dir"]
    s = api.Streamer(ip="127.0.0.1", port=port)
    s.connect()
    s.start_streaming(variables, saving_enabled=True, saving_filename="test.txt", saving_dir=d)
    s.wait(float(args.get("seconds", 1.0)))
    s.stop_streaming()
    q = s.streaming_buffers_queue
    # A second session names its files test__1.txt (pybela's rule).
    s.start_streaming(variables, saving_enabled=True, saving_filename="test.txt", saving_dir=d)
    s.wait(0.3)
    s.stop_streaming()
    files = sorted(os.listdir(d))
    loaded = {v: plain(s.load_data_from_file(os.path.join(d, f"{v}_test.txt"))) for v in variables}
    out = {"files": files, "loaded": loaded, "queue": {v: plain(q[v]) for v in variables},
           "loaded_types": kinds(s.load_data_from_file(os.path.join(d, f"{variables[0]}_test.txt"))[:1]),
           "missing_file": plain(s.load_data_from_file(os.path.join(d, "nothing_here.txt")))}
    s.disconnect()
    return out


@scenario
def stream_n_values(api, port, args):
    variables = args["vars"].split(",")
    n = int(args.get("n", 2000))
    s = api.Streamer(ip="127.0.0.1", port=port)
    s.connect()
    t0 = time.monotonic()
    ret = s.stream_n_values(variables, n_values=n)
    took = time.monotonic() - t0
    out = {"keys": sorted(ret.keys()), "returned": {v: plain(ret[v]) for v in variables},
           "others_empty": all(len(ret[k]) == 0 for k in ret if k not in variables),
           "seconds": took, "is_streaming_after": s.is_streaming(),
           "queue_length": s.streaming_buffers_queue_length}
    # No values asked (0, or a negative number): nothing comes back.
    for k in (0, -5):
        again = s.stream_n_values(variables, n_values=k)
        out[f"n{k}"] = {v: plain(again[v]) for v in sorted(again)}
        out[f"n{k}_queue_length"] = s.streaming_buffers_queue_length
    out["n0_is_streaming_after"] = s.is_streaming()
    s.disconnect()
    return out


@scenario
def schedule_streaming(api, port, args):
    """pybela's tutorial: schedule from a timestamp for a duration, saving;
    the call returns when the schedule has ended."""
    variables = args["vars"].split(",")
    d = args["dir"]
    s = api.Streamer(ip="127.0.0.1", port=port)
    s.connect()
    latest = s.get_latest_timestamp()
    rate = s.sample_rate
    start = int(latest + rate * 0.3)
    duration = int(rate * 0.5)
    t0 = time.monotonic()
    ret = s.schedule_streaming(variables=variables, timestamps=[start] * len(variables),
                               durations=[duration] * len(variables), saving_enabled=True,
                               saving_dir=d)
    took = time.monotonic() - t0
    q = s.streaming_buffers_queue
    loaded = {v: plain(s.load_data_from_file(os.path.join(d, f"{v}_var_stream.txt")))
              for v in variables}
    out = {"return": plain(ret), "seconds": took, "start": start, "duration": duration,
           "queue": {v: plain(q[v]) for v in variables}, "loaded": loaded,
           "is_streaming_after": s.is_streaming(), "latest_type": type(latest).__name__}
    s.disconnect()
    return out


@scenario
def on_buffer_callback(api, port, args):
    variables = args["vars"].split(",")
    s = api.Streamer(ip="127.0.0.1", port=port)
    s.connect()
    timestamps = {v: [] for v in variables}
    buffers = {v: [] for v in variables}
    kinds_seen = []

    def callback(buffer, timestamps, buffers):
        if not kinds_seen:
            kinds_seen.append(kinds(buffer))
        timestamps[buffer["name"]].append(buffer["buffer"]["ref_timestamp"])
        buffers[buffer["name"]].append(plain(buffer["buffer"]["data"]))

    s.start_streaming(variables, saving_enabled=False, on_buffer_callback=callback,
                      callback_args=(timestamps, buffers))
    s.wait(float(args.get("seconds", 1.5)))
    # until="var:values,...": then go on until each has had that many values
    # (a loaded machine delays them), at most 60 s.
    until = dict((k, int(n)) for k, n in
                 (item.split(":") for item in args.get("until", "").split(",") if item))
    end = time.monotonic() + 60
    while time.monotonic() < end and any(sum(len(d) for d in buffers[v]) < n
                                         for v, n in until.items()):
        s.wait(0.1)
    s.stop_streaming()
    n_after = {v: len(timestamps[v]) for v in variables}
    s.wait(0.3)
    out = {"timestamps": timestamps, "buffers": buffers, "kinds": kinds_seen[:1],
           "calls_after_stop": {v: len(timestamps[v]) - n_after[v] for v in variables}}
    # Both callbacks at once: pybela says so and calls neither; the values
    # still come.
    both_calls = []
    try:
        got = s.stream_n_values(variables[:1], n_values=2048,
                                on_buffer_callback=lambda b: both_calls.append("buffer"),
                                on_block_callback=lambda b: both_calls.append("block"))
        out["both_callbacks"] = {"raised": None, "calls": both_calls,
                                 "values": sum(len(b["data"]) for b in got[variables[0]]) >= 2048}
    except Exception as e:
        out["both_callbacks"] = {"raised": type(e).__name__, "calls": both_calls}
    s.disconnect()
    return out


@scenario
def on_buffer_async_callback(api, port, args):
    """pybela's benchmark style: an async callback."""
    variables = args["vars"].split(",")
    s = api.Streamer(ip="127.0.0.1", port=port)
    s.connect()
    refs = {v: [] for v in variables}

    async def callback(buffer):
        refs[buffer["name"]].append(buffer["buffer"]["ref_timestamp"])

    s.start_streaming(variables, on_buffer_callback=callback)
    s.wait(1.0)
    s.stop_streaming()
    s.disconnect()
    return {"refs": refs}


@scenario
def on_block_callback(api, port, args):
    variables = args["vars"].split(",")
    s = api.Streamer(ip="127.0.0.1", port=port)
    s.connect()
    blocks = []

    def callback(block):
        blocks.append([{"name": b["name"], "ref_timestamp": b["buffer"]["ref_timestamp"],
                        "data": plain(b["buffer"]["data"]),
                        **({"rel_timestamps": plain(b["buffer"]["rel_timestamps"])}
                           if "rel_timestamps" in b["buffer"] else {})} for b in block])

    s.start_streaming(variables, on_block_callback=callback)
    s.wait(float(args.get("seconds", 1.5)))
    s.stop_streaming()
    s.disconnect()
    return {"blocks": blocks}


@scenario
def send_buffer(api, port, args):
    """send_buffer of every type pybela can pack; 'j' is tried last."""
    s = api.Streamer(ip="127.0.0.1", port=port)
    s.connect()
    sent = [
        (1, "f", [1.5, 2.0, -3.25, 1e20, 0.1]),
        (2, "i", [0, 1, -1, 2147483647, -2147483648]),
        (3, "d", [0.1, -2.5e-300, 1e300, 3.0, 123456789.125]),
        (4, "c", [b"a", b"\x00", b"\xff", b"Z"]),
    ]
    results = []
    for bid, t, values in sent:
        ret = s.send_buffer(bid, t, len(values), values)
        results.append(plain(ret))
        s.wait(0.1)
    s.wait(0.3)
    try:
        s.send_buffer(5, "j", 3, [1, 2, 4294967295])
        j_error = None
    except Exception as e:
        j_error = type(e).__name__
    s.wait(0.3)
    s.disconnect()
    return {"sent": [[b, t, plain(v)] for b, t, v in sent], "returns": results,
            "j_error": j_error}


@scenario
def session_leak(api, port, args):
    """Issue 15: stream two dense doubles ~0.37 s, stop, disconnect, and at
    once connect a new Streamer and start again; repeated. Every session's
    buffers must be its own: contiguous frame numbers from the first."""
    variables = args["vars"].split(",")
    runs = int(args.get("runs", 10))
    sessions = []
    for _ in range(runs):
        s = api.Streamer(ip="127.0.0.1", port=port)
        s.connect()
        s.start_streaming(variables)
        s.wait(0.37)
        s.stop_streaming()
        q = s.streaming_buffers_queue
        sessions.append({v: [{"ref_timestamp": b["ref_timestamp"],
                              "first": plain(b["data"][0]), "last": plain(b["data"][-1]),
                              "n": len(b["data"])} for b in q[v]] for v in variables})
        s.disconnect()
    return {"sessions": sessions}


@scenario
def ended_session_buffer(api, port, args):
    """A buffer of a session that ended before a client connected must not
    reach that client. A Controller (its own connection, which stays) has
    the device watch `trigger` (set on demand through `poke`), sets it a few
    times, then unwatches it: the stream's last, padded buffer is due at
    the next assignment. A Streamer connects and streams frame_i; then the
    Controller pokes once more, completing the ended session's buffer."""
    c = api.Controller(ip="127.0.0.1", port=port)
    c.connect()
    c.start_controlling(["poke"])
    c.send_ctrl_msg({"watcher": [{"cmd": "watch", "watchers": ["trigger"]}]})
    c.wait(0.2)
    for k in range(1, 6):
        c.send_value(["poke"], [k])
        c.wait(0.05)
    c.send_ctrl_msg({"watcher": [{"cmd": "unwatch", "watchers": ["trigger"]}]})
    c.wait(0.2)
    s = api.Streamer(ip="127.0.0.1", port=port)
    s.connect()
    s.start_streaming(["frame_i"])
    s.wait(0.3)
    c.send_value(["poke"], [6])
    s.wait(0.5)
    s.stop_streaming()
    q = s.streaming_buffers_queue
    out = {"trigger": plain(q["trigger"]), "frame_i_buffers": len(q["frame_i"])}
    s.disconnect()
    c.stop_controlling(["poke"])
    c.disconnect()
    return out


# ---- Monitor ----------------------------------------------------------------------


@scenario
def monitor(api, port, args):
    variables = args["vars"].split(",")
    d = args["dir"]
    period = int(args.get("period", 1000))
    m = api.Monitor(ip="127.0.0.1", port=port)
    out = {"connect": plain(m.connect())}
    out["peek"] = plain(m.peek(variables))
    ret = m.start_monitoring(variables, periods=[period] * len(variables), saving_enabled=True,
                             saving_dir=d)
    out["start_return"] = plain(ret)
    m.wait(float(args.get("seconds", 1.0)))
    stopped = m.stop_monitoring()
    out["stop"] = plain(stopped)
    out["stop_keys"] = sorted(stopped.keys())
    out["values_keys"] = sorted(m.values.keys())
    out["values_types"] = kinds(m.values[variables[0]])
    out["files"] = sorted(os.listdir(d))
    out["loaded"] = {v: plain(m.load_data_from_file(os.path.join(d, f"{v}_monitor.txt")))
                     for v in variables}
    out["loaded_raw"] = {v: plain(m.load_data_from_file(os.path.join(d, f"{v}_monitor.txt"),
                                                        flatten=False))[:3] for v in variables}
    n = int(args.get("n", 10))
    ret = m.monitor_n_values(variables, periods=[period] * len(variables), n_values=n)
    out["n_values"] = {v: plain(ret[v]) for v in variables}
    out["n_values_keys"] = sorted(ret.keys())
    # Monitor's inherited streaming methods monitor, as pybela's do.
    m.start_streaming(variables, periods=[period] * len(variables))
    m.wait(0.5)
    m.stop_streaming()
    out["inherited"] = {v: plain(m.values[v]) for v in variables}
    m.disconnect()
    return out


@scenario
def peek_unset(api, port, args):
    """rill only: peek at a sparse variable the program never sets (pybela's
    peek waits for ever)."""
    m = api.Monitor(ip="127.0.0.1", port=port, timeout_ms=int(args.get("timeout_ms", 500)))
    m.connect()
    out = {}
    t = time.monotonic()
    try:
        m.peek(["frame_i", "trigger", "frame_d"])
    except Exception as e:
        out["raises"] = type(e).__name__
        out["is_timeout"] = isinstance(e, TimeoutError)
        out["message"] = str(e)
        out["peeked"] = plain(getattr(e, "peeked", None))
    out["seconds"] = time.monotonic() - t
    out["after"] = plain(m.peek(["frame_i"]))
    m.disconnect()
    return out


# ---- Controller -------------------------------------------------------------------


@scenario
def controller(api, port, args):
    c = api.Controller(ip="127.0.0.1", port=port)
    c.connect()
    out = {"status_before": c.get_controlled_status(["gain", "steps"])}
    out["start_return"] = plain(c.start_controlling(["gain", "steps"]))
    out["status"] = c.get_controlled_status(["gain", "steps"])
    out["send_return"] = plain(c.send_value(["gain", "steps"], [0.5, 3.7]))
    c.wait(0.2)
    out["value"] = plain(c.get_value(["gain", "steps"]))
    s = api.Streamer(ip="127.0.0.1", port=port)
    s.connect()
    q = s.stream_n_values(["scaled", "frame_d"], n_values=1024)
    out["scaled"] = plain(q["scaled"])
    out["frame_d"] = plain(q["frame_d"])
    s.disconnect()
    out["stop_return"] = plain(c.stop_controlling(["gain", "steps"]))
    out["status_after"] = c.get_controlled_status(["gain", "steps"])
    c.disconnect()
    return out


# ---- Logger (run inside the namespace of tests/pybela/netns.py) -------------------


def device_bins(project):
    d = f"/root/Bela/projects/{project}"
    return {n: {"size": os.path.getsize(os.path.join(d, n)), "sha": sha(os.path.join(d, n))}
            for n in sorted(os.listdir(d)) if n.endswith(".bin")} if os.path.isdir(d) else {}


def binary(lg, path, mode):
    r = lg.read_binary_file(path, mode)
    return plain(r)


@scenario
def logger(api, port, args):
    variables = args["vars"].split(",")
    d = args["dir"]
    lg = api.Logger(ip="127.0.0.1", port=port)
    lg.connect()
    out = {"project_name": lg.project_name, "is_logging_before": lg.is_logging()}

    # 1. start/stop with transfer: pybela copies while it logs.
    a = os.path.join(d, "a")
    ret = lg.start_logging(variables, transfer=True, logging_dir=a)
    out["start"] = plain(ret)
    out["is_logging"] = lg.is_logging()
    lg.wait(1.5)
    out["stop_return"] = plain(lg.stop_logging())
    out["is_logging_after"] = lg.is_logging()
    lg.wait(0.5)
    out["device_after_1"] = device_bins(lg.project_name)
    out["local_1"] = {v: {"size": os.path.getsize(p), "sha": sha(p)}
                      for v, p in ret["local_paths"].items() if p and os.path.exists(p)}
    out["read_1"] = {v: binary(lg, p, "dense") for v, p in ret["local_paths"].items()}

    # 2. without transfer, then copy_file_from_bela.
    b = os.path.join(d, "b")
    os.makedirs(b, exist_ok=True)
    ret = lg.start_logging(variables, transfer=False, logging_dir=b)
    out["start_no_transfer"] = plain(ret)
    lg.wait(1.0)
    lg.stop_logging()
    lg.wait(0.5)
    copied = {}
    for v, remote in ret["remote_paths"].items():
        local = os.path.join(b, os.path.basename(remote))
        copied[v] = plain(lg.copy_file_from_bela(remote, local))
    out["copy_returns"] = copied
    out["local_2"] = {v: {"size": os.path.getsize(os.path.join(b, os.path.basename(r))),
                          "sha": sha(os.path.join(b, os.path.basename(r)))}
                      for v, r in ret["remote_paths"].items()}
    out["device_after_2"] = device_bins(lg.project_name)

    # 3. schedule_logging: pybela blocks for the duration (in whole seconds)
    # and copies what is there; finish_copying_file fetches the rest.
    c = os.path.join(d, "c")
    latest = lg.get_latest_timestamp()
    rate = int(lg.sample_rate)
    start = int(latest + rate // 5)
    duration = int(rate * 1.2)
    t0 = time.monotonic()
    ret = lg.schedule_logging(variables, timestamps=[start] * len(variables),
                              durations=[duration] * len(variables), transfer=True,
                              logging_dir=c)
    out["schedule_seconds"] = time.monotonic() - t0
    out["schedule"] = plain(ret)
    out["schedule_start"], out["schedule_duration"] = start, duration
    lg.wait(1.0)
    for v in variables:
        if v in ret["local_paths"]:
            lg.finish_copying_file(ret["remote_paths"][v], ret["local_paths"][v])
    out["local_3"] = {v: {"size": os.path.getsize(p), "sha": sha(p)}
                      for v, p in ret["local_paths"].items() if os.path.exists(p)}
    out["read_3"] = {v: binary(lg, p, "dense") for v, p in ret["local_paths"].items()
                     if os.path.exists(p)}
    out["device_after_3"] = device_bins(lg.project_name)

    # 4. every .bin file of the project, then deletions.
    e = os.path.join(d, "all")
    os.makedirs(e, exist_ok=True)
    out["copy_all_return"] = plain(lg.copy_all_bin_files_in_project(dir=e))
    out["local_all"] = {n: {"size": os.path.getsize(os.path.join(e, n)), "sha": sha(os.path.join(e, n))}
                        for n in sorted(os.listdir(e))}
    one = sorted(out["device_after_3"])[0]
    out["deleted_one"] = one
    out["delete_one_return"] = plain(lg.delete_file_from_bela(
        f"/root/Bela/projects/{lg.project_name}/{one}"))
    out["device_after_delete_one"] = device_bins(lg.project_name)
    out["delete_all_return"] = plain(lg.delete_all_bin_files_in_project())
    out["device_after_delete_all"] = device_bins(lg.project_name)
    lg.disconnect()
    return out


@scenario
def logger_short(api, port, args):
    """start_logging with transfer, stop_logging, read_binary_file."""
    variables = args["vars"].split(",")
    lg = api.Logger(ip="127.0.0.1", port=port)
    lg.connect()
    ret = lg.start_logging(variables, transfer=True, logging_dir=args["dir"])
    lg.wait(1.0)
    lg.stop_logging()
    lg.wait(0.5)
    out = {"project_name": lg.project_name, "start": plain(ret),
           "device": device_bins(lg.project_name),
           "local": {v: {"size": os.path.getsize(p), "sha": sha(p)}
                     for v, p in ret["local_paths"].items() if os.path.exists(p)},
           "read": {v: binary(lg, p, "dense") for v, p in ret["local_paths"].items()}}
    lg.disconnect()
    return out


@scenario
def log_some(api, port, args):
    """start_logging with transfer, stop_logging: the local copies' paths."""
    lg = api.Logger(ip="127.0.0.1", port=port)
    lg.connect()
    ret = lg.start_logging(args["vars"].split(","), transfer=True, logging_dir=args["dir"])
    lg.wait(float(args.get("seconds", 1.0)))
    lg.stop_logging()
    lg.disconnect()
    return plain(ret)


@scenario
def log_orphan(api, port, args):
    """step=start: start logging without transfer and leave without
    stopping (the notebook crashed); step=stop: a new Logger's
    stop_logging() with no variables. The variables the device logs
    before and after."""
    lg = api.Logger(ip="127.0.0.1", port=port)
    lg.connect()

    def logged():
        return sorted(v["name"] for v in lg.list()["watchers"] if v["logged"])

    if args["step"] == "start":
        lg.start_logging(args["vars"].split(","), transfer=False)
        lg.wait(0.3)
        return {"logged": logged()}  # the process ends without stopping
    out = {"before": logged(), "is_logging": lg.is_logging(),
           "stop_return": plain(lg.stop_logging())}
    time.sleep(0.3)
    out["after"] = logged()
    lg.disconnect()
    return out


@scenario
def read_files(api, port, args):
    """Read files another run made: log files with read_binary_file, saved
    streams and monitors with load_data_from_file (no device needed)."""
    lg = api.Logger(ip="127.0.0.1", port=port)
    st = api.Streamer(ip="127.0.0.1", port=port)
    mo = api.Monitor(ip="127.0.0.1", port=port)
    out = {"logs": {}, "streams": {}, "monitors": {}}
    def key(path):
        return path

    for item in filter(None, args.get("logs", "").split(";")):
        path, mode = item.rsplit(":", 1)
        out["logs"][key(path)] = attempt(lg.read_binary_file, path, mode)
    for path in filter(None, args.get("streams", "").split(";")):
        out["streams"][key(path)] = attempt(st.load_data_from_file, path)
    for path in filter(None, args.get("monitors", "").split(";")):
        out["monitors"][key(path)] = [attempt(mo.load_data_from_file, path),
                                                   attempt(mo.load_data_from_file, path,
                                                           flatten=False)]
    out["none_path"] = attempt(lg.read_binary_file, None, "dense")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--client", default="pybela")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--result", required=True)
    ap.add_argument("--arg", action="append", default=[])
    a = ap.parse_args()
    args = dict(kv.split("=", 1) for kv in a.arg)
    try:
        api = load_api(a.client)
        result = SCENARIOS[a.scenario](api, a.port, args)
    except BaseException as e:  # report anything, even SystemExit
        result = {"exception": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
    with open(a.result, "w") as f:
        json.dump(plain(result), f)
    sys.stdout.flush()
    # pybela leaves tasks on its loop; a hard exit skips their noisy teardown.
    os._exit(0)


if __name__ == "__main__":
    main()
