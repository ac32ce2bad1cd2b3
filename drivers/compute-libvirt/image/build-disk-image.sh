#!/usr/bin/env bash
# Builds Kumo's bootable *disk* test image: the tiny guest (Debian kernel + the busybox initramfs
# whose /init is init.sh, built by build-image.sh) on a FAT file system with SYSLINUX in its
# boot sector, so SeaBIOS boots it from the disk — no direct kernel boot. It is what a user
# uploads to S3 and registers (RegisterImage / ImportImage) to check that user images boot.
#
# usage: build-disk-image.sh OUT_DIR
# Outputs in OUT_DIR: disk.raw (32 MiB, BIOS-bootable), disk.qcow2 (the same, qcow2), installer.iso
# (the same kernel and initramfs on an ISO 9660 that boots only as a CD-ROM: ISOLINUX through
# El Torito, no MBR — what Kumo attaches as a CD-ROM), .stamp, and tiny/ (build-image.sh's
# output it was made from). Boot with >= 96 MiB of memory; the console is
# ttyS0 and prints the same KUMO-* markers as the tiny image.
#
# Why this way: no mounts (no loop devices needed) and Debian packages only. The disk is a
# "superfloppy": one FAT file system over the whole disk, no partition table; SYSLINUX's
# boot sector is sector 0, so the BIOS boots it like any MBR. mtools writes the files into the
# image file and `syslinux --install` patches the boot sector in the file itself.
#
# Idempotent: the inputs (this script, the tiny image's stamp, the syslinux version) are hashed
# into .stamp; when it matches, nothing is rebuilt. Installs syslinux, syslinux-common, mtools,
# dosfstools, qemu-utils, isolinux and genisoimage when missing (needs root then).
set -euo pipefail
OUT=${1:?usage: build-disk-image.sh OUT_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
export DEBIAN_FRONTEND=noninteractive
log() { echo "build-disk-image: $*" >&2; }

missing=()
for p in syslinux syslinux-common mtools dosfstools qemu-utils isolinux genisoimage; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    [ "$(id -u)" = 0 ] || { log "missing ${missing[*]} and not root"; exit 1; }
    log "installing: ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    }
fi

mkdir -p "$OUT"
# The kernel and initramfs: the tiny image's own build (one init, one builder).
"$HERE/build-image.sh" "$OUT/tiny"

SIZE_MIB=32
CMDLINE=$(cat "$OUT/tiny/cmdline")
STAMP=$( { cat "$HERE/build-disk-image.sh" "$OUT/tiny/.stamp"; echo "$SIZE_MIB $CMDLINE";
           dpkg-query -W -f='${Version}' syslinux; } | sha256sum | cut -c1-16)
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$STAMP" ] && [ -f "$OUT/disk.raw" ] && [ -f "$OUT/disk.qcow2" ] && [ -f "$OUT/installer.iso" ]; then
    log "up to date in $OUT ($STAMP)"
    exit 0
fi

WORK=$(mktemp -d "$OUT/.build.XXXXXX"); trap 'rm -rf "$WORK"' EXIT
DISK=$WORK/disk.raw
# FAT16 over the whole disk (-I: no partition table expected), fixed volume id.
mkfs.vfat -I -C -F 16 -n KUMODISK -i 4b554d4f "$DISK" $((SIZE_MIB * 1024)) >/dev/null
cat > "$WORK/syslinux.cfg" <<EOF
SERIAL 0 115200
DEFAULT kumo
PROMPT 0
TIMEOUT 0
LABEL kumo
  KERNEL vmlinuz
  INITRD initrd.gz
  APPEND $CMDLINE
EOF
export MTOOLS_SKIP_CHECK=1
mcopy -i "$DISK" "$OUT/tiny/vmlinuz" ::vmlinuz
mcopy -i "$DISK" "$OUT/tiny/initramfs.gz" ::initrd.gz
mcopy -i "$DISK" "$WORK/syslinux.cfg" ::syslinux.cfg
syslinux --install "$DISK"
# Sanity: a BIOS boots only a sector that ends in 55 AA.
[ "$(dd if="$DISK" bs=1 skip=510 count=2 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 55aa ] ||
    { log "no boot signature in $DISK"; exit 1; }
qemu-img convert -f raw -O qcow2 "$DISK" "$WORK/disk.qcow2"

# The installer ISO: ISOLINUX as the El Torito boot image, no isohybrid MBR, so sector 0 is
# zeros and only a CD-ROM boots it. Fixed dates and ids keep it reproducible.
ISOROOT=$WORK/iso
mkdir -p "$ISOROOT/isolinux"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$ISOROOT/isolinux/"
cp "$OUT/tiny/vmlinuz" "$ISOROOT/vmlinuz"
cp "$OUT/tiny/initramfs.gz" "$ISOROOT/initrd.gz"
sed 's|^  KERNEL vmlinuz|  KERNEL /vmlinuz|; s|^  INITRD initrd.gz|  INITRD /initrd.gz|' \
    "$WORK/syslinux.cfg" > "$ISOROOT/isolinux/isolinux.cfg"
SOURCE_DATE_EPOCH=1767225600 genisoimage -quiet -o "$WORK/installer.iso" -V KUMOISO -J -R \
    -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table \
    "$ISOROOT"
[ "$(dd if="$WORK/installer.iso" bs=1 skip=510 count=2 2>/dev/null | od -An -tx1 | tr -d ' \n')" != 55aa ] ||
    { log "installer.iso must not carry an MBR"; exit 1; }
[ "$(dd if="$WORK/installer.iso" bs=1 skip=$((0x8001)) count=5 2>/dev/null)" = CD001 ] ||
    { log "installer.iso is not ISO 9660"; exit 1; }

chmod 644 "$DISK" "$WORK/disk.qcow2" "$WORK/installer.iso"
mv -f "$DISK" "$WORK/disk.qcow2" "$WORK/installer.iso" "$OUT/"
echo "$STAMP" > "$OUT/.stamp"
chmod 755 "$OUT"
log "built $OUT: disk.raw ${SIZE_MIB} MiB, disk.qcow2 $(du -h "$OUT/disk.qcow2" | cut -f1), installer.iso $(du -h "$OUT/installer.iso" | cut -f1) ($STAMP)"
