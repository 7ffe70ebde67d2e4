/* The audio description's JSON, both ways. See audio.h. */
#include "proto/audio.h"

#include <string.h>

#include "core/internal.h"
#include "proto/json_out.h"

rill_audio_desc rill_audio_desc_default(void) {
    rill_audio_desc a;
    memset(&a, 0, sizeof a);
    a.volume = -1;
    return a;
}

int rill__audio_desc_check(const rill_audio_desc *a, char *why, size_t cap) {
    if (a == NULL) {
        rill__set_err(why, cap, "no description");
        return RILL_EINVAL;
    }
    bool names = a->channels <= RILL_AUDIO_MAX_CHANNELS;
    for (size_t i = 0; names && i < a->channels; i++)
        names = a->variables[i][0] != '\0' &&
                memchr(a->variables[i], '\0', RILL_VAR_NAME_MAX) != NULL;
    if (!(a->rate > 0 && a->rate < 1e7) || a->buffer_frames == 0 ||
        a->buffer_frames > 65536 || a->channels == 0 || !names ||
        !(a->volume <= 100)) {
        rill__set_err(why, cap,
                      "rate must be > 0, buffer_frames 1 to 65536, channels "
                      "1 to %d with as many variables, volume at most 100",
                      RILL_AUDIO_MAX_CHANNELS);
        return RILL_EINVAL;
    }
    bool rates_ok = a->n_rates <= RILL_AUDIO_MAX_RATES;
    for (size_t i = 0; rates_ok && i < a->n_rates; i++)
        rates_ok = a->rates[i] > 0 && a->rates[i] < 1e7;
    if (!rates_ok || a->min_channels > a->max_channels ||
        a->max_channels > RILL_AUDIO_MAX_CHANNELS ||
        (a->max_channels != 0 && a->min_channels == 0) ||
        (a->volume_settable && a->volume < 0)) {
        rill__set_err(why, cap,
                      "what may change: at most %d rates, each > 0; "
                      "min_channels 1 to max_channels (at most %d), or both "
                      "0; a settable volume needs a volume",
                      RILL_AUDIO_MAX_RATES, RILL_AUDIO_MAX_CHANNELS);
        return RILL_EINVAL;
    }
    return 0;
}

typedef struct desc_ctx {
    const rill_audio_desc *a;
    bool settable;
} desc_ctx;

static void build_desc(rill__jw *w, const void *ctx) {
    const rill_audio_desc *a = ((const desc_ctx *)ctx)->a;
    rill__jw_lit(w, "{\"bufferFrames\":");
    rill__jw_u64(w, a->buffer_frames);
    rill__jw_lit(w, ",\"channels\":");
    rill__jw_u64(w, a->channels);
    rill__jw_lit(w, ",\"rate\":");
    rill__jw_double(w, a->rate);
    if (((const desc_ctx *)ctx)->settable) {
        rill__jw_lit(w, ",\"settable\":{");
        const char *sep = "";
        if (a->buffer_frames_settable) {
            rill__jw_lit(w, "\"bufferFrames\":[1,65536]");
            sep = ",";
        }
        if (a->max_channels != 0) {
            rill__jw_lit(w, sep);
            rill__jw_lit(w, "\"channels\":[");
            rill__jw_u64(w, a->min_channels);
            rill__jw_lit(w, ",");
            rill__jw_u64(w, a->max_channels);
            rill__jw_lit(w, "]");
            sep = ",";
        }
        if (a->n_rates != 0) {
            rill__jw_lit(w, sep);
            rill__jw_lit(w, "\"rates\":[");
            for (size_t i = 0; i < a->n_rates; i++) {
                if (i != 0)
                    rill__jw_lit(w, ",");
                rill__jw_double(w, a->rates[i]);
            }
            rill__jw_lit(w, "]");
            sep = ",";
        }
        if (a->volume_settable) {
            rill__jw_lit(w, sep);
            rill__jw_lit(w, "\"volume\":[0,100]");
        }
        rill__jw_lit(w, "}");
    }
    rill__jw_lit(w, ",\"variables\":[");
    for (size_t i = 0; i < a->channels; i++) {
        if (i != 0)
            rill__jw_lit(w, ",");
        rill__jw_string(w, a->variables[i]);
    }
    rill__jw_lit(w, "]");
    if (a->volume >= 0) {
        rill__jw_lit(w, ",\"volume\":");
        rill__jw_double(w, a->volume);
    }
    rill__jw_lit(w, "}");
}

int rill__audio_desc_render(const rill_audio_desc *a, bool settable, char **out,
                            size_t *len) {
    desc_ctx ctx = {a, settable};
    return rill__json_render(build_desc, &ctx, out, len);
}

/* [lo, hi] as two non-negative integers. */
static bool range_of(const json_t *r, json_int_t *lo, json_int_t *hi) {
    if (json_array_size(r) != 2 || !json_is_integer(json_array_get(r, 0)) ||
        !json_is_integer(json_array_get(r, 1)))
        return false;
    *lo = json_integer_value(json_array_get(r, 0));
    *hi = json_integer_value(json_array_get(r, 1));
    return *lo >= 0 && *hi >= *lo;
}

static bool parse_settable(const json_t *s, rill_audio_desc *a) {
    if (s == NULL)
        return true;
    if (!json_is_object(s))
        return false;
    json_int_t lo, hi;
    const json_t *bf = json_object_get(s, "bufferFrames");
    const json_t *ch = json_object_get(s, "channels");
    const json_t *rates = json_object_get(s, "rates");
    a->buffer_frames_settable = bf != NULL;
    a->volume_settable = json_object_get(s, "volume") != NULL;
    if (ch != NULL) {
        if (!range_of(ch, &lo, &hi) || lo == 0 || hi > RILL_AUDIO_MAX_CHANNELS)
            return false;
        a->min_channels = (size_t)lo;
        a->max_channels = (size_t)hi;
    }
    if (rates != NULL) {
        if (!json_is_array(rates) ||
            json_array_size(rates) > RILL_AUDIO_MAX_RATES)
            return false;
        for (size_t i = 0; i < json_array_size(rates); i++) {
            const json_t *r = json_array_get(rates, i);
            if (!json_is_number(r))
                return false;
            a->rates[i] = json_number_value(r);
        }
        a->n_rates = json_array_size(rates);
    }
    return true;
}

int rill__audio_desc_parse(const json_t *j, rill_audio_desc *out) {
    rill_audio_desc a = rill_audio_desc_default();
    *out = a;
    const json_t *vars = json_object_get(j, "variables");
    const json_t *rate = json_object_get(j, "rate");
    const json_t *frames = json_object_get(j, "bufferFrames");
    const json_t *volume = json_object_get(j, "volume");
    if (!json_is_object(j) || !json_is_array(vars) || !json_is_number(rate) ||
        !json_is_integer(frames) || json_array_size(vars) == 0 ||
        json_array_size(vars) > RILL_AUDIO_MAX_CHANNELS)
        return RILL_EPROTO;
    a.rate = json_number_value(rate);
    json_int_t bf = json_integer_value(frames);
    if (!(a.rate > 0) || bf <= 0 || bf > 65536)
        return RILL_EPROTO;
    a.buffer_frames = (uint32_t)bf;
    a.volume = json_is_number(volume) ? json_number_value(volume) : -1;
    a.channels = json_array_size(vars);
    for (size_t i = 0; i < a.channels; i++) {
        const json_t *v = json_array_get(vars, i);
        if (!json_is_string(v) ||
            json_string_length(v) >= sizeof a.variables[i])
            return RILL_EPROTO;
        memcpy(a.variables[i], json_string_value(v), json_string_length(v) + 1);
    }
    if (!parse_settable(json_object_get(j, "settable"), &a))
        return RILL_EPROTO;
    *out = a;
    return 0;
}
