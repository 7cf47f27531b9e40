#pragma once
// A job store over its own state_db in a temporary directory, for the state module's tests.

#include <memory>
#include <string>

#include "state/job_store.h"
#include "state/kv_state.h"
#include "state/state_db.h"
#include "storage/tests/temp_dir.h"

namespace sundial::state::testing {

// A job store over its own state_db in a temporary directory; commands get increasing Raft
// indexes.
class temp_store {
 public:
  temp_store() {
    db_ = state_db::open(dir_.path()).value();
    store_ = std::make_unique<job_store>(*db_);
    kv_ = std::make_unique<kv_state>(*db_);
    kv_->attach(store_.get());
  }
  temp_store& operator*() { return *this; }
  job_store* operator->() { return store_.get(); }
  std::string apply(std::uint8_t type, std::string_view body) {
    return store_->apply(++index_, type, body);
  }
  kv_state& kv() { return *kv_; }
  state_db& db() { return *db_; }
  const std::string& dir() const { return dir_.path(); }

 private:
  // Members are destroyed in reverse: the store and database close before the directory goes.
  storage::testing::temp_dir dir_;
  std::unique_ptr<state_db> db_;
  std::unique_ptr<job_store> store_;
  std::unique_ptr<kv_state> kv_;
  std::uint64_t index_ = 0;
};

}  // namespace sundial::state::testing
