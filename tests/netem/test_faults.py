"""rill over bad networks: `rill serve` in one network namespace, its
clients in another, joined by the emulated link (netem.py, linkem).

What is proved: over a lossy and slow link, streaming, exactly-N, logging
and control complete with every value right; a 2 s blackout delays them
and loses nothing; a link that goes down (linkem's "down", or the client's
interface really down) ends a stream with a clear error within a stated
time, and a request within its timeout, and the server serves again when
the link is back. The time bounds are stated next to each check: they are
what the client's settings promise (keepalive 1 s, timeout 5 s by default)
plus slack for a loaded machine, not performance targets.

The demo runs at 8 kHz here: over 5% loss and a 100 ms round trip, TCP
carries about 80 kB/s (Mathis et al.), and 8 kHz of int32 is 32 kB/s.
"""
import time

import pytest

from netem import Link, available
from rillnet import Server, cli, frames_exact, python_in, start_cli, stream_lines

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))

RATE = 8000

# Over 5% loss, a TCP connection whose SYN or SYN-ACK was lost starts with a
# 3 s retransmission timeout (RFC 6298 5.7), and one more loss of the
# handshake's request or answer then takes the WebSocket handshake past the
# default 5 s: what a user of such a link gives --timeout for.
SLOW = ("--timeout", "15")


def test_a_lossy_slow_link_streams_exact_values_logs_and_controls(tmp_path):
    with Link(delay_ms=50, jitter_ms=20, loss=0.05, seed=3) as link:
        srv = Server(link, rate=RATE, logdir=str(tmp_path))
        # Exactly N values of two variables (2 s of the device's clock):
        # within 30 s, every value there and right.
        st, out, err, took = cli(link, "stream", "frame", "frame_d", "-n", "16000", *SLOW, url=srv.url)
        assert st == 0, err
        assert took < 30, f"exactly-N took {took:.1f} s over the lossy link"
        rows = stream_lines(out)
        assert len(rows["frame"]) == 16000 and frames_exact(rows["frame"]) == []
        assert rows["frame_d"] == rows["frame"]
        # A duration, a dense and a sparse variable: exactly the dense one's
        # ticks, and every tick the sparse one was set at in them ("events":
        # t % 64 == 0 or t % 100 == 7), within 30 s.
        st, out, err, took = cli(link, "stream", "frame", "events", "-d", "1", *SLOW, url=srv.url)
        assert st == 0, err
        assert took < 30
        rows = stream_lines(out)
        assert len(rows["frame"]) == RATE and frames_exact(rows["frame"]) == []
        t0 = rows["frame"][0][0]
        want = [t for t in range(t0, t0 + RATE) if t % 64 == 0 or t % 100 == 7]
        assert rows["events"] == [(t, float(t)) for t in want]
        # Logging on the device and the download over HTTP: rill log checks
        # the file has every tick (exit 0), within 30 s.
        dl = tmp_path / "dl"
        dl.mkdir()
        st, out, err, took = cli(link, "log", "frame", "-d", "1", "-o", str(dl), *SLOW, url=srv.url)
        assert st == 0, err
        assert took < 30
        assert (dl / "frame.bin").stat().st_size > RATE * 4
        # Control: the program reads the value set (the list's value) and
        # the sine it scales follows, within 30 s.
        st, _, err, took = cli(link, "set", "gain", "0.25", *SLOW, url=srv.url)
        assert st == 0 and took < 30, err
        st, out, err, _ = cli(link, "ls", *SLOW, url=srv.url)
        gain = [line.split() for line in out.splitlines() if line.startswith("gain ")][0]
        assert gain[-1] == "0.25", out
        st, out, err, _ = cli(link, "stream", "sine", "-n", "4000", *SLOW, url=srv.url)
        assert st == 0, err
        peak = max(abs(v) for _, v in stream_lines(out)["sine"])
        assert 0.1 < peak <= 0.125 + 1e-6, peak
        # A pybela-like client (the Watcher protocol, as pybela speaks it):
        # whole Bela buffers, each starting where the last ended, within 30 s.
        st, out, err = python_in(link, "b", PYBELA_STREAM % (srv.url, 8), timeout=60)
        assert st == 0, out + err
        assert "ok 8 buffers" in out, out + err
        assert link.stats()["lost"] > 0  # the link did lose packets
        assert srv.stop() == 0, srv.output()


# Streams "frame" with the e2e suite's pybela-like client and checks N
# consecutive buffers: refs 1024 apart, every value its tick.
PYBELA_STREAM = """
import asyncio, sys
from belaclient import BelaClient, run
async def main(url, n):
    async with BelaClient(url) as c:
        await c.connect(timeout=15)
        await c.start_streaming(["frame"])
        await c.wait_buffers("frame", n + 1, timeout=30)
        bufs = c.buffers["frame"][1:n + 1]
        for a, b in zip(bufs, bufs[1:]):
            assert b["ref"] == a["ref"] + 1024, (a["ref"], b["ref"])
        for b in bufs:
            assert b["data"] == list(range(b["ref"], b["ref"] + 1024)), b["ref"]
        assert not c.violations, c.violations
        print("ok", n, "buffers")
run(main(%r, %d), timeout=45)
"""


def test_a_2s_blackout_delays_streams_but_loses_nothing():
    with Link(delay_ms=20, seed=5) as link:
        srv = Server(link, rate=RATE)
        t0 = time.monotonic()
        p = start_cli(link, "stream", "frame", "events", "-d", "5", url=srv.url)
        time.sleep(1.5)
        link.set("blackout 2000")
        # 5 s of data, 2 s of blackout, TCP's retransmission backoff (at
        # most a few seconds after the link is back): within 15 s.
        out, err = p.communicate(timeout=30)
        took = time.monotonic() - t0
        assert p.returncode == 0, err
        assert took < 15, f"took {took:.1f} s"
        rows = stream_lines(out)
        assert len(rows["frame"]) == 5 * RATE and frames_exact(rows["frame"]) == []
        assert link.stats()["lost"] > 0  # the blackout did drop packets
        assert srv.stop() == 0, srv.output()


def test_a_downed_link_ends_a_stream_with_a_clear_error_in_time():
    with Link(delay_ms=10, seed=7) as link:
        srv = Server(link, rate=RATE)
        p = start_cli(link, "stream", "frame", url=srv.url)
        time.sleep(1.0)
        link.set("down")
        t0 = time.monotonic()
        # Meanwhile a request: it fails within its timeout (5 s), with a
        # reason.
        ls = start_cli(link, "ls", url=srv.url)
        # Nothing arrives: the keepalive pings after 1 s and gives up 5 s
        # later (the default timeout): the stream ends within 8 s, saying
        # why.
        out, err = p.communicate(timeout=30)
        took = time.monotonic() - t0
        assert p.returncode == 1, err
        assert 5.5 < took < 8, f"noticed after {took:.1f} s"
        assert "nothing came from the device for" in err, err
        assert "the connection to" in err and "was lost" in err, err
        rows = stream_lines(out)["frame"]
        assert len(rows) > 0 and frames_exact(rows) == []  # what came is right
        _, err = ls.communicate(timeout=30)
        took = time.monotonic() - t0
        assert ls.returncode == 1 and took < 8, (took, err)
        assert "no answer" in err or "did not answer" in err, err
        # The server is unharmed: back up, it serves.
        link.set("up")
        st, out, err, _ = cli(link, "stream", "frame", "-n", "800", url=srv.url)
        assert st == 0, err
        assert frames_exact(stream_lines(out)["frame"]) == []
        assert srv.stop() == 0, srv.output()


def test_the_clients_interface_really_down_is_a_clear_error_in_time():
    with Link(delay_ms=10, seed=9) as link:
        srv = Server(link, rate=RATE)
        p = start_cli(link, "stream", "frame", url=srv.url)
        time.sleep(1.0)
        assert link.run("b", ["ip", "link", "set", "lem0", "down"]).returncode == 0
        t0 = time.monotonic()
        out, err = p.communicate(timeout=30)
        took = time.monotonic() - t0
        assert p.returncode == 1, err
        assert 5.5 < took < 8, f"noticed after {took:.1f} s"
        assert "nothing came from the device for" in err, err
        # No route at all: a new connection fails at once, and says why.
        st, _, err, took = cli(link, "ls", url=srv.url)
        assert st == 1 and took < 2, (took, err)
        assert "unreachable" in err, err
        assert link.run("b", ["ip", "link", "set", "lem0", "up"]).returncode == 0
        st, out, err, _ = cli(link, "stream", "frame", "-n", "800", url=srv.url, timeout=30)
        assert st == 0, err
        assert srv.stop() == 0, srv.output()
