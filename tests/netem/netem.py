"""Two network namespaces joined by an emulated link, for tests of bad networks.

The kernel these tests run on has no netem qdisc, so the link is `linkem`
(tests/netem/linkem.c): a TUN device in each namespace, with the packets
carried between them in user space and held for their delay. Needs root.

    with Link(delay_ms=50, jitter_ms=20, loss=0.05) as link:
        server = link.popen("a", [rill, "serve", "--bind", link.addr_a, ...])
        client = link.popen("b", [...])
        link.set("blackout 2000")

Side "a" has address `addr_a` (10.77.0.1 by default), side "b" `addr_b`.
Each namespace also has its own loopback, up. Everything is removed on
close, even when the test failed.
"""
import os
import shutil
import subprocess
import uuid


def linkem_path():
    """The linkem binary of the build under test: $RILL_LINKEM, else beside
    $RILL_BIN's build (<build>/bin/rill -> <build>/tests/netem/linkem)."""
    if os.environ.get("RILL_LINKEM"):
        return os.environ["RILL_LINKEM"]
    rill = os.environ.get("RILL_BIN")
    if not rill:
        raise RuntimeError("set RILL_BIN (the rill binary under test) or RILL_LINKEM")
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(rill))),
                        "tests", "netem", "linkem")


def available():
    """None when links can be made here, else why not (for a skip)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if not shutil.which("ip"):
        return "iproute2's ip is not installed"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing"
    if not os.access(linkem_path(), os.X_OK):
        return f"linkem is not built ({linkem_path()})"
    return None


class Link:
    def __init__(self, delay_ms=0.0, jitter_ms=0.0, loss=0.0, rate_kbit=0.0,
                 limit=1000, seed=1, addr_a="10.77.0.1", addr_b="10.77.0.2"):
        tag = uuid.uuid4().hex[:8]
        self.ns = {"a": f"rill-{tag}-a", "b": f"rill-{tag}-b"}
        self.addr_a, self.addr_b = addr_a, addr_b
        self.procs = []
        self.proc = None
        try:
            for name in self.ns.values():
                subprocess.run(["ip", "netns", "add", name], check=True)
            self.proc = subprocess.Popen(
                [linkem_path(), "--ns-a", self.ns["a"], "--ns-b", self.ns["b"],
                 "--addr-a", addr_a, "--addr-b", addr_b,
                 "--delay-ms", str(delay_ms), "--jitter-ms", str(jitter_ms),
                 "--loss", str(loss), "--rate-kbit", str(rate_kbit),
                 "--limit", str(limit), "--seed", str(seed)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
            line = self.proc.stdout.readline()
            if line.strip() != "linkem: ready":
                raise RuntimeError(f"linkem did not start: {line!r} "
                                   f"(exit {self.proc.poll()})")
        except BaseException:
            self.close()
            raise

    def set(self, command):
        """Send linkem one command ("delay 50 20", "loss 0.05", "blackout 2000",
        "down", "up"); raises if it refused it."""
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if answer != "ok":
            raise RuntimeError(f"linkem refused {command!r}: {answer}")

    def stats(self):
        """{"sent_ab": n, "sent_ba": n, "lost": n, "dropped": n}"""
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        words = self.proc.stdout.readline().split()
        return {words[i]: int(words[i + 1]) for i in range(0, len(words), 2)}

    def command(self, side, args):
        """args run inside side "a" or "b"'s namespace."""
        return ["ip", "netns", "exec", self.ns[side]] + list(args)

    def popen(self, side, args, **kwargs):
        """A process in side's namespace, killed at close if still running."""
        p = subprocess.Popen(self.command(side, args), **kwargs)
        self.procs.append(p)
        return p

    def run(self, side, args, **kwargs):
        return subprocess.run(self.command(side, args), **kwargs)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.stdin.close()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc.stdout.close()
        for name in self.ns.values():
            subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
