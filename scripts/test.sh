#!/bin/sh
# Run every test suite against one build directory and end with one summary
# line, "N passed, N failed, N skipped", counted over all suites (a skip
# says why in the log: only what this machine cannot run is skipped):
#   - the C suites, through ctest (extra arguments go to ctest);
#   - the end-to-end suite (tests/e2e, and tests/netem: the emulated
#     link for bad-network tests; pytest with Debian's python3)
#     against that build's own `rill` binary, so a sanitizer build runs the
#     real server under its sanitizer. Set RILL_NO_E2E=1 to skip it;
#   - the Python package's suite (python/tests, pytest with Debian's
#     python3) on that build's librill.so and `rill serve`. Set
#     RILL_NO_PYTHON=1 to skip it;
#   - the dashboard's unit tests (web/, Vitest) and its browser tests
#     (tests/web, node:test driving headless Chromium against that build's
#     `rill serve`). Set RILL_NO_WEB=1 to skip them.
#   scripts/test.sh BUILD_DIR [ctest args...]
set -u
build=$1
shift
log=$(mktemp)
trap 'rm -f "$log"' EXIT
passed=0
failed=0
skipped=0

# Add a pytest run's counts (its log in $log) to the totals. pytest's last
# line: "3 failed, 78 passed, 2 skipped, 1 error in 40.1s" (any order, any
# subset); none at all counts as a failure.
count_pytest() {
    last=$(grep -E '[0-9]+ (passed|failed|skipped|errors?)' "$log" | tail -n 1)
    p=$(echo "$last" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
    f=$(echo "$last" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || echo 0)
    e=$(echo "$last" | grep -oE '[0-9]+ errors?' | grep -oE '[0-9]+' || echo 0)
    k=$(echo "$last" | grep -oE '[0-9]+ skipped' | grep -oE '[0-9]+' || echo 0)
    if [ -z "$last" ]; then
        echo "test.sh: pytest printed no summary for $1"
        f=1
    fi
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0} + ${e:-0}))
    skipped=$((skipped + ${k:-0}))
}

ctest --test-dir "$build" --output-on-failure --timeout 600 "$@" 2>&1 | tee "$log"
# ctest: "100% tests passed, 0 tests failed out of 42"
summary=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
if [ -z "$summary" ]; then
    echo "test.sh: ctest printed no summary"
    failed=$((failed + 1))
else
    f=$(echo "$summary" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/')
    t=$(echo "$summary" | sed -E 's/.* failed out of ([0-9]+).*/\1/')
    # ctest lists skipped tests (exit code 77) as "  N - name (Skipped)".
    s=$(grep -cE '^[[:space:]]*[0-9]+ - .* \(Skipped\)$' "$log" || true)
    passed=$((passed + t - f - s))
    failed=$((failed + f))
    skipped=$((skipped + s))
fi

python=/usr/bin/python3
if [ "${RILL_NO_E2E:-0}" != 1 ] && [ -x "$build/bin/rill" ]; then
    echo
    echo "== end-to-end suite (tests/e2e) against $build/bin/rill =="
    RILL_BIN=$(cd "$build" && pwd)/bin/rill PYTHONDONTWRITEBYTECODE=1 \
        "$python" -m pytest -q -p no:cacheprovider tests/e2e tests/netem 2>&1 | tee "$log"
    count_pytest tests/e2e
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
    RILL_BIN=$abs/bin/rill RILL_LIB=$abs/src/librill.so PYTHONDONTWRITEBYTECODE=1 \
        "$python" -m pytest -q -p no:cacheprovider tests/nats 2>&1 | tee "$log"
    count_pytest tests/nats
    echo "NATS suite: $(( $(date +%s) - nats_start )) s"
fi

# A librill.so built with ASan or TSan cannot be loaded into an
# uninstrumented python3 (its runtime must come first): skip it there.
sanitized=0
if grep -qE '^RILL_(ASAN|TSAN):BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
    sanitized=1
fi
if [ "${RILL_NO_PYTHON:-0}" != 1 ] && [ "$sanitized" = 1 ]; then
    echo
    echo "== Python package (python/tests): skipped, $build is a sanitizer build =="
elif [ "${RILL_NO_PYTHON:-0}" != 1 ] && [ -x "$build/bin/rill" ]; then
    # The Python package (python/rill, ctypes on this build's librill.so)
    # against this build's `rill serve`. Set RILL_NO_PYTHON=1 to skip it.
    echo
    echo "== Python package (python/tests) against $build =="
    abs=$(cd "$build" && pwd)
    RILL_BIN=$abs/bin/rill RILL_LIB=$abs/src/librill.so PYTHONDONTWRITEBYTECODE=1 \
        "$python" -m pytest -q -p no:cacheprovider python/tests 2>&1 | tee "$log"
    count_pytest python/tests
fi

if [ "${RILL_NO_WEB:-0}" != 1 ] && [ -x "$build/bin/rill" ]; then
    echo
    echo "== dashboard unit tests (web/, Vitest) =="
    json=$(mktemp)
    (cd web && npx --no-install vitest run --reporter=default --reporter=json \
        --outputFile.json="$json") 2>&1 | tee "$log"
    # Vitest's JSON report: numPassedTests, numFailedTests.
    counts=$(node -e 'try { const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        console.log(r.numPassedTests, r.numFailedTests + (r.numFailedTestSuites || 0)) }
        catch (e) { console.log("0 1") }' "$json")
    rm -f "$json"
    passed=$((passed + ${counts% *}))
    failed=$((failed + ${counts#* }))

    echo
    echo "== dashboard browser tests (tests/web) against $build/bin/rill =="
    RILL_BIN=$(cd "$build" && pwd)/bin/rill \
        node --test --test-reporter=tap --test-concurrency=1 tests/web/*.test.mjs 2>&1 | tee "$log"
    # node:test's TAP summary: "# pass N", "# fail N".
    p=$(grep -E '^# pass [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+')
    f=$(grep -E '^# fail [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+')
    if [ -z "$p" ] || [ -z "$f" ]; then
        echo "test.sh: the browser tests printed no summary"
        f=1
    fi
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
