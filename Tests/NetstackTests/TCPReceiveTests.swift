// Receive-side transcripts: reassembly with SACK and D-SACK generation,
// the window closing when the application does not read and reopening
// (with a window update) when it does, IPv6, and the size of an idle TCB.
import Testing
import NetWire
@testable import Netstack
#if os(Linux)
/// glibc's malloc_usable_size (malloc.h is not in the Glibc module map).
@_silgen_name("malloc_usable_size") func mallocUsableSize(_ p: UnsafeMutableRawPointer?) -> Int
#endif

@Suite struct TCPReceiveTests {
    @Test func outOfOrderSegmentsAreSackedNewestFirstAndReassembled() {
        let (c, s) = establishedPair()
        let mss = c.mss
        let data = (0..<(6 * mss)).map { UInt8(truncatingIfNeeded: $0 * 7) }
        #expect(c.sendAll(data, now: ms(100)) == data.count)
        let flight = c.drain(now: ms(100))
        #expect(flight.count == 6)
        // Deliver 2, 4, 5 (holes at 1 and 3).
        s.feed(flight[1], now: ms(105))
        let a1 = s.drain(now: ms(105))
        s.feed(flight[3], now: ms(105))
        let a2 = s.drain(now: ms(105))
        s.feed(flight[4], now: ms(105))
        let a3 = s.drain(now: ms(105))
        #expect(a1.count == 1 && a2.count == 1 && a3.count == 1)
        #expect(a1[0].options.sackBlocks.count == 1)
        #expect(a2[0].options.sackBlocks.count == 2)
        #expect(a2[0].options.sackBlocks[0] == TCPSackBlock(left: flight[3].seq, right: flight[4].seq))
        #expect(a2[0].options.sackBlocks[1] == TCPSackBlock(left: flight[1].seq, right: flight[2].seq))
        #expect(a3[0].options.sackBlocks[0] == TCPSackBlock(left: flight[3].seq, right: flight[5].seq))
        #expect(s.readableBytes == 0)
        // A duplicate of 2: D-SACK first (RFC 2883), then the SACK blocks.
        s.feed(flight[1], now: ms(106))
        let dup = s.drain(now: ms(106))
        #expect(dup.count == 1)
        #expect(dup[0].options.sackBlocks[0] == TCPSackBlock(left: flight[1].seq, right: flight[2].seq))
        #expect(dup[0].options.sackBlocks.count == 3)   // D-SACK + two blocks beside timestamps
        // Fill the holes: everything becomes readable, in order.
        s.feed(flight[0], now: ms(107))
        s.feed(flight[2], now: ms(107))
        s.feed(flight[5], now: ms(107))
        let acks = s.drain(now: ms(107))
        #expect(acks.last?.ack == flight[5].seq + mss)
        #expect(acks.last?.options.sackBlocks.isEmpty == true)
        #expect(s.readAll(now: ms(108)) == data)
        // A segment wholly below the window (tcp_sequence's OLD_SEQUENCE):
        // D-SACK and an immediate duplicate ACK, as tcp_send_dupack does.
        let r = s.feed(flight[0], now: ms(109))
        #expect(r.dropReason == .tcpOldSequence)
        let old = s.drain(now: ms(109))
        #expect(old.count == 1 && old[0].options.sackBlocks[0] == TCPSackBlock(left: flight[0].seq, right: flight[1].seq))
    }

    @Test func windowClosesWhenNotReadAndReopensWithAnUpdate() {
        var small = TCPConfiguration()
        small.receiveBufferMax = 8192
        small.receiveBufferInitial = 16_384
        let (c, s) = establishedPair(server: small)
        #expect(s.rcvWscale == 0)
        let data = [UInt8](repeating: 0x5a, count: 20_000)
        #expect(c.sendAll(data, now: ms(100)) == 20_000)
        var now = ms(100)
        var lastWindow: UInt16 = .max
        for _ in 0..<20 {
            let out = c.drain(now: now)
            if out.isEmpty { break }
            for seg in out { s.feed(seg, now: now + .milliseconds(5)) }
            for a in s.drain(now: now + .milliseconds(5)) {
                lastWindow = a.window
                c.feed(a, now: now + .milliseconds(10))
            }
            now = now + .milliseconds(10)
        }
        #expect(lastWindow == 0)
        // Without window scaling the window is offered in whole segments:
        // 8192 bytes of buffer hold 5 × 1448; the rest is a silly window.
        #expect(s.readableBytes == 7240)
        #expect(c.sndWnd == 0)
        // A BSD-style window probe carrying one byte is dropped and ACKed.
        let probe = TCPRepr(sourcePort: 40_000, destinationPort: 80, sequenceNumber: s.rcvNxt,
                            acknowledgmentNumber: s.sndNxt, flags: .ack, windowSize: 500)
        let pr = s.feed(probe, payload: [0x5a], now: now)
        #expect(pr.dropReason == .tcpZerowindow)
        let probeAck = s.drain(now: now)
        #expect(probeAck.count == 1 && probeAck[0].window == 0 && probeAck[0].ack == s.rcvNxt)
        #expect(s.readableBytes == 7240)
        // The application reads: the window reopens and an update goes out at once.
        #expect(s.readAll(now: now).count == 7240)
        let update = s.drain(now: now)
        #expect(update.count == 1 && update[0].window > 0)
        c.feed(update[0], now: now + .milliseconds(5))
        #expect(c.drain(now: now + .milliseconds(5)).count >= 1)
    }

    @Test func ipv6HandshakeAndData() {
        let a = TCPEndpoint(.v6(IPv6Address(high: 0x2001_0db8_0000_0000, low: 1)), 50_000)
        let b = TCPEndpoint(.v6(IPv6Address(high: 0x2001_0db8_0000_0000, low: 2)), 443)
        var cfg = TCPConfiguration()
        cfg.advertisedMSS = 1440
        let client = TCPConnection(connectFrom: a, to: b, iss: TCPSeqNumber(42), configuration: cfg, now: .zero)
        let syn = client.drain(now: .zero)
        #expect(syn[0].options.maximumSegmentSize == 1440)
        let listener = TCPListener(configuration: cfg, secrets: tcpSecrets)
        guard case .accepted(let server) = syn[0].bytes.withUnsafeBytes({
            listener.receive(try! TCPSegment($0), local: b, remote: a, now: .zero)
        }) else { Issue.record("refused"); return }
        client.feed(server.drain(now: .zero)[0], now: ms(1))
        for seg in client.drain(now: ms(1)) { server.feed(seg, now: ms(2)) }
        #expect(client.state == .established && server.state == .established)
        #expect(client.mss == 1428)
        #expect(client.sendAll([1, 2, 3], now: ms(3)) == 3)
        for seg in client.drain(now: ms(3)) { server.feed(seg, now: ms(4)) }
        #expect(server.readAll(now: ms(4)) == [1, 2, 3])
    }

    @Test func isnFollowsRFC6528() {
        let t0 = tcpSecrets.initialSequenceNumber(local: tcpClient, remote: tcpServer, now: .zero)
        let t1 = tcpSecrets.initialSequenceNumber(local: tcpClient, remote: tcpServer, now: Instant.zero + .microseconds(64))
        // The clock part advances one per 64 ns.
        #expect(t1 - t0 == 1000)
        let other = TCPEndpoint(tcpClient.address, 40_001)
        let t2 = tcpSecrets.initialSequenceNumber(local: other, remote: tcpServer, now: .zero)
        #expect(t2 != t0)
        let otherKey = TCPSecrets(k0: 1, k1: 2, tsK0: 3, tsK1: 4)
        #expect(otherKey.initialSequenceNumber(local: tcpClient, remote: tcpServer, now: .zero) != t0)
    }

    #if os(Linux)
    @Test func idleEstablishedConnectionIsSmall() {
        let (c, s) = establishedPair()
        // Move some data so the rings are allocated, then drain them.
        #expect(c.sendAll([UInt8](repeating: 1, count: 40_000), now: ms(100)) == 40_000)
        var now = ms(100)
        for _ in 0..<50 {
            let out = c.drain(now: now)
            for seg in out { s.feed(seg, now: now + .milliseconds(5)) }
            _ = s.readAll(now: now + .milliseconds(5))
            let acks = s.drain(now: now + .milliseconds(5))
            for a in acks { c.feed(a, now: now + .milliseconds(10)) }
            now = now + .milliseconds(10)
            if out.isEmpty && acks.isEmpty && c.sendQueueBytes == 0 { break }
        }
        #expect(c.sendQueueBytes == 0 && s.readableBytes == 0)
        #expect(!c.sendRing.isAllocated && !s.recvRing.isAllocated && !c.recvRing.isAllocated)
        #expect(c.sent.records.capacity == 0 && s.outOfOrder.capacity == 0)
        let bytes = mallocUsableSize(Unmanaged.passUnretained(c).toOpaque())
        // 824 bytes with glibc: the configuration is a shared reference,
        // 32-bit fields sit together, small fields pad nothing, pending
        // counts are the stack's, out-of-order and congestion-episode
        // state are boxed and absent (TCPConnection.swift).
        #expect(bytes <= 824)
        #expect(bytes > 100)
    }
    #endif
}
