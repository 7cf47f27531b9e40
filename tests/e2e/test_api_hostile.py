"""Hostile input over raw sockets against one real server (and a sample against a follower of
three): bad UTF-8 and percent-encoding in paths and queries, odd header bytes, invalid JSON,
wrong JSON types for every job field, deep nesting, oversized lines, headers and bodies,
garbage request lines, unknown methods and versions, bad chunked framing, HTTP/1.0,
pipelining and abandoned requests.

For every case: a 4xx answer (501/505 where the contract says so), never another 5xx, never a
hang (every read is bounded), and the node still answers GET /health. At the end the job store
and the key-value store are exactly as they were, and sundial_http_internal_errors_total is 0.
A failing case names what it sent."""
import json
import os
import re
import shutil
import socket
import struct
import tempfile
import time

import pytest
import requests

from conftest import BINARY, Cluster, wait_for

TIMEOUT = 5.0  # seconds any one answer may take

# ---------------------------------------------------------------------------------------------
# A raw HTTP/1.x client: arbitrary bytes out, strict parsing of what comes back.


class Hang(AssertionError):
    """Neither an answer nor the end of the connection within the deadline."""


class Answer:
    def __init__(self, version, status, reason, headers, body):
        self.version = version      # "HTTP/1.1"
        self.status = status        # int
        self.reason = reason
        self.headers = headers      # [(lower-case name, value)]
        self.body = body            # bytes, or None when only the head was read

    def header(self, name):
        values = [v for n, v in self.headers if n == name.lower()]
        return values[-1] if values else None

    def chunked(self):
        te = self.header("transfer-encoding")
        return te is not None and "chunked" in te.lower()

    def closes(self):
        conn = (self.header("connection") or "").lower()
        return "close" in conn or (self.version == "HTTP/1.0" and "keep-alive" not in conn)

    def __repr__(self):
        body = self.body if self.body is None or len(self.body) <= 300 else \
            self.body[:300] + b"...(%d bytes)" % len(self.body)
        return f"<{self.version} {self.status} {self.reason!r} {dict(self.headers)} {body!r}>"


class RawConn:
    """One TCP connection to `addr` ("host:port"), optionally from a chosen source address."""

    def __init__(self, addr, timeout=TIMEOUT, source=None):
        host, port = addr.rsplit(":", 1)
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if source:
                self.sock.bind((source, 0))
            self.sock.settimeout(timeout)
            self.sock.connect((host, int(port)))
        except BaseException:
            self.sock.close()
            raise
        self.buf = bytearray()
        self.ended = None        # None while open; "eof" or "reset" once the peer ended it
        self.send_error = None   # the server closed or stopped reading while we were sending

    def send(self, data):
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, socket.timeout) as e:
            # The server may answer early (413, 431, ...) and stop reading: read its answer.
            self.send_error = repr(e)

    def close(self, reset=False):
        if reset:  # an abortive close: RST instead of FIN
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.sock.close()

    def _more(self, deadline, what):
        if self.ended:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise Hang(f"no {what} within the deadline (buffered: {bytes(self.buf[:200])!r})")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise Hang(f"no {what} within the deadline (buffered: {bytes(self.buf[:200])!r})")
        except (ConnectionResetError, ConnectionAbortedError):
            self.ended = "reset"
            return False
        if not chunk:
            self.ended = "eof"
            return False
        self.buf += chunk
        return True

    def _until(self, marker, deadline, what, limit=1 << 20):
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + len(marker)]
                return out
            if len(self.buf) > limit:
                raise AssertionError(f"{what}: no {marker!r} in {limit} bytes")
            if not self._more(deadline, what):
                return None

    def _exact(self, n, deadline, what):
        while len(self.buf) < n:
            if not self._more(deadline, what):
                raise AssertionError(f"connection {self.ended} after {len(self.buf)} of the "
                                     f"{n} bytes of {what}")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def wait_end(self, timeout):
        """True when the peer ends the connection within `timeout` with no further bytes;
        raises Hang otherwise, AssertionError if bytes arrive."""
        deadline = time.monotonic() + timeout
        while not self.ended:
            if not self._more(deadline, "end of the connection"):
                break
        if self.buf:
            raise AssertionError(f"unexpected bytes before the end: {bytes(self.buf[:300])!r}")
        return True

    def read_answer(self, timeout=None, head_only=False):
        """The next answer, skipping 1xx; None when the connection ended before its first byte.
        Raises Hang when nothing decisive arrives in `timeout`."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            head = self._until(b"\r\n\r\n", deadline, "answer head")
            if head is None:
                if self.buf:
                    raise AssertionError(f"connection {self.ended} inside an answer head: "
                                         f"{bytes(self.buf[:300])!r}")
                return None
            lines = head.split(b"\r\n")
            m = re.fullmatch(rb"(HTTP/1\.[01]) (\d{3})(?: (.*))?", lines[0])
            if not m:
                raise AssertionError(f"not an HTTP/1.x status line: {lines[0][:200]!r}")
            headers = []
            for line in lines[1:]:
                name, sep, value = line.partition(b":")
                if not sep or not name or name != name.strip():
                    raise AssertionError(f"bad answer header line {line[:200]!r}")
                headers.append((name.decode("latin-1").lower(),
                                value.strip().decode("latin-1")))
            ans = Answer(m.group(1).decode(), int(m.group(2)),
                         (m.group(3) or b"").decode("latin-1"), headers, None)
            if 100 <= ans.status < 200:
                continue
            if head_only:
                return ans
            if ans.chunked():
                ans.body = self._chunked_body(deadline)
            elif ans.header("content-length") is not None:
                ans.body = self._exact(int(ans.header("content-length")), deadline, "answer body")
            elif ans.status in (204, 304):
                ans.body = b""
            else:  # close-delimited
                while self._more(deadline, "end of a close-delimited body"):
                    pass
                ans.body, self.buf = bytes(self.buf), bytearray()
            return ans

    def _chunked_body(self, deadline):
        body = bytearray()
        while True:
            line = self._until(b"\r\n", deadline, "chunk size", limit=4096)
            if line is None:
                raise AssertionError(f"connection {self.ended} inside a chunked answer")
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:  # trailers up to the empty line
                    t = self._until(b"\r\n", deadline, "chunked trailer", limit=65536)
                    if t is None:
                        raise AssertionError("connection ended inside the chunked trailer")
                    if t == b"":
                        return bytes(body)
            body += self._exact(size, deadline, "a chunk")
            if self._exact(2, deadline, "chunk end") != b"\r\n":
                raise AssertionError("a chunk not followed by CRLF in the answer")


def show(data):
    """What was sent, short enough for a failure message."""
    if len(data) <= 400:
        return f"{len(data)} bytes {data!r}"
    return f"{len(data)} bytes {data[:300]!r} ... {data[-80:]!r}"


def req(method, target, headers=(), body=None, version=b"HTTP/1.1", host=True, length=True):
    """A request as bytes. `target`, header names/values and the body may be bytes or str."""
    b = lambda x: x if isinstance(x, bytes) else x.encode()
    out = b(method) + b" " + b(target) + b" " + b(version) + b"\r\n"
    if host:
        out += b"Host: sundial\r\n"
    for name, value in headers:
        out += b(name) + b": " + b(value) + b"\r\n"
    if body is not None and length:
        out += b"Content-Length: %d\r\n" % len(b(body))
    out += b"\r\n"
    if body is not None:
        out += b(body)
    return out


HEALTH = req("GET", "/health")


def status_matches(status, expect):
    for e in expect:
        if e == "4xx" and 400 <= status < 500:
            return True
        if e == "2xx" and 200 <= status < 300:
            return True
        if e == status:
            return True
    return False


def check_error_body(ans, sent):
    assert ans.body is not None
    try:
        doc = json.loads(ans.body)
    except ValueError:
        doc = None
    assert isinstance(doc, dict) and isinstance(doc.get("error"), str) and doc["error"], \
        f"an error answer must be JSON {{\"error\": \"...\"}}; got {ans!r}; sent {sent}"
    return doc["error"]


def assert_alive(srv, case, sent=""):
    if not srv.alive():
        pytest.fail(f"{case}: the server died (exit {srv.proc.poll()}); sent {sent}\n"
                    f"log tail:\n{srv.log_text()[-3000:]}")
    try:
        r = srv.get("/health", timeout=3)
    except requests.RequestException as e:
        pytest.fail(f"{case}: GET /health failed after the case: {e!r}; sent {sent}")
    assert r.status_code == 200, f"{case}: GET /health answered {r.status_code} after: {sent}"


def exchange(srv, case, data, expect, timeout=TIMEOUT, single=False):
    """Sends `data` on a fresh connection; asserts the first answer's status is in `expect`
    and that an error answer is JSON. With `single` (`data` is one request), a second answer
    means the server read part of it as another request. Returns the first answer."""
    sent = show(data)
    conn = RawConn(srv.http, timeout=timeout)
    second = None
    try:
        conn.send(data)
        try:
            ans = conn.read_answer()
        except Hang as e:
            pytest.fail(f"{case}: hang: {e}; sent {sent}")
        if single and ans is not None and not conn.ended:
            try:
                second = conn.read_answer(timeout=0.3)
            except Hang:
                pass  # kept alive, nothing more: right
    finally:
        conn.close()
    assert ans is not None, \
        f"{case}: the connection ended ({conn.ended}) with no answer; sent {sent}"
    assert status_matches(ans.status, expect), \
        f"{case}: answered {ans.status}, expected {expect}; answer {ans!r}; sent {sent}"
    if ans.status >= 400:
        check_error_body(ans, sent)
    assert second is None, \
        f"{case}: one request got a second answer: the server read the rest of it (its body) " \
        f"as another request: {ans!r} then {second!r}; sent {sent}"
    return ans


# ---------------------------------------------------------------------------------------------
# The server, its seeded state, and the snapshot compared at the end.

JOB_A = {"name": "keep-a", "displayname": "Keep A", "schedule": "@every 1h", "executor": "shell",
         "executor_config": {"command": "echo a"}, "tags": {"role": "db"},
         "metadata": {"team": "x"}}
JOB_B = {"name": "keep-b", "parent_job": "keep-a", "schedule": "", "executor": "shell",
         "executor_config": {"command": "echo b"}}
JOB_E = {"name": "\u00e9t\u00e9", "schedule": "@every 2h", "executor": "shell",
         "executor_config": {"command": "echo e"}}
SEED_KV = {"seed-1": b"one", "seed-2": bytes(range(256)), "seed-%C3%A9": "accent".encode()}
# Keys that hostile requests aim at and must never exist.
ABSENT_KV = ["hostile", "chunk-kv", "abandoned", "big", "v", "keep-a", "seed-1-"]
OPAQUE = b"\xff\xfe\x00\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80 not UTF-8 at all \x80"


class Node:
    def __init__(self, srv):
        self.srv = srv
        self.before = None


def post_json(srv, path, obj, method="POST"):
    return requests.request(method, srv.url + path, data=json.dumps(obj).encode(), timeout=10)


def seed(srv):
    for j in (JOB_A, JOB_B, JOB_E):
        r = post_json(srv, "/v1/jobs", j)
        assert r.status_code == 201, r.text
    for k, v in SEED_KV.items():
        r = srv.put("/v1/kv/" + k, v)
        assert r.status_code == 200, (k, r.text)


def snapshot(srv):
    r = srv.get("/v1/jobs")
    jobs = (r.status_code, r.headers.get("X-Total-Count"), r.content)
    kv = {}
    for k in list(SEED_KV) + ABSENT_KV:
        g = srv.get("/v1/kv/" + k)
        kv[k] = (g.status_code, g.content if g.status_code == 200 else b"",
                 g.headers.get("X-Sundial-Index"))
    p = srv.get("/v1/pause")
    return {"jobs": jobs, "kv": kv, "paused": (p.status_code, p.content)}


def metric(text, name, **labels):
    """The value of one sample in Prometheus text, or None."""
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if got == labels:
            return float(m.group(3))
    return None


def scrape(srv):
    r = srv.get("/metrics")
    assert r.status_code == 200, r.text[:300]
    return r.text


@pytest.fixture(scope="module")
def node():
    if not os.path.exists(BINARY):
        pytest.fail(f"{BINARY} is missing: build first (make build)")
    root = tempfile.mkdtemp(prefix="sundial-hostile-")
    c = Cluster(root)
    try:
        srv = c.form(1)
        seed(srv)
        n = Node(srv)
        n.before = snapshot(srv)
        assert n.before["jobs"][1] == "3", n.before["jobs"]
        yield n
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)


def run_case(node, case, data, expect):
    ans = exchange(node.srv, case, data, expect)
    assert_alive(node.srv, case, show(data))
    return ans


# ---------------------------------------------------------------------------------------------
# Tables. `expect` is a tuple of exact statuses and/or "4xx" / "2xx" (2xx only where the input
# is harmless and a lenient reading is allowed by HTTP itself).

E400 = (400,)
E4XX = ("4xx",)
OK_OR_4XX = ("2xx", "4xx")

BAD_UTF8 = [  # percent-encoded byte sequences that are not UTF-8 once decoded
    ("ff", "%FF"), ("fe", "%FE"), ("fffe", "%FF%FE"),
    ("overlong-slash-c0af", "%C0%AF"), ("overlong-nul-c080", "%C0%80"),
    ("overlong-c1bf", "%C1%BF"), ("overlong3-e080af", "%E0%80%AF"),
    ("overlong4-f08080af", "%F0%80%80%AF"), ("surrogate-d800", "%ED%A0%80"),
    ("surrogate-dfff", "%ED%BF%BF"), ("surrogate-pair-cesu8", "%ED%A0%BD%ED%B2%A9"),
    ("surrogate-lowercase-hex", "%ed%a0%80"), ("above-10ffff-f4908080", "%F4%90%80%80"),
    ("f5-lead", "%F5%80%80%80"), ("f7bfbfbf", "%F7%BF%BF%BF"),
    ("five-byte-f888808080", "%F8%88%80%80%80"), ("six-byte-fc", "%FC%84%80%80%80%80"),
    ("lone-continuation-80", "%80"), ("lone-continuation-bf", "%BF"),
    ("truncated-c2", "%C2"), ("truncated-e282", "%E2%82"), ("truncated-f09f98", "%F0%9F%98"),
    ("lead-then-ascii", "%C2A"), ("valid-then-ff", "ok%C3%A9%FF"),
]
NUL = [("nul", "%00"), ("nul-inside", "a%00b"), ("nul-after-name", "keep-a%00")]
BAD_PERCENT = [
    ("lone-percent", "%"), ("one-hex-digit", "%4"), ("non-hex-g0", "%G0"), ("non-hex-zz", "%zz"),
    ("double-percent", "%%"), ("iis-u-escape", "%u0041"), ("minus-digit", "%-1"),
    ("percent-at-end", "abc%"), ("half-escape-at-end", "abc%F"), ("percent-space-plus", "%+1"),
]
VALID_UTF8_CONTROLS = [  # valid once decoded: an unknown route stays a plain 404
    ("e-acute", "%C3%A9"), ("u0080", "%C2%80"), ("ud7ff", "%ED%9F%BF"), ("ue000", "%EE%80%80"),
    ("uffff", "%EF%BF%BF"), ("emoji", "%F0%9F%98%80"), ("u10ffff", "%F4%8F%BF%BF"),
    ("slash-encoded", "a%2Fb"), ("space-encoded", "a%20b"),
]

VALID_JOB_A2 = json.dumps(dict(JOB_A, displayname="CHANGED")).encode()
VALID_HOSTILE_JOB = json.dumps({"name": "hostile", "schedule": "@every 1h",
                                "executor": "shell"}).encode()

PATH_ROUTES = [  # (id, method, template, body): {} is where the bad segment goes
    ("unknown-route", "GET", "/no-such-route/{}", None),
    ("root", "GET", "/{}", None),
    ("job", "GET", "/v1/jobs/{}", None),
    ("execution", "GET", "/v1/jobs/keep-a/executions/{}", None),
    ("kv-get", "GET", "/v1/kv/{}", None),
    ("kv-put", "PUT", "/v1/kv/{}", b"v"),
    ("kv-delete-seed", "DELETE", "/v1/kv/seed-1{}", None),
    ("job-delete-keep-b", "DELETE", "/v1/jobs/keep-b{}", None),
    ("job-toggle-keep-a", "POST", "/v1/jobs/keep-a{}/toggle", None),
    ("job-put-keep-a", "PUT", "/v1/jobs/keep-a{}", VALID_JOB_A2),
    ("v1-patch", "PATCH", "/v1/{}", b"{}"),
    ("pause-suffix", "POST", "/v1/pause{}", None),
    ("leader-events-suffix", "GET", "/v1/events/leader{}", None),
]


def bad_segment_cases(routes):
    """Each route of `routes` with each invalid UTF-8, NUL and bad percent-encoding segment."""
    out = []
    for rid, method, tmpl, body in routes:
        for sid, seg in BAD_UTF8:
            out.append(pytest.param(req(method, tmpl.format(seg), body=body), E400, "utf-8",
                                    id=f"{rid}-{sid}"))
        for sid, seg in NUL + BAD_PERCENT:
            out.append(pytest.param(req(method, tmpl.format(seg), body=body), E400, None,
                                    id=f"{rid}-{sid}"))
    return out


def path_cases():
    out = bad_segment_cases(PATH_ROUTES)
    for sid, seg in VALID_UTF8_CONTROLS:
        out.append(pytest.param(req("GET", "/no-such-route/" + seg), (404,), None,
                                id=f"control-404-{sid}"))
    out.append(pytest.param(req("GET", "/v1/jobs/%C3%A9t%C3%A9"), (200,), None,
                            id="control-200-job-ete"))
    out.append(pytest.param(req("GET", "/v1/kv/seed-%C3%A9"), (200,), None,
                            id="control-200-kv-accent"))
    raw = [("raw-ff", b"\xff"), ("raw-c0af", b"\xc0\xaf"), ("raw-surrogate", b"\xed\xa0\x80"),
           ("raw-f4908080", b"\xf4\x90\x80\x80"), ("raw-nul", b"\x00"), ("raw-del", b"\x7f"),
           ("raw-ctl-01", b"\x01"), ("raw-valid-utf8-e9", "\u00e9".encode())]
    for rid, tmpl in (("unknown-route", b"/no-such-route/%s"), ("job", b"/v1/jobs/%s"),
                      ("kv-delete-seed", b"/v1/kv/seed-1%s")):
        method = "DELETE" if rid == "kv-delete-seed" else "GET"
        for sid, seg in raw:
            out.append(pytest.param(req(method, tmpl % seg), E4XX, None, id=f"{rid}-{sid}"))
    return out


@pytest.mark.parametrize("data,expect,word", path_cases())
def test_bad_path(node, data, expect, word, request):
    ans = run_case(node, request.node.callspec.id, data, expect)
    if word and ans.status == 400:
        err = check_error_body(ans, show(data)).lower()
        assert word in err and "path" in err, \
            f"the error should say the path is not valid UTF-8: {err!r}; sent {show(data)}"


QUERY_ROUTES = [
    ("jobs-q-value", "GET", "/v1/jobs?q={}", None),
    ("jobs-key", "GET", "/v1/jobs?{}=1", None),
    ("jobs-flag", "GET", "/v1/jobs?{}", None),
    ("jobs-metadata-key", "GET", "/v1/jobs?metadata[{}]=x", None),
    ("health-value", "GET", "/health?x={}", None),
    ("unknown-route-key", "GET", "/no-such-route?{}=v", None),
    ("executions-sort", "GET", "/v1/jobs/keep-a/executions?_sort={}", None),
    ("metrics-flag", "GET", "/metrics?{}", None),
    ("leader-events-flag", "GET", "/v1/events/leader?{}", None),
    ("kv-delete-seed-cas", "DELETE", "/v1/kv/seed-1?cas={}", None),
    ("kv-delete-seed-flag", "DELETE", "/v1/kv/seed-2?{}", None),
    ("kv-put-seed-key", "PUT", "/v1/kv/seed-1?{}=1", b"changed"),
    ("job-create-runoncreate", "POST", "/v1/jobs?runoncreate={}", VALID_HOSTILE_JOB),
]


def query_cases():
    out = bad_segment_cases(QUERY_ROUTES)
    for rid, target, status in (("jobs-q-e-acute", "/v1/jobs?q=%C3%A9", 200),
                                ("jobs-q-u10ffff", "/v1/jobs?q=%F4%8F%BF%BF", 200),
                                ("health-emoji", "/health?x=%F0%9F%98%80", 200),
                                ("unknown-route-euro", "/no-such-route?q=%E2%82%AC", 404)):
        out.append(pytest.param(req("GET", target), (status,), None, id=f"control-{rid}"))
    for sid, seg in (("raw-ff", b"\xff"), ("raw-c0af", b"\xc0\xaf"), ("raw-nul", b"\x00"),
                     ("raw-surrogate", b"\xed\xa0\x80")):
        out.append(pytest.param(req("GET", b"/v1/jobs?q=" + seg), E4XX, None, id=f"jobs-q-{sid}"))
        out.append(pytest.param(req("DELETE", b"/v1/kv/seed-1?" + seg), E4XX, None,
                                id=f"kv-delete-{sid}"))
    return out


@pytest.mark.parametrize("data,expect,word", query_cases())
def test_bad_query(node, data, expect, word, request):
    ans = run_case(node, request.node.callspec.id, data, expect)
    if word and ans.status == 400:
        err = check_error_body(ans, show(data)).lower()
        assert word in err, f"the error should say what is not UTF-8: {err!r}; sent {show(data)}"


def header_cases():
    H = lambda *hs: req("GET", "/health", headers=hs)
    P = lambda *hs: req("POST", "/v1/jobs", headers=hs, body=b"{bad")  # bad JSON whatever
    raw_cl = lambda value: (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: " + value +
                            b"\r\n\r\n{bad")
    cases = [
        # Field values: obs-text (0x80-0xFF) is legal HTTP; a lenient server may answer 200.
        ("value-ff-fe", H(("X-Hostile", b"\xff\xfe")), OK_OR_4XX),
        ("value-overlong", H(("X-Hostile", b"\xc0\xaf")), OK_OR_4XX),
        ("value-surrogate", H(("X-Hostile", b"\xed\xa0\x80")), OK_OR_4XX),
        ("value-above-10ffff", H(("X-Hostile", b"\xf4\x90\x80\x80")), OK_OR_4XX),
        ("value-lone-continuation", H(("X-Hostile", b"\x80\x80\x80")), OK_OR_4XX),
        ("value-8k-of-ff", H(("User-Agent", b"\xff" * 8000)), OK_OR_4XX),
        ("value-nul", H(("X-Hostile", b"a\x00b")), OK_OR_4XX),
        ("value-bare-cr", H(("X-Hostile", b"a\rb")), OK_OR_4XX),
        ("value-ctl", H(("X-Hostile", b"\x01\x02\x7f")), OK_OR_4XX),
        ("accept-overlong", H(("Accept", b"\xc0\xaf/\xc0\xaf")), OK_OR_4XX),
        ("connection-ff", H(("Connection", b"\xff")), OK_OR_4XX),
        ("cookie-ff", H(("Cookie", b"\xff=\xff")), OK_OR_4XX),
        ("expect-ff", H(("Expect", b"\xff")), OK_OR_4XX),
        ("expect-100-continue", H(("Expect", b"100-continue")), (200,)),
        ("obs-fold", H(("X-A", b"b\r\n  folded")), OK_OR_4XX),
        ("x-whom-spoof", H(("X-Whom", b"\xff")), OK_OR_4XX),
        ("upgrade-h2c", H(("Connection", b"Upgrade, HTTP2-Settings"), ("Upgrade", b"h2c"),
                          ("HTTP2-Settings", b"AAMAAABkAARAAAAAAAIAAAAA")), OK_OR_4XX),
        ("upgrade-websocket", H(("Connection", b"Upgrade"), ("Upgrade", b"websocket"),
                                ("Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
                                ("Sec-WebSocket-Version", b"13")), OK_OR_4XX),
        ("host-ff", req("GET", "/health", headers=[("Host", b"\xff")], host=False), OK_OR_4XX),
        ("host-empty", req("GET", "/health", headers=[("Host", b"")], host=False), OK_OR_4XX),
        ("host-twice", H(("Host", b"other")), OK_OR_4XX),
        ("host-missing", req("GET", "/health", host=False), OK_OR_4XX),
        ("host-space", req("GET", "/health", headers=[("Host", b"a b")], host=False), OK_OR_4XX),
        ("first-line-leading-space", b"GET /health HTTP/1.1\r\n X-A: b\r\nHost: x\r\n\r\n",
         OK_OR_4XX),
        # Field names and structure: not a field line at all.
        ("name-space-before-colon", H(("X-A ", b"b")), E4XX),
        ("name-missing-colon", b"GET /health HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", E4XX),
        ("name-empty", b"GET /health HTTP/1.1\r\nHost: x\r\n: value\r\n\r\n", E4XX),
        ("name-ff", H((b"X-\xff", b"1")), E4XX),
        ("name-utf8", H(("X-\u00e9", b"1")), E4XX),
        ("name-nul", H((b"X-\x00", b"1")), E4XX),
        ("name-paren", H(("X(A)", b"1")), E4XX),
        ("name-slash", H(("X/A", b"1")), E4XX),
        # Framing headers with bad values, on a body that is bad JSON anyway.
        ("content-type-ff", P(("Content-Type", b"\xff")), E4XX),
        ("content-type-charset-overlong", P(("Content-Type", b"application/json; charset=\xc0\xaf")),
         E4XX),
        ("content-length-ff", raw_cl(b"\xff"), E4XX),
        ("content-length-nul", raw_cl(b"4\x00"), E4XX),
        ("content-length-negative", raw_cl(b"-1"), E4XX),
        ("content-length-exponent", raw_cl(b"4e0"), E4XX),
        ("content-length-hex", raw_cl(b"0x4"), E4XX),
        ("content-length-plus", raw_cl(b"+4"), E4XX),
        ("content-length-empty", raw_cl(b""), E4XX),
        ("content-length-list-differs", raw_cl(b"4, 5"), E4XX),
        ("content-length-huge-digits", raw_cl(b"9" * 40), E4XX),
        ("content-length-twice-differs",
         b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 3\r\n\r\n{bad",
         E4XX),
        ("content-length-utf8-digit", raw_cl("\u0664".encode()), E4XX),  # Arabic-Indic four
    ]
    return [pytest.param(data, expect, id=cid) for cid, data, expect in cases]


@pytest.mark.parametrize("data,expect", header_cases())
def test_odd_headers(node, data, expect, request):
    run_case(node, request.node.callspec.id, data, expect)


BAD_BYTES = [("ff", b"\xff"), ("c0af", b"\xc0\xaf"), ("e080af", b"\xe0\x80\xaf"),
             ("surrogate", b"\xed\xa0\x80"), ("above-10ffff", b"\xf4\x90\x80\x80"),
             ("five-byte", b"\xf8\x88\x80\x80\x80"), ("continuation", b"\x80"),
             ("truncated-c2", b"\xc2"), ("truncated-e282", b"\xe2\x82")]
STRING_SLOTS = {  # a job with one string slot (%s) for the raw bytes
    "name": b'{"name":"hostile%s","schedule":"@every 1h","executor":"shell"}',
    "displayname": b'{"name":"hostile","displayname":"%s","schedule":"@every 1h","executor":"shell"}',
    "schedule": b'{"name":"hostile","schedule":"@every 1h%s","executor":"shell"}',
    "timezone": b'{"name":"hostile","schedule":"@every 1h","timezone":"%s","executor":"shell"}',
    "owner_email": b'{"name":"hostile","schedule":"@every 1h","owner_email":"%s@x","executor":"shell"}',
    "tags-key": b'{"name":"hostile","schedule":"@every 1h","executor":"shell","tags":{"%s":"v"}}',
    "metadata-value": b'{"name":"hostile","schedule":"@every 1h","executor":"shell","metadata":{"k":"%s"}}',
    "executor_config-value": b'{"name":"hostile","schedule":"@every 1h","executor":"shell",'
                             b'"executor_config":{"command":"echo %s"}}',
    "processors-inner": b'{"name":"hostile","schedule":"@every 1h","executor":"shell",'
                        b'"processors":{"log":{"forward":"%s"}}}',
}


def json_cases():
    out = []
    for field, tmpl in STRING_SLOTS.items():
        for bid, bad in BAD_BYTES:
            out.append(pytest.param("POST", "/v1/jobs", tmpl % bad, id=f"raw-{bid}-in-{field}"))
    good = VALID_HOSTILE_JOB
    shaped = [
        ("escaped-lone-high-surrogate", b'{"name":"hostile","displayname":"\\ud800","schedule":"@every 1h"}'),
        ("escaped-lone-low-surrogate", b'{"name":"hostile","displayname":"\\udc00","schedule":"@every 1h"}'),
        ("escaped-high-then-ascii", b'{"name":"hostile","displayname":"\\ud800\\u0041"}'),
        ("escaped-two-highs", b'{"name":"hostile","displayname":"\\ud800\\ud800"}'),
        ("escaped-nul-in-name", b'{"name":"host\\u0000ile","schedule":"@every 1h"}'),
        ("escaped-bad-hex", b'{"name":"hostile","displayname":"\\uZZZZ"}'),
        ("bad-escape", b'{"name":"hostile","displayname":"\\q"}'),
        ("raw-nul-in-string", b'{"name":"hostile","displayname":"a\x00b"}'),
        ("raw-newline-in-string", b'{"name":"hostile","displayname":"a\nb"}'),
        ("raw-ctl-in-string", b'{"name":"hostile","displayname":"a\x01b"}'),
        ("raw-ff-outside-string", b'{"name":"hostile",\xff"schedule":"@every 1h"}'),
        ("utf16-bom", b"\xfe\xff\x00{\x00}"),
        ("utf16le-body", '{"name":"hostile"}'.encode("utf-16-le")),
        ("empty", b""), ("null", b"null"), ("array", b"[]"), ("number", b"1"),
        ("string", b'"hostile"'), ("true", b"true"), ("open-brace", b"{"), ("close-brace", b"}"),
        ("not-json", b"{bad"), ("trailing-comma", b'{"name":"hostile",}'),
        ("single-quotes", b"{'name':'hostile'}"), ("nan", b'{"name":"hostile","retries":NaN}'),
        ("infinity", b'{"name":"hostile","retries":Infinity}'),
        ("huge-exponent", b'{"name":"hostile","retries":1e999}'),
        ("comment", b'{"name":"hostile" /* hi */}'),
        ("trailing-garbage-after-valid-job", good + b" xyz"),
        ("two-valid-jobs", good + good),
        ("valid-job-then-nul", good + b"\x00"),
        ("valid-job-then-nul-and-garbage", good + b"\x00garbage"),
        ("only-whitespace", b" \t\r\n "),
        ("ff-body", b"\xff" * 64),
    ]
    for sid, body in shaped:
        out.append(pytest.param("POST", "/v1/jobs", body, id=f"post-{sid}"))
    for sid, body in (("not-json", b"{bad"), ("raw-ff-in-name", STRING_SLOTS["name"] % b"\xff"),
                      ("array", b"[]"), ("raw-surrogate-displayname",
                                         STRING_SLOTS["displayname"] % b"\xed\xa0\x80")):
        out.append(pytest.param("PUT", "/v1/jobs/keep-a", body, id=f"put-keep-a-{sid}"))
        out.append(pytest.param("PATCH", "/v1/jobs", body, id=f"patch-{sid}"))
        out.append(pytest.param("PUT", "/v1/jobs/hostile", body, id=f"put-hostile-{sid}"))
    return out


@pytest.mark.parametrize("method,path,body", json_cases())
def test_bad_json_body(node, method, path, body, request):
    run_case(node, request.node.callspec.id, req(method, path, body=body), E4XX)


def restore_body(file_bytes, field=b"file"):
    boundary = b"hostileboundary"
    body = (b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"" + field +
            b"\"; filename=\"backup.json\"\r\nContent-Type: application/json\r\n\r\n" +
            file_bytes + b"\r\n--" + boundary + b"--\r\n")
    return [("Content-Type", b"multipart/form-data; boundary=" + boundary)], body


def restore_cases():
    j = lambda **kw: dict({"name": "hostile", "schedule": "@every 1h", "executor": "shell"}, **kw)
    files = [
        ("raw-ff-in-name", b'[{"name":"hostile\xff","schedule":"@every 1h"}]'),
        ("raw-surrogate", b'[{"name":"hostile","displayname":"\xed\xa0\x80"}]'),
        ("lone-escaped-surrogate", b'[{"name":"hostile","displayname":"\\ud800"}]'),
        ("good-then-wrong-type", json.dumps([j(), j(name="hostile-two", retries="x")]).encode()),
        ("not-json", b"{bad"), ("object-not-array", json.dumps(j()).encode()),
        ("array-of-numbers", b"[1,2,3]"), ("deep", b"[" * 100000),
    ]
    out = []
    for fid, data in files:
        headers, body = restore_body(data)
        out.append(pytest.param(req("POST", "/v1/restore", headers=headers, body=body), E4XX,
                                id=f"restore-{fid}"))
    headers, body = restore_body(json.dumps([j()]).encode(), field=b"fil\xff")
    out.append(pytest.param(req("POST", "/v1/restore", headers=headers, body=body), E4XX,
                            id="restore-field-name-ff"))
    out.append(pytest.param(
        req("POST", "/v1/restore", headers=[("Content-Type", b"multipart/form-data; boundary=\xff")],
            body=b"--\xff\r\n\r\n[]\r\n--\xff--\r\n"), E4XX, id="restore-boundary-ff"))
    out.append(pytest.param(
        req("POST", "/v1/restore", headers=[("Content-Type", b"multipart/form-data")],
            body=b"[]"), E4XX, id="restore-no-boundary"))
    out.append(pytest.param(
        req("POST", "/v1/restore", headers=[("Content-Type", b"multipart/form-data; boundary=b")],
            body=b"--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n[]"), E4XX,
        id="restore-unterminated-part"))
    return out


@pytest.mark.parametrize("data,expect", restore_cases())
def test_bad_restore_upload(node, data, expect, request):
    run_case(node, request.node.callspec.id, data, expect)


WRONG_TYPES = {  # every writable job field of DKRON_API.md and values of the wrong JSON type
    **{f: [1, 1.5, True, False, [], ["a"], {}, {"a": "b"}, 0]
       for f in ("name", "displayname", "schedule", "timezone", "owner", "owner_email",
                 "parent_job", "concurrency", "executor")},
    **{f: ["true", "false", 1, 0, [], {}, "yes"] for f in ("disabled", "ephemeral")},
    "retries": ["1", -1, 1.5, True, [], {}, 2 ** 64, 1e30, "three"],
    **{f: ["x", 1, True, [], ["a"], {"k": 1}, {"k": True}, {"k": []}, {"k": {}}, {"k": None}]
       for f in ("tags", "metadata", "executor_config")},
    "processors": ["x", 1, True, [], ["log"], {"log": "x"}, {"log": 1}, {"log": []},
                   {"log": {"k": 1}}, {"log": {"k": None}}],
    "expires_at": [1, True, [], {}, "not a time", "2030-13-01T00:00:00Z"],
}


def wrong_type_cases():
    out = []
    for field, values in WRONG_TYPES.items():
        for i, v in enumerate(values):
            body = {"name": "hostile", "schedule": "@every 1h", "executor": "shell",
                    "executor_config": {"command": "true"}}
            body[field] = v
            out.append(pytest.param(json.dumps(body).encode(),
                                    id=f"{field}-{i}-{json.dumps(v)[:20]}"))
    return out


@pytest.mark.parametrize("body", wrong_type_cases())
def test_wrong_json_types(node, body, request):
    ans = run_case(node, request.node.callspec.id, req("POST", "/v1/jobs", body=body), E400)
    assert ans.status == 400


def nesting_cases():
    deep_obj = b'{"a":' * 100000 + b"1" + b"}" * 100000
    cases = [
        ("open-brackets-100k", "POST", "/v1/jobs", b"[" * 100000),
        ("open-brackets-500k", "POST", "/v1/jobs", b"[" * 500000),
        ("balanced-array-100k", "POST", "/v1/jobs", b"[" * 100000 + b"]" * 100000),
        ("balanced-object-100k", "POST", "/v1/jobs", deep_obj),
        ("open-objects-100k", "POST", "/v1/jobs", b'{"a":' * 100000),
        ("deep-in-tags", "POST", "/v1/jobs",
         b'{"name":"hostile","tags":' + b"[" * 100000 + b"]" * 100000 + b"}"),
        ("deep-in-executor-config", "POST", "/v1/jobs",
         b'{"name":"hostile","executor_config":' + b'{"a":' * 50000 + b'"x"' + b"}" * 50001),
        # Unknown fields are ignored: the bad schedule is what makes this one a 400.
        ("deep-in-unknown-field", "POST", "/v1/jobs",
         b'{"name":"hostile","schedule":"never","zzz":' + b"[" * 100000 + b"]" * 100000 + b"}"),
        ("mixed-open", "POST", "/v1/jobs", b'[{"a":' * 60000),
        ("put-open-brackets", "PUT", "/v1/jobs/hostile", b"[" * 100000),
        ("patch-balanced-object", "PATCH", "/v1/jobs", deep_obj),
    ]
    return [pytest.param(m, p, b, id=cid) for cid, m, p, b in cases]


@pytest.mark.parametrize("method,path,body", nesting_cases())
def test_deep_nesting(node, method, path, body, request):
    run_case(node, request.node.callspec.id, req(method, path, body=body), E4XX)


def oversize_cases():
    many = lambda n: [(f"X-H{i}", b"v") for i in range(n)]
    big_job = json.dumps({"name": "hostile", "schedule": "@every 1h", "executor": "shell",
                          "executor_config": {"command": "echo " + "x" * (1 << 20)}}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (65536, b"x" * 65536) for _ in range(18)) + b"0\r\n\r\n"
    cases = [
        ("request-line-40k", req("GET", "/" + "a" * 40000), E4XX),
        ("request-line-query-40k", req("GET", "/v1/jobs?q=" + "a" * 40000), E4XX),
        ("request-line-pct-ff-20k", req("GET", "/" + "%FF" * 20000), E4XX),
        ("request-line-1mb", req("GET", "/" + "a" * 1000000), E4XX),
        ("method-40k", req("A" * 40000, "/health"), ("4xx", 501)),
        ("header-value-33k", req("GET", "/health", headers=[("X-Big", "v" * 33000)]), (431,)),
        ("header-value-1mb", req("GET", "/health", headers=[("X-Big", "v" * 1000000)]), (431,)),
        ("header-name-33k", req("GET", "/health", headers=[("X" * 33000, "v")]), (431,)),
        ("headers-50-of-700b", req("GET", "/health", headers=[(f"X-{i}", "v" * 700)
                                                              for i in range(50)]), (431,)),
        ("header-fields-101", req("GET", "/health", headers=many(100)), (431,)),
        ("header-fields-10000", req("GET", "/health", headers=many(10000)), (431,)),
        ("body-1mb-plus-1", req("POST", "/v1/jobs", body=b"{" + b" " * (1 << 20)), (413,)),
        ("body-big-valid-job", req("POST", "/v1/jobs", body=big_job), (413,)),
        ("kv-body-1mb-plus-1", req("PUT", "/v1/kv/big", body=b"v" * ((1 << 20) + 1)), (413,)),
        ("kv-body-over-64k-value-limit", req("PUT", "/v1/kv/big", body=b"v" * (65537)), (413,)),
        ("declared-1tb-no-body", b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: "
                                 b"1000000000000\r\n\r\n", (413,)),
        ("declared-kv-2mb-no-body", b"PUT /v1/kv/big HTTP/1.1\r\nHost: x\r\nContent-Length: "
                                    b"2097152\r\n\r\n", (413,)),
        ("declared-restore-over-256mb", b"POST /v1/restore HTTP/1.1\r\nHost: x\r\n"
                                        b"Content-Type: multipart/form-data; boundary=b\r\n"
                                        b"Content-Length: 268435457\r\n\r\n", (413,)),
        ("declared-u64-overflow", b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: "
                                  b"18446744073709551616\r\n\r\n", ("4xx",)),
        ("chunked-body-1.1mb", b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\n"
                               b"Transfer-Encoding: chunked\r\n\r\n" + chunks, (413,)),
        ("chunk-size-declares-1tb", b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\n"
                                    b"Transfer-Encoding: chunked\r\n\r\nE8D4A51000\r\n", ("4xx",)),
        # Controls at the limits: just under is served.
        ("control-header-fields-100", req("GET", "/health", headers=many(99)), (200,)),
        ("control-header-bytes-32000", req("GET", "/health", headers=[("X-Big", "v" * 32000)]),
         (200,)),
        ("control-body-exactly-1mb-bad-json", req("POST", "/v1/jobs", body=b"{" + b" " * ((1 << 20) - 1)),
         (400,)),
    ]
    return [pytest.param(data, expect, id=cid) for cid, data, expect in cases]


@pytest.mark.parametrize("data,expect", oversize_cases())
def test_oversize(node, data, expect, request):
    run_case(node, request.node.callspec.id, data, expect)


def garbage_cases():
    tls_hello = bytes.fromhex("160301020001000" "1fc0303") + os.urandom(32) + b"\r\n\r\n"
    H = b"Host: x\r\n\r\n"
    cases = [
        ("word", b"GARBAGE\r\n\r\n", ("4xx", 501)),
        ("method-only", b"GET\r\n\r\n", ("4xx", 501)),
        ("http09", b"GET /health\r\n\r\n", ("4xx", 505)),
        ("extra-token", b"GET /health HTTP/1.1 extra\r\n" + H, ("4xx", 505)),
        ("leading-space", b" GET /health HTTP/1.1\r\n" + H, ("4xx", 501)),
        ("double-space", b"GET  /health HTTP/1.1\r\n" + H, OK_OR_4XX),
        ("tabs", b"GET\t/health\tHTTP/1.1\r\n" + H, OK_OR_4XX),
        ("nul-bytes", b"\x00\x00\x00\x00\r\n\r\n", ("4xx", 501)),
        ("ff-bytes", b"\xff\xfe\xfd\r\n\r\n", ("4xx", 501)),
        ("tls-client-hello", tls_hello, ("4xx", 501, 505)),
        ("cr-cr-lf", b"GET /health HTTP/1.1\r\r\n" + H, ("2xx", "4xx", 505)),
        ("nul-after-version", b"GET /health HTTP/1.1\x00\r\n" + H, ("4xx", 505)),
        ("nul-in-target", b"GET /health\x00 HTTP/1.1\r\n" + H, E4XX),
        ("no-leading-slash", b"GET health HTTP/1.1\r\n" + H, E4XX),
        ("query-only-target", b"GET ?q=1 HTTP/1.1\r\n" + H, E4XX),
        ("fragment-only-target", b"GET # HTTP/1.1\r\n" + H, E4XX),
        ("fragment", b"GET /health#frag HTTP/1.1\r\n" + H, OK_OR_4XX),
        ("del-in-method", b"G\x7fET /health HTTP/1.1\r\n" + H, ("4xx", 501)),
        ("del-in-target", b"GET /he\x7falth HTTP/1.1\r\n" + H, E4XX),
        ("space-in-target", b"GET /he alth HTTP/1.1\r\n" + H, ("4xx", 505)),
        ("leading-crlf", b"\r\nGET /health HTTP/1.1\r\n" + H, OK_OR_4XX),
        ("absolute-form", b"GET http://x/health HTTP/1.1\r\n" + H, OK_OR_4XX),
        ("absolute-form-bad-port", b"GET http://x:99999999/health HTTP/1.1\r\n" + H, OK_OR_4XX),
        ("absolute-form-ff-host", b"GET http://\xff/health HTTP/1.1\r\n" + H, OK_OR_4XX),
        ("dot-dot", b"GET /../../etc/passwd HTTP/1.1\r\n" + H, E4XX),
        ("encoded-dot-dot", b"GET /v1/jobs/..%2F..%2Fetc%2Fpasswd HTTP/1.1\r\n" + H, E4XX),
        ("only-crlfs-then-garbage", b"\r\n\r\n\r\nGARBAGE\r\n\r\n", ("4xx", 501)),
        ("header-before-request-line", b"Host: x\r\nGET /health HTTP/1.1\r\n\r\n", ("4xx", 501)),
        # A strict parser sees the CRLFs at the end; a lenient one ends at "\n\n" and skips them.
        ("bare-lf-request", b"GET /health HTTP/1.1\nHost: x\n\n\r\n\r\n", OK_OR_4XX),
        ("status-line-as-request", b"HTTP/1.1 200 OK\r\n" + H, ("4xx", 501, 505)),
        ("json-as-request", b'{"name":"hostile"}\r\n\r\n', ("4xx", 501)),
        ("control-valid", b"GET /health HTTP/1.1\r\n" + H, (200,)),
    ]
    return [pytest.param(data, expect, id=cid) for cid, data, expect in cases]


@pytest.mark.parametrize("data,expect", garbage_cases())
def test_garbage_request_lines(node, data, expect, request):
    run_case(node, request.node.callspec.id, data, expect)


def method_version_cases():
    cases = []
    for m in ("FOO", "BREW", "get", "Get", "PROPFIND", "M-SEARCH", "X", "SEARCH", "PURGE",
              "GET2", "~!#$%&'*+.^_`|", "POSTT"):
        cases.append((f"method-{m}", req(m, "/health"), (501,)))
    cases += [
        ("method-FOO-on-jobs-with-valid-job", req("FOO", "/v1/jobs", body=VALID_HOSTILE_JOB), (501,)),
        ("method-FOO-bad-path", req("FOO", "/%FF"), (400, 501)),
        ("method-FOO-http2", req("FOO", "/health", version=b"HTTP/2.0"), (501, 505)),
        ("method-nonascii", req(b"G\xc3\x89T", "/health"), ("4xx", 501)),
        ("method-with-colon", req("GE:T", "/health"), ("4xx", 501)),
        ("method-trace", req("TRACE", "/health"), ("2xx", "4xx", 501)),
        ("method-connect", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
         ("4xx", 501)),
        ("method-options-star", b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", ("2xx", "4xx", 501)),
    ]
    for v in (b"HTTP/2.0", b"HTTP/3.0", b"HTTP/1.2", b"HTTP/1.9",
              b"HTTP/0.9", b"HTTP/0.0", b"HTTP/9.9", b"HTTP/2.1"):
        cases.append((f"version-{v.decode()}", req("GET", "/health", version=v), (505,)))
    cases.append(("version-2.0-post-valid-job",
                  req("POST", "/v1/jobs", body=VALID_HOSTILE_JOB, version=b"HTTP/2.0"), (505,)))
    cases.append(("version-3.0-delete-keep-b", req("DELETE", "/v1/jobs/keep-b", version=b"HTTP/3.0"),
                  (505,)))
    for v in (b"HTTP/2", b"HTTP/3", b"HTTP/1.", b"HTTP/.1", b"HTTP/11", b"HTTP/1.1.1", b"HTTP/a.b", b"http/1.1",
              b"HTTP/1.1x", b"HTTPS/1.1", b"HTTP/-1.1", b"HTTP/10.0", b"HTTP/1.01", b"HTTP/\xff",
              b"HTTP/1.1\xff", b"XTTP/1.1", b"HTTP/", b"HTTP"):
        cases.append((f"malformed-version-{v.decode('latin-1')}", req("GET", "/health", version=v),
                      (400, 505)))
    cases.append(("h2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ("4xx", 501, 505)))
    return [pytest.param(data, expect, id=cid) for cid, data, expect in cases]


@pytest.mark.parametrize("data,expect", method_version_cases())
def test_methods_and_versions(node, data, expect, request):
    run_case(node, request.node.callspec.id, data, expect)


def chunked_cases():
    def C(body, path="/v1/jobs", method="POST", te=b"chunked", extra=b""):
        return (method.encode() + b" " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                b"Transfer-Encoding: " + te + b"\r\n" + extra + b"\r\n" + body)
    cases = [
        ("size-zz", C(b"zz\r\nabc\r\n0\r\n\r\n"), E4XX),
        ("size-negative", C(b"-1\r\nabc\r\n0\r\n\r\n"), E4XX),
        ("size-0x-prefix", C(b"0x3\r\nabc\r\n0\r\n\r\n"), E4XX),
        ("size-leading-space", C(b" 3\r\nabc\r\n0\r\n\r\n"), E4XX),
        ("size-empty", C(b"\r\nabc\r\n0\r\n\r\n"), E4XX),
        ("size-ff-byte", C(b"\xff\r\nabc\r\n0\r\n\r\n"), E4XX),
        ("size-u64-overflow", C(b"10000000000000000\r\nabc\r\n0\r\n\r\n"), E4XX),
        ("size-30-hex-digits", C(b"f" * 30 + b"\r\nabc\r\n0\r\n\r\n"), E4XX),
        ("data-longer-than-size", C(b"3\r\nabcdef\r\n0\r\n\r\n"), E4XX),
        ("data-no-crlf", C(b"3\r\nabc0\r\n\r\n"), E4XX),
        ("bare-lf-framing", C(b"3\nabc\n0\n\n\r\n\r\n"), E4XX),
        ("ext-ff", C(b"3;\xff\r\nabc\r\n0\r\n\r\n"), E4XX),
        ("ext-nul", C(b"3;a=\x00\r\nabc\r\n0\r\n\r\n"), E4XX),
        ("trailer-ff", C(b"3\r\nabc\r\n0\r\nX-T: \xff\r\n\r\n"), E4XX),
        ("trailer-no-colon", C(b"3\r\nabc\r\n0\r\nBadTrailer\r\n\r\n"), E4XX),
        ("second-chunk-bad", C(b"3\r\nabc\r\nzz\r\n\r\n"), E4XX),
        ("ext-100k", C(b"3;" + b"a" * 100000 + b"\r\nabc\r\n0\r\n\r\n"), E4XX),
        ("one-byte-chunks-100k", C(b"1\r\na\r\n" * 100000 + b"0\r\n\r\n"), E4XX),
        ("trailers-10000", C(b"3\r\nabc\r\n0\r\n" + b"X-T: v\r\n" * 10000 + b"\r\n"), E4XX),
        ("trailer-40k", C(b"3\r\nabc\r\n0\r\nX-T: " + b"v" * 40000 + b"\r\n\r\n"), E4XX),
        ("uppercase-te", C(b"3\r\nabc\r\n0\r\n\r\n", te=b"CHUNKED"), E4XX),
        ("te-gzip-chunked", C(b"3\r\nabc\r\n0\r\n\r\n", te=b"gzip, chunked"), ("4xx", 501)),
        ("te-chunked-gzip", C(b"3\r\nabc\r\n0\r\n\r\n", te=b"chunked, gzip"), ("4xx", 501)),
        ("te-identity", C(b"3\r\nabc\r\n0\r\n\r\n", te=b"identity"), ("4xx", 501)),
        ("te-xchunked", C(b"3\r\nabc\r\n0\r\n\r\n", te=b"xchunked"), ("4xx", 501)),
        ("te-chunked-nul", C(b"3\r\nabc\r\n0\r\n\r\n", te=b"chunked\x00"), ("4xx", 501)),
        ("te-ff", C(b"3\r\nabc\r\n0\r\n\r\n", te=b"\xff"), ("4xx", 501)),
        ("te-twice", C(b"3\r\nabc\r\n0\r\n\r\n", extra=b"Transfer-Encoding: chunked\r\n"),
         ("4xx", 501)),
        ("te-and-content-length", C(b"3\r\nabc\r\n0\r\n\r\n", extra=b"Content-Length: 13\r\n"), E4XX),
        ("kv-size-zz", C(b"zz\r\nabc\r\n0\r\n\r\n", path="/v1/kv/chunk-kv", method="PUT"), E4XX),
        ("kv-second-chunk-bad", C(b"3\r\nabc\r\nzz\r\n\r\n", path="/v1/kv/chunk-kv", method="PUT"),
         E4XX),
        ("kv-te-and-content-length", C(b"3\r\nabc\r\n0\r\n\r\n", path="/v1/kv/chunk-kv", method="PUT",
                                       extra=b"Content-Length: 3\r\n"), E4XX),
        ("kv-te-gzip", C(b"3\r\nabc\r\n0\r\n\r\n", path="/v1/kv/chunk-kv", method="PUT",
                         te=b"gzip, chunked"), ("4xx", 501)),
        ("job-valid-json-bad-last-chunk",
         C(b"%x\r\n%s\r\n" % (len(VALID_HOSTILE_JOB), VALID_HOSTILE_JOB) + b"0zz\r\n\r\n"), E4XX),
    ]
    return [pytest.param(data, expect, id=cid) for cid, data, expect in cases]


@pytest.mark.parametrize("data,expect", chunked_cases())
def test_bad_chunked(node, data, expect, request):
    exchange(node.srv, request.node.callspec.id, data, expect, single=True)
    assert_alive(node.srv, request.node.callspec.id, show(data))


def test_kv_values_are_opaque_bytes_and_chunked_works(node):
    srv = node.srv
    ans = exchange(srv, "opaque PUT", req("PUT", "/v1/kv/opaque", body=OPAQUE), (200,))
    r = srv.get("/v1/kv/opaque")
    assert r.status_code == 200 and r.content == OPAQUE, (r.status_code, r.content)
    chunked = (b"PUT /v1/kv/chunk-ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"3\r\n\xff\x00\xfe\r\n2\r\nok\r\n0\r\n\r\n")
    exchange(srv, "chunked PUT", chunked, (200,))
    r = srv.get("/v1/kv/chunk-ok")
    assert r.status_code == 200 and r.content == b"\xff\x00\xfeok", (r.status_code, r.content)
    assert ans.status == 200


HTTP10_CASES = [  # (id, bytes, expected statuses, answer has a body to compare/parse)
    ("health-no-host", b"GET /health HTTP/1.0\r\n\r\n", (200,)),
    ("health-with-host", b"GET /health HTTP/1.0\r\nHost: x\r\n\r\n", (200,)),
    ("jobs-list", b"GET /v1/jobs HTTP/1.0\r\n\r\n", (200,)),
    ("metrics", b"GET /metrics HTTP/1.0\r\n\r\n", (200,)),
    ("unknown-route", b"GET /no-such-route HTTP/1.0\r\n\r\n", (404,)),
    ("bad-utf8-path", b"GET /v1/jobs/%FF HTTP/1.0\r\n\r\n", (400,)),
    ("bad-utf8-query", b"GET /v1/jobs?q=%C0%AF HTTP/1.0\r\n\r\n", (400,)),
    ("bad-json", req("POST", "/v1/jobs", body=b"{bad", version=b"HTTP/1.0", host=False), (400,)),
    ("wrong-type", req("POST", "/v1/jobs", body=b'{"name":"hostile","retries":"x"}',
                       version=b"HTTP/1.0", host=False), (400,)),
    ("post-without-length", b"POST /v1/jobs HTTP/1.0\r\n\r\n", E4XX),
    ("chunked-in-1.0", b"POST /v1/jobs HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"zz\r\n\r\n", ("4xx", 501)),
    ("unknown-method", b"FOO /health HTTP/1.0\r\n\r\n", (501,)),
    ("oversized-header", b"GET /health HTTP/1.0\r\nX-Big: " + b"v" * 40000 + b"\r\n\r\n", (431,)),
]


@pytest.mark.parametrize("data,expect", [pytest.param(d, e, id=i) for i, d, e in HTTP10_CASES])
def test_http10_requests_get_http10_compatible_answers(node, data, expect, request):
    case, sent = request.node.callspec.id, show(data)
    srv = node.srv
    conn = RawConn(srv.http)
    try:
        conn.send(data)
        try:
            ans = conn.read_answer()
        except Hang as e:
            pytest.fail(f"{case}: hang: {e}; sent {sent}")
        assert ans is not None, f"{case}: closed ({conn.ended}) with no answer; sent {sent}"
        assert status_matches(ans.status, expect), f"{case}: {ans!r}; sent {sent}"
        assert ans.version in ("HTTP/1.0", "HTTP/1.1"), ans
        assert not ans.chunked(), f"{case}: chunked answer to an HTTP/1.0 client: {ans!r}"
        if ans.status >= 400:
            check_error_body(ans, sent)
        if ans.header("content-length") is not None:
            # An HTTP/1.0 client without keep-alive expects the end of the connection next.
            try:
                conn.wait_end(TIMEOUT)
            except Hang:
                pytest.fail(f"{case}: the server kept an HTTP/1.0 connection open; sent {sent}")
        if case == "jobs-list":
            assert ans.body == srv.get("/v1/jobs").content, "the job list differs over HTTP/1.0"
        if case.startswith("health"):
            assert json.loads(ans.body)["status"] == "ok", ans
    finally:
        conn.close()
    assert_alive(srv, case, sent)


def test_http10_keep_alive_and_sse(node):
    srv = node.srv
    conn = RawConn(srv.http)
    try:
        conn.send(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        ans = conn.read_answer()
        assert ans is not None and ans.status == 200 and not ans.chunked(), ans
        if "keep-alive" in (ans.header("connection") or "").lower():
            conn.send(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            again = conn.read_answer()
            assert again is not None and again.status == 200 and not again.chunked(), again
        else:
            conn.wait_end(TIMEOUT)
    finally:
        conn.close()
    # A stream to an HTTP/1.0 client cannot be chunked: close-delimited, or refused.
    conn = RawConn(srv.http)
    try:
        conn.send(b"GET /v1/events/leader HTTP/1.0\r\n\r\n")
        ans = conn.read_answer(head_only=True)
        assert ans is not None, "SSE over HTTP/1.0: closed with no answer"
        assert status_matches(ans.status, ("2xx", "4xx")), ans
        assert not ans.chunked(), f"a chunked stream to an HTTP/1.0 client: {ans!r}"
        if ans.status == 200:
            first = conn._until(b"\n\n", time.monotonic() + TIMEOUT, "the first event")
            assert first is not None and b"event: leader" in first, first
    finally:
        conn.close(reset=True)
    assert_alive(srv, "HTTP/1.0 keep-alive and SSE")


def pipeline_cases():
    big_header = req("GET", "/health", headers=[("X-Big", "v" * 40000)])
    cases = [  # (id, bytes, the answers in order: fewer is fine if the connection then ends)
        ("bad-path-then-health", req("GET", "/%FF") + HEALTH, [400, 200]),
        ("bad-query-then-health", req("GET", "/v1/jobs?q=%C0%AF") + HEALTH, [400, 200]),
        ("nul-path-then-health", req("GET", "/v1/jobs/%00") + HEALTH, [400, 200]),
        ("bad-json-then-health", req("POST", "/v1/jobs", body=b"{bad") + HEALTH, [400, 200]),
        ("wrong-type-then-health", req("POST", "/v1/jobs", body=json.dumps(
            {"name": "hostile", "retries": "x"}).encode()) + HEALTH, [400, 200]),
        ("unknown-method-then-health", req("FOO", "/health") + HEALTH, [501, 200]),
        ("http2-then-health", req("GET", "/health", version=b"HTTP/2.0") + HEALTH, [505, 200]),
        ("garbage-then-health", b"GARBAGE\r\n\r\n" + HEALTH, ["4xx", 200]),
        ("bad-chunk-then-health", b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                                  b"chunked\r\n\r\nzz\r\n\r\n" + HEALTH, ["4xx", 200]),
        ("bad-content-length-then-health", b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\n"
                                           b"Content-Length: abc\r\n\r\n" + HEALTH, ["4xx", 200]),
        ("oversized-header-then-health", big_header + HEALTH, ["4xx", 200]),
        ("declared-too-large-then-health", b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\n"
                                           b"Content-Length: 2000000\r\n\r\n" + HEALTH, [413]),
        ("smuggle-te-cl-then-delete", b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                                      b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
                                      req("DELETE", "/v1/jobs/keep-b"), ["4xx"]),
        ("smuggle-two-lengths-then-delete", b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\n"
                                            b"Content-Length: 0\r\nContent-Length: 40\r\n\r\n" +
                                            req("DELETE", "/v1/kv/seed-1"), ["4xx"]),
        ("good-bad-good", HEALTH + req("GET", "/%FF") + HEALTH, [200, 400, 200]),
        ("good-then-http2", HEALTH + req("GET", "/health", version=b"HTTP/2.0"), [200, 505]),
        ("ten-bad", req("GET", "/%FF") * 10, [400] * 10),
        ("bad-then-connection-close", req("GET", "/%FF", headers=[("Connection", "close")]) +
                                      HEALTH, [400]),
        ("bad-then-half-request", req("GET", "/%FF") + b"GET /hea", [400]),
        ("thousand-health-then-bad", HEALTH * 1000 + req("GET", "/%FF"), [200] * 1000 + [400]),
        ("head-has-no-body", req("HEAD", "/health") + req("HEAD", "/v1/jobs") + HEALTH,
         ["head", "head", 200]),
    ]
    # A transfer coding the server does not implement: it cannot know where the body ends, so
    # it must refuse (4xx, or 501 as RFC 9112 suggests) and close; reading the body as the next
    # request would let it smuggle one (here, deleting a seeded key).
    smuggled = req("DELETE", "/v1/kv/seed-2")
    for te in (b"xchunked", b"identity", b"gzip", b"chunked, gzip", b"gzip, chunked",
               b"deflate, chunked", b"chunked;q=1", b"chunked\x00"):
        cases.append((f"unsupported-te-{te.decode('latin-1')}-smuggling-delete",
                      b"PUT /v1/kv/hostile HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te +
                      b"\r\n\r\n" + smuggled, [("4xx", 501)]))
    return [pytest.param(data, expected, id=cid) for cid, data, expected in cases]


@pytest.mark.parametrize("data,expected", pipeline_cases())
def test_pipelining_with_a_bad_request(node, data, expected, request):
    case, sent = request.node.callspec.id, show(data)
    srv = node.srv
    conn = RawConn(srv.http)
    answers = []
    try:
        conn.send(data)
        while len(answers) <= len(expected):
            # Once every request is answered, a kept-alive connection may stay silent: a short
            # look for an extra answer (a smuggled request) or the end is enough.
            extra = len(answers) == len(expected)
            head = not extra and expected[len(answers)] == "head"
            try:
                ans = conn.read_answer(timeout=1.0 if extra else TIMEOUT, head_only=head)
            except Hang as e:
                if extra:
                    break
                pytest.fail(f"{case}: after {len(answers)} answers {answers}, neither another "
                            f"answer nor the end of the connection ({e}); sent {sent}")
            if ans is None:
                break
            answers.append(ans)
    finally:
        conn.close()
    assert answers, f"{case}: no answer at all ({conn.ended}); sent {sent}"
    assert len(answers) <= len(expected), \
        f"{case}: more answers than requests: {answers}; sent {sent}"
    for i, (ans, want) in enumerate(zip(answers, expected)):
        if want == "head":  # an answer to HEAD: a head only, then the next answer follows
            assert ans.status in (200, 405), f"{case}: answer {i + 1} to HEAD: {ans!r}"
            continue
        assert status_matches(ans.status, want if isinstance(want, tuple) else (want,)), \
            f"{case}: answer {i + 1} is {ans!r}, expected {want}; sent {sent}"
        if ans.status >= 400:
            check_error_body(ans, sent)
    if len(answers) < len(expected):
        assert conn.ended == "eof", \
            f"{case}: after {len(answers)} answers the connection ended by {conn.ended}, not a " \
            f"clean close; sent {sent}"
    assert_alive(srv, case, sent)


def abandon_cases():
    job_bytes = json.dumps({"name": "abandoned", "schedule": "@every 1h", "executor": "shell"}).encode()
    cases = [
        ("connect-only", b""),
        ("half-request-line", b"GET /hea"),
        ("request-line-only", b"GET /health HTTP/1.1\r\n"),
        ("half-header-line", b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: b"),
        ("headers-without-blank-line", b"GET /health HTTP/1.1\r\nHost: x\r\n"),
        ("half-body-valid-job", b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                                % len(job_bytes) + job_bytes[:-1]),
        ("half-body-kv", b"PUT /v1/kv/abandoned HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345"),
        ("half-chunk", b"PUT /v1/kv/abandoned HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
                       b"\r\n\r\n10\r\nabc"),
        ("chunks-without-last", b"PUT /v1/kv/abandoned HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                                b"chunked\r\n\r\n3\r\nabc\r\n"),
        ("half-restore", b"POST /v1/restore HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data;"
                         b" boundary=b\r\nContent-Length: 1000\r\n\r\n--b\r\nContent-Disposition: "
                         b"form-data; name=\"file\"\r\n\r\n[" + job_bytes),
        ("partial-utf8-path", b"GET /v1/jobs/%E2%8"),
        ("complete-metrics-unread", b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("complete-openapi-unread", b"GET /v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("complete-jobs-unread", b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("twenty-pipelined-unread", b"GET /v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * 20),
    ]
    out = []
    for cid, data in cases:
        for mode in ("fin", "rst"):
            out.append(pytest.param(data, mode, id=f"{cid}-{mode}"))
    return out


@pytest.mark.parametrize("data,mode", abandon_cases())
def test_abandoned_requests(node, data, mode, request):
    case, sent = request.node.callspec.id, show(data)
    for _ in range(3):
        conn = RawConn(node.srv.http)
        if data:
            conn.send(data)
        conn.close(reset=(mode == "rst"))
    assert_alive(node.srv, case, sent)


def test_complete_request_after_half_close_is_answered_or_closed(node):
    for data, want in ((HEALTH, 200), (req("GET", "/%FF"), 400),
                       (req("POST", "/v1/jobs", body=b"{bad"), 400)):
        conn = RawConn(node.srv.http)
        try:
            conn.send(data)
            conn.sock.shutdown(socket.SHUT_WR)
            try:
                ans = conn.read_answer()
            except Hang as e:
                pytest.fail(f"half-closed client: hang {e}; sent {show(data)}")
            if ans is not None:
                assert ans.status == want, (ans, show(data))
        finally:
            conn.close()
    assert_alive(node.srv, "half-close")


def test_abandoned_connections_are_released(node):
    """Every connection of the cases above ended; the gauge of open connections comes back."""
    deadline = time.monotonic() + 8
    while True:
        v = metric(scrape(node.srv), "sundial_http_connections")
        assert v is not None, "GET /metrics has no sundial_http_connections"
        if v <= 3:
            break
        assert time.monotonic() < deadline, \
            f"sundial_http_connections is still {v} 8 s after every client closed"
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------------
# The end of the suite on the one server: nothing changed, nothing escaped the guard.


def check_unchanged(srv, before, where):
    """Every difference from `before`, and the guard counter, reported together."""
    after = snapshot(srv)
    problems = []
    if after["jobs"] != before["jobs"]:
        names = lambda snap: [j["name"] for j in json.loads(snap["jobs"][2])] \
            if snap["jobs"][0] == 200 else snap["jobs"]
        problems.append(f"GET /v1/jobs changed: names {names(before)} -> {names(after)}; "
                        f"before {before['jobs']!r:.600} after {after['jobs']!r:.600}")
    for k in before["kv"]:
        if after["kv"][k] != before["kv"][k]:
            problems.append(f"key {k!r} changed: {before['kv'][k]!r:.200} -> {after['kv'][k]!r:.200}")
    if after["paused"] != before["paused"]:
        problems.append(f"the pause flag changed: {before['paused']} -> {after['paused']}")
    errors = metric(scrape(srv), "sundial_http_internal_errors_total")
    if errors != 0:
        problems.append(f"sundial_http_internal_errors_total is {errors} (must be present and 0)")
    assert not problems, f"{where}:\n" + "\n".join(problems)


def test_zz_store_unchanged_and_no_internal_errors(node):
    assert_alive(node.srv, "end of the suite")
    check_unchanged(node.srv, node.before, "one server")
    # The opaque value written on purpose is intact.
    r = node.srv.get("/v1/kv/opaque")
    assert r.status_code in (200, 404) and (r.status_code == 404 or r.content == OPAQUE)


# ---------------------------------------------------------------------------------------------
# A sample of every table against a follower of a 3-server cluster: the same answers, and
# writes that would be forwarded never leave the follower.


def follower_sample():
    out = []
    tables = [path_cases(), query_cases(), header_cases(), wrong_type_cases(), nesting_cases(),
              oversize_cases(), garbage_cases(), method_version_cases(), chunked_cases(),
              json_cases()]
    for t, table in enumerate(tables):
        for p in table[::max(1, len(table) // 12)]:
            v = p.values
            if t in (3,):  # wrong types: a body
                data, expect = req("POST", "/v1/jobs", body=v[0]), E400
            elif t in (4, 9):  # nesting, JSON bodies: method, path, body
                data, expect = req(v[0], v[1], body=v[2]), E4XX
            else:
                data, expect = v[0], v[1]
            out.append((p.id, data, expect))
    return out


def test_zz_a_follower_of_three_holds_too(cluster):
    leader = cluster.form(3)
    follower = next(s for s in cluster.servers if s is not leader)
    seed(follower)
    for s in cluster.servers:
        wait_for(f"{s.name} to hold the seed",
                 lambda s=s: s.get("/v1/jobs?stale").headers.get("X-Total-Count") == "3")
    before = snapshot(follower)
    sample = follower_sample()
    assert len(sample) >= 80, len(sample)
    failures = []
    for case, data, expect in sample:  # every case runs; the failures are reported together
        try:
            exchange(follower, "follower " + case, data, expect)
            assert_alive(follower, "follower " + case, show(data))
        except (AssertionError, pytest.fail.Exception) as e:
            failures.append(str(e)[:1500])
    assert not failures, f"{len(failures)} of {len(sample)} cases failed on a follower:\n" + \
        "\n".join(failures)
    for s in cluster.servers:
        assert_alive(s, "follower sample, " + s.name)
    check_unchanged(follower, before, "follower")
    check_unchanged(leader, before, "leader")
