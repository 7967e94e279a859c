"""A loopback HTTP proxy that verifies AWS Signature Version 4 in front of
s3rver, which does not (its authentication middleware says "Signature
version 4 calculation is unimplemented"). Every request Scry's S3 backend
sends must carry a valid SigV4 Authorization header for the test key pair,
an x-amz-date within 15 minutes, and an x-amz-content-sha256 that is the
SHA-256 of the body actually sent (or UNSIGNED-PAYLOAD); anything else gets
S3's own 403 answer (SignatureDoesNotMatch, XAmzContentSHA256Mismatch, ...)
and never reaches s3rver. The rest is relayed unchanged.

    python3 tests/s3/sigv4_proxy.py LISTEN_PORT UPSTREAM_PORT ACCESS_KEY SECRET

Canonical request as in the AWS documentation ("Create a canonical request
for Signature Version 4"), with S3's rule that the path is not normalised
or double-encoded."""
import datetime
import hashlib
import hmac
import http.client
import http.server
import socketserver
import sys
import urllib.parse

LISTEN, UPSTREAM, KEY, SECRET = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]


def s3_error(code, message):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message></Error>'
            % (code, message)).encode()


def uri_encode(s, keep_slash):
    safe = "-_.~" + ("/" if keep_slash else "")
    return urllib.parse.quote(s, safe=safe)


def canonical_query(raw):
    pairs = []
    for part in raw.split("&") if raw else []:
        k, _, v = part.partition("=")
        pairs.append((uri_encode(urllib.parse.unquote(k), False), uri_encode(urllib.parse.unquote(v), False)))
    return "&".join("%s=%s" % kv for kv in sorted(pairs))


def verify(method, raw_path, headers, body):
    """None when the request is properly signed, else (code, message)."""
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return ("AccessDenied", "no SigV4 Authorization header")
    fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    cred = fields.get("Credential", "").split("/")
    if len(cred) != 5 or cred[0] != KEY or cred[3] != "s3" or cred[4] != "aws4_request":
        return ("InvalidAccessKeyId", "bad credential scope %s" % fields.get("Credential"))
    amz_date = headers.get("x-amz-date", "")
    try:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return ("AccessDenied", "bad x-amz-date %r" % amz_date)
    if abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) > 900:
        return ("RequestTimeTooSkewed", "x-amz-date too far from now")
    if cred[1] != amz_date[:8]:
        return ("SignatureDoesNotMatch", "credential date differs from x-amz-date")
    payload = headers.get("x-amz-content-sha256")
    if payload is None:
        return ("InvalidRequest", "missing x-amz-content-sha256")
    if payload != "UNSIGNED-PAYLOAD" and payload != hashlib.sha256(body).hexdigest():
        return ("XAmzContentSHA256Mismatch", "the body's SHA-256 is not x-amz-content-sha256")
    signed = fields.get("SignedHeaders", "").split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        return ("AccessDenied", "host and x-amz-date must be signed")
    path, _, query = raw_path.partition("?")
    canon_headers = "".join("%s:%s\n" % (h, " ".join(headers.get(h, "").split())) for h in signed)
    creq = "\n".join([method, uri_encode(urllib.parse.unquote(path), True), canonical_query(query),
                      canon_headers, ";".join(signed), payload])
    scope = "/".join(cred[1:])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + SECRET).encode()
    for part in cred[1:]:
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    want = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, fields.get("Signature", "")):
        return ("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def relay(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        bad = verify(self.command, self.path, headers, body)
        if bad:
            out = s3_error(*bad)
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(out)
            return
        try:
            up = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=60)
            fwd = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "expect")}
            up.request(self.command, self.path, body=body if n else None, headers=fwd)
            r = up.getresponse()
            data = r.read()
        except OSError as e:
            out = s3_error("ServiceUnavailable", "upstream: %s" % e)
            self.send_response(503)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(out)
            return
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length", "keep-alive"):
                self.send_header(k, v)
        length = r.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
        self.send_header("Content-Length", length or "0")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        up.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = relay


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    Server(("127.0.0.1", LISTEN), Handler).serve_forever()
