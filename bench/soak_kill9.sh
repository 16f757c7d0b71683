#!/usr/bin/env bash
# Soak of the kill -9 fault test: `vigil run` (100 simulated machines, 100 ms windows, outbox and
# upstream to a real mosquitto) killed with SIGKILL at random moments N times, the broker going
# down and up every few kills, then a clean drain. Each loop checks what the CI test checks (no
# committed seq missing at the subscriber or in the outbox, no seq with two payloads, PRAGMA
# integrity_check ok, no eviction) and prints one result line.
#
# usage: bench/soak_kill9.sh [N] [BUILD_DIR]     (default 200 kills, build/release)
#   LOOPS  how many loops of N kills (default 1), each with its own seed
#   SEED   seed of the first loop (default: from the clock, printed so a failure can be replayed)
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-200}
build=${2:-build/release}
loops=${LOOPS:-1}
seed=${SEED:-$(date +%s)}
test_bin=$build/tests/test_e2e
[ -x "$test_bin" ] || { echo "soak_kill9: $test_bin is missing; cmake --preset release && cmake --build --preset release" >&2; exit 2; }
command -v mosquitto >/dev/null || PATH=$PATH:/usr/sbin
command -v mosquitto >/dev/null || { echo "soak_kill9: mosquitto is missing (scripts/setup)" >&2; exit 2; }

name="kill -9 at random moments with the broker going up and down loses no committed summary"
failed=0
for ((i = 0; i < loops; i++)); do
  s=$((seed + i))
  log=$(mktemp)
  start=$(date +%s)
  if VIGIL_KILL9_ROUNDS=$kills VIGIL_KILL9_SEED=$s "$test_bin" "$name" >"$log" 2>&1; then
    verdict=ok
  else
    verdict=FAILED
    failed=$((failed + 1))
  fi
  result=$(grep '^kill -9 loop:' "$log" || echo "kill -9 loop: no result line (seed $s)")
  echo "loop $((i + 1))/$loops: $verdict in $(( $(date +%s) - start )) s; $result"
  if [ "$verdict" = FAILED ]; then
    echo "--- output of the failed loop (replay with SEED=$s LOOPS=1) ---"
    tail -n 60 "$log"
  fi
  rm -f "$log"
done
echo "soak_kill9: $loops loops of $kills kills, $failed failed (first seed $seed)"
[ "$failed" -eq 0 ]
