// TCP under stress through the whole stack (see TCPStressHarness.swift):
// transfers under netem loss/reordering/duplication/corruption/rate, a
// SYN flood beside legitimate clients, connection churn back to baseline,
// and ephemeral port exhaustion with TIME-WAIT. Sizes here are small for a
// debug build; Benchmarks/Sources/TCPSoak runs the same harness at
// ≥ 100 MB per case in release.
import Testing
import NetWire
@testable import Netstack

@Suite struct TCPStressTests {
    /// Bytes per transfer case (debug build: about 0.1–0.5 s each).
    static let transferBytes = 4 * 1024 * 1024
    static let pattern = SoakPattern(seed: 11)

    @Test(arguments: SoakCase.matrix.indices)
    func transferArrivesIntact(_ index: Int) {
        let c = SoakCase.matrix[index]
        let r = soakTransfer(c, bytes: Self.transferBytes, seed: UInt64(100 + index), pattern: Self.pattern)
        #expect(r.failure == nil, "\(c.name): \(r.failure ?? "")")
        #expect(r.sent == Self.transferBytes)
        #expect(r.received == Self.transferBytes, "\(c.name)")
        #expect(r.receivedHash == r.sentHash, "\(c.name)")
        // After both closed and TIME-WAIT passed: every pool slot back, no socket left.
        #expect(r.poolAfter == r.poolBefore, "\(c.name): pool \(r.poolAfter) of \(r.poolBefore)")
        #expect(r.socketsAfter.a == 0 && r.socketsAfter.b == 0, "\(c.name)")
        let lossy = (c.forward?.loss ?? 0) > 0 || (c.forward?.corrupt ?? 0) > 0
        if lossy { #expect(r.retransmits > 0, "\(c.name)") }
        if (c.forward?.corrupt ?? 0) > 0 { #expect(r.checksumErrors > 0, "\(c.name)") }
        // Nothing corrupts packets: not one may fail its checksum.
        if (c.forward?.corrupt ?? 0) == 0 && (c.reverse?.corrupt ?? 0) == 0 {
            #expect(r.checksumErrors == 0, "\(c.name): \(r.checksumErrors) checksum errors")
        }
    }

    @Test func hashesDifferWhenOneByteDiffers() {
        var x = SoakFNV(), y = SoakFNV()
        let p = Self.pattern
        p.withSlice(at: 5, count: 1000) { x.add($0) }
        var copy = p.withSlice(at: 5, count: 1000) { Array($0) }
        copy[500] ^= 0x10
        copy.withUnsafeBytes { y.add($0) }
        #expect(x.value != y.value)
        // Chunking does not matter.
        var z = SoakFNV()
        p.withSlice(at: 5, count: 300) { z.add($0) }
        p.withSlice(at: 305, count: 700) { z.add($0) }
        #expect(x.value == z.value)
    }

    /// A listener under 2,000 spoofed SYNs per virtual second (tcp_syncookies=1):
    /// the SYN queue fills with half-open children, every further SYN gets a
    /// cookie, and every legitimate client still connects and gets its
    /// request echoed back.
    @Test func synFloodStillAcceptsLegitimateClients() {
        let r = soakSynFlood(seed: 3, synsPerSecond: 2_000, duration: .seconds(3))
        #expect(r.spoofedSyns == 6_000)
        #expect(r.legitimate == 30)
        #expect(r.failed.isEmpty, "\(r.failed.prefix(5))")
        #expect(r.completed == r.legitimate)
        // The SYN queue was full (backlog 128) and cookies carried the rest.
        #expect(r.maxSynQueue == 128)
        #expect(r.cookiesSent > 5_000)
        #expect(r.cookiesReceived >= 1)
        // The flood's children time out (5 SYN-ACK retries, ~63 s): nothing left.
        #expect(r.poolAfter == r.poolBefore)
        #expect(r.socketsAfter.a == 0 && r.socketsAfter.b == 0)
    }

    /// Short connections (connect, 100-byte request, 100-byte answer, the
    /// server closes first): the server's TIME-WAIT entries pile up and are
    /// recycled by new SYNs from reused client ports; once TIME-WAIT has
    /// passed the pool and the tables are back at their baseline.
    @Test func connectionChurnReturnsToBaseline() {
        let r = soakChurn(cycles: 3_000, concurrency: 50, seed: 5)
        #expect(r.firstFailure == nil, "\(r.firstFailure ?? "")")
        #expect(r.cycles == 3_000)
        #expect(r.peakSockets.b > 100)     // TIME-WAIT entries held on the server
        #expect(r.poolAfter == r.poolBefore)
        #expect(r.socketsAfter.a == r.socketsBefore.a && r.socketsAfter.b == r.socketsBefore.b)
        #expect(r.socketsBefore.b == 1)    // the listener
    }

    /// ip_local_port_range of 10 ports: ten connections to one destination,
    /// each closed first by the client, hold all ten in TIME-WAIT; the next
    /// connect() fails with EADDRNOTAVAIL (__inet_hash_connect) and bind to
    /// port 0 with EADDRINUSE (inet_csk_get_port), as on Linux. After the
    /// 60 s of TIME-WAIT the ports are free again.
    @Test func ephemeralPortsRunOutAndComeBackAfterTimeWait() throws {
        let w = try SoakWorld(seed: 9)
        w.a.config.localPortRange = 40_000...40_009
        let listener = w.b.tcpSocket()
        try listener.bind(nil, port: 80)
        try listener.listen()
        var ports: Set<UInt16> = []
        for i in 0..<10 {
            let c = w.a.tcpSocket()
            do { try c.connect(SoakWorld.addressB, port: 80) } catch {
                #expect(error == .EINPROGRESS, "connect #\(i)")
            }
            var server: TCPSocket?
            w.run(for: .seconds(1)) {
                server = server ?? (try? listener.accept())
                return server != nil && c.isConnected
            }
            let s = try #require(server)
            ports.insert(c.localPort)
            c.close()                       // the client closes first: TIME-WAIT on a
            w.run(for: .milliseconds(50)) { s.readiness.contains(.readHangup) }
            s.close()
            w.run(for: .milliseconds(50))
        }
        #expect(ports.count == 10)
        #expect(ports.allSatisfy { (40_000...40_009).contains($0) })
        #expect(w.a.tcp.established.count == 10)
        #expect(w.a.tcp.established.values.allSatisfy { $0.state == .timeWait })
        #expect(w.b.tcp.established.isEmpty)

        let late = w.a.tcpSocket()
        #expect(throws: Errno.EADDRNOTAVAIL) { try late.connect(SoakWorld.addressB, port: 80) }
        #expect(throws: Errno.EADDRINUSE) { try w.a.tcpSocket().bind(nil, port: 0) }
        // Still exhausted 59 s on.
        w.run(for: .seconds(58))
        #expect(throws: Errno.EADDRNOTAVAIL) { try w.a.tcpSocket().connect(SoakWorld.addressB, port: 80) }
        // TIME-WAIT (60 s) over: every port is usable again.
        w.run(for: .seconds(3))
        #expect(w.a.tcp.established.isEmpty)
        var again: [TCPSocket] = []
        for _ in 0..<10 {
            let c = w.a.tcpSocket()
            #expect(throws: Errno.EINPROGRESS) { try c.connect(SoakWorld.addressB, port: 80) }
            again.append(c)
        }
        w.run(for: .seconds(1)) { again.allSatisfy { $0.isConnected } }
        let allConnected = again.allSatisfy { $0.isConnected }
        #expect(allConnected)
        #expect(Set(again.map(\.localPort)) == ports)
    }
}

@Suite struct TCPStressRegressionTests {
    /// tcpReleasePort copied the whole port bucket on every release (the
    /// dictionary still held the original), so with a listener's thousands
    /// of TIME-WAIT children on one port, churn went quadratic (30,000
    /// cycles: 19.7 s wall). The bucket must be edited in place.
    @Test func releasingAPortEditsTheBucketInPlace() throws {
        let w = try SoakWorld(seed: 1)
        let ns = w.b
        var held: [TCPSocket] = []
        for _ in 0..<64 {
            let s = ns.tcpSocket()
            s.reusePort = true
            try s.bind(nil, port: 80)
            held.append(s)
        }
        let before = ns.tcp.ports[80]!.owners.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        held[10].close()
        let after = ns.tcp.ports[80]!.owners.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        #expect(before == after)
        #expect(ns.tcp.ports[80]!.count == 63)
        #expect(!ns.tcp.ports[80]!.contains(held[10]))
        #expect(ns.tcp.ports[80]!.contains(held[11]))
        // Releases leave holes that are squeezed out; the rest keep their order.
        for k in stride(from: 0, to: 64, by: 2) where k != 10 { held[k].close() }
        held[1].close()
        let left = Array(ns.tcp.ports[80]!)
        let expected = held.indices.filter { $0 % 2 == 1 && $0 != 1 }.map { held[$0] }
        #expect(left.count == expected.count)
        #expect(zip(left, expected).allSatisfy { $0 === $1 })
        #expect(ns.tcp.ports[80]!.owners.count < 64)
        for s in left { #expect(ns.tcp.ports[80]!.contains(s)) }
        for s in held { s.close() }
        #expect(ns.tcp.ports[80] == nil)
    }
}

extension TCPStressRegressionTests {
    /// Once the announced window is the whole receive buffer, a segment
    /// waiting unread makes the offerable window smaller than the announced
    /// one, so __tcp_ack_snd_check never ACKs at once and every ACK waited
    /// for the delayed-ACK timer: a clean 10 ms path ran at 25 MB/s (RTT
    /// seen as ~50 ms) after the first 20 MB. tcp_cleanup_rbuf sends that
    /// held-back ACK when the application reads.
    @Test func readingSendsTheAckTheReceivePathHeldBack() {
        var sc = TCPConfiguration()
        sc.receiveBufferMax = 65_536
        let (client, server) = establishedPair(server: sc)
        var now = ms(100)
        let chunk = [UInt8](repeating: 0x61, count: 2 * 1448)
        // Grow the announced window to the buffer, reading everything.
        for _ in 0..<200 where server.rcvWnd < sc.receiveBufferMax || server.quickAcks > 0 {
            _ = client.sendAll(chunk, now: now)
            for s in client.drain(now: now) { server.feed(s, now: now) }
            _ = server.readAll(now: now)
            for s in server.drain(now: now) { client.feed(s, now: now) }
            now = now + .milliseconds(1)
        }
        #expect(server.rcvWnd == sc.receiveBufferMax)
        #expect(server.quickAcks == 0)
        // Two full segments arrive before the application reads: the
        // receive path withholds its ACK (the window would shrink).
        _ = client.sendAll(chunk, now: now)
        let data = client.drain(now: now)
        #expect(data.count == 2)
        for s in data { server.feed(s, now: now) }
        #expect(server.drain(now: now).isEmpty)
        // The read sends it, acknowledging both, long before the 40 ms timer.
        #expect(server.readAll(now: now).count == chunk.count)
        let acks = server.drain(now: now)
        #expect(acks.count == 1)
        #expect(acks.first?.ack == client.sndNxt)
    }
}
