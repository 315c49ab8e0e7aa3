// The control socket of `netstack run`: a Unix stream socket (mode 0600;
// only root or the owner's uid is served) through which `netstack ip …`,
// `netstack ss …`, `netstack ping …` and `netstack stop` act on the running
// stack. Kernel counterpart: the role rtnetlink plays for iproute2.
//
// Wire format (both directions big-endian):
//   request:  "NSC1" u32 length, then fields separated by NUL:
//             the namespace name ("" = the initial one), then argv;
//             then u32 length and the command's standard input.
//   response: frames of u8 kind (1 stdout, 2 stderr, 3 exit), u32 length,
//             payload; the exit frame's payload is the i32 status, last.
#if canImport(Glibc)
import Glibc
#endif

public struct ControlRequest: Equatable, Sendable {
    public var namespace: String?
    public var argv: [String]
    /// The command's whole standard input (`netstack nc … < FILE`).
    public var stdin: [UInt8]
    public init(namespace: String?, argv: [String], stdin: [UInt8] = []) {
        self.namespace = namespace
        self.argv = argv
        self.stdin = stdin
    }

    static let magic: [UInt8] = Array("NSC1".utf8)
    /// Command lines longer than this are refused.
    static let maximumLength = 1 << 20
    /// Standard input longer than this is refused.
    public static let maximumInput = 1 << 28

    public func encoded() -> [UInt8] {
        var payload: [UInt8] = Array((namespace ?? "").utf8)
        for a in argv {
            payload.append(0)
            payload += Array(a.utf8)
        }
        return ControlRequest.magic + bigEndianBytes(UInt32(payload.count)) + payload
            + bigEndianBytes(UInt32(stdin.count)) + stdin
    }

    public enum DecodeResult: Equatable {
        case needMore
        case request(ControlRequest, consumed: Int)
        case invalid(String)
    }

    /// Decodes one request from the front of `bytes`.
    public static func decode(_ bytes: [UInt8]) -> DecodeResult {
        guard bytes.count >= 8 else {
            return bytes.elementsEqual(magic.prefix(bytes.count)) ? .needMore : .invalid("bad magic")
        }
        guard Array(bytes[0..<4]) == magic else { return .invalid("bad magic") }
        let length = Int(bytes[4]) << 24 | Int(bytes[5]) << 16 | Int(bytes[6]) << 8 | Int(bytes[7])
        guard length <= maximumLength else { return .invalid("request too long") }
        guard bytes.count >= 8 + length + 4 else { return .needMore }
        let fields = bytes[8..<(8 + length)].split(separator: 0, omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        guard fields.count >= 2 else { return .invalid("no command") }
        let s = 8 + length
        let inputLength = Int(bytes[s]) << 24 | Int(bytes[s + 1]) << 16 | Int(bytes[s + 2]) << 8 | Int(bytes[s + 3])
        guard inputLength <= maximumInput else { return .invalid("standard input too long") }
        guard bytes.count >= s + 4 + inputLength else { return .needMore }
        let request = ControlRequest(namespace: fields[0].isEmpty ? nil : fields[0], argv: Array(fields.dropFirst()),
                                     stdin: Array(bytes[(s + 4)..<(s + 4 + inputLength)]))
        return .request(request, consumed: s + 4 + inputLength)
    }
}

public enum ControlFrameKind: UInt8, Sendable {
    case stdout = 1
    case stderr = 2
    case exit = 3
}

public func controlFrame(_ kind: ControlFrameKind, _ payload: [UInt8]) -> [UInt8] {
    [kind.rawValue] + bigEndianBytes(UInt32(payload.count)) + payload
}

func bigEndianBytes(_ v: UInt32) -> [UInt8] {
    [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
}

/// The default control socket path: $NETSTACK_CONTROL, else /run/netstack.sock.
public func defaultControlPath() -> String {
    if let p = getenv("NETSTACK_CONTROL"), p[0] != 0 { return String(cString: p) }
    return "/run/netstack.sock"
}

/// The server side: accepts clients, reassembles their requests, writes
/// their output. The owner (`netstack run`) runs each request as a command.
public final class ControlServer {
    let system: any HostSystem
    public let path: String
    public let listenFD: Int32
    struct Connection {
        var fd: Int32
        var input: [UInt8] = []
        var busy = false
    }
    private var connections: [UInt64: Connection] = [:]
    private var nextToken: UInt64 = 1 << 48
    let register: (Int32, UInt64) throws(HostError) -> Void
    let unregister: (Int32) -> Void
    /// The listening socket's token.
    public let listenToken: UInt64 = (1 << 48) - 1

    public init(system: any HostSystem, path: String,
                register: @escaping (Int32, UInt64) throws(HostError) -> Void,
                unregister: @escaping (Int32) -> Void) throws(HostError) {
        self.system = system
        self.path = path
        self.register = register
        self.unregister = unregister
        // A socket file left by a run that died: connectable means in use.
        if let fd = try? system.connectUnix(path: path) {
            system.close(fd)
            throw HostError(EADDRINUSE)
        }
        system.unlink(path)
        listenFD = try system.listenUnix(path: path)
        do throws(HostError) {
            try register(listenFD, listenToken)
        } catch {
            system.close(listenFD)
            system.unlink(path)
            throw error
        }
    }

    public func owns(_ token: UInt64) -> Bool { token == listenToken || connections[token] != nil }

    /// Accepts pending clients; a client of another uid (not root) is closed at once.
    public func acceptClients() {
        var n = 0
        while n < 64, let fd = system.accept(listenFD) {
            n += 1
            let me = system.effectiveUID()
            guard let uid = system.peerUID(fd), uid == 0 || uid == me else {
                let denied = controlFrame(.stderr, Array("netstack: permission denied\n".utf8)) + controlFrame(.exit, bigEndianBytes(UInt32(bitPattern: 1)))
                denied.withUnsafeBytes { _ = system.write(fd, from: $0) }
                system.close(fd)
                continue
            }
            let token = nextToken
            nextToken += 1
            if (try? register(fd, token)) == nil {
                system.close(fd)
                continue
            }
            connections[token] = Connection(fd: fd)
        }
    }

    /// Reads what the client sent; returns its request once complete
    /// (one per connection). A client that hangs up or sends garbage is closed.
    public func readRequest(_ token: UInt64) -> ControlRequest? {
        guard var c = connections[token] else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65536)
        var closed = false
        while true {
            let r = buffer.withUnsafeMutableBytes { system.read(c.fd, into: $0) }
            guard case .success(let n) = r else { break }
            if n == 0 { closed = true; break }
            c.input += buffer[0..<n]
            if c.input.count > ControlRequest.maximumLength + ControlRequest.maximumInput + 12 { break }
        }
        if c.busy {
            // Only one request per connection; later input is ignored, EOF
            // while the command runs is the client going away.
            connections[token] = c
            return nil
        }
        switch ControlRequest.decode(c.input) {
        case .request(let request, _):
            c.busy = true
            connections[token] = c
            return request
        case .needMore where !closed:
            connections[token] = c
            return nil
        case .needMore, .invalid:
            unregister(c.fd)
            system.close(c.fd)
            connections[token] = nil
            return nil
        }
    }

    /// Sends output to a client (dropped silently if it went away).
    public func send(_ token: UInt64, _ kind: ControlFrameKind, _ bytes: [UInt8]) {
        guard let c = connections[token], !bytes.isEmpty || kind == .exit else { return }
        let frame = controlFrame(kind, bytes)
        frame.withUnsafeBytes { raw in
            var done = 0
            var spins = 0
            while done < raw.count && spins < 100_000 {
                switch system.write(c.fd, from: UnsafeRawBufferPointer(rebasing: raw[done...])) {
                case .success(let n): done += n
                case .failure(let e) where e.errno == EAGAIN: spins += 1
                case .failure: return
                }
            }
        }
    }

    /// Sends the exit status and closes the connection.
    public func finish(_ token: UInt64, status: Int32) {
        send(token, .exit, bigEndianBytes(UInt32(bitPattern: status)))
        if let c = connections.removeValue(forKey: token) {
            unregister(c.fd)
            system.close(c.fd)
        }
    }

    public func close() {
        for (_, c) in connections {
            unregister(c.fd)
            system.close(c.fd)
        }
        connections.removeAll()
        unregister(listenFD)
        system.close(listenFD)
        system.unlink(path)
    }
}

/// The client side (`netstack ip …` against a running stack): sends one
/// request, copies the output frames to stdout/stderr, returns the status.
public enum ControlClient {
    public static func run(_ request: ControlRequest, path: String,
                           system: any HostSystem = LinuxHostSystem()) -> Int32 {
        let fd: Int32
        do throws(HostError) {
            fd = try system.connectUnix(path: path)
        } catch {
            let text = "netstack: no running stack at \(path): \(error)\n"
            _ = Array(text.utf8).withUnsafeBytes { system.write(2, from: $0) }
            return 1
        }
        defer { system.close(fd) }
        let bytes = request.encoded()
        var sent = 0
        while sent < bytes.count {
            let r = bytes.withUnsafeBytes { system.write(fd, from: UnsafeRawBufferPointer(rebasing: $0[sent...])) }
            guard case .success(let n) = r, n > 0 else { return 1 }
            sent += n
        }
        var input: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            while input.count >= 5 {
                let length = Int(input[1]) << 24 | Int(input[2]) << 16 | Int(input[3]) << 8 | Int(input[4])
                guard input.count >= 5 + length else { break }
                let payload = Array(input[5..<(5 + length)])
                let kind = ControlFrameKind(rawValue: input[0])
                input.removeFirst(5 + length)
                switch kind {
                case .stdout?: _ = payload.withUnsafeBytes { system.write(1, from: $0) }
                case .stderr?: _ = payload.withUnsafeBytes { system.write(2, from: $0) }
                case .exit?:
                    guard payload.count == 4 else { return 1 }
                    return Int32(bitPattern: UInt32(payload[0]) << 24 | UInt32(payload[1]) << 16 | UInt32(payload[2]) << 8 | UInt32(payload[3]))
                case nil: return 1
                }
            }
            let r = buffer.withUnsafeMutableBytes { system.read(fd, into: $0) }
            guard case .success(let n) = r, n > 0 else {
                _ = Array("netstack: the running stack closed the connection\n".utf8).withUnsafeBytes { system.write(2, from: $0) }
                return 1
            }
            input += buffer[0..<n]
        }
    }
}
