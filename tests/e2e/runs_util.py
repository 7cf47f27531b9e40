"""Helpers of the job-run e2e tests (test_runs.py, test_runs_cluster.py): jobs whose shell
command appends a line per run to a file (the ground truth of what really ran), execution
polling, /proc scans for leftover processes, Prometheus text parsing."""
import datetime
import json
import os
import re
import signal
import time
import uuid

import pytest
import requests

from conftest import wait_for

# One line per run, written by the job itself: what the agent told the process.
RUN_FIELDS = ("job", "slot", "launch", "attempt", "missed", "exec", "node", "t0", "t1")
RUN_LINE = ('"$SUNDIAL_JOB $SUNDIAL_SCHEDULED_AT $SUNDIAL_LAUNCH_ID $SUNDIAL_ATTEMPT '
            '$SUNDIAL_MISSED $SUNDIAL_EXECUTION_ID $SUNDIAL_NODE')
FINAL = {"succeeded", "failed", "timed_out", "stopped", "lost"}


def post(server, path, body=None, timeout=10):
    data = json.dumps(body) if body is not None else None
    return requests.post(server.url + path, data=data, timeout=timeout)


def shell_job(name, command, schedule="@manually", **kw):
    j = {"name": name, "schedule": schedule, "executor": "shell",
         "executor_config": {"command": command, "shell": "true"}}
    j.update(kw)
    return j


def create(server, body, query=""):
    r = post(server, "/v1/jobs" + query, body)
    assert r.status_code == 201, (body["name"], r.status_code, r.text)
    return r.json()


def logging_command(path, body="", sleep=None):
    """A command that appends one RUN_FIELDS line to `path`: the run's identity, its start
    time and (after `body` and an optional sleep) its end time (epoch seconds)."""
    parts = ["s=$(date +%s.%N)"]
    if body:
        parts.append(body)
    if sleep is not None:
        parts.append(f"sleep {sleep}")
    parts.append(f'echo {RUN_LINE} $s $(date +%s.%N)" >> {path}')
    return "; ".join(parts)


def started_logging_command(path, token, sleep):
    """Appends a start line at once (t1 = "-"), then sleeps `sleep` seconds in a child whose
    command line carries `token`, then appends the end line: a stopped or killed run has only
    its start line."""
    return (f's=$(date +%s.%N); echo {RUN_LINE} $s -" >> {path}; '
            f'sh -c "sleep {sleep}; : {token}"; '
            f'echo {RUN_LINE} $s $(date +%s.%N)" >> {path}')


def read_runs(path):
    """The lines a job wrote, as dicts (missing file: no runs)."""
    if not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != len(RUN_FIELDS):
                raise AssertionError(f"malformed run line in {path}: {line!r}")
            out.append(dict(zip(RUN_FIELDS, parts)))
    return out


def ts(text):
    """RFC 3339 ("...Z", optional microseconds) as epoch seconds (float); None stays None."""
    if text is None:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def rfc3339(epoch_s):
    return datetime.datetime.fromtimestamp(int(epoch_s), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def execs(server, job, query=""):
    r = server.get(f"/v1/jobs/{job}/executions{query}", timeout=10)
    assert r.status_code == 200, (job, r.status_code, r.text)
    return r.json()


def execution(server, job, eid):
    r = server.get(f"/v1/jobs/{job}/executions/{eid}", timeout=10)
    assert r.status_code == 200, (job, eid, r.status_code, r.text)
    return r.json()


def get_job(server, job):
    r = server.get(f"/v1/jobs/{job}", timeout=10)
    assert r.status_code == 200, (job, r.status_code, r.text)
    return r.json()


def run_now(server, job):
    """POST /v1/jobs/{job}/run: the ids of the executions it created."""
    r = post(server, f"/v1/jobs/{job}/run")
    assert r.status_code == 202, (job, r.status_code, r.text)
    body = r.json()
    assert body["job"] == job and body["executions"], body
    return body["executions"]


def wait_state(server, job, eid, states, timeout=20.0, seen=None):
    """Polls one execution until its state is in `states`; `seen` collects the states observed
    in order (without repeats). Returns the record."""
    states = {states} if isinstance(states, str) else set(states)

    def check():
        e = execution(server, job, eid)
        if seen is not None and (not seen or seen[-1] != e["state"]):
            seen.append(e["state"])
        return e if e["state"] in states else None
    try:
        return wait_for(f"execution {eid} of {job} to reach {sorted(states)}", check, timeout)
    except AssertionError as err:
        raise AssertionError(f"{err}; last record: {execution(server, job, eid)}") from None


def wait_all_final(server, job, timeout=20.0, count=None):
    """Waits until `job` has at least `count` executions (if given) and none is active."""
    def check():
        es = execs(server, job)
        if count is not None and len(es) < count:
            return None
        return es if all(e["state"] in FINAL for e in es) else None
    try:
        return wait_for(f"every execution of {job} to end" +
                        (f" (at least {count})" if count else ""), check, timeout)
    except AssertionError as err:
        es = execs(server, job)
        raise AssertionError(f"{err}; records: " + json.dumps(
            [(e["id"], e["state"], e["scheduled_at"], e["trigger"]) for e in es])) from None


def wait_final_upto(server, job, cutoff, timeout=15.0):
    """For a job still being scheduled: waits until every execution of a slot up to `cutoff`
    (epoch s) has ended; returns all of the job's executions."""
    def check():
        es = execs(server, job)
        return es if all(e["state"] in FINAL for e in es
                         if ts(e["scheduled_at"]) <= cutoff) else None
    try:
        return wait_for(f"the executions of {job} up to {rfc3339(cutoff)} to end", check, timeout)
    except AssertionError as err:
        es = execs(server, job)
        raise AssertionError(f"{err}; records: " + json.dumps(
            [(e["id"], e["state"], e["scheduled_at"], e["trigger"]) for e in es
             if ts(e["scheduled_at"]) <= cutoff and e["state"] not in FINAL])) from None


def metrics(server):
    """GET /metrics as {(name, frozenset(labels)): value}."""
    text = server.get("/metrics", timeout=5).text
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)', line)
        if not m:
            continue
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(server, name, **labels):
    return metrics(server).get((name, frozenset(labels.items())), 0.0)


def processes_with(token):
    """PIDs of live processes whose command line contains `token`."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{d}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if token in cmd and state != "Z" and int(d) != os.getpid():
            pids.append(int(d))
    return pids


def processes_in_group(pgid):
    """PIDs of live (non-zombie) processes in process group `pgid`."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(d))
    return pids


def kill_leftovers(token):
    """Kills (by PID) processes a test's jobs started that are still alive: a server killed
    with SIGKILL leaves its runs' process groups behind."""
    for pid in processes_with(token):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def sleep_until(epoch_s):
    """Time itself is what is tested here: waits until wall-clock `epoch_s`."""
    d = epoch_s - time.time()
    if d > 0:
        time.sleep(d)


def form_single(cluster, extra=()):
    """A one-server cluster (its own data dir, so it can be killed and restarted)."""
    return cluster.form(1, list(extra))


def dup_slots(runs, by_attempt=False):
    """Slots (SUNDIAL_SCHEDULED_AT) appearing more than once among `runs` of one job (with
    `by_attempt`, only the same attempt of a slot twice counts)."""
    seen, dups = set(), set()
    for r in runs:
        key = (r["slot"], r["attempt"]) if by_attempt else r["slot"]
        if key in seen:
            dups.add(r["slot"])
        seen.add(key)
    return sorted(dups)


@pytest.fixture
def token():
    """A unique word put into the command lines of a test's runs, to find their processes."""
    t = "sdle2e" + uuid.uuid4().hex[:10]
    yield t
    kill_leftovers(t)


def slot_s(run):
    return ts(run["slot"])
