import Foundation
import Synchronization
import Testing
@testable import NetWire
@testable import NetstackHost

/// Frames built from NetWire Reprs plus hand-written UDP/ICMP bytes.
enum TestFrames {
    static let macA = MACAddress(2, 0, 0, 0, 0, 1), macB = MACAddress(2, 0, 0, 0, 0, 2)
    static let a = IPv4Address(10, 0, 0, 1), b = IPv4Address(10, 0, 0, 2)

    static func ipv4Frame(_ proto: IPProtocol, _ l4: [UInt8], from: IPv4Address = a, to: IPv4Address = b) throws -> [UInt8] {
        let eth = EthernetRepr(destination: macB, source: macA, etherType: .ipv4)
        let ip = IPv4Repr(source: from, destination: to, protocol: proto, payloadLength: l4.count,
                          identification: 0x4242, dontFragment: true)
        var out = [UInt8](repeating: 0, count: 14 + 20)
        try out.withUnsafeMutableBytes { raw in
            try eth.emit(into: raw)
            try ip.emit(into: UnsafeMutableRawBufferPointer(rebasing: raw[14...]))
        }
        return out + l4
    }

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }

    /// ICMP echo request with a valid checksum.
    static func icmpEcho(id: UInt16, seq: UInt16) -> [UInt8] {
        var msg: [UInt8] = [8, 0, 0, 0] + be16(id) + be16(seq) + (0..<56).map { UInt8($0) }
        var c = InternetChecksum()
        msg.withUnsafeBytes { c.add($0) }
        msg[2] = UInt8(c.value >> 8)
        msg[3] = UInt8(c.value & 0xFF)
        return msg
    }

    /// UDP with checksum 0 ("none", allowed over IPv4).
    static func udp(src: UInt16, dst: UInt16, _ payload: [UInt8]) -> [UInt8] {
        be16(src) + be16(dst) + be16(UInt16(8 + payload.count)) + [0, 0] + payload
    }

    static func all() throws -> [[UInt8]] {
        [
            try ipv4Frame(.icmp, icmpEcho(id: 7, seq: 1)),
            try ipv4Frame(.udp, udp(src: 40000, dst: 9999, Array("hello capture".utf8))),
            try ipv4Frame(.icmp, icmpEcho(id: 7, seq: 2), from: b, to: a),
        ]
    }
}

/// Runs a program; returns (exit status, stdout, stderr).
func run(_ path: String, _ arguments: [String]) throws -> (Int32, String, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    // Read before waiting so a large output cannot fill the pipe and block.
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

func temporaryPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("netstack-capture-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}

@Suite struct CaptureFileTests {
    static let tshark = "/usr/bin/tshark"

    /// tshark's stderr minus the one line it always prints when run as root.
    static func meaningfulStderr(_ text: String) -> String {
        text.split(separator: "\n").filter { !$0.hasPrefix("Running as user \"root\"") }.joined(separator: "\n")
    }

    /// Checks a file with `tshark -r` and `tshark -r -V`.
    static func checkWithTshark(_ path: String, expectedPackets: Int) throws {
        guard FileManager.default.isExecutableFile(atPath: tshark) else {
            Issue.record("tshark is missing at \(tshark): install it (apt-get install tshark); CI installs it")
            return
        }
        let (status, summary, err) = try run(tshark, ["-n", "-r", path])
        #expect(status == 0, "tshark -r exit \(status): \(err)")
        #expect(meaningfulStderr(err).isEmpty, "tshark stderr: \(err)")
        let lines = summary.split(separator: "\n")
        #expect(lines.count == expectedPackets, "tshark -r output:\n\(summary)")
        let (vstatus, verbose, verr) = try run(tshark, ["-n", "-r", path, "-V"])
        #expect(vstatus == 0, "tshark -V exit \(vstatus): \(verr)")
        #expect(meaningfulStderr(verr).isEmpty, "tshark -V stderr: \(verr)")
        for bad in ["Malformed", "Expert Info (Warning", "[Packet size limited"] {
            #expect(!verbose.contains(bad), "tshark -V says \(bad):\n\(verbose)")
            #expect(!summary.contains(bad), "tshark -r says \(bad):\n\(summary)")
        }
        #expect(verbose.components(separatedBy: "Frame ").count - 1 >= expectedPackets)
    }

    static func readBack(_ path: String) throws -> [ReadBack] {
        let bytes = try CaptureFile.readAll(path: path)
        return try bytes.withUnsafeBytes { raw in
            var reader = try CaptureReader(raw)
            var out: [ReadBack] = []
            while let r = try reader.next() {
                out.append(ReadBack(interface: r.interface, ns: r.timestampNanoseconds, frame: Array(r.frame)))
            }
            return out
        }
    }

    struct ReadBack: Equatable {
        var interface: Int
        var ns: UInt64
        var frame: [UInt8]
    }

    static let t0: UInt64 = 1_763_740_800_000_000_000 + 123_456_789

    @Test func pcapFileIsReadByTshark() throws {
        let path = temporaryPath("three.pcap")
        let frames = try TestFrames.all()
        let writer = try CaptureWriter(path: path, format: .pcap())
        for (i, f) in frames.enumerated() {
            try f.withUnsafeBytes { try writer.write(timestampNanoseconds: Self.t0 + UInt64(i) * 1_000_000, frame: $0) }
        }
        try writer.close()
        #expect(throws: CaptureFileError.closed) { try writer.flush() }
        let back = try Self.readBack(path)
        #expect(back.map(\.frame) == frames)
        #expect(back.map(\.ns) == (0..<3).map { (Self.t0 + UInt64($0) * 1_000_000) / 1000 * 1000 })
        try Self.checkWithTshark(path, expectedPackets: 3)
    }

    @Test func nanosecondPcapAndPcapngWithTwoInterfacesAreReadByTshark() throws {
        let frames = try TestFrames.all()
        let pcap = temporaryPath("ns.pcap")
        let w1 = try CaptureWriter(path: pcap, format: .pcap(resolution: .nanoseconds))
        for f in frames { try f.withUnsafeBytes { try w1.write(timestampNanoseconds: Self.t0, frame: $0) } }
        try w1.close()
        #expect(try Self.readBack(pcap).map(\.ns) == [Self.t0, Self.t0, Self.t0])
        try Self.checkWithTshark(pcap, expectedPackets: 3)

        let ng = temporaryPath("two.pcapng")
        let w2 = try CaptureWriter(path: ng, format: .pcapng(interfaces: [.init(name: "veth0")]))
        let second = try w2.addInterface(.init(name: "veth1", resolution: .microseconds))
        #expect(second == 1)
        for (i, f) in frames.enumerated() {
            try f.withUnsafeBytes { try w2.write(timestampNanoseconds: Self.t0 + UInt64(i), frame: $0, interface: i % 2) }
        }
        #expect(throws: CaptureFileError.format(.noSuchInterface(5))) {
            try frames[0].withUnsafeBytes { try w2.write(timestampNanoseconds: 0, frame: $0, interface: 5) }
        }
        try w2.close()
        let back = try Self.readBack(ng)
        #expect(back.map(\.frame) == frames)
        #expect(back.map(\.interface) == [0, 1, 0])
        #expect(back[0].ns == Self.t0 && back[1].ns == (Self.t0 + 1) / 1000 * 1000)
        try Self.checkWithTshark(ng, expectedPackets: 3)
        let (status, out, _) = try run(Self.tshark, ["-r", ng, "-T", "fields", "-e", "frame.interface_name"])
        #expect(status == 0 && out == "veth0\nveth1\nveth0\n")
    }

    /// Writes that fail or return short go through the seam.
    @Test func failingAndShortWritesThroughTheSeam() throws {
        // Short writes: at most 7 bytes per call, forwarded to the real file.
        let live = CaptureFileSyscalls.live
        var short = live
        short.write = { fd, buffer in live.write(fd, UnsafeRawBufferPointer(rebasing: buffer.prefix(7))) }
        let path = temporaryPath("short.pcapng")
        let frames = try TestFrames.all()
        let w = try CaptureWriter(path: path, format: .pcapng(interfaces: [.init(name: "eth0")]), bufferSize: 1, system: short)
        for f in frames { try f.withUnsafeBytes { try w.write(timestampNanoseconds: Self.t0, frame: $0) } }
        try w.close()
        #expect(try Self.readBack(path).map(\.frame) == frames)

        // A disk that fills up: the error surfaces on the write that flushes.
        let failures = Mutex(0)
        var full = live
        full.write = { _, _ in failures.withLock { $0 += 1 }; return -1 }
        full.lastError = { ENOSPC }
        let w2 = try CaptureWriter(path: temporaryPath("full.pcap"), format: .pcap(), bufferSize: 1024, system: full)
        var thrown: CaptureFileError?
        do {
            for _ in 0..<100 { try frames[0].withUnsafeBytes { try w2.write(timestampNanoseconds: 0, frame: $0) } }
        } catch let e as CaptureFileError {
            thrown = e
        }
        #expect(thrown == .write(errno: ENOSPC))
        #expect(thrown?.description == "write: No space left on device")
        #expect(failures.withLock { $0 } == 1)
        #expect(throws: CaptureFileError.write(errno: ENOSPC)) { try w2.close() }
        #expect(throws: CaptureFileError.closed) { try w2.close() }

        // Open failures name the path.
        #expect(throws: CaptureFileError.open(path: "/nonexistent-dir/x.pcap", errno: ENOENT)) {
            _ = try CaptureWriter(path: "/nonexistent-dir/x.pcap", format: .pcap())
        }
        #expect(throws: CaptureFileError.open(path: "/nonexistent-dir/x.pcap", errno: ENOENT)) {
            _ = try CaptureFile.readAll(path: "/nonexistent-dir/x.pcap")
        }
    }
}
