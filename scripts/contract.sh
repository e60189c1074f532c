#!/usr/bin/env bash
# The API contract as integrators meet it: Redocly's recommended rules on openapi/openapi.json
# (0 errors, 0 warnings), then a Python client
# (openapi-python-client) and TypeScript types (openapi-typescript, type-checked by tsc)
# generated from it without a warning. Needs python3 and npm; installs the tools in a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
doc=openapi/openapi.json
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== Redocly (recommended)"
npm install --silent --prefix "$work/node" @redocly/cli@2 openapi-typescript@7 typescript@5 >/dev/null
lint=$("$work/node/node_modules/.bin/redocly" lint "$doc" --format=summary 2>&1) || { echo "$lint"; exit 1; }
echo "$lint" | grep -E "valid|error|warning" | grep -v -i deprecat || true
if echo "$lint" | grep -qE "^(error|warning) "; then
  echo "Redocly reported problems" >&2
  exit 1
fi

echo "== Python client (openapi-python-client)"
python3 -m venv "$work/py"
"$work/py/bin/pip" install -q --disable-pip-version-check openapi-python-client ruff
out=$(PATH="$work/py/bin:$PATH" "$work/py/bin/openapi-python-client" generate --path "$doc" --meta none \
  --config scripts/contract/python-client.yaml --output-path "$work/client" 2>&1)
echo "$out"
if echo "$out" | grep -qiE "warning|cannot|error"; then
  echo "the Python client was generated with warnings" >&2
  exit 1
fi
if ls "$work/client/models" | grep -qE "type_[0-9]"; then
  echo "anonymous unions in the Python client: $(ls "$work/client/models" | grep -E "type_[0-9]")" >&2
  exit 1
fi
"$work/py/bin/python" -c "import sys; sys.path.insert(0, '$work'); import client; from client.api.auth import login; print('python client imports:', login.__name__)"

echo "== TypeScript types (openapi-typescript, tsc --strict)"
out=$("$work/node/node_modules/.bin/openapi-typescript" "$doc" -o "$work/api.d.ts" 2>&1)
echo "$out"
if echo "$out" | grep -q "⚠"; then
  echo "openapi-typescript warned" >&2
  exit 1
fi
cat > "$work/use.ts" <<'TS'
import type { components, paths } from "./api";
type Patient = components["schemas"]["PatientView"];
type Login = paths["/api/v1/auth/login"]["post"]["responses"]["200"]["content"]["application/json"];
export const shown: Array<Patient["id"] | Login["access_token"]> = [];
TS
(cd "$work" && "$work/node/node_modules/.bin/tsc" --noEmit --strict use.ts api.d.ts)
echo "contract: ok"
