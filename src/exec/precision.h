#pragma once
// Making the calling thread wake on time: what the supervisor's loop (and the anchor benchmark)
// do before waiting on absolute deadlines.

namespace sundial::exec {

// Sets the calling thread's timer slack to 1 ns (the default 50 µs lets the kernel coalesce
// wake-ups that late) and tries SCHED_FIFO at `rt_priority` (1-99) for it. Returns whether the
// real-time policy was obtained; without permission (no CAP_SYS_NICE, RLIMIT_RTPRIO 0) it logs
// once at debug level and the thread stays as it was. A priority of 0 or less does not try.
//
// The policy is set with SCHED_RESET_ON_FORK: processes spawned from this thread start under
// SCHED_OTHER, so a job's busy loop cannot starve the machine at real-time priority. (The timer
// slack, by contrast, is inherited by children; 1 ns there only costs them coalescing.)
bool make_thread_precise(int rt_priority);

}  // namespace sundial::exec
