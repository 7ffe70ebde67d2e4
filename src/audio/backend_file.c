/* The file backend: an output that records the mix to a WAV or FLAC file,
 * an input that plays a sound file as if it were a microphone, through
 * libsndfile. The device is the path; the extension picks the format.
 *
 * One thread per stream, clocked like the dummy backend's (absolute
 * deadlines) when config.realtime is set, or as fast as possible when not,
 * which makes offline rendering and exact tests possible. The engine's
 * part of each block runs marked as audio-thread code; the disk write or
 * read after it is this backend's own business, outside that mark.
 *
 * Sample formats. The output file stores the stream's format: s16 as
 * PCM_16, s32 as PCM_32, f32 as FLOAT, s8 as WAV's PCM_U8 (FLAC: PCM_S8);
 * FLAC has no 32-bit or float, so those become PCM_24. Integer data is
 * handed to libsndfile as int with our own shift, which is exact. An input
 * file is read as float, so 8/16/24-bit files come back exactly; 32-bit
 * ones keep 24 bits.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sndfile.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio/backend.h"

typedef struct filedev {
    SNDFILE *sf;
    pthread_t thread;
    atomic_bool quit;
    float *fbuf;   /* block of float frames */
    int *ibuf;     /* block of int frames (output, integer formats) */
    uint8_t *ubuf; /* block in the stream's format */
    uint64_t pos;
} filedev;

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static int file_open(rill__audio_dev *d, char *err, size_t err_size) {
    if (d->device == NULL) {
        rill__set_err(err, err_size, "no file path given (config.device)");
        return RILL_EINVAL;
    }
    filedev *u = rill__calloc(1, sizeof *u);
    if (u == NULL)
        return RILL_ENOMEM;
    atomic_init(&u->quit, false);
    SF_INFO si;
    memset(&si, 0, sizeof si);
    int rc = 0;
    if (d->is_input) {
        /* Whether the file can be read at all first: libsndfile says
         * "System error : ..." for that, and leaves errno unreliable for
         * what it does not recognise. */
        int fd = open(d->device, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
            int e = fd < 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : errno;
            if (fd >= 0)
                close(fd);
            rill__set_err(err, err_size, "%s", strerror(e));
            rc = e == ENOENT ? RILL_ENOTFOUND : RILL_EIO;
            goto fail;
        }
        close(fd);
        u->sf = sf_open(d->device, SFM_READ, &si);
        if (u->sf == NULL) {
            const char *why = sf_strerror(NULL);
            size_t n = strlen(why);
            rill__set_err(err, err_size, "not a sound file libsndfile reads (%.*s)",
                          (int)(n > 0 && why[n - 1] == '.' ? n - 1 : n), why);
            rc = RILL_ENOTSUP;
            goto fail;
        }
        if (si.channels < 1 || si.channels > 64 || si.samplerate < 1) {
            rill__set_err(err, err_size, "unsupported file (%d channels, %d Hz)",
                          si.channels, si.samplerate);
            rc = RILL_ENOTSUP;
            goto fail;
        }
        d->rate = (uint32_t)si.samplerate;
        d->channels = (uint32_t)si.channels;
    } else {
        bool flac = ends_with(d->device, ".flac");
        if (!flac && !ends_with(d->device, ".wav")) {
            rill__set_err(err, err_size, "the file name must end in .wav or .flac");
            rc = RILL_ENOTSUP;
            goto fail;
        }
        int sub;
        switch (d->format) {
        case RILL_AUDIO_S8:
            sub = flac ? SF_FORMAT_PCM_S8 : SF_FORMAT_PCM_U8;
            break;
        case RILL_AUDIO_S32:
            sub = flac ? SF_FORMAT_PCM_24 : SF_FORMAT_PCM_32;
            break;
        case RILL_AUDIO_F32:
            sub = flac ? SF_FORMAT_PCM_24 : SF_FORMAT_FLOAT;
            break;
        default:
            sub = SF_FORMAT_PCM_16;
            break;
        }
        si.samplerate = (int)d->rate;
        si.channels = (int)d->channels;
        si.format = (flac ? SF_FORMAT_FLAC : SF_FORMAT_WAV) | sub;
        /* Whether it can be written at all first, for the reason in
         * strerror's words (libsndfile's is "System error : ..."). */
        int fd = open(d->device, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            rill__set_err(err, err_size, "%s", strerror(errno));
            rc = RILL_EIO;
            goto fail;
        }
        close(fd);
        u->sf = sf_open(d->device, SFM_WRITE, &si);
        if (u->sf == NULL) {
            rill__set_err(err, err_size, "%s", sf_strerror(NULL));
            rc = RILL_EIO;
            goto fail;
        }
        /* Keep the header right after every block, so a killed process
         * leaves a file that opens with everything written. */
        sf_command(u->sf, SFC_SET_UPDATE_HEADER_AUTO, NULL, SF_TRUE);
    }
    size_t n = (size_t)d->buffer_frames * d->channels;
    u->fbuf = rill__malloc(n * sizeof(float));
    u->ibuf = rill__malloc(n * sizeof(int));
    u->ubuf = rill__malloc(n * 4);
    if (!u->fbuf || !u->ibuf || !u->ubuf) {
        rc = RILL_ENOMEM;
        goto fail;
    }
    d->latency_frames = 0;
    d->impl = u;
    return 0;
fail:
    if (u->sf)
        sf_close(u->sf);
    rill__free(u->fbuf);
    rill__free(u->ibuf);
    rill__free(u->ubuf);
    rill__free(u);
    return rc;
}

/* Writes n frames of the mix in the stream's format, exactly. */
static bool write_block(rill__audio_dev *d, filedev *u, const float *mix,
                        size_t n) {
    size_t total = n * d->channels;
    sf_count_t got;
    if (d->format == RILL_AUDIO_F32) {
        got = sf_writef_float(u->sf, mix, (sf_count_t)n);
    } else {
        rill__audio_from_float(d->format, u->ubuf, mix, total);
        for (size_t i = 0; i < total; i++) {
            int v;
            switch (d->format) {
            case RILL_AUDIO_S8:
                v = (int)((int8_t *)u->ubuf)[i] * (1 << 24);
                break;
            case RILL_AUDIO_S32:
                v = ((int32_t *)u->ubuf)[i];
                break;
            default:
                v = (int)((int16_t *)u->ubuf)[i] * (1 << 16);
                break;
            }
            u->ibuf[i] = v;
        }
        got = sf_writef_int(u->sf, u->ibuf, (sf_count_t)n);
    }
    return got == (sf_count_t)n;
}

static void *file_main(void *arg) {
    rill__audio_dev *d = arg;
    filedev *u = d->impl;
    uint64_t period_ns = (uint64_t)d->buffer_frames * 1000000000u / d->rate;
    uint64_t t0 = rill_clock_now_ns(), k = 0;
    while (!atomic_load(&u->quit)) {
        size_t n = d->buffer_frames;
        if (d->cfg.max_frames && u->pos + n > d->cfg.max_frames)
            n = (size_t)(d->cfg.max_frames - u->pos);
        if (d->is_input) {
            sf_count_t got = sf_readf_float(u->sf, u->fbuf, (sf_count_t)n);
            if (got <= 0 && d->cfg.loop && u->pos > 0) {
                sf_seek(u->sf, 0, SEEK_SET);
                got = sf_readf_float(u->sf, u->fbuf, (sf_count_t)n);
            }
            if (got <= 0) {
                rill__audio_done(d);
                break;
            }
            rill__audio_rt_enter();
            rill__audio_capture(d, u->fbuf, RILL_AUDIO_F32, (size_t)got, u->pos);
            rill__audio_rt_leave();
            n = (size_t)got;
        } else if (n > 0) {
            rill__audio_rt_enter();
            float *mix = rill__audio_render(d, n, u->pos);
            rill__audio_rt_leave();
            if (!write_block(d, u, mix, n)) {
                rill__log_error("audio: file: output '%s': write failed: %s",
                                d->device, sf_strerror(u->sf));
                atomic_store(&d->failed, true);
                break;
            }
        }
        u->pos += n;
        if (d->cfg.max_frames && u->pos >= d->cfg.max_frames) {
            rill__audio_done(d);
            break;
        }
        k++;
        if (d->cfg.realtime)
            rill__audio_pace(t0 + k * period_ns, &u->quit);
    }
    if (!d->is_input)
        sf_write_sync(u->sf);
    return NULL;
}

static int file_start(rill__audio_dev *d) {
    filedev *u = d->impl;
    atomic_store(&u->quit, false);
    return pthread_create(&u->thread, NULL, file_main, d) == 0 ? 0 : RILL_ESYS;
}

static void file_stop(rill__audio_dev *d) {
    filedev *u = d->impl;
    atomic_store(&u->quit, true);
    pthread_join(u->thread, NULL);
}

static void file_close(rill__audio_dev *d) {
    filedev *u = d->impl;
    if (u == NULL)
        return;
    sf_close(u->sf);
    rill__free(u->fbuf);
    rill__free(u->ibuf);
    rill__free(u->ubuf);
    rill__free(u);
    d->impl = NULL;
}

static int file_list_inputs(const char *device,
                            void (*fn)(const char *name, void *user),
                            void *user) {
    /* Any readable sound file is an input; there is nothing to list. */
    (void)device;
    (void)fn;
    (void)user;
    return 0;
}

const rill__audio_backend rill__audio_backend_file = {
    "file", file_open, file_start, file_stop, file_close, file_list_inputs,
};
