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


def check_dense(name, buffers, n=None, allow_padded_last=False, contiguous=True):
    """Every buffer of a frame counter holds ref, ref+1, ... (n values each
    when given), and each starts where the previous ended. Returns the
    number of values."""
    assert buffers, f"{name}: no buffers"
    total = 0
    for k, b in enumerate(buffers):
        ref, data = b["ref_timestamp"], b["data"]
        last = k == len(buffers) - 1
        if n is not None and not (last and allow_padded_last):
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
