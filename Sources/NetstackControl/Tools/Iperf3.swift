// `iperf3` (3.12) as a process stepped in virtual time over the stack's TCP
// and UDP sockets, speaking iperf3's own wire protocol so that the real
// iperf3 can be its peer. Userspace counterparts: iperf_client_api.c
// (iperf_connect, iperf_handle_message_client, iperf_run_client),
// iperf_server_api.c (iperf_accept, iperf_handle_message_server,
// iperf_run_server), iperf_api.c (send_parameters/get_parameters,
// send_results/get_results, the reporter), iperf_tcp.c, iperf_udp.c.
//
// The control connection (TCP, server port, TCP_NODELAY):
//   client → server: the cookie, 36 characters of [a-z2-7] and a NUL (37 bytes)
//   server → client: one signed byte per state: PARAM_EXCHANGE 9,
//     CREATE_STREAMS 10, TEST_START 1, TEST_RUNNING 2, EXCHANGE_RESULTS 13,
//     DISPLAY_RESULTS 14, SERVER_TERMINATE 11, ACCESS_DENIED -1,
//     SERVER_ERROR -2 (then two big-endian int32: i_errno, errno)
//   client → server: TEST_END 4, IPERF_DONE 16, CLIENT_TERMINATE 12
//   parameters and results: a 4-byte big-endian length, then compact JSON.
// Data streams: TCP connections to the same port that start with the
// cookie; UDP sockets that announce themselves with a 4-byte datagram
// (0x36373839 in host order) answered with 0x39383736 (or the legacy
// 987654321). UDP datagrams start with sec, usec (big-endian 32-bit) and
// a packet count (32-bit, or 64-bit with --udp-counters-64bit).
//
// Timing is the world's clock: reports every `-i` seconds (1) from the
// test start; sends are paced by the pacing timer (1 ms ticks): each tick
// a TCP stream fills its send buffer (an unlimited test moves what the
// stack takes per tick), a rate-limited stream sends while under its rate.
//
// Differences from iperf3, on purpose:
// - A sender waits (at most 3 s) until its data is acknowledged before it
//   ends the test (client: before TEST_END; server in -R: before
//   EXCHANGE_RESULTS), and a receiver counts what arrives until the
//   results are exchanged: in the lab, bytes sent == bytes received.
// - CPU utilisation is reported as 0; congestion-control names, sndbuf /
//   rcvbuf sizes and pmtu are not reported; socket numbers ("[  5]") are
//   made up the way iperf3 numbers them on Linux (client 5, 7, 9…; server
//   5, 8, 11…); the usage text is this lab's own summary.
// - Not supported: --bidir, -O omit, -w, -M, -C, -Z, -F, -S, -L, -A,
//   authentication, --get-server-output, -D.
import Netstack
import NetWire

public final class Iperf3Process {
    public unowned let namespace: NetworkNamespace
    private var options = Iperf3Options()
    private var failure: Iperf3Failure?
    private var started = false
    public private(set) var exitStatus: Int32?
    /// Entropy for the cookie: given, or seeded from the namespace's name
    /// and the start instant (deterministic in the lab).
    private var random: (() -> UInt8)?

    // MARK: protocol constants

    enum State: Int8 {
        case testStart = 1, testRunning = 2, testEnd = 4, paramExchange = 9, createStreams = 10
        case serverTerminate = 11, clientTerminate = 12, exchangeResults = 13, displayResults = 14
        case iperfStart = 15, iperfDone = 16, accessDenied = -1, serverError = -2
    }
    static let cookieSize = 37
    static let udpConnectMessage: UInt32 = 0x3637_3839
    static let udpConnectReply: UInt32 = 0x3938_3736
    static let legacyUDPConnectReply: UInt32 = 987_654_321
    static let version = "3.12"

    // MARK: test state

    final class Stream {
        let id: Int
        let socketNumber: Int
        let sender: Bool
        var tcp: TCPSocket?
        var udp: UDPSocket?
        /// UDP on the server: the client's address (one shared socket).
        var peer: (IPAddress, UInt16)?
        var local: (IPAddress, UInt16) = (.v4(.any), 0)
        var remote: (IPAddress, UInt16) = (.v4(.any), 0)
        /// Bytes of the cookie still to send (client) or read (server).
        var cookieOut: [UInt8] = []
        var cookieIn: [UInt8] = []
        var ready = false
        var udpHandshakeSent = false
        var pending = 0   // bytes of the current block still to write
        var bytesSent: UInt64 = 0, bytesReceived: UInt64 = 0
        var intervalBytes: UInt64 = 0
        var blocks: UInt64 = 0
        // UDP
        var packetCount: Int64 = 0, peerPacketCount: Int64 = 0
        var errors: Int64 = 0, outOfOrder: Int64 = 0
        var jitter = 0.0, prevTransit = 0.0
        // TCP sender statistics (tcp_info)
        var prevTotalRetrans = 0, retrans = 0
        var maxCwnd = 0, maxSndWnd = 0, maxRtt = 0, minRtt = 0, sumRtt = 0, countRtt = 0
        // Times, seconds from the test start.
        var endTime = 0.0
        var senderTime = 0.0, receiverTime = 0.0
        var intervals: [Interval] = []

        init(id: Int, socketNumber: Int, sender: Bool) {
            self.id = id
            self.socketNumber = socketNumber
            self.sender = sender
        }
    }

    struct Interval {
        var start: Double, end: Double
        var bytes: UInt64
        var retrans = 0, cwnd = 0, sndWnd = 0, rtt = 0, rttvar = 0
        var packets: Int64 = 0, errors: Int64 = 0, outOfOrder: Int64 = 0
        var jitter = 0.0
        var duration: Double { end - start }
    }

    private var cookie: [UInt8] = []
    private var control: TCPSocket?
    private var controlIn: [UInt8] = []
    private var controlConnected = false
    private var listeners: [TCPSocket] = []
    private var udpListener: UDPSocket?
    private var streams: [Stream] = []
    private var state: State?
    private var testNumber = 0
    /// What the control reader expects next.
    private enum Expect { case cookie, state, json((JSONValue) -> Void) }
    private var expect: Expect = .state
    private var testStart = Instant.zero
    private var nextReport = Instant.distantFuture
    private var nextSend = Instant.zero
    private var testEndAt = Instant.distantFuture
    private var drainUntil: Instant?
    private var running = false
    private var done = false
    private var controlMSS = 0
    private var senderHasRetransmits = 0
    private var peer: (IPAddress, UInt16) = (.v4(.any), 0)
    private var connectDeadline: Instant?
    private var text = ""  // the output being built this poll
    private var errText = ""
    // JSON document
    private var jsonConnected: [JSONValue] = []
    private var jsonIntervals: [JSONValue] = []
    private var jsonStart = JSONObject()
    private var jsonEnd = JSONObject()
    private var remoteResults: JSONValue?
    private var printedHeaderFor = -1
    /// The block a TCP sender writes (iperf3 fills it once).
    private var payload: [UInt8] = []
    /// The buffer a TCP receiver reads into, reused as iperf3 reuses its
    /// block buffer (an array per read cost an allocation and zeroing
    /// of 64 KiB each time).
    private var readBuffer: [UInt8] = []

    /// An unlimited TCP sender writes whenever it is polled and its socket
    /// has room, as iperf3 does from select() on a real host; otherwise it
    /// writes on its pacing timer (every `--pacing-timer` µs), which is what
    /// moves virtual time forward in a lab that does not follow the wall
    /// clock (a veth has no delay: unpaced, the flow would never leave its
    /// instant). `netstack lab --realtime` turns it on.
    public var writesWhenWritable = false
    private var unpaced: Bool { writesWhenWritable && !options.udp && options.rate == 0 }

    /// Is this side sending data?
    private var isSender: Bool { (options.role == .client) != options.reverse }

    public init(argv: [String], namespace: NetworkNamespace, random: (() -> UInt8)? = nil) {
        self.namespace = namespace
        self.random = random
        switch Iperf3Options.parse(argv) {
        case .success(let o): options = o
        case .failure(let f): failure = f
        }
    }

    /// A deterministic byte source (cookies) seeded per process.
    public static func defaultRandom(seed: UInt64 = 0x1F2E_3D4C_5B6A_7988) -> () -> UInt8 {
        var s = seed
        return {
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: s >> 33)
        }
    }

    // MARK: the process

    public func poll(now: Instant, output: inout ToolOutput) -> ToolState {
        if let s = exitStatus { return .exited(s) }
        if !started {
            started = true
            start(now: now)
        }
        if exitStatus == nil { step(now: now) }
        flush(&output)
        if let s = exitStatus { return .exited(s) }
        var wake: Instant? = nil
        func consider(_ t: Instant?) { if let t, t != .distantFuture, wake.map({ t < $0 }) ?? true { wake = t } }
        if running {
            consider(nextReport)
            consider(testEndAt)
            if isSender && !done && !unpaced { consider(nextSend) }
        }
        if let d = drainUntil { consider(min(d, now + .milliseconds(1))) }
        consider(connectDeadline)
        return .running(wakeAt: wake)
    }

    private func flush(_ output: inout ToolOutput) {
        output.stdout += text
        output.stderr += errText
        text = ""
        errText = ""
    }

    public func terminate(now: Instant, output: inout ToolOutput) {
        // iperf3 catches SIGINT: tell the peer, print what it has, exit.
        guard exitStatus == nil else { return }
        if let c = control, controlConnected {
            let s: State = options.role == .client ? .clientTerminate : .serverTerminate
            _ = try? c.send([UInt8(bitPattern: s.rawValue)])
        }
        if running {
            collectStats(now: now, final: true)
            if !options.json { printIntermediate(); printResults() }
        }
        if options.json { finishJSON(error: "interrupt - the \(options.role == .client ? "client" : "server") has terminated") }
        else { errText += "iperf3: interrupt - the \(options.role == .client ? "client" : "server") has terminated\n" }
        flush(&output)
        exit(1)
    }

    public func killed() { exit(128) }

    private func exit(_ status: Int32) {
        guard exitStatus == nil else { return }
        exitStatus = status
        closeStreams()
        control?.close()
        for l in listeners { l.close() }
        udpListener?.close()
    }

    private func closeStreams() {
        for s in streams {
            s.tcp?.close()
            if s.peer == nil { s.udp?.close() }
        }
    }

    private func fail(_ message: String, status: Int32 = 1) {
        if options.json {
            finishJSON(error: message)
            exit(options.role == .client ? 0 : 1)
            return
        }
        errText += "iperf3: error - \(message)\n"
        exit(status)
    }

    private func start(now: Instant) {
        if let f = failure {
            text += f.stdout
            errText += f.stderr
            exit(f.status)
            return
        }
        if options.help { text += Iperf3Options.usageLong; exit(0); return }
        if options.version {
            text += "iperf \(Self.version) (netstack lab)\nLinux netstack lab\n"
            exit(0)
            return
        }
        jsonStart["connected"] = .array([])
        jsonStart["version"] = .string("iperf \(Self.version)")
        jsonStart["system_info"] = .string("Linux netstack lab")
        if options.role == .server { serverStart(now: now) } else { clientStart(now: now) }
    }

    private func step(now: Instant) {
        var rounds = 0
        while exitStatus == nil && rounds < 16 {
            rounds += 1
            let before = (state, streams.count, controlIn.count, running, done)
            if options.role == .server { serverStep(now: now) } else { clientStep(now: now) }
            let after = (state, streams.count, controlIn.count, running, done)
            if before == after { break }
        }
    }

    // MARK: client

    private var seed: UInt64 = 0

    private func clientStart(now: Instant) {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in namespace.name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        seed = h ^ UInt64(bitPattern: now.nanoseconds)
        guard let dst = IPAddress(options.host) else {
            return fail("unable to connect to server: Name or service not known")
        }
        if (options.family == 4 && dst.isIPv6) || (options.family == 6 && !dst.isIPv6) {
            return fail("unable to connect to server: Address family for hostname not supported")
        }
        peer = (dst, options.port)
        makeCookie()
        let s = namespace.tcpSocket(ipv6: dst.isIPv6)
        control = s
        s.configuration.noDelay = true
        do throws(Errno) {
            try s.connect(dst, port: options.port)
        } catch {
            if error != .EINPROGRESS { return fail("unable to connect to server: \(error.message)") }
        }
        connectDeadline = now + .seconds(130)
    }

    private func makeCookie() {
        let chars = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)
        let next = random ?? Self.defaultRandom(seed: seed)
        cookie = (0..<(Self.cookieSize - 1)).map { _ in chars[Int(next()) % chars.count] } + [0]
    }

    private func clientStep(now: Instant) {
        guard let c = control else { return }
        if !controlConnected {
            if let e = c.error { return fail("unable to connect to server: \(e.message)") }
            guard c.isConnected else {
                if let d = connectDeadline, now >= d { fail("unable to connect to server: Connection timed out") }
                return
            }
            controlConnected = true
            connectDeadline = nil
            controlMSS = c.connection?.mss ?? 0
            if options.udp && options.length == 0 { options.length = controlMSS > 0 ? controlMSS : 1460 }
            senderHasRetransmits = isSender && !options.udp ? 1 : 0
            _ = try? c.send(cookie)
            expect = .state
        }
        streamsStep(now: now)
        if running || done { for sp in streams where !sp.sender { receive(sp, now: now) } }
        if readControl(c) == false {
            if exitStatus == nil && state != .iperfDone { fail("control socket has closed unexpectedly") }
            return
        }
        while exitStatus == nil, let msg = nextControlMessage() {
            clientHandle(msg, now: now)
        }
        if exitStatus == nil { runTest(now: now) }
    }

    private enum ControlMessage { case state(Int8), json(JSONValue), cookie([UInt8]), bad }

    /// Reads what the control connection has; false at end of stream or error.
    private func readControl(_ c: TCPSocket) -> Bool {
        var n = 0
        while n < 64 {
            n += 1
            do throws(Errno) {
                let chunk = try c.receive(max: 65536)
                if chunk.isEmpty { return !controlIn.isEmpty ? true : false }
                controlIn += chunk
            } catch {
                if error == .EAGAIN { return true }
                return false
            }
        }
        return true
    }

    private var pendingJSONLength: Int?

    private func nextControlMessage() -> ControlMessage? {
        switch expect {
        case .cookie:
            guard controlIn.count >= Self.cookieSize else { return nil }
            let c = Array(controlIn[0..<Self.cookieSize])
            controlIn.removeFirst(Self.cookieSize)
            expect = .state
            return .cookie(c)
        case .state:
            guard !controlIn.isEmpty else { return nil }
            return .state(Int8(bitPattern: controlIn.removeFirst()))
        case .json:
            guard controlIn.count >= 4 else { return nil }
            let len = Int(controlIn[0]) << 24 | Int(controlIn[1]) << 16 | Int(controlIn[2]) << 8 | Int(controlIn[3])
            guard controlIn.count >= 4 + len else { return nil }
            let body = Array(controlIn[4..<4 + len])
            controlIn.removeFirst(4 + len)
            guard let v = Iperf3Format.parse(body) else { return .bad }
            return .json(v)
        }
    }

    private func sendState(_ s: State) {
        state = s
        _ = try? control?.send([UInt8(bitPattern: s.rawValue)])
    }

    private func sendJSON(_ v: JSONValue) {
        let body = Array(Iperf3Format.json(v, formatted: false).utf8)
        let n = UInt32(body.count)
        let header: [UInt8] = [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
        _ = try? control?.send(header + body)
    }

    /// The parameters the client sends (send_parameters).
    func parameters() -> JSONValue {
        var j = JSONObject()
        j[options.udp ? "udp" : "tcp"] = .bool(true)
        j["omit"] = .int(0)
        j["time"] = .int(Int64(options.duration))
        j["num"] = .int(Int64(options.bytes))
        j["blockcount"] = .int(Int64(options.blocks))
        if options.noDelay { j["nodelay"] = .bool(true) }
        j["parallel"] = .int(Int64(options.parallel))
        if options.reverse { j["reverse"] = .bool(true) }
        if options.length != 0 { j["len"] = .int(Int64(options.length)) }
        if options.rate != 0 { j["bandwidth"] = .int(Int64(options.rate)) }
        if options.pacingTimer != 0 { j["pacing_timer"] = .int(Int64(options.pacingTimer)) }
        if let t = options.title { j["title"] = .string(t) }
        if options.udpCounters64 { j["udp_counters_64bit"] = .int(1) }
        j["client_version"] = .string(Self.version)
        return j.value
    }

    private func clientHandle(_ msg: ControlMessage, now: Instant) {
        guard case .state(let raw) = msg else {
            if case .json(let v) = msg, state == .exchangeResults {
                takeResults(v)
                expect = .state
                return
            }
            return fail(state == .exchangeResults ? "unable to receive results" : "received an unknown control message")
        }
        guard let s = State(rawValue: raw) else { return fail("received an unknown control message") }
        state = s
        switch s {
        case .paramExchange:
            sendJSON(parameters())
            onConnect(now: now)
        case .createStreams:
            createClientStreams()
        case .testStart:
            beginTest(now: now)
        case .testRunning:
            running = true
        case .exchangeResults:
            sendJSON(results())
            expect = .json({ _ in })
        case .displayResults:
            closeStreams()
            if options.json {
                buildResultsJSON()
                _ = try? control?.send([UInt8(bitPattern: State.iperfDone.rawValue)])
                state = .iperfDone
                finishJSON(error: nil)
            } else {
                printIntermediate()
                printResults()
                _ = try? control?.send([UInt8(bitPattern: State.iperfDone.rawValue)])
                state = .iperfDone
                text += "\niperf Done.\n"
            }
            exit(0)
        case .serverTerminate:
            if running || done {
                collectStats(now: now, final: true, onlyIfPending: true)
                if !options.json { printIntermediate(); printResults() }
            }
            fail("the server has terminated")
        case .accessDenied:
            fail("the server is busy running a test. try again later")
        case .serverError:
            fail("the server has terminated")
        default:
            fail("received an unknown control message")
        }
    }

    private func onConnect(now: Instant) {
        let secs = now.nanoseconds / 1_000_000_000
        if options.json {
            jsonStart["timestamp"] = .object([("time", .string(Iperf3Format.rfc1123(secondsSinceEpoch: secs))),
                                              ("timesecs", .int(secs))])
        }
        if options.role == .client {
            if options.json {
                jsonStart["connecting_to"] = .object([("host", .string(options.host)), ("port", .int(Int64(options.port)))])
            } else {
                text += "Connecting to host \(options.host), port \(options.port)\n"
                if options.reverse { text += "Reverse mode, remote host \(options.host) is sending\n" }
            }
        } else {
            let a = control?.remoteAddress.map { "\($0)" } ?? "?"
            let p = control?.remotePort ?? 0
            if options.json {
                jsonStart["accepted_connection"] = .object([("host", .string(a)), ("port", .int(Int64(p)))])
            } else {
                text += "Accepted connection from \(a), port \(p)\n"
            }
        }
        if options.json {
            jsonStart["cookie"] = .string(String(decoding: cookie.prefix(Self.cookieSize - 1), as: UTF8.self))
            if !options.udp { jsonStart["tcp_mss_default"] = .int(Int64(controlMSS)) }
            jsonStart["target_bitrate"] = .int(Int64(options.rate))
        }
    }

    private func createClientStreams() {
        let sender = !options.reverse
        for i in 0..<options.parallel {
            let sp = Stream(id: i == 0 ? 1 : i + 2, socketNumber: 5 + 2 * i, sender: sender)
            let v6 = peer.0.isIPv6
            let cport: UInt16 = options.clientPort == 0 ? 0 : options.clientPort &+ UInt16(i)
            if options.udp {
                let u = namespace.udpSocket(ipv6: v6)
                sp.udp = u
                do throws(Errno) {
                    if cport != 0 { u.reuseAddress = true; try u.bind(nil, port: cport) }
                    try u.connect(peer.0, port: peer.1)
                    try u.send(Self.le32(Self.udpConnectMessage))
                } catch {
                    return fail("unable to connect stream: \(error.message)")
                }
                sp.udpHandshakeSent = true
            } else {
                let t = namespace.tcpSocket(ipv6: v6)
                sp.tcp = t
                if options.noDelay { t.configuration.noDelay = true }
                do throws(Errno) {
                    if cport != 0 { t.reuseAddress = true; try t.bind(nil, port: cport) }
                    try t.connect(peer.0, port: peer.1)
                } catch {
                    if error != .EINPROGRESS { return fail("unable to connect stream: \(error.message)") }
                }
                sp.cookieOut = cookie
            }
            streams.append(sp)
        }
    }

    static func le32(_ v: UInt32) -> [UInt8] {
        [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)]
    }

    /// Finishes stream set-up: TCP connects and cookies, UDP handshakes.
    private func streamsStep(now: Instant) {
        for sp in streams where !sp.ready {
            if let t = sp.tcp {
                if options.role == .client {
                    if let e = t.error { return fail("unable to connect stream: \(e.message)") }
                    guard t.isConnected else { continue }
                    if !sp.cookieOut.isEmpty {
                        if let n = try? t.send(sp.cookieOut) { sp.cookieOut.removeFirst(n) }
                        guard sp.cookieOut.isEmpty else { continue }
                    }
                    streamReady(sp, local: (t.localAddress ?? t.connection?.local.address ?? .v4(.any), t.localPort),
                                remote: (t.remoteAddress ?? peer.0, t.remotePort))
                }
            } else if let u = sp.udp, options.role == .client {
                var n = 0
                while n < 8, let d = try? u.receive() {
                    n += 1
                    guard d.payload.count == 4 else { continue }
                    let v = UInt32(d.payload[0]) | UInt32(d.payload[1]) << 8 | UInt32(d.payload[2]) << 16 | UInt32(d.payload[3]) << 24
                    if v == Self.udpConnectReply || v == Self.legacyUDPConnectReply {
                        streamReady(sp, local: (u.localAddress ?? .v4(.any), u.localPort), remote: (peer.0, peer.1))
                        break
                    }
                }
            }
        }
    }

    private func streamReady(_ sp: Stream, local: (IPAddress, UInt16), remote: (IPAddress, UInt16)) {
        sp.ready = true
        sp.local = local
        sp.remote = remote
        let l = Self.shown(local.0), r = Self.shown(remote.0)
        if options.json {
            jsonConnected.append(.object([("socket", .int(Int64(sp.socketNumber))), ("local_host", .string(l)),
                                          ("local_port", .int(Int64(local.1))), ("remote_host", .string(r)),
                                          ("remote_port", .int(Int64(remote.1)))]))
        } else {
            text += "[\(Iperf3Format.pad(String(sp.socketNumber), 3))] local \(l) port \(local.1) connected to \(r) port \(remote.1)\n"
        }
    }

    /// inet_ntop, with IPv4-mapped IPv6 shown as IPv4 (mapped_v4_to_regular_v4).
    static func shown(_ a: IPAddress) -> String {
        let s = "\(a)"
        return s.hasPrefix("::ffff:") && s.contains(".") ? String(s.dropFirst(7)) : s
    }

    // MARK: running a test (both roles)

    private func beginTest(now: Instant) {
        testStart = now
        nextSend = now
        nextReport = options.interval > 0 ? now + TimeDelta(seconds: options.interval) : .distantFuture
        if options.role == .client && options.duration > 0 { testEndAt = now + .seconds(Int64(options.duration)) }
        if options.json {
            jsonStart["test_start"] = .object([
                ("protocol", .string(options.udp ? "UDP" : "TCP")), ("num_streams", .int(Int64(options.parallel))),
                ("blksize", .int(Int64(options.length))), ("omit", .int(0)), ("duration", .int(Int64(options.duration))),
                ("bytes", .int(Int64(options.bytes))), ("blocks", .int(Int64(options.blocks))),
                ("reverse", .int(options.reverse ? 1 : 0)), ("tos", .int(0)), ("target_bitrate", .int(Int64(options.rate))),
            ])
        }
    }

    private func seconds(_ t: Instant) -> Double { Double((t - testStart).nanoseconds / 1000) / 1e6 }

    private func runTest(now: Instant) {
        guard running || done else { return }
        // Receive first: data that arrived before a control message counts.
        for sp in streams where !sp.sender { receive(sp, now: now) }
        if running && !done {
            if isSender && (now >= nextSend || unpaced) {
                for sp in streams where sp.sender { send(sp, now: now) }
                nextSend = now + .microseconds(Int64(max(options.pacingTimer, 1)))
            }
            while running && now >= nextReport {
                collectStats(now: nextReport, final: false)
                if !options.json { printIntermediate() } else { appendIntervalJSON() }
                nextReport = nextReport + TimeDelta(seconds: options.interval)
            }
            if options.role == .client && endConditionMet(now: now) { clientEndTest(now: now) }
        }
        if let d = drainUntil, done {
            let drained = streams.allSatisfy { $0.tcp.map { $0.sendQueueBytes == 0 || $0.error != nil } ?? true }
            if drained || now >= d {
                drainUntil = nil
                if options.role == .client {
                    sendState(.testEnd)
                } else {
                    serverFinishTest(now: now)
                }
            }
        }
    }

    private func endConditionMet(now: Instant) -> Bool {
        if options.duration > 0 && now >= testEndAt { return true }
        let sent = streams.reduce(UInt64(0)) { $0 + $1.bytesSent }
        let received = streams.reduce(UInt64(0)) { $0 + $1.bytesReceived }
        if options.bytes != 0 && (sent >= options.bytes || received >= options.bytes) { return true }
        let blocks = streams.reduce(UInt64(0)) { $0 + $1.blocks }
        if options.blocks != 0 && blocks >= options.blocks { return true }
        return false
    }

    private func clientEndTest(now: Instant) {
        done = true
        running = false
        let end = options.duration > 0 && options.bytes == 0 && options.blocks == 0 ? min(now, testEndAt) : now
        collectStats(now: end, final: true)
        if options.json { appendIntervalJSON() }
        if isSender && !options.udp {
            drainUntil = now + .seconds(3)
        } else {
            sendState(.testEnd)
        }
    }

    private func send(_ sp: Stream, now: Instant) {
        let blk = options.length
        let elapsed = seconds(now)
        var n = 0
        while n < 4096 {
            n += 1
            if options.rate != 0 {
                // iperf_check_throttle: under the target average rate since the start.
                let rate = Double(options.rate)
                if elapsed > 0, Double(sp.bytesSent) * 8 / elapsed >= rate { break }
                if elapsed == 0, sp.bytesSent > 0 { break }
            }
            if options.bytes != 0 && streams.reduce(UInt64(0), { $0 + $1.bytesSent }) >= options.bytes { break }
            if options.blocks != 0 && streams.reduce(UInt64(0), { $0 + $1.blocks }) >= options.blocks { break }
            if options.udp {
                sp.packetCount += 1
                var packet = [UInt8](repeating: 0, count: blk)
                let us = now.nanoseconds / 1000
                let sec = UInt32(truncatingIfNeeded: us / 1_000_000), usec = UInt32(truncatingIfNeeded: us % 1_000_000)
                Self.put32(&packet, 0, sec)
                Self.put32(&packet, 4, usec)
                if options.udpCounters64 {
                    Self.put32(&packet, 8, UInt32(truncatingIfNeeded: sp.packetCount >> 32))
                    Self.put32(&packet, 12, UInt32(truncatingIfNeeded: sp.packetCount))
                } else {
                    Self.put32(&packet, 8, UInt32(truncatingIfNeeded: sp.packetCount))
                }
                do throws(Errno) {
                    if let p = sp.peer { try udpListener?.send(packet, to: p) } else { try sp.udp?.send(packet) }
                } catch {
                    sp.packetCount -= 1
                    if error == .EAGAIN || error == .ENOBUFS { break }
                    return fail("unable to write to stream socket: \(error.message)")
                }
                sp.bytesSent += UInt64(blk)
                sp.intervalBytes += UInt64(blk)
                sp.blocks += 1
            } else {
                guard let t = sp.tcp else { return }
                if sp.pending == 0 { sp.pending = blk }
                if payload.count < blk { payload = [UInt8](repeating: 0x61, count: blk) }
                let want = sp.pending
                let result: Result<Int, Errno> = payload.withUnsafeBytes { b in
                    do throws(Errno) { return .success(try t.send(UnsafeRawBufferPointer(rebasing: b[0..<want]))) } catch { return .failure(error) }
                }
                guard case .success(let r) = result else {
                    if case .failure(let e) = result, e != .EAGAIN {
                        return fail("unable to write to stream socket: \(e.message)")
                    }
                    break
                }
                sp.pending -= r
                if sp.pending == 0 { sp.blocks += 1 }
                sp.bytesSent += UInt64(r)
                sp.intervalBytes += UInt64(r)
            }
        }
    }

    static func put32(_ b: inout [UInt8], _ at: Int, _ v: UInt32) {
        guard at + 4 <= b.count else { return }
        b[at] = UInt8(v >> 24); b[at + 1] = UInt8(v >> 16 & 0xFF); b[at + 2] = UInt8(v >> 8 & 0xFF); b[at + 3] = UInt8(v & 0xFF)
    }

    static func get32(_ b: [UInt8], _ at: Int) -> UInt32 {
        guard at + 4 <= b.count else { return 0 }
        return UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
    }

    /// Whether received bytes still count (the lab counts until the results exchange).
    private var counting: Bool { running || (done && state != .exchangeResults && state != .displayResults) }

    private func receive(_ sp: Stream, now: Instant) {
        if let t = sp.tcp {
            var n = 0
            while n < 4096 {
                n += 1
                let size = max(options.length, 65536)
                if readBuffer.count < size { readBuffer = [UInt8](repeating: 0, count: size) }
                let result: Result<Int, Errno> = readBuffer.withUnsafeMutableBytes { b in
                    do throws(Errno) { return .success(try t.receive(into: UnsafeMutableRawBufferPointer(rebasing: b[0..<size]))) }
                    catch { return .failure(error) }
                }
                guard case .success(let got) = result, got > 0 else { break }
                if counting {
                    sp.bytesReceived += UInt64(got)
                    sp.intervalBytes += UInt64(got)
                }
            }
        } else if sp.peer == nil, let u = sp.udp {
            var n = 0
            while n < 65536, let d = try? u.receive() {
                n += 1
                udpDatagram(sp, d.payload, now: now)
            }
        }
    }

    /// iperf_udp_recv: counters, loss and out-of-order, RFC 1889 jitter.
    private func udpDatagram(_ sp: Stream, _ p: [UInt8], now: Instant) {
        guard counting, p.count >= 12 else { return }
        let firstPacket = sp.bytesReceived == 0
        sp.bytesReceived += UInt64(p.count)
        sp.intervalBytes += UInt64(p.count)
        let sec = Self.get32(p, 0), usec = Self.get32(p, 4)
        let count: Int64 = options.udpCounters64 && p.count >= 16
            ? Int64(bitPattern: UInt64(Self.get32(p, 8)) << 32 | UInt64(Self.get32(p, 12)))
            : Int64(Self.get32(p, 8))
        if count >= sp.packetCount + 1 {
            if count > sp.packetCount + 1 { sp.errors += count - 1 - sp.packetCount }
            sp.packetCount = count
        } else {
            sp.outOfOrder += 1
            if sp.errors > 0 { sp.errors -= 1 }
        }
        let sent = Double(sec) + Double(usec) / 1e6
        let arrival = Double(now.nanoseconds / 1000) / 1e6
        let transit = arrival - sent
        if firstPacket { sp.prevTransit = transit }
        let d = abs(transit - sp.prevTransit)
        sp.prevTransit = transit
        sp.jitter += (d - sp.jitter) / 16.0
    }

    /// iperf_stats_callback: closes the current interval of every stream.
    private func collectStats(now: Instant, final: Bool, onlyIfPending: Bool = false) {
        let end = seconds(now)
        for sp in streams {
            let start = sp.intervals.last?.end ?? 0
            if onlyIfPending && sp.intervals.last != nil && end <= start && sp.intervalBytes == 0 { continue }
            var iv = Interval(start: start, end: max(end, start), bytes: sp.intervalBytes)
            if !options.udp, sp.sender, let info = sp.tcp?.connection?.info {
                iv.retrans = info.totalRetrans - sp.prevTotalRetrans
                sp.retrans += iv.retrans
                sp.prevTotalRetrans = info.totalRetrans
                iv.cwnd = info.sndCwnd * info.sndMss
                iv.sndWnd = info.sndWnd
                iv.rtt = Int(info.rtt.nanoseconds / 1000)
                iv.rttvar = Int(info.rttvar.nanoseconds / 1000)
                sp.maxCwnd = max(sp.maxCwnd, iv.cwnd)
                sp.maxSndWnd = max(sp.maxSndWnd, iv.sndWnd)
                sp.maxRtt = max(sp.maxRtt, iv.rtt)
                if sp.minRtt == 0 || iv.rtt < sp.minRtt { sp.minRtt = iv.rtt }
                sp.sumRtt += iv.rtt
                sp.countRtt += 1
            } else if options.udp {
                iv.packets = sp.packetCount - sp.intervals.reduce(0) { $0 + $1.packets }
                iv.errors = sp.errors - sp.intervals.reduce(0) { $0 + $1.errors }
                iv.outOfOrder = sp.outOfOrder - sp.intervals.reduce(0) { $0 + $1.outOfOrder }
                iv.jitter = sp.jitter
            }
            sp.intervals.append(iv)
            sp.intervalBytes = 0
            sp.endTime = iv.end
        }
        _ = final
    }

    // MARK: server

    private func serverStart(now: Instant) {
        testNumber += 1
        if !options.json {
            text += "-----------------------------------------------------------\n"
            text += "Server listening on \(options.port) (test #\(testNumber))\n"
            text += "-----------------------------------------------------------\n"
        }
        guard listeners.isEmpty else { return }
        var families: [Bool] = []
        switch options.family {
        case 4: families = [false]
        case 6: families = [true]
        default: families = [false, true]
        }
        for v6 in families {
            let s = namespace.tcpSocket(ipv6: v6)
            s.reuseAddress = true
            if v6 { s.v6Only = options.family == 6 || families.count > 1 }
            do throws(Errno) {
                try s.bind(nil, port: options.port)
                try s.listen(backlog: 128)
            } catch {
                s.close()
                for l in listeners { l.close() }
                listeners = []
                return fail("unable to start listener for connections: \(error.message)")
            }
            listeners.append(s)
        }
    }

    private func serverStep(now: Instant) {
        // New connections: the control connection, streams, or refusals.
        for l in listeners {
            var n = 0
            while n < 256, let c = try? l.accept() {
                n += 1
                if control == nil {
                    control = c
                    c.configuration.noDelay = true
                    controlConnected = true
                    controlIn = []
                    expect = .cookie
                    controlMSS = c.connection?.mss ?? 0
                } else if state == .createStreams && !options.udp && streams.count < options.parallel {
                    let sp = Stream(id: streams.isEmpty ? 1 : streams.count + 2, socketNumber: 5 + 3 * streams.count,
                                    sender: options.reverse)
                    sp.tcp = c
                    streams.append(sp)
                } else {
                    _ = try? c.send([UInt8(bitPattern: State.accessDenied.rawValue)])
                    c.close()
                }
            }
        }
        // TCP streams: their cookie.
        for sp in streams where !sp.ready {
            guard let t = sp.tcp else { continue }
            if let chunk = try? t.receive(max: Self.cookieSize - sp.cookieIn.count), !chunk.isEmpty {
                sp.cookieIn += chunk
            }
            if sp.cookieIn.count == Self.cookieSize {
                if sp.cookieIn == cookie {
                    streamReady(sp, local: (t.localAddress ?? t.connection?.local.address ?? .v4(.any), t.localPort),
                                remote: (t.remoteAddress ?? .v4(.any), t.remotePort))
                } else {
                    _ = try? t.send([UInt8(bitPattern: State.accessDenied.rawValue)])
                    t.close()
                    streams.removeAll { $0 === sp }
                }
            }
        }
        // UDP: stream announcements and data on the shared socket.
        if let u = udpListener {
            var n = 0
            while n < 65536, let d = try? u.receive() {
                n += 1
                if let sp = streams.first(where: { $0.peer.map { $0.0 == d.source && $0.1 == d.sourcePort } ?? false }) {
                    if !sp.sender { udpDatagram(sp, d.payload, now: now) }
                } else if state == .createStreams && streams.count < options.parallel {
                    let sp = Stream(id: streams.isEmpty ? 1 : streams.count + 2, socketNumber: 5 + 3 * streams.count,
                                    sender: options.reverse)
                    sp.peer = (d.source, d.sourcePort)
                    sp.udp = u
                    streams.append(sp)
                    _ = try? u.send(Self.le32(Self.udpConnectReply), to: (d.source, d.sourcePort))
                    streamReady(sp, local: (d.destination, u.localPort), remote: (d.source, d.sourcePort))
                }
            }
        }
        if state == .createStreams && streams.count == options.parallel && streams.allSatisfy({ $0.ready }) {
            sendState(.testStart)
            beginTest(now: now)
            sendState(.testRunning)
            running = true
        }
        guard let c = control else { return }
        if running || done { for sp in streams where !sp.sender && sp.tcp != nil { receive(sp, now: now) } }
        let open = readControl(c)
        while exitStatus == nil, let msg = nextControlMessage() {
            serverHandle(msg, now: now)
        }
        if exitStatus == nil { runTest(now: now) }
        if !open && exitStatus == nil && control === c {
            if state == .iperfDone || state == .displayResults {
                endOfTest(now: now)
            } else {
                errText += "iperf3: the client has unexpectedly closed the connection\n"
                resetServer(now: now, failed: true)
            }
        }
    }

    private func serverHandle(_ msg: ControlMessage, now: Instant) {
        switch msg {
        case .cookie(let c):
            cookie = c
            sendState(.paramExchange)
            expect = .json({ _ in })
        case .json(let v):
            if state == .paramExchange {
                takeParameters(v)
                expect = .state
                onConnect(now: now)
                if options.udp {
                    let v6 = control?.isIPv6 ?? false
                    let u = namespace.udpSocket(ipv6: v6)
                    u.reuseAddress = true
                    do throws(Errno) { try u.bind(nil, port: options.port) } catch {
                        return fail("unable to start stream listener: \(error.message)")
                    }
                    udpListener = u
                }
                sendState(.createStreams)
            } else if state == .exchangeResults {
                takeResults(v)
                expect = .state
                sendJSON(results())
                sendState(.displayResults)
            }
        case .bad:
            errText += "iperf3: error - unable to receive parameters from client\n"
            resetServer(now: now, failed: true)
        case .state(let raw):
            switch State(rawValue: raw) {
            case .testEnd:
                done = true
                running = false
                state = .testEnd
                if isSender && !options.udp {
                    drainUntil = now + .seconds(3)
                } else {
                    serverFinishTest(now: now)
                }
            case .iperfDone:
                state = .iperfDone
                endOfTest(now: now)
            case .clientTerminate:
                if running {
                    collectStats(now: now, final: true)
                    if !options.json { printIntermediate(); printResults() }
                }
                errText += "iperf3: the client has terminated\n"
                resetServer(now: now, failed: false)
            default:
                errText += "iperf3: error - received an unknown control message\n"
                resetServer(now: now, failed: true)
            }
        }
    }

    /// get_parameters.
    private func takeParameters(_ j: JSONValue) {
        if j["udp"] != nil { options.udp = true }
        if j["tcp"] != nil { options.udp = false }
        options.duration = Int(j["time"]?.intValue ?? 10)
        options.bytes = UInt64(max(0, j["num"]?.intValue ?? 0))
        options.blocks = UInt64(max(0, j["blockcount"]?.intValue ?? 0))
        options.parallel = Int(j["parallel"]?.intValue ?? 1)
        options.reverse = j["reverse"] != nil
        options.length = Int(j["len"]?.intValue ?? 0)
        if options.length == 0 { options.length = options.udp ? 1460 : 128 * 1024 }
        options.rate = UInt64(max(0, j["bandwidth"]?.intValue ?? 0))
        options.pacingTimer = Int(j["pacing_timer"]?.intValue ?? 1000)
        options.udpCounters64 = j["udp_counters_64bit"] != nil
        options.noDelay = j["nodelay"] != nil
        senderHasRetransmits = options.reverse && !options.udp ? 1 : 0
    }

    private func serverFinishTest(now: Instant) {
        collectStats(now: now, final: true)
        closeStreams()
        if !options.json { printIntermediate(); printResults() } else { appendIntervalJSON() }
        sendState(.exchangeResults)
        expect = .json({ _ in })
    }

    private func endOfTest(now: Instant) {
        if options.json {
            buildResultsJSON()
            finishJSON(error: nil)
        }
        if options.oneOff { exit(0); return }
        resetServer(now: now, failed: false)
    }

    private func resetServer(now: Instant, failed: Bool) {
        if failed && options.json { finishJSON(error: nil) }
        if options.oneOff { exit(failed ? 1 : 0); return }
        closeStreams()
        control?.close()
        control = nil
        controlIn = []
        udpListener?.close()
        udpListener = nil
        streams = []
        state = nil
        running = false
        done = false
        drainUntil = nil
        remoteResults = nil
        jsonConnected = []
        jsonIntervals = []
        jsonStart = JSONObject()
        jsonEnd = JSONObject()
        jsonStart["connected"] = .array([])
        jsonStart["version"] = .string("iperf \(Self.version)")
        jsonStart["system_info"] = .string("Linux netstack lab")
        printedHeaderFor = -1
        serverStart(now: now)
    }

    // MARK: results exchange

    /// send_results.
    func results() -> JSONValue {
        var j = JSONObject()
        j["cpu_util_total"] = .int(0)
        j["cpu_util_user"] = .int(0)
        j["cpu_util_system"] = .int(0)
        j["sender_has_retransmits"] = .int(isSender ? Int64(senderHasRetransmits) : -1)
        j["streams"] = .array(streams.map { sp in
            let bytes = sp.sender ? sp.bytesSent : sp.bytesReceived
            return .object([
                ("id", .int(Int64(sp.id))), ("bytes", .int(Int64(bytes))),
                ("retransmits", .int(sp.sender && senderHasRetransmits == 1 ? Int64(sp.retrans) : -1)),
                ("jitter", .double(sp.jitter)), ("errors", .int(sp.errors)), ("packets", .int(sp.packetCount)),
                ("start_time", .int(0)), ("end_time", .double(sp.endTime)),
            ])
        })
        return j.value
    }

    /// get_results.
    private func takeResults(_ j: JSONValue) {
        remoteResults = j
        guard j["cpu_util_total"] != nil, j["sender_has_retransmits"] != nil, case .array(let list)? = j["streams"] else {
            return fail("unable to receive results")
        }
        if !isSender { senderHasRetransmits = Int(j["sender_has_retransmits"]?.intValue ?? 0) }
        for s in list {
            guard let id = s["id"]?.intValue, let sp = streams.first(where: { $0.id == Int(id) }) else { continue }
            let bytes = UInt64(max(0, s["bytes"]?.intValue ?? 0))
            let packets = s["packets"]?.intValue ?? 0
            let span = (s["end_time"]?.doubleValue ?? 0) - (s["start_time"]?.doubleValue ?? 0)
            if sp.sender {
                sp.jitter = s["jitter"]?.doubleValue ?? 0
                sp.errors = s["errors"]?.intValue ?? 0
                sp.peerPacketCount = packets
                sp.bytesReceived = bytes
                sp.receiverTime = span
            } else {
                sp.peerPacketCount = packets
                sp.bytesSent = bytes
                sp.retrans = Int(s["retransmits"]?.intValue ?? 0)
                sp.senderTime = span
            }
        }
    }

    // MARK: text output

    private func line(_ s: String) {
        if let t = options.title { text += t + ":  " }
        text += s + "\n"
    }

    private func interval(_ a: Double, _ b: Double) -> String {
        Iperf3Format.pad(Iperf3Format.fixed(a, 2), 6) + "-" + Iperf3Format.pad(Iperf3Format.fixed(b, 2), 6, left: true)
    }

    private func rate(_ bytes: Double, _ secs: Double) -> String {
        Iperf3Format.unit(secs > 0 ? bytes / secs : 0, options.format) + "s/sec"
    }

    private func id(_ n: Int) -> String { "[" + Iperf3Format.pad(String(n), 3) + "]" }

    private static let separator = "- - - - - - - - - - - - - - - - - - - - - - - - -"

    /// iperf_print_intermediate for the last interval of every stream.
    private func printIntermediate() {
        guard !streams.isEmpty, let first = streams.first?.intervals.last else { return }
        // A very short last interval without data is left out.
        let keep = streams.contains { sp in
            guard let iv = sp.intervals.last else { return false }
            return iv.duration >= options.interval * 0.1 || iv.bytes > 0
        }
        guard keep else { return }
        if options.json { return }
        let index = first.start == 0 ? 0 : 1
        if index == 0 && printedHeaderFor != 0 {
            printedHeaderFor = 0
            if options.udp {
                line(isSender ? "[ ID] Interval           Transfer     Bitrate         Total Datagrams"
                              : "[ ID] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams")
            } else {
                line(senderHasRetransmits == 1 ? "[ ID] Interval           Transfer     Bitrate         Retr  Cwnd"
                                               : "[ ID] Interval           Transfer     Bitrate")
            }
        } else if streams.count > 1 {
            line(Self.separator)
        }
        var bytes: UInt64 = 0, retrans = 0
        var packets: Int64 = 0, lost: Int64 = 0
        var jitter = 0.0
        for sp in streams {
            guard let iv = sp.intervals.last else { continue }
            bytes += iv.bytes
            retrans += iv.retrans
            packets += iv.packets
            lost += iv.errors
            jitter += iv.jitter
            let head = "\(id(sp.socketNumber)) \(interval(iv.start, iv.end)) sec  \(Iperf3Format.unit(Double(iv.bytes), "A"))s  \(rate(Double(iv.bytes), iv.duration))"
            if options.udp {
                if sp.sender {
                    line("\(head)  \(iv.packets)  ")
                } else {
                    let pct = iv.packets > 0 ? 100.0 * Double(iv.errors) / Double(iv.packets) : 0
                    line("\(head)  \(Iperf3Format.fixed(iv.jitter * 1000, 3)) ms  \(iv.errors)/\(iv.packets) (\(Iperf3Format.general(pct, 2))%)  ")
                }
            } else if senderHasRetransmits == 1 && sp.sender {
                line("\(head)  \(Iperf3Format.pad(String(iv.retrans), 3))   \(Iperf3Format.unit(Double(iv.cwnd), "A"))s       ")
            } else {
                line("\(head)                  ")
            }
        }
        guard streams.count > 1 else { return }
        let head = "[SUM] \(interval(first.start, first.end)) sec  \(Iperf3Format.unit(Double(bytes), "A"))s  \(rate(Double(bytes), first.duration))"
        if options.udp {
            if isSender {
                line("\(head)  \(packets)  ")
            } else {
                let pct = packets > 0 ? 100.0 * Double(lost) / Double(packets) : 0
                line("\(head)  \(Iperf3Format.fixed(jitter / Double(streams.count) * 1000, 3)) ms  \(lost)/\(packets) (\(Iperf3Format.general(pct, 2))%)  ")
            }
        } else if senderHasRetransmits == 1 && isSender {
            line("\(head)  \(Iperf3Format.pad(String(retrans), 3))             ")
        } else {
            line("\(head)                  ")
        }
    }

    /// The sender and receiver times of the test (from the first stream).
    private func times() -> (sender: Double, receiver: Double) {
        guard let sp = streams.first else { return (0, 0) }
        if sp.sender {
            return (sp.endTime, sp.receiverTime == 0 ? sp.endTime : sp.receiverTime)
        }
        return (sp.senderTime == 0 ? sp.endTime : sp.senderTime, sp.endTime)
    }

    /// iperf_print_results (text).
    private func printResults() {
        line(Self.separator)
        if options.udp {
            line("[ ID] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams")
        } else {
            line(senderHasRetransmits != 0 ? "[ ID] Interval           Transfer     Bitrate         Retr"
                                           : "[ ID] Interval           Transfer     Bitrate")
        }
        let (st, rt) = times()
        let server = options.role == .server
        var totalSent: UInt64 = 0, totalReceived: UInt64 = 0, totalRetrans = 0
        var sentPackets: Int64 = 0, receivedPackets: Int64 = 0, lost: Int64 = 0
        var jitter = 0.0
        for sp in streams {
            totalSent += sp.bytesSent
            totalReceived += sp.bytesReceived
            totalRetrans += sp.retrans
            let senderPackets = sp.sender ? sp.packetCount : sp.peerPacketCount
            let receiverPackets = sp.sender ? sp.peerPacketCount : sp.packetCount
            sentPackets += senderPackets
            receivedPackets += receiverPackets
            lost += sp.errors
            jitter += sp.jitter
            let sent = "\(id(sp.socketNumber)) \(interval(0, st)) sec  \(Iperf3Format.unit(Double(sp.bytesSent), "A"))s  \(rate(Double(sp.bytesSent), st))"
            let recv = "\(id(sp.socketNumber)) \(interval(0, rt)) sec  \(Iperf3Format.unit(Double(sp.bytesReceived), "A"))s  \(rate(Double(sp.bytesReceived), rt))"
            if options.udp {
                if !(server && !sp.sender) { line("\(sent)  0.000 ms  0/\(senderPackets) (0%)  sender") }
                if !(server && sp.sender) {
                    let pct = receiverPackets > 0 ? 100.0 * Double(sp.errors) / Double(receiverPackets) : 0
                    line("\(recv)  \(Iperf3Format.fixed(sp.jitter * 1000, 3)) ms  \(sp.errors)/\(receiverPackets) (\(Iperf3Format.general(pct, 2))%)  receiver")
                }
            } else {
                if !(server && !sp.sender) {
                    if senderHasRetransmits != 0 {
                        line("\(sent)  \(Iperf3Format.pad(String(sp.retrans), 3))             sender")
                    } else {
                        line("\(sent)                  sender")
                    }
                }
                if !(server && sp.sender) { line("\(recv)                  receiver") }
            }
        }
        guard streams.count > 1 else { return }
        let sent = "[SUM] \(interval(0, st)) sec  \(Iperf3Format.unit(Double(totalSent), "A"))s  \(rate(Double(totalSent), st))"
        let recv = "[SUM] \(interval(0, rt)) sec  \(Iperf3Format.unit(Double(totalReceived), "A"))s  \(rate(Double(totalReceived), rt))"
        if options.udp {
            if !(server && !isSender) { line("\(sent)  0.000 ms  0/\(sentPackets) (0%)  sender") }
            if !(server && isSender) {
                let pct = receivedPackets > 0 ? 100.0 * Double(lost) / Double(receivedPackets) : 0
                line("\(recv)  \(Iperf3Format.fixed(jitter / Double(streams.count) * 1000, 3)) ms  \(lost)/\(receivedPackets) (\(Iperf3Format.general(pct, 2))%)  receiver")
            }
        } else {
            if !(server && !isSender) {
                if senderHasRetransmits != 0 {
                    line("\(sent)  \(Iperf3Format.pad(String(totalRetrans), 3))             sender")
                } else {
                    line("\(sent)                  sender")
                }
            }
            if !(server && isSender) { line("\(recv)                  receiver") }
        }
    }

    // MARK: JSON output

    private func appendIntervalJSON() {
        guard options.json, !streams.isEmpty, let first = streams.first?.intervals.last else { return }
        let keep = streams.contains { sp in
            guard let iv = sp.intervals.last else { return false }
            return iv.duration >= options.interval * 0.1 || iv.bytes > 0
        }
        guard keep else { return }
        var list: [JSONValue] = []
        var bytes: UInt64 = 0, retrans = 0
        var packets: Int64 = 0, lost: Int64 = 0
        var jitter = 0.0
        for sp in streams {
            guard let iv = sp.intervals.last else { continue }
            bytes += iv.bytes; retrans += iv.retrans; packets += iv.packets; lost += iv.errors; jitter += iv.jitter
            var o = JSONObject()
            o["socket"] = .int(Int64(sp.socketNumber))
            o["start"] = .double(iv.start)
            o["end"] = .double(iv.end)
            o["seconds"] = .double(iv.duration)
            o["bytes"] = .int(Int64(iv.bytes))
            o["bits_per_second"] = .double(iv.duration > 0 ? Double(iv.bytes) * 8 / iv.duration : 0)
            if options.udp {
                if sp.sender {
                    o["packets"] = .int(iv.packets)
                } else {
                    o["jitter_ms"] = .double(iv.jitter * 1000)
                    o["lost_packets"] = .int(iv.errors)
                    o["packets"] = .int(iv.packets)
                    o["lost_percent"] = .double(iv.packets > 0 ? 100 * Double(iv.errors) / Double(iv.packets) : 0)
                }
            } else if senderHasRetransmits == 1 && sp.sender {
                o["retransmits"] = .int(Int64(iv.retrans))
                o["snd_cwnd"] = .int(Int64(iv.cwnd))
                o["snd_wnd"] = .int(Int64(iv.sndWnd))
                o["rtt"] = .int(Int64(iv.rtt))
                o["rttvar"] = .int(Int64(iv.rttvar))
            }
            o["omitted"] = .bool(false)
            o["sender"] = .bool(sp.sender)
            list.append(o.value)
        }
        var sum = JSONObject()
        sum["start"] = .double(first.start)
        sum["end"] = .double(first.end)
        sum["seconds"] = .double(first.duration)
        sum["bytes"] = .int(Int64(bytes))
        sum["bits_per_second"] = .double(first.duration > 0 ? Double(bytes) * 8 / first.duration : 0)
        if options.udp {
            if isSender {
                sum["packets"] = .int(packets)
            } else {
                sum["jitter_ms"] = .double(jitter / Double(streams.count) * 1000)
                sum["lost_packets"] = .int(lost)
                sum["packets"] = .int(packets)
                sum["lost_percent"] = .double(packets > 0 ? 100 * Double(lost) / Double(packets) : 0)
            }
        } else if senderHasRetransmits == 1 && isSender {
            sum["retransmits"] = .int(Int64(retrans))
        }
        sum["omitted"] = .bool(false)
        sum["sender"] = .bool(isSender)
        jsonIntervals.append(.object([("streams", .array(list)), ("sum", sum.value)]))
    }

    private func buildResultsJSON() {
        let (st, rt) = times()
        var list: [JSONValue] = []
        var totalSent: UInt64 = 0, totalReceived: UInt64 = 0, totalRetrans = 0
        var sentPackets: Int64 = 0, receivedPackets: Int64 = 0, lost: Int64 = 0
        var jitter = 0.0
        let me = isSender
        for sp in streams {
            totalSent += sp.bytesSent; totalReceived += sp.bytesReceived; totalRetrans += sp.retrans
            let senderPackets = sp.sender ? sp.packetCount : sp.peerPacketCount
            let receiverPackets = sp.sender ? sp.peerPacketCount : sp.packetCount
            sentPackets += senderPackets; receivedPackets += receiverPackets; lost += sp.errors; jitter += sp.jitter
            if options.udp {
                let packets = senderPackets != 0 ? senderPackets : receiverPackets
                list.append(.object([("udp", .object([
                    ("socket", .int(Int64(sp.socketNumber))), ("start", .int(0)), ("end", .double(st)), ("seconds", .double(st)),
                    ("bytes", .int(Int64(sp.bytesSent))), ("bits_per_second", .double(st > 0 ? Double(sp.bytesSent) * 8 / st : 0)),
                    ("jitter_ms", .double(sp.jitter * 1000)), ("lost_packets", .int(sp.errors)), ("packets", .int(packets)),
                    ("lost_percent", .double(senderPackets > 0 ? 100 * Double(sp.errors) / Double(senderPackets) : 0)),
                    ("out_of_order", .int(sp.outOfOrder)), ("sender", .bool(me)),
                ]))]))
            } else {
                var s = JSONObject()
                s["socket"] = .int(Int64(sp.socketNumber))
                s["start"] = .int(0)
                s["end"] = .double(st)
                s["seconds"] = .double(st)
                s["bytes"] = .int(Int64(sp.bytesSent))
                s["bits_per_second"] = .double(st > 0 ? Double(sp.bytesSent) * 8 / st : 0)
                if senderHasRetransmits != 0 {
                    s["retransmits"] = .int(Int64(sp.retrans))
                    s["max_snd_cwnd"] = .int(Int64(sp.maxCwnd))
                    s["max_snd_wnd"] = .int(Int64(sp.maxSndWnd))
                    s["max_rtt"] = .int(Int64(sp.maxRtt))
                    s["min_rtt"] = .int(Int64(sp.minRtt))
                    s["mean_rtt"] = .int(Int64(sp.countRtt > 0 ? sp.sumRtt / sp.countRtt : 0))
                }
                s["sender"] = .bool(me)
                let r: JSONValue = .object([
                    ("socket", .int(Int64(sp.socketNumber))), ("start", .int(0)), ("end", .double(rt)), ("seconds", .double(sp.endTime)),
                    ("bytes", .int(Int64(sp.bytesReceived))), ("bits_per_second", .double(rt > 0 ? Double(sp.bytesReceived) * 8 / rt : 0)),
                    ("sender", .bool(me)),
                ])
                list.append(.object([("sender", s.value), ("receiver", r)]))
            }
        }
        jsonEnd["streams"] = .array(list)
        func summary(_ start: Double, _ secs: Double, _ bytes: UInt64, _ extra: [(String, JSONValue)], sender: Bool) -> JSONValue {
            .object([("start", .int(Int64(start))), ("end", .double(secs)), ("seconds", .double(secs)), ("bytes", .int(Int64(bytes))),
                     ("bits_per_second", .double(secs > 0 ? Double(bytes) * 8 / secs : 0))] + extra + [("sender", .bool(sender))])
        }
        let n = Double(max(streams.count, 1))
        if options.udp {
            let pct = sentPackets > 0 ? 100 * Double(lost) / Double(sentPackets) : 0
            jsonEnd["sum"] = summary(0, rt, totalSent, [("jitter_ms", .double(jitter / n * 1000)), ("lost_packets", .int(lost)),
                                                         ("packets", .int(sentPackets)), ("lost_percent", .double(pct))], sender: me)
            jsonEnd["sum_sent"] = summary(0, st, totalSent, [("jitter_ms", .int(0)), ("lost_packets", .int(0)),
                                                              ("packets", .int(sentPackets)), ("lost_percent", .int(0))], sender: true)
            let rpct = receivedPackets > 0 ? 100 * Double(lost) / Double(receivedPackets) : 0
            jsonEnd["sum_received"] = summary(0, rt, totalReceived, [("jitter_ms", .double(jitter / n * 1000)), ("lost_packets", .int(lost)),
                                                                      ("packets", .int(receivedPackets)), ("lost_percent", .double(rpct))], sender: false)
        } else {
            jsonEnd["sum_sent"] = summary(0, st, totalSent, senderHasRetransmits != 0 ? [("retransmits", .int(Int64(totalRetrans)))] : [], sender: me)
            jsonEnd["sum_received"] = summary(0, rt, totalReceived, [], sender: me)
        }
        jsonEnd["cpu_utilization_percent"] = .object([
            ("host_total", .int(0)), ("host_user", .int(0)), ("host_system", .int(0)),
            ("remote_total", .int(0)), ("remote_user", .int(0)), ("remote_system", .int(0)),
        ])
    }

    private func finishJSON(error: String?) {
        guard options.json else { return }
        jsonStart["connected"] = .array(jsonConnected)
        var top = JSONObject()
        top["start"] = jsonStart.value
        top["intervals"] = .array(jsonIntervals)
        top["end"] = jsonEnd.value
        if let t = options.title { top["title"] = .string(t) }
        if let e = error { top["error"] = .string(e) }
        text += Iperf3Format.json(top.value, formatted: true) + "\n"
    }
}

extension Iperf3Process: SteppedTool {}
