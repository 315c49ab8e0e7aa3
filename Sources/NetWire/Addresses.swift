// Link and network addresses as plain integers: hashing, comparing and
// prefix arithmetic on them cost a few instructions and no allocation.
// Text forms follow what iproute2 and tcpdump print (RFC 5952 for IPv6).

/// A 48-bit IEEE 802 MAC address, held in the low 48 bits of `rawValue`
/// (first octet on the wire = bits 47…40).
public struct MACAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64

    @inlinable @inline(__always)
    public init(rawValue: UInt64) { self.rawValue = rawValue & 0xFFFF_FFFF_FFFF }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, _ e: UInt8, _ f: UInt8) {
        rawValue = UInt64(a) << 40 | UInt64(b) << 32 | UInt64(c) << 24
            | UInt64(d) << 16 | UInt64(e) << 8 | UInt64(f)
    }

    /// Reads six octets at `offset`; the caller has validated the length.
    @inlinable @inline(__always)
    public init(reading bytes: UnsafeRawBufferPointer, at offset: Int) {
        rawValue = UInt64(bytes.be32(offset)) << 16 | UInt64(bytes.be16(offset &+ 4))
    }

    @inlinable @inline(__always)
    public func write(into out: UnsafeMutableRawBufferPointer, at offset: Int) {
        out.setBE32(offset, UInt32(truncatingIfNeeded: rawValue >> 16))
        out.setBE16(offset &+ 4, UInt16(truncatingIfNeeded: rawValue))
    }

    public static let zero = MACAddress(rawValue: 0)
    public static let broadcast = MACAddress(rawValue: 0xFFFF_FFFF_FFFF)

    public var octets: [UInt8] { (0..<6).map { UInt8(truncatingIfNeeded: rawValue >> (40 - 8 * $0)) } }
    public var isBroadcast: Bool { rawValue == 0xFFFF_FFFF_FFFF }
    /// The I/G bit: group (multicast or broadcast) address.
    public var isMulticast: Bool { rawValue & (1 << 40) != 0 }
    public var isUnicast: Bool { !isMulticast }
    /// The U/L bit: locally administered.
    public var isLocallyAdministered: Bool { rawValue & (2 << 40) != 0 }

    /// "aa:bb:cc:dd:ee:ff", as `ip link` prints it.
    public var description: String {
        octets.map { hex2($0) }.joined(separator: ":")
    }

    /// Parses "aa:bb:cc:dd:ee:ff" (also with '-' separators).
    public init?(_ text: some StringProtocol) {
        let parts = text.split(omittingEmptySubsequences: false) { $0 == ":" || $0 == "-" }
        guard parts.count == 6 else { return nil }
        var value: UInt64 = 0
        for part in parts {
            guard (1...2).contains(part.count), let octet = UInt8(part, radix: 16) else { return nil }
            value = value << 8 | UInt64(octet)
        }
        rawValue = value
    }

    public static func < (a: MACAddress, b: MACAddress) -> Bool { a.rawValue < b.rawValue }

    /// The multicast MAC for an IPv4 group (RFC 1112 §6.4).
    public init(multicastFor group: IPv4Address) {
        rawValue = 0x0100_5E00_0000 | UInt64(group.rawValue & 0x7F_FFFF)
    }

    /// The multicast MAC for an IPv6 group (RFC 2464 §7).
    public init(multicastFor group: IPv6Address) {
        rawValue = 0x3333_0000_0000 | (group.low & 0xFFFF_FFFF)
    }
}

/// An IPv4 address in host order (`10.0.0.1` is `0x0A000001`).
public struct IPv4Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32

    @inlinable @inline(__always)
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        rawValue = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    public static let any = IPv4Address(rawValue: 0)
    public static let broadcast = IPv4Address(rawValue: 0xFFFF_FFFF)
    public static let loopback = IPv4Address(127, 0, 0, 1)

    public var isUnspecified: Bool { rawValue == 0 }
    public var isLimitedBroadcast: Bool { rawValue == 0xFFFF_FFFF }
    public var isLoopback: Bool { rawValue >> 24 == 127 }
    public var isMulticast: Bool { rawValue >> 28 == 0xE }
    public var isLinkLocal: Bool { rawValue >> 16 == 0xA9FE }
    /// 0.0.0.0/8 ("this network"), invalid as a source except 0.0.0.0 itself.
    public var isZeroNet: Bool { rawValue >> 24 == 0 }
    /// 240.0.0.0/4 minus the limited broadcast.
    public var isReserved: Bool { rawValue >> 28 == 0xF && !isLimitedBroadcast }

    public var octets: (UInt8, UInt8, UInt8, UInt8) {
        (UInt8(truncatingIfNeeded: rawValue >> 24), UInt8(truncatingIfNeeded: rawValue >> 16),
         UInt8(truncatingIfNeeded: rawValue >> 8), UInt8(truncatingIfNeeded: rawValue))
    }

    public var description: String {
        let o = octets
        return "\(o.0).\(o.1).\(o.2).\(o.3)"
    }

    /// Parses dotted-quad text strictly: four decimal octets, no leading '+'.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let octet = UInt8(part) else { return nil }
            value = value << 8 | UInt32(octet)
        }
        rawValue = value
    }

    public static func < (a: IPv4Address, b: IPv4Address) -> Bool { a.rawValue < b.rawValue }

    /// The network mask of a prefix length 0…32, in host order.
    @inline(__always)
    public static func mask(prefixLength: Int) -> UInt32 {
        prefixLength <= 0 ? 0 : (prefixLength >= 32 ? 0xFFFF_FFFF : ~(UInt32.max >> UInt32(prefixLength)))
    }

    public func masked(prefixLength: Int) -> IPv4Address {
        IPv4Address(rawValue: rawValue & Self.mask(prefixLength: prefixLength))
    }
}

/// An IPv6 address as two host-order 64-bit halves (`high` holds bytes 0…7).
public struct IPv6Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    @inlinable @inline(__always)
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Reads sixteen octets at `offset`; the caller has validated the length.
    @inlinable @inline(__always)
    public init(reading bytes: UnsafeRawBufferPointer, at offset: Int) {
        high = bytes.be64(offset)
        low = bytes.be64(offset &+ 8)
    }

    @inlinable @inline(__always)
    public func write(into out: UnsafeMutableRawBufferPointer, at offset: Int) {
        out.setBE64(offset, high)
        out.setBE64(offset &+ 8, low)
    }

    public init(_ groups: [UInt16]) {
        precondition(groups.count == 8, "IPv6Address needs 8 groups")
        var h: UInt64 = 0, l: UInt64 = 0
        for i in 0..<4 { h = h << 16 | UInt64(groups[i]) }
        for i in 4..<8 { l = l << 16 | UInt64(groups[i]) }
        high = h
        low = l
    }

    public static let any = IPv6Address(high: 0, low: 0)
    public static let loopback = IPv6Address(high: 0, low: 1)
    /// ff02::1, all nodes on the link.
    public static let allNodes = IPv6Address(high: 0xFF02 << 48, low: 1)
    /// ff02::2, all routers on the link.
    public static let allRouters = IPv6Address(high: 0xFF02 << 48, low: 2)

    public var isUnspecified: Bool { high == 0 && low == 0 }
    public var isLoopback: Bool { high == 0 && low == 1 }
    public var isMulticast: Bool { high >> 56 == 0xFF }
    public var isLinkLocal: Bool { high >> 54 == 0x3FA } // fe80::/10
    /// ::ffff:0:0/96
    public var isV4Mapped: Bool { high == 0 && low >> 32 == 0xFFFF }

    /// The solicited-node multicast group ff02::1:ffXX:XXXX (RFC 4291 §2.7.1).
    public var solicitedNodeMulticast: IPv6Address {
        IPv6Address(high: 0xFF02 << 48, low: 0x1_FF00_0000 | (low & 0xFF_FFFF))
    }

    public var groups: [UInt16] {
        (0..<8).map { i in
            let half = i < 4 ? high : low
            return UInt16(truncatingIfNeeded: half >> (48 - 16 * UInt64(i % 4)))
        }
    }

    /// RFC 5952 text: lowercase, no leading zeros, the longest run (≥ 2) of
    /// zero groups compressed to "::" (the first such run on a tie), and the
    /// IPv4-mapped form ::ffff:a.b.c.d as Linux prints it.
    public var description: String {
        let g = groups
        if isV4Mapped {
            let v4 = IPv4Address(rawValue: UInt32(truncatingIfNeeded: low))
            return "::ffff:\(v4)"
        }
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if g[i] == 0 {
                var j = i
                while j < 8 && g[j] == 0 { j += 1 }
                if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
                i = j
            } else {
                i += 1
            }
        }
        func hex(_ r: Range<Int>) -> String { r.map { String(g[$0], radix: 16) }.joined(separator: ":") }
        if bestStart < 0 { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLen)..<8)
    }

    /// Parses RFC 4291 §2.2 text forms, including "::" and a trailing dotted quad.
    public init?(_ text: some StringProtocol) {
        let s = String(text)
        guard !s.isEmpty, s.count <= 45 else { return nil }
        var head: [UInt16] = [], tail: [UInt16] = []
        let halves = s.split(separator: "::", omittingEmptySubsequences: false).map(String.init)
        guard halves.count <= 2 else { return nil }
        func parseGroups(_ part: String, allowV4: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, field) in fields.enumerated() {
                if allowV4 && index == fields.count - 1 && field.contains(".") {
                    guard let v4 = IPv4Address(field) else { return nil }
                    out.append(UInt16(truncatingIfNeeded: v4.rawValue >> 16))
                    out.append(UInt16(truncatingIfNeeded: v4.rawValue))
                } else {
                    guard (1...4).contains(field.count), let v = UInt16(field, radix: 16) else { return nil }
                    out.append(v)
                }
            }
            return out
        }
        if halves.count == 2 {
            guard let h = parseGroups(halves[0], allowV4: false),
                  let t = parseGroups(halves[1], allowV4: true), h.count + t.count <= 7 else { return nil }
            head = h
            tail = t
        } else {
            guard let h = parseGroups(halves[0], allowV4: true), h.count == 8 else { return nil }
            head = h
        }
        let all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        self.init(all)
    }

    public static func < (a: IPv6Address, b: IPv6Address) -> Bool {
        (a.high, a.low) < (b.high, b.low)
    }

    public func masked(prefixLength: Int) -> IPv6Address {
        let p = max(0, min(128, prefixLength))
        let hm: UInt64 = p >= 64 ? .max : (p == 0 ? 0 : ~(UInt64.max >> UInt64(p)))
        let lm: UInt64 = p <= 64 ? 0 : (p >= 128 ? .max : ~(UInt64.max >> UInt64(p - 64)))
        return IPv6Address(high: high & hm, low: low & lm)
    }
}

@inline(__always)
func hex2(_ b: UInt8) -> String {
    let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
    return String([digits[Int(b >> 4)], digits[Int(b & 0xF)]])
}
