"""The ctypes layer: finds librill, declares the C API this package uses,
and turns negative return codes into RillError exceptions.

Nothing here is compiled: librill.so is loaded at import time. Every
function used is declared with its argtypes and restype so that ctypes
never guesses an int where the C side takes a size_t or a pointer.

Where the library comes from, in order:
  1. $RILL_LIB: the path of librill.so, or a directory holding it;
  2. a build tree around this package: <repo>/build/src/librill.so (the
     CMake default), or librill.so beside this file;
  3. the system: ctypes.util.find_library("rill"), then the dynamic
     loader's own search (ldconfig cache, LD_LIBRARY_PATH).
"""

import ctypes
import ctypes.util
import logging
import os
import threading

log = logging.getLogger("rill")

# ---- Finding and loading the library --------------------------------------


def _candidates():
    env = os.environ.get("RILL_LIB")
    if env:
        if os.path.isdir(env):
            yield os.path.join(env, "librill.so")
        else:
            yield env
        return  # an explicit choice is never second-guessed
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "librill.so")
    repo = os.path.dirname(os.path.dirname(here))
    for build in ("build", "build-py"):
        yield os.path.join(repo, build, "src", "librill.so")
    found = ctypes.util.find_library("rill")
    if found:
        yield found
    yield "librill.so"  # the loader's own search path


def _load():
    tried = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            tried.append(f"{path} (no such file)")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"{path} ({e})")
    raise ImportError(
        "rill: cannot load librill.so; tried:\n  " + "\n  ".join(tried) +
        "\nBuild it (cmake -S . -B build && cmake --build build), install it "
        "(make install), or set RILL_LIB to its path.")


lib, path = _load()

# ---- Errors -----------------------------------------------------------------

lib.rill_strerror.argtypes = [ctypes.c_int]
lib.rill_strerror.restype = ctypes.c_char_p
lib.rill_err_name.argtypes = [ctypes.c_int]
lib.rill_err_name.restype = ctypes.c_char_p
lib.rill_version_string.argtypes = []
lib.rill_version_string.restype = ctypes.c_char_p

EINVAL, ETIMEOUT, EEMPTY, EFULL = -2, -7, -5, -4
ENOTFOUND, ECLOSED, EREFUSED, ENOTSUP, ECANCELED = -9, -12, -16, -17, -21
EIO, ESTATE, EPROTO = -8, -19, -13


class RillError(Exception):
    """A librill call failed. `code` is the negative RILL_E... value,
    `name` its symbol ("RILL_ETIMEOUT"), `message` the sentence librill
    logged about it on this thread (may be empty)."""

    def __init__(self, code, message="", what=""):
        self.code = code
        self.name = lib.rill_err_name(code).decode()
        self.message = message or ""
        # librill's sentence says more than the code's: it leads when
        # there is one (the code's own words otherwise), the symbol last.
        text = f"{self.message or lib.rill_strerror(code).decode()} [{self.name}]"
        if what:
            text = f"{what}: {text}"
        super().__init__(text)


class RillTimeoutError(RillError, TimeoutError):
    pass


class RillNotFoundError(RillError, LookupError):
    pass


class RillConnectionError(RillError, ConnectionError):
    pass


class RillValueError(RillError, ValueError):
    pass


_CLASSES = {ETIMEOUT: RillTimeoutError, ENOTFOUND: RillNotFoundError,
            ECLOSED: RillConnectionError, EREFUSED: RillConnectionError,
            -18: RillConnectionError, EINVAL: RillValueError, -3: RillValueError,
            -15: RillValueError}


# ---- Log capture -------------------------------------------------------------
# librill never prints: its reasons go to one process-wide callback. We keep
# the last message of each thread, so an error raised on the calling thread
# carries the sentence logged for it, and forward everything to the
# "rill.c" logger at DEBUG level.

LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
lib.rill_set_log_callback.argtypes = [LOG_FN, ctypes.c_int, ctypes.c_void_p]
lib.rill_set_log_callback.restype = None

_tls = threading.local()
_clog = logging.getLogger("rill.c")


def _on_log(level, msg, _user):
    try:
        text = msg.decode("utf-8", "replace")
        _tls.last = text
        _clog.debug("%s", text)
    except Exception:  # never let an exception cross into C
        pass


_log_cb = LOG_FN(_on_log)  # kept alive for the life of the process
lib.rill_set_log_callback(_log_cb, 2, None)  # up to RILL_LOG_INFO


def _unhook():
    lib.rill_set_log_callback(LOG_FN(), 0, None)


import atexit  # noqa: E402

atexit.register(_unhook)


def last_message():
    return getattr(_tls, "last", "")


def check(rc, what=""):
    """Raise the RillError for a negative return code; return rc otherwise."""
    if rc < 0:
        msg = getattr(_tls, "last", "")
        _tls.last = ""
        raise _CLASSES.get(rc, RillError)(rc, msg, what)
    return rc


def clear():
    _tls.last = ""


# ---- Types ----------------------------------------------------------------------

c_size = ctypes.c_size_t
c_u32, c_u64, c_int, c_bool, c_double = (ctypes.c_uint32, ctypes.c_uint64,
                                         ctypes.c_int, ctypes.c_bool,
                                         ctypes.c_double)
c_char_p, c_void_p = ctypes.c_char_p, ctypes.c_void_p
P = ctypes.POINTER

TYPE_LETTERS = {0: "c", 1: "i", 2: "j", 3: "f", 4: "d"}
LETTER_TYPES = {v: k for k, v in TYPE_LETTERS.items()}
TYPE_SIZES = {0: 1, 1: 4, 2: 4, 3: 4, 4: 8}
# numpy dtype strings, native order (librill hands values in host order).
TYPE_DTYPES = {0: "u1", 1: "=i4", 2: "=u4", 3: "=f4", 4: "=f8"}

lib.rill_clock_now_ns.argtypes = []
lib.rill_clock_now_ns.restype = c_u64


# ---- Client (include/rill/client.h) ----------------------------------------


class ClientBuffer(ctypes.Structure):
    _fields_ = [("name", c_char_p), ("var_id", c_u32), ("type", c_int),
                ("mode", c_int), ("first_ts", c_u64), ("count", c_size),
                ("values", c_void_p), ("rel", P(c_u32)), ("dropped", c_u32),
                ("last", c_bool)]


class ClientBlock(ctypes.Structure):
    _fields_ = [("first_ts", c_u64), ("ticks", c_u64), ("n", c_size),
                ("buffers", P(ClientBuffer))]


# Every callback gets its client first (rill_client *).
BUFFER_FN = ctypes.CFUNCTYPE(None, c_void_p, P(ClientBuffer), c_void_p)
BLOCK_FN = ctypes.CFUNCTYPE(None, c_void_p, P(ClientBlock), c_void_p)
MONITOR_FN = ctypes.CFUNCTYPE(None, c_void_p, c_char_p, c_u64, c_double, c_void_p)
ERROR_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_char_p, c_void_p)
DONE_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_void_p)
TEXT_FN = ctypes.CFUNCTYPE(None, c_void_p, c_void_p, c_size, c_void_p)


class ClientEvent(ctypes.Structure):
    _fields_ = [("kind", c_int), ("msg", c_char_p), ("name", c_char_p),
                ("var_id", c_u32), ("first", c_u64), ("ticks", c_u64),
                ("resumed", c_u64), ("restarted", c_bool), ("file", c_char_p),
                ("buffers", c_u64), ("attempts", c_u32)]


EVENT_FN = ctypes.CFUNCTYPE(None, c_void_p, P(ClientEvent), c_void_p)
EVENT_LOST, EVENT_RECONNECTED, EVENT_GAP, EVENT_LOG_DROPPED = 1, 2, 3, 4
EVENT_KINDS = {EVENT_LOST: "lost", EVENT_RECONNECTED: "reconnected",
               EVENT_GAP: "gap", EVENT_LOG_DROPPED: "log-dropped"}


class ClientPolled(ctypes.Structure):
    """rill_client_poll_batch's records (a queued callback's arguments)."""
    _fields_ = [("kind", c_int), ("err", c_int), ("buffer", ClientBuffer),
                ("block", ClientBlock), ("value", c_double), ("msg", c_void_p),
                ("done", c_void_p), ("done_user", c_void_p), ("event", ClientEvent)]


POLLED_BUFFER, POLLED_BLOCK, POLLED_MONITOR, POLLED_ERROR, POLLED_DONE, POLLED_EVENT = \
    1, 2, 3, 4, 5, 6


# rill_client_config gained on_text together with rill_client_send_message
# (the dashboard's change), and keepalive, reconnect and on_event together
# with rill_client_get_stats: follow the library actually loaded, so this
# package works with librill from before and after them.
_HAS_ON_TEXT = hasattr(lib, "rill_client_send_message")
HAS_RECONNECT = hasattr(lib, "rill_client_get_stats")
# ... and send_queue_bytes at their end with rill_client_send_dropped (the
# bounded send queue of issue 14).
_HAS_SEND_QUEUE = HAS_RECONNECT and hasattr(lib, "rill_client_send_dropped")


class ClientConfig(ctypes.Structure):
    _fields_ = ([("url", c_char_p), ("token", c_char_p), ("timeout_ms", c_int),
                 ("mode", c_int), ("on_buffer", BUFFER_FN), ("on_block", BLOCK_FN),
                 ("on_monitor", MONITOR_FN), ("on_error", ERROR_FN)] +
                ([("on_text", TEXT_FN)] if _HAS_ON_TEXT else []) +
                [("user", c_void_p), ("poll", c_bool), ("poll_bytes", c_size)] +
                ([("keepalive_ms", c_int), ("reconnect", c_bool),
                  ("reconnect_ms", c_int), ("on_event", EVENT_FN)]
                 if HAS_RECONNECT else []) +
                ([("send_queue_bytes", c_size)] if _HAS_SEND_QUEUE else []) +
                [("control_path", c_char_p), ("data_path", c_char_p),
                 ("busy_poll_us", c_int)])


CLIENT_BUSY_POLL_MAX_US = 1000000


class ClientStats(ctypes.Structure):
    _fields_ = [("dropped", c_u64), ("reconnects", c_u64), ("gaps", c_u64),
                ("gap_ticks", c_u64), ("log_dropped", c_u64), ("connected", c_bool)]


class ClientVarStats(ctypes.Structure):
    _fields_ = [("gaps", c_u64), ("gap_ticks", c_u64), ("log_dropped", c_u64)]


def set_reconnect(cfg, reconnect, on_event, reconnect_ms=0):
    """Ask a ClientConfig for reconnection (rill_client_config.reconnect:
    streams and monitors resumed, each gap reported) and route events to
    `on_event`, an EVENT_FN the caller keeps alive. False when the librill
    loaded predates reconnection (then asking for it raises)."""
    if not HAS_RECONNECT:
        if reconnect:
            raise RillError(-17, "this librill cannot reconnect (too old)", "reconnect")
        return False
    cfg.reconnect = bool(reconnect)
    cfg.reconnect_ms = int(reconnect_ms)
    cfg.on_event = on_event
    return True


def event_dict(ev):
    """A rill_client_event as a dict: kind ("lost", "reconnected", "gap",
    "log-dropped"), message, and per kind variable, first, ticks, resumed,
    restarted (gap), file, buffers (log-dropped), attempts (reconnected)."""
    d = {"kind": EVENT_KINDS.get(ev.kind, str(ev.kind)),
         "message": (ev.msg or b"").decode("utf-8", "replace")}
    if ev.kind in (EVENT_GAP, EVENT_LOG_DROPPED):
        d["variable"] = (ev.name or b"").decode()
    if ev.kind == EVENT_GAP:
        d.update(first=int(ev.first), ticks=int(ev.ticks), resumed=int(ev.resumed),
                 restarted=bool(ev.restarted))
    if ev.kind == EVENT_LOG_DROPPED:
        d.update(file=(ev.file or b"").decode(), buffers=int(ev.buffers))
    if ev.kind == EVENT_RECONNECTED:
        d["attempts"] = int(ev.attempts)
    return d


class ClientVar(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * 64), ("id", c_u32), ("type", c_int),
                ("mode", c_int), ("length", c_u32), ("watched", c_bool),
                ("logged", c_bool), ("controlled", c_bool), ("monitor", c_u32),
                ("value", c_double), ("log_file_name", ctypes.c_char * 96)]


class ClientList(ctypes.Structure):
    _fields_ = [("sample_rate", c_double), ("timestamp", c_u64),
                ("n_vars", c_size), ("vars", P(ClientVar))]


class StreamOpts(ctypes.Structure):
    _fields_ = [("start", c_u64), ("duration", c_u64), ("length", c_u32),
                ("block", c_u32)]


class LogFile(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * 96)]


# ---- The device's audio (include/rill/watch.h) -------------------------------

AUDIO_MAX_CHANNELS, AUDIO_MAX_RATES, VAR_NAME_MAX = 64, 32, 64


class AudioDesc(ctypes.Structure):
    _fields_ = [("rate", c_double), ("buffer_frames", c_u32), ("volume", c_double),
                ("channels", c_size),
                ("variables", (ctypes.c_char * VAR_NAME_MAX) * AUDIO_MAX_CHANNELS),
                ("rates", c_double * AUDIO_MAX_RATES), ("n_rates", c_size),
                ("min_channels", c_size), ("max_channels", c_size),
                ("buffer_frames_settable", c_bool), ("volume_settable", c_bool)]


def _decl(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)


Client = c_void_p
NAMES = P(c_char_p)

_decl("rill_client_config_default", ClientConfig)
_decl("rill_client_connect", c_int, P(ClientConfig), P(c_void_p))
_decl("rill_client_destroy", None, Client)
_decl("rill_client_native", c_bool, Client)
_decl("rill_client_poll", c_int, Client, c_int)
_decl("rill_client_poll_batch", c_int, Client, c_int, P(ClientPolled), c_size, c_void_p,
      c_size)
_decl("rill_client_dropped", c_u64, Client)
_decl("rill_client_list_vars", c_int, Client, P(P(ClientList)))
_decl("rill_client_list_free", None, P(ClientList))
_decl("rill_client_get_audio", c_int, Client, P(AudioDesc))
_decl("rill_client_stream_start", c_int, Client, NAMES, c_size, P(StreamOpts))
_decl("rill_client_stream_stop", c_int, Client, NAMES, c_size)
_decl("rill_client_stream_n_values", c_int, Client, NAMES, c_size, c_size,
      P(P(c_double)), P(P(c_u64)))
_decl("rill_client_monitor_n_values", c_int, Client, NAMES, c_size, c_u32,
      c_size, P(P(c_double)), P(P(c_u64)))
_decl("rill_client_free", None, c_void_p)
_decl("rill_client_schedule", c_int, Client, NAMES, c_size, c_u64, c_u64,
      DONE_FN, c_void_p)
_decl("rill_client_wait", c_int, Client, c_int)
_decl("rill_client_log_start", c_int, Client, NAMES, c_size, P(StreamOpts),
      P(LogFile))
_decl("rill_client_log_stop", c_int, Client, NAMES, c_size)
_decl("rill_client_fetch", c_int, Client, c_char_p, c_char_p, c_int)
_decl("rill_client_monitor", c_int, Client, NAMES, c_size, c_u32)
_decl("rill_client_peek", c_int, Client, c_char_p, P(c_double), P(c_u64))
_decl("rill_client_control", c_int, Client, c_char_p, c_bool)
_decl("rill_client_set", c_int, Client, c_char_p, c_double)
_decl("rill_client_set_mask", c_int, Client, c_char_p, c_u32, c_u32)
_decl("rill_client_send_buffer", c_int, Client, c_u32, c_int, c_void_p, c_size)
if _HAS_ON_TEXT:
    _decl("rill_client_send_message", c_int, Client, c_bool, c_void_p, c_size, c_void_p,
          c_size)
if _HAS_SEND_QUEUE:
    _decl("rill_client_send_dropped", c_u64, Client)
if HAS_RECONNECT:
    _decl("rill_client_get_stats", None, Client, P(ClientStats))
    _decl("rill_client_get_var_stats", c_int, Client, c_char_p, P(ClientVarStats))


def client_stats(cl):
    """rill_client_get_stats as a dict."""
    s = ClientStats()
    lib.rill_client_get_stats(cl, ctypes.byref(s))
    return {f: (bool(getattr(s, f)) if f == "connected" else int(getattr(s, f)))
            for f, _ in ClientStats._fields_}


def names_array(names):
    """A C array of `const char *` for a list of str (keep the result alive
    for the call)."""
    arr = (c_char_p * max(1, len(names)))()
    for i, n in enumerate(names):
        arr[i] = n.encode()
    return arr


# ---- Files (include/rill/file.h) -------------------------------------------


class FileInfo(ctypes.Structure):
    _fields_ = [("var_name", c_char_p), ("type", c_int), ("mode", c_int),
                ("sample_rate", c_double)]


class FileBuffer(ctypes.Structure):
    _fields_ = [("first_ts", c_u64), ("count", c_size),
                ("values", P(c_double)), ("timestamps", P(c_u64))]


FORMAT_JSONL = 4
_decl("rill_file_writer_create", c_int, c_char_p, c_int, P(FileInfo), P(c_void_p))
_decl("rill_file_writer_write", c_int, c_void_p, c_u64, c_void_p, c_size, P(c_u32))
_decl("rill_file_writer_close", c_int, c_void_p)
_decl("rill_file_reader_open", c_int, c_char_p, c_int, P(c_void_p))
_decl("rill_file_reader_get_info", c_int, c_void_p, P(FileInfo))
_decl("rill_file_reader_next", c_int, c_void_p, P(FileBuffer))
_decl("rill_file_reader_close", None, c_void_p)


# ---- Audio (include/rill/audio.h) ------------------------------------------


class AudioConfig(ctypes.Structure):
    _fields_ = [("backend", c_char_p), ("device", c_char_p), ("name", c_char_p),
                ("rate", c_u32), ("channels", c_u32), ("format", c_int),
                ("buffer_frames", c_u32), ("periods", c_u32),
                ("connect", c_char_p), ("realtime", c_bool),
                ("max_frames", c_u64), ("loop", c_bool), ("max_sources", c_u32),
                ("delivery", c_int), ("ring_blocks", c_u32),
                ("err", c_void_p), ("err_size", c_size)]


class AudioInfo(ctypes.Structure):
    _fields_ = [("backend", c_char_p), ("device", c_char_p), ("name", c_char_p),
                ("rate", c_u32), ("channels", c_u32), ("format", c_int),
                ("buffer_frames", c_u32), ("latency_frames", c_u32),
                ("device_format", c_int)]


class AudioStats(ctypes.Structure):
    _fields_ = [("frames", c_u64), ("blocks", c_u64), ("xruns", c_u64),
                ("dropped", c_u64), ("origin", c_u64), ("started", c_bool),
                ("done", c_bool), ("failed", c_bool)]


class SourceStats(ctypes.Structure):
    _fields_ = [("frames", c_u64), ("underruns", c_u64), ("silent_frames", c_u64)]


class SampleConfig(ctypes.Structure):
    _fields_ = [("format", c_int), ("channels", c_u32), ("ring_frames", c_u32),
                ("prebuffer_frames", c_u32)]


# The source first (rill_audio_source *), then the chunk to fill.
THREAD_FN = ctypes.CFUNCTYPE(ctypes.c_long, c_void_p, c_void_p, c_size, c_void_p)
INPUT_FN = ctypes.CFUNCTYPE(None, c_void_p, c_void_p, c_size, c_u64, c_void_p)
NAME_FN = ctypes.CFUNCTYPE(None, c_char_p, c_void_p)


class ThreadConfig(ctypes.Structure):
    _fields_ = [("fn", THREAD_FN), ("user", c_void_p), ("format", c_int),
                ("channels", c_u32), ("chunk_frames", c_u32),
                ("ring_frames", c_u32)]


AUDIO_S8, AUDIO_S16, AUDIO_S32, AUDIO_F32 = 1, 2, 3, 4
DELIVER_THREAD, DELIVER_POLL = 0, 1

_decl("rill_audio_config_default", AudioConfig)
_decl("rill_audio_backend_name", c_char_p, c_size)
_decl("rill_audio_list_inputs", c_int, c_char_p, c_char_p, NAME_FN, c_void_p)
_decl("rill_audio_format_size", c_size, c_int)
_decl("rill_audio_output_open", c_int, P(AudioConfig), P(c_void_p))
_decl("rill_audio_output_close", None, c_void_p)
_decl("rill_audio_output_start", c_int, c_void_p)
_decl("rill_audio_output_stop", c_int, c_void_p)
_decl("rill_audio_output_get_info", None, c_void_p, P(AudioInfo))
_decl("rill_audio_output_get_stats", None, c_void_p, P(AudioStats))
_decl("rill_audio_output_wait", c_int, c_void_p, c_int)
_decl("rill_audio_output_add", c_int, c_void_p, c_void_p)
_decl("rill_audio_output_remove", c_int, c_void_p, c_void_p)
_decl("rill_audio_source_destroy", None, c_void_p)
_decl("rill_audio_source_play", c_int, c_void_p)
_decl("rill_audio_source_stop", c_int, c_void_p)
_decl("rill_audio_source_playing", c_bool, c_void_p)
_decl("rill_audio_source_get_stats", None, c_void_p, P(SourceStats))
_decl("rill_audio_sample_config_default", SampleConfig)
_decl("rill_audio_sample_create", c_int, c_void_p, P(SampleConfig), P(c_void_p))
_decl("rill_audio_sample_write", c_int, c_void_p, c_void_p, c_size, c_int, P(c_size))
_decl("rill_audio_sample_writable", c_size, c_void_p)
_decl("rill_audio_thread_config_default", ThreadConfig)
_decl("rill_audio_thread_source_create", c_int, c_void_p, P(ThreadConfig),
      P(c_void_p))
_decl("rill_audio_thread_source_finished", c_bool, c_void_p)
_decl("rill_audio_sine_create", c_int, c_void_p, c_double, c_double, P(c_void_p))
_decl("rill_audio_sine_set", c_int, c_void_p, c_double, c_double)
_decl("rill_audio_pd_create", c_int, c_void_p, c_char_p, c_char_p, c_char_p,
      P(c_void_p))
_decl("rill_audio_pd_send", c_int, c_void_p, c_char_p, c_char_p)
_decl("rill_audio_input_open", c_int, P(AudioConfig), INPUT_FN, c_void_p,
      P(c_void_p))
_decl("rill_audio_input_close", None, c_void_p)
_decl("rill_audio_input_start", c_int, c_void_p)
_decl("rill_audio_input_stop", c_int, c_void_p)
_decl("rill_audio_input_poll", c_int, c_void_p, c_size)
_decl("rill_audio_input_get_info", None, c_void_p, P(AudioInfo))
_decl("rill_audio_input_get_stats", None, c_void_p, P(AudioStats))
_decl("rill_audio_input_wait", c_int, c_void_p, c_int)


def version():
    return lib.rill_version_string().decode()
