"""The README's host-side commands, run as a reader would paste them.

Each line of the "Host side: reading a device from another program" block
runs in a fresh directory against a `rill serve` of the demo (RILL_URL
set, nothing else), in the README's order, and must succeed and leave what
its comment says. A command that runs until Ctrl-C gets SIGINT after a
second, as a reader would press it. The block fell behind once: `rill log
... -o logs` needed the directory made first, and the monitor example read
a 440 Hz sine every 4410 ticks, the same value each time."""

import json
import os
import pathlib
import re
import shlex
import signal
import subprocess
import time

from conftest import rill_bin
from helpers import parse_log_file

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def host_side_commands():
    text = README.read_text()
    block = re.search(r"### Host side: reading a device from another program\n+```sh\n(.*?)```",
                      text, re.S)
    assert block, "README.md: the host-side block is gone"
    lines = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line.startswith("rill ")]


def test_the_readme_host_commands_run_as_written(rill_serve, tmp_path):
    srv = rill_serve()
    work = tmp_path / "reader"
    work.mkdir()
    bindir = os.path.dirname(rill_bin())
    env = dict(os.environ, RILL_URL=srv.url, PATH=f"{bindir}:{os.environ['PATH']}")
    commands = host_side_commands()
    assert len(commands) >= 10, commands
    out = {}
    for line in commands:
        # A pipeline through sh; the rest as they are (Ctrl-C reaches rill).
        argv = ["sh", "-c", line] if "|" in line else shlex.split(line)
        p = subprocess.Popen(argv, cwd=work, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
        until_ctrl_c = line.startswith("rill monitor") and " -n " not in line
        try:
            if until_ctrl_c:
                time.sleep(1.0)
                assert p.poll() is None, (line, p.communicate())
                p.send_signal(signal.SIGINT)
            stdout, stderr = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        assert p.returncode == 0, (line, p.returncode, stderr)
        out[line] = stdout
    by_cmd = {line.split()[1]: (line, text) for line, text in out.items()}

    # What the comments promise.
    assert {"frame", "sine", "gain"} <= {row.split()[0] for row in out["rill ls"].splitlines()}
    frame_rows = (work / "data" / "frame.csv").read_text().splitlines()
    assert len(frame_rows) == 44100 + 1  # the header line, then exactly 44100 values
    line, text = by_cmd["monitor"]
    values = [row.split() for row in text.splitlines()]
    assert len(values) >= 5 and all(v[0] == "sine" for v in values), text
    ticks = [int(v[1]) for v in values]
    period = int(re.search(r"--period (\d+)", line).group(1))
    assert all(b - a == period for a, b in zip(ticks, ticks[1:])), ticks
    assert len({v[2] for v in values}) > 1, f"{line}: the same value every time:\n{text}"
    stdout = out["rill stream events -d 5 | head"]
    assert len(stdout.splitlines()) == 10 and stdout.startswith("events,"), stdout
    peeked = [row.split()[0] for row in by_cmd["peek"][1].splitlines()]
    assert peeked == by_cmd["peek"][0].split()[2:], peeked
    for name in ("sine", "frame"):
        header, bufs, _ = parse_log_file((work / "logs" / f"{name}.bin").read_bytes())
        assert header["name"] == name and bufs, header
    info = dict(row.split(None, 1) for row in by_cmd["info"][1].splitlines())
    assert info["format"] == "wav" and info["values"] == str(2 * 44100), info
    jsonl = (work / "data" / "frame.jsonl").read_text().splitlines()
    assert jsonl and sum(len(json.loads(x)["data"]) for x in jsonl) == 44100
    # The same values as a 44.1 kHz wav, named so.
    header = (work / "frame.wav").read_bytes()[:12]
    assert header[:4] == b"RIFF" and header[8:12] == b"WAVE", header
