# Generates the golden IPv6/ICMPv6 packets checked into IPv6Tests.swift and
# ICMPv6Tests.swift. Run with Debian's /usr/bin/python3 (scapy 2.5); each pcap
# was read back with `tshark -r /tmp/v6/NAME.pcap -V` to confirm the fields
# and that tshark reports every ICMPv6 checksum [correct].
from scapy.all import *
src="fe80::200:ff:fe00:1"; dst="fe80::200:ff:fe00:2"
pk = {}
pk['echo'] = IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=64, tc=0xb8, fl=0x12345)/ICMPv6EchoRequest(id=0x1234, seq=7, data=b"abcdefgh")
pk['ns'] = IPv6(src=src, dst="ff02::1:ff00:2", hlim=255)/ICMPv6ND_NS(tgt=dst)/ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01")
pk['na'] = IPv6(src=dst, dst=src, hlim=255)/ICMPv6ND_NA(R=0,S=1,O=1,tgt=dst)/ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:02")
pk['ra'] = IPv6(src=src, dst="ff02::1", hlim=255)/ICMPv6ND_RA(chlim=64, M=1, O=0, routerlifetime=1800, reachabletime=30000, retranstimer=1000)/ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01")/ICMPv6NDOptMTU(mtu=1500)/ICMPv6NDOptPrefixInfo(prefixlen=64, L=1, A=1, validlifetime=86400, preferredlifetime=14400, prefix="2001:db8:1::")/ICMPv6NDOptRDNSS(lifetime=600, dns=["2001:db8::53","2001:db8::54"])
inner = IPv6(src="2001:db8::1", dst="2001:db8::99", hlim=63)/UDP(sport=1234, dport=53)/Raw(b"x"*32)
pk['ptb'] = IPv6(src="2001:db8::fe", dst="2001:db8::1", hlim=64)/ICMPv6PacketTooBig(mtu=1280)/raw(inner)
pk['ext'] = IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=64)/IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)])/IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00\x00\x00\x00")])/IPv6ExtHdrFragment(offset=0, m=1, id=0xdeadbeef)/UDP(sport=5000, dport=6000)/Raw(b"hello world!")
pk['rs'] = IPv6(src=src, dst="ff02::2", hlim=255)/ICMPv6ND_RS()/ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01")
pk['redirect'] = IPv6(src=src, dst=dst, hlim=255)/ICMPv6ND_Redirect(tgt="fe80::1", dst="2001:db8::99")/ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:03")/ICMPv6NDOptRedirectedHdr(pkt=raw(inner)[:40])
pk['rthdr'] = IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=64)/IPv6ExtHdrRouting(addresses=["2001:db8::3","2001:db8::4"], segleft=2)/ICMPv6EchoRequest(id=1, seq=2)
pk['tx'] = IPv6(src="2001:db8::fe", dst="2001:db8::1")/ICMPv6TimeExceeded(code=0)/raw(inner)[:48]
pk['pp'] = IPv6(src="2001:db8::fe", dst="2001:db8::1")/ICMPv6ParamProblem(code=1, ptr=40)/raw(inner)[:48]
pk['du'] = IPv6(src="2001:db8::fe", dst="2001:db8::1")/ICMPv6DestUnreach(code=4)/raw(inner)[:48]
for k,p in pk.items():
    b = raw(p)
    wrpcap(f"/tmp/v6/{k}.pcap", [Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")/p])
    print(k, b.hex())
