// The Internet checksum: RFC 1071 (computation), RFC 1624 (incremental
// update), with the IPv4 (RFC 768/793) and IPv6 (RFC 8200 §8.1) pseudo-headers.
//
// The sum is taken over native-order loads — RFC 1071 §2(B): the one's
// complement sum is byte-order independent up to a final swap — so the hot
// loop is plain 32-bit loads into a 64-bit accumulator that never carries
// (2^32 words of 2^32-1 fit), which LLVM vectorises. That is the shape of
// Linux's csum_partial minus the hand-written asm.

/// A running Internet checksum over any number of byte ranges and fields.
///
///     var c = InternetChecksum()
///     c.addPseudoHeader(source: s, destination: d, protocol: 17, length: n)
///     c.add(udpBytes)
///     out.setBE16(6, c.value)     // ready to store as a big-endian field
public struct InternetChecksum: Sendable, Equatable {
    /// One's complement sum of native-order 16-bit words, kept wide (folded
    /// only on read); cannot overflow below 2^48 additions.
    @usableFromInline var sum: UInt64 = 0
    /// An odd number of bytes has been added: the next byte is a low-order one.
    @usableFromInline var odd = false

    @inlinable public init() {}

    /// Adds a byte range that continues the checksummed data.
    @inlinable
    public mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var s = Self.fold(Self.nativeSum(bytes))
        if odd { s = s.byteSwapped }
        sum &+= UInt64(s)
        if bytes.count & 1 == 1 { odd.toggle() }
    }

    /// Adds a 16-bit field given as its host-order value (as `be16` returns).
    @inlinable
    public mutating func add(be16 value: UInt16) {
        let native = value.bigEndian
        sum &+= UInt64(odd ? native.byteSwapped : native)
    }

    @inlinable
    public mutating func add(be32 value: UInt32) {
        add(be16: UInt16(truncatingIfNeeded: value >> 16))
        add(be16: UInt16(truncatingIfNeeded: value))
    }

    @inlinable
    public mutating func add(_ address: IPv4Address) { add(be32: address.rawValue) }

    @inlinable
    public mutating func add(_ address: IPv6Address) {
        add(be32: UInt32(truncatingIfNeeded: address.high >> 32))
        add(be32: UInt32(truncatingIfNeeded: address.high))
        add(be32: UInt32(truncatingIfNeeded: address.low >> 32))
        add(be32: UInt32(truncatingIfNeeded: address.low))
    }

    /// The IPv4 pseudo-header: source, destination, zero, protocol, length.
    @inlinable
    public mutating func addPseudoHeader(source: IPv4Address, destination: IPv4Address,
                                         protocol proto: UInt8, length: Int) {
        add(source)
        add(destination)
        add(be16: UInt16(proto))
        add(be16: UInt16(truncatingIfNeeded: length))
    }

    /// The IPv6 pseudo-header: source, destination, 32-bit length, next header.
    @inlinable
    public mutating func addPseudoHeader(source: IPv6Address, destination: IPv6Address,
                                         nextHeader: UInt8, length: Int) {
        add(source)
        add(destination)
        add(be32: UInt32(truncatingIfNeeded: length))
        add(be16: UInt16(nextHeader))
    }

    /// The checksum field value (host order: store it with a big-endian store).
    @inlinable
    public var value: UInt16 { UInt16(bigEndian: ~Self.fold(sum)) }

    /// The folded sum before complement (host order). A range that contains a
    /// correct checksum field sums to 0xFFFF.
    @inlinable
    public var folded: UInt16 { UInt16(bigEndian: Self.fold(sum)) }

    /// True when the data added (checksum field included) verifies.
    @inlinable
    public var verifies: Bool { Self.fold(sum) == 0xFFFF }

    /// One-shot checksum of a byte range.
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        var c = InternetChecksum()
        c.add(bytes)
        return c.value
    }

    /// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for a 16-bit field changing
    /// from `old` to `new` (all host-order values, as read with `be16`).
    @inlinable
    public static func update(_ checksum: UInt16, old: UInt16, new: UInt16) -> UInt16 {
        var s = UInt32(~checksum) &+ UInt32(~old) &+ UInt32(new)
        s = (s & 0xFFFF) &+ (s >> 16)
        s = (s & 0xFFFF) &+ (s >> 16)
        return ~UInt16(truncatingIfNeeded: s)
    }

    /// RFC 1624 update for a 32-bit field (e.g. an IPv4 address under NAT).
    @inlinable
    public static func update(_ checksum: UInt16, old32 old: UInt32, new32 new: UInt32) -> UInt16 {
        let c = update(checksum, old: UInt16(truncatingIfNeeded: old >> 16), new: UInt16(truncatingIfNeeded: new >> 16))
        return update(c, old: UInt16(truncatingIfNeeded: old), new: UInt16(truncatingIfNeeded: new))
    }

    /// Folds a wide native-order sum to 16 bits with end-around carries.
    @inlinable @inline(__always)
    public static func fold(_ wide: UInt64) -> UInt16 {
        var s = (wide & 0xFFFF_FFFF) &+ (wide >> 32)
        s = (s & 0xFFFF_FFFF) &+ (s >> 32)
        s = (s & 0xFFFF) &+ (s >> 16)
        s = (s & 0xFFFF) &+ (s >> 16)
        s = (s & 0xFFFF) &+ (s >> 16)
        return UInt16(truncatingIfNeeded: s)
    }

    /// The unfolded sum of `bytes` as native-order 16-bit words (a trailing
    /// odd byte is the high-order byte of a zero-padded word, RFC 1071 §4.1).
    @inlinable
    public static func nativeSum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        guard let base = bytes.baseAddress else { return 0 }
        let n = bytes.count
        var i = 0
        // Four independent accumulators of 32-bit loads: no carries to track,
        // and the loop vectorises.
        var a0: UInt64 = 0, a1: UInt64 = 0, a2: UInt64 = 0, a3: UInt64 = 0
        while n &- i >= 16 {
            a0 &+= UInt64(base.loadUnaligned(fromByteOffset: i, as: UInt32.self))
            a1 &+= UInt64(base.loadUnaligned(fromByteOffset: i &+ 4, as: UInt32.self))
            a2 &+= UInt64(base.loadUnaligned(fromByteOffset: i &+ 8, as: UInt32.self))
            a3 &+= UInt64(base.loadUnaligned(fromByteOffset: i &+ 12, as: UInt32.self))
            i &+= 16
        }
        var s = a0 &+ a1 &+ a2 &+ a3
        while n &- i >= 4 {
            s &+= UInt64(base.loadUnaligned(fromByteOffset: i, as: UInt32.self))
            i &+= 4
        }
        if n &- i >= 2 {
            s &+= UInt64(base.loadUnaligned(fromByteOffset: i, as: UInt16.self))
            i &+= 2
        }
        if i < n {
            let last = base.load(fromByteOffset: i, as: UInt8.self)
            #if _endian(little)
            s &+= UInt64(last)
            #else
            s &+= UInt64(last) << 8
            #endif
        }
        return s
    }
}

/// The addresses a transport checksum covers (RFC 768/793 for IPv4, RFC 8200
/// §8.1 for IPv6). The length and protocol come from the transport itself.
public enum PseudoHeader: Equatable, Hashable, Sendable {
    case ipv4(source: IPv4Address, destination: IPv4Address)
    case ipv6(source: IPv6Address, destination: IPv6Address)

    /// A checksum seeded with this pseudo-header for `proto` and `length`.
    @inlinable
    public func seed(protocol proto: UInt8, length: Int) -> InternetChecksum {
        var c = InternetChecksum()
        switch self {
        case let .ipv4(s, d): c.addPseudoHeader(source: s, destination: d, protocol: proto, length: length)
        case let .ipv6(s, d): c.addPseudoHeader(source: s, destination: d, nextHeader: proto, length: length)
        }
        return c
    }
}
