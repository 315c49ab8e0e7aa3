// NetDevice: struct net_device. Kernel counterparts: include/linux/netdevice.h,
// drivers/net/loopback.c, drivers/net/veth.c, drivers/net/dummy.c,
// net/core/dev.c (dev_open/dev_close, netif_carrier_on/off, dev_queue_xmit,
// the per-CPU backlog and NAPI poll).
//
// What a device promises:
// - An ifindex unique in its namespace, a name, a kind, a MAC, an MTU within
//   the kind's bounds, IFF_* flags, carrier and RFC 2863 operstate exactly as
//   `ip link` shows them (veth: LOWER_UP only while both ends are up).
// - Transmit goes through the device's qdisc (`Qdisc`), then the driver:
//   loopback hands the frame back to its own receive ring, a veth to its
//   peer's, a dummy consumes it (counted as sent).
// - Receive rings are bounded (netdev_max_backlog); a full ring drops with
//   a reason. The stack polls rings with a NAPI budget per round.
// - `ip -s link` counters (struct rtnl_link_stats64) per device.
//
// Devices are few and long-lived, so a device is a class; the per-packet
// path reads its fields but never allocates.
import NetWire

/// The kinds of device this stack implements (the `type` of `ip link add`).
public enum DeviceKind: Sendable, Equatable {
    case loopback
    case veth
    case dummy
    /// A TAP device (drivers/net/tun.c, IFF_TAP): Ethernet frames to and
    /// from a host file descriptor that the stack's host attaches.
    case tap
    /// A TUN device (IFF_TUN): IP packets with no link-layer header.
    case tun

    /// The name `ip -d link` and `ip link add … type` use (`tun` for both
    /// TUN and TAP, as the kernel's rtnl_link_ops).
    public var name: String {
        switch self {
        case .loopback: "loopback"
        case .veth: "veth"
        case .dummy: "dummy"
        case .tap, .tun: "tun"
        }
    }

    /// TUN and TAP: the far side is a host file descriptor.
    public var isHostPort: Bool { self == .tap || self == .tun }
}

/// netdev_features_t: the offloads a device's driver does, the part of
/// them this stack acts on (`ethtool -k` names in the comments).
public struct DeviceFeatures: OptionSet, Sendable, Hashable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// NETIF_F_HW_CSUM (tx-checksum-ip-generic, "tx-checksumming"): the
    /// device fills in a CHECKSUM_PARTIAL checksum itself, so the stack
    /// leaves it; without it the transmit path completes it in software
    /// (validate_xmit_skb → skb_checksum_help). Loopback, veth and dummy
    /// have it, as in Linux (the bytes never reach a wire); TUN/TAP do not
    /// by default: their host driver turns it on when it can pass partial
    /// checksums on (vnet_hdr).
    public static let hwChecksum = DeviceFeatures(rawValue: 1 << 0)
    /// NETIF_F_GSO_UDP_L4 (tx-udp-segmentation): the device takes a UDP
    /// GSO packet (UDP_SEGMENT, gso_type udpL4) whole — a veth or loopback
    /// hands it on, a vnet_hdr TAP whose reader negotiated TUN_F_USO4|USO6
    /// gives it to the kernel as one USO frame. Without it the stack cuts
    /// it into datagrams before the qdisc. On for loopback, veth and dummy,
    /// as on Linux; TUN/TAP only when their host driver negotiated USO.
    public static let udpSegmentation = DeviceFeatures(rawValue: 1 << 1)
}

/// IFF_* device flags (include/uapi/linux/if.h), in Linux's bit positions.
public struct DeviceFlags: OptionSet, Sendable, Hashable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let up = DeviceFlags(rawValue: 0x1)
    public static let broadcast = DeviceFlags(rawValue: 0x2)
    public static let debug = DeviceFlags(rawValue: 0x4)
    public static let loopback = DeviceFlags(rawValue: 0x8)
    public static let pointToPoint = DeviceFlags(rawValue: 0x10)
    public static let noTrailers = DeviceFlags(rawValue: 0x20)
    public static let running = DeviceFlags(rawValue: 0x40)
    public static let noARP = DeviceFlags(rawValue: 0x80)
    public static let promisc = DeviceFlags(rawValue: 0x100)
    public static let allMulti = DeviceFlags(rawValue: 0x200)
    public static let multicast = DeviceFlags(rawValue: 0x1000)
    public static let lowerUp = DeviceFlags(rawValue: 0x10000)
    public static let dormant = DeviceFlags(rawValue: 0x20000)
}

/// RFC 2863 operational state (IF_OPER_*), as `ip link` prints it.
public enum OperState: UInt8, Sendable {
    case unknown = 0, notPresent = 1, down = 2, lowerLayerDown = 3, testing = 4, dormant = 5, up = 6
    public var name: String {
        switch self {
        case .unknown: "UNKNOWN"
        case .notPresent: "NOTPRESENT"
        case .down: "DOWN"
        case .lowerLayerDown: "LOWERLAYERDOWN"
        case .testing: "TESTING"
        case .dormant: "DORMANT"
        case .up: "UP"
        }
    }
}

/// struct rtnl_link_stats64, the fields `ip -s -s link` prints.
public struct DeviceStatistics: Sendable, Equatable {
    public var rxPackets: UInt64 = 0, txPackets: UInt64 = 0
    public var rxBytes: UInt64 = 0, txBytes: UInt64 = 0
    public var rxErrors: UInt64 = 0, txErrors: UInt64 = 0
    public var rxDropped: UInt64 = 0, txDropped: UInt64 = 0
    public var multicast: UInt64 = 0, collisions: UInt64 = 0
    public var rxLengthErrors: UInt64 = 0, rxOverErrors: UInt64 = 0, rxCRCErrors: UInt64 = 0
    public var rxFrameErrors: UInt64 = 0, rxFIFOErrors: UInt64 = 0, rxMissedErrors: UInt64 = 0
    public var txAbortedErrors: UInt64 = 0, txCarrierErrors: UInt64 = 0, txFIFOErrors: UInt64 = 0
    public var txHeartbeatErrors: UInt64 = 0, txWindowErrors: UInt64 = 0
    public var rxNoHandler: UInt64 = 0
    public init() {}
}

/// Per-device IPv4 settings (struct ipv4_devconf): net.ipv4.conf.DEV.*.
public struct IPv4DeviceConfig: Sendable, Equatable {
    public var forwarding = 0
    public var rpFilter = 0
    public var acceptRedirects = 1
    public var sendRedirects = 1
    public var secureRedirects = 1
    public var acceptLocal = 0
    public var routeLocalnet = 0
    public var arpIgnore = 0
    public var arpAnnounce = 0
    public var arpAccept = 0
    public var arpNotify = 0
    public var arpFilter = 0
    public var proxyARP = 0
    public var acceptSourceRoute = 0
    public var logMartians = 0
    public var disablePolicy = 0
    public var ignoreRoutesWithLinkdown = 0
    public init() {}
}

/// Per-device IPv6 settings (struct ipv6_devconf): net.ipv6.conf.DEV.*.
public struct IPv6DeviceConfig: Sendable, Equatable {
    public var forwarding = 0
    public var hopLimit = 64
    public var mtu = 1280
    public var acceptRA = 1
    public var acceptRedirects = 1
    public var autoconf = 1
    public var dadTransmits = 1
    public var routerSolicitations = -1
    public var routerSolicitationInterval = 4
    public var disableIPv6 = 0
    public var acceptDAD = 1
    public var addrGenMode = 0
    public init() {}
}

/// A network device in one namespace.
public final class NetDevice {
    public let kind: DeviceKind
    /// The ifindex, unique in the device's namespace (it may change when the
    /// device moves to another namespace and the index is taken there).
    // The fields below marked @exclusivity(unchecked) are read per packet;
    // a device is touched only by the thread of the shard that owns its
    // namespace (the control plane writes them between polls), so no two
    // accesses can overlap and the runtime check would only cost time.
    @exclusivity(unchecked) public internal(set) var ifindex: Int32
    public internal(set) var name: String
    public var alias: String?
    @exclusivity(unchecked) public internal(set) var mac: MACAddress
    public let broadcastMAC: MACAddress
    @exclusivity(unchecked) public internal(set) var mtu: Int
    public let minMTU: Int
    public let maxMTU: Int
    /// Administrative flags (IFF_UP etc.; LOWER_UP and RUNNING are derived).
    @exclusivity(unchecked) public internal(set) var adminFlags: DeviceFlags
    public var txQueueLength: Int
    public var group: UInt32 = 0
    // Touched per packet by the namespace's thread only (the shard that owns
    // the device): no dynamic exclusivity check.
    @exclusivity(unchecked) public internal(set) var statistics = DeviceStatistics()
    @exclusivity(unchecked) public var ipv4 = IPv4DeviceConfig()
    @exclusivity(unchecked) public var ipv6 = IPv6DeviceConfig()
    /// The namespace the device lives in. unowned(unsafe): read per packet,
    /// and a checked unowned load is an atomic retain/release pair. The
    /// namespace holds the device in `devices` for as long as the device
    /// is in use; a device is used only through its namespace.
    @exclusivity(unchecked) public internal(set) unowned(unsafe) var namespace: NetworkNamespace
    /// A veth's other end (it may live in another namespace). Not `weak`:
    /// a weakly referenced object gets a side table and then every retain
    /// and release of it takes the runtime's slow path (doDecrementSlow),
    /// which showed in the per-packet profile. `deleteLink` clears both
    /// ends before either goes, so the reference never dangles.
    @exclusivity(unchecked) public internal(set) unowned(unsafe) var peer: NetDevice?
    /// The offloads the device does (dev->features); see `DeviceFeatures`.
    @exclusivity(unchecked) public var features: DeviceFeatures
    /// The transmit qdisc (root). `noqueue` hands packets straight to the driver.
    /// Loopback, veth and dummy are IFF_NO_QUEUE devices: their default is noqueue.
    @exclusivity(unchecked) public var qdisc: Qdisc
    /// The qdisc handle allocator (`8001:`, `8002:`…), per device as Linux's is per device.
    public var qdiscHandles = QdiscHandleAllocator()
    /// The device as the qdisc code sees it.
    public var qdiscInfo: QdiscDeviceInfo {
        QdiscDeviceInfo(txQueueLength: UInt32(txQueueLength), mtu: UInt32(mtu), noQueue: true)
    }
    /// NETIF_F_TSO / NETIF_F_GSO_SOFTWARE (ethtool's tcp-segmentation-
    /// offload): the device takes TCP packets of up to 64 KiB carrying
    /// `gsoSize` — a veth or loopback hands them on whole, a vnet_hdr TAP
    /// gives them to the kernel as TSO frames. Where it is off, the stack
    /// cuts them into MSS segments before the qdisc (validate_xmit_skb).
    /// On for veth, loopback and dummy, as on Linux; TUN/TAP only with
    /// vnet_hdr (the host driver turns it on).
    @exclusivity(unchecked) public var segmentationOffload: Bool
    /// NETIF_F_GSO (ethtool's generic-segmentation-offload), on for every
    /// device as on Linux: TCP builds GSO packets for a route out of this
    /// device (sk_can_gso); without `segmentationOffload` they are cut just
    /// before the device, still one trip through IP and the neighbour.
    @exclusivity(unchecked) public var genericSegmentation = true

    /// netif_gso_ok for the packet's gso_type: whether the device takes a
    /// GSO packet of `type` whole (TCP: `segmentationOffload`, UDP:
    /// `.udpSegmentation`), or the stack must cut it first.
    @inline(__always)
    public func takesGSO(_ type: GSOType) -> Bool {
        type.contains(.udpL4) ? features.contains(.udpSegmentation) : segmentationOffload
    }
    /// Frames received and not yet processed (the backlog / rx ring).
    @exclusivity(unchecked) var receiveRing: PacketBatch
    /// The hh_cache of the next hops this device sends to (NeighbourCache.swift).
    /// Per packet, by the namespace's thread only: no dynamic exclusivity check.
    @exclusivity(unchecked) var neighbourCache = NeighbourHeaderCache()
    /// IPv4 and IPv6 addresses, in the order they were added (in_device / inet6_dev).
    @exclusivity(unchecked) public internal(set) var addresses: [InterfaceAddress] = [] {
        // The namespace keeps a flat list of its IPv4 addresses for the
        // per-packet "is this source ours" check; any change rebuilds it.
        didSet {
            namespace.localIPv4Dirty = true
            // Flags too (tentative, deprecated) decide source addresses.
            namespace.stack.routeConfigurationChanged()
        }
    }

    init(kind: DeviceKind, ifindex: Int32, name: String, mac: MACAddress, namespace: NetworkNamespace,
         receiveRingCapacity: Int = 1000) {
        self.kind = kind
        self.ifindex = ifindex
        self.name = name
        self.mac = mac
        self.namespace = namespace
        switch kind {
        case .loopback:
            broadcastMAC = .zero
            mtu = 65536; minMTU = 0; maxMTU = 0
            adminFlags = [.loopback]
            txQueueLength = 1000
        case .veth:
            broadcastMAC = .broadcast
            mtu = 1500; minMTU = 68; maxMTU = 65535
            adminFlags = [.broadcast, .multicast]
            txQueueLength = 1000
        case .dummy:
            broadcastMAC = .broadcast
            mtu = 1500; minMTU = 0; maxMTU = 0
            adminFlags = [.broadcast, .noARP]
            txQueueLength = 1000
        case .tap:
            // tun_net_init for IFF_TAP: ether_setup, max_mtu 65535 - ETH_HLEN.
            broadcastMAC = .broadcast
            mtu = 1500; minMTU = 68; maxMTU = 65521
            adminFlags = [.broadcast, .multicast]
            txQueueLength = 1000
        case .tun:
            // IFF_TUN: ARPHRD_NONE, point-to-point, no ARP, qlen 500.
            broadcastMAC = .zero
            mtu = 1500; minMTU = 68; maxMTU = 65535
            adminFlags = [.pointToPoint, .multicast, .noARP]
            txQueueLength = 500
        }
        segmentationOffload = !kind.isHostPort
        features = kind.isHostPort ? [] : [.hwChecksum, .udpSegmentation]
        qdisc = Qdisc.makeDefault(for: QdiscDeviceInfo(txQueueLength: UInt32(txQueueLength), mtu: UInt32(mtu),
                                                       noQueue: !kind.isHostPort))
        receiveRing = PacketBatch(capacity: receiveRingCapacity)
        hostTransmitRing = PacketBatch(capacity: kind.isHostPort ? txQueueLength : 1)
    }

    // MARK: host ports (TUN/TAP)

    /// Whether a host file descriptor is attached (tun_attach): a TUN/TAP
    /// device has carrier only then. A lab's `ip tuntap add` makes a
    /// persistent device with nobody attached, as on Linux.
    public internal(set) var hostAttached = false
    /// The flags `ip tuntap add` gave (pi, vnet_hdr, multi_queue, owner).
    public internal(set) var tunTapOptions = TunTapOptions()
    /// Frames the device transmitted towards its host file descriptor (the
    /// tun's ptr_ring, txqueuelen long): the host writes them out after each
    /// poll with `takeHostTransmit`.
    @exclusivity(unchecked) var hostTransmitRing: PacketBatch

    /// The frames queued for the host side, oldest first (TAP: Ethernet
    /// frames; TUN: IP packets), handed to `body` and gone from the device.
    public func takeHostTransmit(_ body: (consuming PacketBuffer) -> Void) {
        hostTransmitRing.drain(body)
    }

    /// Whether frames wait for the host side.
    public var hasHostTransmit: Bool { !hostTransmitRing.isEmpty }

    /// Whether the device carries an Ethernet header (all but TUN).
    public var hasLinkHeader: Bool { kind != .tun }

    public var isUp: Bool { adminFlags.contains(.up) }
    /// Whether the device was ever up: until then it has the `noop` qdisc.
    public internal(set) var hasBeenUp = false
    /// Whether the routes of its addresses are in the FIB (device up).
    var routesInstalled = false

    /// netif_carrier_ok(): loopback and dummy always have carrier; a veth
    /// has it when both ends are up.
    public var hasCarrier: Bool {
        switch kind {
        case .loopback, .dummy: true
        case .veth: isUp && (peer?.isUp ?? false)
        case .tap, .tun: hostAttached
        }
    }

    /// Whether packets can be sent: IFF_UP and carrier.
    public var isRunning: Bool { isUp && hasCarrier }

    /// The flags as `ip link` prints them (dev_get_flags plus NO-CARRIER).
    public var flags: DeviceFlags {
        var f = adminFlags
        if isUp && hasCarrier { f.insert(.lowerUp); f.insert(.running) }
        return f
    }

    /// IF_OPER_*: loopback and dummy stay UNKNOWN (no operstate driver),
    /// a veth is UP with carrier, DOWN otherwise.
    public var operState: OperState {
        guard isUp else { return .down }
        switch kind {
        case .loopback, .dummy: return .unknown
        case .tap, .tun: return hasCarrier ? .unknown : .down  // tun sets no operstate of its own
        case .veth:
            if hasCarrier { return .up }
            // rfc2863_policy: LOWERLAYERDOWN when the device named by its
            // iflink (the peer's ifindex, looked up in this namespace) is down.
            if let p = peer, let lower = namespace.device(index: p.ifindex), lower !== self, !lower.isUp {
                return .lowerLayerDown
            }
            return .down
        }
    }

    /// The link type `ip link` prints after `link/`.
    public var linkTypeName: String {
        switch kind {
        case .loopback: "loopback"
        case .tun: "none"
        default: "ether"
        }
    }

    /// ARPHRD: whether the device carries Ethernet headers (all kinds here do;
    /// loopback uses an all-zero Ethernet header as Linux's does).
    public var usesARP: Bool { !adminFlags.contains(.noARP) && kind != .loopback && kind != .tun }
}

/// An interface address (struct in_ifaddr / inet6_ifaddr).
public struct InterfaceAddress: Hashable, Sendable {
    public var prefix: IPPrefix
    /// IPv4 `peer` address for point-to-point (unused here, kept for printing).
    public var broadcast: IPv4Address?
    public var scope: RouteScope
    /// IPv4 label (`eth0:1`); nil prints the device name.
    public var label: String?
    public var flags: AddressFlags
    /// Lifetimes in seconds; nil is forever.
    public var validLifetime: UInt32?
    public var preferredLifetime: UInt32?
    public var metric: UInt32
    /// When it was added (for lifetimes and DAD).
    public var created: Instant

    public init(prefix: IPPrefix, broadcast: IPv4Address? = nil, scope: RouteScope = .universe,
                label: String? = nil, flags: AddressFlags = [.permanent], validLifetime: UInt32? = nil,
                preferredLifetime: UInt32? = nil, metric: UInt32 = 0, created: Instant = .zero) {
        self.prefix = prefix
        self.broadcast = broadcast
        self.scope = scope
        self.label = label
        self.flags = flags
        self.validLifetime = validLifetime
        self.preferredLifetime = preferredLifetime
        self.metric = metric
        self.created = created
    }

    public var address: IPAddress { prefix.address }
    public var isIPv4: Bool { prefix.isIPv4 }
}

/// IFA_F_* address flags.
public struct AddressFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let secondary = AddressFlags(rawValue: 0x01)
    public static let nodad = AddressFlags(rawValue: 0x02)
    public static let optimistic = AddressFlags(rawValue: 0x04)
    public static let dadFailed = AddressFlags(rawValue: 0x08)
    public static let homeAddress = AddressFlags(rawValue: 0x10)
    public static let deprecated = AddressFlags(rawValue: 0x20)
    public static let tentative = AddressFlags(rawValue: 0x40)
    public static let permanent = AddressFlags(rawValue: 0x80)
    public static let manageTempAddr = AddressFlags(rawValue: 0x100)
    public static let noPrefixRoute = AddressFlags(rawValue: 0x200)
    public static let mcAutoJoin = AddressFlags(rawValue: 0x400)
    public static let stablePrivacy = AddressFlags(rawValue: 0x800)
}
