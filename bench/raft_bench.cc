// Throughput of the consensus core alone: a 3-node cluster in one process, memory_storage,
// messages handed over directly (a network without delay). Reports committed entries per
// second for 1, 16 and 256 proposals per step, and heap allocations per committed entry
// (counted by replacing operator new in this binary). Anchor, measured in the same run: the
// least work any replicated log must do per entry, copying its payload into three in-memory
// logs; bench/run.sh prints each case as a multiple of it.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <deque>
#include <memory>
#include <new>
#include <vector>

#include "raft/raw_node.h"

namespace {
std::atomic<std::uint64_t> allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

using namespace sundial::raft;

struct bench_cluster {
  std::vector<std::unique_ptr<memory_storage>> disks;
  std::vector<std::unique_ptr<raw_node>> nodes;
  std::deque<message> wire;
  std::uint64_t applied_on_leader = 0;

  bench_cluster() {
    conf_state cs{{node_id{1}, node_id{2}, node_id{3}}, {}};
    for (std::uint64_t id = 1; id <= 3; ++id) {
      auto d = std::make_unique<memory_storage>();
      snapshot boot;
      boot.metadata = snapshot_metadata{cs, index_t{1}, term_t{1}};
      (void)d->apply_snapshot(boot);
      d->set_hard_state(hard_state{term_t{1}, no_node, index_t{1}});
      config c;
      c.id = node_id{id};
      c.applied = index_t{1};
      c.max_size_per_msg = 1 << 20;
      c.max_inflight_msgs = 256;
      c.max_uncommitted_entries_size = 0;
      nodes.push_back(std::make_unique<raw_node>(raw_node::create(c, *d).value()));
      disks.push_back(std::move(d));
    }
    (void)nodes[0]->campaign();
    settle();
  }

  void process(std::size_t i) {
    raw_node& n = *nodes[i];
    if (!n.has_ready()) return;
    ready rd = n.get_ready();
    if (!rd.entries.empty()) (void)disks[i]->append(rd.entries);
    if (rd.hard) disks[i]->set_hard_state(*rd.hard);
    for (auto& m : rd.messages)
      wire.push_back(std::move(m));
    if (i == 0) applied_on_leader += rd.committed_entries.size();
    n.advance(rd);
  }

  void settle() {
    for (int guard = 0; guard < 1000000; ++guard) {
      for (std::size_t i = 0; i < nodes.size(); ++i)
        process(i);
      if (wire.empty()) return;
      while (!wire.empty()) {
        message m = std::move(wire.front());
        wire.pop_front();
        (void)nodes[m.to.value() - 1]->step(std::move(m));
      }
    }
  }

  // Keeps the logs from growing without bound during long runs.
  void compact() {
    for (std::size_t i = 0; i < disks.size(); ++i) {
      const index_t applied = nodes[i]->core().log().applied();
      if (applied > disks[i]->first_index() + 100000) {
        (void)disks[i]->create_snapshot(applied, nodes[i]->core().members().to_conf_state(), {});
        (void)disks[i]->compact(applied);
      }
    }
  }
};

void committed_entries(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const std::string data(static_cast<std::size_t>(state.range(1)), 'x');
  bench_cluster c;
  std::uint64_t steps = 0;
  const std::uint64_t applied_before = c.applied_on_leader;
  const std::uint64_t allocs_before = allocations.load();
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i)
      (void)c.nodes[0]->propose(data);
    c.settle();
    if (++steps % 512 == 0) c.compact();
  }
  const auto committed = static_cast<double>(c.applied_on_leader - applied_before);
  state.counters["entries_per_s"] = benchmark::Counter(committed, benchmark::Counter::kIsRate);
  state.counters["allocs_per_entry"] =
      static_cast<double>(allocations.load() - allocs_before) / std::max(committed, 1.0);
  state.SetItemsProcessed(static_cast<std::int64_t>(committed));
}

// Anchor: copy each payload into three logs (what any replicated log must do at least).
void anchor_copy_into_three_logs(benchmark::State& state) {
  const std::string data(static_cast<std::size_t>(state.range(1)), 'x');
  const int batch = static_cast<int>(state.range(0));
  std::vector<std::vector<std::string>> logs(3);
  std::uint64_t n = 0;
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) {
      for (auto& l : logs)
        l.push_back(data);
      ++n;
    }
    if (logs[0].size() > 100000) {
      for (auto& l : logs)
        l.clear();
    }
    benchmark::ClobberMemory();
  }
  state.counters["entries_per_s"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(anchor_copy_into_three_logs)->Args({256, 64})->UseRealTime();
BENCHMARK(committed_entries)->Args({1, 64})->UseRealTime();
BENCHMARK(committed_entries)->Args({16, 64})->UseRealTime();
BENCHMARK(committed_entries)->Args({256, 64})->UseRealTime();
BENCHMARK(committed_entries)->Args({256, 16})->UseRealTime();

BENCHMARK_MAIN();
