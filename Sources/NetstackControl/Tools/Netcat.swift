// `nc` (netcat-openbsd 1.219, Debian's default `nc`) as a process stepped
// in virtual time over the stack's TCP and UDP sockets. Userspace
// counterpart: netcat.c (main, local_listen, remote_connect,
// timeout_connect, udptest, readwrite).
//
// TCP client: `nc [-v] [-z] [-N] [-w S] [-q S] [-s SRC] [-p PORT] HOST
// PORT[-PORT] [PORT…]` connects to each port in turn (-w bounds the
// connect), reports "Connection to HOST PORT port [tcp/SERVICE] succeeded!"
// with -v, and (without -z) sends its standard input and prints what
// arrives until the peer closes; -N shuts the write side down after the
// input. Exit status 0 when any connection succeeded.
// TCP listener: `nc -l [-k] [-s ADDR] [-p PORT] | nc -l [ADDR] PORT`
// listens (SO_REUSEADDR, SO_REUSEPORT, backlog 1), serves one connection
// at a time the same way, and exits after the first unless -k.
//
// Client: `nc -u [-s SRC] [-p PORT] [-w S] [-q S] [-z] HOST PORT` connects
// the socket, sends its standard input as one datagram (nothing when
// empty), then prints what the peer sends back. It exits 0 when idle for
// -w seconds, -q seconds after end of input, or at once when the peer
// answers with ICMP port unreachable; without those it runs until ended.
// Listener: `nc -u -l [-k] [-W N] [ADDR] PORT` (or `-p PORT`) prints each
// datagram's bytes (nothing added) and, without -k, connects to the first
// sender (so other senders are then refused by the kernel) and sends its
// own input there.
import Netstack
import NetWire

public final class NetcatProcess {
    public unowned let namespace: NetworkNamespace
    private let input: [UInt8]

    private var listen = false, keep = false, udp = false, scan = false, verbose = false
    private var family = 0
    private var sourceAddress: String?
    private var sourcePort: UInt16?
    private var idleTimeout: Int?      // -w
    private var quitAfterEOF: Int?     // -q
    private var receiveLimit: Int?     // -W
    private var operands: [String] = []
    private var pendingFailure: String?

    private var started = false
    public private(set) var exitStatus: Int32?
    private var socket: UDPSocket?
    // TCP
    private var noSendShutdown = false   // -N
    private var tcpListener: TCPSocket?
    private var tcpConn: TCPSocket?
    private var connectDeadline: Instant?
    private var ports: [(UInt16, String)] = []
    private var portIndex = 0
    private var anyConnected = false
    private var inputSent = 0
    private var inputDone = false
    private var netEOF = false
    private var lastActivity = Instant.zero
    private var eofAt = Instant.zero
    private var netClosed = false
    private var received = 0
    private var probeAt: Instant?      // -z: the second round of writes
    private var hostText = "", portText = ""

    /// `stdin` is the whole of the process's standard input (nc reads it
    /// at once; end of input follows).
    public init(argv: [String], namespace: NetworkNamespace, stdin: [UInt8] = []) {
        self.namespace = namespace
        self.input = stdin
        parse(argv)
    }

    private func parse(_ argv: [String]) {
        let withArg: Set<Character> = ["b", "I", "i", "M", "m", "O", "o", "P", "p", "q", "s", "T", "V", "W", "w", "X", "x", "Z"]
        let flags: Set<Character> = ["4", "6", "C", "c", "D", "d", "F", "h", "k", "l", "N", "n", "r", "S", "t", "U", "u", "v", "z"]
        func fail(_ m: String) { if pendingFailure == nil { pendingFailure = m } }
        func number(_ s: String, _ what: String, _ range: ClosedRange<Int64>) -> Int? {
            guard let v = CNumber.strtol(Substring(s)) else { fail("nc: \(what) is invalid: \(s)"); return nil }
            if v < range.lowerBound { fail("nc: \(what) is too small: \(s)"); return nil }
            if v > range.upperBound { fail("nc: \(what) is too large: \(s)"); return nil }
            return Int(v)
        }
        for item in OptionScanner.scan(argv.dropFirst(), withArgument: withArg, flags: flags) {
            switch item {
            case .operand(let o): operands.append(o)
            case .unknown(let c): fail("nc: invalid option -- '\(c)'\n" + Self.usage)
            case .missingArgument(let c): fail("nc: option requires an argument -- '\(c)'\n" + Self.usage)
            case .flag(let c, let arg):
                let a = arg ?? ""
                switch c {
                case "4": family = 4
                case "6": family = 6
                case "l": listen = true
                case "k": keep = true
                case "u": udp = true
                case "N": noSendShutdown = true
                case "z": scan = true
                case "v": verbose = true
                case "s": sourceAddress = a
                case "p":
                    if let v = Self.port(a) { sourcePort = v } else { fail(Self.portError(a)) }
                case "w": if let v = number(a, "timeout", 0...Int64(Int32.max)) { idleTimeout = v }
                case "q": if let v = number(a, "quit timer", Int64(Int32.min)...Int64(Int32.max)) { quitAfterEOF = v < 0 ? nil : v }
                case "W": if let v = number(a, "receive limit", 1...Int64(Int32.max)) { receiveLimit = v }
                case "h": fail(Self.usage)
                default: break
                }
            }
        }
    }

    static let usage = "usage: nc [-46CDdFhklNnrStUuvZz] [-I length] [-i interval] [-M ttl]\n\t  [-m minttl] [-O length] [-P proxy_username] [-p source_port]\n\t  [-q seconds] [-s sourceaddr] [-T keyword] [-V rtable] [-W recvlimit]\n\t  [-w timeout] [-X proxy_protocol] [-x proxy_address[:port]]\n\t  [destination] [port]"

    static func port(_ s: String) -> UInt16? {
        guard let v = CNumber.strtol(Substring(s)), v >= 1, v <= 65535 else { return nil }
        return UInt16(v)
    }

    static func portError(_ s: String) -> String {
        guard let v = CNumber.strtol(Substring(s)) else { return "nc: port number invalid: \(s)" }
        return v < 1 ? "nc: port number too small: \(s)" : "nc: port number too large: \(s)"
    }

    /// A numeric host of the wanted family, or getaddrinfo's complaint.
    private enum Resolved { case success(IPAddress), failure(String) }

    private func resolve(_ host: String, port: String) -> Resolved {
        guard let a = IPAddress(host) else {
            return .failure("nc: getaddrinfo for host \"\(host)\" port \(port): Name or service not known")
        }
        if (family == 4 && a.isIPv6) || (family == 6 && !a.isIPv6) {
            return .failure("nc: getaddrinfo for host \"\(host)\" port \(port): Address family for hostname not supported")
        }
        return .success(a)
    }

    // MARK: the process

    public func poll(now: Instant, output: inout ToolOutput) -> ToolState {
        if let s = exitStatus { return .exited(s) }
        if !started {
            started = true
            start(now: now, output: &output)
            if let s = exitStatus { return .exited(s) }
        }
        step(now: now, output: &output)
        if let s = exitStatus { return .exited(s) }
        var wake: Instant? = probeAt
        func consider(_ t: Instant) { if wake.map({ t < $0 }) ?? true { wake = t } }
        if !udp {
            if let d = connectDeadline, d != .distantFuture { consider(d) }
            if tcpConn != nil && connectDeadline == nil {
                if let w = idleTimeout { consider(lastActivity + .seconds(Int64(w))) }
                if inputDone, let q = quitAfterEOF { consider(eofAt + .seconds(Int64(q))) }
            }
        } else if !listen {
            if let w = idleTimeout { consider(lastActivity + .seconds(Int64(w))) }
            if let q = quitAfterEOF { consider(eofAt + .seconds(Int64(q))) }
        }
        return .running(wakeAt: wake)
    }

    /// SIGINT: netcat does not catch it; the shell sees 130.
    public func terminate(now: Instant, output: inout ToolOutput) {
        guard exitStatus == nil else { return }
        if started { collect(output: &output) }
        exit(130)
    }

    /// Killed by a signal: its sockets close as the process's files do.
    public func killed() {
        guard exitStatus == nil else { return }
        exit(128)
    }

    private func exit(_ status: Int32) {
        exitStatus = status
        socket?.close()
        tcpConn?.close()
        tcpListener?.close()
    }

    private func failNow(_ message: String, _ output: inout ToolOutput) {
        output.stderr += message + "\n"
        exit(1)
    }

    private func start(now: Instant, output: inout ToolOutput) {
        if let f = pendingFailure { return failNow(f, &output) }
        lastActivity = now
        if !udp { return tcpStart(now: now, output: &output) }
        eofAt = now
        if listen {
            // nc -l [ADDR] PORT, or -p PORT.
            guard let (address, port) = listenEndpoint(&output) else { return }
            let v6 = address?.isIPv6 ?? (family == 6)
            let s = namespace.udpSocket(ipv6: v6)
            socket = s
            do { try s.bind(address.flatMap { $0.isUnspecified ? nil : $0 }, port: port) } catch let e {
                return failNow(e == .EADDRINUSE ? "nc: Address already in use" : "nc: bind failed: \(e.message)", &output)
            }
            return
        }
        guard operands.count >= 2 else {
            return failNow(operands.isEmpty ? Self.usage : "nc: missing port number", &output)
        }
        hostText = operands[0]
        portText = operands[1]
        guard let port = Self.port(portText) else { return failNow(Self.portError(portText), &output) }
        let dst: IPAddress
        switch resolve(hostText, port: portText) {
        case .failure(let m): return failNow(m, &output)
        case .success(let a): dst = a
        }
        let s = namespace.udpSocket(ipv6: dst.isIPv6)
        socket = s
        if sourceAddress != nil || sourcePort != nil {
            var src: IPAddress?
            if let text = sourceAddress {
                guard let a = IPAddress(text), a.isIPv6 == dst.isIPv6 else {
                    return failNow("nc: getaddrinfo: Name or service not known", &output)
                }
                src = a
            }
            do { try s.bind(src, port: sourcePort ?? 0) } catch let e {
                return failNow("nc: bind failed: \(e.message)", &output)
            }
        }
        do { try s.connect(dst, port: port) } catch let e {
            if verbose { output.stderr += "nc: connect to \(hostText) port \(portText) (udp) failed: \(e.message)\n" }
            exit(1)
            return
        }
        if scan {
            // udptest(): write, let the network answer, write again.
            do { try s.send(Array("X".utf8)) } catch { exit(1); return }
            probeAt = now + .milliseconds(1)
            return
        }
        if !input.isEmpty {
            do { try s.send(input) } catch let e {
                output.stderr += "nc: write failed (\(input.count)/\(input.count)): \(e.message)\n"
            }
        }
        if quitAfterEOF == 0 { exit(0) }
    }

    private func step(now: Instant, output: inout ToolOutput) {
        if !udp { return tcpStep(now: now, output: &output) }
        guard let s = socket else { return }
        if let p = probeAt {
            guard now >= p else { return }
            probeAt = nil
            for _ in 0..<3 {
                do { try s.send(Array("X".utf8)) } catch { exit(1); return }
            }
            if verbose { output.stderr += "Connection to \(hostText) \(portText) port [udp/*] succeeded!\n" }
            exit(0)
            return
        }
        if collect(output: &output) { lastActivity = now }
        if exitStatus != nil { return }
        if listen { return }
        // End of input has been reached; a refused peer ends the read side too.
        if netClosed { exit(0); return }
        if let w = idleTimeout, now >= lastActivity + .seconds(Int64(w)) { exit(0); return }
        if let q = quitAfterEOF, now >= eofAt + .seconds(Int64(q)) { exit(0); return }
    }

    /// `nc -l [ADDR] PORT` or `-l -s ADDR -p PORT`: where to listen, or nil
    /// after the failure was reported.
    private func listenEndpoint(_ output: inout ToolOutput) -> (IPAddress?, UInt16)? {
        var host: String? = sourceAddress
        var port = sourcePort
        switch operands.count {
        case 0: break
        case 1:
            guard let p = Self.port(operands[0]) else { failNow(Self.portError(operands[0]), &output); return nil }
            port = p
        default:
            host = operands[0]
            guard let p = Self.port(operands[1]) else { failNow(Self.portError(operands[1]), &output); return nil }
            port = p
        }
        guard let port else { failNow("nc: missing port number", &output); return nil }
        guard let h = host else { return (nil, port) }
        switch resolve(h, port: String(port)) {
        case .failure(let m): failNow(m, &output); return nil
        case .success(let a): return (a, port)
        }
    }

    // MARK: TCP

    private func tcpStart(now: Instant, output: inout ToolOutput) {
        if listen {
            guard let (address, port) = listenEndpoint(&output) else { return }
            // getaddrinfo(NULL, AI_PASSIVE) gives 0.0.0.0 first; -6 gives ::.
            let v6 = address?.isIPv6 ?? (family == 6)
            let s = namespace.tcpSocket(ipv6: v6)
            s.reuseAddress = true
            s.reusePort = true
            tcpListener = s
            do {
                try s.bind(address.flatMap { $0.isUnspecified ? nil : $0 }, port: port)
                try s.listen(backlog: 1)
            } catch let e {
                return failNow(e == .EADDRINUSE ? "nc: Address already in use" : "nc: bind failed: \(e.message)", &output)
            }
            if verbose {
                let shown = address.map { "\($0)" } ?? (v6 ? "::" : "0.0.0.0")
                output.stderr += "Listening on \(shown) \(port)\n"
            }
            return
        }
        guard operands.count >= 2 else {
            return failNow(operands.isEmpty ? Self.usage : "nc: missing port number", &output)
        }
        hostText = operands[0]
        for text in operands.dropFirst() {
            // build_ports(): PORT or LOW-HIGH.
            let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.count == 2 {
                guard let lo = Self.port(String(parts[0])) else { return failNow(Self.portError(String(parts[0])), &output) }
                guard let hi = Self.port(String(parts[1])) else { return failNow(Self.portError(String(parts[1])), &output) }
                for p in min(lo, hi)...max(lo, hi) { ports.append((p, String(p))) }
            } else {
                guard let p = Self.port(text) else { return failNow(Self.portError(text), &output) }
                ports.append((p, text))
            }
        }
        switch resolve(hostText, port: ports[0].1) {
        case .failure(let m): return failNow(m, &output)
        case .success: break
        }
        tcpNextConnect(now: now, output: &output)
    }

    /// remote_connect() for the next port; exits when the list is done.
    private func tcpNextConnect(now: Instant, output: inout ToolOutput) {
        while portIndex < ports.count {
            let (port, text) = ports[portIndex]
            portText = text
            guard case .success(let dst) = resolve(hostText, port: text) else { exit(1); return }
            let s = namespace.tcpSocket(ipv6: dst.isIPv6)
            tcpConn = s
            if sourceAddress != nil || sourcePort != nil {
                var src: IPAddress?
                if let t = sourceAddress {
                    guard let a = IPAddress(t), a.isIPv6 == dst.isIPv6 else {
                        return failNow("nc: getaddrinfo: Name or service not known", &output)
                    }
                    src = a
                }
                s.reuseAddress = true
                do { try s.bind(src, port: sourcePort ?? 0) } catch let e {
                    return failNow("nc: bind failed: \(e.message)", &output)
                }
            }
            do throws(Errno) {
                try s.connect(dst, port: port)
            } catch {
                if error == .EINPROGRESS {
                    connectDeadline = idleTimeout.map { now + .seconds(Int64($0)) } ?? .distantFuture
                    return
                }
                tcpConnectFailed(error, output: &output)
                continue
            }
        }
        exit(anyConnected ? 0 : 1)
    }

    private func tcpConnectFailed(_ e: Errno, output: inout ToolOutput) {
        if verbose { output.stderr += "nc: connect to \(hostText) port \(portText) (tcp) failed: \(e.message)\n" }
        tcpConn?.close()
        tcpConn = nil
        connectDeadline = nil
        portIndex += 1
    }

    private func tcpStep(now: Instant, output: inout ToolOutput) {
        var rounds = 0
        while exitStatus == nil && rounds < 64 {
            rounds += 1
            if let l = tcpListener, tcpConn == nil {
                guard let c = try? l.accept() else { return }
                tcpConn = c
                lastActivity = now
                if verbose, let a = c.remoteAddress {
                    output.stderr += "Connection received on \(a) \(c.remotePort)\n"
                }
                continue
            }
            guard let c = tcpConn else { return }
            if let deadline = connectDeadline {
                if let e = c.error {
                    tcpConnectFailed(e, output: &output)
                    tcpNextConnect(now: now, output: &output)
                    continue
                }
                if !c.isConnected {
                    if now >= deadline {
                        tcpConnectFailed(.ETIMEDOUT, output: &output)
                        tcpNextConnect(now: now, output: &output)
                        continue
                    }
                    return
                }
                connectDeadline = nil
                anyConnected = true
                lastActivity = now
                if verbose {
                    output.stderr += "Connection to \(hostText) \(portText) port [tcp/\(Self.service(ports[portIndex].0))] succeeded!\n"
                }
                if scan {
                    c.close()
                    tcpConn = nil
                    portIndex += 1
                    tcpNextConnect(now: now, output: &output)
                    continue
                }
            }
            if !tcpReadWrite(c, now: now, output: &output) { return }
        }
    }

    /// One pass of readwrite(): input to the network, the network to
    /// stdout. True when the connection is finished (and was closed).
    private func tcpReadWrite(_ c: TCPSocket, now: Instant, output: inout ToolOutput) -> Bool {
        // The input is there at once; it goes as the send buffer allows.
        // A listener that already served a connection has no input left.
        var writeFailed = false
        while !inputDone {
            if inputSent >= input.count {
                inputDone = true
                eofAt = now
                if noSendShutdown { try? c.shutdown(.write) }
                break
            }
            let r: Result<Int, Errno> = input[inputSent...].withUnsafeBytes { b in
                do throws(Errno) { return .success(try c.send(b)) } catch { return .failure(error) }
            }
            switch r {
            case .success(let n):
                inputSent += n
                lastActivity = now
                continue
            case .failure(let e) where e == .EAGAIN:
                break
            case .failure:
                writeFailed = true
                inputDone = true
            }
            break
        }
        var n = 0
        while !netEOF && n < 4096 {
            n += 1
            do throws(Errno) {
                let chunk = try c.receive(max: 65536)
                if chunk.isEmpty { netEOF = true; break }
                output.stdoutBytes += chunk
                lastActivity = now
            } catch {
                if error == .EAGAIN { break }
                netEOF = true
            }
        }
        var finished = (netEOF && inputDone) || writeFailed
        if let w = idleTimeout, now >= lastActivity + .seconds(Int64(w)) { finished = true }
        if inputDone, let q = quitAfterEOF, now >= eofAt + .seconds(Int64(q)) { finished = true }
        guard finished else { return false }
        c.close()
        tcpConn = nil
        if listen {
            if keep {
                // The next client gets no input: it went to the first.
                netEOF = false
                return true
            }
            exit(0)
            return true
        }
        portIndex += 1
        netEOF = false
        tcpNextConnect(now: now, output: &output)
        return true
    }

    /// getservbyport(): the names /etc/services gives the common TCP ports.
    static func service(_ port: UInt16) -> String {
        switch port {
        case 7: "echo"
        case 9: "discard"
        case 13: "daytime"
        case 21: "ftp"
        case 22: "ssh"
        case 23: "telnet"
        case 25: "smtp"
        case 53: "domain"
        case 80: "http"
        case 110: "pop3"
        case 143: "imap2"
        case 443: "https"
        default: "*"
        }
    }

    /// Prints every queued datagram; true when any arrived.
    @discardableResult
    private func collect(output: inout ToolOutput) -> Bool {
        guard let s = socket, !netClosed else { return false }
        var any = false
        var n = 0
        while n < 65536 {
            n += 1
            let d: Datagram?
            do { d = try s.receive() } catch {
                netClosed = true
                break
            }
            guard let d else { break }
            any = true
            output.stdoutBytes += d.payload
            received += 1
            if listen && !keep && !s.isConnected {
                // The first sender becomes the peer; our input goes to it.
                try? s.connect(d.source, port: d.sourcePort)
                if !input.isEmpty { try? s.send(input) }
            }
            if let limit = receiveLimit, received >= limit { exit(0); return true }
        }
        return any
    }
}
