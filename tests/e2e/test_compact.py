"""Automatic compaction of the ANN index, through a real server on loopback.

Twelve real photos are uploaded under one-word names (with --vision 0 an
image's vector comes from its filename words, which keeps this test about
the index rather than the models), nine are deleted one by one, and the
compaction policy (SCRY_COMPACT_MIN=4, default fraction 0.2) must rebuild
the index: /metrics counts a compaction, the tombstones go, vector search
returns exactly the three survivors and never a deleted image -- and the
same after a restart, which loads the compacted index from disk."""
import os
import re
import time
import urllib.parse

from conftest import DARKNET, SHARED, Server, read

COCO = os.path.join(SHARED, "data", "coco", "images")
PHOTOS = {
    "dog.jpg": os.path.join(DARKNET, "dog.jpg"),
    "horses.jpg": os.path.join(DARKNET, "horses.jpg"),
    "giraffe.jpg": os.path.join(DARKNET, "giraffe.jpg"),
    "eagle.jpg": os.path.join(DARKNET, "eagle.jpg"),
    "kite.jpg": os.path.join(DARKNET, "kite.jpg"),
    "person.jpg": os.path.join(DARKNET, "person.jpg"),
    "scream.jpg": os.path.join(DARKNET, "scream.jpg"),
    "train.jpg": os.path.join(COCO, "000000539445.jpg"),
    "truck.jpg": os.path.join(COCO, "000000332078.jpg"),
    "cat.jpg": os.path.join(COCO, "000000290843.jpg"),
    "bus.jpg": os.path.join(COCO, "000000527220.jpg"),
    "pizza.jpg": os.path.join(COCO, "000000338905.jpg"),
}
SURVIVORS = {"dog.jpg", "cat.jpg", "bus.jpg"}


def metric(server, name):
    text = server.get("/metrics").body.decode()
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    assert m, "no %s in /metrics:\n%s" % (name, text)
    return int(m.group(1))


def vector_results(server, q):
    params = {"q": q, "mode": "vector", "floor": "off", "limit": 50}
    r = server.get("/v1/search?" + urllib.parse.urlencode(params))
    assert r.status == 200, r.body
    return [(h["id"], h["filename"]) for h in r.json()["results"]]


def check_search(server, ids):
    survivor_ids = {ids[n] for n in SURVIVORS}
    deleted_ids = {ids[n] for n in PHOTOS if n not in SURVIVORS}
    for name in PHOTOS:
        word = name[:-4]
        got = vector_results(server, word)
        got_ids = {i for i, _ in got}
        assert not got_ids & deleted_ids, (word, got)
        # every survivor has a vector: all three come back, nothing else
        assert got_ids == survivor_ids, (word, got)
        if name in SURVIVORS:
            assert got[0][1] == name, (word, got)


def test_compaction_after_deletes(tmpdir_path):
    s = Server(os.path.join(tmpdir_path, "data"), ["--workers", "2", "--vision", "0"],
               env={"SCRY_COMPACT_MIN": "4", "SCRY_COMPACT_FRACTION": "0.2"})
    s.start()
    try:
        files = [(n, read(p)) for n, p in PHOTOS.items()]
        r = s.upload(files)
        assert r.status == 202, r.body
        job = s.wait_job(r.json()["job_id"], timeout=300)
        assert (job["status"], job["done"]) == ("completed", len(files)), job
        ids = {i["filename"]: i["id"] for i in r.json()["images"]}
        assert metric(s, "scry_index_live") == len(files)
        assert metric(s, "scry_index_compactions_total") == 0

        for name in PHOTOS:
            if name not in SURVIVORS:
                assert s.delete("/v1/images/" + ids[name]).status == 204

        # The compaction runs in the background: wait until the tombstones
        # are below the policy's minimum again.
        deadline = time.time() + 60
        while time.time() < deadline:
            if metric(s, "scry_index_compactions_total") >= 1 and metric(s, "scry_index_tombstones") < 4:
                break
            time.sleep(0.1)
        assert metric(s, "scry_index_compactions_total") >= 1
        assert metric(s, "scry_index_tombstones") < 4
        assert metric(s, "scry_index_compaction_dropped_total") >= 4
        assert metric(s, "scry_index_live") == len(SURVIVORS)
        assert metric(s, "scry_index_nodes") < len(files)
        log = s.tail(100000)
        assert re.search(r"event=index\.compacted nodes_before=\d+ tombstones_before=\d+ "
                         r"nodes_after=\d+ tombstones_after=\d+ live=\d+ ms=[0-9.]+", log), log[-3000:]
        check_search(s, ids)

        # After a restart the saved (compacted) index is loaded, not rebuilt.
        s.stop()
        s.start()
        assert metric(s, "scry_index_live") == len(SURVIVORS)
        assert metric(s, "scry_index_nodes") < len(files)
        log = s.tail(4000)
        assert re.search(r"event=index\.loaded .*vectors=%d" % len(SURVIVORS), log), log
        check_search(s, ids)
    finally:
        s.stop()


def test_delete_then_crash_leaves_no_ghost_in_index(tmpdir_path):
    """An image deleted after the index was last saved, then a SIGKILL: the
    saved index still holds its vector, and start-up must drop it, not keep
    a ghost: the snapshot written at the graceful stop is loaded and the
    change feed's delete applied after it ("search.synced ... removed=1"),
    or, without a snapshot, the catch-up walk removes labels with no stored
    vector ("index.caught_up ... removed=1")."""
    data = os.path.join(tmpdir_path, "data")
    names = ["dog.jpg", "cat.jpg", "bus.jpg"]
    s = Server(data, ["--workers", "1", "--vision", "0"]).start()
    try:
        r = s.upload([(n, read(PHOTOS[n])) for n in names])
        assert r.status == 202, r.body
        ids = {i["filename"]: i["id"] for i in r.json()["images"]}
        assert s.wait_job(r.json()["job_id"])["status"] == "completed"
    finally:
        s.stop()                         # graceful: the index is saved with 3
    s = Server(data, ["--workers", "1", "--vision", "0"]).start()
    assert metric(s, "scry_index_live") == 3
    assert s.delete("/v1/images/" + ids["cat.jpg"]).status in (200, 204)
    s.kill()                             # no save after the delete
    s = Server(data, ["--workers", "1", "--vision", "0"]).start()
    try:
        assert metric(s, "scry_index_live") == 2
        assert "removed=1" in s.tail(), s.tail()
        got = {i for i, _ in vector_results(s, "cat")}
        assert got == {ids["dog.jpg"], ids["bus.jpg"]}, got
    finally:
        s.stop()
