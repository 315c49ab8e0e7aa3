// `ip neigh` against strings captured from iproute2 6.1 on Linux 6.18
// (netns with veth0 = ifindex 2; see the commands in each test).
import Testing
import NetWire
import Netstack
@testable import NetstackControl

struct Devs: IPNeighDevices {
    func index(of name: String) -> Int32? { name == "veth0" ? 2 : (name == "lo" ? 1 : nil) }
    func name(of index: Int32) -> String? { index == 2 ? "veth0" : (index == 1 ? "lo" : nil) }
}

@Suite struct IPNeighTests {
    let v4 = NeighbourTable(family: .ipv4)
    let v6 = NeighbourTable(family: .ipv6)

    func ip(_ line: String, _ o: IPNeighOptions = IPNeighOptions(), now: Instant = .zero) -> CommandResult {
        var work = NeighbourWork()
        return IPNeigh.run(line.split(separator: " ").map(String.init), options: o, ipv4: v4, ipv6: v6,
                           devices: Devs(), now: now, into: &work)
    }

    func populate() {
        for line in [
            "add 10.0.0.4 dev veth0 lladdr 02:00:00:00:00:04 nud stale router",
            "add 10.0.0.3 dev veth0 lladdr 02:00:00:00:00:03 nud permanent",
            "add 10.0.0.2 dev veth0 lladdr 02:00:00:00:00:02 nud reachable",
            "add 10.0.0.5 dev veth0 nud failed",
            "add 10.0.0.6 dev veth0 lladdr 02:00:00:00:00:06 nud noarp",
            "add 10.0.0.9 dev veth0 nud none",
            "add 10.0.0.10 dev veth0 nud incomplete",
            "add 2001:db8::2 dev veth0 lladdr 02:00:00:00:00:12 router nud reachable",
        ] {
            let r = ip(line)
            #expect(r.status == 0, "\(line): \(r.stderr)")
        }
    }

    @Test func showText() {
        populate()
        #expect(ip("show").stdout == """
            10.0.0.2 dev veth0 lladdr 02:00:00:00:00:02 REACHABLE 
            10.0.0.3 dev veth0 lladdr 02:00:00:00:00:03 PERMANENT 
            10.0.0.4 dev veth0 lladdr 02:00:00:00:00:04 router STALE 
            10.0.0.5 dev veth0 FAILED 
            10.0.0.10 dev veth0 INCOMPLETE 
            2001:db8::2 dev veth0 lladdr 02:00:00:00:00:12 router REACHABLE 

            """)
        #expect(ip("show nud noarp").stdout == "10.0.0.6 dev veth0 lladdr 02:00:00:00:00:06 NOARP \n")
        #expect(ip("show nud none").stdout == "10.0.0.9 dev veth0 \n")
        #expect(ip("show nud stale", IPNeighOptions(family: .ipv4)).stdout
            == "10.0.0.4 dev veth0 lladdr 02:00:00:00:00:04 router STALE \n")
        #expect(ip("show to 10.0.0.0/30 dev veth0").stdout == """
            10.0.0.2 lladdr 02:00:00:00:00:02 REACHABLE 
            10.0.0.3 lladdr 02:00:00:00:00:03 PERMANENT 

            """)
        #expect(ip("", IPNeighOptions(family: .ipv6)).stdout
            == "2001:db8::2 dev veth0 lladdr 02:00:00:00:00:12 router REACHABLE \n")
    }

    @Test func showStats() {
        populate()
        // Captured 6 s after the adds: `ip -s neigh show dev veth0`.
        let out = ip("show dev veth0 nud stale nud reachable nud permanent nud failed", IPNeighOptions(stats: 1),
                     now: Instant(nanoseconds: 6_000_000_000)).stdout
        #expect(out == """
            10.0.0.2 lladdr 02:00:00:00:00:02  ref 1 used 6/6/6probes 0 REACHABLE 
            10.0.0.3 lladdr 02:00:00:00:00:03  used 6/6/6probes 0 PERMANENT 
            10.0.0.4 lladdr 02:00:00:00:00:04 router  used 6/66/6probes 0 STALE 
            10.0.0.5  used 6/66/6probes 0 FAILED 
            2001:db8::2 lladdr 02:00:00:00:00:12 router  ref 1 used 6/6/6probes 0 REACHABLE 

            """)
    }

    @Test func showJSON() {
        populate()
        #expect(ip("show 10.0.0.4", IPNeighOptions(json: true)).stdout
            == #"[{"dst":"10.0.0.4","dev":"veth0","lladdr":"02:00:00:00:00:04","router":null,"state":["STALE"]}]"# + "\n")
        #expect(ip("show 10.0.0.5", IPNeighOptions(json: true, stats: 1)).stdout
            == #"[{"dst":"10.0.0.5","dev":"veth0","used":0,"confirmed":60,"updated":0,"probes":0,"state":["FAILED"]}]"# + "\n")
        #expect(ip("show 10.0.0.3", IPNeighOptions(json: true, pretty: true)).stdout == """
            [ {
                    "dst": "10.0.0.3",
                    "dev": "veth0",
                    "lladdr": "02:00:00:00:00:03",
                    "state": [ "PERMANENT" ]
                } ]

            """)
        #expect(ip("show dev veth0 nud delay", IPNeighOptions(json: true)).stdout == "[]\n")
    }

    @Test func proxyAndExternLearn() {
        #expect(ip("add proxy 10.0.0.12 dev veth0").status == 0)
        #expect(ip("show proxy").stdout == "10.0.0.12 dev veth0 proxy \n")
        #expect(ip("add 10.0.0.61 dev veth0 lladdr 02:00:00:00:00:02 extern_learn").status == 0)
        #expect(ip("show 10.0.0.61").stdout == "10.0.0.61 dev veth0 lladdr 02:00:00:00:00:02 extern_learn PERMANENT \n")
        #expect(ip("show 10.0.0.61", IPNeighOptions(json: true)).stdout
            == #"[{"dst":"10.0.0.61","dev":"veth0","lladdr":"02:00:00:00:00:02","extern_learn":null,"state":["PERMANENT"]}]"# + "\n")
    }

    @Test func errorsAsIproute2() {
        populate()
        let cases: [(String, IPNeighOptions, String, Int32)] = [
            ("add 10.0.0.2 dev veth0 lladdr 02:00:00:00:00:02", .init(), "RTNETLINK answers: File exists\n", 2),
            ("del 10.0.0.99 dev veth0", .init(), "RTNETLINK answers: No such file or directory\n", 2),
            ("change 10.0.0.99 dev veth0 lladdr 02:00:00:00:00:02", .init(), "RTNETLINK answers: No such file or directory\n", 2),
            ("add 10.0.0.50 dev nosuch", .init(), "Cannot find device \"nosuch\"\n", 1),
            ("add 10.0.0.50", .init(), "Device and destination are required arguments.\n", 255),
            ("add foo dev veth0", .init(), "Error: any valid address is expected rather than \"foo\".\n", 1),
            ("add 10.0.0.50 dev veth0 nud bogus", .init(), "Error: argument \"bogus\" is wrong: nud state is bad\n", 255),
            ("add 10.0.0.50 dev veth0 lladdr zz", .init(), "\"zz\" is invalid lladdr.\n", 1),
            ("flush", .init(), "Flush requires arguments.\n", 1),
            ("show dev nosuch", .init(), "Cannot find device \"nosuch\"\n", 1),
            ("show to bad", .init(), "Error: any valid prefix is expected rather than \"bad\".\n", 1),
            ("bogus", .init(), "Command \"bogus\" is unknown, try \"ip neigh help\".\n", 255),
            ("add 10.0.0.51 dev veth0 lladdr 02:00:00:00:00:02 10.0.0.52", .init(),
             "Error: either \"to\" is duplicate, or \"10.0.0.52\" is a garbage.\n", 255),
            ("add 10.0.0.53 dev veth0 lladdr 02:00:00:00:00:02 lladdr 02:00:00:00:00:03", .init(),
             "Error: duplicate \"lladdr\": \"02:00:00:00:00:03\" is the second value.\n", 255),
            ("add 10.0.0.55 dev veth0 nud reachable", .init(), "Error: No link layer address given.\n", 2),
            ("add 10.0.0.60 dev veth0 lladdr 02:00:00:00:00:02 nud", .init(),
             "Command line is not complete. Try option \"help\"\n", 255),
            ("add 10.0.0.62 dev veth0", IPNeighOptions(family: .ipv6),
             "Error: inet6 address is expected rather than \"10.0.0.62\".\n", 1),
        ]
        for (line, o, err, status) in cases {
            let r = ip(line, o)
            #expect(r.stderr == err, "\(line)")
            #expect(r.status == status, "\(line)")
        }
    }

    @Test func replaceAndFlush() {
        populate()
        #expect(ip("replace 10.0.0.2 dev veth0 lladdr 02:00:00:00:00:22 nud stale").status == 0)
        #expect(ip("show 10.0.0.2").stdout == "10.0.0.2 dev veth0 lladdr 02:00:00:00:00:22 STALE \n")
        // flush leaves PERMANENT and NOARP entries.
        let r = ip("flush dev veth0", IPNeighOptions(stats: 1))
        #expect(r.stdout == "\n*** Round 1, deleting 6 entries ***\n*** Flush is complete after 1 round ***\n")
        #expect(ip("flush dev veth0", IPNeighOptions(stats: 1)).stdout == "Nothing to flush.\n")
        #expect(ip("show nud all").stdout == """
            10.0.0.3 dev veth0 lladdr 02:00:00:00:00:03 PERMANENT 
            10.0.0.6 dev veth0 lladdr 02:00:00:00:00:06 NOARP 

            """)
    }
}
