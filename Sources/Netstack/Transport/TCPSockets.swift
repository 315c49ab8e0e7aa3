// TCP sockets: the namespace's connection tables and the BSD-like calls
// over the sans-IO protocol core (Transport/TCP).
// Kernel counterparts: net/ipv4/inet_hashtables.c (established and
// listening hashes, __inet_lookup, __inet_hash_connect),
// net/ipv4/inet_connection_sock.c (inet_csk_get_port, inet_csk_bind_conflict,
// inet_csk_find_open_port, the accept queue: inet_csk_accept,
// inet_csk_listen_start/stop), net/ipv4/af_inet.c (inet_stream_connect,
// inet_shutdown), net/ipv4/tcp.c (tcp_poll, tcp_recvmsg's MSG_PEEK,
// tcp_close with SO_LINGER).
//
// Tables (per namespace, `TCPNamespaceState`):
// - `established`: every connection by its 4-tuple, SYN-RECV children and
//   TIME-WAIT included (Linux's ehash holds request socks and tw socks too).
//   A `TCPEstablishedTable`: one hash per segment; like ehash it stores
//   no keys, only the sockets (12 bytes a slot).
// - `listeners`: a short array scanned with inet_lhash2's scoring (exact
//   address beats wildcard, a bound device adds).
// - `ports`: the bind hash (port → sockets holding it), for bind conflicts
//   and ephemeral port choice.
//
// Differences from Linux, on purpose or not yet done:
// - A SYN creates the full TCPConnection at once (see TCPListener.swift);
//   the SYN queue is the count of children in SYN-RECV. A SYN is dropped
//   (ListenOverflows, ListenDrops) while the accept queue is over the
//   backlog; a completed handshake always joins the accept queue.
// - Timers: the namespace keeps the earliest connection deadline and, when
//   it passes, scans the established table (O(connections) per expiry, no
//   per-connection timer records). A timer wheel can replace it later.
// - SO_REUSEPORT groups: the first best-scoring listener takes the SYN (no
//   flow-hash selection within the group).
// - bind conflicts follow inet_csk_bind_conflict's main rules (overlapping
//   address and device; SO_REUSEADDR on both unless one listens;
//   SO_REUSEPORT on both; SO_REUSEADDR over TIME-WAIT), not its fast paths.
// - connect() takes a port no socket holds (Linux may share a port between
//   connections to different peers); when none is left, a port whose
//   4-tuple to the peer is a TIME-WAIT that tcp_tw_reuse lets go.
import NetWire

/// A connection's 4-tuple, as the established hash keys it.
struct TCPFlowKey: Hashable {
    var local: TCPEndpoint
    var remote: TCPEndpoint

    /// The 4-tuple fed to the (seeded) hasher in as few words as keep it
    /// whole: two for IPv4, five for IPv6 — the synthesized hash fed every
    /// field and enum tag separately, and the demux hashes a key per
    /// segment and per timer.
    @inline(__always)
    func hash(into h: inout Hasher) {
        h.combine(UInt64(local.port) << 16 | UInt64(remote.port))
        switch (local.address, remote.address) {
        case (.v4(let a), .v4(let b)):
            h.combine(UInt64(a.rawValue) << 32 | UInt64(b.rawValue))
        case (.v6(let a), .v6(let b)):
            h.combine(a.high); h.combine(a.low); h.combine(b.high); h.combine(b.low)
        case (.v4(let a), .v6(let b)):
            h.combine(UInt64(a.rawValue)); h.combine(b.high); h.combine(b.low)
        case (.v6(let a), .v4(let b)):
            h.combine(a.high); h.combine(a.low); h.combine(UInt64(b.rawValue) | 1 << 40)
        }
    }
}

/// shutdown(2)'s `how`.
public enum TCPShutdown: Sendable {
    case read, write, both
}

/// What poll(2) would report for a socket (tcp_poll).
public struct TCPReadiness: OptionSet, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// POLLIN: data, end of stream, an error, or (listening) a connection to accept.
    public static let readable = TCPReadiness(rawValue: 1 << 0)
    /// POLLOUT: connected with send-buffer space.
    public static let writable = TCPReadiness(rawValue: 1 << 1)
    /// POLLERR: sk_err is set.
    public static let error = TCPReadiness(rawValue: 1 << 2)
    /// POLLHUP: both directions shut down, or the connection is closed.
    public static let hangup = TCPReadiness(rawValue: 1 << 3)
    /// POLLRDHUP: the peer's FIN arrived (or shutdown(SHUT_RD)).
    public static let readHangup = TCPReadiness(rawValue: 1 << 4)
}

/// The namespace's TCP tables and sysctls (struct netns_ipv4's tcp part
/// plus the namespace's share of tcp_hashinfo).
public final class TCPNamespaceState {
    /// Configuration blocks recently made by setsockopt, so that equal
    /// ones share one (TCPConfiguration's storage): a server that sets
    /// TCP_NODELAY on every accepted socket would otherwise hold two
    /// ~200-byte blocks per connection, the socket's and the TCB's.
    private var interned: [TCPConfiguration] = []

    /// An equal configuration already held here, or `c` (remembered).
    func intern(_ c: TCPConfiguration) -> TCPConfiguration {
        for x in interned where x == c { return x }
        if interned.count >= 8 { interned.removeFirst() }
        interned.append(c)
        return c
    }

    /// net.ipv4.tcp_syncookies (0 off, 1 when the SYN queue overflows, 2 always).
    public var syncookies = 1
    /// net.ipv4.tcp_tw_reuse (0 off, 1 on, 2 loopback only) and
    /// tcp_tw_reuse_delay: connect() may take over a TIME-WAIT 4-tuple
    /// that much after TIME-WAIT began (tcp_twsk_unique).
    public var twReuse = 2
    public var twReuseDelay: TimeDelta = .seconds(1)
    /// net.core.somaxconn: the largest listen backlog.
    public var somaxconn = 4096
    /// The tcp_* sysctls new sockets start from.
    public var configuration = TCPConfiguration()
    /// net.ipv4.tcp_moderate_rcvbuf: receive-buffer autotuning.
    public var moderateRcvbuf = true
    /// net.ipv4.tcp_limit_output_bytes: the most a socket keeps below TCP
    /// (qdisc, device queues) before TCP Small Queues hold it back; Linux
    /// 6.16+ default 4 MiB (1 MiB before).
    /// Read per segment (TCPSockets.tcpSmallQueueCheck); written by sysctl
    /// between polls.
    @exclusivity(unchecked) public var limitOutputBytes = 4 << 20
    /// The stack's TCP memory account, held by the initial namespace
    /// (`NetworkNamespace.tcpMemory`): one per stack, as Linux's
    /// tcp_memory_allocated is one per kernel.
    var memoryAccount: TCPMemory?
    /// The stack's pending-count box (`NetworkNamespace.tcpPendingCounters`).
    var pendingCounters: TCPPendingCounters?

    // Per segment (demux, timers), by the namespace's thread only (the
    // control plane runs between polls): no dynamic exclusivity check.
    @exclusivity(unchecked) var established = TCPEstablishedTable()
    var listeners: [TCPSocket] = []
    var ports: [UInt16: TCPPortBucket] = [:]
    /// Connection timers by deadline (DeadlineHeap.swift: lazy removal;
    /// a socket's live entry is the one whose deadline equals its
    /// `timerQueued`).
    @exclusivity(unchecked) var timers = DeadlineHeap<TCPFlowKey>()
    var secrets: TCPSecrets?
    /// The last socket cookie and inode number handed out (see
    /// `TCPSocket.cookie` and `TCPSocket.inode`).
    var lastCookie: UInt64 = 0
    var lastInode: UInt32 = 0

    init() {}

    /// Sockets with a local port: listeners, bound sockets, connections
    /// (TIME-WAIT included), each once.
    public var sockets: [TCPSocket] {
        var seen = Set<ObjectIdentifier>()
        var out: [TCPSocket] = []
        for (_, b) in ports.sorted(by: { $0.key < $1.key }) {
            for s in b where seen.insert(ObjectIdentifier(s)).inserted { out.append(s) }
        }
        return out
    }
}

/// A TCP socket (struct tcp_sock with its struct socket): unbound, bound,
/// listening, or holding one connection.
public final class TCPSocket {
    public unowned let namespace: NetworkNamespace
    /// Where this socket sits in its port's bucket (`TCPPortBucket.owners`), -1 when in none.
    var portIndex: Int {
        @inline(__always) get { Int(_portIndex) }
        @inline(__always) set { _portIndex = Int32(truncatingIfNeeded: newValue) }
    }
    /// SO_LINGER: nil off; 0 makes close() reset the connection.
    public var linger: Int? {
        get { _linger == .min ? nil : Int(_linger) }
        set { _linger = newValue.map { Int32(clamping: max($0, Int(Int32.min) + 1)) } ?? .min }
    }
    /// The socket's TCP options (TCP_NODELAY, TCP_CORK, SO_KEEPALIVE and
    /// the keepalive timers, buffer limits). Changing the Nagle/cork/
    /// keepalive fields applies to a live connection at once.
    public var configuration: TCPConfiguration {
        didSet {
            // setsockopt made a new block: share an equal one if the
            // namespace has it (every TCP_NODELAY socket of a server).
            let shared = namespace.tcp.intern(configuration)
            if !shared.sharesStorage(with: configuration) { configuration = shared }
            applyConfiguration()
        }
    }
    /// SO_RCVBUF / SO_SNDBUF as set (nil: not set; the buffers then
    /// follow tcp_rmem / tcp_wmem and autotuning). Applied to the
    /// connection at once, and inherited by a listener's children.
    public var receiveBufferRequest: Int? {
        get { _receiveBufferRequest < 0 ? nil : Int(_receiveBufferRequest) }
        set {
            _receiveBufferRequest = newValue.map { Int32(clamping: max($0, 0)) } ?? -1
            if let n = receiveBufferRequest { connection?.setReceiveBuffer(n) }
        }
    }
    public var sendBufferRequest: Int? {
        get { _sendBufferRequest < 0 ? nil : Int(_sendBufferRequest) }
        set {
            _sendBufferRequest = newValue.map { Int32(clamping: max($0, 0)) } ?? -1
            if let n = sendBufferRequest { connection?.setSendBuffer(n) }
        }
    }
    /// The connection, once connect() or the listener made one.
    // This field and the other @exclusivity(unchecked) ones are read per
    // segment; a socket is touched only by the thread that polls its
    // namespace (applications call in between polls), so accesses never
    // overlap and the runtime check would only cost time.
    @exclusivity(unchecked) public internal(set) var connection: TCPConnection?
    /// The listening half; nil unless listen() was called. Boxed with
    /// the accept queue and the other state only a listener has, which
    /// every connected socket would otherwise carry empty (48 bytes).
    var listener: TCPListener? {
        get { listenerBox?.value }
        set {
            if let v = newValue {
                if let b = listenerBox { b.value = v } else { listenerBox = TCPListenerBox(v) }
            } else {
                listenerBox = nil
            }
        }
    }
    private var listenerBox: TCPListenerBox?
    /// listen()'s backlog, capped by somaxconn (sk_max_ack_backlog); 0
    /// when not listening.
    public internal(set) var backlog: Int {
        get { listenerBox?.backlog ?? 0 }
        set { listenerBox?.backlog = newValue }
    }
    /// Children still in SYN-RECV (the SYN queue).
    public internal(set) var synQueueLength: Int {
        get { listenerBox?.synQueueLength ?? 0 }
        set { listenerBox?.synQueueLength = newValue }
    }
    /// The accept queue: children from `acceptHead` on wait for accept().
    var acceptQueue: [TCPSocket] { listenerBox?.acceptQueue ?? [] }
    var acceptHead: Int { listenerBox?.acceptHead ?? 0 }
    /// A child whose handshake completed joins the accept queue.
    func enqueueAccepted(_ child: TCPSocket) { listenerBox?.acceptQueue.append(child) }
    /// When the SYN queue last overflowed (cookies are checked within 2 minutes of it).
    var lastOverflow: Instant? {
        get { listenerBox?.lastOverflow }
        set { listenerBox?.lastOverflow = newValue }
    }
    /// The listener a child came from, until it is accepted.
    weak var parent: TCPSocket?
    /// The deadline of this socket's live entry in the namespace's timer queue.
    @exclusivity(unchecked) var timerQueued = Instant.distantFuture

    /// The socket's cookie (sock_gen_cookie(), `ss -e`'s `sk:`): Linux
    /// draws it from a global counter; here each namespace numbers its TCP
    /// sockets 1, 2, … in order of creation (listener children included),
    /// so that a lab prints the same values every run.
    public let cookie: UInt64
    /// The socket's inode number (`ss -e`'s `ino:`): given when an
    /// application gets a file for it, socket() or accept(), numbered
    /// 1, 2, … per namespace; 0 while no application holds it (a child
    /// not yet accepted, an orphan after close()).
    public var inode: UInt32 { isClosed ? 0 : fileInode }

    /// The bound address (17 bytes: kept last of the 8-aligned fields).
    public internal(set) var localAddress: IPAddress?

    // MARK: small fields
    // Fields under 8 bytes, gathered after the 8-byte ones so that none
    // pads (a class lays its fields out in declaration order, each at its
    // alignment); the options that are Int in the API (SO_LINGER, SO_RCVBUF,
    // SO_SNDBUF: int in Linux) stored in 32 bits, nil as a sentinel.
    var fileInode: UInt32 = 0
    /// The socket's TCP Small Queues owner id (its slot in the shard's
    /// `TCPSmallQueues`), given at its first charged packet; 0: none.
    @exclusivity(unchecked) var tsqOwner: UInt32 = 0
    var _portIndex: Int32 = -1
    /// SO_LINGER's l_linger; Int32.min: off.
    var _linger: Int32 = .min
    /// SO_RCVBUF / SO_SNDBUF as requested; -1: not set (a negative request
    /// is kept as 0, which sizes the buffer alike: the minimum).
    var _receiveBufferRequest: Int32 = -1
    var _sendBufferRequest: Int32 = -1
    /// SO_BINDTODEVICE (0: none).
    @exclusivity(unchecked) public var boundDevice: Int32 = 0
    /// An error connect() or a read reports once (sk_err after the TCB is gone).
    @exclusivity(unchecked) var pendingError: Errno?
    public internal(set) var localPort: UInt16 = 0
    /// The boolean states below, one bit each (bit 0 reuseAddress … bit 11
    /// reportedError, in declaration order): 2 bytes, not 12.
    @exclusivity(unchecked) var flags: UInt16 = 0
    /// AF_INET6 (an IPv6 socket also takes IPv4 peers unless `v6Only`).
    public let isIPv6: Bool
    /// SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY.
    public var reuseAddress: Bool {
        @inline(__always) get { flags & 1 != 0 }
        @inline(__always) set { if newValue { flags |= 1 } else { flags &= ~1 } }
    }
    public var reusePort: Bool {
        @inline(__always) get { flags & 2 != 0 }
        @inline(__always) set { if newValue { flags |= 2 } else { flags &= ~2 } }
    }
    public var v6Only: Bool {
        @inline(__always) get { flags & 4 != 0 }
        @inline(__always) set { if newValue { flags |= 4 } else { flags &= ~4 } }
    }
    /// Whether the device this socket's last segment left through takes GSO
    /// packets (sk_can_gso from the cached dst's features): then TCP builds
    /// up to 64 KiB per packet. Only a hint — a device that cannot take them
    /// gets them cut (validate_xmit_skb).
    var gsoCapable: Bool {
        @inline(__always) get { flags & 8 != 0 }
        @inline(__always) set { if newValue { flags |= 8 } else { flags &= ~8 } }
    }
    /// In the namespace's `tcpBlockedOutput` (a backlog was nearly full).
    var outputBlocked: Bool {
        @inline(__always) get { flags & 16 != 0 }
        @inline(__always) set { if newValue { flags |= 16 } else { flags &= ~16 } }
    }
    /// On the namespace's deferred-output list (tcpFlushDeferredOutput).
    var outputDeferred: Bool {
        @inline(__always) get { flags & 32 != 0 }
        @inline(__always) set { if newValue { flags |= 32 } else { flags &= ~32 } }
    }
    var inAcceptQueue: Bool {
        @inline(__always) get { flags & 64 != 0 }
        @inline(__always) set { if newValue { flags |= 64 } else { flags &= ~64 } }
    }
    /// The port came from bind() (SOCK_BINDPORT_LOCK): it stays held when
    /// the connection ends.
    var userBound: Bool {
        @inline(__always) get { flags & 128 != 0 }
        @inline(__always) set { if newValue { flags |= 128 } else { flags &= ~128 } }
    }
    var hashed: Bool {
        @inline(__always) get { flags & 256 != 0 }
        @inline(__always) set { if newValue { flags |= 256 } else { flags &= ~256 } }
    }
    var readShutdown: Bool {
        @inline(__always) get { flags & 512 != 0 }
        @inline(__always) set { if newValue { flags |= 512 } else { flags &= ~512 } }
    }
    /// close() was called.
    public internal(set) var isClosed: Bool {
        @inline(__always) get { flags & 1024 != 0 }
        @inline(__always) set { if newValue { flags |= 1024 } else { flags &= ~1024 } }
    }

    init(namespace: NetworkNamespace, isIPv6: Bool, configuration: TCPConfiguration) {
        self.namespace = namespace
        self.isIPv6 = isIPv6
        self.configuration = configuration
        namespace.tcp.lastCookie &+= 1
        cookie = namespace.tcp.lastCookie
    }

    func assignInode() {
        guard fileInode == 0 else { return }
        namespace.tcp.lastInode &+= 1
        fileInode = namespace.tcp.lastInode
    }

    /// getsockopt(TCP_INFO): the connection's tcp_info now, a listener's
    /// short one, nil for a socket with neither.
    public var info: TCPInfo? {
        if isListening {
            return TCPInfo(listenerWith: configuration, acceptQueue: acceptQueueLength, backlog: backlog)
        }
        return connection?.info(now: namespace.stack.now)
    }

    /// sk_shutdown as inet_diag reports it (`ss -e`'s `<->`): bit 0
    /// RCV_SHUTDOWN (shutdown(SHUT_RD), or the peer's FIN), bit 1
    /// SEND_SHUTDOWN (shutdown(SHUT_WR)); close() sets both.
    public var shutdownMask: UInt8 {
        if isClosed { return 3 }
        guard let c = connection else { return readShutdown ? 1 : 0 }
        return (readShutdown || c.peerFinReceived ? 1 : 0) | (c.finQueued || c.state == .closed ? 2 : 0)
    }

    /// SK_MEMINFO_* (`ss -m`'s skmem): payload bytes stand for skb
    /// truesize; rcvbuf and sndbuf are sk_rcvbuf and sk_sndbuf as
    /// autotuning or SO_RCVBUF/SO_SNDBUF left them; wmem_alloc is the bytes
    /// below TCP (IP, neighbour and qdisc queues: TCP Small Queues'
    /// count); forward-alloc, optmem and backlog read 0.
    public var memoryInfo: TCPSocketMemory {
        let rb = receiveBufferRequest.map { max($0 &* 2, TCPConnection.minimumSocketBuffer) } ?? configuration.receiveBufferInitial
        let sb = sendBufferRequest.map { max($0 &* 2, TCPConnection.minimumSocketBuffer) } ?? configuration.sendBufferInitial
        var m = TCPSocketMemory(rcvbuf: rb, sndbuf: sb)
        if let c = connection, c.state != .timeWait {
            m.rmemAlloc = c.receiveMemory
            m.rcvbuf = c.rcvBuf
            m.sndbuf = c.sendBufferSize
            m.wmemQueued = c.sendQueueBytes
        }
        m.wmemAlloc = namespace.smallQueues.queuedBytes(tsqOwner)
        return m
    }

    public var isListening: Bool { hasListener && !isClosed }
    var hasListener: Bool { listenerBox != nil }
    public var state: TCPState? { connection?.state }
    public var remoteAddress: IPAddress? { connection?.remote.address }
    public var remotePort: UInt16 { connection?.remote.port ?? 0 }
    /// connect() completed: the handshake is done (and the connection may since have closed).
    public var isConnected: Bool {
        guard let c = connection else { return false }
        return c.state.isSynchronized || (c.state == .closed && c.error == nil && c.sndUna != c.iss)
    }
    /// SO_ERROR without clearing it.
    public var error: Errno? { pendingError ?? connection?.error }
    /// Connections waiting in the accept queue.
    public var acceptQueueLength: Int { listenerBox.map { $0.acceptQueue.count - $0.acceptHead } ?? 0 }
    /// SIOCINQ: bytes ready to read.
    public var receiveQueueBytes: Int { connection?.readableBytes ?? 0 }
    /// What `ss` shows as Send-Q: sent but unacknowledged sequence space
    /// (SYN and FIN count one) plus bytes not yet sent (write_seq - snd_una).
    public var sendQueueBytes: Int {
        guard let c = connection, c.state != .closed, c.state != .timeWait else { return 0 }
        return max(c.sndNxt - c.sndUna, 0) + c.unsentBytes + (c.finQueued && !c.finSent ? 1 : 0)
    }

    /// tcp_poll().
    public var readiness: TCPReadiness {
        var r: TCPReadiness = []
        if isListening {
            if acceptQueueLength > 0 { r.insert(.readable) }
            return r
        }
        guard let c = connection else { return isClosed ? [] : [.writable, .hangup] }
        if error != nil { r.formUnion([.error, .readable, .writable]) }
        if c.readableBytes > 0 || c.peerFinReceived || readShutdown { r.insert(.readable) }
        if c.peerFinReceived || readShutdown { r.insert(.readHangup) }
        let writeShut = c.finQueued || c.state == .closed || c.state == .timeWait
        if c.state == .closed || c.state == .timeWait || (writeShut && (c.peerFinReceived || readShutdown)) {
            r.insert(.hangup)
        }
        // sk_stream_is_writeable: free space at least half of what is
        // queued (a third of the buffer), so a writer woken by POLLOUT
        // queues a large chunk, not the few segments the last ACK freed.
        if c.state.isSynchronized && !writeShut && c.sendSpace > 0 && c.sendSpace >= c.sendQueueBytes >> 1 {
            r.insert(.writable)
        }
        if c.state == .closed { r.insert(.readable) }
        return r
    }

    // MARK: calls

    /// bind(2). Port 0 picks a free port from ip_local_port_range.
    public func bind(_ address: IPAddress?, port: UInt16) throws(Errno) {
        guard !isClosed else { throw .EBADF }
        guard localPort == 0, connection == nil else { throw .EINVAL }
        var addr = address
        if let a = addr, a.isUnspecified { addr = nil }
        if let a = addr {
            guard a.isIPv6 == isIPv6 else { throw isIPv6 ? .EINVAL : .EAFNOSUPPORT }
            guard namespace.isLocal(a) else { throw .EADDRNOTAVAIL }
        }
        localAddress = addr
        if port == 0 {
            guard let p = namespace.tcpFreePort(for: self) else { localAddress = nil; throw .EADDRINUSE }
            localPort = p
        } else {
            if namespace.tcpBindConflict(self, port: port, listening: false) { localAddress = nil; throw .EADDRINUSE }
            localPort = port
            userBound = true
        }
        namespace.tcpHoldPort(self)
    }

    /// listen(2): backlog is capped by net.core.somaxconn (a negative one means the cap).
    public func listen(backlog: Int = 128) throws(Errno) {
        guard !isClosed else { throw .EBADF }
        guard connection == nil else { throw .EINVAL }
        let t = namespace.tcp
        let cap = t.somaxconn
        let b = backlog < 0 || backlog > cap ? cap : backlog
        if hasListener { self.backlog = b; return }
        if localPort == 0 {
            guard let p = namespace.tcpFreePort(for: self) else { throw .EADDRINUSE }
            localPort = p
            namespace.tcpHoldPort(self)
        } else if namespace.tcpBindConflict(self, port: localPort, listening: true) {
            throw .EADDRINUSE
        }
        listener = TCPListener(configuration: configuration, secrets: namespace.tcpSecrets())
        self.backlog = b
        t.listeners.append(self)
    }

    /// accept(2) without blocking: the oldest established connection, or
    /// nil (EAGAIN). EINVAL when not listening.
    public func accept() throws(Errno) -> TCPSocket? {
        guard isListening else { throw .EINVAL }
        guard let box = listenerBox, box.acceptHead < box.acceptQueue.count else { return nil }
        let child = box.acceptQueue[box.acceptHead]
        box.acceptHead += 1
        if box.acceptHead == box.acceptQueue.count { box.acceptQueue.removeAll(keepingCapacity: true); box.acceptHead = 0 }
        child.parent = nil
        child.inAcceptQueue = false
        child.assignInode()
        return child
    }

    /// connect(2), non-blocking: throws EINPROGRESS once the SYN is on its
    /// way; completion shows in `isConnected`, failure in `error`.
    public func connect(_ address: IPAddress, port: UInt16) throws(Errno) {
        guard !isClosed else { throw .EBADF }
        guard !isListening else { throw .EINVAL }
        if let c = connection {
            if c.state == .synSent || c.state == .synReceived { throw .EALREADY }
            if c.state.isSynchronized { throw .EISCONN }
            if let e = takeError() { throw e }
            throw .EISCONN
        }
        var remote = address
        if isIPv6, case .v4 = address { throw .EAFNOSUPPORT }
        if !isIPv6 && address.isIPv6 { throw .EAFNOSUPPORT }
        if address.isUnspecified { remote = isIPv6 ? .v6(.loopback) : .v4(.loopback) }
        try namespace.tcpConnect(self, to: remote, port: port)
        throw .EINPROGRESS
    }

    /// SO_ERROR: the pending error, cleared.
    public func takeError() -> Errno? {
        if let e = pendingError { pendingError = nil; return e }
        if let c = connection, let e = c.error {
            // Reported once: keep the TCB's error for reads, not for SO_ERROR.
            pendingError = nil
            if !reportedError { reportedError = true; return e }
        }
        return nil
    }
    var reportedError: Bool {
        @inline(__always) get { flags & 2048 != 0 }
        @inline(__always) set { if newValue { flags |= 2048 } else { flags &= ~2048 } }
    }

    /// send(2) without blocking: how many bytes were queued. EAGAIN when
    /// the send buffer is full, EPIPE after shutdown(SHUT_WR) or close of
    /// the connection, ENOTCONN before it is established.
    @discardableResult
    public func send(_ bytes: UnsafeRawBufferPointer) throws(Errno) -> Int {
        guard !isClosed else { throw .EBADF }
        guard let c = connection else { throw .ENOTCONN }
        if c.state == .synSent || c.state == .synReceived { throw .EAGAIN }
        if let e = pendingError { pendingError = nil; throw e }
        let n = try c.send(bytes, now: namespace.stack.now)
        namespace.tcpTransmit(self)
        if n == 0 && bytes.count > 0 { throw .EAGAIN }
        return n
    }

    @discardableResult
    public func send(_ bytes: [UInt8]) throws(Errno) -> Int {
        let r: Result<Int, Errno> = bytes.withUnsafeBytes { b in
            do throws(Errno) { return .success(try send(b)) } catch { return .failure(error) }
        }
        return try r.get()
    }

    /// recv(2) without blocking into `buffer`: bytes read, 0 at end of
    /// stream; EAGAIN when nothing is there yet. `peek` leaves the bytes
    /// queued (MSG_PEEK).
    public func receive(into buffer: UnsafeMutableRawBufferPointer, peek: Bool = false) throws(Errno) -> Int {
        guard !isClosed else { throw .EBADF }
        guard let c = connection else { throw isListening ? .ENOTCONN : .ENOTCONN }
        if readShutdown && c.readableBytes == 0 { return 0 }
        if c.state == .synSent || c.state == .synReceived { throw .EAGAIN }
        if peek {
            let n = min(buffer.count, c.readableBytes)
            if n == 0 { return try c.read(into: buffer, now: namespace.stack.now) }
            c.recvRing.copy(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n]), from: 0)
            return n
        }
        let n = try c.read(into: buffer, now: namespace.stack.now)
        if c.wantsOutput { namespace.tcpTransmit(self) }
        return n
    }

    /// recv(2) of up to `max` bytes as an array: empty at end of stream.
    public func receive(max: Int = 65536, peek: Bool = false) throws(Errno) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: max)
        let r: Result<Int, Errno> = out.withUnsafeMutableBytes { b in
            do throws(Errno) { return .success(try receive(into: b, peek: peek)) } catch { return .failure(error) }
        }
        let n = try r.get()
        out.removeSubrange(n...)
        return out
    }

    /// shutdown(2).
    public func shutdown(_ how: TCPShutdown) throws(Errno) {
        guard !isClosed else { throw .EBADF }
        guard let c = connection else {
            if isListening && how != .write { namespace.tcpStopListening(self); return }
            throw .ENOTCONN
        }
        guard c.state != .closed && c.state != .synSent || how == .read else {
            if c.state == .synSent { namespace.tcpAbortConnect(self); return }
            throw .ENOTCONN
        }
        if how != .write { readShutdown = true }
        if how != .read {
            c.shutdownWrite()
            namespace.tcpTransmit(self)
        }
    }

    /// close(2): FIN after queued data (RST if unread data would be lost,
    /// or with SO_LINGER 0). The connection lives on, orphaned, until it
    /// reaches CLOSED (TIME-WAIT included).
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        namespace.tcpClose(self)
    }

    func applyConfiguration() {
        guard let c = connection else { return }
        var k = c.configuration
        let n = configuration
        k.noDelay = n.noDelay
        k.cork = n.cork
        k.keepalive = n.keepalive
        k.keepaliveTime = n.keepaliveTime
        k.keepaliveInterval = n.keepaliveInterval
        k.keepaliveProbes = n.keepaliveProbes
        c.configuration = namespace.tcp.intern(k)
        // TCP_NODELAY / uncorking pushes what Nagle held back.
        if c.wantsOutput { namespace.tcpTransmit(self) }
    }
}

/// A socket's memory as SK_MEMINFO_* counts it (sock_diag's skmem).
public struct TCPSocketMemory: Sendable, Equatable {
    public var rmemAlloc = 0
    public var rcvbuf: Int
    public var wmemAlloc = 0
    public var sndbuf: Int
    public var fwdAlloc = 0
    public var wmemQueued = 0
    public var optmem = 0
    public var backlog = 0
    public var drops = 0

    public init(rcvbuf: Int, sndbuf: Int) {
        self.rcvbuf = rcvbuf
        self.sndbuf = sndbuf
    }
}

extension NetworkNamespace {
    /// The stack's TCP memory account (tcp_memory_allocated and tcp_mem),
    /// shared by every namespace: kept by the initial one.
    public var tcpMemory: TCPMemory {
        let owner = stack.initial.tcp
        if let m = owner.memoryAccount { return m }
        let m = TCPMemory()
        m.stack = stack
        owner.memoryAccount = m
        return m
    }

    /// The box every connection of the stack gathers its pending MIB
    /// counts in between an event and its flush: one per stack, as the
    /// stack's events run one at a time on its shard; kept by the initial
    /// namespace.
    var tcpPendingCounters: TCPPendingCounters {
        let owner = stack.initial.tcp
        if let b = owner.pendingCounters { return b }
        let b = TCPPendingCounters()
        owner.pendingCounters = b
        return b
    }

    /// socket(AF_INET[6], SOCK_STREAM, 0).
    public func tcpSocket(ipv6: Bool = false) -> TCPSocket {
        let s = TCPSocket(namespace: self, isIPv6: ipv6, configuration: tcp.configuration)
        s.assignInode()
        return s
    }

    func tcpSecrets() -> TCPSecrets {
        if let s = tcp.secrets { return s }
        let s = TCPSecrets(k0: stack.nextRandom(), k1: stack.nextRandom(), tsK0: stack.nextRandom(), tsK1: stack.nextRandom())
        tcp.secrets = s
        return s
    }

    // MARK: ports (inet_csk_get_port)

    func tcpHoldPort(_ s: TCPSocket) {
        tcp.ports[s.localPort, default: TCPPortBucket()].insert(s)
    }

    /// Edits the bucket in place: a busy listener's port holds every child
    /// (TIME-WAIT included, as tb->owners does), tens of thousands under
    /// churn, and copying it per release made churn quadratic.
    func tcpReleasePort(_ s: TCPSocket) {
        let port = s.localPort
        guard port != 0, tcp.ports[port]?.remove(s) == true else { return }
        if tcp.ports[port]!.isEmpty { tcp.ports[port] = nil }
    }

    /// Whether two sockets' local addresses overlap (inet_rcv_saddr_equal
    /// with wildcards): same address, or either a wildcard of a family the
    /// other's address belongs to (an IPv6 wildcard covers IPv4 unless v6only).
    func tcpAddressesOverlap(_ a: TCPSocket, _ b: TCPSocket) -> Bool {
        let fa = a.localAddress?.isIPv6 ?? a.isIPv6
        let fb = b.localAddress?.isIPv6 ?? b.isIPv6
        if fa != fb {
            // Only a dual-stack IPv6 wildcard meets IPv4.
            if fa, a.localAddress == nil, !a.v6Only { return true }
            if fb, b.localAddress == nil, !b.v6Only { return true }
            return false
        }
        guard let x = a.localAddress, let y = b.localAddress else { return true }
        return x == y
    }

    /// inet_csk_bind_conflict(): whether `s` may not hold `port`.
    func tcpBindConflict(_ s: TCPSocket, port: UInt16, listening: Bool) -> Bool {
        guard let bucket = tcp.ports[port] else { return false }
        for o in bucket where o !== s {
            guard tcpAddressesOverlap(s, o) else { continue }
            if s.boundDevice != 0 && o.boundDevice != 0 && s.boundDevice != o.boundDevice { continue }
            let oTimeWait = o.connection?.state == .timeWait
            if s.reusePort && o.reusePort { continue }
            if s.reuseAddress && oTimeWait { continue }
            if s.reuseAddress && o.reuseAddress && !listening && !o.isListening { continue }
            if listening && s.reuseAddress && o.reuseAddress && !o.isListening && o.connection != nil { continue }
            return true
        }
        return false
    }

    /// inet_csk_find_open_port(): a random start in ip_local_port_range,
    /// then upward, skipping ports in use.
    func tcpFreePort(for s: TCPSocket) -> UInt16? {
        let range = config.localPortRange
        let span = Int(range.upperBound) - Int(range.lowerBound) + 1
        let start = Int(stack.nextRandom() % UInt64(span))
        for i in 0..<span {
            let p = UInt16(Int(range.lowerBound) + (start + i) % span)
            if tcp.ports[p] == nil { return p }
        }
        return nil
    }

    /// __inet_hash_connect()'s second chance when every port of the range
    /// is held: a port whose holders are all connect()'s own (no bind, no
    /// listener) and where the 4-tuple to `remote` is a TIME-WAIT that
    /// tcp_tw_reuse lets go. (Linux would also share a port between
    /// connections to different peers; here a port is shared only this way.)
    func tcpTimeWaitPort(source: IPAddress, remote: TCPEndpoint) -> UInt16? {
        guard tcp.twReuse != 0 else { return nil }
        let range = config.localPortRange
        let span = Int(range.upperBound) - Int(range.lowerBound) + 1
        let start = Int(stack.nextRandom() % UInt64(span))
        for i in 0..<span {
            let p = UInt16(Int(range.lowerBound) + (start + i) % span)
            guard let tw = tcp.established[TCPFlowKey(local: TCPEndpoint(source, p), remote: remote)],
                  let c = tw.connection, tcpTimeWaitReusable(tw, c, bypassSysctl: false),
                  let bucket = tcp.ports[p],
                  bucket.allSatisfy({ !$0.userBound && !$0.isListening && $0.connection?.activeOpen == true })
            else { continue }
            return p
        }
        return nil
    }

    /// tcp_twsk_unique(): a TIME-WAIT whose connection used timestamps
    /// (PAWS then tells the incarnations apart) may be taken over — by a
    /// connect() on an explicitly bound port always, otherwise when
    /// tcp_tw_reuse allows (2: only a loopback connection, by address or
    /// bound to lo) and TIME-WAIT began more than tcp_tw_reuse_delay ago.
    func tcpTimeWaitReusable(_ tw: TCPSocket, _ c: TCPConnection, bypassSysctl: Bool) -> Bool {
        guard c.state == .timeWait, c.timestampsEnabled else { return false }
        if bypassSysctl { return true }
        var reuse = tcp.twReuse
        if reuse == 2 {
            func loop(_ a: IPAddress) -> Bool {
                switch a {
                case .v4(let x): return x.isLoopback
                case .v6(let x): return x.isLoopback || (x.high == 0 && x.low >> 32 == 0xFFFF && (x.low >> 24) & 0xFF == 127)
                }
            }
            if !(tw.boundDevice == loopback.ifindex || loop(c.local.address) || loop(c.remote.address)) { reuse = 0 }
        }
        return reuse != 0 && c.timeWaitEnteredAt + tcp.twReuseDelay < stack.now
    }

    // MARK: connect (tcp_v4_connect / tcp_v6_connect)

    func tcpConnect(_ s: TCPSocket, to address: IPAddress, port: UInt16) throws(Errno) {
        let flow = FlowKey(destination: address, source: s.localAddress, oif: s.boundDevice, ipproto: 6,
                           sourcePort: s.localPort, destinationPort: port)
        let decision: RouteDecision
        switch routeOutput(flow) {
        case .failure(let e):
            count(address.isIPv6 ? .ip6OutNoRoutes : .ipOutNoRoutes)
            throw e.errno
        case .success(let d): decision = d
        }
        switch decision.type {
        case .unicast, .local: break
        case .prohibit: throw .EACCES
        default: throw .ENETUNREACH
        }
        let source: IPAddress
        if let l = s.localAddress { source = l } else {
            guard let d = decision.source, !d.isUnspecified else { throw .EADDRNOTAVAIL }
            source = d
        }
        let remote = TCPEndpoint(address, port)
        let explicitPort = s.localPort != 0
        if !explicitPort {
            if let p = tcpFreePort(for: s) {
                s.localPort = p
            } else if let p = tcpTimeWaitPort(source: source, remote: remote) {
                s.localPort = p
            } else {
                throw .EADDRNOTAVAIL
            }
            tcpHoldPort(s)
        }
        let local = TCPEndpoint(source, s.localPort)
        // __inet_check_established(): the 4-tuple is free, or held by a
        // TIME-WAIT that tcp_twsk_unique lets this connection take over.
        var successorISN: TCPSeqNumber?
        if let tw = tcp.established[TCPFlowKey(local: local, remote: remote)] {
            guard let t = tw.connection, tcpTimeWaitReusable(tw, t, bypassSysctl: explicitPort) else {
                if !explicitPort { tcpReleasePort(s); s.localPort = 0 }
                throw .EADDRNOTAVAIL
            }
            var isn = t.timeWaitSuccessorISN
            if isn.rawValue == 0 { isn = TCPSeqNumber(1) }
            successorISN = isn
            tcpDestroy(tw)
            count(.tcpExtTWRecycled)
        }
        // The socket's configuration block, shared, unless tcp_ecn or
        // tcp_ecn_fallback changed since socket() (they are read as they
        // are now: tcp_ecn_send_syn); the route's MSS is the connection's own.
        var configuration = s.configuration
        configuration.ecn = tcp.configuration.ecn
        configuration.ecnFallback = tcp.configuration.ecnFallback
        let mss = tcpAdvertisedMSS(to: address, decision: decision)
        let c: TCPConnection
        if let isn = successorISN {
            let secrets = tcpSecrets()
            let offset = configuration.timestamps ? secrets.timestampOffset(local: local.address, remote: remote.address) : 0
            c = TCPConnection(connectFrom: local, to: remote, iss: isn, timestampOffset: offset,
                              configuration: configuration, advertisedMSS: mss, now: stack.now)
        } else {
            c = TCPConnection(connectFrom: local, to: remote, secrets: tcpSecrets(), configuration: configuration,
                              advertisedMSS: mss, now: stack.now)
        }
        // tcp_v4_connect: the socket's IPv4 identification starts at random.
        if c.local.address.isIPv4 { c.inetID = UInt16(truncatingIfNeeded: stack.nextRandom()) }
        s.connection = c
        tcpHash(s)
        count(.tcpActiveOpens)
        tcpTransmit(s)
    }

    /// The MSS to advertise: the path MTU less the IP and TCP headers
    /// (tcp_mss_clamp / advmss), no more than a pool slot carries.
    func tcpAdvertisedMSS(to address: IPAddress, decision: RouteDecision) -> UInt16 {
        let ipHeader = address.isIPv6 ? 40 : 20
        var mtu = 1500
        if let d = device(index: decision.nextHop.device) {
            mtu = decision.type == .local ? loopback.mtu : pathMTU(to: address, decision: decision, device: d)
        }
        let slot = stack.shard.pool.slotSize - stack.shard.pool.defaultHeadroom - TCPSegment.maximumHeaderLength
        return UInt16(clamping: max(min(mtu - ipHeader - 20, slot), 88))
    }

    func tcpHash(_ s: TCPSocket) {
        guard let c = s.connection else { return }
        // Memory and buffer sizing: the stack's account, the namespace's
        // tcp_moderate_rcvbuf, SO_RCVBUF/SO_SNDBUF (a child inherits its
        // listener's, as sk_clone_lock copies sk_rcvbuf and sk_userlocks).
        c.attachMemory(tcpMemory)
        c.shareCounters(tcpPendingCounters)
        c.moderateRcvbuf = tcp.moderateRcvbuf
        if let p = s.parent {
            if s.receiveBufferRequest == nil { s.receiveBufferRequest = p.receiveBufferRequest }
            if s.sendBufferRequest == nil { s.sendBufferRequest = p.sendBufferRequest }
        } else {
            if let n = s.receiveBufferRequest { c.setReceiveBuffer(n) }
            if let n = s.sendBufferRequest { c.setSendBuffer(n) }
        }
        tcp.established[TCPFlowKey(local: c.local, remote: c.remote)] = s
        s.hashed = true
        s.timerQueued = .distantFuture
        tcpNoteDeadline(s, c)
    }

    func tcpUnhash(_ s: TCPSocket) {
        guard s.hashed, let c = s.connection else { return }
        let key = TCPFlowKey(local: c.local, remote: c.remote)
        if tcp.established[key] === s { tcp.established[key] = nil }
        s.hashed = false
    }

    /// Queues the connection's next deadline when it moved earlier than
    /// the one queued (later moves pop early and are re-queued).
    @inline(__always) func tcpNoteDeadline(_ s: TCPSocket, _ c: TCPConnection) {
        let d = c.nextDeadline
        guard d < s.timerQueued, s.hashed else { return }
        s.timerQueued = d
        tcp.timers.push(d, TCPFlowKey(local: c.local, remote: c.remote))
    }

    // MARK: close

    func tcpClose(_ s: TCPSocket) {
        if s.hasListener {
            tcpStopListening(s)
            tcpReleasePort(s)
            return
        }
        guard let c = s.connection else {
            tcpReleasePort(s)
            return
        }
        let now = stack.now
        let events = s.linger == 0 ? c.abort(now: now) : c.close(now: now)
        tcpEvents(s, events)
        if c.state == .closed { tcpDestroy(s) }
    }

    /// inet_csk_listen_stop(): established children waiting for accept()
    /// are reset; handshakes in progress are dropped.
    func tcpStopListening(_ s: TCPSocket) {
        tcp.listeners.removeAll { $0 === s }
        let waiting = s.acceptQueue[s.acceptHead...]
        s.listener = nil
        let now = stack.now
        for child in waiting {
            child.parent = nil
            child.inAcceptQueue = false
            child.isClosed = true
            if let c = child.connection {
                tcpEvents(child, c.abort(now: now))
                if c.state == .closed { tcpDestroy(child) }
            }
        }
        for (_, child) in tcp.established where child.parent === s {
            child.parent = nil
            child.isClosed = true
            if let c = child.connection { _ = c.abort(now: now) }
            tcpDestroy(child)
        }
    }

    /// A connect() in SYN-SENT abandoned (shutdown, close).
    func tcpAbortConnect(_ s: TCPSocket) {
        guard let c = s.connection else { return }
        tcpEvents(s, c.abort(now: stack.now))
    }

    /// The TCB is gone for good: out of the tables, its port freed.
    func tcpDestroy(_ s: TCPSocket) {
        tcpUnhash(s)
        tcpReleasePort(s)
        if s.tsqOwner != 0 {
            // Packets still queued keep the old id and release nothing.
            smallQueues.free(s.tsqOwner)
            s.tsqOwner = 0
        }
    }

    // MARK: events and output

    /// Acts on what a call into a connection reported: handshake
    /// completion (a child joins its listener's accept queue), closing
    /// (unhash; a closed orphan is freed), output.
    func tcpEvents(_ s: TCPSocket, _ events: TCPEvents) {
        guard let c = s.connection else { return }
        if events.contains(.connected), let p = s.parent, !s.inAcceptQueue {
            p.synQueueLength -= 1
            count(.tcpPassiveOpens)
            if p.isListening {
                p.enqueueAccepted(s)
                s.inAcceptQueue = true
            }
        }
        if events.contains(.output) || c.wantsOutput {
            if s.gsoCapable && inReceiveBatch {
                // TSO batching: what the ACKs of this receive batch let out
                // is sent once, at its end, as full GSO packets, instead of
                // a two-segment packet per ACK (tcp_tso_should_defer and
                // TSQ's role; the same instant, so no timer sees a delay).
                if !s.outputDeferred {
                    s.outputDeferred = true
                    tcpDeferredOutput.append(s)
                }
            } else {
                tcpTransmit(s)
            }
        }
        c.flushCounters(into: stack.shard.counters)
        if !s.outputDeferred { tcpNoteTimeWaitReplies(c) }
        if events.contains(.closed) || c.state == .closed {
            if let p = s.parent, !s.inAcceptQueue {
                // A handshake that failed: the request is gone.
                p.synQueueLength -= 1
                s.parent = nil
                s.isClosed = true
            }
            if s.isClosed || !s.hashed {
                tcpDestroy(s)
            } else {
                tcpUnhash(s)
                if !s.userBound { tcpReleasePort(s) }
            }
            return
        }
        tcpNoteDeadline(s, c)
    }

    /// Sends every segment the connection has due (tcp_write_xmit and
    /// friends), each in a buffer from the shard pool with headroom for
    /// the IP and link headers.
    func tcpTransmit(_ s: TCPSocket) {
        guard let c = s.connection else { return }
        let now = stack.now
        var n = 0
        c.checksumOffload = true
        while n < 4096, c.wantsOutput {
            if stack.backlogFull {
                // A backlog is nearly full: go on at the end of the poll
                // round, after the receivers have drained some of it.
                if !s.outputBlocked {
                    s.outputBlocked = true
                    tcpBlockedOutput.append(s)
                }
                break
            }
            if c.state.isSynchronized, s.tsqOwner != 0, tcpSmallQueueCheck(s, c) {
                // Over the limit: go on when a packet of ours leaves
                // (Stack.tcpResumeSmallQueues). An ACK that is due still
                // goes (tcp_send_ack is not held back by TSQ).
                if c.ackNow, var p = stack.shard.pool.allocate() {
                    let len = c.sendAck(into: p.put(p.tailroom), now: now)
                    p.trim(to: len)
                    p.resetTransportHeader()
                    p.setPartialChecksum(from: 0, field: 16)
                    tcpTransmitSegment(p, s, c, ecn: c.outputECN)
                }
                break
            }
            n += 1
            if s.gsoCapable, c.unsentBytes >= 2 &* c.mss, c.state.isSynchronized {
                if c.tsoShouldDefer(maxSegments: GSO.maximumLength / max(c.mss, 1), now: now) { break }
                if let big = stack.shard.gsoPool.allocate() {
                    guard tcpTransmitGSO(s, c, big, now: now) else { break }
                    continue
                }
            }
            guard var p = stack.shard.pool.allocate() else { break }
            let room = p.tailroom
            let out = p.put(room)
            guard let len = c.nextSegment(into: out, now: now) else { break }
            p.trim(to: len)
            p.resetTransportHeader()
            p.setPartialChecksum(from: 0, field: 16)
            tcpTransmitSegment(p, s, c, ecn: c.outputECN)
            s.gsoCapable = lastOutputTakesGSO
        }
        c.flushCounters(into: stack.shard.counters)
        tcpNoteTimeWaitReplies(c)
        tcpNoteDeadline(s, c)
    }

    /// skb_set_owner_w in __tcp_transmit_skb: a segment with payload, SYN
    /// or FIN is charged to its socket until it leaves the host's queues
    /// (its TCP bytes stand for skb->truesize); a pure ACK is not (Linux
    /// gives pure ACKs a token truesize and no TSQ wakeup).
    @inline(__always)
    func tcpChargeSmallQueue(_ s: TCPSocket, _ meta: inout PacketMetadata, offsetByte: UInt8, flags: UInt8, length: Int) {
        guard length > Int(offsetByte >> 4) &* 4 || flags & 0x03 != 0 else { return }   // payload, SYN, FIN
        let q = smallQueues
        if s.tsqOwner == 0 { s.tsqOwner = q.allocate() }
        let charge = min(length, Int(UInt16.max))
        q.charge(s.tsqOwner, charge)
        meta.tsqOwner = s.tsqOwner
        meta.tsqCharge = UInt16(truncatingIfNeeded: charge)
    }

    /// tcp_small_queue_check(): true when the socket has more below TCP
    /// than its limit and must wait for some of it to leave (throttled:
    /// the shard's small-queue table resumes it). The limit is
    /// max(2 × the next packet's size, sk_pacing_rate >> sk_pacing_shift
    /// (10: about 1 ms of data)), capped by tcp_limit_output_bytes (no
    /// pacing qdisc here, so always capped), doubled for retransmissions
    /// (tcp_xmit_retransmit_queue's factor 1); never when at most one
    /// packet is unacknowledged (tcp_rtx_queue_empty_or_single_skb: no
    /// completion to wait for).
    @inline(__always)
    func tcpSmallQueueCheck(_ s: TCPSocket, _ c: TCPConnection) -> Bool {
        let queued = smallQueues.queuedBytes(s.tsqOwner)
        // Nothing below TCP (a veth, loopback or TAP took every packet at
        // once): never over, whatever the limit.
        if queued == 0 { return false }
        return tcpSmallQueueOver(s, c, queued: queued)
    }

    func tcpSmallQueueOver(_ s: TCPSocket, _ c: TCPConnection, queued: Int) -> Bool {
        let mss = max(c.mss, 1)
        let next = s.gsoCapable && c.unsentBytes >= 2 &* mss ? min(c.unsentBytes, GSO.maximumLength) : mss
        // A negative value, read as unsigned long by the kernel, caps nothing.
        let cap = tcp.limitOutputBytes < 0 ? Int.max : tcp.limitOutputBytes
        // Fast path: at most two packets' worth is never over.
        if queued <= min(2 &* next, cap) { return false }
        return tcpSmallQueueThrottle(s, c, queued: queued, next: next, cap: cap)
    }

    func tcpSmallQueueThrottle(_ s: TCPSocket, _ c: TCPConnection, queued: Int, next: Int, cap: Int) -> Bool {
        let paced = c.pacingRate.map { Int(clamping: $0 >> 10) } ?? Int.max
        var limit = min(max(2 &* next, paced), cap)
        if c.lostOut > c.retransOut { limit = limit &<< 1 }
        guard queued > limit, smallQueues.isEnabled else { return false }
        let single = s.gsoCapable ? GSO.maximumLength : max(c.mss, 1)
        if c.sndNxt - c.sndUna <= single { return false }
        smallQueues.throttle(s.tsqOwner, s)
        return true
    }

    /// Resumes the output of sockets that stopped on a full backlog; true
    /// when one of them sent something.
    func tcpResumeBlockedOutput() -> Bool {
        var sent = false
        let blocked = tcpBlockedOutput
        tcpBlockedOutput.removeAll(keepingCapacity: true)
        for s in blocked {
            s.outputBlocked = false
            guard let c = s.connection, c.wantsOutput else { continue }
            let before = c.segmentsOut
            tcpTransmit(s)
            if c.segmentsOut != before { sent = true }
        }
        return sent
    }

    /// Sends what the sockets deferred during a receive batch.
    func tcpFlushDeferredOutput() {
        var i = 0
        while i < tcpDeferredOutput.count {
            let s = tcpDeferredOutput[i]
            i += 1
            s.outputDeferred = false
            if let c = s.connection {
                if c.wantsOutput { tcpTransmit(s) } else { tcpNoteTimeWaitReplies(c) }
            }
        }
        tcpDeferredOutput.removeAll(keepingCapacity: true)
    }

    /// tcp_write_xmit with TSO: consecutive full segments TCP sends now are
    /// laid out back to back behind the first one's headers in one buffer —
    /// each is still a segment to TCP (its own record, sequence range and
    /// timestamp), but IP, netfilter, the neighbour and the qdisc see one
    /// packet with gso_size = the MSS, cut only where a device needs it.
    /// False when TCP had nothing to send.
    func tcpTransmitGSO(_ s: TCPSocket, _ c: TCPConnection, _ big: consuming PacketBuffer, now: Instant) -> Bool {
        var p = big
        let out = p.put(p.tailroom)
        guard let first = c.nextSegment(into: out, now: now) else { return false }
        // One IP header for all: only segments with the first one's ECN
        // field join it (ECT(0) new data, not a retransmission).
        let ecn = c.outputECN
        var tailECN: UInt8 = 0
        let hdr = Int(out[12] >> 4) &* 4
        let gsoSize = first &- hdr
        // IP's header comes in front; the whole must stay within 64 KiB.
        let limit = min(out.count, GSO.maximumLength &- 60)
        var total = first
        var tail: PacketBuffer? = nil
        let endFlags: UInt8 = 0x01 | 0x08          // FIN, PSH: only on the last segment
        var ended = gsoSize < c.mss || out[13] & ~(0x10 | 0x08) != 0 || gsoSize <= 0
        var nextSeq = UnsafeRawBufferPointer(out).be32(4) &+ UInt32(truncatingIfNeeded: gsoSize)
        var segments = 1
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 8) { saved in
            while !ended, total &+ hdr &+ gsoSize <= limit, c.wantsOutput {
                // The next segment's header lands on the last `hdr` payload
                // bytes: keep them, and put them back once it is read.
                let at = total &- hdr
                saved.copyMemory(from: UnsafeRawBufferPointer(rebasing: out[at..<total]))
                guard let len = c.nextSegment(into: UnsafeMutableRawBufferPointer(rebasing: out[at...]), now: now) else {
                    UnsafeMutableRawBufferPointer(rebasing: out[at..<total]).copyMemory(from: UnsafeRawBufferPointer(rebasing: saved[0..<hdr]))
                    break
                }
                let seg = UnsafeRawBufferPointer(rebasing: out[at..<(at &+ len)])
                let payload = len &- hdr
                // `seg` overlaps the payload before it: compare, then restore.
                let joins = Int(seg[12] >> 4) &* 4 == hdr && payload > 0 && payload <= gsoSize && c.outputECN == ecn
                    && seg.be32(4) == nextSeq
                    && seg[13] & ~endFlags == out[13] & ~endFlags
                    && GSO.sameBytes(seg, UnsafeRawBufferPointer(out), 0, 4)                     // ports
                    && GSO.sameBytes(seg, UnsafeRawBufferPointer(out), 8, 5)                     // ack, offset
                    && GSO.sameBytes(seg, UnsafeRawBufferPointer(out), 14, 2)                    // window
                    && GSO.sameBytes(seg, UnsafeRawBufferPointer(out), 20, hdr &- 20)            // options
                if !joins {
                    // TCP has sent it: it goes on its own, after this packet.
                    if var q = stack.shard.pool.allocate(), q.tailroom >= len {
                        q.put(len).copyMemory(from: seg)
                        q.resetTransportHeader()
                        // Its field holds its own pseudo-header sum, as
                        // every segment TCP builds: CHECKSUM_PARTIAL too.
                        q.setPartialChecksum(from: 0, field: 16)
                        tail = consume q
                        tailECN = c.outputECN
                    }
                    UnsafeMutableRawBufferPointer(rebasing: out[at..<total]).copyMemory(from: UnsafeRawBufferPointer(rebasing: saved[0..<hdr]))
                    break
                }
                let segFlags = seg[13]   // read before the payload bytes come back over it
                UnsafeMutableRawBufferPointer(rebasing: out[at..<total]).copyMemory(from: UnsafeRawBufferPointer(rebasing: saved[0..<hdr]))
                out[13] |= segFlags & endFlags
                total &+= payload
                nextSeq &+= UInt32(truncatingIfNeeded: payload)
                segments &+= 1
                if payload < gsoSize || segFlags & endFlags != 0 { ended = true }
            }
        }
        p.trim(to: total)
        p.resetTransportHeader()
        if segments > 1 {
            p.metadata.gsoSize = UInt16(gsoSize)
            p.metadata.gsoType = c.local.address.isIPv4 ? .tcpv4 : .tcpv6
            // CHECKSUM_PARTIAL over the whole packet: the field holds the
            // pseudo-header sum of its TCP length (each cut segment gets
            // its own sum where it is cut).
            out.setBE16(16, c.pseudoHeader.seed(protocol: IPProtocol.tcp.rawValue, length: total).folded)
        }
        p.setPartialChecksum(from: 0, field: 16)
        tcpTransmitSegment(p, s, c, ecn: ecn)
        s.gsoCapable = lastOutputTakesGSO
        if let q = tail.take() { tcpTransmitSegment(q, s, c, ecn: tailECN) }
        return true
    }

    /// The last steps of __tcp_transmit_skb for a segment (or GSO packet)
    /// connection `c` built, its checksum CHECKSUM_PARTIAL: the TSQ charge
    /// (skb_set_owner_w), the IPv4 header's sender (identification and DF),
    /// then IP. `ecn`: the IP header's ECN field.
    @inline(__always)
    func tcpTransmitSegment(_ packet: consuming PacketBuffer, _ s: TCPSocket, _ c: TCPConnection, ecn: UInt8) {
        var p = packet
        let (offsetByte, flags) = p.withUnsafeReadableBytes { $0.count >= 20 ? ($0[12], $0[13]) : (0x50, 0) }
        tcpChargeSmallQueue(s, &p.metadata, offsetByte: offsetByte, flags: flags, length: p.count)
        let sender = tcpIPv4Sender(c, p)
        tcpSendSegment(p, from: c.local.address, to: c.remote.address, sourcePort: c.local.port,
                       destinationPort: c.remote.port, boundDevice: s.boundDevice, ecn: ecn, sender: sender)
    }

    /// `ecn`: the IP header's ECN field (the connection's `outputECN`).
    /// `sender`: who builds the IPv4 header (its DF and identification);
    /// unused over IPv6.
    func tcpSendSegment(_ p: consuming PacketBuffer, from src: IPAddress, to dst: IPAddress, sourcePort: UInt16,
                        destinationPort: UInt16, boundDevice: Int32, ecn: UInt8 = 0, sender: IPv4Sender) {
        switch (src, dst) {
        case (.v4(let a), .v4(let b)):
            ipv4SendLocal(p, source: a, destination: b, proto: .tcp, sender: sender, tos: ecn,
                          boundDevice: boundDevice, sourcePort: sourcePort, destinationPort: destinationPort)
        case (.v6(let a), .v6(let b)):
            ipv6SendLocal(p, source: a, destination: b, proto: .tcp, boundDevice: boundDevice,
                          sourcePort: sourcePort, destinationPort: destinationPort, trafficClass: ecn)
        default:
            drop(p, .notSpecified)
        }
    }

    /// Who sends a connection's segment, as Linux decides it: a SYN-ACK
    /// (or its retransmission) of a passive open leaves from the listener
    /// (ip_build_and_send_pkt); anything else a request or TIME-WAIT sock
    /// sends, from the control socket (ip_send_unicast_reply); the rest
    /// from the connection with its inet_id, advanced by the packet's
    /// segments (ip_queue_xmit). `p` is the TCP segment (a GSO packet
    /// counts the segments it will be cut into).
    func tcpIPv4Sender(_ c: TCPConnection, _ p: borrowing PacketBuffer) -> IPv4Sender {
        guard c.local.address.isIPv4 else { return .tcpControl }
        let pmtu = IPPMTUDiscovery.socketDefault(noPMTUDisc: config.ipNoPMTUDisc)
        if c.state == .synReceived && !c.activeOpen {
            let syn = p.withUnsafeReadableBytes { $0.count >= 20 && $0[13] & 0x02 != 0 }
            return syn ? .synAck(pmtu: pmtu) : .tcpControl
        }
        if c.repliesAsTimeWait { return .tcpControl }
        var segments = 1
        let g = Int(p.metadata.gsoSize)
        if g > 0 {
            let offset = p.withUnsafeReadableBytes { $0.count >= 20 ? Int($0[12] >> 4) &* 4 : 20 }
            segments = max(1, (p.count &- offset &+ g &- 1) / g)
        }
        let id = c.inetID
        c.inetID = id &+ UInt16(truncatingIfNeeded: segments)
        return .connection(id: id, pmtu: pmtu)
    }

    /// Notes whether the connection now answers as a TIME-WAIT sock: in
    /// TIME-WAIT, or an orphan in FIN-WAIT-2 with its timer armed
    /// (tcp_rcv_state_process turns such a socket into a tw sock unless
    /// the FIN-WAIT-2 timeout outlasts TIME-WAIT). Called once what the
    /// last event made due has gone, so the segment that ends in TIME-WAIT
    /// (the ACK of the peer's FIN in FIN-WAIT-2) still leaves from the full
    /// socket, as tcp_fin sends it before tcp_time_wait.
    func tcpNoteTimeWaitReplies(_ c: TCPConnection) {
        c.repliesAsTimeWait = c.state == .timeWait
            || (c.state == .finWait2 && c.isOrphaned && c.lingerDeadline != .distantFuture
                && c.configuration.finTimeout <= c.configuration.timeWaitLength)
    }

    // MARK: timers

    /// Runs every connection timer that is due: pops the timer queue up to
    /// `now` (tcp_write_timer / tcp_delack_timer / tcp_keepalive_timer /
    /// the TIME-WAIT reaper, one queue for all).
    func tcpRunTimers(now: Instant) {
        guard let first = tcp.timers.earliest, first <= now else { return }
        var n = 0
        while n < 1_000_000, let (d, key) = tcp.timers.popDue(now) {
            n += 1
            // A stale entry: the socket is gone, or queued at another deadline.
            guard let s = tcp.established[key], s.timerQueued == d, let c = s.connection else { continue }
            s.timerQueued = .distantFuture
            if c.nextDeadline <= now { tcpEvents(s, c.timerFired(now: now)) }
            if let c = s.connection { tcpNoteDeadline(s, c) }
        }
        // Stale entries pile up when deadlines keep moving earlier: rebuild.
        if tcp.timers.count > 4 * tcp.established.count + 1024 {
            tcp.timers.removeAll()
            for (key, s) in tcp.established {
                s.timerQueued = .distantFuture
                if let c = s.connection, c.nextDeadline < .distantFuture {
                    s.timerQueued = c.nextDeadline
                    tcp.timers.push(c.nextDeadline, key)
                }
            }
        }
    }

    var tcpNextDeadline: Instant? {
        // The earliest queued deadline (possibly a stale entry's: it then
        // pops early and nothing is due).
        tcp.timers.earliest
    }

    func tcpShutdownAllSmallQueues() {
        for (_, s) in tcp.established where s.tsqOwner != 0 {
            smallQueues.free(s.tsqOwner)
            s.tsqOwner = 0
        }
    }

    func tcpShutdownAll() {
        tcpShutdownAllSmallQueues()
        tcp.established.removeAll()
        tcp.listeners = []
        tcp.ports = [:]
        tcp.timers.removeAll()
        tcpBlockedOutput.removeAll()
    }
}

/// The sockets holding one port (inet_bind_bucket's owners list), in the
/// order they took it. Linux unlinks an owner from an hlist in O(1); here
/// each socket knows its slot, a release leaves a hole, and holes are
/// squeezed out once they are half the array: a listener's port holds every
/// child, TIME-WAIT included, tens of thousands under churn, and a release
/// that searched and shifted the array made churn quadratic.
struct TCPPortBucket: Sequence {
    private(set) var owners: [TCPSocket?] = []
    private var holes = 0

    var count: Int { owners.count - holes }
    var isEmpty: Bool { count == 0 }

    mutating func insert(_ s: TCPSocket) {
        s.portIndex = owners.count
        owners.append(s)
    }

    /// Removes `s`; false when it is not here.
    mutating func remove(_ s: TCPSocket) -> Bool {
        let i = s.portIndex
        guard i >= 0, i < owners.count, owners[i] === s else { return false }
        owners[i] = nil
        s.portIndex = -1
        holes += 1
        if holes == owners.count {
            owners.removeAll(keepingCapacity: true)
            holes = 0
        } else if holes > 8, holes * 2 > owners.count {
            compact()
        }
        return true
    }

    private mutating func compact() {
        var j = 0
        for i in owners.indices {
            guard let o = owners[i] else { continue }
            o.portIndex = j
            owners[j] = o
            j += 1
        }
        owners.removeLast(owners.count - j)
        holes = 0
    }

    func contains(_ s: TCPSocket) -> Bool {
        s.portIndex >= 0 && s.portIndex < owners.count && owners[s.portIndex] === s
    }

    func makeIterator() -> some IteratorProtocol<TCPSocket> {
        owners.lazy.compactMap { $0 }.makeIterator()
    }
}

/// A listening socket's `TCPListener` and accept queue, out of line
/// (TCPSocket.listener): only listeners pay for them.
final class TCPListenerBox {
    var value: TCPListener
    var backlog = 0
    var synQueueLength = 0
    var acceptQueue: [TCPSocket] = []
    var acceptHead = 0
    var lastOverflow: Instant?
    init(_ value: TCPListener) { self.value = value }
}

extension Stack {
    /// The TSQ tasklet (tcp_tasklet_func → tcp_tsq_handler): sockets that
    /// were throttled and had a packet leave since go on sending, once per
    /// poll round. True when one of them sent something.
    func tcpResumeSmallQueues() -> Bool {
        let q = shard.smallQueues
        q.beginResume()
        var sent = false
        var k = 0
        while k < q.resuming.count {
            let s = q.resuming[k]
            k &+= 1
            guard let c = s.connection, c.wantsOutput else { continue }
            let before = c.segmentsOut
            s.namespace.tcpTransmit(s)
            if c.segmentsOut != before { sent = true }
        }
        q.endResume()
        return sent
    }
}
