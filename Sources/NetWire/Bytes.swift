// Unaligned big-endian field access over raw bytes.
//
// Views validate their length once in their initialiser; these accessors are
// then called only with offsets inside that validated range, so they use
// `loadUnaligned` (no alignment trap) and do no further bounds checks in
// release builds (the standard library keeps a debug-only precondition).

extension UnsafeRawBufferPointer {
    @inlinable @inline(__always)
    public func u8(_ offset: Int) -> UInt8 {
        loadUnaligned(fromByteOffset: offset, as: UInt8.self)
    }

    @inlinable @inline(__always)
    public func be16(_ offset: Int) -> UInt16 {
        UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inlinable @inline(__always)
    public func be32(_ offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inlinable @inline(__always)
    public func be64(_ offset: Int) -> UInt64 {
        UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// The bytes `[from, to)` as a slice-free buffer (no copy).
    @inlinable @inline(__always)
    public func bytes(_ from: Int, _ to: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[from..<to])
    }
}

extension UnsafeMutableRawBufferPointer {
    @inlinable @inline(__always)
    public func setU8(_ offset: Int, _ value: UInt8) {
        storeBytes(of: value, toByteOffset: offset, as: UInt8.self)
    }

    @inlinable @inline(__always)
    public func setBE16(_ offset: Int, _ value: UInt16) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt16.self)
    }

    @inlinable @inline(__always)
    public func setBE32(_ offset: Int, _ value: UInt32) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
    }

    @inlinable @inline(__always)
    public func setBE64(_ offset: Int, _ value: UInt64) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt64.self)
    }

    /// The bytes `[from, to)` as a mutable buffer (no copy).
    @inlinable @inline(__always)
    public func bytes(_ from: Int, _ to: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: self[from..<to])
    }

    /// Copies `source` to `offset`. The caller has checked the room.
    @inlinable @inline(__always)
    public func copy(_ source: UnsafeRawBufferPointer, to offset: Int) {
        guard source.count > 0 else { return }
        UnsafeMutableRawBufferPointer(rebasing: self[offset..<(offset &+ source.count)])
            .copyMemory(from: source)
    }
}

/// Up to `N` bytes kept inline, so a Repr that carries raw option bytes
/// allocates nothing. Two sizes are in use: `OptionBytes` (IPv4 and unknown
/// TCP options, at most 40) and `ExtensionHeaderBytes` (IPv6 extension-header
/// bodies).
public struct InlineBytes<let N: Int>: Equatable, Hashable, Sendable {
    public static var capacity: Int { N }
    @usableFromInline var storage: InlineArray<N, UInt8>
    @usableFromInline var storedCount: Int
    public var count: Int { storedCount }

    // Inlinable: TCPOptions and IPv4Repr take an empty one as a default
    // argument per segment, and the unspecialised generic init (metadata
    // lookup, byte-wise zeroing) showed in the TAP receive profile.
    @inlinable
    public init() {
        storage = .init(repeating: 0)
        storedCount = 0
    }

    /// Fails (returns nil) when `bytes` is longer than `capacity`.
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count <= N else { return nil }
        self.init()
        for i in 0..<bytes.count { storage[i] = bytes[i] }
        storedCount = bytes.count
    }

    public init?(_ bytes: [UInt8]) {
        guard let value = bytes.withUnsafeBytes({ Self($0) }) else { return nil }
        self = value
    }

    public subscript(i: Int) -> UInt8 {
        precondition(i >= 0 && i < count, "InlineBytes<\(N)> index \(i) out of 0..<\(count)")
        return storage[i]
    }

    /// Appends bytes; returns false (and appends nothing) if they do not fit.
    @discardableResult
    public mutating func append(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard count + bytes.count <= N else { return false }
        for i in 0..<bytes.count { storage[count + i] = bytes[i] }
        storedCount += bytes.count
        return true
    }

    public var array: [UInt8] { (0..<count).map { storage[$0] } }

    /// Writes the bytes at `offset`; the caller has checked the room.
    @usableFromInline
    func write(into out: UnsafeMutableRawBufferPointer, at offset: Int) {
        for i in 0..<count { out.setU8(offset &+ i, storage[i]) }
    }

    public static func == (a: Self, b: Self) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count where a.storage[i] != b.storage[i] { return false }
        return true
    }

    public func hash(into h: inout Hasher) {
        h.combine(count)
        for i in 0..<count { h.combine(storage[i]) }
    }
}

/// Up to 40 option bytes: the most an IPv4 or TCP header can carry.
public typealias OptionBytes = InlineBytes<40>
