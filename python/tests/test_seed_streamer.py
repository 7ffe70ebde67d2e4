"""pybela's Streamer tutorial (seeds/001) runs unchanged against `rill serve`
apart from the import line, the address and the variable names, and gives
what pybela gives (lists, whole buffers, a schedule_streaming that blocks)
with the values it should: continuous data, timestamps on the device's
clock, saved files that load back."""

import os
import time

import numpy as np

from seed_001_cells import CELLS

VARIABLES = '["frame", "frame_d"]'  # the demo's frame counters: value == tick


def adapt(cell, port):
    return (cell.replace("from pybela import Streamer", "from rill import Streamer")
                .replace("streamer = Streamer()",
                         f'streamer = Streamer(ip="127.0.0.1", port={port})')
                .replace('variables = ["pot1", "pot2"]', f"variables = {VARIABLES}"))


def continuous(buffers):
    """Each buffer's values are its ticks, and each starts where the last ended."""
    for b in buffers:
        ref, data = b["ref_timestamp"], np.asarray(b["data"])
        assert np.array_equal(data, np.arange(ref, ref + len(data))), (ref, data[:4])
    for a, b in zip(buffers, buffers[1:]):
        assert b["ref_timestamp"] == a["ref_timestamp"] + len(a["data"]), \
            (a["ref_timestamp"], len(a["data"]), b["ref_timestamp"])


def test_tutorial_2_cells_run_and_give_exact_values(rill_server, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the schedule cell saves into "./"
    ns = {}
    exec(adapt(CELLS[0], rill_server.port), ns)
    streamer = ns["streamer"]
    try:
        assert streamer.sample_rate == 44100 and isinstance(streamer.sample_rate, int)
        assert streamer.is_connected()

        # stream_n_values: as pybela, whole buffers, at least n_values each.
        exec(CELLS[1], ns)
        sb = ns["streaming_buffer"]
        assert set(sb) == {v["name"] for v in streamer.watcher_vars}
        assert all(sb[k] == [] for k in sb if k not in ("frame", "frame_d"))
        for var, n in (("frame", 1024), ("frame_d", 512)):
            assert sum(len(b["data"]) for b in sb[var]) >= 1000, var
            assert all(len(b["data"]) == n for b in sb[var])
            assert all(isinstance(b["data"], list) for b in sb[var])
            continuous(sb[var])
        data = streamer.streaming_buffers_data
        assert isinstance(data["frame"], list) and isinstance(data["frame"][0], int)
        assert isinstance(data["frame_d"][0], float)

        # The watcher_vars report (pybela's data_length).
        capsys.readouterr()
        exec(CELLS[2], ns)
        out = capsys.readouterr().out
        assert "Variable: frame, buffer length: 1024, number of streamed values: " in out
        assert "Variable: frame_d, buffer length: 512, number of streamed values: " in out
        assert "Variable: sine, buffer length: 1024, number of streamed values: 0" in out

        # schedule_streaming: blocks until the schedule has ended, as pybela;
        # one second of each variable from one second ahead, saved as
        # pybela's JSON lines, exactly [start, start + duration).
        t0 = time.monotonic()
        exec(CELLS[3], ns)
        assert time.monotonic() - t0 >= 1.8, "schedule_streaming returns when it ended"
        start = int(ns["start_timestamp"])
        for var in ("frame", "frame_d"):
            path = tmp_path / f"{var}_var_stream.txt"
            assert path.exists(), sorted(os.listdir(tmp_path))
            loaded = streamer.load_data_from_file(str(path))
            assert loaded[0]["ref_timestamp"] == start
            assert sum(len(b["data"]) for b in loaded) == 44100, var
            continuous(loaded)
            # stream_n_values(1000) left pybela's queue length at 2 buffers
            # (1000 values of the 512-value double): the queue keeps the last two.
            q = streamer.streaming_buffers_queue[var]
            assert streamer.streaming_buffers_queue_length == 2 and q == loaded[-2:]
        with open(tmp_path / "frame_var_stream.txt") as f:
            first = f.readline()
        assert first.startswith('{"ref_timestamp": %d, "data": [%d, %d' % (start, start, start + 1))

        # on_buffer callback: every buffer, in order, none lost.
        capsys.readouterr()
        exec(CELLS[4], ns)
        assert "Buffer received" in capsys.readouterr().out
        ts, bufs = ns["timestamps"], ns["buffers"]
        for var, n in (("frame", 1024), ("frame_d", 512)):
            assert len(ts[var]) >= 10, (var, len(ts[var]))
            continuous([{"ref_timestamp": t, "data": d} for t, d in zip(ts[var], bufs[var])])
            assert all(len(d) == n for d in bufs[var][:-1])
        assert streamer.callback_errors == 0

        # on_block callback: both variables cut at the same ticks.
        capsys.readouterr()
        exec(CELLS[5], ns)
        assert "Block received" in capsys.readouterr().out
        ts, bufs = ns["timestamps"], ns["buffers"]
        assert len(ts["frame"]) >= 10
        assert ts["frame"] == ts["frame_d"]
        for var in ("frame", "frame_d"):
            continuous([{"ref_timestamp": t, "data": d} for t, d in zip(ts[var], bufs[var])])
            assert all(len(d) == 1024 for d in bufs[var][:-1])
        assert not streamer.is_streaming()
    finally:
        streamer.disconnect()
