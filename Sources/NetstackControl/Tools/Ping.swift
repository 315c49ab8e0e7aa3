// `ping` (iputils 20221126, as on Debian 12) as a process stepped in
// virtual time, over the stack's ICMP datagram ("ping") socket.
// Kernel/userspace counterparts: iputils ping/ping.c (ping4_run, option
// parsing, pr_icmph), ping/ping6_common.c (ping6_run, print_icmp),
// ping/ping_common.c (pinger, main_loop, gather_statistics, finish).
//
// The schedule is iputils': probes at start + k·interval; after the last
// of -c N the process lingers 2·max RTT (at least one interval) if any
// reply came, else -W (default 10 s); -w ends it at start + deadline and
// keeps sending until N replies. RTTs are virtual time in microseconds,
// printed with iputils' rounding; the summary's `time` runs from start to
// the last probe sent. Output is always numeric (-n).
import Netstack
import NetWire

public final class PingProcess {
    // Options.
    private var count = 0               // -c (0: unlimited)
    private var intervalMs = 1000       // -i
    private var dataLength = 56         // -s
    private var ttl: Int?               // -t
    private var lingerMs = 10_000       // -W
    private var deadline = 0            // -w (seconds)
    private var device: String?         // -I DEV
    private var strictSource: IPAddress?  // -I ADDR
    /// -M do|want|dont (IP_MTU_DISCOVER); nil: the socket's default (want).
    private var pmtu: IPPMTUDiscovery?
    private var pmtuDo: Bool { pmtu == .do }
    private var quiet = false           // -q
    private var family: Int = 0         // 4, 6 or 0
    private var target = ""
    private var pendingFailure: CommandResult?
    private var warnings = ""

    public unowned let namespace: NetworkNamespace

    // Run state (struct ping_rts).
    private var started = false
    public private(set) var exitStatus: Int32?
    private var socket: PingSocket?
    private var whereto: IPAddress = .v4(.init(rawValue: 0))
    private var isIPv6 = false
    private var timing = true
    private var startTime = Instant.zero
    private var lastSend = Instant.zero
    private var nextSend = Instant.zero
    private var exitAt: Instant?
    private var deadlineAt: Instant?
    private var ntransmitted = 0, nreceived = 0, nrepeats = 0, nerrors = 0
    private var tmin = Int64.max, tmax: Int64 = 0, tsum: Int64 = 0, tsum2: Double = 0
    private var pipesize = 1
    private var acked: UInt16 = 0
    private var received = [UInt64](repeating: 0, count: 1024)   // rcvd_tbl: one bit per sequence
    private var sentAt = [Int64](repeating: 0, count: 65536)     // µs, by sequence
    private var localErrorMTU = 0
    /// After a local send error, main_loop's poll runs to the next probe
    /// time before the exit conditions are checked again.
    private var errorHoldUntil: Instant?

    public init(argv: [String], namespace: NetworkNamespace) {
        self.namespace = namespace
        parse(argv)
    }

    // MARK: options (getopt "h?4bRT:6F:N:aABc:CdDe:fi:I:l:Lm:M:nOp:qQ:rs:S:t:UvVw:W:")

    private func parse(_ argv: [String]) {
        let withArg: Set<Character> = ["T", "F", "N", "c", "e", "i", "I", "l", "m", "M", "p", "Q", "s", "S", "t", "w", "W"]
        let flags: Set<Character> = ["h", "?", "4", "b", "R", "6", "a", "A", "B", "C", "d", "D", "f", "L", "n", "O", "q", "r", "U", "v", "V"]
        var operands: [String] = []
        func fail(_ m: String, _ status: Int32) { if pendingFailure == nil { pendingFailure = .failure(m, status: status) } }
        func long(_ s: String, _ min: Int64, _ max: Int64) -> Int? {
            guard let v = CNumber.strtol(Substring(s)), !s.isEmpty, !s.hasPrefix(" ") else {
                fail("ping: invalid argument: '\(s)'", 1); return nil
            }
            guard v >= min, v <= max else {
                fail("ping: invalid argument: '\(s)': out of range: \(min) <= value <= \(max)", 1); return nil
            }
            return Int(v)
        }
        func double(_ s: String, _ what: String) -> Double? {
            if let v = CNumber.strtod(s) { return v }
            // strtod's prefix; the rest is "garbage" (a warning, for now, in iputils).
            let prefix = String(s.prefix { $0.isNumber || $0 == "." })
            let rest = String(s.dropFirst(prefix.count))
            guard !s.isEmpty else { fail("ping: \(what): \(s)", 2); return nil }
            warnings += "ping: option argument contains garbage: \(rest)\nping: this will become fatal error in the future\n"
            return Double(prefix) ?? 0
        }
        for item in OptionScanner.scan(argv.dropFirst(), withArgument: withArg, flags: flags) {
            switch item {
            case .operand(let o): operands.append(o)
            case .unknown(let c): fail("ping: invalid option -- '\(c)'\n" + Self.usage, 2)
            case .missingArgument(let c): fail("ping: option requires an argument -- '\(c)'\n" + Self.usage, 2)
            case .flag(let c, let arg):
                let a = arg ?? ""
                switch c {
                case "4":
                    if family == 6 { fail("ping: only one -4 or -6 option may be specified", 2) }
                    family = 4
                case "6":
                    if family == 4 { fail("ping: only one -4 or -6 option may be specified", 2) }
                    family = 6
                case "c": if let v = long(a, 1, Int64.max) { count = v }
                case "i":
                    if let v = double(a, "bad timing interval") {
                        if v > Double(Int32.max) / 1000 { fail("ping: bad timing interval: \(a)", 2) } else { intervalMs = Int(v * 1000) }
                    }
                case "W":
                    if let v = double(a, "bad linger time") {
                        if v < 0 || v > Double(Int32.max) / 1000 { fail("ping: bad linger time: \(a)", 2) } else { lingerMs = Int(v * 1000) }
                    }
                case "w": if let v = long(a, 0, Int64(Int32.max)) { deadline = v }
                case "s": if let v = long(a, 0, Int64(Int32.max)) { dataLength = v }
                case "t": if let v = long(a, 0, 255) { ttl = v }
                case "M":
                    switch a {
                    case "do": pmtu = .do
                    case "want": pmtu = .want
                    case "dont": pmtu = .dont
                    default: fail("ping: invalid -M argument: \(a)", 2)
                    }
                case "I":
                    if a.contains(":") {
                        guard let x = IPAddress(a), x.isIPv6 else { fail("ping: invalid source address: \(a)", 2); break }
                        strictSource = x
                    } else if let x = Self.inetAton(a) {
                        strictSource = .v4(x)
                    } else {
                        device = a
                    }
                case "q": quiet = true
                case "h", "?": fail(Self.usage, 2)
                case "V": if pendingFailure == nil { pendingFailure = CommandResult(stdout: "ping from iputils 20221126\n") }
                default: break  // accepted, no effect here (-n is always on)
                }
            }
        }
        if operands.isEmpty { fail("ping: usage error: Destination address required", 1) }
        if operands.count > 1 { fail(Self.usage, 2) }  // source routes are not supported
        target = operands.last ?? ""
    }

    // MARK: the process

    public func poll(now: Instant, output: inout ToolOutput) -> ToolState {
        if let s = exitStatus { return .exited(s) }
        if !started {
            started = true
            if !start(now: now, output: &output) { return .exited(exitStatus ?? 2) }
        }
        collect(output: &output)
        var rounds = 0
        while rounds < 1024 {
            rounds += 1
            if exitDue(now) {
                finish(output: &output)
                return .exited(exitStatus!)
            }
            guard sending, now >= nextSend else { break }
            let errorsBefore = nerrors
            sendProbe(now: now, output: &output)
            // A local error is read inside pinger(); main_loop then polls
            // until the next probe is due before it checks the exit
            // conditions again.
            if nerrors != errorsBefore {
                errorHoldUntil = nextSend
                break
            }
        }
        var wake: Instant? = sending ? nextSend : nil
        for t in [exitAt, deadlineAt, errorHoldUntil] { if let t, wake.map({ t < $0 }) ?? true { wake = t } }
        return .running(wakeAt: wake)
    }

    /// SIGINT: the statistics, then exit.
    public func terminate(now: Instant, output: inout ToolOutput) {
        guard exitStatus == nil else { return }
        guard started, socket != nil else { exitStatus = 130; return }
        collect(output: &output)
        finish(output: &output)
    }

    private var sending: Bool { !(count > 0 && ntransmitted >= count && deadline == 0) }

    private func exitDue(_ now: Instant) -> Bool {
        if let d = deadlineAt, now >= d { return true }
        if let e = exitAt, now >= e { return true }
        if let h = errorHoldUntil, now < h { return false }
        if count > 0 && nreceived + nerrors >= count { return true }
        if deadline > 0 && nerrors > 0 { return true }
        return false
    }

    private func fail(_ message: String, _ status: Int32, _ output: inout ToolOutput) -> Bool {
        output.stderr += message.hasSuffix("\n") ? message : message + "\n"
        exitStatus = status
        return false
    }

    private func start(now: Instant, output: inout ToolOutput) -> Bool {
        output.stderr += warnings
        if let f = pendingFailure {
            output.stdout += f.stdout
            output.stderr += f.stderr
            exitStatus = f.status
            return false
        }
        // getaddrinfo(): numeric hosts only (a lab has no resolver).
        var address: IPAddress?
        if let a = Self.inetAton(target) {
            address = .v4(a)
        } else if let a = IPAddress(target), a.isIPv6 {
            address = a
        }
        guard var dst = address else { return fail("ping: \(target): Name or service not known", 2, &output) }
        if (family == 4 && dst.isIPv6) || (family == 6 && !dst.isIPv6) {
            return fail("ping: \(target): Address family for hostname not supported", 2, &output)
        }
        if case .v4(let a) = dst, a.isUnspecified { dst = .v4(IPv4Address(127, 0, 0, 1)) }
        isIPv6 = dst.isIPv6
        whereto = dst
        var ifindex: Int32 = 0
        if let name = device {
            guard let d = namespace.device(named: name) else {
                return fail(isIPv6 ? "ping: unknown iface: \(name)" : "ping: SO_BINDTODEVICE \(name): No such device", 2, &output)
            }
            ifindex = d.ifindex
        }
        var source = strictSource
        if let s = source {
            guard s.isIPv6 == isIPv6, namespace.isLocal(s) else {
                return fail(isIPv6 ? "ping: bind icmp socket: Cannot assign requested address"
                                   : "ping: bind: Cannot assign requested address", 2, &output)
            }
        } else {
            // The probe: a UDP socket connected to port 1025 gives the source address.
            let probe = namespace.udpSocket(ipv6: isIPv6)
            probe.boundDevice = ifindex
            defer { probe.close() }
            do {
                try probe.connect(dst, port: 1025)
            } catch let e {
                if e == .EACCES && !isIPv6 {
                    return fail("ping: Do you want to ping broadcast? Then -b. If not, check your local firewall rules", 2, &output)
                }
                return fail("ping: connect: \(e.message)", 2, &output)
            }
            source = probe.localAddress
            if let name = device, let d = namespace.device(named: name),
               !d.addresses.contains(where: { $0.address == source }) {
                output.stderr += "ping: Warning: source address might be selected on device other than: \(name)\n"
            }
        }
        let s = namespace.pingSocket(ipv6: isIPv6)
        s.boundDevice = ifindex
        if let t = ttl { s.ttl = UInt8(t) }
        if let pmtu { s.pmtuDiscovery = pmtu }
        s.sourceAddress = strictSource
        socket = s
        timing = dataLength >= 16
        localErrorMTU = pathMTU(source: source)
        let from = (device != nil || strictSource != nil) ? "from \(source.map { "\($0)" } ?? "") \(device ?? ""): " : ""
        if isIPv6 {
            output.stdout += "PING \(target)(\(dst)) \(from)\(dataLength) data bytes\n"
        } else {
            output.stdout += "PING \(target) (\(dst)) \(from)\(dataLength)(\(dataLength + 28)) bytes of data.\n"
        }
        startTime = now
        nextSend = now
        if deadline > 0 { deadlineAt = now + .seconds(Int64(deadline)) }
        return true
    }

    /// The MTU ip_local_error reports for -M do: a learned PMTU, else the
    /// MTU of the device the source address lives on (loopback for a local
    /// destination).
    private func pathMTU(source: IPAddress?) -> Int {
        var mtu = 1500
        if namespace.isLocal(whereto) {
            mtu = namespace.loopback.mtu
        } else if let name = device, let d = namespace.device(named: name) {
            mtu = d.mtu
        } else if let d = namespace.devices.first(where: { $0.addresses.contains { $0.address == source } }) {
            mtu = d.mtu
        }
        return mtu
    }

    private func sendProbe(now: Instant, output: inout ToolOutput) {
        guard let s = socket else { return }
        let seq = UInt16(truncatingIfNeeded: ntransmitted + 1)
        received[Int(seq) >> 6] &= ~(1 << UInt64(seq & 63))
        sentAt[Int(seq)] = now.nanoseconds / 1000
        lastSend = now
        do {
            try s.sendEcho(to: whereto, sequence: seq, dataLength: dataLength)
        } catch let e {
            // A local error is queued only when DF forbids fragmenting (ip_local_error);
            // other send failures are silent in iputils (the probe still counts).
            if e == .EMSGSIZE && pmtuDo && dataLength + 8 <= 0xFFFF {
                let mtu = min(localErrorMTU, namespace.pmtu.mtu(for: whereto, now: now) ?? Int.max)
                nerrors += 1
                if !quiet {
                    output.stderr += isIPv6 ? "ping: local error: message too long, mtu: \(mtu)\n"
                                            : "ping: local error: message too long, mtu=\(mtu)\n"
                }
            }
        }
        advanceTransmitted()
        nextSend = now + .milliseconds(Int64(max(intervalMs, intervalMs == 0 ? 10 : 0)))
        if !sending && exitAt == nil {
            // __schedule_exit(): linger 2·tmax (≥ interval) after a reply, else -W.
            var waitUs: Int64
            if nreceived > 0 {
                waitUs = max(2 * tmax, Int64(intervalMs) * 1000)
            } else {
                waitUs = Int64(lingerMs) * 1000
            }
            if waitUs < 0 { waitUs = 0 }
            exitAt = now + .microseconds(waitUs)
        }
    }

    private func advanceTransmitted() {
        ntransmitted += 1
        if UInt16(truncatingIfNeeded: ntransmitted) &- acked > 0x7FFF {
            acked = UInt16(truncatingIfNeeded: ntransmitted) &+ 1
        }
    }

    private func acknowledge(_ seq: UInt16) {
        let diff = UInt16(truncatingIfNeeded: ntransmitted) &- seq
        if diff <= 0x7FFF {
            if Int(diff) + 1 > pipesize { pipesize = Int(diff) + 1 }
            if Int16(bitPattern: seq &- acked) > 0 || UInt16(truncatingIfNeeded: ntransmitted) &- acked > 0x7FFF {
                acked = seq
            }
        }
    }

    private func collect(output: inout ToolOutput) {
        guard let s = socket else { return }
        var n = 0
        while n < 65536, let r = s.takeReply() {
            n += 1
            reply(r, output: &output)
        }
        while n < 131072, let e = s.takeError() {
            n += 1
            error(e, output: &output)
        }
    }

    /// gather_statistics(): count, time and print one reply.
    private func reply(_ r: EchoReply, output: inout ToolOutput) {
        let seq = r.sequence
        nreceived += 1
        acknowledge(seq)
        var triptime: Int64 = 0
        if timing {
            triptime = max(0, r.receivedAt.nanoseconds / 1000 - sentAt[Int(seq)])
            tsum += triptime
            tsum2 += Double(triptime) * Double(triptime)
            tmin = min(tmin, triptime)
            tmax = max(tmax, triptime)
        }
        let bit: UInt64 = 1 << UInt64(seq & 63)
        var dup = false
        if received[Int(seq) >> 6] & bit != 0 {
            nrepeats += 1
            nreceived -= 1
            dup = true
        } else {
            received[Int(seq) >> 6] |= bit
        }
        if quiet { return }
        let cc = r.dataLength + 8
        var line = "\(cc) bytes from \(r.from): icmp_seq=\(seq) ttl=\(r.ttl)"
        if cc < dataLength + 8 {
            output.stdout += line + " (truncated)\n"
            return
        }
        if timing { line += " time=" + Self.formatRTT(triptime) }
        if dup && !whereto.isMulticast { line += " (DUP!)" }
        if r.from != whereto && !whereto.isMulticast { line += " (DIFFERENT ADDRESS!)" }
        output.stdout += line + "\n"
    }

    /// ping4/6_receive_error_msg() for an ICMP error about one of our probes.
    private func error(_ e: SocketError, output: inout ToolOutput) {
        if !isIPv6 { acknowledge(e.quotedSequence) }
        nerrors += 1
        if quiet { return }
        let text = isIPv6 ? Self.icmp6Text(e.type, e.code, e.info) : Self.icmpText(e.type, e.code, e.info)
        output.stdout += "From \(e.from) icmp_seq=\(e.quotedSequence) \(text)\n"
    }

    /// finish(): the statistics block and the exit status.
    private func finish(output: inout ToolOutput) {
        let elapsed = lastSend - startTime
        let ns = max(0, elapsed.nanoseconds)
        let ms = (ns / 1_000_000_000) * 1000 + (ns % 1_000_000_000 + 500_000) / 1_000_000
        var s = "\n--- \(target) ping statistics ---\n"
        s += "\(ntransmitted) packets transmitted, \(nreceived) received"
        if nrepeats > 0 { s += ", +\(nrepeats) duplicates" }
        if nerrors > 0 { s += ", +\(nerrors) errors" }
        if ntransmitted > 0 {
            let loss = Float(Double(ntransmitted - nreceived) * 100.0 / Double(ntransmitted))
            s += ", \(Self.formatG(loss))% packet loss, time \(ms)ms"
        }
        s += "\n"
        var comma = ""
        if nreceived > 0 && timing {
            let total = Int64(nreceived + nrepeats)
            let avg = tsum / total
            let variance: Int64
            if tsum < Int64(Int32.max) {
                variance = Int64((tsum2 - Double((tsum * tsum) / total)) / Double(total))
            } else {
                variance = Int64(tsum2 / Double(total)) - avg * avg
            }
            let mdev = Self.llsqrt(variance)
            func f(_ v: Int64) -> String { "\(v / 1000)." + Self.pad3(v % 1000) }
            s += "rtt min/avg/max/mdev = \(f(tmin))/\(f(avg))/\(f(tmax))/\(f(mdev)) ms"
            comma = ", "
        }
        if pipesize > 1 { s += "\(comma)pipe \(pipesize)" }
        s += "\n"
        output.stdout += s
        exitStatus = (nreceived == 0 || (deadline > 0 && nreceived < count)) ? 1 : 0
        socket?.close()
    }

    // MARK: formatting

    static func pad3(_ v: Int64) -> String {
        v < 10 ? "00\(v)" : (v < 100 ? "0\(v)" : "\(v)")
    }

    /// gather_statistics()'s time=: 3 decimals below 1 ms … none from 100 ms.
    static func formatRTT(_ t: Int64) -> String {
        if t >= 100_000 - 50 { return "\((t + 500) / 1000) ms" }
        if t >= 10_000 - 5 { return "\((t + 50) / 1000).\(((t + 50) % 1000) / 100) ms" }
        if t >= 1000 {
            let f = ((t + 5) % 1000) / 10
            return "\((t + 5) / 1000).\(f < 10 ? "0\(f)" : "\(f)") ms"
        }
        return "\(t / 1000).\(pad3(t % 1000)) ms"
    }

    /// llsqrt(): Newton's integer square root as iputils computes it.
    static func llsqrt(_ a: Int64) -> Int64 {
        var prev = Int64.max
        var x = a
        if x > 0 {
            var rounds = 0
            while x < prev && rounds < 200 {
                prev = x
                x = (x + a / x) / 2
                rounds += 1
            }
        }
        return x
    }

    /// printf("%g") for a packet-loss percentage (0…100): six significant digits.
    static func formatG(_ value: Float) -> String {
        let v = Double(value)
        if v == 0 { return "0" }
        var exponent = 0
        var m = abs(v)
        while m >= 10 { m /= 10; exponent += 1 }
        while m < 1 { m *= 10; exponent -= 1 }
        var decimals = max(0, 5 - exponent)
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        var digits = Int64((abs(v) * scale).rounded(.toNearestOrEven))
        // Rounding may carry into a seventh digit (99.99995 → 100): one decimal fewer.
        if String(digits).count > 6 && decimals > 0 {
            decimals -= 1
            scale /= 10
            digits = Int64((abs(v) * scale).rounded(.toNearestOrEven))
        }
        var text = String(digits)
        if decimals > 0 {
            while text.count <= decimals { text = "0" + text }
            let cut = text.index(text.endIndex, offsetBy: -decimals)
            var frac = String(text[cut...])
            while frac.hasSuffix("0") { frac.removeLast() }
            text = String(text[..<cut]) + (frac.isEmpty ? "" : "." + frac)
        }
        return (v < 0 ? "-" : "") + text
    }

    /// pr_icmph() for IPv4.
    static func icmpText(_ type: UInt8, _ code: UInt8, _ info: UInt32) -> String {
        switch type {
        case 0: return "Echo Reply"
        case 3:
            switch code {
            case 0: return "Destination Net Unreachable"
            case 1: return "Destination Host Unreachable"
            case 2: return "Destination Protocol Unreachable"
            case 3: return "Destination Port Unreachable"
            case 4: return "Frag needed and DF set (mtu = \(info))"
            case 5: return "Source Route Failed"
            case 6: return "Destination Net Unknown"
            case 7: return "Destination Host Unknown"
            case 8: return "Source Host Isolated"
            case 9: return "Destination Net Prohibited"
            case 10: return "Destination Host Prohibited"
            case 11: return "Destination Net Unreachable for Type of Service"
            case 12: return "Destination Host Unreachable for Type of Service"
            case 13: return "Packet filtered"
            case 14: return "Precedence Violation"
            case 15: return "Precedence Cutoff"
            default: return "Dest Unreachable, Bad Code: \(code)"
            }
        case 4: return "Source Quench"
        case 5:
            let kind: String
            switch code {
            case 0: kind = "Redirect Network"
            case 1: kind = "Redirect Host"
            case 2: kind = "Redirect Type of Service and Network"
            case 3: kind = "Redirect Type of Service and Host"
            default: kind = "Redirect, Bad Code: \(code)"
            }
            return kind + "(New nexthop: \(IPv4Address(rawValue: info)))"
        case 8: return "Echo Request"
        case 11:
            switch code {
            case 0: return "Time to live exceeded"
            case 1: return "Frag reassembly time exceeded"
            default: return "Time exceeded, Bad Code: \(code)"
            }
        case 12: return "Parameter problem: pointer = \(info)"
        case 13: return "Timestamp"
        case 14: return "Timestamp Reply"
        case 15: return "Information Request"
        case 16: return "Information Reply"
        case 17: return "Address Mask Request"
        case 18: return "Address Mask Reply"
        default: return "Bad ICMP type: \(type)"
        }
    }

    /// print_icmp() for ICMPv6.
    static func icmp6Text(_ type: UInt8, _ code: UInt8, _ info: UInt32) -> String {
        switch type {
        case 1:
            let why: String
            switch code {
            case 0: why = "No route"
            case 1: why = "Administratively prohibited"
            case 2: why = "Beyond scope of source address"
            case 3: why = "Address unreachable"
            case 4: why = "Port unreachable"
            default: why = "Unknown code \(code)"
            }
            return "Destination unreachable: " + why
        case 2: return "Packet too big: mtu=\(info)" + (code != 0 ? ", code=\(code)" : "")
        case 3:
            switch code {
            case 0: return "Time exceeded: Hop limit"
            case 1: return "Time exceeded: Defragmentation failure"
            default: return "Time exceeded: code \(code)"
            }
        case 4:
            let what: String
            switch code {
            case 0: what = "Wrong header field "
            case 1: what = "Unknown header "
            case 2: what = "Unknown option "
            default: what = "code \(code) "
            }
            return "Parameter problem: " + what + "at \(info)"
        case 128: return "Echo request"
        case 129: return "Echo reply"
        case 130: return "MLD Query"
        case 131: return "MLD Report"
        case 132: return "MLD Reduction"
        default: return "unknown icmp type: \(type)"
        }
    }

    /// inet_aton(3): 1 to 4 parts, each decimal, 0x-hex or 0-octal; the last
    /// part fills the remaining bytes.
    static func inetAton(_ s: String) -> IPv4Address? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...4).contains(parts.count) else { return nil }
        var values: [UInt64] = []
        for p in parts {
            guard !p.isEmpty, p.first!.isNumber, let v = CNumber.strtol(p, base: 0), v >= 0, v <= 0xFFFF_FFFF else { return nil }
            values.append(UInt64(v))
        }
        var result: UInt64 = 0
        for (i, v) in values.enumerated() {
            if i < values.count - 1 {
                guard v <= 0xFF else { return nil }
                result |= v << UInt64(24 - 8 * i)
            } else {
                let bits = UInt64(32 - 8 * i)
                guard bits == 32 || v < (1 << bits) else { return nil }
                result |= v
            }
        }
        return IPv4Address(rawValue: UInt32(result))
    }

    static let usage = """

        Usage
          ping [options] <destination>

        Options:
          <destination>      dns name or ip address
          -a                 use audible ping
          -A                 use adaptive ping
          -B                 sticky source address
          -c <count>         stop after <count> replies
          -C                 call connect() syscall on socket creation
          -D                 print timestamps
          -d                 use SO_DEBUG socket option
          -e <identifier>    define identifier for ping session, default is random for
                             SOCK_RAW and kernel defined for SOCK_DGRAM
                             Imply using SOCK_RAW (for IPv4 only for identifier 0)
          -f                 flood ping
          -h                 print help and exit
          -I <interface>     either interface name or address
          -i <interval>      seconds between sending each packet
          -L                 suppress loopback of multicast packets
          -l <preload>       send <preload> number of packages while waiting replies
          -m <mark>          tag the packets going out
          -M <pmtud opt>     define mtu discovery, can be one of <do|dont|want>
          -n                 no dns name resolution
          -O                 report outstanding replies
          -p <pattern>       contents of padding byte
          -q                 quiet output
          -Q <tclass>        use quality of service <tclass> bits
          -s <size>          use <size> as number of data bytes to be sent
          -S <size>          use <size> as SO_SNDBUF socket option value
          -t <ttl>           define time to live
          -U                 print user-to-user latency
          -v                 verbose output
          -V                 print version and exit
          -w <deadline>      reply wait <deadline> in seconds
          -W <timeout>       time to wait for response

        IPv4 options:
          -4                 use IPv4
          -b                 allow pinging broadcast
          -R                 record route
          -T <timestamp>     define timestamp, can be one of <tsonly|tsandaddr|tsprespec>

        IPv6 options:
          -6                 use IPv6
          -F <flowlabel>     define flow label, default is random
          -N <nodeinfo opt>  use icmp6 node info query, try <help> as argument

        For more details see ping(8).
        """
}
