import Testing
@testable import NetWire

/// Golden IPv6/ICMPv6 packets made with scapy 2.5 (Fixtures/ipv6_icmpv6_golden.py,
/// run with /usr/bin/python3); tshark -V confirmed every field below and
/// reported each ICMPv6 checksum [correct].
enum ICMPv6Golden {
    /// IPv6(2001:db8::1 → 2001:db8::2, tc=0xb8, fl=0x12345)/ICMPv6EchoRequest(id=0x1234, seq=7, data="abcdefgh")
    static let echo = hex("6b81234500103a4020010db800000000000000000000000120010db80000000000000000000000028000806f123400076162636465666768")
    /// fe80::200:ff:fe00:1 → ff02::1:ff00:2, NS(tgt=fe80::200:ff:fe00:2)/SLLA(02:00:00:00:00:01)
    static let ns = hex("6000000000203afffe80000000000000020000fffe000001ff0200000000000000000001ff0000028700789700000000fe80000000000000020000fffe0000020101020000000001")
    /// fe80::200:ff:fe00:2 → fe80::200:ff:fe00:1, NA(R=0, S=1, O=1, tgt=fe80::200:ff:fe00:2)/TLLA(02:00:00:00:00:02)
    static let na = hex("6000000000203afffe80000000000000020000fffe000002fe80000000000000020000fffe0000018800151a60000000fe80000000000000020000fffe0000020201020000000002")
    /// fe80::200:ff:fe00:1 → ff02::1, RA(chlim=64, M=1, prf=high, lifetime 1800, reachable 30000, retrans 1000)
    /// / SLLA(02:00:00:00:00:01) / MTU(1500) / PrefixInfo(2001:db8:1::/64, L, A, 86400, 14400)
    /// / RDNSS(600, [2001:db8::53, 2001:db8::54])
    static let ra = hex("""
        6000000000683afffe80000000000000020000fffe000001ff020000000000000000000000000001
        860039994088070800007530000003e8 0101020000000001 05010000000005dc
        030440c000015180000038400000000020010db8000100000000000000000000
        190500000000025820010db800000000000000000000005320010db8000000000000000000000054
        """)
    /// fe80::200:ff:fe00:1 → ff02::2, RS/SLLA(02:00:00:00:00:01)
    static let rs = hex("6000000000103afffe80000000000000020000fffe000001ff0200000000000000000000000000028500792c000000000101020000000001")
    /// Redirect(tgt=fe80::1, dst=2001:db8::99)/TLLA(02:00:00:00:00:03)/RedirectedHdr(first 40 bytes of an IPv6/UDP packet)
    static let redirect = hex("""
        6000000000603afffe80000000000000020000fffe000001fe80000000000000020000fffe000002
        8900750e00000000fe80000000000000000000000000000120010db8000000000000000000000099
        0201020000000003 0406000000000000
        600000000028113f20010db800000000000000000000000120010db8000000000000000000000099
        """)
    /// 2001:db8::fe → 2001:db8::1, PacketTooBig(mtu=1280) / a whole 80-byte IPv6/UDP packet
    static let packetTooBig = hex("""
        6000000000583a4020010db80000000000000000000000fe20010db8000000000000000000000001
        02002ace00000500
        600000000028113f20010db800000000000000000000000120010db8000000000000000000000099
        04d20035002817047878787878787878787878787878787878787878787878787878787878787878
        """)
    /// TimeExceeded(code 0) / 48 bytes of the invoking packet (hlim 64)
    static let timeExceeded = hex("6000000000383a4020010db80000000000000000000000fe20010db80000000000000000000000010300b67500000000600000000028113f20010db800000000000000000000000120010db800000000000000000000009904d2003500281704")
    /// ParamProblem(code 1, ptr 40) / 48 bytes of the invoking packet
    static let parameterProblem = hex("6000000000383a4020010db80000000000000000000000fe20010db80000000000000000000000010401b54c00000028600000000028113f20010db800000000000000000000000120010db800000000000000000000009904d2003500281704")
    /// DestUnreach(code 4, port unreachable) / 48 bytes of the invoking packet
    static let destinationUnreachable = hex("6000000000383a4020010db80000000000000000000000fe20010db80000000000000000000000010104b87100000000600000000028113f20010db800000000000000000000000120010db800000000000000000000009904d2003500281704")

    static let lla1 = MACAddress(2, 0, 0, 0, 0, 1)
    static let host1 = IPv6Address("fe80::200:ff:fe00:1")!
    static let host2 = IPv6Address("fe80::200:ff:fe00:2")!

    /// Every golden ICMPv6 packet with the Repr it must parse to.
    static let cases: [(name: String, bytes: [UInt8], repr: ICMPv6Repr)] = [
        ("echo", echo, .echoRequest(identifier: 0x1234, sequence: 7, dataLength: 8)),
        ("ns", ns, .ndp(.neighborSolicitation(target: host2, sourceLinkLayerAddress: lla1))),
        ("na", na, .ndp(.neighborAdvertisement(router: false, solicited: true, override: true, target: host2,
                                                targetLinkLayerAddress: MACAddress(2, 0, 0, 0, 0, 2)))),
        ("ra", ra, .ndp(.routerAdvertisement(NDPRouterAdvertisement(
            currentHopLimit: 64, managed: true, otherConfiguration: false, otherFlags: 0x08, routerLifetime: 1800,
            reachableTime: 30000, retransTimer: 1000, sourceLinkLayerAddress: lla1, mtu: 1500,
            prefixes: [NDPPrefixInformation(prefixLength: 64, onLink: true, autonomous: true, validLifetime: 86400,
                                            preferredLifetime: 14400, prefix: IPv6Address("2001:db8:1::")!)],
            recursiveDNSServers: [NDPRecursiveDNSServers(lifetime: 600, servers: [IPv6Address("2001:db8::53")!,
                                                                                  IPv6Address("2001:db8::54")!])])))),
        ("rs", rs, .ndp(.routerSolicitation(sourceLinkLayerAddress: lla1))),
        ("redirect", redirect, .ndp(.redirect(target: IPv6Address("fe80::1")!, destination: IPv6Address("2001:db8::99")!,
                                              targetLinkLayerAddress: MACAddress(2, 0, 0, 0, 0, 3), redirectedLength: 40))),
        ("ptb", packetTooBig, .packetTooBig(mtu: 1280, invokingLength: 80)),
        ("tx", timeExceeded, .timeExceeded(code: ICMPv6Code.hopLimitExceeded, invokingLength: 48)),
        ("pp", parameterProblem, .parameterProblem(code: ICMPv6Code.unrecognizedNextHeader, pointer: 40, invokingLength: 48)),
        ("du", destinationUnreachable, .destinationUnreachable(code: ICMPv6Code.portUnreachable, invokingLength: 48)),
    ]
}

/// Bytes at the end of a message that stay in the buffer (emit does not write them).
private func trailingLength(_ repr: ICMPv6Repr) -> Int {
    switch repr {
    case .echoRequest(_, _, let n), .echoReply(_, _, let n), .destinationUnreachable(_, let n),
         .packetTooBig(_, let n), .timeExceeded(_, let n), .parameterProblem(_, _, let n): n
    case .ndp(.redirect(_, _, _, let r?)): r
    case .other(_, _, let n): n
    default: 0
    }
}

/// Parses a whole IPv6 packet down to its ICMPv6 Repr.
private func parseICMPv6(_ bytes: [UInt8], verifyChecksum: Bool = true) throws -> ICMPv6Repr {
    try withBytes(bytes) { raw in
        let packet = try IPv6Packet(raw)
        let chain = try IPv6ExtensionHeaders.parse(packet)
        guard chain.upperLayer == .icmpv6 else { throw WireError.unsupported }
        let ip = IPv6Repr.parse(packet)
        return try ICMPv6Repr.parse(try ICMPv6Packet(chain.upperLayerPayload(of: packet)),
                                    pseudoHeader: ip.pseudoHeader, verifyChecksum: verifyChecksum)
    }
}

/// Parses an ICMPv6 message alone (no IPv6 header), checksum not verified.
private func parseMessage(_ bytes: [UInt8]) throws {
    try withBytes(bytes) { _ = try ICMPv6Repr.parse(try ICMPv6Packet($0), pseudoHeader: .ipv6(source: .any, destination: .any), verifyChecksum: false) }
}

@Suite struct ICMPv6Tests {
    @Test func parsesAndReemitsGoldenPackets() throws {
        for (name, bytes, expected) in ICMPv6Golden.cases {
            let repr = try parseICMPv6(bytes)
            #expect(repr == expected, "\(name)")
            #expect(repr.bufferLength == bytes.count - 40, "\(name)")
            // Emit over a buffer holding only the bytes that stay in place.
            var out = Array(bytes[40...])
            let keep = out.count - trailingLength(repr)
            for i in 0..<keep { out[i] = 0 }
            let ip = try withBytes(bytes) { IPv6Repr.parse(try IPv6Packet($0)) }
            try out.withUnsafeMutableBytes { try repr.emit(into: $0, pseudoHeader: ip.pseudoHeader) }
            #expect(out == Array(bytes[40...]), "\(name)")
        }
    }

    /// RFC 8200 §8.1: behind a routing header the checksum covers the final
    /// destination, the last address of the routing header.
    @Test func checksumUsesFinalDestinationBehindRoutingHeader() throws {
        try withBytes(IPv6Golden.routing) { raw in
            let packet = try IPv6Packet(raw)
            let chain = try IPv6ExtensionHeaders.parse(packet)
            let message = try ICMPv6Packet(chain.upperLayerPayload(of: packet))
            let final = IPv6Address(reading: raw, at: 64)
            #expect(final == IPv6Address("2001:db8::4"))
            #expect(!message.checksumVerifies(.ipv6(source: packet.source, destination: packet.destination)))
            let repr = try ICMPv6Repr.parse(message, pseudoHeader: .ipv6(source: packet.source, destination: final))
            #expect(repr == .echoRequest(identifier: 1, sequence: 2, dataLength: 0))
        }
    }

    @Test func everyTruncationThrows() {
        for (name, bytes, repr) in ICMPv6Golden.cases {
            // The whole packet cut short: the IPv6 view refuses it.
            for n in 0..<bytes.count {
                #expect(wireError { _ = try parseICMPv6(Array(bytes[0..<n])) } != nil, "\(name) n=\(n)")
            }
            // The payload length fixed up to the cut: the checksum fails.
            for n in 48..<bytes.count {
                var cut = Array(bytes[0..<n])
                cut[4] = UInt8((n - 40) >> 8); cut[5] = UInt8((n - 40) & 0xFF)
                #expect(wireError { _ = try parseICMPv6(cut) } == .badChecksum, "\(name) n=\(n)")
            }
            // The message alone, checksum not verified: structure errors.
            let message = Array(bytes[40...])
            guard case .ndp(let ndp) = repr else { continue }
            let fixed = NDPRepr.fixedLength(type: ndp.type)
            for n in 0..<message.count {
                let error = wireError { try parseMessage(Array(message[0..<n])) }
                if n < fixed {
                    #expect(error == .truncated, "\(name) n=\(n)")
                } else if (n - fixed) % 8 != 0 {
                    #expect(error == .badOption, "\(name) n=\(n)")
                }
            }
        }
    }

    @Test func corruptedChecksumsAreRejected() {
        for (name, bytes, _) in ICMPv6Golden.cases {
            for i in stride(from: 40, to: bytes.count, by: 3) {
                var b = bytes
                b[i] ^= 0x10
                #expect(wireError { _ = try parseICMPv6(b) } == .badChecksum, "\(name) byte \(i)")
            }
            var wrongSource = bytes
            wrongSource[23] ^= 1 // the pseudo-header covers the IPv6 source
            #expect(wireError { _ = try parseICMPv6(wrongSource) } == .badChecksum, "\(name)")
        }
    }

    @Test func badNDPOptionsAreRejected() throws {
        let ns = Array(ICMPv6Golden.ns[40...])
        func with(_ body: (inout [UInt8]) -> Void) -> WireError? {
            var m = ns
            body(&m)
            return wireError { try parseMessage(m) }
        }
        #expect(with { _ in } == nil)
        #expect(with { $0[25] = 0 } == .badOption)                     // length 0 (RFC 4861 §4.6)
        #expect(with { $0 += [0xC8, 0, 0, 0, 0, 0, 0, 0] } == .badOption) // length 0 on an unknown option
        #expect(with { $0[25] = 2 } == .badOption)                     // runs past the message
        #expect(with { $0[25] = 2; $0 += [UInt8](repeating: 0, count: 8) } == .badOption) // not an Ethernet address
        #expect(with { $0 += [0x63] } == .badOption)                   // one byte of an option
        #expect(with { $0[1] = 1 } == .badField)                       // NDP code must be 0
        // An unknown option is skipped; a repeated SLLA: the first wins.
        #expect(with { $0 += [0xC8, 1, 0, 0, 0, 0, 0, 0] } == nil)
        var twice = ns + [1, 1, 2, 0, 0, 0, 0, 9]
        #expect(try withBytes(twice) { try ICMPv6Repr.parse(try ICMPv6Packet($0), pseudoHeader: .ipv6(source: .any, destination: .any), verifyChecksum: false) }
                == .ndp(.neighborSolicitation(target: ICMPv6Golden.host2, sourceLinkLayerAddress: ICMPv6Golden.lla1)))
        twice[24] = 3 // a 16-byte "prefix information": too short
        twice[25] = 2
        #expect(wireError { try parseMessage(twice) } == .badOption)

        let ra = Array(ICMPv6Golden.ra[40...])
        var rdnss = ra
        rdnss[65] = 4 // RDNSS length even
        #expect(wireError { try parseMessage(rdnss) } == .badOption)
        var shortPrefix = ra
        shortPrefix[33] = 3
        #expect(wireError { try parseMessage(shortPrefix) } == .badOption)
        // Too short for the fixed part of a neighbor solicitation.
        #expect(wireError { try parseMessage(Array(ns[0..<23])) } == .truncated)
        #expect(wireError { try parseMessage([128, 0, 0, 0, 0, 0, 0]) } == .truncated)
    }

    @Test func otherTypesAreKept() throws {
        // An MLDv2 report (type 143) is not parsed here: it stays `.other`.
        let message: [UInt8] = [143, 0, 0, 0, 0, 0, 0, 0]
        let pseudo = PseudoHeader.ipv6(source: .loopback, destination: .allRouters)
        let repr = ICMPv6Repr.other(type: 143, code: 0, bodyLength: 4)
        var out = message
        try out.withUnsafeMutableBytes { try repr.emit(into: $0, pseudoHeader: pseudo) }
        let parsed = try withBytes(out) { try ICMPv6Repr.parse(try ICMPv6Packet($0), pseudoHeader: pseudo) }
        #expect(parsed == repr)
        #expect(ICMPv6Type.isError(1) && !ICMPv6Type.isError(143))
    }

    @Test func emitRejectsBadFields() {
        let pseudo = PseudoHeader.ipv6(source: .loopback, destination: .loopback)
        #expect(wireError { _ = try emitted(size: 15) { try ICMPv6Repr.echoReply(identifier: 0, sequence: 0, dataLength: 8).emit(into: $0, pseudoHeader: pseudo) } } == .bufferTooSmall)
        #expect(wireError { _ = try emitted(size: 80) { try ICMPv6Repr.ndp(.redirect(target: .any, destination: .any, targetLinkLayerAddress: nil, redirectedLength: 12)).emit(into: $0, pseudoHeader: pseudo) } } == .badField)
        #expect(wireError { _ = try emitted(size: 80) { try ICMPv6Repr.ndp(.routerAdvertisement(NDPRouterAdvertisement(otherFlags: 0x40))).emit(into: $0, pseudoHeader: pseudo) } } == .badField)
    }

    // MARK: Round-trip properties

    static func randomMAC(_ rng: inout SplitMix64) -> MACAddress? {
        Bool.random(using: &rng) ? MACAddress(rawValue: rng.next()) : nil
    }

    static func randomRepr(_ kind: Int, _ rng: inout SplitMix64) -> ICMPv6Repr {
        func u16() -> UInt16 { .random(in: 0...UInt16.max, using: &rng) }
        func u32() -> UInt32 { .random(in: 0...UInt32.max, using: &rng) }
        func u8() -> UInt8 { .random(in: 0...UInt8.max, using: &rng) }
        func address() -> IPv6Address { IPv6Address(high: rng.next(), low: rng.next()) }
        func length() -> Int { .random(in: 0...200, using: &rng) }
        switch kind {
        case 0: return .echoRequest(identifier: u16(), sequence: u16(), dataLength: length())
        case 1: return .echoReply(identifier: u16(), sequence: u16(), dataLength: length())
        case 2: return .destinationUnreachable(code: u8(), invokingLength: length())
        case 3: return .packetTooBig(mtu: u32(), invokingLength: length())
        case 4: return .timeExceeded(code: u8(), invokingLength: length())
        case 5: return .parameterProblem(code: u8(), pointer: u32(), invokingLength: length())
        case 6: return .ndp(.routerSolicitation(sourceLinkLayerAddress: randomMAC(&rng)))
        case 7: return .ndp(.neighborSolicitation(target: address(), sourceLinkLayerAddress: randomMAC(&rng)))
        case 8:
            return .ndp(.neighborAdvertisement(router: .random(using: &rng), solicited: .random(using: &rng),
                                               override: .random(using: &rng), target: address(),
                                               targetLinkLayerAddress: randomMAC(&rng)))
        case 9:
            let redirected: Int? = Bool.random(using: &rng) ? Int.random(in: 0...20, using: &rng) * 8 : nil
            return .ndp(.redirect(target: address(), destination: address(), targetLinkLayerAddress: randomMAC(&rng),
                                  redirectedLength: redirected))
        case 10:
            let prefixes = (0..<Int.random(in: 0...3, using: &rng)).map { _ in
                NDPPrefixInformation(prefixLength: .random(in: 0...128, using: &rng), onLink: .random(using: &rng),
                                     autonomous: .random(using: &rng), validLifetime: u32(), preferredLifetime: u32(),
                                     prefix: address())
            }
            let dns = (0..<Int.random(in: 0...2, using: &rng)).map { _ in
                NDPRecursiveDNSServers(lifetime: u32(), servers: (0..<Int.random(in: 1...3, using: &rng)).map { _ in address() })
            }
            return .ndp(.routerAdvertisement(NDPRouterAdvertisement(
                currentHopLimit: u8(), managed: .random(using: &rng), otherConfiguration: .random(using: &rng),
                otherFlags: .random(in: 0..<64, using: &rng), routerLifetime: u16(), reachableTime: u32(),
                retransTimer: u32(), sourceLinkLayerAddress: randomMAC(&rng),
                mtu: Bool.random(using: &rng) ? u32() : nil, prefixes: prefixes, recursiveDNSServers: dns)))
        default:
            let type = [100, 127, 130, 131, 132, 143, 200, 255].randomElement(using: &rng)!
            return .other(type: UInt8(type), code: u8(), bodyLength: 4 + length())
        }
    }

    @Test(arguments: 0..<12)
    func reprRoundTrips(kind: Int) throws {
        var rng = SplitMix64(seed: 0x1C36 &+ UInt64(kind))
        for _ in 0..<1000 {
            let repr = Self.randomRepr(kind, &rng)
            let pseudo = PseudoHeader.ipv6(source: IPv6Address(high: rng.next(), low: rng.next()),
                                           destination: IPv6Address(high: rng.next(), low: rng.next()))
            // Random bytes where the payload stays; emit writes the rest.
            var out = (0..<repr.bufferLength).map { _ in UInt8.random(in: 0...255, using: &rng) }
            try out.withUnsafeMutableBytes { try repr.emit(into: $0, pseudoHeader: pseudo) }
            let parsed = try withBytes(out) { try ICMPv6Repr.parse(try ICMPv6Packet($0), pseudoHeader: pseudo) }
            #expect(parsed == repr)
        }
    }
}

@Suite struct NDPFuzzRegressionTests {
    /// Found by Fuzz/run.sh (icmpv6): parse accepted a prefix-information
    /// option with a prefix length over 128 that emit then refused.
    @Test func prefixLongerThan128BitsIsMalformed() throws {
        var icmp = Array(ICMPv6Golden.ra[40...])
        let at = try #require((16..<icmp.count - 2).first { icmp[$0] == 3 && icmp[$0 + 1] == 4 && icmp[$0 + 2] == 64 })
        icmp[at + 2] = 129
        let error = wireError {
            try withBytes(icmp) { _ = try ICMPv6Repr.parse(try ICMPv6Packet($0), pseudoHeader: .ipv6(source: .any, destination: .any), verifyChecksum: false) }
        }
        #expect(error == .badOption)
        icmp[at + 2] = 128
        let ok = wireError {
            try withBytes(icmp) { _ = try ICMPv6Repr.parse(try ICMPv6Packet($0), pseudoHeader: .ipv6(source: .any, destination: .any), verifyChecksum: false) }
        }
        #expect(ok == nil)
    }
}
