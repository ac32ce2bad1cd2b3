#!/usr/bin/env bash
# Installs HAProxy for the ELBv2 data plane (`kumo-lb-haproxy`). Idempotent: a dpkg check when
# it is present. Debian's package would start a system haproxy under systemd; these hosts run
# without systemd, and Kumo starts one haproxy per load balancer itself, so nothing is started.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
log() { echo "setup-haproxy: $*" >&2; }
if dpkg-query -W -f='${Status}' haproxy 2>/dev/null | grep -q 'install ok installed'; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    log "not root: cannot install haproxy (load balancer tests will be SKIPPED)"
    exit 0
fi
log "installing haproxy"
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends haproxy >/dev/null
