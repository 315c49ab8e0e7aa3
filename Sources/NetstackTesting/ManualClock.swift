import Netstack
import Synchronization

/// Time that moves only when a test moves it. Shared by reference between
/// the parts of a test; safe to read from any thread.
public final class ManualClock: Sendable {
    private let current: Mutex<Instant>

    public init(_ start: Instant = .zero) { current = Mutex(start) }

    public var now: Instant { current.withLock { $0 } }

    /// Moves time forward by `delta` (never backwards).
    public func advance(by delta: TimeDelta) {
        precondition(delta.nanoseconds >= 0, "ManualClock.advance(by: \(delta)): time does not go backwards")
        current.withLock { $0 = $0 + delta }
    }

    /// Moves time to `instant` if it is later; earlier instants are ignored.
    public func advance(to instant: Instant) {
        current.withLock { if instant > $0 { $0 = instant } }
    }
}

/// SplitMix64: small, fast, and the same sequence on every platform for a
/// seed — what makes an impaired run reproducible.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// True with probability `p` (0…1).
    public mutating func chance(_ p: Double) -> Bool {
        p > 0 && (p >= 1 || Double(next() >> 11) * 0x1.0p-53 < p)
    }
}
