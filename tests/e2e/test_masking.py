"""RFC 6455 5.1 against the real `rill serve`: a client frame that is not
masked closes its connection with 1002 (src/server/wsguard.c, which reads the
frame headers of every byte libwebsockets takes), and every masked frame keeps
working: fragments with a ping between them, 16- and 64-bit lengths, a zero
key, a payload that looks like an unmasked header, headers cut across TCP
segments, frames sent behind the upgrade request, an upgrade after a kept-alive
HTTP request. Raw sockets, because every WebSocket library masks.
"""

import os
import socket
import struct
import time

import pytest

from test_hardening import frames, read_until_closed, ws_open

LIST = b'{"watcher":[{"cmd":"list"}]}'


def frame(op, payload, fin=True, key=None, masked=True):
    """A client frame; key None = a random one."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | op])
    bit = 0x80 if masked else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", n)
    if not masked:
        return head + payload
    key = os.urandom(4) if key is None else key
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class Reader:
    """Everything a server sent on one socket, read on demand."""

    def __init__(self, s, rest):
        self.s, self.data = s, rest

    def until(self, want, timeout=10):
        """Server frames until want(frames) holds; fails naming what came."""
        self.s.settimeout(0.2)
        end = time.monotonic() + timeout
        while not want(frames(self.data)):
            assert time.monotonic() < end, f"not seen in {timeout} s: {frames(self.data)}"
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                continue
            assert chunk, f"the server closed the connection: {frames(self.data)}"
            self.data += chunk
        return frames(self.data)


def n_lists(fs):
    return sum(op == 0x1 and b'"watchers"' in p for op, p in fs)


def answered_list(fs):
    return n_lists(fs) > 0


def closed_with_1002(s, rest):
    got = read_until_closed(s, rest, 10)
    s.close()
    assert got is not None, "the connection is still open 10 s after an unmasked frame"
    fs = frames(got)
    close = [p for op, p in fs if op == 0x8]
    assert close and struct.unpack(">H", close[0][:2])[0] == 1002, fs
    return fs


UNMASKED = {
    "text": lambda: frame(0x1, LIST, masked=False),
    "binary": lambda: frame(0x2, b"\x00" * 40, masked=False),
    "ping": lambda: frame(0x9, b"are you there", masked=False),
    "close": lambda: frame(0x8, struct.pack(">H", 1000), masked=False),
    "continuation": lambda: frame(0x1, LIST[:10], fin=False) + frame(0x0, LIST[10:],
                                                                      masked=False),
    "16-bit length": lambda: frame(0x1, LIST + b" " * 300, masked=False),
    "64-bit length": lambda: frame(0x1, LIST + b" " * 70000, masked=False),
}


@pytest.mark.parametrize("kind", list(UNMASKED))
def test_an_unmasked_frame_of_any_kind_closes_with_1002_and_is_not_acted_on(rill_server, kind):
    s, rest = ws_open(rill_server.port)
    s.sendall(UNMASKED[kind]())
    fs = closed_with_1002(s, rest)
    assert not answered_list(fs), "an unmasked list command was answered"
    assert not any(op == 0xA for op, _ in fs), "an unmasked ping was answered"


def test_an_unmasked_frame_on_the_data_path_closes_it_too(rill_server):
    s, rest = ws_open(rill_server.port, "/gui_data")
    s.sendall(frame(0x2, b"\x01\x02\x03\x04", masked=False))
    closed_with_1002(s, rest)


def test_an_unmasked_header_cut_across_segments_is_still_seen(rill_server):
    s, rest = ws_open(rill_server.port)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # A masked frame whose header comes a byte at a time, then an unmasked
    # one the same way: the guard's state runs across reads.
    good = frame(0x1, LIST)
    for i in range(len(good)):
        s.sendall(good[i:i + 1])
        time.sleep(0.01)
    Reader(s, rest).until(answered_list)
    bad = frame(0x1, LIST, masked=False)
    s.sendall(bad[:1])
    time.sleep(0.1)
    s.sendall(bad[1:])
    closed_with_1002(s, b"")


def test_masked_frames_before_an_unmasked_one_are_answered_then_it_closes(rill_server):
    s, rest = ws_open(rill_server.port)
    s.sendall(frame(0x1, LIST) + frame(0x1, LIST, masked=False))
    fs = closed_with_1002(s, rest)
    assert n_lists(fs) == 1, fs


def test_masked_frames_of_every_shape_are_taken(rill_server):
    """Each step waits for its answer, so a guard that lost its place in
    the stream would close the connection (1002) and fail the step."""
    s, rest = ws_open(rill_server.port)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    r = Reader(s, rest)

    def step(*parts, answers=1):
        before = n_lists(frames(r.data))
        for part in parts:
            s.sendall(part)
            time.sleep(0.05)
        return r.until(lambda fs: n_lists(fs) >= before + answers)

    # Fragments of one message with a ping between them: a pong, one answer.
    fs = step(frame(0x1, LIST[:5], fin=False) + frame(0x9, b"ping!") +
              frame(0x0, LIST[5:15], fin=False) + frame(0x0, LIST[15:]))
    assert any(op == 0xA and p == b"ping!" for op, p in fs), fs
    # A 16-bit length; a zero key (legal: the bit is what counts).
    step(frame(0x1, LIST + b" " * 300))
    step(frame(0x1, LIST, key=b"\0\0\0\0"))
    # Sent as is (zero key), a payload that reads like unmasked frame
    # headers (DEL, then 0x7e: no mask bit, 16-bit length): skipped by length.
    step(frame(0x1, b'{"pad":"\x7f\x7e\x7f\x7f","watcher":[{"cmd":"list"}]}',
               key=b"\0\0\0\0"))
    # Headers cut anywhere across segments.
    two = frame(0x1, LIST + b" " * 200) + frame(0x1, LIST)
    step(two[:1], two[1:3], two[3:240], two[240:], answers=2)
    # A 64-bit length over the message limit: refused with an error, the
    # connection kept, and the next frame still found where it begins.
    step(frame(0x1, LIST + b" " * 70000), frame(0x1, LIST))
    assert not any(op == 0x8 for op, _ in frames(r.data)), frames(r.data)
    s.close()


def raw_upgrade(port, path="/gui_control"):
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\n\r\n").encode()


def after_101(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        assert chunk, f"closed during the handshake: {data!r}"
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return rest


@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
def test_a_frame_sent_with_the_upgrade_request_is_judged_like_any_other(rill_server, masked):
    """In one segment with the request, before the 101: the guard cuts
    libwebsockets' read at the request's end, so it knows where the frame
    begins."""
    s = socket.create_connection(("127.0.0.1", rill_server.port), timeout=5)
    s.sendall(raw_upgrade(rill_server.port) + frame(0x1, LIST, masked=masked))
    rest = after_101(s)
    if masked:
        Reader(s, rest).until(answered_list)
        s.close()
    else:
        assert not answered_list(closed_with_1002(s, rest))


def test_an_upgrade_after_a_kept_alive_http_request_is_guarded(rill_server):
    s = socket.create_connection(("127.0.0.1", rill_server.port), timeout=5)
    s.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{rill_server.port}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, "closed after the first request"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 "), head  # 200, or 404 without a dashboard
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk, "closed during the body"
        body += chunk
    assert len(body) == length, "more than the body came"
    s.sendall(raw_upgrade(rill_server.port))
    rest = after_101(s)
    s.sendall(frame(0x1, LIST))
    Reader(s, rest).until(answered_list)
    s.sendall(frame(0x1, LIST, masked=False))
    closed_with_1002(s, b"")
