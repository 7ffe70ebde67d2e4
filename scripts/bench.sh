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

{
    printf '{"date":"%s","host_cores":%s,"results":[\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(nproc)"
    sed '$!s/$/,/' "$lines"
    printf ']}\n'
} > "$out"
echo
echo "wrote $out ($(wc -l < "$lines") rows)"
exit $status
