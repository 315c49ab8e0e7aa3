// Time as a value. Nothing in Netstack reads a clock: callers pass `now`
// (DESIGN.md §4). The host passes the monotonic clock; tests and labs pass
// virtual time from a ManualClock or FakeNetwork.

/// A point in time: nanoseconds since an arbitrary origin (the host uses
/// CLOCK_MONOTONIC's; labs start at zero).
public struct Instant: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    @inlinable @inline(__always)
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static let zero = Instant(nanoseconds: 0)
    /// Later than any real deadline; "no deadline" without an Optional.
    public static let distantFuture = Instant(nanoseconds: .max)

    @inlinable
    public static func < (a: Instant, b: Instant) -> Bool { a.nanoseconds < b.nanoseconds }

    @inlinable
    public static func + (a: Instant, d: TimeDelta) -> Instant {
        let (sum, overflow) = a.nanoseconds.addingReportingOverflow(d.nanoseconds)
        return Instant(nanoseconds: overflow ? (d.nanoseconds > 0 ? .max : .min) : sum)
    }

    @inlinable
    public static func - (a: Instant, d: TimeDelta) -> Instant { a + TimeDelta(nanoseconds: -d.nanoseconds) }

    @inlinable
    public static func - (a: Instant, b: Instant) -> TimeDelta {
        TimeDelta(nanoseconds: a.nanoseconds &- b.nanoseconds)
    }

    /// Seconds with microsecond precision, as `ping` and traces print them.
    public var description: String {
        let s = nanoseconds / 1_000_000_000
        let us = (nanoseconds % 1_000_000_000) / 1000
        let frac = String(us)
        return "\(s)." + String(repeating: "0", count: 6 - frac.count) + frac
    }
}

/// A signed span of time in nanoseconds. Not the standard library's
/// `Duration` (128-bit): timers are re-armed per packet and want one word.
public struct TimeDelta: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    @inlinable @inline(__always)
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static let zero = TimeDelta(nanoseconds: 0)

    @inlinable public static func nanoseconds(_ n: Int64) -> TimeDelta { TimeDelta(nanoseconds: n) }
    @inlinable public static func microseconds(_ n: Int64) -> TimeDelta { TimeDelta(nanoseconds: n &* 1000) }
    @inlinable public static func milliseconds(_ n: Int64) -> TimeDelta { TimeDelta(nanoseconds: n &* 1_000_000) }
    @inlinable public static func seconds(_ n: Int64) -> TimeDelta { TimeDelta(nanoseconds: n &* 1_000_000_000) }
    public init(seconds: Double) { nanoseconds = Int64((seconds * 1e9).rounded()) }

    public init(_ duration: Duration) {
        let (s, atto) = duration.components
        nanoseconds = s &* 1_000_000_000 &+ atto / 1_000_000_000
    }

    public var duration: Duration { .nanoseconds(nanoseconds) }
    public var seconds: Double { Double(nanoseconds) / 1e9 }
    public var milliseconds: Double { Double(nanoseconds) / 1e6 }

    @inlinable public static func < (a: TimeDelta, b: TimeDelta) -> Bool { a.nanoseconds < b.nanoseconds }
    @inlinable public static func + (a: TimeDelta, b: TimeDelta) -> TimeDelta { TimeDelta(nanoseconds: a.nanoseconds &+ b.nanoseconds) }
    @inlinable public static func - (a: TimeDelta, b: TimeDelta) -> TimeDelta { TimeDelta(nanoseconds: a.nanoseconds &- b.nanoseconds) }
    @inlinable public static func * (a: TimeDelta, k: Int64) -> TimeDelta { TimeDelta(nanoseconds: a.nanoseconds &* k) }

    public var description: String {
        if nanoseconds % 1_000_000_000 == 0 { return "\(nanoseconds / 1_000_000_000)s" }
        if nanoseconds % 1_000_000 == 0 { return "\(nanoseconds / 1_000_000)ms" }
        if nanoseconds % 1000 == 0 { return "\(nanoseconds / 1000)us" }
        return "\(nanoseconds)ns"
    }
}
