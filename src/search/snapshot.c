/* snapshot.c -- see snapshot.h. */
#include "search/snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define MAGIC "SCRYSNAP"
#define VERSION 1

void snap_put(snap_out *o, const void *data, size_t n) {
    if (o->oom || n == 0) return;
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 1 << 16;
        while (cap < o->len + n) cap *= 2;
        uint8_t *p = realloc(o->p, cap);
        if (!p) {
            o->oom = 1;
            return;
        }
        o->p = p, o->cap = cap;
    }
    memcpy(o->p + o->len, data, n);
    o->len += n;
}

void snap_u32(snap_out *o, uint32_t v) { snap_put(o, &v, sizeof v); }
void snap_u64(snap_out *o, uint64_t v) { snap_put(o, &v, sizeof v); }

void snap_str(snap_out *o, const char *s) {
    if (!s) {
        snap_u32(o, UINT32_MAX);
        return;
    }
    uint32_t n = (uint32_t)strlen(s);
    snap_u32(o, n);
    snap_put(o, s, n);
}

int snap_get(snap_in *in, void *out, size_t n) {
    if (in->bad || in->len - in->off < n) {
        in->bad = 1;
        memset(out, 0, n);
        return -1;
    }
    memcpy(out, in->p + in->off, n);
    in->off += n;
    return 0;
}

uint32_t snap_get_u32(snap_in *in) {
    uint32_t v;
    snap_get(in, &v, sizeof v);
    return v;
}

uint64_t snap_get_u64(snap_in *in) {
    uint64_t v;
    snap_get(in, &v, sizeof v);
    return v;
}

const void *snap_take(snap_in *in, size_t n) {
    if (in->bad || in->len - in->off < n) {
        in->bad = 1;
        return NULL;
    }
    const void *p = in->p + in->off;
    in->off += n;
    return p;
}

char *snap_get_str(snap_in *in) {
    uint32_t n = snap_get_u32(in);
    if (in->bad || n == UINT32_MAX) return NULL;
    const char *p = snap_take(in, n);
    if (!p) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) {
        in->bad = 1;
        return NULL;
    }
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

int snapshot_encode(const snapshot_parts *p, void **out, size_t *n, scry_err *err) {
    snap_out o = {0};
    snap_put(&o, MAGIC, 8);
    snap_u32(&o, VERSION);
    snap_u64(&o, p->layout);
    snap_u64(&o, (uint64_t)p->seq);
    snap_str(&o, p->vname);
    const void *sec[3] = {p->catalog, p->kw, p->index};
    size_t len[3] = {p->ncatalog, p->nkw, p->nindex};
    for (int i = 0; i < 3; i++) {
        snap_u64(&o, len[i]);
        snap_put(&o, sec[i], len[i]);
    }
    char sha[SCRY_SHA256_HEX + 1];
    if (!o.oom) scry_sha256_hex(o.p, o.len, sha);
    snap_put(&o, sha, SCRY_SHA256_HEX);
    if (o.oom) {
        free(o.p);
        return scry_fail(err, SCRY_ENOMEM, "out of memory (snapshot)");
    }
    *out = o.p;
    *n = o.len;
    return SCRY_OK;
}

int snapshot_decode(const void *data, size_t n, snapshot_parts *p, scry_err *err) {
    memset(p, 0, sizeof *p);
    if (n < 8 + 4 + 8 + 8 + 4 + 24 + SCRY_SHA256_HEX || memcmp(data, MAGIC, 8))
        return scry_fail(err, SCRY_ECORRUPT, "not a search snapshot");
    char want[SCRY_SHA256_HEX + 1];
    scry_sha256_hex(data, n - SCRY_SHA256_HEX, want);
    if (memcmp(want, (const char *)data + n - SCRY_SHA256_HEX, SCRY_SHA256_HEX))
        return scry_fail(err, SCRY_ECORRUPT, "search snapshot checksum mismatch");
    snap_in in = {data, n - SCRY_SHA256_HEX, 8, 0};
    uint32_t version = snap_get_u32(&in);
    if (version != VERSION)
        return scry_fail(err, SCRY_ECORRUPT, "search snapshot version %u (this build reads %d)",
                         version, VERSION);
    p->layout = snap_get_u64(&in);
    p->seq = (int64_t)snap_get_u64(&in);
    char *vname = snap_get_str(&in);
    snprintf(p->vname, sizeof p->vname, "%s", vname ? vname : "");
    free(vname);
    const void **sec[3] = {&p->catalog, &p->kw, &p->index};
    size_t *len[3] = {&p->ncatalog, &p->nkw, &p->nindex};
    for (int i = 0; i < 3; i++) {
        *len[i] = (size_t)snap_get_u64(&in);
        *sec[i] = snap_take(&in, *len[i]);
    }
    if (in.bad || in.off != in.len)
        return scry_fail(err, SCRY_ECORRUPT, "search snapshot truncated or malformed");
    return SCRY_OK;
}

void snapshot_name(const char *vname, char *out, size_t cap) {
    size_t k = (size_t)snprintf(out, cap, "search-");
    for (const char *s = vname; *s && k + 1 < cap && k < 100; s++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) c = '_';
        out[k++] = c;
    }
    out[k < cap ? k : cap - 1] = 0;
}
