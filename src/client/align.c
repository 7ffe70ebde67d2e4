/* Cutting several variables' buffers into blocks on the same ticks. See
 * align.h. */
#include <string.h>

#include "client/align.h"
#include "core/internal.h"

/* A FIFO may hold this many blocks before the next one is forced out. */
#define RILL__ALIGN_MAX_BLOCKS 64

typedef struct member {
    rill__align_member m;
    size_t size;      /* bytes per value */
    uint8_t *vals;    /* values [head, head + len) */
    uint64_t *ticks;  /* their ticks, non-decreasing */
    uint32_t *rel;    /* scratch for one block's relative ticks */
    size_t head, len, cap;
    uint64_t known;   /* every value with a tick below this has arrived */
    uint64_t first;   /* tick of the first value received */
    bool started, ended;
    uint32_t dropped; /* buffers lost since the last block */
} member;

struct rill__aligner {
    member *v;
    size_t n;
    uint64_t span;
    uint64_t t0; /* start of the next block */
    bool t0_set, done;
    uint64_t late;
    rill_client_buffer *out;
    rill__align_emit_fn emit;
    void *user;
};

int rill__align_create(rill__align_emit_fn emit, void *user,
                       rill__aligner **out) {
    rill__aligner *al = rill__calloc(1, sizeof *al);
    if (al == NULL)
        return RILL_ENOMEM;
    al->emit = emit;
    al->user = user;
    *out = al;
    return 0;
}

static void free_group(rill__aligner *al) {
    for (size_t i = 0; i < al->n; i++) {
        rill__free(al->v[i].vals);
        rill__free(al->v[i].ticks);
        rill__free(al->v[i].rel);
    }
    rill__free(al->v);
    rill__free(al->out);
    al->v = NULL;
    al->out = NULL;
    al->n = 0;
}

void rill__align_destroy(rill__aligner *al) {
    if (al == NULL)
        return;
    free_group(al);
    rill__free(al);
}

int rill__align_set_group(rill__aligner *al, const rill__align_member *m,
                          size_t n, uint64_t span) {
    free_group(al);
    al->t0_set = al->done = false;
    if (n == 0)
        return 0;
    al->v = rill__calloc(n, sizeof *al->v);
    al->out = rill__calloc(n, sizeof *al->out);
    if (al->v == NULL || al->out == NULL) {
        free_group(al);
        return RILL_ENOMEM;
    }
    al->n = n;
    al->span = span ? span : 1;
    for (size_t i = 0; i < n; i++) {
        al->v[i].m = m[i];
        al->v[i].size = rill_type_size(m[i].type);
    }
    return 0;
}

bool rill__align_active(const rill__aligner *al) {
    return al->n > 0 && !al->done;
}

uint64_t rill__align_late(const rill__aligner *al) { return al->late; }

static member *find(rill__aligner *al, uint32_t id) {
    for (size_t i = 0; i < al->n; i++)
        if (al->v[i].m.id == id)
            return &al->v[i];
    return NULL;
}

/* Room for `more` values at the end of the FIFO. */
static int reserve(member *v, size_t more) {
    if (v->head > 0 && v->head + v->len + more > v->cap) {
        memmove(v->vals, v->vals + v->head * v->size, v->len * v->size);
        memmove(v->ticks, v->ticks + v->head, v->len * sizeof *v->ticks);
        v->head = 0;
    }
    if (v->len + more <= v->cap)
        return 0;
    size_t cap = RILL__MAX(v->cap * 2, v->len + more);
    cap = RILL__MAX(cap, (size_t)1024);
    uint8_t *vals = rill__realloc(v->vals, cap * v->size);
    if (vals == NULL)
        return RILL_ENOMEM;
    v->vals = vals;
    uint64_t *ticks = rill__realloc(v->ticks, cap * sizeof *ticks);
    if (ticks == NULL)
        return RILL_ENOMEM;
    v->ticks = ticks;
    uint32_t *rel = rill__realloc(v->rel, cap * sizeof *rel);
    if (rel == NULL)
        return RILL_ENOMEM;
    v->rel = rel;
    v->cap = cap;
    return 0;
}

static void drop_before(member *v, uint64_t t) {
    while (v->len > 0 && v->ticks[v->head] < t) {
        v->head++;
        v->len--;
    }
}

/* The first block starts once every dense variable has values (or, with
 * only sparse variables, once one has). */
static void try_start(rill__aligner *al) {
    bool any_dense = false, all_dense = true, any = false, all_ended = true;
    uint64_t t0 = 0, tmin = UINT64_MAX;
    for (size_t i = 0; i < al->n; i++) {
        member *v = &al->v[i];
        all_ended &= v->ended;
        if (v->started) {
            any = true;
            tmin = RILL__MIN(tmin, v->first);
        }
        /* A stream that ended before its first value holds nobody back. */
        if (v->m.mode != RILL_TS_DENSE || (v->ended && !v->started))
            continue;
        any_dense = true;
        if (!v->started)
            all_dense = false;
        else
            t0 = RILL__MAX(t0, v->first);
    }
    if (all_ended && !any) {
        al->done = true;
        return;
    }
    if (any_dense ? !all_dense : !any)
        return;
    al->t0 = any_dense ? t0 : tmin;
    al->t0_set = true;
    for (size_t i = 0; i < al->n; i++)
        drop_before(&al->v[i], al->t0);
}

/* Values of `v` in the FIFO with ticks below `end`. */
static size_t count_below(const member *v, uint64_t end) {
    size_t k = 0;
    while (k < v->len && v->ticks[v->head + k] < end)
        k++;
    return k;
}

static void pump(rill__aligner *al) {
    while (al->t0_set && !al->done) {
        uint64_t end = al->t0 + al->span;
        bool ready = true, all_ended = true, force = false, any_left = false;
        size_t limit = (size_t)RILL__MIN(al->span * RILL__ALIGN_MAX_BLOCKS,
                                         (uint64_t)SIZE_MAX / 2);
        for (size_t i = 0; i < al->n; i++) {
            const member *v = &al->v[i];
            ready &= v->known >= end;
            all_ended &= v->ended;
            force |= v->len >= limit;
            any_left |= v->len > 0;
        }
        if (!ready && !force)
            return;
        if (all_ended && !any_left) {
            al->done = true;
            return;
        }
        /* Nothing in this block: no empty blocks, move on along the grid to
         * the block of the next value (or as far as every variable is
         * known). */
        uint64_t next = UINT64_MAX;
        for (size_t i = 0; i < al->n; i++) {
            const member *v = &al->v[i];
            if (v->len > 0)
                next = RILL__MIN(next, v->ticks[v->head]);
            else if (!force)
                next = RILL__MIN(next, v->known);
        }
        if (next >= end && next != UINT64_MAX) {
            uint64_t skip = (next - al->t0) / al->span;
            al->t0 += skip * al->span;
            continue;
        }
        /* Once every stream has ended, the last block ends at the last
         * value instead of a whole span later. */
        uint64_t ticks = al->span;
        bool more_after = false;
        uint64_t last_tick = al->t0;
        for (size_t i = 0; i < al->n; i++) {
            member *v = &al->v[i];
            size_t k = count_below(v, end);
            more_after |= k < v->len;
            if (k > 0)
                last_tick = RILL__MAX(last_tick, v->ticks[v->head + k - 1]);
            rill_client_buffer *b = &al->out[i];
            memset(b, 0, sizeof *b);
            b->name = v->m.name;
            b->var_id = v->m.id;
            b->type = v->m.type;
            b->mode = v->m.mode;
            b->count = k;
            b->first_ts = k > 0 ? v->ticks[v->head] : al->t0;
            b->values = k > 0 ? v->vals + v->head * v->size : NULL;
            b->dropped = v->dropped;
            b->last = v->ended && k == v->len;
            const uint64_t *t = k > 0 ? v->ticks + v->head : NULL;
            if (k > 0 && (v->m.mode != RILL_TS_DENSE || t[k - 1] - t[0] != k - 1)) {
                for (size_t j = 0; j < k; j++)
                    v->rel[j] = (uint32_t)(t[j] - t[0]);
                b->rel = v->rel;
            }
        }
        if (all_ended && !more_after)
            ticks = last_tick + 1 - al->t0;
        rill_client_block blk = {al->t0, ticks, al->n, al->out};
        al->emit(&blk, al->user);
        for (size_t i = 0; i < al->n; i++) {
            member *v = &al->v[i];
            v->head += al->out[i].count;
            v->len -= al->out[i].count;
            v->dropped = 0;
        }
        al->t0 = end;
    }
}

void rill__align_push(rill__aligner *al, uint32_t id, uint64_t first_ts,
                      size_t count, const void *values, const uint8_t *rel,
                      uint32_t dropped, bool last) {
    member *v = find(al, id);
    if (v == NULL || v->ended)
        return;
    /* Wholly before the member's start: an earlier run's buffer (its end
     * included), nothing of this group's. */
    uint32_t last_rel = (uint32_t)(count > 0 ? count - 1 : 0);
    if (rel != NULL && count > 0)
        memcpy(&last_rel, rel + 4 * (count - 1), 4);
    if (first_ts + last_rel < v->m.from)
        return;
    v->dropped += dropped;
    if (count > 0 && reserve(v, count) != 0) {
        rill__log_error("out of memory: a buffer of %s left out of the "
                        "aligned blocks", v->m.name);
        v->dropped++;
        count = 0;
    }
    const uint8_t *src = values;
    uint64_t prev = v->len > 0 ? v->ticks[v->head + v->len - 1] : 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t r = (uint32_t)i;
        if (rel != NULL)
            memcpy(&r, rel + 4 * i, 4); /* little-endian hosts only */
        uint64_t t = first_ts + r;
        if (t < v->m.from)
            continue; /* an earlier run's */
        if (al->t0_set && t < al->t0) {
            al->late++; /* its block is gone */
            continue;
        }
        if (v->started && t < prev)
            continue; /* out of order: a Bela's sparse padding */
        size_t at = v->head + v->len;
        memcpy(v->vals + at * v->size, src + i * v->size, v->size);
        v->ticks[at] = t;
        v->len++;
        prev = t;
        if (!v->started) {
            v->started = true;
            v->first = t;
        }
    }
    if (count > 0 && v->started && first_ts + count > v->m.from) {
        uint64_t k = v->m.mode == RILL_TS_DENSE ? first_ts + count : prev;
        v->known = RILL__MAX(v->known, k);
    }
    if (last) {
        v->ended = true;
        v->known = UINT64_MAX;
    }
    if (!al->t0_set)
        try_start(al);
    pump(al);
}

void rill__align_end(rill__aligner *al, uint32_t id) {
    member *v = find(al, id);
    if (v == NULL || v->ended)
        return;
    v->ended = true;
    v->known = UINT64_MAX;
    if (!al->t0_set)
        try_start(al);
    pump(al);
}
