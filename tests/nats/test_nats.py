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
import re
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
MPORTS = [28221, 28222, 28223]  # HTTP monitoring: /healthz
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
        if os.path.exists(os.path.join(self.dir, f"nats{i}.err")):  # a restart
            os.replace(os.path.join(self.dir, f"nats{i}.err"),
                       os.path.join(self.dir, f"nats{i}.before-restart.err"))
        routes = ",".join(f"nats://127.0.0.1:{c}" for k, c in enumerate(CPORTS) if k != i)
        return self.start(f"nats{i}", [
            "nats-server", "-js", "-n", f"n{i}", "-p", str(PORTS[i]), "-a", "127.0.0.1",
            "-m", str(MPORTS[i]),
            "-sd", os.path.join(self.dir, f"store{i}"), "--cluster_name", "rilltest",
            "--cluster", f"nats://127.0.0.1:{CPORTS[i]}", "--routes", routes])

    def close(self):
        for name in list(self.procs):
            self.stop(name, signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", self.ns])
        keep = os.environ.get("RILL_NATS_KEEP")  # a directory for the logs
        if keep:
            shutil.copytree(self.dir, os.path.join(keep, os.path.basename(self.dir)),
                            ignore=shutil.ignore_patterns("store*"))
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


HEALTHY = r"""
import json, sys, time, urllib.request
end = time.monotonic() + float(sys.argv[1])
ports, why = sys.argv[2:], ""
while ports and time.monotonic() < end:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/healthz", timeout=2) as r:
            ports.pop(0)
    except Exception as e:
        why = getattr(e, "read", lambda: str(e).encode())().decode(errors="replace")
        time.sleep(0.1)
sys.exit(f"not healthy: {ports} {why}" if ports else 0)
"""


def wait_healthy(lab, nodes=(0, 1, 2), timeout=60):
    """Until each node's /healthz says ok: JetStream on, current with the
    meta leader, its streams and consumers caught up. A restarted node
    serves clients ("Server is ready") well before it is current."""
    r = lab.run([PY, "-c", HEALTHY, str(timeout)] + [str(MPORTS[i]) for i in nodes],
                capture_output=True, text=True, timeout=timeout + 10)
    assert r.returncode == 0, r.stderr


LEADER = r"""
import json, sys, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/jsz?accounts=true&streams=true"
for acc in json.load(urllib.request.urlopen(url, timeout=5)).get("account_details", []):
    for st in acc.get("stream_detail", []):
        if st["name"] == sys.argv[2]:
            print(st["cluster"]["leader"])
"""


def stream_leader(lab, stream="RILL"):
    """The node (0-2) that leads `stream`: the one whose loss hurts most
    (no stored message until its peers elect another, and publishes in
    flight to it lose their acks)."""
    r = lab.run([PY, "-c", LEADER, str(MPORTS[0]), stream], capture_output=True,
                text=True, timeout=20)
    assert r.returncode == 0 and r.stdout.strip().startswith("n"), r.stdout + r.stderr
    return int(r.stdout.strip()[1:])


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
        wait_healthy(lab)
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


def wait_values(lab, name, var="frame", timeout=60):
    """Until consumer `name` has written values of `var`: what a test does
    to a stream mid-way (kill a node, the bridge, a device) must come after
    its first values, however long a loaded machine takes to start it."""
    end = time.monotonic() + timeout
    while not any(line.startswith(var + ",") for line in lab.log(name).splitlines()[:50]):
        p = lab.procs.get(name)
        assert p is None or p.poll() is None, f"{name} ended:\n{lab.log(name)[-3000:]}"
        assert time.monotonic() < end, f"{name}: no {var} values in {timeout} s"
        time.sleep(0.1)


def messages(text):
    """What a consumer said (its stderr), without the data lines."""
    return "\n".join(line for line in text.splitlines() if "," not in line[:12])


PY_CONSUMER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from rill.nats import connect
dev, n, start = sys.argv[3], int(sys.argv[4]), sys.argv[5]
with connect(sys.argv[2], dev, start=start, timeout=20) as d:
    print("connected", flush=True)
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
    wait_values(lab, "cli1")
    end = time.monotonic() + 60
    while "connected" not in open(py_out.name).read():
        assert py.poll() is None and time.monotonic() < end, open(py_out.name).read()[-3000:]
        time.sleep(0.1)
    time.sleep(0.5)
    leader = stream_leader(lab)
    lab.stop(f"nats{leader}", signal.SIGKILL)  # the stream's leader dies mid-stream
    try:
        assert cli.wait(90) == 0, messages(lab.log("cli1"))
        assert py.wait(90) == 0, open(py_out.name).read()[-3000:]
    finally:
        lab.node(leader)  # back for the next tests, whatever happened here
        wait_line(lab, f"nats{leader}", "Server is ready")
        wait_healthy(lab)
    ticks, values = frames_in_order(lab.log("cli1"))
    assert len(ticks) == n
    assert ticks == list(range(ticks[0], ticks[0] + n)), "CLI: ticks not contiguous"
    assert values == ticks, "CLI: frame values differ from their ticks"
    res = json.loads(open(py_out.name).read().splitlines()[-1])
    assert res == {"first": res["first"], "n": n, "ordered": True,
                   "values_are_ticks": True, "gaps": []}, res
    # The bridge lived through it and is still publishing.
    assert lab.procs["bridge"].poll() is None, lab.log("bridge")[-3000:]


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
    wait_values(lab, "gap")
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


def wait_count(lab, name, text, n, timeout=30):
    end = time.monotonic() + timeout
    while lab.log(name).count(text) < n:
        assert time.monotonic() < end, f"{name}: {text!r} not {n} times:\n{lab.log(name)[-3000:]}"
        time.sleep(0.1)


def test_a_device_that_goes_away_is_reconnected_and_its_gap_reported(lab):
    """The bridge's connection to dev1 is cut while dev1 goes on ticking
    (ss -K aborts the sockets): the bridge connects again and a consumer
    reports exactly the ticks nothing was published for. Then dev1
    restarts (SIGKILL, started again): the bridge connects to the new boot;
    a consumer of the old boot ends with a clear error instead of mixing the
    two timelines, and a new consumer reads the new boot."""
    n = 44100 * 5
    cli = stream_cli(lab, "away", ["rill.dev1.frame", "-n", str(n)])
    wait_values(lab, "away")
    lab.run(["ss", "-K", "dport", "=", "15551"], check=True, capture_output=True)
    assert cli.wait(60) == 1, messages(lab.log("away"))
    out = lab.log("away")
    ticks, values = frames_in_order(out)
    assert len(ticks) == n and values == ticks
    jumps = [(a, b) for a, b in zip(ticks, ticks[1:]) if b != a + 1]
    assert len(jumps) == 1, jumps
    a, b = jumps[0]
    assert f"ticks [{a + 1}, {b})" in out and "reconnected to the device" in out, messages(out)
    wait_count(lab, "bridge", "dev1 is back", 1)
    assert lab.procs["bridge"].poll() is None

    boot = stream_cli(lab, "boot", ["rill.dev1.frame"])  # until it ends
    wait_values(lab, "boot")
    lab.stop("dev1", signal.SIGKILL)
    time.sleep(1.0)
    lab.start("dev1", [RILL, "serve", "--port", "15551", "--rate", "44100"])
    wait_line(lab, "dev1", "listening on")
    assert boot.wait(60) == 1, messages(lab.log("boot"))
    said = re.search(r"dev1 restarted: its ticks began again at (\d+) after (\d+)",
                     lab.log("boot"))
    assert said, messages(lab.log("boot"))
    began, old_end = int(said.group(1)), int(said.group(2))
    wait_count(lab, "bridge", "dev1 is back", 2)
    new = stream_cli(lab, "newboot", ["rill.dev1.frame", "-n", "1000"])
    assert new.wait(60) == 0, messages(lab.log("newboot"))
    nt, nv = frames_in_order(lab.log("newboot"))
    # The new boot's values: its ticks, from where it began, before the
    # old boot's last (live never serves a message of the old run).
    assert len(nt) == 1000 and nv == nt and began <= nt[0] < old_end, (nt[:3], began, old_end)


def test_bad_input_gives_clear_errors(lab):
    r = lab.run([RILL, "stream", "--nats", "nats://127.0.0.1:24299", "rill.dev1.frame",
                 "-n", "5"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "cannot connect to NATS" in r.stderr, r.stderr
    # rill bridge: a device spec that is not one is a usage error before
    # anything connects; every failure is one line with its reason.
    def bridge(*args):
        return lab.run([RILL, "bridge", *args], capture_output=True, text=True, timeout=30)
    r = bridge("board", "--nats", "nats://127.0.0.1:24299")
    assert (r.returncode, r.stderr) == (
        2, "rill bridge: 'board' is not NAME=ws://HOST:PORT[=VAR,...]\n"), r.stderr
    r = bridge("d=ws://127.0.0.1:1", "--nats", "nats://127.0.0.1:24299")
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("rill bridge: cannot connect to NATS at "
                               "nats://127.0.0.1:24299 (is nats-server running"), r.stderr
    r = bridge("d=ws://127.0.0.1:1", "--nats", URLS)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("rill bridge: cannot bridge d (ws://127.0.0.1:1): connection "
                               "to 127.0.0.1:1 refused"), r.stderr
    # A variable the device lacks: named, with the device's nearest name.
    r = bridge("d=ws://127.0.0.1:15551=frame,evnets", "--nats", URLS)
    assert (r.returncode, r.stderr) == (1, "rill bridge: cannot bridge d (ws://127.0.0.1:15551): "
                                           "d has no variable \"evnets\"; did you mean "
                                           "'events'?\n"), r.stderr
    r = bridge("d=http://127.0.0.1:1", "--nats", URLS)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "is not a ws:// URL" in r.stderr, r.stderr
    r = lab.run([RILL, "stream", "--nats", URLS, "rill.nodev.frame", "-n", "5"],
                capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and 'no device "nodev"' in r.stderr, r.stderr
    assert "dev1" in r.stderr, "the error lists the devices there are"
    r = lab.run([RILL, "stream", "--nats", URLS, "rill.dev1.nosuch", "-n", "5"],
                capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "nosuch" in r.stderr, r.stderr
    # Something else publishes junk on a bridged subject: said, skipped.
    cli = stream_cli(lab, "junk", ["rill.dev1.events", "-n", "4000"])
    wait_values(lab, "junk", "events")
    lab.run([PY, "-c", """
import socket
s = socket.create_connection(("127.0.0.1", 24221))
s.recv(4096)
s.sendall(b"CONNECT {}\\r\\nPUB rill.dev1.events 11\\r\\nhello world\\r\\nPING\\r\\n")
s.recv(4096)
"""], check=True, timeout=20)
    assert cli.wait(60) == 0, lab.log("junk")[-3000:]
    assert "not a rill frame" in lab.log("junk")


def test_the_c_api_reads_both_devices_exactly(lab):
    """examples/nats_consumer: rill_nats_connect, then the client API as on
    a direct connection (exactly N values), and the clock carried along."""
    exe = os.path.join(os.path.dirname(os.path.dirname(RILL)), "examples", "nats_consumer")
    assert os.access(exe, os.X_OK), f"{exe} is not built"
    r = lab.run([exe, URLS, "frame", "44100", "dev1", "dev2"], capture_output=True,
                text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    for dev, line in zip(("dev1", "dev2"), lines):
        assert line.startswith(f"{dev}: 44100 values of frame from tick "), line
        assert "; in order; values are ticks; " in line, line
        points = int(re.search(r"over (\d+) probes", line).group(1))
        assert points >= 3, line
    assert len(lines) == 2, r.stdout


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


RELAY_CLIENT = r"""
import asyncio, json, sys, urllib.request
sys.path.insert(0, sys.argv[1])
from nativeclient import NativeClient, KIND_STREAM

async def main(relay, device):
    page = urllib.request.urlopen(relay.replace("ws://", "http://") + "/", timeout=10)
    html = page.read().decode(errors="replace")
    async with NativeClient(device) as d:
        direct = await d.connect()
    async with NativeClient(relay) as c:
        lst = await c.connect()
        await c.watch(["frame", "events"])
        await c.wait_values("frame", 4000, timeout=30)
        await c.wait_values("events", 20, timeout=30)
        out = {"status": page.status, "page": "<html" in html.lower(),
               "vars": {v["name"]: [v["type"], v["timestampMode"]] for v in lst["watchers"]},
               "rate": lst["sampleRate"], "device_tick": direct["timestamp"],
               "violations": list(c.violations)}
        for name in ("frame", "events"):
            ticks, values = [], []
            for m in c.stream(name):
                if m["kind"] != KIND_STREAM:
                    continue
                rel = m["rel"] or range(m["count"])
                ticks += [m["first_ts"] + r for r in rel]
                values += list(m["values"])
            out[name] = {"ticks": ticks[:4000], "values": values[:4000]}
    print(json.dumps(out))

asyncio.run(main(sys.argv[2], sys.argv[3]))
"""


def test_the_dashboard_serves_a_bridged_device_with_its_own_ticks(lab):
    """rill serve --source nats://.../dev1 re-serves the bridged device: the
    dashboard page is there, and its protocol (native, as web/src speaks
    it; tests/e2e/nativeclient.py) lists dev1's bridged variables with
    their types and modes and streams their values on dev1's own ticks."""
    relay = lab.start("relay", [RILL, "serve", "--source", URLS + "/dev1",
                                "--port", "15560"])
    wait_line(lab, "relay", "listening on")
    r = lab.run([PY, "-c", RELAY_CLIENT, os.path.join(REPO, "tests", "e2e"),
                 "ws://127.0.0.1:15560", "ws://127.0.0.1:15551"],
                capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:] + lab.log("relay")[-2000:]
    res = json.loads(r.stdout.splitlines()[-1])
    assert res["status"] == 200 and res["page"], "the dashboard page is served"
    # Exactly the bridged variables (dev1 is bridged with frame and events).
    assert res["vars"] == {"frame": ["i", 0], "events": ["i", 1]}, res["vars"]
    assert res["rate"] == 44100
    assert res["violations"] == []
    t, v = res["frame"]["ticks"], res["frame"]["values"]
    assert len(t) == 4000 and t == list(range(t[0], t[0] + 4000)), "dense, in order"
    assert v == t, "frame's values are dev1's ticks: the relay serves dev1's own ticks"
    # Ticks of the device, not of the relay: near dev1's clock when we asked.
    assert abs(t[0] - res["device_tick"]) < 44100 * 10, (t[0], res["device_tick"])
    et, ev = res["events"]["ticks"], res["events"]["values"]
    assert len(et) >= 20 and ev == et, "sparse values at their own ticks"
    assert all(x % 64 == 0 or x % 100 == 7 for x in et), et[:20]
    assert lab.stop("relay") == 0, lab.log("relay")[-2000:]


STREAMER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from rill import Streamer
s = Streamer(ip=sys.argv[2])
s.connect()
names = sorted(v["name"] for v in s.watcher_vars)
import numpy as np
q = s.stream_n_values(["frame"], n_values=2000)["frame"]
v = np.concatenate([np.asarray(b["data"]) for b in q])
t = np.concatenate([b["ref_timestamp"] + np.arange(len(b["data"])) for b in q])
print(json.dumps({"names": names, "n": int(len(v)),
                  "buffer": int(max(len(b["data"]) for b in q)),
                  "consecutive": bool((np.diff(t) == 1).all()),
                  "values_are_ticks": bool((v == t).all())}))
s.disconnect()
"""


def test_pybelas_streamer_takes_a_nats_url(lab):
    """rill's Streamer (pybela's API) reads a bridged device when given
    nats://SERVERS/DEVICE (a small hook in python/rill/pybela.py)."""
    env = dict(os.environ, RILL_LIB=LIB)
    r = subprocess.run(lab.cmd([PY, "-c", STREAMER, os.path.join(REPO, "python"),
                                URLS + "/dev2"]),
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    res = json.loads(r.stdout.splitlines()[-1])
    # As pybela's stream_n_values: whole buffers, at least n_values.
    n, buffer = res.pop("n"), res.pop("buffer")
    assert 2000 <= n < 2000 + buffer, (n, buffer)
    assert res == {"names": ["frame"], "consecutive": True,
                   "values_are_ticks": True}, res
