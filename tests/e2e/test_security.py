"""Access control end to end (issue 13): API keys and scopes on every route,
the secure default, sessions with CSRF protection, CORS, TLS, rate limits,
the audit log and `scry keys`. A real server on loopback each time."""
import json
import os
import re
import ssl
import subprocess
import time
import urllib.request

import pytest

from conftest import DARKNET, SCRY, Server, bearer, bootstrap_key, embedded_only, multipart, read

DOG = os.path.join(DARKNET, "dog.jpg")
UNKNOWN = "0123456789abcdef01234567"


def make_key(server, scopes, name="test"):
    r = server.request("POST", "/v1/keys", body=json.dumps({"name": name, "scopes": scopes}).encode(),
                       headers=dict(bearer(server.key), **{"Content-Type": "application/json"}))
    assert r.status == 201, r.body
    doc = r.json()
    assert doc["key"].startswith("scry_" + doc["id"] + "_") and doc["scopes"] == scopes
    return doc


def upload_with(server, headers, files=None):
    body, ctype = multipart(files or [("dog.jpg", read(DOG))])
    return server.request("POST", "/v1/images", body=body, headers=dict(headers, **{"Content-Type": ctype}))


def test_loopback_default_is_open_and_says_so(server):
    doc = server.get("/v1/session").json()
    assert doc == {"auth": False, "signed_in": False, "scopes": ["read", "write", "admin"]}
    assert server.get("/v1/images").status == 200
    assert "auth.bootstrap_key" not in server.tail(100000)


def test_auth_off_refused_beyond_loopback(tmpdir_path):
    # Refused before anything listens: no traffic leaves loopback.
    r = subprocess.run([SCRY, "serve", "--data", os.path.join(tmpdir_path, "d"), "--host", "0.0.0.0",
                        "--auth", "off", "--port", "0", "--vision", "0"], capture_output=True, timeout=60)
    assert r.returncode != 0
    assert b"--auth off is only allowed on a loopback" in r.stderr


def test_bootstrap_key_once_and_only_in_the_log(tmpdir_path):
    s = Server(os.path.join(tmpdir_path, "data"), ["--workers", "0", "--vision", "0", "--auth", "on"]).start()
    try:
        key = bootstrap_key(s)
        log = s.tail(100000)
        assert log.count(key) == 1
        assert s.get("/v1/session").json() == {"auth": True, "signed_in": False, "scopes": []}
        r = s.get("/v1/keys", headers=bearer(key))
        assert r.status == 200
        keys = r.json()["keys"]
        assert len(keys) == 1 and keys[0]["scopes"] == ["read", "write", "admin"]
        assert key not in r.body.decode()
    finally:
        s.stop()
    # A restart with a key already there mints none.
    s.start()
    try:
        time.sleep(0.3)
        assert s.tail(100000).count("auth.bootstrap_key") == 1
    finally:
        s.stop()


# Every route, the scope it needs, and how to call it.
def routes(image_id, job_id, key_id):
    return [
        ("GET", "/v1/search?q=dog", "read"),
        ("GET", "/v1/images", "read"),
        ("GET", "/v1/images/" + image_id, "read"),
        ("GET", "/v1/images/%s/content" % image_id, "read"),
        ("GET", "/v1/images/%s/thumbnail" % image_id, "read"),
        ("GET", "/v1/jobs", "read"),
        ("GET", "/v1/jobs/" + job_id, "read"),
        ("POST", "/v1/images", "write"),
        ("DELETE", "/v1/images/" + UNKNOWN, "admin"),
        ("GET", "/metrics", "admin"),
        ("GET", "/v1/keys", "admin"),
        ("POST", "/v1/keys", "admin"),
        ("DELETE", "/v1/keys/" + key_id, "admin"),
    ]


def call(server, method, path, headers):
    if method == "POST" and path == "/v1/images":
        return upload_with(server, headers)
    if method == "POST" and path == "/v1/keys":
        return server.request(method, path, body=b'{"name": "x", "scopes": ["read"]}',
                              headers=dict(headers, **{"Content-Type": "application/json"}))
    return server.request(method, path, headers=headers)


def test_every_route_checks_its_scope(auth_server):
    s = auth_server
    r = upload_with(s, bearer(s.key))
    assert r.status == 202, r.body
    image_id, job_id = r.json()["images"][0]["id"], r.json()["job_id"]
    all_but = {sc: make_key(s, [o for o in ("read", "write", "admin") if o != sc], "no-" + sc)
               for sc in ("read", "write", "admin")}
    only = {sc: make_key(s, [sc], "only-" + sc) for sc in ("read", "write", "admin")}
    revoked = make_key(s, ["read", "write", "admin"], "revoked")
    victim = make_key(s, ["read"], "victim")
    assert s.request("DELETE", "/v1/keys/" + revoked["id"], headers=bearer(s.key)).status == 204
    for method, path, scope in routes(image_id, job_id, victim["id"]):
        what = "%s %s" % (method, path)
        r = call(s, method, path, {})
        assert r.status == 401, what
        assert r.json()["error"]["code"] == "unauthorized", what
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), what
        r = call(s, method, path, bearer(all_but[scope]["key"]))
        assert r.status == 403, (what, r.status, r.body)
        assert r.json()["error"]["code"] == "forbidden" and scope in r.json()["error"]["message"], what
        r = call(s, method, path, bearer(revoked["key"]))
        assert r.status == 401, what
        r = call(s, method, path, bearer(only[scope]["key"][:-1] + ("0" if only[scope]["key"][-1] != "0" else "1")))
        assert r.status == 401, what + " (wrong secret)"
        r = call(s, method, path, {"Authorization": "Basic dXNlcjpwYXNz"})
        assert r.status == 401, what + " (not a bearer key)"
        r = call(s, method, path, bearer(only[scope]["key"]))
        assert r.status not in (401, 403), (what, r.status, r.body)
    # Public routes stay public, and say nothing about the collection.
    h = s.get("/healthz")
    assert h.status == 200 and h.json() == {"status": "ok"}
    assert s.get("/v1/session").status == 200


def test_sessions_cookies_and_csrf(auth_server):
    s = auth_server
    web = make_key(s, ["read", "write"], "web")
    r = s.request("POST", "/v1/session", body=json.dumps({"key": "scry_nope"}).encode(),
                  headers={"Content-Type": "application/json"})
    assert r.status == 400
    bad = web["key"][:-1] + ("0" if web["key"][-1] != "0" else "1")
    r = s.request("POST", "/v1/session", body=json.dumps({"key": bad}).encode(),
                  headers={"Content-Type": "application/json"})
    assert r.status == 401 and r.json()["error"]["code"] == "unauthorized"
    # Sign in: two cookies with the right attributes.
    req = urllib.request.Request(s.base + "/v1/session", method="POST",
                                 data=json.dumps({"key": web["key"]}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
        doc = json.loads(resp.read())
        cookies = resp.headers.get_all("Set-Cookie")
    assert doc == {"auth": True, "signed_in": True, "scopes": ["read", "write"]}
    sess = next(c for c in cookies if c.startswith("scry_session="))
    csrf_c = next(c for c in cookies if c.startswith("scry_csrf="))
    assert "HttpOnly" in sess and "SameSite=Strict" in sess and "Path=/" in sess
    assert "HttpOnly" not in csrf_c and "SameSite=Strict" in csrf_c
    assert "Secure" not in sess                     # plain HTTP here; see test_tls
    token = sess.split(";")[0].split("=", 1)[1]
    csrf = csrf_c.split(";")[0].split("=", 1)[1]
    assert len(token) == 64 and len(csrf) == 64 and token != csrf
    cookie = {"Cookie": "scry_session=%s; scry_csrf=%s" % (token, csrf)}
    assert s.get("/v1/session", headers=cookie).json()["signed_in"] is True
    assert s.get("/v1/images", headers=cookie).status == 200
    # State-changing with the cookie: the header must match.
    r = upload_with(s, cookie)
    assert r.status == 403 and r.json()["error"]["code"] == "csrf"
    r = upload_with(s, dict(cookie, **{"X-CSRF-Token": "0" * 64}))
    assert r.status == 403 and r.json()["error"]["code"] == "csrf"
    r = upload_with(s, dict(cookie, **{"X-CSRF-Token": csrf}))
    assert r.status == 202, r.body
    # Scope still applies with a session: web has no admin.
    r = s.request("DELETE", "/v1/images/" + r.json()["images"][0]["id"],
                  headers=dict(cookie, **{"X-CSRF-Token": csrf}))
    assert r.status == 403 and r.json()["error"]["code"] == "forbidden"
    # A bearer key needs no CSRF token.
    assert upload_with(s, bearer(web["key"])).status == 202
    # Sign-out is state-changing too, then the cookie is dead.
    assert s.request("DELETE", "/v1/session", headers=cookie).status == 403
    r = s.request("DELETE", "/v1/session", headers=dict(cookie, **{"X-CSRF-Token": csrf}))
    assert r.status == 200 and r.json()["signed_in"] is False
    assert s.get("/v1/images", headers=cookie).status == 401
    assert s.get("/v1/session", headers=cookie).json()["signed_in"] is False
    # A session dies with its key.
    r = s.request("POST", "/v1/session", body=json.dumps({"key": web["key"]}).encode(),
                  headers={"Content-Type": "application/json"})
    token2 = re.search(r"scry_session=([0-9a-f]{64})", r.headers["Set-Cookie"] if "Set-Cookie" in r.headers else str(r.headers)).group(1)
    c2 = {"Cookie": "scry_session=" + token2}
    assert s.get("/v1/images", headers=c2).status == 200
    assert s.request("DELETE", "/v1/keys/" + web["id"], headers=bearer(s.key)).status == 204
    assert s.get("/v1/images", headers=c2).status == 401


def test_cors_allow_list(tmpdir_path):
    s = Server(os.path.join(tmpdir_path, "data"), ["--workers", "0", "--vision", "0",
                                                   "--cors-origins", "https://dam.example, https://x.example"]).start()
    try:
        pre = {"Origin": "https://dam.example", "Access-Control-Request-Method": "POST"}
        r = s.request("OPTIONS", "/v1/images", headers=pre)
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Origin"] == "https://dam.example"
        assert "POST" in r.headers["Access-Control-Allow-Methods"]
        assert "X-CSRF-Token" in r.headers["Access-Control-Allow-Headers"]
        r = s.get("/v1/images", headers={"Origin": "https://x.example"})
        assert r.headers["Access-Control-Allow-Origin"] == "https://x.example" and r.headers["Vary"] == "Origin"
        for origin in ("https://evil.example", "https://dam.example.evil", "null"):
            r = s.request("OPTIONS", "/v1/images", headers=dict(pre, Origin=origin))
            assert "Access-Control-Allow-Origin" not in r.headers, origin
            assert "Access-Control-Allow-Origin" not in s.get("/v1/images", headers={"Origin": origin}).headers
    finally:
        s.stop()


def test_cors_off_by_default(server):
    r = server.request("OPTIONS", "/v1/images", headers={"Origin": "https://dam.example"})
    assert r.status == 204 and r.headers["Allow"].startswith("GET")
    assert "Access-Control-Allow-Origin" not in r.headers
    assert "Access-Control-Allow-Origin" not in server.get("/v1/images", headers={"Origin": "https://dam.example"}).headers


def test_rate_limit_per_ip(tmpdir_path):
    s = Server(os.path.join(tmpdir_path, "data"), ["--workers", "0", "--vision", "0",
                                                   "--rate-ip", "2", "--rate-ip-burst", "5"]).start()
    try:
        time.sleep(2.5)                  # the health checks of start() used tokens
        codes = [s.get("/v1/images").status for _ in range(8)]
        assert codes[:5] == [200] * 5 and 429 in codes[5:], codes
        r = s.get("/v1/images")
        assert r.status == 429 and r.json()["error"]["code"] == "rate_limited"
        wait = int(r.headers["Retry-After"])
        assert 1 <= wait <= 2
        time.sleep(wait)
        assert s.get("/v1/images").status == 200
        m = re.search(r"^scry_rate_limited_total (\d+)$", s.get("/metrics").body.decode(), re.M)
        assert m and int(m.group(1)) >= 1
    finally:
        s.stop()


def test_default_per_address_limit_only_with_auth_on(tmpdir_path):
    """--rate-ip's default: 50/s (burst 200) per address with auth on; none
    with auth off (loopback only), where the web app's grid of thumbnails
    and any local script may ask as fast as they like."""
    open_ = Server(os.path.join(tmpdir_path, "open"), ["--workers", "0", "--vision", "0"]).start()
    try:
        codes = [open_.get("/healthz").status for _ in range(300)]
        assert codes == [200] * 300, sorted(set(codes))
    finally:
        open_.stop()
    locked = Server(os.path.join(tmpdir_path, "locked"), ["--workers", "0", "--vision", "0", "--auth", "on"]).start()
    try:
        codes = [locked.get("/healthz").status for _ in range(300)]
        assert 429 in codes and codes[:150] == [200] * 150, codes
    finally:
        locked.stop()


def test_rate_limit_per_key(tmpdir_path):
    s = Server(os.path.join(tmpdir_path, "data"), ["--workers", "0", "--vision", "0", "--auth", "on",
                                                   "--rate-key", "1", "--rate-key-burst", "4"]).start()
    try:
        s.key = bootstrap_key(s)
        a, b = make_key(s, ["read"], "a"), make_key(s, ["read"], "b")
        codes = [s.get("/v1/images", headers=bearer(a["key"])).status for _ in range(6)]
        assert codes[:4] == [200] * 4 and codes[4:] == [429, 429], codes
        r = s.get("/v1/images", headers=bearer(a["key"]))
        assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
        assert s.get("/v1/images", headers=bearer(b["key"])).status == 200     # another key is not held back
    finally:
        s.stop()


def test_audit_log_names_key_ids_never_keys(auth_server):
    s = auth_server
    admin = make_key(s, ["read", "write", "admin"], "ops")
    r = upload_with(s, bearer(admin["key"]))
    image_id, job_id = r.json()["images"][0]["id"], r.json()["job_id"]
    s.wait_job(job_id)
    assert s.request("DELETE", "/v1/images/" + image_id, headers=bearer(admin["key"])).status == 204
    other = make_key(s, ["read"], "tmp")
    assert s.request("DELETE", "/v1/keys/" + other["id"], headers=bearer(admin["key"])).status == 204
    s.request("POST", "/v1/session", body=json.dumps({"key": other["key"]}).encode())   # revoked: 401
    s.request("POST", "/v1/session", body=json.dumps({"key": admin["key"]}).encode())
    time.sleep(0.2)
    log = s.tail(1000000)
    lines = [l for l in log.splitlines() if "event=audit" in l]
    def has(action, *parts):
        return any(("action=" + action + " ") in l and all(p in l for p in parts) for l in lines)
    assert has("upload", "key=" + admin["id"], "via=bearer", "ip=127.0.0.1", "job=" + job_id, "images=1")
    assert has("delete", "key=" + admin["id"], "image=" + image_id)
    assert has("key.create", "target=" + other["id"], "scopes=read")
    assert has("key.revoke", "key=" + admin["id"], "target=" + other["id"])
    assert has("session.create", "key=" + admin["id"], "via=session")
    for k in (admin["key"], other["key"]):
        assert k not in log
        assert k.split("_")[2][:16] not in log          # no part of a secret either
    assert all(l.count("\n") == 0 for l in lines)


@embedded_only       # `scry keys` on the data folder's own meta.db
def test_cli_keys_create_list_revoke(tmpdir_path):
    data = os.path.join(tmpdir_path, "data")
    r = subprocess.run([SCRY, "keys", "create", "--scope", "read,write", "--name", "web", "--data", data],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    key = r.stdout.decode().strip()
    assert re.fullmatch(r"scry_[0-9a-f]{24}_[0-9a-f]{64}", key)
    key_id = key.split("_")[1]
    assert subprocess.run([SCRY, "keys", "create", "--scope", "root", "--data", data],
                          capture_output=True, timeout=60).returncode == 2
    s = Server(data, ["--workers", "0", "--vision", "0", "--auth", "on"]).start()
    try:
        assert "auth.bootstrap_key" not in s.tail(100000)       # a key exists already
        assert s.get("/v1/images", headers=bearer(key)).status == 200
        assert upload_with(s, bearer(key)).status == 202
        assert s.get("/metrics", headers=bearer(key)).status == 403
        lst = subprocess.run([SCRY, "keys", "list", "--data", data], capture_output=True, timeout=60)
        line = lst.stdout.decode().strip().splitlines()[0]
        assert line.startswith(key_id + "  \"web\"  read,write  ")
        assert re.search(r"  \d{4}-\d\d-\d\dT[\d:]+Z  (-|\d{4}-\d\d-\d\dT[\d:]+Z)$", line), line
        assert key.split("_")[2] not in lst.stdout.decode()
        rv = subprocess.run([SCRY, "keys", "revoke", key_id, "--data", data], capture_output=True, timeout=60)
        assert rv.returncode == 0 and b"revoked " + key_id.encode() in rv.stdout
        # The running server stops honouring it within its cache time (2 s).
        deadline = time.time() + 5
        while time.time() < deadline and s.get("/v1/images", headers=bearer(key)).status == 200:
            time.sleep(0.2)
        assert s.get("/v1/images", headers=bearer(key)).status == 401
        lst = subprocess.run([SCRY, "keys", "list", "--data", data], capture_output=True, timeout=60)
        assert "revoked " in lst.stdout.decode()
        assert subprocess.run([SCRY, "keys", "revoke", key_id, "--data", data],
                              capture_output=True, timeout=60).returncode == 1
    finally:
        s.stop()


def make_cert(dirpath):
    cert, key = os.path.join(dirpath, "cert.pem"), os.path.join(dirpath, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=120)
    return cert, key


def test_tls(tmpdir_path):
    cert, key = make_cert(tmpdir_path)
    s = Server(os.path.join(tmpdir_path, "data"), ["--workers", "1", "--vision", "0", "--auth", "on",
                                                   "--tls-cert", cert, "--tls-key", key])
    s.start_process()
    ctx = ssl.create_default_context(cafile=cert)
    base = "https://127.0.0.1:%d" % s.port
    try:
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", context=ctx, timeout=5) as r:
                    assert r.status == 200
                    break
            except OSError:
                if time.time() > deadline or s.proc.poll() is not None:
                    raise AssertionError("TLS server not up: " + s.tail())
                time.sleep(0.1)
        admin = bootstrap_key(s)
        req = urllib.request.Request(base + "/v1/images", headers=bearer(admin))
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            assert json.loads(r.read())["images"] == []
        req = urllib.request.Request(base + "/v1/session", method="POST",
                                     data=json.dumps({"key": admin}).encode())
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            cookies = r.headers.get_all("Set-Cookie")
        assert all("; Secure" in c for c in cookies) and len(cookies) == 2
        # An upload over TLS, byte for byte.
        body, ctype = multipart([("dog.jpg", read(DOG))])
        req = urllib.request.Request(base + "/v1/images", method="POST", data=body,
                                     headers=dict(bearer(admin), **{"Content-Type": ctype}))
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            assert r.status == 202
        # Plain HTTP on the TLS port: told so, or closed; never served.
        import socket
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        sock.sendall(b"GET /v1/images HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        try:
            while True:
                d = sock.recv(4096)
                if not d:
                    break
                got += d
        except (ConnectionResetError, socket.timeout):
            pass
        sock.close()
        assert b'"images"' not in got
        assert got == b"" or b"400" in got.split(b"\r\n")[0]
        # A client that does not trust the certificate is refused.
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(base + "/healthz", context=ssl.create_default_context(), timeout=5)
    finally:
        s.stop()
