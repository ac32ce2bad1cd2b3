#!/usr/bin/env bash
# Stops the cluster setup-ceph.sh started in DIR (default $KUMO_CEPH_DIR or /run/kumo-ceph) and
# removes DIR. Daemons are found by their pid files and signalled only when the process was
# started with this cluster's conf (never by name). memstore keeps nothing worth a graceful stop.
set -uo pipefail
DIR=${1:-${KUMO_CEPH_DIR:-/run/kumo-ceph}}
CONF=$DIR/ceph.conf
[ -d "$DIR" ] || { echo "stop-ceph: nothing in $DIR"; exit 0; }
# Refuse to remove a directory that is not a cluster of ours.
[ -f "$CONF" ] || [ -d "$DIR/mon.a" ] || { echo "stop-ceph: $DIR holds no cluster; left alone" >&2; exit 1; }

ours() {
    local f=$DIR/run/$1.pid pid
    [ -f "$f" ] || return 1
    pid=$(cat "$f")
    [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CONF" && echo "$pid"
}
alive() { [ -r "/proc/$1/stat" ] && ! awk '{exit ($3=="Z")?0:1}' "/proc/$1/stat" 2>/dev/null; }

pids=()
for name in client.rgw.kumo osd.0 mon.a; do
    if pid=$(ours "$name"); then
        kill -KILL "$pid" 2>/dev/null && pids+=("$pid")
    fi
done
for _ in $(seq 1 100); do # <= 5 s
    still=0
    for pid in "${pids[@]}"; do alive "$pid" && still=1; done
    [ "$still" = 0 ] && break
    sleep 0.05
done
# libvirt secrets holding this cluster's cephx key (defined by kumo-compute-libvirt for RBD
# disks, usage "kumo-ceph client.USER@MONITORS") are useless once the cluster is gone.
if command -v virsh >/dev/null 2>&1 && [ -S /run/libvirt/libvirt-sock ]; then
    mons=$(sed -n 's/^mon_host = //p' "$CONF" 2>/dev/null | grep -o 'v1:[0-9.]*:[0-9]*' | sed 's/^v1://')
    for mon in $mons; do
        timeout 30 virsh -c qemu:///system secret-list 2>/dev/null |
            awk -v m="@$mon" '$2 == "ceph" && index($0, m) {print $1}' |
            while read -r uuid; do timeout 30 virsh -c qemu:///system secret-undefine "$uuid" >/dev/null 2>&1 || true; done
    done
fi
rm -rf "$DIR"
echo "stop-ceph: stopped ${#pids[@]} daemon(s), removed $DIR"
