#!/bin/sh
# Run every test suite against one build directory and end with one summary
# line, "N passed, N failed, N skipped", counted over all suites:
#   - the C suites, through ctest (extra arguments go to ctest);
#   - the end-to-end suite (tests/e2e, and tests/netem: the emulated
#     link for bad-network tests; pytest with Debian's python3)
#     against that build's own `rill` binary, so a sanitizer build runs the
#     real server under its sanitizer. Set RILL_NO_E2E=1 to skip it;
#   - the Python package's suite (python/tests, pytest with Debian's
#     python3) on that build's librill.so and `rill serve`, and the real
#     pybela's suites (tests/pybela). Set RILL_NO_PYTHON=1 to skip them;
#   - the dashboard's unit tests (web/, Vitest) and its browser tests
#     (tests/web, node:test driving headless Chromium against that build's
#     `rill serve`). Set RILL_NO_WEB=1 to skip them.
#   scripts/test.sh BUILD_DIR [ctest args...]
#
# Nothing can pass by not running. A suite's exit status counts as well as
# its own tally: a runner that exits non-zero with no failure counted (a
# failing `after` hook, a server that exits badly, a collection error) is a
# failure. node:test's cancelled tests (a `before` hook that failed or timed
# out) are failures. A suite that is not run (asked to skip, or that cannot
# run on this build) adds its tests to "skipped" and says why; a missing
# bin/rill is a failure, not a reason to skip. Each of these is said again
# just above the summary line.
#
# The summary's "skipped" also counts tests that skipped themselves (ctest's
# exit code 77, pytest.skip), each saying why in the log.
set -u
build=$1
shift
log=$(mktemp)
rcfile=$(mktemp)
trap 'rm -f "$log" "$rcfile"' EXIT
passed=0
failed=0
skipped=0
said=""

# A line for the log now and again above the summary.
say() {
    echo "test.sh: $*"
    said="$said
test.sh: $*"
}

# A suite that does not run: its size goes to "skipped", with the reason.
skip_suite() { # name count reason
    case $2 in
    '' | *[!0-9]*) say "SKIPPED $1 (tests not counted: its runner could not list them): $3" ;;
    *) skipped=$((skipped + $2)) && say "SKIPPED $1 ($2 tests): $3" ;;
    esac
}

# Run a command with its output in $log and on the terminal; its exit
# status in $rc.
run() {
    { "$@"; echo $? > "$rcfile"; } 2>&1 | tee "$log"
    rc=$(cat "$rcfile")
}

# A runner that exited non-zero although its tally says nothing failed.
check_rc() { # name failures-counted
    if [ "$rc" -ne 0 ] && [ "$2" -eq 0 ]; then
        failed=$((failed + 1))
        say "FAILED $1: exited with status $rc but counted no failure (see its output above)"
    fi
}

# Add a pytest run's counts (its log in $log) to the totals. pytest's last
# line: "3 failed, 78 passed, 2 skipped, 1 error in 40.1s" (any order, any
# subset); none at all counts as a failure. xfail/xpass count as skipped and
# failed (there are none today; an xpass means a fixed bug's marker stays).
count_pytest() {
    last=$(grep -E '[0-9]+ (passed|failed|skipped|errors?|xfailed|xpassed)' "$log" | tail -n 1)
    num() { echo "$last" | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' || echo 0; }
    p=$(num passed)
    f=$(num failed)
    e=$(num 'errors?')
    k=$(num skipped)
    xf=$(num xfailed)
    xp=$(num xpassed)
    if [ -z "$last" ]; then
        say "FAILED $1: pytest printed no summary"
        f=1
    fi
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0} + ${e:-0} + ${xp:-0}))
    skipped=$((skipped + ${k:-0} + ${xf:-0}))
    [ $((${f:-0} + ${e:-0} + ${xp:-0})) -ne 0 ] && [ -n "$last" ] &&
        say "FAILED $1: $last"
    check_rc "$1" $((${f:-0} + ${e:-0} + ${xp:-0}))
}

# Tests pytest would run in these paths, without running them.
pytest_size() {
    "$python" -m pytest --collect-only -q -p no:cacheprovider "$@" 2>/dev/null |
        grep -oE '^[0-9]+ tests? collected' | grep -oE '^[0-9]+' || echo "?"
}

run ctest --test-dir "$build" --output-on-failure --timeout 600 "$@"
# ctest: "100% tests passed, 0 tests failed out of 42"
summary=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
if [ -z "$summary" ]; then
    say "FAILED ctest: it printed no summary"
    failed=$((failed + 1))
else
    f=$(echo "$summary" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/')
    t=$(echo "$summary" | sed -E 's/.* failed out of ([0-9]+).*/\1/')
    # ctest lists skipped tests (exit code 77) as "  N - name (Skipped)".
    s=$(grep -cE '^[[:space:]]*[0-9]+ - .* \(Skipped\)$' "$log" || true)
    passed=$((passed + t - f - s))
    failed=$((failed + f))
    skipped=$((skipped + s))
    [ "$f" -ne 0 ] && say "FAILED ctest: $f of $t (listed above)"
    check_rc ctest "$f"
fi
# C tests the ctest arguments leave out (CI's sanitizer passes choose a
# label: -L c, -L threaded) did not run either.
if [ $# -gt 0 ]; then
    all=$(ctest --test-dir "$build" -N 2>/dev/null | sed -n 's/^Total Tests: //p')
    chosen=$(ctest --test-dir "$build" -N "$@" 2>/dev/null | sed -n 's/^Total Tests: //p')
    if [ -n "$all" ] && [ -n "$chosen" ] && [ "$all" -gt "$chosen" ]; then
        skip_suite "C tests not selected by the ctest arguments ($*)" $((all - chosen)) \
            "this run asked for a subset"
    fi
fi

python=/usr/bin/python3
rill="$build/bin/rill"
have_rill=1
if [ ! -x "$rill" ]; then
    have_rill=0
    failed=$((failed + 1))
    say "FAILED $rill is missing: the end-to-end, Python and dashboard suites cannot run (build it: make build)"
fi

if [ "${RILL_NO_E2E:-0}" = 1 ]; then
    skip_suite "end-to-end suite (tests/e2e, tests/netem)" "$(pytest_size tests/e2e tests/netem)" \
        "RILL_NO_E2E=1"
elif [ "$have_rill" = 1 ]; then
    echo
    echo "== end-to-end suite (tests/e2e) against $rill =="
    RILL_BIN=$(cd "$build" && pwd)/bin/rill PYTHONDONTWRITEBYTECODE=1 \
        run "$python" -m pytest -q -p no:cacheprovider tests/e2e tests/netem
    count_pytest "end-to-end suite"
fi

# The NATS suite (tests/nats): a private 3-node nats-server cluster in a
# network namespace, the bridge and its consumers. Needs root (ip netns)
# and an uninstrumented librill for its Python consumer. RILL_NO_NATS=1
# skips it.
if [ "${RILL_NO_NATS:-0}" != 1 ] && [ -x "$build/bin/rill" ] &&
   ! grep -qE '^RILL_(ASAN|TSAN):BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
    echo
    echo "== NATS suite (tests/nats) against $build/bin/rill =="
    abs=$(cd "$build" && pwd)
    nats_start=$(date +%s)
    # Through run, so that $rc is this suite's (it was the suite before's:
    # a failed end-to-end suite failed this one too).
    RILL_BIN=$abs/bin/rill RILL_LIB=$abs/src/librill.so PYTHONDONTWRITEBYTECODE=1 \
        run "$python" -m pytest -q -p no:cacheprovider tests/nats
    count_pytest tests/nats
    echo "NATS suite: $(( $(date +%s) - nats_start )) s"
fi

# A librill.so built with ASan or TSan cannot be loaded into an
# uninstrumented python3 (its runtime must come first): not run there.
sanitized=""
if grep -qE '^RILL_ASAN:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
    sanitized=ASan
elif grep -qE '^RILL_TSAN:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
    sanitized=TSan
fi
if [ "${RILL_NO_PYTHON:-0}" = 1 ]; then
    skip_suite "Python package (python/tests)" "$(pytest_size python/tests)" "RILL_NO_PYTHON=1"
elif [ -n "$sanitized" ]; then
    skip_suite "Python package (python/tests)" "$(pytest_size python/tests)" \
        "$build is a $sanitized build, whose librill.so an uninstrumented python3 cannot load"
elif [ "$have_rill" = 1 ]; then
    # The Python package (python/rill, ctypes on this build's librill.so)
    # against this build's `rill serve`.
    echo
    echo "== Python package (python/tests) against $build =="
    abs=$(cd "$build" && pwd)
    RILL_BIN=$abs/bin/rill RILL_LIB=$abs/src/librill.so PYTHONDONTWRITEBYTECODE=1 \
        run "$python" -m pytest -q -p no:cacheprovider python/tests
    count_pytest "Python package"
fi

# The real pybela 2.0.3 ($RILL_PYBELA_DIR, else ../shared/clients) against
# this build's `rill serve` and tests/pybela's device program, its Logger
# over a real sshd in a private network namespace, and the same scenarios
# through rill.pybela side by side. Without pybela its tests skip
# themselves, each saying why (counted as skipped).
if [ "${RILL_NO_PYTHON:-0}" = 1 ]; then
    skip_suite "the real pybela (tests/pybela)" "$(pytest_size tests/pybela)" "RILL_NO_PYTHON=1"
elif [ -n "$sanitized" ]; then
    skip_suite "the real pybela (tests/pybela)" "$(pytest_size tests/pybela)" \
        "$build is a $sanitized build, whose librill.so an uninstrumented python3 cannot load"
elif [ "$have_rill" = 1 ]; then
    echo
    echo "== the real pybela (tests/pybela) against $build =="
    abs=$(cd "$build" && pwd)
    RILL_BIN=$abs/bin/rill RILL_LIB=$abs/src/librill.so PYTHONDONTWRITEBYTECODE=1 \
        run "$python" -m pytest -q -p no:cacheprovider tests/pybela
    count_pytest "the real pybela"
fi

# Browser tests in tests/web: one it(...) each (the files say nothing else).
browser_size() {
    grep -hcE '^[[:space:]]*it\(' tests/web/*.test.mjs | awk '{n += $1} END {print n + 0}'
}
vitest_size() {
    (cd web && npx --no-install vitest list --json 2>/dev/null) |
        node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
            try { console.log(JSON.parse(s).length) } catch (e) { console.log("?") } })'
}

if [ "${RILL_NO_WEB:-0}" = 1 ]; then
    skip_suite "dashboard unit tests (web/, Vitest)" "$(vitest_size)" "RILL_NO_WEB=1"
    skip_suite "dashboard browser tests (tests/web)" "$(browser_size)" "RILL_NO_WEB=1"
elif [ "$have_rill" = 1 ]; then
    echo
    echo "== dashboard unit tests (web/, Vitest) =="
    json=$(mktemp)
    run sh -c 'cd web && exec npx --no-install vitest run --reporter=default --reporter=json --outputFile.json="$1"' \
        sh "$json"
    # Vitest's JSON report: numPassedTests, numFailedTests, numPendingTests,
    # numTodoTests, numFailedTestSuites.
    counts=$(node -e 'try { const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        console.log(r.numPassedTests, r.numFailedTests + (r.numFailedTestSuites || 0),
                    (r.numPendingTests || 0) + (r.numTodoTests || 0)) }
        catch (e) { console.log("0 1 0") }' "$json")
    rm -f "$json"
    # shellcheck disable=SC2086 # three numbers, split on purpose
    set -- $counts
    passed=$((passed + $1))
    failed=$((failed + $2))
    skipped=$((skipped + $3))
    [ "$2" -ne 0 ] && say "FAILED Vitest: $2 (tests and files)"
    check_rc Vitest "$2"

    echo
    echo "== dashboard browser tests (tests/web) against $rill =="
    RILL_BIN=$(cd "$build" && pwd)/bin/rill \
        run node --test --test-reporter=tap --test-concurrency=1 tests/web/*.test.mjs
    # node:test's TAP summary: "# pass N", "# fail N", "# cancelled N",
    # "# skipped N", "# todo N". Cancelled tests did not run because a hook
    # failed: failures.
    tap() { grep -E "^# $1 [0-9]+" "$log" | tail -n 1 | grep -oE '[0-9]+'; }
    p=$(tap pass)
    f=$(tap fail)
    c=$(tap cancelled)
    k=$(tap skipped)
    t=$(tap todo)
    if [ -z "$p" ] || [ -z "$f" ]; then
        say "FAILED browser tests: node printed no summary"
        f=1
    fi
    [ "${f:-0}" -ne 0 ] && say "FAILED browser tests: $f (files whose hooks failed count as one)"
    [ "${c:-0}" -ne 0 ] && say "FAILED browser tests: ${c} cancelled (a before hook failed or timed out)"
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0} + ${c:-0}))
    skipped=$((skipped + ${k:-0} + ${t:-0}))
    check_rc "browser tests" $((${f:-0} + ${c:-0}))
fi

if [ -n "$said" ]; then
    echo
    echo "test.sh: what did not pass or did not run:$said"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
