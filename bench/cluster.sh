#!/usr/bin/env bash
# Runs the same load against 1, 2 and 3 Switchboard nodes that share one PostgreSQL database and
# one NATS server, all on this machine: a fixed rate for p99 delivery
# (bench/results/<date>-cluster-<n>.{json,md,png}), then rising rates for the highest one sustained
# with p99 delivery within MAX_P99_MS (<date>-cluster-<n>-throughput.*).
#
#   bench/cluster.sh
#
# With several nodes, each chat's customer talks to one node and its bot to the next, so every
# message is committed on one node and delivered from another (through NATS). PostgreSQL is the
# machine's (127.0.0.1:5432, user postgres; BENCH_POSTGRES names another server); a database is
# made for the run and dropped after it. NATS is at 127.0.0.1:4222 (BENCH_NATS).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard-target}"
: "${CHATS:=500}" "${RATE:=500}" "${DURATION:=15}" "${NODES:=1 2 3}"
: "${THROUGHPUT_START:=400}" "${STEP_DURATION:=8}" "${MAX_P99_MS:=25}"
: "${BENCH_POSTGRES:=postgres://postgres@127.0.0.1:5432}" "${BENCH_NATS:=nats://127.0.0.1:4222}"

cargo build --release --locked -p switchboard -p loadgen
bin="$CARGO_TARGET_DIR/release"
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
database="switchboard_bench_$(date +%s)"
pids=()
stop_nodes() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}
cleanup() {
  stop_nodes
  psql "$BENCH_POSTGRES/postgres" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

key="BENCH$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)"
secret=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
day=$(date -u +%F)

for n in $NODES; do
  echo "== $n node(s)"
  psql "$BENCH_POSTGRES/postgres" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null
  psql "$BENCH_POSTGRES/postgres" -qc "CREATE DATABASE $database" >/dev/null
  cat > "$work/switchboard.toml" <<TOML
listen = "127.0.0.1:0"
storage = "$BENCH_POSTGRES/$database"
bus = "$BENCH_NATS"
[postgres]
max_connections = 16
[[access_keys]]
id = "$key"
secret = "$secret"
[[instances]]
id = "bench"
[[instances.queues]]
id = "q"
name = "Bench queue"
[[instances.contact_flows]]
id = "flow"
name = "Bench flow"
queue = "q"
TOML
  urls=()
  for i in $(seq 1 "$n"); do
    log="$work/node$i.out"
    SWITCHBOARD_LOG="${SWITCHBOARD_LOG:-warn}" "$bin/switchboard" serve --config "$work/switchboard.toml" \
      > "$log" 2> "$log.err" &
    pids+=($!)
    url=""
    for _ in $(seq 1 600); do
      url=$(sed -n 's/^.* listening on \(http:[^ ]*\)$/\1/p' "$log" | head -n 1)
      [ -n "$url" ] && break
      sleep 0.1
    done
    [ -n "$url" ] || { cat "$log.err" >&2; exit 1; }
    urls+=("$url")
  done
  nodes=$(IFS=,; echo "${urls[*]}")
  common=(--switchboard "$nodes" --instance bench --contact-flow flow
    --access-key "$key" --secret-key "$secret" --chats "$CHATS")
  "$bin/loadgen" --scenario latency "${common[@]}" --rate "$RATE" --duration "$DURATION" \
    --out "bench/results/$day-cluster-$n" || echo "loadgen exited $? with $n node(s)"
  "$bin/loadgen" --scenario throughput "${common[@]}" --rate "$THROUGHPUT_START" \
    --duration "$STEP_DURATION" --max-p99-ms "$MAX_P99_MS" \
    --out "bench/results/$day-cluster-$n-throughput" || echo "loadgen exited $? with $n node(s)"
  stop_nodes
done
