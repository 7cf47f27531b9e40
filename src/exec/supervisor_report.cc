// Turns a finished run into its run_result (supervisor_loop.cc calls it once per run).

#include <sys/wait.h>

#include <fmt/format.h>

#include "exec/supervisor_state.h"

namespace sundial::exec::detail {

using namespace std::chrono_literals;

std::string describe(std::chrono::nanoseconds d) {
  if (d % 1s == 0ns) return fmt::format("{}s", d / 1s);
  if (d % 1ms == 0ns) return fmt::format("{}ms", d / 1ms);
  return fmt::format("{:.6f}s", std::chrono::duration<double>(d).count());
}

run_result report(const run& r, std::string note, outcome unstarted) {
  run_result res;
  res.finished_at =
      std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
  if (!r.started) {
    res.how = unstarted;
    res.error = std::move(note);
    res.started_at = r.started_at == base::wall_time{} ? res.finished_at : r.started_at;
    return res;
  }
  res.started_at = r.started_at;
  const int st = r.wait_status;
  const bool known = r.reaped && !r.status_lost;
  if (known && WIFEXITED(st)) res.exit_code = WEXITSTATUS(st);
  if (known && WIFSIGNALED(st)) res.signal = WTERMSIG(st);
  const std::string kill =
      r.sigkill_sent ? fmt::format(", SIGKILL after {}", describe(r.grace_used)) : std::string();
  switch (r.end) {
    case ending::none:
      res.how = !known || WIFEXITED(st) ? outcome::exited : outcome::signaled;
      if (r.status_lost) {
        res.error = "its exit status was collected elsewhere in the agent (waitpid(-1)?)";
      }
      break;
    case ending::timed_out:
      res.how = outcome::timed_out;
      res.error = fmt::format("timed out after {}: SIGTERM to the process group{}",
                              describe(r.timeout), kill);
      break;
    case ending::stopped:
      res.how = outcome::stopped;
      res.error = fmt::format("stopped: SIGTERM to the process group{}", kill);
      break;
    case ending::shutdown:
      res.how = outcome::stopped;
      res.error = fmt::format("the supervisor shut down: SIGTERM to the process group{}", kill);
      break;
  }
  if (!note.empty()) res.error = res.error.empty() ? std::move(note) : res.error + "; " + note;
  const auto tv = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  res.cpu_seconds = tv(r.usage.ru_utime) + tv(r.usage.ru_stime);
  res.max_rss_bytes = static_cast<std::uint64_t>(r.usage.ru_maxrss) * 1024;
  res.output = r.tail.str();
  res.output_truncated = r.tail.truncated();
  res.output_bytes = r.tail.total();
  return res;
}

}  // namespace sundial::exec::detail
