// What the user-facing tools (ping, nc) share: a process stepped in virtual
// time. The lab interpreter creates one per command line, calls `poll(now:)`
// after every step of the stack and whenever the process's `wakeAt` is
// due, and `terminate(now:)` for a Ctrl-C / kill (SIGINT), after which the
// process prints what the Linux tool prints on SIGINT and has exited.
import Netstack

/// Text a tool wrote since the caller last took it.
public struct ToolOutput: Equatable, Sendable {
    /// Standard output as bytes: nc copies binary data through it unchanged.
    public var stdoutBytes: [UInt8]
    public var stderr: String
    public init(stdout: String = "", stderr: String = "") {
        self.stdoutBytes = Array(stdout.utf8)
        self.stderr = stderr
    }

    /// Standard output as text (tools that print lines use this).
    public var stdout: String {
        get { String(decoding: stdoutBytes, as: UTF8.self) }
        set { stdoutBytes = Array(newValue.utf8) }
    }
}

/// Whether a tool process is still running (and when it next wants to be
/// polled, besides after every stack step), or has exited with a status.
public enum ToolState: Equatable, Sendable {
    case running(wakeAt: Instant?)
    case exited(Int32)
}

/// A getopt(3)-style scanner: clustered short flags (`-qn`), option
/// arguments attached (`-c3`) or separate (`-c 3`), `--` ends options;
/// GNU-style permutation (options may follow operands) when `permute`.
struct OptionScanner {
    enum Item: Equatable {
        case flag(Character, String?)
        case operand(String)
        case missingArgument(Character)
        case unknown(Character)
    }

    static func scan(_ args: ArraySlice<String>, withArgument: Set<Character>, flags: Set<Character>,
                     permute: Bool = true) -> [Item] {
        var out: [Item] = []
        var i = args.startIndex
        var onlyOperands = false
        while i < args.endIndex {
            let a = args[i]
            i += 1
            if onlyOperands || a == "-" || !a.hasPrefix("-") {
                out.append(.operand(a))
                if !permute { onlyOperands = true }
                continue
            }
            if a == "--" { onlyOperands = true; continue }
            var chars = Array(a.dropFirst())
            while !chars.isEmpty {
                let c = chars.removeFirst()
                if withArgument.contains(c) {
                    if !chars.isEmpty {
                        out.append(.flag(c, String(chars)))
                    } else if i < args.endIndex {
                        out.append(.flag(c, args[i]))
                        i += 1
                    } else {
                        out.append(.missingArgument(c))
                    }
                    chars.removeAll()
                } else if flags.contains(c) {
                    out.append(.flag(c, nil))
                } else {
                    out.append(.unknown(c))
                    chars.removeAll()
                }
            }
        }
        return out
    }
}

/// C-library number parsing as the tools use it.
enum CNumber {
    /// strtol(s, &end, base) requiring the whole string (leading blanks and
    /// a sign allowed); base 0 accepts 0x… hex and 0… octal.
    static func strtol(_ s: Substring, base: Int = 10) -> Int64? {
        var t = s.drop { $0 == " " || $0 == "\t" || $0 == "\n" }
        var negative = false
        if t.first == "-" || t.first == "+" { negative = t.first == "-"; t = t.dropFirst() }
        var b = base
        if base == 0 || base == 16, t.hasPrefix("0x") || t.hasPrefix("0X"), t.count > 2 {
            t = t.dropFirst(2); b = 16
        } else if base == 0, t.hasPrefix("0"), t.count > 1 {
            t = t.dropFirst(); b = 8
        } else if base == 0 {
            b = 10
        }
        guard !t.isEmpty, let v = Int64(t, radix: b) else { return nil }
        return negative ? -v : v
    }

    /// strtod with the C locale: a plain decimal number.
    static func strtod(_ s: String) -> Double? {
        let t = s.drop { $0 == " " }
        guard !t.isEmpty, t.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" || $0 == "+" || $0 == "e" || $0 == "E" })
        else { return nil }
        return Double(t)
    }
}
