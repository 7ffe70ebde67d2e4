"""EasyDSP's browserinterface on rill's dashboard (include/rill/dash.h).

    import rill.browserinterface as browserinterface

    def handle(buffer):
        print("Buffer received", len(buffer))

    browserinterface.standalone = True
    browserinterface.register_handle_data(handle)
    browserinterface.start()

The program connects to a `rill serve` (browserinterface.url, default
$RILL_URL or ws://127.0.0.1:5555; or `bi_board_ip`/`board_ip` with port
5555), receives the device's audio input as numpy arrays of
buffer_frames x channels (int16 as EasyDSP, or float32 with
`browserinterface.dtype = "float32"`), and creates data handlers that appear
as tabs in every open dashboard page (http://HOST:5555/).

Differences from EasyDSP:
  - No code server: `standalone` and `inform_browser` are accepted and
    ignored; the dashboard is the page `rill serve` serves.
  - start() returns at once; the callbacks run on a thread of this module
    (rill_dash_poll), one at a time. loop_callbacks() blocks until the
    connection closes or stop() is called (EasyDSP: forever). A callback
    that raises is logged with its traceback and the stream goes on.
  - send_data accepts numpy arrays (EasyDSP needed .tolist()).
  - send_audio goes to an "audio" handler (a player tab) created on first use.
  - change_config waits until the device has applied the change (EasyDSP
    sent it and hoped) and raises ValueError with the device's reason when
    it refuses (a rate it does not offer, a fixed channel count ...); only
    the arguments given are sent. What each `rill serve` source offers:
    docs/PROTOCOL.md §8.
"""

import ctypes
import json
import logging
import os
import threading
import traceback

import numpy as np

from . import _lib as L
from ._lib import RillConnectionError

log = logging.getLogger("rill")

# ---- The C API (include/rill/dash.h) ----------------------------------------

MAX_CHANNELS = L.AUDIO_MAX_CHANNELS

# The dash's callbacks get the dash first (rill_dash *).
_DATA_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                            ctypes.c_size_t, ctypes.c_size_t, ctypes.c_uint64,
                            ctypes.c_uint32, ctypes.c_void_p)
_CONFIG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(L.AudioDesc),
                              ctypes.c_void_p)
_ERROR_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p,
                             ctypes.c_void_p)


class _Config(ctypes.Structure):
    _fields_ = [("url", ctypes.c_char_p), ("token", ctypes.c_char_p),
                ("timeout_ms", ctypes.c_int), ("on_data", _DATA_FN),
                ("on_config", _CONFIG_FN), ("on_error", _ERROR_FN),
                ("user", ctypes.c_void_p), ("poll_bytes", ctypes.c_size_t)]


class _AudioChange(ctypes.Structure):
    _fields_ = [("rate", ctypes.c_double), ("channels", ctypes.c_size_t),
                ("buffer_frames", ctypes.c_uint32), ("volume", ctypes.c_double)]


_HAVE_DASH = hasattr(L.lib, "rill_dash_connect")
_HAVE_CHANGE = hasattr(L.lib, "rill_client_change_audio")
if _HAVE_DASH:
    _d = L._decl
    _d("rill_dash_config_default", _Config)
    _d("rill_dash_connect", ctypes.c_int, ctypes.POINTER(_Config),
       ctypes.POINTER(ctypes.c_void_p))
    _d("rill_dash_destroy", None, ctypes.c_void_p)
    _d("rill_dash_poll", ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
    _d("rill_dash_get_audio", ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(L.AudioDesc))
    _d("rill_dash_add_handler", ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p,
       ctypes.c_char_p, ctypes.c_char_p)
    _d("rill_dash_handler_id", ctypes.c_uint32, ctypes.c_void_p)
    _d("rill_dash_send_json", ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p,
       ctypes.c_uint64)
    _d("rill_dash_send_pcm16", ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
       ctypes.c_size_t, ctypes.c_uint32, ctypes.c_uint64)
    _d("rill_dash_remove_handler", ctypes.c_int, ctypes.c_void_p)
    _d("rill_dash_client", ctypes.c_void_p, ctypes.c_void_p)
if _HAVE_CHANGE:
    L._decl("rill_client_change_audio", ctypes.c_int, ctypes.c_void_p,
            ctypes.POINTER(_AudioChange), ctypes.c_char_p, ctypes.c_size_t)

# ---- EasyDSP's module variables ---------------------------------------------

rate = 48000
channels = 6
buffer_frames = 4096
volume = 80
valid_rates = None
valid_num_channels = None
standalone = False       # accepted; there is no code server to skip
inform_browser = True    # accepted; the dashboard needs no announcement
bi_board_ip = None
board_ip = None
url = None               # default: $RILL_URL, else ws://127.0.0.1:5555
token = None
dtype = "int16"          # or "float32": the values as the device has them
tick = None              # the device tick of the last buffer's first frame
dropped = 0              # buffers lost on the way to this program

_handle_data = None
_when_new_config = None
_recordings = []
_handlers = []
_dash = None
_thread = None
_stop = threading.Event()
_lock = threading.Lock()
callback_errors = 0


def _url():
    if url:
        return url
    ip = bi_board_ip or board_ip
    if ip:
        return f"ws://{ip}:5555"
    return os.environ.get("RILL_URL", "ws://127.0.0.1:5555")


def _call(fn, *args):
    global callback_errors
    try:
        fn(*args)
    except Exception:
        callback_errors += 1
        log.error("rill: exception in a browserinterface callback (it goes on):\n%s",
                  traceback.format_exc())


# ---- Registering ---------------------------------------------------------------


def register_handle_data(fn):
    """fn(buffer): buffer is a (buffer_frames, channels) numpy array."""
    global _handle_data
    _handle_data = fn


def register_when_new_config(fn):
    """fn(buffer_frames, rate, channels, volume): at connect and on changes."""
    global _when_new_config
    _when_new_config = fn


def record_audio(duration_ms, callback):
    """From the next buffer on, collect buffers until they last duration_ms,
    then callback(recording) with a (N, channels) array (N a whole number
    of buffers, as EasyDSP)."""
    with _lock:
        _recordings.append([int(duration_ms), callback, []])


_config_gen = 0
_config_seen = threading.Condition()


def change_config(rate=None, channels=None, buffer_frames=None, volume=None):
    """Ask the device for a new audio configuration; the arguments left out
    stay as they are. Returns once the device has applied it and this
    module's rate, channels, buffer_frames and volume (and the
    register_when_new_config callback) have the new values. Raises
    ValueError with the device's reason when it refuses, and
    RillConnectionError when not connected (call start() first)."""
    if _dash is None:
        raise RillConnectionError(L.ECLOSED, "", "change_config before start()")
    if not _HAVE_CHANGE:
        raise NotImplementedError("this librill cannot change the audio configuration")
    ch = _AudioChange(float(rate) if rate is not None else 0.0,
                      int(channels) if channels is not None else 0,
                      int(buffer_frames) if buffer_frames is not None else 0,
                      float(volume) if volume is not None else -1.0)
    for name, v, ok in (("rate", rate, rate is None or float(rate) > 0),
                        ("channels", channels, channels is None or int(channels) >= 1),
                        ("buffer_frames", buffer_frames,
                         buffer_frames is None or 1 <= int(buffer_frames) <= 65536),
                        ("volume", volume, volume is None or 0 <= float(volume) <= 100)):
        if not ok:
            raise ValueError(f"change_config: {name}={v!r} is out of range")
    with _config_seen:
        gen = _config_gen
    why = ctypes.create_string_buffer(512)
    rc = L.lib.rill_client_change_audio(L.lib.rill_dash_client(_dash), ctypes.byref(ch),
                                        why, len(why))
    reason = why.value.decode("utf-8", "replace")
    if rc == L.EINVAL:
        raise ValueError(f"change_config refused by the device: {reason}")
    if rc < 0:
        raise RillConnectionError(rc, reason, "change_config")
    # The new configuration reaches the callbacks on this module's thread;
    # wait for it there, unless this is that thread (a callback calling us).
    if threading.current_thread() is not _thread:
        with _config_seen:
            _config_seen.wait_for(lambda: _config_gen != gen, timeout=5)


# ---- Handlers ---------------------------------------------------------------------


def _default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


class DataHandler:
    """A tab in every dashboard page; send_data(data) updates it."""

    def __init__(self, name, type, parameters):
        self.name, self.type, self.parameters = name, type, parameters or {}
        self._h = None
        self._pending = []
        self.id = None

    def _create(self):
        h = L.lib.rill_dash_add_handler(_dash, str(self.name).encode(), str(self.type).encode(),
                                        json.dumps(self.parameters, default=_default).encode())
        if not h:
            raise ValueError(f"rill: handler {self.name!r} refused: {L.last_message()}")
        self._h = h
        self.id = int(L.lib.rill_dash_handler_id(h))
        for data in self._pending:
            self.send_data(data)
        self._pending = []

    def send_data(self, data):
        """Small data as JSON (numpy arrays allowed); before start() it waits."""
        if self._h is None:
            self._pending.append(data)
            return
        L.clear()
        L.check(L.lib.rill_dash_send_json(self._h, json.dumps(data, default=_default).encode(),
                                          0), f"send_data to {self.name}")

    def remove(self):
        h, self._h = self._h, None
        if h:
            L.lib.rill_dash_remove_handler(h)


def add_handler(name, type, parameters=None):
    """Create a data handler (EasyDSP's types and rill's, docs/HANDLERS.md)."""
    h = DataHandler(name, type, parameters)
    with _lock:
        _handlers.append(h)
        if _dash is not None:
            h._create()
    return h


_audio_out = None


def send_audio(buffer):
    """Play int16 frames (buffer_frames x channels, or flat) in the page's
    audio player tab."""
    global _audio_out
    a = np.asarray(buffer)
    if a.dtype != np.int16:
        a = a.astype(np.int16)
    a = np.ascontiguousarray(a)
    ch = a.shape[1] if a.ndim == 2 else channels
    if _audio_out is None:
        _audio_out = add_handler("Audio output", "audio", {"rate": rate, "channels": ch})
    if _audio_out._h is None:
        raise RillConnectionError(L.ECLOSED, "", "send_audio before start()")
    L.clear()
    L.check(L.lib.rill_dash_send_pcm16(_audio_out._h, a.ctypes.data, a.size // ch, ch, 0),
            "send_audio")


# ---- Running ---------------------------------------------------------------------


def _on_config(_dash, ap, _user):
    global rate, channels, buffer_frames, volume, _config_gen
    if not ap:
        return
    a = ap.contents
    rate = int(a.rate) if float(a.rate).is_integer() else a.rate
    channels = int(a.channels)
    buffer_frames = int(a.buffer_frames)
    volume = a.volume
    with _lock:
        for r in _recordings:
            r[2] = []
    if _when_new_config is not None:
        _call(_when_new_config, buffer_frames, rate, channels, volume)
    with _config_seen:
        _config_gen += 1
        _config_seen.notify_all()


def _on_data(_dash, buf, frames, nch, t, drop, _user):
    global tick, dropped
    tick = int(t)
    dropped += int(drop)
    x = np.ctypeslib.as_array(buf, (frames, nch))
    if dtype == "int16":
        out = np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16)
    else:
        out = x.copy()
    done = []
    with _lock:
        for r in _recordings:
            r[2].append(out)
            n = sum(len(b) for b in r[2])
            if n * 1000 // int(rate) >= r[0]:
                done.append(r)
        for r in done:
            _recordings.remove(r)
    for r in done:
        _call(r[1], np.concatenate(r[2]))
    if _handle_data is not None:
        _call(_handle_data, out)


def _on_error(_dash, err, msg, _user):
    log.warning("rill: dashboard: %s", msg.decode("utf-8", "replace") if msg else err)


_cbs = (_DATA_FN(_on_data), _CONFIG_FN(_on_config), _ERROR_FN(_on_error))


def _run():
    while not _stop.is_set():
        rc = L.lib.rill_dash_poll(_dash, 50)
        if rc == L.ECLOSED:
            break


def start():
    """Connect to the dashboard's server and start delivering callbacks (on
    this module's thread). Returns at once."""
    global _dash, _thread
    if not _HAVE_DASH:
        raise NotImplementedError("this librill has no dashboard API (include/rill/dash.h)")
    if _dash is not None:
        return
    cfg = L.lib.rill_dash_config_default()
    u = _url().encode()
    tok = token.encode() if token else None
    cfg.url, cfg.token = u, tok
    cfg.on_data, cfg.on_config, cfg.on_error = _cbs
    h = ctypes.c_void_p()
    L.clear()
    rc = L.lib.rill_dash_connect(ctypes.byref(cfg), ctypes.byref(h))
    if rc < 0:
        raise RillConnectionError(rc, L.last_message(), f"browserinterface: connect to {_url()}")
    _dash = h
    with _lock:
        for hd in _handlers:
            if hd._h is None:
                hd._create()
    _stop.clear()
    _thread = threading.Thread(target=_run, name="rill-browserinterface")
    _thread.start()


def loop_callbacks():
    """Block until the connection closes or stop() is called."""
    if _thread is not None:
        _thread.join()


def stop():
    """Disconnect: the handlers' tabs go away from every page."""
    global _dash, _thread, _audio_out
    _stop.set()
    if _thread is not None and _thread is not threading.current_thread():
        _thread.join(5)
    _thread = None
    d, _dash = _dash, None
    with _lock:
        for hd in _handlers:
            hd._h = None
        _handlers.clear()
        _recordings.clear()
    _audio_out = None
    if d:
        L.lib.rill_dash_destroy(d)


import atexit  # noqa: E402

atexit.register(stop)
