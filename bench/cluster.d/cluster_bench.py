"""The driver of bench/cluster (see there). Real processes on loopback:
`build/scry serve --role ...` nodes, PostgreSQL 15 and s3rver started by
tests/services.py, uploads over HTTP. Prints a table per part and the
summary line last."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
import services  # noqa: E402
from conftest import Server, read  # noqa: E402

SHARED = os.environ.get("SCRY_SHARED", os.path.join(REPO, "..", "shared"))
PHOTOS = sorted(glob.glob(os.path.join(SHARED, "data", "coco", "images", "*.jpg")))
NPHOTOS = int(os.environ.get("CLUSTER_PHOTOS", "40"))
NIMAGES = int(os.environ.get("CLUSTER_IMAGES", "100000"))
BIN = os.path.join(REPO, "build")


def index_rate(nodes, api, photos):
    """Upload photos to api, wait for the job: images/s from upload to done."""
    t0 = time.time()
    r = api.upload([(os.path.basename(p), read(p)) for p in photos])
    assert r.status == 202, r.body
    j = api.wait_job(r.json()["job_id"], timeout=3600)
    dt = time.time() - t0
    assert j["done"] == len(photos), j
    for n in nodes:
        n.stop()
    return len(photos) / dt, dt


def part_indexing(work, pg, s3):
    photos = PHOTOS[:NPHOTOS]
    print("\n1. indexing %d COCO photos (full pipeline with the models)" % len(photos))
    print("%-44s %10s %10s" % ("setup", "images/s", "seconds"))
    rows = {}
    s = Server(os.path.join(work, "emb", "data"), ["--workers", "2"], backend=False).start()
    rows["embedded"] = index_rate([s], s, photos)
    print("%-44s %10.2f %10.1f" % ("embedded: 1 process, 2 worker threads", *rows["embedded"]))
    for nw in (1, 2):
        name = "c%d" % nw
        meta = pg.create_db(name)
        blobs = "s3://%s/bench" % s3.bucket("bench-" + name)
        common = ["--meta", meta, "--blobs", blobs]
        api = Server(os.path.join(work, name, "api"), common + ["--role", "api"], env=s3.env(),
                     backend=False).start()
        ws = [Server(os.path.join(work, name, "w%d" % i), common + ["--role", "worker", "--workers", "1"],
                     env=s3.env(), backend=False).start() for i in range(nw)]
        rows[nw] = index_rate([api] + ws, api, photos)
        print("%-44s %10.2f %10.1f" % ("cluster: api + %d worker process%s (1 thread each)"
                                       % (nw, "" if nw == 1 else "es"), *rows[nw]))
    return rows[2][0] / rows[1][0], rows


def upload_rate(server, payloads):
    total = 0
    t0 = time.time()
    for batch in payloads:
        r = server.upload(batch)
        assert r.status == 202, r.body[:300]
        total += sum(len(b) for _, b in batch)
    return total / (time.time() - t0) / 2**20


def part_upload(work, s3):
    photos = PHOTOS[:120]
    batches = [[(os.path.basename(p), read(p)) for p in photos[i:i + 10]] for i in range(0, len(photos), 10)]
    big = [[("big.jpg", b"\xff\xd8\xff\xe0" + os.urandom(40 << 20))]]
    mib = sum(len(b) for bt in batches for _, b in bt) / 2**20
    print("\n2. upload throughput, no indexing (--workers 0), metadata on SQLite")
    print("%-44s %12s %14s" % ("blob store", "MiB/s photos", "MiB/s 40 MiB"))
    res = {}
    for kind in ("local", "s3"):
        args = ["--workers", "0"]
        if kind == "s3":
            args += ["--blobs", "s3://%s/up" % s3.bucket("bench-upload")]
        s = Server(os.path.join(work, "up-" + kind, "data"), args, env=s3.env(), backend=False).start()
        res[kind] = (upload_rate(s, batches), upload_rate(s, big))
        s.stop()
        print("%-44s %12.1f %14.1f" % ("local folder (fsync)" if kind == "local" else
                                       "S3 (s3rver + SigV4 proxy, loopback)", *res[kind]))
    print("(%d photos, %.1f MiB, in requests of 10)" % (len(photos), mib))
    return res["s3"][0] / res["local"][0], res


def start_bench(meta, blobs, idx, env):
    out = subprocess.run([os.path.join(BIN, "bench", "start_bench"), meta, blobs, idx,
                          os.environ.get("CLUSTER_START_ROUNDS", "1")],
                         capture_output=True, text=True, env=dict(os.environ, **env), cwd=REPO)
    if out.returncode:
        raise RuntimeError(out.stderr)
    for line in out.stdout.splitlines():
        print("   " + line)
    last = out.stdout.strip().splitlines()[-1]
    return dict(kv.split("=") for kv in last.split()[1:])


def populate(dir_, meta, n):
    env = dict(os.environ, SEARCH_BENCH_POPULATE_ONLY="1")
    if meta:
        # Writing 100k images is set-up, not what is measured: commits are
        # not waited for (synchronous_commit=off for this session only).
        env["SEARCH_BENCH_META"] = meta + "?options=-c%20synchronous_commit%3Doff"
    t0 = time.time()
    subprocess.run([os.path.join(BIN, "bench", "search_bench"), dir_, str(n)], check=True, env=env, cwd=REPO,
                   stdout=subprocess.DEVNULL)
    return time.time() - t0


def part_start(work, pg, s3):
    print("\n3. search-node start at %d synthetic images (median of CLUSTER_START_ROUNDS, 1)" % NIMAGES)
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else work
    res = {}
    meta = pg.create_db("start")
    t = populate(os.path.join(work, "start-pg"), meta, NIMAGES)
    print("   PostgreSQL populated in %.0f s" % t)
    res["pg"] = start_bench(meta, "s3://%s/snap" % s3.bucket("bench-start"), os.path.join(work, "idx-pg"), s3.env())
    emb = tempfile.mkdtemp(prefix="scry-bench-start-", dir=shm)
    try:
        t = populate(emb, None, NIMAGES)
        print("   SQLite populated in %.0f s" % t)
        res["sqlite"] = start_bench(os.path.join(emb, "meta.db"), os.path.join(emb, "blobs"),
                                    os.path.join(emb, "idx"), {})
    finally:
        shutil.rmtree(emb, ignore_errors=True)
    print("%-44s %12s %14s %12s" % ("metadata + snapshot store", "rebuild s", "snapshot s", "snapshot MiB"))
    for k, label in (("pg", "PostgreSQL + S3"), ("sqlite", "embedded (SQLite + folder)")):
        r = res[k]
        print("%-44s %12s %14s %12.1f" % (label, r["rebuild_s"], r["snapshot_s"], int(r["snapshot_bytes"]) / 2**20))
    return res


def main():
    ok, why = services.available()
    if not ok:
        sys.exit("bench/cluster: " + why)
    work = tempfile.mkdtemp(prefix="scry-bench-cluster-")
    pg = services.Postgres(base_dir=work, fast=False).start()
    s3 = services.S3Server(base_dir=work).start()
    try:
        w21, _ = part_indexing(work, pg, s3)
        s3l, _ = part_upload(work, s3)
        st = part_start(work, pg, s3)
    finally:
        s3.destroy()
        pg.destroy()
        shutil.rmtree(work, ignore_errors=True)
    print("\ncluster: workers2_vs_1=%.2f s3_upload_vs_local=%.2f search_start_snapshot_s=%s search_start_rebuild_s=%s"
          % (w21, s3l, st["pg"]["snapshot_s"], st["pg"]["rebuild_s"]))


if __name__ == "__main__":
    main()
