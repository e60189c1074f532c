#!/usr/bin/env bash
# The fault drills moved to `cargo xtask drills` (xtask/src/drills.rs); this forwards to it.
#
#   scripts/drills.sh [drain|kill|smtp-outage|smtp-hang|pg-restart|photos|all] [--replicas 3] [--reminders N] ...
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo xtask drills "$@"
