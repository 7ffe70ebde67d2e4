"""The dashboard examples (examples/dash_*.c) against a real `rill serve`
with its demo source: each runs and exits 0, the direction estimate follows
the demo's circling source, and a page subscribed to the relay sees their
handlers, their data and, when they exit, the handlers' removal."""

import asyncio
import json
import math
import re
import subprocess

import websockets

from helpers import RATE
from conftest import example_path
from test_examples import run


def test_meter_histogram_and_spectrum_run_and_exit_0(rill_server):
    out = run("dash_meter", rill_server.url, "2")
    m = re.search(r"dash_meter: (\d+) buffers; last levels mic0 (\S+) dBFS mic1 (\S+) dBFS", out)
    assert m, out
    assert int(m.group(1)) >= 20  # 1024-frame buffers at 44.1 kHz
    assert -30 < float(m.group(2)) < 0 and -30 < float(m.group(3)) < 0
    out = run("dash_histogram", rill_server.url, "2")
    assert int(re.search(r"dash_histogram: (\d+) updates", out).group(1)) >= 4, out
    out = run("dash_spectrum", rill_server.url, "2")
    m = re.search(r"dash_spectrum: (\d+) columns of 513 bins", out)
    assert m and int(m.group(1)) >= 20, out


def test_doa_estimates_the_demo_sources_angle(rill_server):
    out = run("dash_doa", rill_server.url, "2")
    m = re.search(r"dash_doa: (\d+) estimates; last (\S+) degrees at tick (\d+)", out)
    assert m and int(m.group(1)) >= 20, out
    # The demo's source circles the pair once every 20 s; a pair measures
    # the angle to its axis, 0 .. 180 degrees.
    tick = int(m.group(3))
    true = math.degrees(math.acos(math.cos(2 * math.pi * ((tick / RATE) % 20) / 20)))
    assert abs(float(m.group(2)) - true) < 10, (out, true)


async def _page(url):
    ws = await websockets.connect(url + "/gui_control", max_size=None)
    await ws.recv()  # connection event
    await ws.send('{"rill":"hello","version":1}')
    await ws.recv()
    await ws.send('{"rill":"dash","version":1,"id":"dash"}')
    assert json.loads(await ws.recv()) == {"rill": "dash", "version": 1}
    return ws


async def _collect(ws, until, timeout=15):
    """Messages until until(text_messages, binary_messages) holds."""
    texts, bins = [], []
    async def loop():
        while not until(texts, bins):
            m = await ws.recv()
            (bins if isinstance(m, bytes) else texts).append(m)
    await asyncio.wait_for(loop(), timeout)
    return texts, bins


def test_a_page_sees_an_examples_handlers_data_and_removal(rill_server):
    async def main():
        page = await _page(rill_server.url)
        proc = subprocess.Popen([example_path("dash_meter"), rill_server.url, "2"],
                                stdout=subprocess.PIPE, text=True)
        try:
            texts, bins = await _collect(page, lambda t, b: len(b) >= 5)
            created = [json.loads(t) for t in texts if '"event":"handler"' in t]
            assert created == [{"event": "handler", "id": created[0]["id"], "name": "Input levels",
                                "type": "meter", "parameters": {"channels": ["mic0", "mic1"],
                                                                "min": -60, "max": 0, "unit": "dBFS"}}]
            hid = created[0]["id"]
            for b in bins:  # one float level per channel, with the server's id
                assert b[:4] == bytes([1, 16, ord("f"), 0]) and len(b) == 32 + 8
                assert int.from_bytes(b[4:8], "little") == hid
            # A page opened now gets the handler that exists.
            late = await _page(rill_server.url)
            t2, _ = await _collect(late, lambda t, b: any('"event":"handler"' in x for x in t))
            assert json.loads([x for x in t2 if '"event":"handler"' in x][0]) == created[0]
            # The program exits: both pages are told.
            for ws in (page, late):
                t3, _ = await _collect(ws, lambda t, b: any("handler-remove" in x for x in t))
                assert json.loads([x for x in t3 if "handler-remove" in x][0]) == \
                    {"event": "handler-remove", "id": hid}
            assert proc.wait(timeout=20) == 0
            await late.close()
        finally:
            if proc.poll() is None:
                proc.kill()
            await page.close()
    asyncio.run(main())
