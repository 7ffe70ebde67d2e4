"""python/README.md's pybela examples, run as a reader would paste them.

The two blocks of "pybela: a drop-in for pybela 2.0.3" run one after the
other in one namespace, in a fresh directory, against a `rill serve` of the
demo; only the address gains the test server's port (the README uses
pybela's port, 5555). Each line must do what its comment says."""

import os
import pathlib
import re
import subprocess

import numpy as np

from conftest import rill_bin

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def pybela_blocks():
    text = README.read_text()
    section = re.search(r"## pybela: a drop-in for pybela 2\.0\.3\n(.*?)\n## ", text, re.S)
    assert section, "python/README.md: the pybela section is gone"
    blocks = re.findall(r"```python\n(.*?)```", section.group(1), re.S)
    assert len(blocks) >= 2, "python/README.md: the pybela examples are gone"
    return blocks[:2]


def test_the_readme_pybela_examples_run_as_written(rill_serve, tmp_path, monkeypatch,
                                                   capsys):
    srv = rill_serve()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")  # plot_data draws headless
    blocks = pybela_blocks()
    for b in blocks:
        assert b.count('(ip="127.0.0.1")') >= 1, b
    ns = {}
    made = []
    try:
        exec(blocks[0].replace('(ip="127.0.0.1")', f'(ip="127.0.0.1", port={srv.port})'), ns)
        streamer = ns["streamer"]
        made.append(streamer)
        # stream_n_values: at least 1000 values of each, in whole buffers.
        sb = ns["streaming_buffer"]
        for var in ns["variables"]:
            assert sum(len(b["data"]) for b in sb[var]) >= 1000, var
        # schedule_streaming saved one second of each from one second
        # ahead, and had ended when it returned: the file loads whole.
        data = ns["data"]
        assert data[0]["ref_timestamp"] == ns["latest_timestamp"] + ns["sample_rate"]
        assert sum(len(b["data"]) for b in data) == ns["sample_rate"]
        # The callback printed each buffer's name and ref_timestamp.
        printed = [line.split() for line in capsys.readouterr().out.splitlines()]
        assert {"frame", "frame_d"} <= {p[0] for p in printed if len(p) == 2}, printed[:5]
        # plot_data drew frame against its ticks while the script waited.
        plot = streamer._plots[0]
        xs, ys = plot.lines["frame"].get_data()
        assert plot.updates >= 2 and len(xs) > 100 and list(xs) == list(ys)
        # The demo's inbox sums the buffer sent.
        peek = subprocess.run([rill_bin(), "peek", "inbox", "--url", srv.url],
                              capture_output=True, text=True, timeout=30)
        assert float(peek.stdout.split()[2]) == 6.5, peek

        exec(blocks[1].replace('(ip="127.0.0.1")', f'(ip="127.0.0.1", port={srv.port})'), ns)
        made += [ns["monitor"], ns["logger"], ns["controller"]]
        peeked = ns["monitor"].peek(["frame", "gain"])
        assert set(peeked) == {"frame", "gain"} and set(peeked["frame"]) == {"timestamp", "value"}
        # stop_logging copied logs/sine.bin, named as a Bela names it.
        assert ns["paths"] == {"local_paths": {"sine": "logs/sine.bin"},
                               "remote_paths": {"sine": "/root/Bela/projects/rill-demo/sine.bin"}}
        read = ns["logger"].read_binary_file("logs/sine.bin", "dense")
        assert read["var_name"] == "sine"
        values = np.concatenate([np.asarray(b["data"]) for b in read["buffers"]])
        assert len(values) >= 44100 // 2 and 0.45 < values.max() <= 0.5 + 1e-6
        # copy_all_bin_files_in_project copied it again (as pybela, under a
        # new name); delete_all_bin_files_in_project removed it on the device.
        copy = tmp_path / "logs" / "sine_1.bin"
        assert copy.read_bytes() == (tmp_path / "logs" / "sine.bin").read_bytes()
        assert [f for f in os.listdir(srv.logdir) if f.endswith(".bin")] == []
        # The controller set the demo's gain: the sine is now half as loud.
        assert ns["controller"].get_value(["gain"]) == {"gain": 0.5}
        sine = streamer.stream_n_values(["sine"], n_values=4410)["sine"]
        half = np.concatenate([np.asarray(b["data"]) for b in sine])
        assert 0.2 < half.max() <= 0.25 + 1e-6, half.max()
    finally:
        for w in made:
            w.disconnect()
