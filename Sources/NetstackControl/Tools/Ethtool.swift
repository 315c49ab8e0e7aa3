// `ethtool -k` / `ethtool -K` (ethtool 6.1 over netlink) on a stack's devices.
// Kernel counterparts: net/ethtool/features.c (ETHTOOL_MSG_FEATURES_GET/SET,
// ethnl_set_features), net/core/dev.c (netdev_fix_features,
// __netdev_update_features), include/linux/netdev_features.h (the bits and
// their names, net/ethtool/common.c netdev_features_strings),
// drivers/net/tun.c (tun_net_fix_features, TUNSETOFFLOAD).
//
// Each device has hw (changeable), wanted and active feature bits. The
// starting state of each device kind is the one Linux 6.18 reports for a new
// device of that kind (captured with `ethtool -k`). `-K` changes wanted bits
// that are changeable, then recomputes active bits as netdev_fix_features
// does for the dependencies modelled here (TSO needs SG and a checksum, GSO
// needs SG, …); a TUN/TAP masks the user-controlled offloads with what its
// reader asked for with TUNSETOFFLOAD.
//
// Four features drive the stack: tx-tcp-segmentation is the device's
// `segmentationOffload`, tx-generic-segmentation its `genericSegmentation`,
// tx-checksum-ip-generic its `features.hwChecksum`, tx-udp-segmentation its
// `features.udpSegmentation` (on a TUN/TAP: whether its reader negotiated
// TUN_F_USO4|TUN_F_USO6).
// The others are kept in this table, per device, so `-K` then `-k`
// round-trips.
import Netstack

/// The feature state of every device of a stack. Keep one per Stack.
public final class EthtoolTable {
    private struct Entry {
        var kind: DeviceKind
        var ifindex: Int32
        var attached: Bool
        var wanted: [Bool]
        var active: [Bool]
    }
    private var entries: [ObjectIdentifier: Entry] = [:]

    public init() {}

    // MARK: feature bits

    /// Kernel feature bits by index (netdev_features_strings), the unnamed
    /// bits left out: the order `Actual changes:` lists them in.
    static let names: [String] = [
        "tx-scatter-gather", "tx-checksum-ipv4", "tx-checksum-ip-generic", "tx-checksum-ipv6", "highdma",
        "tx-scatter-gather-fraglist", "tx-vlan-hw-insert", "rx-vlan-hw-parse", "rx-vlan-filter", "vlan-challenged",
        "tx-generic-segmentation", "rx-gro", "rx-lro", "tx-tcp-segmentation", "tx-gso-robust",
        "tx-tcp-ecn-segmentation", "tx-tcp-mangleid-segmentation", "tx-tcp6-segmentation", "tx-fcoe-segmentation",
        "tx-gre-segmentation", "tx-gre-csum-segmentation", "tx-ipxip4-segmentation", "tx-ipxip6-segmentation",
        "tx-udp_tnl-segmentation", "tx-udp_tnl-csum-segmentation", "tx-gso-partial",
        "tx-tunnel-remcsum-segmentation", "tx-sctp-segmentation", "tx-esp-segmentation", "tx-udp-segmentation",
        "tx-gso-list", "tx-tcp-accecn-segmentation", "tx-checksum-fcoe-crc", "tx-checksum-sctp",
        "rx-ntuple-filter", "rx-hashing", "rx-checksum", "tx-nocache-copy", "loopback", "rx-fcs", "rx-all",
        "tx-vlan-stag-hw-insert", "rx-vlan-stag-hw-parse", "rx-vlan-stag-filter", "l2-fwd-offload",
        "hw-tc-offload", "esp-hw-offload", "esp-tx-csum-hw-offload", "rx-udp_tunnel-port-offload",
        "tls-hw-tx-offload", "tls-hw-rx-offload", "rx-gro-hw", "tls-hw-record", "rx-gro-list",
        "macsec-hw-offload", "rx-udp-gro-forwarding", "hsr-tag-ins-offload", "hsr-tag-rm-offload",
        "hsr-fwd-offload", "hsr-dup-offload",
    ]
    static func bit(_ name: String) -> Int? { names.firstIndex(of: name) }

    static let sg = 0, ipv4Csum = 1, hwCsum = 2, ipv6Csum = 3, gso = 10
    static let tso = 13, tsoECN = 15, tsoMangleID = 16, tso6 = 17, udpL4 = 29
    /// NETIF_F_NEVER_CHANGE: vlan-challenged (and bits without names here).
    static let neverChange: Set<Int> = [9]

    /// The state of each bit of a new device, as `ethtool -k` shows it:
    /// o on, - off, O on [fixed], _ off [fixed], r off [requested on].
    static func initial(_ kind: DeviceKind, attachedWithOffload: Bool) -> String {
        switch kind {
        case .veth, .dummy: "o_o_oooo__o-_o_ooo_oooooo__o_ooo_o__o-___oo__________-_-____"
        case .loopback: "O_O_OO___Ooo_o_ooo_________o_ooo_O__O_O______________-_-____"
        case .tap, .tun:
            attachedWithOffload
                ? "o_o__oo___oo_o_--o_____--____-_______-___o___________-_-____"
                : "o_r__oo___oo_r_r-r_____rr____r_______-___o___________-_-____"
        }
    }

    /// tun.c's TUN_USER_FEATURES: on only as far as TUNSETOFFLOAD allows.
    static let tunUserFeatures: Set<Int> = [hwCsum, tsoECN, tso, tso6, udpL4, 23, 24]
    /// What TUNSETOFFLOAD(CSUM|TSO4|TSO6) allows (the host driver's request);
    /// with USO4|USO6 too, tx-udp-segmentation.
    static let tunVnetOffloads: Set<Int> = [hwCsum, tso, tso6]

    /// The legacy flags ethtool groups bits under (off_flag_def, less UFO,
    /// which no netlink kernel has): short name, long name, kernel pattern.
    static let legacyFlags: [(short: String, long: String, pattern: String)] = [
        ("rx", "rx-checksumming", "rx-checksum"),
        ("tx", "tx-checksumming", "tx-checksum-*"),
        ("sg", "scatter-gather", "tx-scatter-gather*"),
        ("tso", "tcp-segmentation-offload", "tx-tcp*-segmentation"),
        ("ufo", "udp-fragmentation-offload", "tx-udp-fragmentation"),
        ("gso", "generic-segmentation-offload", "tx-generic-segmentation"),
        ("gro", "generic-receive-offload", "rx-gro"),
        ("lro", "large-receive-offload", "rx-lro"),
        ("rxvlan", "rx-vlan-offload", "rx-vlan-hw-parse"),
        ("txvlan", "tx-vlan-offload", "tx-vlan-hw-insert"),
        ("ntuple", "ntuple-filters", "rx-ntuple-filter"),
        ("rxhash", "receive-hashing", "rx-hashing"),
    ]

    /// ethtool's flag_pattern_match: at most one `*`, matching any middle.
    static func matches(_ name: String, _ pattern: String) -> Bool {
        guard let star = pattern.firstIndex(of: "*") else { return name == pattern }
        let prefix = pattern[..<star], suffix = pattern[pattern.index(after: star)...]
        return name.count >= prefix.count + suffix.count && name.hasPrefix(prefix) && name.hasSuffix(suffix)
    }

    // MARK: device state

    private struct Kind {
        var hw: [Bool]
        var fixedValue: [Bool]
        var wanted: [Bool]
        /// Bits the kind can have on at all (TUN/TAP: TUNSETOFFLOAD).
        var allowed: [Bool]
    }

    private static func kindState(_ d: NetDevice) -> Kind {
        let withOffload = d.kind.isHostPort && d.hostAttached && d.tunTapOptions.vnetHeader
        let codes = Array(initial(d.kind, attachedWithOffload: withOffload))
        var k = Kind(hw: [], fixedValue: [], wanted: [], allowed: Array(repeating: true, count: names.count))
        for c in codes {
            k.hw.append(c == "o" || c == "-" || c == "r")
            k.fixedValue.append(c == "O")
            k.wanted.append(c == "o" || c == "r")
        }
        if d.kind.isHostPort {
            // set_offload: wanted_features = what TUNSETOFFLOAD asked for.
            let uso = withOffload && d.features.contains(.udpSegmentation)
            for b in tunUserFeatures where !(withOffload && tunVnetOffloads.contains(b)) && !(uso && b == udpL4) {
                k.allowed[b] = false
            }
            if uso { k.wanted[udpL4] = true }
        }
        return k
    }

    /// __netdev_update_features: the active bits for `wanted`.
    private static func active(_ k: Kind, wanted: [Bool]) -> [Bool] {
        var f = (0..<names.count).map { k.hw[$0] ? wanted[$0] && k.allowed[$0] : k.fixedValue[$0] }
        func drop(_ bits: [Int]) { for b in bits where k.hw[b] { f[b] = false } }
        // netdev_fix_features, the dependencies this model keeps.
        if !f[hwCsum] && !f[ipv4Csum] { drop([tso, tsoECN]) }
        if !f[hwCsum] && !f[ipv6Csum] { drop([tso6]) }
        if !f[hwCsum] { drop([udpL4]) }
        if !f[sg] { drop([tso, tsoECN, tsoMangleID, tso6, gso]) }
        if !f[tso] { drop([tsoMangleID]) }
        if !f[tso] && !f[tso6] { drop([tsoECN]) }
        return f
    }

    /// The device's entry, made or brought in line with the fields the
    /// stack reads (something else may have set them).
    private func entry(_ d: NetDevice) -> (Kind, Entry) {
        let k = Self.kindState(d)
        let id = ObjectIdentifier(d)
        var e: Entry
        if let old = entries[id], old.kind == d.kind, old.ifindex == d.ifindex, old.attached == d.hostAttached {
            e = old
        } else {
            e = Entry(kind: d.kind, ifindex: d.ifindex, attached: d.hostAttached, wanted: k.wanted, active: [])
        }
        e.active = Self.active(k, wanted: e.wanted)
        if e.active[Self.tso] != d.segmentationOffload {
            for b in [Self.tso, Self.tsoECN, Self.tso6] where k.hw[b] { e.wanted[b] = d.segmentationOffload }
            e.active = Self.active(k, wanted: e.wanted)
        }
        let uso = d.features.contains(.udpSegmentation)
        if e.active[Self.udpL4] != uso, k.hw[Self.udpL4], k.allowed[Self.udpL4] {
            e.wanted[Self.udpL4] = uso
            e.active = Self.active(k, wanted: e.wanted)
        }
        if e.active[Self.gso] != d.genericSegmentation, k.hw[Self.gso] {
            e.wanted[Self.gso] = d.genericSegmentation
            e.active = Self.active(k, wanted: e.wanted)
        }
        // TUN/TAP: the host driver completes checksums itself (tx-checksumming
        // shows what TUNSETOFFLOAD negotiated, not the stack's feature).
        let hw = d.features.contains(.hwChecksum)
        if !d.kind.isHostPort, e.active[Self.hwCsum] != hw, k.hw[Self.hwCsum] {
            e.wanted[Self.hwCsum] = hw
            e.active = Self.active(k, wanted: e.wanted)
        }
        entries[id] = e
        return (k, e)
    }

    // MARK: the command

    static let usageHint = "ethtool: bad command line argument(s)\nFor more information run ethtool -h\n"

    /// `ethtool ARGS…` in `ns` (argv[0] is "ethtool").
    public func run(_ argv: [String], namespace ns: NetworkNamespace) -> CommandResult {
        defer { ns.stack.routeConfigurationChanged() }
        let args = Array(argv.dropFirst())
        guard let mode = args.first else { return CommandResult(stderr: Self.usageHint, status: 1) }
        let show: Bool
        switch mode {
        case "-k", "--show-features", "--show-offload": show = true
        case "-K", "--features", "--offload": show = false
        default: return CommandResult(stderr: Self.usageHint, status: 1)
        }
        guard args.count >= 2 else { return CommandResult(stderr: Self.usageHint, status: 1) }
        let name = args[1]
        let rest = Array(args.dropFirst(2))
        if show {
            if let extra = rest.first { return .failure("ethtool: unexpected parameter '\(extra)'") }
            guard let d = ns.device(named: name) else {
                return .failure("netlink error: no device matches name (offset 24)\nnetlink error: No such device")
            }
            return CommandResult(stdout: features(d))
        }
        return set(name, rest, namespace: ns)
    }

    /// `ethtool -k DEV`'s text.
    func features(_ d: NetDevice) -> String {
        let (k, e) = entry(d)
        var out = "Features for \(d.name):\n"
        func line(_ b: Int, _ label: String, _ prefix: String) {
            var suffix = ""
            if !k.hw[b] || Self.neverChange.contains(b) {
                suffix = " [fixed]"
            } else if e.active[b] != e.wanted[b] {
                suffix = e.wanted[b] ? " [requested on]" : " [requested off]"
            }
            out += "\(prefix)\(label): \(e.active[b] ? "on" : "off")\(suffix)\n"
        }
        var grouped = Array(repeating: false, count: Self.names.count)
        for flag in Self.legacyFlags where flag.short != "ufo" {
            let bits = Self.names.indices.filter { Self.matches(Self.names[$0], flag.pattern) }
            for b in bits { grouped[b] = true }
            if bits.count == 1 {
                line(bits[0], flag.long, "")
            } else {
                out += "\(flag.long): \(bits.contains { e.active[$0] } ? "on" : "off")\n"
                for b in bits { line(b, Self.names[b], "\t") }
            }
        }
        for b in Self.names.indices where !grouped[b] { line(b, Self.names[b], "") }
        return out
    }

    /// `ethtool -K DEV FEATURE on|off…`.
    private func set(_ name: String, _ args: [String], namespace ns: NetworkNamespace) -> CommandResult {
        // ethtool builds the whole request first (usage errors before the kernel sees it).
        var request: [(name: String, value: Bool)] = []
        var i = 0
        while i < args.count {
            if args[i] == "--" { break }
            guard i + 1 < args.count, args[i + 1] == "on" || args[i + 1] == "off" else {
                let flag = i + 1 < args.count ? args[i + 1] : "(null)"
                return .failure("ethtool (-K): flag '\(flag)' for parameter '(null)' is not followed by 'on' or 'off'")
            }
            let value = args[i + 1] == "on"
            if let flag = Self.legacyFlags.first(where: { $0.short == args[i] || $0.long == args[i] }) {
                for n in Self.names where Self.matches(n, flag.pattern) { request.append((n, value)) }
            } else {
                request.append((args[i], value))
            }
            i += 2
        }
        guard let d = ns.device(named: name) else {
            return .failure("netlink error: no device matches name (offset 24)\nnetlink error: No such device", status: 92)
        }
        // The kernel parses the bitset: the first unknown name fails the
        // request, its offset that of the name attribute in the message.
        func align4(_ n: Int) -> Int { (n + 3) & ~3 }
        var offset = 48 + align4(name.utf8.count + 1)
        var requestMask = Array(repeating: false, count: Self.names.count)
        var requested = Array(repeating: false, count: Self.names.count)
        for r in request {
            guard let b = Self.bit(r.name) else {
                return .failure("netlink error: bit name not found (offset \(offset))\nnetlink error: Operation not supported",
                                status: 92)
            }
            offset += 4 + 4 + align4(r.name.utf8.count + 1) + (r.value ? 4 : 0)
            requestMask[b] = true
            requested[b] = r.value
        }
        if requestMask.indices.contains(where: { requestMask[$0] && Self.neverChange.contains($0) }) {
            return .failure("netlink error: attempt to change non-ethtool features\nnetlink error: Invalid argument",
                            status: 92)
        }
        var (k, e) = entry(d)
        let oldActive = e.active
        for b in requestMask.indices where requestMask[b] && k.hw[b] { e.wanted[b] = requested[b] }
        e.active = Self.active(k, wanted: e.wanted)
        entries[ObjectIdentifier(d)] = e
        d.segmentationOffload = e.active[Self.tso]
        d.genericSegmentation = e.active[Self.gso]
        if e.active[Self.udpL4] { d.features.insert(.udpSegmentation) } else { d.features.remove(.udpSegmentation) }
        // tx-checksum-ip-generic is NETIF_F_HW_CSUM: TCP's CHECKSUM_PARTIAL.
        if !d.kind.isHostPort {
            if e.active[Self.hwCsum] { d.features.insert(.hwChecksum) } else { d.features.remove(.hwChecksum) }
        }
        _ = k

        // The reply: requested bits that did not take the value, and bits
        // that changed without being asked for.
        let wantedDiff = requestMask.indices.map { requestMask[$0] && requested[$0] != e.active[$0] }
        let activeDiff = oldActive.indices.map { oldActive[$0] != e.active[$0] }
        let nothingChanged = wantedDiff == requestMask
        var out = ""
        if wantedDiff.contains(true) || activeDiff.indices.contains(where: { activeDiff[$0] && !requestMask[$0] }) {
            out = "Actual changes:\n"
            for b in Self.names.indices where wantedDiff[b] || activeDiff[b] {
                if wantedDiff[b] {
                    out += "\(Self.names[b]): \(requested[b] ? "off" : "on") [requested \(requested[b] ? "on" : "off")]\n"
                } else if !requestMask[b] {
                    out += "\(Self.names[b]): \(e.active[b] ? "on" : "off") [not requested]\n"
                } else {
                    out += "\(Self.names[b]): \(e.active[b] ? "on" : "off")\n"
                }
            }
        }
        if nothingChanged {
            return CommandResult(stdout: out, stderr: "Could not change any device features\n", status: 1)
        }
        return CommandResult(stdout: out)
    }
}
