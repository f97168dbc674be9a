#!/usr/bin/env bash
# Stop a stack started with scripts/start-stack.sh --detach (PID files under ./data).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${RMQ_DATA:-$(pwd)/data}
for name in mqconsole mqbroker mqnamesrv; do
  f="$DATA/$name.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    echo "stopped $name (pid $pid)"
  fi
  rm -f "$f"
done
