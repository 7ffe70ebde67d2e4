/* libFuzzer target: the control-channel parser and the JSON writer.
 *
 * Beyond "does not crash", it checks what the parser promises (limits,
 * refused messages carry one error) and that every message the server
 * would send back is valid JSON that reads back to the same strings. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "proto/command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

/* Parse `text` with jansson (strictly: one object, whole input); abort if
 * it is not valid JSON. */
static json_t *must_parse(const char *text, size_t len) {
    json_error_t e;
    json_t *root = json_loadb(text, len, 0, &e);
    CHECK(root != NULL);
    return root;
}

static void check_error_reply(const rill__cmd_error *err) {
    char *out = NULL;
    size_t len = 0;
    CHECK(rill__cmd_error_reply(err, &out, &len) == 0);
    json_t *root = must_parse(out, len);
    json_t *msg = json_object_get(json_object_get(root, "error"), "message");
    CHECK(json_is_string(msg));
    CHECK(strcmp(json_string_value(msg), err->message) == 0);
    json_decref(root);
    rill__free(out);
}

/* A list reply naming every parsed entry must read back name for name.
 * (Its tick stays below 2^63: jansson refuses larger integer literals.) */
static void check_list_reply(const rill__cmd_msg *m) {
    size_t n = 0;
    for (size_t c = 0; c < m->n_cmds; c++)
        n += m->cmds[c].n_entries;
    if (n == 0)
        return;
    rill__var_snapshot *vars = calloc(n, sizeof *vars);
    CHECK(vars != NULL);
    size_t k = 0;
    for (size_t c = 0; c < m->n_cmds; c++)
        for (size_t j = 0; j < m->cmds[c].n_entries; j++, k++) {
            const rill__cmd_entry *e = &m->cmds[c].entries[j];
            vars[k].name = e->name;
            vars[k].type = (rill_type)(k % 5);
            vars[k].ts_mode = (rill_ts_mode)(k % 2);
            vars[k].monitor = e->period;
            vars[k].value = e->value;
            vars[k].value_input = (double)e->timestamp;
            vars[k].log_file_name = e->name;
        }
    char *out = NULL;
    size_t len = 0;
    CHECK(rill__cmd_list_reply(44100, INT64_MAX, vars, n,
                               &m->id, &out, &len) == 0);
    json_t *root = must_parse(out, len);
    json_t *arr = json_object_get(json_object_get(root, "watcher"), "watchers");
    CHECK(json_array_size(arr) == n);
    for (size_t i = 0; i < n; i++) {
        json_t *name = json_object_get(json_array_get(arr, i), "name");
        CHECK(json_is_string(name));
        CHECK(strcmp(json_string_value(name), vars[i].name) == 0);
    }
    json_decref(root);
    rill__free(out);
    free(vars);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rill__cmd_msg *m = NULL;
    CHECK(rill__cmd_parse((const char *)data, size, &m) == 0);
    if (m->status != 0) {
        CHECK(m->n_errors == 1 && m->n_cmds == 0);
    }
    CHECK(m->n_cmds <= RILL__CMD_MAX_COMMANDS);
    CHECK(m->n_errors <= RILL__CMD_MAX_ERRORS + 1);
    for (size_t c = 0; c < m->n_cmds; c++) {
        const rill__cmd *cmd = &m->cmds[c];
        CHECK(cmd->name != NULL);
        CHECK(cmd->n_entries <= RILL__CMD_MAX_ENTRIES);
        for (size_t j = 0; j < cmd->n_entries; j++) {
            const rill__cmd_entry *e = &cmd->entries[j];
            CHECK(e->name != NULL);
            CHECK(e->period < 0x80000000u);
            if (cmd->kind == RILL__CMD_MONITOR)
                CHECK(e->has_period);
            if (cmd->kind == RILL__CMD_SET || cmd->kind == RILL__CMD_SET_MASK)
                CHECK(e->has_value);
            if (cmd->kind == RILL__CMD_SET_MASK)
                CHECK(e->has_mask && e->value >= 0 && e->value <= 4294967295.0);
        }
    }
    for (size_t i = 0; i < m->n_errors; i++)
        check_error_reply(&m->errors[i]);
    check_list_reply(m);
    rill__cmd_msg_destroy(m);

    /* Raw bytes (any UTF-8 validity) through the string escaper: the
     * output must still be JSON. */
    char *name = malloc(size + 1);
    CHECK(name != NULL);
    memcpy(name, data, size);
    name[size] = '\0';
    char *out = NULL;
    size_t len = 0;
    CHECK(rill__cmd_connection_event(name, &out, &len) == 0);
    json_t *root = must_parse(out, len);
    json_decref(root);
    rill__free(out);
    free(name);
    return 0;
}
