#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, cut from the project's real captures.

Each Ethernet frame of the fixture pcaps is sliced at its layer boundaries
(Ethernet, VLAN, ARP, IPv4/IPv6, ICMP, UDP, TCP, VXLAN) and every slice goes
to the corpus of the target that parses that layer. The `stack` target gets
every short frame in its input format (selector byte, length byte, frame)
and frames addressed to the fuzz router itself. Standard library only.

usage: seeds.py OUT_DIR PCAP...
"""
import os, struct, sys

def frames(path):
    data = open(path, 'rb').read()
    magic = data[:4]
    if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'):
        e = '<'
    elif magic in (b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'):
        e = '>'
    else:
        return  # pcapng fixtures go to the capture target whole
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack(e + 'I', data[off + 8:off + 12])[0]
        yield data[off + 16:off + 16 + incl]
        off += 16 + incl

def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('>%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF

def ipv4(src, dst, proto, payload, frag=0, ttl=64):
    h = struct.pack('>BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), 1, frag, ttl, proto, 0, bytes(src), bytes(dst))
    return h[:10] + struct.pack('>H', csum(h)) + h[12:] + payload

def ipv6(src, dst, nh, payload, hops=64):
    return struct.pack('>IHBB', 0x60000000, len(payload), nh, hops) + bytes(src) + bytes(dst) + payload

def router_frames():
    """Frames for the stack target's router r (Fuzz/Stack/StackTarget.swift):
    10.1.0.1 / 2001:db8:1::1 on e0, forwarding to 10.2.0.0/24 and 2001:db8:2::/64."""
    mac, peer = b'\0' * 6, bytes([2, 0, 0, 0, 0, 1])   # the harness writes r's MAC
    a4, r4, b4 = [10, 1, 0, 2], [10, 1, 0, 1], [10, 2, 0, 2]
    a6 = bytes([0x20, 0x01, 0x0d, 0xb8, 0, 1] + [0] * 9 + [2])
    r6 = bytes([0x20, 0x01, 0x0d, 0xb8, 0, 1] + [0] * 9 + [1])
    b6 = bytes([0x20, 0x01, 0x0d, 0xb8, 0, 2] + [0] * 9 + [2])
    echo = struct.pack('>BBHHH', 8, 0, 0, 1, 1) + b'x' * 16
    echo = echo[:2] + struct.pack('>H', csum(echo)) + echo[4:]
    udp = struct.pack('>HHHH', 4000, 7, 8 + 4, 0) + b'ping'
    def tcp(pseudo, flags, seq=1000, ack=0, payload=b'', opts=b''):
        hl = 20 + len(opts)
        h = struct.pack('>HHIIBBHHH', 40000, 7, seq, ack, (hl // 4) << 4, flags, 64240, 0, 0) + opts + payload
        c = csum(pseudo(len(h)) + h)
        return h[:16] + struct.pack('>H', c) + h[18:]
    ph4 = lambda n: bytes(a4) + bytes(r4) + struct.pack('>BBH', 0, 6, n)
    ph6 = lambda n: a6 + r6 + struct.pack('>IxxxB', n, 6)
    synopts = bytes([2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7])
    syn4 = tcp(ph4, 0x02, opts=synopts)
    data4 = tcp(ph4, 0x18, seq=1001, ack=1, payload=b'hello')
    syn6 = tcp(ph6, 0x02, opts=synopts)
    eth4, eth6 = mac + peer + b'\x08\x00', mac + peer + b'\x86\xdd'
    out = [
        mac[:0] + b'\xff' * 6 + peer + b'\x08\x06' + struct.pack('>HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 1, peer, bytes(a4), b'\0' * 6, bytes(r4)),
        eth4 + ipv4(a4, r4, 1, echo),
        eth4 + ipv4(a4, r4, 17, udp),
        eth4 + ipv4(a4, b4, 1, echo),
        eth4 + ipv4(a4, b4, 1, echo, ttl=1),
        eth4 + ipv4(a4, r4, 17, udp[:8], frag=0x2000),
        eth4 + ipv4(a4, r4, 17, udp[8:], frag=1),
        eth6 + ipv6(a6, r6, 58, struct.pack('>BBHHH', 128, 0, 0, 1, 1) + b'y' * 8),
        eth6 + ipv6(a6, b6, 58, struct.pack('>BBHHH', 128, 0, 0, 1, 1) + b'y' * 8, hops=1),
        eth6 + ipv6(a6, r6, 44, struct.pack('>BBHI', 17, 0, 1, 7) + udp),
        eth4 + ipv4(a4, r4, 6, syn4),
        eth4 + ipv4(a4, r4, 6, data4),
        eth6 + ipv6(a6, r6, 6, syn6),
    ]
    return out

def stack_seed(frames):
    return b''.join(bytes([4, len(f)]) + f for f in frames if len(f) <= 255)

def main():
    out, pcaps = sys.argv[1], sys.argv[2:]
    n = 0
    def put(target, blob):
        nonlocal n
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        n += 1
        open(os.path.join(d, 'seed%04d' % n), 'wb').write(blob)
    for p in pcaps:
        put('capture', open(p, 'rb').read())
        for f in frames(p):
            put('ethernet', f); put('summary', f); put('checksum', f)
            etype, l3 = struct.unpack('>H', f[12:14])[0], f[14:]
            if etype in (0x8100, 0x88A8) and len(l3) >= 4:
                put('vlan', l3)
                etype, l3 = struct.unpack('>H', l3[2:4])[0], l3[4:]
            if etype == 0x0806:
                put('arp', l3)
            elif etype == 0x0800 and len(l3) >= 20:
                put('ipv4', l3)
                ihl = (l3[0] & 15) * 4
                proto, l4 = l3[9], l3[ihl:]
                {1: 'icmpv4', 6: 'tcp', 17: 'udp'}.get(proto) and put({1: 'icmpv4', 6: 'tcp', 17: 'udp'}[proto], l4)
                if proto == 17 and len(l4) >= 16 and struct.unpack('>H', l4[2:4])[0] == 4789:
                    put('vxlan', l4[8:])
            elif etype == 0x86DD and len(l3) >= 40:
                put('ipv6', l3)
                nh, l4 = l3[6], l3[40:]
                {58: 'icmpv6', 6: 'tcp', 17: 'udp'}.get(nh) and put({58: 'icmpv6', 6: 'tcp', 17: 'udp'}[nh], l4)
    for f in router_frames():
        put('stack', stack_seed([f]))
    put('stack', stack_seed(router_frames()))
    for p in pcaps:
        short = [f for f in frames(p) if len(f) <= 255]
        for k in range(0, len(short), 8):
            put('stack', stack_seed(short[k:k + 8]))
    print('seeds: %d files in %s' % (n, out))

main()
