// Congestion control in isolation (CUBIC's curve, Reno's line, HyStart++'s
// exit) and the connection-level reactions that are not loss recovery:
// path-MTU reduction, ICMP errors, TCP_CORK, tcp_info.
import Testing
import NetWire
@testable import Netstack

@Suite struct TCPCongestionTests {
    /// Drives `cc` with one ACK per segment, one window per RTT; returns the
    /// window after each round.
    func rounds(_ cc: inout TCPCongestionControl, _ w: inout TCPCongestionWindow, count: Int,
                rtt: TimeDelta, start: Instant) -> [Int] {
        var out: [Int] = []
        var now = start
        var seq = TCPSeqNumber(0)
        for _ in 0..<count {
            let n = w.cwnd
            for _ in 0..<n {
                seq += 1
                cc.onAck(&w, acked: 1, rttMicros: rtt.nanoseconds / 1000, ack: seq, sndNxt: seq + n, now: now)
            }
            now = now + rtt
            out.append(w.cwnd)
        }
        return out
    }

    @Test func cubicReturnsToWmaxAfterK() {
        var cc = TCPCongestionControl(.cubic)
        var w = TCPCongestionWindow(cwnd: 100)
        w.ssthresh = 100
        // A loss at 100 segments: β = 717/1024 → 70.
        w.ssthresh = cc.ssthresh(cwnd: 100)
        #expect(w.ssthresh == 70)
        w.cwnd = w.ssthresh
        let trace = rounds(&cc, &w, count: 80, rtt: .milliseconds(100), start: Instant.zero + .seconds(10))
        // K = ∛((100 − 70)/0.4) ≈ 4.2 s: concave growth up to W_max near K, a
        // plateau there, then convex growth beyond it.
        let reach = trace.firstIndex { $0 >= 100 }!
        #expect(reach >= 35 && reach <= 46)
        #expect(trace[10] - trace[0] > trace[30] - trace[20])     // concave: fast then slow
        #expect(trace[79] - trace[69] > trace[50] - trace[40])    // convex beyond W_max
    }

    @Test func cubicFastConvergenceLowersWmax() {
        var cc = TCPCongestionControl(.cubic)
        _ = cc.ssthresh(cwnd: 100)
        // A second loss below the previous W_max remembers less (fast convergence).
        _ = cc.ssthresh(cwnd: 80)
        guard case .cubic(let s) = cc else { Issue.record("not cubic"); return }
        #expect(s.lastMaxCwnd == 80 * (1024 + 717) / 2048)
    }

    @Test func renoAddsOneSegmentPerRound() {
        var cc = TCPCongestionControl(.reno)
        var w = TCPCongestionWindow(cwnd: 20)
        w.ssthresh = 20
        let trace = rounds(&cc, &w, count: 5, rtt: .milliseconds(50), start: .zero)
        #expect(trace == [21, 22, 23, 24, 25])
        #expect(cc.ssthresh(cwnd: 25) == 12)
    }

    @Test func slowStartDoublesPerRound() {
        var cc = TCPCongestionControl(.reno)
        var w = TCPCongestionWindow(cwnd: 10)
        let trace = rounds(&cc, &w, count: 3, rtt: .milliseconds(50), start: .zero)
        #expect(trace == [20, 40, 80])
    }

    @Test func hyStartPlusPlusLeavesSlowStartOnRisingRTT() {
        var h = HyStartPlusPlus()
        var w = TCPCongestionWindow(cwnd: 10)
        var seq = TCPSeqNumber(0)
        var sndNxt = TCPSeqNumber(10)
        // Round 1 at 50 ms, then rounds at 60 ms (η = max(50/8, 4) = 6.25 ms).
        func round(_ rttUs: Int64) -> Int {
            var granted = 0
            let n = w.cwnd
            for _ in 0..<n {
                seq += 1
                granted += h.onAck(acked: 1, rttMicros: rttUs, ack: seq, sndNxt: sndNxt, window: &w)
            }
            sndNxt = seq + n
            _ = w.slowStart(0)
            return granted
        }
        #expect(round(50_000) == 10)
        #expect(!h.inCSS)
        let g = round(60_000)
        #expect(h.inCSS)                       // entered after 8 samples of the new round
        #expect(g < 10)                        // CSS grows by a quarter
        for _ in 0..<6 where !h.done { _ = round(60_000) }
        #expect(h.done)
        #expect(w.ssthresh == w.cwnd)          // slow start over after CSS_ROUNDS
    }

    @Test func pathMTUReductionResendsSmallerSegments() {
        let (c, s) = establishedPair()
        let mss = c.mss
        #expect(c.sendAll([UInt8](repeating: 3, count: 2 * mss), now: ms(100)) == 2 * mss)
        let flight = c.drain(now: ms(100))
        #expect(flight.count == 2)
        // Bogus: a quote outside the window is ignored.
        #expect(c.pathMTUChanged(1280, quotedSequence: c.sndNxt + 100_000, now: ms(101)).isEmpty)
        #expect(c.mss == mss)
        let e = c.pathMTUChanged(1280, quotedSequence: flight[0].seq, now: ms(101))
        #expect(e.contains(.output))
        #expect(c.mss == 1280 - 20 - 20 - 12)
        #expect(c.window.cwnd == 10)           // no congestion response
        let again = c.drain(now: ms(101))
        #expect(again.count >= 3)
        #expect(again.allSatisfy { $0.payload.count <= c.mss })
        for seg in again { s.feed(seg, now: ms(105)) }
        let got = s.readAll(now: ms(105))
        #expect(got.count == 2 * mss && got.allSatisfy { $0 == 3 })
    }

    @Test func icmpErrorAbortsAConnectAttemptAndIsSoftLater() {
        let c = TCPConnection(connectFrom: tcpClient, to: tcpServer, iss: TCPSeqNumber(10), now: .zero)
        _ = c.drain(now: .zero)
        let e = c.receiveICMPError(.EHOSTUNREACH, quotedSequence: TCPSeqNumber(10), now: ms(5))
        #expect(e.contains(.failed) && c.error == .EHOSTUNREACH && c.state == .closed)

        let (c2, _) = establishedPair()
        #expect(c2.receiveICMPError(.EHOSTUNREACH, quotedSequence: c2.sndUna, now: ms(50)).isEmpty)
        #expect(c2.state == .established && c2.error == nil && c2.softError == .EHOSTUNREACH)
    }

    @Test func corkHoldsPartialSegmentsUntilUncorked() {
        var cfg = TCPConfiguration()
        cfg.cork = true
        let (c, _) = establishedPair(client: cfg)
        #expect(c.sendAll([UInt8](repeating: 1, count: 100), now: ms(100)) == 100)
        #expect(c.drain(now: ms(100)).isEmpty)
        #expect(c.sendAll([UInt8](repeating: 2, count: c.mss), now: ms(101)) == c.mss)
        let full = c.drain(now: ms(101))
        #expect(full.count == 1 && full[0].payload.count == c.mss)    // full segments go
        c.configuration.cork = false
        let rest = c.drain(now: ms(102))
        #expect(rest.count == 1 && rest[0].payload.count == 100)
    }

    @Test func infoReportsWhatSsShows() {
        let (c, _) = establishedPair()
        let i = c.info
        #expect(i.state == .established)
        #expect(i.sndMss == 1448 && i.advmss == 1460)
        #expect(i.sndWscale == 10 && i.rcvWscale == 10)
        #expect(i.rto == .milliseconds(210) && i.rtt == .milliseconds(10))
        #expect(i.sndCwnd == 10 && i.sndSsthresh == nil)
        #expect(i.timestamps && i.sack)
        #expect(i.congestionAlgorithm == .cubic)
    }
}
