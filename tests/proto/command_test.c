/* The control channel: parsing every command shape pybela sends, every
 * validation error with its exact message, the server's messages byte for
 * byte (the list reply against the spec's example), and out-of-memory
 * behaviour of everything that allocates. */
#include <math.h>

#include "core/internal.h"
#include "test.h"
#include "proto/command.h"

static rill__cmd_msg *parse(const char *json) {
    rill__cmd_msg *m = NULL;
    ASSERT_OK(rill__cmd_parse(json, strlen(json), &m));
    ASSERT_NOT_NULL(m);
    return m;
}

/* Parse `json`, which must give exactly one error with these fields, and
 * return the message for further checks. */
static rill__cmd_msg *parse_one_error(const char *json, size_t cmd_index,
                                      const char *cmd, size_t var_index,
                                      const char *var, const char *message) {
    rill__cmd_msg *m = parse(json);
    if (m->n_errors != 1)
        FAIL("%s: %zu errors, expected 1 (first: %s)", json, m->n_errors,
             m->n_errors ? m->errors[0].message : "-");
    const rill__cmd_error *e = &m->errors[0];
    ASSERT_EQ_STR(e->message, message);
    ASSERT_EQ_UINT(e->cmd_index, cmd_index);
    ASSERT_EQ_UINT(e->var_index, var_index);
    if (cmd == NULL)
        ASSERT_NULL(e->cmd);
    else
        ASSERT_EQ_STR(e->cmd, cmd);
    if (var == NULL)
        ASSERT_NULL(e->var);
    else
        ASSERT_EQ_STR(e->var, var);
    return m;
}

#define NONE RILL__CMD_NONE

/* ---- What pybela sends (spec §2.3) ------------------------------------- */

TEST(connection_reply_event_is_recognised) {
    rill__cmd_msg *m = parse("{\"event\":\"connection-reply\"}");
    ASSERT_EQ_INT(m->status, 0);
    ASSERT_EQ_INT(m->event, RILL__EVENT_CONNECTION_REPLY);
    ASSERT_EQ_STR(m->event_name, "connection-reply");
    ASSERT_EQ_UINT(m->n_cmds, 0);
    ASSERT_EQ_UINT(m->n_errors, 0);
    rill__cmd_msg_destroy(m);
}

TEST(active_inactive_and_other_events_are_told_apart) {
    rill__cmd_msg *m = parse("{\"event\":\"active\"}");
    ASSERT_EQ_INT(m->event, RILL__EVENT_ACTIVE);
    rill__cmd_msg_destroy(m);
    m = parse("{\"event\":\"inactive\"}");
    ASSERT_EQ_INT(m->event, RILL__EVENT_INACTIVE);
    rill__cmd_msg_destroy(m);
    m = parse("{\"event\":\"hello\"}");
    ASSERT_EQ_INT(m->event, RILL__EVENT_UNKNOWN);
    ASSERT_EQ_STR(m->event_name, "hello");
    ASSERT_EQ_UINT(m->n_errors, 0);
    rill__cmd_msg_destroy(m);
    m = parse("{}");
    ASSERT_EQ_INT(m->event, RILL__EVENT_NONE);
    ASSERT_NULL(m->event_name);
    rill__cmd_msg_destroy(m);
}

TEST(list_command_has_no_entries) {
    rill__cmd_msg *m = parse("{\"watcher\":[{\"cmd\":\"list\"}]}");
    ASSERT_EQ_UINT(m->n_cmds, 1);
    ASSERT_EQ_INT(m->cmds[0].kind, RILL__CMD_LIST);
    ASSERT_EQ_STR(m->cmds[0].name, "list");
    ASSERT_EQ_UINT(m->cmds[0].index, 0);
    ASSERT_EQ_UINT(m->cmds[0].n_entries, 0);
    ASSERT_EQ_INT(m->cmds[0].id.kind, RILL__ID_NONE);
    ASSERT_EQ_UINT(m->n_errors, 0);
    rill__cmd_msg_destroy(m);
}

TEST(start_streaming_watch_ignores_the_longer_periods_array) {
    /* pybela sends one period per variable of the whole watcher. */
    rill__cmd_msg *m = parse("{\"watcher\":[{\"cmd\":\"watch\",\"watchers\":"
                             "[\"a\",\"b\"],\"periods\":[0,0,0,\"x\"]}]}");
    ASSERT_EQ_UINT(m->n_errors, 0);
    ASSERT_EQ_UINT(m->n_cmds, 1);
    const rill__cmd *c = &m->cmds[0];
    ASSERT_EQ_INT(c->kind, RILL__CMD_WATCH);
    ASSERT_EQ_UINT(c->n_entries, 2);
    ASSERT_EQ_STR(c->entries[0].name, "a");
    ASSERT_EQ_STR(c->entries[1].name, "b");
    ASSERT_EQ_UINT(c->entries[1].index, 1);
    ASSERT_TRUE(!c->entries[0].has_timestamp && !c->entries[0].has_duration);
    ASSERT_TRUE(!c->entries[0].has_period);
    rill__cmd_msg_destroy(m);
}

TEST(schedule_streaming_watch_reads_timestamps_and_durations) {
    rill__cmd_msg *m = parse(
        "{\"watcher\":[{\"cmd\":\"watch\",\"timestamps\":[1000,2000.0],"
        "\"durations\":[44100,0],\"watchers\":[\"a\",\"b\"]}]}");
    ASSERT_EQ_UINT(m->n_errors, 0);
    const rill__cmd *c = &m->cmds[0];
    ASSERT_EQ_UINT(c->n_entries, 2);
    ASSERT_TRUE(c->entries[0].has_timestamp && c->entries[0].has_duration);
    ASSERT_EQ_UINT(c->entries[0].timestamp, 1000);
    ASSERT_EQ_UINT(c->entries[0].duration, 44100);
    ASSERT_EQ_UINT(c->entries[1].timestamp, 2000);
    ASSERT_EQ_UINT(c->entries[1].duration, 0);
    rill__cmd_msg_destroy(m);
}

TEST(timestamps_above_2_pow_53_stay_exact_as_json_integers) {
    rill__cmd_msg *m = parse("{\"watcher\":[{\"cmd\":\"unwatch\",\"watchers\":"
                             "[\"a\"],\"timestamps\":[9007199254740993]}]}");
    ASSERT_EQ_UINT(m->cmds[0].entries[0].timestamp, 9007199254740993ull);
    rill__cmd_msg_destroy(m);
}

TEST(start_logging_with_empty_arrays_uses_defaults) {
    rill__cmd_msg *m = parse("{\"watcher\":[{\"cmd\":\"log\",\"timestamps\":[],"
                             "\"durations\":[],\"watchers\":[\"a\"]}]}");
    ASSERT_EQ_UINT(m->n_errors, 0);
    ASSERT_EQ_INT(m->cmds[0].kind, RILL__CMD_LOG);
    ASSERT_EQ_UINT(m->cmds[0].n_entries, 1);
    ASSERT_TRUE(!m->cmds[0].entries[0].has_timestamp);
    ASSERT_TRUE(!m->cmds[0].entries[0].has_duration);
    rill__cmd_msg_destroy(m);
}

TEST(stream_n_values_runs_unwatch_then_watch_in_order) {
    rill__cmd_msg *m = parse("{\"watcher\":[{\"cmd\":\"unwatch\",\"watchers\":"
                             "[\"a\",\"b\"]},{\"cmd\":\"watch\",\"watchers\":"
                             "[\"a\"]}]}");
    ASSERT_EQ_UINT(m->n_cmds, 2);
    ASSERT_EQ_INT(m->cmds[0].kind, RILL__CMD_UNWATCH);
    ASSERT_EQ_UINT(m->cmds[0].n_entries, 2);
    ASSERT_EQ_INT(m->cmds[1].kind, RILL__CMD_WATCH);
    ASSERT_EQ_UINT(m->cmds[1].index, 1);
    rill__cmd_msg_destroy(m);
}

TEST(monitor_control_set_and_set_mask_carry_their_fields) {
    rill__cmd_msg *m = parse(
        "{\"watcher\":["
        "{\"cmd\":\"monitor\",\"watchers\":[\"a\",\"b\"],\"periods\":[1000,1]},"
        "{\"cmd\":\"control\",\"watchers\":[\"a\"]},"
        "{\"cmd\":\"uncontrol\",\"watchers\":[\"b\"]},"
        "{\"cmd\":\"set\",\"watchers\":[\"a\",\"b\"],\"values\":[4.6,true]},"
        "{\"cmd\":\"setMask\",\"watchers\":[\"a\"],\"values\":[4294967295],"
        "\"masks\":[255]},"
        "{\"cmd\":\"unlog\",\"watchers\":[\"a\"],\"timestamps\":[5]}]}");
    ASSERT_EQ_UINT(m->n_errors, 0);
    ASSERT_EQ_UINT(m->n_cmds, 6);
    ASSERT_EQ_INT(m->cmds[0].kind, RILL__CMD_MONITOR);
    ASSERT_EQ_UINT(m->cmds[0].entries[0].period, 1000);
    ASSERT_EQ_UINT(m->cmds[0].entries[1].period, 1);
    ASSERT_TRUE(m->cmds[0].entries[1].has_period);
    ASSERT_EQ_INT(m->cmds[1].kind, RILL__CMD_CONTROL);
    ASSERT_EQ_STR(m->cmds[1].entries[0].name, "a");
    ASSERT_EQ_INT(m->cmds[2].kind, RILL__CMD_UNCONTROL);
    ASSERT_EQ_INT(m->cmds[3].kind, RILL__CMD_SET);
    ASSERT_EQ_DOUBLE(m->cmds[3].entries[0].value, 4.6, 0);
    ASSERT_EQ_DOUBLE(m->cmds[3].entries[1].value, 1.0, 0);
    ASSERT_EQ_INT(m->cmds[4].kind, RILL__CMD_SET_MASK);
    ASSERT_EQ_DOUBLE(m->cmds[4].entries[0].value, 4294967295.0, 0);
    ASSERT_EQ_UINT(m->cmds[4].entries[0].mask, 255);
    ASSERT_TRUE(m->cmds[4].entries[0].has_mask && m->cmds[4].entries[0].has_value);
    ASSERT_EQ_INT(m->cmds[5].kind, RILL__CMD_UNLOG);
    ASSERT_EQ_UINT(m->cmds[5].entries[0].timestamp, 5);
    rill__cmd_msg_destroy(m);
}

TEST(event_and_watcher_in_one_message_are_both_read) {
    rill__cmd_msg *m = parse("{\"event\":\"connection-reply\",\"watcher\":"
                             "[{\"cmd\":\"list\"}]}");
    ASSERT_EQ_INT(m->event, RILL__EVENT_CONNECTION_REPLY);
    ASSERT_EQ_UINT(m->n_cmds, 1);
    rill__cmd_msg_destroy(m);
}

TEST(names_keep_utf8_and_escapes_decoded) {
    rill__cmd_msg *m = parse("{\"watcher\":[{\"cmd\":\"control\",\"watchers\":"
                             "[\"caf\\u00e9\",\"a\\/b\"]}]}");
    ASSERT_EQ_STR(m->cmds[0].entries[0].name, "caf\xc3\xa9");
    ASSERT_EQ_STR(m->cmds[0].entries[1].name, "a/b");
    rill__cmd_msg_destroy(m);
}

/* ---- Request ids (spec §8 fix 2) --------------------------------------- */

TEST(message_id_is_echoed_by_every_command_and_its_errors) {
    rill__cmd_msg *m = parse("{\"id\":7,\"watcher\":[{\"cmd\":\"list\"},"
                             "{\"cmd\":\"set\",\"id\":\"s1\",\"watchers\":"
                             "[\"a\"],\"values\":[]}]}");
    ASSERT_EQ_INT(m->id.kind, RILL__ID_INT);
    ASSERT_EQ_INT(m->id.i, 7);
    ASSERT_EQ_INT(m->cmds[0].id.kind, RILL__ID_INT);
    ASSERT_EQ_INT(m->cmds[0].id.i, 7);
    ASSERT_EQ_INT(m->cmds[1].id.kind, RILL__ID_STRING);
    ASSERT_EQ_STR(m->cmds[1].id.s, "s1");
    ASSERT_EQ_UINT(m->n_errors, 1);
    ASSERT_EQ_INT(m->errors[0].id.kind, RILL__ID_STRING);
    ASSERT_EQ_STR(m->errors[0].id.s, "s1");
    rill__cmd_msg_destroy(m);
}

TEST(id_of_wrong_type_is_reported_and_ignored) {
    rill__cmd_msg *m = parse_one_error(
        "{\"id\":1.5,\"watcher\":[{\"cmd\":\"list\"}]}", NONE, NULL, NONE, NULL,
        "\"id\" is a real number; it must be a string or an integer, ignored");
    ASSERT_EQ_INT(m->id.kind, RILL__ID_NONE);
    ASSERT_EQ_UINT(m->n_cmds, 1);
    rill__cmd_msg_destroy(m);
    m = parse_one_error("{\"watcher\":[{\"cmd\":\"list\",\"id\":[1]}]}", 0,
                        "list", NONE, NULL,
                        "list: \"id\" is an array; it must be a string or an "
                        "integer, ignored");
    ASSERT_EQ_UINT(m->n_cmds, 1);
    rill__cmd_msg_destroy(m);
}

/* ---- Whole-message refusals -------------------------------------------- */

TEST(message_over_64_kib_is_refused_before_parsing) {
    static char big[RILL__CMD_MAX_BYTES + 2];
    memset(big, ' ', sizeof big);
    big[0] = '{';
    big[RILL__CMD_MAX_BYTES] = '}';
    rill__cmd_msg *m = NULL;
    ASSERT_OK(rill__cmd_parse(big, RILL__CMD_MAX_BYTES + 1, &m));
    ASSERT_EQ_INT(m->status, RILL_ETOOBIG);
    ASSERT_EQ_UINT(m->n_errors, 1);
    ASSERT_EQ_STR(m->errors[0].message, "message has 65537 bytes; the limit is "
                                        "65536");
    rill__cmd_msg_destroy(m);
    /* Exactly at the limit is parsed. */
    ASSERT_OK(rill__cmd_parse(big, RILL__CMD_MAX_BYTES, &m));
    ASSERT_EQ_INT(m->status, RILL_EPROTO); /* '{' + spaces: not JSON */
    rill__cmd_msg_destroy(m);
}

TEST(text_that_is_not_json_is_refused_with_line_and_column) {
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[{\"cmd\":\"list\"},]}", NONE, NULL, NONE, NULL,
        "not JSON: unexpected token near ']' (line 1, column 28)");
    ASSERT_EQ_INT(m->status, RILL_EPROTO);
    ASSERT_EQ_UINT(m->n_cmds, 0);
    rill__cmd_msg_destroy(m);
    m = parse_one_error("{\n\"a\":1,}", NONE, NULL, NONE, NULL,
                        "not JSON: string or '}' expected near '}' (line 2, "
                        "column 7)");
    rill__cmd_msg_destroy(m);
    m = parse_one_error("", NONE, NULL, NONE, NULL,
                        "not JSON: unexpected token near end of file (line 1, "
                        "column 0)");
    rill__cmd_msg_destroy(m);
}

TEST(not_json_message_quotes_raw_input_as_printable_ascii) {
    rill__cmd_msg *m = parse_one_error("{\"a\xff\x01\":}", NONE, NULL, NONE,
                                       NULL,
                                       "not JSON: unable to decode byte 0xff "
                                       "near '\"a' (line 1, column 3)");
    rill__cmd_msg_destroy(m);
    /* Found by fuzz_command: jansson quotes the bad escape's raw bytes. */
    m = parse("{\"a\":\"\\u0\xda\x9a\"}");
    ASSERT_EQ_INT(m->status, RILL_EPROTO);
    ASSERT_EQ_STR(m->errors[0].message,
                  "not JSON: invalid escape near '\"\\u0?' (line 1, column 10)");
    for (const char *c = m->errors[0].message; *c; c++)
        ASSERT_TRUE(*c >= 0x20 && *c < 0x7f);
    rill__cmd_msg_destroy(m);
}

TEST(long_unknown_cmd_is_quoted_without_cutting_a_character) {
    /* 63 ASCII bytes then a 2-byte character straddling the 64-byte cut. */
    char json[256], name[80];
    memset(name, 'x', 63);
    memcpy(name + 63, "\xc3\xa9tail", 7);
    snprintf(json, sizeof json, "{\"watcher\":[{\"cmd\":\"%s\"}]}", name);
    rill__cmd_msg *m = parse(json);
    char want[128];
    snprintf(want, sizeof want, "unknown cmd \"%.63s\"; skipped", name);
    ASSERT_EQ_STR(m->errors[0].message, want);
    rill__cmd_msg_destroy(m);
}

TEST(embedded_nul_makes_the_message_not_json) {
    rill__cmd_msg *m = NULL;
    ASSERT_OK(rill__cmd_parse("{}\0{\"watcher\":[]}", 17, &m));
    ASSERT_EQ_INT(m->status, RILL_EPROTO);
    ASSERT_EQ_STR(m->errors[0].message, "not JSON: end of file expected near "
                                        "end of file (line 1, column 3)");
    rill__cmd_msg_destroy(m);
}

TEST(top_level_that_is_not_an_object_is_refused) {
    rill__cmd_msg *m = parse_one_error("[{\"cmd\":\"list\"}]", NONE, NULL, NONE,
                                       NULL,
                                       "top level is an array, not an object");
    ASSERT_EQ_INT(m->status, RILL_EPROTO);
    rill__cmd_msg_destroy(m);
    m = parse_one_error("\"list\"", NONE, NULL, NONE, NULL,
                        "top level is a string, not an object");
    rill__cmd_msg_destroy(m);
    m = parse_one_error("42", NONE, NULL, NONE, NULL,
                        "top level is an integer, not an object");
    rill__cmd_msg_destroy(m);
}

/* ---- Envelope errors ---------------------------------------------------- */

TEST(watcher_that_is_not_an_array_runs_no_command_but_keeps_event) {
    rill__cmd_msg *m = parse_one_error(
        "{\"event\":\"active\",\"watcher\":{\"cmd\":\"list\"}}", NONE, NULL,
        NONE, NULL, "\"watcher\" is an object, not an array; no command run");
    ASSERT_EQ_INT(m->status, 0);
    ASSERT_EQ_INT(m->event, RILL__EVENT_ACTIVE);
    ASSERT_EQ_UINT(m->n_cmds, 0);
    rill__cmd_msg_destroy(m);
}

TEST(event_that_is_not_a_string_is_reported_and_ignored) {
    rill__cmd_msg *m = parse_one_error("{\"event\":5}", NONE, NULL, NONE, NULL,
                                       "\"event\" is an integer, not a string; "
                                       "ignored");
    ASSERT_EQ_INT(m->event, RILL__EVENT_NONE);
    rill__cmd_msg_destroy(m);
}

TEST(commands_beyond_the_limit_are_skipped) {
    char json[64 * 20 + 64];
    size_t n = (size_t)snprintf(json, sizeof json, "{\"watcher\":[");
    for (int i = 0; i < RILL__CMD_MAX_COMMANDS + 2; i++)
        n += (size_t)snprintf(json + n, sizeof json - n, "%s{\"cmd\":\"list\"}",
                              i ? "," : "");
    snprintf(json + n, sizeof json - n, "]}");
    rill__cmd_msg *m = parse_one_error(
        json, NONE, NULL, NONE, NULL,
        "\"watcher\" has 66 commands; the limit is 64, commands 64 to 65 "
        "skipped");
    ASSERT_EQ_UINT(m->n_cmds, 64);
    ASSERT_EQ_UINT(m->cmds[63].index, 63);
    rill__cmd_msg_destroy(m);
}

TEST(errors_beyond_the_limit_are_summed_up_in_one) {
    char json[4096];
    size_t n = (size_t)snprintf(json, sizeof json, "{\"watcher\":[");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(json + n, sizeof json - n, "%s{\"cmd\":%d}",
                              i ? "," : "", i);
    snprintf(json + n, sizeof json - n, "]}");
    rill__cmd_msg *m = parse(json);
    ASSERT_EQ_UINT(m->n_errors, RILL__CMD_MAX_ERRORS + 1);
    ASSERT_EQ_STR(m->errors[0].message,
                  "command 0: \"cmd\" is an integer, not a string; skipped");
    ASSERT_EQ_STR(m->errors[31].message,
                  "command 31: \"cmd\" is an integer, not a string; skipped");
    ASSERT_EQ_STR(m->errors[32].message, "8 more errors not reported");
    ASSERT_EQ_UINT(m->errors[32].cmd_index, NONE);
    rill__cmd_msg_destroy(m);
}

/* ---- Command errors ---------------------------------------------------- */

TEST(command_that_is_not_an_object_is_skipped) {
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[\"list\",{\"cmd\":\"list\"}]}", 0, NULL, NONE, NULL,
        "command 0 is a string, not an object; skipped");
    ASSERT_EQ_UINT(m->n_cmds, 1);
    ASSERT_EQ_UINT(m->cmds[0].index, 1);
    rill__cmd_msg_destroy(m);
}

TEST(command_without_cmd_is_skipped_but_its_id_is_echoed) {
    rill__cmd_msg *m = parse_one_error(
        "{\"id\":1,\"watcher\":[{\"watchers\":[\"a\"],\"id\":\"m1\"}]}",
        0, NULL, NONE, NULL, "command 0 has no \"cmd\"; skipped");
    ASSERT_EQ_UINT(m->n_cmds, 0);
    ASSERT_EQ_INT(m->errors[0].id.kind, RILL__ID_STRING);
    ASSERT_EQ_STR(m->errors[0].id.s, "m1");
    rill__cmd_msg_destroy(m);
}

TEST(command_whose_cmd_is_not_a_string_is_skipped) {
    rill__cmd_msg *m = parse_one_error("{\"watcher\":[{\"cmd\":null}]}", 0, NULL,
                                       NONE, NULL,
                                       "command 0: \"cmd\" is null, not a "
                                       "string; skipped");
    ASSERT_EQ_UINT(m->n_cmds, 0);
    rill__cmd_msg_destroy(m);
}

TEST(unknown_cmd_is_reported_and_kept_as_unknown) {
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[{\"cmd\":\"explode\",\"watchers\":[\"a\"]},"
        "{\"cmd\":\"list\"}]}",
        0, "explode", NONE, NULL, "unknown cmd \"explode\"; skipped");
    ASSERT_EQ_UINT(m->n_cmds, 2);
    ASSERT_EQ_INT(m->cmds[0].kind, RILL__CMD_UNKNOWN);
    ASSERT_EQ_STR(m->cmds[0].name, "explode");
    ASSERT_EQ_UINT(m->cmds[0].n_entries, 0);
    ASSERT_EQ_INT(m->cmds[1].kind, RILL__CMD_LIST);
    rill__cmd_msg_destroy(m);
}

TEST(command_without_watchers_is_skipped) {
    rill__cmd_msg *m = parse_one_error("{\"watcher\":[{\"cmd\":\"watch\"}]}", 0,
                                       "watch", NONE, NULL,
                                       "watch: no \"watchers\" array; command "
                                       "skipped");
    ASSERT_EQ_UINT(m->n_cmds, 0);
    rill__cmd_msg_destroy(m);
}

TEST(command_whose_watchers_is_not_an_array_is_skipped) {
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[{\"cmd\":\"unwatch\",\"watchers\":\"a\"}]}", 0,
        "unwatch", NONE, NULL,
        "unwatch: \"watchers\" is a string, not an array; command skipped");
    ASSERT_EQ_UINT(m->n_cmds, 0);
    rill__cmd_msg_destroy(m);
}

TEST(command_with_too_many_names_is_skipped) {
    static char json[8 * 1100];
    size_t n = (size_t)snprintf(json, sizeof json,
                                "{\"watcher\":[{\"cmd\":\"control\","
                                "\"watchers\":[");
    for (int i = 0; i < RILL__CMD_MAX_ENTRIES + 1; i++)
        n += (size_t)snprintf(json + n, sizeof json - n, "%s\"v\"",
                              i ? "," : "");
    snprintf(json + n, sizeof json - n, "]}]}");
    rill__cmd_msg *m = parse_one_error(
        json, 0, "control", NONE, NULL,
        "control: \"watchers\" has 1025 entries; the limit is 1024, command "
        "skipped");
    ASSERT_EQ_UINT(m->n_cmds, 0);
    rill__cmd_msg_destroy(m);
}

TEST(per_variable_field_that_is_not_an_array_skips_the_command) {
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[{\"cmd\":\"watch\",\"watchers\":[\"a\"],"
        "\"timestamps\":5}]}",
        0, "watch", NONE, NULL,
        "watch: \"timestamps\" is an integer, not an array; command skipped");
    ASSERT_EQ_UINT(m->n_cmds, 0);
    rill__cmd_msg_destroy(m);
}

/* ---- Entry errors: only the bad name is skipped (spec §8 fix 3) -------- */

TEST(non_string_name_skips_only_that_entry) {
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[{\"cmd\":\"control\",\"watchers\":[\"a\",7,\"b\"]}]}", 0,
        "control", 1, NULL,
        "control: \"watchers\"[1] is an integer, not a string; skipped");
    ASSERT_EQ_UINT(m->cmds[0].n_entries, 2);
    ASSERT_EQ_STR(m->cmds[0].entries[0].name, "a");
    ASSERT_EQ_STR(m->cmds[0].entries[1].name, "b");
    ASSERT_EQ_UINT(m->cmds[0].entries[1].index, 2);
    rill__cmd_msg_destroy(m);
}

TEST(negative_timestamp_skips_its_name_only) {
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[{\"cmd\":\"watch\",\"watchers\":[\"a\",\"b\"],"
        "\"timestamps\":[-5,10]}]}",
        0, "watch", 0, "a",
        "watch: \"timestamps\"[0] is -5, below 0; \"a\" skipped");
    ASSERT_EQ_UINT(m->cmds[0].n_entries, 1);
    ASSERT_EQ_STR(m->cmds[0].entries[0].name, "b");
    ASSERT_EQ_UINT(m->cmds[0].entries[0].timestamp, 10);
    rill__cmd_msg_destroy(m);
}

TEST(negative_real_timestamp_is_refused) {
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[{\"cmd\":\"log\",\"watchers\":[\"a\"],"
        "\"timestamps\":[-2.0]}]}",
        0, "log", 0, "a", "log: \"timestamps\"[0] is -2, below 0; \"a\" skipped");
    ASSERT_EQ_UINT(m->cmds[0].n_entries, 0);
    rill__cmd_msg_destroy(m);
}

TEST(fractional_duration_skips_its_name) {
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[{\"cmd\":\"watch\",\"watchers\":[\"a\"],"
        "\"durations\":[1.5]}]}",
        0, "watch", 0, "a",
        "watch: \"durations\"[0] is 1.5, not an integer; \"a\" skipped");
    ASSERT_EQ_UINT(m->cmds[0].n_entries, 0);
    rill__cmd_msg_destroy(m);
}

TEST(non_numeric_timestamp_skips_its_name) {
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[{\"cmd\":\"unlog\",\"watchers\":[\"a\"],"
        "\"timestamps\":[\"soon\"]}]}",
        0, "unlog", 0, "a",
        "unlog: \"timestamps\"[0] is a string, not a number; \"a\" skipped");
    rill__cmd_msg_destroy(m);
    m = parse_one_error("{\"watcher\":[{\"cmd\":\"watch\",\"watchers\":[\"a\"],"
                        "\"timestamps\":[true]}]}",
                        0, "watch", 0, "a",
                        "watch: \"timestamps\"[0] is a boolean, not a number; "
                        "\"a\" skipped");
    rill__cmd_msg_destroy(m);
}

TEST(timestamp_beyond_64_bits_skips_its_name) {
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[{\"cmd\":\"watch\",\"watchers\":[\"a\"],"
        "\"timestamps\":[2e19]}]}",
        0, "watch", 0, "a",
        "watch: \"timestamps\"[0] is 2e+19, above 18446744073709551615; \"a\" "
        "skipped");
    rill__cmd_msg_destroy(m);
    /* 2^64 as a double is just out of range too. */
    m = parse_one_error("{\"watcher\":[{\"cmd\":\"watch\",\"watchers\":[\"a\"],"
                        "\"durations\":[18446744073709551616.0]}]}",
                        0, "watch", 0, "a",
                        "watch: \"durations\"[0] is 1.8446744073709552e+19, "
                        "above 18446744073709551615; \"a\" skipped");
    rill__cmd_msg_destroy(m);
}

TEST(period_of_2_pow_31_or_more_skips_its_name) {
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[{\"cmd\":\"monitor\",\"watchers\":[\"a\",\"b\"],"
        "\"periods\":[2147483648,2147483647]}]}",
        0, "monitor", 0, "a",
        "monitor: \"periods\"[0] is 2147483648, above 2147483647; \"a\" "
        "skipped");
    ASSERT_EQ_UINT(m->cmds[0].n_entries, 1);
    ASSERT_EQ_UINT(m->cmds[0].entries[0].period, 2147483647u);
    rill__cmd_msg_destroy(m);
}

TEST(monitor_without_periods_is_skipped) {
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[{\"cmd\":\"monitor\",\"watchers\":[\"a\"]}]}", 0,
        "monitor", NONE, NULL, "monitor: no \"periods\" array; command skipped");
    ASSERT_EQ_UINT(m->n_cmds, 0);
    rill__cmd_msg_destroy(m);
}

TEST(monitor_with_short_periods_skips_only_names_without_one) {
    /* Bela skips the remaining names of the command here. */
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[{\"cmd\":\"monitor\",\"watchers\":[\"a\",\"b\"],"
        "\"periods\":[10]}]}",
        0, "monitor", 1, "b",
        "monitor: \"periods\" has 1 entry but \"watchers\" has 2; \"b\" "
        "skipped");
    ASSERT_EQ_UINT(m->cmds[0].n_entries, 1);
    ASSERT_EQ_UINT(m->cmds[0].entries[0].period, 10);
    rill__cmd_msg_destroy(m);
}

TEST(set_with_fewer_values_than_names_skips_the_rest_not_the_envelope) {
    /* Bela stops processing the whole envelope here. */
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[{\"cmd\":\"set\",\"watchers\":[\"a\",\"b\"],"
        "\"values\":[1]},{\"cmd\":\"list\"}]}",
        0, "set", 1, "b",
        "set: \"values\" has 1 entry but \"watchers\" has 2; \"b\" skipped");
    ASSERT_EQ_UINT(m->n_cmds, 2);
    ASSERT_EQ_UINT(m->cmds[0].n_entries, 1);
    ASSERT_EQ_STR(m->cmds[0].entries[0].name, "a");
    ASSERT_EQ_DOUBLE(m->cmds[0].entries[0].value, 1.0, 0);
    ASSERT_EQ_INT(m->cmds[1].kind, RILL__CMD_LIST);
    rill__cmd_msg_destroy(m);
}

TEST(set_with_more_values_than_names_is_reported_but_applied) {
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[{\"cmd\":\"set\",\"watchers\":[\"a\",\"b\"],"
        "\"values\":[1,2,3]}]}",
        0, "set", NONE, NULL,
        "set: \"values\" has 3 entries but \"watchers\" has 2; the extra "
        "entries are ignored");
    ASSERT_EQ_UINT(m->cmds[0].n_entries, 2);
    ASSERT_EQ_DOUBLE(m->cmds[0].entries[1].value, 2.0, 0);
    rill__cmd_msg_destroy(m);
}

TEST(set_with_non_numeric_value_skips_its_name) {
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[{\"cmd\":\"set\",\"watchers\":[\"a\",\"b\"],"
        "\"values\":[\"x\",2]}]}",
        0, "set", 0, "a",
        "set: \"values\"[0] is a string, not a number; \"a\" skipped");
    ASSERT_EQ_UINT(m->cmds[0].n_entries, 1);
    ASSERT_EQ_STR(m->cmds[0].entries[0].name, "b");
    rill__cmd_msg_destroy(m);
}

TEST(set_mask_with_short_masks_skips_the_name_instead_of_reading_past) {
    /* Bela reads masks out of bounds here. */
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[{\"cmd\":\"setMask\",\"watchers\":[\"a\",\"b\"],"
        "\"values\":[1,2],\"masks\":[3]}]}",
        0, "setMask", 1, "b",
        "setMask: \"masks\" has 1 entry but \"watchers\" has 2; \"b\" skipped");
    ASSERT_EQ_UINT(m->cmds[0].n_entries, 1);
    ASSERT_EQ_UINT(m->cmds[0].entries[0].mask, 3);
    rill__cmd_msg_destroy(m);
}

TEST(set_mask_with_mask_outside_32_bits_skips_its_name) {
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[{\"cmd\":\"setMask\",\"watchers\":[\"a\"],"
        "\"values\":[1],\"masks\":[-1]}]}",
        0, "setMask", 0, "a",
        "setMask: \"masks\"[0] is -1, below 0; \"a\" skipped");
    rill__cmd_msg_destroy(m);
    m = parse_one_error("{\"watcher\":[{\"cmd\":\"setMask\",\"watchers\":[\"a\"],"
                        "\"values\":[4294967296],\"masks\":[1]}]}",
                        0, "setMask", 0, "a",
                        "setMask: \"values\"[0] is 4294967296, above "
                        "4294967295; \"a\" skipped");
    rill__cmd_msg_destroy(m);
}

TEST(set_mask_without_masks_is_skipped) {
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[{\"cmd\":\"setMask\",\"watchers\":[\"a\"],"
        "\"values\":[1]}]}",
        0, "setMask", NONE, NULL, "setMask: no \"masks\" array; command skipped");
    ASSERT_EQ_UINT(m->n_cmds, 0);
    rill__cmd_msg_destroy(m);
}

TEST(set_with_no_names_needs_no_values) {
    rill__cmd_msg *m = parse("{\"watcher\":[{\"cmd\":\"set\",\"watchers\":[]}]}");
    ASSERT_EQ_UINT(m->n_errors, 0);
    ASSERT_EQ_UINT(m->n_cmds, 1);
    ASSERT_EQ_UINT(m->cmds[0].n_entries, 0);
    rill__cmd_msg_destroy(m);
}

TEST(integer_literal_beyond_int64_makes_message_not_json) {
    /* jansson's integers are 64-bit signed; documented limitation. */
    rill__cmd_msg *m = parse("{\"watcher\":[{\"cmd\":\"watch\",\"watchers\":"
                             "[\"a\"],\"timestamps\":[18446744073709551615]}]}");
    ASSERT_EQ_INT(m->status, RILL_EPROTO);
    ASSERT_TRUE(strstr(m->errors[0].message, "too big integer") != NULL);
    rill__cmd_msg_destroy(m);
}

TEST(parser_survives_random_mutations_of_a_valid_message) {
    static const char base[] =
        "{\"id\":3,\"event\":\"active\",\"watcher\":[{\"cmd\":\"watch\","
        "\"watchers\":[\"a\",\"b\"],\"timestamps\":[1,2],\"durations\":[3,4]},"
        "{\"cmd\":\"setMask\",\"watchers\":[\"a\"],\"values\":[1],"
        "\"masks\":[2]},{\"cmd\":\"monitor\",\"watchers\":[\"c\"],"
        "\"periods\":[5]}]}";
    static const char alphabet[] = "{}[]\",:-.0123456789eE truefalsnul\\";
    char buf[sizeof base];
    uint64_t seed = 0x1234567;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(buf, base, sizeof base);
        int edits = 1 + (int)(test_rand(&seed) % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = test_rand(&seed) % (sizeof base - 1);
            buf[at] = alphabet[test_rand(&seed) % (sizeof alphabet - 1)];
        }
        size_t len = test_rand(&seed) % sizeof base;
        rill__cmd_msg *m = NULL;
        ASSERT_OK(rill__cmd_parse(buf, len, &m));
        ASSERT_TRUE(m->status != 0 || m->n_cmds <= 3);
        for (size_t c = 0; c < m->n_cmds; c++)
            for (size_t j = 0; j < m->cmds[c].n_entries; j++)
                ASSERT_NOT_NULL(m->cmds[c].entries[j].name);
        for (size_t k = 0; k < m->n_errors; k++)
            ASSERT_NOT_NULL(m->errors[k].message);
        rill__cmd_msg_destroy(m);
    }
}

/* ---- Server messages --------------------------------------------------- */

static void expect_text(char *got, size_t len, const char *want) {
    int ok = strcmp(got, want) == 0 && len == strlen(want);
    if (!ok) {
        static char copy[4096];
        snprintf(copy, sizeof copy, "%s", got);
        rill__free(got);
        FAIL("\n got  %s\n want %s", copy, want);
    }
    rill__free(got);
}

/* The five variables of the spec's list reply example (§2.4). */
static const rill__var_snapshot spec_vars[] = {
    {"myvar", RILL_TYPE_DOUBLE, RILL_TS_DENSE, true, false, false, 0, "",
     1234567, 1234567},
    {"myvar2", RILL_TYPE_UINT32, RILL_TS_DENSE, false, false, false, 0,
     "myvar2.bin", 1234567, 1234567},
    {"myvar3", RILL_TYPE_UINT32, RILL_TS_SPARSE, false, false, false, 1000,
     NULL, 1234560, 1234560},
    {"myvar4", RILL_TYPE_DOUBLE, RILL_TS_SPARSE, false, false, true, 0, "", 4.6,
     1234560},
    {"myvar5", RILL_TYPE_DOUBLE, RILL_TS_DENSE, false, false, false, 0, "",
     1234567, 1234567},
};

static const char spec_list_reply[] =
    "{\"watcher\":{\"sampleRate\":44100,\"timestamp\":1234567,\"watchers\":[{"
    "\"controlled\":false,\"logFileName\":\"\",\"logged\":false,\"monitor\":0,"
    "\"name\":\"myvar\",\"timestampMode\":0,\"type\":\"d\",\"value\":1234567,"
    "\"valueInput\":1234567,\"watched\":true},{\"controlled\":false,"
    "\"logFileName\":\"myvar2.bin\",\"logged\":false,\"monitor\":0,\"name\":"
    "\"myvar2\",\"timestampMode\":0,\"type\":\"j\",\"value\":1234567,"
    "\"valueInput\":1234567,\"watched\":false},{\"controlled\":false,"
    "\"logFileName\":\"\",\"logged\":false,\"monitor\":1000,\"name\":\"myvar3\","
    "\"timestampMode\":1,\"type\":\"j\",\"value\":1234560,\"valueInput\":"
    "1234560,\"watched\":false},{\"controlled\":true,\"logFileName\":\"\","
    "\"logged\":false,\"monitor\":0,\"name\":\"myvar4\",\"timestampMode\":1,"
    "\"type\":\"d\",\"value\":4.6,\"valueInput\":1234560,\"watched\":false},{"
    "\"controlled\":false,\"logFileName\":\"\",\"logged\":false,\"monitor\":0,"
    "\"name\":\"myvar5\",\"timestampMode\":0,\"type\":\"d\",\"value\":1234567,"
    "\"valueInput\":1234567,\"watched\":false}]}}";

TEST(list_reply_is_byte_identical_to_the_spec_example) {
    char *out = NULL;
    size_t len = 0;
    ASSERT_OK(rill__cmd_list_reply(44100, 1234567, spec_vars, 5, NULL, &out,
                                   &len));
    expect_text(out, len, spec_list_reply);
}

TEST(list_reply_prints_big_ticks_exactly_and_nan_as_null) {
    rill__var_snapshot v = {"a/b", RILL_TYPE_FLOAT, RILL_TS_DENSE, false,
                            true,  false,          7,  "a+0.bin",
                            NAN,   -INFINITY};
    rill__cmd_id id = {RILL__ID_STRING, 0, "q1"};
    char *out = NULL;
    size_t len = 0;
    ASSERT_OK(rill__cmd_list_reply(22050.5, 9007199254740993ull, &v, 1, &id,
                                   &out, &len));
    expect_text(out, len,
                "{\"id\":\"q1\",\"watcher\":{\"sampleRate\":22050.5,"
                "\"timestamp\":9007199254740993,\"watchers\":[{\"controlled\":"
                "false,\"logFileName\":\"a+0.bin\",\"logged\":true,\"monitor\":"
                "7,\"name\":\"a\\/b\",\"timestampMode\":0,\"type\":\"f\","
                "\"value\":null,\"valueInput\":null,\"watched\":false}]}}");
}

TEST(list_reply_with_no_variables_has_an_empty_array) {
    char *out = NULL;
    size_t len = 0;
    rill__cmd_id id = {RILL__ID_INT, -4, NULL};
    ASSERT_OK(rill__cmd_list_reply(0, 0, NULL, 0, &id, &out, &len));
    expect_text(out, len,
                "{\"id\":-4,\"watcher\":{\"sampleRate\":0,\"timestamp\":0,"
                "\"watchers\":[]}}");
}

TEST(list_reply_refuses_nameless_or_badly_typed_variables) {
    rill__var_snapshot v = spec_vars[0];
    char *out = NULL;
    v.name = NULL;
    ASSERT_ERR(rill__cmd_list_reply(1, 1, &v, 1, NULL, &out, NULL), RILL_EINVAL);
    v = spec_vars[0];
    v.type = (rill_type)9;
    ASSERT_ERR(rill__cmd_list_reply(1, 1, &v, 1, NULL, &out, NULL), RILL_EINVAL);
    ASSERT_ERR(rill__cmd_list_reply(1, 1, NULL, 1, NULL, &out, NULL),
               RILL_EINVAL);
    ASSERT_EQ_INT(test_alloc_count(), 0);
}

TEST(connection_event_carries_the_project_name) {
    char *out = NULL;
    size_t len = 0;
    ASSERT_OK(rill__cmd_connection_event("pybela-test", &out, &len));
    expect_text(out, len,
                "{\"event\":\"connection\",\"projectName\":\"pybela-test\"}");
    ASSERT_OK(rill__cmd_connection_event(NULL, &out, &len));
    expect_text(out, len, "{\"event\":\"connection\"}");
    ASSERT_OK(rill__cmd_connection_event("a\"b", &out, &len));
    expect_text(out, len, "{\"event\":\"connection\",\"projectName\":\"a\\\"b\"}");
}

TEST(log_scheduled_without_end_prints_2_pow_64_minus_1_as_integer) {
    char *out = NULL;
    size_t len = 0;
    ASSERT_OK(rill__cmd_log_scheduled("myvar", "myvar.bin", 1278667,
                                      RILL__LOG_NO_END, &out, &len));
    expect_text(out, len,
                "{\"watcher\":{\"logFileName\":\"myvar.bin\",\"timestamp\":"
                "1278667,\"timestampEnd\":18446744073709551615,\"watcher\":"
                "\"myvar\"}}");
    ASSERT_OK(rill__cmd_log_scheduled("v", "v+3.bin", 10, 44110, &out, &len));
    expect_text(out, len,
                "{\"watcher\":{\"logFileName\":\"v+3.bin\",\"timestamp\":10,"
                "\"timestampEnd\":44110,\"watcher\":\"v\"}}");
}

TEST(error_reply_holds_every_known_field_in_sorted_order) {
    rill__cmd_msg *m = parse("{\"id\":7,\"watcher\":[{\"cmd\":\"set\","
                             "\"watchers\":[\"a\",\"b\"],\"values\":[1]}]}");
    ASSERT_EQ_UINT(m->n_errors, 1);
    char *out = NULL;
    size_t len = 0;
    ASSERT_OK(rill__cmd_error_reply(&m->errors[0], &out, &len));
    rill__cmd_msg_destroy(m);
    expect_text(out, len,
                "{\"error\":{\"cmd\":\"set\",\"cmdIndex\":0,\"id\":7,"
                "\"message\":\"set: \\\"values\\\" has 1 entry but "
                "\\\"watchers\\\" has 2; \\\"b\\\" skipped\",\"variable\":\"b\","
                "\"variableIndex\":1}}");
}

TEST(error_reply_leaves_out_unknown_fields) {
    rill__cmd_error e = {NONE, NULL, NONE, NULL, "top level is an array, not "
                         "an object", {RILL__ID_NONE, 0, NULL}};
    char *out = NULL;
    size_t len = 0;
    ASSERT_OK(rill__cmd_error_reply(&e, &out, &len));
    expect_text(out, len,
                "{\"error\":{\"message\":\"top level is an array, not an "
                "object\"}}");
    e.message = NULL;
    ASSERT_ERR(rill__cmd_error_reply(&e, &out, &len), RILL_EINVAL);
}

TEST(builders_and_parser_refuse_null_outputs) {
    ASSERT_ERR(rill__cmd_connection_event("p", NULL, NULL), RILL_EINVAL);
    ASSERT_ERR(rill__cmd_list_reply(0, 0, NULL, 0, NULL, NULL, NULL),
               RILL_EINVAL);
    char *out;
    ASSERT_ERR(rill__cmd_log_scheduled(NULL, "f", 0, 0, &out, NULL),
               RILL_EINVAL);
    ASSERT_ERR(rill__cmd_parse("{}", 2, NULL), RILL_EINVAL);
    rill__cmd_msg *m = (rill__cmd_msg *)&out;
    ASSERT_ERR(rill__cmd_parse(NULL, 2, &m), RILL_EINVAL);
    ASSERT_NULL(m);
    rill__cmd_msg_destroy(NULL);
}

TEST(cmd_kind_names_match_the_wire_strings) {
    ASSERT_EQ_STR(rill__cmd_kind_name(RILL__CMD_LIST), "list");
    ASSERT_EQ_STR(rill__cmd_kind_name(RILL__CMD_SET_MASK), "setMask");
    ASSERT_EQ_STR(rill__cmd_kind_name(RILL__CMD_UNCONTROL), "uncontrol");
    ASSERT_EQ_STR(rill__cmd_kind_name(RILL__CMD_UNKNOWN), "unknown");
}

/* ---- Out of memory ----------------------------------------------------- */

typedef struct parse_ctx {
    const char *json;
    rill__cmd_msg *m;
} parse_ctx;

static int parse_create(void *ctx) {
    parse_ctx *p = ctx;
    return rill__cmd_parse(p->json, strlen(p->json), &p->m);
}

static void parse_destroy(void *ctx) {
    parse_ctx *p = ctx;
    rill__cmd_msg_destroy(p->m);
    p->m = NULL;
}

TEST(parse_fails_cleanly_when_out_of_memory) {
    /* Commands, entries, ids and errors, plus enough names to need more
     * than one arena chunk, so every allocation site gets its turn. */
    static char json[16384];
    size_t n = (size_t)snprintf(
        json, sizeof json,
        "{\"id\":\"req\",\"event\":\"active\",\"watcher\":[{\"cmd\":\"set\","
        "\"watchers\":[\"a\",\"b\"],\"values\":[1]},{\"cmd\":\"nope\"},"
        "{\"cmd\":\"control\",\"watchers\":[");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(json + n, sizeof json - n,
                              "%s\"variable_number_%d\"", i ? "," : "", i);
    snprintf(json + n, sizeof json - n, "]}]}");
    parse_ctx p = {json, NULL};
    test_check_oom("rill__cmd_parse", parse_create, parse_destroy, &p);

    /* A refused message allocates too. */
    p.json = "[1]";
    test_check_oom("rill__cmd_parse (refused)", parse_create, parse_destroy, &p);
}

TEST(parse_with_more_than_32_errors_fails_cleanly_when_out_of_memory) {
    char json[4096];
    size_t n = (size_t)snprintf(json, sizeof json, "{\"watcher\":[");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(json + n, sizeof json - n, "%s{\"cmd\":%d}",
                              i ? "," : "", i);
    snprintf(json + n, sizeof json - n, "]}");
    parse_ctx p = {json, NULL};
    test_check_oom("rill__cmd_parse (error summary)", parse_create,
                   parse_destroy, &p);
}

typedef struct build_ctx {
    int which;
    char *out;
} build_ctx;

static int build_create(void *ctx) {
    build_ctx *b = ctx;
    size_t len;
    rill__cmd_error e = {0, "set", 1, "b", "msg", {RILL__ID_INT, 1, NULL}};
    switch (b->which) {
    case 0:
        return rill__cmd_list_reply(44100, 1234567, spec_vars, 5, NULL, &b->out,
                                    &len);
    case 1:
        return rill__cmd_connection_event("proj", &b->out, &len);
    case 2:
        return rill__cmd_log_scheduled("v", "v.bin", 1, RILL__LOG_NO_END,
                                       &b->out, &len);
    default:
        return rill__cmd_error_reply(&e, &b->out, &len);
    }
}

static void build_destroy(void *ctx) {
    build_ctx *b = ctx;
    rill__free(b->out);
    b->out = NULL;
}

TEST(builders_fail_cleanly_when_out_of_memory) {
    static const char *const names[] = {
        "rill__cmd_list_reply", "rill__cmd_connection_event",
        "rill__cmd_log_scheduled", "rill__cmd_error_reply"};
    for (int i = 0; i < 4; i++) {
        build_ctx b = {i, NULL};
        test_check_oom(names[i], build_create, build_destroy, &b);
    }
}

/* ---- Native clients' buffer lengths -------------------------------------- */

TEST(watch_reads_optional_buffer_lengths_per_variable) {
    rill__cmd_msg *m = parse("{\"watcher\":[{\"cmd\":\"watch\","
                             "\"watchers\":[\"a\",\"b\",\"c\"],"
                             "\"lengths\":[64,65536]}]}");
    ASSERT_EQ_UINT(m->n_errors, 0);
    ASSERT_EQ_UINT(m->cmds[0].n_entries, 3);
    const rill__cmd_entry *e = m->cmds[0].entries;
    ASSERT_TRUE(e[0].has_length);
    ASSERT_EQ_UINT(e[0].length, 64);
    ASSERT_EQ_UINT(e[1].length, 65536);
    ASSERT_TRUE(!e[2].has_length); /* shorter array: the default applies */
    rill__cmd_msg_destroy(m);
}

TEST(watch_lengths_out_of_range_skip_only_that_variable) {
    rill__cmd_msg *m = parse_one_error(
        "{\"watcher\":[{\"cmd\":\"watch\",\"watchers\":[\"a\",\"b\"],"
        "\"lengths\":[0,32]}]}",
        0, "watch", 0, "a",
        "watch: \"lengths\"[0] is 0; a buffer holds at least 1 value; \"a\" "
        "skipped");
    ASSERT_EQ_UINT(m->cmds[0].n_entries, 1);
    ASSERT_EQ_STR(m->cmds[0].entries[0].name, "b");
    rill__cmd_msg_destroy(m);
    m = parse_one_error("{\"watcher\":[{\"cmd\":\"watch\",\"watchers\":[\"a\"],"
                        "\"lengths\":[65537]}]}",
                        0, "watch", 0, "a",
                        "watch: \"lengths\"[0] is 65537, above 65536; \"a\" "
                        "skipped");
    rill__cmd_msg_destroy(m);
}
