"""Compatibility-mode streaming as pybela sees it (spec §3, §5.3, §7 Streaming calls)."""

import asyncio
import math
import time

from belaclient import BODY_BYTES, BelaClient, run
from helpers import (BLOCK, RATE, check_dense_counter_buffers, check_event_buffer,
                     check_padded_dense_tail, data_fence, expected_sine, f32, next_event_frame,
                     var_entry)


def test_dense_int_and_double_buffers_are_continuous(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            await c.start_streaming(["frame", "frame_d"])
            await c.wait_buffers("frame", 8, timeout=6)
            await c.wait_buffers("frame_d", 12, timeout=6)
            check_dense_counter_buffers(c.buffers["frame"][:8], 1024, "frame (i)")
            check_dense_counter_buffers(c.buffers["frame_d"][:12], 512, "frame_d (d)")
            for b in c.buffers["frame_d"][:12]:
                assert all(isinstance(v, float) for v in b["data"])
            st = await c.list()
            assert var_entry(st, "frame")["watched"] is True
            assert var_entry(st, "frame_d")["watched"] is True
            assert var_entry(st, "sine")["watched"] is False
            await c.stop_streaming()
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_dense_float_sine_matches_the_demo_formula(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            await c.start_streaming(["sine"])
            bufs = await c.wait_buffers("sine", 3, timeout=5)
            for k, b in enumerate(bufs):
                assert len(b["data"]) == 1024
                for i, v in enumerate(b["data"]):
                    want = f32(expected_sine(b["ref"] + i))
                    assert abs(v - want) < 2e-3, \
                        f"sine buffer {k} value {i} (tick {b['ref'] + i}) = {v}, expected {want}"
                if k:
                    assert b["ref"] - bufs[k - 1]["ref"] == 1024
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_sparse_events_carry_exact_relative_timestamps(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            await c.start_streaming(["events"])
            # 512 events per buffer, ~2.6 events per 100 frames: ~0.45 s a buffer.
            bufs = await c.wait_buffers("events", 3, timeout=8)
            for k, b in enumerate(bufs):
                assert len(b["data"]) == 512 and len(b["rel"]) == 512
                check_event_buffer(b, f"events buffer {k}")
                if k:
                    prev = bufs[k - 1]
                    assert b["ref"] == next_event_frame(prev["data"][-1]), \
                        f"events buffer {k} starts at {b['ref']}, an event is missing after " \
                        f"{prev['data'][-1]}"
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_sparse_double_layout_relative_timestamps_and_zero_tail(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            await c.start_streaming(["level"])
            # 341 values, one per 64-frame block: ~0.5 s a buffer.
            bufs = await c.wait_buffers("level", 2, timeout=8)
            for k, b in enumerate(bufs):
                assert len(b["raw"]) == BODY_BYTES
                assert len(b["data"]) == 341
                assert b["rel"] == [BLOCK * i for i in range(341)], \
                    f"level buffer {k}: relative timestamps are not one block apart"
                assert b["raw"][4100:4104] == b"\0\0\0\0", "unused tail of a sparse d body"
            assert bufs[1]["ref"] - bufs[0]["ref"] == 341 * BLOCK
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_unwatch_flushes_a_zero_padded_final_dense_buffer(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            await c.start_streaming(["frame", "frame_d"])
            await c.wait_buffers("frame", 2, timeout=5)
            await c.stop_streaming(["frame", "frame_d"])
            deadline = time.monotonic() + 3
            while True:
                st = await c.list()
                if not var_entry(st, "frame")["watched"] and not var_entry(st, "frame_d")["watched"]:
                    break
                assert time.monotonic() < deadline, "watched still true 3 s after unwatch"
                await asyncio.sleep(0.05)
            await data_fence(c, "sine")   # the final buffers, and any after them, are here
            for name, n, size in (("frame", 1024, 4), ("frame_d", 512, 8)):
                bufs = c.buffers[name]
                check_dense_counter_buffers(bufs[:-1], n, name)
                last = bufs[-1]
                if len(bufs) > 1:
                    assert last["ref"] - bufs[-2]["ref"] == n
                check_padded_dense_tail(last, size, f"{name} final buffer")
            count = {k: len(v) for k, v in c.buffers.items() if k != "sine"}
            await data_fence(c, "sine")
            assert {k: len(v) for k, v in c.buffers.items() if k != "sine"} == count, \
                "buffers still arrive after the stream ended"
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_unwatch_flushes_a_zero_padded_final_sparse_buffer(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            await c.start_streaming(["events"])
            await c.wait_buffers("events", 1, timeout=6)
            await c.stop_streaming(["events"])
            await c.wait_buffers("events", 2, timeout=3)
            await asyncio.sleep(0.3)
            bufs = c.buffers["events"]
            last = bufs[-1]
            n = check_event_buffer(last, "final events buffer", full=False)
            assert n < 512, "final buffer has no padding (improbable: unwatch hit a buffer end)"
            assert all(v == 0 for v in last["data"][n:]), "sparse value padding is not zero"
            assert all(r == 0 for r in last["rel"][n:]), "sparse timestamp padding is not zero"
            assert last["ref"] == next_event_frame(bufs[-2]["data"][-1])
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_scheduled_watch_compat_delivers_d_plus_one_values_and_watched_toggles(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            now = int((await c.list())["timestamp"])
            start = now + int(0.5 * RATE)
            D = int(0.5 * RATE) + 333          # not a multiple of any buffer length
            await c.schedule_streaming(["frame", "frame_d"], [start, start], [D, D])
            # pybela polls list every 0.1 s until it saw watched true and then false.
            polls = []
            seen_true = False
            deadline = time.monotonic() + 6
            while True:
                st = await c.list()
                w = (var_entry(st, "frame")["watched"], var_entry(st, "frame_d")["watched"])
                polls.append((st["timestamp"], w))
                if all(w):
                    seen_true = True
                if seen_true and not any(w):
                    break
                assert time.monotonic() < deadline, f"schedule never completed: {polls}"
                await asyncio.sleep(0.1)
            # The state as pybela sees it: false before start, true inside, false after.
            slack = 2 * BLOCK
            for ts, w in polls:
                if ts < start - slack:
                    assert w == (False, False), f"watched at tick {ts} before start {start}"
                elif start + slack < ts < start + D - slack:
                    assert w == (True, True), f"not watched at tick {ts} inside [{start}, {start + D}]"
                elif ts > start + D + slack:
                    assert w == (False, False), f"watched at tick {ts} after the end {start + D}"
            await data_fence(c, "sine")   # every buffer of the schedule, and any extra, is here
            for name, n, size in (("frame", 1024, 4), ("frame_d", 512, 8)):
                bufs = c.buffers[name]
                assert len(bufs) == math.ceil((D + 1) / n), \
                    f"{name}: {len(bufs)} buffers for D+1={D + 1} values of {n}"
                assert bufs[0]["ref"] == start, f"{name}: first ref {bufs[0]['ref']} != start {start}"
                check_dense_counter_buffers(bufs[:-1], n, name)
                assert bufs[-1]["ref"] == start + n * (len(bufs) - 1)
                cnt = check_padded_dense_tail(bufs[-1], size, f"{name} final buffer")
                total = n * (len(bufs) - 1) + cnt
                assert total == D + 1, f"{name}: {total} values, expected D+1 = {D + 1}"
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_stream_n_values_flow_lists_after_every_body(rill_server):
    """pybela's stream_n_values: unwatch all + watch, 1-2 lists per body, then unwatch."""
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            names = ["frame", "frame_d"]
            n_values = 3000
            per_var = math.ceil(n_values / min(1024, 512))   # 6 buffers per variable
            await c.stream_n_values_start(names)
            seen = 0
            deadline = time.monotonic() + 10
            while True:
                total = lambda: sum(len(c.buffers[n]) for n in names)  # noqa: E731
                await c.changed.wait_until(lambda: total() > seen, 5, "the next body")
                seen = total()
                # Answered while streaming (within its timeout: liveness, not
                # a latency figure; the server benchmark measures those).
                for _ in range(2):
                    st = await c.list(timeout=2)
                watched = [v["name"] for v in st["watchers"] if v["watched"]]
                assert sorted(watched) == sorted(names), f"watched = {watched}"
                if all(len(c.buffers[n]) >= per_var for n in watched):
                    break
                assert time.monotonic() < deadline
            await c.stop_streaming()
            check_dense_counter_buffers(c.buffers["frame"][:per_var], 1024, "frame")
            check_dense_counter_buffers(c.buffers["frame_d"][:per_var], 512, "frame_d")
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_two_clients_stream_at_once(rill_server):
    async def body():
        a, b = BelaClient(rill_server.url), BelaClient(rill_server.url)
        try:
            await a.connect()
            await b.connect()
            await a.start_streaming(["frame"])
            await b.start_streaming(["frame_d"])
            await a.wait_buffers("frame", 6, timeout=6)
            await b.wait_buffers("frame_d", 10, timeout=6)
            la, lb = await a.list(), await b.list()
            for lst in (la, lb):
                assert var_entry(lst, "frame")["watched"] and var_entry(lst, "frame_d")["watched"]
            check_dense_counter_buffers(a.buffers["frame"], 1024, "frame at client A")
            check_dense_counter_buffers(b.buffers["frame_d"], 512, "frame_d at client B")
            # A stops its variable; B keeps receiving its own, still continuous.
            await a.stop_streaming(["frame"])
            have = len(b.buffers["frame_d"])
            await b.wait_buffers("frame_d", have + 6, timeout=5)
            check_dense_counter_buffers(b.buffers["frame_d"], 512, "frame_d at client B")
            assert not a.violations and not b.violations, (a.violations, b.violations)
        finally:
            await a.close()
            await b.close()

    run(body(), 30)


def test_client_without_connection_reply_gets_data_only_once_active(rill_server):
    """§1.4: no streaming data while no control socket is active; `active` turns it on."""
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect(reply=False)
            await c.start_streaming(["frame"])
            await asyncio.sleep(0.5)   # data would flow meanwhile, were it to
            inactive_until = int((await c.list())["timestamp"])
            await c.send_control({"event": "active"})
            bufs = await c.wait_buffers("frame", 3, timeout=5)
            # The data socket is one ordered queue: a buffer made while no
            # client was active would come first, with an earlier tick.
            assert bufs[0]["ref"] > inactive_until - 1024, \
                f"streaming data flowed with no active client (buffer at {bufs[0]['ref']}, " \
                f"active from {inactive_until})"
            check_dense_counter_buffers(bufs, 1024, "frame after active")
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_stalled_compat_client_does_not_hurt_other_clients(rill_serve):
    """A pybela client whose sockets stop being read: the other client's data stays
    continuous, complete and timely, the tick keeps real time, and the stalled client
    loses whole header+body pairs only (never half a pair) and stays connected."""
    # Broadcast: the healthy client gets everything the stalled one gets, ~0.7 MB/s;
    # 256 KiB of queue leaves it ~0.35 s of headroom for its own hiccups.
    srv = rill_serve("--queue-bytes", "262144")
    names = ["frame", "frame_d", "sine"]

    async def body():
        stalled = BelaClient(srv.url, small_rcvbuf=True)
        healthy = BelaClient(srv.url)
        try:
            await stalled.connect()
            await healthy.connect()
            stalled.pause()
            await healthy.start_streaming(names)   # broadcast: the stalled socket gets them too
            await healthy.wait_buffers("frame", 2, timeout=5)
            t0, l0 = time.monotonic(), await healthy.list()
            await asyncio.sleep(3.0)
            t1, l1 = time.monotonic(), await healthy.list()
            ticks, wall = l1["timestamp"] - l0["timestamp"], t1 - t0
            assert abs(ticks - wall * RATE) < 0.1 * wall * RATE, \
                f"{ticks} ticks in {wall:.3f} s while a client is stalled"
            # Complete: every buffer of the stall window arrives (allow 2 s of latency).
            end = l1["timestamp"] - 2048
            await healthy.changed.wait_until(
                lambda: healthy.buffers["frame"][-1]["ref"] + 1024 >= end, 2,
                "the healthy client's buffers of the stall window")
            check_dense_counter_buffers(healthy.buffers["frame"], 1024, "frame at the healthy client")
            check_dense_counter_buffers(healthy.buffers["frame_d"], 512,
                                        "frame_d at the healthy client")
            for n in names:
                refs = [b["ref"] for b in healthy.buffers[n]]
                per = 512 if n == "frame_d" else 1024
                assert all(b - a == per for a, b in zip(refs, refs[1:])), f"{n}: a buffer is missing"
            in_window = [b for b in healthy.buffers["frame"]
                         if l0["timestamp"] <= b["ref"] and b["ref"] + 1024 <= l1["timestamp"] - 2048]
            expected = (l1["timestamp"] - 2048 - l0["timestamp"]) // 1024
            assert len(in_window) >= expected - 1
            arrivals = [b["t"] for b in healthy.buffers["frame"] if t0 <= b["t"] <= t1]
            gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
            assert gaps and max(gaps) < 1.0, f"healthy client waited {max(gaps):.3f} s for a buffer"
            await healthy.stop_streaming()
            stalled.resume()
            await asyncio.sleep(1.0)
            assert not stalled.control_closed() and not stalled.data.closed, \
                "the server closed the slow client instead of dropping buffers"
            got = stalled.buffers["frame"]
            assert got, "the stalled client got nothing at all"
            full = [b for b in got if leading_count_all(b)]
            for b in full:
                assert (b["ref"] - got[0]["ref"]) % 1024 == 0
            total = sum(len(stalled.buffers[n]) for n in names)
            sent = sum(len(healthy.buffers[n]) for n in names)
            assert total < sent, "nothing was dropped for the stalled client (did it stall?)"
            # Its drops are announced on its control socket (never as text on
            # /gui_data). The healthy client holds every buffer but the final
            # padded one of each stream, which pybela's stop discards, so the
            # count seen from here may be short by one per variable.
            missing = sum(len({b["ref"] for b in healthy.buffers[n]} -
                              {b["ref"] for b in stalled.buffers[n]}) for n in names)
            notices = [e for e in stalled.events
                       if e.get("event") == "dropped" and e.get("path") == "/gui_data"]
            announced = sum(e["buffers"] for e in notices)
            assert missing <= announced <= missing + len(names), \
                f"announced {announced} dropped buffers, the client misses {missing}"
            assert notices[-1]["total"] == announced
            await stalled.list(timeout=3)
            assert not stalled.violations, stalled.violations   # no half pairs
            assert not healthy.violations, healthy.violations
        finally:
            await stalled.close()
            await healthy.close()

    run(body(), 45)


def leading_count_all(buf):
    return all(v == buf["ref"] + i for i, v in enumerate(buf["data"]))


def test_unwatch_before_a_scheduled_start_sends_one_single_value_buffer(rill_server):
    """§5.3: stopping a stream that is still Starting gives one padded buffer holding a
    single value, at the first assignment at or after the stop tick."""
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            now = int((await c.list())["timestamp"])
            await c.schedule_streaming(["frame"], [now + 5 * RATE], [0])
            await asyncio.sleep(0.2)
            before = int((await c.list())["timestamp"])
            await c.stop_streaming(["frame"])
            bufs = await c.wait_buffers("frame", 1, timeout=3)
            await data_fence(c)   # a second buffer would have come by now
            assert len(c.buffers["frame"]) == 1, "more than one buffer for a never-started stream"
            b = bufs[0]
            assert b["ref"] >= before and b["data"][0] == b["ref"]
            assert all(v == 0 for v in b["data"][1:]), "expected a single value then padding"
            assert not var_entry(await c.list(), "frame")["watched"]
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_logging_does_not_disturb_a_running_stream(rill_server):
    """Separate watch and log buffers (spec §8 fix 8): starting and stopping a log of
    the same variable neither resets the streamed buffer nor inserts a padded one."""
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            await c.start_streaming(["frame"])
            await c.wait_buffers("frame", 2, timeout=5)
            await c.start_logging(["frame"])
            await asyncio.sleep(0.3)
            await c.stop_logging(["frame"])
            have = len(c.buffers["frame"])
            await c.wait_buffers("frame", have + 4, timeout=5)
            check_dense_counter_buffers(c.buffers["frame"], 1024, "frame streamed while logging")
            await c.stop_streaming()
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_rate_and_block_options_are_honoured(rill_serve):
    srv = rill_serve(rate=8000, block=32)

    async def body():
        c = BelaClient(srv.url)
        try:
            lst = await c.connect()
            assert lst["sampleRate"] == 8000
            t0, a = time.monotonic(), await c.list()
            await c.start_streaming(["level", "frame"])
            await c.wait_buffers("frame", 3, timeout=5)
            t1, b = time.monotonic(), await c.list()
            ticks, expected = b["timestamp"] - a["timestamp"], (t1 - t0) * 8000
            assert abs(ticks - expected) < 0.1 * expected, f"{ticks} ticks, expected ~{expected:.0f}"
            check_dense_counter_buffers(c.buffers["frame"][:3], 1024, "frame at 8 kHz")
            lv = await c.wait_buffers("level", 1, timeout=5)
            assert lv[0]["rel"] == [32 * i for i in range(341)], "level is not once per 32-frame block"
            await c.stop_streaming()
        finally:
            await c.close()

    run(body(), 30)
