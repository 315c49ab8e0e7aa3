#!/bin/bash
# Regenerates veth-ping-arp-udp-tcp.pcap (run as root on Linux; needs tcpdump, python3, editcap).
# Namespaces cap-a/cap-b are created and removed; every command is bounded by timeout.
# Afterwards: editcap -F pcapng veth-ping-arp-udp-tcp.pcap veth-ping-arp-udp-tcp.pcapng
set -u
OUT=${1:-veth-ping-arp-udp-tcp.pcap}
cleanup() { ip netns del cap-a 2>/dev/null; ip netns del cap-b 2>/dev/null; }
trap cleanup EXIT
cleanup
ip netns add cap-a && ip netns add cap-b
for n in cap-a cap-b; do
  ip netns exec $n sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip link add veth-a netns cap-a type veth peer name veth-b netns cap-b
ip -n cap-a addr add 10.98.0.1/24 dev veth-a
ip -n cap-b addr add 10.98.0.2/24 dev veth-b
ip -n cap-a link set lo up; ip -n cap-b link set lo up
ip -n cap-a link set veth-a up; ip -n cap-b link set veth-b up
sleep 1
ip netns exec cap-a timeout 10 tcpdump -n -U -i veth-a -w $OUT 2>/tmp/make-veth-capture.err &
TD=$!
sleep 1.5
# ping -c 2 (raw ICMP echo; the kernel in cap-b answers); first packet triggers ARP
ip netns exec cap-a timeout 5 python3 - <<'PY'
import socket, struct, os, time
def csum(b):
    if len(b)%2: b+=b'\0'
    s=sum(struct.unpack('!%dH'%(len(b)//2),b)); s=(s>>16)+(s&0xffff); s+=s>>16; return ~s&0xffff
s=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_ICMP); s.settimeout(2)
for seq in (1,2):
    payload=bytes(range(56))
    h=struct.pack('!BBHHH',8,0,0,0x1234,seq); c=csum(h+payload)
    s.sendto(struct.pack('!BBHHH',8,0,c,0x1234,seq)+payload,('10.98.0.2',0))
    try: s.recv(2048)
    except Exception as e: print('no reply',e)
    time.sleep(0.3)
PY
# UDP datagram
ip netns exec cap-b timeout 4 python3 -c "
import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('10.98.0.2',5353+1)); s.settimeout(3); print('udp got', s.recv(100))" &
sleep 0.5
ip netns exec cap-a timeout 3 python3 -c "
import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.sendto(b'hello udp\n',('10.98.0.2',5354))"
sleep 0.5
# short TCP connection
ip netns exec cap-b timeout 4 python3 -c "
import socket; l=socket.socket(); l.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); l.bind(('10.98.0.2',8080)); l.listen(1); l.settimeout(3)
c,_=l.accept(); d=c.recv(100); c.sendall(b'pong\n'); c.close(); print('tcp got',d)" &
sleep 0.5
ip netns exec cap-a timeout 3 python3 -c "
import socket; s=socket.create_connection(('10.98.0.2',8080),timeout=2); s.sendall(b'ping\n'); print('client got', s.recv(100)); s.close()"
sleep 1
# explicit ARP exchange from the other side: flush b's neighbour and ping back via UDP
ip -n cap-b neigh flush dev veth-b
ip netns exec cap-b timeout 3 python3 -c "
import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.sendto(b'x',('10.98.0.1',9))"
sleep 1
kill -INT $TD; wait $TD
cat /tmp/make-veth-capture.err
