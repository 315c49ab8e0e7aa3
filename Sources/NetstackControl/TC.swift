// `tc qdisc`: parse, apply, print — as iproute2 6.1's tc does it.
// Userspace counterpart: tc/tc.c, tc/tc_qdisc.c, tc/q_netem.c, tc/q_fifo.c,
// tc/q_prio.c (pfifo_fast's printer), tc/tc_util.c and lib/utils*.c (time,
// size, rate and percent syntax); kernel counterpart: tc_modify_qdisc and
// tc_get_qdisc in net/sched/sch_api.c (Linux 6.18, the oracle kernel), and
// netem_change/netem_dump.
//
// Flow: `TC.parse(argv)` validates the whole command line and returns a typed
// request, or fails with tc's message and exit status (1 for a qdisc's
// option errors, 255 for usage errors). The caller resolves the device
// (`TC.deviceNotFound` words the failure), then `TC.apply` performs the
// kernel's side on that device's root qdisc, failing with the kernel's
// extack message (`Error: Exclusivity flag on, cannot modify.`, status 2).
// `TC.printQdiscs` renders `tc [-s] [-j [-p]] qdisc show` from snapshots.
//
// Exactness notes:
// - netem times travel as psched ticks (64 ns) in tc 6.1: `delay 1us` is
//   15 ticks = 960 ns and prints back as `0us`; 100ms round-trips. Times are
//   parsed to whole microseconds (get_time), printed with %.3g (`1.23ms`).
// - Percentages are u32-scaled (`loss 1%` is 42949673/0xFFFFFFFF) and print
//   with %g, so `1%` prints back as `1%`.
// - Only root qdiscs exist here: `parent X:Y`, `ingress`, `clsact` are
//   parsed and refused as the kernel refuses a parent it cannot find.
// - The kernel in this lab has no sch_netem; netem's printed form follows
//   q_netem.c line by line (see netemText/netemJSON).

import Netstack

// MARK: requests

/// tc's global options (`tc -s -j -p …`).
public struct TCGlobalOptions: Sendable, Equatable {
    public var stats = false
    public var details = false
    public var json = false
    public var pretty = false
    public var iec = false
    /// `-n NETNS` / `-netns NETNS`.
    public var netns: String? = nil
    public init() {}
}

/// What `tc qdisc add|change|replace|link|delete` asks for.
public enum TCQdiscVerb: String, Sendable, Equatable {
    case add, change, replace, link, delete

    var create: Bool { self == .add || self == .replace }
    var exclusive: Bool { self == .add }
    var replaceFlag: Bool { self == .replace || self == .link }
}

/// Where the qdisc goes.
public enum TCParent: Sendable, Equatable {
    case root
    case ingress
    case clsact
    case classid(UInt32)
}

/// The options a `tc qdisc … KIND OPTIONS` line carries, per kind.
public enum TCQdiscOptionsRequest: Sendable, Equatable {
    case none
    /// pfifo/bfifo `limit`; nil: no TCA_OPTIONS (the kernel uses its default).
    case fifo(limit: UInt32?)
    case netem(NetemRequest)
}

/// netem's netlink request as tc 6.1 builds it: the always-sent qopt and the
/// attributes sent only when their keyword appeared. The kernel keeps its
/// old value for every attribute that is absent (netem_change).
public struct NetemRequest: Sendable, Equatable {
    public var limit: UInt32 = 1000
    /// psched ticks (64 ns).
    public var latencyTicks: UInt32 = 0
    public var jitterTicks: UInt32 = 0
    public var loss: UInt32 = 0
    public var gap: UInt32 = 0
    public var duplicate: UInt32 = 0
    /// TCA_NETEM_CORR (delay, loss, duplicate), sent when any was given.
    public var correlation: (delay: UInt32, loss: UInt32, duplicate: UInt32)? = nil
    public var reorder: (probability: UInt32, correlation: UInt32)? = nil
    public var corrupt: (probability: UInt32, correlation: UInt32)? = nil
    public var ecn = false
    public var lossModel: NetemLossModel? = nil
    /// Bytes per second and overheads.
    public var rate: (rate: UInt64, packetOverhead: Int32, cellSize: UInt32, cellOverhead: Int32)? = nil
    public var distribution: NetemDistribution? = nil
    public var slot: NetemSlot? = nil

    public init() {}

    public static func == (a: NetemRequest, b: NetemRequest) -> Bool {
        a.limit == b.limit && a.latencyTicks == b.latencyTicks && a.jitterTicks == b.jitterTicks
            && a.loss == b.loss && a.gap == b.gap && a.duplicate == b.duplicate
            && a.correlation.map { [$0.delay, $0.loss, $0.duplicate] } == b.correlation.map { [$0.delay, $0.loss, $0.duplicate] }
            && a.reorder.map { [$0.probability, $0.correlation] } == b.reorder.map { [$0.probability, $0.correlation] }
            && a.corrupt.map { [$0.probability, $0.correlation] } == b.corrupt.map { [$0.probability, $0.correlation] }
            && a.ecn == b.ecn && a.lossModel == b.lossModel
            && a.rate.map { [Int64($0.rate), Int64($0.packetOverhead), Int64($0.cellSize), Int64($0.cellOverhead)] }
                == b.rate.map { [Int64($0.rate), Int64($0.packetOverhead), Int64($0.cellSize), Int64($0.cellOverhead)] }
            && a.distribution == b.distribution && a.slot == b.slot
    }

    /// netem_change: the options after this request, starting from `old`
    /// (a fresh qdisc starts from zeroed state).
    public func applied(to old: NetemOptions?) -> NetemOptions {
        var o = old ?? NetemOptions()
        if old == nil {
            o.limit = 0
        }
        o.lossModel = lossModel
        if let d = distribution { o.distribution = d }
        o.limit = limit
        o.latency = Int64(latencyTicks) << 6
        o.jitter = Int64(jitterTicks) << 6
        o.gap = gap
        o.loss = loss
        o.duplicate = duplicate
        if gap != 0 { o.reorder = .max }
        if let c = correlation {
            o.delayCorrelation = c.delay
            o.lossCorrelation = c.loss
            o.duplicateCorrelation = c.duplicate
        }
        if let r = reorder {
            o.reorder = r.probability
            o.reorderCorrelation = r.correlation
        }
        if let c = corrupt {
            o.corrupt = c.probability
            o.corruptCorrelation = c.correlation
        }
        if let r = rate {
            o.rate = r.rate
            o.packetOverhead = r.packetOverhead
            o.cellSize = r.cellSize
            o.cellOverhead = r.cellOverhead
        }
        if ecn { o.ecn = true }
        if let s = slot { o.slot = s }
        o.jitter = min(o.jitter, Int64(Int32.max))
        return o
    }
}

/// `tc qdisc add|change|replace|link|delete …`.
public struct TCQdiscRequest: Sendable, Equatable {
    public var verb: TCQdiscVerb
    public var device: String? = nil
    public var handle: QdiscHandle? = nil
    public var parent: TCParent? = nil
    /// TCA_KIND as typed (`netem`, `pfifo_fast`, or an unknown name).
    public var kind: String? = nil
    public var options: TCQdiscOptionsRequest = .none
    public init(verb: TCQdiscVerb) { self.verb = verb }
}

/// `tc qdisc show [dev D] [root | handle H | parent P] [invisible]`.
public struct TCQdiscShowRequest: Sendable, Equatable {
    public var device: String? = nil
    public var rootOnly = false
    public var handle: QdiscHandle? = nil
    public var parent: UInt32? = nil
    public var invisible = false
    public init() {}
}

public enum TCCommand: Sendable, Equatable {
    case qdiscModify(TCQdiscRequest)
    case qdiscShow(TCQdiscShowRequest)
    /// `help` forms: print this on stderr, exit 0.
    case help(String)
}

/// A parsed `tc` command line.
public struct TCInvocation: Sendable, Equatable {
    public var options: TCGlobalOptions
    public var command: TCCommand
}

/// One line of `tc qdisc show`: a device's qdisc.
public struct TCQdiscEntry: Sendable, Equatable {
    public var device: String
    public var qdisc: QdiscSnapshot
    public init(device: String, qdisc: QdiscSnapshot) {
        self.device = device
        self.qdisc = qdisc
    }
}

public enum TC {
    // MARK: parse

    static let incomplete = CommandFailure("Command line is not complete. Try option \"help\"", status: 255)

    /// iproute2's matches(): `arg` is a non-empty prefix of `word`.
    static func matches(_ arg: String, _ word: String) -> Bool {
        !arg.isEmpty && word.hasPrefix(arg)
    }

    /// Parses `tc …` (without the leading "tc").
    public static func parse(_ argv: [String]) throws(CommandFailure) -> TCInvocation {
        var o = TCGlobalOptions()
        var i = 0
        while i < argv.count, argv[i].hasPrefix("-") {
            var a = argv[i]
            if a.hasPrefix("--") { a.removeFirst() }
            if a == "-" { break }
            if matches(a, "-stats") || matches(a, "-statistics") {
                o.stats = true
            } else if matches(a, "-details") {
                o.details = true
            } else if matches(a, "-pretty") {
                o.pretty = true
            } else if matches(a, "-iec") {
                o.iec = true
            } else if matches(a, "-netns") {
                i += 1
                guard i < argv.count else { throw incomplete }
                o.netns = argv[i]
            } else if matches(a, "-json") {
                o.json = true
            } else if matches(a, "-raw") || matches(a, "-Numeric") || matches(a, "-oneline")
                        || matches(a, "-force") || matches(a, "-brief") || matches(a, "-timestamp") {
                // accepted, no effect on qdisc output here
            } else {
                throw CommandFailure("Option \"\(argv[i])\" is unknown, try \"tc -help\".", status: 255)
            }
            i += 1
        }
        guard i < argv.count else {
            return TCInvocation(options: o, command: .help(usage))
        }
        let object = argv[i]
        guard matches(object, "qdisc") else {
            if matches(object, "help") { return TCInvocation(options: o, command: .help(usage)) }
            throw CommandFailure("Object \"\(object)\" is unknown, try \"tc help\".", status: 255)
        }
        let rest = Array(argv[(i + 1)...])
        return TCInvocation(options: o, command: try parseQdisc(rest))
    }

    static let usage = "Usage:\ttc [ OPTIONS ] OBJECT { COMMAND | help }\n"

    static let qdiscUsage = """
        Usage: tc qdisc [ add | del | replace | change | show ] dev STRING
               [ handle QHANDLE ] [ root | ingress | clsact | parent CLASSID ]
               [ estimator INTERVAL TIME_CONSTANT ]
               [ stab [ help | STAB_OPTIONS] ]
               [ ingress_block BLOCK_INDEX ] [ egress_block BLOCK_INDEX ]
               [ [ QDISC_KIND ] [ help | OPTIONS ] ]

               tc qdisc { show | list } [ dev STRING ] [ QDISC_ID ] [ invisible ]
        Where:
        QDISC_KIND := { [p|b]fifo | tbf | prio | cbq | red | etc. }
        OPTIONS := ... try tc qdisc add <desired QDISC_KIND> help
        STAB_OPTIONS := ... try tc qdisc add stab help
        QDISC_ID := { root | ingress | handle QHANDLE | parent CLASSID }

        """

    /// Parses the words after `tc qdisc`.
    public static func parseQdisc(_ args: [String]) throws(CommandFailure) -> TCCommand {
        guard let verb = args.first else { return .qdiscShow(TCQdiscShowRequest()) }
        let rest = Array(args.dropFirst())
        if matches(verb, "add") { return .qdiscModify(try parseModify(.add, rest)) }
        if matches(verb, "change") { return .qdiscModify(try parseModify(.change, rest)) }
        if matches(verb, "replace") { return .qdiscModify(try parseModify(.replace, rest)) }
        if matches(verb, "link") { return .qdiscModify(try parseModify(.link, rest)) }
        if matches(verb, "delete") { return .qdiscModify(try parseModify(.delete, rest)) }
        if matches(verb, "list") || matches(verb, "show") || matches(verb, "lst") {
            return .qdiscShow(try parseShow(rest))
        }
        if matches(verb, "help") { return .help(qdiscUsage) }
        throw CommandFailure("Command \"\(verb)\" is unknown, try \"tc qdisc help\".", status: 255)
    }

    /// get_qdisc_handle: hex major, optional trailing ':' ("none" is 0).
    static func qdiscHandle(_ s: String) -> QdiscHandle? {
        if s == "none" { return QdiscHandle.none }
        var digits = Substring(s)
        if digits.hasSuffix(":") { digits = digits.dropLast() }
        guard !digits.isEmpty, let v = UInt32(digits, radix: 16), v < 0x10000 else { return nil }
        return QdiscHandle(major: UInt16(v))
    }

    /// get_tc_classid: root, none, X:, X:Y, :Y, hex.
    static func classid(_ s: String) -> UInt32? {
        if s == "root" { return 0xFFFF_FFFF }
        if s == "none" { return 0 }
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 1 { return UInt32(parts[0], radix: 16) }
        guard parts.count == 2 else { return nil }
        let major = parts[0].isEmpty ? 0 : UInt32(parts[0], radix: 16)
        let minor = parts[1].isEmpty ? 0 : UInt32(parts[1], radix: 16)
        guard let major, let minor, major < 0x10000, minor < 0x10000 else { return nil }
        return major << 16 | minor
    }

    static func parseModify(_ verb: TCQdiscVerb, _ args: [String]) throws(CommandFailure) -> TCQdiscRequest {
        var r = TCQdiscRequest(verb: verb)
        var i = 0
        func next() throws(CommandFailure) -> String {
            i += 1
            guard i < args.count else { throw incomplete }
            return args[i]
        }
        while i < args.count {
            let a = args[i]
            if a == "dev" {
                let d = try next()
                if r.device != nil {
                    throw CommandFailure("Error: duplicate \"dev\": \"\(d)\" is the second value.", status: 255)
                }
                r.device = d
            } else if a == "handle" {
                if r.handle != nil && r.handle != QdiscHandle.none {
                    throw CommandFailure("Error: duplicate \"handle\": \"\(a)\" is the second value.", status: 255)
                }
                let h = try next()
                guard let v = qdiscHandle(h) else {
                    throw CommandFailure("Error: argument \"\(h)\" is wrong: invalid qdisc ID", status: 255)
                }
                r.handle = v
            } else if a == "root" {
                if r.parent != nil { throw CommandFailure("Error: \"root\" is duplicate parent ID", status: 255) }
                r.parent = .root
            } else if a == "clsact" || a == "ingress" {
                if r.parent != nil {
                    throw CommandFailure("Error: \"\(a)\" is a duplicate parent ID", status: 255)
                }
                r.parent = a == "clsact" ? .clsact : .ingress
                r.kind = a
                i += 1
                break
            } else if a == "parent" {
                let p = try next()
                if r.parent != nil {
                    throw CommandFailure("Error: duplicate \"parent\": \"\(p)\" is the second value.", status: 255)
                }
                guard let c = classid(p) else {
                    throw CommandFailure("Error: argument \"\(p)\" is wrong: invalid parent ID", status: 255)
                }
                r.parent = c == 0xFFFF_FFFF ? .root : .classid(c)
            } else if matches(a, "help") {
                // usage() is printed and parsing goes on, as tc does.
            } else {
                r.kind = a
                i += 1
                break
            }
            i += 1
        }
        let rest = i < args.count ? Array(args[i...]) : []
        guard let kind = r.kind else {
            if let first = rest.first {
                throw CommandFailure(
                    "Garbage instead of arguments \"\(first) ...\". Try \"tc qdisc help\".", status: 255)
            }
            return r
        }
        switch kind {
        case "netem":
            r.options = .netem(try parseNetem(rest, device: r.device))
        case "pfifo", "bfifo", "pfifo_head_drop":
            r.options = .fifo(limit: try parseFifo(kind, rest))
        case "pfifo_fast", "clsact", "ingress", "noqueue":
            if let first = rest.first {
                if kind == "noqueue" || kind == "clsact" || kind == "ingress" {
                    throw CommandFailure("Unknown qdisc \"\(kind)\", hence option \"\(first)\" is unparsable")
                }
                _ = first
                throw CommandFailure("qdisc '\(kind)' does not support option parsing", status: 255)
            }
        default:
            if let first = rest.first {
                throw CommandFailure("Unknown qdisc \"\(kind)\", hence option \"\(first)\" is unparsable")
            }
        }
        return r
    }

    static func parseShow(_ args: [String]) throws(CommandFailure) -> TCQdiscShowRequest {
        var s = TCQdiscShowRequest()
        var i = 0
        func next() throws(CommandFailure) -> String {
            i += 1
            guard i < args.count else { throw incomplete }
            return args[i]
        }
        func exclusive(_ a: String) throws(CommandFailure) {
            if s.rootOnly || s.parent != nil {
                throw CommandFailure("Error: argument \"\(a)\" is wrong: parent is already specified", status: 255)
            }
            if s.handle != nil {
                throw CommandFailure("Error: argument \"\(a)\" is wrong: handle is already specified", status: 255)
            }
        }
        while i < args.count {
            let a = args[i]
            if a == "dev" {
                s.device = try next()
            } else if a == "root" {
                try exclusive(a)
                s.rootOnly = true
            } else if a == "ingress" || a == "clsact" {
                try exclusive(a)
                s.parent = 0xFFFF_FFF1
            } else if matches(a, "parent") {
                try exclusive(a)
                let p = try next()
                guard let c = classid(p) else {
                    throw CommandFailure("Error: argument \"\(p)\" is wrong: invalid parent ID", status: 255)
                }
                if c == 0xFFFF_FFFF { s.rootOnly = true } else { s.parent = c }
            } else if matches(a, "handle") {
                try exclusive(a)
                let h = try next()
                guard let v = qdiscHandle(h) else {
                    throw CommandFailure("Error: argument \"\(h)\" is wrong: invalid handle ID", status: 255)
                }
                s.handle = v
            } else if matches(a, "help") {
                // usage, then go on
            } else if a == "invisible" {
                s.invisible = true
            } else {
                throw CommandFailure("What is \"\(a)\"? Try \"tc qdisc help\".", status: 255)
            }
            i += 1
        }
        return s
    }

    static func parseFifo(_ kind: String, _ args: [String]) throws(CommandFailure) -> UInt32? {
        var limit: UInt32? = nil
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "limit" {
                i += 1
                guard i < args.count else { throw incomplete }
                guard let v = size(args[i]) else {
                    throw CommandFailure("\(kind): Illegal value for \"limit\": \"\(args[i])\"")
                }
                limit = v
            } else if a == "help" {
                throw CommandFailure("Usage: ... <[p|b]fifo | pfifo_head_drop> [ limit NUMBER ]")
            } else {
                throw CommandFailure(
                    "\(kind): unknown parameter \"\(a)\"\nUsage: ... <[p|b]fifo | pfifo_head_drop> [ limit NUMBER ]")
            }
            i += 1
        }
        return limit
    }

    static let netemUsage = """
        Usage: ... netem [ limit PACKETS ]
                         [ delay TIME [ JITTER [CORRELATION]]]
                         [ distribution {uniform|normal|pareto|paretonormal} ]
                         [ corrupt PERCENT [CORRELATION]]
                         [ duplicate PERCENT [CORRELATION]]
                         [ loss random PERCENT [CORRELATION]]
                         [ loss state P13 [P31 [P32 [P23 P14]]]
                         [ loss gemodel PERCENT [R [1-H [1-K]]]
                         [ ecn ]
                         [ reorder PERCENT [CORRELATION] [ gap DISTANCE ]]
                         [ rate RATE [PACKETOVERHEAD] [CELLSIZE] [CELLOVERHEAD]]
                         [ slot MIN_DELAY [MAX_DELAY] [packets MAX_PACKETS] [bytes MAX_BYTES]]
                         [ slot distribution {uniform|normal|pareto|paretonormal|custom}
                           DELAY JITTER [packets MAX_PACKETS] [bytes MAX_BYTES]]
        """

    static func illegal(_ what: String) -> CommandFailure { CommandFailure("Illegal \"\(what)\"") }

    /// netem_parse_opt.
    static func parseNetem(_ args: [String], device: String?) throws(CommandFailure) -> NetemRequest {
        var r = NetemRequest()
        var corr: (delay: UInt32, loss: UInt32, duplicate: UInt32) = (0, 0, 0)
        var corrPresent = false
        var lossSet = false
        var reorderProbability: UInt32 = 0
        var i = 0
        func nextArg() throws(CommandFailure) -> String {
            i += 1
            guard i < args.count else { throw incomplete }
            return args[i]
        }
        func nextIsNumber() -> Bool {
            i + 1 < args.count && (args[i + 1].first?.isASCII ?? false) && (args[i + 1].first?.isNumber ?? false)
        }
        func nextIsSignedNumber() -> Bool {
            nextIsNumber() || (i + 1 < args.count && args[i + 1].first == "-")
        }
        func percentArg(_ what: String) throws(CommandFailure) -> UInt32 {
            guard let p = percent(args[i]) else { throw illegal(what) }
            return p
        }
        /// `PERCENT [CORRELATION]`, the argument at `i` first; a given
        /// correlation is one that `tc` reports as present.
        func percentAndCorrelation(_ what: String) throws(CommandFailure) -> (UInt32, UInt32) {
            let p = try percentArg(what)
            guard nextIsNumber() else { return (p, 0) }
            _ = try nextArg()
            corrPresent = true
            return (p, try percentArg(what))
        }
        while i < args.count {
            let a = args[i]
            if matches(a, "limit") {
                _ = try nextArg()
                guard let v = size(args[i]) else { throw illegal("limit") }
                r.limit = v
            } else if matches(a, "latency") || matches(a, "delay") {
                _ = try nextArg()
                r.latencyTicks = try ticks(args[i], what: "latency")
                if nextIsNumber() {
                    _ = try nextArg()
                    r.jitterTicks = try ticks(args[i], what: "latency")
                    if nextIsNumber() {
                        _ = try nextArg()
                        corrPresent = true
                        corr.delay = try percentArg("latency")
                    }
                }
            } else if matches(a, "loss") || matches(a, "drop") {
                if lossSet || r.lossModel != nil {
                    throw CommandFailure("Illegal \"duplicate loss argument\n\"")
                }
                let model = try nextArg()
                if model.first?.isNumber == true || model == "random" {
                    if model == "random" { _ = try nextArg() }
                    r.loss = try percentArg("loss percent")
                    lossSet = r.loss > 0
                    if nextIsNumber() {
                        _ = try nextArg()
                        corrPresent = true
                        corr.loss = try percentArg("loss correlation")
                    }
                } else if model == "state" {
                    _ = try nextArg()
                    guard let p13 = fraction(args[i]) else { throw illegal("loss p13") }
                    var v = (p13: scaled(p13), p31: scaled(1 - p13), p32: scaled(0), p23: scaled(1), p14: scaled(0))
                    let names = ["loss p31", "loss p32", "loss p23", "loss p14"]
                    for k in 0..<4 {
                        guard nextIsNumber() else { break }
                        _ = try nextArg()
                        let p = try percentArg(names[k])
                        switch k {
                        case 0: v.p31 = p
                        case 1: v.p32 = p
                        case 2: v.p23 = p
                        default: v.p14 = p
                        }
                    }
                    r.lossModel = .state(p13: v.p13, p31: v.p31, p32: v.p32, p23: v.p23, p14: v.p14)
                } else if model == "gemodel" {
                    _ = try nextArg()
                    guard let p = fraction(args[i]) else { throw illegal("loss gemodel p") }
                    var v = (p: scaled(p), r: scaled(1 - p), h: scaled(0), k1: scaled(0))
                    if nextIsNumber() {
                        _ = try nextArg()
                        v.r = try percentArg("loss gemodel r")
                        if nextIsNumber() {
                            _ = try nextArg()
                            v.h = UInt32.max - (try percentArg("loss gemodel h"))
                            if nextIsNumber() {
                                _ = try nextArg()
                                v.k1 = try percentArg("loss gemodel k")
                            }
                        }
                    }
                    r.lossModel = .gilbertElliott(p: v.p, r: v.r, h: v.h, k1: v.k1)
                } else {
                    throw CommandFailure("Unknown loss parameter: \(model)")
                }
            } else if matches(a, "ecn") {
                r.ecn = true
            } else if matches(a, "reorder") {
                _ = try nextArg()
                let (p, c) = try percentAndCorrelation("reorder")
                reorderProbability = p
                r.reorder = (p, c)
            } else if matches(a, "corrupt") {
                _ = try nextArg()
                r.corrupt = try percentAndCorrelation("corrupt")
            } else if matches(a, "gap") {
                _ = try nextArg()
                guard let g = UInt32(cNumber: args[i]) else { throw illegal("gap") }
                r.gap = g
            } else if matches(a, "duplicate") {
                _ = try nextArg()
                r.duplicate = try percentArg("duplicate")
                if nextIsNumber() {
                    _ = try nextArg()
                    // tc 6.1 does not count this one as present: the
                    // duplicate correlation reaches the kernel only when
                    // another correlation was given too.
                    corr.duplicate = try percentArg("duplicate")
                }
            } else if matches(a, "distribution") {
                let name = try nextArg()
                guard let d = NetemDistribution(rawValue: name) else {
                    throw CommandFailure(
                        "No distribution data for \(name) (/usr/lib/tc//\(name).dist: No such file or directory)")
                }
                r.distribution = d
            } else if matches(a, "rate") {
                let text = try nextArg()
                if text.contains("%") {
                    throw CommandFailure(device == nil
                        ? "No device specified; specify device to rate limit by percentage\nIllegal \"rate\""
                        : "Illegal \"rate\"")
                }
                guard let bytesPerSecond = rate64(text) else { throw illegal("rate") }
                var rate = (rate: bytesPerSecond, packetOverhead: Int32(0), cellSize: UInt32(0), cellOverhead: Int32(0))
                if nextIsSignedNumber() {
                    _ = try nextArg()
                    guard let v = Int32(cNumber: args[i]) else { throw illegal("rate") }
                    rate.packetOverhead = v
                }
                if nextIsNumber() {
                    _ = try nextArg()
                    guard let v = UInt32(cNumber: args[i]) else { throw illegal("rate") }
                    rate.cellSize = v
                }
                if nextIsSignedNumber() {
                    _ = try nextArg()
                    guard let v = Int32(cNumber: args[i]) else { throw illegal("rate") }
                    rate.cellOverhead = v
                }
                r.rate = rate
            } else if matches(a, "slot") {
                var slot = NetemSlot()
                if nextIsNumber() {
                    _ = try nextArg()
                    guard let mn = time64(args[i]) else { throw illegal("slot min_delay") }
                    slot.minDelay = mn
                    if nextIsNumber() {
                        _ = try nextArg()
                        guard let mx = time64(args[i]), mx >= mn else { throw illegal("slot max_delay") }
                        slot.maxDelay = mx
                    } else {
                        slot.maxDelay = mn
                    }
                } else {
                    let word = try nextArg()
                    guard word == "distribution" else { throw CommandFailure("Unknown slot parameter: \(word)") }
                    let name = try nextArg()
                    guard let d = NetemDistribution(rawValue: name) else {
                        throw CommandFailure(
                            "No distribution data for \(name) (/usr/lib/tc//\(name).dist: No such file or directory)")
                    }
                    slot.distribution = d
                    _ = try nextArg()
                    guard let delay = time64(args[i]) else { throw illegal("slot delay") }
                    _ = try nextArg()
                    guard let jitter = time64(args[i]) else { throw illegal("slot jitter") }
                    guard jitter > 0 else { throw CommandFailure("Non-positive jitter") }
                    slot.distributionDelay = delay
                    slot.distributionJitter = jitter
                }
                if i + 1 < args.count, matches(args[i + 1], "packets") {
                    i += 1
                    guard i + 1 < args.count, let n = Int32(cNumber: args[i + 1]) else { throw illegal("slot packets") }
                    slot.maxPackets = n
                    i += 1
                }
                if i + 1 < args.count, matches(args[i + 1], "bytes") {
                    i += 1
                    guard i + 1 < args.count, let n = size(args[i + 1]) else { throw illegal("slot bytes") }
                    slot.maxBytes = Int32(truncatingIfNeeded: n)
                    i += 1
                }
                r.slot = slot
            } else {
                let what = a == "help" ? "" : "What is \"\(a)\"?\n"
                throw CommandFailure(what + netemUsage)
            }
            i += 1
        }
        if reorderProbability != 0 {
            if r.latencyTicks == 0 {
                throw CommandFailure("reordering not possible without specifying some delay\n" + netemUsage)
            }
            if r.gap == 0 { r.gap = 1 }
        } else if r.gap > 0 {
            throw CommandFailure("gap specified without reorder probability\n" + netemUsage)
        }
        if r.ecn && r.loss == 0 && r.lossModel == nil {
            throw CommandFailure("ecn requested without loss model\n" + netemUsage)
        }
        if r.distribution != nil && (r.latencyTicks == 0 || r.jitterTicks == 0) {
            throw CommandFailure("distribution specified but no latency and jitter values\n" + netemUsage)
        }
        if corrPresent { r.correlation = corr }
        return r
    }

    // MARK: iproute2's number syntax

    /// strtod's accepted prefix: the number and the rest of the string.
    static func leadingDouble(_ s: String) -> (Double, Substring)? {
        let chars = Array(s.utf8)
        var i = 0
        if i < chars.count, chars[i] == UInt8(ascii: "+") || chars[i] == UInt8(ascii: "-") { i += 1 }
        var digits = 0
        while i < chars.count, chars[i] >= 48, chars[i] <= 57 { i += 1; digits += 1 }
        if i < chars.count, chars[i] == UInt8(ascii: ".") {
            i += 1
            while i < chars.count, chars[i] >= 48, chars[i] <= 57 { i += 1; digits += 1 }
        }
        guard digits > 0 else { return nil }
        if i < chars.count, chars[i] == UInt8(ascii: "e") || chars[i] == UInt8(ascii: "E") {
            var j = i + 1
            if j < chars.count, chars[j] == UInt8(ascii: "+") || chars[j] == UInt8(ascii: "-") { j += 1 }
            var expDigits = 0
            while j < chars.count, chars[j] >= 48, chars[j] <= 57 { j += 1; expDigits += 1 }
            if expDigits > 0 { i = j }
        }
        let numberText = String(decoding: chars[0..<i], as: UTF8.self)
        guard let v = Double(numberText) else { return nil }
        let rest = s.utf8.dropFirst(i)
        return (v, Substring(rest))
    }

    /// get_time: microseconds, truncated like the C cast.
    static func time(_ s: String) -> UInt32? {
        guard let (v, rest) = leadingDouble(s) else { return nil }
        var t = v
        switch rest.lowercased() {
        case "": break
        case "s", "sec", "secs": t *= 1_000_000
        case "ms", "msec", "msecs": t *= 1000
        case "us", "usec", "usecs": break
        default: return nil
        }
        guard t >= 0, t < 4_294_967_296 else { return t < 0 ? nil : UInt32.max }
        return UInt32(t)
    }

    /// get_time64: nanoseconds.
    static func time64(_ s: String) -> Int64? {
        guard let (v, rest) = leadingDouble(s) else { return nil }
        var t = v
        switch rest.lowercased() {
        case "": break
        case "s", "sec", "secs": t *= 1e9
        case "ms", "msec", "msecs": t *= 1e6
        case "us", "usec", "usecs": t *= 1e3
        case "ns", "nsec", "nsecs": break
        default: return nil
        }
        guard abs(t) < 9.2e18 else { return nil }
        return Int64(t)
    }

    /// get_ticks: microseconds → psched ticks (15.625 per µs on a 1 GHz clock).
    static func ticks(_ s: String, what: String) throws(CommandFailure) -> UInt32 {
        guard let us = time(s) else { throw illegal(what) }
        let t = Double(us) * tickPerMicrosecond
        if t >= 4_294_967_296 {
            throw CommandFailure("Illegal \(us) time (too large)\nIllegal \"\(what)\"")
        }
        return UInt32(t)
    }

    /// tick_in_usec from /proc/net/psched (1000 / 64 · 1).
    static let tickPerMicrosecond = 15.625

    /// get_size: bytes.
    static func size(_ s: String) -> UInt32? {
        guard let (v, rest) = leadingDouble(s) else { return nil }
        var sz = v
        switch rest.lowercased() {
        case "", "b": break
        case "kb", "k": sz *= 1024
        case "gb", "g": sz *= 1024 * 1024 * 1024
        case "gbit": sz *= 1024 * 1024 * 1024 / 8
        case "mb", "m": sz *= 1024 * 1024
        case "mbit": sz *= 1024 * 1024 / 8
        case "kbit": sz *= 1024 / 8
        default: return nil
        }
        guard sz >= 0, sz < 4_294_967_296, sz == sz.rounded(.down) else { return nil }
        return UInt32(sz)
    }

    /// get_rate64: bytes per second.
    static func rate64(_ s: String) -> UInt64? {
        guard let (v, rest) = leadingDouble(s) else { return nil }
        let suffixes: [(String, Double)] = [
            ("bit", 1), ("kibit", 1024), ("kbit", 1000), ("mibit", 1024 * 1024), ("mbit", 1_000_000),
            ("gibit", 1024 * 1024 * 1024), ("gbit", 1_000_000_000), ("tibit", 1024.0 * 1024 * 1024 * 1024),
            ("tbit", 1_000_000_000_000), ("bps", 8), ("kibps", 8 * 1024), ("kbps", 8000),
            ("mibps", 8 * 1024 * 1024), ("mbps", 8_000_000), ("gibps", 8.0 * 1024 * 1024 * 1024),
            ("gbps", 8_000_000_000), ("tibps", 8.0 * 1024 * 1024 * 1024 * 1024), ("tbps", 8_000_000_000_000),
        ]
        var bps = v
        if !rest.isEmpty {
            guard let s = suffixes.first(where: { $0.0 == rest.lowercased() }) else { return nil }
            bps *= s.1
        }
        bps /= 8
        guard bps >= 0, bps < 1.8e19 else { return nil }
        return UInt64(bps)
    }

    /// parse_percent: "30%" or "30" → 0.3; nil when malformed or outside 0…100.
    static func fraction(_ s: String) -> Double? {
        let (v, rest): (Double, Substring) = leadingDouble(s) ?? (0, Substring(s))
        let f = v / 100
        guard f <= 1, f >= 0 else { return nil }
        guard rest.isEmpty || rest == "%" else { return nil }
        return f
    }

    static func scaled(_ f: Double) -> UInt32 {
        let v = (f * Double(UInt32.max)).rounded(.toNearestOrEven)
        return v <= 0 ? 0 : (v >= Double(UInt32.max) ? .max : UInt32(v))
    }

    /// get_percent: the u32-scaled probability.
    static func percent(_ s: String) -> UInt32? { fraction(s).map(scaled) }

    // MARK: apply (the kernel's side)

    /// `Cannot find device "D"` (tc resolves the name before sending; status 1).
    public static func deviceNotFound(_ name: String) -> CommandFailure {
        CommandFailure("Cannot find device \"\(name)\"")
    }

    static func kernel(_ message: String) -> CommandFailure { CommandFailure("Error: \(message).", status: 2) }

    static func kindOf(_ name: String) -> QdiscKind? {
        switch name {
        case "noqueue": .noqueue
        case "pfifo_fast": .pfifoFast
        case "pfifo": .pfifo
        case "bfifo": .bfifo
        case "netem": .netem
        default: nil
        }
    }

    /// Performs a modify request on the device's root qdisc, as
    /// tc_modify_qdisc / tc_get_qdisc (delete) do on Linux 6.18. On success
    /// the old qdisc, when one was replaced or deleted, is returned so the
    /// caller can drop its queued packets (`purge()`); on failure nothing
    /// changed. `device == nil` in the request (no `dev`) fails like the
    /// kernel's ENODEV; otherwise the caller has already resolved the name.
    public static func apply(_ r: TCQdiscRequest, to root: inout Qdisc, device: QdiscDeviceInfo,
                             handles: inout QdiscHandleAllocator, seed: UInt64 = 0) throws(CommandFailure) -> Qdisc? {
        guard r.device != nil else { throw CommandFailure("RTNETLINK answers: No such device", status: 2) }
        if r.verb == .delete { return try delete(r, root: &root, device: device) }

        let current: QdiscHandle? = root.handle == .none ? nil : root.handle
        let createFlag = r.verb.create
        switch r.parent {
        case .classid:
            throw kernel("Failed to find specified qdisc")
        case .ingress, .clsact:
            throw kernel("Specified qdisc kind is unknown")
        case nil:
            guard let h = r.handle, h != QdiscHandle.none else { throw kernel("Handle cannot be zero") }
            guard current == h else { throw kernel("Specified qdisc not found") }
            return try changeInPlace(r, root: &root, device: device)
        case .root:
            break
        }
        // clid == TC_H_ROOT; a default (handle 0) root counts as none.
        if current == nil || r.handle == nil || r.handle != current {
            if let h = r.handle, h != QdiscHandle.none {
                if current != nil && !r.verb.replaceFlag { throw kernel("NLM_F_REPLACE needed to override") }
                // qdisc_lookup(dev, h): only the root exists here, and it is not h.
                return try create(r, handle: h, root: &root, device: device, handles: &handles, seed: seed,
                                  needCreateFlag: true)
            }
            guard current != nil else {
                return try create(r, handle: nil, root: &root, device: device, handles: &handles, seed: seed,
                                  needCreateFlag: true)
            }
            if let k = r.kind, k != root.kind.rawValue {
                if createFlag { // create-or-replace and create-exclusive
                    return try create(r, handle: nil, root: &root, device: device, handles: &handles, seed: seed,
                                      needCreateFlag: true)
                }
                if r.verb == .change {
                    return try create(r, handle: nil, root: &root, device: device, handles: &handles, seed: seed,
                                      needCreateFlag: false)
                }
            }
        }
        _ = createFlag
        return try changeInPlace(r, root: &root, device: device)
    }

    static func changeInPlace(_ r: TCQdiscRequest, root: inout Qdisc, device: QdiscDeviceInfo) throws(CommandFailure) -> Qdisc? {
        if r.verb.exclusive { throw kernel("Exclusivity flag on, cannot modify") }
        if let k = r.kind, k != root.kind.rawValue { throw kernel("Invalid qdisc name") }
        guard root.kind.canChange else { throw kernel("Change operation not supported by specified qdisc") }
        if r.kind == nil {
            // No TCA_OPTIONS at all: qdisc_change has nothing to apply.
            return nil
        }
        root.change(try options(for: root.kind, r.options, old: root.options, device: device))
        return nil
    }

    static func options(for kind: QdiscKind, _ request: TCQdiscOptionsRequest, old: QdiscOptions?,
                        device: QdiscDeviceInfo) throws(CommandFailure) -> QdiscOptions {
        switch kind {
        case .netem:
            guard case .netem(let n) = request else { throw CommandFailure("RTNETLINK answers: Invalid argument", status: 2) }
            var previous: NetemOptions? = nil
            if case .netem(let o)? = old { previous = o }
            return .netem(n.applied(to: previous))
        case .pfifo, .bfifo:
            var limit: UInt32
            if case .fifo(let l?) = request {
                limit = l
            } else {
                // fifo_init without options: txqueuelen packets, or
                // txqueuelen · psched_mtu bytes.
                limit = max(device.txQueueLength, 1)
                if kind == .bfifo { limit = device.txQueueLength &* (device.mtu &+ device.hardHeaderLength) }
            }
            return kind == .pfifo ? .pfifo(limit: limit) : .bfifo(limit: limit)
        case .pfifoFast:
            if device.txQueueLength == 0 { throw CommandFailure("RTNETLINK answers: Invalid argument", status: 2) }
            return .pfifoFast
        case .noqueue:
            return .noqueue
        case .noop:
            return .noop
        }
    }

    static func create(_ r: TCQdiscRequest, handle: QdiscHandle?, root: inout Qdisc, device: QdiscDeviceInfo,
                       handles: inout QdiscHandleAllocator, seed: UInt64,
                       needCreateFlag: Bool) throws(CommandFailure) -> Qdisc? {
        if needCreateFlag && !r.verb.create {
            throw kernel("Qdisc not found. To create specify NLM_F_CREATE flag")
        }
        guard let name = r.kind, let kind = kindOf(name) else { throw kernel("Specified qdisc kind is unknown") }
        let h: QdiscHandle
        if let handle {
            h = handle
        } else {
            let taken = root.handle
            guard let a = handles.allocate(isInUse: { $0 == taken }) else {
                throw kernel("Maximum number of qdisc handles was exceeded")
            }
            h = a
        }
        let opts = try options(for: kind, r.options, old: nil, device: device)
        var fresh = Qdisc(opts, handle: h, device: device, isDefault: false, seed: seed)
        swap(&fresh, &root)
        return fresh
    }

    static func delete(_ r: TCQdiscRequest, root: inout Qdisc, device: QdiscDeviceInfo) throws(CommandFailure) -> Qdisc? {
        switch r.parent {
        case .root:
            if let h = r.handle, h != QdiscHandle.none, h != root.handle { throw kernel("Invalid handle") }
        case .classid, .ingress, .clsact:
            throw kernel("Failed to find qdisc with specified classid")
        case nil:
            guard let h = r.handle, h != QdiscHandle.none, h == root.handle else {
                throw kernel("Failed to find qdisc with specified handle")
            }
        }
        if let k = r.kind, k != root.kind.rawValue { throw kernel("Invalid qdisc name") }
        if r.parent == nil { throw kernel("Classid cannot be zero") }
        if root.handle == .none { throw kernel("Cannot delete qdisc with handle of zero") }
        var fresh = Qdisc.makeDefault(for: device)
        swap(&fresh, &root)
        return fresh
    }

    // MARK: print

    /// Which entries `tc qdisc show` lists for `request`.
    public static func filter(_ entries: [TCQdiscEntry], _ request: TCQdiscShowRequest) -> [TCQdiscEntry] {
        entries.filter { e in
            if e.qdisc.kind == .noop { return false }
            if let d = request.device, d != e.device { return false }
            if let h = request.handle, h != QdiscHandle.none, h != e.qdisc.handle { return false }
            if let p = request.parent, p != 0 { return false }  // only roots here
            return true
        }
    }

    /// `tc [-s] [-j [-p]] qdisc show` output (stdout, newline-terminated).
    /// `showDevice`: false when the command named a device (`dev D`),
    /// which drops the `dev D` words as tc does.
    public static func printQdiscs(_ entries: [TCQdiscEntry], options: TCGlobalOptions,
                                   showDevice: Bool) -> String {
        if options.json {
            let items = entries.map { qdiscJSON($0, stats: options.stats, showDevice: showDevice) }
            return JSONValue.array(items).rendered(pretty: options.pretty) + "\n"
        }
        var out = ""
        for e in entries { out += qdiscText(e, stats: options.stats, showDevice: showDevice, iec: options.iec) }
        return out
    }

    static func qdiscText(_ e: TCQdiscEntry, stats: Bool, showDevice: Bool, iec: Bool) -> String {
        let q = e.qdisc
        var s = "qdisc \(q.kind.rawValue) \(q.handle) "
        if showDevice { s += "dev \(e.device) " }
        s += "root "
        if q.refcount != 1 { s += "refcnt \(q.refcount) " }
        switch q.options {
        case .noop, .noqueue: break
        case .pfifoFast:
            s += "bands 3 priomap" + pfifoFastPriomap.map { " \($0)" }.joined()
        case .pfifo(let limit):
            s += "limit \(limit)p"
        case .bfifo(let limit):
            s += "limit \(sizeText(limit))"
        case .netem(let o):
            s += netemText(o, iec: iec)
        }
        s += "\n"
        if stats {
            let st = q.stats
            s += " Sent \(st.bytes) bytes \(st.packets) pkt (dropped \(st.drops), overlimits \(st.overlimits) requeues \(st.requeues)) \n"
            s += " backlog \(sizeText(st.backlog)) \(st.qlen)p requeues \(st.requeues)\n"
        }
        return s
    }

    static func qdiscJSON(_ e: TCQdiscEntry, stats: Bool, showDevice: Bool) -> JSONValue {
        let q = e.qdisc
        var o = JSONObject()
        o["kind"] = .string(q.kind.rawValue)
        o["handle"] = .string(q.handle.description)
        if showDevice { o["dev"] = .string(e.device) }
        o["root"] = .bool(true)
        if q.refcount != 1 { o["refcnt"] = .uint(UInt64(q.refcount)) }
        var opts = JSONObject()
        switch q.options {
        case .noop, .noqueue: break
        case .pfifoFast:
            opts["bands"] = .uint(3)
            opts["priomap"] = .array(pfifoFastPriomap.map { .uint(UInt64($0)) })
            opts["multiqueue"] = .bool(false)
        case .pfifo(let limit), .bfifo(let limit):
            opts["limit"] = .uint(UInt64(limit))
        case .netem(let n):
            opts = netemJSON(n)
        }
        o["options"] = opts.value
        if stats {
            let st = q.stats
            o["bytes"] = .uint(st.bytes)
            o["packets"] = .uint(st.packets)
            o["drops"] = .uint(UInt64(st.drops))
            o["overlimits"] = .uint(UInt64(st.overlimits))
            o["requeues"] = .uint(UInt64(st.requeues))
            o["backlog"] = .uint(UInt64(st.backlog))
            o["qlen"] = .uint(UInt64(st.qlen))
        }
        return o.value
    }

    /// What netem_dump sends for the delay: ns → psched ticks, capped.
    static func dumpTicks(_ ns: Int64) -> UInt32 {
        let t = ns >> 6
        return t >= Int64(UInt32.max) ? .max : UInt32(max(0, t))
    }

    /// tc_core_tick2time: ticks → µs, truncated.
    static func tickTime(_ ticks: UInt32) -> UInt32 { UInt32(Double(ticks) / tickPerMicrosecond) }

    /// print_time (sprint_time): µs with %.3g units.
    static func timeText(_ us: UInt32) -> String {
        let t = Double(us)
        if t >= 1_000_000 { return CFormat.g(t / 1_000_000, precision: 3) + "s" }
        if t >= 1000 { return CFormat.g(t / 1000, precision: 3) + "ms" }
        return "\(us)us"
    }

    /// print_time64 (sprint_time64): ns.
    static func time64Text(_ ns: Int64) -> String {
        let t = Double(ns)
        if ns >= 1_000_000_000 { return CFormat.g(t / 1e9, precision: 3) + "s" }
        if ns >= 1_000_000 { return CFormat.g(t / 1e6, precision: 3) + "ms" }
        if ns >= 1000 { return CFormat.g(t / 1e3, precision: 3) + "us" }
        return "\(ns)ns"
    }

    /// sprint_size: `3000b`, `64Kb`, `1Mb`.
    static func sizeText(_ sz: UInt32) -> String {
        let kilo = 1024.0, mega = kilo * kilo
        let t = Double(sz)
        if t >= mega && abs(mega * (t / mega).rounded(.toNearestOrEven) - t) < 1024 {
            return CFormat.g((t / mega).rounded(.toNearestOrEven), precision: 6) + "Mb"
        }
        if t >= kilo && abs(kilo * (t / kilo).rounded(.toNearestOrEven) - t) < 16 {
            return CFormat.g((t / kilo).rounded(.toNearestOrEven), precision: 6) + "Kb"
        }
        return "\(sz)b"
    }

    /// print_rate: bytes/s → `1Mbit`, `1500Kbit` (IEC with -iec).
    static func rateText(_ bytesPerSecond: UInt64, iec: Bool) -> String {
        let kilo: UInt64 = iec ? 1024 : 1000
        let units = ["", "K", "M", "G", "T"]
        var rate = bytesPerSecond << 3
        var i = 0
        while i < units.count - 1 {
            if rate < kilo { break }
            if rate % kilo != 0 && rate < 1000 * kilo { break }
            rate /= kilo
            i += 1
        }
        return "\(rate)\(units[i])\(i > 0 && iec ? "i" : "")bit"
    }

    /// %g of per·100/0xFFFFFFFF: the percentage tc prints.
    static func percentText(_ p: UInt32) -> String { CFormat.g(100 * Double(p) / Double(UInt32.max), precision: 6) + "%" }

    /// The JSON fraction: per/0xFFFFFFFF printed with %g.
    static func fractionJSON(_ p: UInt32) -> JSONValue { CFormat.json(Double(p) / Double(UInt32.max)) }

    /// netem_print_opt, text.
    static func netemText(_ o: NetemOptions, iec: Bool) -> String {
        var s = "limit \(o.limit)"
        let latency = dumpTicks(o.latency), jitter = dumpTicks(o.jitter)
        if latency != 0 {
            s += " delay " + timeText(tickTime(latency))
            if jitter != 0 { s += "  " + timeText(tickTime(jitter)) }
            if jitter != 0 && o.delayCorrelation != 0 { s += " " + percentText(o.delayCorrelation) }
        }
        if o.loss != 0 {
            s += " loss " + percentText(o.loss)
            if o.lossCorrelation != 0 { s += " " + percentText(o.lossCorrelation) }
        }
        switch o.lossModel {
        case .state(let p13, let p31, let p32, let p23, let p14)?:
            s += " loss state p13 \(percentText(p13)) p31 \(percentText(p31)) p32 \(percentText(p32))"
                + " p23 \(percentText(p23)) p14 \(percentText(p14))"
        case .gilbertElliott(let p, let r, let h, let k1)?:
            s += " loss gemodel p \(percentText(p)) r \(percentText(r)) 1-h \(percentText(UInt32.max - h))"
                + " 1-k \(percentText(k1))"
        case nil: break
        }
        if o.duplicate != 0 {
            s += " duplicate " + percentText(o.duplicate)
            if o.duplicateCorrelation != 0 { s += " " + percentText(o.duplicateCorrelation) }
        }
        if o.reorder != 0 {
            s += " reorder " + percentText(o.reorder)
            if o.reorderCorrelation != 0 { s += " " + percentText(o.reorderCorrelation) }
        }
        if o.corrupt != 0 {
            s += " corrupt " + percentText(o.corrupt)
            if o.corruptCorrelation != 0 { s += " " + percentText(o.corruptCorrelation) }
        }
        if o.rate != 0 {
            s += " rate " + rateText(o.rate, iec: iec)
            if o.packetOverhead != 0 { s += " packetoverhead \(o.packetOverhead)" }
            if o.cellSize != 0 { s += " cellsize \(o.cellSize)" }
            if o.cellOverhead != 0 { s += " celloverhead \(o.cellOverhead)" }
        }
        if let slot = o.slot, slot.minDelay != 0 || slot.maxDelay != 0 || slot.distributionJitter != 0 {
            if slot.distributionJitter > 0 {
                s += " slot distribution " + time64Text(slot.distributionDelay) + " " + time64Text(slot.distributionJitter)
            } else {
                s += " slot " + time64Text(slot.minDelay) + " " + time64Text(slot.maxDelay)
            }
            if slot.maxPackets != 0 && slot.maxPackets != .max { s += " packets \(slot.maxPackets)" }
            if slot.maxBytes != 0 && slot.maxBytes != .max { s += " bytes \(slot.maxBytes)" }
        }
        if o.ecn { s += " ecn " }
        if o.gap != 0 { s += " gap \(o.gap)" }
        return s
    }

    /// netem_print_opt, JSON.
    static func netemJSON(_ o: NetemOptions) -> JSONObject {
        var j = JSONObject()
        j["limit"] = .uint(UInt64(o.limit))
        let latency = dumpTicks(o.latency), jitter = dumpTicks(o.jitter)
        if latency != 0 {
            var d = JSONObject()
            d["delay"] = CFormat.json(Double(tickTime(latency)) / 1_000_000)
            d["jitter"] = CFormat.json(Double(tickTime(jitter)) / 1_000_000)
            d["correlation"] = fractionJSON(o.delayCorrelation)
            j["delay"] = d.value
        }
        if o.loss != 0 {
            var l = JSONObject()
            l["loss"] = fractionJSON(o.loss)
            l["correlation"] = fractionJSON(o.lossCorrelation)
            j["loss-random"] = l.value
        }
        switch o.lossModel {
        case .state(let p13, let p31, let p32, let p23, let p14)?:
            var l = JSONObject()
            l["p13"] = fractionJSON(p13)
            l["p31"] = fractionJSON(p31)
            l["p32"] = fractionJSON(p32)
            l["p23"] = fractionJSON(p23)
            l["p14"] = fractionJSON(p14)
            j["loss-state"] = l.value
        case .gilbertElliott(let p, let r, let h, let k1)?:
            var l = JSONObject()
            l["p"] = fractionJSON(p)
            l["r"] = fractionJSON(r)
            l["1-h"] = fractionJSON(UInt32.max - h)
            l["1-k"] = fractionJSON(k1)
            j["loss-gemodel"] = l.value
        case nil: break
        }
        if o.duplicate != 0 {
            var d = JSONObject()
            d["duplicate"] = fractionJSON(o.duplicate)
            d["correlation"] = fractionJSON(o.duplicateCorrelation)
            j["duplicate"] = d.value
        }
        if o.reorder != 0 {
            var d = JSONObject()
            d["reorder"] = fractionJSON(o.reorder)
            d["correlation"] = fractionJSON(o.reorderCorrelation)
            j["reorder"] = d.value
        }
        if o.corrupt != 0 {
            var d = JSONObject()
            d["corrupt"] = fractionJSON(o.corrupt)
            d["correlation"] = fractionJSON(o.corruptCorrelation)
            j["corrupt"] = d.value
        }
        if o.rate != 0 {
            var r = JSONObject()
            r["rate"] = .uint(o.rate)
            r["packetoverhead"] = .int(Int64(o.packetOverhead))
            r["cellsize"] = .uint(UInt64(o.cellSize))
            r["celloverhead"] = .int(Int64(o.cellOverhead))
            j["rate"] = r.value
        }
        if let slot = o.slot, slot.minDelay != 0 || slot.maxDelay != 0 || slot.distributionJitter != 0 {
            var s = JSONObject()
            if slot.distributionJitter > 0 {
                s["distribution"] = CFormat.json(Double(slot.distributionDelay) / 1e9)
                s["jitter"] = CFormat.json(Double(slot.distributionJitter) / 1e9)
            } else {
                s["min-delay"] = CFormat.json(Double(slot.minDelay) / 1e9)
                s["max-delay"] = CFormat.json(Double(slot.maxDelay) / 1e9)
            }
            s["packets"] = .int(Int64(slot.maxPackets == .max ? 0 : slot.maxPackets))
            s["bytes"] = .int(Int64(slot.maxBytes == .max ? 0 : slot.maxBytes))
            j["slot"] = s.value
        }
        j["ecn"] = .bool(o.ecn)
        j["gap"] = .uint(UInt64(o.gap))
        return j
    }
}

extension UInt32 {
    /// get_u32(…, 0): strtoul with base detection (0x…, 0…).
    init?(cNumber s: String) {
        if s.hasPrefix("0x") || s.hasPrefix("0X") {
            self.init(s.dropFirst(2), radix: 16)
        } else if s.count > 1 && s.hasPrefix("0") {
            self.init(s.dropFirst(), radix: 8)
        } else {
            self.init(s, radix: 10)
        }
    }
}

extension Int32 {
    /// get_s32(…, 0).
    init?(cNumber s: String) {
        if s.hasPrefix("-") {
            guard let m = UInt32(cNumber: String(s.dropFirst())), m <= UInt32(Int32.max) + 1 else { return nil }
            self = m == UInt32(Int32.max) + 1 ? .min : -Int32(m)
        } else {
            guard let m = UInt32(cNumber: s), m <= UInt32(Int32.max) else { return nil }
            self = Int32(m)
        }
    }
}

/// C's printf %g, exactly (round-half-even on the exact binary value).
enum CFormat {
    /// `%.<precision>g` of a finite value.
    static func g(_ value: Double, precision: Int = 6) -> String {
        let p = max(precision, 1)
        if value == 0 { return value.sign == .minus ? "-0" : "0" }
        guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        let negative = value < 0
        let v = abs(value)
        // Shortest round-trip digits and exponent: v = 0.d1d2… × 10^e10.
        var (digits, e10) = shortestDigits(v)
        if digits.count > p {
            let keep = Array(digits.prefix(p))
            let rest = Array(digits.dropFirst(p))
            var roundUp: Bool
            if rest[0] > 5 || (rest[0] == 5 && rest.dropFirst().contains(where: { $0 != 0 })) {
                roundUp = true
            } else if rest[0] < 5 {
                roundUp = false
            } else {
                // The shortest form shows an exact tie; decide on the binary value.
                let c = compareExact(v, digits: keep + [5], exponent: e10)
                roundUp = c > 0 || (c == 0 && keep.last! % 2 == 1)
            }
            digits = keep
            if roundUp {
                var i = digits.count - 1
                while i >= 0 {
                    if digits[i] == 9 { digits[i] = 0; i -= 1 } else { digits[i] += 1; break }
                }
                if i < 0 { digits.insert(1, at: 0); digits.removeLast(); e10 += 1 }
            }
        }
        while digits.count > 1 && digits.last == 0 { digits.removeLast() }
        let x = e10 - 1  // exponent of the first digit
        var out = negative ? "-" : ""
        if x < -4 || x >= p {
            out += String(digits[0])
            if digits.count > 1 { out += "." + digits.dropFirst().map(String.init).joined() }
            out += x < 0 ? "e-" : "e+"
            let ax = abs(x)
            out += ax < 10 ? "0\(ax)" : "\(ax)"
        } else if x < 0 {
            out += "0." + String(repeating: "0", count: -x - 1) + digits.map(String.init).joined()
        } else {
            let intCount = x + 1
            let ds = digits.map(String.init)
            if ds.count <= intCount {
                out += ds.joined() + String(repeating: "0", count: intCount - ds.count)
            } else {
                out += ds[0..<intCount].joined() + "." + ds[intCount...].joined()
            }
        }
        return out
    }

    /// A JSON number as iproute2 writes it (jsonw_float: %g).
    static func json(_ value: Double) -> JSONValue {
        .double(Double(g(value)) ?? value)
    }

    /// Digits of Swift's shortest round-trip form: v = 0.d1d2… × 10^e.
    static func shortestDigits(_ v: Double) -> ([Int], Int) {
        let text = "\(v)"
        var mantissa = Substring(text)
        var exp = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            exp = Int(text[text.index(after: e)...]) ?? 0
        }
        var digits: [Int] = []
        var pointAt: Int? = nil
        for ch in mantissa {
            if ch == "." { pointAt = digits.count; continue }
            if let d = ch.wholeNumberValue { digits.append(d) }
        }
        var intDigits = pointAt ?? digits.count
        while let f = digits.first, f == 0, digits.count > 1 {
            digits.removeFirst()
            intDigits -= 1
        }
        while digits.count > 1 && digits.last == 0 { digits.removeLast() }
        return (digits, intDigits + exp)
    }

    /// Sign of v − 0.d1d2…×10^e, exact (UInt128 arithmetic; 0 when out of range).
    static func compareExact(_ v: Double, digits: [Int], exponent: Int) -> Int {
        // v = m · 2^q; t = T · 10^(exponent − digits.count).
        let m = UInt128(v.significandBitPattern | (v.isNormal ? (1 << 52) : 0))
        let q = Int(v.exponent) - 52
        var t: UInt128 = 0
        for d in digits { t = t * 10 + UInt128(d) }
        let k = exponent - digits.count    // t · 10^k
        var lhs = m, rhs = t
        // Bring both to integers: multiply by 2^-q and 10^-k as needed.
        func times(_ x: inout UInt128, _ f: UInt128, _ n: Int) -> Bool {
            for _ in 0..<n {
                let (r, o) = x.multipliedReportingOverflow(by: f)
                if o { return false }
                x = r
            }
            return true
        }
        if q >= 0 { guard times(&lhs, 2, q) else { return 0 } } else { guard times(&rhs, 2, -q) else { return 0 } }
        if k >= 0 { guard times(&rhs, 10, k) else { return 0 } } else {
            guard times(&lhs, 10, -k) else { return 0 }
        }
        return lhs > rhs ? 1 : (lhs < rhs ? -1 : 0)
    }
}
