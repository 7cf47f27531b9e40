#include "scheduler/job_adapter.h"

#include "cron/hash.h"
#include "cron/schedule.h"

namespace sundial::scheduler {

job_timing timing_of(const state::pb::Job& j) {
  job_timing t;
  t.name = j.name();
  if (!j.schedule().empty()) {
    cron::parse_options po;
    po.timezone = j.timezone();
    po.hash_seed = cron::hash_seed_for(j.name());
    if (auto d = cron::parse_dst_policy(j.dst_policy()); d) po.dst = *d;
    if (auto s = cron::parse(j.schedule(), po); s)
      t.schedule = std::make_shared<const cron::schedule>(std::move(s).value());
  }
  t.starts_at_us = j.starts_at_us();
  t.expires_at_us = j.expires_at_us();
  t.disabled = j.disabled();
  t.has_parent = !j.parent_job().empty();
  t.misfire = j.misfire_policy() == "run_all" ? misfire_policy::run_all
              : j.misfire_policy() == "skip"  ? misfire_policy::skip
                                              : misfire_policy::run_once;
  t.catchup_window_us = j.catchup_window_s() * 1'000'000;
  t.max_catchup = j.max_catchup() > 0 ? j.max_catchup() : 100;
  return t;
}

concurrency_policy concurrency_of(const state::pb::Job& j) {
  if (j.concurrency() == "forbid") return concurrency_policy::forbid;
  if (j.concurrency() == "replace") return concurrency_policy::replace;
  return concurrency_policy::allow;
}

retry_backoff backoff_of(const state::pb::Job& j) {
  retry_backoff b;
  b.initial_us = j.retry_backoff_s() * 1'000'000;
  if (j.retry_backoff_factor() > 0) b.factor = j.retry_backoff_factor();
  if (j.retry_backoff_max_s() > 0) b.max_us = j.retry_backoff_max_s() * 1'000'000;
  b.jitter = j.has_retry_backoff_jitter() ? j.retry_backoff_jitter() : 0.1;
  return b;
}

target_request targets_of(const state::pb::Job& j, std::uint64_t seed, std::uint64_t cursor) {
  target_request r;
  r.job = j.name();
  r.tags = {j.tags().begin(), j.tags().end()};
  r.target = j.target() == "all" ? target_mode::all : target_mode::one;
  r.routing = j.routing() == "round_robin"       ? routing_policy::round_robin
              : j.routing() == "least_busy"      ? routing_policy::least_busy
              : j.routing() == "consistent_hash" ? routing_policy::consistent_hash
                                                 : routing_policy::random;
  r.seed = seed;
  r.cursor = cursor;
  r.retry = j.retry_on() == "same_node" ? retry_on::same_node : retry_on::any_node;
  return r;
}

execution_state core_state(state::exec_state s) {
  using e = state::exec_state;
  switch (s) {
    case e::pending:
      return execution_state::pending;
    case e::dispatched:
      return execution_state::dispatched;
    case e::running:
      return execution_state::running;
    case e::stopping:
      return execution_state::stopping;
    case e::retrying:
      return execution_state::retrying;
    case e::succeeded:
      return execution_state::succeeded;
    case e::failed:
      return execution_state::failed;
    case e::timed_out:
      return execution_state::timed_out;
    case e::stopped:
      return execution_state::stopped;
    case e::lost:
      return execution_state::lost;
  }
  return execution_state::failed;
}

}  // namespace sundial::scheduler
