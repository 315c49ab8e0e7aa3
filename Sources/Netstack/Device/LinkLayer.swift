// The link layer around the devices: receive demux (netif_receive_skb with
// eth_type_trans) and transmit (dev_queue_xmit → qdisc → driver xmit).
// Kernel counterparts: net/core/dev.c, net/ethernet/eth.c,
// drivers/net/{loopback,veth,dummy}.c.
import NetWire

extension NetworkNamespace {
    /// netif_receive_skb(): classify the frame (eth_type_trans) and hand it
    /// to its protocol. The frame starts at the Ethernet header.
    func netifReceive(_ packet: consuming PacketBuffer, on dev: NetDevice) {
        var p = packet
        if stack.capture != nil {
            completeChecksumForCapture(&p)
            capture(p, on: dev)
        }
        if stack.isTracing { traceReceive(&p, on: dev) }
        guard dev.hasLinkHeader else {
            tunReceive(p, on: dev)
            return
        }
        guard p.count >= EthernetFrame.headerLength else {
            dev.statistics.rxLengthErrors &+= 1
            dev.statistics.rxErrors &+= 1
            drop(p, .pktTooSmall)
            return
        }
        let (dst, type) = p.withUnsafeReadableBytes { b in (MACAddress(reading: b, at: 0), EtherType(rawValue: b.be16(12))) }
        dev.statistics.rxPackets &+= 1
        dev.statistics.rxBytes &+= UInt64(p.count)
        if dst == dev.mac {
            p.metadata.packetType = dev.kind == .loopback ? .loopback : .host
        } else if dst.isBroadcast {
            p.metadata.packetType = .broadcast
        } else if dst.isMulticast {
            p.metadata.packetType = .multicast
            dev.statistics.multicast &+= 1
        } else {
            p.metadata.packetType = .otherHost
        }
        p.metadata.ingressDevice = dev.ifindex
        p.metadata.networkProtocol = type
        p.resetMACHeader()
        p.pull(EthernetFrame.headerLength)
        p.resetNetworkHeader()
        switch type {
        case .ipv4: ipv4Receive(p, on: dev)
        case .arp: arpReceive(p, on: dev)
        case .ipv6: ipv6Receive(p, on: dev)
        default:
            dev.statistics.rxNoHandler &+= 1
            drop(p, .unhandledProto)
        }
    }

    /// A TUN device's receive (tun_get_user with IFF_NO_PI): an IP packet
    /// with no link header; the version nibble gives the protocol.
    func tunReceive(_ packet: consuming PacketBuffer, on dev: NetDevice) {
        var p = packet
        let version: UInt8 = p.isEmpty ? 0 : p.withUnsafeReadableBytes { $0[0] >> 4 }
        let type: EtherType
        switch version {
        case 4: type = .ipv4
        case 6: type = .ipv6
        default:
            // tun_get_user: neither IPv4 nor IPv6 → -EINVAL, rx_dropped.
            dev.statistics.rxDropped &+= 1
            drop(p, .invalidProto)
            return
        }
        dev.statistics.rxPackets &+= 1
        dev.statistics.rxBytes &+= UInt64(p.count)
        p.metadata.packetType = .host
        p.metadata.ingressDevice = dev.ifindex
        p.metadata.networkProtocol = type
        p.resetMACHeader()
        p.resetNetworkHeader()
        if type == .ipv4 { ipv4Receive(p, on: dev) } else { ipv6Receive(p, on: dev) }
    }

    /// dev_hard_header + dev_queue_xmit: prepend the Ethernet header and send
    /// (a TUN device has no header_ops: the packet goes as it is).
    func sendFrame(_ packet: consuming PacketBuffer, on dev: NetDevice, destination: MACAddress, type: EtherType) {
        var p = packet
        guard dev.hasLinkHeader else {
            p.resetMACHeader()
            deviceQueueTransmit(p, on: dev)
            return
        }
        guard p.headroom >= EthernetFrame.headerLength else {
            drop(p, .nomem)
            return
        }
        let out = p.push(EthernetFrame.headerLength)
        destination.write(into: out, at: 0)
        dev.mac.write(into: out, at: 6)
        out.setBE16(12, type.rawValue)
        p.resetMACHeader()
        deviceQueueTransmit(p, on: dev)
    }

    /// dev_queue_xmit(): through the root qdisc, or straight to the driver
    /// for `noqueue`.
    func deviceQueueTransmit(_ packet: consuming PacketBuffer, on dev: NetDevice) {
        if packet.metadata.gsoSize != 0 && (!dev.takesGSO(packet.metadata.gsoType) || dev.qdisc.cutsGSO) {
            segmentForDevice(packet, on: dev)
            return
        }
        if stack.isTracing { traceQueueTransmit(&packet, on: dev) }
        guard dev.isUp else {
            dev.statistics.txDropped &+= 1
            drop(packet, .devReady)
            return
        }
        if dev.qdisc.bypassesQueue {
            deviceTransmit(packet, on: dev)
            return
        }
        if packet.metadata.tsqOwner != 0 && dev.qdisc.orphansOnEnqueue {
            smallQueues.orphan(&packet.metadata)
        }
        switch dev.qdisc.enqueue(packet, now: stack.now, pool: stack.shard.pool) {
        case .queued:
            qdiscRun(dev)
        case .dropped(let p, let reason):
            dev.statistics.txDropped &+= 1
            drop(p, reason)
        }
    }

    /// validate_xmit_skb → skb_gso_segment: a GSO packet for a device that
    /// cannot take it goes on as MSS segments (GSO.swift).
    /// The segments take the packet's TSQ charge over, each its own
    /// length of it, until it is used up (tcp_gso_segment moves the
    /// destructor to every segment); what is left is released.
    func segmentForDevice(_ packet: consuming PacketBuffer, on dev: NetDevice) {
        var packet = packet
        let owner = packet.metadata.tsqOwner
        var charge = Int(packet.metadata.tsqCharge)
        packet.metadata.tsqOwner = 0
        packet.metadata.tsqCharge = 0
        let meta = packet.metadata
        let network = packet.networkHeaderOffset ?? (dev.hasLinkHeader ? EthernetFrame.headerLength : 0)
        // UDP (UDP_SEGMENT) carries no TSQ charge: its datagrams go as cut.
        let tcpHeaderStart = network &+ (meta.gsoType.contains(.tcpv6) ? 40 : 20)
        let emitted = packet.cutGSO(network: network, metadata: meta, pool: stack.shard.pool) { p in
            var p = p
            if charge > 0 {
                // Its TCP bytes, as TCP charged the whole.
                let share = min(charge, p.count &- tcpHeaderStart)
                charge &-= share
                p.metadata.tsqOwner = owner
                p.metadata.tsqCharge = UInt16(truncatingIfNeeded: share)
            }
            deviceQueueTransmit(p, on: dev)
        }
        if charge > 0 { smallQueues.release(owner, UInt16(truncatingIfNeeded: charge)) }
        if emitted == nil {
            dev.statistics.txDropped &+= 1
            drop(packet, .skbGSOSeg)
        }
    }

    /// qdisc_run(): send every packet the root qdisc releases now.
    func qdiscRun(_ dev: NetDevice) {
        var n = 0
        while n < 4096, let p = dev.qdisc.dequeue(now: stack.now) {
            trace(p, .qdiscDequeue(device: dev.ifindex, qdisc: dev.qdisc.kind))
            deviceTransmit(p, on: dev)
            n += 1
        }
    }

    /// ndo_start_xmit of each driver.
    func deviceTransmit(_ packet: consuming PacketBuffer, on dev: NetDevice) {
        let length = UInt64(packet.count)
        // Guarded at the call: the event argument costs a memcpy even untraced.
        if packet.metadata.traceID != 0 { trace(packet, .driverTransmit(device: dev.ifindex)) }
        var packet = packet
        // The packet leaves the host's queues: its TCP socket gets its
        // charge back (TX completion's tcp_wfree; loopback, veth and tun
        // orphan at xmit — a TAP's host ring is not the socket's queue).
        if packet.metadata.tsqOwner != 0 { smallQueues.orphan(&packet.metadata) }
        // A GSO packet for a device that segments it (a vnet_hdr TAP's
        // kernel) gets every segment's checksum filled there.
        if case .partial = packet.metadata.checksum, !dev.features.contains(.hwChecksum),
           packet.metadata.gsoSize == 0 || !dev.takesGSO(packet.metadata.gsoType) {
            // validate_xmit_skb → skb_checksum_help: the device cannot fill
            // the checksum in, so it is done here (TUN/TAP without offload:
            // the host gets real bytes).
            guard completeChecksum(&packet) else {
                dev.statistics.txDropped &+= 1
                drop(packet, .nomem)
                return
            }
        }
        if dev.kind != .loopback, stack.capture != nil {  // lo: its receive is the one tap
            completeChecksumForCapture(&packet)
            capture(packet, on: dev)
        }
        switch dev.kind {
        case .loopback:
            // loopback_xmit: counted as sent and received, then netif_rx.
            dev.statistics.txPackets &+= 1
            dev.statistics.txBytes &+= length
            enqueueReceive(packet, on: dev)
        case .dummy:
            dev.statistics.txPackets &+= 1
            dev.statistics.txBytes &+= length
            _ = consume packet  // dummy_xmit consumes: not a drop
        case .veth:
            guard let peer = dev.peer, peer.isUp else {
                dev.statistics.txDropped &+= 1
                drop(packet, .devReady)
                return
            }
            dev.statistics.txPackets &+= 1
            dev.statistics.txBytes &+= length
            var p = packet
            // veth_xmit → dev_forward_skb scrubs the packet for the peer:
            // marks and metadata are reset; our trace id is kept so a
            // traced packet stays traced across the pair.
            // GSO and checksum state go with it (skb_scrub_packet keeps them):
            // the peer takes a GSO packet whole, as GRO would have built it.
            let trace = p.metadata.traceID
            let gsoSize = p.metadata.gsoSize, gsoType = p.metadata.gsoType, checksum = p.metadata.checksum
            p.metadata = PacketMetadata()
            p.metadata.traceID = trace
            p.metadata.gsoSize = gsoSize
            p.metadata.gsoType = gsoType
            p.metadata.checksum = checksum
            peer.namespace.enqueueReceive(p, on: peer)
        case .tap, .tun:
            // tun_net_xmit: no reader attached → dropped; a full ring
            // (txqueuelen) → dropped; else queued for the host to write.
            guard dev.hostAttached else {
                dev.statistics.txDropped &+= 1
                drop(packet, .devReady)
                return
            }
            dev.statistics.txPackets &+= 1
            dev.statistics.txBytes &+= length
            if let rejected = dev.hostTransmitRing.append(packet) {
                dev.statistics.txPackets &-= 1
                dev.statistics.txBytes &-= length
                dev.statistics.txDropped &+= 1
                drop(rejected, .fullRing)
                return
            }
            stack.hostTransmitPending = true
        }
    }

    /// skb_checksum_help() on the transmit path: unshares the bytes if
    /// needed and fills in a CHECKSUM_PARTIAL checksum. False when no
    /// buffer was there to unshare into.
    func completeChecksum(_ p: inout PacketBuffer) -> Bool {
        guard case .partial = p.metadata.checksum else { return true }
        if p.isShared {
            guard p.unshare(from: p.slotCapacity <= stack.shard.pool.slotSize ? stack.shard.pool : stack.largePool)
            else { return false }
        }
        return p.completePartialChecksum()
    }

    /// A capture file gets real bytes: a CHECKSUM_PARTIAL packet is
    /// completed before it is recorded (tcpdump on Linux would show the
    /// pseudo-header sum as a bad checksum; a pcap read by tshark or a
    /// test should verify). Only while capturing; if no buffer is free to
    /// unshare into, the frame is recorded as it is.
    func completeChecksumForCapture(_ p: inout PacketBuffer) {
        guard case .partial = p.metadata.checksum else { return }
        _ = completeChecksum(&p)
    }

    /// netif_rx(): queue a frame on the device's receive ring (the backlog).
    // Inlined: called through a device's unowned(unsafe) namespace (veth
    // xmit, NetDevice.receive), an out-of-line call kept that namespace
    // retained across it, a retain/release pair per packet.
    @inline(__always)
    func enqueueReceive(_ packet: consuming PacketBuffer, on dev: NetDevice) {
        if let rejected = dev.receiveRing.append(packet) {
            dev.statistics.rxDropped &+= 1
            drop(rejected, .cpuBacklog)
            stack.backlogFull = true
            return
        }
        // Nearly full: TCP stops here, leaving a NAPI budget of room for
        // what else arrives before the receiver drains (ACKs, other flows,
        // the segment a resumed sender sends first).
        if dev.receiveRing.count &+ stack.napiBudget >= dev.receiveRing.capacity { stack.backlogFull = true }
        hasPendingReceive = true
    }
}
