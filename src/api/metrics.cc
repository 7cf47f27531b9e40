#include "api/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <sstream>

namespace sundial::api {

namespace {

using seconds_d = std::chrono::duration<double>;

// Applies take microseconds (the key-value store) to milliseconds (an LMDB write of a job).
const prometheus::Histogram::BucketBoundaries apply_buckets = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
    0.005,   0.01,     0.025,   0.05,   0.1,     0.25,   0.5,   1};
// Requests wait for Raft: a commit takes about a millisecond, a missing leader seconds.
const prometheus::Histogram::BucketBoundaries request_buckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

}  // namespace

struct metrics::impl {
  prometheus::Registry registry;
  prometheus::Gauge& term;
  prometheus::Gauge& commit;
  prometheus::Gauge& applied;
  prometheus::Gauge& is_leader;
  prometheus::Counter& leader_changes;
  prometheus::Histogram& apply_seconds;
  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& request_seconds;
  prometheus::Gauge& connections;
  prometheus::Family<prometheus::Counter>& refused;
  prometheus::Family<prometheus::Counter>& timeouts;
  prometheus::Counter& streams_dropped;
  prometheus::Counter& internal_errors;
  prometheus::Histogram& lateness;
  prometheus::Family<prometheus::Counter>& launches;
  prometheus::Counter& missed;
  prometheus::Counter& caught_up;
  prometheus::Counter& lost;
  prometheus::Gauge& running;
  std::function<std::uint64_t()> running_count;
  std::function<std::uint64_t()> internal_error_count;  // the HTTP server's guard
  std::uint64_t internal_errors_counted = 0;            // under render_mu

  // The last term in which a leader was counted (only the Raft thread writes it).
  std::atomic<std::uint64_t> counted_term{0};
  // Setting the gauges and collecting them is one step, so concurrent scrapes never mix
  // two statuses.
  std::mutex render_mu;

  impl()
      : term(gauge("sundial_raft_term", "The current Raft term as this node knows it.")),
        commit(gauge("sundial_raft_commit_index",
                     "The highest log index this node knows to be committed.")),
        applied(gauge("sundial_raft_applied_index",
                      "The highest log index this node has applied to its state machine.")),
        is_leader(gauge("sundial_raft_is_leader", "1 if this node is the Raft leader, else 0.")),
        leader_changes(prometheus::BuildCounter()
                           .Name("sundial_raft_leader_changes_total")
                           .Help("Terms in which this node learned of a new leader (elections "
                                 "it observed), since it started.")
                           .Register(registry)
                           .Add({})),
        apply_seconds(prometheus::BuildHistogram()
                          .Name("sundial_raft_apply_seconds")
                          .Help("Time the state machine took to apply one committed command.")
                          .Register(registry)
                          .Add({}, apply_buckets)),
        requests(prometheus::BuildCounter()
                     .Name("sundial_api_requests_total")
                     .Help("HTTP requests answered, by route pattern (\"unmatched\" for none), "
                           "method and status.")
                     .Register(registry)),
        request_seconds(prometheus::BuildHistogram()
                            .Name("sundial_api_request_seconds")
                            .Help("Time from a parsed HTTP request to its answer, by route "
                                  "pattern.")
                            .Register(registry)),
        connections(gauge("sundial_http_connections", "Open HTTP API connections.")),
        refused(prometheus::BuildCounter()
                    .Name("sundial_http_connections_refused_total")
                    .Help("Connections refused at accept: reason \"total\" (503, over "
                          "--http-max-connections) or \"per_client\" (429, over "
                          "--http-max-connections-per-client).")
                    .Register(registry)),
        timeouts(prometheus::BuildCounter()
                     .Name("sundial_http_timeouts_total")
                     .Help("Connections cut by a timeout: phase \"header\" or \"body\" (408) or "
                           "\"idle\" (a keep-alive connection closed).")
                     .Register(registry)),
        streams_dropped(prometheus::BuildCounter()
                            .Name("sundial_http_streams_dropped_total")
                            .Help("Streaming answers dropped because their reader fell behind "
                                  "--http-stream-buffer-bytes.")
                            .Register(registry)
                            .Add({})),
        internal_errors(prometheus::BuildCounter()
                            .Name("sundial_http_internal_errors_total")
                            .Help("Requests the server's last-resort guard answered with 500 "
                                  "(an unexpected exception or a lost answer; each has an "
                                  "incident id in the log). Stays 0 whatever clients send.")
                            .Register(registry)
                            .Add({})),
        lateness(
            prometheus::BuildHistogram()
                .Name("sundial_fire_lateness_seconds")
                .Help("From an armed run's scheduled instant to its process start, on the "
                      "agent that ran it.")
                .Register(registry)
                .Add({}, prometheus::Histogram::BucketBoundaries{0.0001, 0.00025, 0.0005, 0.001,
                                                                 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                 0.1, 0.25, 0.5, 1, 2.5, 5, 10})),
        launches(prometheus::BuildCounter()
                     .Name("sundial_launches_total")
                     .Help("Launches by outcome, counted on the leader: journaled (intents "
                           "committed through Raft), skipped (overlap), failed (no node).")
                     .Register(registry)),
        missed(prometheus::BuildCounter()
                   .Name("sundial_missed_slots_total")
                   .Help("Slots that passed without a leader and were skipped by their job's "
                         "misfire policy or catch-up window.")
                   .Register(registry)
                   .Add({})),
        caught_up(prometheus::BuildCounter()
                      .Name("sundial_caught_up_slots_total")
                      .Help("Missed slots run (or merged into a run) by their misfire policy.")
                      .Register(registry)
                      .Add({})),
        lost(prometheus::BuildCounter()
                 .Name("sundial_lost_runs_total")
                 .Help("Runs declared lost because their node stopped answering or did not "
                       "know them.")
                 .Register(registry)
                 .Add({})),
        running(gauge("sundial_running_executions",
                      "Processes of job runs this node's agent is running now.")) {}

  prometheus::Gauge& gauge(const char* name, const char* help) {
    return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
  }
};

metrics::metrics() : impl_(std::make_unique<impl>()) {}
metrics::~metrics() = default;

void metrics::observe_request(const request_record& r) {
  const std::string route(r.route);
  impl_->requests
      .Add({{"route", route},
            {"method", std::string(r.method)},
            {"status", std::to_string(r.status)}})
      .Increment();
  impl_->request_seconds.Add({{"route", route}}, request_buckets)
      .Observe(std::chrono::duration_cast<seconds_d>(r.duration).count());
}

void metrics::observe_connection(connection_event e) {
  switch (e) {
    case connection_event::opened:
      impl_->connections.Increment();
      break;
    case connection_event::closed:
      impl_->connections.Decrement();
      break;
    case connection_event::refused_total:
      impl_->refused.Add({{"reason", "total"}}).Increment();
      break;
    case connection_event::refused_per_client:
      impl_->refused.Add({{"reason", "per_client"}}).Increment();
      break;
    case connection_event::header_timeout:
      impl_->timeouts.Add({{"phase", "header"}}).Increment();
      break;
    case connection_event::body_timeout:
      impl_->timeouts.Add({{"phase", "body"}}).Increment();
      break;
    case connection_event::idle_timeout:
      impl_->timeouts.Add({{"phase", "idle"}}).Increment();
      break;
    case connection_event::stream_dropped:
      impl_->streams_dropped.Increment();
      break;
  }
}

void metrics::observe_apply(std::chrono::nanoseconds d) {
  impl_->apply_seconds.Observe(std::chrono::duration_cast<seconds_d>(d).count());
}

void metrics::observe_leader(const raft_node::node_status& s) {
  if (s.leader == raft::no_node) return;
  const std::uint64_t term = s.term.value();
  if (term <= impl_->counted_term.load()) return;
  impl_->counted_term = term;
  impl_->leader_changes.Increment();
}

void metrics::observe_lateness(double seconds) {
  impl_->lateness.Observe(seconds);
}
void metrics::count_launches(std::string_view outcome, std::uint64_t n) {
  impl_->launches.Add({{"outcome", std::string(outcome)}}).Increment(static_cast<double>(n));
}
void metrics::count_missed(std::uint64_t n) {
  impl_->missed.Increment(static_cast<double>(n));
}
void metrics::count_caught_up(std::uint64_t n) {
  impl_->caught_up.Increment(static_cast<double>(n));
}
void metrics::count_lost(std::uint64_t n) {
  impl_->lost.Increment(static_cast<double>(n));
}
void metrics::set_running_count(std::function<std::uint64_t()> f) {
  std::lock_guard lock(impl_->render_mu);
  impl_->running_count = std::move(f);
}

std::string metrics::render(const raft_node::node_status& s) {
  std::lock_guard lock(impl_->render_mu);
  if (impl_->running_count) impl_->running.Set(static_cast<double>(impl_->running_count()));
  impl_->term.Set(static_cast<double>(s.term.value()));
  impl_->commit.Set(static_cast<double>(s.commit.value()));
  impl_->applied.Set(static_cast<double>(s.applied.value()));
  impl_->is_leader.Set(s.state == raft::role::leader ? 1 : 0);
  if (impl_->internal_error_count) {
    const std::uint64_t now = impl_->internal_error_count();
    if (now > impl_->internal_errors_counted) {
      impl_->internal_errors.Increment(static_cast<double>(now - impl_->internal_errors_counted));
      impl_->internal_errors_counted = now;
    }
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, impl_->registry.Collect());
  return out.str();
}

void register_metrics(http_server& server, raft_node::node& node, metrics& m) {
  server.set_request_observer([&m](const request_record& r) { m.observe_request(r); });
  server.set_connection_observer([&m](connection_event e) { m.observe_connection(e); });
  // Every metric is registered before serving, so a scrape shows each at 0 from the start.
  for (const char* reason : {"total", "per_client"})
    m.impl_->refused.Add({{"reason", reason}});
  for (const char* phase : {"header", "body", "idle"})
    m.impl_->timeouts.Add({{"phase", phase}});
  for (const char* outcome : {"journaled", "skipped", "failed"})
    m.impl_->launches.Add({{"outcome", outcome}});
  m.impl_->internal_error_count = [&server] { return server.internal_errors(); };
  node.on_leader_change([&m](const raft_node::node_status& s) { m.observe_leader(s); });
  server.route("GET", "/metrics", [&m, &node](const request&) {
    return response{200, "text/plain; version=0.0.4; charset=utf-8", m.render(node.status()), {}};
  });
}

}  // namespace sundial::api
