"""Reconnecting (rill_client_config.reconnect; `rill stream --reconnect`;
rill.pybela's reconnect=True) across faults a real network has: a blackout
longer than the client's keepalive and timeout (the CLI), an interface
that really goes down (rill.pybela), and `rill serve` killed with SIGKILL
and started again on the same port (the CLI). Server and client are in separate network namespaces joined
by the emulated link (netem.py), so the fixed port is private.

Each test checks every value against its tick (the demo's "frame" is its
tick) and the gap reported against the ticks that really never arrived:
one jump in the ticks, exactly where and as long as the gap said. The time
bounds: a dead link is noticed within keepalive (1 s) + timeout (5 s, or
1 s where the test sets it) plus slack; once the link is back the client is
connected again within 2 s (its longest wait between attempts) plus one
attempt.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from netem import Link, available
from rillnet import (REPO, RESTART_RE, Server, frames_exact, gaps_said, librill, rill_bin,
                     sanitized, start_cli, stream_lines)

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))

RATE = 8000


def stream_across(link, srv, fault, heal, down_s):
    """`rill stream frame frame_d --reconnect` while `fault` lasts `down_s`
    seconds; stops it 2 s after the gap was reported. (status, rows,
    stderr, seconds from `heal` to the reconnection)."""
    p = start_cli(link, "stream", "frame", "frame_d", "--reconnect", url=srv.url)
    time.sleep(1.5)
    fault()
    time.sleep(down_s)
    healed = time.monotonic()
    heal()
    err = ""
    deadline = healed + 10
    # stderr lines come as they happen; read them until the reconnection.
    while time.monotonic() < deadline:
        line = p.stderr.readline()
        err += line
        if "again after" in line:
            break
    back = time.monotonic() - healed
    time.sleep(2)
    p.send_signal(signal.SIGINT)
    out, rest = p.communicate(timeout=15)
    return p.returncode, stream_lines(out), err + rest, back


def check_one_exact_gap(rows, err):
    """One jump in the ticks of each variable (frame: int32, frame_d:
    double; both are the tick), exactly the gap that was said."""
    said = gaps_said(err)
    for var in ("frame", "frame_d"):
        jumps = frames_exact(rows[var])
        assert len(jumps) == 1, (var, jumps, err)
        (last, nxt), = jumps
        assert said[var] == [(last + 1, nxt - 1, nxt - 1 - last)], (var, said, jumps)
        assert f"{var}: {nxt - 1 - last} ticks are missing in 1 gap" in err, err


def test_a_blackout_longer_than_the_timeout_is_reconnected_with_its_exact_gap():
    with Link(delay_ms=20, seed=11) as link:
        srv = Server(link, rate=RATE)
        st, rows, err, back = stream_across(
            link, srv, lambda: link.set("blackout 9000"), lambda: None, 9.0)
        assert st == 1, err  # the output has a gap: said, exit 1
        assert "nothing came from the device for" in err, err
        assert back < 4.5, f"reconnected {back:.1f} s after the link came back"
        check_one_exact_gap(rows, err)
        assert srv.stop() == 0, srv.output()


def test_a_server_killed_and_started_again_is_reconnected_as_a_restart():
    with Link(delay_ms=5, seed=17) as link:
        srv = Server(link, rate=RATE)
        p = start_cli(link, "stream", "frame", "--reconnect", url=srv.url)
        time.sleep(1.5)
        srv.kill9()
        time.sleep(1.0)
        t0 = time.monotonic()
        srv2 = Server(link, rate=RATE)
        err = ""
        while time.monotonic() < t0 + 10:
            line = p.stderr.readline()
            err += line
            if "again after" in line:
                break
        back = time.monotonic() - t0
        time.sleep(1.5)
        p.send_signal(signal.SIGINT)
        out, rest = p.communicate(timeout=15)
        err += rest
        assert p.returncode == 1, err
        # The new server's clock began again at 0: the client says the device
        # restarted, from the tick after the last value of its earlier run,
        # and goes on with the new run's values, every one of them.
        assert back < 4.5, f"reconnected {back:.1f} s after the server was back"
        rows = stream_lines(out)["frame"]
        jumps = frames_exact(rows)
        assert len(jumps) == 1, jumps
        (last, nxt), = jumps
        m = RESTART_RE.search(err)
        assert m and m.group(1) == "frame" and int(m.group(2)) == last + 1, err
        assert nxt < last  # the new run's ticks are behind the old ones
        assert "and the device restarted meanwhile" in err, err
        assert srv2.stop() == 0, srv2.output()


# rill.pybela's Streamer across a blackout, reconnecting or not (pybela's
# default): prints the frame ticks and values it kept, its gaps and errors.
PYBELA = """
import json, sys, time
from rill.pybela import Streamer
s = Streamer(ip=%r, port=%d, reconnect=%r, timeout_ms=1000)
s.connect()
s.start_streaming(["frame"])
print("streaming", flush=True)
end = time.monotonic() + 20
while time.monotonic() < end and not (s.gaps or s.errors):
    time.sleep(0.05)
time.sleep(1.5)
ticks = s.streaming_buffers_timestamps()["frame"].tolist()
values = s.streaming_buffers_data["frame"].tolist()
print(json.dumps({"ticks": ticks, "values": values, "gaps": s.gaps, "errors": s.errors,
                  "events": [e["kind"] for e in s.events]}), flush=True)
s.disconnect()
"""


def pybela_across(link, srv, reconnect, fault, heal):
    env = dict(os.environ, RILL_LIB=librill(), RILL_BIN=rill_bin(),
               PYTHONPATH=os.path.join(REPO, "python"), PYTHONDONTWRITEBYTECODE="1")
    p = link.popen("b", [sys.executable, "-c", PYBELA % (link.addr_a, 5555, reconnect)],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline().strip() == "streaming", p.stderr.read()
    time.sleep(1.0)
    fault()
    time.sleep(3.5)
    heal()
    out, err = p.communicate(timeout=40)
    assert p.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1]), err


@pytest.mark.skipif(sanitized() is not None, reason=str(sanitized()))
def test_pybela_streamer_reconnects_only_when_asked_and_reports_the_gap():
    with Link(delay_ms=20, seed=19) as link:
        srv = Server(link, rate=RATE)
        # pybela's semantics by default: across a 3.5 s blackout the stream
        # ends with an error (noticed within keepalive 1 s + timeout 1 s).
        r, err = pybela_across(link, srv, False, lambda: link.set("blackout 3500"),
                               lambda: None)
        assert r["gaps"] == [] and "reconnected" not in r["events"], r["events"]
        assert any(code == "RILL_ECLOSED" and "nothing came from the device" in msg
                   for code, msg in r["errors"]), r["errors"]
        # With reconnect=True, across the client's interface really down
        # for 3.5 s: one gap, exactly the ticks missing.
        ip = ["ip", "link", "set", "lem0"]
        r, err = pybela_across(link, srv, True,
                               lambda: link.run("b", ip + ["down"], check=True),
                               lambda: link.run("b", ip + ["up"], check=True))
        assert r["errors"] == [], r["errors"]
        assert r["events"][:2] == ["lost", "reconnected"], r["events"]
        rows = list(zip(r["ticks"], r["values"]))
        jumps = frames_exact(rows)
        assert len(jumps) == 1, jumps
        (last, nxt), = jumps
        g, = r["gaps"]
        assert (g["variable"], g["first"], g["ticks"], g["resumed"], g["restarted"]) == \
            ("frame", last + 1, nxt - last - 1, nxt, False), g
        assert srv.stop() == 0, srv.output()
