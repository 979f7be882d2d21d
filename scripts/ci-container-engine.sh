#!/usr/bin/env bash
# Give a machine with no Docker engine and no container registry (CI) what the container
# tests need: a running dockerd, Compose v2, and locally built base images.
#
#   scripts/ci-container-engine.sh start   install (if needed) and start the engine, build bases
#   scripts/ci-container-engine.sh stop    stop the engine it started, and every container
#
# `start` prints the variables to export (eval "$(scripts/ci-container-engine.sh start)").
# A machine whose Docker already works needs none of this: `make up` and `make test` just work.
# Facts behind each step: shared notes "containers-on-ci".
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${CI_ENGINE_STATE:-/var/tmp/ticketrouter-ci-engine}
PLUGINS=/usr/libexec/docker/cli-plugins
# Local base images; the service Dockerfiles take them through BASE_IMAGE.
PYTHON_BASE=ticketrouter/python-base:bookworm
LOCALSTACK_BASE=ticketrouter/python-base:trixie
LOCALSTACK_IMAGE=ticketrouter/localstack:2026.3.0
# Bumped whenever build_base changes, so that an engine keeping an older base rebuilds it.
# 2: without documentation, man pages and translations, as Debian's slim images (python:*-slim).
BASE_RECIPE=2

log() { echo "[ci-engine] $*" >&2; }

# The Debian mirror this machine already uses (named by its own apt configuration, not here).
debian_mirror() {
  local uri
  uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '/^deb / && $3 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] || { log "no Debian mirror found in the apt configuration"; exit 1; }
  echo "$uri"
}

install_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v curl >/dev/null || missing+=(curl)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# Compose v2 and buildx are not in bookworm; trixie's packages carry plain binaries that run here.
# They are fetched with a private apt state so the system's own stays untouched.
install_compose() {
  if docker compose version >/dev/null 2>&1; then return; fi
  local apt_dir="$STATE/apt-trixie" mirror
  mirror=$(debian_mirror)
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs" "$PLUGINS"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$apt_dir/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Get::List-Cleanup=0)
  log "fetching docker-compose and docker-buildx from trixie"
  apt-get "${opts[@]}" update -qq
  (cd "$apt_dir/debs" && apt-get "${opts[@]}" download docker-compose docker-buildx >/dev/null)
  for deb in "$apt_dir"/debs/*.deb; do dpkg -x "$deb" "$apt_dir/root"; done
  install -m 0755 "$apt_dir/root/usr/libexec/docker/cli-plugins/docker-compose" "$PLUGINS/docker-compose"
  install -m 0755 "$apt_dir/root/usr/libexec/docker/cli-plugins/docker-buildx" "$PLUGINS/docker-buildx"
  docker compose version >&2
}

start_engine() {
  if docker info >/dev/null 2>&1; then
    log "a Docker engine already answers; using it (and leaving it running at stop)"
    rm -f "$STATE/dockerd.pid"
    return
  fi
  mkdir -p "$STATE"
  log "starting dockerd"
  # Default storage (overlay2) and networking: builds need outbound access for pip.
  nohup dockerd --pidfile "$STATE/dockerd.pid" >"$STATE/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return
    sleep 0.5
  done
  log "dockerd did not answer; its log:"
  tail -n 50 "$STATE/dockerd.log" >&2
  exit 1
}

# What debian:*-slim leaves out (its /etc/dpkg/dpkg.cfg.d/docker): the images built on this
# base then weigh what they weigh on python:*-slim, and packages installed later stay without.
SLIM_DPKG_CONFIG='path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*'

slim_rootfs() {
  local rootfs=$1
  printf '%s\n' "$SLIM_DPKG_CONFIG" >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim"
  find "$rootfs/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/{man,groff,info,lintian,linda,locale}/*
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
}

# A Debian root file system with Python, imported as an image, with the host's CA bundle so
# pip inside builds trusts the same certificates as pip here.
build_base() {
  local tag=$1 suite=$2 includes=$3 rootfs="$STATE/rootfs-$2"
  if [ "$(docker image inspect -f '{{index .Config.Labels "ticketrouter.base-recipe"}}' "$tag" 2>/dev/null)" = "$BASE_RECIPE" ]; then
    return
  fi
  log "building base image $tag (debootstrap $suite)"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include="$includes" "$suite" "$rootfs" "$(debian_mirror)" >"$STATE/debootstrap-$suite.log" 2>&1 \
    || { tail -n 30 "$STATE/debootstrap-$suite.log" >&2; exit 1; }
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  slim_rootfs "$rootfs"
  tar -C "$rootfs" -c . | docker import \
    --change "LABEL ticketrouter.base-recipe=$BASE_RECIPE" \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV PIP_DISABLE_PIP_VERSION_CHECK=1' \
    --change 'CMD ["python3"]' - "$tag" >/dev/null
  rm -rf "$rootfs"
}

build_localstack() {
  if docker image inspect "$LOCALSTACK_IMAGE" >/dev/null 2>&1; then return; fi
  log "building $LOCALSTACK_IMAGE from localstack-core (no registry to pull the official image from)"
  docker build -q -t "$LOCALSTACK_IMAGE" --build-arg BASE_IMAGE="$LOCALSTACK_BASE" \
    -f "$ROOT/localstack/ci/Dockerfile" "$ROOT/localstack/ci" >/dev/null
}

start() {
  mkdir -p "$STATE"
  install_packages
  install_compose
  start_engine
  build_base "$PYTHON_BASE" bookworm python3,python3-venv,ca-certificates,passwd
  build_base "$LOCALSTACK_BASE" trixie python3,python3-venv,ca-certificates,curl,passwd
  build_localstack
  # What the tests and compose need to use the local images.
  echo "export BASE_IMAGE=$PYTHON_BASE"
  echo "export LOCALSTACK_IMAGE=$LOCALSTACK_IMAGE"
  echo "export TESTCONTAINERS_RYUK_DISABLED=true"
  echo "export TESTCONTAINERS_CONNECTION_MODE=docker_host"
}

stop() {
  [ -f "$STATE/dockerd.pid" ] || return 0
  local pid
  pid=$(cat "$STATE/dockerd.pid")
  log "stopping every container and dockerd ($pid)"
  docker ps -q | xargs -r docker rm -f >/dev/null 2>&1 || true
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
