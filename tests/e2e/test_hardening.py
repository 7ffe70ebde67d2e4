"""What attacking `rill serve` found (issue 13), each proved fixed against the
real server: a log failure's notice is valid JSON naming the whole path (it
used to send stack memory); GET /files/ and the dashboard serve only regular
files inside their directory (symbolic links were followed); a Host that is
not the server's is refused (DNS rebinding); a frame header announcing
2^62 bytes, or a frame not masked, closes its connection; the fd limit is
reported, not logged once per refused accept.

Every server here runs under the fixture, so its exit status (0 after
SIGINT; under ASan, no leak and no bad access) is checked at teardown.
"""

import asyncio
import base64
import os
import re
import socket
import struct
import subprocess
import time

import pytest
import websockets
import websockets.exceptions

from belaclient import BelaClient, run, within
from conftest import rill_bin
from helpers import assert_server_serves_a_new_client, http_get

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs in a new mount "
                                                         "namespace needs root")


# ---- A log write that fails: the notice ------------------------------------

# The server runs in a mount namespace of its own (the host never sees the
# tmpfs) with its log directory deep inside a 64 KiB tmpfs. The script ends
# by exec-ing the server, so the fixture signals and waits for it.
SMALL_DISK = r'''
set -eu
mount -t tmpfs -o size=64k rill-small-disk "$1"
mkdir -p "$2"
shift 2
exec "$@"
'''


def long_log_dir(mnt, length):
    """A directory path under mnt exactly `length` bytes long (names < 255 bytes)."""
    path = str(mnt)
    while len(path) < length:
        room = length - len(path) - 1
        path += "/" + "d" * min(200, room if room != 0 else 1)
    assert len(path) == length, (len(path), length)
    return path


@ROOT_ONLY
def test_a_failed_log_write_reaches_every_client_as_json_naming_the_whole_path(rill_serve,
                                                                                tmp_path):
    """The issue's repro: 64 KiB tmpfs, an 817-byte log-dir path, log sine and noise.
    Before, the notice was formatted into a 512-byte stack buffer and sent with
    snprintf's return value as its length: ~460 bytes of the server's stack went
    to every client (ASan: stack-buffer-overflow)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    logdir = long_log_dir(mnt, 817)
    srv = rill_serve(logdir=logdir, wrap=["unshare", "-m", "--propagation", "private",
                                          "sh", "-c", SMALL_DISK, "sh", str(mnt), logdir])

    # A rill stream running meanwhile hears the failure as a report about
    # another client's log (not a refusal of its own command) and goes on.
    watcher = subprocess.Popen([rill_bin(), "stream", "frame", "-n", "88200", "--url", srv.url],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    async def body():
        a, b = BelaClient(srv.url), BelaClient(srv.url)
        try:
            await a.connect()
            await b.connect()
            await a.start_logging(["sine", "noise"])
            for c in (a, b):
                await c.changed.wait_until(
                    lambda c=c: {e.get("variable") for e in c.errors} >= {"sine", "noise"},
                    10, lambda c=c: f"both failure notices (got {c.errors})")
                for e in c.errors:
                    msg = e["message"]
                    assert msg.startswith(f"logging {e['variable']} to {logdir}/"), msg
                    assert "failed: No space left on device" in msg, msg
                    assert msg.endswith("; the file keeps every buffer written before "
                                        "the failure"), msg
                assert not c.violations, c.violations  # every message was JSON text
            raws = [r for _, r in a.control_raw if isinstance(r, str) and '"error"' in r]
            assert raws and all(r.isprintable() for r in raws), raws
        finally:
            await a.close()
            await b.close()

    run(body(), 40)
    out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err
    assert len(out.splitlines()) == 88200
    assert f"rill: the device reports: logging sine to {logdir}/" in err, err
    assert "refused" not in err, err


# ---- Files: no symbolic link, nothing but a regular file -------------------

@pytest.fixture
def secret(tmp_path):
    """A file outside every served directory, which no request may read."""
    p = tmp_path / "secret.txt"
    p.write_text("the secret outside the log directory\n")
    return p


def test_a_symlink_or_fifo_in_the_log_dir_is_not_served(rill_serve, tmp_path, secret):
    logdir = tmp_path / "logs"
    logdir.mkdir()
    (logdir / "real.bin").write_bytes(b"watcher\0real")
    os.symlink(secret, logdir / "leak.bin")
    os.symlink("/etc/passwd", logdir / "passwd.bin")
    os.symlink(logdir / "real.bin", logdir / "inside.bin")   # a link, even to a file inside
    os.mkfifo(logdir / "pipe.bin")
    srv = rill_serve(logdir=str(logdir))
    assert http_get(srv.port, "/files/real.bin") == (200, b"watcher\0real")
    for name in ("leak.bin", "passwd.bin", "inside.bin", "pipe.bin"):
        t0 = time.monotonic()
        status, body = http_get(srv.port, f"/files/{name}")
        assert status == 404, (name, status, body[:200])
        assert b"secret" not in body and b"root:" not in body
        assert b"links are not" in body, body
        assert time.monotonic() - t0 < 4, f"{name}: the server took its time (a FIFO's open?)"
    # Still serving.
    assert http_get(srv.port, "/files/real.bin") == (200, b"watcher\0real")
    run(assert_server_serves_a_new_client(srv.url), 20)


def test_only_log_files_of_the_log_dir_are_served(rill_serve, tmp_path):
    """The log directory defaults to the working directory: its other files
    (the server's own output, a script, notes) are not log files and not
    served, by GET or HEAD; log files still are."""
    logdir = tmp_path / "work"
    logdir.mkdir()
    (logdir / "real.bin").write_bytes(b"watcher\0real")
    for name in ("serve.log", "notes.txt", "run.sh", "bin", "x.bin.txt"):
        (logdir / name).write_text("private: not a log file\n")
    srv = rill_serve(logdir=str(logdir))
    for name in ("serve.log", "notes.txt", "run.sh", "bin", "x.bin.txt"):
        status, body = http_get(srv.port, f"/files/{name}")
        assert status == 400, (name, status, body[:200])
        assert b"private" not in body
        assert b"log files end in .bin" in body, body
        assert head(srv.port, f"/files/{name}") == 400
    assert http_get(srv.port, "/files/real.bin") == (200, b"watcher\0real")
    assert head(srv.port, "/files/real.bin") == 200


def head(port, path):
    """HEAD's status (the server closes after it: Connection: close)."""
    return raw_request(port, f"HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                             "Connection: close\r\n\r\n")[0]


def test_a_symlink_in_the_web_root_is_not_served(rill_serve, tmp_path, secret):
    web = tmp_path / "web"
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html><title>page</title>")
    (web / "assets" / "app.js").write_text("console.log(1)")
    os.symlink(secret, web / "leak.txt")
    os.symlink(secret.parent, web / "up")                   # a linked directory
    os.symlink("/etc", web / "assets" / "etc")
    srv = rill_serve("--web-root", str(web))
    assert http_get(srv.port, "/")[0] == 200
    assert http_get(srv.port, "/assets/app.js") == (200, b"console.log(1)")
    for path in ("/leak.txt", "/up/secret.txt", "/assets/etc/passwd"):
        status, body = http_get(srv.port, path)
        assert status == 404, (path, status, body[:200])
        assert b"secret" not in body and b"root:" not in body


# ---- The Host header: DNS rebinding ----------------------------------------

def raw_request(port, head, timeout=5):
    """Send raw request bytes; return (status, head and body as text). Reads the
    head, then the body its content-length announces (a 101 has none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        top, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in top.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    text = (top + b"\r\n\r\n" + body).decode("latin-1")
    return int(text.split(" ", 2)[1]), text


def upgrade(port, host, path="/gui_control", extra=""):
    key = base64.b64encode(os.urandom(16)).decode()
    return raw_request(port, f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                             f"Sec-WebSocket-Version: 13\r\n{extra}\r\n")


def get(port, host, path="/", extra=""):
    return raw_request(port, f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n")


@pytest.mark.parametrize("token", [None, "s3cret-T0ken"], ids=["no_token", "token"])
def test_a_page_reached_through_dns_rebinding_is_refused(rill_serve, tmp_path, token):
    """A rebinding page talks to 127.0.0.1 under its own name: Host and Origin both
    say evil.example:PORT. Refused on HTTP and both WebSocket paths, with a right
    token too; the server's own names are served."""
    logdir = tmp_path / "logs"
    logdir.mkdir()
    (logdir / "frame.bin").write_bytes(b"watcher\0")
    srv = rill_serve(*(["--token", token] if token else []), logdir=str(logdir))
    p = srv.port
    q = f"?token={token}" if token else ""
    for host in (f"evil.example:{p}", f"EVIL.example.:{p}", f"127.0.0.1.evil.example:{p}",
                 f"localhost.evil.example:{p}", f"127.0.0.1:{p + 1}", f"localhost:{p + 1}",
                 f"127.0.0.2:{p}", f"[::1]:{p}", "evil.example"):
        origin = f"Origin: http://{host}\r\n"
        for path in ("/gui_control", "/gui_data"):
            status, text = upgrade(p, host, path + q, origin)
            assert status == 403, (host, path, text[:300])
            assert "DNS rebinding" in text and "--allow-host" in text, text
        for path in ("/files/frame.bin", "/"):
            status, text = get(p, host, path + q)
            assert status == 403, (host, path, text[:300])
            assert "watcher" not in text
    for host in (f"127.0.0.1:{p}", f"localhost:{p}", f"LocalHost:{p}", f"app.localhost:{p}"):
        status, text = upgrade(p, host, "/gui_control" + q)
        assert status == 101, (host, text[:300])
        status, text = get(p, host, "/files/frame.bin" + q)
        assert status == 200, (host, text[:300])
    out = srv.output()
    assert "refused a WebSocket with Host evil.example:" in out, out[-2000:]


def test_allow_host_admits_a_name_of_the_users(rill_serve):
    srv = rill_serve("--allow-host", "studio.example", "--allow-host", "proxy.example")
    p = srv.port
    assert upgrade(p, f"studio.example:{p}")[0] == 101
    assert upgrade(p, "proxy.example:443")[0] == 101          # any port: a proxy's
    assert upgrade(p, f"evil.example:{p}")[0] == 403
    assert get(p, f"Studio.Example:{p}", "/files/nothing.bin")[0] == 404   # past the check
    any_host = rill_serve("--allow-host", "*")
    assert upgrade(any_host.port, f"evil.example:{any_host.port}")[0] == 101


def test_allow_host_refuses_a_name_with_a_port():
    import subprocess
    from conftest import rill_bin
    r = subprocess.run([rill_bin(), "serve", "--allow-host", "a.example:80"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "without a port" in r.stderr


# ---- Frames -----------------------------------------------------------------

def ws_open(port, path="/gui_control"):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        assert chunk, "closed during the handshake"
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s, rest


def read_until_closed(s, rest, timeout):
    """Everything the server sends until it closes the TCP connection; None if it
    is still open after `timeout` seconds."""
    s.settimeout(0.2)
    data, end = rest, time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
    return None


def frames(data):
    """(opcode, payload) of each whole server frame (unmasked) in data."""
    out, i = [], 0
    while i + 2 <= len(data):
        op, n = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if n == 126:
            n, i = struct.unpack_from(">H", data, i)[0], i + 2
        elif n == 127:
            n, i = struct.unpack_from(">Q", data, i)[0], i + 8
        out.append((op, data[i:i + n]))
        i += n
    return out


@pytest.mark.parametrize("path", ["/gui_control", "/gui_data"])
def test_a_frame_announcing_2_62_bytes_closes_the_connection(rill_server, path):
    """The header announces 2^62 bytes (b63 clear, so libwebsockets takes it) and the
    first bytes of payload follow. The server says why on the control socket and
    closes with 1009 at once; it used to read on, discarding, for ever."""
    control, crest = ws_open(rill_server.port)            # gets the data path's error
    s, rest = ws_open(rill_server.port, path)
    s.sendall(bytes([0x82, 0xFF]) + struct.pack(">Q", 1 << 62) + os.urandom(4) + b"x" * 64)
    got = read_until_closed(s, rest, 5)
    assert got is not None, "the connection is still open 5 s after the header"
    close = [p for op, p in frames(got) if op == 0x8]
    assert close and struct.unpack(">H", close[0][:2])[0] == 1009, frames(got)
    s.close()
    said = b"a frame of 4611686018427387904 bytes announced"
    if path == "/gui_control":   # told on the socket itself, before its close frame
        assert any(op == 0x1 and said in p for op, p in frames(got)), frames(got)
    else:                        # on the control socket of the same peer
        control.settimeout(5)
        data, end = crest, time.monotonic() + 5
        while said not in data and time.monotonic() < end:
            try:
                data += control.recv(65536)
            except socket.timeout:
                break
        assert said in data, data[-500:]
    control.close()
    run(assert_server_serves_a_new_client(rill_server.url), 20)


def test_an_unmasked_client_frame_closes_the_connection(rill_server):
    """RFC 6455 5.1: a server MUST close the connection upon a frame that is not
    masked (masking protects proxies from bytes a browser's script chose; browsers
    always mask). libwebsockets 4.1.6 takes such frames; src/server/wsguard.c
    reads the headers of what it takes and closes with 1002. Every kind of frame:
    test_masking.py."""
    s, rest = ws_open(rill_server.port)
    payload = b'{"watcher":[{"cmd":"list"}]}'
    s.sendall(bytes([0x81, len(payload)]) + payload)
    got = read_until_closed(s, rest, 5)
    s.close()
    assert got is not None, "an unmasked frame was taken and the connection kept"
    assert not any(op == 0x1 and b'"watchers"' in p for op, p in frames(got)), \
        "an unmasked list command was answered"
    close = [p for op, p in frames(got) if op == 0x8]
    assert close and struct.unpack(">H", close[0][:2])[0] == 1002, frames(got)


def test_a_message_a_little_over_the_limit_is_skipped_and_the_connection_kept(rill_server):
    """The other side of the 2^62 rule: 70 KiB in one frame is read to its end and
    refused with an error (test_bad_input has the text), the connection kept."""
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            await c.send_control('{"pad":"' + "x" * (70 * 1024) + '"}')
            err = await c.wait_error(timeout=5)
            assert "max_message_bytes" in err["message"], err
            assert not c.control_closed()
            await c.list()
        finally:
            await c.close()

    run(body(), 20)


# ---- The fd limit -----------------------------------------------------------

FD_LIMIT = r'''
ulimit -n "$1"
shift
exec "$@"
'''


def test_at_the_fd_limit_refused_connections_are_reported_once_naming_the_limit(rill_serve):
    """With 40 descriptors and 80 clients waiting, libwebsockets fails accept() on
    every turn of its loop (it used to log each: 2.1 million lines in 10 s). One line
    says which limit was hit; more come at most every 10 s."""
    srv = rill_serve(wrap=["sh", "-c", FD_LIMIT, "sh", "40"])
    socks = []
    try:
        for _ in range(80):
            socks.append(socket.create_connection(("127.0.0.1", srv.port), timeout=5))
        time.sleep(3)
    finally:
        for s in socks:
            s.close()
    # The server serves again once they are gone (it may refuse with a 503
    # while it still holds some of them: a sanitizer build is slow to see
    # 80 closes).
    deadline = time.monotonic() + 20
    while True:
        try:
            run(assert_server_serves_a_new_client(srv.url), 20)
            break
        except (AssertionError, OSError, websockets.exceptions.InvalidStatusCode):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    lines = srv.output().splitlines()
    # The server refuses at the limit less its reserve (a 503, said once),
    # and libwebsockets' own failed accepts, if any, are said once too.
    refused = [line for line in lines
               if "cannot accept connections" in line or "refusing connections" in line]
    assert len(refused) == 1, refused[:5]
    assert re.search(r"RLIMIT_NOFILE,? 40\b", refused[0]), refused[0]
    assert not [line for line in lines if "accept: errno" in line and line not in refused]
    assert len(lines) < 60, f"{len(lines)} lines of output:\n" + "\n".join(lines[-20:])
