// Helpers for TCP segment transcripts: build segments a peer would send,
// drain what a connection sends, and parse it back through NetWire's views.
import Testing
import NetWire
@testable import Netstack

let tcpClient = TCPEndpoint(.v4(IPv4Address(10, 0, 0, 1)), 40_000)
let tcpServer = TCPEndpoint(.v4(IPv4Address(10, 0, 0, 2)), 80)
let tcpSecrets = TCPSecrets(k0: 0x0123_4567_89ab_cdef, k1: 0xfedc_ba98_7654_3210, tsK0: 7, tsK1: 9)

func ms(_ n: Int64) -> Instant { Instant(nanoseconds: n &* 1_000_000) }

/// A segment as it went over the wire, parsed.
struct WireSegment: CustomStringConvertible {
    var bytes: [UInt8]
    var repr: TCPRepr
    var payload: [UInt8]
    var flags: TCPFlags { repr.flags }
    var seq: TCPSeqNumber { repr.sequenceNumber }
    var ack: TCPSeqNumber { repr.acknowledgmentNumber }
    var window: UInt16 { repr.windowSize }
    var options: TCPOptions { repr.options }
    var isPureAck: Bool { flags == .ack && payload.isEmpty }

    init(bytes: [UInt8], source: TCPEndpoint, destination: TCPEndpoint) {
        self.bytes = bytes
        var repr: TCPRepr?
        var payload: [UInt8] = []
        bytes.withUnsafeBytes { raw in
            if let seg = try? TCPSegment(raw) {
                repr = try? TCPRepr.parse(seg, pseudoHeader: pseudo(source, destination))
                payload = Array(seg.payload)
            }
        }
        precondition(repr != nil, "unparsable or bad checksum")
        self.repr = repr!
        self.payload = payload
    }

    var description: String {
        var f = ""
        if flags.contains(.syn) { f += "S" }
        if flags.contains(.fin) { f += "F" }
        if flags.contains(.rst) { f += "R" }
        if flags.contains(.psh) { f += "P" }
        if flags.contains(.ack) { f += "." }
        return "[\(f)] seq \(seq) ack \(ack) win \(window) len \(payload.count)"
    }
}

func pseudo(_ s: TCPEndpoint, _ d: TCPEndpoint) -> PseudoHeader {
    switch (s.address, d.address) {
    case let (.v4(a), .v4(b)): .ipv4(source: a, destination: b)
    case let (.v6(a), .v6(b)): .ipv6(source: a, destination: b)
    default: fatalError("mixed families")
    }
}

/// Bytes of a segment `repr` + `payload` from `source` to `destination`.
func buildSegment(_ repr: TCPRepr, payload: [UInt8] = [], from source: TCPEndpoint, to destination: TCPEndpoint) -> [UInt8] {
    var r = repr
    r.payloadLength = payload.count
    var out = [UInt8](repeating: 0, count: r.headerLength + payload.count)
    out.withUnsafeMutableBytes { buf in
        for (i, b) in payload.enumerated() { buf[r.headerLength + i] = b }
        try! r.emit(into: buf, pseudoHeader: pseudo(source, destination))
    }
    return out
}

extension TCPConnection {
    /// Every segment due now (bounded).
    func drain(now: Instant, limit: Int = 100_000) -> [WireSegment] {
        var out: [WireSegment] = []
        var buffer = [UInt8](repeating: 0, count: 2048)
        for _ in 0..<limit {
            let n = buffer.withUnsafeMutableBytes { nextSegment(into: $0, now: now) }
            guard let n, n > 0 else { break }
            out.append(WireSegment(bytes: Array(buffer[0..<n]), source: local, destination: remote))
        }
        return out
    }

    /// Feeds raw segment bytes.
    @discardableResult
    func feed(_ bytes: [UInt8], now: Instant) -> TCPReceiveResult {
        bytes.withUnsafeBytes { raw in receive(try! TCPSegment(raw), now: now) }
    }

    /// Feeds a segment the peer sent.
    @discardableResult
    func feed(_ s: WireSegment, now: Instant) -> TCPReceiveResult { feed(s.bytes, now: now) }

    /// Feeds a segment built from `repr`, as if from the remote end.
    @discardableResult
    func feed(_ repr: TCPRepr, payload: [UInt8] = [], now: Instant) -> TCPReceiveResult {
        feed(buildSegment(repr, payload: payload, from: remote, to: local), now: now)
    }

    func sendAll(_ bytes: [UInt8], now: Instant) -> Int {
        bytes.withUnsafeBytes { (try? send($0, now: now)) ?? 0 }
    }

    func readAll(now: Instant) -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        for _ in 0..<10_000 {
            let n = buffer.withUnsafeMutableBytes { (try? read(into: $0, now: now)) ?? 0 }
            if n == 0 { break }
            out += buffer[0..<n]
        }
        return out
    }
}

/// A client and server connection with the handshake done (at `now`, with
/// `rtt` between the SYN and the SYN-ACK).
func establishedPair(client cc: TCPConfiguration = TCPConfiguration(), server sc: TCPConfiguration = TCPConfiguration(),
                     now: Instant = .zero, rtt: TimeDelta = .milliseconds(10)) -> (TCPConnection, TCPConnection) {
    let client = TCPConnection(connectFrom: tcpClient, to: tcpServer,
                               iss: tcpSecrets.initialSequenceNumber(local: tcpClient, remote: tcpServer, now: now),
                               timestampOffset: 1000, configuration: cc, now: now)
    let syn = client.drain(now: now)
    let listener = TCPListener(configuration: sc, secrets: tcpSecrets)
    guard case .accepted(let server) = syn[0].bytes.withUnsafeBytes({
        listener.receive(try! TCPSegment($0), local: tcpServer, remote: tcpClient, now: now)
    }) else { fatalError("listener refused") }
    let synAck = server.drain(now: now)
    client.feed(synAck[0], now: now + rtt)
    for s in client.drain(now: now + rtt) { server.feed(s, now: now + rtt + rtt / 2) }
    return (client, server)
}

extension TimeDelta {
    static func / (a: TimeDelta, k: Int64) -> TimeDelta { TimeDelta(nanoseconds: a.nanoseconds / k) }
}

/// The frames of a pcap file's bytes as `PacketCapture.drain` hands them
/// out (a 24-byte file header, then 16-byte record headers).
func pcapFrames(_ bytes: UnsafeRawBufferPointer) -> [[UInt8]] {
    var frames: [[UInt8]] = []
    var at = 24
    while at + 16 <= bytes.count {
        let length = Int(bytes.loadUnaligned(fromByteOffset: at + 8, as: UInt32.self).littleEndian)
        guard at + 16 + length <= bytes.count else { break }
        frames.append(Array(bytes[(at + 16)..<(at + 16 + length)]))
        at += 16 + length
    }
    return frames
}
