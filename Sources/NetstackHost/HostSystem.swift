// HostSystem: every syscall the running stack makes, behind one protocol.
// `LinuxHostSystem` calls the kernel; tests substitute a recording or
// failing implementation (Tests/NetstackHostTests). Nothing else in
// NetstackHost calls the C library for TUN/TAP, epoll, signals, the
// control socket or the clock.
//
// Kernel counterpart: the system-call boundary itself.
#if canImport(Glibc)
import Glibc
#endif
import CNetstackHost
import Netstack

/// An errno value from a failed call.
public struct HostError: Error, Equatable, CustomStringConvertible {
    public var errno: Int32
    public init(_ errno: Int32) { self.errno = errno }
    public var description: String { String(cString: strerror(errno)) }
}

/// Process-wide settings a running stack wants from the C library.
public enum HostProcess {
    /// A stack frees and takes again blocks of up to a socket buffer's size
    /// (TCP byte rings as connections drain and refill). glibc hands every
    /// block over 128 KiB to mmap and returns freed heap tops to the kernel,
    /// so each refill faulted in fresh zeroed pages: a fifth of a bulk
    /// receive over TAP went to clear_page/exc_page_fault under TCP's
    /// queueData (perf), and an in-process bulk flow spent as much time in
    /// the kernel as in the stack. Fixed thresholds (so glibc's dynamic ones
    /// do not slide) keep blocks up to 64 MiB in the heap, and the heap's
    /// top until 256 MiB are free: a refill is a reuse. `netstack` calls it
    /// first thing, for every subcommand.
    @discardableResult
    public static func keepFreedMemory() -> Bool {
        cnh_malloc_keep(64 << 20, 256 << 20) == 1
    }
}

/// One ready file descriptor from `wait`.
public struct HostEvent: Sendable, Equatable {
    public var token: UInt64
    public var readable: Bool
    public var hangup: Bool
    public init(token: UInt64, readable: Bool, hangup: Bool) {
        self.token = token
        self.readable = readable
        self.hangup = hangup
    }
}

/// The syscalls of `netstack run`.
public protocol HostSystem: AnyObject {
    /// CLOCK_MONOTONIC, in nanoseconds.
    func monotonicNanoseconds() -> Int64

    /// open("/dev/net/tun") + TUNSETIFF: attaches to (or makes) the named
    /// TUN/TAP in the caller's namespace. `flags` are IFF_*.
    func openTunTap(name: String, flags: Int32) throws(HostError) -> Int32
    /// Whether an interface of that name exists in the host namespace.
    func interfaceExists(_ name: String) -> Bool
    /// TUNSETVNETHDRSZ + TUNSETOFFLOAD (TUN_F_* bits).
    func setOffloads(fd: Int32, vnetHeaderSize: Int32, offloads: UInt32) throws(HostError)

    /// read(2) / write(2) / writev(2); the byte count, or the error
    /// (EAGAIN when a non-blocking fd has nothing / no room).
    func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Result<Int, HostError>
    func write(_ fd: Int32, from buffer: UnsafeRawBufferPointer) -> Result<Int, HostError>
    func close(_ fd: Int32)

    /// epoll: create, register `fd` for input under `token`, forget it,
    /// and wait (timeout in ms, -1 for ever) for up to `max` events.
    func pollerCreate() throws(HostError) -> Int32
    func pollerAdd(_ poller: Int32, fd: Int32, token: UInt64) throws(HostError)
    func pollerRemove(_ poller: Int32, fd: Int32)
    func pollerWait(_ poller: Int32, timeoutMilliseconds: Int32, max: Int) -> [HostEvent]

    /// SIGINT/SIGTERM (etc.) blocked and readable as a file descriptor.
    func signalDescriptor(_ signals: [Int32]) throws(HostError) -> Int32
    /// Reads one pending signal number from a `signalDescriptor`, if any.
    func readSignal(_ fd: Int32) -> Int32?

    /// A listening Unix stream socket at `path` (mode 0600), non-blocking.
    func listenUnix(path: String) throws(HostError) -> Int32
    /// accept4(2), non-blocking; nil when nothing is pending.
    func accept(_ fd: Int32) -> Int32?
    /// A blocking connection to the Unix socket at `path`.
    func connectUnix(path: String) throws(HostError) -> Int32
    /// The uid of the process on the other end of a Unix socket.
    func peerUID(_ fd: Int32) -> Int64?
    /// This process's effective uid.
    func effectiveUID() -> Int64
    func unlink(_ path: String)
}

/// The real kernel.
public final class LinuxHostSystem: HostSystem {
    public init() {}

    public func monotonicNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    public func openTunTap(name: String, flags: Int32) throws(HostError) -> Int32 {
        let fd = Glibc.open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw HostError(errno) }
        let r = name.withCString { cnh_tunsetiff(fd, $0, Int16(truncatingIfNeeded: flags), nil) }
        guard r == 0 else {
            let e = errno
            Glibc.close(fd)
            throw HostError(e)
        }
        return fd
    }

    public func interfaceExists(_ name: String) -> Bool { if_nametoindex(name) != 0 }

    public func setOffloads(fd: Int32, vnetHeaderSize: Int32, offloads: UInt32) throws(HostError) {
        guard cnh_tunsetvnethdrsz(fd, vnetHeaderSize) == 0 else { throw HostError(errno) }
        guard cnh_tunsetoffload(fd, offloads) == 0 else { throw HostError(errno) }
    }

    public func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Result<Int, HostError> {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return .success(n) }
            if errno != EINTR { return .failure(HostError(errno)) }
        }
    }

    public func write(_ fd: Int32, from buffer: UnsafeRawBufferPointer) -> Result<Int, HostError> {
        while true {
            let n = Glibc.write(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return .success(n) }
            if errno != EINTR { return .failure(HostError(errno)) }
        }
    }

    public func close(_ fd: Int32) { _ = Glibc.close(fd) }

    public func pollerCreate() throws(HostError) -> Int32 {
        let fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else { throw HostError(errno) }
        return fd
    }

    public func pollerAdd(_ poller: Int32, fd: Int32, token: UInt64) throws(HostError) {
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
        ev.data.u64 = token
        guard epoll_ctl(poller, EPOLL_CTL_ADD, fd, &ev) == 0 else { throw HostError(errno) }
    }

    public func pollerRemove(_ poller: Int32, fd: Int32) {
        var ev = epoll_event()
        _ = epoll_ctl(poller, EPOLL_CTL_DEL, fd, &ev)
    }

    public func pollerWait(_ poller: Int32, timeoutMilliseconds: Int32, max: Int) -> [HostEvent] {
        var events = [epoll_event](repeating: epoll_event(), count: max)
        let n = epoll_wait(poller, &events, Int32(max), timeoutMilliseconds)
        guard n > 0 else { return [] }
        return events[0..<Int(n)].map { e in
            HostEvent(token: e.data.u64, readable: e.events & EPOLLIN.rawValue != 0,
                      hangup: e.events & (EPOLLHUP.rawValue | EPOLLERR.rawValue | EPOLLRDHUP.rawValue) != 0)
        }
    }

    public func signalDescriptor(_ signals: [Int32]) throws(HostError) -> Int32 {
        var mask: UInt64 = 0
        for s in signals { mask |= 1 << UInt64(s) }
        let fd = cnh_signalfd(mask)
        guard fd >= 0 else { throw HostError(errno) }
        return fd
    }

    public func readSignal(_ fd: Int32) -> Int32? {
        var info = signalfd_siginfo()
        let n = withUnsafeMutableBytes(of: &info) { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n == MemoryLayout<signalfd_siginfo>.size else { return nil }
        return Int32(info.ssi_signo)
    }

    private func unixAddress(_ path: String) throws(HostError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw HostError(ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        return address
    }

    public func listenUnix(path: String) throws(HostError) -> Int32 {
        var address = try unixAddress(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HostError(errno) }
        // Only the owner may connect: the mode is set before anyone can.
        let old = umask(0o177)
        let r = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(old)
        guard r == 0, listen(fd, 16) == 0 else {
            let e = errno
            Glibc.close(fd)
            throw HostError(e)
        }
        return fd
    }

    public func accept(_ fd: Int32) -> Int32? {
        let c = Glibc.accept(fd, nil, nil)
        guard c >= 0 else { return nil }
        _ = fcntl(c, F_SETFD, FD_CLOEXEC)
        _ = fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK)
        return c
    }

    public func connectUnix(path: String) throws(HostError) -> Int32 {
        var address = try unixAddress(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HostError(errno) }
        let r = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard r == 0 else {
            let e = errno
            Glibc.close(fd)
            throw HostError(e)
        }
        return fd
    }

    public func peerUID(_ fd: Int32) -> Int64? {
        let uid = cnh_peer_uid(fd)
        return uid < 0 ? nil : Int64(uid)
    }

    public func effectiveUID() -> Int64 { Int64(geteuid()) }

    public func unlink(_ path: String) { _ = Glibc.unlink(path) }
}
