/* Bela log files: the header byte for byte, the file-name sequence in a
 * real directory, and reading files back (truncation included). */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"
#include "test.h"
#include "proto/logfile.h"

/* ---- Header ------------------------------------------------------------ */

static void check_header(const char *name, rill_type type, const uint8_t *exp,
                         size_t exp_len) {
    uint8_t out[64];
    size_t len = 0;
    memset(out, 0xcc, sizeof out);
    ASSERT_EQ_UINT(rill__logfile_header_size(name), exp_len);
    ASSERT_OK(rill__logfile_header_encode(name, type, 0x01020304u, 0xa0b0c0d0u,
                                          out, sizeof out, &len));
    ASSERT_EQ_UINT(len, exp_len);
    ASSERT_EQ_MEM(out, exp, exp_len);
    ASSERT_EQ_UINT(out[exp_len], 0xcc); /* nothing written past the header */
}

TEST(header_without_padding_is_byte_exact) {
    /* 8 + "myvar\0" 6 + "f\0" 2 + pid 4 + instance 4 = 24, a multiple of 4 */
    static const uint8_t exp[] = {
        'w', 'a', 't', 'c', 'h', 'e', 'r', 0,    'm',  'y',  'v',  'a',
        'r', 0,   'f', 0,   4,   3,   2,   1,    0xd0, 0xc0, 0xb0, 0xa0};
    check_header("myvar", RILL_TYPE_FLOAT, exp, sizeof exp);
}

TEST(header_pads_with_three_two_and_one_zero_bytes) {
    static const uint8_t exp3[] = {
        'w', 'a', 't', 'c', 'h', 'e', 'r',  0,    'a',  'b',  0, 'd',
        0,   4,   3,   2,   1,   0xd0, 0xc0, 0xb0, 0xa0, 0,    0, 0};
    check_header("ab", RILL_TYPE_DOUBLE, exp3, sizeof exp3);
    static const uint8_t exp2[] = {
        'w',  'a',  't',  'c',  'h', 'e', 'r', 0, 'a', 'b', 'c', 0,
        'c',  0,    4,    3,    2,   1,   0xd0, 0xc0, 0xb0, 0xa0, 0, 0};
    check_header("abc", RILL_TYPE_CHAR, exp2, sizeof exp2);
    static const uint8_t exp1[] = {
        'w', 'a', 't', 'c', 'h', 'e', 'r', 0,   'a',  'b',  'c',  'd',
        0,   'j', 0,   4,   3,   2,   1,   0xd0, 0xc0, 0xb0, 0xa0, 0};
    check_header("abcd", RILL_TYPE_UINT32, exp1, sizeof exp1);
}

TEST(header_size_follows_pybela_skip_rule) {
    /* pybela: h = len(strings) + 3 + 8 with strings "watcher", name, type;
     * it skips 4 - h % 4 bytes when h % 4 != 0. */
    const char *names[] = {"x", "xy", "xyz", "wxyz", "a_longer_name_17"};
    for (size_t i = 0; i < 5; i++) {
        size_t h = 7 + strlen(names[i]) + 1 + 3 + 8;
        size_t want = h % 4 ? h + 4 - h % 4 : h;
        ASSERT_EQ_UINT(rill__logfile_header_size(names[i]), want);
    }
}

TEST(header_encode_refuses_small_buffer_and_bad_type) {
    uint8_t out[24];
    size_t len = 0;
    ASSERT_ERR(rill__logfile_header_encode("myvar", RILL_TYPE_FLOAT, 1, 2, out,
                                           23, &len),
               RILL_ETOOBIG);
    ASSERT_ERR(rill__logfile_header_encode("myvar", (rill_type)9, 1, 2, out,
                                           sizeof out, &len),
               RILL_EINVAL);
    ASSERT_ERR(rill__logfile_header_encode(NULL, RILL_TYPE_FLOAT, 1, 2, out,
                                           sizeof out, &len),
               RILL_EINVAL);
}

/* ---- File names -------------------------------------------------------- */

typedef struct tmpdir {
    char path[64];
} tmpdir;

static void tmpdir_make(tmpdir *t) {
    strcpy(t->path, "/tmp/rill-logfile-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(t->path));
}

static void touch(const tmpdir *t, const char *name) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", t->path, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        FAIL("create %s: %s", p, strerror(errno));
    close(fd);
}

/* Remove the files this test created, then the directory: proves the list
 * is complete, since rmdir fails on a non-empty directory. */
static void tmpdir_remove(const tmpdir *t, const char *const *names,
                          size_t n) {
    char p[256];
    for (size_t i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/%s", t->path, names[i]);
        if (unlink(p) != 0)
            FAIL("unlink %s: %s", p, strerror(errno));
    }
    if (rmdir(t->path) != 0)
        FAIL("rmdir %s: %s", t->path, strerror(errno));
}

static void expect_name(const tmpdir *t, const char *var, const char *want) {
    char name[128];
    ASSERT_OK(rill__logfile_choose_name(t->path, var, name, sizeof name));
    ASSERT_EQ_STR(name, want);
}

TEST(names_go_myvar_bin_then_plus_0_then_plus_1) {
    tmpdir t;
    tmpdir_make(&t);
    expect_name(&t, "myvar", "myvar.bin");
    touch(&t, "myvar.bin");
    expect_name(&t, "myvar", "myvar+0.bin");
    touch(&t, "myvar+0.bin");
    expect_name(&t, "myvar", "myvar+1.bin");
    touch(&t, "myvar+1.bin");
    expect_name(&t, "myvar", "myvar+2.bin");
    static const char *const files[] = {"myvar.bin", "myvar+0.bin",
                                        "myvar+1.bin"};
    tmpdir_remove(&t, files, 3);
}

TEST(name_number_is_one_above_the_largest_and_ignores_lookalikes) {
    tmpdir t;
    tmpdir_make(&t);
    static const char *const files[] = {
        "myvar.bin",   "myvar+4.bin",  "myvar+x.bin",  "myvar+9.txt",
        "other+50.bin", "myvar2+70.bin", "myvar+.bin", "myvar+12.bin.bak"};
    for (size_t i = 0; i < 8; i++)
        touch(&t, files[i]);
    expect_name(&t, "myvar", "myvar+5.bin");
    /* A free base name wins even when numbered files exist. */
    expect_name(&t, "myvar2", "myvar2.bin");
    tmpdir_remove(&t, files, 8);
}

TEST(name_with_a_dot_splits_stem_at_the_first_dot) {
    tmpdir t;
    tmpdir_make(&t);
    expect_name(&t, "my.var", "my.var.bin");
    touch(&t, "my.var.bin");
    expect_name(&t, "my.var", "my+0.var.bin");
    touch(&t, "my+0.var.bin");
    expect_name(&t, "my.var", "my+1.var.bin");
    static const char *const files[] = {"my.var.bin", "my+0.var.bin"};
    tmpdir_remove(&t, files, 2);
}

TEST(name_choice_refuses_slashes_missing_dirs_and_small_buffers) {
    tmpdir t;
    tmpdir_make(&t);
    char name[16];
    ASSERT_ERR(rill__logfile_choose_name(t.path, "../etc/x", name, sizeof name),
               RILL_EINVAL);
    ASSERT_ERR(rill__logfile_choose_name(t.path, "", name, sizeof name),
               RILL_EINVAL);
    ASSERT_ERR(rill__logfile_choose_name("/nonexistent/rill-dir", "v", name,
                                         sizeof name),
               RILL_ENOTFOUND);
    ASSERT_ERR(rill__logfile_choose_name(t.path, "myvar", name, 9),
               RILL_ETOOBIG); /* "myvar.bin" needs 10 with the NUL */
    ASSERT_OK(rill__logfile_choose_name(t.path, "myvar", name, 10));
    ASSERT_EQ_STR(name, "myvar.bin");
    tmpdir_remove(&t, NULL, 0);
}

/* ---- Reading ----------------------------------------------------------- */

/* Header for "lv" (double, pid 77, instance 5) + 2 sparse buffers + `tail`
 * bytes of a third. Returns the length. */
static size_t build_file(uint8_t *f, size_t tail) {
    size_t len = 0;
    ASSERT_OK(rill__logfile_header_encode("lv", RILL_TYPE_DOUBLE, 77, 5, f, 64,
                                          &len));
    for (int b = 0; b < 3; b++) {
        double v[2] = {b + 0.5, b + 1.5};
        uint32_t rel[2] = {0, 4};
        uint8_t body[RILL__BELA_BODY_BYTES];
        ASSERT_OK(rill__bela_body_encode(body, 1000u * (unsigned)b,
                                         RILL_TYPE_DOUBLE, RILL_TS_SPARSE, v,
                                         2, rel));
        size_t n = b < 2 ? sizeof body : tail;
        memcpy(f + len, body, n);
        len += n;
    }
    return len;
}

TEST(reader_parses_header_and_buffers_of_a_written_file) {
    static uint8_t f[24 + 3 * RILL__BELA_BODY_BYTES];
    size_t len = build_file(f, 0);
    ASSERT_EQ_UINT(len, 24 + 2 * RILL__BELA_BODY_BYTES);

    /* Through a real file, as a client would after an SFTP copy. */
    char path[] = "/tmp/rill-logread-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ_INT(write(fd, f, len), (long long)len);
    close(fd);
    uint8_t *data = NULL;
    size_t data_len = 0;
    int rc = rill__logfile_read(path, &data, &data_len);
    unlink(path);
    ASSERT_OK(rc);
    ASSERT_EQ_UINT(data_len, len);

    rill__logfile lf;
    char err[RILL__WIRE_ERR_CAP] = "x";
    ASSERT_OK(rill__logfile_parse(data, data_len, &lf, err, sizeof err));
    ASSERT_EQ_STR(err, "");
    ASSERT_EQ_STR(lf.name, "lv");
    ASSERT_EQ_INT(lf.type, RILL_TYPE_DOUBLE);
    ASSERT_EQ_UINT(lf.pid, 77);
    ASSERT_EQ_UINT(lf.instance, 5);
    ASSERT_EQ_UINT(lf.header_bytes, 24);
    ASSERT_EQ_UINT(lf.n_buffers, 2);
    ASSERT_EQ_UINT(lf.tail_bytes, 0);
    rill__bela_body b;
    ASSERT_OK(rill__logfile_buffer(&lf, 1, RILL_TS_SPARSE, &b));
    ASSERT_EQ_UINT(b.ref, 1000);
    ASSERT_EQ_UINT(b.n, 341);
    double v[3];
    rill__wire_get_values(v, RILL_TYPE_DOUBLE, b.values, 3);
    ASSERT_EQ_DOUBLE(v[0], 1.5, 0);
    ASSERT_EQ_DOUBLE(v[1], 2.5, 0);
    ASSERT_EQ_DOUBLE(v[2], 0, 0);
    ASSERT_EQ_UINT(rill__get_le32(b.rel + 4), 4);
    ASSERT_ERR(rill__logfile_buffer(&lf, 2, RILL_TS_SPARSE, &b), RILL_EINVAL);
    rill__free(data);
}

TEST(reader_counts_complete_buffers_and_reports_a_cut_last_one) {
    static uint8_t f[24 + 3 * RILL__BELA_BODY_BYTES];
    size_t len = build_file(f, 1000);
    rill__logfile lf;
    char err[RILL__WIRE_ERR_CAP];
    ASSERT_OK(rill__logfile_parse(f, len, &lf, err, sizeof err));
    ASSERT_EQ_UINT(lf.n_buffers, 2);
    ASSERT_EQ_UINT(lf.tail_bytes, 1000);
    ASSERT_EQ_STR(err, "log file: buffer 2 at offset 8232 is truncated: 1000 "
                       "of 4104 bytes");
}

static void expect_parse_error(const uint8_t *f, size_t len, const char *want) {
    rill__logfile lf;
    char err[RILL__WIRE_ERR_CAP];
    ASSERT_ERR(rill__logfile_parse(f, len, &lf, err, sizeof err), RILL_EPROTO);
    ASSERT_EQ_STR(err, want);
}

TEST(reader_reports_file_cut_inside_the_magic) {
    static uint8_t f[24 + 3 * RILL__BELA_BODY_BYTES];
    build_file(f, 0);
    expect_parse_error(f, 5, "log file: truncated inside the magic: 5 of 8 bytes");
}

TEST(reader_reports_bad_magic) {
    static uint8_t f[24 + 3 * RILL__BELA_BODY_BYTES];
    build_file(f, 0);
    f[0] = 'W';
    expect_parse_error(f, 24,
                       "log file: bad magic; the first 8 bytes must be "
                       "\"watcher\" and a NUL");
}

TEST(reader_reports_file_cut_inside_the_name) {
    static uint8_t f[24 + 3 * RILL__BELA_BODY_BYTES];
    build_file(f, 0);
    expect_parse_error(f, 10,
                       "log file: truncated inside the variable name: no NUL "
                       "in bytes 8 to 9");
}

TEST(reader_reports_file_cut_inside_the_type) {
    static uint8_t f[24 + 3 * RILL__BELA_BODY_BYTES];
    build_file(f, 0);
    expect_parse_error(f, 12,
                       "log file: truncated inside the type field at offset "
                       "11: 1 of 2 bytes");
}

TEST(reader_reports_unknown_type_letter) {
    static uint8_t f[24 + 3 * RILL__BELA_BODY_BYTES];
    build_file(f, 0);
    f[11] = 'q';
    expect_parse_error(f, 24,
                       "log file: unknown type letter 0x71 at offset 11");
}

TEST(reader_reports_type_letter_without_nul) {
    static uint8_t f[24 + 3 * RILL__BELA_BODY_BYTES];
    build_file(f, 0);
    f[12] = 'x';
    expect_parse_error(f, 24,
                       "log file: the type letter at offset 11 is followed "
                       "by 0x78, not NUL");
}

TEST(reader_reports_file_cut_inside_pid_and_instance) {
    static uint8_t f[24 + 3 * RILL__BELA_BODY_BYTES];
    build_file(f, 0);
    expect_parse_error(f, 17,
                       "log file: truncated inside the pid and instance "
                       "fields at offset 13: 4 of 8 bytes");
}

TEST(reader_reports_file_cut_inside_the_padding) {
    static uint8_t f[24 + 3 * RILL__BELA_BODY_BYTES];
    build_file(f, 0);
    expect_parse_error(f, 22,
                       "log file: truncated inside the header padding: the "
                       "header ends at offset 24, the file at 22");
}

TEST(reader_reports_nonzero_padding) {
    static uint8_t f[24 + 3 * RILL__BELA_BODY_BYTES];
    build_file(f, 0);
    f[22] = 9;
    expect_parse_error(f, 24,
                       "log file: header padding byte at offset 22 is 0x09, "
                       "not 0");
}

TEST(reader_of_missing_file_says_not_found) {
    uint8_t *data;
    size_t len;
    ASSERT_ERR(rill__logfile_read("/nonexistent/rill.bin", &data, &len),
               RILL_ENOTFOUND);
    ASSERT_ERR(rill__logfile_read("/tmp", &data, &len), RILL_EIO);
}

typedef struct read_ctx {
    const char *path;
    uint8_t *data;
    size_t len;
} read_ctx;

static int read_create(void *ctx) {
    read_ctx *r = ctx;
    return rill__logfile_read(r->path, &r->data, &r->len);
}

static void read_destroy(void *ctx) {
    read_ctx *r = ctx;
    rill__free(r->data);
    r->data = NULL;
}

TEST(reader_fails_cleanly_when_out_of_memory) {
    char path[] = "/tmp/rill-logoom-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_TRUE(fd >= 0);
    uint8_t hdr[24];
    size_t n;
    ASSERT_OK(rill__logfile_header_encode("myvar", RILL_TYPE_FLOAT, 1, 2, hdr,
                                          sizeof hdr, &n));
    ASSERT_EQ_INT(write(fd, hdr, n), (long long)n);
    close(fd);
    read_ctx r = {path, NULL, 0};
    test_check_oom("rill__logfile_read", read_create, read_destroy, &r);
    unlink(path);
}
