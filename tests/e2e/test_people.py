"""End-to-end: people -- faces grouped into persons, named, merged, searched
by name, through a real server on real photos (LFW face photos and a COCO
photo of roses from the shared data), and the CLI on the same data folder.

The LFW photos are 250x250 head-and-shoulders shots: BlazeFace finds one
face in each. Three people with four photos each, and three photos of three
others (one face each: candidates, not listed)."""
import json
import os
import subprocess
import urllib.parse

import pytest

from conftest import SCRY, SHARED, Server, backend_for, meta_row, read

LFW = os.path.join(SHARED, "data", "lfw", "images")
ROSES = os.path.join(SHARED, "data", "coco", "images", "000000249025.jpg")   # roses in a vase
PEOPLE = {
    "peirsol": ("Aaron_Peirsol", [1, 2, 3, 4]),
    "brody": ("Adrien_Brody", [1, 2, 4, 5]),
    "sugiyama": ("Ai_Sugiyama", [1, 2, 3, 4]),
}
OTHERS = [("Abdullah", 1), ("Aaron_Tippin", 1), ("Madonna", 1)]


def lfw(person, n):
    return os.path.join(LFW, person, "%s_%04d.jpg" % (person, n))


def search(server, q=None, **params):
    if q is not None:
        params["q"] = q
    r = server.get("/v1/search?" + urllib.parse.urlencode(params, doseq=True))
    assert r.status == 200, r.body
    return r.json()


def names(results):
    return sorted(x["filename"] for x in results["results"])


def files_of(key):
    who, ns = PEOPLE[key]
    return sorted("%s_%04d.jpg" % (who, n) for n in ns)


def person_files(server, pid):
    r = server.get("/v1/people/%d/images?limit=100" % pid)
    assert r.status == 200, r.body
    return sorted(i["filename"] for i in r.json()["images"])


def patch(server, path, doc):
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return server.request("PATCH", path, body=body, headers={"Content-Type": "application/json"})


def post(server, path, doc):
    return server.request("POST", path, body=json.dumps(doc).encode(), headers={"Content-Type": "application/json"})


def assert_error(r, status, code):
    assert r.status == status, (r.status, r.body)
    assert r.headers.get("Content-Type") == "application/json"
    e = r.json()["error"]
    assert e["code"] == code and e["message"], e


@pytest.fixture
def people_server(tmpdir_path):
    if not os.path.isdir(LFW) or not os.path.exists(ROSES):
        pytest.skip("no LFW / COCO photos under " + SHARED)
    s = Server(os.path.join(tmpdir_path, "data"), ["--workers", "2", "--ocr", "0"])
    s.start()
    files = []
    for key, (who, ns) in PEOPLE.items():
        files += [("%s_%04d.jpg" % (who, n), read(lfw(who, n))) for n in ns]
    files += [("%s_%04d.jpg" % (who, n), read(lfw(who, n))) for who, n in OTHERS]
    files.append(("roses.jpg", read(ROSES)))
    r = s.upload(files)
    assert r.status == 202, r.body
    s.ids = {i["filename"]: i["id"] for i in r.json()["images"]}
    assert s.wait_job(r.json()["job_id"])["status"] == "completed"
    yield s
    s.stop()


def people_by_files(server):
    r = server.get("/v1/people")
    assert r.status == 200, r.body
    doc = r.json()
    return doc, {tuple(person_files(server, p["id"])): p for p in doc["people"]}


def test_people_cluster_name_merge_restart_delete(people_server):
    s = people_server
    # Three people appear, each with exactly its four photos.
    doc, by_files = people_by_files(s)
    assert doc["total"] == 3 and doc["min_faces"] == 3, doc
    assert set(by_files) == {tuple(files_of(k)) for k in PEOPLE}, by_files.keys()
    for p in doc["people"]:
        assert p["faces"] == 4 and p["images"] == 4 and p["name"] is None, p
        assert p["cover_thumbnail"] == "/v1/faces/%d/thumbnail" % p["cover_face"]
    brody = by_files[tuple(files_of("brody"))]["id"]
    peirsol = by_files[tuple(files_of("peirsol"))]["id"]
    sugiyama = by_files[tuple(files_of("sugiyama"))]["id"]

    # Each face of an image carries its person (and a face id).
    img = s.get("/v1/images/" + s.ids["Adrien_Brody_0001.jpg"]).json()
    assert len(img["faces"]) == 1
    face = img["faces"][0]
    assert face["person_id"] == brody and face["person_name"] is None and face["face_id"] > 0, face
    roses = s.get("/v1/images/" + s.ids["roses.jpg"]).json()
    assert all("person_id" not in f or f["person_id"] is None for f in roses["faces"])

    # Name one "Rose": the name is a constraint whatever its case, and only
    # the name -- "roses" still means flowers.
    r = patch(s, "/v1/people/%d" % brody, {"name": "Rose"})
    assert r.status == 200 and r.json()["name"] == "Rose", r.body
    for q in ("Rose", "rose", "ROSE", "photos of Rose"):
        res = search(s, q)
        assert names(res) == files_of("brody"), (q, res)
        assert [p["id"] for p in res["understood"]["people"]] == [brody]
        assert all(x["why"].startswith("Rose (face 0.") or x["why"].startswith("Rose (face 1.") for x in res["results"]), res
    flowers = search(s, "roses")
    assert flowers["understood"]["people"] == [], flowers["understood"]
    assert flowers["results"][0]["filename"] == "roses.jpg", flowers
    assert not any("Rose (face" in x["why"] for x in flowers["results"]), flowers
    assert s.get("/v1/images/" + s.ids["Adrien_Brody_0002.jpg"]).json()["faces"][0]["person_name"] == "Rose"

    # It combines with the rest of the query, the filters and the others.
    assert set(names(search(s, "Rose smiling"))) <= set(files_of("brody"))
    assert names(search(s, "Rose at the beach")) == files_of("brody")       # none at a beach: ranked by it
    assert names(search(s, "Rose's photos")) == files_of("brody")
    assert names(search(s, "", person=brody)) == files_of("brody")
    assert names(search(s, "", person=[brody, sugiyama])) == []        # never together
    assert patch(s, "/v1/people/%d" % sugiyama, {"name": "Ai"}).status == 200
    assert names(search(s, "Rose and Ai")) == []
    assert names(search(s, "Rose without Ai")) == files_of("brody")
    without = names(search(s, "without Rose"))
    assert not set(without) & set(files_of("brody")) and set(files_of("peirsol")) <= set(without), without
    like = search(s, face=face["face_id"])
    assert {x["filename"] for x in like["results"][:4]} == set(files_of("brody")), like
    assert like["results"][0]["filename"] == "Adrien_Brody_0001.jpg" and like["results"][0]["why"] == "face 1.00"

    # A name another person has is refused; the error conventions hold.
    assert_error(patch(s, "/v1/people/%d" % peirsol, {"name": "rose"}), 409, "name_taken")
    assert_error(patch(s, "/v1/people/%d" % peirsol, b"{not json"), 400, "invalid_request")
    assert_error(patch(s, "/v1/people/%d" % peirsol, {"name": 7}), 400, "invalid_request")
    assert_error(patch(s, "/v1/people/%d" % peirsol, {"name": " " * 3}), 400, "invalid_request")
    assert_error(s.get("/v1/people/999999"), 404, "not_found")
    assert_error(s.get("/v1/people/abc"), 404, "not_found")
    assert_error(s.get("/v1/faces/999999"), 404, "not_found")
    assert_error(post(s, "/v1/people/%d/merge" % brody, {"from": "x"}), 400, "invalid_request")
    assert_error(post(s, "/v1/people/%d/merge" % brody, {"from": [999999]}), 404, "not_found")
    assert_error(patch(s, "/v1/faces/%d" % face["face_id"], {"person": "someone"}), 400, "invalid_request")
    assert_error(s.request("PUT", "/v1/people"), 405, "method_not_allowed")
    assert_error(search_raw(s, "person=abc"), 400, "invalid_request")
    assert_error(search_raw(s, "person=999999"), 404, "not_found")
    t = s.get("/v1/faces/%d/thumbnail" % face["face_id"])
    assert t.status == 200 and t.headers["Content-Type"] == "image/jpeg" and t.body[:2] == b"\xff\xd8"
    f = s.get("/v1/faces/%d" % face["face_id"]).json()
    assert f["person"] == {"id": brody, "name": "Rose"} and f["assigned"] == "manual", f

    # Merge two people: results follow.
    r = post(s, "/v1/people/%d/merge" % brody, {"from": [peirsol]})
    assert r.status == 200, r.body
    assert r.json()["faces"] == 8 and r.json()["name"] == "Rose"
    assert_error(s.get("/v1/people/%d" % peirsol), 404, "not_found")
    assert names(search(s, "Rose")) == sorted(files_of("brody") + files_of("peirsol"))

    # Rename, restart: the name persists.
    assert patch(s, "/v1/people/%d" % brody, {"name": "Adrien"}).json()["name"] == "Adrien"
    s.stop()
    s.start()
    assert s.get("/v1/people/%d" % brody).json()["name"] == "Adrien"
    assert names(search(s, "adrien")) == sorted(files_of("brody") + files_of("peirsol"))
    assert names(search(s, "rose")) != sorted(files_of("brody") + files_of("peirsol"))

    # Delete a photo: the person's count drops.
    assert s.delete("/v1/images/" + s.ids["Adrien_Brody_0005.jpg"]).status == 204
    p = s.get("/v1/people/%d" % brody).json()
    assert p["faces"] == 7 and p["images"] == 7, p
    assert "Adrien_Brody_0005.jpg" not in names(search(s, "Adrien"))


def search_raw(server, query):
    return server.get("/v1/search?" + query)


def test_corrections_survive_recluster_and_people_off(people_server, tmpdir_path):
    s = people_server
    doc, by_files = people_by_files(s)
    brody = by_files[tuple(files_of("brody"))]["id"]
    sugiyama = by_files[tuple(files_of("sugiyama"))]["id"]
    peirsol = by_files[tuple(files_of("peirsol"))]["id"]
    assert patch(s, "/v1/people/%d" % sugiyama, {"name": "Ai"}).status == 200
    assert patch(s, "/v1/people/%d" % brody, {"name": "Rose"}).status == 200
    # Move one of Rose's faces to nobody, another to a new person.
    faces = s.get("/v1/people/%d/faces" % brody).json()["faces"]
    assert len(faces) == 4 and all(f["image_id"] for f in faces)
    r = patch(s, "/v1/faces/%d" % faces[0]["id"], {"person": None})
    assert r.status == 200 and r.json()["person"] is None and r.json()["assigned"] == "manual", r.body
    r = patch(s, "/v1/faces/%d" % faces[1]["id"], {"person": "new"})
    newp = r.json()["person"]["id"]
    assert newp not in (brody, sugiyama)
    # A full re-cluster as a job: corrections and names are kept.
    r = s.request("POST", "/v1/people/recluster")
    assert r.status == 202, r.body
    job = s.wait_job(r.json()["job_id"])
    assert job["status"] == "completed" and job["total"] == 16, job
    assert s.get("/v1/faces/%d" % faces[0]["id"]).json()["person"] is None
    assert s.get("/v1/faces/%d" % faces[1]["id"]).json()["person"]["id"] == newp
    assert s.get("/v1/people/%d" % sugiyama).json()["name"] == "Ai"
    assert person_files(s, sugiyama) == files_of("sugiyama")
    file_of = {v: k for k, v in s.ids.items()}
    assert person_files(s, brody) == sorted(file_of[f["image_id"]] for f in faces[2:])
    assert person_files(s, peirsol) == files_of("peirsol")      # found again by the re-cluster
    # DELETE forgets the person and its name, keeps the faces.
    assert s.delete("/v1/people/%d" % sugiyama).status == 204
    assert_error(s.get("/v1/people/%d" % sugiyama), 404, "not_found")
    assert search(s, "Ai")["understood"]["people"] == []
    img = s.get("/v1/images/" + s.ids["Ai_Sugiyama_0001.jpg"]).json()
    assert img["faces"][0]["person_id"] is None and img["faces"][0]["face_id"] > 0

    # --people 0: recognition off, nothing deleted; back on, all is there.
    before = meta_row(s, "SELECT count(*), count(person_id) FROM faces")
    s.stop()
    s.extra_args = backend_for(s.data_dir)[0] + ["--workers", "1", "--ocr", "0", "--people", "0"]
    s.start()
    assert_error(s.get("/v1/people"), 403, "people_disabled")
    assert_error(s.get("/v1/faces/%d/thumbnail" % faces[2]["id"]), 403, "people_disabled")
    assert "people" not in search(s, "Rose")["understood"]
    assert "person_id" not in s.get("/v1/images/" + s.ids["Adrien_Brody_0001.jpg"]).json()["faces"][0]
    r = s.upload([("brody8.jpg", read(lfw("Adrien_Brody", 8)))])
    assert s.wait_job(r.json()["job_id"])["status"] == "completed"
    assert meta_row(s, "SELECT count(*), count(person_id) FROM faces") == before
    s.stop()
    s.extra_args = backend_for(s.data_dir)[0] + ["--workers", "1", "--ocr", "0"]
    s.start()
    assert s.get("/v1/people/%d" % brody).json()["name"] == "Rose"
    assert names(search(s, "rose")) == sorted(file_of[f["image_id"]] for f in faces[2:])


def scry(data, *args):
    """The CLI on a server's data folder, and its database and bucket when
    the suite runs on PostgreSQL + S3."""
    store_args, env = backend_for(data)
    p = subprocess.run([SCRY] + list(args) + ["--data", data] + store_args, capture_output=True,
                       text=True, timeout=300, env=dict(os.environ, **env))
    return p.returncode, p.stdout, p.stderr


def test_cli_people(people_server):
    s = people_server
    data = s.data_dir
    rc, out, err = scry(data, "people")
    assert rc == 0, err
    lines = [l for l in out.splitlines() if "faces" in l and "images" in l]
    assert len(lines) == 3 and all(" 4 faces" in l and "(no name)" in l for l in lines), out
    ids = [int(l.split()[0]) for l in lines]
    rc, out, err = scry(data, "people", "name", str(ids[0]), "Anna")
    assert rc == 0 and "Anna" in out, (out, err)
    rc, out, err = scry(data, "people", "name", str(ids[1]), "anna")
    assert rc == 1 and "already called" in err, (out, err)
    rc, out, err = scry(data, "people", "merge", str(ids[0]), str(ids[1]))
    assert rc == 0 and " 8 faces" in out and "Anna" in out, (out, err)
    rc, out, err = scry(data, "people", "--json")
    doc = json.loads(out)
    assert doc["total"] == 2 and doc["people"][0]["name"] == "Anna" and doc["people"][0]["faces"] == 8
    # the server sees what the CLI did
    assert len(names(search(s, "anna"))) == 8
    rc, out, err = scry(data, "people", "recluster")
    assert rc == 0 and "completed" in out, (out, err)
    rc, out, err = scry(data, "people", "forget", str(ids[2]))
    assert rc == 0 and "forgotten" in out
    rc, out, err = scry(data, "people", "999999")
    assert rc == 1 and "not found" in err
    rc, out, err = scry(data, "people", "bogus")
    assert rc == 2
