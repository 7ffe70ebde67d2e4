"""Buffers a client sends to the device (spec §4) reach the device program.

The demo's on_buffer callback puts the sum of each received buffer into the
variable `inbox`, which the list reply then shows: the whole path, from the
client's bytes to the program's callback, with the values converted from the
wire exactly."""

import asyncio

from belaclient import BelaClient, make_client_buffer, run
from helpers import var_entry
from nativeclient import NativeClient


async def wait_inbox(c, want, timeout=3.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        got = var_entry(await c.list(), "inbox")["value"]
        if got == want:
            return
        if loop.time() > end:
            raise AssertionError(f"inbox is {got}, expected {want} after sending a buffer")
        await asyncio.sleep(0.05)


def test_pybela_send_buffer_reaches_the_device_with_exact_values(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            assert var_entry(await c.list(), "inbox")["value"] == 0
            await c.send_buffer(0, "f", [1.5, 2.25, -0.75, 4.0])
            await wait_inbox(c, 7.0)
            await c.send_buffer(1, "i", [100, -20, 3])
            await wait_inbox(c, 83)
            # 'd' is sized by its real 8 bytes (Bela's handler sized it as 4).
            await c.send_buffer(2, "d", [0.1, 0.2, 1e10])
            await wait_inbox(c, 0.1 + 0.2 + 1e10)
            assert not c.violations, c.violations
        finally:
            await c.close()
    run(body())


def test_native_client_sends_buffers_on_its_control_socket(rill_server):
    async def body():
        c = NativeClient(rill_server.url)
        try:
            await c.connect()
            await c.control.send(make_client_buffer(5, "i", [7, 8, 9]))
            await wait_inbox(c, 24)
        finally:
            await c.close()
    run(body())
