"""Jobs run on a 3-server cluster: failover of the scheduler (no slot twice), targets (all,
tag counts) and runs lost with their node. Ground truth: the lines each run appends to its
job's file (runs_util.RUN_LINE)."""
import math
import time
from collections import defaultdict

import pytest

from conftest import wait_for
from runs_util import token  # noqa: F401  (a fixture)
from runs_util import (FINAL, slot_s, create, dup_slots, execs, get_job,
                       logging_command, metric, post, read_runs, rfc3339, run_now, shell_job,
                       sleep_until, started_logging_command, ts, wait_all_final, wait_final_upto,
                       wait_state)

AGENT_TTL = "3s"


@pytest.fixture
def three(kept_cluster):
    """The leader of a 3-server cluster whose agents are declared lost after 3 s of silence."""
    return kept_cluster.form(3, ["--agent-ttl", AGENT_TTL])




# 13 -----------------------------------------------------------------------------------------

def analyse(names, files, server, cutoff, retried=()):
    """Per job: the slots missing from its file (from its first slot to `cutoff`), the slots
    run twice, and its lost records (and how many of those ran all the same)."""
    report = {}
    for n in names:
        runs = read_runs(files[n])
        es = wait_final_upto(server, n, cutoff, timeout=20)
        slots = {int(slot_s(r)) for r in runs if slot_s(r) <= cutoff}
        missed = [s for s in range(min(slots), cutoff + 1) if s not in slots]
        lost = [e for e in es if e["state"] == "lost" and ts(e["scheduled_at"]) <= cutoff]
        by_exec = {r["exec"]: r for r in runs}
        report[n] = {
            "missed": [rfc3339(s) for s in missed],
            "twice": dup_slots([r for r in runs if slot_s(r) <= cutoff]),
            "same_attempt_twice": dup_slots([r for r in runs if slot_s(r) <= cutoff], True),
            "lost": len(lost),
            "lost_but_ran": [(e["id"], rfc3339(float(by_exec[e["id"]]["t0"])),
                              round(float(by_exec[e["id"]]["t0"]), 3))
                             for e in lost if e["id"] in by_exec],
            "retries": 1 if n in retried else 0,
            # Who ran a slot twice: (attempt, node, execution, start time) of each run.
            "twice_runs": {slot: [(r["attempt"], r["node"], r["exec"], round(float(r["t0"]), 3))
                                  for r in runs if r["slot"] == slot]
                           for slot in dup_slots([r for r in runs if slot_s(r) <= cutoff])},
        }
    return report


def print_report(title, report):
    print(f"\n{title}")
    for n, r in report.items():
        print(f"  {n}: {r}")
    tot = {k: sum(len(r[k]) if isinstance(r[k], list) else r[k] for r in report.values())
           for k in ("missed", "twice", "same_attempt_twice", "lost", "lost_but_ran")}
    print(f"  TOTAL: {tot}")
    return tot


def test_leader_failover_misses_no_slot_and_runs_none_twice(kept_cluster, three, tmp_path):
    leader = three
    names = [f"tick-{i:02d}" for i in range(20)]
    files = {n: tmp_path / f"{n}.log" for n in names}
    for n in names:
        create(leader, shell_job(n, logging_command(files[n]), schedule="* * * * * *"))
    wait_for("every job to have run twice",
             lambda: all(len(read_runs(files[n])) >= 2 for n in names), timeout=15)
    # 20 ms into a slot: the leader's agent has just started that slot's runs and holds the
    # next two armed (the lookahead).
    sleep_until(math.floor(time.time()) + 1.02)
    leader.kill9()
    killed_at = time.time()
    new_leader = kept_cluster.wait_leader()
    elected_at = time.time()
    assert new_leader is not leader
    sleep_until(elected_at + 5)
    cutoff = math.floor(time.time() - 1.5)
    print(f"\nfailover: killed {leader.name} at {killed_at:.3f} ({rfc3339(killed_at)}), new "
          f"leader {new_leader.name} after {elected_at - killed_at:.2f}s")
    report = analyse(names, files, new_leader, cutoff)
    print_report(f"without {leader.name}, slots up to {rfc3339(cutoff)}:", report)
    twice = {n: r["twice_runs"] for n, r in report.items() if r["twice"]}
    assert not twice, f"slots run twice across the failover: {twice}"
    # The leader arms no slot on itself while others can take it: its death costs none.
    missed = {n: r["missed"] for n, r in report.items() if r["missed"]}
    assert not missed, f"slots missed across the failover: {missed}"

    # The old leader returns; the runs its agent had armed may run late, never twice.
    leader.start()
    wait_for(f"{leader.name} to rejoin",
             lambda: leader.get("/v1/leader", timeout=2).status_code == 200, timeout=20)
    time.sleep(3)
    cutoff = math.floor(time.time() - 2.5)
    report = analyse(names, files, new_leader, cutoff)
    print_report(f"after {leader.name} returned, slots up to {rfc3339(cutoff)}:", report)
    twice = {n: r["twice_runs"] for n, r in report.items() if r["twice"]}
    assert not twice, f"slots run twice after the old leader returned: {twice}"


def test_lost_and_retried_run_does_not_run_again_when_its_node_returns(kept_cluster, three,
                                                                      tmp_path):
    """Runs armed on a follower that dies are declared lost after the agent TTL and retried
    elsewhere; when the follower restarts, its agent must not run them as well."""
    leader = three
    names = [f"rt-{i}" for i in range(6)]
    files = {n: tmp_path / f"{n}.log" for n in names}
    for n in names:
        create(leader, shell_job(n, logging_command(files[n]), schedule="* * * * * *",
                                 retries=1, retry_backoff={"initial": "1s", "jitter": 0}))
    wait_for("every job to have run twice",
             lambda: all(len(read_runs(files[n])) >= 2 for n in names), timeout=15)
    victim = next(s for s in kept_cluster.servers if s is not leader)
    victim.kill9()
    killed_at = time.time()
    sleep_until(killed_at + 6)  # past the 3 s TTL and the 1 s retry backoff
    victim.start()
    wait_for(f"{victim.name} to rejoin",
             lambda: victim.get("/v1/leader", timeout=2).status_code == 200, timeout=20)
    time.sleep(3)
    cutoff = math.floor(time.time() - 2.5)
    report = analyse(names, files, leader, cutoff, retried=set(names))
    tot = print_report(f"killed follower {victim.name} at {rfc3339(killed_at)}, restarted at "
                       f"+6s; slots up to {rfc3339(cutoff)}:", report)
    assert tot["lost"] > 0, "the follower's armed runs should have been declared lost"
    assert tot["same_attempt_twice"] == 0, report
    # A run that started on the victim just before the kill, whose report died with it, is
    # declared lost and retried as attempt 2: both ran, by design (the leader cannot know it
    # started; a retry is a new attempt with its own launch id). What must never happen is a
    # run on the victim after the kill.
    def after_kill(runs):
        return [r for r in runs if r[3] >= killed_at]

    twice = {n: {slot: rs for slot, rs in r["twice_runs"].items()
                 if after_kill([x for x in rs if x[1] == victim.name])}
             for n, r in report.items()}
    twice = {n: v for n, v in twice.items() if v}
    lost_ran = {n: [x for x in r["lost_but_ran"] if x[2] >= killed_at]
                for n, r in report.items()}
    lost_ran = {n: v for n, v in lost_ran.items() if v}
    assert not twice and not lost_ran, (
        f"runs declared lost (and retried on another node) ran anyway when {victim.name} came "
        f"back: slots run twice {twice}; lost records that ran {lost_ran}")


def test_no_new_run_is_placed_on_a_dead_node(kept_cluster, three, tmp_path):
    """After a follower dies, slots journaled later must go to live nodes: a dispatch refused
    with "connection refused" and a status poll unanswered show it is gone (only runs armed
    there before the kill are expected to be lost)."""
    leader = three
    names = [f"place-{i}" for i in range(6)]
    files = {n: tmp_path / f"{n}.log" for n in names}
    for n in names:
        create(leader, shell_job(n, logging_command(files[n]), schedule="* * * * * *"))
    wait_for("every job to have run twice",
             lambda: all(len(read_runs(files[n])) >= 2 for n in names), timeout=15)
    victim = next(s for s in kept_cluster.servers if s is not leader)
    victim.kill9()
    killed_at = time.time()
    sleep_until(killed_at + 7)
    late = []
    lost = 0
    for n in names:
        for e in execs(leader, n):
            if e["node_name"] != victim.name:
                continue
            lost += e["state"] == "lost"
            # Journaled 1.5 s after the kill (a status poll is every second): placed on a node
            # the leader should know is gone.
            if ts(e["created_at"]) > killed_at + 1.5:
                late.append((n, e["scheduled_at"], e["created_at"], e["state"]))
    print(f"\n{victim.name} killed at {rfc3339(killed_at)} ({killed_at:.3f}): {lost} runs lost "
          f"with it; {len(late)} placed on it more than 1.5 s after its death")
    assert not late, f"runs placed on dead {victim.name} after its death: {late}"


def test_target_all_and_tag_counts(three, tmp_path):
    leader = three
    out_all, out_two = tmp_path / "all.log", tmp_path / "two.log"
    start = time.time()
    create(leader, shell_job("everywhere", logging_command(out_all), schedule="* * * * * *",
                             target="all"))
    create(leader, shell_job("two", logging_command(out_two), schedule="* * * * * *",
                             tags={"role": "sundial:2"}))
    sleep_until(start + 5)
    cutoff = math.floor(time.time() - 1.5)
    for job, out, want in (("everywhere", out_all, 3), ("two", out_two, 2)):
        es = wait_final_upto(leader, job, cutoff)
        groups = defaultdict(list)
        for e in es:
            if ts(e["scheduled_at"]) <= cutoff:
                groups[e["group"]].append(e)
        assert len(groups) >= 3, (job, groups)
        for g, recs in groups.items():
            nodes = sorted(e["node_name"] for e in recs)
            assert len(recs) == want and len(set(nodes)) == want, (job, g, nodes, recs)
            assert all(e["state"] == "succeeded" for e in recs), (job, recs)
            assert len({e["id"] for e in recs}) == want, recs
        lines = defaultdict(list)
        for r in read_runs(out):
            if slot_s(r) <= cutoff:
                lines[r["slot"]].append(r["node"])
        assert len(lines) == len(groups), (job, lines.keys(), groups.keys())
        for slot, nodes in lines.items():
            assert len(nodes) == want and len(set(nodes)) == want, (job, slot, nodes)
        if job == "everywhere":
            assert set().union(*lines.values()) == {"s1", "s2", "s3"}


def test_run_now_of_a_target_all_job_runs_on_every_node(three, tmp_path):
    """Run-now (through a follower) of a target=all job: one run per alive node, as its
    scheduled slots do."""
    leader = three
    follower = next(s for s in three.cluster.servers if s is not leader)
    out = tmp_path / "all-now.log"
    create(leader, shell_job("all-now", logging_command(out), target="all"))
    ids = run_now(follower, "all-now")
    es = wait_all_final(leader, "all-now", count=len(ids))
    nodes = sorted(e["node_name"] for e in es)
    assert nodes == ["s1", "s2", "s3"], f"run-now of a target=all job ran on {nodes}: {es}"
    assert sorted(r["node"] for r in read_runs(out)) == ["s1", "s2", "s3"]


def test_run_now_of_a_tag_count_job_runs_on_that_many_nodes(three, tmp_path):
    leader = three
    out = tmp_path / "two-now.log"
    create(leader, shell_job("two-now", logging_command(out), tags={"role": "sundial:2"}))
    ids = run_now(leader, "two-now")
    es = wait_all_final(leader, "two-now", count=len(ids))
    nodes = sorted(e["node_name"] for e in es)
    assert len(nodes) == 2 and len(set(nodes)) == 2, \
        f"run-now of a role=sundial:2 job ran on {nodes}: {es}"


def test_dependent_of_a_parent_runs_on_every_node_when_target_all(three, tmp_path):
    leader = three
    out = tmp_path / "child-all.log"
    create(leader, shell_job("p-all", "true"))
    create(leader, shell_job("child-all", logging_command(out), parent_job="p-all",
                             target="all"))
    [pid] = run_now(leader, "p-all")
    assert wait_state(leader, "p-all", pid, FINAL)["state"] == "succeeded"
    es = wait_all_final(leader, "child-all", count=1)
    time.sleep(1)
    es = wait_all_final(leader, "child-all", count=1)
    nodes = sorted(e["node_name"] for e in es)
    assert nodes == ["s1", "s2", "s3"], f"a target=all dependent ran on {nodes}: {es}"


def test_lost_run_no_longer_blocks_forbid(kept_cluster, three, tmp_path, token):
    """SEMANTICS "Overlap": a run whose agent went silent past the TTL becomes lost and no
    longer blocks forbid (Dkron #1939)."""
    leader = three
    out = tmp_path / "hog.log"
    create(leader, shell_job("hog", started_logging_command(out, token, 60),
                             schedule="* * * * * *", concurrency="forbid"))
    first = wait_for("the first run", lambda: next(
        (e for e in execs(leader, "hog") if e["state"] == "running"), None), timeout=10)
    victim = next(s for s in kept_cluster.servers if s.name == first["node_name"])
    victim.kill9()
    killed_at = time.time()
    now_leader = kept_cluster.wait_leader()
    e = wait_state(now_leader, "hog", first["id"], FINAL, timeout=15)
    assert e["state"] == "lost", e
    nxt = wait_for("a run after the lost one", lambda: next(
        (x for x in execs(now_leader, "hog") if x["state"] == "running" and
         x["id"] != first["id"]), None), timeout=6)
    assert nxt["node_name"] != victim.name, nxt
    print(f"lost after {ts(e['finished_at']) - killed_at:.2f}s; next run started "
          f"{ts(nxt['started_at']) - ts(e['finished_at']):.2f}s later on {nxt['node_name']}")
    toggle = post(now_leader, "/v1/jobs/hog/toggle")
    assert toggle.status_code == 200, toggle.text
    r = post(now_leader, f"/v1/jobs/hog/executions/{nxt['id']}/stop")
    assert r.status_code == 202, r.text


# 14 -----------------------------------------------------------------------------------------

def test_run_lost_with_its_node_is_retried_elsewhere(kept_cluster, three, tmp_path, token):
    leader = three
    out = tmp_path / "long.log"
    create(leader, shell_job("long", started_logging_command(out, token, 60), retries=1,
                             retry_backoff={"initial": "1s", "jitter": 0}))
    # Run until it lands on a server that does not lead (the leader's death would end the
    # scheduler too); runs on the leader are stopped.
    victim_run = None
    for _ in range(8):
        [eid] = run_now(leader, "long")
        e = wait_state(leader, "long", eid, "running")
        if e["node_name"] != leader.name:
            victim_run = e
            break
        post(leader, f"/v1/jobs/long/executions/{eid}/stop")
        wait_state(leader, "long", eid, FINAL)
    assert victim_run, "8 run-nows all landed on the leader"
    victim = next(s for s in kept_cluster.servers if s.name == victim_run["node_name"])
    wait_for("the run to write its start line",
             lambda: any(r["exec"] == victim_run["id"] for r in read_runs(out)))
    # /v1/busy answers for the whole cluster, on every server.
    for s in kept_cluster.servers:
        busy = s.get("/v1/busy").json()
        assert [b["id"] for b in busy] == [victim_run["id"]], (s.name, busy)
    lost_before = get_job(leader, "long")["lost_count"]
    victim.kill9()
    killed_at = time.time()
    e = wait_state(leader, "long", victim_run["id"], FINAL, timeout=15)
    declared = time.time() - killed_at
    assert e["state"] == "lost", e
    assert e["error"] and victim.name in e["error"], e
    assert 2.5 <= declared <= 10, f"declared lost {declared:.1f}s after the kill (ttl {AGENT_TTL})"
    j = get_job(leader, "long")
    assert j["lost_count"] == lost_before + 1, j
    assert metric(leader, "sundial_lost_runs_total") >= 1
    # The retry: attempt 2, same group, on a live node.
    retry = wait_for("the lost run's retry", lambda: next(
        (x for x in execs(leader, "long") if x["group"] == victim_run["group"] and
         x["attempt"] == 2), None), timeout=10)
    assert retry["trigger"] == "retry", retry
    retry = wait_state(leader, "long", retry["id"], "running", timeout=15)
    assert retry["node_name"] not in ("", victim.name), retry
    lines = [r for r in read_runs(out) if r["exec"] == retry["id"]]
    assert lines and lines[0]["attempt"] == "2" and lines[0]["node"] == retry["node_name"], lines
    other = next(s for s in kept_cluster.live() if s is not leader)
    r = post(other, f"/v1/jobs/long/executions/{retry['id']}/stop")  # through a follower
    assert r.status_code == 202, r.text
    assert wait_state(leader, "long", retry["id"], FINAL)["state"] == "stopped"
