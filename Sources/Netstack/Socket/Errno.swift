// Errno: the one table mapping the stack's failures to Linux errno values
// and their strerror(3) texts (glibc wording), as swift-system's Errno does
// for the host. Kernel counterpart: include/uapi/asm-generic/errno*.h.

/// A Linux errno value.
public struct Errno: RawRepresentable, Error, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let EPERM = Errno(rawValue: 1)
    public static let ENOENT = Errno(rawValue: 2)
    public static let ESRCH = Errno(rawValue: 3)
    public static let EINTR = Errno(rawValue: 4)
    public static let EIO = Errno(rawValue: 5)
    public static let EBADF = Errno(rawValue: 9)
    public static let EAGAIN = Errno(rawValue: 11)
    public static let ENOMEM = Errno(rawValue: 12)
    public static let EACCES = Errno(rawValue: 13)
    public static let EFAULT = Errno(rawValue: 14)
    public static let EBUSY = Errno(rawValue: 16)
    public static let EEXIST = Errno(rawValue: 17)
    public static let EXDEV = Errno(rawValue: 18)
    public static let ENODEV = Errno(rawValue: 19)
    public static let EINVAL = Errno(rawValue: 22)
    public static let ENOSPC = Errno(rawValue: 28)
    /// EPIPE: write after shutdown(SHUT_WR) or after the connection closed.
    public static let EPIPE = Errno(rawValue: 32)
    public static let ERANGE = Errno(rawValue: 34)
    public static let EPROTO = Errno(rawValue: 71)
    public static let ENOTSOCK = Errno(rawValue: 88)
    public static let EDESTADDRREQ = Errno(rawValue: 89)
    public static let EMSGSIZE = Errno(rawValue: 90)
    public static let EPROTOTYPE = Errno(rawValue: 91)
    public static let ENOPROTOOPT = Errno(rawValue: 92)
    public static let EPROTONOSUPPORT = Errno(rawValue: 93)
    public static let EOPNOTSUPP = Errno(rawValue: 95)
    public static let EAFNOSUPPORT = Errno(rawValue: 97)
    public static let EADDRINUSE = Errno(rawValue: 98)
    public static let EADDRNOTAVAIL = Errno(rawValue: 99)
    public static let ENETDOWN = Errno(rawValue: 100)
    public static let ENETUNREACH = Errno(rawValue: 101)
    public static let ECONNABORTED = Errno(rawValue: 103)
    public static let ECONNRESET = Errno(rawValue: 104)
    public static let ENOBUFS = Errno(rawValue: 105)
    public static let EISCONN = Errno(rawValue: 106)
    public static let ENOTCONN = Errno(rawValue: 107)
    /// ESHUTDOWN: what an AsyncStack operation gets once the stack stopped.
    public static let ESHUTDOWN = Errno(rawValue: 108)
    public static let ETIMEDOUT = Errno(rawValue: 110)
    public static let ECONNREFUSED = Errno(rawValue: 111)
    public static let EHOSTDOWN = Errno(rawValue: 112)
    public static let EHOSTUNREACH = Errno(rawValue: 113)
    public static let EALREADY = Errno(rawValue: 114)
    public static let EINPROGRESS = Errno(rawValue: 115)

    /// strerror(3) as glibc words it.
    public var message: String {
        switch rawValue {
        case 1: "Operation not permitted"
        case 2: "No such file or directory"
        case 3: "No such process"
        case 4: "Interrupted system call"
        case 5: "Input/output error"
        case 9: "Bad file descriptor"
        case 11: "Resource temporarily unavailable"
        case 12: "Cannot allocate memory"
        case 13: "Permission denied"
        case 14: "Bad address"
        case 16: "Device or resource busy"
        case 17: "File exists"
        case 18: "Invalid cross-device link"
        case 19: "No such device"
        case 22: "Invalid argument"
        case 28: "No space left on device"
        case 32: "Broken pipe"
        case 34: "Numerical result out of range"
        case 71: "Protocol error"
        case 88: "Socket operation on non-socket"
        case 89: "Destination address required"
        case 90: "Message too long"
        case 91: "Protocol wrong type for socket"
        case 92: "Protocol not available"
        case 93: "Protocol not supported"
        case 95: "Operation not supported"
        case 97: "Address family not supported by protocol"
        case 98: "Address already in use"
        case 99: "Cannot assign requested address"
        case 100: "Network is down"
        case 101: "Network is unreachable"
        case 103: "Software caused connection abort"
        case 104: "Connection reset by peer"
        case 105: "No buffer space available"
        case 106: "Transport endpoint is already connected"
        case 107: "Transport endpoint is not connected"
        case 108: "Cannot send after transport endpoint shutdown"
        case 110: "Connection timed out"
        case 111: "Connection refused"
        case 112: "Host is down"
        case 113: "No route to host"
        case 114: "Operation already in progress"
        case 115: "Operation now in progress"
        default: "Unknown error \(rawValue)"
        }
    }
    public var description: String { message }
}

/// A control-plane refusal as rtnetlink reports it: an errno and, when the
/// kernel sets one, an extended-ack message (iproute2 prints
/// `Error: <extack>.` when present, else `RTNETLINK answers: <strerror>`).
public struct KernelError: Error, Hashable, Sendable {
    public var errno: Errno
    public var extack: String?
    public init(_ errno: Errno, _ extack: String? = nil) {
        self.errno = errno
        self.extack = extack
    }
    /// The line iproute2 prints for this error.
    public var iproute2Message: String {
        if let e = extack { return "Error: \(e)." }
        return "RTNETLINK answers: \(errno.message)"
    }
}

extension RouteError {
    /// The errno a socket call gets when its output route lookup fails.
    public var errno: Errno {
        switch self {
        case .networkUnreachable: .ENETUNREACH
        case .hostUnreachable: .EHOSTUNREACH
        case .prohibited: .EACCES
        case .blackhole, .invalid: .EINVAL
        case .crossDevice: .EXDEV
        }
    }
}
