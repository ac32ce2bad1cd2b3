#!/usr/bin/env bash
# Installs what compat-tests/ needs: real S3 clients and the Python test tools.
#
# Idempotent and quiet: when everything is present it only checks and returns in well under a
# second. Debian packages come from apt (index refreshed once, only if something is missing);
# Python packages from PyPI, only when not importable. Installed boto3/awscli are never upgraded:
# the suite must run against whatever versions the machine already trusts.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
export DEBIAN_FRONTEND=noninteractive

log() { echo "install-deps: $*" >&2; }

# --- Debian packages -------------------------------------------------------------------------
missing_debs=()
# qemu-img/qemu-io: the BlockStore contract tests of drivers/blocks-local (they SKIP without them).
# haproxy: the load balancer data plane (drivers/lb-haproxy; its tests SKIP without it).
for pair in s3cmd:s3cmd rclone:rclone curl:curl qemu-img:qemu-utils qemu-io:qemu-utils haproxy:haproxy; do
    cmd="${pair%%:*}"
    pkg="${pair##*:}"
    command -v "$cmd" >/dev/null 2>&1 || missing_debs+=("$pkg")
done
if ((${#missing_debs[@]})); then
    if ! command -v apt-get >/dev/null 2>&1; then
        log "apt-get not available; cannot install ${missing_debs[*]} (tests needing them will be SKIPPED)"
    else
        SUDO=""
        if [ "$(id -u)" != 0 ]; then
            if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
                log "not root and no sudo; cannot install ${missing_debs[*]}"; SUDO="false"; fi
        fi
        log "installing Debian packages: ${missing_debs[*]}"
        $SUDO apt-get update -qq >/dev/null
        $SUDO apt-get install -y -qq --no-install-recommends "${missing_debs[@]}" >/dev/null
    fi
fi

# --- Python packages -------------------------------------------------------------------------
# One interpreter start checks every module; only the import is checked, never the version.
read -r -a missing_py <<<"$("$PYTHON" - <<'PY'
import importlib.util, shutil
# When missing, boto3 and aws-cli are installed at the versions this suite was verified with
# (and that share one botocore), so a fresh machine tests what a developer's machine tested.
need = {"pytest": "pytest", "boto3": "boto3==1.43.11", "requests": "requests"}
missing = [pkg for mod, pkg in need.items() if importlib.util.find_spec(mod) is None]
# aws-cli v1 is a Python package; accept any `aws` already on PATH (v1 or v2).
if shutil.which("aws") is None and importlib.util.find_spec("awscli") is None:
    missing.append("awscli==1.45.11")
print(" ".join(missing))
PY
)"
if ((${#missing_py[@]})); then
    log "installing Python packages: ${missing_py[*]}"
    # No --upgrade: what is installed stays; pip only fills gaps (and their missing deps).
    pip_args=(-m pip install -q --disable-pip-version-check --root-user-action=ignore)
    if ! "$PYTHON" "${pip_args[@]}" "${missing_py[@]}" 2>/dev/null; then
        # Debian's system Python refuses global installs (PEP 668) unless told otherwise.
        "$PYTHON" "${pip_args[@]}" --break-system-packages "${missing_py[@]}"
    fi
fi

# --- Network fabric (drivers/net-linux root tests) --------------------------------------------
# ip, nft and dnsmasq drive the VPC data plane; busybox's udhcpc plays the guest's DHCP client.
# Without them the root tests print SKIPPED. Checked by path too: /usr/sbin is not always on PATH.
missing_net=()
for pair in ip:iproute2 nft:nftables dnsmasq:dnsmasq-base busybox:busybox; do
    cmd="${pair%%:*}"
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "/sbin/$cmd" ] || missing_net+=("${pair##*:}")
done
if ((${#missing_net[@]})); then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        log "cannot install ${missing_net[*]} (not root or no apt-get); network fabric tests will be SKIPPED"
    else
        log "installing Debian packages: ${missing_net[*]}"
        apt-get install -y -qq --no-install-recommends "${missing_net[@]}" >/dev/null 2>&1 || {
            apt-get update -qq >/dev/null
            apt-get install -y -qq --no-install-recommends "${missing_net[@]}" >/dev/null
        }
    fi
fi
# --- Compute: libvirt (packages, virtlogd + libvirtd) and the tiny guest image -----------------
# Both idempotent; their integration tests print SKIPPED when this could not be done.
HERE_DEPS="$(cd "$(dirname "$0")" && pwd)"
"$HERE_DEPS/../drivers/compute-libvirt/setup-libvirt.sh" || log "WARNING: libvirt setup failed; libvirt tests will be SKIPPED"
"$HERE_DEPS/../drivers/compute-libvirt/image/build-image.sh" "${KUMO_GUEST_IMAGE_DIR:-/var/lib/kumo/images/tiny}" ||
    log "WARNING: guest image build failed; libvirt boot tests will be SKIPPED"
"$HERE_DEPS/../drivers/compute-libvirt/image/build-disk-image.sh" "${KUMO_DISK_IMAGE_DIR:-/var/lib/kumo/images/disk}" ||
    log "WARNING: disk image build failed; user image (S3 import) boot tests will be SKIPPED"

# --- Report ----------------------------------------------------------------------------------
for cmd in s3cmd rclone curl aws; do
    command -v "$cmd" >/dev/null 2>&1 || log "WARNING: $cmd still not found; its tests will be SKIPPED"
done
exit 0
