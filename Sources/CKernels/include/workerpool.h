#ifndef PP_WORKERPOOL_H
#define PP_WORKERPOOL_H

#include <stddef.h>

/// One part of a parallel job: `task(context, part, worker)`, where `worker` (0 for the calling
/// thread, 1 ..< threads for the pool's) is unique among the job's parts running at one time, so
/// a part may use per-worker scratch.
typedef void (*pp_pool_task)(void *context, size_t part, size_t worker);

/// Runs task(context, 0 ..< parts) on the calling thread and up to `threads` - 1 pool workers,
/// and returns 1 once every part has finished. The workers are created on first use and stay:
/// after a job they spin for a short while before sleeping, so the next job of a forward pass
/// (microseconds later) starts at once instead of after a sleeping thread's wake-up (tens of
/// microseconds on a VM, per job). Returns 0 without running anything when the pool is busy
/// (another thread's job, or a call from inside a task): the caller then runs the parts its own
/// way. Which thread runs which part is not fixed; the parts must write disjoint memory.
int pp_pool_run(size_t parts, size_t threads, pp_pool_task task, void *context);

#endif
