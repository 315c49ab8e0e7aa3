// ICMP echo ("ping") sockets: socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP).
// Kernel counterpart: net/ipv4/ping.c. The socket's port is the echo
// identifier; the kernel writes it into every request, and replies are
// matched on it. Errors arrive as IP_RECVERR entries (ping prints them).
import NetWire

/// One echo reply as ping sees it.
public struct EchoReply: Sendable, Equatable {
    public var from: IPAddress
    public var sequence: UInt16
    public var ttl: UInt8
    /// ICMP payload bytes (without the 8-byte header).
    public var dataLength: Int
    public var receivedAt: Instant
}

/// A ping socket.
public final class PingSocket {
    public let isIPv6: Bool
    public unowned let namespace: NetworkNamespace
    public internal(set) var identifier: UInt16 = 0
    public var boundDevice: Int32 = 0
    public var ttl: UInt8?
    public var tos: UInt8 = 0
    /// IP_MTU_DISCOVER (ping -M do|want|dont): `want` (or `dont` under
    /// net.ipv4.ip_no_pmtu_disc) until set. The socket is never
    /// connected, so its IPv4 requests take the namespace's shared
    /// identification generator, or 0 with `do`/`probe` (DF that may not be
    /// fragmented: ip_select_ident_segs).
    public var pmtuDiscovery: IPPMTUDiscovery
    /// IP_PMTUDISC_DO (true) or IP_PMTUDISC_DONT (false): ping -M do and
    /// -M dont. (ping without -M leaves `pmtuDiscovery` as it is.)
    public var dontFragment: Bool {
        get { pmtuDiscovery == .do || pmtuDiscovery == .probe }
        set { pmtuDiscovery = newValue ? .do : .dont }
    }
    public var sourceAddress: IPAddress?
    var replies: [EchoReply] = []
    /// The IP_RECVERR queue.
    var errors: [SocketError] = []

    init(namespace: NetworkNamespace, isIPv6: Bool) {
        self.namespace = namespace
        self.isIPv6 = isIPv6
        pmtuDiscovery = .socketDefault(noPMTUDisc: namespace.config.ipNoPMTUDisc)
    }

    /// Sends an echo request with `dataLength` bytes of payload (iputils
    /// fills it with a timestamp and a counting pattern; here a pattern).
    public func sendEcho(to destination: IPAddress, sequence: UInt16, dataLength: Int) throws(Errno) {
        try namespace.pingSend(self, to: destination, sequence: sequence, dataLength: dataLength)
    }

    public func takeReply() -> EchoReply? { replies.isEmpty ? nil : replies.removeFirst() }
    public func takeError() -> SocketError? { errors.isEmpty ? nil : errors.removeFirst() }

    public func close() { namespace.pingSockets.removeAll { $0 === self } }
}

extension NetworkNamespace {
    /// socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP) with ping_get_port.
    public func pingSocket(ipv6: Bool = false) -> PingSocket {
        let s = PingSocket(namespace: self, isIPv6: ipv6)
        var id = UInt16(truncatingIfNeeded: stack.nextRandom())
        var tries = 0
        while id == 0 || pingSockets.contains(where: { $0.identifier == id && $0.isIPv6 == ipv6 }), tries < 65536 {
            id &+= 1
            tries += 1
        }
        s.identifier = id
        pingSockets.append(s)
        return s
    }

    func pingSend(_ s: PingSocket, to destination: IPAddress, sequence: UInt16, dataLength: Int) throws(Errno) {
        guard destination.isIPv6 == s.isIPv6 else { throw .EAFNOSUPPORT }
        guard dataLength >= 0, dataLength <= 65507 else { throw .EMSGSIZE }
        let pool = dataLength + 8 + 128 > stack.shard.pool.slotSize ? stack.largePool : stack.shard.pool
        guard var p = pool.allocate() else { throw .ENOBUFS }
        let out = p.put(8 + dataLength)
        for i in 0..<dataLength { out.setU8(8 + i, UInt8(truncatingIfNeeded: i)) }
        out.setU8(0, s.isIPv6 ? 128 : ICMPv4Type.echoRequest)
        out.setU8(1, 0)
        out.setBE16(2, 0)
        out.setBE16(4, s.identifier)
        out.setBE16(6, sequence)
        switch destination {
        case .v4(let dst):
            out.setBE16(2, InternetChecksum.checksum(UnsafeRawBufferPointer(out)))
            count(.icmpOutMsgs)
            count(.icmpOutEchos)
            var src: IPv4Address? = nil
            if case .v4(let a)? = s.sourceAddress { src = a }
            if let e = ipv4SendLocal(p, source: src, destination: dst, proto: .icmp,
                                     sender: .datagram(pmtu: s.pmtuDiscovery, connectedID: nil), ttl: s.ttl,
                                     tos: s.tos, boundDevice: s.boundDevice) {
                throw e
            }
        case .v6(let dst):
            var src: IPv6Address? = nil
            if case .v6(let a)? = s.sourceAddress { src = a }
            count(.icmp6OutMsgs)
            count(.icmp6OutEchos)
            if let e = ipv6SendLocal(p, source: src, destination: dst, proto: .icmpv6, hopLimit: s.ttl,
                                     boundDevice: s.boundDevice, icmpChecksum: true, dontFragment: s.dontFragment) {
                throw e
            }
        }
    }

    /// ping_rcv(): an echo reply for one of our ping sockets.
    func pingReceive(_ packet: consuming PacketBuffer, header h: IPv4Header) {
        let m: (id: UInt16, seq: UInt16, len: Int)? = packet.withUnsafeReadableBytes { b in
            b.count >= 8 ? (b.be16(4), b.be16(6), b.count - 8) : nil
        }
        guard let m, let s = pingSockets.first(where: { $0.identifier == m.id && !$0.isIPv6 }) else {
            drop(packet, .noSocket)
            return
        }
        s.replies.append(EchoReply(from: .v4(h.source), sequence: m.seq, ttl: h.ttl, dataLength: m.len,
                                   receivedAt: stack.now))
    }

    func pingReceive6(_ packet: consuming PacketBuffer, source: IPv6Address, hopLimit: UInt8) {
        let m: (id: UInt16, seq: UInt16, len: Int)? = packet.withUnsafeReadableBytes { b in
            b.count >= 8 ? (b.be16(4), b.be16(6), b.count - 8) : nil
        }
        guard let m, let s = pingSockets.first(where: { $0.identifier == m.id && $0.isIPv6 }) else {
            drop(packet, .noSocket)
            return
        }
        s.replies.append(EchoReply(from: .v6(source), sequence: m.seq, ttl: hopLimit, dataLength: m.len,
                                   receivedAt: stack.now))
    }

    /// ping_err(): queue the error on the socket whose request was quoted.
    func pingError(_ e: SocketError, identifier: UInt16, remote: IPAddress) {
        guard let s = pingSockets.first(where: { $0.identifier == identifier && $0.isIPv6 == remote.isIPv6 }) else { return }
        s.errors.append(e)
    }
}
