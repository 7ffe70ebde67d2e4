"""The golden binary messages of tests/golden (written by the C encoders;
tests/proto/golden_test.c fails if they change) read by this suite's own
decoders: the pybela-like client's header and body parsers (§3) and the
native client's strict parser (§4). If they and the C encoders disagree,
these fail. golden.json says what each message means."""

import json
import math
import os

import pytest

from belaclient import parse_stream_body
from nativeclient import parse_native

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden")

with open(os.path.join(GOLDEN, "golden.json")) as f:
    MEANING = json.load(f)


def read(name):
    with open(os.path.join(GOLDEN, name), "rb") as f:
        return f.read()


def same(a, b):
    return all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b)) \
        and len(a) == len(b)


NATIVE = [k for k, m in MEANING.items() if m["decoder"] == "native"]
COMPAT = [k for k, m in MEANING.items() if m["decoder"] == "compat"]


def test_golden_set_has_every_native_kind_and_a_compat_pair():
    kinds = {MEANING[k]["kind"] for k in NATIVE}
    types = {MEANING[k]["type"] for k in NATIVE}
    assert kinds == {0, 1, 2}, kinds
    assert types == set("cijfd"), types
    assert any(MEANING[k]["dropped"] for k in NATIVE), "no message with drops"
    assert len(COMPAT) == 1


@pytest.mark.parametrize("name", NATIVE)
def test_native_golden_message_reads_as_the_c_encoder_wrote_it(name):
    m = MEANING[name]
    d = parse_native(read(name))
    assert d["kind"] == m["kind"] and d["type"] == m["type"]
    assert bool(d["flags"] & 1) == m["sparse"] and bool(d["flags"] & 2) == m["last"]
    assert (d["id"], d["seq"], d["first_ts"]) == (m["varId"], m["seq"], m["ts"])
    assert (d["count"], d["dropped"]) == (m["count"], m["dropped"])
    assert same(d["values"], m["values"]), (d["values"], m["values"])
    assert d["rel"] == m["rel"]


@pytest.mark.parametrize("name", COMPAT)
def test_compat_golden_pair_reads_as_pybela_reads_it(name):
    m = MEANING[name]
    header = read(m["header"]).decode("ascii")
    assert header == f'{m["id"]}/{m["type"]}'
    body = parse_stream_body(read(name), m["type"], 0 if m["mode"] == "dense" else 1)
    assert body["ref"] == m["ref"]
    assert len(body["data"]) == m["n"]
    given = m["values"]
    assert same(body["data"][:len(given)], given)
    assert all(v == 0 for v in body["data"][len(given):]), "the last buffer is zero-padded"
