"""End-to-end tests of the v1 REST API against a real server on loopback,
with real photos (Debian's darknet samples and ../shared/data)."""
import glob
import hashlib
import http.client
import json
import os

from conftest import BACKEND, DARKNET, SHARED, jpeg_with_exif, read, stored_blobs

DOG = os.path.join(DARKNET, "dog.jpg")


def blob_files(server):
    return stored_blobs(server)


def test_health_and_metrics(server):
    r = server.get("/healthz")
    assert r.status == 200 and r.json()["status"] == "ok"
    r = server.get("/metrics")
    assert r.status == 200
    text = r.body.decode()
    assert "scry_upload_images_total 0" in text
    assert 'scry_jobs{status="completed"}' in text


def test_upload_index_and_read_back(server):
    data = read(DOG)
    r = server.upload([("dog.jpg", data)])
    assert r.status == 202, r.body
    doc = r.json()
    assert doc["status"] == "pending" and len(doc["job_id"]) == 24
    assert [i["filename"] for i in doc["images"]] == ["dog.jpg"]
    image_id = doc["images"][0]["id"]
    job = server.wait_job(doc["job_id"])
    assert job["status"] == "completed", job
    assert (job["total"], job["done"], job["failed"], job["errors"]) == (1, 1, 0, [])
    for key in ("created_at", "updated_at"):
        assert job[key].endswith("Z")

    img = server.get("/v1/images/" + image_id).json()
    assert img["id"] == image_id and img["filename"] == "dog.jpg"
    assert (img["width"], img["height"], img["format"]) == (768, 576, "jpeg")
    assert img["bytes"] == len(data)
    assert img["sha256"] == hashlib.sha256(data).hexdigest()
    assert img["status"] == "ready"
    assert isinstance(img["exif"], dict)
    assert img["colors"] and all(c["name"] and 0 < c["fraction"] <= 1 for c in img["colors"])
    assert len(img["phash"]) == 16
    for key in ("caption", "tags", "faces", "text"):
        assert key in img

    content = server.get("/v1/images/%s/content" % image_id)
    assert content.status == 200 and content.body == data
    assert content.headers["Content-Type"] == "image/jpeg"
    thumb = server.get("/v1/images/%s/thumbnail" % image_id)
    assert thumb.status == 200 and thumb.body[:2] == b"\xff\xd8"
    assert len(thumb.body) < len(data)

    metrics = server.get("/metrics").body.decode()
    assert "scry_upload_images_total 1" in metrics
    assert 'scry_stage_runs_total{stage="decode"} 1' in metrics


def test_multiple_files_one_job_and_raw_body(server):
    names = ["dog.jpg", "horses.jpg", "person.jpg"]
    r = server.upload([(n, read(os.path.join(DARKNET, n))) for n in names])
    assert r.status == 202, r.body
    doc = r.json()
    assert [i["filename"] for i in doc["images"]] == names
    job = server.wait_job(doc["job_id"])
    assert (job["status"], job["total"], job["done"]) == ("completed", 3, 3)

    r = server.upload_raw(read(os.path.join(DARKNET, "giraffe.jpg")), "image/jpeg", "giraffe.jpg")
    assert r.status == 202, r.body
    doc = r.json()
    assert doc["images"][0]["filename"] == "giraffe.jpg"
    assert server.wait_job(doc["job_id"])["done"] == 1
    listed = server.get("/v1/jobs").json()["jobs"]
    assert len(listed) == 2 and listed[0]["job_id"] == doc["job_id"]


def post_in_pieces(server, body, ctype, cuts):
    """POST body over a raw socket, sending it in pieces cut at the given
    offsets with a pause between them, so that the server sees each piece
    as its own read. Returns (status, parsed JSON body)."""
    import socket
    import time
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.sendall(("POST /v1/images HTTP/1.1\r\nHost: scry\r\nContent-Type: %s\r\n"
                      "Content-Length: %d\r\nConnection: close\r\n\r\n" % (ctype, len(body))).encode())
        prev = 0
        for c in sorted(cuts) + [len(body)]:
            sock.sendall(body[prev:c])
            prev = c
            time.sleep(0.03)
        resp = b""
        while True:
            d = sock.recv(65536)
            if not d:
                break
            resp += d
    finally:
        sock.close()
    head, _, payload = resp.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(payload)


def test_multipart_cut_anywhere(server):
    """A multipart body cut right after a part's headers (or a few bytes
    into its data) is the same upload: libmicrohttpd then announces the part
    with an empty call before its bytes, which once made a phantom empty
    part and a 415 for a good photo."""
    from conftest import multipart
    names = ["dog.jpg", "horses.jpg", "person.jpg"]
    files = [(n, read(os.path.join(DARKNET, n))) for n in names]
    body, ctype = multipart(files)
    ends = []
    i = body.find(b"\r\n\r\n")
    while i >= 0:
        ends.append(i + 4)
        i = body.find(b"\r\n\r\n", i + 4)
    assert len(ends) == 3
    for delta in (0, 1, 3):
        status, doc = post_in_pieces(server, body, ctype, [e + delta for e in ends])
        assert status == 202, doc
        assert [i["filename"] for i in doc["images"]] == names
        for img, (_, data) in zip(doc["images"], files):
            assert img["sha256"] == hashlib.sha256(data).hexdigest()
            assert img["bytes"] == len(data)
    # An empty part cut the same way is still refused, naming it.
    body, ctype = multipart([("dog.jpg", files[0][1]), ("empty.jpg", b"")])
    ends = [i + 4 for i in range(len(body)) if body.startswith(b"\r\n\r\n", i)]
    status, doc = post_in_pieces(server, body, ctype, ends)
    assert status == 415 and "'empty.jpg' is not an image" in doc["error"]["message"], doc


def test_png_and_coco_photos(server):
    photos = sorted(glob.glob(os.path.join(SHARED, "data", "coco", "images", "*.jpg")))[:4]
    assert photos, "shared COCO photos missing"
    r = server.upload([(os.path.basename(p), read(p)) for p in photos])
    job = server.wait_job(r.json()["job_id"])
    assert job["done"] == len(photos), job


def test_duplicate_bytes_stored_once(server):
    data = read(DOG)
    a = server.upload([("a.jpg", data)]).json()
    server.wait_job(a["job_id"])
    before = blob_files(server)
    b = server.upload([("b.jpg", data)]).json()
    server.wait_job(b["job_id"])
    assert a["images"][0]["id"] != b["images"][0]["id"]
    assert a["images"][0]["sha256"] == b["images"][0]["sha256"]
    # Same original and same thumbnail: no new blob files.
    assert blob_files(server) == before


def test_exif_fields(server):
    data = jpeg_with_exif(read(DOG), "Canon", "Canon EOS 5D", "2019:07:14 16:30:00", gps=(48.8584, 2.2945))
    r = server.upload([("paris.jpg", data)]).json()
    server.wait_job(r["job_id"])
    img = server.get("/v1/images/" + r["images"][0]["id"]).json()
    exif = img["exif"]
    assert exif["date_taken"].startswith("2019-07-14T16:30")
    assert "Canon EOS 5D" in exif["camera"]
    assert abs(exif["gps"]["lat"] - 48.8584) < 1e-3 and abs(exif["gps"]["lon"] - 2.2945) < 1e-3
    # Searchable by what EXIF says, and filterable by date.
    hits = server.get("/v1/search?q=canon").json()["results"]
    assert [h["id"] for h in hits] == [img["id"]]
    assert server.get("/v1/search?q=canon&from=2019&to=2019").json()["results"]
    assert not server.get("/v1/search?q=canon&from=2020").json()["results"]


def test_search_by_filename_and_colour(server):
    r = server.upload([("beach-sunset_2019.jpg", read(DOG)),
                       ("IMG_horses.jpg", read(os.path.join(DARKNET, "horses.jpg")))]).json()
    server.wait_job(r["job_id"])
    res = server.get("/v1/search?q=sunset").json()
    assert res["query"] == "sunset"
    assert [h["filename"] for h in res["results"]] == ["beach-sunset_2019.jpg"]
    hit = res["results"][0]
    assert 0 < hit["score"] <= 1 and "sunset" in hit["why"]
    res = server.get("/v1/search?q=horses").json()["results"]
    assert [h["filename"] for h in res] == ["IMG_horses.jpg"]
    # Colour names of the images are indexed.
    img = server.get("/v1/images/" + r["images"][1]["id"]).json()
    colour = img["colors"][0]["name"]
    ids = [h["id"] for h in server.get("/v1/search?q=" + colour).json()["results"]]
    assert img["id"] in ids
    assert server.get("/v1/search?q=zzzznothing").json()["results"] == []
    assert server.get("/v1/search?q=horses&limit=1&offset=1").json()["results"] == []


def test_delete(server):
    r = server.upload([("dog.jpg", read(DOG))]).json()
    server.wait_job(r["job_id"])
    image_id = r["images"][0]["id"]
    assert server.get("/v1/search?q=dog").json()["results"]
    d = server.delete("/v1/images/" + image_id)
    assert d.status == 204
    assert server.get("/v1/images/" + image_id).status == 404
    assert server.get("/v1/images/%s/content" % image_id).status == 404
    assert server.get("/v1/search?q=dog").json()["results"] == []
    assert blob_files(server) == []
    assert server.delete("/v1/images/" + image_id).status == 404


def test_non_image_refused_and_nothing_stored(server):
    good = read(DOG)
    for files in ([("notes.txt", b"hello, I am not an image at all")],
                  [("ok.jpg", good), ("evil.pdf", b"%PDF-1.4\n" + b"x" * 1000)],
                  [("empty.jpg", b"")]):
        r = server.upload(files)
        assert r.status == 415, r.body
        err = r.json()["error"]
        assert err["code"] == "unsupported_media_type" and "not an image" in err["message"]
    r = server.upload_raw(b"GIF89a-but-really-text", "text/plain")
    assert r.status == 415
    assert server.get("/v1/images").json()["total"] == 0
    assert server.get("/v1/jobs").json()["jobs"] == []
    assert blob_files(server) == []
    if BACKEND == "embedded":
        assert os.listdir(os.path.join(server.data_dir, "blobs", "tmp")) == []


def test_truncated_and_corrupt_images_fail_at_decode(server):
    data = read(DOG)
    r = server.upload([("half.jpg", data[: len(data) // 2]),
                       ("garbage.png", b"\x89PNG\r\n\x1a\n" + os.urandom(3000)),
                       ("fine.jpg", data)])
    assert r.status == 202, r.body
    job = server.wait_job(r.json()["job_id"])
    assert job["status"] == "completed"
    assert (job["total"], job["done"], job["failed"]) == (3, 1, 2)
    by_name = {e["filename"]: e for e in job["errors"]}
    assert set(by_name) == {"half.jpg", "garbage.png"}
    for e in by_name.values():
        assert e["stage"] == "decode" and len(e["message"]) > 5
    failed = server.get("/v1/images/" + by_name["half.jpg"]["image_id"]).json()
    assert failed["status"] == "failed"
    # The original bytes are kept even though they cannot be decoded.
    content = server.get("/v1/images/%s/content" % by_name["half.jpg"]["image_id"])
    assert content.body == data[: len(data) // 2]


def test_upload_limit(small_server):
    # A client announcing a body over the limit is answered 413 before it
    # sends the body (as curl does with Expect: 100-continue).
    conn = http.client.HTTPConnection("127.0.0.1", small_server.port, timeout=30)
    conn.putrequest("POST", "/v1/images")
    conn.putheader("Content-Type", "image/jpeg")
    conn.putheader("Content-Length", str(5 * 1024 * 1024))
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 413
    assert json.loads(r.read())["error"]["code"] == "too_large"
    conn.close()
    # A chunked body that grows past the limit is cut off with 413 too.
    conn = http.client.HTTPConnection("127.0.0.1", small_server.port, timeout=30)
    conn.putrequest("POST", "/v1/images")
    conn.putheader("Content-Type", "image/jpeg")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = read(DOG)
    try:
        for _ in range(20):
            conn.send(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    r = conn.getresponse()
    assert r.status == 413
    conn.close()
    assert small_server.get("/v1/images").json()["total"] == 0
    assert small_server.upload([("dog.jpg", read(DOG))]).status == 202


def test_malformed_requests(server):
    r = server.request("POST", "/v1/images", body=b"--x\r\nnonsense", headers={"Content-Type": "multipart/form-data"})
    assert r.status == 400 and r.json()["error"]["code"] == "invalid_request"
    r = server.request("POST", "/v1/images", body=b"garbage without parts",
                       headers={"Content-Type": "multipart/form-data; boundary=abc"})
    assert r.status == 400
    r = server.request("POST", "/v1/images", body=b"{}", headers={"Content-Type": "application/json"})
    assert r.status == 415
    for path in ("/v1/search", "/v1/search?q=dog&limit=abc", "/v1/search?q=dog&limit=0",
                 "/v1/search?q=dog&sort=size", "/v1/search?q=dog&has_text=maybe",
                 "/v1/search?q=dog&from=yesterday", "/v1/jobs?limit=-1"):
        r = server.get(path)
        assert r.status == 400, path
        assert r.json()["error"]["message"]
    assert server.request("PUT", "/v1/images").status == 405
    assert server.request("POST", "/v1/jobs").status == 405


def test_unknown_ids(server):
    unknown = "0123456789abcdef01234567"
    for path in ("/v1/images/" + unknown, "/v1/images/%s/content" % unknown,
                 "/v1/images/%s/thumbnail" % unknown, "/v1/jobs/" + unknown,
                 "/v1/images/not-an-id", "/v1/jobs/../../etc/passwd", "/nope", "/v1/images/x/y/z"):
        r = server.get(path)
        assert r.status == 404, path
        assert r.json()["error"]["code"] == "not_found"
    assert server.delete("/v1/images/" + unknown).status == 404


def test_no_faces_on_animals_but_faces_in_a_crowd(server):
    """A horse photo in which BlazeFace alone sees a 'face' (0.6-0.7) but
    the object detector sees nobody gets no face -- and so no expression in
    its caption -- while a group photo keeps all of its faces."""
    horse = os.path.join(SHARED, "data", "coco", "images", "000000078499.jpg")
    group = os.path.join(SHARED, "data", "faces", "images", "2008_002079.jpg")
    r = server.upload([("horse.jpg", read(horse)), ("group.jpg", read(group))])
    assert r.status == 202, r.body
    ids = {i["filename"]: i["id"] for i in r.json()["images"]}
    assert server.wait_job(r.json()["job_id"])["status"] == "completed"
    h = server.get("/v1/images/" + ids["horse.jpg"]).json()
    assert "horse" in [t["label"] for t in h["tags"]], h["tags"]
    assert h["faces"] == [], h["faces"]
    g = server.get("/v1/images/" + ids["group.jpg"]).json()
    assert len(g["faces"]) >= 5, g["faces"]
