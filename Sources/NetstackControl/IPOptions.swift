// The global options of `ip` (`ip [ OPTIONS ] OBJECT …`) that every object's
// parser and printer reads.

public struct IPOptions: Equatable, Sendable {
    public enum Family: Equatable, Sendable {
        case inet, inet6
    }
    /// `-4` / `-6` (`-f inet|inet6`); nil when unset.
    public var family: Family?
    /// `-j`.
    public var json: Bool
    /// `-p` (with -j: pretty JSON).
    public var pretty: Bool
    /// `-d`.
    public var details: Bool
    /// `-s` (repeat count).
    public var stats: Int
    /// `-o`.
    public var oneline: Bool
    /// `-br`.
    public var brief: Bool

    public init(family: Family? = nil, json: Bool = false, pretty: Bool = false, details: Bool = false,
                stats: Int = 0, oneline: Bool = false, brief: Bool = false) {
        self.family = family
        self.json = json
        self.pretty = pretty
        self.details = details
        self.stats = stats
        self.oneline = oneline
        self.brief = brief
    }
}
