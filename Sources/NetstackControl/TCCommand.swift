// `tc` against a namespace: parse (TC.parse), resolve the device, apply to
// its root qdisc or print the qdiscs, as tc/tc_qdisc.c does.
import Netstack

public enum TCRunner {
    /// Runs `tc ARGS…` (argv without "tc") in `namespace`.
    public static func run(_ args: [String], namespace ns: NetworkNamespace) -> CommandResult {
        defer { ns.stack.routeConfigurationChanged() }
        let inv: TCInvocation
        do { inv = try TC.parse(args) } catch { return error.result }
        switch inv.command {
        case .help(let text):
            return CommandResult(stderr: text, status: 0)
        case .qdiscShow(let show):
            if let name = show.device, ns.device(named: name) == nil {
                return TC.deviceNotFound(name).result
            }
            let entries = ns.devices.filter(\.hasBeenUp).map { TCQdiscEntry(device: $0.name, qdisc: $0.qdisc.snapshot) }
            return CommandResult(stdout: TC.printQdiscs(TC.filter(entries, show), options: inv.options,
                                                        showDevice: show.device == nil))
        case .qdiscModify(let request):
            guard let name = request.device else {
                return CommandFailure("RTNETLINK answers: No such device", status: 2).result
            }
            guard let d = ns.device(named: name) else { return TC.deviceNotFound(name).result }
            do {
                let seed = UInt64(truncatingIfNeeded: ns.id) &* 0x9E37_79B9 &+ UInt64(d.ifindex)
                if var old = try TC.apply(request, to: &d.qdisc, device: d.qdiscInfo, handles: &d.qdiscHandles, seed: seed) {
                    while let p = old.purge() {
                        ns.stack.shard.drop(p, reason: .queuePurge, now: ns.stack.now)
                    }
                }
            } catch {
                return error.result
            }
            return CommandResult()
        }
    }
}
