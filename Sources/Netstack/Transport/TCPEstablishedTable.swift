// The established hash: every connection of a namespace by its 4-tuple
// (SYN-RECV children and TIME-WAIT included).
// Kernel counterpart: tcp_hashinfo's ehash (net/ipv4/inet_hashtables.c),
// where the socket itself is the hash node and the table holds one
// pointer per bucket.
//
// Why not a Dictionary<TCPFlowKey, TCPSocket>: a dictionary stores each
// key beside its value, and a flow key is 48 bytes (two endpoints of an
// address enum and a port), so with the table at most 3/4 full an idle
// endpoint paid ~150 bytes of table for an 8-byte pointer. Here, as in
// Linux, the key is not stored: a slot holds the socket and 32 bits of the
// key's hash, and a lookup that meets a matching hash compares the
// connection's own endpoints (`local`/`remote` are constants of the TCB).
// 12 bytes a slot; open addressing with linear probing and backward-shift
// deletion (no tombstones), doubled when 3/4 full.

/// The namespace's established table (see the file comment). A socket is
/// in it only while it holds a connection, whose 4-tuple is its key.
struct TCPEstablishedTable: Sequence {
    /// The sockets, nil for a free slot.
    private var sockets: [TCPSocket?] = []
    /// The low 32 bits of each occupied slot's key hash (the probe's start
    /// is `hash & mask`; a mismatch skips the key comparison).
    private var hashes: [UInt32] = []
    private(set) var count = 0

    init() {}

    var isEmpty: Bool { count == 0 }

    @inline(__always)
    private static func hash(_ key: TCPFlowKey) -> UInt32 {
        UInt32(truncatingIfNeeded: key.hashValue)
    }

    @inline(__always)
    private static func matches(_ s: TCPSocket, _ key: TCPFlowKey) -> Bool {
        guard let c = s.connection else { return false }
        return c.local == key.local && c.remote == key.remote
    }

    /// The slot holding `key`, or nil.
    @inline(__always)
    private func find(_ key: TCPFlowKey, hash h: UInt32) -> Int? {
        guard count > 0 else { return nil }
        let mask = sockets.count &- 1
        var i = Int(h) & mask
        while let s = sockets[i] {
            if hashes[i] == h && Self.matches(s, key) { return i }
            i = (i &+ 1) & mask
        }
        return nil
    }

    /// The socket of the connection with this 4-tuple; storing a socket
    /// hashes it (its connection's 4-tuple must be `key`), nil unhashes.
    subscript(key: TCPFlowKey) -> TCPSocket? {
        get {
            let h = Self.hash(key)
            guard let i = find(key, hash: h) else { return nil }
            return sockets[i]
        }
        set {
            let h = Self.hash(key)
            if let i = find(key, hash: h) {
                if let s = newValue { sockets[i] = s } else { remove(at: i) }
                return
            }
            guard let s = newValue else { return }
            precondition(Self.matches(s, key), "TCPEstablishedTable: the socket's connection is not this 4-tuple")
            if (count &+ 1) &* 4 > sockets.count &* 3 { grow() }
            insert(s, hash: h)
        }
    }

    private mutating func insert(_ s: TCPSocket, hash h: UInt32) {
        let mask = sockets.count &- 1
        var i = Int(h) & mask
        while sockets[i] != nil { i = (i &+ 1) & mask }
        sockets[i] = s
        hashes[i] = h
        count &+= 1
    }

    /// Backward-shift deletion: later members of the probe run move up
    /// into the hole when their home slot lies at or before it.
    private mutating func remove(at index: Int) {
        let mask = sockets.count &- 1
        var hole = index
        var j = index
        while true {
            j = (j &+ 1) & mask
            guard sockets[j] != nil else { break }
            let home = Int(hashes[j]) & mask
            if (j &- home) & mask >= (j &- hole) & mask {
                sockets[hole] = sockets[j]
                hashes[hole] = hashes[j]
                hole = j
            }
        }
        sockets[hole] = nil
        hashes[hole] = 0
        count &-= 1
    }

    private mutating func grow() {
        let old = sockets
        let oldHashes = hashes
        let capacity = Swift.max(old.count &* 2, 16)
        sockets = [TCPSocket?](repeating: nil, count: capacity)
        hashes = [UInt32](repeating: 0, count: capacity)
        count = 0
        for (i, s) in old.enumerated() {
            if let s { insert(s, hash: oldHashes[i]) }
        }
    }

    /// Forgets every socket (and the storage).
    mutating func removeAll() {
        sockets = []
        hashes = []
        count = 0
    }

    /// The sockets, in table order.
    var values: [TCPSocket] { sockets.compactMap { $0 } }

    /// (4-tuple, socket) pairs over a snapshot: the table may change
    /// while the loop runs.
    func makeIterator() -> some IteratorProtocol<(key: TCPFlowKey, value: TCPSocket)> {
        sockets.lazy.compactMap { s -> (key: TCPFlowKey, value: TCPSocket)? in
            guard let s, let c = s.connection else { return nil }
            return (key: TCPFlowKey(local: c.local, remote: c.remote), value: s)
        }.makeIterator()
    }
}
