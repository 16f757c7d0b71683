#!/usr/bin/env bash
# End-to-end MQTT ingest on loopback: mqtt_flood -> mosquitto -> consumers, all on one broker in
# the same run. Consumers: `vigil run` (mqtt source, 1 s tumbling window with count, mean, min,
# max), a bare Paho C++ subscriber and a bare libmosquitto subscriber that only count messages,
# and mosquitto_sub. Cases: 100 and 1,000 keys, 1 and 100 readings (a JSON array) per message;
# a case may use FlatBuffers Readings messages instead of JSON (100:1:flatbuffers).
# For each case the input rate steps up until vigil loses a record; the table shows the highest
# rate vigil kept up with, and at that rate every consumer's CPU time per message (utime + stime
# from /proc/PID/stat, measured from subscription to drain), vigil's CPU per reading, vigil's
# RSS at that rate and idle (connected, before the first message).
#
# usage: bench/ingest_e2e.sh [BUILD_DIR]          (default build/release)
#   STEP_SECONDS  publishing time per rate step (default 2)
#   REPEAT        runs of each case; the best run (highest rate reached, then lowest vigil CPU per
#                 message) is shown (default 2)
#   RATES_SINGLE, RATES_BATCH   message rates to step through (default 20000 40000 80000 160000
#                 for 1 reading per message, 2000 4000 8000 16000 for 100)
#   CASES         "KEYS:BATCH[:FORMAT] ..." with FORMAT json (the default) or flatbuffers
#                 (default "100:1 1000:1 100:100 1000:100")
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
step_seconds=${STEP_SECONDS:-2}
repeat=${REPEAT:-2}
clients=paho  # vigil processes per step, named vigil-<name>; Paho is its only MQTT client
cases=${CASES:-100:1 1000:1 100:100 1000:100}
vigil=$build/runtime/cli/vigil
for bin in "$vigil" "$build/bench/mqtt_flood" "$build/bench/mqtt_count_paho" "$build/bench/mqtt_count_mosquitto"; do
  [ -x "$bin" ] || { echo "ingest_e2e: $bin is missing; cmake --preset release && cmake --build --preset release" >&2; exit 2; }
done
command -v mosquitto >/dev/null || PATH=$PATH:/usr/sbin
command -v mosquitto >/dev/null || { echo "ingest_e2e: mosquitto is missing (scripts/setup)" >&2; exit 2; }
command -v mosquitto_sub >/dev/null || { echo "ingest_e2e: mosquitto_sub is missing (scripts/setup)" >&2; exit 2; }

tmp=$(mktemp -d)
broker_pid=""
pids=()
cleanup() {
  for p in "${pids[@]}" $broker_pid; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
tick_us=$((1000000 / $(getconf CLK_TCK)))
# shellcheck source=bench/mqtt_bench_lib.sh
. bench/mqtt_bench_lib.sh

vigil_config() {  # CLIENT FORMAT -> path
  local path="$tmp/vigil-$1.yaml"
  cat >"$path" <<EOF
vigil: 1
gateway: bench
limits: { max_keys: 2048, queue_depth: 65536 }
sources:
  - name: bench
    type: mqtt
    client_id: bench-vigil-$1
    broker: tcp://127.0.0.1:$port
    topics: ["bench/#"]
    format: $2
    key: key
    fields: [temp]
    qos: 0
pipelines:
  - name: bench
    from: [bench]
    window: { type: tumbling, size: 1s }
    aggregates: [count, mean(temp), min(temp), max(temp)]
outputs:
  console: { format: json }
EOF
  echo "$path"
}

# One rate step: start every consumer, wait for its subscription, publish, wait for the drain,
# stop. Writes "name messages cpu_ticks rss_kb idle_rss_kb" lines to $tmp/step.
run_step() {  # KEYS BATCH RATE FORMAT
  local keys=$1 batch=$2 rate=$3 count=$(($3 * step_seconds))
  local names=() step_pids=()
  local subs_before
  subs_before=$(grep -c ' bench/#' "$tmp/broker.log" || true)
  for c in $clients; do
    "$vigil" run "$(vigil_config "$c" "$4")" --stats >"$tmp/vigil-$c.out" 2>"$tmp/vigil-$c.err" &
    names+=("vigil-$c"); step_pids+=($!)
  done
  "$build/bench/mqtt_count_paho" "tcp://127.0.0.1:$port" 'bench/#' 0 >"$tmp/paho.out" 2>/dev/null &
  names+=(paho); step_pids+=($!)
  "$build/bench/mqtt_count_mosquitto" 127.0.0.1 "$port" 'bench/#' 0 >"$tmp/libmosquitto.out" 2>/dev/null &
  names+=(libmosquitto); step_pids+=($!)
  mosquitto_sub -h 127.0.0.1 -p "$port" -t 'bench/#' -q 0 -F '%l' >"$tmp/mosquitto_sub.out" 2>/dev/null &
  names+=(mosquitto_sub); step_pids+=($!)
  pids=("${step_pids[@]}")
  local want=$((subs_before + ${#step_pids[@]}))
  for _ in $(seq 200); do
    [ "$(grep -c ' bench/#' "$tmp/broker.log" || true)" -ge "$want" ] && break
    sleep 0.02
  done
  sleep 0.2  # let the subscribers settle after their SUBACK
  local before=() idle=()
  for p in "${step_pids[@]}"; do before+=("$(cpu_ticks "$p")"); idle+=("$(rss_kb "$p")"); done
  local broker_before
  broker_before=$(cpu_ticks "$broker_pid")
  "$build/bench/mqtt_flood" --port "$port" --keys "$keys" --batch "$batch" --rate "$rate" --count "$count" --format "$4" \
    >"$tmp/flood.out"
  # Drained: no consumer used CPU over the last 300 ms (at most 15 s).
  local last="" now
  for _ in $(seq 50); do
    sleep 0.3
    now=""
    for p in "${step_pids[@]}" "$broker_pid"; do now+="$(cpu_ticks "$p") "; done
    [ "$now" = "$last" ] && break
    last=$now
  done
  local after=() rss=()
  for p in "${step_pids[@]}"; do after+=("$(cpu_ticks "$p")"); rss+=("$(rss_kb "$p")"); done
  local broker_after
  broker_after=$(cpu_ticks "$broker_pid")
  for p in "${step_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${step_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
  : >"$tmp/step"
  local i
  for i in "${!names[@]}"; do
    local n=${names[$i]} got
    case $n in
      vigil-*)
        # Records the source queued, minus drops, and the sum of the summaries' counts.
        local stats records dropped summed
        stats=$(grep 'vigil: stats' "$tmp/$n.err" | tail -n 1)
        records=$(sed -E 's/.*"sources":\[\{[^}]*"records":([0-9]+).*/\1/' <<<"$stats")
        dropped=$(sed -E 's/.*"queue_dropped":([0-9]+).*/\1/' <<<"$stats")
        summed=$(grep -o '"count":[0-9]*' "$tmp/$n.out" | awk -F: '{ s += $2 } END { print s + 0 }')
        got=$summed
        if [ "$dropped" != 0 ] || [ "$records" != "$summed" ]; then got=$((summed < records - dropped ? summed : records - dropped)); fi
        got=$((got / batch))  # in messages
        ;;
      paho | libmosquitto) got=$(awk '{ print $2 }' "$tmp/$n.out") ;;
      mosquitto_sub) got=$(wc -l <"$tmp/mosquitto_sub.out") ;;
    esac
    echo "$n ${got:-0} $((after[i] - before[i])) ${rss[$i]} ${idle[$i]}" >>"$tmp/step"
  done
  echo "broker $count $((broker_after - broker_before)) 0 0" >>"$tmp/step"
  echo "published $count $(awk '{ print $8 }' "$tmp/flood.out")" >>"$tmp/step"
}

start_broker
echo "ingest_e2e: mosquitto on 127.0.0.1:$port; $step_seconds s per step; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
results=$tmp/results
: >"$results"
for c in $cases; do
  keys=${c%%:*}
  rest=${c#*:}
  batch=${rest%%:*}
  format=json
  [ "$rest" = "$batch" ] || format=${rest#*:}
  if [ "$batch" = 1 ]; then rates=${RATES_SINGLE:-20000 40000 80000 160000}; else rates=${RATES_BATCH:-2000 4000 8000 16000}; fi
  for r in $(seq "$repeat"); do
    for rate in $rates; do
      run_step "$keys" "$batch" "$rate" "$format"
      count=$((rate * step_seconds))
      achieved=$(awk '$1 == "published" { print $3 }' "$tmp/step")
      line="case $keys $batch run $r rate $rate achieved ${achieved%.*} format $format"
      all_kept=1
      while read -r name got ticks rss idle; do
        [ "$name" = published ] && continue
        line+=" | $name $got $ticks $rss $idle"
        case $name in vigil-*) [ "$got" -ge "$count" ] || all_kept=0 ;; esac
      done <"$tmp/step"
      echo "$line" >>"$results"
      printf '  %5s keys, %3s/msg %s, run %s: %6s msg/s (sent at %s/s): %s\n' "$keys" "$batch" "$format" "$r" "$rate" \
        "${achieved%.*}" "$(awk -v n="$count" '$1 != "published" { printf "%s %s%s  ", $1, ($2 >= n ? "ok" : "LOST " n - $2), "" }' "$tmp/step")"
      [ "$all_kept" = 1 ] || break
      # The publisher could not reach the rate: the broker or the machine is saturated.
      [ "${achieved%.*}" -ge $((rate * 9 / 10)) ] || break
    done
  done
done

# Table: per case the highest rate at which every vigil client kept every record, in the best run.
echo
awk -v tick_us="$tick_us" -v step="$step_seconds" -v clients="$clients" '
function field(name, what,    i, n, parts) {
  for (i = 1; i <= nseg; ++i) { n = split(seg[i], parts, " "); if (parts[1] == name) return parts[what]; }
  return "";
}
{
  nseg = split($0, seg, /\| /)
  split(seg[1], h, " ")
  keys = h[2]; batch = h[3]; rate = h[7]; achieved[$0] = h[9]
  count = rate * step
  ok = 1
  nc = split(clients, cl, " ")
  for (c = 1; c <= nc; ++c) if (field("vigil-" cl[c], 2) + 0 < count) ok = 0
  if (!ok) next
  id = keys " " batch " " h[11]
  cost = field("vigil-" cl[1], 3) / count
  got = h[9] + 0
  # The highest rate the publisher reached; within 5 % of it, the run with the least vigil CPU.
  if (!(id in best_got) || got > best_got[id] * 1.05 || (got >= best_got[id] * 0.95 && cost < best_cost[id])) {
    best_got[id] = got; best_rate[id] = rate; best_cost[id] = cost; best_line[id] = $0
  }
  if (!(id in order)) { order[id] = ++ncases; ids[ncases] = id }
}
END {
  printf "%-6s %-5s %-11s %-9s", "keys", "r/msg", "format", "msg/s"
  for (c = 1; c <= nc; ++c) printf " | %-36s", "vigil " cl[c] ": us/msg us/reading RSS idle"
  printf " | %-8s | %-8s | %-8s | %-7s\n", "paho", "libmosq", "mosq_sub", "broker"
  for (k = 1; k <= ncases; ++k) {
    id = ids[k]; $0 = best_line[id]; nseg = split($0, seg, /\| /)
    split(id, p, " "); rate = best_rate[id]; count = rate * step; batch = p[2]
    printf "%-6s %-5s %-11s %-9s", p[1], batch, p[3], achieved[$0]
    for (c = 1; c <= nc; ++c) {
      n = "vigil-" cl[c]
      us = field(n, 3) * tick_us / count
      printf " | %6.2f %6.3f %5.1f MB %5.1f MB         ", us, us / batch, field(n, 4) / 1024, field(n, 5) / 1024
    }
    printf " | %8.2f | %8.2f | %8.2f | %7.2f\n", field("paho", 3) * tick_us / count, field("libmosquitto", 3) * tick_us / count,
      field("mosquitto_sub", 3) * tick_us / count, field("broker", 3) * tick_us / count
  }
  print ""
  print "CPU in us per message (utime + stime over the step / messages published); us/reading = us/msg / readings per message."
  print "msg/s: the rate the publisher achieved in the highest step at which every vigil client kept every record"
  print "(summaries summed, no queue drop); steps stop when a vigil client loses a record or the publisher falls"
  print "below 90 % of the step rate (the broker or the machine is saturated)."
}' "$results"
