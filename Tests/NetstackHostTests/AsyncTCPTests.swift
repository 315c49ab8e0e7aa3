// AsyncStack and async TCP (Sources/NetstackHost/AsyncStack.swift,
// AsyncTCP.swift): two namespaces a (10.0.0.1) and b (10.0.0.2) joined by a
// veth, inside one AsyncStack whose runner thread polls in real time.
// Every test is bounded by `withTimeout`.
import Netstack
import NetstackHost
import NetWire
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

private let addressA = IPAddress.v4(IPv4Address(10, 0, 0, 1))
private let addressB = IPAddress.v4(IPv4Address(10, 0, 0, 2))

private struct Timeout: Error, CustomStringConvertible {
    var seconds: Double
    var description: String { "timed out after \(seconds) s" }
}

/// Runs `body`, cancelling it and throwing `Timeout` after `seconds`.
/// The bound is generous on purpose: in the full `swift test` run the
/// cooperative pool's two threads are often held for minutes by
/// synchronous tests (the Linux differential runs wait on processes), and
/// these tests' own tasks cannot run until one is free. Each test takes
/// about a second on its own.
private let starvationAllowance = 10.0

private func withTimeout<T: Sendable>(_ seconds: Double,
                                      _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let seconds = seconds * starvationAllowance
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw Timeout(seconds: seconds) }
        return value
    }
}

/// a ── veth v0/v1 ── b, both up and addressed (10.0.0.1/24, fd00::1/64 on
/// a; .2 and ::2 on b); `timeWait` shortens
/// TIME-WAIT (and the orphan FIN-WAIT-2 timeout) for churn tests.
private func makeWorld(timeWait: TimeDelta? = nil) throws -> AsyncStack {
    try AsyncStack(seed: 7) { stack in
        let a = try stack.addNamespace("a")
        let b = try stack.addNamespace("b")
        let v0 = try a.addLink(name: "v0", kind: .veth, peerName: "v1", peerNamespace: b)
        guard let v1 = b.device(named: "v1") else { throw Errno.ENODEV }
        for (ns, d, text) in [(a, v0, "10.0.0.1/24"), (b, v1, "10.0.0.2/24")] {
            ns.setUp(ns.loopback)
            ns.setUp(d)
            guard let p = IPPrefix(text) else { throw Errno.EINVAL }
            try ns.addAddress(InterfaceAddress(prefix: p), to: d, now: .zero)
            guard let p6 = IPPrefix(ns === a ? "fd00::1/64" : "fd00::2/64") else { throw Errno.EINVAL }
            try ns.addAddress(InterfaceAddress(prefix: p6, flags: [.permanent, .nodad]), to: d, now: .zero)
            if let t = timeWait {
                ns.tcp.configuration.timeWaitLength = t
                ns.tcp.configuration.finTimeout = t
            }
        }
    }
}

/// Byte i of the test stream (period 251, a prime, so chunk edges never align).
/// Built by doubling (memcpy) rather than a byte loop, which is slow in debug builds.
private func pattern(_ offset: Int, _ count: Int) -> [UInt8] {
    var out = (0..<min(count, 251)).map { UInt8(truncatingIfNeeded: ($0 + offset) % 251) }
    out.reserveCapacity(count)
    while out.count < count { out.append(contentsOf: out[0..<min(out.count / 251 * 251, count - out.count)]) }
    return out
}

private final class Flag: Sendable {
    let value = Atomic<Bool>(false)
}

/// Whether `chunk` equals `data[offset ..< offset + chunk.count]` (memcmp:
/// a byte loop in a debug build costs more than the stack).
private func sameBytes(_ chunk: [UInt8], _ data: [UInt8], at offset: Int) -> Bool {
    guard offset + chunk.count <= data.count else { return false }
    return chunk.withUnsafeBytes { c in
        data.withUnsafeBytes { d in memcmp(c.baseAddress!, d.baseAddress! + offset, c.count) == 0 }
    }
}

/// Connects a → b:port and accepts on `listener`: (client, server).
private func connectedPair(_ stack: AsyncStack, _ listener: AsyncTCPListener)
    async throws -> (AsyncTCPConnection, AsyncTCPConnection) {
    async let server = listener.accept()
    let client = try await stack.tcpConnect(namespace: "a", to: addressB, port: listener.localPort)
    return (client, try await server)
}

@Suite("Async TCP over an AsyncStack")
struct AsyncTCPTests {
    @Test("10 MB echo: 64 KiB writes through a listener sequence and an echoing server, bytes compared")
    func echo10MB() async throws {
        let stack = try makeWorld()
        defer { stack.stop() }
        let total = 10 * 1024 * 1024
        let chunk = 65536
        let listener = try await stack.tcpListen(namespace: "b", address: addressB, port: 7)
        let data = pattern(0, total)
        let elapsed = try await withTimeout(120) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Server: every accepted connection is echoed until end of stream.
                group.addTask {
                    for try await conn in listener {
                        for try await bytes in conn.inbound { try await conn.write(bytes) }
                        try await conn.shutdown()
                        conn.close()
                        return
                    }
                }
                let start = ContinuousClock.now
                let client = try await stack.tcpConnect(namespace: "a", to: addressB, port: 7)
                #expect(client.remotePort == 7)
                #expect(client.remoteAddress == addressB)
                #expect(client.localAddress == addressA)
                group.addTask {
                    var off = 0
                    while off < total {
                        try await client.write(Array(data[off..<(off + chunk)]))
                        off += chunk
                    }
                    try await client.shutdown(.write)
                }
                var received = 0
                var mismatches = 0
                for try await bytes in client.inbound {
                    if !sameBytes(bytes, data, at: received) { mismatches += 1 }
                    received += bytes.count
                }
                let elapsed = ContinuousClock.now - start
                try await group.waitForAll()
                client.close()
                #expect(received == total)
                #expect(mismatches == 0)
                return elapsed
            }
        }
        let st = try await stack.statistics()
        print("runner: \(st.rounds) rounds, \(st.sleeps) sleeps, \(st.deadlineWakeups) at a deadline")
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("async echo: \(total) bytes each way in \(elapsed): \(Double(total) / seconds / 1e6) MB/s each way")
    }

    @Test("back-pressure: a writer stays suspended while the peer does not read, and resumes when it does")
    func backPressure() async throws {
        let stack = try makeWorld()
        defer { stack.stop() }
        // tcp_rmem[2] is 32 MiB (as Linux 6.18): a small receive buffer
        // makes 16 MB more than the two buffers hold.
        let listener = try await stack.tcpListen(namespace: "b", port: 5001,
                                                 configure: { $0.configuration.receiveBufferMax = 1 << 20 })
        let total = 16 * 1024 * 1024
        let data = pattern(0, total)
        try await withTimeout(60) {
            let (client, server) = try await connectedPair(stack, listener)
            let written = Flag()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await client.write(data)
                    written.value.store(true, ordering: .sequentiallyConsistent)
                }
                // Nobody reads b: the receive buffer and then a's send buffer fill.
                try await Task.sleep(for: .milliseconds(500))
                let blocked = !written.value.load(ordering: .sequentiallyConsistent)
                #expect(blocked)
                let queuedAtB = try await server.withSocket { $0.receiveQueueBytes }
                let queuedAtA = try await client.withSocket { $0.sendQueueBytes }
                #expect(queuedAtB > 0)
                #expect(queuedAtA > 0)
                #expect(queuedAtA + queuedAtB < total)
                // b reads: the window opens and the writer finishes.
                var received = 0
                var mismatches = 0
                while received < total {
                    let b = try await server.read(max: 1 << 20)
                    if b.isEmpty { break }
                    if !sameBytes(b, data, at: received) { mismatches += 1 }
                    received += b.count
                }
                try await group.waitForAll()
                let done = written.value.load(ordering: .sequentiallyConsistent)
                #expect(done)
                #expect(received == total)
                #expect(mismatches == 0)
            }
            client.close()
            server.close()
        }
    }

    @Test("cancelling a write blocked by back-pressure: CancellationError, the queued prefix still arrives")
    func cancelBlockedWrite() async throws {
        let stack = try makeWorld()
        defer { stack.stop() }
        // tcp_rmem[2] is 32 MiB (as Linux 6.18): a small receive buffer
        // makes 16 MB more than the two buffers hold.
        let listener = try await stack.tcpListen(namespace: "b", port: 5006,
                                                 configure: { $0.configuration.receiveBufferMax = 1 << 20 })
        let total = 16 * 1024 * 1024
        let data = pattern(0, total)
        try await withTimeout(60) {
            let (client, server) = try await connectedPair(stack, listener)
            let writer = Task { try await client.write(data) }
            try await Task.sleep(for: .milliseconds(300))
            writer.cancel()
            var cancelled = false
            do { try await writer.value } catch is CancellationError { cancelled = true }
            #expect(cancelled)
            // What was queued before the cancel arrives; then a's FIN.
            client.close()
            var received = 0
            var mismatches = 0
            for try await b in server.inbound(chunkSize: 1 << 20) {
                if !sameBytes(b, data, at: received) { mismatches += 1 }
                received += b.count
            }
            #expect(received > 0)
            #expect(received < total)
            #expect(mismatches == 0)
            server.close()
        }
    }

    @Test("cancelling a pending read resumes it with CancellationError and the connection still works")
    func cancelRead() async throws {
        let stack = try makeWorld()
        defer { stack.stop() }
        let listener = try await stack.tcpListen(namespace: "b", port: 5002)
        try await withTimeout(30) {
            let (client, server) = try await connectedPair(stack, listener)
            let reader = Task { try await client.read() }
            try await Task.sleep(for: .milliseconds(100))
            reader.cancel()
            var cancelled = false
            do {
                _ = try await reader.value
            } catch is CancellationError {
                cancelled = true
            }
            #expect(cancelled)
            try await server.write(Array("hello".utf8))
            let got = try await client.read()
            #expect(got == Array("hello".utf8))
            client.close()
            server.close()
        }
    }

    @Test("a read cancelled before it starts throws CancellationError without consuming data")
    func cancelBeforeRead() async throws {
        let stack = try makeWorld()
        defer { stack.stop() }
        let listener = try await stack.tcpListen(namespace: "b", port: 5003)
        try await withTimeout(30) {
            let (client, server) = try await connectedPair(stack, listener)
            try await server.write([1, 2, 3])
            let reader = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await client.read()
            }
            var cancelled = false
            do { _ = try await reader.value } catch is CancellationError { cancelled = true }
            #expect(cancelled)
            var got: [UInt8] = []
            while got.count < 3 {
                let b = try await client.read()
                if b.isEmpty { break }
                got += b
            }
            #expect(got == [1, 2, 3])
            client.close()
            server.close()
        }
    }

    @Test("cancelling a pending accept leaves the listener usable")
    func cancelAccept() async throws {
        let stack = try makeWorld()
        defer { stack.stop() }
        let listener = try await stack.tcpListen(namespace: "b", port: 5004)
        try await withTimeout(30) {
            let acceptor = Task { try await listener.accept() }
            try await Task.sleep(for: .milliseconds(50))
            acceptor.cancel()
            var cancelled = false
            do { _ = try await acceptor.value } catch is CancellationError { cancelled = true }
            #expect(cancelled)
            let (client, server) = try await connectedPair(stack, listener)
            #expect(server.remotePort == client.localPort)
            client.close()
            server.close()
        }
    }

    @Test("cancelling a connect in progress aborts it: the socket is gone")
    func cancelConnect() async throws {
        let stack = try makeWorld()
        defer { stack.stop() }
        try await withTimeout(30) {
            // Nobody answers ARP for 10.0.0.99: the SYN waits, and so does connect.
            let connector = Task {
                try await stack.tcpConnect(namespace: "a", to: .v4(IPv4Address(10, 0, 0, 99)), port: 80)
            }
            try await Task.sleep(for: .milliseconds(100))
            let pending = try await stack.withNamespace("a") { $0.tcp.sockets.count }
            #expect(pending == 1)
            connector.cancel()
            var cancelled = false
            do { _ = try await connector.value } catch is CancellationError { cancelled = true }
            #expect(cancelled)
            let left = try await stack.withNamespace("a") { $0.tcp.sockets.count }
            #expect(left == 0)
        }
    }

    @Test("IPv6: a dual-stack wildcard listener takes an IPv6 connection; bytes both ways")
    func ipv6() async throws {
        let stack = try makeWorld()
        defer { stack.stop() }
        let listener = try await stack.tcpListen(namespace: "b", port: 5007, ipv6: true)
        try await withTimeout(30) {
            guard let b6 = IPAddress("fd00::2"), let a6 = IPAddress("fd00::1") else { throw Errno.EINVAL }
            async let accepted = listener.accept()
            let client = try await stack.tcpConnect(namespace: "a", to: b6, port: 5007)
            let server = try await accepted
            #expect(client.localAddress == a6)
            #expect(server.remoteAddress == a6)
            #expect(server.localAddress == b6)
            try await client.write([1, 2, 3, 4])
            var got: [UInt8] = []
            while got.count < 4 { got += try await server.read() }
            #expect(got == [1, 2, 3, 4])
            try await server.write([5])
            let back = try await client.read()
            #expect(back == [5])
            client.close()
            server.close()
        }
    }

    @Test("connect to a port nobody listens on throws ECONNREFUSED")
    func connectRefused() async throws {
        let stack = try makeWorld()
        defer { stack.stop() }
        try await withTimeout(30) {
            var error: Errno?
            do {
                _ = try await stack.tcpConnect(namespace: "a", to: addressB, port: 9)
            } catch let e as Errno {
                error = e
            }
            #expect(error == .ECONNREFUSED)
        }
    }

    @Test("read after the peer closes: the data, then end of stream; write after close fails")
    func endOfStream() async throws {
        let stack = try makeWorld()
        defer { stack.stop() }
        let listener = try await stack.tcpListen(namespace: "b", port: 5005)
        try await withTimeout(30) {
            let (client, server) = try await connectedPair(stack, listener)
            try await server.write([9, 8, 7])
            server.close()
            var got: [UInt8] = []
            for try await b in client.inbound { got += b }
            #expect(got == [9, 8, 7])
            let again = try await client.read()
            #expect(again.isEmpty)
            client.close()
            var error: Errno?
            do { try await client.write([1]) } catch let e as Errno { error = e }
            #expect(error == .EBADF)
        }
    }

    @Test("1,000 connections open, exchange a byte and close; the pool and socket tables return to baseline")
    func churn() async throws {
        let stack = try makeWorld(timeWait: .milliseconds(20))
        defer { stack.stop() }
        let listener = try await stack.tcpListen(namespace: "b", address: addressB, port: 8080, backlog: 256)
        let baseline = try await stack.statistics()
        try await withTimeout(180) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await withThrowingTaskGroup(of: Void.self) { handlers in
                        var accepted = 0
                        for try await conn in listener {
                            handlers.addTask {
                                let b = try await conn.read()
                                try await conn.write(b)
                                _ = try await conn.read()   // end of stream
                                conn.close()
                            }
                            accepted += 1
                            if accepted == 1000 { break }
                        }
                        try await handlers.waitForAll()
                    }
                }
                // 1000 clients, 25 at a time.
                var next = 0
                while next < 1000 {
                    try await withThrowingTaskGroup(of: Bool.self) { clients in
                        for i in next..<min(next + 25, 1000) {
                            clients.addTask {
                                let c = try await stack.tcpConnect(namespace: "a", to: addressB, port: 8080)
                                try await c.write([UInt8(truncatingIfNeeded: i)])
                                let r = try await c.read()
                                c.close()
                                return r == [UInt8(truncatingIfNeeded: i)]
                            }
                        }
                        for try await ok in clients { #expect(ok) }
                    }
                    next += 25
                }
                try await group.waitForAll()
            }
            // TIME-WAIT is 20 ms here: wait (bounded) for the tables to drain.
            var tries = 0
            while tries < 200 {
                let (sa, sb) = try await stack.withStack { s in
                    (s.namespace(named: "a")!.tcp.sockets.count, s.namespace(named: "b")!.tcp.sockets.count)
                }
                if sa == 0 && sb == 1 { break }
                try await Task.sleep(for: .milliseconds(20))
                tries += 1
            }
        }
        let (sa, sb) = try await stack.withStack { s in
            (s.namespace(named: "a")!.tcp.sockets.count, s.namespace(named: "b")!.tcp.sockets.count)
        }
        #expect(sa == 0)
        #expect(sb == 1)   // the listener
        let after = try await stack.statistics()
        #expect(after.poolOutstanding == baseline.poolOutstanding)
        #expect(after.poolOutstanding == 0)
        listener.close()
    }

    @Test("withStack and withNamespace run on the runner; an unknown namespace is ENOENT; stop fails later calls")
    func runnerCalls() async throws {
        let stack = try makeWorld()
        let names = try await stack.withStack { s in s.namespaces.map(\.name) }
        #expect(names == ["", "a", "b"])
        let devices = try await stack.withNamespace("b") { ns in ns.devices.map(\.name) }
        #expect(devices == ["lo", "v1"])
        var error: Errno?
        do { _ = try await stack.withNamespace("nope") { _ in 0 } } catch let e as Errno { error = e }
        #expect(error == .ENOENT)
        // The clock moves: the runner polls at the monotonic time after each
        // batch of commands (a call sees the poll that followed the previous one).
        let t0 = try await stack.statistics().now
        try await Task.sleep(for: .milliseconds(30))
        _ = try await stack.statistics()
        let t1 = try await stack.statistics().now
        #expect(t1 - t0 >= .milliseconds(30))
        stack.stop()
        var stopped: Errno?
        do { _ = try await stack.statistics() } catch let e as Errno { stopped = e }
        #expect(stopped == .ESHUTDOWN)
    }
}
