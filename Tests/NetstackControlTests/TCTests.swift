import Testing
import Netstack
@testable import NetstackControl

/// `tc qdisc` parse → apply → print. Expected strings marked "captured" were
/// printed by tc 6.1 on Linux 6.18 (ifb/veth/lo in a namespace); netem ones
/// (the lab kernel has no sch_netem) follow q_netem.c's format strings.
@Suite struct TCTests {
    static let veth = QdiscDeviceInfo(txQueueLength: 1000, mtu: 1500, txQueueCount: 2, noQueue: true)
    static let ifb = QdiscDeviceInfo(txQueueLength: 32, mtu: 1500)

    /// A device with its root qdisc, and tc run against it.
    struct Lab: ~Copyable {
        var root: Qdisc
        var handles = QdiscHandleAllocator()
        let info: QdiscDeviceInfo
        let name: String

        init(_ name: String, _ info: QdiscDeviceInfo) {
            self.name = name
            self.info = info
            root = Qdisc.makeDefault(for: info)
        }

        /// Runs `tc ARGS` and returns (stdout, stderr, status).
        mutating func tc(_ line: String) -> CommandResult {
            let argv = line.split(separator: " ").map(String.init)
            do {
                let inv = try TC.parse(argv)
                switch inv.command {
                case .help(let text):
                    return CommandResult(stderr: text)
                case .qdiscModify(let r):
                    if let d = r.device, d != name { return TC.deviceNotFound(d).result }
                    if var old = try TC.apply(r, to: &root, device: info, handles: &handles) {
                        while let p = old.purge() { _ = consume p }
                    }
                    return CommandResult()
                case .qdiscShow(let s):
                    if let d = s.device, d != name { return TC.deviceNotFound(d).result }
                    let entries = TC.filter([TCQdiscEntry(device: name, qdisc: root.snapshot)], s)
                    return CommandResult(stdout: TC.printQdiscs(entries, options: inv.options,
                                                                showDevice: s.device == nil))
                }
            } catch {
                return error.result
            }
        }
    }

    // MARK: printing (captured from the real tc)

    @Test func defaultQdiscsPrintAsTcPrintsThem() {
        var lo = Lab("lo", QdiscDeviceInfo(txQueueLength: 1000, mtu: 65536, hardHeaderLength: 0, noQueue: true))
        #expect(lo.tc("qdisc show").stdout == "qdisc noqueue 0: dev lo root refcnt 2 \n")
        #expect(lo.tc("qdisc show dev lo").stdout == "qdisc noqueue 0: root refcnt 2 \n")
        #expect(lo.tc("-s qdisc show dev lo").stdout == """
            qdisc noqueue 0: root refcnt 2 
             Sent 0 bytes 0 pkt (dropped 0, overlimits 0 requeues 0) 
             backlog 0b 0p requeues 0

            """)
        #expect(lo.tc("-j qdisc show dev lo").stdout
            == #"[{"kind":"noqueue","handle":"0:","root":true,"refcnt":2,"options":{}}]"# + "\n")
        #expect(lo.tc("-j -p qdisc show dev lo").stdout == """
            [ {
                    "kind": "noqueue",
                    "handle": "0:",
                    "root": true,
                    "refcnt": 2,
                    "options": {}
                } ]

            """)
        var t0 = Lab("t0", QdiscDeviceInfo())
        #expect(t0.tc("qdisc show").stdout
            == "qdisc pfifo_fast 0: dev t0 root refcnt 2 bands 3 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1\n")
        #expect(t0.tc("-j qdisc show").stdout == #"[{"kind":"pfifo_fast","handle":"0:","dev":"t0","root":true,"refcnt":2,"options":{"bands":3,"priomap":[1,2,2,2,1,2,0,0,1,1,1,1,1,1,1,1],"multiqueue":false}}]"# + "\n")
    }

    @Test func addedQdiscsPrintWithHandlesAndRefcounts() {
        var v = Lab("x-veth", Self.veth)
        #expect(v.tc("qdisc add dev x-veth root pfifo_fast").status == 0)
        #expect(v.tc("qdisc show dev x-veth").stdout
            == "qdisc pfifo_fast 8001: root refcnt 3 bands 3 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1\n")
        #expect(v.tc("-s -j -p qdisc show dev x-veth").stdout == """
            [ {
                    "kind": "pfifo_fast",
                    "handle": "8001:",
                    "root": true,
                    "refcnt": 3,
                    "options": {
                        "bands": 3,
                        "priomap": [ 1,2,2,2,1,2,0,0,1,1,1,1,1,1,1,1 ],
                        "multiqueue": false
                    },
                    "bytes": 0,
                    "packets": 0,
                    "drops": 0,
                    "overlimits": 0,
                    "requeues": 0,
                    "backlog": 0,
                    "qlen": 0
                } ]

            """)
        var x = Lab("x-ifb", Self.ifb)
        #expect(x.tc("qdisc add dev x-ifb root pfifo limit 10").status == 0)
        #expect(x.tc("qdisc show dev x-ifb").stdout == "qdisc pfifo 8001: root refcnt 2 limit 10p\n")
        #expect(x.tc("qdisc replace dev x-ifb root bfifo limit 3000").status == 0)
        #expect(x.tc("qdisc show").stdout == "qdisc bfifo 8002: dev x-ifb root refcnt 2 limit 3000b\n")
        #expect(x.tc("-s -j qdisc show dev x-ifb").stdout == #"[{"kind":"bfifo","handle":"8002:","root":true,"refcnt":2,"options":{"limit":3000},"bytes":0,"packets":0,"drops":0,"overlimits":0,"requeues":0,"backlog":0,"qlen":0}]"# + "\n")
    }

    // MARK: netem

    @Test func netemPrintsLikeQNetem() {
        var v = Lab("d0", Self.ifb)
        #expect(v.tc("qdisc add dev d0 root netem delay 100ms 10ms loss 1%").status == 0)
        #expect(v.tc("qdisc show dev d0").stdout == "qdisc netem 8001: root refcnt 2 limit 1000 delay 100ms  10ms loss 1%\n")
        #expect(v.tc("-j qdisc show dev d0").stdout == #"[{"kind":"netem","handle":"8001:","root":true,"refcnt":2,"options":{"limit":1000,"delay":{"delay":0.1,"jitter":0.01,"correlation":0},"loss-random":{"loss":0.01,"correlation":0},"ecn":false,"gap":0}}]"# + "\n")
        #expect(v.tc("qdisc change dev d0 root netem delay 1.5ms 10us 25% rate 1mbit duplicate 0.5% corrupt 0.1%").status == 0)
        // 10us is 156 ticks (9984 ns), which tc prints back truncated: 9us.
        #expect(v.tc("qdisc show dev d0").stdout
            == "qdisc netem 8001: root refcnt 2 limit 1000 delay 1.5ms  9us 25% duplicate 0.5% corrupt 0.1% rate 1Mbit\n")
        #expect(v.tc("qdisc replace dev d0 root netem limit 50 delay 10ms reorder 25% 50% loss state 1% ecn").status == 0)
        // corrupt and rate were not in this request: netem_change keeps them.
        #expect(v.tc("qdisc show dev d0").stdout
            == "qdisc netem 8001: root refcnt 2 limit 50 delay 10ms loss state p13 1% p31 99% p32 0% p23 100% p14 0% reorder 25% 50% corrupt 0.1% rate 1Mbit ecn  gap 1\n")
        #expect(v.tc("qdisc replace dev d0 root netem delay 1234us rate 1500kbit 20 slot 1ms 2ms packets 4").status == 0)
        // The reorder, corrupt and ecn attributes stick; gap (in the qopt) resets.
        #expect(v.tc("qdisc show dev d0").stdout
            == "qdisc netem 8001: root refcnt 2 limit 1000 delay 1.23ms reorder 25% 50% corrupt 0.1% rate 1500Kbit packetoverhead 20 slot 1ms 2ms packets 4 ecn \n")
    }

    @Test func netemRequestReachesTheQdisc() throws {
        var v = Lab("d0", Self.ifb)
        #expect(v.tc("qdisc add dev d0 root netem delay 100ms 10ms loss 1% rate 1mbit").status == 0)
        guard case .netem(let o) = v.root.options else {
            Issue.record("not netem")
            return
        }
        #expect(o.latency == 100_000_000 && o.jitter == 10_000_000)
        #expect(o.loss == 42_949_673 && o.rate == 125_000 && o.limit == 1000)
    }

    // MARK: errors (captured)

    @Test func kernelRefusalsReadLikeLinux() {
        var v = Lab("x-veth", Self.veth)
        #expect(v.tc("qdisc add dev x-veth root pfifo_fast").status == 0)
        #expect(v.tc("qdisc add dev x-veth root pfifo_fast")
            == CommandResult(stderr: "Error: Exclusivity flag on, cannot modify.\n", status: 2))
        // Linux 6.18: add/change with another kind replaces the qdisc.
        #expect(v.tc("qdisc add dev x-veth root pfifo").status == 0)
        #expect(v.tc("qdisc replace dev x-veth root pfifo limit 10").status == 0)
        #expect(v.tc("qdisc show dev x-veth").stdout == "qdisc pfifo 8002: root refcnt 3 limit 10p\n")
        #expect(v.tc("qdisc change dev x-veth root pfifo limit 20").status == 0)
        #expect(v.tc("qdisc show dev x-veth").stdout == "qdisc pfifo 8002: root refcnt 3 limit 20p\n")
        #expect(v.tc("qdisc del dev x-veth root").status == 0)
        #expect(v.tc("qdisc del dev x-veth root")
            == CommandResult(stderr: "Error: Cannot delete qdisc with handle of zero.\n", status: 2))
        #expect(v.tc("qdisc show dev x-veth").stdout == "qdisc noqueue 0: root refcnt 2 \n")
        #expect(v.tc("qdisc add dev x-veth root blah")
            == CommandResult(stderr: "Error: Specified qdisc kind is unknown.\n", status: 2))
        #expect(v.tc("qdisc add dev x-veth")
            == CommandResult(stderr: "Error: Handle cannot be zero.\n", status: 2))
        #expect(v.tc("qdisc add dev x-veth root")
            == CommandResult(stderr: "Error: Specified qdisc kind is unknown.\n", status: 2))
        #expect(v.tc("qdisc add root pfifo")
            == CommandResult(stderr: "RTNETLINK answers: No such device\n", status: 2))
        #expect(v.tc("qdisc change dev x-veth root pfifo")
            == CommandResult(stderr: "Error: Qdisc not found. To create specify NLM_F_CREATE flag.\n", status: 2))
    }

    @Test func commandLineErrorsReadLikeTc() {
        var v = Lab("lo", Self.veth)
        #expect(v.tc("qdisc show dev nope") == CommandResult(stderr: "Cannot find device \"nope\"\n", status: 1))
        #expect(v.tc("qdisc add dev lo root pfifo_fast bands 3")
            == CommandResult(stderr: "qdisc 'pfifo_fast' does not support option parsing\n", status: 255))
        #expect(v.tc("qdisc add dev lo root blah 1")
            == CommandResult(stderr: "Unknown qdisc \"blah\", hence option \"1\" is unparsable\n", status: 1))
        #expect(v.tc("qdisc foo") == CommandResult(stderr: "Command \"foo\" is unknown, try \"tc qdisc help\".\n", status: 255))
        #expect(v.tc("foo") == CommandResult(stderr: "Object \"foo\" is unknown, try \"tc help\".\n", status: 255))
        #expect(v.tc("qdisc show dev lo foo")
            == CommandResult(stderr: "What is \"foo\"? Try \"tc qdisc help\".\n", status: 255))
        #expect(v.tc("qdisc add dev lo root pfifo limit x")
            == CommandResult(stderr: "pfifo: Illegal value for \"limit\": \"x\"\n", status: 1))
        #expect(v.tc("qdisc add dev lo root netem delay")
            == CommandResult(stderr: "Command line is not complete. Try option \"help\"\n", status: 255))
        // q_netem.c's messages.
        #expect(v.tc("qdisc add dev lo root netem loss 200%")
            == CommandResult(stderr: "Illegal \"loss percent\"\n", status: 1))
        #expect(v.tc("qdisc add dev lo root netem delay abc")
            == CommandResult(stderr: "Illegal \"latency\"\n", status: 1))
        let reorder = v.tc("qdisc add dev lo root netem reorder 10%")
        #expect(reorder.status == 1 && reorder.stderr.hasPrefix("reordering not possible without specifying some delay\nUsage: ... netem"))
        let gap = v.tc("qdisc add dev lo root netem delay 1ms gap 5")
        #expect(gap.status == 1 && gap.stderr.hasPrefix("gap specified without reorder probability\n"))
        let ecn = v.tc("qdisc add dev lo root netem ecn")
        #expect(ecn.status == 1 && ecn.stderr.hasPrefix("ecn requested without loss model\n"))
        let what = v.tc("qdisc add dev lo root netem bogus")
        #expect(what.status == 1 && what.stderr.hasPrefix("What is \"bogus\"?\nUsage: ... netem [ limit PACKETS ]"))
        // Nothing was applied by any failure.
        #expect(v.tc("qdisc show dev lo").stdout == "qdisc noqueue 0: root refcnt 2 \n")
    }

    // MARK: handles and number formats

    @Test func handlesCountUpAndSkipTheOneInUse() {
        var a = QdiscHandleAllocator()
        #expect(a.allocate() == QdiscHandle(major: 0x8001))
        #expect(a.allocate(isInUse: { $0 == QdiscHandle(major: 0x8002) }) == QdiscHandle(major: 0x8003))
        #expect(QdiscHandle(major: 0x800b).description == "800b:")
    }

    @Test func printfGMatchesC() {
        // Values checked against C's printf (via Python's % operator).
        #expect(CFormat.g(1.015, precision: 3) == "1.01")
        #expect(CFormat.g(0.125, precision: 2) == "0.12")
        #expect(CFormat.g(1e-05) == "1e-05")
        #expect(CFormat.g(100) == "100")
        #expect(CFormat.g(1234567) == "1.23457e+06")
        #expect(CFormat.g(2.5, precision: 1) == "2")
        #expect(CFormat.g(123.456, precision: 3) == "123")
        #expect(CFormat.g(100 * 42_949_673 / 4_294_967_295.0) == "1")
        #expect(TC.timeText(1500) == "1.5ms" && TC.timeText(10) == "10us" && TC.timeText(2_500_000) == "2.5s")
        #expect(TC.rateText(125_000, iec: false) == "1Mbit" && TC.rateText(187_500, iec: false) == "1500Kbit")
        #expect(TC.sizeText(3000) == "3000b" && TC.sizeText(65536) == "64Kb" && TC.sizeText(1 << 20) == "1Mb")
    }
}
