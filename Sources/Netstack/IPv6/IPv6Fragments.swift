// IPv6 fragmentation and reassembly (RFC 8200 §4.5 and §5; RFC 5722
// overlapping fragments; RFC 6946 atomic fragments; RFC 7112 the header
// chain in the first fragment; RFC 3168 §5.3 ECN).
// Kernel counterpart: net/ipv6/reassembly.c (ipv6_frag_rcv, ip6_frag_queue,
// ip6_frag_reasm, ip6_frag_expire), include/net/ipv6_frag.h
// (ipv6frag_thdr_truncated, ip6frag_expire_frag_queue) and
// net/ipv6/ip6_output.c (ip6_fragment) with net/ipv6/output_core.c
// (ip6_find_1stfragopt).
//
// Reassembly rules, as Linux applies them:
// - Payload length 0 (a jumbogram) with a fragment header: Parameter
//   Problem code 0 pointing at the fragment header.
// - Atomic fragments (offset 0, M clear) are not queued: the packet is
//   delivered at once (ReasmOKs), here with the fragment header removed.
// - The first fragment must hold the rest of the header chain and the start
//   of the upper-layer header (TCP 20, UDP 8, ICMPv6 8 bytes, any other 1
//   byte), else Parameter Problem code 3 with pointer 0. Linux only catches
//   a short upper-layer header (a chain cut inside an extension header
//   slips through ipv6_skip_exthdr); RFC 7112 asks for the whole chain and
//   so do we.
// - A datagram longer than 65535: Parameter Problem code 0 pointing at the
//   Fragment Offset field. A non-last fragment whose length is not a
//   multiple of 8: Parameter Problem code 0 pointing at Payload Length.
//   Both count InHdrErrors, not ReasmFails.
// - Overlap kills the whole datagram (RFC 5722); duplicates are dropped
//   alone (DUP_FRAG).
// - Queues are keyed by source, destination, identification and, for
//   link-local or multicast destinations only, the arrival interface.
// - Timeout 30 s (ip6frag_time); if the offset-0 fragment arrived, it is
//   handed back for ICMPv6 Time Exceeded code 1.
import NetWire

/// struct frag_v6_compare_key.
struct IPv6FragmentKey: Hashable {
    var source: IPv6Address
    var destination: IPv6Address
    var user: UInt32
    var identification: UInt32
    var interface: Int32
}

/// Where a packet's fragment header is: its offset, and the offset of the
/// next-header field that names it. nil when the chain before it is not
/// hop-by-hop / routing / destination options / AH, or is truncated.
func ipv6FindFragmentHeader(_ b: UnsafeRawBufferPointer, end: Int) -> (offset: Int, nextHeaderField: Int)? {
    var nh = b[6]
    var field = 6
    var offset = IPv6Packet.headerLength
    for _ in 0..<IPv6ExtensionHeaders.defaultLimit {
        switch IPProtocol(rawValue: nh) {
        case .fragment:
            guard offset &+ 8 <= end else { return nil }
            return (offset, field)
        case .hopByHop, .routing, .destinationOptions, .ah:
            guard offset &+ 2 <= end else { return nil }
            let length = nh == IPProtocol.ah.rawValue ? (Int(b[offset &+ 1]) &+ 2) &* 4 : (Int(b[offset &+ 1]) &+ 1) &* 8
            field = offset
            nh = b[offset]
            offset &+= length
        default:
            return nil
        }
    }
    return nil
}

/// ipv6frag_thdr_truncated(), RFC 7112 strength: true when the headers after
/// the fragment header at `start` (next header `nh`) and the upper-layer
/// header's first bytes do not fit in `end` bytes.
func ipv6FirstFragmentTruncated(_ b: UnsafeRawBufferPointer, nextHeader: UInt8, start: Int, end: Int) -> Bool {
    var nh = nextHeader
    var offset = start
    for _ in 0..<IPv6ExtensionHeaders.defaultLimit {
        switch IPProtocol(rawValue: nh) {
        case .noNextHeader:
            return false
        case .hopByHop, .routing, .destinationOptions, .ah, .fragment:
            guard offset &+ 2 <= end else { return true }
            let length: Int
            switch IPProtocol(rawValue: nh) {
            case .ah: length = (Int(b[offset &+ 1]) &+ 2) &* 4
            case .fragment:
                guard offset &+ 4 <= end else { return true }
                // A later fragment header of a non-first fragment ends the walk.
                if FragmentBytes.be16(b, offset &+ 2) & 0xFFF8 != 0 { return false }
                length = 8
            default: length = (Int(b[offset &+ 1]) &+ 1) &* 8
            }
            nh = b[offset]
            offset &+= length
            if offset > end { return true }
        case .tcp: return offset &+ 20 > end
        case .udp: return offset &+ 8 > end
        case .icmpv6: return offset &+ 8 > end
        default: return offset &+ 1 > end
        }
    }
    return false
}

/// One namespace's IPv6 reassembly (net->ipv6.fqdir).
public struct IPv6Reassembly: ~Copyable {
    var table: FragmentQueueTable<IPv6FragmentKey>
    /// Where reassembled datagrams are built (slots of 64 KiB hold any).
    public let pool: PacketPool

    /// `limits.maxDistance` does not apply to IPv6.
    public init(pool: PacketPool, limits: FragmentLimits = FragmentLimits()) {
        self.pool = pool
        table = FragmentQueueTable(limits: limits)
    }

    public var limits: FragmentLimits {
        get { table.limits }
        set { table.limits = newValue }
    }
    public var memoryUsed: Int { table.memory }
    public var queueCount: Int { table.queueCount }
    public var nextDeadline: Instant { table.nextDeadline }

    /// ipv6_frag_rcv(): takes a packet whose header chain leads to a
    /// fragment header (IPv6 header at the front; hop-by-hop, routing,
    /// destination options and AH before the fragment header are skipped).
    /// `ingressDevice` keys queues of link-local and multicast destinations.
    /// Counts Ip6ReasmReqds/OKs/Fails and Ip6InHdrErrors.
    public mutating func insert(_ packet: consuming PacketBuffer, ingressDevice: Int32 = 0, user: UInt32 = 0,
                                now: Instant, shard: Shard) -> ReassemblyResult {
        shard.counters.increment(.ip6ReasmReqds)
        typealias Parsed = (end: Int, frag: Int, nhField: Int, fragNext: UInt8, offset: Int32, more: Bool,
                            key: IPv6FragmentKey, ecn: UInt8, truncatedChain: Bool)
        enum Problem { case notIPv6, noFragmentHeader, jumbo }
        var problem = Problem.notIPv6
        let parsed: Parsed? = packet.withUnsafeReadableBytes { b in
            guard let ip = try? IPv6Packet(b) else { return nil }
            if ip.payloadLength == 0 {
                problem = .jumbo
                return nil
            }
            let end = IPv6Packet.headerLength &+ ip.payloadLength
            guard let (frag, field) = ipv6FindFragmentHeader(b, end: end) else {
                problem = .noFragmentHeader
                return nil
            }
            let fo = FragmentBytes.be16(b, frag &+ 2)
            let destination = ip.destination
            let scoped = destination.isLinkLocal || destination.isMulticast
            let key = IPv6FragmentKey(source: ip.source, destination: destination, user: user,
                                      identification: FragmentBytes.be32(b, frag &+ 4),
                                      interface: scoped ? ingressDevice : 0)
            let offset = Int32(fo & 0xFFF8)
            let truncated = offset == 0 && fo & 1 != 0
                && ipv6FirstFragmentTruncated(b, nextHeader: b[frag], start: frag &+ 8, end: end)
            return (end, frag, field, b[frag], offset, fo & 1 != 0, key, ip.ecn, truncated)
        }
        guard let p = parsed else {
            switch problem {
            case .jumbo:
                shard.counters.increment(.ip6InHdrErrors)
                let at = packet.withUnsafeReadableBytes { ipv6FindFragmentHeader($0, end: $0.count)?.offset ?? 0 }
                return .parameterProblem(packet, code: 0, pointer: UInt32(at), reason: .ipInhdr)
            case .notIPv6, .noFragmentHeader:
                shard.counters.increment(.ip6InHdrErrors)
                return .dropped(packet, .ipv6BadExthdr)
            }
        }
        packet.trim(to: p.end)

        // Not a fragmented frame: deliver at once.
        if p.offset == 0 && !p.more {
            shard.counters.increment(.ip6ReasmOKs)
            guard packet.unshare(from: pool) else { return .dropped(packet, .nomem) }
            removeFragmentHeader(&packet, fragmentHeader: p.frag, nextHeaderField: p.nhField, nextHeader: p.fragNext)
            return .complete(packet)
        }
        if p.truncatedChain {
            shard.counters.increment(.ip6InHdrErrors)
            return .parameterProblem(packet, code: 3, pointer: 0, reason: .ipInhdr)
        }

        guard let (q, _) = table.find(p.key, now: now) else {
            shard.counters.increment(.ip6ReasmFails)
            return .dropped(packet, .notSpecified)
        }
        let dataStart = p.frag &+ 8
        let offset = p.offset
        let end = offset &+ Int32(p.end &- dataStart)
        if end > 65535 {
            shard.counters.increment(.ip6InHdrErrors)
            return .parameterProblem(packet, code: 0, pointer: UInt32(p.frag &+ 2), reason: .ipInhdr)
        }
        let len = table.queues[Int(q)].len
        if !p.more {
            if end < len || (table.queues[Int(q)].lastIn && end != len) {
                return discard(q, packet, shard: shard, now: now)
            }
            table.queues[Int(q)].lastIn = true
            table.queues[Int(q)].len = end
        } else {
            if end & 7 != 0 {
                shard.counters.increment(.ip6InHdrErrors)
                return .parameterProblem(packet, code: 0, pointer: 4, reason: .ipInhdr)
            }
            if end > len {
                if table.queues[Int(q)].lastIn { return discard(q, packet, shard: shard, now: now) }
                table.queues[Int(q)].len = end
            }
        }
        if end == offset { return discard(q, packet, shard: shard, now: now) }

        let arriving = packet.metadata
        if arriving.checksum != .unnecessary { table.queues[Int(q)].allUnnecessary = false }
        let node: Int32
        switch table.insert(q, packet, offset: offset, end: end, dataStart: Int32(dataStart)) {
        case .queued(let n):
            node = n
        case .duplicate(let d):
            return .dropped(d, .dupFrag)
        case .overlap(let o):
            return discard(q, o, shard: shard, now: now)
        }
        table.queues[Int(q)].meat &+= end &- offset
        table.queues[Int(q)].ecn |= fragmentECNBit(p.ecn)
        let fragsize = Int32(p.end)
        if fragsize > table.queues[Int(q)].maxSize { table.queues[Int(q)].maxSize = fragsize }
        if offset == 0 {
            table.queues[Int(q)].nextHeaderOffset = Int32(p.nhField)
            table.queues[Int(q)].firstIn = true
        }
        let r = table.queues[Int(q)]
        guard r.firstIn && r.lastIn && r.meat == r.len else { return .incomplete }
        return reassemble(q, arrivingNode: node, arriving: arriving, shard: shard, now: now)
    }

    /// ip6_frag_reasm(): the unfragmentable part of the first fragment, its
    /// next-header field set to the fragment header's, then the data.
    private mutating func reassemble(_ q: Int32, arrivingNode: Int32, arriving: PacketMetadata,
                                     shard: Shard, now: Instant) -> ReassemblyResult {
        let r = table.queues[Int(q)]
        let first = r.head
        let unfragmentable = Int(table.nodes[Int(first)].dataStart) &- 8
        let total = unfragmentable &+ Int(r.len)
        var failure: DropReason? = nil
        let ecn = fragmentECNResolve(r.ecn)
        if ecn == nil { failure = .notSpecified }
        else if total &- IPv6Packet.headerLength > 65535 { failure = .pktTooBig }
        else if total > pool.slotSize { failure = .nomem }
        let headroom = min(pool.defaultHeadroom, max(0, pool.slotSize &- total))
        var allocated: PacketBuffer? = nil
        if failure == nil {
            allocated = pool.allocate(headroom: headroom)
            if allocated == nil { failure = .nomem }
        }
        guard failure == nil, var out = allocated.take() else {
            shard.counters.increment(.ip6ReasmFails)
            let p = table.extractBuffer(arrivingNode)
            table.kill(q, reason: nil, shard: shard, now: now)
            return .dropped(p, failure ?? .nomem)
        }
        let room = out.put(total)
        let nextHeader: UInt8 = table.withFragment(first) { b in
            UnsafeMutableRawBufferPointer(rebasing: room[0..<unfragmentable])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: b[0..<unfragmentable]))
            return b[unfragmentable]
        }
        table.copyData(q, into: room, at: unfragmentable)
        room[Int(r.nextHeaderOffset)] = nextHeader
        FragmentBytes.setBE16(room, 4, UInt16(total &- IPv6Packet.headerLength))
        room[1] |= (ecn ?? 0) << 4
        var meta = table.fragmentMetadata(first)
        meta.ingressDevice = arriving.ingressDevice
        meta.timestamp = arriving.timestamp
        meta.checksum = r.allUnnecessary ? .unnecessary : .none
        meta.gsoSize = 0
        meta.gsoType = []
        out.metadata = meta
        out.resetNetworkHeader()
        table.kill(q, reason: nil, shard: shard, now: now)
        shard.counters.increment(.ip6ReasmOKs)
        return .complete(out)
    }

    private mutating func discard(_ q: Int32, _ packet: consuming PacketBuffer, shard: Shard,
                                  now: Instant) -> ReassemblyResult {
        table.kill(q, reason: nil, shard: shard, now: now)
        shard.counters.increment(.ip6ReasmFails)
        return .dropped(packet, .notSpecified)
    }

    /// ip6_frag_expire(): see `IPv4Reassembly.expire`; the caller sends
    /// ICMPv6 Time Exceeded code 1 for each packet appended.
    @discardableResult
    public mutating func expire(now: Instant, shard: Shard, timeExceeded: inout PacketBatch) -> Int {
        var expired = 0
        while let q = table.firstExpired(now: now) {
            let firstIn = table.queues[Int(q)].firstIn
            if firstIn && timeExceeded.isFull { break }
            shard.counters.increment(.ip6ReasmFails)
            shard.counters.increment(.ip6ReasmTimeout)
            if firstIn, let head = table.pullHead(q) {
                if let back = timeExceeded.append(head) { shard.drop(back, reason: .fragReasmTimeout, now: now) }
            }
            table.kill(q, reason: .fragReasmTimeout, shard: shard, now: now)
            expired &+= 1
        }
        return expired
    }

    public mutating func flush(now: Instant, shard: Shard) {
        while table.timerHead >= 0 { table.kill(table.timerHead, reason: .fragReasmTimeout, shard: shard, now: now) }
    }
}

/// Removes an atomic fragment's header in place: the unfragmentable part
/// moves 8 bytes forward over it.
func removeFragmentHeader(_ packet: inout PacketBuffer, fragmentHeader: Int, nextHeaderField: Int, nextHeader: UInt8) {
    packet.withUnsafeMutableReadableBytes { b in
        b[nextHeaderField] = nextHeader
        let payload = FragmentBytes.be16(UnsafeRawBufferPointer(b), 4)
        FragmentBytes.setBE16(b, 4, payload &- 8)
        guard let base = b.baseAddress else { return }
        (base + 8).copyMemory(from: base, byteCount: fragmentHeader)
    }
    packet.pull(8)
    packet.resetNetworkHeader()
}

// MARK: - fragmentation

/// ip6_fragment: cuts an IPv6 packet to an MTU with a fragment header.
public enum IPv6Fragmenter {
    /// Fragments `packet` (IPv6 header at the front) to `mtu`, inserting a
    /// fragment header with `identification` (ipv6_select_ident is the
    /// caller's) after the unfragmentable part, which is — as
    /// ip6_find_1stfragopt() decides — the IPv6 header, hop-by-hop, routing,
    /// and destination options before a routing header (or carrying a Home
    /// Address option). Destination options with no routing header before
    /// them stay unfragmentable too, as in Linux. A packet no larger than
    /// `mtu` is appended unchanged. Counters: Ip6FragOKs/Creates/Fails.
    public static func fragment(_ packet: consuming PacketBuffer, mtu: Int, identification: UInt32,
                                pool: PacketPool, headroom: Int? = nil, into out: inout PacketBatch,
                                counters: borrowing Counters) -> FragmentationResult {
        let h: (total: Int, hlen: Int, nhField: Int)? = packet.withUnsafeReadableBytes { b in
            guard let ip = try? IPv6Packet(b) else { return nil }
            let total = IPv6Packet.headerLength &+ ip.payloadLength
            guard let (hlen, field) = unfragmentablePart(b, end: total) else { return nil }
            return (total, hlen, field)
        }
        guard let h else { return .refused(packet, .malformed) }
        packet.trim(to: h.total)
        if h.total <= mtu {
            guard !out.isFull else { return .refused(packet, .batchTooSmall(needed: 1)) }
            _ = out.append(packet)
            return .sent(fragments: 1)
        }
        let hlen = h.hlen
        guard mtu >= hlen &+ 8 &+ 8 else {
            counters.increment(.ip6FragFails)
            return .refused(packet, .mtuTooSmall(mtu: mtu))
        }
        let space = mtu &- hlen &- 8
        let payload = h.total &- hlen
        let step = space & ~7
        let count = IPv4Fragmenter.fragmentCount(payload: payload, space: space)
        guard out.capacity &- out.count >= count else { return .refused(packet, .batchTooSmall(needed: count)) }
        let room = headroom ?? pool.defaultHeadroom
        guard pool.available >= count, room &+ hlen &+ 8 &+ min(space, payload) <= pool.slotSize else {
            counters.increment(.ip6FragFails)
            return .refused(packet, .noBuffers)
        }
        if case .partial = packet.metadata.checksum {
            guard packet.unshare(from: pool) else {
                counters.increment(.ip6FragFails)
                return .refused(packet, .noBuffers)
            }
            completePartialChecksum(&packet)
        }
        var meta = packet.metadata
        meta.checksum = .none
        meta.gsoSize = 0
        meta.gsoType = []
        packet.withUnsafeReadableBytes { src in
            let nextHeader = src[h.nhField]
            var position = 0
            while position < payload {
                var len = payload &- position
                if len > space { len = step }
                var frag = pool.allocate(headroom: room)!
                let bytes = frag.put(hlen &+ 8 &+ len)
                UnsafeMutableRawBufferPointer(rebasing: bytes[0..<hlen]).copyMemory(from: UnsafeRawBufferPointer(rebasing: src[0..<hlen]))
                bytes[h.nhField] = IPProtocol.fragment.rawValue
                FragmentBytes.setBE16(bytes, 4, UInt16(hlen &+ 8 &+ len &- IPv6Packet.headerLength))
                bytes[hlen] = nextHeader
                bytes[hlen &+ 1] = 0
                let more = position &+ len < payload
                FragmentBytes.setBE16(bytes, hlen &+ 2, UInt16(position) | (more ? 1 : 0))
                FragmentBytes.setBE32(bytes, hlen &+ 4, identification)
                UnsafeMutableRawBufferPointer(rebasing: bytes[(hlen &+ 8)...])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: src[(hlen &+ position)..<(hlen &+ position &+ len)]))
                frag.metadata = meta
                frag.resetNetworkHeader()
                _ = out.append(frag)
                position &+= len
            }
        }
        counters.add(.ip6FragCreates, UInt64(count))
        counters.increment(.ip6FragOKs)
        return .sent(fragments: count)
    }

    /// ip6_find_1stfragopt(): the length of the unfragmentable part and the
    /// offset of the next-header field that will name the fragment header.
    static func unfragmentablePart(_ b: UnsafeRawBufferPointer, end: Int) -> (length: Int, nextHeaderField: Int)? {
        var offset = IPv6Packet.headerLength
        var field = 6
        var foundRouting = false
        for _ in 0..<IPv6ExtensionHeaders.defaultLimit {
            let nh = IPProtocol(rawValue: b[field])
            switch nh {
            case .hopByHop:
                break
            case .routing:
                foundRouting = true
            case .destinationOptions:
                if !hasHomeAddressOption(b, at: offset, end: end) && foundRouting { return (offset, field) }
            default:
                return (offset, field)
            }
            guard offset &+ 2 <= end else { return nil }
            let length = (Int(b[offset &+ 1]) &+ 1) &* 8
            guard offset &+ length <= end else { return nil }
            field = offset
            offset &+= length
        }
        return nil
    }

    /// Whether the destination-options header at `at` carries a Home
    /// Address option (RFC 6275, type 0xC9), which makes it unfragmentable.
    static func hasHomeAddressOption(_ b: UnsafeRawBufferPointer, at: Int, end: Int) -> Bool {
        guard at &+ 2 <= end else { return false }
        let length = (Int(b[at &+ 1]) &+ 1) &* 8
        guard at &+ length <= end else { return false }
        var it = IPv6OptionIterator(UnsafeRawBufferPointer(rebasing: b[(at &+ 2)..<(at &+ length)]))
        while let o = it.next() { if o.type == 0xC9 { return true } }
        return false
    }
}
