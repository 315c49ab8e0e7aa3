// Commands the interpreter runs itself, as processes (so they work in pipes,
// in the background and after `ip netns exec`): echo, printf, cat, true,
// false, sleep, test/[, seq. They print as GNU coreutils / bash builtins do,
// with LC_ALL=C messages (the Linux oracle runs with LC_ALL=C).
import Netstack

/// Exits on its first poll with fixed output.
final class ImmediateProcess: LabProcess {
    private var output: LabOutput
    private let status: Int32

    init(status: Int32, stdout: String = "", stderr: String = "") {
        var o = LabOutput()
        o.write(stdout, to: .stdout)
        o.write(stderr, to: .stderr)
        output = o
        self.status = status
    }

    init(status: Int32, bytes: [UInt8]) {
        var o = LabOutput()
        o.write(bytes: bytes)
        output = o
        self.status = status
    }

    func poll(now: Instant, output: inout LabOutput) -> LabProcessState {
        for c in self.output.take() { output.write(bytes: c.bytes, to: c.stream) }
        return .exited(status)
    }
}

/// `sleep N…`: exits when its deadline (spawn time + sum of intervals) is reached.
final class SleepProcess: LabProcess {
    private let duration: TimeDelta
    private var deadline: Instant?

    init(duration: TimeDelta) { self.duration = duration }

    func poll(now: Instant, output: inout LabOutput) -> LabProcessState {
        let end = deadline ?? now + duration
        deadline = end
        return now >= end ? .exited(0) : .running(wakeAt: end)
    }
}

enum LabBuiltins {
    /// (Adding one? `process` filters on the first byte of these names.)
    static let names: Set<String> = ["echo", "printf", "cat", "true", "false", "sleep", "test", "[", "seq"]

    /// Makes the process for a builtin command, or nil when `argv[0]` is not one.
    /// `prefix` starts the error messages of bash's own builtins (printf,
    /// test): `lab.sh: line 3: ` when the shell runs them, empty when run as
    /// programs (after `ip netns exec`).
    static func process(_ argv: [String], stdin: [UInt8], files: [String: [UInt8]],
                        prefix makePrefix: @autoclosure () -> String = "") -> LabProcess? {
        // Every builtin name starts with one of these bytes: most commands
        // (`ip …`) are turned away without hashing the name.
        guard let name = argv.first, let f = name.utf8.first,
              f == UInt8(ascii: "e") || f == UInt8(ascii: "p") || f == UInt8(ascii: "c") || f == UInt8(ascii: "t")
                || f == UInt8(ascii: "f") || f == UInt8(ascii: "s") || f == UInt8(ascii: "["),
              names.contains(name) else { return nil }
        let args = Array(argv.dropFirst())
        // Built only for a builtin: the message prefix of its errors.
        let prefix = makePrefix()
        switch name {
        case "true": return ImmediateProcess(status: 0)
        case "false": return ImmediateProcess(status: 1)
        case "echo": return ImmediateProcess(status: 0, stdout: echo(args))
        case "printf":
            let (text, error, status) = printf(args)
            let prefixed = error.split(separator: "\n").map { prefix + $0 + "\n" }.joined()
            return ImmediateProcess(status: status, stdout: text, stderr: prefixed)
        case "cat": return cat(args, stdin: stdin, files: files)
        case "sleep": return sleep(args)
        case "test", "[":
            let (status, error) = test(args, bracket: name == "[", files: files)
            return ImmediateProcess(status: status, stderr: error.map { "\(prefix)\(name): \($0)\n" } ?? "")
        case "seq": return seq(args)
        default: return nil
        }
    }

    // MARK: echo

    /// bash's builtin echo: `-n`, `-e`, `-E` (combinable, as a leading run of options).
    static func echo(_ args: [String]) -> String {
        var newline = true
        var escapes = false
        var rest = args[...]
        while let a = rest.first, a.count > 1, a.hasPrefix("-"), a.dropFirst().allSatisfy({ "neE".contains($0) }) {
            for c in a.dropFirst() {
                switch c {
                case "n": newline = false
                case "e": escapes = true
                default: escapes = false
                }
            }
            rest = rest.dropFirst()
        }
        var text = rest.joined(separator: " ")
        if escapes {
            let (expanded, stop) = interpretEscapes(text, octalNeedsZero: true)
            text = expanded
            if stop { return text }
        }
        return newline ? text + "\n" : text
    }

    /// Backslash escapes as `echo -e` and printf read them; `stop` after `\c`.
    static func interpretEscapes(_ s: String, octalNeedsZero: Bool) -> (String, stop: Bool) {
        var out = ""
        let c = Array(s)
        var i = 0
        while i < c.count {
            guard c[i] == "\\", i + 1 < c.count else { out.append(c[i]); i += 1; continue }
            let e = c[i + 1]
            i += 2
            switch e {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "e", "E": out.append("\u{1B}")
            case "f": out.append("\u{0C}")
            case "v": out.append("\u{0B}")
            case "\\": out.append("\\")
            case "c": return (out, true)
            case "x":
                var v = 0, n = 0
                while n < 2, i < c.count, let d = c[i].hexDigitValue { v = v * 16 + d; i += 1; n += 1 }
                if n == 0 { out += "\\x" } else { out.unicodeScalars.append(Unicode.Scalar(UInt8(v))) }
            case "0"..."7":
                if octalNeedsZero && e != "0" { out.append("\\"); out.append(e); continue }
                var v = octalNeedsZero ? 0 : Int(String(e))!
                var n = 0
                while n < 3, i < c.count, let d = c[i].wholeNumberValue, d < 8 { v = v * 8 + d; i += 1; n += 1 }
                out.unicodeScalars.append(Unicode.Scalar(UInt8(v & 0xFF)))
            default:
                out.append("\\")
                out.append(e)
            }
        }
        return (out, false)
    }

    // MARK: printf

    /// bash's builtin printf: `%s %b %d %i %u %x %X %o %c %%` with flags `-0+ `
    /// and width/precision; the format is reused while arguments remain.
    static func printf(_ argv: [String]) -> (String, String, Int32) {
        var args = argv[...]
        if args.first == "--" { args = args.dropFirst() }
        guard let format = args.first else {
            return ("", "printf: usage: printf [-v var] format [arguments]\n", 2)
        }
        args = args.dropFirst()
        var out = ""
        var err = ""
        var status: Int32 = 0
        let f = Array(format)
        repeat {
            var consumed = false
            var i = 0
            while i < f.count {
                let ch = f[i]
                if ch == "\\" {
                    var j = i + 1
                    // One escape at a time through the shared reader.
                    if j < f.count {
                        if f[j] == "x" { j += 1; var n = 0; while n < 2, j < f.count, f[j].isHexDigit { j += 1; n += 1 } }
                        else if ("0"..."7").contains(f[j]) { var n = 0; while n < 3, j < f.count, ("0"..."7").contains(f[j]) { j += 1; n += 1 } }
                        else { j += 1 }
                    }
                    let (s, stop) = interpretEscapes(String(f[i..<j]), octalNeedsZero: false)
                    out += s
                    if stop { return (out, err, status) }
                    i = j
                    continue
                }
                guard ch == "%", i + 1 < f.count else { out.append(ch); i += 1; continue }
                if f[i + 1] == "%" { out.append("%"); i += 2; continue }
                var j = i + 1
                var flags = ""
                while j < f.count, "-+ 0#".contains(f[j]) { flags.append(f[j]); j += 1 }
                var width = ""
                while j < f.count, f[j].isNumber { width.append(f[j]); j += 1 }
                var precision: Int?
                if j < f.count, f[j] == "." {
                    j += 1
                    var p = ""
                    while j < f.count, f[j].isNumber { p.append(f[j]); j += 1 }
                    precision = Int(p) ?? 0
                }
                guard j < f.count else { out += String(f[i...]); break }
                let conv = f[j]
                i = j + 1
                let arg = args.first
                if arg != nil { args = args.dropFirst(); consumed = true }
                var body: String
                switch conv {
                case "s":
                    body = arg ?? ""
                    if let p = precision { body = String(body.prefix(p)) }
                case "b":
                    body = interpretEscapes(arg ?? "", octalNeedsZero: true).0
                case "c":
                    body = arg.map { String($0.prefix(1)) } ?? ""
                case "d", "i", "u", "x", "X", "o":
                    var value: Int64 = 0
                    if let a = arg {
                        if let v = parseInteger(a) { value = v } else {
                            err += "printf: \(a): invalid number\n"
                            status = 1
                        }
                    }
                    switch conv {
                    case "x": body = String(UInt64(bitPattern: value), radix: 16)
                    case "X": body = String(UInt64(bitPattern: value), radix: 16).uppercased()
                    case "o": body = String(UInt64(bitPattern: value), radix: 8)
                    default:
                        body = String(value.magnitude)
                        if value < 0 { body = "-" + body } else if flags.contains("+") { body = "+" + body } else if flags.contains(" ") { body = " " + body }
                    }
                    if let p = precision {
                        let negative = body.hasPrefix("-")
                        var digits = negative ? String(body.dropFirst()) : body
                        if digits.count < p { digits = String(repeating: "0", count: p - digits.count) + digits }
                        body = negative ? "-" + digits : digits
                    }
                default:
                    err += "printf: `\(conv)': invalid format character\n"
                    return (out, err, 1)
                }
                let w = Int(width) ?? 0
                if body.count < w {
                    let pad = w - body.count
                    if flags.contains("-") {
                        body += String(repeating: " ", count: pad)
                    } else if flags.contains("0"), "diuxXo".contains(conv), precision == nil {
                        let sign = body.first.map { "+- ".contains($0) } ?? false
                        body = sign ? String(body.first!) + String(repeating: "0", count: pad) + body.dropFirst()
                            : String(repeating: "0", count: pad) + body
                    } else {
                        body = String(repeating: " ", count: pad) + body
                    }
                }
                out += body
            }
            if !consumed { break }
        } while !args.isEmpty
        return (out, err, status)
    }

    /// Decimal, 0x hex, 0 octal, or 'c (a character's code), as printf reads numbers.
    static func parseInteger(_ s: String) -> Int64? {
        let t = s.trimmingBlanks
        if let first = t.first, first == "'" || first == "\"", t.count >= 2 {
            return Int64(t.unicodeScalars.dropFirst().first!.value)
        }
        var body = Substring(t)
        var negative = false
        if body.first == "-" || body.first == "+" { negative = body.first == "-"; body = body.dropFirst() }
        let v: Int64?
        if body.hasPrefix("0x") || body.hasPrefix("0X") { v = Int64(body.dropFirst(2), radix: 16) }
        else if body.count > 1 && body.hasPrefix("0") { v = Int64(body.dropFirst(), radix: 8) }
        else { v = Int64(body) }
        return v.map { negative ? -$0 : $0 }
    }

    // MARK: cat

    static func cat(_ args: [String], stdin: [UInt8], files: [String: [UInt8]]) -> LabProcess {
        var out: [UInt8] = []
        var err = ""
        var status: Int32 = 0
        let operands = args.filter { $0 != "-u" }
        for name in operands.isEmpty ? ["-"] : operands {
            if name == "-" { out += stdin; continue }
            if name == "/dev/null" { continue }
            if let data = files[name] { out += data } else {
                err += "cat: \(name): No such file or directory\n"
                status = 1
            }
        }
        var o = LabOutput()
        o.write(bytes: out)
        o.write(err, to: .stderr)
        return OutputProcess(o, status: status)
    }

    // MARK: sleep

    /// GNU sleep: NUMBER[smhd]…, fractions allowed, intervals summed.
    static func sleep(_ args: [String]) -> LabProcess {
        guard !args.isEmpty else {
            return ImmediateProcess(status: 1, stderr: "sleep: missing operand\nTry 'sleep --help' for more information.\n")
        }
        var total = TimeDelta.zero
        for a in args {
            var number = Substring(a)
            var scale = 1.0
            if let last = number.last, "smhd".contains(last) {
                scale = ["s": 1, "m": 60, "h": 3600, "d": 86400][last]!
                number = number.dropLast()
            }
            guard let v = Double(number), v >= 0, v.isFinite, !number.hasPrefix("+") || number.count > 1 else {
                return ImmediateProcess(status: 1, stderr: "sleep: invalid time interval '\(a)'\nTry 'sleep --help' for more information.\n")
            }
            total = total + TimeDelta(seconds: v * scale)
        }
        return SleepProcess(duration: total)
    }

    // MARK: test

    /// `test`/`[`: unary -n -z -e -f -s, binary = == != -eq -ne -lt -le -gt -ge, `!`.
    /// Returns the status and an error message (status 2) if malformed.
    static func test(_ argv: [String], bracket: Bool, files: [String: [UInt8]]) -> (Int32, String?) {
        var args = argv
        if bracket {
            guard args.last == "]" else { return (2, "missing `]'") }
            args.removeLast()
        }
        func truth(_ b: Bool) -> Int32 { b ? 0 : 1 }
        func evaluate(_ a: ArraySlice<String>) -> (Int32, String?) {
            switch a.count {
            case 0: return (1, nil)
            case 1: return (truth(!a.first!.isEmpty), nil)
            case 2:
                let op = a.first!, v = a.last!
                switch op {
                case "!": return (truth(v.isEmpty), nil)
                case "-n": return (truth(!v.isEmpty), nil)
                case "-z": return (truth(v.isEmpty), nil)
                case "-e", "-f", "-r": return (truth(files[v] != nil || v == "/dev/null" && op == "-e"), nil)
                case "-s": return (truth(!(files[v] ?? []).isEmpty), nil)
                default: return (2, "\(op): unary operator expected")
                }
            case 3:
                let x = a[a.startIndex], op = a[a.startIndex + 1], y = a[a.startIndex + 2]
                switch op {
                case "=", "==": return (truth(x == y), nil)
                case "!=": return (truth(x != y), nil)
                case "-eq", "-ne", "-lt", "-le", "-gt", "-ge":
                    guard let l = Int64(x.trimmingBlanks) else { return (2, "\(x): integer expression expected") }
                    guard let r = Int64(y.trimmingBlanks) else { return (2, "\(y): integer expression expected") }
                    let result = switch op {
                    case "-eq": l == r
                    case "-ne": l != r
                    case "-lt": l < r
                    case "-le": l <= r
                    case "-gt": l > r
                    default: l >= r
                    }
                    return (truth(result), nil)
                default:
                    if x == "!" {
                        let (s, e) = evaluate(a.dropFirst())
                        return e == nil ? (s == 0 ? 1 : 0, nil) : (s, e)
                    }
                    return (2, "\(op): binary operator expected")
                }
            default:
                if a.first == "!" {
                    let (s, e) = evaluate(a.dropFirst())
                    return e == nil ? (s == 0 ? 1 : 0, nil) : (s, e)
                }
                return (2, "too many arguments")
            }
        }
        return evaluate(args[...])
    }

    // MARK: seq

    static func seq(_ args: [String]) -> LabProcess {
        let numbers = args.map { Int64($0) }
        guard (1...3).contains(args.count), numbers.allSatisfy({ $0 != nil }) else {
            let bad = args.first(where: { Int64($0) == nil })
            let message = bad.map { "seq: invalid argument: '\($0)'\n" } ?? "seq: missing operand\n"
            return ImmediateProcess(status: 1, stderr: message + "Try 'seq --help' for more information.\n")
        }
        let n = numbers.map { $0! }
        let (first, step, last): (Int64, Int64, Int64) = switch n.count {
        case 1: (1, 1, n[0])
        case 2: (n[0], 1, n[1])
        default: (n[0], n[1], n[2])
        }
        guard step != 0 else {
            return ImmediateProcess(status: 1, stderr: "seq: invalid Zero increment value: '0'\nTry 'seq --help' for more information.\n")
        }
        var out = ""
        var v = first
        var count = 0
        while (step > 0 ? v <= last : v >= last) && count < 1_000_000 {
            out += "\(v)\n"
            v += step
            count += 1
        }
        return ImmediateProcess(status: 0, stdout: out)
    }
}

/// Exits on its first poll, writing prepared output (stdout and stderr in order).
final class OutputProcess: LabProcess {
    private var output: LabOutput
    private let status: Int32
    init(_ output: LabOutput, status: Int32) {
        self.output = output
        self.status = status
    }
    func poll(now: Instant, output: inout LabOutput) -> LabProcessState {
        for c in self.output.take() { output.write(bytes: c.bytes, to: c.stream) }
        return .exited(status)
    }
}

extension String {
    var trimmingBlanks: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" { s = s.dropLast() }
        return String(s)
    }
}
