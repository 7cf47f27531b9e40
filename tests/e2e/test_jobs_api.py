"""Dkron's v1 job API on a 3-server cluster (real processes on 127.0.0.1)."""
import json
import os

import requests

from conftest import wait_for


def post(server, path, body=None, raw=None, headers=None):
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    return requests.post(server.url + path, data=data, headers=headers or {}, timeout=10)


def job(name, **kw):
    j = {"name": name, "schedule": "@every 1h", "executor": "shell",
         "executor_config": {"command": "echo " + name}}
    j.update(kw)
    return j


def test_create_get_overwrite_and_defaults(cluster):
    leader = cluster.form(3)
    follower = next(s for s in cluster.servers if s is not leader)
    # A JSON body is accepted whatever the Content-Type (curl -d sends form-urlencoded).
    r = post(follower, "/v1/jobs", job("backup", displayname="Nightly", tags={"role": "db:1"}),
             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 201, r.text
    j = r.json()
    assert j["id"] == "backup" and j["name"] == "backup" and j["displayname"] == "Nightly"
    assert j["concurrency"] == "allow" and j["disabled"] is False and j["retries"] == 0
    assert j["parent_job"] == "" and j["dependent_jobs"] == [] and j["expires_at"] is None
    assert j["last_success"] is None and j["success_count"] == 0 and j["next"].endswith("Z")
    assert j["history_limit"] == 100 and j["misfire_policy"] == "run_once"
    # Overwrite: fields left out are cleared.
    r = requests.put(leader.url + "/v1/jobs/backup", data=json.dumps(job("backup")), timeout=10)
    assert r.status_code == 201, r.text
    assert r.json()["displayname"] == "" and r.json()["tags"] == {}
    for s in cluster.servers:
        wait_for(f"{s.name} to see the overwrite",
                 lambda s=s: s.get("/v1/jobs/backup?stale").json().get("displayname") == "")
    assert leader.get("/v1/jobs/nope").status_code == 404


def test_validation_errors_create_nothing(cluster):
    leader = cluster.form(3)
    bad = [
        (job("Bad-Name"), 400, "name"),
        (job("a", schedule="0 0 0 32 * *"), 400, "day of month"),
        (job("a", timezone="Mars/Olympus"), 400, "timezone"),
        (job("a", concurrency="sometimes"), 400, "concurrency"),
        (job("a", parent_job="a"), 400, "own parent"),
        (job("a", retries="three"), 400, "retries"),
        (job("a", tags=["x"]), 400, "tags"),
        (job("a", disabled="yes"), 400, "disabled"),
        (job("a", executor_config={"timeout": "soon"}), 400, "timeout"),
        (job("a", parent_job="missing"), 404, "missing"),
    ]
    for body, status, word in bad:
        r = post(leader, "/v1/jobs", body)
        assert r.status_code == status, (body, r.status_code, r.text)
        assert word in r.json()["error"], (body, r.text)
    r = post(leader, "/v1/jobs", raw="{not json")
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    r = post(leader, "/v1/jobs", raw="[1, 2]")
    assert r.status_code == 400
    r = requests.get(leader.url + "/v1/jobs", timeout=5)
    assert r.json() == [] and r.headers["X-Total-Count"] == "0"
    # An invalid update leaves the stored job unchanged.
    assert post(leader, "/v1/jobs", job("keep", displayname="v1")).status_code == 201
    assert post(leader, "/v1/jobs", job("keep", schedule="nonsense")).status_code == 400
    assert leader.get("/v1/jobs/keep").json()["displayname"] == "v1"
    assert requests.delete(leader.url + "/v1/nothing-here", timeout=5).status_code in (404, 405)


def test_parents_dependents_toggle_delete_and_pause(cluster):
    leader = cluster.form(3)
    assert post(leader, "/v1/jobs", job("parent")).status_code == 201
    r = post(leader, "/v1/jobs", {"name": "child", "parent_job": "parent", "executor": "shell"})
    assert r.status_code == 201, r.text
    assert leader.get("/v1/jobs/parent").json()["dependent_jobs"] == ["child"]
    r = post(leader, "/v1/jobs", job("parent", parent_job="child"))
    assert r.status_code == 400 and "cycle" in r.json()["error"]
    r = leader.delete("/v1/jobs/parent")
    assert r.status_code == 409 and "child" in r.json()["error"]
    r = post(leader, "/v1/jobs/child/toggle")
    assert r.status_code == 200 and r.json()["disabled"] is True
    r = leader.delete("/v1/jobs/child")
    assert r.status_code == 200 and r.json()["name"] == "child"
    assert leader.get("/v1/jobs/parent").json()["dependent_jobs"] == []
    assert leader.delete("/v1/jobs/child").status_code == 404
    # Run-now journals a launch (test_runs.py follows runs to their end); runoncreate creates
    # the job and launches it once.
    assert post(leader, "/v1/jobs/parent/run").status_code == 202
    r = post(leader, "/v1/jobs?runoncreate=true", job("later"))
    assert r.status_code == 201, r.text
    assert leader.get("/v1/jobs/later").status_code == 200
    # Pause is replicated: a follower refuses too.
    assert post(leader, "/v1/pause").json() == {"paused": True}
    for s in cluster.servers:
        wait_for(f"{s.name} to see the pause", lambda s=s: s.get("/v1/pause?stale").json()["paused"])
        r = post(s, "/v1/jobs", job("while-paused"))
        assert r.status_code == 503, r.text
    assert post(leader, "/v1/unpause").json() == {"paused": False}
    assert post(leader, "/v1/jobs", job("while-paused")).status_code == 201


def test_listing_filters_sorting_and_pagination(cluster):
    leader = cluster.form(3)
    for i in range(12):
        body = job(f"job-{i:02d}", displayname=f"Job {i}",
                   schedule=f"@at 2030-01-01T00:{59 - i:02d}:00Z",
                   metadata={"team": "odd" if i % 2 else "even"}, disabled=(i % 4 == 0))
        assert post(leader, "/v1/jobs", body).status_code == 201
    def names(query):
        r = leader.get("/v1/jobs" + query)
        assert r.status_code == 200, r.text
        return [j["name"] for j in r.json()], int(r.headers["X-Total-Count"])
    assert names("?_start=2&_end=5") == (["job-02", "job-03", "job-04"], 12)
    assert names("?_sort=next&_end=2") == (["job-11", "job-10"], 12)
    assert names("?_sort=name&_order=DESC&_end=1") == (["job-11"], 12)
    assert names("?disabled=true")[1] == 3
    assert names("?metadata[team]=odd&_end=2") == (["job-01", "job-03"], 6)
    assert names("?q=job-1")[1] == 2
    assert names("?status=untriggered")[1] == 12
    assert names("?_start=50&_end=60") == ([], 12)
    assert names("?_start=-5&_end=1") == (["job-00"], 12)
    assert leader.get("/v1/jobs?_sort=color").status_code == 400
    assert leader.get("/v1/jobs?_start=abc").status_code == 400


def test_no_acknowledged_job_lost_when_the_leader_dies(cluster):
    leader = cluster.form(3)
    acked = []
    for i in range(20):
        r = post(leader, "/v1/jobs", job(f"before-{i}"))
        assert r.status_code == 201
        acked.append(f"before-{i}")
    leader.kill9()
    new = wait_for("a new leader", lambda: cluster.leader(), timeout=20)
    for i in range(10):
        r = post(new, "/v1/jobs", job(f"after-{i}"))
        assert r.status_code == 201, r.text
        acked.append(f"after-{i}")
    leader.start()
    for s in cluster.servers:
        wait_for(f"{s.name} to hold every acknowledged job",
                 lambda s=s: s.alive() and s.get("/v1/jobs?stale").headers.get("X-Total-Count") == str(len(acked)),
                 timeout=30)
    got = sorted(j["name"] for j in new.get("/v1/jobs").json())
    assert got == sorted(acked)
    assert new.get("/v1/jobs/before-0/executions").json() == []


def replayed_at_last_start(server):
    lines = [l for l in server.log_text().splitlines() if "replaying" in l]
    assert lines, "no start line in " + server.log_path
    return int(lines[-1].split("replaying ")[1].split()[0])


def test_restart_replays_only_the_log_after_the_durable_state(cluster):
    leader = cluster.form(3, ["--snapshot-every", "100000"])  # no snapshot: all in the log
    for i in range(60):
        assert post(leader, "/v1/jobs", job(f"r{i:02d}")).status_code == 201
    others = [s for s in cluster.servers if s is not leader]
    for s in others:
        wait_for(f"{s.name} to apply every job",
                 lambda s=s: s.get("/v1/jobs?stale").headers.get("X-Total-Count") == "60")
    crashed, stopped = others
    crashed.kill9()  # a crash: LMDB's committed pages survive in the page cache
    stopped.stop()   # a clean stop: synced, with the clean marker
    crashed.start()
    stopped.start()
    for s in (crashed, stopped):
        wait_for(f"{s.name} to serve again",
                 lambda s=s: s.get("/v1/jobs?stale").headers.get("X-Total-Count") == "60")
        # Without a snapshot, a full replay would be 60+ entries; the durable state leaves only
        # what was committed but not yet applied when it stopped.
        assert replayed_at_last_start(s) < 5, s.log_text()[-2000:]
    assert crashed.get("/v1/jobs/r59?stale").status_code == 200


def test_a_lagging_server_installs_the_job_store_from_a_snapshot_file(cluster):
    leader = cluster.form(3, ["--snapshot-every", "20", "--snapshot-retain", "5"])
    lagging = next(s for s in cluster.servers if s is not leader)
    lagging.kill9()
    for i in range(80):
        assert post(leader, "/v1/jobs", job(f"s{i:02d}")).status_code == 201
    snaps = os.listdir(os.path.join(leader.data_dir, "snap"))
    assert any(n.endswith(".state") for n in snaps), snaps
    lagging.start()
    wait_for(f"{lagging.name} to catch up",
             lambda: lagging.get("/v1/jobs?stale").headers.get("X-Total-Count") == "80")
    page = lagging.get("/v1/jobs?stale&_sort=next&_start=0&_end=5").json()
    assert len(page) == 5
    # The received snapshot is kept as this server's own (a .state beside its .snap).
    wait_for("the received snapshot file to be stored",
             lambda: any(n.endswith(".state")
                         for n in os.listdir(os.path.join(lagging.data_dir, "snap"))))
    assert "recv-" not in " ".join(os.listdir(os.path.join(lagging.data_dir, "snap")))


def restore(server, jobs_or_text, field="file"):
    text = jobs_or_text if isinstance(jobs_or_text, str) else json.dumps(jobs_or_text)
    return requests.post(server.url + "/v1/restore", files={field: ("backup.json", text)},
                         timeout=30)


def test_restore_round_trips_a_backup_all_or_nothing(cluster):
    leader = cluster.form(3)
    follower = next(s for s in cluster.servers if s is not leader)
    for j in (job("base", displayname="Base", metadata={"team": "a"}),
              job("child", parent_job="base", schedule=""), job("other", disabled=True)):
        assert post(leader, "/v1/jobs", j).status_code == 201
    backup = leader.get("/v1/jobs").json()
    assert len(backup) == 3
    # Children first in the file: the restore orders them itself.
    backup.sort(key=lambda j: j["parent_job"] == "")
    for name in ("child", "base", "other"):
        assert requests.delete(leader.url + "/v1/jobs/" + name, timeout=10).status_code == 200
    r = restore(follower, backup)
    assert r.status_code == 200, r.text
    assert r.headers["X-Total-Count"] == "3"
    after = {j["name"]: j for j in leader.get("/v1/jobs").json()}
    assert set(after) == {"base", "child", "other"}
    assert after["base"]["displayname"] == "Base" and after["base"]["metadata"] == {"team": "a"}
    assert after["base"]["dependent_jobs"] == ["child"] and after["other"]["disabled"] is True

    # One bad job rejects the whole file: nothing of it is created.
    bad = [job("new-one"), job("new-two", schedule="not a schedule")]
    r = restore(leader, bad)
    assert r.status_code == 400 and "new-two" in r.json()["error"], r.text
    assert leader.get("/v1/jobs/new-one").status_code == 404
    # A missing parent is refused at apply time, also all or nothing.
    r = restore(leader, [job("orphan-ok"), job("orphan", parent_job="nobody", schedule="")])
    assert r.status_code == 404, r.text
    assert leader.get("/v1/jobs/orphan-ok").status_code == 404
    # Malformed uploads.
    assert restore(leader, "{not json").status_code == 400
    assert restore(leader, {"name": "x"}).status_code == 400  # not an array
    assert restore(leader, [job("z")], field="other").status_code == 400
    assert leader.get("/v1/jobs").headers["X-Total-Count"] == "3"


def test_a_backup_larger_than_one_command_restores_in_batches_parents_first(cluster):
    # ~6 MB of jobs: far past the old 1 MiB body bound and the 512 KiB command size, so the
    # body is streamed to a file and written in many commands; every child comes before its
    # parent in the file, across batches.
    leader = cluster.form(1)
    pad = "p" * 600
    jobs = [job(f"c{i:05d}", parent_job=f"b{i:05d}", schedule="", displayname=pad)
            for i in range(4000)]
    jobs += [job(f"b{i:05d}", parent_job=f"a{i % 50:05d}", schedule="", displayname=pad)
             for i in range(4000)]
    jobs += [job(f"a{i:05d}", displayname=pad) for i in range(50)]
    text = json.dumps(jobs)
    assert len(text) > 5 << 20
    r = restore(leader, text)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["X-Total-Count"] == str(len(jobs))
    assert len(r.json()) == len(jobs)
    listing = leader.get("/v1/jobs?_end=1")
    assert listing.headers["X-Total-Count"] == str(len(jobs))
    b = leader.get("/v1/jobs/b00007").json()
    assert b["parent_job"] == "a00007" and b["dependent_jobs"] == ["c00007"]
    # One bad job at the very end still rejects the whole file: nothing of it is created.
    bad = [job(f"n{i:05d}", displayname=pad) for i in range(3000)] + [job("n-bad", schedule="x")]
    r = restore(leader, bad)
    assert r.status_code == 400 and "n-bad" in r.json()["error"], r.text[:300]
    assert leader.get("/v1/jobs/n00000").status_code == 404
    assert leader.get("/v1/jobs?_end=1").headers["X-Total-Count"] == str(len(jobs))
    # Spooled bodies do not stay behind.
    assert os.listdir(os.path.join(leader.data_dir, "tmp")) == []


def test_concurrent_writes_through_every_server_get_their_own_answers(cluster):
    # Regression: proposal ids were a per-node counter, so a server applying another server's
    # entry with the same id answered its own waiting write with that entry's result.
    import threading
    cluster.form(3)
    wrong = []

    def writer(server):
        s = requests.Session()
        for i in range(60):
            name = f"{server.name}-{i}"
            r = s.post(server.url + "/v1/jobs", data=json.dumps(job(name)), timeout=10)
            if r.status_code != 201 or r.json().get("name") != name:
                wrong.append((name, r.status_code, r.text[:120]))

    threads = [threading.Thread(target=writer, args=(s,)) for s in cluster.servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not wrong, wrong[:5]
    leader = cluster.leader()
    assert leader.get("/v1/jobs").headers["X-Total-Count"] == "180"
