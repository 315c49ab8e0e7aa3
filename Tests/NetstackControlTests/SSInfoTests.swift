// `ss -t -a -n -i -e -m` (and -o, -O) in the lab, field by field, and the
// tcp_info a socket reports (TCPSocket.info, TCPInfo.linuxBytes) after
// transfers, with and without loss. The expected shapes were taken from
// iproute2 6.1's ss against Linux 6.x in namespaces (see SS.swift).
import Netstack
import NetWire
@testable import NetstackControl
import Testing

@Suite("ss -tinem")
struct SSInfoTests {
    static func lab(_ body: String, seed: UInt64 = 7) -> (stdout: String, world: StackLabWorld) {
        let r = LabHosts.run(body, seed: seed)
        return (r.stdout, r.world)
    }

    /// The tcp_info keys in the order misc/ss.c tcp_stats_print() prints them.
    static let order = [
        "ts", "sack", "ecn", "ecnseen", "fastopen", "cubic", "reno", "wscale", "rto", "backoff", "rtt", "ato",
        "mss", "pmtu", "rcvmss", "advmss", "cwnd", "ssthresh", "bytes_sent", "bytes_retrans", "bytes_acked",
        "bytes_received", "segs_out", "segs_in", "data_segs_out", "data_segs_in", "send", "lastsnd", "lastrcv",
        "lastack", "pacing_rate", "delivery_rate", "delivered", "delivered_ce", "app_limited", "busy",
        "rwnd_limited", "sndbuf_limited", "unacked", "retrans", "lost", "sacked", "dsack_dups", "reordering",
        "reord_seen", "rcv_rtt", "rcv_space", "rcv_ssthresh", "notsent", "minrtt", "rcv_ooopack", "snd_wnd",
    ]

    /// A second (tab) line's fields: skmem, then `key:value` or `key value` pairs.
    struct InfoLine {
        var skmem: [String: Int] = [:]
        var keys: [String] = []
        var values: [String: String] = [:]
        func int(_ k: String) -> Int? { values[k].flatMap { Int($0) } }
    }

    static func parseInfo(_ line: Substring) throws -> InfoLine {
        #expect(line.hasPrefix("\t "))
        var r = InfoLine()
        var words = line.dropFirst(2).split(separator: " ")[...]
        if let first = words.first, first.hasPrefix("skmem:(") {
            words = words.dropFirst()
            let inner = first.dropFirst("skmem:(".count).dropLast()
            for part in inner.split(separator: ",") {
                let name = String(part.prefix { $0.isLetter })
                r.skmem[name] = Int(part.dropFirst(name.count))
            }
            #expect(inner.split(separator: ",").map { String($0.prefix { $0.isLetter }) }
                    == ["r", "rb", "t", "tb", "f", "w", "o", "bl", "d"])
        }
        while let w = words.popFirst() {
            if w == "send" || w == "pacing_rate" || w == "delivery_rate" {
                guard let v = words.popFirst() else { Issue.record("\(w) without a value"); break }
                #expect(v.hasSuffix("bps"))
                r.keys.append(String(w))
                r.values[String(w)] = String(v.dropLast(3))
            } else if let colon = w.firstIndex(of: ":") {
                let k = String(w[..<colon])
                r.keys.append(k)
                r.values[k] = String(w[w.index(after: colon)...])
            } else {
                r.keys.append(String(w))
                r.values[String(w)] = ""
            }
        }
        // Every key is one ss knows, in ss's order.
        let positions = r.keys.map { order.firstIndex(of: $0) }
        #expect(!positions.contains(nil), "unknown keys in \(r.keys)")
        let p = positions.compactMap { $0 }
        #expect(p == p.sorted(), "out of order: \(r.keys)")
        return r
    }

    /// The lines of one socket: its row and its tab line.
    static func socket(_ out: String, _ prefix: String) throws -> (row: Substring, info: Substring) {
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
        let i = try #require(lines.firstIndex { $0.hasPrefix(prefix) }, "no \(prefix) in\n\(out)")
        return (lines[i], lines[i + 1])
    }

    @Test func establishedPairFieldByField() throws {
        let r = Self.lab("""
            ip netns exec a tc qdisc add dev e0 root netem delay 1ms
            ip netns exec b tc qdisc add dev e0 root netem delay 1ms
            ip netns exec b nc -l 9000 > /dev/null &
            sleep 1
            seq 1 2000 | ip netns exec a nc 10.0.0.2 9000 &
            sleep 1
            ip netns exec a ss -t -a -n -i -e -m
            ip netns exec b ss -tinem
            """)
        let out = r.stdout
        let client = try Self.socket(out, "ESTAB 0      0           10.0.0.1:")
        let server = try Self.socket(out, "ESTAB 0      0           10.0.0.2:9000")
        // -e: inode and cookie numbered per namespace, no uid for root, no shutdown yet.
        #expect(client.row.hasSuffix("10.0.0.2:9000 ino:1 sk:1 <->"))
        #expect(server.row.hasSuffix(" ino:2 sk:2 <->"))
        let c = try Self.parseInfo(client.info)
        let s = try Self.parseInfo(server.info)
        #expect(c.skmem == ["r": 0, "rb": 131_072, "t": 0, "tb": c.skmem["tb"] ?? -1, "f": 0, "w": 0, "o": 0,
                            "bl": 0, "d": 0])
        #expect((c.skmem["tb"] ?? 0) >= 16_384)
        // Negotiated options, MSS with timestamps, the initial window.
        #expect(Array(c.keys.prefix(4)) == ["ts", "sack", "cubic", "wscale"])
        #expect(c.values["wscale"] == "10,10" && s.values["wscale"] == "10,10")
        #expect(c.int("mss") == 1448 && c.int("advmss") == 1448 && c.int("pmtu") == 1500)
        #expect(c.int("rcvmss") == 536)          // no data received yet
        #expect(s.int("rcvmss") == 1448 && s.int("mss") == 1448)
        #expect((c.int("cwnd") ?? 0) >= 10 && s.int("cwnd") == 10)
        #expect(c.values["ato"] == nil && s.values["ato"] == "40")
        #expect(c.values["ssthresh"] == nil)      // still infinite
        #expect((Double(c.values["rto"] ?? "") ?? 0) >= 200)
        // What one side sent, the other received and acknowledged (the SYN counts one).
        let sent = try #require(c.int("bytes_sent"))
        #expect(sent == "\((1...2000).map(String.init).joined(separator: "\n"))\n".utf8.count)
        #expect(c.int("bytes_acked") == sent + 1)
        #expect(s.int("bytes_received") == sent)
        #expect(c.values["bytes_received"] == nil && s.values["bytes_acked"] == nil)
        // Segments: the server's child counts the SYN in, not its SYN-ACK out.
        #expect(s.int("segs_in") == c.int("segs_out"))
        #expect(c.int("segs_in") == (s.int("segs_out") ?? 0) + 1)
        #expect(s.int("data_segs_in") == c.int("data_segs_out"))
        #expect((c.int("data_segs_out") ?? 0) >= (sent + 1447) / 1448)
        // Rates: send = cwnd × mss × 8 / rtt; delivery from the samples.
        #expect((Int(c.values["send"] ?? "") ?? 0) > 0 && (Int(c.values["pacing_rate"] ?? "") ?? 0) > 0)
        #expect((Int(c.values["delivery_rate"] ?? "") ?? 0) > 0)
        #expect(c.int("delivered") == (c.int("data_segs_out") ?? 0) + 1)
        #expect(s.int("delivered") == 1 && s.values["delivery_rate"] == nil)
        #expect(c.values["app_limited"] == "" && s.values["app_limited"] == "")
        #expect(c.int("rcv_space") == 14_480 && s.int("rcv_space") == 14_480)
        #expect(c.int("snd_wnd") ?? 0 > 0 && c.values["unacked"] == nil && c.values["retrans"] == nil)
        #expect((990...1000).contains(c.int("lastsnd") ?? 0), "lastsnd \(c.values["lastsnd"] ?? "")")
    }

    @Test func listenerAndTimeWaitAndTimers() throws {
        let r = Self.lab("""
            ip netns exec b nc -l 9000 > /dev/null &
            sleep 1
            ip netns exec b ss -ltie
            echo hello | ip netns exec a nc -N -p 40001 10.0.0.2 9000
            sleep 1
            ip netns exec a ss -tinem -a
            ip netns exec a ss -to state time-wait
            ip netns exec a ss -tiemO -a
            """)
        #expect(r.stdout.hasPrefix("""
            State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess
            LISTEN 0      1            0.0.0.0:9000      0.0.0.0:*    ino:1 sk:1 <->
            \t cubic cwnd:10
            State     Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess
            TIME-WAIT 0      0           10.0.0.1:40001     10.0.0.2:9000 timer:(timewait,59sec,0) ino:0 sk:1
            \t
            Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess
            0      0           10.0.0.1:40001     10.0.0.2:9000 timer:(timewait,59sec,0)
            State     Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess
            TIME-WAIT 0      0           10.0.0.1:40001     10.0.0.2:9000 timer:(timewait,59sec,0) ino:0 sk:1

            """))
    }

    @Test func processColumnPadsToEveryRowButTheLast() throws {
        // ss measures a field when the next one starts: the last socket's
        // details never widen the Process column; the others' do.
        let r = Self.lab("""
            ip netns exec b nc -l 9000 > /dev/null &
            sleep 1
            seq 1 10 | ip netns exec a nc 10.0.0.2 9000 &
            sleep 1
            ip netns exec b ss -tiem -a
            """)
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let header = lines[0]
        let processStart = try #require(header.utf8.firstRange(of: "Process".utf8)).lowerBound
        let start = header.utf8.distance(from: header.utf8.startIndex, to: processStart)
        // The header is as wide as the listener's details ("\n\t" included).
        let listenerDetails = lines[1].utf8.count - start + 1 + lines[2].utf8.count
        #expect(header.utf8.count == start + listenerDetails)
        #expect(lines[1].hasPrefix("LISTEN") && lines[3].hasPrefix("ESTAB"))
        #expect(!lines[4].hasSuffix(" "))          // the last socket is not padded
    }

    @Test func listenerCountsItsAcceptQueue() throws {
        let r = Self.lab("")
        let a = try #require(r.world.stack.namespace(named: "a"))
        let b = try #require(r.world.stack.namespace(named: "b"))
        let l = b.tcpSocket()
        try l.bind(nil, port: 7000)
        try l.listen(backlog: 5)
        let c = a.tcpSocket()
        Self.connect(c)
        r.world.advance(until: r.world.now + .milliseconds(10))
        let info = try #require(l.info)
        #expect(info.isListener && info.unacked == 1 && info.sacked == 5 && info.sndCwnd == 10)
        let bytes = info.linuxBytes
        #expect(bytes[0] == 10 && bytes[80] == 10 && bytes[88] == 3 && bytes[24] == 1 && bytes[28] == 5)
        #expect(bytes[76..<80].allSatisfy { $0 == 0 } && bytes[148..<152].allSatisfy { $0 == 0 })
        let out = SocketStatistics.run(["ss", "-ltni"], namespace: b).stdout
        #expect(out.hasSuffix("\t cubic cwnd:10 unacked:1\n"))
    }

    // MARK: TCPInfo from the socket

    static func connect(_ c: TCPSocket) {
        do {
            try c.connect(.v4(IPv4Address(10, 0, 0, 2)), port: 7000)
            Issue.record("connect returned without EINPROGRESS")
        } catch {
            #expect(error == .EINPROGRESS)
        }
    }

    /// A connection from a to b with `bytes` written, run until idle.
    static func transfer(bytes: Int, netem: String = "delay 1ms", seed: UInt64 = 7)
        throws -> (client: TCPSocket, server: TCPSocket, world: StackLabWorld) {
        let r = lab("""
            ip netns exec a tc qdisc add dev e0 root netem \(netem)
            ip netns exec b tc qdisc add dev e0 root netem delay 1ms

            """, seed: seed)
        let a = try #require(r.world.stack.namespace(named: "a"))
        let b = try #require(r.world.stack.namespace(named: "b"))
        let l = b.tcpSocket()
        try l.bind(nil, port: 7000)
        try l.listen()
        let c = a.tcpSocket()
        Self.connect(c)
        var server: TCPSocket?
        var written = 0
        var received = 0
        let payload = [UInt8](repeating: 0x5a, count: 16_384)
        for _ in 0..<100_000 {
            r.world.advance(until: r.world.now + .milliseconds(1))
            if server == nil { server = try l.accept() }
            if c.isConnected, written < bytes {
                let n = (try? c.send(Array(payload.prefix(min(payload.count, bytes - written))))) ?? 0
                written += n
            }
            if let s = server, let got = try? s.receive(max: 65_536) { received += got.count }
            if written == bytes, received == bytes, c.sendQueueBytes == 0 { break }
        }
        #expect(received == bytes)
        r.world.advance(until: r.world.now + .milliseconds(500))
        return (c, try #require(server), r.world)
    }

    @Test func infoAfterATransfer() throws {
        let t = try Self.transfer(bytes: 100_000)
        let ci = try #require(t.client.info)
        let si = try #require(t.server.info)
        #expect(ci.state == .established && !ci.isListener)
        #expect(ci.bytesSent == 100_000 && ci.bytesAcked == 100_001 && ci.bytesRetrans == 0)
        #expect(si.bytesReceived == 100_000 && si.bytesAcked == 0)
        #expect(ci.dataSegsOut >= (100_000 + 1447) / 1448 && si.dataSegsIn == ci.dataSegsOut)
        #expect(si.segsIn == ci.segsOut && ci.segsIn == si.segsOut + 1)
        #expect(ci.totalRetrans == 0 && ci.unacked == 0 && ci.notsentBytes == 0)
        #expect(ci.delivered == ci.dataSegsOut + 1)
        #expect(ci.deliveryRate > 0 && ci.pacingRate != nil)
        #expect(ci.lastDataSent >= .milliseconds(500) && ci.lastAckRecv >= .milliseconds(500))
        #expect(ci.sndMss == 1448 && ci.linuxAdvmss == 1448 && ci.pmtu == 1500)
        #expect(ci.timestamps && ci.sack && ci.sndWscale == 10 && ci.rcvWscale == 10)
        #expect(ci.busyTime > .zero)
        // The kernel's struct layout.
        let b = ci.linuxBytes
        func u32(_ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[o + $1]) << (8 * UInt32($1)) } }
        func u64(_ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[o + $1]) << (8 * UInt64($1)) } }
        #expect(b.count == 240)
        #expect(b[0] == 1 && b[5] == 1 | 2 | 4 && b[6] == 10 | 10 << 4)
        #expect(u32(8) == UInt32(ci.linuxRTO) && u32(16) == 1448 && u32(84) == 1448 && u32(88) == 3)
        #expect(u32(80) == UInt32(ci.sndCwnd) && u32(76) == 0x7fff_ffff)
        #expect(u64(120) == 100_001 && u64(200) == 100_000 && u32(136) == UInt32(ci.segsOut))
        #expect(u32(156) == UInt32(ci.dataSegsOut) && u32(192) == UInt32(ci.delivered))
        #expect(u32(68) == UInt32(ci.rtt.nanoseconds / 1000) && u32(44) == UInt32(ci.lastDataSent.nanoseconds / 1_000_000))
    }

    @Test func infoCountsRetransmissionsAfterLoss() throws {
        let t = try Self.transfer(bytes: 300_000, netem: "delay 5ms loss 5%")
        let ci = try #require(t.client.info)
        let si = try #require(t.server.info)
        #expect(ci.totalRetrans > 0)
        #expect(ci.bytesRetrans >= UInt64(ci.totalRetrans) && ci.bytesRetrans <= UInt64(ci.totalRetrans) * 1448)
        #expect(ci.bytesSent == 300_000 + ci.bytesRetrans)
        #expect(ci.bytesAcked == 300_001)
        #expect(si.bytesReceived == 300_000)
        #expect(si.rcvOoopack > 0)                        // holes behind the losses
        // Every data segment that never arrived was sent again.
        let lost = ci.dataSegsOut - si.dataSegsIn
        #expect(lost > 0 && lost <= ci.totalRetrans)
        // And ss shows it.
        let out = SocketStatistics.run(["ss", "-tin"], namespace: t.client.namespace).stdout
        #expect(out.contains(" bytes_retrans:\(ci.bytesRetrans) "))
        #expect(out.contains(" retrans:0/\(ci.totalRetrans) "))
        #expect(out.contains(" ssthresh:"))
    }

    @Test func chronographsWhenTheReceiverStallsAndTheBufferFills() throws {
        let r = Self.lab("""
            ip netns exec a tc qdisc add dev e0 root netem delay 1ms
            ip netns exec b tc qdisc add dev e0 root netem delay 1ms
            ip netns exec b sysctl -q -w net.ipv4.tcp_rmem="4096 65536 65536"

            """)
        let a = try #require(r.world.stack.namespace(named: "a"))
        let b = try #require(r.world.stack.namespace(named: "b"))
        let l = b.tcpSocket()
        try l.bind(nil, port: 7000)
        try l.listen()
        let c = a.tcpSocket()
        Self.connect(c)
        var server: TCPSocket?
        let chunk = [UInt8](repeating: 1, count: 65_536)
        var received = 0
        // 300 ms with the receiver not reading, then 300 ms reading.
        for step in 0..<600 {
            r.world.advance(until: r.world.now + .milliseconds(1))
            if server == nil { server = try l.accept() }
            if c.isConnected { _ = try? c.send(chunk) }
            if step >= 300, let s = server, let got = try? s.receive(max: 1 << 20) { received += got.count }
        }
        #expect(received > 0)
        let i = try #require(c.info)
        #expect(i.rwndLimited >= .milliseconds(100))
        #expect(i.sndbufLimited > .zero)
        #expect(i.busyTime >= i.rwndLimited + i.sndbufLimited && i.busyTime <= .milliseconds(600))
        let out = SocketStatistics.run(["ss", "-tin"], namespace: a).stdout
        let busy = i.busyTime.nanoseconds / 1_000_000
        let rwnd = i.rwndLimited.nanoseconds / 1_000_000
        #expect(out.contains(" busy:\(busy)ms rwnd_limited:\(rwnd)ms("))
        #expect(out.contains("%) sndbuf_limited:"))
        #expect(out.contains(" notsent:"))
    }

    // MARK: formatting helpers

    @Test func timerAndBandwidthFormatting() {
        #expect(SocketStatistics.msTimer(59_000) == "59sec")
        #expect(SocketStatistics.msTimer(60_000) == "1min")
        #expect(SocketStatistics.msTimer(90_500) == "1min30sec")
        #expect(SocketStatistics.msTimer(1_234) == "1.234ms")
        #expect(SocketStatistics.msTimer(200) == "200ms")
        #expect(SocketStatistics.msTimer(2) == "002ms")
        #expect(SocketStatistics.msTimer(12_345) == "12sec")
        #expect(SocketStatistics.bandwidth(4_923_200_000, numeric: true) == "4923200000")
        #expect(SocketStatistics.bandwidth(4_923_200_000, numeric: false) == "4.92G")
        #expect(SocketStatistics.bandwidth(78_600_000, numeric: false) == "78.6M")
        #expect(SocketStatistics.bandwidth(1_500, numeric: false) == "1.5k")
        #expect(SocketStatistics.bandwidth(999, numeric: false) == "999")
    }
}
