/*
 * lbd_shm.c - the shared-memory segment (see lbd_shm.h for the rules).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "lbd_log.h"
#include "lbd_shm.h"
#include "lbd_stats.h"

struct lbd_shm *lbd_shm;

int
lbd_shm_create(void)
{
    struct lbd_shm *shm;

    /* Anonymous and shared: inherited by every fork, gone with the last process. */
    shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED) {
        lbd_log_err(LBD_LOG_CRIT, errno, "mmap() of %zu bytes of shared memory failed",
                    sizeof(*shm));
        return -1;
    }
    shm->magic = LBD_SHM_MAGIC;
    shm->size = (uint32_t) sizeof(*shm);
    for (unsigned i = 0; i < LBD_SHM_WORKERS; i++)
        atomic_store(&shm->workers[i].oldest, LBD_SHM_NONE);
    lbd_shm = shm;
    return 0;
}

int64_t
lbd_shm_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
lbd_shm_publish(struct lbd_shm *shm, uint64_t generation)
{
    uint64_t cur;

    if (shm == NULL)
        return;
    cur = atomic_load(&shm->generation);
    /* A monotonic maximum: two writers publishing out of order end at the larger. */
    while (cur < generation) {
        if (atomic_compare_exchange_weak(&shm->generation, &cur, generation)) {
            atomic_store(&shm->committed_ns, lbd_shm_now_ns());
            atomic_fetch_add(&shm->publishes, 1);
            return;
        }
    }
}

int
lbd_shm_worker_claim(struct lbd_shm *shm)
{
    uint64_t gen = lbd_shm_generation(shm);

    for (int i = 0; i < LBD_SHM_WORKERS; i++) {
        struct lbd_shm_worker *w = &shm->workers[i];

        if (atomic_load(&w->pid) != 0)
            continue;
        atomic_store(&w->generation, gen);
        atomic_store(&w->oldest, gen);
        atomic_store(&w->applied_ns, 0);
        atomic_store(&w->snapshots, 0);
        atomic_store(&w->active, 0);
        atomic_store(&w->full, 0);
        atomic_store(&w->bulk_buffers, 0);
        atomic_store(&w->buffer_bytes, 0);
        /* Its counters go on from where the slot's last worker left them: they never go down. */
        atomic_store(&w->pid, -1);          /* taken, pid not known yet */
        return i;
    }
    return -1;
}

void
lbd_shm_worker_set_pid(struct lbd_shm *shm, int slot, pid_t pid)
{
    atomic_store(&shm->workers[slot].pid, (int32_t) pid);
}

void
lbd_shm_worker_release(struct lbd_shm *shm, int slot)
{
    struct lbd_shm_worker *w = &shm->workers[slot];

    /* Its connections are gone with it: so is its share of every count. */
    for (unsigned b = 0; b < LBD_SHM_BACKENDS; b++) {
        uint32_t n = atomic_exchange(&shm->conns[slot][b], 0);

        if (n != 0)
            atomic_fetch_sub(&shm->backends[b].active, (int64_t) (int32_t) n);
    }
    atomic_store(&w->active, 0);
    atomic_store(&w->oldest, LBD_SHM_NONE);
    atomic_store(&w->pid, 0);
}

uint64_t
lbd_shm_oldest(const struct lbd_shm *shm)
{
    uint64_t oldest = LBD_SHM_NONE;

    for (unsigned i = 0; i < LBD_SHM_WORKERS; i++) {
        struct lbd_shm_worker *w = (struct lbd_shm_worker *) &shm->workers[i];
        uint64_t               o;

        if (atomic_load(&w->pid) == 0)
            continue;
        o = atomic_load(&w->oldest);
        if (o < oldest)
            oldest = o;
    }
    return oldest;
}

void
lbd_shm_backend_reset(struct lbd_shm *shm, unsigned slot, int64_t id)
{
    struct lbd_shm_backend *b = &shm->backends[slot];

    atomic_store(&b->active, 0);
    atomic_store(&b->fails, 0);
    lbd_stats_reset(&b->stats);
    atomic_store(&b->health, LBD_HEALTH_UNKNOWN);
    atomic_store(&b->fails_in_row, 0);
    atomic_store(&b->ejected_until, 0);
    atomic_store(&b->ejections, 0);
    atomic_store(&b->trial, 0);
    atomic_store(&b->up_since, 0);
    for (unsigned i = 0; i < LBD_SHM_WORKERS; i++)
        atomic_store(&shm->conns[i][slot], 0);
    atomic_store(&b->id, id);
}

void
lbd_shm_backend_back(struct lbd_shm_backend *b, int64_t now_ms)
{
    /* The ramp first, then the circuit: nobody sees it eligible at full weight. */
    atomic_store(&b->up_since, now_ms);
    atomic_store(&b->fails_in_row, 0);
    atomic_store(&b->ejections, 0);
    atomic_store(&b->ejected_until, 0);
    atomic_store(&b->trial, 0);
}
