import Testing
#if canImport(Glibc)
import Glibc
#endif
import MallocInterposerSwift
import NetWire
@testable import Netstack

/// Steady-state packet handling allocates nothing on the heap
/// (DESIGN.md §8.6). The interposer counts every malloc/calloc/realloc in
/// the process while hooked; the loop below moves packets the way the stack
/// does — pool → batch → parse with NetWire views → push/emit headers →
/// drop or recycle — and must show zero allocations over many iterations.
@Suite(.serialized) struct AllocationTests {
    static let frame: [UInt8] = {
        var f = [UInt8](repeating: 0, count: 14 + 20 + 8 + 18)
        f.withUnsafeMutableBytes { out in
            try! EthernetRepr(destination: MACAddress(2, 0, 0, 0, 0, 2), source: MACAddress(2, 0, 0, 0, 0, 1),
                              etherType: .ipv4).emit(into: out)
            try! IPv4Repr(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2), protocol: .udp,
                          payloadLength: 26).emit(into: UnsafeMutableRawBufferPointer(rebasing: out[14...]))
        }
        return f
    }()

    /// One round of the packet path; returns something derived from every
    /// packet so the optimiser cannot delete the work.
    static func movePackets(shard: Shard, batch: inout PacketBatch, ttlSum: inout Int) {
        for _ in 0..<32 {
            guard var p = shard.pool.allocate() else { return }
            Self.frame.withUnsafeBytes { p.append($0) }
            p.metadata.ingressDevice = 2
            if let rejected = batch.append(p) { shard.drop(rejected, reason: .fullRing, now: .zero) }
        }
        while var p = batch.popFirst() {
            let ok: Bool = p.withUnsafeReadableBytes { raw in
                guard let eth = try? EthernetFrame(raw), eth.etherType == .ipv4,
                      let ip = try? IPv4Packet(eth.payload), let repr = try? IPv4Repr.parse(ip) else { return false }
                ttlSum &+= Int(repr.ttl)
                return true
            }
            guard ok else { shard.drop(p, reason: .ipInhdr, now: .zero); continue }
            p.pull(14)
            p.resetNetworkHeader()
            // Forward-like rewrite: new Ethernet header in the headroom.
            let header = p.push(14)
            try? EthernetRepr(destination: .broadcast, source: MACAddress(2, 0, 0, 0, 0, 3), etherType: .ipv4)
                .emit(into: header)
            shard.counters.increment(.ipForwDatagrams)
            if p.count & 1 == 0 { shard.drop(p, reason: .notSpecified, now: .zero) }
        }
    }

    /// Allocations over 1,000 rounds of 32 packets, measured in a child
    /// process: the interposer counts process-wide, and other suites run in
    /// parallel in this one.
    static func countAllocations() -> Int {
        let shard = Shard(pool: PacketPool(slotSize: 2048, count: 256))
        var batch = PacketBatch(capacity: 64)
        var ttlSum = 0
        // Warm-up: first calls may allocate (lazy metadata, caches).
        for _ in 0..<10 { movePackets(shard: shard, batch: &batch, ttlSum: &ttlSum) }
        MallocInterposerSwift.initialize()
        MallocInterposerSwift.reset()
        MallocInterposerSwift.hook()
        for _ in 0..<1000 { movePackets(shard: shard, batch: &batch, ttlSum: &ttlSum) }
        MallocInterposerSwift.unhook()
        precondition(ttlSum == 1010 * 32 * 64 && shard.pool.outstanding == 0, "the loop did not move every packet")
        return MallocInterposerSwift.getStatistics().mallocCount
    }

    @Test func steadyStatePacketPathAllocatesNothing() async {
        await #expect(processExitsWith: .exitCode(0)) {
            let n = AllocationTests.countAllocations()
            if n != 0 { print("heap allocations over 32,000 packets: \(n)") }
            exit(n == 0 ? 0 : 1)
        }
    }

    /// The counter itself works: a known allocation is seen (so a zero above
    /// means zero, not a broken interposer).
    @Test func interposerSeesAllocations() {
        MallocInterposerSwift.initialize()
        MallocInterposerSwift.reset()
        MallocInterposerSwift.hook()
        let p = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 16)
        p.deallocate()
        var a: [Int] = []
        a.reserveCapacity(1000)
        MallocInterposerSwift.unhook()
        #expect(a.capacity >= 1000)
        #expect(MallocInterposerSwift.getStatistics().mallocCount >= 2)
    }
}
