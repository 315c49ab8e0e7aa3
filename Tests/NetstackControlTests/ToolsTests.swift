import Testing
import NetWire
import Netstack
@testable import NetstackControl

// Expected texts are what the real tools printed on Debian 12 (iputils
// 20221126, netcat-openbsd 1.219, iproute2 6.1, procps-ng 4.0.2) in
// namespaces built the same way; RTTs and elapsed times are normalised.

/// a (10.0.0.1, v0) ⇄ b (10.0.0.2, v1), both with 127.0.0.1 on lo.
func toolHosts() throws -> (Stack, NetworkNamespace, NetworkNamespace) {
    let stack = Stack(seed: 7)
    let a = try stack.addNamespace("a")
    let b = try stack.addNamespace("b")
    let v0 = try a.addLink(name: "v0", kind: .veth, peerName: "v1", peerNamespace: b)
    let v1 = try #require(b.device(named: "v1"))
    for (ns, d, addr) in [(a, v0, "10.0.0.1/24"), (b, v1, "10.0.0.2/24")] {
        ns.setUp(ns.loopback)
        ns.setUp(d)
        try ns.addAddress(InterfaceAddress(prefix: try #require(IPPrefix(addr))), to: d, now: .zero)
    }
    return (stack, a, b)
}

/// Anything with the process protocol.
protocol Steppable: AnyObject {
    func poll(now: Instant, output: inout ToolOutput) -> ToolState
    func terminate(now: Instant, output: inout ToolOutput)
}
extension PingProcess: Steppable {}
extension NetcatProcess: Steppable {}

/// Steps the stack and the processes in virtual time until every process
/// exited or `limit` passed; returns each one's output and status.
@discardableResult
func runProcesses(_ stack: Stack, _ ps: [Steppable], from start: Instant = .zero,
                  limit: TimeDelta = .seconds(60), terminateAt: Instant? = nil) -> [(ToolOutput, Int32?)] {
    var outs = [ToolOutput](repeating: ToolOutput(), count: ps.count)
    var status = [Int32?](repeating: nil, count: ps.count)
    var now = start
    var rounds = 0
    while rounds < 100_000 {
        rounds += 1
        stack.poll(now: now)
        var wake: Instant? = nil
        for (i, p) in ps.enumerated() where status[i] == nil {
            if let t = terminateAt, now >= t {
                p.terminate(now: now, output: &outs[i])
                if case .exited(let s) = p.poll(now: now, output: &outs[i]) { status[i] = s }
                continue
            }
            switch p.poll(now: now, output: &outs[i]) {
            case .exited(let s): status[i] = s
            case .running(let w): if let w, wake.map({ w < $0 }) ?? true { wake = w }
            }
        }
        if status.allSatisfy({ $0 != nil }) { break }
        if let d = stack.nextDeadline, wake.map({ d < $0 }) ?? true { wake = d }
        if let t = terminateAt, wake.map({ t < $0 }) ?? true { wake = t }
        guard let next = wake, next <= start + limit else { break }
        now = max(now, next)
    }
    return Array(zip(outs, status))
}

func normalise(_ s: String) -> String {
    s.replacing(/time=[0-9.]+ ms/, with: "time=T ms")
        .replacing(/time [0-9]+ms/, with: "time Tms")
        .replacing(/rtt min\/avg\/max\/mdev = [0-9.\/]+ ms/, with: "rtt min/avg/max/mdev = R ms")
}

@Suite struct ToolsPingTests {
    @Test func pingAcrossVethMatchesLinux() throws {
        let (stack, a, _) = try toolHosts()
        let p = PingProcess(argv: ["ping", "-c", "3", "-i", "0.2", "10.0.0.2"], namespace: a)
        let r = runProcesses(stack, [p])
        let linux = """
            PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.
            64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.373 ms
            64 bytes from 10.0.0.2: icmp_seq=2 ttl=64 time=0.054 ms
            64 bytes from 10.0.0.2: icmp_seq=3 ttl=64 time=0.061 ms

            --- 10.0.0.2 ping statistics ---
            3 packets transmitted, 3 received, 0% packet loss, time 410ms
            rtt min/avg/max/mdev = 0.054/0.162/0.373/0.148 ms

            """
        #expect(normalise(r[0].0.stdout) == normalise(linux))
        #expect(r[0].0.stderr == "")
        #expect(r[0].1 == 0)
        // In virtual time the probes leave exactly 200 ms apart.
        #expect(r[0].0.stdout.contains("time 400ms\n"))
    }

    /// iputils ping's -M sets IP_MTU_DISCOVER; without it the socket's
    /// default (want): an echo request that fits goes with DF, as on Linux
    /// 6.18 (tcpdump -v: `id 32560, flags [DF]`); -M dont: no DF; -M do:
    /// DF and id 0 (no connected socket, fragmenting forbidden).
    @Test(arguments: [([String](), true, false), (["-M", "want"], true, false), (["-M", "dont"], false, false),
                      (["-M", "do"], true, true)])
    func pingDontFragmentFollowsMinusM(_ flags: [String], df: Bool, idZero: Bool) throws {
        let (stack, a, _) = try toolHosts()
        stack.capture = PacketCapture()
        let p = PingProcess(argv: ["ping", "-c", "1"] + flags + ["10.0.0.2"], namespace: a)
        let r = runProcesses(stack, [p])
        #expect(r[0].1 == 0)
        var requests: [(id: UInt16, df: Bool)] = []
        stack.capture?.drain { name, bytes in
            guard name.hasSuffix("v0") else { return }
            var at = 24   // pcap file header, then records of 16 + caplen bytes
            while at + 16 <= bytes.count {
                let caplen = Int(bytes[at + 8]) | Int(bytes[at + 9]) << 8 | Int(bytes[at + 10]) << 16 | Int(bytes[at + 11]) << 24
                let f = at + 16
                at = f + caplen
                guard at <= bytes.count, caplen >= 35, bytes[f + 12] == 0x08, bytes[f + 13] == 0x00,
                      bytes[f + 23] == 1, bytes[f + 34] == 8 else { continue }   // ICMP echo request
                requests.append((UInt16(bytes[f + 18]) << 8 | UInt16(bytes[f + 19]), bytes[f + 20] & 0x40 != 0))
            }
        }
        #expect(requests.count == 1)
        #expect(requests.first?.df == df)
        #expect((requests.first?.id == 0) == idZero)
    }

    @Test func pingSmallPayloadHasNoTimes() throws {
        let (stack, a, _) = try toolHosts()
        let p = PingProcess(argv: ["ping", "-c1", "-s", "8", "10.0.0.2"], namespace: a)
        let r = runProcesses(stack, [p])
        #expect(r[0].0.stdout == """
            PING 10.0.0.2 (10.0.0.2) 8(36) bytes of data.
            16 bytes from 10.0.0.2: icmp_seq=1 ttl=64

            --- 10.0.0.2 ping statistics ---
            1 packets transmitted, 1 received, 0% packet loss, time 0ms


            """)
        #expect(r[0].1 == 0)
    }

    @Test func pingQuietDeviceAndLoopback() throws {
        let (stack, a, _) = try toolHosts()
        let q = PingProcess(argv: ["ping", "-q", "-c", "2", "-i", "0.2", "10.0.0.2"], namespace: a)
        let dev = PingProcess(argv: ["ping", "-c", "1", "-I", "v0", "10.0.0.2"], namespace: a)
        let src = PingProcess(argv: ["ping", "-c", "1", "-I", "10.0.0.1", "10.0.0.2"], namespace: a)
        let lo = PingProcess(argv: ["ping", "-c", "1", "0"], namespace: a)
        let r = runProcesses(stack, [q, dev, src, lo])
        #expect(normalise(r[0].0.stdout) == normalise("""
            PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.

            --- 10.0.0.2 ping statistics ---
            2 packets transmitted, 2 received, 0% packet loss, time 206ms
            rtt min/avg/max/mdev = 0.047/0.052/0.058/0.005 ms

            """))
        #expect(r[1].0.stdout.hasPrefix("PING 10.0.0.2 (10.0.0.2) from 10.0.0.1 v0: 56(84) bytes of data.\n64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time="))
        #expect(r[2].0.stdout.hasPrefix("PING 10.0.0.2 (10.0.0.2) from 10.0.0.1 : 56(84) bytes of data.\n"))
        #expect(normalise(r[3].0.stdout) == normalise("""
            PING 0 (127.0.0.1) 56(84) bytes of data.
            64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.041 ms

            --- 0 ping statistics ---
            1 packets transmitted, 1 received, 0% packet loss, time 0ms
            rtt min/avg/max/mdev = 0.041/0.041/0.041/0.000 ms

            """))
        #expect(r.allSatisfy { $0.1 == 0 })
    }

    @Test func pingDontFragmentLocalErrors() throws {
        let (stack, a, _) = try toolHosts()
        let p = PingProcess(argv: ["ping", "-c", "2", "-i", "0.2", "-s", "1600", "-M", "do", "10.0.0.2"], namespace: a)
        let r = runProcesses(stack, [p])
        #expect(normalise(r[0].0.stdout) == normalise("""
            PING 10.0.0.2 (10.0.0.2) 1600(1628) bytes of data.

            --- 10.0.0.2 ping statistics ---
            2 packets transmitted, 0 received, +2 errors, 100% packet loss, time 206ms


            """))
        #expect(r[0].0.stderr == "ping: local error: message too long, mtu=1500\nping: local error: message too long, mtu=1500\n")
        #expect(r[0].1 == 1)
    }

    @Test func pingWithoutReplyLingersThenFails() throws {
        let (stack, a, _) = try toolHosts()
        // Nobody answers 10.0.0.9: two probes, then -W 1 after the last.
        let p = PingProcess(argv: ["ping", "-c", "2", "-W", "1", "10.0.0.9"], namespace: a)
        let r = runProcesses(stack, [p])
        #expect(r[0].0.stdout == """
            PING 10.0.0.9 (10.0.0.9) 56(84) bytes of data.

            --- 10.0.0.9 ping statistics ---
            2 packets transmitted, 0 received, 100% packet loss, time 1000ms


            """)
        #expect(r[0].1 == 1)
        #expect(stack.now == Instant.zero + .seconds(2))
    }

    @Test func pingDeadlineAndInterrupt() throws {
        let (stack, a, _) = try toolHosts()
        let w = PingProcess(argv: ["ping", "-w", "1", "-i", "0.3", "10.0.0.2"], namespace: a)
        let r = runProcesses(stack, [w])
        #expect(r[0].0.stdout.contains("\n4 packets transmitted, 4 received, 0% packet loss, time 900ms\n"))
        #expect(r[0].1 == 0)

        let (stack2, a2, _) = try toolHosts()
        let forever = PingProcess(argv: ["ping", "10.0.0.2"], namespace: a2)
        let r2 = runProcesses(stack2, [forever], terminateAt: Instant.zero + .milliseconds(2500))
        #expect(r2[0].0.stdout.contains("icmp_seq=3 "))
        #expect(r2[0].0.stdout.contains("\n3 packets transmitted, 3 received, 0% packet loss, time 2000ms\n"))
        #expect(r2[0].1 == 0)
    }

    @Test func pingUsageAndSetupErrors() throws {
        let (stack, a, _) = try toolHosts()
        let cases: [([String], String, Int32)] = [
            (["ping", "-c", "x", "10.0.0.2"], "ping: invalid argument: 'x'\n", 1),
            (["ping", "-c", "0", "10.0.0.2"], "ping: invalid argument: '0': out of range: 1 <= value <= 9223372036854775807\n", 1),
            (["ping", "-t", "300", "10.0.0.2"], "ping: invalid argument: '300': out of range: 0 <= value <= 255\n", 1),
            (["ping", "-M", "foo", "10.0.0.2"], "ping: invalid -M argument: foo\n", 2),
            (["ping", "-W", "-1", "10.0.0.2"], "ping: bad linger time: -1\n", 2),
            (["ping"], "ping: usage error: Destination address required\n", 1),
            (["ping", "-I", "nodev", "-c1", "10.0.0.2"], "ping: SO_BINDTODEVICE nodev: No such device\n", 2),
            (["ping", "-6", "-c1", "10.0.0.2"], "ping: 10.0.0.2: Address family for hostname not supported\n", 2),
            (["ping", "-4", "-c1", "2001:db8::2"], "ping: 2001:db8::2: Address family for hostname not supported\n", 2),
            (["ping", "-c", "2", "10.1.0.9"], "ping: connect: Network is unreachable\n", 2),
            (["ping", "-c", "1", "nohost"], "ping: nohost: Name or service not known\n", 2),
        ]
        for (argv, stderr, status) in cases {
            let r = runProcesses(stack, [PingProcess(argv: argv, namespace: a)])
            #expect(r[0].0.stderr == stderr, "\(argv)")
            #expect(r[0].0.stdout == "", "\(argv)")
            #expect(r[0].1 == status, "\(argv)")
        }
    }

    @Test func iputilsFormatting() {
        #expect(PingProcess.formatRTT(373) == "0.373 ms")
        #expect(PingProcess.formatRTT(1234) == "1.23 ms")
        #expect(PingProcess.formatRTT(12_345) == "12.3 ms")
        #expect(PingProcess.formatRTT(1_002_330) == "1002 ms")
        #expect(PingProcess.formatRTT(792_132) == "792 ms")
        #expect(PingProcess.formatRTT(99_949) == "99.9 ms")
        #expect(PingProcess.formatRTT(99_950) == "100 ms")
        #expect(PingProcess.formatG(0) == "0")
        #expect(PingProcess.formatG(100) == "100")
        #expect(PingProcess.formatG(50) == "50")
        #expect(PingProcess.formatG(Float(200.0 / 3.0)) == "66.6667")
        #expect(PingProcess.formatG(Float(100.0 / 3.0)) == "33.3333")
        #expect(PingProcess.formatG(Float(100.0 / 7.0)) == "14.2857")
        #expect(PingProcess.llsqrt(0) == 0)
        #expect(PingProcess.llsqrt(21904) == 148)
        #expect(PingProcess.inetAton("0") == IPv4Address(0, 0, 0, 0))
        #expect(PingProcess.inetAton("10.1") == IPv4Address(10, 0, 0, 1))
        #expect(PingProcess.inetAton("0x7f.1") == IPv4Address(127, 0, 0, 1))
        #expect(PingProcess.inetAton("1.2.3.256") == nil)
        #expect(PingProcess.icmpText(11, 0, 0) == "Time to live exceeded")
        #expect(PingProcess.icmpText(3, 4, 1400) == "Frag needed and DF set (mtu = 1400)")
        #expect(PingProcess.icmpText(3, 1, 0) == "Destination Host Unreachable")
        #expect(PingProcess.icmp6Text(1, 3, 0) == "Destination unreachable: Address unreachable")
        #expect(PingProcess.icmp6Text(3, 0, 0) == "Time exceeded: Hop limit")
    }
}

@Suite struct ToolsNetcatTests {
    @Test func datagramBetweenNamespacesAndServerConnects() throws {
        let (stack, a, b) = try toolHosts()
        let server = NetcatProcess(argv: ["nc", "-u", "-l", "9000"], namespace: b)
        _ = runProcesses(stack, [server], limit: .milliseconds(1))
        let client = NetcatProcess(argv: ["nc", "-u", "-w1", "10.0.0.2", "9000"], namespace: a, stdin: Array("hi\n".utf8))
        // Up to 1 s only: IPv6 DAD timers of the link-local addresses run later.
        let r = runProcesses(stack, [server, client], limit: .seconds(1))
        #expect(r[1].1 == 0)
        #expect(stack.now == Instant.zero + .seconds(1))   // -w1: idle for a second
        let other = NetcatProcess(argv: ["nc", "-u", "-w1", "10.0.0.2", "9000"], namespace: a, stdin: Array("two".utf8))
        let r2 = runProcesses(stack, [server, other], from: stack.now, limit: .seconds(5))
        #expect(r[0].0.stdout + r2[0].0.stdout == "hi\n")  // the second sender is refused: the server is connected
        #expect(r2[0].1 == nil)               // a listener runs until ended
        #expect(r2[1].1 == 0)
        let ss = SocketStatistics.run(["ss", "-u", "-a", "-n"], namespace: b)
        #expect(ss.stdout.hasPrefix("State Recv-Q Send-Q Local Address:Port Peer Address:Port Process\nESTAB 0      0           10.0.0.2:9000     10.0.0.1:"))
        var out = ToolOutput()
        server.terminate(now: stack.now, output: &out)
        #expect(server.exitStatus == 130)
    }

    @Test func keepListeningPrintsEverySender() throws {
        let (stack, a, b) = try toolHosts()
        let server = NetcatProcess(argv: ["nc", "-u", "-l", "-k", "9000"], namespace: b)
        _ = runProcesses(stack, [server], limit: .milliseconds(1))
        let c1 = NetcatProcess(argv: ["nc", "-u", "-w0", "10.0.0.2", "9000"], namespace: a, stdin: Array("a".utf8))
        let c2 = NetcatProcess(argv: ["nc", "-u", "-w0", "10.0.0.2", "9000"], namespace: a, stdin: Array("b".utf8))
        let r = runProcesses(stack, [server, c1, c2], limit: .seconds(1))
        #expect(r[0].0.stdout == "ab")
        #expect(SocketStatistics.run(["ss", "-uan"], namespace: b).stdout == """
            State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess
            UNCONN 0      0            0.0.0.0:9000      0.0.0.0:*          

            """)
    }

    @Test func replyIsPrintedAndRefusedPortEndsClient() throws {
        let (stack, a, b) = try toolHosts()
        let echo = b.udpSocket()
        try echo.bind(nil, port: 9002)
        let client = NetcatProcess(argv: ["nc", "-u", "-w2", "10.0.0.2", "9002"], namespace: a, stdin: Array("hi\n".utf8))
        // (Over loopback: with today's neighbour seam a veth frame arrives as a
        // link-layer broadcast, which never draws an ICMP error.)
        let refused = NetcatProcess(argv: ["nc", "-u", "127.0.0.1", "9001"], namespace: a, stdin: Array("hi\n".utf8))
        var outs = [ToolOutput(), ToolOutput()]
        var now = Instant.zero
        _ = client.poll(now: now, output: &outs[0])
        _ = refused.poll(now: now, output: &outs[1])
        stack.poll(now: now)
        let d = try #require(try echo.receive())
        try echo.send(Array("reply:".utf8) + d.payload, to: (d.source, d.sourcePort))
        let r = runProcesses(stack, [client, refused], from: now, limit: .seconds(10))
        now = stack.now
        #expect(r[0].0.stdout == "reply:hi\n")
        #expect(r[0].1 == 0)
        #expect(r[1].1 == 0)      // ICMP port unreachable: nc stops at once, status 0
        #expect(r[1].0.stdout == "" && r[1].0.stderr == "")
    }

    @Test func errorsAsNetcatWordsThem() throws {
        let (stack, a, _) = try toolHosts()
        let cases: [([String], String, Int32)] = [
            (["nc", "-u", "-l"], "nc: missing port number\n", 1),
            (["nc", "-u", "-w1", "10.0.0.2", "99999"], "nc: port number too large: 99999\n", 1),
            (["nc", "-u", "-w1", "x", "1"], "nc: getaddrinfo for host \"x\" port 1: Name or service not known\n", 1),
            (["nc", "-u", "-w1", "-s", "10.9.9.9", "10.0.0.2", "9002"], "nc: bind failed: Cannot assign requested address\n", 1),
            (["nc", "-u", "-w1", "10.9.9.9", "9001"], "", 1),
        ]
        for (argv, stderr, status) in cases {
            let r = runProcesses(stack, [NetcatProcess(argv: argv, namespace: a)], limit: .seconds(3))
            #expect(r[0].0.stderr == stderr, "\(argv)")
            #expect(r[0].1 == status, "\(argv)")
        }
    }
}

@Suite struct ToolsSSTests {
    @Test func listingMatchesIproute2() throws {
        let (stack, a, _) = try toolHosts()
        defer { withExtendedLifetime(stack) {} }
        #expect(a.loopback.addresses.contains { $0.address == .v6(.loopback) })  // added when lo came up
        let s1 = a.udpSocket(); try s1.bind(nil, port: 9000)
        let s2 = a.udpSocket(ipv6: true); try s2.bind(nil, port: 53)
        let s3 = a.udpSocket(ipv6: true); try s3.bind(IPAddress("::1"), port: 5353)
        _ = a.udpSocket()  // unbound: not in the hash, not listed
        #expect(SocketStatistics.run(["ss", "-u", "-l", "-n"], namespace: a).stdout == """
            State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess
            UNCONN 0      0            0.0.0.0:9000      0.0.0.0:*          
            UNCONN 0      0                  *:53              *:*          
            UNCONN 0      0              [::1]:5353         [::]:*          

            """)
        #expect(SocketStatistics.run(["ss", "-u", "-a", "-n", "-l", "-H"], namespace: a).stdout == """
            UNCONN 0      0      0.0.0.0:9000 0.0.0.0:*
            UNCONN 0      0            *:53         *:*
            UNCONN 0      0        [::1]:5353    [::]:*

            """)
        // Without -a only connected sockets, and no State column.
        let c = a.udpSocket(); try c.bind(IPAddress("127.0.0.1"), port: 40000)
        try c.connect(.v4(IPv4Address(127, 0, 0, 1)), port: 9000)
        try c.send(Array("hello world".utf8))
        a.stack.poll(now: .zero)
        #expect(SocketStatistics.run(["ss", "-u", "-n"], namespace: a).stdout == """
            Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess
            0      0          127.0.0.1:40000    127.0.0.1:9000       

            """)
        let four = SocketStatistics.run(["ss", "-u", "-a", "-n", "-4"], namespace: a).stdout
        #expect(four.split(separator: "\n").count == 3)
        #expect(four.contains("UNCONN \(s1.receiveQueueBytes)"))
        #expect(s1.receiveQueueBytes > 11)
    }
}

/// `ss -u` with -e, -m, -i, -o against ss 6.1 on Linux (same sockets
/// made with python3 in a namespace: the layout, key order and the
/// memory arithmetic are Linux's; truesize is the stack's approximation).
@Suite struct ToolsSSUDPDetailsTests {
    @Test func extendedAndMemoryLikeIproute2() throws {
        let (stack, a, _) = try toolHosts()
        defer { withExtendedLifetime(stack) {} }
        let s1 = a.udpSocket(); try s1.bind(nil, port: 5000)
        let s2 = a.udpSocket(); try s2.bind(IPAddress("127.0.0.1"), port: 5001)
        try s2.connect(.v4(IPv4Address(127, 0, 0, 1)), port: 5000)
        let s3 = a.udpSocket(ipv6: true); try s3.bind(nil, port: 5002)
        let s4 = a.udpSocket(ipv6: true); try s4.bind(IPAddress("::1"), port: 5003)
        // Every socket gets its own inode and cookie.
        #expect(Set([s1, s2, s3, s4].map(\.inode)).count == 4 && Set([s1, s2, s3, s4].map(\.cookie)).count == 4)
        try s2.send(Array(repeating: 0x78, count: 100))
        try s2.send(Array(repeating: 0x79, count: 10))
        a.stack.poll(now: .zero)
        try s2.shutdown(.read)
        #expect(throws: Errno.ENOTCONN) { try s3.shutdown(.write) }
        #expect(throws: Errno.EPIPE) { try s3.send([1], to: (.v6(.loopback), 5002)) }
        _ = try? s3.shutdown(.read)  // both bits now (ENOTCONN again); still listed
        let r = 100 + 10 + 2 * 768
        let f = 4096 - r
        func ids(_ s: UDPSocket) -> String { "ino:\(s.inode) sk:\(String(s.cookie, radix: 16))" }
        let e = SocketStatistics.run(["ss", "-u", "-a", "-n", "-e"], namespace: a).stdout
        #expect(e == """
            State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess                 
            UNCONN \(r)   0            0.0.0.0:5000      0.0.0.0:*    \(ids(s1)) <->         
            ESTAB  0      0          127.0.0.1:5001    127.0.0.1:5000 \(ids(s2)) -->         
            UNCONN 0      0                  *:5002            *:*    \(ids(s3)) v6only:0 ---
            UNCONN 0      0              [::1]:5003         [::]:*    \(ids(s4)) v6only:1 <->

            """)
        let m = SocketStatistics.run(["ss", "-u", "-a", "-n", "-m", "-H"], namespace: a).stdout
        let idle = "skmem:(r0,rb212992,t0,tb212992,f0,w0,o0,bl0,d0)"
        #expect(m == """
            UNCONN \(r)   0        0.0.0.0:5000   0.0.0.0:*   
            \t skmem:(r\(r),rb212992,t0,tb212992,f\(f),w0,o0,bl0,d0)
            ESTAB  0      0      127.0.0.1:5001 127.0.0.1:5000
            \t \(idle)      
            UNCONN 0      0              *:5002         *:*   
            \t \(idle)      
            UNCONN 0      0          [::1]:5003      [::]:*   
            \t \(idle)      

            """)
        // -O: one line; -i and -o add nothing for UDP.
        let o = SocketStatistics.run(["ss", "-u", "-a", "-n", "-emO", "-H"], namespace: a).stdout
        #expect(o.split(separator: "\n").first?.contains("\(ids(s1)) <-> skmem:(r\(r),rb212992,t0,tb212992,f\(f),w0,o0,bl0,d0)") == true)
        #expect(SocketStatistics.run(["ss", "-u", "-a", "-n", "-i", "-o", "-H"], namespace: a).stdout
                == SocketStatistics.run(["ss", "-u", "-a", "-n", "-H"], namespace: a).stdout)
    }

    /// udp_rmem_schedule/udp_rmem_release as Linux 6.1 showed them for
    /// datagrams of 100, 10, 1000 and 3000 bytes read one by one: rmem_alloc
    /// stays until the reader's batch is used up while Recv-Q falls; the
    /// forward-alloc grows by pages and keeps one page once all is read.
    @Test func receiveMemoryAccounting() throws {
        let (stack, a, _) = try toolHosts()
        defer { withExtendedLifetime(stack) {} }
        let rx = a.udpSocket(); try rx.bind(nil, port: 6000)
        let tx = a.udpSocket(); try tx.connect(.v4(IPv4Address(127, 0, 0, 1)), port: 6000)
        let sizes = [100, 10, 1000, 3000].map { $0 + 768 }
        for n in [100, 10, 1000, 3000] { try tx.send(Array(repeating: 1, count: n)) }
        a.stack.poll(now: .zero)
        let total = sizes.reduce(0, +)
        // Pages are taken only when the forward-alloc runs short:
        // 868 → 1 page, 778 and 1768 fit, 3768 needs one more.
        #expect(rx.memoryInfo.rmemAlloc == total && rx.memoryInfo.fwdAlloc == 2 * 4096 - total)
        var read = 0
        for (i, size) in sizes.enumerated() {
            _ = try rx.receive()
            read += size
            let last = i == sizes.count - 1
            #expect(rx.receiveQueueBytes == total - read)
            #expect(rx.memoryInfo.rmemAlloc == (last ? 0 : total), "after \(i + 1) reads")
        }
        #expect(rx.memoryInfo.fwdAlloc == 4096)
        // A datagram now fits in what is reserved.
        try tx.send(Array(repeating: 2, count: 10))
        a.stack.poll(now: .zero)
        #expect(rx.memoryInfo.rmemAlloc == 778 && rx.memoryInfo.fwdAlloc == 4096 - 778)
        _ = try rx.receive()
        // A small receive buffer: drops are counted on the socket.
        rx.receiveBufferSize = 2304
        for _ in 0..<10 { try tx.send(Array(repeating: 3, count: 10)) }
        a.stack.poll(now: .zero)
        #expect(rx.memoryInfo.rmemAlloc == 2 * 778 && rx.memoryInfo.drops == 8 && rx.memoryInfo.rcvbuf == 2304)
        #expect(SocketStatistics.run(["ss", "-u", "-a", "-n", "-m", "-H", "sport", ":6000"], namespace: a).stdout
                .contains("skmem:(r1556,rb2304,t0,tb212992,f2540,w0,o0,bl0,d8)"))
    }
}

@Suite struct ToolsSysctlTests {
    @Test func defaultsAreAFreshLinuxNamespace() throws {
        let (stack, a, _) = try toolHosts()
        defer { withExtendedLifetime(stack) {} }
        let t = SysctlTable()
        let r = t.run(["sysctl", "net.ipv4.ip_forward", "net.ipv4.ip_local_port_range", "net.ipv4.ping_group_range",
                       "net.ipv4.icmp_echo_ignore_broadcasts", "net.ipv4.icmp_ratemask", "net.ipv4.ipfrag_high_thresh",
                       "net.core.somaxconn", "net.core.rmem_default"], namespace: a)
        #expect(r.stdout == """
            net.ipv4.ip_forward = 0
            net.ipv4.ip_local_port_range = 32768\t60999
            net.ipv4.ping_group_range = 1\t0
            net.ipv4.icmp_echo_ignore_broadcasts = 1
            net.ipv4.icmp_ratemask = 6168
            net.ipv4.ipfrag_high_thresh = 4194304
            net.core.somaxconn = 4096
            net.core.rmem_default = 212992

            """)
        #expect(t.run(["sysctl", "-n", "net.ipv4.ip_local_port_range"], namespace: a).stdout == "32768\t60999\n")
        // The whole net.ipv4.conf.all directory, as `sysctl net.ipv4.conf.all` lists it on Linux.
        let all = t.run(["sysctl", "net.ipv4.conf.all"], namespace: a).stdout
        #expect(all == """
            net.ipv4.conf.all.accept_local = 0
            net.ipv4.conf.all.accept_redirects = 1
            net.ipv4.conf.all.accept_source_route = 0
            net.ipv4.conf.all.arp_accept = 0
            net.ipv4.conf.all.arp_announce = 0
            net.ipv4.conf.all.arp_evict_nocarrier = 1
            net.ipv4.conf.all.arp_filter = 0
            net.ipv4.conf.all.arp_ignore = 0
            net.ipv4.conf.all.arp_notify = 0
            net.ipv4.conf.all.bc_forwarding = 0
            net.ipv4.conf.all.bootp_relay = 0
            net.ipv4.conf.all.disable_policy = 0
            net.ipv4.conf.all.disable_xfrm = 0
            net.ipv4.conf.all.drop_gratuitous_arp = 0
            net.ipv4.conf.all.drop_unicast_in_l2_multicast = 0
            net.ipv4.conf.all.force_igmp_version = 0
            net.ipv4.conf.all.forwarding = 0
            net.ipv4.conf.all.igmpv2_unsolicited_report_interval = 10000
            net.ipv4.conf.all.igmpv3_unsolicited_report_interval = 1000
            net.ipv4.conf.all.ignore_routes_with_linkdown = 0
            net.ipv4.conf.all.log_martians = 0
            net.ipv4.conf.all.mc_forwarding = 0
            net.ipv4.conf.all.medium_id = 0
            net.ipv4.conf.all.promote_secondaries = 0
            net.ipv4.conf.all.proxy_arp = 0
            net.ipv4.conf.all.proxy_arp_pvlan = 0
            net.ipv4.conf.all.route_localnet = 0
            net.ipv4.conf.all.rp_filter = 0
            net.ipv4.conf.all.secure_redirects = 1
            net.ipv4.conf.all.send_redirects = 1
            net.ipv4.conf.all.shared_media = 1
            net.ipv4.conf.all.src_valid_mark = 0
            net.ipv4.conf.all.tag = 0

            """)
        // netdev_max_backlog lives in init_net only.
        #expect(t.run(["sysctl", "net.core.netdev_max_backlog"], namespace: a).stderr
                == "sysctl: cannot stat /proc/sys/net/core/netdev_max_backlog: No such file or directory\n")
        #expect(t.run(["sysctl", "-n", "net.core.netdev_max_backlog"], namespace: a.stack.initial).stdout == "1000\n")
        // net.core.busy_poll: init_net only, and it is the host loop's spin time.
        #expect(t.run(["sysctl", "net.core.busy_poll"], namespace: a).stderr
                == "sysctl: cannot stat /proc/sys/net/core/busy_poll: No such file or directory\n")
        #expect(t.run(["sysctl", "-w", "net.core.busy_poll=50"], namespace: a.stack.initial).stdout == "net.core.busy_poll = 50\n")
        #expect(a.stack.busyPollMicroseconds == 50)
    }

    @Test func writesRoundTripAndPropagateAsLinux() throws {
        let (stack, a, _) = try toolHosts()
        defer { withExtendedLifetime(stack) {} }
        let t = SysctlTable()
        #expect(t.run(["sysctl", "-w", "net.ipv4.ip_forward=1"], namespace: a) == CommandResult(stdout: "net.ipv4.ip_forward = 1\n"))
        #expect(a.ipv4All.forwarding == 1 && a.ipv4Default.forwarding == 1)
        #expect(a.devices.allSatisfy { $0.ipv4.forwarding == 1 })
        #expect(t.run(["sysctl", "net.ipv4.conf.all.accept_redirects", "net.ipv4.conf.default.accept_redirects", "net.ipv4.conf.v0.forwarding"],
                      namespace: a).stdout == "net.ipv4.conf.all.accept_redirects = 0\nnet.ipv4.conf.default.accept_redirects = 1\nnet.ipv4.conf.v0.forwarding = 1\n")
        // Without -w, slashes, blanks around '=', -n, -q, hex.
        #expect(t.run(["sysctl", "net/ipv4/ip_default_ttl=100"], namespace: a).stdout == "net.ipv4.ip_default_ttl = 100\n")
        #expect(a.config.ipDefaultTTL == 100)
        #expect(t.run(["sysctl", "-w", "net.ipv4.ip_default_ttl = 65"], namespace: a).stdout == "net.ipv4.ip_default_ttl = 65\n")
        #expect(t.run(["sysctl", "-n", "-w", "net.ipv4.ip_default_ttl=64"], namespace: a).stdout == "64\n")
        #expect(t.run(["sysctl", "-q", "-w", "net.ipv4.ip_default_ttl=64"], namespace: a) == CommandResult())
        #expect(t.run(["sysctl", "-w", "net.ipv4.ip_forward=0x1"], namespace: a).stdout == "net.ipv4.ip_forward = 0x1\n")
        #expect(t.run(["sysctl", "-w", "net.ipv4.ip_local_port_range=40000   50000"], namespace: a).stdout
                == "net.ipv4.ip_local_port_range = 40000   50000\n")
        #expect(a.config.localPortRange == 40000...50000)
        #expect(t.run(["sysctl", "net.ipv4.ip_local_port_range"], namespace: a).stdout == "net.ipv4.ip_local_port_range = 40000\t50000\n")
        // A reversed ping_group_range means nobody: "1 0".
        _ = t.run(["sysctl", "-w", "net.ipv4.ping_group_range=5 2"], namespace: a)
        #expect(t.run(["sysctl", "-n", "net.ipv4.ping_group_range"], namespace: a).stdout == "1\t0\n")
        // Extras round-trip; IPv6 all.forwarding reaches every device.
        _ = t.run(["sysctl", "-w", "net.core.somaxconn=128", "net.ipv6.conf.all.forwarding=1"], namespace: a)
        #expect(t.read("net.core.somaxconn", in: a) == "128")
        #expect(a.devices.allSatisfy { $0.ipv6.forwarding == 1 } && a.ipv6Default.forwarding == 1)
        #expect(t.names(in: a).first == "net.core.rmem_default")
        // -a leaves out the deprecated neigh files (base_reachable_time, retrans_time) that --deprecated lists.
        #expect(t.run(["sysctl", "-a", "--deprecated"], namespace: a).stdout.split(separator: "\n").count == t.names(in: a).count)
        let listed = t.run(["sysctl", "-a"], namespace: a).stdout
        #expect(!listed.contains(".retrans_time =") && listed.contains(".retrans_time_ms ="))
    }

    @Test func errorsAsProcpsWordsThem() throws {
        let (stack, a, _) = try toolHosts()
        defer { withExtendedLifetime(stack) {} }
        let t = SysctlTable()
        func check(_ argv: [String], _ stderr: String, _ status: Int32 = 1) {
            let r = t.run(["sysctl"] + argv, namespace: a)
            #expect(r.stderr == stderr, "\(argv)")
            #expect(r.status == status, "\(argv)")
        }
        check(["net.ipv4.nope"], "sysctl: cannot stat /proc/sys/net/ipv4/nope: No such file or directory\n")
        check(["-q", "net.ipv4.nope"], "sysctl: cannot stat /proc/sys/net/ipv4/nope: No such file or directory\n")
        check(["-e", "net.ipv4.nope"], "", 0)
        check(["-w", "net.ipv4.nope=1"], "sysctl: cannot stat /proc/sys/net/ipv4/nope: No such file or directory\n")
        check(["-w", "net.ipv4.ip_forward=abc"], "sysctl: setting key \"net.ipv4.ip_forward\": Invalid argument\n")
        check(["-w", "net.ipv4.ip_forward="], "sysctl: setting key \"net.ipv4.ip_forward\": Invalid argument\n")
        check(["-w", "net.ipv4.ip_default_ttl=0"], "sysctl: setting key \"net.ipv4.ip_default_ttl\": Invalid argument\n")
        check(["-w", "net.ipv4.ip_default_ttl=256"], "sysctl: setting key \"net.ipv4.ip_default_ttl\": Invalid argument\n")
        check(["-w", "net.ipv4.ip_local_port_range=2000 1000"], "sysctl: setting key \"net.ipv4.ip_local_port_range\": Invalid argument\n")
        check(["-w", "net.ipv4.ip_local_port_range=1000 2000"], "sysctl: setting key \"net.ipv4.ip_local_port_range\": Invalid argument\n")
        check(["-w", "net.ipv4.icmp_echo_ignore_all=2"], "sysctl: setting key \"net.ipv4.icmp_echo_ignore_all\": Invalid argument\n")
        check(["-w", "net.ipv4.fib_multipath_hash_policy=4"], "sysctl: setting key \"net.ipv4.fib_multipath_hash_policy\": Invalid argument\n")
        check(["-w", "net.ipv6.conf.all.hop_limit=0"], "sysctl: setting key \"net.ipv6.conf.all.hop_limit\": Invalid argument\n")
        check(["-w", "net.ipv6.conf.v0.mtu=1600"], "sysctl: setting key \"net.ipv6.conf.v0.mtu\": Invalid argument\n")
        check(["-w", "net.core.rmem_max=100"], "sysctl: setting key \"net.core.rmem_max\": Invalid argument\n")
        check(["-w", "net.ipv4.ip_forward"], "sysctl: command line(0): invalid syntax, continuing...\n")
        check(["-n"], "sysctl: no variables specified\nTry `sysctl --help' for more information.\n")
        // Any int is a valid ip_forward (proc_dointvec), as on Linux.
        check(["-w", "net.ipv4.ip_forward=-1"], "", 0)
        #expect(t.read("net.ipv4.ip_forward", in: a) == "-1")
        #expect(a.config.ipDefaultTTL == 64)
    }
}
