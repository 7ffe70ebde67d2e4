/* libFuzzer target: the file readers a user points at files from anywhere
 * (rill info, rill convert, rill_file_reader_open): csv, jsonl and bin.
 * The first input byte picks the format, the rest is the file. Whatever the
 * bytes, the reader returns an error or buffers whose counts and ticks are
 * consistent, and frees everything on close (LeakSanitizer checks).
 *
 * Readers open paths, so each input is written to a private file in
 * /dev/shm (memory), then read back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rill/file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const ext[] = {"csv", "jsonl", "bin", "txt"};
    if (size < 1)
        return 0;
    const char *e = ext[data[0] % 4];
    rill_ts_mode mode = (data[0] >> 2) & 1 ? RILL_TS_SPARSE : RILL_TS_DENSE;
    char path[128];
    snprintf(path, sizeof path, "/dev/shm/rill-fuzz-%d.%s", (int)getpid(), e);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return 0;
    fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    rill_file_reader *r = NULL;
    if (rill_file_reader_open(path, mode, &r) == 0) {
        rill_file_info info;
        CHECK(rill_file_reader_get_info(r, &info) == 0);
        CHECK(info.var_name != NULL);
        rill_file_buffer b;
        int rc;
        size_t total = 0;
        while ((rc = rill_file_reader_next(r, &b)) == 0) {
            CHECK(b.count == 0 || (b.values != NULL && b.timestamps != NULL));
            for (size_t i = 0; i < b.count; i++) {
                volatile double v = b.values[i];
                (void)v;
                if (info.mode == RILL_TS_DENSE && strcmp(e, "bin") != 0)
                    CHECK(b.timestamps[i] == b.first_ts + i);
            }
            total += b.count;
            CHECK(total <= size * 4096 + 4096);
        }
        CHECK(rc == RILL_EEMPTY || rc == RILL_EIO || rc == RILL_ENOMEM ||
              rc == RILL_EPROTO);
        rill_file_reader_close(r);
    }
    unlink(path);
    return 0;
}
