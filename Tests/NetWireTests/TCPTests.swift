import Testing
@testable import NetWire

@Suite struct TCPTests {
    static func layers(_ frame: [UInt8]) throws -> (EthernetRepr, IPv4Repr, TCPRepr) {
        try withBytes(frame) { raw in
            let f = try EthernetFrame(raw)
            let p = try IPv4Packet(f.payload)
            let ip = try IPv4Repr.parse(p)
            return (EthernetRepr.parse(f), ip, try TCPRepr.parse(try TCPSegment(p.payload), pseudoHeader: ip.pseudoHeader))
        }
    }

    /// Zeroes the Ethernet, IPv4 and TCP headers and emits them again over
    /// the payload left in place.
    static func reemit(_ frame: [UInt8], _ eth: EthernetRepr, _ ip: IPv4Repr, _ tcp: TCPRepr) throws -> [UInt8] {
        var out = frame
        for i in 0..<(34 + tcp.headerLength) { out[i] = 0 }
        try out.withUnsafeMutableBytes { o in
            try eth.emit(into: o)
            try ip.emit(into: o.bytes(14, o.count))
            try tcp.emit(into: o.bytes(34, o.count), pseudoHeader: ip.pseudoHeader)
        }
        return out
    }

    static func seq(_ v: UInt32) -> TCPSeqNumber { TCPSeqNumber(v) }

    /// Frames 5–16 as tshark shows them (raw sequence numbers, window field
    /// value, checksum [correct], options).
    @Test func parsesAndEmitsCapturedConnection() throws {
        let ts = { (v: UInt32, e: UInt32) in TCPTimestamps(value: v, echoReply: e) }
        let synOptions = { (v: UInt32, e: UInt32) in
            TCPOptions(maximumSegmentSize: 1460, windowScale: 10, sackPermitted: true, timestamps: ts(v, e))
        }
        let cases: [([UInt8], TCPRepr, UInt16)] = [
            // 39250 → 5000 [SYN] Win=64240 MSS=1460 SACK_PERM TSval=1802951721 TSecr=0 WS=1024
            (Golden.tcpSyn, TCPRepr(sourcePort: 39250, destinationPort: 5000, sequenceNumber: Self.seq(3685343861),
                                    flags: .syn, windowSize: 64240, options: synOptions(1802951721, 0)), 0x85A9),
            // 5000 → 39250 [SYN, ACK] Win=65160 … TSval=1653789634 TSecr=1802951721
            (Golden.tcpSynAck, TCPRepr(sourcePort: 5000, destinationPort: 39250, sequenceNumber: Self.seq(3357265163),
                                       acknowledgmentNumber: Self.seq(3685343862), flags: [.syn, .ack], windowSize: 65160,
                                       options: synOptions(1653789634, 1802951721)), 0xB683),
            // 39250 → 5000 [ACK] Win=63 (×1024) NOP NOP TS
            (Golden.tcpAck, TCPRepr(sourcePort: 39250, destinationPort: 5000, sequenceNumber: Self.seq(3685343862),
                                    acknowledgmentNumber: Self.seq(3357265164), flags: .ack, windowSize: 63,
                                    options: TCPOptions(timestamps: ts(1802951721, 1653789634))), 0xE39C),
            // [PSH, ACK] Len=5 "ping\n"
            (Golden.tcpData, TCPRepr(sourcePort: 39250, destinationPort: 5000, sequenceNumber: Self.seq(3685343862),
                                     acknowledgmentNumber: Self.seq(3357265164), flags: [.psh, .ack], windowSize: 63,
                                     options: TCPOptions(timestamps: ts(1802951721, 1653789634)), payloadLength: 5), 0xFABE),
            // [FIN, ACK]
            (Golden.tcpFinAck, TCPRepr(sourcePort: 39250, destinationPort: 5000, sequenceNumber: Self.seq(3685343867),
                                       acknowledgmentNumber: Self.seq(3357265169), flags: [.fin, .ack], windowSize: 63,
                                       options: TCPOptions(timestamps: ts(1802951721, 1653789634))), 0xE391),
            // 5001 → 60158 [RST, ACK] Seq=0 Ack=1635434642 Win=0, no options
            (Golden.tcpRstAck, TCPRepr(sourcePort: 5001, destinationPort: 60158, sequenceNumber: Self.seq(0),
                                       acknowledgmentNumber: Self.seq(1635434642), flags: [.rst, .ack], windowSize: 0), 0x7A73),
        ]
        for (frame, expected, checksum) in cases {
            let (eth, ip, tcp) = try Self.layers(frame)
            #expect(tcp == expected)
            try withBytes(frame) { raw in
                let s = try TCPSegment(raw.bytes(34, raw.count))
                #expect(s.checksum == checksum && s.urgentPointer == 0 && s.reservedBits == 0)
                #expect(s.flags == expected.flags)
                #expect(s.syn == expected.flags.contains(.syn) && s.ack == expected.flags.contains(.ack))
                #expect(s.headerLength == expected.headerLength)
            }
            #expect(try Self.reemit(frame, eth, ip, tcp) == frame)
        }
        // Linux's SYN option bytes, in the order TCPOptions documents.
        #expect(Array(Golden.tcpSyn[54..<74]) == hex("020405b4 0402080a 6b76dc29 00000000 0103030a"))
        let payload = try withBytes(Golden.tcpData) { raw in Array(try TCPSegment(raw.bytes(34, raw.count)).payload) }
        #expect(payload == Array("ping\n".utf8))
    }

    @Test func sequenceNumbersWrap() {
        let a = TCPSeqNumber(0xFFFF_FFF0)
        let b = a + 0x20
        #expect(b.rawValue == 0x10)
        #expect(a < b && b > a && !(b < a))
        #expect(b - a == 0x20 && a - b == -0x20)
        #expect((b - 0x20) == a)
        #expect(TCPSeqNumber(1) > TCPSeqNumber(0x8000_0002)) // more than 2^31 ahead wraps to "before"
        var c = TCPSeqNumber(5); c += 3
        #expect(c == TCPSeqNumber(8) && max(a, b) == b)
    }

    /// A random option set that fits in 40 bytes.
    static func randomOptions(_ rng: inout SplitMix64) -> TCPOptions {
        var o = TCPOptions()
        if rng.bool() { o.maximumSegmentSize = rng.u16() }
        if rng.bool() { o.windowScale = rng.u8() }
        o.sackPermitted = rng.bool()
        if rng.bool() { o.timestamps = TCPTimestamps(value: rng.u32(), echoReply: rng.u32()) }
        for _ in 0..<rng.below(5) {
            let left = TCPSeqNumber(rng.u32())
            o.sackBlocks.append(TCPSackBlock(left: left, right: left + rng.below(100_000)))
        }
        // Unknown kinds, and known kinds with lengths Linux ignores.
        let kinds: [(UInt8, Int)] = [(19, 18), (30, 4 + 0), (34, 10), (254, 4), (2, 3), (3, 4), (8, 6), (5, 7), (77, 2)]
        for _ in 0..<rng.below(3) {
            let (kind, base) = kinds[rng.below(kinds.count)]
            let length = kind == 30 ? 3 + rng.below(8) : base
            let option = [kind, UInt8(length)] + rng.bytes(length - 2)
            _ = option.withUnsafeBytes { o.unknown.append($0) }
        }
        while o.paddedLength > 40 {
            if o.unknown.count > 0 { o.unknown = OptionBytes() }
            else if !o.sackBlocks.isEmpty { o.sackBlocks = TCPSackBlocks() }
            else { o.timestamps = nil }
        }
        return o
    }

    @Test func roundTripsRandomReprs() throws {
        var rng = SplitMix64(seed: 9293)
        var withUnknown = 0, withSack = 0
        for i in 0..<2000 {
            let options = Self.randomOptions(&rng)
            if options.unknown.count > 0 { withUnknown += 1 }
            if !options.sackBlocks.isEmpty { withSack += 1 }
            let repr = TCPRepr(sourcePort: rng.u16(), destinationPort: rng.u16(), sequenceNumber: TCPSeqNumber(rng.u32()),
                               acknowledgmentNumber: TCPSeqNumber(rng.u32()), flags: TCPFlags(rawValue: rng.u16() & 0x1FF),
                               windowSize: rng.u16(), urgentPointer: rng.u16(), options: options,
                               payloadLength: rng.below(100))
            let pseudo: PseudoHeader = i % 2 == 0 ? .ipv4(source: rng.ipv4(), destination: rng.ipv4())
                                                  : .ipv6(source: rng.ipv6(), destination: rng.ipv6())
            var out = [UInt8](repeating: 0, count: repr.headerLength) + rng.bytes(repr.payloadLength)
            try out.withUnsafeMutableBytes { try repr.emit(into: $0, pseudoHeader: pseudo) }
            let back = try withBytes(out) { try TCPRepr.parse(try TCPSegment($0), pseudoHeader: pseudo) }
            #expect(back == repr)
            #expect(out.count == repr.headerLength + repr.payloadLength && repr.headerLength % 4 == 0)
        }
        #expect(withUnknown > 300 && withSack > 300)
    }

    /// tcp_parse_options() tolerance, as documented on TCPOptions.
    @Test func optionParsingMirrorsLinux() throws {
        func parse(_ b: [UInt8]) throws -> TCPOptions { try withBytes(b) { try TCPOptions.parse($0) } }
        // EOL ends parsing: what follows is ignored, even garbage.
        #expect(try parse([2, 4, 5, 0xB4, 0, 0xFF, 0x00, 0x01]) == TCPOptions(maximumSegmentSize: 1460))
        // NOPs are skipped; a repeated kind: the last wins.
        #expect(try parse([1, 1, 3, 3, 7, 1, 3, 3, 14, 0]).windowScale == 14)
        // Wrong-length known kinds are kept raw; values kept as sent.
        let odd = try parse([2, 6, 0, 0, 0, 0, 3, 3, 200, 1, 2, 4, 0, 0])
        #expect(odd.maximumSegmentSize == 0 && odd.windowScale == 200 && odd.unknown.array == [2, 6, 0, 0, 0, 0])
        #expect(try parse([5, 6, 0, 0, 0, 1, 0, 0]).unknown.array == [5, 6, 0, 0, 0, 1])
        let sack = try parse([1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 9])
        #expect(sack.sackBlocks.count == 2 && sack.sackBlocks[1] == TCPSackBlock(left: TCPSeqNumber(5), right: TCPSeqNumber(9)))
        // Malformed lengths: Linux stops parsing; here, .badOption.
        for bad: [UInt8] in [[2], [1, 1, 1, 8], [8, 0, 1, 1], [8, 1, 1, 1], [2, 5, 1, 1], [34, 40, 0, 0], [1, 1, 5, 255]] {
            #expect(wireError { _ = try parse(bad) } == .badOption, "\(bad)")
        }
        // …also through TCPRepr.parse on a whole segment.
        var syn = Array(Golden.tcpSyn[34...])
        syn[21] = 0 // MSS length 0
        #expect(wireError { try withBytes(syn) { _ = try TCPRepr.parse(try TCPSegment($0), pseudoHeader: nil) } } == .badOption)
        syn[21] = 21 // runs past the 20 option bytes
        #expect(wireError { try withBytes(syn) { _ = try TCPRepr.parse(try TCPSegment($0), pseudoHeader: nil) } } == .badOption)
    }

    @Test func emitLayoutAndLimits() throws {
        func optionBytes(_ o: TCPOptions) throws -> [UInt8] {
            let repr = TCPRepr(sourcePort: 1, destinationPort: 2, sequenceNumber: TCPSeqNumber(0), flags: .syn, windowSize: 0, options: o)
            let out = try emitted(size: repr.headerLength) {
                try repr.emit(into: $0, pseudoHeader: .ipv4(source: .any, destination: .any))
            }
            return Array(out[20...])
        }
        #expect(try optionBytes(TCPOptions(sackPermitted: true)) == hex("01010402"))
        #expect(try optionBytes(TCPOptions(maximumSegmentSize: 1460, windowScale: 7)) == hex("020405b4 01030307"))
        var blocks = TCPSackBlocks()
        blocks.append(TCPSackBlock(left: TCPSeqNumber(1), right: TCPSeqNumber(2)))
        #expect(try optionBytes(TCPOptions(sackBlocks: blocks, timestamps: TCPTimestamps(value: 3, echoReply: 4)))
                == hex("0101080a 00000003 00000004 0101050a 00000001 00000002"))
        #expect(try optionBytes(TCPOptions(unknown: OptionBytes([34, 2])!)) == hex("22020000")) // EOL padding
        for _ in 0..<3 { blocks.append(TCPSackBlock(left: TCPSeqNumber(1), right: TCPSeqNumber(2))) }
        let fifthFits = blocks.append(TCPSackBlock(left: TCPSeqNumber(1), right: TCPSeqNumber(2)))
        #expect(!fifthFits && blocks.count == 4)
        let tooMany = TCPOptions(sackBlocks: blocks, timestamps: TCPTimestamps(value: 3, echoReply: 4)) // 12 + 36 > 40
        #expect(wireError { _ = try optionBytes(tooMany) } == .badField)
        let big = TCPRepr(sourcePort: 1, destinationPort: 2, sequenceNumber: TCPSeqNumber(0), flags: .ack, windowSize: 0, payloadLength: 10)
        #expect(wireError { _ = try emitted(size: 29) { try big.emit(into: $0, pseudoHeader: .ipv4(source: .any, destination: .any)) } } == .bufferTooSmall)
    }

    @Test func rejectsMalformed() {
        let frames = [Golden.tcpSyn, Golden.tcpSynAck, Golden.tcpAck, Golden.tcpData, Golden.tcpFinAck,
                      Golden.tcpSynClosedPort, Golden.tcpRstAck]
        for frame in frames {
            for n in 0..<frame.count {
                #expect(wireError { _ = try Self.layers(Array(frame[0..<n])) } != nil, "\(n) bytes")
            }
            // The segment alone, cut short: no header → .truncated, header
            // cut → .truncated, payload cut → .badChecksum.
            let segment = Array(frame[34...])
            let pseudo = PseudoHeader.ipv4(source: IPv4Address(rawValue: withBytes(frame) { $0.be32(26) }),
                                           destination: IPv4Address(rawValue: withBytes(frame) { $0.be32(30) }))
            let hl = Int(segment[12] >> 4) * 4
            for n in 0..<segment.count {
                let e = wireError { try withBytes(Array(segment[0..<n])) { _ = try TCPRepr.parse(try TCPSegment($0), pseudoHeader: pseudo) } }
                #expect(e == (n < hl ? .truncated : .badChecksum), "\(n) of \(segment.count) bytes")
            }
            var rng = SplitMix64(seed: UInt64(frame.count))
            for _ in 0..<20 {
                var b = frame
                b[34 + rng.below(frame.count - 34)] ^= UInt8(1) << UInt8(rng.below(8))
                #expect(wireError { _ = try Self.layers(b) } == .badChecksum)
            }
        }
        var s = Array(Golden.tcpRstAck[34...])
        s[12] = 0x40 // data offset 4
        #expect(wireError { try withBytes(s) { _ = try TCPSegment($0) } } == .badHeaderLength)
        s[12] = 0x60 // data offset 6 > 20 bytes present
        #expect(wireError { try withBytes(s) { _ = try TCPSegment($0) } } == .truncated)
    }

    @Test func aeAndReservedBits() throws {
        var s = Array(Golden.tcpRstAck[34...])
        s[12] |= 0x0F // AE plus the three reserved bits
        try withBytes(s) { raw in
            let seg = try TCPSegment(raw)
            #expect(seg.ae && seg.reservedBits == 7 && seg.flags == [.ae, .rst, .ack])
            #expect(try TCPRepr.parse(seg, pseudoHeader: nil).flags.contains(.ae))
        }
    }
}
