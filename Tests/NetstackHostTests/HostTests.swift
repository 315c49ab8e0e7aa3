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
    private var nextFD: Int32 = 10

    func monotonicNanoseconds() -> Int64 { clock }
    func openTunTap(name: String, flags: Int32) throws(HostError) -> Int32 {
        if let e = tunTapError { throw HostError(e) }
        nextFD += 1
        opened.append((name, flags, nextFD))
        return nextFD
    }
    func interfaceExists(_ name: String) -> Bool { existing.contains(name) }
    func setOffloads(fd: Int32, vnetHeaderSize: Int32, offloads: UInt32) throws(HostError) {}
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
