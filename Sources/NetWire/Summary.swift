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
        let next = IPProtocol(rawValue: bytes.u8(6))
        let source = IPv6Address(reading: bytes, at: 8).description
        let destination = IPv6Address(reading: bytes, at: 24).description
        var head = "IP6 "
        if 40 + payloadLength > wireLength { head += "truncated - \(40 + payloadLength - wireLength) bytes missing! " }
        let context = TransportContext(source: source, destination: destination, protocol: next,
                                       payload: bytes.bytes(40, min(bytes.count, 40 + payloadLength)),
                                       length: payloadLength, isIPv6: true)
        return head + transportOrGeneric(context)
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

        /// True when fewer bytes were captured than the header declares.
        public var isCut: Bool { payload.count < length }
    }

    // MARK: - EXTENSION POINT: transport protocols
    //
    // To summarise a protocol, write one function
    //     static func udp(_ c: TransportContext) -> String
    // that returns everything after "IP " / "IP6 " — tcpdump puts ports in
    // the address part: "10.0.0.1.1234 > 10.0.0.2.53: UDP, length 4" — and
    // add its case below. Return `[|udp]`-style markers when `c.payload` is
    // too short. Planned: .udp (and VXLAN on port 4789, which can call
    // `ethernet(_:wireLength:)` on the inner frame), .tcp, .icmp, .icmpv6 (NDP).

    static func transport(_ c: TransportContext) -> String? {
        switch c.protocol {
        default: return nil
        }
    }

    static func transportOrGeneric(_ c: TransportContext) -> String {
        if let text = transport(c) { return text }
        let n = name(c.protocol)
        return "\(c.source) > \(c.destination): \(n), length \(c.length)\(c.isCut ? " [|\(n)]" : "")"
    }

    /// The /etc/protocols name, or tcpdump's `ip-proto-N` for unnamed numbers.
    static func name(_ p: IPProtocol) -> String {
        let text = p.description
        return text.first?.isNumber == true ? "ip-proto-\(p.rawValue)" : text
    }
}
