import Netstack

/// What one direction of a link does to frames, in the terms of
/// `tc qdisc … netem` (net/sched/sch_netem.c):
///
/// - `delay` ± `jitter`: each frame waits `delay` plus a uniform offset in
///   [-jitter, +jitter] (netem's behaviour without a distribution table);
///   jitter can reorder frames, as it does in netem.
/// - `loss`: each frame is dropped with this probability (netem "loss random").
/// - `duplicate`: a frame is sent twice with this probability.
/// - `reorder`: with this probability a frame skips the delay and goes at
///   once (netem "reorder P", which needs a delay to have any effect).
/// - `corrupt`: with this probability one random bit of the frame is flipped.
/// - `rate`: bits per second; frames are serialised one after another
///   (each takes size·8/rate), before the delay (netem "rate").
/// - `limit`: frames queued in the link at most; more are dropped (netem's
///   default limit is 1000).
///
/// Probabilities are 0…1. The randomness comes from the link's seeded
/// generator: the same seed and the same traffic give the same result.
public struct Impairment: Sendable, Equatable {
    public var delay: TimeDelta = .zero
    public var jitter: TimeDelta = .zero
    public var loss: Double = 0
    public var duplicate: Double = 0
    public var reorder: Double = 0
    public var corrupt: Double = 0
    /// Bits per second; nil is unlimited.
    public var rate: UInt64? = nil
    public var limit: Int = 1000

    public init(delay: TimeDelta = .zero, jitter: TimeDelta = .zero, loss: Double = 0, duplicate: Double = 0,
                reorder: Double = 0, corrupt: Double = 0, rate: UInt64? = nil, limit: Int = 1000) {
        self.delay = delay
        self.jitter = jitter
        self.loss = loss
        self.duplicate = duplicate
        self.reorder = reorder
        self.corrupt = corrupt
        self.rate = rate
        self.limit = limit
    }

    /// A perfect wire: no delay, nothing lost.
    public static let none = Impairment()

    /// True when the settings make sense (probabilities in 0…1, no negative time).
    public var isValid: Bool {
        let ps = [loss, duplicate, reorder, corrupt]
        return ps.allSatisfy { $0 >= 0 && $0 <= 1 } && delay.nanoseconds >= 0 && jitter.nanoseconds >= 0
            && limit > 0 && (rate ?? 1) > 0
    }
}

/// What a link did with a frame, counted per direction.
public struct LinkStatistics: Sendable, Equatable {
    public var sent = 0
    public var delivered = 0
    public var lost = 0
    public var duplicated = 0
    public var reordered = 0
    public var corrupted = 0
    public var overLimit = 0
    public init() {}
}
