"""Fixtures that run a real `rill serve` process for the end-to-end tests.

The binary comes from $RILL_BIN, default <repo>/build/bin/rill. A missing
binary is a test failure with a clear message, never a silent skip.
"""

import collections
import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import wave

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
LISTEN_RE = re.compile(r"listening on ws://(\[[^\]]+\]|[^\s:/]+):(\d+)")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def rill_bin():
    return os.environ.get("RILL_BIN", os.path.join(REPO, "build", "bin", "rill"))


def example_path(name):
    """The built example program `name` next to RILL_BIN (<build>/examples/).
    Skips when that build was configured without examples (the sanitizer
    builds of .ci/run), and fails when they should be there and are not."""
    build = os.path.dirname(os.path.dirname(rill_bin()))
    path = os.path.join(build, "examples", name)
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            if "RILL_BUILD_EXAMPLES:BOOL=OFF" in f.read():
                pytest.skip(f"{build} is built with RILL_BUILD_EXAMPLES=OFF")
    except OSError:
        pass
    pytest.fail(f"{path} is not built (build the examples next to RILL_BIN's bin/, "
                f"RILL_BUILD_EXAMPLES=ON)", pytrace=False)


class RillServer(collections.namedtuple("RillServer", "url port logdir process")):
    """(url, port, logdir, process) of a running `rill serve`, plus helpers."""

    __slots__ = ()

    @property
    def host(self):
        return "127.0.0.1"

    @property
    def http_url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.process.pid

    def output(self):
        """Everything the server printed so far (stdout and stderr)."""
        return self.process._rill_output()


class _Runner:
    def __init__(self, tmp_path_factory):
        self.tmp_path_factory = tmp_path_factory
        self.servers = []

    def start(self, *args, rate=44100, block=64, logdir=None, host="127.0.0.1", wrap=()):
        binary = rill_bin()
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            pytest.fail(f"rill binary not found or not executable: {binary} "
                        f"(build it with `cmake -S . -B build && cmake --build build -j2`, "
                        f"or set RILL_BIN)", pytrace=False)
        if logdir is None:
            logdir = str(self.tmp_path_factory.mktemp("rill-logs"))
        argv = [*wrap, binary, "serve", "--source", "demo", *(["--host", host] if host else []),
                "--port", "0", "--rate", str(rate),
                *(["--block", str(block)] if block is not None else []), "--log-dir", logdir,
                *args]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, bufsize=1)
        lines = []
        found = threading.Event()
        port_box = []

        def reader():
            for line in proc.stdout:
                lines.append(line)
                if not found.is_set():
                    m = LISTEN_RE.search(line)
                    if m:
                        port_box.append(int(m.group(2)))
                        found.set()
            found.set()

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        proc._rill_output = lambda: "".join(lines)
        proc._rill_reader = t
        proc._rill_argv = argv
        self.servers.append(proc)
        found.wait(START_TIMEOUT)
        if not port_box:
            alive = proc.poll() is None
            pytest.fail(f"`{' '.join(argv)}` printed no 'listening on ws://HOST:PORT' line within "
                        f"{START_TIMEOUT:.0f} s (process {'running' if alive else 'exited with ' + str(proc.returncode)}); "
                        f"output:\n{''.join(lines)[-3000:]}", pytrace=False)
        port = port_box[0]
        return RillServer(f"ws://127.0.0.1:{port}", port, logdir, proc)

    def stop(self, proc, sig=signal.SIGINT):
        """Signal the server and return its exit code (None if it hung and was killed)."""
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
                return None
        proc._rill_reader.join(2)
        return proc.returncode

    def stop_all(self):
        problems = []
        for proc in self.servers:
            by_test = getattr(proc, "_rill_stopped_by_test", False)
            already = proc.poll()
            code = self.stop(proc)
            problem = None
            if by_test:
                pass
            elif already is not None:
                problem = f"server exited by itself with status {already} before teardown"
            elif code is None:
                problem = f"server did not exit within {STOP_TIMEOUT:.0f} s of SIGINT (killed)"
            elif code != 0:
                problem = f"server exited with status {code} after SIGINT (expected 0)"
            if problem:
                problems.append(problem + "\n---- server output (tail) ----\n" +
                                proc._rill_output()[-3000:])
        return problems


@pytest.fixture
def rill_serve(tmp_path_factory):
    """Factory: rill_serve(*extra_args, rate=, block=, host=, logdir=, wrap=) starts one
    (block=None: rill serve's own default)
    more server (host=None leaves --host out; wrap: argv that runs it, e.g. in a
    mount namespace, and must end by exec-ing its arguments).

    Every server started through it is stopped with SIGINT at teardown, and the
    teardown fails unless it exits with status 0 (or a test already stopped it
    itself and checked the status)."""
    runner = _Runner(tmp_path_factory)
    yield runner.start
    problems = runner.stop_all()
    assert not problems, "\n".join(problems)


@pytest.fixture
def rill_server(rill_serve):
    """One `rill serve --port 0` with the demo source at 44.1 kHz, block 64."""
    return rill_serve()


def stop_server(server, sig=signal.SIGINT):
    """Stop a server from inside a test; returns the exit code (None = hung)."""
    proc = server.process
    proc._rill_stopped_by_test = True
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            return None
    return proc.returncode


def pytest_report_header(config):
    b = rill_bin()
    return f"rill e2e: RILL_BIN={b} ({'present' if os.path.exists(b) else 'MISSING'})"


@contextlib.contextmanager
def jack_server(name, rate=48000, period=1024):
    """A real JACK server (`jackd -d dummy`, no real-time priority) named
    `name`, up and accepting clients; terminated on exit. Give each test file
    its own fixed name: jackd2 reclaims a dead server's registry entry only
    when one of the same name starts, so killed runs never pile up."""
    if not (shutil.which("jackd") and shutil.which("jack_wait")):
        pytest.fail("jackd or jack_wait is not installed (make deps installs jackd2)")
    log = open(f"/tmp/{name}.log", "w")
    proc = subprocess.Popen(["jackd", "--no-realtime", "-n", name, "-d", "dummy",
                             "-r", str(rate), "-p", str(period)], stdout=log, stderr=log)
    try:
        # jack_wait -w returns once the server accepts clients.
        r = subprocess.run(["jack_wait", "-s", name, "-w", "-t", "10"],
                           capture_output=True, text=True, timeout=20)
        if r.returncode != 0:
            pytest.fail(f"jackd -n {name} did not come up within 10 s: "
                        f"{r.stdout}{r.stderr} (its log: /tmp/{name}.log)")
        yield name
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def write_wav(path, rate, frames, seed=7):
    """A stereo 16-bit WAV of random samples; returns them per channel."""
    rng = random.Random(seed)
    data = [[rng.randint(-32768, 32767) for _ in range(frames)] for _ in range(2)]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(
            data[0][i].to_bytes(2, "little", signed=True) +
            data[1][i].to_bytes(2, "little", signed=True) for i in range(frames)))
    return data
