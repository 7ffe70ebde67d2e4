"""pybela 2.x's Streamer, Monitor, Logger and Controller on rill's C client.

The public names, arguments and defaults are pybela's, so notebook code
keeps working after changing its import line (`from rill import Streamer`)
and, against `rill serve`, the address (`Streamer(ip="127.0.0.1")`).

What differs, on purpose (python/README.md has the full list):
  - Values come back as numpy arrays built straight from the C buffers
    (one copy, no Python object per value).
  - Callbacks run on a thread this object owns (the C client's poll mode
    driven by `rill_client_poll`), never on an asyncio loop: the same code
    works in Jupyter and in plain scripts. A callback that raises is logged
    with its traceback on the "rill" logger and the stream goes on.
  - `stream_n_values` returns exactly n_values per variable (pybela returns
    whole Bela buffers, "a few more").
  - `schedule_streaming` returns at once (pybela blocks until the stream
    ended); `wait_for_schedule()` waits for it.
  - `stop_streaming` delivers every buffer the device sent up to the stop
    (pybela drops the last ones).
  - Logger downloads log files over HTTP from `rill serve`
    (`rill_client_fetch`) instead of SFTP.
"""

import asyncio
import collections
import glob
import json
import logging
import math
import os
import threading
import time
import traceback
import weakref

import numpy as np

from . import _lib as L
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


def _as_list(x):
    if x is None:
        return []
    if isinstance(x, (str, bytes)):
        return [x]
    return list(x)


def _call_user(fn, msg, callback_args, loop_box, what):
    """Run a user callback with pybela's argument convention; report and
    swallow what it raises, so the stream goes on."""
    try:
        if callback_args != () and type(callback_args) is tuple:
            args = (msg, *callback_args)
        elif callback_args != ():
            args = (msg, callback_args)
        else:
            args = (msg,)
        if asyncio.iscoroutinefunction(fn):
            if not loop_box:
                loop_box.append(asyncio.new_event_loop())
            loop_box[0].run_until_complete(fn(*args))
        else:
            fn(*args)
    except Exception:
        log.error("rill: exception in %s (the stream goes on):\n%s", what,
                  traceback.format_exc())
        return False
    return True


class Watcher:
    """The connection shared by Streamer, Monitor, Logger and Controller.

    Owns one rill_client in poll mode and one thread that runs
    rill_client_poll, so every callback runs on that thread."""

    def __init__(self, ip="192.168.7.2", port=5555, data_add="gui_data",
                 control_add="gui_control", timeout_ms=5000, token=None,
                 reconnect=False):
        self.ip = ip
        self.port = port
        self.data_add = data_add
        self.control_add = control_add
        self.project_name = None
        self.timeout_ms = timeout_ms
        self.token = token
        self._cl = None
        self._poller = None
        self._poll_stop = threading.Event()
        self._sample_rate = None
        self._watcher_vars = None
        self._vars_by_id = {}
        self._lock = threading.RLock()
        self._mode = "WATCH"
        self._loop_box = []
        # Counters a program (or a test) can read.
        self.callback_errors = 0
        self.errors = []  # (code name, message) from the connection
        # rill's option (off: pybela's semantics, a lost connection ends
        # it): reconnect and resume the streams; `events` and `gaps` (the
        # ticks each variable missed) are rill._lib.event_dict()s.
        self.reconnect = reconnect
        self.events = []
        self.gaps = []

    # ---- connection -------------------------------------------------------

    @property
    def url(self):
        if "://" in str(self.ip):
            return str(self.ip)
        host = f"[{self.ip}]" if ":" in str(self.ip) else self.ip
        return f"ws://{host}:{self.port}"

    def connect(self):
        """Connect (native mode against rill serve, the Watcher protocol
        against a Bela board). Returns 1; raises ConnectionError (a
        RillConnectionError) when it fails."""
        if self.is_connected():
            return "Already connected"
        cfg = L.lib.rill_client_config_default()
        self._url_b = self.url.encode()
        cfg.url = self._url_b
        self._token_b = self.token.encode() if self.token else None
        cfg.token = self._token_b
        cfg.timeout_ms = int(self.timeout_ms)
        cfg.poll = True
        # The trampolines must outlive the client: keep them on self.
        self._c_buffer = L.BUFFER_FN(self._c_on_buffer)
        self._c_block = L.BLOCK_FN(self._c_on_block)
        self._c_monitor = L.MONITOR_FN(self._c_on_monitor)
        self._c_error = L.ERROR_FN(self._c_on_error)
        self._c_done = L.DONE_FN(self._c_on_done)
        cfg.on_buffer = self._c_buffer
        cfg.on_block = self._c_block
        cfg.on_monitor = self._c_monitor
        cfg.on_error = self._c_error
        self._c_event = L.EVENT_FN(self._c_on_event) if L.HAS_RECONNECT else None
        L.set_reconnect(cfg, self.reconnect, self._c_event)
        cl = L.c_void_p()
        L.clear()
        if self.url.startswith("nats://"):  # a bridged device (rill.nats)
            from .nats import connect_client
            rc = connect_client(self.url, cfg, cl)
        else:
            rc = L.lib.rill_client_connect(ctypes_byref(cfg), ctypes_byref(cl))
        if rc < 0:
            msg = L.last_message()
            raise RillConnectionError(rc, msg, f"connect to {self.url}")
        self._cl = cl
        self._native = bool(L.lib.rill_client_native(cl))
        self._poll_stop.clear()
        self._poller = threading.Thread(target=self._poll_loop, daemon=True,
                                        name=f"rill-poll {self.url}")
        self._poller.start()
        _LIVE.add(self)
        lst = self.list()
        self._sample_rate = lst["sampleRate"]
        self.project_name = lst.get("projectName", "rill")
        self._refresh_vars(lst)
        self._on_connect()
        return 1

    def _on_connect(self):
        pass

    def is_connected(self):
        return self._cl is not None and self._poller is not None and self._poller.is_alive()

    def disconnect(self):
        """Close the connection and stop the callback thread."""
        cl, self._cl = self._cl, None
        if cl is None:
            return
        self._poll_stop.set()
        if self._poller is not None and self._poller is not threading.current_thread():
            self._poller.join(5)
        L.lib.rill_client_destroy(cl)
        self._close_writers(None)
        _LIVE.discard(self)

    stop = disconnect  # pybela's Watcher.stop() closes the websockets

    def __del__(self):
        try:
            self.disconnect()
        except Exception:
            pass

    def _poll_loop(self):
        cl = self._cl
        while not self._poll_stop.is_set():
            n = L.lib.rill_client_poll(cl, 50)
            if n == L.ECLOSED:
                break
            if n < 0 and n != L.ETIMEOUT:
                time.sleep(0.05)

    def _require(self):
        if self._cl is None:
            raise RillConnectionError(L.ECLOSED, "", "not connected: call connect() first")
        return self._cl

    # ---- the variable table -----------------------------------------------

    def list(self):
        """The device's variables, as pybela's list reply: {"sampleRate",
        "timestamp", "watchers": [{name, type, timestampMode, watched,
        controlled, logged, monitor, logFileName, value}, ...]}."""
        cl = self._require()
        p = L.P(L.ClientList)()
        L.clear()
        L.check(L.lib.rill_client_list_vars(cl, ctypes_byref(p)), "list")
        try:
            c = p.contents
            watchers = []
            for i in range(c.n_vars):
                v = c.vars[i]
                watchers.append({
                    "name": v.name.decode(), "id": v.id,
                    "type": L.TYPE_LETTERS[v.type], "timestampMode": v.mode,
                    "watched": bool(v.watched), "controlled": bool(v.controlled),
                    "logged": bool(v.logged), "monitor": v.monitor,
                    "logFileName": v.log_file_name.decode(), "value": v.value,
                    "data_length": v.length,
                })
            return {"sampleRate": c.sample_rate, "timestamp": c.timestamp,
                    "watchers": watchers}
        finally:
            L.lib.rill_client_list_free(p)

    def _refresh_vars(self, lst):
        self._watcher_vars = [{
            "name": w["name"], "type": w["type"],
            "timestamp_mode": "sparse" if w["timestampMode"] == 1 else "dense",
            "data_length": w["data_length"], "monitor": w["monitor"],
        } for w in lst["watchers"]]
        self._var_info = {w["name"]: w for w in lst["watchers"]}

    @property
    def sample_rate(self):
        return self._sample_rate

    @property
    def watcher_vars(self):
        """[{name, type, timestamp_mode, data_length, monitor}] as pybela."""
        if self._watcher_vars is None:
            self._refresh_vars(self.list())
        return self._watcher_vars

    @property
    def watched_vars(self):
        return [v for v, w in zip(self.watcher_vars, self.list()["watchers"])
                if w["watched"]]

    @property
    def unwatched_vars(self):
        return [v for v, w in zip(self.watcher_vars, self.list()["watchers"])
                if not w["watched"]]

    def get_latest_timestamp(self):
        return self.list()["timestamp"]

    def get_data_length(self, var_type, timestamp_mode):
        """Values per Bela buffer (4096 data bytes) for a type and mode."""
        size = L.TYPE_SIZES[L.LETTER_TYPES[var_type]]
        return 4096 // (size + (4 if timestamp_mode == "sparse" else 0))

    def get_prop_of_var(self, var_name, prop):
        for v in self.watcher_vars:
            if v["name"] == var_name:
                return v[prop]
        return None

    def wait(self, time_in_seconds=0):
        """Sleep; callbacks keep running on the client's own thread."""
        time.sleep(time_in_seconds)

    def _var_arg_checker(self, variables):
        variables = [str(v) for v in _as_list(variables)]
        names = [v["name"] for v in self.watcher_vars]
        if not variables:
            return names
        unknown = [v for v in variables if v not in names]
        if unknown:
            raise L.RillNotFoundError(L.ENOTFOUND, "", f"no such variable(s) {unknown}")
        return variables

    def send_ctrl_msg(self, msg):
        raise NotImplementedError(
            "rill speaks the control protocol in C; use the methods instead")

    # ---- callbacks from C (on the poll thread) ----------------------------

    def _c_on_buffer(self, _cl, bp, _user):
        try:
            self._on_buffer(bp.contents)
        except Exception:
            log.error("rill: internal error handling a buffer:\n%s", traceback.format_exc())

    def _c_on_block(self, _cl, blkp, _user):
        try:
            self._on_block(blkp.contents)
        except Exception:
            log.error("rill: internal error handling a block:\n%s", traceback.format_exc())

    def _c_on_monitor(self, _cl, name, tick, value, _user):
        try:
            self._on_monitor(name.decode(), int(tick), float(value))
        except Exception:
            log.error("rill: internal error handling a monitor value:\n%s",
                      traceback.format_exc())

    def _c_on_error(self, _cl, err, msg, _user):
        text = msg.decode("utf-8", "replace") if msg else ""
        self.errors.append((L.lib.rill_err_name(err).decode(), text))
        log.warning("rill: connection to %s: %s", self.url, text)

    def _c_on_event(self, _cl, evp, _user):
        ev = L.event_dict(evp.contents)
        self.events.append(ev)
        if ev["kind"] == "gap":
            self.gaps.append(ev)
        log.warning("rill: %s", ev["message"])

    def _c_on_done(self, _cl, err, user):
        try:
            self._on_done(int(err), int(user or 0))
        except Exception:
            log.error("rill: internal error in a completion:\n%s", traceback.format_exc())

    def _on_buffer(self, b):
        pass

    def _on_block(self, blk):
        pass

    def _on_monitor(self, name, tick, value):
        pass

    def _on_done(self, err, key):
        pass

    def _close_writers(self, names):
        pass


def ctypes_byref(x):
    import ctypes
    return ctypes.byref(x)


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


def _buffer_arrays(b):
    """(data, rel) numpy arrays copied once from a rill_client_buffer."""
    import ctypes
    n = b.count
    data = np.empty(n, dtype=L.TYPE_DTYPES[b.type])
    if n:
        ctypes.memmove(data.ctypes.data, b.values, data.nbytes)
    rel = None
    if b.rel:
        rel = np.empty(n, dtype=np.uint32)
        if n:
            ctypes.memmove(rel.ctypes.data, ctypes.cast(b.rel, ctypes.c_void_p), rel.nbytes)
    return data, rel


def _buffer_dict(ts, data, rel):
    d = {"ref_timestamp": ts, "data": data}
    if rel is not None:
        d["rel_timestamps"] = rel
    return d


class Streamer(Watcher):
    """pybela's Streamer: stream variables from the device, with saving and
    on-buffer / on-block callbacks."""

    def __init__(self, ip="192.168.7.2", port=5555, data_add="gui_data",
                 control_add="gui_control", **kw):
        super().__init__(ip, port, data_add, control_add, **kw)
        self._mode = "STREAM"
        self._streaming_buffers_queue_length = 1000
        self._queues = {}
        self._streaming = set()
        self._writers = {}
        self._saving_filename = None
        self._on_buffer_cb = None
        self._on_block_cb = None
        self._callback_args = ()
        self._block_vars = None
        self._ended = {}
        self._sched_next = 1
        self._sched = {}        # key -> names still running
        self._sched_errors = []
        self._sched_cv = threading.Condition(self._lock)
        self._count_target = None  # (n, event) for stream_n_values on sparse vars
        self.last_streamed_buffer = {}

    def _on_connect(self):
        self._reset_queues()

    # ---- pybela's properties --------------------------------------------

    @property
    def streaming_buffers_queue_length(self):
        return self._streaming_buffers_queue_length

    @streaming_buffers_queue_length.setter
    def streaming_buffers_queue_length(self, value):
        """Maximum buffers kept per variable; resets the queues (pybela)."""
        self._streaming_buffers_queue_length = int(value)
        self._reset_queues()

    def _reset_queues(self):
        with self._lock:
            self._queues = {v["name"]: collections.deque(
                maxlen=self._streaming_buffers_queue_length) for v in self.watcher_vars}
            self.last_streamed_buffer = {v["name"]: {"data": [], "timestamps": []}
                                         for v in self.watcher_vars}

    def flush_queue(self):
        self._reset_queues()

    @property
    def streaming_buffers_queue(self):
        """{var: [buffer, ...]}, each buffer {"ref_timestamp": int, "data":
        ndarray[, "rel_timestamps": ndarray]} (sparse variables and dense
        buffers with a gap carry rel_timestamps)."""
        with self._lock:
            return {k: list(q) for k, q in self._queues.items()}

    @property
    def streaming_buffers_data(self):
        """{var: one flat ndarray of every value in its queue}."""
        out = {}
        with self._lock:
            for var, q in self._queues.items():
                if q:
                    out[var] = np.concatenate([b["data"] for b in q])
                else:
                    t = L.LETTER_TYPES[self._var_info[var]["type"]]
                    out[var] = np.empty(0, dtype=L.TYPE_DTYPES[t])
        return out

    def streaming_buffers_timestamps(self):
        """{var: ndarray of the tick of every value in its queue} (a rill
        addition: pybela leaves this to the user)."""
        out = {}
        with self._lock:
            for var, q in self._queues.items():
                parts = [(b["ref_timestamp"] + b["rel_timestamps"].astype(np.uint64))
                         if "rel_timestamps" in b else
                         np.arange(b["ref_timestamp"], b["ref_timestamp"] + len(b["data"]),
                                   dtype=np.uint64) for b in q]
                out[var] = np.concatenate(parts) if parts else np.empty(0, np.uint64)
        return out

    def is_streaming(self):
        return bool(self._streaming)

    # ---- starting and stopping --------------------------------------------

    def _prepare(self, variables, saving_enabled, saving_filename, saving_dir,
                 on_buffer_callback, on_block_callback, callback_args):
        self._require()
        if self._sched:
            # pybela's schedule_streaming returned only after its streams
            # ended; rill's returns at once, so a notebook's next streaming
            # call waits for them here rather than cancelling them.
            log.info("rill: waiting for the scheduled streams to end first")
            self.wait_for_schedule()
        if self.is_streaming():
            log.warning("rill: stopping the previous streaming session")
            self.stop_streaming()
        if on_buffer_callback and on_block_callback:
            raise ValueError("on_buffer_callback and on_block_callback cannot "
                             "both be set (as in pybela)")
        variables = self._var_arg_checker(variables)
        self._reset_queues()
        with self._lock:
            self._on_buffer_cb = on_buffer_callback
            self._on_block_cb = on_block_callback
            self._callback_args = callback_args
            self._block_vars = list(variables)
            for v in variables:
                self._ended[v] = threading.Event()
        if saving_enabled:
            os.makedirs(saving_dir, exist_ok=True)
            self._saving_filename = _generate_filename(saving_filename or "var_stream.txt",
                                                       saving_dir)
            self._open_writers(variables)
        return variables

    def _open_writers(self, variables):
        base = self._saving_filename
        for v in variables:
            path = os.path.join(os.path.dirname(base), f"{v}_{os.path.basename(base)}")
            w = self._var_info[v]
            info = L.FileInfo(v.encode(), L.LETTER_TYPES[w["type"]], w["timestampMode"],
                              float(self._sample_rate or 0))
            h = L.c_void_p()
            L.clear()
            L.check(L.lib.rill_file_writer_create(path.encode(), L.FORMAT_JSONL,
                                                  ctypes_byref(info), ctypes_byref(h)),
                    f"saving {v} to {path}")
            with self._lock:
                self._writers[v] = (h, path)

    def _close_writers(self, names):
        with self._lock:
            names = list(self._writers) if names is None else names
            items = [(n, self._writers.pop(n)) for n in names if n in self._writers]
        for n, (h, path) in items:
            rc = L.lib.rill_file_writer_close(h)
            if rc < 0:
                log.error("rill: saving %s to %s failed: %s", n, path,
                          L.lib.rill_strerror(rc).decode())

    @property
    def saving_files(self):
        """{var: path} of the files being written now (a rill addition)."""
        with self._lock:
            return {n: p for n, (h, p) in self._writers.items()}

    def start_streaming(self, variables=[], periods=[], saving_enabled=False,
                        saving_filename="var_stream.txt", saving_dir="./",
                        on_buffer_callback=None, on_block_callback=None,
                        callback_args=()):
        """Start streaming `variables` (all if empty) until stop_streaming().
        With saving_enabled, each variable goes to
        <saving_dir>/<var>_<saving_filename> as pybela's JSON lines."""
        variables = self._prepare(variables, saving_enabled, saving_filename,
                                  saving_dir, on_buffer_callback, on_block_callback,
                                  callback_args)
        arr = L.names_array(variables)
        with self._lock:
            self._streaming.update(variables)
        L.clear()
        rc = L.lib.rill_client_stream_start(self._cl, arr, len(variables), None)
        if rc < 0:
            with self._lock:
                self._streaming.difference_update(variables)
            self._close_writers(variables)
            L.check(rc, "start_streaming")

    def stop_streaming(self, variables=[]):
        """Stop streaming `variables` (all if empty). Every buffer the device
        sent before the stop is delivered (and saved) before this returns.
        Returns streaming_buffers_queue."""
        if self._cl is None:
            return self.streaming_buffers_queue
        with self._lock:
            names = [str(v) for v in _as_list(variables)] or sorted(self._streaming)
        if names:
            arr = L.names_array(names)
            L.clear()
            L.check(L.lib.rill_client_stream_stop(self._cl, arr, len(names)), "stop_streaming")
            # A native stream ends with a buffer flagged last: wait for it
            # so nothing sent before the stop is lost.
            if self._native and threading.current_thread() is not self._poller:
                deadline = time.monotonic() + 3.0
                for n in names:
                    ev = self._ended.get(n)
                    if ev is not None and n in self._streaming:
                        ev.wait(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._streaming.difference_update(names)
            self._forget_scheduled(names)
            if not self._streaming:
                self._on_buffer_cb = self._on_block_cb = None
        self._close_writers(names)
        return self.streaming_buffers_queue

    def _forget_scheduled(self, names):
        for key in list(self._sched):
            self._sched[key].difference_update(names)
            if not self._sched[key]:
                del self._sched[key]
        self._sched_cv.notify_all()

    def schedule_streaming(self, variables=[], timestamps=[], durations=[],
                           saving_enabled=False, saving_filename="var_stream.txt",
                           saving_dir="./", on_buffer_callback=None,
                           on_block_callback=None, callback_args=()):
        """Stream each variable for durations[i] ticks from timestamps[i].

        Unlike pybela, this returns at once: the buffers arrive (and are
        saved, and reach the callbacks) in the background, exactly the
        values of [timestamp, timestamp + duration). wait_for_schedule()
        waits until every scheduled stream has ended."""
        variables = self._prepare(variables, saving_enabled, saving_filename,
                                  saving_dir, on_buffer_callback, on_block_callback,
                                  callback_args)
        timestamps = [int(t) for t in _as_list(timestamps)]
        durations = [int(d) for d in _as_list(durations)]
        if len(timestamps) == 1 and len(variables) > 1:
            timestamps *= len(variables)
        if len(durations) == 1 and len(variables) > 1:
            durations *= len(variables)
        if len(timestamps) != len(variables) or len(durations) != len(variables):
            raise ValueError("timestamps and durations need one entry per variable")
        groups = collections.OrderedDict()
        for v, t, d in zip(variables, timestamps, durations):
            groups.setdefault((t, d), []).append(v)
        for (t, d), names in groups.items():
            self._schedule(names, t, d)

    def _schedule(self, names, start, duration):
        with self._lock:
            key = self._sched_next
            self._sched_next += 1
            self._sched[key] = set(names)
            self._streaming.update(names)
        arr = L.names_array(names)
        L.clear()
        rc = L.lib.rill_client_schedule(self._cl, arr, len(names), int(start),
                                        int(duration), self._c_done, L.c_void_p(key))
        if rc < 0:
            with self._lock:
                self._sched.pop(key, None)
                self._streaming.difference_update(names)
            self._close_writers(names)
            L.check(rc, "schedule_streaming")
        return key

    def _on_done(self, err, key):
        with self._lock:
            names = self._sched.pop(key, set())
            if err != 0 and err != L.ECANCELED:
                self._sched_errors.append(err)
            self._streaming.difference_update(names)
            self._sched_cv.notify_all()
        self._close_writers(list(names))

    def wait_for_schedule(self, timeout=None):
        """Wait until every scheduled stream has ended and its buffers have
        been delivered. Returns True, or False on timeout. Raises RillError
        if a stream ended because values were lost or the connection went."""
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
                        callback_args=()):
        """Stream exactly n_values values of each variable, starting now, and
        return streaming_buffers_queue. (pybela returns whole buffers, so a
        few more; here the last buffer is cut.) Dense variables are streamed
        as one schedule of n_values ticks, so they start at the same tick."""
        n_values = int(n_values)
        variables = self._var_arg_checker(variables)
        lengths = [self._var_info[v]["data_length"] or 1 for v in variables]
        self._streaming_buffers_queue_length = max(
            self._streaming_buffers_queue_length, -(-n_values // max(1, min(lengths))) + 2)
        variables = self._prepare(variables, saving_enabled, saving_filename,
                                  saving_dir, on_buffer_callback, on_block_callback,
                                  callback_args)
        sparse = [v for v in variables if self._var_info[v]["timestampMode"] == 1]
        rate = float(self._sample_rate or 1000.0)
        if not sparse:
            self._schedule(variables, 0, n_values)
            if not self.wait_for_schedule(n_values / rate + 10 + self.timeout_ms / 1000):
                self.stop_streaming(variables)
                raise L.RillTimeoutError(L.ETIMEOUT, "", "stream_n_values")
        else:
            # Sparse values come when the program sets them: count them.
            ev = threading.Event()
            with self._lock:
                self._count_target = (n_values, set(variables), ev)
            arr = L.names_array(variables)
            with self._lock:
                self._streaming.update(variables)
            L.clear()
            L.check(L.lib.rill_client_stream_start(self._cl, arr, len(variables), None),
                    "stream_n_values")
            ev.wait(n_values / rate * 100 + 30)
            self.stop_streaming(variables)
            with self._lock:
                self._count_target = None
        self._trim(variables, n_values)
        q = self.streaming_buffers_queue
        return {v: q[v] for v in variables}

    def _trim(self, variables, n):
        with self._lock:
            for v in variables:
                q = self._queues[v]
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
                self._queues[v] = out

    # ---- data from the device (poll thread) -------------------------------

    def _on_buffer(self, b):
        name = b.name.decode()
        data, rel = _buffer_arrays(b)
        ts = int(b.first_ts)
        buf = _buffer_dict(ts, data, rel)
        with self._lock:
            q = self._queues.get(name)
            if q is None:
                return
            if b.count:
                q.append(buf)
                self.last_streamed_buffer[name] = {"data": data, "ref_timestamp": ts}
            wr = self._writers.get(name)
            if wr is not None and b.count:
                rc = L.lib.rill_file_writer_write(wr[0], b.first_ts, b.values, b.count, b.rel)
                if rc < 0:
                    log.error("rill: saving %s to %s: %s", name, wr[1],
                              L.lib.rill_strerror(rc).decode())
            if b.last and name in self._ended:
                self._ended[name].set()
            ct = self._count_target
            if ct is not None and name in ct[1]:
                if all(sum(len(x["data"]) for x in self._queues[v]) >= ct[0] for v in ct[1]):
                    ct[2].set()
            cb, args = self._on_buffer_cb, self._callback_args
        if cb is not None and b.count:
            if not _call_user(cb, {"name": name, "buffer": buf}, args, self._loop_box,
                              "on_buffer_callback"):
                self.callback_errors += 1

    def _on_block(self, blk):
        cb, args = self._on_block_cb, self._callback_args
        if cb is None:
            return
        msgs = []
        for i in range(blk.n):
            b = blk.buffers[i]
            data, rel = _buffer_arrays(b)
            ts = int(b.first_ts) if b.count else int(blk.first_ts)
            msgs.append({"name": b.name.decode(), "buffer": _buffer_dict(ts, data, rel)})
        if not _call_user(cb, msgs, args, self._loop_box, "on_block_callback"):
            self.callback_errors += 1

    # ---- to the device --------------------------------------------------------

    def send_buffer(self, buffer_id, buffer_type, buffer_length, data_list, verbose=False):
        """Send a buffer to the device program's buffer callback (pybela's
        send_buffer). buffer_type is 'i', 'j', 'f', 'd' or 'c'; data_list
        any sequence or ndarray of buffer_length values."""
        t = L.LETTER_TYPES[buffer_type]
        arr = np.ascontiguousarray(np.asarray(data_list).astype(L.TYPE_DTYPES[t], copy=False))
        if buffer_length != len(arr):
            raise ValueError(f"buffer_length {buffer_length} != {len(arr)} values")
        L.clear()
        L.check(L.lib.rill_client_send_buffer(self._require(), int(buffer_id), t,
                                              arr.ctypes.data, len(arr)), "send_buffer")
        if verbose:
            log.info("sent buffer %s of type %s with length %s", buffer_id,
                     buffer_type, buffer_length)

    # ---- files ----------------------------------------------------------------

    def load_data_from_file(self, filename):
        """Read a file saved by start_streaming (pybela's JSON lines, or any
        rill format): a list of {"ref_timestamp", "data"[, "rel_timestamps"]}
        with numpy arrays, one per saved buffer."""
        return load_buffers(filename)


def load_buffers(filename, timestamp_mode="dense"):
    """Every buffer of a saved stream, read with librill's reader."""
    import ctypes
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


class Monitor(Streamer):
    """pybela's Monitor: one value every `period` ticks per variable."""

    def __init__(self, ip="192.168.7.2", port=5555, data_add="gui_data",
                 control_add="gui_control", **kw):
        super().__init__(ip, port, data_add, control_add, **kw)
        self._mode = "MONITOR"
        self._mon = {}
        self._mon_files = {}
        self._mon_target = None

    def _on_connect(self):
        self._streaming_buffers_queue_length = 2000
        self._reset_mon()

    def _reset_mon(self):
        with self._lock:
            self._mon = {v["name"]: collections.deque(
                maxlen=self._streaming_buffers_queue_length) for v in self.watcher_vars}

    @property
    def values(self):
        """{var: {"timestamps": ndarray uint64, "values": ndarray float64}}."""
        with self._lock:
            return {v: {"timestamps": np.fromiter((t for t, _ in q), np.uint64, len(q)),
                        "values": np.fromiter((x for _, x in q), np.float64, len(q))}
                    for v, q in self._mon.items()}

    @property
    def streaming_buffers_queue(self):
        with self._lock:
            return {v: [{"timestamp": t, "value": x} for t, x in q]
                    for v, q in self._mon.items()}

    @property
    def streaming_buffers_data(self):
        return {v: d["values"] for v, d in self.values.items()}

    def _check_periods(self, periods, variables):
        if isinstance(periods, int):
            periods = [periods] * len(variables)
        elif not periods:
            periods = [1000] * len(variables)
        periods = [int(p) for p in periods]
        if len(periods) != len(variables):
            raise ValueError("periods list must have the same length as variables list")
        return periods

    def peek(self, variables=[]):
        """{var: {"timestamp", "value"}}: each variable's current value."""
        out = {}
        for v in self._var_arg_checker(variables):
            val, tick = L.c_double(), L.c_u64()
            L.clear()
            L.check(L.lib.rill_client_peek(self._require(), v.encode(),
                                           ctypes_byref(val), ctypes_byref(tick)),
                    f"peek {v}")
            out[v] = {"timestamp": int(tick.value), "value": float(val.value)}
        return out

    def start_monitoring(self, variables=[], periods=[], saving_enabled=False,
                         saving_filename="monitor.txt", saving_dir="./"):
        variables = self._var_arg_checker(variables)
        periods = self._check_periods(periods, variables)
        self._reset_mon()
        if saving_enabled:
            os.makedirs(saving_dir, exist_ok=True)
            base = _generate_filename(saving_filename, saving_dir)
            with self._lock:
                for v in variables:
                    p = os.path.join(os.path.dirname(base), f"{v}_{os.path.basename(base)}")
                    self._mon_files[v] = open(p, "w")
        groups = collections.OrderedDict()
        for v, p in zip(variables, periods):
            groups.setdefault(p, []).append(v)
        with self._lock:
            self._streaming.update(variables)
        for p, names in groups.items():
            L.clear()
            L.check(L.lib.rill_client_monitor(self._require(), L.names_array(names),
                                              len(names), p), "start_monitoring")

    def stop_monitoring(self, variables=[]):
        with self._lock:
            names = [str(v) for v in _as_list(variables)] or sorted(self._streaming)
        if names and self._cl is not None:
            L.clear()
            L.check(L.lib.rill_client_monitor(self._cl, L.names_array(names), len(names), 0),
                    "stop_monitoring")
        with self._lock:
            self._streaming.difference_update(names)
            for n in names:
                f = self._mon_files.pop(n, None)
                if f:
                    f.close()
        vals = self.values
        return {v: d for v, d in vals.items() if len(d["timestamps"])}

    def monitor_n_values(self, variables=[], periods=[], n_values=1000,
                         saving_enabled=False, saving_filename="monitor.txt"):
        """Monitor until every variable has n_values values; exactly those
        are returned (as Monitor.values)."""
        variables = self._var_arg_checker(variables)
        periods = self._check_periods(periods, variables)
        if n_values > self._streaming_buffers_queue_length:
            self._streaming_buffers_queue_length = int(n_values)
        ev = threading.Event()
        with self._lock:
            self._mon_target = (int(n_values), set(variables), ev)
        self.start_monitoring(variables, periods, saving_enabled, saving_filename)
        rate = float(self._sample_rate or 1000.0)
        ev.wait(n_values * max(periods) / rate * 3 + 10)
        self.stop_monitoring(variables)
        with self._lock:
            self._mon_target = None
            for v in variables:
                q = self._mon[v]
                while len(q) > n_values:
                    q.pop()
        vals = self.values
        return {v: vals[v] for v in variables}

    def _on_monitor(self, name, tick, value):
        with self._lock:
            q = self._mon.get(name)
            if q is None or name not in self._streaming:
                return
            q.append((tick, value))
            f = self._mon_files.get(name)
            if f is not None:
                f.write(json.dumps({"timestamp": tick, "value": value}) + "\n")
            t = self._mon_target
            if t is not None and all(len(self._mon[v]) >= t[0] for v in t[1]):
                t[2].set()

    def load_data_from_file(self, filename, flatten=True):
        with open(filename) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        if not flatten:
            return rows
        return {"timestamps": np.array([r["timestamp"] for r in rows], np.uint64),
                "values": np.array([r["value"] for r in rows], np.float64)}


class Logger(Watcher):
    """pybela's Logger: log variables to files on the device, then download
    them. Files come over HTTP from rill serve (GET /files/<name>, through
    rill_client_fetch) instead of pybela's SFTP; a Bela board still needs
    scp."""

    def __init__(self, ip="192.168.7.2", port=5555, data_add="gui_data",
                 control_add="gui_control", **kw):
        super().__init__(ip, port, data_add, control_add, **kw)
        self._mode = "LOG"
        self._logging = {}  # var -> (remote name, local path or None)

    def _start(self, variables, opts, transfer, logging_dir):
        variables = self._var_arg_checker(variables)
        files = (L.LogFile * max(1, len(variables)))()
        L.clear()
        L.check(L.lib.rill_client_log_start(self._require(), L.names_array(variables),
                                            len(variables),
                                            ctypes_byref(opts) if opts else None, files),
                "start_logging")
        remote, local = {}, {}
        if transfer:
            os.makedirs(logging_dir, exist_ok=True)
        for i, v in enumerate(variables):
            name = files[i].name.decode()
            remote[v] = name
            if transfer:
                local[v] = _generate_filename(name, logging_dir)
            self._logging[v] = (name, local.get(v))
        return {"local_paths": local, "remote_paths": remote}

    def start_logging(self, variables=[], transfer=True, logging_dir="./"):
        """Log `variables` (all if empty) on the device until stop_logging().
        Returns {"local_paths": {var: path}, "remote_paths": {var: name}};
        with transfer, stop_logging() downloads each file to its local path."""
        return self._start(variables, None, transfer, logging_dir)

    def schedule_logging(self, variables=[], timestamps=[], durations=[],
                         transfer=True, logging_dir="./"):
        """Log for durations[i] ticks from timestamps[i] (one schedule for
        all: the first timestamp and longest duration). With transfer, waits
        for the end and downloads the files (as pybela)."""
        variables = self._var_arg_checker(variables)
        ts = [int(t) for t in _as_list(timestamps)] or [0]
        ds = [int(d) for d in _as_list(durations)]
        opts = L.StreamOpts(min(ts), max(ds) if ds else 0, 0, 0)
        res = self._start(variables, opts, transfer, logging_dir)
        if transfer and ds:
            rate = float(self._sample_rate or 1000.0)
            end = min(ts) + max(ds)
            while self.get_latest_timestamp() < end:
                time.sleep(0.05)
            self._transfer(variables, wait_ms=10000)
        return res

    def stop_logging(self, variables=[]):
        """Stop logging; with transfer, download the files (waiting until the
        device has finished them)."""
        names = [str(v) for v in _as_list(variables)] or list(self._logging)
        if names:
            L.clear()
            L.check(L.lib.rill_client_log_stop(self._require(), L.names_array(names),
                                               len(names)), "stop_logging")
        return self._transfer(names, wait_ms=10000)

    def _transfer(self, names, wait_ms):
        out = {}
        for v in names:
            remote, local = self._logging.pop(v, (None, None))
            if remote and local:
                self.copy_file_from_bela(remote, local, wait_ms)
                out[v] = local
        return out

    def copy_file_from_bela(self, remote_path, local_path, timeout_ms=10000, verbose=False):
        """Download a finished log file (its device name) to local_path."""
        L.clear()
        L.check(L.lib.rill_client_fetch(self._require(), os.path.basename(remote_path).encode(),
                                        os.fsencode(local_path), int(timeout_ms)),
                f"fetch {remote_path}")
        return local_path

    def read_binary_file(self, file_path, timestamp_mode):
        """Parse a Bela log file: {"project_name", "var_name", "type",
        "buffers": [{"ref_timestamp", "data"[, "rel_timestamps"]}]} with
        numpy arrays. Like pybela, each buffer is a whole Bela body,
        padding included."""
        with open(file_path, "rb") as f:
            head = f.read(256).split(b"\0")
        project, var_name, typ = (head + [b"", b"", b""])[:3]
        return {"project_name": project.decode(), "var_name": var_name.decode(),
                "type": typ.decode(), "buffers": load_buffers(file_path, timestamp_mode)}


class Controller(Watcher):
    """pybela's Controller: take control of variables and set their values."""

    def __init__(self, ip="192.168.7.2", port=5555, data_add="gui_data",
                 control_add="gui_control", **kw):
        super().__init__(ip, port, data_add, control_add, **kw)
        self._mode = "CONTROL"

    def start_controlling(self, variables=[]):
        for v in self._var_arg_checker(variables):
            L.clear()
            L.check(L.lib.rill_client_control(self._require(), v.encode(), True), f"control {v}")

    def stop_controlling(self, variables=[]):
        for v in self._var_arg_checker(variables):
            L.clear()
            L.check(L.lib.rill_client_control(self._require(), v.encode(), False),
                    f"uncontrol {v}")

    def send_value(self, variables, values):
        variables = self._var_arg_checker(variables)
        values = _as_list(values)
        if len(values) != len(variables):
            raise ValueError("the number of variables and values should be the same")
        for v, x in zip(variables, values):
            L.clear()
            L.check(L.lib.rill_client_set(self._require(), v.encode(), float(x)), f"set {v}")

    def get_controlled_status(self, variables=[]):
        variables = self._var_arg_checker(variables)
        return {w["name"]: w["controlled"] for w in self.list()["watchers"]
                if w["name"] in variables}

    def get_value(self, variables=[]):
        variables = self._var_arg_checker(variables)
        return {w["name"]: w["value"] for w in self.list()["watchers"]
                if w["name"] in variables}
