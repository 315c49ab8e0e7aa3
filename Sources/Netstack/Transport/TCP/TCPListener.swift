// TCP LISTEN: turning an acceptable SYN into a connection in SYN-RECEIVED,
// and the RST a segment for no connection earns.
// Kernel counterparts: tcp_rcv_state_process() in TCP_LISTEN,
// tcp_conn_request() (net/ipv4/tcp_input.c), tcp_v4_send_reset()
// (net/ipv4/tcp_ipv4.c), RFC 9293 §3.10.7.1–2.
//
// Linux answers a SYN with a request socket (struct request_sock, a few
// hundred bytes) and builds the full socket only on the handshake's ACK;
// SYN cookies replace even that under a flood. Here `receive` creates the
// TCPConnection at once (its rings are not allocated until data flows, so
// the cost is the TCB, ~1.2 KiB); when the SYN queue is full the socket
// layer answers with `synCookieReply` and rebuilds the connection from the
// ACK with `acceptCookie` (TCPSynCookies.swift). The SYN queue, backlog and
// accept queue are the socket layer's.
import NetWire

/// What a listener did with a segment.
public enum TCPListenResult {
    /// A new connection in SYN-RECEIVED; its SYN-ACK is due.
    case accepted(TCPConnection)
    /// Answer with `TCPReset.reply` (an ACK to a listener).
    case reset
    /// Dropped, for this reason.
    case drop(DropReason)
}

/// A listening socket's protocol half (the accept queue is the socket layer's).
public struct TCPListener: Sendable {
    public var configuration: TCPConfiguration
    public var secrets: TCPSecrets

    public init(configuration: TCPConfiguration = TCPConfiguration(), secrets: TCPSecrets) {
        self.configuration = configuration
        self.secrets = secrets
    }

    /// A segment for the listening socket, from `remote` to `local` (the
    /// address the SYN was sent to).
    /// `iss` overrides the RFC 6528 ISN (a TIME-WAIT successor's).
    /// `ipECN`: the SYN's IP ECN field (an ECN-setup SYN must be Not-ECT).
    public func receive(_ segment: TCPSegment, local: TCPEndpoint, remote: TCPEndpoint, now: Instant,
                        iss: TCPSeqNumber? = nil, ipECN: UInt8 = 0) -> TCPListenResult {
        if segment.rst { return .drop(.tcpReset) }
        if segment.ack { return .reset }
        guard segment.syn else { return .drop(.tcpFlags) }
        if segment.fin { return .drop(.tcpFlags) }
        let options: TCPOptions
        do { options = try TCPOptions.parse(segment.options) } catch { options = TCPOptions() }
        let iss = iss ?? secrets.initialSequenceNumber(local: local, remote: remote, now: now)
        let tsOffset = configuration.timestamps ? secrets.timestampOffset(local: local.address, remote: remote.address) : 0
        let c = TCPConnection(acceptFrom: segment, options: options, local: local, remote: remote, iss: iss,
                              timestampOffset: tsOffset, configuration: configuration, now: now)
        if TCPConnection.ecnAcceptsSyn(segment, ipECN: ipECN, configuration: configuration) { c.ecnFlags = .ok }
        return .accepted(c)
    }
}

/// RST replies for segments that reach no connection (RFC 9293 §3.10.7.1).
public enum TCPReset {
    /// Writes the reset answering `segment` (which came from `remote` to
    /// `local`) into `buffer`; nil for an RST, which is never answered.
    /// With ACK: `<SEQ=SEG.ACK><CTL=RST>`; without: `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`.
    public static func reply(to segment: TCPSegment, local: TCPEndpoint, remote: TCPEndpoint,
                             into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        if segment.rst { return nil }
        let repr: TCPRepr
        if segment.ack {
            repr = TCPRepr(sourcePort: local.port, destinationPort: remote.port,
                           sequenceNumber: segment.acknowledgmentNumber, flags: .rst, windowSize: 0)
        } else {
            repr = TCPRepr(sourcePort: local.port, destinationPort: remote.port, sequenceNumber: TCPSeqNumber(0),
                           acknowledgmentNumber: segment.sequenceNumber + segment.segmentLength,
                           flags: [.rst, .ack], windowSize: 0)
        }
        let pseudo: PseudoHeader
        switch (local.address, remote.address) {
        case let (.v4(s), .v4(d)): pseudo = .ipv4(source: s, destination: d)
        case let (.v6(s), .v6(d)): pseudo = .ipv6(source: s, destination: d)
        default: return nil
        }
        do { try repr.emit(into: buffer, pseudoHeader: pseudo) } catch { return nil }
        return repr.headerLength
    }
}
