#!/usr/bin/env bash
# A second compute "host" on this machine: a network namespace with its own libvirtd, joined to
# the root namespace by an underlay link, so Kumo's multi-host networking (VXLAN between hosts)
# can be exercised on one machine. Test and development aid; a real second host is a machine.
#
#   start-netns-host.sh NAME [ROOT_CIDR NS_CIDR]
#
# NAME       network namespace to create (e.g. kumo-h2); also names the state directory
#            /run/kumo-hosts/NAME.
# ROOT_CIDR  underlay address on the root namespace's end (default $KUMO_UNDERLAY_ROOT or
#            10.255.0.1/30): the local host's `[network] underlay_address`.
# NS_CIDR    underlay address inside NAME (default $KUMO_UNDERLAY_NS or 10.255.0.2/30): the
#            address given to `kumo host add --underlay`.
# The underlay is a veth pair `ul<hash of NAME>` (root) ↔ `ul0` (in NAME), MTU $KUMO_UNDERLAY_MTU
# or 1600 (≥ 1550: a 1500-byte guest packet plus VXLAN's 50 bytes). Use a range that is private
# to this machine.
#
# Prints the libvirt URI of the new host on stdout:
#   qemu+unix:///system?socket=/run/kumo-hosts/NAME/libvirt-sock
#
# Why it looks like this:
# - libvirt creates a guest's tap in the network namespace libvirtd runs in (MACHINE-FACTS), so
#   libvirtd is started under `ip netns exec NAME`: taps of this host's guests live in NAME.
# - Two privileged libvirtds on one machine collide on /run/libvirt (sockets, driver pid locks,
#   domain status), /var/lib/libvirt, /var/cache/libvirt, /var/log/libvirt and /etc/libvirt
#   (persistent domain definitions, autostart). `ip netns exec` gives the daemons a mount
#   namespace of their own (a slave of the root one, so namespaces Kumo deletes later are
#   unmounted there too and not kept alive); inside it, private directories under
#   /run/kumo-hosts/NAME/root are bind-mounted over those five. The daemons' sockets go to
#   /run/kumo-hosts/NAME (`unix_sock_dir`, outside the bind mounts), reachable from the root
#   namespace, root only (0700, no auth beyond the socket's permissions).
# - A guest's console log needs a virtlogd reached through /run/libvirt/virtlogd-sock: this
#   host runs its own virtlogd in the same mount namespace. Everything else (disks, console
#   logs under Kumo's data directory, the guest image under /var/lib/kumo) is the root
#   namespace's file system, seen by the same paths: the daemons share the file system.
# - No systemd on these machines: daemons are started by hand; pid files name them.
#
# Idempotent: a running host is left as it is (addresses re-applied); a dead daemon is
# restarted. Needs root and libvirt (drivers/compute-libvirt/setup-libvirt.sh). Undo with
# stop-netns-host.sh NAME.
set -euo pipefail
log() { echo "start-netns-host: $*" >&2; }
die() { log "$*"; exit 1; }

NAME=${1:-}
ROOT_CIDR=${2:-${KUMO_UNDERLAY_ROOT:-10.255.0.1/30}}
NS_CIDR=${3:-${KUMO_UNDERLAY_NS:-10.255.0.2/30}}
MTU=${KUMO_UNDERLAY_MTU:-1600}

[[ "$NAME" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$ ]] || die "usage: $0 NAME [ROOT_CIDR NS_CIDR] (NAME: 1-32 of [A-Za-z0-9_.-])"
for c in "$ROOT_CIDR" "$NS_CIDR"; do
    [[ "$c" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/[0-9]+$ ]] || die "not an IPv4 CIDR: $c"
done
[ "$(id -u)" = 0 ] || die "needs root"
for tool in ip libvirtd virtlogd virsh; do
    command -v "$tool" >/dev/null || die "$tool not found (run drivers/compute-libvirt/setup-libvirt.sh)"
done

STATE=/run/kumo-hosts/$NAME
PRIV=$STATE/root
URI="qemu+unix:///system?socket=$STATE/libvirt-sock"
# The root end's name: Linux allows 15 bytes, NAME may be longer.
ROOT_IF=ul$(printf '%s' "$NAME" | md5sum | cut -c1-10)

# --- the namespace and its underlay link ------------------------------------------------------
if ! ip netns list | awk '{print $1}' | grep -qx "$NAME"; then
    log "creating network namespace $NAME"
    ip netns add "$NAME"
fi
ip -n "$NAME" link set lo up
if ! ip link show "$ROOT_IF" >/dev/null 2>&1; then
    ip -n "$NAME" link del ul0 2>/dev/null || true
    log "creating underlay $ROOT_IF <-> $NAME/ul0"
    ip link add "$ROOT_IF" mtu "$MTU" type veth peer name ul0 netns "$NAME" mtu "$MTU"
fi
ip link set "$ROOT_IF" alias "kumo-netns-host:$NAME"
ip link set "$ROOT_IF" mtu "$MTU" up
ip -n "$NAME" link set ul0 mtu "$MTU" up
ip addr replace "$ROOT_CIDR" dev "$ROOT_IF"
ip -n "$NAME" addr replace "$NS_CIDR" dev ul0

# --- private libvirt directories ----------------------------------------------------------------
# The directory tree (not the files) of $1, two levels deep, at $2, with owners and modes: the
# qemu driver expects /var/lib/libvirt/qemu and friends owned by libvirt-qemu.
skeleton() {
    local src=$1 dst=$2 mode user group rel
    mkdir -p "$dst"
    [ -d "$src" ] || return 0
    while read -r mode user group rel; do
        case "$rel" in */domain-*) continue ;; esac
        mkdir -p "$dst/$rel"
        chmod "$mode" "$dst/$rel"
        chown "$user:$group" "$dst/$rel"
    done < <(cd "$src" && find . -mindepth 1 -maxdepth 2 -type d -printf '%m %u %g %P\n')
    chmod "$(stat -c %a "$src")" "$dst"
}
if [ ! -f "$STATE/prepared" ]; then
    log "preparing $STATE"
    mkdir -p "$STATE"
    chmod 0700 "$STATE"
    rm -rf "$PRIV"
    mkdir -p "$PRIV/run" "$PRIV/etc"
    chmod 0755 "$PRIV/run"
    skeleton /var/lib/libvirt "$PRIV/lib"
    skeleton /var/cache/libvirt "$PRIV/cache"
    skeleton /var/log/libvirt "$PRIV/log"
    # QEMU capability probes are cached by binary and libvirt version: reuse the primary's.
    if [ -d /var/cache/libvirt/qemu/capabilities ]; then
        cp -a /var/cache/libvirt/qemu/capabilities/. "$PRIV/cache/qemu/capabilities/" 2>/dev/null || true
    fi
    # The configuration without any state: no domains, networks, pools or secrets of the
    # primary daemon (they would be loaded, or autostarted, here too).
    cp -a /etc/libvirt/. "$PRIV/etc/"
    rm -rf "$PRIV/etc/qemu" "$PRIV/etc/storage" "$PRIV/etc/secrets" "$PRIV/etc/qemu-lockd.conf.d"
    mkdir -p "$PRIV/etc/qemu/networks/autostart" "$PRIV/etc/storage" "$PRIV/etc/secrets"
    chmod 0700 "$PRIV/etc/secrets"
    cat >"$STATE/libvirtd.conf" <<EOF
# libvirtd of the netns host $NAME (written by start-netns-host.sh)
unix_sock_dir = "$STATE"
unix_sock_group = "root"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
unix_sock_admin_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
host_uuid = "$(cat /proc/sys/kernel/random/uuid)"
log_outputs = "3:file:$STATE/libvirtd.log"
EOF
    cat >"$STATE/virtlogd.conf" <<EOF
log_outputs = "3:file:$STATE/virtlogd.log"
EOF
    touch "$STATE/prepared"
fi

# --- the daemons ----------------------------------------------------------------------------------
alive() { # $1 = pid file, $2 = program: the process it names is running that program
    [ -f "$1" ] || return 1
    local pid
    pid=$(cat "$1")
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] &&
        ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$pid/stat" 2>/dev/null # not a zombie
}
answers() { timeout 20 virsh -q -c "$URI" uri >/dev/null 2>&1; }

if alive "$STATE/libvirtd.pid" libvirtd && answers; then
    log "libvirtd of $NAME is running (pid $(cat "$STATE/libvirtd.pid"))"
else
    for d in libvirtd virtlogd; do
        if alive "$STATE/$d.pid" "$d"; then
            log "stopping a half-alive $d ($(cat "$STATE/$d.pid"))"
            kill "$(cat "$STATE/$d.pid")" 2>/dev/null || true
            for _ in $(seq 50); do alive "$STATE/$d.pid" "$d" || break; sleep 0.1; done
            alive "$STATE/$d.pid" "$d" && kill -9 "$(cat "$STATE/$d.pid")" 2>/dev/null || true
        fi
        rm -f "$STATE/$d.pid"
    done
    rm -f "$STATE"/libvirt-sock* "$STATE"/libvirt-admin-sock "$PRIV"/run/virtlogd-sock "$PRIV"/run/virtlogd-admin-sock
    log "starting virtlogd and libvirtd in $NAME"
    # `ip netns exec` runs the shell in a fresh mount namespace (a slave of the root one) with
    # the namespace's own /sys; the bind mounts below exist only there, and the daemons started
    # from it keep it alive.
    ip netns exec "$NAME" env STATE="$STATE" PRIV="$PRIV" sh -euc '
        mount --bind "$PRIV/run" /run/libvirt
        mount --bind "$PRIV/lib" /var/lib/libvirt
        mount --bind "$PRIV/cache" /var/cache/libvirt
        mount --bind "$PRIV/log" /var/log/libvirt
        mount --bind "$PRIV/etc" /etc/libvirt
        virtlogd -d -f "$STATE/virtlogd.conf" -p "$STATE/virtlogd.pid"
        for _ in $(seq 100); do [ -S /run/libvirt/virtlogd-sock ] && break; sleep 0.1; done
        libvirtd -d -f "$STATE/libvirtd.conf" -p "$STATE/libvirtd.pid"
    '
    for _ in $(seq 200); do
        [ -S "$STATE/libvirt-sock" ] && break
        sleep 0.1
    done
    answers || die "libvirtd of $NAME does not answer on $URI (see $STATE/libvirtd.log)"
    log "libvirtd of $NAME ready (pid $(cat "$STATE/libvirtd.pid"))"
fi
echo "$URI"
