// Neighbor Discovery (RFC 4861): router solicitation and advertisement
// (§4.1, §4.2), neighbor solicitation and advertisement (§4.3, §4.4),
// redirect (§4.5) and the options of §4.6 — source/target link-layer
// address, prefix information, redirected header, MTU — plus RDNSS
// (RFC 8106 §5.1).
//
// Kernel counterpart: struct nd_msg, ra_msg, rd_msg, nd_opt_hdr,
// prefix_info (include/net/ndisc.h, include/net/addrconf.h), ndisc_rcv() and
// ndisc_parse_options() (net/ipv6/ndisc.c).
//
// What parse checks, and where it stands against Linux:
// - Code 0 (RFC 4861 §6.1; Linux ndisc_rcv() drops otherwise): `.badField`.
// - The fixed part of each message is present: `.truncated`.
// - Every option has a non-zero length that stays inside the message
//   (§4.6; ndisc_parse_options() returns NULL and the message is dropped):
//   `.badOption`.
// - Link-layer address options have length 1, an Ethernet address
//   (RFC 2464 §6); Linux drops NS/NA/RS/redirects whose address option does
//   not match the device's address length. Else `.badOption`.
// - Prefix information shorter than 32 bytes is `.badOption`. Deviation:
//   Linux (addrconf_prefix_rcv()) ignores just that option.
// - RDNSS with a length below 3 or even is `.badOption` (RFC 8106 §5.1);
//   Linux hands RDNSS to user space unchecked.
// - A repeated link-layer address, MTU or redirected header option: the first
//   wins, as in ndisc_parse_options(). Every prefix and RDNSS option is kept.
// - Unknown options are skipped (§4.6: "silently ignore").
// The hop limit 255 check (§6.1) needs the IPv6 header: the receive path's.
//
// Allocation: NS, NA, RS and redirect Reprs are inline values. A router
// advertisement keeps its prefix and RDNSS options in Arrays (allocated only
// when present); RAs are rare control traffic, not per-packet work.

/// NDP option types (IANA "IPv6 Neighbor Discovery Option Formats").
public enum NDPOptionType {
    public static let sourceLinkLayerAddress: UInt8 = 1
    public static let targetLinkLayerAddress: UInt8 = 2
    public static let prefixInformation: UInt8 = 3
    public static let redirectedHeader: UInt8 = 4
    public static let mtu: UInt8 = 5
    public static let recursiveDNSServer: UInt8 = 25
}

/// One option: its type and its bytes (type and length included).
public struct NDPOption {
    public var type: UInt8
    /// The option's bytes from its type byte, length · 8 of them.
    public var bytes: UnsafeRawBufferPointer
}

/// Walks the options of an NDP message, checking the framing of §4.6: a
/// non-zero length that stays inside the area (`.badOption`).
public struct NDPOptionIterator {
    @usableFromInline let bytes: UnsafeRawBufferPointer
    @usableFromInline var offset = 0

    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    public mutating func next() throws(WireError) -> NDPOption? {
        guard offset < bytes.count else { return nil }
        guard bytes.count &- offset >= 2 else { throw .badOption }
        let length = Int(bytes.u8(offset &+ 1)) &* 8
        guard length > 0, length <= bytes.count &- offset else { throw .badOption }
        let start = offset
        offset &+= length
        return NDPOption(type: bytes.u8(start), bytes: bytes.bytes(start, offset))
    }
}

/// Prefix information option (RFC 4861 §4.6.2). Flags other than L and A
/// (R of RFC 6275, P of RFC 9762) are not kept; emit writes them as 0.
public struct NDPPrefixInformation: Equatable, Hashable, Sendable {
    public var prefixLength: UInt8
    /// L: the prefix is on-link.
    public var onLink: Bool
    /// A: usable for SLAAC.
    public var autonomous: Bool
    /// Seconds; 0xFFFFFFFF is infinity.
    public var validLifetime: UInt32
    public var preferredLifetime: UInt32
    public var prefix: IPv6Address

    public init(prefixLength: UInt8, onLink: Bool, autonomous: Bool, validLifetime: UInt32,
                preferredLifetime: UInt32, prefix: IPv6Address) {
        self.prefixLength = prefixLength
        self.onLink = onLink
        self.autonomous = autonomous
        self.validLifetime = validLifetime
        self.preferredLifetime = preferredLifetime
        self.prefix = prefix
    }

    static let length = 32
}

/// Recursive DNS Server option (RFC 8106 §5.1).
public struct NDPRecursiveDNSServers: Equatable, Hashable, Sendable {
    /// Seconds; 0xFFFFFFFF is infinity, 0 withdraws the servers.
    public var lifetime: UInt32
    /// At least one.
    public var servers: [IPv6Address]

    public init(lifetime: UInt32, servers: [IPv6Address]) {
        self.lifetime = lifetime
        self.servers = servers
    }

    var length: Int { 8 &+ 16 &* servers.count }
}

/// Router advertisement fields and options (RFC 4861 §4.2).
public struct NDPRouterAdvertisement: Equatable, Hashable, Sendable {
    /// 0: unspecified by this router.
    public var currentHopLimit: UInt8
    /// M: addresses via DHCPv6.
    public var managed: Bool
    /// O: other configuration via DHCPv6.
    public var otherConfiguration: Bool
    /// The other six flag bits as on the wire (H of RFC 6275, Prf of RFC 4191,
    /// P of RFC 4389, reserved), bits 0x3F of the flags byte.
    public var otherFlags: UInt8
    /// Seconds; 0: not a default router.
    public var routerLifetime: UInt16
    /// Milliseconds; 0: unspecified.
    public var reachableTime: UInt32
    /// Milliseconds; 0: unspecified.
    public var retransTimer: UInt32
    public var sourceLinkLayerAddress: MACAddress?
    public var mtu: UInt32?
    public var prefixes: [NDPPrefixInformation]
    public var recursiveDNSServers: [NDPRecursiveDNSServers]

    public init(currentHopLimit: UInt8 = 64, managed: Bool = false, otherConfiguration: Bool = false,
                otherFlags: UInt8 = 0, routerLifetime: UInt16 = 1800, reachableTime: UInt32 = 0,
                retransTimer: UInt32 = 0, sourceLinkLayerAddress: MACAddress? = nil, mtu: UInt32? = nil,
                prefixes: [NDPPrefixInformation] = [], recursiveDNSServers: [NDPRecursiveDNSServers] = []) {
        self.currentHopLimit = currentHopLimit
        self.managed = managed
        self.otherConfiguration = otherConfiguration
        self.otherFlags = otherFlags
        self.routerLifetime = routerLifetime
        self.reachableTime = reachableTime
        self.retransTimer = retransTimer
        self.sourceLinkLayerAddress = sourceLinkLayerAddress
        self.mtu = mtu
        self.prefixes = prefixes
        self.recursiveDNSServers = recursiveDNSServers
    }

    /// RFC 4191 §2.2 default router preference: 1 high, 0 medium, 3 low
    /// (2 is reserved and means medium on receipt).
    public var preference: UInt8 { (otherFlags >> 3) & 0x03 }
}

/// The Neighbor Discovery messages. Options are emitted in this order:
/// link-layer address, MTU, prefixes, RDNSS, redirected header.
public enum NDPRepr: Equatable, Hashable, Sendable {
    case routerSolicitation(sourceLinkLayerAddress: MACAddress?)
    case routerAdvertisement(NDPRouterAdvertisement)
    case neighborSolicitation(target: IPv6Address, sourceLinkLayerAddress: MACAddress?)
    /// R: sender is a router; S: solicited; O: override the cache entry.
    case neighborAdvertisement(router: Bool, solicited: Bool, override: Bool, target: IPv6Address,
                               targetLinkLayerAddress: MACAddress?)
    /// `redirectedLength`: the bytes of the redirected packet carried in the
    /// Redirected Header option (its length · 8 − 8, a multiple of 8); they
    /// stay in the buffer, after the option's 8-byte header.
    case redirect(target: IPv6Address, destination: IPv6Address, targetLinkLayerAddress: MACAddress?,
                  redirectedLength: Int?)

    public var type: UInt8 {
        switch self {
        case .routerSolicitation: ICMPv6Type.routerSolicitation
        case .routerAdvertisement: ICMPv6Type.routerAdvertisement
        case .neighborSolicitation: ICMPv6Type.neighborSolicitation
        case .neighborAdvertisement: ICMPv6Type.neighborAdvertisement
        case .redirect: ICMPv6Type.redirect
        }
    }

    /// Bytes before the options.
    public static func fixedLength(type: UInt8) -> Int {
        switch type {
        case ICMPv6Type.routerSolicitation: 8
        case ICMPv6Type.routerAdvertisement: 16
        case ICMPv6Type.neighborSolicitation, ICMPv6Type.neighborAdvertisement: 24
        default: 40
        }
    }

    /// The whole ICMPv6 message, options (and redirected bytes) included.
    public var bufferLength: Int {
        var n = Self.fixedLength(type: type)
        switch self {
        case .routerSolicitation(let ll), .neighborSolicitation(_, let ll), .neighborAdvertisement(_, _, _, _, let ll):
            if ll != nil { n &+= 8 }
        case .routerAdvertisement(let ra):
            if ra.sourceLinkLayerAddress != nil { n &+= 8 }
            if ra.mtu != nil { n &+= 8 }
            n &+= NDPPrefixInformation.length &* ra.prefixes.count
            for r in ra.recursiveDNSServers { n &+= r.length }
        case let .redirect(_, _, ll, redirected):
            if ll != nil { n &+= 8 }
            if let r = redirected { n &+= 8 &+ r }
        }
        return n
    }

    /// Parses the NDP message in `packet` (whose checksum the caller checked).
    public static func parse(_ packet: ICMPv6Packet) throws(WireError) -> NDPRepr {
        let b = packet.bytes
        let type = packet.type
        guard packet.code == 0 else { throw .badField }
        let fixed = fixedLength(type: type)
        guard b.count >= fixed else { throw .truncated }
        var options = NDPOptionIterator(b.bytes(fixed, b.count))
        var source: MACAddress?
        var target: MACAddress?
        var mtu: UInt32?
        var redirected: Int?
        var prefixes: [NDPPrefixInformation] = []
        var dns: [NDPRecursiveDNSServers] = []
        while let option = try options.next() {
            let o = option.bytes
            switch option.type {
            case NDPOptionType.sourceLinkLayerAddress, NDPOptionType.targetLinkLayerAddress:
                guard o.count == 8 else { throw .badOption }
                let mac = MACAddress(reading: o, at: 2)
                if option.type == NDPOptionType.sourceLinkLayerAddress {
                    if source == nil { source = mac }
                } else if target == nil {
                    target = mac
                }
            case NDPOptionType.mtu:
                if mtu == nil { mtu = o.be32(4) }
            case NDPOptionType.redirectedHeader:
                if redirected == nil { redirected = o.count &- 8 }
            case NDPOptionType.prefixInformation:
                guard o.count >= NDPPrefixInformation.length else { throw .badOption }
                guard type == ICMPv6Type.routerAdvertisement else { continue }
                // A prefix longer than 128 bits cannot be (found by fuzzing:
                // emit refused what parse had accepted).
                guard o.u8(2) <= 128 else { throw .badOption }
                let flags = o.u8(3)
                prefixes.append(NDPPrefixInformation(
                    prefixLength: o.u8(2), onLink: flags & 0x80 != 0, autonomous: flags & 0x40 != 0,
                    validLifetime: o.be32(4), preferredLifetime: o.be32(8),
                    prefix: IPv6Address(reading: o, at: 16)))
            case NDPOptionType.recursiveDNSServer:
                let units = o.count / 8
                guard units >= 3, units & 1 == 1 else { throw .badOption }
                guard type == ICMPv6Type.routerAdvertisement else { continue }
                var servers: [IPv6Address] = []
                var at = 8
                while at < o.count {
                    servers.append(IPv6Address(reading: o, at: at))
                    at &+= 16
                }
                dns.append(NDPRecursiveDNSServers(lifetime: o.be32(4), servers: servers))
            default:
                continue
            }
        }
        switch type {
        case ICMPv6Type.routerSolicitation:
            return .routerSolicitation(sourceLinkLayerAddress: source)
        case ICMPv6Type.routerAdvertisement:
            let flags = b.u8(5)
            return .routerAdvertisement(NDPRouterAdvertisement(
                currentHopLimit: b.u8(4), managed: flags & 0x80 != 0, otherConfiguration: flags & 0x40 != 0,
                otherFlags: flags & 0x3F, routerLifetime: b.be16(6), reachableTime: b.be32(8),
                retransTimer: b.be32(12), sourceLinkLayerAddress: source, mtu: mtu, prefixes: prefixes,
                recursiveDNSServers: dns))
        case ICMPv6Type.neighborSolicitation:
            return .neighborSolicitation(target: IPv6Address(reading: b, at: 8), sourceLinkLayerAddress: source)
        case ICMPv6Type.neighborAdvertisement:
            let flags = b.u8(4)
            return .neighborAdvertisement(router: flags & 0x80 != 0, solicited: flags & 0x40 != 0,
                                          override: flags & 0x20 != 0, target: IPv6Address(reading: b, at: 8),
                                          targetLinkLayerAddress: target)
        case ICMPv6Type.redirect:
            return .redirect(target: IPv6Address(reading: b, at: 8), destination: IPv6Address(reading: b, at: 24),
                             targetLinkLayerAddress: target, redirectedLength: redirected)
        default:
            throw .unsupported
        }
    }

    /// Writes type, code, the fixed fields and the options at the start of
    /// `out`, leaving the checksum to `ICMPv6Repr.emit` and the redirected
    /// packet's bytes to the caller.
    public func emit(into out: UnsafeMutableRawBufferPointer) throws(WireError) {
        let length = bufferLength
        guard out.count >= length else { throw .bufferTooSmall }
        out.setU8(0, type)
        out.setU8(1, 0)
        out.setBE16(2, 0)
        var at = Self.fixedLength(type: type)
        switch self {
        case .routerSolicitation(let source):
            out.setBE32(4, 0)
            Self.writeLinkLayer(NDPOptionType.sourceLinkLayerAddress, source, out, &at)
        case .routerAdvertisement(let ra):
            guard ra.otherFlags < 0x40 else { throw .badField }
            out.setU8(4, ra.currentHopLimit)
            out.setU8(5, (ra.managed ? 0x80 : 0) | (ra.otherConfiguration ? 0x40 : 0) | ra.otherFlags)
            out.setBE16(6, ra.routerLifetime)
            out.setBE32(8, ra.reachableTime)
            out.setBE32(12, ra.retransTimer)
            Self.writeLinkLayer(NDPOptionType.sourceLinkLayerAddress, ra.sourceLinkLayerAddress, out, &at)
            if let mtu = ra.mtu {
                out.setU8(at, NDPOptionType.mtu)
                out.setU8(at &+ 1, 1)
                out.setBE16(at &+ 2, 0)
                out.setBE32(at &+ 4, mtu)
                at &+= 8
            }
            for p in ra.prefixes {
                guard p.prefixLength <= 128 else { throw .badField }
                out.setU8(at, NDPOptionType.prefixInformation)
                out.setU8(at &+ 1, 4)
                out.setU8(at &+ 2, p.prefixLength)
                out.setU8(at &+ 3, (p.onLink ? 0x80 : 0) | (p.autonomous ? 0x40 : 0))
                out.setBE32(at &+ 4, p.validLifetime)
                out.setBE32(at &+ 8, p.preferredLifetime)
                out.setBE32(at &+ 12, 0)
                p.prefix.write(into: out, at: at &+ 16)
                at &+= NDPPrefixInformation.length
            }
            for r in ra.recursiveDNSServers {
                guard !r.servers.isEmpty, r.length <= 255 &* 8 else { throw .badField }
                out.setU8(at, NDPOptionType.recursiveDNSServer)
                out.setU8(at &+ 1, UInt8(r.length / 8))
                out.setBE16(at &+ 2, 0)
                out.setBE32(at &+ 4, r.lifetime)
                var a = at &+ 8
                for s in r.servers { s.write(into: out, at: a); a &+= 16 }
                at &+= r.length
            }
        case let .neighborSolicitation(target, source):
            out.setBE32(4, 0)
            target.write(into: out, at: 8)
            Self.writeLinkLayer(NDPOptionType.sourceLinkLayerAddress, source, out, &at)
        case let .neighborAdvertisement(router, solicited, override, target, targetLL):
            out.setBE32(4, (router ? 0x8000_0000 : 0) | (solicited ? 0x4000_0000 : 0) | (override ? 0x2000_0000 : 0))
            target.write(into: out, at: 8)
            Self.writeLinkLayer(NDPOptionType.targetLinkLayerAddress, targetLL, out, &at)
        case let .redirect(target, destination, targetLL, redirected):
            out.setBE32(4, 0)
            target.write(into: out, at: 8)
            destination.write(into: out, at: 24)
            Self.writeLinkLayer(NDPOptionType.targetLinkLayerAddress, targetLL, out, &at)
            if let r = redirected {
                guard r >= 0, r & 7 == 0, r &+ 8 <= 255 &* 8 else { throw .badField }
                out.setU8(at, NDPOptionType.redirectedHeader)
                out.setU8(at &+ 1, UInt8((r &+ 8) / 8))
                out.setBE16(at &+ 2, 0)
                out.setBE32(at &+ 4, 0)
            }
        }
    }

    static func writeLinkLayer(_ type: UInt8, _ address: MACAddress?, _ out: UnsafeMutableRawBufferPointer,
                               _ at: inout Int) {
        guard let address else { return }
        out.setU8(at, type)
        out.setU8(at &+ 1, 1)
        address.write(into: out, at: at &+ 2)
        at &+= 8
    }
}
