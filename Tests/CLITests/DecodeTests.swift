import Foundation
import Testing

/// Runs the built `netstack` binary and tshark on fixtures.
///
/// Fixtures (Tests/Fixtures/capture, found through #filePath; kept outside the
/// test target so SwiftPM neither bundles nor warns about them):
/// `veth-ping-arp-udp-tcp.pcap` was captured by `tcpdump -i veth-a -w` on
/// Linux between two namespaces (10.98.0.1/24 ↔ 10.98.0.2/24): ARP, two ICMP
/// echoes, a UDP datagram, a short TCP connection, a second ARP exchange and
/// a UDP datagram answered by ICMP port unreachable. The `.pcapng` is the same
/// capture converted by `editcap -F pcapng`.
enum CLI {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let fixtures = testsDirectory.deletingLastPathComponent().appendingPathComponent("Fixtures/capture")
    static let packageRoot = testsDirectory.deletingLastPathComponent().deletingLastPathComponent()
    static let tshark = "/usr/bin/tshark"
    static let tcpdump = ["/usr/bin/tcpdump", "/usr/sbin/tcpdump"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// The `netstack` executable: next to the test bundle (the products
    /// directory), else under the package's .build/debug.
    static var netstack: String? {
        var candidates: [URL] = []
        let bundle = Bundle.main.bundleURL
        candidates.append(bundle.deletingLastPathComponent().appendingPathComponent("netstack"))
        candidates.append(bundle.appendingPathComponent("netstack"))
        if let arg0 = CommandLine.arguments.first {
            let exe = URL(fileURLWithPath: arg0).standardizedFileURL
            for up in 1...4 {
                var dir = exe
                for _ in 0..<up { dir = dir.deletingLastPathComponent() }
                candidates.append(dir.appendingPathComponent("netstack"))
            }
        }
        candidates.append(packageRoot.appendingPathComponent(".build/debug/netstack"))
        return candidates.map(\.path).first { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
                && FileManager.default.isExecutableFile(atPath: path)
        }
    }

    struct Result {
        var status: Int32
        var exited: Bool
        var stdout: String
        var stderr: String
        var lines: [Substring] { stdout.split(separator: "\n") }
    }

    static func run(_ path: String, _ arguments: [String], environment: [String: String]? = nil) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, exited: p.terminationReason == .exit,
                      stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    static func decode(_ file: String) throws -> Result {
        guard let exe = netstack else {
            Issue.record("netstack binary not found next to the test bundle or in .build/debug: run swift build")
            return Result(status: -1, exited: false, stdout: "", stderr: "")
        }
        return try run(exe, ["decode", file])
    }

    static func temporaryFile(_ name: String, _ bytes: [UInt8]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("netstack-decode-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    static func fixtureBytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: fixtures.appendingPathComponent(name)))
    }
}

@Suite struct DecodeTests {
    static let capture = "veth-ping-arp-udp-tcp"

    /// "HH:MM:SS.ffffff" (UTC) from tshark's "1795282821.362006000".
    static func clock(epoch: Substring) -> String {
        let parts = epoch.split(separator: ".")
        let seconds = Int(parts[0])! % 86_400
        let micros = String(parts[1].prefix(6))
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(two(seconds / 3600)):\(two(seconds / 60 % 60)):\(two(seconds % 60)).\(micros)"
    }

    /// The line (or, for TCP and ICMP, the start of the line) decode must
    /// print for one tshark field row: ARP in full; IPv4 addresses, TCP/UDP
    /// ports and TCP flags as tcpdump letters.
    static func expectedLine(_ row: [Substring]) -> String? {
        let (time, ethType, ipSrc, ipDst, proto, len, hdrLen, op, arpSrc, arpDst, arpMAC)
            = (row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9], row[10])
        let clock = clock(epoch: time)
        switch ethType {
        case "0x0806":
            switch op {
            case "1": return "\(clock) ARP, Request who-has \(arpDst) tell \(arpSrc), length 28"
            case "2": return "\(clock) ARP, Reply \(arpSrc) is-at \(arpMAC), length 28"
            default: return nil
            }
        case "0x0800":
            let (tcpSrc, tcpDst, udpSrc, udpDst, flags) = (row[11], row[12], row[13], row[14], row[15])
            switch proto {
            case "6":
                // tshark's "·······A·P··" (… C E U A P R S F) as tcpdump's letters, in bit order.
                var letters = ""
                for (t, d) in [("F", "F"), ("S", "S"), ("R", "R"), ("P", "P"), ("A", "."), ("U", "U"),
                               ("E", "E"), ("C", "W")] where flags.contains(t) { letters += d }
                return "\(clock) IP \(ipSrc).\(tcpSrc) > \(ipDst).\(tcpDst): Flags [\(letters.isEmpty ? "none" : letters)]"
            case "17":
                return "\(clock) IP \(ipSrc).\(udpSrc) > \(ipDst).\(udpDst): UDP, length \(Int(len)! - Int(hdrLen)! - 8)"
            case "1": return "\(clock) IP \(ipSrc) > \(ipDst): ICMP "
            default: return "\(clock) IP \(ipSrc) > \(ipDst): ip-proto-\(proto), length \(Int(len)! - Int(hdrLen)!)"
            }
        default:
            return nil
        }
    }

    @Test(arguments: ["pcap", "pcapng"])
    func realCaptureMatchesTshark(ext: String) throws {
        let path = CLI.fixtures.appendingPathComponent("\(Self.capture).\(ext)").path
        let result = try CLI.decode(path)
        #expect(result.exited && result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stderr.isEmpty)
        guard FileManager.default.isExecutableFile(atPath: CLI.tshark) else {
            Issue.record("tshark is missing at \(CLI.tshark): install it (apt-get install tshark); CI installs it")
            return
        }
        let fields = ["frame.time_epoch", "eth.type", "ip.src", "ip.dst", "ip.proto", "ip.len", "ip.hdr_len",
                      "arp.opcode", "arp.src.proto_ipv4", "arp.dst.proto_ipv4", "arp.src.hw_mac",
                      "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "tcp.flags.str"]
        let tshark = try CLI.run(CLI.tshark, ["-n", "-r", path, "-T", "fields", "-E", "occurrence=f"]
                                 + fields.flatMap { ["-e", $0] })
        #expect(tshark.status == 0)
        let rows = tshark.lines.map { $0.split(separator: "\t", omittingEmptySubsequences: false) }
        #expect(rows.count == 21)
        #expect(result.lines.count == rows.count)
        var checked = 0
        for (line, row) in zip(result.lines, rows) where row.count == fields.count {
            guard let expected = Self.expectedLine(row) else { continue }
            #expect(String(line) == expected || String(line).hasPrefix(expected))
            checked += 1
        }
        #expect(checked == 21)
    }

    /// decode's lines must equal `tcpdump -n -S -r FILE` (absolute seq/ack),
    /// timestamps included: tcpdump runs with TZ=UTC so its local clock is
    /// decode's UTC clock. tcpdump prints a VXLAN inner frame on a line of
    /// its own; decode keeps it on the frame's line after ": ", so tcpdump's
    /// continuation lines are joined that way. Where tcpdump decodes an
    /// application protocol by port (HTTP on 8080, DNS on 5353) decode
    /// deliberately does not; those tcpdump suffixes are the only edits.
    @Test(arguments: ["Fixtures/capture/veth-ping-arp-udp-tcp.pcap", "Fixtures/capture/veth-ping-arp-udp-tcp.pcapng",
                      "NetWireTests/Fixtures/transport-veth.pcap"])
    func everyLineMatchesTcpdump(fixture: String) throws {
        let path = CLI.testsDirectory.deletingLastPathComponent().appendingPathComponent(fixture).path
        let result = try CLI.decode(path)
        #expect(result.exited && result.status == 0, "stderr: \(result.stderr)")
        guard let tcpdump = CLI.tcpdump else {
            Issue.record("tcpdump is missing (looked in /usr/bin and /usr/sbin): install it (apt-get install tcpdump)")
            return
        }
        let reference = try CLI.run(tcpdump, ["-n", "-S", "-r", path], environment: ["TZ": "UTC"])
        #expect(reference.status == 0, "tcpdump failed: \(reference.stderr)")
        var expected: [String] = []
        for line in reference.lines {
            let isContinuation = !(line.first?.isNumber ?? false) || line.dropFirst(2).first != ":"
            if isContinuation, !expected.isEmpty { expected[expected.count - 1] += ": " + line } else { expected.append(String(line)) }
        }
        expected = expected.map { line in
            var line = line
            for suffix in [": HTTP"] where line.hasSuffix(suffix) { line.removeLast(suffix.count) }
            return line.replacingOccurrences(of: ": domain [length 10 < 12] (invalid)", with: ": UDP, length 10")
        }
        #expect(expected.count >= 21)
        #expect(result.lines.count == expected.count, "decode printed \(result.lines.count) lines, tcpdump \(expected.count)")
        for (i, (ours, theirs)) in zip(result.lines, expected).enumerated() {
            #expect(String(ours) == theirs, "packet \(i + 1) of \(fixture)")
        }
    }

    @Test func pcapAndPcapngPrintTheSameLines() throws {
        let a = try CLI.decode(CLI.fixtures.appendingPathComponent("\(Self.capture).pcap").path)
        let b = try CLI.decode(CLI.fixtures.appendingPathComponent("\(Self.capture).pcapng").path)
        #expect(a.stdout == b.stdout && !a.stdout.isEmpty)
    }

    @Test func missingEmptyAndGarbageFilesFailCleanly() throws {
        let missing = try CLI.decode("/nonexistent/nothing.pcap")
        #expect(missing.exited && missing.status == 1)
        #expect(missing.stderr == "netstack decode: /nonexistent/nothing.pcap: No such file or directory\n")
        #expect(missing.stdout.isEmpty)

        let empty = try CLI.temporaryFile("empty.pcap", [])
        let e = try CLI.decode(empty)
        #expect(e.exited && e.status == 1)
        #expect(e.stderr == "netstack decode: \(empty): truncated file header\n")

        let text = try CLI.temporaryFile("notes.txt", Array("this is not a capture file\n".utf8))
        let t = try CLI.decode(text)
        #expect(t.exited && t.status == 1)
        #expect(t.stderr.contains("bad magic number") && t.stderr.contains("not a pcap or pcapng file"))

        let directory = try CLI.decode(CLI.fixtures.path)
        #expect(directory.exited && directory.status == 1)
        #expect(directory.stderr.hasPrefix("netstack decode: \(CLI.fixtures.path): "))

        // Seeded garbage, some with a valid magic so the record walk runs.
        var state: UInt64 = 0xDEC0DE
        func next() -> UInt8 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        for i in 0..<12 {
            var bytes = (0..<(40 + i * 37)).map { _ in next() }
            if i % 3 == 1 { bytes.replaceSubrange(0..<4, with: [0xD4, 0xC3, 0xB2, 0xA1]) }
            if i % 3 == 2 { bytes.replaceSubrange(0..<4, with: [0x0A, 0x0D, 0x0D, 0x0A]) }
            let path = try CLI.temporaryFile("garbage\(i).bin", bytes)
            let r = try CLI.decode(path)
            #expect(r.exited, "decode crashed on \(path)")
            #expect(r.status == 1, "garbage \(i) accepted: \(r.stdout)")
            #expect(r.stderr.hasPrefix("netstack decode: \(path): "))
        }
    }

    /// A file cut inside its last record prints every complete packet, then
    /// the error, and exits 1.
    @Test(arguments: ["pcap", "pcapng"])
    func truncatedFinalRecordPrintsGoodPacketsThenFails(ext: String) throws {
        let name = "\(Self.capture).\(ext)"
        let full = try CLI.fixtureBytes(name)
        let good = try CLI.decode(CLI.fixtures.appendingPathComponent(name).path).lines
        let cut = try CLI.temporaryFile("cut.\(ext)", Array(full.dropLast(5)))
        let r = try CLI.decode(cut)
        #expect(r.exited && r.status == 1)
        #expect(r.lines == Array(good.dropLast()))
        #expect(r.stderr.hasPrefix("netstack decode: \(cut): ") && r.stderr.contains("truncated file"))

        // Every cut of the first 200 bytes: never a crash, never a success
        // unless the cut falls on a record boundary.
        for n in stride(from: 0, to: 200, by: 7) {
            let path = try CLI.temporaryFile("cut\(n).\(ext)", Array(full.prefix(n)))
            let r = try CLI.decode(path)
            #expect(r.exited, "decode crashed on a \(n)-byte prefix")
            #expect(r.status == 0 || r.status == 1)
            if r.status == 1 { #expect(!r.stderr.isEmpty) }
        }
    }
}
