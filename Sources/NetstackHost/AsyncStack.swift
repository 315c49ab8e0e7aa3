// AsyncStack: a Stack on one dedicated thread, driven by the monotonic
// clock, with async/await sockets on top (AsyncTCP.swift).
// Kernel counterpart: the softirq/ksoftirqd context that runs the stack,
// and the socket layer's wait queues (sk_sleep, sk_wake_async) that wake
// blocked callers when tcp_poll() changes.
//
// The stack is single-threaded and sans-IO; this file is its event loop:
//
//   async callers ──submit(command)──▶ [queue, one lock per call]
//                                           │ (condition variable wakes the runner)
//   runner thread: take every queued command ─▶ run them (non-blocking socket calls)
//                  ─▶ stack.poll(now: monotonic) ─▶ service waiting sockets
//                  ─▶ sleep until stack.nextDeadline or the next submit
//
// Continuations are resumed only by the runner, after a poll round or while
// running a command, never one hop per packet: a 64 KiB write that the send
// buffer takes at once resumes in the same batch it was submitted in; one
// that does not waits until a later round frees space. A socket with a
// waiting operation is on the runner's wait list and its readiness
// (tcp_poll) is checked once per round; sockets with nothing waiting cost
// nothing.
//
// Ownership: `Stack`, its namespaces and sockets, and every field the
// runner-side types (`AsyncSocketHandle`, the waiters) mark "runner only"
// are touched on the runner thread alone (before it starts: in `init`). The
// command queue and the flags beside it are guarded by `mutex`.
#if canImport(Glibc)
import Glibc
#endif
import NetWire
import Netstack

/// A `Stack` owned by one dedicated thread that polls it at its deadlines
/// (CLOCK_MONOTONIC), with async TCP on top. The stack itself is reached
/// only through closures that run on that thread (`withStack`,
/// `withNamespace`), between polls.
public final class AsyncStack: Sendable {
    let runner: AsyncRunner

    /// Builds the stack and starts its thread. `setup` runs first, on the
    /// caller's thread, before the runner exists: build namespaces, links,
    /// addresses and sysctls there with the Netstack API.
    public init(seed: UInt64 = 1, poolSlots: Int = 8192, system: any HostSystem = LinuxHostSystem(),
                setup: (Stack) throws -> Void = { _ in }) throws {
        let stack = Stack(seed: seed, poolSlots: poolSlots)
        try setup(stack)
        runner = AsyncRunner(stack: stack, system: system)
        try runner.start()
    }

    deinit { runner.stop() }

    /// Stops the runner thread and waits for it. Every waiting operation
    /// and every later call fails with ESHUTDOWN. Idempotent.
    public func stop() { runner.stop() }

    /// Runs `body` on the runner thread between two polls, with the stack.
    public func withStack<T: Sendable>(_ body: @escaping @Sendable (Stack) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (k: CheckedContinuation<T, any Error>) in
            let queued = runner.submit { r in
                do { k.resume(returning: try body(r.stack)) } catch { k.resume(throwing: error) }
            }
            if !queued { k.resume(throwing: Errno.ESHUTDOWN) }
        }
    }

    /// Runs `body` on the runner thread with the namespace of that name
    /// ("" is the initial namespace); ENOENT when there is none.
    public func withNamespace<T: Sendable>(_ name: String,
                                           _ body: @escaping @Sendable (NetworkNamespace) throws -> T) async throws -> T {
        try await withStack { stack in
            guard let ns = AsyncRunner.namespace(name, in: stack) else { throw Errno.ENOENT }
            return try body(ns)
        }
    }

    /// Packet-pool slots in use (PacketPool.outstanding) and the runner's
    /// counts, read on the runner thread.
    public func statistics() async throws -> AsyncStackStatistics {
        let r = runner
        return try await withStack { stack in
            return AsyncStackStatistics(poolOutstanding: stack.shard.pool.outstanding,
                                 largePoolOutstanding: stack.largePool.outstanding,
                                 now: stack.now, rounds: r.rounds, sleeps: r.sleeps,
                                 deadlineWakeups: r.deadlineWakeups)
        }
    }
}

/// What `AsyncStack.statistics()` reports.
public struct AsyncStackStatistics: Sendable, Equatable {
    public var poolOutstanding: Int
    public var largePoolOutstanding: Int
    /// The stack's clock at the last poll.
    public var now: Instant
    /// Poll rounds the runner ran; times it slept; sleeps that ended at a
    /// stack deadline (timers) rather than because a call was submitted.
    public var rounds: Int
    public var sleeps: Int
    public var deadlineWakeups: Int
}

/// The event loop. `@unchecked Sendable`: the queue and flags are guarded by
/// `mutex`; `stack`, `waitList`, `batch` and `clockStart` are runner only.
final class AsyncRunner: @unchecked Sendable {
    typealias Command = @Sendable (AsyncRunner) -> Void

    let stack: Stack
    private let system: any HostSystem
    /// CLOCK_MONOTONIC at start; the stack's `Instant`s count from it.
    private var clockStart: Int64 = 0

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let cond: UnsafeMutablePointer<pthread_cond_t>
    // Guarded by `mutex`.
    private var queue: [Command] = []
    private var sleeping = false
    private var stopping = false
    private var thread: pthread_t?
    private var joined = false

    /// Sockets with an operation waiting on readiness (runner only).
    private var waitList: [AsyncSocketHandle] = []
    /// Poll rounds run, times the runner slept, and of those, how many
    /// ended at a stack deadline rather than a submit (runner only).
    private(set) var rounds = 0
    private(set) var sleeps = 0
    private(set) var deadlineWakeups = 0

    init(stack: Stack, system: any HostSystem) {
        self.stack = stack
        self.system = system
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        cond = .allocate(capacity: 1)
        cond.initialize(to: pthread_cond_t())
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        // Timed waits measure against the same clock as the stack's Instants.
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    func start() throws {
        clockStart = system.monotonicNanoseconds()
        // The thread holds the runner until its loop returns.
        let context = Unmanaged.passRetained(self).toOpaque()
        var t = pthread_t()
        let r = pthread_create(&t, nil, { raw in
            let runner = Unmanaged<AsyncRunner>.fromOpaque(raw!).takeRetainedValue()
            runner.loop()
            return nil
        }, context)
        guard r == 0 else {
            Unmanaged<AsyncRunner>.fromOpaque(context).release()
            throw HostError(r)
        }
        pthread_mutex_lock(mutex)
        thread = t
        pthread_mutex_unlock(mutex)
    }

    /// Queues `command` for the runner thread; false once stopped (the
    /// command was not queued and will never run).
    @discardableResult
    func submit(_ command: @escaping Command) -> Bool {
        pthread_mutex_lock(mutex)
        if stopping {
            pthread_mutex_unlock(mutex)
            return false
        }
        queue.append(command)
        let wake = sleeping
        pthread_mutex_unlock(mutex)
        // The runner checks the queue under the lock before it sleeps, so a
        // signal is needed only when it is already asleep.
        if wake { pthread_cond_signal(cond) }
        return true
    }

    func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        let t = joined ? nil : thread
        joined = true
        pthread_mutex_unlock(mutex)
        pthread_cond_signal(cond)
        guard let t else { return }
        if pthread_equal(t, pthread_self()) != 0 {
            // stop() from a command: the loop ends after this batch.
            pthread_detach(t)
        } else {
            pthread_join(t, nil)
        }
    }

    /// The stack's time now.
    private func current() -> Instant { Instant(nanoseconds: system.monotonicNanoseconds() - clockStart) }

    private func loop() {
        var batch: [Command] = []
        while true {
            pthread_mutex_lock(mutex)
            while queue.isEmpty && !stopping {
                let deadline = stack.nextDeadline
                if let d = deadline, d <= current() { break }
                sleeping = true
                sleeps &+= 1
                if let d = deadline {
                    let abs = clockStart &+ min(d.nanoseconds, Int64.max - clockStart)
                    var ts = timespec(tv_sec: Int(abs / 1_000_000_000), tv_nsec: Int(abs % 1_000_000_000))
                    if pthread_cond_timedwait(cond, mutex, &ts) == ETIMEDOUT { deadlineWakeups &+= 1 }
                } else {
                    pthread_cond_wait(cond, mutex)
                }
                sleeping = false
            }
            swap(&batch, &queue)
            let stop = stopping
            pthread_mutex_unlock(mutex)

            for c in batch { c(self) }
            batch.removeAll(keepingCapacity: true)
            if stop {
                // Commands queued before stop() ran; nothing can be queued now.
                failAll(Errno.ESHUTDOWN)
                return
            }
            stack.poll(now: current())
            rounds &+= 1
            serviceWaiters()
        }
    }

    // MARK: waiting sockets (runner only)

    /// Puts `h` on the wait list (once).
    func wait(_ h: AsyncSocketHandle) {
        guard !h.listed else { return }
        h.listed = true
        waitList.append(h)
    }

    /// After a poll round: every waiting socket makes what progress its
    /// readiness allows; those with nothing left waiting leave the list.
    private func serviceWaiters() {
        guard !waitList.isEmpty else { return }
        var i = 0
        while i < waitList.count {
            let h = waitList[i]
            h.service(self)
            if h.hasWaiters {
                i += 1
            } else {
                h.listed = false
                waitList.swapAt(i, waitList.count - 1)
                waitList.removeLast()
            }
        }
    }

    private func failAll(_ error: any Error) {
        for h in waitList {
            h.failAll(error)
            h.listed = false
        }
        waitList.removeAll()
    }

    static func namespace(_ name: String, in stack: Stack) -> NetworkNamespace? {
        name.isEmpty ? stack.initial : stack.namespace(named: name)
    }
}
