/* Which names a user directory shown to the dashboard may serve
 * (src/watch/webdir.c): plain file names with a listed extension, nothing
 * that could name a path. The file-system side (links leading out, real
 * paths) is tested against a real rill serve in tests/e2e/test_web_dirs.py. */
#include "test.h"
#include "server/webdir.h"

static const char *const js[] = {".js", ".mjs", NULL};

TEST(plain_names_with_a_listed_extension_are_served) {
    ASSERT_TRUE(rill__webdir_name_ok("needle.js", js));
    ASSERT_TRUE(rill__webdir_name_ok("My-Handler_2.mjs", js));
    ASSERT_TRUE(rill__webdir_name_ok("a.b.js", js));
}

TEST(anything_that_could_name_a_path_or_another_file_is_refused) {
    static const char *const bad[] = {
        "",          ".js",        ".hidden.js", "../x.js",  "a/b.js",
        "a\\b.js",   "x.js/",      "x.json",     "x.jsx",    "js",
        "x.js\n",    "x .js",      "x%2e.js",    "~x.js",    "x.js?y",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (rill__webdir_name_ok(bad[i], js))
            FAIL("\"%s\" was accepted", bad[i]);
    char long_name[300];
    memset(long_name, 'a', sizeof long_name);
    strcpy(long_name + 250, ".js");
    ASSERT_TRUE(!rill__webdir_name_ok(long_name, js));
}
