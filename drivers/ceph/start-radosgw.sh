#!/usr/bin/env bash
# Starts radosgw (Ceph's own S3 gateway) on the cluster setup-ceph.sh started in DIR, for the
# side-by-side benchmark against Kumo (`cargo xtask bench --ceph`).
#
#   drivers/ceph/start-radosgw.sh [DIR]   # DIR defaults to $KUMO_CEPH_DIR or /run/kumo-ceph
#
# Installs Debian's `radosgw` when missing, gives it a cephx key of its own, starts it with the
# beast frontend on 127.0.0.1 and a free port (TCP_NODELAY on: without it keep-alive requests
# stall 40 ms on Nagle + delayed ACK), waits (bounded) until it answers, creates an S3 user and
# writes DIR/rgw.env (RGW_ENDPOINT, RGW_ACCESS_KEY, RGW_SECRET_KEY). Idempotent: a radosgw of
# this cluster already running is only reported. stop-ceph.sh stops it with the cluster.
set -euo pipefail
DIR=${1:-${KUMO_CEPH_DIR:-/run/kumo-ceph}}
CONF=$DIR/ceph.conf
NAME=client.rgw.kumo
PID_FILE=$DIR/run/$NAME.pid
die() { echo "start-radosgw: $*" >&2; exit 1; }
[ -f "$CONF" ] || die "no cluster in $DIR (run setup-ceph.sh first)"

alive() {
    local pid
    [ -f "$PID_FILE" ] && pid=$(cat "$PID_FILE") && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CONF"
}
if alive; then
    if [ -f "$DIR/rgw.env" ]; then
        echo "start-radosgw: already running: $(grep RGW_ENDPOINT "$DIR/rgw.env")" >&2
        cat "$DIR/rgw.env"
        exit 0
    fi
    # Half-started (no user yet): start afresh.
    pid=$(cat "$PID_FILE")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
fi
rm -f "$DIR/rgw.env"

if ! command -v radosgw >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || die "radosgw is not installed and not root"
    echo "start-radosgw: installing radosgw" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends radosgw >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends radosgw >/dev/null; }
fi

C() { timeout 60 ceph -c "$CONF" --connect-timeout 20 "$@"; }
if ! grep -qF "[$NAME]" "$DIR/keyring"; then
    C auth get-or-create "$NAME" mon 'allow rw' osd 'allow rwx' mgr 'allow rw' >>"$DIR/keyring"
fi

port=""
for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 20000))
    if ! ss -Hltn "sport = :$p" | grep -q .; then port=$p; break; fi
done
[ -n "$port" ] || die "no free port found"
mkdir -p "$DIR/rgw" "$DIR/log"
radosgw -c "$CONF" -n "$NAME" \
    --rgw_frontends "beast endpoint=127.0.0.1:$port tcp_nodelay=1" \
    --rgw_data "$DIR/rgw" --log_file "$DIR/log/rgw.log" --rgw_enable_usage_log false \
    --rgw_dns_name localhost
# The first start creates radosgw's pools: allow a minute.
up=0
for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/" 2>/dev/null; then up=1; break; fi
    sleep 0.2
done
[ "$up" = 1 ] || die "radosgw did not answer on 127.0.0.1:$port; see $DIR/log/rgw.log"

ak=$(head -c 32 /dev/urandom | sha256sum | cut -c1-20 | tr a-f A-F)
sk=$(head -c 32 /dev/urandom | sha256sum | cut -c1-40)
timeout 60 radosgw-admin -c "$CONF" user create --uid=kumo-bench --display-name=kumo-bench \
    --access-key="$ak" --secret-key="$sk" >/dev/null 2>&1 ||
    timeout 60 radosgw-admin -c "$CONF" key create --uid=kumo-bench --key-type=s3 \
        --access-key="$ak" --secret-key="$sk" >/dev/null
cat >"$DIR/rgw.env" <<EOF
export RGW_ENDPOINT=127.0.0.1:$port
export RGW_ACCESS_KEY=$ak
export RGW_SECRET_KEY=$sk
EOF
echo "start-radosgw: radosgw on 127.0.0.1:$port" >&2
cat "$DIR/rgw.env"
