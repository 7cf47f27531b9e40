#include "sched_sim.h"

#include "sched_world.h"

namespace sundial::sched_sim {

sim_result run(const sim_options& o) {
  world w(o);
  return w.run();
}

}  // namespace sundial::sched_sim
