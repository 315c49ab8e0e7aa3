// TCP receive demux: from IP local delivery to a connection or listener,
// the RST for segments that reach neither, and ICMP errors for connections.
// Kernel counterparts: tcp_v4_rcv() / tcp_v6_rcv() (net/ipv4/tcp_ipv4.c,
// net/ipv6/tcp_ipv6.c): checksum, __inet_lookup_skb (established, then
// listener), TIME-WAIT's TCP_TW_SYN, tcp_v4_send_reset(); the LISTEN half
// of tcp_rcv_state_process() with tcp_conn_request() (SYN queue, accept
// queue, syncookies) and cookie_v4_check(); tcp_v4_err() / tcp_v6_err().
//
// The segment is read in place (a checked `TCPSegment` view over the
// packet's bytes); replies are written into fresh pool buffers and sent
// while the incoming packet is still held.
import NetWire

extension NetworkNamespace {
    /// tcp_v4_rcv() / tcp_v6_rcv(): the packet's data starts at the TCP header.
    /// `ecn`: the IP header's ECN field (TCP_SKB_CB(skb)->ip_dsfield & INET_ECN_MASK).
    func tcpReceive(_ packet: consuming PacketBuffer, source: IPAddress, destination: IPAddress, on dev: NetDevice,
                    ecn: UInt8 = 0) {
        // Only segments addressed to this host (skb->pkt_type == PACKET_HOST).
        let type = packet.metadata.packetType
        guard type != .broadcast && type != .multicast && type != .otherHost else {
            drop(packet, .notSpecified)
            return
        }
        // skb_csum_unnecessary(): verified by a device, or CHECKSUM_PARTIAL
        // (sent by this host over an offloading device: never summed).
        let trusted = packet.metadata.checksum.isTrusted
        let gsoSize = Int(packet.metadata.gsoSize)
        let reason: DropReason? = packet.withUnsafeReadableBytes { b in
            tcpProcess(b, source: source, destination: destination, device: dev, trusted: trusted, gsoSize: gsoSize,
                       ecn: ecn)
        }
        if let r = reason { drop(packet, r) }
    }

    /// Returns the drop reason, or nil when the segment was consumed.
    private func tcpProcess(_ b: UnsafeRawBufferPointer, source: IPAddress, destination: IPAddress,
                            device dev: NetDevice, trusted: Bool, gsoSize: Int, ecn: UInt8) -> DropReason? {
        guard let seg = try? TCPSegment(b) else {
            count(.tcpInErrs)
            return .pktTooSmall
        }
        let pseudo: PseudoHeader
        switch (source, destination) {
        case let (.v4(s), .v4(d)): pseudo = .ipv4(source: s, destination: d)
        case let (.v6(s), .v6(d)): pseudo = .ipv6(source: s, destination: d)
        default: return .notSpecified
        }
        if !trusted && !seg.checksumVerifies(pseudo) {
            count(.tcpInCsumErrors)
            count(.tcpInErrs)
            return .tcpCsum
        }
        let local = TCPEndpoint(destination, seg.destinationPort)
        let remote = TCPEndpoint(source, seg.sourcePort)
        let now = stack.now
        if let s = tcp.established[TCPFlowKey(local: local, remote: remote)], let c = s.connection {
            if c.state == .timeWait, c.timeWaitAcceptsSyn(seg), let l = tcpLookupListener(local, device: dev) {
                // TCP_TW_SYN: the old incarnation goes, the listener takes the SYN.
                let iss = c.timeWaitSuccessorISN
                tcpDestroy(s)
                return tcpListenReceive(l, seg, local: local, remote: remote, iss: iss, ecn: ecn)
            }
            let r = c.receive(seg, now: now, gsoSize: gsoSize, ipECN: ecn)
            tcpEvents(s, r.events)
            return r.dropReason
        }
        if let l = tcpLookupListener(local, device: dev) {
            return tcpListenReceive(l, seg, local: local, remote: remote, iss: nil, ecn: ecn)
        }
        count(.tcpInSegs)
        tcpSendReset(seg, local: local, remote: remote, device: dev)
        return .noSocket
    }

    /// __inet_lookup_listener(): the best listener for a segment to `local`
    /// (compute_score: family, exact address over wildcard, bound device).
    func tcpLookupListener(_ local: TCPEndpoint, device dev: NetDevice) -> TCPSocket? {
        var best: TCPSocket?
        var bestScore = -1
        let v6 = local.address.isIPv6
        for l in tcp.listeners where l.localPort == local.port {
            var score = 0
            if v6 {
                guard l.isIPv6 else { continue }
                score += 1
            } else if l.isIPv6 {
                guard l.localAddress == nil && !l.v6Only else { continue }
            } else {
                score += 1
            }
            if let a = l.localAddress {
                guard a == local.address else { continue }
                score += 4
            }
            if l.boundDevice != 0 {
                guard l.boundDevice == dev.ifindex else { continue }
                score += 2
            }
            if score > bestScore { best = l; bestScore = score }
        }
        return best
    }

    /// tcp_rcv_state_process() in LISTEN: a SYN becomes a child in
    /// SYN-RECV (or a cookie SYN-ACK when the SYN queue is full); an ACK
    /// may complete a cookie handshake; anything else earns an RST.
    private func tcpListenReceive(_ l: TCPSocket, _ seg: TCPSegment, local: TCPEndpoint, remote: TCPEndpoint,
                                  iss: TCPSeqNumber?, ecn: UInt8) -> DropReason? {
        count(.tcpInSegs)
        guard var listener = l.listener else { return .noSocket }
        // tcp_ecn is read when the SYN arrives, as Linux reads the sysctl.
        listener.configuration.ecn = tcp.configuration.ecn
        let now = stack.now
        if seg.syn && !seg.ack && !seg.rst && !seg.fin {
            // sk_acceptq_is_full(): ack_backlog > max_ack_backlog.
            if l.acceptQueueLength > l.backlog {
                count(.tcpExtListenOverflows)
                count(.tcpExtListenDrops)
                return nil
            }
            let synQueueFull = l.synQueueLength >= max(l.backlog, 1)
            if (synQueueFull && tcp.syncookies != 0) || tcp.syncookies == 2 {
                if synQueueFull { l.lastOverflow = now }
                tcpSendCookie(listener, seg, local: local, remote: remote, boundDevice: l.boundDevice, ecn: ecn)
                count(.tcpExtSyncookiesSent)
                return nil
            }
            if synQueueFull {
                count(.tcpExtListenDrops)
                return nil
            }
        } else if seg.ack && !seg.syn && !seg.rst && tcp.syncookies != 0,
                  let t = l.lastOverflow, now - t < .seconds(120) {
            if let (c, r) = listener.acceptCookie(seg, local: local, remote: remote, now: now, ipECN: ecn) {
                count(.tcpExtSyncookiesRecv)
                if l.acceptQueueLength > l.backlog {
                    count(.tcpExtListenOverflows)
                    count(.tcpExtListenDrops)
                    return nil
                }
                let child = tcpChild(of: l, c)
                l.synQueueLength += 1   // the connected event moves it to the accept queue
                var events = r.events
                if c.state.isSynchronized { events.insert(.connected) }
                tcpEvents(child, events)
                return r.dropReason
            }
            count(.tcpExtSyncookiesFailed)
        }
        switch listener.receive(seg, local: local, remote: remote, now: now, iss: iss, ipECN: ecn) {
        case .accepted(let c):
            let child = tcpChild(of: l, c)
            l.synQueueLength += 1
            tcpTransmit(child)
            return nil
        case .reset:
            tcpSendReset(seg, local: local, remote: remote, device: nil)
            return .tcpFlags
        case .drop(let reason):
            return reason
        }
    }

    /// A listener's new connection as a socket (inheriting its options) in
    /// the established table and the listener's port bucket.
    private func tcpChild(of l: TCPSocket, _ c: TCPConnection) -> TCPSocket {
        let child = TCPSocket(namespace: self, isIPv6: l.isIPv6, configuration: l.configuration)
        child.localAddress = c.local.address
        child.localPort = c.local.port
        child.reuseAddress = l.reuseAddress
        child.reusePort = l.reusePort
        child.boundDevice = l.boundDevice
        child.linger = l.linger
        child.connection = c
        // tcp_v4_syn_recv_sock: the child's own random IPv4 identification.
        if c.local.address.isIPv4 { c.inetID = UInt16(truncatingIfNeeded: stack.nextRandom()) }
        child.parent = l
        tcpHoldPort(child)
        tcpHash(child)
        return child
    }

    /// tcp_v4_send_reset(): the RST answering a segment for no connection.
    private func tcpSendReset(_ seg: TCPSegment, local: TCPEndpoint, remote: TCPEndpoint, device: NetDevice?) {
        guard !seg.rst, var p = stack.shard.pool.allocate() else { return }
        let out = p.put(TCPSegment.minimumHeaderLength)
        guard let n = TCPReset.reply(to: seg, local: local, remote: remote, into: out) else { return }
        p.trim(to: n)
        p.resetTransportHeader()
        count(.tcpOutSegs)
        count(.tcpOutRsts)
        tcpSendSegment(p, from: local.address, to: remote.address, sourcePort: local.port,
                       destinationPort: remote.port, boundDevice: 0, sender: .tcpControl)
    }

    /// A SYN-ACK carrying a SYN cookie (no state kept).
    private func tcpSendCookie(_ l: TCPListener, _ seg: TCPSegment, local: TCPEndpoint, remote: TCPEndpoint,
                               boundDevice: Int32, ecn: UInt8) {
        guard var p = stack.shard.pool.allocate() else { return }
        let out = p.put(p.tailroom)
        guard let n = l.synCookieReply(to: seg, local: local, remote: remote, now: stack.now, into: out,
                                       ipECN: ecn) else { return }
        p.trim(to: n)
        p.resetTransportHeader()
        count(.tcpOutSegs)
        tcpSendSegment(p, from: local.address, to: remote.address, sourcePort: local.port,
                       destinationPort: remote.port, boundDevice: boundDevice,
                       sender: .synAck(pmtu: .socketDefault(noPMTUDisc: config.ipNoPMTUDisc)))
    }

    // MARK: ICMP errors (tcp_v4_err / tcp_v6_err)

    /// An ICMP error quoting a segment from `local` to `remote` whose
    /// sequence number was `sequence`: path-MTU news or an error for the
    /// connection (see TCPConnection.receiveICMPError).
    func tcpError(_ e: SocketError, local: IPAddress, localPort: UInt16, remote: IPAddress, remotePort: UInt16,
                  sequence: UInt32) {
        let key = TCPFlowKey(local: TCPEndpoint(local, localPort), remote: TCPEndpoint(remote, remotePort))
        guard let s = tcp.established[key], let c = s.connection else { return }
        let seq = TCPSeqNumber(rawValue: sequence)
        let now = stack.now
        let fragNeeded = e.isIPv6 ? e.type == ICMPv6Type.packetTooBig
            : (e.type == ICMPv4Type.destinationUnreachable && e.code == ICMPv4UnreachableCode.fragmentationNeeded)
        if fragNeeded {
            let mtu = Int(e.isIPv6 ? e.info : e.info & 0xFFFF)
            guard mtu >= 68 else { return }
            tcpEvents(s, c.pathMTUChanged(mtu, quotedSequence: seq, now: now))
            return
        }
        // Source quench and redirects are ignored (tcp_v4_err).
        if !e.isIPv6 && e.type != ICMPv4Type.destinationUnreachable && e.type != ICMPv4Type.timeExceeded
            && e.type != ICMPv4Type.parameterProblem { return }
        tcpEvents(s, c.receiveICMPError(e.errno, quotedSequence: seq, now: now))
    }
}
