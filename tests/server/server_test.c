/* rill_server as a library: creation, failure paths, variables. The
 * protocol itself is proven against a real `rill serve` in tests/e2e. */
#include "test.h"

static rill_server_config quiet_config(void) {
    rill_server_config cfg = rill_server_config_default();
    cfg.port = 0;
    cfg.log_dir = "/tmp";
    cfg.out_ring_bytes = 1 << 16;
    cfg.log_ring_bytes = 1 << 16;
    return cfg;
}

static rill_server *oom_srv;
static int oom_create(void *ctx) {
    (void)ctx;
    rill_server_config cfg = quiet_config();
    return rill_server_create(&cfg, &oom_srv);
}
static void oom_destroy(void *ctx) {
    (void)ctx;
    rill_server_destroy(oom_srv);
}

TEST(create_fails_cleanly_when_any_allocation_fails) {
    test_check_oom("rill_server_create", oom_create, oom_destroy, NULL);
}

TEST(create_serves_on_a_free_port_and_destroy_joins_everything) {
    rill_server_config cfg = quiet_config();
    rill_server *srv = NULL;
    ASSERT_OK(rill_server_create(&cfg, &srv));
    ASSERT_TRUE(rill_server_port(srv) > 0);
    rill_server_stats st;
    rill_server_get_stats(srv, &st);
    ASSERT_EQ_UINT(st.clients, 0);
    rill_server_destroy(srv);
    rill_server_destroy(NULL);
}

static int log_errors;
static char last_log[512];
static void capture(rill_log_level level, const char *msg, void *user) {
    (void)user;
    if (level == RILL_LOG_ERROR)
        log_errors++;
    snprintf(last_log, sizeof last_log, "%s", msg);
}

TEST(a_port_in_use_is_a_clear_error) {
    rill_server_config cfg = quiet_config();
    rill_server *a = NULL, *b = NULL;
    ASSERT_OK(rill_server_create(&cfg, &a));
    cfg.port = rill_server_port(a);
    rill_set_log_callback(capture, RILL_LOG_WARN, NULL);
    int rc = rill_server_create(&cfg, &b);
    rill_set_log_callback(NULL, RILL_LOG_ERROR, NULL);
    rill_server_destroy(a);
    ASSERT_ERR(rc, RILL_EIO);
    ASSERT_NULL(b);
    ASSERT_TRUE(strstr(last_log, "cannot listen on 127.0.0.1:") != NULL);
}

TEST(create_rejects_bad_config_and_missing_log_dir) {
    rill_server *srv = NULL;
    rill_server_config cfg = quiet_config();
    cfg.port = 70000;
    ASSERT_ERR(rill_server_create(&cfg, &srv), RILL_EINVAL);
    cfg = quiet_config();
    cfg.max_vars = 0;
    ASSERT_ERR(rill_server_create(&cfg, &srv), RILL_EINVAL);
    cfg = quiet_config();
    cfg.log_dir = "/nonexistent/rill-test";
    ASSERT_ERR(rill_server_create(&cfg, &srv), RILL_ENOTFOUND);
    ASSERT_ERR(rill_server_create(NULL, &srv), RILL_EINVAL);
}

TEST(variables_get_ids_in_order_and_bad_ones_are_refused) {
    rill_server_config cfg = quiet_config();
    cfg.max_vars = 3;
    rill_server *srv = NULL;
    ASSERT_OK(rill_server_create(&cfg, &srv));
    rill_set_log_callback(capture, RILL_LOG_WARN, NULL);
    log_errors = 0;
    rill_var *a = rill_var_create(srv, "a", RILL_TYPE_FLOAT, RILL_TS_DENSE);
    rill_var *b = rill_var_create(srv, "b", RILL_TYPE_UINT32, RILL_TS_SPARSE);
    ASSERT_NULL(rill_var_create(srv, "a", RILL_TYPE_FLOAT, RILL_TS_DENSE));
    ASSERT_NULL(rill_var_create(srv, "", RILL_TYPE_FLOAT, RILL_TS_DENSE));
    ASSERT_NULL(rill_var_create(srv, "x", (rill_type)42, RILL_TS_DENSE));
    rill_var *c = rill_var_create(srv, "c", RILL_TYPE_CHAR, RILL_TS_DENSE);
    ASSERT_NULL(rill_var_create(srv, "d", RILL_TYPE_FLOAT, RILL_TS_DENSE));
    ASSERT_TRUE(strstr(last_log, "at most 3 variables") != NULL);
    rill_set_log_callback(NULL, RILL_LOG_ERROR, NULL);
    ASSERT_EQ_INT(log_errors, 4);
    ASSERT_NOT_NULL(a);
    ASSERT_NOT_NULL(b);
    ASSERT_NOT_NULL(c);
    ASSERT_EQ_UINT(rill_var_id(a), 0);
    ASSERT_EQ_UINT(rill_var_id(b), 1);
    ASSERT_EQ_UINT(rill_var_id(c), 2);
    ASSERT_EQ_STR(rill_var_name(b), "b");
    ASSERT_EQ_INT(rill_var_type(b), RILL_TYPE_UINT32);
    ASSERT_EQ_INT(rill_var_mode(b), RILL_TS_SPARSE);
    rill_server_tick(srv, 5);
    rill_var_set_float(a, 2.5f);
    rill_var_set_char(c, (char)200); /* unsigned, as on Bela */
    ASSERT_EQ_DOUBLE(rill_var_get(a), 2.5, 0);
    ASSERT_EQ_DOUBLE(rill_var_get(c), 200, 0);
    ASSERT_TRUE(!rill_var_controlled(a));
    ASSERT_EQ_UINT(rill_server_now(srv), 5);
    rill_server_destroy(srv);
}
