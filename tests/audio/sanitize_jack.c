/* Linked into the suites that run JACK clients. libjack starts a thread of
 * its own in jack_client_open that ends without being joined (inside
 * libjack, not rill), which ThreadSanitizer reports as a "thread leak" at
 * exit. rill's own threads are all joined (the suites without JACK keep
 * the check). Only under TSan; the runtime calls this for its defaults. */
#if defined(__SANITIZE_THREAD__)
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) { return "report_thread_leaks=0"; }
#else
/* ISO C forbids an empty translation unit. */
typedef int rill_tsan_jack_unused;
#endif
