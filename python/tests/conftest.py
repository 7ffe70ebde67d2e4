"""Fixtures for the Python package's tests.

A real `rill serve` comes from the end-to-end suite's fixtures
(tests/e2e/conftest.py: $RILL_BIN, a free port, stopped with SIGINT and
checked at teardown). librill.so comes from $RILL_LIB, or else from the
build directory of $RILL_BIN (<build>/src/librill.so), so both are the
same build.
"""

import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "python"))

if "RILL_LIB" not in os.environ and os.environ.get("RILL_BIN"):
    build = os.path.dirname(os.path.dirname(os.path.abspath(os.environ["RILL_BIN"])))
    os.environ["RILL_LIB"] = os.path.join(build, "src", "librill.so")

_spec = importlib.util.spec_from_file_location(
    "rill_e2e_conftest", os.path.join(REPO, "tests", "e2e", "conftest.py"))
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)

rill_serve = _e2e.rill_serve
rill_server = _e2e.rill_server
rill_bin = _e2e.rill_bin
jack_server_named = _e2e.jack_server


def pytest_report_header(config):
    import rill._lib as L
    return f"rill python: librill {L.version()} from {L.path}; RILL_BIN={rill_bin()}"
