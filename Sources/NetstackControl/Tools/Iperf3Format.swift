// What iperf3 (3.12) prints with, rebuilt without printf: the unit
// formatting of units.c (unit_snprintf's adaptive KBytes/Mbits with four
// places), printf-style fixed and %g numbers, and the JSON it reads and
// writes through cJSON — compact on the control connection
// (cJSON_PrintUnformatted), tab-indented for `-J` (cJSON_Print).
//
// Differences from cJSON: a non-integral number prints in Swift's shortest
// round-trip form (cJSON tries %1.15g, then %1.17g), so the last digits of
// a bits_per_second can differ; the value read back is the same double.

enum Iperf3Format {
    /// printf("%.Nf", v).
    static func fixed(_ v: Double, _ decimals: Int) -> String {
        guard v.isFinite else { return v.isNaN ? "nan" : (v < 0 ? "-inf" : "inf") }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let negative = v < 0
        let scaled = (abs(v) * scale).rounded(.toNearestOrEven)
        guard scaled < 9.0e18 else { return String(v) }
        let n = UInt64(scaled)
        let divisor = UInt64(scale)
        var s = String(n / divisor)
        if decimals > 0 {
            let frac = String(n % divisor)
            s += "." + String(repeating: "0", count: decimals - frac.count) + frac
        }
        return (negative && n != 0 ? "-" : "") + s
    }

    /// Right-aligns (or with `left`, left-aligns) `s` in `width` columns.
    static func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - s.count))
        return left ? s + fill : fill + s
    }

    /// printf("%.Pg", v) for P significant digits.
    static func general(_ v: Double, _ precision: Int) -> String {
        if v == 0 { return "0" }
        guard v.isFinite else { return v.isNaN ? "nan" : "inf" }
        let p = max(precision, 1)
        var exponent = Int((abs(v)).log10Floor)
        // Rounding to P digits can carry into the next power of ten.
        var scale = 1.0
        for _ in 0..<abs(p - 1 - exponent) { scale *= 10 }
        var mantissa = p - 1 - exponent >= 0 ? (abs(v) * scale).rounded() : (abs(v) / scale).rounded()
        var limit = 1.0
        for _ in 0..<p { limit *= 10 }
        if mantissa >= limit { exponent += 1; mantissa /= 10 }
        let sign = v < 0 ? "-" : ""
        if exponent < -4 || exponent >= p {
            var digits = fixed(abs(v) / pow10(exponent), p - 1)
            if digits.contains(".") {
                while digits.hasSuffix("0") { digits.removeLast() }
                if digits.hasSuffix(".") { digits.removeLast() }
            }
            let e = abs(exponent)
            return sign + digits + (exponent < 0 ? "e-" : "e+") + (e < 10 ? "0" : "") + String(e)
        }
        var s = fixed(abs(v), max(0, p - 1 - exponent))
        if s.contains(".") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        return sign + s
    }

    static func pow10(_ e: Int) -> Double {
        var r = 1.0
        for _ in 0..<abs(e) { r *= 10 }
        return e < 0 ? 1 / r : r
    }

    /// unit_snprintf(): `value` in bytes; format 'A' adaptive bytes (1024),
    /// 'a' adaptive bits (1000), k/m/g/t and K/M/G/T fixed units. The label
    /// has no plural `s`; iperf3's lines append it ("%ss").
    static func unit(_ value: Double, _ format: Character) -> String {
        let bits = !format.isUppercase
        var n = bits ? value * 8 : value
        let byteLabels = ["Byte", "KByte", "MByte", "GByte", "TByte"]
        let bitLabels = ["bit", "Kbit", "Mbit", "Gbit", "Tbit"]
        var conv: Int
        switch Character(format.uppercased()) {
        case "B": conv = 0
        case "K": conv = 1
        case "M": conv = 2
        case "G": conv = 3
        case "T": conv = 4
        default:
            conv = 0
            var t = n
            let base = bits ? 1000.0 : 1024.0
            while t >= base && conv < 4 { t /= base; conv += 1 }
        }
        let base = bits ? 1000.0 : 1024.0
        for _ in 0..<conv { n /= base }
        let digits: String
        if n < 9.995 { digits = fixed(n, 2) } else if n < 99.95 { digits = fixed(n, 1) } else { digits = fixed(n, 0) }
        return pad(digits, 4) + " " + (bits ? bitLabels[conv] : byteLabels[conv])
    }

    // MARK: JSON as cJSON prints it

    /// cJSON_PrintUnformatted (the control connection) or cJSON_Print (-J).
    static func json(_ v: JSONValue, formatted: Bool) -> String {
        var out = ""
        render(v, depth: 0, formatted: formatted, into: &out)
        return out
    }

    private static func render(_ v: JSONValue, depth: Int, formatted: Bool, into out: inout String) {
        switch v {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .uint(let u): out += String(u)
        case .double(let d): out += number(d)
        case .string(let s): out += quoted(s)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += formatted ? ", " : "," }
                render(item, depth: depth + 1, formatted: formatted, into: &out)
            }
            out += "]"
        case .object(let members):
            out += formatted ? "{\n" : "{"
            for (i, (k, item)) in members.enumerated() {
                if formatted { out += String(repeating: "\t", count: depth + 1) }
                out += quoted(k) + (formatted ? ":\t" : ":")
                render(item, depth: depth + 1, formatted: formatted, into: &out)
                if i < members.count - 1 { out += "," }
                if formatted { out += "\n" }
            }
            if formatted { out += String(repeating: "\t", count: depth) }
            out += "}"
        }
    }

    static func number(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        var s = String(d)  // shortest round-trip; may be "1e-05"
        if let e = s.firstIndex(of: "e") {
            let mant = s[..<e]
            var exp = String(s[s.index(after: e)...])
            var sign = "+"
            if exp.hasPrefix("-") { sign = "-"; exp.removeFirst() } else if exp.hasPrefix("+") { exp.removeFirst() }
            if exp.count < 2 { exp = "0" + exp }
            s = mant + "e" + sign + exp
        }
        return s
    }

    /// JSON string quoting: the same escapes as iproute2's writer (JSON.swift).
    static func quoted(_ s: String) -> String { JSONWriter.quoted(s) }

    /// cJSON_Parse for what a peer sends: objects, arrays, strings, numbers
    /// (integral ones as `.int`), true/false/null. Nil when malformed.
    static func parse(_ bytes: [UInt8]) -> JSONValue? {
        var p = JSONParser(bytes: bytes)
        guard let v = p.value() else { return nil }
        p.skipSpace()
        return p.i == bytes.count || bytes[p.i...].allSatisfy({ $0 == 0 }) ? v : nil
    }

    /// The UTC date line of the `-J` timestamp ("%a, %d %b %Y %H:%M:%S GMT").
    static func rfc1123(secondsSinceEpoch t: Int64) -> String {
        let days = t >= 0 ? t / 86400 : (t - 86399) / 86400
        let secs = t - days * 86400
        // Civil date from days (proleptic Gregorian).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        var y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        if m <= 2 { y += 1 }
        let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let wd = weekdays[Int(((days % 7) + 7) % 7)]
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(wd), \(two(d)) \(months[Int(m - 1)]) \(y) \(two(secs / 3600)):\(two(secs / 60 % 60)):\(two(secs % 60)) GMT"
    }
}

extension Double {
    /// floor(log10(self)) for a positive finite value, without libm.
    fileprivate var log10Floor: Int {
        var e = 0
        var v = self
        while v >= 10 { v /= 10; e += 1 }
        while v < 1 { v *= 10; e -= 1 }
        return e
    }
}

private struct JSONParser {
    let bytes: [UInt8]
    var i = 0

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
    }

    mutating func literal(_ word: String) -> Bool {
        let w = Array(word.utf8)
        guard i + w.count <= bytes.count, Array(bytes[i..<i + w.count]) == w else { return false }
        i += w.count
        return true
    }

    mutating func value() -> JSONValue? {
        skipSpace()
        guard i < bytes.count else { return nil }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var members: [(String, JSONValue)] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                skipSpace()
                guard let k = string() else { return nil }
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return nil }
                i += 1
                guard let v = value() else { return nil }
                members.append((k, v))
                skipSpace()
                guard i < bytes.count else { return nil }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                return nil
            }
        case UInt8(ascii: "["):
            i += 1
            var items: [JSONValue] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                guard let v = value() else { return nil }
                items.append(v)
                skipSpace()
                guard i < bytes.count else { return nil }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                return nil
            }
        case UInt8(ascii: "\""):
            return string().map { .string($0) }
        case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
        case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
        case UInt8(ascii: "n"): return literal("null") ? .null : nil
        default:
            let start = i
            while i < bytes.count, "+-0123456789.eE".utf8.contains(bytes[i]) { i += 1 }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            if let n = Int64(text) { return .int(n) }
            if let d = Double(text) { return .double(d) }
            return nil
        }
    }

    mutating func string() -> String? {
        guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return nil }
        i += 1
        var out: [UInt8] = []
        while i < bytes.count {
            let c = bytes[i]
            i += 1
            if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            if c != UInt8(ascii: "\\") { out.append(c); continue }
            guard i < bytes.count else { return nil }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                guard i + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[i..<i + 4], as: UTF8.self), radix: 16),
                      let scalar = Unicode.Scalar(v) else { return nil }
                i += 4
                out += Array(String(Character(scalar)).utf8)
            default: out.append(e)
            }
        }
        return nil
    }
}

extension JSONValue {
    /// A member of an object.
    subscript(key: String) -> JSONValue? {
        guard case .object(let m) = self else { return nil }
        return m.first(where: { $0.0 == key })?.1
    }

    /// cJSON's valuedouble.
    var doubleValue: Double? {
        switch self {
        case .int(let i): Double(i)
        case .uint(let u): Double(u)
        case .double(let d): d
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }

    /// cJSON's valueint (saturating, truncating).
    var intValue: Int64? {
        guard let d = doubleValue else { return nil }
        if d >= 9.2e18 { return .max }
        if d <= -9.2e18 { return .min }
        return Int64(d)
    }
}
