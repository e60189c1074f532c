#!/usr/bin/env bash
# Instructions per request of the release server, counted by valgrind's callgrind: repeatable
# whatever else the machine does, unlike time. For deciding what to change; the load bench
# (scripts/bench/http.sh) gives the figures.
#
#   scripts/bench/callgrind.sh                     # the three reads of the load bench
#   CG_PATHS="admin:/api/v1/patients/p-00000001" scripts/bench/callgrind.sh
#
# It needs a seeded database: the first run makes one with the load bench
# (BENCH_KEEP_DB=target/callgrind BENCH_SIZES=large, ~2 min) and later runs reuse
# target/callgrind/large.db (CG_DB=… for another). Each request path runs on its own server over a
# fresh copy: log in, 50 requests to warm up, then CG_REQUESTS (200) sequential requests counted.
# Per request it prints instructions and response bytes; the profile is kept next to the database
# (`callgrind_annotate --inclusive=yes target/callgrind/<name>.out` shows where they go).
# CG_BIN=path profiles another build of the server (an A/B against the current one).
# CG_DATABASE_URL=postgres://… profiles against that PostgreSQL database instead (one the load bench
# seeded, copied with pg_dump while it ran; the profile counts only the server process, not
# PostgreSQL's own work).
# One caveat: requests come one at a time, so each read's audit event is stored in a transaction
# of a few events, where under load hundreds share one.
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind; }
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }
command -v callgrind_control >/dev/null || { echo "callgrind_control is missing (valgrind)" >&2; exit 1; }

out=target/callgrind
db=${CG_DB:-$out/large.db}
requests=${CG_REQUESTS:-200}
paths=${CG_PATHS:-"patient:/api/v1/me/reminders admin:/api/v1/patients admin:/api/v1/patients/p-00000001/progress"}
mkdir -p "$out"

cargo build --release --locked --bin aftercare
if [ -z "${CG_DATABASE_URL:-}" ] && [ ! -f "$db" ]; then
  echo "seeding a large clinic with the load bench (BENCH_KEEP_DB=$out)"
  command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
  BENCH_KEEP_DB="$out" BENCH_SIZES=large BENCH_SCENARIOS=progress BENCH_RUNS=1 BENCH_DURATION=1 \
    BENCH_WARMUP=0 cargo bench --locked --bench load >/dev/null
fi

bin=${CG_BIN:-$PWD/target/release/aftercare}
for spec in $paths; do
  role=${spec%%:*}
  path=${spec#*:}
  name=$(echo "$path" | tr -c 'a-zA-Z0-9\n' '_' | sed 's/^_*//')
  dir=$(mktemp -d)
  if [ -n "${CG_DATABASE_URL:-}" ]; then
    url=$CG_DATABASE_URL
  else
    cp "$db" "$dir/aftercare.db"
    url="sqlite://$dir/aftercare.db"
  fi
  port=$((20000 + RANDOM % 20000))
  : >"$dir/none.toml" # AFTERCARE_CONFIG must name a file that exists (an empty one: no settings)
  env -i PATH="$PATH" AFTERCARE_CONFIG="$dir/none.toml" DATABASE_URL="$url" \
    AFTERCARE__DATA_DIR="$dir" AFTERCARE__SERVER__BIND="127.0.0.1:$port" AFTERCARE__SERVER__WORKERS=2 \
    AFTERCARE__AUTH__JWT_SECRET='bench-secret-bench-secret-bench-secret!' \
    AFTERCARE__AUTH__LOGIN_PER_IP_PER_MINUTE=1000000000 AFTERCARE__AUTH__LOGIN_PER_ACCOUNT_PER_MINUTE=1000000000 \
    AFTERCARE__DISPATCH__ENABLED=false AFTERCARE__LOG__FORMAT=json AFTERCARE__LOG__LEVEL=info \
    valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$bin" serve >"$dir/server.log" 2>&1 &
  vpid=$!
  for _ in $(seq 1 600); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.2; done
  if [ "$role" = admin ]; then email=admin@bench.example; else email=patient1@bench.example; fi
  token=$(curl -fs -X POST -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"correct horse battery staple\"}" \
    "http://127.0.0.1:$port/api/v1/auth/login" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
  get() { curl -fs -H "authorization: Bearer $token" "http://127.0.0.1:$port$path"; }
  for _ in $(seq 1 50); do get >/dev/null; done
  bytes=$(get | wc -c)
  sleep 1
  callgrind_control -z "$vpid" >/dev/null 2>&1
  for _ in $(seq 1 "$requests"); do get >/dev/null; done
  sleep 1
  callgrind_control -d "$vpid" >/dev/null 2>&1
  kill "$vpid"
  wait "$vpid" 2>/dev/null || true
  total=$(awk '/^(summary|totals):/ { print $2; exit }' "$dir/cg.out.1")
  cp "$dir/cg.out.1" "$out/$name.out"
  printf '%-50s %10d instructions/request  %7d bytes\n' "$role $path" $((total / requests)) "$bytes"
  rm -rf "$dir"
done
