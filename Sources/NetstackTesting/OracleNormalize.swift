// Normalising outputs before comparing the Linux oracle with the lab: what
// legitimately differs between two runs (round-trip times, timers, kernel
// PIDs, random MAC addresses, interface index numbers) is replaced by a
// placeholder or dropped; everything else must match byte for byte.

public enum OracleNormalize {
    /// The placeholder that replaces a measured time.
    public static let time = "<t>"
    /// The placeholder for a random MAC address.
    public static let mac = "<mac>"

    // MARK: - Whole outputs

    /// The normalisations that apply to any script's output: bash job
    /// notices removed, ping times replaced, `ip -j` JSON lines normalised
    /// with `IPJSONOptions()`.
    public static func output(_ text: String) -> String {
        mapLines(jobNotices(text)) { line in
            if let json = ipJSONLine(line) { return json }
            return pingLine(line)
        }
    }

    /// Removes bash's notices about background jobs killed by a signal
    /// (`lab.sh: line 7:  1234 Terminated              ping …`); the lab
    /// does not print them (PIDs differ, and bash prints them when it
    /// happens to notice).
    public static func jobNotices(_ text: String) -> String {
        let signals = ["Terminated", "Killed", "Interrupt", "Hangup", "Quit", "User defined signal 1", "User defined signal 2"]
        return filterLines(text) { line in
            guard let r = line.firstRange(of: ": line ") else { return true }
            var rest = Substring(line[r.upperBound...])
            let lineNumber = rest.prefix(while: \.isNumber)
            guard !lineNumber.isEmpty else { return true }
            rest = rest.dropFirst(lineNumber.count)
            guard rest.hasPrefix(":") else { return true }
            rest = rest.dropFirst()
            rest = rest.drop(while: { $0 == " " })
            let pid = rest.prefix(while: \.isNumber)
            guard !pid.isEmpty else { return true }
            let after = rest.dropFirst(pid.count).drop(while: { $0 == " " })
            return !signals.contains { after.hasPrefix($0) }
        }
    }

    // MARK: - ping

    /// iputils ping output with times replaced, counts and loss kept:
    /// `time=0.045 ms` → `time=<t> ms`, `, time 2003ms` → `, time <t>ms`,
    /// `rtt min/avg/max/mdev = a/b/c/d ms` → `= <t>/<t>/<t>/<t> ms`.
    public static func ping(_ text: String) -> String { mapLines(text, pingLine) }

    static func pingLine(_ line: String) -> String {
        var s = line
        if s.hasPrefix("rtt min/avg/max/mdev = ") || s.hasPrefix("round-trip min/avg/max") {
            if let eq = s.firstRange(of: "= ") {
                let tail = s[eq.upperBound...]
                let unit = tail.split(separator: " ").dropFirst().joined(separator: " ")
                s = String(s[..<eq.upperBound]) + "\(time)/\(time)/\(time)/\(time)" + (unit.isEmpty ? "" : " " + unit)
            }
            return s
        }
        s = replaceNumber(after: "time=", in: s)
        if s.contains("packets transmitted") { s = replaceNumber(after: ", time ", in: s) }
        return s
    }

    /// Replaces the number right after each `marker` with the placeholder.
    static func replaceNumber(after marker: String, in s: String) -> String {
        var out = ""
        var rest = Substring(s)
        while let r = rest.firstRange(of: marker) {
            out += rest[..<r.upperBound]
            rest = rest[r.upperBound...]
            let number = rest.prefix(while: { $0.isNumber || $0 == "." })
            if !number.isEmpty {
                out += time
                rest = rest.dropFirst(number.count)
            }
        }
        return out + rest
    }

    // MARK: - ip -j

    /// What `ipJSON` drops or masks.
    public struct IPJSONOptions: Sendable {
        /// Keys removed wherever they appear.
        public var dropKeys: Set<String> = [
            "ifindex", "link_index", "used", "confirmed", "updated", "lastused", "expires",
            "stats", "stats64", "min_mtu", "max_mtu", "num_tx_queues", "num_rx_queues",
            "gso_max_size", "gso_max_segs", "gro_max_size", "tso_max_size", "tso_max_segs",
            "gro_ipv4_max_size", "gso_ipv4_max_size", "parentbus", "parentdev", "inet6_addr_gen_mode",
        ]
        /// MAC-valued keys whose value is replaced by `<mac>` (random on both
        /// sides unless the script set them; list the ones it set in `keepMACs`).
        public var macKeys: Set<String> = ["address", "permaddr", "lladdr"]
        /// MACs the script set explicitly: kept as they are.
        public var keepMACs: Set<String> = ["00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"]
        public init() {}
    }

    /// Parses `ip -j` output and normalises it; nil if not JSON.
    public static func ipJSON(_ text: String, options: IPJSONOptions = IPJSONOptions()) -> OracleJSON? {
        guard let json = OracleJSON.parse(text) else { return nil }
        return json.rewritingMembers { member in
            if options.dropKeys.contains(member.key) { return nil }
            if options.macKeys.contains(member.key), case .string(let s) = member.value, isMAC(s),
               !options.keepMACs.contains(s) {
                return OracleJSON.Member(member.key, .string(mac))
            }
            return member
        }
    }

    /// A line that is a JSON array or object, normalised and re-rendered
    /// compactly; nil for any other line.
    static func ipJSONLine(_ line: String) -> String? {
        guard let first = line.first(where: { $0 != " " }), first == "[" || first == "{",
              let json = ipJSON(line) else { return nil }
        return json.description
    }

    static func isMAC(_ s: String) -> Bool {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count == 6 && parts.allSatisfy { $0.count == 2 && $0.allSatisfy(\.isHexDigit) }
    }

    // MARK: - Per command

    /// Normalises one command's output by what the command is (argv as run,
    /// after `ip netns exec NS`): ping → times; `ip … -j …` → JSON; anything
    /// else unchanged.
    public static func command(_ argv: [String], output text: String) -> String {
        var args = argv[...]
        while args.count >= 4, args.first == "ip", args.dropFirst().first == "netns", args.dropFirst(2).first == "exec" {
            args = args.dropFirst(4)
        }
        switch args.first {
        case "ping", "ping6": return ping(text)
        case "ip" where args.contains("-j") || args.contains("-json") || args.contains { $0.hasPrefix("-j") && $0.count <= 3 && $0.contains("j") }:
            return ipJSON(text).map { $0.description + "\n" } ?? text
        default: return text
        }
    }

    // MARK: - Helpers

    static func mapLines(_ text: String, _ f: (String) -> String) -> String {
        splitKeepingTerminator(text).map { (line, newline) in f(line) + (newline ? "\n" : "") }.joined()
    }

    static func filterLines(_ text: String, _ keep: (String) -> Bool) -> String {
        splitKeepingTerminator(text).filter { keep($0.0) }.map { $0.0 + ($0.1 ? "\n" : "") }.joined()
    }

    static func splitKeepingTerminator(_ text: String) -> [(String, Bool)] {
        var result: [(String, Bool)] = []
        var current = ""
        for c in text {
            if c == "\n" { result.append((current, true)); current = "" } else { current.append(c) }
        }
        if !current.isEmpty { result.append((current, false)) }
        return result
    }
}
