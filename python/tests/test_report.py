"""rill._report: a callback's exceptions said once in full, repeats counted
(the streams' tests show it on real streams; this one on a clock it sets)."""

import logging
import re

import pytest

from rill import _report


@pytest.fixture
def clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(_report.time, "monotonic", lambda: now[0])
    _report.flush()
    yield now
    _report.flush()


def raise_and_report(what, exc, goes_on="it goes on"):
    try:
        raise exc
    except Exception:
        _report.callback_exception(what, goes_on)


def messages(caplog):
    return [r.getMessage() for r in caplog.records]


def test_repeats_are_said_once_a_second_and_at_the_flush(clock, caplog):
    with caplog.at_level(logging.ERROR, logger="rill"):
        for k in range(8):  # 8 in the first 0.875 s: one traceback
            raise_and_report("the input callback", ValueError(f"bad {k}"))
            clock[0] += 0.125
        said = messages(caplog)
        assert len(said) == 1 and "Traceback" in said[0] and "bad 0" in said[0]
        assert said[0].startswith("rill: exception in the input callback (it goes on):")
        raise_and_report("the input callback", ValueError("bad 8"))  # 1.0 s on
        said = messages(caplog)
        assert len(said) == 2, said
        assert re.fullmatch(r"rill: the same exception in the input callback 8 more times "
                            r"\(ValueError: bad 8, test_report\.py line \d+; it goes on\)",
                            said[1]), said[1]
        clock[0] += 0.5
        raise_and_report("the input callback", ValueError("bad 9"))
        assert len(messages(caplog)) == 2
        _report.flush()
        said = messages(caplog)
        assert len(said) == 3 and " 1 more time (ValueError: bad 9" in said[2], said[2]
        _report.flush()  # nothing left to say
        assert len(messages(caplog)) == 3
        # After the flush (a stream stopped), the next one is said in full.
        raise_and_report("the input callback", ValueError("bad again"))
        assert "Traceback" in messages(caplog)[3]


def test_kinds_are_told_apart_by_callback_type_and_line(clock, caplog):
    with caplog.at_level(logging.ERROR, logger="rill"):
        raise_and_report("on_buffer_callback", KeyError("a"))
        raise_and_report("on_buffer_callback", IndexError("b"))      # another type
        raise_and_report("on_block_callback", KeyError("a"))         # another callback
        try:
            raise KeyError("c")                                      # another line
        except KeyError:
            _report.callback_exception("on_buffer_callback", "the stream goes on")
        raise_and_report("on_buffer_callback", KeyError("d"))        # a repeat
    said = messages(caplog)
    assert len(said) == 4 and all("Traceback" in m for m in said), said


def test_an_exception_given_is_reported_as_one_being_handled(clock, caplog):
    try:
        raise RuntimeError("from a task")
    except RuntimeError as e:
        exc = e
    with caplog.at_level(logging.ERROR, logger="rill"):
        _report.callback_exception("on_buffer_callback", "the stream goes on", exc)
    assert "RuntimeError: from a task" in caplog.text and "Traceback" in caplog.text
