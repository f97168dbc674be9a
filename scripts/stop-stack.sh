#!/usr/bin/env bash
# Stop a stack started with scripts/start-stack.sh --detach (PID files under ./data).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
rmq_stop_pidfiles "${RMQ_DATA:-$(pwd)/data}" mqconsole mqbroker mqnamesrv
