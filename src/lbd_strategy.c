/*
 * lbd_strategy.c - the registry of balancing strategies.
 *
 * Modules register themselves by name at start (objs/lbd_modules.c, written
 * by configure, calls lbd_strategy_register for each).  The core finds a
 * strategy by the name a pool asks for and never switches on names itself.
 */
#include <string.h>

#include "lbd.h"

#define LBD_MAX_STRATEGIES 32

static const struct lbd_strategy *strategies[LBD_MAX_STRATEGIES];
static unsigned                   nstrategies;

int
lbd_strategy_register(const struct lbd_strategy *s)
{
    if (s == NULL || s->name == NULL || s->pick == NULL)
        return LBD_ERROR;
    if (lbd_strategy_find(s->name) != NULL || nstrategies == LBD_MAX_STRATEGIES)
        return LBD_ERROR;
    strategies[nstrategies++] = s;
    return LBD_OK;
}

const struct lbd_strategy *
lbd_strategy_find(const char *name)
{
    for (unsigned i = 0; i < nstrategies; i++)
        if (strcmp(strategies[i]->name, name) == 0)
            return strategies[i];
    return NULL;
}

unsigned
lbd_strategy_count(void)
{
    return nstrategies;
}

const struct lbd_strategy *
lbd_strategy_at(unsigned i)
{
    return i < nstrategies ? strategies[i] : NULL;
}
