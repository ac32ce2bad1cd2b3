#!/usr/bin/env bash
# Undoes start-netns-host.sh NAME: destroys the host's guests, stops its libvirtd and virtlogd
# (by their pid files), deletes its underlay link and network namespace and its state directory
# /run/kumo-hosts/NAME. Idempotent: whatever is already gone is skipped. Needs root.
#
# Processes still inside the namespace afterwards are ended only when they are this host's
# (QEMU guests, libvirtd, virtlogd, dnsmasq started there); anything else is reported and left,
# and the namespace is deleted regardless (it lives on until that process exits).
set -uo pipefail
log() { echo "stop-netns-host: $*" >&2; }

NAME=${1:-}
[[ "$NAME" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$ ]] || { log "usage: $0 NAME"; exit 1; }
[ "$(id -u)" = 0 ] || { log "needs root"; exit 1; }

STATE=/run/kumo-hosts/$NAME
URI="qemu+unix:///system?socket=$STATE/libvirt-sock"
ROOT_IF=ul$(printf '%s' "$NAME" | md5sum | cut -c1-10)
has_ns() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$NAME"; }

alive() { # $1 = pid file, $2 = program
    [ -f "$1" ] || return 1
    local pid
    pid=$(cat "$1")
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] &&
        ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$pid/stat" 2>/dev/null # not a zombie
}
running() { # $1 = pid: exists and is not a zombie (PID 1 here may be slow to reap)
    [ -e "/proc/$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null
}
stop_pid() { # $1 = pid: TERM, up to 10 s, then KILL
    local pid=$1
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do running "$pid" || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

# Guests first, through their libvirtd (it tears their taps down and releases their disks).
if alive "$STATE/libvirtd.pid" libvirtd; then
    for dom in $(timeout 20 virsh -q -c "$URI" list --all --name 2>/dev/null); do
        log "destroying domain $dom"
        timeout 30 virsh -q -c "$URI" destroy "$dom" >/dev/null 2>&1 || true
        timeout 30 virsh -q -c "$URI" undefine --nvram "$dom" >/dev/null 2>&1 ||
            timeout 30 virsh -q -c "$URI" undefine "$dom" >/dev/null 2>&1 || true
    done
fi
for d in libvirtd virtlogd; do
    if alive "$STATE/$d.pid" "$d"; then
        log "stopping $d ($(cat "$STATE/$d.pid"))"
        stop_pid "$(cat "$STATE/$d.pid")"
    fi
done

# What is left in the namespace: guests libvirtd could not destroy, helpers it started.
if has_ns; then
    for pid in $(ip netns pids "$NAME" 2>/dev/null); do
        comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
        case "$comm" in
            qemu-system-*|libvirtd|virtlogd|dnsmasq)
                log "ending $comm ($pid) left in $NAME"
                stop_pid "$pid" ;;
            *) log "WARNING: $comm ($pid) is still in $NAME; not ours to end" ;;
        esac
    done
fi

if ip link show "$ROOT_IF" >/dev/null 2>&1; then
    log "deleting underlay $ROOT_IF"
    ip link del "$ROOT_IF" || true
fi
if has_ns; then
    log "deleting network namespace $NAME"
    ip netns del "$NAME" || true
fi
rm -rf "$STATE"
rmdir /run/kumo-hosts 2>/dev/null || true
exit 0
