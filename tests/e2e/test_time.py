"""The clock exchange (docs/PROTOCOL.md §10): {"rill":"time"} on a native
control socket answers at once with the device's receive and send times and
the latest (tick, device clock) pair taken on the tick thread."""

import asyncio
import time

from belaclient import run
from nativeclient import NativeClient


async def _exchange(c, rid):
    t0 = time.monotonic_ns()
    await c.send_control({"rill": "time", "id": rid, "t0": t0})
    await c.changed.wait_until(
        lambda: any(m.get("rill") == "time" and m.get("id") == rid for m in c.other_control),
        5, "a time reply")
    t3 = time.monotonic_ns()
    reply = [m for m in c.other_control if m.get("rill") == "time" and m.get("id") == rid][0]
    return t0, reply, t3


def test_time_reply_brackets_the_device_clock_and_carries_a_tick_stamp(rill_server):
    async def body():
        c = NativeClient(rill_server.url)
        try:
            await c.connect()
            t0, first, t3 = await _exchange(c, 1)
            # rill serve and this test read the same CLOCK_MONOTONIC.
            assert first["t0"] == t0
            assert t0 <= first["t1"] <= first["t2"] <= t3, (t0, first, t3)
            await asyncio.sleep(0.05)  # a few demo blocks: the stamp is taken
            t0, second, t3 = await _exchange(c, 2)
            assert "tick" in second and "tickNs" in second, second
            # Taken at a tick after the first request and before this reply.
            assert first["t1"] <= second["tickNs"] <= second["t2"], (first, second)
            # rill serve's demo at 44100 Hz: the tick matches the clock
            # within a few blocks of 64 frames.
            await _exchange(c, 3)  # asks for a stamp
            await asyncio.sleep(0.2)
            _, fourth, _ = await _exchange(c, 4)
            rate = (fourth["tick"] - second["tick"]) / ((fourth["tickNs"] - second["tickNs"]) / 1e9)
            assert abs(rate - 44100) < 44100 * 0.05, rate
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body())


def test_time_request_without_t0_is_refused_with_a_sentence(rill_server):
    async def body():
        c = NativeClient(rill_server.url)
        try:
            await c.connect()
            await c.send_control({"rill": "time", "id": 9})
            await c.changed.wait_until(lambda: c.errors, 5, "an error reply")
            e = c.errors[0]
            assert e["cmd"] == "time" and e["id"] == 9, e
            assert "t0" in e["message"], e
        finally:
            await c.close()

    run(body())
