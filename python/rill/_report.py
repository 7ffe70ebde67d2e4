"""Exceptions raised by users' callbacks, said without burying the console.

A callback that raises on every buffer (a typo in a handler, an index off
by one) would print a traceback 40 times a second, in a terminal or in the
dashboard's output pane, and push everything else out of sight. Here the
first exception of each kind (the callback it came out of, its type, the
line that raised it) is said in full; its repeats are counted and said in
one line at most once a second, and whatever is left unsaid when the
stream stops (flush) is said then. The counts the classes keep
(`callback_errors`) still count every one.
"""

import logging
import os
import sys
import threading
import time
import traceback

log = logging.getLogger("rill")

SUMMARY_S = 1.0

_lock = threading.Lock()
# (what, type, file, line) -> [repeats not yet said, when last said, goes_on,
# the last exception's text]
_kinds = {}


def callback_exception(what, goes_on, exc=None):
    """Report the exception being handled (or `exc`) raised by the user's
    callback `what`; `goes_on` says what carries on ("the stream goes on")."""
    if exc is None:
        exc = sys.exc_info()[1]
    tb = exc.__traceback__
    frames = traceback.extract_tb(tb) if tb is not None else []
    where = (frames[-1].filename, frames[-1].lineno) if frames else ("", 0)
    key = (what, type(exc), *where)
    now = time.monotonic()
    with _lock:
        kind = _kinds.get(key)
        if kind is None:
            _kinds[key] = [0, now, goes_on, ""]
            repeats = None
        else:
            kind[0] += 1
            kind[3] = str(exc)
            if now - kind[1] < SUMMARY_S:
                return
            repeats, kind[0], kind[1] = kind[0], 0, now
    if repeats is None:
        log.error("rill: exception in %s (%s):\n%s", what, goes_on,
                  "".join(traceback.format_exception(type(exc), exc, tb)))
    else:
        _say_repeats(key, repeats, str(exc), goes_on)


def _say_repeats(key, n, text, goes_on):
    what, kind, path, line = key
    at = f", {os.path.basename(path)} line {line}" if path else ""
    log.error("rill: the same exception in %s %d more time%s (%s: %s%s; %s)",
              what, n, "" if n == 1 else "s", kind.__name__, text, at, goes_on)


def flush():
    """Say the repeats not yet said, and forget what was said: called when a
    stream stops, so that the next one says its first exception in full."""
    with _lock:
        due = [(key, kind[0], kind[3], kind[2]) for key, kind in _kinds.items() if kind[0]]
        _kinds.clear()
    for key, n, text, goes_on in due:
        _say_repeats(key, n, text, goes_on)
