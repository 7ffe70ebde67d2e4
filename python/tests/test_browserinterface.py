"""EasyDSP's browserinterface on rill's dashboard: the seed's minimal program
(seeds/000) receives buffers of the announced shape from a real `rill serve`,
and its handlers appear in a dashboard page (a WebSocket client speaking the
page's protocol, docs/HANDLERS.md)."""

import asyncio
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import websockets

import rill.browserinterface as browserinterface

MINIMAL = '''
# First you import the module
import rill.browserinterface as browserinterface

# Then you define the function that will perform some algorithm on the audio streams
def handle(buffer):
    print("Buffer received", len(buffer))

# If you run a python script directly from your terminal, you need to set `standalone` to True
# If you write this code directly in the webapp, you must remove this line (or set `standalone` to False)
browserinterface.standalone = True

# Finally you register your function, so browserinterface will call it every time a new audio buffer is received,
browserinterface.register_handle_data(handle)
# And you start
browserinterface.start()
'''


def test_minimal_program_receives_buffers(rill_server, tmp_path):
    script = tmp_path / "minimal.py"
    script.write_text(MINIMAL)
    env = dict(os.environ, RILL_URL=rill_server.url, PYTHONUNBUFFERED="1",
               PYTHONPATH=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 15
        while len(lines) < 5 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
    finally:
        proc.kill()
        rest = proc.communicate(timeout=10)[0]
    assert lines[:5] == ["Buffer received 1024"] * 5, (lines, rest)


@pytest.fixture
def bi(rill_server):
    browserinterface.url = rill_server.url
    yield browserinterface
    browserinterface.stop()
    browserinterface.register_handle_data(None)
    browserinterface.register_when_new_config(None)


def wait_for(cond, timeout=10):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    return cond()


def test_buffers_have_the_announced_shape_and_are_continuous(bi):
    got, ticks, cfgs = [], [], []

    def handle(buffer):
        got.append(buffer)
        ticks.append(bi.tick)

    bi.register_handle_data(handle)
    bi.register_when_new_config(lambda *a: cfgs.append(a))
    recs = []
    bi.start()
    bi.record_audio(100, recs.append)
    assert wait_for(lambda: len(got) >= 6 and recs)
    assert cfgs[0] == (1024, 44100, 2, 100.0)  # buffer_frames, rate, channels, volume
    assert (bi.buffer_frames, bi.rate, bi.channels) == (1024, 44100, 2)
    for b in got:
        assert b.shape == (1024, 2) and b.dtype == np.int16
    assert np.all(np.diff(ticks[:6]) == 1024), ticks
    assert any(np.abs(b).max() > 0 for b in got), "the demo's microphones are not silent"
    # 100 ms at 44.1 kHz: 4410 frames, rounded up to whole buffers.
    assert recs[0].shape == (5 * 1024, 2)


def test_a_raising_handle_is_reported_and_buffers_keep_coming(bi, caplog):
    n = []

    def handle(buffer):
        n.append(1)
        raise RuntimeError("bad handle")

    bi.register_handle_data(handle)
    bi.start()
    assert wait_for(lambda: len(n) >= 3)
    assert "bad handle" in caplog.text and bi.callback_errors >= 3


async def page_handlers(url, want, timeout=10):
    """Subscribe as a dashboard page; collect handler events until `want`."""
    seen = []
    async with websockets.connect(url + "/gui_control", max_size=None) as ws:
        await ws.recv()  # the connection event
        await ws.send(json.dumps({"rill": "hello", "version": 1}))
        await ws.send(json.dumps({"rill": "dash", "version": 1, "id": "dash"}))
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end and not want(seen):
            try:
                msg = await asyncio.wait_for(ws.recv(), end - loop.time())
            except asyncio.TimeoutError:
                break
            if isinstance(msg, str):
                m = json.loads(msg)
                if m.get("event") in ("handler", "handler-data", "handler-remove"):
                    seen.append(m)
    return seen


def test_handlers_appear_in_the_dashboard(bi, rill_server):
    h = bi.add_handler("Spectrum", "base:graph:line", {"min": -1, "max": 1})
    bi.start()
    h.send_data({"add": [{"x": [1, 2], "y": np.array([0.5, 0.25])}]})
    seen = asyncio.run(page_handlers(
        rill_server.url, lambda s: any(m["event"] == "handler" and m["name"] == "Spectrum"
                                       for m in s)))
    created = [m for m in seen if m["event"] == "handler"]
    assert created and created[0]["name"] == "Spectrum" and created[0]["id"] == h.id, seen
    assert created[0]["parameters"] == {"min": -1, "max": 1}
    # Data sent while the page is open reaches it too.
    h2 = bi.add_handler("Meter", "meter", {})

    async def both():
        task = asyncio.create_task(page_handlers(
            rill_server.url, lambda s: any(m["event"] == "handler-data" and m["id"] == h2.id
                                           for m in s)))
        await asyncio.sleep(0.5)
        for _ in range(20):
            h2.send_data([-12.5, -18.0])
            await asyncio.sleep(0.05)
        return await task

    seen = asyncio.run(both())
    data = [m for m in seen if m["event"] == "handler-data" and m["id"] == h2.id]
    assert data and data[0]["data"] == [-12.5, -18.0], seen


def test_change_config_applies_and_updates_the_module_and_callback(bi):
    cfgs, got = [], []
    bi.register_when_new_config(lambda *a: cfgs.append(a))
    bi.register_handle_data(got.append)
    bi.start()
    assert wait_for(lambda: cfgs and got)
    assert cfgs[0] == (1024, 44100, 2, 100.0)
    # EasyDSP's call: the arguments left out stay as they are.
    bi.change_config(rate=48000, buffer_frames=512, volume=25)
    assert (bi.rate, bi.buffer_frames, bi.channels, bi.volume) == (48000, 512, 2, 25.0)
    assert cfgs[-1] == (512, 48000, 2, 25.0)
    # The buffers come in the new shape.
    n = len(got)
    assert wait_for(lambda: len(got) >= n + 4 and got[-1].shape == (512, 2))
    assert got[-1].dtype == np.int16
    # A refusal names the reason and changes nothing.
    with pytest.raises(ValueError, match="channel count is fixed at 2"):
        bi.change_config(channels=4)
    with pytest.raises(ValueError, match="rate 12345 is not offered"):
        bi.change_config(rate=12345)
    with pytest.raises(ValueError, match="volume=101 is out of range"):
        bi.change_config(volume=101)
    assert (bi.rate, bi.buffer_frames, bi.channels, bi.volume) == (48000, 512, 2, 25.0)


def test_change_config_before_start_is_a_clear_error():
    browserinterface.stop()
    with pytest.raises(browserinterface.RillConnectionError, match="before start"):
        browserinterface.change_config(volume=50)
