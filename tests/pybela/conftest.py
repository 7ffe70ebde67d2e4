"""Fixtures for the suites that drive the real pybela 2.0.3 (tests/pybela).

pybela comes from $RILL_PYBELA_DIR, else <repo>/../shared/clients: a folder
with pybela-2.0.3/ (the package, unmodified) and shim/ (two stand-ins that
let it import on Debian 12: see that folder's README.md), both put on
PYTHONPATH. $RILL_PYBELA_DIR may also name the pybela-2.0.3 folder itself
(then shim/ is looked for beside it). If pybela is not there, every test of
this folder is reported SKIPPED with that reason, loudly: never passed.

Each scenario runs in its own Python process (tests/pybela/scenarios.py),
as a user's script does: pybela keeps one event loop and module-wide state
per process. The devices are real: `rill serve --source demo` (the e2e
suite's fixture) and tests/pybela/device.c (pybela_device, built next to
RILL_BIN), both stopped with SIGINT at teardown and required to exit 0.

The Logger's tests run a real OpenSSH sshd on port 22 inside a private
network namespace (tests/pybela/netns.py under `unshare -n -m`): they need
root, as CI runs; without it they are skipped with the reason.
"""

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

_spec = importlib.util.spec_from_file_location(
    "rill_e2e_conftest", os.path.join(REPO, "tests", "e2e", "conftest.py"))
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)
rill_serve = _e2e.rill_serve
rill_server = _e2e.rill_server
rill_bin = _e2e.rill_bin


def locate_pybela():
    """(pybela package folder, shim folder or None, None) or (None, None,
    why not)."""
    env = os.environ.get("RILL_PYBELA_DIR")
    base = env or os.path.abspath(os.path.join(REPO, "..", "shared", "clients"))
    where = f"$RILL_PYBELA_DIR={env}" if env else base
    candidates = [(os.path.join(base, "pybela-2.0.3"), os.path.join(base, "shim")),
                  (base, os.path.join(os.path.dirname(base), "shim"))]
    for pkg, shim in candidates:
        if os.path.isfile(os.path.join(pkg, "pybela", "__init__.py")):
            return pkg, (shim if os.path.isdir(shim) else None), None
    return None, None, (f"the real pybela 2.0.3 is not at {where} (expected pybela-2.0.3/pybela/ "
                        f"and shim/ there, as ../shared/clients/README.md describes; set "
                        f"RILL_PYBELA_DIR)")


PYBELA_PKG, PYBELA_SHIM, PYBELA_MISSING = locate_pybela()


def client_env(extra=None):
    """The environment of a scenario process: pybela (+ shim) and rill's
    package on PYTHONPATH, this build's librill."""
    paths = [p for p in (PYBELA_SHIM, PYBELA_PKG) if p] + [os.path.join(REPO, "python")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), PYTHONDONTWRITEBYTECODE="1")
    build = os.path.dirname(os.path.dirname(os.path.abspath(rill_bin())))
    env.setdefault("RILL_LIB", os.path.join(build, "src", "librill.so"))
    if extra:
        env.update(extra)
    return env


def pytest_collection_modifyitems(config, items):
    if PYBELA_MISSING is None:
        return
    mine = [i for i in items if str(i.fspath).startswith(HERE)]
    mark = pytest.mark.skip(reason=f"SKIPPED, NOT PASSED: {PYBELA_MISSING}")
    for item in mine:
        item.add_marker(mark)
    config._rill_pybela_skipped = len(mine)


def pytest_report_header(config):
    if PYBELA_MISSING:
        return ["!" * 78, f"rill pybela suites: {PYBELA_MISSING}",
                "every test of tests/pybela is SKIPPED", "!" * 78]
    return f"rill pybela suites: pybela from {PYBELA_PKG} (shim {PYBELA_SHIM})"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    n = getattr(config, "_rill_pybela_skipped", 0)
    if n:
        terminalreporter.write_sep("!", f"{n} tests of tests/pybela SKIPPED: {PYBELA_MISSING}",
                                   red=True, bold=True)


def device_path():
    build = os.path.dirname(os.path.dirname(os.path.abspath(rill_bin())))
    return os.path.join(build, "tests", "pybela", "pybela_device")


LISTEN_RE = re.compile(r"listening on ws://(\[[^\]]+\]|[^\s:/]+):(\d+)")


class Device:
    """A running pybela_device: its port, and the buffers clients sent it
    (parsed from its stdout)."""

    def __init__(self, argv):
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True, bufsize=1)
        self.lines = []
        self.port = None
        found = threading.Event()

        def reader():
            for line in self.proc.stdout:
                self.lines.append(line)
                m = LISTEN_RE.search(line)
                if m and self.port is None:
                    self.port = int(m.group(2))
                    found.set()
            found.set()

        self.thread = threading.Thread(target=reader, daemon=True)
        self.thread.start()
        found.wait(10)
        if self.port is None:
            self.proc.kill()
            pytest.fail(f"{' '.join(argv)} printed no 'listening on' line within 10 s:\n"
                        + "".join(self.lines), pytrace=False)

    def received(self):
        """Every buffer clients sent, in order: [{"id", "type", "count", "values"}]."""
        return [json.loads(line[len("buffer "):]) for line in list(self.lines)
                if line.startswith("buffer ")]

    def output(self):
        return "".join(self.lines)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                return None
        self.thread.join(2)
        return self.proc.returncode


@pytest.fixture
def device(tmp_path_factory):
    """A pybela_device on a free port (44.1 kHz, 64-frame blocks), its log
    files in a temporary directory (`device.logdir`)."""
    path = device_path()
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built (cmake --build the build of RILL_BIN)", pytrace=False)
    logdir = str(tmp_path_factory.mktemp("device-logs"))
    d = Device([path, "--port", "0", "--log-dir", logdir])
    d.logdir = logdir
    yield d
    code = d.stop()
    assert code == 0, f"pybela_device exited with {code}:\n{d.output()[-3000:]}"


@pytest.fixture
def device_path_netns():
    """pybela_device's path, for a device started inside a namespace."""
    path = device_path()
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built (cmake --build the build of RILL_BIN)", pytrace=False)
    return path


@pytest.fixture
def rill_bin_path():
    path = os.path.abspath(rill_bin())
    if not os.access(path, os.X_OK):
        pytest.fail(f"rill binary not found: {path} (set RILL_BIN)", pytrace=False)
    return path


@pytest.fixture
def run_scenario(tmp_path):
    """run_scenario(name, port, client="pybela", timeout=90, **args): run one
    scenario of scenarios.py in a fresh process and return its result; a
    scenario that raised fails the test with its traceback and the
    process's output."""
    counter = [0]

    def run(name, port, client="pybela", timeout=90, **args):
        counter[0] += 1
        out = tmp_path / f"{name}-{client}-{counter[0]}.json"
        work = tmp_path / f"{name}-{client}-{counter[0]}"
        work.mkdir()
        args.setdefault("dir", str(work))
        cmd = [PYTHON, os.path.join(HERE, "scenarios.py"), name, "--client", client,
               "--port", str(port), "--result", str(out)]
        for k, v in args.items():
            cmd += ["--arg", f"{k}={v}"]
        try:
            r = subprocess.run(cmd, env=client_env(), capture_output=True, text=True,
                               timeout=timeout, cwd=str(work))
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"scenario {name} ({client}) did not finish within {timeout} s; "
                        f"output:\n{(e.stdout or '')[-3000:]}{(e.stderr or '')[-3000:]}",
                        pytrace=False)
        if not out.exists():
            pytest.fail(f"scenario {name} ({client}) wrote no result (exit {r.returncode}):\n"
                        f"{r.stdout[-3000:]}{r.stderr[-3000:]}", pytrace=False)
        result = json.loads(out.read_text())
        if "exception" in result:
            pytest.fail(f"scenario {name} ({client}) raised {result['exception']}\n"
                        f"{result['traceback']}\noutput:\n{r.stdout[-3000:]}{r.stderr[-3000:]}",
                        pytrace=False)
        result["_output"] = r.stdout + r.stderr
        return result

    return run


def netns_ready():
    """None, or why the namespace tests cannot run here."""
    if os.geteuid() != 0:
        return "needs root (unshare -n -m, a mount on /root, sshd on port 22)"
    for tool in ("unshare", "ip", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not os.access("/usr/sbin/sshd", os.X_OK):
        return "/usr/sbin/sshd is not installed (make deps installs openssh-server)"
    return None


@pytest.fixture
def run_netns(tmp_path):
    """run_netns(device_argv, project, scenario, client="pybela", **args): the
    scenario against the device, with a real sshd, inside a private network
    namespace (tests/pybela/netns.py). Returns netns.py's result."""
    why = netns_ready()
    if why:
        pytest.skip(f"SKIPPED, NOT PASSED: the Logger over SSH {why}")
    counter = [0]

    def run(device_argv, project, scenario, client="pybela", timeout=150, **args):
        clients = [client] if isinstance(client, str) else list(client)
        counter[0] += 1
        out = tmp_path / f"netns-{counter[0]}.json"
        work = tmp_path / f"netns-{counter[0]}"
        work.mkdir()
        args.setdefault("dir", str(work) + "/{client}")
        cmd = ["unshare", "-n", "-m", PYTHON, os.path.join(HERE, "netns.py"), str(out),
               "--project", project, "--scenario", scenario, "--timeout", str(timeout - 20)]
        for c in clients:
            cmd += ["--client", c]
        for k, v in args.items():
            cmd += ["--arg", f"{k}={v}"]
        cmd += ["--", *device_argv]
        try:
            r = subprocess.run(cmd, env=client_env(), capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"netns run did not finish within {timeout} s:\n{e.stdout}{e.stderr}",
                        pytrace=False)
        if not out.exists():
            pytest.fail(f"netns.py wrote no result (exit {r.returncode}):\n{r.stdout}{r.stderr}",
                        pytrace=False)
        res = json.loads(out.read_text())
        outputs = "".join(f"\n--- {r['client']} output ---\n{r.get('client_output', '')[-4000:]}"
                          for r in res.get("runs", []))
        context = (f"{outputs}\n--- device output ---\n{res.get('device_output', '')[-2000:]}"
                   f"\n--- sshd log ---\n{res.get('sshd_log', '')[-2000:]}")
        if res.get("error"):
            pytest.fail(f"netns.py: {res['error']}{context}", pytrace=False)
        for r in res.get("runs", []):
            sc = r.get("scenario") or {}
            if "exception" in sc or not sc:
                pytest.fail(f"scenario {scenario} ({r['client']}) in the namespace raised "
                            f"{sc.get('exception')}\n{sc.get('traceback', '')}{context}",
                            pytrace=False)
        assert res.get("device_status") == 0, f"the device exited with {res.get('device_status')}{context}"
        res["_context"] = context
        return res

    return run
