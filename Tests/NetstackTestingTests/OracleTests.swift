import Glibc
import NetstackTesting
import Testing

@Suite("Linux oracle", .serialized)
struct LinuxOracleTests {
    @Test(.enabled(if: LinuxOracle.isAvailable))
    func addressJSONFromTheKernelNormalised() throws {
        // This kernel has no dummy driver; a veth pair is as good for an address.
        let name = "oracle-probe-\(getpid())"
        let r = LinuxOracle.run(script: """
        ip netns add \(name)
        ip -n \(name) link add v0 type veth peer name v1
        ip -n \(name) addr add 10.0.0.1/24 dev v0
        ip -n \(name) link set v0 up
        ip -n \(name) -j addr show v0
        """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.timedOut)
        let json = try #require(OracleNormalize.ipJSON(r.stdout))
        let link = try #require(json[0])
        #expect(json[1] == nil)
        #expect(link["ifname"] == .string("v0"))
        #expect(link["ifindex"] == nil, "dropped: index numbers differ")
        #expect(link["address"] == .string("<mac>"), "random veth MAC masked")
        #expect(link["broadcast"] == .string("ff:ff:ff:ff:ff:ff"))
        #expect(link["operstate"] == .string("LOWERLAYERDOWN"), "peer v1 is down")
        let address = try #require(link["addr_info"]?[0])
        #expect(address["family"] == .string("inet"))
        #expect(address["local"] == .string("10.0.0.1"))
        #expect(address["prefixlen"]?.intValue == 24)
        #expect(address["valid_life_time"]?.intValue == 4_294_967_295)
        // Nothing leaked into the host.
        #expect(!LinuxOracle.hostNamespaceNames().contains(name))
    }

    @Test(.enabled(if: LinuxOracle.isAvailable))
    func theScriptsInitialNamespaceIsNotTheHosts() {
        let r = LinuxOracle.run(script: "ip -br link show\nip netns list\necho pid $$")
        #expect(r.status == 0)
        #expect(r.stdout == "lo               DOWN           00:00:00:00:00:00 <LOOPBACK> \npid 1\n")
    }

    @Test(.enabled(if: LinuxOracle.isAvailable))
    func statusStderrAndScriptNameAreBashs() {
        let r = LinuxOracle.run(script: "echo out\necho err >&2\nnope\nexit 3", scriptName: "my.sh")
        #expect(r.stdout == "out\n")
        #expect(r.stderr == "err\nmy.sh: line 3: nope: command not found\n")
        #expect(r.status == 3)
    }

    @Test(.enabled(if: LinuxOracle.isAvailable))
    func backgroundProcessesDoNotOutliveTheScript() {
        let marker = "98\(getpid() % 1000).25"
        let ns = "oracle-bg-\(getpid())"
        let r = LinuxOracle.run(script: "sleep \(marker) &\nip netns add \(ns)\nip netns exec \(ns) sleep \(marker) &\necho started")
        #expect(r.stdout == "started\n")
        #expect(sleepers(marker) == 0)
        #expect(!LinuxOracle.hostNamespaceNames().contains(ns))
    }

    @Test(.enabled(if: LinuxOracle.isAvailable))
    func aTimeoutKillsTheWholeGroupQuickly() {
        let marker = "97\(getpid() % 1000).5"
        let start = ContinuousClock.now
        let r = LinuxOracle.run(script: "sleep \(marker) &\necho before\nsleep \(marker)", timeout: .milliseconds(700))
        let elapsed = ContinuousClock.now - start
        #expect(r.timedOut)
        #expect(r.status == 128 + 9)
        #expect(r.stdout == "before\n")
        #expect(elapsed < .seconds(5))
        #expect(sleepers(marker) == 0)
    }

    @Test(.enabled(if: LinuxOracle.isAvailable))
    func filesAreWrittenInAPrivateDirectory() {
        let r = LinuxOracle.run(script: "ls -A\necho hi > out.txt\ncat out.txt\necho *.none")
        #expect(r.stdout == "hi\n*.none\n")
    }

    @Test func theProcessScanSeesProcesses() {
        // The leak checks above count processes by command line: make sure
        // the scan finds one that exists (this test runner).
        #expect(processes { $0 == commandLine(pid: "self") } >= 1)
    }

    private func commandLine(pid: String) -> [String] {
        guard let f = fopen("/proc/\(pid)/cmdline", "r") else { return [] }
        defer { fclose(f) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = fread(&buffer, 1, buffer.count, f)
        return buffer[0..<n].split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Processes on the host whose command line is `sleep MARKER`.
    private func sleepers(_ marker: String) -> Int {
        processes { $0.count == 2 && $0[0].hasSuffix("sleep") && $0[1] == marker }
    }

    private func processes(where match: ([String]) -> Bool) -> Int {
        var count = 0
        guard let dir = opendir("/proc") else { return -1 }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard Int(name) != nil else { continue }
            if match(commandLine(pid: name)) { count += 1 }
        }
        return count
    }
}

@Suite("Oracle normalisers")
struct OracleNormalizeTests {
    @Test func pingTimesBecomePlaceholdersCountsStay() {
        let text = """
        PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.
        64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.045 ms
        64 bytes from 10.0.0.2: icmp_seq=2 ttl=64 time=12.3 ms

        --- 10.0.0.2 ping statistics ---
        2 packets transmitted, 2 received, 0% packet loss, time 1001ms
        rtt min/avg/max/mdev = 0.045/6.172/12.300/6.127 ms

        """
        #expect(OracleNormalize.ping(text) == """
        PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.
        64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=<t> ms
        64 bytes from 10.0.0.2: icmp_seq=2 ttl=64 time=<t> ms

        --- 10.0.0.2 ping statistics ---
        2 packets transmitted, 2 received, 0% packet loss, time <t>ms
        rtt min/avg/max/mdev = <t>/<t>/<t>/<t> ms

        """)
        #expect(OracleNormalize.command(["ip", "netns", "exec", "a", "ping", "-c", "1", "x"], output: "time=1.5 ms\n") == "time=<t> ms\n")
    }

    @Test func bashJobNoticesAreRemoved() {
        let text = "a\nlab.sh: line 7:  1234 Terminated              ping -c 100 10.0.0.2\nlab.sh: line 8: nope: command not found\nb\n"
        #expect(OracleNormalize.jobNotices(text) == "a\nlab.sh: line 8: nope: command not found\nb\n")
    }

    @Test func ipJSONDropsVolatileKeysAndMasksRandomMACs() throws {
        let text = #"[{"ifindex":3,"ifname":"v0","address":"16:3d:39:de:c9:1a","broadcast":"ff:ff:ff:ff:ff:ff","#
            + #""addr_info":[{"local":"10.0.0.1","used":12}],"stats64":{"rx":{"bytes":1}}}]"#
        let json = try #require(OracleNormalize.ipJSON(text))
        #expect(json.description == #"[{"ifname":"v0","address":"<mac>","broadcast":"ff:ff:ff:ff:ff:ff","addr_info":[{"local":"10.0.0.1"}]}]"#)
        var keep = OracleNormalize.IPJSONOptions()
        keep.keepMACs.insert("16:3d:39:de:c9:1a")
        #expect(OracleNormalize.ipJSON(text, options: keep)?[0]?["address"] == .string("16:3d:39:de:c9:1a"))
        #expect(OracleNormalize.ipJSON("[{") == nil)
        // Whole outputs: JSON lines normalised, other lines kept.
        #expect(OracleNormalize.output("x\n[{\"ifindex\":1,\"n\":\"a\\\"b\"}]\n") == "x\n[{\"n\":\"a\\\"b\"}]\n")
    }

    @Test func jsonReaderKeepsOrderAndNumbersExactly() throws {
        let json = try #require(OracleJSON.parse(#" { "b": 18446744073709551615, "a": [true, null, -1.5e3, "\u0041\n"] } "#))
        #expect(json.description == #"{"b":18446744073709551615,"a":[true,null,-1.5e3,"A\n"]}"#)
        #expect(OracleJSON.parse(#"{"a":1,"b":2}"#) != OracleJSON.parse(#"{"b":2,"a":1}"#))
        #expect(OracleJSON.parse("[1,]") == nil)
        #expect(OracleJSON.parse("1 2") == nil)
    }
}
