#!/usr/bin/env bash
# Prepares a Debian 12 host to run Kumo guests through libvirt (the `kumo-compute-libvirt` driver).
#
# Why a script and not a package post-install: these machines run without systemd, so
# `apt-get install` starts no daemon. We install what is missing and start the two daemons by hand:
# virtlogd first (without it a domain whose serial console logs to a file fails to start), then
# libvirtd (Debian 12 has no split virtqemud). libvirtd listens on its UNIX sockets only.
#
# Idempotent and quick when everything is in place: dpkg checks, then socket checks.
# Needs root. Prints what it did on stderr; exits 0 when libvirtd answers.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
log() { echo "setup-libvirt: $*" >&2; }

PKGS=(libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients libvirt-dev
      qemu-system-x86 qemu-utils dnsmasq-base nftables pkg-config)

if [ "$(id -u)" != 0 ]; then
    log "not root: cannot install packages or start libvirtd (libvirt tests will be SKIPPED)"
    exit 0
fi

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing: ${missing[*]}"
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p /run/libvirt
alive() { # $1 = pidfile: the process it names is running
    [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}
if ! alive /run/virtlogd.pid; then
    log "starting virtlogd"
    rm -f /run/libvirt/virtlogd-sock /run/libvirt/virtlogd-admin-sock
    virtlogd -d
fi
if ! alive /run/libvirtd.pid; then
    log "starting libvirtd"
    libvirtd -d
fi
for _ in $(seq 100); do
    [ -S /run/libvirt/libvirt-sock ] && break
    sleep 0.1
done
if virsh -q -c qemu:///system version >/dev/null 2>&1; then
    log "libvirtd ready"
else
    log "WARNING: libvirtd does not answer on qemu:///system"
    exit 1
fi
