"""The emulated link itself: it delays, loses, blacks out and goes down as told.

Every test of a bad network relies on these, so they are checked here with
plain sockets before anything of rill's crosses the link.
"""
import statistics
import subprocess
import sys
import time

import pytest

from netem import Link, available

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))

# A UDP echo server: answers every datagram with itself, for `seconds`.
ECHO = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 7000))
s.settimeout(0.2)
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    try:
        data, peer = s.recvfrom(2048)
    except socket.timeout:
        continue
    s.sendto(data, peer)
"""

# Sends `n` datagrams `gap` s apart and prints the round trip of each one
# answered (ms), or "lost"; waits `wait` s for the stragglers.
PROBE = """
import socket, sys, time
host, n, gap, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
sent = {}
rtt = {}
def drain():
    while True:
        try:
            data, _ = s.recvfrom(2048)
        except BlockingIOError:
            return
        i = int(data)
        rtt[i] = (time.monotonic() - sent[i]) * 1000
for i in range(n):
    sent[i] = time.monotonic()
    s.sendto(str(i).encode(), (host, 7000))
    time.sleep(gap)
    drain()
end = time.monotonic() + wait
while time.monotonic() < end:
    time.sleep(0.005)
    drain()
for i in range(n):
    print(f"{rtt[i]:.3f}" if i in rtt else "lost")
"""


def probe(link, n, gap, wait):
    echo = link.popen("a", [sys.executable, "-c", ECHO, link.addr_a, str(n * gap + wait + 2)],
                      stdout=subprocess.PIPE, text=True)
    assert echo.stdout.readline().strip() == "ready"
    out = link.run("b", [sys.executable, "-c", PROBE, link.addr_a, str(n), str(gap), str(wait)],
                   stdout=subprocess.PIPE, text=True, check=True, timeout=60).stdout.split()
    echo.kill()
    echo.wait()
    echo.stdout.close()
    assert len(out) == n, out
    return out


def test_the_link_adds_its_delay_each_way():
    with Link(delay_ms=20) as link:
        rtts = [float(x) for x in probe(link, 20, 0.01, 0.3) if x != "lost"]
    assert len(rtts) == 20, rtts
    # 20 ms each way: the round trip is 40 ms plus the hosts' own time.
    assert 40 <= statistics.median(rtts) < 55, rtts
    assert min(rtts) >= 40, rtts


def test_jitter_spreads_the_delay_within_its_bounds():
    with Link(delay_ms=30, jitter_ms=10) as link:
        rtts = [float(x) for x in probe(link, 40, 0.005, 0.3) if x != "lost"]
    assert len(rtts) == 40
    # Two draws from [20, 40] ms: between 40 and 80 ms (plus the hosts' own
    # time, which a loaded machine stretches: the median stays inside), and
    # spread out.
    assert min(rtts) >= 40 and statistics.median(rtts) < 80, rtts
    assert max(rtts) - min(rtts) > 8, rtts


def test_loss_drops_about_its_share_of_packets():
    with Link(loss=0.2, seed=7) as link:
        out = probe(link, 300, 0.001, 0.3)
        stats = link.stats()
    answered = sum(x != "lost" for x in out)
    # Each answer crosses twice: 0.8 * 0.8 = 64% come back.
    assert 0.5 < answered / 300 < 0.78, answered
    # Every unanswered probe lost one packet on one of its two crossings;
    # a few more may be the kernel's own (IPv6 neighbour discovery).
    assert 0 <= stats["lost"] - (300 - answered) <= 10, (stats, answered)


def test_a_blackout_loses_everything_until_it_ends():
    with Link(delay_ms=1) as link:
        link.set("blackout 400")
        t0 = time.monotonic()
        during = probe(link, 10, 0.01, 0.05)
        # The blackout may end before the last probes: only those sent well
        # inside it are sure to be lost.
        assert time.monotonic() - t0 < 2
        assert during[:5] == ["lost"] * 5, during
        time.sleep(0.5)
        after = probe(link, 10, 0.01, 0.2)
    assert "lost" not in after, after


def test_down_loses_everything_until_up():
    with Link() as link:
        link.set("down")
        assert probe(link, 5, 0.01, 0.2) == ["lost"] * 5
        link.set("up")
        assert "lost" not in probe(link, 5, 0.01, 0.2)
        with pytest.raises(RuntimeError, match="refused"):
            link.set("jitter 5")
