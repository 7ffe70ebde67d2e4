"""Bridged devices through NATS JetStream (docs/SCALE.md).

A bridged device is read like a direct one: ``connect`` returns a
``NatsDevice`` on the same C client (rill_nats_connect gives a rill_client),
so exactly-N requests come out as a direct connection's do::

    from rill.nats import connect
    with connect("nats://hub:4222", "board1", start="all") as dev:
        values, ticks = dev.stream_n_values(["sine", "frame"], 48000)
        clock = dev.clock()   # ticks -> Unix ns: clock.ns(tick)

``start``: "live" (default), "all" (the stream's whole retention),
``("seq", N)`` or ``("time", unix_seconds)``. Gaps (values that will never
come) raise RillError from exactly-N requests, and are listed in ``gaps``.
"""

import ctypes
from ctypes import POINTER as P, c_bool, c_char_p, c_double, c_int, c_uint32, c_uint64, c_void_p

import numpy as np

from . import _lib
from ._lib import ClientConfig, ClientList, check, lib

START = {"live": 0, "all": 1, "seq": 2, "time": 3}


class ClockMap(ctypes.Structure):
    _fields_ = [("tick0", c_uint64), ("ns0", ctypes.c_int64), ("ns_per_tick", c_double),
                ("err_ns", c_double), ("points", c_uint32)]

    def ns(self, tick):
        """Unix nanoseconds of `tick` (numbers or numpy arrays)."""
        t = np.asarray(tick, dtype=np.float64)
        return self.ns0 + (t - float(self.tick0)) * self.ns_per_tick


class Gap(ctypes.Structure):
    _fields_ = [("device", c_char_p), ("variable", c_char_p), ("from_tick", c_uint64),
                ("to_tick", c_uint64), ("buffers", c_uint64), ("why", c_char_p)]


GAP_FN = ctypes.CFUNCTYPE(None, c_void_p, P(Gap), c_void_p)


class NatsConfig(ctypes.Structure):
    _fields_ = [("nats_url", c_char_p), ("device", c_char_p), ("stream", c_char_p),
                ("subject_prefix", c_char_p), ("kv_bucket", c_char_p), ("start", c_int),
                ("start_seq", c_uint64), ("start_time_ns", ctypes.c_int64),
                ("on_gap", GAP_FN), ("gap_user", c_void_p)]


lib.rill_nats_config_default.restype = NatsConfig
lib.rill_nats_config_default.argtypes = []
lib.rill_nats_connect.restype = c_int
lib.rill_nats_connect.argtypes = [P(ClientConfig), P(NatsConfig), P(c_void_p)]
lib.rill_nats_client_clock.restype = c_int
lib.rill_nats_client_clock.argtypes = [c_void_p, P(ClockMap)]


class NatsDevice:
    """A bridged device read from JetStream (a rill_client underneath)."""

    def __init__(self, nats_url, device, start="live", stream=None, timeout=5.0):
        self.gaps = []
        self._gap_fn = GAP_FN(self._on_gap)  # kept alive as long as the client
        cfg = lib.rill_client_config_default()
        cfg.timeout_ms = int(timeout * 1000)
        ncfg = lib.rill_nats_config_default()
        self._keep = [nats_url.encode(), device.encode()]
        ncfg.nats_url, ncfg.device = self._keep
        if stream is not None:
            self._keep.append(stream.encode())
            ncfg.stream = self._keep[-1]
        kind, arg = (start, None) if isinstance(start, str) else start
        if kind not in START:
            raise ValueError(f"start is live, all, ('seq', N) or ('time', seconds), not {start!r}")
        ncfg.start = START[kind]
        if kind == "seq":
            ncfg.start_seq = int(arg)
        elif kind == "time":
            ncfg.start_time_ns = int(float(arg) * 1e9)
        ncfg.on_gap = self._gap_fn
        cl = c_void_p()
        check(lib.rill_nats_connect(ctypes.byref(cfg), ctypes.byref(ncfg), ctypes.byref(cl)),
              f"NATS {nats_url}, device {device}")
        self._cl = cl

    def _on_gap(self, cl, g, user):
        g = g.contents
        self.gaps.append((g.variable.decode(), g.from_tick, g.to_tick, g.why.decode()))

    def variables(self):
        """The bridged variables' names."""
        lst = P(ClientList)()
        check(lib.rill_client_list_vars(self._cl, ctypes.byref(lst)), "list")
        try:
            return [lst.contents.vars[i].name.decode() for i in range(lst.contents.n_vars)]
        finally:
            lib.rill_client_list_free(lst)

    def stream_n_values(self, names, n):
        """Exactly n values of each name, from one tick on: (values, ticks),
        lists of numpy arrays (float64, uint64), as a direct connection."""
        k = len(names)
        arr = (c_char_p * k)(*[s.encode() for s in names])
        vals = (P(c_double) * k)()
        ticks = (P(_lib.c_u64) * k)()
        check(lib.rill_client_stream_n_values(self._cl, arr, k, n, vals, ticks),
              f"stream_n_values {names}")
        out_v, out_t = [], []
        for i in range(k):
            out_v.append(np.ctypeslib.as_array(vals[i], (n,)).copy())
            out_t.append(np.ctypeslib.as_array(ticks[i], (n,)).copy())
            lib.rill_client_free(ctypes.cast(vals[i], c_void_p))
            lib.rill_client_free(ctypes.cast(ticks[i], c_void_p))
        return out_v, out_t

    def clock(self):
        """The tick -> Unix ns mapping carried by the latest message."""
        m = ClockMap()
        check(lib.rill_nats_client_clock(self._cl, ctypes.byref(m)), "clock")
        return m

    def close(self):
        if self._cl:
            lib.rill_client_destroy(self._cl)
            self._cl = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(nats_url, device, start="live", stream=None, timeout=5.0):
    return NatsDevice(nats_url, device, start=start, stream=stream, timeout=timeout)


def split_url(url):
    """"nats://A:4222[,nats://B:4222]/DEVICE" -> ("nats://A:4222[,...]", "DEVICE")."""
    head, sep, device = url.rpartition("/")
    if not sep or not device or head.endswith("/") or not head.startswith("nats://"):
        raise ValueError(f"{url!r}: write nats://HOST:PORT/DEVICE (several servers "
                         "comma-separated), the device as rill bridge names it")
    return head, device


def connect_client(url, cfg, out):
    """rill_nats_connect for a client configured as for rill_client_connect
    (`cfg`, a ClientConfig; `out`, a c_void_p): the hook that lets
    pybela's Streamer take a nats:// URL (python/rill/pybela.py). Live data;
    gaps are logged and arrive as dropped buffers."""
    nats_url, device = split_url(url)
    ncfg = lib.rill_nats_config_default()
    keep = [nats_url.encode(), device.encode()]
    ncfg.nats_url, ncfg.device = keep
    return lib.rill_nats_connect(ctypes.byref(cfg), ctypes.byref(ncfg), ctypes.byref(out))
