// NetWire: wire formats only. No state, no clock, no OS.
//
// What it promises
// - Every header has a *checked view* (`EthernetFrame`, `IPv4Packet`, …): a
//   small struct over borrowed bytes whose initialiser validates every length
//   once. After that, field accessors never trap and never re-check.
// - Every header has an owned *Repr* (`EthernetRepr`, `IPv4Repr`, …): a small
//   `Equatable, Sendable` value with `parse(_ view:)` and `emit(into:)`.
//   `parse(emit(x)) == x` is a tested property for every Repr.
// - Malformed input gives a typed `WireError` and never traps. Untrusted
//   input reaches a view only through its throwing initialiser.
// - Internet checksum (RFC 1071) with pseudo-headers and incremental update
//   (RFC 1624) in `InternetChecksum`.
//
// Kernel counterpart: the header structs in include/uapi/linux/{if_ether,ip,
// ipv6,icmp,icmpv6,udp,tcp}.h and the parsing done in ip_rcv_core(),
// ipv6_rcv(), tcp_parse_options(); here they are checked views, in the shape
// of smoltcp's src/wire and gVisor's header package.
//
// Lifetime contract of views: a view holds an `UnsafeRawBufferPointer` lent
// by its caller (for example `PacketBuffer.withUnsafeReadableBytes`). It is
// valid only inside the scope that lent the bytes. Views never escape that
// scope; Reprs are the owned values that do.

/// Why a sequence of bytes is not a valid header. One closed set for every
/// format, so a receive path can map it to a drop reason in one switch.
public enum WireError: Error, Equatable, Hashable, Sendable {
    /// Fewer bytes than the header (or a length field) requires.
    case truncated
    /// A version field other than the one this view parses.
    case badVersion
    /// A header-length field smaller than the fixed header or past the data.
    case badHeaderLength
    /// A total/payload length field that disagrees with the bytes present.
    case badLength
    /// A checksum that does not verify.
    case badChecksum
    /// An option (IPv4, TCP, NDP, IPv6 extension) that is malformed.
    case badOption
    /// A field whose value the format forbids (e.g. ARP hardware length ≠ 6).
    case badField
    /// A valid format this library does not parse (e.g. an unknown ARP hardware type).
    case unsupported
    /// An emit target too small for the Repr's encoded length.
    case bufferTooSmall
}
