"""rill across an emulated link: a `rill serve` on side "a", clients on side
"b" (tests/netem/netem.py's Link), and readers of what `rill stream`
prints, shared by the bad-network and reconnection tests.

Every wait here has a bound; a test states its own for what it proves.
"""
import os
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
PORT = 5555  # each link has its own namespaces: no collision with the host


def rill_bin():
    return os.environ.get("RILL_BIN", os.path.join(REPO, "build", "bin", "rill"))


def librill():
    """librill.so of the same build as RILL_BIN (for the Python package)."""
    if os.environ.get("RILL_LIB"):
        return os.environ["RILL_LIB"]
    build = os.path.dirname(os.path.dirname(os.path.abspath(rill_bin())))
    return os.path.join(build, "src", "librill.so")


def sanitized():
    """Why librill of this build cannot be loaded into Debian's python3
    (an ASan or TSan build), or None."""
    build = os.path.dirname(os.path.dirname(os.path.abspath(rill_bin())))
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            text = f.read()
    except OSError:
        return None
    for san in ("ASAN", "TSAN"):
        if f"RILL_{san}:BOOL=ON" in text:
            return f"a {san} librill cannot be loaded into an uninstrumented python3"
    return None


class Server:
    """`rill serve` on side "a" of `link`, its output collected."""

    def __init__(self, link, *args, rate=8000, logdir="/tmp", port=PORT):
        self.link = link
        self.url = f"ws://{link.addr_a}:{port}"
        self.argv = [rill_bin(), "serve", "--source", "demo", "--host", link.addr_a,
                     "--port", str(port), "--rate", str(rate), "--log-dir", logdir, *args]
        self.lines = []
        self.proc = link.popen("a", self.argv, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
        ready = threading.Event()

        def read():
            for line in self.proc.stdout:
                self.lines.append(line)
                if "listening on" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(10) or self.proc.poll() is not None:
            raise AssertionError(f"rill serve did not start: {self.output()}")

    def output(self):
        return "".join(self.lines)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)

    def stop(self):
        """SIGINT; the exit status (it must be 0: the server survived)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                return None
        return self.proc.returncode


def cli(link, *args, url, timeout=60):
    """Run `rill ARGS --url URL` on side "b": (status, stdout, stderr,
    seconds it took)."""
    t0 = time.monotonic()
    r = link.run("b", [rill_bin(), *args, "--url", url], stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr, time.monotonic() - t0


def start_cli(link, *args, url):
    """The same, left running: a Popen with pipes."""
    return link.popen("b", [rill_bin(), *args, "--url", url], stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, text=True)


def stream_lines(text):
    """`rill stream`'s standard output: {var: [(tick, value), ...]}."""
    out = {}
    for line in text.splitlines():
        var, tick, value = line.split(",")
        out.setdefault(var, []).append((int(tick), float(value)))
    return out


def frames_exact(rows):
    """The demo's "frame" is its tick: every value equals its tick. Returns
    the places where the ticks do not follow each other [(last, next)]."""
    bad = [(t, v) for t, v in rows if v != t]
    assert not bad, f"frame values that are not their tick: {bad[:5]}"
    return [(a, b) for (a, _), (b, _) in zip(rows, rows[1:]) if b != a + 1]


GAP_RE = re.compile(r"(\w+): ticks (\d+) to (\d+) \((\d+)\) are missing")
RESTART_RE = re.compile(r"(\w+): the device restarted while the connection was lost: "
                        r"its values from tick (\d+) of the earlier run on are lost")


def gaps_said(stderr):
    """The gaps `rill stream --reconnect` said: {var: [(first, last, n)]}."""
    out = {}
    for m in GAP_RE.finditer(stderr):
        out.setdefault(m.group(1), []).append(
            (int(m.group(2)), int(m.group(3)), int(m.group(4))))
    return out


def python_in(link, side, code, timeout=60, env=None):
    """Run Python `code` in side's namespace with the rill package and the
    e2e suite's clients importable: (status, stdout, stderr)."""
    e = dict(os.environ, RILL_LIB=librill(), RILL_BIN=rill_bin(),
             PYTHONPATH=os.pathsep.join([os.path.join(REPO, "python"),
                                         os.path.join(REPO, "tests", "e2e")]),
             PYTHONDONTWRITEBYTECODE="1")
    e.update(env or {})
    r = link.run(side, [sys.executable, "-c", code], stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, text=True, timeout=timeout, env=e)
    return r.returncode, r.stdout, r.stderr
