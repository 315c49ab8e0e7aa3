// TunTapDriver: the host side of the stack's TUN/TAP devices — what the
// far end of drivers/net/tun.c's file descriptor is for a userspace
// program. `ip tuntap add dev NAME mode tap` in a `netstack run` script
// attaches to the host's TAP of that name (TUNSETIFF makes it when it does
// not exist); frames the kernel sends out of that TAP are read into the
// stack's device, frames the stack transmits are written back.
//
// Batching: after each readiness event up to `readBudget` frames are read
// per fd straight into pool buffers (no copy, no allocation), and after
// each poll every queued frame is written out. Closing a TAP the stack
// made removes it (it was never made persistent); a TAP that existed
// before is left as it was found.
#if canImport(Glibc)
import Glibc
#endif
import CNetstackHost
import NetWire
import Netstack

public final class TunTapDriver: HostDeviceDriver {
    public struct Port {
        public let fd: Int32
        public unowned let device: NetDevice
        /// Whether the host TAP existed before we attached (then it stays).
        public let existedBefore: Bool
        /// IFF_VNET_HDR: every frame carries a virtio_net_hdr, and the
        /// kernel may hand us partial checksums and TCP super-frames.
        public let vnetHeader: Bool
        /// TUNSETOFFLOAD took TUN_F_USO4|TUN_F_USO6: UDP super-frames both ways.
        public var udpSegmentation = false
    }

    let system: any HostSystem
    unowned let stack: Stack
    /// Registers new fds with the event loop; `token` identifies the port.
    let register: (Int32, UInt64) throws(HostError) -> Void
    let unregister: (Int32) -> Void
    public private(set) var ports: [UInt64: Port] = [:]
    private var nextToken: UInt64 = 1 << 32
    /// Frames read per fd per readiness event (NAPI's weight).
    public var readBudget = 64
    /// Write failures (EAGAIN from a full host queue, EIO when the link
    /// went away): the frame is dropped and counted on the device.
    public private(set) var writeErrors: UInt64 = 0
    /// Where a vnet_hdr port's frames are read (a TCP super-frame is up to
    /// 64 KiB; it is cut into pool buffers from here).
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: VirtioNetHeader.size + 65536 + 64,
                                                                 alignment: 16)
    /// TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6: what a vnet_hdr port accepts
    /// from any kernel.
    static let offloads: UInt32 = 0x01 | 0x02 | 0x04
    /// TUN_F_USO4 | TUN_F_USO6 (Linux 6.2+; tun.c's set_offload takes them
    /// only together, as NETIF_F_GSO_UDP_L4): asked for first, and dropped
    /// when an older kernel refuses the request with EINVAL.
    static let udpOffloads: UInt32 = 0x20 | 0x40

    deinit {
        readBuffer = nil
        scratch.deallocate()
    }

    public init(system: any HostSystem, stack: Stack,
                register: @escaping (Int32, UInt64) throws(HostError) -> Void,
                unregister: @escaping (Int32) -> Void) {
        self.system = system
        self.stack = stack
        self.register = register
        self.unregister = unregister
    }

    /// Whether `token` is one of ours.
    public func owns(_ token: UInt64) -> Bool { ports[token] != nil }

    public func attach(_ device: NetDevice, options: TunTapOptions) throws(KernelError) {
        var flags = Int32(device.kind == .tun ? IFF_TUN : IFF_TAP)
        if !options.packetInfo { flags |= Int32(IFF_NO_PI) }
        if options.multiQueue { flags |= Int32(IFF_MULTI_QUEUE) }
        if options.vnetHeader { flags |= Int32(IFF_VNET_HDR) }
        let existed = system.interfaceExists(device.name)
        let fd: Int32
        do throws(HostError) {
            fd = try system.openTunTap(name: device.name, flags: flags)
        } catch {
            throw KernelError(Errno(rawValue: error.errno))
        }
        let token = nextToken
        nextToken += 1
        var uso = false
        do throws(HostError) {
            if options.vnetHeader { uso = try negotiateOffloads(fd) }
            try register(fd, token)
        } catch {
            system.close(fd)
            throw KernelError(Errno(rawValue: error.errno))
        }
        var port = Port(fd: fd, device: device, existedBefore: existed, vnetHeader: options.vnetHeader)
        port.udpSegmentation = uso
        ports[token] = port
        // TUNSETOFFLOAD took TSO: the kernel takes our GSO packets as TSO
        // frames; USO too: our UDP GSO packets as USO frames.
        device.segmentationOffload = options.vnetHeader
        if uso { device.features.insert(.udpSegmentation) } else { device.features.remove(.udpSegmentation) }
    }

    /// TUNSETVNETHDRSZ + TUNSETOFFLOAD: checksum, TSO and USO; a kernel
    /// without USO (before 6.2) refuses the unknown bits with EINVAL, and
    /// then gets the request without them. Returns whether USO was taken.
    func negotiateOffloads(_ fd: Int32) throws(HostError) -> Bool {
        let size = Int32(VirtioNetHeader.size)
        do throws(HostError) {
            try system.setOffloads(fd: fd, vnetHeaderSize: size, offloads: TunTapDriver.offloads | TunTapDriver.udpOffloads)
            return true
        } catch where error.errno == EINVAL {
            try system.setOffloads(fd: fd, vnetHeaderSize: size, offloads: TunTapDriver.offloads)
            return false
        }
    }

    public func detach(_ device: NetDevice) {
        for (token, port) in ports where port.device === device {
            device.features.remove(.udpSegmentation)
            unregister(port.fd)
            system.close(port.fd)
            ports[token] = nil
        }
    }

    /// Closes every port (clean shutdown).
    public func detachAll() {
        for (_, port) in ports {
            unregister(port.fd)
            system.close(port.fd)
        }
        ports.removeAll()
    }

    /// The fd of `token` is readable: read up to `readBudget` frames into
    /// its device's receive ring. Returns the frames read.
    @discardableResult
    public func receive(token: UInt64) -> Int {
        guard let port = ports[token] else { return 0 }
        if port.vnetHeader { return receiveVirtio(port) }
        let pool = stack.shard.pool
        var n = 0
        while n < readBudget {
            guard var p = pool.allocate() else {
                // No buffer: leave the frames in the kernel's queue; the
                // next wake reads them (level-triggered).
                break
            }
            let room = p.tailroom
            let got = p.put(room)
            switch system.read(port.fd, into: got) {
            case .success(let count) where count > 0:
                p.trim(to: count)
                port.device.receive(p)
                n += 1
            default:
                return n  // EAGAIN (or EOF/error): nothing more now
            }
        }
        return n
    }

    /// The buffer the next vnet_hdr read goes into, from the shard's GSO
    /// pool so a super-frame the stack takes whole is read in place (kept
    /// across reads whose frame was copied out).
    private var readBuffer: PacketBuffer?
    /// Super-frames handed to the stack whole, and those cut at the edge.
    public private(set) var superFramesWhole: UInt64 = 0
    public private(set) var superFramesCut: UInt64 = 0

    /// A vnet_hdr port: each read is a header and a frame (maybe a TCP
    /// super-frame). A TCP super-frame for a device that does not forward
    /// goes to the stack whole, as GRO would have merged it (one pass
    /// through IP and TCP, one copy into the socket); on a forwarding
    /// device, and for everything else, `VirtioNet` makes the frames the
    /// stack takes.
    ///
    /// A read goes into `readBuffer` (from the shard's GSO pool) while the
    /// pool has one; once it has none, the rest of this wake reads into
    /// `scratch`, whose frames can only be cut. Either way the frame is
    /// cut from the same bytes by the same steps.
    private func receiveVirtio(_ port: Port) -> Int {
        let pool = stack.shard.pool
        let device = port.device
        // Whole super-frames only where nothing can send them on again
        // (forwarding off for both families on this device).
        let whole = device.ipv4.forwarding == 0 && device.ipv6.forwarding == 0
        var n = 0
        var reads = 0
        var pooled = true
        // A 64 KiB super-frame of 536-byte segments is 123 frames.
        while reads < readBudget, device.receiveRoom >= 128 {
            reads += 1
            if pooled, readBuffer == nil {
                readBuffer = stack.shard.gsoPool.allocate()
                pooled = readBuffer != nil
            }
            let target = pooled ? openReadBuffer() : scratch
            let count: Int
            switch system.read(port.fd, into: target) {
            case .success(let c) where c > 0: count = c
            default:
                closeReadBuffer()
                return n  // EAGAIN (or EOF/error): nothing more now
            }
            guard count >= VirtioNetHeader.size else {
                closeReadBuffer()
                device.countHostFrameError()
                continue
            }
            let header = VirtioNetHeader(UnsafeRawBufferPointer(rebasing: target[0..<VirtioNetHeader.size]))
            let frame = UnsafeRawBufferPointer(rebasing: target[VirtioNetHeader.size..<count])
            if pooled, whole, let gso = VirtioNet.wholeSuperFrame(frame, header: header), var b = readBuffer.take() {
                b.trim(to: count)
                b.pull(VirtioNetHeader.size)
                b.metadata.gsoSize = gso.gsoSize
                b.metadata.gsoType = gso.gsoType
                b.metadata.checksum = .unnecessary
                device.receive(b)
                superFramesWhole &+= 1
                n += 1
                continue
            }
            let result = VirtioNet.deliver(frame, header: header, pool: pool, emit: { p in device.receive(p) })
            if header.gsoType != VirtioNetHeader.gsoNone { superFramesCut &+= 1 }
            closeReadBuffer()
            switch result {
            case .success(let frames): n += frames
            case .failure: device.countHostFrameError()
            }
        }
        return n
    }

    /// `readBuffer`'s whole tailroom, for one read (it must be held).
    private func openReadBuffer() -> UnsafeMutableRawBufferPointer {
        guard var b = readBuffer.take() else { return scratch }
        let room = b.put(b.tailroom)
        readBuffer = consume b
        return room
    }

    /// Empties `readBuffer` again once its frame was copied out (or the
    /// read failed), keeping it for the next read; nothing when reading
    /// into scratch.
    private func closeReadBuffer() {
        guard var b = readBuffer.take() else { return }
        b.trim(to: 0)
        readBuffer = consume b
    }

    /// Writes every frame the stack queued for its host ports.
    public func flushTransmit() {
        guard stack.hostTransmitPending else { return }
        stack.hostTransmitPending = false
        for (_, port) in ports where port.device.hasHostTransmit {
            let fd = port.fd
            guard port.vnetHeader else {
                port.device.takeHostTransmit { packet in
                    let ok = packet.withUnsafeReadableBytes { writeFrame(fd, $0) }
                    if !ok { writeErrors &+= 1 }
                }
                continue
            }
            // vnet_hdr: a GSO packet goes as one TSO frame; a burst of one
            // flow's segments is joined into one.
            let linkHeader = port.device.hasLinkHeader ? EthernetFrame.headerLength : 0
            port.device.takeHostTransmit { packet in
                if packet.metadata.gsoSize != 0 {
                    writeCoalesced(fd)
                    if !writeGSO(fd, packet, linkHeader: linkHeader) { writeErrors &+= 1 }
                    return
                }
                if packet.withUnsafeReadableBytes({ coalescer.append($0) }) { return }
                writeCoalesced(fd)
                if packet.withUnsafeReadableBytes({ coalescer.append($0) }) { return }
                // Not TCP data: alone, with an all-zero header (no offload).
                var p = packet
                guard p.headroom >= VirtioNetHeader.size else { writeErrors &+= 1; return }
                VirtioNetHeader().write(into: p.push(VirtioNetHeader.size))
                if !p.withUnsafeReadableBytes({ writeFrame(fd, $0) }) { writeErrors &+= 1 }
            }
            writeCoalesced(fd)
        }
    }

    /// Joins a burst of one TCP flow's segments (vnet_hdr ports).
    private var coalescer = TSOCoalescer()
    /// Frames written as TSO super-frames, and the segments they carried.
    public private(set) var superFrames: UInt64 = 0
    public private(set) var superFrameSegments: UInt64 = 0

    private func writeCoalesced(_ fd: Int32) {
        guard !coalescer.isEmpty else { return }
        let segments = coalescer.segmentCount
        let frame = coalescer.take()
        if segments > 1 { superFrames &+= 1; superFrameSegments &+= UInt64(segments) }
        if !writeFrame(fd, frame) { writeErrors &+= 1 }
    }

    /// A GSO packet from the stack as a TSO or USO frame: virtio_net_hdr
    /// with gso_size and NEEDS_CSUM, the TCP or UDP checksum field holding
    /// the pseudo-header sum (the kernel fills every segment's).
    private func writeGSO(_ fd: Int32, _ packet: consuming PacketBuffer, linkHeader: Int) -> Bool {
        var p = packet
        let udp = p.metadata.gsoType.contains(.udpL4)
        let v6 = p.gsoIsIPv6(network: linkHeader)
        let layout = p.withUnsafeReadableBytes { GSO.layout($0, network: linkHeader, v6: v6, udp: udp) }
        guard let l = layout, p.headroom >= VirtioNetHeader.size else { return false }
        let field = l.transport + (udp ? 6 : 16)
        p.withUnsafeMutableReadableBytes { b in
            b.setBE16(field, GSO.pseudoHeaderSum(UnsafeRawBufferPointer(b), layout: l, v6: v6, proto: udp ? 17 : 6))
        }
        let size = Int(p.metadata.gsoSize)
        let header = udp ? VirtioNetHeader.uso(headers: l.headers, segmentSize: size, udp: l.transport)
                         : VirtioNetHeader.tso(v6: v6, headers: l.headers, segmentSize: size, tcp: l.tcp)
        header.write(into: p.push(VirtioNetHeader.size))
        if udp { udpSuperFrames &+= 1 } else { superFrames &+= 1 }
        return p.withUnsafeReadableBytes { writeFrame(fd, $0) }
    }

    /// UDP GSO packets written as USO frames.
    public private(set) var udpSuperFrames: UInt64 = 0

    private func writeFrame(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        if case .success(let n) = system.write(fd, from: bytes), n == bytes.count { return true }
        return false
    }
}
