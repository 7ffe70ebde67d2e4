"""audiostream.core on rill's audio engine (include/rill/audio.h): outputs
with a mixer, samples the program writes into, and inputs.

Names, arguments and defaults are kivy audiostream's. Every function also
takes the engine's choice of backend: `backend` ("jack", "alsa", "file",
"dummy"; None tries them in that order, or $RILL_AUDIO_BACKEND) and
`device` (ALSA PCM, file path, JACK server name; or $RILL_AUDIO_DEVICE);
other rill_audio_config fields (realtime, max_frames, loop, connect, name,
periods, max_sources, ring_blocks) may be given as keywords too.
"""

import atexit
import ctypes
import logging
import math
import numbers
import os
import threading
import time
import traceback
import weakref

from .. import _lib as L
from .. import _report
from .._lib import RillError

log = logging.getLogger("rill")

__all__ = ("get_output", "get_input", "get_input_sources", "AudioOutput",
           "AudioInput", "AudioSample", "AudioException")

_OPEN = weakref.WeakSet()


def _close_all():
    # Before the interpreter goes away, stop every engine thread that could
    # still call into Python (input callbacks) and every thread source.
    for x in list(_OPEN):
        try:
            x.close()
        except Exception:
            pass


atexit.register(_close_all)


class AudioException(RillError):
    """An audio device or source failed (audiostream's AudioException)."""


# audiostream's encodings are 8 and 16 (bits); rill also takes 32 and "f32".
_ENCODINGS = {8: L.AUDIO_S8, 16: L.AUDIO_S16, 32: L.AUDIO_S32, "f32": L.AUDIO_F32,
              "float": L.AUDIO_F32}
_ENCODING_OF = {L.AUDIO_S8: 8, L.AUDIO_S16: 16, L.AUDIO_S32: 32, L.AUDIO_F32: "f32"}
_CFG_FIELDS = ("name", "connect", "realtime", "max_frames", "loop", "periods",
               "max_sources", "ring_blocks")


def _check(rc, what):
    if rc < 0:
        msg = L.last_message()
        L.clear()
        raise AudioException(rc, msg, what)
    return rc


def _wait(fn, h, timeout, what):
    if h is None:
        raise AudioException(L.EINVAL, "it is closed", what)
    ms = -1 if timeout is None else max(0, math.ceil(timeout * 1000))
    L.clear()
    rc = fn(h, ms)
    if rc == L.ETIMEOUT:
        return False
    _check(rc, what)
    return True


def _check_args(who, rate, channels, encoding, buffersize, buffersize_min):
    """audiostream's checks (encoding 8 or 16, channels >= 1, a buffer size
    it can use), as ValueError/TypeError naming the argument."""
    if encoding not in _ENCODINGS or isinstance(encoding, bool):
        raise ValueError(f"{who}: encoding must be 8 or 16 (bits per sample; rill also "
                         f"takes 32 and 'f32'), not {encoding!r}")
    for name, v, lo in (("rate", rate, 1), ("channels", channels, 1),
                        ("buffersize", buffersize, buffersize_min)):
        if not isinstance(v, numbers.Integral) or isinstance(v, bool):
            raise TypeError(f"{who}: {name} must be an integer, not {v!r}")
        if v < lo:
            raise ValueError(f"{who}: {name} must be at least {lo}, not {v}")
    if channels > 64:
        raise ValueError(f"{who}: channels must be at most 64, not {channels}")


def backend_names():
    out, i = [], 0
    while True:
        n = L.lib.rill_audio_backend_name(i)
        if not n:
            return out
        out.append(n.decode())
        i += 1


def _backend_device(source, backend, device):
    """'alsa:hw:0' / 'jack' / 'file:x.wav' / 'dummy' as a source name."""
    if backend is None and source and source != "default":
        head, _, rest = source.partition(":")
        if head in backend_names():
            return head, (rest or device)
    if device is None and source and source != "default":
        device = source
    return backend, device


def _config(rate, channels, encoding, frames, backend, device, options):
    cfg = L.lib.rill_audio_config_default()
    keep = []

    def s(x):
        if x is None:
            return None
        b = str(x).encode()
        keep.append(b)
        return b

    # $RILL_AUDIO_BACKEND / $RILL_AUDIO_DEVICE choose for code that names
    # neither (audiostream's own examples), e.g. dummy or file on a server.
    if backend is None:
        backend = os.environ.get("RILL_AUDIO_BACKEND") or None
        if device is None:
            device = os.environ.get("RILL_AUDIO_DEVICE") or None
    cfg.backend = s(backend)
    cfg.device = s(device)
    cfg.rate = int(rate)
    cfg.channels = int(channels)
    cfg.format = _ENCODINGS[encoding]
    if frames and frames > 0:
        cfg.buffer_frames = int(frames)
    for k, v in options.items():
        if k not in _CFG_FIELDS:
            raise TypeError(f"unknown option {k!r} (the engine's are {', '.join(_CFG_FIELDS)})")
        setattr(cfg, k, s(v) if k in ("name", "connect") else v)
    err = ctypes.create_string_buffer(512)
    keep.append(err)
    cfg.err = ctypes.cast(err, ctypes.c_void_p)
    cfg.err_size = 512
    return cfg, keep, err


def _info(fn, h):
    i = L.AudioInfo()
    fn(h, ctypes.byref(i))
    return i


# ---- Output --------------------------------------------------------------------


class AudioOutput:
    """An open, running output and its mixer (get_output). rate, channels,
    buffersize (frames per device buffer) and encoding are read-only and
    are what the device gave."""

    def __init__(self, rate=44100, channels=2, buffersize=1024, encoding=16,
                 backend=None, device=None, **options):
        _check_args("AudioOutput", rate, channels, encoding, buffersize, 0)
        cfg, keep, err = _config(rate, channels, encoding, buffersize, backend, device,
                                 options)
        h = ctypes.c_void_p()
        L.clear()
        rc = L.lib.rill_audio_output_open(ctypes.byref(cfg), ctypes.byref(h))
        if rc < 0:
            raise AudioException(rc, err.value.decode() or L.last_message(),
                                 "AudioOutput: unable to initialize audio")
        self._h = h
        self._samples = []
        self._threads = weakref.WeakSet()  # thread sources writing to it
        _OPEN.add(self)
        info = _info(L.lib.rill_audio_output_get_info, h)
        self.backend = info.backend.decode()
        self.device = info.device.decode() if info.device else None
        self._rate = info.rate
        self._channels = info.channels
        self._buffersize = info.buffer_frames
        self._encoding = _ENCODING_OF.get(info.format, encoding)
        self._format = info.format
        self.frame_bytes = self._channels * L.lib.rill_audio_format_size(info.format)
        _check(L.lib.rill_audio_output_start(h), "start the output")

    rate = property(lambda self: self._rate, doc="frames per second (read-only)")
    channels = property(lambda self: self._channels, doc="channels (read-only)")
    buffersize = property(lambda self: self._buffersize,
                          doc="frames per device buffer (read-only)")
    encoding = property(lambda self: self._encoding, doc="8 or 16 bits (read-only)")

    def add_sample(self, sample):
        """Put a sample (or source) in the mixer; it plays once play()ed."""
        sample._attach(self)
        if sample not in self._samples:
            self._samples.append(sample)

    def remove_sample(self, sample):
        """Take it out of the mixer (returns once the audio thread let go).
        A source (ThreadSource...) stands for its .sample."""
        sample = getattr(sample, "sample", sample)
        if sample._src:
            rc = L.lib.rill_audio_output_remove(self._h, sample._src)
            if rc not in (0, L.ENOTFOUND):
                _check(rc, "remove_sample")
        if sample in self._samples:
            self._samples.remove(sample)

    def stats(self):
        st = L.AudioStats()
        L.lib.rill_audio_output_get_stats(self._h, ctypes.byref(st))
        return {k: getattr(st, k) for k, _ in L.AudioStats._fields_}

    def wait(self, timeout=None):
        """Wait for a file/dummy output opened with max_frames to finish:
        True when it has, False when `timeout` (seconds) ran out first.
        Raises AudioException when the device fails, and at once when no
        end can come without a timeout (not started; JACK, ALSA, no
        max_frames)."""
        return _wait(L.lib.rill_audio_output_wait, self._h, timeout, "wait")

    def close(self):
        """Stop the thread sources writing to it, stop and close the device;
        samples stay usable objects but silent."""
        h, self._h = self._h, None
        if h:
            for t in list(self._threads):
                t.stop()
            for t in list(self._threads):
                if t.is_alive() and t is not threading.current_thread():
                    t.join(2)
            for s in list(self._samples):
                s._detach()
            L.lib.rill_audio_output_close(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


_default_output = None


def get_output(rate=44100, channels=2, encoding=16, buffersize=1024, backend=None,
               device=None, **options):
    """Open (and start) an output. Returns an AudioOutput."""
    global _default_output
    out = AudioOutput(rate=rate, channels=channels, buffersize=buffersize,
                      encoding=encoding, backend=backend, device=device, **options)
    _default_output = out
    return out


# ---- Sources --------------------------------------------------------------------


class _Source:
    """A mixer source bound to one output."""

    _src = None
    stream = None

    def _create(self, out, h):
        raise NotImplementedError

    def _attach(self, out):
        if self._src is None:
            self.stream = out
            h = ctypes.c_void_p()
            L.clear()
            self._create(out, h)
            self._src = h
        if self.stream is not out:
            raise ValueError("this sample belongs to another output")
        rc = L.lib.rill_audio_output_add(out._h, self._src)
        if rc != -11:  # RILL_EBUSY: already in the mixer
            _check(rc, "add_sample")

    def _detach(self):
        src, self._src = self._src, None
        if src:
            L.lib.rill_audio_source_destroy(src)

    def _need(self):
        if self._src is None:
            out = self.stream or _default_output
            if out is None or not out._h:
                raise AudioException(L.ESTATE, "", "add the sample to an open output first "
                                     "(stream.add_sample(sample))")
            out.add_sample(self)
        return self._src

    def play(self):
        _check(L.lib.rill_audio_source_play(self._need()), "play")

    def stop(self):
        if self._src:
            _check(L.lib.rill_audio_source_stop(self._src), "stop")

    @property
    def playing(self):
        return bool(self._src and L.lib.rill_audio_source_playing(self._src))

    def stats(self):
        st = L.SourceStats()
        if self._src:
            L.lib.rill_audio_source_get_stats(self._src, ctypes.byref(st))
        return {"frames": st.frames, "underruns": st.underruns,
                "silent_frames": st.silent_frames}

    def __del__(self):
        try:
            self._detach()
        except Exception:
            pass


class AudioSample(_Source):
    """A voice the program writes frames into (in the output's encoding and
    channels, or `encoding` / mono `channels=1`). Underruns play silence
    and are counted (stats())."""

    def __init__(self, channels=0, prebuffer_frames=0, ring_frames=0, encoding=None):
        if encoding is not None and encoding not in _ENCODINGS:
            raise ValueError(f"AudioSample: encoding must be 8 or 16 (or 32, 'f32'), "
                             f"not {encoding!r}")
        self._cfg = (channels, prebuffer_frames, ring_frames, encoding)
        self._io = threading.Lock()  # a write in C and destroy never overlap
        self.index = 0

    def _create(self, out, h):
        c = L.lib.rill_audio_sample_config_default()
        ch, pre, ring, enc = self._cfg
        c.channels = ch
        c.prebuffer_frames = pre
        if ring:
            c.ring_frames = ring
        if enc is not None:
            c.format = _ENCODINGS[enc]
        _check(L.lib.rill_audio_sample_create(out._h, ctypes.byref(c), ctypes.byref(h)),
               "AudioSample")

    def _detach(self):
        with self._io:
            super()._detach()

    def write(self, chunk, timeout=None):
        """Queue `chunk` (bytes, bytearray, memoryview or a numpy array of
        whole frames). Blocks while the ring is full and playing (at most
        `timeout` seconds if given, then RillTimeoutError)."""
        if isinstance(chunk, str):  # audiostream's Python 2 examples write str
            chunk = chunk.encode("latin-1")
        try:
            mv = memoryview(chunk)
        except TypeError:
            raise TypeError(f"AudioSample.write takes bytes, a bytearray, a memoryview or "
                            f"a numpy array of whole frames, not {type(chunk).__name__}") \
                from None
        if not mv.c_contiguous:  # a strided view (a[::2], a channel of a 2-D array)
            mv = memoryview(mv.tobytes())
        mv = mv.cast("B")
        n = len(mv)
        if n == 0:
            return
        buf = (ctypes.c_char * n).from_buffer_copy(mv) if mv.readonly else \
            (ctypes.c_char * n).from_buffer(mv)
        ms = -1 if timeout is None else int(timeout * 1000)
        deadline = None if timeout is None else time.monotonic() + timeout
        base = ctypes.addressof(buf)
        off = 0
        written = ctypes.c_size_t()
        while True:
            with self._io:
                src = self._need()
                L.clear()
                rc = L.lib.rill_audio_sample_write(src, base + off, n - off, ms,
                                                   ctypes.byref(written))
            off += written.value
            # play() takes effect at the audio thread's next block: until
            # then the engine sees nothing draining the ring and answers
            # RILL_EFULL at once. While this sample is meant to play on a
            # running output, wait for the mixer instead, as audiostream does.
            if (rc == L.EFULL and self._playing and self.stream is not None
                    and self.stream._h and off < n
                    and (deadline is None or time.monotonic() < deadline)):
                time.sleep(0.002)
                continue
            L.check(rc, "AudioSample.write")
            return

    _playing = False

    def play(self):
        self.index = 0
        super().play()
        self._playing = True

    def stop(self):
        self._playing = False
        super().stop()


class _EngineSine(_Source):
    """The engine's sine (rill_audio_sine_*): computed on the audio thread,
    exact frequency, continuous phase."""

    def __init__(self, frequency, amplitude):
        self.frequency, self.amplitude = float(frequency), float(amplitude)

    @staticmethod
    def _scale(amplitude):
        # audiostream's peak (65535/pi)*amplitude in 16-bit units, as full scale.
        return max(0.0, min(1.0, amplitude)) * 65535.0 / math.pi / 32768.0

    def _create(self, out, h):
        _check(L.lib.rill_audio_sine_create(out._h, self.frequency,
                                            self._scale(self.amplitude), ctypes.byref(h)),
               "SineSource")

    def set(self, frequency, amplitude):
        self.frequency, self.amplitude = float(frequency), float(amplitude)
        if self._src:
            _check(L.lib.rill_audio_sine_set(self._src, self.frequency,
                                             self._scale(self.amplitude)), "frequency")


class _PdSource(_Source):
    """A Pure Data patch (rill_audio_pd_*): `pd -nogui -jack` mixed in."""

    def __init__(self, patchfile, jack_server, pd_path):
        self.patchfile, self._jack, self._pd = str(patchfile), jack_server, pd_path

    def _create(self, out, h):
        enc = (lambda x: x.encode() if x else None)
        _check(L.lib.rill_audio_pd_create(out._h, enc(self.patchfile), enc(self._jack),
                                          enc(self._pd), ctypes.byref(h)), "PatchSource")

    def send(self, receiver, message):
        if not self._src or not self.playing:
            raise AudioException(L.ESTATE, "", f"send to '{receiver}': start() the "
                                 "PatchSource first")
        L.clear()
        _check(L.lib.rill_audio_pd_send(self._src, receiver.encode(), message.encode()),
               f"send to '{receiver}'")


# ---- Input ---------------------------------------------------------------------

_DELIVERIES = ("auto", "thread", "poll")


class AudioInput:
    """Captured audio, handed to callback(bytes) in blocks of exactly
    `buffersize` bytes (audiostream's unit; -1: the device's block).

    delivery:
      "auto" (default): from start() the callbacks come by themselves, on a
          thread of this input (as on audiostream's iOS and macOS, and as its
          documented examples expect), until the program calls poll(); from
          then on only poll() delivers, on the calling thread (audiostream's
          Android model). The hand-over loses and repeats nothing.
      "thread": always on the engine's delivery thread, never in poll()
          (which returns False, as audiostream's iOS/macOS poll()).
      "poll": only in poll(), on the calling thread.
    """

    def __init__(self, callback=None, source="default", rate=44100, channels=1,
                 buffersize=-1, encoding=16, backend=None, device=None, delivery="auto",
                 **options):
        if callback is not None and not callable(callback):
            raise TypeError(f"AudioInput: callback must be callable, not {callback!r}")
        if delivery not in _DELIVERIES:
            raise ValueError(f"AudioInput: delivery must be one of {_DELIVERIES}, "
                             f"not {delivery!r}")
        if isinstance(buffersize, numbers.Integral) and buffersize in (-1, 0):
            _check_args("AudioInput", rate, channels, encoding, 1, 1)
        else:
            _check_args("AudioInput", rate, channels, encoding, buffersize, 1)
        size = L.lib.rill_audio_format_size(_ENCODINGS[encoding])
        if buffersize > 0 and buffersize % (size * channels):
            raise ValueError(f"AudioInput: buffersize is in bytes and must hold whole "
                             f"frames of {channels} x {size} bytes, not {buffersize}")
        self._callback = callback
        self._source = source
        self._encoding = encoding
        self._delivery = delivery
        backend, device = _backend_device(source, backend, device)
        frames = buffersize // (size * channels) if buffersize > 0 else 0
        cfg, keep, err = _config(rate, channels, encoding, frames, backend, device, options)
        cfg.delivery = L.DELIVER_THREAD if delivery == "thread" else L.DELIVER_POLL
        self._fn = L.INPUT_FN(self._c_block)
        self._pending = bytearray()
        self._pending_first = None
        self._lock = threading.RLock()  # _pending, and one deliverer at a time
        self._pump = None
        self._pump_stop = threading.Event()
        self._polled = False
        h = ctypes.c_void_p()
        L.clear()
        rc = L.lib.rill_audio_input_open(ctypes.byref(cfg), self._fn, None, ctypes.byref(h))
        if rc < 0:
            raise AudioException(rc, err.value.decode() or L.last_message(),
                                 "AudioInput: unable to open the input")
        self._h = h
        _OPEN.add(self)
        info = _info(L.lib.rill_audio_input_get_info, h)
        self.backend = info.backend.decode()
        self._rate = info.rate
        self._channels = info.channels
        self.frame_bytes = self._channels * L.lib.rill_audio_format_size(info.format)
        # -1 (or 0): the device's blocks as they come (a file's last one
        # may be shorter); otherwise exactly `buffersize` bytes each.
        self._chunk = buffersize if buffersize > 0 else None
        self._buffersize = buffersize if buffersize > 0 else \
            info.buffer_frames * self.frame_bytes
        self.first_frame = None  # of the last block delivered
        self.callback_errors = 0

    callback = property(lambda self: self._callback, doc="read-only")
    source = property(lambda self: self._source, doc="read-only")
    rate = property(lambda self: self._rate, doc="frames per second the device gave")
    channels = property(lambda self: self._channels, doc="channels the device gave")
    buffersize = property(lambda self: self._buffersize,
                          doc="bytes per callback (-1 given: the device's block)")
    encoding = property(lambda self: self._encoding, doc="8 or 16 bits (read-only)")
    delivery = property(lambda self: self._delivery, doc="auto, thread or poll")

    # The engine hands blocks of its own size to _c_block (on its delivery
    # thread, or inside rill_audio_input_poll); they are cut into
    # `buffersize` chunks here, the rest waits for the next block.
    def _c_block(self, _in, data, frames, first_frame, _user):
        with self._lock:
            if not self._pending:
                self._pending_first = int(first_frame)
            self._pending += ctypes.string_at(data, frames * self.frame_bytes)
            if self._delivery == "thread":
                self._deliver(0)

    def _deliver(self, most):
        """Chunks to the callback, at most `most` (0: all). Returns how many."""
        n, size = 0, self._chunk or len(self._pending)
        while self._pending and len(self._pending) >= size and (most == 0 or n < most):
            chunk = bytes(self._pending[:size])
            del self._pending[:size]
            self.first_frame = self._pending_first
            self._pending_first += size // self.frame_bytes
            n += 1
            if self._callback is None:
                continue
            try:
                self._callback(chunk)
            except Exception:
                self.callback_errors += 1
                _report.callback_exception("the input callback", "the input goes on")
        return n

    def _pull(self, most):
        """Blocks from the engine into _pending, chunks to the callback."""
        with self._lock:
            n = self._deliver(most)
            while most == 0 or n < most:
                rc = L.lib.rill_audio_input_poll(self._h, 1)
                if rc <= 0:
                    if rc < 0 and rc != L.ESTATE:
                        _check(rc, "poll")
                    break
                n += self._deliver(0 if most == 0 else most - n)
            return n

    def _pump_run(self):
        # "auto": deliver on this thread until poll() or stop().
        period = max(0.002, min(0.02, self._buffersize / self.frame_bytes / self._rate / 2))
        while not self._pump_stop.is_set():
            try:
                self._pull(0)
            except Exception:
                log.error("rill: input delivery failed:\n%s", traceback.format_exc())
                return
            self._pump_stop.wait(period)
        self._pull(0)  # what the engine held when stopped

    def _end_pump(self):
        t, self._pump = self._pump, None
        if t is not None:
            self._pump_stop.set()
            if t is not threading.current_thread():
                t.join()

    def start(self):
        _check(L.lib.rill_audio_input_start(self._h), "AudioInput.start")
        if self._delivery == "auto" and not self._polled and self._pump is None:
            self._pump_stop.clear()
            self._pump = threading.Thread(target=self._pump_run, daemon=True,
                                          name="rill-audio-input")
            self._pump.start()

    def stop(self):
        """Stop capturing. Blocks still queued reach the callback: on the
        input's thread ("auto" before any poll(), "thread"), or in poll()."""
        if self._h:
            _check(L.lib.rill_audio_input_stop(self._h), "AudioInput.stop")
        self._end_pump()
        _report.flush()

    def poll(self, maxiter=10):
        """Deliver up to maxiter chunks (0: all) to the callback on this
        thread; True if any was delivered. In "auto" the first call takes the
        delivery over for good; in "thread" it is a no-op (False)."""
        if self._delivery == "thread" or not self._h:
            return False
        if self._pump is threading.current_thread():
            return False  # a callback on the input's own thread
        if not self._polled:
            self._polled = True
            self._end_pump()
        return self._pull(int(maxiter)) > 0

    def wait(self, timeout=None):
        """Wait until a file input has reached its end and every block was
        delivered ("thread") or queued (otherwise): True, or False when
        `timeout` (seconds) ran out first; AudioException as
        AudioOutput.wait."""
        return _wait(L.lib.rill_audio_input_wait, self._h, timeout, "wait")

    def stats(self):
        st = L.AudioStats()
        L.lib.rill_audio_input_get_stats(self._h, ctypes.byref(st))
        return {k: getattr(st, k) for k, _ in L.AudioStats._fields_}

    def close(self):
        self._end_pump()
        h, self._h = self._h, None
        if h:
            L.lib.rill_audio_input_close(h)

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def get_input(callback=None, source="default", rate=44100, channels=1, buffersize=-1,
              encoding=16, backend=None, device=None, delivery="auto", **options):
    """Open a capture input (stopped; start() it). `source` is "default", a
    name from get_input_sources() ("alsa:hw:0", "jack:system:capture_1"...),
    or a device of `backend`. See AudioInput for `delivery`."""
    return AudioInput(callback=callback, source=source, rate=rate, channels=channels,
                      buffersize=buffersize, encoding=encoding, backend=backend,
                      device=device, delivery=delivery, **options)


def get_input_sources(backend=None, device=None):
    """Input sources as "backend:name" strings, "default" first. Backends
    that cannot list (no JACK server running) are skipped."""
    names = ["default"]
    for b in ([backend] if backend else backend_names()):
        found = []
        cb = L.NAME_FN(lambda n, _u: found.append(n.decode()))
        L.clear()
        rc = L.lib.rill_audio_list_inputs(b.encode(), device.encode() if device else None,
                                          cb, None)
        if rc == 0:
            names += [f"{b}:{n}" for n in found]
    return names
