import Testing
import NetWire
@testable import Netstack

// MARK: - helpers

struct FragRNG {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = Int(next() % UInt64(i + 1))
            a.swapAt(i, j)
        }
    }
}

enum FragOutcome: Equatable {
    case incomplete
    case complete([UInt8])
    case dropped(DropReason)
    case problem(code: UInt8, pointer: UInt32)
}

/// Reads a result, dropping discarded buffers through the shard as the
/// caller must.
func frag(_ r: consuming ReassemblyResult, _ shard: Shard) -> FragOutcome {
    switch consume r {
    case .incomplete: return .incomplete
    case .complete(let p): return .complete(p.bytes)
    case .dropped(let p, let reason):
        shard.drop(p, reason: reason, now: .zero)
        return .dropped(reason)
    case .parameterProblem(let p, let code, let pointer, let reason):
        shard.drop(p, reason: reason, now: .zero)
        return .problem(code: code, pointer: pointer)
    }
}

func fragSent(_ r: consuming FragmentationResult) -> Int? {
    switch consume r {
    case .sent(let n): return n
    case .refused: return nil
    }
}

func fragRefusal(_ r: consuming FragmentationResult) -> FragmentationError? {
    switch consume r {
    case .sent: return nil
    case .refused(_, let e): return e
    }
}

let fragSrc4 = IPv4Address(10, 77, 0, 1)
let fragDst4 = IPv4Address(10, 77, 0, 2)

func ipv4Bytes(payload: [UInt8], id: UInt16 = 0x1234, proto: UInt8 = 17, options: [UInt8] = [],
               fragOff: UInt16 = 0, tos: UInt8 = 0, ttl: UInt8 = 64,
               src: IPv4Address = fragSrc4, dst: IPv4Address = fragDst4) -> [UInt8] {
    precondition(options.count % 4 == 0)
    let ihl = 20 + options.count
    var h = [UInt8](repeating: 0, count: ihl)
    h[0] = 0x40 | UInt8(ihl / 4)
    h[1] = tos
    let total = ihl + payload.count
    h[2] = UInt8(total >> 8); h[3] = UInt8(total & 0xFF)
    h[4] = UInt8(id >> 8); h[5] = UInt8(id & 0xFF)
    h[6] = UInt8(fragOff >> 8); h[7] = UInt8(fragOff & 0xFF)
    h[8] = ttl; h[9] = proto
    for i in 0..<4 {
        h[12 + i] = UInt8(truncatingIfNeeded: src.rawValue >> (24 - 8 * UInt32(i)))
        h[16 + i] = UInt8(truncatingIfNeeded: dst.rawValue >> (24 - 8 * UInt32(i)))
    }
    for (i, o) in options.enumerated() { h[20 + i] = o }
    let c = h.withUnsafeBytes { InternetChecksum.checksum($0) }
    h[10] = UInt8(c >> 8); h[11] = UInt8(c & 0xFF)
    return h + payload
}

/// A hand-made IPv4 fragment: `data` at byte `offset`, MF as given.
func ipv4Fragment(_ data: [UInt8], offset: Int, more: Bool, id: UInt16 = 0x1234, df: Bool = false,
                  tos: UInt8 = 0) -> [UInt8] {
    ipv4Bytes(payload: data, id: id, fragOff: UInt16(offset / 8) | (more ? 0x2000 : 0) | (df ? 0x4000 : 0), tos: tos)
}

func hexBytes(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var i = s.startIndex
    while i < s.endIndex {
        let j = s.index(i, offsetBy: 2)
        out.append(UInt8(s[i..<j], radix: 16)!)
        i = j
    }
    return out
}

let fragSrc6 = IPv6Address([0xfd77, 0, 0, 0, 0, 0, 0, 1])
let fragDst6 = IPv6Address([0xfd77, 0, 0, 0, 0, 0, 0, 2])

/// IPv6 header + `extensions` (already chained; `firstNext` names the first)
/// + `payload`.
func ipv6Bytes(firstNext: UInt8, extensions: [UInt8] = [], payload: [UInt8], tc: UInt8 = 0,
               src: IPv6Address = fragSrc6, dst: IPv6Address = fragDst6) -> [UInt8] {
    var h = [UInt8](repeating: 0, count: 40)
    h[0] = 0x60 | (tc >> 4); h[1] = (tc & 0x0F) << 4
    let plen = extensions.count + payload.count
    h[4] = UInt8(plen >> 8); h[5] = UInt8(plen & 0xFF)
    h[6] = firstNext; h[7] = 64
    h.withUnsafeMutableBytes { b in
        src.write(into: b, at: 8)
        dst.write(into: b, at: 24)
    }
    return h + extensions + payload
}

/// An IPv6 fragment: fixed header, fragment header, data.
func ipv6Fragment(_ data: [UInt8], offset: Int, more: Bool, id: UInt32 = 7, next: UInt8 = 17, tc: UInt8 = 0,
                  dst: IPv6Address = fragDst6) -> [UInt8] {
    let fo = UInt16(offset) | (more ? 1 : 0)
    let fh: [UInt8] = [next, 0, UInt8(fo >> 8), UInt8(fo & 0xFF),
                       UInt8(id >> 24), UInt8((id >> 16) & 0xFF), UInt8((id >> 8) & 0xFF), UInt8(id & 0xFF)]
    return ipv6Bytes(firstNext: 44, extensions: fh, payload: data, tc: tc, dst: dst)
}

func pattern(_ n: Int, seed: Int = 0) -> [UInt8] { (0..<n).map { UInt8(($0 + seed) % 251) } }

/// Fragments and returns the fragments' bytes.
func cut4(_ packet: [UInt8], mtu: Int, pool: PacketPool, source: PacketPool, batchCapacity: Int = 2048,
          counters: borrowing Counters) -> [[UInt8]]? {
    var batch = PacketBatch(capacity: batchCapacity)
    guard let n = fragSent(IPv4Fragmenter.fragment(source.allocate(copying: packet)!, mtu: mtu, pool: pool,
                                                   into: &batch, counters: counters)) else { return nil }
    var out: [[UInt8]] = []
    while let p = batch.popFirst() { out.append(p.bytes) }
    precondition(out.count == n)
    return out
}

func cut6(_ packet: [UInt8], mtu: Int, id: UInt32, pool: PacketPool, source: PacketPool,
          counters: borrowing Counters) -> [[UInt8]]? {
    var batch = PacketBatch(capacity: 2048)
    guard let n = fragSent(IPv6Fragmenter.fragment(source.allocate(copying: packet)!, mtu: mtu, identification: id,
                                                   pool: pool, into: &batch, counters: counters)) else { return nil }
    var out: [[UInt8]] = []
    while let p = batch.popFirst() { out.append(p.bytes) }
    precondition(out.count == n)
    return out
}

// MARK: - IPv4

@Suite struct FragmentIPv4Tests {
    let rx = PacketPool(slotSize: 2048, count: 3000)
    let big = PacketPool(slotSize: 65536 + 256, count: 8)

    @Test func roundTripAtBoundarySizesInRandomOrder() {
        let shard = Shard(pool: rx)
        var r = IPv4Reassembly(pool: big)
        var rng = FragRNG(state: 42)
        var datagrams = 0
        for mtu in [1500, 576, 68] {
            for size in [1, 7, 8, 9, 1472, 1473, 1480, 1481, 2961, 3980, 8192, 65515] {
                let original = ipv4Bytes(payload: pattern(size, seed: mtu), id: UInt16(truncatingIfNeeded: size))
                guard var frags = cut4(original, mtu: mtu, pool: rx, source: big, counters: shard.counters) else {
                    Issue.record("fragmenting \(size) at \(mtu) refused"); continue
                }
                #expect(frags.allSatisfy { $0.count <= mtu })
                if original.count <= mtu { #expect(frags == [original]); continue }
                rng.shuffle(&frags)
                var last = FragOutcome.incomplete
                for (i, f) in frags.enumerated() {
                    last = frag(r.insert(rx.allocate(copying: f)!, now: .zero, shard: shard), shard)
                    if i < frags.count - 1 { #expect(last == .incomplete) }
                }
                #expect(last == .complete(original), "size \(size) mtu \(mtu)")
                datagrams += 1
            }
        }
        #expect(shard.counters[.ipReasmOKs] == UInt64(datagrams))
        #expect(shard.counters[.ipFragOKs] == UInt64(datagrams))
        #expect(r.queueCount == 0 && r.memoryUsed == 0)
        #expect(rx.outstanding == 0 && big.outstanding == 0)
    }

    @Test func onlyCopiedOptionsRepeatInLaterFragments() {
        let shard = Shard(pool: rx)
        // Record Route (7: copied bit clear), Router Alert (148: set), EOL pad.
        let options: [UInt8] = [7, 7, 4, 0, 0, 0, 0, 148, 4, 0, 0, 0]
        let original = ipv4Bytes(payload: pattern(3000), options: options)
        let frags = cut4(original, mtu: 1500, pool: rx, source: big, counters: shard.counters)!
        #expect(frags.count == 3)
        #expect(Array(frags[0][20..<32]) == options)
        let nopped: [UInt8] = [1, 1, 1, 1, 1, 1, 1, 148, 4, 0, 0, 0]
        #expect(Array(frags[1][20..<32]) == nopped && Array(frags[2][20..<32]) == nopped)
        // Same header length everywhere; data per fragment a multiple of 8.
        #expect(frags.map { $0.count } == [1496, 1496, 32 + 3000 - 2 * 1464])
        for f in frags { #expect(f.withUnsafeBytes { InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<32])) } == 0) }
        var r = IPv4Reassembly(pool: big)
        var out = FragOutcome.incomplete
        for f in frags.reversed() { out = frag(r.insert(rx.allocate(copying: f)!, now: .zero, shard: shard), shard) }
        #expect(out == .complete(original))
    }

    /// Linux 6.x on a veth (MTU 1500) sending a 3992-byte UDP payload from
    /// 10.77.0.1:46290 to 10.77.0.2:9999, payload i % 251, captured with
    /// tcpdump: fragments at 0/1480/2960, MF on the first two, ID 0xf6c6.
    @Test func matchesLinuxFor4000ByteUDPAtMTU1500() {
        let shard = Shard(pool: rx)
        let udpHeader = hexBytes("b4d2270f0fa0d31e")
        let original = ipv4Bytes(payload: udpHeader + pattern(3992), id: 0xF6C6)
        let frags = cut4(original, mtu: 1500, pool: rx, source: big, counters: shard.counters)!
        let linuxHeaders = [hexBytes("450005dcf6c62000401149ae0a4d00010a4d0002"),
                            hexBytes("450005dcf6c620b9401148f50a4d00010a4d0002"),
                            hexBytes("45000424f6c60172401169f40a4d00010a4d0002")]
        let datagram = udpHeader + pattern(3992)
        let linux = [linuxHeaders[0] + datagram[0..<1480], linuxHeaders[1] + datagram[1480..<2960],
                     linuxHeaders[2] + datagram[2960...]]
        #expect(frags == linux)
        #expect(shard.counters[.ipFragCreates] == 3)
    }

    @Test func dontFragmentIsRefusedWithTheMTU() {
        let shard = Shard(pool: rx)
        var batch = PacketBatch()
        let packet = ipv4Bytes(payload: pattern(2000), fragOff: 0x4000)
        let r = IPv4Fragmenter.fragment(big.allocate(copying: packet)!, mtu: 1500, pool: rx, into: &batch,
                                        counters: shard.counters)
        switch consume r {
        case .sent: Issue.record("DF packet was fragmented")
        case .refused(let p, let e):
            #expect(e == .dontFragment(mtu: 1500))
            #expect(p.bytes == packet)
        }
        let empty = batch.isEmpty
        #expect(empty && shard.counters[.ipFragFails] == 1)
        // ignore_df: cut, DF kept on every fragment.
        let frags = cut4Ignoring(packet, shard: shard)
        #expect(frags.count == 2 && frags.allSatisfy { $0[6] & 0x40 != 0 })
        #expect(fragRefusal(IPv4Fragmenter.fragment(rx.allocate(copying: ipv4Bytes(payload: pattern(100)))!, mtu: 27,
                                                    pool: rx, into: &batch, counters: shard.counters)) == .mtuTooSmall(mtu: 27))
    }

    func cut4Ignoring(_ packet: [UInt8], shard: Shard) -> [[UInt8]] {
        var batch = PacketBatch()
        _ = fragSent(IPv4Fragmenter.fragment(big.allocate(copying: packet)!, mtu: 1500, ignoreDF: true, pool: rx,
                                             into: &batch, counters: shard.counters))
        var out: [[UInt8]] = []
        while let p = batch.popFirst() { out.append(p.bytes) }
        return out
    }

    @Test func overlapDropsTheWholeDatagram() {
        let shard = Shard(pool: rx)
        var r = IPv4Reassembly(pool: big)
        let data = pattern(32)
        #expect(frag(r.insert(rx.allocate(copying: ipv4Fragment(Array(data[0..<16]), offset: 0, more: true))!,
                              now: .zero, shard: shard), shard) == .incomplete)
        #expect(frag(r.insert(rx.allocate(copying: ipv4Fragment(Array(data[8..<24]), offset: 8, more: true))!,
                              now: .zero, shard: shard), shard) == .dropped(.notSpecified))
        #expect(r.queueCount == 0 && r.memoryUsed == 0)
        #expect(shard.counters[.ipExtReasmOverlaps] == 1 && shard.counters[.ipReasmFails] == 1)
        // The rest alone does not complete: the first fragment is gone.
        #expect(frag(r.insert(rx.allocate(copying: ipv4Fragment(Array(data[16..<32]), offset: 16, more: false))!,
                              now: .zero, shard: shard), shard) == .incomplete)
        #expect(rx.outstanding == 1)
    }

    @Test func duplicatesAreDroppedAloneAndRunsDecide() {
        let shard = Shard(pool: rx)
        var r = IPv4Reassembly(pool: big)
        let data = pattern(24)
        func put(_ d: ArraySlice<UInt8>, _ off: Int, _ more: Bool, id: UInt16) -> FragOutcome {
            frag(r.insert(rx.allocate(copying: ipv4Fragment(Array(d), offset: off, more: more, id: id))!,
                          now: .zero, shard: shard), shard)
        }
        // In order: [0,8) and [8,16) form one run; [4,12) lies inside it.
        #expect(put(data[0..<8], 0, true, id: 1) == .incomplete)
        #expect(put(data[0..<8], 0, true, id: 1) == .dropped(.dupFrag))
        #expect(put(data[8..<16], 8, true, id: 1) == .incomplete)
        // [0,16) lies inside the run [0,16).
        #expect(put(data[0..<16], 0, true, id: 1) == .dropped(.dupFrag))
        #expect(put(data[16..<24], 16, false, id: 1) == .complete(ipv4Bytes(payload: Array(data), id: 1)))
        // Out of order: [8,16) first, then [0,8) is inserted before it as a
        // run of its own; [0,16) now spans two runs: an overlap.
        #expect(put(data[8..<16], 8, true, id: 2) == .incomplete)
        #expect(put(data[0..<8], 0, true, id: 2) == .incomplete)
        #expect(put(data[0..<16], 0, true, id: 2) == .dropped(.notSpecified))
        #expect(r.queueCount == 0)
        #expect(shard.counters[drop: .dupFrag] == 2)
    }

    @Test func inconsistentLastFragmentKillsTheQueue() {
        let shard = Shard(pool: rx)
        var r = IPv4Reassembly(pool: big)
        #expect(frag(r.insert(rx.allocate(copying: ipv4Fragment(pattern(16), offset: 16, more: true))!,
                              now: .zero, shard: shard), shard) == .incomplete)
        // A last fragment ending at 16 while data up to 32 exists.
        #expect(frag(r.insert(rx.allocate(copying: ipv4Fragment(pattern(8), offset: 8, more: false))!,
                              now: .zero, shard: shard), shard) == .dropped(.notSpecified))
        #expect(r.queueCount == 0 && shard.counters[.ipReasmFails] == 1)
    }

    @Test func oversizeDatagramFailsAtCompletion() {
        let shard = Shard(pool: rx)
        var r = IPv4Reassembly(pool: big)
        // The last fragment at offset 65528 with 8 bytes: 20 + 65536 > 65535.
        #expect(frag(r.insert(rx.allocate(copying: ipv4Fragment(pattern(8), offset: 65528, more: false))!,
                              now: .zero, shard: shard), shard) == .incomplete)
        var result = FragOutcome.incomplete
        for off in stride(from: 0, to: 65528, by: 1480) {
            let n = min(1480, 65528 - off)
            result = frag(r.insert(rx.allocate(copying: ipv4Fragment(pattern(n), offset: off, more: true))!,
                                   now: .zero, shard: shard), shard)
        }
        #expect(result == .dropped(.pktTooBig))
        #expect(r.queueCount == 0 && r.memoryUsed == 0 && shard.counters[.ipReasmFails] == 1)
        #expect(rx.outstanding == 0)
    }

    @Test func timeoutHandsBackTheFirstFragmentOnly() {
        let shard = Shard(pool: rx)
        var r = IPv4Reassembly(pool: big)
        let first = ipv4Fragment(pattern(16), offset: 0, more: true, id: 1)
        _ = frag(r.insert(rx.allocate(copying: first)!, now: .zero, shard: shard), shard)
        _ = frag(r.insert(rx.allocate(copying: ipv4Fragment(pattern(16), offset: 32, more: true, id: 1))!,
                          now: .zero, shard: shard), shard)
        _ = frag(r.insert(rx.allocate(copying: ipv4Fragment(pattern(16), offset: 16, more: true, id: 2))!,
                          now: Instant.zero + .seconds(1), shard: shard), shard)
        #expect(r.nextDeadline == Instant.zero + .seconds(30))
        var batch = PacketBatch()
        #expect(r.expire(now: Instant.zero + .milliseconds(29_999), shard: shard, timeExceeded: &batch) == 0)
        #expect(r.expire(now: Instant.zero + .seconds(30), shard: shard, timeExceeded: &batch) == 1)
        let held = batch.count
        #expect(held == 1)
        #expect(batch.popFirst()?.bytes == first)
        #expect(shard.counters[drop: .fragReasmTimeout] == 1)  // the offset-32 fragment
        #expect(r.nextDeadline == Instant.zero + .seconds(31))
        // No first fragment: nothing to quote.
        #expect(r.expire(now: Instant.zero + .seconds(31), shard: shard, timeExceeded: &batch) == 1)
        let empty = batch.isEmpty
        #expect(empty)
        #expect(shard.counters[.ipReasmTimeout] == 2 && shard.counters[.ipReasmFails] == 2)
        #expect(shard.counters[drop: .fragReasmTimeout] == 2)
        #expect(r.nextDeadline == .distantFuture && r.memoryUsed == 0)
    }

    @Test func aboveHighThresholdFragmentsAreRefusedUntilMemoryReturns() {
        let shard = Shard(pool: rx)
        let perFragment = 2048 + 576, perQueue = 200
        var r = IPv4Reassembly(pool: big, limits: FragmentLimits(highThresh: 3 * (perFragment + perQueue)))
        for id in 0..<4 {
            let out = frag(r.insert(rx.allocate(copying: ipv4Fragment(pattern(16), offset: 16, more: true, id: UInt16(id)))!,
                                    now: .zero, shard: shard), shard)
            #expect(out == .incomplete, "datagram \(id) fits: memory \(r.memoryUsed)")
        }
        #expect(r.memoryUsed == 4 * (perFragment + perQueue))
        // Above the threshold: even an existing datagram's fragment is refused.
        #expect(frag(r.insert(rx.allocate(copying: ipv4Fragment(pattern(16), offset: 0, more: true, id: 0))!,
                              now: Instant.zero + .seconds(1), shard: shard), shard) == .dropped(.notSpecified))
        #expect(shard.counters[.ipReasmFails] == 1)
        var batch = PacketBatch()
        #expect(r.expire(now: Instant.zero + .seconds(30), shard: shard, timeExceeded: &batch) == 4)
        #expect(r.memoryUsed == 0)
        #expect(frag(r.insert(rx.allocate(copying: ipv4Fragment(pattern(16), offset: 0, more: true, id: 0))!,
                              now: Instant.zero + .seconds(31), shard: shard), shard) == .incomplete)
    }

    @Test func maxDistanceFlushesAStaleQueue() {
        let shard = Shard(pool: rx)
        var r = IPv4Reassembly(pool: big)
        let data = pattern(32)
        _ = frag(r.insert(rx.allocate(copying: ipv4Fragment(Array(data[0..<16]), offset: 0, more: true, id: 9))!,
                          now: .zero, shard: shard), shard)
        // 64 more fragments from the same source, for other datagrams.
        for id in 100..<164 {
            _ = frag(r.insert(rx.allocate(copying: ipv4Fragment(pattern(8), offset: 8, more: true, id: UInt16(id)))!,
                              now: .zero, shard: shard), shard)
        }
        // Distance 65 > 64: datagram 9's fragment is flushed, the queue restarts.
        #expect(frag(r.insert(rx.allocate(copying: ipv4Fragment(Array(data[16..<32]), offset: 16, more: false, id: 9))!,
                              now: Instant.zero + .seconds(2), shard: shard), shard) == .incomplete)
        #expect(shard.counters[drop: .fragTooFar] == 1 && shard.counters[.ipReasmFails] == 1)
        // The restarted queue completes with the first fragment again; its
        // timer was re-armed at 2 s.
        #expect(frag(r.insert(rx.allocate(copying: ipv4Fragment(Array(data[0..<16]), offset: 0, more: true, id: 9))!,
                              now: Instant.zero + .seconds(3), shard: shard), shard) == .complete(ipv4Bytes(payload: data, id: 9)))
        r.flush(now: .zero, shard: shard)
        #expect(r.queueCount == 0 && r.memoryUsed == 0 && rx.outstanding == 0)
    }

    @Test func ecnCombinationsFollowRFC3168() {
        let shard = Shard(pool: rx)
        var r = IPv4Reassembly(pool: big)
        let data = pattern(16)
        // ECT(0) then CE: the datagram carries CE.
        _ = frag(r.insert(rx.allocate(copying: ipv4Fragment(Array(data[0..<8]), offset: 0, more: true, id: 1, tos: 2))!,
                          now: .zero, shard: shard), shard)
        let out = frag(r.insert(rx.allocate(copying: ipv4Fragment(Array(data[8...]), offset: 8, more: false, id: 1, tos: 3))!,
                                now: .zero, shard: shard), shard)
        #expect(out == .complete(ipv4Bytes(payload: data, id: 1, tos: 3)))
        // Not-ECT mixed with ECT(0): dropped.
        _ = frag(r.insert(rx.allocate(copying: ipv4Fragment(Array(data[0..<8]), offset: 0, more: true, id: 2, tos: 0))!,
                          now: .zero, shard: shard), shard)
        #expect(frag(r.insert(rx.allocate(copying: ipv4Fragment(Array(data[8...]), offset: 8, more: false, id: 2, tos: 2))!,
                              now: .zero, shard: shard), shard) == .dropped(.notSpecified))
        #expect(r.queueCount == 0)
    }

    @Test func dontFragmentOnTheLargestFragmentSurvivesReassembly() {
        let shard = Shard(pool: rx)
        var r = IPv4Reassembly(pool: big)
        let data = pattern(24)
        _ = frag(r.insert(rx.allocate(copying: ipv4Fragment(Array(data[0..<16]), offset: 0, more: true, id: 5, df: true))!,
                          now: .zero, shard: shard), shard)
        let out = frag(r.insert(rx.allocate(copying: ipv4Fragment(Array(data[16...]), offset: 16, more: false, id: 5))!,
                                now: .zero, shard: shard), shard)
        #expect(out == .complete(ipv4Bytes(payload: data, id: 5, fragOff: 0x4000)))
    }
}

// MARK: - IPv6

@Suite struct FragmentIPv6Tests {
    let rx = PacketPool(slotSize: 2048, count: 3000)
    let big = PacketPool(slotSize: 65536 + 256, count: 8)

    /// HBH (8) + routing (type 0? use type 4, 8 bytes) + dest options (8):
    /// Linux keeps HBH and routing unfragmentable and fragments the
    /// destination options that follow the routing header.
    static let hbh: [UInt8] = [43, 0, 1, 4, 0, 0, 0, 0]          // next: routing
    static let routing: [UInt8] = [60, 0, 4, 0, 0, 0, 0, 0]      // next: dest opts, SRH-ish, 0 segments left
    static let dest: [UInt8] = [17, 0, 1, 4, 0, 0, 0, 0]         // next: UDP

    @Test func roundTripWithExtensionHeaders() {
        let shard = Shard(pool: rx)
        var r = IPv6Reassembly(pool: big)
        var rng = FragRNG(state: 6)
        var count = 0
        for mtu in [1280, 1500] {
            for size in [1, 1232, 1233, 4000, 65535 - 24] {
                let original = ipv6Bytes(firstNext: 0, extensions: Self.hbh + Self.routing + Self.dest,
                                         payload: pattern(size, seed: mtu))
                guard var frags = cut6(original, mtu: mtu, id: UInt32(size), pool: rx, source: big, counters: shard.counters) else {
                    Issue.record("refused \(size)"); continue
                }
                #expect(frags.allSatisfy { $0.count <= mtu })
                if original.count <= mtu { #expect(frags == [original]); continue }
                // Unfragmentable: IPv6 + HBH + routing (56 bytes); the
                // routing header now names the fragment header.
                #expect(frags.allSatisfy { $0[56 - 8] == 44 && $0[56] == 60 })
                rng.shuffle(&frags)
                var last = FragOutcome.incomplete
                for f in frags { last = frag(r.insert(rx.allocate(copying: f)!, now: .zero, shard: shard), shard) }
                #expect(last == .complete(original), "size \(size) mtu \(mtu)")
                count += 1
            }
        }
        #expect(shard.counters[.ip6ReasmOKs] == UInt64(count) && shard.counters[.ip6FragOKs] == UInt64(count))
        #expect(rx.outstanding == 0 && big.outstanding == 0 && r.memoryUsed == 0)
    }

    /// Linux 6.x, same capture as the IPv4 golden: fd77::1 → fd77::2 UDP
    /// 50278 → 9999, 3992-byte payload, MTU 1500: offsets 0/1448/2896.
    @Test func matchesLinuxFor4000ByteUDPAtMTU1500() {
        let shard = Shard(pool: rx)
        let udp = hexBytes("c466270f0fa0dd34") + pattern(3992)
        var original = ipv6Bytes(firstNext: 17, payload: udp)
        original[1] = 0x05; original[2] = 0xDD; original[3] = 0x06 // flow label as captured
        let frags = cut6(original, mtu: 1500, id: 0x52EC_5832, pool: rx, source: big, counters: shard.counters)!
        let headers = [
            hexBytes("6005dd0605b02c40fd770000000000000000000000000001fd7700000000000000000000000000021100000152ec5832"),
            hexBytes("6005dd0605b02c40fd770000000000000000000000000001fd770000000000000000000000000002110005a952ec5832"),
            hexBytes("6005dd0604582c40fd770000000000000000000000000001fd77000000000000000000000000000211000b5052ec5832"),
        ]
        let linux = [headers[0] + udp[0..<1448], headers[1] + udp[1448..<2896], headers[2] + udp[2896...]]
        #expect(frags == linux)
    }

    @Test func atomicFragmentIsDeliveredAtOnce() {
        let shard = Shard(pool: rx)
        var r = IPv6Reassembly(pool: big)
        let data = pattern(20)
        let out = frag(r.insert(rx.allocate(copying: ipv6Fragment(data, offset: 0, more: false))!, now: .zero,
                                shard: shard), shard)
        #expect(out == .complete(ipv6Bytes(firstNext: 17, payload: data)))
        #expect(r.queueCount == 0 && shard.counters[.ip6ReasmOKs] == 1 && shard.counters[.ip6ReasmReqds] == 1)
    }

    @Test func firstFragmentMustHoldTheHeaderChain() {
        let shard = Shard(pool: rx)
        var r = IPv6Reassembly(pool: big)
        // UDP needs 8 bytes in the first fragment; 0 given → code 3, pointer 0.
        let destOnly: [UInt8] = [17, 0, 1, 4, 0, 0, 0, 0]
        #expect(frag(r.insert(rx.allocate(copying: ipv6Fragment(destOnly, offset: 0, more: true, next: 60))!,
                              now: .zero, shard: shard), shard) == .problem(code: 3, pointer: 0))
        // A chain cut inside an extension header is refused as well.
        #expect(frag(r.insert(rx.allocate(copying: ipv6Fragment([17, 1, 0, 0, 0, 0, 0, 0], offset: 0, more: true, next: 60))!,
                              now: .zero, shard: shard), shard) == .problem(code: 3, pointer: 0))
        // TCP needs 20: 16 bytes are not enough, 24 are.
        #expect(frag(r.insert(rx.allocate(copying: ipv6Fragment(pattern(16), offset: 0, more: true, next: 6))!,
                              now: .zero, shard: shard), shard) == .problem(code: 3, pointer: 0))
        #expect(frag(r.insert(rx.allocate(copying: ipv6Fragment(pattern(24), offset: 0, more: true, next: 6))!,
                              now: .zero, shard: shard), shard) == .incomplete)
        #expect(shard.counters[.ip6InHdrErrors] == 3)
    }

    @Test func lengthRulesAnswerWithParameterProblems() {
        let shard = Shard(pool: rx)
        var r = IPv6Reassembly(pool: big)
        // Non-last fragment of 12 bytes: pointer to Payload Length.
        #expect(frag(r.insert(rx.allocate(copying: ipv6Fragment(pattern(12), offset: 8, more: true))!,
                              now: .zero, shard: shard), shard) == .problem(code: 0, pointer: 4))
        // Ends past 65535: pointer to the Fragment Offset field (40 + 2).
        #expect(frag(r.insert(rx.allocate(copying: ipv6Fragment(pattern(16), offset: 65528, more: false))!,
                              now: .zero, shard: shard), shard) == .problem(code: 0, pointer: 42))
        // Payload length 0 (jumbo) with a fragment header: pointer to it.
        var jumbo = ipv6Fragment(pattern(8), offset: 8, more: true)
        jumbo[4] = 0; jumbo[5] = 0
        #expect(frag(r.insert(rx.allocate(copying: jumbo)!, now: .zero, shard: shard), shard) == .problem(code: 0, pointer: 40))
        #expect(shard.counters[.ip6InHdrErrors] == 3 && shard.counters[.ip6ReasmFails] == 0)
    }

    @Test func overlapAndDuplicates() {
        let shard = Shard(pool: rx)
        var r = IPv6Reassembly(pool: big)
        let data = pattern(32)
        #expect(frag(r.insert(rx.allocate(copying: ipv6Fragment(Array(data[0..<16]), offset: 0, more: true))!,
                              now: .zero, shard: shard), shard) == .incomplete)
        #expect(frag(r.insert(rx.allocate(copying: ipv6Fragment(Array(data[0..<16]), offset: 0, more: true))!,
                              now: .zero, shard: shard), shard) == .dropped(.dupFrag))
        #expect(r.queueCount == 1)
        #expect(frag(r.insert(rx.allocate(copying: ipv6Fragment(Array(data[8..<32]), offset: 8, more: false))!,
                              now: .zero, shard: shard), shard) == .dropped(.notSpecified))
        #expect(r.queueCount == 0 && shard.counters[.ip6ReasmFails] == 1 && rx.outstanding == 0)
    }

    @Test func linkLocalQueuesAreKeptPerInterface() {
        let shard = Shard(pool: rx)
        var r = IPv6Reassembly(pool: big)
        let ll = IPv6Address([0xfe80, 0, 0, 0, 0, 0, 0, 2])
        let data = pattern(16)
        _ = frag(r.insert(rx.allocate(copying: ipv6Fragment(Array(data[0..<8]), offset: 0, more: true, dst: ll))!,
                          ingressDevice: 2, now: .zero, shard: shard), shard)
        #expect(frag(r.insert(rx.allocate(copying: ipv6Fragment(Array(data[8...]), offset: 8, more: false, dst: ll))!,
                              ingressDevice: 3, now: .zero, shard: shard), shard) == .incomplete)
        #expect(r.queueCount == 2)
        #expect(frag(r.insert(rx.allocate(copying: ipv6Fragment(Array(data[8...]), offset: 8, more: false, dst: ll))!,
                              ingressDevice: 2, now: .zero, shard: shard), shard)
                == .complete(ipv6Bytes(firstNext: 17, payload: data, dst: ll)))
    }

    @Test func timeoutQuotesTheFirstFragment() {
        let shard = Shard(pool: rx)
        var r = IPv6Reassembly(pool: big)
        let first = ipv6Fragment(pattern(16), offset: 0, more: true)
        _ = frag(r.insert(rx.allocate(copying: first)!, now: .zero, shard: shard), shard)
        var batch = PacketBatch(capacity: 1)
        #expect(r.expire(now: Instant.zero + .seconds(30), shard: shard, timeExceeded: &batch) == 1)
        #expect(batch.popFirst()?.bytes == first)
        #expect(shard.counters[.ip6ReasmTimeout] == 1 && r.memoryUsed == 0)
    }
}
