"""python/examples (the dashboard's editor lists them through list.json):
each runs as a program, the browserinterface ones against a real `rill
serve --source demo` with a page watching (dashpage.Page), the audiostream
ones on the file backend, and what they produce is checked."""

import json
import math
import os
import subprocess
import sys
import time
import wave

import numpy as np
import pytest

from dashpage import Page

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "examples")
RATE = 44100  # the demo's, as the e2e fixture starts it


def test_list_json_names_every_example_once():
    with open(os.path.join(EXAMPLES, "list.json")) as f:
        entries = json.load(f)
    files = sorted(e["file"] for e in entries)
    assert files == sorted(n for n in os.listdir(EXAMPLES) if n.endswith(".py"))
    assert all(e["name"] and e["description"] for e in entries)


class Program:
    def __init__(self, name, tmp_path, url=None, env=(), args=()):
        e = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.path.join(HERE, ".."))
        if url:
            e["RILL_URL"] = url
        e.update(env)
        self.proc = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, name), *args],
                                     env=e, cwd=tmp_path, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.communicate(timeout=10)[0]


@pytest.fixture
def watch(rill_server, tmp_path):
    """watch(name, until): run the example, wait until until(page) holds."""
    running = []

    def run(name, until, timeout=20):
        page = Page(rill_server.url)
        prog = Program(name, tmp_path, rill_server.url)
        running.append((page, prog))
        ok = page.wait(until, timeout)
        out = prog.stop()
        page.close()
        assert ok, (name, page.events[-5:], out[-3000:])
        assert "Traceback" not in out, out[-3000:]
        return page, out
    yield run
    for page, prog in running:
        prog.stop()
        page.close()


def test_minimal_prints_every_buffer(rill_server, tmp_path):
    prog = Program("minimal.py", tmp_path, rill_server.url)
    lines = []
    end = time.monotonic() + 15
    while len(lines) < 10 and time.monotonic() < end:
        lines.append(prog.proc.stdout.readline().strip())
    prog.stop()
    assert lines == ["Buffer received 1024"] * 10


def test_levels_meters_the_demos_microphones(watch):
    page, _ = watch("levels.py", lambda p: len(p.created()) == 2 and
                    len(p.data(p.created("Levels")[0]["id"])) >= 10)
    meter = page.created("Levels")[0]
    assert meter["type"] == "meter" and meter["parameters"]["channels"] == 2
    levels = np.array(page.data(meter["id"]))
    assert levels.shape[1] == 2 and np.all((levels > -40) & (levels < 0)), levels[:3]
    history = page.created("Level history")[0]
    assert len(page.data(history["id"])[0]["add"]) == 2


def test_spectrum_peaks_in_the_demos_band(watch):
    page, _ = watch("spectrum.py", lambda p: p.created() and
                    len(p.data(p.created()[0]["id"])) >= 5)
    chart = page.created()[0]
    spectra = []
    for d in page.data(chart["id"]):
        s = d["replace"][0]
        x, y = np.array(s["x"]), np.array(s["y"])
        assert x[0] == 0 and abs(x[-1] - RATE / 2) < RATE / 1024 * 4
        spectra.append(10 ** (y / 10))
    # The demo's microphones hear noise of 200 Hz to 3 kHz (a difference of
    # one-pole low-passes: broad, 6 dB/octave outside). One buffer's
    # spectrum is noisy; their mean power, smoothed, peaks in the band, and
    # the band stands well above the top octave.
    mean = np.convolve(np.mean(spectra, axis=0), np.ones(9) / 9, "same")
    db = 10 * np.log10(mean)
    assert 150 <= x[np.argmax(db)] <= 3500, x[np.argmax(db)]
    band = db[(x >= 300) & (x <= 2500)].mean()
    top = db[(x >= 11000) & (x <= 20000)].mean()
    assert band - top > 8, (band, top)


def test_spectrogram_sends_columns_of_its_height(watch):
    page, _ = watch("spectrogram.py", lambda p: p.created() and
                    len(p.data(p.created()[0]["id"])) >= 5)
    h = page.created()[0]
    height = math.ceil(3000 / RATE * 1024)
    assert h["type"] == "base:spectrogram" and h["parameters"]["height"] == height
    assert h["parameters"]["delta_freq"] == RATE / 1024
    assert all(len(c) == height for c in page.data(h["id"]))


def test_playback_sends_each_buffer_back(watch):
    page, _ = watch("playback.py", lambda p: len(p.frames) >= 5)
    player = page.created("Audio output")[0]
    assert player["parameters"] == {"rate": RATE, "channels": 2}
    frames = page.frames_of(player["id"])
    assert all(len(f.values) == 2048 and f.arg == 2 and f.tick for f in frames)
    assert np.all(np.diff([f.tick for f in frames]) == 1024)


def test_direction_follows_the_demos_circling_source(watch):
    page, _ = watch("direction.py", lambda p: len(p.created()) == 2 and
                    len(p.data(p.created("Angle")[0]["id"])) >= 40)
    angle = page.created("Angle")[0]
    events = [e for e in page.events if e["event"] == "handler-data" and e["id"] == angle["id"]]
    errors = []
    for e in events:
        # The demo's source circles the pair once every 20 s; the pair
        # measures the angle to its axis, 0 .. 180 degrees.
        t = e["tick"] / RATE
        true = math.degrees(math.acos(math.cos(2 * math.pi * (t % 20) / 20)))
        errors.append(abs(e["data"]["add"][0]["y"][0] - true))
    assert np.median(errors) < 10, errors
    polar = page.created("Direction")[0]
    radii = page.data(polar["id"])[-1][0]["replace"]
    assert len(radii) == 73 and max(radii) > 0.9


def test_sine_writes_its_steps(tmp_path):
    out = tmp_path / "sine.wav"
    prog = Program("sine.py", tmp_path, env={"RILL_AUDIO_BACKEND": "file",
                                              "RILL_AUDIO_DEVICE": str(out)})
    assert prog.proc.wait(30) == 0, prog.stop()
    with wave.open(str(out)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    y = x[:, 0].astype(float)
    nz = np.flatnonzero(y)
    start, end = y[nz[0]:nz[0] + 2205], y[nz[-1] - 2205:nz[-1]]
    ups = lambda s: np.count_nonzero((s[:-1] <= 0) & (s[1:] > 0)) * 10  # noqa: E731
    assert abs(ups(start) - 220) <= 20 and ups(end) >= 520, (ups(start), ups(end))


def test_record_records_the_input(tmp_path):
    data = (np.arange(22050) % 4000 - 2000).astype("<i2")
    with wave.open(str(tmp_path / "in.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(22050)
        w.writeframes(data.tobytes())
    prog = Program("record.py", tmp_path, env={"RILL_AUDIO_BACKEND": "file",
                                                "RILL_AUDIO_DEVICE": str(tmp_path / "in.wav")},
                   args=["2", "out.wav"])
    assert prog.proc.wait(30) == 0
    assert prog.stop().strip() == "out.wav: 22050 frames at 22050 Hz"
    with wave.open(str(tmp_path / "out.wav")) as w:
        assert np.array_equal(np.frombuffer(w.readframes(w.getnframes()), "<i2"), data)
