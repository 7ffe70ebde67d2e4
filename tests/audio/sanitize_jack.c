/* Linked into the suites that run JACK clients; sanitizer defaults for
 * what libjack does, not rill. The runtimes call these if they exist.
 *
 * ThreadSanitizer: libjack starts a thread of its own in jack_client_open
 * that ends without being joined, reported as a "thread leak" at exit.
 * rill's own threads are all joined (the suites without JACK keep the
 * check).
 *
 * LeakSanitizer: libjack's metadata API opens a Berkeley DB (libdb) whose
 * allocations are never freed. Only that library is exempt. */
#if defined(__SANITIZE_THREAD__)
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) { return "report_thread_leaks=0"; }
#endif
#if defined(__SANITIZE_ADDRESS__)
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libdb-5.3.so\n"; }
#endif
/* ISO C forbids an empty translation unit. */
typedef int rill_sanitize_jack_unused;
