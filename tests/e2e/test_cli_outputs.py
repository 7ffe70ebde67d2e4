"""`rill stream` when its outputs fail or stall.

A disk that fills up: a 64 KiB tmpfs mounted in a mount namespace the test
makes (`unshare -m`, so the host never sees it). The command must stop at
the first failed write, exit 1 within seconds (not run out its -d), say why,
and leave files that hold only whole rows and whole records: the csv's last
row complete and equal to its tick, every jsonl line a JSON object, the bin
file a header and whole 4104-byte bodies. Standard output on /dev/full is
an output that fails too. A reader of standard output that stalls for
longer than the writer's ring holds (2 to 4 s) costs whole buffers, which
are counted and reported, never silently lost.
"""

import json
import os
import subprocess
import time

import pytest

from conftest import rill_bin
from helpers import RATE, parse_log_buffers, parse_log_file

# Made in the mount namespace: a tmpfs on MNT, the stream written into it,
# then what it left copied out to KEEP before the namespace (and the tmpfs)
# goes away. The script's exit status is rill's.
SCRIPT = r'''
set -u
mount -t tmpfs -o size=64k rill-full-disk "$1" || exit 97
"$2" stream frame frame_d -d 20 -o "$1/out" --format "$3" --url "$4"
rc=$?
cp -a "$1/out" "$5" || exit 98
exit $rc
'''


def stream_onto_a_full_disk(fmt, url, tmp_path):
    mnt, keep = tmp_path / "disk", tmp_path / "kept"
    mnt.mkdir()
    t0 = time.monotonic()
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", SCRIPT,
                        "sh", str(mnt), rill_bin(), fmt, url, str(keep)],
                       capture_output=True, text=True, timeout=60)
    return r, time.monotonic() - t0, keep


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs in a new mount "
                                                "namespace needs root")
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "bin"])
def test_stream_onto_a_full_disk_stops_at_the_first_failed_write_leaving_whole_rows(
        rill_server, tmp_path, fmt):
    r, took, keep = stream_onto_a_full_disk(fmt, rill_server.url, tmp_path)
    assert r.returncode not in (97, 98), r.stderr
    assert r.returncode == 1, (r.returncode, r.stderr)
    # 64 KiB fill in well under a second at 44.1 kHz; -d 20 must not run out.
    assert took < 8, f"rill stream ran {took:.1f} s after the disk filled: {r.stderr}"
    assert "No space left on device" in r.stderr, r.stderr
    assert "rill stream: writing" in r.stderr and "failed" in r.stderr, r.stderr
    held = 0
    for name, vtype in (("frame", "i"), ("frame_d", "d")):
        path = keep / f"{name}.{fmt}"
        blob = path.read_bytes()
        if fmt == "csv":
            text = blob.decode()
            assert text == "" or text.endswith("\n"), f"{name}: last row cut: {text[-40:]!r}"
            rows = text.splitlines()
            if rows:
                assert rows[0] == f"timestamp,{name}"
            pairs = [tuple(float(x) for x in row.split(",")) for row in rows[1:]]
            assert all(len(row.split(",")) == 2 for row in rows[1:])
        elif fmt == "jsonl":
            text = blob.decode()
            assert text == "" or text.endswith("\n"), f"{name}: last line cut: {text[-40:]!r}"
            pairs = []
            for line in text.splitlines():
                obj = json.loads(line)  # a cut line does not parse
                pairs += [(obj["ref_timestamp"] + i, v) for i, v in enumerate(obj["data"])]
        else:
            if not blob:
                continue
            header, bufs, rest = parse_log_file(blob)
            assert rest == b"", f"{name}: {len(rest)} bytes of a cut record at the end"
            assert header["name"] == name
            pairs = []
            for b in parse_log_buffers(bufs, vtype, 0):
                pairs += [(b["ref"] + i, v) for i, v in enumerate(b["data"])]
            while pairs and pairs[-1][1] == 0 and pairs[-1][0] != 0:
                pairs.pop()  # a closed body's zero padding
        assert all(v == t for t, v in pairs), f"{name}: a value differs from its tick"
        ticks = [int(t) for t, _ in pairs]
        if ticks:
            assert ticks == list(range(ticks[0], ticks[0] + len(ticks))), f"{name}: a gap"
        held += len(pairs)
    assert held > 0, "nothing was written before the disk filled"


def test_stream_to_a_full_standard_output_stops_at_once_with_exit_1(rill_server):
    """Standard output is an output too: on /dev/full every write fails, and
    the command stops and says so instead of streaming its -d 20 into the
    void and exiting 0."""
    t0 = time.monotonic()
    with open("/dev/full", "w") as full:
        r = subprocess.run([rill_bin(), "stream", "frame", "-d", "20", "--url",
                            rill_server.url], stdout=full, stderr=subprocess.PIPE,
                           text=True, timeout=60)
    took = time.monotonic() - t0
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert took < 8, f"rill stream ran {took:.1f} s writing to /dev/full"
    assert "standard output: write failed: No space left on device" in r.stderr, r.stderr
    assert "rill stream: writing standard output failed" in r.stderr, r.stderr


def test_a_stalled_reader_of_standard_output_costs_whole_buffers_which_are_reported(
        rill_server):
    """The reader stops reading for 6 s: the writer thread blocks on the
    pipe, its ring (2 to 4 s of these variables) fills, and whole buffers
    are dropped instead of the client's I/O thread stalling. Exit 1, the
    drops named per variable, and every line that did come out is whole and
    right (value == tick)."""
    p = subprocess.Popen([rill_bin(), "stream", "frame", "frame_d", "sine", "-d", "7",
                          "--url", rill_server.url], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(6.0)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 1, (p.returncode, err)
    assert "buffers were dropped: standard output could not keep up" in err, err
    assert "lost in transit" not in err, err  # the device dropped nothing for us
    rows = [line.split(",") for line in out.splitlines()]
    assert all(len(r) == 3 for r in rows)
    frames = [int(t) for name, t, v in rows if name == "frame" and int(t) == int(float(v))]
    assert len(frames) == sum(1 for r in rows if r[0] == "frame"), "a frame value is wrong"
    assert len(frames) < 7 * RATE, "nothing was dropped"
    assert frames == sorted(frames)
