// TCP receive and send buffer sizing and the receive queue's memory limits.
// Kernel counterparts: tcp_rcv_space_adjust(), tcp_init_buffer_space(),
// tcp_clamp_window(), tcp_try_rmem_schedule(), tcp_prune_queue(),
// tcp_collapse(), tcp_prune_ofo_queue() (net/ipv4/tcp_input.c);
// SO_RCVBUF / SO_SNDBUF (net/core/sock.c __sock_set_rcvbuf/sndbuf).
//
// Receive autotuning (dynamic right-sizing, tcp_moderate_rcvbuf): once per
// receiver-side RTT the bytes the application copied out are measured; when
// more than last time, sk_rcvbuf and window_clamp grow so the window can
// carry twice that (plus the sender's growth), up to tcp_rmem[2]. SO_RCVBUF
// locks the buffer and ends autotuning. The send buffer follows the
// congestion window (TCPConnection.sendLimit) unless SO_SNDBUF locks it.
//
// Memory: the receive ring's extent (in-order bytes plus out-of-order ranges
// up to the last one) is the socket's sk_rmem_alloc; the ring's capacity is
// charged to the stack's TCPMemory (tcp_mem). Data beyond sk_rcvbuf makes
// the receive path prune (tcp_prune_queue): the window is clamped, the ring
// gives back unused capacity (the ring's "collapse": its bytes are already
// compact), then out-of-order ranges go from the far end (their SACK blocks
// with them). In-order data, once acknowledged, is never dropped.
//
// Differences from Linux: payload bytes stand for skb truesize, so the
// window may use the whole buffer (Linux's scaling_ratio is 100% here) and
// SO_RCVBUF's doubled value is all window; the receiver RTT comes only from
// timestamps (no per-window tcp_rcv_rtt_measure), so a connection without
// timestamps keeps its initial buffer; the fair-share test between
// tcp_mem[1] and tcp_mem[2] (sk_sockets_allocated) is not made: there,
// growth is granted.
import NetWire

extension TCPConnection {
    /// SOCK_MIN_RCVBUF / SOCK_MIN_SNDBUF (2 × (2048 + sizeof(sk_buff)) on x86-64).
    public static let minimumSocketBuffer = 4608

    /// sk_rmem_alloc: the bytes the receive ring holds past its head, in
    /// order and out of order (holes included).
    var receiveExtent: Int {
        if let r = reassembly, let last = r.outOfOrder.last { return recvRing.count &+ (last.right - rcvNxt) }
        return recvRing.count
    }

    /// The ring charges its memory to `account` (the stack's tcp_mem); the
    /// socket layer attaches it when the connection is hashed.
    func attachMemory(_ account: TCPMemory?) {
        guard memory !== account else { return }
        let held = recvRing.capacity &+ sendRing.capacity
        if held > 0 {
            memory?.uncharge(held)
            _ = account?.charge(held, force: true)
        }
        memory = account
    }

    /// The account the rings charge, if any.
    public var memoryAccount: TCPMemory? { memory }

    // MARK: socket options

    /// setsockopt(SO_RCVBUF): the buffer is twice `bytes` (at least
    /// SOCK_MIN_RCVBUF) and locked, so autotuning leaves it alone. Before
    /// the first SYN or SYN-ACK left, the initial window follows it too.
    public func setReceiveBuffer(_ bytes: Int) {
        rcvBuf = max(min(bytes, Int(Int32.max) / 2) &* 2, Self.minimumSocketBuffer)
        rcvBufLocked = true
        windowClamp = rcvBuf
        if synDue && synTransmissions == 0 && (state == .synSent || state == .synReceived) {
            let advmss = Int(advertisedMSS) &- (timestampsEnabled ? 12 : 0)
            rcvWnd = initialReceiveWindow(mss: advmss)
            rcvSsthresh = rcvWnd
        }
        if rcvSsthresh > windowClamp { rcvSsthresh = windowClamp }
    }

    /// setsockopt(SO_SNDBUF): twice `bytes` (at least SOCK_MIN_SNDBUF), locked.
    public func setSendBuffer(_ bytes: Int) {
        sndBufLocked = max(min(bytes, Int(Int32.max) / 2) &* 2, Self.minimumSocketBuffer)
    }

    /// sk_sndbuf as `ss -m` shows it.
    public var sendBufferSize: Int { state.isSynchronized ? sendLimit : (sndBufLocked > 0 ? sndBufLocked : configuration.sendBufferInitial) }

    // MARK: autotuning

    /// tcp_rcv_space_adjust(), after a read: once per receiver RTT, grow
    /// the buffer when the application copied more than in the RTT before.
    func rcvSpaceAdjust(now: Instant) {
        let copiedSeq = rcvNxt - recvRing.count - (peerFinReceived ? 1 : 0)
        guard let since = rcvqTime else {
            rcvqTime = now
            rcvqSeq = copiedSeq
            return
        }
        guard rcvRttUs != 0, now - since >= .microseconds(rcvRttUs >> 3) else { return }
        let copied = copiedSeq - rcvqSeq
        if copied > rcvSpace {
            if moderateRcvbuf && !rcvBufLocked && rcvSpace > 0 && memory?.underPressure != true {
                let advmss = Int(advertisedMSS) &- (timestampsEnabled ? 12 : 0)
                // Twice a round's delivery (losses) plus a cushion, and room
                // for a sender still doubling (the ACK sent now is for the
                // next round).
                var rcvwin = 2 &* copied &+ 16 &* advmss
                let grow = rcvwin &* (copied &- rcvSpace) / rcvSpace
                rcvwin &+= 2 &* grow
                let rcvbuf = min(rcvwin, configuration.receiveBufferMax)
                if rcvbuf > rcvBuf {
                    rcvBuf = rcvbuf
                    windowClamp = rcvbuf
                }
            }
            rcvSpace = copied
        }
        rcvqSeq = copiedSeq
        rcvqTime = now
    }

    // MARK: receive memory

    /// tcp_try_rmem_schedule() and the ring's growth for `length` bytes at
    /// `offset` past rcv_nxt (`seq` is their sequence number). nil: the
    /// ring has room. Otherwise the segment is dropped (PROTO_MEM), which
    /// only happens to out-of-order data or to in-order data while other
    /// in-order data waits to be read (an empty queue always takes the
    /// next in-order segment: sk_forced_mem_schedule).
    func receiveSchedule(seq: TCPSeqNumber, offset: Int, length: Int) -> DropReason? {
        let inOrder = offset == 0
        // The window's granularity: an announced window is rounded up to a
        // multiple of 2^rcv_wscale, so a peer may fill that much past the buffer.
        let limit = rcvBuf &+ (1 &<< Int(rcvWscale))
        if receiveExtent > limit, !pruneQueue(seq: seq, limit: limit), !(inOrder && recvRing.count == 0) {
            return memoryDrop(inOrder: inOrder)
        }
        if recvRing.reserve(recvRing.count &+ max(receiveExtent &- recvRing.count, offset &+ length), keep: receiveExtent, account: memory) {
            return nil
        }
        // Refused above tcp_mem[2]: the window stops offering more than a
        // few segments (tcp_adjust_rcv_ssthresh), and out-of-order data
        // past this segment goes, an eighth of the buffer at a time, and
        // its memory with it, while that helps.
        let advmss = Int(advertisedMSS) &- (timestampsEnabled ? 12 : 0)
        rcvSsthresh = min(rcvSsthresh, 4 &* advmss)
        while pruneOutOfOrder(after: seq, limit: 0, oneChunk: true) {
            recvRing.shrink(keep: receiveExtent, account: memory)
            if recvRing.reserve(recvRing.count &+ max(receiveExtent &- recvRing.count, offset &+ length), keep: receiveExtent, account: memory) {
                return nil
            }
        }
        if inOrder && recvRing.count == 0 {
            _ = recvRing.reserve(max(receiveExtent, length), keep: receiveExtent, force: true, account: memory)
            return nil
        }
        return memoryDrop(inOrder: inOrder)
    }

    /// The drop that ends a failed schedule: tcp_data_queue's TCPRcvQDrop
    /// (with an immediate ACK) or tcp_data_queue_ofo's TCPOFODrop.
    private func memoryDrop(inOrder: Bool) -> DropReason {
        pendingCounters.bump(inOrder ? .rcvQDrop : .ofoDrop)
        if inOrder { ackNow = true }
        return .protoMem
    }

    /// tcp_prune_queue(): the receive queue holds more than `limit`.
    /// True when it is back within it.
    func pruneQueue(seq: TCPSeqNumber, limit: Int) -> Bool {
        pendingCounters.bump(.pruneCalled)
        let advmss = Int(advertisedMSS) &- (timestampsEnabled ? 12 : 0)
        let pressure = memory?.underPressure == true
        if receiveExtent >= rcvBuf {
            // tcp_clamp_window(): an unlocked buffer below tcp_rmem[2] takes
            // what is held (outside memory pressure); otherwise the window
            // stops growing.
            if !rcvBufLocked && !pressure && rcvBuf < configuration.receiveBufferMax {
                rcvBuf = min(receiveExtent, configuration.receiveBufferMax)
            }
            if receiveExtent > rcvBuf { rcvSsthresh = min(windowClamp, 2 &* advmss) }
        } else if pressure {
            rcvSsthresh = min(rcvSsthresh, 4 &* advmss)   // tcp_adjust_rcv_ssthresh
        }
        if receiveExtent <= max(limit, rcvBuf) { return true }
        // tcp_collapse(): give back the capacity the bytes do not need.
        if recvRing.shrink(keep: receiveExtent, account: memory) > 0 { pendingCounters.bump(.rcvCollapsed) }
        if pruneOutOfOrder(after: seq, limit: limit) { recvRing.shrink(keep: receiveExtent, account: memory) }
        if receiveExtent <= limit { return true }
        pendingCounters.bump(.rcvPruned)
        return false
    }

    /// tcp_prune_ofo_queue(): drops out-of-order ranges from the far end,
    /// never one at or before `seq` (the segment being placed), an eighth
    /// of the buffer at a time until the queue fits `limit` (and, under
    /// memory pressure, while any is left; `oneChunk`: one eighth, for a
    /// caller that retries its allocation in between). The SACK state is reset, as
    /// Linux does: no block may report bytes no longer held. True when
    /// something was dropped.
    @discardableResult
    func pruneOutOfOrder(after seq: TCPSeqNumber, limit: Int, oneChunk: Bool = false) -> Bool {
        var pruned = false
        var goal = rcvBuf >> 3
        while let last = outOfOrder.last, seq < last.left {
            outOfOrder.removeLast()
            pruned = true
            goal &-= last.right - last.left
            if let f = peerFinSeq, !(f < last.left) { peerFinSeq = nil }   // the FIN went with its segment
            if goal <= 0 || outOfOrder.isEmpty {
                if oneChunk { break }
                if receiveExtent <= limit && memory?.underPressure != true { break }
                goal = rcvBuf >> 3
            }
        }
        guard pruned else { return false }
        if outOfOrder.isEmpty { outOfOrder = [] }
        pendingCounters.bump(.ofoPruned)
        if sackPermitted { recentSacks = TCPSackBlocks() }   // tcp_sack_reset
        releaseReassemblyIfDone()
        return true
    }
}
