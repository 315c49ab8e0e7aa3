// Differential test: random IPv4 routing configurations (veth devices with
// addresses, routes in main/100/200, policy rules) applied to a real Linux
// namespace and to RoutingState through our own `ip route`/`ip rule`
// parsers; then ≥ 10,000 `ip route get` queries (random dst, from, iif,
// mark, ipproto, sport/dport) must give the same normalised answer or the
// same error. Runs only as root with `ip` installed; otherwise skipped.
import Foundation
import Netstack
import NetstackControl
import NetWire
import Testing

private let ipBinary = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) }
private let canRunKernel = ipBinary != nil && getuid() == 0

/// SplitMix64: seeded, reproducible.
private struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@discardableResult
private func run(_ args: [String], stdin: String? = nil) -> (out: String, err: String, status: Int32) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: ipBinary ?? "/bin/false")
    p.arguments = args
    let o = Pipe(), e = Pipe(), i = Pipe()
    p.standardOutput = o
    p.standardError = e
    p.standardInput = i
    do { try p.run() } catch { return ("", "\(error)", -1) }
    if let s = stdin { i.fileHandleForWriting.write(Data(s.utf8)) }
    try? i.fileHandleForWriting.close()
    let outData = o.fileHandleForReading.readDataToEndOfFile()
    let errData = e.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self), p.terminationStatus)
}

private enum Answer: Equatable, CustomStringConvertible {
    case success([String: String])
    case failure(String)
    var description: String {
        switch self {
        case .success(let d): d.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        case .failure(let e): e
        }
    }
}

private struct Scenario {
    var rng: SeededRandom
    var commands: [[String]] = []
    var localAddrs: [String] = []
    var subnets: [(dev: String, net: UInt32, len: Int, own: UInt32)] = []
    var prefixes: [UInt32] = []

    mutating func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &rng) }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }

    func ip(_ v: UInt32) -> String { IPv4Address(rawValue: v).description }

    mutating func poolAddress() -> UInt32 {
        switch int(0...5) {
        case 0: return 0x0A00_0000 | UInt32(int(0...3)) << 16 | UInt32(int(0...0xFFFF))
        case 1: return 0xAC10_0000 | UInt32(int(0...0xFFFFF))
        case 2: return 0xC0A8_0000 | UInt32(int(0...0xFFFF))
        case 3: if let p = prefixes.randomElement(using: &rng) { return p | UInt32(int(0...255)) }; return 0x0808_0808
        case 4: if let s = localAddrs.randomElement(using: &rng) { return IPv4Address(s)!.rawValue }; return 0x0101_0101
        default: return UInt32(int(0x0100_0000...0xDFFF_FFFF))
        }
    }

    mutating func gateway() -> (String, String) {
        let s = subnets.randomElement(using: &rng)!
        var host = UInt32(int(2...200))
        if s.net | host == s.own { host += 1 }
        return (ip(s.net | host), s.dev)
    }

    mutating func build() {
        for n in 0..<4 {
            let len = int(16...24)
            let net = (0x0A00_0000 | UInt32(n) << 16) & IPv4Address.mask(prefixLength: len)
            let own = net | 1
            commands.append(["addr", "add", "\(ip(own))/\(len)", "dev", "d\(n)"])
            localAddrs.append(ip(own))
            subnets.append(("d\(n)", net, len, own))
            if chance(0.5) {
                let net2 = 0xAC10_0000 | UInt32(n) << 8
                commands.append(["addr", "add", "\(ip(net2 | 1))/24", "dev", "d\(n)"])
                localAddrs.append(ip(net2 | 1))
                subnets.append(("d\(n)", net2, 24, net2 | 1))
            }
        }
        for table in ["main", "100", "200"] {
            for k in 0..<int(8...16) {
                let len = k == 0 && chance(0.6) ? 0 : int(8...32)
                let dst = poolAddress() & IPv4Address.mask(prefixLength: len)
                prefixes.append(dst)
                let dstText = len == 0 ? "default" : "\(ip(dst))/\(len)"
                var cmd = ["route", "add"]
                let t = int(0...9)
                var tail: [String] = []
                if t == 0 { cmd.append("unreachable") } else if t == 1 { cmd.append("prohibit") } else if t == 2 { cmd.append("blackhole") } else if t == 3 { cmd.append("throw") } else if t <= 5 {
                    let (g, d) = gateway()
                    tail = ["via", g] + (chance(0.5) ? ["dev", d] : [])
                } else if t <= 7 {
                    tail = ["dev", "d\(int(0...3))"]
                } else {
                    for _ in 0..<int(2...3) {
                        let (g, d) = gateway()
                        tail += ["nexthop", "via", g, "dev", d, "weight", "\(int(1...3))"]
                    }
                }
                cmd.append(dstText)
                cmd += tail
                if table != "main" { cmd += ["table", table] }
                if chance(0.3) { cmd += ["metric", "\([10, 20, 30].randomElement(using: &rng)!)"] }
                commands.append(cmd)
            }
        }
        var prefs: [Int] = []
        for _ in 0..<int(5...10) {
            var cmd = ["rule", "add"]
            if chance(0.15) { cmd.append("not") }
            if chance(0.4) {
                let len = int(8...32)
                cmd += ["from", "\(ip(poolAddress() & IPv4Address.mask(prefixLength: len)))/\(len)"]
            }
            if chance(0.3) {
                let len = int(8...24)
                cmd += ["to", "\(ip(poolAddress() & IPv4Address.mask(prefixLength: len)))/\(len)"]
            }
            if chance(0.3) { cmd += ["iif", ["lo", "d0", "d1", "d2", "d3"].randomElement(using: &rng)!] }
            if chance(0.25) { cmd += ["fwmark", chance(0.5) ? "0x\(String(int(1...15), radix: 16))" : "0x\(String(int(1...15), radix: 16))/0xf"] }
            if chance(0.25) {
                cmd += ["ipproto", chance(0.5) ? "tcp" : "udp"]
                if chance(0.7) { let a = int(1...100); cmd += ["dport", chance(0.5) ? "\(a)" : "\(a)-\(a + int(0...50))"] }
                if chance(0.3) { cmd += ["sport", "\(int(1000...1010))"] }
            }
            let pref = int(1...32000)
            let explicit = chance(0.6) && !prefs.contains(pref)
            if explicit { cmd += ["pref", "\(pref)"]; prefs.append(pref) }
            switch int(0...11) {
            case 0: cmd.append("blackhole")
            case 1: cmd.append("unreachable")
            case 2: cmd.append("prohibit")
            case 3: cmd.append("nop")
            case 4 where explicit:
                cmd += ["goto", "\(min(32766, pref + int(1...20000)) == pref ? 32766 : [32766, min(32766, pref + int(1...20000))].randomElement(using: &rng)!)"]
            default:
                cmd += ["lookup", ["100", "200", "main", "100"].randomElement(using: &rng)!]
                if chance(0.25) { cmd += ["suppress_prefixlength", "\(int(0...24))"] }
            }
            commands.append(cmd)
        }
    }

    mutating func query() -> [String] {
        var q = ["route", "get", ip(poolAddress())]
        let input = chance(0.5)
        if input {
            q += ["from", ip(poolAddress()), "iif", "d\(int(0...3))"]
        } else if chance(0.4) {
            q += ["from", chance(0.6) ? localAddrs.randomElement(using: &rng)! : ip(poolAddress())]
        }
        if chance(0.3) { q += ["mark", "0x\(String(int(1...15), radix: 16))"] }
        if chance(0.4) {
            q += ["ipproto", chance(0.5) ? "tcp" : "udp", "dport", "\(int(1...160))"]
            if chance(0.5) { q += ["sport", "\(int(995...1015))"] }
        }
        return q
    }
}

/// The fields compared: what the route decision is, not how it is cached.
private func normalise(_ o: [String: Any]) -> [String: String] {
    var n: [String: String] = [:]
    n["type"] = o["type"] as? String ?? "unicast"
    n["table"] = o["table"] as? String ?? "main"
    for k in ["dst", "gateway", "dev", "prefsrc", "iif"] { if let v = o[k] as? String { n[k] = v } }
    return n
}

@Suite("ip route differential vs the Linux kernel")
struct IPRouteDifferentialTests {
    @Test("random configurations, 10,000+ route get queries", .enabled(if: canRunKernel, "needs root and iproute2"),
          arguments: Array(1...12))
    func differential(seed: Int) throws {
        let ns = "route-diff-\(getpid())-\(seed)"
        run(["netns", "del", ns])
        #expect(run(["netns", "add", ns]).status == 0)
        defer { run(["netns", "del", ns]) }

        var context = StaticRouteContext(ipv4Forwarding: true)
        var setup = ["link set lo up"]
        for n in 0..<4 {
            setup += ["link add d\(n) type veth peer name p\(n)", "link set d\(n) up", "link set p\(n) up"]
            context.addDevice(.init(index: Int32(2 + 2 * n), name: "d\(n)"))
            context.addDevice(.init(index: Int32(3 + 2 * n), name: "p\(n)"))
        }
        let r0 = run(["-n", ns, "-batch", "-"], stdin: setup.joined(separator: "\n") + "\n")
        try #require(r0.status == 0, "setup: \(r0.err)")
        _ = run(["netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"].map { $0 }, stdin: nil)
        // `ip netns exec` runs sysctl; run() uses the ip binary, which is what we want.

        var state = RoutingState()
        let lo = context.loopbackIndex
        state.tables.addressAdded(RouteAddress(.v4(.loopback), prefixLength: 8, scope: .host), device: lo)

        var scenario = Scenario(rng: SeededRandom(state: UInt64(seed) &* 0x1234_5678_9ABC))
        scenario.build()
        var statusMismatches: [String] = []
        for cmd in scenario.commands {
            let k = run(["-n", ns] + cmd)
            if cmd[0] == "addr" {
                let p = IPPrefix(cmd[2])!
                let dev = context.deviceIndex(named: cmd[4])!
                let a = RouteAddress(p.address, prefixLength: p.length)
                if let i = context.devices.firstIndex(where: { $0.index == dev }) { context.devices[i].addresses.append(a) }
                state.tables.addressAdded(a, device: dev)
                try #require(k.status == 0, "\(cmd): \(k.err)")
                continue
            }
            let ours = cmd[0] == "route"
                ? ipRoute(Array(cmd.dropFirst()), options: IPOptions(), state: &state, context: context)
                : ipRule(Array(cmd.dropFirst()), options: IPOptions(), state: &state, context: context)
            if (ours.status == 0) != (k.status == 0) || ours.stderr != k.err {
                statusMismatches.append("\(cmd.joined(separator: " ")): kernel \(k.status) \(k.err.debugDescription) ours \(ours.status) \(ours.stderr.debugDescription)")
            }
        }
        #expect(statusMismatches.isEmpty, "\(statusMismatches.joined(separator: "\n"))")

        // Sanity: both sides list the same main-table routes and rules.
        let kShow = run(["-n", ns, "-4", "route", "show", "table", "all"]).out
        let oShow = ipRoute(["show", "table", "all"], options: IPOptions(family: .inet), state: &state, context: context).stdout
        #expect(kShow == oShow)
        let kRules = run(["-n", ns, "rule"]).out
        let oRules = ipRule(["show"], options: IPOptions(), state: &state, context: context).stdout
        #expect(kRules == oRules)

        let count = 1_000
        var queries: [[String]] = []
        for _ in 0..<count { queries.append(scenario.query()) }
        let batch = queries.map { $0.joined(separator: " ") }.joined(separator: "\n") + "\n"
        // The queries go in a file: feeding a pipe while the answers fill
        // the other would deadlock once both pipe buffers are full.
        let batchFile = FileManager.default.temporaryDirectory.appendingPathComponent("\(ns).batch")
        try Data(batch.utf8).write(to: batchFile)
        defer { try? FileManager.default.removeItem(at: batchFile) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/stdbuf")
        p.arguments = ["-oL", "-eL", ipBinary!, "-n", ns, "-force", "-j", "-batch", batchFile.path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        var lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)[...]

        var mismatches: [String] = []
        var compared = 0
        for q in queries {
            guard let line = lines.popFirst() else { break }
            let kernel: Answer
            if line.hasPrefix("[") {
                let obj = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [[String: Any]]
                kernel = .success(normalise(obj?.first ?? [:]))
            } else {
                kernel = .failure(line)
                if lines.first?.hasPrefix("Command failed") == true { _ = lines.popFirst() }
            }
            let ours = ipRoute(Array(q.dropFirst()), options: IPOptions(json: true), state: &state, context: context)
            let mine: Answer
            if ours.status == 0 {
                let obj = (try? JSONSerialization.jsonObject(with: Data(ours.stdout.utf8))) as? [[String: Any]]
                mine = .success(normalise(obj?.first ?? [:]))
            } else {
                mine = .failure(ours.stderr.trimmingCharacters(in: .newlines))
            }
            compared += 1
            var equal = false
            switch (kernel, mine) {
            case (.success(let a), .success(let b)):
                equal = a == b
                if !equal, a["type"] == "unicast", b["type"] == "unicast" {
                    // Multipath: the kernel's hash is seeded; any next hop of the route is right.
                    let key = try parseRouteGet(Array(q.dropFirst(2)), options: IPOptions(), context: context).key
                    if case .success(let d) = state.lookup(key, context: context), d.route.isMultipath {
                        var a2 = a, b2 = b
                        for k in ["gateway", "dev", "prefsrc"] { a2[k] = nil; b2[k] = nil }
                        equal = a2 == b2 && d.route.nextHops.contains { nh in
                            nh.gateway?.description == a["gateway"] && context.deviceName(nh.device) == a["dev"]
                        }
                    }
                }
            case (.failure(let a), .failure(let b)): equal = a == b
            default: equal = false
            }
            if !equal { mismatches.append("\(q.joined(separator: " ")): kernel \(kernel) ours \(mine)") }
        }
        #expect(compared == count)
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(compared) differ:\n\(mismatches.prefix(15).joined(separator: "\n"))\nconfig:\n\(scenario.commands.map { $0.joined(separator: " ") }.joined(separator: "\n"))")
    }
}
