"""Compositional search over real photos, through the real pipeline.

One server per module indexes a small set once: Debian's darknet samples
(dog, horses, person, giraffe, eagle, kite, scream) and five COCO photos
whose detections were checked by hand (a red car, a white car with a dog, a
cat on a bed, a black bus, eight people with a white car), plus a copy of
the eagle with an EXIF date, a group photo (faces) and a street photo with
text (ICDAR). Expected results follow from what the detector reports for
these photos (see the comments); the emotion and OCR tests derive their
expectations from the image's own faces/text fields and are skipped while
the server has no faces/OCR stage."""
import os
import re
import urllib.parse

import pytest

from conftest import DARKNET, SHARED, Server, jpeg_with_exif, read

COCO = os.path.join(SHARED, "data", "coco", "images")
COCO_PICKS = {
    "000000539445.jpg": "a red train and a red car",
    "000000332078.jpg": "a dog with a gray truck and a white car",
    "000000290843.jpg": "a cat on a bed",
    "000000527220.jpg": "a black bus",
    "000000338905.jpg": "eight people, cups, a pizza and a white car",
}
FACES = os.path.join(SHARED, "data", "faces", "images", "2008_001322.jpg")
TEXT = os.path.join(SHARED, "data", "icdar2015", "images", "img_10.jpg")
DARKNET_NAMES = ["dog.jpg", "horses.jpg", "person.jpg", "giraffe.jpg", "eagle.jpg", "kite.jpg", "scream.jpg"]
ANIMAL_PHOTOS = {"horses.jpg", "giraffe.jpg", "eagle.jpg", "dog.jpg", "000000290843.jpg", "000000332078.jpg"}
PEOPLE_PHOTOS = {"person.jpg", "kite.jpg", "000000338905.jpg"}


@pytest.fixture(scope="module")
def idx(tmp_path_factory):
    d = tmp_path_factory.mktemp("scry-search")
    s = Server(os.path.join(str(d), "data"), ["--workers", "2"])
    s.start()
    files = [(n, read(os.path.join(DARKNET, n))) for n in DARKNET_NAMES]
    files += [(n, read(os.path.join(COCO, n))) for n in COCO_PICKS]
    files.append(("dated_eagle.jpg", jpeg_with_exif(read(os.path.join(DARKNET, "eagle.jpg")),
                                                   "Canon", "EOS 5D", "2015:06:01 12:00:00")))
    files += [("group.jpg", read(FACES)), ("street_text.jpg", read(TEXT))]
    r = s.upload(files)
    assert r.status == 202, r.body
    job = s.wait_job(r.json()["job_id"], timeout=300)
    assert (job["status"], job["done"], job["failed"]) == ("completed", len(files), 0), job
    s.ids = {i["filename"]: i["id"] for i in r.json()["images"]}
    metrics = s.get("/metrics").body.decode()
    s.stages = set(re.findall(r'scry_stage_runs_total\{stage="([a-z_]+)"\}', metrics))
    yield s
    s.stop()


def search(server, q, **params):
    params["q"] = q
    r = server.get("/v1/search?" + urllib.parse.urlencode(params))
    assert r.status == 200, r.body
    return r.json()


def names(server, q, **params):
    return [h["filename"] for h in search(server, q, **params)["results"]]


# ---- counts -------------------------------------------------------------------

def test_count_four_horses(idx):
    # horses.jpg: the detector finds four horses; person.jpg has one horse.
    res = names(idx, "four horses")
    assert res[0] == "horses.jpg", res


def test_too_few_closer_is_better(idx):
    # "six horses": none has six; horses.jpg's four are closer than
    # person.jpg's one, and its structured score says so (both were 0.5).
    r = search(idx, "six horses", signals="on", floor="off", limit=50)
    st = {x["filename"]: x["signals"]["structured"] for x in r["results"]}
    assert st["horses.jpg"] > st["person.jpg"] > 0, st


def test_count_at_least_three_people(idx):
    # kite.jpg: nine people; 338905: eight; person.jpg: one.
    res = names(idx, "at least 3 people")
    top = res[:3]
    assert "kite.jpg" in top and "000000338905.jpg" in top, res
    if "person.jpg" in res:
        assert res.index("person.jpg") > max(res.index("kite.jpg"), res.index("000000338905.jpg"))


# ---- negation -------------------------------------------------------------------

def test_animals_without_people(idx):
    doc = search(idx, "animals without people")
    res = [h["filename"] for h in doc["results"]]
    assert "person" in doc["understood"]["excluded"]
    assert not set(res) & PEOPLE_PHOTOS, res
    assert {"horses.jpg", "giraffe.jpg"} <= set(res), res
    assert set(res) <= ANIMAL_PHOTOS | {"dated_eagle.jpg"}, res


def test_no_dogs(idx):
    # dog.jpg, person.jpg (a dog beside the horse) and 332078 have dogs.
    res = names(idx, "no dogs", limit=50)
    assert not {"dog.jpg", "person.jpg", "000000332078.jpg"} & set(res), res
    assert {"horses.jpg", "giraffe.jpg", "000000290843.jpg"} <= set(res), res


# ---- colours ----------------------------------------------------------------------

def test_red_car_vs_white_car(idx):
    red = names(idx, "red car")
    white = names(idx, "white car")
    # 539445: a red car; dog.jpg and 332078: white cars.
    assert red[0] == "000000539445.jpg", red
    assert white[0] in ("dog.jpg", "000000332078.jpg", "000000338905.jpg"), white
    if "000000539445.jpg" in white:
        assert white.index("000000539445.jpg") > white.index(white[0])
    for w in ("dog.jpg", "000000332078.jpg"):
        if w in red:
            assert red.index(w) > 0


# ---- synonyms and hypernyms ----------------------------------------------------------

@pytest.mark.parametrize("q", ["puppy", "canine", "dogs"])
def test_dog_words(idx, q):
    doc = search(idx, q)
    res = [h["filename"] for h in doc["results"]]
    assert doc["understood"]["objects"][0]["labels"] == ["dog"], doc["understood"]
    assert res and set(res[:3]) <= {"dog.jpg", "person.jpg", "000000332078.jpg"}, res


def test_automobile(idx):
    doc = search(idx, "automobile")
    res = [h["filename"] for h in doc["results"]]
    assert doc["understood"]["objects"][0]["labels"] == ["car"]
    assert res and res[0] in {"dog.jpg", "000000332078.jpg", "000000539445.jpg", "000000338905.jpg"}, res


def test_animals_hypernym(idx):
    res = names(idx, "animals")
    assert len(res) >= 4 and set(res[:4]) <= ANIMAL_PHOTOS | {"person.jpg", "dated_eagle.jpg"}, res
    assert "scream.jpg" not in res and "000000527220.jpg" not in res, res


def test_vehicles_hypernym(idx):
    res = names(idx, "vehicles")
    vehicle_photos = {"dog.jpg", "000000539445.jpg", "000000332078.jpg", "000000527220.jpg", "000000338905.jpg"}
    assert res and set(res[:3]) <= vehicle_photos, res
    assert not {"horses.jpg", "giraffe.jpg", "eagle.jpg"} & set(res[:5]), res


# ---- emotions and text (need the faces / OCR stages) -------------------------------------

def image(server, name):
    return server.get("/v1/images/" + server.ids[name]).json()


def test_emotion_query(idx):
    if not idx.stages & {"faces", "face", "emotion", "emotions"}:
        pytest.skip("no faces/emotion stage in this server (stages: %s)" % sorted(idx.stages))
    happy = [n for n in idx.ids if any(f.get("emotion") == "happy" for f in image(idx, n)["faces"])]
    if not happy:
        pytest.skip("no happy face detected in the test photos")
    res = names(idx, "smiling people")
    assert res and res[0] in happy, (res, happy)
    only = names(idx, "people", emotion="happy", limit=50)
    assert set(only) <= set(happy), (only, happy)


def test_quoted_text_and_has_text(idx):
    if not idx.stages & {"ocr", "text"}:
        pytest.skip("no OCR stage in this server (stages: %s)" % sorted(idx.stages))
    words = [w for w in re.findall(r"[A-Za-z]{4,}", image(idx, "street_text.jpg")["text"])]
    if not words:
        pytest.skip("OCR read no word of 4+ letters in street_text.jpg")
    res = names(idx, 'a sign that says "%s"' % words[0])
    assert res and res[0] == "street_text.jpg", res
    with_text = set(names(idx, "street", has_text="true", limit=50))
    assert all(image(idx, n)["text"] for n in with_text)


def test_asked_text_absent_halves_the_score(idx):
    # A photo that looks like what is asked ("a sign") but does not hold the
    # words asked for is not what was asked for: its score is halved, like an
    # image without a named object, and every photo that holds them ranks
    # above it. (Failed before: only the match earned a little.)
    if not idx.stages & {"ocr", "text"}:
        pytest.skip("no OCR stage in this server (stages: %s)" % sorted(idx.stages))
    words = [w for w in re.findall(r"[A-Za-z]{4,}", image(idx, "street_text.jpg")["text"])]
    if not words:
        pytest.skip("OCR read no word of 4+ letters in street_text.jpg")
    r = search(idx, 'a sign that says "%s"' % words[0], floor="off", signals="on", limit=50)
    hit = [x for x in r["results"] if x["filename"] == "street_text.jpg"][0]
    rest = [x for x in r["results"] if words[0].lower() not in (image(idx, x["filename"]).get("text") or "").lower()]
    assert rest and all(x["score"] < hit["score"] for x in rest), (hit, rest)
    plain = {x["filename"]: x["score"] for x in search(idx, "a sign", floor="off", limit=50)["results"]}
    for x in rest:
        assert x["score"] < 0.75 * plain.get(x["filename"], 1.0) + 0.05, (x, plain.get(x["filename"]))
    nowhere = search(idx, 'a sign that says "zqxwvy"', floor="off", limit=50)["results"]
    assert nowhere and max(x["score"] for x in nowhere) < 0.5 * max(plain.values()) + 0.05, nowhere


# ---- filters, sorting, paging ---------------------------------------------------------

def test_label_filter(idx):
    res = names(idx, "animal", label="horse", limit=50)
    assert set(res) == {"horses.jpg", "person.jpg"}, res
    assert names(idx, "animal", label="no-such-label") == []


def test_has_text_false_and_emotion_filter(idx):
    without = names(idx, "horses", has_text="false")
    assert "horses.jpg" in without
    if not idx.stages & {"faces", "face", "emotion", "emotions"}:
        # no face was ever analysed, so no image has a happy face
        assert names(idx, "people", emotion="happy") == []


def test_date_filters_and_sort(idx):
    # EXIF dates: eagle.jpg 2013-07-19 (darknet's own EXIF), dated_eagle.jpg
    # 2015-06-01 (ours); the COCO photos have none.
    assert names(idx, "bird", **{"from": "2015", "to": "2015"}) == ["dated_eagle.jpg"]
    assert names(idx, "bird", **{"from": "2015-06", "to": "2015-06-01"}) == ["dated_eagle.jpg"]
    assert names(idx, "bird", **{"from": "2013", "to": "2013"}) == ["eagle.jpg"]
    assert names(idx, "bird", **{"from": "2016"}) == []
    assert names(idx, "bird", **{"to": "2012"}) == []
    assert "000000290843.jpg" not in names(idx, "cat", **{"from": "2000"})  # undated
    assert "000000290843.jpg" in names(idx, "cat")
    # sort=date: newest first
    res = names(idx, "bird", sort="date")
    assert res.index("dated_eagle.jpg") < res.index("eagle.jpg"), res
    res = names(idx, "animals", sort="date", limit=50)
    dated = [n for n in res if n in ("dated_eagle.jpg", "eagle.jpg", "horses.jpg", "dog.jpg")]
    assert dated == sorted(dated, key=["dated_eagle.jpg", "dog.jpg", "eagle.jpg", "horses.jpg"].index), res
    assert idx.get("/v1/search?q=bird&sort=sideways").status == 400


def test_limit_offset(idx):
    full = names(idx, "animals", limit=6)
    assert len(full) >= 4
    first = names(idx, "animals", limit=2)
    second = names(idx, "animals", limit=2, offset=2)
    assert first == full[:2] and second == full[2:4]
    assert names(idx, "animals", limit=2, offset=1000) == []
    assert idx.get("/v1/search?q=x&limit=0").status == 400


def test_relevance_floor(idx):
    # nothing in the collection is about these: no results, not everything
    for q in ("quantum chromodynamics lecture", "spreadsheet invoice accounting"):
        assert names(idx, q) == [], q
    # with the floor off (benchmarks) the same query ranks everything vector-similar
    assert len(names(idx, "quantum chromodynamics lecture", floor="off", limit=50)) > 0


def test_modes(idx):
    for mode in ("bm25", "vector", "fused"):
        assert names(idx, "horses", mode=mode)[0] == "horses.jpg", mode
    assert idx.get("/v1/search?q=horses&mode=magic").status == 400


def test_deleted_image_never_returns(idx):
    # a second copy of the giraffe, deleted: gone at once and after a restart
    r = idx.upload([("giraffe_copy.jpg", read(os.path.join(DARKNET, "giraffe.jpg")))])
    assert r.status == 202
    copy_id = r.json()["images"][0]["id"]
    idx.wait_job(r.json()["job_id"])
    assert "giraffe_copy.jpg" in names(idx, "giraffe")
    assert idx.delete("/v1/images/" + copy_id).status in (200, 204)
    for q in ("giraffe", "giraffe copy", "zebra", "animals"):
        assert "giraffe_copy.jpg" not in names(idx, q, floor="off", limit=50), q
    idx.stop()
    idx.start()
    for q in ("giraffe", "giraffe copy"):
        assert "giraffe_copy.jpg" not in names(idx, q, floor="off", limit=50), q
    assert "giraffe.jpg" in names(idx, "giraffe")
