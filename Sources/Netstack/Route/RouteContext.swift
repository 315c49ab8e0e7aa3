// What the FIB needs to know about devices, without depending on the device
// layer: names (rules match iif/oif by name), admin/carrier state, the
// addresses for source selection, and the per-namespace sysctls that change
// a lookup. The namespace implements it; tests use `StaticRouteContext`.
import NetWire

/// One address on a device (struct in_ifaddr / inet6_ifaddr, reduced).
public struct RouteAddress: Hashable, Sendable {
    public var address: IPAddress
    public var prefixLength: Int
    public var scope: RouteScope
    /// IFA_F_SECONDARY (IPv4): not used for source selection.
    public var secondary: Bool
    /// IFA_F_DEPRECATED / tentative (IPv6): avoided as a source.
    public var deprecated: Bool

    public init(_ address: IPAddress, prefixLength: Int, scope: RouteScope = .universe,
                secondary: Bool = false, deprecated: Bool = false) {
        self.address = address
        self.prefixLength = prefixLength
        self.scope = scope
        self.secondary = secondary
        self.deprecated = deprecated
    }

    public var prefix: IPPrefix { IPPrefix(address, length: prefixLength).network }
}

/// The device facts a route lookup reads.
public protocol RouteContext {
    /// Every device's ifindex, ascending (the order Linux walks devices in).
    var deviceIndexes: [Int32] { get }
    var loopbackIndex: Int32 { get }
    func deviceName(_ ifindex: Int32) -> String?
    func deviceIndex(named name: String) -> Int32?
    /// IFF_UP.
    func isUp(_ ifindex: Int32) -> Bool
    /// Carrier (IFF_LOWER_UP); routes through a device without it print `linkdown`.
    func hasCarrier(_ ifindex: Int32) -> Bool
    /// The device's addresses of one family, primary ones first, in the order
    /// `ip addr` lists them.
    func addresses(_ ifindex: Int32, ipv4: Bool) -> [RouteAddress]
    /// net.ipv4.conf.DEV.forwarding / net.ipv6.conf.DEV.forwarding.
    func forwarding(_ ifindex: Int32, ipv4: Bool) -> Bool
    /// net.ipv4.fib_multipath_hash_policy / net.ipv6.fib_multipath_hash_policy (0 L3, 1 L4).
    func multipathHashPolicy(ipv4: Bool) -> Int
    /// Whether `address` is an address of a device here (as `addresses`
    /// lists them). The default walks `addresses`; a context on the packet
    /// path answers without building arrays.
    func isLocalAddress(_ address: IPAddress) -> Bool
}

extension RouteContext {
    public func isLocalAddress(_ address: IPAddress) -> Bool {
        deviceIndexes.contains { d in addresses(d, ipv4: address.isIPv4).contains { $0.address == address } }
    }
}

/// A plain-value context for tests, tools and benchmarks.
public struct StaticRouteContext: RouteContext, Sendable {
    public struct Device: Sendable {
        public var index: Int32
        public var name: String
        public var up: Bool
        public var carrier: Bool
        public var addresses: [RouteAddress]
        public init(index: Int32, name: String, up: Bool = true, carrier: Bool = true, addresses: [RouteAddress] = []) {
            self.index = index
            self.name = name
            self.up = up
            self.carrier = carrier
            self.addresses = addresses
        }
    }

    public var devices: [Device]
    public var ipv4Forwarding: Bool
    public var ipv6Forwarding: Bool
    public var hashPolicy4: Int
    public var hashPolicy6: Int

    /// Starts with `lo` (ifindex 1, 127.0.0.1/8 and ::1/128), up.
    public init(ipv4Forwarding: Bool = false, ipv6Forwarding: Bool = false) {
        devices = [Device(index: 1, name: "lo", addresses: [
            RouteAddress(.v4(.loopback), prefixLength: 8, scope: .host),
            RouteAddress(.v6(.loopback), prefixLength: 128, scope: .host),
        ])]
        self.ipv4Forwarding = ipv4Forwarding
        self.ipv6Forwarding = ipv6Forwarding
        hashPolicy4 = 0
        hashPolicy6 = 0
    }

    public mutating func addDevice(_ d: Device) {
        devices.append(d)
        devices.sort { $0.index < $1.index }
    }

    func device(_ i: Int32) -> Device? { devices.first { $0.index == i } }

    public var deviceIndexes: [Int32] { devices.map(\.index) }
    public var loopbackIndex: Int32 { 1 }
    public func deviceName(_ ifindex: Int32) -> String? { device(ifindex)?.name }
    public func deviceIndex(named name: String) -> Int32? { devices.first { $0.name == name }?.index }
    public func isUp(_ ifindex: Int32) -> Bool { device(ifindex)?.up ?? false }
    public func hasCarrier(_ ifindex: Int32) -> Bool { device(ifindex)?.carrier ?? false }
    public func addresses(_ ifindex: Int32, ipv4: Bool) -> [RouteAddress] {
        device(ifindex)?.addresses.filter { $0.address.isIPv4 == ipv4 } ?? []
    }
    public func forwarding(_ ifindex: Int32, ipv4: Bool) -> Bool { ipv4 ? ipv4Forwarding : ipv6Forwarding }
    public func multipathHashPolicy(ipv4: Bool) -> Int { ipv4 ? hashPolicy4 : hashPolicy6 }
    public func isLocalAddress(_ address: IPAddress) -> Bool {
        devices.contains { d in d.addresses.contains { $0.address == address } }
    }
}
