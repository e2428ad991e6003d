/*
 * lbd_snapshot.c - the immutable set of pools a worker balances over.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lbd_log.h"
#include "lbd_worker.h"

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

struct lbd_snapshot *
lbd_snapshot_build(const struct lbd_conf *conf)
{
    struct lbd_snapshot *snap = calloc(1, sizeof(*snap));

    if (snap == NULL || (snap->pools = calloc(conf->npools, sizeof(struct lbd_pool))) == NULL)
        goto nomem;

    for (unsigned i = 0; i < conf->npools; i++) {
        const struct lbd_pool_conf *pc = &conf->pools[i];
        struct lbd_pool            *pool = &snap->pools[i];

        snap->npools = i + 1;
        pool->name = strdup(pc->name);
        pool->peers = calloc(pc->nbackends, sizeof(struct lbd_peer));
        if (pool->name == NULL || pool->peers == NULL)
            goto nomem;
        pool->npeers = pc->nbackends;
        for (unsigned j = 0; j < pc->nbackends; j++) {
            pool->peers[j].addr = pc->backends[j].addr;
            pool->peers[j].weight = pc->backends[j].weight;
            pool->peers[j].index = j;
        }
        pool->strategy = lbd_strategy_find(pc->strategy);
        if (pool->strategy == NULL) {
            lbd_log(LBD_LOG_CRIT, "pool \"%s\": unknown strategy \"%s\"", pc->name, pc->strategy);
            goto failed;
        }
        if (pool->strategy->init && pool->strategy->init(pool) != LBD_OK) {
            lbd_log(LBD_LOG_CRIT, "pool \"%s\": strategy \"%s\" failed to start",
                    pc->name, pc->strategy);
            goto failed;
        }
    }
    snap->refs = 1;
    return snap;

nomem:
    lbd_log_err(LBD_LOG_CRIT, ENOMEM, "building the pools failed");
failed:
    if (snap) {
        if (snap->pools)
            pools_free(snap->pools, snap->npools);
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
    pools_free(snap->pools, snap->npools);
    free(snap);
}
