"""pybela's round-trip benchmark on rill.pybela, with the real pybela as the
baseline on the same device in the same run.

    /usr/bin/python3 bench/pybela/roundtrip.py BUILD_DIR

The scenario is pybela's own (BelaPlatform/pybela,
benchmark/bela2python2bela-benchmark.py): a Streamer streams N int
variables of 1024-value buffers at 44.1 kHz; an `async` on_buffer callback
echoes each buffer's ref_timestamp back with send_buffer (a 1024-int
buffer, the timestamp first); the device measures, for every buffer, the
time from completing it to receiving its echo. The device is
bench/pybela/device.c (pybela_bench_device), one process for the whole run;
each client runs in its own process, as a user's script:

  - rill.pybela          `from rill.pybela import Streamer`, as shipped
                         (values as lists, as pybela gives them);
  - rill.pybela numpy    the same with Streamer(..., numpy=True);
  - pybela               the real pybela 2.0.3 ($RILL_PYBELA_DIR, else
                         ../shared/clients), unmodified: the baseline;
  - C, C batch           the same client in C (bench/pybela/c_echo.c) on
                         librill, its callback on the I/O thread, or on a
                         thread taking batches with rill_client_poll_batch
                         as rill.pybela's does: what the machine and
                         librill allow, without Python.

For each N in $RILL_BENCH_PYBELA_VARS (default 1,10,100) and each client:
warm up 1 s, then $RILL_BENCH_PYBELA_S seconds (default 4) measured; a
buffer completed in that window whose echo has not come back 1 s after
it is lost. rill rows are medians of $RILL_BENCH_PYBELA_RUNS runs (default
3); pybela's are one run (it loses most buffers at 100 variables, and a
run takes as long). Targets (issue 15) on rill.pybela: mean <= 1 ms, max
<= 10 ms and nothing lost at 100 variables; mean <= 0.5 ms at 1 and 10.
Rows go to stdout and $RILL_BENCH_JSON like the C benchmarks'.
$RILL_BENCH_PYBELA_CLIENTS (e.g. "rill,c-batch") runs only those clients.

$RILL_BENCH_PYBELA_NICE (default 0) runs the device and every client at
that niceness (e.g. -10, as root), the same for all of them: on a machine
other work keeps loaded, it measures the software rather than the
scheduler's share; the table says which.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
WINDOW = float(os.environ.get("RILL_BENCH_PYBELA_S", "4"))
RUNS = int(os.environ.get("RILL_BENCH_PYBELA_RUNS", "3"))
VARS = [int(x) for x in os.environ.get("RILL_BENCH_PYBELA_VARS", "1,10,100").split(",")]
WARMUP = 1.0
GRACE = 1.0
NICE = int(os.environ.get("RILL_BENCH_PYBELA_NICE", "0"))


def niced():
    if NICE:
        os.nice(NICE)

# The client: pybela's benchmark callback, written for either library.
CLIENT = r"""
import sys
import numpy as np
which, port, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
if which == "pybela":
    from pybela import Streamer
    streamer = Streamer(ip="127.0.0.1", port=port)
else:
    from rill.pybela import Streamer
    streamer = Streamer(ip="127.0.0.1", port=port, numpy=(which == "rill-numpy"))
BUFFER_LENGTH = 1024
variables = [f"auxWatcherVar{i}" for i in range(n)]
ids = {v: i for i, v in enumerate(variables)}
import time
calls = [0]

async def callback(buffer, streamer):
    calls[0] += 1
    ref_timestamp = buffer["buffer"]["ref_timestamp"]
    data_list = np.zeros(BUFFER_LENGTH, dtype=int)
    data_list[0] = ref_timestamp
    streamer.send_buffer(ids[buffer["name"]], "i", BUFFER_LENGTH, data_list)

streamer.connect()
streamer.start_streaming(variables, on_buffer_callback=callback, callback_args=(streamer))
print("streaming", flush=True)
cpu0, calls0 = time.process_time(), calls[0]
streamer.wait(seconds)
print(f"cpu {time.process_time() - cpu0:.6f} {calls[0] - calls0}", flush=True)
streamer.stop_streaming()
print("done", flush=True)
import os
os._exit(0)
"""


def locate_pybela():
    base = os.environ.get("RILL_PYBELA_DIR") or os.path.join(REPO, "..", "shared", "clients")
    for pkg, shim in ((os.path.join(base, "pybela-2.0.3"), os.path.join(base, "shim")),
                      (base, os.path.join(os.path.dirname(base), "shim"))):
        if os.path.isfile(os.path.join(pkg, "pybela", "__init__.py")):
            return [p for p in (shim, pkg) if os.path.isdir(p)]
    return None


class Device:
    def __init__(self, build, n):
        exe = os.path.join(build, "bench", "pybela", "pybela_bench_device")
        self.proc = subprocess.Popen([exe, "--vars", str(n)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1,
                                     preexec_fn=niced)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on ws://[^:]+:(\d+)", line)
        if not m:
            self.proc.kill()
            raise SystemExit(f"bench: {exe} did not start: {line!r}")
        self.port = int(m.group(1))

    def measure(self, seconds):
        self.proc.stdin.write(f"measure {seconds}\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(10)
        except Exception:
            self.proc.kill()
            self.proc.wait(5)


def run_client(build, device, which, n, pypath):
    env = dict(os.environ, RILL_LIB=os.path.join(os.path.abspath(build), "src", "librill.so"),
               PYTHONPATH=os.pathsep.join(pypath + [os.path.join(REPO, "python")]))
    total = WARMUP + WINDOW + GRACE + 0.5
    if which.startswith("c-"):
        argv = [os.path.join(build, "bench", "pybela", "pybela_bench_c_echo"),
                str(device.port), str(n), str(total), which[2:]]
    else:
        argv = [sys.executable, "-c", CLIENT, which, str(device.port), str(n), str(total)]
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, preexec_fn=niced)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line or line.startswith("streaming"):
                break
        if p.poll() is not None:
            raise RuntimeError(f"the {which} client exited with {p.returncode}")
        time.sleep(WARMUP)
        r = device.measure(WINDOW)
        out, _ = p.communicate(timeout=total + 30)
        m = re.search(r"^cpu ([0-9.]+) (\d+)$", out, re.M)
        # The client process's CPU time per buffer it echoed, all its
        # threads, from the stream's start to its end.
        r["cpu_us"] = float(m.group(1)) / int(m.group(2)) * 1e6 if m and int(m.group(2)) else None
        return r
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)


def report(name, median, unit, base_name=None, base=None, target=None, met=None):
    ratio = median / base if base else None
    b = f"{base_name} {base:.3g}" if base_name else "-"
    r = f"{ratio:.3g}x" if ratio is not None else "-"
    print(f"{name:<44} {median:12.4g} {unit:<6}  {b:<30} {r:>8}  {target or '-':<16} "
          f"{'-' if met is None else ('yes' if met else 'NO')}", flush=True)
    path = os.environ.get("RILL_BENCH_JSON")
    if path:
        row = {"suite": "pybela", "name": name, "median": round(median, 6), "unit": unit}
        if base_name:
            row.update(baseline=base_name, baseline_median=round(base, 6),
                       ratio=round(ratio, 4) if ratio is not None else None)
        if target:
            row.update(target=target, met=bool(met))
        with open(path, "a") as f:
            f.write(json.dumps(row, separators=(",", ":")) + "\n")


def lost(r):
    """Buffers completed in the window whose echo never came: missing between
    the first and the last echoed, or after the last (the window's edges
    may count one buffer per variable either way: not a loss)."""
    return max(r["missing_within"], r["completed"] - r["back"] - r["vars"])


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "build")
    pypath = locate_pybela()
    clients = ["rill", "rill-numpy"] + (["pybela"] if pypath else []) + ["c-io", "c-batch"]
    only = os.environ.get("RILL_BENCH_PYBELA_CLIENTS")
    if only:
        clients = [c for c in clients if c in only.split(",")]
    results = {}
    load0 = os.getloadavg()[0]
    for n in VARS:
        device = Device(build, n)
        try:
            for which in clients:
                runs = RUNS if which != "pybela" else 1
                results[(n, which)] = [run_client(build, device, which, n, pypath or [])
                                       for _ in range(runs)]
        finally:
            device.close()
    load = f"{load0:.2f} at the start, " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + \
        " at the end"
    print(f"\n== pybela's round trip (device -> Python -> device; N int variables of 1024 "
          f"values at 44.1 kHz, an async on_buffer callback echoing with send_buffer; "
          f"{WINDOW:g} s measured; rill medians of {RUNS}; load average {load} on "
          f"{os.cpu_count()} cores; niceness {NICE}) ==")
    print(f"{'benchmark':<44} {'median':>12} {'unit':<6}  {'baseline (same run)':<30} "
          f"{'ratio':>8}  {'target':<16} met")
    if not pypath:
        print("(the real pybela is not at $RILL_PYBELA_DIR or ../shared/clients: "
              "no baseline rows)")
    for n in VARS:
        base = results.get((n, "pybela"), [None])[0]
        for which, label in (("rill", "rill.pybela"), ("rill-numpy", "rill.pybela numpy")):
            rs = results.get((n, which))
            if rs is None:
                continue
            med = {k: statistics.median(r[k] for r in rs) for k in
                   ("mean_ms", "p99_ms", "max_ms")}
            med_lost = statistics.median(lost(r) / max(1, r["completed"]) * 100 for r in rs)
            worst_lost = max(lost(r) for r in rs)
            # Times of no buffer at all (the real pybela can lose every one
            # at 100 variables) are no baseline: "-" rather than 0 ms.
            timed = base if base and base["back"] > 0 else None
            bmean = timed["mean_ms"] if timed else None
            bmax = timed["max_ms"] if timed else None
            blost = lost(base) / max(1, base["completed"]) * 100 if base else None
            tmean = "<= 1 ms" if n >= 100 else "<= 0.5 ms"
            tlim = 1.0 if n >= 100 else 0.5
            report(f"{label}, {n} vars: mean", med["mean_ms"], "ms",
                   "pybela" if timed else None, bmean, tmean, med["mean_ms"] <= tlim)
            report(f"{label}, {n} vars: p99", med["p99_ms"], "ms",
                   "pybela" if timed else None, timed["p99_ms"] if timed else None)
            report(f"{label}, {n} vars: max", med["max_ms"], "ms", "pybela" if timed else None,
                   bmax, "<= 10 ms" if n >= 100 else None,
                   med["max_ms"] <= 10 if n >= 100 else None)
            report(f"{label}, {n} vars: buffers lost", med_lost, "%",
                   "pybela" if base else None, blost if base else None,
                   "0 (every run)" if n >= 100 else None,
                   worst_lost == 0 if n >= 100 else None)
            cpu = [r["cpu_us"] for r in rs if r.get("cpu_us") is not None]
            if cpu:
                bcpu = base.get("cpu_us") if base else None
                report(f"{label}, {n} vars: client CPU per buffer", statistics.median(cpu), "us",
                       "pybela" if bcpu else None, bcpu)
        for which, label in (("c-io", "C client, I/O thread"),
                             ("c-batch", "C client, batch poll thread")):
            rs = results.get((n, which))
            if rs is None:
                continue
            for k, what in (("mean_ms", "mean"), ("max_ms", "max")):
                report(f"{label}, {n} vars: {what}", statistics.median(r[k] for r in rs), "ms")
            cpu = [r["cpu_us"] for r in rs if r.get("cpu_us") is not None]
            if cpu:
                report(f"{label}, {n} vars: client CPU per buffer", statistics.median(cpu), "us")
        if base:
            times = (f"mean {base['mean_ms']:.3g} ms, max {base['max_ms']:.4g} ms"
                     if base["back"] else "no times")
            print(f"   pybela, {n} vars, one run: {base['back']} of {base['completed']} buffers "
                  f"back, {times}")
    for (n, which), rs in sorted(results.items()):
        print(f"   runs {which:>10}, {n:>3} vars: " + "; ".join(
            f"mean {r['mean_ms']:.3f} (first echo, p1 {r.get('p1_ms', 0):.3f}) "
            f"p99 {r['p99_ms']:.3f} max {r['max_ms']:.3f} ms, "
            f"cpu {r['cpu_us'] or 0:.1f} us/buffer, "
            f"{r['back']}/{r['completed']} back, drops {r['tick_drops']}+{r['client_drops']}"
            for r in rs))


if __name__ == "__main__":
    main()
