#include "exec/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

extern char** environ;

namespace sundial::exec {
namespace {

std::string_view env_key(std::string_view entry) {
  return entry.substr(0, entry.find('='));
}

std::string errno_text(int err) {
  return std::strerror(err);
}

// Releases posix_spawn's attribute and file-action objects on every path.
struct spawn_objects {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  spawn_objects() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  ~spawn_objects() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  spawn_objects(const spawn_objects&) = delete;
  spawn_objects& operator=(const spawn_objects&) = delete;
};

}  // namespace

unique_fd& unique_fd::operator=(unique_fd&& o) noexcept {
  if (this != &o) reset(std::exchange(o.fd_, -1));
  return *this;
}

void unique_fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

launch_plan::launch_plan(shell_spec&& spec)
    : argv_(std::move(spec.argv)), env_(std::move(spec.env)), cwd_(std::move(spec.cwd)) {
  SUNDIAL_ASSERT(!argv_.empty(), "a shell_spec names a program (shell_spec_from_config)");
  for (const auto& a : argv_)
    argv_ptrs_.push_back(a.c_str());
  argv_ptrs_.push_back(nullptr);
}

std::vector<const char*> launch_plan::envp() const {
  const auto overridden = [&](std::string_view key, std::size_t from) {
    for (std::size_t i = from; i < env_.size(); ++i) {
      if (env_key(env_[i]) == key) return true;
    }
    return false;
  };
  std::vector<const char*> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (!overridden(env_key(*e), 0)) out.push_back(*e);
  }
  for (std::size_t i = 0; i < env_.size(); ++i) {
    if (!overridden(env_key(env_[i]), i + 1)) out.push_back(env_[i].c_str());
  }
  out.push_back(nullptr);
  return out;
}

base::result<child_process> spawn_child(const launch_plan& plan) {
  int fds[2];
  // Both ends close on exec; the child gets the write end through dup2, which clears the flag
  // on the copy. Only the read end is non-blocking: a child's stdout must block when full.
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return base::fail(base::errc::io_error, "cannot create an output pipe: " + errno_text(errno));
  }
  unique_fd read_end(fds[0]);
  unique_fd write_end(fds[1]);
  if (::fcntl(read_end.get(), F_SETFL, O_NONBLOCK) != 0) {
    return base::fail(base::errc::io_error,
                      "cannot make the output pipe non-blocking: " + errno_text(errno));
  }

  spawn_objects o;
  sigset_t empty;
  sigset_t all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setflags(&o.attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&o.attr, 0);
  posix_spawnattr_setsigmask(&o.attr, &empty);
  posix_spawnattr_setsigdefault(&o.attr, &all);
  posix_spawn_file_actions_addopen(&o.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&o.actions, write_end.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&o.actions, write_end.get(), STDERR_FILENO);
  // O_CLOEXEC is the rule here, but another library in the agent may open a descriptor without
  // it, or between its open and fcntl; closefrom keeps those out of jobs regardless.
  posix_spawn_file_actions_addclosefrom_np(&o.actions, STDERR_FILENO + 1);
  if (!plan.cwd().empty()) posix_spawn_file_actions_addchdir_np(&o.actions, plan.cwd().c_str());

  // The common case (no env entries) passes environ itself and builds nothing.
  std::vector<const char*> env;
  if (!plan.inherits_environment()) env = plan.envp();
  char* const* envp = env.empty() ? environ : const_cast<char* const*>(env.data());
  pid_t pid = -1;
  const int err =
      ::posix_spawnp(&pid, plan.program().c_str(), &o.actions, &o.attr, plan.argv(), envp);
  child_process child;
  child.started_at =
      std::chrono::time_point_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now());
  if (err != 0) {
    // glibc reports a failed chdir and a failed exec alike; look at the directory to say which.
    struct stat st;
    if (!plan.cwd().empty() && ::stat(plan.cwd().c_str(), &st) != 0) {
      return base::fail(base::errc::not_found, fmt::format("cannot change to directory \"{}\": {}",
                                                           plan.cwd(), errno_text(errno)));
    }
    if (!plan.cwd().empty() && !S_ISDIR(st.st_mode)) {
      return base::fail(base::errc::not_found, fmt::format("cannot change to directory \"{}\": {}",
                                                           plan.cwd(), errno_text(ENOTDIR)));
    }
    return base::fail(err == ENOENT ? base::errc::not_found : base::errc::io_error,
                      fmt::format("cannot run \"{}\": {}", plan.program(), errno_text(err)));
  }
  child.pid = pid;
  write_end.reset();  // the child holds its copies; EOF comes when every writer is gone

  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    // Without a pidfd the loop cannot notice the exit: end the child now, reap it, report.
    const int open_err = errno;
    signal_group(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return base::fail(base::errc::io_error,
                      fmt::format("cannot watch \"{}\" (pidfd_open: {}); it was killed",
                                  plan.program(), errno_text(open_err)));
  }
  child.pidfd.reset(pidfd);
  child.output = std::move(read_end);
  return child;
}

void signal_group(pid_t pgid, int sig) {
  SUNDIAL_ASSERT(pgid > 1, "a process group of our own child, never 0, 1 or -1 (everything)");
  ::kill(-pgid, sig);  // ESRCH: the group is already gone
}

}  // namespace sundial::exec
