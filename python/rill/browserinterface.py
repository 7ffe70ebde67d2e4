"""EasyDSP's browserinterface on rill's dashboard: not available yet.

The dashboard's C library (include/rill/dash.h: handlers, audio frames to
and from the page) was not in the tree when this package was written, so
there is nothing to bind to. Until it is, importing this module works and
every entry point raises NotImplementedError saying so; `rill serve`'s
dashboard (http://127.0.0.1:5555/) already shows variables streamed from
the device.
"""

_WHY = ("rill.browserinterface needs librill's dashboard API (include/rill/dash.h), "
        "which this build does not have yet")

__all__ = ["start", "loop_callbacks", "register_handle_data", "register_when_new_config",
           "change_config", "record_audio", "send_audio", "add_handler", "standalone",
           "inform_browser"]

# EasyDSP's module-level configuration, with its defaults, so code that
# reads them still imports.
rate = 44100
channels = 1
buffer_frames = 1024
volume = 1.0


def _unavailable(*args, **kwargs):
    raise NotImplementedError(_WHY)


start = loop_callbacks = register_handle_data = register_when_new_config = _unavailable
change_config = record_audio = send_audio = add_handler = _unavailable
standalone = inform_browser = _unavailable
