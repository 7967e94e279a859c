"""The web app as HTTP sees it (http/assets.h): `scry serve` alone serves
it at / with the right types, validators, caching, compression and
security headers; and the API routes the app added (facets, similar)."""
import base64
import gzip
import hashlib
import os
import re

import pytest

from conftest import DARKNET, Server, read

PAGES = ("/", "/library", "/jobs")


def version_of(index_html):
    m = re.search(rb'/assets/([0-9a-f]{12})/app\.css', index_html)
    assert m, index_html[:500]
    return m.group(1).decode()


def test_pages_and_assets(server):
    page = server.get("/")
    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Cache-Control"] == "no-cache"
    v = version_of(page.body)
    for p in PAGES[1:] + ("/library/",):
        r = server.get(p)
        assert r.status == 200 and r.body == page.body, p
    # Every asset index.html names exists, under the current version,
    # cacheable for a year, with its type.
    types = {".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
             ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
    urls = re.findall(rb'(?:href|src)="(/assets/[^"]+)"', page.body) + re.findall(rb'"(/assets/[^"]+)"', page.body)
    assert len(set(urls)) >= 10, urls
    for u in set(urls):
        u = u.decode()
        r = server.get(u)
        assert r.status == 200, u
        assert u.startswith("/assets/%s/" % v)
        assert r.headers["Content-Type"] == types[os.path.splitext(u)[1]], u
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable", u
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    # Without the version, or under an old one: the same file, revalidated.
    r = server.get("/assets/js/main.js")
    assert r.status == 200 and r.headers["Cache-Control"] == "no-cache"
    old = server.get("/assets/000000000000/js/main.js")
    assert old.status == 200 and old.body == r.body and old.headers["Cache-Control"] == "no-cache"
    # The modules import only relative paths and the import map's names.
    main = server.get("/assets/%s/js/main.js" % v).body.decode()
    for spec in re.findall(r"from '([^']+)'", main):
        assert spec.startswith("./") or spec in ("preact", "preact/hooks", "htm"), spec


def test_etag_304_and_gzip(server):
    page = server.get("/")
    etag = page.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{16}"', etag)
    r = server.get("/", headers={"If-None-Match": etag})
    assert r.status == 304 and r.body == b""
    r = server.get("/", headers={"If-None-Match": 'W/"nope", ' + etag})
    assert r.status == 304
    assert server.get("/", headers={"If-None-Match": '"nope"'}).status == 200
    v = version_of(page.body)
    plain = server.get("/assets/%s/js/search.js" % v)
    assert "Content-Encoding" not in plain.headers
    gz = server.get("/assets/%s/js/search.js" % v, headers={"Accept-Encoding": "gzip, deflate"})
    assert gz.headers["Content-Encoding"] == "gzip" and gz.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(gz.body) == plain.body and len(gz.body) < len(plain.body) * 0.6
    assert gz.headers["ETag"] != plain.headers["ETag"]
    assert server.get("/assets/%s/js/search.js" % v,
                      headers={"Accept-Encoding": "gzip", "If-None-Match": gz.headers["ETag"]}).status == 304
    refused = server.get("/assets/%s/js/search.js" % v, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers
    # An SVG is text (compressed when it pays); a small file is sent as it is.
    icon = server.get("/assets/%s/icon.svg" % v, headers={"Accept-Encoding": "gzip"})
    assert icon.status == 200 and icon.headers["Content-Type"] == "image/svg+xml"


def test_csp_allows_only_this_origin_and_the_import_map(server):
    page = server.get("/")
    csp = page.headers["Content-Security-Policy"]
    d = dict(x.strip().split(" ", 1) for x in csp.split(";"))
    assert d["default-src"] == "'none'"
    assert d["connect-src"] == "'self'" and d["style-src"] == "'self'" and d["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp
    m = re.search(rb'<script type="importmap">(.*?)</script>', page.body, re.S)
    want = "'sha256-%s'" % base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode()
    assert d["script-src"] == "'self' " + want
    # No other inline script, and nothing loaded from elsewhere.
    scripts = re.findall(rb"<script([^>]*)>(.*?)</script>", page.body, re.S)
    for attrs, body in scripts:
        assert b"src=" in attrs or b"importmap" in attrs
    assert not re.search(rb'(?:src|href)="(?:https?:)?//', page.body)


def test_wrong_methods_and_paths(server):
    assert server.request("POST", "/").status == 405
    assert server.request("DELETE", "/assets/js/main.js").status == 405
    for p in ("/assets/../meta.db", "/assets/%2e%2e/meta.db", "/assets/nope.js", "/assets/index.html",
              "/nowhere", "/v1/nowhere"):
        r = server.get(p)
        assert r.status == 404, p
        assert r.json()["error"]["code"] == "not_found", p
    assert server.get("/favicon.ico").headers["Content-Type"] == "image/svg+xml"


def test_without_the_web_app_the_api_still_works(tmpdir_path):
    s = Server(os.path.join(tmpdir_path, "data"), ["--workers", "0", "--web", os.path.join(tmpdir_path, "none")])
    s.start()
    try:
        r = s.get("/")
        assert r.status == 503 and b"not installed" in r.body and b"make install" in r.body
        assert s.get("/healthz").status == 200
        assert "web.unavailable" in s.tail()
    finally:
        s.stop()


@pytest.fixture
def indexed(server):
    files = [(n, read(os.path.join(DARKNET, n))) for n in ("dog.jpg", "horses.jpg", "person.jpg", "kite.jpg")]
    r = server.upload(files)
    assert r.status == 202
    job = server.wait_job(r.json()["job_id"])
    assert job["status"] == "completed" and job["done"] == 4, job
    return {img["filename"]: img["id"] for img in r.json()["images"]}


def test_facets(server, indexed):
    f = server.get("/v1/facets").json()
    assert f["images"] == 4
    labels = {x["label"]: x["count"] for x in f["labels"]}
    # dog.jpg and person.jpg both show a dog; horses.jpg and person.jpg a horse.
    assert labels["dog"] == 2 and labels["horse"] == 2 and labels["person"] >= 2, labels
    counts = [x["count"] for x in f["labels"]]
    assert counts == sorted(counts, reverse=True)
    assert f["dated"] >= 1 and f["dates"]["from"] <= f["dates"]["to"]
    server.delete("/v1/images/" + indexed["dog.jpg"])
    f2 = server.get("/v1/facets").json()
    assert f2["images"] == 3 and {x["label"]: x["count"] for x in f2["labels"]}["dog"] == 1


def test_similar(server, indexed):
    r = server.get("/v1/images/%s/similar?limit=3" % indexed["horses.jpg"])
    assert r.status == 200, r.body
    doc = r.json()
    assert doc["image_id"] == indexed["horses.jpg"]
    res = doc["results"]
    assert len(res) == 3 and indexed["horses.jpg"] not in [x["id"] for x in res]
    # The other photo with a horse is the nearest, and why says so.
    assert res[0]["filename"] == "person.jpg", res
    assert res[0]["why"].startswith("horse") and "similar" in res[0]["why"]
    scores = [x["score"] for x in res]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    assert server.get("/v1/images/%s/similar?offset=1&limit=1" % indexed["horses.jpg"]).json()["results"][0]["id"] == res[1]["id"]
    assert server.get("/v1/images/%s/similar?limit=0" % indexed["horses.jpg"]).status == 400
    assert server.get("/v1/images/%s/similar" % ("0" * 24)).status == 404
    assert server.get("/v1/images/nothex/similar").status == 404
    assert server.request("POST", "/v1/images/%s/similar" % indexed["horses.jpg"]).status == 405
    # Deleted: gone from its neighbours' lists.
    server.delete("/v1/images/" + indexed["person.jpg"])
    res = server.get("/v1/images/%s/similar" % indexed["horses.jpg"]).json()["results"]
    assert indexed["person.jpg"] not in [x["id"] for x in res] and len(res) == 2


def test_similar_of_an_image_not_indexed_yet(tmpdir_path):
    s = Server(os.path.join(tmpdir_path, "data"), ["--workers", "0"]).start()
    try:
        r = s.upload([("dog.jpg", read(os.path.join(DARKNET, "dog.jpg")))])
        r = s.get("/v1/images/%s/similar" % r.json()["images"][0]["id"])
        assert r.status == 404 and "not indexed" in r.json()["error"]["message"]
    finally:
        s.stop()


def test_search_refuses_an_unterminated_quote(server):
    r = server.get("/v1/search?q=%22unterminated")
    assert r.status == 400
    assert r.json()["error"]["code"] == "invalid_query" and "unterminated quote" in r.json()["error"]["message"]
    assert server.get("/v1/search?q=sign+saying+%22open%22").status == 200
    assert server.get("/v1/search?q=%E2%80%9Copen%E2%80%9D").status == 200
    assert server.get("/v1/search?q=%E2%80%9Copen").status == 400
