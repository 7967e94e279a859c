/* ratelimit.h -- token buckets per client address and per API key.
 *
 * Each bucket holds up to `burst` tokens and refills at `rate` tokens per
 * second; a request takes one. An empty bucket answers "wait N seconds"
 * (the 429's Retry-After). Buckets live in a fixed table (no allocation per
 * client): a name hashes to a slot and probes 8 neighbours; when all are
 * taken by others, the least recently used of them is recycled. A recycled
 * bucket starts full, so under a flood of distinct names (a botnet, spoofed
 * sources) the limiter errs on the side of letting requests through rather
 * than growing without bound; the connection caps (http/guard) bound what
 * those can do.
 *
 * Thread safety: any thread (one mutex; a check is a hash and a few adds). */
#ifndef SCRY_RATELIMIT_H
#define SCRY_RATELIMIT_H

#include "core/err.h"

typedef struct ratelimit ratelimit;

/* rate <= 0 makes a limiter that allows everything. */
int ratelimit_new(ratelimit **out, double rate, double burst, int slots, scry_err *err);
void ratelimit_free(ratelimit *rl);
/* 0 when allowed (a token taken), else the whole seconds (>= 1) until one
 * will be available. */
int ratelimit_take(ratelimit *rl, const char *name);

#endif
