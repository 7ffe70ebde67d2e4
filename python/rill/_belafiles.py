"""Log files on the device for rill.pybela's Logger: fetching, listing,
deleting and reading them.

Two transports, chosen per connection (rill.pybela.Watcher picks one):

  - HTTP on a rill device (`rill serve`, or any program on
    include/rill/server.h): GET /files/<name> through librill
    (rill_client_fetch, which retries while the device is still writing the
    file), GET /files/ and DELETE /files/<name> (docs/PROTOCOL.md §5.1) with
    http.client; a server token goes as a Bearer header. Nothing but the
    device's own port is needed.
  - SFTP on a Bela board (or a rill device laid out as one, --bela-project,
    with an sshd): paramiko, as pybela uses it: root@<ip>:22, keys from
    ~/.ssh or an agent, else "none" authentication (a Bela's root has no
    password).

Remote paths are pybela's: /root/Bela/projects/<project>/<logFileName>; over
HTTP the file's name alone may be given too, and a path in another directory
is refused (it names another file than this device's of the same name).
"""

import http.client
import json
import struct
import urllib.parse

import numpy as np

BELA_PROJECTS = "/root/Bela/projects"
BODY_BYTES = 4104


def remote_path(project, name):
    return f"{BELA_PROJECTS}/{project}/{name}"


class TransferError(OSError):
    """A log file could not be copied, listed or deleted; the message says
    which, where, and why."""


class HttpFiles:
    """A rill device's log directory over HTTP."""

    def __init__(self, host, port, token, fetch):
        self.host = host
        self.port = port
        self.token = token
        self._fetch = fetch  # fetch(name, local_path, timeout_ms), librill's

    def _request(self, method, path, headers=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        try:
            conn.request(method, path, headers=h)
            r = conn.getresponse()
            return r.status, r.read()
        except OSError as e:
            raise TransferError(f"{method} http://{self.host}:{self.port}{path}: {e}") from e
        finally:
            conn.close()

    def list(self):
        """[{"name", "size", "logging"}] of the device's log files."""
        status, body = self._request("GET", "/files/")
        if status != 200:
            raise TransferError(f"listing the device's log files: HTTP {status} "
                                f"{_reason(body)} (a rill device older than the "
                                f"listing answers 404)")
        return json.loads(body)["files"]

    def get(self, name, local_path, timeout_ms=10000):
        self._fetch(name, local_path, timeout_ms)

    def get_from(self, name, offset):
        """The file's bytes from `offset` on."""
        status, body = self._request("GET", "/files/" + urllib.parse.quote(name),
                                     {"Range": f"bytes={offset}-"})
        if status == 206:
            return body
        if status == 200:
            return body[offset:]
        if status == 416:
            return b""
        raise TransferError(f"GET /files/{name}: HTTP {status} {_reason(body)}")

    def size(self, name):
        for f in self.list():
            if f["name"] == name:
                return f["size"]
        raise FileNotFoundError(f"no log file {name} on the device")

    def delete(self, name):
        status, body = self._request("DELETE", "/files/" + urllib.parse.quote(name))
        if status == 404:
            raise FileNotFoundError(f"no log file {name} on the device")
        if status != 200:
            raise TransferError(f"deleting {name} on the device: HTTP {status} {_reason(body)}")


def _reason(body):
    try:
        return json.loads(body)["error"]
    except Exception:
        return body[:200].decode("utf-8", "replace").strip()


class SftpFiles:
    """A Bela board's files over SFTP, with paramiko as pybela connects."""

    def __init__(self, host):
        self.host = host
        self.ssh_client = None
        self.sftp_client = None

    def connect(self):
        import paramiko  # only a Bela (SFTP) needs it
        self.disconnect()
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            client.connect(self.host, port=22, username="root", password=None, timeout=10)
        except paramiko.SSHException:
            # A Bela's root has no password: "none" authentication, as pybela.
            transport = client.get_transport()
            if transport is None:
                raise
            transport.auth_none("root")
        self.ssh_client = client
        self.sftp_client = client.open_sftp()

    def disconnect(self):
        if self.sftp_client is not None:
            self.sftp_client.close()
        if self.ssh_client is not None:
            self.ssh_client.close()
        self.sftp_client = self.ssh_client = None

    def _sftp(self):
        if self.sftp_client is None:
            self.connect()
        return self.sftp_client

    def list(self, directory):
        out = []
        for a in self._sftp().listdir_attr(directory):
            out.append({"name": a.filename, "size": a.st_size, "logging": False})
        return out

    def get(self, remote, local_path):
        self._sftp().get(remote, local_path)

    def get_from(self, remote, offset):
        with self._sftp().open(remote, "rb") as f:
            f.seek(offset)
            return f.read()

    def size(self, remote):
        return self._sftp().stat(remote).st_size

    def delete(self, remote):
        self._sftp().remove(remote)


# ---- Reading a log file ----------------------------------------------------------

_SIZES = {"c": 1, "i": 4, "j": 4, "f": 4, "d": 8}
_DTYPES = {"c": "u1", "i": "<i4", "j": "<u4", "f": "<f4", "d": "<f8"}


def bela_values_per_buffer(t, mode):
    """Values per 4104-byte Bela buffer (docs/PROTOCOL.md §3.2)."""
    size = _SIZES[t]
    if mode == "sparse":
        r = (8 + size * (4096 // (size + 4))) & ~3
        return (r - 8) // size
    return 4096 // size


def read_log_file(path, timestamp_mode, as_numpy=False):
    """Parse a Watcher log file (docs/PROTOCOL.md §5) as pybela's
    read_binary_file does: {"project_name" (the file's magic, "watcher"),
    "var_name", "type", "buffers": [{"ref_timestamp", "data"[,
    "rel_timestamps"]}]}, each buffer a whole Bela buffer, padding included.
    Values as pybela gives them (lists; 'c' as 1-byte bytes), or numpy
    arrays. Every type reads right, 'c' included (pybela's sizes for 'c'
    are wrong, spec §3.6). A cut last buffer (a file still being written)
    is left out."""
    with open(path, "rb") as f:
        blob = f.read()
    assert len(blob) != 0, f"Error: The size of {path} is 0."
    pos = 0
    fields = []
    for _ in range(3):
        end = blob.find(b"\0", pos, pos + 1024)
        if end < 0:
            break
        fields.append(blob[pos:end].decode("utf-8", "replace"))
        pos = end + 1
    if len(fields) < 3 or fields[0] != "watcher" or fields[2] not in _SIZES:
        raise ValueError(f"{path} is not a Watcher log file: it does not start with the "
                         "header 'watcher', a variable name and a type letter (give a "
                         ".bin file a Logger or a Bela wrote)")
    magic, var_name, t = fields
    pos += 8  # pid, instance
    if pos % 4:
        pos += 4 - pos % 4
    n = bela_values_per_buffer(t, timestamp_mode)
    size = _SIZES[t]
    dtype = np.dtype(_DTYPES[t])
    buffers = []
    while pos + BODY_BYTES <= len(blob):
        ref = struct.unpack_from("<Q", blob, pos)[0]
        vals = np.frombuffer(blob, dtype, n, pos + 8)
        b = {"ref_timestamp": ref}
        if timestamp_mode == "sparse":
            r = (8 + size * n + 3) & ~3
            rel = np.frombuffer(blob, "<u4", n, pos + r)
            b["data"] = vals.copy() if as_numpy else _values_list(vals, t)
            b["rel_timestamps"] = rel.copy() if as_numpy else rel.tolist()
        else:
            b["data"] = vals.copy() if as_numpy else _values_list(vals, t)
        buffers.append(b)
        pos += BODY_BYTES
    return {"project_name": magic, "var_name": var_name, "type": t, "buffers": buffers}


def _values_list(vals, t):
    if t == "c":
        raw = vals.tobytes()
        return [raw[i:i + 1] for i in range(len(raw))]
    return vals.tolist()
