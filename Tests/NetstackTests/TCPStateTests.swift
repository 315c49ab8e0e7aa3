// Segment transcripts for the TCP state machine in virtual time: the
// handshake as Linux sends it, simultaneous open and close, half-close,
// RFC 5961 resets and challenge ACKs, TIME-WAIT.
import Testing
import NetWire
@testable import Netstack

@Suite struct TCPStateTests {
    @Test func handshakeNegotiatesOptionsInLinuxLayout() throws {
        let client = TCPConnection(connectFrom: tcpClient, to: tcpServer, iss: TCPSeqNumber(1000),
                                   timestampOffset: 5000, now: ms(100))
        #expect(client.state == .synSent)
        let syn = client.drain(now: ms(100))
        #expect(syn.count == 1)
        #expect(syn[0].flags == .syn)
        #expect(syn[0].seq == TCPSeqNumber(1000))
        #expect(syn[0].window == 64_240)
        // Linux's SYN (captured from kernel 6.18 in a namespace pair:
        // "win 64240, options [mss 1460,sackOK,TS val … ecr 0,nop,wscale 10]"):
        // MSS, SACK_PERM, TS, NOP, WS 10 (tcp_rmem[2] = 32 MiB).
        let tsval: UInt32 = 100 + 5000
        let expected: [UInt8] = [2, 4, 0x05, 0xb4, 4, 2, 8, 10,
                                 UInt8(tsval >> 24), UInt8(tsval >> 16 & 0xff), UInt8(tsval >> 8 & 0xff), UInt8(tsval & 0xff),
                                 0, 0, 0, 0, 1, 3, 3, 10]
        #expect(Array(syn[0].bytes[20..<40]) == expected)

        let listener = TCPListener(secrets: tcpSecrets)
        let result = syn[0].bytes.withUnsafeBytes {
            listener.receive(try! TCPSegment($0), local: tcpServer, remote: tcpClient, now: ms(105))
        }
        guard case .accepted(let server) = result else { Issue.record("listener refused"); return }
        #expect(server.state == .synReceived)
        let synAck = server.drain(now: ms(105))
        #expect(synAck.count == 1)
        #expect(synAck[0].flags == [.syn, .ack])
        #expect(synAck[0].ack == TCPSeqNumber(1001))
        #expect(synAck[0].window == 65_160)          // 45 × 1448, as Linux's SYN-ACK
        #expect(synAck[0].options.maximumSegmentSize == 1460)
        #expect(synAck[0].options.sackPermitted)
        #expect(synAck[0].options.windowScale == 10)
        #expect(synAck[0].options.timestamps?.echoReply == tsval)
        #expect(Array(synAck[0].bytes[20..<24]) == [2, 4, 0x05, 0xb4])
        #expect(Array(synAck[0].bytes[24..<28]) == [4, 2, 8, 10])
        #expect(Array(synAck[0].bytes[36..<40]) == [1, 3, 3, 10])

        let r = client.feed(synAck[0], now: ms(110))
        #expect(r.events.contains(.connected))
        #expect(client.state == .established)
        #expect(client.sackPermitted && client.timestampsEnabled && client.windowScalingEnabled)
        #expect(client.mss == 1448)
        let ack = client.drain(now: ms(110))
        #expect(ack.count == 1)
        #expect(ack[0].isPureAck)
        #expect(ack[0].seq == TCPSeqNumber(1001))
        #expect(ack[0].ack == synAck[0].seq + 1)
        #expect(ack[0].window == 63)                 // 64240 aligned up to 1024, >> 10 (the kernel's "win 63")
        // NOP NOP TS on every later segment.
        #expect(Array(ack[0].bytes[20..<24]) == [1, 1, 8, 10])
        let r2 = server.feed(ack[0], now: ms(115))
        #expect(r2.events.contains(.connected))
        #expect(server.state == .established)
        // The SYN's RTT gave the first sample: RTO = 10 ms + max(2·10 ms, 200 ms).
        #expect(client.rto == .milliseconds(210))
    }

    @Test func handshakeWithoutOptionsFallsBackToDefaults() {
        var plain = TCPConfiguration()
        plain.sack = false
        plain.timestamps = false
        plain.windowScaling = false
        let (client, server) = establishedPair(client: plain)
        #expect(client.state == .established && server.state == .established)
        #expect(!server.sackPermitted && !server.timestampsEnabled && !server.windowScalingEnabled)
        #expect(server.mss == 1460)
        #expect(server.sndWscale == 0)
    }

    @Test func simultaneousOpen() {
        let a = TCPConnection(connectFrom: tcpClient, to: tcpServer, iss: TCPSeqNumber(100), now: .zero)
        let b = TCPConnection(connectFrom: tcpServer, to: tcpClient, iss: TCPSeqNumber(900), now: .zero)
        let synA = a.drain(now: .zero)
        let synB = b.drain(now: .zero)
        a.feed(synB[0], now: ms(5))
        b.feed(synA[0], now: ms(5))
        #expect(a.state == .synReceived && b.state == .synReceived)
        let synAckA = a.drain(now: ms(5))
        let synAckB = b.drain(now: ms(5))
        #expect(synAckA.count == 1 && synAckA[0].flags == [.syn, .ack])
        #expect(synAckA[0].seq == TCPSeqNumber(100) && synAckA[0].ack == TCPSeqNumber(901))
        #expect(synAckB[0].seq == TCPSeqNumber(900) && synAckB[0].ack == TCPSeqNumber(101))
        let ra = a.feed(synAckB[0], now: ms(10))
        let rb = b.feed(synAckA[0], now: ms(10))
        #expect(ra.events.contains(.connected) && rb.events.contains(.connected))
        #expect(a.state == .established && b.state == .established)
        // Data flows both ways afterwards.
        #expect(a.sendAll([1, 2, 3], now: ms(10)) == 3)
        for s in a.drain(now: ms(10)) { b.feed(s, now: ms(15)) }
        #expect(b.readAll(now: ms(15)) == [1, 2, 3])
    }

    @Test func simultaneousCloseGoesThroughClosingToTimeWait() {
        let (c, s) = establishedPair()
        c.shutdownWrite()
        s.shutdownWrite()
        #expect(c.state == .finWait1 && s.state == .finWait1)
        let finC = c.drain(now: ms(100))
        let finS = s.drain(now: ms(100))
        #expect(finC.count == 1 && finC[0].flags.contains(.fin))
        #expect(finS.count == 1 && finS[0].flags.contains(.fin))
        c.feed(finS[0], now: ms(105))
        s.feed(finC[0], now: ms(105))
        #expect(c.state == .closing && s.state == .closing)
        let ackC = c.drain(now: ms(105))
        let ackS = s.drain(now: ms(105))
        #expect(ackC.count == 1 && ackC[0].isPureAck && ackC[0].ack == finS[0].seq + 1)
        let rc = c.feed(ackS[0], now: ms(110))
        s.feed(ackC[0], now: ms(110))
        #expect(rc.events.contains(.timeWait))
        #expect(c.state == .timeWait && s.state == .timeWait)
    }

    @Test func halfCloseKeepsTheOtherDirectionOpen() {
        let (c, s) = establishedPair()
        #expect(c.sendAll(Array("request".utf8), now: ms(50)) == 7)
        c.shutdownWrite()
        let out = c.drain(now: ms(50))
        // Data and FIN ride in one segment, as Linux does after shutdown.
        #expect(out.count == 1 && out[0].flags.contains(.fin) && out[0].payload.count == 7)
        let r = s.feed(out[0], now: ms(55))
        #expect(r.events.contains(.peerClosed))
        #expect(s.state == .closeWait)
        #expect(s.readAll(now: ms(55)) == Array("request".utf8))
        var buf = [UInt8](repeating: 0, count: 16)
        let eof = buf.withUnsafeMutableBytes { try? s.read(into: $0, now: ms(55)) }
        #expect(eof == 0)
        // The FIN is ACKed by the delayed-ACK timer (pingpong) unless data goes first.
        #expect(s.drain(now: ms(55)).isEmpty)
        #expect(s.sendAll(Array("response".utf8), now: ms(56)) == 8)
        let data = s.drain(now: ms(56))
        #expect(data.count == 1 && data[0].ack == out[0].seq + 8)
        c.feed(data[0], now: ms(61))
        #expect(c.state == .finWait2)
        #expect(c.readAll(now: ms(61)) == Array("response".utf8))
        s.close(now: ms(62))
        #expect(s.state == .lastAck)
        let fin = s.drain(now: ms(62))
        #expect(fin.count == 1 && fin[0].flags.contains(.fin))
        let rc = c.feed(fin[0], now: ms(67))
        #expect(rc.events.contains(.timeWait) && c.state == .timeWait)
        let lastAck = c.drain(now: ms(67))
        #expect(lastAck.count == 1)
        let rs = s.feed(lastAck[0], now: ms(72))
        #expect(rs.events.contains(.closed) && s.state == .closed)
    }

    @Test func timeWaitLastsSixtySecondsAndReAcksARetransmittedFin() {
        let (c, s) = establishedPair()
        c.close(now: ms(100))
        s.feed(c.drain(now: ms(100))[0], now: ms(105))
        s.close(now: ms(106))
        let fin = s.drain(now: ms(106)).last!
        c.feed(fin, now: ms(110))
        #expect(c.state == .timeWait)
        _ = c.drain(now: ms(110))
        #expect(c.nextDeadline == ms(110) + .seconds(60))
        // The peer lost our ACK: its FIN again restarts the 60 s.
        c.feed(fin, now: ms(20_110))
        let again = c.drain(now: ms(20_110))
        #expect(again.count == 1 && again[0].isPureAck)
        #expect(c.nextDeadline == ms(20_110) + .seconds(60))
        #expect(c.timerFired(now: ms(80_109)).isEmpty)
        #expect(c.state == .timeWait)
        let e = c.timerFired(now: ms(80_110))
        #expect(e.contains(.closed) && c.state == .closed)
    }

    @Test func unacceptableAckInSynSentIsAnsweredWithReset() {
        let c = TCPConnection(connectFrom: tcpClient, to: tcpServer, iss: TCPSeqNumber(5000), now: .zero)
        _ = c.drain(now: .zero)
        let bogus = TCPRepr(sourcePort: 80, destinationPort: 40_000, sequenceNumber: TCPSeqNumber(77),
                            acknowledgmentNumber: TCPSeqNumber(9999), flags: .ack, windowSize: 1000)
        let r = c.feed(bogus, now: ms(1))
        #expect(r.dropReason == .tcpAckUnsentData)
        let rst = c.drain(now: ms(1))
        #expect(rst.count == 1)
        #expect(rst[0].flags == .rst)                 // <SEQ=SEG.ACK><CTL=RST>
        #expect(rst[0].seq == TCPSeqNumber(9999))
        #expect(c.state == .synSent)
        // An RST with an acceptable ACK refuses the connection.
        let refuse = TCPRepr(sourcePort: 80, destinationPort: 40_000, sequenceNumber: TCPSeqNumber(0),
                             acknowledgmentNumber: TCPSeqNumber(5001), flags: [.rst, .ack], windowSize: 0)
        let r2 = c.feed(refuse, now: ms(2))
        #expect(r2.events.contains(.failed) && r2.events.contains(.closed))
        #expect(c.error == .ECONNREFUSED)
        #expect(c.drain(now: ms(2)).isEmpty)
    }

    @Test func resetReplyForNoConnection() {
        var buf = [UInt8](repeating: 0, count: 64)
        let syn = buildSegment(TCPRepr(sourcePort: 40_000, destinationPort: 81, sequenceNumber: TCPSeqNumber(10),
                                       flags: .syn, windowSize: 100), from: tcpClient, to: tcpServer)
        let n = syn.withUnsafeBytes { raw in
            buf.withUnsafeMutableBytes { TCPReset.reply(to: try! TCPSegment(raw), local: tcpServer, remote: tcpClient, into: $0) }
        }
        let rst = WireSegment(bytes: Array(buf[0..<n!]), source: tcpServer, destination: tcpClient)
        #expect(rst.flags == [.rst, .ack] && rst.seq == TCPSeqNumber(0) && rst.ack == TCPSeqNumber(11))
        let ackSeg = buildSegment(TCPRepr(sourcePort: 40_000, destinationPort: 81, sequenceNumber: TCPSeqNumber(10),
                                          acknowledgmentNumber: TCPSeqNumber(555), flags: .ack, windowSize: 100),
                                  payload: [1, 2], from: tcpClient, to: tcpServer)
        let m = ackSeg.withUnsafeBytes { raw in
            buf.withUnsafeMutableBytes { TCPReset.reply(to: try! TCPSegment(raw), local: tcpServer, remote: tcpClient, into: $0) }
        }
        let rst2 = WireSegment(bytes: Array(buf[0..<m!]), source: tcpServer, destination: tcpClient)
        #expect(rst2.flags == .rst && rst2.seq == TCPSeqNumber(555))
        let rstSeg = buildSegment(TCPRepr(sourcePort: 40_000, destinationPort: 81, sequenceNumber: TCPSeqNumber(10),
                                          flags: .rst, windowSize: 0), from: tcpClient, to: tcpServer)
        let none = rstSeg.withUnsafeBytes { raw in
            buf.withUnsafeMutableBytes { TCPReset.reply(to: try! TCPSegment(raw), local: tcpServer, remote: tcpClient, into: $0) }
        }
        #expect(none == nil)
    }

    @Test func inWindowResetAndSynGetRateLimitedChallengeAcks() {
        let (c, s) = establishedPair()
        _ = s
        let rcvNxt = c.rcvNxt
        let sndNxt = c.sndNxt
        func rst(_ seq: TCPSeqNumber) -> TCPRepr {
            TCPRepr(sourcePort: 80, destinationPort: 40_000, sequenceNumber: seq, flags: .rst, windowSize: 0)
        }
        let r = c.feed(rst(rcvNxt + 100), now: ms(1000))
        #expect(r.dropReason == .tcpReset)
        #expect(c.state == .established)
        let challenge = c.drain(now: ms(1000))
        #expect(challenge.count == 1 && challenge[0].isPureAck)
        #expect(challenge[0].seq == sndNxt && challenge[0].ack == rcvNxt)
        // A second one within tcp_invalid_ratelimit (500 ms) is not answered.
        c.feed(rst(rcvNxt + 200), now: ms(1100))
        #expect(c.drain(now: ms(1100)).isEmpty)
        // A SYN in ESTABLISHED gets a challenge ACK too (RFC 5961 §4), once the limit allows.
        let syn = TCPRepr(sourcePort: 80, destinationPort: 40_000, sequenceNumber: rcvNxt + 5, flags: .syn, windowSize: 100)
        let r2 = c.feed(syn, now: ms(1600))
        #expect(r2.dropReason == .tcpInvalidSyn)
        let challenge2 = c.drain(now: ms(1600))
        #expect(challenge2.count == 1 && challenge2[0].isPureAck && challenge2[0].ack == rcvNxt)
        // Out of window: silently dropped.
        c.feed(rst(rcvNxt + 10_000_000), now: ms(2200))
        #expect(c.drain(now: ms(2200)).isEmpty && c.state == .established)
        // Exactly rcv_nxt: reset.
        let r3 = c.feed(rst(rcvNxt), now: ms(2300))
        #expect(r3.events.contains(.failed) && c.state == .closed && c.error == .ECONNRESET)
        // The MIBs nstat would show.
        let counters = Counters()
        c.flushCounters(into: counters)
        #expect(counters[.tcpExtTCPChallengeACK] == 2)
        #expect(counters[.tcpExtTCPSYNChallenge] == 1)
        #expect(counters[.tcpExtTCPACKSkippedChallenge] == 1)
        #expect(counters[.tcpEstabResets] == 1)
        #expect(counters[.tcpInSegs] == 6)              // SYN-ACK + 5 here
        #expect(c.pendingCounters[.challengeAck] == 0)  // flushed
    }

    @Test func ackForUnsentDataIsChallengedAndDropped() {
        let (c, _) = establishedPair()
        let bad = TCPRepr(sourcePort: 80, destinationPort: 40_000, sequenceNumber: c.rcvNxt,
                          acknowledgmentNumber: c.sndNxt + 5000, flags: .ack, windowSize: 500)
        let r = c.feed(bad, payload: [1, 2, 3], now: ms(1000))
        #expect(r.dropReason == .tcpAckUnsentData)
        #expect(c.readableBytes == 0)
        let out = c.drain(now: ms(1000))
        #expect(out.count == 1 && out[0].isPureAck)
    }

    @Test func closeWithUnreadDataSendsReset() {
        let (c, s) = establishedPair()
        #expect(s.sendAll([9, 9, 9], now: ms(50)) == 3)
        for seg in s.drain(now: ms(50)) { c.feed(seg, now: ms(55)) }
        #expect(c.readableBytes == 3)
        let e = c.close(now: ms(60))
        #expect(e.contains(.closed))
        let out = c.drain(now: ms(60))
        #expect(out.count == 1 && out[0].flags == [.rst, .ack])
        let r = s.feed(out[0], now: ms(65))
        #expect(r.events.contains(.failed) && s.error == .ECONNRESET)
    }

    @Test func finWait2TimesOutAfterFinTimeoutWhenOrphaned() {
        let (c, s) = establishedPair()
        c.close(now: ms(100))
        for seg in c.drain(now: ms(100)) { s.feed(seg, now: ms(105)) }
        // The server's delayed ACK of the FIN.
        _ = s.timerFired(now: s.nextDeadline)
        for seg in s.drain(now: s.nextDeadline == .distantFuture ? ms(200) : ms(200)) { c.feed(seg, now: ms(210)) }
        #expect(c.state == .finWait2)
        #expect(c.nextDeadline == ms(210) + .seconds(60))
        let e = c.timerFired(now: ms(210) + .seconds(60))
        #expect(e.contains(.closed) && c.state == .closed)
    }

    /// As captured from Linux 6.18: data is ACKed at once (quick-ACK mode),
    /// a FIN arriving in ESTABLISHED is ACKed by the delayed-ACK timer
    /// (pingpong) 40 ms later, and the server's FIN-ACK is ACKed at once.
    @Test func finInEstablishedIsAckedAfterTheDelayedAckTimer() {
        let (c, s) = establishedPair()
        #expect(c.sendAll(Array("request".utf8), now: ms(100)) == 7)
        for seg in c.drain(now: ms(100)) { s.feed(seg, now: ms(100)) }
        let ack = s.drain(now: ms(100))
        #expect(ack.count == 1 && ack[0].isPureAck)
        for seg in ack { c.feed(seg, now: ms(100)) }
        c.shutdownWrite()
        let fin = c.drain(now: ms(300))
        #expect(fin.count == 1 && fin[0].flags == [.fin, .ack])
        s.feed(fin[0], now: ms(300))
        #expect(s.drain(now: ms(300)).isEmpty)
        #expect(s.nextDeadline == ms(340))
        _ = s.timerFired(now: ms(340))
        let delayed = s.drain(now: ms(340))
        #expect(delayed.count == 1 && delayed[0].isPureAck && delayed[0].ack == fin[0].seq + 1)
        c.feed(delayed[0], now: ms(340))
        #expect(c.state == .finWait2)
        #expect(s.readAll(now: ms(800)) == Array("request".utf8))
        s.close(now: ms(800))
        let serverFin = s.drain(now: ms(800))
        #expect(serverFin.count == 1 && serverFin[0].flags == [.fin, .ack])
        c.feed(serverFin[0], now: ms(800))
        let last = c.drain(now: ms(800))
        #expect(last.count == 1 && last[0].isPureAck)
        #expect(c.state == .timeWait)
    }

    @Test func timeWaitLetsANewerSynStartASuccessor() {
        let (c, s) = establishedPair()
        c.close(now: ms(100))
        s.feed(c.drain(now: ms(100))[0], now: ms(105))
        s.close(now: ms(106))
        c.feed(s.drain(now: ms(106)).last!, now: ms(110))
        #expect(c.state == .timeWait)
        // The client side is the one in TIME-WAIT here; a SYN from the same
        // peer port reusing the 4-tuple with a higher sequence number is acceptable.
        let newer = buildSegment(TCPRepr(sourcePort: 80, destinationPort: 40_000, sequenceNumber: c.rcvNxt + 100_000,
                                         flags: .syn, windowSize: 1000), from: tcpServer, to: tcpClient)
        let older = buildSegment(TCPRepr(sourcePort: 80, destinationPort: 40_000, sequenceNumber: c.rcvNxt - 10,
                                         flags: .syn, windowSize: 1000), from: tcpServer, to: tcpClient)
        #expect(newer.withUnsafeBytes { c.timeWaitAcceptsSyn(try! TCPSegment($0)) })
        #expect(!older.withUnsafeBytes { c.timeWaitAcceptsSyn(try! TCPSegment($0)) })
        #expect(c.timeWaitSuccessorISN == c.sndNxt + 65_537)
        let listener = TCPListener(secrets: tcpSecrets)
        let r = newer.withUnsafeBytes {
            listener.receive(try! TCPSegment($0), local: tcpClient, remote: tcpServer, now: ms(200), iss: c.timeWaitSuccessorISN)
        }
        guard case .accepted(let successor) = r else { Issue.record("refused"); return }
        #expect(successor.drain(now: ms(200)).first?.seq == c.sndNxt + 65_537)
    }

    @Test func listenerAnswersOnlySyns() {
        let listener = TCPListener(secrets: tcpSecrets)
        func verdict(_ flags: TCPFlags) -> String {
            let bytes = buildSegment(TCPRepr(sourcePort: 40_000, destinationPort: 80, sequenceNumber: TCPSeqNumber(1),
                                             acknowledgmentNumber: TCPSeqNumber(2), flags: flags, windowSize: 100),
                                     from: tcpClient, to: tcpServer)
            let r = bytes.withUnsafeBytes { listener.receive(try! TCPSegment($0), local: tcpServer, remote: tcpClient, now: .zero) }
            switch r {
            case .accepted: return "accepted"
            case .reset: return "reset"
            case .drop(let reason): return "\(reason)"
            }
        }
        #expect(verdict(.syn) == "accepted")
        #expect(verdict(.ack) == "reset")              // tcp_rcv_state_process: an ACK to LISTEN gets an RST
        #expect(verdict([.syn, .ack]) == "reset")
        #expect(verdict(.rst) == "TCP_RESET")
        #expect(verdict([.syn, .fin]) == "TCP_FLAGS")
        #expect(verdict(.fin) == "TCP_FLAGS")
    }

    @Test func synAckRetransmissionsGiveUpAfterSynAckRetries() {
        let c = TCPConnection(connectFrom: tcpClient, to: tcpServer, iss: TCPSeqNumber(1), now: .zero)
        let syn = c.drain(now: .zero)
        let listener = TCPListener(secrets: tcpSecrets)
        guard case .accepted(let s) = syn[0].bytes.withUnsafeBytes({
            listener.receive(try! TCPSegment($0), local: tcpServer, remote: tcpClient, now: .zero)
        }) else { Issue.record("refused"); return }
        #expect(s.drain(now: .zero).count == 1)
        var times: [Int64] = []
        var closedAt: Instant?
        for _ in 0..<10 {
            let d = s.nextDeadline
            guard d != .distantFuture else { break }
            let e = s.timerFired(now: d)
            if e.contains(.closed) { closedAt = d; break }
            let out = s.drain(now: d)
            #expect(out.count == 1 && out[0].flags == [.syn, .ack])
            times.append(d.nanoseconds / 1_000_000_000)
        }
        // tcp_synack_retries = 5: 1, 3, 7, 15, 31 s, then gone at 63 s.
        #expect(times == [1, 3, 7, 15, 31])
        #expect(closedAt == Instant.zero + .seconds(63))
        #expect(s.state == .closed && s.error == nil)
    }

    /// SYN cookies: a stateless SYN-ACK, then the connection rebuilt from
    /// the ACK with MSS, window scale and SACK recovered (the latter two
    /// from the timestamp echo), data on the ACK included.
    @Test func synCookieHandshake() {
        let listener = TCPListener(secrets: tcpSecrets)
        let c = TCPConnection(connectFrom: tcpClient, to: tcpServer, secrets: tcpSecrets, now: ms(1000))
        let syn = c.drain(now: ms(1000))
        var buf = [UInt8](repeating: 0, count: 128)
        let n = syn[0].bytes.withUnsafeBytes { raw in
            buf.withUnsafeMutableBytes {
                listener.synCookieReply(to: try! TCPSegment(raw), local: tcpServer, remote: tcpClient, now: ms(1001), into: $0)
            }
        }
        let synAck = WireSegment(bytes: Array(buf[0..<n!]), source: tcpServer, destination: tcpClient)
        #expect(synAck.flags == [.syn, .ack] && synAck.ack == syn[0].seq + 1)
        #expect(synAck.options.maximumSegmentSize == 1460)
        #expect(synAck.options.windowScale == 10 && synAck.options.sackPermitted)
        #expect((synAck.options.timestamps!.value & 0x3F) == 0x10 | 10)   // SACK bit + the client's shift
        c.feed(synAck, now: ms(1002))
        #expect(c.state == .established)
        #expect(c.sendAll(Array("hello".utf8), now: ms(1002)) == 5)
        let out = c.drain(now: ms(1002))
        #expect(out.count == 1 && out[0].payload.count == 5)        // the ACK carries the data
        let accepted = out[0].bytes.withUnsafeBytes {
            listener.acceptCookie(try! TCPSegment($0), local: tcpServer, remote: tcpClient, now: ms(1003))
        }
        guard let (s, r) = accepted else { Issue.record("cookie refused"); return }
        #expect(r.events.contains(.connected) && r.events.contains(.readable))
        #expect(s.state == .established)
        #expect(s.mss == 1448 && s.sackPermitted && s.timestampsEnabled && s.sndWscale == 10)
        #expect(s.readAll(now: ms(1003)) == Array("hello".utf8))
        #expect(s.sendAll(Array("world".utf8), now: ms(1003)) == 5)
        for seg in s.drain(now: ms(1003)) { c.feed(seg, now: ms(1004)) }
        #expect(c.readAll(now: ms(1004)) == Array("world".utf8))
        // The same ACK three minutes later, or with a forged cookie, is refused.
        let stale = out[0].bytes.withUnsafeBytes {
            listener.acceptCookie(try! TCPSegment($0), local: tcpServer, remote: tcpClient, now: ms(1003) + .seconds(180))
        }
        #expect(stale == nil)
        var forged = out[0].repr
        forged.acknowledgmentNumber = forged.acknowledgmentNumber + 1
        let forgedBytes = buildSegment(forged, payload: out[0].payload, from: tcpClient, to: tcpServer)
        let bad = forgedBytes.withUnsafeBytes {
            listener.acceptCookie(try! TCPSegment($0), local: tcpServer, remote: tcpClient, now: ms(1003))
        }
        #expect(bad == nil)
    }

    @Test func synCookieWithoutTimestampsOffersOnlyTheMSS() {
        var cfg = TCPConfiguration()
        cfg.timestamps = false
        let listener = TCPListener(secrets: tcpSecrets)
        let c = TCPConnection(connectFrom: tcpClient, to: tcpServer, secrets: tcpSecrets, configuration: cfg, now: .zero)
        let syn = c.drain(now: .zero)
        var buf = [UInt8](repeating: 0, count: 128)
        let n = syn[0].bytes.withUnsafeBytes { raw in
            buf.withUnsafeMutableBytes {
                listener.synCookieReply(to: try! TCPSegment(raw), local: tcpServer, remote: tcpClient, now: .zero, into: $0)
            }
        }
        let synAck = WireSegment(bytes: Array(buf[0..<n!]), source: tcpServer, destination: tcpClient)
        #expect(synAck.options.maximumSegmentSize == 1460 && synAck.options.windowScale == nil)
        #expect(!synAck.options.sackPermitted && synAck.options.timestamps == nil)
        c.feed(synAck, now: ms(1))
        let ack = c.drain(now: ms(1))
        let accepted = ack[0].bytes.withUnsafeBytes {
            listener.acceptCookie(try! TCPSegment($0), local: tcpServer, remote: tcpClient, now: ms(2))
        }
        #expect(accepted?.0.state == .established)
        #expect(accepted?.0.mss == 1460 && accepted?.0.sackPermitted == false)
    }
}
