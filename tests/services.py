"""The real engines the tests run Scry against, started by the tests
themselves on loopback ports over temporary folders, and stopped by them:

  PostgreSQL 15 (Debian's postgresql-15): initdb into a temp folder, then
  `pg_ctl start` on 127.0.0.1:PORT with its socket in that folder. As root
  (CI), the server runs as the `postgres` system user the package creates
  (PostgreSQL refuses to run as root). Durability settings are relaxed
  (fsync=off): tests check behaviour, not power-cut survival, and the disk
  is shared; the benchmarks (bench/cluster) use the defaults.

  s3rver (npm, deps/s3rver, scripts/setup.d/45-s3rver.sh): an S3-compatible
  server keeping objects in a temp folder (a bucket is a folder). It knows
  the access key S3RVER (secret S3RVER) and answers path-style requests and
  virtual-host ones for BUCKET.s3.localhost (--service-endpoint localhost).
  It does not verify SigV4 signatures (its code says so), so the S3 tests
  put tests/s3/sigv4_proxy.py in front of it, which does.

Used as a module by tests/e2e/conftest.py and bench/cluster, and as a
command by tests/run:

  python3 tests/services.py pg-start DIR     prints the postgres:// URL
  python3 tests/services.py pg-stop DIR
  python3 tests/services.py s3-start DIR     prints the endpoint (buckets are
                                             folders: DIR/s3/BUCKET)
  python3 tests/services.py s3-stop DIR
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PG_BIN = "/usr/lib/postgresql/15/bin"
DEPS = os.environ.get("SCRY_DEPS", os.path.join(REPO, "deps"))
S3RVER = os.path.join(DEPS, "s3rver", "node_modules", "s3rver", "bin", "s3rver.js")
S3_KEY = "S3RVER"
S3_SECRET = "S3RVER"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def available():
    """(ok, reason): whether both engines are installed (scripts/setup.sh)."""
    if not os.path.exists(os.path.join(PG_BIN, "postgres")):
        return False, "PostgreSQL 15 is not installed (run ./scripts/setup.sh)"
    if not os.path.exists(S3RVER):
        return False, "s3rver is not installed (run ./scripts/setup.sh)"
    return True, ""


def _as_pg_user(args):
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + args
    return args


class Postgres:
    """A PostgreSQL server of its own: start(), url(db), restart(), stop()."""

    def __init__(self, base_dir=None, port=None, fast=True):
        self.dir = os.path.join(base_dir or tempfile.mkdtemp(prefix="scry-pg-"), "pgdata")
        self.port = port or free_port()
        self.fast = fast
        self.started = False

    def _chown(self, path):
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def init(self):
        os.makedirs(self.dir, exist_ok=True)
        self._chown(os.path.dirname(self.dir))
        self._chown(self.dir)
        os.chmod(os.path.dirname(self.dir), 0o755)
        if not os.path.exists(os.path.join(self.dir, "PG_VERSION")):
            subprocess.run(_as_pg_user([PG_BIN + "/initdb", "-D", self.dir, "-A", "trust", "-U", "postgres",
                                        "-E", "UTF8", "--locale=C", "--no-sync"]),
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self, timeout=60):
        self.init()
        opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200" % (self.port, self.dir)
        if self.fast:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        subprocess.run(_as_pg_user([PG_BIN + "/pg_ctl", "-D", self.dir, "-o", opts, "-l",
                                    os.path.join(self.dir, "server.log"), "-w", "-t", str(timeout), "start"]),
                       check=True, stdout=subprocess.DEVNULL)
        self.started = True
        return self

    def stop(self, mode="fast"):
        if self.started:
            subprocess.run(_as_pg_user([PG_BIN + "/pg_ctl", "-D", self.dir, "-m", mode, "-w", "stop"]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.started = False

    def restart(self):
        self.stop()
        self.start()

    def psql(self, sql, db="postgres"):
        out = subprocess.run([PG_BIN + "/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                              "-d", db, "-tAc", sql], check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def create_db(self, name):
        self.psql('CREATE DATABASE "%s"' % name)
        return self.url(name)

    def url(self, db="postgres"):
        return "postgres://postgres@127.0.0.1:%d/%s" % (self.port, db)

    def destroy(self):
        self.stop()
        shutil.rmtree(os.path.dirname(self.dir), ignore_errors=True)


class S3Server:
    """s3rver on an inner loopback port behind tests/s3/sigv4_proxy.py (which
    verifies every request's signature) on the public one; bucket(name)
    creates a bucket. outage() stops s3rver alone (the proxy then answers
    503, as S3 does when it is unavailable) and recover() brings it back."""

    def __init__(self, base_dir=None, port=None):
        self.dir = os.path.join(base_dir or tempfile.mkdtemp(prefix="scry-s3-"), "s3")
        self.port = port or free_port()
        self.inner = free_port()
        self.proc = self.proxy = None

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def _wait(self, port, proc, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("s3 server exited: %s" % open(self.dir + ".log", "rb").read()[-2000:])
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("s3 server did not start")

    def _start_s3rver(self, timeout):
        self.proc = subprocess.Popen(["node", S3RVER, "--address", "127.0.0.1", "--port", str(self.inner),
                                      "--directory", self.dir, "--service-endpoint", "localhost", "--silent"],
                                     stdout=self.log, stderr=self.log)
        self._wait(self.inner, self.proc, timeout)

    def start(self, timeout=30):
        os.makedirs(self.dir, exist_ok=True)
        self.log = open(self.dir + ".log", "ab")
        self._start_s3rver(timeout)
        self.proxy = subprocess.Popen([sys.executable, os.path.join(REPO, "tests", "s3", "sigv4_proxy.py"),
                                       str(self.port), str(self.inner), S3_KEY, S3_SECRET],
                                      stdout=self.log, stderr=self.log)
        self._wait(self.port, self.proxy, timeout)
        return self

    def bucket(self, name):
        """Create a bucket (s3rver keeps it as a folder). Returns its name."""
        os.makedirs(os.path.join(self.dir, name), exist_ok=True)
        return name

    def objects(self, name):
        """Keys stored in a bucket (s3rver's folder layout), for checks."""
        root = os.path.join(self.dir, name)
        out = []
        for d, _, files in os.walk(root):
            for f in files:
                if f.endswith("._S3rver_object"):
                    out.append(os.path.relpath(os.path.join(d, f), root)[:-len("._S3rver_object")])
        return sorted(out)

    def env(self):
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": S3_KEY,
                "AWS_SECRET_ACCESS_KEY": S3_SECRET, "AWS_REGION": "us-east-1"}

    @staticmethod
    def _end(proc):
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def outage(self):
        self._end(self.proc)

    def recover(self, timeout=30):
        self._start_s3rver(timeout)

    def stop(self):
        self._end(self.proxy)
        self._end(self.proc)
        if self.proc:
            self.log.close()
        self.proc = self.proxy = None

    def destroy(self):
        self.stop()
        shutil.rmtree(os.path.dirname(self.dir), ignore_errors=True)


def main(argv):
    if len(argv) >= 3 and argv[1] == "pg-start":
        pg = Postgres(base_dir=argv[2])
        pg.start()
        print(pg.url())
        return 0
    if len(argv) >= 3 and argv[1] == "pg-stop":
        d = os.path.join(argv[2], "pgdata")
        subprocess.run(_as_pg_user([PG_BIN + "/pg_ctl", "-D", d, "-m", "fast", "-w", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(argv[2], ignore_errors=True)
        return 0
    if len(argv) >= 3 and argv[1] == "s3-start":
        s3 = S3Server(base_dir=argv[2])
        s3.start()
        with open(os.path.join(argv[2], "pid"), "w") as f:
            f.write("%d %d" % (s3.proc.pid, s3.proxy.pid))
        print(s3.endpoint)
        return 0
    if len(argv) >= 3 and argv[1] == "s3-stop":
        try:
            for pid in open(os.path.join(argv[2], "pid")).read().split():
                os.kill(int(pid), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
        shutil.rmtree(argv[2], ignore_errors=True)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
