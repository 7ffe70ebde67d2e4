/* The unmasked-frame guard (wsguard.h).
 *
 * RFC 6455 5.1: "a server MUST close the connection upon receiving a frame
 * that is not masked" (masking keeps a script's chosen bytes from reaching
 * a proxy in the clear; browsers always mask). libwebsockets 4.1.6, the
 * version Debian 12 packages, reads the mask bit into a private field and
 * unmasks with a zero key when it is clear: the callback cannot tell.
 * Upstream refuses such frames since commit cae06c63a, in no Debian
 * release. What was weighed, and why this way (docs/SECURITY.md too):
 *
 * - lws offers no hook that sees a frame header: extensions see payload
 *   only, and only when the client negotiates one; there is no option;
 *   rx flow control says nothing about frames.
 * - Peeking at a socket in rill's own poll loop before lws reads it cannot
 *   be exact: lws reads as much as is there, so at the upgrade nobody
 *   knows where its request ended and the first frame began (lws's header
 *   parser also takes bare LF line ends), and net_main runs lws_service,
 *   not a loop of rill's.
 * - So rill takes lws's calls to recv() and close(): their slots in
 *   libwebsockets.so's own global offset table point here (for the whole
 *   process, once). That works whether rill is linked statically or
 *   dynamically or loaded by Python's ctypes (RTLD_LOCAL, where a recv
 *   symbol of rill's own would never be seen by lws), and it touches only
 *   descriptors a rill server accepted: every other call goes straight to
 *   recv/close.
 *
 * For each accepted connection the guard keeps a small state:
 *   HTTP  before the upgrade. Each read is cut (peek, then read that much)
 *         just after the first byte that can end a header block: LF after
 *         LF, or LF after CR LF, a superset of what lws's parser ends a
 *         block on. So lws never holds bytes beyond a request's end, and
 *         when ESTABLISHED comes, its read ended exactly at the upgrade
 *         request's end: the next byte is the first frame's first byte.
 *         If that read did not end on such a byte the boundary is unknown:
 *         the connection is refused (a client sending before the 101 broke
 *         RFC 6455 4.1 anyway).
 *   WS    a frame header parser over everything lws reads: byte 0, byte 1
 *         (the mask bit), the 16- or 64-bit length, the 4-byte key, then
 *         the payload skipped by count. A header without the bit: lws gets
 *         the bytes before that frame (earlier frames are answered), the
 *         close reason 1002, and then an error for every read; the reading
 *         side is shut so lws's wait for a close answer ends at once.
 *   PASS  a WebSocket inside HTTP/2 (RFC 8441 frames are not masked).
 *
 * Cost: one lookup per lws read; before the upgrade a second system call
 * per read (the peek). Nothing on the tick path; the data path's writes
 * are untouched.
 *
 * Threads: a descriptor's state is used by the network thread of the
 * server that accepted it; the table is shared by every server of the
 * process, hence the atomics on its chunks and on `used`. */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/internal.h"
#include "server/wsguard.h"

#if __ELF_NATIVE_CLASS == 64
#define GUARD_R_SYM(info) ELF64_R_SYM(info)
#else
#define GUARD_R_SYM(info) ELF32_R_SYM(info)
#endif

enum { MODE_HTTP, MODE_WS, MODE_PASS, MODE_BAD, MODE_CLOSING };
enum { F_B0, F_B1, F_LEN, F_KEY, F_PAY };

typedef struct guard {
    atomic_bool used; /* a rill server accepted this descriptor */
    uint8_t mode;
    uint8_t st;      /* frame header state (MODE_WS) */
    uint8_t need;    /* length or key bytes still to come */
    uint8_t tail[2]; /* the last two bytes read (MODE_HTTP) */
    bool at_end;     /* the last read ended a header block (MODE_HTTP) */
    uint64_t left;   /* payload bytes still to come (MODE_WS) */
    struct lws *wsi;
} guard;

/* Indexed by descriptor, in chunks allocated on first use and kept for the
 * life of the process (they outlive every server, so they come from libc,
 * not from rill's replaceable allocator). Descriptors below 4 Mi. */
#define GUARD_CHUNK 256
#define GUARD_CHUNKS 16384
static _Atomic(guard *) chunks[GUARD_CHUNKS];

static guard *find(int fd, bool create) {
    if (fd < 0 || fd / GUARD_CHUNK >= GUARD_CHUNKS)
        return NULL;
    _Atomic(guard *) *pc = &chunks[fd / GUARD_CHUNK];
    /* acquire: pairs with the release of the thread that installed it */
    guard *c = atomic_load_explicit(pc, memory_order_acquire);
    if (c == NULL && create) {
        guard *fresh = calloc(GUARD_CHUNK, sizeof *fresh);
        if (fresh == NULL)
            return NULL;
        if (atomic_compare_exchange_strong(pc, &c, fresh))
            c = fresh;
        else
            free(fresh); /* another server's thread won; c is its chunk */
    }
    return c != NULL ? &c[fd % GUARD_CHUNK] : NULL;
}

static guard *watched(int fd) {
    guard *g = find(fd, false);
    /* acquire: the accepting call's writes happened on this thread, or
     * (descriptor reused) the old owner's close released them */
    return g != NULL && atomic_load_explicit(&g->used, memory_order_acquire)
               ? g
               : NULL;
}

/* ---- Before the upgrade -------------------------------------------- */

static bool ends_block(const uint8_t tail[2], uint8_t c) {
    return c == '\n' &&
           (tail[1] == '\n' || (tail[1] == '\r' && tail[0] == '\n'));
}

static ssize_t read_http(guard *g, int fd, uint8_t *buf, size_t len) {
    ssize_t n = recv(fd, buf, len, MSG_PEEK);
    if (n <= 0)
        return n;
    size_t take = (size_t)n;
    uint8_t t[2] = {g->tail[0], g->tail[1]};
    for (size_t i = 0; i < (size_t)n; i++) {
        if (ends_block(t, buf[i])) {
            take = i + 1;
            break;
        }
        t[0] = t[1];
        t[1] = buf[i];
    }
    n = recv(fd, buf, take, 0);
    for (ssize_t i = 0; i < n; i++) {
        g->at_end = ends_block(g->tail, buf[i]);
        g->tail[0] = g->tail[1];
        g->tail[1] = buf[i];
    }
    return n;
}

/* ---- After it ------------------------------------------------------- */

/* Runs the frame header parser over n bytes. Returns n if every header in
 * them is masked; else how many bytes precede the first unmasked frame
 * (0 when its first byte came in an earlier read). */
static size_t check_frames(guard *g, const uint8_t *p, size_t n) {
    size_t i = 0, start = 0;
    while (i < n) {
        switch (g->st) {
        case F_B0:
            start = i++;
            g->st = F_B1;
            break;
        case F_B1: {
            uint8_t c = p[i++];
            if (!(c & 0x80))
                return start;
            uint8_t len7 = c & 0x7f;
            if (len7 >= 126) {
                g->left = 0;
                g->need = len7 == 126 ? 2 : 8;
                g->st = F_LEN;
            } else {
                g->left = len7;
                g->need = 4;
                g->st = F_KEY;
            }
            break;
        }
        case F_LEN:
            g->left = g->left << 8 | p[i++];
            if (--g->need == 0) {
                g->need = 4;
                g->st = F_KEY;
            }
            break;
        case F_KEY: {
            size_t k = n - i < g->need ? n - i : g->need;
            i += k;
            g->need = (uint8_t)(g->need - k);
            if (g->need == 0)
                g->st = g->left != 0 ? F_PAY : F_B0;
            break;
        }
        case F_PAY: {
            uint64_t k = n - i < g->left ? n - i : g->left;
            i += (size_t)k;
            g->left -= k;
            if (g->left == 0)
                g->st = F_B0;
            break;
        }
        }
    }
    return n;
}

static ssize_t read_ws(guard *g, int fd, uint8_t *buf, size_t len) {
    ssize_t n = recv(fd, buf, len, 0);
    if (n <= 0)
        return n;
    size_t ok = check_frames(g, buf, (size_t)n);
    if (ok == (size_t)n)
        return n;
    char peer[64] = "";
    lws_get_peer_simple(g->wsi, peer, sizeof peer);
    rill__log_warn("closing the connection from %s: it sent a frame that is "
                   "not masked (RFC 6455 5.1: clients must mask every "
                   "frame; close code 1002)",
                   peer);
    static const char why[] = "frame not masked";
    lws_close_reason(g->wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR,
                     (unsigned char *)why, sizeof why - 1);
    /* lws closes politely (a close frame with that reason) only when a
     * callback returns -1, never on a read error: from here what comes is
     * read and dropped, and the writable callback closes the connection
     * once the replies to the frames before this one are out
     * (rill__wsguard_refused). The timeout ends a client that never
     * reads. */
    g->mode = MODE_BAD;
    lws_callback_on_writable(g->wsi);
    lws_set_timeout(g->wsi, PENDING_TIMEOUT_USER_OK, 5);
    if (ok > 0)
        return (ssize_t)ok;
    errno = EAGAIN;
    return -1;
}

bool rill__wsguard_refused(struct lws *wsi) {
    guard *g = watched(lws_get_socket_fd(wsi));
    if (g == NULL || g->mode != MODE_BAD)
        return false;
    /* From here every read fails, and the reading side is shut so one
     * comes at once: lws does not wait 5 s for an answer to its close
     * frame that it would not read anyway. */
    g->mode = MODE_CLOSING;
    shutdown(lws_get_socket_fd(wsi), SHUT_RD);
    return true;
}

/* ---- lws's calls ---------------------------------------------------- */

static ssize_t guarded_recv(int fd, void *buf, size_t len, int flags) {
    guard *g = flags == 0 ? watched(fd) : NULL;
    if (g == NULL)
        return recv(fd, buf, len, flags);
    switch (g->mode) {
    case MODE_HTTP:
        return read_http(g, fd, buf, len);
    case MODE_WS:
        return read_ws(g, fd, buf, len);
    case MODE_BAD: { /* until the close: taken, not given to lws */
        ssize_t n = recv(fd, buf, len, flags);
        if (n <= 0)
            return n;
        errno = EAGAIN;
        return -1;
    }
    case MODE_CLOSING:
        errno = ECONNRESET;
        return -1;
    default:
        return recv(fd, buf, len, flags);
    }
}

static int guarded_close(int fd) {
    guard *g = find(fd, false);
    /* release: whoever is given this number next sees our writes done */
    if (g != NULL)
        atomic_store_explicit(&g->used, false, memory_order_release);
    return close(fd);
}

/* ---- Installing ----------------------------------------------------- */

/* glibc has already relocated most d_ptr values of a loaded object;
 * some ports leave them as offsets. */
static uintptr_t dyn_addr(const struct link_map *lm, uintptr_t p) {
    return p < lm->l_addr ? p + lm->l_addr : p;
}

typedef struct relro_find {
    const struct link_map *lm;
    uintptr_t slot;
    bool in;
} relro_find;

static int relro_cb(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    relro_find *f = arg;
    if (info->dlpi_addr != f->lm->l_addr ||
        strcmp(info->dlpi_name, f->lm->l_name) != 0)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_GNU_RELRO && f->slot >= a &&
            f->slot < a + ph->p_memsz)
            f->in = true;
    }
    return 1;
}

/* Points one slot of lm's global offset table at fn. With RELRO (Debian
 * links with -z relro -z now) the page is read-only after loading: it is
 * made writable for the store and read-only again. */
static int patch(const struct link_map *lm, void **slot, void *fn) {
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0)
        return -1;
    void *page = (void *)((uintptr_t)slot & ~((uintptr_t)pg - 1));
    relro_find f = {lm, (uintptr_t)slot, false};
    dl_iterate_phdr(relro_cb, &f);
    if (f.in && mprotect(page, (size_t)pg, PROT_READ | PROT_WRITE) != 0)
        return -1;
    /* Other threads may be calling through the slot: one aligned store. */
    __atomic_store_n(slot, fn, __ATOMIC_SEQ_CST);
    if (f.in)
        mprotect(page, (size_t)pg, PROT_READ);
    return 0;
}

static int hook_lws(void) {
    Dl_info di;
    struct link_map *lws = NULL, *self = NULL;
    void *(*create)(const struct lws_context_creation_info *) =
        (void *(*)(const struct lws_context_creation_info *))lws_create_context;
    void *create_addr, *self_addr;
    int (*me)(void) = hook_lws;
    memcpy(&create_addr, &create, sizeof create_addr);
    memcpy(&self_addr, &me, sizeof self_addr);
    if (!dladdr1(create_addr, &di, (void **)&lws, RTLD_DL_LINKMAP) ||
        lws == NULL)
        return RILL_ENOTSUP;
    /* lws linked into the same object as rill: its recv slot is rill's
     * too, and the guard would call itself. */
    if (dladdr1(self_addr, &di, (void **)&self, RTLD_DL_LINKMAP) && self == lws)
        return RILL_ENOTSUP;

    uintptr_t strtab = 0, symtab = 0, jmprel = 0;
    size_t pltrelsz = 0;
    ElfW(Sxword) pltrel = 0;
    for (const ElfW(Dyn) *d = lws->l_ld; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_STRTAB:
            strtab = dyn_addr(lws, d->d_un.d_ptr);
            break;
        case DT_SYMTAB:
            symtab = dyn_addr(lws, d->d_un.d_ptr);
            break;
        case DT_JMPREL:
            jmprel = dyn_addr(lws, d->d_un.d_ptr);
            break;
        case DT_PLTRELSZ:
            pltrelsz = d->d_un.d_val;
            break;
        case DT_PLTREL:
            pltrel = (ElfW(Sxword))d->d_un.d_val;
            break;
        default:
            break;
        }
    }
    if (strtab == 0 || symtab == 0 || jmprel == 0)
        return RILL_ENOTSUP;
    size_t relsz = pltrel == DT_RELA ? sizeof(ElfW(Rela)) : sizeof(ElfW(Rel));
    void **recv_slot = NULL, **close_slot = NULL;
    for (size_t off = 0; off + relsz <= pltrelsz; off += relsz) {
        /* Rel and Rela begin alike: r_offset, r_info. */
        const ElfW(Rel) *r = (const ElfW(Rel) *)(jmprel + off);
        const ElfW(Sym) *sym =
            (const ElfW(Sym) *)symtab + GUARD_R_SYM(r->r_info);
        const char *name = (const char *)strtab + sym->st_name;
        void **slot = (void **)(lws->l_addr + r->r_offset);
        if (strcmp(name, "recv") == 0)
            recv_slot = slot;
        else if (strcmp(name, "close") == 0)
            close_slot = slot;
    }
    if (recv_slot == NULL || close_slot == NULL)
        return RILL_ENOTSUP;
    ssize_t (*r)(int, void *, size_t, int) = guarded_recv;
    int (*c)(int) = guarded_close;
    void *rp, *cp;
    memcpy(&rp, &r, sizeof rp);
    memcpy(&cp, &c, sizeof cp);
    /* lws's table will point into this object: it must never be
     * unloaded (a dlclose of librill.so would leave lws calling freed
     * code). Pinned first; the program itself (name "") never goes. */
    if (self != NULL && self->l_name != NULL && self->l_name[0] != '\0' &&
        dlopen(self->l_name, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) == NULL)
        return RILL_ENOTSUP;
    /* close first: from the moment reads are watched, closes forget. */
    if (patch(lws, close_slot, cp) != 0 || patch(lws, recv_slot, rp) != 0)
        return RILL_ENOTSUP;
    return 0;
}

static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_rc = RILL_ENOTSUP;
static atomic_bool installed;

static void install(void) {
    install_rc = hook_lws();
    atomic_store(&installed, install_rc == 0);
}

int rill__wsguard_install(void) {
    pthread_once(&install_once, install);
    return install_rc;
}

bool rill__wsguard_accept(int fd) {
    if (!atomic_load(&installed))
        return true;
    guard *g = find(fd, true);
    if (g == NULL) {
        rill__log_error("refusing a connection: no memory to watch its "
                        "frames, or descriptor %d is beyond the guard's "
                        "table",
                        fd);
        return false;
    }
    /* acq_rel: take the previous owner's writes (its close released
     * them) before ours. */
    atomic_exchange_explicit(&g->used, false, memory_order_acq_rel);
    g->mode = MODE_HTTP;
    g->st = F_B0;
    g->need = 0;
    g->tail[0] = g->tail[1] = 0;
    g->at_end = false;
    g->left = 0;
    g->wsi = NULL;
    atomic_store_explicit(&g->used, true, memory_order_release);
    return true;
}

bool rill__wsguard_established(struct lws *wsi) {
    if (!atomic_load(&installed))
        return true;
    guard *g = watched(lws_get_socket_fd(wsi));
    if (lws_get_network_wsi(wsi) != wsi) {
        if (g != NULL)
            g->mode = MODE_PASS;
        return true;
    }
    if (g != NULL && g->mode == MODE_HTTP && g->at_end) {
        g->mode = MODE_WS;
        g->st = F_B0;
        g->wsi = wsi;
        return true;
    }
    char peer[64] = "";
    lws_get_peer_simple(wsi, peer, sizeof peer);
    rill__log_warn("refusing the WebSocket from %s: %s", peer,
                   g == NULL ? "its connection is not watched for unmasked "
                               "frames"
                             : "it sent bytes behind its upgrade request "
                               "before the answer (RFC 6455 4.1), so where "
                               "its first frame begins is not known");
    static const char why[] = "data before the handshake's answer";
    lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, (unsigned char *)why,
                     sizeof why - 1);
    return false;
}
