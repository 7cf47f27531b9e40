"""Connection handling of the HTTP server on real processes: a thousand idle keep-alive
connections and a thousand half-sent requests at once while GET /health stays fast and the
thread count stays small; the per-client cap; the idle, header and body timeouts; and the
leader event stream. Every wait is bounded and says what it waited for."""
import json
import resource
import selectors
import socket
import threading
import time

import pytest

from test_api_hostile import (Hang, RawConn, assert_alive, check_error_body, metric, scrape,
                              show)

N_IDLE = 1000
N_HALF = 1000
IDLE_SOURCES = [f"127.0.0.{i}" for i in range(2, 12)]    # 100 idle connections each
HALF_SOURCES = [f"127.0.0.{i}" for i in range(12, 22)]   # 100 half-sent requests each
HEADER_TIMEOUT = 2.0
CLOSE_MARGIN = 3.0
LATENCY_LIMIT = 0.100
THREAD_LIMIT = 100
KEEP = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
HALF = b"GET /health HTTP/1.1\r\nHost: x\r\n"  # no blank line: the head never ends
LOAD_FLAGS = ["--http-header-timeout", "2s", "--http-idle-timeout", "30s",
              "--http-max-connections-per-client", "2000", "--http-max-connections", "20000"]


@pytest.fixture(scope="module", autouse=True)
def many_descriptors():
    """Raises this process's RLIMIT_NOFILE soft limit to the hard limit (servers started
    afterwards inherit it too); puts it back at the end."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    need = N_IDLE + N_HALF + 300
    if now != resource.RLIM_INFINITY and now < need:
        pytest.fail(f"RLIMIT_NOFILE soft limit {now} (hard {hard}) is below the {need} "
                    "descriptors this test holds")
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def threads_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError(f"no Threads: line in /proc/{pid}/status")


def health_on_fresh_connection(srv, timeout=2.0):
    """(seconds to the whole answer, status or what went wrong)."""
    start = time.monotonic()
    try:
        c = RawConn(srv.http, timeout=timeout, source="127.0.0.1")
        try:
            c.send(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            ans = c.read_answer(timeout=timeout)
        finally:
            c.close()
        return time.monotonic() - start, (ans.status if ans else "closed without an answer")
    except (OSError, AssertionError) as e:  # Hang is an AssertionError
        return None, repr(e)


class Sampler(threading.Thread):
    """Every ~50 ms: GET /health on a fresh connection from 127.0.0.1 (timed) and the
    server's thread count. Bounded by `max_seconds` whatever happens to the test."""

    def __init__(self, srv, period=0.05, max_seconds=150):
        super().__init__(daemon=True)
        self.srv, self.period, self.max_seconds = srv, period, max_seconds
        self.samples = []   # (t, seconds or None, status or error, phase)
        self.threads = []   # (t, thread count, phase)
        self.phase = "start"
        self.t0 = time.monotonic()
        self._done = threading.Event()

    def run(self):
        deadline = self.t0 + self.max_seconds
        while not self._done.is_set() and time.monotonic() < deadline:
            start = time.monotonic()
            took, status = health_on_fresh_connection(self.srv)
            self.samples.append((start - self.t0, took, status, self.phase))
            try:
                self.threads.append((start - self.t0, threads_of(self.srv.proc.pid), self.phase))
            except OSError as e:
                self.threads.append((start - self.t0, None, f"{self.phase}: {e!r}"))
            self._done.wait(max(0.0, self.period - (time.monotonic() - start)))

    def finish(self):
        self._done.set()
        self.join(timeout=10)

    def check(self):
        assert len(self.samples) >= 20, f"only {len(self.samples)} samples were taken"
        bad = [s for s in self.samples if s[1] is None or s[2] != 200 or s[1] > LATENCY_LIMIT]
        timed = [s[1] for s in self.samples if s[1] is not None]
        worst = max(self.samples, key=lambda s: s[1] if s[1] is not None else 1e9)
        summary = (f"{len(self.samples)} samples, max {max(timed) * 1000 if timed else -1:.1f} ms "
                   f"at t={worst[0]:.2f}s ({worst[3]})")
        assert not bad, (f"GET /health over {LATENCY_LIMIT * 1000:.0f} ms or failed in "
                         f"{len(bad)} of {summary}; first failures (t, seconds, status, phase): "
                         f"{bad[:10]}")
        counts = [t for t in self.threads if t[1] is None or t[1] >= THREAD_LIMIT]
        top = max((t for t in self.threads if t[1] is not None), key=lambda t: t[1])
        assert not counts, (f"server threads reached {THREAD_LIMIT} or could not be read: "
                            f"{counts[:10]} (max {top})")
        return summary, top


def open_keep_alive(srv, source, what):
    try:
        c = RawConn(srv.http, timeout=5, source=source)
    except OSError as e:
        raise AssertionError(f"{what}: connect from {source} failed: {e!r}")
    c.send(KEEP)
    try:
        ans = c.read_answer()
    except Hang as e:
        c.close()
        raise AssertionError(f"{what}: no answer to GET /health: {e}")
    if ans is None or ans.status != 200 or ans.closes():
        c.close()
        raise AssertionError(f"{what}: GET /health keep-alive answered {ans!r} ({c.ended})")
    return c


class HalfSent:
    """A request head that never ends, watched for the server's 408 and close."""

    def __init__(self, i, srv, source):
        self.i, self.source = i, source
        self.conn = RawConn(srv.http, timeout=5, source=source)
        self.conn.send(HALF)
        self.sent = time.monotonic()
        self.conn.sock.setblocking(False)
        self.got = b""
        self.first = None   # when the 408 or the end arrived
        self.ended = None   # when the connection ended
        self.how = None     # "eof", "reset", "408+eof", "408+reset"; or "unexpected"

    def readable(self, now):
        try:
            data = self.conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return False
        except (ConnectionResetError, ConnectionAbortedError):
            data = None
        if data:
            self.got += data
            prefix = b"HTTP/1.1 408"
            if not (self.got.startswith(prefix) or prefix.startswith(self.got)):
                self.how = "unexpected"
                self.ended = self.first = self.first or now
                return True
            if len(self.got) >= len(prefix) and self.first is None:
                self.first = now
            return False
        self.first = self.first or now
        self.ended = now
        self.how = ("408+" if self.got else "") + ("reset" if data is None else "eof")
        return True


def test_thousands_of_idle_and_half_sent_connections(cluster):
    srv = cluster.form(1, LOAD_FLAGS)
    sampler = Sampler(srv)
    idle, half = [], []
    sel = selectors.DefaultSelector()
    pending = {}

    def poll(timeout):
        for key, _ in sel.select(timeout):
            h = key.data
            if h.readable(time.monotonic()):
                sel.unregister(h.conn.sock)
                h.conn.close()
                pending.pop(h.i, None)

    sampler.start()
    try:
        # 1. A thousand idle keep-alive connections, each having completed one request.
        sampler.phase = "opening idle keep-alive connections"
        for i in range(N_IDLE):
            idle.append(open_keep_alive(srv, IDLE_SOURCES[i % len(IDLE_SOURCES)], f"idle {i}"))
        threads_after_idle = threads_of(srv.proc.pid)

        # 2. A thousand half-sent request heads; their closes are watched while opening.
        sampler.phase = "opening half-sent requests"
        for start in range(0, N_HALF, 50):
            for i in range(start, min(start + 50, N_HALF)):
                try:
                    h = HalfSent(i, srv, HALF_SOURCES[i % len(HALF_SOURCES)])
                except OSError as e:
                    raise AssertionError(f"half-sent {i}: connect failed: {e!r}")
                half.append(h)
                pending[i] = h
                sel.register(h.conn.sock, selectors.EVENT_READ, h)
            poll(0)
        last_sent = time.monotonic()
        sampler.phase = "half-sent requests timing out"
        deadline = last_sent + HEADER_TIMEOUT + CLOSE_MARGIN + 1.0
        while pending and time.monotonic() < deadline:
            poll(0.05)
        sampler.phase = "holding idle connections"
        hold_until = time.monotonic() + 2.0
        while time.monotonic() < hold_until:  # the sampler measures while they are held
            poll(0.1)

        # Every half-sent request was closed by the server, no sooner than the timeout and
        # within it plus the margin.
        unexpected = [(h.i, h.source, h.got[:100]) for h in half if h.how == "unexpected"]
        assert not unexpected, f"half-sent requests got answers other than 408: {unexpected[:5]}"
        open_still = [(h.i, h.source, h.got[:60]) for h in half if h.ended is None]
        assert not open_still, (f"{len(open_still)} of {N_HALF} half-sent requests were still "
                                f"open {deadline - last_sent:.1f}s after the last was sent: "
                                f"{open_still[:5]}")
        delays = sorted((h.first - h.sent, h.i, h.source, h.how) for h in half)
        late = [d for d in delays if d[0] > HEADER_TIMEOUT + CLOSE_MARGIN]
        early = [d for d in delays if d[0] < HEADER_TIMEOUT - 0.2]
        hows = {}
        for h in half:
            hows[h.how] = hows.get(h.how, 0) + 1
        stats = (f"close delays min {delays[0][0]:.2f}s max {delays[-1][0]:.2f}s, "
                 f"how: {hows}")
        assert not late, f"{len(late)} half-sent requests closed late ({stats}): {late[-5:]}"
        assert not early, f"{len(early)} closed before the header timeout ({stats}): {early[:5]}"

        # The idle keep-alive connections are all still open (a closed one would be
        # readable: end of stream) and a sample of them still serves requests.
        probe = selectors.DefaultSelector()
        for n, c in enumerate(idle):
            probe.register(c.sock, selectors.EVENT_READ, n)
        closed = sorted(key.data for key, _ in probe.select(0))
        probe.close()
        assert not closed, (f"{len(closed)} idle keep-alive connections were closed or got "
                            f"bytes under a 30 s idle timeout: {closed[:10]}")
        text = scrape(srv)
        gauge = metric(text, "sundial_http_connections")
        assert gauge is not None and gauge >= N_IDLE, f"sundial_http_connections is {gauge}"
        header_timeouts = metric(text, "sundial_http_timeouts_total", phase="header")
        assert header_timeouts is not None and header_timeouts >= N_HALF, \
            f'sundial_http_timeouts_total{{phase="header"}} is {header_timeouts}'
        assert metric(text, "sundial_http_internal_errors_total") == 0
        for n in range(0, N_IDLE, N_IDLE // 50):
            c = idle[n]
            c.send(KEEP)
            try:
                ans = c.read_answer()
            except Hang as e:
                raise AssertionError(f"idle connection {n}: no answer after holding: {e}")
            assert ans is not None and ans.status == 200, \
                f"idle connection {n} ({IDLE_SOURCES[n % len(IDLE_SOURCES)]}): {ans!r} {c.ended}"
        threads_at_end = threads_of(srv.proc.pid)
    finally:
        sampler.finish()
        for h in half:
            h.conn.close()
        sel.close()
        for c in idle:
            c.close()
    summary, top = sampler.check()
    print(f"\n/health {summary}; threads max {top[1]} ({top[2]}), after idle "
          f"{threads_after_idle}, at end {threads_at_end}; half-sent {stats}")
    assert_alive(srv, "after the load")


def test_per_client_connection_cap(cluster):
    srv = cluster.form(1, ["--http-max-connections-per-client", "5"])
    held = []
    try:
        for i in range(5):
            held.append(open_keep_alive(srv, "127.0.0.3", f"127.0.0.3 connection {i + 1}"))
        sixth = RawConn(srv.http, source="127.0.0.3")
        try:
            sixth.send(KEEP)
            try:
                ans = sixth.read_answer()
            except Hang as e:
                pytest.fail(f"the 6th connection from 127.0.0.3 was neither refused nor closed: {e}")
            if ans is not None:
                assert ans.status == 429, f"the 6th connection from 127.0.0.3 got {ans!r}"
                check_error_body(ans, "the 6th connection's GET /health")
                try:
                    sixth.wait_end(5)
                except Hang:
                    pytest.fail("the refused 6th connection was not closed after its 429")
        finally:
            sixth.close()
        other = open_keep_alive(srv, "127.0.0.4", "127.0.0.4 while 127.0.0.3 is at its cap")
        held.append(other)
        assert srv.get("/health").status_code == 200  # 127.0.0.1
        refused = metric(scrape(srv), "sundial_http_connections_refused_total", reason="per_client")
        assert refused is not None and refused >= 1, \
            f'sundial_http_connections_refused_total{{reason="per_client"}} is {refused}'
        # Closing one frees its place.
        held.pop(0).close()
        deadline = time.monotonic() + 5
        while True:
            try:
                held.append(open_keep_alive(srv, "127.0.0.3", "127.0.0.3 after one closed"))
                break
            except AssertionError as e:
                if time.monotonic() > deadline:
                    raise AssertionError(f"a freed place was not reusable within 5 s: {e}")
                time.sleep(0.05)
    finally:
        for c in held:
            c.close()
    assert_alive(srv, "per-client cap")


def test_idle_keep_alive_connection_is_closed_after_the_idle_timeout(cluster):
    srv = cluster.form(1, ["--http-idle-timeout", "1s"])
    c = open_keep_alive(srv, None, "keep-alive connection")
    answered = time.monotonic()
    try:
        try:
            c.wait_end(6)
        except Hang:
            pytest.fail("an idle keep-alive connection was still open 6 s into a 1 s idle timeout")
        took = time.monotonic() - answered
        assert 0.8 <= took <= 4.0, f"closed {took:.2f}s after its last answer (idle timeout 1s)"
    finally:
        c.close()
    # A connection in use is not idle: a request every 0.4 s keeps it for 2.4 s and more.
    c = open_keep_alive(srv, None, "busy keep-alive connection")
    try:
        for n in range(6):
            time.sleep(0.4)  # pacing of the client's requests, not a synchronisation
            c.send(KEEP)
            ans = c.read_answer()
            assert ans is not None and ans.status == 200, f"request {n + 2} on a busy connection: " \
                                                          f"{ans!r} ({c.ended})"
    finally:
        c.close()
    idle = metric(scrape(srv), "sundial_http_timeouts_total", phase="idle")
    assert idle is not None and idle >= 1, f'sundial_http_timeouts_total{{phase="idle"}} is {idle}'
    assert_alive(srv, "idle timeout")


def test_header_and_body_timeouts_answer_408_and_close(cluster):
    srv = cluster.form(1, ["--http-header-timeout", "1s", "--http-body-timeout", "1s"])
    limit = 1.0
    cases = [
        ("partial header line", b"GET /health HTTP/1.1\r\nHost: x\r\nX-Partial: abc"),
        ("partial request line", b"GET /hea"),
        ("head without its blank line", b"GET /health HTTP/1.1\r\nHost: x\r\n"),
        ("body shorter than its length", b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\n"
                                         b"Content-Length: 100\r\n\r\n{\"name\":\"t"),
        ("chunked body without its last chunk", b"PUT /v1/kv/timeout-kv HTTP/1.1\r\nHost: x\r\n"
                                                b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"),
    ]
    conns = []
    try:
        for what, data in cases:  # all at once: they time out together
            c = RawConn(srv.http)
            c.send(data)
            conns.append((what, data, c, time.monotonic()))
        for what, data, c, sent in conns:
            try:
                ans = c.read_answer(timeout=max(0.1, sent + limit + CLOSE_MARGIN - time.monotonic()))
            except Hang as e:
                pytest.fail(f"{what}: no 408 within {limit + CLOSE_MARGIN}s: {e}; sent {show(data)}")
            took = time.monotonic() - sent
            assert ans is not None, f"{what}: closed ({c.ended}) without a 408; sent {show(data)}"
            assert ans.status == 408 and ans.version == "HTTP/1.1", \
                f"{what}: {ans!r}; sent {show(data)}"
            check_error_body(ans, show(data))
            assert took >= limit - 0.2, f"{what}: 408 after only {took:.2f}s"
            try:
                c.wait_end(CLOSE_MARGIN)
            except Hang:
                pytest.fail(f"{what}: not closed after its 408; sent {show(data)}")
    finally:
        for _, _, c, _ in conns:
            c.close()

    # A trickle does not extend the header timeout: it runs from the first byte.
    c = RawConn(srv.http)
    first = time.monotonic()
    stream = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: loris\r\n" * 1000
    sent = 0
    try:
        sel = selectors.DefaultSelector()
        sel.register(c.sock, selectors.EVENT_READ)
        while time.monotonic() - first < limit + CLOSE_MARGIN and sent < len(stream):
            try:
                c.sock.send(stream[sent:sent + 1])
            except OSError:
                break  # closed by the server
            sent += 1
            if sel.select(0.15):
                break
        sel.close()
        try:
            ans = c.read_answer(timeout=1.0)
        except Hang:
            pytest.fail(f"a request trickling one byte per 0.15 s was still open "
                        f"{time.monotonic() - first:.1f}s after its first byte ({sent} bytes)")
        took = time.monotonic() - first
        assert ans is None or ans.status == 408, f"trickled request: {ans!r}"
        assert took <= limit + CLOSE_MARGIN, f"the trickled request lasted {took:.2f}s"
    finally:
        c.close()

    text = scrape(srv)
    header = metric(text, "sundial_http_timeouts_total", phase="header")
    body = metric(text, "sundial_http_timeouts_total", phase="body")
    assert header is not None and header >= 4, f'timeouts{{phase="header"}} is {header}'
    assert body is not None and body >= 2, f'timeouts{{phase="body"}} is {body}'
    assert metric(text, "sundial_http_internal_errors_total") == 0
    assert srv.get("/v1/kv/timeout-kv").status_code == 404
    assert srv.get("/v1/jobs").json() == []
    assert_alive(srv, "timeouts")


class EventStream:
    """Reads server-sent events from a chunked answer on a RawConn."""

    def __init__(self, conn):
        self.conn = conn
        self.text = b""

    def _chunk(self, deadline):
        line = self.conn._until(b"\r\n", deadline, "chunk size", limit=4096)
        if line is None:
            raise AssertionError(f"the event stream ended ({self.conn.ended})")
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            raise AssertionError("the event stream ended with its last chunk")
        self.text += self.conn._exact(size, deadline, "an event chunk")
        assert self.conn._exact(2, deadline, "chunk end") == b"\r\n"

    def next_event(self, timeout):
        """The next event (comments skipped) as {field: value}."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n\n" not in self.text:
                self._chunk(deadline)
            block, self.text = self.text.split(b"\n\n", 1)
            fields = {}
            for line in block.decode().split("\n"):
                if not line or line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                fields[name] = value[1:] if value.startswith(" ") else value
            if fields:
                return fields


def open_leader_stream(srv):
    c = RawConn(srv.http)
    c.send(b"GET /v1/events/leader HTTP/1.1\r\nHost: x\r\n\r\n")
    ans = c.read_answer(head_only=True)
    assert ans is not None and ans.status == 200, f"GET /v1/events/leader: {ans!r}"
    assert (ans.header("content-type") or "").startswith("text/event-stream"), ans
    assert ans.chunked(), f"the event stream is not chunked: {ans!r}"
    return c, EventStream(c)


def test_leader_event_stream_first_event_and_closing_clients(cluster):
    srv = cluster.form(1)
    leader = srv.get("/v1/leader").json()["Name"]
    term = srv.health()["term"]
    c, events = open_leader_stream(srv)
    try:
        start = time.monotonic()
        ev = events.next_event(timeout=2.0)
        took = time.monotonic() - start
        assert ev.get("event") == "leader", ev
        data = json.loads(ev["data"])
        assert data.get("leader") == leader == srv.name, (data, leader)
        assert data.get("node") == srv.name, data
        assert data.get("term") == term, (data, term)
        assert took < 1.0, f"the first event took {took:.2f}s"
    finally:
        c.close(reset=True)

    # Clients that read nothing and go away, politely or not, break nothing.
    streams = [open_leader_stream(srv)[0] for _ in range(10)]
    for n, s in enumerate(streams):
        s.close(reset=(n % 2 == 0))
    assert_alive(srv, "after closing event-stream clients")
    c, events = open_leader_stream(srv)
    try:
        ev = events.next_event(timeout=2.0)
        assert ev.get("event") == "leader" and json.loads(ev["data"])["leader"] == leader, ev
    finally:
        c.close()
    # Their connections are released, at the latest by the 15 s keep-alive comment.
    deadline = time.monotonic() + 20
    while True:
        text = scrape(srv)
        gauge = metric(text, "sundial_http_connections")
        if gauge is not None and gauge <= 3:
            break
        assert time.monotonic() < deadline, \
            f"sundial_http_connections still {gauge} 20 s after the stream clients closed"
        time.sleep(0.2)
    assert metric(text, "sundial_http_internal_errors_total") == 0
