"""EasyDSP's minimal program (its python-reference), on rill: every audio
buffer of the device's input, printed from the main thread.

    PYTHONPATH=python python3 python/examples/minimal.py
"""
import rill.browserinterface as browserinterface


def handle(buffer):
    print("Buffer received", len(buffer))


browserinterface.register_handle_data(handle)
browserinterface.start()
# From here on the callbacks run on this (the main) thread, until Stop.
browserinterface.loop_callbacks()
