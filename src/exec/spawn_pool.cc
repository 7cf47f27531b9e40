#include "exec/spawn_pool.h"

#include "exec/precision.h"

namespace sundial::exec {

spawn_pool::spawn_pool(std::size_t helpers, int rt_priority) {
  for (std::size_t i = 0; i < helpers; ++i)
    helpers_.emplace_back([this, rt_priority] { helper_loop(rt_priority); });
}

spawn_pool::~spawn_pool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : helpers_)
    t.join();
}

void spawn_pool::take_work() {
  while (true) {
    const launch_plan* plan = nullptr;
    std::size_t i = 0;
    {
      std::lock_guard lock(mu_);
      if (plans_ == nullptr || next_ >= plans_->size()) return;
      i = next_++;
      plan = (*plans_)[i];
    }
    auto child = spawn_child(*plan);
    std::lock_guard lock(mu_);
    (*out_)[i].emplace(std::move(child));
    if (++done_ == plans_->size()) done_cv_.notify_all();
  }
}

void spawn_pool::helper_loop(int rt_priority) {
  make_thread_precise(rt_priority);
  std::uint64_t seen = 0;
  while (true) {
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return stopping_ || batch_ != seen; });
      if (stopping_) return;
      seen = batch_;
    }
    take_work();
  }
}

void spawn_pool::spawn_all(const std::vector<const launch_plan*>& plans,
                           std::vector<std::optional<base::result<child_process>>>& out) {
  out.clear();
  out.resize(plans.size());
  if (plans.empty()) return;
  {
    std::lock_guard lock(mu_);
    plans_ = &plans;
    out_ = &out;
    next_ = 0;
    done_ = 0;
    ++batch_;
  }
  // One spawn is not worth a wake-up: the caller does it alone.
  if (plans.size() > 1 && !helpers_.empty()) work_cv_.notify_all();
  take_work();
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [&] { return done_ == plans.size(); });
  plans_ = nullptr;
  out_ = nullptr;
}

}  // namespace sundial::exec
