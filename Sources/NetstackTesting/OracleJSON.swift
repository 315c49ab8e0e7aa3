// A small JSON reader for comparing `-j` output from the Linux tools with
// ours. Objects keep member order (iproute2 prints in a fixed order, and a
// different order is a difference worth seeing); numbers keep their text so
// 64-bit counters compare exactly.

/// A parsed JSON value.
public enum OracleJSON: Equatable, Sendable, CustomStringConvertible {
    case string(String)
    case number(String)
    case bool(Bool)
    case null
    case array([OracleJSON])
    case object([Member])

    public struct Member: Equatable, Sendable {
        public var key: String
        public var value: OracleJSON
        public init(_ key: String, _ value: OracleJSON) {
            self.key = key
            self.value = value
        }
    }

    /// Parses one JSON document (surrounding whitespace allowed); nil if malformed.
    public static func parse(_ text: String) -> OracleJSON? {
        var reader = Reader(Array(text.utf8))
        guard let v = reader.value(depth: 0) else { return nil }
        reader.skip()
        return reader.atEnd ? v : nil
    }

    /// The member `key` of an object.
    public subscript(key: String) -> OracleJSON? {
        if case .object(let members) = self { return members.first { $0.key == key }?.value }
        return nil
    }

    /// The element at `index` of an array.
    public subscript(index: Int) -> OracleJSON? {
        if case .array(let a) = self, a.indices.contains(index) { return a[index] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var intValue: Int64? {
        if case .number(let s) = self { return Int64(s) }
        return nil
    }

    /// Compact JSON text (keys in order, no spaces).
    public var description: String {
        switch self {
        case .string(let s): return OracleJSON.quote(s)
        case .number(let n): return n
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let a): return "[" + a.map(\.description).joined(separator: ",") + "]"
        case .object(let m): return "{" + m.map { OracleJSON.quote($0.key) + ":" + $0.value.description }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    /// Rewrites the tree bottom-up: `transform` sees each object member
    /// (after its value was rewritten) and returns the member to keep, or nil
    /// to drop it.
    public func rewritingMembers(_ transform: (Member) -> Member?) -> OracleJSON {
        switch self {
        case .array(let a): return .array(a.map { $0.rewritingMembers(transform) })
        case .object(let m):
            return .object(m.compactMap { member in
                transform(Member(member.key, member.value.rewritingMembers(transform)))
            })
        default: return self
        }
    }

    private struct Reader {
        let b: [UInt8]
        var i = 0
        init(_ b: [UInt8]) { self.b = b }
        var atEnd: Bool { i >= b.count }

        mutating func skip() { while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }

        mutating func literal(_ s: String) -> Bool {
            let u = Array(s.utf8)
            guard i + u.count <= b.count, Array(b[i..<(i + u.count)]) == u else { return false }
            i += u.count
            return true
        }

        mutating func value(depth: Int) -> OracleJSON? {
            guard depth < 128 else { return nil }
            skip()
            guard i < b.count else { return nil }
            switch b[i] {
            case UInt8(ascii: "{"):
                i += 1
                var members: [Member] = []
                skip()
                if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                while true {
                    skip()
                    guard let k = string() else { return nil }
                    skip()
                    guard i < b.count, b[i] == UInt8(ascii: ":") else { return nil }
                    i += 1
                    guard let v = value(depth: depth + 1) else { return nil }
                    members.append(Member(k, v))
                    skip()
                    guard i < b.count else { return nil }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                    return nil
                }
            case UInt8(ascii: "["):
                i += 1
                var items: [OracleJSON] = []
                skip()
                if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                while true {
                    guard let v = value(depth: depth + 1) else { return nil }
                    items.append(v)
                    skip()
                    guard i < b.count else { return nil }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                    return nil
                }
            case UInt8(ascii: "\""):
                return string().map(OracleJSON.string)
            case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
            case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
            case UInt8(ascii: "n"): return literal("null") ? .null : nil
            default:
                let start = i
                while i < b.count, b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: ".")
                    || b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") || (b[i] >= 0x30 && b[i] <= 0x39) { i += 1 }
                guard i > start else { return nil }
                return .number(String(decoding: b[start..<i], as: UTF8.self))
            }
        }

        mutating func string() -> String? {
            guard i < b.count, b[i] == UInt8(ascii: "\"") else { return nil }
            i += 1
            var bytes: [UInt8] = []
            while i < b.count {
                let c = b[i]
                i += 1
                if c == UInt8(ascii: "\"") { return String(decoding: bytes, as: UTF8.self) }
                guard c == UInt8(ascii: "\\") else { bytes.append(c); continue }
                guard i < b.count else { return nil }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "u"):
                    guard i + 4 <= b.count, let v = UInt32(String(decoding: b[i..<(i + 4)], as: UTF8.self), radix: 16) else { return nil }
                    i += 4
                    bytes += Array(String(Unicode.Scalar(v) ?? "?").utf8)
                default: bytes.append(e)
                }
            }
            return nil
        }
    }
}
