"""The clock figures of docs/SCALE.md ("Measured"), not a test: the error of
the clock mapping a consumer receives, against each device's own on-time
line (test_clock_netem.py's MEASURE: the demo device's known period
through its earliest block-start pair).

  python3 tests/nats/clock_figures.py local [RUNS]
      two demo devices, a nats-server, the bridge and the consumer in one
      private network namespace on loopback ("two devices on one machine")
  python3 tests/nats/clock_figures.py link DELAY_MS JITTER_MS [RUNS]
      the device and the rest on two sides of tests/netem's emulated link

Root (network namespaces); RILL_BIN as for the tests. One JSON line per
run, after the load average.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_clock_netem as t  # noqa: E402


def local(warm_s=10.0):
    ns = f"rillclk{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    x = lambda a: ["ip", "netns", "exec", ns] + a  # noqa: E731
    procs, store = [], tempfile.mkdtemp(prefix="rill-clock-")
    try:
        subprocess.run(x(["ip", "link", "set", "lo", "up"]), check=True)
        for k in (1, 2):
            p = subprocess.Popen(x([t.RILL, "serve", "--port", str(15550 + k), "--rate",
                                    "44100"]), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
            procs.append(p)
            assert "listening on" in p.stdout.readline()
        procs.append(subprocess.Popen(x(["nats-server", "-js", "-a", "127.0.0.1", "-p",
                                         "24261", "-sd", store]),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        end = time.monotonic() + 20
        while True:  # until nats-server takes connections
            b = subprocess.Popen(x([t.RILL, "bridge", "dev1=ws://127.0.0.1:15551=frame",
                                    "dev2=ws://127.0.0.1:15552=frame", "--nats",
                                    "nats://127.0.0.1:24261"]),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if "publishing 2 device" in b.stdout.readline():
                procs.append(b)
                break
            b.wait()
            assert time.monotonic() < end, b.stderr.read()
            time.sleep(0.2)
        time.sleep(warm_s)
        env = dict(os.environ, RILL_LIB=t.LIB)
        out = {}
        for k in (1, 2):
            m = t.MEASURE.replace('connect(sys.argv[3], "dev"', f'connect(sys.argv[3], "dev{k}"')
            r = subprocess.run(x([t.PY, "-c", m, os.path.join(t.REPO, "python"),
                                  f"ws://127.0.0.1:{15550 + k}", "nats://127.0.0.1:24261",
                                  "4"]), capture_output=True, text=True, env=env, timeout=120)
            assert r.returncode == 0, r.stdout + r.stderr
            out[f"dev{k}"] = json.loads(r.stdout.splitlines()[-1])
        return out
    finally:
        for p in procs:
            p.kill()
            p.wait()
        subprocess.run(["ip", "netns", "del", ns])
        shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "local"
    if mode == "local":
        runs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
        case = local
    else:
        delay, jitter = float(sys.argv[2]), float(sys.argv[3])
        runs = int(sys.argv[4]) if len(sys.argv) > 4 else 1
        case = lambda: t.measure(delay, jitter)  # noqa: E731
    for _ in range(runs):
        res = case()
        print(open("/proc/loadavg").read().split()[0], json.dumps(res), flush=True)
