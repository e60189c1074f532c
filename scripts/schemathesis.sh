#!/usr/bin/env bash
# API fuzzing: schemathesis against the served OpenAPI document, authenticated as each role (clinic
# admin, clinician, patient with the app), plus the anonymous endpoints. Fails on any 5xx,
# undocumented status, wrong content type, response that does not match its schema, created resource
# that cannot be read, deleted one that still can, operation that ignores a missing token, or
# method that is not refused with 405.
# Usage: scripts/schemathesis.sh [extra schemathesis args]
set -euo pipefail
cd "$(dirname "$0")/.."
# Pinned: each release changes what is generated and checked; a new one is adopted deliberately.
version=4.32.5
[ "$(schemathesis --version 2>/dev/null)" = "schemathesis, version $version" ] ||
  python3 -m pip install -q --disable-pip-version-check "schemathesis==$version"
cargo build --locked --quiet
bin="${CARGO_TARGET_DIR:-target}/debug/aftercare"
work=$(mktemp -d)
port=${FUZZ_PORT:-8099}
export AFTERCARE__DATA_DIR="$work/data" AFTERCARE__SERVER__BIND="127.0.0.1:$port" AFTERCARE__LOG__LEVEL=warn
export AFTERCARE__AUTH__LOGIN_PER_IP_PER_MINUTE=100000 AFTERCARE__AUTH__LOGIN_PER_ACCOUNT_PER_MINUTE=100000
# /metrics on the main port answers only this token (401 to the roles' and the anonymous requests).
export AFTERCARE__METRICS__TOKEN="fuzz-metrics-token-$RANDOM$RANDOM"
unset DATABASE_URL
AFTERCARE_ADMIN_PASSWORD='quiet-lantern-harbour-fuzz-29' "$bin" create-admin --clinic Fuzz --email admin@fuzz.example >/dev/null
"$bin" serve >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "http://127.0.0.1:$port/metrics" -H "authorization: Bearer $AFTERCARE__METRICS__TOKEN" |
  grep -q '^# TYPE aftercare_reminders_due gauge' || { echo "/metrics does not answer its token" >&2; exit 1; }
api="http://127.0.0.1:$port/api/v1"
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
login() {
  curl -fsS "$api/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"quiet-lantern-harbour-fuzz-29\"}" | json_field access_token
}
# The invitation token in the newest mail file to $1 (mail goes to .eml files under the data dir).
invitation_token() {
  python3 - "$work/data/mail" "$1" <<'PY'
import email, email.policy, pathlib, re, sys
mails = sorted(pathlib.Path(sys.argv[1]).glob("*.eml"), key=lambda p: p.stat().st_mtime)
for path in reversed(mails):
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    if sys.argv[2] in str(msg["To"]):
        body = msg.get_body(preferencelist=("plain",)).get_content()
        print(re.search(r"token=([A-Za-z0-9_-]+)", body).group(1))
        break
PY
}
accept() {
  curl -fsS "$api/auth/accept-invitation" -H 'content-type: application/json' \
    -d "{\"token\":\"$(invitation_token "$1")\",\"password\":\"quiet-lantern-harbour-fuzz-29\"}" | json_field access_token
}
admin=$(login admin@fuzz.example)
# A clinician and a patient with the app, so every role is fuzzed with real data behind it.
curl -fsS "$api/staff/invitations" -H "authorization: Bearer $admin" -H 'content-type: application/json' \
  -d '{"email":"clinician@fuzz.example","role":"clinician"}' >/dev/null
clinician=$(accept clinician@fuzz.example)
curl -fsS "$api/patients" -H "authorization: Bearer $admin" -H 'content-type: application/json' \
  -d '{"name":"Fuzz Patient","email":"patient@fuzz.example","time_zone":"Europe/London"}' >/dev/null
patient=$(accept patient@fuzz.example)
# Each valid generated Idempotency-Key made unique (scripts/fuzz_hooks.py), as a client's would be.
export PYTHONPATH="$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=fuzz_hooks
# Beyond status, type and schema: the stateful phase follows the document's links and checks that a created
# resource can be read and a deleted one is gone; every operation refuses a request without its token and
# answers 405 to methods it does not have.
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
checks+=,use_after_free,ensure_resource_availability,ignored_auth,unsupported_method
for role in admin clinician patient; do
  echo "== schemathesis as $role"
  schemathesis --config-file scripts/schemathesis.toml run "http://127.0.0.1:$port/openapi.json" \
    --header "Authorization: Bearer ${!role}" \
    --checks "$checks" --max-examples "${FUZZ_EXAMPLES:-20}" -w "${FUZZ_WORKERS:-1}" --seed "${FUZZ_SEED:-20261122}" \
    --exclude-path-regex '/unsubscribe|/auth/' "$@"
done
echo "== schemathesis anonymous (no stateful phase: the links join authenticated operations)"
schemathesis run "http://127.0.0.1:$port/openapi.json" \
  --checks "$checks" --max-examples "${FUZZ_EXAMPLES:-20}" -w "${FUZZ_WORKERS:-1}" --seed "${FUZZ_SEED:-20261122}" \
  --include-path-regex '/unsubscribe|/auth/|/healthz|/readyz|/metrics' --phases examples,coverage,fuzzing "$@"
if grep -q 'request failed' "$work/server.log"; then
  echo "the server logged failed requests:" >&2
  grep 'request failed' "$work/server.log" >&2
  exit 1
fi
