#!/usr/bin/env bash
# Instructions per record of a window's process() calls, counted by callgrind (hardware
# counters are often unavailable in VMs and containers). Needs valgrind and the release build:
#   cmake --preset release && cmake --build --preset release --target bench_windows
#   bench/instructions.sh [RECORDS]        (default 1000000; keys 10,000 as in bench_windows)
set -euo pipefail
cd "$(dirname "$0")/.."
bench=build/release/bench/bench_windows
records="${1:-1000000}"
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
[ -x "$bench" ] || { echo "build $bench first (cmake --preset release && cmake --build --preset release --target bench_windows)" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
five="[count, mean(v), min(v), max(v), stddev(v)]"
run() {
  local name="$1" window="$2" aggs="$3" pattern="$4"
  valgrind --tool=callgrind --callgrind-out-file="$out/cg" --toggle-collect="$pattern" \
    "$bench" --records "$records" --window "$window" --aggregates "$aggs" >"$out/log" 2>&1
  local n ir
  n=$(grep -E '^records:' "$out/log" | awk '{print $2}')
  ir=$(grep -E 'Collected' "$out/log" | awk '{print $4}' | tr -d ',')
  awk -v name="$name" -v ir="$ir" -v n="$n" 'BEGIN { printf "%-44s %8.1f instructions/record\n", name, ir / n }'
}
run "tumbling 10s, 5 aggregates" "{type: tumbling, size: 10s}" "$five" 'vigil::operators::SlicedWindow::process*'
run "hopping 60s/1s, 5 aggregates" "{type: hopping, size: 60s, hop: 1s}" "$five" 'vigil::operators::SlicedWindow::process*'
run "tumbling 10s, 5 aggregates + p99" "{type: tumbling, size: 10s}" "[count, mean(v), min(v), max(v), stddev(v), p99(v)]" 'vigil::operators::SlicedWindow::process*'
run "sliding 10s, mean/min/max" "{type: sliding, size: 10s}" "[count, mean(v), min(v), max(v)]" 'vigil::operators::SlidingWindow::process*'
