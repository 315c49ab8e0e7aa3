// TCP Small Queues (Transport/TCP/TCPSmallQueues.swift, tcpSmallQueueCheck
// in TCPSockets.swift): a bulk sender behind a slow qdisc keeps only its
// limit's worth in it, instead of its whole congestion window.
//
// The slow qdisc is netem with `slot 1ms 1ms packets 10` and no delay —
// at most 10 packets leave per millisecond (about 15 MB/s). Linux's netem
// orphans a packet at enqueue only when a delay, jitter or rate is set
// (skb_orphan_partial), so under a bare slot the packets stay charged to
// the socket, as under tbf or a slow NIC; with a delay they do not
// (`netemWithDelayDoesNotHoldTheSenderBack`).
import Testing
import NetWire
@testable import Netstack

@Suite struct TCPSmallQueueTests {
    static let pattern = SoakPattern(seed: 7)

    static func slotted(packets: Int32 = 10, limit: UInt32 = 1000, loss: Double = 0, delayMs: Double = 0) -> NetemOptions {
        var o = SoakCase.netem(delayMs: delayMs, loss: loss, limit: limit)
        var s = NetemSlot()
        s.minDelay = 1_000_000
        s.maxDelay = 1_000_000
        s.maxPackets = packets
        o.slot = s
        return o
    }

    struct Outcome {
        var sent = 0
        var received = 0
        var intact = false
        var failure: String?
        /// Largest qdisc backlog (bytes, packets) on the sender's device,
        /// and the largest charge of the sender's socket, seen after any poll.
        var maxBacklogBytes = 0
        var maxBacklogPackets = 0
        var maxQueued = 0
        var qdiscDrops: UInt32 = 0
        var retransmits = 0
        /// Bytes still charged to any socket once everything is over.
        var leftCharged = 0
        /// The sender's charge once the receiver saw the end of the stream
        /// (everything has left the qdisc: 0 unless a charge leaked).
        var chargedAtEnd = -1
        /// Packets in the qdisc when the client aborted.
        var queuedAtClose = 0
        var slotsBefore = 0
        var slotsAfter = 0
        var poolBefore = 0
        var poolAfter = 0
    }

    /// a → b, `total` bytes under `forward` on a's veth end; `setup` may
    /// change the world first. `closeAfter`: the client aborts (SO_LINGER 0)
    /// once that many bytes have arrived, with packets still queued.
    static func transfer(_ forward: NetemOptions, total: Int = 2_000_000, seed: UInt64 = 41,
                         closeAfter: Int? = nil, setup: (SoakWorld) -> Void = { _ in }) -> Outcome {
        var r = Outcome()
        guard let w = try? SoakWorld(seed: seed, forward: forward, reverse: nil) else {
            r.failure = "setup"
            return r
        }
        setup(w)
        let tsq = w.stack.shard.smallQueues
        r.poolBefore = w.poolAvailable
        r.slotsBefore = tsq.allocatedSlots
        let listener = w.b.tcpSocket()
        let client = w.a.tcpSocket()
        do {
            try listener.bind(nil, port: 5001)
            try listener.listen(backlog: 4)
        } catch { r.failure = "listen \(error)"; return r }
        do { try client.connect(SoakWorld.addressB, port: 5001) } catch {
            if error != .EINPROGRESS { r.failure = "connect \(error)"; return r }
        }
        var server: TCPSocket?
        var sentHash = SoakFNV(), receivedHash = SoakFNV()
        var shut = false, eof = false, aborted = false
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var lastProgress = w.now
        let done = w.run(until: .distantFuture) {
            r.maxBacklogBytes = max(r.maxBacklogBytes, w.va.qdisc.backlogBytes)
            r.maxBacklogPackets = max(r.maxBacklogPackets, w.va.qdisc.count)
            if !aborted { r.maxQueued = max(r.maxQueued, client.memoryInfo.wmemAlloc) }
            if server == nil { server = try? listener.accept() }
            if client.isConnected && !aborted {
                while r.sent < total {
                    let took: Int = pattern.withSlice(at: r.sent, count: total - r.sent) { slice in
                        guard let n = try? client.send(slice), n > 0 else { return 0 }
                        sentHash.add(UnsafeRawBufferPointer(rebasing: slice[0..<n]))
                        return n
                    }
                    if took == 0 { break }
                    r.sent += took
                }
                if r.sent == total && !shut { try? client.shutdown(.write); shut = true }
            }
            if let s = server {
                while !eof {
                    let n: Int? = buffer.withUnsafeMutableBytes { b in
                        guard let n = try? s.receive(into: b) else { return nil }
                        receivedHash.add(UnsafeRawBufferPointer(rebasing: b[0..<n]))
                        return n
                    }
                    guard let n else { break }
                    if n == 0 { eof = true } else { r.received += n; lastProgress = w.now }
                }
            }
            if let limit = closeAfter, !aborted, r.received >= limit {
                aborted = true
                r.queuedAtClose = w.va.qdisc.count
                r.retransmits = client.connection?.totalRetransmits ?? 0
                client.linger = 0
                client.close()
                return true
            }
            if w.now - lastProgress > .seconds(60) { r.failure = "stalled at \(r.received) of \(total)" }
            return eof || r.failure != nil
        }
        if !done && r.failure == nil { r.failure = "idle at \(r.received) of \(total)" }
        if !aborted {
            r.retransmits = client.connection?.totalRetransmits ?? 0
            r.chargedAtEnd = client.memoryInfo.wmemAlloc
        }
        r.intact = r.received == total && r.sent == total && receivedHash.value == sentHash.value
        r.qdiscDrops = w.va.qdisc.stats.drops
        server?.close()
        if !aborted { client.close() }
        listener.close()
        w.run(for: .seconds(200))
        r.leftCharged = tsq.totalBytes
        r.slotsAfter = tsq.allocatedSlots
        r.poolAfter = w.poolAvailable
        return r
    }

    /// The largest packet TCP charges at once: a 64 KiB GSO packet.
    static let largestPacket = GSO.maximumLength

    @Test func bulkSenderKeepsTheSlowQdiscShort() {
        let with = Self.transfer(Self.slotted(limit: 300), total: 6_000_000)
        let without = Self.transfer(Self.slotted(limit: 300), total: 6_000_000) { w in
            w.stack.shard.smallQueues.isEnabled = false
        }
        // Without TSQ the whole window sits in netem and its 300-packet
        // limit drops; with it, a few GSO packets' worth.
        #expect(without.failure == nil, "\(without.failure ?? "")")
        #expect(without.intact)
        #expect(without.qdiscDrops > 0)
        #expect(without.maxBacklogPackets == 300)
        #expect(with.failure == nil, "\(with.failure ?? "")")
        #expect(with.intact)
        #expect(with.qdiscDrops == 0, "drops \(with.qdiscDrops)")
        #expect(with.retransmits == 0, "retransmits \(with.retransmits)")
        // max(2 × 64 KiB, pacing rate / 1024) at ~15 MB/s is 2 × 64 KiB, plus
        // the packet sent just under it.
        #expect(with.maxQueued <= 3 * Self.largestPacket, "queued \(with.maxQueued)")
        #expect(with.maxBacklogBytes <= 3 * Self.largestPacket, "backlog \(with.maxBacklogBytes)")
        #expect(with.maxBacklogPackets < 200, "backlog \(with.maxBacklogPackets) packets")
        #expect(with.leftCharged == 0)
        #expect(with.chargedAtEnd == 0)
        #expect(without.chargedAtEnd == 0)
        #expect(with.slotsAfter == with.slotsBefore)
        #expect(with.poolAfter == with.poolBefore)
        print("TSQ slot 10 pkt/ms: without — drops \(without.qdiscDrops), retransmits \(without.retransmits), "
              + "backlog max \(without.maxBacklogBytes) B / \(without.maxBacklogPackets) p, queued max \(without.maxQueued); "
              + "with — drops \(with.qdiscDrops), retransmits \(with.retransmits), "
              + "backlog max \(with.maxBacklogBytes) B / \(with.maxBacklogPackets) p, queued max \(with.maxQueued)")
    }

    @Test func limitFollowsTheSysctl() {
        let small = Self.transfer(Self.slotted()) { w in w.a.tcp.limitOutputBytes = 16_384 }
        let large = Self.transfer(Self.slotted())
        #expect(small.failure == nil && small.intact, "\(small.failure ?? "")")
        #expect(large.failure == nil && large.intact)
        // Held to the cap plus the one packet that went out under it.
        #expect(small.maxQueued <= 16_384 + Self.largestPacket, "queued \(small.maxQueued)")
        #expect(small.maxQueued < large.maxQueued, "\(small.maxQueued) vs \(large.maxQueued)")
        #expect(small.maxBacklogBytes < large.maxBacklogBytes)
        // Another namespace keeps its own value (per netns, as Linux).
        let w = try? SoakWorld(seed: 1)
        w?.a.tcp.limitOutputBytes = 1000
        #expect(w?.b.tcp.limitOutputBytes == 4 << 20)
    }

    @Test func netemWithDelayDoesNotHoldTheSenderBack() {
        // skb_orphan_partial at netem_enqueue: the charge goes at enqueue,
        // so the queue holds what the window lets out, TSQ or not.
        let r = Self.transfer(Self.slotted(packets: 1000, delayMs: 5), total: 1_000_000)
        #expect(r.failure == nil && r.intact, "\(r.failure ?? "")")
        // Only the SYN was ever charged, while it waited for ARP in the
        // neighbour queue (charged there, as in Linux).
        #expect(r.maxQueued <= 100, "queued \(r.maxQueued)")
        #expect(r.maxBacklogBytes > 3 * Self.largestPacket, "backlog \(r.maxBacklogBytes)")
    }

    @Test func qdiscDropsReleaseTheCharge() {
        // netem loss and a 20-packet limit drop packets TCP charged; if a
        // drop kept its charge the socket would stay throttled for good.
        let lossy = Self.transfer(Self.slotted(loss: 5))
        #expect(lossy.failure == nil && lossy.intact, "\(lossy.failure ?? "")")
        #expect(lossy.qdiscDrops > 0)
        #expect(lossy.leftCharged == 0)
        #expect(lossy.chargedAtEnd == 0)
        let tight = Self.transfer(Self.slotted(limit: 20))
        #expect(tight.failure == nil && tight.intact, "\(tight.failure ?? "")")
        #expect(tight.qdiscDrops > 0)
        #expect(tight.leftCharged == 0)
        #expect(tight.chargedAtEnd == 0)
        #expect(tight.poolAfter == tight.poolBefore)
    }

    @Test func closedSocketWithPacketsQueuedLeavesNoCharge() {
        // The client resets its connection mid-transfer while its packets
        // sit in the qdisc: they leave later under a freed (stale) owner id.
        let r = Self.transfer(Self.slotted(packets: 2), total: 4_000_000, closeAfter: 200_000)
        #expect(r.failure == nil, "\(r.failure ?? "")")
        #expect(r.queuedAtClose > 0)
        #expect(r.leftCharged == 0)
        #expect(r.slotsAfter == r.slotsBefore)
        #expect(r.poolAfter == r.poolBefore)
    }

    @Test func staleOwnerReleasesNothing() {
        let q = TCPSmallQueues()
        let a = q.allocate()
        q.charge(a, 1000)
        q.free(a)
        let b = q.allocate()
        #expect(a & 0xFF_FFFF == b & 0xFF_FFFF)   // the same slot, reused
        #expect(a != b)                           // under a new generation
        q.charge(b, 500)
        q.release(a, 1000)                        // a packet of the old socket leaves
        #expect(q.queuedBytes(b) == 500)
        #expect(q.queuedBytes(a) == 0)
        q.release(b, 500)
        #expect(q.totalBytes == 0)
        #expect(!q.hasReady)                      // b was not throttled
    }

    @Test func metadataKeepsItsSize() {
        // The two TSQ fields sit in what was padding.
        #expect(MemoryLayout<PacketMetadata>.size == 48)
    }
}
