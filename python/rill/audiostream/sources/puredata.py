"""audiostream.sources.puredata: PatchSource, a Pure Data patch.

    from rill.audiostream.sources.puredata import PatchSource, libpd_float, libpd_bang

    source = PatchSource(stream, "funpad.pd")
    source.start()
    libpd_float("x", 0.5)          # pylibpd's calls, to every playing patch
    source.send_bang("trigger")    # or to this one

audiostream runs the patch in-process with pylibpd; Debian has no libpd,
so rill runs Debian's Pd (`pd -nogui -jack`, puredata-core) as a JACK
client and mixes its outputs in (rill_audio_pd_create): a JACK server must
be running (`jack_server=`: its name; default $JACK_DEFAULT_SERVER), and
the output should be a jack output of the same server so that both share
its clock. start() returns once Pd's ports are connected and raises if Pd
cannot start. Messages to the patch (what pylibpd's libpd_float, libpd_bang,
libpd_symbol, libpd_list and libpd_message do) travel to Pd over a local,
authenticated TCP connection (rill_audio_pd_send): they arrive within a
few milliseconds, in order, but not at a chosen sample.
"""

import logging
import math
import numbers
import weakref

from ..core import _PdSource
from .thread import ThreadSource

log = logging.getLogger("rill")

__all__ = ("PatchSource", "libpd_float", "libpd_bang", "libpd_symbol", "libpd_list",
           "libpd_message")

_PLAYING = weakref.WeakSet()


def _atom(x):
    """One Pd atom as text: a float, or a symbol Pd will not read as one."""
    if isinstance(x, bytes):
        x = x.decode()
    if isinstance(x, numbers.Real) and not isinstance(x, bool):
        if not math.isfinite(x):
            raise ValueError(f"Pd takes finite numbers only, not {x!r}")
        return repr(float(x))
    if isinstance(x, str):
        if not x or any(c.isspace() for c in x):
            raise ValueError(f"a Pd symbol is one word, not {x!r}")
        try:
            float(x)
        except ValueError:
            return x
        raise ValueError(f"Pd would read the symbol {x!r} as a number: send it as one")
    raise TypeError(f"a Pd atom is a number or a str, not {type(x).__name__}")


def _receiver(name):
    if not isinstance(name, str):
        raise TypeError(f"a receiver name is a str, not {type(name).__name__}")
    return _atom(name)


class PatchSource(ThreadSource):

    def __init__(self, stream, patchfile, *args, jack_server=None, pd_path=None, **kwargs):
        self.patch = self.patchfile = patchfile
        self._jack, self._pd_path = jack_server, pd_path
        ThreadSource.__init__(self, stream, *args, **kwargs)

    def _make_sample(self, stream, **kwargs):
        return _PdSource(self.patchfile, self._jack, self._pd_path)

    def start(self):
        """Start Pd on the patch (waits for its ports; raises if it cannot)."""
        ThreadSource.start(self)
        _PLAYING.add(self)

    def run(self):
        self._halt.wait()

    def stop(self):
        """End Pd."""
        _PLAYING.discard(self)
        ThreadSource.stop(self)

    # -- messages (pylibpd's libpd_* as methods) --

    def send_float(self, receiver, value):
        """[receive receiver] gets the float `value`."""
        self.sample.send(_receiver(receiver), _atom(float(value)))

    def send_bang(self, receiver):
        self.sample.send(_receiver(receiver), "bang")

    def send_symbol(self, receiver, symbol):
        self.sample.send(_receiver(receiver), "symbol " + _atom(str(symbol)))

    def send_list(self, receiver, *atoms):
        self.sample.send(_receiver(receiver), " ".join(["list"] + [_atom(a) for a in atoms]))

    def send_message(self, receiver, message, *atoms):
        """[receive receiver] gets the message `message atoms...` (e.g.
        send_message("osc", "set", 0.5))."""
        self.sample.send(_receiver(receiver),
                         " ".join([_atom(str(message))] + [_atom(a) for a in atoms]))


def _to_all(what, send):
    """pylibpd's functions talk to its one Pd; these to every playing patch.
    0 when at least one took it, -1 (logged) when none is playing."""
    patches = [p for p in list(_PLAYING) if p.sample.playing]
    if not patches:
        log.warning("rill: %s: no PatchSource is playing", what)
        return -1
    for p in patches:
        send(p)
    return 0


def libpd_float(receiver, value):
    return _to_all(f"libpd_float({receiver!r})", lambda p: p.send_float(receiver, value))


def libpd_bang(receiver):
    return _to_all(f"libpd_bang({receiver!r})", lambda p: p.send_bang(receiver))


def libpd_symbol(receiver, symbol):
    return _to_all(f"libpd_symbol({receiver!r})", lambda p: p.send_symbol(receiver, symbol))


def libpd_list(receiver, *atoms):
    return _to_all(f"libpd_list({receiver!r})", lambda p: p.send_list(receiver, *atoms))


def libpd_message(receiver, message, *atoms):
    return _to_all(f"libpd_message({receiver!r})",
                   lambda p: p.send_message(receiver, message, *atoms))
