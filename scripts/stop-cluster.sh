#!/usr/bin/env bash
# Stop a cluster started with scripts/start-cluster.sh --detach (PID files under ./data/cluster):
# slaves, then masters, then name servers.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${RMQ_DATA:-$(pwd)/data/cluster}
for name in broker-b-s broker-a-s broker-b broker-a namesrv-9877 namesrv-9876; do
  f="$DATA/$name.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    echo "stopped $name (pid $pid)"
  fi
  rm -f "$f"
done
