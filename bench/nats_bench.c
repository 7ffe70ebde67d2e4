/* NATS JetStream (issue 17, docs/SCALE.md): a device -> rill bridge ->
 * JetStream (R1 and R3) -> rill consumer, against the engine's own ceiling
 * measured in the same run.
 *
 * Everything runs in a private network namespace (unshare, root only; the
 * host's ports are never touched): a 3-node nats-server cluster on
 * loopback with file storage in a temporary directory, one stream per
 * replication factor (R1 and R3), and in this process a rill_server
 * device, a rill_bridge and the consumers. Two loads:
 *
 *  - "8ch x 64 @ 48 kHz": 8 float variables, buffers of 64 values, the
 *    device paced in real time (6000 messages/s, 1.5 MB/s of values).
 *    Rows: MB/s delivered (must be what was offered, without drops), and
 *    the latency from the set that completes a buffer to the consumer's
 *    on_buffer, p50 and p99, against a direct rill connection to the same
 *    device (the target: at most 2 ms more at p99 on R1).
 *  - "64ch x 1024 flood": 64 float variables, buffers of 1024 values, the
 *    device offering 1.25x what plain publishing reached just before in
 *    the same repeat, more than the engine stores, so the figure is the
 *    bridge path's own ceiling. Rows: MB/s of values delivered, against the
 *    ceiling (target >= 0.7x), and latency p50/p99 (queueing; no target).
 *    One more row says what rill's message format costs the engine: the
 *    plain publisher with the bridge's two headers (a unique Nats-Msg-Id,
 *    which JetStream checks against its duplicate window, and Rill); and
 *    one the bridge without the id (--no-dedupe), against the same target.
 *
 * The ceiling ("plain JetStream"): a libnats publisher sending messages of
 * the very sizes the bridge sends (32-byte header + values; no headers),
 * asynchronously acknowledged, into the same stream, and an ordered
 * JetStream consumer reading them, as the rill consumer does. Its MB/s
 * counts the same value bytes; its latency is publish -> consumer. Its
 * connection has the best settings found (the bridge's and consumer's
 * too): natsOptions_SetSendAsap (each publish written at once; libnats's
 * default flusher waits 1 ms first, which cost the plain publisher a
 * third of its MB/s in a flood and 0.5 ms at the median when paced), an
 * async-publish window of 4096 messages (the bridge's default).
 *
 * The device sets each block of ticks with rill_var_set_block, as an
 * audio callback does.
 *
 * Each figure is the median of RILL_BENCH_NATS_REPS repeats (default 3)
 * of a RILL_BENCH_NATS_S window (default 3 s) after 1.5 s of warm-up; the
 * stream is purged between runs. Every consumer checks the values (the
 * device sets (tick mod 2^24) in every variable). The load average is
 * printed: this machine is shared. Knobs for investigating:
 * RILL_BENCH_NATS_REPLICAS (e.g. "1"), RILL_BENCH_NATS_LOADS ("paced",
 * "flood"), RILL_BENCH_NATS_VERBOSE=1 (each run's figures on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <nats/nats.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "rill/bridge.h"
#include "rill/nats.h"

#define SUITE "nats"
#define NODES 3
#define PORT0 24231  /* client ports, in the private namespace */
#define CPORT0 26231 /* cluster routes */
#define SLOTS 65536  /* completion times of the latest blocks */
#define MAX_VARS 64
#define MAX_SAMPLES (1u << 21)
#define HEADER 32 /* the native frame's header, as the bridge sends it */

typedef struct load {
    const char *name;
    uint32_t vars, buf;
    bool flood;
    double rate; /* ticks/s when paced */
} load;

static const load LOADS[] = {
    {"8ch x 64 @ 48 kHz", 8, 64, false, 48000},
    {"64ch x 1024 flood", 64, 1024, true, 0},
};

static double window_s, warm_s = 1.5;
static int reps;
static bool verbose;

/* ---- The private network namespace and the cluster -------------------- */

static bool enter_namespace(void) {
    if (unshare(CLONE_NEWNET) != 0) {
        printf("bench_nats: skipped: a private network namespace needs root (%s)\n",
               strerror(errno));
        return false;
    }
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    bool ok = s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
    ifr.ifr_flags |= IFF_UP;
    ok = ok && ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
    if (s >= 0)
        close(s);
    if (!ok)
        printf("bench_nats: skipped: cannot bring up lo in the namespace (%s)\n",
               strerror(errno));
    return ok;
}

typedef struct cluster {
    pid_t pid[NODES];
    char dir[64];
    char urls[256];
    natsConnection *nc;
    jsCtx *js;
    /* By replication factor: the node leading stream R<n>, which every
     * row of it connects to (see find_leader), and the plain rows'
     * connection to it. */
    char lead_url[4][64];
    natsConnection *lead_nc[4];
} cluster;

static void close_nc(natsConnection *nc) {
    if (nc != NULL) {
        natsConnection_Close(nc);
        natsConnection_Destroy(nc);
    }
}

static void cluster_stop(cluster *c) {
    jsCtx_Destroy(c->js);
    close_nc(c->nc);
    for (int r = 0; r < 4; r++)
        close_nc(c->lead_nc[r]);
    for (int i = 0; i < NODES; i++)
        if (c->pid[i] > 0)
            kill(c->pid[i], SIGTERM);
    for (int i = 0; i < NODES; i++)
        if (c->pid[i] > 0)
            waitpid(c->pid[i], NULL, 0);
    if (c->dir[0] != '\0') {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_nats: could not remove %s\n", c->dir);
    }
}

static void sleep_ms(int ms) {
    rill_clock_sleep_until_ns(rill_clock_now_ns() + (uint64_t)ms * 1000000u);
}

/* The stream a replication factor's rows use, as the bridge configures it
 * (so its create is an update that changes nothing). */
static natsStatus add_stream(cluster *c, int replicas) {
    char name[8], subj[8];
    snprintf(name, sizeof name, "R%d", replicas);
    snprintf(subj, sizeof subj, "r%d.>", replicas);
    const char *subjects[1] = {subj};
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = name;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Replicas = replicas;
    sc.MaxAge = (int64_t)3600 * 1000000000;
    sc.MaxBytes = (int64_t)1 << 30;
    sc.Duplicates = (int64_t)20 * 1000000000;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_AddStream(&si, c->js, &sc, NULL, &jerr);
    jsStreamInfo_Destroy(si);
    return s;
}

/* A connection to `urls` (comma-separated) with the best settings found
 * for the engine, which the bridge and consumer use too
 * (src/nats/common.c): each publish written at once, not after libnats's
 * 1 ms flusher wait, which cost both latency and MB/s. */
static natsStatus connect_asap(const char *urls, natsConnection **out) {
    natsOptions *o = NULL;
    char copy[256];
    const char *servers[NODES];
    int n = 0;
    snprintf(copy, sizeof copy, "%s", urls);
    for (char *sv = NULL, *t = strtok_r(copy, ",", &sv); t && n < NODES;
         t = strtok_r(NULL, ",", &sv))
        servers[n++] = t;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetServers(o, servers, n);
    if (s == NATS_OK)
        s = natsOptions_SetSendAsap(o, true);
    if (s == NATS_OK)
        s = natsConnection_Connect(out, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK)
        *out = NULL;
    return s;
}

/* Every row of stream R<replicas> (plain, bridge, consumer) connects to
 * the node leading it. A client on another node has each message routed
 * once more between nodes (two servers' CPU, a second socket), and which
 * node a client picked was random: the same row measured 80 or 130 MB/s
 * by where its connections landed. */
static bool find_leader(cluster *c, int replicas) {
    if (c->lead_nc[replicas] != NULL)
        return true;
    char name[8];
    snprintf(name, sizeof name, "R%d", replicas);
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    int node = -1;
    if (js_GetStreamInfo(&si, c->js, name, NULL, &jerr) == NATS_OK && si->Cluster &&
        si->Cluster->Leader != NULL && si->Cluster->Leader[0] == 'n')
        node = atoi(si->Cluster->Leader + 1);
    jsStreamInfo_Destroy(si);
    if (node < 0 || node >= NODES)
        return false;
    snprintf(c->lead_url[replicas], sizeof c->lead_url[replicas], "nats://127.0.0.1:%d",
             PORT0 + node);
    return connect_asap(c->lead_url[replicas], &c->lead_nc[replicas]) == NATS_OK;
}

static bool cluster_start(cluster *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "/tmp/rill-bench-nats-XXXXXX");
    if (mkdtemp(c->dir) == NULL) {
        c->dir[0] = '\0';
        return false;
    }
    for (int i = 0; i < NODES; i++) {
        char port[16], name[8], store[96], cluster_url[64], routes[160] = "";
        snprintf(port, sizeof port, "%d", PORT0 + i);
        snprintf(name, sizeof name, "n%d", i);
        snprintf(store, sizeof store, "%s/store%d", c->dir, i);
        snprintf(cluster_url, sizeof cluster_url, "nats://127.0.0.1:%d", CPORT0 + i);
        for (int k = 0; k < NODES; k++)
            if (k != i)
                snprintf(routes + strlen(routes), sizeof routes - strlen(routes),
                         "%snats://127.0.0.1:%d", routes[0] ? "," : "", CPORT0 + k);
        snprintf(c->urls + strlen(c->urls), sizeof c->urls - strlen(c->urls),
                 "%snats://127.0.0.1:%d", i ? "," : "", PORT0 + i);
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlives the bench */
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            dup2(null, 2);
            execlp("nats-server", "nats-server", "-js", "-a", "127.0.0.1", "-p", port,
                   "-n", name, "-sd", store, "--cluster_name", "rillbench", "--cluster",
                   cluster_url, "--routes", routes, (char *)NULL);
            _exit(127);
        }
        c->pid[i] = pid;
    }
    /* Up when a JetStream request is answered and both streams exist (the
     * cluster elects its meta leader first). */
    uint64_t until = rill_clock_now_ns() + 30000000000ull;
    while (rill_clock_now_ns() < until) {
        sleep_ms(200);
        if (c->nc == NULL && connect_asap(c->urls, &c->nc) != NATS_OK)
            continue;
        if (c->js == NULL && natsConnection_JetStream(&c->js, c->nc, NULL) != NATS_OK)
            continue;
        if (add_stream(c, 1) == NATS_OK && add_stream(c, 3) == NATS_OK &&
            find_leader(c, 1) && find_leader(c, 3))
            return true;
    }
    fprintf(stderr, "bench_nats: the cluster did not come up in 30 s (is nats-server "
                    "installed? make deps)\n");
    return false;
}

static void purge(cluster *c, int replicas) {
    char name[8];
    snprintf(name, sizeof name, "R%d", replicas);
    jsErrCode jerr = 0;
    js_PurgeStream(c->js, name, NULL, &jerr);
}

/* ---- What a run measured ------------------------------------------------ */

typedef struct meter {
    uint64_t from_ns, to_ns; /* the window, by arrival time */
    atomic_uint_fast64_t bytes, buffers, corrupt;
    double *lat_ms;
    atomic_size_t n_lat;
} meter;

static void meter_init(meter *m) {
    memset(m, 0, sizeof *m);
    m->lat_ms = malloc(MAX_SAMPLES * sizeof *m->lat_ms);
}

static void meter_arm(meter *m) {
    atomic_store(&m->bytes, 0);
    atomic_store(&m->buffers, 0);
    atomic_store(&m->corrupt, 0);
    atomic_store(&m->n_lat, 0);
    m->from_ns = rill_clock_now_ns() + (uint64_t)(warm_s * 1e9);
    m->to_ns = m->from_ns + (uint64_t)(window_s * 1e9);
}

/* One delivery of `bytes` value bytes that arrived `now`, `lat_ns` after
 * it was produced; only inside the window. One thread at a time. */
static void meter_add(meter *m, uint64_t now, size_t bytes, uint64_t lat_ns) {
    if (now < m->from_ns || now >= m->to_ns)
        return;
    atomic_fetch_add(&m->bytes, bytes);
    atomic_fetch_add(&m->buffers, 1);
    size_t i = atomic_load(&m->n_lat);
    if (i < MAX_SAMPLES) {
        m->lat_ms[i] = (double)lat_ns / 1e6;
        atomic_store(&m->n_lat, i + 1);
    }
}

typedef struct result {
    double mbps, p50, p99;
    uint64_t drops;
    size_t metered, corrupt; /* whole buffers timed; buffers with wrong values */
    bool ok;
} result;

static result meter_result(meter *m) {
    result r = {0};
    size_t n = atomic_load(&m->n_lat);
    r.mbps = (double)atomic_load(&m->bytes) / window_s / 1e6;
    r.p50 = bench_percentile(m->lat_ms, n, 50);
    r.p99 = bench_percentile(m->lat_ms, n, 99);
    r.metered = n;
    r.corrupt = atomic_load(&m->corrupt);
    r.ok = n > 0 && r.corrupt == 0;
    return r;
}

/* ---- The device ------------------------------------------------------------- */

typedef struct device {
    rill_server *srv;
    rill_var *vars[MAX_VARS];
    const load *ld;
    double rate; /* ticks/s */
    uint32_t block;
    _Atomic uint64_t done_ns[SLOTS]; /* block b's ticks all set at, tagged: */
    _Atomic uint64_t tag[SLOTS];     /* b + 1 */
    pthread_t rt;
    atomic_bool stop;
    meter *m; /* its consumer's */
} device;

/* The tick thread: blocks of ticks at absolute deadlines, every variable
 * set for every tick of a block with one rill_var_set_block (as an audio
 * callback does: one set per value made the device itself a third of the
 * process's CPU in a flood, on the cores the engine needs); the moment
 * each block is complete is kept. */
static void *device_main(void *arg) {
    device *d = arg;
    const double period_ns = (double)d->block * 1e9 / d->rate;
    float *v = malloc(d->block * sizeof *v);
    uint64_t start = rill_clock_now_ns(), f = 0;
    for (uint64_t b = 0; v != NULL && !atomic_load_explicit(&d->stop, memory_order_relaxed);
         b++) {
        rill_clock_sleep_until_ns(start + (uint64_t)((double)b * period_ns));
        rill_server_tick(d->srv, f);
        for (uint32_t i = 0; i < d->block; i++)
            v[i] = (float)((f + i) & 0xFFFFFFu);
        for (uint32_t k = 0; k < d->ld->vars; k++)
            rill_var_set_block(d->vars[k], RILL_TYPE_FLOAT, v, d->block);
        f += d->block;
        /* Block b's ticks are all set: any buffer ending in it is complete
         * (microseconds after its last tick). */
        atomic_store_explicit(&d->done_ns[b % SLOTS], rill_clock_now_ns(),
                              memory_order_relaxed);
        atomic_store_explicit(&d->tag[b % SLOTS], b + 1, memory_order_release);
    }
    free(v);
    return NULL;
}

static int device_open(device *d, const load *ld, double rate) {
    memset(d, 0, sizeof *d);
    d->ld = ld;
    d->rate = rate;
    d->block = ld->flood ? ld->buf : 64;
    rill_server_config cfg = rill_server_config_default();
    cfg.port = 0;
    cfg.log_dir = "/tmp";
    cfg.sample_rate = rate;
    int rc = rill_server_create(&cfg, &d->srv);
    for (uint32_t k = 0; rc == 0 && k < ld->vars; k++) {
        char name[16];
        snprintf(name, sizeof name, "ch%u", k);
        d->vars[k] = rill_var_create(d->srv, name, RILL_TYPE_FLOAT, RILL_TS_DENSE);
        if (d->vars[k] == NULL)
            rc = RILL_ENOMEM;
    }
    if (rc == 0 && pthread_create(&d->rt, NULL, device_main, d) != 0)
        rc = RILL_ESYS;
    if (rc != 0)
        fprintf(stderr, "bench_nats: the device: %s\n", rill_strerror(rc));
    return rc;
}

static void device_close(device *d) {
    atomic_store(&d->stop, true);
    pthread_join(d->rt, NULL);
    rill_server_destroy(d->srv);
}

/* A consumer's buffer (direct or through NATS): checked, then metered
 * when it is a whole buffer whose completion the device kept. */
static void on_buffer(rill_client *cl, const rill_client_buffer *b, void *user) {
    (void)cl;
    uint64_t now = rill_clock_now_ns();
    device *d = user;
    uint32_t buf = d->ld->buf;
    if (b->type != RILL_TYPE_FLOAT || b->count == 0)
        return;
    const float *v = b->values;
    uint64_t last = b->first_ts + b->count - 1;
    if (v[0] != (float)(b->first_ts & 0xFFFFFFu) ||
        v[b->count - 1] != (float)(last & 0xFFFFFFu)) {
        atomic_fetch_add(&d->m->corrupt, 1);
        return;
    }
    /* Whole buffers, wherever they start: a stream starts at the tick the
     * device had when asked, which can be inside one of its blocks. */
    if (b->count != buf)
        return;
    uint64_t bn = last / d->block;
    if (atomic_load_explicit(&d->tag[bn % SLOTS], memory_order_acquire) != bn + 1)
        return;
    uint64_t done = atomic_load_explicit(&d->done_ns[bn % SLOTS], memory_order_relaxed);
    meter_add(d->m, now, b->count * sizeof(float), now > done ? now - done : 0);
}

static const char *const *var_names(const load *ld) {
    static char names[MAX_VARS][16];
    static const char *ptrs[MAX_VARS];
    for (uint32_t k = 0; k < ld->vars; k++) {
        snprintf(names[k], sizeof names[k], "ch%u", k);
        ptrs[k] = names[k];
    }
    return ptrs;
}

static void wait_window(const meter *m) {
    while (rill_clock_now_ns() < m->to_ns)
        sleep_ms(50);
}

/* ---- The three paths ---------------------------------------------------------- */

/* Device -> a native rill client (the latency baseline). */
static result run_direct(const load *ld, meter *m) {
    device d;
    result r = {0};
    if (device_open(&d, ld, ld->rate) != 0)
        return r;
    d.m = m;
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", rill_server_port(d.srv));
    rill_client_config cc = rill_client_config_default();
    cc.url = url;
    cc.mode = RILL_CLIENT_NATIVE;
    cc.on_buffer = on_buffer;
    cc.user = &d;
    rill_client *cl = NULL;
    rill_client_stream_opts so = {0, 0, ld->buf, 0};
    meter_arm(m);
    if (rill_client_connect(&cc, &cl) == 0 &&
        rill_client_stream_start(cl, var_names(ld), ld->vars, &so) == 0) {
        wait_window(m);
        r = meter_result(m);
    }
    rill_client_destroy(cl);
    device_close(&d);
    return r;
}

/* Device -> rill bridge -> stream R<replicas> -> rill consumer. */
static result run_bridge(cluster *c, const load *ld, int replicas, double rate, int run,
                         bool dedupe, meter *m) {
    device d;
    result r = {0};
    purge(c, replicas);
    if (device_open(&d, ld, rate) != 0)
        return r;
    d.m = m;
    char url[64], stream[8], prefix[8], bucket[8], name[16];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", rill_server_port(d.srv));
    snprintf(stream, sizeof stream, "R%d", replicas);
    snprintf(prefix, sizeof prefix, "r%d", replicas);
    snprintf(bucket, sizeof bucket, "kv%d", replicas);
    snprintf(name, sizeof name, "dev%d", run);
    rill_bridge_config bc = rill_bridge_config_default();
    bc.nats_url = c->lead_url[replicas];
    bc.stream = stream;
    bc.subject_prefix = prefix;
    bc.kv_bucket = bucket;
    bc.replicas = replicas;
    bc.dedupe = dedupe;
    rill_bridge *br = NULL;
    rill_bridge_device bd = {name, url, NULL, NULL, 0, ld->buf};
    rill_client *cl = NULL;
    rill_client_config cc = rill_client_config_default();
    cc.on_buffer = on_buffer;
    cc.user = &d;
    rill_nats_config nc = rill_nats_config_default();
    nc.nats_url = c->lead_url[replicas];
    nc.device = name;
    nc.stream = stream;
    nc.subject_prefix = prefix;
    nc.kv_bucket = bucket;
    rill_client_stream_opts so = {0, 0, 0, 0};
    int rc = rill_bridge_create(&bc, &br);
    if (rc == 0)
        rc = rill_bridge_add(br, &bd);
    if (rc == 0)
        rc = rill_nats_connect(&cc, &nc, &cl);
    meter_arm(m);
    if (rc == 0)
        rc = rill_client_stream_start(cl, var_names(ld), ld->vars, &so);
    if (rc == 0) {
        rill_bridge_stats s0, s1;
        rill_bridge_get_stats(br, &s0);
        wait_window(m);
        rill_bridge_get_stats(br, &s1);
        r = meter_result(m);
        r.drops = s1.device_drops - s0.device_drops + s1.lost - s0.lost;
        if (verbose || !r.ok) {
            rill_nats_stats ns;
            rill_nats_client_stats(cl, &ns);
            fprintf(stderr, "bench_nats: bridge published %llu acked %llu retried %llu "
                    "lost %llu pending %llu; consumer messages %llu gaps %llu reordered "
                    "%llu bad %llu\n",
                    (unsigned long long)s1.published, (unsigned long long)s1.acked,
                    (unsigned long long)s1.retried, (unsigned long long)s1.lost,
                    (unsigned long long)s1.pending, (unsigned long long)ns.messages,
                    (unsigned long long)ns.gaps, (unsigned long long)ns.reordered,
                    (unsigned long long)ns.bad_messages);
        }
    } else {
        fprintf(stderr, "bench_nats: bridge run: %s\n", rill_strerror(rc));
    }
    rill_client_destroy(cl);
    rill_bridge_destroy(br);
    device_close(&d);
    return r;
}

/* The engine's ceiling: the bridge's message sizes published straight
 * from libnats (async acks), read by an ordered JetStream consumer. */
typedef struct plain {
    cluster *c;
    const load *ld;
    int replicas;
    meter *m;
    atomic_bool stop;
    natsSubscription *sub;
} plain;

static void *plain_consume(void *arg) {
    plain *p = arg;
    size_t values = p->ld->buf * sizeof(float);
    while (!atomic_load(&p->stop)) {
        natsMsg *msg = NULL;
        if (natsSubscription_NextMsg(&msg, p->sub, 50) != NATS_OK)
            continue;
        uint64_t now = rill_clock_now_ns(), sent = 0;
        if (natsMsg_GetDataLength(msg) == (int)(HEADER + values)) {
            memcpy(&sent, natsMsg_GetData(msg), sizeof sent);
            meter_add(p->m, now, values, now - sent);
        } else {
            atomic_fetch_add(&p->m->corrupt, 1);
        }
        natsMsg_Destroy(msg);
    }
    return NULL;
}

/* `headers`: the same messages with the headers the bridge sets (a unique
 * Nats-Msg-Id, which JetStream checks for duplicates, and Rill), to
 * tell the engine's cost of rill's format from the bridge's own. */
static result run_plain(cluster *c, const load *ld, int replicas, bool headers, meter *m) {
    result r = {0};
    purge(c, replicas);
    plain p = {c, ld, replicas, m, false, NULL};
    /* Each run's message ids are new: JetStream keeps the ids it saw for
     * its duplicate window across purges, and a repeat's ids equal to an
     * earlier run's were dropped as duplicates (an R3 row of 0 MB/s). */
    static unsigned plain_run;
    plain_run++;
    char filter[32];
    snprintf(filter, sizeof filter, "r%d.plain.>", replicas);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverNew;
    jsErrCode jerr = 0;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 4096; /* the bridge's default */
    jsCtx *js = NULL;
    pthread_t thr;
    if (natsConnection_JetStream(&js, c->lead_nc[replicas], &jo) != NATS_OK ||
        js_SubscribeSync(&p.sub, js, filter, NULL, &so, &jerr) != NATS_OK ||
        natsSubscription_SetPendingLimits(p.sub, 1 << 20, 1 << 30) != NATS_OK ||
        pthread_create(&thr, NULL, plain_consume, &p) != 0) {
        fprintf(stderr, "bench_nats: plain consumer: %s\n", nats_GetLastError(NULL));
        natsSubscription_Destroy(p.sub);
        jsCtx_Destroy(js);
        return r;
    }
    size_t len = HEADER + ld->buf * sizeof(float);
    char *payload = calloc(1, len);
    char subj[MAX_VARS][32];
    for (uint32_t k = 0; k < ld->vars; k++)
        snprintf(subj[k], sizeof subj[k], "r%d.plain.ch%u", replicas, k);
    meter_arm(m);
    /* Paced: one message per variable per buffer, at the device's pace;
     * flood: as fast as the acknowledgements allow. */
    double period_ns = ld->flood ? 0 : (double)ld->buf * 1e9 / ld->rate;
    uint64_t start = rill_clock_now_ns();
    for (uint64_t b = 0; rill_clock_now_ns() < m->to_ns; b++) {
        if (!ld->flood)
            rill_clock_sleep_until_ns(start + (uint64_t)((double)b * period_ns));
        for (uint32_t k = 0; k < ld->vars; k++) {
            uint64_t now = rill_clock_now_ns();
            memcpy(payload, &now, sizeof now);
            natsMsg *msg = NULL;
            if (natsMsg_Create(&msg, subj[k], NULL, payload, (int)len) != NATS_OK)
                continue;
            if (headers) {
                char id[96];
                snprintf(id, sizeof id, "plain.ch%u.%016x.%llu", k, plain_run,
                         (unsigned long long)b);
                natsMsgHeader_Set(msg, "Nats-Msg-Id", id);
                natsMsgHeader_Set(msg, "Rill",
                                  "0123456789abcdef f dense 48000 123456789 "
                                  "1765000000123456789 20833.3333333 1234 40");
            }
            if (js_PublishMsgAsync(js, &msg, NULL) != NATS_OK)
                natsMsg_Destroy(msg);
        }
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 10000;
    js_PublishAsyncComplete(js, &po);
    atomic_store(&p.stop, true);
    pthread_join(thr, NULL);
    r = meter_result(m);
    free(payload);
    natsSubscription_Unsubscribe(p.sub);
    natsSubscription_Destroy(p.sub);
    jsCtx_Destroy(js);
    return r;
}

/* ---- Rows ------------------------------------------------------------------------- */

static double med(double *v, int n) { return bench_median(v, (size_t)n); }

static void report(const char *name, double v, const char *unit, const char *base,
                   double bv, const char *target, int met) {
    bench_report(&(bench_row){SUITE, name, v, unit, base, bv, bv != 0 ? v / bv : 0,
                              target, met});
}

static void print_load(const char *when) {
    double l[3];
    if (getloadavg(l, 3) == 3)
        printf("bench_nats: load average %s: %.2f %.2f %.2f on %ld cores\n", when, l[0],
               l[1], l[2], sysconf(_SC_NPROCESSORS_ONLN));
}

/* Repeats of one load at one replication factor, reported as medians. */
static bool bench_load(cluster *c, const load *ld, int replicas, meter *m, int *run) {
    double pm[8], pp50[8], pp99[8], bm[8], bp50[8], bp99[8], dp50[8], dp99[8], hm[8];
    double nm[8]; /* the bridge without Nats-Msg-Id (--no-dedupe) */
    uint64_t drops = 0;
    for (int i = 0; i < reps; i++) {
        result pl = run_plain(c, ld, replicas, false, m);
        result ph = {0};
        if (ld->flood)
            ph = run_plain(c, ld, replicas, true, m);
        /* A flood offers more than the engine took just now. */
        double rate = ld->flood ? 1.25 * pl.mbps * 1e6 / (ld->vars * sizeof(float))
                                : ld->rate;
        result br = run_bridge(c, ld, replicas, rate, (*run)++, true, m);
        result bn = {.ok = true};
        if (ld->flood)
            bn = run_bridge(c, ld, replicas, rate, (*run)++, false, m);
        result dr = {0};
        if (!ld->flood)
            dr = run_direct(ld, m);
        if (verbose)
            fprintf(stderr, "bench_nats: %s R%d #%d: plain %.3g MB/s %.3g/%.3g ms (with "
                    "headers %.3g MB/s), bridge %.3g MB/s %.3g/%.3g ms (%llu dropped), "
                    "direct %.3g/%.3g ms\n",
                    ld->name, replicas, i + 1, pl.mbps, pl.p50, pl.p99, ph.mbps, br.mbps,
                    br.p50, br.p99, (unsigned long long)br.drops, dr.p50, dr.p99);
        if (!pl.ok || !br.ok || !bn.ok || (!ld->flood && !dr.ok)) {
            bench_row_failed(ld->name, "R%d repeat %d: nothing measured or wrong values "
                             "(buffers timed/wrong: plain %zu/%zu, bridge %zu/%zu, "
                             "--no-dedupe %zu/%zu, direct %zu/%zu)", replicas, i + 1,
                             pl.metered, pl.corrupt, br.metered, br.corrupt, bn.metered,
                             bn.corrupt, dr.metered, dr.corrupt);
            return false;
        }
        pm[i] = pl.mbps, pp50[i] = pl.p50, pp99[i] = pl.p99, hm[i] = ph.mbps;
        nm[i] = bn.mbps;
        bm[i] = br.mbps, bp50[i] = br.p50, bp99[i] = br.p99;
        dp50[i] = dr.p50, dp99[i] = dr.p99;
        drops += br.drops;
    }
    char name[96];
    double b_mbps = med(bm, reps), p_mbps = med(pm, reps);
    snprintf(name, sizeof name, "%s R%d: MB/s", ld->name, replicas);
    report(name, b_mbps, "MB/s", "plain JetStream", p_mbps, ">= 0.7x plain",
           b_mbps >= 0.7 * p_mbps);
    if (!ld->flood) {
        double p99 = med(bp99, reps), d99 = med(dp99, reps);
        snprintf(name, sizeof name, "%s R%d: latency p50", ld->name, replicas);
        report(name, med(bp50, reps), "ms", "direct rill", med(dp50, reps), NULL, -1);
        snprintf(name, sizeof name, "%s R%d: latency p99", ld->name, replicas);
        report(name, p99, "ms", "direct rill", d99, replicas == 1 ? "<= direct + 2 ms" : NULL,
               replicas == 1 ? p99 - d99 <= 2.0 : -1);
        /* The engine's own share: its latency at the same rate, against
         * the same direct connection. */
        snprintf(name, sizeof name, "%s R%d: latency p99, plain JetStream", ld->name,
                 replicas);
        report(name, med(pp99, reps), "ms", "direct rill", d99, NULL, -1);
        printf("  (plain JetStream at the same rate: p50 %.3g ms; device drops and lost "
               "messages through the bridge: %llu)\n",
               med(pp50, reps), (unsigned long long)drops);
    } else {
        snprintf(name, sizeof name, "%s R%d: MB/s, plain + rill headers", ld->name,
                 replicas);
        report(name, med(hm, reps), "MB/s", "plain JetStream", p_mbps, NULL, -1);
        /* Nats-Msg-Id is what costs the engine (the row above): the
         * bridge without it. */
        snprintf(name, sizeof name, "%s R%d: MB/s, rill bridge --no-dedupe", ld->name,
                 replicas);
        double n_mbps = med(nm, reps);
        report(name, n_mbps, "MB/s", "plain JetStream", p_mbps, ">= 0.7x plain",
               n_mbps >= 0.7 * p_mbps);
        snprintf(name, sizeof name, "%s R%d: latency p50", ld->name, replicas);
        report(name, med(bp50, reps), "ms", "plain JetStream", med(pp50, reps), NULL, -1);
        snprintf(name, sizeof name, "%s R%d: latency p99", ld->name, replicas);
        report(name, med(bp99, reps), "ms", "plain JetStream", med(pp99, reps), NULL, -1);
        printf("  (buffers the device dropped for the bridge, offered 1.25x the "
               "ceiling: %llu)\n", (unsigned long long)drops);
    }
    return true;
}

static double env_num(const char *name, double def, double lo, double hi) {
    const char *s = getenv(name);
    double v = s != NULL && *s ? strtod(s, NULL) : def;
    return v < lo ? lo : v > hi ? hi : v;
}

int main(void) {
    bench_set_name("bench_nats");
    /* Errors only: a flood's device drops are counted, not each said. */
    rill_set_log_callback(bench_log, RILL_LOG_ERROR, NULL);
    verbose = getenv("RILL_BENCH_NATS_VERBOSE") != NULL;
    const char *only_r = getenv("RILL_BENCH_NATS_REPLICAS");
    const char *only_l = getenv("RILL_BENCH_NATS_LOADS");
    signal(SIGPIPE, SIG_IGN);
    window_s = env_num("RILL_BENCH_NATS_S", 3, 0.5, 60);
    reps = (int)env_num("RILL_BENCH_NATS_REPS", 3, 1, 8);
    if (!enter_namespace())
        return 0;
    print_load("at start");
    bench_header("NATS JetStream: device -> bridge -> stream -> consumer");
    cluster c;
    bool ok = cluster_start(&c);
    meter m;
    meter_init(&m);
    int run = 0;
    for (int r = 1; ok && r <= 3; r += 2)
        for (size_t i = 0; i < sizeof LOADS / sizeof LOADS[0]; i++) {
            char rs[4];
            snprintf(rs, sizeof rs, "%d", r);
            if ((only_r != NULL && strstr(only_r, rs) == NULL) ||
                (only_l != NULL && strstr(only_l, LOADS[i].flood ? "flood" : "paced") == NULL))
                continue;
            bench_load(&c, &LOADS[i], r, &m, &run);
        }
    if (!ok)
        bench_row_failed("cluster", "no JetStream cluster");
    cluster_stop(&c);
    free(m.lat_ms);
    print_load("at end");
    return bench_failed() ? 1 : 0;
}
