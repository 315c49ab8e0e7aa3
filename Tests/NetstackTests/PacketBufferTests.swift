import Testing
import NetWire
@testable import Netstack

/// `#expect` takes copyable operands only: these look at a noncopyable
/// buffer (and consume it, returning it to its pool).
func isNil(_ p: consuming PacketBuffer?) -> Bool {
    switch consume p {
    case .none: return true
    case .some: return false
    }
}

func bytes(of p: consuming PacketBuffer?) -> [UInt8]? {
    switch consume p {
    case .none: return nil
    case .some(let b): return b.bytes
    }
}

@Suite struct PacketBufferTests {
    @Test func pushPullPutTrimKeepGeometry() {
        let pool = PacketPool(slotSize: 256, count: 4, defaultHeadroom: 64)
        var p = pool.allocate()!
        #expect(p.headroom == 64 && p.count == 0 && p.tailroom == 192)
        [UInt8](repeating: 0xAB, count: 100).withUnsafeBytes { p.append($0) }
        #expect(p.count == 100 && p.tailroom == 92)
        let h = p.push(14)
        h.initializeMemory(as: UInt8.self, repeating: 0xEE)
        #expect(p.count == 114 && p.headroom == 50)
        p.resetMACHeader()
        p.pull(14)
        p.resetNetworkHeader()
        #expect(p.macHeaderOffset == -14 && p.networkHeaderOffset == 0 && p.transportHeaderOffset == nil)
        p.trim(to: 60)
        #expect(p.count == 60)
        p.trim(to: 80) // longer than the data: no-op, as skb_trim
        #expect(p.count == 60)
        #expect(p.bytes == [UInt8](repeating: 0xAB, count: 60))
        #expect(p.withHeaderBytes(at: .mac) { Array($0.prefix(14)) } == [UInt8](repeating: 0xEE, count: 14))
    }

    @Test func poolRecyclesOnEveryPathAndReportsExhaustion() {
        let pool = PacketPool(slotSize: 128, count: 2, defaultHeadroom: 0)
        do {
            let a = pool.allocate()!
            let b = pool.allocate()!
            let r = isNil(pool.allocate())
            #expect(r)
            #expect(pool.failures == 1 && pool.outstanding == 2)
            _ = consume a
            #expect(pool.available == 1)
            _ = consume b
        }
        #expect(pool.available == 2)
        // A batch going out of scope returns what it holds.
        do {
            var batch = PacketBatch(capacity: 4)
            let first = isNil(batch.append(pool.allocate()!))
            let second = isNil(batch.append(pool.allocate()!))
            #expect(first && second)
            #expect(pool.available == 0)
        }
        #expect(pool.available == 2)
    }

    @Test func shareIsReadOnlyUntilUnshared() {
        let pool = PacketPool(slotSize: 128, count: 4, defaultHeadroom: 16)
        var p = pool.allocate(copying: [1, 2, 3, 4])!
        p.metadata.mark = 7
        var clone = p.share()
        #expect(p.isShared && clone.isShared && pool.outstanding == 1)
        #expect(clone.bytes == [1, 2, 3, 4] && clone.metadata.mark == 7)
        let unshared = clone.unshare(from: pool)
        #expect(unshared)
        #expect(!p.isShared && !clone.isShared && pool.outstanding == 2)
        clone.withUnsafeMutableReadableBytes { $0[0] = 9 }
        #expect(p.bytes == [1, 2, 3, 4] && clone.bytes == [9, 2, 3, 4])
        _ = consume clone
        _ = consume p
        #expect(pool.outstanding == 0)
    }

    @Test func copyNeedsRoomInTheTargetPool() {
        let big = PacketPool(slotSize: 512, count: 1)
        let small = PacketPool(slotSize: 256, count: 1)
        let p = big.allocate(copying: [1, 2, 3])!
        let r = isNil(p.copy(into: small))
        #expect(r) // slots too small for the geometry
        let q = PacketPool(slotSize: 512, count: 1)
        let c = p.copy(into: q)!
        #expect(c.bytes == [1, 2, 3] && c.headroom == p.headroom)
    }

    @Test func batchIsFIFOAndHandsBackWhenFull() {
        let pool = PacketPool(slotSize: 64, count: 8, defaultHeadroom: 0)
        var batch = PacketBatch(capacity: 3)
        for i in 0..<3 {
            let accepted = isNil(batch.append(pool.allocate(copying: [UInt8(i)])!))
            #expect(accepted)
        }
        let rejected = bytes(of: batch.append(pool.allocate(copying: [99])!))
        #expect(rejected == [99])
        // Wrap around the ring.
        let oldest = bytes(of: batch.popFirst())
        #expect(oldest == [0])
        let wrapped = isNil(batch.append(pool.allocate(copying: [3])!))
        #expect(wrapped)
        var seen: [UInt8] = []
        batch.drain { p in seen.append(p.bytes[0]) }
        #expect(seen == [1, 2, 3] && batch.isEmpty)
    }

    @Test func misuseTrapsWithTheOperationsName() async {
        await #expect(processExitsWith: .failure) {
            let pool = PacketPool(slotSize: 64, count: 1, defaultHeadroom: 8)
            var p = pool.allocate()!
            p.push(9) // past the headroom
        }
        await #expect(processExitsWith: .failure) {
            let pool = PacketPool(slotSize: 64, count: 1, defaultHeadroom: 8)
            var p = pool.allocate(copying: [1])!
            let q = p.share()
            p.put(1) // shared: must unshare first
            _ = consume q
        }
    }
}

@Suite struct DropAndCounterTests {
    @Test func dropCountsReasonTracesAndRecycles() {
        let shard = Shard(pool: PacketPool(slotSize: 64, count: 2, defaultHeadroom: 0))
        var p = shard.pool.allocate()!
        p.metadata.traceID = 42
        p.metadata.ingressDevice = 3
        shard.drop(p, reason: .ipCsum, now: Instant(nanoseconds: 5))
        shard.drop(shard.pool.allocate()!, reason: .ipCsum, now: .zero)
        #expect(shard.counters[drop: .ipCsum] == 2)
        #expect(shard.pool.outstanding == 0)
        #expect(shard.takeTraces() == [TraceRecord(time: Instant(nanoseconds: 5), traceID: 42, device: 3, event: .drop(.ipCsum))])
        var snap = CounterSnapshot()
        shard.counters.increment(.ipInReceives)
        shard.counters.accumulate(into: &snap)
        shard.counters.accumulate(into: &snap) // two shards' worth
        #expect(snap[.ipInReceives] == 2 && snap[drop: .ipCsum] == 4)
        #expect(snap.nonZeroDrops.map { $0.reason.linuxName } == ["IP_CSUM"])
    }

    @Test func namesAreLinuxs() {
        #expect(DropReason.notSpecified.linuxName == "NOT_SPECIFIED")
        #expect(DropReason(linuxName: "NEIGH_QUEUEFULL") == .neighQueuefull)
        #expect(DropReason.tcpRFC7323Paws.linuxName == "TCP_RFC7323_PAWS")
        #expect(MIBCounter.tcpExtTCPTimeouts.nstatName == "TcpExtTCPTimeouts")
        #expect(MIBCounter.ip6InTooBigErrors.nstatName == "Ip6InTooBigErrors")
        #expect(Set(DropReason.allCases.map(\.linuxName)).count == DropReason.allCases.count)
        #expect(Set(MIBCounter.allCases.map(\.nstatName)).count == MIBCounter.allCases.count)
    }
}
