"""Monitor periods (§5.4) and control/set/setMask round trips (§2.2)."""

import asyncio

from belaclient import BelaClient, run
from helpers import BLOCK, check_dense_counter_buffers, data_fence, expected_sine, f32, var_entry


def test_monitor_periods_are_exact(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            periods = {"frame": 1000, "frame_d": 2205, "flags": 441}
            await c.start_monitoring(list(periods), list(periods.values()))
            st = await c.list()
            for name, p in periods.items():
                assert var_entry(st, name)["monitor"] == p
            for name, p in periods.items():
                frames = await c.wait_monitor(name, 8, timeout=5)
                ts = [t for t, _ in frames]
                diffs = {b - a for a, b in zip(ts, ts[1:])}
                assert diffs == {p}, f"{name}: monitor timestamps differ by {sorted(diffs)}, expected {p}"
                if name != "flags":
                    assert all(v == t for t, v in frames), f"{name}: monitor value != its tick"
                else:
                    assert all(v == 0 for _, v in frames)
            await c.stop_monitoring(list(periods))
            st = await c.list()
            for name in periods:
                assert var_entry(st, name)["monitor"] == 0
            # Period 0 was applied by the list's tick: no frame comes after
            # it (every frame produced before the fence has arrived).
            await data_fence(c, "sine")
            stopped_by = st["timestamp"]
            late = {n: [t for t, _ in c.monitor[n] if t > stopped_by] for n in periods}
            assert not any(late.values()), f"monitor frames after period 0: {late}"
            assert all(not c.buffers[n] for n in c.buffers if n != "sine"), \
                "monitoring produced stream buffers"   # sine: the fence's
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_monitor_period_one_is_a_one_shot_and_resets_to_zero(rill_server):
    """pybela's peek(): period 1 for every variable, one frame each, then period 0."""
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            names = ["frame", "frame_d", "gain", "events", "level", "flags"]
            await c.start_monitoring(names, [1] * len(names))
            for n in names:
                await c.wait_monitor(n, 1, timeout=3)
            await data_fence(c, "sine")   # a second frame would have come by now
            for n in names:
                assert len(c.monitor[n]) == 1, f"{n}: {len(c.monitor[n])} frames for a one-shot"
            st = await c.list()
            for n in names:
                assert var_entry(st, n)["monitor"] == 0, f"{n}: monitor field not back to 0"
            (t, v), = c.monitor["frame"]
            assert v == t
            (t, v), = c.monitor["frame_d"]
            assert v == float(t)
            (t, v), = c.monitor["events"]
            assert v == t and (t % 64 == 0 or t % 100 == 7)
            (t, v), = c.monitor["level"]
            assert t % BLOCK == 0, "level is assigned at the first frame of a block"
            assert c.monitor["gain"][0][1] == 1.0
            await c.stop_monitoring(names)   # peek's second message, harmless
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_control_and_set_round_trip_and_reach_the_program(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            st = await c.start_controlling(["gain"])
            g = var_entry(st, "gain")
            assert g["controlled"] is True, "control not applied before the next list reply"
            assert g["value"] == 1.0, "control must start from the local value"
            await c.send_value(["gain"], [0.25])
            st = await c.list()
            g = var_entry(st, "gain")
            assert g["value"] == 0.25 and g["valueInput"] == 1.0
            after = st["timestamp"]
            # The demo multiplies the sine by rill_var_get(gain): the program reads 0.25.
            await c.start_streaming(["sine"])
            await c.changed.wait_until(
                lambda: any(b["ref"] > after + BLOCK for b in c.buffers["sine"]), 5,
                "a sine buffer after the set")
            b = next(b for b in c.buffers["sine"] if b["ref"] > after + BLOCK)
            for i, v in enumerate(b["data"]):
                assert abs(v - f32(expected_sine(b["ref"] + i, 0.25))) < 2e-3, \
                    f"sine at tick {b['ref'] + i} = {v}: the set gain did not reach the program"
            # Streamed values are the local ones: gain itself still streams 1.0.
            await c.start_streaming(["sine", "gain"])
            gb = await c.wait_buffers("gain", 1, timeout=5)
            assert set(gb[0]["data"]) == {1.0}
            st = await c.stop_controlling(["gain"])
            g = var_entry(st, "gain")
            assert g["controlled"] is False and g["value"] == 1.0
            after = st["timestamp"]
            await c.changed.wait_until(
                lambda: any(b["ref"] > after + BLOCK for b in c.buffers["sine"]), 5,
                "a sine buffer after uncontrol")
            b = next(b for b in c.buffers["sine"] if b["ref"] > after + BLOCK)
            assert max(abs(v) for v in b["data"]) > 0.4, "uncontrol did not restore the local gain"
            await c.stop_streaming()
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


def test_set_without_control_does_not_change_the_value_read(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            await c.send_value(["gain"], [0.5])
            g = var_entry(await c.list(), "gain")
            assert g["controlled"] is False and g["value"] == 1.0
            # control overwrites the remote value with the local one (§2.2).
            g = var_entry(await c.start_controlling(["gain"]), "gain")
            assert g["controlled"] is True and g["value"] == 1.0
            await c.stop_controlling(["gain"])
        finally:
            await c.close()

    run(body(), 30)


def test_set_truncates_integers_and_set_mask_replaces_masked_bits(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            st = await c.start_controlling(["flags", "frame"])
            assert var_entry(st, "flags")["controlled"] and var_entry(st, "frame")["controlled"]
            assert var_entry(st, "flags")["value"] == 0
            await c.send_mask(["flags"], [0x00FF00FF], [0x0000FFFF])
            assert var_entry(await c.list(), "flags")["value"] == 0x00FF
            await c.send_mask(["flags"], [0xABCD1234], [0xFFFF0000])
            assert var_entry(await c.list(), "flags")["value"] == 0xABCD00FF
            await c.send_mask(["flags"], [0], [0x000000F0])
            assert var_entry(await c.list(), "flags")["value"] == 0xABCD000F
            await c.send_value(["flags"], [4294967295])
            assert var_entry(await c.list(), "flags")["value"] == 4294967295
            await c.send_value(["frame"], [-3.7])
            f = var_entry(await c.list(), "frame")
            assert f["value"] == -3, f"int32 set -3.7 read back as {f['value']} (truncate toward zero)"
            await asyncio.sleep(0.1)
            await c.send_value(["frame"], [7.9])
            st = await c.list()
            f = var_entry(st, "frame")
            assert f["value"] == 7
            assert abs(f["valueInput"] - st["timestamp"]) <= BLOCK, \
                "valueInput must stay the local (frame) value"
            # Several variables in one set, matched by position.
            await c.send_value(["flags", "frame"], [5, 6])
            st = await c.list()
            assert var_entry(st, "flags")["value"] == 5 and var_entry(st, "frame")["value"] == 6
            st = await c.stop_controlling(["flags", "frame"])
            assert var_entry(st, "flags")["value"] == 0 and not var_entry(st, "flags")["controlled"]
            f = var_entry(st, "frame")
            assert not f["controlled"] and abs(f["value"] - st["timestamp"]) <= BLOCK
            assert not c.errors, c.errors
        finally:
            await c.close()

    run(body(), 30)


def test_control_is_visible_to_another_client(rill_server):
    async def body():
        a, b = BelaClient(rill_server.url), BelaClient(rill_server.url)
        try:
            await a.connect()
            await b.connect()
            await a.start_controlling(["gain"])
            await a.send_value(["gain"], [0.75])
            g = var_entry(await b.list(), "gain")
            assert g["controlled"] is True and g["value"] == 0.75
            await a.stop_controlling(["gain"])
        finally:
            await a.close()
            await b.close()

    run(body(), 30)


def test_monitor_and_stream_of_one_variable_interleave_cleanly(rill_server):
    """§3.5: monitor frames and stream buffers share the header; told apart by length."""
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            await c.start_streaming(["frame", "frame_d"])
            await c.start_monitoring(["frame", "frame_d"], [1000, 777])
            await c.wait_buffers("frame", 4, timeout=5)
            await c.wait_buffers("frame_d", 8, timeout=5)
            for name, p in (("frame", 1000), ("frame_d", 777)):
                frames = await c.wait_monitor(name, 8, timeout=5)
                ts = [t for t, _ in frames]
                assert {b - a for a, b in zip(ts, ts[1:])} == {p}
                assert all(v == t for t, v in frames)
            check_dense_counter_buffers(c.buffers["frame"], 1024, "frame")
            check_dense_counter_buffers(c.buffers["frame_d"], 512, "frame_d")
            await c.stop_monitoring(["frame", "frame_d"])
            await c.stop_streaming()
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)
