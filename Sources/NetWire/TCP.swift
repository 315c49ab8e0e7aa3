// TCP (RFC 9293 §3.1 header format) with the options Linux speaks:
// MSS (RFC 9293 §3.2), window scale and timestamps (RFC 7323), SACK-permitted
// and SACK (RFC 2018); the AE bit (formerly NS, RFC 3540; AccECN draft).
// Kernel counterpart: struct tcphdr (include/uapi/linux/tcp.h); the checks
// of tcp_v4_rcv() (net/ipv4/tcp_ipv4.c: doff ≥ 5, doff·4 within the packet),
// tcp_parse_options() (net/ipv4/tcp_input.c) and tcp_options_write()
// (net/ipv4/tcp_output.c).
//
//     0       2       4            8            12     13     14      16      18      20
//     | sport | dport |    seq     |    ack     |doff/AE|flags | window| csum  |  urg  | options…
//
// The checksum covers the pseudo-header, the header and the payload (RFC
// 9293 §3.1); pass the `PseudoHeader` of the carrying IP packet.

/// A TCP sequence number: arithmetic wraps modulo 2^32 and comparisons are
/// RFC 1982 serial-number comparisons (Linux's before()/after(): the sign of
/// the 32-bit difference). That is not a total order — numbers 2^31 apart
/// compare as each other's successor — so never sort a set spanning > 2^31.
public struct TCPSeqNumber: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable @inline(__always) public init(rawValue: UInt32) { self.rawValue = rawValue }
    @inlinable @inline(__always) public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    /// `a < b` when `b` is after `a` within half the sequence space.
    @inlinable @inline(__always)
    public static func < (a: TCPSeqNumber, b: TCPSeqNumber) -> Bool {
        Int32(bitPattern: a.rawValue &- b.rawValue) < 0
    }

    @inlinable @inline(__always)
    public static func + (a: TCPSeqNumber, n: Int) -> TCPSeqNumber {
        TCPSeqNumber(rawValue: a.rawValue &+ UInt32(truncatingIfNeeded: n))
    }

    @inlinable @inline(__always)
    public static func += (a: inout TCPSeqNumber, n: Int) { a = a + n }

    @inlinable @inline(__always)
    public static func - (a: TCPSeqNumber, n: Int) -> TCPSeqNumber {
        TCPSeqNumber(rawValue: a.rawValue &- UInt32(truncatingIfNeeded: n))
    }

    /// The signed distance from `b` to `a` (how far `a` is after `b`).
    @inlinable @inline(__always)
    public static func - (a: TCPSeqNumber, b: TCPSeqNumber) -> Int {
        Int(Int32(bitPattern: a.rawValue &- b.rawValue))
    }

    public var description: String { String(rawValue) }
}

/// The nine TCP flag bits: byte 13 plus AE (the low bit of byte 12).
public struct TCPFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt16
    @inlinable @inline(__always) public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let fin = TCPFlags(rawValue: 0x001)
    public static let syn = TCPFlags(rawValue: 0x002)
    public static let rst = TCPFlags(rawValue: 0x004)
    public static let psh = TCPFlags(rawValue: 0x008)
    public static let ack = TCPFlags(rawValue: 0x010)
    public static let urg = TCPFlags(rawValue: 0x020)
    public static let ece = TCPFlags(rawValue: 0x040)
    public static let cwr = TCPFlags(rawValue: 0x080)
    /// AE (Accurate ECN), formerly NS (RFC 3540, historic).
    public static let ae = TCPFlags(rawValue: 0x100)
    public static let all = TCPFlags(rawValue: 0x1FF)
}

/// TCP option kinds (IANA "TCP Option Kind Numbers").
public enum TCPOptionKind {
    public static let endOfList: UInt8 = 0
    public static let noOperation: UInt8 = 1
    public static let maximumSegmentSize: UInt8 = 2
    public static let windowScale: UInt8 = 3
    public static let sackPermitted: UInt8 = 4
    public static let sack: UInt8 = 5
    public static let timestamps: UInt8 = 8
    public static let md5Signature: UInt8 = 19
    public static let mptcp: UInt8 = 30
    public static let fastOpen: UInt8 = 34
    public static let experimental: UInt8 = 254
}

/// A checked view of a TCP segment (the whole IP payload).
public struct TCPSegment {
    public static let minimumHeaderLength = 20
    public static let maximumHeaderLength = 60
    public let bytes: UnsafeRawBufferPointer

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= Self.minimumHeaderLength else { throw .truncated }
        let hl = Int(bytes.u8(12) >> 4) &* 4
        guard hl >= Self.minimumHeaderLength else { throw .badHeaderLength }
        guard hl <= bytes.count else { throw .truncated }
        self.bytes = bytes
    }

    @inlinable public var sourcePort: UInt16 { bytes.be16(0) }
    @inlinable public var destinationPort: UInt16 { bytes.be16(2) }
    @inlinable public var sequenceNumber: TCPSeqNumber { TCPSeqNumber(rawValue: bytes.be32(4)) }
    @inlinable public var acknowledgmentNumber: TCPSeqNumber { TCPSeqNumber(rawValue: bytes.be32(8)) }
    @inlinable public var headerLength: Int { Int(bytes.u8(12) >> 4) &* 4 }
    /// The three bits between data offset and AE; zero on a compliant sender.
    @inlinable public var reservedBits: UInt8 { (bytes.u8(12) >> 1) & 0x07 }
    @inlinable public var flags: TCPFlags { TCPFlags(rawValue: bytes.be16(12) & 0x01FF) }
    @inlinable public var fin: Bool { bytes.u8(13) & 0x01 != 0 }
    @inlinable public var syn: Bool { bytes.u8(13) & 0x02 != 0 }
    @inlinable public var rst: Bool { bytes.u8(13) & 0x04 != 0 }
    @inlinable public var psh: Bool { bytes.u8(13) & 0x08 != 0 }
    @inlinable public var ack: Bool { bytes.u8(13) & 0x10 != 0 }
    @inlinable public var urg: Bool { bytes.u8(13) & 0x20 != 0 }
    @inlinable public var ece: Bool { bytes.u8(13) & 0x40 != 0 }
    @inlinable public var cwr: Bool { bytes.u8(13) & 0x80 != 0 }
    @inlinable public var ae: Bool { bytes.u8(12) & 0x01 != 0 }
    /// The window field as sent (unscaled).
    @inlinable public var windowSize: UInt16 { bytes.be16(14) }
    @inlinable public var checksum: UInt16 { bytes.be16(16) }
    @inlinable public var urgentPointer: UInt16 { bytes.be16(18) }
    @inlinable public var options: UnsafeRawBufferPointer { bytes.bytes(Self.minimumHeaderLength, headerLength) }
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.bytes(headerLength, bytes.count) }
    /// Sequence space the segment occupies: payload plus one each for SYN and FIN.
    @inlinable public var segmentLength: Int {
        (bytes.count &- headerLength) &+ (syn ? 1 : 0) &+ (fin ? 1 : 0)
    }

    /// tcp_v4_checksum_init()/tcp_checksum_complete(): the checksum over the
    /// pseudo-header and the whole segment verifies.
    @inlinable
    public func checksumVerifies(_ pseudoHeader: PseudoHeader) -> Bool {
        var c = pseudoHeader.seed(protocol: IPProtocol.tcp.rawValue, length: bytes.count)
        c.add(bytes)
        return c.verifies
    }
}

/// One SACK block: the sequence range [left, right) received (RFC 2018 §3).
public struct TCPSackBlock: Hashable, Sendable {
    public var left: TCPSeqNumber
    public var right: TCPSeqNumber
    @inlinable public init(left: TCPSeqNumber, right: TCPSeqNumber) {
        self.left = left
        self.right = right
    }
}

/// Up to four SACK blocks inline (four is what 40 option bytes can hold).
public struct TCPSackBlocks: Hashable, Sendable {
    public static let capacity = 4
    @usableFromInline var storage: InlineArray<4, TCPSackBlock>
    public private(set) var count: Int

    public init() {
        storage = .init(repeating: TCPSackBlock(left: TCPSeqNumber(0), right: TCPSeqNumber(0)))
        count = 0
    }

    public var isEmpty: Bool { count == 0 }

    public subscript(i: Int) -> TCPSackBlock {
        precondition(i >= 0 && i < count, "TCPSackBlocks index \(i) out of 0..<\(count)")
        return storage[i]
    }

    /// Appends a block; returns false (and appends nothing) when full.
    @discardableResult
    public mutating func append(_ block: TCPSackBlock) -> Bool {
        guard count < Self.capacity else { return false }
        storage[count] = block
        count &+= 1
        return true
    }

    public static func == (a: TCPSackBlocks, b: TCPSackBlocks) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count where a.storage[i] != b.storage[i] { return false }
        return true
    }

    public func hash(into h: inout Hasher) {
        h.combine(count)
        for i in 0..<count { h.combine(storage[i]) }
    }
}

/// RFC 7323 timestamps.
public struct TCPTimestamps: Hashable, Sendable {
    public var value: UInt32
    public var echoReply: UInt32
    @inlinable public init(value: UInt32, echoReply: UInt32) {
        self.value = value
        self.echoReply = echoReply
    }
}

/// Every option a segment carries, without allocation.
///
/// Parsing follows tcp_parse_options():
/// - EOL ends the list; NOP is skipped; neither is recorded.
/// - Any other kind needs a length byte ≥ 2 that keeps the option inside the
///   header. Linux silently stops parsing at such an option ("silly" or
///   partial options); this parser throws `.badOption` so the receive path
///   can count it — and may then fall back to Linux's behaviour by using the
///   segment without options.
/// - A known kind with the wrong length (MSS ≠ 4, WS ≠ 3, SACK-permitted ≠ 2,
///   TS ≠ 10, SACK not 2 + 8·n with n ≥ 1) is ignored by Linux; here it is
///   kept, unparsed, in `unknown` so the segment still round-trips.
/// - Whether an option counts for this segment (MSS/WS/SACK-permitted only on
///   a SYN, TS only if negotiated, SACK only if permitted) is state, decided
///   by the connection, not here. Values are kept raw: an MSS of 0 (Linux
///   ignores it) or a window scale above 14 (Linux clamps it to 14) parse
///   as sent.
/// - A repeated kind: the last one wins, as in Linux.
///
/// Emitting lays options out as tcp_options_write() does, in this order:
///   1. MSS                                    `02 04 mm mm`
///   2. SACK-permitted and timestamps together `04 02 08 0a <TSval> <TSecr>`,
///      or timestamps alone                    `01 01 08 0a <TSval> <TSecr>`,
///      or SACK-permitted alone                `01 01 04 02`
///   3. window scale                           `01 03 03 ws`
///   4. SACK blocks                            `01 01 05 len <blocks>`
///   5. `unknown` bytes as stored, then EOL (0) padding to a 4-byte boundary.
public struct TCPOptions: Equatable, Hashable, Sendable {
    public var maximumSegmentSize: UInt16?
    public var windowScale: UInt8?
    public var sackPermitted: Bool
    public var sackBlocks: TCPSackBlocks
    public var timestamps: TCPTimestamps?
    /// Options of other kinds (and known kinds with lengths Linux ignores),
    /// each as kind, length, data — in the order they appeared.
    public var unknown: OptionBytes

    @inlinable
    public init(maximumSegmentSize: UInt16? = nil, windowScale: UInt8? = nil, sackPermitted: Bool = false,
                sackBlocks: TCPSackBlocks = TCPSackBlocks(), timestamps: TCPTimestamps? = nil,
                unknown: OptionBytes = OptionBytes()) {
        self.maximumSegmentSize = maximumSegmentSize
        self.windowScale = windowScale
        self.sackPermitted = sackPermitted
        self.sackBlocks = sackBlocks
        self.timestamps = timestamps
        self.unknown = unknown
    }

    /// Bytes the options take on the wire, before padding.
    @inlinable
    public var encodedLength: Int {
        var n = 0
        if maximumSegmentSize != nil { n &+= 4 }
        if timestamps != nil { n &+= 12 } else if sackPermitted { n &+= 4 }
        if windowScale != nil { n &+= 4 }
        if !sackBlocks.isEmpty { n &+= 4 &+ 8 &* sackBlocks.count }
        return n &+ unknown.count
    }

    /// Bytes the options take on the wire, padded to a multiple of 4.
    @inlinable public var paddedLength: Int { (encodedLength &+ 3) & ~3 }

    /// Parses the option bytes of a header (see the type's comment).
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> TCPOptions {
        var options = TCPOptions()
        var i = 0
        let n = bytes.count
        while i < n {
            let kind = bytes.u8(i)
            if kind == TCPOptionKind.endOfList { break }
            if kind == TCPOptionKind.noOperation { i &+= 1; continue }
            guard i &+ 1 < n else { throw .badOption }
            let length = Int(bytes.u8(i &+ 1))
            guard length >= 2, length <= n &- i else { throw .badOption }
            switch (kind, length) {
            case (TCPOptionKind.maximumSegmentSize, 4):
                options.maximumSegmentSize = bytes.be16(i &+ 2)
            case (TCPOptionKind.windowScale, 3):
                options.windowScale = bytes.u8(i &+ 2)
            case (TCPOptionKind.sackPermitted, 2):
                options.sackPermitted = true
            case (TCPOptionKind.timestamps, 10):
                options.timestamps = TCPTimestamps(value: bytes.be32(i &+ 2), echoReply: bytes.be32(i &+ 6))
            case (TCPOptionKind.sack, _) where length >= 10 && (length &- 2) % 8 == 0:
                var blocks = TCPSackBlocks()
                var j = i &+ 2
                while j < i &+ length {
                    blocks.append(TCPSackBlock(left: TCPSeqNumber(rawValue: bytes.be32(j)),
                                               right: TCPSeqNumber(rawValue: bytes.be32(j &+ 4))))
                    j &+= 8
                }
                options.sackBlocks = blocks
            default:
                // At most 40 bytes of options exist, so this always fits.
                options.unknown.append(bytes.bytes(i, i &+ length))
            }
            i &+= length
        }
        return options
    }

    /// Writes the options at `offset` in Linux's layout, padded with EOL to a
    /// multiple of 4; returns the padded length. The caller checked the room.
    @usableFromInline
    func write(into out: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        var i = offset
        if let mss = maximumSegmentSize {
            out.setBE32(i, 0x0204_0000 | UInt32(mss)); i &+= 4
        }
        if let ts = timestamps {
            out.setBE32(i, sackPermitted ? 0x0402_080A : 0x0101_080A)
            out.setBE32(i &+ 4, ts.value)
            out.setBE32(i &+ 8, ts.echoReply)
            i &+= 12
        } else if sackPermitted {
            out.setBE32(i, 0x0101_0402); i &+= 4
        }
        if let ws = windowScale {
            out.setBE32(i, 0x0103_0300 | UInt32(ws)); i &+= 4
        }
        if !sackBlocks.isEmpty {
            out.setBE32(i, 0x0101_0500 | UInt32(2 &+ 8 &* sackBlocks.count)); i &+= 4
            for k in 0..<sackBlocks.count {
                let block = sackBlocks.storage[k]
                out.setBE32(i, block.left.rawValue)
                out.setBE32(i &+ 4, block.right.rawValue)
                i &+= 8
            }
        }
        unknown.write(into: out, at: i)
        i &+= unknown.count
        while (i &- offset) & 3 != 0 { out.setU8(i, TCPOptionKind.endOfList); i &+= 1 }
        return i &- offset
    }
}

public struct TCPRepr: Equatable, Hashable, Sendable {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var sequenceNumber: TCPSeqNumber
    /// The field as sent; meaningful when `flags` contains `.ack`.
    public var acknowledgmentNumber: TCPSeqNumber
    public var flags: TCPFlags
    /// The window field as sent (unscaled).
    public var windowSize: UInt16
    public var urgentPointer: UInt16
    public var options: TCPOptions
    public var payloadLength: Int

    public init(sourcePort: UInt16, destinationPort: UInt16, sequenceNumber: TCPSeqNumber,
                acknowledgmentNumber: TCPSeqNumber = TCPSeqNumber(0), flags: TCPFlags, windowSize: UInt16,
                urgentPointer: UInt16 = 0, options: TCPOptions = TCPOptions(), payloadLength: Int = 0) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.sequenceNumber = sequenceNumber
        self.acknowledgmentNumber = acknowledgmentNumber
        self.flags = flags
        self.windowSize = windowSize
        self.urgentPointer = urgentPointer
        self.options = options
        self.payloadLength = payloadLength
    }

    /// 20 plus the padded options.
    @inlinable public var headerLength: Int { TCPSegment.minimumHeaderLength &+ options.paddedLength }

    /// Parses a checked view. With a pseudo-header the checksum is verified
    /// (`.badChecksum`); nil skips it (a capture, or a quoted segment).
    public static func parse(_ segment: TCPSegment, pseudoHeader: PseudoHeader?) throws(WireError) -> TCPRepr {
        if let pseudoHeader, !segment.checksumVerifies(pseudoHeader) { throw .badChecksum }
        let options = try TCPOptions.parse(segment.options)
        return TCPRepr(sourcePort: segment.sourcePort, destinationPort: segment.destinationPort,
                       sequenceNumber: segment.sequenceNumber, acknowledgmentNumber: segment.acknowledgmentNumber,
                       flags: segment.flags, windowSize: segment.windowSize, urgentPointer: segment.urgentPointer,
                       options: options, payloadLength: segment.bytes.count &- segment.headerLength)
    }

    /// Writes the header at the start of `out`, then the checksum over the
    /// pseudo-header, the header and the `payloadLength` bytes that must
    /// already follow the header in `out`. Options over 40 bytes → `.badField`.
    public func emit(into out: UnsafeMutableRawBufferPointer, pseudoHeader: PseudoHeader) throws(WireError) {
        let optionLength = options.paddedLength
        guard optionLength <= TCPSegment.maximumHeaderLength &- TCPSegment.minimumHeaderLength,
              payloadLength >= 0, flags.rawValue & ~TCPFlags.all.rawValue == 0 else { throw .badField }
        let hl = TCPSegment.minimumHeaderLength &+ optionLength
        let length = hl &+ payloadLength
        guard out.count >= length else { throw .bufferTooSmall }
        out.setBE16(0, sourcePort)
        out.setBE16(2, destinationPort)
        out.setBE32(4, sequenceNumber.rawValue)
        out.setBE32(8, acknowledgmentNumber.rawValue)
        out.setBE16(12, UInt16(hl / 4) << 12 | flags.rawValue)
        out.setBE16(14, windowSize)
        out.setBE16(16, 0)
        out.setBE16(18, urgentPointer)
        _ = options.write(into: out, at: TCPSegment.minimumHeaderLength)
        var c = pseudoHeader.seed(protocol: IPProtocol.tcp.rawValue, length: length)
        c.add(UnsafeRawBufferPointer(out.bytes(0, length)))
        out.setBE16(16, c.value)
    }
}
