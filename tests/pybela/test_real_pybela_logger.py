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

The whole Logger (start/stop with and without transfer, schedule_logging,
copy_file_from_bela, finish_copying_file, copy_all_bin_files_in_project,
delete_file_from_bela, delete_all_bin_files_in_project) against the test
device runs in test_side_by_side.py, once through pybela and once through
rill.pybela on the same device, each checked in full (checks.py,
check_logger_run); here it runs against `rill serve`.
"""

from checks import check_log


def test_logger_against_rill_serve_with_bela_project(rill_bin_path, run_netns):
    project = "demo-logs"
    res = run_netns([rill_bin_path, "serve", "--source", "demo", "--port", "0",
                     "--bela-project", project, "--web-root", ""], project,
                    "logger_short", vars="frame,frame_d")
    r = res["scenario"]
    assert "Accepted publickey for root" in res["sshd_log"]
    assert r["project_name"] == project
    assert r["start"]["remote_paths"] == {"frame": f"/root/Bela/projects/{project}/frame.bin",
                                          "frame_d": f"/root/Bela/projects/{project}/frame_d.bin"}
    for v, t in (("frame", "i"), ("frame_d", "d")):
        assert r["local"][v] == r["device"][f"{v}.bin"], v
        assert check_log(v, r["read"][v], t) >= 30000
