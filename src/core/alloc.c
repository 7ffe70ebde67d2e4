/* The allocator hooks. One set per process, like Lua's lua_Alloc per state:
 * rill has no "context" object for everything to hang off, and a test that
 * swaps the allocator wants every module to see the change at once. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void *default_malloc(size_t size, void *user) {
    RILL__UNUSED(user);
    return malloc(size);
}

static void *default_realloc(void *ptr, size_t size, void *user) {
    RILL__UNUSED(user);
    return realloc(ptr, size);
}

static void default_free(void *ptr, void *user) {
    RILL__UNUSED(user);
    free(ptr);
}

static rill_allocator current = {default_malloc, default_realloc,
                                 default_free, NULL};

void rill_set_allocator(const rill_allocator *allocator) {
    if (allocator == NULL || allocator->malloc == NULL ||
        allocator->free == NULL) {
        current.malloc = default_malloc;
        current.realloc = default_realloc;
        current.free = default_free;
        current.user = NULL;
        return;
    }
    current = *allocator;
}

/* malloc(0) may legally return NULL, which callers would take for failure;
 * asking for one byte keeps "NULL means out of memory" true everywhere. */
void *rill__malloc(size_t size) {
    return current.malloc(size ? size : 1, current.user);
}

void *rill__calloc(size_t n, size_t size) {
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    void *p = rill__malloc(n * size);
    if (p != NULL)
        memset(p, 0, n * size);
    return p;
}

/* Without a realloc hook we cannot know the old size, so the caller's data
 * cannot be copied: refuse rather than corrupt. Every module that grows a
 * buffer keeps its own size and uses rill__malloc + memcpy instead when it
 * must work with such an allocator; today all hooks in use provide realloc. */
void *rill__realloc(void *ptr, size_t size) {
    if (ptr == NULL)
        return rill__malloc(size);
    if (current.realloc == NULL)
        return NULL;
    return current.realloc(ptr, size ? size : 1, current.user);
}

void rill__free(void *ptr) {
    if (ptr != NULL)
        current.free(ptr, current.user);
}

char *rill__strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = rill__malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

size_t rill__next_pow2(size_t n) {
    size_t p = 1;
    while (p < n) {
        if (p > SIZE_MAX / 2)
            return 0;
        p <<= 1;
    }
    return p;
}

/* Over-allocate, align, and keep the raw pointer just below the block, so
 * that objects with cache-line-aligned members can come from any hook. */
void *rill__malloc_aligned(size_t size, size_t align) {
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return NULL;
    if (size > SIZE_MAX - align - sizeof(void *))
        return NULL;
    uint8_t *raw = rill__malloc(size + align + sizeof(void *));
    if (raw == NULL)
        return NULL;
    uintptr_t p = ((uintptr_t)raw + sizeof(void *) + align - 1) &
                  ~(uintptr_t)(align - 1);
    memcpy((void *)(p - sizeof(void *)), &raw, sizeof raw);
    return (void *)p;
}

void rill__free_aligned(void *ptr) {
    if (ptr == NULL)
        return;
    void *raw;
    memcpy(&raw, (uint8_t *)ptr - sizeof(void *), sizeof raw);
    rill__free(raw);
}
