/* wav and flac, through libsndfile: one channel, dense numeric variables.
 *
 * The file's comment (SF_STR_COMMENT: ICMT in WAV, a Vorbis comment in
 * FLAC) records what the audio format cannot:
 *
 *   rill type=<type> first_timestamp=<N> sample_rate=<%.17g> var=<name>
 *
 * The first tick is known only with the first buffer, and both formats
 * want their strings before the audio, so create only creates the file;
 * libsndfile takes it over (sf_open_fd) at the first write. A writer
 * closed before any write still leaves a valid, empty file.
 *
 * Sample formats. wav keeps every value exactly: float as FLOAT, double as
 * DOUBLE, int32 as PCM_32, uint32 as PCM_32 with the top bit flipped
 * (v - 2^31, offset binary, so the waveform is centred). flac is PCM_24:
 * float and double are audio with full scale 1.0, stored as
 * lrint(v * 2^23) clipped to [-2^23, 2^23 - 1], so they read back within
 * half a 24-bit step when in range; int32 and uint32 are stored as the
 * integer clipped to that range, exact inside it. Values clipped (and
 * NaNs, stored as 0) are counted and said once, when the file is closed.
 * The conversion is done here, not by libsndfile, whose float-to-PCM scale
 * differs on the way in and out.
 *
 * A killed process (SIGKILL: nothing of it runs) must leave a file whose
 * header counts what it holds. libsndfile rewrites a WAV header after every
 * write (SFC_SET_UPDATE_HEADER_AUTO), but a FLAC file's STREAMINFO only at
 * the close: killed before, it says 0 samples ("unknown"; the frames still
 * decode). So after each write that completes a FLAC frame the writer puts
 * the samples of the frames written so far into STREAMINFO itself (see
 * flac_count). MD5 and frame sizes stay 0 there until the close, which
 * FLAC defines as unknown.
 *
 * Float and double WAV files are written here, not by libsndfile: sox
 * wants a non-PCM fmt chunk to carry its cbSize ("wave header missing
 * extended part of fmt chunk" otherwise), and libsndfile writes 16 bytes
 * for WAVE_FORMAT_IEEE_FLOAT, or WAVE_FORMAT_EXTENSIBLE, on which sox 14.4
 * warns the same. The layout is sox's own: an 18-byte fmt chunk (IEEE
 * float, cbSize 0), fact, the comment as LIST/INFO/ICMT, data; its sizes
 * are rewritten (one pwrite) after every write. libsndfile reads it.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "file/backend.h"

#define SND_CHUNK 4096
#define FLAC_MAX 8388607.0
#define FLAC_MIN (-8388608.0)

typedef struct snd_writer {
    int flac;
    SNDFILE *sf;
    uint64_t frames; /* values written */
    /* flac: the encoder's fixed block size (0: not known yet, or not
     * fixed, then STREAMINFO is left alone), and the count it holds. */
    uint32_t block;
    uint64_t counted;
    uint64_t clipped; /* flac: values outside its 24-bit range */
    /* float and double wav, written here: the header (hdr_len bytes, data
     * after it), rewritten after every write. */
    uint8_t *hdr;
    size_t hdr_len;
    int scratch[SND_CHUNK];
} snd_writer;

static int snd_create_common(rill_file_writer *w, int flac) {
    snd_writer *s = rill__calloc(1, sizeof *s);
    if (s == NULL)
        return RILL_ENOMEM;
    s->flac = flac;
    w->impl = s;
    return 0;
}

static int wav_create(rill_file_writer *w) { return snd_create_common(w, 0); }
static int flac_create(rill_file_writer *w) { return snd_create_common(w, 1); }

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The float WAV header: RIFF, fmt (18 bytes: IEEE float, one channel,
 * cbSize 0), fact, LIST/INFO/ICMT with the comment, data. Sizes for
 * s->frames values; rewritten by raw_update. */
static int raw_start(rill_file_writer *w, snd_writer *s, const char *comment) {
    size_t clen = strlen(comment) + 1, cpad = clen & 1;
    size_t list = 4 + 8 + clen + cpad;
    s->hdr_len = 12 + 26 + 12 + 8 + list + 8;
    s->hdr = rill__calloc(1, s->hdr_len);
    if (s->hdr == NULL)
        return RILL_ENOMEM;
    uint32_t bytes = w->info.type == RILL_TYPE_DOUBLE ? 8 : 4;
    uint32_t rate = (uint32_t)lrint(w->info.sample_rate);
    uint8_t *h = s->hdr;
    memcpy(h, "RIFF", 4);
    memcpy(h + 8, "WAVEfmt ", 8);
    put_le(h + 16, 18, 4);
    put_le(h + 20, 3, 2); /* WAVE_FORMAT_IEEE_FLOAT */
    put_le(h + 22, 1, 2);
    put_le(h + 24, rate, 4);
    put_le(h + 28, (uint64_t)rate * bytes, 4);
    put_le(h + 32, bytes, 2);
    put_le(h + 34, bytes * 8, 2);
    put_le(h + 36, 0, 2); /* cbSize */
    memcpy(h + 38, "fact", 4);
    put_le(h + 42, 4, 4);
    memcpy(h + 50, "LIST", 4);
    put_le(h + 54, list, 4);
    memcpy(h + 58, "INFOICMT", 8);
    put_le(h + 66, clen, 4);
    memcpy(h + 70, comment, clen);
    memcpy(h + s->hdr_len - 8, "data", 4);
    return 0;
}

/* The header's sizes for s->frames values, written over the old ones. */
static int raw_update(rill_file_writer *w, snd_writer *s) {
    uint64_t data = s->frames * (w->info.type == RILL_TYPE_DOUBLE ? 8 : 4);
    if (s->hdr_len + data > UINT32_MAX) {
        rill__log_error("%s: a WAV file holds at most 4 GiB; this one is "
                        "full (use flac, bin or csv for longer streams)",
                        w->path);
        return RILL_ETOOBIG;
    }
    put_le(s->hdr + 4, s->hdr_len - 8 + data, 4);
    put_le(s->hdr + 46, s->frames, 4);
    put_le(s->hdr + s->hdr_len - 4, data, 4);
    if (pwrite(w->fd, s->hdr, s->hdr_len, 0) != (ssize_t)s->hdr_len) {
        rill__log_error("%s: cannot rewrite the header: %s", w->path,
                        strerror(errno));
        return RILL_EIO;
    }
    return 0;
}

/* After a FLAC write: the samples of the frames in the file, put into
 * STREAMINFO (bytes 8 + 13 .. 8 + 17: the low 4 bits of byte 13 and bytes
 * 14 to 17 hold the 36-bit total). libFLAC writes a frame once it holds
 * one block and one sample more, so the file holds
 * floor((frames - 1) / block) blocks; the block size (fixed, as libsndfile
 * asks) is read from STREAMINFO's min and max block size. libsndfile and
 * libFLAC write only at the file's end until the close, when STREAMINFO is
 * rewritten whole, so this pwrite does not meet theirs. */
static int flac_count(rill_file_writer *w, snd_writer *s) {
    uint8_t b[22];
    if (s->block == 0) {
        if (pread(w->fd, b, sizeof b, 0) != (ssize_t)sizeof b ||
            memcmp(b, "fLaC", 4) != 0 || (b[4] & 0x7f) != 0)
            return 0; /* not written yet, or not as expected: left alone */
        uint32_t lo = (uint32_t)b[8] << 8 | b[9],
                 hi = (uint32_t)b[10] << 8 | b[11];
        if (lo != hi || lo == 0) {
            s->block = UINT32_MAX; /* variable blocks: cannot count */
            return 0;
        }
        s->block = lo;
    }
    if (s->block == UINT32_MAX || s->frames == 0)
        return 0;
    uint64_t n = (s->frames - 1) / s->block * s->block;
    if (n == s->counted)
        return 0;
    if (pread(w->fd, b, 1, 8 + 13) != 1)
        return RILL_EIO;
    b[0] = (uint8_t)((b[0] & 0xf0) | ((n >> 32) & 0x0f));
    for (int i = 0; i < 4; i++)
        b[1 + i] = (uint8_t)(n >> (24 - 8 * i));
    if (pwrite(w->fd, b, 5, 8 + 13) != 5) {
        rill__log_error("%s: cannot update the sample count: %s", w->path,
                        strerror(errno));
        return RILL_EIO;
    }
    s->counted = n;
    return 0;
}

static int snd_start(rill_file_writer *w, uint64_t first_ts) {
    snd_writer *s = w->impl;
    SF_INFO si;
    memset(&si, 0, sizeof si);
    si.samplerate = (int)lrint(w->info.sample_rate);
    si.channels = 1;
    if (s->flac) {
        si.format = SF_FORMAT_FLAC | SF_FORMAT_PCM_24;
    } else {
        si.format = SF_FORMAT_WAV | SF_FORMAT_PCM_32;
    }
    size_t cap = strlen(w->name) + 128;
    char *comment = rill__malloc(cap);
    if (comment == NULL)
        return RILL_ENOMEM;
    snprintf(comment, cap,
             "rill type=%s first_timestamp=%" PRIu64 " sample_rate=%.17g "
             "var=%s",
             rill_type_name(w->info.type), first_ts, w->info.sample_rate,
             w->name);
    if (!s->flac &&
        (w->info.type == RILL_TYPE_FLOAT || w->info.type == RILL_TYPE_DOUBLE)) {
        int rc = raw_start(w, s, comment);
        rill__free(comment);
        if (rc == 0)
            rc = rill__file_write_all(w, s->hdr, s->hdr_len);
        return rc;
    }
    s->sf = sf_open_fd(w->fd, SFM_WRITE, &si, SF_FALSE);
    if (s->sf == NULL) {
        rill__log_error("%s: libsndfile cannot write it: %s", w->path,
                        sf_strerror(NULL));
        rill__free(comment);
        return RILL_EIO;
    }
    sf_command(s->sf, SFC_SET_UPDATE_HEADER_AUTO, NULL, SF_TRUE);
    int err = sf_set_string(s->sf, SF_STR_COMMENT, comment);
    rill__free(comment);
    if (err != 0) {
        rill__log_error("%s: libsndfile cannot record the comment: %s",
                        w->path, sf_error_number(err));
        return RILL_EIO;
    }
    return 0;
}

static int flac_int(double v) {
    return (int)(v < FLAC_MIN ? FLAC_MIN : v > FLAC_MAX ? FLAC_MAX : v);
}

static int snd_write(rill_file_writer *w, uint64_t first_ts,
                     const void *values, size_t count, const uint32_t *rel) {
    RILL__UNUSED(rel);
    snd_writer *s = w->impl;
    int rc;
    if (s->sf == NULL && s->hdr == NULL && (rc = snd_start(w, first_ts)) != 0)
        return rc;
    if (s->hdr != NULL) { /* float or double wav: the values as they are */
        size_t bytes = count * (w->info.type == RILL_TYPE_DOUBLE ? 8 : 4);
        if ((rc = rill__file_write_all(w, values, bytes)) != 0)
            return rc;
        s->frames += count;
        return raw_update(w, s);
    }
    for (size_t i = 0; i < count;) {
        size_t k = RILL__MIN(count - i, (size_t)SND_CHUNK);
        sf_count_t n = 0;
        rill_type type = w->info.type;
        if (s->flac) {
            for (size_t j = 0; j < k; j++) {
                double v = rill__file_value(type, values, i + j);
                if (type == RILL_TYPE_FLOAT || type == RILL_TYPE_DOUBLE) {
                    /* Full scale, 1.0, is stored a step under: not lost. */
                    s->clipped += isnan(v) || v < -1.0 || v > 1.0;
                    v = isnan(v) ? 0 : rint(v * 8388608.0);
                } else {
                    s->clipped += v < FLAC_MIN || v > FLAC_MAX;
                }
                /* The low 8 bits are dropped by the 24-bit file. */
                s->scratch[j] = flac_int(v) * 256;
            }
            n = sf_write_int(s->sf, s->scratch, (sf_count_t)k);
        } else if (type == RILL_TYPE_FLOAT) {
            n = sf_write_float(s->sf, (const float *)values + i,
                               (sf_count_t)k);
        } else if (type == RILL_TYPE_DOUBLE) {
            n = sf_write_double(s->sf, (const double *)values + i,
                                (sf_count_t)k);
        } else if (type == RILL_TYPE_INT32) {
            n = sf_write_int(s->sf, (const int32_t *)values + i,
                             (sf_count_t)k);
        } else {
            const uint32_t *u = (const uint32_t *)values + i;
            for (size_t j = 0; j < k; j++)
                s->scratch[j] = (int)(int32_t)(u[j] ^ 0x80000000u);
            n = sf_write_int(s->sf, s->scratch, (sf_count_t)k);
        }
        if (n != (sf_count_t)k) {
            rill__log_error("%s: write failed: %s", w->path,
                            sf_strerror(s->sf));
            return RILL_EIO;
        }
        i += k;
        s->frames += k;
    }
    return s->flac ? flac_count(w, s) : 0;
}

static int snd_close(rill_file_writer *w) {
    snd_writer *s = w->impl;
    int rc = 0;
    /* Said once, at the end: a clipped value is a value lost. */
    if (s->clipped > 0) {
        bool audio = w->info.type == RILL_TYPE_FLOAT ||
                     w->info.type == RILL_TYPE_DOUBLE;
        rill__log_warn("%s: %" PRIu64 " of %" PRIu64 " values were "
                       "outside flac's range and were clipped to it (%s; "
                       "wav keeps every value exactly)",
                       w->path, s->clipped, s->frames,
                       audio ? "-1.0 to 1.0, NaN stored as 0"
                             : "24-bit integers, -8388608 to 8388607");
    }
    if (s->sf == NULL && s->hdr == NULL && w->err == 0)
        rc = snd_start(w, 0); /* no buffer came: an empty but valid file */
    if (s->hdr != NULL && rc == 0 && w->err == 0)
        rc = raw_update(w, s);
    if (s->sf != NULL) {
        int err = sf_close(s->sf);
        s->sf = NULL;
        if (err != 0 && rc == 0) {
            rill__log_error("%s: closing failed: %s", w->path,
                            sf_error_number(err));
            rc = RILL_EIO;
        }
    }
    return rc;
}

static void snd_free(rill_file_writer *w) {
    snd_writer *s = w->impl;
    if (s == NULL)
        return;
    if (s->sf != NULL)
        sf_close(s->sf);
    rill__free(s->hdr);
    rill__free(s);
}

/* ---- Reader ------------------------------------------------------------ */

typedef struct snd_reader {
    SNDFILE *sf;
    int flac;
    int ours; /* the comment was rill's: type and first tick known */
    uint64_t next_ts;
    union {
        int i[SND_CHUNK];
        float f[SND_CHUNK];
        double d[SND_CHUNK];
    } scratch;
} snd_reader;

/* Parse "rill type=T first_timestamp=N sample_rate=R var=NAME". */
static int parse_comment(rill_file_reader *r, snd_reader *s, const char *c) {
    char type[16];
    unsigned long long first = 0;
    double rate = 0;
    int pos = -1;
    if (c == NULL ||
        sscanf(c, "rill type=%15s first_timestamp=%llu sample_rate=%lg var=%n",
               type, &first, &rate, &pos) != 3 ||
        pos < 0)
        return 1;
    static const rill_type types[] = {RILL_TYPE_INT32, RILL_TYPE_UINT32,
                                      RILL_TYPE_FLOAT, RILL_TYPE_DOUBLE};
    size_t t = 0;
    while (t < 4 && strcmp(type, rill_type_name(types[t])) != 0)
        t++;
    if (t == 4)
        return 1;
    r->name = rill__strdup(c + pos);
    if (r->name == NULL)
        return RILL_ENOMEM;
    r->info.type = types[t];
    r->info.sample_rate = rate;
    s->next_ts = first;
    s->ours = 1;
    return 0;
}

static int snd_open(rill_file_reader *r, rill_ts_mode mode) {
    RILL__UNUSED(mode);
    snd_reader *s = rill__calloc(1, sizeof *s);
    if (s == NULL)
        return RILL_ENOMEM;
    r->impl = s;
    SF_INFO si;
    memset(&si, 0, sizeof si);
    s->sf = sf_open(r->path, SFM_READ, &si);
    if (s->sf == NULL) {
        int missing = access(r->path, F_OK) != 0 && errno == ENOENT;
        const char *why = sf_strerror(NULL); /* "Format not recognised." */
        size_t n = strlen(why);
        rill__log_error("%s: cannot open: not a sound file libsndfile reads (%.*s)", r->path,
                        (int)(n > 0 && why[n - 1] == '.' ? n - 1 : n), why);
        return missing ? RILL_ENOTFOUND : RILL_EPROTO;
    }
    if (si.channels != 1) {
        rill__log_error("%s: has %d channels; rill reads one-channel files",
                        r->path, si.channels);
        return RILL_ENOTSUP;
    }
    s->flac = (si.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_FLAC;
    r->info.mode = RILL_TS_DENSE;
    int rc = parse_comment(r, s, sf_get_string(s->sf, SF_STR_COMMENT));
    if (rc == RILL_ENOMEM)
        return rc;
    if (rc != 0) {
        /* Not written by rill: audio as doubles at the file's rate. */
        r->name = rill__file_stem(r->path);
        if (r->name == NULL)
            return RILL_ENOMEM;
        r->info.type = RILL_TYPE_DOUBLE;
        r->info.sample_rate = si.samplerate;
        s->next_ts = 0;
    }
    return rill__file_reserve(r, SND_CHUNK);
}

static int snd_next(rill_file_reader *r, rill_file_buffer *out) {
    snd_reader *s = r->impl;
    rill_type type = r->info.type;
    sf_count_t n;
    int ints = s->ours && (s->flac || type == RILL_TYPE_INT32 ||
                           type == RILL_TYPE_UINT32);
    if (ints)
        n = sf_read_int(s->sf, s->scratch.i, SND_CHUNK);
    else if (s->ours && type == RILL_TYPE_FLOAT)
        n = sf_read_float(s->sf, s->scratch.f, SND_CHUNK);
    else
        n = sf_read_double(s->sf, s->scratch.d, SND_CHUNK);
    if (n < 0 || sf_error(s->sf) != SF_ERR_NO_ERROR) {
        rill__log_error("%s: read failed: %s", r->path, sf_strerror(s->sf));
        return RILL_EIO;
    }
    if (n == 0)
        return RILL_EEMPTY;
    for (size_t k = 0; k < (size_t)n; k++) {
        double v;
        if (ints && s->flac) {
            v = (double)(s->scratch.i[k] / 256);
            if (type == RILL_TYPE_FLOAT || type == RILL_TYPE_DOUBLE)
                v /= 8388608.0;
        } else if (ints) {
            v = type == RILL_TYPE_UINT32
                    ? (double)((uint32_t)s->scratch.i[k] ^ 0x80000000u)
                    : (double)s->scratch.i[k];
        } else if (s->ours && type == RILL_TYPE_FLOAT) {
            v = (double)s->scratch.f[k];
        } else {
            v = s->scratch.d[k];
        }
        r->values[k] = v;
        r->ts[k] = s->next_ts + k;
    }
    out->first_ts = s->next_ts;
    out->count = (size_t)n;
    out->values = r->values;
    out->timestamps = r->ts;
    s->next_ts += (uint64_t)n;
    return 0;
}

static void snd_rfree(rill_file_reader *r) {
    snd_reader *s = r->impl;
    if (s == NULL)
        return;
    if (s->sf != NULL)
        sf_close(s->sf);
    rill__free(s);
}

const rill__file_backend rill__file_wav = {
    .format = RILL_FILE_WAV,
    .create = wav_create,
    .write = snd_write,
    .close = snd_close,
    .free = snd_free,
    .open = snd_open,
    .next = snd_next,
    .rfree = snd_rfree,
};

const rill__file_backend rill__file_flac = {
    .format = RILL_FILE_FLAC,
    .create = flac_create,
    .write = snd_write,
    .close = snd_close,
    .free = snd_free,
    .open = snd_open,
    .next = snd_next,
    .rfree = snd_rfree,
};
