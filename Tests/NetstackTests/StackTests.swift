import Testing
import NetWire
@testable import Netstack

/// Two namespaces joined by a veth, as `ip netns add a; ip link add v0 netns a type veth peer v1 netns b`.
func twoHosts(seed: UInt64 = 1) throws -> (Stack, NetworkNamespace, NetworkNamespace, NetDevice, NetDevice) {
    let stack = Stack(seed: seed)
    let a = try stack.addNamespace("a")
    let b = try stack.addNamespace("b")
    let v0 = try a.addLink(name: "v0", kind: .veth, peerName: "v1", peerNamespace: b)
    let v1 = try #require(b.device(named: "v1"))
    for (ns, d, addr) in [(a, v0, "10.0.0.1/24"), (b, v1, "10.0.0.2/24")] {
        ns.setUp(ns.loopback)
        ns.setUp(d)
        try ns.addAddress(InterfaceAddress(prefix: try #require(IPPrefix(addr))), to: d, now: .zero)
    }
    return (stack, a, b, v0, v1)
}

/// Steps the stack until idle or `limit` virtual time.
func settle(_ stack: Stack, from start: Instant = .zero, limit: TimeDelta = .seconds(10)) {
    var now = start
    var rounds = 0
    stack.poll(now: now)
    while let d = stack.nextDeadline, d <= start + limit, rounds < 100_000 {
        now = max(now, d)
        stack.poll(now: now)
        rounds += 1
    }
}

@Suite struct StackTests {
    @Test func vethPairAcrossNamespaces() throws {
        let (stack, a, b, v0, v1) = try twoHosts()
        defer { withExtendedLifetime(stack) {} }
        #expect(v0.peer === v1)
        #expect(v0.flags.contains(.lowerUp))
        #expect(v0.operState == .up)
        #expect(a.devices.map(\.name) == ["lo", "v0"])
        #expect(b.devices.map(\.name) == ["lo", "v1"])
        b.setDown(v1)
        #expect(!v0.flags.contains(.lowerUp))
        #expect(v0.operState == .down)
    }

    @Test func pingAcrossVeth() throws {
        let (stack, a, _, v0, v1) = try twoHosts()
        let s = a.pingSocket()
        try s.sendEcho(to: .v4(IPv4Address(10, 0, 0, 2)), sequence: 1, dataLength: 56)
        settle(stack)
        let r = try #require(s.takeReply())
        #expect(r.from == .v4(IPv4Address(10, 0, 0, 2)))
        #expect(r.sequence == 1)
        #expect(r.dataLength == 56)
        #expect(r.ttl == 64)
        #expect(v0.statistics.txPackets >= 1)
        #expect(v1.statistics.rxPackets >= 1)
    }

    @Test func pingLoopback() throws {
        let (stack, a, _, _, _) = try twoHosts()
        #expect(a.loopback.addresses.contains { $0.address == .v4(.loopback) })
        let s = a.pingSocket()
        try s.sendEcho(to: .v4(IPv4Address(127, 0, 0, 1)), sequence: 7, dataLength: 8)
        settle(stack)
        let r = try #require(s.takeReply())
        #expect(r.sequence == 7)
    }

    @Test func udpDatagramAndPortUnreachable() throws {
        let (stack, a, b, _, _) = try twoHosts()
        let server = b.udpSocket()
        try server.bind(nil, port: 9000)
        let client = a.udpSocket()
        try client.connect(.v4(IPv4Address(10, 0, 0, 2)), port: 9000)
        try client.send(Array("hello".utf8))
        settle(stack)
        let d = try #require(try server.receive())
        #expect(d.payload == Array("hello".utf8))
        #expect(d.source == .v4(IPv4Address(10, 0, 0, 1)))
        #expect(d.sourcePort == client.localPort)
        // No socket on 9001: ICMP port unreachable makes the connected socket's next call fail.
        let c2 = a.udpSocket()
        try c2.connect(.v4(IPv4Address(10, 0, 0, 2)), port: 9001)
        try c2.send([1])
        settle(stack)
        var failure: Errno? = nil
        do { _ = try c2.receive() } catch let e { failure = e }
        #expect(failure == .ECONNREFUSED)
        #expect(stack.shard.counters[.udpNoPorts] == 1)
        #expect(stack.shard.counters[drop: .noSocket] == 1)
    }

    @Test func malformedFramesAreDroppedWithReasons() throws {
        let (stack, _, b, _, v1) = try twoHosts()
        func inject(_ bytes: [UInt8]) {
            let p = stack.shard.pool.allocate(copying: bytes)!
            b.enqueueReceive(p, on: v1)
        }
        inject([1, 2, 3])                                     // runt
        var bad = [UInt8](repeating: 0, count: 14 + 20)
        for i in 0..<6 { bad[i] = UInt8(truncatingIfNeeded: v1.mac.rawValue >> (40 - 8 * UInt64(i))) }
        bad[12] = 0x08; bad[13] = 0x00
        bad[14] = 0x45; bad[17] = 20; bad[22] = 64; bad[23] = 17  // checksum left 0: bad
        inject(bad)
        stack.poll(now: .zero)
        #expect(stack.shard.counters[drop: .pktTooSmall] == 1)
        #expect(stack.shard.counters[drop: .ipCsum] == 1)
        #expect(stack.shard.pool.outstanding == 0)
    }

    /// ip_rcv_core's order decides the reason: header, checksum, then the
    /// total length against what arrived (IpExtInTruncatedPkts, not a header error).
    @Test func ipv4ReceiveChecksInKernelOrder() throws {
        let (stack, _, b, _, v1) = try twoHosts()
        func frame(total: UInt16, ihl: UInt8 = 5, ipBytes: Int = 20, fixChecksum: Bool) -> [UInt8] {
            var f = [UInt8](repeating: 0, count: 14 + ipBytes)
            for i in 0..<6 { f[i] = UInt8(truncatingIfNeeded: v1.mac.rawValue >> (40 - 8 * UInt64(i))) }
            f[12] = 0x08; f[13] = 0x00
            guard ipBytes >= 20 else { f[14] = 0x40 | ihl; return f }
            f[14] = 0x40 | ihl; f[16] = UInt8(total >> 8); f[17] = UInt8(total & 0xFF)
            f[22] = 64; f[23] = 17
            f[26] = 10; f[29] = 1; f[30] = 10; f[33] = 2
            if fixChecksum {
                var c = InternetChecksum()
                f.withUnsafeBytes { c.add(UnsafeRawBufferPointer(rebasing: $0[14..<34])) }
                f[24] = UInt8(c.value >> 8); f[25] = UInt8(c.value & 0xFF)
            }
            return f
        }
        func inject(_ bytes: [UInt8]) {
            b.enqueueReceive(stack.shard.pool.allocate(copying: bytes)!, on: v1)
            stack.poll(now: .zero)
        }
        inject(frame(total: 20, ipBytes: 10, fixChecksum: false))   // less than a header
        #expect(stack.shard.counters[drop: .ipInhdr] == 1)
        inject(frame(total: 200, fixChecksum: true))                // claims more than arrived
        #expect(stack.shard.counters[drop: .pktTooSmall] == 1)
        #expect(stack.shard.counters[.ipExtInTruncatedPkts] == 1)
        #expect(stack.shard.counters[.ipInHdrErrors] == 1)
        inject(frame(total: 200, fixChecksum: false))               // both: the checksum is checked first
        #expect(stack.shard.counters[drop: .ipCsum] == 1)
        #expect(stack.shard.counters[.ipExtInCsumErrors] == 1)
        #expect(stack.shard.counters[.ipInHdrErrors] == 2)
        inject(frame(total: 12, fixChecksum: true))                 // total length below the header
        #expect(stack.shard.counters[drop: .ipInhdr] == 2)
        #expect(stack.shard.pool.outstanding == 0)
    }
}
