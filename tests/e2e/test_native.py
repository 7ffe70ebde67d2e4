"""rill's native mode: one binary message per buffer on the control socket."""

import asyncio
import time

from belaclient import BelaClient, run
from helpers import (DENSE_NAMES, RATE, check_dense_counter_buffers, is_event_frame,
                     next_event_frame, var_entry)
from nativeclient import (FLAG_LAST, FLAG_SPARSE, KIND_END, KIND_MONITOR, KIND_STREAM, NativeClient,
                          notice_var)


def stream_msgs(c, name):
    return [m for m in c.stream(name) if m["kind"] == KIND_STREAM]


def check_native_counter(msgs, what, length=None, allow_drops=False):
    """Native messages of a frame-counter variable: values == first_ts + i, adjacent."""
    assert msgs, f"no native messages for {what}"
    for k, m in enumerate(msgs):
        assert m["values"] == list(range(m["first_ts"], m["first_ts"] + m["count"])), \
            f"{what} message {k} (seq {m['seq']}): values are not first_ts..first_ts+count-1"
        if length is not None and not (m["flags"] & FLAG_LAST):
            assert m["count"] == length, f"{what} message {k}: count {m['count']} != {length}"
        if k:
            p = msgs[k - 1]
            if allow_drops:
                assert m["seq"] - p["seq"] == 1 + m["dropped"], \
                    f"{what}: seq {p['seq']}->{m['seq']} but dropped={m['dropped']}"
                assert m["first_ts"] - p["first_ts"] == p["count"] * (1 + m["dropped"]), \
                    f"{what}: ts {p['first_ts']}->{m['first_ts']} not explained by " \
                    f"dropped={m['dropped']} buffers of {p['count']}"
            else:
                assert m["seq"] == p["seq"] + 1, f"{what}: seq {p['seq']} -> {m['seq']}"
                assert m["dropped"] == 0, f"{what}: dropped={m['dropped']}"
                assert m["first_ts"] == p["first_ts"] + p["count"], \
                    f"{what}: message {k} starts at {m['first_ts']}, expected {p['first_ts'] + p['count']}"


def test_native_hello_and_continuous_streams_with_chosen_lengths(rill_server):
    async def body():
        c = NativeClient(rill_server.url)
        try:
            await c.connect()
            assert c.hello["rill"] == "hello" and c.hello["version"] == 2
            assert c.hello["blockTicks"] == 64, c.hello  # the demo's --block
            await c.watch(["frame", "frame_d"], lengths=[100, 300])
            await c.wait_messages("frame", 20, timeout=5)
            await c.wait_messages("frame_d", 8, timeout=5)
            for name, length, t in (("frame", 100, "i"), ("frame_d", 300, "d")):
                ms = stream_msgs(c, name)
                assert all(m["type"] == t and m["id"] == c.var_id(name) for m in ms)
                assert all(m["flags"] == 0 for m in ms), "dense, not-last messages carry no flags"
                assert all(m["dropped"] == 0 for m in ms)
                check_native_counter(ms, name, length)
            st = await c.list()
            assert var_entry(st, "frame")["watched"] is True
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_native_sparse_messages_carry_exact_relative_timestamps(rill_server):
    async def body():
        c = NativeClient(rill_server.url)
        try:
            await c.connect()
            await c.watch(["events"], lengths=[50])
            await c.wait_messages("events", 4, timeout=5)
            ms = stream_msgs(c, "events")
            prev_last = None
            for k, m in enumerate(ms):
                assert m["flags"] & FLAG_SPARSE, "sparse variable without the sparse flag"
                assert m["rel"][0] == 0
                for i, (v, r) in enumerate(zip(m["values"], m["rel"])):
                    assert v == m["first_ts"] + r, f"message {k} value {i}: {v} != ts+rel"
                    assert is_event_frame(v)
                    if i:
                        assert v == next_event_frame(m["values"][i - 1])
                if prev_last is not None:
                    assert m["first_ts"] == next_event_frame(prev_last)
                    assert m["seq"] == ms[k - 1]["seq"] + 1
                prev_last = m["values"][-1]
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_native_scheduled_watch_delivers_exactly_duration_values_from_start(rill_server):
    async def body():
        c = NativeClient(rill_server.url)
        try:
            await c.connect()
            now = int((await c.list())["timestamp"])
            start = now + int(0.3 * RATE)
            D = 5000
            await c.watch(["frame", "frame_d"], timestamps=[start, start], durations=[D, D],
                          lengths=[1024, 1000])
            for name in ("frame", "frame_d"):
                await c.wait_end(name, timeout=4)
            await asyncio.sleep(0.3)
            for name in ("frame", "frame_d"):
                ms = [m for m in c.stream(name)]
                data = [m for m in ms if m["kind"] == KIND_STREAM]
                assert data[0]["first_ts"] == start, \
                    f"{name}: first value at {data[0]['first_ts']}, expected the start tick {start}"
                check_native_counter(data, name)
                values = [v for m in data for v in m["values"]]
                assert values == list(range(start, start + D)), \
                    f"{name}: {len(values)} values {values[:1]}..{values[-1:]}, expected exactly " \
                    f"{D} values {start}..{start + D - 1}"
                end_at = next(i for i, m in enumerate(ms)
                              if m["kind"] == KIND_END or m["flags"] & FLAG_LAST)
                assert end_at == len(ms) - 1, f"{name}: messages after the end of the stream"
                assert all(not (m["flags"] & FLAG_LAST) for m in data[:-1])
            st = await c.list()
            assert not var_entry(st, "frame")["watched"]
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_native_watch_with_past_start_begins_now_and_counts_duration(rill_server):
    async def body():
        c = NativeClient(rill_server.url)
        try:
            await c.connect()
            before = int((await c.list())["timestamp"])
            await c.watch(["frame"], timestamps=[1], durations=[2000], lengths=[512])
            await c.wait_end("frame", timeout=3)
            data = stream_msgs(c, "frame")
            values = [v for m in data for v in m["values"]]
            assert values[0] >= before, "a start in the past must mean now"
            assert values == list(range(values[0], values[0] + 2000))
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_native_scheduled_sparse_watch_covers_exactly_duration_ticks(rill_server):
    async def body():
        c = NativeClient(rill_server.url)
        try:
            await c.connect()
            now = int((await c.list())["timestamp"])
            start = now + int(0.2 * RATE) + 1      # not itself an event frame, usually
            D = 6000
            await c.watch(["events"], timestamps=[start], durations=[D], lengths=[64])
            await c.wait_end("events", timeout=4)
            data = stream_msgs(c, "events")
            values = [v for m in data for v in m["values"]]
            want = [f for f in range(start, start + D) if is_event_frame(f)]
            assert values == want, f"events in [{start}, {start + D}): got {len(values)} " \
                f"({values[:2]}..{values[-2:]}), expected {len(want)}"
            for m in data:
                assert [m["first_ts"] + r for r in m["rel"]] == m["values"]
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_native_unwatch_ends_the_stream_without_padding(rill_server):
    async def body():
        c = NativeClient(rill_server.url)
        try:
            await c.connect()
            await c.watch(["frame"], lengths=[1000])
            await c.wait_messages("frame", 2, timeout=5)
            await c.unwatch(["frame"])
            await c.wait_end("frame", timeout=3)
            ms = c.stream("frame")
            data = [m for m in ms if m["kind"] == KIND_STREAM]
            check_native_counter(data, "frame")
            assert data[-1]["count"] >= 1 and data[-1]["flags"] & FLAG_LAST or \
                ms[-1]["kind"] == KIND_END
            count = len(ms)
            # One socket, one ordered queue: once frame_d's third message
            # (1536 ticks on) is here, any later frame message would be too.
            await c.watch(["frame_d"])
            await c.wait_messages("frame_d", 3, timeout=5)
            assert len(c.stream("frame")) == count, "messages after the end of the stream"
            assert not var_entry(await c.list(), "frame")["watched"]
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_native_monitor_frames_are_exact(rill_server):
    async def body():
        c = NativeClient(rill_server.url)
        try:
            await c.connect()
            await c.start_monitoring(["frame", "frame_d"], [441, 1000])
            for name, p in (("frame", 441), ("frame_d", 1000)):
                await c.changed.wait_until(lambda: len(c.monitor[name]) >= 6, 5,
                                           f"native monitor frames of {name}")
                ms = [m for m in c.stream(name) if m["kind"] == KIND_MONITOR]
                assert all(m["count"] == 1 and m["values"][0] == m["first_ts"] for m in ms)
                ts = [m["first_ts"] for m in ms]
                assert {b - a for a, b in zip(ts, ts[1:])} == {p}
                assert [m["seq"] for m in ms] == list(range(ms[0]["seq"], ms[0]["seq"] + len(ms)))
            await c.stop_monitoring(["frame", "frame_d"])
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_native_clients_receive_only_what_they_asked_for(rill_server):
    async def body():
        a, b = NativeClient(rill_server.url), NativeClient(rill_server.url)
        try:
            await a.connect()
            await b.connect()
            await a.watch(["frame"], lengths=[256])
            await b.watch(["frame_d"], lengths=[256])
            await a.wait_messages("frame", 10, timeout=5)
            await b.wait_messages("frame_d", 10, timeout=5)
            got_a = {m["id"] for m in a.messages}
            got_b = {m["id"] for m in b.messages}
            assert got_a == {a.var_id("frame")}, f"client A got ids {got_a}"
            assert got_b == {b.var_id("frame_d")}, f"client B got ids {got_b}"
            check_native_counter(stream_msgs(a, "frame"), "frame at A")
            check_native_counter(stream_msgs(b, "frame_d"), "frame_d at B")
            assert not a.violations and not b.violations
        finally:
            await a.close()
            await b.close()

    run(body(), 30)


def test_native_and_compat_clients_at_once(rill_server):
    async def body():
        n, p = NativeClient(rill_server.url), BelaClient(rill_server.url)
        try:
            await n.connect()
            await p.connect()
            await n.watch(["frame"], lengths=[1024])
            await p.start_streaming(["frame"])
            await n.wait_messages("frame", 6, timeout=5)
            await p.wait_buffers("frame", 6, timeout=5)
            check_native_counter(stream_msgs(n, "frame"), "frame (native)", 1024)
            check_dense_counter_buffers(p.buffers["frame"], 1024, "frame (compat)")
            assert not n.violations and not p.violations, (n.violations, p.violations)
        finally:
            await n.close()
            await p.close()

    run(body(), 30)


def test_stalled_client_drops_are_counted_and_announced_and_others_unaffected(rill_serve):
    srv = rill_serve("--queue-bytes", "65536")

    async def body():
        stalled = NativeClient(srv.url, small_rcvbuf=True)
        healthy = NativeClient(srv.url)
        compat = BelaClient(srv.url)
        try:
            await stalled.connect()
            await healthy.connect()
            await compat.connect()
            stalled.pause()
            await stalled.watch(DENSE_NAMES, lengths=[1024] * len(DENSE_NAMES))
            await healthy.watch(["frame"], lengths=[1024])
            await compat.start_streaming(["frame_d"])
            await healthy.wait_messages("frame", 2, timeout=5)
            t0, l0 = time.monotonic(), await healthy.list()
            await asyncio.sleep(3.0)
            t1, l1 = time.monotonic(), await healthy.list()
            # The tick thread keeps real time while a client is stalled.
            ticks, wall = l1["timestamp"] - l0["timestamp"], t1 - t0
            assert abs(ticks - wall * RATE) < 0.1 * wall * RATE, \
                f"{ticks} ticks in {wall:.3f} s while a client is stalled"
            # The healthy clients got everything, continuous, in time (2 s of latency allowed).
            end = l1["timestamp"] - 2048
            await healthy.changed.wait_until(
                lambda: stream_msgs(healthy, "frame")[-1]["first_ts"] + 1024 >= end, 2,
                "the healthy client's buffers of the stall window")
            await compat.changed.wait_until(
                lambda: compat.buffers["frame_d"] and compat.buffers["frame_d"][-1]["ref"] + 512 >= end, 2,
                "the compat client's buffers of the stall window")
            hm = stream_msgs(healthy, "frame")
            check_native_counter(hm, "frame at the healthy native client", 1024)
            in_window = [m for m in hm if l0["timestamp"] <= m["first_ts"]
                         and m["first_ts"] + 1024 <= l1["timestamp"] - 2048]
            expected = (l1["timestamp"] - 2048 - l0["timestamp"]) // 1024
            assert len(in_window) >= expected - 1, \
                f"healthy client has {len(in_window)} buffers of the window, expected ~{expected}"
            arrivals = [m["t"] for m in hm if t0 <= m["t"] <= t1]
            gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
            assert gaps and max(gaps) < 1.0, f"healthy client stalled for {max(gaps):.3f} s"
            check_dense_counter_buffers(compat.buffers["frame_d"], 512, "frame_d at the compat client")
            assert len(compat.buffers["frame_d"]) >= int(3.0 * RATE / 512) - 2
            # Now the stalled client reads again; once it has caught up (messages
            # newer than the stall arrive for every variable) it stops its streams.
            stalled.resume()
            await stalled.changed.wait_until(
                lambda: all(any(m["first_ts"] > l1["timestamp"] for m in stream_msgs(stalled, n))
                            for n in DENSE_NAMES), 5, "the stalled client to catch up")
            await stalled.unwatch(DENSE_NAMES)
            for name in DENSE_NAMES:
                await stalled.wait_end(name, timeout=10)
            sm = {name: stream_msgs(stalled, name) for name in DENSE_NAMES}
            dropped = {name: sum(m["dropped"] for m in ms) for name, ms in sm.items()}
            assert sum(dropped.values()) > 0, "a stalled client had no drops counted"
            # Every gap in the sequence numbers and timestamps is accounted by `dropped`.
            check_native_counter(sm["frame"], "frame at the stalled client", allow_drops=True)
            for name, ms in sm.items():
                for k in range(1, len(ms)):
                    p, m = ms[k - 1], ms[k]
                    assert m["seq"] - p["seq"] == 1 + m["dropped"], \
                        f"{name}: seq {p['seq']}->{m['seq']} with dropped={m['dropped']}"
                    assert m["first_ts"] - p["first_ts"] == p["count"] * (1 + m["dropped"]), \
                        f"{name}: ts gap not explained by dropped={m['dropped']}"
            # Drops are announced: the notices add up to the counted drops.
            def announced():
                return {n: sum(e.get("buffers", 0) for e in stalled.drop_notices(n))
                        for n in DENSE_NAMES}
            try:
                await stalled.changed.wait_until(lambda: announced() == dropped, 3,
                                                 "drop notices matching the dropped counts")
            except AssertionError:
                pass
            notices = stalled.drop_notices()
            assert notices, "no {'event':'dropped'} notice reached the stalled client"
            for e in notices:
                assert notice_var(e) in DENSE_NAMES and isinstance(e.get("buffers"), int) \
                    and e["buffers"] > 0, f"malformed drop notice {e}"
            assert announced() == dropped, \
                f"announced drops {announced()} != dropped fields {dropped}; " \
                f"events {stalled.events[:8]}, other {stalled.other_control[:3]}, " \
                f"violations {stalled.violations}"
            # Nobody else saw drops.
            assert not healthy.drop_notices()
            assert not [e for e in compat.events if e.get("event") == "dropped"]
            assert not stalled.violations and not healthy.violations and not compat.violations, \
                (stalled.violations, healthy.violations, compat.violations)
        finally:
            await stalled.close()
            await healthy.close()
            await compat.close()

    run(body(), 45)


def test_stream_ending_while_client_is_stalled_is_still_ended_and_announced(rill_serve):
    """The end of a stream (and the drops before it) must reach a client that was
    stalled when the stream ended: the last buffers must not vanish unannounced."""
    srv = rill_serve("--queue-bytes", "65536")

    async def body():
        stalled = NativeClient(srv.url, small_rcvbuf=True)
        helper = BelaClient(srv.url)
        try:
            await stalled.connect()
            await helper.connect()
            stalled.pause()
            await stalled.watch(DENSE_NAMES, lengths=[1024] * len(DENSE_NAMES))
            await asyncio.sleep(2.0)
            t_unwatch = (await helper.list())["timestamp"]
            await stalled.unwatch(DENSE_NAMES)    # ends while the client is still stalled
            await asyncio.sleep(0.5)
            stalled.resume()
            for name in DENSE_NAMES:
                await stalled.wait_end(name, timeout=5)
            total_dropped = 0
            for name in DENSE_NAMES:
                ms = stream_msgs(stalled, name)
                for k in range(1, len(ms)):
                    assert ms[k]["seq"] - ms[k - 1]["seq"] == 1 + ms[k]["dropped"], name
                    assert ms[k]["first_ts"] - ms[k - 1]["first_ts"] == \
                        ms[k - 1]["count"] * (1 + ms[k]["dropped"]), name
                last = ms[-1]
                assert last["first_ts"] + last["count"] >= t_unwatch, \
                    f"{name}: the stream seen by the client ends at {last['first_ts'] + last['count']}, " \
                    f"before the unwatch at {t_unwatch}: its last buffers vanished unannounced"
                dropped = sum(m["dropped"] for m in ms)
                total_dropped += dropped
                announced = sum(e["buffers"] for e in stalled.drop_notices(name))
                assert announced == dropped, f"{name}: announced {announced} != dropped {dropped}"
            assert total_dropped > 0, "no drops while stalled"
        finally:
            await stalled.close()
            await helper.close()

    run(body(), 30)


def test_streams_per_variable_are_bounded_with_a_clear_error(rill_server):
    """The tick thread's table of streams per variable is fixed (64, two of them
    the permanent compatibility streams): the client that would exceed it gets an
    error naming the limit, and the clients already watching are unaffected."""
    async def body():
        # Long buffers: 62 streams of 256 values made ~10k messages a second
        # for this one Python process, which a loaded machine could not read.
        clients = [NativeClient(rill_server.url) for _ in range(63)]
        try:
            for c in clients:
                await c.connect()
            for c in clients[:62]:
                await c.watch(["frame"], lengths=[4096])
            await clients[62].watch(["frame"], lengths=[4096])
            err = await clients[62].wait_error(timeout=5)
            assert "already has 64 streams" in err["message"], err
            assert err.get("variable") == "frame"
            for c in (clients[0], clients[61]):
                await c.wait_messages("frame", 2, timeout=5)
            assert not clients[62].stream("frame")
        finally:
            for c in clients:
                await c.close()
    run(body(), 60)
