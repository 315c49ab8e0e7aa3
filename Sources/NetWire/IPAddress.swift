// IPAddress and IPPrefix: a family-tagged address and a prefix, the values
// that routes, rules, neighbours and sockets key on (the kernel's
// `union { __be32; struct in6_addr }` plus a family, as in `struct inetpeer_addr`).

/// An IPv4 or IPv6 address.
public enum IPAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    /// Parses dotted-quad or RFC 4291 text; nil for anything else.
    public init?(_ text: some StringProtocol) {
        if text.contains(":") {
            guard let a = IPv6Address(text) else { return nil }
            self = .v6(a)
        } else {
            guard let a = IPv4Address(text) else { return nil }
            self = .v4(a)
        }
    }

    public var isIPv4: Bool { if case .v4 = self { true } else { false } }
    public var isIPv6: Bool { !isIPv4 }
    /// The address length in bits: 32 or 128.
    public var bitWidth: Int { isIPv4 ? 32 : 128 }
    public var isUnspecified: Bool {
        switch self {
        case .v4(let a): a.isUnspecified
        case .v6(let a): a.isUnspecified
        }
    }
    public var isMulticast: Bool {
        switch self {
        case .v4(let a): a.isMulticast
        case .v6(let a): a.isMulticast
        }
    }
    public var description: String {
        switch self {
        case .v4(let a): a.description
        case .v6(let a): a.description
        }
    }
    /// The address with all bits after `prefixLength` cleared.
    public func masked(prefixLength: Int) -> IPAddress {
        switch self {
        case .v4(let a): .v4(a.masked(prefixLength: prefixLength))
        case .v6(let a): .v6(a.masked(prefixLength: prefixLength))
        }
    }
    /// Bit `index` counted from the most significant (0 = top bit).
    public func bit(_ index: Int) -> Bool {
        switch self {
        case .v4(let a): return (a.rawValue >> (31 - index)) & 1 == 1
        case .v6(let a):
            return index < 64 ? (a.high >> (63 - index)) & 1 == 1 : (a.low >> (127 - index)) & 1 == 1
        }
    }
    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        switch (a, b) {
        case (.v4(let x), .v4(let y)): x < y
        case (.v6(let x), .v6(let y)): x < y
        case (.v4, .v6): true
        case (.v6, .v4): false
        }
    }
}

/// An address and a prefix length, e.g. 10.0.0.0/8 or 2001:db8::/32.
/// `address` keeps its host bits as given (`ip addr` needs them); use
/// `network` for the masked form.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var length: Int

    public init(_ address: IPAddress, length: Int) {
        precondition(length >= 0 && length <= address.bitWidth, "IPPrefix length out of range")
        self.address = address
        self.length = length
    }

    /// Parses `ADDR/LEN` or a bare `ADDR` (a host prefix). nil when malformed.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let a = IPAddress(parts[0]) else { return nil }
        if parts.count == 2 {
            guard let n = Int(parts[1]), n >= 0, n <= a.bitWidth, !parts[1].hasPrefix("+") else { return nil }
            self.init(a, length: n)
        } else {
            self.init(a, length: a.bitWidth)
        }
    }

    public static func defaultRoute(v6: Bool) -> IPPrefix {
        v6 ? IPPrefix(.v6(.any), length: 0) : IPPrefix(.v4(.any), length: 0)
    }

    public var isIPv4: Bool { address.isIPv4 }
    /// The prefix with host bits cleared.
    public var network: IPPrefix { IPPrefix(address.masked(prefixLength: length), length: length) }
    public var isHostPrefix: Bool { length == address.bitWidth }

    public func contains(_ a: IPAddress) -> Bool {
        guard a.isIPv4 == address.isIPv4 else { return false }
        return a.masked(prefixLength: length) == address.masked(prefixLength: length)
    }

    /// `ADDR/LEN`, as `ip` prints a prefix (the host form omits `/LEN` only
    /// where the printer decides to).
    public var description: String { "\(address)/\(length)" }
}
