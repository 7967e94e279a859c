"""End-to-end: age, gender and person word per face, and the face
descriptors stored in SQLite with a stable face id, on real photos through a
real server (LFW face photos from the shared data, a PASCAL group photo)."""
import os
import sqlite3

import pytest

from conftest import embedded_only, SHARED, read

# The embedded backend's own files and the CLI on a data folder.
pytestmark = embedded_only

LFW = os.path.join(SHARED, "data", "lfw", "images")


def lfw(person, n):
    return os.path.join(LFW, person, "%s_%04d.jpg" % (person, n))


def faces_rows(server):
    db = sqlite3.connect(os.path.join(server.data_dir, "meta.db"))
    try:
        return db.execute("SELECT face_id, image_rowid, face_index, model, w, dim, length(vec)"
                          " FROM faces ORDER BY face_id").fetchall()
    finally:
        db.close()


def test_age_gender_person_and_descriptors(server):
    if not os.path.isdir(LFW):
        pytest.skip("no LFW photos under " + LFW)
    group = os.path.join(SHARED, "data", "faces", "images", "2008_002079.jpg")
    files = [("kidman.jpg", read(lfw("Nicole_Kidman", 1))),
             ("peirsol.jpg", read(lfw("Aaron_Peirsol", 1))),
             ("group.jpg", read(group))]
    r = server.upload(files)
    assert r.status == 202, r.body
    ids = {i["filename"]: i["id"] for i in r.json()["images"]}
    assert server.wait_job(r.json()["job_id"])["status"] == "completed"

    k = server.get("/v1/images/" + ids["kidman.jpg"]).json()["faces"]
    p = server.get("/v1/images/" + ids["peirsol.jpg"]).json()["faces"]
    assert len(k) == 1 and len(p) == 1, (k, p)
    assert k[0]["gender"] == "female" and k[0]["person"] == "woman", k
    assert p[0]["gender"] == "male" and p[0]["person"] == "man", p
    for f in (k[0], p[0]):
        assert 18 <= f["age"] <= 65 and isinstance(f["age"], int), f
        assert 0.75 <= f["gender_score"] <= 1.0, f

    # The group photo's faces are mostly small: at most 6 are described
    # (widest first), none narrower than the model's 16-px minimum, and a
    # face without a description has no person word.
    g = server.get("/v1/images/" + ids["group.jpg"]).json()["faces"]
    described = [f for f in g if "age" in f]
    assert len(g) >= 5 and 1 <= len(described) <= 6, g
    assert all(f["box"][2] >= 16 for f in described)
    assert all("person" not in f for f in g if "age" not in f)

    rows = faces_rows(server)
    assert len(rows) == 2 + len(described), rows
    assert {r[3] for r in rows} == {"human-faceres-3.3.6"}
    assert all(r[5] == 1024 and r[6] == 4096 for r in rows)
    ids_before = [r[0] for r in rows]
    assert len(set(ids_before)) == len(ids_before)

    # Deleting an image deletes its faces; the others keep their ids.
    assert server.delete("/v1/images/" + ids["kidman.jpg"]).status == 204
    after = faces_rows(server)
    assert len(after) == len(rows) - 1
    assert set(r[0] for r in after) < set(ids_before)

    # The descriptors survive a restart.
    server.stop()
    server.start()
    assert faces_rows(server) == after
