// `ss` (iproute2 6.1) for TCP and UDP sockets: `ss [-t] [-u] [-a|-l] [-n]
// [-4|-6] [-H] [-p] [-i] [-e] [-o] [-m] [-O] [state STATE]… [sport = :PORT]
// [dport = :PORT]`.
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
//
// TCP details (misc/ss.c inet_show_sock, tcp_show_info, tcp_stats_print,
// print_skmeminfo, tcp_timer_print): -o (and -e) add `timer:(…)`, -e adds
// `ino:N sk:HEX` (uid only when not 0, as ss does: lab sockets are root's;
// inode and cookie are numbered per namespace, see TCPSocket.cookie) and
// the shutdown arrows, -m `skmem:(…)` and -i the tcp_info fields, both on
// a second line after a tab (one line with -O). TIME-WAIT sockets, orphans
// in FIN-WAIT-2 and handshakes in SYN-RECV are Linux's mini sockets: only
// their timer, `ino:0` and cookie. Linux also prints the socket's cgroup
// with -e; the lab has no cgroups, so none is printed.
//
// UDP details (misc/ss.c inet_show_sock, print_skmeminfo; udp_diag):
// -e adds `ino:N sk:HEX`, `v6only:N` for IPv6 and the shutdown arrows,
// -m the skmem line; UDP has no timers and no info for -o and -i.
import Netstack
import NetWire

public enum SocketStatistics {
    /// `ss ARGS…` in `ns` (argv[0] is "ss").
    public static func run(_ argv: [String], namespace ns: NetworkNamespace) -> CommandResult {
        var udp = false, tcp = false, all = false, listening = false, header = true
        var v4 = false, v6 = false
        var showInfo = false, showDetails = false, showOptions = false, showMemory = false
        var oneline = false, numeric = false
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
                case "--numeric": numeric = true
                case "--processes", "--resolve": break
                case "--info": showInfo = true
                case "--extended": showDetails = true; showOptions = true
                case "--options": showOptions = true
                case "--memory": showMemory = true
                case "--oneline": oneline = true
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
                case "n": numeric = true
                case "p", "r": break
                case "i": showInfo = true
                case "e": showDetails = true; showOptions = true
                case "o": showOptions = true
                case "m": showMemory = true
                case "O": oneline = true
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
        let udpDetail = Details(info: showInfo, details: showDetails, options: showOptions, memory: showMemory,
                                oneline: oneline, numeric: numeric)
        for s in ordered {
            // A v6 socket bound to a specific address is v6-only (__inet6_bind).
            let v6only = s.isIPv6 && s.localAddress != nil
            var local = address(s.localAddress, v6: s.isIPv6, v6only: v6only)
            if s.boundDevice != 0, let d = ns.device(index: s.boundDevice) { local += "%" + d.name }
            let peer = address(s.remoteAddress, v6: s.isIPv6, v6only: v6only)
            rows.append([netidColumn ? "udp" : nil, stateColumn ? (s.isConnected ? "ESTAB" : "UNCONN") : nil,
                         pad6(s.receiveQueueBytes), pad6(0),
                         local + ":", String(s.localPort), peer + ":", s.isConnected ? String(s.remotePort) : "*",
                         udpDetails(s, udpDetail, v6only: v6only), ""])
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
            let now = ns.stack.now
            let detail = Details(info: showInfo, details: showDetails, options: showOptions, memory: showMemory,
                                 oneline: oneline, numeric: numeric)
            for s in listeners.sorted(by: order) where wanted("LISTEN") && (sport.map { $0 == s.localPort } ?? true)
                && dport == nil {
                let v6only = s.isIPv6 && (s.localAddress != nil || s.v6Only)
                var local = address(s.localAddress, v6: s.isIPv6, v6only: v6only)
                if s.boundDevice != 0, let d = ns.device(index: s.boundDevice) { local += "%" + d.name }
                rows.append([netidColumn ? "tcp" : nil, stateColumn ? "LISTEN" : nil,
                             pad6(s.acceptQueueLength), pad6(s.backlog),
                             local + ":", String(s.localPort), address(nil, v6: s.isIPv6, v6only: v6only) + ":", "*",
                             tcpDetails(s, detail, now: now), ""])
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
                             String(c.remote.port), tcpDetails(s, detail, now: now), ""])
            }
        }
        return CommandResult(stdout: render(rows, lastRowIsSocket: rows.count > (header ? 1 : 0)))
    }

    /// Which TCP details to print (-i, -e, -o, -m, -O, -n).
    struct Details {
        var info: Bool, details: Bool, options: Bool, memory: Bool, oneline: Bool, numeric: Bool
        var any: Bool { info || details || options || memory }
    }

    /// What ss appends after the peer's port for a TCP socket (it lands in
    /// the Process column, as in ss): timer, details, then the second line
    /// with skmem and tcp_info.
    static func tcpDetails(_ s: TCPSocket, _ d: Details, now: Instant) -> String {
        guard d.any else { return "" }
        let c = s.isListening ? nil : s.connection
        // Linux's mini sockets carry no socket attributes: TIME-WAIT (and an
        // orphan's FIN-WAIT-2, which Linux turns into one), request socks.
        var mini = false
        if let c {
            mini = c.state == .timeWait || (c.state == .finWait2 && s.isClosed)
                || (c.state == .synReceived && !c.isActiveOpen)
        }
        var out = ""
        if d.options, let t = c?.diagTimer(now: now) {
            let names: [TCPDiagTimer.Kind: String] = [.on: "on", .keepalive: "keepalive", .timeWait: "timewait",
                                                      .persist: "persist"]
            out += " timer:(\(names[t.kind] ?? "unknown"),\(msTimer(Int(t.expires.nanoseconds / 1_000_000))),\(t.retransmits))"
        }
        if d.details {
            out += " ino:\(mini ? 0 : s.inode) sk:\(String(s.cookie, radix: 16))"
            if !mini {
                if s.isIPv6 { out += " v6only:\(s.v6Only ? 1 : 0)" }
                let m = s.shutdownMask
                out += " " + (m & 1 != 0 ? "-" : "<") + "-" + (m & 2 != 0 ? "-" : ">")
            }
        }
        if d.memory || d.info {
            if !d.oneline { out += "\n\t" }
            if !mini {
                if d.memory {
                    let m = s.memoryInfo
                    out += " skmem:(r\(m.rmemAlloc),rb\(m.rcvbuf),t\(m.wmemAlloc),tb\(m.sndbuf),f\(m.fwdAlloc)"
                        + ",w\(m.wmemQueued),o\(m.optmem),bl\(m.backlog),d\(m.drops))"
                }
                if d.info, let i = s.info { out += tcpStats(i, options: d.options, numeric: d.numeric) }
            }
        }
        return out
    }

    /// What ss appends after the peer's port for a UDP socket: -e's
    /// inode, cookie, v6only and shutdown arrows; -m's skmem on the
    /// second line (the same line with -O).
    static func udpDetails(_ s: UDPSocket, _ d: Details, v6only: Bool) -> String {
        var out = ""
        if d.details {
            out += " ino:\(s.inode) sk:\(String(s.cookie, radix: 16))"
            if s.isIPv6 { out += " v6only:\(v6only ? 1 : 0)" }
            let m = s.shutdownMask
            out += " " + (m & 1 != 0 ? "-" : "<") + "-" + (m & 2 != 0 ? "-" : ">")
        }
        if d.memory {
            if !d.oneline { out += "\n\t" }
            out += skmem(s.memoryInfo)
        }
        return out
    }

    /// print_skmeminfo: ` skmem:(r…,rb…,t…,tb…,f…,w…,o…,bl…,d…)`.
    static func skmem(_ m: TCPSocketMemory) -> String {
        " skmem:(r\(m.rmemAlloc),rb\(m.rcvbuf),t\(m.wmemAlloc),tb\(m.sndbuf),f\(m.fwdAlloc)"
            + ",w\(m.wmemQueued),o\(m.optmem),bl\(m.backlog),d\(m.drops))"
    }

    /// misc/ss.c tcp_show_info() + tcp_stats_print(): the fields in ss's
    /// order, each only when not zero, in ss's units (ms, bits/s).
    static func tcpStats(_ i: TCPInfo, options: Bool, numeric: Bool) -> String {
        var o = ""
        func us(_ t: TimeDelta) -> Int64 { t.nanoseconds / 1000 }
        func msG(_ microseconds: Int64) -> String { CFormat.g(Double(microseconds) / 1000) }
        if options {
            if i.timestamps { o += " ts" }
            if i.sack { o += " sack" }
            if i.ecn { o += " ecn" }
            if i.ecnSeen { o += " ecnseen" }
            if i.synData { o += " fastopen" }
        }
        o += i.congestionAlgorithm == .cubic ? " cubic" : " reno"
        if let sw = i.sndWscale, let rw = i.rcvWscale { o += " wscale:\(sw),\(rw)" }
        let rto = Int64(i.linuxRTO)
        if rto != 0 && rto != 3_000_000 { o += " rto:" + msG(rto) }
        if i.backoff != 0 { o += " backoff:\(i.backoff)" }
        let rtt = us(i.rtt)
        if rtt != 0 { o += " rtt:" + msG(rtt) + "/" + msG(us(i.rttvar)) }
        let ato = i.ato.nanoseconds / 1_000_000 * 1000
        if ato != 0 { o += " ato:" + msG(ato) }
        if i.sndMss != 0 { o += " mss:\(i.sndMss)" }
        if i.pmtu != 0 { o += " pmtu:\(i.pmtu)" }
        if i.rcvMss != 0 { o += " rcvmss:\(i.rcvMss)" }
        if i.linuxAdvmss != 0 { o += " advmss:\(i.linuxAdvmss)" }
        if i.sndCwnd != 0 { o += " cwnd:\(i.sndCwnd)" }
        if let t = i.sndSsthresh, t < 0xFFFF, t != 0 { o += " ssthresh:\(t)" }
        if i.bytesSent != 0 { o += " bytes_sent:\(i.bytesSent)" }
        if i.bytesRetrans != 0 { o += " bytes_retrans:\(i.bytesRetrans)" }
        if i.bytesAcked != 0 { o += " bytes_acked:\(i.bytesAcked)" }
        if i.bytesReceived != 0 { o += " bytes_received:\(i.bytesReceived)" }
        if i.segsOut != 0 { o += " segs_out:\(i.segsOut)" }
        if i.segsIn != 0 { o += " segs_in:\(i.segsIn)" }
        if i.dataSegsOut != 0 { o += " data_segs_out:\(i.dataSegsOut)" }
        if i.dataSegsIn != 0 { o += " data_segs_in:\(i.dataSegsIn)" }
        if rtt > 0 && i.sndMss != 0 && i.sndCwnd != 0 {
            o += " send " + bandwidth(Double(i.sndCwnd) * Double(i.sndMss) * 8_000_000 / Double(rtt), numeric: numeric) + "bps"
        }
        let lastSent = i.lastDataSent.nanoseconds / 1_000_000
        let lastRecv = i.lastDataRecv.nanoseconds / 1_000_000
        let lastAck = i.lastAckRecv.nanoseconds / 1_000_000
        if lastSent != 0 { o += " lastsnd:\(lastSent)" }
        if lastRecv != 0 { o += " lastrcv:\(lastRecv)" }
        if lastAck != 0 { o += " lastack:\(lastAck)" }
        if let p = i.pacingRate, p != 0 {
            o += " pacing_rate " + bandwidth(Double(p) * 8, numeric: numeric) + "bps"
            if let m = i.maxPacingRate, m != 0 { o += "/" + bandwidth(Double(m) * 8, numeric: numeric) + "bps" }
        }
        if i.deliveryRate != 0 { o += " delivery_rate " + bandwidth(Double(i.deliveryRate) * 8, numeric: numeric) + "bps" }
        if i.delivered != 0 { o += " delivered:\(i.delivered)" }
        if i.deliveredCE != 0 { o += " delivered_ce:\(i.deliveredCE)" }
        if i.deliveryRateAppLimited { o += " app_limited" }
        let busy = i.busyTime.nanoseconds / 1_000_000
        if busy != 0 {
            o += " busy:\(busy)ms"
            let rwnd = i.rwndLimited.nanoseconds / 1_000_000
            let sndbuf = i.sndbufLimited.nanoseconds / 1_000_000
            if rwnd != 0 { o += " rwnd_limited:\(rwnd)ms(" + Iperf3Format.fixed(100 * Double(rwnd) / Double(busy), 1) + "%)" }
            if sndbuf != 0 {
                o += " sndbuf_limited:\(sndbuf)ms(" + Iperf3Format.fixed(100 * Double(sndbuf) / Double(busy), 1) + "%)"
            }
        }
        if i.unacked != 0 { o += " unacked:\(i.unacked)" }
        if i.retrans != 0 || i.totalRetrans != 0 { o += " retrans:\(i.retrans)/\(i.totalRetrans)" }
        if i.lost != 0 { o += " lost:\(i.lost)" }
        if i.sacked != 0 && !i.isListener { o += " sacked:\(i.sacked)" }
        if i.dsackDups != 0 { o += " dsack_dups:\(i.dsackDups)" }
        if i.reordering != 3 { o += " reordering:\(i.reordering)" }
        if i.reordSeen != 0 { o += " reord_seen:\(i.reordSeen)" }
        if i.rcvRtt != .zero { o += " rcv_rtt:" + msG(us(i.rcvRtt)) }
        if i.rcvSpace != 0 { o += " rcv_space:\(i.rcvSpace)" }
        if i.rcvSsthresh != 0 { o += " rcv_ssthresh:\(i.rcvSsthresh)" }
        if i.notsentBytes != 0 { o += " notsent:\(i.notsentBytes)" }
        if let m = i.minRtt, m != .zero { o += " minrtt:" + msG(us(m)) }
        if i.rcvOoopack != 0 { o += " rcv_ooopack:\(i.rcvOoopack)" }
        if i.sndWnd != 0 { o += " snd_wnd:\(i.sndWnd)" }
        return o
    }

    /// misc/ss.c sprint_bw(): "%.0f" with -n, else three significant
    /// digits and a k/M/G/T suffix.
    static func bandwidth(_ bw: Double, numeric: Bool) -> String {
        if numeric {
            let r = bw.rounded(.toNearestOrEven)
            return r < 9.2e18 ? String(Int64(r)) : CFormat.g(r, precision: 19)
        }
        if bw >= 1e12 { return CFormat.g(bw / 1e12, precision: 3) + "T" }
        if bw >= 1e9 { return CFormat.g(bw / 1e9, precision: 3) + "G" }
        if bw >= 1e6 { return CFormat.g(bw / 1e6, precision: 3) + "M" }
        if bw >= 1e3 { return CFormat.g(bw / 1e3, precision: 3) + "k" }
        return CFormat.g(bw)
    }

    /// misc/ss.c print_ms_timer(): "1min30sec", "51sec", "1.234ms", "200ms".
    static func msTimer(_ timeout: Int) -> String {
        var secs = timeout / 1000
        let minutes = secs / 60
        secs %= 60
        var msecs = timeout % 1000
        var out = ""
        if minutes != 0 {
            msecs = 0
            out += "\(minutes)min"
            if minutes > 9 { secs = 0 }
        }
        if secs != 0 {
            if secs > 9 { msecs = 0 }
            out += "\(secs)" + (msecs != 0 ? "." : "sec")
        }
        if msecs != 0 {
            let m = String(msecs)
            out += String(repeating: "0", count: 3 - m.count) + m + "ms"
        }
        return out
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
    static func render(_ rows: [[String?]], lastRowIsSocket: Bool = false) -> String {
        guard let first = rows.first else { return "" }
        let n = first.count
        let delimiters = ["", " ", " ", " ", " ", "", " ", "", "", ""]
        let rightAligned: Set<Int> = [4, 6]
        var width = [Int](repeating: 0, count: n)
        var isFirst = true
        for c in 0..<n where first[c] != nil {
            // ss flushes a field (and measures it) when the next one starts:
            // the last socket's Process and ext fields never are.
            let measured = c >= 8 && lastRowIsSocket ? rows.dropLast() : rows[...]
            let maxLen = measured.map { $0[c]?.utf8.count ?? 0 }.max() ?? 0
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
