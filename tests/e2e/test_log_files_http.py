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


def test_links_and_fifos_in_the_log_dir_are_neither_listed_nor_deleted(rill_serve, tmp_path):
    """The listing and DELETE go through the one opening GET /files/<name>
    uses (no link followed, regular files only): a link named like a log
    file, to a file outside or inside the directory, and a FIFO, are not
    shown, and DELETE leaves them and what they point to alone."""
    logdir = tmp_path / "logs"
    logdir.mkdir()
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"outside")
    (logdir / "real.bin").write_bytes(b"watcher\0real")
    os.symlink(outside, logdir / "leak.bin")
    os.symlink(logdir / "real.bin", logdir / "inside.bin")
    os.mkfifo(logdir / "pipe.bin")
    srv = rill_serve(logdir=str(logdir))
    assert listing(srv.port) == [{"logging": False, "name": "real.bin", "size": 12}]
    for name in ("leak.bin", "inside.bin", "pipe.bin"):
        status, _, body = request(srv.port, "DELETE", f"/files/{name}")
        assert status == 404, (name, status, body)
        assert "links are not" in json.loads(body)["error"]
        assert os.path.lexists(logdir / name), name
    assert outside.read_bytes() == b"outside"
    assert (logdir / "real.bin").read_bytes() == b"watcher\0real"


def raw(port, method, path, host):
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]), data


def test_listing_and_delete_refuse_a_host_that_is_not_the_servers(rill_server):
    """The DNS-rebinding rule of every request: a page under another name
    can neither list nor delete log files."""
    port, logdir = rill_server.port, rill_server.logdir
    with open(os.path.join(logdir, "x.bin"), "w") as f:
        f.write("x")
    for method, path in (("GET", "/files/"), ("DELETE", "/files/x.bin")):
        status, data = raw(port, method, path, f"evil.example:{port}")
        assert status == 403, (method, status, data[:300])
        assert b"x.bin" not in data
    assert os.path.exists(os.path.join(logdir, "x.bin"))
    status, data = raw(port, "DELETE", "/files/x.bin", f"127.0.0.1:{port}")
    assert status == 200, data
    assert not os.path.exists(os.path.join(logdir, "x.bin"))


def test_a_plus_in_a_name_typed_by_hand_names_that_file(rill_server):
    """Bela numbers a variable's later logs frame+1.bin, frame+2.bin; the
    listing shows them so, and a user types that into curl. libwebsockets
    hands rill the path with '+' decoded as a space, so such a GET or
    DELETE found nothing (404). Now: a name with a space that is not a file
    is tried with its spaces as '+'; a file really named with a space is
    still served for it, and %2B reaches the '+' file as before."""
    port, logdir = rill_server.port, rill_server.logdir
    files = {"frame+1.bin": b"plus one", "frame+2.bin": b"plus two",
             "my var.bin": b"a space", "my+var.bin": b"a plus"}
    for name, data in files.items():
        with open(os.path.join(logdir, name), "wb") as f:
            f.write(data)
    assert [f["name"] for f in listing(port)] == sorted(files)
    for path, want in (("/files/frame+1.bin", b"plus one"),
                       ("/files/frame%2B1.bin", b"plus one"),
                       ("/files/my%20var.bin", b"a space"),
                       ("/files/my%2Bvar.bin", b"a plus")):
        status, _, body = request(port, "GET", path)
        assert (status, body) == (200, want), (path, status, body)
    status, _, body = request(port, "GET", "/files/frame+3.bin")
    assert status == 404, (status, body)
    status, _, body = request(port, "DELETE", "/files/frame+2.bin")
    assert (status, json.loads(body)) == (200, {"deleted": "frame+2.bin"})
    assert not os.path.exists(os.path.join(logdir, "frame+2.bin"))
    assert sorted(os.listdir(logdir)) == ["frame+1.bin", "my var.bin", "my+var.bin"]


def test_head_answers_as_get_would_without_the_body_and_other_methods_are_refused(rill_server):
    """curl -I, wget --spider and download managers ask with HEAD first: rill
    serve answered 404 to a HEAD of a file GET serves, and the listing's and
    every error's HEAD carried a body, which on a kept-alive connection reads
    as the start of the next response. Each HEAD now gets the status and
    headers of the GET and no body, on one connection in turn; POST, PUT and
    OPTIONS get 405 with Allow."""
    port, logdir = rill_server.port, rill_server.logdir
    with open(os.path.join(logdir, "old.bin"), "wb") as f:
        f.write(b"\x01" * 5000)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        for path in ("/files/old.bin", "/files/", "/files/nosuch.bin", "/files/.x", "/",
                     "/nosuch.js", "/handlers/"):
            conn.request("GET", path)
            g = conn.getresponse()
            gbody = g.read()
            conn.request("HEAD", path)
            h = conn.getresponse()
            assert h.read() == b"", path
            assert h.status == g.status, (path, h.status, g.status)
            for name in ("content-type", "content-length", "cache-control"):
                assert h.getheader(name) == g.getheader(name), (path, name)
            assert int(h.getheader("content-length")) == len(gbody), path
            if path == "/files/old.bin":
                assert h.status == 200 and gbody == b"\x01" * 5000
            if path == "/files/nosuch.bin":
                assert h.status == 404 and h.getheader("content-type").startswith("text/plain")
                assert gbody.startswith(b"no such log file") and gbody.endswith(b"\n"), gbody
    finally:
        conn.close()
    for method in ("POST", "PUT", "OPTIONS"):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request(method, "/files/old.bin", body=b"data" if method != "OPTIONS" else None)
            r = conn.getresponse()
            body = r.read()
            assert r.status == 405 and r.getheader("allow") == "GET, HEAD, DELETE", \
                (method, r.status, body)
            assert body == b"rill serve answers GET and HEAD, and DELETE /files/<name>\n"
        finally:
            conn.close()
    assert open(os.path.join(logdir, "old.bin"), "rb").read() == b"\x01" * 5000
