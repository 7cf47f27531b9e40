#!/usr/bin/env python3
"""Every-second jobs on 1 server and on 3 servers, and a leader kill, in one run.

For each N in --jobs (default 100,1000,3000) and each cluster size (1 and 3 servers), N jobs
with schedule `* * * * * *` and command `true` (shell executor, no shell) are created on a
fresh cluster; after --warmup seconds the window of --seconds seconds is measured:

  expected    N * seconds slots (whole seconds strictly inside the window);
  executed    distinct (job, slot) pairs with a succeeded record;
  missed      expected - executed;
  duplicated  (job, slot) pairs with more than one record that ran (started_at set);
  lateness    started_at - scheduled_at of every executed slot in the window (the agent's
              clock reading right after posix_spawn returned): p50, p99, max;
  cpu/run     the servers' own CPU time (utime + stime of the sundial processes, children
              excluded) during the window / executed runs;
  rss         the leader's VmRSS at the end of the window.

Then the failover case: N = --kill-jobs (100) on 3 servers; after the warmup the leader is
killed with SIGKILL; the same counts over the window, plus lateness of the slots in the 5 s
after the kill and the time until the new leader schedules (first run journaled by the new
leader's term: first execution with epoch > old term).

Anchors from the same run: bench/exec_anchors (the machine's posix_spawn rate of /bin/true and
timerfd wake-up lateness) run just before, printed in the header.

Records are read back through the API (history_limit is raised to hold the window).
Writes bench/results/scheduler.txt.

Usage: bench/sched_bench.py [--binary build/bin/sundial] [--anchors build/bin/exec_anchors]
         [--jobs 100,1000,3000] [--sizes 1,3] [--seconds 20] [--warmup 6] [--kill-jobs 100]
         [--out bench/results/scheduler.txt]
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import kv_vs_etcd as kv  # noqa: E402  (free_port, http, wait)


def parse_instant(text):
    if text is None:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Cluster(kv.Cluster):
    """N fresh servers; kill9/stop come from kv_vs_etcd's Cluster."""

    def __init__(self, binary, size, root):
        self.binary, self.size, self.root = binary, size, root
        self.nodes = [{"name": f"s{i}", "rpc": f"127.0.0.1:{kv.free_port()}",
                       "http": f"127.0.0.1:{kv.free_port()}", "dir": os.path.join(root, f"s{i}")}
                      for i in range(size)]
        self.procs = {}

    def start(self):
        # A port picked free can be taken by the time the server binds it (the previous case's
        # connections): pick new ports and start again, a few times.
        for attempt in range(4):
            try:
                return self.start_once()
            except RuntimeError:
                self.stop()
                if attempt == 3:
                    raise
                for n in self.nodes:
                    n["rpc"] = f"127.0.0.1:{kv.free_port()}"
                    n["http"] = f"127.0.0.1:{kv.free_port()}"
                    shutil.rmtree(n["dir"], ignore_errors=True)

    def start_once(self):
        for n in self.nodes:
            args = [self.binary, "agent", "--server", "--node-name", n["name"], "--data-dir", n["dir"],
                    "--rpc-addr", n["rpc"], "--http-addr", n["http"], "--log-level", "warn",
                    "--bootstrap-expect", str(self.size)]
            for m in self.nodes:
                if m is not n:
                    args += ["--join", m["rpc"]]
            log = open(os.path.join(self.root, n["name"] + ".log"), "w")
            self.procs[n["name"]] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        return self.leader()

    def leader(self, among=None, timeout=30):
        def find():
            for n in (among or self.nodes):
                if self.procs[n["name"]].poll() is not None:
                    raise RuntimeError(f"server {n['name']} exited")
                if kv.http("GET", f"http://{n['http']}/v1/isleader")[0] == 200:
                    return n
            return None
        return kv.wait("a leader", find, timeout)


def create_jobs(node, n, history):
    def one(i):
        body = json.dumps({"name": f"j{i:05d}", "schedule": "* * * * * *", "executor": "shell",
                           "executor_config": {"command": "true"}, "history_limit": history})
        for _ in range(50):
            st, _ = kv.http("POST", f"http://{node['http']}/v1/jobs", body.encode(), timeout=10)
            if st == 201:
                return
            time.sleep(0.1)
        raise RuntimeError(f"cannot create job {i}")
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(one, range(n)))


def read_records(node, n, history):
    def one(i):
        for _ in range(20):
            st, body = kv.http("GET", f"http://{node['http']}/v1/jobs/j{i:05d}/executions"
                                      f"?_start=0&_end={history}&output_size_limit=1", timeout=30)
            if st == 200:
                return json.loads(body)
            time.sleep(0.2)
        raise RuntimeError(f"cannot read executions of job {i}")
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        return list(ex.map(one, range(n)))


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def analyse(records, t0, t1):
    """Counts over the whole seconds strictly inside (t0, t1)."""
    first, last = int(t0) + 1, int(t1) - 1
    expected = 0
    executed = duplicated = 0
    lateness = []
    for recs in records:
        expected += last - first + 1
        ran = {}
        for e in recs:
            slot = parse_instant(e["scheduled_at"])
            if slot is None or not (first <= slot <= last) or e.get("trigger") not in ("schedule", "catchup"):
                continue
            if e["started_at"] is not None:
                ran.setdefault(int(slot), []).append(e)
        for slot, es in ran.items():
            if any(x["state"] == "succeeded" for x in es):
                executed += 1
            if len(es) > 1:
                duplicated += 1
            started = min(parse_instant(x["started_at"]) for x in es)
            lateness.append((slot, started - slot))
    return {"expected": expected, "executed": executed, "missed": expected - executed,
            "duplicated": duplicated, "lateness": lateness}


def steady_case(binary, size, n, seconds, warmup):
    root = tempfile.mkdtemp(prefix="sched-bench-")
    c = Cluster(binary, size, root)
    history = seconds + warmup + 30
    try:
        leader = c.start()
        create_jobs(leader, n, history)
        time.sleep(warmup)
        pids = [p.pid for p in c.procs.values()]
        cpu0 = sum(cpu_seconds(p) for p in pids)
        t0 = time.time()
        time.sleep(seconds)
        t1 = time.time()
        cpu1 = sum(cpu_seconds(p) for p in pids)
        rss = rss_mib(c.procs[leader["name"]].pid)
        time.sleep(3)  # the last slots' results reach the state
        records = read_records(leader, n, history)
        r = analyse(records, t0, t1)
        lat = [x for _, x in r["lateness"]]
        r.update({"cpu_per_run_ms": (cpu1 - cpu0) / max(1, r["executed"]) * 1000, "rss_mib": rss,
                  "p50_ms": pct(lat, 50) * 1000, "p99_ms": pct(lat, 99) * 1000,
                  "max_ms": max(lat) * 1000 if lat else float("nan")})
        return r
    finally:
        c.stop()


def kill_case(binary, n, seconds, warmup):
    root = tempfile.mkdtemp(prefix="sched-bench-kill-")
    c = Cluster(binary, 3, root)
    history = seconds + warmup + 30
    try:
        leader = c.start()
        create_jobs(leader, n, history)
        time.sleep(warmup)
        t0 = time.time()
        time.sleep(2)
        t_kill = time.time()
        c.kill9(leader)
        others = [m for m in c.nodes if m is not leader]
        new = c.leader(others)
        t_new_leader = time.time()
        time.sleep(max(0, seconds - (time.time() - t0)))
        t1 = time.time()
        time.sleep(3)
        records = read_records(new, n, history)
        r = analyse(records, t0, t1)
        after = [x for slot, x in r["lateness"] if t_kill <= slot < t_kill + 5]
        # Records are created by launch intents; any created after the kill was journaled by
        # the new leader (a record's epoch is not used: later lifecycle steps overwrite it).
        first_new = None
        for recs in records:
            for e in recs:
                t = parse_instant(e["created_at"])
                if t is not None and t > t_kill:
                    first_new = t if first_new is None else min(first_new, t)
        # Slots whose instant fell in the 5 s after the kill and did not run.
        missed_after = 0
        for recs in records:
            ran = {int(parse_instant(e["scheduled_at"])) for e in recs if e["started_at"]}
            missed_after += sum(1 for s in range(int(t_kill) + 1, int(t_kill) + 6) if s not in ran)
        r.update({"after_p50_ms": pct(after, 50) * 1000, "after_p99_ms": pct(after, 99) * 1000,
                  "after_max_ms": max(after) * 1000 if after else float("nan"),
                  "missed_5s_after_kill": missed_after,
                  "new_leader_s": t_new_leader - t_kill,
                  "schedules_after_s": (first_new - t_kill) if first_new else float("nan")})
        return r
    finally:
        c.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "build/bin/sundial"))
    ap.add_argument("--anchors", default=os.path.join(ROOT, "build/bin/exec_anchors"))
    ap.add_argument("--jobs", default="100,1000,3000")
    ap.add_argument("--sizes", default="1,3")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=6)
    ap.add_argument("--kill-jobs", type=int, default=100)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/results/scheduler.txt"))
    a = ap.parse_args()
    lines = [f"# scheduler benchmark ({time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}); "
             f"machine: {os.cpu_count()} cores; load at start: {open('/proc/loadavg').read().strip()}",
             f"# binary: {a.binary}; every-second jobs running `true`; window {a.seconds} s after "
             f"{a.warmup} s warm-up"]
    if os.path.exists(a.anchors):
        out = subprocess.run([a.anchors], capture_output=True, text=True).stdout
        keep = ("raw_spawn_sequential_per_s", "raw_spawn_2_in_flight_per_s", "timerfd_lateness_p50_us",
                "timerfd_lateness_p99_us", "timerfd_lateness_max_us", "supervisor_spawn_all_at_once_per_s")
        anchors = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] in keep:
                anchors[parts[0]] = float(parts[1])
        lines.append("# anchors (same run): " + ", ".join(f"{k} {v:g}" for k, v in anchors.items()))
    else:
        anchors = {}
    spawn_rate = anchors.get("raw_spawn_2_in_flight_per_s")
    lines.append(f"{'servers':>7} {'jobs':>5} {'expected':>8} {'executed':>8} {'missed':>6} {'dup':>4} "
                 f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'cpu/run ms':>10} {'leader MiB':>10} "
                 f"{'runs/s / spawn rate':>19}")
    for size in [int(x) for x in a.sizes.split(",")]:
        for n in [int(x) for x in a.jobs.split(",")]:
            r = steady_case(a.binary, size, n, a.seconds, a.warmup)
            ratio = (r["executed"] / max(1, a.seconds - 2)) / spawn_rate if spawn_rate else float("nan")
            lines.append(f"{size:7d} {n:5d} {r['expected']:8d} {r['executed']:8d} {r['missed']:6d} "
                         f"{r['duplicated']:4d} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['max_ms']:8.1f} "
                         f"{r['cpu_per_run_ms']:10.3f} {r['rss_mib']:10.1f} {ratio:19.2f}")
            print(lines[-1], flush=True)
    if a.kill_jobs > 0:
        r = kill_case(a.binary, a.kill_jobs, a.seconds, a.warmup)
        lines.append(f"# leader kill -9, {a.kill_jobs} jobs, 3 servers: expected {r['expected']}, "
                     f"executed {r['executed']}, missed {r['missed']} "
                     f"({r['missed_5s_after_kill']} of them in the 5 s after the kill), duplicated {r['duplicated']}; "
                     f"lateness of slots in the 5 s after the kill p50 {r['after_p50_ms']:.2f} ms, "
                     f"p99 {r['after_p99_ms']:.2f} ms, max {r['after_max_ms']:.1f} ms; "
                     f"new leader after {r['new_leader_s']:.2f} s; it journaled its first run "
                     f"{r['schedules_after_s']:.2f} s after the kill")
        print(lines[-1], flush=True)
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
