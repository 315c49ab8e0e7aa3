// One-line summaries of frames in the spirit of `tcpdump -n -r FILE`.
//
// For traces and the CLI, never the hot path: this file builds Strings.
// Every read is bounds-checked against the captured bytes; a frame cut short
// gives tcpdump's `[|proto]` marker at the layer where the bytes ran out,
// never a trap.
//
// What is printed (and where it deliberately differs from tcpdump 4.99):
// - Ethernet: like tcpdump without -e, no MAC addresses: `IP 10.0.0.1 > 10.0.0.2: …`.
// - 802.1Q / 802.1ad tags are shown (tcpdump shows them only with -e), in
//   tcpdump's -e wording: `vlan 100, p 0, ethertype IPv4 (0x0800), IP …`.
// - IPv4: `IP src > dst: …`; fragments get tcpdump's classic suffix
//   `(frag ID:LEN@OFFSET+)` ("+" when more fragments follow); a header whose
//   total length exceeds the frame on the wire gets `truncated-ip - N bytes missing!`.
// - IPv6: the fixed header only (`IP6 src > dst: …`); extension headers are
//   not walked yet, so the next-header name is what is shown.
// - ARP (Ethernet/IPv4): `ARP, Request who-has B tell A, length 28`,
//   `ARP, Reply B is-at MAC, length 28`. `length` is the ARP payload on the
//   wire including padding, as tcpdump prints it.
// - A transport protocol without a summariser yet prints
//   `NAME, length N` where N is the IP payload length (tcpdump prints
//   `ip-proto-N LEN` for protocols it does not know).
//
// Adding a protocol: see "EXTENSION POINT" below — one function each.

public enum FrameSummary {
    /// The summary of one captured frame. `originalLength` is its length on
    /// the wire (≥ `frame.count` when the capture was cut by a snaplen).
    public static func line(linkType: LinkType, frame: UnsafeRawBufferPointer, originalLength: Int) -> String {
        let wire = max(originalLength, frame.count)
        switch linkType {
        case .ethernet: return ethernet(frame, wireLength: wire)
        case .raw: return rawIP(frame, wireLength: wire)
        default: return "\(linkType), length \(wire)"
        }
    }

    /// `HH:MM:SS.ffffff` in UTC, the clock `tcpdump -r` prints by default
    /// (tcpdump uses local time; we print UTC so output does not depend on TZ).
    public static func clockTime(nanoseconds ns: UInt64) -> String {
        let seconds = ns / 1_000_000_000
        let micros = (ns % 1_000_000_000) / 1000
        let day = seconds % 86_400
        func two(_ v: UInt64) -> String { String(v).leftPadded(2) }
        return "\(two(day / 3600)):\(two(day / 60 % 60)):\(two(day % 60)).\(String(micros).leftPadded(6))"
    }

    // MARK: - Link layer

    public static func ethernet(_ bytes: UnsafeRawBufferPointer, wireLength: Int) -> String {
        guard bytes.count >= EthernetFrame.headerLength else { return "[|ether]" }
        var type = EtherType(rawValue: bytes.be16(12))
        var at = EthernetFrame.headerLength
        var prefix = ""
        while type.isVLANTag {
            guard bytes.count - at >= VLANTag.headerLength else { return prefix + "[|vlan]" }
            let tci = bytes.be16(at)
            let inner = EtherType(rawValue: bytes.be16(at + 2))
            prefix += "vlan \(tci & 0x0FFF), p \(tci >> 13), \(tci & 0x1000 != 0 ? "DEI, " : "")"
                + "ethertype \(etherTypeName(inner)), "
            type = inner
            at += VLANTag.headerLength
        }
        return prefix + etherType(type, bytes.bytes(at, bytes.count), wireLength: max(0, wireLength - at))
    }

    /// LINKTYPE_RAW: IPv4 or IPv6 by the version nibble.
    public static func rawIP(_ bytes: UnsafeRawBufferPointer, wireLength: Int) -> String {
        guard bytes.count >= 1 else { return "[|ip]" }
        switch bytes.u8(0) >> 4 {
        case 4: return ipv4(bytes, wireLength: wireLength)
        case 6: return ipv6(bytes, wireLength: wireLength)
        case let v: return "IP version \(v) unknown, length \(wireLength)"
        }
    }

    /// "IPv4 (0x0800)", as tcpdump -e names an EtherType.
    static func etherTypeName(_ type: EtherType) -> String {
        let hex = "0x" + String(type.rawValue, radix: 16).leftPadded(4)
        return type.description.hasPrefix("0x") ? "Unknown (\(hex))" : "\(type) (\(hex))"
    }

    // MARK: - EXTENSION POINT: EtherTypes
    //
    // To summarise a new EtherType, add a case that calls a function
    // `static func name(_ bytes: UnsafeRawBufferPointer, wireLength: Int) -> String`.
    // `bytes` are the captured bytes after the link header, `wireLength` the
    // length of the same span on the wire.

    static func etherType(_ type: EtherType, _ bytes: UnsafeRawBufferPointer, wireLength: Int) -> String {
        switch type {
        case .ipv4: return ipv4(bytes, wireLength: wireLength)
        case .ipv6: return ipv6(bytes, wireLength: wireLength)
        case .arp: return arp(bytes, wireLength: wireLength)
        default:
            if type.isLength { return "802.3 LLC, length \(wireLength)" }
            if type.description.hasPrefix("0x") { return "ethertype \(etherTypeName(type)), length \(wireLength)" }
            return "\(type), length \(wireLength)"
        }
    }

    // MARK: - Network layer

    public static func ipv4(_ bytes: UnsafeRawBufferPointer, wireLength: Int) -> String {
        guard bytes.count >= IPv4Packet.minimumHeaderLength else { return "IP [|ip]" }
        let version = bytes.u8(0) >> 4
        guard version == 4 else { return "IP bad-version \(version)" }
        let ihl = Int(bytes.u8(0) & 0x0F) * 4
        guard ihl >= IPv4Packet.minimumHeaderLength else { return "IP bad-hlen \(ihl)" }
        guard bytes.count >= ihl else { return "IP [|ip]" }
        let total = Int(bytes.be16(2))
        guard total >= ihl else { return "IP bad-len \(total)" }
        let proto = IPProtocol(rawValue: bytes.u8(9))
        let source = IPv4Address(rawValue: bytes.be32(12)).description
        let destination = IPv4Address(rawValue: bytes.be32(16)).description
        var head = "IP "
        if total > wireLength { head += "truncated-ip - \(total - wireLength) bytes missing! " }

        let flagsOffset = bytes.be16(6)
        let fragmentOffset = Int(flagsOffset & 0x1FFF) * 8
        let moreFragments = flagsOffset & 0x2000 != 0
        let payloadLength = total - ihl
        let captured = bytes.bytes(ihl, min(bytes.count, total))
        let context = TransportContext(source: source, destination: destination, protocol: proto,
                                       payload: captured, length: payloadLength, isIPv6: false)
        // Only the first fragment carries the transport header.
        var text = fragmentOffset == 0 ? transportOrGeneric(context) : "\(source) > \(destination): \(name(proto))"
        if fragmentOffset != 0 || moreFragments {
            text += " (frag \(bytes.be16(4)):\(payloadLength)@\(fragmentOffset)\(moreFragments ? "+" : ""))"
        }
        return head + text
    }

    public static func ipv6(_ bytes: UnsafeRawBufferPointer, wireLength: Int) -> String {
        guard bytes.count >= 40 else { return "IP6 [|ip6]" }
        let version = bytes.u8(0) >> 4
        guard version == 6 else { return "IP6 bad-version \(version)" }
        let payloadLength = Int(bytes.be16(4))
        var next = IPProtocol(rawValue: bytes.u8(6))
        let source = IPv6Address(reading: bytes, at: 8).description
        let destination = IPv6Address(reading: bytes, at: 24).description
        var head = "IP6 "
        if 40 + payloadLength > wireLength { head += "truncated - \(40 + payloadLength - wireLength) bytes missing! " }
        let end = min(bytes.count, 40 + payloadLength)
        // Walk the extension headers (RFC 8200 §4): each named as tcpdump -n
        // names it, then the transport with bare ports after them.
        var at = 40
        var prefix = ""
        while next == .hopByHop || next == .routing || next == .fragment || next == .destinationOptions {
            guard end - at >= 8 else { return head + "\(source) > \(destination): \(prefix)[|ip6]" }
            let h = bytes.bytes(at, end)
            let length = next == .fragment ? 8 : (Int(h.u8(1)) + 1) * 8
            guard h.count >= length else { return head + "\(source) > \(destination): \(prefix)[|ip6]" }
            switch next {
            case .hopByHop: prefix += "HBH "
            case .destinationOptions: prefix += "DSTOPT "
            case .routing: prefix += routingHeader(h.bytes(0, length))
            default:
                let offset = Int(h.be16(2) & 0xFFF8)
                prefix += "frag (\(offset)|\(payloadLength - (at - 40) - 8))"
                // Only the first fragment carries the next header.
                if offset != 0 { return head + "\(source) > \(destination): \(prefix)" }
                prefix += " "
            }
            next = IPProtocol(rawValue: h.u8(0))
            at += length
        }
        let context = TransportContext(source: source, destination: destination, protocol: next,
                                       payload: bytes.bytes(at, end), length: payloadLength - (at - 40),
                                       isIPv6: true, extensionHeaders: prefix)
        return head + transportOrGeneric(context)
    }

    /// `RT6 (len=4, type=0 [Deprecated], segleft=2, [0]2001:db8::3, [1]2001:db8::4) `;
    /// other routing types without their data.
    static func routingHeader(_ h: UnsafeRawBufferPointer) -> String {
        let len = h.u8(1), type = h.u8(2), left = h.u8(3)
        guard type == 0 else { return "RT6 (len=\(len), type=\(type), segleft=\(left)) " }
        var text = "RT6 (len=\(len), type=0 [Deprecated], segleft=\(left)"
        var i = 0
        while 8 + 16 * (i + 1) <= h.count {
            text += ", [\(i)]\(IPv6Address(reading: h, at: 8 + 16 * i))"
            i += 1
        }
        return text + ") "
    }

    /// ARP (RFC 826) read from raw bytes; Ethernet/IPv4 in full, others by type.
    public static func arp(_ bytes: UnsafeRawBufferPointer, wireLength: Int) -> String {
        guard bytes.count >= 8 else { return "ARP, [|arp]" }
        let hardware = bytes.be16(0), protocolType = bytes.be16(2)
        let hlen = bytes.u8(4), plen = bytes.u8(5), op = bytes.be16(6)
        guard hardware == 1, protocolType == 0x0800, hlen == 6, plen == 4 else {
            return "ARP, hardware \(hardware), protocol 0x\(String(protocolType, radix: 16).leftPadded(4)), "
                + "opcode \(op), length \(wireLength)"
        }
        guard bytes.count >= 28 else { return "ARP, [|arp]" }
        let sha = MACAddress(reading: bytes, at: 8), spa = IPv4Address(rawValue: bytes.be32(14))
        let tha = MACAddress(reading: bytes, at: 18), tpa = IPv4Address(rawValue: bytes.be32(24))
        switch op {
        case 1:
            let asked = tha == .zero || tha.isBroadcast ? "" : " (\(tha))"
            return "ARP, Request who-has \(tpa)\(asked) tell \(spa), length \(wireLength)"
        case 2: return "ARP, Reply \(spa) is-at \(sha), length \(wireLength)"
        case 3: return "RARP, Request who-is \(tha) tell \(sha), length \(wireLength)"
        case 4: return "RARP, Reply \(tha) at \(tpa), length \(wireLength)"
        default: return "ARP, opcode \(op), length \(wireLength)"
        }
    }

    // MARK: - Transport layer

    /// What a transport summariser is given.
    public struct TransportContext {
        /// Address text of the network header ("10.0.0.1", "2001:db8::1").
        public var source: String
        public var destination: String
        public var `protocol`: IPProtocol
        /// The captured bytes of the transport payload (may be cut short).
        public var payload: UnsafeRawBufferPointer
        /// The transport length the network header declares.
        public var length: Int
        public var isIPv6: Bool
        /// IPv6 extension headers already printed (`"HBH DSTOPT "`); when
        /// not empty tcpdump prints the addresses before them and bare ports after.
        public var extensionHeaders: String = ""

        /// True when fewer bytes were captured than the header declares.
        public var isCut: Bool { payload.count < length }
    }

    // MARK: - EXTENSION POINT: transport protocols
    //
    // To summarise a protocol, write one function
    //     static func udp(_ c: TransportContext) -> String
    // that returns everything after "IP " / "IP6 " — tcpdump puts ports in
    // the address part: "10.0.0.1.1234 > 10.0.0.2.53: UDP, length 4" (use
    // `endpoints`, or `plain` for protocols without ports) — and add its case
    // below. Return `[|udp]`-style markers when `c.payload` is too short.
    //
    // Application protocols are not decoded (tcpdump decodes some by port:
    // `length 5: HTTP`, DNS on 53/5353); UDP is always `UDP, length N`.

    static func transport(_ c: TransportContext) -> String? {
        switch c.protocol {
        case .udp: return udp(c)
        case .tcp: return tcp(c)
        case .icmp where !c.isIPv6: return icmp(c)
        case .icmpv6 where c.isIPv6: return icmpv6(c)
        default: return nil
        }
    }

    /// `a > b: ` plus any IPv6 extension headers.
    static func plain(_ c: TransportContext) -> String {
        "\(c.source) > \(c.destination): \(c.extensionHeaders)"
    }

    /// `a.1 > b.2: `, or `a > b: HBH 1 > 2: ` after IPv6 extension headers.
    static func endpoints(_ c: TransportContext, _ sport: UInt16, _ dport: UInt16) -> String {
        c.extensionHeaders.isEmpty ? "\(c.source).\(sport) > \(c.destination).\(dport): "
            : "\(plain(c))\(sport) > \(dport): "
    }

    /// `UDP, length N` (N from the UDP length field, minus the header);
    /// VXLAN on port 4789 adds the flags, VNI and the inner frame's summary
    /// on the same line after `": "` (tcpdump starts a new line there; we
    /// keep one line per frame).
    static func udp(_ c: TransportContext) -> String {
        let p = c.payload
        guard p.count >= 4 else { return plain(c) + "[|udp]" }
        let sport = p.be16(0), dport = p.be16(2)
        let head = endpoints(c, sport, dport)
        guard p.count >= UDPDatagram.headerLength else { return head + " [|udp]" }
        let ulen = Int(p.be16(4))
        guard ulen >= UDPDatagram.headerLength else { return head + "UDP, bad length \(ulen)" }
        if sport == VXLANHeader.udpPort || dport == VXLANHeader.udpPort {
            let v = p.bytes(UDPDatagram.headerLength, p.count)
            guard v.count >= VXLANHeader.length else { return head + "VXLAN [|vxlan]" }
            let flags = v.u8(0)
            let hex = String(flags, radix: 16).leftPadded(2)
            let inner = v.bytes(VXLANHeader.length, v.count)
            let innerWire = max(inner.count, min(ulen, c.length) - UDPDatagram.headerLength - VXLANHeader.length)
            return head + "VXLAN, flags [\(flags & VXLANHeader.flagVNI != 0 ? "I" : ".")] (0x\(hex)), "
                + "vni \(v.be32(4) >> 8): " + ethernet(inner, wireLength: innerWire)
        }
        return head + "UDP, length \(ulen - UDPDatagram.headerLength)"
    }

    /// TCP as `tcpdump -n -S` prints it: ABSOLUTE sequence and acknowledgment
    /// numbers (tcpdump without -S prints them relative to the first segment
    /// of a connection it has seen; a stateless one-liner cannot).
    /// `Flags [S.], seq 1, ack 2, win 64240, options [mss 1460,…], length 0`.
    static func tcp(_ c: TransportContext) -> String {
        let p = c.payload
        guard p.count >= 4 else { return plain(c) + "[|tcp]" }
        let head = endpoints(c, p.be16(0), p.be16(2))
        guard p.count >= TCPSegment.minimumHeaderLength else { return head + " [|tcp]" }
        let hl = Int(p.u8(12) >> 4) * 4
        guard hl >= TCPSegment.minimumHeaderLength else {
            return head + "tcp \(c.length) [bad hdr length \(hl) - too short, < 20]"
        }
        guard p.count >= hl else { return head + " [|tcp]" }
        let flags = TCPFlags(rawValue: p.be16(12) & 0x01FF)
        var letters = ""
        for (flag, letter) in [(TCPFlags.fin, "F"), (.syn, "S"), (.rst, "R"), (.psh, "P"), (.ack, "."),
                               (.urg, "U"), (.ece, "E"), (.cwr, "W")] where flags.contains(flag) {
            letters += letter
        }
        let seq = p.be32(4), dataLength = max(0, c.length - hl)
        var text = head + "Flags [\(letters.isEmpty ? "none" : letters)]"
        if dataLength > 0 {
            text += ", seq \(seq):\(seq &+ UInt32(truncatingIfNeeded: dataLength))"
        } else if !flags.isDisjoint(with: [.syn, .fin, .rst]) {
            text += ", seq \(seq)"
        }
        if flags.contains(.ack) { text += ", ack \(p.be32(8))" }
        text += ", win \(p.be16(14))"
        if flags.contains(.urg) { text += ", urg \(p.be16(18))" }
        if hl > TCPSegment.minimumHeaderLength { text += ", options [\(tcpOptions(p.bytes(20, hl)))]" }
        return text + ", length \(dataLength)"
    }

    static func tcpOptions(_ o: UnsafeRawBufferPointer) -> String {
        var parts: [String] = []
        var i = 0
        func hex(_ b: UnsafeRawBufferPointer) -> String {
            b.map { String($0, radix: 16).leftPadded(2) }.joined()
        }
        while i < o.count {
            let kind = o.u8(i)
            if kind == TCPOptionKind.endOfList { parts.append("eol"); break }
            if kind == TCPOptionKind.noOperation { parts.append("nop"); i += 1; continue }
            guard i + 1 < o.count else { parts.append("[|tcp]"); break }
            let len = Int(o.u8(i + 1))
            guard len >= 2, i + len <= o.count else { parts.append("[bad opt]"); break }
            let d = o.bytes(i + 2, i + len)
            switch (kind, len) {
            case (TCPOptionKind.maximumSegmentSize, 4): parts.append("mss \(d.be16(0))")
            case (TCPOptionKind.windowScale, 3): parts.append("wscale \(d.u8(0))")
            case (TCPOptionKind.sackPermitted, 2): parts.append("sackOK")
            case (TCPOptionKind.sack, _) where (len - 2) % 8 == 0:
                var text = "sack \((len - 2) / 8) "
                for b in stride(from: 0, to: len - 2, by: 8) { text += "{\(d.be32(b)):\(d.be32(b + 4))}" }
                parts.append(text)
            case (TCPOptionKind.timestamps, 10): parts.append("TS val \(d.be32(0)) ecr \(d.be32(4))")
            case (TCPOptionKind.fastOpen, _):
                parts.append(len == 2 ? "tfo  cookiereq" : "tfo  cookie \(hex(d))")
            default: parts.append("unknown-\(kind) 0x\(hex(d))")
            }
            i += len
        }
        return parts.joined(separator: ",")
    }

    /// ICMP in tcpdump's words: `ICMP echo request, id 1, seq 1, length 64`,
    /// `ICMP 10.0.0.2 udp port 53 unreachable, length 36`; N is the ICMP length.
    static func icmp(_ c: TransportContext) -> String {
        let p = c.payload
        guard p.count >= 4 else { return plain(c) + " [|icmp]" }
        let type = p.u8(0), code = p.u8(1)
        let length = ", length \(c.length)"
        func needs(_ n: Int) -> Bool { p.count >= n }
        let cut = plain(c) + " [|icmp]"
        var text: String
        switch type {
        case ICMPv4Type.echoRequest, ICMPv4Type.echoReply:
            guard needs(8) else { return cut }
            text = "echo \(type == 8 ? "request" : "reply"), id \(p.be16(4)), seq \(p.be16(6))"
        case ICMPv4Type.destinationUnreachable:
            guard needs(28) else { return cut }
            let quoted = p.bytes(8, p.count)
            let dst = IPv4Address(rawValue: quoted.be32(16))
            let proto = IPProtocol(rawValue: quoted.u8(9))
            let ihl = Int(quoted.u8(0) & 0x0F) * 4
            switch code {
            case 0: text = "net \(dst) unreachable"
            case 1: text = "host \(dst) unreachable"
            case 2: text = "\(dst) protocol \(proto.rawValue) unreachable"
            case 3:
                guard quoted.count >= ihl + 4 else { return cut }
                text = "\(dst) \(name(proto)) port \(quoted.be16(ihl + 2)) unreachable"
            case 4:
                let mtu = p.be16(6)
                text = "\(dst) unreachable - need to frag" + (mtu != 0 ? " (mtu \(mtu))" : "")
            case 5: text = "\(dst) unreachable - source route failed"
            case 6: text = "net \(dst) unreachable - unknown"
            case 7: text = "host \(dst) unreachable - unknown"
            case 8: text = "\(dst) unreachable - source host isolated"
            case 9: text = "net \(dst) unreachable - admin prohibited"
            case 10: text = "host \(dst) unreachable - admin prohibited"
            case 11: text = "net \(dst) unreachable - tos prohibited"
            case 12: text = "host \(dst) unreachable - tos prohibited"
            case 13: text = "host \(dst) unreachable - admin prohibited filter"
            case 14: text = "host \(dst) unreachable - host precedence violation"
            case 15: text = "host \(dst) unreachable - precedence cutoff"
            default: text = "\(dst) unreachable - #\(code)"
            }
        case ICMPv4Type.sourceQuench: text = "source quench"
        case ICMPv4Type.redirect:
            guard needs(28) else { return cut }
            let dst = IPv4Address(rawValue: p.be32(24)), gateway = IPv4Address(rawValue: p.be32(4))
            let kind = ["redirect \(dst) to net", "redirect \(dst) to host",
                        "redirect-tos \(dst) to net", "redirect-tos \(dst) to host"]
            text = code < 4 ? "\(kind[Int(code)]) \(gateway)" : "redirect \(dst) to \(gateway)"
        case ICMPv4Type.timeExceeded:
            text = code == 0 ? "time exceeded in-transit"
                : code == 1 ? "ip reassembly time exceeded" : "time exceeded-#\(code)"
        case ICMPv4Type.parameterProblem:
            text = code == 0 ? (needs(5) ? "parameter problem - octet \(p.u8(4))" : "parameter problem")
                : "parameter problem - code \(code)"
        case ICMPv4Type.timestampRequest:
            guard needs(8) else { return cut }
            text = "time stamp query id \(p.be16(4)) seq \(p.be16(6))"
        case ICMPv4Type.timestampReply:
            guard needs(20) else { return cut }
            func ms(_ v: UInt32) -> String {
                let s = v / 1000
                func two(_ n: UInt32) -> String { String(n).leftPadded(2) }
                return "\(two(s / 3600 % 24)):\(two(s / 60 % 60)):\(two(s % 60)).\(String(v % 1000).leftPadded(3))"
            }
            text = "time stamp reply id \(p.be16(4)) seq \(p.be16(6)): org \(ms(p.be32(8))), "
                + "recv \(ms(p.be32(12))), xmit \(ms(p.be32(16)))"
        default: text = "type-#\(type)"
        }
        return plain(c) + "ICMP " + text + length
    }

    /// ICMPv6 and NDP: `ICMP6, neighbor solicitation, who has fe80::1, length 32`.
    static func icmpv6(_ c: TransportContext) -> String {
        let p = c.payload
        let cut = plain(c) + "ICMP6, [|icmp6]"
        guard p.count >= 4 else { return cut }
        let type = p.u8(0), code = p.u8(1)
        func address(_ at: Int) -> IPv6Address? { p.count >= at + 16 ? IPv6Address(reading: p, at: at) : nil }
        var text: String
        switch type {
        case ICMPv6Type.echoRequest, ICMPv6Type.echoReply:
            guard p.count >= 8 else { return cut }
            text = "echo \(type == 128 ? "request" : "reply"), id \(p.be16(4)), seq \(p.be16(6))"
        case ICMPv6Type.neighborSolicitation:
            guard let t = address(8) else { return cut }
            text = "neighbor solicitation, who has \(t)"
        case ICMPv6Type.neighborAdvertisement:
            guard let t = address(8) else { return cut }
            text = "neighbor advertisement, tgt is \(t)"
        case ICMPv6Type.routerSolicitation: text = "router solicitation"
        case ICMPv6Type.routerAdvertisement: text = "router advertisement"
        case ICMPv6Type.redirect:
            guard let target = address(8), let destination = address(24) else { return cut }
            text = "redirect, \(destination) to \(target)"
        case ICMPv6Type.packetTooBig:
            guard p.count >= 8 else { return cut }
            text = "packet too big, mtu \(p.be32(4))"
        case ICMPv6Type.destinationUnreachable:
            guard let dst = address(8 + 24) else { return cut }
            switch code {
            case 0: text = "destination unreachable, unreachable route \(dst)"
            case 1: text = "destination unreachable,  unreachable prohibited \(dst)"
            case 2: text = "destination unreachable, beyond scope \(dst), source address \(address(16)!)"
            case 3: text = "destination unreachable, unreachable address \(dst)"
            case 4:
                guard p.count >= 8 + 40 + 4 else { return cut }
                text = "destination unreachable, unreachable port, \(dst) "
                    + "\(name(IPProtocol(rawValue: p.u8(8 + 6)))) port \(p.be16(8 + 40 + 2))"
            default: text = "destination unreachable, unknown unreach code (\(code))"
            }
        case ICMPv6Type.timeExceeded:
            guard let dst = address(8 + 24) else { return cut }
            text = code == 0 ? "time exceeded in-transit for \(dst)"
                : code == 1 ? "time exceeded in-transit (reassembly)" : "time exceeded, code-#\(code)"
        case ICMPv6Type.parameterProblem:
            guard p.count >= 8 else { return cut }
            let what = ["erroneous", "next header", "option"]
            text = code < 3 ? "parameter problem, \(what[Int(code)]) - octet \(p.be32(4))"
                : "parameter problem, code-#\(code)"
        default: text = "type-#\(type)"
        }
        return plain(c) + "ICMP6, " + text + ", length \(c.length)"
    }

    static func transportOrGeneric(_ c: TransportContext) -> String {
        if let text = transport(c) { return text }
        let n = name(c.protocol)
        return "\(plain(c))\(n), length \(c.length)\(c.isCut ? " [|\(n)]" : "")"
    }

    /// The /etc/protocols name, or tcpdump's `ip-proto-N` for unnamed numbers.
    static func name(_ p: IPProtocol) -> String {
        let text = p.description
        return text.first?.isNumber == true ? "ip-proto-\(p.rawValue)" : text
    }
}
