#!/bin/sh
# PID 1 of Kumo's tiny test guest (the initramfs /init): a "cloud-init lite" in busybox sh.
#
# Why: tests and the single-machine setup need a guest that boots in seconds under TCG, talks to
# the instance metadata service like a real EC2 guest, and says what it did on the serial console
# in lines a test can grep. Markers (one per line, stable, greppable):
#   KUMO-INIT uptime=S                    first thing init prints (the accelerator probe waits for it)
#   KUMO-NET: if=eth0 ip=A/N gw=G         DHCP lease (or KUMO-NET: none / dhcp-failed)
#   KUMO-BOOT: instance-id=i-… imdsv2=yes|no local-ipv4=A
#   KUMO-SSHKEY: installed|none
#   KUMO-USERDATA-BEGIN / [user-data] … / KUMO-USERDATA-END exit=N
#   KUMO-READY instance-id=i-… uptime=S
#   KUMO-DISKS: vda:SERIAL vdb …          at boot and whenever the block devices change (hot-plug);
#                                         SERIAL is the disk's serial (Kumo: the volume id without
#                                         its dash, as EC2's NVMe serials), omitted when empty.
#                                         Guest names follow discovery order, not the host's target.
# busybox 1.35's `wget -T` segfaults: every wget is wrapped in timeout(1). busybox wget cannot PUT,
# so the IMDSv2 token request is raw HTTP through nc.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
up() { cut -d' ' -f1 /proc/uptime; }
mount -t proc proc /proc 2>/dev/null; mount -t sysfs sys /sys 2>/dev/null
mount -t devtmpfs dev /dev 2>/dev/null; mkdir -p /tmp /run; mount -t tmpfs tmp /tmp; mount -t tmpfs run /run
[ -c /dev/console ] && exec </dev/console >/dev/console 2>&1
echo "KUMO-INIT uptime=$(up)"
K=$(uname -r)
for m in $(cat /lib/modules/$K/load.order 2>/dev/null); do insmod /lib/modules/$K/$m 2>/dev/null; done
hostname localhost; ip link set lo up

# ACPI power button -> clean poweroff, so the hypervisor's shutdown/reboot (ACPI) works.
# busybox acpid runs /etc/acpi/PWRF/00000080 on a power-button press.
if [ -x /bin/acpid ]; then acpid -c /etc/acpi -l /tmp/acpid.log 2>/dev/null; fi

disks() { # whole disks with their serials: "vda:vol0123 vdb"
  for d in $(ls /sys/block 2>/dev/null | grep -v -E '^(ram|loop)'); do
    s=$(cat /sys/block/$d/serial 2>/dev/null | tr -d ' \n'); printf '%s%s ' "$d" "${s:+:$s}"
  done
}

IF=$(ls /sys/class/net 2>/dev/null | grep -v '^lo$' | head -1)
NET=no
if [ -n "$IF" ]; then
  ip link set "$IF" up
  if udhcpc -i "$IF" -s /etc/udhcpc.sh -q -f -n -t 10 -T 1 >/tmp/udhcpc.log 2>&1; then
    NET=yes
    echo "KUMO-NET: if=$IF ip=$(ip -4 -o addr show "$IF" | awk '{print $4}') gw=$(ip route | awk '/default/{print $3}')"
  else
    echo "KUMO-NET: if=$IF dhcp-failed"
  fi
else
  echo "KUMO-NET: none"
fi

MD=169.254.169.254; TOK=""; IID=""
get() { # $1 = path under /latest/, $2 = output file; IMDSv2 token when we have one
  if [ -n "$TOK" ]; then timeout 5 wget -q --header "X-aws-ec2-metadata-token: $TOK" -O "$2" "http://$MD/latest/$1"
  else timeout 5 wget -q -O "$2" "http://$MD/latest/$1"; fi
}
if [ "$NET" = yes ]; then
  TOK=$(printf 'PUT /latest/api/token HTTP/1.0\r\nHost: %s\r\nX-aws-ec2-metadata-token-ttl-seconds: 300\r\n\r\n' $MD |
        timeout 5 nc $MD 80 2>/dev/null | tr -d '\r' | awk 'b{print} /^$/{b=1}' | head -1)
  # A token must be one word; an error page is not a token.
  case "$TOK" in *" "*|*"<"*) TOK="";; esac
  IID=$(get meta-data/instance-id - 2>/dev/null)
  get meta-data/local-ipv4 /tmp/local-ipv4 2>/dev/null
fi
IID=${IID:-unknown}
[ "$IID" != unknown ] && hostname "$IID"
echo "KUMO-BOOT: instance-id=$IID imdsv2=$([ -n "$TOK" ] && echo yes || echo no) local-ipv4=$(cat /tmp/local-ipv4 2>/dev/null) uptime=$(up)"

if [ "$NET" = yes ] && get meta-data/public-keys/0/openssh-key /tmp/key 2>/dev/null && [ -s /tmp/key ]; then
  mkdir -p /root/.ssh; chmod 700 /root/.ssh; cat /tmp/key >> /root/.ssh/authorized_keys; chmod 600 /root/.ssh/authorized_keys
  echo "KUMO-SSHKEY: installed $(awk '{print $1, $3}' /tmp/key | head -1)"
else
  echo "KUMO-SSHKEY: none"
fi

if [ "$NET" = yes ] && get user-data /tmp/user-data 2>/dev/null && [ "$(head -c2 /tmp/user-data)" = "#!" ]; then
  chmod +x /tmp/user-data
  echo "KUMO-USERDATA-BEGIN"
  /tmp/user-data >/tmp/user-data.out 2>&1; rc=$?
  sed 's/^/[user-data] /' /tmp/user-data.out
  echo "KUMO-USERDATA-END exit=$rc"
fi

echo "KUMO-READY instance-id=$IID uptime=$(up)"
grep -q 'kumo.halt' /proc/cmdline && poweroff -f

# Report block devices now and on every change (a hot-plugged volume shows up within ~1 s).
LAST=$(disks); echo "KUMO-DISKS: $LAST"
while true; do
  sleep 1
  NOW=$(disks)
  [ "$NOW" != "$LAST" ] && { echo "KUMO-DISKS: $NOW"; LAST=$NOW; }
done
