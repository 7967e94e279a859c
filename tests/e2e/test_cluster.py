"""Scry as a cluster on real engines (issue 12): PostgreSQL 15 and an
S3-compatible server (s3rver behind a SigV4-checking proxy), both started
here on loopback ports over temp folders (tests/services.py), and several
`scry serve --role ...` processes sharing them.

  - test_cluster: 1 api, 2 workers, 1 search node; 60 photos; one worker is
    SIGKILLed while it holds a claim; the other finishes its item once the
    lease runs out; every photo is then found by the search node and its
    bytes come back identical from S3; the search node is restarted and is
    ready from its snapshot, faster than a node rebuilding from rows
    (measured here over the 60 photos plus 4000 synthetic rows);
  - people on a cluster: the workers cluster, the api names, the search
    node finds the person by name;
  - a search node that was down catches up (new images, deletes);
  - an S3 outage during an upload is a clear 503 and leaves no row;
  - a PostgreSQL restart in the middle of a job is survived.

They run once per build, in the embedded pass of tests/run (the
postgres+s3 pass runs the rest of the suite on these engines)."""
import hashlib
import glob
import os
import re
import signal
import time

import pytest

from conftest import BACKEND, SCRY, SHARED, Server, read
import services

COCO = sorted(glob.glob(os.path.join(SHARED, "data", "coco", "images", "*.jpg")))
ASAN = "asan" in os.path.basename(os.path.dirname(SCRY))

pytestmark = [
    pytest.mark.skipif(BACKEND != "embedded", reason="runs once, in the embedded pass"),
    pytest.mark.skipif(not services.available()[0], reason=services.available()[1]),
]


@pytest.fixture
def cluster(tmpdir_path):
    """Fresh engines for one test, and a factory for nodes sharing them."""
    pg = services.Postgres(base_dir=tmpdir_path).start()
    s3 = services.S3Server(base_dir=tmpdir_path).start()
    meta = pg.create_db("scry")
    blobs = "s3://%s/cluster" % s3.bucket("scry-cluster")
    nodes = []

    def node(name, role, *args):
        s = Server(os.path.join(tmpdir_path, name),
                   ["--role", role, "--meta", meta, "--blobs", blobs, "--lease-s", "3",
                    "--s3-retry-s", "3"] + list(args), env=s3.env(), backend=False)
        nodes.append(s)
        return s

    c = type("Cluster", (), {})()
    c.pg, c.s3, c.meta, c.node, c.bucket = pg, s3, meta, node, "scry-cluster"
    yield c
    for s in nodes:
        try:
            s.stop()
        except AssertionError:
            s.kill()
    s3.destroy()
    pg.destroy()


def wait_for(fn, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def search_ids(server, q, limit=200):
    r = server.get("/v1/search?q=%s&limit=%d" % (q, limit))
    assert r.status == 200, r.body
    return [x["id"] for x in r.json()["results"]]


def ready_line(server):
    m = re.findall(r"event=search\.ready from_snapshot=(\d) images=(\d+) seq=\d+ ms=([\d.]+)", server.tail(200000))
    return m[-1] if m else None


def test_cluster(cluster):
    vision = ["--vision", "0"] if ASAN else []     # the sanitizer build: pipeline without models
    api = cluster.node("api", "api").start()
    w1 = cluster.node("w1", "worker", "--workers", "1", *vision).start()
    w2 = cluster.node("w2", "worker", "--workers", "1", *vision).start()
    search = cluster.node("search", "search", "--snapshot-s", "1").start()
    assert api.get("/healthz").json()["role"] == "api"
    assert search.get("/healthz").json()["role"] == "search"
    assert w1.get("/v1/images").status == 404           # a worker serves no API

    photos = COCO[:60]
    assert len(photos) == 60, "needs the COCO development photos in ../shared"
    r = api.upload([(os.path.basename(p), read(p)) for p in photos])
    assert r.status == 202, r.body
    job = r.json()["job_id"]
    ids = {im["filename"]: im["id"] for im in r.json()["images"]}

    # SIGKILL worker 1 while it holds a claim (claimed_by names host:pid).
    def w1_running():
        return cluster.pg.psql("SELECT count(*) FROM job_items WHERE status = 'running' AND "
                               "claimed_by LIKE '%%:%d'" % w1.proc.pid, db="scry") != "0"
    wait_for(w1_running, 120, "worker 1 to claim an item")
    stranded = cluster.pg.psql("SELECT image_id FROM job_items WHERE status = 'running' AND "
                               "claimed_by LIKE '%%:%d'" % w1.proc.pid, db="scry").split()
    w1.kill()
    t_kill = time.time()

    j = api.wait_job(job, timeout=600)
    assert j["status"] == "completed" and j["done"] == 60 and j["failed"] == 0, j
    # The stranded item was taken back after its lease and done by worker 2.
    for image_id in stranded:
        row = cluster.pg.psql("SELECT status, attempts, claimed_by FROM job_items WHERE image_id = '%s'"
                              % image_id, db="scry").split("|")
        assert row[0] == "done" and int(row[1]) >= 2 and row[2].endswith(":%d" % w2.proc.pid), row
    assert "reason=lease" in w2.tail(400000)
    print("worker killed holding %d item(s); job completed %.1f s later" % (len(stranded), time.time() - t_kill))

    # Every photo is searchable from the search node (by its file name).
    for name, image_id in ids.items():
        assert image_id in search_ids(search, os.path.splitext(name)[0]), name
    # Bytes identical from S3, through the API and in the bucket itself.
    for name in list(ids)[:10]:
        src = read(next(p for p in photos if os.path.basename(p) == name))
        got = search.get("/v1/images/%s/content" % ids[name])
        assert got.status == 200 and got.body == src, name
        sha = hashlib.sha256(src).hexdigest()
        assert "cluster/objects/%s/%s" % (sha[:2], sha[2:]) in cluster.s3.objects(cluster.bucket)

    # A new image is visible on the search node within a second of its job.
    # (a name of digits, like COCO's: found by its words alone whatever the
    # models -- "late arrival" has a sentence vector that an image without
    # a caption, the sanitizer build's --vision 0, does not come near)
    r = api.upload([("424242424242.jpg", read(COCO[60]))])
    late = r.json()["images"][0]["id"]
    api.wait_job(r.json()["job_id"], timeout=120)
    t0 = time.time()
    wait_for(lambda: late in search_ids(search, "424242424242"), 1.0, "the search node to see a new image")
    print("new image visible on the search node %.0f ms after its job completed" % ((time.time() - t0) * 1000))

    # Restart the search node: ready from its snapshot, faster than a node
    # that rebuilds from rows. 4000 synthetic rows make the difference
    # measurable (the API's rows alone take milliseconds either way).
    ready_before = search.get("/v1/facets").json()["images"]      # (before: the follower may be quick)
    cluster.pg.psql(
        "INSERT INTO images(id, sha256, filename, format, bytes, status, caption, tags_json, created_at, updated_at)"
        " SELECT lpad(to_hex(g), 24, '0'), repeat('0', 64), 'synthetic_' || g || '.jpg', 'jpeg', 1, 'ready',"
        " 'a dog and a cat on a sofa', '[{\"label\":\"dog\",\"score\":0.9,\"box\":[1,2,3,4]},"
        "{\"label\":\"cat\",\"score\":0.8,\"box\":[5,6,7,8],\"color\":\"white\"}]', 0, 0"
        " FROM generate_series(1, 4000) g", db="scry")
    wait_for(lambda: search.get("/v1/facets").json()["images"] == ready_before + 4000, 30,
             "the search node to apply the synthetic rows")      # (its catalog's ready images)
    time.sleep(1.5)                                      # a snapshot after them (--snapshot-s 1)
    search.stop()                                        # and one at shutdown
    search.start()
    snap = ready_line(search)
    assert snap and snap[0] == "1", search.tail()
    rebuild = cluster.node("search2", "search", "--snapshot-s", "0").start()
    full = ready_line(rebuild)
    assert full and full[0] == "0", rebuild.tail()
    assert snap[1] == full[1]                            # the same images either way
    print("search node start at %s images: snapshot %s ms, rebuild %s ms" % (snap[1], snap[2], full[2]))
    assert float(snap[2]) < float(full[2]), (snap, full)
    assert late in search_ids(search, "424242424242")


def test_people_across_roles(cluster):
    """People on a cluster: two worker processes cluster the faces they
    index (taking turns through the clustering lock), the api serves the
    People routes and face crops from S3, the search node resolves a name
    set through the api."""
    from test_people import PEOPLE, lfw, names, patch
    if ASAN or not os.path.isdir(os.path.dirname(lfw("Aaron_Peirsol", 1))):
        pytest.skip("needs the models and the LFW photos")
    api = cluster.node("api", "api").start()
    cluster.node("w1", "worker", "--workers", "1", "--ocr", "0").start()
    cluster.node("w2", "worker", "--workers", "1", "--ocr", "0").start()
    search = cluster.node("search", "search").start()
    files = [("%s_%04d.jpg" % (who, n), read(lfw(who, n))) for who, ns in PEOPLE.values() for n in ns]
    r = api.upload(files)
    assert r.status == 202, r.body
    assert api.wait_job(r.json()["job_id"], timeout=600)["status"] == "completed"
    doc = api.get("/v1/people").json()
    got = sorted(tuple(sorted(i["filename"] for i in api.get("/v1/people/%d/images" % p["id"]).json()["images"]))
                 for p in doc["people"])
    want = sorted(tuple(sorted("%s_%04d.jpg" % (who, n) for n in ns)) for who, ns in PEOPLE.values())
    assert got == want, doc                 # each person exactly once, with its four photos
    person = doc["people"][0]
    crop = api.get(person["cover_thumbnail"])
    assert crop.status == 200 and crop.body[:3] == b"\xff\xd8\xff"    # a JPEG cut from the S3 original
    assert patch(api, "/v1/people/%d" % person["id"], {"name": "Rose"}).status == 200
    mine = sorted(i["filename"] for i in api.get("/v1/people/%d/images" % person["id"]).json()["images"])

    def by_name():
        r = search.get("/v1/search?q=Rose")
        return r.status == 200 and names(r.json()) == mine
    wait_for(by_name, 5, "the search node to know the name")


def test_search_node_catches_up(cluster):
    allnode = cluster.node("all", "all", "--workers", "1", "--vision", "0").start()
    search = cluster.node("search", "search", "--snapshot-s", "1").start()
    r = allnode.upload([(os.path.basename(p), read(p)) for p in COCO[:3]])
    allnode.wait_job(r.json()["job_id"])
    first = [im["id"] for im in r.json()["images"]]
    wait_for(lambda: first[0] in search_ids(search, os.path.splitext(os.path.basename(COCO[0]))[0]), 5,
             "the search node")
    time.sleep(1.5)
    search.kill()                                        # down, without a goodbye
    r = allnode.upload([(os.path.basename(p), read(p)) for p in COCO[3:6]])
    allnode.wait_job(r.json()["job_id"])
    later = [im["id"] for im in r.json()["images"]]
    assert allnode.delete("/v1/images/" + first[1]).status == 204
    search.start()
    assert ready_line(search)[0] == "1"                  # from the snapshot, then the feed
    for p, image_id in zip(COCO[3:6], later):
        assert image_id in search_ids(search, os.path.splitext(os.path.basename(p))[0])
    assert first[1] not in search_ids(search, os.path.splitext(os.path.basename(COCO[1]))[0])
    assert search.get("/v1/images/" + first[1]).status == 404
    assert search.delete("/v1/images/" + first[0]).status == 405   # read-only role


def test_s3_outage_is_503_and_stores_nothing(cluster):
    s = cluster.node("all", "all", "--workers", "1", "--vision", "0").start()
    cluster.s3.outage()
    t0 = time.time()
    r = s.upload([("during_outage.jpg", read(COCO[0]))])
    took = time.time() - t0
    assert r.status == 503, r.body
    err = r.json()["error"]
    assert err["code"] == "busy" or err["code"] == "unavailable" or "unavailable" in err["message"], err
    assert "blob store unavailable" in err["message"], err
    assert 1 <= took < 30, took                          # retried (--s3-retry-s 3), then said so
    assert s.get("/v1/images").json()["total"] == 0     # no row pointing at a missing blob
    assert cluster.pg.psql("SELECT count(*) FROM images", db="scry") == "0"
    assert s.get("/v1/jobs").json()["jobs"] == []
    cluster.s3.recover()
    r = s.upload([("after_outage.jpg", read(COCO[0]))])
    assert r.status == 202, r.body
    assert s.wait_job(r.json()["job_id"])["status"] == "completed"
    got = s.get("/v1/images/%s/content" % r.json()["images"][0]["id"])
    assert got.body == read(COCO[0])


def test_postgres_restart_mid_job(cluster):
    vision = ["--vision", "0"] if ASAN else []
    s = cluster.node("all", "all", "--workers", "2", *vision).start()
    r = s.upload([(os.path.basename(p), read(p)) for p in COCO[:20]])
    assert r.status == 202
    job = r.json()["job_id"]
    wait_for(lambda: cluster.pg.psql("SELECT done FROM jobs WHERE id = '%s'" % job, db="scry") not in ("", "0"),
             120, "the job to start")
    cluster.pg.restart()                                 # every connection is cut
    j = s.wait_job(job, timeout=600)
    assert j["status"] == "completed" and j["done"] == 20 and j["failed"] == 0, j
    log = s.tail(400000)
    assert "event=meta.pg_retry" in log
    assert s.proc.poll() is None
    ids = [im["id"] for im in r.json()["images"]]
    name = os.path.splitext(os.path.basename(COCO[19]))[0]
    assert ids[19] in search_ids(s, name)
