#!/usr/bin/env bash
# Stop controllers started with scripts/start-controllers.sh --detach (PID files under
# ./data/controllers).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${RMQ_DATA:-$(pwd)/data/controllers}
for name in controller-n2 controller-n1 controller-n0; do
  f="$DATA/$name.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    echo "stopped $name (pid $pid)"
  fi
  rm -f "$f"
done
