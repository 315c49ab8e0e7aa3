// `serve`: the small services inetd used to run itself, as a lab process.
// Not a Linux command: it stands in for inetd's internal services (and a
// tiny web server) so that a lab or the conformance suite
// (../shared/conformance/netstack-sut.sh) has peers to talk to.
// Userspace counterparts: inetd's builtins (echo_stream, discard_stream,
// chargen_stream and their _dg twins).
//
//   serve [--udp] [--nodelay] [--gso SIZE] echo|discard|chargen|http|crr [PORT]
//
// - echo (RFC 862, port 7): TCP sends back what arrives and closes its
//   side once the client has closed its own and everything was echoed;
//   UDP sends each datagram back to its sender.
// - discard (RFC 863, port 9): reads and drops.
// - chargen (RFC 864, port 19): TCP sends the rotating 72-character line
//   pattern as fast as the send buffer takes it, until the client goes;
//   UDP answers each datagram with one datagram of the pattern.
// - http (port 80, TCP only): answers each GET (or HEAD) with
//   `HTTP/1.1 200 OK`, a Content-Length and a short body; HTTP/1.0 and
//   `Connection: close` requests are closed after the response, HTTP/1.1
//   ones kept alive.
// - crr (port 5004, TCP only): reads one byte, writes it back and closes
//   (the server closes first): the connect/request/response workload of
//   netperf's TCP_CRR and of the peers harness (../shared/peers, whose
//   contract also maps sink, source and echo to discard, chargen and echo
//   on ports 5001-5003).
// - --nodelay sets TCP_NODELAY on every accepted connection, as the
//   peers harness's reference server does.
// - --gso SIZE sets UDP_SEGMENT on the UDP sockets: a reply longer than
//   SIZE leaves as one GSO packet of SIZE-byte datagrams (UDP only).
//
// It listens on every address, IPv4 and IPv6 (two sockets, the IPv6 one
// v6-only), serves any number of clients at once, and runs until killed
// or the lab ends.
import Netstack
import NetWire

public final class ServeProcess {
    public enum Service: String, Sendable, CaseIterable {
        case echo, discard, chargen, http, crr

        var defaultPort: UInt16 {
            switch self {
            case .echo: 7
            case .discard: 9
            case .chargen: 19
            case .http: 80
            case .crr: 5004
            }
        }
    }

    public unowned let namespace: NetworkNamespace
    public private(set) var service: Service = .echo
    public private(set) var port: UInt16 = 0
    public private(set) var udp = false
    public private(set) var noDelay = false
    /// --gso: UDP_SEGMENT for the UDP sockets (0: none).
    public private(set) var segmentSize = 0
    public private(set) var exitStatus: Int32?
    private var pendingFailure: String?
    private var pendingHelp = false
    private var started = false

    private var listeners: [TCPSocket] = []
    private var datagramSockets: [UDPSocket] = []
    private var clients: [Client] = []
    /// Where discard and echo read to (one buffer for every connection).
    private var scratch = [UInt8](repeating: 0, count: 65_536)

    /// One accepted connection.
    private final class Client {
        let socket: TCPSocket
        /// Bytes waiting for send-buffer space.
        var outbox: [UInt8] = []
        var outboxHead = 0
        /// The client closed its side (read returned 0).
        var peerClosed = false
        /// Close once the outbox is empty.
        var closing = false
        /// http: the request bytes read so far.
        var request: [UInt8] = []

        init(_ s: TCPSocket) { socket = s }

        var pending: Int { outbox.count - outboxHead }
    }

    public static let usage = """
        usage: serve [--udp] [--nodelay] [--gso SIZE] echo|discard|chargen|http|crr [PORT]
          echo     port 7    (RFC 862) send back what arrives
          discard  port 9    (RFC 863) read and drop
          chargen  port 19   (RFC 864) send the character pattern
          http     port 80   answer GET with 200 OK (TCP only)
          crr      port 5004 read 1 byte, write it back, close (TCP only)
          --nodelay          TCP_NODELAY on accepted connections
          --gso SIZE         UDP_SEGMENT SIZE on the UDP sockets (--udp only)
        serve is part of netstack's lab, not a Linux command; run it in the
        background (`serve echo &`); it serves until killed.
        """

    public init(argv: [String], namespace: NetworkNamespace) {
        self.namespace = namespace
        parse(argv)
    }

    private func parse(_ argv: [String]) {
        var operands: [String] = []
        var args = argv.dropFirst()
        while let a = args.popFirst() {
            switch a {
            case "--gso":
                guard let v = args.popFirst() else { return fail("serve: option '--gso' requires an argument\n" + Self.usage) }
                guard let n = CNumber.strtol(Substring(v)), (1...65535).contains(n) else {
                    return fail("serve: invalid segment size '\(v)'")
                }
                segmentSize = Int(n)
            case "--udp", "-u": udp = true
            case "--tcp", "-t": udp = false
            case "--nodelay": noDelay = true
            case "-h", "--help": pendingHelp = true
            default:
                if a.hasPrefix("-") && a.count > 1 {
                    fail("serve: unrecognized option '\(a)'\n" + Self.usage)
                } else {
                    operands.append(a)
                }
            }
        }
        guard !pendingHelp else { return }
        guard let name = operands.first else { return fail(Self.usage) }
        guard let s = Service(rawValue: name) else { return fail("serve: unknown service '\(name)'\n" + Self.usage) }
        service = s
        port = s.defaultPort
        if operands.count > 1 {
            guard let v = CNumber.strtol(Substring(operands[1])), (1...65535).contains(v) else {
                return fail("serve: invalid port '\(operands[1])'")
            }
            port = UInt16(v)
        }
        if operands.count > 2 { fail("serve: too many arguments\n" + Self.usage) }
        if udp && (s == .http || s == .crr) { fail("serve: \(s.rawValue) is a TCP service") }
        if segmentSize != 0 && !udp { fail("serve: --gso needs --udp") }
    }

    private func fail(_ m: String) { if pendingFailure == nil { pendingFailure = m } }

    // MARK: the process

    public func poll(now: Instant, output: inout ToolOutput) -> ToolState {
        if let s = exitStatus { return .exited(s) }
        if !started {
            started = true
            start(output: &output)
            if let s = exitStatus { return .exited(s) }
        }
        if udp { serveDatagrams() } else { serveStreams() }
        return .running(wakeAt: nil)
    }

    public func terminate(now: Instant, output: inout ToolOutput) { exit(130) }

    public func killed() { exit(128) }

    private func exit(_ status: Int32) {
        guard exitStatus == nil else { return }
        exitStatus = status
        for l in listeners { l.close() }
        for c in clients { c.socket.close() }
        for s in datagramSockets { s.close() }
        listeners = []
        clients = []
        datagramSockets = []
    }

    private func start(output: inout ToolOutput) {
        if pendingHelp {
            output.stdout += Self.usage + "\n"
            return exit(0)
        }
        if let f = pendingFailure {
            output.stderr += f + "\n"
            return exit(2)
        }
        // IPv4 first; IPv6 beside it (v6-only), skipped when it cannot bind.
        for v6 in [false, true] {
            do throws(Errno) {
                if udp {
                    let s = namespace.udpSocket(ipv6: v6)
                    s.reuseAddress = true
                    if segmentSize != 0 { try s.setSegmentSize(segmentSize) }
                    try s.bind(nil, port: port)
                    datagramSockets.append(s)
                } else {
                    let s = namespace.tcpSocket(ipv6: v6)
                    s.reuseAddress = true
                    s.v6Only = v6
                    do throws(Errno) {
                        try s.bind(nil, port: port)
                        try s.listen(backlog: 128)
                    } catch {
                        s.close()
                        throw error
                    }
                    listeners.append(s)
                }
            } catch {
                if v6 { continue }
                output.stderr += "serve: \(udp ? "udp" : "tcp") port \(port): \(error.message)\n"
                return exit(1)
            }
        }
    }

    // MARK: TCP

    private func serveStreams() {
        for l in listeners {
            var n = 0
            while n < 1024, let c = try? l.accept() {
                n += 1
                if noDelay { c.configuration.noDelay = true }
                clients.append(Client(c))
            }
        }
        var i = 0
        while i < clients.count {
            if step(clients[i]) {
                i += 1
            } else {
                clients[i].socket.close()
                clients.remove(at: i)
            }
        }
    }

    /// One pass over a connection; false when it is finished.
    private func step(_ c: Client) -> Bool {
        let s = c.socket
        if s.error != nil || s.isClosed { return false }
        // Read, unless the outbox is backed up (echo's flow control).
        var rounds = 0
        reading: while !c.peerClosed && c.pending < 262_144 && rounds < 64 {
            rounds += 1
            // crr takes one byte; the others what the receive queue holds.
            let limit = service == .crr ? 1 : (service == .http ? 16_384 : scratch.count)
            let r: Result<Int, Errno> = scratch.withUnsafeMutableBytes { b in
                do throws(Errno) {
                    return .success(try s.receive(into: UnsafeMutableRawBufferPointer(rebasing: b[..<limit])))
                } catch { return .failure(error) }
            }
            let n: Int
            switch r {
            case .success(let v): n = v
            case .failure(let e):
                if e == .EAGAIN { break reading }
                return false
            }
            if n == 0 { c.peerClosed = true; break }
            switch service {
            case .echo: c.outbox += scratch[..<n]
            case .discard, .chargen: break
            case .http: c.request += scratch[..<n]; answerRequests(c)
            case .crr: c.outbox.append(scratch[0]); c.closing = true; break reading
            }
        }
        if c.peerClosed {
            switch service {
            case .echo, .http, .discard, .crr: c.closing = true
            case .chargen: break   // inetd's chargen writes until the write fails
            }
        }
        if service == .chargen && c.pending == 0 { refillPattern(c) }
        guard flush(c) else { return false }
        if c.closing && c.pending == 0 { return false }
        return true
    }

    /// Sends what the outbox holds, as far as the send buffer takes it;
    /// false when the connection failed.
    private func flush(_ c: Client) -> Bool {
        // As an epoll loop would: write only once POLLOUT says so.
        guard c.pending == 0 || c.socket.readiness.contains(.writable) else { return true }
        var rounds = 0
        while c.pending > 0 && rounds < 64 {
            rounds += 1
            let r: Result<Int, Errno> = c.outbox[c.outboxHead...].withUnsafeBytes { b in
                do throws(Errno) { return .success(try c.socket.send(b)) } catch { return .failure(error) }
            }
            switch r {
            case .success(let n):
                c.outboxHead += n
                if n == 0 { rounds = .max }
            case .failure(let e):
                if e == .EAGAIN { rounds = .max; break }
                return false
            }
            if service == .chargen && c.pending == 0 && rounds < 64 { refillPattern(c) }
        }
        if c.outboxHead == c.outbox.count {
            c.outbox.removeAll(keepingCapacity: true)
            c.outboxHead = 0
        } else if c.outboxHead > 65_536 {
            c.outbox.removeFirst(c.outboxHead)
            c.outboxHead = 0
        }
        return true
    }

    // MARK: chargen (RFC 864)

    /// The 95 printable ASCII characters; line k is 72 of them starting at
    /// the k-th, then CR LF. After 95 lines the pattern repeats.
    static let pattern: [UInt8] = {
        var out: [UInt8] = []
        out.reserveCapacity(95 * 74)
        for line in 0..<95 {
            for k in 0..<72 { out.append(UInt8(32 + (line + k) % 95)) }
            out += [13, 10]
        }
        return out
    }()

    private func refillPattern(_ c: Client) {
        let p = Self.pattern
        c.outbox.removeAll(keepingCapacity: true)
        c.outboxHead = 0
        // Whole periods, so the next refill continues the stream; nine of
        // them (63,270 bytes) per send() as bulk writers use 64 KiB writes:
        // with TCP_NODELAY every send ends in a PSH segment, and one period
        // per send made 5-segment TSO frames where a 64 KiB write makes 44.
        for _ in 0..<9 { c.outbox += p }
    }

    // MARK: http

    /// Answers every complete request in the buffer.
    private func answerRequests(_ c: Client) {
        while !c.closing, let end = Self.headerEnd(c.request) {
            let head = String(decoding: c.request[..<end.start], as: UTF8.self)
            c.request.removeFirst(end.after)
            // CR LF is one Character in Swift.
            let lines = head.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
                .map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
            let words = (lines.first ?? "").split(separator: " ").map(String.init)
            let method = words.first ?? ""
            let version = words.count > 2 ? words[2] : "HTTP/0.9"
            var keepAlive = version == "HTTP/1.1"
            for l in lines.dropFirst() {
                let lower = l.lowercased()
                guard lower.hasPrefix("connection:") else { continue }
                let v = String(lower.dropFirst("connection:".count)).trimmingBlanks
                if v == "close" { keepAlive = false } else if v == "keep-alive" { keepAlive = true }
            }
            let (status, body): (String, String) = switch method {
            case "GET", "HEAD": ("200 OK", "Hello from netstack\n")
            default: ("501 Not Implemented", "Not Implemented\n")
            }
            var response = "HTTP/1.1 \(status)\r\nServer: netstack\r\nContent-Type: text/plain\r\n"
            response += "Content-Length: \(body.utf8.count)\r\n"
            response += keepAlive ? "\r\n" : "Connection: close\r\n\r\n"
            if method != "HEAD" { response += body }
            c.outbox += Array(response.utf8)
            if !keepAlive || status != "200 OK" { c.closing = true }
        }
    }

    /// Where the request head ends: the blank line (CRLF CRLF or LF LF).
    static func headerEnd(_ b: [UInt8]) -> (start: Int, after: Int)? {
        var i = 0
        while i < b.count {
            if b[i] == 10 {
                if i + 1 < b.count && b[i + 1] == 10 { return (i, i + 2) }
                if i + 2 < b.count && b[i + 1] == 13 && b[i + 2] == 10 { return (i, i + 3) }
            }
            i += 1
        }
        return nil
    }

    // MARK: UDP

    private func serveDatagrams() {
        for s in datagramSockets {
            var n = 0
            while n < 1024 {
                n += 1
                guard let d = try? s.receive() else { break }
                switch service {
                case .echo:
                    try? s.send(d.payload, to: (d.source, d.sourcePort))
                case .chargen:
                    // One datagram of 0…512 characters: six full lines here.
                    try? s.send(Array(Self.pattern[..<(6 * 74)]), to: (d.source, d.sourcePort))
                case .discard, .http, .crr:
                    break
                }
            }
        }
    }
}

extension ServeProcess: SteppedTool {}
