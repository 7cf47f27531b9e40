#include "sched_sim.h"

#include "sched_world.h"

namespace sundial::sched_sim {

sim_stats& sim_stats::operator+=(const sim_stats& o) {
  events += o.events;
  starts += o.starts;
  records += o.records;
  leader_changes += o.leader_changes;
  crashes += o.crashes;
  outages += o.outages;
  partitions += o.partitions;
  clock_jumps += o.clock_jumps;
  lost += o.lost;
  retries += o.retries;
  catchups += o.catchups;
  dependents += o.dependents;
  skipped += o.skipped;
  refused += o.refused;
  unknown_commits += o.unknown_commits;
  return *this;
}

sim_result run(const sim_options& o) {
  world w(o);
  return w.run();
}

}  // namespace sundial::sched_sim
