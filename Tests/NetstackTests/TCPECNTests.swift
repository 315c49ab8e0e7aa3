// ECN (RFC 3168 as Linux does it): segment transcripts of the handshake,
// the ECT(0) marking of new data, CE → ECE until CWR, and the sender's one
// window reduction per window of data. Flag choices checked against Linux
// 6.18 (veth pair, tcp_ecn = 1 on the client): SYN [SEW], its first
// retransmission [S], SYN-ACK [S.E], data ECT(0), pure ACK and FIN Not-ECT.
import Testing
import NetWire
@testable import Netstack

/// A segment with the ECN field its IP header would carry.
struct ECNSegment {
    var segment: WireSegment
    var ipECN: UInt8
    var flags: TCPFlags { segment.flags }
}

extension TCPConnection {
    /// Every segment due now, each with `outputECN` as it stood right after it was written.
    func drainECN(now: Instant, limit: Int = 1000) -> [ECNSegment] {
        var out: [ECNSegment] = []
        var buffer = [UInt8](repeating: 0, count: 2048)
        for _ in 0..<limit {
            let n = buffer.withUnsafeMutableBytes { nextSegment(into: $0, now: now) }
            guard let n, n > 0 else { break }
            out.append(ECNSegment(segment: WireSegment(bytes: Array(buffer[0..<n]), source: local, destination: remote),
                                  ipECN: outputECN))
        }
        return out
    }

    /// Feeds a segment from the peer as if its IP header carried `ipECN`.
    @discardableResult
    func feed(_ s: WireSegment, ipECN: UInt8, now: Instant) -> TCPReceiveResult {
        s.bytes.withUnsafeBytes { raw in receive(try! TCPSegment(raw), now: now, ipECN: ipECN) }
    }
}

func ecnConfiguration(_ ecn: Int, fallback: Bool = true) -> TCPConfiguration {
    var c = TCPConfiguration()
    c.ecn = ecn
    c.ecnFallback = fallback
    return c
}

/// The handshake between a client with `client` and a listener with
/// `server` configuration, returning both ends and the SYN / SYN-ACK.
func ecnHandshake(client cc: TCPConfiguration, server sc: TCPConfiguration, synECN: UInt8 = IPECN.notECT)
    -> (client: TCPConnection, server: TCPConnection, syn: ECNSegment, synAck: ECNSegment) {
    let client = TCPConnection(connectFrom: tcpClient, to: tcpServer, iss: TCPSeqNumber(1000), timestampOffset: 1000,
                               configuration: cc, now: .zero)
    let syn = client.drainECN(now: .zero)[0]
    let listener = TCPListener(configuration: sc, secrets: tcpSecrets)
    guard case .accepted(let server) = syn.segment.bytes.withUnsafeBytes({
        listener.receive(try! TCPSegment($0), local: tcpServer, remote: tcpClient, now: .zero, ipECN: synECN)
    }) else { fatalError("listener refused") }
    let synAck = server.drainECN(now: .zero)[0]
    client.feed(synAck.segment, now: ms(10))
    for s in client.drain(now: ms(10)) { server.feed(s, now: ms(15)) }
    return (client, server, syn, synAck)
}

@Suite struct TCPECNTests {
    /// Every pair of tcp_ecn values: the SYN asks only with 1, the SYN-ACK
    /// answers (ECE, never CWR) when the listener's value is not 0, and both
    /// ends use ECN only when both did. Neither SYN nor SYN-ACK is ECT.
    @Test(arguments: [0, 1, 2], [0, 1, 2])
    func negotiation(clientECN: Int, serverECN: Int) {
        let (client, server, syn, synAck) = ecnHandshake(client: ecnConfiguration(clientECN),
                                                         server: ecnConfiguration(serverECN))
        let asks = clientECN == 1
        let agreed = asks && serverECN != 0
        #expect(syn.flags.contains(.ece) == asks)
        #expect(syn.flags.contains(.cwr) == asks)
        #expect(synAck.flags.contains(.ece) == agreed)
        #expect(!synAck.flags.contains(.cwr))
        #expect(syn.ipECN == IPECN.notECT && synAck.ipECN == IPECN.notECT)
        #expect(client.state == .established && server.state == .established)
        #expect(client.ecnFlags.contains(.ok) == agreed)
        #expect(server.ecnFlags.contains(.ok) == agreed)
        #expect(client.info(now: ms(20)).ecn == agreed)
        #expect(server.info(now: ms(20)).ecn == agreed)
    }

    /// A peer that ignores ECN (SYN-ACK without ECE) or reflects the
    /// flags (ECE|CWR, RFC 3168 §6.1.1) leaves the connection without ECN:
    /// its data is then Not-ECT.
    @Test(arguments: [TCPFlags([.syn, .ack]), TCPFlags([.syn, .ack, .ece, .cwr])])
    func nonECNPeer(synAckFlags: TCPFlags) {
        let client = TCPConnection(connectFrom: tcpClient, to: tcpServer, iss: TCPSeqNumber(1000),
                                   configuration: ecnConfiguration(1), now: .zero)
        let syn = client.drainECN(now: .zero)[0]
        #expect(syn.flags.contains([.ece, .cwr]))
        var o = TCPOptions()
        o.maximumSegmentSize = 1460
        client.feed(TCPRepr(sourcePort: 80, destinationPort: 40_000, sequenceNumber: TCPSeqNumber(5000),
                            acknowledgmentNumber: TCPSeqNumber(1001), flags: synAckFlags, windowSize: 65_535,
                            options: o), now: ms(10))
        #expect(client.state == .established)
        #expect(!client.ecnFlags.contains(.ok))
        _ = client.drain(now: ms(10))
        #expect(client.sendAll([UInt8](repeating: 1, count: 100), now: ms(11)) == 100)
        let data = client.drainECN(now: ms(11))
        #expect(data.count == 1 && data[0].ipECN == IPECN.notECT)
        #expect(!data[0].flags.contains(.ece) && !data[0].flags.contains(.cwr))
    }

    /// tcp_ecn_create_request(): an ECN-setup SYN that itself arrived ECT
    /// (a middlebox rewrote the IP field, or a broken sender) gets no ECN.
    @Test(arguments: [(IPECN.notECT, true), (IPECN.ect0, false), (IPECN.ect1, false), (IPECN.ce, false)])
    func listenerRefusesECTSyn(synECN: UInt8, agreed: Bool) {
        let (client, server, _, synAck) = ecnHandshake(client: ecnConfiguration(1), server: ecnConfiguration(2),
                                                       synECN: synECN)
        #expect(synAck.flags.contains(.ece) == agreed)
        #expect(server.ecnFlags.contains(.ok) == agreed)
        #expect(client.ecnFlags.contains(.ok) == agreed)
    }

    /// tcp_ecn_send(): new data leaves ECT(0); pure ACKs, a bare FIN and
    /// retransmissions leave Not-ECT.
    @Test func ectOnNewDataOnly() {
        let (client, server, _, _) = ecnHandshake(client: ecnConfiguration(1), server: ecnConfiguration(2))
        #expect(client.sendAll([UInt8](repeating: 7, count: 3000), now: ms(20)) == 3000)
        let data = client.drainECN(now: ms(20))
        #expect(data.count == 3)
        #expect(data.allSatisfy { $0.ipECN == IPECN.ect0 && !$0.segment.payload.isEmpty })
        // The server's ACK of that data is a pure ACK: Not-ECT.
        for d in data { server.feed(d.segment, ipECN: d.ipECN, now: ms(25)) }
        let acks = server.drainECN(now: ms(25))
        #expect(!acks.isEmpty)
        #expect(acks.allSatisfy { $0.segment.isPureAck && $0.ipECN == IPECN.notECT })
        // The server's own data is ECT(0) too.
        #expect(server.sendAll([1, 2, 3], now: ms(26)) == 3)
        let reply = server.drainECN(now: ms(26))
        #expect(reply.count == 1 && reply[0].ipECN == IPECN.ect0)
        // The data is lost: the loss probe's and the RTO's retransmissions
        // (the tail, then the head) are Not-ECT.
        var again: [ECNSegment] = []
        var rto = Instant.zero
        for _ in 0..<3 where !again.contains(where: { $0.segment.seq == data[0].segment.seq }) {
            rto = client.nextDeadline
            _ = client.timerFired(now: rto)
            again += client.drainECN(now: rto)
        }
        #expect(again.contains { $0.segment.seq == data[2].segment.seq })
        #expect(again.contains { $0.segment.seq == data[0].segment.seq })
        #expect(again.allSatisfy { $0.ipECN == IPECN.notECT && !$0.segment.payload.isEmpty })
        // A bare FIN (everything ACKed first) is Not-ECT.
        for a in acks { client.feed(a.segment, now: rto + .milliseconds(5)) }
        client.shutdownWrite()
        let fin = client.drainECN(now: rto + .milliseconds(6)).filter { $0.flags.contains(.fin) }
        #expect(fin.count == 1 && fin[0].segment.payload.isEmpty && fin[0].ipECN == IPECN.notECT)
    }

    /// A connection without ECN sends everything Not-ECT.
    @Test func noECTWithoutECN() {
        let (client, _, _, _) = ecnHandshake(client: ecnConfiguration(2), server: ecnConfiguration(2))
        #expect(client.sendAll([UInt8](repeating: 7, count: 3000), now: ms(20)) == 3000)
        let data = client.drainECN(now: ms(20))
        #expect(data.count == 3 && data.allSatisfy { $0.ipECN == IPECN.notECT })
    }

    /// The receiver: a CE mark sets ECE on every ACK until a data segment
    /// with CWR arrives; ECT marks make it report "ecnseen".
    @Test func ceEchoedUntilCWR() {
        let (client, server, _, _) = ecnHandshake(client: ecnConfiguration(1), server: ecnConfiguration(2))
        #expect(!server.info(now: ms(20)).ecnSeen)
        let payload = [UInt8](repeating: 9, count: 100)
        var seq = client.sndNxt
        func segment(_ flags: TCPFlags) -> WireSegment {
            let bytes = buildSegment(TCPRepr(sourcePort: 40_000, destinationPort: 80, sequenceNumber: seq,
                                             acknowledgmentNumber: server.sndNxt, flags: flags, windowSize: 1000),
                                     payload: payload, from: tcpClient, to: tcpServer)
            seq = seq + payload.count
            return WireSegment(bytes: bytes, source: tcpClient, destination: tcpServer)
        }
        // ECT(0) data: seen, no echo.
        server.feed(segment(.ack), ipECN: IPECN.ect0, now: ms(20))
        var acks = server.drainECN(now: ms(20))
        #expect(server.info(now: ms(20)).ecnSeen)
        #expect(acks.allSatisfy { !$0.flags.contains(.ece) })
        // CE: the ACK goes at once, with ECE.
        server.feed(segment(.ack), ipECN: IPECN.ce, now: ms(21))
        #expect(server.ecnFlags.contains(.demandCWR))
        acks = server.drainECN(now: ms(21))
        #expect(acks.count == 1 && acks[0].flags == [.ack, .ece] && acks[0].segment.payload.isEmpty)
        // Later segments, unmarked: still ECE.
        for i in 0..<3 {
            server.feed(segment(.ack), ipECN: IPECN.ect0, now: ms(22 + Int64(i)))
            for a in server.drainECN(now: ms(22 + Int64(i))) { #expect(a.flags.contains(.ece)) }
        }
        // The server's data also carries ECE while it waits.
        #expect(server.sendAll([1], now: ms(30)) == 1)
        let data = server.drainECN(now: ms(30))
        #expect(data.count == 1 && data[0].flags.contains(.ece) && data[0].ipECN == IPECN.ect0)
        // CWR arrives: ACKed at once, without ECE from then on.
        server.feed(segment([.ack, .cwr]), ipECN: IPECN.ect0, now: ms(31))
        #expect(!server.ecnFlags.contains(.demandCWR))
        acks = server.drainECN(now: ms(31))
        #expect(acks.count == 1 && !acks[0].flags.contains(.ece))
        server.feed(segment(.ack), ipECN: IPECN.ect0, now: ms(32))
        server.feed(segment(.ack), ipECN: IPECN.ect0, now: ms(32))
        for a in server.drainECN(now: ms(32)) { #expect(!a.flags.contains(.ece)) }
    }

    /// A CE mark on a connection without ECN is ignored.
    @Test func ceIgnoredWithoutECN() {
        let (client, server, _, _) = ecnHandshake(client: ecnConfiguration(0), server: ecnConfiguration(2))
        #expect(client.sendAll([UInt8](repeating: 7, count: 100), now: ms(20)) == 100)
        for d in client.drain(now: ms(20)) { server.feed(d, ipECN: IPECN.ce, now: ms(21)) }
        let acks = server.drainECN(now: ms(21))
        #expect(!acks.isEmpty && acks.allSatisfy { !$0.flags.contains(.ece) })
        #expect(!server.info(now: ms(21)).ecnSeen)
    }

    /// The sender: an ECE reduces the window once (CWR state, ssthresh
    /// from CUBIC: 10 × 717/1024 = 7), the next new data carries CWR, the
    /// ECEs of the same window change nothing more, and the episode ends
    /// on cwnd = ssthresh once data sent after it is ACKed.
    @Test func eceReducesOncePerWindow() {
        let (client, server, _, _) = ecnHandshake(client: ecnConfiguration(1), server: ecnConfiguration(2))
        let mss = client.mss
        #expect(client.window.cwnd == 10)
        #expect(client.sendAll([UInt8](repeating: 3, count: 30 * mss), now: ms(20)) == 30 * mss)
        let flight = client.drainECN(now: ms(20))
        #expect(flight.count == 10)
        // The first segment is CE-marked on the way; each is ACKed alone.
        var acks: [ECNSegment] = []
        for (i, d) in flight.enumerated() {
            server.feed(d.segment, ipECN: i == 0 ? IPECN.ce : IPECN.ect0, now: ms(30))
            server.enterQuickAckMode()
            acks += server.drainECN(now: ms(30))
        }
        #expect(acks.count >= 5)
        #expect(acks.allSatisfy { $0.flags.contains(.ece) })
        // The first ECE: one reduction.
        client.feed(acks[0].segment, now: ms(40))
        #expect(client.congestionState == .cwr)
        #expect(client.window.ssthresh == 7)
        var sent = client.drainECN(now: ms(40))
        #expect(!sent.isEmpty)
        #expect(sent[0].flags.contains(.cwr) && sent[0].ipECN == IPECN.ect0)
        #expect(sent.dropFirst().allSatisfy { !$0.flags.contains(.cwr) })
        // More ECEs of the same window: no second reduction, no second CWR.
        for a in acks.dropFirst() {
            client.feed(a.segment, now: ms(41))
            #expect(client.congestionState == .cwr)
            #expect(client.window.ssthresh == 7)
            let more = client.drainECN(now: ms(41))
            #expect(more.allSatisfy { !$0.flags.contains(.cwr) })
            sent += more
        }
        // PRR: the window falls towards ssthresh, not below.
        #expect(client.window.cwnd <= 10)
        // The CWR reaches the server: its ACKs stop echoing; when they
        // cover data sent after the reduction began, CWR ends at ssthresh.
        var clean: [ECNSegment] = []
        for d in sent {
            server.feed(d.segment, ipECN: IPECN.ect0, now: ms(50))
            server.enterQuickAckMode()
            clean += server.drainECN(now: ms(50))
        }
        #expect(!clean.isEmpty && clean.allSatisfy { !$0.flags.contains(.ece) })
        for a in clean { client.feed(a.segment, now: ms(60)) }
        #expect(client.congestionState == .open)
        #expect(client.window.cwnd == 7)
        #expect(client.info(now: ms(60)).deliveredCE > 0)
    }

    /// tcp_ecn_clear_syn(): with tcp_ecn_fallback the retransmitted SYN
    /// asks no more; without it every SYN asks. A SYN-ACK with ECE still
    /// makes the connection ECN-capable (Linux keeps TCP_ECN_OK).
    @Test(arguments: [true, false])
    func synRetryDropsECN(fallback: Bool) {
        let client = TCPConnection(connectFrom: tcpClient, to: tcpServer, iss: TCPSeqNumber(1000),
                                   configuration: ecnConfiguration(1, fallback: fallback), now: .zero)
        let first = client.drainECN(now: .zero)
        #expect(first.count == 1 && first[0].flags.contains([.syn, .ece, .cwr]))
        for k in 0..<2 {
            let t = client.nextDeadline
            _ = client.timerFired(now: t)
            let retry = client.drainECN(now: t)
            #expect(retry.count == 1, "retry \(k)")
            #expect(retry[0].flags.contains(.syn))
            #expect(retry[0].flags.contains(.ece) == !fallback)
            #expect(retry[0].flags.contains(.cwr) == !fallback)
            #expect(retry[0].ipECN == IPECN.notECT)
        }
        var o = TCPOptions()
        o.maximumSegmentSize = 1460
        client.feed(TCPRepr(sourcePort: 80, destinationPort: 40_000, sequenceNumber: TCPSeqNumber(5000),
                            acknowledgmentNumber: TCPSeqNumber(1001), flags: [.syn, .ack, .ece], windowSize: 65_535,
                            options: o), now: ms(3_500))
        #expect(client.state == .established)
        #expect(client.ecnFlags.contains(.ok))
    }

    /// A SYN-ACK retransmitted by the listener keeps its ECE.
    @Test func synAckRetryKeepsECE() {
        let client = TCPConnection(connectFrom: tcpClient, to: tcpServer, iss: TCPSeqNumber(1000),
                                   configuration: ecnConfiguration(1), now: .zero)
        let syn = client.drainECN(now: .zero)[0]
        let listener = TCPListener(configuration: ecnConfiguration(2), secrets: tcpSecrets)
        guard case .accepted(let server) = syn.segment.bytes.withUnsafeBytes({
            listener.receive(try! TCPSegment($0), local: tcpServer, remote: tcpClient, now: .zero)
        }) else { Issue.record("refused"); return }
        #expect(server.drainECN(now: .zero)[0].flags == [.syn, .ack, .ece])
        let t = server.nextDeadline
        _ = server.timerFired(now: t)
        let again = server.drainECN(now: t)
        #expect(again.count == 1 && again[0].flags == [.syn, .ack, .ece])
    }

    /// Simultaneous open (tcp_ecn_rcv_syn): both SYNs ask, so both use ECN;
    /// the SYN-ACK of each carries ECE without CWR.
    @Test func simultaneousOpen() {
        let a = TCPConnection(connectFrom: tcpClient, to: tcpServer, iss: TCPSeqNumber(1000),
                              configuration: ecnConfiguration(1), now: .zero)
        let b = TCPConnection(connectFrom: tcpServer, to: tcpClient, iss: TCPSeqNumber(9000),
                              configuration: ecnConfiguration(1), now: .zero)
        let synA = a.drain(now: .zero)[0], synB = b.drain(now: .zero)[0]
        a.feed(synB, now: ms(1))
        b.feed(synA, now: ms(1))
        let synAckA = a.drain(now: ms(1)), synAckB = b.drain(now: ms(1))
        #expect(synAckA.count == 1 && synAckA[0].flags == [.syn, .ack, .ece])
        for s in synAckA { b.feed(s, now: ms(2)) }
        for s in synAckB { a.feed(s, now: ms(2)) }
        #expect(a.state == .established && b.state == .established)
        #expect(a.ecnFlags.contains(.ok) && b.ecnFlags.contains(.ok))
    }

    /// On the wire, through the stack (veth, IPv4): with tcp_ecn = 1 on the
    /// client, data frames are ECT(0) with a valid header checksum, pure
    /// ACKs Not-ECT, and `ss -i` would say "ecn".
    @Test func ectOnTheWire() throws {
        let (stack, a, b, _, _) = try twoHosts()
        a.tcp.configuration.ecn = 1
        stack.capture = PacketCapture()
        let (client, server, got) = try tcpPairAfterTransfer(stack, client: a, server: b, address: .v4(IPv4Address(10, 0, 0, 2)))
        #expect(got == 5000)
        #expect(client.info?.ecn == true)
        #expect(server.info?.ecn == true)
        #expect(server.info?.ecnSeen == true)
        var dataECT = 0, dataOther = 0, acksECT = 0, acks = 0, badChecksum = 0
        stack.capture!.drain { name, bytes in
            guard name.hasPrefix("a-") else { return }
            for frame in pcapFrames(bytes) {
                guard frame.count > 34, frame[12] == 0x08, frame[13] == 0x00, frame[23] == 6 else { continue }
                let ihl = Int(frame[14] & 0x0F) * 4
                var sum = InternetChecksum()
                frame[14..<(14 + ihl)].withUnsafeBytes { sum.add($0) }
                if sum.value != 0 { badChecksum += 1 }
                let total = Int(frame[16]) << 8 | Int(frame[17])
                let tcpOffset = 14 + ihl
                let dataOffset = Int(frame[tcpOffset + 12] >> 4) * 4
                let payload = total - ihl - dataOffset
                let flags = frame[tcpOffset + 13]
                let fromClient = frame[26] == 10 && frame[29] == 1
                guard fromClient, flags & 0x02 == 0 else { continue }
                if payload > 0 {
                    if frame[15] & 3 == IPECN.ect0 { dataECT += 1 } else { dataOther += 1 }
                } else {
                    acks += 1
                    if frame[15] & 3 != 0 { acksECT += 1 }
                }
            }
        }
        #expect(dataECT >= 1)
        #expect(dataOther == 0)
        #expect(acks >= 1 && acksECT == 0)
        #expect(badChecksum == 0)
    }

    /// SYN cookies: the ECN agreement rides in the SYN-ACK's TSval
    /// (TS_OPT_ECN); without timestamps a cookie SYN-ACK offers no ECN.
    @Test(arguments: [true, false])
    func synCookieKeepsECN(timestamps: Bool) {
        var cc = ecnConfiguration(1)
        cc.timestamps = timestamps
        let client = TCPConnection(connectFrom: tcpClient, to: tcpServer, iss: TCPSeqNumber(1000), timestampOffset: 1000,
                                   configuration: cc, now: .zero)
        let syn = client.drainECN(now: .zero)[0]
        let listener = TCPListener(configuration: ecnConfiguration(2), secrets: tcpSecrets)
        var buffer = [UInt8](repeating: 0, count: 128)
        let n = buffer.withUnsafeMutableBytes { out in
            syn.segment.bytes.withUnsafeBytes {
                listener.synCookieReply(to: try! TCPSegment($0), local: tcpServer, remote: tcpClient, now: ms(1), into: out)
            }
        }
        guard let n else { Issue.record("no cookie SYN-ACK"); return }
        let synAck = WireSegment(bytes: Array(buffer[0..<n]), source: tcpServer, destination: tcpClient)
        #expect(synAck.flags.contains(.ece) == timestamps)
        client.feed(synAck, now: ms(10))
        #expect(client.ecnFlags.contains(.ok) == timestamps)
        let ack = client.drain(now: ms(10))[0]
        let accepted = ack.bytes.withUnsafeBytes {
            listener.acceptCookie(try! TCPSegment($0), local: tcpServer, remote: tcpClient, now: ms(15))
        }
        guard let (server, _) = accepted else { Issue.record("cookie refused"); return }
        #expect(server.state == .established)
        #expect(server.ecnFlags.contains(.ok) == timestamps)
    }

    /// The same over IPv6 (through a router, which keeps the field): data
    /// from the client carries ECT(0) in the traffic class, ACKs do not.
    @Test func ectOnTheWireIPv6() throws {
        let (stack, a, _, b) = try ipv6Router()
        settle(stack, limit: .seconds(3))
        a.tcp.configuration.ecn = 1
        stack.capture = PacketCapture()
        let (client, server, got) = try tcpPairAfterTransfer(stack, client: a, server: b, address: .v6(b2))
        #expect(got == 5000)
        #expect(client.info?.ecn == true && server.info?.ecn == true)
        var dataECT = 0, dataOther = 0, acksECT = 0, acks = 0
        stack.capture!.drain { name, bytes in
            guard name == "a-e0" else { return }
            for frame in pcapFrames(bytes) {
                guard frame.count >= 74, frame[12] == 0x86, frame[13] == 0xDD, frame[20] == 6 else { continue }
                let trafficClass = (frame[14] & 0x0F) << 4 | frame[15] >> 4
                let payloadLength = Int(frame[18]) << 8 | Int(frame[19])
                let dataOffset = Int(frame[54 + 12] >> 4) * 4
                let flags = frame[54 + 13]
                let fromClient = Array(frame[22..<38]) == [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]
                guard fromClient, flags & 0x02 == 0 else { continue }
                if payloadLength - dataOffset > 0 {
                    if trafficClass & 3 == IPECN.ect0 { dataECT += 1 } else { dataOther += 1 }
                } else {
                    acks += 1
                    if trafficClass & 3 != 0 { acksECT += 1 }
                }
            }
        }
        #expect(dataECT >= 1)
        #expect(dataOther == 0)
        #expect(acks >= 1 && acksECT == 0)
    }

    /// A loss during the CWR reduction turns it into recovery without a
    /// second reduction (tcp_enter_recovery while tcp_in_cwnd_reduction).
    @Test func lossDuringCWRKeepsTheReduction() {
        let (client, server, _, _) = ecnHandshake(client: ecnConfiguration(1), server: ecnConfiguration(2))
        let mss = client.mss
        #expect(client.sendAll([UInt8](repeating: 3, count: 25 * mss), now: ms(20)) == 25 * mss)
        let flight = client.drainECN(now: ms(20))
        #expect(flight.count == 10)
        server.feed(flight[0].segment, ipECN: IPECN.ce, now: ms(30))
        let ece = server.drainECN(now: ms(30))
        #expect(ece.count == 1 && ece[0].flags.contains(.ece))
        client.feed(ece[0].segment, now: ms(40))
        #expect(client.congestionState == .cwr && client.window.ssthresh == 7)
        // Segment 1 is lost; the rest arrive and are SACKed.
        var acks: [WireSegment] = []
        for d in flight.dropFirst(2) {
            server.feed(d.segment, ipECN: IPECN.ect0, now: ms(45))
            acks += server.drain(now: ms(45))
        }
        #expect(acks.contains { !$0.options.sackBlocks.isEmpty })
        var t = ms(100)
        for a in acks {
            client.feed(a, now: t)
            t = t + .milliseconds(1)
        }
        _ = client.drain(now: t)
        if client.congestionState != .recovery, client.nextDeadline <= ms(400) {
            // RACK's reordering timer marks it.
            _ = client.timerFired(now: client.nextDeadline)
        }
        #expect(client.congestionState == .recovery)
        #expect(client.window.ssthresh == 7)
        #expect(client.lostOut > 0)
    }

    /// tcp_ecn counts when the SYN is sent or arrives, not when the socket
    /// was made: a listener made before `tcp_ecn = 0` answers without ECE,
    /// a socket made before `tcp_ecn = 1` asks.
    @Test func sysctlReadWhenTheSYNGoes() throws {
        let (stack, a, b, _, _) = try twoHosts()
        let listener = b.tcpSocket()
        try listener.bind(nil, port: 5001)
        try listener.listen(backlog: 8)
        func connect(_ client: TCPSocket) -> Bool {
            try? tcpStartConnect(client, .v4(IPv4Address(10, 0, 0, 2)), 5001)
            var server: TCPSocket?
            tcpRun(stack, for: .seconds(1)) {
                server = server ?? (try? listener.accept())
                return server != nil && client.isConnected
            }
            return client.info?.ecn == true && server?.info?.ecn == true
        }
        let early = a.tcpSocket()
        a.tcp.configuration.ecn = 1
        b.tcp.configuration.ecn = 0
        #expect(!connect(early))
        b.tcp.configuration.ecn = 2
        #expect(connect(a.tcpSocket()))
        a.tcp.configuration.ecn = 2
        #expect(!connect(a.tcpSocket()))
    }

    /// Every window reduction tells the receiver: after a timeout
    /// (tcp_enter_loss → tcp_ecn_queue_cwr) the next new data segment, not
    /// the retransmission, carries CWR.
    @Test func timeoutQueuesCWR() {
        let (client, server, _, _) = ecnHandshake(client: ecnConfiguration(1), server: ecnConfiguration(2))
        #expect(client.sendAll([UInt8](repeating: 7, count: 1000), now: ms(20)) == 1000)
        let first = client.drainECN(now: ms(20))
        #expect(first.count == 1 && !first[0].flags.contains(.cwr))
        var t = ms(20)
        var retransmitted: [ECNSegment] = []
        for _ in 0..<4 where client.congestionState != .loss {
            t = client.nextDeadline
            _ = client.timerFired(now: t)
            retransmitted += client.drainECN(now: t)
        }
        #expect(client.congestionState == .loss)
        #expect(!retransmitted.isEmpty && retransmitted.allSatisfy { !$0.flags.contains(.cwr) && $0.ipECN == IPECN.notECT })
        server.feed(retransmitted.last!.segment, ipECN: IPECN.notECT, now: t + .milliseconds(5))
        for a in server.drain(now: t + .milliseconds(5)) { client.feed(a, now: t + .milliseconds(10)) }
        #expect(client.sendAll([1, 2, 3], now: t + .milliseconds(11)) == 3)
        let next = client.drainECN(now: t + .milliseconds(11))
        #expect(next.count == 1 && next[0].flags.contains(.cwr) && next[0].ipECN == IPECN.ect0)
    }
}
