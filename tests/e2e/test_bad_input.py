"""Bad input: an error reply naming the problem, the connection stays open, and the
server still serves a second client afterwards (issue 3, item 7)."""

import asyncio
import json

import pytest

from belaclient import BelaClient, make_client_buffer, run, within
from helpers import DEMO_VARS, assert_server_serves_a_new_client, var_entry

BIG = 70 * 1024

# id, raw control text, words of which at least one must appear in the error
# (message or cmd, case-insensitive), expected "cmd" (or None), expected "id" (or None)
BAD_CONTROL = [
    ("malformed_json", '{"watcher":[{"cmd":"list"}', ["json", "parse", "syntax"], None, None),
    ("not_json_at_all", "hello there", ["json", "parse", "syntax"], None, None),
    ("top_level_array", '[{"watcher":[{"cmd":"list"}]}]', ["object"], None, None),
    ("unknown_command", '{"watcher":[{"cmd":"frobnicate","id":7}]}', ["frobnicate"], "frobnicate", 7),
    ("missing_cmd", '{"watcher":[{"watchers":["frame"],"id":"m1"}]}', ["cmd"], None, "m1"),
    ("cmd_not_a_string", '{"watcher":[{"cmd":42}]}', ["cmd"], None, None),
    ("unknown_variable", '{"watcher":[{"cmd":"watch","watchers":["no_such_var"],"id":8}]}',
     ["no_such_var"], "watch", 8),
    ("unknown_variable_in_set",
     '{"watcher":[{"cmd":"set","watchers":["nope_var"],"values":[1]}]}', ["nope_var"], "set", None),
    ("variable_name_not_a_string", '{"watcher":[{"cmd":"watch","watchers":[42]}]}',
     ["watchers", "string", "name"], "watch", None),
    ("watchers_not_an_array", '{"watcher":[{"cmd":"watch","watchers":"frame"}]}',
     ["watchers"], "watch", None),
    ("watcher_not_an_array", '{"watcher":{"cmd":"list"}}', ["watcher", "array"], None, None),
    ("command_not_an_object", '{"watcher":["list"]}', ["object", "command"], None, None),
    ("periods_wrong_type", '{"watcher":[{"cmd":"monitor","watchers":["frame"],"periods":["x"]}]}',
     ["periods"], "monitor", None),
    ("timestamps_wrong_type",
     '{"watcher":[{"cmd":"watch","watchers":["frame"],"timestamps":"soon"}]}',
     ["timestamps"], "watch", None),
    ("values_wrong_type", '{"watcher":[{"cmd":"set","watchers":["gain"],"values":["loud"]}]}',
     ["values"], "set", None),
    ("set_values_length_mismatch",
     '{"watcher":[{"cmd":"set","watchers":["gain","flags"],"values":[1.0],"id":9}]}',
     ["values", "length"], "set", 9),
    ("setmask_masks_too_short",
     '{"watcher":[{"cmd":"setMask","watchers":["flags","frame"],"values":[1,2],"masks":[255]}]}',
     ["masks", "length"], "setMask", None),
    ("monitor_without_periods", '{"watcher":[{"cmd":"monitor","watchers":["frame","frame_d"]}]}',
     ["periods"], "monitor", None),
    ("message_over_64_KiB",
     json.dumps({"watcher": [{"cmd": "list"}], "pad": "x" * BIG}),
     ["large", "big", "size", "long", "limit", "65536", "64"], None, None),
]


def _mentions(err, words):
    text = (str(err.get("message", "")) + " " + str(err.get("cmd", ""))).lower()
    return any(w.lower() in text for w in words)


@pytest.mark.parametrize("raw,words,cmd,cid", [b[1:] for b in BAD_CONTROL],
                         ids=[b[0] for b in BAD_CONTROL])
def test_bad_control_message_gets_error_reply_and_server_keeps_serving(rill_server, raw, words,
                                                                       cmd, cid):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            await c.send_control(raw)
            err = await c.wait_error(timeout=3)
            assert isinstance(err, dict), f"error reply is not an object: {err!r}"
            assert isinstance(err.get("message"), str) and err["message"], \
                f"error reply without a message: {err}"
            assert _mentions(err, words), \
                f"error {err} does not name the problem (expected one of {words})"
            if cmd is not None:
                assert err.get("cmd") == cmd, f"error {err} should name cmd {cmd!r}"
            if cid is not None:
                assert err.get("id") == cid, f"error {err} should echo id {cid!r}"
            # The connection stays open and still works.
            lst = await c.list(timeout=3)
            assert len(lst["watchers"]) == len(DEMO_VARS)
            assert not c.control_closed()
            assert not c.violations, c.violations
            # Nothing was left half-applied on this variable.
            assert not var_entry(lst, "frame")["watched"]
            await assert_server_serves_a_new_client(rill_server.url)
        finally:
            await c.close()

    run(body(), 30)
    assert rill_server.process.poll() is None, "server died"


def test_bad_command_does_not_abort_the_rest_of_the_envelope(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            await c.send_commands(
                {"cmd": "set", "watchers": ["gain", "flags"], "values": [0.5]},
                {"cmd": "watch", "watchers": ["frame", "no_such_var"]},
                {"cmd": "control", "watchers": ["gain"]})
            st = await c.list()
            await c.changed.wait_until(lambda: len(c.errors) >= 2, 3, "two error replies")
            assert var_entry(st, "gain")["controlled"] is True, \
                "the command after a bad one was not run"
            await c.wait_buffers("frame", 1, timeout=5)   # the known name was still watched
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 30)


# Client -> device buffers with bad headers (§4). pybela's data socket is binary-only,
# so an error can only go to the control socket; just require the server to stay up.
BAD_BUFFERS = [
    ("shorter_than_header", b"\x00\x01\x02\x03\x04"),
    ("empty", b""),
    ("unknown_type_letter", make_client_buffer(0, "i", [1, 2])[:4] + b"x\0\0\0" +
     make_client_buffer(0, "i", [1, 2])[8:]),
    ("count_larger_than_payload", make_client_buffer(0, "f", [1.0, 2.0], count=100000)),
    ("count_not_matching_payload", make_client_buffer(1, "d", [1.0, 2.0, 3.0], count=2)),
    ("huge_id", make_client_buffer(0xFFFFFFFF, "f", [1.0])),
    ("type_mismatch", make_client_buffer(0, "d", [1.0])),
]


@pytest.mark.parametrize("blob", [b[1] for b in BAD_BUFFERS], ids=[b[0] for b in BAD_BUFFERS])
def test_bad_client_buffer_keeps_server_and_peer_working(rill_server, blob):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            await within(c.data.send(blob), 3, "sending a bad client buffer")
            await asyncio.sleep(0.2)
            lst = await c.list(timeout=3)
            assert len(lst["watchers"]) == len(DEMO_VARS)
            for e in c.errors:
                assert isinstance(e.get("message"), str) and e["message"]
            assert not c.violations, c.violations
            await assert_server_serves_a_new_client(rill_server.url)
        finally:
            await c.close()

    run(body(), 30)
    assert rill_server.process.poll() is None, "server died"


def test_text_frame_on_data_socket_keeps_server_working(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            await within(c.data.send("not binary"), 3, "sending text on /gui_data")
            await asyncio.sleep(0.2)
            await c.list(timeout=3)
            await assert_server_serves_a_new_client(rill_server.url)
        finally:
            await c.close()

    run(body(), 30)


def test_well_formed_client_buffer_is_accepted_silently(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            await c.send_buffer(0, "i", list(range(16)))
            await c.send_buffer(2, "f", [0.5] * 1024)
            await c.send_buffer(1, "d", [1.5, 2.5])
            # Then a bad one: the data socket is read in order and its errors
            # go to this control socket in order, so when the bad buffer's
            # error is here, one for the good buffers would be here before.
            await c.send_buffer(3, "i", [1, 2], count=5)
            await c.wait_error(timeout=5)
            assert len(c.errors) == 1 and "buffer ignored" in c.errors[0]["message"], \
                f"error replies for well-formed client buffers: {c.errors}"
            assert not c.data.closed
        finally:
            await c.close()

    run(body(), 30)


def test_abrupt_disconnects_mid_stream_do_not_hurt_the_server(rill_server):
    async def body():
        for _ in range(3):
            c = BelaClient(rill_server.url)
            await c.connect()
            await c.start_streaming(["frame", "frame_d", "events"])
            await c.start_monitoring(["sine"], [10])
            await c.wait_buffers("frame", 1, timeout=5)
            c.control.transport.abort()
            c.data.transport.abort()
            await c.close()
        await assert_server_serves_a_new_client(rill_server.url)

    run(body(), 30)
    assert rill_server.process.poll() is None, "server died"
