"""Jobs run (one server): the leader's scheduler, the agent, the shell executor and the execution
lifecycle, seen from outside. Each job appends a line per run to a file in the test's tmp dir
(runs_util.RUN_LINE): that file is the ground truth of what ran; the API's records are checked
against it. Where time itself is tested (slots passing) the test sleeps; every other wait polls
with a deadline."""
import json
import math
import time

import pytest

from conftest import wait_for
from runs_util import token  # noqa: F401  (a fixture)
from runs_util import (FINAL, slot_s, create, dup_slots, execs, execution, form_single, get_job,
                       logging_command, metric, post, processes_in_group,
                       processes_with, read_runs, rfc3339, run_now, shell_job, sleep_until,
                       started_logging_command, ts, wait_all_final, wait_final_upto, wait_state)

LIFECYCLE_ORDER = ["pending", "dispatched", "running", "succeeded"]


@pytest.fixture
def one(kept_cluster):
    """The leader of a one-server cluster."""
    return form_single(kept_cluster)




def wait_lines(path, what, predicate, timeout=15.0):
    return wait_for(f"{what} in {path}", lambda: predicate(read_runs(path)), timeout)


def toggle_off(server, job):
    r = post(server, f"/v1/jobs/{job}/toggle")
    assert r.status_code == 200 and r.json()["disabled"] is True, r.text


# 1 ------------------------------------------------------------------------------------------

def test_every_second_job_runs_each_slot_once(one, tmp_path):
    out = tmp_path / "tick.log"
    before = time.time()
    create(one, shell_job("tick", logging_command(out), schedule="* * * * * *"))
    after = time.time()
    sleep_until(before + 6.5)  # time is what is tested: six slots pass
    cutoff = math.floor(time.time() - 1.5)  # every slot up to here has run and ended
    runs = wait_lines(out, f"every slot up to {rfc3339(cutoff)}",
                      lambda rs: rs if any(slot_s(r) >= cutoff for r in rs) else None)
    assert not dup_slots(runs), f"slots run twice: {dup_slots(runs)}; lines: {runs}"
    slots = sorted(slot_s(r) for r in runs if slot_s(r) <= cutoff)
    first = slots[0]
    # The first slot is the first whole second after the job was saved.
    assert math.floor(before) + 1 <= first <= math.floor(after) + 1, (before, after, slots)
    expected = list(range(int(first), cutoff + 1))
    assert [int(s) for s in slots] == expected, f"missing slots: {set(expected) - set(slots)}"

    records = wait_final_upto(one, "tick", cutoff)
    by_id = {e["id"]: e for e in records}
    for r in runs:
        assert r["job"] == "tick" and r["attempt"] == "1" and r["missed"] == "0", r
        assert r["node"] == "s1", r
        e = by_id.get(r["exec"])
        assert e is not None, f"the run {r} has no execution record"
        assert e["launch_id"] == r["launch"], (e, r)
        assert e["scheduled_at"] == r["slot"], (e, r)
        # Not early: the process starts at or after its slot.
        assert float(r["t0"]) >= slot_s(r), f"started {slot_s(r) - float(r['t0']):.3f}s early: {r}"
    lateness = []
    for e in records:
        if ts(e["scheduled_at"]) > cutoff:
            continue
        assert e["success"] is True and e["exit_code"] == 0 and e["attempt"] == 1, e
        assert e["trigger"] == "schedule" and e["node_name"] == "s1" and e["job_name"] == "tick", e
        assert e["group"] == int(ts(e["scheduled_at"]) * 1_000_000), e
        assert ts(e["started_at"]) >= ts(e["scheduled_at"]), e
        assert ts(e["finished_at"]) >= ts(e["started_at"]), e
        lateness.append(ts(e["started_at"]) - ts(e["scheduled_at"]))
        # Journaled and armed a lookahead (2 s) ahead, except the first slots after the save.
        if ts(e["scheduled_at"]) >= first + 2:
            lead = ts(e["scheduled_at"]) - ts(e["created_at"])
            assert 1.0 <= lead <= 2.5, f"journaled {lead:.3f}s ahead of its slot: {e}"
    assert max(lateness) < 2.0, f"runs started late: {sorted(lateness)}"
    print(f"lateness (s): min {min(lateness):.4f} max {max(lateness):.4f}")

    n_before = sum(e["state"] == "succeeded" for e in execs(one, "tick"))
    j = get_job(one, "tick")
    n_after = sum(e["state"] == "succeeded" for e in execs(one, "tick"))
    assert n_before <= j["success_count"] <= n_after, (j["success_count"], n_before, n_after)
    assert j["error_count"] == 0 and j["status"] == "success", j
    assert first <= ts(j["last_success"]) <= time.time() + 1, j["last_success"]
    assert ts(j["next"]) > time.time(), f"next {j['next']} is not in the future"
    r = one.get("/v1/jobs/tick/executions")
    assert int(r.headers["X-Total-Count"]) == len(r.json()) >= len(expected)
    assert metric(one, "sundial_launches_total", outcome="journaled") >= len(expected)
    assert metric(one, "sundial_fire_lateness_seconds_count") >= len(expected)


# 2 ------------------------------------------------------------------------------------------

def test_run_now_both_routes_and_missing_job(one, tmp_path):
    out = tmp_path / "manual.log"
    j = create(one, shell_job("manual", logging_command(out, sleep=1)))
    assert j["next"] is None, j["next"]

    # Dkron's route: 202 with the job.
    r = post(one, "/v1/jobs/manual")
    assert r.status_code == 202, r.text
    assert r.json()["name"] == "manual" and "executor_config" in r.json()
    assert r.headers.get("Location", "").startswith("/v1/jobs/manual/executions/"), r.headers
    first_id = r.headers["Location"].rsplit("/", 1)[1]

    # Sundial's route: 202 with the executions and a Location.
    r = post(one, "/v1/jobs/manual/run")
    assert r.status_code == 202, r.text
    ids = r.json()["executions"]
    assert r.json()["job"] == "manual" and len(ids) == 1, r.json()
    assert r.headers["Location"] == f"/v1/jobs/manual/executions/{ids[0]}"
    seen = []
    e = wait_state(one, "manual", ids[0], FINAL, seen=seen)
    assert e["state"] == "succeeded", e
    # The states observed follow the lifecycle (polling may miss short ones).
    assert seen == sorted(seen, key=LIFECYCLE_ORDER.index), seen
    assert "running" in seen, f"a 1 s run was never seen running: {seen}"
    e1 = wait_state(one, "manual", first_id, FINAL)
    assert e1["state"] == "succeeded", e1
    for rec in (e, e1):
        assert rec["trigger"] == "run_now" and rec["attempt"] == 1 and rec["node_name"] == "s1", rec
        assert ts(rec["started_at"]) >= ts(rec["created_at"]) - 0.001, rec
        assert ts(rec["finished_at"]) - ts(rec["started_at"]) >= 0.9, rec
    runs = read_runs(out)
    assert sorted(r["exec"] for r in runs) == sorted([first_id, ids[0]]), runs
    assert all(r["attempt"] == "1" and r["missed"] == "0" for r in runs), runs
    assert len(execs(one, "manual")) == 2
    j = get_job(one, "manual")
    assert j["success_count"] == 2 and j["status"] == "success", j

    # A job that does not exist: 404 on both routes, and nothing is created.
    for path in ("/v1/jobs/missing", "/v1/jobs/missing/run"):
        r = post(one, path)
        assert r.status_code == 404, (path, r.status_code, r.text)
        assert "missing" in r.json()["error"]
    assert one.get("/v1/jobs/missing").status_code == 404
    time.sleep(1)  # nothing else may run: the job is @manually
    assert len(execs(one, "manual")) == 2


def test_runoncreate_runs_the_new_job_once(one, tmp_path):
    # ?runoncreate=true: saved, then run once; 201 with the job.
    out2 = tmp_path / "created.log"
    r = post(one, "/v1/jobs?runoncreate=true", shell_job("created", logging_command(out2)))
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "created"
    es = wait_all_final(one, "created", count=1)
    assert len(es) == 1 and es[0]["state"] == "succeeded" and es[0]["trigger"] == "run_now", es
    assert [r["exec"] for r in read_runs(out2)] == [es[0]["id"]]
    time.sleep(1)  # @manually: nothing else runs
    assert len(execs(one, "created")) == 1
    # The server still answers writes afterwards.
    assert post(one, "/v1/jobs", shell_job("after", "true")).status_code == 201


# 3 ------------------------------------------------------------------------------------------

def test_failure_exit_code_output_and_truncation(one):
    create(one, shell_job("fails", "echo out-line; echo err-line >&2; exit 3"))
    noisy_cmd = ("i=0; while [ $i -lt 500 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxx; i=$((i+1)); "
                 "done; echo TAIL-END")
    create(one, shell_job("noisy", noisy_cmd, output_limit=100))
    create(one, {"name": "no-program", "schedule": "@manually", "executor": "shell",
                 "executor_config": {"command": "/nonexistent/sundial-e2e-program"}})
    [fid] = run_now(one, "fails")
    [nid] = run_now(one, "noisy")
    [pid] = run_now(one, "no-program")

    e = wait_state(one, "fails", fid, FINAL)
    assert e["state"] == "failed" and e["exit_code"] == 3 and e["success"] is False, e
    assert "out-line" in e["output"] and "err-line" in e["output"], e["output"]
    j = get_job(one, "fails")
    assert j["error_count"] == 1 and j["success_count"] == 0, j
    assert j["status"] == "failed" and j["last_error"] is not None and j["last_success"] is None, j
    # output_size_limit on the read keeps the last N bytes.
    [short] = execs(one, "fails", "?output_size_limit=9")
    assert short["output"] == "err-line\n" and short["output_truncated"] is True, short

    e = wait_state(one, "noisy", nid, FINAL)
    assert e["state"] == "succeeded", e
    assert e["output_truncated"] is True, {k: e[k] for k in ("output_truncated", "state")}
    assert 0 < len(e["output"]) <= 100, len(e["output"])
    assert e["output"].endswith("TAIL-END\n"), e["output"]

    e = wait_state(one, "no-program", pid, FINAL)
    assert e["state"] == "failed" and e["success"] is False, e
    assert e["error"], f"a run that could not start says why: {e}"


# 4 ------------------------------------------------------------------------------------------

def test_retries_with_backoff_share_the_group(one, tmp_path):
    out, counter = tmp_path / "flaky.log", tmp_path / "flaky.count"
    body = f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}"
    create(one, shell_job("flaky", logging_command(out, body=body) + "; [ $n -ge 3 ]", retries=2,
                          retry_backoff={"initial": "1s", "factor": 2, "max": "5s", "jitter": 0}))
    out2 = tmp_path / "hopeless.log"
    create(one, shell_job("hopeless", logging_command(out2) + "; exit 1", retries=1,
                          retry_backoff="1s"))
    run_now(one, "flaky")
    run_now(one, "hopeless")

    es = sorted(wait_all_final(one, "flaky", count=3, timeout=25), key=lambda e: e["attempt"])
    assert [e["attempt"] for e in es] == [1, 2, 3], es
    assert [e["state"] for e in es] == ["failed", "failed", "succeeded"], es
    assert [e["trigger"] for e in es] == ["run_now", "retry", "retry"], es
    assert len({e["group"] for e in es}) == 1 and len({e["scheduled_at"] for e in es}) == 1, es
    assert len({e["id"] for e in es}) == 3 and len({e["launch_id"] for e in es}) == 3, es
    for prev, nxt, backoff in ((es[0], es[1], 1.0), (es[1], es[2], 2.0)):
        gap = ts(nxt["started_at"]) - ts(prev["finished_at"])
        assert gap >= backoff - 0.05, f"attempt {nxt['attempt']} began {gap:.3f}s after the " \
                                      f"previous ended; backoff is {backoff}s"
        assert gap < backoff + 2.5, f"attempt {nxt['attempt']} waited {gap:.3f}s"
        assert nxt["retry_at"] is not None and ts(nxt["started_at"]) >= ts(nxt["retry_at"]) - 0.01
    runs = read_runs(out)
    assert [r["attempt"] for r in runs] == ["1", "2", "3"], runs
    assert [r["exec"] for r in runs] == [e["id"] for e in es], runs
    assert [r["launch"] for r in runs] == [e["launch_id"] for e in es], runs
    assert len({r["slot"] for r in runs}) == 1, runs
    j = get_job(one, "flaky")
    assert j["success_count"] == 1 and j["error_count"] == 2 and j["status"] == "success", j

    es = sorted(wait_all_final(one, "hopeless", count=2), key=lambda e: e["attempt"])
    assert [(e["attempt"], e["state"]) for e in es] == [(1, "failed"), (2, "failed")], es
    time.sleep(1.5)  # no third attempt: retries 1
    assert len(execs(one, "hopeless")) == 2 and len(read_runs(out2)) == 2
    j = get_job(one, "hopeless")
    assert j["status"] == "failed" and j["error_count"] == 2, j


# 5 ------------------------------------------------------------------------------------------

def test_timeout_kills_the_whole_process_group(one, tmp_path, token):
    def cmd(tag, prefix=""):
        pidfile = tmp_path / f"{tag}.pid"
        return (f'{prefix}echo $$ > {pidfile}; sh -c "sleep 30; : {token}-{tag}-bg" & '
                f'sleep 30; : {token}-{tag}-fg'), pidfile
    c1, p1 = cmd("cfg")
    c2, p2 = cmd("job")
    c3, p3 = cmd("stubborn", prefix="trap '' TERM; ")
    create(one, {"name": "cfg-timeout", "schedule": "@manually", "executor": "shell",
                 "executor_config": {"command": c1, "shell": "true", "timeout": "1s"}})
    create(one, shell_job("job-timeout", c2, timeout="1s"))
    create(one, shell_job("stubborn", c3, timeout="1s"))  # ignores SIGTERM: SIGKILL after grace
    ids = {name: run_now(one, name)[0] for name in ("cfg-timeout", "job-timeout", "stubborn")}
    for name, pidfile in (("cfg-timeout", p1), ("job-timeout", p2), ("stubborn", p3)):
        wait_for(f"{name} to start", lambda: pidfile.exists() and pidfile.read_text().strip())
    assert processes_with(token), "the runs' processes should be alive now"
    for name, pidfile in (("cfg-timeout", p1), ("job-timeout", p2), ("stubborn", p3)):
        e = wait_state(one, name, ids[name], FINAL, timeout=20)
        assert e["state"] == "timed_out" and e["success"] is False, e
        took = ts(e["finished_at"]) - ts(e["started_at"])
        assert 0.9 <= took < (9 if name == "stubborn" else 4), (name, took, e)
        pgid = int(pidfile.read_text())
        tag = name.split("-")[0]
        left = wait_for(f"no process of {name}'s group to remain",
                        lambda: not processes_in_group(pgid) and
                        not processes_with(f"{token}-{tag}"), timeout=3)
        assert left
        j = get_job(one, name)
        assert j["error_count"] == 1 and j["status"] == "failed", j
    assert not processes_with(token)


# 6 ------------------------------------------------------------------------------------------

def test_stop_a_running_execution(one, tmp_path, token):
    out, pidfile = tmp_path / "long.log", tmp_path / "long.pid"
    create(one, shell_job("long", f"echo $$ > {pidfile}; " +
                          started_logging_command(out, token, 30)))
    [eid] = run_now(one, "long")
    wait_state(one, "long", eid, "running")
    wait_for("the run to start its child", lambda: processes_with(token))
    r = post(one, f"/v1/jobs/long/executions/{eid}/stop")
    assert r.status_code == 202, r.text
    assert r.json()["id"] == eid and r.json()["state"] in ("stopping", "stopped"), r.json()
    e = wait_state(one, "long", eid, FINAL, timeout=10)
    assert e["state"] == "stopped" and e["success"] is False, e
    assert e["finished_at"] is not None, e
    pgid = int(pidfile.read_text())
    wait_for("the stopped run's processes to be gone",
             lambda: not processes_in_group(pgid) and not processes_with(token), timeout=3)
    runs = read_runs(out)
    assert [r["t1"] for r in runs] == ["-"], f"the run went on after the stop: {runs}"
    # Stopped is the user's decision: neither a success nor an error.
    j = get_job(one, "long")
    assert j["success_count"] == 0 and j["error_count"] == 0, j
    # Already ended: 409; unknown: 404.
    r = post(one, f"/v1/jobs/long/executions/{eid}/stop")
    assert r.status_code == 409, r.text
    assert "ended" in r.json()["error"], r.text
    assert post(one, "/v1/jobs/long/executions/nope/stop").status_code == 404
    assert post(one, f"/v1/jobs/missing/executions/{eid}/stop").status_code == 404


def test_stop_an_armed_run_before_its_instant(one, tmp_path):
    out = tmp_path / "later.log"
    at = math.floor(time.time()) + 5
    create(one, shell_job("later", logging_command(out), schedule="@at " + rfc3339(at)))
    # The slot is journaled and armed on the agent a lookahead (2 s) before its instant.
    es = wait_for("the slot to be journaled", lambda: execs(one, "later"), timeout=8)
    e = es[0]
    assert e["state"] in ("pending", "dispatched"), e
    assert time.time() < at, "too slow: the instant passed before the stop could be sent"
    r = post(one, f"/v1/jobs/later/executions/{e['id']}/stop")
    assert r.status_code == 202, r.text
    e = wait_state(one, "later", e["id"], FINAL, timeout=10)
    assert e["state"] == "stopped", e
    sleep_until(at + 2)  # the instant passes: the stopped run must not start
    assert read_runs(out) == [], f"a stopped armed run ran anyway: {read_runs(out)}"
    assert execution(one, "later", e["id"])["state"] == "stopped"


# 7 ------------------------------------------------------------------------------------------

def intervals(runs):
    return sorted((float(r["t0"]), float(r["t1"]), r["slot"]) for r in runs)


def test_concurrency_forbid_never_overlaps_and_counts_skips(one, tmp_path):
    out = tmp_path / "forbid.log"
    start = time.time()
    create(one, shell_job("forbid", logging_command(out, sleep=2.5), schedule="* * * * * *",
                          concurrency="forbid"))
    sleep_until(start + 7.5)
    toggle_off(one, "forbid")
    wait_all_final(one, "forbid", timeout=10)
    runs = read_runs(out)
    assert len(runs) >= 2, runs
    assert not dup_slots(runs), runs
    iv = intervals(runs)
    for a, b in zip(iv, iv[1:]):
        assert b[0] >= a[1], f"runs of slots {a[2]} and {b[2]} overlap: {iv}"
    es = execs(one, "forbid")
    ranges = sorted((ts(e["started_at"]), ts(e["finished_at"])) for e in es if e["started_at"])
    for a, b in zip(ranges, ranges[1:]):
        assert b[0] >= a[1], f"records overlap: {ranges}"
    j = get_job(one, "forbid")
    skipped_metric = metric(one, "sundial_launches_total", outcome="skipped")
    assert j["skipped_count"] > 0 and skipped_metric > 0, (j["skipped_count"], skipped_metric)
    # About 7 slots, each run holds ~3 of them: the skips are the slots that did not run.
    print(f"forbid: {len(runs)} runs, skipped_count {j['skipped_count']}, metric {skipped_metric}")
    assert j["skipped_count"] >= len(runs), (j["skipped_count"], runs)


def test_concurrency_allow_overlaps(one, tmp_path):
    out = tmp_path / "allow.log"
    start = time.time()
    create(one, shell_job("allow", logging_command(out, sleep=2.5), schedule="* * * * * *"))
    sleep_until(start + 5)
    toggle_off(one, "allow")
    wait_all_final(one, "allow", timeout=10)
    runs = read_runs(out)
    assert len(runs) >= 3 and not dup_slots(runs), runs
    iv = intervals(runs)
    overlapping = sum(1 for a, b in zip(iv, iv[1:]) if b[0] < a[1])
    assert overlapping >= 2, f"allow should let runs overlap: {iv}"
    slots = sorted(int(slot_s(r)) for r in runs)
    assert slots == list(range(slots[0], slots[-1] + 1)), f"allow skipped slots: {slots}"
    assert get_job(one, "allow")["skipped_count"] == 0


def test_concurrency_replace_stops_the_older_run(one, tmp_path, token):
    out = tmp_path / "replace.log"
    start = time.time()
    create(one, shell_job("replace", started_logging_command(out, token, 2.5),
                          schedule="* * * * * *", concurrency="replace"))
    sleep_until(start + 5.5)
    toggle_off(one, "replace")
    es = sorted(wait_all_final(one, "replace", timeout=10), key=lambda e: e["scheduled_at"])
    ran = [e for e in es if e["started_at"]]
    assert len(ran) >= 3, es
    # Every run but the last was replaced by the next one; the last finished on its own.
    for e in ran[:-1]:
        assert e["state"] == "stopped", e
    assert ran[-1]["state"] == "succeeded", ran[-1]
    overlap = []
    for older, newer in zip(ran, ran[1:]):
        overlap.append(ts(older["finished_at"]) - ts(newer["started_at"]))
        assert overlap[-1] < 1.0, f"{older['id']} ran {overlap[-1]:.3f}s beside its replacement"
    print(f"replace: overlaps of old and new run (s): {[round(o, 3) for o in overlap]}")
    runs = read_runs(out)
    ended = [r for r in runs if r["t1"] != "-"]
    assert len(ended) == 1 and ended[0]["exec"] == ran[-1]["id"], runs
    wait_for("no replaced run's process to remain", lambda: not processes_with(token), timeout=5)


# 8 ------------------------------------------------------------------------------------------

def test_dependents_follow_the_parents_outcome(one, tmp_path):
    rc = tmp_path / "rc"
    rc.write_text("0")
    create(one, shell_job("parent", f"exit $(cat {rc})"))
    logs = {}
    for name, on in (("on-success", "success"), ("on-failure", "failure"),
                     ("on-always", "always")):
        logs[name] = tmp_path / f"{name}.log"
        create(one, shell_job(name, logging_command(logs[name]), parent_job="parent",
                              on_parent=on))
    assert sorted(get_job(one, "parent")["dependent_jobs"]) == ["on-always", "on-failure",
                                                                 "on-success"]

    def run_parent():
        [pid] = run_now(one, "parent")
        return wait_state(one, "parent", pid, FINAL)

    p1 = run_parent()
    assert p1["state"] == "succeeded", p1
    for name in ("on-success", "on-always"):
        [c] = wait_all_final(one, name, count=1)
        assert c["state"] == "succeeded" and c["trigger"] == "dependent", c
        assert c["parent_execution"] == p1["id"], (c, p1)
        assert ts(c["started_at"]) >= ts(p1["finished_at"]), (c, p1)
        assert [r["exec"] for r in read_runs(logs[name])] == [c["id"]]
    rc.write_text("3")
    p2 = run_parent()
    assert p2["state"] == "failed", p2
    [c] = wait_all_final(one, "on-failure", count=1)
    assert c["trigger"] == "dependent" and c["parent_execution"] == p2["id"], c
    es = wait_all_final(one, "on-always", count=2)
    assert sorted(e["parent_execution"] for e in es) == sorted([p1["id"], p2["id"]]), es
    time.sleep(1)  # nothing else follows
    assert len(execs(one, "on-success")) == 1 and len(read_runs(logs["on-success"])) == 1
    assert len(execs(one, "on-failure")) == 1 and len(read_runs(logs["on-failure"])) == 1
    assert len(read_runs(logs["on-always"])) == 2
    r = one.delete("/v1/jobs/parent")
    assert r.status_code == 409 and "on-success" in r.json()["error"], r.text
    assert get_job(one, "parent")["name"] == "parent"


# 9 ------------------------------------------------------------------------------------------

def test_ephemeral_job_is_deleted_after_its_first_success(one, tmp_path):
    out = tmp_path / "eph.log"
    create(one, shell_job("eph", logging_command(out), ephemeral=True))
    create(one, shell_job("eph-fails", "exit 1", ephemeral=True))
    run_now(one, "eph")
    [fid] = run_now(one, "eph-fails")
    wait_for("the ephemeral job to be deleted after its success",
             lambda: one.get("/v1/jobs/eph").status_code == 404)
    assert len(read_runs(out)) == 1
    assert wait_state(one, "eph-fails", fid, FINAL)["state"] == "failed"
    time.sleep(0.5)
    j = get_job(one, "eph-fails")  # a failure does not delete it
    assert j["error_count"] == 1, j


def test_ephemeral_scheduled_job_runs_once(one, tmp_path):
    out = tmp_path / "eph-tick.log"
    create(one, shell_job("eph-tick", logging_command(out), schedule="* * * * * *",
                          ephemeral=True))
    wait_for("the ephemeral job to be deleted", lambda: one.get("/v1/jobs/eph-tick").status_code
             == 404, timeout=10)
    time.sleep(3)  # slots that were armed ahead pass
    runs = read_runs(out)
    assert len(runs) == 1, f"an ephemeral job ran after its first success deleted it: {runs}"


def test_deleted_job_runs_no_more(one, tmp_path):
    out = tmp_path / "gone.log"
    create(one, shell_job("gone", logging_command(out), schedule="* * * * * *"))
    wait_lines(out, "two runs", lambda rs: len(rs) >= 2)
    r = one.delete("/v1/jobs/gone")
    assert r.status_code == 200, r.text
    deleted_at = time.time()
    time.sleep(3)  # longer than the lookahead: whatever was armed has had its instant
    late = [r for r in read_runs(out) if float(r["t0"]) > deleted_at]
    assert not late, f"{len(late)} runs started after DELETE answered 200: {late}"


def test_disabled_job_runs_no_more(one, tmp_path):
    out = tmp_path / "off.log"
    create(one, shell_job("off", logging_command(out), schedule="* * * * * *"))
    wait_lines(out, "two runs", lambda rs: len(rs) >= 2)
    toggle_off(one, "off")
    disabled_at = time.time()
    time.sleep(3)
    late = [r for r in read_runs(out) if float(r["t0"]) > disabled_at]
    assert not late, f"{len(late)} runs started after the job was disabled: {late}"


# 10 -----------------------------------------------------------------------------------------

def test_starts_at_and_expires_at_bound_the_launches(one, tmp_path):
    now = time.time()
    edge = math.floor(now) + 4
    out_e, out_s = tmp_path / "expiring.log", tmp_path / "starting.log"
    create(one, shell_job("expiring", logging_command(out_e), schedule="* * * * * *",
                          expires_at=rfc3339(edge)))
    create(one, shell_job("starting", logging_command(out_s), schedule="* * * * * *",
                          starts_at=rfc3339(edge)))
    sleep_until(edge + 3.5)
    exp = sorted(slot_s(r) for r in read_runs(out_e))
    sta = sorted(slot_s(r) for r in read_runs(out_s))
    assert exp and max(exp) <= edge, f"slots after expires_at {rfc3339(edge)} ran: {exp}"
    assert max(exp) == edge, f"the slot at expires_at itself may launch: {exp}"
    assert sta and min(sta) >= edge, f"slots before starts_at {rfc3339(edge)} ran: {sta}"
    assert min(sta) == edge, f"the slot at starts_at itself may launch: {sta}"
    for e in execs(one, "expiring"):
        assert ts(e["scheduled_at"]) <= edge, e
    for e in execs(one, "starting"):
        assert ts(e["scheduled_at"]) >= edge, e


# 11 -----------------------------------------------------------------------------------------

def test_busy_lists_running_executions_only(one):
    create(one, shell_job("busy", "sleep 2"))
    [eid] = run_now(one, "busy")

    def listed():
        r = one.get("/v1/busy")
        assert r.status_code == 200 and int(r.headers["X-Total-Count"]) == len(r.json()), r.text
        return [e for e in r.json() if e["id"] == eid]
    [e] = wait_for("the run to be listed in /v1/busy", listed, timeout=10)
    assert e["state"] == "running" and e["job_name"] == "busy", e
    assert metric(one, "sundial_running_executions") >= 1
    wait_state(one, "busy", eid, FINAL)
    assert listed() == [], "an ended run is still listed as busy"


# 12 -----------------------------------------------------------------------------------------

def test_misfire_policies_after_a_full_outage(kept_cluster, tmp_path):
    server = form_single(kept_cluster)
    files = {}
    policies = {"mf-once": {"misfire_policy": "run_once"},
                "mf-all": {"misfire_policy": "run_all", "max_catchup": 5},
                "mf-skip": {"misfire_policy": "skip"}}
    for name, extra in policies.items():
        files[name] = tmp_path / f"{name}.log"
        create(server, shell_job(name, logging_command(files[name]), schedule="* * * * * *",
                                 **extra))
    for name in policies:
        wait_lines(files[name], f"{name}'s first runs", lambda rs: len(rs) >= 2)
    # Half a second into a slot: that slot's runs are over (a kill right as runs start is
    # another test: test_crash_right_after_runs_start_does_not_run_them_again).
    sleep_until(math.floor(time.time()) + 1.5)
    before = {name: {e["id"]: e for e in execs(server, name)} for name in policies}
    server.kill9()
    killed_at = time.time()
    # Armed before the kill: journaled slots whose instant had not come yet.
    armed = {name: [e for e in es.values() if e["state"] in ("pending", "dispatched") and
                    ts(e["scheduled_at"]) > killed_at] for name, es in before.items()}
    time.sleep(10)  # the outage: about 10 slots pass without a leader (2 of them armed)
    server.start()
    kept_cluster.wait_leader()
    restarted_at = time.time()
    sleep_until(restarted_at + 4)
    cutoff = time.time() - 1.5
    report = {}
    for name in policies:
        es = wait_final_upto(server, name, cutoff)
        runs = read_runs(files[name])
        assert not dup_slots(runs), f"{name}: slots run twice: {dup_slots(runs)}"
        catchup = [e for e in es if e["trigger"] == "catchup"]
        report[name] = (len(catchup), [e["missed"] for e in catchup], len(armed[name]))
        # Slots armed before the kill whose instant passed while the server was down: the
        # restarted agent cannot know whether they started, so they end failed and are not
        # started again (at most once per attempt; retries would make a new attempt).
        for a in armed[name]:
            e = next((x for x in es if x["id"] == a["id"]), None)
            assert e is not None and e["state"] == "failed", (name, a, e)
            assert "not started again" in e["error"], e
            assert sum(r["exec"] == a["id"] for r in runs) == 0, (name, a, runs)
    print(f"misfire (catch-up runs, their missed, armed-before-kill): {report}")
    once = [e for e in execs(server, "mf-once") if e["trigger"] == "catchup"]
    assert len(once) == 1, f"run_once: {once}"
    assert once[0]["missed"] > 1 and once[0]["state"] == "succeeded", once[0]
    [line] = [r for r in read_runs(files["mf-once"]) if r["exec"] == once[0]["id"]]
    assert int(line["missed"]) == once[0]["missed"] > 1, line
    assert killed_at < ts(once[0]["scheduled_at"]) <= restarted_at + 1, once[0]
    allr = [e for e in execs(server, "mf-all") if e["trigger"] == "catchup"]
    assert 1 <= len(allr) <= 5, f"run_all with max_catchup 5: {len(allr)} catch-up runs"
    assert len(allr) == 5, f"about 7 slots were missed, so 5 catch-up runs: {allr}"
    assert all(e["missed"] == 1 and e["state"] == "succeeded" for e in allr), allr
    assert len({e["scheduled_at"] for e in allr}) == 5
    skip = [e for e in execs(server, "mf-skip") if e["trigger"] == "catchup"]
    assert skip == [], skip
    j = get_job(server, "mf-skip")
    assert j["skipped_count"] >= 4, j["skipped_count"]
    assert metric(server, "sundial_missed_slots_total") >= j["skipped_count"]
    assert metric(server, "sundial_caught_up_slots_total") >= once[0]["missed"] + 5
    # The on-time runs go on after the restart.
    for name in policies:
        after = [e for e in execs(server, name) if e["trigger"] == "schedule" and
                 ts(e["scheduled_at"]) > restarted_at]
        assert after, f"{name} has no on-time run after the restart"


# Beyond the list: edges of the same features -------------------------------------------------

def test_dependents_wait_for_the_parents_retries(one, tmp_path):
    """A parent that fails once and succeeds on its retry ends its group in success: the
    success child runs once, after the retry; the failure child does not run."""
    counter = tmp_path / "count"
    create(one, shell_job("wobbly", f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); "
                                    f"echo $n > {counter}; [ $n -ge 2 ]",
                          retries=1, retry_backoff={"initial": "1s", "jitter": 0}))
    ok_log, ko_log = tmp_path / "ok.log", tmp_path / "ko.log"
    create(one, shell_job("after-ok", logging_command(ok_log), parent_job="wobbly"))
    create(one, shell_job("after-ko", logging_command(ko_log), parent_job="wobbly",
                          on_parent="failure"))
    run_now(one, "wobbly")
    es = sorted(wait_all_final(one, "wobbly", count=2), key=lambda e: e["attempt"])
    assert [e["state"] for e in es] == ["failed", "succeeded"], es
    [c] = wait_all_final(one, "after-ok", count=1)
    assert c["parent_execution"] == es[1]["id"], (c, es)
    assert ts(c["started_at"]) >= ts(es[1]["finished_at"]), (c, es)
    time.sleep(1)
    assert execs(one, "after-ko") == [] and read_runs(ko_log) == [], \
        "the failure child ran although the parent's group ended in success"
    assert len(read_runs(ok_log)) == 1


def test_stop_a_run_waiting_for_its_retry(one, tmp_path):
    out = tmp_path / "doomed.log"
    create(one, shell_job("doomed", logging_command(out) + "; exit 1", retries=3,
                          retry_backoff={"initial": "4s", "jitter": 0}))
    [first] = run_now(one, "doomed")
    assert wait_state(one, "doomed", first, FINAL)["state"] == "failed"
    retry = wait_for("the retry record", lambda: next(
        (e for e in execs(one, "doomed") if e["attempt"] == 2), None))
    assert retry["state"] == "retrying" and retry["retry_at"] is not None, retry
    r = post(one, f"/v1/jobs/doomed/executions/{retry['id']}/stop")
    assert r.status_code == 202, r.text
    assert wait_state(one, "doomed", retry["id"], FINAL)["state"] == "stopped"
    sleep_until(ts(retry["retry_at"]) + 1.5)  # its backoff passes: nothing may run
    assert len(read_runs(out)) == 1, read_runs(out)
    assert [e["attempt"] for e in execs(one, "doomed")] == [2, 1], "no attempt after the stop"


def test_history_limit_prunes_old_records_without_disturbing_runs(one, tmp_path):
    out = tmp_path / "short.log"
    start = time.time()
    create(one, shell_job("short-memory", logging_command(out), schedule="* * * * * *",
                          history_limit=3))
    sleep_until(start + 6)
    r = one.get("/v1/jobs/short-memory/executions")
    assert len(r.json()) <= 3 and int(r.headers["X-Total-Count"]) <= 3, r.json()
    runs = read_runs(out)
    slots = sorted(int(slot_s(x)) for x in runs)
    assert len(runs) >= 4 and slots == list(range(slots[0], slots[-1] + 1)), slots
    assert not dup_slots(runs)
    j = get_job(one, "short-memory")
    assert j["success_count"] >= len(runs) - 1 and j["error_count"] == 0, (j, len(runs))


def test_job_status_is_running_while_a_run_is_active(one):
    create(one, shell_job("status", "sleep 1.5"))
    [eid] = run_now(one, "status")
    wait_state(one, "status", eid, "running")
    assert get_job(one, "status")["status"] == "running"
    wait_state(one, "status", eid, FINAL)
    assert get_job(one, "status")["status"] == "success"


def test_run_active_during_a_crash_ends_and_its_processes_are_killed(kept_cluster, tmp_path,
                                                                     token):
    server = form_single(kept_cluster)
    out = tmp_path / "crash.log"
    create(server, shell_job("crash", started_logging_command(out, token, 60)))
    [eid] = run_now(server, "crash")
    wait_state(server, "crash", eid, "running")
    wait_for("the run's child", lambda: processes_with(token))
    server.kill9()
    assert processes_with(token), "the run's processes outlive the server's SIGKILL"
    server.start()
    kept_cluster.wait_leader()
    e = wait_state(server, "crash", eid, FINAL, timeout=20)
    assert e["state"] in ("failed", "lost"), e
    assert e["error"], e
    wait_for("the orphaned run's processes to be killed by the restarted agent",
             lambda: not processes_with(token), timeout=5)
    assert [r["t1"] for r in read_runs(out)] == ["-"]


def test_crash_right_after_runs_start_does_not_run_them_again(kept_cluster, tmp_path):
    """kill -9 a few milliseconds after a slot's runs started, restart: the agent must not run
    a launch it had already started (SEMANTICS "Launches": a repeated launch id runs once)."""
    server = form_single(kept_cluster)
    names = [f"quick-{i}" for i in range(10)]
    files = {n: tmp_path / f"{n}.log" for n in names}
    for n in names:
        create(server, shell_job(n, logging_command(files[n]), schedule="* * * * * *"))
    wait_for("every job to have run twice",
             lambda: all(len(read_runs(files[n])) >= 2 for n in names), timeout=15)
    # Two crashes, 20 and 10 ms into a slot: that slot's runs have just started (the window is
    # a few ms wide, so one crash alone misses it now and then).
    kills = []
    for offset in (0.02, 0.01):
        kills.append(math.floor(time.time()) + 1 + offset)
        sleep_until(kills[-1])
        server.kill9()
        server.start()
        kept_cluster.wait_leader()
        time.sleep(2.5)
    kill_at = kills[0]
    twice = {}
    for n in names:
        runs = read_runs(files[n])
        seen = {}
        for r in runs:
            seen.setdefault(r["exec"], []).append(round(float(r["t0"]) - kill_at, 3))
        again = {eid: t for eid, t in seen.items() if len(t) > 1}
        if again:
            twice[n] = again
    assert not twice, ("executions run twice across the crash (start times relative to the "
                       f"kill, s): {twice}")


def test_updating_a_job_keeps_one_run_per_slot(one, tmp_path):
    """Saving a job again (PUT, same schedule) while its slots are armed ahead neither runs a
    slot twice nor loses one."""
    out = tmp_path / "edited.log"
    body = shell_job("edited", logging_command(out), schedule="* * * * * *")
    create(one, body)
    wait_lines(out, "a first run", lambda rs: rs)
    until = time.time() + 4
    while time.time() < until:
        r = one.put("/v1/jobs/edited", json.dumps(body))
        assert r.status_code == 201, r.text
        time.sleep(0.4)
    time.sleep(1.5)
    runs = read_runs(out)
    assert not dup_slots(runs), f"slots run twice: {dup_slots(runs)}"
    slots = sorted(int(slot_s(r)) for r in runs)
    assert slots == list(range(slots[0], slots[-1] + 1)), f"slots lost: {slots}"
