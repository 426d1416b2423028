// A pool of spinning worker threads for the many short parallel jobs of a forward pass (see
// workerpool.h). Protocol, all atomics sequentially consistent:
// - a job is a descriptor on the caller's stack with its own part counter; the caller owns the
//   pool for one job (`busy`), points `current` at the descriptor and bumps `generation`;
// - a worker that sees a new generation counts itself `inside`, then reads `current`, takes parts
//   from that descriptor until none is left and leaves (`inside`--);
// - the caller takes parts too until all are claimed, clears `current`, and waits for inside == 0
//   before returning: a worker claims a part only while counted inside, and reads `current` only
//   after counting itself, so when the caller sees inside == 0 every part has finished and no
//   worker still holds the descriptor on its stack;
// - a worker that saw no new generation for PP_SPIN_NS sleeps on a condition variable: it counts
//   itself in `sleepers` and then re-reads the generation under the mutex, and the caller bumps
//   the generation and then reads `sleepers`, so one of the two always sees the other's write.
#include "workerpool.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define PP_MAX_WORKERS 63
#define PP_SPIN_NS 300000  // 0.3 ms: longer than the gaps between a forward pass's jobs

typedef struct {
    pp_pool_task task;
    void *context;
    size_t parts, workers;
    atomic_size_t next;
} Job;

static atomic_int busy;
static _Atomic(Job *) current;
static atomic_ullong generation;
static atomic_int inside, sleepers;
static size_t started;  // workers created; only the thread holding `busy` changes it
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;

static inline void cpu_relax(void) {
#if defined(__x86_64__)
    _mm_pause();
#endif
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void take_parts(Job *job, size_t worker) {
    for (;;) {
        size_t part = atomic_fetch_add(&job->next, 1);
        if (part >= job->parts) return;
        job->task(job->context, part, worker);
    }
}

static void *worker_main(void *arg) {
    size_t id = (size_t)(uintptr_t)arg;
    unsigned long long seen = atomic_load(&generation);
    for (;;) {
        uint64_t start = now_ns();
        unsigned spins = 0;
        unsigned long long g;
        while ((g = atomic_load(&generation)) == seen) {
            cpu_relax();
            if (++spins % 256 == 0 && now_ns() - start > PP_SPIN_NS) {
                pthread_mutex_lock(&sleep_lock);
                atomic_fetch_add(&sleepers, 1);
                while ((g = atomic_load(&generation)) == seen) pthread_cond_wait(&wake, &sleep_lock);
                atomic_fetch_sub(&sleepers, 1);
                pthread_mutex_unlock(&sleep_lock);
                break;
            }
        }
        seen = g;
        atomic_fetch_add(&inside, 1);
        Job *job = atomic_load(&current);
        if (job && id < job->workers) take_parts(job, id + 1);
        atomic_fetch_sub(&inside, 1);
    }
    return 0;
}

int pp_pool_run(size_t parts, size_t threads, pp_pool_task task, void *context) {
    if (atomic_exchange(&busy, 1)) return 0;
    size_t workers = threads > 1 ? threads - 1 : 0;
    if (workers > PP_MAX_WORKERS) workers = PP_MAX_WORKERS;
    if (parts < workers + 1) workers = parts > 0 ? parts - 1 : 0;
    while (started < workers) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attributes, worker_main, (void *)(uintptr_t)started);
        pthread_attr_destroy(&attributes);
        if (failed) break;  // run with the workers there are
        started++;
    }
    Job job = {task, context, parts, workers < started ? workers : started, 0};
    if (job.workers > 0) {
        atomic_store(&current, &job);
        atomic_fetch_add(&generation, 1);
        if (atomic_load(&sleepers) > 0) {
            pthread_mutex_lock(&sleep_lock);
            pthread_cond_broadcast(&wake);
            pthread_mutex_unlock(&sleep_lock);
        }
    }
    take_parts(&job, 0);
    atomic_store(&current, (Job *)0);
    while (atomic_load(&inside) > 0) cpu_relax();
    atomic_store(&busy, 0);
    return 1;
}
