"""kivy audiostream's API on rill's audio engine (include/rill/audio.h).

    from rill.audiostream import get_output, AudioSample
    stream = get_output(channels=1, buffersize=1024, rate=22050)
    sample = AudioSample()
    stream.add_sample(sample)
    sample.play()
    sample.write(b"\\x00\\x00\\xff\\x7f")

Names and defaults are audiostream's. Every function also takes the engine's
choice of backend: `backend` ("jack", "alsa", "file", "dummy"; None tries
them in that order) and `device` (ALSA PCM, file path, JACK server name);
other rill_audio_config fields (realtime, max_frames, loop, connect, name,
periods) may be given as keywords too.

Differences from audiostream, all fixes of its documented defects:
  - get_input works on Linux (ALSA, JACK, a sound file, dummy), polled on
    the caller's thread as audiostream's Android input is.
  - ThreadSource is not a threading.Thread: the engine's worker thread calls
    get_bytes() (with the GIL; never the audio thread). stop() never
    blocks for ever, and start() after stop() works. get_bytes() returning
    b"" or None ends the source (audiostream busy-spins).
  - SineSource is the engine's sine: exact frequency, continuous phase when
    the frequency changes. The amplitude keeps audiostream's level: the
    default 0.5 peaks at about 10430 (65535/pi * 0.5), -10 dBFS.
  - AudioSample.write waits while the ring is full only while something
    drains it; otherwise it raises RillError (RILL_EFULL) instead of
    blocking for ever. remove_sample works.
"""

import atexit
import ctypes
import logging
import math
import os
import threading
import time
import traceback
import weakref

from . import _lib as L
from ._lib import RillError

log = logging.getLogger("rill")

__all__ = ["get_output", "get_input", "get_input_sources", "AudioOutput",
           "AudioInput", "AudioSample", "ThreadSource", "SineSource", "PatchSource",
           "AudioException"]


_OPEN = weakref.WeakSet()


def _close_all():
    # Before the interpreter goes away, stop every engine thread that could
    # still call into Python (thread sources' workers, input callbacks).
    for x in list(_OPEN):
        try:
            x.close()
        except Exception:
            pass


atexit.register(_close_all)


class AudioException(RillError):
    """An audio device or source failed (audiostream's AudioException)."""


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


def _backend_device(source, backend, device):
    """'alsa:hw:0' / 'jack' / 'file:x.wav' / 'dummy' as a source name."""
    if backend is None and source and source != "default":
        head, _, rest = source.partition(":")
        if head in backend_names():
            return head, (rest or device)
    if device is None and source and source != "default":
        device = source
    return backend, device


def _config(rate, channels, encoding, buffersize, backend, device, options):
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
    if rate:
        cfg.rate = int(rate)
    if channels:
        cfg.channels = int(channels)
    if encoding not in _ENCODINGS:
        raise ValueError(f"encoding must be 8 or 16 (or 32, 'f32'), not {encoding!r}")
    cfg.format = _ENCODINGS[encoding]
    if buffersize and buffersize > 0:
        cfg.buffer_frames = int(buffersize)
    for k, v in options.items():
        if k not in _CFG_FIELDS:
            raise TypeError(f"unknown option {k!r}")
        setattr(cfg, k, s(v) if k in ("name", "connect") else v)
    err = ctypes.create_string_buffer(512)
    keep.append(err)
    cfg.err = ctypes.cast(err, ctypes.c_void_p)
    cfg.err_size = 512
    return cfg, keep, err


def backend_names():
    out, i = [], 0
    while True:
        n = L.lib.rill_audio_backend_name(i)
        if not n:
            return out
        out.append(n.decode())
        i += 1


def _info(fn, h):
    i = L.AudioInfo()
    fn(h, ctypes.byref(i))
    return i


class AudioOutput:
    """An open, running output and its mixer (get_output)."""

    def __init__(self, rate=44100, channels=2, buffersize=1024, encoding=16,
                 backend=None, device=None, **options):
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
        _OPEN.add(self)
        info = _info(L.lib.rill_audio_output_get_info, h)
        self.backend = info.backend.decode()
        self.device = info.device.decode() if info.device else None
        self.rate = info.rate
        self.channels = info.channels
        self.buffersize = info.buffer_frames
        self.encoding = _ENCODING_OF.get(info.format, encoding)
        self._format = info.format
        self.frame_bytes = self.channels * L.lib.rill_audio_format_size(info.format)
        _check(L.lib.rill_audio_output_start(h), "start the output")

    def add_sample(self, sample):
        """Put a sample (or source) in the mixer; it plays once play()ed."""
        sample._attach(self)
        if sample not in self._samples:
            self._samples.append(sample)

    def remove_sample(self, sample):
        """Take it out of the mixer (returns once the audio thread let go)."""
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
        """Wait for a file/dummy output opened with max_frames to finish."""
        rc = L.lib.rill_audio_output_wait(self._h, -1 if timeout is None else int(timeout * 1000))
        return rc == 0

    def close(self):
        """Stop and close the device; sources stay usable objects but silent."""
        h, self._h = self._h, None
        if h:
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


class _Source:
    """A mixer source bound to one output."""

    _src = None
    stream = None

    def _create(self, out):
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
            if out is None:
                raise AudioException(L.ESTATE, "", "add the sample to an output first "
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
    channels). Underruns play silence and are counted (stats())."""

    def __init__(self, channels=0, prebuffer_frames=0, ring_frames=0):
        self._cfg = (channels, prebuffer_frames, ring_frames)
        self.index = 0

    def _create(self, out, h):
        c = L.lib.rill_audio_sample_config_default()
        ch, pre, ring = self._cfg
        c.channels = ch
        c.prebuffer_frames = pre
        if ring:
            c.ring_frames = ring
        _check(L.lib.rill_audio_sample_create(out._h, ctypes.byref(c), ctypes.byref(h)),
               "AudioSample")

    def write(self, chunk, timeout=None):
        """Queue `chunk` (bytes, bytearray, memoryview or a numpy array of
        whole frames). Blocks while the ring is full and playing (at most
        `timeout` seconds if given, then RillTimeoutError)."""
        src = self._need()
        if isinstance(chunk, str):  # audiostream's Python 2 examples write str
            chunk = chunk.encode("latin-1")
        mv = memoryview(chunk).cast("B")
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


class ThreadSource(_Source):
    """A generator: override get_bytes() to return the next chunk (bytes in
    the output's encoding and channels). The engine's worker thread calls it
    and queues what it returns; the mixer plays it."""

    def __init__(self, stream, *args, chunksize=None, **kwargs):
        self.stream = stream
        self.buffersize = stream.buffersize
        self.channels = stream.channels
        self.rate = stream.rate
        self.chunksize = chunksize
        self._pending = bytearray()
        self._ended = False
        self._frame_bytes = stream.frame_bytes
        self._fn = L.THREAD_FN(self._c_fill)
        stream.add_sample(self)

    def _create(self, out, h):
        c = L.lib.rill_audio_thread_config_default()
        c.fn = self._fn
        if self.chunksize:
            c.chunk_frames = int(self.chunksize)
        _check(L.lib.rill_audio_thread_source_create(out._h, ctypes.byref(c),
                                                     ctypes.byref(h)), "ThreadSource")

    def get_bytes(self):
        """Override: the next chunk of frames; b"" or None ends the source."""
        return b""

    def _c_fill(self, _src, buf, frames, _user):
        # On the engine's worker thread (not the audio thread), with the GIL.
        try:
            need = frames * self._frame_bytes
            while len(self._pending) < need and not self._ended:
                chunk = self.get_bytes()
                if chunk is None or len(chunk) == 0:
                    self._ended = True
                    break
                self._pending += memoryview(chunk).cast("B")
            whole = min(need, len(self._pending) // self._frame_bytes * self._frame_bytes)
            if whole == 0:
                return -1 if self._ended else 0
            ctypes.memmove(buf, bytes(self._pending[:whole]), whole)
            del self._pending[:whole]
            return whole // self._frame_bytes
        except Exception:
            log.error("rill: exception in %s.get_bytes (the source ends):\n%s",
                      type(self).__name__, traceback.format_exc())
            self._ended = True
            return -1

    def start(self):
        """Start the worker and play (again after stop())."""
        self._ended = False
        self.play()

    run = start

    @property
    def finished(self):
        return bool(self._src and L.lib.rill_audio_thread_source_finished(self._src))

    def is_alive(self):
        return self.playing and not self.finished


class SineSource(_Source):
    """A sine on every channel, computed by the engine on the audio thread."""

    def __init__(self, stream, frequency, amplitude=0.5, **kwargs):
        self.stream = stream
        self.rate = stream.rate
        self.channels = stream.channels
        self._frequency = float(frequency)
        self._amplitude = float(amplitude)
        stream.add_sample(self)

    @staticmethod
    def _scale(amplitude):
        # audiostream's peak (65535/pi)*amplitude in 16-bit units, as full scale.
        return amplitude * 65535.0 / math.pi / 32768.0

    def _create(self, out, h):
        _check(L.lib.rill_audio_sine_create(out._h, self._frequency,
                                            self._scale(self._amplitude), ctypes.byref(h)),
               "SineSource")

    @property
    def frequency(self):
        return self._frequency

    @frequency.setter
    def frequency(self, value):
        self._frequency = float(value)
        if self._src:
            _check(L.lib.rill_audio_sine_set(self._src, self._frequency,
                                             self._scale(self._amplitude)), "frequency")

    @property
    def amplitude(self):
        return self._amplitude

    @amplitude.setter
    def amplitude(self, value):
        self._amplitude = float(value)
        if self._src:
            _check(L.lib.rill_audio_sine_set(self._src, self._frequency,
                                             self._scale(self._amplitude)), "amplitude")

    def start(self):
        self.play()


class PatchSource(_Source):
    """A Pure Data patch (`pd -nogui -jack`) played through the mixer. Needs
    a running JACK server (jack_server: its name); use a jack output on the
    same server so both share one clock."""

    def __init__(self, stream, patchfile, jack_server=None, pd_path=None, **kwargs):
        self.stream = stream
        self.patchfile = patchfile
        self._jack = jack_server
        self._pd = pd_path
        stream.add_sample(self)

    def _create(self, out, h):
        enc = (lambda x: x.encode() if x else None)
        _check(L.lib.rill_audio_pd_create(out._h, enc(str(self.patchfile)), enc(self._jack),
                                          enc(self._pd), ctypes.byref(h)), "PatchSource")

    def start(self):
        self.play()


class AudioInput:
    """Captured audio, delivered by poll() on the caller's thread to
    callback(bytes) (audiostream's Android model)."""

    def __init__(self, callback=None, source="default", rate=44100, channels=1,
                 buffersize=-1, encoding=16, backend=None, device=None, **options):
        self.callback = callback
        self.source = source
        self.encoding = encoding
        backend, device = _backend_device(source, backend, device)
        cfg, keep, err = _config(rate, channels, encoding, buffersize, backend, device,
                                 options)
        cfg.delivery = L.DELIVER_POLL
        self._fn = L.INPUT_FN(self._c_block)
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
        self.rate = info.rate
        self.channels = info.channels
        self.buffersize = info.buffer_frames
        self.frame_bytes = self.channels * L.lib.rill_audio_format_size(info.format)
        self.first_frame = None  # of the last block delivered
        self.callback_errors = 0

    def _c_block(self, _in, data, frames, first_frame, _user):
        self.first_frame = int(first_frame)
        if self.callback is None:
            return
        try:
            self.callback(ctypes.string_at(data, frames * self.frame_bytes))
        except Exception:
            self.callback_errors += 1
            log.error("rill: exception in the input callback:\n%s", traceback.format_exc())

    def start(self):
        _check(L.lib.rill_audio_input_start(self._h), "AudioInput.start")

    def stop(self):
        if self._h:
            _check(L.lib.rill_audio_input_stop(self._h), "AudioInput.stop")

    def poll(self, maxiter=0):
        """Deliver queued blocks (up to maxiter, 0: all) to the callback.
        True if any was delivered."""
        return _check(L.lib.rill_audio_input_poll(self._h, int(maxiter)), "poll") > 0

    def wait(self, timeout=None):
        rc = L.lib.rill_audio_input_wait(self._h, -1 if timeout is None else int(timeout * 1000))
        return rc == 0

    def stats(self):
        st = L.AudioStats()
        L.lib.rill_audio_input_get_stats(self._h, ctypes.byref(st))
        return {k: getattr(st, k) for k, _ in L.AudioStats._fields_}

    def close(self):
        h, self._h = self._h, None
        if h:
            L.lib.rill_audio_input_close(h)

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def get_input(callback=None, source="default", rate=44100, channels=1, buffersize=-1,
              encoding=16, backend=None, device=None, **options):
    """Open a capture input (stopped; start() it, then poll() it).
    `source` is "default", a name from get_input_sources() ("alsa:hw:0",
    "jack:system:capture_1"...), or a device of `backend`."""
    return AudioInput(callback=callback, source=source, rate=rate, channels=channels,
                      buffersize=buffersize, encoding=encoding, backend=backend,
                      device=device, **options)


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
