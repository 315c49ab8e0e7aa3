// TCPEstablishedTable: the keyless established hash (open addressing,
// backward-shift deletion) must find exactly what was stored, through
// growth and interleaved removals, as the Dictionary it replaced did.
import Testing
import NetWire
@testable import Netstack

@Suite struct TCPEstablishedTableTests {
    /// `n` sockets with connections 10.0.0.1:p → 10.0.0.2:80 (IPv4) or the
    /// IPv6 equivalent, not hashed anywhere.
    func sockets(_ ns: NetworkNamespace, _ n: Int, ipv6: Bool = false) -> [TCPSocket] {
        let a: IPAddress = ipv6 ? .v6(IPv6Address(high: 0xfd00 << 48, low: 1)) : .v4(IPv4Address(10, 0, 0, 1))
        let b: IPAddress = ipv6 ? .v6(IPv6Address(high: 0xfd00 << 48, low: 2)) : .v4(IPv4Address(10, 0, 0, 2))
        return (0..<n).map { i in
            let s = TCPSocket(namespace: ns, isIPv6: ipv6, configuration: TCPConfiguration())
            s.connection = TCPConnection(connectFrom: TCPEndpoint(a, UInt16(10_000 + i)), to: TCPEndpoint(b, 80),
                                         iss: TCPSeqNumber(UInt32(i)), now: .zero)
            return s
        }
    }

    func key(_ s: TCPSocket) -> TCPFlowKey {
        TCPFlowKey(local: s.connection!.local, remote: s.connection!.remote)
    }

    @Test func insertLookupRemoveThroughGrowth() {
        let stack = Stack()
        let all = sockets(stack.initial, 3000) + sockets(stack.initial, 500, ipv6: true)
        var t = TCPEstablishedTable()
        for s in all { t[key(s)] = s }
        #expect(t.count == all.count)
        var found = 0
        for s in all where t[key(s)] === s { found += 1 }
        #expect(found == all.count)
        // Remove every third socket (holes in probe runs), in a scattered order.
        var removed = Set<ObjectIdentifier>()
        for i in stride(from: 0, to: all.count, by: 3) {
            let s = all[(i &* 7919) % all.count]
            guard removed.insert(ObjectIdentifier(s)).inserted else { continue }
            t[key(s)] = nil
        }
        #expect(t.count == all.count - removed.count)
        var stillFound = 0, goneFound = 0
        for s in all {
            if removed.contains(ObjectIdentifier(s)) {
                if t[key(s)] != nil { goneFound += 1 }
            } else if t[key(s)] === s {
                stillFound += 1
            }
        }
        #expect(goneFound == 0)
        #expect(stillFound == all.count - removed.count)
        // Iteration yields each remaining socket once, under its own key.
        var seen = Set<ObjectIdentifier>()
        var keysRight = true
        for (k, s) in t {
            seen.insert(ObjectIdentifier(s))
            if k != key(s) { keysRight = false }
        }
        #expect(keysRight)
        #expect(seen.count == t.count && t.values.count == t.count)
        // Removing an absent key changes nothing; removing all empties it.
        t[key(all[all.count - 1])] = nil
        for s in all { t[key(s)] = nil }
        #expect(t.isEmpty)
        #expect(t[key(all[0])] == nil)
    }

    @Test func sameKeyReplacesInPlace() {
        let stack = Stack()
        let s = sockets(stack.initial, 1)[0]
        var t = TCPEstablishedTable()
        t[key(s)] = s
        t[key(s)] = s
        #expect(t.count == 1)
        #expect(t[key(s)] === s)
        let other = TCPFlowKey(local: TCPEndpoint(.v4(IPv4Address(10, 0, 0, 9)), 1), remote: key(s).remote)
        #expect(t[other] == nil)
    }
}
