"""Black-box tests: real `sundial` processes on 127.0.0.1 with free ports and temporary data
directories. Every wait is bounded and says what it waited for."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("SUNDIAL_BIN", os.path.join(ROOT, "build", "bin", "sundial"))
TICK_MS = 50  # election timeout 10 ticks = 0.5 s: fast failover in tests


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, predicate, timeout=20.0, interval=0.05):
    """Polls `predicate` until it returns a truthy value; fails naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except requests.RequestException as e:  # a server restarting or not up yet
            last_error = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                         + (f" (last error: {last_error})" if last_error else ""))


class Server:
    def __init__(self, cluster, name):
        self.cluster = cluster
        self.name = name
        self.rpc = f"127.0.0.1:{free_port()}"
        self.http = f"127.0.0.1:{free_port()}"
        self.data_dir = os.path.join(cluster.root, name)
        self.log_path = os.path.join(cluster.root, name + ".log")
        self.proc = None

    @property
    def url(self):
        return "http://" + self.http

    def start(self, extra=()):
        args = [BINARY, "agent", "--server", "--node-name", self.name, "--data-dir", self.data_dir,
                "--rpc-addr", self.rpc, "--http-addr", self.http, "--tick-ms", str(TICK_MS),
                *self.cluster.common_args, *extra]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def get(self, path, **kw):
        return requests.get(self.url + path, timeout=kw.pop("timeout", 5), **kw)

    def put(self, path, data, **kw):
        return requests.put(self.url + path, data=data, timeout=kw.pop("timeout", 10), **kw)

    def delete(self, path, **kw):
        return requests.delete(self.url + path, timeout=kw.pop("timeout", 10), **kw)

    def health(self):
        return self.get("/health", timeout=2).json()

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")


class Cluster:
    def __init__(self, root):
        self.root = root
        self.servers = []
        self.common_args = []

    def form(self, n, extra=()):
        self.servers = [Server(self, f"s{i}") for i in range(1, n + 1)]
        joins = []
        for s in self.servers:
            joins += ["--join", s.rpc]
        self.common_args = list(extra)
        for s in self.servers:
            s.start(["--bootstrap-expect", str(n), *joins])
        return self.wait_leader()

    def live(self):
        return [s for s in self.servers if s.alive()]

    def leader(self):
        """The server every live member agrees leads, or None."""
        names = set()
        for s in self.live():
            try:
                r = s.get("/v1/leader", timeout=2)
            except requests.RequestException:
                return None
            if r.status_code != 200:
                return None
            names.add(r.json().get("Name"))
        if len(names) != 1:
            return None
        name = names.pop()
        return next((s for s in self.servers if s.name == name and s.alive()), None)

    def wait_leader(self, timeout=20.0):
        try:
            return wait_for("one leader agreed by every live server", self.leader, timeout)
        except AssertionError as e:
            # Say which servers lived and what they last logged: a flake is then diagnosable.
            lines = [str(e)]
            for s in self.servers:
                tail = b""
                try:
                    with open(s.log_path, "rb") as f:
                        tail = b"".join(f.readlines()[-6:])
                except OSError:
                    pass
                lines.append(f"--- {s.name} alive={s.alive()} http={s.http} rpc={s.rpc}\n"
                             + tail.decode(errors="replace"))
            raise AssertionError("\n".join(lines)) from None

    def stop(self):
        for s in self.servers:
            s.stop()


@pytest.fixture
def cluster():
    if not os.path.exists(BINARY):
        pytest.fail(f"{BINARY} is missing: build first (make build)")
    root = tempfile.mkdtemp(prefix="sundial-e2e-")
    c = Cluster(root)
    yield c
    c.stop()
    shutil.rmtree(root, ignore_errors=True)


# Each test's reports (setup, call, teardown) on its item, so a fixture can tell in its teardown
# whether the test failed (request.node.rep_call.failed).
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def kept_cluster(request):
    """Like `cluster`, but a failed test keeps its data directories and logs (the path and each
    server's last warnings are printed), so a bug report can quote them. SUNDIAL_E2E_KEEP=1 keeps
    them always."""
    if not os.path.exists(BINARY):
        pytest.fail(f"{BINARY} is missing: build first (make build)")
    root = tempfile.mkdtemp(prefix="sundial-e2e-" + request.node.name[:40] + "-")
    c = Cluster(root)
    yield c
    c.stop()
    rep = getattr(request.node, "rep_call", None)
    failed = rep is None or rep.failed
    if failed or os.environ.get("SUNDIAL_E2E_KEEP"):
        print(f"\n=== kept {root} (server logs: {', '.join(s.log_path for s in c.servers)})")
        for s in c.servers:
            try:
                with open(s.log_path, "rb") as f:
                    lines = f.read().decode(errors="replace").splitlines()
            except OSError:
                continue
            notable = [l for l in lines if " warn " in l or " error " in l or "ERROR" in l]
            print(f"--- {s.name}: {len(lines)} lines, last warnings/errors:")
            for l in notable[-15:]:
                print("  " + l)
    else:
        shutil.rmtree(root, ignore_errors=True)
