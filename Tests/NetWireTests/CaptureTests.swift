import Testing
@testable import NetWire

/// A record read back, owned.
struct ReadRecord: Equatable {
    var interface: Int
    var linkType: LinkType
    var ns: UInt64
    var originalLength: Int
    var frame: [UInt8]
}

/// Reads every record of `file`; returns them and the error that stopped the walk, if any.
func readAll(_ file: [UInt8]) -> (records: [ReadRecord], error: CaptureError?) {
    file.withUnsafeBytes { raw in
        var out: [ReadRecord] = []
        do {
            var reader = try CaptureReader(raw)
            var guardCount = 0
            while let r = try reader.next() {
                out.append(ReadRecord(interface: r.interface, linkType: r.linkType, ns: r.timestampNanoseconds,
                                      originalLength: r.originalLength, frame: Array(r.frame)))
                guardCount += 1
                precondition(guardCount <= raw.count, "reader did not advance")
            }
            return (out, nil)
        } catch let e as CaptureError {
            return (out, e)
        } catch {
            return (out, nil)
        }
    }
}

func frame(_ n: Int, seed: UInt8) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed)) } }

@Suite struct CaptureTests {
    static let t0: UInt64 = 1_700_000_000_123_456_789

    static func pcapFile(_ resolution: TimestampResolution, snap: Int = 262_144, frames: [[UInt8]]) throws -> [UInt8] {
        let enc = PcapEncoder(linkType: .ethernet, snapLength: snap, resolution: resolution)
        var out: [UInt8] = []
        enc.appendFileHeader(to: &out)
        for (i, f) in frames.enumerated() {
            try f.withUnsafeBytes { try enc.appendRecord(timestampNanoseconds: t0 + UInt64(i) * 1_001, frame: $0, to: &out) }
        }
        return out
    }

    static func pcapngFile(frames: [[UInt8]]) throws -> [UInt8] {
        var enc = PcapngEncoder()
        var out: [UInt8] = []
        enc.appendSectionHeader(to: &out)
        enc.appendInterface(.init(name: "veth0", resolution: .nanoseconds), to: &out)
        enc.appendInterface(.init(name: "tun0", linkType: .raw, snapLength: 0, resolution: .microseconds), to: &out)
        for (i, f) in frames.enumerated() {
            try f.withUnsafeBytes {
                try enc.appendPacket(interface: i % 2, timestampNanoseconds: t0 + UInt64(i) * 1_001, frame: $0, to: &out)
            }
        }
        return out
    }

    @Test func pcapRoundTripMicroAndNanoseconds() throws {
        let frames = [frame(60, seed: 1), frame(1514, seed: 2), frame(61, seed: 3)]
        for resolution in [TimestampResolution.microseconds, .nanoseconds] {
            let file = try Self.pcapFile(resolution, frames: frames)
            #expect(file.count == 24 + frames.reduce(0) { $0 + 16 + $1.count })
            #expect(Array(file[0..<4]) == (resolution == .nanoseconds ? [0x4D, 0x3C, 0xB2, 0xA1] : [0xD4, 0xC3, 0xB2, 0xA1]))
            let (records, error) = readAll(file)
            #expect(error == nil)
            #expect(records.count == 3)
            for (i, r) in records.enumerated() {
                let ns = Self.t0 + UInt64(i) * 1_001
                #expect(r.ns == (resolution == .nanoseconds ? ns : ns / 1000 * 1000))
                #expect(r.frame == frames[i])
                #expect(r.originalLength == frames[i].count)
                #expect(r.linkType == .ethernet && r.interface == 0)
            }
        }
    }

    @Test func pcapSnapLengthCutsButKeepsOriginalLength() throws {
        let file = try Self.pcapFile(.microseconds, snap: 64, frames: [frame(100, seed: 9)])
        let (records, error) = readAll(file)
        #expect(error == nil)
        #expect(records.first?.frame == Array(frame(100, seed: 9)[0..<64]))
        #expect(records.first?.originalLength == 100)
    }

    @Test func readsBigEndianPcap() {
        let file = hex("""
            a1b23c4d 0002 0004 00000000 00000000 0000ffff 00000065
            00000010 00000005 00000004 00000014 deadbeef
            """)
        let (records, error) = readAll(file)
        #expect(error == nil)
        #expect(records == [ReadRecord(interface: 0, linkType: .raw, ns: 16_000_000_005, originalLength: 20,
                                       frame: [0xDE, 0xAD, 0xBE, 0xEF])])
    }

    @Test func pcapngRoundTripTwoInterfacesWithPadding() throws {
        let frames = [frame(61, seed: 1), frame(40, seed: 2), frame(1, seed: 3), frame(1514, seed: 4)]
        let file = try Self.pcapngFile(frames: frames)
        #expect(file.count % 4 == 0)
        let (records, error) = readAll(file)
        #expect(error == nil)
        #expect(records.count == 4)
        for (i, r) in records.enumerated() {
            let ns = Self.t0 + UInt64(i) * 1_001
            #expect(r.interface == i % 2)
            #expect(r.linkType == (i % 2 == 0 ? .ethernet : .raw))
            #expect(r.ns == (i % 2 == 0 ? ns : ns / 1000 * 1000))
            #expect(r.frame == frames[i])
        }
        file.withUnsafeBytes { raw in
            var reader = try? CaptureReader(raw)
            while (try? reader?.next()) != nil {}
            #expect(reader?.interfaces.map(\.name) == ["veth0", "tun0"])
            #expect(reader?.interfaces.map(\.resolutionExponent) == [9, 6])
        }
    }

    /// Hand-written big-endian pcapng: SHB, IDB (if_tsresol 2^-10, if_tsoffset 1 s),
    /// an unknown block, an SPB and an EPB.
    static let bigEndianPcapng = hex("""
        0a0d0d0a 0000001c 1a2b3c4d 0001 0000 ffffffff ffffffff 0000001c
        00000001 0000002c 0001 0000 00000008
          0009 0001 8a000000  000e 0008 00000000 00000001  0000 0000
        0000002c
        00000bad 00000010 01020304 00000010
        00000003 00000018 0000000a 01020304 05060708 00000018
        00000006 00000024 00000000 00000000 00000800 00000003 00000003 aabbcc00 00000024
        """)

    @Test func readsBigEndianPcapngWithSimpleAndUnknownBlocks() {
        let (records, error) = readAll(Self.bigEndianPcapng)
        #expect(error == nil)
        #expect(records.count == 2)
        // SPB: original 10, cut to snaplen 8.
        #expect(records.first == ReadRecord(interface: 0, linkType: .ethernet, ns: 0, originalLength: 10,
                                            frame: [1, 2, 3, 4, 5, 6, 7, 8]))
        // EPB: 2048 units of 2^-10 s = 2 s, plus if_tsoffset 1 s.
        #expect(records.last == ReadRecord(interface: 0, linkType: .ethernet, ns: 3_000_000_000, originalLength: 3,
                                           frame: [0xAA, 0xBB, 0xCC]))
    }

    @Test func typedErrorsForKnownDamage() throws {
        func firstError(_ f: [UInt8]) -> CaptureError? { readAll(f).error }
        #expect(firstError([]) == .truncatedFileHeader)
        #expect(firstError([0xD4, 0xC3, 0xB2]) == .truncatedFileHeader)
        #expect(firstError(Array("hello world, not a capture".utf8)) == .badMagic(0x6865_6C6C))
        var good = try Self.pcapFile(.microseconds, frames: [frame(60, seed: 1)])
        var v = good; v[4] = 3
        #expect(firstError(v) == .unsupportedVersion(major: 3, minor: 4))
        v = good; v[19] = 0x7F
        #expect(firstError(v) == .absurdSnapLength(0x7F04_0000))
        v = good; v.removeLast()
        #expect(firstError(v) == .recordPastEnd(offset: 24, capturedLength: 60, available: 59))
        v = good; v[34] = 0x10 // captured length 0x10_003C
        #expect(firstError(v) == .recordTooLarge(offset: 24, capturedLength: 0x10_003C))
        good = try Self.pcapngFile(frames: [frame(60, seed: 1)])
        let shb = Int(good[4]) // SHB length (little-endian, < 256)
        v = good; v[v.count - 4] ^= 0x04
        #expect(firstError(v) == .blockLengthMismatch(offset: v.count - 92, leading: 92, trailing: 88))
        v = good; v[shb + 4] = 13
        #expect(firstError(v) == .badBlockLength(offset: shb, length: 13))
        v = good; v[v.count - 92 + 8] = 7
        #expect(firstError(v) == .unknownInterface(offset: v.count - 92, interface: 7))
        v = good; v.removeLast(4)
        #expect(firstError(v) == .blockPastEnd(offset: v.count - 88, length: 92, available: 88))
        v = Self.bigEndianPcapng; v[8] = 0x55
        #expect(firstError(v) == .badMagic(0x552B_3C4D))
    }

    /// Every prefix of a valid file either reads cleanly (it ends on a record
    /// boundary) or throws; none traps.
    @Test(arguments: ["pcap", "pcapng", "pcapng-be"])
    func everyTruncationIsAnErrorOrABoundary(kind: String) throws {
        let frames = [frame(42, seed: 1), frame(61, seed: 2), frame(3, seed: 3)]
        let file: [UInt8] = switch kind {
        case "pcap": try Self.pcapFile(.nanoseconds, frames: frames)
        case "pcapng": try Self.pcapngFile(frames: frames)
        default: Self.bigEndianPcapng
        }
        let full = readAll(file)
        #expect(full.error == nil)
        for cut in 0..<file.count {
            let (records, error) = readAll(Array(file[0..<cut]))
            if error == nil {
                #expect(records.count < full.records.count, "prefix \(cut) read as complete")
                #expect(records == Array(full.records.prefix(records.count)))
                #expect(cut > 0)
            } else {
                #expect(records == Array(full.records.prefix(records.count)), "prefix \(cut)")
            }
        }
    }

    @Test func randomGarbageAndMutationsNeverTrap() throws {
        var rng = SplitMix64(seed: 0xCA97_0001)
        let seeds = [try Self.pcapFile(.microseconds, frames: [frame(42, seed: 1), frame(61, seed: 2)]),
                     try Self.pcapngFile(frames: [frame(42, seed: 1), frame(61, seed: 2)]),
                     Self.bigEndianPcapng]
        var errors = 0
        for round in 0..<3000 {
            var bytes: [UInt8]
            if round % 3 == 0 {
                let n = Int.random(in: 0..<200, using: &rng)
                bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
                // Give a third of them a valid magic so the deeper paths run.
                if round % 9 == 0 && n >= 4 { bytes[0] = 0x0A; bytes[1] = 0x0D; bytes[2] = 0x0D; bytes[3] = 0x0A }
                if round % 9 == 3 && n >= 4 { bytes[0] = 0xD4; bytes[1] = 0xC3; bytes[2] = 0xB2; bytes[3] = 0xA1 }
            } else {
                bytes = seeds[round % seeds.count]
                for _ in 0..<Int.random(in: 1...6, using: &rng) {
                    let i = Int.random(in: 0..<bytes.count, using: &rng)
                    bytes[i] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            if readAll(bytes).error != nil { errors += 1 }
        }
        #expect(errors > 1000)
    }

    @Test func appendingAllocatesNothingAfterWarmUp() throws {
        var enc = PcapngEncoder()
        var sink: [UInt8] = []
        enc.appendSectionHeader(to: &sink)
        enc.appendInterface(.init(name: "eth0"), to: &sink)
        let f = frame(1514, seed: 5)
        sink.reserveCapacity(4096)
        sink.removeAll(keepingCapacity: true)
        let base = sink.withUnsafeBytes { $0.baseAddress }
        let capacity = sink.capacity
        for i in 0..<100 {
            try f.withUnsafeBytes { try enc.appendPacket(interface: 0, timestampNanoseconds: UInt64(i), frame: $0, to: &sink) }
            sink.removeAll(keepingCapacity: true)
        }
        #expect(sink.capacity == capacity)
        #expect(sink.withUnsafeBytes { $0.baseAddress } == base)
        // A failed append leaves the sink unchanged.
        f.withUnsafeBytes { raw in
            #expect(throws: CaptureError.noSuchInterface(3)) {
                try enc.appendPacket(interface: 3, timestampNanoseconds: 0, frame: raw, to: &sink)
            }
            #expect(throws: CaptureError.badFrameLength) {
                try enc.appendPacket(interface: 0, timestampNanoseconds: 0, frame: raw, originalLength: 10, to: &sink)
            }
        }
        #expect(sink.isEmpty)
    }
}
