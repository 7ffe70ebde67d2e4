"""rill for Python: pybela's Streamer family, kivy audiostream's engine API
and (when the dashboard library is present) EasyDSP's browserinterface, on
top of librill loaded with ctypes (no compiler needed).

    from rill import Streamer, Monitor, Logger, Controller
    import rill.audiostream

librill.so is found through $RILL_LIB, a build tree around this package, or
the system's library path (see rill._lib).
"""

from ._lib import (RillError, RillTimeoutError, RillNotFoundError,  # noqa: F401
                   RillConnectionError, RillValueError, version)
from .pybela import Watcher, Streamer, Monitor, Logger, Controller  # noqa: F401

__version__ = "0.1.0"
__all__ = ["Streamer", "Monitor", "Logger", "Controller", "Watcher", "RillError",
           "RillTimeoutError", "RillNotFoundError", "RillConnectionError",
           "RillValueError", "version"]
