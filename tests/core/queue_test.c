/* The message queue: whole messages, in order, bounded, never allocating
 * after create; and the same between two threads. */
#include <pthread.h>
#include <sched.h>

#include "test.h"

typedef struct cmd {
    uint32_t kind;
    uint64_t seq;
    char name[16];
} cmd;

TEST(messages_come_out_whole_and_in_order) {
    rill_queue *q = NULL;
    ASSERT_OK(rill_queue_create(sizeof(cmd), 8, &q));
    ASSERT_EQ_UINT(rill_queue_capacity(q), 8);
    ASSERT_EQ_UINT(rill_queue_max_msg_size(q), sizeof(cmd));
    for (uint64_t i = 0; i < 5; i++) {
        cmd c = {1, i, "var"};
        ASSERT_OK(rill_queue_post(q, &c, sizeof c));
    }
    ASSERT_EQ_UINT(rill_queue_count(q), 5);
    for (uint64_t i = 0; i < 5; i++) {
        cmd c;
        size_t n = 0;
        ASSERT_OK(rill_queue_pop(q, &c, sizeof c, &n));
        ASSERT_EQ_UINT(n, sizeof c);
        ASSERT_EQ_UINT(c.seq, i);
        ASSERT_EQ_STR(c.name, "var");
    }
    cmd c;
    ASSERT_ERR(rill_queue_pop(q, &c, sizeof c, NULL), RILL_EEMPTY);
    rill_queue_destroy(q);
}

TEST(full_queue_refuses_post_without_losing_queued_messages) {
    rill_queue *q = NULL;
    ASSERT_OK(rill_queue_create(sizeof(uint32_t), 3, &q)); /* rounds to 4 */
    for (uint32_t i = 0; i < 4; i++)
        ASSERT_OK(rill_queue_post(q, &i, sizeof i));
    uint32_t extra = 99;
    ASSERT_ERR(rill_queue_post(q, &extra, sizeof extra), RILL_EFULL);
    for (uint32_t i = 0; i < 4; i++) {
        uint32_t v;
        ASSERT_OK(rill_queue_pop(q, &v, sizeof v, NULL));
        ASSERT_EQ_UINT(v, i);
    }
    rill_queue_destroy(q);
}

TEST(variable_sizes_and_too_small_output_keep_the_message) {
    rill_queue *q = NULL;
    ASSERT_OK(rill_queue_create(32, 4, &q));
    ASSERT_OK(rill_queue_post(q, "hi", 3));
    ASSERT_OK(rill_queue_post(q, NULL, 0));
    char big[33] = {0};
    ASSERT_ERR(rill_queue_post(q, big, 33), RILL_ETOOBIG);
    char out[8];
    size_t n = 0;
    ASSERT_ERR(rill_queue_pop(q, out, 2, &n), RILL_ETOOBIG);
    ASSERT_EQ_UINT(n, 3);
    ASSERT_OK(rill_queue_pop(q, out, sizeof out, &n));
    ASSERT_EQ_UINT(n, 3);
    ASSERT_EQ_STR(out, "hi");
    ASSERT_OK(rill_queue_pop(q, out, sizeof out, &n));
    ASSERT_EQ_UINT(n, 0);
    rill_queue_destroy(q);
}

TEST(post_and_pop_never_allocate) {
    rill_queue *q = NULL;
    ASSERT_OK(rill_queue_create(sizeof(cmd), 16, &q));
    long before = test_alloc_count();
    for (uint64_t i = 0; i < 1000; i++) {
        cmd c = {2, i, ""};
        ASSERT_OK(rill_queue_post(q, &c, sizeof c));
        ASSERT_OK(rill_queue_pop(q, &c, sizeof c, NULL));
    }
    ASSERT_EQ_INT(test_alloc_count(), before);
    rill_queue_destroy(q);
}

TEST(create_rejects_bad_arguments) {
    rill_queue *q = (rill_queue *)1;
    ASSERT_ERR(rill_queue_create(0, 4, &q), RILL_EINVAL);
    ASSERT_NULL(q);
    ASSERT_ERR(rill_queue_create(8, 0, &q), RILL_EINVAL);
    ASSERT_ERR(rill_queue_create(8, SIZE_MAX, &q), RILL_EINVAL);
    ASSERT_ERR(rill_queue_create(8, 4, NULL), RILL_EINVAL);
    rill_queue_destroy(NULL);
}

static rill_queue *oom_q;
static int oom_create(void *ctx) { (void)ctx; return rill_queue_create(64, 128, &oom_q); }
static void oom_destroy(void *ctx) { (void)ctx; rill_queue_destroy(oom_q); }

TEST(create_fails_cleanly_when_any_allocation_fails) {
    test_check_oom("rill_queue_create", oom_create, oom_destroy, NULL);
}

#define N_MESSAGES 2000000u

static void *producer(void *arg) {
    rill_queue *q = arg;
    for (uint64_t i = 0; i < N_MESSAGES;) {
        cmd c = {(uint32_t)(i % 7), i, ""};
        snprintf(c.name, sizeof c.name, "v%u", (unsigned)(i % 1000));
        size_t size = offsetof(cmd, name) + 1 + (size_t)(i % 15);
        if (rill_queue_post(q, &c, size) == 0)
            i++;
        else
            sched_yield();
    }
    return NULL;
}

TEST(threads_pass_2m_messages_in_order_with_contents_intact) {
    rill_queue *q = NULL;
    ASSERT_OK(rill_queue_create(sizeof(cmd), 64, &q));
    pthread_t t;
    ASSERT_EQ_INT(pthread_create(&t, NULL, producer, q), 0);
    uint64_t next = 0;
    const char *error = NULL;
    while (next < N_MESSAGES) {
        cmd c;
        memset(&c, 0, sizeof c);
        size_t n = 0;
        if (rill_queue_pop(q, &c, sizeof c, &n) != 0) {
            sched_yield();
            continue;
        }
        char name[16];
        snprintf(name, sizeof name, "v%u", (unsigned)(next % 1000));
        if (c.seq != next || c.kind != next % 7 ||
            n != offsetof(cmd, name) + 1 + next % 15 ||
            strncmp(c.name, name, next % 15 + 1) != 0) {
            error = "message out of order or corrupted";
            break;
        }
        next++;
    }
    if (error != NULL) {
        while (pthread_tryjoin_np(t, NULL) != 0) {
            cmd c;
            rill_queue_pop(q, &c, sizeof c, NULL);
        }
        rill_queue_destroy(q);
        FAIL("%s at message %llu", error, (unsigned long long)next);
    }
    pthread_join(t, NULL);
    ASSERT_EQ_UINT(rill_queue_count(q), 0);
    rill_queue_destroy(q);
}

TEST(deferred_posts_appear_together_on_publish) {
    rill_queue *q = NULL;
    ASSERT_OK(rill_queue_create(sizeof(uint32_t), 4, &q));
    for (uint32_t i = 0; i < 3; i++)
        ASSERT_OK(rill_queue_post_deferred(q, &i, sizeof i));
    uint32_t v;
    ASSERT_ERR(rill_queue_pop(q, &v, sizeof v, NULL), RILL_EEMPTY);
    ASSERT_EQ_UINT(rill_queue_count(q), 0);
    uint32_t extra[2] = {3, 4};
    ASSERT_OK(rill_queue_post_deferred(q, &extra[0], sizeof v));
    /* Capacity counts unpublished messages too. */
    ASSERT_ERR(rill_queue_post_deferred(q, &extra[1], sizeof v), RILL_EFULL);
    rill_queue_publish(q);
    ASSERT_EQ_UINT(rill_queue_count(q), 4);
    for (uint32_t i = 0; i < 4; i++) {
        ASSERT_OK(rill_queue_pop(q, &v, sizeof v, NULL));
        ASSERT_EQ_UINT(v, i);
    }
    rill_queue_publish(q); /* nothing pending: no effect */
    ASSERT_ERR(rill_queue_pop(q, &v, sizeof v, NULL), RILL_EEMPTY);
    rill_queue_destroy(q);
}
