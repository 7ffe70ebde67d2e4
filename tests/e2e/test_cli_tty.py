"""What the host commands print on standard error: progress and where each
file went when it is a terminal (a real pseudo-terminal here), nothing at
all on success when it is a pipe, errors always."""

import os
import pty
import select
import subprocess
import time

from conftest import rill_bin
from helpers import RATE


def on_a_terminal(*args, timeout=60):
    """Run rill with stderr on a pseudo-terminal (stdout a pipe); returns
    (exit status, what the terminal showed, stdout)."""
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([rill_bin(), *args], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=slave)
    finally:
        os.close(slave)
    shown = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if p.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            shown += chunk
        out, _ = p.communicate(timeout=max(1, deadline - time.monotonic()))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    return p.returncode, shown.decode(errors="replace"), out.decode()


def test_stream_shows_progress_and_where_files_went_on_a_terminal(rill_server, tmp_path):
    rc, shown, out = on_a_terminal("stream", "frame", "sine", "-d", "1", "-o", str(tmp_path),
                                   "--url", rill_server.url)
    assert rc == 0, shown
    assert out == ""
    # Progress lines are rewritten in place: elapsed, values, bytes, drops.
    progress = [p for p in shown.replace("\n", "\r").split("\r") if " dropped" in p]
    assert progress, shown
    last = progress[-1].split(", ")
    assert last[0].endswith(" s") and last[1] == f"{2 * RATE} values", last
    assert last[2].endswith(" kB") and last[3].strip() == "0 dropped", last
    for name in ("frame", "sine"):
        assert f"rill stream: {name}: {RATE} values -> {tmp_path}/{name}.csv" in shown, shown


def test_log_shows_progress_and_each_file_on_a_terminal(rill_server, tmp_path):
    rc, shown, out = on_a_terminal("log", "frame", "events", "-d", "0.5", "-o", str(tmp_path),
                                   "--url", rill_server.url)
    assert rc == 0, shown
    assert out == ""
    progress = [p for p in shown.replace("\n", "\r").split("\r") if " s logged" in p]
    assert progress, shown
    # frame (int32, dense) logs one value per tick; events is sparse.
    assert any(f"0.50 of 0.50 s logged, {RATE // 2} values, {RATE // 2 * 4 / 1e3:.1f} kB"
               f" (+ sparse)" in p for p in progress), progress[-3:]
    assert f"rill log: frame: {RATE // 2} values, " in shown, shown
    assert f"0 dropped -> {tmp_path}/frame.bin" in shown, shown
    assert f"-> {tmp_path}/events.bin" in shown, shown


def test_errors_still_show_on_a_terminal():
    rc, shown, _ = on_a_terminal("ls", "--url", "ws://127.0.0.1:1")
    assert rc == 1 and "connection refused" in shown, shown


def test_nothing_on_stderr_on_success_when_it_is_a_pipe(rill_server, tmp_path):
    url = ["--url", rill_server.url]

    def quiet(*args):
        r = subprocess.run([rill_bin(), *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, (args, r.stderr)
        assert r.stderr == "", (args, r.stderr)
        return r.stdout

    assert quiet("stream", "frame", "-d", "0.3", "-o", str(tmp_path / "s"), *url) == ""
    assert len(quiet("stream", "events", "-d", "0.3", *url).splitlines()) > 10
    assert quiet("log", "frame", "-d", "0.2", "-o", str(tmp_path), *url) == ""
    assert quiet("convert", str(tmp_path / "s" / "frame.csv"), "--to", "wav",
                 "--rate", str(RATE)) == ""
    assert quiet("info", str(tmp_path / "s" / "frame.wav")) != ""
    assert quiet("ls", *url) != ""
    assert quiet("peek", "frame", *url) != ""
    assert quiet("monitor", "frame", "-n", "2", *url) != ""
    assert quiet("set", "gain", "0.5", *url) == ""
    assert quiet("send", "1", "2", *url) == ""
