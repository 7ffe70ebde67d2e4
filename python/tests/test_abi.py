"""The ctypes mirrors of librill's structs (rill/_lib.py) have the fields of
the C headers, in order. ctypes cannot read a header: when one changes, this
test names the struct to update before anything reads a field at the wrong
offset."""

import os
import re

import pytest

import rill._lib as L
import rill.browserinterface as BI

INCLUDE = os.path.join(os.path.dirname(__file__), "..", "..", "include", "rill")

MIRRORS = [
    ("client.h", "rill_client_buffer", L.ClientBuffer),
    ("client.h", "rill_client_block", L.ClientBlock),
    ("client.h", "rill_client_polled", L.ClientPolled),
    ("client.h", "rill_client_config", L.ClientConfig),
    ("client.h", "rill_client_var", L.ClientVar),
    ("client.h", "rill_client_list", L.ClientList),
    ("client.h", "rill_client_stream_opts", L.StreamOpts),
    ("client.h", "rill_client_log_file", L.LogFile),
    ("client.h", "rill_client_event", L.ClientEvent),
    ("client.h", "rill_client_stats", L.ClientStats),
    ("client.h", "rill_client_var_stats", L.ClientVarStats),
    ("file.h", "rill_file_info", L.FileInfo),
    ("file.h", "rill_file_buffer", L.FileBuffer),
    ("audio.h", "rill_audio_config", L.AudioConfig),
    ("audio.h", "rill_audio_info", L.AudioInfo),
    ("audio.h", "rill_audio_stats", L.AudioStats),
    ("audio.h", "rill_audio_source_stats", L.SourceStats),
    ("audio.h", "rill_audio_sample_config", L.SampleConfig),
    ("audio.h", "rill_audio_thread_config", L.ThreadConfig),
    ("watch.h", "rill_audio_desc", L.AudioDesc),
    ("dash.h", "rill_dash_config", BI._Config),
]


def c_fields(header, name):
    with open(os.path.join(INCLUDE, header)) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    m = re.search(r"typedef struct %s \{(.*?)\}" % name, text, flags=re.S)
    assert m, f"struct {name} not found in {header}"
    fields = []
    for decl in m.group(1).split(";"):
        decl = decl.strip()
        if not decl:
            continue
        # "bool watched, logged, controlled" declares three.
        head, *more = [d.strip() for d in decl.split(",")]
        for d in [head] + more:
            fields.append(re.search(r"(\w+)\s*(\[[^\]]*\])*$", d).group(1))
    return fields


@pytest.mark.parametrize("header,name,mirror", MIRRORS, ids=[m[1] for m in MIRRORS])
def test_ctypes_mirror_matches_the_header(header, name, mirror):
    assert [f[0] for f in mirror._fields_] == c_fields(header, name)


# The constants rill/_lib.py copies from the headers.
CONSTANTS = [
    ("client.h", "RILL_CLIENT_BUSY_POLL_MAX_US", L.CLIENT_BUSY_POLL_MAX_US),
    ("watch.h", "RILL_AUDIO_MAX_CHANNELS", L.AUDIO_MAX_CHANNELS),
    ("watch.h", "RILL_AUDIO_MAX_RATES", L.AUDIO_MAX_RATES),
    ("watch.h", "RILL_VAR_NAME_MAX", L.VAR_NAME_MAX),
]


@pytest.mark.parametrize("header,name,value", CONSTANTS, ids=[c[1] for c in CONSTANTS])
def test_constant_matches_the_header(header, name, value):
    with open(os.path.join(INCLUDE, header)) as f:
        m = re.search(r"^#define %s (\d+)\b" % name, f.read(), flags=re.M)
    assert m, f"{name} not found in {header}"
    assert int(m.group(1)) == value
