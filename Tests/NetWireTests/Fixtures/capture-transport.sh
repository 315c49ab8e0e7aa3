#!/bin/bash
# Builds tp-a -- tp-b -- tp-c, captures on tp-b's veth facing tp-a.
set -x
for n in tp-a tp-b tp-c; do ip netns del $n 2>/dev/null; ip netns add $n; done
ip link add va netns tp-a type veth peer name vb netns tp-b
ip link add vb2 netns tp-b type veth peer name vc netns tp-c
ip -n tp-a addr add 10.99.0.1/24 dev va; ip -n tp-a link set va up; ip -n tp-a link set lo up
ip -n tp-b addr add 10.99.0.2/24 dev vb; ip -n tp-b link set vb up; ip -n tp-b link set lo up
ip -n tp-b addr add 10.99.1.1/24 dev vb2; ip -n tp-b link set vb2 mtu 1280 up
ip -n tp-c addr add 10.99.1.2/24 dev vc; ip -n tp-c link set vc mtu 1280 up; ip -n tp-c link set lo up
ip -n tp-a route add 10.99.1.0/24 via 10.99.0.2
ip -n tp-c route add default via 10.99.1.1
ip netns exec tp-b sysctl -qw net.ipv4.ip_forward=1
# kernel VXLAN over the veth
ip -n tp-a link add vx0 type vxlan id 42 remote 10.99.0.2 local 10.99.0.1 dstport 4789 dev va
ip -n tp-b link add vx0 type vxlan id 42 remote 10.99.0.1 local 10.99.0.2 dstport 4789 dev vb
ip -n tp-a addr add 192.168.42.1/24 dev vx0; ip -n tp-a link set vx0 up
ip -n tp-b addr add 192.168.42.2/24 dev vx0; ip -n tp-b link set vx0 up
ip netns exec tp-a /usr/bin/python3 "$(dirname "$0")"/txoff.py va; ip netns exec tp-b /usr/bin/python3 "$(dirname "$0")"/txoff.py vb   # full checksums, not CHECKSUM_PARTIAL
for n in tp-a tp-b; do ip netns exec $n sysctl -qw net.ipv6.conf.all.disable_ipv6=1; ip -n $n neigh flush all; done
sleep 1
ip netns exec tp-b timeout 30 tcpdump -i vb -U -w /tmp/tp.pcap 'not ip6' & TD=$!
sleep 2
# TCP listener in tp-b on 5000 echoing "pong"
ip netns exec tp-b timeout 10 /usr/bin/python3 -c '
import socket
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR,1); s.bind(("10.99.0.2",5000)); s.listen(1)
c,_=s.accept(); d=c.recv(100); c.sendall(b"pong\n"); c.close()' & LS=$!
sleep 1
ip netns exec tp-a timeout 5 /usr/bin/python3 -c '
import socket,struct,sys
def csum(b):
    if len(b)%2: b+=b"\0"
    s=sum(struct.unpack("!%dH"%(len(b)//2),b)); s=(s>>16)+(s&0xffff); s+=s>>16; return ~s&0xffff
dst,size,ttl,df=sys.argv[1],int(sys.argv[2]),int(sys.argv[3]),int(sys.argv[4])
r=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_ICMP)
r.setsockopt(socket.IPPROTO_IP,socket.IP_TTL,ttl)
if df: r.setsockopt(socket.IPPROTO_IP,10,2)
data=(b"netstack"*400)[:size]
h=struct.pack("!BBHHH",8,0,0,0x1234,1); c=csum(h+data)
r.sendto(struct.pack("!BBHHH",8,0,c,0x1234,1)+data,(dst,0)); r.settimeout(2)
try: print(r.recvfrom(2000)[0][:28].hex())
except Exception as e: print(e)' 10.99.0.2 24 64 0      # ARP + echo
ip netns exec tp-a timeout 5 /usr/bin/python3 -c '
import socket
c=socket.create_connection(("10.99.0.2",5000)); c.sendall(b"ping\n"); print(c.recv(100)); c.close()'
ip netns exec tp-a timeout 5 /usr/bin/python3 -c '
import socket
try: socket.create_connection(("10.99.0.2",5001),timeout=2)
except Exception as e: print(e)'
ip netns exec tp-a timeout 5 /usr/bin/python3 -c '
import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("10.99.0.1",40000)); s.sendto(b"hello udp\n",("10.99.0.2",5353))'
ip netns exec tp-a timeout 5 /usr/bin/python3 -c '
import socket,struct,sys
def csum(b):
    if len(b)%2: b+=b"\0"
    s=sum(struct.unpack("!%dH"%(len(b)//2),b)); s=(s>>16)+(s&0xffff); s+=s>>16; return ~s&0xffff
dst,size,ttl,df=sys.argv[1],int(sys.argv[2]),int(sys.argv[3]),int(sys.argv[4])
r=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_ICMP)
r.setsockopt(socket.IPPROTO_IP,socket.IP_TTL,ttl)
if df: r.setsockopt(socket.IPPROTO_IP,10,2)
data=(b"netstack"*400)[:size]
h=struct.pack("!BBHHH",8,0,0,0x1234,1); c=csum(h+data)
r.sendto(struct.pack("!BBHHH",8,0,c,0x1234,1)+data,(dst,0)); r.settimeout(2)
try: print(r.recvfrom(2000)[0][:28].hex())
except Exception as e: print(e)' 10.99.1.2 1400 64 1        # frag needed from tp-b
ip netns exec tp-a timeout 5 /usr/bin/python3 -c '
import socket,struct,sys
def csum(b):
    if len(b)%2: b+=b"\0"
    s=sum(struct.unpack("!%dH"%(len(b)//2),b)); s=(s>>16)+(s&0xffff); s+=s>>16; return ~s&0xffff
dst,size,ttl,df=sys.argv[1],int(sys.argv[2]),int(sys.argv[3]),int(sys.argv[4])
r=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_ICMP)
r.setsockopt(socket.IPPROTO_IP,socket.IP_TTL,ttl)
if df: r.setsockopt(socket.IPPROTO_IP,10,2)
data=(b"netstack"*400)[:size]
h=struct.pack("!BBHHH",8,0,0,0x1234,1); c=csum(h+data)
r.sendto(struct.pack("!BBHHH",8,0,c,0x1234,1)+data,(dst,0)); r.settimeout(2)
try: print(r.recvfrom(2000)[0][:28].hex())
except Exception as e: print(e)' 10.99.1.2 16 1 0                 # time exceeded from tp-b
ip netns exec tp-a timeout 5 /usr/bin/python3 -c '
import socket,struct,sys
def csum(b):
    if len(b)%2: b+=b"\0"
    s=sum(struct.unpack("!%dH"%(len(b)//2),b)); s=(s>>16)+(s&0xffff); s+=s>>16; return ~s&0xffff
dst,size,ttl,df=sys.argv[1],int(sys.argv[2]),int(sys.argv[3]),int(sys.argv[4])
r=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_ICMP)
r.setsockopt(socket.IPPROTO_IP,socket.IP_TTL,ttl)
if df: r.setsockopt(socket.IPPROTO_IP,10,2)
data=(b"netstack"*400)[:size]
h=struct.pack("!BBHHH",8,0,0,0x1234,1); c=csum(h+data)
r.sendto(struct.pack("!BBHHH",8,0,c,0x1234,1)+data,(dst,0)); r.settimeout(2)
try: print(r.recvfrom(2000)[0][:28].hex())
except Exception as e: print(e)' 192.168.42.2 8 64 0                   # over VXLAN
sleep 2
wait $LS
kill $TD; wait $TD
for n in tp-a tp-b tp-c; do ip netns del $n; done
