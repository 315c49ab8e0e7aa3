// `ip tuntap add|del|show`: TUN/TAP devices (ip/iptuntap.c). `add` makes
// the device; under `netstack run` the stack's host driver opens (or
// attaches to) the host's TUN/TAP of that name, in a lab nobody attaches
// and the device has no carrier, as a persistent TAP on Linux.
import Netstack

enum IPTuntapCommand {
    static func run(_ args: [String], ns: NetworkNamespace) -> CommandResult {
        let verb = args.first ?? "show"
        let rest = Array(args.dropFirst())
        switch verb {
        case "add", "a": return add(rest, ns)
        case "del", "delete", "d": return delete(rest, ns)
        case "show", "list", "lst", "sh", "ls", "l": return show(ns)
        case "help":
            return .failure(usage, status: 255)
        default:
            return .failure("Command \"\(verb)\" is unknown, try \"ip tuntap help\".", status: 255)
        }
    }

    static let usage = """
        Usage: ip tuntap { add | del | show | list | lst | help } [ dev PHYS_DEV ]
                [ mode { tun | tap } ] [ user USER ] [ group GROUP ]
                [ one_queue ] [ pi ] [ vnet_hdr ] [ multi_queue ] [ name NAME ]
        """

    struct Request {
        var name: String?
        var kind: DeviceKind?
        var options = TunTapOptions()
    }

    /// parse_args of iptuntap.c; throws iproute2's message on bad input.
    static func parse(_ args: [String]) throws(CommandFailure) -> Request {
        var r = Request()
        var i = 0
        func fail(_ text: String, _ status: Int32 = 255) -> CommandFailure { CommandFailure(text, status: status) }
        while i < args.count {
            let a = args[i]
            switch a {
            case "mode":
                i += 1
                guard i < args.count else { throw fail("Command line is not complete. Try option \"help\"") }
                switch args[i] {
                case "tun": r.kind = .tun
                case "tap": r.kind = .tap
                default: throw fail("Unknown tunnel mode \"\(args[i])\"")
                }
            case "user", "group":
                i += 1
                guard i < args.count else { throw fail("Command line is not complete. Try option \"help\"") }
                guard let id = UInt32(args[i]) else { throw fail("invalid \(a) \"\(args[i])\"", 1) }
                if a == "user" { r.options.user = id } else { r.options.group = id }
            case "one_queue": break
            case "pi": r.options.packetInfo = true
            case "vnet_hdr": r.options.vnetHeader = true
            case "multi_queue": r.options.multiQueue = true
            case "dev", "name":
                i += 1
                guard i < args.count else { throw fail("Command line is not complete. Try option \"help\"") }
                guard r.name == nil else { throw fail("Error: either \"\(a)\" is duplicate, or \"\(args[i])\" is a garbage.") }
                r.name = args[i]
            default:
                guard r.name == nil else { throw fail("Error: either \"name\" is duplicate, or \"\(a)\" is a garbage.") }
                r.name = a
            }
            i += 1
        }
        if let n = r.name, n.utf8.count >= 16 { throw fail("\"\(n)\" is too long.", 1) }
        return r
    }

    static func add(_ args: [String], _ ns: NetworkNamespace) -> CommandResult {
        let r: Request
        do throws(CommandFailure) { r = try parse(args) } catch { return error.result }
        guard let kind = r.kind else { return .failure("You failed to specify a tunnel mode", status: 1) }
        // TUNSETIFF with no name: the kernel picks tunN / tapN.
        let name = r.name ?? ns.nextFreeDeviceName(prefix: kind == .tun ? "tun" : "tap")
        do {
            try ns.addTunTap(name: name, kind: kind, options: r.options)
        } catch {
            return .failure("ioctl(TUNSETIFF): \(error.errno.message)", status: 1)
        }
        return CommandResult()
    }

    static func delete(_ args: [String], _ ns: NetworkNamespace) -> CommandResult {
        let r: Request
        do throws(CommandFailure) { r = try parse(args) } catch { return error.result }
        guard let kind = r.kind else { return .failure("You failed to specify a tunnel mode", status: 1) }
        guard let name = r.name, let d = ns.device(named: name) else {
            // The kernel makes the named device and drops it at once: nothing to say.
            return CommandResult()
        }
        // tun_set_iff on an existing device: the type and IFF_MULTI_QUEUE must match.
        guard d.kind == kind, d.tunTapOptions.multiQueue == r.options.multiQueue else { return .failure("ioctl(TUNSETIFF): Invalid argument", status: 1) }
        do {
            try ns.deleteLink(d)
        } catch {
            return .failure("ioctl(TUNSETIFF): \(error.errno.message)", status: 1)
        }
        return CommandResult()
    }

    /// `ip tuntap show`: `NAME: tap|tun [pi] [multi_queue] [vnet_hdr] [persist]`.
    static func show(_ ns: NetworkNamespace) -> CommandResult {
        var out = ""
        for d in ns.devices where d.kind.isHostPort {
            let o = d.tunTapOptions
            out += "\(d.name): \(d.kind == .tun ? "tun" : "tap")"
            if o.packetInfo { out += " pi" }
            if o.multiQueue { out += " multi_queue" }
            if o.vnetHeader { out += " vnet_hdr" }
            // A lab's devices are persistent (made by `ip tuntap add` with
            // nobody attached); the host's are held open by the stack.
            if !d.hostAttached { out += " persist" }
            if let u = o.user { out += " user \(u)" }
            if let g = o.group { out += " group \(g)" }
            out += "\n"
        }
        return CommandResult(stdout: out)
    }
}
