#!/usr/bin/env python3
"""Sundial's replicated KV against etcd, same machine, same setup, same load generator.

Three fsync-durable servers of each system on 127.0.0.1 (Sundial: production timing, heartbeat
100 ms, election 1 s; etcd: its defaults, the same), driven by wrk over HTTP/JSON (Sundial's
PUT /v1/kv/{key}; etcd's POST /v3/kv/put gateway), requests sent to the leader. Measures
sequential write latency (p50/p99, one connection), throughput with 1, 8, 64 and 256
connections (both clusters up side by side, points alternating between them, median of
--rounds rounds), and failover time after kill -9 of the leader (until a write succeeds on a
survivor; median of 10). Prints each figure with the Sundial/etcd ratio from this run and
writes bench/results/kv_vs_etcd.txt.

Usage: bench/kv_vs_etcd.py [--sundial build/bin/sundial] [--seconds 10] [--failovers 10]
"""
import argparse
import base64
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, timeout=2.0):
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except Exception:
        return 0, b""


def wait(what, pred, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise RuntimeError("timed out waiting for " + what)


class Cluster:
    """Process handling shared by both systems: `procs` maps member name to its process."""
    procs = {}

    def kill9(self, n):
        self.procs[n["name"]].send_signal(signal.SIGKILL)
        self.procs[n["name"]].wait()

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


class SundialCluster(Cluster):
    name = "sundial"

    def __init__(self, binary, root):
        self.binary, self.root = binary, root
        self.nodes = []
        for i in range(3):
            self.nodes.append({"name": f"s{i}", "rpc": f"127.0.0.1:{free_port()}",
                               "http": f"127.0.0.1:{free_port()}", "dir": os.path.join(root, f"s{i}")})
        self.procs = {}

    def start_node(self, n, fresh=True):
        joins = sum((["--join", m["rpc"]] for m in self.nodes), [])
        args = [self.binary, "agent", "--server", "--node-name", n["name"], "--data-dir", n["dir"],
                "--rpc-addr", n["rpc"], "--http-addr", n["http"], "--log-level", "warn"]
        if fresh:
            args += ["--bootstrap-expect", "3", *joins]
        self.procs[n["name"]] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self):
        for n in self.nodes:
            self.start_node(n)
        return self.leader()

    def leader(self, among=None):
        def find():
            for n in (among or self.nodes):
                if http("GET", f"http://{n['http']}/v1/isleader")[0] == 200:
                    return n
            return None
        return wait("a sundial leader", find)

    def put_path(self, n):
        return f"http://{n['http']}"

    def write_ok(self, n, key, timeout=1.0):
        return http("PUT", f"http://{n['http']}/v1/kv/{key}", b"v", timeout=timeout)[0] == 200

    def wrk_script(self):
        return """
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("PUT", "/v1/kv/bench-" .. counter .. "-" .. math.random(1, 1000000000), nil, "value-0123456789abcdef")
end
"""


    def restart(self, n):
        self.start_node(n, fresh=False)



class EtcdCluster(Cluster):
    name = "etcd"

    def __init__(self, root):
        self.root = root
        self.nodes = []
        for i in range(3):
            self.nodes.append({"name": f"e{i}", "client": f"127.0.0.1:{free_port()}",
                               "peer": f"127.0.0.1:{free_port()}", "dir": os.path.join(root, f"e{i}")})
        self.procs = {}

    def start_node(self, n, state="new"):
        cluster = ",".join(f"{m['name']}=http://{m['peer']}" for m in self.nodes)
        args = ["etcd", "--name", n["name"], "--data-dir", n["dir"],
                "--listen-client-urls", f"http://{n['client']}", "--advertise-client-urls", f"http://{n['client']}",
                "--listen-peer-urls", f"http://{n['peer']}", "--initial-advertise-peer-urls", f"http://{n['peer']}",
                "--initial-cluster", cluster, "--initial-cluster-state", state, "--log-level", "error"]
        self.procs[n["name"]] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self):
        for n in self.nodes:
            self.start_node(n)
        return self.leader()

    def leader(self, among=None):
        def find():
            for n in (among or self.nodes):
                code, body = http("POST", f"http://{n['client']}/v3/maintenance/status", b"{}")
                if code == 200:
                    st = json.loads(body)
                    if st.get("leader") and st["leader"] == st["header"]["member_id"]:
                        return n
            return None
        return wait("an etcd leader", find)

    def put_path(self, n):
        return f"http://{n['client']}"

    def write_ok(self, n, key, timeout=1.0):
        body = json.dumps({"key": base64.b64encode(key.encode()).decode(), "value": "dg=="}).encode()
        return http("POST", f"http://{n['client']}/v3/kv/put", body, timeout=timeout)[0] == 200

    def wrk_script(self):
        return """
counter = 0
local b64chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
local function b64(data)
  return ((data:gsub('.', function(x)
    local r, b = '', x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2^i - b % 2^(i-1) > 0 and '1' or '0') end
    return r
  end) .. '0000'):gsub('%d%d%d?%d?%d?%d?', function(x)
    if (#x < 6) then return '' end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == '1' and 2^(6-i) or 0) end
    return b64chars:sub(c+1, c+1)
  end) .. ({ '', '==', '=' })[#data % 3 + 1])
end
request = function()
  counter = counter + 1
  local key = b64("bench-" .. counter .. "-" .. math.random(1, 1000000000))
  return wrk.format("POST", "/v3/kv/put", {["Content-Type"] = "application/json"},
                    '{"key":"' .. key .. '","value":"' .. b64("value-0123456789abcdef") .. '"}')
end
"""


    def restart(self, n):
        self.start_node(n, state="existing")



DONE = """
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout
  io.write(string.format("RESULT requests=%d duration_us=%d errors=%d p50_us=%d p99_us=%d\\n",
    summary.requests, summary.duration, errors, latency:percentile(50), latency:percentile(99)))
end
"""


def run_wrk(system, target, connections, seconds, workdir):
    script = os.path.join(workdir, f"{system.name}.lua")
    with open(script, "w") as f:
        f.write(system.wrk_script() + DONE)
    threads = 1 if connections == 1 else 2
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
                          "--timeout", "5s", "-s", script, target], capture_output=True, text=True)
    line = next(l for l in out.stdout.splitlines() if l.startswith("RESULT"))
    fields = dict(kv.split("=") for kv in line.split()[1:])
    fields = {k: int(v) for k, v in fields.items()}
    fields["rps"] = fields["requests"] / (fields["duration_us"] / 1e6)
    return fields


def failover(system, rounds):
    """Seconds from kill -9 of the leader until a write succeeds on a survivor. Each survivor is
    polled by its own thread with short client timeouts, so a request that hangs during the
    election does not quantise the measurement."""
    import threading
    times = []
    for r in range(rounds):
        leader = system.leader()
        survivors = [n for n in system.nodes if n is not leader]
        done = threading.Event()
        first = []
        lock = threading.Lock()

        def poll(n):
            i = 0
            while not done.is_set() and time.monotonic() - t0 < 30:
                i += 1
                if system.write_ok(n, f"failover-{r}-{n['name']}-{i}", timeout=0.25):
                    with lock:
                        first.append(time.monotonic())
                    done.set()
                    return
                time.sleep(0.005)

        system.kill9(leader)
        t0 = time.monotonic()
        threads = [threading.Thread(target=poll, args=(n,)) for n in survivors]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if not first:
            raise RuntimeError(f"{system.name}: no write succeeded 30 s after killing the leader")
        times.append(min(first) - t0)
        system.restart(leader)
        wait("a leader after the restart", lambda: system.leader())
        time.sleep(1.5)  # let the restarted member catch up before the next round
    return statistics.median(times), times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sundial", default=os.path.join(ROOT, "build", "bin", "sundial"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--failovers", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "kv_vs_etcd.txt"))
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="sundial-bench-")
    results = {}
    lines = []
    systems = [SundialCluster(args.sundial, os.path.join(root, "s")), EtcdCluster(os.path.join(root, "e"))]
    try:
        # Both clusters run side by side and the load points alternate between them, round
        # after round: drift in this shared machine's speed hits both alike. Each figure is the
        # median over the rounds.
        targets = {}
        for system in systems:
            targets[system.name] = system.put_path(system.start())
        samples = {system.name: {} for system in systems}
        for _ in range(args.rounds):
            for point, c in (("sequential", 1), ("c8", 8), ("c64", 64), ("c256", 256)):
                for system in systems:
                    samples[system.name].setdefault(point, []).append(
                        run_wrk(system, targets[system.name], c, args.seconds, root))
        for system in systems:
            res = {}
            for point, runs in samples[system.name].items():
                res[point] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                res[point]["errors"] = sum(r["errors"] for r in runs)
                res[point]["p99_all"] = [r["p99_us"] / 1000 for r in runs]
            res["failover_median_s"], res["failover_all"] = failover(system, args.failovers)
            results[system.name] = res
    finally:
        for system in systems:
            system.stop()
        shutil.rmtree(root, ignore_errors=True)

    s, e = results["sundial"], results["etcd"]
    def row(label, sv, ev, unit, higher_better):
        ratio = sv / ev if ev else float("nan")
        lines.append(f"{label:34} {sv:12.1f} {ev:12.1f} {unit:8} sundial/etcd {ratio:6.2f}"
                     + ("  (higher is better)" if higher_better else "  (lower is better)"))
    lines.append(f"# Sundial vs etcd {subprocess.run(['etcd', '--version'], capture_output=True, text=True).stdout.splitlines()[0]}")
    lines.append(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; {os.cpu_count()} cores; 3 servers each on 127.0.0.1, fsync on; wrk, {args.seconds}s per point, median of {args.rounds} alternating rounds")
    lines.append(f"{'measure':34} {'sundial':>12} {'etcd':>12}")
    row("sequential write p50", s["sequential"]["p50_us"] / 1000, e["sequential"]["p50_us"] / 1000, "ms", False)
    row("sequential write p99", s["sequential"]["p99_us"] / 1000, e["sequential"]["p99_us"] / 1000, "ms", False)
    row("throughput, 1 client", s["sequential"]["rps"], e["sequential"]["rps"], "writes/s", True)
    for c in (8, 64, 256):
        row(f"throughput, {c} clients", s[f"c{c}"]["rps"], e[f"c{c}"]["rps"], "writes/s", True)
    for c in (8, 64, 256):
        row(f"p99 latency, {c} clients", s[f"c{c}"]["p99_us"] / 1000, e[f"c{c}"]["p99_us"] / 1000, "ms", False)
    row("failover after kill -9 (median)", s["failover_median_s"], e["failover_median_s"], "s", False)
    lines.append(f"errors (non-2xx/timeouts): sundial {sum(s[k]['errors'] for k in ('sequential','c8','c64','c256'))}, "
                 f"etcd {sum(e[k]['errors'] for k in ('sequential','c8','c64','c256'))}")
    lines.append("sequential p99 per round (ms): sundial " + " ".join(f"{v:.1f}" for v in s["sequential"]["p99_all"])
                 + " | etcd " + " ".join(f"{v:.1f}" for v in e["sequential"]["p99_all"]))
    lines.append("failover samples (s): sundial " + " ".join(f"{t:.2f}" for t in s["failover_all"])
                 + " | etcd " + " ".join(f"{t:.2f}" for t in e["failover_all"]))
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
