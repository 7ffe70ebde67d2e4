"""EasyDSP's browserinterface on rill's dashboard (include/rill/dash.h).

    import rill.browserinterface as browserinterface

    def handle(buffer):
        print("Buffer received", len(buffer))

    browserinterface.register_handle_data(handle)
    browserinterface.start()
    browserinterface.loop_callbacks()   # the callbacks now run on this thread

The program connects to a `rill serve` (browserinterface.url, default
$RILL_URL or ws://127.0.0.1:5555; or `bi_board_ip`/`board_ip` with port
5555), receives the device's audio input as numpy arrays of
buffer_frames x channels (int16 as EasyDSP, or float32 with
`browserinterface.dtype = "float32"`), and creates data handlers that appear
as tabs in every open dashboard page (http://HOST:5555/).

Where the callbacks run. EasyDSP's loop_callbacks() runs every callback
(handle_data, when_new_config, record_audio's) on the thread that calls it,
the main thread, and never returns; so does rill's, from the moment it is
called until stop() or the end of the connection. Before that (and in a
program that never calls it, such as EasyDSP's first documented minimal
program, which ends right after start()), they run on a thread of this
module, one at a time, as EasyDSP's first version ran them on its receiving
thread; that thread keeps the program alive while connected. The hand-over
loses and repeats no buffer.

The remaining differences from EasyDSP are listed in python/README.md.
"""

import ctypes
import json
import logging
import math
import os
import threading
import time

import numpy as np

from . import _lib as L
from . import _report
from ._lib import RillConnectionError

log = logging.getLogger("rill")

# ---- The C API (include/rill/dash.h) ----------------------------------------

MAX_CHANNELS = L.AUDIO_MAX_CHANNELS
_TYPE_MAX, _NAME_MAX = 64, 256  # RILL_DASH_TYPE_MAX, RILL_DASH_NAME_MAX (dash.h)

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
# Before the device's configuration is known they hold EasyDSP's values;
# start() sets them from the device, and they follow every change.

rate = 48000
channels = 6
buffer_frames = 4096
volume = 80
valid_rates = None          # the rates change_config may ask for
valid_num_channels = None   # the channel counts change_config may ask for
handle_data = None          # register_handle_data's function (EasyDSP: 0)
when_new_config = None      # register_when_new_config's function (EasyDSP: 0)
standalone = False          # accepted; there is no code server to skip
inform_browser = True       # accepted; the dashboard needs no announcement
bi_board_ip = None
board_ip = None
url = None                  # default: $RILL_URL, else ws://127.0.0.1:5555
token = None                # default: $RILL_TOKEN (a server started with --token)
dtype = "int16"             # or "float32": the values as the device has them
tick = None                 # the device tick of the last buffer's first frame
dropped = 0                 # buffers lost on the way to this program
callback_errors = 0         # callbacks that raised (each logged)

_recordings = []
_handlers = []
_dash = None
_thread = None              # this module's delivering thread
_stop = threading.Event()
_handover = threading.Event()   # loop_callbacks() takes the delivery over
_lock = threading.Lock()        # _recordings, _handlers
# Which thread is inside rill_dash_poll (one at a time, dash.h), and whether
# a stop() called from a callback left the connection for it to close.
_poll_state = threading.Condition()
_poller = None
_close_after_poll = False
_data_tick = threading.local()  # the tick of the buffer a callback handles


def _url():
    if url:
        return url
    ip = bi_board_ip or board_ip
    if ip:
        return f"ws://[{ip}]:5555" if ":" in str(ip) else f"ws://{ip}:5555"
    return os.environ.get("RILL_URL", "ws://127.0.0.1:5555")


def _call(fn, *args):
    global callback_errors
    try:
        fn(*args)
    except Exception:
        callback_errors += 1
        _report.callback_exception("a browserinterface callback", "it goes on")


def _callable(fn):
    # EasyDSP's "no callback" is 0; None and 0 both mean none here.
    return fn if callable(fn) else None


# ---- Registering ---------------------------------------------------------------


def register_handle_data(fn):
    """fn(buffer): buffer is a (buffer_frames, channels) numpy array. The
    same as assigning browserinterface.handle_data = fn."""
    global handle_data
    handle_data = fn


def register_when_new_config(fn):
    """fn(buffer_frames, rate, channels, volume): at connect and after every
    change. The same as assigning browserinterface.when_new_config = fn."""
    global when_new_config
    when_new_config = fn


def record_audio(duration_ms, callback):
    """From the next buffer on, collect buffers until they last duration_ms,
    then callback(recording) with a (N, channels) array (N a whole number
    of buffers, as EasyDSP)."""
    if not callable(callback):
        raise TypeError(f"record_audio: callback must be callable, not {callback!r}")
    with _lock:
        _recordings.append([float(duration_ms), callback, []])


_applied = None  # the configuration the variables hold (_key)
_config_seen = threading.Condition()


def _key(a):
    return (a.rate, a.channels, a.buffer_frames, a.volume)


def change_config(rate=None, channels=None, buffer_frames=None, volume=None):
    """Ask the device for a new audio configuration; the arguments left out
    stay as they are. Returns once the device has applied it and this
    module's rate, channels, buffer_frames and volume (and the
    when_new_config callback) have the new values. Raises ValueError with
    the device's reason when it refuses, and RillConnectionError when not
    connected (call start() first)."""
    if _dash is None:
        raise RillConnectionError(L.ECLOSED, "", "change_config before start()")
    if not _HAVE_CHANGE:
        raise NotImplementedError("this librill cannot change the audio configuration")
    for name, v, ok in (("rate", rate, rate is None or float(rate) > 0),
                        ("channels", channels, channels is None or int(channels) >= 1),
                        ("buffer_frames", buffer_frames,
                         buffer_frames is None or 1 <= int(buffer_frames) <= 65536),
                        ("volume", volume, volume is None or 0 <= float(volume) <= 100)):
        if not ok:
            raise ValueError(f"change_config: {name}={v!r} is out of range")
    ch = _AudioChange(float(rate) if rate is not None else 0.0,
                      int(channels) if channels is not None else 0,
                      int(buffer_frames) if buffer_frames is not None else 0,
                      float(volume) if volume is not None else -1.0)
    why = ctypes.create_string_buffer(512)
    rc = L.lib.rill_client_change_audio(L.lib.rill_dash_client(_dash), ctypes.byref(ch),
                                        why, len(why))
    reason = why.value.decode("utf-8", "replace")
    if rc == L.EINVAL:
        raise ValueError(f"change_config refused by the device: {reason}")
    if rc < 0:
        raise RillConnectionError(rc, reason, "change_config")
    # The device announced the new configuration before it answered, so
    # rill_dash_get_audio has it; it reaches this module's variables in the
    # delivering thread's next poll. Wait for that there, unless this is
    # that thread (a callback calling us: it is applied when it returns).
    target = L.AudioDesc()
    if L.lib.rill_dash_get_audio(_dash, ctypes.byref(target)) != 0:
        return
    target = _key(target)
    with _poll_state:
        poller = _poller
    if poller is threading.current_thread():
        return
    if poller is None and _thread is None:
        # Nobody delivers (loop_callbacks returned): apply it here.
        _poll_until(lambda: _applied == target, 5)
        return
    with _config_seen:
        _config_seen.wait_for(lambda: _applied == target, timeout=5)


# ---- Handlers ---------------------------------------------------------------------

# EasyDSP's defaults for the parameters its page reads, so that a program
# written for EasyDSP draws the same without naming them (its js/dataHandlers.js
# with simpleheat and Plotly): a heat map draws `max` at full intensity
# and uses `min` as the smallest opacity; a spectrogram keeps 800 columns
# of 600 bins, 1 Hz apart, and lets the colour range follow the data (no
# min/max); update_rate is EasyDSP's 20. A parameter the program gives wins;
# one given as None is left out, so the page's own default applies (rill's:
# docs/HANDLERS.md).
EASYDSP_DEFAULTS = {
    "base:heatmap": {"max": 1, "min": 0.05},
    "base:spectrogram": {"width": 800, "height": 600, "delta_freq": 1, "update_rate": 20},
}


def _parameters(htype, parameters):
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise TypeError(f"add_handler: parameters must be a dict (a JSON object), "
                        f"not {type(parameters).__name__}")
    out = dict(EASYDSP_DEFAULTS.get(htype, {}))
    out.update(parameters)
    return {k: v for k, v in out.items() if v is not None}


def _default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _finite(o):
    """`o` with every NaN and infinity as None. JSON has neither (Python's
    json writes tokens no parser takes), and a spectrum in dB of a silent
    input is -inf: the page draws null as a gap (docs/HANDLERS.md)."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, np.ndarray):
        if o.dtype.kind in "fc":
            bad = ~np.isfinite(o)
            if bad.any():
                o = o.astype(object)
                o[bad] = None
        return o.tolist()
    if isinstance(o, np.generic):
        return _finite(o.item())
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o


def _json(data):
    try:
        return json.dumps(data, default=_default, allow_nan=False)
    except ValueError:  # a NaN or an infinity somewhere: the slower walk
        return json.dumps(_finite(data), default=_default, allow_nan=False)


class DataHandler:
    """A tab in every dashboard page; send_data(data) updates it."""

    def __init__(self, name, type, parameters):
        for what, text, most in (("name", name, _NAME_MAX), ("type", type, _TYPE_MAX)):
            try:
                n = len(str(text).encode())
            except UnicodeEncodeError:
                raise ValueError(f"add_handler: a handler's {what} must be text that "
                                 f"UTF-8 can hold, not {text!r}") from None
            if n > most or (what == "type" and n == 0):
                size = f"1 to {most}" if what == "type" else f"at most {most}"
                raise ValueError(f"add_handler: a handler's {what} is {size} bytes of "
                                 f"UTF-8, not {n}: {str(text)[:40]!r}")
        self.name, self.type = name, type
        self.parameters = _parameters(type, parameters)
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

    def send_data(self, data, tick=None):
        """Small data as JSON (numpy arrays allowed; NaN and infinities go as
        null, drawn as gaps); before start() it waits.
        `tick`: the device tick it belongs to (the page's latency badge);
        from a handle_data callback, that buffer's by default."""
        if self._h is None:
            self._pending.append(data)
            return
        if tick is None:
            tick = getattr(_data_tick, "tick", 0)
        L.clear()
        L.check(L.lib.rill_dash_send_json(self._h, _json(data).encode(), int(tick)),
                f"send_data to {self.name}")

    def remove(self):
        h, self._h = self._h, None
        if h:
            L.lib.rill_dash_remove_handler(h)
        with _lock:
            if self in _handlers:
                _handlers.remove(self)


def add_handler(name, type, parameters=None):
    """Create a data handler (EasyDSP's types and rill's, docs/HANDLERS.md)."""
    h = DataHandler(name, type, parameters)
    with _lock:
        if _dash is not None:
            h._create()  # a refused handler raises, and is not kept
        _handlers.append(h)
    return h


_audio_out = None


def send_audio(buffer):
    """Play int16 frames (buffer_frames x channels, or flat) in the page's
    audio player tab (created on first use, at the input's rate). From a
    handle_data callback the frames carry that buffer's tick."""
    global _audio_out
    a = np.asarray(buffer)
    if a.dtype != np.int16:
        a = np.clip(np.rint(a), -32768, 32767).astype(np.int16)
    a = np.ascontiguousarray(a)
    ch = a.shape[1] if a.ndim == 2 else channels
    if ch < 1 or a.size % ch:
        raise ValueError(f"send_audio: {a.size} samples are not whole frames of {ch} channels")
    params = {"rate": rate, "channels": ch}
    if _audio_out is not None and _audio_out.parameters != params:
        _audio_out.remove()  # the input's configuration changed: a new player
        _audio_out = None
    if _audio_out is None:
        _audio_out = add_handler("Audio output", "audio", params)
    if _audio_out._h is None:
        raise RillConnectionError(L.ECLOSED, "", "send_audio before start()")
    L.clear()
    L.check(L.lib.rill_dash_send_pcm16(_audio_out._h, a.ctypes.data, a.size // ch, ch,
                                       getattr(_data_tick, "tick", 0)), "send_audio")


# ---- Receiving -------------------------------------------------------------------


def _number(x):
    return int(x) if float(x).is_integer() else float(x)


def _set_config(a):
    global rate, channels, buffer_frames, volume, valid_rates, valid_num_channels
    rate = _number(a.rate)
    channels = int(a.channels)
    buffer_frames = int(a.buffer_frames)
    volume = _number(a.volume) if a.volume >= 0 else volume
    # What change_config may ask for; a fixed field offers only its value.
    valid_rates = ([_number(a.rates[i]) for i in range(a.n_rates)] if a.n_rates
                   else [rate])
    valid_num_channels = (list(range(a.min_channels, a.max_channels + 1))
                          if a.max_channels else [channels])


def _on_config(_dash, ap, _user):
    global _applied
    if not ap:
        return
    _set_config(ap.contents)
    with _lock:
        for r in _recordings:
            r[2] = []
    fn = _callable(when_new_config)
    if fn is not None:
        _call(fn, buffer_frames, rate, channels, volume)
    with _config_seen:
        _applied = _key(ap.contents)
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
            if n * 1000.0 / rate >= r[0]:
                done.append(r)
        for r in done:
            _recordings.remove(r)
    _data_tick.tick = tick
    try:
        for r in done:
            _call(r[1], np.concatenate(r[2]))
        fn = _callable(handle_data)
        if fn is not None:
            _call(fn, out)
    finally:
        _data_tick.tick = 0


def _on_error(_dash, err, msg, _user):
    log.warning("rill: dashboard: %s", msg.decode("utf-8", "replace") if msg else err)


_cbs = (_DATA_FN(_on_data), _CONFIG_FN(_on_config), _ERROR_FN(_on_error))

# ---- Delivering: one thread at a time polls --------------------------------------


def _begin_poll():
    global _poller
    me = threading.current_thread()
    with _poll_state:
        while _poller is not None and _poller is not me:
            _poll_state.wait()
        _poller = me


def _end_poll():
    global _poller, _close_after_poll
    with _poll_state:
        _poller = None
        close, _close_after_poll = _close_after_poll, False
        _poll_state.notify_all()
    if close:
        _close()


def _poll_until(done, timeout=None):
    """Poll on this thread until done() or the connection ends or stop()."""
    end = None if timeout is None else time.monotonic() + timeout
    _begin_poll()
    try:
        while not done() and not _stop.is_set() and _dash is not None:
            if end is not None and time.monotonic() >= end:
                return
            if L.lib.rill_dash_poll(_dash, 50) == L.ECLOSED:
                _stop.set()
                return
    finally:
        _end_poll()


def _run():
    _poll_until(_handover.is_set)


def start():
    """Connect to the dashboard's server; the variables (rate, channels,
    buffer_frames, volume, valid_rates, valid_num_channels) have the
    device's values when it returns. Callbacks start on this module's thread
    (see loop_callbacks)."""
    global _dash, _thread, _applied
    if not _HAVE_DASH:
        raise NotImplementedError("this librill has no dashboard API (include/rill/dash.h)")
    if _dash is not None:
        return
    cfg = L.lib.rill_dash_config_default()
    u = _url().encode()
    tok = token or os.environ.get("RILL_TOKEN")
    tok = tok.encode() if tok else None
    cfg.url, cfg.token = u, tok
    cfg.on_data, cfg.on_config, cfg.on_error = _cbs
    h = ctypes.c_void_p()
    L.clear()
    rc = L.lib.rill_dash_connect(ctypes.byref(cfg), ctypes.byref(h))
    if rc < 0:
        raise RillConnectionError(rc, L.last_message(), f"browserinterface: connect to {_url()}")
    _dash = h
    with _config_seen:
        _applied = None
    a = L.AudioDesc()
    if L.lib.rill_dash_get_audio(h, ctypes.byref(a)) == 0:
        _set_config(a)
    with _lock:
        for hd in _handlers:
            if hd._h is None:
                hd._create()
    _stop.clear()
    _handover.clear()
    _thread = threading.Thread(target=_run, name="rill-browserinterface")
    _thread.start()


def loop_callbacks():
    """Run every callback on this thread (EasyDSP: the main thread) from now
    on, until the connection closes or stop() is called (EasyDSP: for ever).
    Callbacks this module's thread ran before stay run; none is lost or run
    twice."""
    global _thread
    if _dash is None:
        raise RillConnectionError(L.ECLOSED, "", "loop_callbacks before start()")
    me = threading.current_thread()
    if me is _thread:
        raise RuntimeError("loop_callbacks called from a callback: callbacks already "
                           "run on this thread")
    with _poll_state:
        if _poller is me:
            raise RuntimeError("loop_callbacks is already running on this thread")
    t = _thread
    if t is not None:
        _handover.set()
        t.join()
        _thread = None
    _poll_until(lambda: False)


def stop():
    """Disconnect: the handlers' tabs go away from every page, and
    loop_callbacks() returns. From a callback, the connection closes as soon
    as the callback returns."""
    global _close_after_poll
    _stop.set()
    me = threading.current_thread()
    with _poll_state:
        if _poller is me:
            _close_after_poll = True  # inside rill_dash_poll: close after it
            return
        _poll_state.wait_for(lambda: _poller is None, timeout=5)
    _close()


def _close():
    global _dash, _thread, _audio_out
    t = _thread
    if t is not None and t is not threading.current_thread():
        t.join(5)
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
    _report.flush()


import atexit  # noqa: E402

atexit.register(stop)
