import Testing
import Netstack
@testable import NetstackTesting

/// Sends `count` frames, one every `interval`, each carrying its sequence
/// number and `size - 4` filler bytes.
final class Source: FakeNetworkNode {
    let endpoint: Endpoint
    let count: Int
    let interval: TimeDelta
    let size: Int
    var sent = 0
    var next: Instant

    init(endpoint: Endpoint, count: Int, interval: TimeDelta, size: Int = 64, start: Instant = .zero) {
        self.endpoint = endpoint
        self.count = count
        self.interval = interval
        self.size = size
        next = start
    }

    func receive(_ frame: UnsafeRawBufferPointer, on port: Int, network: FakeNetwork) {}

    func poll(network: FakeNetwork) {
        // interval zero: a burst, all at once.
        repeat {
            var bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: sent), count: size)
            withUnsafeBytes(of: UInt32(sent).bigEndian) { for i in 0..<4 { bytes[i] = $0[i] } }
            bytes.withUnsafeBytes { network.transmit(from: endpoint, frame: $0) }
            sent += 1
            next = next + interval
        } while interval == .zero && sent < count
    }

    var nextDeadline: Instant? { sent < count ? next : nil }

    static func sequence(_ frame: [UInt8]) -> Int {
        Int(frame[0]) << 24 | Int(frame[1]) << 16 | Int(frame[2]) << 8 | Int(frame[3])
    }
}

final class Sink: FakeNetworkNode {
    var arrivals: [(time: Instant, bytes: [UInt8])] = []
    func receive(_ frame: UnsafeRawBufferPointer, on port: Int, network: FakeNetwork) {
        arrivals.append((network.now, Array(frame)))
    }
    func poll(network: FakeNetwork) {}
    var nextDeadline: Instant? { nil }
    var sequences: [Int] { arrivals.map { Source.sequence($0.bytes) } }
}

@Suite struct FakeNetworkTests {
    /// Source on node 0 port 0 → sink on node 1 port 0 through `impairment`.
    func run(_ impairment: Impairment, count: Int = 2000, interval: TimeDelta = .milliseconds(1),
             size: Int = 64, seed: UInt64 = 7) -> (Sink, LinkStatistics, FakeNetwork) {
        let net = FakeNetwork()
        let a = Endpoint(node: 0, port: 0), b = Endpoint(node: 1, port: 0)
        let source = Source(endpoint: a, count: count, interval: interval, size: size)
        let sink = Sink()
        net.add(source)
        net.add(sink)
        net.connect(a, b, aToB: impairment, seed: seed)
        #expect(net.runUntilIdle(maxSteps: 1_000_000))
        return (sink, net.statistics(from: a), net)
    }

    @Test func perfectLinkDeliversInOrderAfterTheDelay() {
        let (sink, stats, _) = run(Impairment(delay: .milliseconds(10)), count: 100)
        #expect(sink.sequences == Array(0..<100))
        for (i, a) in sink.arrivals.enumerated() {
            #expect(a.time == Instant.zero + .milliseconds(Int64(i)) + .milliseconds(10))
        }
        #expect(stats.sent == 100 && stats.delivered == 100 && stats.lost == 0)
    }

    @Test func lossIsNearTheRateAndReproducible() {
        let (sink, stats, _) = run(Impairment(loss: 0.1), count: 5000)
        #expect((400...600).contains(stats.lost), "lost \(stats.lost) of 5000")
        #expect(sink.arrivals.count == 5000 - stats.lost)
        let (again, _, _) = run(Impairment(loss: 0.1), count: 5000)
        #expect(again.sequences == sink.sequences, "same seed, same losses")
        let (other, _, _) = run(Impairment(loss: 0.1), count: 5000, seed: 8)
        #expect(other.sequences != sink.sequences, "another seed, other losses")
    }

    @Test func duplicatesAreIdenticalCopies() {
        let (sink, stats, _) = run(Impairment(duplicate: 0.05), count: 4000)
        #expect((120...280).contains(stats.duplicated))
        #expect(sink.arrivals.count == 4000 + stats.duplicated)
        let counts = Dictionary(grouping: sink.arrivals, by: { Source.sequence($0.bytes) })
        #expect(counts.values.filter { $0.count == 2 }.count == stats.duplicated)
        #expect(counts.values.allSatisfy { Set($0.map(\.bytes)).count == 1 })
    }

    @Test func reorderSendsSomeFramesAheadOfOthers() {
        let (sink, stats, _) = run(Impairment(delay: .milliseconds(10), reorder: 0.25), count: 2000)
        #expect((400...600).contains(stats.reordered))
        #expect(sink.sequences != Array(0..<2000))
        #expect(sink.sequences.sorted() == Array(0..<2000), "nothing lost or duplicated")
        let inversions = zip(sink.sequences, sink.sequences.dropFirst()).filter { $0 > $1 }.count
        #expect(inversions > 100)
    }

    @Test func corruptionFlipsExactlyOneBit() {
        let (sink, stats, _) = run(Impairment(corrupt: 0.05), count: 2000, size: 100)
        #expect((60...140).contains(stats.corrupted))
        var damaged = 0
        for a in sink.arrivals {
            // Rebuild what was sent from the filler byte, which is the
            // sequence number's low byte; the sequence field may be the damaged one.
            let filler = a.bytes[4...].reduce(into: [UInt8: Int]()) { $0[$1, default: 0] += 1 }.max { $0.value < $1.value }!.key
            var diff = 0
            for (i, byte) in a.bytes.enumerated() where i >= 4 { diff += (byte ^ filler).nonzeroBitCount }
            if diff > 0 { damaged += 1; #expect(diff == 1) }
        }
        // Flips in the 4-byte sequence field are not visible above.
        #expect(damaged <= stats.corrupted && damaged >= stats.corrupted * 8 / 10)
    }

    @Test func rateSerialisesFrames() {
        // 1000-byte frames at 1 Mbit/s take 8 ms each; sent as one burst.
        let (sink, _, _) = run(Impairment(rate: 1_000_000), count: 10, interval: .zero, size: 1000)
        #expect(sink.arrivals.map(\.time) == (1...10).map { Instant.zero + .milliseconds(Int64(8 * $0)) })
    }

    @Test func jitterStaysWithinBounds() {
        let (sink, _, _) = run(Impairment(delay: .milliseconds(50), jitter: .milliseconds(10)), count: 1000)
        let delays = sink.arrivals.map { a in (a.time - (Instant.zero + .milliseconds(Int64(Source.sequence(a.bytes))))).nanoseconds }
        #expect(delays.allSatisfy { (40_000_000...60_000_000).contains($0) })
        #expect(Set(delays).count > 100)
        #expect(delays.min()! < 42_000_000 && delays.max()! > 58_000_000)
    }

    @Test func limitDropsWhatDoesNotFit() {
        let (sink, stats, _) = run(Impairment(rate: 1_000_000, limit: 100), count: 300, interval: .zero, size: 1000)
        #expect(stats.overLimit == 200 && sink.arrivals.count == 100)
    }

    @Test func manualClockOnlyMovesForward() {
        let clock = ManualClock()
        clock.advance(by: .seconds(2))
        clock.advance(to: Instant.zero + .seconds(1))
        #expect(clock.now == Instant.zero + .seconds(2))
    }
}
