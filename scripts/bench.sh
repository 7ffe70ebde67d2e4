#!/bin/sh
# Run every benchmark of a build directory, print their tables and collect
# the rows into bench/results.json.
#   scripts/bench.sh BUILD_DIR
set -eu
build=$1
out=bench/results.json
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT

echo "rill benchmarks ($(nproc) cores; medians of repeated runs; baselines measured in the same run)"
status=0
for b in "$build"/bench/bench_*; do
    [ -x "$b" ] || continue
    RILL_BENCH_JSON="$lines" "$b" || { echo "bench: $b failed" >&2; status=1; }
done

# The Python package's client against the C client (bench/python/).
if [ "${RILL_NO_PYTHON:-0}" = 1 ]; then
    echo; echo "== python client: skipped (RILL_NO_PYTHON=1) =="
else
    RILL_BENCH_JSON="$lines" /usr/bin/python3 bench/python/client_bench.py "$build" ||
        { echo "bench: bench/python/client_bench.py failed" >&2; status=1; }
fi

# pybela's round trip (device -> Python -> device) on rill.pybela, with the
# real pybela on the same device as the baseline (bench/pybela/).
if [ "${RILL_NO_PYTHON:-0}" = 1 ]; then
    echo; echo "== pybela round trip: skipped (RILL_NO_PYTHON=1) =="
else
    RILL_BENCH_JSON="$lines" /usr/bin/python3 bench/pybela/roundtrip.py "$build" ||
        { echo "bench: bench/pybela/roundtrip.py failed" >&2; status=1; }
fi

# The dashboard in headless Chromium against this build's `rill serve`
# (bench/browser/; RILL_BENCH_BROWSER_S=30 by default, RILL_NO_WEB=1 skips).
if [ "${RILL_NO_WEB:-0}" = 1 ]; then
    echo; echo "== browser: skipped (RILL_NO_WEB=1) =="
elif ! command -v node >/dev/null 2>&1; then
    echo; echo "== browser: skipped (node is not installed; make deps installs it) =="
else
    RILL_BENCH_JSON="$lines" RILL_BIN="$(cd "$build" && pwd)/bin/rill" node bench/browser/dashboard_bench.mjs ||
        { echo "bench: bench/browser/dashboard_bench.mjs failed" >&2; status=1; }
fi

{
    printf '{"date":"%s","host_cores":%s,"results":[\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(nproc)"
    sed '$!s/$/,/' "$lines"
    printf ']}\n'
} > "$out"
echo
echo "wrote $out ($(wc -l < "$lines") rows)"
exit $status
