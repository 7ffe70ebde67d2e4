"""A client for rill's native mode.

A control socket that sends {"rill":"hello","version":1} gets a hello back and
from then on receives its data as binary messages on the same socket, one per
buffer, each with a 32-byte little-endian header (docs/PROTOCOL.md):

  off size field
    0    1 version (1)
    1    1 kind: 0 stream buffer, 1 monitor value, 2 end of stream
    2    1 type letter
    3    1 flags: bit0 sparse (u32 relative timestamps follow the values after
               padding to a multiple of 4), bit1 last buffer of the stream
    4    4 variable id
    8    8 sequence number (per variable, +1 per message)
   16    8 first timestamp
   24    4 value count
   28    4 dropped (buffers of this variable dropped for this client since
               the previous delivered message)
   32    . values, then (sparse) padding and count u32 relative timestamps
"""

import json
import struct
import time

from belaclient import DEFAULT_TIMEOUT, TYPE_CODE, TYPE_SIZE, BelaClient, ProtocolError

HEADER = struct.Struct("<BBcBIQQII")
assert HEADER.size == 32
KIND_STREAM, KIND_MONITOR, KIND_END = 0, 1, 2
FLAG_SPARSE, FLAG_LAST = 0x01, 0x02


def parse_native(msg):
    """Parse and strictly validate one native message; raise ProtocolError."""
    if len(msg) < 32:
        raise ProtocolError(f"native message of {len(msg)} bytes is shorter than the header")
    version, kind, tletter, flags, vid, seq, first_ts, count, dropped = HEADER.unpack_from(msg)
    vtype = tletter.decode("latin-1")
    if version != 1:
        raise ProtocolError(f"native version {version}")
    if kind not in (KIND_STREAM, KIND_MONITOR, KIND_END):
        raise ProtocolError(f"native kind {kind}")
    if vtype not in TYPE_SIZE:
        raise ProtocolError(f"native type letter {tletter!r}")
    if flags & ~0x03:
        raise ProtocolError(f"unknown native flag bits {flags:#x}")
    size = TYPE_SIZE[vtype]
    values_end = 32 + count * size
    rel = None
    if flags & FLAG_SPARSE:
        rel_start = (values_end + 3) // 4 * 4
        expected = rel_start + 4 * count
        if len(msg) != expected:
            raise ProtocolError(f"sparse native message is {len(msg)} bytes, expected {expected} "
                                f"for {count} values of {vtype}")
        if any(msg[values_end:rel_start]):
            raise ProtocolError("non-zero padding before the relative timestamps")
        rel = list(struct.unpack_from(f"<{count}I", msg, rel_start))
    elif len(msg) != values_end:
        raise ProtocolError(f"native message is {len(msg)} bytes, expected {values_end} "
                            f"for {count} values of {vtype}")
    values = list(struct.unpack_from(f"<{count}{TYPE_CODE[vtype]}", msg, 32))
    if kind == KIND_MONITOR and count != 1:
        raise ProtocolError(f"monitor message with count {count}")
    if kind == KIND_END and count != 0:
        raise ProtocolError(f"end-of-stream message with count {count}")
    if kind == KIND_STREAM and count == 0:
        raise ProtocolError("stream message with count 0")
    return {"kind": kind, "type": vtype, "flags": flags, "id": vid, "seq": seq,
            "first_ts": first_ts, "count": count, "dropped": dropped, "values": values,
            "rel": rel, "len": len(msg)}


class NativeClient(BelaClient):
    """A control socket in native mode; no /gui_data socket is opened."""

    def __init__(self, base_url, token=None, **kw):
        super().__init__(base_url, token=token, **kw)
        self.hello = None
        self.messages = []        # every parsed binary message, in arrival order
        self.by_var = {}          # id -> list of messages

    async def _open(self, path, timeout, max_size=2 ** 22, compression=None):
        return await super()._open(path, timeout, max_size, compression)

    async def connect(self, timeout=DEFAULT_TIMEOUT, reply=True):
        await self.open_control_only(timeout)
        if reply:
            await self.send_control({"event": "connection-reply"})
        await self.send_control({"rill": "hello", "version": 1})
        await self.changed.wait_until(lambda: self.hello is not None or self.control_closed(),
                                      timeout, "the native hello reply")
        if self.hello is None:
            raise AssertionError("control socket closed before the native hello reply")
        lst = await self.list(timeout)
        self.sample_rate = lst["sampleRate"]
        self.vars = [dict(v) for v in lst["watchers"]]
        for i, v in enumerate(self.vars):
            self.buffers.setdefault(v["name"], [])
            self.monitor.setdefault(v["name"], [])
            self.by_var.setdefault(i, [])
        return lst

    def _handle_control(self, raw):
        if isinstance(raw, str):
            try:
                msg = json.loads(raw)
            except ValueError:
                msg = None
            if isinstance(msg, dict) and msg.get("rill") == "hello":
                self.hello = msg
                return
            # Native clients are not pybela: notices such as
            # {"event":"dropped","watcher":NAME,...} are fine here.
            if isinstance(msg, dict) and "event" in msg:
                self.events.append(msg)
                return
        super()._handle_control(raw)

    def _handle_control_binary(self, raw):
        if self.hello is None:
            self.violations.append(f"binary message before the hello reply ({len(raw)} bytes)")
            return
        try:
            m = parse_native(raw)
        except ProtocolError as e:
            self.violations.append(str(e))
            return
        m["t"] = time.monotonic()
        self.messages.append(m)
        self.by_var.setdefault(m["id"], []).append(m)
        if m["id"] < len(self.vars):
            name = self.vars[m["id"]]["name"]
            if m["type"] != self.vars[m["id"]]["type"]:
                self.violations.append(f"native message for {name} has type {m['type']}")
            if m["kind"] == KIND_MONITOR:
                self.monitor[name].append((m["first_ts"], m["values"][0]))
        else:
            self.violations.append(f"native message for unknown id {m['id']}")

    # ---- native commands ---------------------------------------------------

    async def watch(self, names, timestamps=None, durations=None, lengths=None, **extra):
        cmd = {"cmd": "watch", "watchers": list(names)}
        if timestamps is not None:
            cmd["timestamps"] = list(timestamps)
        if durations is not None:
            cmd["durations"] = list(durations)
        if lengths is not None:
            cmd["lengths"] = list(lengths)
        cmd.update(extra)
        await self.send_commands(cmd)

    async def unwatch(self, names):
        await self.send_commands({"cmd": "unwatch", "watchers": list(names)})

    def var_id(self, name):
        for i, v in enumerate(self.vars):
            if v["name"] == name:
                return i
        raise KeyError(name)

    def stream(self, name):
        """Messages of one variable (stream, monitor and end), in order."""
        return self.by_var.get(self.var_id(name), [])

    def stream_ended(self, name):
        ms = [m for m in self.stream(name) if m["kind"] != KIND_MONITOR]
        return bool(ms) and (ms[-1]["kind"] == KIND_END or ms[-1]["flags"] & FLAG_LAST)

    async def wait_values(self, name, count, timeout=DEFAULT_TIMEOUT):
        def have():
            return sum(m["count"] for m in self.stream(name) if m["kind"] == KIND_STREAM)
        await self.changed.wait_until(lambda: have() >= count, timeout,
                                      f"{count} native values of {name} (have {have()})")

    async def wait_messages(self, name, count, timeout=DEFAULT_TIMEOUT):
        def have():
            return sum(1 for m in self.stream(name) if m["kind"] == KIND_STREAM)
        await self.changed.wait_until(lambda: have() >= count, timeout,
                                      f"{count} native buffers of {name} (have {have()})")

    async def wait_end(self, name, timeout=DEFAULT_TIMEOUT):
        def what():
            tail = [(m["kind"], m["flags"], m["seq"], m["first_ts"], m["count"], m["dropped"])
                    for m in self.stream(name)[-3:]]
            return (f"the end of the native stream of {name} (last messages as "
                    f"(kind, flags, seq, first_ts, count, dropped): {tail}; "
                    f"socket {'closed' if self.control_closed() else 'open'})")
        await self.changed.wait_until(lambda: self.stream_ended(name), timeout, what)

    def drop_notices(self, name=None):
        """{"event":"dropped",...} notices (of one variable). The brief names the
        variable under "watcher"; "variable" is accepted too (a top-level string
        "watcher" would kill pybela's control listener, spec §7)."""
        return [e for e in self.events if e.get("event") == "dropped"
                and (name is None or notice_var(e) == name)]


def notice_var(e):
    return e.get("variable", e.get("watcher"))
