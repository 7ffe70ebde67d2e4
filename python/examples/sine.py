"""audiostream's simple_sinsource.py on rill: a sine that climbs from 220
to 600 Hz in 0.1 s steps, on the default output (or the one
$RILL_AUDIO_BACKEND / $RILL_AUDIO_DEVICE name, e.g. file and a .wav).

    PYTHONPATH=python python3 python/examples/sine.py
"""
from time import sleep

from rill.audiostream import get_output
from rill.audiostream.sources.wave import SineSource

stream = get_output(channels=2, rate=22050, buffersize=128)
sinsource = SineSource(stream, 220)
sinsource.start()
for x in range(20):
    sinsource.frequency = 220 + x * 20
    sleep(.1)
sinsource.stop()
