"""EasyDSP's documented examples run on rill.browserinterface against a real
`rill serve --source demo` (44.1 kHz, two microphones), each as its own
program, and what they produce is checked: their output, and what a
dashboard page receives (dashpage.Page).

The programs are EasyDSP's text with two changes only: the import line
(`import browserinterface` becomes `import rill.browserinterface as
browserinterface`) and, where EasyDSP's documentation is Python 2, its print
statements written as print() calls. Sources: LCAV/easy-dsp
docs-source/docs/python-reference.md (the reference's sections, in their
order), docs-source/docs/data-handlers.md (the example), examples/playback.py.
EasyDSP's other examples need its own `algorithms` package (STFT, DOA,
beamformers, LED ring), which is not rill's to ship: python/README.md.
The seed's minimal program (seeds/000): test_browserinterface.py.
"""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

import rill.browserinterface as browserinterface
from dashpage import Page

HERE = os.path.dirname(os.path.abspath(__file__))

# python-reference.md, "Intro": the minimal program.
REFERENCE_MINIMAL = '''
# First you import the module
import rill.browserinterface as browserinterface

# Then you define the function that will perform some algorithm on the audio streams
def handle(buffer):
    print("Buffer received", len(buffer))


# Finally you register your function, so browserinterface will call it every time a new audio buffer is received,
browserinterface.register_handle_data(handle)
# You start the module, so it will connects to WSAudio, and listen so the browser will be able to connect
browserinterface.start()

# Finally you start the callbacks blocking infinite loop
# All code below will not be executed
# This mecanism ensures the callbacks you specified are called from the main thread
# If you forget this call, your callbacks will never be called!
browserinterface.loop_callbacks()
'''

# python-reference.md's sections in their order (configuration, its
# changes, the audio streams, recording), as one program: the import, each
# section's code as the document gives it, start() before the calls that
# need the board, and loop_callbacks() last, as its intro says.
REFERENCE_SECTIONS = '''
import rill.browserinterface as browserinterface

def my_function(buffer_frames, rate, channels, volume):
    print("New config received: buffer_frames, rate, channels, volume")
    print(buffer_frames, rate, channels, volume)

browserinterface.register_when_new_config(my_function)

def my_function(buffer):
    print("Buffer received", len(buffer))
browserinterface.register_handle_data(my_function)

browserinterface.start()

browserinterface.change_config(rate=44100, channels=2, buffer_frames=2048, volume=90)

def my_function(buffer):
    print("Audio has been recorded", len(buffer))

browserinterface.record_audio(5000, my_function) # my_function will be called after 5 seconds
browserinterface.record_audio(15000, my_function) # my_function will be called after 15 seconds

browserinterface.loop_callbacks()
'''

# data-handlers.md, "Example".
DATA_HANDLERS = '''
import rill.browserinterface as browserinterface
import time
import random

browserinterface.start()

# First, we create our handlers
# First we precise the name, then the type, and third the possible parameters
## A line chart, with two series
c1 = browserinterface.add_handler("First chart - Line", 'base:graph:line', {'xName': 'Name of x axis', 'series': [{'name': 'First serie'}, {'name': 'Second serie'}]})
## A plot chart, with one serie
c2 = browserinterface.add_handler("Second chart - Plot", 'base:graph:plot', {'xName': 'Name of super x axis', 'series': [{'name': 'Only serie'}]})
## A polar chart, with one serie
c3 = browserinterface.add_handler("Third chart - Polar", 'base:polar:area', {'title': 'Awesome polar chart', 'series': ['Intensity'], 'legend': {'from': 0, 'to': 360, 'step': 10}})

# Then we can send some data to the different handlers
c1.send_data({'add': [{'x': [1, 2, 3, 4], 'y': [89, 70, 40, 2, 3]}, {'x': [1, 2, 3, 4], 'y': [39, 20, -2, 4]}]})
c2.send_data({'add': [{'x': [10, 30, 40, 70], 'y': [100, 234, 90, 23]}]})

for i in range(5, 40):
  c1.send_data({'add': [{'x': [i], 'y': [20+i*5*random.random()]}, {'x': [i], 'y': [i*5*random.random()]}]})
  c3.send_data([{'append': (200+i*3)*10}])
  time.sleep(1)
'''

# examples/playback.py.
PLAYBACK = '''import rill.browserinterface as browserinterface

"""Select appropriate sampling frequency"""
try:
    import json
    with open('./hardware_config.json', 'r') as config_file:
        config = json.load(config_file)
        config_file.close()
    sampling_freq = config['sampling_frequency']
except:
    # default when no hw config file is present
    sampling_freq = 44100


"""capture parameters"""
buffer_size = 1024; num_channels = 2

"""Defining callback"""
def example_callback(audio):
    
    # check for correct audio shape
    if audio.shape != (buffer_size, num_channels):
        print("Did not receive expected audio!")
        return

    # play back audio
    browserinterface.send_audio(audio)

browserinterface.register_handle_data(example_callback)


"""START"""
browserinterface.start()
browserinterface.change_config(buffer_frames=buffer_size, 
    channels=num_channels, rate=sampling_freq, volume=80)
browserinterface.loop_callbacks()
'''


class Program:
    """One example as its own Python process, connected to `url`."""

    def __init__(self, code, url, tmp_path, name="example.py"):
        path = tmp_path / name
        path.write_text(code)
        env = dict(os.environ, RILL_URL=url, PYTHONUNBUFFERED="1",
                   PYTHONPATH=os.path.join(HERE, ".."))
        self.proc = subprocess.Popen([sys.executable, str(path)], env=env, cwd=tmp_path,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines = []

    def read_until(self, pred, timeout):
        """Output lines until pred(lines) holds (or the time is up)."""
        end = time.monotonic() + timeout
        while not pred(self.lines) and time.monotonic() < end:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
        return self.lines

    def stop(self):
        """As EasyDSP's Stop button: the program is killed."""
        if self.proc.poll() is None:
            self.proc.kill()
        rest = self.proc.communicate(timeout=10)[0]
        # Killed mid-print, the program leaves its last line cut (print
        # writes each argument apart to an unbuffered pipe): whole lines only.
        if rest and not rest.endswith("\n"):
            rest = rest[:rest.rfind("\n") + 1]
        self.lines += rest.splitlines()
        return self.lines


def test_reference_minimal_program_prints_each_buffer_from_loop_callbacks(rill_server,
                                                                          tmp_path):
    prog = Program(REFERENCE_MINIMAL, rill_server.url, tmp_path)
    try:
        lines = prog.read_until(lambda ls: len(ls) >= 20, 20)
    finally:
        lines = prog.stop()
    assert lines[:20] == ["Buffer received 1024"] * 20, lines[:30]


def test_reference_sections_configure_change_receive_and_record(rill_server, tmp_path):
    prog = Program(REFERENCE_SECTIONS, rill_server.url, tmp_path)
    try:
        lines = prog.read_until(lambda ls: sum("recorded" in x for x in ls) >= 2, 40)
    finally:
        lines = prog.stop()
    heads = [i for i, x in enumerate(lines) if x.startswith("New config received")]
    assert len(heads) == 2, lines[:12]
    # The demo's configuration first, then the one asked for.
    assert lines[heads[0] + 1] == "1024 44100 2 100", lines[:12]
    assert lines[heads[1] + 1] == "2048 44100 2 90", lines[:12]
    buffers = [x for x in lines[heads[1]:] if x.startswith("Buffer received")]
    assert len(buffers) >= 5 * 44100 // 2048 and set(buffers) == {"Buffer received 2048"}
    # 5 s and 15 s at 44.1 kHz, in whole 2048-frame buffers, 5 s one first.
    recorded = [x for x in lines if "recorded" in x]
    assert recorded == ["Audio has been recorded 221184", "Audio has been recorded 661504"]
    assert not [x for x in lines if "Traceback" in x or "Error" in x], lines


def test_data_handlers_example_draws_its_three_charts(rill_server, tmp_path):
    page = Page(rill_server.url)
    prog = Program(DATA_HANDLERS, rill_server.url, tmp_path)
    try:
        ok = page.wait(lambda p: len(p.created()) == 3 and
                       len(p.data(p.created()[2]["id"])) >= 3, 20)
    finally:
        lines = prog.stop()
        page.close()
    assert ok, (page.events, lines)
    c1, c2, c3 = page.created()
    assert (c1["name"], c1["type"], c1["parameters"]) == (
        "First chart - Line", "base:graph:line",
        {"xName": "Name of x axis", "series": [{"name": "First serie"}, {"name": "Second serie"}]})
    assert (c2["name"], c2["type"]) == ("Second chart - Plot", "base:graph:plot")
    assert c3["parameters"] == {"title": "Awesome polar chart", "series": ["Intensity"],
                                "legend": {"from": 0, "to": 360, "step": 10}}
    d1 = page.data(c1["id"])
    # Sent as they are; the page skips the first series' element (4 x, 5 y).
    assert d1[0] == {"add": [{"x": [1, 2, 3, 4], "y": [89, 70, 40, 2, 3]},
                             {"x": [1, 2, 3, 4], "y": [39, 20, -2, 4]}]}
    assert page.data(c2["id"]) == [{"add": [{"x": [10, 30, 40, 70], "y": [100, 234, 90, 23]}]}]
    # The loop, one step a second from i = 5.
    assert [d["add"][0]["x"] for d in d1[1:4]] == [[5], [6], [7]]
    assert page.data(c3["id"])[:3] == [[{"append": 2150}], [{"append": 2180}],
                                       [{"append": 2210}]]
    assert not [x for x in lines if "Traceback" in x], lines


@pytest.fixture
def bi(rill_server):
    browserinterface.url = rill_server.url
    yield browserinterface
    browserinterface.stop()
    browserinterface.register_handle_data(None)
    browserinterface.url = None


def test_playback_example_sends_the_input_back_sample_for_sample(rill_server, tmp_path, bi):
    page = Page(rill_server.url)
    prog = Program(PLAYBACK, rill_server.url, tmp_path)
    try:
        # Its player tab appears with its first buffer sent back.
        assert page.wait(lambda p: p.created("Audio output") and p.frames, 20), \
            prog.stop()
        player = page.created("Audio output")[0]
        assert player["type"] == "audio"
        assert player["parameters"] == {"rate": 44100, "channels": 2}
        # The same input, received here: the device's microphones, tick by tick.
        mine = {}
        bi.register_handle_data(lambda b: mine.__setitem__(bi.tick, b))
        bi.start()
        assert bi.volume == 80  # the example's change_config, device-wide
        first = None
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if mine and first is None:
                first = min(mine)
            ticks = sorted(mine)
            if first is not None and len(ticks) >= 30 and len(
                    [f for f in page.frames_of(player["id"]) if f.tick >= first]) >= 20:
                break
            time.sleep(0.05)
    finally:
        lines = prog.stop()
        page.close()
    ticks = sorted(mine)
    start = ticks[0]
    assert np.all(np.diff(ticks) == 1024), "contiguous here"
    mine_all = np.concatenate([mine[t] for t in ticks])
    sent = [f for f in page.frames_of(player["id"]) if start <= f.tick
            and f.tick + 1024 <= start + len(mine_all)]
    assert len(sent) >= 10, (len(sent), lines)
    for f in sent:
        # Every buffer played back is the device's input at its tick, exactly.
        assert f.arg == 2 and len(f.values) == 2048
        k = f.tick - start
        assert np.array_equal(f.values.reshape(-1, 2), mine_all[k:k + 1024]), f.tick
    assert np.abs(mine_all).max() > 100, "the demo's microphones are heard"
    assert "Did not receive expected audio!" not in lines, lines
