// net.ipv4.tcp_tw_reuse: connect() taking over a 4-tuple held by TIME-WAIT
// (__inet_hash_connect → __inet_check_established → tcp_twsk_unique).
import Testing
import NetWire
@testable import Netstack

@Suite struct TCPTimeWaitReuseTests {
    /// Fills `from`'s two-port ephemeral range with TIME-WAITs towards
    /// `to`:80 (the client closes first each time); returns the TIME-WAIT
    /// connections.
    func fillWithTimeWait(_ w: SoakWorld, from: NetworkNamespace, to: IPAddress,
                          listenerIn server: NetworkNamespace) throws -> [TCPConnection] {
        from.config.localPortRange = 40_000...40_001
        let listener = server.tcpSocket()
        try listener.bind(nil, port: 80)
        try listener.listen()
        var tw: [TCPConnection] = []
        for i in 0..<2 {
            let c = from.tcpSocket()
            do { try c.connect(to, port: 80) } catch { #expect(error == .EINPROGRESS, "connect #\(i)") }
            var accepted: TCPSocket?
            w.run(for: .seconds(1)) {
                accepted = accepted ?? (try? listener.accept())
                return accepted != nil && c.isConnected
            }
            let s = try #require(accepted)
            let conn = try #require(c.connection)
            c.close()
            w.run(for: .milliseconds(50)) { s.readiness.contains(.readHangup) }
            s.close()
            w.run(for: .milliseconds(50))
            #expect(conn.state == .timeWait)
            tw.append(conn)
        }
        return tw
    }

    func connect(_ ns: NetworkNamespace, _ to: IPAddress) -> (TCPSocket, Errno?) {
        let c = ns.tcpSocket()
        do { try c.connect(to, port: 80) } catch { return (c, error == .EINPROGRESS ? nil : error) }
        return (c, nil)
    }

    /// tcp_tw_reuse = 1: not within tcp_tw_reuse_delay (1 s) of entering
    /// TIME-WAIT; after it, connect() takes the TIME-WAIT's 4-tuple, with
    /// an ISN of its snd_nxt + 65537, and the connection completes.
    @Test func reuseAfterOneSecond() throws {
        let w = try SoakWorld(seed: 3)
        w.a.tcp.twReuse = 1
        let tw = try fillWithTimeWait(w, from: w.a, to: SoakWorld.addressB, listenerIn: w.b)
        #expect(connect(w.a, SoakWorld.addressB).1 == .EADDRNOTAVAIL)
        w.run(for: .milliseconds(800))
        #expect(connect(w.a, SoakWorld.addressB).1 == .EADDRNOTAVAIL)
        w.run(for: .milliseconds(300))
        let recycledBefore = w.stack.shard.counters[.tcpExtTWRecycled]
        let (c, e) = connect(w.a, SoakWorld.addressB)
        #expect(e == nil)
        let conn = try #require(c.connection)
        let old = try #require(tw.first { $0.local.port == c.localPort })
        #expect(conn.iss == old.sndNxt + 65_537)
        #expect(old.state == .timeWait)   // the TCB itself is just dropped from the tables
        #expect(w.a.tcp.established[TCPFlowKey(local: conn.local, remote: conn.remote)]?.connection === conn)
        #expect(w.stack.shard.counters[.tcpExtTWRecycled] == recycledBefore + 1)
        w.run(for: .seconds(1)) { c.isConnected }
        #expect(c.isConnected)
        // The other port's TIME-WAIT is reusable too; then the range is spent.
        let (c2, e2) = connect(w.a, SoakWorld.addressB)
        #expect(e2 == nil)
        #expect(c2.localPort != c.localPort)
        #expect(connect(w.a, SoakWorld.addressB).1 == .EADDRNOTAVAIL)
    }

    /// tcp_tw_reuse = 0: the range stays spent for the whole TIME-WAIT.
    @Test func noReuseWhenOff() throws {
        let w = try SoakWorld(seed: 4)
        w.a.tcp.twReuse = 0
        _ = try fillWithTimeWait(w, from: w.a, to: SoakWorld.addressB, listenerIn: w.b)
        w.run(for: .seconds(2))
        #expect(connect(w.a, SoakWorld.addressB).1 == .EADDRNOTAVAIL)
        w.run(for: .seconds(30))
        #expect(connect(w.a, SoakWorld.addressB).1 == .EADDRNOTAVAIL)
    }

    /// Without timestamps PAWS cannot tell the incarnations apart: no reuse.
    @Test func noReuseWithoutTimestamps() throws {
        let w = try SoakWorld(seed: 5)
        w.a.tcp.twReuse = 1
        w.a.tcp.configuration.timestamps = false
        _ = try fillWithTimeWait(w, from: w.a, to: SoakWorld.addressB, listenerIn: w.b)
        w.run(for: .seconds(2))
        #expect(connect(w.a, SoakWorld.addressB).1 == .EADDRNOTAVAIL)
    }

    /// tcp_tw_reuse = 2 (the default): only loopback connections — none
    /// over the veth, but 127.0.0.1 within one namespace.
    @Test func loopbackOnlyByDefault() throws {
        let w = try SoakWorld(seed: 6)
        #expect(w.a.tcp.twReuse == 2)
        _ = try fillWithTimeWait(w, from: w.a, to: SoakWorld.addressB, listenerIn: w.b)
        w.run(for: .seconds(2))
        #expect(connect(w.a, SoakWorld.addressB).1 == .EADDRNOTAVAIL)

        let lo = IPAddress.v4(.loopback)
        let v = try SoakWorld(seed: 7)
        _ = try fillWithTimeWait(v, from: v.a, to: lo, listenerIn: v.a)
        #expect(connect(v.a, lo).1 == .EADDRNOTAVAIL)
        v.run(for: .seconds(2))
        let (c, e) = connect(v.a, lo)
        #expect(e == nil)
        v.run(for: .seconds(1)) { c.isConnected }
        #expect(c.isConnected)
    }

    /// A connect() on an explicitly bound port takes over a TIME-WAIT of
    /// the same 4-tuple at once, whatever tcp_tw_reuse says
    /// (__inet_hash_connect checks a bound port with no twp).
    @Test func boundPortTakesOverTimeWait() throws {
        let w = try SoakWorld(seed: 8)
        w.a.tcp.twReuse = 0
        let tw = try fillWithTimeWait(w, from: w.a, to: SoakWorld.addressB, listenerIn: w.b)
        let c = w.a.tcpSocket()
        c.reuseAddress = true
        try c.bind(nil, port: tw[0].local.port)
        #expect(throws: Errno.EINPROGRESS) { try c.connect(SoakWorld.addressB, port: 80) }
        #expect(c.connection?.iss == tw[0].sndNxt + 65_537)
        w.run(for: .seconds(1)) { c.isConnected }
        #expect(c.isConnected)
    }
}
