#!/usr/bin/env bash
# A throwaway one-node Ceph cluster for Kumo's RBD and RADOS backends (tests and CI).
#
#   drivers/ceph/setup-ceph.sh [DIR]     # DIR defaults to $KUMO_CEPH_DIR or /run/kumo-ceph
#   drivers/ceph/setup-ceph.sh --install-only   # only the packages (CI, before building)
#   drivers/ceph/stop-ceph.sh  [DIR]     # stops it and removes DIR
#
# Idempotent: installs Debian's Ceph packages (Pacific on Debian 12) only when missing, and
# when a cluster started by this script already runs in DIR it only prints where it is.
# Otherwise it makes a fresh cluster: one monitor and one OSD on memstore (RAM: nothing to
# clean on disk, ~2 s to start), bound to 127.0.0.1 only, with its own fsid, keyring, pid files
# and logs under DIR; no systemd units, no mgr (librados and librbd need none). It waits
# (bounded) until the OSD serves I/O and the cluster reports HEALTH_OK, creates the pools
# `kumo-blocks` (rbd) and `kumo-objects` (rados), and prints the ceph.conf path. The
# conf names the admin keyring, so a client needs only `-c DIR/ceph.conf`.
#
# Tests find the cluster through KUMO_CEPH_CONF (`source DIR/env`); without it they print
# `SKIPPED: no Ceph cluster`.
#
# Knobs: KUMO_CEPH_MON_PORT (the monitor's msgr2 port, default 3300; `auto` picks two free
# ports, for runs beside another cluster), KUMO_CEPH_MON_V1_PORT (its legacy port, default
# 6789 or, with `auto`, free), KUMO_CEPH_OSD_MB (memstore size, default 2048),
# KUMO_CEPH_NO_INSTALL=1 (never apt-get).
set -euo pipefail

INSTALL_ONLY=0
if [ "${1:-}" = --install-only ]; then INSTALL_ONLY=1; shift; fi
DIR=${1:-${KUMO_CEPH_DIR:-/run/kumo-ceph}}
port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }
MON_V2=${KUMO_CEPH_MON_PORT:-3300}
MON_V1=${KUMO_CEPH_MON_V1_PORT:-6789}
if [ "$MON_V2" = auto ]; then
    for _ in $(seq 1 100); do
        MON_V2=$((20000 + RANDOM % 20000)) MON_V1=$((MON_V2 + 1))
        port_free "$MON_V2" && port_free "$MON_V1" && break
    done
fi
OSD_MB=${KUMO_CEPH_OSD_MB:-2048}
IP=127.0.0.1
CONF=$DIR/ceph.conf
T0=$(date +%s.%N)

log() { awk -v a="$T0" -v b="$(date +%s.%N)" -v m="$*" 'BEGIN{printf "setup-ceph: [%5.1fs] %s\n", b-a, m}' >&2; }
die() { echo "setup-ceph: $*" >&2; exit 1; }
C() { timeout 30 ceph -c "$CONF" --connect-timeout 10 "$@"; }
# A pid file naming a live, non-zombie process started with this cluster's conf.
alive() {
    local pid
    [ -f "$1" ] && pid=$(cat "$1") && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CONF" && ! grep -q '^State:.*Z' "/proc/$pid/status"
}
report() {
    cat >"$DIR/env" <<EOF
export KUMO_CEPH_CONF=$CONF
export KUMO_CEPH_KEYRING=$DIR/keyring
export KUMO_CEPH_BLOCK_POOL=kumo-blocks
export KUMO_CEPH_OBJECT_POOL=kumo-objects
EOF
    echo "KUMO_CEPH_CONF=$CONF"
}

# --- packages ----------------------------------------------------------------------------------
# ceph-mon/ceph-osd: the daemons; ceph-common: ceph, rbd, rados; librados-dev and librbd-dev:
# the crates link them; qemu-block-extra: QEMU's rbd: block driver (qemu-img, qemu-io, guests).
need=()
for pair in ceph-mon:ceph-mon ceph-osd:ceph-osd rbd:ceph-common rados:ceph-common \
    /usr/include/rados/librados.h:librados-dev /usr/include/rbd/librbd.h:librbd-dev \
    /usr/lib/x86_64-linux-gnu/qemu/block-rbd.so:qemu-block-extra; do
    what=${pair%%:*} pkg=${pair##*:}
    if [[ $what == /* ]]; then
        # Any architecture's library directory will do for the QEMU module.
        if [[ $pkg == qemu-block-extra ]]; then
            compgen -G "/usr/lib/*/qemu/block-rbd.so" >/dev/null && continue
        else
            [ -e "$what" ] && continue
        fi
    else
        command -v "$what" >/dev/null 2>&1 && continue
    fi
    [[ " ${need[*]} " == *" $pkg "* ]] || need+=("$pkg")
done
if ((${#need[@]})); then
    [ "${KUMO_CEPH_NO_INSTALL:-0}" = 1 ] && die "missing packages: ${need[*]}"
    [ "$(id -u)" = 0 ] || die "missing packages ${need[*]} and not root"
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
    log "packages installed"
fi
[ "$INSTALL_ONLY" = 1 ] && exit 0

# --- already running? --------------------------------------------------------------------------
if [ -f "$CONF" ] && alive "$DIR/run/mon.a.pid" && alive "$DIR/run/osd.0.pid"; then
    log "cluster in $DIR already running: $(C health 2>&1 | head -1)"
    report
    exit 0
fi
# Leftovers of a stopped or half-started cluster in DIR: stop what is ours, start afresh.
if [ -d "$DIR" ]; then
    "$(dirname "$0")/stop-ceph.sh" "$DIR" >/dev/null 2>&1 || true
fi
for port in "$MON_V2" "$MON_V1"; do
    port_free "$port" || die "port $port is in use (another cluster? set KUMO_CEPH_MON_PORT=auto)"
done

# --- a fresh cluster -----------------------------------------------------------------------------
mkdir -p "$DIR"/{run,log,mon.a,osd.0}
chmod 0700 "$DIR"
FSID=$(uuidgen)
OSD_UUID=$(uuidgen)
cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon_host = [v2:$IP:$MON_V2,v1:$IP:$MON_V1]
public_addr = $IP
cluster_addr = $IP
ms_bind_ipv4 = true
ms_bind_ipv6 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
auth_allow_insecure_global_id_reclaim = false
keyring = $DIR/keyring
run_dir = $DIR/run
admin_socket = $DIR/run/\$cluster-\$name.\$pid.asok
pid_file = $DIR/run/\$name.pid
log_file = $DIR/log/\$name.log
crash_dir = $DIR/crash
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
mon_max_pg_per_osd = 1000
mon_data_avail_warn = 2
mon_data_avail_crit = 1
# Clients (kumo, rbd, qemu) log nowhere unless asked: their log_file above is per-name.
[client]
log_file = /dev/null
admin_socket =

[mon]
mon_data = $DIR/mon.\$id
mon_cluster_log_file = $DIR/log/cluster.log
mon_warn_on_insecure_global_id_reclaim_allowed = false
# Batch map updates for 50 ms instead of 1 s: pool creation and start-up take a tenth.
paxos_propose_interval = 0.05
paxos_min_wait = 0.01

[osd]
osd_data = $DIR/osd.\$id
osd_objectstore = memstore
memstore_device_bytes = $((OSD_MB * 1024 * 1024))
osd_crush_update_on_start = true
osd_class_update_on_start = false
osd_max_object_name_len = 460
osd_max_object_namespace_len = 64
EOF

K=$DIR/keyring
ceph-authtool --create-keyring "$K" --gen-key -n mon. --cap mon 'allow *' >/dev/null 2>&1
ceph-authtool "$K" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
    --cap mgr 'allow *' >/dev/null 2>&1
chmod 0600 "$K"
monmaptool --create --fsid "$FSID" --addv a "[v2:$IP:$MON_V2,v1:$IP:$MON_V1]" "$DIR/monmap" >/dev/null 2>&1
ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$K"
ceph-mon -c "$CONF" -i a
log "mon started on $IP:$MON_V2"

OSD_KEY=$(ceph-authtool --gen-print-key)
OSD_ID=$(echo "{\"cephx_secret\": \"$OSD_KEY\"}" | C osd new "$OSD_UUID" -i - -n client.admin)
[ "$OSD_ID" = 0 ] || die "unexpected osd id $OSD_ID"
ceph-authtool "$K" -n osd.0 --add-key "$OSD_KEY" >/dev/null 2>&1
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" 2>"$DIR/log/osd-mkfs.err" ||
    { cat "$DIR/log/osd-mkfs.err" >&2; die "osd mkfs failed"; }
ceph-osd -c "$CONF" -i 0 2>>"$DIR/log/osd-start.err"
log "osd started (memstore, ${OSD_MB} MiB)"

C osd pool create kumo-blocks 8 8 >/dev/null 2>&1
C osd pool application enable kumo-blocks rbd >/dev/null 2>&1
C osd pool create kumo-objects 8 8 >/dev/null 2>&1
C osd pool application enable kumo-objects rados >/dev/null 2>&1
log "pools kumo-blocks (rbd) and kumo-objects (rados) created"

# The OSD serves I/O once its PGs are active: a put succeeds (<= 60 s).
ready=0
for _ in $(seq 1 300); do
    if echo ping | timeout 10 rados -c "$CONF" -p kumo-objects put __ready - 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.2
done
[ "$ready" = 1 ] || die "the OSD never served I/O; see $DIR/log"
rados -c "$CONF" -p kumo-objects rm __ready
health=""
for _ in $(seq 1 120); do # <= 60 s
    health=$(C health 2>/dev/null || true)
    [ "$health" = HEALTH_OK ] && break
    sleep 0.5
done
# Without a mgr, Pacific warns that none is active; that costs clients nothing.
if [ "$health" != HEALTH_OK ]; then
    log "health: $(C health detail 2>&1 | head -3 | tr '\n' ' ')"
fi
log "ready: $health"
report
