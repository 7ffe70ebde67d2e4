"""rill bridge and its consumers on a real 3-node nats-server cluster
(JetStream, replicas 3), started in a private network namespace on loopback
ports (never the host's 4222), with its own store directories.

Two `rill serve` devices are bridged; the CLI (`rill stream --nats`, the C
consumer API underneath) and the Python package (rill.nats) read them.
Proved: every value in order through a SIGKILLed NATS node; a killed and
restarted bridge's gap reported (stderr, exit status); a late consumer
replays from the start of retention; bad input gives clear errors; the
clock mapping matches the devices' own clocks.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
RILL = os.environ.get("RILL_BIN", os.path.join(REPO, "build", "bin", "rill"))
LIB = os.environ.get("RILL_LIB", os.path.join(os.path.dirname(os.path.dirname(RILL)), "src"))
PY = "/usr/bin/python3"
PORTS = [24221, 24222, 24223]
CPORTS = [26221, 26222, 26223]
URLS = ",".join(f"nats://127.0.0.1:{p}" for p in PORTS)


def need_root_tools():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 for a network namespace")
    if shutil.which("nats-server") is None:
        pytest.fail("nats-server is not installed (make deps)")


class Lab:
    def __init__(self):
        self.ns = f"rillnats{os.getpid()}"
        self.dir = tempfile.mkdtemp(prefix="rill-nats-")
        self.procs = {}
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        self.run(["ip", "link", "set", "lo", "up"], check=True)

    def cmd(self, args):
        return ["ip", "netns", "exec", self.ns] + list(args)

    def run(self, args, **kw):
        return subprocess.run(self.cmd(args), **kw)

    def start(self, name, args, **kw):
        out = open(os.path.join(self.dir, name + ".log"), "wb")
        err = open(os.path.join(self.dir, name + ".err"), "wb")
        p = subprocess.Popen(self.cmd(args), stdout=out, stderr=err, **kw)
        self.procs[name] = p
        return p

    def log(self, name):
        """Standard output, then standard error."""
        text = b""
        for ext in (".log", ".err"):
            with open(os.path.join(self.dir, name + ext), "rb") as f:
                text += f.read()
        return text.decode(errors="replace")

    def stop(self, name, sig=signal.SIGTERM):
        p = self.procs.pop(name, None)
        if p is None:
            return None
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def node(self, i):
        routes = ",".join(f"nats://127.0.0.1:{c}" for k, c in enumerate(CPORTS) if k != i)
        return self.start(f"nats{i}", [
            "nats-server", "-js", "-n", f"n{i}", "-p", str(PORTS[i]), "-a", "127.0.0.1",
            "-sd", os.path.join(self.dir, f"store{i}"), "--cluster_name", "rilltest",
            "--cluster", f"nats://127.0.0.1:{CPORTS[i]}", "--routes", routes])

    def close(self):
        for name in list(self.procs):
            self.stop(name, signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", self.ns])
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_line(lab, name, text, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if text in lab.log(name):
            return
        p = lab.procs.get(name)
        if p is not None and p.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"{name} did not print {text!r}:\n{lab.log(name)[-3000:]}")


def start_bridge(lab, name="bridge", extra=()):
    """The bridge on both devices, retried while the cluster elects its
    JetStream leader (R3 needs all three nodes' meta group)."""
    end = time.monotonic() + 30
    while True:
        lab.start(name, [RILL, "bridge", "dev1=ws://127.0.0.1:15551=frame,events",
                         "dev2=ws://127.0.0.1:15552=frame", "--nats", URLS,
                         "--replicas", "3", "--max-age", "600", *extra])
        try:
            wait_line(lab, name, "publishing 2 device(s)", timeout=8)
            return
        except AssertionError:
            lab.stop(name, signal.SIGKILL)
            if time.monotonic() > end:
                raise


@pytest.fixture(scope="module")
def lab():
    need_root_tools()
    lab = Lab()
    try:
        for i in range(3):
            lab.node(i)
        for i in range(3):
            wait_line(lab, f"nats{i}", "Server is ready")
        for k, port in ((1, 15551), (2, 15552)):
            lab.start(f"dev{k}", [RILL, "serve", "--port", str(port), "--rate", "44100"])
            wait_line(lab, f"dev{k}", "listening on")
        lab.t_bridge = time.time()
        start_bridge(lab)
        yield lab
    finally:
        lab.close()


def stream_cli(lab, name, args):
    return lab.start(name, [RILL, "stream", "--nats", URLS] + args)


def frames_in_order(text, var="frame"):
    rows = [line.split(",") for line in text.splitlines() if line.startswith(var + ",")]
    rows = [r for r in rows if len(r) == 3 and r[1].isdigit()]
    ticks = [int(r[1]) for r in rows]
    values = [int(float(r[2])) for r in rows]
    return ticks, values


def messages(text):
    """What a consumer said (its stderr), without the data lines."""
    return "\n".join(line for line in text.splitlines() if "," not in line[:12])


PY_CONSUMER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from rill.nats import connect
dev, n, start = sys.argv[3], int(sys.argv[4]), sys.argv[5]
with connect(sys.argv[2], dev, start=start, timeout=20) as d:
    (v,), (t,) = d.stream_n_values(["frame"], n)
    print(json.dumps({"first": int(t[0]), "n": len(t),
                      "ordered": bool(((t[1:] - t[:-1]) == 1).all()),
                      "values_are_ticks": bool((v == (t % 2**31)).all()),
                      "gaps": d.gaps}))
"""


def test_every_value_arrives_in_order_through_a_sigkilled_nats_node(lab):
    n = 44100 * 5  # five seconds of each device
    cli = stream_cli(lab, "cli1", ["rill.dev1.frame", "-n", str(n)])
    env = dict(os.environ, RILL_LIB=LIB)
    py_out = open(os.path.join(lab.dir, "py.out"), "wb")
    py = subprocess.Popen(lab.cmd([PY, "-c", PY_CONSUMER, os.path.join(REPO, "python"),
                                   URLS, "dev2", str(n), "live"]),
                          stdout=py_out, stderr=subprocess.STDOUT, env=env)
    time.sleep(2.0)
    lab.stop("nats1", signal.SIGKILL)  # a node dies mid-stream
    assert cli.wait(60) == 0, messages(lab.log("cli1"))
    assert py.wait(60) == 0, open(py_out.name).read()[-3000:]
    ticks, values = frames_in_order(lab.log("cli1"))
    assert len(ticks) == n
    assert ticks == list(range(ticks[0], ticks[0] + n)), "CLI: ticks not contiguous"
    assert values == ticks, "CLI: frame values differ from their ticks"
    res = json.loads(open(py_out.name).read().splitlines()[-1])
    assert res == {"first": res["first"], "n": n, "ordered": True,
                   "values_are_ticks": True, "gaps": []}, res
    # The bridge lived through it and is still publishing.
    assert lab.procs["bridge"].poll() is None, lab.log("bridge")[-3000:]
    lab.node(1)  # back for the next tests
    wait_line(lab, "nats1", "Server is ready")


def test_a_late_consumer_replays_from_the_start_of_retention(lab):
    cli = stream_cli(lab, "late", ["--replay", "all", "rill.dev1.frame", "-n", "1000"])
    assert cli.wait(60) == 0, lab.log("late")[-3000:]
    ticks, values = frames_in_order(lab.log("late"))
    assert len(ticks) == 1000 and values == ticks
    # The first tick stored: before the live consumer of the first test began.
    live, _ = frames_in_order(lab.log("cli1"))
    assert ticks[0] < live[0], (ticks[0], live[0])
    # And by stream sequence: the same start.
    seq = stream_cli(lab, "seq", ["--replay", "seq:1", "rill.dev1.frame", "-n", "10"])
    assert seq.wait(60) == 0, lab.log("seq")[-2000:]
    assert frames_in_order(lab.log("seq"))[0][0] == ticks[0]


def test_a_killed_and_restarted_bridge_leaves_a_reported_gap(lab):
    cli = stream_cli(lab, "gap", ["rill.dev1.frame", "-n", str(44100 * 6)])
    time.sleep(1.5)
    lab.stop("bridge", signal.SIGKILL)
    time.sleep(1.0)
    start_bridge(lab)
    assert cli.wait(60) == 1, messages(lab.log("gap"))
    out = lab.log("gap")
    assert "are missing" in out and "bridge restarted" in out, messages(out)
    ticks, values = frames_in_order(out)
    assert values == ticks
    jumps = [(a, b) for a, b in zip(ticks, ticks[1:]) if b != a + 1]
    assert len(jumps) == 1, jumps
    a, b = jumps[0]
    assert f"ticks [{a + 1}, {b})" in out, (jumps, messages(out))


def test_bad_input_gives_clear_errors(lab):
    r = lab.run([RILL, "stream", "--nats", "nats://127.0.0.1:24299", "rill.dev1.frame",
                 "-n", "5"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "cannot connect to NATS" in r.stderr, r.stderr
    r = lab.run([RILL, "stream", "--nats", URLS, "rill.nodev.frame", "-n", "5"],
                capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and 'no device "nodev"' in r.stderr, r.stderr
    assert "dev1" in r.stderr, "the error lists the devices there are"
    r = lab.run([RILL, "stream", "--nats", URLS, "rill.dev1.nosuch", "-n", "5"],
                capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "nosuch" in r.stderr, r.stderr
    # Something else publishes junk on a bridged subject: said, skipped.
    cli = stream_cli(lab, "junk", ["rill.dev1.events", "-n", "4000"])
    time.sleep(1.0)
    lab.run([PY, "-c", """
import socket
s = socket.create_connection(("127.0.0.1", 24221))
s.recv(4096)
s.sendall(b"CONNECT {}\\r\\nPUB rill.dev1.events 11\\r\\nhello world\\r\\nPING\\r\\n")
s.recv(4096)
"""], check=True, timeout=20)
    assert cli.wait(60) == 0, lab.log("junk")[-3000:]
    assert "not a rill frame" in lab.log("junk")


CLOCK_CONSUMER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from rill.nats import connect
import numpy as np
errs = {}
for dev in ("dev1", "dev2"):
    with connect(sys.argv[2], dev, timeout=20) as d:
        (v,), (t,) = d.stream_n_values(["frame"], 4410)
        c = d.clock()
        errs[dev] = {"points": c.points, "err_ns": c.err_ns, "ns_per_tick": c.ns_per_tick}
print(json.dumps(errs))
"""


def test_the_clock_mapping_is_carried_and_estimated(lab):
    time.sleep(3)  # a few probe bursts since the restart
    env = dict(os.environ, RILL_LIB=LIB)
    r = subprocess.run(lab.cmd([PY, "-c", CLOCK_CONSUMER, os.path.join(REPO, "python"),
                                URLS]), capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(r.stdout.splitlines()[-1])
    for dev, c in res.items():
        assert c["points"] >= 3, res
        # 44100 Hz: 22675.7 ns per tick, to a few hundred ppm.
        assert abs(c["ns_per_tick"] - 1e9 / 44100) < 1e9 / 44100 * 1e-3, res
        assert c["err_ns"] < 2e6, res
