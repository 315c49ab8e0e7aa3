// NetstackHost through a scripted HostSystem: the TUN/TAP driver (attach
// errors as `ip tuntap` reports them, frames read until EAGAIN into the
// device, transmitted frames written out), the control socket's wire
// format and its access check. The real kernel is exercised by
// scripts/interop.sh and the conformance suite.
import Testing
@testable import NetWire
@testable import Netstack
@testable import NetstackControl
@testable import NetstackHost

/// A HostSystem whose kernel is a few arrays.
final class ScriptedSystem: HostSystem {
    var clock: Int64 = 0
    var tunTapError: Int32?
    var existing: Set<String> = []
    var opened: [(name: String, flags: Int32, fd: Int32)] = []
    var closed: [Int32] = []
    /// Frames the "kernel" has for each fd, read one per read().
    var inbound: [Int32: [[UInt8]]] = [:]
    var written: [Int32: [[UInt8]]] = [:]
    var registered: [Int32: UInt64] = [:]
    var peerUIDs: [Int32: Int64] = [:]
    var pendingClients: [Int32] = []
    var clientInput: [Int32: [UInt8]] = [:]
    /// TUNSETOFFLOAD requests, and the TUN_F_* bits this "kernel" refuses
    /// with EINVAL (an older kernel's unknown bits).
    var offloadRequests: [UInt32] = []
    var refusedOffloads: UInt32 = 0
    private var nextFD: Int32 = 10

    func monotonicNanoseconds() -> Int64 { clock }
    func openTunTap(name: String, flags: Int32) throws(HostError) -> Int32 {
        if let e = tunTapError { throw HostError(e) }
        nextFD += 1
        opened.append((name, flags, nextFD))
        return nextFD
    }
    func interfaceExists(_ name: String) -> Bool { existing.contains(name) }
    func setOffloads(fd: Int32, vnetHeaderSize: Int32, offloads: UInt32) throws(HostError) {
        offloadRequests.append(offloads)
        if offloads & refusedOffloads != 0 { throw HostError(22) }  // EINVAL
    }
    func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Result<Int, HostError> {
        if var q = inbound[fd], !q.isEmpty {
            let f = q.removeFirst()
            inbound[fd] = q
            let n = min(f.count, buffer.count)
            for i in 0..<n { buffer[i] = f[i] }
            return .success(n)
        }
        if var c = clientInput[fd], !c.isEmpty {
            let n = min(c.count, buffer.count)
            for i in 0..<n { buffer[i] = c[i] }
            c.removeFirst(n)
            clientInput[fd] = c
            return .success(n)
        }
        return .failure(HostError(11))  // EAGAIN
    }
    func write(_ fd: Int32, from buffer: UnsafeRawBufferPointer) -> Result<Int, HostError> {
        written[fd, default: []].append(Array(buffer))
        return .success(buffer.count)
    }
    func close(_ fd: Int32) { closed.append(fd) }
    func pollerCreate() throws(HostError) -> Int32 { 3 }
    func pollerAdd(_ poller: Int32, fd: Int32, token: UInt64) throws(HostError) { registered[fd] = token }
    func pollerRemove(_ poller: Int32, fd: Int32) { registered[fd] = nil }
    func pollerWait(_ poller: Int32, timeoutMilliseconds: Int32, max: Int) -> [HostEvent] { [] }
    func signalDescriptor(_ signals: [Int32]) throws(HostError) -> Int32 { 4 }
    func readSignal(_ fd: Int32) -> Int32? { nil }
    func listenUnix(path: String) throws(HostError) -> Int32 { 5 }
    func accept(_ fd: Int32) -> Int32? { pendingClients.isEmpty ? nil : pendingClients.removeFirst() }
    func connectUnix(path: String) throws(HostError) -> Int32 { throw HostError(2) }
    func peerUID(_ fd: Int32) -> Int64? { peerUIDs[fd] }
    func effectiveUID() -> Int64 { 1000 }
    func unlink(_ path: String) {}
}

@Suite struct TunTapDriverTests {
    func host() -> (Stack, ScriptedSystem, TunTapDriver) {
        let stack = Stack(seed: 7)
        let system = ScriptedSystem()
        let driver = TunTapDriver(system: system, stack: stack,
                                  register: { fd, token throws(HostError) in system.registered[fd] = token },
                                  unregister: { fd in system.registered[fd] = nil })
        stack.hostDriver = driver
        return (stack, system, driver)
    }

    /// tp0: a vnet_hdr TAP, up, 10.0.0.2/24, with 10.0.0.1 a permanent neighbour.
    func vnetTap(_ stack: Stack) {
        let ns = stack.initial
        _ = IPCommand.run(["tuntap", "add", "dev", "tp0", "mode", "tap", "vnet_hdr"], stack: stack, namespace: ns)
        _ = IPCommand.run(["link", "set", "tp0", "address", "02:00:00:00:00:02", "up"], stack: stack, namespace: ns)
        _ = IPCommand.run(["addr", "add", "10.0.0.2/24", "dev", "tp0"], stack: stack, namespace: ns)
        _ = IPCommand.run(["neigh", "add", "10.0.0.1", "lladdr", "02:00:00:00:00:01", "dev", "tp0"], stack: stack, namespace: ns)
    }

    @Test func tuntapAddAttachesWithTheKindsFlagsAndGivesCarrier() throws {
        let (stack, system, _) = host()
        let r = IPCommand.run(["tuntap", "add", "dev", "tp0", "mode", "tap"], stack: stack, namespace: stack.initial)
        #expect(r.status == 0)
        #expect(system.opened.count == 1)
        #expect(system.opened.first?.name == "tp0")
        #expect(system.opened.first?.flags == Int32(0x0002 | 0x1000))   // IFF_TAP | IFF_NO_PI
        let d = try #require(stack.initial.device(named: "tp0"))
        #expect(d.hostAttached && d.hasCarrier)
        _ = IPCommand.run(["tuntap", "add", "dev", "tn0", "mode", "tun", "multi_queue"], stack: stack, namespace: stack.initial)
        #expect(system.opened.last?.flags == Int32(0x0001 | 0x1000 | 0x0100))   // IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE
    }

    @Test func aRefusedAttachMakesNoDeviceAndReadsLikeIproute2() {
        let (stack, system, _) = host()
        system.tunTapError = 1  // EPERM
        let r = IPCommand.run(["tuntap", "add", "dev", "tp0", "mode", "tap"], stack: stack, namespace: stack.initial)
        #expect(r.status == 1)
        #expect(r.stderr == "ioctl(TUNSETIFF): Operation not permitted\n")
        #expect(stack.initial.device(named: "tp0") == nil)
    }

    @Test func framesAreReadUntilEAGAINAndRepliesWrittenBack() throws {
        let (stack, system, driver) = host()
        let ns = stack.initial
        _ = IPCommand.run(["tuntap", "add", "dev", "tp0", "mode", "tap"], stack: stack, namespace: ns)
        _ = IPCommand.run(["link", "set", "tp0", "address", "02:00:00:00:00:02", "up"], stack: stack, namespace: ns)
        _ = IPCommand.run(["addr", "add", "10.0.0.2/24", "dev", "tp0"], stack: stack, namespace: ns)
        let fd = try #require(system.opened.first?.fd)
        let token = try #require(system.registered[fd])
        // Two ARP requests for 10.0.0.2 from 10.0.0.1.
        let arp = ARPRepr(operation: .request, senderHardwareAddress: MACAddress(2, 0, 0, 0, 0, 1), senderProtocolAddress: IPv4Address(10, 0, 0, 1),
                          targetHardwareAddress: .zero, targetProtocolAddress: IPv4Address(10, 0, 0, 2))
        var frame = [UInt8](repeating: 0, count: 42)
        try frame.withUnsafeMutableBytes { raw in
            try EthernetRepr(destination: .broadcast, source: MACAddress(2, 0, 0, 0, 0, 1), etherType: .arp).emit(into: raw)
            try arp.emit(into: UnsafeMutableRawBufferPointer(rebasing: raw[14...]))
        }
        system.inbound[fd] = [frame, frame]
        #expect(driver.receive(token: token) == 2)
        #expect(driver.receive(token: token) == 0)   // EAGAIN: nothing more
        stack.poll(now: .zero + .milliseconds(1))
        driver.flushTransmit()
        let out = system.written[fd] ?? []
        #expect(out.count == 2)
        let reply = try #require(out.first)
        #expect(reply.count >= 42 && reply[12] == 0x08 && reply[13] == 0x06 && reply[21] == 2)  // ARP reply
        #expect(stack.shard.pool.outstanding == 0)
    }

    @Test func deletingTheDeviceClosesItsFd() throws {
        let (stack, system, driver) = host()
        _ = IPCommand.run(["tuntap", "add", "dev", "tp0", "mode", "tap"], stack: stack, namespace: stack.initial)
        let fd = try #require(system.opened.first?.fd)
        let r = IPCommand.run(["tuntap", "del", "dev", "tp0", "mode", "tap"], stack: stack, namespace: stack.initial)
        #expect(r.status == 0)
        #expect(system.closed == [fd])
        #expect(system.registered[fd] == nil)
        #expect(driver.ports.isEmpty)
    }

    /// A vnet_hdr read of a TCPv4 super-frame (virtio_net_hdr first) from
    /// 10.0.0.1:40000 to 10.0.0.2:5555 with `payload` bytes, PSH, seq
    /// 1000, its IP header as the kernel sends it (whole length, checksum);
    /// no ACK flag, so the closed port's RST acknowledges what it carried.
    func vnetSuperFrame(payload: Int, mss: Int) -> [UInt8] {
        var f = [UInt8](repeating: 0, count: 14 + 20 + 20)
        f[0...5] = [2, 0, 0, 0, 0, 2]; f[6...11] = [2, 0, 0, 0, 0, 1]; f[12] = 0x08
        f[14] = 0x45; f[16] = UInt8((40 + payload) >> 8); f[17] = UInt8((40 + payload) & 0xFF)
        f[20] = 0x40; f[22] = 64; f[23] = 6
        f[26...29] = [10, 0, 0, 1]; f[30...33] = [10, 0, 0, 2]
        var c = InternetChecksum()
        f.withUnsafeBytes { c.add(UnsafeRawBufferPointer(rebasing: $0[14..<34])) }
        f[24] = UInt8(c.value >> 8); f[25] = UInt8(c.value & 0xFF)
        f[34] = 0x9C; f[35] = 0x40; f[36] = 0x15; f[37] = 0xB3           // 40000 -> 5555
        f[38...41] = [0, 0, 0x03, 0xE8]                                   // seq 1000
        f[46] = 0x50; f[47] = 0x08; f[48] = 0xFF; f[49] = 0xFF            // PSH, no ACK: the RST acknowledges
        var h = [UInt8](repeating: 0, count: VirtioNetHeader.size)
        h[0] = VirtioNetHeader.needsChecksum; h[1] = VirtioNetHeader.gsoTCPv4
        h[2] = 54; h[4] = UInt8(mss & 0xFF); h[5] = UInt8(mss >> 8); h[6] = 34; h[8] = 16
        return h + f + (0..<payload).map { UInt8(truncatingIfNeeded: $0) }
    }

    /// What a closed port answers to the super-frame: one RST per packet the
    /// stack saw, each acknowledging the end of what that packet carried.
    func resetsForSuperFrame(forwarding: Int, holdingGSOPool: Bool = false) throws -> (whole: UInt64, cut: UInt64, resetAcks: [UInt32]) {
        let (stack, system, driver) = host()
        let ns = stack.initial
        vnetTap(stack)
        let dev = try #require(ns.device(named: "tp0"))
        dev.ipv4.forwarding = forwarding
        let fd = try #require(system.opened.first?.fd)
        let token = try #require(system.registered[fd])
        system.inbound[fd] = [vnetSuperFrame(payload: 3000, mss: 1448)]
        // Every super-frame buffer held elsewhere: the read falls back to scratch.
        var held = PacketBatch(capacity: 128)
        while holdingGSOPool, let b = stack.shard.gsoPool.allocate() { _ = held.append(b) }
        #expect(holdingGSOPool == (held.count > 0))
        _ = driver.receive(token: token)
        held.removeAll()
        stack.poll(now: .zero + .milliseconds(1))
        driver.flushTransmit()
        var acks: [UInt32] = []
        for w in system.written[fd] ?? [] {
            let frame = Array(w.dropFirst(VirtioNetHeader.size))
            guard frame.count >= 54, frame[23] == 6, frame[47] & 0x04 != 0 else { continue }
            acks.append(frame[42...45].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        }
        #expect(stack.shard.pool.outstanding == 0)
        return (driver.superFramesWhole, driver.superFramesCut, acks)
    }

    @Test func aSuperFrameForThisHostIsTakenWholeAndCutWhereItCouldBeForwarded() throws {
        // Not forwarding: GRO's one packet, so one RST for all 3000 bytes.
        let whole = try resetsForSuperFrame(forwarding: 0)
        #expect(whole.whole == 1 && whole.cut == 0)
        #expect(whole.resetAcks == [4000])
        // Forwarding on the device: cut at the edge (1448 + 1448 + 104).
        let cut = try resetsForSuperFrame(forwarding: 1)
        #expect(cut.whole == 0 && cut.cut == 1)
        #expect(cut.resetAcks == [2448, 3896, 4000])
    }

    @Test func withNoSuperFrameBufferTheFrameIsReadIntoScratchAndCut() throws {
        // Not forwarding, but no GSO buffer to hand over: cut, as when forwarding.
        let r = try resetsForSuperFrame(forwarding: 0, holdingGSOPool: true)
        #expect(r.whole == 0 && r.cut == 1)
        #expect(r.resetAcks == [2448, 3896, 4000])
    }

    @Test func scratchReadsShareTheBudgetAndAShortReadIsAnError() throws {
        let (stack, system, driver) = host()
        let ns = stack.initial
        vnetTap(stack)
        let dev = try #require(ns.device(named: "tp0"))
        let fd = try #require(system.opened.first?.fd)
        let token = try #require(system.registered[fd])
        let frame = vnetSuperFrame(payload: 3000, mss: 1448)
        driver.readBudget = 3
        var held = PacketBatch(capacity: 128)
        while let b = stack.shard.gsoPool.allocate() { _ = held.append(b) }
        // A short read (less than a virtio_net_hdr), then three super-frames:
        // the budget counts reads, so the last frame waits for the next wake.
        system.inbound[fd] = [[1, 2, 3], frame, frame, frame]
        let errorsBefore = dev.statistics.rxErrors
        #expect(driver.receive(token: token) == 6)
        #expect(dev.statistics.rxErrors == errorsBefore + 1)
        #expect(system.inbound[fd]?.count == 1)
        #expect(driver.superFramesCut == 2 && driver.superFramesWhole == 0)
        // With a buffer free again the next wake reads in place, whole.
        held.removeAll()
        #expect(driver.receive(token: token) == 1)
        #expect(driver.superFramesWhole == 1 && driver.superFramesCut == 2)
        stack.poll(now: .zero + .milliseconds(1))
        driver.flushTransmit()
        #expect(system.written[fd]?.count == 7)  // a RST for each packet the stack saw: 3 + 3 + 1
        #expect(stack.shard.pool.outstanding == 0)
    }

    // MARK: USO (UDP segmentation offload)

    @Test func usoIsNegotiatedAndDroppedWhenTheKernelRefusesIt() throws {
        for refused in [false, true] {
            let (stack, system, _) = host()
            if refused { system.refusedOffloads = 0x20 | 0x40 }   // a kernel before 6.2
            vnetTap(stack)
            let dev = try #require(stack.initial.device(named: "tp0"))
            // CSUM|TSO4|TSO6|USO4|USO6 first; without USO after EINVAL.
            #expect(system.offloadRequests == (refused ? [0x67, 0x07] : [0x67]))
            #expect(dev.features.contains(.udpSegmentation) == !refused)
            #expect(dev.segmentationOffload)
            let k = EthtoolTable().run(["ethtool", "-k", "tp0"], namespace: stack.initial).stdout
            #expect(k.contains("\ntx-udp-segmentation: \(refused ? "off" : "on")\n"))
            #expect(k.contains("\ttx-tcp-segmentation: on\n"))
        }
        // Any other refusal still fails the attach.
        let (stack, system, _) = host()
        system.refusedOffloads = 0x01
        let r = IPCommand.run(["tuntap", "add", "dev", "tp0", "mode", "tap", "vnet_hdr"], stack: stack, namespace: stack.initial)
        #expect(r.status != 0)
        #expect(system.offloadRequests == [0x67, 0x07])
    }

    /// A UDP_SEGMENT send of 14,000 bytes in 1400-byte segments from
    /// 10.0.0.2 to 10.0.0.1:9000 over tp0; the frames written to the TAP.
    func usoSend(refused: Bool) throws -> [[UInt8]] {
        let (stack, system, driver) = host()
        if refused { system.refusedOffloads = 0x60 }
        vnetTap(stack)
        let fd = try #require(system.opened.first?.fd)
        let s = stack.initial.udpSocket()
        try s.bind(nil, port: 5000)
        try s.setSegmentSize(1400)
        try s.send((0..<14_000).map { UInt8(truncatingIfNeeded: $0 &* 5) }, to: (.v4(IPv4Address(10, 0, 0, 1)), 9000))
        stack.poll(now: .zero + .milliseconds(1))
        driver.flushTransmit()
        #expect(stack.shard.pool.outstanding == 0)
        return system.written[fd] ?? []
    }

    @Test func aUDPGSOPacketIsWrittenAsOneUSOFrameOnlyWhenNegotiated() throws {
        let frames = try usoSend(refused: false)
        #expect(frames.count == 1)
        let w = try #require(frames.first)
        let h = w.withUnsafeBytes { VirtioNetHeader(UnsafeRawBufferPointer(rebasing: $0[0..<VirtioNetHeader.size])) }
        #expect(h.gsoType == VirtioNetHeader.gsoUDPL4)
        #expect(h.flags == VirtioNetHeader.needsChecksum)
        #expect(h.gsoSize == 1400)
        #expect(h.checksumStart == 34 && h.checksumOffset == 6)
        #expect(h.headerLength == 42)
        let f = Array(w.dropFirst(VirtioNetHeader.size))
        #expect(f.count == 14 + 20 + 8 + 14_000)
        #expect(f[23] == 17)
        // The UDP checksum field holds the pseudo-header sum of the whole (NEEDS_CSUM).
        var pseudo = InternetChecksum()
        pseudo.addPseudoHeader(source: IPv4Address(10, 0, 0, 2), destination: IPv4Address(10, 0, 0, 1), protocol: 17, length: 14_008)
        #expect(UInt16(f[40]) << 8 | UInt16(f[41]) == pseudo.folded)
        // The kernel's cut of it (the same cutting, here) gives ten datagrams that verify.
        var out: [[UInt8]] = []
        let pool = PacketPool(slotSize: 2048, count: 32, defaultHeadroom: 128)
        let r = f.withUnsafeBytes { b in VirtioNet.deliver(b, header: h, pool: pool) { p in out.append(p.bytes) } }
        #expect(r == .success(10))
        #expect(out.map(\.count) == Array(repeating: 14 + 28 + 1400, count: 10))

        // Not negotiated: the stack cuts, ten frames with no offload header.
        let cut = try usoSend(refused: true)
        #expect(cut.count == 10)
        for w in cut {
            #expect(w.prefix(VirtioNetHeader.size).allSatisfy { $0 == 0 })
            #expect(w.count == VirtioNetHeader.size + 14 + 28 + 1400)
        }
    }

    @Test func aUSOFrameFromTheKernelReachesASocketAsDatagrams() throws {
        let (stack, system, driver) = host()
        vnetTap(stack)
        let fd = try #require(system.opened.first?.fd)
        let token = try #require(system.registered[fd])
        let server = stack.initial.udpSocket()
        try server.bind(nil, port: 9000)
        // 10.0.0.1:5000 -> 10.0.0.2:9000, 14,000 bytes as the kernel's UDP_SEGMENT sends them.
        let payload = (0..<14_000).map { UInt8(truncatingIfNeeded: $0 &* 11) }
        var f = [UInt8](repeating: 0, count: 42)
        f[0...5] = [2, 0, 0, 0, 0, 2]; f[6...11] = [2, 0, 0, 0, 0, 1]; f[12] = 0x08
        f[14] = 0x45; f[16] = UInt8((28 + 14_000) >> 8); f[17] = UInt8((28 + 14_000) & 0xFF)
        f[22] = 64; f[23] = 17
        f[26...29] = [10, 0, 0, 1]; f[30...33] = [10, 0, 0, 2]
        var c = InternetChecksum()
        f.withUnsafeBytes { c.add(UnsafeRawBufferPointer(rebasing: $0[14..<34])) }
        f[24] = UInt8(c.value >> 8); f[25] = UInt8(c.value & 0xFF)
        f[34] = 0x13; f[35] = 0x88; f[36] = 0x23; f[37] = 0x28
        f[38] = UInt8((8 + 14_000) >> 8); f[39] = UInt8((8 + 14_000) & 0xFF)
        var h = VirtioNetHeader.uso(headers: 42, segmentSize: 1400, udp: 34)
        h.headerLength = 42
        var header = [UInt8](repeating: 0, count: VirtioNetHeader.size)
        header.withUnsafeMutableBytes { h.write(into: $0) }
        system.inbound[fd] = [header + f + payload]
        #expect(driver.receive(token: token) == 10)
        stack.poll(now: .zero + .milliseconds(1))
        var got: [[UInt8]] = []
        while let d = try server.receive() { got.append(d.payload) }
        #expect(got.count == 10)
        #expect(got.flatMap { $0 } == payload)
        #expect(driver.superFramesCut == 1)
        #expect(stack.shard.pool.outstanding == 0)
    }

    @Test func withNoHostTheDeviceHasNoCarrierAndDropsWhatItSends() throws {
        let stack = Stack(seed: 1)
        _ = IPCommand.run(["tuntap", "add", "dev", "tp0", "mode", "tap"], stack: stack, namespace: stack.initial)
        let d = try #require(stack.initial.device(named: "tp0"))
        #expect(!d.hasCarrier)
        #expect(d.operState == .down)
    }
}

@Suite struct ControlSocketTests {
    @Test func requestsRoundTripWithInput() {
        let r = ControlRequest(namespace: "ns1", argv: ["ip", "-j", "link"], stdin: [0, 1, 2, 255])
        let bytes = r.encoded()
        #expect(ControlRequest.decode(bytes) == .request(r, consumed: bytes.count))
        // Any prefix asks for more; a wrong magic is refused at once.
        for cut in [0, 3, 8, bytes.count - 1] {
            #expect(ControlRequest.decode(Array(bytes.prefix(cut))) == .needMore)
        }
        #expect(ControlRequest.decode(Array("XXXX\0\0\0\0".utf8)) == .invalid("bad magic"))
        let noNamespace = ControlRequest(namespace: nil, argv: ["stop"])
        #expect(ControlRequest.decode(noNamespace.encoded()) == .request(noNamespace, consumed: noNamespace.encoded().count))
    }

    @Test func oversizedOrEmptyRequestsAreRefused() {
        var huge = Array("NSC1".utf8) + [0x7F, 0, 0, 0]
        #expect(ControlRequest.decode(huge) == .invalid("request too long"))
        huge = Array("NSC1".utf8) + [0, 0, 0, 0, 0, 0, 0, 0]
        #expect(ControlRequest.decode(huge) == .invalid("no command"))
    }

    @Test func onlyRootOrTheOwnerIsServed() throws {
        let system = ScriptedSystem()
        let server = try ControlServer(system: system, path: "/x", register: { fd, token throws(HostError) in system.registered[fd] = token },
                                       unregister: { fd in system.registered[fd] = nil })
        system.pendingClients = [20, 21, 22]
        system.peerUIDs = [20: 0, 21: 1000, 22: 1234]
        server.acceptClients()
        #expect(system.registered[20] != nil && system.registered[21] != nil)
        #expect(system.registered[22] == nil)
        #expect(system.closed == [22])
        let denied = (system.written[22] ?? []).flatMap { $0 }
        #expect(denied.first == ControlFrameKind.stderr.rawValue)
        // A client's request comes back whole once it has arrived.
        let request = ControlRequest(namespace: nil, argv: ["ss", "-t"])
        system.clientInput[20] = request.encoded()
        #expect(server.readRequest(try #require(system.registered[20])) == request)
        server.finish(try #require(system.registered[20]), status: 3)
        let frames = (system.written[20] ?? []).flatMap { $0 }
        #expect(frames == controlFrame(.exit, [0, 0, 0, 3]))
        #expect(system.closed.contains(20))
    }
}
