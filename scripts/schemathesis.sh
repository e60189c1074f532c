#!/usr/bin/env bash
# API fuzzing: schemathesis against the served OpenAPI document, authenticated as a clinic admin,
# plus the anonymous endpoints. Fails on any 5xx, undocumented status, wrong content type or a
# response that does not match its schema. Usage: scripts/schemathesis.sh [extra schemathesis args]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v schemathesis >/dev/null 2>&1 || python3 -m pip install -q --disable-pip-version-check schemathesis
cargo build --locked --quiet
bin="${CARGO_TARGET_DIR:-target}/debug/aftercare"
work=$(mktemp -d)
port=${FUZZ_PORT:-8099}
export AFTERCARE__DATA_DIR="$work/data" AFTERCARE__SERVER__BIND="127.0.0.1:$port" AFTERCARE__LOG__LEVEL=warn
export AFTERCARE__AUTH__LOGIN_PER_IP_PER_MINUTE=100000 AFTERCARE__AUTH__LOGIN_PER_ACCOUNT_PER_MINUTE=100000
unset DATABASE_URL
AFTERCARE_ADMIN_PASSWORD='fuzz-password-123' "$bin" create-admin --clinic Fuzz --email admin@fuzz.example >/dev/null
"$bin" serve >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
token=$(curl -fsS "http://127.0.0.1:$port/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email":"admin@fuzz.example","password":"fuzz-password-123"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
schemathesis run "http://127.0.0.1:$port/openapi.json" --header "Authorization: Bearer $token" \
  --checks "$checks" --max-examples "${FUZZ_EXAMPLES:-20}" -w 2 --seed "${FUZZ_SEED:-20261122}" \
  --exclude-path-regex '/unsubscribe|/auth/' "$@"
schemathesis run "http://127.0.0.1:$port/openapi.json" \
  --checks "$checks" --max-examples "${FUZZ_EXAMPLES:-20}" -w 2 --seed "${FUZZ_SEED:-20261122}" \
  --include-path-regex '/unsubscribe|/auth/|/healthz|/readyz|/metrics' "$@"
if grep -q 'request failed' "$work/server.log"; then
  echo "the server logged failed requests:" >&2
  grep 'request failed' "$work/server.log" >&2
  exit 1
fi
