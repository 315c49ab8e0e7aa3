// The `--trace FILTER` language: a subset of pcap-filter(7), the syntax
// tcpdump takes, parsed once into Netstack's compiled `PacketFilter`.
//
//   expr      := term (("and" | "&&" | "or" | "||") term)*
//   term      := ("not" | "!") term | "(" expr ")" | primitive
//   primitive := "ip" | "ip6" | "arp" | "icmp" | "icmp6" | "udp" | "tcp"
//              | ["src" | "dst"] ("host" ADDR | "net" ADDR/LEN | "port" N)
//              | ("src" | "dst") ADDR                      (host implied)
//              | ("ip" | "ip6" | "udp" | "tcp") qualified   (`tcp port 80`)
//              | ["ip" | "ip6"] "proto" (N | icmp | tcp | udp | …)
//
// As in pcap-filter, `not` binds tightest and `and`/`or` have equal
// precedence, associating left to right: `a or b and c` is `(a or b) and c`.
// Names are not resolved (no DNS in a lab): hosts and nets are numeric.
import NetWire
import Netstack

/// Why a filter does not parse; `description` is the message after
/// `netstack lab: --trace: `.
public struct TraceFilterError: Error, Equatable, CustomStringConvertible {
    public var description: String
    init(_ message: String) { description = message }
}

public enum TraceFilter {
    /// Parses a filter expression into a compiled matcher.
    public static func parse(_ text: String) throws(TraceFilterError) -> PacketFilter {
        var parser = Parser(tokens: tokenize(text))
        guard !parser.tokens.isEmpty else { throw TraceFilterError("empty filter expression") }
        let root = try parser.expression(depth: 0)
        if let extra = parser.peek { throw TraceFilterError("syntax error near '\(extra)'") }
        return PacketFilter(nodes: parser.nodes, root: root)
    }

    /// Words, with `(`, `)`, `!`, `&&`, `||` split off even when written
    /// without spaces (`!(icmp||arp)`).
    static func tokenize(_ text: String) -> [String] {
        var tokens: [String] = []
        var word = ""
        let chars = Array(text)
        var i = 0
        func flush() {
            if !word.isEmpty { tokens.append(word); word = "" }
        }
        while i < chars.count {
            let c = chars[i]
            if c == " " || c == "\t" || c == "\n" {
                flush()
            } else if c == "(" || c == ")" {
                flush(); tokens.append(String(c))
            } else if c == "!" && (i + 1 >= chars.count || chars[i + 1] != "=") {
                flush(); tokens.append("!")
            } else if (c == "&" || c == "|") && i + 1 < chars.count && chars[i + 1] == c {
                flush(); tokens.append(String([c, c])); i += 1
            } else {
                word.append(c)
            }
            i += 1
        }
        flush()
        return tokens
    }

    struct Parser {
        let tokens: [String]
        var position = 0
        var nodes: [PacketFilter.Node] = []
        static let maximumDepth = 64

        init(tokens: [String]) { self.tokens = tokens }

        var peek: String? { position < tokens.count ? tokens[position] : nil }

        mutating func next() throws(TraceFilterError) -> String {
            guard let t = peek else { throw TraceFilterError("syntax error at end of filter") }
            position += 1
            return t
        }

        mutating func add(_ n: PacketFilter.Node) -> Int {
            nodes.append(n)
            return nodes.count - 1
        }

        mutating func expression(depth: Int) throws(TraceFilterError) -> Int {
            var left = try term(depth: depth)
            while let t = peek {
                switch t {
                case "and", "&&":
                    position += 1
                    let right = try term(depth: depth)
                    left = add(.and(left, right))
                case "or", "||":
                    position += 1
                    let right = try term(depth: depth)
                    left = add(.or(left, right))
                default:
                    return left
                }
            }
            return left
        }

        mutating func term(depth: Int) throws(TraceFilterError) -> Int {
            guard depth < Self.maximumDepth else { throw TraceFilterError("expression too deeply nested") }
            let t = try next()
            switch t {
            case "not", "!":
                let inner = try term(depth: depth + 1)
                return add(.not(inner))
            case "(":
                let inner = try expression(depth: depth + 1)
                guard try next() == ")" else { throw TraceFilterError("syntax error near '\(tokens[position - 1])'") }
                return inner
            default:
                return try primitive(t)
            }
        }

        mutating func primitive(_ t: String) throws(TraceFilterError) -> Int {
            switch t {
            case "ip", "ip6", "arp", "icmp", "icmp6", "udp", "tcp":
                let base = add(.primitive(protocolPrimitive(t)))
                // A protocol qualifier before host/net/port/proto: `tcp port 80`.
                guard let q = peek, ["host", "net", "port", "src", "dst", "proto"].contains(q), t != "arp" || q != "proto",
                      !((t == "icmp" || t == "icmp6") && q == "proto") else { return base }
                if q == "proto" {
                    guard t == "ip" || t == "ip6" else { throw TraceFilterError("syntax error near 'proto'") }
                    position += 1
                    let n = try protocolNumber(try next())
                    return add(.primitive(.ipProtocol(n, t == "ip" ? .v4 : .v6)))
                }
                let rest = try primitive(try next())
                return add(.and(base, rest))
            case "src", "dst":
                let direction: PacketFilter.Direction = t == "src" ? .source : .destination
                guard let q = peek else { throw TraceFilterError("syntax error at end of filter") }
                switch q {
                case "host", "net", "port":
                    position += 1
                    return try qualified(q, direction)
                default:
                    // `src 10.0.0.1`: host is implied.
                    return try qualified("host", direction)
                }
            case "host", "net", "port":
                return try qualified(t, .either)
            case "proto":
                let n = try protocolNumber(try next())
                return add(.primitive(.ipProtocol(n, .any)))
            case ")", "and", "or", "&&", "||":
                throw TraceFilterError("syntax error near '\(t)'")
            default:
                if IPAddress(t) != nil {
                    // A bare address is `host ADDR` in pcap-filter.
                    position -= 1
                    return try qualified("host", .either)
                }
                throw TraceFilterError("syntax error near '\(t)'")
            }
        }

        func protocolPrimitive(_ t: String) -> PacketFilter.Primitive {
            switch t {
            case "ip": .etherType(EtherType.ipv4.rawValue)
            case "ip6": .etherType(EtherType.ipv6.rawValue)
            case "arp": .etherType(EtherType.arp.rawValue)
            case "icmp": .ipProtocol(IPProtocol.icmp.rawValue, .v4)
            case "icmp6": .ipProtocol(IPProtocol.icmpv6.rawValue, .v6)
            case "udp": .ipProtocol(IPProtocol.udp.rawValue, .any)
            default: .ipProtocol(IPProtocol.tcp.rawValue, .any)
            }
        }

        mutating func qualified(_ kind: String, _ direction: PacketFilter.Direction) throws(TraceFilterError) -> Int {
            let value = try next()
            switch kind {
            case "host":
                guard let a = IPAddress(value) else {
                    if ["and", "or", "not", "(", ")", "!", "&&", "||"].contains(value) {
                        throw TraceFilterError("syntax error near '\(value)'")
                    }
                    throw TraceFilterError("unknown host '\(value)'")
                }
                return add(.primitive(.host(a, direction)))
            case "net":
                guard let p = IPPrefix(value) else { throw TraceFilterError("invalid network '\(value)'") }
                guard p.network.address == p.address else {
                    throw TraceFilterError("non-network bits set in \"\(value)\"")
                }
                return add(.primitive(.net(p, direction)))
            default:
                guard let n = Int(value), !value.hasPrefix("+"), !value.hasPrefix("-") else {
                    throw TraceFilterError("unknown port '\(value)'")
                }
                guard n <= 65535 else { throw TraceFilterError("illegal port number \(n) > 65535") }
                return add(.primitive(.port(UInt16(n), direction)))
            }
        }

        func protocolNumber(_ value: String) throws(TraceFilterError) -> UInt8 {
            if let n = Int(value), !value.hasPrefix("+"), !value.hasPrefix("-") {
                guard n <= 255 else { throw TraceFilterError("illegal protocol number \(n) > 255") }
                return UInt8(n)
            }
            switch value.hasPrefix("\\") ? String(value.dropFirst()) : value {
            case "icmp": return IPProtocol.icmp.rawValue
            case "igmp": return IPProtocol.igmp.rawValue
            case "tcp": return IPProtocol.tcp.rawValue
            case "udp": return IPProtocol.udp.rawValue
            case "icmp6": return IPProtocol.icmpv6.rawValue
            case "sctp": return IPProtocol.sctp.rawValue
            case "gre": return IPProtocol.gre.rawValue
            case "esp": return IPProtocol.esp.rawValue
            case "ah": return IPProtocol.ah.rawValue
            default: throw TraceFilterError("unknown ip proto '\(value)'")
            }
        }
    }
}
