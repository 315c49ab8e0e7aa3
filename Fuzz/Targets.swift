// libFuzzer targets, one per top-level parser, compiled together with the
// NetWire sources into one binary (Fuzz/run.sh) and selected with the
// FUZZ_TARGET environment variable so the binary is built once.
//
// Each target feeds arbitrary bytes to a checked view's initialiser and its
// Repr's parse. Neither may trap. When parsing succeeds, the Repr is emitted
// over a copy of the input (payload left in place) and parsed again: the
// result must equal the first parse (parse ∘ emit = id), else we trap so
// libFuzzer records the input.
#if canImport(Glibc)
import Glibc
#endif

let targetName: String = {
    guard let raw = getenv("FUZZ_TARGET") else { return "" }
    return String(cString: raw)
}()

let targets: [String: (UnsafeRawBufferPointer) -> Void] = [
    "ethernet": fuzzEthernet, "vlan": fuzzVLAN, "arp": fuzzARP, "ipv4": fuzzIPv4, "ipv6": fuzzIPv6,
    "icmpv4": fuzzICMPv4, "icmpv6": fuzzICMPv6, "udp": fuzzUDP, "tcp": fuzzTCP, "vxlan": fuzzVXLAN,
    "capture": fuzzCapture, "summary": fuzzSummary, "checksum": fuzzChecksum,
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let body = targets[targetName] else {
        fputs("FUZZ_TARGET must be one of: \(targets.keys.sorted().joined(separator: " "))\n", stderr)
        exit(2)
    }
    body(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

func check(_ ok: Bool, _ what: @autoclosure () -> String) {
    if !ok { fatalError("round trip broke: \(what())") }
}

/// Runs `body` over a private mutable copy of `bytes`.
func withCopy(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeMutableRawBufferPointer) -> Void) {
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 8)
    defer { copy.deallocate() }
    let exact = UnsafeMutableRawBufferPointer(rebasing: copy[0..<bytes.count])
    if bytes.count > 0 { exact.copyMemory(from: bytes) }
    body(exact)
}

let pseudo4 = PseudoHeader.ipv4(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2))
let pseudo6 = PseudoHeader.ipv6(source: IPv6Address("fe80::1")!, destination: IPv6Address("ff02::1")!)

func fuzzEthernet(_ b: UnsafeRawBufferPointer) {
    guard let f = try? EthernetFrame(b) else { return }
    let r = EthernetRepr.parse(f)
    withCopy(b) { out in
        try! r.emit(into: out)
        check(EthernetRepr.parse(try! EthernetFrame(UnsafeRawBufferPointer(out))) == r, "ethernet")
    }
}

func fuzzVLAN(_ b: UnsafeRawBufferPointer) {
    guard let t = try? VLANTag(b) else { return }
    let r = VLANRepr.parse(t)
    withCopy(b) { out in
        try! r.emit(into: out)
        check(VLANRepr.parse(try! VLANTag(UnsafeRawBufferPointer(out))) == r, "vlan")
    }
}

func fuzzARP(_ b: UnsafeRawBufferPointer) {
    guard let p = try? ARPPacket(b) else { return }
    let r = ARPRepr.parse(p)
    withCopy(b) { out in
        try! r.emit(into: out)
        check(ARPRepr.parse(try! ARPPacket(UnsafeRawBufferPointer(out))) == r, "arp")
    }
}

func fuzzIPv4(_ b: UnsafeRawBufferPointer) {
    guard let p = try? IPv4Packet(b) else { return }
    _ = p.headerChecksumVerifies
    guard let r = try? IPv4Repr.parse(p, verifyChecksum: false) else { return }
    withCopy(b) { out in
        try! r.emit(into: out)
        let again = try! IPv4Repr.parse(try! IPv4Packet(UnsafeRawBufferPointer(out)))
        check(again == r, "ipv4 \(r) vs \(again)")
    }
}

func fuzzIPv6(_ b: UnsafeRawBufferPointer) {
    guard let p = try? IPv6Packet(b) else { return }
    let r = IPv6Repr.parse(p)
    _ = try? IPv6ExtensionHeaders.parse(p)
    withCopy(b) { out in
        try! r.emit(into: out)
        check(IPv6Repr.parse(try! IPv6Packet(UnsafeRawBufferPointer(out))) == r, "ipv6")
    }
}

func fuzzICMPv4(_ b: UnsafeRawBufferPointer) {
    guard let p = try? ICMPv4Packet(b), let r = try? ICMPv4Repr.parse(p, verifyChecksum: false) else { return }
    withCopy(b) { out in
        try! r.emit(into: out)
        check((try? ICMPv4Repr.parse(try! ICMPv4Packet(UnsafeRawBufferPointer(out)))) == r, "icmpv4 \(r)")
    }
}

func fuzzICMPv6(_ b: UnsafeRawBufferPointer) {
    guard let p = try? ICMPv6Packet(b) else { return }
    _ = try? NDPRepr.parse(p)
    guard let r = try? ICMPv6Repr.parse(p, pseudoHeader: pseudo6, verifyChecksum: false) else { return }
    withCopy(b) { out in
        try! r.emit(into: out, pseudoHeader: pseudo6)
        // The Repr keeps no unknown NDP options (RFC 4861 §4.6: ignore
        // them), so emit writes `bufferLength` bytes: parse what it wrote.
        let written = UnsafeRawBufferPointer(rebasing: out[0..<r.bufferLength])
        let again = Result { () throws(WireError) -> ICMPv6Repr in
            try ICMPv6Repr.parse(try ICMPv6Packet(written), pseudoHeader: pseudo6)
        }
        check((try? again.get()) == r, "icmpv6 \(r) vs \(again)")
    }
}

func fuzzUDP(_ b: UnsafeRawBufferPointer) {
    guard let d = try? UDPDatagram(b), let r = try? UDPRepr.parse(d, pseudoHeader: nil) else { return }
    _ = try? UDPRepr.parse(d, pseudoHeader: pseudo4)
    withCopy(b) { out in
        try! r.emit(into: out, pseudoHeader: pseudo4)
        check((try? UDPRepr.parse(try! UDPDatagram(UnsafeRawBufferPointer(out)), pseudoHeader: pseudo4)) == r, "udp")
    }
}

func fuzzTCP(_ b: UnsafeRawBufferPointer) {
    guard let s = try? TCPSegment(b), let r = try? TCPRepr.parse(s, pseudoHeader: nil) else { return }
    _ = try? TCPRepr.parse(s, pseudoHeader: pseudo6)
    // Emit may lay options out differently (Linux order, padding), so it
    // needs its own room: header + the payload the Repr counts.
    let size = r.headerLength + r.payloadLength
    let out = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 8)
    defer { out.deallocate() }
    let exact = UnsafeMutableRawBufferPointer(rebasing: out[0..<size])
    exact.initializeMemory(as: UInt8.self, repeating: 0)
    guard (try? r.emit(into: exact, pseudoHeader: pseudo6)) != nil else { return }
    let again = try? TCPRepr.parse(try! TCPSegment(UnsafeRawBufferPointer(exact)), pseudoHeader: pseudo6)
    check(again == r, "tcp \(r) vs \(String(describing: again))")
}

func fuzzVXLAN(_ b: UnsafeRawBufferPointer) {
    guard let h = try? VXLANHeader(b), let r = try? VXLANRepr.parse(h) else { return }
    withCopy(b) { out in
        try! r.emit(into: out)
        check((try? VXLANRepr.parse(try! VXLANHeader(UnsafeRawBufferPointer(out)))) == r, "vxlan")
    }
}

func fuzzCapture(_ b: UnsafeRawBufferPointer) {
    guard var reader = try? CaptureReader(b) else { return }
    var n = 0
    while n < 100_000, let record = try? reader.next() {
        _ = FrameSummary.line(linkType: record.linkType, frame: record.frame, originalLength: record.originalLength)
        n += 1
    }
}

func fuzzSummary(_ b: UnsafeRawBufferPointer) {
    _ = FrameSummary.line(linkType: .ethernet, frame: b, originalLength: b.count)
    _ = FrameSummary.line(linkType: .raw, frame: b, originalLength: b.count + 10)
}

/// Differential: the fast checksum against RFC 1071's loop, whole and split.
func fuzzChecksum(_ b: UnsafeRawBufferPointer) {
    var sum: UInt32 = 0
    var i = 0
    while i + 1 < b.count { sum += UInt32(b[i]) << 8 | UInt32(b[i + 1]); i += 2; sum = (sum & 0xFFFF) + (sum >> 16) }
    if i < b.count { sum += UInt32(b[i]) << 8 }
    while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
    let expected = ~UInt16(sum)
    check(InternetChecksum.checksum(b) == expected, "checksum")
    let split = b.count == 0 ? 0 : Int(b[0]) % (b.count + 1)
    var c = InternetChecksum()
    c.add(UnsafeRawBufferPointer(rebasing: b[0..<split]))
    c.add(UnsafeRawBufferPointer(rebasing: b[split...]))
    check(c.value == expected, "checksum split at \(split)")
}
