// The routing values shared by the FIB, the policy database, the IP layers
// and the control plane (rtnetlink's rtmsg/fib_rule_hdr with their
// attributes). Kernel counterparts: struct fib_config, struct fib_nh,
// struct fib_rule, struct flowi4/flowi6, struct fib_result.
//
// These are plain values: `ip route add …` parses into a `Route`, the FIB
// stores `Route`s, `ip route show` prints them. Devices are named by
// ifindex (Int32, as skb->skb_iif); printers map indexes to names.
import NetWire

/// rtm_type: what a route does with a matching packet.
public enum RouteType: UInt8, Sendable, CaseIterable {
    case unspec = 0, unicast = 1, local = 2, broadcast = 3, anycast = 4, multicast = 5
    case blackhole = 6, unreachable = 7, prohibit = 8, `throw` = 9, nat = 10

    /// The keyword iproute2 prints and parses (rtnl_rtntype_n2a).
    public var name: String {
        switch self {
        case .unspec: "none"
        case .unicast: "unicast"
        case .local: "local"
        case .broadcast: "broadcast"
        case .anycast: "anycast"
        case .multicast: "multicast"
        case .blackhole: "blackhole"
        case .unreachable: "unreachable"
        case .prohibit: "prohibit"
        case .throw: "throw"
        case .nat: "nat"
        }
    }
    public init?(name: String) {
        // A switch, not a search through `allCases` building every name:
        // `ip route add` asks this of each destination token.
        switch name {
        case "none": self = .unspec
        case "unicast": self = .unicast
        case "local": self = .local
        case "broadcast": self = .broadcast
        case "anycast": self = .anycast
        case "multicast": self = .multicast
        case "blackhole": self = .blackhole
        case "unreachable": self = .unreachable
        case "prohibit": self = .prohibit
        case "throw": self = .throw
        case "nat": self = .nat
        default: return nil
        }
    }
}

/// rtm_scope (RT_SCOPE_*).
public struct RouteScope: RawRepresentable, Hashable, Comparable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let universe = RouteScope(rawValue: 0)
    public static let site = RouteScope(rawValue: 200)
    public static let link = RouteScope(rawValue: 253)
    public static let host = RouteScope(rawValue: 254)
    public static let nowhere = RouteScope(rawValue: 255)
    public static func < (a: RouteScope, b: RouteScope) -> Bool { a.rawValue < b.rawValue }

    /// rtnl_rtscope_n2a: "global" for universe, a number when unnamed.
    public var name: String {
        switch rawValue {
        case 0: "global"
        case 200: "site"
        case 253: "link"
        case 254: "host"
        case 255: "nowhere"
        default: String(rawValue)
        }
    }
    public init?(name: String) {
        switch name {
        case "global", "universe": self = .universe
        case "site": self = .site
        case "link": self = .link
        case "host": self = .host
        case "nowhere": self = .nowhere
        default:
            guard let n = UInt8(name) else { return nil }
            self.init(rawValue: n)
        }
    }
}

/// rtm_protocol (RTPROT_*): who installed the route.
public struct RouteProtocol: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let unspec = RouteProtocol(rawValue: 0)
    public static let redirect = RouteProtocol(rawValue: 1)
    public static let kernel = RouteProtocol(rawValue: 2)
    public static let boot = RouteProtocol(rawValue: 3)
    public static let `static` = RouteProtocol(rawValue: 4)
    public static let ra = RouteProtocol(rawValue: 9)
    public static let dhcp = RouteProtocol(rawValue: 16)

    /// rtnl_rtprot_n2a, as /etc/iproute2/rt_protos names them.
    public var name: String {
        switch rawValue {
        case 0: "unspec"
        case 1: "redirect"
        case 2: "kernel"
        case 3: "boot"
        case 4: "static"
        case 8: "gated"
        case 9: "ra"
        case 10: "mrt"
        case 11: "zebra"
        case 12: "bird"
        case 13: "dnrouted"
        case 14: "xorp"
        case 15: "ntk"
        case 16: "dhcp"
        case 42: "babel"
        case 186: "bgp"
        case 187: "isis"
        case 188: "ospf"
        case 189: "rip"
        case 192: "eigrp"
        default: String(rawValue)
        }
    }
    public init?(name: String) {
        if let n = UInt8(name) { self.init(rawValue: n); return }
        // Only the named values (the rest print as numbers, which UInt8 read).
        for v: UInt8 in [0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15, 16, 42, 186, 187, 188, 189, 192]
        where RouteProtocol(rawValue: v).name == name {
            self.init(rawValue: v); return
        }
        return nil
    }
}

/// The well-known table ids (RT_TABLE_*).
public enum RouteTableID {
    public static let unspec: UInt32 = 0
    public static let `default`: UInt32 = 253
    public static let main: UInt32 = 254
    public static let local: UInt32 = 255

    /// rtnl_rttable_n2a.
    public static func name(_ id: UInt32) -> String {
        switch id {
        case 253: "default"
        case 254: "main"
        case 255: "local"
        default: String(id)
        }
    }
    public static func parse(_ text: String) -> UInt32? {
        switch text {
        case "default": 253
        case "main": 254
        case "local": 255
        default: UInt32(text)
        }
    }
}

/// RTNH_F_*: next-hop flags.
public struct NextHopFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let dead = NextHopFlags(rawValue: 1)
    public static let pervasive = NextHopFlags(rawValue: 2)
    public static let onlink = NextHopFlags(rawValue: 4)
    public static let offload = NextHopFlags(rawValue: 8)
    public static let linkdown = NextHopFlags(rawValue: 16)
    public static let unresolved = NextHopFlags(rawValue: 32)
}

/// One next hop (struct fib_nh): a gateway and/or an output device.
public struct NextHop: Hashable, Sendable {
    public var gateway: IPAddress?
    /// Output device ifindex; 0 when not yet resolved.
    public var device: Int32
    /// ECMP weight, 1…256 (iproute2's `weight`; rtnh_hops + 1).
    public var weight: Int
    public var flags: NextHopFlags

    public init(gateway: IPAddress? = nil, device: Int32 = 0, weight: Int = 1, flags: NextHopFlags = []) {
        self.gateway = gateway
        self.device = device
        self.weight = weight
        self.flags = flags
    }
}

/// A FIB entry and an RTM_NEWROUTE message body at once.
public struct Route: Hashable, Sendable {
    public var table: UInt32
    public var destination: IPPrefix
    public var type: RouteType
    public var scope: RouteScope
    public var proto: RouteProtocol
    /// The route's priority (`metric`): lower wins among equal prefixes.
    public var metric: UInt32
    /// `tos`/`dsfield` key.
    public var tos: UInt8
    /// `src`: preferred source address for locally generated packets.
    public var preferredSource: IPAddress?
    /// One entry for a plain route, several for multipath (ECMP).
    public var nextHops: [NextHop]
    /// RTAX_MTU (`mtu`), RTAX_ADVMSS (`advmss`); nil when unset.
    public var mtu: UInt32?
    public var advmss: UInt32?
    /// `mtu lock`.
    public var mtuLocked: Bool
    /// RTM_F_* / route flags kept for printing (e.g. `linkdown`, `offload`).
    public var expires: Instant?
    /// IPv6 route preference from RAs (`pref medium|high|low`); nil when unset.
    public var preference: Int8?

    public init(table: UInt32 = RouteTableID.main, destination: IPPrefix, type: RouteType = .unicast,
                scope: RouteScope = .universe, proto: RouteProtocol = .boot, metric: UInt32 = 0,
                tos: UInt8 = 0, preferredSource: IPAddress? = nil, nextHops: [NextHop] = [],
                mtu: UInt32? = nil, advmss: UInt32? = nil, mtuLocked: Bool = false,
                expires: Instant? = nil, preference: Int8? = nil) {
        self.table = table
        self.destination = destination
        self.type = type
        self.scope = scope
        self.proto = proto
        self.metric = metric
        self.tos = tos
        self.preferredSource = preferredSource
        self.nextHops = nextHops
        self.mtu = mtu
        self.advmss = advmss
        self.mtuLocked = mtuLocked
        self.expires = expires
        self.preference = preference
    }

    public var isIPv4: Bool { destination.isIPv4 }
    public var isMultipath: Bool { nextHops.count > 1 }
}

/// What a policy rule does when it matches (FR_ACT_*).
public enum RuleAction: Hashable, Sendable {
    /// FR_ACT_TO_TBL: look up this table.
    case table(UInt32)
    /// FR_ACT_GOTO: continue at the first rule with this priority or later.
    case goto(UInt32)
    /// FR_ACT_NOP.
    case nop
    /// FR_ACT_BLACKHOLE, FR_ACT_UNREACHABLE, FR_ACT_PROHIBIT.
    case blackhole, unreachable, prohibit
}

/// A policy routing rule (struct fib_rule), `ip rule add …`.
public struct RoutingRule: Hashable, Sendable {
    public var isIPv4: Bool
    public var priority: UInt32
    /// `not`: invert the selector.
    public var invert: Bool
    public var source: IPPrefix?
    public var destination: IPPrefix?
    /// `iif NAME` / `oif NAME`: Linux keeps names so rules survive device churn.
    public var iif: String?
    public var oif: String?
    public var fwmark: UInt32?
    public var fwmask: UInt32
    public var ipproto: UInt8?
    public var sourcePorts: ClosedRange<UInt16>?
    public var destinationPorts: ClosedRange<UInt16>?
    /// `tos`/`dsfield` (0: any).
    public var tos: UInt8
    /// `uidrange` is not modelled (no uids in a lab).
    public var action: RuleAction
    /// `suppress_prefixlength N`: reject a table's answer whose prefix is ≤ N.
    public var suppressPrefixLength: Int?
    /// `suppress_ifgroup`.
    public var suppressInterfaceGroup: Int32?
    public var proto: RouteProtocol

    public init(isIPv4: Bool, priority: UInt32, invert: Bool = false, source: IPPrefix? = nil,
                destination: IPPrefix? = nil, iif: String? = nil, oif: String? = nil,
                fwmark: UInt32? = nil, fwmask: UInt32 = 0xFFFF_FFFF, ipproto: UInt8? = nil,
                sourcePorts: ClosedRange<UInt16>? = nil, destinationPorts: ClosedRange<UInt16>? = nil,
                tos: UInt8 = 0, action: RuleAction, suppressPrefixLength: Int? = nil,
                suppressInterfaceGroup: Int32? = nil, proto: RouteProtocol = .unspec) {
        self.isIPv4 = isIPv4
        self.priority = priority
        self.invert = invert
        self.source = source
        self.destination = destination
        self.iif = iif
        self.oif = oif
        self.fwmark = fwmark
        self.fwmask = fwmask
        self.ipproto = ipproto
        self.sourcePorts = sourcePorts
        self.destinationPorts = destinationPorts
        self.tos = tos
        self.action = action
        self.suppressPrefixLength = suppressPrefixLength
        self.suppressInterfaceGroup = suppressInterfaceGroup
        self.proto = proto
    }

    /// The three rules every namespace starts with (fib_default_rules_init):
    /// 0 local, 32766 main, 32767 default (the last is IPv4 only).
    public static func defaults(ipv4: Bool) -> [RoutingRule] {
        var rules = [
            RoutingRule(isIPv4: ipv4, priority: 0, action: .table(RouteTableID.local), proto: .kernel),
            RoutingRule(isIPv4: ipv4, priority: 32766, action: .table(RouteTableID.main), proto: .kernel),
        ]
        if ipv4 {
            rules.append(RoutingRule(isIPv4: true, priority: 32767, action: .table(RouteTableID.default), proto: .kernel))
        }
        return rules
    }
}

/// The lookup key (struct flowi4 / flowi6).
public struct FlowKey: Hashable, Sendable {
    public var destination: IPAddress
    /// Unspecified (0.0.0.0 / ::) when the source is not chosen yet.
    public var source: IPAddress
    /// Input device for forwarded packets (0 for locally generated).
    public var iif: Int32
    /// Output device when bound (SO_BINDTODEVICE, `ip route get … oif`), else 0.
    public var oif: Int32
    public var mark: UInt32
    public var ipproto: UInt8
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var tos: UInt8
    /// IPv6 flow label (for the multipath hash).
    public var flowLabel: UInt32

    public init(destination: IPAddress, source: IPAddress? = nil, iif: Int32 = 0, oif: Int32 = 0,
                mark: UInt32 = 0, ipproto: UInt8 = 0, sourcePort: UInt16 = 0,
                destinationPort: UInt16 = 0, tos: UInt8 = 0, flowLabel: UInt32 = 0) {
        self.destination = destination
        self.source = source ?? (destination.isIPv4 ? .v4(.any) : .v6(.any))
        self.iif = iif
        self.oif = oif
        self.mark = mark
        self.ipproto = ipproto
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.tos = tos
        self.flowLabel = flowLabel
    }
}

/// Why a lookup gave no usable route; the errno the caller reports
/// (`ip route get` prints `RTNETLINK answers: Network is unreachable`).
public enum RouteError: Error, Hashable, Sendable {
    /// ENETUNREACH: no route, or an `unreachable` route/rule.
    case networkUnreachable
    /// EHOSTUNREACH: e.g. an IPv6 `unreachable` route, or no source address.
    case hostUnreachable
    /// EACCES: a `prohibit` route or rule.
    case prohibited
    /// EINVAL: a `blackhole` route or rule (Linux reports EINVAL to `ip route get`).
    case blackhole
    /// EINVAL for bad keys (e.g. a martian source on input).
    case invalid
    /// EXDEV: the input path rejected the source (rp_filter).
    case crossDevice

    /// The strerror text iproute2 prints after "RTNETLINK answers: ".
    public var message: String {
        switch self {
        case .networkUnreachable: "Network is unreachable"
        case .hostUnreachable: "No route to host"
        case .prohibited: "Permission denied"
        case .blackhole, .invalid: "Invalid argument"
        case .crossDevice: "Invalid cross-device link"
        }
    }
}

/// The answer to a lookup (struct fib_result + the dst it yields).
public struct RouteDecision: Hashable, Sendable {
    /// The route that matched (for multipath, the whole route).
    public var route: Route
    /// The next hop chosen (multipath: by the hash policy).
    public var nextHop: NextHop
    /// The index of `nextHop` in `route.nextHops` (0 for a single path).
    public var nextHopIndex: Int
    /// The table the answer came from.
    public var table: UInt32
    /// The priority of the policy rule that led to it.
    public var rulePriority: UInt32
    /// The source address to use (preferred source or the device's address).
    public var source: IPAddress?
    /// The packet leaves by the device it came in on to an on-link
    /// sender (IPSKB_DOREDIRECT; `ip route get` prints `cache <redirect>`).
    public var redirect: Bool = false

    public init(route: Route, nextHop: NextHop, nextHopIndex: Int, table: UInt32, rulePriority: UInt32,
                source: IPAddress? = nil) {
        self.route = route
        self.nextHop = nextHop
        self.nextHopIndex = nextHopIndex
        self.table = table
        self.rulePriority = rulePriority
        self.source = source
    }

    public var type: RouteType { route.type }
}

/// The parts of a route decision the IPv4 forward and output paths read
/// (what struct rtable caches for a dst: rt_type, rt_gw4, the device, the
/// `mtu` metric). A plain value without references: the forwarding fast
/// path builds it from a `FIBLeaf`, the general path from a `RouteDecision`.
public struct RouteDst: Sendable, Equatable {
    public var type: RouteType
    /// Output device ifindex.
    public var device: Int32
    /// The next hop's gateway; nil when the destination is on link.
    public var gateway: IPAddress?
    /// The route's `mtu` metric (0: unset).
    public var mtu: UInt32

    public init(type: RouteType, device: Int32, gateway: IPAddress?, mtu: UInt32) {
        self.type = type
        self.device = device
        self.gateway = gateway
        self.mtu = mtu
    }

    public init(_ d: RouteDecision) {
        self.init(type: d.route.type, device: d.nextHop.device, gateway: d.nextHop.gateway, mtu: d.route.mtu ?? 0)
    }

    /// From a `simple` IPv4 leaf (one route, one live next hop).
    @inlinable
    public init(leaf: FIBLeaf) {
        self.init(type: leaf.type, device: leaf.device,
                  gateway: leaf.gateway != 0 ? .v4(IPv4Address(rawValue: leaf.gateway)) : nil, mtu: leaf.mtu)
    }
}

/// The forwarding fast path's answer for a received IPv4 packet
/// (`NetworkNamespace.routeInputFast4`).
public enum FastInputDecision4: Sendable, Equatable {
    /// Forward it along this route.
    case forward(RouteDst)
    /// No route (routeInput would fail with ENETUNREACH).
    case noRoute
    /// Ask `routeInput`.
    case general
}
