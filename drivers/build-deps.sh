#!/usr/bin/env bash
# Installs the system libraries Kumo's drivers link against, so `cargo build` works on a fresh
# Debian 12 machine: libvirt (kumo-compute-libvirt, through the `virt` crate) found by
# pkg-config. Called by `cargo xtask serve`, `cargo xtask test` and `.ci/run` before anything
# is compiled.
#
# Idempotent: when pkg-config finds every library it only checks and returns at once. Needs root
# (or passwordless sudo) to install; otherwise it says what to install and fails.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
log() { echo "build-deps: $*" >&2; }

# pkg-config module -> Debian package.
LIBS=(libvirt:libvirt-dev)

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
for pair in "${LIBS[@]}"; do
    if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists "${pair%%:*}"; then
        missing+=("${pair##*:}")
    fi
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
