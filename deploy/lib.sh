# Sourced by deploy/*.sh and scripts/containers-test.sh: podman with this project's settings.
# shellcheck shell=bash
# Our containers.conf (no default ulimits) without touching /etc; runc as the runtime.
export CONTAINERS_CONF=${CONTAINERS_CONF:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/podman/containers.conf}
podman() { command podman --runtime=runc "$@"; }
