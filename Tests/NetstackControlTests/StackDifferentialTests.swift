// The same lab script on the Linux kernel (LinuxOracle: private network,
// mount and PID namespaces) and in `netstack lab`: normalised stdout,
// stderr and the exit status must be equal. Normalisation removes only
// what is not the stack's to decide (RTT times, bash job notices).
import Foundation
import Netstack
import NetstackControl
import NetstackTesting
import Testing

@Suite("Lab scripts: Linux kernel vs netstack", .serialized)
struct StackDifferentialTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Examples whose output is fully determined (04 prints an ECMP choice
    /// that depends on Linux's per-boot hash key; 06 samples NUD states
    /// away from every transition, whatever reachable_time Linux draws).
    static let scripts: [String] = [
        "Examples/01-two-hosts.sh", "Examples/02-router.sh", "Examples/03-policy-routing.sh",
        "Examples/05-fragmentation.sh", "Examples/06-neighbour-states.sh",
        "Tests/Fixtures/lab/links.sh", "Tests/Fixtures/lab/addrs.sh", "Tests/Fixtures/lab/routes.sh",
        "Tests/Fixtures/lab/rules.sh", "Tests/Fixtures/lab/sysctls.sh", "Tests/Fixtures/lab/ping-errors.sh",
        "Tests/Fixtures/lab/udp.sh", "Tests/Fixtures/lab/ttl.sh", "Tests/Fixtures/lab/neigh.sh",
        "Tests/Fixtures/lab/netns.sh", "Tests/Fixtures/lab/ipv6-router.sh", "Tests/Fixtures/lab/ipv6-hosts.sh",
        "Tests/Fixtures/lab/ipv6-solicit.sh", "Tests/Fixtures/lab/ipv6-linkdown.sh", "Tests/Fixtures/lab/tcp.sh",
        "Tests/Fixtures/lab/tcp-sysctls.sh", "Tests/Fixtures/lab/tuntap.sh", "Tests/Fixtures/lab/link-netns.sh", "Tests/Fixtures/lab/ethtool.sh", "Tests/Fixtures/lab/lo-prefix.sh",
        "Tests/Fixtures/lab/route-get-local.sh",
    ]

    /// ping's summary `time NNNms` depends on the host's scheduling as well.
    static func normalise(_ s: String) -> String {
        OracleNormalize.output(s).split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard let r = line.range(of: #"packet loss, time [0-9]+ms"#, options: .regularExpression) else { return String(line) }
            return line.replacingCharacters(in: r, with: "packet loss, time <t>")
        }.joined(separator: "\n")
    }

    @Test(.enabled(if: LinuxOracle.isAvailable), arguments: scripts)
    func sameAsLinux(_ path: String) throws {
        let script = try String(contentsOf: Self.root.appendingPathComponent(path), encoding: .utf8)
        let linux = LinuxOracle.run(script: script, scriptName: path, timeout: .seconds(60))
        #expect(!linux.timedOut)
        let capture = LabCapture()
        var options = LabOptions()
        options.scriptName = path
        let status = LabInterpreter(world: StackLabWorld(), sink: capture, options: options).run(source: script)
        #expect(Self.normalise(capture.stdout) == Self.normalise(linux.stdout), "stdout of \(path)")
        #expect(Self.normalise(capture.stderr) == Self.normalise(linux.stderr), "stderr of \(path)")
        #expect(status == linux.status, "status of \(path)")
    }

    /// Same script and seed ⇒ the same bytes.
    @Test func deterministic() throws {
        let script = try String(contentsOf: Self.root.appendingPathComponent("Examples/02-router.sh"), encoding: .utf8)
        func run() -> String {
            let c = LabCapture()
            _ = LabInterpreter(world: StackLabWorld(seed: 7), sink: c).run(source: script)
            return c.stdout + c.stderr
        }
        let a = run()
        #expect(a == run())
        #expect(a.contains("2 packets transmitted, 2 received"))
    }
}
