#!/usr/bin/env bash
# Builds Kumo's tiny guest image: the Debian kernel + a busybox initramfs whose /init (init.sh)
# loads the virtio modules, runs DHCP, reads the instance metadata service (IMDSv2, falling back
# to v1), installs the SSH key, runs a "#!" user-data script and prints KUMO-* markers on ttyS0.
#
# usage: build-image.sh OUT_DIR
# Outputs in OUT_DIR: vmlinuz, initramfs.gz, cmdline (the kernel command line to boot them with),
# and .stamp. Boot with direct kernel boot (`Boot::Kernel`), >= 96 MiB of memory (Debian's 6.1
# kernel hangs with 64 MiB), console=ttyS0.
#
# Why this way: only Debian packages are reachable (no internet), no loop mounts are needed, and a
# ~5 MB initramfs guest reaches its READY marker in seconds under TCG, where a full distribution
# takes minutes. Debian's kernel has virtio_pci/virtio_net/virtio_blk as modules, so the
# initramfs carries them (with their dependencies, from modprobe) and init loads them in order.
#
# Idempotent: the inputs (these scripts, kernel and busybox versions) are hashed into .stamp; when
# it matches, nothing is rebuilt. Installs linux-image-amd64, busybox-static, cpio and kmod when
# missing (needs root then).
set -euo pipefail
OUT=${1:?usage: build-image.sh OUT_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
export DEBIAN_FRONTEND=noninteractive
log() { echo "build-image: $*" >&2; }

missing=()
for p in linux-image-amd64 busybox-static cpio kmod; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    [ "$(id -u)" = 0 ] || { log "missing ${missing[*]} and not root"; exit 1; }
    log "installing: ${missing[*]}"
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

K=${KVER:-$(ls /lib/modules | sort -V | tail -1)}
[ -f "/boot/vmlinuz-$K" ] || { log "no /boot/vmlinuz-$K"; exit 1; }
MODS="virtio_pci virtio_net virtio_blk virtio_rng button evdev ext4"
STAMP=$( { cat "$HERE/build-image.sh" "$HERE/init.sh" "$HERE/udhcpc.sh"; echo "$K $MODS";
           dpkg-query -W -f='${Version}' busybox-static; } | sha256sum | cut -c1-16)
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$STAMP" ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initramfs.gz" ]; then
    log "up to date in $OUT ($STAMP)"
    exit 0
fi

mkdir -p "$OUT"
WORK=$(mktemp -d "$OUT/.build.XXXXXX"); trap 'rm -rf "$WORK"' EXIT
T=$WORK/root
mkdir -p "$T"/{bin,sbin,etc,proc,sys,dev,tmp,run,root,var,usr/bin,usr/sbin,etc/acpi/PWRF}
cp /bin/busybox "$T/bin/busybox"
for a in $(/bin/busybox --list); do [ -e "$T/bin/$a" ] || ln -s busybox "$T/bin/$a"; done
echo "root:x:0:0:root:/root:/bin/sh" > "$T/etc/passwd"; echo "root:x:0:" > "$T/etc/group"
# Modules and their dependencies, in load order (modprobe resolves the order; init insmods it).
mkdir -p "$T/lib/modules/$K"
for m in $MODS; do modprobe -S "$K" --show-depends "$m" | awk '$1=="insmod"{print $2}'; done | awk '!s[$0]++' |
while read -r p; do
    rel=${p#/lib/modules/$K/}
    mkdir -p "$T/lib/modules/$K/$(dirname "$rel")"
    case "$p" in
        *.ko.xz) xz -dc "$p" > "$T/lib/modules/$K/${rel%.xz}"; rel=${rel%.xz} ;;
        *) cp "$p" "$T/lib/modules/$K/$rel" ;;
    esac
    echo "$rel"
done > "$T/lib/modules/$K/load.order"
install -m755 "$HERE/init.sh" "$T/init"
install -m755 "$HERE/udhcpc.sh" "$T/etc/udhcpc.sh"
printf '#!/bin/sh\necho "KUMO-POWEROFF: acpi power button" > /dev/console\nsync\npoweroff -f\n' > "$T/etc/acpi/PWRF/00000080"
chmod 755 "$T/etc/acpi/PWRF/00000080"
(cd "$T" && find . | cpio -o -H newc --quiet | gzip -6) > "$WORK/initramfs.gz"
cp "/boot/vmlinuz-$K" "$WORK/vmlinuz"
echo "console=ttyS0 quiet panic=-1" > "$WORK/cmdline"
chmod 644 "$WORK/initramfs.gz" "$WORK/vmlinuz" "$WORK/cmdline"
mv -f "$WORK/vmlinuz" "$WORK/initramfs.gz" "$WORK/cmdline" "$OUT/"
echo "$STAMP" > "$OUT/.stamp"
chmod 755 "$OUT"
log "built $OUT: $(du -h "$OUT/initramfs.gz" | cut -f1) initramfs, kernel $K ($STAMP)"
