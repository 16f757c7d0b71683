#!/usr/bin/env bash
# Footprint of the vigil binary and of the default pipeline (figures in bench/README.md):
#   - stripped size, shared libraries needed, highest GLIBC/GLIBCXX symbol versions, for every
#     build present: build/release (x86_64), build/x86_64-static, build/aarch64, build/armhf,
#     build/aarch64-static;
#   - resident memory of `vigil run examples/factory-sim.yaml` after 8 s, for each x86_64 build
#     present (release, x86_64-static): VmRSS, split into anonymous memory (Vigil's own) and file
#     pages (the binary and shared libraries), and Pss (shared pages divided among the processes
#     that map them); RSS_RUNS runs of each (default 1), the builds taking turns;
#   - instructions per sample of the default pipeline: `vigil replay` of the same config on
#     two CSV files of different length, so start-up cancels out; counted by callgrind on
#     x86_64 and by qemu-aarch64 (one instruction per translation block, each execution logged)
#     for aarch64. Neither depends on the speed of the machine or of the emulator.
#   bench/footprint.sh [SAMPLES]    (default 20000: the longer replay; the shorter is a tenth)
#   RSS_RUNS=N   runs of the resident-memory measurement per build (default 1)
#   INSTRUCTIONS=0   leaves out the instruction counts (callgrind, qemu: minutes)
# Needs valgrind (scripts/setup --bench) and the builds to measure (release: scripts/demo;
# aarch64/armhf/aarch64-static: scripts/test --aarch64 etc.; any of them, x86_64-static too:
# cmake --preset <name> && cmake --build --preset <name> --target vigil).
set -euo pipefail
cd "$(dirname "$0")/.."
samples="${1:-20000}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== binaries (stripped)"
for b in release x86_64-static aarch64 armhf aarch64-static; do
  bin="build/$b/runtime/cli/vigil"
  [ -x "$bin" ] || { echo "$b: not built"; continue; }
  case "$b" in
    release|x86_64-static) tools="" ;;
    armhf) tools="arm-linux-gnueabihf-" ;;
    *) tools="aarch64-linux-gnu-" ;;
  esac
  "${tools}strip" -o "$out/vigil-$b" "$bin"
  size=$(stat -c %s "$out/vigil-$b")
  needed=$("${tools}readelf" -d "$out/vigil-$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | paste -sd' ' -)
  glibc=$("${tools}readelf" -W --dyn-syms "$out/vigil-$b" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1 || true)
  glibcxx=$("${tools}readelf" -W --dyn-syms "$out/vigil-$b" | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -n 1 || true)
  printf '%-15s %9d bytes (%.2f MiB)  glibc: %s  libstdc++: %s\n' "$b" "$size" "$(echo "$size / 1048576" | bc -l)" \
    "${glibc:-none (static)}" "${glibcxx:-none}"
  printf '%-15s needs: %s\n' "" "${needed:-nothing (static)}"
done

# CSV input for the default pipeline: the simulator's three machines, 100 Hz, its three fields.
make_csv() {
  awk -v n="$1" 'BEGIN { print "key,ts,temp,vib,pressure"; split("press-1 pump-1 fan-1", m, " ");
    for (i = 0; i < n; ++i) printf "%s,%.0f,%.2f,%.4f,%.3f\n", m[i % 3 + 1], 1700000000000 + int(i / 3) * 10,
      60 + (i % 7) * 0.1, 0.02 + (i % 5) * 0.001, 4 + (i % 11) * 0.01 }' >"$2"
}
small=$((samples / 10))
make_csv "$small" "$out/small.csv"
make_csv "$samples" "$out/large.csv"
cp examples/factory-sim.yaml "$out/pipeline.yaml"

per_sample() {  # instructions of the large and the small run -> instructions per extra sample
  awk -v a="$1" -v b="$2" -v n="$((samples - small))" 'BEGIN { printf "%.0f", (a - b) / n }'
}

rss_builds=()
for b in release x86_64-static; do
  [ -x "build/$b/runtime/cli/vigil" ] && rss_builds+=("$b")
done
for run in $(seq "${RSS_RUNS:-1}"); do
  for b in ${rss_builds[@]+"${rss_builds[@]}"}; do
    echo "== x86_64 (build/$b), default pipeline, run $run"
    (cd "$out" && VIGIL_GATEWAY=footprint "$OLDPWD/build/$b/runtime/cli/vigil" run pipeline.yaml --for 10s >/dev/null 2>&1) &
    runner=$!
    sleep 8
    pid=$(pgrep -P "$runner" -x vigil || true)
    [ -n "$pid" ] || pid=$runner
    rss=$(awk '/^(VmRSS|RssAnon|RssFile):/ {printf "%s %s KiB  ", $1, $2}' "/proc/$pid/status" 2>/dev/null || echo "?")
    pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo "?")
    wait "$runner" || true
    echo "default pipeline after 8 s: ${rss}Pss: ${pss} KiB"
  done
done
[ "${INSTRUCTIONS:-1}" = 0 ] && exit 0

if [ -x build/release/runtime/cli/vigil ]; then
  echo "== x86_64 (build/release), instructions"
  if command -v valgrind >/dev/null; then
    ir() {
      valgrind --tool=callgrind --callgrind-out-file="$out/cg" build/release/runtime/cli/vigil replay "$out/pipeline.yaml" \
        --input "$1" >/dev/null 2>"$out/cg.log"
      grep -E 'Collected' "$out/cg.log" | awk '{print $4}' | tr -d ','
    }
    a=$(ir "$out/large.csv"); b=$(ir "$out/small.csv")
    echo "instructions per sample (callgrind, replay of $small and $samples samples): $(per_sample "$a" "$b")"
  else
    echo "instructions per sample: valgrind is not installed (scripts/setup --bench)"
  fi
fi

if [ -x build/aarch64/runtime/cli/vigil ] && command -v qemu-aarch64-static >/dev/null; then
  echo "== aarch64 (build/aarch64, qemu-aarch64)"
  sysroot=$(toolchains/make-sysroot aarch64 --print)
  # -singlestep: one guest instruction per translation block; nochain: every execution is logged.
  insns() {
    qemu-aarch64-static -L "$sysroot" -singlestep -d exec,nochain -D /dev/fd/3 build/aarch64/runtime/cli/vigil \
      replay "$out/pipeline.yaml" --input "$1" 3>&1 >/dev/null 2>/dev/null | grep -c '^Trace'
  }
  a=$(insns "$out/large.csv"); b=$(insns "$out/small.csv")
  echo "instructions per sample (qemu instruction count, replay of $small and $samples samples): $(per_sample "$a" "$b")"
fi
