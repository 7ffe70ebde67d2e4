"""A Bela-like machine inside a private network namespace, for pybela's Logger.

pybela's Logger copies log files over SSH/SFTP from root@<ip>:22, path
/root/Bela/projects/<projectName>/<logFileName>. This driver gives it exactly
that without touching the host: run as root under `unshare -n -m`, it

  1. brings up the namespace's own loopback (port 22 here is not the host's);
  2. mounts a fresh tmpfs on /root (root's home, as on a Bela: ~/.ssh and
     ~/Bela/projects live there and vanish with the namespace) and on /run
     (sshd's privilege-separation directory);
  3. makes a host key and a client key (ssh-keygen) and authorizes the
     client key for root, as a user does once for their board;
  4. starts Debian's OpenSSH sshd on 127.0.0.1:22 (-D -e -f <temp config>);
  5. starts the device given after `--` (e.g. `rill serve --bela-project P`
     or the test device) and waits for its "listening on ws://HOST:PORT";
  6. runs the client scenario (tests/pybela/scenarios.py) with HOME=/root,
     so that paramiko finds ~/.ssh/id_ed25519 as it would on the user's
     machine, and pybela connects as root with its own code;
  7. stops everything, and writes one JSON result: the scenario's result,
     the files the device left in its project directory (name, size, bytes
     as hex for small ones), sshd's log and the device's output.

    unshare -n -m /usr/bin/python3 tests/pybela/netns.py RESULT.json \\
        --project P --scenario NAME [--client pybela|rill ...] [--arg K=V ...] \\
        -- DEVICE ARGV...

The result file must be outside /root and /run (e.g. under /tmp), which are
private to the namespace. Every step has a timeout; a failure is written
into the result ("error") rather than hanging.
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
LISTEN_RE = re.compile(r"listening on ws://(\[[^\]]+\]|[^\s:/]+):(\d+)")


def run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30, **kw)


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def setup_machine(tmp):
    run(["ip", "link", "set", "lo", "up"])
    run(["mount", "-t", "tmpfs", "-o", "mode=0700", "tmpfs", "/root"])
    run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", "/run"])
    os.makedirs("/run/sshd", mode=0o755)
    ssh = "/root/.ssh"
    os.makedirs(ssh, mode=0o700)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rill-test-client",
         "-f", os.path.join(ssh, "id_ed25519")])
    shutil.copy(os.path.join(ssh, "id_ed25519.pub"), os.path.join(ssh, "authorized_keys"))
    os.chmod(os.path.join(ssh, "authorized_keys"), 0o600)
    hostkey = os.path.join(tmp, "ssh_host_ed25519_key")
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostkey])
    cfg = os.path.join(tmp, "sshd_config")
    with open(cfg, "w") as f:
        f.write(f"""# A Bela's sshd, as far as pybela needs it (generated per test run)
ListenAddress 127.0.0.1
Port 22
HostKey {hostkey}
PidFile {tmp}/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys
Subsystem sftp /usr/lib/openssh/sftp-server
LogLevel VERBOSE
""")
    log = open(os.path.join(tmp, "sshd.log"), "w")
    sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", cfg],
                            stdout=log, stderr=subprocess.STDOUT)
    if not wait_port(22):
        raise RuntimeError("sshd did not accept connections on 127.0.0.1:22 within 10 s")
    return sshd, log


def start_device(argv):
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL, bufsize=1)
    lines = []
    deadline = time.monotonic() + 10
    port = None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = LISTEN_RE.search(line)
        if m:
            port = int(m.group(2))
            break
    if port is None:
        proc.kill()
        raise RuntimeError("the device printed no 'listening on' line: " + "".join(lines))
    return proc, port, lines


def project_files(project):
    d = f"/root/Bela/projects/{project}"
    out = {}
    if os.path.isdir(d):
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            with open(p, "rb") as f:
                data = f.read()
            out[name] = {"size": len(data), "hex": data.hex()}
    return out


def main():
    argv = sys.argv[1:]
    if "--" not in argv:
        raise SystemExit("usage: netns.py RESULT --project P --scenario S [...] -- DEVICE ARGV")
    split = argv.index("--")
    ap = argparse.ArgumentParser()
    ap.add_argument("result")
    ap.add_argument("--project", required=True)
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--client", action="append", default=[],
                    help="pybela or rill; several run in turn against the same device")
    ap.add_argument("--arg", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args(argv[:split])
    device_argv = argv[split + 1:]
    result = {"error": None}
    tmp = tempfile.mkdtemp(prefix="rill-netns-")
    sshd = device = log = None
    try:
        sshd, log = setup_machine(tmp)
        device, port, dev_lines = start_device(device_argv)
        env = dict(os.environ, HOME="/root")
        result["runs"] = []
        for k, client in enumerate(args.client or ["pybela"]):
            out = os.path.join(tmp, f"scenario-{k}.json")
            cmd = [sys.executable, os.path.join(HERE, "scenarios.py"), args.scenario,
                   "--client", client, "--port", str(port), "--result", out]
            for a in args.arg:
                a = a.replace("{client}", client)
                cmd += ["--arg", a]
            r = subprocess.run(cmd, env=env, capture_output=True, text=True,
                               timeout=args.timeout)
            run = {"client": client, "client_output": (r.stdout + r.stderr)[-20000:],
                   "client_status": r.returncode}
            if os.path.exists(out):
                with open(out) as f:
                    run["scenario"] = json.load(f)
            run["files_on_device"] = project_files(args.project)
            result["runs"].append(run)
        # One client: its run's fields at the top too.
        if len(result["runs"]) == 1:
            result.update({k: v for k, v in result["runs"][0].items() if k != "client"})
        device.send_signal(2)
        try:
            rest, _ = device.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            device.kill()
            rest, _ = device.communicate()
        result["device_status"] = device.returncode
        result["device_output"] = ("".join(dev_lines) + (rest or ""))[-20000:]
        device = None
    except Exception:
        result["error"] = traceback.format_exc()
    finally:
        if device is not None:
            device.kill()
            device.wait()
        if sshd is not None:
            sshd.terminate()
            try:
                sshd.wait(5)
            except subprocess.TimeoutExpired:
                sshd.kill()
        if log is not None:
            log.close()
            with open(os.path.join(tmp, "sshd.log")) as f:
                result["sshd_log"] = f.read()[-20000:]
        shutil.rmtree(tmp, ignore_errors=True)
    with open(args.result, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
