#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, cut from the project's real captures.

Each Ethernet frame of the fixture pcaps is sliced at its layer boundaries
(Ethernet, VLAN, ARP, IPv4/IPv6, ICMP, UDP, TCP, VXLAN) and every slice goes
to the corpus of the target that parses that layer. Standard library only.

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
    print('seeds: %d files in %s' % (n, out))

main()
