"""`rill serve` at its resource limits: its open-file limit (ulimit -n),
its address-space limit (ulimit -v) with huge queues, and a log writer
that cannot keep up with the device (a disk that stalls).

What must hold: the server stays up; what it cannot do it refuses with a
reason (a 503 that says which limit, a start that says which allocation),
or it drops and counts, and the client that asked is told; when the
resource comes back it serves again; it exits 0 at SIGINT.
"""
import asyncio
import ctypes
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from belaclient import run
from conftest import rill_bin
from nativeclient import KIND_MONITOR, KIND_STREAM, NativeClient


_STARTED = []


@pytest.fixture(autouse=True)
def _stop_servers():
    """Every server a test started is gone after it, whatever failed."""
    yield
    while _STARTED:
        s = _STARTED.pop()
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait(5)


class Serve:
    """`rill serve --port 0 ...` under `prlimit` options, output collected;
    killed after the test if it is still running (the test stops it with
    SIGINT and checks its status when all went well)."""

    def __init__(self, *args, limits=(), rate=8000, logdir=None):
        self.logdir = logdir or tempfile.mkdtemp(prefix="rill-limits-")
        argv = ["prlimit", *limits, rill_bin(), "serve", "--source", "demo", "--port", "0",
                "--rate", str(rate), "--log-dir", self.logdir, *args]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True)
        _STARTED.append(self)
        self.lines = []
        self.port = None
        started = threading.Event()

        def read():
            for line in self.proc.stdout:
                self.lines.append(line)
                m = re.search(r"listening on ws://[^:]+:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    started.set()
            started.set()

        threading.Thread(target=read, daemon=True).start()
        started.wait(10)
        self.url = f"ws://127.0.0.1:{self.port}"

    def output(self):
        return "".join(self.lines)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                return None
        return self.proc.returncode


def sanitized():
    """Why an address-space limit cannot be tried on this build, or None:
    ASan and TSan map terabytes of shadow memory at start."""
    cache = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(rill_bin()))),
                         "CMakeCache.txt")
    try:
        with open(cache) as f:
            text = f.read()
    except OSError:
        return None
    for san in ("ASAN", "TSAN"):
        if f"RILL_{san}:BOOL=ON" in text:
            return f"a {san} build maps its shadow memory beyond any small ulimit -v"
    return None


def rill(*args, timeout=30):
    r = subprocess.run([rill_bin(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def upgrade_request(port):
    return (b"GET /gui_control HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n" % port)


def test_at_its_open_file_limit_the_server_refuses_with_503_and_serves_again():
    srv = Serve(limits=["--nofile=48"])
    assert srv.port, srv.output()
    socks = []
    try:
        # 80 connections against a limit of 48 descriptors: those it takes
        # are upgraded, the others are refused at once with a 503 saying
        # why, none is left hanging unanswered (each answered within 2 s).
        for _ in range(80):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
            s.sendall(upgrade_request(srv.port))
            socks.append(s)
        answers = {}
        for s in socks:
            s.settimeout(2)
            try:
                head = s.recv(400)
            except (socket.timeout, ConnectionResetError) as e:
                head = type(e).__name__.encode()
            key = head.split(b"\r\n")[0]
            answers[key] = answers.get(key, 0) + 1
            if key.startswith(b"HTTP/1.1 503"):
                assert b"too many connections (at its open-file limit, ulimit -n)" in head
        ok = answers.get(b"HTTP/1.1 101 Switching Protocols", 0)
        refused = answers.get(b"HTTP/1.1 503 Service Unavailable", 0)
        assert ok + refused == 80, answers
        assert 20 <= ok <= 32 and refused >= 48, answers
        # A client is told why, within its timeout.
        st, _, err = rill("ls", "--url", srv.url)
        assert st == 1 and "HTTP 503" in err and "open-file limit" in err, err
        # The server's reason is the advice: no "is the port right?".
        assert "try again later" in err and "is the port right" not in err, err
        assert err.count("\n") == 1, err
        assert srv.alive()
    finally:
        for s in socks:
            s.close()
    # Descriptors back: it serves again.
    time.sleep(0.5)
    st, out, err = rill("stream", "frame", "-n", "800", "--url", srv.url)
    assert st == 0 and len(out.splitlines()) == 800, err
    # The log says it once (rate-limited), with the limit, not once per
    # connection.
    said = [line for line in srv.lines if "refusing connections" in line]
    assert len(said) == 1 and "RLIMIT_NOFILE 48" in said[0], srv.output()[-2000:]
    assert srv.stop() == 0, srv.output()[-2000:]


@pytest.mark.skipif(sanitized() is not None, reason=str(sanitized()))
def test_under_a_small_address_space_limit_the_server_does_not_start_and_says_why():
    # Its rings alone are 16 MiB: under 30 MB it cannot start, and says
    # which allocation failed and what limit to look at, within 10 s.
    t0 = time.monotonic()
    srv = Serve(limits=[f"--as={30 << 20}"])
    srv.proc.wait(10)
    assert time.monotonic() - t0 < 10
    assert srv.proc.returncode == 1, srv.output()
    assert "cannot create the server's rings" in srv.output(), srv.output()
    assert "ulimit -v" in srv.output(), srv.output()


@pytest.mark.skipif(sanitized() is not None, reason=str(sanitized()))
def test_huge_queues_under_a_memory_limit_degrade_to_counted_drops():
    # 100 GB per-client queues that a 112 MB address space cannot hold: a
    # client that stops reading 8 variables at 192 kHz (about 8 MB/s) makes
    # the server run out of memory within seconds. It must drop what it
    # cannot hold, count it and tell the client (the next message's
    # `dropped`, and a notice before it): when the client reads again,
    # every gap in the numbers and ticks of what it gets is covered by
    # those counts. The server survives, and serves again once the client
    # is gone.
    limit = 112 << 20
    srv = Serve("--queue-bytes", "100000000000", limits=[f"--as={limit}"], rate=192000)
    assert srv.port, srv.output()

    def vm_size():
        for line in open(f"/proc/{srv.proc.pid}/status"):
            if line.startswith("VmSize:"):
                return int(line.split()[1]) << 10
        return 0

    async def main():
        async with NativeClient(srv.url, small_rcvbuf=True) as c:
            await c.connect(timeout=10)
            names = ["frame", "frame_d", "sine", "noise", "chirp", "mic0", "mic1", "inbox"]
            await c.watch(names, lengths=[16384] * len(names))
            await c.wait_messages("frame", 2, timeout=10)
            c.pause()
            for _ in range(100):  # until the address space is full: 10 s at most
                await asyncio.sleep(0.1)
                if vm_size() > limit - (8 << 20):
                    break
            assert vm_size() > limit - (8 << 20), f"the server grew to {vm_size() >> 20} MiB only"
            await asyncio.sleep(3.0)  # and stays there, dropping
            assert srv.alive()
            c.resume()

            def told():
                ms = c.stream("frame")
                return any(m["dropped"] for m in ms) and ms[-1]["dropped"] == 0
            await c.changed.wait_until(told, 30, "a message of frame that counts drops")
            return [m for m in c.stream("frame") if m["kind"] != KIND_MONITOR], \
                c.drop_notices("frame"), list(c.violations)

    msgs, notices, violations = run(main(), timeout=90)
    assert not violations, violations
    dropped = 0
    for a, b in zip(msgs, msgs[1:]):
        # Every message is numbered; a gap in the numbers is exactly the
        # drops the next message reports, and the ticks follow.
        assert b["seq"] - a["seq"] == 1 + b["dropped"], (a["seq"], b["seq"], b["dropped"])
        if a["kind"] == KIND_STREAM and b["kind"] == KIND_STREAM:
            assert b["first_ts"] - a["first_ts"] == 16384 * (1 + b["dropped"])
        dropped += b["dropped"]
    assert dropped > 0, "the server never ran out of memory for this client"
    assert sum(n["buffers"] for n in notices) == dropped, (notices, dropped)
    assert srv.alive()
    time.sleep(1.0)  # the client's queue is freed once it is gone
    st, out, err = rill("stream", "frame", "-n", "2000", "--url", srv.url)
    assert st == 0 and len(out.splitlines()) == 2000, err
    assert srv.stop() == 0, srv.output()[-2000:]


# ---- A log writer that cannot keep up -------------------------------------

PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_DETACH = 0x4206, 0x4207, 17
WALL = 0x40000000


def freeze_thread(pid, name, seconds):
    """Stop one thread of a process for `seconds` (ptrace stops a single
    thread, as a write(2) to a stalled disk would), then let it go."""
    tids = [t for t in os.listdir(f"/proc/{pid}/task")
            if open(f"/proc/{pid}/task/{t}/comm").read().strip() == name]
    assert len(tids) == 1, f"no thread {name} in {pid}"
    tid = int(tids[0])
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    libc.ptrace.restype = ctypes.c_long
    if libc.ptrace(PTRACE_SEIZE, tid, None, None) != 0:
        pytest.skip(f"ptrace is not allowed here (errno {ctypes.get_errno()})")
    try:
        assert libc.ptrace(PTRACE_INTERRUPT, tid, None, None) == 0, ctypes.get_errno()
        os.waitpid(tid, WALL)
        time.sleep(seconds)
    finally:
        libc.ptrace(PTRACE_DETACH, tid, None, None)


LOGGED = ["frame", "frame_d", "sine", "noise", "chirp", "gain", "flags", "inbox", "mic0", "mic1"]
DROP_RE = re.compile(r"the device dropped (\d+) buffers of (\w+)'s log file")
LOST_RE = re.compile(r"(\w+): (\d+) values were lost on the device")


def test_a_log_writer_that_falls_behind_drops_counted_and_rill_log_says_so(tmp_path):
    # 10 variables at 192 kHz fill the 8 MiB log ring in about a second;
    # the writer is stopped for 2 s (a disk that stalls): buffers are
    # dropped. The client that asked is told each file's drops (within 100
    # ms of their happening, before log-ended), rill log says so and exits
    # 1, and what each downloaded file lacks is exactly what was said.
    srv = Serve(rate=192000, logdir=str(tmp_path))
    assert srv.port, srv.output()
    dl = tmp_path / "dl"
    dl.mkdir()
    p = subprocess.Popen([rill_bin(), "log", *LOGGED, "-d", "4", "-o", str(dl),
                          "--url", srv.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        time.sleep(0.8)
        freeze_thread(srv.proc.pid, "rill-logwriter", 2.0)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    assert p.returncode == 1, err
    said = {m.group(2): 0 for m in DROP_RE.finditer(err)}
    for m in DROP_RE.finditer(err):
        said[m.group(2)] += int(m.group(1))
    lost = {m.group(1): int(m.group(2)) for m in LOST_RE.finditer(err)}
    assert set(said) == set(LOGGED), err
    for var in LOGGED:
        per_buffer = 512 if var in ("frame_d", "inbox") else 1024
        assert lost.get(var) == said[var] * per_buffer, (var, said[var], lost.get(var), err)
    assert "the device could not write all of a log file" in err, err
    # The server says it too, and goes on.
    assert "the log writer fell behind" in srv.output()
    st, out, err = rill("log", "frame", "-d", "0.5", "-o", str(dl), "--url", srv.url)
    assert st == 0, err
    assert srv.stop() == 0, srv.output()[-2000:]
