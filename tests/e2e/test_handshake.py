"""Connection handshake and the list reply (spec §1.4, §2.4, §7 Connection)."""

import asyncio
import json
import time

import websockets

from belaclient import BelaClient, run, within
from helpers import BLOCK, DEMO_VARS, LIST_FIELDS, RATE, var_entry


def test_connection_event_is_first_message_with_project_name(rill_serve):
    srv = rill_serve("--project", "e2e-project")

    async def body():
        c = BelaClient(srv.url)
        try:
            ev = await c.open_control_only()
            assert ev["event"] == "connection"
            assert ev["projectName"] == "e2e-project"
            # The raw first message is a text JSON object (pybela's json.loads).
            assert isinstance(c.control_raw[0][1], str)
        finally:
            await c.close()

    run(body(), 20)


def test_default_project_name_is_rill_demo(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            ev = await c.open_control_only()
            assert ev["event"] == "connection"
            assert ev["projectName"] == "rill-demo"
        finally:
            await c.close()

    run(body(), 20)


def test_list_reply_has_every_field_with_its_type_in_registration_order(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            lst = await c.connect()
            assert lst["sampleRate"] == RATE
            assert isinstance(lst["sampleRate"], (int, float))
            assert isinstance(lst["timestamp"], (int, float)) and lst["timestamp"] >= 0
            assert float(lst["timestamp"]).is_integer()
            got = [(v["name"], v["type"], v["timestampMode"]) for v in lst["watchers"]]
            assert got == DEMO_VARS
            for v in lst["watchers"]:
                for field, types in LIST_FIELDS.items():
                    assert field in v, f"{v.get('name')}: field {field} missing"
                    assert isinstance(v[field], types) and \
                        not (bool not in types and isinstance(v[field], bool)), \
                        f"{v['name']}.{field} = {v[field]!r} has the wrong JSON type"
                assert v["watched"] is False and v["logged"] is False
                assert v["controlled"] is False
                assert v["monitor"] == 0
                assert v["logFileName"] == ""
            assert var_entry(lst, "gain")["value"] == 1.0
            assert var_entry(lst, "gain")["valueInput"] == 1.0
            assert var_entry(lst, "flags")["value"] == 0
            frame = var_entry(lst, "frame")
            # The frame counter is the tick: its value is the latest tick (one block of slack).
            assert abs(frame["valueInput"] - lst["timestamp"]) <= BLOCK
            assert not c.violations, c.violations
        finally:
            await c.close()

    run(body(), 20)


def test_list_timestamp_advances_in_real_time(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            a = await c.list()
            t0 = time.monotonic()
            await asyncio.sleep(1.5)
            b = await c.list()
            t1 = time.monotonic()
            ticks = b["timestamp"] - a["timestamp"]
            expected = (t1 - t0) * RATE
            assert abs(ticks - expected) < 0.1 * expected, \
                f"{ticks} ticks in {t1 - t0:.3f} s; expected about {expected:.0f}"
        finally:
            await c.close()

    run(body(), 20)


def test_list_replies_are_unicast_to_the_requester(rill_server):
    async def body():
        a, b = BelaClient(rill_server.url), BelaClient(rill_server.url)
        try:
            await a.connect()
            await b.connect()
            for _ in range(3):
                await a.list()
            # B's socket is one ordered queue: had A's replies gone to B too,
            # they were queued before the reply to a list B sends now (its
            # id tells it apart), so once that has come they have too.
            replies = [raw for _, raw in b.control_raw]
            await b.send_control({"id": "fence", "watcher": [{"cmd": "list"}]})
            await b.changed.wait_until(
                lambda: any(isinstance(r, str) and '"id":"fence"' in r
                            for _, r in b.control_raw), 5, "the reply to B's list")
            got = [r for _, r in b.control_raw[len(replies):]
                   if isinstance(r, str) and '"sampleRate"' in r]
            assert len(got) == 1, f"list replies requested by A reached B (broadcast): {got}"
            b.list_queue.pop(0)
            assert b.list_queue == [] and a.list_queue == []
            # B's next list() (oldest queued reply) is therefore fresh.
            la = await a.list()
            lb = await b.list()
            assert lb["timestamp"] >= la["timestamp"]
        finally:
            await a.close()
            await b.close()

    run(body(), 20)


def test_list_reply_json_is_plain_ascii_object(rill_server):
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            await c.list()
            texts = [raw for _, raw in c.control_raw if isinstance(raw, str)]
            for t in texts:
                t.encode("ascii")  # non-ASCII must be escaped (§1.2)
                assert isinstance(json.loads(t), dict)
        finally:
            await c.close()

    run(body(), 20)


def test_server_answers_websocket_pings_on_both_paths(rill_server):
    """pybela's websockets pings every 20 s and closes without a pong (§1.5)."""
    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            for ws in (c.control, c.data):
                pong = await within(ws.ping(b"rill-e2e"), 2, "sending a ping")
                await within(pong, 2, "the pong")
        finally:
            await c.close()

    run(body(), 20)


def test_other_websocket_paths_are_refused(rill_server):
    async def body():
        for path in ("gui", "gui_controls", "gui_control/extra", "data"):
            try:
                ws = await within(websockets.connect(f"{rill_server.url}/{path}", open_timeout=3,
                                                     close_timeout=1), 4, f"opening /{path}")
            except websockets.InvalidStatusCode as e:
                assert e.status_code in (400, 403, 404), f"/{path}: {e.status_code}"
                continue
            await ws.close()
            raise AssertionError(f"/{path} was accepted as a WebSocket")

    run(body(), 20)
