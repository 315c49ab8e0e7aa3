import Testing
import NetWire
@testable import Netstack

/// Qdisc behaviour: seeded, so every figure below is reproducible.
@Suite struct SchedTests {
    static let device = QdiscDeviceInfo(txQueueLength: 1000, mtu: 1500)

    /// A packet of `size` bytes whose first four bytes carry `tag`.
    static func packet(_ pool: PacketPool, tag: Int, size: Int = 100, priority: UInt32 = 0) -> PacketBuffer {
        var bytes = [UInt8](repeating: 0xAA, count: size)
        bytes[0] = UInt8(truncatingIfNeeded: tag >> 24)
        bytes[1] = UInt8(truncatingIfNeeded: tag >> 16)
        bytes[2] = UInt8(truncatingIfNeeded: tag >> 8)
        bytes[3] = UInt8(truncatingIfNeeded: tag)
        var p = pool.allocate(copying: bytes)!
        p.metadata.priority = priority
        return p
    }

    static func tag(_ p: borrowing PacketBuffer) -> Int {
        p.withUnsafeReadableBytes { Int($0[0]) << 24 | Int($0[1]) << 16 | Int($0[2]) << 8 | Int($0[3]) }
    }

    static func netem(_ configure: (inout NetemOptions) -> Void, seed: UInt64 = 1) -> Qdisc {
        var o = NetemOptions()
        configure(&o)
        return Qdisc(.netem(o), handle: QdiscHandle(major: 0x8001), device: device, seed: seed)
    }

    /// Dequeues everything, stepping time to each deadline; returns (tag, time) in order.
    static func drain(_ q: inout Qdisc, from start: Instant = .zero, limit: Int = 1_000_000) -> [(Int, Instant)] {
        var out: [(Int, Instant)] = []
        var now = start
        for _ in 0..<limit {
            guard let d = q.nextDeadline else { break }
            if d > now { now = d }
            guard let p = q.dequeue(now: now) else { continue }
            out.append((tag(p), now))
        }
        return out
    }

    @Test func delayAndJitterStayInBoundsAndReorder() {
        let pool = PacketPool(count: 2048)
        var q = Self.netem { $0.latency = 100_000_000; $0.jitter = 10_000_000 }
        for i in 0..<1000 {
            let r = q.enqueue(Self.packet(pool, tag: i), now: .zero, pool: pool)
            let ok = r.isQueued
            #expect(ok)
        }
        let got = Self.drain(&q)
        #expect(got.count == 1000)
        #expect(got.allSatisfy { $0.1.nanoseconds >= 90_000_000 && $0.1.nanoseconds < 110_000_000 })
        // Uniform jitter spreads over the whole window and reorders.
        #expect(got.map(\.1).min()!.nanoseconds < 91_000_000)
        #expect(got.map(\.1).max()!.nanoseconds > 109_000_000)
        #expect(got.map(\.0) != Array(0..<1000))
        #expect(q.stats.packets == 1000 && q.stats.bytes == 100_000)
        #expect(q.count == 0)
    }

    @Test func nothingLeavesBeforeItsTime() {
        let pool = PacketPool(count: 16)
        var q = Self.netem { $0.latency = 5_000_000 }
        let r = q.enqueue(Self.packet(pool, tag: 1), now: Instant(nanoseconds: 1_000), pool: pool)
        let ok = r.isQueued
        #expect(ok)
        #expect(q.nextDeadline == Instant(nanoseconds: 5_001_000))
        let early = q.dequeue(now: Instant(nanoseconds: 5_000_999)) != nil
        #expect(!early)
        let onTime = q.dequeue(now: Instant(nanoseconds: 5_001_000)) != nil
        #expect(onTime)
    }

    @Test func randomLossIsNearItsProbability() {
        let pool = PacketPool(count: 64)
        let shard = Shard(pool: pool)
        var q = Self.netem { $0.loss = NetemOptions.probability(percent: 1) }
        var lost = 0
        for i in 0..<100_000 {
            switch q.enqueue(Self.packet(pool, tag: i), now: .zero, pool: pool) {
            case .queued:
                _ = q.dequeue(now: .zero)
            case .dropped(let p, let reason):
                #expect(reason == .qdiscDrop)
                shard.drop(p, reason: reason, now: .zero)
                lost += 1
            }
        }
        // Binomial(100000, 0.01): σ ≈ 31.5.
        #expect(abs(lost - 1000) < 130)
        #expect(q.stats.drops == UInt32(lost))
        #expect(q.stats.packets == UInt64(100_000 - lost))
        #expect(pool.outstanding == 0)
    }

    @Test func duplicatesAreExtraCopiesOfTheSameBytes() {
        let pool = PacketPool(count: 64)
        var q = Self.netem { $0.duplicate = NetemOptions.probability(percent: 10) }
        var out = 0
        var tags: [Int] = []
        for i in 0..<10_000 {
            let r = q.enqueue(Self.packet(pool, tag: i), now: .zero, pool: pool)
            let ok = r.isQueued
            #expect(ok)
            while let p = q.dequeue(now: .zero) {
                tags.append(Self.tag(p))
                out += 1
            }
        }
        let extra = out - 10_000
        #expect(abs(extra - 1000) < 130)   // σ = 30
        // Each duplicate follows its original's tag: no packet appears 3 times.
        var counts: [Int: Int] = [:]
        for t in tags { counts[t, default: 0] += 1 }
        #expect(counts.values.allSatisfy { $0 == 1 || $0 == 2 })
        #expect(counts.count == 10_000)
    }

    @Test func reorderSendsEveryGapthPacketAtOnce() {
        let pool = PacketPool(count: 64)
        // reorder 100% gap 5: packets 5, 10, 15 … skip the 10 ms delay.
        var q = Self.netem {
            $0.latency = 10_000_000
            $0.reorder = .max
            $0.gap = 5
        }
        for i in 1...20 {
            let r = q.enqueue(Self.packet(pool, tag: i), now: .zero, pool: pool)
            let ok = r.isQueued
            #expect(ok)
        }
        #expect(q.stats.requeues == 4)
        let got = Self.drain(&q)
        // Reordered packets go to the head of sch->q, so the latest comes first.
        #expect(got.prefix(4).map(\.0) == [20, 15, 10, 5])
        #expect(got.prefix(4).allSatisfy { $0.1 == .zero })
        #expect(got.dropFirst(4).map(\.0) == [1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14, 16, 17, 18, 19])
        #expect(got.dropFirst(4).allSatisfy { $0.1.nanoseconds == 10_000_000 })
    }

    @Test func corruptFlipsExactlyOneBitAndLeavesSharedCopiesAlone() {
        let pool = PacketPool(count: 64)
        var q = Self.netem { $0.corrupt = .max }
        for i in 0..<50 {
            let original = Self.packet(pool, tag: i, size: 200)
            let before = original.bytes
            let keep = original.share()
            let r = q.enqueue(original, now: .zero, pool: pool)
            let ok = r.isQueued
            #expect(ok)
            let sent = q.dequeue(now: .zero)!
            let after = sent.bytes
            var differingBits = 0
            for (a, b) in zip(before, after) { differingBits += (a ^ b).nonzeroBitCount }
            #expect(differingBits == 1)
            #expect(keep.bytes == before)   // the clone was unshared first
        }
    }

    @Test func rateSerialisesThousandBytePacketsAtOneMegabit() {
        let pool = PacketPool(count: 64)
        var q = Self.netem { $0.rate = 125_000 }  // 1 Mbit/s in bytes/s
        for i in 0..<5 {
            let r = q.enqueue(Self.packet(pool, tag: i, size: 1000), now: .zero, pool: pool)
            let ok = r.isQueued
            #expect(ok)
        }
        let got = Self.drain(&q)
        #expect(got.map(\.0) == [0, 1, 2, 3, 4])
        #expect(got.map(\.1.nanoseconds) == [8_000_000, 16_000_000, 24_000_000, 32_000_000, 40_000_000])
    }

    @Test func rateKeepsOrderDespiteJitter() {
        let pool = PacketPool(count: 256)
        var q = Self.netem {
            $0.latency = 10_000_000
            $0.jitter = 5_000_000
            $0.rate = 1_250_000
        }
        for i in 0..<200 {
            let r = q.enqueue(Self.packet(pool, tag: i, size: 500), now: Instant(nanoseconds: Int64(i) * 100_000),
                              pool: pool)
            let ok = r.isQueued
            #expect(ok)
        }
        let got = Self.drain(&q)
        #expect(got.map(\.0) == Array(0..<200))
    }

    @Test func limitDropsWithQdiscDrop() {
        let pool = PacketPool(count: 16)
        var q = Self.netem {
            $0.latency = 1_000_000
            $0.limit = 5
        }
        for i in 0..<5 {
            let r = q.enqueue(Self.packet(pool, tag: i), now: .zero, pool: pool)
            let ok = r.isQueued
            #expect(ok)
        }
        switch q.enqueue(Self.packet(pool, tag: 5), now: .zero, pool: pool) {
        case .queued:
            Issue.record("the sixth packet should not fit")
        case .dropped(let p, let reason):
            #expect(reason == .qdiscDrop)
            #expect(Self.tag(p) == 5)
        }
        #expect(q.stats.drops == 1 && q.stats.qlen == 5 && q.stats.backlog == 500)
    }

    @Test func pfifoFastServesBandsInPriorityOrder() {
        let pool = PacketPool(count: 32)
        var q = Qdisc.makeDefault(for: QdiscDeviceInfo(txQueueLength: 2))
        #expect(q.kind == .pfifoFast && q.handle == .none)
        // priority 1 → band 2, 0 → band 1, 6 → band 0 (TC_PRIO_INTERACTIVE).
        for (tag, prio) in [(1, UInt32(1)), (2, 0), (3, 6), (4, 0)] {
            let r = q.enqueue(Self.packet(pool, tag: tag, priority: prio), now: .zero, pool: pool)
            let ok = r.isQueued
            #expect(ok)
        }
        // Band 1 holds txqueuelen (2) packets: a third is dropped.
        switch q.enqueue(Self.packet(pool, tag: 5, priority: 0), now: .zero, pool: pool) {
        case .queued: Issue.record("band 1 should be full")
        case .dropped(_, let reason): #expect(reason == .qdiscDrop)
        }
        // …while band 0 still has room.
        let r = q.enqueue(Self.packet(pool, tag: 6, priority: 7), now: .zero, pool: pool)
        let ok = r.isQueued
        #expect(ok)
        var order: [Int] = []
        while let p = q.dequeue(now: .zero) { order.append(Self.tag(p)) }
        #expect(order == [3, 6, 2, 4, 1])
        #expect(q.stats.drops == 1 && q.stats.packets == 5 && q.stats.bytes == 500)
    }

    @Test func fifosEnforceTheirLimits() {
        let pool = PacketPool(count: 32)
        var p = Qdisc(.pfifo(limit: 2), handle: QdiscHandle(major: 0x8001), device: Self.device)
        var b = Qdisc(.bfifo(limit: 250), handle: QdiscHandle(major: 0x8002), device: Self.device)
        var accepted = (p: 0, b: 0)
        for i in 0..<4 {
            if p.enqueue(Self.packet(pool, tag: i), now: .zero, pool: pool).isQueued { accepted.p += 1 }
            if b.enqueue(Self.packet(pool, tag: i), now: .zero, pool: pool).isQueued { accepted.b += 1 }
        }
        #expect(accepted.p == 2 && accepted.b == 2)
        #expect(p.stats.drops == 2 && b.stats.drops == 2 && b.stats.backlog == 200)
    }

    @Test func noqueuePassesThroughWithoutStatistics() {
        let pool = PacketPool(count: 8)
        var q = Qdisc.makeDefault(for: QdiscDeviceInfo(noQueue: true))
        #expect(q.kind == .noqueue && q.bypassesQueue && q.refcount == 2)
        let r = q.enqueue(Self.packet(pool, tag: 9), now: .zero, pool: pool)
        let ok = r.isQueued
        #expect(ok)
        let p = q.dequeue(now: .zero)!
        let t = Self.tag(p)
        #expect(t == 9)
        #expect(q.stats == QdiscStats())
    }

    @Test func sameSeedSameSchedule() {
        func run(seed: UInt64) -> [Int64] {
            let pool = PacketPool(count: 128)
            var q = Self.netem({
                $0.latency = 20_000_000
                $0.jitter = 5_000_000
                $0.loss = NetemOptions.probability(percent: 10)
            }, seed: seed)
            for i in 0..<100 { _ = q.enqueue(Self.packet(pool, tag: i), now: .zero, pool: pool) }
            return Self.drain(&q).map { Int64($0.0) << 32 | $0.1.nanoseconds / 1000 }
        }
        #expect(run(seed: 7) == run(seed: 7))
        #expect(run(seed: 7) != run(seed: 8))
    }

    @Test func normalDistributionTableHasUnitSpread() {
        let t = NetemDistribution.normal.table!
        #expect(t.count == 4096)
        let mean = t.reduce(0.0) { $0 + Double($1) } / 4096
        let sd = (t.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / 4096).squareRoot()
        #expect(abs(mean) < 20)
        #expect(abs(sd - 8192) < 150)
        #expect(t == t.sorted())
        // Spot values of iproute2's normal.dist (first, middle, last).
        #expect(t[0] == -32768)
        #expect(abs(Int(t[1]) - (-28307)) <= 3)
        #expect(abs(Int(t[2048])) <= 3)
        let p = NetemDistribution.pareto.table!
        #expect(p.first! == -5461 && p.last! == 32767)
    }

    @Test func randomIsDeterministicAndBounded() {
        var a = Random(seed: 42)
        var b = Random(seed: 42)
        #expect((0..<10).map { _ in a.next() } == (0..<10).map { _ in b.next() })
        var r = Random(seed: 1)
        var seen = Set<UInt32>()
        for _ in 0..<10_000 {
            let v = r.below(7)
            #expect(v < 7)
            seen.insert(v)
        }
        #expect(seen.count == 7)
    }
}
