// The simulated launcher (sched_world.h): armed runs on simulated time, processes that last
// what their command says, orphans after a crash.
//
// A job's command is "sim <duration> <exit>": duration in ms, or "lo-hi" for a random one;
// exit "0", "1", "fail_below=N" (exits 1 while SUNDIAL_ATTEMPT < N) or "parity" (the slot's
// second, odd or even).
#include <fmt/format.h>

#include <charconv>

#include "sched_world.h"

namespace sundial::sched_sim {

using namespace std::chrono;

namespace {

std::string env_value(const exec::shell_spec& spec, std::string_view key) {
  for (const auto& kv : spec.env) {
    if (kv.size() > key.size() && kv.compare(0, key.size(), key) == 0 && kv[key.size()] == '=')
      return kv.substr(key.size() + 1);
  }
  return {};
}

std::int64_t parse_int(std::string_view s, std::int64_t fallback) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() ? v : fallback;
}

std::int64_t to_us(base::wall_time t) {
  return duration_cast<microseconds>(t.time_since_epoch()).count();
}

base::wall_time from_us(std::int64_t us) {
  return base::wall_time{microseconds{us}};
}

}  // namespace

base::result<exec::run_id> sim_launcher::spawn_at(base::wall_time at, exec::shell_spec spec,
                                                  exec::run_callbacks cb) {
  const std::uint64_t id = ++next_id_;
  run& r = runs_[id];
  r.spec = std::move(spec);
  r.cb = std::move(cb);
  r.at_us = to_us(at);
  r.fire_seq = 1;
  const std::int64_t when = r.at_us - w_.servers()[server_].clock_offset_us;
  w_.at(when, [this, id] { fire(id); });
  return exec::run_id{id};
}

void sim_launcher::clock_jumped() {
  for (auto& [id, r] : runs_) {
    if (r.started || r.ended) continue;
    const std::uint64_t seq = ++r.fire_seq;
    const std::uint64_t rid = id;
    w_.at(r.at_us - w_.servers()[server_].clock_offset_us, [this, rid, seq] {
      auto it = runs_.find(rid);
      if (it != runs_.end() && it->second.fire_seq == seq) fire(rid);
    });
  }
}

void sim_launcher::fire(std::uint64_t id) {
  auto it = runs_.find(id);
  if (it == runs_.end() || it->second.started || it->second.ended || it->second.stopping) return;
  run& r = it->second;
  if (w_.server_now_us(server_) < r.at_us) return;  // the clock went back: a later event fires
  r.started = true;
  r.started_us = w_.server_now_us(server_);
  r.pid = 1'000'000'000 + static_cast<int>(id % 1'000'000'000);
  r.identity = w_.check().next_identity();
  sim_process p;
  p.server = server_;
  p.job = env_value(r.spec, "SUNDIAL_JOB");
  p.execution_id = env_value(r.spec, "SUNDIAL_EXECUTION_ID");
  p.started_us = w_.now();
  p.identity = r.identity;
  w_.trace(fmt::format("{} starts {} ({})", w_.servers()[server_].name, p.execution_id, p.job));
  w_.check().process_started(p);
  if (r.cb.on_started) r.cb.on_started(r.pid, from_us(w_.server_now_us(server_)));
  w_.kick_reports(server_);

  // How long it runs and how it ends.
  std::int64_t ms = 100;
  int exit_code = 0;
  if (r.spec.argv.size() >= 2) {
    const std::string& d = r.spec.argv[1];
    const auto dash = d.find('-');
    if (dash != std::string::npos) {
      const std::int64_t lo = parse_int(std::string_view(d).substr(0, dash), 100);
      const std::int64_t hi = parse_int(std::string_view(d).substr(dash + 1), lo);
      ms = static_cast<std::int64_t>(
          w_.uniform(static_cast<std::uint64_t>(lo), static_cast<std::uint64_t>(std::max(lo, hi))));
    } else {
      ms = parse_int(d, 100);
    }
  }
  if (r.spec.argv.size() >= 3) {
    const std::string& e = r.spec.argv[2];
    if (e.rfind("fail_below=", 0) == 0) {
      const std::int64_t n = parse_int(std::string_view(e).substr(11), 2);
      exit_code = parse_int(env_value(r.spec, "SUNDIAL_ATTEMPT"), 1) < n ? 1 : 0;
    } else if (e == "parity") {
      const std::string at = env_value(r.spec, "SUNDIAL_SCHEDULED_AT");
      exit_code = at.size() >= 2 && (at[at.size() - 2] - '0') % 2 == 1 ? 1 : 0;
    } else {
      exit_code = static_cast<int>(parse_int(e, 0));
    }
  }
  const std::int64_t run_us = ms * 1000;
  const std::int64_t timeout_us = duration_cast<microseconds>(r.spec.timeout).count();
  if (timeout_us > 0 && timeout_us < run_us) {
    w_.after(timeout_us, [this, id] { end(id, exec::outcome::timed_out, -1, "timed out"); });
  } else {
    w_.after(run_us, [this, id, exit_code] { end(id, exec::outcome::exited, exit_code, ""); });
  }
}

void sim_launcher::end(std::uint64_t id, exec::outcome how, int exit_code, std::string error) {
  auto it = runs_.find(id);
  if (it == runs_.end() || it->second.ended) return;
  run& r = it->second;
  r.ended = true;
  if (r.started) w_.check().process_ended(env_value(r.spec, "SUNDIAL_EXECUTION_ID"));
  exec::run_callbacks cb = std::move(r.cb);
  const bool orphan = r.orphan;
  const std::int64_t started = r.started_us;
  runs_.erase(it);
  if (orphan || !cb.on_finished) return;
  exec::run_result res;
  res.how = how;
  res.exit_code = exit_code;
  res.error = std::move(error);
  res.started_at = from_us(started);
  res.finished_at = from_us(w_.server_now_us(server_));
  cb.on_finished(std::move(res));
  w_.kick_reports(server_);
}

bool sim_launcher::stop(exec::run_id rid, std::optional<std::chrono::nanoseconds>) {
  auto it = runs_.find(rid.value());
  if (it == runs_.end() || it->second.ended || it->second.orphan) return false;
  run& r = it->second;
  if (crashed_) {
    // The dying agent waits for its callbacks: answer now; a process goes on as an orphan.
    exec::run_callbacks cb = std::move(r.cb);
    if (r.started) {
      r.orphan = true;
    } else {
      runs_.erase(it);
    }
    exec::run_result res;
    res.how = exec::outcome::stopped;
    res.error = "the agent stopped";
    if (cb.on_finished) cb.on_finished(std::move(res));
    return true;
  }
  const std::uint64_t id = rid.value();
  if (!r.started) {
    w_.after(0, [this, id] { end(id, exec::outcome::stopped, -1, "cancelled before start"); });
    // Marked so that fire() ignores it until the cancel lands.
    r.stopping = true;
    return true;
  }
  if (r.stopping) return true;
  r.stopping = true;
  w_.after(static_cast<std::int64_t>(w_.uniform(1'000, 50'000)),
           [this, id] { end(id, exec::outcome::stopped, -1, "stopped"); });
  return true;
}

std::uint64_t sim_launcher::process_identity(int pid) const {
  for (const auto& [id, r] : runs_)
    if (r.started && !r.ended && r.pid == pid) return r.identity;
  return 0;
}

void sim_launcher::kill_leftover_group(int pgid, std::uint64_t identity) {
  for (auto& [id, r] : runs_) {
    if (r.started && !r.ended && r.pid == pgid && r.identity == identity) {
      w_.trace(fmt::format("{} kills leftover {}", w_.servers()[server_].name, pgid));
      end(id, exec::outcome::stopped, -1, "killed after a restart");
      return;
    }
  }
}

void sim_launcher::crash() {
  crashed_ = true;
}

void sim_launcher::revive() {
  crashed_ = false;
  for (auto it = runs_.begin(); it != runs_.end();) {
    if (!it->second.started) {
      it = runs_.erase(it);
      continue;
    }
    it->second.orphan = true;
    it->second.cb = {};
    ++it;
  }
}

}  // namespace sundial::sched_sim
