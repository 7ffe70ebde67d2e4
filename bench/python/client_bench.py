"""Python receive throughput and per-buffer cost against the C client, in
the same run, on the same `rill serve`.

    /usr/bin/python3 bench/python/client_bench.py BUILD_DIR

Starts `BUILD_DIR/bin/rill serve` with its demo ticking fast enough that
neither client keeps up ($RILL_BENCH_PY_RATE, default 4 M ticks, what the demo sustains on 2 cores/s), then streams four dense variables for
a few seconds, alternately with
  - C: bench/python/c_recv.c (rill_client in poll mode, an on_buffer that
    reads the values), compiled here with cc against BUILD_DIR;
  - Python: rill.Streamer.start_streaming with an on_buffer_callback, i.e.
    every buffer copied into a numpy array, queued, and handed to Python:
    with numpy=True (the arrays themselves) and as pybela gives them (the
    default: the values as a Python list, made when the callback reads them;
    this callback reads them all).
A run whose callback raised, or that received nothing, fails the benchmark
rather than print a figure (a callback's exception is only logged).
Throughput is value bytes delivered to the callback per second (buffers the
server drops for a client that falls behind are not counted); on 2 shared
cores the demo server is the limit, so both clients usually take all of it.
The per-buffer cost is the client process's CPU time (I/O thread included)
per delivered 4 KiB buffer, and 4 KiB / that cost is the rate one core
could sustain: the clients' own ceilings.
Medians of 3 runs each. Rows go to stdout and $RILL_BENCH_JSON like the C
benchmarks' (bench/harness/bench.c).
"""

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
VARS = ["frame", "frame_d", "sine", "noise"]
SECONDS = float(os.environ.get("RILL_BENCH_PY_S", "2.5"))
RUNS = 3
RATE = os.environ.get("RILL_BENCH_PY_RATE", "4000000")


def start_server(build):
    proc = subprocess.Popen([os.path.join(build, "bin", "rill"), "serve", "--port", "0",
                             "--rate", RATE, "--block", "4096",
                             "--web-root", "",
                             "--queue-bytes", str(64 << 20)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    port = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.search(r"listening on ws://[^:]+:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    if port is None:
        proc.kill()
        raise SystemExit("bench: rill serve did not start")
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, port


def build_c(build, tmp):
    exe = os.path.join(tmp, "c_recv")
    src = os.path.join(HERE, "c_recv.c")
    lib = os.path.join(os.path.abspath(build), "src")
    subprocess.run(["cc", "-O2", "-I", os.path.join(REPO, "include"),
                    "-I", os.path.join(build, "include"), src, "-L", lib, "-lrill",
                    f"-Wl,-rpath,{lib}", "-o", exe], check=True)
    return exe


def run_c(exe, url):
    out = subprocess.run([exe, url, str(SECONDS), *VARS], capture_output=True, text=True,
                         check=True).stdout.split()
    bufs, nbytes, dt, cpu, dropped = int(out[0]), int(out[1]), float(out[2]), float(out[3]), int(out[4])
    return nbytes / dt / 1e6, cpu / max(1, bufs) * 1e6, dropped


PY_RUN = r"""
import sys, time, json
sys.path.insert(0, sys.argv[1])
import rill
as_numpy = sys.argv[5] == "numpy"
s = rill.Streamer(ip="127.0.0.1", port=int(sys.argv[2]), numpy=as_numpy)
s.connect()
s.streaming_buffers_queue_length = 64
n = [0, 0]
if as_numpy:
    def cb(b):
        n[0] += 1
        n[1] += b["buffer"]["data"].nbytes
else:
    def cb(b):
        n[0] += 1
        n[1] += len(b["buffer"]["data"]) * 4  # the demo's variables are 4-byte
t0 = time.monotonic(); c0 = time.process_time()
s.start_streaming(sys.argv[4].split(","), on_buffer_callback=cb)
time.sleep(float(sys.argv[3]))
dt = time.monotonic() - t0; cpu = time.process_time() - c0
bufs, nbytes = n
errors = s.callback_errors
s.disconnect()
if errors or bufs == 0:
    sys.exit(f"bench: the callback raised {errors} times, {bufs} buffers delivered")
print(json.dumps([nbytes / dt / 1e6, cpu / max(1, bufs) * 1e6, bufs]))
"""


def run_py(build, port, mode):
    env = dict(os.environ, RILL_LIB=os.path.join(os.path.abspath(build), "src", "librill.so"))
    r = subprocess.run([sys.executable, "-c", PY_RUN, os.path.join(REPO, "python"),
                        str(port), str(SECONDS), ",".join(VARS), mode], env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"bench: the Python client ({mode}) failed:\n{r.stderr[-2000:]}")
    out = r.stdout
    mbs, us, _ = json.loads(out.strip().splitlines()[-1])
    return mbs, us


def report(name, median, unit, base_name=None, base=None, target=None, met=None):
    ratio = median / base if base else None
    b = f"{base_name} {base:.3g}" if base_name else "-"
    r = f"{ratio:.2f}x" if ratio is not None else "-"
    print(f"{name:<44} {median:12.4g} {unit:<6}  {b:<30} {r:>8}  {target or '-':<16} "
          f"{'-' if met is None else ('yes' if met else 'NO')}", flush=True)
    path = os.environ.get("RILL_BENCH_JSON")
    if path:
        row = {"suite": "python", "name": name, "median": round(median, 6), "unit": unit}
        if base_name:
            row.update(baseline=base_name, baseline_median=round(base, 6),
                       ratio=round(ratio, 4))
        if target:
            row.update(target=target, met=bool(met))
        with open(path, "a") as f:
            f.write(json.dumps(row, separators=(",", ":")) + "\n")


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "build")
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_c(build, tmp)
        proc, port = start_server(build)
        try:
            c, py, pyl = [], [], []
            for _ in range(RUNS):
                c.append(run_c(exe, f"ws://127.0.0.1:{port}"))
                py.append(run_py(build, port, "numpy"))
                pyl.append(run_py(build, port, "lists"))
        finally:
            proc.terminate()
            proc.wait(10)
    c_mbs = statistics.median(x[0] for x in c)
    c_us = statistics.median(x[1] for x in c)
    py_mbs = statistics.median(x[0] for x in py)
    py_us = statistics.median(x[1] for x in py)
    pyl_mbs = statistics.median(x[0] for x in pyl)
    pyl_us = statistics.median(x[1] for x in pyl)
    print(f"\n== python client (rill.Streamer vs C rill_client, poll mode, "
          f"{len(VARS)} dense vars at {int(RATE) // 1000000} M ticks/s) ==")
    print(f"{'benchmark':<44} {'median':>12} {'unit':<6}  {'baseline (same run)':<30} "
          f"{'ratio':>8}  {'target':<16} met")
    report("Python receive, on_buffer_callback", py_mbs, "MB/s", "C client", c_mbs,
           ">= 0.3x C", py_mbs >= 0.3 * c_mbs)
    report("Python CPU per buffer (4 KiB of values)", py_us, "us", "C client", c_us)
    # What one core could take at that cost: the clients' ceilings, beyond
    # what the demo server produces on this machine.
    report("Python CPU-bound ceiling (4 KiB / CPU)", 4096 / py_us, "MB/s", "C client",
           4096 / c_us, ">= 0.3x C", 4096 / py_us >= 0.3 * 4096 / c_us)
    report("Python receive, lists (pybela's default)", pyl_mbs, "MB/s", "C client", c_mbs)
    report("Python CPU per buffer, lists", pyl_us, "us", "C client", c_us)
    report("Python CPU-bound ceiling, lists", 4096 / pyl_us, "MB/s", "C client",
           4096 / c_us)


if __name__ == "__main__":
    main()
