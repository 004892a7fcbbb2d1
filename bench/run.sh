#!/usr/bin/env bash
# Benchmarks Switchboard next to the relay ceiling on this machine.
#
#   bench/run.sh [small|target] [scenario ...]
#   bench/run.sh ratio
#   bench/run.sh flows
#
# Builds in release mode, starts Switchboard with a fresh data directory (durable SQLite) and the
# relay, runs the scenarios (default: latency throughput idle catchup) with loadgen, and writes
# bench/results/<date>-<scenario>.{json,md,png}. `small` is a quick look; `target` is the scale the
# performance targets are stated at. Any figure can be changed through the environment variables
# below (e.g. LATENCY_CHATS=2000 bench/run.sh target latency), and SWITCHBOARD_BIN runs another
# build of the server against this tree's load generator.
#
# `ratio` is the figure noise moves least: the server's CPU time per delivered message over the
# relay's in the same run, for the latency workload (2,000 chats, 4,000 msg/s, 15 s), run three
# times; it prints the median ratio. Every change to the message path states it before and after.
#
# `flows` starts chats (StartChatContact, a bot, both connections and sockets) in the flow that is
# only a queue and then in a 10-action flow-language flow, in one run: chats started per second
# and the server's CPU per chat, for each.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard-target}"

scale="${1:-small}"
shift || true
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(latency throughput idle catchup)

case "$scale" in
  small)
    : "${LATENCY_CHATS:=200}" "${LATENCY_RATE:=1000}" "${DURATION:=10}"
    : "${THROUGHPUT_CHATS:=200}" "${THROUGHPUT_START:=1000}" "${STEP_DURATION:=5}"
    : "${IDLE_CHATS:=1000}" "${CATCHUP_CHATS:=500}" "${CATCHUP_RATE:=500}" ;;
  ratio)
    : "${LATENCY_CHATS:=2000}" "${LATENCY_RATE:=4000}" "${DURATION:=15}" "${RUNS:=3}"
    scenarios=(latency) ;;
  flows)
    : "${STARTS_CHATS:=2000}" "${STARTS_CONCURRENCY:=64}"
    scenarios=(starts) ;;
  target)
    : "${LATENCY_CHATS:=10000}" "${LATENCY_RATE:=5000}" "${DURATION:=30}"
    : "${THROUGHPUT_CHATS:=1000}" "${THROUGHPUT_START:=2000}" "${STEP_DURATION:=10}"
    : "${IDLE_CHATS:=10000}" "${CATCHUP_CHATS:=9500}" "${CATCHUP_RATE:=2000}" ;;
  *) echo "scale must be small, target, ratio or flows" >&2; exit 1 ;;
esac
: "${SOURCE_IPS:=8}"
# This machine is noisy: RUNS=3 runs each scenario three times and keeps the median run.
: "${RUNS:=1}"

[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || \
  { apt-get update -qq && apt-get install -y -qq fonts-dejavu-core >/dev/null; }
cargo build --release --locked -p switchboard -p loadgen -p relay
bin="$CARGO_TARGET_DIR/release"
# SWITCHBOARD_BIN measures another build of the server (an A/B against an older commit) with
# this tree's load generator and relay.
server_bin="${SWITCHBOARD_BIN:-$bin/switchboard}"
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# Every socket is a file on both sides (server and loadgen are one process each): a run can hold
# at most (open-file limit - headroom) / 2 chats. Cap the scale there and say so. The headroom
# covers the HTTP connections SendMessage needs beside the sockets: with less, a latency spike
# opens more of them, the server runs out of files, and its accept loop stalls.
max_chats=$(( ($(ulimit -n) - 1000) / 2 ))
cap() {
  local name=$1 value=${!1:-0}
  if [ "$value" -gt "$max_chats" ]; then
    echo "note: $name=$value needs more open files than this machine allows ($(ulimit -n)); using $max_chats" >&2
    printf -v "$name" '%s' "$max_chats"
  fi
}
cap LATENCY_CHATS; cap THROUGHPUT_CHATS; cap IDLE_CHATS; cap CATCHUP_CHATS

work=$(mktemp -d)
stop_servers() {
  kill "${sb_pid:-}" "${relay_pid:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  cp "$work/switchboard.out.err" bench/results/last-server.log 2>/dev/null || true
}
cleanup() { stop_servers; rm -rf "$work"; }
trap cleanup EXIT

key="BENCH$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)"
secret=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
cat > "$work/switchboard.toml" <<TOML
listen = "127.0.0.1:0"
storage = "sqlite://$work/data/switchboard.db"
[limits]
sockets_per_participant = 5
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
# `flows` adds hours and a flow-language flow (left out otherwise, so that an older build given as
# SWITCHBOARD_BIN reads the configuration).
if [ "$scale" = flows ]; then
  cat >> "$work/switchboard.toml" <<'TOML'
[[instances.hours_of_operation]]
id = "always"
name = "Always"
time_zone = "UTC"
config = [{ day = "MONDAY", start = "00:00", end = "00:00" }, { day = "TUESDAY", start = "00:00", end = "00:00" },
          { day = "WEDNESDAY", start = "00:00", end = "00:00" }, { day = "THURSDAY", start = "00:00", end = "00:00" },
          { day = "FRIDAY", start = "00:00", end = "00:00" }, { day = "SATURDAY", start = "00:00", end = "00:00" },
          { day = "SUNDAY", start = "00:00", end = "00:00" }]
# Ten actions: what a typical inbound chat flow does before it queues the chat.
[[instances.contact_flows]]
id = "ten-actions"
name = "Bench flow-language flow"
content = '''
{"Version": "2019-10-30", "StartAction": "greet", "Actions": [
  {"Identifier": "greet", "Type": "MessageParticipant", "Parameters": {"Text": "Hello, thanks for waiting."},
   "Transitions": {"NextAction": "set"}},
  {"Identifier": "set", "Type": "UpdateContactAttributes", "Parameters": {"Attributes": {"source": "bench"}},
   "Transitions": {"NextAction": "compare", "Errors": [{"NextAction": "bye", "ErrorType": "NoMatchingError"}]}},
  {"Identifier": "compare", "Type": "Compare", "Parameters": {"ComparisonValue": "$.Attributes.source"},
   "Transitions": {"NextAction": "hours", "Conditions": [
     {"NextAction": "hours", "Condition": {"Operator": "Equals", "Operands": ["bench"]}}],
     "Errors": [{"NextAction": "hours", "ErrorType": "NoMatchingCondition"}]}},
  {"Identifier": "hours", "Type": "CheckHoursOfOperation", "Parameters": {"HoursOfOperationId": "always"},
   "Transitions": {"Conditions": [
     {"NextAction": "split", "Condition": {"Operator": "Equals", "Operands": ["True"]}},
     {"NextAction": "bye", "Condition": {"Operator": "Equals", "Operands": ["False"]}}],
     "Errors": [{"NextAction": "bye", "ErrorType": "NoMatchingError"}]}},
  {"Identifier": "split", "Type": "DistributeByPercentage", "Parameters": {},
   "Transitions": {"NextAction": "logging", "Conditions": [
     {"NextAction": "logging", "Condition": {"Operator": "NumericLessThan", "Operands": ["50"]}}],
     "Errors": [{"NextAction": "logging", "ErrorType": "NoMatchingCondition"}]}},
  {"Identifier": "logging", "Type": "UpdateFlowLoggingBehavior", "Parameters": {"FlowLoggingBehavior": "Enabled"},
   "Transitions": {"NextAction": "mark"}},
  {"Identifier": "mark", "Type": "UpdateContactAttributes", "Parameters": {"Attributes": {"routed": "true"}},
   "Transitions": {"NextAction": "target", "Errors": [{"NextAction": "bye", "ErrorType": "NoMatchingError"}]}},
  {"Identifier": "target", "Type": "UpdateContactTargetQueue", "Parameters": {"QueueId": "q"},
   "Transitions": {"NextAction": "transfer", "Errors": [{"NextAction": "bye", "ErrorType": "NoMatchingError"}]}},
  {"Identifier": "transfer", "Type": "TransferContactToQueue", "Parameters": {},
   "Transitions": {"Errors": [{"NextAction": "bye", "ErrorType": "QueueAtCapacity"},
                              {"NextAction": "bye", "ErrorType": "NoMatchingError"}]}},
  {"Identifier": "bye", "Type": "DisconnectParticipant", "Parameters": {}}]}
'''
TOML
fi

# Starts a server in the background and waits for its readiness line; sets $url and $pid.
start() {
  local log="$work/$1.out"; shift
  "$@" > "$log" 2> "$log.err" &
  pid=$!
  for _ in $(seq 1 600); do
    url=$(sed -n 's/^.* listening on \(http:[^ ]*\)$/\1/p' "$log" | head -n 1)
    [ -n "$url" ] && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$log.err" >&2; exit 1; }
    sleep 0.1
  done
  echo "server did not become ready" >&2; exit 1
}
day=$(date -u +%F)
for scenario in "${scenarios[@]}"; do
  case "$scenario" in
    latency)    args=(--chats "$LATENCY_CHATS" --rate "$LATENCY_RATE" --duration "$DURATION") ;;
    throughput) args=(--chats "$THROUGHPUT_CHATS" --rate "$THROUGHPUT_START" --duration "$STEP_DURATION") ;;
    idle)       args=(--chats "$IDLE_CHATS" --duration "$DURATION") ;;
    catchup)    args=(--chats "$CATCHUP_CHATS" --rate "$CATCHUP_RATE" --duration "$DURATION") ;;
    starts)     args=(--chats "$STARTS_CHATS" --concurrency "$STARTS_CONCURRENCY" --flow-contact-flow ten-actions) ;;
    *) echo "unknown scenario $scenario" >&2; exit 1 ;;
  esac
  runs=()
  for run in $(seq 1 "$RUNS"); do
    echo "== $scenario ($scale, run $run of $RUNS)"
    out="bench/results/$day-$scenario"
    [ "$RUNS" -eq 1 ] || out="$work/$scenario-run$run"
    # Fresh servers (and a fresh data directory) for every run, so no figure carries memory or
    # data over from another.
    stop_servers
    rm -rf "$work/data"
    SWITCHBOARD_LOG="${SWITCHBOARD_LOG:-warn}" TOKIO_WORKER_THREADS="${SERVER_THREADS:-2}" \
      start switchboard "$server_bin" serve --config "$work/switchboard.toml"
    sb_url=$url; sb_pid=$pid
    start relay "$bin/relay" 127.0.0.1:0
    relay_url=$url; relay_pid=$pid
    common=(--switchboard "$sb_url" --switchboard-pid "$sb_pid" --relay "$relay_url" --relay-pid "$relay_pid"
            --instance bench --contact-flow flow --access-key "$key" --secret-key "$secret"
            --source-ips "$SOURCE_IPS")
    "$bin/loadgen" --scenario "$scenario" "${common[@]}" "${args[@]}" --out "$out" || echo "loadgen exited $? for $scenario"
    runs+=("$out")
  done
  # Several runs: the median one becomes the scenario's result, and its summary lists them all.
  [ "$RUNS" -eq 1 ] || python3 bench/median.py "bench/results/$day-$scenario" "${runs[@]}"
  if [ "$scale" = ratio ]; then
    python3 - "${runs[@]}" <<'PY'
import json, statistics, sys
ratios = [json.load(open(f"{run}.json")).get("cpu_ratio") for run in sys.argv[1:]]
known = sorted(r for r in ratios if r)
print("CPU per delivered message, switchboard / relay, per run: " + ", ".join(f"{r:.2f}" if r else "-" for r in ratios))
print(f"median ratio: {statistics.median(known):.2f}" if known else "median ratio: - (no run measured both servers)")
PY
  fi
done
