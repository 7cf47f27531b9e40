"""Observability and HTTP hygiene on real servers: GET /metrics (Prometheus text), the OpenAPI
document, X-Whom on every answer, and oversize bodies (413, nothing changed, clean close)."""
import json
import math
import os
import re
import socket

import requests

from conftest import ROOT, wait_for

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)(?: -?\d+)?$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(?:,|$)')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_exposition(text):
    """Parses Prometheus text format 0.0.4 strictly: every line must be HELP, TYPE or a sample
    of a declared family. Returns ({family: type}, [(name, {label: value}, value)])."""
    types, samples = {}, []
    for n, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        if line.startswith("# HELP "):
            assert re.match(rf"^# HELP {NAME} ", line + " "), f"line {n}: {line!r}"
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            assert len(parts) == 4 and parts[3] in TYPES, f"line {n}: {line!r}"
            assert parts[2] not in types, f"line {n}: {parts[2]} declared twice"
            types[parts[2]] = parts[3]
            continue
        assert not line.startswith("#"), f"line {n}: unexpected comment {line!r}"
        m = SAMPLE.match(line)
        assert m, f"line {n} is not a sample: {line!r}"
        name, raw_labels, raw_value = m.groups()
        labels = {}
        if raw_labels:
            pos = 0
            while pos < len(raw_labels):
                lm = LABEL.match(raw_labels, pos)
                assert lm, f"line {n}: bad labels {raw_labels!r}"
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        value = float(raw_value)  # accepts +Inf, -Inf, NaN
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and types.get(name[: -len(suffix)]) == "histogram":
                family = name[: -len(suffix)]
        assert family in types, f"line {n}: sample of undeclared family {family}"
        samples.append((name, labels, value))
    check_histograms(types, samples)
    return types, samples


def check_histograms(types, samples):
    """Buckets are cumulative and the +Inf bucket equals _count, per label set."""
    for family, kind in types.items():
        if kind != "histogram":
            continue
        series = {}
        for name, labels, value in samples:
            if name == family + "_bucket":
                key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
                series.setdefault(key, []).append((float(labels["le"]), value))
        assert series, f"histogram {family} has no buckets"
        for key, buckets in series.items():
            buckets.sort()
            counts = [v for _, v in buckets]
            assert counts == sorted(counts), f"{family}{key}: buckets not cumulative"
            assert math.isinf(buckets[-1][0]), f"{family}{key}: no +Inf bucket"
            total = value_of(samples, family + "_count", **dict(key))
            assert total == counts[-1], f"{family}{key}: +Inf bucket != _count"


def value_of(samples, name, **labels):
    for n, l, v in samples:
        if n == name and l == labels:
            return v
    return None


def scrape(server):
    r = server.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
    return parse_exposition(r.text)


def test_metrics_are_prometheus_text_and_count_requests_by_route_pattern(cluster):
    leader = cluster.form(1)
    types, samples = scrape(leader)
    for name, kind in [("sundial_raft_term", "gauge"), ("sundial_raft_commit_index", "gauge"),
                       ("sundial_raft_applied_index", "gauge"), ("sundial_raft_is_leader", "gauge"),
                       ("sundial_raft_leader_changes_total", "counter"),
                       ("sundial_raft_apply_seconds", "histogram"),
                       ("sundial_api_requests_total", "counter"),
                       ("sundial_api_request_seconds", "histogram")]:
        assert types.get(name) == kind, (name, types.get(name))
    assert value_of(samples, "sundial_raft_is_leader") == 1
    assert value_of(samples, "sundial_raft_term") >= 1
    assert value_of(samples, "sundial_raft_leader_changes_total") >= 1
    assert 0 < value_of(samples, "sundial_raft_applied_index") <= \
        value_of(samples, "sundial_raft_commit_index")

    key = dict(route="/v1/jobs/", method="GET", status="404")
    before = value_of(samples, "sundial_api_requests_total", **key) or 0
    applies = value_of(samples, "sundial_raft_apply_seconds_count")
    commit = value_of(samples, "sundial_raft_commit_index")
    assert leader.get("/v1/jobs/nope-a").status_code == 404
    assert leader.get("/v1/jobs/nope-b").status_code == 404
    assert leader.get("/definitely/not/a/route").status_code == 404
    assert leader.put("/v1/kv/counted", "v").status_code == 200

    _, samples = scrape(leader)
    assert value_of(samples, "sundial_api_requests_total", **key) == before + 2
    assert value_of(samples, "sundial_api_request_seconds_count", route="/v1/jobs/") >= 2
    assert value_of(samples, "sundial_api_requests_total", route="unmatched", method="GET",
                    status="404") >= 1
    assert value_of(samples, "sundial_raft_apply_seconds_count") > applies
    assert value_of(samples, "sundial_raft_commit_index") > commit
    # Labels carry route patterns, never raw paths: the documented exact paths, prefixes
    # (ending in '/') or "unmatched".
    documented = set(leader.get("/v1/openapi.json").json()["paths"])
    routes = {l["route"] for n, l, _ in samples if n == "sundial_api_requests_total"}
    assert "/v1/jobs/nope-a" not in routes and "/definitely/not/a/route" not in routes
    for route in routes:
        assert route == "unmatched" or route.endswith("/") or route in documented, route


def test_leader_changes_are_counted_after_a_leader_kill(cluster):
    leader = cluster.form(3)
    followers = [s for s in cluster.servers if s is not leader]
    before = {}
    for s in cluster.servers:
        # A follower counts the leader when its first heartbeat arrives, which may come a
        # moment after formation returned.
        wait_for(f"{s.name} to have seen a leader",
                 lambda: value_of(scrape(s)[1], "sundial_raft_leader_changes_total") >= 1,
                 timeout=10)
        _, samples = scrape(s)
        assert value_of(samples, "sundial_raft_is_leader") == (1 if s is leader else 0), s.name
        before[s.name] = value_of(samples, "sundial_raft_leader_changes_total")
        assert before[s.name] >= 1, (s.name, before[s.name])
    term = value_of(scrape(followers[0])[1], "sundial_raft_term")

    leader.kill9()
    new_leader = cluster.wait_leader()
    assert new_leader is not leader
    for s in followers:
        wait_for(f"{s.name} to count the new leader",
                 lambda s=s: value_of(scrape(s)[1], "sundial_raft_leader_changes_total")
                 > before[s.name])
    _, samples = scrape(new_leader)
    assert value_of(samples, "sundial_raft_is_leader") == 1
    assert value_of(samples, "sundial_raft_term") > term


def test_every_answer_names_the_node_in_x_whom(cluster):
    cluster.form(3)
    big = b"x" * (2 << 20)
    for s in cluster.servers:
        answers = {
            "GET /health": s.get("/health"),
            "GET /v1/jobs": s.get("/v1/jobs"),
            "GET /v1/jobs/missing (404)": s.get("/v1/jobs/missing"),
            "GET unknown route (404)": s.get("/no/such/route"),
            "DELETE /v1/pause (405)": s.delete("/v1/pause"),
            "POST /v1/jobs bad JSON (400)": requests.post(s.url + "/v1/jobs", data="{nope",
                                                          timeout=10),
            "PUT oversize (413)": s.put("/v1/kv/big", big),
            "GET /metrics": s.get("/metrics"),
            "GET /v1/openapi.json": s.get("/v1/openapi.json"),
            "GET /v1/leader": s.get("/v1/leader"),
        }
        statuses = {what: r.status_code for what, r in answers.items()}
        assert statuses["DELETE /v1/pause (405)"] == 405, statuses
        assert statuses["POST /v1/jobs bad JSON (400)"] == 400, statuses
        assert statuses["PUT oversize (413)"] == 413, statuses
        for what, r in answers.items():
            assert r.headers.get("X-Whom") == s.name, (s.name, what, dict(r.headers))


def test_openapi_document_is_served_as_committed(cluster):
    server = cluster.form(1)
    r = server.get("/v1/openapi.json")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    doc = r.json()
    assert re.fullmatch(r"3\.0\.\d+", doc["openapi"]), doc["openapi"]
    for path in ("/v1/jobs", "/v1/jobs/{job}", "/v1/jobs/{job}/executions/{execution}",
                 "/metrics", "/v1/openapi.json", "/v1/restore", "/v1/members"):
        assert path in doc["paths"], path
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op["responses"], (method, path)
    with open(os.path.join(ROOT, "src", "api", "openapi.json")) as f:
        assert doc == json.load(f)


def test_oversize_body_is_413_changes_nothing_and_closes_cleanly(cluster):
    server = cluster.form(1)
    filler = "x" * (2 << 20)
    body = json.dumps({"name": "big", "schedule": "@every 1h", "executor": "shell",
                       "executor_config": {"command": "echo " + filler}})
    r = requests.post(server.url + "/v1/jobs", data=body, timeout=30)
    assert r.status_code == 413, r.text[:200]
    assert "1048576" in r.json()["error"], r.text
    assert r.headers.get("Connection", "").lower() == "close"
    r = server.get("/v1/jobs")
    assert r.status_code == 200 and r.json() == [] and r.headers["X-Total-Count"] == "0"
    assert server.get("/v1/jobs/big").status_code == 404

    r = server.put("/v1/kv/big", filler.encode(), timeout=30)
    assert r.status_code == 413 and "1048576" in r.json()["error"], r.text[:200]
    assert server.get("/v1/kv/big").status_code == 404

    # On a raw connection: the whole body goes out, the whole answer comes back, then a clean
    # end of stream (a reset here would mean the server closed with the body unread).
    host, port = server.http.split(":")
    raw = (f"POST /v1/jobs HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n\r\n"
           + body).encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw)
        answer = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"1048576" in answer

    # The server is unharmed: a normal job is still created.
    r = requests.post(server.url + "/v1/jobs", timeout=10, data=json.dumps(
        {"name": "small", "schedule": "@every 1h", "executor": "shell",
         "executor_config": {"command": "true"}}))
    assert r.status_code == 201, r.text
    assert [j["name"] for j in server.get("/v1/jobs").json()] == ["small"]
