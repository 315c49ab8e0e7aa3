// Random: the core's seeded pseudo-random generator. Kernel counterpart:
// prandom_u32_state() (lib/random32.c, a Tausworthe generator netem seeds per
// qdisc) and get_random_u32() — the kernel's entropy-backed source, which a
// deterministic lab replaces with a seed.
//
// xoshiro256** (Blackman & Vigna, 2018) seeded through SplitMix64: four words
// of state, a handful of shifts and multiplies per draw, no allocation, and
// the same sequence for the same seed on every platform. Not cryptographic:
// ISNs and ephemeral ports drawn from it are predictable to anyone who knows
// the seed, which is what a reproducible lab wants; the host seeds it from
// the OS when that matters.

/// A seeded, reproducible pseudo-random generator (xoshiro256**).
///
/// It is a value: copying it forks the sequence. Components take it
/// `inout` so one generator per shard drives them all in a defined order.
public struct Random: RandomNumberGenerator, Sendable, Equatable {
    @usableFromInline var s0: UInt64
    @usableFromInline var s1: UInt64
    @usableFromInline var s2: UInt64
    @usableFromInline var s3: UInt64

    /// A generator whose sequence depends only on `seed`.
    public init(seed: UInt64) {
        var sm = seed
        s0 = Random.splitMix(&sm)
        s1 = Random.splitMix(&sm)
        s2 = Random.splitMix(&sm)
        s3 = Random.splitMix(&sm)
        // xoshiro's state must not be all zero; SplitMix64 never yields four
        // zero words in a row, but keep the invariant explicit.
        if s0 | s1 | s2 | s3 == 0 { s0 = 0x9E37_79B9_7F4A_7C15 }
    }

    /// SplitMix64 (Steele, Lea & Flood): spreads a seed over the state.
    @inlinable
    static func splitMix(_ x: inout UInt64) -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The next 64 random bits.
    @inlinable
    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    @inlinable @inline(__always)
    func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 &- k)) }

    /// 32 random bits (prandom_u32_state / get_random_u32).
    @inlinable
    public mutating func nextUInt32() -> UInt32 { UInt32(truncatingIfNeeded: next() >> 32) }

    /// A value in 0..<bound, without modulo bias (get_random_u32_below).
    /// `bound` must be positive.
    @inlinable
    public mutating func below(_ bound: UInt32) -> UInt32 {
        precondition(bound > 0, "Random.below(0)")
        // Lemire's multiply-shift with rejection of the biased low zone.
        var m = UInt64(nextUInt32()) &* UInt64(bound)
        var low = UInt32(truncatingIfNeeded: m)
        if low < bound {
            let threshold = (0 &- bound) % bound
            while low < threshold {
                m = UInt64(nextUInt32()) &* UInt64(bound)
                low = UInt32(truncatingIfNeeded: m)
            }
        }
        return UInt32(truncatingIfNeeded: m >> 32)
    }

    /// A value uniformly in `range`.
    @inlinable
    public mutating func next(in range: ClosedRange<UInt32>) -> UInt32 {
        let span = UInt64(range.upperBound) - UInt64(range.lowerBound) + 1
        if span > UInt64(UInt32.max) { return nextUInt32() }
        return range.lowerBound &+ below(UInt32(span))
    }
}
