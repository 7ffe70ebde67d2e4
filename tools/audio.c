/* rill audio: show or change the device's audio input configuration. */
#include <stdio.h>

#include "host.h"

static const char usage[] =
    "usage: rill audio [--rate HZ] [--channels N] [--buffer-frames N]\n"
    "                  [--volume 0-100] [--url URL] [--token T] [--timeout S]\n\n"
    "Print the device's audio input configuration (rate, channels, frames per\n"
    "buffer, volume, and the variable of each channel); with options, ask the\n"
    "device to change it first (what it offers depends on its source: rill\n"
    "serve's demo and alsa and sine sources reopen at another rate, jack and\n"
    "alsa take another channel count, every source a volume and a buffer\n"
    "size), wait until it has, and print the new one. Every client and page\n"
    "sees the change.\n"
    HOST_URL_HELP
    "\nexamples:\n  rill audio\n  rill audio --rate 48000 --volume 80\n"
    "  rill audio --buffer-frames 512\n";

/* One option into the change; false after saying what is wrong. */
static bool take(int c, const char *arg, rill_audio_change *ch) {
    double x;
    switch (c) {
    case 'r':
        return parse_option_number("audio", "--rate", arg, 1, 1e7, false, &ch->rate);
    case 'c':
        if (!parse_option_number("audio", "--channels", arg, 1, 64, true, &x))
            return false;
        ch->channels = (size_t)x;
        return true;
    case 'b':
        if (!parse_option_number("audio", "--buffer-frames", arg, 1, 65536, true, &x))
            return false;
        ch->buffer_frames = (uint32_t)x;
        return true;
    default: /* 'v' */
        return parse_option_number("audio", "--volume", arg, 0, 100, false, &ch->volume);
    }
}

static void print_audio(const rill_audio_desc *a) {
    printf("rate           %g Hz\nchannels       %zu\nbuffer frames  %u\n", a->rate,
           a->channels, a->buffer_frames);
    if (a->volume >= 0)
        printf("volume         %g\n", a->volume);
    else
        printf("volume         (not reported)\n");
    printf("variables     ");
    for (size_t i = 0; i < a->channels; i++)
        printf(" %s", a->variables[i]);
    printf("\n");
}

int cmd_audio(int argc, char **argv) {
    static const struct option opts[] = {{"rate", required_argument, NULL, 'r'},
                                         {"channels", required_argument, NULL, 'c'},
                                         {"buffer-frames", required_argument, NULL, 'b'},
                                         {"volume", required_argument, NULL, 'v'},
                                         {NULL, 0, NULL, 0}};
    host h;
    host_init(&h, argc, argv, usage, "", opts);
    rill_audio_change ch = rill_audio_change_none();
    bool change = false;
    int c, status;
    while ((c = host_next(&h)) > 0) {
        if (!take(c, optarg, &ch))
            return EXIT_USAGE;
        change = true;
    }
    if (c == CLI_STOP)
        return h.opts.status;
    if ((status = cli_args(&h.opts, 0, 0)) >= 0)
        return status;
    rill_dash *dash = host_connect_dash(&h, &status);
    if (dash == NULL)
        return status;
    status = EXIT_OK;
    if (change) {
        char why[512];
        if (rill_client_change_audio(rill_dash_client(dash), &ch, why, sizeof why) != 0)
            status = host_fail(&h, EXIT_FAILED, "not changed: %s", why);
        /* Answered after the new description was announced on the same
         * socket: rill_dash_get_audio below returns it. */
    }
    rill_audio_desc a;
    int rc = rill_dash_get_audio(dash, &a);
    if (rc == RILL_ENOTFOUND)
        status = host_fail(&h, EXIT_FAILED, "%s has no audio input (its program declared "
                           "none)", h.url);
    else if (rc == 0)
        print_audio(&a);
    rill_dash_destroy(dash);
    return status;
}
