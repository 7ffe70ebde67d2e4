/* Sample formats and the one conversion every path uses.
 *
 * Everything inside the engine is 32-bit float with full scale 1.0; the
 * user's and the device's formats meet it here, with the saturation rule
 * written in rill/audio.h. Integers go through float only when the widths
 * differ, so a same-format copy is always exact.
 */
#include <math.h>
#include <string.h>

#include "audio/backend.h"

size_t rill_audio_format_size(rill_audio_format format) {
    switch (format) {
    case RILL_AUDIO_S8:
        return 1;
    case RILL_AUDIO_S16:
        return 2;
    case RILL_AUDIO_S32:
    case RILL_AUDIO_F32:
        return 4;
    case RILL_AUDIO_FORMAT_DEFAULT:
        return 0;
    }
    return 0;
}

const char *rill_audio_format_name(rill_audio_format format) {
    switch (format) {
    case RILL_AUDIO_S8:
        return "s8";
    case RILL_AUDIO_S16:
        return "s16";
    case RILL_AUDIO_S32:
        return "s32";
    case RILL_AUDIO_F32:
        return "f32";
    case RILL_AUDIO_FORMAT_DEFAULT:
        return "default";
    }
    return "unknown";
}

/* Clamp to [-1, 1]; NaN (which fails both comparisons) becomes 0. */
static inline float clampf(float x) {
    if (x >= -1.0f && x <= 1.0f)
        return x;
    if (x > 1.0f)
        return 1.0f;
    if (x < -1.0f)
        return -1.0f;
    return 0.0f;
}

static inline long to_int(float x, double scale, long lo, long hi) {
    double v = (double)clampf(x) * scale;
    long r = lrint(v);
    return r < lo ? lo : r > hi ? hi : r;
}

void rill__audio_from_float(rill_audio_format to, void *dst, const float *src,
                            size_t n) {
    switch (to) {
    case RILL_AUDIO_S8: {
        int8_t *d = dst;
        for (size_t i = 0; i < n; i++)
            d[i] = (int8_t)to_int(src[i], 128.0, -128, 127);
        return;
    }
    case RILL_AUDIO_S16: {
        int16_t *d = dst;
        for (size_t i = 0; i < n; i++)
            d[i] = (int16_t)to_int(src[i], 32768.0, -32768, 32767);
        return;
    }
    case RILL_AUDIO_S32: {
        int32_t *d = dst;
        for (size_t i = 0; i < n; i++)
            d[i] = (int32_t)to_int(src[i], 2147483648.0, INT32_MIN, INT32_MAX);
        return;
    }
    case RILL_AUDIO_F32:
    case RILL_AUDIO_FORMAT_DEFAULT: {
        float *d = dst;
        for (size_t i = 0; i < n; i++)
            d[i] = clampf(src[i]);
        return;
    }
    }
}

/* The one place that reads user/device samples as float. `add` mixes into
 * dst instead of storing, so the mixer needs no scratch buffer. */
void rill__audio_to_float(float *dst, rill_audio_format from, const void *src,
                          size_t n, bool add) {
    switch (from) {
    case RILL_AUDIO_S8: {
        const int8_t *s = src;
        for (size_t i = 0; i < n; i++) {
            float v = (float)s[i] * (1.0f / 128.0f);
            dst[i] = add ? dst[i] + v : v;
        }
        return;
    }
    case RILL_AUDIO_S16: {
        const int16_t *s = src;
        for (size_t i = 0; i < n; i++) {
            float v = (float)s[i] * (1.0f / 32768.0f);
            dst[i] = add ? dst[i] + v : v;
        }
        return;
    }
    case RILL_AUDIO_S32: {
        const int32_t *s = src;
        for (size_t i = 0; i < n; i++) {
            float v = (float)((double)s[i] * (1.0 / 2147483648.0));
            dst[i] = add ? dst[i] + v : v;
        }
        return;
    }
    case RILL_AUDIO_F32:
    case RILL_AUDIO_FORMAT_DEFAULT: {
        const float *s = src;
        for (size_t i = 0; i < n; i++)
            dst[i] = add ? dst[i] + s[i] : s[i];
        return;
    }
    }
    if (!add) /* an unknown format reads as silence */
        memset(dst, 0, n * sizeof *dst);
}

void rill_audio_convert(rill_audio_format to, void *dst, rill_audio_format from,
                        const void *src, size_t n) {
    if (to == RILL_AUDIO_FORMAT_DEFAULT)
        to = RILL_AUDIO_F32;
    if (from == RILL_AUDIO_FORMAT_DEFAULT)
        from = RILL_AUDIO_F32;
    if (to == from) {
        memmove(dst, src, n * rill_audio_format_size(to));
        return;
    }
    size_t fs = rill_audio_format_size(from), ts = rill_audio_format_size(to);
    if (fs == 0 || ts == 0)
        return; /* an unknown format: nothing, as audio.h says */
    float tmp[256];
    const uint8_t *s = src;
    uint8_t *d = dst;
    while (n > 0) {
        size_t k = RILL__MIN(n, RILL__ARRAY_LEN(tmp));
        rill__audio_to_float(tmp, from, s, k, false);
        rill__audio_from_float(to, d, tmp, k);
        s += k * fs;
        d += k * ts;
        n -= k;
    }
}
