"""The demo source's model and shared checks for the end-to-end tests."""

import http.client
import math
import struct

from belaclient import (BODY_BYTES, TYPE_CODE, TYPE_SIZE, VALUES_PER_BUFFER, BelaClient,
                        parse_stream_body, within)

RATE = 44100
BLOCK = 64

# name, type letter, timestampMode: registration order = id (the contract).
DEMO_VARS = [
    ("frame", "i", 0),
    ("frame_d", "d", 0),
    ("sine", "f", 0),
    ("noise", "f", 0),
    ("chirp", "f", 0),
    ("events", "i", 1),
    ("level", "d", 1),
    ("gain", "f", 0),
    ("flags", "j", 0),
    ("inbox", "d", 0),
    ("mic0", "f", 0),
    ("mic1", "f", 0),
]
DEMO_NAMES = [v[0] for v in DEMO_VARS]
DENSE_NAMES = [n for n, _, m in DEMO_VARS if m == 0]

LIST_FIELDS = {
    "name": (str,),
    "type": (str,),
    "timestampMode": (int,),
    "watched": (bool,),
    "logged": (bool,),
    "controlled": (bool,),
    "monitor": (int, float),
    "logFileName": (str,),
    "value": (int, float, type(None)),
    "valueInput": (int, float, type(None)),
}


def is_event_frame(f):
    return f % 64 == 0 or f % 100 == 7


def next_event_frame(f):
    """The first event frame strictly after f."""
    g = f + 1
    while not is_event_frame(g):
        g += 1
    return g


def expected_sine(frame, gain=1.0, rate=RATE):
    return gain * 0.5 * math.sin(2 * math.pi * 440 * frame / rate)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def var_entry(lst, name):
    for v in lst["watchers"]:
        if v["name"] == name:
            return v
    raise AssertionError(f"{name} not in list reply")


def check_dense_counter_buffers(bufs, n, what):
    """Full dense buffers of a variable equal to the frame counter."""
    assert bufs, f"no {what} buffers"
    for k, b in enumerate(bufs):
        d = b["data"]
        assert len(d) == n, f"{what} buffer {k}: {len(d)} values, expected {n}"
        assert d[0] == b["ref"], f"{what} buffer {k}: data[0]={d[0]} != ref {b['ref']}"
        assert d[-1] == b["ref"] + n - 1, \
            f"{what} buffer {k}: data[-1]={d[-1]} != ref+N-1={b['ref'] + n - 1}"
        bad = [i for i, v in enumerate(d) if v != b["ref"] + i]
        assert not bad, f"{what} buffer {k}: value {bad[0]} is {d[bad[0]]}, expected {b['ref'] + bad[0]}"
        if k:
            gap = b["ref"] - bufs[k - 1]["ref"]
            assert gap == n, f"{what} buffers {k - 1}->{k}: refs differ by {gap}, expected {n}"


def leading_count(buf):
    """Values at the start of a dense counter buffer that equal ref + i."""
    c = 0
    for i, v in enumerate(buf["data"]):
        if v != buf["ref"] + i:
            break
        c = i + 1
    return c


def check_padded_dense_tail(buf, size, what):
    """A final dense counter buffer: c values ref..ref+c-1, then zero bytes."""
    c = leading_count(buf)
    assert c >= 1, f"{what}: final buffer holds no counter values"
    assert all(v == 0 for v in buf["data"][c:]), \
        f"{what}: after {c} values the final buffer is not zero-padded"
    assert not any(buf["raw"][8 + size * c:]), f"{what}: padding bytes are not all zero"
    return c


def sparse_count(buf):
    """Values in a sparse buffer: up to the first zero relative timestamp at index > 0."""
    for i in range(1, len(buf["rel"])):
        if buf["rel"][i] == 0:
            return i
    return len(buf["rel"])


def check_event_buffer(buf, what, full=True):
    """A sparse `events` buffer: value == ref + rel exactly, and no event missing."""
    n = len(buf["data"])
    assert len(buf["raw"]) == BODY_BYTES
    assert buf["rel"][0] == 0, f"{what}: rel[0]={buf['rel'][0]}"
    c = n if full else sparse_count(buf)
    for i in range(c):
        v, r = buf["data"][i], buf["rel"][i]
        assert v == buf["ref"] + r, f"{what}: value {i} is {v} but ref+rel = {buf['ref'] + r}"
        assert is_event_frame(v), f"{what}: value {i} = {v} is not an event frame"
        if i:
            assert v == next_event_frame(buf["data"][i - 1]), \
                f"{what}: event after {buf['data'][i - 1]} missing (got {v})"
    return c


async def connected(url, **kw):
    c = BelaClient(url, **kw)
    await c.connect()
    return c


async def assert_server_serves_a_new_client(url, **kw):
    """A fresh pybela-style client connects, lists, and streams one correct buffer."""
    c = BelaClient(url, **kw)
    try:
        lst = await c.connect()
        assert [v["name"] for v in lst["watchers"]] == DEMO_NAMES
        await c.start_streaming(["frame"])
        bufs = await c.wait_buffers("frame", 2, timeout=5)
        check_dense_counter_buffers(bufs, 1024, "frame (second client)")
        await c.stop_streaming(["frame"])
        assert not c.violations, c.violations
    finally:
        await c.close()


async def data_fence(c, var="frame_d", buffers=3):
    """Wait until everything the device produced so far for `c`'s data socket
    has arrived, without a wall-clock wait: stream `var` (which the test does
    not otherwise stream) and wait for its `buffers` first buffers. The device
    sends every record of a socket in tick order (one ring, one queue), so
    any buffer or monitor frame produced before those has arrived before
    them. With the default, at least 1536 ticks pass (frame_d: 512 values a
    buffer), more than one 1024-value buffer of any other dense variable:
    a stream that wrongly goes on shows up. A "nothing more arrives" check
    made after this passes because nothing came, not because it came late."""
    before = len(c.buffers[var])
    await c.start_streaming([var])
    await c.wait_buffers(var, before + buffers, timeout=10)
    await c.stop_streaming([var])


def http_get(port, path, timeout=5, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def parse_log_file(blob):
    """Parse a §6.2 log file; returns (header dict, list of raw 4104-byte buffers, rest)."""
    assert blob.startswith(b"watcher\0"), f"log file starts with {blob[:16]!r}"
    pos = 8
    end = blob.index(b"\0", pos)
    name = blob[pos:end].decode()
    pos = end + 1
    end = blob.index(b"\0", pos)
    vtype = blob[pos:end].decode()
    pos = end + 1
    assert len(vtype) == 1, f"type field {vtype!r}"
    pid, instance = struct.unpack_from("<II", blob, pos)
    pos += 8
    # pybela: h = len(strings) + 3 + 8, skip 4 - h % 4 when h % 4 != 0
    h = len("watcher") + len(name) + len(vtype) + 3 + 8
    assert h == pos
    pad = (4 - h % 4) if h % 4 else 0
    assert not any(blob[pos:pos + pad]), "header padding is not zero"
    pos += pad
    body = blob[pos:]
    nbuf = len(body) // BODY_BYTES
    bufs = [body[i * BODY_BYTES:(i + 1) * BODY_BYTES] for i in range(nbuf)]
    rest = body[nbuf * BODY_BYTES:]
    return {"name": name, "type": vtype, "pid": pid, "instance": instance,
            "header_len": pos}, bufs, rest


def parse_log_buffers(raw_bufs, vtype, mode):
    out = []
    for raw in raw_bufs:
        b = parse_stream_body(raw, vtype, mode)
        b["raw"] = raw
        out.append(b)
    return out


__all__ = [n for n in dir() if not n.startswith("_")] + [
    "TYPE_SIZE", "TYPE_CODE", "VALUES_PER_BUFFER", "within"]
