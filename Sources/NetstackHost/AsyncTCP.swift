// Async TCP over an AsyncStack: connect, listen/accept, read, write,
// shutdown, close; the connections of a listener and the bytes of a
// connection as AsyncSequences.
// Kernel counterpart: the blocking paths of net/ipv4/af_inet.c and
// net/ipv4/tcp.c (inet_stream_connect's wait, inet_csk_wait_for_connect,
// tcp_recvmsg's sk_wait_data, sk_stream_wait_memory), with a continuation
// where the kernel puts a task to sleep on the socket's wait queue.
//
// Every call is one command on the runner's queue (AsyncStack.swift). The
// command tries the non-blocking socket call at once; if it would block
// (EAGAIN, EINPROGRESS), the operation waits on its socket and the runner
// retries it after each poll round in which the socket's readiness allows.
//
// - Back-pressure: `write` resumes only when every byte is in the send
//   buffer; while the peer does not read, the window closes, the send
//   buffer fills and the writer stays suspended.
// - Cancellation: a read, accept or write waiting for the socket resumes
//   with CancellationError and leaves the socket as it was (a write keeps
//   the bytes already queued: a prefix of the buffer may have been sent).
//   A connect still in progress is aborted (RST, as close with SO_LINGER 0).
// - Errors are the stack's `Errno` (ECONNREFUSED, ECONNRESET, EPIPE,
//   ETIMEDOUT…); EBADF after close(); ESHUTDOWN once the AsyncStack stopped.
// - Order: reads on one connection complete in the order they were made;
//   so do writes, and accepts on one listener.
import NetWire
import Netstack

// MARK: public API

extension AsyncStack {
    /// socket + bind + listen in namespace `namespace` ("" is the initial
    /// one). `address` nil binds the wildcard of the family `ipv6` names;
    /// port 0 picks an ephemeral port (see `AsyncTCPListener.localPort`).
    /// `configure` runs on the socket before bind (SO_REUSEADDR, options).
    public func tcpListen(namespace: String = "", address: IPAddress? = nil, port: UInt16, backlog: Int = 128,
                          ipv6: Bool = false,
                          configure: (@Sendable (TCPSocket) -> Void)? = nil) async throws -> AsyncTCPListener {
        let runner = self.runner
        return try await withStack { stack in
            guard let ns = AsyncRunner.namespace(namespace, in: stack) else { throw Errno.ENOENT }
            let s = ns.tcpSocket(ipv6: address?.isIPv6 ?? ipv6)
            configure?(s)
            do throws(Errno) {
                try s.bind(address, port: port)
                try s.listen(backlog: backlog)
            } catch {
                s.close()
                throw error
            }
            return AsyncTCPListener(runner: runner, handle: AsyncSocketHandle(s))
        }
    }

    /// socket + (bind) + connect, waiting for the handshake. Throws the
    /// connection's error (ECONNREFUSED on a reset, ETIMEDOUT after the SYN
    /// retries, ENETUNREACH…). Cancelling the task aborts the attempt.
    public func tcpConnect(namespace: String = "", to address: IPAddress, port: UInt16,
                           from localAddress: IPAddress? = nil, localPort: UInt16 = 0,
                           configure: (@Sendable (TCPSocket) -> Void)? = nil) async throws -> AsyncTCPConnection {
        let runner = self.runner
        let w = AsyncWaiter<AsyncTCPConnection>()
        return try await runner.perform(w, start: { r, w in
            guard let ns = AsyncRunner.namespace(namespace, in: r.stack) else { return w.resume(.failure(Errno.ENOENT)) }
            let s = ns.tcpSocket(ipv6: address.isIPv6)
            configure?(s)
            do throws(Errno) {
                if localAddress != nil || localPort != 0 { try s.bind(localAddress, port: localPort) }
                try s.connect(address, port: port)
            } catch where error == .EINPROGRESS {
                // The SYN is out: wait for the handshake.
            } catch {
                s.close()
                return w.resume(.failure(error))
            }
            let h = AsyncSocketHandle(s)
            h.startConnect(w, r)
        }, cancel: { r, w in
            guard w.registered, !w.done, let h = w.connectHandle, h.connector === w else { return }
            h.connector = nil
            h.abort()
            w.resume(.failure(CancellationError()))
        })
    }
}

/// A listening TCP socket; iterating it accepts connections.
public final class AsyncTCPListener: AsyncSequence, Sendable {
    public typealias Element = AsyncTCPConnection
    public typealias Failure = any Error

    let runner: AsyncRunner
    let handle: AsyncSocketHandle
    public let localAddress: IPAddress?
    public let localPort: UInt16

    /// On the runner thread.
    init(runner: AsyncRunner, handle: AsyncSocketHandle) {
        self.runner = runner
        self.handle = handle
        localAddress = handle.socket.localAddress
        localPort = handle.socket.localPort
    }

    deinit {
        let h = handle
        runner.submit { r in h.close(r) }
    }

    /// accept(2): the next established connection, waiting for one. EBADF
    /// once the listener is closed.
    public func accept() async throws -> AsyncTCPConnection {
        guard let c = try await acceptOrEnd() else { throw Errno.EBADF }
        return c
    }

    /// nil when the listener is closed (the end of the sequence).
    func acceptOrEnd() async throws -> AsyncTCPConnection? {
        let h = handle
        return try await runner.perform(AsyncWaiter<AsyncTCPConnection?>(), start: { r, w in
            h.startAccept(w, r)
        }, cancel: { r, w in
            h.cancel(w, in: &h.acceptors)
        })
    }

    /// close(2): stops listening; connections not yet accepted are reset,
    /// a waiting accept and the iteration end.
    public func close() {
        let h = handle
        runner.submit { r in h.close(r) }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let listener: AsyncTCPListener
        public mutating func next() async throws -> AsyncTCPConnection? {
            try await listener.acceptOrEnd()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(listener: self) }
}

/// One TCP connection. Closed when `close()` is called or the last
/// reference goes.
public final class AsyncTCPConnection: Sendable {
    let runner: AsyncRunner
    let handle: AsyncSocketHandle
    public let localAddress: IPAddress
    public let localPort: UInt16
    public let remoteAddress: IPAddress
    public let remotePort: UInt16

    /// On the runner thread, for a socket with a connection.
    init(runner: AsyncRunner, handle: AsyncSocketHandle) {
        self.runner = runner
        self.handle = handle
        let s = handle.socket
        localAddress = s.connection?.local.address ?? s.localAddress ?? .v4(.any)
        localPort = s.localPort
        remoteAddress = s.remoteAddress ?? .v4(.any)
        remotePort = s.remotePort
    }

    deinit {
        let h = handle
        runner.submit { r in h.close(r) }
    }

    /// recv(2): up to `max` bytes, waiting until at least one is there;
    /// empty at end of stream. Throws the connection's error (ECONNRESET…).
    public func read(max: Int = 65536) async throws -> [UInt8] {
        precondition(max > 0, "read(max:) needs room for at least one byte")
        let h = handle
        return try await runner.perform(AsyncWaiter<[UInt8]>(max: max), start: { r, w in
            h.startRead(w, r)
        }, cancel: { r, w in
            h.cancel(w, in: &h.readers)
        })
    }

    /// send(2): returns once every byte is in the send buffer, waiting
    /// while it is full (back-pressure). EPIPE after shutdown or close of
    /// the connection.
    public func write(_ bytes: [UInt8]) async throws {
        guard !bytes.isEmpty else { return }
        let h = handle
        try await runner.perform(AsyncWaiter<Void>(bytes: bytes), start: { r, w in
            h.startWrite(w, r)
        }, cancel: { r, w in
            h.cancel(w, in: &h.writers)
        })
    }

    /// The received bytes as a sequence of chunks of at most `chunkSize`
    /// (each what one read returned); ends at end of stream.
    public func inbound(chunkSize: Int = 65536) -> AsyncTCPInbound {
        AsyncTCPInbound(connection: self, chunkSize: chunkSize)
    }

    /// `inbound(chunkSize: 65536)`.
    public var inbound: AsyncTCPInbound { inbound() }

    /// shutdown(2): `.write` sends FIN after queued data; `.read` makes
    /// reads return end of stream.
    public func shutdown(_ how: TCPShutdown = .write) async throws {
        let h = handle
        try await runner.perform(AsyncWaiter<Void>(), start: { r, w in
            if h.closed { return w.resume(.failure(Errno.EBADF)) }
            do throws(Errno) {
                try h.socket.shutdown(how)
                w.resume(.success(()))
            } catch {
                w.resume(.failure(error))
            }
        }, cancel: { _, _ in })
    }

    /// close(2): FIN after queued data (RST if unread data is dropped).
    /// Waiting reads and writes fail with EBADF.
    public func close() {
        let h = handle
        runner.submit { r in h.close(r) }
    }

    /// Runs `body` with the socket on the runner thread (options, state,
    /// queue lengths).
    public func withSocket<T: Sendable>(_ body: @escaping @Sendable (TCPSocket) throws -> T) async throws -> T {
        let h = handle
        return try await runner.perform(AsyncWaiter<T>(), start: { r, w in
            do { w.resume(.success(try body(h.socket))) } catch { w.resume(.failure(error)) }
        }, cancel: { _, _ in })
    }
}

/// A connection's received bytes, chunk by chunk.
public struct AsyncTCPInbound: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    public typealias Failure = any Error
    let connection: AsyncTCPConnection
    let chunkSize: Int

    public struct AsyncIterator: AsyncIteratorProtocol {
        let connection: AsyncTCPConnection
        let chunkSize: Int
        var finished = false

        public mutating func next() async throws -> [UInt8]? {
            guard !finished else { return nil }
            let b = try await connection.read(max: chunkSize)
            if b.isEmpty { finished = true; return nil }
            return b
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(connection: connection, chunkSize: chunkSize)
    }
}

// MARK: runner side

/// One operation waiting for its socket. Created by the caller; every field
/// but `continuation` is runner only, and `continuation` is written by the
/// caller before the start command is queued (the queue's lock orders it
/// before the runner's reads) and read by the runner only after `registered`.
final class AsyncWaiter<T: Sendable>: @unchecked Sendable {
    var continuation: CheckedContinuation<T, any Error>?
    /// The start command ran.
    var registered = false
    /// The task was cancelled (possibly before the start command ran).
    var cancelled = false
    /// Resumed.
    var done = false
    /// read: at most this many bytes.
    let max: Int
    /// write: the bytes and how many are in the send buffer already.
    let bytes: [UInt8]
    var offset = 0
    /// connect: the socket being connected.
    var connectHandle: AsyncSocketHandle?

    init(max: Int = 0, bytes: [UInt8] = []) {
        self.max = max
        self.bytes = bytes
    }

    func resume(_ result: Result<T, any Error>) {
        guard !done else { return }
        done = true
        continuation?.resume(with: result)
        continuation = nil
    }
}

extension AsyncRunner {
    /// Runs `start` on the runner with a waiter whose continuation is the
    /// caller's; `cancel` runs on the runner if the task is cancelled.
    func perform<T: Sendable>(_ w: AsyncWaiter<T>,
                              start: @escaping @Sendable (AsyncRunner, AsyncWaiter<T>) -> Void,
                              cancel: @escaping @Sendable (AsyncRunner, AsyncWaiter<T>) -> Void) async throws -> T {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (k: CheckedContinuation<T, any Error>) in
                w.continuation = k
                let queued = submit { r in
                    w.registered = true
                    if w.cancelled { return w.resume(.failure(CancellationError())) }
                    start(r, w)
                }
                if !queued {
                    w.continuation = nil
                    k.resume(throwing: Errno.ESHUTDOWN)
                }
            }
        } onCancel: {
            submit { r in
                w.cancelled = true
                if w.registered && !w.done { cancel(r, w) }
            }
        }
    }
}

/// The runner's side of one socket: its waiting operations, FIFO per
/// kind. Runner only.
final class AsyncSocketHandle: @unchecked Sendable {
    let socket: TCPSocket
    /// On the runner's wait list.
    var listed = false
    var closed = false
    var readers: [AsyncWaiter<[UInt8]>] = []
    var writers: [AsyncWaiter<Void>] = []
    var acceptors: [AsyncWaiter<AsyncTCPConnection?>] = []
    var connector: AsyncWaiter<AsyncTCPConnection>?

    init(_ socket: TCPSocket) { self.socket = socket }

    var hasWaiters: Bool { !readers.isEmpty || !writers.isEmpty || !acceptors.isEmpty || connector != nil }

    // MARK: starting an operation

    func startRead(_ w: AsyncWaiter<[UInt8]>, _ r: AsyncRunner) {
        if closed { return w.resume(.failure(Errno.EBADF)) }
        readers.append(w)
        if readers.count == 1 { progressReads() }
        if hasWaiters { r.wait(self) }
    }

    func startWrite(_ w: AsyncWaiter<Void>, _ r: AsyncRunner) {
        if closed { return w.resume(.failure(Errno.EBADF)) }
        writers.append(w)
        if writers.count == 1 { progressWrites() }
        if hasWaiters { r.wait(self) }
    }

    func startAccept(_ w: AsyncWaiter<AsyncTCPConnection?>, _ r: AsyncRunner) {
        if closed { return w.resume(.success(nil)) }
        acceptors.append(w)
        if acceptors.count == 1 { progressAccepts(r) }
        if hasWaiters { r.wait(self) }
    }

    func startConnect(_ w: AsyncWaiter<AsyncTCPConnection>, _ r: AsyncRunner) {
        w.connectHandle = self
        connector = w
        progressConnect(r)
        if hasWaiters { r.wait(self) }
    }

    /// A cancelled operation leaves its queue (if it is still waiting).
    func cancel<T>(_ w: AsyncWaiter<T>, in list: inout [AsyncWaiter<T>]) {
        guard let i = list.firstIndex(where: { $0 === w }) else { return }
        list.remove(at: i)
        w.resume(.failure(CancellationError()))
    }

    // MARK: progress after a poll round

    func service(_ r: AsyncRunner) {
        if connector != nil { progressConnect(r) }
        if !acceptors.isEmpty { progressAccepts(r) }
        if !readers.isEmpty { progressReads() }
        if !writers.isEmpty { progressWrites() }
    }

    private func progressReads() {
        while let w = readers.first {
            let ready = socket.readiness
            let queued = socket.receiveQueueBytes
            guard queued > 0 || ready.contains(.readable) else { return }
            do throws(Errno) {
                // At end of stream (or on an error) nothing is queued: a
                // one-byte read reports it.
                let b = try socket.receive(max: queued > 0 ? min(w.max, queued) : 1)
                readers.removeFirst()
                w.resume(.success(b))
            } catch where error == .EAGAIN {
                return
            } catch {
                readers.removeFirst()
                w.resume(.failure(error))
            }
        }
    }

    private func progressWrites() {
        while let w = writers.first {
            let ready = socket.readiness
            guard !ready.isDisjoint(with: [.writable, .error, .hangup]) else { return }
            switch send(w) {
            case nil: return
            case .some(let result):
                // An error ends this write; later writes meet it on their turn.
                writers.removeFirst()
                w.resume(result)
            }
        }
    }

    /// Puts as much of `w`'s bytes in the send buffer as fits: nil while
    /// some are left (EAGAIN), else the write's result.
    private func send(_ w: AsyncWaiter<Void>) -> Result<Void, any Error>? {
        while w.offset < w.bytes.count {
            let sent: Result<Int, Errno> = w.bytes.withUnsafeBytes { b in
                do throws(Errno) {
                    return .success(try socket.send(UnsafeRawBufferPointer(rebasing: b[w.offset...])))
                } catch {
                    return .failure(error)
                }
            }
            switch sent {
            case .success(let n): w.offset += n
            case .failure(.EAGAIN): return nil
            case .failure(let e): return .failure(e)
            }
        }
        return .success(())
    }

    private func progressAccepts(_ r: AsyncRunner) {
        while let w = acceptors.first {
            do throws(Errno) {
                guard let child = try socket.accept() else { return }
                acceptors.removeFirst()
                w.resume(.success(AsyncTCPConnection(runner: r, handle: AsyncSocketHandle(child))))
            } catch {
                acceptors.removeFirst()
                w.resume(.failure(error))
            }
        }
    }

    private func progressConnect(_ r: AsyncRunner) {
        guard let w = connector else { return }
        if socket.isConnected {
            connector = nil
            w.resume(.success(AsyncTCPConnection(runner: r, handle: self)))
        } else if let e = socket.takeError() {
            connector = nil
            closed = true
            socket.close()
            w.resume(.failure(e))
        } else if socket.connection == nil || socket.state == .closed {
            connector = nil
            closed = true
            socket.close()
            w.resume(.failure(Errno.ECONNABORTED))
        }
    }

    // MARK: ending

    /// close(2) by the owner: waiting operations fail (accepts end).
    func close(_ r: AsyncRunner) {
        guard !closed else { return }
        closed = true
        for w in acceptors { w.resume(.success(nil)) }
        acceptors.removeAll()
        failAll(Errno.EBADF)
        socket.close()
    }

    /// An abandoned connect: RST, the socket gone.
    func abort() {
        guard !closed else { return }
        closed = true
        socket.linger = 0
        socket.close()
    }

    func failAll(_ error: any Error) {
        for w in readers { w.resume(.failure(error)) }
        for w in writers { w.resume(.failure(error)) }
        for w in acceptors { w.resume(.failure(error)) }
        connector?.resume(.failure(error))
        readers.removeAll()
        writers.removeAll()
        acceptors.removeAll()
        connector = nil
    }
}
