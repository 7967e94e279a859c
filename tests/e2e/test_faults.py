"""Faults (issue 13): a full disk during uploads and during indexing, model
files missing or corrupt, SQLite busy, and SIGKILL at 20 random points of a
200-photo job. Real server processes, real files, a real small tmpfs."""
import glob
import hashlib
import os
import random
import shutil
import sqlite3
import subprocess
import threading
import time

import pytest

from conftest import embedded_only, DARKNET, SCRY, SHARED, Server, read

# A full disk under the data folder, SQLite locks, meta.db read directly.
pytestmark = embedded_only

DOG = os.path.join(DARKNET, "dog.jpg")


@pytest.fixture
def small_disk(tmpdir_path):
    """A 24 MiB tmpfs (needs root, as in CI); skipped where mounting is not allowed."""
    mnt = os.path.join(tmpdir_path, "disk")
    os.makedirs(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + r.stderr.decode().strip())
    yield mnt
    subprocess.run(["umount", "-l", mnt], capture_output=True)


def fill(path):
    """Write a file until the disk is full."""
    block = b"\0" * (1 << 16)
    with open(path, "wb") as f:
        try:
            while True:
                f.write(block)
                f.flush()
        except OSError:
            pass
    # Whatever a partial block left: fill it byte by byte.
    with open(path + ".2", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass


def tmp_files(server):
    return os.listdir(os.path.join(server.data_dir, "blobs", "tmp"))


def test_disk_full_upload_507_then_indexing_waits_and_resumes(small_disk):
    data = os.path.join(small_disk, "data")
    s = Server(data, ["--workers", "0", "--vision", "0"]).start()
    photos = [(n, read(os.path.join(DARKNET, n))) for n in ("dog.jpg", "horses.jpg", "person.jpg")]
    try:
        r = s.upload(photos)
        assert r.status == 202, r.body
        ids = [i["id"] for i in r.json()["images"]]
        job_id = r.json()["job_id"]
        filler = os.path.join(small_disk, "filler")
        fill(filler)
        r = s.upload([("eagle.jpg", read(os.path.join(DARKNET, "eagle.jpg")))])
        assert r.status == 507, r.body
        assert r.json()["error"]["code"] == "insufficient_storage"
        assert tmp_files(s) == []                                # no partial blob
        assert s.get("/v1/images").json()["total"] == 3
        for i, (name, b) in zip(ids, photos):                    # earlier data intact
            assert s.get("/v1/images/%s/content" % i).body == b
    finally:
        s.stop()
    # Indexing on a (nearly) full disk: 48 KiB left, so that the first
    # database writes may pass and a thumbnail or a later commit fails.
    # Nothing fails: the work waits for room (claims are retried, a stage
    # that hit ENOSPC is retried), and resumes when there is room.
    os.truncate(filler, os.path.getsize(filler) - 48 * 1024)
    s = Server(data, ["--workers", "1", "--vision", "0"]).start()
    try:
        deadline = time.time() + 60
        full = ("disk is full", "No space left")
        while not any(m in s.tail(200000) for m in full) and time.time() < deadline:
            time.sleep(0.2)
        assert any(m in s.tail(200000) for m in full), s.tail()
        time.sleep(2)
        job = s.get("/v1/jobs/" + job_id).json()
        assert job["failed"] == 0 and job["done"] < 3 and job["status"] in ("pending", "running"), job
        os.remove(filler)
        os.remove(filler + ".2")
        job = s.wait_job(job_id, timeout=60)
        assert (job["status"], job["done"], job["failed"], job["errors"]) == ("completed", 3, 0, []), job
        for i in ids:
            img = s.get("/v1/images/" + i).json()
            assert img["status"] == "ready" and img["colors"], img
            assert s.get("/v1/images/%s/thumbnail" % i).status == 200
        r = s.upload([("eagle.jpg", read(os.path.join(DARKNET, "eagle.jpg")))])
        assert r.status == 202                                   # room again: uploads too
        assert s.wait_job(r.json()["job_id"])["done"] == 1
    finally:
        s.stop()


def models_copy(tmpdir_path, broken=None, how="missing"):
    src = os.path.abspath(os.path.join(os.path.dirname(SCRY), "..", "deps", "models"))
    dst = os.path.join(tmpdir_path, "models-" + how)
    os.makedirs(dst)
    for f in os.listdir(src):
        if f == broken and how == "missing":
            continue
        if f == broken and how == "corrupt":
            with open(os.path.join(dst, f), "wb") as out:
                out.write(read(os.path.join(src, f))[:4096] + os.urandom(4096))
            continue
        os.symlink(os.path.join(src, f), os.path.join(dst, f))
    return dst


@pytest.mark.parametrize("how", ["missing", "corrupt"])
def test_bad_model_file_stops_startup_clearly(tmpdir_path, how):
    models = models_copy(tmpdir_path, "centernet.onnx", how)
    r = subprocess.run([SCRY, "serve", "--data", os.path.join(tmpdir_path, "d"), "--port", "0",
                        "--models", models], capture_output=True, timeout=120)
    assert r.returncode != 0
    err = r.stderr.decode()
    assert "centernet.onnx" in err and "setup.sh" in err, err
    # --vision -1 runs without what is missing (corrupt is still an error).
    s = Server(os.path.join(tmpdir_path, "d2"), ["--workers", "1", "--models", models, "--vision", "-1"])
    if how == "missing":
        s.start()
        try:
            r = s.upload([("dog.jpg", read(DOG))])
            job = s.wait_job(r.json()["job_id"])
            assert (job["status"], job["done"]) == ("completed", 1)
            img = s.get("/v1/images/" + r.json()["images"][0]["id"]).json()
            assert img["tags"] == [] and img["colors"]              # no detector, the rest ran
        finally:
            s.stop()


def test_model_file_removed_while_running(tmpdir_path):
    """Models are loaded at start: one deleted or corrupted under a running
    server changes nothing until the next start, which then refuses it."""
    models = models_copy(tmpdir_path, "emotion.onnx", "keep")
    s = Server(os.path.join(tmpdir_path, "data"), ["--workers", "1", "--models", models, "--ocr", "0"]).start()
    try:
        os.remove(os.path.join(models, "emotion.onnx"))
        with open(os.path.join(models, "centernet.onnx.new"), "wb") as f:
            f.write(b"garbage")
        os.replace(os.path.join(models, "centernet.onnx.new"), os.path.join(models, "centernet.onnx"))
        r = s.upload([("person.jpg", read(os.path.join(DARKNET, "person.jpg")))])
        job = s.wait_job(r.json()["job_id"])
        assert (job["status"], job["done"], job["failed"]) == ("completed", 1, 0), job
        img = s.get("/v1/images/" + r.json()["images"][0]["id"]).json()
        assert "person" in [t["label"] for t in img["tags"]]
    finally:
        s.stop()
    r = subprocess.run([SCRY, "serve", "--data", os.path.join(tmpdir_path, "data"), "--port", "0",
                        "--models", models], capture_output=True, timeout=120)
    assert r.returncode != 0 and b"setup.sh" in r.stderr


def test_sqlite_busy(tmpdir_path):
    s = Server(os.path.join(tmpdir_path, "data"), ["--workers", "1", "--vision", "0"]).start()
    db = os.path.join(s.data_dir, "meta.db")
    try:
        first = s.upload([("dog.jpg", read(DOG))]).json()
        s.wait_job(first["job_id"])
        # Another process holds the write lock for 3 s: the upload waits, then succeeds.
        def hold(seconds, ready):
            c = sqlite3.connect(db, timeout=30, isolation_level=None)
            c.execute("BEGIN IMMEDIATE")
            ready.set()
            time.sleep(seconds)
            c.execute("COMMIT")
            c.close()
        ready = threading.Event()
        t = threading.Thread(target=hold, args=(3, ready))
        t.start()
        ready.wait()
        t0 = time.time()
        assert s.get("/v1/images").status == 200                 # readers are not blocked (WAL)
        r = s.upload([("horses.jpg", read(os.path.join(DARKNET, "horses.jpg")))])
        waited = time.time() - t0
        t.join()
        assert r.status == 202 and 2 < waited < 10, (r.status, waited)
        s.wait_job(r.json()["job_id"])
        # Held past the 10 s busy timeout: a clear 503, nothing stored, then fine.
        ready = threading.Event()
        t = threading.Thread(target=hold, args=(13, ready))
        t.start()
        ready.wait()
        r = s.upload([("person.jpg", read(os.path.join(DARKNET, "person.jpg")))], )
        t.join()
        assert r.status == 503 and r.json()["error"]["code"] == "busy", r.body
        assert s.get("/v1/images").json()["total"] == 2
        assert tmp_files(s) == []
        r = s.upload([("person.jpg", read(os.path.join(DARKNET, "person.jpg")))])
        assert r.status == 202
        assert s.wait_job(r.json()["job_id"])["done"] == 1
    finally:
        s.stop()


def test_sigkill_at_20_random_points_of_a_200_photo_job(tmpdir_path):
    photos = sorted(glob.glob(os.path.join(SHARED, "data", "coco", "images", "*.jpg")))[:200]
    assert len(photos) == 200
    files = [(os.path.basename(p), read(p)) for p in photos]
    # Bounded attempts stay on (10): a kill costs the items in flight one.
    s = Server(os.path.join(tmpdir_path, "data"), ["--workers", "2", "--vision", "0", "--max-attempts", "10", "--rate-ip", "0"]).start()
    r = s.upload(files)
    assert r.status == 202, r.body
    doc = r.json()
    job_id = doc["job_id"]
    # 20 random points of the job: kill once `done` reaches each target
    # (plus 0-50 ms, so a kill lands anywhere inside an image's stages).
    rnd = random.Random(int(os.environ.get("SCRY_KILL_SEED", "13")))
    targets = sorted(rnd.sample(range(1, 190), 20))
    done_at_kill = []
    for target in targets:
        deadline = time.time() + 120
        done = 0
        while time.time() < deadline:
            try:
                done = s.get("/v1/jobs/" + job_id, timeout=10).json()["done"]
            except OSError:
                pass
            if done >= target:
                break
            time.sleep(0.01)
        time.sleep(rnd.uniform(0, 0.05))
        done_at_kill.append(done)
        s.kill()
        s.start(timeout=60)
    try:
        job = s.wait_job(job_id, timeout=600)
        assert (job["status"], job["total"], job["done"], job["failed"]) == ("completed", 200, 200, 0), job
        print("sigkill: done at each kill", done_at_kill)
        assert all(0 < d < 200 for d in done_at_kill), done_at_kill  # every kill landed mid-job
        jobs = s.get("/v1/jobs?limit=100").json()["jobs"]
        assert [j["status"] for j in jobs] == ["completed"]        # 0 jobs stuck
        for img, (name, data) in zip(doc["images"], files):         # 0 uploads lost
            r = s.get("/v1/images/%s/content" % img["id"])
            assert r.status == 200 and hashlib.sha256(r.body).hexdigest() == hashlib.sha256(data).hexdigest(), name
            assert s.get("/v1/images/" + img["id"]).json()["status"] == "ready"
        metrics = s.get("/metrics").body.decode()
        live = [l for l in metrics.splitlines() if l.startswith("scry_index_live ")]
        assert live == ["scry_index_live 200"], live              # indexed once each
    finally:
        s.stop()
    c = sqlite3.connect(os.path.join(s.data_dir, "meta.db"))
    assert c.execute("SELECT count(*), count(DISTINCT image_rowid) FROM image_vectors").fetchone() == (200, 200)
    assert c.execute("SELECT count(*) FROM images_fts").fetchone() == (200,)
    assert c.execute("SELECT count(*) FROM job_items WHERE status != 'done'").fetchone() == (0,)
    c.close()
