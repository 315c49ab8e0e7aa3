// ethtool -k / -K against outputs captured from Linux (ethtool 6.1, kernel
// 6.18): feature lists per device kind, -K round trips that drive the
// device's segmentationOffload / genericSegmentation, errors and statuses.
import Testing
import Netstack
@testable import NetstackControl

@Suite struct EthtoolTests {
    let stack = Stack(seed: 1)
    let table = EthtoolTable()
    var ns: NetworkNamespace { stack.initial }

    init() {
        _ = IPCommand.run(["link", "add", "va", "type", "veth", "peer", "name", "vb"], stack: stack, namespace: stack.initial)
    }

    func run(_ args: String) -> CommandResult {
        table.run(["ethtool"] + args.split(separator: " ").map(String.init), namespace: ns)
    }

    func line(_ out: String, _ name: String) -> String? {
        out.split(separator: "\n").first { $0.trimmingPrefix("\t").hasPrefix(name + ":") }.map(String.init)
    }

    @Test func vethListHas63FeaturesAsLinux() {
        let r = run("-k va")
        #expect(r.status == 0 && r.stderr.isEmpty)
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 65)  // header, 63 features, final newline
        #expect(lines.first == "Features for va:")
        #expect(line(r.stdout, "tcp-segmentation-offload") == "tcp-segmentation-offload: on")
        #expect(line(r.stdout, "large-receive-offload") == "large-receive-offload: off [fixed]")
        #expect(line(r.stdout, "\ttx-checksum-ipv4") == nil)
        #expect(r.stdout.contains("\n\ttx-checksum-ipv4: off [fixed]\n\ttx-checksum-ip-generic: on\n"))
        #expect(line(r.stdout, "generic-receive-offload") == "generic-receive-offload: off")
        #expect(r.stdout.hasSuffix("hsr-fwd-offload: off [fixed]\nhsr-dup-offload: off [fixed]\n"))
    }

    @Test func loopbackAndFreshTap() throws {
        let lo = run("-k lo").stdout
        #expect(line(lo, "rx-checksumming") == "rx-checksumming: on [fixed]")
        #expect(line(lo, "loopback") == "loopback: on [fixed]")
        #expect(line(lo, "generic-receive-offload") == "generic-receive-offload: on")
        try ns.addTunTap(name: "tp0", kind: .tap, options: TunTapOptions())
        let tap = run("-k tp0").stdout
        #expect(line(tap, "tcp-segmentation-offload") == "tcp-segmentation-offload: off")
        #expect(line(tap, "tx-tcp-segmentation") == "\ttx-tcp-segmentation: off [requested on]")
        #expect(line(tap, "tx-checksum-ip-generic") == "\ttx-checksum-ip-generic: off [requested on]")
        #expect(line(tap, "tx-udp-segmentation") == "tx-udp-segmentation: off [requested on]")
        // Nobody asked for TSO with TUNSETOFFLOAD: it cannot come on.
        let r = run("-K tp0 tso on")
        #expect(r.status == 1)
        #expect(r.stderr == "Could not change any device features\n")
        #expect(r.stdout.hasPrefix("Actual changes:\ntx-tcp-segmentation: off [requested on]\n"))
    }

    @Test func vnetTapAfterTunSetOffload() throws {
        var o = TunTapOptions()
        o.vnetHeader = true
        let d = try ns.addTunTap(name: "tp1", kind: .tap, options: o)
        stack.setHostAttached(d, true)
        d.segmentationOffload = true
        let out = run("-k tp1").stdout
        #expect(line(out, "tx-checksumming") == "tx-checksumming: on")
        #expect(line(out, "tx-tcp-segmentation") == "\ttx-tcp-segmentation: on")
        #expect(line(out, "tx-tcp-ecn-segmentation") == "\ttx-tcp-ecn-segmentation: off")
        #expect(line(out, "tx-udp-segmentation") == "tx-udp-segmentation: off")
        let r = run("-K tp1 tso off")
        #expect(r.status == 0 && r.stdout.isEmpty)
        #expect(!d.segmentationOffload)
    }

    @Test func tsoAndGsoRoundTripThroughTheDevice() throws {
        let d = try #require(ns.device(named: "va"))
        var r = run("-K va tso off")
        #expect(r == CommandResult())
        #expect(!d.segmentationOffload && d.genericSegmentation)
        r = run("--features va gso off")
        #expect(r == CommandResult())
        #expect(!d.genericSegmentation)
        // tx-checksumming drives CHECKSUM_PARTIAL (NETIF_F_HW_CSUM).
        #expect(d.features.contains(.hwChecksum))
        r = run("-K va tx off")
        #expect(r.status == 0)
        #expect(!d.features.contains(.hwChecksum))
        #expect(line(run("-k va").stdout, "tx-checksumming") == "tx-checksumming: off")
        #expect(run("-K va tx on").status == 0)
        #expect(d.features.contains(.hwChecksum))
        let out = run("-k va").stdout
        #expect(line(out, "tcp-segmentation-offload") == "tcp-segmentation-offload: off")
        #expect(line(out, "tx-tcp6-segmentation") == "\ttx-tcp6-segmentation: off")
        #expect(line(out, "generic-segmentation-offload") == "generic-segmentation-offload: off")
        r = run("-K va tcp-segmentation-offload on generic-segmentation-offload on")
        #expect(r == CommandResult())
        #expect(d.segmentationOffload && d.genericSegmentation)
        // A feature the stack does not model is kept in the table.
        #expect(run("-K va gro on") == CommandResult())
        #expect(line(run("-k va").stdout, "generic-receive-offload") == "generic-receive-offload: on")
    }

    @Test func scatterGatherOffTakesTsoAndGso() throws {
        let d = try #require(ns.device(named: "va"))
        let r = run("-K va sg off")
        #expect(r.status == 0)
        #expect(r.stdout == """
            Actual changes:
            tx-scatter-gather: off
            tx-scatter-gather-fraglist: off
            tx-generic-segmentation: off [not requested]
            tx-tcp-segmentation: off [not requested]
            tx-tcp-ecn-segmentation: off [not requested]
            tx-tcp-mangleid-segmentation: off [not requested]
            tx-tcp6-segmentation: off [not requested]

            """)
        #expect(!d.segmentationOffload && !d.genericSegmentation)
        #expect(line(run("-k va").stdout, "tx-tcp-segmentation") == "\ttx-tcp-segmentation: off [requested on]")
        _ = run("-K va sg on")
        #expect(d.segmentationOffload && d.genericSegmentation)
    }

    @Test func errorsAsLinux() {
        var r = run("-K va lro on")
        #expect(r == CommandResult(stdout: "Actual changes:\nrx-lro: off [requested on]\n",
                                   stderr: "Could not change any device features\n", status: 1))
        r = run("-K va foo on")
        #expect(r == .failure("netlink error: bit name not found (offset 52)\nnetlink error: Operation not supported", status: 92))
        r = run("-K va tso off foo on")
        #expect(r.stderr.hasPrefix("netlink error: bit name not found (offset 220)\n"))
        #expect(r.status == 92)
        r = run("-K nope tso off")
        #expect(r == .failure("netlink error: no device matches name (offset 24)\nnetlink error: No such device", status: 92))
        r = run("-k nope")
        #expect(r == .failure("netlink error: no device matches name (offset 24)\nnetlink error: No such device", status: 1))
        r = run("-K va tso")
        #expect(r == .failure("ethtool (-K): flag '(null)' for parameter '(null)' is not followed by 'on' or 'off'"))
        r = run("-K va tso maybe")
        #expect(r == .failure("ethtool (-K): flag 'maybe' for parameter '(null)' is not followed by 'on' or 'off'"))
        r = run("-K va")
        #expect(r == .failure("Could not change any device features"))
        r = run("-K va vlan-challenged on")
        #expect(r.status == 92)
        #expect(run("-k").status == 1)
        #expect(run("-k va extra") == .failure("ethtool: unexpected parameter 'extra'"))
    }

    @Test func labCommand() {
        let world = StackLabWorld()
        let capture = LabCapture()
        let status = LabInterpreter(world: world, sink: capture).run(source: """
            ip link add va type veth peer name vb
            ethtool -K va tso off
            ethtool -k va
            """)
        #expect(status == 0)
        #expect(capture.stdout.contains("tcp-segmentation-offload: off\n"))
        #expect(world.stack.initial.device(named: "va")?.segmentationOffload == false)
    }
}
