// NetstackControl: the control plane's language.
//
// What it promises
// - A typed message model in the spirit of rtnetlink (link, address, route,
//   rule, neighbour, qdisc, nft objects; request, dump, notify).
// - Parsers and printers for `ip`, `nft`, `tc`, `sysctl`, `ss`, `bridge`
//   syntax, text and `-j` JSON, exactly as iproute2/nft/tc print them; errors
//   worded as the Linux tools word them, with nothing half-applied.
// - The lab-script interpreter (a Linux shell subset).
//
// Kernel counterpart: net/core/rtnetlink.c and the userspace of iproute2.
// Populated by the L2/L3 work (issue "L2/L3 core and the lab").

/// The version of the control-plane language this build speaks.
public enum NetstackControlInfo {
    public static let version = "0.1.0"
}
