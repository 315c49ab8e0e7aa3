// `serve` (the lab's inetd services) and the TCP sysctls, through lab
// scripts run in-process: what a client sees, and what a sysctl changes
// for the sockets made after it.
import Foundation
import Netstack
import NetstackControl
import Testing

@Suite("serve and TCP sysctls")
struct ServeTests {
    /// Two namespaces on a veth pair: a 10.0.0.1, b 10.0.0.2 (and fd00::1/2).
    static func run(_ body: String) -> (status: Int32, stdout: String, stderr: String, world: StackLabWorld) {
        LabHosts.run(body, seed: 11, ipv6: true)
    }

    @Test func echoOverTCPAndUDP() {
        let r = Self.run("""
            ip netns exec b serve echo &
            ip netns exec b serve --udp echo &
            sleep 1
            echo hello | ip netns exec a nc -N 10.0.0.2 7
            echo "tcp: $?"
            echo v6 | ip netns exec a nc -N fd00::2 7
            printf 'one datagram' | ip netns exec a nc -u -w 1 10.0.0.2 7
            echo
            echo "udp: $?"
            sleep 1
            ip netns exec b ss -t -a -n state established
            """)
        #expect(r.stderr == "")
        #expect(r.stdout.hasPrefix("hello\ntcp: 0\nv6\none datagram\nudp: 0\n"))
        // Each echo connection was closed once the client had closed its side.
        #expect(!r.stdout.contains("10.0.0.2:7"))
    }

    @Test func manyClientsAtOnce() {
        let r = Self.run("""
            ip netns exec b serve echo 7007 &
            sleep 1
            echo one | ip netns exec a nc -q 1 10.0.0.2 7007 &
            echo two | ip netns exec a nc -q 1 10.0.0.2 7007 &
            echo three | ip netns exec a nc -q 1 10.0.0.2 7007 &
            sleep 0.5
            ip netns exec b ss -t -n state established
            wait %2 %3 %4
            """)
        #expect(r.stderr == "")
        let served = r.stdout.split(separator: "\n").filter { $0.contains("10.0.0.2:7007") }
        #expect(served.count == 3, "three connections served at once")
        for w in ["one\n", "two\n", "three\n"] { #expect(r.stdout.contains(w)) }
    }

    @Test func discardReadsAndCloses() {
        let r = Self.run("""
            ip netns exec b serve discard &
            sleep 1
            seq 1 1000 | ip netns exec a nc -N 10.0.0.2 9
            echo "status $?"
            """)
        #expect(r.stdout == "status 0\n")
    }

    @Test func chargenSendsTheRFC864Pattern() {
        // A slow path keeps the stream to a few windows in the client's second.
        let r = Self.run("""
            ip netns exec b tc qdisc add dev e0 root netem delay 100ms
            ip netns exec b serve chargen &
            sleep 1
            ip netns exec a nc -q 1 10.0.0.2 19
            """)
        let lines = r.stdout.split(separator: "\r\n", omittingEmptySubsequences: false)
        #expect(lines.count > 96, "more than one period of the pattern")
        #expect(lines.first == ##" !"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefg"##)
        #expect(lines.dropFirst().first == ##"!"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefgh"##)
        // Line 95 starts the period again.
        if lines.count > 96 { #expect(lines[95] == lines[0]) }
        for l in lines.dropLast().prefix(300) { #expect(l.utf8.count == 72) }
    }

    @Test func chargenOverUDPAnswersEachDatagram() {
        let r = Self.run("""
            ip netns exec b serve --udp chargen &
            sleep 1
            echo x | ip netns exec a nc -u -w 1 10.0.0.2 19
            """)
        #expect(r.stdout.hasPrefix(##" !"#$%&'()*+,-./0123456789"##))
        #expect(r.stdout.utf8.count == 6 * 74)
    }

    @Test func httpAnswersGet() {
        let r = Self.run("""
            ip netns exec b serve http &
            sleep 1
            printf 'GET / HTTP/1.0\\r\\n\\r\\n' | ip netns exec a nc 10.0.0.2 80
            echo "status $?"
            printf 'GET /a HTTP/1.1\\r\\nHost: b\\r\\n\\r\\nGET /b HTTP/1.1\\r\\nHost: b\\r\\nConnection: close\\r\\n\\r\\n' | ip netns exec a nc 10.0.0.2 80
            echo "status $?"
            printf 'POST / HTTP/1.0\\r\\n\\r\\n' | ip netns exec a nc 10.0.0.2 80
            """)
        #expect(r.stderr == "")
        #expect(r.stdout.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(r.stdout.contains("Content-Length: 20\r\n"))
        #expect(r.stdout.contains("\r\n\r\nHello from netstack\nstatus 0\n"))
        let parts = r.stdout.components(separatedBy: "status 0\n")
        #expect(parts.count == 3)
        // Keep-alive: two answers on one connection, closed after the second
        // (nc exits once the server has closed).
        if parts.count == 3 {
            #expect(parts[1].components(separatedBy: "HTTP/1.1 200 OK\r\n").count == 3)
            #expect(!parts[1].hasPrefix("HTTP/1.1 200 OK\r\nServer: netstack\r\nContent-Type: text/plain\r\nContent-Length: 20\r\nConnection: close"))
            #expect(parts[2].hasPrefix("HTTP/1.1 501 Not Implemented\r\n"))
        }
    }

    @Test func usageAndErrors() {
        let r = Self.run("""
            serve
            echo "status $?"
            serve gopher
            echo "status $?"
            serve --udp http
            echo "status $?"
            ip netns exec b serve echo 9100 &
            sleep 1
            ip netns exec b serve echo 9100
            echo "status $?"
            """)
        #expect(r.stderr.contains("usage: serve [--udp] [--nodelay] [--gso SIZE] echo|discard|chargen|http|crr [PORT]"))
        #expect(r.stderr.contains("not a Linux command"))
        #expect(r.stderr.contains("serve: unknown service 'gopher'"))
        #expect(r.stderr.contains("serve: http is a TCP service"))
        #expect(r.stderr.contains("serve: tcp port 9100: Address already in use"))
        #expect(r.stdout == "status 2\nstatus 2\nstatus 2\nstatus 1\n")
    }

    @Test func crrAnswersOneByteAndClosesFirst() {
        // The client sends one byte and never half-closes: it only gets its
        // end of stream because the server closes first, which also leaves
        // the server's side in TIME-WAIT and not the client's (the peers
        // harness's crr contract).
        let r = Self.run("""
            ip netns exec b serve --nodelay crr &
            sleep 1
            printf q | ip netns exec a nc 10.0.0.2 5004
            echo " status $?"
            sleep 0.1
            echo "server:"
            ip netns exec b ss -t -a -n -H state time-wait
            echo "client:"
            ip netns exec a ss -t -a -n -H state time-wait
            printf r | ip netns exec a nc 10.0.0.2 5004
            echo " status $?"
            serve --udp crr
            echo "status $?"
            """)
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == "q status 0")
        #expect(lines.dropFirst().first == "server:")
        #expect(lines.count > 3 && lines[2].contains("10.0.0.2:5004") && lines[3] == "client:",
                "the server's side alone is in TIME-WAIT: \(r.stdout)")
        #expect(r.stdout.hasSuffix("client:\nr status 0\nstatus 2\n"))
        #expect(r.stderr.contains("serve: crr is a TCP service"))
    }

    @Test func nodelayAndPortsParse() {
        let world = StackLabWorld(seed: 1)
        let ns = world.stack.initial
        let p = ServeProcess(argv: ["serve", "--nodelay", "crr"], namespace: ns)
        #expect(p.noDelay && p.service == .crr && p.port == 5004)
        let q = ServeProcess(argv: ["serve", "discard", "5001"], namespace: ns)
        #expect(!q.noDelay && q.service == .discard && q.port == 5001)
    }

    @Test func gsoSetsUDPSegmentOnTheUDPSockets() {
        let world = StackLabWorld(seed: 1)
        let ns = world.stack.initial
        let p = ServeProcess(argv: ["serve", "--udp", "--gso", "1400", "echo", "8"], namespace: ns)
        #expect(p.udp && p.segmentSize == 1400 && p.service == .echo && p.port == 8)
        let r = Self.run("""
            serve --gso 1400 echo
            echo "status $?"
            serve --udp --gso 0 echo
            echo "status $?"
            serve --udp echo --gso
            echo "status $?"
            """)
        #expect(r.stderr.contains("serve: --gso needs --udp"))
        #expect(r.stderr.contains("serve: invalid segment size '0'"))
        #expect(r.stderr.contains("serve: option '--gso' requires an argument"))
        #expect(r.stdout == "status 2\nstatus 2\nstatus 2\n")
    }

    // MARK: sysctls

    @Test func sysctlsShapeNewSockets() throws {
        let r = Self.run("""
            ip netns exec b sysctl -qw net.core.somaxconn=4
            ip netns exec b sysctl -qw net.ipv4.tcp_congestion_control=reno
            ip netns exec b sysctl -qw net.ipv4.tcp_syncookies=0
            ip netns exec b sysctl -qw net.ipv4.tcp_sack=0 net.ipv4.tcp_window_scaling=0
            ip netns exec b sysctl -qw net.ipv4.tcp_rmem="4096 65536 1048576" net.ipv4.tcp_syn_retries=2
            ip netns exec b sysctl -qw net.ipv4.tcp_keepalive_time=600 net.ipv4.tcp_fin_timeout=30
            ip netns exec b serve echo &
            sleep 1
            ip netns exec b ss -t -l -n sport = :7
            ip netns exec a sysctl -qw net.ipv4.ip_local_port_range="40000 40000"
            ip netns exec a nc 10.0.0.2 7 &
            sleep 1
            ip netns exec a ss -t -n
            """)
        #expect(r.stderr == "")
        // listen(128) is capped by somaxconn.
        #expect(r.stdout.contains("LISTEN 0      4            0.0.0.0:7"))
        // The only ephemeral port left is the one taken.
        #expect(r.stdout.contains("10.0.0.1:40000"))
        let b = try #require(r.world.stack.namespace(named: "b"))
        #expect(b.tcp.syncookies == 0)
        #expect(b.tcp.somaxconn == 4)
        let c = b.tcpSocket().configuration
        #expect(c.congestionControl == .reno)
        #expect(!c.sack && !c.windowScaling && c.timestamps)
        #expect(c.receiveBufferInitial == 65536 && c.receiveBufferMax == 1_048_576)
        #expect(c.synRetries == 2)
        #expect(c.keepaliveTime == .seconds(600) && c.finTimeout == .seconds(30))
        // The other namespace keeps the defaults.
        let a = try #require(r.world.stack.namespace(named: "a"))
        #expect(a.tcpSocket().configuration.congestionControl == .cubic)
    }

    @Test func synBurstWithoutCookiesIsDropped() throws {
        // somaxconn 1 and no cookies: the SYN queue holds one request; with
        // cookies (the default) the other clients still connect.
        func connected(_ cookies: Int) -> Int {
            let r = Self.run("""
                ip netns exec b sysctl -qw net.core.somaxconn=1 net.ipv4.tcp_syncookies=\(cookies)
                ip netns exec a tc qdisc add dev e0 root netem delay 50ms
                ip netns exec b serve discard &
                ip netns exec a nc -w 1 10.0.0.2 9 &
                ip netns exec a nc -w 1 10.0.0.2 9 &
                ip netns exec a nc -w 1 10.0.0.2 9 &
                ip netns exec a nc -w 1 10.0.0.2 9 &
                sleep 0.3
                ip netns exec a ss -t -n state established
                """)
            return r.stdout.split(separator: "\n").filter { $0.contains("10.0.0.2:9") }.count
        }
        let withCookies = connected(1), without = connected(0)
        #expect(withCookies == 4)
        #expect(without < withCookies)
    }
}
