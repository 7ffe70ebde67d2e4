#!/bin/sh
# Build the libFuzzer targets with clang in build-fuzz/ and run each one for
# SECONDS (default 20), starting from a small seed corpus written here.
#   fuzz/run.sh [SECONDS]
# Exit status is non-zero if any target finds a crash, a leak or undefined
# behaviour; the reproducer is left in build-fuzz/artifacts/.
set -eu
secs=${1:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-fuzz
jobs=$(nproc 2>/dev/null || echo 2)

CC=clang cmake -S "$root" -B "$build" -DRILL_BUILD_FUZZ=ON \
    -DRILL_BUILD_TESTS=OFF -DRILL_BUILD_BENCH=OFF -DRILL_BUILD_EXAMPLES=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$build.configure.log" 2>&1 ||
    { cat "$build.configure.log"; exit 1; }
rm -f "$build.configure.log"
cmake --build "$build" --target fuzz_command fuzz_client_buffer fuzz_file_reader fuzz_align \
    fuzz_handler -j "$jobs"

seeds=$build/seeds
rm -rf "$seeds"
for t in command client_buffer file_reader align handler; do
    mkdir -p "$seeds/$t" "$build/corpus/$t"
done
mkdir -p "$build/artifacts"

# ---- Control messages: what pybela sends, and a few bad ones.
n=0
seed_cmd() { n=$((n + 1)); printf '%s' "$1" > "$seeds/command/$n.json"; }
seed_cmd '{"event":"connection-reply"}'
seed_cmd '{"watcher":[{"cmd":"list"}]}'
seed_cmd '{"watcher":[{"cmd":"watch","watchers":["a","b"],"periods":[0,0,0]}]}'
seed_cmd '{"watcher":[{"cmd":"watch","timestamps":[1000,2000.0],"durations":[44100,0],"watchers":["a","b"]}]}'
seed_cmd '{"watcher":[{"cmd":"unwatch","watchers":["a","b"]},{"cmd":"watch","watchers":["a"]}]}'
seed_cmd '{"watcher":[{"cmd":"log","timestamps":[],"durations":[],"watchers":["a"]}]}'
seed_cmd '{"watcher":[{"cmd":"unlog","watchers":["a"],"timestamps":[5]}]}'
seed_cmd '{"watcher":[{"cmd":"monitor","watchers":["a","b"],"periods":[1000,1]}]}'
seed_cmd '{"watcher":[{"cmd":"control","watchers":["a"]},{"cmd":"uncontrol","watchers":["b"]}]}'
seed_cmd '{"watcher":[{"cmd":"set","watchers":["a","b"],"values":[4.6,true]}]}'
seed_cmd '{"id":7,"watcher":[{"cmd":"setMask","id":"s","watchers":["a"],"values":[3],"masks":[255]}]}'
seed_cmd '{"event":"active","watcher":{"cmd":"list"}}'
seed_cmd '[{"cmd":"list"}]'
seed_cmd '{"watcher":[{"cmd":"set","watchers":["caf\u00e9","a\/b",7],"values":[1]}]}'

cat > "$build/command.dict" <<'DICT'
"\"watcher\""
"\"watchers\""
"\"cmd\""
"\"event\""
"\"id\""
"\"timestamps\""
"\"durations\""
"\"periods\""
"\"values\""
"\"masks\""
"\"list\""
"\"watch\""
"\"unwatch\""
"\"log\""
"\"unlog\""
"\"monitor\""
"\"control\""
"\"uncontrol\""
"\"set\""
"\"setMask\""
"\"connection-reply\""
"\"active\""
"\"inactive\""
"true"
"false"
"null"
"2147483648"
"18446744073709551616.0"
"-1"
"1.5"
"1e19"
"\\u00e9"
DICT

# ---- Binary messages (octal escapes: dash's printf has no \x).
seed_bin() { printf "$2" > "$seeds/client_buffer/$1"; }
# client buffer: id 0, 'f', count 2, pad, 1.0f 2.0f
seed_bin client_f '\000\000\000\000f\000\000\000\002\000\000\000\000\000\000\000\000\000\200\077\000\000\000\100'
# client buffer: id 1, 'd', count 1, pad, 1.0
seed_bin client_d '\001\000\000\000d\000\000\000\001\000\000\000\000\000\000\000\000\000\000\000\000\000\360\077'
# native dense float: v1 kind 0 'f' flags 0, id 3, seq 4, ts 5, count 1, dropped 0, 1.0f
seed_bin native_f '\001\000f\000\003\000\000\000\004\000\000\000\000\000\000\000\005\000\000\000\000\000\000\000\001\000\000\000\000\000\000\000\000\000\200\077'
# native sparse char, last: 'a','b' then 2 pad, rel 0 and 7
seed_bin native_c '\001\000c\003\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\002\000\000\000\000\000\000\000ab\000\000\000\000\000\000\007\000\000\000'
# native end of stream
seed_bin native_end '\001\002i\000\011\000\000\000\001\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000'
# Bela header and a double monitor frame
seed_bin header '12/d'
seed_bin monitor_d '\001\000\000\000\000\000\000\000\000\000\000\000\000\000\360\077'
# log file header: "watcher\0" "lv\0" "d\0" pid 77 instance 5, 3 pad bytes
seed_bin logfile 'watcher\000lv\000d\000\115\000\000\000\005\000\000\000\000\000\000'

# ---- Files: the first byte picks the reader (0 csv, 1 jsonl, 2 bin, 3 txt
# as jsonl; +4 sparse), the rest is the file.
seed_file() { printf "$2" > "$seeds/file_reader/$1"; }
seed_file csv '\000timestamp,frame\n10,10\n11,11\n12,12.5\n'
seed_file csv_sparse '\004timestamp,ev\n1,7\n9,-3\n400,1e3\n'
seed_file jsonl '\001{"ref_timestamp": 5, "data": [1, 2, 3]}\n{"ref_timestamp": 8, "data": [4.5]}\n'
seed_file jsonl_sparse '\001{"ref_timestamp": 5, "data": [1, 2], "rel_timestamps": [0, 9]}\n'
# (the selector byte is part of the printf: sed's \0 would be the whole
# match, and this seed used to start "watcher02watcher")
seed_file bin '\002watcher\000lv\000f\000\115\000\000\000\000\000\000\000\000\000\000'
# ---- Aligner: config, then ops (id, tick, count, rel steps).
seed_bin_align() { printf "$2" > "$seeds/align/$1"; }
seed_bin_align two '\012\000\000\000\000\000\010\001\000\000\000\010\000\010\000\000\010\240'

# ---- Handler messages: the first byte picks a frame (even) or JSON (odd).
seed_handler() { printf "$2" > "$seeds/handler/$1"; }
# frame: version 1, kind 16, 'f', flags 0, handler 5, seq 1, tick 99, count 2, arg 0, 1.0f 2.0f
seed_handler frame_f '\000\001\020f\000\005\000\000\000\001\000\000\000\000\000\000\000\143\000\000\000\000\000\000\000\002\000\000\000\000\000\000\000\000\000\200\077\000\000\000\100'
# frame: 'h', replace, handler 1, count 1, arg 1 (channels), one int16
seed_handler frame_h '\000\001\020h\001\001\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\001\000\000\000\001\000\000\000\377\177'
seed_handler params '\001{"channels":["mic0","mic1"],"min":-60,"max":0.5,"log":true,"x":null}'
seed_handler data '\001{"add":[{"x":[1,2.25],"y":[1e300,-0.0]}],"s":"caf\\u00e9 \\u0000 \\ud83d\\ude00 a/b"}'
seed_handler name '\001"Levels \\/ dB"'

status=0
for t in command client_buffer file_reader align handler; do
    dict=""
    [ "$t" = command ] && dict="-dict=$build/command.dict"
    echo "== fuzz_$t for ${secs}s"
    log=$build/fuzz_$t.log
    rc=0
    "$build/fuzz/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 \
        -artifact_prefix="$build/artifacts/$t-" $dict \
        "$build/corpus/$t" "$seeds/$t" > "$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        cat "$log"
        status=1
    else
        grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|cov:' "$log" |
            tail -n 4
    fi
done
[ "$status" -eq 0 ] && echo "fuzz: no crashes" || echo "fuzz: FAILED (see $build/artifacts)"
exit "$status"
