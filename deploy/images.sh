#!/usr/bin/env bash
# Build the container images of every rmq binary with podman, FROM scratch: the binary, the
# shared libraries `ldd` lists (glibc, libgcc_s, libm), `mqhealth` for the health check, an
# /etc/passwd with the non-root user `rmq` (uid 10001) and its data/log directories. No base
# image is pulled (none can be, here); nothing but our binaries and glibc is inside.
#
#   deploy/images.sh                     # release build (cargo build --release), then images
#   RMQ_PROFILE=debug deploy/images.sh   # from target/debug (CI: the binaries `cargo test` built;
#                                        # debug info is stripped from the copies)
#   RMQ_SKIP_BUILD=1 deploy/images.sh    # use the binaries already built (builds if one is missing)
#   IMAGES="mqnamesrv mqbroker" deploy/images.sh   # a subset
#   RMQ_IMAGE_TAG=ct123 deploy/images.sh # only that tag (the CI test: a tag of its own, so a
#                                        # concurrent build on the same podman cannot swap them)
#
# Images are tagged `rmq/<binary>:<version>` and `rmq/<binary>:latest` (or RMQ_IMAGE_TAG alone);
# the last lines print each image's size. Needs: podman + runc (Debian), binutils (strip).
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/lib.sh

PROFILE=${RMQ_PROFILE:-release}
ALL="mqnamesrv mqbroker mqcontroller mqconsole mqadmin chat-gateway chat-observer presence-service"
IMAGES=${IMAGES:-$ALL}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
BIN_DIR=${CARGO_TARGET_DIR:-target}/$PROFILE
TAGS="$VERSION latest"
[ -z "${RMQ_IMAGE_TAG:-}" ] || TAGS=$RMQ_IMAGE_TAG

# With RMQ_SKIP_BUILD=1 (CI: `cargo test --workspace` built them) build only if one is missing.
need_build=1
if [ -n "${RMQ_SKIP_BUILD:-}" ]; then
  need_build=0
  for b in mqhealth $IMAGES; do [ -x "$BIN_DIR/$b" ] || need_build=1; done
fi
if [ "$need_build" = 1 ]; then
  flag=""; [ "$PROFILE" = release ] && flag=--release
  # The workspace's one binaries build (scripts/lib.sh rmq_build): a subset of packages would
  # compile a second copy of the dependencies.
  cargo build $flag --workspace --bins --examples
fi

# Per image: ports (EXPOSE), volumes, default environment, health check, default arguments.
# The environment uses each binary's own override style: MQNAMESRV_*/MQBROKER_* keys for the
# Java-properties configs, the seed-style names for the services.
spec() { # name -> sets PORTS VOLUMES ENVS HEALTH CMD
  PORTS="" VOLUMES="" ENVS="" HEALTH="" CMD=""
  case $1 in
    mqnamesrv)
      PORTS="9876 5558"; VOLUMES="/var/lib/rmq"
      ENVS="MQNAMESRV_KV_CONFIG_PATH=/var/lib/rmq/namesrv/kvConfig.json MQNAMESRV_METRICS_EXPORTER_TYPE=PROM"
      HEALTH='"http", "127.0.0.1:5558/health"' ;;
    mqbroker)
      PORTS="10911 10909 5557"; VOLUMES="/var/lib/rmq"
      ENVS="MQBROKER_STORE_PATH_ROOT_DIR=/var/lib/rmq/store MQBROKER_METRICS_EXPORTER_TYPE=PROM"
      HEALTH='"http", "127.0.0.1:5557/health"' ;;
    mqcontroller)
      # Listens on its own address in controllerDLegerPeers (9878 in conf/controller-3n).
      PORTS="9878"; VOLUMES="/var/lib/rmq"
      ENVS="MQCONTROLLER_CONTROLLER_STORE_PATH=/var/lib/rmq/controller"
      HEALTH='"tcp", "127.0.0.1:9878"' ;;
    mqconsole)
      PORTS="8180"; VOLUMES="/var/lib/rmq"
      HEALTH='"http", "127.0.0.1:8180/health"'
      CMD='"--listen", "0.0.0.0:8180", "--data-path", "/var/lib/rmq/console"' ;;
    mqadmin) CMD='"--help"' ;;
    chat-gateway)
      PORTS="3000"; VOLUMES="/var/lib/rmq"; ENVS="OFFSETS_DIR=/var/lib/rmq/offsets"
      HEALTH='"http", "127.0.0.1:3000/health"' ;;
    chat-observer)
      PORTS="3010"; HEALTH='"http", "127.0.0.1:3010/health"' ;;
    presence-service)
      PORTS="3005"; HEALTH='"http", "127.0.0.1:3005/health"' ;;
    *) echo "unknown image $1" >&2; return 1 ;;
  esac
}

# Copy a binary and its shared libraries (with the dynamic loader) under $1.
add_binary() { # rootfs binary
  local root=$1 bin=$2
  install -D -m 0755 "$bin" "$root/usr/local/bin/$(basename "$bin")"
  strip --strip-debug "$root/usr/local/bin/$(basename "$bin")"
  ldd "$bin" | awk '/=> \//{print $3} /^[[:space:]]*\/lib/{print $1}' | while read -r lib; do
    [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
builds=()
for name in $IMAGES; do
  spec "$name"
  bin="$BIN_DIR/$name"
  [ -x "$bin" ] || { echo "images.sh: $bin is missing (build it, or unset RMQ_SKIP_BUILD)" >&2; exit 1; }
  ctx="$work/$name"
  root="$ctx/rootfs"
  mkdir -p "$root/etc" "$root/tmp" "$root/var/lib/rmq" "$root/var/log/rmq"
  chmod 1777 "$root/tmp"
  echo "rmq:x:10001:10001:rmq:/var/lib/rmq:/sbin/nologin" > "$root/etc/passwd"
  echo "rmq:x:10001:" > "$root/etc/group"
  add_binary "$root" "$bin"
  add_binary "$root" "$BIN_DIR/mqhealth"
  # Readable and executable for the non-root user whatever the builder's umask.
  chmod -R u+rwX,go+rX,go-w "$root"
  chmod 1777 "$root/tmp"
  {
    echo "FROM scratch"
    echo "LABEL org.opencontainers.image.title=\"rmq $name\" org.opencontainers.image.version=\"$VERSION\""
    echo "COPY --chown=0:0 rootfs/ /"
    echo "COPY --chown=10001:10001 rootfs/var/ /var/"
    echo "ENV HOME=/var/lib/rmq LOG_FORMAT=text"
    for e in $ENVS; do echo "ENV $e"; done
    for p in $PORTS; do echo "EXPOSE $p"; done
    for v in $VOLUMES; do echo "VOLUME $v"; done
    echo "USER 10001:10001"
    echo "WORKDIR /var/lib/rmq"
    [ -n "$HEALTH" ] && echo "HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 CMD [\"/usr/local/bin/mqhealth\", $HEALTH]"
    # SIGTERM is what `podman stop` / Kubernetes send; every binary drains and exits 0 on it.
    echo "STOPSIGNAL SIGTERM"
    echo "ENTRYPOINT [\"/usr/local/bin/$name\"]"
    [ -n "$CMD" ] && echo "CMD [$CMD]"
  } > "$ctx/Containerfile"
  tags=()
  for t in $TAGS; do tags+=(-t "rmq/$name:$t"); done
  # The builds run side by side: each mostly waits on podman's storage, not on a CPU
  # (7 builds took 26-31 s one after the other on the loaded CI VM).
  podman build -q --format docker "${tags[@]}" -f "$ctx/Containerfile" "$ctx" >"$ctx/build.log" 2>&1 &
  builds+=("$name:$!")
done
for b in "${builds[@]}"; do
  name=${b%%:*}
  wait "${b##*:}" || { cat "$work/$name/build.log" >&2; echo "images.sh: building rmq/$name failed" >&2; exit 1; }
  echo "built rmq/$name:${TAGS%% *}"
done
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep "^localhost/rmq/.*:${TAGS%% *} " | sort
