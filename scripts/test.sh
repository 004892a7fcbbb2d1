#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs, then checks formatting, lints,
# the generated model routes, the Rust tests (unit and integration, against the real binary),
# the boto3 conformance suite, the browser tests (headless Chromium) and a short run of every fuzz
# target. Idempotent; safe to run again and again.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build output lives outside the clone so repeated runs (and fresh clones) build incrementally.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard-target}"
export CARGO_TERM_COLOR=never

step() { printf '\n== %s\n' "$*"; }

step "prerequisites"
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required (https://rustup.rs); this machine has none" >&2
  exit 1
fi
if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq python3 python3-pip python3-venv >/dev/null
fi
# The Python test clients live in their own environment, outside the clone, so their versions
# (boto3 new enough to know every member the server implements) never fight the machine's.
VENV="${SWITCHBOARD_VENV:-$HOME/.cache/switchboard-venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" || {
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$VENV"
  }
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/conformance/requirements.txt
# Only what is missing: a machine may have Node.js from elsewhere, which Debian's npm conflicts with.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
# The scripts the binary serves, type-checked as served: each page's script with participant/participant.js.
(cd tests/e2e && npx --no-install tsc --noEmit -p ../../crates/switchboard/assets/agent \
  && npx --no-install tsc --noEmit -p ../../crates/switchboard/assets/widget \
  && npx --no-install tsc --noEmit -p ../../crates/switchboard/assets/ccp)

# The store tests run against PostgreSQL as well (127.0.0.1:5432, user postgres, no password;
# SWITCHBOARD_TEST_POSTGRES names another server). Start it if it is installed but stopped;
# install it if the machine has none.
postgres_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
if [ -z "${SWITCHBOARD_TEST_POSTGRES:-}" ] && ! postgres_up; then
  if [ ! -d /etc/postgresql ] || [ -z "$(ls /etc/postgresql)" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    # Test connections from this machine need no password, as on the development machines.
    for hba in /etc/postgresql/*/main/pg_hba.conf; do
      sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
    done
  fi
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 60); do postgres_up && break; sleep 0.5; done
  postgres_up || { echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
fi
# Plain `cargo test` skips the PostgreSQL tests on a machine without it; here they must run.
export SWITCHBOARD_REQUIRE_POSTGRES=1

# The cluster tests join nodes through NATS on 127.0.0.1:4222 (SWITCHBOARD_TEST_NATS names another).
nats_up() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }
if [ -z "${SWITCHBOARD_TEST_NATS:-}" ] && ! nats_up; then
  if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  fi
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server || echo /usr/sbin/nats-server)" -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  for _ in $(seq 60); do nats_up && break; sleep 0.5; done
  nats_up || { echo "NATS did not start on 127.0.0.1:4222" >&2; exit 1; }
fi

step "generated code is up to date"
# The AWS models come from the botocore that requirements.txt pins, not from outside the clone.
"$VENV/bin/python" tools/codegen/model_routes.py --check

step "cargo fmt --check"
cargo fmt --all -- --check
# The fuzz targets are a workspace of their own (nightly only), so cargo fmt --all skips them.
rustfmt --check --edition 2021 fuzz/fuzz_targets/*.rs

step "cargo clippy"
cargo clippy --locked --all-targets -- -D warnings

step "cargo test"
# The loadgen smoke test runs the server and relay binaries: build the whole workspace first.
cargo build --locked --workspace
cargo test --locked --workspace

step "boto3 conformance suite"
cargo build --locked -p switchboard
SWITCHBOARD_BIN="$CARGO_TARGET_DIR/debug/switchboard" "$VENV/bin/python" -m pytest -q tests/conformance

step "browser tests (headless Chromium)"
# Screenshots of every step are left in tests/e2e/artifacts/.
(cd tests/e2e && SWITCHBOARD_BIN="$CARGO_TARGET_DIR/debug/switchboard" node --test --test-concurrency=1)

step "fuzz targets (5 s each)"
# Keeps every target building and catches a regression on an easy input; long runs are recorded
# in docs/security.md (bash scripts/fuzz.sh SECONDS for longer ones).
bash scripts/fuzz.sh 5
