// TCP under stress, through the whole stack: two namespaces joined by a
// veth whose two ends carry a netem root qdisc (Sched/Netem.swift, as
// `tc qdisc add dev v0 root netem …` on Linux), sockets on either side
// (Transport/TCPSockets.swift), everything stepped in virtual time.
//
// Shared, word for word, by two builds: Tests/NetstackTests/TCPStressTests.swift
// (debug `swift test`, a few MB per case) and Benchmarks/Sources/TCPSoak
// (release, ≥ 100 MB per case; that folder holds a symlink to this file).
// It therefore uses the public API only.
//
// What it measures:
// - `soakTransfer`: one connection a → b moves N bytes of a pseudo-random
//   stream; the writer and the reader each keep an FNV-1a digest of what
//   they wrote/read; afterwards both close and, once TIME-WAIT (60 s of
//   virtual time) has passed, the packet pool and the socket tables must be
//   back where they started.
// - `soakSynFlood`: spoofed SYNs from random sources at a fixed rate to a
//   listener while legitimate clients connect and exchange data.
// - `soakChurn`: many short connect/request/reply/close cycles, then the
//   pool and tables back to baseline after TIME-WAIT.
import NetWire
import Netstack

/// FNV-1a, 64-bit, over whole bytes: any chunking of a stream gives the same digest.
struct SoakFNV {
    var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var h = value
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        value = h
    }
}

/// The stream a writer sends: byte i is `bytes[i % period]`. The period is
/// prime, so segment boundaries never line up with it.
struct SoakPattern {
    static let period = 1_000_003
    static let maxSlice = 65_536
    let bytes: [UInt8]

    init(seed: UInt64) {
        var r = Random(seed: seed)
        var b = [UInt8](repeating: 0, count: Self.period + Self.maxSlice)
        var i = 0
        while i < Self.period {
            let w = r.next()
            for k in 0..<8 where i + k < Self.period { b[i + k] = UInt8(truncatingIfNeeded: w >> (8 * UInt64(k))) }
            i += 8
        }
        // The tail repeats the head so that a slice never wraps.
        for k in 0..<Self.maxSlice { b[Self.period + k] = b[k] }
        bytes = b
    }

    /// Calls `body` with the stream from `offset`, at most `maxSlice` bytes.
    func withSlice<R>(at offset: Int, count: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let start = offset % Self.period
        let n = min(count, Self.maxSlice)
        return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start..<(start + n)])) }
    }
}

/// netem settings for one transfer, per direction (a → b carries the data).
struct SoakCase {
    var name: String
    var forward: NetemOptions?
    var reverse: NetemOptions?

    /// `delay D loss L duplicate P reorder R gap 1 corrupt C rate B limit N`, in
    /// tc's units: milliseconds, percent, bits per second.
    static func netem(delayMs: Double = 0, jitterMs: Double = 0, loss: Double = 0, duplicate: Double = 0,
                      reorder: Double = 0, corrupt: Double = 0, rateBits: UInt64 = 0, limit: UInt32 = 1000) -> NetemOptions {
        var o = NetemOptions()
        o.latency = Int64(delayMs * 1_000_000)
        o.jitter = Int64(jitterMs * 1_000_000)
        o.loss = NetemOptions.probability(percent: loss)
        o.duplicate = NetemOptions.probability(percent: duplicate)
        o.reorder = NetemOptions.probability(percent: reorder)
        if reorder > 0 { o.gap = 1 }     // tc sets gap 1 when only `reorder` is given
        o.corrupt = NetemOptions.probability(percent: corrupt)
        o.rate = rateBits / 8
        o.limit = limit
        return o
    }

    static func both(_ name: String, _ o: NetemOptions) -> SoakCase { SoakCase(name: name, forward: o, reverse: o) }

    /// The matrix: 5 ms each way (10 ms RTT) unless said otherwise;
    /// impairments on both directions (data and ACKs) unless said otherwise.
    static let matrix: [SoakCase] = [
        both("clean", netem(delayMs: 5)),
        both("loss 1%", netem(delayMs: 5, loss: 1)),
        both("loss 5%", netem(delayMs: 5, loss: 5)),
        both("loss 10%", netem(delayMs: 5, loss: 10)),
        SoakCase(name: "reorder 10% (data)", forward: netem(delayMs: 10, reorder: 10), reverse: netem(delayMs: 10)),
        both("jitter 5±4 ms", netem(delayMs: 5, jitterMs: 4)),
        both("duplicate 5%", netem(delayMs: 5, duplicate: 5)),
        both("corrupt 2%", netem(delayMs: 5, corrupt: 2)),
        SoakCase(name: "rate 100 Mbit", forward: netem(delayMs: 10, rateBits: 100_000_000),
                 reverse: netem(delayMs: 10)),
        both("all: 2% loss, 1% dup, 5% reorder, 1% corrupt, 50 Mbit",
             netem(delayMs: 5, loss: 2, duplicate: 1, reorder: 5, corrupt: 1, rateBits: 50_000_000)),
    ]
}

/// Two namespaces a (10.0.0.1) and b (10.0.0.2) on a veth v0–v1, each end
/// optionally under netem.
final class SoakWorld {
    static let addressA = IPAddress.v4(IPv4Address(10, 0, 0, 1))
    static let addressB = IPAddress.v4(IPv4Address(10, 0, 0, 2))

    let stack: Stack
    let a: NetworkNamespace
    let b: NetworkNamespace
    let va: NetDevice
    let vb: NetDevice

    init(seed: UInt64, forward: NetemOptions? = nil, reverse: NetemOptions? = nil, poolSlots: Int = 8192) throws {
        stack = Stack(seed: seed, poolSlots: poolSlots)
        a = try stack.addNamespace("a")
        b = try stack.addNamespace("b")
        va = try a.addLink(name: "v0", kind: .veth, peerName: "v1", peerNamespace: b)
        guard let v1 = b.device(named: "v1") else { throw SoakError("no v1") }
        vb = v1
        for (ns, d, addr) in [(a, va, "10.0.0.1/24"), (b, vb, "10.0.0.2/24")] {
            ns.setUp(ns.loopback)
            ns.setUp(d)
            guard let p = IPPrefix(addr) else { throw SoakError("bad prefix") }
            try ns.addAddress(InterfaceAddress(prefix: p), to: d, now: .zero)
        }
        // tc qdisc add dev v0 root netem … (and v1), each with its own seed.
        let info = QdiscDeviceInfo(txQueueLength: 1000, mtu: 1500, noQueue: false)
        if let f = forward {
            va.qdisc = Qdisc(.netem(f), handle: QdiscHandle(major: 0x8001), device: info, seed: seed &* 2 &+ 1)
        }
        if let r = reverse {
            vb.qdisc = Qdisc(.netem(r), handle: QdiscHandle(major: 0x8001), device: info, seed: seed &* 2 &+ 2)
        }
    }

    var now: Instant { stack.now }
    var poolAvailable: Int { stack.shard.pool.available }
    /// Sockets holding a port in each namespace (listeners, connections, TIME-WAIT).
    var socketCount: (a: Int, b: Int) { (a.tcp.sockets.count, b.tcp.sockets.count) }

    /// Steps virtual time, calling `body` after every poll, until it returns
    /// true (→ true), `limit` passes or `maxPolls` polls were made (→ false).
    /// When nothing is due before `limit` time jumps to it.
    @discardableResult
    func run(until limit: Instant, maxPolls: Int = 50_000_000, _ body: () -> Bool = { false }) -> Bool {
        stack.poll(now: stack.now)
        if body() { return true }
        var polls = 0
        while polls < maxPolls {
            guard let d = stack.nextDeadline else {
                // Idle: nothing will happen unless time passes.
                if limit != .distantFuture { stack.poll(now: limit) }
                return body()
            }
            guard d <= limit else {
                stack.poll(now: limit)
                return body()
            }
            stack.poll(now: max(stack.now, d))
            polls += 1
            if body() { return true }
        }
        return false
    }

    @discardableResult
    func run(for span: TimeDelta, _ body: () -> Bool = { false }) -> Bool { run(until: now + span, body) }
}

struct SoakError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// What one transfer did.
struct SoakTransferResult {
    var name = ""
    var bytes = 0
    var sent = 0
    var received = 0
    var sentHash: UInt64 = 0
    var receivedHash: UInt64 = 0
    /// From connect() to the reader seeing end of stream.
    var virtualTime = TimeDelta.zero
    var retransmits = 0
    var timeouts: UInt64 = 0
    var checksumErrors: UInt64 = 0
    /// Pool slots and sockets after both closed and TIME-WAIT passed, and before the connection.
    var poolBefore = 0
    var poolAfter = 0
    var socketsAfter = (a: 0, b: 0)
    /// Why it failed (stall, error), nil when it finished.
    var failure: String?
    /// The sender's state at each tenth of the transfer: bytes read,
    /// virtual time, cwnd and ssthresh (segments), send window, RTO.
    var samples: [String] = []

    var intact: Bool { failure == nil && received == bytes && sent == bytes && receivedHash == sentHash }
    var clean: Bool { poolAfter == poolBefore && socketsAfter.a == 0 && socketsAfter.b == 0 }
    /// Goodput in megabytes (10^6) per virtual second.
    var goodput: Double {
        let s = Double(virtualTime.nanoseconds) / 1e9
        return s > 0 ? Double(received) / 1e6 / s : 0
    }
}

/// Moves `bytes` from a to b over one connection under `c`'s impairments.
/// Fails (result.failure) when no byte is delivered for `stallLimit` of
/// virtual time, or a socket reports an error.
func soakTransfer(_ c: SoakCase, bytes total: Int, seed: UInt64, pattern: SoakPattern,
                  stallLimit: TimeDelta = .seconds(300)) -> SoakTransferResult {
    var r = SoakTransferResult()
    r.name = c.name
    r.bytes = total
    let w: SoakWorld
    do { w = try SoakWorld(seed: seed, forward: c.forward, reverse: c.reverse) } catch {
        r.failure = "setup: \(error)"
        return r
    }
    r.poolBefore = w.poolAvailable
    let listener = w.b.tcpSocket()
    let client = w.a.tcpSocket()
    do {
        try listener.bind(nil, port: 5001)
        try listener.listen(backlog: 16)
    } catch {
        r.failure = "listen: \(error)"
        return r
    }
    do { try client.connect(SoakWorld.addressB, port: 5001) } catch {
        if error != .EINPROGRESS { r.failure = "connect: \(error)"; return r }
    }
    let start = w.now
    var server: TCPSocket?
    var sentHash = SoakFNV(), receivedHash = SoakFNV()
    var shut = false, eof = false
    var lastProgress = start
    var nextSample = total / 10
    var buffer = [UInt8](repeating: 0, count: 262_144)
    var failure: String?
    let done = w.run(until: .distantFuture) {
        if server == nil { server = try? listener.accept() }
        if client.isConnected {
            while r.sent < total {
                let took: Int = pattern.withSlice(at: r.sent, count: total - r.sent) { slice in
                    guard let n = try? client.send(slice), n > 0 else { return 0 }
                    sentHash.add(UnsafeRawBufferPointer(rebasing: slice[0..<n]))
                    return n
                }
                if took == 0 { break }
                r.sent += took
            }
            if r.sent == total && !shut {
                try? client.shutdown(.write)
                shut = true
            }
        }
        if let s = server {
            while !eof {
                let n: Int? = buffer.withUnsafeMutableBytes { b in
                    guard let n = try? s.receive(into: b) else { return nil }
                    receivedHash.add(UnsafeRawBufferPointer(rebasing: b[0..<n]))
                    return n
                }
                guard let n else { break }
                if n == 0 { eof = true } else { r.received += n; lastProgress = w.now }
            }
            if r.received >= nextSample, let k = client.connection {
                nextSample += total / 10
                let ss = k.window.ssthresh == TCPCongestionWindow.infiniteSsthresh ? "∞" : "\(k.window.ssthresh)"
                r.samples.append("\(r.received / 1_000_000) MB at \(w.now - start): cwnd \(k.window.cwnd) ssthresh \(ss) "
                                 + "snd_wnd \(k.sndWnd) rto \(k.rto) retrans \(k.totalRetransmits) \(k.congestionState)")
            }
            if let e = s.error { failure = "server socket error \(e)" }
        }
        if let e = client.error { failure = "client socket error \(e)" }
        if w.now - lastProgress > stallLimit { failure = "stalled at \(r.received) of \(total) bytes" }
        return eof || failure != nil
    }
    r.virtualTime = w.now - start
    r.retransmits = client.connection?.totalRetransmits ?? 0
    r.timeouts = w.stack.shard.counters[.tcpExtTCPTimeouts]
    r.checksumErrors = w.stack.shard.counters[.tcpInCsumErrors]
    r.sentHash = sentHash.value
    r.receivedHash = receivedHash.value
    if !done && failure == nil { failure = "the stack went idle at \(r.received) of \(total) bytes" }
    r.failure = failure
    // Both close; the listener too. After TIME-WAIT (60 s) nothing may be left.
    server?.close()
    client.close()
    listener.close()
    w.run(for: .seconds(200))
    r.poolAfter = w.poolAvailable
    r.socketsAfter = w.socketCount
    return r
}

// MARK: SYN flood

struct SoakFloodResult {
    var spoofedSyns = 0
    var legitimate = 0
    var completed = 0
    var failed: [String] = []
    var cookiesSent: UInt64 = 0
    var cookiesReceived: UInt64 = 0
    var listenDrops: UInt64 = 0
    var maxSynQueue = 0
    var poolBefore = 0
    var poolAfter = 0
    var socketsAfter = (a: 0, b: 0)
}

/// A spoofed SYN frame to b:port from a random off-link source (b routes
/// its SYN-ACKs to them via a, which does not forward and drops them).
func soakSpoofedSyn(_ w: SoakWorld, port: UInt16, rng: inout Random) -> [UInt8] {
    var src: UInt32
    repeat { src = UInt32(truncatingIfNeeded: rng.next()) } while
        src >> 24 == 0 || src >> 24 == 10 || src >> 24 == 127 || src >> 24 >= 224
    let source = IPv4Address(rawValue: src)
    let dest = IPv4Address(10, 0, 0, 2)
    var tcp = TCPRepr(sourcePort: UInt16(truncatingIfNeeded: rng.next() | 1024), destinationPort: port,
                      sequenceNumber: TCPSeqNumber(rawValue: UInt32(truncatingIfNeeded: rng.next())),
                      flags: .syn, windowSize: 64_240)
    tcp.options = TCPOptions(maximumSegmentSize: 1460, windowScale: 7, sackPermitted: true)
    let tcpLength = tcp.headerLength
    var frame = [UInt8](repeating: 0, count: 14 + 20 + tcpLength)
    frame.withUnsafeMutableBytes { out in
        try? EthernetRepr(destination: w.vb.mac, source: MACAddress(2, 0, 0, 0, 0, 0x66), etherType: .ipv4).emit(into: out)
        try? IPv4Repr(source: source, destination: dest, protocol: .tcp, payloadLength: tcpLength)
            .emit(into: UnsafeMutableRawBufferPointer(rebasing: out[14...]))
        try? tcp.emit(into: UnsafeMutableRawBufferPointer(rebasing: out[34...]),
                      pseudoHeader: .ipv4(source: source, destination: dest))
    }
    return frame
}

/// `synsPerSecond` spoofed SYNs (spread evenly, 1 ms ticks) to a listener
/// on b for `duration`; meanwhile a new legitimate client every
/// `clientInterval` connects, sends `requestBytes`, reads them echoed back
/// and closes. Then 200 s pass and the tables must be empty again.
func soakSynFlood(seed: UInt64, synsPerSecond: Int, duration: TimeDelta, clientInterval: TimeDelta = .milliseconds(100),
                  requestBytes: Int = 1000, backlog: Int = 128) -> SoakFloodResult {
    var r = SoakFloodResult()
    guard let w = try? SoakWorld(seed: seed) else { r.failed.append("setup"); return r }
    // b's replies to spoofed sources go to a (default route), which drops them.
    try? w.b.routing.tables.insert(Route(destination: IPPrefix("0.0.0.0/0")!,
                                         nextHops: [NextHop(gateway: SoakWorld.addressA, device: w.vb.ifindex)]),
                                   mode: .add)
    r.poolBefore = w.poolAvailable
    let listener = w.b.tcpSocket()
    do {
        try listener.bind(nil, port: 80)
        try listener.listen(backlog: backlog)
    } catch { r.failed.append("listen: \(error)"); return r }
    var rng = Random(seed: seed &+ 99)
    struct Client { var socket: TCPSocket; var sent = 0; var got: [UInt8] = []; var done = false; var id: Int }
    var clients: [Client] = []
    var servers: [(TCPSocket, [UInt8], Bool)] = []  // socket, echoed so far pending, closed
    let request = (0..<requestBytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    let start = w.now
    let tick = TimeDelta.milliseconds(1)
    var nextClient = start
    var carry = 0
    var t = start
    let end = start + duration
    var idCounter = 0

    func serve() {
        while let s = try? listener.accept() { servers.append((s, [], false)) }
        for i in servers.indices where !servers[i].2 {
            let s = servers[i].0
            var eof = false
            while let chunk = try? s.receive(max: 65_536) {
                if chunk.isEmpty { eof = true; break }
                servers[i].1 += chunk
            }
            if !servers[i].1.isEmpty, let n = try? s.send(servers[i].1), n > 0 { servers[i].1.removeFirst(n) }
            if (eof && servers[i].1.isEmpty) || s.error != nil { s.close(); servers[i].2 = true }
        }
        servers.removeAll { $0.2 }
        for i in clients.indices where !clients[i].done {
            let c = clients[i].socket
            if c.isConnected && clients[i].sent < request.count {
                if let n = try? request[clients[i].sent...].withUnsafeBytes({ try c.send($0) }) { clients[i].sent += n }
                if clients[i].sent == request.count { try? c.shutdown(.write) }
            }
            while c.isConnected, let chunk = try? c.receive(max: 65_536) {
                if chunk.isEmpty {
                    clients[i].done = true
                    if clients[i].got == request { r.completed += 1 } else {
                        r.failed.append("client \(clients[i].id): \(clients[i].got.count) bytes back, wrong")
                    }
                    c.close()
                    break
                }
                clients[i].got += chunk
            }
            if let e = c.error, !clients[i].done {
                clients[i].done = true
                r.failed.append("client \(clients[i].id): \(e) after \(c.state.map { "\($0)" } ?? "-")")
                c.close()
            }
        }
        r.maxSynQueue = max(r.maxSynQueue, listener.synQueueLength)
    }

    while t < end {
        // This millisecond's share of spoofed SYNs.
        carry += synsPerSecond
        while carry >= 1000 {
            carry -= 1000
            let f = soakSpoofedSyn(w, port: 80, rng: &rng)
            if let p = w.stack.shard.pool.allocate(copying: f) {
                w.vb.receive(p)
                r.spoofedSyns += 1
            }
        }
        if t >= nextClient {
            let c = w.a.tcpSocket()
            do { try c.connect(SoakWorld.addressB, port: 80) } catch {
                if error != .EINPROGRESS { r.failed.append("connect: \(error)") }
            }
            clients.append(Client(socket: c, id: idCounter))
            idCounter += 1
            r.legitimate += 1
            nextClient = nextClient + clientInterval
        }
        t = t + tick
        w.run(until: t) { serve(); return false }
    }
    // The flood stops; the last clients finish (a SYN lost to a full queue is retried after 1 s, 3 s…).
    w.run(for: .seconds(30)) {
        serve()
        return clients.allSatisfy(\.done)
    }
    for c in clients where !c.done { r.failed.append("client \(c.id): unfinished in \(c.socket.state.map { "\($0)" } ?? "-")") }
    r.cookiesSent = w.stack.shard.counters[.tcpExtSyncookiesSent]
    r.cookiesReceived = w.stack.shard.counters[.tcpExtSyncookiesRecv]
    r.listenDrops = w.stack.shard.counters[.tcpExtListenDrops]
    listener.close()
    for s in servers { s.0.close() }
    w.run(for: .seconds(200))
    r.poolAfter = w.poolAvailable
    r.socketsAfter = w.socketCount
    return r
}

// MARK: churn

struct SoakChurnResult {
    var cycles = 0
    var failures = 0
    var firstFailure: String?
    var virtualTime = TimeDelta.zero
    var peakSockets = (a: 0, b: 0)
    var poolBefore = 0
    var poolAfter = 0
    var socketsBefore = (a: 0, b: 0)
    var socketsAfter = (a: 0, b: 0)
}

/// `cycles` short connections a → b:80, `concurrency` at a time: the client
/// connects and sends a 100-byte request; the server reads it, answers
/// 100 bytes and closes (the server is the active closer
/// and holds TIME-WAIT, as HTTP servers do); the client reads the answer
/// and end of stream and closes. Afterwards TIME-WAIT runs out and the
/// pool and socket tables must be back at their baseline.
func soakChurn(cycles total: Int, concurrency: Int, seed: UInt64, maxVirtual: TimeDelta = .seconds(36_000)) -> SoakChurnResult {
    var r = SoakChurnResult()
    guard let w = try? SoakWorld(seed: seed) else { r.firstFailure = "setup"; r.failures = 1; return r }
    let listener = w.b.tcpSocket()
    do {
        try listener.bind(nil, port: 80)
        try listener.listen(backlog: 4096)
    } catch { r.firstFailure = "listen: \(error)"; r.failures = 1; return r }
    r.poolBefore = w.poolAvailable
    r.socketsBefore = w.socketCount
    let request = [UInt8](repeating: 0x51, count: 100)
    let reply = [UInt8](repeating: 0x52, count: 100)
    struct Slot { var socket: TCPSocket?; var sent = false; var got = 0 }
    var slots = [Slot](repeating: Slot(), count: concurrency)
    var servers: [(socket: TCPSocket, got: Int)] = []
    var started = 0
    var nextSample = 1000
    let start = w.now
    var buffer = [UInt8](repeating: 0, count: 4096)

    func fail(_ m: String) {
        r.failures += 1
        if r.firstFailure == nil { r.firstFailure = m }
    }

    w.run(until: start + maxVirtual) {
        // Clients: start, send, read the answer, close.
        for i in slots.indices {
            if slots[i].socket == nil {
                guard started < total else { continue }
                let c = w.a.tcpSocket()
                do throws(Errno) { try c.connect(SoakWorld.addressB, port: 80) } catch {
                    if error != .EINPROGRESS { fail("connect #\(started): \(error)"); c.close(); continue }
                }
                started += 1
                if c.isConnected || c.state == .synSent {
                    slots[i] = Slot(socket: c)
                }
            }
            guard let c = slots[i].socket else { continue }
            if c.isConnected && !slots[i].sent && c.state == .established {
                slots[i].sent = (try? c.send(request)) == request.count
            }
            var finished = false
            while let n = buffer.withUnsafeMutableBytes({ try? c.receive(into: $0) }) {
                if n == 0 { finished = true; break }
                slots[i].got += n
            }
            if let e = c.error {
                fail("client: \(e)")
                finished = true
            } else if finished && slots[i].got != reply.count {
                fail("client: \(slots[i].got) bytes of reply")
            }
            if finished {
                c.close()
                slots[i].socket = nil
                if !(c.error != nil) { r.cycles += 1 }
            }
        }
        // Server: accept, read the request to its end, answer, close.
        while let s = try? listener.accept() { servers.append((s, 0)) }
        var k = 0
        while k < servers.count {
            let s = servers[k].socket
            var eof = false
            while servers[k].got < request.count, let n = buffer.withUnsafeMutableBytes({ try? s.receive(into: $0) }) {
                if n == 0 { eof = true; break }
                servers[k].got += n
            }
            if servers[k].got >= request.count || eof || s.error != nil {
                if servers[k].got == request.count && s.error == nil { _ = try? s.send(reply) } else {
                    fail("server: \(servers[k].got) bytes of request, \(s.error.map { "\($0)" } ?? "no error")")
                }
                s.close()
                servers.swapAt(k, servers.count - 1)
                servers.removeLast()
            } else {
                k += 1
            }
        }
        if r.cycles >= nextSample {
            nextSample += 1000
            let n = w.socketCount
            r.peakSockets = (max(r.peakSockets.a, n.a), max(r.peakSockets.b, n.b))
        }
        return started >= total && slots.allSatisfy { $0.socket == nil } && servers.isEmpty
    }
    r.virtualTime = w.now - start
    w.run(for: .seconds(200))
    r.poolAfter = w.poolAvailable
    r.socketsAfter = w.socketCount
    return r
}
