// InprocBench: the peers harness's in-process workloads
// (../shared/peers/README.md, "In-process"; reference semantics in
// ../shared/peers/gvisor/gvbench/inproc.go) on swift-netstack: two
// namespaces a (10.1.0.1) and b (10.0.0.2) of one Stack joined by a veth,
// sockets on either side, the stack polled on this one thread at the
// monotonic clock, so timers (delayed ACK, RTO) run in real time.
//
//   InprocBench bulk -t S [-nogso]   64 KiB writes a → b for S s, close, wait for the sink's EOF
//   InprocBench rr -t S [-l N]       N-byte (default 1) ping-pong, TCP_NODELAY
//   InprocBench crr -t S             connect, 1 B request, 1 B reply, server closes, EOF, close
//   (rr and crr with -n N: exactly N transactions or connections, for
//   instruction counts under callgrind)
//   InprocBench idle -n N            N established idle connections; RSS per connection
//                                    (both endpoints) and per endpoint
//
// Prints `RESULT <metric> <value> <unit>` lines (the harness's contract) and
// the CPU time the process used, so figures can be put beside
// Linux's (tcpperf over a veth between two namespaces) and gVisor's
// (`gvbench bulk|rr|crr|idle`).
import Glibc
import NetWire
import Netstack

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

func monotonic() -> Instant {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Instant(nanoseconds: Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec))
}

func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6
        + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
}

/// Resident set size in bytes (/proc/self/statm, second field × page size).
func residentBytes() -> Int {
    guard let f = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(f) }
    var size = 0, resident = 0
    guard withUnsafeMutablePointer(to: &size, { s in
        withUnsafeMutablePointer(to: &resident) { r in
            withVaList([s, r]) { vfscanf(f, "%ld %ld", $0) }
        }
    }) == 2 else { return 0 }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
}

@_silgen_name("malloc_usable_size")
func mallocUsableSize(_ p: UnsafeMutableRawPointer) -> Int

func usableSize(_ o: AnyObject) -> Int { mallocUsableSize(Unmanaged.passUnretained(o).toOpaque()) }

func result(_ metric: String, _ value: Double, _ unit: String) {
    print("RESULT \(metric) \(formatted(value)) \(unit)")
}

func formatted(_ v: Double) -> String {
    let r = (v * 1000).rounded() / 1000
    return r == r.rounded() ? String(Int(r)) : String(r)
}

/// Two namespaces on one veth, polled at the monotonic clock.
final class Pair {
    static let addressB = IPAddress.v4(IPv4Address(10, 0, 0, 2))
    let stack: Stack
    let a: NetworkNamespace
    let b: NetworkNamespace

    init(gso: Bool, poolSlots: Int = 16384, clientAddresses: Int = 1) throws {
        stack = Stack(seed: 1, poolSlots: poolSlots)
        stack.poll(now: monotonic())
        a = try stack.addNamespace("a")
        b = try stack.addNamespace("b")
        let va = try a.addLink(name: "v0", kind: .veth, peerName: "v1", peerNamespace: b)
        guard let vb = b.device(named: "v1") else { throw BenchError("no v1") }
        for d in [va, vb] where !gso {
            // ethtool -K vN tso off gso off
            d.segmentationOffload = false
            d.genericSegmentation = false
        }
        let now = stack.now
        for (ns, d) in [(a, va), (b, vb)] {
            ns.setUp(ns.loopback)
            ns.setUp(d)
        }
        guard let pb = IPPrefix("10.0.0.2/8") else { throw BenchError("bad prefix") }
        try b.addAddress(InterfaceAddress(prefix: pb), to: vb, now: now)
        for i in 0..<clientAddresses {
            try a.addAddress(InterfaceAddress(prefix: IPPrefix(Self.clientAddress(i), length: 8)), to: va, now: now)
        }
    }

    /// Client address i: 10.1.(i / 250).(i % 250 + 1); the first is a's primary.
    static func clientAddress(_ i: Int) -> IPAddress {
        .v4(IPv4Address(10, 1, UInt8(i / 250), UInt8(i % 250 + 1)))
    }

    func poll() { stack.poll(now: monotonic()) }

    /// Polls until `done` or `seconds` of wall time pass; false on timeout.
    func poll(until done: () -> Bool, seconds: Double = 10) -> Bool {
        let limit = monotonic() + TimeDelta(seconds: seconds)
        var k = 0
        while !done() {
            poll()
            k &+= 1
            if k & 1023 == 0, monotonic() > limit { return false }
        }
        return true
    }

    func listen(port: UInt16, backlog: Int = 4096) throws -> TCPSocket {
        let l = b.tcpSocket()
        try l.bind(nil, port: port)
        try l.listen(backlog: backlog)
        return l
    }

    /// A connect to 10.0.0.2:`port`, from `source` (address, port) when given.
    func dial(port: UInt16, from source: (IPAddress, UInt16)? = nil, noDelay: Bool = false) throws -> TCPSocket {
        let c = a.tcpSocket()
        if noDelay { c.configuration.noDelay = true }
        if let (address, localPort) = source { try c.bind(address, port: localPort) }
        do throws(Errno) { try c.connect(Self.addressB, port: port) } catch {
            if error != .EINPROGRESS { throw error }
        }
        return c
    }
}

func send(_ s: TCPSocket, _ p: UnsafeRawBufferPointer) -> Int {
    (try? s.send(p)) ?? -1
}

func receive(_ s: TCPSocket, _ p: UnsafeMutableRawBufferPointer) -> Int? {
    do throws(Errno) { return try s.receive(into: p) } catch {
        return error == .EAGAIN ? nil : -1
    }
}

// MARK: workloads

/// `limit`: send exactly that many MiB, then close (for instruction
/// counts); nil: send for `seconds`.
func runBulk(seconds: Double, gso: Bool, limit: Int? = nil) throws {
    let w = try Pair(gso: gso)
    let l = try w.listen(port: 5001)
    let c = try w.dial(port: 5001)
    var server: TCPSocket?
    guard w.poll(until: {
        if server == nil { server = try? l.accept() }
        return server != nil && c.state == .established
    }) else { throw BenchError("bulk: no connection") }
    let s = server!
    let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
    let sink = UnsafeMutableRawBufferPointer.allocate(byteCount: 262_144, alignment: 16)
    defer { chunk.deallocate(); sink.deallocate() }
    for i in 0..<chunk.count { chunk[i] = UInt8(truncatingIfNeeded: i &* 7) }
    var sent = 0, got = 0
    var closed = false, eof = false
    let cpu0 = cpuSeconds()
    let t0 = monotonic()
    let stop = t0 + TimeDelta(seconds: seconds)
    var k = 0
    while !eof {
        if !closed {
            if let limit {
                let left = limit &* 1_048_576 &- sent
                let n = send(c, UnsafeRawBufferPointer(rebasing: chunk[..<min(chunk.count, left)]))
                if n > 0 { sent &+= n }
                if sent == limit &* 1_048_576 { c.close(); closed = true }
            } else {
                let n = send(c, UnsafeRawBufferPointer(chunk))
                if n > 0 { sent &+= n }
                k &+= 1
                if k & 63 == 0, monotonic() > stop { c.close(); closed = true }
            }
        }
        w.poll()
        while let n = receive(s, sink) {
            if n <= 0 { eof = true; break }
            got &+= n
        }
        if closed, limit == nil, monotonic() > stop + .seconds(10) { throw BenchError("bulk: no EOF") }
        if limit != nil, monotonic() > t0 + .seconds(600) { throw BenchError("bulk: not done in 600 s") }
    }
    let t = (monotonic() - t0).seconds
    let cpu = cpuSeconds() - cpu0
    if let i = c.info {
        print("INFO sender: \(i.totalRetrans) retransmitted, \(i.dsackDups) D-SACKed, reordering \(i.reordering), \(i.reordSeen) reorderings seen")
    }
    s.close()
    guard got == sent else { throw BenchError("bulk: sent \(sent), received \(got)") }
    let tag = gso ? "gso" : "nogso"
    result("swift_bulk_\(tag)_Gbps", Double(got) * 8 / t / 1e9, "Gbps")
    result("swift_bulk_\(tag)_cpu_s_per_GB", cpu / (Double(got) / 1e9), "s/GB")
}

func runRR(seconds: Double, size: Int, limit: Int?) throws {
    let w = try Pair(gso: true)
    let l = try w.listen(port: 5003)
    let c = try w.dial(port: 5003, noDelay: true)
    var server: TCPSocket?
    guard w.poll(until: {
        if server == nil { server = try? l.accept() }
        return server != nil && c.state == .established
    }) else { throw BenchError("rr: no connection") }
    let s = server!
    s.configuration.noDelay = true
    let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1) * 2, alignment: 16)
    defer { buf.deallocate() }
    buf.initializeMemory(as: UInt8.self, repeating: 0x55)
    var latencies = [Double]()
    latencies.reserveCapacity(1 << 22)
    let cpu0 = cpuSeconds()
    let t0 = monotonic()
    let stop = t0 + TimeDelta(seconds: seconds)
    var t = t0
    var transactions = 0
    while limit.map({ transactions < $0 }) ?? (t < stop) {
        guard send(c, UnsafeRawBufferPointer(rebasing: buf[0..<size])) == size else { throw BenchError("rr: send") }
        var echoed = 0, back = 0
        var spins = 0
        while back < size {
            w.poll()
            // The server echoes what it reads.
            while let n = receive(s, buf), n > 0 {
                echoed &+= n
                guard send(s, UnsafeRawBufferPointer(rebasing: buf[0..<n])) == n else { throw BenchError("rr: echo") }
            }
            while back < size, let n = receive(c, buf) {
                guard n > 0 else { throw BenchError("rr: EOF") }
                back &+= n
            }
            spins &+= 1
            if spins > 10_000_000 { throw BenchError("rr: stuck") }
        }
        let t2 = monotonic()
        latencies.append((t2 - t).seconds)
        t = t2
        transactions &+= 1
    }
    let elapsed = (t - t0).seconds
    let cpu = cpuSeconds() - cpu0
    c.close()
    s.close()
    latencies.sort()
    let n = latencies.count
    result("swift_rr_tps", Double(transactions) / elapsed, "trans/s")
    result("swift_rr_p50_us", latencies[n / 2] * 1e6, "us")
    result("swift_rr_p99_us", latencies[n * 99 / 100] * 1e6, "us")
    result("swift_rr_cpu_us_per_trans", cpu / Double(transactions) * 1e6, "us")
}

func runCRR(seconds: Double, limit: Int?) throws {
    let w = try Pair(gso: true)
    let l = try w.listen(port: 5004)
    let one = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 16)
    defer { one.deallocate() }
    one.initializeMemory(as: UInt8.self, repeating: 0x43)
    // Server side: accepted sockets waiting for their request byte.
    var servers: [TCPSocket] = []
    let cpu0 = cpuSeconds()
    let t0 = monotonic()
    let stop = t0 + TimeDelta(seconds: seconds)
    var connections = 0
    while limit.map({ connections < $0 }) ?? (monotonic() < stop) {
        let c = try w.dial(port: 5004)
        var sent = false, replied = false, eof = false
        var spins = 0
        while !eof {
            w.poll()
            if !sent, c.state == .established {
                guard send(c, UnsafeRawBufferPointer(rebasing: one[0..<1])) == 1 else { throw BenchError("crr: send") }
                sent = true
            }
            while let s = try? l.accept() { servers.append(s) }
            var k = 0
            while k < servers.count {
                let s = servers[k]
                if let n = receive(s, one), n != 0 {
                    guard n == 1, send(s, UnsafeRawBufferPointer(rebasing: one[0..<1])) == 1 else { throw BenchError("crr: server") }
                    s.close()   // the server closes first
                    servers.swapAt(k, servers.count - 1)
                    servers.removeLast()
                } else { k += 1 }
            }
            while let n = receive(c, one) {
                if n == 1 && !replied { replied = true; continue }
                guard n == 0, replied else { throw BenchError("crr: client read \(n)") }
                eof = true
                break
            }
            if let e = c.error { throw BenchError("crr: \(e)") }
            spins &+= 1
            if spins > 10_000_000 { throw BenchError("crr: stuck") }
        }
        c.close()
        connections &+= 1
    }
    let elapsed = (monotonic() - t0).seconds
    let cpu = cpuSeconds() - cpu0
    result("swift_crr_cps", Double(connections) / elapsed, "conn/s")
    result("swift_crr_cpu_us_per_conn", cpu / Double(connections) * 1e6, "us")
}

func runIdle(count n: Int) throws {
    // One client address per 25,000 connections: a bound (address, port)
    // pair carries one connection to 10.0.0.2:5001.
    let perAddress = 25_000
    let addresses = (n + perAddress - 1) / perAddress
    let w = try Pair(gso: true, poolSlots: 16384, clientAddresses: addresses)
    let l = try w.listen(port: 5001, backlog: 65535)
    var clients: [TCPSocket] = []
    var servers: [TCPSocket] = []
    clients.reserveCapacity(n)
    servers.reserveCapacity(n)
    // Warm up: a few connections opened and closed.
    for _ in 0..<8 {
        let c = try w.dial(port: 5001)
        var s: TCPSocket?
        guard w.poll(until: { s = s ?? (try? l.accept()); return s != nil }) else { throw BenchError("idle: warm-up") }
        c.close()
        s!.close()
    }
    _ = w.poll(until: { false }, seconds: 0.2)
    let rss0 = residentBytes()
    let t0 = monotonic()
    var port: UInt16 = 10000
    var address = 0
    var made = 0
    while made < n {
        // Open in waves of at most 1,000 so the SYN queue never overflows.
        let wave = min(1000, n - made)
        for _ in 0..<wave {
            if port == 10000 + UInt16(perAddress) { port = 10000; address += 1 }
            clients.append(try w.dial(port: 5001, from: (Pair.clientAddress(address), port)))
            port += 1
        }
        made += wave
        guard w.poll(until: {
            while let s = try? l.accept() { servers.append(s) }
            return servers.count >= made
        }, seconds: 30) else { throw BenchError("idle: only \(servers.count) of \(made) accepted") }
    }
    let setup = (monotonic() - t0).seconds
    _ = w.poll(until: { false }, seconds: 0.5)
    let established = clients.filter { $0.state == .established }.count
    guard established == n else { throw BenchError("idle: \(established) of \(n) established") }
    let rss1 = residentBytes()
    if let c = clients.first, let s = servers.first {
        print("INFO TCPConfiguration \(MemoryLayout<TCPConfiguration>.size) B, TCPListener? \(MemoryLayout<TCPListener?>.size) B, TCPInfo \(MemoryLayout<TCPInfo>.size) B")
        print("INFO heap blocks of one endpoint: socket \(usableSize(c)) B, connection \(c.connection.map(usableSize) ?? 0) B; server socket \(usableSize(s)) B")
    }
    print("INFO \(n) connections (2 endpoints each) set up in \(formatted(setup)) s; RSS \(rss0) -> \(rss1)")
    result("swift_idle_rss_B_per_conn", Double(rss1 - rss0) / Double(n), "B")
    result("swift_idle_rss_B_per_endpoint", Double(rss1 - rss0) / Double(2 * n), "B")
    withExtendedLifetime((clients, servers)) {}
}

// MARK: main

var args = Array(CommandLine.arguments.dropFirst())
guard let mode = args.first else {
    print("usage: InprocBench bulk|rr|crr|idle [-t S] [-n N] [-l N] [-nogso]")
    exit(2)
}
args.removeFirst()
var seconds = 3.0, count: Int?, size = 1, gso = true
var i = 0
while i < args.count {
    switch args[i] {
    case "-t" where i + 1 < args.count: seconds = Double(args[i + 1]) ?? seconds; i += 1
    case "-n" where i + 1 < args.count: count = Int(args[i + 1]) ?? count; i += 1
    case "-l" where i + 1 < args.count: size = max(1, Int(args[i + 1]) ?? size); i += 1
    case "-nogso": gso = false
    case "-gso": gso = true
    default: print("InprocBench: unknown argument \(args[i])"); exit(2)
    }
    i += 1
}
do {
    switch mode {
    case "bulk": try runBulk(seconds: seconds, gso: gso, limit: count)
    case "rr": try runRR(seconds: seconds, size: size, limit: count)
    case "crr": try runCRR(seconds: seconds, limit: count)
    case "idle": try runIdle(count: count ?? 10_000)
    default: print("InprocBench: unknown mode \(mode)"); exit(2)
    }
} catch {
    print("InprocBench: \(error)")
    exit(1)
}
