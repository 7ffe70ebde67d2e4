"""pybela's Logger, unmodified, against rill devices that lay their logs out
as a Bela board does (`--bela-project NAME`: /root/Bela/projects/NAME/),
fetching them the way it always does: SSH/SFTP as root on port 22, here
from Debian's OpenSSH sshd inside a private network namespace
(tests/pybela/netns.py; nothing touches the host's port 22). pybela
authenticates with the key in ~/.ssh (paramiko's own key search), which
the namespace's root has authorized, as a user does once for a board.

Everything pybela copies is compared byte for byte with the device's file,
and what its read_binary_file parses is checked as data: frame numbers
from each buffer's ref_timestamp, buffers back to back, the last one
zero-padded where logging stopped.
"""

import os

from checks import check_dense


def check_log(name, parsed, var_type):
    assert parsed["var_name"] == name and parsed["type"] == var_type, parsed
    assert parsed["project_name"] == "watcher"  # pybela's key for the file's magic
    n = {"d": 512}.get(var_type, 1024)
    return check_dense(name, parsed["buffers"], n=n, allow_padded_last=True)


def test_logger_start_stop_copy_schedule_copy_all_and_delete(device_path_netns, run_netns):
    project = "pybela-logger"
    res = run_netns([device_path_netns, "--port", "0", "--bela-project", project], project,
                    "logger", vars="frame_i,frame_j")
    r = res["scenario"]
    base = f"/root/Bela/projects/{project}"
    assert r["project_name"] == project
    assert not r["is_logging_before"] and r["is_logging"] and not r["is_logging_after"]
    assert r["stop_return"] is None

    # 1. transfer=True: pybela copied while logging; the copies are the files.
    assert r["start"]["remote_paths"] == {"frame_i": f"{base}/frame_i.bin",
                                          "frame_j": f"{base}/frame_j.bin"}
    for v in ("frame_i", "frame_j"):
        assert os.path.basename(r["start"]["local_paths"][v]) == f"{v}.bin"
        assert r["local_1"][v] == r["device_after_1"][f"{v}.bin"], v
        got = check_log(v, r["read_1"][v], {"frame_i": "i", "frame_j": "j"}[v])
        assert got >= 44100, (v, got)

    # 2. transfer=False, then copy_file_from_bela.
    assert r["start_no_transfer"]["local_paths"] == {}
    assert r["start_no_transfer"]["remote_paths"]["frame_i"] == f"{base}/frame_i+0.bin"
    for v in ("frame_i", "frame_j"):
        assert r["copy_returns"][v].endswith(f"{v}+0.bin")
        assert r["local_2"][v] == r["device_after_2"][f"{v}+0.bin"], v

    # 3. schedule_logging, completed with finish_copying_file: values from
    # the start tick to start + duration inclusive (Bela's rule).
    start, duration = r["schedule_start"], r["schedule_duration"]
    for v in ("frame_i", "frame_j"):
        assert r["local_3"][v] == r["device_after_3"][f"{v}+1.bin"], v
        parsed = r["read_3"][v]
        assert parsed["buffers"][0]["ref_timestamp"] == start
        assert check_log(v, parsed, {"frame_i": "i", "frame_j": "j"}[v]) == duration + 1

    # 4. every .bin of the project; then deleting one, then all.
    assert r["local_all"] == r["device_after_3"]
    assert len(r["local_all"]) == 6
    assert r["deleted_one"] not in r["device_after_delete_one"]
    assert len(r["device_after_delete_one"]) == 5
    assert r["device_after_delete_all"] == {}


def test_logger_against_rill_serve_with_bela_project(rill_bin_path, run_netns):
    project = "demo-logs"
    res = run_netns([rill_bin_path, "serve", "--source", "demo", "--port", "0",
                     "--bela-project", project, "--web-root", ""], project,
                    "logger_short", vars="frame,frame_d")
    r = res["scenario"]
    assert r["project_name"] == project
    assert r["start"]["remote_paths"] == {"frame": f"/root/Bela/projects/{project}/frame.bin",
                                          "frame_d": f"/root/Bela/projects/{project}/frame_d.bin"}
    for v, t in (("frame", "i"), ("frame_d", "d")):
        assert r["local"][v] == r["device"][f"{v}.bin"], v
        assert check_log(v, r["read"][v], t) >= 30000
