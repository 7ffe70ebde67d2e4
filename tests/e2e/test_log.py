"""log/unlog: on-device files in the §6 format, and their HTTP download."""

import asyncio
import math
import os
import time

from belaclient import BODY_BYTES, BelaClient, run
from helpers import (BLOCK, RATE, check_dense_counter_buffers, check_event_buffer,
                     check_padded_dense_tail, http_get, next_event_frame, parse_log_buffers,
                     parse_log_file, var_entry)


async def wait_logged(c, names, state, timeout=4):
    deadline = time.monotonic() + timeout
    while True:
        st = await c.list()
        if all(var_entry(st, n)["logged"] is state for n in names):
            return st
        assert time.monotonic() < deadline, f"logged never became {state} for {names}"
        await asyncio.sleep(0.05)


async def wait_finished_file(path, timeout=4):
    """Wait until the file holds a whole header and whole buffers and stops growing."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        if os.path.exists(path):
            blob = open(path, "rb").read()
            try:
                hdr, bufs, rest = parse_log_file(blob)
                ok = not rest and bufs
            except (AssertionError, ValueError, IndexError):
                ok = False
            if ok and last == len(blob):
                return blob
            last = len(blob)
        assert time.monotonic() < deadline, \
            f"{path} not finished within {timeout} s (size {last})"
        await asyncio.sleep(0.15)


def download_finished(port, name, timeout=3.0):
    """GET /files/<name>, retrying while the server says the file is not finished yet
    (409, or 404 before it shows up) for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        status, data = http_get(port, "/files/" + name)
        if status == 200 or time.monotonic() > deadline or status not in (404, 409, 425, 503):
            return status, data
        time.sleep(0.1)


def test_log_files_are_byte_exact_and_downloadable(rill_server):
    names = [("frame", "i", 1024, 4), ("frame_d", "d", 512, 8)]

    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            # pybela: log with empty timestamps/durations, then list; logFileName by position.
            st = await c.start_logging([n for n, *_ in names])
            for i, (n, *_rest) in enumerate(names):
                assert st["watchers"][i]["logFileName"] == f"{n}.bin", \
                    f"logFileName of {n} not updated in the list right after log"
            # §2.5 log-scheduled notification, one per variable.
            await c.changed.wait_until(lambda: len(c.log_notices) >= 2, 3,
                                       "log-scheduled notifications")
            for note in c.log_notices:
                assert note["watcher"] in ("frame", "frame_d")
                assert note["logFileName"] == note["watcher"] + ".bin"
                assert isinstance(note["timestamp"], (int, float))
                assert note["timestampEnd"] >= 1.8e19, "no end must be 2^64-1"
            await wait_logged(c, ["frame", "frame_d"], True)
            await asyncio.sleep(0.6)
            await c.stop_logging([n for n, *_ in names])
            await wait_logged(c, ["frame", "frame_d"], False)
            assert not c.errors, c.errors
            assert not c.violations, c.violations
        finally:
            await c.close()
        out = {}
        for n, *_ in names:
            out[n] = await wait_finished_file(os.path.join(rill_server.logdir, f"{n}.bin"))
        return out

    blobs = run(body(), 30)
    for n, t, per, size in names:
        blob = blobs[n]
        hdr, raw, rest = parse_log_file(blob)
        assert hdr["name"] == n and hdr["type"] == t
        assert hdr["pid"] == rill_server.pid, "pid field is not the server's pid"
        assert hdr["header_len"] % 4 == 0
        assert not rest and len(blob) == hdr["header_len"] + len(raw) * BODY_BYTES
        bufs = parse_log_buffers(raw, t, 0)
        assert len(bufs) >= math.floor(0.5 * RATE / per), f"{n}: only {len(bufs)} buffers logged"
        check_dense_counter_buffers(bufs[:-1], per, f"{n} log")
        assert bufs[-1]["ref"] == bufs[-2]["ref"] + per
        check_padded_dense_tail(bufs[-1], size, f"{n} log, last buffer")
        status, data = download_finished(rill_server.port, f"{n}.bin")
        assert status == 200, f"GET /files/{n}.bin -> {status}"
        with open(os.path.join(rill_server.logdir, f"{n}.bin"), "rb") as f:
            assert f.read() == blob, "the file changed after it looked finished"
        assert data == blob, "downloaded bytes differ from the file on disk"


def test_scheduled_log_holds_d_plus_one_values(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            now = int((await c.list())["timestamp"])
            start, D = now + int(0.2 * RATE), 3000
            st = await c.start_logging(["frame"], [start], [D])
            assert st["watchers"][0]["logFileName"] == "frame.bin"
            await c.changed.wait_until(lambda: c.log_notices, 3, "the log-scheduled notification")
            note = c.log_notices[0]
            assert note["timestamp"] == start and note["timestampEnd"] == start + D
            deadline = time.monotonic() + 5
            while True:
                st = await c.list()
                if st["timestamp"] > start + D + 4 * BLOCK and not var_entry(st, "frame")["logged"]:
                    break
                assert time.monotonic() < deadline, "scheduled log did not end"
                await asyncio.sleep(0.05)
        finally:
            await c.close()
        return start, await wait_finished_file(os.path.join(rill_server.logdir, "frame.bin"))

    start, blob = run(body(), 30)
    hdr, raw, rest = parse_log_file(blob)
    bufs = parse_log_buffers(raw, "i", 0)
    assert bufs[0]["ref"] == start, f"first logged value at {bufs[0]['ref']}, start was {start}"
    assert len(bufs) == math.ceil(3001 / 1024)
    check_dense_counter_buffers(bufs[:-1], 1024, "scheduled log")
    cnt = check_padded_dense_tail(bufs[-1], 4, "scheduled log, last buffer")
    assert 1024 * (len(bufs) - 1) + cnt == 3001, "a scheduled log of duration D holds D+1 values"
    status, data = download_finished(rill_server.port, "frame.bin")
    assert status == 200 and data == blob


def test_log_sparse_variable_keeps_exact_relative_timestamps(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            st = await c.start_logging(["events"])
            # pybela's position bug: only index 0 is right for a lone non-first variable,
            # so read the name from the variable's own entry.
            assert var_entry(st, "events")["logFileName"] == "events.bin"
            await wait_logged(c, ["events"], True)
            await asyncio.sleep(1.2)
            await c.stop_logging(["events"])
            await wait_logged(c, ["events"], False)
        finally:
            await c.close()
        return await wait_finished_file(os.path.join(rill_server.logdir, "events.bin"))

    blob = run(body(), 30)
    hdr, raw, rest = parse_log_file(blob)
    assert hdr["name"] == "events" and hdr["type"] == "i"
    bufs = parse_log_buffers(raw, "i", 1)
    assert len(bufs) >= 2
    for k, b in enumerate(bufs[:-1]):
        check_event_buffer(b, f"logged events buffer {k}")
        if k:
            assert b["ref"] == next_event_frame(bufs[k - 1]["data"][-1])
    n = check_event_buffer(bufs[-1], "last logged events buffer", full=False)
    assert all(v == 0 for v in bufs[-1]["data"][n:]) and all(r == 0 for r in bufs[-1]["rel"][n:])
    assert bufs[-1]["ref"] == next_event_frame(bufs[-2]["data"][-1])


def test_relogging_names_files_plus_k_and_serves_each(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        names = []
        try:
            await c.connect()
            for _ in range(3):
                st = await c.start_logging(["frame"])
                names.append(st["watchers"][0]["logFileName"])
                await wait_logged(c, ["frame"], True)
                await asyncio.sleep(0.1)
                await c.stop_logging(["frame"])
                await wait_logged(c, ["frame"], False)
        finally:
            await c.close()
        blobs = []
        for n in names:
            blobs.append(await wait_finished_file(os.path.join(rill_server.logdir, n)))
        return names, blobs

    names, blobs = run(body(), 30)
    assert names == ["frame.bin", "frame+0.bin", "frame+1.bin"]
    for n, blob in zip(names, blobs):
        hdr, raw, rest = parse_log_file(blob)
        assert hdr["name"] == "frame"
        bufs = parse_log_buffers(raw, "i", 0)
        check_padded_dense_tail(bufs[-1], 4, n)
        status, data = download_finished(rill_server.port, n.replace("+", "%2B"))
        if status != 200:
            status, data = download_finished(rill_server.port, n)
        assert status == 200 and data == blob, f"download of {n}: {status}"


def test_http_files_refuses_missing_files_and_path_traversal(rill_server):
    status, _ = http_get(rill_server.port, "/files/no-such-file.bin")
    assert status == 404
    secret = os.path.join(os.path.dirname(rill_server.logdir.rstrip("/")), "outside.bin")
    with open(secret, "wb") as f:
        f.write(b"secret")
    for path in ("/files/../outside.bin", "/files/..%2Foutside.bin", "/files/%2e%2e/outside.bin",
                 "/files/" + secret, "/files/..", "/files/"):
        status, data = http_get(rill_server.port, path)
        if path == "/files/.." and status == 200:
            # libwebsockets normalises it to "/": the dashboard's page, not a file.
            assert b"<!doctype html>" in data.lower()
        elif path == "/files/":
            # The listing of the log directory (PROTOCOL.md §5.1): its own
            # files only, not what lies outside.
            assert status == 200 and data.startswith(b'{"files":['), (status, data[:80])
        else:
            assert status in (400, 403, 404), f"GET {path} -> {status}"
        assert b"secret" not in data
    status, _ = http_get(rill_server.port, "/nothing-here")
    assert status == 404


def test_a_log_with_no_end_keeps_all_but_the_last_second_when_killed(rill_serve):
    """pybela's start_logging with no duration, at 100 Hz: the log runs on the
    device's fast path (one running dense stream), which took its values
    without the once-a-second write of the partial body, so a killed server
    kept only the file's header. After ~2.5 s and a SIGKILL the file holds
    at least a second of values, each equal to its tick, contiguous."""
    srv = rill_serve(rate=100, block=None)

    async def body():
        c = BelaClient(srv.url)
        try:
            await c.connect()
            st = await c.start_logging(["frame"])
            assert var_entry(st, "frame")["logFileName"] == "frame.bin"
            await wait_logged(c, ["frame"], True)
            await asyncio.sleep(2.5)
        finally:
            srv.process.kill()
            srv.process.wait(5)
            srv.process._rill_stopped_by_test = True
            await c.close()

    run(body(), 20)
    hdr, raw, rest = parse_log_file(open(os.path.join(srv.logdir, "frame.bin"), "rb").read())
    assert hdr["name"] == "frame" and len(raw) == 1 and not rest, (hdr, len(raw), rest)
    b = parse_log_buffers(raw, "i", 0)[0]
    got = [v for v in b["data"] if v != 0]
    assert len(got) >= 100, f"{len(got)} values kept of ~250"
    assert got == list(range(b["ref"], b["ref"] + len(got)))
    assert all(v == 0 for v in b["data"][len(got):])
