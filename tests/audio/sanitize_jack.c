/* Linked into the suites that run JACK clients; sanitizer defaults for
 * what libjack (and ALSA's jack PCM plugin) do, not rill. The runtimes
 * call these if they exist.
 *
 * ThreadSanitizer: libjack starts a thread of its own in jack_client_open
 * that ends without being joined, reported as a "thread leak" at exit.
 * rill's own threads are all joined (the suites without JACK keep the
 * check). The jack PCM plugin (libasound_module_pcm_jack.so) drains its
 * wake-up socket into one static scratch buffer shared by all its PCMs,
 * which a playback and a capture PCM in two threads both write: harmless
 * (the bytes are thrown away) and suppressed.
 *
 * LeakSanitizer: libjack's metadata API opens a Berkeley DB (libdb) whose
 * allocations are never freed. Only that library is exempt.
 *
 * Exported explicitly: under the build's -fvisibility=hidden a plain
 * definition stays hidden in the executable, and the sanitizer runtime (a
 * shared library) never finds it. */
#define RILL_SANITIZER_HOOK __attribute__((visibility("default"))) const char *

#if defined(__SANITIZE_THREAD__)
RILL_SANITIZER_HOOK __tsan_default_options(void);
const char *__tsan_default_options(void) { return "report_thread_leaks=0"; }
RILL_SANITIZER_HOOK __tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void) {
    return "race:libasound_module_pcm_jack.so\n";
}
#endif
#if defined(__SANITIZE_ADDRESS__)
RILL_SANITIZER_HOOK __lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libdb-5.3.so\n"; }
#endif
/* ISO C forbids an empty translation unit. */
typedef int rill_sanitize_jack_unused;
