import Testing
@testable import Netstack

@Suite struct TimerWheelTests {
    struct Rng: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func firesNeverEarlyAndInOrder() {
        var w = TimerWheel<Int>(tick: .milliseconds(1))
        w.schedule(3, at: Instant.zero + .milliseconds(250))
        w.schedule(1, at: Instant.zero + .microseconds(1500)) // rounds up to 2 ms
        w.schedule(2, at: Instant.zero + .seconds(10))
        #expect(w.popExpired(now: Instant.zero + .microseconds(1999)) == nil)
        #expect(w.popExpired(now: Instant.zero + .milliseconds(2))?.payload == 1)
        #expect(w.nextDeadline! <= Instant.zero + .milliseconds(250))
        #expect(w.popExpired(now: Instant.zero + .seconds(3600))?.payload == 3)
        #expect(w.popExpired(now: Instant.zero + .seconds(3600))?.payload == 2)
        #expect(w.popExpired(now: Instant.zero + .seconds(3600)) == nil)
        #expect(w.isEmpty && w.nextDeadline == nil)
    }

    @Test func cancelAndRescheduleAndStaleHandles() {
        var w = TimerWheel<String>()
        let a = w.schedule("a", at: Instant.zero + .milliseconds(10))
        let b = w.schedule("b", at: Instant.zero + .milliseconds(20))
        #expect(w.cancel(a) == "a")
        #expect(w.cancel(a) == nil) // stale
        let moved = w.reschedule(b, to: Instant.zero + .milliseconds(5))
        #expect(moved)
        #expect(w.deadline(of: b) == Instant.zero + .milliseconds(5))
        let fired = w.popExpired(now: Instant.zero + .milliseconds(5))
        #expect(fired?.payload == "b" && fired?.handle == b)
        let movedStale = w.reschedule(b, to: .zero)
        #expect(!w.isPending(b) && !movedStale)
        // A reused slot gets a new generation: the old handle stays stale.
        let c = w.schedule("c", at: .zero)
        let cancelledStale = w.cancel(b)
        #expect(c != a && c != b && cancelledStale == nil && w.isPending(c))
    }

    @Test func pastDeadlinesFireAtOnceEvenMidDrain() {
        var w = TimerWheel<Int>()
        let now = Instant.zero + .seconds(5)
        w.schedule(1, at: Instant.zero + .seconds(1))
        #expect(w.popExpired(now: now)?.payload == 1)
        w.schedule(2, at: now) // due now, scheduled while draining
        #expect(w.popExpired(now: now)?.payload == 2)
    }

    /// Random schedules, cancels and reschedules against a sorted-list model:
    /// the wheel must fire exactly the model's timers, each at the first poll
    /// at or after its rounded deadline, in deadline order.
    @Test(arguments: [1, 2, 3, 4])
    func agreesWithReferenceModel(seed: UInt64) {
        var rng = Rng(state: seed)
        var w = TimerWheel<Int>(tick: .milliseconds(1))
        var model: [Int: (deadlineTick: Int64, handle: TimerHandle)] = [:]
        var now = Instant.zero
        var nextID = 0
        for _ in 0..<3000 {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<5:
                // Spread over every level: sub-tick to days.
                let scale = [Int64(1), 1000, 100_000, 10_000_000, 1_000_000_000, 100_000_000_000][Int.random(in: 0..<6, using: &rng)]
                let delay = Int64.random(in: 0...(scale * 1000), using: &rng)
                let deadline = now + .nanoseconds(delay)
                let h = w.schedule(nextID, at: deadline)
                model[nextID] = ((deadline.nanoseconds + 999_999) / 1_000_000, h)
                nextID += 1
            case 5:
                if let (id, entry) = model.randomElement(using: &rng) {
                    #expect(w.cancel(entry.handle) == id)
                    model[id] = nil
                }
            case 6:
                if let (id, entry) = model.randomElement(using: &rng) {
                    let deadline = now + .nanoseconds(Int64.random(in: 0...10_000_000_000, using: &rng))
                    let moved = w.reschedule(entry.handle, to: deadline)
                    #expect(moved)
                    model[id] = ((deadline.nanoseconds + 999_999) / 1_000_000, entry.handle)
                }
            default:
                let step = [Int64(100_000), 5_000_000, 700_000_000, 50_000_000_000][Int.random(in: 0..<4, using: &rng)]
                now = now + .nanoseconds(Int64.random(in: 0...step, using: &rng))
                let nowTick = now.nanoseconds / 1_000_000
                let due = model.filter { $0.value.deadlineTick <= nowTick }
                    .sorted { ($0.value.deadlineTick, $0.key) < ($1.value.deadlineTick, $1.key) }
                var fired: [(Int, Int64)] = []
                while let f = w.popExpired(now: now) { fired.append((f.payload, model[f.payload]?.deadlineTick ?? -1)) }
                #expect(Set(fired.map(\.0)) == Set(due.map(\.key)), "now \(now)")
                // Deadline order (ties in any order).
                #expect(fired.map(\.1) == fired.map(\.1).sorted())
                for id in fired.map(\.0) { model[id] = nil }
                if let next = w.nextDeadline, let earliest = model.values.map(\.deadlineTick).min() {
                    #expect(next.nanoseconds <= earliest * 1_000_000, "nextDeadline must never be late")
                }
            }
            #expect(w.count == model.count)
        }
    }
}
