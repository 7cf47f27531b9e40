#include "exec/tests/test_util.h"

#include <dirent.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace sundial::exec::testing {

run_callbacks probe::callbacks() {
  auto self = shared_from_this();
  run_callbacks cb;
  cb.on_started = [self](int pid, base::wall_time at) {
    std::lock_guard lock(self->mu_);
    self->pid_ = pid;
    self->started_at_ = at;
    self->cv_.notify_all();
  };
  cb.on_output = [self](std::string_view chunk) {
    std::lock_guard lock(self->mu_);
    self->live_.append(chunk);
    self->cv_.notify_all();
  };
  cb.on_finished = [self](run_result r) {
    std::lock_guard lock(self->mu_);
    ++self->finished_;
    self->result_ = std::move(r);
    self->cv_.notify_all();
  };
  return cb;
}

std::optional<run_result> probe::wait_finished(std::chrono::milliseconds limit) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, limit, [&] { return result_.has_value(); })) {
    ADD_FAILURE() << "the run did not finish within " << limit.count()
                  << " ms; output so far: " << live_;
    return std::nullopt;
  }
  return result_;
}

int probe::wait_started(std::chrono::milliseconds limit) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, limit, [&] { return pid_ > 0 || result_.has_value(); }) || pid_ <= 0) {
    ADD_FAILURE() << "the run did not start within " << limit.count() << " ms"
                  << (result_ ? ": " + result_->error : std::string());
    return -1;
  }
  return pid_;
}

bool probe::wait_output(const std::string& text, std::chrono::milliseconds limit) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, limit, [&] { return live_.find(text) != std::string::npos; })) {
    ADD_FAILURE() << "no \"" << text << "\" in the output within " << limit.count()
                  << " ms; output so far: " << live_;
    return false;
  }
  return true;
}

int probe::finished_count() const {
  std::lock_guard lock(mu_);
  return finished_;
}

std::string probe::live_output() const {
  std::lock_guard lock(mu_);
  return live_;
}

std::vector<pid_t> live_group_members(pid_t pgid) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
    std::string line;
    if (!std::getline(f, line)) continue;  // gone meanwhile
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 1));
    char state = 0;
    long ppid = 0;
    long pgrp = 0;
    rest >> state >> ppid >> pgrp;
    if (pgrp == pgid && state != 'Z' && state != 'X') out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return out;
}

bool wait_group_gone(pid_t pgid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (pid_t pid : live_group_members(pgid)) {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) continue;  // already gone
    pollfd p{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    const int rc = ::poll(&p, 1, static_cast<int>(std::max<long>(0, left.count())));
    ::close(fd);
    if (rc != 1) {
      ADD_FAILURE() << "process " << pid << " of group " << pgid << " still runs after "
                    << limit.count() << " ms";
      return false;
    }
  }
  const auto left = live_group_members(pgid);
  if (!left.empty()) ADD_FAILURE() << left.size() << " processes of group " << pgid << " remain";
  return left.empty();
}

std::unique_ptr<supervisor> start_supervisor(supervisor::options o) {
  auto s = supervisor::start(o);
  if (!s) {
    ADD_FAILURE() << "supervisor::start: " << s.err().message;
    return nullptr;
  }
  return std::move(*s);
}

}  // namespace sundial::exec::testing
