/*
 * lbd_snapshot.c - the immutable set of pools a worker balances over, built
 * from one registry generation.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lbd_log.h"
#include "lbd_peer.h"
#include "lbd_shm.h"
#include "lbd_worker.h"

/* One worker per process: the live list is the process's. */
static struct lbd_snapshot *live;
static int                  worker_slot = -1;

void
lbd_snapshot_set_slot(int wslot)
{
    worker_slot = wslot;
}

/* Publish the generation of the oldest snapshot still alive here. */
static void
publish_oldest(void)
{
    uint64_t oldest = LBD_SHM_NONE;

    if (lbd_shm == NULL || worker_slot < 0)
        return;
    for (struct lbd_snapshot *s = live; s != NULL; s = s->next)
        if (s->generation < oldest)
            oldest = s->generation;
    atomic_store_explicit(&lbd_shm->workers[worker_slot].oldest, oldest, memory_order_release);
}

static void
routes_free(int **route_pool, unsigned nservices)
{
    if (route_pool == NULL)
        return;
    for (unsigned i = 0; i < nservices; i++)
        free(route_pool[i]);
    free(route_pool);
}

/* The index of the pool called name in snap, or -1. */
static int
pool_index(const struct lbd_snapshot *snap, const char *name)
{
    for (unsigned j = 0; j < snap->npools; j++)
        if (strcmp(snap->pools[j].name, name) == 0)
            return (int) j;
    return -1;
}

static void
pools_free(struct lbd_pool *pools, unsigned npools)
{
    for (unsigned i = 0; i < npools; i++) {
        if (pools[i].strategy && pools[i].strategy->fini && pools[i].sdata)
            pools[i].strategy->fini(&pools[i]);
        free(pools[i].peers);
        free(pools[i].name);
    }
    free(pools);
}

static int
pool_build(struct lbd_pool *pool, const struct lbd_reg_pool *rp, const struct lbd_conf *conf)
{
    unsigned                    n = 0;
    const struct lbd_pool_conf *pc = lbd_conf_pool(conf, rp->name);

    pool->name = strdup(rp->name);
    pool->peers = calloc(rp->nbackends ? rp->nbackends : 1, sizeof(struct lbd_peer));
    if (pool->name == NULL || pool->peers == NULL)
        return -1;
    for (unsigned j = 0; j < rp->nbackends; j++) {
        const struct lbd_reg_backend *b = &rp->backends[j];
        struct lbd_peer              *p;

        /* No address or no slot yet (an edit from outside, not fixed up): skip. */
        if (b->addr.len == 0 || b->slot < 0)
            continue;
        p = &pool->peers[n];
        p->addr = b->addr;
        p->weight = b->weight;
        p->index = n;
        p->id = b->id;
        p->key = lbd_fnv1a(p->addr.text, strlen(p->addr.text));
        p->slot = b->slot;
        p->draining = b->state != LBD_BACKEND_UP;
        p->live = lbd_shm != NULL ? &lbd_shm->backends[b->slot] : NULL;
        p->slow_start = pc != NULL ? pc->slow_start : 0;
        n++;
    }
    pool->npeers = n;
    pool->conf = pc;
    pool->backup = -1;
    pool->strategy = lbd_strategy_find(rp->strategy);
    if (pool->strategy == NULL) {
        /* The registry knows a strategy this build lacks (a downgrade). */
        lbd_log(LBD_LOG_ERROR, "pool \"%s\": strategy \"%s\" is not compiled in; "
                "using round_robin", rp->name, rp->strategy);
        pool->strategy = lbd_strategy_find("round_robin");
        if (pool->strategy == NULL)
            return -1;
    }
    if (pool->strategy->init && pool->strategy->init(pool) != LBD_OK) {
        lbd_log(LBD_LOG_CRIT, "pool \"%s\": strategy \"%s\" failed to start",
                rp->name, pool->strategy->name);
        return -1;
    }
    return 0;
}

struct lbd_snapshot *
lbd_snapshot_build(const struct lbd_conf *conf, const struct lbd_reg_state *state)
{
    struct lbd_snapshot *snap = calloc(1, sizeof(*snap));

    if (snap == NULL)
        goto failed;
    snap->generation = state->generation;
    snap->pools = calloc(state->npools ? state->npools : 1, sizeof(struct lbd_pool));
    snap->service_pool = calloc(conf->nservices, sizeof(int));
    if (snap->pools == NULL || snap->service_pool == NULL)
        goto failed;
    for (unsigned i = 0; i < state->npools; i++) {
        snap->npools = i + 1;
        if (pool_build(&snap->pools[i], &state->pools[i], conf) == -1)
            goto failed;
    }
    /* Backup pools, by name, within this snapshot. */
    for (unsigned i = 0; i < snap->npools; i++) {
        const struct lbd_pool_conf *pc = snap->pools[i].conf;

        for (unsigned j = 0; pc != NULL && pc->backup != NULL && j < snap->npools; j++)
            if (j != i && strcmp(snap->pools[j].name, pc->backup) == 0)
                snap->pools[i].backup = (int) j;
    }
    for (unsigned i = 0; i < conf->nservices; i++)
        snap->service_pool[i] = pool_index(snap, conf->services[i].pool_name);
    /* HTTP routes: a route whose pool the registry lacks falls to the service's. */
    for (unsigned i = 0; i < conf->nservices; i++) {
        const struct lbd_http_conf *hc = &conf->services[i].http;

        if (hc->nroutes == 0)
            continue;
        if (snap->route_pool == NULL
            && (snap->route_pool = calloc(conf->nservices, sizeof(int *))) == NULL)
            goto failed;
        snap->nservices = conf->nservices;
        if ((snap->route_pool[i] = calloc(hc->nroutes, sizeof(int))) == NULL)
            goto failed;
        for (unsigned r = 0; r < hc->nroutes; r++) {
            int j = pool_index(snap, hc->routes[r].pool_name);

            snap->route_pool[i][r] = j >= 0 ? j : snap->service_pool[i];
        }
    }
    snap->refs = 1;
    snap->next = live;
    if (live)
        live->prev = snap;
    live = snap;
    publish_oldest();
    return snap;

failed:
    lbd_log_err(LBD_LOG_CRIT, errno ? errno : ENOMEM, "building the pools of generation "
                "%llu failed", (unsigned long long) state->generation);
    if (snap) {
        if (snap->pools)
            pools_free(snap->pools, snap->npools);
        free(snap->service_pool);
        routes_free(snap->route_pool, snap->nservices);
        free(snap);
    }
    return NULL;
}

void
lbd_snapshot_ref(struct lbd_snapshot *snap)
{
    snap->refs++;
}

void
lbd_snapshot_unref(struct lbd_snapshot *snap)
{
    if (snap == NULL || --snap->refs > 0)
        return;
    if (snap->prev)
        snap->prev->next = snap->next;
    else
        live = snap->next;
    if (snap->next)
        snap->next->prev = snap->prev;
    publish_oldest();
    pools_free(snap->pools, snap->npools);
    free(snap->service_pool);
    routes_free(snap->route_pool, snap->nservices);
    free(snap);
}
