"""Checks of what pybela returns against what the devices produce.

pybela_device (device.c): frame_* are the frame number (frame_c its low
byte); event_* are the frame number on every 7th frame (sparse); scaled is
gain x frame. rill serve's demo: frame (i) and frame_d (d) are the frame
number (tests/e2e/helpers.py has its model).
"""

EVENT_EVERY = 7

# name -> (type, mode, values per Bela buffer as pybela's get_data_length says)
DEVICE_VARS = {
    "frame_i": ("i", "dense"), "frame_j": ("j", "dense"), "frame_f": ("f", "dense"),
    "frame_d": ("d", "dense"), "frame_c": ("c", "dense"),
    "event_i": ("i", "sparse"), "event_j": ("j", "sparse"), "event_f": ("f", "sparse"),
    "event_d": ("d", "sparse"), "event_c": ("c", "sparse"),
    "gain": ("f", "dense"), "scaled": ("d", "dense"), "steps": ("i", "dense"),
    "poke": ("i", "dense"), "trigger": ("i", "sparse"),
}
DEVICE_NAMES = list(DEVICE_VARS)

# Values per buffer on the wire (docs/PROTOCOL.md §3.2).
WIRE_N = {("c", "dense"): 4096, ("i", "dense"): 1024, ("j", "dense"): 1024,
          ("f", "dense"): 1024, ("d", "dense"): 512, ("c", "sparse"): 816,
          ("i", "sparse"): 512, ("j", "sparse"): 512, ("f", "sparse"): 512,
          ("d", "sparse"): 341}


def frame_value(name, frame):
    """What the device sets `name` to at `frame`."""
    return frame & 0xFF if name.endswith("_c") else frame


def check_dense(name, buffers, n=None, allow_padded_last=False, contiguous=True,
                allow_short_last=False):
    """Every buffer of a frame counter holds ref, ref+1, ... (n values each
    when given; the last may hold fewer with allow_short_last: rill's last
    buffer of a stopped stream has the values up to the stop, unpadded),
    and each starts where the previous ended. Returns the number of
    values."""
    assert buffers, f"{name}: no buffers"
    total = 0
    for k, b in enumerate(buffers):
        ref, data = b["ref_timestamp"], b["data"]
        last = k == len(buffers) - 1
        if last and allow_short_last and n is not None:
            assert 0 < len(data) <= n, f"{name} last buffer: {len(data)} values"
        elif n is not None and not (last and allow_padded_last):
            assert len(data) == n, f"{name} buffer {k}: {len(data)} values, expected {n}"
        upto = len(data)
        if last and allow_padded_last:
            # A stream that ended sends its last buffer zero-padded (Bela).
            while upto > 1 and data[upto - 1] == 0 and frame_value(name, ref + upto - 1) != 0:
                upto -= 1
        want = [frame_value(name, ref + i) for i in range(upto)]
        got = [int(v) for v in data[:upto]]
        assert got == want, (f"{name} buffer {k} (ref {ref}): values are not the frame numbers "
                             f"from ref: first {got[:3]}, expected {want[:3]}; at "
                             f"{next(i for i in range(upto) if got[i] != want[i])}")
        total += upto
    if contiguous:
        for k, (a, b) in enumerate(zip(buffers, buffers[1:])):
            assert b["ref_timestamp"] == a["ref_timestamp"] + len(a["data"]), \
                (f"{name}: buffer {k + 1} starts at {b['ref_timestamp']}, expected "
                 f"{a['ref_timestamp']} + {len(a['data'])} (a gap or an overlap)")
    return total


def check_sparse(name, buffers, allow_padded_last=False):
    """Every value is set on an event frame: value == frame of ref + rel,
    rel[0] == 0, events 7 frames apart within and between buffers."""
    assert buffers, f"{name}: no buffers"
    ticks = []
    for k, b in enumerate(buffers):
        ref, data, rel = b["ref_timestamp"], b["data"], b["rel_timestamps"]
        assert len(rel) == len(data), f"{name} buffer {k}: {len(data)} values, {len(rel)} rels"
        upto = len(data)
        if k == len(buffers) - 1 and allow_padded_last:
            while upto > 1 and rel[upto - 1] == 0:
                upto -= 1
        assert rel[0] == 0, f"{name} buffer {k}: rel[0] = {rel[0]}"
        for i in range(upto):
            t = ref + rel[i]
            assert t % EVENT_EVERY == 0, f"{name} buffer {k} value {i}: tick {t} is not an event"
            assert int(data[i]) == frame_value(name, t), \
                f"{name} buffer {k} value {i}: {data[i]} at tick {t}"
            ticks.append(t)
    for a, b in zip(ticks, ticks[1:]):
        assert b - a == EVENT_EVERY, f"{name}: events {a} then {b} (one missing, or repeated)"
    return len(ticks)


def check_log(name, parsed, var_type):
    """A log file as read_binary_file parses it: the header's name and type,
    frame numbers from each buffer's ref_timestamp, the last buffer
    zero-padded where logging stopped. Returns the number of values."""
    assert parsed["var_name"] == name and parsed["type"] == var_type, \
        {k: parsed[k] for k in ("project_name", "var_name", "type")}
    assert parsed["project_name"] == "watcher"  # pybela's key for the file's magic
    n = {"d": 512}.get(var_type, 1024)
    return check_dense(name, parsed["buffers"], n=n, allow_padded_last=True)


def check_logger_run(r, project):
    """Everything the `logger` scenario (scenarios.py) did on a device with
    --bela-project `project`, logging frame_i and frame_j: every copy equal
    to the device's file, every file's data right, pybela's remote paths."""
    base = f"/root/Bela/projects/{project}"
    types = {"frame_i": "i", "frame_j": "j"}
    assert r["project_name"] == project
    assert not r["is_logging_before"] and r["is_logging"] and not r["is_logging_after"]
    assert r["stop_return"] is None
    # 1. transfer=True: the copies are the files.
    assert r["start"]["remote_paths"] == {v: f"{base}/{v}.bin" for v in types}
    for v, t in types.items():
        assert r["start"]["local_paths"][v].endswith(f"/{v}.bin")
        assert r["local_1"][v] == r["device_after_1"][f"{v}.bin"], v
        assert check_log(v, r["read_1"][v], t) >= 44100
    # 2. transfer=False, then copy_file_from_bela.
    assert r["start_no_transfer"]["local_paths"] == {}
    assert r["start_no_transfer"]["remote_paths"] == {v: f"{base}/{v}+0.bin" for v in types}
    for v in types:
        assert r["copy_returns"][v].endswith(f"/{v}+0.bin")
        assert r["local_2"][v] == r["device_after_2"][f"{v}+0.bin"], v
    # 3. schedule_logging (+ finish_copying_file): from the start tick to
    # start + duration inclusive (Bela's rule).
    assert r["schedule"]["remote_paths"] == {v: f"{base}/{v}+1.bin" for v in types}
    for v, t in types.items():
        assert r["local_3"][v] == r["device_after_3"][f"{v}+1.bin"], v
        parsed = r["read_3"][v]
        assert parsed["buffers"][0]["ref_timestamp"] == r["schedule_start"]
        assert check_log(v, parsed, t) == r["schedule_duration"] + 1
    # 4. every .bin of the project; deleting one, then all.
    assert r["local_all"] == r["device_after_3"] and len(r["local_all"]) == 6
    assert r["deleted_one"] not in r["device_after_delete_one"]
    assert len(r["device_after_delete_one"]) == 5
    assert r["device_after_delete_all"] == {}
