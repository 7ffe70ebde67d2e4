/* Play a Pure Data patch (audiostream's PatchSource): rill runs Debian's
 * `pd -nogui -jack` on the patch and mixes its outputs like any source.
 * Pd needs a JACK server; without --server this example starts a private
 * `jackd --no-realtime -d dummy` for itself and stops it at the end, so
 * it runs without a sound card. The output is the file backend (the
 * patch recorded to a WAV) or jack.
 *
 *   build/examples/audio_pd examples/audio_pd_demo.pd /tmp/pd.wav [seconds]
 *   build/examples/audio_pd PATCH.pd jack --server default   # real JACK
 */
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rill/rill.h"

extern char **environ;

static void sleep_s(double s) {
    rill_clock_sleep_until_ns(rill_clock_now_ns() + (uint64_t)(s * 1e9));
}

static void ignore(const char *name, void *user) {
    (void)name;
    (void)user;
}

/* The library never prints; this shows its messages. */
static void print_log(rill_log_level level, const char *msg, void *user) {
    (void)user;
    fprintf(stderr, "rill %s: %s\n", rill_log_level_name(level), msg);
}

int main(int argc, char **argv) {
    rill_set_log_callback(print_log, RILL_LOG_WARN, NULL);
    if (argc < 3) {
        fprintf(stderr, "usage: audio_pd PATCH.pd OUT.wav|jack [seconds] "
                        "[--server NAME]\n");
        return 2;
    }
    const char *patch = argv[1], *where = argv[2], *server = NULL;
    double seconds = 2;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
            server = argv[++i];
        else
            seconds = atof(argv[i]);
    }
    char name[64];
    pid_t jackd = -1;
    if (server == NULL) {
        snprintf(name, sizeof name, "rill-example-%d", (int)getpid());
        char *jargv[] = {"jackd", "--no-realtime", "-n", name, "-d", "dummy",
                         "-r", "48000", "-p", "256", NULL};
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", 1, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", 1, 0);
        if (posix_spawnp(&jackd, "jackd", &fa, NULL, jargv, environ) != 0) {
            fprintf(stderr, "audio_pd: cannot run jackd (apt-get install jackd2)\n");
            return 1;
        }
        posix_spawn_file_actions_destroy(&fa);
        server = name;
        /* Listing its ports doubles as "is the server up yet?". */
        for (int i = 0; i < 50; i++) {
            if (rill_audio_list_inputs("jack", server, ignore, NULL) == 0)
                break;
            sleep_s(0.1);
        }
    }
    rill_audio_config cfg = rill_audio_config_default();
    char err[256] = "";
    bool to_jack = strcmp(where, "jack") == 0;
    cfg.backend = to_jack ? "jack" : "file";
    cfg.device = to_jack ? server : where;
    cfg.rate = 48000; /* the file must run at the JACK server's rate */
    cfg.max_frames = to_jack ? 0 : (uint64_t)(seconds * 48000);
    cfg.err = err;
    cfg.err_size = sizeof err;
    rill_audio_output *out = NULL;
    rill_audio_source *pd = NULL;
    int rc = rill_audio_output_open(&cfg, &out);
    if (rc == 0)
        rc = rill_audio_pd_create(out, patch, server, NULL, &pd);
    if (rc == 0)
        rc = rill_audio_output_add(out, pd);
    if (rc == 0)
        rc = rill_audio_source_play(pd); /* starts Pd, connects its ports */
    if (rc == 0)
        rc = rill_audio_output_start(out);
    if (rc != 0) {
        fprintf(stderr, "audio_pd: %s\n", err[0] ? err : rill_strerror(rc));
    } else {
        if (to_jack)
            sleep_s(seconds);
        else
            rill_audio_output_wait(out, -1);
        rill_audio_source_stats st;
        rill_audio_source_get_stats(pd, &st);
        printf("played %s for %.1f s: %llu frames from Pd, %llu underruns\n",
               patch, seconds, (unsigned long long)st.frames,
               (unsigned long long)st.underruns);
    }
    rill_audio_source_destroy(pd); /* ends Pd */
    rill_audio_output_close(out);
    if (jackd > 0) {
        kill(jackd, SIGTERM);
        waitpid(jackd, NULL, 0);
    }
    return rc == 0 ? 0 : 1;
}
