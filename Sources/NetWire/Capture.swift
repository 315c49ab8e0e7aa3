// Capture files: classic pcap and pcapng, encoded and decoded in memory.
// No IO here: NetstackHost/CaptureFile.swift moves the bytes to and from disk.
//
// Formats (facts from the specifications, code written here):
// - pcap: draft-ietf-opsawg-pcap ("PCAP Capture File Format"). A 24-byte
//   file header (magic, version 2.4, reserved, snaplen, link type) and
//   16-byte record headers (seconds, fraction, captured length, original
//   length). Magic 0xA1B2C3D4 means microsecond fractions, 0xA1B23C4D
//   nanoseconds; the byte order of the magic is the byte order of the file.
// - pcapng: draft-ietf-opsawg-pcapng. Blocks of (type, total length, body,
//   total length), 32-bit aligned. A Section Header Block (byte-order magic
//   0x1A2B3C4D) starts each section; Interface Description Blocks declare
//   link type, snaplen and options (if_name, if_tsresol, if_tsoffset);
//   Enhanced Packet Blocks and Simple Packet Blocks carry frames. Unknown
//   blocks are skipped, as the draft requires.
//
// Reading walks a borrowed buffer and yields `CaptureRecord`s whose `frame`
// borrows from that buffer (same lifetime contract as the NetWire views).
// Every length is checked before it is used: garbage gives a typed
// `CaptureError`, never a trap. Lengths are 32-bit fields widened to `Int`
// (64-bit), so sums of two of them cannot overflow.
//
// Writing always produces little-endian files. Encoders write into a buffer
// the caller provides (`encode…(into:)`) or append to a reusable `[UInt8]`
// (`append…(to:)`); after the array's capacity has grown to the largest
// record, appending allocates nothing.
//
// Kernel counterpart: none in the kernel; this is what libpcap's savefile
// code and AF_PACKET taps feed, and what `tcpdump -w` writes.

// MARK: - Types shared by reader and writers

/// A link-layer header type (tcpdump.org "LINK-LAYER HEADER TYPES").
/// A struct: unknown values are valid and round-trip.
public struct LinkType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// LINKTYPE_ETHERNET: IEEE 802.3 Ethernet frames without FCS.
    public static let ethernet = LinkType(rawValue: 1)
    /// LINKTYPE_RAW: a bare IPv4 or IPv6 packet (TUN devices).
    public static let raw = LinkType(rawValue: 101)

    public var description: String {
        switch self {
        case .ethernet: "EN10MB"
        case .raw: "RAW"
        default: "linktype \(rawValue)"
        }
    }
}

public enum CaptureFormat: Sendable, Hashable {
    case pcap
    case pcapng
}

/// The unit of a written timestamp.
public enum TimestampResolution: Sendable, Hashable {
    case microseconds
    case nanoseconds
}

/// Why bytes are not a capture file we can read (or a record we can write).
/// `offset` is the byte offset in the buffer where the offending header or
/// block starts, to point a user at the damage.
public enum CaptureError: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The buffer ends inside the file header or section header.
    case truncatedFileHeader
    /// The first four bytes are neither a pcap nor a pcapng magic number.
    case badMagic(UInt32)
    /// A pcap version other than 2.x, or a pcapng section major version other than 1.
    case unsupportedVersion(major: UInt16, minor: UInt16)
    /// A snapshot length beyond `CaptureLimits.maximumSnapLength`.
    case absurdSnapLength(UInt32)
    /// The buffer ends inside a record header or block header.
    case truncatedRecordHeader(offset: Int)
    /// A record's captured length runs past the end of the buffer.
    case recordPastEnd(offset: Int, capturedLength: Int, available: Int)
    /// A record's captured length is larger than any snaplen allows.
    case recordTooLarge(offset: Int, capturedLength: Int)
    /// A pcapng block length that is below 12, not a multiple of 4, or too
    /// small for the block's fixed fields.
    case badBlockLength(offset: Int, length: Int)
    /// A pcapng block whose trailing length differs from its leading length.
    case blockLengthMismatch(offset: Int, leading: Int, trailing: Int)
    /// A pcapng block whose length runs past the end of the buffer.
    case blockPastEnd(offset: Int, length: Int, available: Int)
    /// A pcapng block that appears before any Section Header Block.
    case missingSectionHeader(offset: Int)
    /// A packet block names an interface that no IDB in its section declared.
    case unknownInterface(offset: Int, interface: Int)
    /// A malformed pcapng option (length past the block, bad if_tsresol…).
    case badOption(offset: Int)
    /// A timestamp that does not fit 64-bit nanoseconds since the epoch.
    case timestampOutOfRange(offset: Int)
    /// Writing: the destination buffer is smaller than the encoded record.
    case bufferTooSmall
    /// Writing: a frame longer than a record can describe (32-bit lengths),
    /// or an original length shorter than the frame.
    case badFrameLength
    /// Writing: an interface index the writer did not declare.
    case noSuchInterface(Int)

    public var description: String {
        switch self {
        case .truncatedFileHeader: "truncated file header"
        case .badMagic(let m): "bad magic number 0x\(String(m, radix: 16)): not a pcap or pcapng file"
        case .unsupportedVersion(let major, let minor): "unsupported format version \(major).\(minor)"
        case .absurdSnapLength(let s): "absurd snapshot length \(s)"
        case .truncatedRecordHeader(let o): "truncated record header at offset \(o)"
        case .recordPastEnd(let o, let c, let a):
            "record at offset \(o) has captured length \(c) but only \(a) bytes remain (truncated file)"
        case .recordTooLarge(let o, let c): "record at offset \(o) has absurd captured length \(c)"
        case .badBlockLength(let o, let l): "bad block length \(l) at offset \(o)"
        case .blockLengthMismatch(let o, let a, let b):
            "block at offset \(o): leading length \(a) differs from trailing length \(b)"
        case .blockPastEnd(let o, let l, let a):
            "block at offset \(o) has length \(l) but only \(a) bytes remain (truncated file)"
        case .missingSectionHeader(let o): "block at offset \(o) before any section header"
        case .unknownInterface(let o, let i): "packet block at offset \(o) names undeclared interface \(i)"
        case .badOption(let o): "malformed option in block at offset \(o)"
        case .timestampOutOfRange(let o): "timestamp out of range in record at offset \(o)"
        case .bufferTooSmall: "destination buffer too small"
        case .badFrameLength: "frame length not representable"
        case .noSuchInterface(let i): "no such capture interface \(i)"
        }
    }
}

public enum CaptureLimits {
    /// Larger snaplens are refused as garbage. (libpcap caps at 256 KiB for
    /// most link types; some writers use 0xFFFF_FFFF-ish values for "all", which
    /// we do not accept either: a real file never needs more than this.)
    public static let maximumSnapLength = 0x0400_0000 // 64 MiB
    /// Snaplen written by default and the floor of what a record may hold
    /// whatever the header's snaplen says (libpcap's MAXIMUM_SNAPLEN).
    public static let defaultSnapLength = 262_144
}

/// One frame from a capture file. `frame` borrows from the buffer given to
/// the reader and is valid only as long as that buffer is.
public struct CaptureRecord {
    /// The pcapng interface index (0 for pcap).
    public var interface: Int
    public var linkType: LinkType
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    public var timestampNanoseconds: UInt64
    /// The frame's length on the wire; `frame.count` may be smaller (snaplen).
    public var originalLength: Int
    public var frame: UnsafeRawBufferPointer
    /// Byte offset of the record's header in the buffer.
    public var offset: Int
}

/// An interface as declared by a pcap file header or a pcapng IDB.
public struct CaptureInterface: Hashable, Sendable {
    public var linkType: LinkType
    /// 0 means "no limit" (pcapng).
    public var snapLength: Int
    public var name: String?
    /// Timestamp units per second are 10^exponent (or 2^exponent when `binary`).
    public var resolutionExponent: UInt8
    public var resolutionIsBinary: Bool
    /// if_tsoffset: seconds added to every timestamp.
    public var timestampOffsetSeconds: Int64

    public init(linkType: LinkType, snapLength: Int, name: String? = nil,
                resolutionExponent: UInt8 = 6, resolutionIsBinary: Bool = false,
                timestampOffsetSeconds: Int64 = 0) {
        self.linkType = linkType
        self.snapLength = snapLength
        self.name = name
        self.resolutionExponent = resolutionExponent
        self.resolutionIsBinary = resolutionIsBinary
        self.timestampOffsetSeconds = timestampOffsetSeconds
    }
}

// MARK: - Byte-order aware loads

/// Field loads in a file's byte order. Callers check `offset + width <= count`.
struct ByteOrderedBytes {
    let bytes: UnsafeRawBufferPointer
    let bigEndian: Bool

    @inline(__always)
    func u16(_ offset: Int) -> UInt16 {
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
        return bigEndian ? UInt16(bigEndian: v) : UInt16(littleEndian: v)
    }

    @inline(__always)
    func u32(_ offset: Int) -> UInt32 {
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        return bigEndian ? UInt32(bigEndian: v) : UInt32(littleEndian: v)
    }

    @inline(__always)
    func u64(_ offset: Int) -> UInt64 {
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        return bigEndian ? UInt64(bigEndian: v) : UInt64(littleEndian: v)
    }
}

enum CaptureMagic {
    static let pcapMicroseconds: UInt32 = 0xA1B2_C3D4
    static let pcapNanoseconds: UInt32 = 0xA1B2_3C4D
    static let pcapngSection: UInt32 = 0x0A0D_0D0A
    static let pcapngByteOrder: UInt32 = 0x1A2B_3C4D
}

enum PcapngBlockType {
    static let sectionHeader: UInt32 = 0x0A0D_0D0A
    static let interfaceDescription: UInt32 = 1
    static let simplePacket: UInt32 = 3
    static let enhancedPacket: UInt32 = 6
}

enum PcapngOption {
    static let endOfOptions: UInt16 = 0
    static let ifName: UInt16 = 2
    static let ifTsresol: UInt16 = 9
    static let ifTsoffset: UInt16 = 14
}

// MARK: - Reader

/// Walks a pcap or pcapng file held in memory.
///
/// ```
/// var reader = try CaptureReader(bytes)
/// while let record = try reader.next() { … record.frame … }
/// ```
/// After `next()` throws, the reader stays at the damaged record: calling
/// `next()` again throws the same error.
public struct CaptureReader {
    public let bytes: UnsafeRawBufferPointer
    public let format: CaptureFormat
    /// The byte order of the current section (pcap: of the file).
    public private(set) var isBigEndian: Bool
    /// Interfaces of the current section (pcap: exactly one).
    public private(set) var interfaces: [CaptureInterface]
    /// Offset of the next record or block.
    public private(set) var offset: Int
    /// pcap only: true when fractions are nanoseconds.
    let pcapNanoseconds: Bool

    public init(_ bytes: UnsafeRawBufferPointer) throws(CaptureError) {
        self.bytes = bytes
        guard bytes.count >= 4 else { throw .truncatedFileHeader }
        let native = bytes.loadUnaligned(as: UInt32.self)
        let le = UInt32(littleEndian: native), be = UInt32(bigEndian: native)
        if le == CaptureMagic.pcapngSection {
            format = .pcapng
            pcapNanoseconds = false
            isBigEndian = false
            interfaces = []
            offset = 0
            // The first block must be a complete, valid SHB.
            guard bytes.count >= 28 else { throw .truncatedFileHeader }
            _ = try readBlock()
            return
        }
        format = .pcap
        interfaces = []
        offset = 24
        if le == CaptureMagic.pcapMicroseconds || le == CaptureMagic.pcapNanoseconds {
            isBigEndian = false
            pcapNanoseconds = le == CaptureMagic.pcapNanoseconds
        } else if be == CaptureMagic.pcapMicroseconds || be == CaptureMagic.pcapNanoseconds {
            isBigEndian = true
            pcapNanoseconds = be == CaptureMagic.pcapNanoseconds
        } else {
            throw .badMagic(be)
        }
        guard bytes.count >= 24 else { throw .truncatedFileHeader }
        let b = ByteOrderedBytes(bytes: bytes, bigEndian: isBigEndian)
        let major = b.u16(4), minor = b.u16(6)
        guard major == 2 else { throw .unsupportedVersion(major: major, minor: minor) }
        let snaplen = b.u32(16)
        guard Int(snaplen) <= CaptureLimits.maximumSnapLength else { throw .absurdSnapLength(snaplen) }
        // Bits 0…15 are the link type; the upper bits carry FCS information.
        let linkType = LinkType(rawValue: UInt16(truncatingIfNeeded: b.u32(20)))
        interfaces = [CaptureInterface(linkType: linkType, snapLength: Int(snaplen),
                                       resolutionExponent: pcapNanoseconds ? 9 : 6)]
    }

    /// The next frame, or nil at a clean end of the buffer.
    public mutating func next() throws(CaptureError) -> CaptureRecord? {
        switch format {
        case .pcap: return try nextPcap()
        case .pcapng:
            while offset < bytes.count {
                if let record = try readBlock() { return record }
            }
            return nil
        }
    }

    /// Reads every record; stops at the first error.
    public mutating func forEach(_ body: (CaptureRecord) -> Void) throws(CaptureError) {
        while let record = try next() { body(record) }
    }

    // MARK: pcap

    mutating func nextPcap() throws(CaptureError) -> CaptureRecord? {
        let start = offset
        let remaining = bytes.count - start
        if remaining == 0 { return nil }
        guard remaining >= 16 else { throw .truncatedRecordHeader(offset: start) }
        let b = ByteOrderedBytes(bytes: bytes, bigEndian: isBigEndian)
        let seconds = UInt64(b.u32(start))
        let fraction = UInt64(b.u32(start + 4))
        let captured = Int(b.u32(start + 8))
        let original = Int(b.u32(start + 12))
        let limit = max(interfaces[0].snapLength, CaptureLimits.defaultSnapLength)
        guard captured <= limit else { throw .recordTooLarge(offset: start, capturedLength: captured) }
        guard captured <= remaining - 16 else {
            throw .recordPastEnd(offset: start, capturedLength: captured, available: remaining - 16)
        }
        // 2^32 s · 10^9 + 2^32 · 1000 < 2^64: cannot overflow.
        let ns = seconds &* 1_000_000_000 &+ (pcapNanoseconds ? fraction : fraction &* 1000)
        offset = start + 16 + captured
        return CaptureRecord(interface: 0, linkType: interfaces[0].linkType, timestampNanoseconds: ns,
                             originalLength: max(original, captured),
                             frame: bytes.bytes(start + 16, start + 16 + captured), offset: start)
    }

    // MARK: pcapng

    /// Reads the block at `offset`; returns a record for packet blocks, nil
    /// for others. Advances `offset` only when the whole block is valid.
    mutating func readBlock() throws(CaptureError) -> CaptureRecord? {
        let start = offset
        let remaining = bytes.count - start
        guard remaining >= 12 else {
            throw start == 0 ? .truncatedFileHeader : .truncatedRecordHeader(offset: start)
        }
        let rawType = bytes.loadUnaligned(fromByteOffset: start, as: UInt32.self)
        var bigEndian = isBigEndian
        if UInt32(littleEndian: rawType) == PcapngBlockType.sectionHeader {
            // The SHB's own byte order comes from its byte-order magic.
            guard remaining >= 28 else {
                throw start == 0 ? .truncatedFileHeader : .truncatedRecordHeader(offset: start)
            }
            let bom = bytes.loadUnaligned(fromByteOffset: start + 8, as: UInt32.self)
            if UInt32(littleEndian: bom) == CaptureMagic.pcapngByteOrder {
                bigEndian = false
            } else if UInt32(bigEndian: bom) == CaptureMagic.pcapngByteOrder {
                bigEndian = true
            } else {
                throw .badMagic(UInt32(bigEndian: bom))
            }
        } else if start == 0 {
            throw .badMagic(UInt32(bigEndian: rawType))
        }
        let b = ByteOrderedBytes(bytes: bytes, bigEndian: bigEndian)
        let type = b.u32(start)
        let length = Int(b.u32(start + 4))
        guard length >= 12, length & 3 == 0 else { throw .badBlockLength(offset: start, length: length) }
        guard length <= remaining else { throw .blockPastEnd(offset: start, length: length, available: remaining) }
        let trailing = Int(b.u32(start + length - 4))
        guard trailing == length else {
            throw .blockLengthMismatch(offset: start, leading: length, trailing: trailing)
        }
        // Body: [start + 8, start + length - 4).
        let body = start + 8, end = start + length - 4
        var record: CaptureRecord?
        switch type {
        case PcapngBlockType.sectionHeader:
            guard end - body >= 16 else { throw .badBlockLength(offset: start, length: length) }
            let major = b.u16(body + 4), minor = b.u16(body + 6)
            guard major == 1 else { throw .unsupportedVersion(major: major, minor: minor) }
            isBigEndian = bigEndian
            interfaces = []
            sawSection = true
        case PcapngBlockType.interfaceDescription:
            guard sawSection else { throw .missingSectionHeader(offset: start) }
            guard end - body >= 8 else { throw .badBlockLength(offset: start, length: length) }
            let snaplen = b.u32(body + 4)
            guard Int(snaplen) <= CaptureLimits.maximumSnapLength else { throw .absurdSnapLength(snaplen) }
            var interface = CaptureInterface(linkType: LinkType(rawValue: b.u16(body)), snapLength: Int(snaplen))
            try Self.readInterfaceOptions(b, from: body + 8, to: end, block: start, into: &interface)
            interfaces.append(interface)
        case PcapngBlockType.enhancedPacket:
            guard sawSection else { throw .missingSectionHeader(offset: start) }
            guard end - body >= 20 else { throw .badBlockLength(offset: start, length: length) }
            let id = Int(b.u32(body))
            guard id < interfaces.count else { throw .unknownInterface(offset: start, interface: id) }
            let units = UInt64(b.u32(body + 4)) << 32 | UInt64(b.u32(body + 8))
            let captured = Int(b.u32(body + 12))
            let original = Int(b.u32(body + 16))
            let data = body + 20
            guard captured <= end - data else {
                throw .recordPastEnd(offset: start, capturedLength: captured, available: end - data)
            }
            let ns = try Self.nanoseconds(units, interfaces[id], block: start)
            record = CaptureRecord(interface: id, linkType: interfaces[id].linkType, timestampNanoseconds: ns,
                                   originalLength: max(original, captured),
                                   frame: bytes.bytes(data, data + captured), offset: start)
        case PcapngBlockType.simplePacket:
            guard sawSection else { throw .missingSectionHeader(offset: start) }
            guard end - body >= 4 else { throw .badBlockLength(offset: start, length: length) }
            guard !interfaces.isEmpty else { throw .unknownInterface(offset: start, interface: 0) }
            let original = Int(b.u32(body))
            let data = body + 4
            // Captured length: the original length cut to the snaplen and to the block.
            var captured = min(original, end - data)
            if interfaces[0].snapLength > 0 { captured = min(captured, interfaces[0].snapLength) }
            record = CaptureRecord(interface: 0, linkType: interfaces[0].linkType, timestampNanoseconds: 0,
                                   originalLength: original, frame: bytes.bytes(data, data + captured),
                                   offset: start)
        default:
            // Unknown, statistics, name resolution, custom…: skipped.
            guard sawSection else { throw .missingSectionHeader(offset: start) }
        }
        offset = start + length
        return record
    }

    /// True once an SHB has been read (pcapng).
    private var sawSection = false

    static func readInterfaceOptions(_ b: ByteOrderedBytes, from: Int, to end: Int, block: Int,
                                     into interface: inout CaptureInterface) throws(CaptureError) {
        var at = from
        while end - at >= 4 {
            let code = b.u16(at)
            let length = Int(b.u16(at + 2))
            if code == PcapngOption.endOfOptions { return }
            let value = at + 4
            guard length <= end - value else { throw .badOption(offset: block) }
            switch code {
            case PcapngOption.ifName:
                interface.name = String(decoding: b.bytes.bytes(value, value + length), as: UTF8.self)
            case PcapngOption.ifTsresol:
                guard length == 1 else { throw .badOption(offset: block) }
                let r = b.bytes.u8(value)
                let binary = r & 0x80 != 0, exponent = r & 0x7F
                // 10^38 and 2^127 are the largest unit counts UInt128 holds.
                guard binary ? exponent <= 127 : exponent <= 38 else { throw .badOption(offset: block) }
                interface.resolutionIsBinary = binary
                interface.resolutionExponent = exponent
            case PcapngOption.ifTsoffset:
                guard length == 8 else { throw .badOption(offset: block) }
                interface.timestampOffsetSeconds = Int64(bitPattern: b.u64(value))
            default:
                break
            }
            // Values are padded to 32 bits; padding may be missing at the end.
            at = min(end, value + (length + 3) & ~3)
        }
    }

    /// Converts timestamp units to nanoseconds since the epoch.
    static func nanoseconds(_ units: UInt64, _ interface: CaptureInterface,
                            block: Int) throws(CaptureError) -> UInt64 {
        let perSecond: UInt128 = interface.resolutionIsBinary
            ? UInt128(1) << UInt128(interface.resolutionExponent)
            : power10(interface.resolutionExponent)
        // units < 2^64 and 10^9 < 2^30: the product fits in 128 bits.
        var ns = UInt128(units) * 1_000_000_000 / perSecond
        let offsetNs = Int128(interface.timestampOffsetSeconds) * 1_000_000_000
        let shifted = Int128(ns) + offsetNs
        guard shifted >= 0, shifted <= Int128(UInt64.max) else { throw .timestampOutOfRange(offset: block) }
        ns = UInt128(shifted)
        return UInt64(ns)
    }

    static func power10(_ exponent: UInt8) -> UInt128 {
        var v: UInt128 = 1
        for _ in 0..<exponent { v *= 10 }
        return v
    }
}

// MARK: - pcap writer

/// Encodes a little-endian pcap file: one link type, microsecond or
/// nanosecond timestamps. Frames longer than `snapLength` are cut, their
/// original length kept.
public struct PcapEncoder: Sendable {
    public static let fileHeaderLength = 24
    public static let recordHeaderLength = 16

    public var linkType: LinkType
    public var snapLength: Int
    public var resolution: TimestampResolution

    public init(linkType: LinkType = .ethernet, snapLength: Int = CaptureLimits.defaultSnapLength,
                resolution: TimestampResolution = .microseconds) {
        precondition(snapLength > 0 && snapLength <= CaptureLimits.maximumSnapLength,
                     "PcapEncoder snapLength \(snapLength) out of 1…\(CaptureLimits.maximumSnapLength)")
        self.linkType = linkType
        self.snapLength = snapLength
        self.resolution = resolution
    }

    public func encodeFileHeader(into out: UnsafeMutableRawBufferPointer) throws(CaptureError) -> Int {
        guard out.count >= Self.fileHeaderLength else { throw .bufferTooSmall }
        let magic = resolution == .nanoseconds ? CaptureMagic.pcapNanoseconds : CaptureMagic.pcapMicroseconds
        out.setLE32(0, magic)
        out.setLE16(4, 2)
        out.setLE16(6, 4)
        out.setLE32(8, 0)   // reserved (was thiszone)
        out.setLE32(12, 0)  // reserved (was sigfigs)
        out.setLE32(16, UInt32(snapLength))
        out.setLE32(20, UInt32(linkType.rawValue))
        return Self.fileHeaderLength
    }

    /// Bytes `encodeRecord` writes for a frame of `frameLength` bytes.
    @inlinable
    public func recordLength(frameLength: Int) -> Int {
        Self.recordHeaderLength + min(frameLength, snapLength)
    }

    /// Writes one record at the start of `out`; returns the bytes written.
    /// `originalLength` defaults to the frame's length.
    public func encodeRecord(timestampNanoseconds ns: UInt64, frame: UnsafeRawBufferPointer,
                             originalLength: Int? = nil,
                             into out: UnsafeMutableRawBufferPointer) throws(CaptureError) -> Int {
        let original = originalLength ?? frame.count
        guard original >= frame.count, original <= Int(UInt32.max) else { throw .badFrameLength }
        let captured = min(frame.count, snapLength)
        let total = Self.recordHeaderLength + captured
        guard out.count >= total else { throw .bufferTooSmall }
        let seconds = ns / 1_000_000_000, fraction = ns % 1_000_000_000
        guard seconds <= UInt64(UInt32.max) else { throw .timestampOutOfRange(offset: 0) }
        out.setLE32(0, UInt32(seconds))
        out.setLE32(4, UInt32(resolution == .nanoseconds ? fraction : fraction / 1000))
        out.setLE32(8, UInt32(captured))
        out.setLE32(12, UInt32(original))
        out.copy(frame.bytes(0, captured), to: Self.recordHeaderLength)
        return total
    }

    public func appendFileHeader(to sink: inout [UInt8]) {
        // 24 bytes always fit the 24 bytes reserved: this cannot fail.
        try? sink.appendEncoded(Self.fileHeaderLength) { out throws(CaptureError) in
            try encodeFileHeader(into: out)
        }
    }

    public func appendRecord(timestampNanoseconds ns: UInt64, frame: UnsafeRawBufferPointer,
                             originalLength: Int? = nil, to sink: inout [UInt8]) throws(CaptureError) {
        try sink.appendEncoded(recordLength(frameLength: frame.count)) { out throws(CaptureError) in
            try encodeRecord(timestampNanoseconds: ns, frame: frame, originalLength: originalLength, into: out)
        }
    }
}

// MARK: - pcapng writer

/// Encodes a little-endian pcapng section: an SHB, an IDB per interface
/// (if_name, if_tsresol), and Enhanced Packet Blocks.
///
/// Interfaces may be added at any time (`appendInterface`); a packet block
/// may only name an interface whose IDB has been written.
public struct PcapngEncoder: Sendable {
    public static let enhancedPacketOverhead = 32 // 28 header + 4 trailing length

    public struct Interface: Hashable, Sendable {
        public var name: String
        public var linkType: LinkType
        public var snapLength: Int
        public var resolution: TimestampResolution

        public init(name: String, linkType: LinkType = .ethernet, snapLength: Int = CaptureLimits.defaultSnapLength,
                    resolution: TimestampResolution = .nanoseconds) {
            self.name = name
            self.linkType = linkType
            self.snapLength = snapLength
            self.resolution = resolution
        }
    }

    public private(set) var interfaces: [Interface] = []
    /// An optional shb_userappl string.
    public var application: String?

    public init(application: String? = "swift-netstack") {
        self.application = application
    }

    /// Appends a Section Header Block (section length unknown: -1).
    public func appendSectionHeader(to sink: inout [UInt8]) {
        var options: [UInt8] = []
        if let application { appendOption(4, Array(application.utf8), to: &options) } // shb_userappl
        if !options.isEmpty { appendOption(PcapngOption.endOfOptions, [], to: &options) }
        let total = 28 + options.count
        sink.appendLE32(PcapngBlockType.sectionHeader)
        sink.appendLE32(UInt32(total))
        sink.appendLE32(CaptureMagic.pcapngByteOrder)
        sink.appendLE16(1)
        sink.appendLE16(0)
        sink.appendLE32(0xFFFF_FFFF)
        sink.appendLE32(0xFFFF_FFFF)
        sink.append(contentsOf: options)
        sink.appendLE32(UInt32(total))
    }

    /// Declares an interface and appends its IDB; returns its index.
    @discardableResult
    public mutating func appendInterface(_ interface: Interface, to sink: inout [UInt8]) -> Int {
        precondition(interface.snapLength >= 0 && interface.snapLength <= CaptureLimits.maximumSnapLength,
                     "pcapng interface snapLength \(interface.snapLength) out of range")
        var options: [UInt8] = []
        appendOption(PcapngOption.ifName, Array(interface.name.utf8), to: &options)
        if interface.resolution == .nanoseconds { appendOption(PcapngOption.ifTsresol, [9], to: &options) }
        appendOption(PcapngOption.endOfOptions, [], to: &options)
        let total = 20 + options.count
        sink.appendLE32(PcapngBlockType.interfaceDescription)
        sink.appendLE32(UInt32(total))
        sink.appendLE16(interface.linkType.rawValue)
        sink.appendLE16(0)
        sink.appendLE32(UInt32(interface.snapLength))
        sink.append(contentsOf: options)
        sink.appendLE32(UInt32(total))
        interfaces.append(interface)
        return interfaces.count - 1
    }

    /// Bytes `encodePacket` writes for a frame of `frameLength` bytes on
    /// `interface` (which must exist).
    public func packetLength(interface: Int, frameLength: Int) -> Int {
        let snap = interfaces[interface].snapLength
        let captured = snap > 0 ? min(frameLength, snap) : frameLength
        return Self.enhancedPacketOverhead + (captured + 3) & ~3
    }

    /// Writes one Enhanced Packet Block at the start of `out`.
    public func encodePacket(interface: Int, timestampNanoseconds ns: UInt64, frame: UnsafeRawBufferPointer,
                             originalLength: Int? = nil,
                             into out: UnsafeMutableRawBufferPointer) throws(CaptureError) -> Int {
        guard interface >= 0, interface < interfaces.count else { throw .noSuchInterface(interface) }
        let original = originalLength ?? frame.count
        guard original >= frame.count, original <= Int(UInt32.max) else { throw .badFrameLength }
        let desc = interfaces[interface]
        let captured = desc.snapLength > 0 ? min(frame.count, desc.snapLength) : frame.count
        let padded = (captured + 3) & ~3
        let total = Self.enhancedPacketOverhead + padded
        guard total <= Int(UInt32.max) else { throw .badFrameLength }
        guard out.count >= total else { throw .bufferTooSmall }
        let units = desc.resolution == .nanoseconds ? ns : ns / 1000
        out.setLE32(0, PcapngBlockType.enhancedPacket)
        out.setLE32(4, UInt32(total))
        out.setLE32(8, UInt32(interface))
        out.setLE32(12, UInt32(truncatingIfNeeded: units >> 32))
        out.setLE32(16, UInt32(truncatingIfNeeded: units))
        out.setLE32(20, UInt32(captured))
        out.setLE32(24, UInt32(original))
        out.copy(frame.bytes(0, captured), to: 28)
        var i = 28 + captured
        while i < 28 + padded { out.setU8(i, 0); i += 1 }
        out.setLE32(total - 4, UInt32(total))
        return total
    }

    public func appendPacket(interface: Int, timestampNanoseconds ns: UInt64, frame: UnsafeRawBufferPointer,
                             originalLength: Int? = nil, to sink: inout [UInt8]) throws(CaptureError) {
        guard interface >= 0, interface < interfaces.count else { throw .noSuchInterface(interface) }
        try sink.appendEncoded(packetLength(interface: interface, frameLength: frame.count)) {
            out throws(CaptureError) in
            try encodePacket(interface: interface, timestampNanoseconds: ns, frame: frame,
                             originalLength: originalLength, into: out)
        }
    }

    private func appendOption(_ code: UInt16, _ value: [UInt8], to out: inout [UInt8]) {
        out.appendLE16(code)
        out.appendLE16(UInt16(truncatingIfNeeded: value.count))
        out.append(contentsOf: value)
        while out.count & 3 != 0 { out.append(0) }
    }
}

// MARK: - Little-endian stores and appends

extension UnsafeMutableRawBufferPointer {
    @inline(__always)
    func setLE16(_ offset: Int, _ value: UInt16) {
        storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt16.self)
    }

    @inline(__always)
    func setLE32(_ offset: Int, _ value: UInt32) {
        storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
    }
}

extension Array where Element == UInt8 {
    mutating func appendLE16(_ v: UInt16) {
        append(UInt8(truncatingIfNeeded: v))
        append(UInt8(truncatingIfNeeded: v >> 8))
    }

    mutating func appendLE32(_ v: UInt32) {
        appendLE16(UInt16(truncatingIfNeeded: v))
        appendLE16(UInt16(truncatingIfNeeded: v >> 16))
    }

    /// Grows the array by `count` bytes, lets `body` fill them, and trims to
    /// what `body` wrote. On error the array is left as it was. Within the
    /// array's capacity this allocates nothing.
    mutating func appendEncoded(_ count: Int,
                                _ body: (UnsafeMutableRawBufferPointer) throws(CaptureError) -> Int)
        throws(CaptureError) {
        let start = self.count
        append(contentsOf: repeatElement(0, count: count))
        let result: Result<Int, CaptureError> = withUnsafeMutableBytes { all in
            do throws(CaptureError) {
                return .success(try body(all.bytes(start, start + count)))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let written): removeLast(count - written)
        case .failure(let error):
            removeLast(count)
            throw error
        }
    }
}
