"""Cluster formation, replication through any node, failover, restarts and corruption."""
import os
import signal

import pytest
import requests

from conftest import wait_for


def put_ok(server, key, value):
    r = server.put(f"/v1/kv/{key}", value)
    assert r.status_code == 200, f"PUT {key} on {server.name}: {r.status_code} {r.text}"
    return r.json()["index"]


@pytest.mark.parametrize("size", [3, 5])
def test_formation_and_writes_through_any_node(cluster, size):
    leader = cluster.form(size)
    for i, s in enumerate(cluster.servers):
        put_ok(s, f"from-{s.name}", f"value-{i}")
    # Linearizable reads on every node see every acknowledged write.
    for s in cluster.servers:
        for i, w in enumerate(cluster.servers):
            r = s.get(f"/v1/kv/from-{w.name}")
            assert r.status_code == 200 and r.text == f"value-{i}", (s.name, w.name, r.status_code, r.text)
            assert int(r.headers["X-Sundial-Index"]) > 0
    assert leader.get("/v1/isleader").status_code == 200
    for s in cluster.servers:
        if s is not leader:
            assert s.get("/v1/isleader").status_code == 404


def test_kv_semantics(cluster):
    s = cluster.form(3)
    assert s.get("/v1/kv/absent").status_code == 404
    i1 = put_ok(s, "k", b"\x00binary\xff")
    r = s.get("/v1/kv/k")
    assert r.content == b"\x00binary\xff" and int(r.headers["X-Sundial-Index"]) == i1
    assert s.put("/v1/kv/k?cas=1", "no").status_code == 409
    assert s.put(f"/v1/kv/k?cas={i1}", "yes").status_code == 200
    assert s.put("/v1/kv/new?cas=0", "created").status_code == 200
    assert s.put("/v1/kv/new?cas=0", "again").status_code == 409
    assert s.put("/v1/kv/k?cas=abc", "x").status_code == 400
    assert s.put("/v1/kv/" + "k" * 513, "x").status_code == 413
    assert s.put("/v1/kv/big", "v" * (64 * 1024 + 1)).status_code == 413
    assert s.put("/v1/kv/big", "v" * (64 * 1024)).status_code == 200
    assert s.delete("/v1/kv/k").status_code == 200
    assert s.get("/v1/kv/k").status_code == 404
    assert s.get("/v1/kv/k?stale").status_code == 404
    assert s.get("/no/such/route").status_code == 404
    assert requests.patch(s.url + "/v1/kv/k", timeout=5).status_code == 405


def test_kill9_leader_loses_no_acknowledged_write(cluster):
    leader = cluster.form(3)
    acked = {}
    for i in range(30):
        key = f"acked-{i}"
        put_ok(leader, key, str(i))
        acked[key] = str(i)
    leader.kill9()
    new_leader = cluster.wait_leader()
    assert new_leader is not leader
    for s in cluster.live():
        for k, v in acked.items():
            r = s.get(f"/v1/kv/{k}")
            assert r.status_code == 200 and r.text == v, (s.name, k, r.status_code, r.text)
    # The killed server restarts from its data directory alone and catches up.
    put_ok(new_leader, "after-failover", "yes")
    leader.start()
    wait_for(f"{leader.name} to catch up",
             lambda: leader.get("/v1/kv/after-failover?stale").status_code == 200)
    assert leader.get("/v1/kv/acked-29").text == "29"


def test_restarted_server_catches_up_through_a_snapshot(cluster):
    leader = cluster.form(3, ["--snapshot-every", "20", "--snapshot-retain", "5"])
    lagging = next(s for s in cluster.servers if s is not leader)
    lagging.kill9()
    # Enough writes for several snapshots: the compacted log no longer holds what it missed.
    for i in range(120):
        put_ok(leader, f"snap-{i}", str(i))
    snaps = os.listdir(os.path.join(leader.data_dir, "snap"))
    assert any(name.endswith(".snap") for name in snaps), snaps
    lagging.start()
    wait_for(f"{lagging.name} to catch up", lambda: lagging.get("/v1/kv/snap-119?stale").status_code == 200)
    assert lagging.get("/v1/kv/snap-0?stale").text == "0"


def test_server_joins_and_is_promoted(cluster):
    leader = cluster.form(3)
    put_ok(leader, "before-join", "1")
    newcomer = type(cluster.servers[0])(cluster, "s4")
    cluster.servers.append(newcomer)
    newcomer.start(["--join", cluster.servers[0].rpc])
    wait_for("s4 to receive the data", lambda: newcomer.get("/v1/kv/before-join?stale").status_code == 200)
    wait_for("s4 to be promoted to voter",
             lambda: any(p.get("name") == "s4" and p["voter"] for p in leader.get("/v1/raft/peers").json()))


def test_sigstopped_leader_never_serves_stale_data(cluster):
    old = cluster.form(3)
    put_ok(old, "x", "old")
    os.kill(old.proc.pid, signal.SIGSTOP)
    try:
        others = [s for s in cluster.servers if s is not old]
        new = wait_for("a new leader among the others",
                       lambda: next((s for s in others if s.get("/v1/isleader", timeout=2).status_code == 200), None))
        put_ok(new, "x", "new")
    finally:
        os.kill(old.proc.pid, signal.SIGCONT)
    # Right after waking, the old leader must not answer a linearizable read from its stale state.
    r = old.get("/v1/kv/x", timeout=10)
    assert not (r.status_code == 200 and r.text == "old"), "stale read served by a deposed leader"
    wait_for("the old leader to step down", lambda: old.get("/v1/isleader").status_code == 404)
    wait_for("the old leader to see the new value", lambda: old.get("/v1/kv/x").text == "new")


def test_corrupted_log_tail_is_reported_at_start(cluster):
    leader = cluster.form(3)
    victim = next(s for s in cluster.servers if s is not leader)
    marker = b"TAIL-MARKER-" + b"z" * 40
    put_ok(leader, "tail", marker)
    wait_for("the victim to apply the marker", lambda: victim.get("/v1/kv/tail?stale").content == marker)
    victim.stop()
    path = os.path.join(victim.data_dir, "raft", "data.mdb")
    data = bytearray(open(path, "rb").read())
    at = data.find(marker)
    assert at > 0, "the marker entry is in the log file"
    data[at + 5] ^= 0xFF
    open(path, "wb").write(bytes(data))
    victim.start()
    victim.proc.wait(timeout=20)
    assert victim.proc.returncode != 0
    log = victim.log_text()
    assert "data.mdb" in log and "checksum" in log, log[-2000:]


def run_cli(*args):
    import subprocess
    from conftest import BINARY
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=30)


def test_remove_a_server_with_the_cli(cluster):
    leader = cluster.form(3)
    victim = next(s for s in cluster.servers if s is not leader)
    out = run_cli("raft", "list-peers", "--address", leader.http)
    assert out.returncode == 0 and victim.name in out.stdout, out.stdout + out.stderr
    out = run_cli("raft", "remove-peer", victim.name, "--address", leader.http)
    assert out.returncode == 0, out.stderr
    peers = leader.get("/v1/raft/peers").json()
    assert victim.name not in [p.get("name") for p in peers] and len(peers) == 2
    victim.stop()
    # Two voters remain and still commit.
    put_ok(leader, "after-removal", "ok")
    out = run_cli("raft", "remove-peer", "nobody", "--address", leader.http)
    assert out.returncode != 0 and "no member" in out.stderr
    out = run_cli("raft", "list-peers", "--address", "127.0.0.1:1")
    assert out.returncode != 0 and "cannot reach" in out.stderr


def test_quorum_loss_and_the_recovery_path(cluster):
    leader = cluster.form(3)
    for i in range(10):
        put_ok(leader, f"keep-{i}", str(i))
    survivor = next(s for s in cluster.servers if s is not leader)
    for s in cluster.servers:
        if s is not survivor:
            s.kill9()
    # Without a quorum nothing is written and linearizable reads are refused.
    r = survivor.put("/v1/kv/lost", "x", timeout=15)
    assert r.status_code == 503, r.text
    assert survivor.get("/v1/kv/keep-0", timeout=15).status_code == 503
    # Recovery (docs/operations.md): restart the survivor alone with --force-new-cluster.
    survivor.stop()
    survivor.start(["--force-new-cluster"])
    wait_for("the survivor to lead alone", lambda: survivor.get("/v1/isleader").status_code == 200)
    assert [p["name"] for p in survivor.get("/v1/raft/peers").json()] == [survivor.name]
    for i in range(10):
        assert survivor.get(f"/v1/kv/keep-{i}").text == str(i)
    put_ok(survivor, "after-recovery", "yes")
    # New servers join the recovered cluster.
    fresh = type(survivor)(cluster, "fresh")
    cluster.servers.append(fresh)
    fresh.start(["--join", survivor.rpc])
    wait_for("the new server to receive the data", lambda: fresh.get("/v1/kv/after-recovery?stale").status_code == 200)


def test_options_from_yaml_file_and_environment(cluster, tmp_path):
    import subprocess
    from conftest import BINARY, Server
    s = Server(cluster, "yaml-node")
    cluster.servers.append(s)
    cfg = tmp_path / "sundial.yaml"
    # The file names the node and its data; the environment overrides the HTTP address.
    cfg.write_text(f"server: true\nnode-name: yaml-node\ndata-dir: {s.data_dir}\n"
                   f"rpc-addr: {s.rpc}\nhttp-addr: 127.0.0.1:1\nbootstrap-expect: 1\ntick-ms: 50\n")
    env = dict(os.environ, SUNDIAL_HTTP_ADDR=s.http)
    s.log = open(s.log_path, "ab")
    s.proc = subprocess.Popen([BINARY, "agent", "--config-file", str(cfg)], env=env,
                              stdout=s.log, stderr=subprocess.STDOUT)
    wait_for("the YAML-configured node to lead", lambda: s.get("/v1/isleader").status_code == 200)
    assert s.get("/v1/leader").json()["Name"] == "yaml-node"
    put_ok(s, "configured", "yes")
    bad = tmp_path / "bad.yaml"
    bad.write_text("node-name: x\nno-such-option: 1\n")
    out = subprocess.run([BINARY, "agent", "--config-file", str(bad)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "unknown option" in out.stderr, out.stderr


def test_transport_status_per_peer(cluster):
    leader = cluster.form(3)
    put_ok(leader, "t", "1")
    peers = leader.get("/v1/raft/transport").json()
    assert len(peers) == 2
    assert all(p["active"] and p["bytes_sent"] > 0 and p["active_since_unix"] > 0 for p in peers), peers
    victim = next(s for s in cluster.servers if s is not leader)
    victim.kill9()
    wait_for("the leader to see the dead peer as down",
             lambda: any(not p["active"] and p["last_error"] for p in leader.get("/v1/raft/transport").json()))
