/* Errors, allocator hooks, logging and the clock. */
#include "core/internal.h"
#include "test.h"

TEST(every_error_code_has_distinct_name_and_text) {
    static const int codes[] = {
#define X(name, code, text) RILL_E##name,
        RILL_ERRNO_MAP(X)
#undef X
    };
    for (size_t i = 0; i < RILL__ARRAY_LEN(codes); i++) {
        ASSERT_TRUE(codes[i] < 0);
        ASSERT_TRUE(strcmp(rill_strerror(codes[i]), "unknown error") != 0);
        ASSERT_TRUE(strncmp(rill_err_name(codes[i]), "RILL_E", 6) == 0);
        for (size_t j = 0; j < i; j++) {
            ASSERT_TRUE(codes[i] != codes[j]);
            ASSERT_TRUE(strcmp(rill_strerror(codes[i]), rill_strerror(codes[j])) != 0);
        }
    }
    ASSERT_EQ_STR(rill_err_name(RILL_ENOMEM), "RILL_ENOMEM");
    ASSERT_EQ_STR(rill_strerror(RILL_ENOMEM), "out of memory");
    ASSERT_EQ_STR(rill_strerror(0), "success");
}

TEST(unknown_error_code_gives_unknown_error) {
    ASSERT_EQ_STR(rill_strerror(-9999), "unknown error");
    ASSERT_EQ_STR(rill_strerror(42), "unknown error");
    ASSERT_EQ_STR(rill_err_name(-9999), "RILL_UNKNOWN");
}

TEST(version_string_matches_header) {
    ASSERT_EQ_STR(rill_version_string(), RILL_VERSION_STRING);
}

static int custom_calls;
static void *custom_malloc(size_t n, void *user) {
    ASSERT_EQ_UINT((uintptr_t)user, 0xfeed);
    custom_calls++;
    return malloc(n);
}
static void custom_free(void *p, void *user) {
    (void)user;
    custom_calls++;
    free(p);
}

TEST(custom_allocator_receives_every_call_and_null_restores_default) {
    rill_allocator a = {custom_malloc, NULL, custom_free, (void *)0xfeed};
    rill_set_allocator(&a);
    rill_ring *ring = NULL;
    int rc = rill_ring_create(64, &ring);
    rill_ring_destroy(ring);
    /* Without a realloc hook, growing existing memory is refused. */
    void *p = rill__malloc(8);
    void *q = rill__realloc(p, 16);
    rill__free(p);
    rill_set_allocator(NULL);
    ASSERT_OK(rc);
    ASSERT_NULL(q);
    ASSERT_EQ_INT(custom_calls, 6); /* 2 create + 2 destroy + malloc + free */
    /* The harness's counting allocator saw none of it. */
    ASSERT_EQ_INT(test_alloc_count(), 0);
}

TEST(calloc_refuses_overflowing_size) {
    ASSERT_NULL(rill__calloc(SIZE_MAX / 2, 4));
    ASSERT_EQ_INT(test_alloc_count(), 0);
    unsigned char *z = rill__calloc(16, 4);
    ASSERT_NOT_NULL(z);
    for (int i = 0; i < 64; i++)
        ASSERT_EQ_UINT(z[i], 0);
    rill__free(z);
}

TEST(aligned_allocation_is_aligned_and_freed) {
    for (size_t align = sizeof(void *); align <= 4096; align *= 2) {
        void *p = rill__malloc_aligned(100, align);
        ASSERT_NOT_NULL(p);
        ASSERT_EQ_UINT((uintptr_t)p % align, 0);
        memset(p, 0xab, 100);
        rill__free_aligned(p);
    }
    ASSERT_NULL(rill__malloc_aligned(16, 3));
    ASSERT_EQ_INT(test_alloc_live(), 0);
}

TEST(next_pow2_rounds_up_and_detects_overflow) {
    ASSERT_EQ_UINT(rill__next_pow2(0), 1);
    ASSERT_EQ_UINT(rill__next_pow2(1), 1);
    ASSERT_EQ_UINT(rill__next_pow2(3), 4);
    ASSERT_EQ_UINT(rill__next_pow2(4096), 4096);
    ASSERT_EQ_UINT(rill__next_pow2(4097), 8192);
    ASSERT_EQ_UINT(rill__next_pow2(SIZE_MAX / 2 + 2), 0);
}

static char log_seen[256];
static rill_log_level log_level_seen;
static int log_count;
static void log_cb(rill_log_level level, const char *msg, void *user) {
    ASSERT_EQ_STR((const char *)user, "ctx");
    snprintf(log_seen, sizeof log_seen, "%s", msg);
    log_level_seen = level;
    log_count++;
}

TEST(log_callback_gets_formatted_messages_up_to_its_level) {
    rill__log_info("dropped before any callback %d", 1);
    rill_set_log_callback(log_cb, RILL_LOG_INFO, "ctx");
    rill__log_warn("client %s dropped %d buffers", "127.0.0.1:4000", 3);
    ASSERT_EQ_STR(log_seen, "client 127.0.0.1:4000 dropped 3 buffers");
    ASSERT_EQ_INT(log_level_seen, RILL_LOG_WARN);
    rill__log_debug("too verbose");
    ASSERT_EQ_INT(log_count, 1);
    rill_set_log_callback(NULL, RILL_LOG_DEBUG, NULL);
    rill__log_error("nobody listens");
    ASSERT_EQ_INT(log_count, 1);
    ASSERT_EQ_STR(rill_log_level_name(RILL_LOG_ERROR), "error");
}

TEST(clock_is_monotonic_and_sleep_until_reaches_deadline) {
    uint64_t prev = rill_clock_now_ns();
    for (int i = 0; i < 100000; i++) {
        uint64_t now = rill_clock_now_ns();
        ASSERT_TRUE(now >= prev);
        prev = now;
    }
    uint64_t start = rill_clock_now_ns();
    uint64_t deadline = start + 20 * 1000 * 1000;
    rill_clock_sleep_until_ns(deadline);
    uint64_t woke = rill_clock_now_ns();
    ASSERT_TRUE(woke >= deadline);
    /* A deadline in the past returns at once (generous bound: shared box). */
    rill_clock_sleep_until_ns(start);
    ASSERT_LE_UINT(rill_clock_now_ns() - woke, 50u * 1000 * 1000);
}
