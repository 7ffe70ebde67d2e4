/* rill's C test harness.
 *
 * A test file defines cases with TEST(name) { ... }. CMake reads the
 * TEST(...) lines and registers each case with ctest as
 * <suite>.<name>, running `<binary> <name>`; name each case for the
 * behaviour it proves. Assertions print both sides and stop the case.
 *
 * Every case runs with a counting allocator installed through
 * rill_set_allocator and fails if any rill allocation is still live when it
 * returns, so every test also proves it leaked nothing. test_alloc_fail_at()
 * makes one chosen allocation fail, and test_check_oom() drives a create
 * function through the failure of each of its allocations in turn.
 */
#ifndef RILL_TEST_H
#define RILL_TEST_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rill/rill.h"

typedef void (*test_fn)(void);
void test__register(const char *name, test_fn fn);
void test__fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

#define TEST(name)                                                             \
    static void name(void);                                                    \
    __attribute__((constructor)) static void name##__register(void) {          \
        test__register(#name, name);                                           \
    }                                                                          \
    static void name(void)

#define FAIL(...) test__fail(__FILE__, __LINE__, __VA_ARGS__)

#define ASSERT_TRUE(cond)                                                      \
    do {                                                                       \
        if (!(cond))                                                           \
            FAIL("expected true: %s", #cond);                                  \
    } while (0)

#define ASSERT_EQ_INT(a, b)                                                    \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        if (a_ != b_)                                                          \
            FAIL("%s == %s: %lld != %lld", #a, #b, a_, b_);                    \
    } while (0)

#define ASSERT_EQ_UINT(a, b)                                                   \
    do {                                                                       \
        unsigned long long a_ = (unsigned long long)(a),                       \
                           b_ = (unsigned long long)(b);                       \
        if (a_ != b_)                                                          \
            FAIL("%s == %s: %llu != %llu", #a, #b, a_, b_);                    \
    } while (0)

#define ASSERT_LE_UINT(a, b)                                                   \
    do {                                                                       \
        unsigned long long a_ = (unsigned long long)(a),                       \
                           b_ = (unsigned long long)(b);                       \
        if (!(a_ <= b_))                                                       \
            FAIL("%s <= %s: %llu > %llu", #a, #b, a_, b_);                     \
    } while (0)

#define ASSERT_LE_DOUBLE(a, b)                                                 \
    do {                                                                       \
        double a_ = (double)(a), b_ = (double)(b);                             \
        if (!(a_ <= b_))                                                       \
            FAIL("%s <= %s: %.17g > %.17g", #a, #b, a_, b_);                   \
    } while (0)

#define ASSERT_EQ_DOUBLE(a, b, tol)                                            \
    do {                                                                       \
        double a_ = (double)(a), b_ = (double)(b);                             \
        if (!(a_ - b_ <= (tol) && b_ - a_ <= (tol)))                           \
            FAIL("%s == %s (+-%g): %.17g != %.17g", #a, #b, (double)(tol),     \
                 a_, b_);                                                      \
    } while (0)

#define ASSERT_EQ_STR(a, b)                                                    \
    do {                                                                       \
        const char *a_ = (a), *b_ = (b);                                       \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                   \
            FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",     \
                 b_ ? b_ : "(null)");                                          \
    } while (0)

#define ASSERT_EQ_MEM(a, b, n) test__assert_mem(__FILE__, __LINE__, #a, #b, (a), (b), (n))

#define ASSERT_NULL(p)                                                         \
    do {                                                                       \
        const void *p_ = (p);                                                  \
        if (p_ != NULL)                                                        \
            FAIL("%s is %p, expected NULL", #p, p_);                           \
    } while (0)

#define ASSERT_NOT_NULL(p)                                                     \
    do {                                                                       \
        if ((p) == NULL)                                                       \
            FAIL("%s is NULL", #p);                                            \
    } while (0)

/* A rill call that must succeed; on failure prints the code's name and text. */
#define ASSERT_OK(expr)                                                        \
    do {                                                                       \
        int rc_ = (expr);                                                      \
        if (rc_ != 0)                                                          \
            FAIL("%s failed: %s (%s)", #expr, rill_err_name(rc_),              \
                 rill_strerror(rc_));                                          \
    } while (0)

/* A rill call that must fail with exactly `code`. */
#define ASSERT_ERR(expr, code)                                                 \
    do {                                                                       \
        int rc_ = (expr);                                                      \
        if (rc_ != (code))                                                     \
            FAIL("%s returned %s, expected %s", #expr, rill_err_name(rc_),     \
                 rill_err_name(code));                                         \
    } while (0)

void test__assert_mem(const char *file, int line, const char *an,
                      const char *bn, const void *a, const void *b, size_t n);

/* ---- Allocation control ------------------------------------------------ */

/* rill allocations currently live (allocated and not yet freed). */
long test_alloc_live(void);
/* Allocations (malloc and realloc calls) made since the case started. */
long test_alloc_count(void);
/* Make the n-th allocation from now (1 = the next) fail; 0 disarms.
 * Only that one fails. */
void test_alloc_fail_at(long n);
/* True if the armed failure has happened since the last test_alloc_fail_at. */
bool test_alloc_failed(void);

/* Calls create(ctx) once for each allocation it makes, failing that one:
 * each attempt must return RILL_ENOMEM and leave no allocation behind. Then
 * a run without failures must succeed and destroy(ctx) must free it all.
 * `what` names the function in failure messages. */
void test_check_oom(const char *what, int (*create)(void *ctx),
                    void (*destroy)(void *ctx), void *ctx);

/* ---- Small helpers ----------------------------------------------------- */

/* xorshift64*: a fast deterministic generator for test data. */
static inline uint64_t test_rand(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

#endif /* RILL_TEST_H */
