"""Token and Origin checks, loopback binding, and clean shutdown."""

import asyncio
import os
import signal
import socket
import subprocess
import time

import pytest
import websockets

from belaclient import BODY_BYTES, BelaClient, run, within
from conftest import rill_bin, stop_server
from helpers import (assert_server_serves_a_new_client, check_dense_counter_buffers,
                     check_padded_dense_tail, parse_log_buffers, parse_log_file)
from nativeclient import NativeClient


async def refused(url, **kw):
    """Open a WebSocket that the server must refuse at the upgrade; return the status."""
    try:
        ws = await within(websockets.connect(url, open_timeout=5, close_timeout=1,
                                             ping_interval=None, **kw), 6, f"opening {url}")
    except websockets.InvalidStatusCode as e:
        return e.status_code
    except (websockets.InvalidHandshake, ConnectionError, OSError) as e:
        return repr(e)
    await ws.close()
    raise AssertionError(f"{url} was accepted")


def test_token_is_required_on_control_and_data_paths(rill_serve):
    srv = rill_serve("--token", "s3cret-T0ken")

    async def body():
        for path in ("gui_control", "gui_data"):
            for suffix in ("", "?token=wrong", "?token="):
                status = await refused(f"{srv.url}/{path}{suffix}")
                assert status in (401, 403), f"/{path}{suffix}: refused with {status}, not 401/403"
            status = await refused(f"{srv.url}/{path}",
                                   extra_headers={"Authorization": "Bearer nope"})
            assert status in (401, 403)
        # The right token in the query ...
        c = BelaClient(srv.url, token="s3cret-T0ken")
        try:
            await c.connect()
            await c.start_streaming(["frame"])
            check_dense_counter_buffers(await c.wait_buffers("frame", 2), 1024, "frame")
        finally:
            await c.close()
        # ... or as a bearer header.
        c = BelaClient(srv.url, extra_headers={"Authorization": "Bearer s3cret-T0ken"})
        try:
            await c.connect()
            await c.start_streaming(["frame"])
            await c.wait_buffers("frame", 1)
        finally:
            await c.close()
        n = NativeClient(srv.url, token="s3cret-T0ken")
        try:
            await n.connect()
        finally:
            await n.close()

    run(body(), 40)


def test_foreign_browser_origin_is_refused(rill_server):
    async def body():
        for path in ("gui_control", "gui_data"):
            for origin in ("http://evil.example", "https://127.0.0.1.evil.example",
                           f"http://127.0.0.1:{rill_server.port + 1}"):
                status = await refused(f"{rill_server.url}/{path}", origin=origin)
                assert status in (401, 403), f"/{path} Origin {origin}: {status}"
        # The server's own origin and no Origin at all (pybela) are accepted.
        c = BelaClient(rill_server.url, origin=f"http://127.0.0.1:{rill_server.port}")
        try:
            await c.connect()
        finally:
            await c.close()
        await assert_server_serves_a_new_client(rill_server.url)

    run(body(), 40)


def test_binds_loopback_by_default(rill_serve):
    srv = rill_serve(host=None)
    out = srv.output()
    assert "listening on ws://127.0.0.1:" in out
    # Find a non-loopback address of this machine, if there is one.
    addr = None
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("192.0.2.1", 9))
        addr = s.getsockname()[0]
        s.close()
    except OSError:
        pass
    if addr and not addr.startswith("127."):
        with pytest.raises(OSError):
            socket.create_connection((addr, srv.port), timeout=2).close()


def test_binding_beyond_loopback_without_a_token_is_warned_of(rill_serve):
    """Bound to every address with no token, the server says what anyone on the
    network may then do and how to close it; with a token, or on loopback, it
    says nothing of the kind. Inside a private network namespace: the host's
    interfaces are never opened."""
    warning = "without a token: anyone who reaches this port can stream, set variables"
    netns = ("unshare", "-n")
    open_srv = rill_serve(host="0.0.0.0", wrap=netns)
    out = open_srv.output()
    line = next((l for l in out.splitlines() if warning in l), None)
    assert line is not None, f"no warning for 0.0.0.0 without a token:\n{out}"
    assert line.startswith(f"rill serve: warning: listening on 0.0.0.0:{open_srv.port} "), line
    assert "--token T" in line and "pybela" in line and "docs/SECURITY.md" in line, line
    # The URLs printed name this machine, which others can open (and the
    # Host check admits), not 0.0.0.0.
    host = socket.gethostname()
    assert f"rill serve: dashboard http://{host}:{open_srv.port}/ " in out, out
    assert f"control ws://{host}:{open_srv.port}/gui_control" in out, out
    assert f"on this machine also http://127.0.0.1:{open_srv.port}/" in out, out
    for srv in (rill_serve("--token", "s3cret", host="0.0.0.0", wrap=netns),
                rill_serve(host=None), rill_serve(host="127.0.0.2")):
        assert "without a token" not in srv.output(), srv.output()


def test_an_empty_token_or_an_address_not_of_this_machine_is_refused_at_start():
    """`--token "$T"` with T unset started a server announcing "token
    required" that let anyone in; --host with an address that is not this
    machine's (port 0) started one listening nowhere. Both are refused."""
    for args, status, words in (
            (["--token", ""], 2, "rill serve: --token is empty (an unset variable?): give "
                                 "the token, or leave --token out\n"),
            (["--token", "", "--allow-exec"], 2, "rill serve: --token is empty"),
            (["--host", "10.99.99.99"], 1, "rill serve: not started: cannot listen on "
                                           "10.99.99.99:0: Cannot assign requested address "
                                           "(not an address of this machine)\n"),
            (["--host", "999.1.1.1"], 1, "cannot listen on 999.1.1.1:0: ")):
        # In a network namespace of its own, whatever the host has: only lo,
        # up (with every interface down, Linux lets any address be bound).
        r = subprocess.run(["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                            rill_bin(), "serve", "--port", "0", *args],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == status, (args, r.returncode, r.stderr)
        assert r.stderr.startswith(words) if words.endswith("\n") else words in r.stderr, \
            (args, r.stderr)
        assert r.stderr.count("\n") == 1 and "listening" not in r.stdout, (args, r.stdout)


def _sigint_while_streaming_and_logging(rill_server, sig):
    async def body():
        c = BelaClient(rill_server.url)
        await c.connect()
        await c.start_streaming(["frame"])
        await c.start_logging(["frame"])
        await c.wait_buffers("frame", 3, timeout=5)
        await asyncio.sleep(0.3)
        t0 = time.monotonic()
        code = await asyncio.get_running_loop().run_in_executor(None, stop_server, rill_server, sig)
        took = time.monotonic() - t0
        # Clients see their sockets closed.
        await c.changed.wait_until(lambda: c.control_closed(), 3, "the control socket to close")
        await c.close()
        return code, took

    code, took = run(body(), 40)
    assert code == 0, f"exit status {code} after {sig!r}\n{rill_server.output()[-2000:]}"
    assert took < 5, f"shutdown took {took:.1f} s"
    path = os.path.join(rill_server.logdir, "frame.bin")
    blob = open(path, "rb").read()
    hdr, raw, rest = parse_log_file(blob)
    assert not rest, f"log file ends in the middle of a buffer ({len(rest)} bytes)"
    bufs = parse_log_buffers(raw, "i", 0)
    assert len(bufs) >= 2
    check_dense_counter_buffers(bufs[:-1], 1024, "log at shutdown")
    check_padded_dense_tail(bufs[-1], 4, "log at shutdown, last buffer")
    assert len(blob) == hdr["header_len"] + len(bufs) * BODY_BYTES


def test_sigint_shuts_down_cleanly_and_finalises_logs(rill_server):
    _sigint_while_streaming_and_logging(rill_server, signal.SIGINT)


def test_sigterm_shuts_down_cleanly_and_finalises_logs(rill_server):
    _sigint_while_streaming_and_logging(rill_server, signal.SIGTERM)


def test_idle_server_exits_zero_on_sigint(rill_server):
    assert stop_server(rill_server) == 0
