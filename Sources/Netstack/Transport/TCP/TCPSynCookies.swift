// SYN cookies (RFC 4987 §3.6): answering a SYN without keeping state, and
// rebuilding the connection from the handshake's ACK.
// Kernel counterparts: net/ipv4/syncookies.c (secure_tcp_syn_cookie,
// check_tcp_syn_cookie, cookie_init_timestamp, cookie_timestamp_decode,
// cookie_v4_check), tcp_conn_request()'s want_cookie path.
//
// The cookie is the SYN-ACK's ISN, laid out as Linux lays it out:
//
//     ISN = H0(4-tuple) + client ISN + (minute << 24)
//           + ((H1(4-tuple, minute) + MSS index) & 0xFFFFFF)
//
// with keyed hashes H0, H1 (SipHash here, as Linux), the minute counter
// letting a cookie live for two minutes, and the MSS rounded down to Linux's
// table {536, 1300, 1440, 1460}. Window scale, SACK-permitted and ECN ride
// in the low 6 bits of the SYN-ACK's TSval (4 bits of shift, 0xF = none; one
// bit of SACK, one of ECN), so they survive only when the client uses
// timestamps; without them the SYN-ACK offers only the MSS (and no ECE), as
// tcp_conn_request does.
import NetWire

extension TCPListener {
    static let cookieMSSTable: [UInt16] = [536, 1300, 1440, 1460]
    static let cookieBits = 24
    static let cookieMask: UInt32 = (1 << 24) - 1
    static let maxCookieAge: UInt32 = 2

    func cookieHash(_ local: TCPEndpoint, _ remote: TCPEndpoint, count: UInt32, key: Int) -> UInt32 {
        var h = key == 0 ? SipHasher(k0: secrets.k0 ^ 0x5359_4e43_4f4f_4b30, k1: secrets.k1)
                         : SipHasher(k0: secrets.k0, k1: secrets.k1 ^ 0x5359_4e43_4f4f_4b31)
        h.add(remote.address)
        h.add(local.address)
        h.add(UInt64(remote.port) << 16 | UInt64(local.port))
        h.add(UInt64(count))
        return UInt32(truncatingIfNeeded: h.finish())
    }

    static func minute(_ now: Instant) -> UInt32 {
        UInt32(truncatingIfNeeded: now.nanoseconds / 60_000_000_000)
    }

    /// The cookie for a SYN with sequence `clientISN` and MSS index `mssIndex`.
    func cookie(local: TCPEndpoint, remote: TCPEndpoint, clientISN: TCPSeqNumber, mssIndex: Int, now: Instant) -> TCPSeqNumber {
        let count = Self.minute(now)
        let c = cookieHash(local, remote, count: 0, key: 0) &+ clientISN.rawValue &+ (count << UInt32(Self.cookieBits))
            &+ ((cookieHash(local, remote, count: count, key: 1) &+ UInt32(mssIndex)) & Self.cookieMask)
        return TCPSeqNumber(rawValue: c)
    }

    /// The MSS index a cookie carries, if it is ours and at most two minutes old.
    func checkCookie(_ cookie: TCPSeqNumber, local: TCPEndpoint, remote: TCPEndpoint, clientISN: TCPSeqNumber,
                     now: Instant) -> Int? {
        let count = Self.minute(now)
        let c = cookie.rawValue &- (cookieHash(local, remote, count: 0, key: 0) &+ clientISN.rawValue)
        let diff = (count &- (c >> UInt32(Self.cookieBits))) & (UInt32.max >> UInt32(Self.cookieBits))
        guard diff < Self.maxCookieAge else { return nil }
        let index = (c &- cookieHash(local, remote, count: count &- diff, key: 1)) & Self.cookieMask
        guard index < UInt32(Self.cookieMSSTable.count) else { return nil }
        return Int(index)
    }

    /// Writes a SYN-ACK for `syn` whose ISN is a cookie, keeping no state
    /// (the SYN queue is full: tcp_syncookies = 1). Returns its length.
    /// `ipECN`: the SYN's IP ECN field (see `TCPListener.receive`).
    public func synCookieReply(to syn: TCPSegment, local: TCPEndpoint, remote: TCPEndpoint, now: Instant,
                               into buffer: UnsafeMutableRawBufferPointer, ipECN: UInt8 = 0) -> Int? {
        guard syn.syn, !syn.ack, !syn.rst, !syn.fin else { return nil }
        let peer: TCPOptions
        do { peer = try TCPOptions.parse(syn.options) } catch { peer = TCPOptions() }
        let c = configuration
        var peerMSS = peer.maximumSegmentSize ?? 536
        if peerMSS == 0 { peerMSS = 536 }
        let mss = min(peerMSS, c.advertisedMSS)
        var index = 0
        for (i, m) in Self.cookieMSSTable.enumerated() where m <= mss { index = i }
        let isn = cookie(local: local, remote: remote, clientISN: syn.sequenceNumber, mssIndex: index, now: now)
        var o = TCPOptions()
        o.maximumSegmentSize = c.advertisedMSS
        let useTS = c.timestamps && peer.timestamps != nil
        let ecnOK = useTS && TCPConnection.ecnAcceptsSyn(syn, ipECN: ipECN, configuration: c)
        if useTS, let peerTS = peer.timestamps {
            let wsOK = c.windowScaling && peer.windowScale != nil
            var bits: UInt32 = wsOK ? UInt32(min(peer.windowScale!, 14)) : 0xF
            if c.sack && peer.sackPermitted { bits |= 0x10 }
            if ecnOK { bits |= 0x20 }
            let offset = secrets.timestampOffset(local: local.address, remote: remote.address)
            let tsNow = UInt32(truncatingIfNeeded: now.nanoseconds / 1_000_000) &+ offset
            var ts = (tsNow >> 6) << 6 | bits
            if Int32(bitPattern: ts &- tsNow) > 0 { ts &-= 1 << 6 }
            o.timestamps = TCPTimestamps(value: ts, echoReply: peerTS.value)
            o.sackPermitted = c.sack && peer.sackPermitted
            if wsOK { o.windowScale = c.receiveWindowScale }
        }
        // The window of a SYN-ACK (tcp_select_initial_window), never scaled.
        let segment = Int(c.advertisedMSS) &- (useTS ? 12 : 0)
        let space = min(c.receiveBufferInitial / 2, 65_535, c.receiveBufferMax)
        let window = max(space / segment * segment, segment)
        let repr = TCPRepr(sourcePort: local.port, destinationPort: remote.port, sequenceNumber: isn,
                           acknowledgmentNumber: syn.sequenceNumber + 1, flags: ecnOK ? [.syn, .ack, .ece] : [.syn, .ack],
                           windowSize: UInt16(min(window, 65_535)), options: o)
        let pseudo: PseudoHeader
        switch (local.address, remote.address) {
        case let (.v4(s), .v4(d)): pseudo = .ipv4(source: s, destination: d)
        case let (.v6(s), .v6(d)): pseudo = .ipv6(source: s, destination: d)
        default: return nil
        }
        do { try repr.emit(into: buffer, pseudoHeader: pseudo) } catch { return nil }
        return repr.headerLength
    }

    /// The ACK completing a cookie handshake (an ACK to the listening
    /// socket): checks the cookie and rebuilds the connection, which then
    /// processes the ACK itself (and any data on it) and is ESTABLISHED.
    /// nil for a bad or stale cookie (answer with `TCPReset.reply`).
    public func acceptCookie(_ ack: TCPSegment, local: TCPEndpoint, remote: TCPEndpoint,
                             now: Instant, ipECN: UInt8 = 0) -> (TCPConnection, TCPReceiveResult)? {
        guard ack.ack, !ack.syn, !ack.rst else { return nil }
        let iss = ack.acknowledgmentNumber - 1
        let clientISN = ack.sequenceNumber - 1
        guard let index = checkCookie(iss, local: local, remote: remote, clientISN: clientISN, now: now) else {
            return nil
        }
        let peer: TCPOptions
        do { peer = try TCPOptions.parse(ack.options) } catch { peer = TCPOptions() }
        var o = TCPOptions(maximumSegmentSize: Self.cookieMSSTable[index])
        var ecnOK = false
        if configuration.timestamps, let ts = peer.timestamps, ts.echoReply != 0 {
            let bits = ts.echoReply & 0x3F
            let ws = bits & 0xF
            if ws != 0xF {
                guard ws <= 14 else { return nil }
                o.windowScale = UInt8(ws)
            }
            o.sackPermitted = bits & 0x10 != 0
            // cookie_ecn_ok(): the SYN-ACK offered ECN and tcp_ecn is on.
            ecnOK = bits & 0x20 != 0 && configuration.ecn != 0
            o.timestamps = TCPTimestamps(value: ts.value, echoReply: 0)
        }
        let offset = configuration.timestamps ? secrets.timestampOffset(local: local.address, remote: remote.address) : 0
        let conn = TCPConnection(acceptSynSequence: clientISN, window: ack.windowSize, options: o, local: local,
                                 remote: remote, iss: iss, timestampOffset: offset, configuration: configuration, now: now)
        conn.synDue = false
        conn.synTransmissions = 1
        conn.fromSynCookie = true
        if ecnOK { conn.ecnFlags = .ok }
        let result = conn.receive(ack, now: now, ipECN: ipECN)
        return (conn, result)
    }
}
