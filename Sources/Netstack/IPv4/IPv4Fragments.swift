// IPv4 fragmentation and reassembly (RFC 791 §2.3, §3.2; RFC 815; RFC 3168
// §5.3 for ECN; RFC 1858 for the reorder distance).
// Kernel counterpart: net/ipv4/ip_fragment.c (ip_defrag, ip_frag_queue,
// ip_frag_too_far, ip_frag_reinit, ip_frag_reasm, ip_expire) and
// net/ipv4/ip_output.c (ip_fragment, ip_do_fragment, ip_frag_next) with
// net/ipv4/ip_options.c (ip_options_fragment).
//
// Reassembly, where Linux deviates from the RFCs and we follow Linux:
// - Overlapping fragments kill the datagram (RFC 791 would let the later
//   data win); a fragment inside already-received data is a duplicate and
//   only it is dropped (DUP_FRAG).
// - A non-last fragment whose data is not a multiple of 8 is cut down to
//   one (`end &= ~7`), not dropped.
// - DF together with MF is not an error: DF only decides whether the
//   reassembled datagram keeps DF (it does when the largest fragment had
//   DF, so a router refragmenting it sends Frag Needed instead).
// - The 65535-byte limit is checked when the datagram completes.
// - ipfrag_max_dist: every fragment from a source bumps that source's
//   counter; if more than max_dist fragments from the source arrived since
//   this queue's previous one, the queue's fragments are dropped
//   (FRAG_TOO_FAR) and it starts again with the new fragment, its timer
//   re-armed.
// - Timeout: 30 s from the first fragment. If the offset-0 fragment had
//   arrived, it is handed back so the caller sends ICMP Time Exceeded
//   code 1 (fragment reassembly time exceeded) — ip_expire().
import NetWire

/// enum ip_defrag_users: who asks for reassembly; part of the queue key so
/// conntrack's and local delivery's queues stay apart.
public struct IPv4DefragUser: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let localDeliver = IPv4DefragUser(rawValue: 0)
    public static let callRAChain = IPv4DefragUser(rawValue: 1)
    /// IP_DEFRAG_CONNTRACK_IN + zone.
    public static func conntrackIn(zone: UInt16) -> IPv4DefragUser { IPv4DefragUser(rawValue: 2 &+ UInt32(zone)) }
    /// IP_DEFRAG_CONNTRACK_OUT + zone.
    public static func conntrackOut(zone: UInt16) -> IPv4DefragUser { IPv4DefragUser(rawValue: 0x1_0002 &+ UInt32(zone)) }
    public static let afPacket = IPv4DefragUser(rawValue: 0x3_0005)
}

/// struct frag_v4_compare_key.
struct IPv4FragmentKey: Hashable {
    var source: IPv4Address
    var destination: IPv4Address
    var user: UInt32
    /// l3mdev master ifindex (the VRF), 0 without one.
    var vrf: Int32
    var identification: UInt16
    var proto: UInt8
}

/// The inet_peer fields reassembly uses: a per-source fragment counter.
struct IPv4PeerKey: Hashable {
    var source: IPv4Address
    var vrf: Int32
}

struct IPv4PeerRecord {
    var rid: UInt32 = 0
    var queues: Int32 = 0
}

/// One namespace's IPv4 reassembly (net->ipv4.fqdir). Sans-IO: time and
/// the shard (counters and drops) are parameters.
public struct IPv4Reassembly: ~Copyable {
    var table: FragmentQueueTable<IPv4FragmentKey>
    var peers: [IPv4PeerKey: IPv4PeerRecord] = [:]
    /// Where reassembled datagrams are built (slots of 64 KiB hold any).
    public let pool: PacketPool

    public init(pool: PacketPool, limits: FragmentLimits = FragmentLimits()) {
        self.pool = pool
        table = FragmentQueueTable(limits: limits)
    }

    public var limits: FragmentLimits {
        get { table.limits }
        set { table.limits = newValue }
    }

    /// Bytes held (what ipfrag_high_thresh is compared with).
    public var memoryUsed: Int { table.memory }
    /// Datagrams being reassembled.
    public var queueCount: Int { table.queueCount }
    /// When `expire(now:…)` next has work; `.distantFuture` when idle.
    public var nextDeadline: Instant { table.nextDeadline }

    /// ip_defrag(): takes one fragment (IPv4 header at the front, already
    /// validated by the receive path). Counts ReasmReqds/OKs/Fails and
    /// ReasmOverlaps in `shard.counters`; fragments flushed as a side effect
    /// go through `shard.drop`. Call `expire(now:…)` first when a deadline
    /// has passed: a queue past its deadline still accepts fragments until
    /// it is expired, like a kernel timer that has not run yet.
    public mutating func insert(_ packet: consuming PacketBuffer, user: IPv4DefragUser = .localDeliver,
                                vrf: Int32 = 0, now: Instant, shard: Shard) -> ReassemblyResult {
        shard.counters.increment(.ipReasmReqds)
        // (ihl, total, frag_off, key fields, tos); nil when not IPv4.
        let h: (ihl: Int, total: Int, fragOff: UInt16, key: IPv4FragmentKey, tos: UInt8)? =
            packet.withUnsafeReadableBytes { b in
                guard let ip = try? IPv4Packet(b) else { return nil }
                return (ip.headerLength, ip.totalLength, FragmentBytes.be16(b, 6),
                        IPv4FragmentKey(source: ip.source, destination: ip.destination, user: user.rawValue,
                                        vrf: vrf, identification: ip.identification, proto: ip.protocol.rawValue),
                        ip.tos)
            }
        guard let h else {
            shard.counters.increment(.ipReasmFails)
            return .dropped(packet, .ipInhdr)
        }
        packet.trim(to: h.total)

        guard let (q, created) = table.find(h.key, now: now) else {
            shard.counters.increment(.ipReasmFails)
            return .dropped(packet, .notSpecified)
        }
        let peerKey = IPv4PeerKey(source: h.key.source, vrf: vrf)
        if created && table.limits.maxDistance > 0 {
            peers[peerKey, default: IPv4PeerRecord()].queues &+= 1
            table.queues[Int(q)].hasPeer = true
        }

        // ip_frag_too_far / ip_frag_reinit
        if table.queues[Int(q)].hasPeer && table.limits.maxDistance > 0 {
            let end = (peers[peerKey]?.rid ?? 0) &+ 1
            peers[peerKey]?.rid = end
            let start = table.queues[Int(q)].rid
            table.queues[Int(q)].rid = end
            if table.queues[Int(q)].tail >= 0 && end &- start > UInt32(table.limits.maxDistance) {
                shard.counters.increment(.ipReasmFails)
                if table.queues[Int(q)].deadline <= now {
                    // The timer has fired (mod_timer_pending fails): -ETIMEDOUT.
                    kill(q, reason: nil, shard: shard, now: now)
                    return .dropped(packet, .notSpecified)
                }
                table.purge(q, reason: .fragTooFar, shard: shard, now: now)
                table.reset(q)
                table.rearm(q, deadline: now + table.limits.timeout)
            }
        }

        let ihl = h.ihl
        let flags = h.fragOff
        let offset = Int32(flags & 0x1FFF) &* 8
        var end = offset &+ Int32(h.total &- ihl)
        let len = table.queues[Int(q)].len
        if flags & 0x2000 == 0 {
            // The last fragment: nothing may lie beyond it, and it must agree
            // with an earlier last fragment.
            if end < len || (table.queues[Int(q)].lastIn && end != len) {
                return discard(q, packet, shard: shard, now: now)
            }
            table.queues[Int(q)].lastIn = true
            table.queues[Int(q)].len = end
        } else {
            if end & 7 != 0 {
                end &= ~7
                table.queues[Int(q)].allUnnecessary = false
            }
            if end > len {
                if table.queues[Int(q)].lastIn { return discard(q, packet, shard: shard, now: now) }
                table.queues[Int(q)].len = end
            }
        }
        if end == offset { return discard(q, packet, shard: shard, now: now) }
        packet.trim(to: ihl &+ Int(end &- offset))

        let arriving = packet.metadata
        if arriving.checksum != .unnecessary { table.queues[Int(q)].allUnnecessary = false }
        let node: Int32
        switch table.insert(q, packet, offset: offset, end: end, dataStart: Int32(ihl)) {
        case .queued(let n):
            node = n
        case .duplicate(let p):
            return .dropped(p, .dupFrag)
        case .overlap(let p):
            shard.counters.increment(.ipExtReasmOverlaps)
            return discard(q, p, shard: shard, now: now)
        }

        table.queues[Int(q)].meat &+= end &- offset
        table.queues[Int(q)].ecn |= fragmentECNBit(h.tos & 3)
        if offset == 0 { table.queues[Int(q)].firstIn = true }
        let fragsize = end &- offset &+ Int32(ihl)
        if fragsize > table.queues[Int(q)].maxSize { table.queues[Int(q)].maxSize = fragsize }
        if flags & 0x4000 != 0 && fragsize > table.queues[Int(q)].maxDFSize {
            table.queues[Int(q)].maxDFSize = fragsize
        }

        let r = table.queues[Int(q)]
        guard r.firstIn && r.lastIn && r.meat == r.len else { return .incomplete }
        return reassemble(q, arrivingNode: node, arriving: arriving, shard: shard, now: now)
    }

    /// ip_frag_reasm(): builds the datagram in one buffer from `pool`.
    private mutating func reassemble(_ q: Int32, arrivingNode: Int32, arriving: PacketMetadata,
                                     shard: Shard, now: Instant) -> ReassemblyResult {
        let r = table.queues[Int(q)]
        let first = r.head
        let ihl = Int(table.nodes[Int(first)].dataStart)
        let total = ihl &+ Int(r.len)
        var failure: DropReason? = nil
        let ecn = fragmentECNResolve(r.ecn)
        if ecn == nil { failure = .notSpecified }
        else if total > 65535 { failure = .pktTooBig }
        else if total > pool.slotSize { failure = .nomem }
        let headroom = min(pool.defaultHeadroom, max(0, pool.slotSize &- total))
        var allocated: PacketBuffer? = nil
        if failure == nil {
            allocated = pool.allocate(headroom: headroom)
            if allocated == nil { failure = .nomem }
        }
        guard failure == nil, var out = allocated.take() else {
            // out_oversize / out_fail: the datagram is abandoned; the fragment
            // that completed it is dropped, the others consumed.
            shard.counters.increment(.ipReasmFails)
            let p = table.extractBuffer(arrivingNode)
            kill(q, reason: nil, shard: shard, now: now)
            return .dropped(p, failure ?? .nomem)
        }
        let room = out.put(total)
        table.withFragment(first) { b in
            UnsafeMutableRawBufferPointer(rebasing: room[0..<ihl]).copyMemory(from: UnsafeRawBufferPointer(rebasing: b[0..<ihl]))
        }
        table.copyData(q, into: room, at: ihl)
        FragmentBytes.setBE16(room, 2, UInt16(total))
        room[1] |= ecn ?? 0
        FragmentBytes.setBE16(room, 6, r.maxDFSize == r.maxSize ? 0x4000 : 0)
        FragmentBytes.setBE16(room, 10, 0)
        FragmentBytes.setBE16(room, 10, InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: room[0..<ihl])))
        var meta = table.fragmentMetadata(first)
        meta.ingressDevice = arriving.ingressDevice
        meta.timestamp = arriving.timestamp
        meta.checksum = r.allUnnecessary ? .unnecessary : .none
        meta.gsoSize = 0
        meta.gsoType = []
        out.metadata = meta
        out.resetNetworkHeader()
        kill(q, reason: nil, shard: shard, now: now)
        shard.counters.increment(.ipReasmOKs)
        return .complete(out)
    }

    /// discard_qp: the datagram is abandoned; the arriving fragment is
    /// dropped, the queued ones consumed.
    private mutating func discard(_ q: Int32, _ packet: consuming PacketBuffer, shard: Shard,
                                  now: Instant) -> ReassemblyResult {
        kill(q, reason: nil, shard: shard, now: now)
        shard.counters.increment(.ipReasmFails)
        return .dropped(packet, .notSpecified)
    }

    private mutating func kill(_ q: Int32, reason: DropReason?, shard: Shard, now: Instant) {
        if table.queues[Int(q)].hasPeer {
            let k = table.queues[Int(q)].key
            let pk = IPv4PeerKey(source: k.source, vrf: k.vrf)
            if let p = peers[pk] {
                if p.queues <= 1 { peers.removeValue(forKey: pk) } else { peers[pk]?.queues = p.queues &- 1 }
            }
        }
        table.kill(q, reason: reason, shard: shard, now: now)
    }

    /// ip_expire() for every queue whose deadline has come: counts
    /// ReasmTimeout and ReasmFails, drops the fragments with
    /// FRAG_REASM_TIMEOUT, and appends each datagram's offset-0 fragment (if
    /// it arrived) to `timeExceeded`. For each of those the caller sends ICMP
    /// Time Exceeded code 1 quoting it (when it was for local delivery),
    /// then drops it with `.fragReasmTimeout`. Stops early, leaving
    /// `nextDeadline` in the past, when `timeExceeded` is full. Returns the
    /// number of datagrams expired.
    @discardableResult
    public mutating func expire(now: Instant, shard: Shard, timeExceeded: inout PacketBatch) -> Int {
        var expired = 0
        while let q = table.firstExpired(now: now) {
            let firstIn = table.queues[Int(q)].firstIn
            if firstIn && timeExceeded.isFull { break }
            shard.counters.increment(.ipReasmFails)
            shard.counters.increment(.ipReasmTimeout)
            if firstIn, let head = table.pullHead(q) {
                if let back = timeExceeded.append(head) { shard.drop(back, reason: .fragReasmTimeout, now: now) }
            }
            kill(q, reason: .fragReasmTimeout, shard: shard, now: now)
            expired &+= 1
        }
        return expired
    }

    /// Drops every queue (namespace teardown, fqdir_pre_exit).
    public mutating func flush(now: Instant, shard: Shard) {
        while table.timerHead >= 0 { kill(table.timerHead, reason: .fragReasmTimeout, shard: shard, now: now) }
    }
}

// MARK: - fragmentation

/// ip_fragment / ip_do_fragment: cuts an IPv4 packet to an MTU.
public enum IPv4Fragmenter {
    /// Fragments `packet` (IPv4 header at the front) to `mtu`, appending the
    /// fragments to `out`, each in a new buffer from `pool` with `headroom`
    /// (default: the pool's) for link headers.
    ///
    /// - Options: the first fragment carries the header as it is; later
    ///   fragments carry it with every option whose copied flag is clear
    ///   overwritten by NOPs (ip_options_fragment), so all fragments have
    ///   the same header length, as Linux sends them.
    /// - A packet that is itself a fragment keeps its offset base and, if it
    ///   was not the last, MF on every piece.
    /// - DF set and not `ignoreDF` (skb->ignore_df): refused with
    ///   `.dontFragment(mtu:)` — send ICMP Fragmentation Needed.
    /// - `identification` replaces the header's id when given (the caller
    ///   chose it, as ip_select_ident does); nil keeps the header's.
    /// - A packet no larger than `mtu` is appended unchanged.
    /// - Counters: FragOKs and FragCreates on success, FragFails on refusal
    ///   (not for `.batchTooSmall`, a caller bug).
    public static func fragment(_ packet: consuming PacketBuffer, mtu: Int, identification: UInt16? = nil,
                                ignoreDF: Bool = false, pool: PacketPool, headroom: Int? = nil,
                                into out: inout PacketBatch, counters: borrowing Counters) -> FragmentationResult {
        let h: (ihl: Int, total: Int, fragOff: UInt16)? = packet.withUnsafeReadableBytes { b in
            guard let ip = try? IPv4Packet(b) else { return nil }
            return (ip.headerLength, ip.totalLength, FragmentBytes.be16(b, 6))
        }
        guard let h else { return .refused(packet, .malformed) }
        packet.trim(to: h.total)
        if h.total <= mtu {
            guard !out.isFull else { return .refused(packet, .batchTooSmall(needed: 1)) }
            _ = out.append(packet)
            return .sent(fragments: 1)
        }
        if h.fragOff & 0x4000 != 0 && !ignoreDF {
            counters.increment(.ipFragFails)
            return .refused(packet, .dontFragment(mtu: mtu))
        }
        let hlen = h.ihl
        let space = mtu &- hlen
        guard space >= 8 else {
            counters.increment(.ipFragFails)
            return .refused(packet, .mtuTooSmall(mtu: mtu))
        }
        let payload = h.total &- hlen
        let step = space & ~7
        let count = fragmentCount(payload: payload, space: space)
        guard out.capacity &- out.count >= count else { return .refused(packet, .batchTooSmall(needed: count)) }
        let room = headroom ?? pool.defaultHeadroom
        guard pool.available >= count, room &+ hlen &+ min(space, payload) <= pool.slotSize else {
            counters.increment(.ipFragFails)
            return .refused(packet, .noBuffers)
        }
        if case .partial = packet.metadata.checksum {
            guard packet.unshare(from: pool) else {
                counters.increment(.ipFragFails)
                return .refused(packet, .noBuffers)
            }
            completePartialChecksum(&packet)
        }
        var meta = packet.metadata
        meta.checksum = .none
        meta.gsoSize = 0
        meta.gsoType = []
        let baseOffset = Int(h.fragOff & 0x1FFF) &* 8
        let notLast = h.fragOff & 0x2000 != 0
        let dfBit: UInt16 = h.fragOff & 0x4000

        packet.withUnsafeReadableBytes { src in
            withUnsafeTemporaryAllocation(byteCount: 60, alignment: 4) { header in
                let hdr = UnsafeMutableRawBufferPointer(rebasing: header[0..<hlen])
                hdr.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[0..<hlen]))
                var position = 0
                while position < payload {
                    var len = payload &- position
                    if len > space { len = step }
                    // The pool was checked: allocation cannot fail here.
                    var frag = pool.allocate(headroom: room)!
                    let bytes = frag.put(hlen &+ len)
                    UnsafeMutableRawBufferPointer(rebasing: bytes[0..<hlen]).copyMemory(from: UnsafeRawBufferPointer(hdr))
                    UnsafeMutableRawBufferPointer(rebasing: bytes[hlen...])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: src[(hlen &+ position)..<(hlen &+ position &+ len)]))
                    let more = position &+ len < payload || notLast
                    FragmentBytes.setBE16(bytes, 2, UInt16(hlen &+ len))
                    FragmentBytes.setBE16(bytes, 6, UInt16((baseOffset &+ position) >> 3) | dfBit | (more ? 0x2000 : 0))
                    if let identification { FragmentBytes.setBE16(bytes, 4, identification) }
                    FragmentBytes.setBE16(bytes, 10, 0)
                    FragmentBytes.setBE16(bytes, 10, InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<hlen])))
                    frag.metadata = meta
                    frag.resetNetworkHeader()
                    _ = out.append(frag)
                    if position == 0 && baseOffset == 0 { clearUncopiedOptions(hdr) }
                    position &+= len
                }
            }
        }
        counters.add(.ipFragCreates, UInt64(count))
        counters.increment(.ipFragOKs)
        return .sent(fragments: count)
    }

    /// How many fragments `payload` bytes make with `space` bytes per fragment.
    static func fragmentCount(payload: Int, space: Int) -> Int {
        if payload <= space { return 1 }
        let step = space & ~7
        // All but the last carry `step`; the last carries what is left,
        // which may be up to `space`.
        var n = 0, left = payload
        while left > space { left &-= step; n &+= 1 }
        return n &+ 1
    }

    /// ip_options_fragment(): NOP out options whose copied bit is clear.
    static func clearUncopiedOptions(_ header: UnsafeMutableRawBufferPointer) {
        var i = 20
        while i < header.count {
            let type = header[i]
            if type == IPv4OptionType.endOfList { return }
            if type == IPv4OptionType.noOperation { i &+= 1; continue }
            guard i &+ 1 < header.count else { return }
            let length = Int(header[i &+ 1])
            guard length >= 2, length <= header.count &- i else { return }
            if type & 0x80 == 0 {
                for j in i..<(i &+ length) { header[j] = IPv4OptionType.noOperation }
            }
            i &+= length
        }
    }
}
