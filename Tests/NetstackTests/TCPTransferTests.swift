// Two TCPConnections moving 10 MiB through a simulated link in virtual
// time: a bottleneck rate with a drop-tail queue, propagation delay, and
// seeded loss, reordering and duplication. The stream must arrive intact
// (FNV-1a hashes of what was written and read match), within bounded steps
// and virtual time, and the connections must close cleanly. The writer
// sends slices of a fixed pseudo-random pattern (period 1 000 003, prime,
// so no segment boundary lines up with it); the reader compares every byte
// it reads against the pattern at its stream offset and keeps an FNV-1a
// digest of both streams, so corruption, loss, duplication or reordering
// of stream bytes all fail the test.
import Testing
import NetWire
@testable import Netstack
#if canImport(Glibc)
import Glibc
#endif

/// A two-way link: rate-limited, with a queue limit, delay and impairments.
struct SimulatedLink {
    struct Packet {
        var at: Instant
        var order: Int
        var toServer: Bool
        var bytes: [UInt8]
    }

    var rng: Random
    var loss: Double
    var reorder: Double
    var duplicate: Double
    var delay: TimeDelta = .milliseconds(10)
    var bitsPerSecond: Int64 = 100_000_000
    var queueLimit: TimeDelta = .milliseconds(30)
    var busyUntil: [Instant] = [.zero, .zero]
    var heap: [Packet] = []
    var order = 0
    var dropped = 0
    var delivered = 0

    mutating func chance(_ p: Double) -> Bool {
        p > 0 && Double(rng.next() >> 11) / Double(1 << 53) < p
    }

    mutating func send(_ bytes: [UInt8], toServer: Bool, now: Instant) {
        let d = toServer ? 0 : 1
        let start = max(now, busyUntil[d])
        if start - now > queueLimit { dropped += 1; return }          // drop-tail
        let serialisation = TimeDelta(nanoseconds: Int64(bytes.count + 40) * 8 * 1_000_000_000 / bitsPerSecond)
        busyUntil[d] = start + serialisation
        if chance(loss) { dropped += 1; return }
        var at = busyUntil[d] + delay
        if chance(reorder) { at = at + .milliseconds(3) }
        push(Packet(at: at, order: order, toServer: toServer, bytes: bytes))
        order += 1
        if chance(duplicate) {
            push(Packet(at: at + .microseconds(100), order: order, toServer: toServer, bytes: bytes))
            order += 1
        }
    }

    var nextTime: Instant { heap.first?.at ?? .distantFuture }

    static func before(_ a: Packet, _ b: Packet) -> Bool { a.at < b.at || (a.at == b.at && a.order < b.order) }

    mutating func push(_ p: Packet) {
        heap.append(p)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if !Self.before(heap[i], heap[parent]) { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Packet {
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && Self.before(heap[l], heap[m]) { m = l }
                if r < heap.count && Self.before(heap[r], heap[m]) { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}

struct FNV1a {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    /// FNV-1a over 8-byte lanes of the stream offset's alignment would
    /// depend on chunking; this folds whole bytes, so any chunking of the
    /// same stream gives the same digest.
    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        var x = h
        let p = base.assumingMemoryBound(to: UInt8.self)
        var i = 0
        let n = bytes.count
        while i < n {
            x = (x ^ UInt64(p[i])) &* 0x0000_0100_0000_01b3
            i &+= 1
        }
        h = x
    }
}

/// The stream the client writes: byte i is pattern[i % period].
struct StreamPattern {
    static let period = 1_000_003
    let bytes: [UInt8]
    init(seed: UInt64) {
        var r = Random(seed: seed)
        var b = [UInt8](repeating: 0, count: Self.period + 65_536)
        var i = 0
        while i < b.count {
            let w = r.next()
            for k in 0..<8 where i + k < b.count { b[i + k] = UInt8(truncatingIfNeeded: w >> (8 * UInt64(k))) }
            i += 8
        }
        // The tail repeats the head so a slice never wraps.
        for k in 0..<65_536 { b[Self.period + k] = b[k] }
        bytes = b
    }

    /// Whether `data` is the stream from `offset` on (memcmp, chunk by chunk).
    func matches(_ data: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        var done = 0
        while done < data.count {
            let start = (offset + done) % Self.period
            let n = min(data.count - done, 65_536)
            let same = bytes.withUnsafeBytes { p in
                memcmp(p.baseAddress! + start, data.baseAddress! + done, n) == 0
            }
            if !same { return false }
            done += n
        }
        return true
    }
}

struct TransferOutcome {
    var completed = false
    var writtenHash: UInt64 = 0
    var readHash: UInt64 = 0
    var bytesRead = 0
    var virtualTime = Instant.zero
    var steps = 0
    var retransmits = 0
    var dropped = 0
    var streamMatches = true
    var timeouts = 0
    var lossProbes = 0
    var fastRetrans = 0
    var clientState = TCPState.closed
    var serverState = TCPState.closed
    var consistent = true
}

/// Moves `total` bytes client → server, then both close.
func runTransfer(total: Int, loss: Double, reorder: Double = 0, duplicate: Double = 0, seed: UInt64,
                 congestion: TCPCongestionAlgorithm = .cubic, maxSteps: Int = 3_000_000,
                 maxTime: TimeDelta = .seconds(600)) -> TransferOutcome {
    var cfg = TCPConfiguration()
    cfg.congestionControl = congestion
    var link = SimulatedLink(rng: Random(seed: seed), loss: loss, reorder: reorder, duplicate: duplicate)
    var now = Instant.zero
    let client = TCPConnection(connectFrom: tcpClient, to: tcpServer,
                               iss: tcpSecrets.initialSequenceNumber(local: tcpClient, remote: tcpServer, now: now),
                               timestampOffset: 77, configuration: cfg, now: now)
    var server: TCPConnection?
    let listener = TCPListener(configuration: cfg, secrets: tcpSecrets)
    var outcome = TransferOutcome()
    var written = 0
    var writtenHash = FNV1a()
    var readHash = FNV1a()
    let pattern = StreamPattern(seed: seed &+ 1000)
    var readBuffer = [UInt8](repeating: 0, count: 262_144)
    var segment = [UInt8](repeating: 0, count: 2048)
    var clientClosed = false
    var serverClosed = false

    for step in 0..<maxSteps {
        outcome.steps = step
        // The application: write while there is room, close when done.
        if client.state == .established || client.state == .closeWait {
            while written < total {
                let n = min(65_536, total - written)
                let start = written % StreamPattern.period
                let took = pattern.bytes.withUnsafeBytes { p in
                    let slice = UnsafeRawBufferPointer(rebasing: p[start..<(start + n)])
                    let took = (try? client.send(slice, now: now)) ?? 0
                    writtenHash.add(UnsafeRawBufferPointer(rebasing: slice[0..<took]))
                    return took
                }
                if took == 0 { break }
                written += took
            }
            if written == total && !clientClosed {
                client.close(now: now)
                clientClosed = true
            }
        }
        if let s = server {
            while true {
                let n = readBuffer.withUnsafeMutableBytes { (try? s.read(into: $0, now: now)) ?? 0 }
                if n == 0 { break }
                readBuffer.withUnsafeBytes { raw in
                    let got = UnsafeRawBufferPointer(rebasing: raw[0..<n])
                    readHash.add(got)
                    if !pattern.matches(got, at: outcome.bytesRead) { outcome.streamMatches = false }
                }
                outcome.bytesRead += n
            }
            if s.peerFinReceived && s.readableBytes == 0 && !serverClosed {
                s.close(now: now)
                serverClosed = true
            }
        }
        // Transmit everything due.
        for (conn, toServer) in [(client, true), (server, false)] {
            guard let conn else { continue }
            for _ in 0..<100_000 {
                let n = segment.withUnsafeMutableBytes { conn.nextSegment(into: $0, now: now) }
                guard let n else { break }
                link.send(Array(segment[0..<n]), toServer: toServer, now: now)
            }
        }
        let done = (client.state == .closed || client.state == .timeWait) && server?.state == .closed
        if done { outcome.completed = true; break }
        // The next event.
        var next = min(link.nextTime, client.nextDeadline)
        if let s = server { next = min(next, s.nextDeadline) }
        if next == .distantFuture || next - Instant.zero > maxTime { break }
        if next > now { now = next }
        while link.nextTime <= now {
            let p = link.pop()
            link.delivered += 1
            p.bytes.withUnsafeBytes { raw in
                let seg = try! TCPSegment(raw)
                if p.toServer {
                    if let s = server {
                        _ = s.receive(seg, now: now)
                    } else if case .accepted(let c) = listener.receive(seg, local: tcpServer, remote: tcpClient, now: now) {
                        server = c
                    }
                } else {
                    _ = client.receive(seg, now: now)
                }
            }
        }
        if step % 64 == 0 {
            outcome.consistent = outcome.consistent && client.scoreboardIsConsistent
                && (server?.scoreboardIsConsistent ?? true)
        }
        if client.nextDeadline <= now { _ = client.timerFired(now: now) }
        if let s = server, s.nextDeadline <= now { _ = s.timerFired(now: now) }
    }
    outcome.writtenHash = writtenHash.h
    outcome.readHash = readHash.h
    outcome.virtualTime = now
    outcome.retransmits = client.totalRetransmits
    outcome.timeouts = Int(client.pendingCounters[.timeouts])
    outcome.lossProbes = Int(client.pendingCounters[.lossProbes])
    outcome.fastRetrans = Int(client.pendingCounters[.fastRetrans])
    outcome.dropped = link.dropped
    outcome.clientState = client.state
    outcome.serverState = server?.state ?? .closed
    return outcome
}

@Suite struct TCPTransferTests {
    static let total = 10 * 1024 * 1024

    func check(_ o: TransferOutcome, maxSeconds: Int64) {
        #expect(o.completed)
        #expect(o.consistent)
        #expect(o.bytesRead == Self.total)
        #expect(o.readHash == o.writtenHash)
        #expect(o.streamMatches)
        #expect(o.virtualTime < Instant.zero + .seconds(maxSeconds))
        #expect(o.clientState == .timeWait)
        #expect(o.serverState == .closed)
    }

    @Test func theStreamCheckCatchesCorruption() {
        let p = StreamPattern(seed: 5)
        var slice = Array(p.bytes[10..<3000])
        let good = slice.withUnsafeBytes { p.matches($0, at: 10) }
        #expect(good)
        slice[1234] ^= 1
        let bad = slice.withUnsafeBytes { p.matches($0, at: 10) }
        #expect(!bad)
        let shifted = Array(p.bytes[11..<3001]).withUnsafeBytes { p.matches($0, at: 10) }
        #expect(!shifted)
        // Wrapping past the period.
        let wrap = Array(p.bytes[(StreamPattern.period - 5)..<(StreamPattern.period + 5)])
        let wrapped = wrap.withUnsafeBytes { p.matches($0, at: StreamPattern.period - 5) }
        #expect(wrapped)
    }

    @Test func tenMegabytesWithoutLoss() {
        let o = runTransfer(total: Self.total, loss: 0, seed: 1)
        check(o, maxSeconds: 10)
        // 10 MiB at 100 Mbit/s takes ~0.9 s on the wire; slow start and the
        // 20 ms RTT add a little.
        #expect(o.virtualTime < Instant.zero + .seconds(3))
    }

    @Test func tenMegabytesWithOnePercentLoss() {
        let o = runTransfer(total: Self.total, loss: 0.01, reorder: 0.01, duplicate: 0.005, seed: 2)
        check(o, maxSeconds: 120)
        #expect(o.retransmits > 0)
        // Losses are repaired by SACK/RACK fast retransmission, not timeouts
        // (seeded: 78 fast retransmissions, no RTO).
        #expect(o.fastRetrans > 0 && o.timeouts <= 2)
    }

    @Test func tenMegabytesWithFivePercentLoss() {
        let o = runTransfer(total: Self.total, loss: 0.05, reorder: 0.01, duplicate: 0.005, seed: 3)
        check(o, maxSeconds: 400)
        #expect(o.retransmits > 0)
        // Seeded: 363 fast retransmissions, 2 loss probes, 5 timeouts.
        #expect(o.fastRetrans > o.retransmits * 9 / 10 && o.timeouts <= 15)
    }

    @Test func newRenoAlsoDeliversUnderLoss() {
        let o = runTransfer(total: 2 * 1024 * 1024, loss: 0.02, reorder: 0.01, seed: 4, congestion: .reno)
        #expect(o.completed && o.bytesRead == 2 * 1024 * 1024 && o.readHash == o.writtenHash)
    }
}
