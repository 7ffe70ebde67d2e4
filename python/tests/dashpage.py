"""A dashboard page, as far as the handler relay goes (docs/HANDLERS.md): a
WebSocket client of `rill serve` that says hello, subscribes to the relay
and records every handler event and binary handler frame, on a thread of
its own, so a test can watch while its main thread is busy (in
loop_callbacks, or waiting for a program)."""

import asyncio
import json
import struct
import threading
import time

import numpy as np
import websockets


class Frame:
    """A binary handler frame (32-byte header, kind 16)."""

    LETTERS = {ord("f"): "<f4", ord("d"): "<f8", ord("h"): "<i2", ord("i"): "<i4"}

    def __init__(self, raw):
        version, kind, letter, self.flags = raw[0], raw[1], raw[2], raw[3]
        assert (version, kind) == (1, 16), raw[:4]
        self.id, self.seq, self.tick, count, self.arg = struct.unpack_from("<IQQII", raw, 4)
        self.values = np.frombuffer(raw, self.LETTERS[letter], count, 32)
        assert len(raw) == 32 + self.values.nbytes


class Page:
    def __init__(self, url):
        self.url = url
        self.events = []   # handler, handler-data, handler-remove (dicts)
        self.frames = []   # Frame
        self._cond = threading.Condition()
        self._ready = threading.Event()
        self._stop = None
        self._loop = None
        self._error = None
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError(f"the page did not subscribe to {url}: {self._error}")

    def _main(self):
        try:
            asyncio.run(self._run())
        except Exception as e:  # reported by wait()
            self._error = e
            self._ready.set()

    async def _run(self):
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with websockets.connect(self.url + "/gui_control", max_size=None) as ws:
            await ws.recv()  # the connection event
            await ws.send(json.dumps({"rill": "hello", "version": 1}))
            await ws.send(json.dumps({"rill": "dash", "version": 1, "id": "dash"}))
            while True:
                m = json.loads(await ws.recv())
                if m.get("rill") == "dash":
                    break
            self._ready.set()
            reader = asyncio.ensure_future(self._read(ws))
            await self._stop.wait()
            reader.cancel()

    async def _read(self, ws):
        async for m in ws:
            with self._cond:
                if isinstance(m, bytes):
                    self.frames.append(Frame(m))
                else:
                    e = json.loads(m)
                    if str(e.get("event", "")).startswith("handler"):
                        self.events.append(e)
                self._cond.notify_all()

    def wait(self, pred, timeout=15):
        """Wait until pred(page) holds; returns whether it does."""
        end = time.monotonic() + timeout
        with self._cond:
            while not pred(self):
                left = end - time.monotonic()
                if left <= 0 or self._error is not None:
                    break
                self._cond.wait(min(left, 0.1))
            return pred(self)

    def created(self, name=None):
        return [e for e in self.events if e["event"] == "handler"
                and (name is None or e["name"] == name)]

    def data(self, hid):
        return [e["data"] for e in self.events if e["event"] == "handler-data" and e["id"] == hid]

    def frames_of(self, hid):
        return [f for f in self.frames if f.id == hid]

    def close(self):
        """Disconnect (again: nothing)."""
        if self._thread.is_alive() and self._loop is not None and self._stop is not None:
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:  # its loop just ended
                pass
        self._thread.join(5)
