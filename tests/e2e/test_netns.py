"""An isolated leader, with real network isolation: each server in its own network namespace
(made by this test, root only), joined by a bridge in a switch namespace; isolating the leader
is pulling its cable (link down). Skipped when not root or without `ip`."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import BINARY, TICK_MS

SUBNET = "10.213.77"  # addresses exist only inside this test's own namespaces

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                                reason="network namespaces need root and iproute2")


def sh(*args, check=True):
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=30)


def ns_http(ns, method, url, data=None, timeout=10):
    """curl from inside namespace `ns`: returns (status, body)."""
    args = ["ip", "netns", "exec", ns, "curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-m", str(timeout),
            "-X", method, url]
    if data is not None:
        args += ["--data-binary", data]
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout + 5)
    body, _, code = out.stdout.rpartition("\n")
    return int(code or 0), body


def wait(what, pred, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


@pytest.fixture
def netns_cluster():
    tag = f"sd{os.getpid() % 100000}"
    switch = f"{tag}-sw"
    nodes = [f"{tag}-n{i}" for i in (1, 2, 3)]
    root = tempfile.mkdtemp(prefix="sundial-netns-")
    procs = []
    try:
        sh("ip", "netns", "add", switch)
        sh("ip", "-n", switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", switch, "link", "set", "br0", "up")
        for i, ns in enumerate(nodes, start=1):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "link", "add", f"{tag}v{i}", "netns", ns, "type", "veth", "peer", "name", f"p{i}", "netns", switch)
            sh("ip", "-n", ns, "addr", "add", f"{SUBNET}.{i}/24", "dev", f"{tag}v{i}")
            sh("ip", "-n", ns, "link", "set", f"{tag}v{i}", "up")
            sh("ip", "-n", switch, "link", "set", f"p{i}", "master", "br0")
            sh("ip", "-n", switch, "link", "set", f"p{i}", "up")
        joins = sum((["--join", f"{SUBNET}.{i}:6868"] for i in (1, 2, 3)), [])
        for i, ns in enumerate(nodes, start=1):
            log = open(os.path.join(root, f"n{i}.log"), "wb")
            procs.append(subprocess.Popen(
                ["ip", "netns", "exec", ns, BINARY, "agent", "--server", "--node-name", f"n{i}",
                 "--data-dir", os.path.join(root, f"n{i}"), "--rpc-addr", f"{SUBNET}.{i}:6868",
                 "--http-addr", f"{SUBNET}.{i}:8080", "--tick-ms", str(TICK_MS), "--bootstrap-expect", "3", *joins],
                stdout=log, stderr=subprocess.STDOUT))
        yield {"switch": switch, "nodes": nodes, "procs": procs}
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        for ns in [switch, *nodes]:
            sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(root, ignore_errors=True)


def test_isolated_leader_refuses_and_steps_down(netns_cluster):
    nodes = netns_cluster["nodes"]
    url = lambda i: f"http://{SUBNET}.{i}:8080"

    def leader_index():
        for i, ns in enumerate(nodes, start=1):
            if ns_http(ns, "GET", url(i) + "/v1/isleader", timeout=2)[0] == 200:
                return i
        return None

    old = wait("a leader", leader_index)
    code, _ = ns_http(nodes[old - 1], "PUT", url(old) + "/v1/kv/x", "before")
    assert code == 200
    # Pull the leader's cable.
    sh("ip", "-n", netns_cluster["switch"], "link", "set", f"p{old}", "down")
    try:
        # The old leader can neither write nor serve a linearizable read...
        code, body = ns_http(nodes[old - 1], "PUT", url(old) + "/v1/kv/x", "lost", timeout=10)
        assert code == 503, (code, body)
        code, body = ns_http(nodes[old - 1], "GET", url(old) + "/v1/kv/x", timeout=10)
        assert code == 503, (code, body)
        # ...and steps down, while the others elect a leader and write.
        wait("the isolated leader to step down",
             lambda: ns_http(nodes[old - 1], "GET", url(old) + "/v1/isleader", timeout=2)[0] == 404)
        others = [i for i in (1, 2, 3) if i != old]
        new = wait("a new leader among the others",
                   lambda: next((i for i in others if ns_http(nodes[i - 1], "GET", url(i) + "/v1/isleader", timeout=2)[0] == 200), None))
        assert ns_http(nodes[new - 1], "PUT", url(new) + "/v1/kv/x", "after")[0] == 200
    finally:
        sh("ip", "-n", netns_cluster["switch"], "link", "set", f"p{old}", "up")
    # Healed: the old leader follows and reads the new value.
    wait("the old leader to read the new value",
         lambda: ns_http(nodes[old - 1], "GET", url(old) + "/v1/kv/x", timeout=5) == (200, "after"))
