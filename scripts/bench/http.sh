#!/usr/bin/env bash
# HTTP load benchmark (issue 7): builds the release server, seeds a clinic at two sizes, serves
# it with `target/release/aftercare serve` on loopback, drives it with wrk and prints req/s,
# p50/p99 latency, the ratio to a single-query ceiling, and the server's RSS.
#
#   scripts/bench/http.sh                                     # SQLite (a temp file)
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres scripts/bench/http.sh
#
# Knobs (environment): BENCH_RUNS (3), BENCH_DURATION (seconds per measurement, 10),
# BENCH_WARMUP (seconds, 2), BENCH_CONNECTIONS (32), BENCH_THREADS (2), BENCH_WORKERS (cores),
# BENCH_SIZES (small,large), BENCH_LOG (server log level, info). See benches/load.rs.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v wrk >/dev/null 2>&1; then
  echo "wrk not found; installing the Debian package" >&2
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk
  else
    sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk
  fi
fi

cargo build --release --locked --bin aftercare
exec cargo bench --locked --bench load
