#include "server/run_services.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "agent/agent.h"
#include "agent/agent_service.h"
#include "base/clock.h"
#include "exec/supervisor.h"
#include "scheduler/leader.h"

namespace sundial::server {

using namespace std::chrono;

namespace {

// A few threads making blocking gRPC calls with deadlines, so that neither the scheduler's
// loop nor the agent's reporter ever waits on a slow or dead peer.
class call_pool {
 public:
  explicit call_pool(int threads) {
    for (int i = 0; i < threads; ++i)
      workers_.emplace_back([this] { work(); });
  }
  ~call_pool() { stop(); }
  void stop() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      cv_.notify_all();
    }
    for (auto& t : workers_)
      t.join();
  }
  // Queues `fn`; false when stopping or when too much is queued (the caller answers an error).
  bool run(std::function<void()> fn) {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= 10000) return false;
    queue_.push_back(std::move(fn));
    cv_.notify_one();
    return true;
  }

 private:
  void work() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      auto fn = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

// Scheduler.Report on every server: the leader's scheduler takes it; others say who leads.
class report_service final : public agent::pb::Scheduler::Service {
 public:
  std::atomic<scheduler::leader*> leader{nullptr};
  std::function<std::string()> leader_rpc;

  grpc::Status Report(grpc::ServerContext*, const agent::pb::ReportRequest* req,
                      agent::pb::ReportResponse* resp) override {
    scheduler::leader* l = leader.load();
    if (!l) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the scheduler is not running");
    auto done = std::make_shared<std::promise<base::status>>();
    auto answer = done->get_future();
    l->report(*req, [done](base::status st) { done->set_value(std::move(st)); });
    if (answer.wait_for(seconds(10)) != std::future_status::ready) {
      resp->set_error("no commit within 10 s");
      return grpc::Status::OK;
    }
    const base::status st = answer.get();
    resp->set_accepted(st.ok());
    if (!st) {
      resp->set_error(st.err().message);
      if (leader_rpc) resp->set_leader_rpc(leader_rpc());
    }
    return grpc::Status::OK;
  }
};

}  // namespace

struct run_services::impl {
  agent::agent_service agent_rpc;
  report_service report_rpc;
  base::real_clock clock;
  run_options opt;
  raft_node::node* node = nullptr;
  state::kv_state* kv = nullptr;
  std::unique_ptr<exec::supervisor> runner;
  std::unique_ptr<agent::agent> local;
  std::unique_ptr<scheduler::leader> leader;
  std::unique_ptr<call_pool> calls;
  std::mutex channels_mu;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels;

  std::shared_ptr<grpc::Channel> channel(const std::string& addr) {
    std::lock_guard lock(channels_mu);
    auto& c = channels[addr];
    if (!c) c = grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());
    return c;
  }

  std::string rpc_addr_of(const std::string& name) const {
    for (const auto& m : kv->members())
      if (m.name == name) return m.rpc_addr;
    return {};
  }

  std::string leader_rpc() const {
    const auto st = node->status();
    if (st.leader == raft::no_node) return {};
    if (auto m = kv->member(st.leader.value())) return m->rpc_addr;
    return {};
  }

  // One unary call to the agent `name` on the pool: the local agent directly.
  template <class Req, class Resp, class Local, class Remote>
  void agent_call(const std::string& name, Req req, std::function<void(base::result<Resp>)> done,
                  Local local_call, Remote remote_call, milliseconds deadline) {
    if (name == opt.node_name && local) {
      done(local_call(*local, req));
      return;
    }
    const std::string addr = rpc_addr_of(name);
    if (addr.empty()) {
      done(base::fail(base::errc::not_found, "no member named " + name));
      return;
    }
    auto ch = channel(addr);
    const bool queued = calls->run([ch, req = std::move(req), done, remote_call, deadline] {
      agent::pb::Agent::Stub stub(ch);
      grpc::ClientContext ctx;
      ctx.set_deadline(system_clock::now() + deadline);
      Resp resp;
      const grpc::Status s = remote_call(stub, &ctx, req, &resp);
      if (!s.ok()) {
        done(base::fail(base::errc::unavailable, s.error_message()));
        return;
      }
      done(std::move(resp));
    });
    if (!queued) done(base::fail(base::errc::unavailable, "too many calls queued"));
  }

  // The agent's way to the leader: the local scheduler when this server leads, else gRPC.
  base::status report(const agent::pb::ReportRequest& req) {
    const auto st = node->status();
    if (st.state == raft::role::leader && leader) {
      auto done = std::make_shared<std::promise<base::status>>();
      auto answer = done->get_future();
      leader->report(req, [done](base::status s) { done->set_value(std::move(s)); });
      if (answer.wait_for(seconds(10)) != std::future_status::ready)
        return base::fail(base::errc::timeout, "no commit within 10 s");
      return answer.get();
    }
    const std::string addr = leader_rpc();
    if (addr.empty()) return base::fail(base::errc::unavailable, "no leader known");
    agent::pb::Scheduler::Stub stub(channel(addr));
    grpc::ClientContext ctx;
    ctx.set_deadline(system_clock::now() + seconds(12));
    agent::pb::ReportResponse resp;
    const grpc::Status s = stub.Report(&ctx, req, &resp);
    if (!s.ok()) return base::fail(base::errc::unavailable, s.error_message());
    if (!resp.accepted()) return base::fail(base::errc::unavailable, resp.error());
    return {};
  }
};

run_services::run_services() : impl_(std::make_unique<impl>()) {}
run_services::~run_services() {
  stop();
}

std::vector<grpc::Service*> run_services::grpc_services() {
  return {&impl_->agent_rpc, &impl_->report_rpc};
}

void run_services::attach(state::job_store& jobs) {
  impl* im = impl_.get();
  jobs.set_observer([im](const state::applied_change& c) {
    if (auto* l = im->leader.get()) l->applied(c);
  });
}

base::status run_services::start(const run_options& o, raft_node::node& node,
                                 state::job_store& jobs, state::kv_state& kv, api::metrics& m) {
  impl* im = impl_.get();
  im->opt = o;
  im->node = &node;
  im->kv = &kv;
  im->calls = std::make_unique<call_pool>(4);
  auto runner = exec::supervisor::start();
  if (!runner) return runner.err();
  im->runner = std::move(runner).value();
  if (!im->runner->realtime())
    spdlog::info("agent: no real-time priority for the launch timer (needs CAP_SYS_NICE)");

  agent::agent_options ao;
  ao.node_name = o.node_name;
  ao.data_dir = o.agent_dir;
  ao.tags = o.tags;
  ao.observe_lateness = [&m](double s) { m.observe_lateness(s); };
  auto a = agent::agent::start(ao, *im->runner,
                               [im](const agent::pb::ReportRequest& r) { return im->report(r); });
  if (!a) return a.err();
  im->local = std::move(a).value();
  im->agent_rpc.bind(im->local.get());
  m.set_running_count([im] { return static_cast<std::uint64_t>(im->runner->running()); });

  scheduler::agent_link link;
  link.dispatch = [im](const std::string& n, agent::pb::DispatchRequest req, auto done) {
    im->agent_call<agent::pb::DispatchRequest, agent::pb::DispatchResponse>(
        n, std::move(req), std::move(done),
        [](agent::agent& a, const agent::pb::DispatchRequest& r) { return a.dispatch(r); },
        [](agent::pb::Agent::Stub& s, grpc::ClientContext* c, const agent::pb::DispatchRequest& r,
           agent::pb::DispatchResponse* out) { return s.Dispatch(c, r, out); },
        milliseconds(5000));
  };
  link.stop = [im](const std::string& n, agent::pb::StopRequest req, auto done) {
    im->agent_call<agent::pb::StopRequest, agent::pb::StopResponse>(
        n, std::move(req), std::move(done),
        [](agent::agent& a, const agent::pb::StopRequest& r) { return a.stop(r); },
        [](agent::pb::Agent::Stub& s, grpc::ClientContext* c, const agent::pb::StopRequest& r,
           agent::pb::StopResponse* out) { return s.Stop(c, r, out); },
        milliseconds(5000));
  };
  link.status = [im](const std::string& n, agent::pb::StatusRequest req, auto done) {
    im->agent_call<agent::pb::StatusRequest, agent::pb::StatusResponse>(
        n, std::move(req), std::move(done),
        [](agent::agent& a, const agent::pb::StatusRequest& r) { return a.status(r); },
        [](agent::pb::Agent::Stub& s, grpc::ClientContext* c, const agent::pb::StatusRequest& r,
           agent::pb::StatusResponse* out) { return s.Status(c, r, out); },
        milliseconds(1000));
  };
  scheduler::leader_options lo;
  lo.node_name = o.node_name;
  lo.lookahead = duration_cast<microseconds>(o.lookahead);
  lo.agent_ttl = o.agent_ttl;
  scheduler::leader_metrics lm;
  lm.launches = [&m](std::string_view outcome, std::uint64_t n) { m.count_launches(outcome, n); };
  lm.missed_slots = [&m](std::uint64_t n) { m.count_missed(n); };
  lm.caught_up_slots = [&m](std::uint64_t n) { m.count_caught_up(n); };
  lm.lost_runs = [&m](std::uint64_t n) { m.count_lost(n); };
  scheduler::consensus_link consensus;
  const milliseconds propose_timeout = lo.propose_timeout;
  consensus.propose = [&node, propose_timeout](std::string cmd, auto done) {
    node.propose(std::move(cmd), propose_timeout, std::move(done));
  };
  consensus.barrier = [&node, propose_timeout](auto done) {
    node.read_barrier(propose_timeout, std::move(done));
  };
  im->leader = scheduler::leader::start(
      lo, std::move(consensus), jobs, im->clock,
      [im] {
        std::vector<std::string> names;
        for (const auto& mem : im->kv->members())
          names.push_back(mem.name);
        return names;
      },
      std::move(link), std::move(lm));
  im->report_rpc.leader_rpc = [im] { return im->leader_rpc(); };
  im->report_rpc.leader.store(im->leader.get());
  node.on_leader_change([im](const raft_node::node_status& s) {
    const bool leads = s.state == raft::role::leader;
    if (auto* l = im->leader.get()) l->leadership(leads, s.term.value());
    if (auto* a = im->local.get()) a->leader_changed();
  });
  const auto st = node.status();
  im->leader->leadership(st.state == raft::role::leader, st.term.value());
  return {};
}

void run_services::stop() {
  impl* im = impl_.get();
  im->report_rpc.leader.store(nullptr);
  if (im->leader) im->leader->stop();
  im->agent_rpc.bind(nullptr);
  if (im->local) im->local->shutdown();
  if (im->runner) im->runner->shutdown();
  if (im->calls) im->calls->stop();
}

}  // namespace sundial::server
