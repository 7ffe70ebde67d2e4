"""`rill serve --bela-project NAME`: log files laid out as a Bela does
(/root/Bela/projects/NAME/, where pybela's Logger looks for them). The
option's use with the real pybela over a real sshd is tested in
tests/pybela (inside a private namespace, so /root here is never touched);
here, what the command line says and refuses."""

import subprocess

from conftest import rill_bin


def serve(*args):
    return subprocess.run([rill_bin(), "serve", "--port", "0", *args], capture_output=True,
                          text=True, timeout=20)


def test_help_names_the_option_and_where_the_logs_go():
    r = subprocess.run([rill_bin(), "serve", "--help"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0
    assert "--bela-project NAME" in r.stdout and "/root/Bela/projects/NAME/" in r.stdout


def test_bela_project_with_project_or_log_dir_is_a_usage_error():
    for extra in (["--project", "p"], ["--log-dir", "/tmp"]):
        r = serve("--bela-project", "demo", *extra)
        assert r.returncode == 2, (extra, r.returncode, r.stderr)
        assert "leave out --project and --log-dir" in r.stderr


def test_a_bela_project_that_is_not_a_plain_name_is_refused_with_the_reason():
    for name in ("a/b", "..", ""):
        r = serve("--bela-project", name)
        assert r.returncode == 1, (name, r.returncode, r.stdout, r.stderr)
        assert "is not a project name" in r.stderr, r.stderr
