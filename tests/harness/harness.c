/* The test runner: registry, assertions, and the counting allocator. */
#include <stdarg.h>
#include <stdatomic.h>

#include "test.h"

#define MAX_TESTS 512

static struct {
    const char *name;
    test_fn fn;
} tests[MAX_TESTS];
static size_t n_tests;
static const char *current_test = "?";

void test__register(const char *name, test_fn fn) {
    if (n_tests == MAX_TESTS) {
        fprintf(stderr, "harness: more than %d tests in one binary\n", MAX_TESTS);
        exit(2);
    }
    tests[n_tests].name = name;
    tests[n_tests].fn = fn;
    n_tests++;
}

void test__fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "FAIL %s\n  %s:%d: ", current_test, file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    exit(1);
}

void test__assert_mem(const char *file, int line, const char *an,
                      const char *bn, const void *a, const void *b, size_t n) {
    const unsigned char *pa = a, *pb = b;
    for (size_t i = 0; i < n; i++)
        if (pa[i] != pb[i])
            test__fail(file, line,
                       "%s == %s (%zu bytes): first difference at byte %zu: "
                       "0x%02x != 0x%02x",
                       an, bn, n, i, pa[i], pb[i]);
}

/* Counting allocator. Atomics because threaded tests allocate from several
 * threads. A size header is not needed: we count blocks, not bytes. */
static atomic_long live, count, fail_at, failed;

static bool should_fail(void) {
    long n = atomic_fetch_add(&count, 1) + 1;
    long at = atomic_load(&fail_at);
    if (at != 0 && n == at) {
        atomic_store(&failed, 1);
        return true;
    }
    return false;
}

static void *counting_malloc(size_t size, void *user) {
    (void)user;
    if (should_fail())
        return NULL;
    void *p = malloc(size);
    if (p != NULL)
        atomic_fetch_add(&live, 1);
    return p;
}

static void *counting_realloc(void *ptr, size_t size, void *user) {
    (void)user;
    if (should_fail())
        return NULL;
    void *p = realloc(ptr, size);
    if (p != NULL && ptr == NULL)
        atomic_fetch_add(&live, 1);
    return p;
}

static void counting_free(void *ptr, void *user) {
    (void)user;
    if (ptr != NULL)
        atomic_fetch_sub(&live, 1);
    free(ptr);
}

long test_alloc_live(void) { return atomic_load(&live); }
long test_alloc_count(void) { return atomic_load(&count); }
bool test_alloc_failed(void) { return atomic_load(&failed) != 0; }

void test_alloc_fail_at(long n) {
    atomic_store(&failed, 0);
    atomic_store(&fail_at, n == 0 ? 0 : atomic_load(&count) + n);
}

void test_check_oom(const char *what, int (*create)(void *ctx),
                    void (*destroy)(void *ctx), void *ctx) {
    long base = test_alloc_live();
    for (long n = 1; n < 100000; n++) {
        test_alloc_fail_at(n);
        int rc = create(ctx);
        bool hit = test_alloc_failed();
        test_alloc_fail_at(0);
        if (hit) {
            if (rc != RILL_ENOMEM)
                FAIL("%s with allocation %ld failing returned %s, expected "
                     "RILL_ENOMEM", what, n, rill_err_name(rc));
            if (test_alloc_live() != base)
                FAIL("%s with allocation %ld failing leaked %ld allocation(s)",
                     what, n, test_alloc_live() - base);
            continue;
        }
        if (rc != 0)
            FAIL("%s without allocation failures returned %s", what,
                 rill_err_name(rc));
        if (n == 1)
            FAIL("%s made no allocation, so the OOM check proves nothing", what);
        destroy(ctx);
        if (test_alloc_live() != base)
            FAIL("%s + destroy leaked %ld allocation(s)", what,
                 test_alloc_live() - base);
        return;
    }
    FAIL("%s still allocating after 100000 attempts", what);
}

static int run_one(size_t i) {
    static const rill_allocator counting = {counting_malloc, counting_realloc,
                                            counting_free, NULL};
    current_test = tests[i].name;
    atomic_store(&live, 0);
    atomic_store(&count, 0);
    test_alloc_fail_at(0);
    rill_set_allocator(&counting);
    tests[i].fn();
    rill_set_allocator(NULL);
    if (atomic_load(&live) != 0) {
        fprintf(stderr, "FAIL %s\n  leaked %ld rill allocation(s)\n",
                tests[i].name, atomic_load(&live));
        return 1;
    }
    printf("ok   %s\n", tests[i].name);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < n_tests; i++)
            puts(tests[i].name);
        return 0;
    }
    int failures = 0, ran = 0;
    for (size_t i = 0; i < n_tests; i++) {
        bool selected = argc < 2;
        for (int a = 1; a < argc; a++)
            if (strcmp(argv[a], tests[i].name) == 0)
                selected = true;
        if (!selected)
            continue;
        ran++;
        failures += run_one(i);
    }
    if (ran == 0) {
        fprintf(stderr, "harness: no test matches");
        for (int a = 1; a < argc; a++)
            fprintf(stderr, " '%s'", argv[a]);
        fprintf(stderr, " (try --list)\n");
        return 2;
    }
    return failures ? 1 : 0;
}
