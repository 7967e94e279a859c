"""What people describe, end to end (issue 9): who, where, doing what,
wearing what, and what kind of photo -- through a real server, its real
models and the concept head trained in this repository.

One server per module indexes Debian's darknet samples and five unlabelled
COCO photos (../shared/data/coco-unlabelled: neither trained on nor used by
any benchmark), each checked by eye:
  000000005219.jpg  a little girl jumping on a bed
  000000000307.jpg  a collie on a lawn, a frisbee in front of it
  000000003623.jpg  a dog leaping for a frisbee on grass
  000000004375.jpg  a ski resort: snow, skiers, a chalet
  000000006268.jpg  a tennis player in red with a racket
The darknet queries are the issue's own; on the code before this issue the
beach, the field, the jacket and the empty results failed."""
import os
import urllib.parse

import pytest

from conftest import DARKNET, SHARED, Server, read

UNLABELLED = os.path.join(SHARED, "data", "coco-unlabelled", "images")
PICKS = ["000000005219.jpg", "000000000307.jpg", "000000003623.jpg", "000000004375.jpg",
         "000000006268.jpg"]
DARKNET_NAMES = ["dog.jpg", "horses.jpg", "person.jpg", "giraffe.jpg", "eagle.jpg", "kite.jpg",
                 "scream.jpg"]


@pytest.fixture(scope="module")
def idx(tmp_path_factory):
    if not os.path.isdir(UNLABELLED):
        pytest.skip("needs ../shared/data/coco-unlabelled")
    d = tmp_path_factory.mktemp("scry-concepts")
    s = Server(os.path.join(str(d), "data"), ["--workers", "2", "--ocr", "0"])
    s.start()
    files = [(n, read(os.path.join(DARKNET, n))) for n in DARKNET_NAMES]
    files += [(n, read(os.path.join(UNLABELLED, n))) for n in PICKS]
    r = s.upload(files)
    assert r.status == 202, r.body
    job = s.wait_job(r.json()["job_id"], timeout=300)
    assert (job["status"], job["done"], job["failed"]) == ("completed", len(files), 0), job
    s.ids = {i["filename"]: i["id"] for i in r.json()["images"]}
    yield s
    s.stop()


def names(server, q, **params):
    params["q"] = q
    r = server.get("/v1/search?" + urllib.parse.urlencode(params))
    assert r.status == 200, r.body
    return [x["filename"] for x in r.json()["results"]], r.json()


def facts(server, name):
    r = server.get("/v1/images/" + server.ids[name])
    assert r.status == 200, r.body
    return r.json()


def test_person_in_a_blue_jacket_with_a_dog(idx):
    got, _ = names(idx, "a person in a blue jacket with a dog")
    assert got[0] == "person.jpg", got


def test_people_on_the_beach(idx):
    got, doc = names(idx, "people on the beach")
    assert got[0] == "kite.jpg", got
    assert "beach" in doc["results"][0]["why"]
    tags = {t["label"]: t for t in facts(idx, "kite.jpg")["tags"] if t.get("kind") == "concept"}
    assert tags["beach"]["score"] >= 0.5            # a calibrated concept tag


def test_horses_in_a_field(idx):
    got, _ = names(idx, "horses in a field")
    assert got[0] == "horses.jpg", got


def test_a_red_bicycle(idx):
    got, _ = names(idx, "a red bicycle")
    assert "dog.jpg" in got[:3], got


@pytest.mark.parametrize("q", ["an elephant", "snowboarding", "a cat on a sofa"])
def test_what_no_photo_shows_returns_nothing(idx, q):
    """The issue's check, on its darknet photos. The module's ski resort
    (skiers on snow, no snowboard seen) may answer "snowboarding", below
    full marks since the snowboard it implies is not there; nothing else may."""
    got, doc = names(idx, q)
    if q == "snowboarding" and got:
        assert got == ["000000004375.jpg"], got
        assert doc["results"][0]["score"] < 0.3, doc["results"]
    else:
        assert got == [], got


def test_a_little_girl(idx):
    got, doc = names(idx, "a little girl")
    assert got[0] == "000000005219.jpg", got
    assert "girl" in doc["results"][0]["why"]
    f = facts(idx, "000000005219.jpg")
    assert any(face.get("person") == "girl" for face in f["faces"]), f["faces"]
    assert "girl" in f["caption"].lower()


def test_dog_on_the_grass(idx):
    got, _ = names(idx, "dog on the grass")
    assert set(got[:2]) == {"000000000307.jpg", "000000003623.jpg"}, got


def test_snow(idx):
    got, _ = names(idx, "snow")
    assert got and got[0] == "000000004375.jpg", got
    assert "snow" in facts(idx, "000000004375.jpg")["caption"].lower()


def test_activity_implies_its_object(idx):
    # "playing tennis" implies a racket and a ball: the tennis player first
    got, doc = names(idx, "someone playing tennis")
    assert got[0] == "000000006268.jpg", got
    objs = doc["understood"]["objects"]
    assert any(o["how"] == "implied" and "tennis racket" in o["labels"] for o in objs), objs


def test_relations_and_clothing_are_facts(idx):
    f = facts(idx, "person.jpg")
    people = [t for t in f["tags"] if t["label"] == "person" and "box" in t]
    assert people and people[0].get("upper") == "blue", people      # her jacket
    kinds = {t.get("kind") for t in f["tags"]}
    assert "concept" in kinds
    # every relation names a subject and an object among the detections
    for t in f["tags"]:
        if t.get("kind") == "relation":
            assert f["tags"][t["subject"]]["label"] == "person"
            assert "box" in f["tags"][t["object"]]


def test_image_signal_alone_and_explained(idx):
    got, doc = names(idx, "horses grazing in a field", mode="image", floor="off", limit=3)
    assert "horses.jpg" in got[:2], got
    got, doc = names(idx, "people flying kites at the beach")
    assert got[0] == "kite.jpg"
    assert "looks like it" in doc["results"][0]["why"]
    r = idx.get("/v1/search?q=dog&signals=on&limit=2")
    sig = r.json()["results"][0]["signals"]
    assert set(sig) == {"vector", "image", "bm25", "structured", "absent"} and sig["structured"] > 0
    assert idx.get("/v1/search?q=dog&signals=maybe").status == 400
    assert idx.get("/v1/search?q=dog&mode=pixels").status == 400
