// TCP sockets end to end: two namespaces over a veth in virtual time,
// through the demux, the listener and accept queue, timers and ICMP.
import Testing
import NetWire
@testable import Netstack

/// Steps the stack for `span` of virtual time from its current instant
/// (or until idle), calling `body` after every poll; stops early when it
/// returns true.
@discardableResult
func tcpRun(_ stack: Stack, for span: TimeDelta = .seconds(5), until body: () -> Bool = { false }) -> Bool {
    let end = stack.now + span
    stack.poll(now: stack.now)
    if body() { return true }
    var rounds = 0
    while let d = stack.nextDeadline, d <= end, rounds < 1_000_000 {
        stack.poll(now: max(stack.now, d))
        rounds += 1
        if body() { return true }
    }
    stack.poll(now: end)
    return body()
}

private let addrA = IPAddress.v4(IPv4Address(10, 0, 0, 1))
private let addrB = IPAddress.v4(IPv4Address(10, 0, 0, 2))

/// connect() that expects EINPROGRESS.
func tcpStartConnect(_ s: TCPSocket, _ address: IPAddress, _ port: UInt16) throws {
    do {
        try s.connect(address, port: port)
        Issue.record("connect returned without EINPROGRESS")
    } catch {
        #expect((error as Errno?) == .EINPROGRESS)
    }
}

/// A listener on `server`:`port`, a client from `client` connected to
/// `address`, stepped until the connection is accepted: (client, accepted).
func tcpAcceptedPair(_ stack: Stack, client: NetworkNamespace, server: NetworkNamespace,
                     address: IPAddress, port: UInt16) throws -> (TCPSocket, TCPSocket) {
    let listener = server.tcpSocket(ipv6: address.isIPv6)
    try listener.bind(nil, port: port)
    try listener.listen(backlog: 8)
    let c = client.tcpSocket(ipv6: address.isIPv6)
    try tcpStartConnect(c, address, port)
    var accepted: TCPSocket?
    tcpRun(stack) {
        if accepted == nil { accepted = try? listener.accept() }
        return accepted != nil && c.isConnected
    }
    return (c, try #require(accepted))
}

/// An accepted pair (`tcpAcceptedPair`) after `count` bytes went client →
/// server; also returns how many the server read.
func tcpPairAfterTransfer(_ stack: Stack, client: NetworkNamespace, server: NetworkNamespace, address: IPAddress,
                          port: UInt16 = 5001, count: Int = 5000) throws -> (TCPSocket, TCPSocket, Int) {
    let (c, s) = try tcpAcceptedPair(stack, client: client, server: server, address: address, port: port)
    var sent = false
    var got = 0
    tcpRun(stack) {
        if !sent { sent = (try? c.send([UInt8](repeating: 0x5A, count: count))) != nil }
        while let chunk = try? s.receive(max: 65536), !chunk.isEmpty { got += chunk.count }
        return got == count
    }
    return (c, s, got)
}

@Suite struct TCPSocketTests {
    /// setsockopt on many sockets with the same result shares one
    /// configuration block (TCPNamespaceState.intern), in the sockets and
    /// in their connections; the option still applies to each.
    @Test func socketsWithEqualOptionsShareOneConfigurationBlock() throws {
        let (stack, a, b, _, _) = try twoHosts()
        defer { withExtendedLifetime(stack) {} }
        let (c1, s1) = try tcpAcceptedPair(stack, client: a, server: b, address: addrB, port: 5001)
        let (_, s2) = try tcpAcceptedPair(stack, client: a, server: b, address: addrB, port: 5002)
        s1.configuration.noDelay = true
        s2.configuration.noDelay = true
        #expect(s1.configuration.noDelay && s2.configuration.noDelay)
        #expect(s1.configuration.sharesStorage(with: s2.configuration))
        #expect(!s1.configuration.sharesStorage(with: c1.configuration))
        let k1 = try #require(s1.connection?.configuration)
        let k2 = try #require(s2.connection?.configuration)
        #expect(k1.noDelay && k2.noDelay)
        #expect(k1.sharesStorage(with: k2))
        #expect(c1.connection?.configuration.noDelay == false)
    }

    @Test func connectAcceptAndTransferOneMegabyte() throws {
        let (stack, a, b, _, _) = try twoHosts()
        let listener = b.tcpSocket()
        try listener.bind(nil, port: 5001)
        try listener.listen(backlog: 8)
        let client = a.tcpSocket()
        try tcpStartConnect(client, addrB, 5001)
        #expect(client.state == .synSent)
        #expect(!client.isConnected)
        var server: TCPSocket?
        tcpRun(stack) {
            if server == nil { server = try? listener.accept() }
            return server != nil && client.isConnected
        }
        let srv = try #require(server)
        #expect(client.isConnected)
        #expect(srv.state == .established)
        #expect(srv.remoteAddress == addrA)
        #expect(srv.remotePort == client.localPort)
        #expect(client.readiness.contains(.writable))

        // 1 MiB with a pattern, sent as buffer space allows, read as it comes.
        let total = 1 << 20
        let data = (0..<total).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 11) }
        var sent = 0
        var received: [UInt8] = []
        received.reserveCapacity(total)
        var finished = false
        tcpRun(stack, for: .seconds(60)) {
            while sent < total, let n = try? data[sent..<min(sent + 65536, total)].withUnsafeBytes({ try client.send($0) }), n > 0 {
                sent += n
            }
            if sent == total && !finished { try? client.shutdown(.write); finished = true }
            while let chunk = try? srv.receive(max: 65536), !chunk.isEmpty { received += chunk }
            return received.count == total && srv.readiness.contains(.readHangup)
        }
        #expect(received.count == total)
        #expect(received == data)
        // End of stream after the FIN.
        #expect(try srv.receive(max: 10) == [])
        #expect(srv.state == .closeWait)
        // The whole transfer took well under a second of virtual time on a lossless veth.
        #expect(stack.now < Instant.zero + .seconds(2))
    }

    @Test func closedPortIsRefused() throws {
        let (stack, a, _, _, _) = try twoHosts()
        let client = a.tcpSocket()
        try tcpStartConnect(client, addrB, 9)
        tcpRun(stack) { client.error != nil }
        #expect(client.error == .ECONNREFUSED)
        #expect(client.readiness.contains(.error))
        #expect(client.takeError() == .ECONNREFUSED)
        #expect(!client.isConnected)
        // The port goes back once the attempt failed.
        #expect(a.tcp.ports[client.localPort] == nil)
    }

    @Test func listenBacklogAndAcceptQueue() throws {
        let (stack, a, b, _, _) = try twoHosts()
        b.tcp.syncookies = 0
        let listener = b.tcpSocket()
        try listener.bind(.v4(IPv4Address(10, 0, 0, 2)), port: 80)
        try listener.listen(backlog: 1)
        #expect(listener.backlog == 1)
        var clients: [TCPSocket] = []
        for _ in 0..<4 {
            let c = a.tcpSocket()
            try tcpStartConnect(c, addrB, 80)
            clients.append(c)
            tcpRun(stack, for: .milliseconds(50))
        }
        // sk_acceptq_is_full is "more than the backlog": two fit, the rest wait in SYN-SENT.
        #expect(listener.acceptQueueLength == 2)
        #expect(clients.filter { $0.isConnected }.count == 2)
        #expect(clients.filter { $0.state == .synSent }.count == 2)
        let overflows = stack.shard.counters[.tcpExtListenOverflows]
        #expect(overflows >= 2)
        // accept() drains the queue; then EAGAIN (nil).
        #expect(try listener.accept() != nil)
        #expect(try listener.accept() != nil)
        #expect(try listener.accept() == nil)
        // The SYN retransmissions (1 s later) now find room.
        tcpRun(stack, for: .seconds(3)) { clients.allSatisfy { $0.isConnected } }
        #expect(clients.allSatisfy { $0.isConnected })
        // A somaxconn cap.
        let l2 = b.tcpSocket()
        try l2.listen(backlog: 1_000_000)
        #expect(l2.backlog == 4096)
        #expect(throws: Errno.EINVAL) { _ = try a.tcpSocket().accept() }
    }

    @Test func synCookiesWhenTheSynQueueOverflows() throws {
        let (stack, a, b, _, _) = try twoHosts()
        let listener = b.tcpSocket()
        try listener.bind(nil, port: 80)
        try listener.listen(backlog: 1)
        // Two SYNs at once: the second finds the SYN queue full and gets a cookie.
        let c1 = a.tcpSocket(), c2 = a.tcpSocket()
        try tcpStartConnect(c1, addrB, 80)
        try tcpStartConnect(c2, addrB, 80)
        tcpRun(stack, for: .milliseconds(100)) { c1.isConnected && c2.isConnected }
        #expect(c1.isConnected && c2.isConnected)
        #expect(stack.shard.counters[.tcpExtSyncookiesSent] == 1)
        #expect(stack.shard.counters[.tcpExtSyncookiesRecv] == 1)
        #expect(listener.acceptQueueLength == 2)
        // Data flows on the connection rebuilt from the cookie.
        let s1 = try #require(try listener.accept()), s2 = try #require(try listener.accept())
        let cookieSide = s1.remotePort == c2.localPort ? s1 : s2
        try c2.send(Array("cookie".utf8))
        tcpRun(stack, for: .milliseconds(100)) { cookieSide.receiveQueueBytes == 6 }
        #expect(try cookieSide.receive(max: 100) == Array("cookie".utf8))
    }

    @Test func addressInUse() throws {
        let (stack, _, b, _, _) = try twoHosts()
        defer { withExtendedLifetime(stack) {} }
        let s1 = b.tcpSocket()
        try s1.bind(nil, port: 7000)
        try s1.listen()
        let s2 = b.tcpSocket()
        #expect(throws: Errno.EADDRINUSE) { try s2.bind(.v4(IPv4Address(10, 0, 0, 2)), port: 7000) }
        // SO_REUSEADDR does not share a port with a listener.
        let s3 = b.tcpSocket()
        s3.reuseAddress = true
        s1.reuseAddress = true
        #expect(throws: Errno.EADDRINUSE) { try s3.bind(nil, port: 7000) }
        // SO_REUSEPORT on both does.
        let r1 = b.tcpSocket(), r2 = b.tcpSocket()
        r1.reusePort = true; r2.reusePort = true
        try r1.bind(nil, port: 7001)
        try r1.listen()
        try r2.bind(nil, port: 7001)
        // A dual-stack IPv6 wildcard meets IPv4 on the same port.
        let v6 = b.tcpSocket(ipv6: true)
        #expect(throws: Errno.EADDRINUSE) { try v6.bind(nil, port: 7000) }
        let v6only = b.tcpSocket(ipv6: true)
        v6only.v6Only = true
        try v6only.bind(nil, port: 7000)
        // A non-local address; closing frees the port.
        #expect(throws: Errno.EADDRNOTAVAIL) { try b.tcpSocket().bind(.v4(IPv4Address(10, 9, 9, 9)), port: 1) }
        s1.close()
        try s2.bind(.v4(IPv4Address(10, 0, 0, 2)), port: 7000)
        // Port 0 picks from ip_local_port_range.
        let e = b.tcpSocket()
        try e.bind(nil, port: 0)
        #expect(b.config.localPortRange.contains(e.localPort))
    }

    @Test func activeCloserHoldsTimeWait() throws {
        let (stack, a, b, _, _) = try twoHosts()
        let listener = b.tcpSocket()
        try listener.bind(nil, port: 9000)
        try listener.listen()
        let client = a.tcpSocket()
        try tcpStartConnect(client, addrB, 9000)
        var server: TCPSocket?
        tcpRun(stack) { server = server ?? (try? listener.accept()); return server != nil && client.isConnected }
        let srv = try #require(server)
        let port = client.localPort
        client.close()
        tcpRun(stack, for: .milliseconds(10)) { srv.readiness.contains(.readHangup) }
        #expect(try srv.receive(max: 10) == [])
        srv.close()
        tcpRun(stack, for: .seconds(1))
        // The active closer is in TIME-WAIT, still in the table and holding its port.
        let tw = a.tcp.established.values.first { $0.localPort == port }
        #expect(tw?.state == .timeWait)
        #expect(a.tcp.ports[port] != nil)
        #expect(b.tcp.established.values.allSatisfy { $0.state != .lastAck })
        // TIME-WAIT lasts 60 s, then the entry is gone.
        tcpRun(stack, for: .seconds(61))
        #expect(a.tcp.established.isEmpty)
        #expect(a.tcp.ports[port] == nil)
    }

    @Test func lingerZeroResets() throws {
        let (stack, a, b, _, _) = try twoHosts()
        let listener = b.tcpSocket()
        try listener.bind(nil, port: 9000)
        try listener.listen()
        let client = a.tcpSocket()
        try tcpStartConnect(client, addrB, 9000)
        var server: TCPSocket?
        tcpRun(stack) { server = server ?? (try? listener.accept()); return server != nil && client.isConnected }
        let srv = try #require(server)
        client.linger = 0
        client.close()
        tcpRun(stack, for: .milliseconds(10)) { srv.error != nil }
        #expect(srv.error == .ECONNRESET)
        #expect(throws: Errno.ECONNRESET) { _ = try srv.receive(max: 10) }
        #expect(a.tcp.established.isEmpty)
    }

    @Test func peekLeavesDataQueued() throws {
        let (stack, a, b, _, _) = try twoHosts()
        let listener = b.tcpSocket()
        try listener.bind(nil, port: 9000)
        try listener.listen()
        let client = a.tcpSocket()
        client.configuration.noDelay = true
        try tcpStartConnect(client, addrB, 9000)
        var server: TCPSocket?
        tcpRun(stack) { server = server ?? (try? listener.accept()); return server != nil && client.isConnected }
        let srv = try #require(server)
        #expect(throws: Errno.EAGAIN) { _ = try srv.receive(max: 10) }
        try client.send(Array("abc".utf8))
        tcpRun(stack, for: .milliseconds(10)) { srv.receiveQueueBytes == 3 }
        #expect(srv.readiness.contains(.readable))
        #expect(try srv.receive(max: 10, peek: true) == Array("abc".utf8))
        #expect(try srv.receive(max: 2) == Array("ab".utf8))
        #expect(try srv.receive(max: 10) == Array("c".utf8))
        try client.shutdown(.write)
        #expect(throws: Errno.EPIPE) { try client.send(Array("x".utf8)) }
    }

    @Test func ipv6ConnectAndEcho() throws {
        // a and b on either side of router r.
        let (stack, a, _, b) = try ipv6Router()
        let bAddr = IPAddress.v6(b2)
        let listener = b.tcpSocket(ipv6: true)
        try listener.bind(nil, port: 8080)
        try listener.listen()
        let client = a.tcpSocket(ipv6: true)
        try tcpStartConnect(client, bAddr, 8080)
        var server: TCPSocket?
        tcpRun(stack, for: .seconds(5)) { server = server ?? (try? listener.accept()); return server != nil && client.isConnected }
        let srv = try #require(server)
        try client.send(Array("over v6".utf8))
        tcpRun(stack, for: .milliseconds(100)) { srv.receiveQueueBytes == 7 }
        let got = try srv.receive(max: 100)
        try srv.send(got)
        tcpRun(stack, for: .milliseconds(100)) { client.receiveQueueBytes == 7 }
        #expect(try client.receive(max: 100) == Array("over v6".utf8))
        #expect(srv.remoteAddress?.isIPv6 == true)
        // A closed IPv6 port is refused too.
        let c2 = a.tcpSocket(ipv6: true)
        try tcpStartConnect(c2, bAddr, 1)
        tcpRun(stack, for: .seconds(1)) { c2.error != nil }
        #expect(c2.error == .ECONNREFUSED)
    }

    @Test func loopbackConnection() throws {
        let (stack, a, _, _, _) = try twoHosts()
        let listener = a.tcpSocket()
        try listener.bind(.v4(.loopback), port: 631)
        try listener.listen()
        let client = a.tcpSocket()
        try tcpStartConnect(client, .v4(.loopback), 631)
        var server: TCPSocket?
        tcpRun(stack) { server = server ?? (try? listener.accept()); return server != nil && client.isConnected }
        #expect(server?.localAddress == .v4(.loopback))
        #expect(client.localAddress == nil || client.connection?.local.address == .v4(.loopback))
    }

    @Test func badChecksumIsCounted() throws {
        let (stack, _, b, _, v1) = try twoHosts()
        let before = stack.shard.counters[.tcpInCsumErrors]
        // A SYN to 10.0.0.2:80 with a wrong checksum, handed to local delivery.
        var seg = [UInt8](repeating: 0, count: 20)
        seg[0] = 0x30; seg[1] = 0x39; seg[3] = 80; seg[12] = 0x50; seg[13] = 0x02; seg[14] = 0xFF
        seg[16] = 0xDE; seg[17] = 0xAD
        guard let p = stack.shard.pool.allocate(copying: seg) else { Issue.record("pool empty"); return }
        b.tcpReceive(p, source: addrA, destination: addrB, on: v1)
        #expect(stack.shard.counters[.tcpInCsumErrors] == before + 1)
        #expect(stack.shard.counters[.tcpOutRsts] == 0)
    }
}
