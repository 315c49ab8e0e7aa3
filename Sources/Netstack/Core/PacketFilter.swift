// PacketFilter: a compiled pcap-filter (tcpdump) expression, the matcher
// behind `netstack lab --trace FILTER`. Kernel counterpart: none in the
// stack itself; this plays the part of the classic BPF program libpcap
// compiles from the same text (pcap-filter(7)), run where a traced packet
// enters the stack.
//
// The text is parsed once (NetstackControl/Lab/TraceFilter.swift) into a
// flat array of nodes; matching reads the header fields a filter can ask
// about once (`PacketFields`, through the NetWire views) and walks the
// nodes. Value types only: no closure, class or String per packet.
//
// Semantics follow pcap-filter(7) for the subset implemented:
// - `ip`, `ip6`, `arp`: the EtherType.
// - `icmp` is IPv4 protocol 1, `icmp6` IPv6 next header 58, `udp`/`tcp`
//   and `proto N` match either family. IPv6 extension headers are not
//   walked (libpcap does not either, except for fragments).
// - `host A`, `src host A`, `dst host A`, `net P/L`: an IPv4 address also
//   matches ARP's sender/target protocol addresses, as libpcap's
//   `ip host A or arp host A`.
// - `port N`, `src port N`, `dst port N`: TCP, UDP or SCTP ports; an IPv4
//   fragment with a non-zero offset has no ports.
import NetWire

/// The header fields of one packet that a filter can test.
public struct PacketFields: Sendable, Equatable {
    /// The EtherType of the network header (0: not known).
    public var etherType: UInt16 = 0
    /// IPv4/IPv6 source and destination, or ARP's sender/target protocol address.
    public var source: IPAddress?
    public var destination: IPAddress?
    /// The IPv4 protocol / IPv6 next header (valid when `hasProtocol`).
    public var ipProtocol: UInt8 = 0
    public var hasProtocol = false
    /// Transport ports (valid when `hasPorts`).
    public var sourcePort: UInt16 = 0
    public var destinationPort: UInt16 = 0
    public var hasPorts = false

    public init() {}

    /// Fields of an Ethernet frame (no VLAN look-through, as pcap without `vlan`).
    public init(frame: UnsafeRawBufferPointer) {
        self.init()
        guard let eth = try? EthernetFrame(frame) else { return }
        self = PacketFields(network: eth.payload, etherType: eth.etherType)
    }

    /// Fields of a packet starting at its network header.
    public init(network b: UnsafeRawBufferPointer, etherType: EtherType) {
        self.init()
        self.etherType = etherType.rawValue
        switch etherType {
        case .ipv4:
            // libpcap reads fixed offsets without validating the header; a
            // view that fails its checks (truncated) still gives the fields
            // the bytes hold, so test the fixed header directly.
            guard b.count >= IPv4Packet.minimumHeaderLength, b.u8(0) >> 4 == 4 else { return }
            source = .v4(IPv4Address(rawValue: b.be32(12)))
            destination = .v4(IPv4Address(rawValue: b.be32(16)))
            ipProtocol = b.u8(9)
            hasProtocol = true
            let offsetZero = b.be16(6) & 0x1FFF == 0
            let hl = Int(b.u8(0) & 0x0F) &* 4
            if offsetZero { readPorts(b, at: hl) }
        case .ipv6:
            guard b.count >= IPv6Packet.headerLength, b.u8(0) >> 4 == 6 else { return }
            source = .v6(IPv6Address(reading: b, at: 8))
            destination = .v6(IPv6Address(reading: b, at: 24))
            ipProtocol = b.u8(6)
            hasProtocol = true
            readPorts(b, at: IPv6Packet.headerLength)
        case .arp:
            guard let arp = try? ARPPacket(b) else { return }
            source = .v4(arp.senderProtocolAddress)
            destination = .v4(arp.targetProtocolAddress)
        default:
            return
        }
    }

    /// Fields of a locally generated packet before its IP header exists
    /// (ip_route_output: the flow key is all there is yet).
    public init(source: IPAddress?, destination: IPAddress, ipProtocol: UInt8,
                sourcePort: UInt16 = 0, destinationPort: UInt16 = 0) {
        self.init()
        etherType = destination.isIPv4 ? EtherType.ipv4.rawValue : EtherType.ipv6.rawValue
        self.source = source
        self.destination = destination
        self.ipProtocol = ipProtocol
        hasProtocol = true
        if PacketFilter.hasPorts(ipProtocol) {
            self.sourcePort = sourcePort
            self.destinationPort = destinationPort
            hasPorts = true
        }
    }

    mutating func readPorts(_ b: UnsafeRawBufferPointer, at offset: Int) {
        guard PacketFilter.hasPorts(ipProtocol), offset >= 0, b.count >= offset &+ 4 else { return }
        sourcePort = b.be16(offset)
        destinationPort = b.be16(offset &+ 2)
        hasPorts = true
    }
}

/// A compiled filter expression.
public struct PacketFilter: Sendable, Equatable {
    /// Which address or port a primitive tests.
    public enum Direction: Sendable, Equatable {
        case source, destination, either
    }

    /// Which IP version a protocol primitive is limited to.
    public enum Family: Sendable, Equatable {
        case any, v4, v6
    }

    /// The leaves of an expression.
    public enum Primitive: Sendable, Equatable {
        /// `ip`, `ip6`, `arp`.
        case etherType(UInt16)
        /// `icmp`, `icmp6`, `udp`, `tcp`, `proto N`.
        case ipProtocol(UInt8, Family)
        /// `[src|dst] host A`.
        case host(IPAddress, Direction)
        /// `[src|dst] net P/L` (the prefix is stored masked).
        case net(IPPrefix, Direction)
        /// `[src|dst] port N`.
        case port(UInt16, Direction)
    }

    /// One node; children are indices into `nodes`.
    public enum Node: Sendable, Equatable {
        case primitive(Primitive)
        case not(Int)
        case and(Int, Int)
        case or(Int, Int)
    }

    public private(set) var nodes: [Node]
    public private(set) var root: Int

    /// A filter from nodes whose children all precede their parents.
    public init(nodes: [Node], root: Int) {
        precondition(nodes.indices.contains(root), "PacketFilter root out of range")
        for (i, n) in nodes.enumerated() {
            switch n {
            case .primitive: break
            case .not(let a): precondition(a < i, "PacketFilter child must precede its parent")
            case .and(let a, let b), .or(let a, let b):
                precondition(a < i && b < i, "PacketFilter child must precede its parent")
            }
        }
        self.nodes = nodes
        self.root = root
    }

    /// Builds a filter from one primitive.
    public init(_ p: Primitive) { self.init(nodes: [.primitive(p)], root: 0) }

    public func matches(_ f: PacketFields) -> Bool { evaluate(root, f) }

    /// Matches an Ethernet frame.
    public func matches(frame: UnsafeRawBufferPointer) -> Bool { matches(PacketFields(frame: frame)) }

    /// Matches a packet starting at its network header.
    public func matches(network: UnsafeRawBufferPointer, etherType: EtherType) -> Bool {
        matches(PacketFields(network: network, etherType: etherType))
    }

    /// Children precede parents, so the recursion depth is bounded by the
    /// node count (the parser also bounds nesting).
    func evaluate(_ i: Int, _ f: PacketFields) -> Bool {
        switch nodes[i] {
        case .primitive(let p): return Self.test(p, f)
        case .not(let a): return !evaluate(a, f)
        case .and(let a, let b): return evaluate(a, f) && evaluate(b, f)
        case .or(let a, let b): return evaluate(a, f) || evaluate(b, f)
        }
    }

    static func test(_ p: Primitive, _ f: PacketFields) -> Bool {
        switch p {
        case .etherType(let t):
            return f.etherType == t
        case .ipProtocol(let proto, let family):
            guard f.hasProtocol, f.ipProtocol == proto else { return false }
            switch family {
            case .any: return true
            case .v4: return f.etherType == EtherType.ipv4.rawValue
            case .v6: return f.etherType == EtherType.ipv6.rawValue
            }
        case .host(let a, let d):
            return matchAddress(f, d) { $0 == a }
        case .net(let prefix, let d):
            return matchAddress(f, d) { prefix.contains($0) }
        case .port(let port, let d):
            guard f.hasPorts else { return false }
            switch d {
            case .source: return f.sourcePort == port
            case .destination: return f.destinationPort == port
            case .either: return f.sourcePort == port || f.destinationPort == port
            }
        }
    }

    /// Non-escaping predicate: inlined, nothing is allocated.
    @inline(__always)
    static func matchAddress(_ f: PacketFields, _ d: Direction, _ test: (IPAddress) -> Bool) -> Bool {
        switch d {
        case .source: return f.source.map(test) ?? false
        case .destination: return f.destination.map(test) ?? false
        case .either: return (f.source.map(test) ?? false) || (f.destination.map(test) ?? false)
        }
    }

    /// TCP, UDP, SCTP (libpcap's set): protocols whose first four bytes are ports.
    @inline(__always)
    static func hasPorts(_ proto: UInt8) -> Bool {
        proto == 6 || proto == 17 || proto == 132
    }
}
