#!/usr/bin/env bash
# Captures real traffic in throw-away network namespaces laid out like the fuzz world
# (test/fuzz/world.ts) and turns it into seeds (test/fuzz/make-seeds.ts). Run as root, after
# `npm run build`:  bash test/fuzz/capture-seeds.sh [outdir]   (pcaps kept in outdir, default a temp dir)
#   c1 ns:  172.17.0.2/16, 02:42:ac:11:00:02, default via 172.17.0.1        (a container)
#   gw ns:  Linux routing and masquerading like pontoon: 172.17.0.1 (02:50:00:00:00:01) and the
#           uplink 198.51.100.2/24 (02:50:00:00:00:ff), default via 198.51.100.1
#   rt ns:  the router 198.51.100.1 (02:00:5e:00:00:01) with 203.0.113.10 and .20 (HTTP, iperf3),
#           and 203.0.113.30 behind an MTU-1000 link (for ICMP fragmentation needed)
#   vx ns:  a VXLAN device (VNI 4138) with 10.20.0.3 (02:42:0a:14:00:03) on VTEP 192.0.2.3
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$(mktemp -d /tmp/pontoon-captures-XXXXXX)}
mkdir -p "$OUT"
S=$$
C=fzc1-$S G=fzgw-$S R=fzrt-$S X=fzx-$S V=fzvx-$S
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  # what runs inside our namespaces (servers started through ip netns exec)
  for n in $C $G $R $X $V; do
    for p in $(ip netns pids "$n" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  done
  wait 2>/dev/null || true
  for n in $C $G $R $X $V; do ip netns del "$n" 2>/dev/null || true; done
}
trap cleanup EXIT
for n in $C $G $R $X $V; do ip netns add "$n"; ip -n "$n" link set lo up; done
e() { ip netns exec "$@"; }

ip link add c1 netns $C type veth peer name br netns $G
ip link add upl netns $G type veth peer name rt netns $R
ip link add rx netns $R type veth peer name x netns $X
e $C ip link set dev c1 address 02:42:ac:11:00:02 up
e $C ip addr add 172.17.0.2/16 dev c1
e $C ip route add default via 172.17.0.1
e $G ip link set dev br address 02:50:00:00:00:01 up
e $G ip addr add 172.17.0.1/16 dev br
e $G ip link set dev upl address 02:50:00:00:00:ff up
e $G ip addr add 198.51.100.2/24 dev upl
e $G ip route add default via 198.51.100.1
e $G sysctl -qw net.ipv4.ip_forward=1
e $G nft add table ip nat
e $G nft add chain ip nat post '{ type nat hook postrouting priority 100; }'
e $G nft add rule ip nat post oifname upl masquerade
e $R ip link set dev rt address 02:00:5e:00:00:01 up
e $R ip addr add 198.51.100.1/24 dev rt
e $R ip addr add 203.0.113.10/32 dev lo
e $R ip addr add 203.0.113.20/32 dev lo
e $R ip link set dev rx mtu 1000 up
e $R ip addr add 192.0.2.254/32 dev rx
e $R ip route add 203.0.113.30/32 dev rx
e $R sysctl -qw net.ipv4.ip_forward=1
e $X ip link set dev x mtu 1000 up
e $X ip addr add 203.0.113.30/32 dev x
e $X ip route add default dev x
# the VXLAN host: its underlay is a veth to the router's 192.0.2.1, the far VTEP
ip link add ul netns $V type veth peer name vr netns $R
e $V ip link set dev ul up
e $V ip addr add 192.0.2.3/24 dev ul
e $R ip link set dev vr up
e $R ip addr add 192.0.2.1/24 dev vr
e $V ip link add vx0 type vxlan id 4138 local 192.0.2.3 remote 192.0.2.1 dstport 4789 dev ul
e $V ip link set dev vx0 address 02:42:0a:14:00:03 mtu 1450 up
e $V ip addr add 10.20.0.3/24 dev vx0

e $R python3 -m http.server 80 --bind 203.0.113.10 >/dev/null 2>&1 & PIDS+=($!)
e $R iperf3 -s -B 203.0.113.20 -1 >/dev/null 2>&1 & PIDS+=($!)
e $C tcpdump -U -s 0 -i c1 -w "$OUT/c1.pcap" 'ether src 02:42:ac:11:00:02' 2>/dev/null & PIDS+=($!)
e $G tcpdump -U -s 0 -i upl -w "$OUT/uplink.pcap" 'ether src 02:00:5e:00:00:01' 2>/dev/null & PIDS+=($!)
e $G tcpdump -U -s 0 -i br -w "$OUT/host.pcap" 'ether dst 02:42:ac:11:00:02 and ip' 2>/dev/null & PIDS+=($!)
e $V tcpdump -U -s 0 -i ul -w "$OUT/underlay.pcap" 'udp port 4789' 2>/dev/null & PIDS+=($!)
sleep 1.5

# traffic from the container
e $C ip neigh flush dev c1 >/dev/null 2>&1 || true  # the first packet out asks ARP for the gateway
e $C ping -c 2 -i 0.2 172.17.0.1 >/dev/null || true
e $C ping -c 2 -i 0.2 203.0.113.10 >/dev/null || true
e $C ping -c 1 -s 1400 203.0.113.10 >/dev/null || true
e $C ping -c 1 -M do -s 1200 203.0.113.30 >/dev/null || true
e $C ping -c 1 -t 1 203.0.113.10 >/dev/null || true
e $C ping -c 1 -R 203.0.113.10 >/dev/null || true
e $C curl -s -m 3 -o /dev/null http://203.0.113.10/ || true
e $C curl -s -m 2 -o /dev/null http://203.0.113.10:8080/ || true
e $C traceroute -n -q 1 -m 3 203.0.113.10 >/dev/null 2>&1 || true
e $C traceroute -n -q 1 -m 2 -T -p 80 203.0.113.10 >/dev/null 2>&1 || true
e $C timeout 5 iperf3 -c 203.0.113.20 -t 1 -n 200K >/dev/null 2>&1 || true
for t in A AAAA MX TXT SRV PTR NS SOA ANY; do
  e $C dig +tries=1 +time=1 @172.17.0.1 example.com $t >/dev/null 2>&1 || true
done
e $C dig +tries=1 +time=1 @172.17.0.1 -x 172.17.0.3 >/dev/null 2>&1 || true
e $C dig +tries=1 +time=1 +dnssec +bufsize=1232 @172.17.0.1 web.pontoon.internal A >/dev/null 2>&1 || true
e $C dig +tries=1 +time=1 +noedns @172.17.0.1 c2 A >/dev/null 2>&1 || true
# the overlay: ARP flooded to the far VTEP, then ping and TCP once the neighbour is known
e $V ping -c 1 -W 1 10.20.0.2 >/dev/null 2>&1 || true
e $V ip neigh replace 10.20.0.2 lladdr 02:42:0a:14:00:02 dev vx0
e $V ping -c 2 -i 0.2 -W 1 10.20.0.2 >/dev/null 2>&1 || true
e $V curl -s -m 1 -o /dev/null http://10.20.0.2/ || true
e $V dig +tries=1 +time=1 @10.20.0.1 example.com A >/dev/null 2>&1 || true
sleep 1

cd "$ROOT"
node dist/test/fuzz/make-seeds.js pipeline c1="$OUT/c1.pcap" uplink="$OUT/uplink.pcap" host="$OUT/host.pcap" underlay="$OUT/underlay.pcap"
node dist/test/fuzz/make-seeds.js dns "$OUT/c1.pcap"
echo "captures in $OUT"
