// `ss` (iproute2 6.1) for TCP and UDP sockets: `ss [-t] [-u] [-a|-l] [-n]
// [-4|-6] [-H] [-p] [state STATE]… [sport = :PORT] [dport = :PORT]`.
// Kernel counterparts: net/ipv4/udp_diag.c, tcp_diag.c / inet_diag.c (the
// sock_diag dumps ss reads: listeners with Recv-Q = accept queue and
// Send-Q = backlog, then the established hash, TIME-WAIT included);
// the columns are laid out as misc/ss.c lays them out when stdout is not
// a terminal ("compact output"): each column as wide as its widest cell
// (header included) plus its left delimiter, addresses right-aligned.
//
// Always numeric (no service names). Sockets are listed UDP then TCP (TCP
// listeners first), IPv4 then IPv6, each by local port; Linux walks its
// hashes, whose slot order depends on a per-namespace random mix, so the
// order of several rows may differ.
import Netstack
import NetWire

public enum SocketStatistics {
    /// `ss ARGS…` in `ns` (argv[0] is "ss").
    public static func run(_ argv: [String], namespace ns: NetworkNamespace) -> CommandResult {
        var udp = false, tcp = false, all = false, listening = false, header = true
        var v4 = false, v6 = false
        var states: Set<String> = []
        var sport: UInt16?, dport: UInt16?
        var args = Array(argv.dropFirst())[...]
        while let a = args.popFirst() {
            if a == "state" {
                let name = args.popFirst() ?? ""
                guard let set = stateNames[name] else { return .failure("ss: wrong state name: \(name)", status: 255) }
                states.formUnion(set)
                continue
            }
            if a == "sport" || a == "dport" {
                var v = args.popFirst() ?? ""
                if v == "=" || v == "eq" || v == "==" { v = args.popFirst() ?? "" }
                guard v.hasPrefix(":"), let p = UInt16(v.dropFirst()) else {
                    return .failure("ss: filters are not supported here: \(a) \(v)", status: 255)
                }
                if a == "sport" { sport = p } else { dport = p }
                continue
            }
            if a.hasPrefix("--") {
                switch a {
                case "--udp": udp = true
                case "--tcp": tcp = true
                case "--all": all = true
                case "--listening": listening = true
                case "--numeric", "--processes", "--resolve": break
                case "--no-header": header = false
                case "--ipv4": v4 = true
                case "--ipv6": v6 = true
                default: return .failure("ss: unrecognized option '\(a)'\n" + usage, status: 255)
                }
                continue
            }
            guard a.hasPrefix("-"), a.count > 1 else {
                return .failure("ss: filters are not supported here: \(a)", status: 255)
            }
            for c in a.dropFirst() {
                switch c {
                case "u": udp = true
                case "t": tcp = true
                case "a": all = true
                case "l": listening = true
                case "n", "p", "r", "e": break
                case "H": header = false
                case "4": v4 = true
                case "6": v6 = true
                default: return .failure("ss: invalid option -- '\(c)'\n" + usage, status: 255)
                }
            }
        }
        if !udp && !tcp { udp = true; tcp = true }
        // State filter: UDP's default is ESTAB only; -l LISTEN|UNCONN; -a all.
        let showEstablished = states.isEmpty ? (all || !listening) : states.contains("ESTAB")
        let showUnconnected = states.isEmpty ? (all || listening) : states.contains("UNCONN")
        // The State column shows when the filter holds more than one state
        // (TCP's default, connected states, is several).
        let stateColumn = states.isEmpty ? (all || listening || tcp) : states.count > 1
        let netidColumn = udp && tcp         // more than one table
        if !v4 && !v6 { v4 = true; v6 = true }

        var rows: [[String?]] = []
        if header {
            rows.append([netidColumn ? "Netid" : nil, stateColumn ? "State" : nil, "Recv-Q", "Send-Q",
                         "Local Address:", "Port", "Peer Address:", "Port", "Process", ""])
        }
        let sockets = (udp ? ns.udpSockets : []).filter { s in
            s.localPort != 0 && !s.isClosed && (s.isIPv6 ? v6 : v4)
                && (s.isConnected ? showEstablished : showUnconnected)
                && (sport.map { $0 == s.localPort } ?? true) && (dport.map { $0 == s.remotePort } ?? true)
        }
        let ordered = sockets.enumerated().sorted { x, y in
            if x.element.isIPv6 != y.element.isIPv6 { return !x.element.isIPv6 }
            if x.element.localPort != y.element.localPort { return x.element.localPort < y.element.localPort }
            return x.offset > y.offset  // hlist_add_head: the newest first within a slot
        }.map(\.element)
        for s in ordered {
            // A v6 socket bound to a specific address is v6-only (__inet6_bind).
            let v6only = s.isIPv6 && s.localAddress != nil
            var local = address(s.localAddress, v6: s.isIPv6, v6only: v6only)
            if s.boundDevice != 0, let d = ns.device(index: s.boundDevice) { local += "%" + d.name }
            let peer = address(s.remoteAddress, v6: s.isIPv6, v6only: v6only)
            rows.append([netidColumn ? "udp" : nil, stateColumn ? (s.isConnected ? "ESTAB" : "UNCONN") : nil,
                         pad6(s.receiveQueueBytes), pad6(0),
                         local + ":", String(s.localPort), peer + ":", s.isConnected ? String(s.remotePort) : "*", "", ""])
        }
        if tcp {
            // tcp_diag: listeners, then the established hash.
            func wanted(_ state: String) -> Bool {
                if !states.isEmpty { return states.contains(state) }
                if all { return true }
                if listening { return state == "LISTEN" }
                return !["LISTEN", "TIME-WAIT", "SYN-RECV", "CLOSE"].contains(state)
            }
            var listeners: [TCPSocket] = []
            var connections: [TCPSocket] = []
            for s in ns.tcp.sockets {
                guard (s.isIPv6 ? v6 : v4) else { continue }
                if s.isListening { listeners.append(s) } else if let c = s.connection, c.state != .closed { connections.append(s) }
            }
            let order: (TCPSocket, TCPSocket) -> Bool = { x, y in
                if x.isIPv6 != y.isIPv6 { return !x.isIPv6 }
                if x.localPort != y.localPort { return x.localPort < y.localPort }
                return x.remotePort < y.remotePort
            }
            for s in listeners.sorted(by: order) where wanted("LISTEN") && (sport.map { $0 == s.localPort } ?? true)
                && dport == nil {
                let v6only = s.isIPv6 && (s.localAddress != nil || s.v6Only)
                var local = address(s.localAddress, v6: s.isIPv6, v6only: v6only)
                if s.boundDevice != 0, let d = ns.device(index: s.boundDevice) { local += "%" + d.name }
                rows.append([netidColumn ? "tcp" : nil, stateColumn ? "LISTEN" : nil,
                             pad6(s.acceptQueueLength), pad6(s.backlog),
                             local + ":", String(s.localPort), address(nil, v6: s.isIPv6, v6only: v6only) + ":", "*", "", ""])
            }
            for s in connections.sorted(by: order) {
                guard let c = s.connection else { continue }
                let state = c.state.description
                guard wanted(state), sport.map({ $0 == c.local.port }) ?? true,
                      dport.map({ $0 == c.remote.port }) ?? true else { continue }
                var local = endpoint(c.local.address, mapped: s.isIPv6)
                if s.boundDevice != 0, let d = ns.device(index: s.boundDevice) { local += "%" + d.name }
                rows.append([netidColumn ? "tcp" : nil, stateColumn ? state : nil,
                             pad6(s.receiveQueueBytes), pad6(s.sendQueueBytes),
                             local + ":", String(c.local.port), endpoint(c.remote.address, mapped: s.isIPv6) + ":",
                             String(c.remote.port), "", ""])
            }
        }
        return CommandResult(stdout: render(rows))
    }

    /// The `state` filter's names (ss's sstate_namel and its groups).
    static let stateNames: [String: Set<String>] = [
        "established": ["ESTAB"], "syn-sent": ["SYN-SENT"], "syn-recv": ["SYN-RECV"],
        "fin-wait-1": ["FIN-WAIT-1"], "fin-wait-2": ["FIN-WAIT-2"], "time-wait": ["TIME-WAIT"],
        "closed": ["CLOSE", "UNCONN"], "close-wait": ["CLOSE-WAIT"], "last-ack": ["LAST-ACK"],
        "listening": ["LISTEN", "UNCONN"], "closing": ["CLOSING"],
        "all": ["ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT", "CLOSE", "UNCONN",
                "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING"],
        "connected": ["ESTAB", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "LAST-ACK", "CLOSING"],
        "synchronized": ["ESTAB", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "LAST-ACK", "CLOSING"],
        "bucket": ["SYN-RECV", "TIME-WAIT"], "big": ["ESTAB", "SYN-SENT", "FIN-WAIT-1", "FIN-WAIT-2", "CLOSE",
                                                    "UNCONN", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING"],
    ]

    /// A connection's address; an IPv4 peer of an IPv6 socket is v4-mapped.
    static func endpoint(_ a: IPAddress, mapped: Bool) -> String {
        switch a {
        case .v4(let x): return mapped ? "[::ffff:\(x)]" : x.description
        case .v6(let x): return "[\(x)]"
        }
    }

    static let usage = "Usage: ss [ OPTIONS ]\n       ss [ OPTIONS ] [ FILTER ]\n"

    static func pad6(_ n: Int) -> String {
        let s = String(n)
        return s.count >= 6 ? s : s + String(repeating: " ", count: 6 - s.count)
    }

    static func address(_ a: IPAddress?, v6: Bool, v6only: Bool) -> String {
        guard let a else { return v6 ? (v6only ? "[::]" : "*") : "0.0.0.0" }
        switch a {
        case .v4(let x): return x.description
        case .v6(let x): return x.isUnspecified && !v6only ? "*" : "[\(x)]"
        }
    }

    /// misc/ss.c render() in compact mode. Columns: Netid State Recv-Q
    /// Send-Q Local-Address Port Peer-Address Port Process (ext); a nil
    /// cell is a disabled column.
    static func render(_ rows: [[String?]]) -> String {
        guard let first = rows.first else { return "" }
        let n = first.count
        let delimiters = ["", " ", " ", " ", " ", "", " ", "", "", ""]
        let rightAligned: Set<Int> = [4, 6]
        var width = [Int](repeating: 0, count: n)
        var isFirst = true
        for c in 0..<n where first[c] != nil {
            let maxLen = rows.map { $0[c]?.utf8.count ?? 0 }.max() ?? 0
            width[c] = (!isFirst && maxLen > 0) ? maxLen + delimiters[c].utf8.count : maxLen
            if width[c] > 0 { isFirst = false }
        }
        var out = ""
        for row in rows {
            var started = false
            for c in 0..<n {
                guard let cell = row[c] else { continue }
                var printed = 0
                if started {
                    out += delimiters[c]
                    printed = delimiters[c].utf8.count
                }
                started = true
                let len = cell.utf8.count
                if width[c] > 0 && rightAligned.contains(c) {
                    let s = width[c] - len - printed
                    if s > 0 { out += String(repeating: " ", count: s); printed += s }
                }
                out += cell
                printed += len
                if width[c] > 0 && !rightAligned.contains(c) {
                    let s = width[c] - printed
                    if s > 0 { out += String(repeating: " ", count: s) }
                }
            }
            out += "\n"
        }
        return out
    }
}
