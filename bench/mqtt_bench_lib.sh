# Shell functions shared by the MQTT benchmarks (ingest_e2e.sh, rss.sh). Source it after setting
# $tmp (a private temporary folder); start_broker sets $port and $broker_pid.

# utime + stime of a process (every thread, living or gone) in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

# A broker on a free loopback port: try random ports until one listens.
start_broker() {
  for _ in $(seq 20); do
    port=$((20000 + RANDOM % 40000))
    cat >"$tmp/broker.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
persistence false
# Slow moments of a busy 2-core machine must not cost messages: a consumer that falls behind
# for a while gets them later; one that cannot keep up still loses them.
max_queued_messages 1000000
log_dest file $tmp/broker.log
log_type error
log_type warning
log_type notice
log_type information
log_type subscribe
EOF
    : >"$tmp/broker.log"
    chmod 666 "$tmp/broker.log"
    chmod 755 "$tmp"
    mosquitto -c "$tmp/broker.conf" >/dev/null 2>&1 &
    broker_pid=$!
    for _ in $(seq 50); do
      if grep -q "listen socket on port $port" "$tmp/broker.log" 2>/dev/null; then return 0; fi
      kill -0 "$broker_pid" 2>/dev/null || break
      sleep 0.05
    done
    kill "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  done
  echo "$(basename "$0"): cannot start mosquitto" >&2
  exit 1
}

