"""Direction of arrival from the first two channels (a pair of
microphones 0.2 m apart, as rill serve's demo): the delay between them from
their cross-correlation gives the angle to the pair's axis,
acos(delay / largest delay), drawn as a beam on a polar chart. The demo's
source circles the pair once every 20 s: the beam sweeps 0 -> 180 -> 0
degrees (a pair cannot tell front from back).

    PYTHONPATH=python python3 python/examples/direction.py
"""
import numpy as np

import rill.browserinterface as browserinterface

SPACING_M, SOUND_SPEED, POINTS = 0.2, 343.0, 72

polar = browserinterface.add_handler(
    "Direction", "base:polar:line",
    {"series": ["estimate"], "numPoints": POINTS, "rmax": 1, "title": "Direction of arrival"})
angle = browserinterface.add_handler(
    "Angle", "base:graph:line",
    {"xName": "s", "min": 0, "max": 180, "xLimitNb": 300, "series": [{"name": "degrees"}]})
seconds = 0.0


def delay_of(x0, x1, max_lag):
    """mic1's delay behind mic0, in frames (cross-correlation peak,
    refined by a parabola)."""
    n = len(x0)
    lags = np.arange(-max_lag, max_lag + 1)
    r = np.array([np.dot(x1[max_lag:n - max_lag], x0[max_lag - k:n - max_lag - k])
                  for k in lags])
    i = int(np.argmax(r))
    d = float(lags[i])
    if 0 < i < len(r) - 1:
        den = r[i - 1] - 2 * r[i] + r[i + 1]
        if den < 0:
            d += 0.5 * (r[i - 1] - r[i + 1]) / den
    return d


def handle(buffer):
    global seconds
    seconds += len(buffer) / browserinterface.rate
    if buffer.shape[1] < 2:
        return
    x = buffer.astype(np.float64)
    max_delay = SPACING_M / SOUND_SPEED * browserinterface.rate
    d = delay_of(x[:, 0], x[:, 1], int(np.ceil(max_delay)) + 2)
    theta = np.degrees(np.arccos(np.clip(d / max_delay, -1, 1)))
    phi = np.linspace(0, 360, POINTS + 1)
    dist = np.minimum(np.abs(phi - theta), 360 - np.abs(phi - theta))
    polar.send_data([{"replace": np.round(np.exp(-dist ** 2 / (2 * 12.0 ** 2)), 3)}])
    angle.send_data({"add": [{"x": [round(seconds, 3)], "y": [round(float(theta), 1)]}]})


browserinterface.register_handle_data(handle)
browserinterface.start()
browserinterface.loop_callbacks()
