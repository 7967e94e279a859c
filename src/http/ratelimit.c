/* ratelimit.c -- see ratelimit.h. */
#include "http/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define NAME_MAX_LEN 63
#define PROBES 8

typedef struct bucket {
    char name[NAME_MAX_LEN + 1];    /* "" = free */
    double tokens;
    double last_s;                  /* monotonic time of the last refill */
} bucket;

struct ratelimit {
    double rate, burst;
    int nslots;
    bucket *slots;
    pthread_mutex_t lock;
};

int ratelimit_new(ratelimit **out, double rate, double burst, int slots, scry_err *err) {
    ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl) return scry_fail(err, SCRY_ENOMEM, "out of memory (rate limiter)");
    rl->rate = rate;
    rl->burst = burst < 1 ? 1 : burst;
    rl->nslots = slots < PROBES ? PROBES : slots;
    if (rate > 0 && !(rl->slots = calloc((size_t)rl->nslots, sizeof *rl->slots))) {
        free(rl);
        return scry_fail(err, SCRY_ENOMEM, "out of memory (rate limiter)");
    }
    pthread_mutex_init(&rl->lock, NULL);
    *out = rl;
    return SCRY_OK;
}

void ratelimit_free(ratelimit *rl) {
    if (!rl) return;
    pthread_mutex_destroy(&rl->lock);
    free(rl->slots);
    free(rl);
}

int ratelimit_take(ratelimit *rl, const char *name) {
    if (!rl || rl->rate <= 0 || !name) return 0;
    char key[NAME_MAX_LEN + 1];
    snprintf(key, sizeof key, "%s", name);
    size_t h = (size_t)(scry_fnv1a(SCRY_FNV1A_INIT, key, strlen(key)) % (uint64_t)rl->nslots);
    double now = scry_mono_s();
    int wait = 0;
    pthread_mutex_lock(&rl->lock);
    bucket *b = NULL, *lru = NULL;
    for (int i = 0; i < PROBES && !b; i++) {
        bucket *c = &rl->slots[(h + (size_t)i) % (size_t)rl->nslots];
        if (!strcmp(c->name, key)) b = c;
        else if (!c->name[0]) { if (!lru || lru->name[0]) lru = c; }
        else if (!lru || (lru->name[0] && c->last_s < lru->last_s)) lru = c;
    }
    if (!b) {                       /* new name: a free slot, or recycle the stalest */
        b = lru;
        snprintf(b->name, sizeof b->name, "%s", key);
        b->tokens = rl->burst;
        b->last_s = now;
    }
    b->tokens += (now - b->last_s) * rl->rate;
    if (b->tokens > rl->burst) b->tokens = rl->burst;
    b->last_s = now;
    if (b->tokens >= 1) {
        b->tokens -= 1;
    } else {
        wait = (int)ceil((1 - b->tokens) / rl->rate);
        if (wait < 1) wait = 1;
    }
    pthread_mutex_unlock(&rl->lock);
    return wait;
}
