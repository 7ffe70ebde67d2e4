"""audiostream.sources.thread: a source that is a thread.

    class Noise(ThreadSource):
        def get_bytes(self):
            return os.urandom(64)

    src = Noise(stream)
    src.start()     # plays; the thread writes get_bytes() to src.sample
    ...
    src.stop()
    src.join()

As audiostream's: a daemon threading.Thread owning an AudioSample
(`.sample`, in `stream`'s mixer); run() plays it and writes what
get_bytes() returns, for as long as the source is not stopped; the blocking
write sets the pace. `buffersize`, `channels` and `rate` are the stream's.
Differences, all fixes of audiostream's defects: get_bytes() returning b""
(or None) waits a moment and asks again instead of spinning; stop() ends the
thread as well (audiostream's blocks for ever in write); bytes that are not
whole frames wait for the next chunk; an exception in get_bytes is logged
with its traceback and ends the source; extra arguments are accepted (so
subclasses may pass theirs on, as audiostream's SineSource does).
"""

import logging
import threading
import traceback

from ... import _lib as L
from ..core import AudioSample

log = logging.getLogger("rill")

__all__ = ("ThreadSource",)


class ThreadSource(threading.Thread):

    def __init__(self, stream, *args, **kwargs):
        threading.Thread.__init__(self)
        self.daemon = True
        self.stream = stream
        self.buffersize = stream.buffersize
        self.channels = stream.channels
        self.rate = stream.rate
        self._halt = threading.Event()
        self._rest = b""
        self.sample = self._make_sample(stream, **kwargs)
        stream.add_sample(self.sample)
        stream._threads.add(self)

    def _make_sample(self, stream, **kwargs):
        return AudioSample()

    def get_bytes(self):
        """Override: the next chunk, in the stream's encoding and channels."""
        return b""

    def _idle(self):
        # Nothing to write: wait about one device buffer before asking again.
        return max(0.001, min(0.02, self.buffersize / float(self.rate)))

    def run(self):
        frame = self.stream.frame_bytes
        try:
            while not self._halt.is_set():
                chunk = self.get_bytes()
                if not chunk:
                    self._halt.wait(self._idle())
                    continue
                if isinstance(chunk, str):  # Python 2 examples build str
                    chunk = chunk.encode("latin-1")
                data = self._rest + bytes(memoryview(chunk).cast("B"))
                whole = len(data) - len(data) % frame
                self._rest = data[whole:]
                if whole:
                    self.sample.write(data[:whole])
        except L.RillError:
            if not self._halt.is_set():  # stop() makes write give up: not an error
                log.error("rill: %s ended:\n%s", type(self).__name__, traceback.format_exc())
        except Exception:
            log.error("rill: exception in %s.get_bytes (the source ends):\n%s",
                      type(self).__name__, traceback.format_exc())

    def start(self):
        """Play the sample and start the thread. A thread starts once (as
        every threading.Thread): make a new source to play again."""
        if self.ident is not None:
            raise RuntimeError(f"{type(self).__name__}.start: this source was started "
                               "already; a ThreadSource is a threading.Thread and starts "
                               "once, so make a new one to play again")
        self.sample.play()
        threading.Thread.start(self)

    def stop(self):
        """Stop playing and end the thread (join() waits for it)."""
        self._halt.set()
        self.sample.stop()
