"""GET /files/ and DELETE /files/<name>: the log directory over HTTP
(docs/PROTOCOL.md §5.1), what rill.pybela's Logger uses where pybela lists
and deletes over SFTP."""

import asyncio
import http.client
import json
import os

from belaclient import BelaClient, run
from test_log import download_finished, wait_logged


def request(port, method, path, token=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, headers={"Authorization": f"Bearer {token}"} if token else {})
        r = conn.getresponse()
        body = r.read()
        return r.status, r.getheader("content-type"), body
    finally:
        conn.close()


def listing(port, token=None):
    status, ctype, body = request(port, "GET", "/files/", token)
    assert status == 200 and ctype == "application/json", (status, ctype, body)
    return json.loads(body)["files"]


def test_listing_shows_log_files_with_sizes_and_whether_they_are_being_written(rill_server):
    port, logdir = rill_server.port, rill_server.logdir
    with open(os.path.join(logdir, "notes.txt"), "w") as f:
        f.write("not a log file")
    with open(os.path.join(logdir, ".hidden.bin"), "w") as f:
        f.write("hidden")
    assert listing(port) == []

    async def body():
        c = BelaClient(rill_server.url)
        try:
            await c.connect()
            await c.start_logging(["frame"])
            await wait_logged(c, ["frame"], True)
            await asyncio.sleep(0.5)
            during = listing(port)
            assert [(f["name"], f["logging"]) for f in during] == [("frame.bin", True)]
            # A file being written cannot be deleted.
            status, _, msg = request(port, "DELETE", "/files/frame.bin")
            assert status == 409 and b"still being logged" in msg, (status, msg)
            await c.stop_logging(["frame"])
            await wait_logged(c, ["frame"], False)
        finally:
            await c.close()

    run(body(), 20)
    status, data = download_finished(port, "frame.bin")
    assert status == 200
    after = listing(port)
    assert after == [{"logging": False, "name": "frame.bin", "size": len(data)}]
    assert after[0]["size"] == os.path.getsize(os.path.join(logdir, "frame.bin"))


def test_delete_removes_a_log_file_and_refuses_anything_else(rill_server):
    port, logdir = rill_server.port, rill_server.logdir
    for name in ("a.bin", "b.bin", "keep.txt"):
        with open(os.path.join(logdir, name), "w") as f:
            f.write(name)
    status, _, body = request(port, "DELETE", "/files/a.bin")
    assert (status, json.loads(body)) == (200, {"deleted": "a.bin"})
    assert not os.path.exists(os.path.join(logdir, "a.bin"))
    assert [f["name"] for f in listing(port)] == ["b.bin"]
    status, _, body = request(port, "DELETE", "/files/a.bin")
    assert status == 404 and "no such log file" in json.loads(body)["error"]
    for bad in ("/files/keep.txt", "/files/.b.bin", "/files/", "/other/b.bin"):
        status, _, body = request(port, "DELETE", bad)
        assert status == 400, (bad, status, body)
        assert "GET /files/" in json.loads(body)["error"]
    assert os.path.exists(os.path.join(logdir, "keep.txt"))
    assert os.path.exists(os.path.join(logdir, "b.bin"))


def test_listing_and_delete_need_the_token_when_the_server_has_one(rill_serve):
    srv = rill_serve("--token", "s3cret")
    with open(os.path.join(srv.logdir, "x.bin"), "w") as f:
        f.write("x")
    for method, path in (("GET", "/files/"), ("DELETE", "/files/x.bin")):
        status, _, _ = request(srv.port, method, path)
        assert status == 401, (method, status)
        status, _, _ = request(srv.port, method, path, token="wrong")
        assert status == 401, (method, status)
    assert os.path.exists(os.path.join(srv.logdir, "x.bin"))
    assert [f["name"] for f in listing(srv.port, token="s3cret")] == ["x.bin"]
    status, _, _ = request(srv.port, "DELETE", "/files/x.bin", token="s3cret")
    assert status == 200 and not os.path.exists(os.path.join(srv.logdir, "x.bin"))
