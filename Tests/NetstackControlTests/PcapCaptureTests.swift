// `netstack lab --pcap DIR`: one pcap per device that carries traffic,
// read back with NetWire's reader (and tshark when installed).
import Foundation
import NetWire
import Netstack
import NetstackControl
import Testing

@Suite struct PcapCaptureTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Frame: Hashable {
        var time: UInt64
        var bytes: [UInt8]
    }

    /// Runs 02-router.sh with capture on; returns each file's bytes and the world.
    static func run() throws -> (files: [String: [UInt8]], order: [String], world: StackLabWorld) {
        let script = try String(contentsOf: root.appendingPathComponent("Examples/02-router.sh"), encoding: .utf8)
        let world = StackLabWorld(seed: 5)
        var files: [String: [UInt8]] = [:]
        var order: [String] = []
        world.startCapture { name, bytes in
            if files[name] == nil { order.append(name) }
            files[name, default: []].append(contentsOf: bytes)
        }
        let status = LabInterpreter(world: world, sink: LabCapture()).run(source: script)
        world.flushObservers()
        #expect(status == 0)
        return (files, order, world)
    }

    static func frames(_ file: [UInt8]) throws -> [Frame] {
        try file.withUnsafeBytes { raw in
            var reader = try CaptureReader(raw)
            #expect(reader.format == .pcap)
            #expect(reader.interfaces.first?.linkType == .ethernet)
            var out: [Frame] = []
            while let r = try reader.next() {
                #expect(r.originalLength == r.frame.count)
                out.append(Frame(time: r.timestampNanoseconds, bytes: Array(r.frame)))
            }
            return out
        }
    }

    @Test func everyFrameOfEveryDevice() throws {
        let (files, order, world) = try Self.run()
        // Only devices that carried traffic; lo carried none.
        #expect(order == ["a-eth0", "r-eth0", "r-eth1", "b-eth0"])
        for name in order {
            let parts = name.split(separator: "-")
            let ns = try #require(world.stack.namespace(named: String(parts[0])))
            let dev = try #require(ns.device(named: String(parts[1])))
            let frames = try Self.frames(try #require(files[name]))
            // Every frame received and transmitted is in the file.
            #expect(UInt64(frames.count) == dev.statistics.rxPackets + dev.statistics.txPackets, "\(name)")
            #expect(UInt64(frames.reduce(0) { $0 + $1.bytes.count }) == dev.statistics.rxBytes + dev.statistics.txBytes, "\(name)")
            // Virtual time never goes backwards within a file.
            #expect(zip(frames, frames.dropFirst()).allSatisfy { $0.time <= $1.time }, "\(name)")
        }
        // Both ends of a veth see the same frames at the same instants.
        #expect(Set(try Self.frames(files["a-eth0"]!)) == Set(try Self.frames(files["r-eth0"]!)))
        #expect(Set(try Self.frames(files["b-eth0"]!)) == Set(try Self.frames(files["r-eth1"]!)))

        // a's first frame: its ARP request for the router, broadcast.
        let first = try #require(try Self.frames(files["a-eth0"]!).first)
        #expect(first.time == 0)
        #expect(Array(first.bytes[0..<6]) == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(Array(first.bytes[6..<12]) == [0x02, 0, 0, 0, 0x0A, 0x01])
        #expect(Array(first.bytes[12..<14]) == [0x08, 0x06])
        // The forwarded echo request leaves r by eth1 with TTL 63, at 1 s.
        let forwarded = try Self.frames(files["r-eth1"]!).filter { $0.bytes.count == 98 && $0.bytes[14 + 9] == 1 && $0.bytes[34] == 8 }
        // `ping -c 2` once forwarding is on; the TTL-1 probe dies at r.
        #expect(forwarded.count == 2)
        #expect(forwarded.allSatisfy { $0.bytes[14 + 8] == 63 })
        #expect(forwarded.first?.time == 1_000_000_000)
    }

    static let tshark = ["/usr/bin/tshark", "/usr/sbin/tshark", "/usr/local/bin/tshark"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// tshark reads the files and counts the same frames.
    @Test(.enabled(if: tshark != nil)) func tsharkReadsTheFiles() throws {
        let (files, order, _) = try Self.run()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trace-pcap-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in order {
            let url = dir.appendingPathComponent(name + ".pcap")
            try Data(files[name]!).write(to: url)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Self.tshark!)
            p.arguments = ["-r", url.path, "-T", "fields", "-e", "frame.len", "-e", "ip.ttl"]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "\(name)")
            let lines = text.split(separator: "\n")
            let frames = try Self.frames(files[name]!)
            #expect(lines.count == frames.count, "\(name)")
            #expect(lines.map { Int($0.split(separator: "\t").first ?? "") } == frames.map { $0.bytes.count }, "\(name)")
        }
    }
}
