#!/usr/bin/env bash
# Stop a cluster started with scripts/start-cluster.sh --detach (PID files under ./data/cluster):
# slaves, then masters, then name servers.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
rmq_stop_pidfiles "${RMQ_DATA:-$(pwd)/data/cluster}" broker-b-s broker-a-s broker-b broker-a namesrv-9877 namesrv-9876
