// iperf3's command line (iperf_parse_arguments in iperf3 3.12): the flags
// the lab supports, with iperf3's error texts (`iperf3: parameter error -
// …` then a usage summary, exit 1).
import NetWire

struct Iperf3Options: Equatable {
    enum Role: Equatable { case server, client }
    var role: Role?
    var host = ""
    var port: UInt16 = 5201
    var oneOff = false
    var reverse = false
    var udp = false
    /// Bits per second; UDP defaults to 1 Mbit/s, TCP unlimited (0).
    var rate: UInt64 = 0
    var rateGiven = false
    var duration = 10
    var durationGiven = false
    var bytes: UInt64 = 0
    var blocks: UInt64 = 0
    /// 0: the default (128 KiB for TCP, the control connection's MSS for UDP).
    var length = 0
    var parallel = 1
    var json = false
    var family = 0
    var clientPort: UInt16 = 0
    var interval = 1.0
    var pacingTimer = 1000
    var format: Character = "a"
    var udpCounters64 = false
    var noDelay = false
    var title: String?
    var help = false
    var version = false

    static let maxStreams = 128
    static let maxTime = 86400
    static let maxBlockSize = 1024 * 1024
    static let minUDPBlockSize = 16
    static let maxUDPBlockSize = 65507

    static let usageShort = "Usage: iperf3 [-s|-c host] [options]\n       iperf3 [-h|--help] [-v|--version]\n"

    /// The options this lab's iperf3 takes (its own summary, not iperf3's text).
    static let usageLong = usageShort + """

        Supported in the netstack lab:
          -s, --server              run as a server (-1, --one-off: one test, then exit)
          -c, --client HOST         run as a client of HOST
          -p, --port N              server port (default 5201)
          -u, --udp                 UDP instead of TCP
          -b, --bitrate N[KMG]      target bits/sec (UDP default 1M, TCP unlimited)
          -t, --time S              seconds to transmit (default 10)
          -n, --bytes N[KMG]        bytes to transmit (instead of -t)
          -k, --blockcount N[KMG]   blocks to transmit (instead of -t or -n)
          -l, --length N[KMG]       block length (128K TCP, MSS for UDP)
          -P, --parallel N          parallel streams
          -R, --reverse             the server sends, the client receives
          -i, --interval S          seconds between reports (default 1, 0 none)
          -f, --format [kmgtKMGT]   units of the bitrate
          -J, --json                JSON output
          -4, -6                    IPv4 or IPv6 only
          -N, --no-delay            TCP_NODELAY
          --cport N                 client data port
          --pacing-timer N          pacing tick in microseconds (default 1000)
          --udp-counters-64bit      64-bit UDP packet counters
          -T, --title S             prefix for each output line
          -v, --version, -h, --help

        """

    /// Parses argv; on failure, the text iperf3 prints and its exit status.
    static func parse(_ argv: [String]) -> Result<Iperf3Options, Iperf3Failure> {
        var o = Iperf3Options()
        var serverFlag = false, clientFlag = false
        let withArg: [Character: String] = ["p": "port", "c": "client", "b": "bitrate", "t": "time", "n": "bytes",
                                            "k": "blockcount", "l": "length", "P": "parallel", "i": "interval",
                                            "f": "format", "T": "title"]
        let flags: Set<Character> = ["s", "1", "u", "R", "J", "4", "6", "N", "v", "h", "V", "D"]
        let longNames: [String: Character] = ["port": "p", "client": "c", "bitrate": "b", "bandwidth": "b", "time": "t",
                                              "bytes": "n", "blockcount": "k", "length": "l", "parallel": "P",
                                              "interval": "i", "format": "f", "title": "T", "server": "s",
                                              "one-off": "1", "udp": "u", "reverse": "R", "json": "J",
                                              "version4": "4", "version6": "6", "no-delay": "N", "version": "v",
                                              "help": "h", "verbose": "V", "cport": "\u{1}", "pacing-timer": "\u{2}",
                                              "udp-counters-64bit": "\u{3}"]
        let longWithArg: Set<Character> = ["\u{1}", "\u{2}"]
        func paramError(_ m: String) -> Result<Iperf3Options, Iperf3Failure> {
            .failure(Iperf3Failure(stdout: usageLong, stderr: "iperf3: parameter error - \(m)\n\n", status: 1))
        }
        var items: [(Character, String?)] = []
        var i = 1
        while i < argv.count {
            let a = argv[i]
            i += 1
            if a.hasPrefix("--") && a.count > 2 {
                var name = String(a.dropFirst(2))
                var value: String?
                if let eq = name.firstIndex(of: "=") {
                    value = String(name[name.index(after: eq)...])
                    name = String(name[..<eq])
                }
                guard let c = longNames[name] else {
                    return .failure(Iperf3Failure(stdout: "", stderr: "iperf3: unrecognized option '\(a)'\n" + usageShort, status: 1))
                }
                if withArg[c] != nil || longWithArg.contains(c) {
                    if value == nil {
                        guard i < argv.count else {
                            return .failure(Iperf3Failure(stdout: "", stderr: "iperf3: option '--\(name)' requires an argument\n" + usageShort, status: 1))
                        }
                        value = argv[i]
                        i += 1
                    }
                }
                items.append((c, value))
                continue
            }
            guard a.hasPrefix("-"), a.count > 1 else { continue }  // iperf3 ignores stray operands
            var chars = Array(a.dropFirst())
            while !chars.isEmpty {
                let c = chars.removeFirst()
                if withArg[c] != nil {
                    if !chars.isEmpty {
                        items.append((c, String(chars)))
                    } else if i < argv.count {
                        items.append((c, argv[i]))
                        i += 1
                    } else {
                        return .failure(Iperf3Failure(stdout: "", stderr: "iperf3: option requires an argument -- '\(c)'\n" + usageShort, status: 1))
                    }
                    chars.removeAll()
                } else if flags.contains(c) {
                    items.append((c, nil))
                } else {
                    return .failure(Iperf3Failure(stdout: "", stderr: "iperf3: invalid option -- '\(c)'\n" + usageShort, status: 1))
                }
            }
        }
        for (c, value) in items {
            let v = value ?? ""
            switch c {
            case "p":
                let n = atoi(v)
                guard n >= 1 && n <= 65535 else { return paramError("port number must be between 1 and 65535 inclusive") }
                o.port = UInt16(n)
            case "\u{1}":
                let n = atoi(v)
                guard n >= 1 && n <= 65535 else { return paramError("port number must be between 1 and 65535 inclusive") }
                o.clientPort = UInt16(n)
            case "f":
                guard let f = v.first, "kKmMgGtT".contains(f) else { return paramError("bad format specifier (valid formats are in the set [kmgtKMGT])") }
                o.format = f
            case "i":
                let d = CNumber.strtod(v) ?? 0
                guard d == 0 || (d >= 0.1 && d <= 60) else { return paramError("invalid report interval (min = 0.1, max = 60.0 seconds)") }
                o.interval = d
            case "1": o.oneOff = true; serverFlag = true
            case "D": serverFlag = true
            case "J": o.json = true
            case "V": break
            case "v": o.version = true
            case "h": o.help = true
            case "s":
                if o.role == .client { return paramError("cannot be both server and client") }
                o.role = .server
            case "c":
                if o.role == .server { return paramError("cannot be both server and client") }
                o.role = .client
                o.host = v
            case "u": o.udp = true; clientFlag = true
            case "b":
                var text = Substring(v)
                if let slash = text.firstIndex(of: "/") {
                    let burst = atoi(String(text[text.index(after: slash)...]))
                    guard burst > 0 && burst <= 1000 else { return paramError("invalid burst count (maximum = 1000)") }
                    text = text[..<slash]
                }
                o.rate = UInt64(max(0, unitValue(String(text), kilo: 1000)))
                o.rateGiven = true
                clientFlag = true
            case "t":
                let n = atoi(v)
                guard n <= maxTime else { return paramError("test duration too long (maximum = \(maxTime) seconds)") }
                o.duration = n
                o.durationGiven = true
                clientFlag = true
            case "n": o.bytes = UInt64(max(0, unitValue(v, kilo: 1024))); clientFlag = true
            case "k": o.blocks = UInt64(max(0, unitValue(v, kilo: 1024))); clientFlag = true
            case "l": o.length = Int(unitValue(v, kilo: 1024)); clientFlag = true
            case "P":
                let n = atoi(v)
                guard n <= maxStreams else { return paramError("number of parallel streams too large (maximum = \(maxStreams))") }
                o.parallel = n
                clientFlag = true
            case "R": o.reverse = true; clientFlag = true
            case "4": o.family = 4
            case "6": o.family = 6
            case "N": o.noDelay = true; clientFlag = true
            case "T": o.title = v; clientFlag = true
            case "\u{2}": o.pacingTimer = Int(unitValue(v, kilo: 1024)); clientFlag = true
            case "\u{3}": o.udpCounters64 = true; clientFlag = true
            default: break
            }
        }
        if o.help || o.version { return .success(o) }
        if o.role == .client && serverFlag { return paramError("some option you are trying to set is server only") }
        if o.role == .server && clientFlag { return paramError("some option you are trying to set is client only") }
        if o.role == nil {
            return .failure(Iperf3Failure(stdout: usageLong, stderr: "iperf3: parameter error - must either be a client (-c) or server (-s)\n\n", status: 1))
        }
        if o.length == 0 && !o.udp { o.length = 128 * 1024 }
        if (!o.udp && o.length <= 0) || o.length > maxBlockSize {
            return paramError("block size too large (maximum = \(maxBlockSize) bytes)")
        }
        if o.udp && o.length > 0 && (o.length < minUDPBlockSize || o.length > maxUDPBlockSize) {
            return paramError("block size invalid (minimum = \(minUDPBlockSize) bytes, maximum = \(maxUDPBlockSize) bytes)")
        }
        if !o.rateGiven { o.rate = o.udp ? 1024 * 1024 : 0 }
        if (o.bytes != 0 || o.blocks != 0) && !o.durationGiven { o.duration = 0 }
        if (o.bytes != 0 ? 1 : 0) + (o.blocks != 0 ? 1 : 0) + (o.durationGiven ? 1 : 0) > 1 {
            return paramError("only one test end condition (-t, -n, -k) may be specified")
        }
        if o.parallel < 1 { o.parallel = 1 }
        return .success(o)
    }

    /// atoi(3): leading digits, 0 when none.
    static func atoi(_ s: String) -> Int {
        var t = Substring(s).drop { $0 == " " }
        var negative = false
        if t.first == "-" || t.first == "+" { negative = t.first == "-"; t = t.dropFirst() }
        var n = 0
        for c in t {
            guard let d = c.wholeNumberValue, c.isASCII else { break }
            n = n &* 10 &+ d
            if n > Int(Int32.max) { n = Int(Int32.max); break }
        }
        return negative ? -n : n
    }

    /// unit_atof / unit_atoi: a number with an optional k/m/g/t suffix
    /// (`kilo` 1000 for rates, 1024 for sizes).
    static func unitValue(_ s: String, kilo: Double) -> Double {
        var digits = ""
        var rest = Substring(s)
        while let c = rest.first, c.isNumber || c == "." || c == "-" || c == "+" || c == "e" || c == "E" {
            if (c == "e" || c == "E"), !(rest.dropFirst().first?.isNumber ?? false) { break }
            digits.append(c)
            rest = rest.dropFirst()
        }
        var v = Double(digits) ?? 0
        switch rest.first {
        case "k", "K": v *= kilo
        case "m", "M": v *= kilo * kilo
        case "g", "G": v *= kilo * kilo * kilo
        case "t", "T": v *= kilo * kilo * kilo * kilo
        default: break
        }
        return v
    }
}

/// What iperf3 prints when it gives up before running.
struct Iperf3Failure: Error, Equatable {
    var stdout: String
    var stderr: String
    var status: Int32
}
