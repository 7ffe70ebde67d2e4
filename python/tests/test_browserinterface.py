"""EasyDSP's browserinterface on rill's dashboard: the seed's minimal program
(seeds/000) receives buffers of the announced shape from a real `rill serve`,
its handlers appear in a dashboard page (a WebSocket client speaking the
page's protocol, docs/HANDLERS.md), loop_callbacks() runs the callbacks on
the calling thread, and valid_rates / valid_num_channels are what the
device offers. EasyDSP's documented examples: test_easydsp_examples.py."""

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import wave

import numpy as np
import pytest
import websockets

import rill.browserinterface as browserinterface
from dashpage import Page

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
    browserinterface.url = None


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
    errors0 = bi.callback_errors
    with caplog.at_level(logging.ERROR, logger="rill"):
        bi.start()
        assert wait_for(lambda: len(n) >= 3)
        time.sleep(1.2)
        bi.stop()
    assert "bad handle" in caplog.text and bi.callback_errors - errors0 == len(n) >= 3
    # Said in full once; the repeats counted in a line, at most one a second
    # and one at the stop: every exception accounted for.
    text = caplog.text
    more = sum(int(k) for k in re.findall(
        r"the same exception in a browserinterface callback (\d+) more times?", text))
    assert text.count("Traceback") == 1 and 1 + more == len(n), (len(n), text[-1500:])


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


def test_nan_and_infinities_reach_the_page_as_null(bi, rill_server):
    """A dB spectrum of silence is -inf: it goes as null (a gap), not as a
    refusal on every buffer."""
    bi.start()
    h = bi.add_handler("Spectrum", "line", {})
    sent = [np.array([1.0, np.nan, np.inf, -np.inf], dtype=np.float32),
            {"add": [{"x": [1, 2, 3], "y": np.array([0.0, -np.inf, 20.0])}]},  # 20 log10
            [float("nan"), 2.5, np.float64("-inf")]]
    expect = [[1.0, None, None, None],
              {"add": [{"x": [1, 2, 3], "y": [0.0, None, 20.0]}]},
              [None, 2.5, None]]

    async def page():
        task = asyncio.create_task(page_handlers(
            rill_server.url, lambda s: sum(m["event"] == "handler-data" and m["id"] == h.id
                                           for m in s) >= 3 * 5))
        await asyncio.sleep(0.5)
        for _ in range(5):
            for d in sent:
                h.send_data(d)
            await asyncio.sleep(0.05)
        return await task

    seen = asyncio.run(page())
    data = [m["data"] for m in seen if m["event"] == "handler-data" and m["id"] == h.id]
    assert data[-3:] == expect, data[-3:]


def test_a_handler_the_server_would_refuse_raises_at_once_and_is_not_kept(bi):
    with pytest.raises(ValueError, match=r"name is at most 256 bytes of UTF-8, not 300"):
        bi.add_handler("n" * 300, "line")  # before start(): checked all the same
    bi.start()
    with pytest.raises(ValueError, match=r"type is 1 to 64 bytes of UTF-8, not 0"):
        bi.add_handler("x", "")
    with pytest.raises(ValueError, match=r"name must be text that UTF-8 can hold"):
        bi.add_handler("\ud800", "line")
    # Refused by librill (NaN is not JSON): raised, and not kept.
    with pytest.raises(ValueError, match=r"refused: .*parameters must be a JSON object"):
        bi.add_handler("x", "line", {"min": float("nan")})
    ok = bi.add_handler("é" * 128, "line")  # 256 bytes: the longest name
    assert ok.id is not None
    assert [h.name for h in bi._handlers] == ["é" * 128]


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


# ---- loop_callbacks: EasyDSP's callbacks on the main thread ------------------------


def test_loop_callbacks_runs_every_callback_on_the_calling_thread_and_loses_none(bi):
    main = threading.current_thread()
    seen, configs, recorded = [], [], []

    def handle(buffer):
        me = threading.current_thread()
        seen.append((me, bi.tick, buffer.shape))
        if me is main:
            n = sum(1 for s in seen if s[0] is main)
            if n == 3:
                # From a callback on the looping thread: applied when it returns.
                bi.change_config(buffer_frames=512)
            elif n == 20:
                bi.stop()  # loop_callbacks returns

    bi.handle_data = handle  # EasyDSP's public names work as well as register_*
    bi.when_new_config = lambda *a: configs.append((threading.current_thread(), a))
    bi.start()
    # Until loop_callbacks, the module's thread delivers (EasyDSP's first
    # version, the seed's minimal program).
    assert wait_for(lambda: len(seen) >= 3)
    bi.record_audio(10, lambda r: recorded.append((threading.current_thread(), r.shape)))
    bi.loop_callbacks()
    first = next(i for i, s in enumerate(seen) if s[0] is main)
    assert first >= 3 and all(s[0].name == "rill-browserinterface" for s in seen[:first])
    assert all(s[0] is main for s in seen[first:]), "handed over once, for good"
    assert sum(1 for s in seen if s[0] is main) == 20
    # No buffer lost or delivered twice across the hand-over: the 1024-frame
    # buffers (before the change) follow each other tick by tick.
    ticks = [t for _, t, shape in seen if shape == (1024, 2)]
    assert len(ticks) >= 5 and np.all(np.diff(ticks) == 1024), ticks
    assert seen[-1][2] == (512, 2)
    # The first configuration came on the module's thread, the change on
    # this one; the recording (made before the loop) ended on either.
    assert configs[0][0].name == "rill-browserinterface"
    assert configs[-1] == (main, (512, 44100, 2, 100))
    assert recorded and recorded[0][1] == (1024, 2)
    assert bi._dash is None, "stop() from a callback closed the connection"


def test_loop_callbacks_refuses_what_cannot_work(bi):
    browserinterface.stop()
    with pytest.raises(browserinterface.RillConnectionError, match="before start"):
        browserinterface.loop_callbacks()
    errors = []

    def handle(buffer):
        try:
            bi.loop_callbacks()
        except RuntimeError as e:
            errors.append(str(e))

    bi.register_handle_data(handle)
    bi.start()
    assert wait_for(lambda: errors)
    assert "from a callback" in errors[0]


def test_handlers_made_before_start_and_their_data_reach_the_page_in_order(bi, rill_server):
    page = Page(rill_server.url)
    try:
        h = bi.add_handler("Before", "meter", {"channels": 2})
        h.send_data([-1, -2])
        h.send_data([-3, -4])
        bi.start()
        assert page.wait(lambda p: len(p.data(h.id)) == 2)
        assert page.data(h.id) == [[-1, -2], [-3, -4]]
    finally:
        page.close()


# ---- The device's configuration ---------------------------------------------------


def test_valid_rates_and_channels_are_what_the_device_offers(bi):
    bi.start()
    # The demo (rill serve --source demo): its rates, a fixed channel count.
    assert bi.valid_rates == [8000, 16000, 22050, 32000, 44100, 48000, 96000]
    assert bi.valid_num_channels == [2]
    assert (bi.rate, bi.channels, bi.buffer_frames, bi.volume) == (44100, 2, 1024, 100)
    bi.change_config(rate=22050)
    assert bi.rate == 22050 and bi.valid_rates[2] == 22050 and bi.valid_num_channels == [2]


@pytest.mark.parametrize("source,rates,chans", [
    # A sine: the rate reopens (EasyDSP's list of rates), one channel.
    ("sine:440", [8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000], [1]),
    # ALSA reopens rate and channel count: 1 to 16 channels.
    ("alsa:null", [8000, 11025, 16000, 22050, 32000, 44100, 48000, 88200, 96000],
     list(range(1, 17))),
    # A file: its own rate and channels only.
    ("file", [8000], [2]),
], ids=["sine", "alsa-null", "file"])
def test_valid_rates_and_channels_follow_each_kind_of_source(rill_serve, tmp_path, source,
                                                             rates, chans):
    if source == "file":
        path = tmp_path / "two.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(2), w.setsampwidth(2), w.setframerate(8000)
            w.writeframes(b"\x00\x01" * 2 * 8000)
        source = f"file:{path}"
    srv = rill_serve("--source", source, "--rate", "48000")
    browserinterface.url = srv.url
    try:
        browserinterface.start()
        assert browserinterface.valid_rates == rates
        assert browserinterface.valid_num_channels == chans
        if len(rates) == 1:
            assert browserinterface.rate == rates[0]
    finally:
        browserinterface.stop()
        browserinterface.url = None


# ---- EasyDSP's heat map and spectrogram defaults ---------------------------------


def test_heatmap_and_spectrogram_get_easydsps_defaults_unless_given(bi, rill_server):
    page = Page(rill_server.url)
    try:
        bi.start()
        hs = [bi.add_handler("h1", "base:heatmap", {}),
              bi.add_handler("h2", "base:heatmap", {"min": -1, "max": 1}),
              bi.add_handler("h3", "base:heatmap", {"min": None}),
              bi.add_handler("s1", "base:spectrogram", {"height": 257, "min": -100}),
              bi.add_handler("s2", "base:spectrogram", {"update_rate": None, "width": None}),
              bi.add_handler("r1", "heatmap", {}),
              bi.add_handler("r2", "spectrogram", {"height": 8})]
        assert page.wait(lambda p: len(p.created()) == len(hs))
        got = {e["name"]: e["parameters"] for e in page.created()}
        assert got == {
            "h1": {"max": 1, "min": 0.05},    # simpleheat's max, its min opacity
            "h2": {"max": 1, "min": -1},
            "h3": {"max": 1},                  # None: the page's own default
            "s1": {"width": 800, "height": 257, "delta_freq": 1, "update_rate": 20,
                   "min": -100},              # no max: the data's range, as Plotly's
            "s2": {"height": 600, "delta_freq": 1},
            "r1": {},                          # rill's own types are left alone
            "r2": {"height": 8},
        }
    finally:
        page.close()
    with pytest.raises(TypeError, match="parameters must be a dict"):
        bi.add_handler("bad", "line", [1, 2])


def test_a_server_with_a_token_takes_rill_token_from_the_environment(rill_serve, monkeypatch):
    srv = rill_serve("--token", "s3cret")
    browserinterface.url = srv.url
    try:
        with pytest.raises(browserinterface.RillConnectionError):
            browserinterface.start()
        monkeypatch.setenv("RILL_TOKEN", "s3cret")  # as the dashboard's editor runs it
        browserinterface.start()
        assert browserinterface.valid_num_channels == [2]
    finally:
        browserinterface.stop()
        browserinterface.url = None


def test_board_ip_is_easydsps_way_to_name_the_device(monkeypatch):
    monkeypatch.setattr(browserinterface, "url", None)
    monkeypatch.setattr(browserinterface, "board_ip", "192.168.7.2")
    assert browserinterface._url() == "ws://192.168.7.2:5555"
    monkeypatch.setattr(browserinterface, "board_ip", None)
    monkeypatch.setattr(browserinterface, "bi_board_ip", "10.1.2.3")
    assert browserinterface._url() == "ws://10.1.2.3:5555"
