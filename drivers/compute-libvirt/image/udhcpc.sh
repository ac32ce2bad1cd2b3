#!/bin/sh
# busybox udhcpc hook: configures $interface from the lease ($ip, $mask as prefix length, $router, $dns).
case "$1" in
  deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip -4 addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface"
    for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
    : > /etc/resolv.conf; for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done ;;
esac
exit 0
