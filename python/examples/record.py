"""Record SECONDS (default 5) of the default input into OUT.wav (default
recording.wav), as audiostream's record_mac.py does: the callbacks come by
themselves (no poll()).

    PYTHONPATH=python python3 python/examples/record.py [SECONDS] [OUT.wav]
"""
import sys
import time
import wave

from rill.audiostream import get_input

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5
out = sys.argv[2] if len(sys.argv) > 2 else "recording.wav"
frames = []
mic = get_input(callback=frames.append)
mic.start()
time.sleep(seconds)
mic.stop()
with wave.open(out, "wb") as wf:
    wf.setnchannels(mic.channels)
    wf.setsampwidth(2)
    wf.setframerate(mic.rate)
    wf.writeframes(b"".join(frames))
print(f"{out}: {sum(map(len, frames)) // (2 * mic.channels)} frames at {mic.rate} Hz")
