import Testing
@testable import NetWire

/// Golden IPv6 packets made with scapy 2.5 (Fixtures/ipv6_icmpv6_golden.py,
/// run with /usr/bin/python3) and checked field by field with `tshark -V`.
enum IPv6Golden {
    /// IPv6(src=2001:db8::1, dst=2001:db8::2, hlim=64)
    ///   / IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)])   (+ PadN len 0)
    ///   / IPv6ExtHdrDestOpt(options=[PadN(optdata=4 zeros)])
    ///   / IPv6ExtHdrFragment(offset=0, m=1, id=0xdeadbeef)
    ///   / UDP(sport=5000, dport=6000) / "hello world!"
    static let ext = hex("""
        60000000002c004020010db800000000000000000000000120010db8000000000000000000000002
        3c00050200000100 2c00010400000000 11000001deadbeef
        138817700014e769 68656c6c6f20776f726c6421
        """)
    /// IPv6(src=2001:db8::1, dst=2001:db8::2, hlim=64)
    ///   / IPv6ExtHdrRouting(addresses=[2001:db8::3, 2001:db8::4], segleft=2)
    ///   / ICMPv6EchoRequest(id=1, seq=2)
    static let routing = hex("""
        6000000000302b4020010db800000000000000000000000120010db8000000000000000000000002
        3a04000200000000 20010db8000000000000000000000003 20010db8000000000000000000000004
        8000244300010002
        """)
}

@Suite struct IPv6Tests {
    @Test func parsesGoldenExtensionChain() throws {
        let bytes = IPv6Golden.ext
        try withBytes(bytes) { raw in
            let packet = try IPv6Packet(raw)
            let repr = IPv6Repr.parse(packet)
            #expect(repr == IPv6Repr(source: IPv6Address("2001:db8::1")!, destination: IPv6Address("2001:db8::2")!,
                                     nextHeader: .hopByHop, payloadLength: 44, hopLimit: 64))
            #expect(try emitted(size: 40) { try repr.emit(into: $0) } == Array(bytes[0..<40]))

            let chain = try IPv6ExtensionHeaders.parse(packet)
            #expect(chain.upperLayer == .udp)
            #expect(chain.upperLayerOffset == 64)
            #expect(chain.nextHeaderFieldOffset == 56)
            #expect(chain.headerCount == 3)
            #expect(chain.hasHopByHop)
            #expect(chain.routingHeaderOffset == nil)
            #expect(chain.fragmentHeaderOffset == 56)
            #expect(chain.fragment == IPv6FragmentRepr(nextHeader: .udp, fragmentOffset: 0, moreFragments: true,
                                                       identification: 0xDEAD_BEEF))
            #expect(Array(chain.upperLayerPayload(of: packet)) == Array(bytes[64...]))

            let hbh = try IPv6OptionsHeader(packet.payload)
            let hbhRepr = try IPv6OptionsRepr.parse(hbh, hopByHop: true)
            #expect(hbhRepr.nextHeader == .destinationOptions)
            #expect(hbhRepr.options.array == [5, 2, 0, 0, 1, 0])
            var it = IPv6OptionIterator(hbh.options)
            let ra = it.next()
            #expect(ra?.type == IPv6OptionType.routerAlert && ra?.offset == 0 && ra.map { Array($0.data) } == [0, 0])
            #expect(it.next() == nil)
            #expect(try emitted(size: 8) { try hbhRepr.emit(into: $0) } == Array(bytes[40..<48]))

            let dst = try IPv6OptionsHeader(hbh.payload)
            let dstRepr = try IPv6OptionsRepr.parse(dst, hopByHop: false)
            #expect(dstRepr == IPv6OptionsRepr(nextHeader: .fragment, options: ExtensionHeaderBytes([1, 4, 0, 0, 0, 0])!))
            #expect(try emitted(size: 8) { try dstRepr.emit(into: $0) } == Array(bytes[48..<56]))

            let frag = IPv6FragmentRepr.parse(try IPv6FragmentHeader(dst.payload))
            #expect(frag == chain.fragment)
            #expect(!frag.isAtomic)
            #expect(try emitted(size: 8) { try frag.emit(into: $0) } == Array(bytes[56..<64]))
        }
    }

    @Test func parsesGoldenRoutingHeaderAndTrafficClass() throws {
        try withBytes(IPv6Golden.routing) { raw in
            let packet = try IPv6Packet(raw)
            #expect(packet.nextHeader == .routing && packet.payloadLength == 48)
            let chain = try IPv6ExtensionHeaders.parse(packet)
            #expect(chain.upperLayer == .icmpv6 && chain.upperLayerOffset == 80 && chain.routingHeaderOffset == 40)
            #expect(chain.fragment == nil && !chain.hasHopByHop)
            let rh = try IPv6RoutingHeader(packet.payload)
            let repr = try IPv6RoutingRepr.parse(rh)
            #expect(repr.nextHeader == .icmpv6 && repr.routingType == 0 && repr.segmentsLeft == 2)
            #expect(repr.data.array == Array(IPv6Golden.routing[44..<80]))
            #expect(try emitted(size: 40) { try repr.emit(into: $0) } == Array(IPv6Golden.routing[40..<80]))
        }
        // The echo golden packet carries traffic class 0xb8 (DSCP EF) and flow label 0x12345.
        try withBytes(ICMPv6Golden.echo) { raw in
            let repr = IPv6Repr.parse(try IPv6Packet(raw))
            #expect(repr.dscp == 46 && repr.ecn == 0 && repr.flowLabel == 0x12345 && repr.payloadLength == 16)
            #expect(try emitted(size: 40) { try repr.emit(into: $0) } == Array(ICMPv6Golden.echo[0..<40]))
        }
    }

    @Test func paddingPastPayloadLengthIsExcluded() throws {
        let bytes = ICMPv6Golden.echo + [0, 0, 0, 0]
        try withBytes(bytes) { raw in
            let packet = try IPv6Packet(raw)
            #expect(packet.payload.count == 16)
        }
    }

    @Test func everyTruncationThrows() {
        for golden in [IPv6Golden.ext, IPv6Golden.routing] {
            for n in 0..<golden.count {
                let cut = Array(golden[0..<n])
                #expect(wireError { try withBytes(cut) { _ = try IPv6Packet($0) } } == .truncated, "n=\(n)")
                // The same prefix with the payload length fixed up to match:
                // the view accepts it and the chain walker finds the cut.
                guard n >= 40 else { continue }
                var fixed = cut
                fixed[4] = UInt8((n - 40) >> 8); fixed[5] = UInt8((n - 40) & 0xFF)
                let error = wireError {
                    try withBytes(fixed) { _ = try IPv6ExtensionHeaders.parse(try IPv6Packet($0)) }
                }
                let headersEnd = golden == IPv6Golden.ext ? 64 : 80
                #expect(error == (n < headersEnd ? .truncated : nil), "n=\(n)")
            }
        }
        // Each extension-header view on its own.
        for n in 0..<8 {
            let cut = Array(IPv6Golden.ext[40..<(40 + n)])
            #expect(wireError { try withBytes(cut) { _ = try IPv6OptionsHeader($0) } } == .truncated)
            #expect(wireError { try withBytes(cut) { _ = try IPv6FragmentHeader($0) } } == .truncated)
        }
        for n in 8..<40 {
            let cut = Array(IPv6Golden.routing[40..<(40 + n)])
            #expect(wireError { try withBytes(cut) { _ = try IPv6RoutingHeader($0) } } == .truncated)
        }
    }

    @Test func rejectsBadVersionAndBadOptions() {
        var b = IPv6Golden.ext
        b[0] = 0x40
        #expect(wireError { try withBytes(b) { _ = try IPv6Packet($0) } } == .badVersion)

        func walk(_ bytes: [UInt8]) -> WireError? {
            wireError { try withBytes(bytes) { _ = try IPv6ExtensionHeaders.parse(try IPv6Packet($0)) } }
        }
        func withHBH(_ options: [UInt8]) -> [UInt8] {
            var p = IPv6Golden.ext
            p.replaceSubrange(42..<48, with: options)
            return p
        }
        #expect(walk(withHBH([5, 2, 0, 0, 1, 0])) == nil)
        #expect(walk(withHBH([5, 3, 0, 0, 0, 0])) == .badOption)     // Router Alert length ≠ 2
        #expect(walk(withHBH([1, 4, 0, 0, 0, 1])) == .badOption)     // PadN with a non-zero byte
        #expect(walk(withHBH([0, 0, 0, 0, 0, 0])) == nil)            // six Pad1
        #expect(walk(withHBH([0x3E, 5, 0, 0, 0, 0])) == .badOption)  // TLV past the header
        #expect(walk(withHBH([0, 0, 0, 0, 0, 0x3E])) == .badOption)  // no room for the length byte
        // Eight bytes of consecutive padding (Linux: more than 7 is bad).
        var long = IPv6Golden.ext
        long.replaceSubrange(40..<48, with: [0x3C, 1, 1, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        long[5] += 8
        #expect(walk(long) == .badOption)
        #expect(wireError { try withBytes(Array(long[42..<56])) { try IPv6Options.validate($0, hopByHop: false) } } == .badOption)
        // Router Alert with a bad length is only checked in hop-by-hop options.
        #expect(wireError { try withBytes([5, 3, 0, 0, 0, 0]) { try IPv6Options.validate($0, hopByHop: false) } } == nil)

        // Hop-by-hop after the destination options: .badOption, pointer at
        // the next-header field that named it (the dest-opts header, offset 48).
        var late = IPv6Golden.ext
        late[48] = 0
        let error = wireError {
            try withBytes(late) { raw in
                var chain = IPv6ExtensionHeaders()
                do { try chain.walk(try IPv6Packet(raw)) } catch {
                    #expect(chain.nextHeaderFieldOffset == 48)
                    throw error
                }
            }
        }
        #expect(error == .badOption)

        #expect(wireError { try withBytes(IPv6Golden.ext) { _ = try IPv6ExtensionHeaders.parse(try IPv6Packet($0), limit: 2) } } == .unsupported)
    }

    @Test func nonFirstFragmentEndsTheWalk() throws {
        var b = IPv6Golden.ext
        b[58] = 0x05; b[59] = 0xA8  // offset 1448 bytes (181 units), M=0
        try withBytes(b) { raw in
            let chain = try IPv6ExtensionHeaders.parse(try IPv6Packet(raw))
            #expect(chain.upperLayer == .udp && chain.upperLayerOffset == 64)
            #expect(chain.fragment?.fragmentOffset == 1448 && chain.fragment?.moreFragments == false)
        }
        #expect(IPv6FragmentRepr(nextHeader: .tcp, fragmentOffset: 0, moreFragments: false, identification: 1).isAtomic)
    }

    @Test func emitRejectsBadFields() {
        let a = IPv6Address.loopback
        #expect(wireError { _ = try emitted(size: 40) { try IPv6Repr(source: a, destination: a, nextHeader: .udp, payloadLength: 70000).emit(into: $0) } } == .badField)
        #expect(wireError { _ = try emitted(size: 40) { try IPv6Repr(source: a, destination: a, nextHeader: .udp, payloadLength: 0, flowLabel: 1 << 20).emit(into: $0) } } == .badField)
        #expect(wireError { _ = try emitted(size: 39) { try IPv6Repr(source: a, destination: a, nextHeader: .udp, payloadLength: 0).emit(into: $0) } } == .bufferTooSmall)
        #expect(wireError { _ = try emitted(size: 8) { try IPv6FragmentRepr(nextHeader: .udp, fragmentOffset: 12, moreFragments: false, identification: 0).emit(into: $0) } } == .badField)
        #expect(wireError { _ = try emitted(size: 16) { try IPv6RoutingRepr(nextHeader: .udp, routingType: 4, segmentsLeft: 0, data: ExtensionHeaderBytes([1, 2, 3])!).emit(into: $0) } } == .badField)
        #expect(wireError { _ = try emitted(size: 7) { try IPv6OptionsRepr(nextHeader: .udp).emit(into: $0) } } == .bufferTooSmall)
    }

    // MARK: Round-trip properties

    static func randomAddress(_ rng: inout SplitMix64) -> IPv6Address {
        IPv6Address(high: rng.next(), low: rng.next())
    }

    /// A valid TLV area whose length + 2 is a multiple of 8, mixing Pad1,
    /// PadN and other TLVs, never more than 7 bytes of padding in a row.
    static func randomOptions(_ rng: inout SplitMix64) -> ExtensionHeaderBytes {
        let total = Int.random(in: 0...15, using: &rng) * 8 + 6
        var out: [UInt8] = []
        var padRun = 0
        func pad(_ k: Int) {
            out += k == 1 ? [0] : [1, UInt8(k - 2)] + [UInt8](repeating: 0, count: k - 2)
            padRun += k
        }
        while out.count < total {
            let room = total - out.count
            if room == 1 { pad(1); continue } // only right after a TLV: padRun is 0
            if padRun + room <= 7 && Bool.random(using: &rng) { pad(room); continue }
            switch Int.random(in: 0..<3, using: &rng) {
            case 0 where padRun < 7 && room >= 3:
                pad(1)
            case 1 where 7 - padRun >= 2 && room >= 4:
                pad(Int.random(in: 2...min(7 - padRun, room - 2), using: &rng))
            default:
                let length = Int.random(in: 0...min(room - 2, 40), using: &rng)
                var type = UInt8.random(in: 2...255, using: &rng)
                if type == IPv6OptionType.routerAlert && length != 2 { type = 6 }
                out += [type, UInt8(length)] + (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
                padRun = 0
            }
        }
        return ExtensionHeaderBytes(out)!
    }

    @Test func ipv6ReprRoundTrips() throws {
        var rng = SplitMix64(seed: 0x1F6)
        for _ in 0..<1000 {
            let repr = IPv6Repr(source: Self.randomAddress(&rng), destination: Self.randomAddress(&rng),
                                nextHeader: IPProtocol(rawValue: .random(in: 0...255, using: &rng)),
                                payloadLength: .random(in: 0...64, using: &rng), hopLimit: .random(in: 0...255, using: &rng),
                                dscp: .random(in: 0..<64, using: &rng), ecn: .random(in: 0..<4, using: &rng),
                                flowLabel: .random(in: 0...0xF_FFFF, using: &rng))
            let out = try emitted(size: 40 + repr.payloadLength) { try repr.emit(into: $0) }
            let parsed = try withBytes(out) { IPv6Repr.parse(try IPv6Packet($0)) }
            #expect(parsed == repr)
        }
    }

    @Test func extensionHeaderReprsRoundTrip() throws {
        var rng = SplitMix64(seed: 0xE47)
        for i in 0..<1000 {
            let next = IPProtocol(rawValue: .random(in: 0...255, using: &rng))
            let hopByHop = i & 1 == 0
            let options = IPv6OptionsRepr(nextHeader: next, options: Self.randomOptions(&rng))
            let o = try emitted(size: options.headerLength) { try options.emit(into: $0) }
            let parsedOptions = try withBytes(o) { try IPv6OptionsRepr.parse(try IPv6OptionsHeader($0), hopByHop: hopByHop) }
            #expect(parsedOptions == options)

            let dataLength = Int.random(in: 0...15, using: &rng) * 8 + 4
            let routing = IPv6RoutingRepr(nextHeader: next, routingType: .random(in: 0...255, using: &rng),
                                          segmentsLeft: .random(in: 0...255, using: &rng),
                                          data: ExtensionHeaderBytes((0..<dataLength).map { _ in UInt8.random(in: 0...255, using: &rng) })!)
            let r = try emitted(size: routing.headerLength) { try routing.emit(into: $0) }
            let parsedRouting = try withBytes(r) { try IPv6RoutingRepr.parse(try IPv6RoutingHeader($0)) }
            #expect(parsedRouting == routing)

            let fragment = IPv6FragmentRepr(nextHeader: next, fragmentOffset: Int.random(in: 0...0x1FFF, using: &rng) * 8,
                                            moreFragments: .random(using: &rng), identification: .random(in: 0...UInt32.max, using: &rng))
            let f = try emitted(size: 8) { try fragment.emit(into: $0) }
            let parsedFragment = try withBytes(f) { IPv6FragmentRepr.parse(try IPv6FragmentHeader($0)) }
            #expect(parsedFragment == fragment)
        }
    }

    /// Random chains built from the Reprs walk back to the same upper layer.
    @Test func randomChainsWalk() throws {
        var rng = SplitMix64(seed: 0xC4A1)
        for _ in 0..<1000 {
            let kinds: [IPProtocol] = (0..<Int.random(in: 0...5, using: &rng)).map { _ in
                [.destinationOptions, .routing, .fragment].randomElement(using: &rng)!
            }
            let hbh = Bool.random(using: &rng)
            let chain: [IPProtocol] = (hbh ? [.hopByHop] : []) + kinds
            let upper: IPProtocol = [.tcp, .udp, .icmpv6, .noNextHeader, .esp].randomElement(using: &rng)!
            var body: [UInt8] = []
            for (i, kind) in chain.enumerated() {
                let next = i + 1 < chain.count ? chain[i + 1] : upper
                switch kind {
                case .routing:
                    let repr = IPv6RoutingRepr(nextHeader: next, routingType: 4, segmentsLeft: 0, data: ExtensionHeaderBytes([0, 0, 0, 0])!)
                    body += try emitted(size: 8) { try repr.emit(into: $0) }
                case .fragment:
                    let repr = IPv6FragmentRepr(nextHeader: next, fragmentOffset: 0, moreFragments: true, identification: 7)
                    body += try emitted(size: 8) { try repr.emit(into: $0) }
                default:
                    let repr = IPv6OptionsRepr(nextHeader: next, options: Self.randomOptions(&rng))
                    body += try emitted(size: repr.headerLength) { try repr.emit(into: $0) }
                }
            }
            let ip = IPv6Repr(source: .loopback, destination: .loopback, nextHeader: chain.first ?? upper, payloadLength: body.count + 8)
            let packet = try emitted(size: 40) { try ip.emit(into: $0) } + body + [UInt8](repeating: 0, count: 8)
            try withBytes(packet) { raw in
                let walked = try IPv6ExtensionHeaders.parse(try IPv6Packet(raw))
                #expect(walked.upperLayer == upper && walked.upperLayerOffset == 40 + body.count && walked.headerCount == chain.count)
                #expect(walked.hasHopByHop == hbh)
            }
        }
    }
}
