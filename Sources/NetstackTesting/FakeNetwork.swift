import Netstack

/// Something attached to a FakeNetwork: a stack, a switch, a test host.
/// The network calls it with frames and lets it run at its deadlines; it
/// sends frames with `network.transmit(from:frame:)`.
public protocol FakeNetworkNode: AnyObject {
    /// A frame arrives on `port` at `network.now` (a copy: keep it if needed).
    func receive(_ frame: UnsafeRawBufferPointer, on port: Int, network: FakeNetwork)
    /// Runs whatever is due at `network.now` (timers, queued output).
    func poll(network: FakeNetwork)
    /// When the node next needs `poll`; nil when it waits only for frames.
    var nextDeadline: Instant? { get }
}

/// One port of one node.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var node: Int
    public var port: Int
    public init(node: Int, port: Int) {
        self.node = node
        self.port = port
    }
    public var description: String { "node\(node):\(port)" }
}

/// Many nodes and point-to-point links stepped in virtual time by one thread.
/// Deterministic: the same nodes, links, seed and inputs give the same frames
/// at the same instants (ties are broken by send order).
public final class FakeNetwork {
    public private(set) var now: Instant
    var nodes: [any FakeNetworkNode] = []
    /// Where each endpoint's frames go, and what the link does to them.
    var directions: [Endpoint: Direction] = [:]
    var inFlight = Heap()
    var sequence: UInt64 = 0

    struct Direction {
        var to: Endpoint
        var impairment: Impairment
        var rng: SeededGenerator
        var statistics = LinkStatistics()
        /// When the serialiser (rate) is next free.
        var busyUntil: Instant = .zero
        var queued = 0
    }

    public init(start: Instant = .zero) { now = start }

    /// Adds a node; returns its index for `Endpoint(node:port:)`.
    @discardableResult
    public func add(_ node: any FakeNetworkNode) -> Int {
        nodes.append(node)
        return nodes.count - 1
    }

    /// Joins two endpoints with a link; each direction has its own
    /// impairment and its own generator seeded from `seed`.
    public func connect(_ a: Endpoint, _ b: Endpoint, aToB: Impairment = .none, bToA: Impairment = .none,
                        seed: UInt64 = 1) {
        precondition(aToB.isValid && bToA.isValid, "FakeNetwork.connect: impairment out of range")
        precondition(directions[a] == nil && directions[b] == nil, "FakeNetwork.connect: \(a) or \(b) is already linked")
        directions[a] = Direction(to: b, impairment: aToB, rng: SeededGenerator(seed: seed &* 2 &+ 1))
        directions[b] = Direction(to: a, impairment: bToA, rng: SeededGenerator(seed: seed &* 2 &+ 2))
    }

    /// Changes one direction's impairment (like `tc qdisc change … netem`).
    public func setImpairment(from: Endpoint, _ impairment: Impairment) {
        precondition(impairment.isValid, "FakeNetwork.setImpairment: impairment out of range")
        directions[from]?.impairment = impairment
    }

    public func statistics(from: Endpoint) -> LinkStatistics { directions[from]?.statistics ?? LinkStatistics() }

    /// Sends a frame out of `from` at `now`; the link's impairment decides
    /// whether, when, how often and how damaged it arrives.
    public func transmit(from: Endpoint, frame: UnsafeRawBufferPointer) {
        guard var d = directions[from] else { return } // unplugged port: the frame is gone
        d.statistics.sent += 1
        defer { directions[from] = d }
        let imp = d.impairment
        if d.rng.chance(imp.loss) {
            d.statistics.lost += 1
            return
        }
        let copies = d.rng.chance(imp.duplicate) ? 2 : 1
        if copies == 2 { d.statistics.duplicated += 1 }
        for _ in 0..<copies {
            guard d.queued < imp.limit else {
                d.statistics.overLimit += 1
                continue
            }
            var bytes = Array(frame)
            if d.rng.chance(imp.corrupt), !bytes.isEmpty {
                let bit = Int(d.rng.next() % UInt64(bytes.count * 8))
                bytes[bit / 8] ^= UInt8(1 << (bit % 8))
                d.statistics.corrupted += 1
            }
            var departure = now
            if let rate = imp.rate {
                let start = max(now, d.busyUntil)
                let ns = Int64((UInt64(bytes.count) * 8 * 1_000_000_000 + rate - 1) / rate)
                departure = start + .nanoseconds(ns)
                d.busyUntil = departure
            }
            var arrival = departure
            if d.rng.chance(imp.reorder) && imp.delay > .zero {
                d.statistics.reordered += 1
            } else {
                var delay = imp.delay
                if imp.jitter > .zero {
                    let span = UInt64(imp.jitter.nanoseconds) * 2 + 1
                    delay = delay + .nanoseconds(Int64(d.rng.next() % span) - imp.jitter.nanoseconds)
                    if delay < .zero { delay = .zero }
                }
                arrival = departure + delay
            }
            d.queued += 1
            sequence += 1
            inFlight.push(InFlight(arrival: arrival, sequence: sequence, from: from, to: d.to, bytes: bytes))
        }
    }

    /// The next instant anything happens: a frame arrives or a node is due.
    public var nextEvent: Instant? {
        var best = inFlight.peek?.arrival
        for n in nodes {
            if let t = n.nextDeadline, best == nil || t < best! { best = t }
        }
        return best
    }

    /// Moves time to the next event (not past `limit`) and runs it: delivers
    /// every frame due, then polls every node that is due. Returns false
    /// when nothing is due up to `limit` (time then stands at `limit`).
    @discardableResult
    public func step(until limit: Instant = .distantFuture) -> Bool {
        guard let t = nextEvent, t <= limit else {
            if limit != .distantFuture, limit > now { now = limit }
            return false
        }
        if t > now { now = t }
        while let f = inFlight.peek, f.arrival <= now {
            let frame = inFlight.pop()!
            directions[frame.from]?.queued -= 1
            directions[frame.from]?.statistics.delivered += 1
            frame.bytes.withUnsafeBytes { nodes[frame.to.node].receive($0, on: frame.to.port, network: self) }
        }
        for n in nodes where (n.nextDeadline.map { $0 <= now } ?? false) {
            n.poll(network: self)
        }
        return true
    }

    /// Runs events until `limit` or until `maxSteps` events (a guard against
    /// nodes that never go idle). Returns the number of steps taken.
    @discardableResult
    public func run(until limit: Instant, maxSteps: Int = 10_000_000) -> Int {
        var steps = 0
        while steps < maxSteps, step(until: limit) { steps += 1 }
        return steps
    }

    /// Runs until nothing is in flight and no node has a deadline, or
    /// `maxSteps` events. Returns true if the network went idle.
    @discardableResult
    public func runUntilIdle(maxSteps: Int = 10_000_000) -> Bool {
        var steps = 0
        while steps < maxSteps {
            guard step() else { return true }
            steps += 1
        }
        return false
    }
}

struct InFlight {
    var arrival: Instant
    var sequence: UInt64
    var from: Endpoint
    var to: Endpoint
    var bytes: [UInt8]

    func before(_ o: InFlight) -> Bool { (arrival, sequence) < (o.arrival, o.sequence) }
}

/// A binary min-heap of frames in flight, by (arrival, send order).
struct Heap {
    var items: [InFlight] = []

    var peek: InFlight? { items.first }

    mutating func push(_ x: InFlight) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].before(items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> InFlight? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && items[l].before(items[m]) { m = l }
            if r < items.count && items[r].before(items[m]) { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        return top
    }
}
