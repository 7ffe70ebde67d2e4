#!/bin/sh
# Run every test suite of a build directory and end with one summary line,
# "N passed, N failed", counted over all suites.
#   scripts/test.sh BUILD_DIR [ctest args...]
set -u
build=$1
shift
log=$(mktemp)
trap 'rm -f "$log"' EXIT

ctest --test-dir "$build" --output-on-failure --timeout 600 "$@" 2>&1 | tee "$log"
status=$?

# ctest: "100% tests passed, 0 tests failed out of 42"
summary=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
if [ -z "$summary" ]; then
    echo "0 passed, 1 failed (ctest printed no summary)"
    exit 1
fi
failed=$(echo "$summary" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/')
total=$(echo "$summary" | sed -E 's/.* failed out of ([0-9]+).*/\1/')
passed=$((total - failed))
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
