"""The client commands of the `sundial` binary (job ..., members, leader) against real servers:
tables by default, the API's JSON with --json, and exit codes (1: API or connection error,
2: usage error)."""
import json
import re
import subprocess

import pytest
import requests

from conftest import BINARY, wait_for


def cli(*args, stdin=None):
    return subprocess.run([BINARY, *args], input=stdin, capture_output=True, text=True, timeout=60)


def ok(*args, stdin=None):
    out = cli(*args, stdin=stdin)
    assert out.returncode == 0, f"sundial {' '.join(args)}: exit {out.returncode}\n{out.stderr}"
    return out.stdout


def rows(table):
    """A table's lines split on the two-space column gaps (cells never hold two spaces here)."""
    return [re.split(r"\s{2,}", line.strip()) for line in table.strip().splitlines()]


def job(name, **kw):
    j = {"name": name, "schedule": "@every 1h", "executor": "shell",
         "executor_config": {"command": "echo " + name}}
    j.update(kw)
    return j


@pytest.fixture
def one(cluster):
    """A one-server cluster; its HTTP address for --address."""
    cluster.form(1)
    return cluster.servers[0]


def test_apply_an_array_then_list_and_get(one, tmp_path):
    f = tmp_path / "jobs.json"
    f.write_text(json.dumps([job("backup", schedule="0 30 2 * * *", timezone="Europe/Paris",
                                 displayname="Nightly backup"),
                             job("sync", tags={"team": "infra"})]))
    out = ok("job", "apply", "-f", str(f), "--address", one.http)
    assert "applied job backup (next run 2" in out and "applied job sync" in out, out
    stored = one.get("/v1/jobs").json()
    assert [j["name"] for j in stored] == ["backup", "sync"], stored

    table = rows(ok("job", "list", "--address", one.http))
    assert table[0] == ["NAME", "SCHEDULE", "NEXT", "LAST SUCCESS", "LAST ERROR", "DISABLED",
                        "SUCCESS", "ERROR"], table
    by_name = {r[0]: r for r in table[1:]}
    assert set(by_name) == {"backup", "sync"}, table
    assert by_name["backup"][1:] == ["0 30 2 * * *", stored[0]["next"], "-", "-", "no", "0", "0"]

    assert json.loads(ok("job", "list", "--json", "--address", one.http)) == stored

    detail = ok("job", "get", "backup", "--address", one.http)
    assert re.search(r"^displayname:\s+Nightly backup$", detail, re.M), detail
    assert re.search(r"^timezone:\s+Europe/Paris$", detail, re.M), detail
    assert re.search(r"^executor config:\s+command=echo backup$", detail, re.M), detail
    got = json.loads(ok("job", "get", "sync", "--json", "--address", one.http))
    assert got == one.get("/v1/jobs/sync").json() and got["tags"] == {"team": "infra"}


def test_list_filters_sort_order_and_limit(one, tmp_path):
    f = tmp_path / "jobs.json"
    f.write_text(json.dumps([job("alpha", displayname="First"), job("beta"), job("gamma")]))
    ok("job", "apply", "-f", str(f), "--address", one.http)
    names = lambda out: [r[0] for r in rows(out)[1:]]
    assert names(ok("job", "list", "--query", "First", "--address", one.http)) == ["alpha"]
    assert names(ok("job", "list", "--status", "untriggered", "--address", one.http)) == \
        ["alpha", "beta", "gamma"]
    assert names(ok("job", "list", "--status", "failed", "--address", one.http)) == []
    out = ok("job", "list", "--sort", "name", "--order", "desc", "--limit", "2",
             "--address", one.http)
    assert names(out)[:2] == ["gamma", "beta"] and "showing 2 of 3 jobs" in out, out
    limited = json.loads(ok("job", "list", "--limit", "1", "--order", "DESC", "--json",
                            "--address", one.http))
    assert [j["name"] for j in limited] == ["gamma"], limited
    # A value only the server can judge is its 400, exit 1.
    out = cli("job", "list", "--sort", "colour", "--address", one.http)
    assert out.returncode == 1 and "HTTP 400" in out.stderr and "_sort" in out.stderr, out.stderr


def test_toggle_executions_and_delete(one):
    ok("job", "apply", "-f", "-", "--address", one.http, stdin=json.dumps(job("nightly")))
    out = ok("job", "toggle", "nightly", "--address", one.http)
    assert out == "job nightly is now disabled\n", out
    assert one.get("/v1/jobs/nightly").json()["disabled"] is True
    toggled = json.loads(ok("job", "toggle", "nightly", "--json", "--address", one.http))
    assert toggled["disabled"] is False and toggled["name"] == "nightly"

    # The job has not fired yet: the table is only its header.
    assert rows(ok("job", "executions", "nightly", "--address", one.http)) == \
        [["ID", "STATE", "SCHEDULED", "STARTED", "FINISHED", "EXIT", "NODE", "ATTEMPT"]]
    assert json.loads(ok("job", "executions", "nightly", "--json", "--address", one.http)) == []

    assert ok("job", "delete", "nightly", "--address", one.http) == "deleted job nightly\n"
    assert one.get("/v1/jobs/nightly").status_code == 404
    ok("job", "apply", "-f", "-", "--address", one.http, stdin=json.dumps(job("again")))
    deleted = json.loads(ok("job", "delete", "again", "--json", "--address", one.http))
    assert deleted["name"] == "again"
    assert one.get("/v1/jobs/again").status_code == 404


def test_apply_reports_each_job_and_fails_if_any_fails(one, tmp_path):
    f = tmp_path / "mixed.json"
    f.write_text(json.dumps([job("good"), job("bad", schedule="0 0 0 32 * *"), job("later")]))
    out = cli("job", "apply", "-f", str(f), "--address", one.http)
    assert out.returncode == 1, out
    assert "applied job good" in out.stdout and "applied job later" in out.stdout, out.stdout
    assert "job bad: HTTP 400" in out.stderr and "day of month" in out.stderr, out.stderr
    assert one.get("/v1/jobs/good").status_code == 200
    assert one.get("/v1/jobs/bad").status_code == 404
    # --json: one answer per job, in order; an object in gives an object out.
    out = cli("job", "apply", "-f", str(f), "--json", "--address", one.http)
    answers = json.loads(out.stdout)
    assert out.returncode == 1 and [a.get("name") for a in answers] == ["good", None, "later"]
    assert "day of month" in answers[1]["error"], answers
    single = json.loads(ok("job", "apply", "-f", "-", "--json", "--address", one.http,
                           stdin=json.dumps(job("solo"))))
    assert isinstance(single, dict) and single["name"] == "solo", single


def test_a_job_name_in_any_script_round_trips(one):
    ok("job", "apply", "-f", "-", "--address", one.http, stdin=json.dumps(job("été")))
    assert json.loads(ok("job", "get", "été", "--json", "--address", one.http))["name"] == "été"
    assert "été" in ok("job", "list", "--address", one.http)


def test_errors_and_exit_codes(one, tmp_path):
    # Unknown job: the API's message, exit 1.
    for args in (["get", "nope"], ["delete", "nope"], ["toggle", "nope"], ["executions", "nope"]):
        out = cli("job", *args, "--address", one.http)
        assert out.returncode == 1, (args, out)
        assert "error: HTTP 404: job nope does not exist" in out.stderr, (args, out.stderr)
        assert out.stdout == "", (args, out.stdout)
    out = cli("job", "get", "nope", "--json", "--address", one.http)
    assert out.returncode == 1 and "does not exist" in out.stderr

    # Bad files are usage errors (exit 2) and send nothing.
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"name": "x", "schedule": ')
    nameless = tmp_path / "nameless.json"
    nameless.write_text(json.dumps([job("fine"), {"schedule": "@daily"}]))
    scalar = tmp_path / "scalar.json"
    scalar.write_text("42")
    cases = [(str(bad_json), "is not valid JSON"), (str(nameless), "entry 2 has no \"name\""),
             (str(scalar), "a job object or an array"),
             (str(tmp_path / "missing.json"), "cannot read")]
    for path, message in cases:
        out = cli("job", "apply", "-f", path, "--address", one.http)
        assert out.returncode == 2 and message in out.stderr, (path, out.returncode, out.stderr)
    assert one.get("/v1/jobs").json() == [], "a bad file created jobs"

    # Unreachable node: exit 1, naming the address.
    for args in (["job", "list"], ["members"], ["leader"]):
        out = cli(*args, "--address", "127.0.0.1:1")
        assert out.returncode == 1 and "127.0.0.1:1" in out.stderr, (args, out.stderr)

    # Usage errors: exit 2.
    for args in (["job"], ["job", "get"], ["job", "list", "--order", "sideways"],
                 ["job", "list", "--limit", "0"], ["job", "apply"], ["job", "frobnicate"]):
        out = cli(*args, "--address", one.http) if len(args) > 1 else cli(*args)
        assert out.returncode == 2, (args, out.returncode, out.stderr)


def test_members_and_leader(cluster):
    leader = cluster.form(3)
    for s in cluster.servers:
        table = rows(ok("members", "--address", s.http))
        assert table[0] == ["NAME", "ID", "RPC", "HTTP", "STATUS", "LEADER"], table
        assert [r[0] for r in table[1:]] == ["s1", "s2", "s3"], table
        for r in table[1:]:
            server = next(x for x in cluster.servers if x.name == r[0])
            assert r[2:5] == [server.rpc, server.http, "alive"], r
            assert (r[-1] == "yes") == (server is leader), r
        assert json.loads(ok("members", "--json", "--address", s.http)) == s.get("/v1/members").json()

        detail = ok("leader", "--address", s.http)
        assert re.search(rf"^name:\s+{leader.name}$", detail, re.M), detail
        assert re.search(rf"^http:\s+{re.escape(leader.http)}$", detail, re.M), detail
        assert json.loads(ok("leader", "--json", "--address", s.http))["Name"] == leader.name

    # A dead follower shows as failed on the leader.
    victim = next(s for s in cluster.servers if s is not leader)
    victim.kill9()
    wait_for(f"`sundial members` to show {victim.name} failed",
             lambda: [victim.name, "failed"] in [[r[0], r[4]] for r in
                                                  rows(ok("members", "--address", leader.http))[1:]])
