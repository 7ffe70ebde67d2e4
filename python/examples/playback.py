"""EasyDSP's playback example: every buffer of the input is sent back to
the page's audio player (Play in its tab to hear it).

    PYTHONPATH=python python3 python/examples/playback.py
"""
import rill.browserinterface as browserinterface


def handle(buffer):
    browserinterface.send_audio(buffer)


browserinterface.register_handle_data(handle)
browserinterface.start()
browserinterface.loop_callbacks()
