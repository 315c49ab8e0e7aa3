// Hostile input: a connection fed seeded random segments (flags, sequence
// and acknowledgment numbers near and far from its windows, SACK blocks,
// timestamps, payloads) and timer expiries must neither trap nor corrupt
// its scoreboard, and must keep its invariants.
import Testing
import NetWire
@testable import Netstack

@Suite struct TCPRobustnessTests {
    @Test(arguments: [UInt64(11), 12, 13, 14])
    func randomSegmentsDoNotBreakTheConnection(seed: UInt64) {
        var rng = Random(seed: seed)
        let (c, s) = establishedPair()
        var now = ms(100)
        // Some real traffic in both directions first.
        _ = c.sendAll([UInt8](repeating: 1, count: 30_000), now: now)
        _ = s.sendAll([UInt8](repeating: 2, count: 5_000), now: now)
        var buffer = [UInt8](repeating: 0, count: 2048)
        for step in 0..<4000 {
            now = now + .microseconds(Int64(rng.below(20_000)))
            let target = rng.below(2) == 0 ? c : s
            let peer = target === c ? s : c
            // Sequence numbers: near the receive window, or anywhere.
            let seqBase = rng.below(4) == 0 ? TCPSeqNumber(rng.nextUInt32()) : target.rcvNxt
            let seq = seqBase + Int(Int32(bitPattern: rng.nextUInt32()) >> 16)
            let ackBase = rng.below(4) == 0 ? TCPSeqNumber(rng.nextUInt32()) : target.sndUna
            let ack = ackBase + Int(Int32(bitPattern: rng.nextUInt32()) >> 18)
            var flags = TCPFlags(rawValue: UInt16(rng.below(64)))
            if rng.below(3) != 0 { flags.insert(.ack) }
            var options = TCPOptions()
            if rng.below(2) == 0 {
                options.timestamps = TCPTimestamps(value: rng.nextUInt32(), echoReply: rng.nextUInt32())
            }
            if rng.below(3) == 0 {
                var blocks = TCPSackBlocks()
                for _ in 0..<Int(rng.below(4)) {
                    let l = target.sndUna + Int(rng.below(60_000))
                    blocks.append(TCPSackBlock(left: l, right: l + Int(rng.below(5000))))
                }
                options.sackBlocks = blocks
                if blocks.count > 3 { options.timestamps = nil }
            }
            let payload = [UInt8](repeating: UInt8(step & 0xff), count: Int(rng.below(4)) == 0 ? Int(rng.below(1400)) : 0)
            let repr = TCPRepr(sourcePort: peer.local.port, destinationPort: target.local.port, sequenceNumber: seq,
                               acknowledgmentNumber: ack, flags: flags, windowSize: UInt16(truncatingIfNeeded: rng.nextUInt32()),
                               options: options)
            target.feed(repr, payload: payload, now: now)
            if rng.below(8) == 0, target.nextDeadline <= now + .seconds(1) {
                now = max(now, target.nextDeadline)
                _ = target.timerFired(now: now)
            }
            for conn in [c, s] {
                for _ in 0..<200 {
                    let n = buffer.withUnsafeMutableBytes { conn.nextSegment(into: $0, now: now) }
                    guard let n else { break }
                    // Whatever it writes must parse and checksum.
                    let ok = buffer.withUnsafeBytes { raw -> Bool in
                        guard let seg = try? TCPSegment(UnsafeRawBufferPointer(rebasing: raw[0..<n])) else { return false }
                        return seg.checksumVerifies(pseudo(conn.local, conn.remote))
                    }
                    #expect(ok)
                }
                #expect(conn.scoreboardIsConsistent)
                #expect(conn.packetsOut >= 0 && conn.sackedOut >= 0 && conn.lostOut >= 0 && conn.retransOut >= 0)
                _ = conn.readAll(now: now)
            }
            if c.state == .closed && s.state == .closed { break }
        }
    }
}
