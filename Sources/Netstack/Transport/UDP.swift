// UDP (RFC 768; RFC 1122 §4.1) and its sockets.
// Kernel counterparts: net/ipv4/udp.c (udp_rcv, __udp4_lib_lookup with
// reuseport groups, udp_lib_get_port, __udp4_lib_err), net/ipv6/udp.c.
//
// Lookup prefers the most specific socket (connected 4-tuple, then bound
// address, then wildcard), as udp4_lib_lookup2's scoring does; broadcast
// datagrams go to every socket bound to the port. A datagram for no
// socket gets ICMP port unreachable (unicast only) and UdpNoPorts.
//
// Receive memory is accounted as udp_rmem_schedule/udp_rmem_release do it,
// for `ss -m`: a queued datagram charges its truesize to rmem_alloc from
// forward-alloc, which grows by whole pages; reads give memory back in
// batches (the forward deficit), when the reader's batch of datagrams (what
// one splice of sk_receive_queue into the reader queue took) is used up or
// the deficit reaches a quarter of the receive buffer. Recv-Q is rmem_alloc
// less that deficit (udp_rqueue_get).
//
// UDP_SEGMENT (udp_send_skb, __udp_gso_segment, udp_rcv_segment): a socket
// with a segment size sends one buffer of up to 64 KiB as one GSO packet
// (gso_type udpL4) that travels the stack whole and is cut into datagrams
// of that size where a device cannot take it (GSO.segmentUDP); a receiver
// without UDP_GRO gets one datagram per segment.
//
// The IPv4 header (__ip_make_skb): DF as IP_MTU_DISCOVER says — by
// default (IP_PMTUDISC_WANT) on a datagram that fits the path, a GSO
// packet counted whole, unless the route's MTU is locked; the
// identification is a connected socket's own counter (random at connect,
// one per send, a UDP_SEGMENT send included, its datagrams counting up
// from it where they are cut), else the namespace's shared generator —
// not 0 despite DF, since WANT still lets the datagram be fragmented.
import NetWire

/// One received datagram as recvfrom() returns it.
public struct Datagram: Sendable, Equatable {
    public var payload: [UInt8]
    public var source: IPAddress
    public var sourcePort: UInt16
    public var destination: IPAddress
    public var receivedAt: Instant
}

/// A UDP socket (struct udp_sock).
public final class UDPSocket {
    public let isIPv6: Bool
    public unowned let namespace: NetworkNamespace
    public internal(set) var localAddress: IPAddress?
    public internal(set) var localPort: UInt16 = 0
    public internal(set) var remoteAddress: IPAddress?
    public internal(set) var remotePort: UInt16 = 0
    /// SO_REUSEADDR, SO_REUSEPORT, SO_BROADCAST, SO_BINDTODEVICE.
    public var reuseAddress = false
    public var reusePort = false
    public var broadcast = false
    public var boundDevice: Int32 = 0
    /// SO_RCVBUF (net.core.rmem_default).
    public var receiveBufferSize = 212_992
    /// SO_SNDBUF (net.core.wmem_default).
    public var sendBufferSize = 212_992
    /// UDP_SEGMENT (setsockopt SOL_UDP): the payload of each datagram a
    /// send is cut into, 0 for none; set with `setSegmentSize`.
    public private(set) var segmentSize = 0
    /// IP_MTU_DISCOVER: `want` (DF on datagrams that fit the path), or
    /// `dont` under net.ipv4.ip_no_pmtu_disc, until set.
    public var pmtuDiscovery: IPPMTUDiscovery
    /// inet_id: the IPv4 identification of a connected socket's datagrams,
    /// random at each connect() (__ip4_datagram_connect) and advanced by
    /// one per datagram, a UDP_SEGMENT send included (ip_select_ident).
    /// An unconnected socket's datagrams take the namespace's generator.
    var inetID: UInt16 = 0
    /// sk_rmem_alloc: the truesize of the queued datagrams not yet given
    /// back (see forwardDeficit).
    var queuedBytes = 0
    /// sk_forward_alloc: memory reserved (in pages) and not yet charged.
    var forwardAlloc = 0
    /// udp_sock.forward_deficit: truesize read but not yet given back.
    var forwardDeficit = 0
    /// Datagrams left in the reader queue (the batch the last splice took).
    var readerCount = 0
    var queue: [Datagram] = []
    var queueHead = 0
    /// sk_drops: datagrams for this socket dropped (receive buffer full).
    public internal(set) var drops = 0
    /// sk_err: the last asynchronous error (ICMP), reported once.
    public internal(set) var pendingError: Errno?
    public internal(set) var isClosed = false
    /// sk_shutdown as inet_diag reports it (`ss -e`'s arrows): bit 0
    /// RCV_SHUTDOWN, bit 1 SEND_SHUTDOWN.
    public internal(set) var shutdownMask: UInt8 = 0
    /// The socket's cookie (`ss -e`'s `sk:`) and inode number (`ino:`):
    /// Linux draws both from counters shared by every socket, so they come
    /// from the namespace's counters that TCP sockets use too (see
    /// `TCPSocket.cookie`), given at socket().
    public let cookie: UInt64
    public let inode: UInt32

    init(namespace: NetworkNamespace, isIPv6: Bool) {
        self.namespace = namespace
        self.isIPv6 = isIPv6
        pmtuDiscovery = .socketDefault(noPMTUDisc: namespace.config.ipNoPMTUDisc)
        namespace.tcp.lastCookie &+= 1
        cookie = namespace.tcp.lastCookie
        namespace.tcp.lastInode &+= 1
        inode = namespace.tcp.lastInode
    }

    public var isConnected: Bool { remoteAddress != nil }
    /// Recv-Q as udp_diag reports it (udp_rqueue_get): rmem_alloc less
    /// what was read but not yet given back.
    public var receiveQueueBytes: Int { queuedBytes - forwardDeficit }
    public var hasData: Bool { queueHead < queue.count }

    /// SK_MEMINFO_* (`ss -m`'s skmem). A datagram leaves the send path at
    /// once (no corking), so wmem_alloc, wmem_queued, optmem and backlog
    /// read 0.
    public var memoryInfo: TCPSocketMemory {
        var m = TCPSocketMemory(rcvbuf: receiveBufferSize, sndbuf: sendBufferSize)
        m.rmemAlloc = queuedBytes
        m.fwdAlloc = forwardAlloc
        m.drops = drops
        return m
    }

    /// shutdown(2) (inet_shutdown): the bits are set even on an
    /// unconnected socket, which then reports ENOTCONN. A send after
    /// SEND_SHUTDOWN fails with EPIPE.
    public func shutdown(_ how: TCPShutdown) throws(Errno) {
        switch how {
        case .read: shutdownMask |= 1
        case .write: shutdownMask |= 2
        case .both: shutdownMask |= 3
        }
        if !isConnected { throw .ENOTCONN }
    }

    /// bind(2).
    public func bind(_ address: IPAddress?, port: UInt16) throws(Errno) {
        guard localPort == 0 else { throw .EINVAL }
        if let a = address, !a.isUnspecified {
            guard a.isIPv6 == isIPv6 else { throw .EAFNOSUPPORT }
            guard namespace.isLocal(a) || a.isMulticast || a == .v4(.broadcast) else { throw .EADDRNOTAVAIL }
        }
        let p = port == 0 ? try namespace.udpEphemeralPort(for: self, address: address) : port
        if port != 0 && namespace.udpPortConflicts(self, address: address, port: p) { throw .EADDRINUSE }
        localAddress = address.flatMap { $0.isUnspecified ? nil : $0 }
        localPort = p
    }

    /// connect(2): fixes the peer and, if unbound, the local port and address.
    public func connect(_ address: IPAddress, port: UInt16) throws(Errno) {
        guard address.isIPv6 == isIPv6 else { throw .EAFNOSUPPORT }
        guard port != 0 else { throw .ECONNREFUSED }
        if localAddress == nil {
            switch namespace.routeOutput(FlowKey(destination: address, oif: boundDevice, ipproto: 17, destinationPort: port)) {
            case .failure(let e): throw e == .prohibited ? .EACCES : .ENETUNREACH
            case .success(let d):
                // ip6_datagram_connect: no usable source is EADDRNOTAVAIL.
                if case .v6(let a)? = d.source, a.isUnspecified { throw .EADDRNOTAVAIL }
                localAddress = d.source
            }
        }
        if localPort == 0 { localPort = try namespace.udpEphemeralPort(for: self, address: localAddress) }
        remoteAddress = address
        remotePort = port
        if !isIPv6 { inetID = UInt16(truncatingIfNeeded: namespace.stack.nextRandom()) }
    }

    /// setsockopt(SOL_UDP, UDP_SEGMENT): EINVAL outside 0…65535, as
    /// udp_lib_setsockopt.
    public func setSegmentSize(_ size: Int) throws(Errno) {
        guard size >= 0, size <= 0xFFFF else { throw .EINVAL }
        segmentSize = size
    }

    /// sendto(2) / send(2). `segmentSize` is a UDP_SEGMENT control message
    /// for this send (nil: the socket's).
    public func send(_ bytes: [UInt8], to destination: (IPAddress, UInt16)? = nil, segmentSize: Int? = nil) throws(Errno) {
        guard !isClosed else { throw .EBADF }
        if let e = pendingError { pendingError = nil; throw e }
        if shutdownMask & 2 != 0 { throw .EPIPE }
        let (dst, dport): (IPAddress, UInt16)
        if let d = destination { (dst, dport) = d } else {
            guard let r = remoteAddress else { throw .EDESTADDRREQ }
            (dst, dport) = (r, remotePort)
        }
        guard dst.isIPv6 == isIPv6 else { throw .EAFNOSUPPORT }
        guard dport != 0 else { throw .EINVAL }
        guard bytes.count <= 65507 else { throw .EMSGSIZE }
        if let g = segmentSize, g < 0 || g > 0xFFFF { throw .EINVAL }
        if localPort == 0 { localPort = try namespace.udpEphemeralPort(for: self, address: localAddress) }
        try namespace.udpSend(bytes, from: self, to: dst, port: dport, segmentSize: segmentSize ?? self.segmentSize)
    }

    /// recvfrom(2) without blocking: a datagram, or nil (EAGAIN). A pending
    /// ICMP error is reported first (as sock_error does).
    public func receive() throws(Errno) -> Datagram? {
        if let e = pendingError { pendingError = nil; throw e }
        guard queueHead < queue.count else { return nil }
        // __skb_recv_udp: an empty reader queue takes all that is queued.
        if readerCount == 0 { readerCount = queue.count - queueHead }
        let d = queue[queueHead]
        queueHead += 1
        readerCount -= 1
        release(d.payload.count + Self.overhead)
        if queueHead == queue.count { queue.removeAll(keepingCapacity: true); queueHead = 0 }
        return d
    }

    /// udp_rmem_schedule: charge a datagram's truesize, reserving whole
    /// pages of forward-alloc when what is reserved does not cover it.
    func charge(_ size: Int) {
        let delta = size - forwardAlloc
        if delta > 0 { forwardAlloc += (delta + Self.page - 1) / Self.page * Self.page }
        forwardAlloc -= size
        queuedBytes += size
    }

    /// udp_rmem_release(partial = 1), after a read: the truesize joins the
    /// deficit, given back once it reaches a quarter of the receive buffer
    /// or the reader queue is empty; forward-alloc then keeps at most a page.
    func release(_ size: Int) {
        forwardDeficit += size
        if forwardDeficit < receiveBufferSize >> 2 && readerCount > 0 { return }
        let given = forwardDeficit
        forwardDeficit = 0
        forwardAlloc += given
        queuedBytes -= given
        forwardAlloc -= (forwardAlloc - 1) & ~(Self.page - 1)
    }

    static let page = 4096

    public func close() {
        isClosed = true
        namespace.udpSockets.removeAll { $0 === self }
    }

    /// What one queued datagram charges the receive buffer besides its
    /// payload (the skb truesize overhead, approximated).
    static let overhead = 768
}

extension NetworkNamespace {
    /// socket(AF_INET[6], SOCK_DGRAM, 0).
    public func udpSocket(ipv6: Bool = false) -> UDPSocket {
        let s = UDPSocket(namespace: self, isIPv6: ipv6)
        udpSockets.append(s)
        return s
    }

    func udpPortConflicts(_ s: UDPSocket, address: IPAddress?, port: UInt16) -> Bool {
        for o in udpSockets where o !== s && o.localPort == port && o.isIPv6 == s.isIPv6 {
            let overlap = o.localAddress == nil || address == nil || address!.isUnspecified || o.localAddress == address
            guard overlap else { continue }
            if o.reusePort && s.reusePort { continue }
            if o.reuseAddress && s.reuseAddress { continue }
            return true
        }
        return false
    }

    /// udp_lib_get_port() for port 0: a random start in ip_local_port_range, then upward.
    func udpEphemeralPort(for s: UDPSocket, address: IPAddress?) throws(Errno) -> UInt16 {
        let range = config.localPortRange
        let span = Int(range.upperBound) - Int(range.lowerBound) + 1
        let start = Int(stack.nextRandom() % UInt64(span))
        for i in 0..<span {
            let p = UInt16(Int(range.lowerBound) + (start + i) % span)
            if !udpPortConflicts(s, address: address, port: p) { return p }
        }
        throw .EAGAIN
    }

    func udpSend(_ bytes: [UInt8], from s: UDPSocket, to dst: IPAddress, port: UInt16, segmentSize: Int = 0) throws(Errno) {
        var gso = 0
        if segmentSize > 0 {
            // udp_send_skb with a gso_size: every segment must fit the path
            // unfragmented (EMSGSIZE), at most UDP_MAX_SEGMENTS of them
            // (EINVAL); a payload no larger than one segment goes as a
            // plain datagram. (No IP options or UDP-Lite here to refuse.)
            let headers = (dst.isIPv6 ? IPv6Packet.headerLength : 20) + 8
            if let mtu = udpFragmentSize(s, dst, port), headers + min(bytes.count, segmentSize) > mtu { throw .EMSGSIZE }
            if bytes.count > segmentSize * GSO.udpMaximumSegments { throw .EINVAL }
            if bytes.count > segmentSize { gso = segmentSize }
        }
        guard var p = stack.shard.pool.allocate() else { throw .ENOBUFS }
        guard p.tailroom >= bytes.count + 8 else {
            // Datagrams larger than a slot are fragmented (or, GSO, cut)
            // from a large buffer.
            guard var big = stack.largePool.allocate() else { throw .ENOBUFS }
            let src = try udpFill(&big, bytes, s, dst, port, gso: gso)
            return try udpTransmit(big, s, src, dst, port)
        }
        let src = try udpFill(&p, bytes, s, dst, port, gso: gso)
        try udpTransmit(p, s, src, dst, port)
    }

    /// The cork's fragsize for a UDP_SEGMENT send: the path MTU of the
    /// route (the loopback's for a local destination), or nil when there
    /// is no route (the send then fails with the route's error).
    func udpFragmentSize(_ s: UDPSocket, _ dst: IPAddress, _ port: UInt16) -> Int? {
        let key = FlowKey(destination: dst, source: s.localAddress, oif: s.boundDevice, ipproto: 17,
                          sourcePort: s.localPort, destinationPort: port)
        guard case .success(let d) = routeOutput(key) else { return nil }
        if d.type == .local { return loopback.mtu }
        guard let out = device(index: d.nextHop.device) else { return nil }
        if out.kind == .loopback { return out.mtu }
        let mtu = pathMTU(to: dst, decision: d, device: out)
        return dst.isIPv6 ? max(1280, mtu) : mtu
    }

    private func udpFill(_ p: inout PacketBuffer, _ bytes: [UInt8], _ s: UDPSocket, _ dst: IPAddress, _ port: UInt16,
                         gso: Int = 0) throws(Errno) -> IPAddress {
        let out = p.put(8 + bytes.count)
        bytes.withUnsafeBytes { out.baseAddress!.advanced(by: 8).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        let repr = UDPRepr(sourcePort: s.localPort, destinationPort: port, payloadLength: bytes.count)
        // The checksum needs the source address the route will pick.
        let src: IPAddress
        if let l = s.localAddress { src = l } else {
            switch routeOutput(FlowKey(destination: dst, oif: s.boundDevice, ipproto: 17, sourcePort: s.localPort, destinationPort: port)) {
            case .failure(let e):
                count(.ipOutNoRoutes)
                throw e == .prohibited ? .EACCES : (e == .hostUnreachable ? .EHOSTUNREACH : .ENETUNREACH)
            case .success(let d):
                guard let a = d.source else { throw .EINVAL }
                src = a
            }
        }
        let pseudo: PseudoHeader
        switch (src, dst) {
        case (.v4(let a), .v4(let b)): pseudo = .ipv4(source: a, destination: b)
        case (.v6(let a), .v6(let b)): pseudo = .ipv6(source: a, destination: b)
        default: throw .EAFNOSUPPORT
        }
        p.resetTransportHeader()
        if gso > 0 {
            // One GSO packet: CHECKSUM_PARTIAL, the field holding the
            // pseudo-header sum of the whole length; each datagram cut from
            // it gets its own sum where it is cut (udp4_hwcsum / csum_partial).
            out.setBE16(0, s.localPort)
            out.setBE16(2, port)
            out.setBE16(4, UInt16(truncatingIfNeeded: 8 + bytes.count))
            out.setBE16(6, pseudo.seed(protocol: IPProtocol.udp.rawValue, length: 8 + bytes.count).folded)
            p.setPartialChecksum(from: 0, field: 6)
            p.metadata.gsoSize = UInt16(truncatingIfNeeded: gso)
            p.metadata.gsoType = .udpL4
            return src
        }
        try? repr.emit(into: out, pseudoHeader: pseudo)
        p.metadata.checksum = .unnecessary
        return src
    }

    private func udpTransmit(_ p: consuming PacketBuffer, _ s: UDPSocket, _ src: IPAddress, _ dst: IPAddress, _ port: UInt16) throws(Errno) {
        count(dst.isIPv6 ? .udp6OutDatagrams : .udpOutDatagrams)
        switch (src, dst) {
        case (.v4(let a), .v4(let b)):
            if b.isLimitedBroadcast && !s.broadcast { throw .EACCES }
            // __ip_make_skb: a connected socket's own counter, advanced
            // before use (atomic_add_return); DF as IP_MTU_DISCOVER says.
            var connectedID: UInt16? = nil
            if s.remoteAddress != nil {
                s.inetID &+= 1
                connectedID = s.inetID
            }
            if let e = ipv4SendLocal(p, source: a, destination: b, proto: .udp,
                                     sender: .datagram(pmtu: s.pmtuDiscovery, connectedID: connectedID),
                                     boundDevice: s.boundDevice,
                                     sourcePort: s.localPort, destinationPort: port, allowBroadcast: s.broadcast) {
                throw e
            }
        case (.v6(let a), .v6(let b)):
            if let e = ipv6SendLocal(p, source: a, destination: b, proto: .udp, boundDevice: s.boundDevice,
                                     sourcePort: s.localPort, destinationPort: port) {
                throw e
            }
        default:
            throw .EAFNOSUPPORT
        }
    }

    /// udp_rcv(): validate, find the socket(s), queue or answer with ICMP.
    func udpReceive(_ packet: consuming PacketBuffer, header h: IPv4Header, on dev: NetDevice, broadcast: Bool) {
        // The checked view validates the length field; a zero checksum over
        // IPv4 means "none" and verifies.
        let v: (ok: Bool, sport: UInt16, dport: UInt16, length: Int)? = packet.withUnsafeReadableBytes { b in
            guard let d = try? UDPDatagram(b) else { return nil }
            return (d.checksumVerifies(.ipv4(source: h.source, destination: h.destination)),
                    d.sourcePort, d.destinationPort, d.length)
        }
        guard let u = v else {
            count(.udpInErrors)
            drop(packet, .pktTooSmall)
            return
        }
        guard u.ok || packet.metadata.checksum.isTrusted else {
            count(.udpInCsumErrors)
            count(.udpInErrors)
            drop(packet, .udpCsum)
            return
        }
        if let unclaimed = udpDeliver(packet, source: .v4(h.source), sourcePort: u.sport, destination: .v4(h.destination),
                                      destinationPort: u.dport, length: u.length, device: dev, broadcast: broadcast) {
            if !broadcast {
                icmpSend(unclaimed, type: ICMPv4Type.destinationUnreachable, code: ICMPv4UnreachableCode.port, info: 0, inbound: dev)
            }
            drop(unclaimed, .noSocket)
        }
    }

    /// udpv6_rcv(): as udp_rcv, but a zero checksum is an error (RFC 8200
    /// §8.1) and the answer is ICMPv6 port unreachable.
    func udp6Receive(_ packet: consuming PacketBuffer, header h: IPv6Header, on dev: NetDevice) {
        var p = packet
        let v: (ok: Bool, zero: Bool, sport: UInt16, dport: UInt16, length: Int)? = p.withUnsafeReadableBytes { b in
            guard let d = try? UDPDatagram(b) else { return nil }
            return (d.checksumVerifies(.ipv6(source: h.source, destination: h.destination)), b.be16(6) == 0,
                    d.sourcePort, d.destinationPort, d.length)
        }
        guard let u = v else {
            count(.udp6InErrors)
            drop(p, .pktTooSmall)
            return
        }
        guard (u.ok && !u.zero) || p.metadata.checksum.isTrusted else {
            count(.udp6InCsumErrors)
            count(.udp6InErrors)
            drop(p, .udpCsum)
            return
        }
        p.trim(to: u.length)
        let multicast = h.destination.isMulticast
        if let unclaimed = udpDeliver(p, source: .v6(h.source), sourcePort: u.sport, destination: .v6(h.destination),
                                      destinationPort: u.dport, length: u.length, device: dev, broadcast: multicast) {
            if !multicast {
                icmp6Send(unclaimed, type: ICMPv6Type.destinationUnreachable, code: ICMPv6Code.portUnreachable,
                          info: 0, inbound: dev)
            }
            drop(unclaimed, .noSocket)
        }
    }

    /// The family-independent half of udp_rcv: socket lookup and queueing.
    /// Returns the packet when no socket wants it (UdpNoPorts counted): the
    /// caller answers with its family's port unreachable and drops it.
    func udpDeliver(_ packet: consuming PacketBuffer, source: IPAddress, sourcePort: UInt16, destination: IPAddress,
                    destinationPort: UInt16, length: Int, device: NetDevice, broadcast: Bool) -> PacketBuffer? {
        // One pass finds the best socket for unicast (udp4_lib_lookup2's
        // score) or counts the takers of a broadcast; a second pass, for
        // broadcasts only, queues a copy on each. No per-packet array.
        var best: UDPSocket? = nil
        var bestScore = -1
        var takers = 0
        for s in udpSockets {
            guard let score = udpMatchScore(s, source: source, sourcePort: sourcePort, destination: destination,
                                            destinationPort: destinationPort, device: device, broadcast: broadcast)
            else { continue }
            takers += 1
            if !broadcast && score > bestScore { best = s; bestScore = score }
        }
        guard takers > 0 else {
            count(destination.isIPv6 ? .udp6NoPorts : .udpNoPorts)
            return packet
        }
        // udp_rcv_segment: a GSO packet (UDP_SEGMENT from this host, over
        // veth or loopback) reaches a socket without UDP_GRO as one
        // datagram per segment.
        let segment = packet.metadata.gsoType.contains(.udpL4) ? Int(packet.metadata.gsoSize) : 0
        var delivered = false
        var start = 8
        repeat {
            let end = segment > 0 ? min(length, start + segment) : length
            let payload: [UInt8] = packet.withUnsafeReadableBytes { b in Array(b[start..<end]) }
            if let b = best {
                if udpQueue(payload, on: b, source: source, sourcePort: sourcePort, destination: destination) { delivered = true }
            } else {
                for s in udpSockets where udpMatchScore(s, source: source, sourcePort: sourcePort, destination: destination,
                                                        destinationPort: destinationPort, device: device,
                                                        broadcast: broadcast) != nil {
                    if udpQueue(payload, on: s, source: source, sourcePort: sourcePort, destination: destination) {
                        delivered = true
                    }
                }
            }
            start = end
        } while start < length
        if !delivered {
            drop(packet, .socketRcvbuff)
        }
        return nil
    }

    /// How well socket `s` matches a datagram (more specific scores higher),
    /// or nil when it does not take it.
    func udpMatchScore(_ s: UDPSocket, source: IPAddress, sourcePort: UInt16, destination: IPAddress,
                       destinationPort: UInt16, device: NetDevice, broadcast: Bool) -> Int? {
        guard s.localPort == destinationPort, s.isIPv6 == destination.isIPv6 else { return nil }
        var score = 0
        if let l = s.localAddress {
            guard l == destination || (broadcast && s.broadcast) else { return nil }
            score += 4
        }
        if let r = s.remoteAddress {
            guard r == source, s.remotePort == sourcePort else { return nil }
            score += 8
        }
        if s.boundDevice != 0 {
            guard s.boundDevice == device.ifindex else { return nil }
            score += 2
        }
        return score
    }

    /// Queues one datagram on a socket, or counts the receive-buffer overflow.
    func udpQueue(_ payload: [UInt8], on s: UDPSocket, source: IPAddress, sourcePort: UInt16, destination: IPAddress) -> Bool {
        let v6 = destination.isIPv6
        let size = payload.count + UDPSocket.overhead
        if s.queuedBytes + size > s.receiveBufferSize {
            s.drops += 1
            count(v6 ? .udp6RcvbufErrors : .udpRcvbufErrors)
            count(v6 ? .udp6InErrors : .udpInErrors)
            return false
        }
        s.queue.append(Datagram(payload: payload, source: source, sourcePort: sourcePort,
                                destination: destination, receivedAt: stack.now))
        s.charge(size)
        count(v6 ? .udp6InDatagrams : .udpInDatagrams)
        return true
    }

    /// __udp4_lib_err(): an ICMP error reaches a connected socket as sk_err.
    func udpError(_ e: SocketError, local: IPAddress, localPort: UInt16, remote: IPAddress, remotePort: UInt16) {
        for s in udpSockets where s.localPort == localPort && s.isIPv6 == remote.isIPv6 {
            if let r = s.remoteAddress, r != remote || s.remotePort != remotePort { continue }
            // Without IP_RECVERR only connected sockets hear about errors.
            if s.isConnected { s.pendingError = e.errno }
            return
        }
    }
}
