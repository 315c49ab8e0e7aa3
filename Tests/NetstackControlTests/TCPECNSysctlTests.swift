// net.ipv4.tcp_ecn, tcp_ecn_fallback, tcp_tw_reuse, tcp_tw_reuse_delay:
// defaults, ranges (as Linux 6.18 takes them) and where they land.
import Testing
@testable import Netstack
@testable import NetstackControl

@Suite struct TCPECNSysctlTests {
    @Test func ecnAndTimeWaitReuseKeys() throws {
        let (stack, a, _) = try toolHosts()
        defer { withExtendedLifetime(stack) {} }
        let t = SysctlTable()
        #expect(t.run(["sysctl", "net.ipv4.tcp_ecn", "net.ipv4.tcp_ecn_fallback", "net.ipv4.tcp_tw_reuse",
                       "net.ipv4.tcp_tw_reuse_delay"], namespace: a).stdout
                == "net.ipv4.tcp_ecn = 2\nnet.ipv4.tcp_ecn_fallback = 1\nnet.ipv4.tcp_tw_reuse = 2\nnet.ipv4.tcp_tw_reuse_delay = 1000\n")
        _ = t.run(["sysctl", "-w", "net.ipv4.tcp_ecn=1", "net.ipv4.tcp_ecn_fallback=0", "net.ipv4.tcp_tw_reuse=1",
                   "net.ipv4.tcp_tw_reuse_delay=2500"], namespace: a)
        #expect(a.tcp.configuration.ecn == 1)
        #expect(!a.tcp.configuration.ecnFallback)
        #expect(a.tcp.twReuse == 1)
        #expect(a.tcp.twReuseDelay == .milliseconds(2500))
        // A new socket starts from the namespace's values.
        #expect(a.tcpSocket().configuration.ecn == 1)
        for bad in ["net.ipv4.tcp_ecn=3", "net.ipv4.tcp_ecn_fallback=2", "net.ipv4.tcp_tw_reuse=3",
                    "net.ipv4.tcp_tw_reuse_delay=0", "net.ipv4.tcp_tw_reuse_delay=60001"] {
            let r = t.run(["sysctl", "-w", bad], namespace: a)
            #expect(r.status != 0, "\(bad)")
        }
        #expect(a.tcp.configuration.ecn == 1 && a.tcp.twReuse == 1 && a.tcp.twReuseDelay == .milliseconds(2500))
    }
}
