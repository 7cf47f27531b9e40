#!/usr/bin/env python3
"""The HTTP API server, before and after a change, side by side in one run.

Two Sundial binaries (--old, e.g. a worktree of the commit before the change, and --new) each
run a 3-server fsync cluster on 127.0.0.1 with production timing (the flags kv_vs_etcd.py
uses), next to one 3-node etcd cluster. wrk drives the leader of each with 1, 8, 64 and 256
connections, for three workloads:

  health  GET /health (the HTTP floor);
  jobs    GET /v1/jobs?_sort=name&_start=0&_end=100 (a job page) after loading --jobs cron jobs
          through POST /v1/jobs;
  write   PUT /v1/kv/KEY with random keys (a replicated, fsynced write), and for etcd the same
          writes through its /v3/kv/put gateway (as kv_vs_etcd.py).

The points alternate between the systems (and which one goes first alternates from round to
round), so drift in this shared machine's speed hits all alike; each figure is the median of
--rounds rounds of --seconds seconds. Throughput, p50 and p99 (wrk's histogram, through the
Lua done() hook), non-2xx answers and socket errors are reported per point, with new/old
ratios and, for writes, new/etcd.

Then memory per idle connection: each binary on a fresh 1-server cluster; VmRSS before, then
--idle-connections keep-alive connections (--old-idle-connections for the old binary, whose
thread-per-connection server caps at 1024), each sending one complete GET /health and reading
the answer, spread over source addresses 127.0.0.2..127.0.0.20; VmRSS and Threads once RSS
settles; (after - before) / connections. A probe of --cap-probe further connections then shows
whether the server takes more (the old one answers 503 past its cap).

Flags only the new binary knows go in --new-extra-flags (given to every new server).
Writes bench/results/api_server.txt.

Usage: bench/api_server.py [--old /work/old-api/build/bin/sundial] [--new build/bin/sundial]
         [--new-extra-flags="--http-max-connections-per-client 10000 --http-idle-timeout 300s"]
         [--seconds 10] [--rounds 3] [--clients 1,8,64,256] [--jobs 1000]
         [--idle-connections 5000] [--old-idle-connections 1000] [--cap-probe 100] [--no-etcd]
         [--old-tree DIR] [--new-tree DIR] [--out bench/results/api_server.txt]
(--new-extra-flags takes its value after '=', since it starts with '--'; '--new-extra-flags='
for none, e.g. when --old and --new are the same binary for a dry run.)
"""
import argparse
import errno
import http.client
import json
import os
import resource
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import kv_vs_etcd as kv  # noqa: E402  (EtcdCluster, free_port, http, wait)

JOB_PAGE = "/v1/jobs?_sort=name&_start=0&_end=100"
# Fires on 1 January at 03:00:00 only, so no job runs during the benchmark.
JOB_SCHEDULE = "0 0 3 1 1 *"

DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d non2xx=%d sock=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d\\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    e.connect, e.read, e.write, e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def binary_id(binary, tree=None):
    """'commit (tree), built TIME, sha256 PREFIX' for the header."""
    import hashlib
    with open(binary, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    built = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.path.getmtime(binary)))
    rev, d = git_rev(binary, tree)
    # The tree's HEAD when the run ends: the binary may have been built from an older state.
    return (f"tree {d} at HEAD {rev} at the run" if d else "tree unknown") + \
        f"; binary built {built}, sha256 {digest}"


def git_rev(binary, tree=None):
    """The commit of the tree a binary was built in (`tree`, else found above the binary)."""
    d = os.path.dirname(os.path.realpath(binary))
    for i in range(5):
        d = tree if tree else os.path.dirname(d)
        if os.path.exists(os.path.join(d, ".git")):
            r = subprocess.run(["git", "-C", d, "rev-parse", "HEAD"], capture_output=True,
                               text=True, timeout=10)
            if r.returncode == 0:
                dirty = subprocess.run(["git", "-C", d, "status", "--porcelain", "--untracked-files=no"],
                                       capture_output=True, text=True, timeout=30).stdout.strip()
                return r.stdout.strip()[:12] + (" + uncommitted changes" if dirty else ""), d
        if tree:
            break
    return "unknown", None


class Sundial(kv.SundialCluster):
    """A 3-server Sundial cluster as kv_vs_etcd.py starts it, plus extra flags and logs."""

    def __init__(self, name, binary, root, extra, size=3):
        self.name, self.binary, self.root, self.extra = name, binary, root, list(extra)
        os.makedirs(root, exist_ok=True)
        self.nodes = [{"name": f"{name}{i}", "rpc": f"127.0.0.1:{kv.free_port()}",
                       "http": f"127.0.0.1:{kv.free_port()}", "dir": os.path.join(root, f"n{i}")}
                      for i in range(size)]
        self.procs = {}
        self.logs = []

    def start_node(self, n, fresh=True):
        joins = sum((["--join", m["rpc"]] for m in self.nodes), []) if len(self.nodes) > 1 else []
        args = [self.binary, "agent", "--server", "--node-name", n["name"], "--data-dir", n["dir"],
                "--rpc-addr", n["rpc"], "--http-addr", n["http"], "--log-level", "warn"]
        if fresh:
            args += ["--bootstrap-expect", str(len(self.nodes)), *joins]
        args += self.extra
        log = open(os.path.join(self.root, n["name"] + ".log"), "ab")
        self.logs.append(log)
        self.procs[n["name"]] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)

    def start(self):
        for n in self.nodes:
            self.start_node(n)
        time.sleep(0.3)
        for n in self.nodes:
            if self.procs[n["name"]].poll() is not None:
                raise RuntimeError(f"{self.name}: {n['name']} exited at start: " + self.log_tail(n))
        return self.leader()

    def log_tail(self, n):
        try:
            with open(os.path.join(self.root, n["name"] + ".log"), "rb") as f:
                return f.read()[-2000:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self):
        super().stop()
        for log in self.logs:
            log.close()

    def pid(self, n):
        return self.procs[n["name"]].pid


def make_etcd(root):
    e = kv.EtcdCluster(root)
    e.procs = {}
    return e


def wrk_lua(system, workload):
    if workload == "write":
        return system.wrk_script() + DONE
    return DONE


def run_wrk(system, workload, connections, seconds, workdir):
    leader = system.leader()
    base = system.put_path(leader)
    target = base + {"health": "/health", "jobs": JOB_PAGE, "write": ""}[workload]
    script = os.path.join(workdir, f"{system.name}-{workload}.lua")
    with open(script, "w") as f:
        f.write(wrk_lua(system, workload))
    threads = 1 if connections == 1 else 2
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
           "--timeout", "5s", "--latency", "-s", script, target]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"wrk against {system.name} ({workload}, c={connections}) did not finish")
    line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT")), None)
    if line is None:
        raise RuntimeError(f"wrk against {system.name} ({workload}, c={connections}): no result\n"
                           f"{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    fields = {k: int(v) for k, v in (kv_.split("=") for kv_ in line.split()[1:])}
    fields["rps"] = fields["requests"] / (fields["duration_us"] / 1e6)
    fields["leader"] = leader["name"]
    return fields


def load_jobs(system, count):
    leader = system.leader()
    host, port = leader["http"].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    bad = []
    for i in range(count):
        body = json.dumps({"name": f"bench-job-{i:05d}", "displayname": f"Bench job {i}",
                           "schedule": JOB_SCHEDULE, "timezone": "UTC", "owner": "bench",
                           "executor": "shell", "executor_config": {"command": "true"},
                           "metadata": {"team": f"t{i % 10}"}})
        conn.request("POST", "/v1/jobs", body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        text = r.read()
        if r.status != 201:
            bad.append(f"{r.status} {text[:200]!r}")
            if len(bad) > 5:
                break
    conn.request("GET", "/v1/jobs?_start=0&_end=0")
    r = conn.getresponse()
    r.read()
    total = int(r.getheader("X-Total-Count") or -1)
    conn.close()
    if bad or total != count:
        raise RuntimeError(f"{system.name}: loading {count} jobs: total {total}, errors {bad[:3]}")


# ---------------------------------------------------------------------------------------------
# Memory per idle connection

def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "Threads"):
                out[k] = int(v.split()[0])  # kB, or a count for Threads
    return out


def settle_rss(pid, timeout=30.0, quiet=3.0):
    """Polls VmRSS until it has moved by less than 1% (and 256 KiB) over `quiet` seconds."""
    end = time.monotonic() + timeout
    window = []
    while True:
        now = time.monotonic()
        st = proc_status(pid)
        window.append((now, st["VmRSS"]))
        window = [(t, v) for t, v in window if now - t <= quiet]
        if now - window[0][0] >= quiet * 0.9:
            lo, hi = min(v for _, v in window), max(v for _, v in window)
            if hi - lo <= max(256, hi * 0.01):
                return st, True
        if now >= end:
            return st, False
        time.sleep(0.25)


HEALTH_REQ = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"


def read_answer(sock, deadline):
    """Reads one HTTP answer (Content-Length or close-delimited). Returns (status, still_open)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no answer")
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines or not lines[0].startswith(b"HTTP/"):
        return 0, False
    status = int(lines[0].split()[1])
    length = None
    close = False
    for l in lines[1:]:
        k, _, v = l.partition(b":")
        k = k.strip().lower()
        if k == b"content-length":
            length = int(v.strip())
        elif k == b"connection" and v.strip().lower() == b"close":
            close = True
    if length is not None:
        while len(rest) < length:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("short body")
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                return status, False
            rest += chunk
    return status, not close and length is not None


def open_idle(port, count, first_index=0, per_conn_timeout=10.0):
    """Opens `count` keep-alive connections, each after one GET /health. Returns (sockets that
    are open after a 200, counts by outcome)."""
    socks, outcome = [], {}
    for i in range(first_index, first_index + count):
        src = f"127.0.0.{2 + i % 19}"
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((src, 0))
            s.settimeout(per_conn_timeout)
            s.connect(("127.0.0.1", port))
            s.sendall(HEALTH_REQ)
            status, still_open = read_answer(s, time.monotonic() + per_conn_timeout)
            key = str(status) if status else "bad answer"
            if not still_open:
                key += " (closed)"
        except (OSError, TimeoutError, ValueError) as e:
            key = "error: " + (errno.errorcode.get(getattr(e, "errno", None) or 0, type(e).__name__))
            status, still_open = 0, False
        outcome[key] = outcome.get(key, 0) + 1
        if status == 200 and still_open:
            s.setblocking(False)
            socks.append(s)
        else:
            s.close()
    return socks, outcome


def still_open(socks):
    """How many of the sockets the server has not closed (no EOF, no reset, nothing unread)."""
    n = 0
    for s in socks:
        try:
            if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                n += 1  # unread data: not closed (unexpected, but open)
        except BlockingIOError:
            n += 1  # nothing to read and no EOF: open
        except OSError:
            pass  # reset
    return n


def metrics_gauge(port, name):
    code, body = kv.http("GET", f"http://127.0.0.1:{port}/metrics", timeout=5)
    if code != 200:
        return None
    for line in body.decode(errors="replace").splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            try:
                return float(line.split()[-1])
            except ValueError:
                return None
    return None


def idle_memory(label, binary, extra, connections, probe, root, report):
    try:
        return idle_memory_once(label, binary, extra, connections, probe, root, report)
    except Exception as e:  # noqa: BLE001 - reported in the table, the other figures stand
        report(f"  {label}: failed: {e}")
        return {"connections": connections, "error": str(e)}


def idle_memory_once(label, binary, extra, connections, probe, root, report):
    c = Sundial(label, binary, os.path.join(root, f"mem-{label}"), extra, size=1)
    res = {"connections": connections}
    socks = []
    try:
        leader = c.start()
        port = int(leader["http"].rsplit(":", 1)[1])
        pid = c.pid(leader)
        # Warm up the code paths and the allocator: 20 connections, one request each.
        warm, _ = open_idle(port, 20)
        for s in warm:
            s.close()
        time.sleep(1.0)
        before, ok_before = settle_rss(pid)
        t0 = time.monotonic()
        socks, outcome = open_idle(port, connections)
        res["open_s"] = time.monotonic() - t0
        after, ok_after = settle_rss(pid)
        res.update(before=before, after=after, settled=ok_before and ok_after, outcome=outcome,
                   held=len(socks), open_at_end=still_open(socks),
                   gauge=metrics_gauge(port, "sundial_http_connections"))
        res["kib_per_conn"] = (after["VmRSS"] - before["VmRSS"]) / max(1, len(socks))
        if probe:
            extra_socks, pout = open_idle(port, probe, first_index=connections)
            res["probe"] = (probe, pout)
            for s in extra_socks:
                s.close()
    finally:
        for s in socks:
            s.close()
        c.stop()
    report(f"  {label}: {res['held']} of {connections} idle connections held "
           f"(outcomes {res['outcome']}; opened in {res['open_s']:.1f} s; "
           f"{res['open_at_end']} still open at the RSS reading"
           + (f"; sundial_http_connections {res['gauge']:.0f}" if res['gauge'] is not None else "")
           + ")")
    return res


# ---------------------------------------------------------------------------------------------

def median_point(runs):
    m = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_us", "p99_us")}
    for k in ("non2xx", "sock", "connect", "read", "write", "timeout", "requests"):
        m[k] = sum(r[k] for r in runs)
    m["p99_all"] = [r["p99_us"] / 1000 for r in runs]
    m["leaders"] = sorted({r["leader"] for r in runs})
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", default="/work/old-api/build/bin/sundial")
    ap.add_argument("--new", default=os.path.join(ROOT, "build", "bin", "sundial"))
    ap.add_argument("--new-extra-flags",
                    default="--http-max-connections-per-client 10000 --http-idle-timeout 300s",
                    help="flags given to every server of the new binary only ('' for none)")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", default="1,8,64,256")
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--idle-connections", type=int, default=5000)
    ap.add_argument("--old-idle-connections", type=int, default=1000,
                    help="the old server refuses connections past 1024")
    ap.add_argument("--cap-probe", type=int, default=100,
                    help="connections opened past the idle set after the RSS reading")
    ap.add_argument("--no-etcd", action="store_true")
    ap.add_argument("--old-tree", help="git tree the old binary was built from (default: found from its path)")
    ap.add_argument("--new-tree", help="git tree the new binary was built from (default: found from its path)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "api_server.txt"))
    args = ap.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    new_extra = shlex.split(args.new_extra_flags)
    for b in (args.old, args.new):
        if not os.access(b, os.X_OK):
            sys.exit(f"not an executable: {b}")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.idle_connections + args.cap_probe + 1000
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, need)), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < need:
        sys.exit(f"RLIMIT_NOFILE hard limit {hard} is below the {need} descriptors needed")

    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load_start = os.getloadavg()[0]
    root = tempfile.mkdtemp(prefix="sundial-api-bench-", dir="/var/tmp")
    log_lines = []

    def report(line):
        print(line, flush=True)
        log_lines.append(line)

    old = Sundial("old", args.old, os.path.join(root, "old"), [])
    new = Sundial("new", args.new, os.path.join(root, "new"), new_extra)
    etcd = None if args.no_etcd else make_etcd(os.path.join(root, "etcd"))
    systems = [old, new] + ([etcd] if etcd else [])
    samples = {}
    mem = {}
    try:
        for s in systems:
            s.start()
        for s in (old, new):
            t0 = time.monotonic()
            load_jobs(s, args.jobs)
            report(f"{s.name}: {args.jobs} jobs loaded through POST /v1/jobs in {time.monotonic() - t0:.1f} s")
        time.sleep(1.0)
        for r in range(args.rounds):
            for workload in ("health", "jobs", "write"):
                members = [old, new] if r % 2 == 0 else [new, old]
                if workload == "write" and etcd:
                    members.append(etcd)
                for c in clients:
                    for s in members:
                        p = run_wrk(s, workload, c, args.seconds, root)
                        samples.setdefault((s.name, workload, c), []).append(p)
                        report(f"round {r + 1} {workload:6} c={c:<3} {s.name:4}: {p['rps']:9.1f} req/s  "
                               f"p50 {p['p50_us'] / 1000:7.2f} ms  p99 {p['p99_us'] / 1000:7.2f} ms  "
                               f"non2xx {p['non2xx']}  sock {p['sock']}")
                        time.sleep(0.5)
        for s in systems:
            s.stop()
        report("memory per idle connection:")
        mem["old"] = idle_memory("old", args.old, [], args.old_idle_connections, args.cap_probe, root, report)
        mem["new"] = idle_memory("new", args.new, new_extra, args.idle_connections, args.cap_probe, root, report)
    finally:
        for s in systems:
            s.stop()
        shutil.rmtree(root, ignore_errors=True)

    pts = {k: median_point(v) for k, v in samples.items()}
    old_rev = binary_id(args.old, args.old_tree)
    new_rev = binary_id(args.new, args.new_tree)
    etcd_ver = subprocess.run(["etcd", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    L = []
    L.append(f"# bench/api_server.py {started}; {os.cpu_count()} cores; "
             f"1-min load average {load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    L.append(f"# old: {args.old}: {old_rev}")
    L.append(f"# new: {args.new}: {new_rev}; extra flags: {' '.join(new_extra) or '(none)'}")
    L.append(f"# 3 fsync servers per system on 127.0.0.1 (Sundial: production timing, as kv_vs_etcd.py; "
             f"{etcd_ver if etcd else 'no etcd'}), wrk --timeout 5s to the leader, "
             f"{args.seconds}s per point, median of {args.rounds} rounds, points alternating between systems")
    L.append(f"# job page: GET {JOB_PAGE} with {args.jobs} cron jobs; write: PUT /v1/kv/<random key> "
             f"(etcd: POST /v3/kv/put); errors = non-2xx + socket errors, summed over rounds")
    L.append("")
    hdr = (f"{'workload':8} {'clients':>7} | {'old req/s':>10} {'new req/s':>10} {'new/old':>7} | "
           f"{'old p50':>7} {'new p50':>7} {'new/old':>7} | {'old p99':>7} {'new p99':>7} {'new/old':>7} | "
           f"{'errors old':>10} {'errors new':>10}")
    L.append(hdr + "   (latencies in ms)")
    L.append("-" * len(hdr))
    worst = []
    for workload in ("health", "jobs", "write"):
        for c in clients:
            o, n = pts[("old", workload, c)], pts[("new", workload, c)]
            rr = n["rps"] / o["rps"] if o["rps"] else float("nan")
            worst.append((rr, workload, c))
            L.append(f"{workload:8} {c:>7} | {o['rps']:10.1f} {n['rps']:10.1f} {rr:7.2f} | "
                     f"{o['p50_us'] / 1000:7.2f} {n['p50_us'] / 1000:7.2f} {n['p50_us'] / max(1, o['p50_us']):7.2f} | "
                     f"{o['p99_us'] / 1000:7.2f} {n['p99_us'] / 1000:7.2f} {n['p99_us'] / max(1, o['p99_us']):7.2f} | "
                     f"{o['non2xx']:>4}+{o['sock']:<5} {n['non2xx']:>4}+{n['sock']:<5}")
    if etcd:
        L.append("")
        h2 = (f"{'write vs etcd':13} {'clients':>7} | {'etcd req/s':>10} {'etcd p50':>8} {'etcd p99':>8} | "
              f"{'new/etcd req/s':>14} {'new/etcd p99':>12} {'old/etcd p99':>12} | {'errors etcd':>11}")
        L.append(h2)
        L.append("-" * len(h2))
        for c in clients:
            e, n, o = pts[("etcd", "write", c)], pts[("new", "write", c)], pts[("old", "write", c)]
            L.append(f"{'':13} {c:>7} | {e['rps']:10.1f} {e['p50_us'] / 1000:8.2f} {e['p99_us'] / 1000:8.2f} | "
                     f"{n['rps'] / e['rps']:14.2f} {n['p99_us'] / max(1, e['p99_us']):12.2f} "
                     f"{o['p99_us'] / max(1, e['p99_us']):12.2f} | {e['non2xx']:>5}+{e['sock']:<5}")
        if 64 in clients:
            L.append("write p99 at 64 clients per round (ms): " + " | ".join(
                f"{name} " + " ".join(f"{v:.1f}" for v in pts[(name, 'write', 64)]['p99_all'])
                for name in ("old", "new", "etcd")))
    L.append("")
    L.append("memory per idle keep-alive connection (one GET /health answered on each, then idle; "
             "fresh 1-server cluster; sources 127.0.0.2-20):")
    for name in ("old", "new"):
        m = mem[name]
        if "error" in m:
            L.append(f"  {name}: FAILED: {m['error']}")
            continue
        b, a = m["before"], m["after"]
        L.append(f"  {name}: {m['held']:5d} of {m['connections']} connections held: VmRSS {b['VmRSS'] / 1024:.1f} -> {a['VmRSS'] / 1024:.1f} MiB "
                 f"= {m['kib_per_conn']:.1f} KiB per connection (anon {b['RssAnon'] / 1024:.1f} -> "
                 f"{a['RssAnon'] / 1024:.1f} MiB); threads {b['Threads']} -> {a['Threads']}"
                 + ("" if m["settled"] else "; RSS had not settled within 30 s"))
        L.append(f"        outcomes {m['outcome']}; {m['open_at_end']} still open at the reading"
                 + (f"; sundial_http_connections {m['gauge']:.0f}" if m["gauge"] is not None else ""))
        if "probe" in m:
            n, pout = m["probe"]
            L.append(f"        cap probe, {n} more connections with those {m['held']} still open: {pout}")
    if mem["old"]["connections"] != mem["new"]["connections"]:
        L.append(f"  (the old server is measured with {mem['old']['connections']} connections: "
                 f"it refuses connections past 1024)")
    L.append("")
    rr, wl, wc = min(worst)
    L.append("goals:")
    L.append(f"  no throughput loss: lowest new/old req/s {rr:.2f} ({wl}, {wc} clients); points below 1.00: "
             + (", ".join(f"{w} c={c} {x:.2f}" for x, w, c in sorted(worst) if x < 1.0) or "none"))
    if etcd and 64 in clients:
        n64, e64 = pts[("new", "write", 64)]["p99_us"], pts[("etcd", "write", 64)]["p99_us"]
        o64 = pts[("old", "write", 64)]["p99_us"]
        L.append(f"  write p99 at 64 clients <= etcd's: new {n64 / 1000:.1f} ms vs etcd {e64 / 1000:.1f} ms "
                 f"= {n64 / max(1, e64):.2f}x ({'met' if n64 <= e64 else 'NOT met'}; old {o64 / max(1, e64):.2f}x)")
    kn, ko = mem["new"].get("kib_per_conn"), mem["old"].get("kib_per_conn")
    if kn is not None:
        L.append(f"  under 20 KiB per idle connection: new {kn:.1f} KiB ({'met' if kn < 20 else 'NOT met'}; "
                 + (f"old {ko:.1f} KiB)" if ko is not None else "old not measured)"))
    text = "\n".join(L) + "\n"
    sys.stdout.write("\n" + text)
    if args.out:
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
