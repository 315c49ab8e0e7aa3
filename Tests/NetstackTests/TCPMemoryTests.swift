// TCP memory: receive-buffer autotuning (tcp_rcv_space_adjust), SO_RCVBUF
// pinning it, the stack-wide tcp_mem account with its pressure states and
// PROTO_MEM drops, and pruning of the out-of-order queue beyond sk_rcvbuf
// (with the sender's SACK reneging recovery). Transfers go through two
// namespaces on a netem veth (SoakWorld) or, for segment-exact checks,
// between two bare connections.
import Testing
import NetWire
@testable import Netstack

/// One connection a → b moving `total` bytes of a pattern; the reader
/// checks every byte. `observe` runs after every poll (the receiving socket).
private struct MemoryTransfer {
    var received = 0
    var intact = true
    var sentHash = SoakFNV()
    var receivedHash = SoakFNV()
    var completed = false
}

private func transfer(_ w: SoakWorld, total: Int, seconds: Int64 = 120,
                      configureListener: (TCPSocket) -> Void = { _ in },
                      observe: (TCPSocket) -> Void = { _ in }) throws -> MemoryTransfer {
    let listener = w.b.tcpSocket()
    configureListener(listener)
    try listener.bind(nil, port: 5201)
    try listener.listen(backlog: 4)
    let client = w.a.tcpSocket()
    do { try client.connect(SoakWorld.addressB, port: 5201) } catch { #expect((error as Errno?) == .EINPROGRESS) }
    let pattern = SoakPattern(seed: 42)
    var out = MemoryTransfer()
    var sent = 0
    var server: TCPSocket?
    var buffer = [UInt8](repeating: 0, count: 65_536)
    var shut = false
    w.run(for: .seconds(seconds)) {
        if server == nil { server = try? listener.accept() }
        if client.isConnected {
            while sent < total {
                let n = pattern.withSlice(at: sent, count: min(total - sent, SoakPattern.maxSlice)) { slice -> Int in
                    guard let n = try? client.send(slice), n > 0 else { return 0 }
                    out.sentHash.add(UnsafeRawBufferPointer(rebasing: slice[0..<n]))
                    return n
                }
                if n == 0 { break }
                sent += n
            }
            if sent == total && !shut { try? client.shutdown(.write); shut = true }
        }
        guard let s = server else { return false }
        while true {
            let n = buffer.withUnsafeMutableBytes { (try? s.receive(into: $0)) ?? 0 }
            if n == 0 { break }
            buffer.withUnsafeBytes { raw in
                let got = UnsafeRawBufferPointer(rebasing: raw[0..<n])
                out.receivedHash.add(got)
                let ok = pattern.withSlice(at: out.received, count: n) { want in
                    want.count == n && memcmp(want.baseAddress!, got.baseAddress!, n) == 0
                }
                if !ok { out.intact = false }
            }
            out.received += n
        }
        observe(s)
        if out.received == total && s.readiness.contains(.readHangup) { out.completed = true; return true }
        return false
    }
    return out
}

#if canImport(Glibc)
import Glibc
#endif

@Suite struct TCPMemoryTests {
    static let rmem1 = 131_072

    /// Autotuning grows sk_rcvbuf over a 20 ms RTT path (`ss -m`'s rb and
    /// tcp_info's rcv_space follow), and never past tcp_rmem[2].
    @Test func autotuningGrowsTheReceiveBuffer() throws {
        let delay = SoakCase.netem(delayMs: 10)
        let w = try SoakWorld(seed: 7, forward: delay, reverse: delay)
        var maxRcvbuf = 0, maxRcvSpace = 0
        let total = 16 << 20
        let t = try transfer(w, total: total, observe: { s in
            maxRcvbuf = max(maxRcvbuf, s.memoryInfo.rcvbuf)
            maxRcvSpace = max(maxRcvSpace, s.info?.rcvSpace ?? 0)
        })
        #expect(t.completed && t.intact && t.received == total)
        #expect(t.sentHash.value == t.receivedHash.value)
        #expect(maxRcvbuf > 4 * Self.rmem1)
        #expect(maxRcvbuf <= TCPConfiguration().receiveBufferMax)
        #expect(maxRcvSpace > 10 * 1448)
        // With the receive window growing the bulk transfer is fast: 16 MiB
        // over 20 ms of RTT in well under 3 s of virtual time.
        #expect(w.now < Instant.zero + .seconds(3))
    }

    /// SO_RCVBUF (here on the listener, inherited by the child) doubles the
    /// request and pins it: no autotuning; tcp_moderate_rcvbuf = 0 likewise.
    @Test func userReceiveBufferPinsIt() throws {
        let delay = SoakCase.netem(delayMs: 10)
        let w = try SoakWorld(seed: 8, forward: delay, reverse: delay)
        var seen = Set<Int>()
        var locked = false
        let t = try transfer(w, total: 4 << 20, configureListener: { $0.receiveBufferRequest = 100_000 }, observe: { s in
            seen.insert(s.memoryInfo.rcvbuf)
            locked = s.connection?.rcvBufLocked ?? false
        })
        #expect(t.completed && t.intact)
        #expect(seen == [200_000])
        #expect(locked)

        let w2 = try SoakWorld(seed: 9, forward: delay, reverse: delay)
        w2.b.tcp.moderateRcvbuf = false
        var seen2 = Set<Int>()
        let t2 = try transfer(w2, total: 2 << 20, observe: { s in seen2.insert(s.memoryInfo.rcvbuf) })
        #expect(t2.completed && t2.intact)
        #expect(seen2 == [Self.rmem1])
    }

    /// A tiny tcp_mem (min 8, pressure 16, max 32 pages: 128 KiB for every
    /// socket of the stack): the transfer still arrives intact; receive
    /// data that needed memory was dropped as PROTO_MEM; the account never
    /// went past the limit by more than one forced step (a 64 KiB GSO
    /// packet into an empty ring, and the sender's tcp_wmem[0] step);
    /// pressure was entered, timed, and left once the rings drained.
    @Test func tinyTcpMemLimitsMemoryAndTheTransferCompletes() throws {
        let path = SoakCase.netem(delayMs: 5, loss: 1)
        let w = try SoakWorld(seed: 11, forward: path, reverse: SoakCase.netem(delayMs: 5))
        let m = w.a.tcpMemory
        #expect(m === w.b.tcpMemory && m === w.stack.initial.tcpMemory)
        m.limits = (minimum: 8, pressure: 16, maximum: 32)
        var sawPressure = false
        let total = 3 << 20
        let t = try transfer(w, total: total, observe: { _ in if m.underPressure { sawPressure = true } })
        #expect(t.completed && t.intact && t.received == total)
        #expect(t.sentHash.value == t.receivedHash.value)
        func c(_ m: MIBCounter) -> UInt64 { w.stack.shard.counters[m] }
        let protoMem = w.stack.shard.counters[drop: .protoMem]
        #expect(protoMem > 0)
        #expect(c(.tcpExtTCPRcvQDrop) + c(.tcpExtTCPOFODrop) == protoMem)
        #expect(m.peakBytes <= 32 * TCPMemory.pageSize + 65_536 + 4096)
        #expect(sawPressure)
        // The reader drained everything; the sender's ring went with its ACKs.
        w.run(for: .seconds(1))
        #expect(m.allocatedBytes == 0)
        #expect(!m.underPressure)
        #expect(c(.tcpExtTCPMemoryPressures) >= 1)
        #expect(c(.tcpExtTCPMemoryPressures) == UInt64(m.pressureEpisodes))
        #expect(c(.tcpExtTCPMemoryPressuresChrono) > 0)
    }

    /// The account follows the rings exactly: bytes charged are the sum of
    /// ring capacities, and closing everything returns it to zero.
    @Test func accountMatchesRingCapacities() throws {
        let w = try SoakWorld(seed: 12, forward: SoakCase.netem(delayMs: 2), reverse: SoakCase.netem(delayMs: 2))
        let m = w.a.tcpMemory
        var mismatches = 0
        var clientConn: TCPConnection?
        let t = try transfer(w, total: 1 << 20, observe: { s in
            if clientConn == nil { clientConn = w.a.tcp.established.values.first?.connection }
            guard let sc = s.connection, let cc = clientConn else { return }
            let held = sc.recvRing.capacity + sc.sendRing.capacity + cc.recvRing.capacity + cc.sendRing.capacity
            if held != m.allocatedBytes { mismatches += 1 }
        })
        #expect(t.completed && t.intact)
        #expect(mismatches == 0)
        #expect(m.peakBytes > 0)
    }

    /// Out-of-order data beyond sk_rcvbuf (the application shrank SO_RCVBUF
    /// after a larger window went out): the next segment prunes the far end
    /// of the out-of-order queue (PruneCalled, OfoPruned), the SACK state is
    /// reset so no block reports a pruned byte, in-order data is kept, and
    /// the sender — its SACKed head never acknowledged — reneges at the
    /// timeout (TCPSACKReneging) and resends: the stream arrives whole.
    @Test func outOfOrderBeyondReceiveBufferIsPrunedAndTheStreamCompletes() {
        let (c, s) = establishedPair()
        let mss = c.mss
        let data = (0..<(30 * mss)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        var now = ms(100)
        #expect(c.sendAll(data, now: now) == data.count)
        let flight = c.drain(now: now)
        #expect(flight.count == 10)   // the initial window
        // Segment 0 in order (left unread), 2, 4, 6, 8 out of order.
        s.feed(flight[0], now: now + .milliseconds(5))
        for i in stride(from: 2, to: 10, by: 2) { s.feed(flight[i], now: now + .milliseconds(5)) }
        #expect(s.outOfOrder.count == 4)
        var acks = s.drain(now: now + .milliseconds(5))
        #expect(acks.last?.options.sackBlocks.count == 3)   // 3 fit beside the timestamps
        // The application shrinks the buffer: 4 KiB asked, 8 KiB set; the
        // queue (segments 0…8: 9 × mss) is now far over it.
        s.setReceiveBuffer(4096)
        #expect(s.rcvBuf == 8192 && s.rcvBufLocked)
        // Segment 7 arrives: the queue is pruned from the far end (segment
        // 8 goes: only ranges after the new segment may), which is not
        // enough, so segment 7 itself is dropped for memory.
        let r = s.feed(flight[7], now: now + .milliseconds(6))
        #expect(r.dropReason == .protoMem)
        #expect(s.pendingCounters[.pruneCalled] == 1)
        #expect(s.pendingCounters[.ofoPruned] == 1)
        #expect(s.pendingCounters[.rcvPruned] == 1)
        #expect(s.pendingCounters[.ofoDrop] == 1)
        #expect(s.outOfOrder.last?.right == flight[7].seq)   // 8 is gone, 6 is held
        #expect(s.rcvNxt == flight[1].seq)                     // in-order data untouched
        #expect(s.readableBytes == mss)
        #expect(s.recentSacks.count == 0)                      // tcp_sack_reset
        // Segment 1 fills the first hole; the queue is still over the
        // buffer, so segment 6 goes too (it lies after segment 1): 0…2 in
        // order, 4 held, 3 and 5…9 missing.
        s.feed(flight[1], now: now + .milliseconds(7))
        #expect(s.pendingCounters[.pruneCalled] == 2 && s.pendingCounters[.ofoPruned] == 2)
        #expect(s.rcvNxt == flight[3].seq)
        #expect(s.outOfOrder.count == 1 && s.outOfOrder.last?.right == flight[5].seq)
        acks += s.drain(now: now + .milliseconds(7))
        // SACK tells the truth: no block covers a byte no longer held.
        for a in acks.suffix(1) {
            for k in 0..<a.options.sackBlocks.count {
                let b = a.options.sackBlocks[k]
                #expect(s.outOfOrder.contains { !(b.left < $0.left) && !($0.right < b.right) })
            }
        }
        // Run the two to the end: the receiver reads everything and keeps
        // its small locked buffer.
        for a in acks { c.feed(a, now: now + .milliseconds(10)) }
        now = now + .milliseconds(10)
        var got = s.readAll(now: now)
        for _ in 0..<5000 {
            let out = c.drain(now: now)
            for seg in out { s.feed(seg, now: now + .milliseconds(5)) }
            got += s.readAll(now: now + .milliseconds(5))
            let back = s.drain(now: now + .milliseconds(5))
            for a in back { c.feed(a, now: now + .milliseconds(10)) }
            now = now + .milliseconds(10)
            if got.count == data.count && c.sendQueueBytes == 0 { break }
            if out.isEmpty && back.isEmpty {
                let d = min(c.nextDeadline, s.nextDeadline)
                if d != .distantFuture && d > now { now = d }
                _ = c.timerFired(now: now)
                _ = s.timerFired(now: now)
            }
        }
        let same = got == data
        #expect(same)
        #expect(c.sendQueueBytes == 0)
        #expect(c.pendingCounters[.sackReneging] >= 1)
        #expect(c.scoreboardIsConsistent)
        #expect(s.rcvBuf == 8192)
    }

    /// Above tcp_mem[2] a sender gets its one forced step (tcp_wmem[0]),
    /// then EAGAIN and no POLLOUT; once memory is back, writes resume.
    @Test func sendsWaitAboveTheHardLimit() throws {
        let w = try SoakWorld(seed: 14, forward: SoakCase.netem(delayMs: 1), reverse: SoakCase.netem(delayMs: 1))
        let listener = w.b.tcpSocket()
        try listener.bind(nil, port: 5202)
        try listener.listen(backlog: 4)
        let client = w.a.tcpSocket()
        do { try client.connect(SoakWorld.addressB, port: 5202) } catch {}
        var server: TCPSocket?
        w.run(for: .seconds(1)) {
            if server == nil { server = try? listener.accept() }
            return server != nil && client.isConnected
        }
        #expect(server != nil && client.isConnected)
        let m = w.a.tcpMemory
        m.limits = (minimum: 0, pressure: 0, maximum: 0)
        let chunk = [UInt8](repeating: 7, count: 100_000)
        let first = try client.send(chunk)
        #expect(first == 4096)                 // the forced step of an empty queue
        #expect(m.underPressure)
        var again: Errno?
        do { _ = try client.send(chunk) } catch { again = error }
        #expect(again == .EAGAIN)
        #expect(!client.readiness.contains(.writable))
        // The peer reads, the ACKs free the ring; with the limits back, writes go on.
        m.limits = (minimum: 287_901, pressure: 383_868, maximum: 575_802)
        var got = 0
        w.run(for: .seconds(1)) {
            while let b = try? server?.receive(max: 65_536), !b.isEmpty { got += b.count }
            return got == 4096 && client.readiness.contains(.writable)
        }
        #expect(got == 4096)
        #expect(!m.underPressure)
        #expect(try client.send(chunk) > 4096)
    }

    /// Memory per idle connection does not grow: after a transfer the rings
    /// are freed and their capacity returned to the account.
    @Test func idleConnectionHoldsNoRingMemory() throws {
        let w = try SoakWorld(seed: 13, forward: SoakCase.netem(delayMs: 1), reverse: SoakCase.netem(delayMs: 1))
        let t = try transfer(w, total: 1 << 20)
        #expect(t.completed)
        w.run(for: .seconds(1))
        #expect(w.a.tcpMemory.allocatedBytes == 0)
        for sock in w.b.tcp.established.values {
            if let c = sock.connection { #expect(!c.recvRing.isAllocated && !c.sendRing.isAllocated) }
        }
    }
}
