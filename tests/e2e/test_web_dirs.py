"""The directories `rill serve` shows the dashboard besides its own files:
custom handler types (--handlers DIR at /handlers/) and the editor's
examples (--examples DIR at /examples/). Only regular files directly inside
the directory, with the right extension, are listed and served; nothing
outside it can be named or reached through a symlink; the token rules of
every other request apply."""

import json
import os
import subprocess
import urllib.error
import urllib.request

from conftest import rill_bin


def get(url):
    """(status, content type, body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers.get("content-type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type"), e.read()


def make_dirs(tmp_path):
    handlers = tmp_path / "handlers"
    handlers.mkdir()
    (handlers / "levels.js").write_text("export default function (rill) {}\n")
    (handlers / "other.mjs").write_text("export function register(rill) {}\n")
    (handlers / "notes.txt").write_text("not a module\n")
    (handlers / ".hidden.js").write_text("hidden\n")
    (handlers / "sub").mkdir()
    (handlers / "sub" / "deep.js").write_text("deep\n")
    outside = tmp_path / "secret.js"
    outside.write_text("the user's secret\n")
    os.symlink(outside, handlers / "leak.js")
    os.symlink("levels.js", handlers / "alias.js")
    examples = tmp_path / "examples"
    examples.mkdir()
    (examples / "spectrum.py").write_text('"""A spectrum."""\nprint(1)\n')
    (examples / "list.json").write_text('[{"name": "Spectrum", "file": "spectrum.py"}]\n')
    (examples / "run.sh").write_text("echo no\n")
    return handlers, examples


def test_handlers_and_examples_list_and_serve_only_plain_files_inside(rill_serve, tmp_path):
    handlers, examples = make_dirs(tmp_path)
    srv = rill_serve("--handlers", str(handlers), "--examples", str(examples))
    base = srv.http_url
    status, ctype, body = get(f"{base}/handlers/")
    assert status == 200 and ctype == "application/json"
    index = json.loads(body)
    assert [f["name"] for f in index["files"]] == ["levels.js", "other.mjs"]
    assert {f["name"]: f["size"] for f in index["files"]}["levels.js"] == len("export default function (rill) {}\n")
    status, ctype, body = get(f"{base}/handlers/levels.js")
    assert (status, ctype, body) == (200, "text/javascript; charset=utf-8", b"export default function (rill) {}\n")
    # No symbolic link is followed, not even one to a file inside (as for
    # every file the server serves: docs/SECURITY.md).
    for name in ("leak.js", "alias.js", "notes.txt", ".hidden.js", "sub", "sub/deep.js", "..%2Fsecret.js",
                 "%2E%2E/secret.js", "nope.js"):
        status, _, body = get(f"{base}/handlers/{name}")
        assert status == 404, f"/handlers/{name}: {status}"
        assert b"secret" not in body
    status, _, body = get(f"{base}/examples/")
    assert [f["name"] for f in json.loads(body)["files"]] == ["list.json", "spectrum.py"]
    status, ctype, body = get(f"{base}/examples/spectrum.py")
    assert (status, ctype) == (200, "text/plain; charset=utf-8")
    assert body.startswith(b'"""A spectrum."""')
    assert get(f"{base}/examples/run.sh")[0] == 404
    assert "custom handler types from" in srv.output()


def test_without_the_options_the_indexes_are_empty(rill_serve):
    srv = rill_serve("--examples", "")
    for prefix in ("handlers", "examples"):
        status, ctype, body = get(f"{srv.http_url}/{prefix}/")
        assert (status, ctype, json.loads(body)) == (200, "application/json", {"files": []})
        assert get(f"{srv.http_url}/{prefix}/x.js")[0] == 404


def test_the_token_guards_them_like_every_other_request(rill_serve, tmp_path):
    handlers, examples = make_dirs(tmp_path)
    srv = rill_serve("--handlers", str(handlers), "--examples", str(examples), "--token", "s3cret")
    for path in ("/handlers/", "/handlers/levels.js", "/examples/spectrum.py"):
        assert get(f"{srv.http_url}{path}")[0] == 401
        assert get(f"{srv.http_url}{path}?token=wrong")[0] == 401
        assert get(f"{srv.http_url}{path}?token=s3cret")[0] == 200


def test_a_directory_option_that_is_not_a_directory_is_a_usage_error(tmp_path):
    for opt in ("--handlers", "--examples"):
        r = subprocess.run([rill_bin(), "serve", "--port", "0", opt, str(tmp_path / "missing")],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 2, r.stderr
        assert f"rill serve: {opt} {tmp_path / 'missing'} is not a directory" in r.stderr
