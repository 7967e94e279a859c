"""Fixtures for Scry's end-to-end tests: a real `scry serve` on a loopback
port over a fresh data folder, and small HTTP helpers (stdlib only).

The suite runs on either storage backend (tests/run runs it twice):
SCRY_E2E_BACKEND=embedded (the default: SQLite and a folder under the data
folder) or postgres+s3, where every Server gets its own PostgreSQL database
and S3 bucket (--meta, --blobs) on engines this module starts once per
session on loopback (tests/services.py) -- the same tests, not a copy.
Tests that look inside the embedded files (meta.db, blobs/) are marked
embedded_only."""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import atexit
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))
import services  # noqa: E402
SCRY = os.environ.get("SCRY_BIN", os.path.join(REPO, "build", "scry"))
SHARED = os.environ.get("SCRY_SHARED", os.path.join(REPO, "..", "shared"))
DARKNET = "/usr/share/darknet/data"
BACKEND = os.environ.get("SCRY_E2E_BACKEND", "embedded")
assert BACKEND in ("embedded", "postgres+s3"), BACKEND
embedded_only = pytest.mark.skipif(BACKEND != "embedded",
                                   reason="reads the embedded backend's files (meta.db, blobs/)")

_engines = None
_stores = {}


def engines():
    """The session's PostgreSQL and S3 servers (started on first use)."""
    global _engines
    if _engines is None:
        ok, why = services.available()
        if not ok:
            raise RuntimeError(why)
        pg = services.Postgres().start()
        s3 = services.S3Server().start()
        atexit.register(pg.destroy)
        atexit.register(s3.destroy)
        _engines = (pg, s3)
    return _engines


def backend_for(data_dir):
    """(args, env) putting a data folder's metadata and blobs on the session
    engines: one database and one bucket per data folder, kept across
    restarts of a server on the same folder."""
    if BACKEND == "embedded":
        return [], {}
    pg, s3 = engines()
    if data_dir not in _stores:
        name = "e2e-" + uuid.uuid4().hex[:12]
        _stores[data_dir] = (pg.create_db(name.replace("-", "_")), "s3://%s/scry" % s3.bucket(name))
    meta, blobs = _stores[data_dir]
    return ["--meta", meta, "--blobs", blobs, "--lease-s", "5"], s3.env()


free_port = services.free_port


def read(path):
    with open(path, "rb") as f:
        return f.read()


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


class Server:
    """A scry server process; start() may be called again after kill()."""

    def __init__(self, data_dir, extra_args=(), env=None, binary=None, cwd=None, replace_env=False,
                 backend=True):
        self.data_dir = data_dir
        bargs, benv = backend_for(data_dir) if backend else ([], {})
        self.extra_args = bargs + list(extra_args)
        self.env = dict(env or {}) if replace_env else dict(os.environ, **(env or {}))
        self.env.update(benv)
        self.binary = binary or SCRY
        self.cwd = cwd
        self.proc = None
        self.port = None
        self.key = None         # an admin key, for helpers such as wait_job (auth-on servers)
        self.log_path = os.path.join(os.path.dirname(data_dir), os.path.basename(data_dir) + ".log")
        os.makedirs(os.path.dirname(data_dir), exist_ok=True)

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def start_process(self):
        self.port = free_port()
        self.log = open(self.log_path, "ab")
        args = [self.binary, "serve", "--data", self.data_dir, "--port", str(self.port)] + self.extra_args
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log, env=self.env, cwd=self.cwd)

    def start(self, timeout=30):
        self.start_process()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("scry exited with %s: %s" % (self.proc.returncode, self.tail()))
            try:
                if self.get("/healthz").status == 200:
                    return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError("scry did not become healthy: " + self.tail())

    def tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        """Graceful stop (SIGTERM); asserts a clean exit so that sanitizer
        reports at exit (leaks) fail the test."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("scry did not stop on SIGTERM")
            self.log.close()
            assert rc == 0, "scry exited with %d:\n%s" % (rc, self.tail())
        self.proc = None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.log.close()
        self.proc = None

    def request(self, method, path, body=None, headers=None, timeout=60):
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return Response(r.status, dict(r.headers), r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, dict(e.headers), e.read())

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def delete(self, path):
        return self.request("DELETE", path)

    def upload(self, files, field="file"):
        """files: list of (filename, bytes). Multipart/form-data POST."""
        body, ctype = multipart(files, field)
        return self.request("POST", "/v1/images", body=body, headers={"Content-Type": ctype})

    def upload_raw(self, data, ctype="image/jpeg", filename=None):
        path = "/v1/images" + ("?filename=" + filename if filename else "")
        return self.request("POST", path, body=data, headers={"Content-Type": ctype})

    def wait_job(self, job_id, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.get("/v1/jobs/" + job_id, headers={"Authorization": "Bearer " + self.key} if self.key else None)
            assert r.status == 200, r.body
            j = r.json()
            if j["status"] in ("completed", "failed"):
                return j
            time.sleep(0.1)
        raise AssertionError("job %s did not finish" % job_id)


def stored_blobs(server):
    """The blob objects a server's store holds, whichever the backend (the
    folder's objects/ files, or the bucket's objects/ keys)."""
    if server.data_dir not in _stores:
        import glob
        return sorted(os.path.basename(os.path.dirname(p)) + os.path.basename(p)
                      for p in glob.glob(os.path.join(server.data_dir, "blobs", "objects", "*", "*")))
    bucket = _stores[server.data_dir][1][len("s3://"):].split("/")[0]
    keys = engines()[1].objects(bucket)
    return sorted(k.split("/")[-2] + k.split("/")[-1] for k in keys if "/objects/" in "/" + k)


def meta_row(server, sql):
    """The first row of a query on a server's metadata store, whichever the
    backend (SQL both engines read alike), as a tuple of ints or strings."""
    if server.data_dir not in _stores:
        import sqlite3
        con = sqlite3.connect(os.path.join(server.data_dir, "meta.db"))
        try:
            return tuple(con.execute(sql).fetchone())
        finally:
            con.close()
    db = _stores[server.data_dir][0].rsplit("/", 1)[1]
    out = engines()[0].psql(sql, db=db)
    return tuple(int(v) if v.lstrip("-").isdigit() else v for v in out.splitlines()[0].split("|"))


def multipart(files, field="file"):
    boundary = "scry-" + uuid.uuid4().hex
    parts = []
    for name, data in files:
        parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                      "Content-Type: application/octet-stream\r\n\r\n" % (boundary, field, name)).encode() + data + b"\r\n")
    body = b"".join(parts) + ("--%s--\r\n" % boundary).encode()
    return body, "multipart/form-data; boundary=" + boundary


def jpeg_with_exif(jpeg, make, model, date, gps=None):
    """Insert an EXIF APP1 segment (Make, Model, DateTimeOriginal and
    optionally GPS) into a JPEG that has none. Little-endian TIFF."""
    def ascii_entry(tag, s):
        return (tag, 2, s.encode() + b"\0")

    def rational3(vals):
        out = b""
        for v in vals:
            num = int(round(v * 10000))
            out += struct.pack("<II", num, 10000)
        return out

    def ifd(entries, offset, next_ifd=0):
        # entries: (tag, type, payload bytes or int for LONG)
        n = len(entries)
        head = struct.pack("<H", n)
        data_off = offset + 2 + n * 12 + 4
        body, extra = b"", b""
        for tag, typ, payload in sorted(entries, key=lambda e: e[0]):
            if typ == 4:  # LONG, value inline
                body += struct.pack("<HHII", tag, 4, 1, payload)
                continue
            count = len(payload) if typ in (2, 7) else len(payload) // 8
            if len(payload) <= 4:
                body += struct.pack("<HHI", tag, typ, count) + payload.ljust(4, b"\0")
            else:
                body += struct.pack("<HHII", tag, typ, count, data_off + len(extra))
                extra += payload
                if len(extra) % 2:
                    extra += b"\0"
        return head + body + struct.pack("<I", next_ifd) + extra

    # Layout: header(8) | IFD0 | ExifIFD | GPS IFD
    ifd0_entries = [ascii_entry(0x010F, make), ascii_entry(0x0110, model)]
    n0 = len(ifd0_entries) + 1 + (1 if gps else 0)
    ifd0_size_guess = 2 + n0 * 12 + 4 + sum(len(e[2]) + 1 for e in ifd0_entries)
    exif_off = 8 + ifd0_size_guess
    exif_ifd = ifd([ascii_entry(0x9003, date)], exif_off)
    gps_off = exif_off + len(exif_ifd)
    ifd0_entries.append((0x8769, 4, exif_off))
    gps_ifd = b""
    if gps:
        lat, lon = gps
        g = [(0x0001, 2, (b"N" if lat >= 0 else b"S") + b"\0"),
             (0x0002, 5, rational3(dms(abs(lat)))),
             (0x0003, 2, (b"E" if lon >= 0 else b"W") + b"\0"),
             (0x0004, 5, rational3(dms(abs(lon))))]
        gps_ifd = ifd(g, gps_off)
        ifd0_entries.append((0x8825, 4, gps_off))
    ifd0 = ifd(ifd0_entries, 8)
    assert len(ifd0) <= ifd0_size_guess, (len(ifd0), ifd0_size_guess)
    ifd0 = ifd0.ljust(ifd0_size_guess, b"\0")
    tiff = b"II*\0" + struct.pack("<I", 8) + ifd0 + exif_ifd + gps_ifd
    app1 = b"Exif\0\0" + tiff
    seg = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + seg + jpeg[2:]


def dms(v):
    d = int(v)
    m = int((v - d) * 60)
    s = (v - d - m / 60) * 3600
    return [d, m, s]


@pytest.fixture
def tmpdir_path():
    d = tempfile.mkdtemp(prefix="scry-e2e-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def server(tmpdir_path):
    s = Server(os.path.join(tmpdir_path, "data"), ["--workers", "2"])
    s.start()
    yield s
    s.stop()


@pytest.fixture
def small_server(tmpdir_path):
    """A server with a 1 MiB upload limit."""
    s = Server(os.path.join(tmpdir_path, "data"), ["--workers", "1", "--max-upload-mb", "1"])
    s.start()
    yield s
    s.stop()


def bootstrap_key(server, timeout=10):
    """The one-time admin key an auth-on server printed to its log."""
    import re
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(r"event=auth\.bootstrap_key .*key=(scry_[0-9a-f]{24}_[0-9a-f]{64})", server.tail(100000))
        if m:
            return m.group(1)
        time.sleep(0.05)
    raise AssertionError("no bootstrap key in the log: " + server.tail())


def bearer(key):
    return {"Authorization": "Bearer " + key}


@pytest.fixture
def auth_server(tmpdir_path):
    """A server with --auth on (loopback) and its bootstrap admin key."""
    s = Server(os.path.join(tmpdir_path, "data"), ["--workers", "1", "--vision", "0", "--auth", "on"])
    s.start()
    s.key = bootstrap_key(s)
    yield s
    s.stop()
