#include "server/server.h"

#include <grpcpp/grpcpp.h>
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "api/answers.h"
#include "api/cluster_api.h"
#include "api/http_server.h"
#include "api/jobs_api.h"
#include "api/kv_api.h"
#include "api/metrics.h"
#include "api/openapi.h"
#include "base/hash.h"
#include "raft/codec.h"
#include "raft_node/node.h"
#include "server/run_services.h"
#include "state/kv_state.h"
#include "storage/raft_storage.h"
#include "transport.grpc.pb.h"
#include "transport/grpc_transport.h"

namespace sundial::server {

using namespace std::chrono_literals;

std::uint64_t node_id_for(const std::string& name) {
  const std::uint64_t h = base::fnv1a_64(name);
  return h == 0 ? 1 : h;
}

namespace {

transport::pb::MemberInfo to_pb(const state::member_info& m) {
  transport::pb::MemberInfo p;
  p.set_id(m.id);
  p.set_name(m.name);
  p.set_rpc_addr(m.rpc_addr);
  p.set_http_addr(m.http_addr);
  return p;
}

state::member_info from_pb(const transport::pb::MemberInfo& p) {
  return state::member_info{p.id(), p.name(), p.rpc_addr(), p.http_addr()};
}

bool is_member(const raft::conf_state& cs, std::uint64_t id) {
  auto in = [id](const std::vector<raft::node_id>& v) {
    return std::find(v.begin(), v.end(), raft::node_id{id}) != v.end();
  };
  return in(cs.voters) || in(cs.learners);
}

// This process's file-backed resident set (RssFile in /proc/self/status), 0 if unknown.
std::uint64_t resident_file_bytes() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  std::uint64_t kib = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "RssFile: %lu kB", &kib) == 1) break;
  }
  std::fclose(f);
  return kib * 1024;
}

struct node_receiver : transport::receiver {
  std::atomic<raft_node::node*> n{nullptr};
  void step(raft::message m) override {
    if (auto* x = n.load()) x->step(std::move(m));
  }
  void report_unreachable(raft::node_id p) override {
    if (auto* x = n.load()) x->report_unreachable(p);
  }
  void report_snapshot(raft::node_id p, bool ok) override {
    if (auto* x = n.load()) x->report_snapshot(p, ok);
  }
};

}  // namespace

struct server::impl : transport::pb::Cluster::Service {
  server_options opt;
  state::member_info self;
  std::string temp_dir;  // dev mode
  std::unique_ptr<storage::raft_storage> disk;
  std::unique_ptr<state::state_db> db;     // declared before its users
  std::unique_ptr<state::job_store> jobs;  // declared before kv: kv points to it
  std::unique_ptr<state::kv_state> kv;
  node_receiver rcv;
  std::unique_ptr<transport::grpc_transport> net;
  api::metrics metrics;  // before node: the node's apply hook points to it
  run_services runs;     // before node: its leadership callback points to it
  std::unique_ptr<raft_node::node> node;
  std::unique_ptr<api::http_server> http;  // created in start() with the options
  int http_port = 0;
  int rpc_port = 0;

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::map<std::uint64_t, state::member_info> discovered;  // formation
  std::thread background;                                  // join / promote loop
  std::thread leave_stopper;                               // POST /v1/leave
  std::mutex stop_mu;
  bool stopped = false;

  // ---- Cluster service ----
  grpc::Status Hello(grpc::ServerContext*, const transport::pb::HelloRequest* req,
                     transport::pb::HelloResponse* res) override {
    {
      std::lock_guard lock(mu);
      if (req->self().id() != 0) discovered[req->self().id()] = from_pb(req->self());
      for (const auto& [id, m] : discovered)
        *res->add_known() = to_pb(m);
    }
    cv.notify_all();
    *res->mutable_self() = to_pb(self);
    res->set_bootstrap_expect(static_cast<std::uint32_t>(opt.bootstrap_expect));
    res->set_in_cluster(node != nullptr && node->status().commit > raft::index_t{0});
    if (res->in_cluster()) {
      for (const auto& m : kv->members())
        *res->add_members() = to_pb(m);
    }
    return grpc::Status::OK;
  }

  // Membership changes are the leader's to make: true (with the refusal and a leader hint
  // written into `res`) unless this server leads; `st` is the status it decided on.
  template <class Response>
  bool refused_unless_leader(Response* res, raft_node::node_status& st) {
    if (!node) {
      res->set_error("this server is not part of a cluster yet");
      return true;
    }
    st = node->status();
    if (st.state == raft::role::leader) return false;
    if (auto m = kv->member(st.leader.value())) res->set_leader_rpc_addr(m->rpc_addr);
    res->set_error("not the leader");
    return true;
  }

  grpc::Status Join(grpc::ServerContext*, const transport::pb::JoinRequest* req,
                    transport::pb::JoinResponse* res) override {
    raft_node::node_status st;
    if (refused_unless_leader(res, st)) return grpc::Status::OK;
    const auto m = from_pb(req->member());
    if (m.id == 0 || m.rpc_addr.empty()) {
      res->set_error("a member needs an id and an RPC address");
      return grpc::Status::OK;
    }
    if (is_member(st.members, m.id)) {
      res->set_ok(true);  // already a member (a retried join): nothing to do
      return grpc::Status::OK;
    }
    net->set_peer(raft::node_id{m.id}, m.rpc_addr);
    // Joins as a learner; the promote loop makes it a voter once it has caught up.
    auto r =
        node->propose_conf_change(raft::conf_change{raft::conf_change_type::add_learner,
                                                    raft::node_id{m.id}, state::encode_member(m)},
                                  10s)
            .get();
    if (r.status != raft_node::outcome::committed) {
      res->set_error("could not add the member: " + r.message);
      return grpc::Status::OK;
    }
    res->set_ok(true);
    return grpc::Status::OK;
  }

  grpc::Status Leave(grpc::ServerContext*, const transport::pb::LeaveRequest* req,
                     transport::pb::LeaveResponse* res) override {
    raft_node::node_status st;
    if (refused_unless_leader(res, st)) return grpc::Status::OK;
    if (!is_member(st.members, req->id())) {
      res->set_ok(true);  // already removed (a retried leave)
      return grpc::Status::OK;
    }
    auto r =
        node->propose_conf_change(
                raft::conf_change{raft::conf_change_type::remove, raft::node_id{req->id()}, {}},
                10s)
            .get();
    if (r.status != raft_node::outcome::committed) {
      res->set_error("could not remove the member: " + r.message);
      return grpc::Status::OK;
    }
    spdlog::info("server: {} left the cluster", req->id());
    res->set_ok(true);
    return grpc::Status::OK;
  }

  // POST /v1/leave on this server: asks the leader to remove `id`, following leader hints and
  // retrying refusals (a membership change in flight, an election) until `timeout`.
  base::status ask_leader_to_remove(std::uint64_t id, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::system_clock::now() + timeout;
    std::string target;
    std::string last_error = "no leader is known";
    while (std::chrono::system_clock::now() < deadline) {
      if (target.empty()) {
        const auto st = node->status();
        if (auto m = kv->member(st.leader.value()); m && st.leader != raft::no_node)
          target = m->rpc_addr;
      }
      if (!target.empty()) {
        auto stub = transport::pb::Cluster::NewStub(
            grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
        grpc::ClientContext ctx;
        ctx.set_deadline(deadline);
        transport::pb::LeaveRequest req;
        req.set_id(id);
        transport::pb::LeaveResponse res;
        const grpc::Status s = stub->Leave(&ctx, req, &res);
        if (s.ok() && res.ok()) return {};
        last_error = target + ": " + (s.ok() ? res.error() : s.error_message());
        target = s.ok() ? res.leader_rpc_addr() : "";
        if (!target.empty()) continue;
      }
      std::unique_lock lock(mu);
      if (cv.wait_for(lock, 100ms, [&] { return stopping; }))
        return base::fail(base::errc::unavailable, "this server is shutting down");
    }
    return base::fail(base::errc::unavailable,
                      "the leader did not remove this server in time (" + last_error + ")");
  }

  // Stops the server shortly after POST /v1/leave answered: the HTTP server has no hook after a
  // response is written, and stopping at once would cut that answer off. Wakes early if
  // something else stops the server first.
  void stop_after_leave() {
    std::lock_guard lock(mu);
    if (leave_stopper.joinable()) return;
    leave_stopper = std::thread([this] {
      std::unique_lock l(mu);
      cv.wait_for(l, 500ms, [&] { return stopping; });
      stopping = true;
      l.unlock();
      cv.notify_all();
    });
  }

  // ---- formation ----
  base::status form_cluster() {
    // Meet the other servers until bootstrap_expect are known, then bootstrap with exactly
    // those (every server computes the same set). If one of them already runs a cluster, join
    // it instead.
    {
      std::lock_guard lock(mu);
      discovered[self.id] = self;
    }
    spdlog::info("server: waiting for {} servers to form a cluster", opt.bootstrap_expect);
    std::vector<state::member_info> founders;
    while (true) {
      bool existing = false;
      bool founder = false;
      std::vector<state::member_info> members;
      for (const auto& addr : opt.join) {
        auto stub = transport::pb::Cluster::NewStub(
            grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + 1s);
        transport::pb::HelloRequest req;
        *req.mutable_self() = to_pb(self);
        req.set_bootstrap_expect(static_cast<std::uint32_t>(opt.bootstrap_expect));
        transport::pb::HelloResponse res;
        if (!stub->Hello(&ctx, req, &res).ok()) continue;
        std::lock_guard lock(mu);
        discovered[res.self().id()] = from_pb(res.self());
        for (const auto& k : res.known())
          discovered[k.id()] = from_pb(k);
        if (res.in_cluster()) {
          existing = true;
          members.clear();
          for (const auto& m : res.members()) {
            members.push_back(from_pb(m));
            founder = founder || m.id() == self.id;
          }
        }
      }
      if (existing && founder) {
        // Another founder bootstrapped first with a configuration that includes us: write the
        // very same bootstrap state (same members, same image), so the logs agree.
        founders = members;
        break;
      }
      if (existing) return join_cluster();
      std::unique_lock lock(mu);
      if (discovered.size() >= static_cast<std::size_t>(opt.bootstrap_expect)) break;
      cv.wait_for(lock, 500ms, [&] { return stopping; });
      if (stopping) return base::fail(base::errc::unavailable, "stopped while forming the cluster");
    }
    raft::conf_state cs;
    if (founders.empty()) {
      // The first bootstrap_expect servers by id: every server that met the same servers
      // computes the same set.
      std::lock_guard lock(mu);
      for (const auto& [id, m] : discovered) {
        if (founders.size() == static_cast<std::size_t>(opt.bootstrap_expect)) break;
        founders.push_back(m);
      }
    }
    for (const auto& m : founders)
      cs.voters.emplace_back(m.id);
    spdlog::info("server: bootstrapping a cluster of {} servers", founders.size());
    return disk->bootstrap_with(cs, state::kv_state::initial_image(founders));
  }

  base::status join_cluster() {
    // Nothing to write: the leader's snapshot brings the state once we are added.
    return {};
  }

  void join_loop() {
    // Ask the join addresses (following leader hints) until one adds us.
    std::vector<std::string> targets = opt.join;
    while (true) {
      {
        std::unique_lock lock(mu);
        if (stopping) return;
      }
      for (std::size_t i = 0; i < targets.size(); ++i) {
        auto stub = transport::pb::Cluster::NewStub(
            grpc::CreateChannel(targets[i], grpc::InsecureChannelCredentials()));
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + 15s);
        transport::pb::JoinRequest req;
        *req.mutable_member() = to_pb(self);
        transport::pb::JoinResponse res;
        if (!stub->Join(&ctx, req, &res).ok()) continue;
        if (res.ok()) {
          spdlog::info("server: joined the cluster through {}", targets[i]);
          return;
        }
        if (!res.leader_rpc_addr().empty() &&
            std::find(targets.begin(), targets.end(), res.leader_rpc_addr()) == targets.end()) {
          targets.push_back(res.leader_rpc_addr());
        }
      }
      std::unique_lock lock(mu);
      cv.wait_for(lock, 1s, [&] { return stopping; });
    }
  }

  // On the leader: promote learners that have caught up.
  void promote_loop() {
    auto next_release = std::chrono::steady_clock::now();
    while (true) {
      {
        std::unique_lock lock(mu);
        cv.wait_for(lock, 500ms, [&] { return stopping; });
        if (stopping) return;
      }
      // Housekeeping: the state's pages are the kernel's cache, not this process's memory;
      // freed heap goes back to the system (a bulk restore parses large bodies).
      // Only past a threshold: unmapping races with readers' page faults, so a steady state
      // (a working set well under it) is never disturbed.
      if (std::chrono::steady_clock::now() >= next_release) {
        if (resident_file_bytes() > (std::uint64_t{128} << 20)) db->release_mapped_pages();
        ::malloc_trim(0);
        next_release = std::chrono::steady_clock::now() + 5s;
      }
      const auto st = node->status();
      if (st.state != raft::role::leader) continue;
      for (auto learner : st.members.learners) {
        auto it = st.match.find(learner);
        if (it == st.match.end() || it->second.value() + 10 < st.commit.value()) continue;
        auto r = node->propose_conf_change(
                         raft::conf_change{raft::conf_change_type::add_voter, learner, {}}, 5s)
                     .get();
        spdlog::info("server: promoting {} to voter: {}", learner.value(),
                     raft_node::to_string(r.status));
        break;  // one change at a time
      }
    }
  }
};

// Appends committed removals of every other member to the log and marks everything committed:
// on start the node applies them and is the only voter, so it can elect itself.
base::status force_single_member(storage::raft_storage& disk, std::uint64_t self) {
  auto snap = disk.get_snapshot();
  if (!snap) return snap.err();
  raft::conf_state conf = snap->metadata.conf;
  auto erase = [](std::vector<raft::node_id>& v, raft::node_id n) {
    v.erase(std::remove(v.begin(), v.end(), n), v.end());
  };
  const raft::index_t first = disk.first_index();
  const raft::index_t last = disk.last_index();
  if (last >= first) {
    auto es = disk.entries(std::max(first, snap->metadata.index.next()), last.next(), ~0ull);
    if (!es) return es.err();
    for (const auto& e : *es) {
      if (e.type != raft::entry_type::conf_change) continue;
      auto cc = raft::codec::decode_conf_change(e.data.view());
      if (!cc) continue;
      erase(conf.voters, cc->node);
      erase(conf.learners, cc->node);
      if (cc->type == raft::conf_change_type::add_voter) conf.voters.push_back(cc->node);
      if (cc->type == raft::conf_change_type::add_learner) conf.learners.push_back(cc->node);
    }
  }
  if (std::find(conf.voters.begin(), conf.voters.end(), raft::node_id{self}) == conf.voters.end()) {
    return base::fail(base::errc::invalid_argument,
                      "--force-new-cluster: this server is not a voter in its own log");
  }
  raft::hard_state hs = disk.initial_hard_state();
  std::vector<raft::entry> removals;
  raft::index_t next = last.next();
  for (const auto& list : {conf.voters, conf.learners}) {
    for (auto id : list) {
      if (id.value() == self) continue;
      // No proposer: 16 zero bytes where a proposal's tag would be.
      raft::conf_change cc{raft::conf_change_type::remove, id, std::string(16, '\0')};
      removals.push_back(raft::entry{hs.term, next, raft::entry_type::conf_change,
                                     raft::payload(raft::codec::encode(cc))});
      next = next.next();
    }
  }
  hs.commit = next.prev();
  spdlog::warn(
      "server: --force-new-cluster: removing {} other member(s); committing through index {}",
      removals.size(), hs.commit.value());
  return disk.save(hs, removals, std::nullopt);
}

server::server(std::unique_ptr<impl> i) : impl_(std::move(i)) {}
server::~server() {
  stop();
}

base::result<std::unique_ptr<server>> server::start(const server_options& o) {
  auto im = std::make_unique<impl>();
  im->opt = o;
  if (o.node_name.empty())
    return base::fail(base::errc::invalid_argument, "--node-name is required");
  std::string data_dir = o.data_dir;
  if (o.dev && data_dir.empty()) {
    std::string t = (std::filesystem::temp_directory_path() / "sundial-dev-XXXXXX").string();
    data_dir = ::mkdtemp(t.data());
    im->temp_dir = data_dir;
  }
  if (data_dir.empty())
    return base::fail(base::errc::invalid_argument, "--data-dir is required for a server");
  auto disk = storage::raft_storage::open(data_dir);
  if (!disk) return disk.err();
  im->disk = std::move(disk).value();
  auto db = state::state_db::open(data_dir + "/state");
  if (!db) return db.err();
  im->db = std::move(db).value();
  im->jobs = std::make_unique<state::job_store>(*im->db);
  im->kv = std::make_unique<state::kv_state>(*im->db);
  im->kv->attach(im->jobs.get());

  // Transport and cluster service first: formation needs them answering.
  auto rpc = api::split_host_port(o.rpc_addr);
  if (!rpc) return base::fail(rpc.err().code, "--rpc-addr: " + rpc.err().message);
  im->self = state::member_info{node_id_for(o.node_name), o.node_name, o.rpc_addr, o.http_addr};
  transport::transport_options topt;
  topt.advertise = o.rpc_addr;
  topt.snapshot_dir = data_dir + "/snap";  // where raft_storage keeps snapshots (adopts them)
  im->net = std::make_unique<transport::grpc_transport>(raft::node_id{im->self.id}, topt);
  std::vector<grpc::Service*> services{im.get()};
  for (auto* svc : im->runs.grpc_services())
    services.push_back(svc);
  auto port = im->net->start(o.rpc_addr, im->rcv, services);
  if (!port) return port.err();
  im->rpc_port = *port;

  bool joining = false;
  if (o.force_new_cluster) {
    if (im->disk->is_new())
      return base::fail(base::errc::invalid_argument,
                        "--force-new-cluster needs existing data in --data-dir");
    if (auto st = force_single_member(*im->disk, im->self.id); !st) return st.err();
  }
  if (im->disk->is_new()) {
    if (o.dev || o.bootstrap_expect == 1 || (o.bootstrap_expect == 0 && o.join.empty())) {
      raft::conf_state cs{{raft::node_id{im->self.id}}, {}};
      if (auto st = im->disk->bootstrap_with(cs, state::kv_state::initial_image({im->self})); !st)
        return st.err();
    } else if (o.bootstrap_expect > 1) {
      if (o.join.empty())
        return base::fail(base::errc::invalid_argument,
                          "--bootstrap-expect needs --join addresses of the other servers");
      if (auto st = im->form_cluster(); !st) return st.err();
      joining = im->disk->is_new();
    } else {
      joining = true;  // --join without --bootstrap-expect: ask to be added
    }
  }

  // The state belongs to this log only if it has not applied past the log's commit index (a
  // replaced or force-rewritten raft directory): otherwise start it over from the snapshot.
  if (im->db->applied() > im->disk->initial_hard_state().commit.value()) {
    spdlog::warn(
        "server: the state has applied index {} but the log commits only through {}; "
        "rebuilding the state from the snapshot and log",
        im->db->applied(), im->disk->initial_hard_state().commit.value());
    if (auto st = im->db->reset(); !st) return st.err();
  }

  raft_node::node_options nopt;
  nopt.id = raft::node_id{im->self.id};
  nopt.tick = o.tick;
  nopt.election_ticks = o.election_ticks;
  nopt.snapshot_every = o.snapshot_every;
  nopt.snapshot_retain = o.snapshot_retain;
  auto* pim = im.get();
  nopt.on_apply = [pim](std::chrono::nanoseconds d) { pim->metrics.observe_apply(d); };
  nopt.on_conf_change = [pim](const std::optional<raft::conf_change>& cc, const raft::conf_state&) {
    if (!cc) return;
    if (cc->type == raft::conf_change_type::remove) {
      if (cc->node.value() != pim->self.id) pim->net->remove_peer(cc->node);
      return;
    }
    // The member list itself is kept by the state machine (kv_state::apply_membership).
    if (auto m = state::decode_member(cc->context)) {
      if (m->id != pim->self.id) pim->net->set_peer(raft::node_id{m->id}, m->rpc_addr);
    }
  };
  im->runs.attach(*im->jobs);
  auto n = raft_node::node::start(nopt, *im->disk, *im->kv, *im->net);
  if (!n) return n.err();
  im->node = std::move(n).value();
  im->rcv.n = im->node.get();
  for (const auto& m : im->kv->members()) {
    if (m.id != im->self.id) im->net->set_peer(raft::node_id{m.id}, m.rpc_addr);
  }

  run_options ropt;
  ropt.node_name = o.node_name;
  ropt.agent_dir = data_dir + "/agent";
  ropt.tags = o.tags;
  ropt.tags["role"] = "sundial";
  ropt.lookahead = o.lookahead;
  ropt.agent_ttl = o.agent_ttl;
  if (auto st = im->runs.start(ropt, *im->node, *im->jobs, *im->kv, im->metrics); !st)
    return st.err();

  api::http_options hopt = o.http;
  // Restore uploads are spooled beside the data (often a larger disk than /tmp); whatever a
  // crash left there is removed now.
  hopt.temp_dir = data_dir + "/tmp";
  std::error_code ec;
  std::filesystem::remove_all(hopt.temp_dir, ec);
  std::filesystem::create_directories(hopt.temp_dir, ec);
  if (ec)
    return base::fail(base::errc::io_error, "cannot create " + hopt.temp_dir + ": " + ec.message());
  im->http = std::make_unique<api::http_server>(hopt);
  api::register_kv_routes(*im->http, *im->node, *im->kv);
  api::jobs_api_options jopt;
  jopt.max_restore_bytes = o.max_restore_bytes;
  jopt.now_us = [] {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  api::register_job_routes(*im->http, *im->node, *im->kv, *im->jobs, jopt);
  // Per-peer transport status (active since, bytes, drops, last error) for operators.
  im->http->route("GET", "/v1/raft/transport", [pim](const api::request&) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& p : pim->net->status()) {
      const auto since =
          std::chrono::duration_cast<std::chrono::seconds>(p.active_since.time_since_epoch())
              .count();
      out.push_back({{"id", std::to_string(p.id.value())},
                     {"address", p.address},
                     {"active", p.active},
                     {"active_since_unix", p.active ? since : 0},
                     {"bytes_sent", p.bytes_sent},
                     {"bytes_received", p.bytes_received},
                     {"dropped", p.dropped},
                     {"last_error", p.last_error}});
    }
    return api::json_ok(200, out);
  });
  api::cluster_api_options copt;
  copt.self = im->self;
  // A peer counts as failed once the transport failed to reach it (a stream that broke or
  // never connected), not merely because this node has had nothing to send it.
  copt.unreachable_peers = [pim] {
    std::set<std::uint64_t> down;
    for (const auto& p : pim->net->status()) {
      if (!p.active && !p.last_error.empty()) down.insert(p.id.value());
    }
    return down;
  };
  copt.remove_from_cluster = [pim](std::uint64_t id, std::chrono::milliseconds timeout) {
    return pim->ask_leader_to_remove(id, timeout);
  };
  copt.stop = [pim] { pim->stop_after_leave(); };
  api::register_cluster_routes(*im->http, *im->node, *im->kv, std::move(copt));
  api::register_metrics(*im->http, *im->node, im->metrics);
  api::register_openapi_route(*im->http);
  im->http->set_default_header("X-Whom", o.node_name);
  auto hp = im->http->start(o.http_addr);
  if (!hp) return hp.err();
  im->http_port = *hp;
  im->background = std::thread([pim, joining] {
    if (joining) pim->join_loop();
    pim->promote_loop();
  });
  spdlog::info("server {} ({:x}): HTTP on {}, RPC on {}, data in {}", o.node_name, im->self.id,
               o.http_addr, o.rpc_addr, data_dir);
  return std::unique_ptr<server>(new server(std::move(im)));
}

void server::wait() {
  std::unique_lock lock(impl_->mu);
  impl_->cv.wait(lock, [&] { return impl_->stopping; });
}

void server::request_stop() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
}

void server::stop() {
  if (!impl_) return;
  std::lock_guard once(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  request_stop();
  if (impl_->background.joinable()) impl_->background.join();
  std::thread leave_stopper;
  {
    std::lock_guard lock(impl_->mu);
    leave_stopper = std::move(impl_->leave_stopper);
  }
  if (leave_stopper.joinable()) leave_stopper.join();
  impl_->runs.stop();
  if (impl_->http) impl_->http->stop();
  if (impl_->node) impl_->node->stop();
  impl_->rcv.n = nullptr;
  if (impl_->net) impl_->net->stop();
  impl_->node.reset();
  // A clean stop leaves the whole log in LMDB and the write-ahead file empty (a crash leaves
  // it to be replayed at the next start).
  if (impl_->disk) {
    if (auto st = impl_->disk->checkpoint(); !st)
      spdlog::error("could not checkpoint the Raft log at shutdown: {}", st.err().message);
  }
  impl_->disk.reset();
  // Synced now, the state is trusted after a machine restart too (state_db.h).
  if (impl_->db) {
    if (auto st = impl_->db->close_clean(); !st)
      spdlog::error("could not sync the state at shutdown: {}", st.err().message);
  }
  impl_->kv.reset();
  impl_->jobs.reset();
  impl_->db.reset();
  if (!impl_->temp_dir.empty()) std::filesystem::remove_all(impl_->temp_dir);
}

int server::http_port() const {
  return impl_->http_port;
}
int server::rpc_port() const {
  return impl_->rpc_port;
}

std::vector<api::route_info> server::http_routes() const {
  return impl_->http->routes();
}

std::string server::serve_http_bytes(std::string_view raw) {
  return impl_->http->serve_bytes(raw);
}

}  // namespace sundial::server
