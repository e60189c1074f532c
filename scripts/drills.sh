#!/usr/bin/env bash
# Fault drills (issue 7): builds the `aftercare` binary, then runs benches/drills.rs.
#
#   scripts/drills.sh [smtp|kill|pg-restart|photos|all]     (default: all)
#
# Needs: PostgreSQL at DRILLS_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres,
# trust auth) for `kill` and `pg-restart`; root for `photos` (tmpfs mounts) and for
# `pg-restart` (`pg_ctlcluster 15 main restart`, or DRILLS_PG_RESTART). DRILLS_PROFILE=debug
# runs the replicas from a debug build instead of a release one. Other settings: see the top of
# benches/drills.rs.
set -euo pipefail
cd "$(dirname "$0")/.."

drill="${1:-all}"
case "$drill" in
  smtp|kill|pg-restart|photos|all) ;;
  *) echo "usage: $0 [smtp|kill|pg-restart|photos|all]" >&2; exit 2 ;;
esac

profile="${DRILLS_PROFILE:-release}"
if [ "$profile" = release ]; then
  cargo build --release --bin aftercare
else
  cargo build --bin aftercare
fi
export DRILLS_BIN="${DRILLS_BIN:-$PWD/target/$profile/aftercare}"

cleanup() {
  local rc=$?
  set +e
  # The drill unmounts its tmpfs itself; this catches a drill killed half-way.
  awk '$2 ~ /aftercare-drills-.*\/photos$/ { print $2 }' /proc/mounts 2>/dev/null | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  done
  if [ "$drill" = pg-restart ] || [ "$drill" = all ]; then
    if command -v pg_isready >/dev/null && ! pg_isready -h 127.0.0.1 -q; then
      echo "PostgreSQL is not accepting connections; starting it" >&2
      pg_ctlcluster 15 main start
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT

cargo bench --bench drills -- "$drill"
