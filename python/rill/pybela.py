"""pybela 2.0.3's Watcher, Streamer, Monitor, Logger and Controller on
rill's C client: a drop-in replacement.

Every public name, argument, default, return value and exception type is
pybela's, so a script or notebook written for pybela runs after changing
its import line (`from rill.pybela import Streamer`, or `from rill import
Streamer`) and gets what it expected: lists where pybela gives lists, ints
where it gives ints, None where it returns nothing, blocking calls where it
blocks. It works against a Bela board (the Watcher protocol) and against
any rill device (`rill serve`, or a program on include/rill/server.h),
where it speaks rill's native protocol.

What rill does better is there as explicit options, off by default:

    Streamer(..., numpy=True)              values as numpy arrays, no Python
                                           object per value
    stream_n_values(..., exact=True)       exactly n_values per variable
    schedule_streaming(..., wait=False)    return at once; wait_for_schedule()
    schedule_logging(..., wait=False)      idem; wait_for_logging()
    Watcher(..., token="...")              devices started with --token
    Watcher(..., timeout_ms=5000)          every request has a timeout
    Watcher(..., busy_poll_us=2000)        the lowest latency, for a core

How it differs underneath (python/README.md has the table of every
remaining difference and its reason):
  - Callbacks run on a thread of the object's own (the C client's poll
    mode), never on an asyncio loop, so the same code runs in Jupyter and in
    plain scripts; `async def` callbacks work too. A callback that raises
    is logged with its traceback on the "rill" logger and the stream goes
    on.
  - Log files come over HTTP from a rill device, or over SFTP (paramiko,
    as pybela) from a Bela board.
  - plot_data draws with matplotlib (Debian has no bokeh).
"""

import asyncio
import collections
import contextlib
import ctypes
import difflib
import glob
import json
import logging
import math
import os
import struct
import threading
import warnings
import time
import traceback
import types
import weakref

import numpy as np

from . import _lib as L
from . import _belafiles as F
from . import _report
from ._lib import RillError, RillConnectionError

log = logging.getLogger("rill")

__all__ = ["Watcher", "Streamer", "Monitor", "Logger", "Controller"]

_LIVE = weakref.WeakSet()


def _close_all():
    for w in list(_LIVE):
        try:
            w.disconnect()
        except Exception:
            pass


import atexit  # noqa: E402

atexit.register(_close_all)

# pybela's tables (Watcher.get_data_byte_size, get_data_length), kept as
# pybela has them: 'c' is 1 byte on the wire, 4096 dense or 816 sparse
# values per buffer (docs/PROTOCOL.md §3.2), which rill uses internally.
_PYBELA_BYTE_SIZE = {"f": 4, "j": 4, "i": 4, "c": 8, "d": 8}
_PYBELA_DENSE = {"f": 1024, "j": 1024, "i": 1024, "c": 512, "d": 512}
_PYBELA_SPARSE = {"f": 512, "j": 512, "i": 512, "c": 341, "d": 341}
_STRUCT_SIZE = {"f": 4, "i": 4, "c": 1, "d": 8}   # struct.calcsize, native

_shared_loop = None


def _loop():
    """The event loop all objects share, as pybela's do: `streamer.loop`;
    wait() runs it, so tasks a script puts on it make progress."""
    global _shared_loop
    if _shared_loop is None or _shared_loop.is_closed():
        _shared_loop = asyncio.new_event_loop()
    return _shared_loop


def _in_running_loop():
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


class _CoroRunner:
    """Runs `async def` callbacks on the poll thread. A coroutine that never
    suspends (the usual callback: it stores, computes, sends) runs to its
    end at once, without an event loop turn; one that awaits something
    (asyncio.sleep, a future) goes on as a task of this thread's own loop,
    which the poll loop runs between polls."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.tasks = 0

    def enter(self):
        """Make this loop the poll thread's running loop, so a coroutine
        that awaits finds it (asyncio.get_running_loop); once, at the
        thread's start."""
        asyncio.events._set_running_loop(self.loop)

    def run(self, coro, what):
        try:
            fut = coro.send(None)
        except StopIteration:
            return True
        self.tasks += 1
        task = self.loop.create_task(self._resume(coro, fut))
        task.add_done_callback(lambda t: self._done(t, what))
        return True

    @staticmethod
    async def _resume(coro, fut):
        while True:
            if fut is None:
                await asyncio.sleep(0)
            else:
                # The coroutine yielded `fut` as a task's step would see it
                # (blocking); a task clears that flag before waiting on it.
                fut._asyncio_future_blocking = False
                try:
                    await fut
                except BaseException:
                    pass  # the coroutine sees it when resumed
            try:
                fut = coro.send(None)
            except StopIteration:
                return

    def _done(self, task, what):
        self.tasks -= 1
        if not task.cancelled() and task.exception() is not None:
            _report.callback_exception(what, "the stream goes on", task.exception())

    def turn(self):
        """Run what is ready on this thread's loop (the poll thread)."""
        if self.tasks:
            asyncio.events._set_running_loop(None)
            try:
                self.loop.call_soon(self.loop.stop)
                self.loop.run_forever()
            finally:
                asyncio.events._set_running_loop(self.loop)

    def close(self):
        if not self.loop.is_closed():
            for t in asyncio.all_tasks(self.loop):
                t.cancel()
            if self.tasks and asyncio.events._get_running_loop() is None:
                self.loop.call_soon(self.loop.stop)
                self.loop.run_forever()
            self.loop.close()


def _call_user(fn, msg, callback_args, runner, what):
    """Run a user callback with pybela's argument convention; report and
    swallow what it raises, so the stream goes on. False if it raised."""
    try:
        if callback_args != () and type(callback_args) is tuple:
            r = fn(msg, *callback_args)
        elif callback_args != ():
            r = fn(msg, callback_args)
        else:
            r = fn(msg)
        if asyncio.iscoroutine(r):
            runner.run(r, what)
    except Exception:
        _report.callback_exception(what, "the stream goes on")
        return False
    return True


def _generate_filename(saving_filename, saving_dir="./"):
    """pybela's naming: saving_filename in saving_dir, or <stem>__<k><ext>
    when files matching *<stem>*<ext> already exist there."""
    stem, ext = os.path.splitext(saving_filename)
    matching = [os.path.splitext(f)[0].split("__")[0]
                for f in glob.glob(os.path.join(saving_dir, f"*{stem}*{ext}"))]
    if not matching:
        return os.path.join(saving_dir, saving_filename)
    idx = max(matching.count(m) for m in set(matching))
    return os.path.join(saving_dir, f"{stem}__{idx}{ext}")


def _generate_local_filename(local_path):
    """pybela's rule for copies: <base>_<k><ext> when the file exists."""
    if not os.path.exists(local_path):
        return local_path
    base, ext = os.path.splitext(local_path)
    k = 1
    new = local_path
    while os.path.exists(new):
        new = f"{base}_{k}{ext}"
        k += 1
    log.warning("rill: %s already exists; the copy goes to %s", local_path, new)
    return new


class _VarInfo:
    __slots__ = ("name", "id", "letter", "ctype", "mode", "n", "dtype")

    def __init__(self, name, vid, letter, mode):
        self.name = name
        self.id = vid
        self.letter = letter
        self.ctype = L.LETTER_TYPES[letter]
        self.mode = mode  # "dense" / "sparse"
        self.n = F.bela_values_per_buffer(letter, mode)
        self.dtype = np.dtype(L.TYPE_DTYPES[self.ctype])


class Watcher:
    """pybela's Watcher: the connection shared by Streamer, Monitor, Logger
    and Controller.

    Owns one rill_client in poll mode and one thread that takes its queued
    callbacks in batches (rill_client_poll_batch), so every callback runs
    on that thread."""

    def __init__(self, ip="192.168.7.2", port=5555, data_add="gui_data",
                 control_add="gui_control", *, token=None, timeout_ms=5000,
                 numpy=False, file_transport="auto", reconnect=False, busy_poll_us=0):
        self.project_name = None
        self._sample_rate = None
        self.ip = ip
        self.port = port
        self.data_add = data_add
        self.control_add = control_add
        self.ws_ctrl_add = f"ws://{self.ip}:{self.port}/{self.control_add}"
        self.ws_data_add = f"ws://{self.ip}:{self.port}/{self.data_add}"
        # pybela's websockets; rill's connection is the C client's.
        self.ws_ctrl = None
        self.ws_data = None
        self.ssh_client = None
        self.sftp_client = None
        self.timeout_ms = timeout_ms
        self.token = token
        self.numpy = bool(numpy)
        if file_transport not in ("auto", "http", "sftp"):
            raise ValueError("file_transport is 'auto', 'http' (a rill device) or 'sftp' "
                             "(a Bela board)")
        self.file_transport = file_transport
        # rill's option (off): the C client's I/O thread looks for bytes
        # without sleeping while a stream arrives within busy_poll_us
        # (include/rill/client.h): a thread woken by the kernel runs up to
        # hundreds of microseconds late, a spinning one does not, at the
        # cost of a core while data flows.
        if (type(busy_poll_us) is not int or
                not 0 <= busy_poll_us <= L.CLIENT_BUSY_POLL_MAX_US):
            raise ValueError(f"busy_poll_us is a whole number of microseconds from 0 (off) "
                             f"to {L.CLIENT_BUSY_POLL_MAX_US}, not {busy_poll_us!r}")
        self.busy_poll_us = busy_poll_us
        self._watcher_vars = None
        self._vars = {}        # name -> _VarInfo
        self._by_id = {}       # id -> _VarInfo
        self._mode = "WATCH"
        self._cl = None
        self._native = False
        self._poller = None
        self._poll_stop = threading.Event()
        self._lost = False  # the connection closed without disconnect()
        self._lock = threading.RLock()
        self._runner = None
        self._list_cv = threading.Condition()
        self._list_seq = 0
        self._list_text = None
        self._sftp = None
        self._plots = []
        # Counters a program (or a test) can read.
        self.callback_errors = 0
        self.errors = []  # (code name, message) from the connection
        # rill's option (off: pybela's semantics, a lost connection ends
        # it): reconnect and resume the streams; `events` and `gaps` (the
        # ticks each variable missed) are rill._lib.event_dict()s.
        self.reconnect = reconnect
        self.events = []
        self.gaps = []

    # ---- pybela's properties -------------------------------------------------

    @property
    def loop(self):
        return _loop()

    @property
    def sample_rate(self):
        return self._sample_rate

    @property
    def watcher_vars(self):
        """[{name, type, timestamp_mode, data_length, monitor}] as pybela
        gives them (data_length from pybela's table)."""
        if self._watcher_vars is None:
            self._watcher_vars = self._filtered_watcher_vars(self.list()["watchers"],
                                                             lambda var: True)
        return self._watcher_vars

    @property
    def watched_vars(self):
        return self._filtered_watcher_vars(self.list()["watchers"], lambda var: var["watched"])

    @property
    def unwatched_vars(self):
        return self._filtered_watcher_vars(self.list()["watchers"],
                                           lambda var: not var["watched"])

    def _filtered_watcher_vars(self, watchers, filter_func):
        return [{
            "name": var["name"],
            "type": var["type"],
            "timestamp_mode": "sparse" if var["timestampMode"] == 1 else
            "dense" if var["timestampMode"] == 0 else None,
            "data_length": self.get_data_length(
                var["type"], "sparse" if var["timestampMode"] == 1 else
                "dense" if var["timestampMode"] == 0 else None),
            "monitor": var["monitor"],
        } for var in watchers if filter_func(var)]

    # ---- connection ----------------------------------------------------------

    @property
    def url(self):
        if "://" in str(self.ip):
            return str(self.ip)
        host = self._host
        host = f"[{host}]" if ":" in host else host
        return f"ws://{host}:{self.port}"

    @property
    def _host(self):
        """The address without an IPv6 address's brackets ("[::1]" is ::1)."""
        ip = str(self.ip)
        return ip[1:-1] if ip.startswith("[") and ip.endswith("]") else ip

    def connect(self):
        """Connect: rill's native mode against a rill device, the Watcher
        protocol against a Bela board. Returns 1, or "Already connected";
        raises ConnectionError (a rill.RillConnectionError, with librill's
        reason) when it fails, after timeout_ms at most."""
        if self.is_connected():
            return "Already connected"
        cfg = L.lib.rill_client_config_default()
        self._url_b = self.url.encode()
        cfg.url = self._url_b
        self._token_b = self.token.encode() if self.token else None
        cfg.token = self._token_b
        cfg.timeout_ms = int(self.timeout_ms)
        cfg.poll = True
        cfg.poll_bytes = 64 << 20
        cfg.busy_poll_us = self.busy_poll_us
        self._ctrl_path_b = ("/" + str(self.control_add).lstrip("/")).encode()
        self._data_path_b = ("/" + str(self.data_add).lstrip("/")).encode()
        cfg.control_path = self._ctrl_path_b
        cfg.data_path = self._data_path_b
        # The trampolines must outlive the client: keep them on self.
        self._c_buffer = L.BUFFER_FN(self._c_never)
        self._c_monitor = L.MONITOR_FN(self._c_never)
        self._c_error = L.ERROR_FN(self._c_never)
        self._c_done = L.DONE_FN(self._c_never)
        self._c_text = L.TEXT_FN(self._c_on_text)
        cfg.on_buffer = self._c_buffer
        cfg.on_monitor = self._c_monitor
        cfg.on_error = self._c_error
        cfg.on_text = self._c_text
        self._c_event = L.EVENT_FN(self._c_never) if L.HAS_RECONNECT else None
        L.set_reconnect(cfg, self.reconnect, self._c_event)
        cl = L.c_void_p()
        L.clear()
        if self.url.startswith("nats://"):  # a bridged device (rill.nats)
            from .nats import connect_client
            rc = connect_client(self.url, cfg, cl)
        else:
            rc = L.lib.rill_client_connect(ctypes.byref(cfg), ctypes.byref(cl))
        if rc < 0:
            msg = L.last_message()
            if rc in (L.ENOTFOUND, L.EPROTO, L.ETIMEOUT) and " with HTTP 503" not in msg:
                # Something answered that is not a Watcher (the CLI says the same).
                paths = [f"{n} ({v})" for n, v, d in (
                    ("control_add", self.control_add, "gui_control"),
                    ("data_add", self.data_add, "gui_data")) if str(v).lstrip("/") != d]
                msg += ("; is that a rill serve or a Bela board, and is the port right "
                        "(both use 5555 unless told otherwise)"
                        + (", and " + " and ".join(paths) if paths else "") + "?")
                if rc == L.ETIMEOUT:
                    msg += " Over a slow or lossy link, give it longer (timeout_ms)"
            cls = L._CLASSES.get(rc)
            if cls is None or not issubclass(cls, ConnectionError):
                cls = RillConnectionError
            raise cls(rc, msg, f"connect to {self.url}")
        self._cl = cl
        self._native = bool(L.lib.rill_client_native(cl))
        self._runner = _CoroRunner()
        self._poll_stop.clear()
        self._lost = False
        self._poller = threading.Thread(target=self._poll_loop, daemon=True,
                                        name=f"rill-poll {self.url}")
        self._poller.start()
        _LIVE.add(self)
        lst = self.list()
        self._sample_rate = lst["sampleRate"]
        self._set_vars(lst["watchers"])
        self._watcher_vars = self._filtered_watcher_vars(lst["watchers"], lambda var: True)
        self._on_connect()
        return 1

    def _set_vars(self, watchers):
        self._vars = {}
        self._by_id = {}
        for i, w in enumerate(watchers):
            mode = "sparse" if w["timestampMode"] == 1 else "dense"
            v = _VarInfo(w["name"], i, w["type"], mode)
            self._vars[v.name] = v
            self._by_id[i] = v

    def _on_connect(self):
        pass

    def is_connected(self):
        return self._cl is not None and self._poller is not None and self._poller.is_alive()

    def disconnect(self):
        """Close the connection and stop the callback thread. Returns None."""
        if self._cl is None:
            return None
        # The callback thread first: one running finishes (its sends still
        # go out), the rest of its batch is not delivered; then the socket.
        self._poll_stop.set()
        if self._poller is not None and self._poller is not threading.current_thread():
            self._poller.join(5)
        cl, self._cl = self._cl, None
        if cl is None:
            return None
        L.lib.rill_client_destroy(cl)
        self._on_disconnect()
        if self._runner is not None:
            self._runner.close()
        _report.flush()
        _LIVE.discard(self)
        return None

    def _on_disconnect(self):
        """End what ran on the connection (subclasses): on disconnect(), and
        on the callback thread when the connection is lost."""

    def cleanup(self):
        """pybela's cleanup(): stop everything this object runs (callbacks,
        plots, SSH) and disconnect. Returns None."""
        for p in list(self._plots):
            p.stop()
        self.disconnect_ssh()
        self.disconnect()

    def __del__(self):
        try:
            self.disconnect()
        except Exception:
            pass

    def _poll_loop(self):
        # One foreign call takes every callback queued (up to _BATCH): a
        # burst of 100 buffers completed in the same frame costs one ctypes
        # call, not 100 callbacks through ctypes trampolines. The records
        # point into the C client's poll queue, valid until the next call.
        cl = self._cl
        runner = self._runner
        runner.enter()
        records = (L.ClientPolled * _BATCH)()
        table = np.frombuffer(records, _POLLED_DTYPE)
        poll = L.lib.rill_client_poll_batch
        while not self._poll_stop.is_set():
            n = poll(cl, 5 if runner.tasks else 50, records, _BATCH, None, 0)
            if n > 0:
                try:
                    self._on_polled(table[:n], records)
                except Exception:
                    log.error("rill: internal error handling events:\n%s",
                              traceback.format_exc())
            if runner.tasks:
                runner.turn()
            if n == L.ECLOSED:
                break
            if n < 0 and n != L.ETIMEOUT:
                time.sleep(0.05)
        if not self._poll_stop.is_set():
            # The connection is gone for good: what ran on it has ended
            # (its files are closed, whole; is_streaming() is False).
            self._lost = True
            try:
                self._on_disconnect()
            except Exception:
                log.error("rill: internal error ending the sessions of a lost connection:\n%s",
                          traceback.format_exc())

    def _on_polled(self, ev, records):
        """A batch of queued callbacks (`ev`, a numpy view of `records`, the
        ClientPolled array), in order: runs of buffers go to _on_buffers
        whole; monitor values, errors, completions and connection events
        one by one. The batch becomes rows (tuples in _POLLED_DTYPE's field
        order) in one numpy call: a field view of a structured array costs
        about 10 us here, the rows of a 100-buffer batch less than that."""
        rows = ev.tolist()
        at = 0
        n = len(rows)
        while at < n:
            end = at + 1
            kind = rows[at][_K]
            while end < n and rows[end][_K] == kind:
                end += 1
            part = rows if (at == 0 and end == n) else rows[at:end]
            if kind == L.POLLED_BUFFER:
                self._on_buffers(part)
            elif kind == L.POLLED_MONITOR:
                by_id = self._by_id
                for r in part:
                    info = by_id.get(r[_VAR])
                    if info is not None:
                        self._on_monitor(info.name, r[_TS], r[_VALUE])
            elif kind == L.POLLED_ERROR:
                for r in part:
                    self._c_on_error(None, r[_ERR],
                                     ctypes.string_at(r[_MSG]) if r[_MSG] else b"", None)
            elif kind == L.POLLED_DONE:
                for r in part:
                    self._on_done(int(r[_ERR]), int(r[_DONE]))
            elif kind == L.POLLED_EVENT:
                for i in range(at, end):
                    self._on_event(L.event_dict(records[i].event))
            at = end

    def _require(self):
        if self._cl is None:
            raise RillConnectionError(
                L.ECLOSED, "", f"{type(self).__name__} is not connected: call connect() first")
        if self._connection_lost():
            raise RillConnectionError(
                L.ECLOSED, "", f"{type(self).__name__} lost its connection to {self.url} (the "
                "device closed it or went away): call connect() to connect again")
        return self._cl

    def _connection_lost(self):
        """The device closed the connection (or it broke) and the callback
        thread has ended, without disconnect()."""
        poller = self._poller
        return self._cl is not None and (self._lost or (
            poller is not None and not poller.is_alive() and not self._poll_stop.is_set()))

    # ---- control messages ------------------------------------------------------

    def list(self):
        """The device's list reply as pybela returns it: {"sampleRate",
        "timestamp", "watchers": [{controlled, logFileName, logged, monitor,
        name, timestampMode, type, value, valueInput, watched}, ...]}."""
        cl = self._require()
        with self._list_cv:
            before = self._list_seq
        p = L.P(L.ClientList)()
        L.clear()
        L.check(L.lib.rill_client_list_vars(cl, ctypes.byref(p)), "list")
        L.lib.rill_client_list_free(p)
        # The reply's text reaches on_text just after the call returns.
        with self._list_cv:
            self._list_cv.wait_for(lambda: self._list_seq > before, 5)
            text = self._list_text
        reply = json.loads(text)["watcher"]
        reply.pop("audio", None)  # rill's audio description (native clients only)
        return reply

    def send_ctrl_msg(self, msg):
        """Send a JSON control message as it is (pybela's send_ctrl_msg).
        Native mode only: rill's client speaks the control protocol itself
        in compatibility mode."""
        cl = self._require()
        if not self._native:
            raise NotImplementedError(
                "send_ctrl_msg: rill's client sends control messages itself to a Bela "
                "board; use the methods (start_streaming, ...)")
        data = json.dumps(msg).encode()
        L.clear()
        L.check(L.lib.rill_client_send_message(cl, False, data, len(data), None, 0),
                "send_ctrl_msg")
        return None

    # ---- callbacks from C ------------------------------------------------------

    def _c_on_text(self, _cl, data, n, _user):
        # I/O thread, for every control message: keep the list replies and
        # the connection event's project name.
        try:
            text = ctypes.string_at(data, n)
            if b'"sampleRate"' in text and b'"watcher"' in text:
                with self._list_cv:
                    self._list_text = text
                    self._list_seq += 1
                    self._list_cv.notify_all()
            elif b'"projectName"' in text:
                msg = json.loads(text)
                if msg.get("event") == "connection":
                    self.project_name = msg.get("projectName")
        except Exception:
            log.error("rill: internal error reading a control message:\n%s",
                      traceback.format_exc())

    # on_buffer, on_monitor, on_error, on_event and the schedules'
    # completions are set, so that the C client queues them, but never
    # called: _poll_loop takes their arguments (rill_client_poll_batch).

    @staticmethod
    def _c_never(*_args):
        log.error("rill: a callback ran that rill_client_poll_batch should have taken")

    def _c_on_error(self, _cl, err, msg, _user):
        text = msg.decode("utf-8", "replace") if msg else ""
        self.errors.append((L.lib.rill_err_name(err).decode(), text))
        # librill's sentence says what ("the device refused a command: ...",
        # "connection to ... lost: ..."); the URL says which device.
        log.warning("rill: %s: %s", self.url, text)

    def _on_event(self, ev):
        self.events.append(ev)
        if ev["kind"] == "gap":
            self.gaps.append(ev)
        log.warning("rill: %s", ev["message"])

    def _on_buffers(self, rows):
        pass

    def _on_monitor(self, name, tick, value):
        pass

    def _on_done(self, err, key):
        pass

    # ---- pybela's utilities ----------------------------------------------------

    def wait(self, time_in_seconds=0):
        """Wait `time_in_seconds`, or, with 0 (the default), until interrupted
        (Ctrl-C), as pybela's wait does. Callbacks keep running meanwhile on
        this object's thread; tasks on `loop` and live plots are served."""
        if time_in_seconds < 0:
            raise ValueError("Time in seconds should be greater than 0.")
        end = time.monotonic() + time_in_seconds if time_in_seconds > 0 else math.inf
        loop = _loop()
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            # Live plots are redrawn every 50 ms; without any, the loop
            # wakes twice a second (20 turns a second cost 0.6 % of a core).
            step = min(left, 0.05 if self._plots else 0.5)
            if not _in_running_loop() and not loop.is_running():
                loop.run_until_complete(asyncio.sleep(step))
            else:
                time.sleep(step)
            for p in list(self._plots):
                p.pump()

    def get_latest_timestamp(self):
        return self.list()["timestamp"]

    def get_prop_of_var(self, var_name, prop):
        return next((v[prop] for v in self.watcher_vars if v["name"] == var_name), None)

    def get_data_byte_size(self, var_type):
        """pybela's byte size per type (8 for 'c', as pybela has it)."""
        return _PYBELA_BYTE_SIZE.get(var_type, 0)

    def get_data_length(self, var_type, timestamp_mode):
        """pybela's values per buffer: 1024 (f, i, j) or 512 (c, d) dense,
        512 or 341 sparse; 0 otherwise. pybela's 'c' entries differ from the
        wire (4096 dense, 816 sparse: docs/PROTOCOL.md §3.2); rill reads 'c'
        with the wire's sizes."""
        if timestamp_mode == "dense":
            return _PYBELA_DENSE.get(var_type, 0)
        if timestamp_mode == "sparse":
            return _PYBELA_SPARSE.get(var_type, 0)
        return 0

    def get_buffer_size(self, var_type, timestamp_mode):
        """pybela's bytes per buffer of a log file, from its tables (4104
        for f, i, d; pybela's sizes for 'c' are wrong, and it cannot size
        'j', struct.error, as here)."""
        import struct
        data_length = self.get_data_length(var_type, timestamp_mode)
        if timestamp_mode == "sparse":
            if self.get_data_byte_size(var_type) == 4:
                return (struct.calcsize("Q") + data_length * struct.calcsize(var_type)
                        + data_length * struct.calcsize("I"))
            if self.get_data_byte_size(var_type) == 8:
                return (struct.calcsize("Q") + data_length * struct.calcsize(var_type)
                        + data_length * struct.calcsize("I") + 4)
            return None
        if timestamp_mode == "dense":
            return struct.calcsize("Q") + data_length * struct.calcsize(var_type)
        return 0

    def _var_arg_checker(self, variables):
        """pybela's check: [] means every variable; a name alone is a list of
        one; an unknown name raises ValueError."""
        names = [v["name"] for v in self.watcher_vars]
        if isinstance(variables, (str, bytes)):
            variables = [variables]
        if len(variables) == 0:
            return list(names)
        variables = list(variables)
        for var in variables:
            if var not in names:
                near = difflib.get_close_matches(str(var), names, n=1, cutoff=0.75)
                raise ValueError(
                    f"Variable {var} is not in the watcher. Please check the list of "
                    f"variables in the watcher with watcher.list()."
                    + (f" Did you mean {near[0]!r}?" if near else ""))
        return variables

    def _generate_local_filename(self, local_path):
        return _generate_local_filename(local_path)

    # ---- files on the device ----------------------------------------------------

    def _files(self):
        """The transport for log files: HTTP on a rill device, SFTP on a
        Bela (file_transport chooses)."""
        self._require()
        use_sftp = self.file_transport == "sftp" or (self.file_transport == "auto"
                                                      and not self._native)
        if use_sftp:
            if self._sftp is None:
                self._sftp = F.SftpFiles(self._host)
            return self._sftp

        def fetch(name, local_path, timeout_ms):
            L.clear()
            L.check(L.lib.rill_client_fetch(self._require(), name.encode(),
                                            os.fsencode(local_path), int(timeout_ms)),
                    f"copy {name}")
        return F.HttpFiles(self._host, self.port, self.token, fetch)

    def _remote(self, files, remote_path):
        """What the transport calls the file: SFTP the path, HTTP its name
        (a bare name, or a path in this project's directory: a path
        elsewhere names another file, which a rill device does not serve)."""
        if isinstance(files, F.SftpFiles):
            return remote_path
        directory, name = os.path.split(str(remote_path))
        project_dir = f"{F.BELA_PROJECTS}/{self.project_name}"
        if directory not in ("", ".", project_dir, project_dir + "/"):
            raise F.TransferError(
                f"{remote_path} is not in this device's project directory {project_dir}: "
                "a rill device serves only its own log files (give a name from "
                "start_logging's remote_paths, or the file's name alone)")
        return name

    def connect_ssh(self):
        """pybela's connect_ssh(): SSH and SFTP to root@ip:22 with paramiko,
        as pybela connects (keys from ~/.ssh or the agent, else "none"
        authentication, as a Bela allows). A rill device serves its log files
        over HTTP and needs none: this is only for a Bela, or a rill device
        laid out as one (--bela-project) on a machine with sshd. Returns
        None; on failure prints why, as pybela does."""
        self.disconnect_ssh()
        self._sftp = F.SftpFiles(self._host)
        try:
            self._sftp.connect()
        except Exception as e:
            print(f"Error while connecting to Bela via ssh: {e}" +
                  ("" if not self._native else
                   " (this is a rill device: its log files come over HTTP, no SSH is "
                   "needed; see python/README.md)"))
            self._sftp = None
            return None
        self.ssh_client = self._sftp.ssh_client
        self.sftp_client = self._sftp.sftp_client
        return None

    def disconnect_ssh(self):
        """Close the SSH/SFTP connection, if any. Returns None."""
        if self._sftp is not None:
            self._sftp.disconnect()
        self._sftp = None
        self.ssh_client = self.sftp_client = None
        return None

    def copy_file_from_bela(self, remote_path, local_path, verbose=True):
        """Copy a file from the device (a path under /root/Bela/projects, or
        a log file's name) to local_path, renamed <base>_<k><ext> if that
        exists. Returns the local path written (pybela returns the one asked
        for, even when it renamed), or None if it failed (printed)."""
        try:
            files = self._files()
            remote = self._remote(files, remote_path)
            path = _generate_local_filename(local_path)
            d = os.path.dirname(path)
            if d:
                os.makedirs(d, exist_ok=True)
            files.get(remote, path)
        except Exception as e:
            print(f"Error while transferring file: {e}")
            return None
        if verbose:
            print(f"Transferring {remote_path}-->{path}... Done.")
        return path

    def _copy_quiet(self, files, remote_path, path, timeout_ms=10000):
        if isinstance(files, F.HttpFiles):
            files.get(os.path.basename(remote_path), path, timeout_ms)
        else:
            files.get(remote_path, path)


_CHARS = {}
_BATCH = 256  # queued callbacks taken per foreign call


def _polled_dtype():
    """A numpy view of L.ClientPolled's plain fields, to read a whole batch
    column by column (one numpy call per field instead of one ctypes
    attribute access per record and field)."""
    b = L.ClientPolled.buffer.offset
    cols = [("kind", L.ClientPolled.kind.offset, "=i4"), ("err", L.ClientPolled.err.offset, "=i4"),
            ("var_id", b + L.ClientBuffer.var_id.offset, "=u4"),
            ("first_ts", b + L.ClientBuffer.first_ts.offset, "=u8"),
            ("count", b + L.ClientBuffer.count.offset, "=u%d" % ctypes.sizeof(L.c_size)),
            ("values", b + L.ClientBuffer.values.offset, "=u%d" % ctypes.sizeof(ctypes.c_void_p)),
            ("rel", b + L.ClientBuffer.rel.offset, "=u%d" % ctypes.sizeof(ctypes.c_void_p)),
            ("dropped", b + L.ClientBuffer.dropped.offset, "=u4"),
            ("last", b + L.ClientBuffer.last.offset, "u1"),
            ("value", L.ClientPolled.value.offset, "=f8"),
            ("msg", L.ClientPolled.msg.offset, "=u%d" % ctypes.sizeof(ctypes.c_void_p)),
            ("done_user", L.ClientPolled.done_user.offset, "=u%d" % ctypes.sizeof(ctypes.c_void_p))]
    return np.dtype({"names": [c[0] for c in cols], "offsets": [c[1] for c in cols],
                     "formats": [c[2] for c in cols], "itemsize": ctypes.sizeof(L.ClientPolled)})


_POLLED_DTYPE = _polled_dtype()
# A row's fields (_POLLED_DTYPE's order).
_K, _ERR, _VAR, _TS, _COUNT, _VALUES, _RELP, _DROPPED, _LAST, _VALUE, _MSG, _DONE = range(12)


def _copy(addr, nbytes, dtype):
    """A numpy array of the `nbytes` at `addr`, copied once (cheaper than
    np.empty + memmove, whose .ctypes costs a Python object per call)."""
    t = _CHARS.get(nbytes)
    if t is None:
        t = _CHARS[nbytes] = ctypes.c_char * nbytes
    return np.frombuffer(t.from_address(addr), dtype).copy()


_REL = np.dtype(np.uint32)
_CORO = types.CoroutineType
_DTYPES = {t: np.dtype(d) for t, d in L.TYPE_DTYPES.items()}
_send_buffer = L.lib.rill_client_send_buffer


class _BufferTypeError(struct.error, ValueError):
    """send_buffer's buffer_type is not one of Bela's letters. A struct.error
    as pybela's (its struct.pack fails on such a letter), and a ValueError."""


class _BufferValueError(struct.error, ValueError):
    """send_buffer's buffer_id or a value does not fit the header or the
    buffer's type. A struct.error as pybela's (its struct.pack refuses
    them), and a ValueError."""


_TYPE_WORDS = {0: "'c' (char): 0 to 255", 1: "'i' (int32): -2147483648 to 2147483647",
               2: "'j' (uint32): 0 to 4294967295", 3: "'f' (float): at most 3.4e38 in size"}


def _check_cast(src, arr, t):
    """Raise if converting `src` to the buffer's type `arr` lost a value:
    out of range, a fraction into an integer type, NaN into one, a finite
    value that became an infinite float. 'd' holds what Python numbers are."""
    # The quick tests first (this runs on send_buffer's path): an integer
    # type held every value if they convert back to the same bytes; a
    # float one if its sum is finite (no infinity in it).
    if t == 4:
        return
    if t == 3:
        if math.isfinite(arr.sum()):
            return
        bad = np.isinf(arr) & ~np.isinf(src)
    else:
        if arr.astype(src.dtype).tobytes() == src.tobytes():
            return
        bad = arr != src  # -0.0 did not come back as its bytes, but is 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _BufferValueError(
            f"send_buffer: value {src.flat[i]!r} (index {i}) does not fit buffer type "
            f"{_TYPE_WORDS[t]}; nothing was sent (give values that fit, or another type)")


def _as_values(arr, letter, as_numpy):
    """Values as pybela gives them: a list ('c' as 1-byte bytes), or the
    numpy array."""
    if as_numpy:
        return arr
    if letter == "c":
        raw = arr.tobytes()
        return [raw[i:i + 1] for i in range(len(raw))]
    # A memoryview's tolist is a third cheaper than numpy's (no numpy
    # scalar on the way to each Python number); same values.
    return memoryview(arr).tolist() if arr.flags.c_contiguous else arr.tolist()


class _Buffer(dict):
    """The buffer on_buffer_callback gets (lists mode): pybela's dict,
    {"ref_timestamp", "data"[, "rel_timestamps"]}, whose lists are made from
    the buffer's array when first read. Making 1024 Python ints costs
    ~10 µs; a callback that reads only ref_timestamp (pybela's own
    round-trip benchmark) does not pay it, and with 100 buffers completing
    in the same frame the last no longer waits for the 99 lists before it.
    Every other use (items, keys, iteration, len, in, ==, copy, repr, json,
    pickling, a change) makes the lists first, so to code it is the dict
    pybela gives; only `type(b) is dict` tells them apart."""
    __slots__ = ("_arr", "_rel", "_letter")

    def _fill(self):
        arr = self._arr
        if arr is not None:
            self._arr = None
            dict.__setitem__(self, "data", _as_values(arr, self._letter, False))
            if self._rel is not None:
                dict.__setitem__(self, "rel_timestamps", self._rel.tolist())

    def __missing__(self, key):
        self._fill()
        if not dict.__contains__(self, key):
            raise KeyError(key)
        return dict.__getitem__(self, key)

    def _whole(name):
        method = getattr(dict, name)

        def whole(self, *args, **kw):
            self._fill()
            return method(self, *args, **kw)
        whole.__name__ = name
        return whole

    for _name in ("__iter__", "__len__", "__contains__", "__eq__", "__ne__", "__repr__",
                  "__reversed__", "__setitem__", "__delitem__", "__or__", "__ror__", "__ior__",
                  "keys", "values", "items", "get", "pop", "popitem", "setdefault", "copy",
                  "update", "clear"):
        locals()[_name] = _whole(_name)
    del _name, _whole
    __hash__ = None

    def __reduce_ex__(self, protocol):
        self._fill()
        return (dict, (dict(self),))


def _lazy_buffer(ts, arr, rel, letter):
    b = _Buffer(ref_timestamp=ts)
    b._arr = arr
    b._rel = rel
    b._letter = letter
    return b


class _Session:
    """One streaming session: what start_streaming, schedule_streaming or
    stream_n_values started. Buffers of other variables, or from before
    `floor` (a late buffer of an earlier session), are not this session's."""

    def __init__(self, variables, floor):
        self.vars = set(variables)
        self.order = list(variables)
        self.floor = floor
        self.on_buffer = None
        self.on_block = None
        self.args = ()
        self.extra = ()
        self.aligner = None
        self.count_target = None  # (n, event)
        self.counts = collections.Counter()
        self.accepting = True     # False once stream_n_values has its values
        self.ended = {v: threading.Event() for v in variables}


class _Aligner:
    """pybela's on_block: a list of one buffer per variable. Blocks are cut
    on a grid of `span` ticks from the session's first tick (span: the
    longest dense buffer length among the variables), each buffer holding
    the values of its variable whose ticks fall in the block, so a float
    and a double come out cut at the same ticks. A block is complete when
    every dense variable has values past its end; sparse variables give the
    values they have sent by then (rill devices send them one by one for
    this, so none is late; from a Bela they come in whole buffers, and join
    the block during which they arrive)."""

    def __init__(self, infos, span, as_numpy):
        self.infos = infos              # [_VarInfo], in the callback's order
        self.span = span
        self.as_numpy = as_numpy
        self.dense = [i.name for i in infos if i.mode == "dense"]
        self.start = None
        self.pending = {i.name: [] for i in infos}   # [(ticks, values)]
        self.reach = {i.name: -1 for i in infos}     # last tick received

    def add(self, name, ticks, values):
        if self.start is None:
            self.start = int(ticks[0]) if len(ticks) else None
            if self.start is None:
                return []
        self.pending[name].append((ticks, values))
        if len(ticks):
            self.reach[name] = max(self.reach[name], int(ticks[-1]))
        out = []
        guards = self.dense or [i.name for i in self.infos]
        while all(self.reach[n] >= self.start + self.span - 1 for n in guards):
            out.append(self._cut(self.start + self.span))
            self.start += self.span
        return out

    def _cut(self, end):
        block = []
        for info in self.infos:
            chunks = self.pending[info.name]
            if chunks:
                t = np.concatenate([c[0] for c in chunks])
                v = np.concatenate([c[1] for c in chunks])
            else:
                t = np.empty(0, np.uint64)
                v = np.empty(0, info.dtype)
            take = t < end
            if info.mode == "dense":
                take &= t >= self.start
            rest = t >= end
            self.pending[info.name] = [(t[rest], v[rest])] if rest.any() else []
            tt, vv = t[take], v[take]
            ref = int(tt[0]) if len(tt) else int(self.start)
            buf = {"ref_timestamp": ref, "data": _as_values(vv, info.letter, self.as_numpy)}
            contiguous = len(tt) == 0 or int(tt[-1]) - ref == len(tt) - 1
            if info.mode == "sparse" or not contiguous:
                rel = (tt - np.uint64(ref)).astype(np.uint32)
                buf["rel_timestamps"] = rel if self.as_numpy else rel.tolist()
            block.append({"name": info.name, "buffer": buf})
        return block


class Streamer(Watcher):
    """pybela's Streamer: stream variables from the device, with saving,
    on-buffer and on-block callbacks, schedules, and buffers to the device."""

    def __init__(self, ip="192.168.7.2", port=5555, data_add="gui_data",
                 control_add="gui_control", **kw):
        super().__init__(ip, port, data_add, control_add, **kw)
        self._mode = "STREAM"
        self._streaming_mode = "OFF"
        self._streaming_buffers_queue_length = 1000
        self._streaming_buffers_queue = None
        self._last = {}     # var -> (ref, data, rel) of its last buffer
        self._session = None
        self._writers = {}
        self._sched_next = 1
        self._sched = {}         # key -> names still running
        self._sched_errors = []
        self._sched_cv = threading.Condition(self._lock)
        self._monitored_vars = None
        self._stop_floor = 0

    def _on_connect(self):
        self._reset_queues()

    def _on_disconnect(self):
        self._close_writers(None)
        with self._lock:
            sess, self._session = self._session, None
            self._streaming_mode = "OFF"
            self._sched.clear()
            self._sched_cv.notify_all()
        if sess is not None and sess.count_target is not None:
            sess.count_target[1].set()  # stream_n_values: no more will come

    # ---- pybela's properties ---------------------------------------------------

    @property
    def last_streamed_buffer(self):
        """{var: {"data": its last buffer's values, "timestamps": the tick of
        each}} for every variable ([] and [] before any), as pybela keeps
        it; built when read (numpy arrays with numpy=True)."""
        out = {}
        with self._lock:
            last = dict(self._last)
            names = list(self._vars)
        for v in names:
            if v not in last:
                out[v] = {"data": [], "timestamps": []}
                continue
            ts, data, rel = last[v]
            if rel is not None:
                t = np.uint64(ts) + rel.astype(np.uint64)
            else:
                t = np.arange(ts, ts + len(data), dtype=np.uint64)
            if self.numpy:
                out[v] = {"data": data, "timestamps": t}
            else:
                out[v] = {"data": _as_values(data, self._vars[v].letter, False),
                          "timestamps": t.tolist()}
        return out

    @property
    def monitored_vars(self):
        """The variables being monitored (pybela: None when there are none)."""
        lst = self._filtered_watcher_vars(self.list()["watchers"], lambda var: var["monitor"])
        return lst or None

    @property
    def streaming_buffers_queue_length(self):
        return self._streaming_buffers_queue_length

    @streaming_buffers_queue_length.setter
    def streaming_buffers_queue_length(self, value):
        """Maximum buffers kept per variable; resets the queues (pybela)."""
        self._streaming_buffers_queue_length = value
        self._reset_queues()

    def _reset_queues(self):
        with self._lock:
            self._streaming_buffers_queue = {
                v["name"]: collections.deque(maxlen=self._streaming_buffers_queue_length)
                for v in self.watcher_vars}

    def flush_queue(self):
        self._reset_queues()

    @property
    def streaming_buffers_queue(self):
        """{var: [buffer, ...]} for every variable: each buffer
        {"ref_timestamp": int, "data": [...][, "rel_timestamps": [...]]}
        (lists; numpy arrays with numpy=True)."""
        if self._streaming_buffers_queue is None:
            self._reset_queues()
        with self._lock:
            if not self.numpy and self._mode != "MONITOR":
                # The queue keeps each buffer's values as the array they
                # were copied into (4 KiB, not 1024 Python objects); they
                # become lists here, once, when first read.
                for var, q in self._streaming_buffers_queue.items():
                    letter = self._vars[var].letter if var in self._vars else "f"
                    for b in q:
                        d = b["data"]
                        if type(d) is np.ndarray:
                            b["data"] = _as_values(d, letter, False)
                            r = b.get("rel_timestamps")
                            if type(r) is np.ndarray:
                                b["rel_timestamps"] = r.tolist()
            return {k: list(q) for k, q in self._streaming_buffers_queue.items()}

    @property
    def streaming_buffers_data(self):
        """{var: every value in its queue, flat} (a list; one numpy array
        with numpy=True)."""
        out = {}
        with self._lock:
            for var, q in self.streaming_buffers_queue.items():
                if self.numpy:
                    info = self._vars[var]
                    out[var] = (np.concatenate([np.asarray(b["data"]) for b in q])
                                if q else np.empty(0, info.dtype))
                else:
                    flat = []
                    for b in q:
                        flat.extend(b["data"])
                    out[var] = flat
        return out

    def streaming_buffers_timestamps(self):
        """{var: the tick of every value in its queue} (a rill addition;
        numpy arrays)."""
        out = {}
        with self._lock:
            for var, q in self.streaming_buffers_queue.items():
                parts = [(b["ref_timestamp"] + np.asarray(b["rel_timestamps"], np.uint64))
                         if "rel_timestamps" in b else
                         np.arange(b["ref_timestamp"], b["ref_timestamp"] + len(b["data"]),
                                   dtype=np.uint64) for b in q]
                out[var] = np.concatenate(parts) if parts else np.empty(0, np.uint64)
        return out

    @property
    def saving_files(self):
        """{var: path} of the files being written now (a rill addition)."""
        with self._lock:
            return {n: p for n, (h, p, k) in self._writers.items()}

    def is_streaming(self):
        return self._streaming_mode != "OFF"

    # ---- sessions ----------------------------------------------------------------

    def _floor(self):
        """The device's tick now: every buffer of a session that starts now
        begins after it (and after what an earlier session left on the way)."""
        return max(int(self.list()["timestamp"]), self._stop_floor)

    def _begin(self, variables, saving_enabled, saving_filename, saving_dir,
               on_buffer_callback, on_block_callback, callback_args, floor=None):
        """Common start of every streaming call (pybela's
        __streaming_common_routine): stop the previous session, reset the
        queues, open the files, set the callbacks."""
        self._require()
        if self._sched:
            # rill's schedule_streaming(wait=False) returned at once: the next
            # streaming call waits for it rather than cancelling it.
            log.info("rill: waiting for the scheduled streams to end first")
            self.wait_for_schedule()
        if self.is_streaming():
            log.warning("rill: stopping the previous streaming session")
            self.stop_streaming()
        if on_buffer_callback and on_block_callback:
            # As pybela: said, neither runs, the stream goes on.
            log.error("rill: on_buffer_callback and on_block_callback cannot both be set: "
                      "neither is called (give one)")
            on_buffer_callback = on_block_callback = None
        variables = self._var_arg_checker(variables)
        self._reset_queues()
        with self._lock:
            self._last = {}
        sess = _Session(variables, self._floor() if floor is None else floor)
        sess.on_buffer = on_buffer_callback
        sess.on_block = on_block_callback
        sess.args = callback_args
        # pybela's convention, decided once: a tuple is spread, anything
        # else (but ()) is one more argument.
        sess.extra = (tuple(callback_args) if type(callback_args) is tuple
                      else (callback_args,))
        if on_block_callback:
            infos = [self._vars[v] for v in variables]
            dense = [i.n for i in infos if i.mode == "dense"]
            sess.aligner = _Aligner(infos, max(dense) if dense else max(i.n for i in infos),
                                    self.numpy)
        if saving_enabled:
            os.makedirs(saving_dir, exist_ok=True)
            base = _generate_filename(saving_filename or "var_stream.txt", saving_dir)
            self._open_writers(variables, base)
        return variables, sess

    def _open_writers(self, variables, base):
        for v in variables:
            path = os.path.join(os.path.dirname(base), f"{v}_{os.path.basename(base)}")
            info = self._vars[v]
            if info.letter == "c":
                # librill's jsonl writer refuses chars (pybela cannot save them
                # either): written here, each value as its byte's integer.
                with self._lock:
                    self._writers[v] = (open(path, "w"), path, "py")
                continue
            finfo = L.FileInfo(v.encode(), info.ctype, 1 if info.mode == "sparse" else 0,
                               float(self._sample_rate or 0))
            h = L.c_void_p()
            L.clear()
            L.check(L.lib.rill_file_writer_create(path.encode(), L.FORMAT_JSONL,
                                                  ctypes.byref(finfo), ctypes.byref(h)),
                    f"saving {v} to {path}")
            with self._lock:
                self._writers[v] = (h, path, "c")

    def _close_writers(self, names):
        with self._lock:
            names = list(self._writers) if names is None else names
            items = [(n, self._writers.pop(n)) for n in names if n in self._writers]
        for n, (h, path, kind) in items:
            if kind == "py":
                h.close()
                continue
            rc = L.lib.rill_file_writer_close(h)
            if rc < 0:
                log.error("rill: saving %s to %s failed: %s", n, path,
                          L.lib.rill_strerror(rc).decode())

    def _start_session(self, sess, opts=None):
        """Make `sess` current and start its variables on the device. With
        an on_block callback, sparse variables come one value per message
        on a rill device, so that blocks need not wait for them."""
        with self._lock:
            self._session = sess
            self._streaming_mode = "FOREVER"
        names = sess.order
        try:
            if sess.aligner is not None and self._native:
                start = L.StreamOpts(opts.start if opts else 0, opts.duration if opts else 0, 0, 0)
                if start.start == 0:
                    start.start = self._floor() + int(0.02 * float(self._sample_rate or 44100))
                dense = [v for v in names if self._vars[v].mode == "dense"]
                sparse = [v for v in names if self._vars[v].mode == "sparse"]
                if dense:
                    L.check(L.lib.rill_client_stream_start(self._cl, L.names_array(dense),
                                                           len(dense), ctypes.byref(start)),
                            "start_streaming")
                if sparse:
                    one = L.StreamOpts(start.start, start.duration, 1, 0)
                    L.check(L.lib.rill_client_stream_start(self._cl, L.names_array(sparse),
                                                           len(sparse), ctypes.byref(one)),
                            "start_streaming")
            else:
                L.clear()
                L.check(L.lib.rill_client_stream_start(self._cl, L.names_array(names),
                                                       len(names),
                                                       ctypes.byref(opts) if opts else None),
                        "start_streaming")
        except Exception:
            with self._lock:
                self._session = None
                self._streaming_mode = "OFF"
            self._close_writers(names)
            raise

    # ---- starting and stopping -------------------------------------------------

    def start_streaming(self, variables=[], periods=[], saving_enabled=False,
                        saving_filename="var_stream.txt", saving_dir="./",
                        on_buffer_callback=None, on_block_callback=None,
                        callback_args=()):
        """Start streaming `variables` (all if empty) until stop_streaming().
        With saving_enabled, each variable goes to
        <saving_dir>/<var>_<saving_filename> as pybela's JSON lines. Returns
        None. (periods are for the Monitor: ignored here, with pybela's
        warning.)"""
        _periods_ignored(periods)
        variables, sess = self._begin(variables, saving_enabled, saving_filename, saving_dir,
                                      on_buffer_callback, on_block_callback, callback_args)
        self._start_session(sess)
        return None

    def stop_streaming(self, variables=[]):
        """Stop streaming `variables` (all if empty). On a rill device every
        buffer sent before the stop is delivered (and saved) before this
        returns; from a Bela, as pybela, what arrives after the stop is
        dropped (its last buffer is zero-padded). Returns None, as pybela;
        also once the connection is lost (the streams ended with it)."""
        if self._cl is None or self._connection_lost():
            return None
        with self._lock:
            sess = self._session
            names = ([str(v) for v in ([variables] if isinstance(variables, str) else variables)]
                     or (sess.order if sess else []))
        if not names:
            self._streaming_mode = "OFF"
            return None
        if not self._native and sess is not None:
            # From a Bela, what comes after the stop is dropped, as pybela
            # drops it: the last buffer is zero-padded, not data.
            with self._lock:
                sess.vars.difference_update(names)
        L.clear()
        L.check(L.lib.rill_client_stream_stop(self._cl, L.names_array(names), len(names)),
                "stop_streaming")
        # A native stream ends with a buffer flagged last: wait for it so that
        # nothing sent before the stop is lost.
        if sess is not None and self._native and threading.current_thread() is not self._poller:
            deadline = time.monotonic() + 3.0
            for n in names:
                ev = sess.ended.get(n)
                if ev is not None:
                    ev.wait(max(0.0, deadline - time.monotonic()))
        elif not self._native and threading.current_thread() is not self._poller:
            self._compat_stopped(names)
        with self._lock:
            if sess is not None:
                sess.vars.difference_update(names)
                if not sess.vars:
                    self._session = None
                    self._streaming_mode = "OFF"
            self._forget_scheduled(names)
        self._close_writers(names)
        _report.flush()
        return None

    def _compat_stopped(self, names, timeout=1.0):
        """A Bela ends a stopped stream with its partial buffer, zero-padded,
        at the variable's next assignment; nothing tells it from data. Wait
        until the list says the streams stopped (the buffer has left by
        then): the next session takes only buffers from after that tick,
        so it can never begin with that one (issue 15)."""
        deadline = time.monotonic() + timeout
        names = set(names)
        while True:
            lst = self.list()
            watched = {w["name"] for w in lst["watchers"] if w["watched"]}
            if not (watched & names) or time.monotonic() > deadline:
                break
            time.sleep(0.005)
        self._stop_floor = max(self._stop_floor, int(lst["timestamp"]) + 1)

    def _forget_scheduled(self, names):
        for key in list(self._sched):
            self._sched[key].difference_update(names)
            if not self._sched[key]:
                del self._sched[key]
        self._sched_cv.notify_all()

    def schedule_streaming(self, variables=[], timestamps=[], durations=[],
                           saving_enabled=False, saving_filename="var_stream.txt",
                           saving_dir="./", on_buffer_callback=None,
                           on_block_callback=None, callback_args=(), *, wait=True):
        """Stream each variable for durations[i] ticks from timestamps[i]
        (one entry, or one per variable). As pybela, this returns (None) when
        every scheduled stream has ended, with the data in
        streaming_buffers_queue (and the files). Each variable gets exactly
        the values of ticks [timestamp, timestamp + duration) (a Bela sends
        one more, zero-padded; rill's client keeps what was asked).
        wait=False (rill) returns at once; wait_for_schedule() waits."""
        variables = self._var_arg_checker(variables)
        timestamps = [int(t) for t in (timestamps if isinstance(timestamps, (list, tuple))
                                       else [timestamps])]
        durations = [int(d) for d in (durations if isinstance(durations, (list, tuple))
                                      else [durations])]
        if len(timestamps) == 1:
            timestamps *= len(variables)
        if len(durations) == 1:
            durations *= len(variables)
        if len(timestamps) != len(variables) or len(durations) != len(variables):
            raise ValueError("schedule_streaming needs one timestamp and one duration per "
                             "variable (or one of each for all)")
        if any(d <= 0 for d in durations):
            raise ValueError("schedule_streaming: durations must be > 0 ticks (pybela would "
                             "stream forever and never return)")
        _check_ticks("schedule_streaming", timestamps, durations)
        floor = max(min(min(timestamps), int(self.list()["timestamp"])), self._stop_floor)
        variables, sess = self._begin(variables, saving_enabled, saving_filename, saving_dir,
                                      on_buffer_callback, on_block_callback, callback_args,
                                      floor=floor)
        with self._lock:
            self._session = sess
            self._streaming_mode = "SCHEDULE"
        groups = collections.OrderedDict()
        for v, t, d in zip(variables, timestamps, durations):
            groups.setdefault((t, d), []).append(v)
        for (t, d), names in groups.items():
            self._schedule(names, t, d)
        if wait:
            with self._stop_if_interrupted("schedule_streaming", variables):
                self.wait_for_schedule()
        return None

    @contextlib.contextmanager
    def _stop_if_interrupted(self, what, variables):
        """A blocking call interrupted (Ctrl-C, a notebook's interrupt) stops
        what it started, keeps what came, and says so; then re-raises."""
        try:
            yield
        except KeyboardInterrupt:
            try:
                self.stop_streaming(variables)
            finally:
                log.warning("rill: %s interrupted: streaming of %s stopped (what came is in "
                            "the queue)", what, ", ".join(variables))
            raise

    def _schedule(self, names, start, duration):
        with self._lock:
            key = self._sched_next
            self._sched_next += 1
            self._sched[key] = set(names)
        L.clear()
        rc = L.lib.rill_client_schedule(self._cl, L.names_array(names), len(names),
                                        int(start), int(duration), self._c_done,
                                        L.c_void_p(key))
        if rc < 0:
            with self._lock:
                self._sched.pop(key, None)
            self._close_writers(names)
            L.check(rc, "schedule_streaming")
        return key

    def _on_done(self, err, key):
        with self._lock:
            names = self._sched.pop(key, set())
            if err != 0 and err != L.ECANCELED:
                self._sched_errors.append(err)
            sess = self._session
            if sess is not None:
                sess.vars.difference_update(names)
                if not sess.vars and self._streaming_mode in ("SCHEDULE", "N_VALUES"):
                    self._session = None
                    self._streaming_mode = "OFF"
            self._sched_cv.notify_all()
        self._close_writers(list(names))

    def wait_for_schedule(self, timeout=None):
        """Wait until every scheduled stream has ended and its buffers have
        been delivered (a rill addition, for schedule_streaming(wait=False)).
        Returns True, or False on timeout; raises RillError if a stream
        ended because values were lost or the connection went."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._sched_cv:
            while self._sched:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._sched_cv.wait(0.2 if left is None else min(left, 0.2))
                if self._cl is None:
                    break
            errs, self._sched_errors = self._sched_errors, []
        if errs:
            raise L._CLASSES.get(errs[0], RillError)(errs[0], "", "scheduled stream")
        return True

    def stream_n_values(self, variables=[], periods=[], n_values=1000,
                        saving_enabled=False, saving_filename=None, saving_dir="./",
                        on_buffer_callback=None, on_block_callback=None,
                        callback_args=(), *, exact=False):
        """Stream until every variable has n_values values, and return
        streaming_buffers_queue (every variable; the others empty). As
        pybela, whole buffers: at least n_values each. exact=True (rill):
        exactly n_values per variable, dense ones from the same tick."""
        _periods_ignored(periods)
        n_values = int(n_values)
        variables = self._var_arg_checker(variables)
        if saving_enabled and saving_filename is None:
            saving_filename = "var_stream.txt"  # pybela crashes on its own default
        lengths = [self._vars[v].n for v in variables]
        # pybela's queue length: the buffers needed by the shortest buffers.
        self._streaming_buffers_queue_length = -(-n_values // max(1, min(
            self.get_data_length(self._vars[v].letter, self._vars[v].mode) or 1
            for v in variables)))
        if n_values <= 0:
            # pybela's queue of no buffers is full at once: nothing streams,
            # and every variable's queue (and file, if saving) is empty.
            log.warning("rill: stream_n_values: n_values is %d: nothing to stream", n_values)
            variables, _sess = self._begin(variables, saving_enabled, saving_filename,
                                           saving_dir, on_buffer_callback, on_block_callback,
                                           callback_args)
            self._close_writers(variables)
            return self.streaming_buffers_queue
        rate = float(self._sample_rate or 1000.0)
        sparse = [v for v in variables if self._vars[v].mode == "sparse"]
        if exact and not sparse:
            variables, sess = self._begin(variables, saving_enabled, saving_filename,
                                          saving_dir, on_buffer_callback, on_block_callback,
                                          callback_args)
            self._grow_queues(variables, n_values, lengths)
            with self._lock:
                self._session = sess
                self._streaming_mode = "N_VALUES"
            key = self._schedule(variables, 0, n_values)
            with self._stop_if_interrupted("stream_n_values", variables):
                done = self.wait_for_schedule(n_values / rate + 10 + self.timeout_ms / 1000)
            if not done:
                self.stop_streaming(variables)
                raise L.RillTimeoutError(L.ETIMEOUT, "", "stream_n_values")
            del key
        else:
            variables, sess = self._begin(variables, saving_enabled, saving_filename,
                                          saving_dir, on_buffer_callback, on_block_callback,
                                          callback_args)
            self._grow_queues(variables, n_values, lengths)
            ev = threading.Event()
            sess.count_target = (n_values, ev)
            self._start_session(sess)
            with self._lock:
                self._streaming_mode = "N_VALUES"
            limit = n_values / rate * (100 if sparse else 1) + 10 + self.timeout_ms / 1000
            with self._stop_if_interrupted("stream_n_values", variables):
                got = ev.wait(limit)
            self.stop_streaming(variables)
            if self._connection_lost():
                raise RillConnectionError(
                    L.ECLOSED, "", f"stream_n_values: the connection to {self.url} was lost "
                    f"before {n_values} values came (the queue has what came)")
            if not got:
                raise L.RillTimeoutError(L.ETIMEOUT, "", f"stream_n_values: fewer than "
                                         f"{n_values} values within {limit:.0f} s")
        if exact:
            self._trim(variables, n_values)
        return self.streaming_buffers_queue

    async def async_stream_n_values(self, variables=[], periods=[], n_values=1000,
                                    saving_enabled=False, saving_filename="var_stream.txt",
                                    saving_dir="./", on_buffer_callback=None,
                                    on_block_callback=None, callback_args=()):
        """stream_n_values as a coroutine (pybela's): await it, or make it a
        task; it runs in a worker thread, so the event loop goes on."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: self.stream_n_values(
            variables, periods, n_values, saving_enabled, saving_filename, saving_dir,
            on_buffer_callback, on_block_callback, callback_args))

    def _grow_queues(self, variables, n_values, lengths):
        with self._lock:
            for v, n in zip(variables, lengths):
                need = -(-n_values // max(1, n)) + 2
                q = self._streaming_buffers_queue[v]
                if q.maxlen is not None and q.maxlen < need:
                    self._streaming_buffers_queue[v] = collections.deque(q, maxlen=need)

    def _trim(self, variables, n):
        with self._lock:
            for v in variables:
                q = self._streaming_buffers_queue[v]
                total = 0
                out = collections.deque(maxlen=q.maxlen)
                for b in q:
                    if total >= n:
                        break
                    take = min(len(b["data"]), n - total)
                    if take < len(b["data"]):
                        b = dict(b)
                        b["data"] = b["data"][:take]
                        if "rel_timestamps" in b:
                            b["rel_timestamps"] = b["rel_timestamps"][:take]
                    out.append(b)
                    total += take
                self._streaming_buffers_queue[v] = out

    # ---- data from the device (poll thread) ---------------------------------------

    def _on_buffers(self, rows):
        # The poll thread, once per batch of buffers (rows of the polled
        # records, see _on_polled; values and rel point into the C client's
        # poll queue until the next poll). Kept lean: pybela's benchmark sends 4300 buffers a
        # second through here at 100 variables, 100 at a time.
        sess = self._session
        if sess is None:
            return
        by_id = self._by_id
        svars = sess.vars
        floor = sess.floor
        lock = self._lock
        queues = self._streaming_buffers_queue
        last_of = self._last
        fn = sess.on_buffer
        extra = sess.extra
        as_lists = not self.numpy
        runner = self._runner
        stop = self._poll_stop
        for _k, _e, vid, ts, n, va, ra, _d, last, *_ in rows:
            if stop.is_set():
                return  # disconnect() began: the rest of the batch is not delivered
            info = by_id.get(vid)
            if info is None:
                continue
            name = info.name
            if name not in svars:
                continue
            done = sess.ended.get(name) if last else None
            if n == 0 or ts < floor or not sess.accepting:
                if done is not None:
                    done.set()
                continue
            dtype = info.dtype
            nb = n * dtype.itemsize
            t = _CHARS.get(nb)
            if t is None:
                t = _CHARS[nb] = ctypes.c_char * nb
            arr = np.frombuffer(t.from_address(va), dtype).copy()
            rel = _copy(ra, n * 4, _REL) if ra else None
            # The queue keeps the arrays (lists are made when it is read, see
            # streaming_buffers_queue); a callback gets pybela's lists now.
            buf = {"ref_timestamp": ts, "data": arr}
            if rel is not None:
                buf["rel_timestamps"] = rel
            with lock:
                q = queues.get(name)
                if q is not None:
                    q.append(buf)
                last_of[name] = (ts, arr, rel)
                if self._writers:
                    wr = self._writers.get(name)
                    if wr is not None:
                        self._save(wr, name, ts, va, n, ra, arr, rel)
                ct = sess.count_target
                if ct is not None:
                    sess.counts[name] += n
                    if all(sess.counts[v] >= ct[0] for v in sess.order):
                        # As pybela: whole buffers up to the target, nothing
                        # after (the stop's last, shorter buffer included).
                        sess.accepting = False
                        ct[1].set()
            if fn is not None:
                if as_lists:
                    buf = _lazy_buffer(ts, arr, rel, info.letter)
                try:
                    r = fn({"name": name, "buffer": buf}, *extra)
                    if r is not None and (type(r) is _CORO or asyncio.iscoroutine(r)):
                        runner.run(r, "on_buffer_callback")
                except Exception:
                    _report.callback_exception("on_buffer_callback", "the stream goes on")
                    self.callback_errors += 1
            elif sess.aligner is not None:
                ticks = (np.uint64(ts) + rel.astype(np.uint64) if rel is not None
                         else np.arange(ts, ts + n, dtype=np.uint64))
                for block in sess.aligner.add(name, ticks, arr):
                    if not _call_user(sess.on_block, block, sess.args, runner,
                                      "on_block_callback"):
                        self.callback_errors += 1
            # Once its callbacks have run: stop_streaming returns after the
            # last buffer's callback, as a script that reads what its
            # callback gathered expects (and its exception is counted in
            # the stop's summary, not after it).
            if done is not None:
                done.set()

    def _save(self, wr, name, ts, va, n, ra, arr, rel):
        """Save one buffer (with self._lock held). A write that fails (a
        full disk) stops that file, said once: what it holds stays whole
        lines, and streaming goes on."""
        h, path, kind = wr
        if kind == "py":
            line = {"ref_timestamp": ts, "data": arr.tolist()}
            if rel is not None:
                line["rel_timestamps"] = rel.tolist()
            try:
                h.write(json.dumps(line) + "\n")
                h.flush()
            except OSError as e:
                del self._writers[name]
                _close_whole_lines(h)
                _saving_stopped(name, path, e.strerror or str(e))
            return
        L.clear()
        rc = L.lib.rill_file_writer_write(h, ts, va, n,
                                          ctypes.cast(ra, L.P(L.c_u32)) if ra else None)
        if rc < 0:
            why = L.last_message() or L.lib.rill_strerror(rc).decode()
            del self._writers[name]
            L.lib.rill_file_writer_close(h)  # the file ends after its last whole line
            L.clear()
            _saving_stopped(name, path, why)

    # ---- to the device -------------------------------------------------------------

    def send_buffer(self, buffer_id, buffer_type, buffer_length, data_list, verbose=False):
        """Send a buffer to the device program's buffer callback (pybela's
        send_buffer). buffer_type 'i', 'j', 'f', 'd' or 'c' (1-byte bytes,
        a bytes object, or ints); data_list any sequence or numpy array. As
        pybela, the values sent are data_list's (buffer_length is what the
        header says), and a buffer_id or value that does not fit (out of
        range, a fraction for an integer type) raises struct.error (also a
        ValueError) and sends nothing. Returns None."""
        t = L.LETTER_TYPES.get(buffer_type) if isinstance(buffer_type, str) else None
        if t is None:
            raise _BufferTypeError(
                f"send_buffer: buffer_type {buffer_type!r} is not a Bela buffer type: "
                "give 'i' (int32), 'j' (uint32), 'f' (float), 'd' (double) or 'c' (char)")
        # The values as bytes, passed to C as they are (bytes convert to a
        # pointer without a ctypes object per call; the copy of a buffer's
        # few KiB costs less than making one).
        if not 0 <= buffer_id <= 0xFFFFFFFF:
            raise _BufferValueError(
                f"send_buffer: buffer_id {buffer_id!r} is out of range: a Bela buffer id "
                "is 0 to 4294967295; nothing was sent")
        if t == 0 and isinstance(data_list, (bytes, bytearray, memoryview)):
            arr = np.frombuffer(data_list, np.uint8)
        elif t == 0 and len(data_list) and isinstance(data_list[0], (bytes, bytearray)):
            arr = np.frombuffer(b"".join(data_list), np.uint8)
        else:
            src = data_list if type(data_list) is np.ndarray else np.asarray(data_list)
            arr = src.astype(_DTYPES[t], copy=False)
            if arr is not src:
                _check_cast(src, arr, t)
        n = arr.size
        if buffer_length != n:
            log.warning("rill: send_buffer: buffer_length %s but %d values; sending the "
                        "values", buffer_length, n)
        cl = self._cl
        if cl is None:
            self._require()
        data = arr.tobytes()
        rc = _send_buffer(cl, int(buffer_id), t, data, n)
        if rc < 0:
            L.check(rc, "send_buffer")
        if verbose:
            print(f"Sent buffer {buffer_id} of type {buffer_type} with length {buffer_length}...")
        return None

    # ---- files -----------------------------------------------------------------------

    def load_data_from_file(self, filename):
        """A file saved by start_streaming: a list of {"ref_timestamp",
        "data"[, "rel_timestamps"]}, one per saved buffer (lists; numpy
        arrays with numpy=True). None (and a message) if it cannot be read,
        as pybela."""
        try:
            data = []
            with open(filename, "r") as f:
                for line in f:
                    if line.strip():
                        data.append(json.loads(line))
        except Exception as e:
            print(f"Error while loading data from file: {e}")
            return None
        if self.numpy:
            for d in data:
                for k in ("data", "rel_timestamps"):
                    if k in d:
                        d[k] = np.asarray(d[k])
        return data

    # ---- plotting -----------------------------------------------------------------------

    def plot_data(self, x_var, y_vars, y_range=None, plot_update_delay=100, rollover=1000):
        """A live plot of y_vars against the ticks of x_var's values,
        updated every plot_update_delay ms, keeping `rollover` points per
        line (pybela's plot_data, drawn with matplotlib: Debian has no
        bokeh). In Jupyter it is an image updated in place under the cell;
        in a script, a window (served while the script waits in wait());
        headless, the figure is updated in memory (its `figure` attribute).
        The variables must be streaming. Returns the live plot (a rill
        addition: .stop(), .figure)."""
        if self._mode == "MONITOR":
            raise NotImplementedError("Plotting is not yet supported in monitor mode.")
        y_vars = [y_vars] if isinstance(y_vars, str) else list(y_vars)
        streaming = self._session.vars if self._session else set()
        for v in [x_var, *y_vars]:
            if v not in streaming:
                raise ValueError(f"PlottingError: {v} is not being streamed or monitored.")
        from ._plot import LivePlot
        p = LivePlot(self, x_var, y_vars, y_range, plot_update_delay, rollover)
        self._plots.append(p)
        p.start()
        return p


class Monitor(Streamer):
    """pybela's Monitor: one value every `period` ticks per variable."""

    def __init__(self, ip="192.168.7.2", port=5555, data_add="gui_data",
                 control_add="gui_control", **kw):
        super().__init__(ip, port, data_add, control_add, **kw)
        self._mode = "MONITOR"
        self._mon_files = {}
        self._mon_vars = set()
        self._mon_target = None
        self._periods = None

    def connect(self):
        """Connect (see Watcher.connect). Returns None, as pybela's Monitor."""
        if super().connect() == 1:
            self.streaming_buffers_queue_length = 2000
        return None

    def _on_connect(self):
        self._streaming_buffers_queue_length = 2000
        self._reset_queues()

    def _on_disconnect(self):
        super()._on_disconnect()
        with self._lock:
            self._mon_vars.clear()
            files, self._mon_files = self._mon_files, {}
            if self._mon_target is not None:
                self._mon_target[2].set()  # monitor_n_values: no more will come
        for f in files.values():
            try:
                f.close()
            except OSError:
                pass

    @property
    def last_streamed_buffer(self):
        """{var: {"timestamp", "value"}} of each variable's last monitored
        value ({"data": [], "timestamps": []} before any), as pybela's."""
        with self._lock:
            last = dict(self._last)
            names = list(self._vars)
        return {v: ({"timestamp": last[v][0], "value": last[v][1]} if v in last
                    else {"data": [], "timestamps": []}) for v in names}

    @property
    def values(self):
        """{var: {"timestamps": [...], "values": [...]}} for every variable
        (numpy arrays with numpy=True)."""
        out = {}
        with self._lock:
            for var, q in self._streaming_buffers_queue.items():
                ts = [b["timestamp"] for b in q]
                vs = [b["value"] for b in q]
                if self.numpy:
                    out[var] = {"timestamps": np.asarray(ts, np.uint64), "values": np.asarray(vs)}
                else:
                    out[var] = {"timestamps": ts, "values": vs}
        return out

    @property
    def streaming_buffers_data(self):
        return {v: d["values"] for v, d in self.values.items()}

    def _check_periods(self, periods, variables):
        if isinstance(periods, int):
            periods = [periods] * len(variables)
        elif periods == [] or periods is None:
            periods = [1000] * len(variables)
        periods = list(periods)
        assert len(periods) == len(variables), \
            "Periods list must have the same length as variables list"
        for p in periods:
            assert isinstance(p, int), "Periods must be integers"
        bad = [p for p in periods if not 0 <= p < 2**31]
        if bad:
            # pybela sends them: the device takes them as no period (nothing
            # comes) or a far other one.
            raise ValueError(f"periods must be ticks from 1 to 2147483647 (0 stops "
                             f"monitoring), not {bad[0]}")
        return periods

    def _value(self, name, value):
        info = self._vars[name]
        if info.letter in "ij":
            return int(value)
        if info.letter == "c":
            return bytes((int(value) & 0xFF,))
        return float(value)

    def peek(self, variables=[]):
        """{var: {"timestamp", "value"}}: each variable's next value (a
        one-shot monitor, as pybela's). A variable the program sets no
        value of within the timeout (timeout_ms; a sparse variable it does
        not set) raises RillTimeoutError naming it, with the values got
        before it as its `peeked` (pybela's peek waits for ever)."""
        out = {}
        for v in self._var_arg_checker(variables):
            val, tick = L.c_double(), L.c_u64()
            L.clear()
            rc = L.lib.rill_client_peek(self._require(), v.encode(),
                                        ctypes.byref(val), ctypes.byref(tick))
            if rc == L.ETIMEOUT:
                L.clear()
                e = L.RillTimeoutError(
                    rc, f"the program set no value of {v} within {self.timeout_ms / 1000:g} s "
                    "(a sparse variable has a value only once its program sets it; peek the "
                    "others by name, or wait longer: timeout_ms= when connecting)", "peek")
                e.peeked = out
                raise e
            L.check(rc, f"peek {v}")
            out[v] = {"timestamp": int(tick.value), "value": self._value(v, val.value)}
        return out

    def start_monitoring(self, variables=[], periods=[], saving_enabled=False,
                         saving_filename="monitor.txt", saving_dir="./"):
        """Monitor `variables` (all if empty), one value every period ticks
        each (default 1000), until stop_monitoring(). Returns None."""
        variables = self._var_arg_checker(variables)
        self._periods = self._check_periods(periods, variables)
        self._start_monitor(variables, self._periods, saving_enabled, saving_filename,
                            saving_dir)
        return None

    def _start_monitor(self, variables, periods, saving_enabled, saving_filename, saving_dir):
        if self.is_streaming():
            kept = self._periods  # the new session's, set by the caller
            self.stop_monitoring()
            self._periods = kept
        self._reset_queues()
        with self._lock:
            self._last = {}
        if saving_enabled:
            os.makedirs(saving_dir, exist_ok=True)
            base = _generate_filename(saving_filename or "monitor.txt", saving_dir)
            with self._lock:
                for v in variables:
                    p = os.path.join(os.path.dirname(base), f"{v}_{os.path.basename(base)}")
                    self._mon_files[v] = open(p, "w")
        groups = collections.OrderedDict()
        for v, p in zip(variables, periods):
            groups.setdefault(p, []).append(v)
        with self._lock:
            self._mon_vars = set(variables)
            self._streaming_mode = "FOREVER"
        for p, names in groups.items():
            L.clear()
            L.check(L.lib.rill_client_monitor(self._require(), L.names_array(names),
                                              len(names), p), "start_monitoring")

    def stop_monitoring(self, variables=[]):
        """Stop monitoring `variables` (all if empty). Returns {var:
        {"timestamps", "values"}} of the variables that got values."""
        self._stop_monitor(variables)
        vals = self.values
        return {v: d for v, d in vals.items() if len(d["timestamps"])}

    def _stop_monitor(self, variables):
        with self._lock:
            names = ([str(v) for v in ([variables] if isinstance(variables, str) else variables)]
                     or sorted(self._mon_vars))
        if names and self._cl is not None and not self._connection_lost():
            L.clear()
            L.check(L.lib.rill_client_monitor(self._cl, L.names_array(names), len(names), 0),
                    "stop_monitoring")
        with self._lock:
            self._mon_vars.difference_update(names)
            if not self._mon_vars:
                self._streaming_mode = "OFF"
            for n in names:
                f = self._mon_files.pop(n, None)
                if f:
                    f.close()
        self._periods = None
        _report.flush()

    def monitor_n_values(self, variables=[], periods=[], n_values=1000,
                         saving_enabled=False, saving_filename="monitor.txt"):
        """Monitor until every variable has n_values values (exactly those
        are kept), and return values (every variable)."""
        variables = self._var_arg_checker(variables)
        periods = self._check_periods(periods, variables)
        if min(periods, default=1) < 1:
            # A period of 0 stops monitoring (the Watcher's meaning): no
            # value would ever come (pybela waits for ever).
            raise ValueError(f"monitor_n_values: periods must be at least 1 tick, not "
                             f"{periods} (a period of 0 stops monitoring)")
        n_values = int(n_values)
        self._streaming_buffers_queue_length = max(n_values, 1)
        ev = threading.Event()
        self._start_monitor(variables, periods, saving_enabled, saving_filename, "./")
        self._periods = periods
        with self._lock:
            self._streaming_mode = "N_VALUES"
            self._mon_target = (n_values, set(variables), ev)
            if all(len(self._streaming_buffers_queue[v]) >= n_values for v in variables):
                ev.set()
        rate = float(self._sample_rate or 1000.0)
        limit = n_values * max(periods) / rate * 3 + 10
        try:
            got = ev.wait(limit)
        except KeyboardInterrupt:
            log.warning("rill: monitor_n_values interrupted: monitoring of %s stopped (what "
                        "came is in values)", ", ".join(variables))
            raise
        finally:
            self._stop_monitor(variables)
            self._periods = periods
            with self._lock:
                self._mon_target = None
        if self._connection_lost():
            raise RillConnectionError(
                L.ECLOSED, "", f"monitor_n_values: the connection to {self.url} was lost "
                f"before {n_values} values came (values has what came)")
        if not got:
            raise L.RillTimeoutError(L.ETIMEOUT, "", f"monitor_n_values: fewer than "
                                     f"{n_values} values within {limit:.0f} s")
        return self.values

    async def async_monitor_n_values(self, variables=[], periods=[], n_values=1000,
                                     saving_enabled=False, saving_filename=None):
        """monitor_n_values as a coroutine (pybela's, which does not run):
        await it, or make it a task; returns values."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: self.monitor_n_values(
            variables, periods, n_values, saving_enabled, saving_filename or "monitor.txt"))

    # Monitor's inherited streaming methods monitor, as pybela's do.

    def start_streaming(self, variables=[], periods=[], saving_enabled=False,
                        saving_filename="var_stream.txt", saving_dir="./",
                        on_buffer_callback=None, on_block_callback=None,
                        callback_args=()):
        variables = self._var_arg_checker(variables)
        self._periods = self._check_periods(periods, variables)
        self._start_monitor(variables, self._periods, saving_enabled, saving_filename,
                            saving_dir)
        return None

    def stop_streaming(self, variables=[]):
        self._stop_monitor(variables)
        return None

    def stream_n_values(self, variables=[], periods=[], n_values=1000,
                        saving_enabled=False, saving_filename=None, saving_dir="./",
                        on_buffer_callback=None, on_block_callback=None,
                        callback_args=(), *, exact=False):
        self.monitor_n_values(variables, periods, n_values, saving_enabled,
                              saving_filename or "monitor.txt")
        return self.streaming_buffers_queue

    def schedule_streaming(self, *a, **kw):
        raise NotImplementedError(
            "a Monitor cannot schedule (pybela's would parse stream buffers as monitor "
            "frames); use a Streamer's schedule_streaming")

    def _on_monitor(self, name, tick, value):
        with self._lock:
            if name not in self._mon_vars:
                return
            q = self._streaming_buffers_queue.get(name)
            if q is None:
                return
            t = self._mon_target
            if t is not None and name in t[1] and len(q) >= t[0]:
                return  # monitor_n_values keeps exactly n_values
            v = self._value(name, value)
            entry = {"timestamp": tick, "value": v}
            q.append(entry)
            self._last[name] = (tick, v)
            f = self._mon_files.get(name)
            if f is not None:
                try:
                    f.write(json.dumps({"timestamp": tick,
                                        "value": v if not isinstance(v, bytes) else v[0]})
                            + "\n")
                except OSError as e:
                    del self._mon_files[name]
                    _close_whole_lines(f)
                    _saving_stopped(name, f.name, e.strerror or str(e))
            if t is not None and all(len(self._streaming_buffers_queue[x]) >= t[0]
                                     for x in t[1]):
                t[2].set()

    def load_data_from_file(self, filename, flatten=True):
        """A file saved by start_monitoring: {"timestamps": [...], "values":
        [...]} (flatten), or the list of {"timestamp", "value"}."""
        loaded = super().load_data_from_file(filename)
        if loaded is None:
            return None
        if not flatten:
            return loaded
        out = {"timestamps": [b["timestamp"] for b in loaded],
               "values": [b["value"] for b in loaded]}
        if self.numpy:
            out = {k: np.asarray(v) for k, v in out.items()}
        return out


class Logger(Watcher):
    """pybela's Logger: log variables to files on the device, and copy them
    here: over HTTP from a rill device, over SFTP (paramiko, as pybela) from
    a Bela board."""

    def __init__(self, ip="192.168.7.2", port=5555, data_add="gui_data",
                 control_add="gui_control", **kw):
        super().__init__(ip, port, data_add, control_add, **kw)
        self._mode = "LOG"
        self._logging_mode = "OFF"
        self._logging = {}   # var -> (remote path, local path or None)
        self._log_groups = []  # [(names, end tick)] of schedule_logging(wait=False)

    def is_logging(self):
        return self._logging_mode != "OFF"

    def disconnect(self):
        """Close the connection (see Watcher.disconnect). Logs this Logger
        started go on on the device, as on a Bela, and are not copied: said
        on the "rill" logger. Returns None."""
        if self._cl is not None and self._logging:
            log.warning("rill: disconnecting while logging %s: the device goes on logging "
                        "(until stop_logging() or the schedule's end) and nothing is copied "
                        "(stop_logging() before disconnecting stops it and copies the files)",
                        ", ".join(self._logging))
        return super().disconnect()

    def _remote_paths(self, variables, files):
        return {v: F.remote_path(self.project_name, files[i].name.decode())
                for i, v in enumerate(variables)}

    def _log_start(self, variables, start=0, duration=0):
        files = (L.LogFile * max(1, len(variables)))()
        opts = L.StreamOpts(int(start), int(duration), 0, 0) if (start or duration) else None
        L.clear()
        L.check(L.lib.rill_client_log_start(self._require(), L.names_array(variables),
                                            len(variables),
                                            ctypes.byref(opts) if opts else None, files),
                "start_logging")
        return self._remote_paths(variables, files)

    def _plan_local(self, remote, logging_dir):
        local = {}
        for v, r in remote.items():
            local[v] = _generate_local_filename(os.path.join(logging_dir, os.path.basename(r)))
        return local

    def start_logging(self, variables=[], transfer=True, logging_dir="./"):
        """Log `variables` (all if empty) on the device until stop_logging().
        Returns {"local_paths": {var: path}, "remote_paths": {var:
        /root/Bela/projects/<project>/<file>}}; with transfer, stop_logging()
        copies each file to its local path (pybela copies while it logs)."""
        variables = self._var_arg_checker(variables)
        os.makedirs(logging_dir, exist_ok=True)
        if self.is_logging():
            self.stop_logging()
        remote = self._log_start(variables)
        self._logging_mode = "FOREVER"
        local = self._plan_local(remote, logging_dir) if transfer else {}
        for v in variables:
            self._logging[v] = (remote[v], local.get(v))
        return {"local_paths": local, "remote_paths": remote}

    def schedule_logging(self, variables=[], timestamps=[], durations=[], transfer=True,
                         logging_dir="./", *, wait=True):
        """Log each variable for durations[i] ticks from timestamps[i] (each
        its own). As pybela, returns when the logging has ended, with the
        files copied (transfer); wait=False (rill) returns at once, and
        wait_for_logging() finishes the job. Returns {"local_paths",
        "remote_paths"}."""
        assert isinstance(timestamps, list) and all(isinstance(t, int) for t in timestamps), \
            "Error: timestamps must be a list of ints."
        assert isinstance(durations, list) and all(isinstance(d, int) for d in durations), \
            "Error: durations must be a list of ints."
        variables = self._var_arg_checker(variables)
        if len(timestamps) == 1:
            timestamps = timestamps * len(variables)
        if len(durations) == 1:
            durations = durations * len(variables)
        if len(timestamps) != len(variables) or len(durations) != len(variables):
            raise ValueError("schedule_logging needs one timestamp and one duration per "
                             "variable (or one of each for all)")
        _check_ticks("schedule_logging", timestamps, durations)
        os.makedirs(logging_dir, exist_ok=True)
        if self.is_logging():
            self.stop_logging()
        groups = collections.OrderedDict()
        for v, t, d in zip(variables, timestamps, durations):
            groups.setdefault((t, d), []).append(v)
        remote = {}
        now = self.get_latest_timestamp()  # a start in the past means now
        for (t, d), names in groups.items():
            remote.update(self._log_start(names, t, d))
            end = max(t, now) + d if d else None
            self._log_groups.append((names, end))
        self._logging_mode = "SCHEDULED"
        local = self._plan_local(remote, logging_dir) if transfer else {}
        for v in variables:
            self._logging[v] = (remote[v], local.get(v))
        out = {"local_paths": local, "remote_paths": {v: remote[v] for v in variables}}
        if wait:
            self.wait_for_logging()
        return out

    def wait_for_logging(self, timeout=None):
        """Wait until the scheduled logs have ended (their end tick has
        passed on the device) and copy them (a rill addition, for
        schedule_logging(wait=False)). Returns True, or False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._log_groups:
            names, end = self._log_groups[0]
            if end is not None:
                rate = float(self._sample_rate or 1000.0)
                while True:
                    now = self.get_latest_timestamp()
                    if now >= end:
                        break
                    left = (end - now) / rate
                    if deadline is not None and time.monotonic() + min(left, 0.1) > deadline:
                        return False
                    time.sleep(min(max(left, 0.005), 0.1))
            self._log_groups.pop(0)
            self._finish(names)
        if self._logging_mode == "SCHEDULED":
            self._logging_mode = "OFF"
        return True

    def stop_logging(self, variables=[]):
        """Stop logging `variables` (all if empty: every variable of the
        device, as pybela, so a log that a session which died left running
        stops too); with transfer, copy the files this Logger started
        (waiting until the device has finished them). Returns None."""
        names = ([variables] if isinstance(variables, str) else list(variables))
        if not names:
            names = ([v["name"] for v in self.watcher_vars] if self._cl is not None
                     else list(self._logging))
        if names and self._cl is not None:
            L.clear()
            L.check(L.lib.rill_client_log_stop(self._require(), L.names_array(names),
                                               len(names)), "stop_logging")
        self._log_groups = [(g, e) for g, e in self._log_groups if not set(g) <= set(names)]
        self._finish(names)
        if not self._logging:
            self._logging_mode = "OFF"
        return None

    def _finish(self, names):
        files = None
        for v in names:
            remote, local = self._logging.pop(v, (None, None))
            if remote and local:
                files = files or self._files()
                try:
                    if isinstance(files, F.SftpFiles):
                        self._wait_sftp_finished(files, remote)
                    self._copy_quiet(files, remote, local)
                except Exception as e:
                    print(f"Error while transferring file: {e}")
        if isinstance(files, F.SftpFiles):
            files.disconnect()
            self._sftp = None

    def _wait_sftp_finished(self, files, remote, timeout=10.0):
        """A Bela writes the end of a file a moment after unlog: wait until
        its size stops changing and is the header plus whole buffers."""
        deadline = time.monotonic() + timeout
        last = -1
        while time.monotonic() < deadline:
            size = files.size(remote)
            if size == last and size > 0:
                return
            last = size
            time.sleep(0.2)

    def read_binary_file(self, file_path, timestamp_mode):
        """A log file as pybela's read_binary_file gives it:
        {"project_name" (the file's magic, "watcher", as pybela names it),
        "var_name", "type", "buffers": [{"ref_timestamp", "data"[,
        "rel_timestamps"]}]}, each buffer a whole Bela buffer, padding
        included. Reads 'c' and 'j' right (pybela cannot). None without a
        path, as pybela."""
        if file_path is None:
            print("Error: No file path provided.")
            return None
        return F.read_log_file(file_path, timestamp_mode, self.numpy)

    def copy_all_bin_files_in_project(self, dir="./", verbose=True):
        """Copy every .bin file of the project's directory on the device into
        `dir`. Returns None."""
        remote_dir = f"{F.BELA_PROJECTS}/{self.project_name}"
        try:
            files = self._files()
            entries = (files.list(remote_dir) if isinstance(files, F.SftpFiles)
                       else files.list())
            entries = [e for e in entries if e["name"].endswith(".bin")]
            if not entries:
                print(f"No .bin files in {remote_dir}.")  # pybela's warning
                return None
            os.makedirs(dir, exist_ok=True)
            left = 0
            for e in entries:
                if e.get("logging"):
                    # A rill device serves a log file once it is finished:
                    # waiting for one that goes on for minutes would hold
                    # up every other file.
                    print(f"{e['name']} is still being logged: not copied (copy it with "
                          f"copy_file_from_bela once its logging stops)")
                    left += 1
                    continue
                try:
                    self._copy_quiet(files, f"{remote_dir}/{e['name']}",
                                     _generate_local_filename(os.path.join(dir, e["name"])))
                except Exception as err:  # the others are still copied
                    print(f"Error copying {remote_dir}/{e['name']}: {err}")
                    left += 1
            if verbose:
                print(f"All .bin files in {remote_dir} have been copied to {dir}."
                      if not left else
                      f"The .bin files in {remote_dir} have been copied to {dir} but {left}.")
        except Exception as e:
            print(f"Error copying .bin files in {remote_dir}: {e}")
        finally:
            if self._sftp is not None and self.sftp_client is None:
                self._sftp.disconnect()
                self._sftp = None
        return None

    def finish_copying_file(self, remote_path, local_path):
        """Append to local_path what the device's file has beyond it (a copy
        that was cut short). Returns None."""
        try:
            files = self._files()
            name = self._remote(files, remote_path)
            if not os.path.exists(local_path):
                print(f"Local file '{local_path}' does not exist. If you want to copy a file "
                      f"that hasn't been partially copied yet, use copy_file_from_bela() "
                      f"instead.")
                return None
            have = os.path.getsize(local_path)
            size = files.size(name)
            if have >= size:
                print("Local file is already up-to-date or larger than the remote file.")
                return None
            rest = files.get_from(name, have)
            with open(local_path, "ab") as f:
                f.write(rest)
        except FileNotFoundError:
            print(f"Remote file '{remote_path}' does not exist.")
        except Exception as e:
            print(f"Error finishing file copy: {e}")
        return None

    def delete_file_from_bela(self, remote_path, verbose=True):
        """Delete a file (a log file's path or name) on the device. Returns
        None."""
        try:
            files = self._files()
            files.delete(self._remote(files, remote_path))
            if verbose:
                print(f"File '{remote_path}' has been removed from Bela.")
        except FileNotFoundError:
            print(f"Error: Remote file '{remote_path}' does not exist.")
        except Exception as e:
            print(f"Error while deleting file in Bela: {e} ")
        return None

    def delete_all_bin_files_in_project(self, verbose=True):
        """Delete every .bin file of the project's directory on the device.
        Returns None."""
        remote_dir = f"{F.BELA_PROJECTS}/{self.project_name}"
        try:
            files = self._files()
            entries = (files.list(remote_dir) if isinstance(files, F.SftpFiles)
                       else files.list())
            entries = [e for e in entries if e["name"].endswith(".bin")]
            if not entries:
                print(f"No .bin files in {remote_dir}.")  # pybela's warning
                return None
            kept = 0
            for e in entries:
                if e.get("logging"):
                    # A rill device keeps a file it is writing (409).
                    print(f"{e['name']} is still being logged: not deleted")
                    kept += 1
                    continue
                try:
                    files.delete(self._remote(files, f"{remote_dir}/{e['name']}"))
                except Exception as err:  # the others are still deleted
                    print(f"Error deleting {remote_dir}/{e['name']}: {err}")
                    kept += 1
            if verbose:
                print(f"All .bin files in {remote_dir} have been removed."
                      if not kept else
                      f"The .bin files in {remote_dir} have been removed but {kept}.")
        except Exception as e:
            print(f"Error deleting .bin files in {remote_dir}: {e}")
        return None


class Controller(Watcher):
    """pybela's Controller: take control of variables and set their values."""

    def __init__(self, ip="192.168.7.2", port=5555, data_add="gui_data",
                 control_add="gui_control", **kw):
        super().__init__(ip, port, data_add, control_add, **kw)
        self._mode = "CONTROL"

    def start_controlling(self, variables=[]):
        """Control `variables` (all if empty): the program reads the values
        sent with send_value. Applied before this returns. Returns None."""
        for v in self._var_arg_checker(variables):
            L.clear()
            L.check(L.lib.rill_client_control(self._require(), v.encode(), True), f"control {v}")
        return None

    def stop_controlling(self, variables=[]):
        for v in self._var_arg_checker(variables):
            L.clear()
            L.check(L.lib.rill_client_control(self._require(), v.encode(), False),
                    f"uncontrol {v}")
        return None

    def send_value(self, variables, values):
        """Set each variable's controlled value (integer types truncate).
        Returns None."""
        assert isinstance(values, list) and len(values) > 0, \
            "At least one value per variable should be provided."
        variables = self._var_arg_checker(variables)
        assert len(variables) == len(values), \
            "The number of variables and values should be the same."
        for v, x in zip(variables, values):
            try:
                whole = not isinstance(x, (str, bytes)) and x % 1 == 0
            except TypeError:
                whole = None
            if whole is None or isinstance(x, (str, bytes)):
                # pybela's `x % 1` raises TypeError too, in Python's words
                # ("not all arguments converted during string formatting").
                raise TypeError(f"send_value: the value for {v}, {x!r}, is not a number")
            letter = self._vars[v].letter
            if not whole and letter in ("i", "j"):
                print(f"Value {x} is not an integer, but the variable {v} is of type "
                      f"{letter}. Only the integer part will be sent.")
            lo, hi = _SET_RANGES.get(letter, (None, None))
            if lo is not None and not lo <= x <= hi:
                # pybela sends it and says nothing; the device saturates it.
                print(f"Value {x} is out of the range of the variable {v} of type {letter} "
                      f"({lo} to {hi}). The device will hold {lo if x < lo else hi}.")
            L.clear()
            L.check(L.lib.rill_client_set(self._require(), v.encode(), float(x)), f"set {v}")
        return None

    def get_controlled_status(self, variables=[]):
        variables = self._var_arg_checker(variables)
        return {w["name"]: w["controlled"] for w in self.list()["watchers"]
                if w["name"] in variables}

    def get_value(self, variables=[]):
        variables = self._var_arg_checker(variables)
        return {w["name"]: w["value"] for w in self.list()["watchers"]
                if w["name"] in variables}


def _periods_ignored(periods):
    """pybela's warning for periods given to a Streamer."""
    try:
        given = periods is not None and len(periods) > 0
    except TypeError:  # one number
        given = True
    if given:
        warnings.warn("Periods list is ignored in streaming mode STREAM", stacklevel=3)


def _saving_stopped(name, path, why):
    if why.startswith(f"{path}: "):
        why = why[len(path) + 2:]
    log.error("rill: saving %s to %s stopped: %s (what was saved stays in the file, whole; "
              "the values still reach the queue and callbacks)", name, path, why)


def _close_whole_lines(f):
    """Close a text file whose write failed, and cut it after its last
    whole line (a buffered write may have left part of one)."""
    try:
        f.close()
    except OSError:
        pass
    try:
        with open(f.name, "r+b") as g:
            end = g.seek(0, os.SEEK_END)
            start = max(0, end - 65536)
            g.seek(start)
            tail = g.read()
            g.truncate(start + tail.rfind(b"\n") + 1 if b"\n" in tail else start)
    except OSError:
        pass


def _check_ticks(what, timestamps, durations):
    """Ticks are the device's clock, from 0: a negative one, or one past
    2^63, is a mistake the C call would only call an invalid argument."""
    for name, ticks, hint in (
            ("timestamps", timestamps, "the device's clock: see get_latest_timestamp()"),
            ("durations", durations, "how many ticks")):
        bad = [t for t in ticks if not 0 <= t < 2**63]
        if bad:
            raise ValueError(f"{what}: {name} must be ticks from 0 to 2^63 ({hint}), "
                             f"not {bad[0]}")


# What each type holds of a controlled value: the device saturates the rest
# ('f': a finite value beyond float's range becomes an infinity).
_SET_RANGES = {"i": (-2**31, 2**31 - 1), "j": (0, 2**32 - 1), "c": (0, 255),
               "f": (-3.4028234663852886e38, 3.4028234663852886e38)}


def load_buffers(filename, timestamp_mode="dense"):
    """Every buffer of a saved stream (any of rill's formats), read with
    librill's reader: [{"ref_timestamp", "data"[, "rel_timestamps"]}] with
    numpy arrays (a rill addition)."""
    h = L.c_void_p()
    mode = 1 if timestamp_mode == "sparse" else 0
    L.clear()
    L.check(L.lib.rill_file_reader_open(os.fsencode(filename), mode, ctypes.byref(h)),
            f"open {filename}")
    try:
        info = L.FileInfo()
        L.check(L.lib.rill_file_reader_get_info(h, ctypes.byref(info)))
        is_int = info.type in (0, 1, 2)
        sparse = info.mode == 1
        out = []
        fb = L.FileBuffer()
        while True:
            rc = L.lib.rill_file_reader_next(h, ctypes.byref(fb))
            if rc == L.EEMPTY:
                break
            L.check(rc, f"read {filename}")
            n = fb.count
            vals = np.ctypeslib.as_array(fb.values, (n,)).copy() if n else np.empty(0)
            if is_int:
                vals = vals.astype(np.int64)
            d = {"ref_timestamp": int(fb.first_ts), "data": vals}
            if sparse:
                ts = np.ctypeslib.as_array(fb.timestamps, (n,)) if n else np.empty(0, np.uint64)
                d["rel_timestamps"] = (ts - np.uint64(fb.first_ts)).astype(np.int64)
            out.append(d)
        return out
    finally:
        L.lib.rill_file_reader_close(h)
