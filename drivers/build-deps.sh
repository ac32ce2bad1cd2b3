#!/usr/bin/env bash
# Installs the system libraries Kumo's drivers link against, so `cargo build` works on a fresh
# Debian 12 machine: libvirt (kumo-compute-libvirt, through the `virt` crate, found by
# pkg-config) and librados (kumo-objects-rados, through the `ceph` crate; the `rados` feature
# of `kumo`, on by default). Called by `cargo xtask serve`, `cargo xtask test` and `.ci/run`
# before anything is compiled.
#
# Idempotent: when every package is installed it only checks and returns at once. Needs root
# (or passwordless sudo) to install; otherwise it says what to install and fails.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
log() { echo "build-deps: $*" >&2; }

PKGS=(pkg-config libvirt-dev librados-dev)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]})) || exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        log "missing ${missing[*]}; install them as root: apt-get install ${missing[*]}"
        exit 1
    fi
fi
log "installing: ${missing[*]}"
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
