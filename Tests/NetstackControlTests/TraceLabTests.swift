// `netstack lab --trace`: Examples/02-router.sh run in-process with an
// `icmp` filter; the trace of a forwarded echo request and of packets to an
// unrouted address must be the kernel's sequence of decisions.
import Foundation
import Netstack
import NetstackControl
import Testing

@Suite struct TraceLabTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// 02-router.sh, then a ping through the router to an address it has no
    /// route for.
    static func script() throws -> String {
        try String(contentsOf: root.appendingPathComponent("Examples/02-router.sh"), encoding: .utf8)
            + "ip netns exec a ping -c 1 -W 1 10.9.9.9 || true\n"
    }

    static func run(_ script: String, trace: String?) throws -> (stdout: String, stderr: String, status: Int32) {
        let capture = LabCapture()
        let world = StackLabWorld(seed: 3)
        if let trace { world.startTracing(try TraceFilter.parse(trace), sink: capture) }
        let status = LabInterpreter(world: world, sink: capture).run(source: script)
        world.flushObservers()
        return (capture.stdout, capture.stderr, status)
    }

    /// Trace lines as (id, namespace, text), without the timestamp.
    static func records(_ stderr: String) -> [(id: Int, ns: String, text: String)] {
        stderr.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("["), let close = line.firstIndex(of: "]") else { return nil }
            let rest = line[line.index(close, offsetBy: 2)...]
            guard rest.hasPrefix("#"), let space = rest.firstIndex(of: " "), let id = Int(rest[rest.index(after: rest.startIndex)..<space]),
                  rest[space...].hasPrefix(" ns "), let colon = rest.range(of: ": ") else { return nil }
            let ns = String(rest[rest.index(space, offsetBy: 4)..<colon.lowerBound])
            return (id, ns, String(rest[colon.upperBound...]))
        }
    }

    /// The texts of trace `id` in namespace `ns`, echo ids replaced by `N`.
    static func texts(_ all: [(id: Int, ns: String, text: String)], id: Int, ns: String) -> [String] {
        all.filter { $0.id == id && $0.ns == ns }.map {
            $0.text.replacingOccurrences(of: #"id [0-9]+,"#, with: "id N,", options: .regularExpression)
        }
    }

    @Test func forwardedEchoAndUnroutedDestination() throws {
        let script = try Self.script()
        let traced = try Self.run(script, trace: "icmp")
        let plain = try Self.run(script, trace: nil)
        // Tracing changes nothing a script prints on stdout, nor its status.
        #expect(traced.stdout == plain.stdout)
        #expect(traced.status == plain.status)
        #expect(traced.stdout.contains("2 packets transmitted, 2 received"))

        let all = Self.records(traced.stderr)
        // The first echo request the router forwards (after ip_forward=1).
        let forwarded = all.first { $0.ns == "r" && $0.text == "ip_forward ttl 63" }
        let id = try #require(forwarded).id
        #expect(Self.texts(all, id: id, ns: "r") == [
            "netif_receive_skb eth0 len 98 IP 10.1.0.2 > 10.2.0.2: ICMP echo request, id N, seq 1, length 64",
            "NF_INET_PRE_ROUTING accept",
            "fib_lookup rule 32766 table main: 10.2.0.0/24 unicast dev eth1 scope link",
            "ip_forward ttl 63",
            "NF_INET_FORWARD accept",
            "NF_INET_POST_ROUTING accept",
            "neigh_resolve_output 10.2.0.2 dev eth1 NUD_INCOMPLETE (queued)",
            "dev_queue_xmit eth1 qdisc noqueue",
            "veth_xmit eth1",
        ])
        // The same id from the sender's socket to the receiver's delivery.
        #expect(Self.texts(all, id: id, ns: "a") == [
            "ping_v4_sendmsg len 64 daddr 10.2.0.2",
            "fib_lookup rule 32766 table main: default unicast via 10.1.0.1 dev eth0 scope global",
            "ip_local_out len 84 IP 10.1.0.2 > 10.2.0.2: ICMP echo request, id N, seq 1, length 64",
            "NF_INET_LOCAL_OUT accept",
            "NF_INET_POST_ROUTING accept",
            "neigh_resolve_output 10.1.0.1 dev eth0 NUD_REACHABLE",
            "dev_queue_xmit eth0 qdisc noqueue",
            "veth_xmit eth0",
        ])
        #expect(Self.texts(all, id: id, ns: "b") == [
            "netif_receive_skb eth0 len 98 IP 10.1.0.2 > 10.2.0.2: ICMP echo request, id N, seq 1, length 64",
            "NF_INET_PRE_ROUTING accept",
            // local and main are one trie until a rule is written: table main.
            "fib_lookup rule 32766 table main: 10.2.0.2/32 local dev lo scope host",
            "NF_INET_LOCAL_IN accept",
            "ip_local_deliver proto icmp",
        ])

        // Before forwarding is on, the router drops what is not for it.
        let first = try #require(all.first { $0.ns == "r" }).id
        #expect(Self.texts(all, id: first, ns: "r").suffix(2) == [
            "fib_lookup failed: EHOSTUNREACH", "kfree_skb reason IP_INADDRERRORS",
        ])

        // A destination the router has no route for: net unreachable back to
        // the sender (the error keeps the id of its cause), then the drop.
        let unrouted = try #require(all.first { $0.ns == "r" && $0.text.contains("> 10.9.9.9: ICMP echo request") }).id
        let r = Self.texts(all, id: unrouted, ns: "r")
        #expect(r.prefix(4) == [
            "netif_receive_skb eth0 len 98 IP 10.1.0.2 > 10.9.9.9: ICMP echo request, id N, seq 1, length 64",
            "NF_INET_PRE_ROUTING accept",
            "fib_lookup failed: ENETUNREACH",
            "icmp_send ICMP_DEST_UNREACH ICMP_NET_UNREACH",
        ])
        #expect(r.contains("ip_local_out len 112 IP 10.1.0.1 > 10.1.0.2: ICMP net 10.9.9.9 unreachable, length 92"))
        #expect(r.last == "kfree_skb reason IP_INNOROUTES")
        #expect(Self.texts(all, id: unrouted, ns: "a").last == "ip_local_deliver proto icmp")

    }

    @Test func deterministicAndTimestamped() throws {
        let script = try Self.script()
        let one = try Self.run(script, trace: "icmp or arp")
        let two = try Self.run(script, trace: "icmp or arp")
        #expect(one.stderr == two.stderr)
        #expect(one.stderr.contains("arp_xmit len 42 ARP, Request who-has 10.1.0.1 tell 10.1.0.2, length 28"))
        // Virtual time, dmesg style: the second ping of the pair is sent at 1.2 s.
        #expect(one.stderr.contains("[    1.200000] #"))
        #expect(TraceRenderer.timestamp(Instant(nanoseconds: 12_345_678_901_234)) == "[12345.678901]")
    }

    @Test func filterSelectsPackets() throws {
        let script = try Self.script()
        let arp = Self.records(try Self.run(script, trace: "arp").stderr)
        #expect(!arp.isEmpty)
        #expect(!arp.contains { $0.text.contains("ICMP") })
        let none = try Self.run(script, trace: "udp")
        #expect(Self.records(none.stderr).isEmpty)
    }

    /// A netem root qdisc: the packet is queued and released 10 ms later;
    /// a filter on the source address matches at ip_local_out, which then
    /// records the output route the packet took.
    @Test func qdiscAndLateMatch() throws {
        let script = """
        ip netns add x
        ip netns add y
        ip -n x link add eth0 type veth peer name eth0 netns y
        ip -n x addr add 10.0.0.1/24 dev eth0
        ip -n y addr add 10.0.0.2/24 dev eth0
        ip -n x link set eth0 up
        ip -n y link set eth0 up
        ip netns exec x ping -c 1 10.0.0.2
        ip netns exec x tc qdisc add dev eth0 root netem delay 10ms
        ip netns exec x ping -c 1 10.0.0.2

        """
        let out = try Self.run(script, trace: "icmp and src host 10.0.0.1")
        #expect(out.status == 0)
        let all = Self.records(out.stderr)
        #expect(Set(all.map(\.id)) == [1, 2])
        #expect(Self.texts(all, id: 2, ns: "x") == [
            "fib_lookup rule 32766 table main: 10.0.0.0/24 unicast dev eth0 scope link",
            "ip_local_out len 84 IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id N, seq 1, length 64",
            "NF_INET_LOCAL_OUT accept",
            "NF_INET_POST_ROUTING accept",
            "neigh_resolve_output 10.0.0.2 dev eth0 NUD_REACHABLE",
            "dev_queue_xmit eth0 qdisc netem",
            "qdisc_enqueue eth0 netem",
            "qdisc_dequeue eth0 netem",
            "veth_xmit eth0",
        ])
        let lines = out.stderr.split(separator: "\n").filter { $0.contains("#2 ns x: qdisc_") }
        #expect(lines.count == 2)
        // Dequeued 10 ms after it was queued.
        let times = lines.compactMap { Double($0.dropFirst().prefix { $0 != "]" }.trimmingCharacters(in: .whitespaces)) }
        #expect(times.count == 2 && abs(times[1] - times[0] - 0.010) < 1e-9)
    }
}

/// The IPv6 path is traced with the same decisions in its own words:
/// ip6_forward with the hop limit, and icmp6_send names from icmpv6.h.
@Suite struct TraceLabIPv6Tests {
    @Test func forwardedEchoAndHopLimitExceeded() throws {
        let script = try String(contentsOf: TraceLabTests.root.appendingPathComponent("Tests/Fixtures/lab/ipv6-router.sh"),
                                encoding: .utf8)
        let traced = try TraceLabTests.run(script, trace: "icmp6 and host 2001:db8:2::2")
        let plain = try TraceLabTests.run(script, trace: nil)
        #expect(traced.stdout == plain.stdout)
        let all = TraceLabTests.records(traced.stderr)
        let forwarded = try #require(all.first { $0.ns == "r" && $0.text == "ip6_forward hlim 63" })
        let hops = TraceLabTests.texts(all, id: forwarded.id, ns: "r")
        #expect(hops.contains("NF_INET_FORWARD accept"))
        #expect(hops.contains { $0.hasPrefix("fib_lookup rule 32766 table main: 2001:db8:2::/64 unicast dev e1") })
        // `ping -t 1`: the router answers with time exceeded, keeping the id.
        let expired = try #require(all.first { $0.ns == "r" && $0.text == "ip6_forward hlim 1 expired" })
        #expect(TraceLabTests.texts(all, id: expired.id, ns: "r").contains("icmp6_send ICMPV6_TIME_EXCEED ICMPV6_EXC_HOPLIMIT"))
    }
}
