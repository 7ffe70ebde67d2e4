"""A small asyncio client that talks to a server exactly the way pybela 2.x does.

It mimics pybela's wire behaviour (../shared/spec/watcher-protocol.md §2.3, §3.6,
§4 and §7): the connection handshake, the exact JSON shapes of every command,
list replies taken oldest-first from a queue (requests and replies are not
matched), and the data path parsed with a header -> body state machine using
pybela's length rules. Unlike pybela it never dies silently: everything pybela
would choke on is recorded in ``violations`` so tests can assert it stays empty.

Every await in here has a timeout; nothing can hang a test.
"""

import asyncio
import json
import re
import socket
import struct
import time

import websockets

DEFAULT_TIMEOUT = 5.0

# Bytes per value, struct code (little-endian), pybela data_length (dense, sparse).
TYPE_SIZE = {"c": 1, "i": 4, "j": 4, "f": 4, "d": 8}
TYPE_CODE = {"c": "B", "i": "i", "j": "I", "f": "f", "d": "d"}
# Values per 4104-byte body, §3.3 (the real numbers; pybela's table is wrong
# only for 'c', which the demo source does not use).
VALUES_PER_BUFFER = {
    ("c", 0): 4096, ("i", 0): 1024, ("j", 0): 1024, ("f", 0): 1024, ("d", 0): 512,
    ("c", 1): 816, ("i", 1): 512, ("j", 1): 512, ("f", 1): 512, ("d", 1): 341,
}
BODY_BYTES = 4104
HEADER_RE = re.compile(rb"^(0|[1-9][0-9]*)/([cjifd])$")


class ProtocolError(AssertionError):
    """The server did something the protocol does not allow."""


async def within(awaitable, timeout=DEFAULT_TIMEOUT, what="an operation"):
    """Await with a timeout; a timeout becomes a readable test failure."""
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}") from None


def run(coro, timeout=60.0):
    """Run one test coroutine with an overall timeout (for sync pytest tests)."""
    return asyncio.run(within(coro, timeout, "the test body"))


def rel_offset(size):
    """Offset R of the relative-timestamp array in a sparse body (§3.3)."""
    return (8 + size * (4096 // (size + 4))) // 4 * 4


def parse_stream_body(body, vtype, mode):
    """Parse a 4104-byte stream body as pybela does (§3.6).

    Dense: an 8-byte ref then as many values as fit in (len - 8) / size.
    Sparse: N values then N uint32 relative timestamps, N from the table.
    Returns dict(ref, data, rel) (rel None when dense).
    """
    size = TYPE_SIZE[vtype]
    code = TYPE_CODE[vtype]
    (ref,) = struct.unpack_from("<Q", body, 0)
    if mode == 0:
        n = (len(body) - 8) // size
        data = list(struct.unpack_from(f"<{n}{code}", body, 8))
        return {"ref": ref, "data": data, "rel": None}
    n = VALUES_PER_BUFFER[(vtype, 1)]
    data = list(struct.unpack_from(f"<{n}{code}", body, 8))
    rel = list(struct.unpack_from(f"<{n}I", body, rel_offset(size)))
    return {"ref": ref, "data": data, "rel": rel}


def is_list_reply(msg):
    """pybela's rule (§7): watcher is an object that contains sampleRate."""
    return isinstance(msg, dict) and isinstance(msg.get("watcher"), dict) \
        and "sampleRate" in msg["watcher"]


class ViolationList(list):
    """A list that keeps only the first 20 entries (and counts the rest)."""

    def __init__(self):
        super().__init__()
        self.more = 0

    def append(self, item):
        if len(self) < 20:
            super().append(item)
        else:
            self.more += 1

    def __repr__(self):
        return super().__repr__() + (f" (+{self.more} more)" if self.more else "")


class Waitable:
    """A tiny condition: wake waiters whenever something new arrived."""

    def __init__(self):
        self._event = asyncio.Event()

    def notify(self):
        self._event.set()

    async def wait_until(self, predicate, timeout=DEFAULT_TIMEOUT, what="a condition"):
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            left = deadline - time.monotonic()
            if left <= 0:
                if callable(what):
                    what = what()
                raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
            self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), left)
            except asyncio.TimeoutError:
                pass


class BelaClient:
    """pybela on the wire: one control socket and one data socket."""

    def __init__(self, base_url, token=None, control_path="gui_control",
                 data_path="gui_data", extra_headers=None, origin=None, small_rcvbuf=False):
        """small_rcvbuf: open sockets with a tiny kernel receive buffer and tiny
        library buffers, so that pause() really stops reading (a stalled client)."""
        self.base_url = base_url.rstrip("/")
        self.small_rcvbuf = small_rcvbuf
        self._resume = None
        self.token = token
        self.control_path = control_path
        self.data_path = data_path
        self.extra_headers = extra_headers
        self.origin = origin
        self.control = None
        self.data = None
        self.project_name = None
        self.connection_event = None
        self.vars = []            # variable table from the connect-time list (like pybela)
        self.sample_rate = None
        self.list_queue = []      # list replies, oldest first
        self.errors = []          # {"error": {...}} replies
        self.events = []          # {"event": ...} messages after the first one
        self.log_notices = []     # §2.5 log-scheduled notifications
        self.other_control = []   # anything else that is a JSON object
        self.control_raw = []     # (time, text) of every control message
        self.violations = ViolationList()  # things that would break pybela
        self._early_data = []     # data that arrived before the connect-time list
        self.buffers = {}         # name -> list of stream buffer dicts
        self.monitor = {}         # name -> list of (timestamp, value)
        self.data_log = []        # (kind, name, ...) arrival order on the data path
        self.data_messages = 0
        self._expect_body = None  # (id, type) of the last header, pybela's state
        self._tasks = []
        self.changed = Waitable()

    # ---- connection --------------------------------------------------------

    def url(self, path):
        u = f"{self.base_url}/{path}"
        if self.token is not None:
            u += f"?token={self.token}"
        return u

    async def _open(self, path, timeout, max_size=2 ** 20, compression="deflate"):
        # pybela's websockets defaults: 1 MiB messages, permessage-deflate offered
        # (the server may decline). Keep-alive pings are off: tests are short.
        if self._resume is None:
            self._resume = asyncio.Event()
            self._resume.set()
        kwargs = dict(open_timeout=timeout, close_timeout=1, ping_interval=None,
                      max_size=max_size, compression=compression)
        if self.small_rcvbuf:
            host, port = self.base_url.split("//", 1)[1].rsplit(":", 1)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            await within(loop.sock_connect(sock, (host, int(port))), timeout, "TCP connect")
            kwargs.update(sock=sock, max_queue=1, read_limit=4096)
        if self.extra_headers:
            kwargs["extra_headers"] = self.extra_headers
        if self.origin:
            kwargs["origin"] = self.origin
        return await within(websockets.connect(self.url(path), **kwargs), timeout,
                            f"opening /{path}")

    async def open_control_only(self, timeout=DEFAULT_TIMEOUT):
        """Open /gui_control and read the first message; do not reply."""
        self.control = await self._open(self.control_path, timeout)
        first = await within(self.control.recv(), timeout, "the connection event")
        self.control_raw.append((time.monotonic(), first))
        if not isinstance(first, str):
            raise ProtocolError(f"first control message is binary: {first!r:.80}")
        msg = json.loads(first)
        if not (isinstance(msg, dict) and msg.get("event") == "connection"):
            raise ProtocolError(f"first control message is not the connection event: {first:.200}")
        if not isinstance(msg.get("projectName"), str):
            raise ProtocolError(f"connection event has no string projectName: {first:.200}")
        self.connection_event = msg
        self.project_name = msg["projectName"]
        self._tasks.append(asyncio.ensure_future(self._control_loop()))
        return msg

    async def open_data(self, timeout=DEFAULT_TIMEOUT):
        self.data = await self._open(self.data_path, timeout)
        self._tasks.append(asyncio.ensure_future(self._data_loop()))

    async def connect(self, timeout=DEFAULT_TIMEOUT, reply=True):
        """pybela's connect(): connection event, connection-reply, /gui_data, list."""
        await self.open_control_only(timeout)
        if reply:
            await self.send_control({"event": "connection-reply"})
        await self.open_data(timeout)
        lst = await self.list(timeout)
        self.sample_rate = lst["sampleRate"]
        self.vars = [dict(v) for v in lst["watchers"]]
        for v in self.vars:
            n = VALUES_PER_BUFFER[(v["type"], v["timestampMode"])]
            v["data_length"] = n
            self.buffers.setdefault(v["name"], [])
            self.monitor.setdefault(v["name"], [])
        early, self._early_data = self._early_data, []
        for raw in early:
            self._handle_data(raw)
        return lst

    async def close(self):
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await within(t, 2, "a reader task to stop")
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks = []
        for ws in (self.data, self.control):
            if ws is not None:
                try:
                    await within(ws.close(), 3, "closing a socket")
                except Exception:
                    pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    # ---- control path ------------------------------------------------------

    async def send_control(self, obj, timeout=DEFAULT_TIMEOUT):
        text = obj if isinstance(obj, str) else json.dumps(obj)
        await within(self.control.send(text), timeout, "sending a control message")

    async def send_commands(self, *cmds, timeout=DEFAULT_TIMEOUT):
        await self.send_control({"watcher": list(cmds)}, timeout)

    async def _control_loop(self):
        try:
            while True:
                if not self._resume.is_set():
                    await self._resume.wait()
                raw = await self.control.recv()
                self.control_raw.append((time.monotonic(),
                                         raw if isinstance(raw, str) else len(raw)))
                self._handle_control(raw)
                self.changed.notify()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.changed.notify()

    def pause(self):
        """Stop reading both sockets (the server's queues for us fill up)."""
        self._resume.clear()

    def resume(self):
        self._resume.set()

    def _handle_control(self, raw):
        if not isinstance(raw, str):
            self._handle_control_binary(raw)
            return
        try:
            msg = json.loads(raw)
        except ValueError:
            self.violations.append(f"control message is not JSON: {raw[:200]!r}")
            return
        if not isinstance(msg, dict):
            self.violations.append(f"control message is not an object: {raw[:200]!r}")
            return
        if "watcher" in msg:
            w = msg["watcher"]
            if not isinstance(w, dict):
                self.violations.append(f"top-level watcher is not an object: {raw[:200]!r}")
                return
            if "sampleRate" in w:
                self.list_queue.append(w)
                return
            if "watcher" in w:
                self.log_notices.append(w)
                return
            self.other_control.append(msg)
            return
        if "error" in msg:
            self.errors.append(msg["error"])
            return
        if "event" in msg:
            self.events.append(msg)
            return
        self.other_control.append(msg)

    def _handle_control_binary(self, raw):
        self.violations.append(f"binary message on the control socket ({len(raw)} bytes)")

    async def list(self, timeout=DEFAULT_TIMEOUT):
        """pybela's list(): send list, then take the OLDEST queued reply."""
        await self.send_commands({"cmd": "list"}, timeout=timeout)
        await self.changed.wait_until(lambda: self.list_queue or self.control_closed(),
                                      timeout, "a list reply")
        if not self.list_queue:
            raise AssertionError("control socket closed while waiting for a list reply")
        return self.list_queue.pop(0)

    def control_closed(self):
        return self.control is None or self.control.closed

    async def var_state(self, name, timeout=DEFAULT_TIMEOUT):
        lst = await self.list(timeout)
        for v in lst["watchers"]:
            if v["name"] == name:
                return v, lst
        raise AssertionError(f"variable {name} missing from list reply")

    async def wait_error(self, timeout=DEFAULT_TIMEOUT, start=0, what="an error reply"):
        await self.changed.wait_until(lambda: len(self.errors) > start or self.control_closed(),
                                      timeout, what)
        if len(self.errors) <= start:
            raise AssertionError(f"control socket closed while waiting for {what}")
        return self.errors[start]

    # ---- pybela's command shapes (§2.3) -----------------------------------

    def all_names(self):
        return [v["name"] for v in self.vars]

    async def start_streaming(self, names):
        await self.send_commands({"cmd": "watch", "watchers": list(names),
                                  "periods": [0] * len(self.vars)})

    async def stop_streaming(self, names=None):
        await self.send_commands({"cmd": "unwatch",
                                  "watchers": list(names or self.all_names())})

    async def schedule_streaming(self, names, timestamps, durations):
        await self.send_commands({"cmd": "watch", "timestamps": list(timestamps),
                                  "durations": list(durations), "watchers": list(names)})

    async def stream_n_values_start(self, names):
        await self.send_commands({"cmd": "unwatch", "watchers": self.all_names()},
                                 {"cmd": "watch", "watchers": list(names)})

    async def start_monitoring(self, names, periods):
        await self.send_commands({"cmd": "monitor", "watchers": list(names),
                                  "periods": list(periods)})

    async def stop_monitoring(self, names):
        await self.send_commands({"cmd": "monitor", "periods": [0] * len(names),
                                  "watchers": list(names)})

    async def start_logging(self, names, timestamps=(), durations=()):
        await self.send_commands({"cmd": "log", "timestamps": list(timestamps),
                                  "durations": list(durations), "watchers": list(names)})
        return await self.list()

    async def stop_logging(self, names):
        await self.send_commands({"cmd": "unlog", "watchers": list(names)})

    async def start_controlling(self, names):
        await self.send_commands({"cmd": "control", "watchers": list(names)})
        return await self.list()

    async def stop_controlling(self, names):
        await self.send_commands({"cmd": "uncontrol", "watchers": list(names)})
        return await self.list()

    async def send_value(self, names, values):
        await self.send_commands({"cmd": "set", "watchers": list(names), "values": list(values)})

    async def send_mask(self, names, values, masks):
        await self.send_commands({"cmd": "setMask", "watchers": list(names),
                                  "values": list(values), "masks": list(masks)})

    # ---- data path ---------------------------------------------------------

    async def send_buffer(self, buffer_id, buffer_type, values, count=None,
                          timeout=DEFAULT_TIMEOUT):
        """pybela's Streamer.send_buffer (§4)."""
        await within(self.data.send(make_client_buffer(buffer_id, buffer_type, values, count)),
                     timeout, "sending a client buffer")

    async def _data_loop(self):
        try:
            while True:
                if not self._resume.is_set():
                    await self._resume.wait()
                raw = await self.data.recv()
                self._handle_data(raw)
                self.changed.notify()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.changed.notify()

    def _handle_data(self, raw):
        if not self.vars:
            # pybela ignores data until it streams; we keep it for after the list.
            self._early_data.append(raw)
            return
        self.data_messages += 1
        now = time.monotonic()
        if isinstance(raw, str):
            self.violations.append(f"text frame on the data socket: {raw[:80]!r}")
            return
        m = HEADER_RE.match(raw)
        if m:
            if self._expect_body is not None:
                self.violations.append(f"header {raw!r} while a body was expected "
                                       f"(previous header id {self._expect_body[0]})")
            if len(raw) not in (3, 4):
                self.violations.append(f"header {raw!r} is not 3-4 bytes (pybela reads it as a body)")
            vid, vtype = int(m.group(1)), m.group(2).decode()
            if vid >= len(self.vars):
                self.violations.append(f"header id {vid} out of range of the list ({len(self.vars)})")
            elif self.vars[vid]["type"] != vtype:
                self.violations.append(f"header {raw!r}: type differs from the list "
                                       f"({self.vars[vid]['type']})")
            self._expect_body = (vid, vtype)
            return
        if len(raw) in (3, 4):
            self.violations.append(f"3-4 byte data message that is not a header: {raw!r}")
            return
        if self._expect_body is None:
            self.violations.append(f"body of {len(raw)} bytes without a header")
            return
        vid, vtype = self._expect_body
        self._expect_body = None
        if vid >= len(self.vars):
            return
        var = self.vars[vid]
        name = var["name"]
        size = TYPE_SIZE[vtype]
        if len(raw) == 8 + size:
            ts, value = struct.unpack("<Q" + TYPE_CODE[vtype], raw)
            self.monitor[name].append((ts, value))
            self.data_log.append(("monitor", name, ts, value, now))
            return
        if len(raw) != BODY_BYTES:
            self.violations.append(f"body of {len(raw)} bytes for {name} "
                                   f"(expected {BODY_BYTES} or {8 + size})")
            return
        buf = parse_stream_body(raw, vtype, var["timestampMode"])
        buf["raw"] = bytes(raw)
        buf["t"] = now
        buf["name"] = name
        self.buffers[name].append(buf)
        self.data_log.append(("buffer", name, buf["ref"], None, now))

    async def wait_buffers(self, name, count, timeout=DEFAULT_TIMEOUT):
        await self.changed.wait_until(lambda: len(self.buffers[name]) >= count, timeout,
                                      f"{count} buffers of {name} "
                                      f"(have {len(self.buffers[name])})")
        return self.buffers[name][:count]

    async def wait_monitor(self, name, count, timeout=DEFAULT_TIMEOUT):
        await self.changed.wait_until(lambda: len(self.monitor[name]) >= count, timeout,
                                      f"{count} monitor frames of {name} "
                                      f"(have {len(self.monitor[name])})")
        return self.monitor[name][:count]


def make_client_buffer(buffer_id, buffer_type, values, count=None):
    """The §4 client->server buffer: id u32, type char + 3 NUL, count u32, 4 zero, values."""
    code = TYPE_CODE[buffer_type]
    n = len(values) if count is None else count
    head = struct.pack("<I4sII", buffer_id, buffer_type.encode().ljust(4, b"\0"), n, 0)
    return head + struct.pack(f"<{len(values)}{code}", *values)


async def sleep(seconds):
    await asyncio.sleep(seconds)
