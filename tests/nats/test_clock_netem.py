"""One clock across hosts, through a bad network: a device in one network
namespace, the bridge, a nats-server and a consumer in another, joined by
tests/netem's emulated link (linkem: this kernel has no netem) with delay
and jitter on every packet, both ways.

The ground truth is the device's own (tick, CLOCK_MONOTONIC) pairs, taken
on its tick thread and read with the clock exchange (PROTOCOL.md §10) by
this test (taken on the device, so the link's delay is not in them); both
namespaces share the host's clocks, so the true Unix time of tick t is its
device time plus (CLOCK_REALTIME - CLOCK_MONOTONIC). The demo device
(tools/demo.c) runs each block of 64 ticks at an absolute deadline on
CLOCK_MONOTONIC, one period (64 x 1e9 / 44100 ns, truncated to whole ns)
after the last: its on-time line's slope is known exactly, and its ticks
run late, never early, so the line goes through the earliest block-start
pair. (A line fitted to the pairs themselves, as before, is pulled by the
lateness of a loaded tick thread: 4 s of pairs late by up to 49 ms at a
load of 15 moved that truth by more than a millisecond.)
The error is what the consumer's mapping (carried with the data: the
bridge's estimate through the link) says minus that. Each case's figures are printed
(pytest -s) for docs/SCALE.md; the test asserts the bound SCALE.md states.
"""

import json
import os
import shutil
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
NATS_PORT = 24251
sys.path.insert(0, os.path.join(REPO, "tests", "netem"))

from netem import Link, available  # noqa: E402

MEASURE = r"""
import asyncio, json, sys, time
sys.path.insert(0, sys.argv[1])
RATE, BLOCK = 44100, 64  # the device's --rate and (default) --block
import websockets
from rill.nats import connect

async def truth(url, seconds):
    pairs = []
    async with websockets.connect(url + "/gui_control", max_size=2 ** 22) as ws:
        await ws.send(json.dumps({"rill": "hello", "version": 1}))
        end = time.monotonic() + seconds
        k = 0
        while time.monotonic() < end:
            k += 1
            await ws.send(json.dumps({"rill": "time", "id": k, "t0": time.monotonic_ns()}))
            stop = time.monotonic() + 0.1
            while time.monotonic() < stop:
                try:
                    raw = await asyncio.wait_for(ws.recv(), stop - time.monotonic())
                except asyncio.TimeoutError:
                    break
                if isinstance(raw, str) and '"time"' in raw:
                    m = json.loads(raw)
                    if "tick" in m:
                        pairs.append((m["tick"], m["tickNs"]))
    return sorted(set(pairs))

def realtime_minus_monotonic():
    best = None
    for _ in range(50):  # the pair of reads closest together
        a = time.monotonic_ns(); r = time.time_ns(); b = time.monotonic_ns()
        if best is None or b - a < best[0]:
            best = (b - a, r - (a + b) // 2)
    return best[1]

pairs = asyncio.run(truth(sys.argv[2], float(sys.argv[4])))
with connect(sys.argv[3], "dev", timeout=20) as d:
    d.stream_n_values(["frame"], 4410)
    c = d.clock()
import numpy as np
off = realtime_minus_monotonic()
t = np.array([p[0] for p in pairs], dtype=np.float64)
ns = np.array([p[1] for p in pairs], dtype=np.float64)
# Block starts only: a request that lands inside a block's burst of ticks
# gets a later tick of that block, read microseconds after its first.
start = (t % BLOCK) == 0
t, ns = t[start], ns[start]
per_tick = float(int(BLOCK * 1e9 / RATE)) / BLOCK
late = (ns - ns[0]) - per_tick * (t - t[0])
late -= late.min()
on_time = ns - late
errs = c.ns(t) - (on_time + off)
print(json.dumps({"pairs": len(errs), "median_ns": float(np.median(errs)),
                  "max_abs_ns": float(np.abs(errs).max()),
                  "device_late_p90_ns": float(np.percentile(late, 90)),
                  "points": c.points, "fit_err_ns": c.err_ns,
                  "ppm": (c.ns_per_tick * RATE / 1e9 - 1) * 1e6}))
"""


def measure(delay_ms, jitter_ms, warm_s=8.0, truth_s=4.0):
    """The error of the consumer's clock mapping against the device's own
    pairs, through a link of delay_ms +- jitter_ms each way."""
    store = tempfile.mkdtemp(prefix="rill-nats-clock-")
    try:
        with Link(delay_ms=delay_ms, jitter_ms=jitter_ms) as link:
            dev = link.popen("a", [RILL, "serve", "--host", link.addr_a, "--port", "5555",
                                   "--rate", "44100"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
            nats = link.popen("b", ["nats-server", "-js", "-a", "127.0.0.1", "-p",
                                    str(NATS_PORT), "-sd", store],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            url = f"nats://127.0.0.1:{NATS_PORT}"
            assert "listening on" in dev.stdout.readline()
            bridge = None
            end = time.monotonic() + 20
            while bridge is None:  # until nats-server takes connections
                p = link.popen("b", [RILL, "bridge", f"dev=ws://{link.addr_a}:5555=frame",
                                     "--nats", url], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
                line = p.stdout.readline()
                if "publishing 1 device" in line:
                    bridge = p
                else:
                    p.wait()
                    assert time.monotonic() < end, p.stderr.read()
                    time.sleep(0.2)
            time.sleep(warm_s)  # the fit's window fills (it spans >= 1 s)
            env = dict(os.environ, RILL_LIB=LIB)
            r = link.run("b", [PY, "-c", MEASURE, os.path.join(REPO, "python"),
                               f"ws://{link.addr_a}:5555", url, str(truth_s)],
                         capture_output=True, text=True, env=env, timeout=120)
            assert r.returncode == 0, r.stdout + r.stderr
            res = json.loads(r.stdout.splitlines()[-1])
            res.update(delay_ms=delay_ms, jitter_ms=jitter_ms)
            print(f"\nclock through {delay_ms} ms +- {jitter_ms} ms: {json.dumps(res)}")
            return res
    finally:
        shutil.rmtree(store, ignore_errors=True)


@pytest.fixture(autouse=True)
def need_link():
    why = available()
    if why is not None:
        pytest.skip(why)
    if shutil.which("nats-server") is None:
        pytest.fail("nats-server is not installed (make deps)")


def test_the_clock_mapping_holds_through_a_delayed_jittery_link():
    """docs/SCALE.md states it: through 20 ms +- 10 ms each way, the
    mapping is within 1 ms of the device's own on-time clock at the median
    of the 4 s compared, and within 2 ms everywhere in it (typically
    0.3 ms; 0.8 ms at a load of 32 on 2 cores, when the device's ticks ran
    17 ms late); a plain offset from one exchange could be off by half the
    jitter's asymmetry, 10 ms."""
    res = measure(20, 10)
    assert res["pairs"] >= 20 and res["points"] >= 3, res
    assert abs(res["median_ns"]) < 1e6 and res["max_abs_ns"] < 2e6, res
