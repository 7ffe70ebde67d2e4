/* Bela Watcher log files: header, naming, reading. See logfile.h. */
#include "proto/logfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"


/* ---- Header ------------------------------------------------------------ */

/* magic + name + NUL + letter + NUL + pid + instance; the Watcher then pads
 * to a multiple of 4 so the buffers' 64-bit timestamps land on 4-byte
 * boundaries, and pybela skips the same padding (§6.4). */
static size_t unpadded_size(size_t name_len) {
    return RILL__LOGFILE_MAGIC_BYTES + name_len + 1 + 2 + 4 + 4;
}

size_t rill__logfile_header_size(const char *var) {
    if (var == NULL)
        return 0;
    return (unpadded_size(strlen(var)) + 3) & ~(size_t)3;
}

int rill__logfile_header_encode(const char *var, rill_type type, uint32_t pid,
                                uint32_t instance, uint8_t *out, size_t cap,
                                size_t *len) {
    char letter = rill_type_letter(type);
    if (var == NULL || out == NULL || len == NULL || letter == '\0')
        return RILL_EINVAL;
    size_t total = rill__logfile_header_size(var);
    if (total > cap)
        return RILL_ETOOBIG;
    size_t name_len = strlen(var);
    uint8_t *p = out;
    memcpy(p, RILL__LOGFILE_MAGIC, RILL__LOGFILE_MAGIC_BYTES); /* with NUL */
    p += RILL__LOGFILE_MAGIC_BYTES;
    memcpy(p, var, name_len + 1);
    p += name_len + 1;
    *p++ = (uint8_t)letter;
    *p++ = 0;
    rill__put_le32(p, pid);
    rill__put_le32(p + 4, instance);
    p += 8;
    memset(p, 0, total - (size_t)(p - out));
    *len = total;
    return 0;
}

/* ---- File name --------------------------------------------------------- */

/* If `entry` is "<stem>+<k><ext>" with k all decimal digits, store k. Keys
 * above a billion are not counted: nobody has that many logs, and ignoring
 * them keeps k + 1 from overflowing. */
static bool match_numbered(const char *entry, const char *stem,
                           size_t stem_len, const char *ext,
                           unsigned long *k) {
    if (strncmp(entry, stem, stem_len) != 0 || entry[stem_len] != '+')
        return false;
    const char *d = entry + stem_len + 1;
    unsigned long v = 0;
    size_t nd = 0;
    while (d[nd] >= '0' && d[nd] <= '9') {
        if (v > 999999999UL / 10)
            return false;
        v = v * 10 + (unsigned long)(d[nd] - '0');
        nd++;
    }
    if (nd == 0 || strcmp(d + nd, ext) != 0)
        return false;
    *k = v;
    return true;
}

int rill__logfile_choose_name(const char *dir, const char *var, char *out,
                              size_t cap) {
    if (dir == NULL || var == NULL || out == NULL || var[0] == '\0' ||
        strchr(var, '/') != NULL)
        return RILL_EINVAL;
    size_t var_len = strlen(var);
    /* "<var>.bin" split at its first dot: for "my.var" the stem is "my" and
     * the extension ".var.bin", as in the Watcher. */
    size_t stem_len = strcspn(var, ".");
    const char *ext_in_var = var + stem_len; /* "" or ".var" */

    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT || errno == ENOTDIR ? RILL_ENOTFOUND : RILL_EIO;
    /* The extension: the part of var from its first dot, then ".bin". */
    char ext[256];
    int ext_n = snprintf(ext, sizeof ext, "%s.bin", ext_in_var);
    bool ext_ok = ext_n > 0 && (size_t)ext_n < sizeof ext;
    bool taken = false, any = false;
    unsigned long max_k = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strncmp(n, var, var_len) == 0 && strcmp(n + var_len, ".bin") == 0)
            taken = true;
        unsigned long k;
        if (ext_ok && match_numbered(n, var, stem_len, ext, &k)) {
            max_k = any ? RILL__MAX(max_k, k) : k;
            any = true;
        }
    }
    int read_errno = errno;
    closedir(d);
    if (read_errno != 0)
        return RILL_EIO;
    if (!ext_ok)
        return RILL_ETOOBIG;

    int n;
    if (!taken)
        n = snprintf(out, cap, "%s.bin", var);
    else
        n = snprintf(out, cap, "%.*s+%lu%s", (int)stem_len, var,
                     any ? max_k + 1 : 0UL, ext);
    if (n < 0 || (size_t)n >= cap)
        return RILL_ETOOBIG;
    return 0;
}

/* ---- Reader ------------------------------------------------------------ */

/* Field by field, so that a cut or damaged header is reported at the field
 * where it goes wrong. pybela loops forever on a file cut inside the
 * strings; this reader must instead say so. */
int rill__logfile_parse(const uint8_t *data, size_t len, rill__logfile *out,
                        char *err, size_t err_cap) {
    if (data == NULL || out == NULL) {
        rill__set_err(err, err_cap, "log file: invalid arguments");
        return RILL_EINVAL;
    }
    if (err != NULL && err_cap > 0)
        err[0] = '\0';
    if (len < RILL__LOGFILE_MAGIC_BYTES) {
        rill__set_err(err, err_cap,
                "log file: truncated inside the magic: %zu of 8 bytes", len);
        return RILL_EPROTO;
    }
    if (memcmp(data, RILL__LOGFILE_MAGIC, RILL__LOGFILE_MAGIC_BYTES) != 0) {
        rill__set_err(err, err_cap,
                "log file: bad magic; the first 8 bytes must be "
                "\"watcher\" and a NUL");
        return RILL_EPROTO;
    }
    size_t pos = RILL__LOGFILE_MAGIC_BYTES;
    const uint8_t *nul = memchr(data + pos, 0, len - pos);
    if (nul == NULL) {
        rill__set_err(err, err_cap,
                "log file: truncated inside the variable name: no NUL in "
                "bytes %zu to %zu",
                pos, len - 1);
        return RILL_EPROTO;
    }
    const char *name = (const char *)(data + pos);
    size_t name_len = (size_t)(nul - (data + pos));
    pos += name_len + 1;
    if (len - pos < 2) {
        rill__set_err(err, err_cap,
                "log file: truncated inside the type field at offset %zu: "
                "%zu of 2 bytes",
                pos, len - pos);
        return RILL_EPROTO;
    }
    rill_type type;
    if (rill_type_from_letter((char)data[pos], &type) != 0) {
        rill__set_err(err, err_cap,
                "log file: unknown type letter 0x%02x at offset %zu",
                (unsigned)data[pos], pos);
        return RILL_EPROTO;
    }
    if (data[pos + 1] != 0) {
        rill__set_err(err, err_cap,
                "log file: the type letter at offset %zu is followed by "
                "0x%02x, not NUL",
                pos, (unsigned)data[pos + 1]);
        return RILL_EPROTO;
    }
    pos += 2;
    if (len - pos < 8) {
        rill__set_err(err, err_cap,
                "log file: truncated inside the pid and instance fields at "
                "offset %zu: %zu of 8 bytes",
                pos, len - pos);
        return RILL_EPROTO;
    }
    uint32_t pid = rill__get_le32(data + pos);
    uint32_t instance = rill__get_le32(data + pos + 4);
    pos += 8;
    size_t header = (pos + 3) & ~(size_t)3;
    if (len < header) {
        rill__set_err(err, err_cap,
                "log file: truncated inside the header padding: the header "
                "ends at offset %zu, the file at %zu",
                header, len);
        return RILL_EPROTO;
    }
    for (size_t i = pos; i < header; i++) {
        if (data[i] != 0) {
            rill__set_err(err, err_cap,
                    "log file: header padding byte at offset %zu is 0x%02x, "
                    "not 0",
                    i, (unsigned)data[i]);
            return RILL_EPROTO;
        }
    }

    out->name = name;
    out->type = type;
    out->pid = pid;
    out->instance = instance;
    out->header_bytes = header;
    out->buffers = data + header;
    out->n_buffers = (len - header) / RILL__BELA_BODY_BYTES;
    out->tail_bytes = (len - header) % RILL__BELA_BODY_BYTES;
    if (out->tail_bytes != 0)
        rill__set_err(err, err_cap,
                "log file: buffer %zu at offset %zu is truncated: %zu of %d "
                "bytes",
                out->n_buffers,
                header + out->n_buffers * RILL__BELA_BODY_BYTES,
                out->tail_bytes, RILL__BELA_BODY_BYTES);
    return 0;
}

int rill__logfile_buffer(const rill__logfile *lf, size_t i, rill_ts_mode mode,
                         rill__bela_body *out) {
    if (lf == NULL || out == NULL || i >= lf->n_buffers)
        return RILL_EINVAL;
    return rill__bela_body_decode(lf->buffers + i * RILL__BELA_BODY_BYTES,
                                  RILL__BELA_BODY_BYTES, lf->type, mode, out,
                                  NULL, 0);
}

bool rill__logfile_looks_sparse(const rill__logfile *lf) {
    size_t size = rill_type_size(lf->type);
    static const uint8_t zero[8];
    bool two = false;
    uint64_t next = 0; /* the first tick the next body may start at */
    for (size_t i = 0; i < lf->n_buffers; i++) {
        rill__bela_body b;
        if (rill__logfile_buffer(lf, i, RILL_TS_SPARSE, &b) != 0 ||
            rill__get_le32(b.rel) != 0 || b.ref < next)
            return false;
        uint32_t last = 0;
        size_t k = 1;
        for (; k < b.n; k++) {
            uint32_t r = rill__get_le32(b.rel + 4 * k);
            if (r == 0 || r < last)
                break;
            last = r;
        }
        for (size_t j = k; j < b.n; j++)
            if (rill__get_le32(b.rel + 4 * j) != 0 ||
                memcmp(b.values + j * size, zero, size) != 0)
                return false;
        if (b.ref > UINT64_MAX - last - 1)
            return false;
        next = b.ref + last + 1;
        two |= k >= 2;
    }
    return two;
}

int rill__logfile_read(const char *path, uint8_t **data, size_t *len) {
    if (path == NULL || data == NULL || len == NULL)
        return RILL_EINVAL;
    int rc = RILL_EIO;
    uint8_t *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? RILL_ENOTFOUND : RILL_EIO;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
        (uint64_t)st.st_size > SIZE_MAX)
        goto fail;
    size_t size = (size_t)st.st_size;
    buf = rill__malloc(size);
    if (buf == NULL) {
        rc = RILL_ENOMEM;
        goto fail;
    }
    /* A file still being written may grow after fstat; what was there when
     * we looked is what we return. A short read means it shrank. */
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    *data = buf;
    *len = got;
    return 0;
fail:
    rill__free(buf);
    close(fd);
    return rc;
}
