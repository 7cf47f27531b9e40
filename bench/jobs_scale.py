#!/usr/bin/env python3
"""The job store at scale, on one fsyncing server (Release build):

  1. 100,000 jobs created through POST /v1/jobs by wrk (64 connections): creation rate;
  2. GET /v1/jobs pages of 100 sorted by name and by next fire, at random offsets and at the
     first page: p50/p99 at 100k jobs, then again after loading to 1M jobs through
     POST /v1/restore (batches of 2,500, the bulk path);
  3. server RSS (and its anonymous / file-backed parts) at 100k and 1M jobs;
  4. restart time at 1M jobs (no log replay), snapshot size, and the time for a new server to
     join and install the snapshot until it serves all 1M jobs.

Latencies are printed with the ratio to GET /health measured in the same run (the HTTP
floor), so figures from different machines compare.

Usage: bench/jobs_scale.py [--bin build/bin/sundial] [--jobs 1000000] [--out FILE]
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

CREATE_LUA = r"""
local counter = 0
local quota = tonumber(os.getenv("QUOTA"))
local threads = {}
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  thread:set("bad", 0)
  next_id = next_id + 1
  table.insert(threads, thread)
end
function init(args)
  bad = 0
end
request = function()
  counter = counter + 1
  if counter > quota then
    -- This thread's share is done: stop it (the request returned here is not a creation).
    wrk.thread:stop()
    return wrk.format("GET", "/health")
  end
  local name = string.format("c%d-%07d", id, counter)
  local every = 1 + (counter * 7919) % 1440
  local body = '{"name":"' .. name .. '","schedule":"@every ' .. every ..
      'm","executor":"shell","executor_config":{"command":"true"}}'
  return wrk.format("POST", "/v1/jobs", {["Content-Type"] = "application/json"}, body)
end
response = function(status, headers, body)
  if status ~= 201 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("wrk-non-201 %d\n", total))
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, root, name):
        self.binary, self.name = binary, name
        self.data = os.path.join(root, name)
        self.http_port, self.rpc_port = free_port(), free_port()
        self.log_path = os.path.join(root, name + ".log")
        self.proc = None

    def start(self, extra=()):
        args = [self.binary, "agent", "--server", "--node-name", self.name, "--data-dir", self.data,
                "--http-addr", f"127.0.0.1:{self.http_port}",
                "--rpc-addr", f"127.0.0.1:{self.rpc_port}", *extra]
        self.proc = subprocess.Popen(args, stdout=open(self.log_path, "ab"),
                                     stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=120)

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=120)

    def rss(self):
        fields = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                    fields[k] = int(v.split()[0]) / 1024.0  # MiB
        return fields


def request(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    return r.status, r.getheader("X-Total-Count"), r.read()


def wait_until(what, fn, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if fn():
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def job_total(server):
    c = server.conn()
    status, total, _ = request(c, "GET", "/v1/jobs?stale&_start=0&_end=0")
    c.close()
    return int(total) if status == 200 and total else -1


def percentiles(samples):
    samples = sorted(samples)
    return (statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))])


def time_requests(server, paths):
    conn = server.conn()
    out = []
    for p in paths:
        t0 = time.perf_counter()
        status, _, body = request(conn, "GET", p)
        out.append((time.perf_counter() - t0) * 1000.0)
        if status != 200:
            raise SystemExit(f"GET {p}: {status} {body[:200]!r}")
    conn.close()
    return percentiles(out)


def page_latencies(server, n_jobs, samples, report, label):
    health = time_requests(server, ["/health"] * samples)
    report(f"[{label}] anchor GET /health p50 {health[0]:.2f} ms  p99 {health[1]:.2f} ms")
    rng = random.Random(42)
    for sort in ("name", "next"):
        first = time_requests(server, [f"/v1/jobs?_sort={sort}&_start=0&_end=100"] * samples)
        offsets = [rng.randrange(0, max(1, n_jobs - 100)) for _ in range(samples)]
        deep = time_requests(server, [f"/v1/jobs?_sort={sort}&_start={o}&_end={o + 100}"
                                      for o in offsets])
        for what, (p50, p99) in (("first page", first), ("random offset", deep)):
            report(f"[{label}] page of 100 by {sort:4s} {what:13s}: p50 {p50:6.2f} ms  "
                   f"p99 {p99:6.2f} ms  (p99 = {p99 / health[1]:.1f}x /health p99)")


def bulk_load(server, start_index, count, batch, report):
    names = iter(range(start_index, start_index + count))
    lock = threading.Lock()
    errors = []

    def worker():
        conn = server.conn()
        while True:
            with lock:
                chunk = [n for _, n in zip(range(batch), names)]
            if not chunk:
                break
            jobs = [{"name": f"r{n:07d}", "schedule": f"@every {1 + (n * 7919) % 1440}m",
                     "executor": "shell", "executor_config": {"command": "true"},
                     "metadata": {"team": f"t{n % 10}"}} for n in chunk]
            boundary = "sundialbenchboundary"
            body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                    f"filename=\"b.json\"\r\nContent-Type: application/json\r\n\r\n"
                    + json.dumps(jobs) + f"\r\n--{boundary}--\r\n").encode()
            status, _, text = request(conn, "POST", "/v1/restore", body,
                                      {"Content-Type": f"multipart/form-data; boundary={boundary}"})
            if status != 200:
                errors.append(f"{status} {text[:200]!r}")
                break
        conn.close()

    t0 = time.time()
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit("restore failed: " + errors[0])
    elapsed = time.time() - t0
    report(f"bulk load: {count} jobs through POST /v1/restore in batches of {batch}: "
           f"{elapsed:.1f} s ({count / elapsed:.0f} jobs/s)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "build", "bin", "sundial"))
    ap.add_argument("--jobs", type=int, default=1_000_000)
    ap.add_argument("--created", type=int, default=100_000)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "jobs_scale.txt"))
    args = ap.parse_args()
    lines = []

    def report(line):
        print(line, flush=True)
        lines.append(line)

    root = tempfile.mkdtemp(prefix="sundial-jobs-bench-", dir="/var/tmp")
    servers = []
    try:
        s1 = Server(args.bin, root, "s1")
        servers.append(s1)
        s1.start(["--bootstrap-expect", "1"])
        wait_until("s1 to lead", lambda: request(s1.conn(), "GET", "/v1/isleader")[0] == 200, 30)
        report(f"machine: {os.cpu_count()} cores; server {os.path.relpath(args.bin)} "
               f"(fsync on, default snapshot settings)")

        # 1. Creation through the API.
        lua = os.path.join(root, "create.lua")
        with open(lua, "w") as f:
            f.write(CREATE_LUA)
        # A stopping wrk thread abandons requests in flight on its other connections, so each
        # thread may create a few more than its share; the rate is taken when the count passes
        # the target and the load below tops up to exactly --jobs.
        env = dict(os.environ, QUOTA=str(args.created // 2 + 64))
        t0 = time.time()
        wrk = subprocess.Popen(["wrk", "-t2", "-c64", "-d600s", "-s", lua,
                                f"http://127.0.0.1:{s1.http_port}"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
        wait_until(f"{args.created} jobs", lambda: job_total(s1) >= args.created, 600)
        elapsed = time.time() - t0
        wrk.send_signal(signal.SIGINT)
        out, _ = wrk.communicate(timeout=60)
        created = job_total(s1)
        for _ in range(100):  # until answers still in flight have landed
            time.sleep(0.2)
            now = job_total(s1)
            if now == created:
                break
            created = now
        bad = [l for l in out.splitlines() if l.startswith("wrk-non-201")]
        report(f"creation: {args.created} jobs through POST /v1/jobs (wrk, 64 connections) in "
               f"{elapsed:.1f} s = {args.created / elapsed:.0f} jobs/s; "
               f"{bad[0] if bad else 'wrk-non-201 ?'} answers other than 201")
        time.sleep(6)  # one housekeeping period (see below)
        rss = s1.rss()
        report(f"[100k] RSS {rss['VmRSS']:.0f} MiB (anonymous {rss['RssAnon']:.0f}, "
               f"file-backed {rss['RssFile']:.0f}; peak {rss['VmHWM']:.0f})")
        page_latencies(s1, args.created, args.samples, report, "100k")

        # 2. Bulk load to the full size.
        bulk_load(s1, 0, args.jobs - created, 2500, report)
        total = job_total(s1)
        if total != args.jobs:
            raise SystemExit(f"expected {args.jobs} jobs, the server has {total}")
        rss = s1.rss()
        report(f"[1M] RSS right after the load {rss['VmRSS']:.0f} MiB (anonymous "
               f"{rss['RssAnon']:.0f}, file-backed {rss['RssFile']:.0f}; peak {rss['VmHWM']:.0f})")
        time.sleep(6)  # one housekeeping period: mapped LMDB pages released, heap trimmed
        rss = s1.rss()
        report(f"[1M] RSS {rss['VmRSS']:.0f} MiB (anonymous {rss['RssAnon']:.0f}, "
               f"file-backed {rss['RssFile']:.0f}; peak {rss['VmHWM']:.0f})")
        page_latencies(s1, args.jobs, args.samples, report, "1M")
        state_files = [os.path.join(s1.data, "state", n)
                       for n in os.listdir(os.path.join(s1.data, "state")) if n.endswith(".mdb")]
        report(f"[1M] state LMDB file: {os.path.getsize(state_files[0]) / 2**20:.0f} MiB")

        # 3. Restart (no replay), then a snapshot of the full state.
        s1.stop()
        t0 = time.time()
        s1.start(["--snapshot-every", "50"])
        wait_until("s1 to serve after restart", lambda: job_total(s1) == args.jobs, 300)
        report(f"[1M] restart until serving all jobs: {time.time() - t0:.2f} s")
        wait_until("s1 to lead again",
                   lambda: request(s1.conn(), "GET", "/v1/isleader")[0] == 200, 60)
        rss = s1.rss()
        report(f"[1M] RSS after restart {rss['VmRSS']:.0f} MiB (anonymous {rss['RssAnon']:.0f}, "
               f"file-backed {rss['RssFile']:.0f})")
        snap_dir = os.path.join(s1.data, "snap")
        before = set(os.listdir(snap_dir))
        c = s1.conn()
        t0 = time.time()
        for i in range(50):
            assert request(c, "PUT", f"/v1/kv/bench-{i}", b"x")[0] == 200
        c.close()
        wait_until("a snapshot of the full state",
                   lambda: any(n.endswith(".state") and n not in before
                               for n in os.listdir(snap_dir)), 300)
        snap = max((n for n in os.listdir(snap_dir) if n.endswith(".state")))
        report(f"[1M] snapshot (compact LMDB copy): {os.path.getsize(os.path.join(snap_dir, snap)) / 2**20:.0f} MiB, "
               f"taken within {time.time() - t0:.2f} s of the 50 writes that triggered it")

        # 4. A new server joins and installs it.
        s2 = Server(args.bin, root, "s2")
        servers.append(s2)
        t0 = time.time()
        s2.start(["--join", f"127.0.0.1:{s1.rpc_port}"])
        wait_until("s2 to serve every job", lambda: job_total(s2) == args.jobs, 900)
        report(f"[1M] new server joined, received and installed the snapshot, serving all jobs: "
               f"{time.time() - t0:.2f} s")
        rss = s2.rss()
        report(f"[1M] new server RSS {rss['VmRSS']:.0f} MiB (anonymous {rss['RssAnon']:.0f}, "
               f"file-backed {rss['RssFile']:.0f}; peak {rss['VmHWM']:.0f})")
    finally:
        for s in servers:
            try:
                s.stop()
            except Exception:  # noqa: BLE001 - best effort on the way out
                if s.proc:
                    s.proc.kill()
        shutil.rmtree(root, ignore_errors=True)
    if args.out:
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(f"# bench/jobs_scale.py --jobs {args.jobs} ({time.strftime('%Y-%m-%d')})\n")
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
