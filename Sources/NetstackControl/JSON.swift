// JSON output exactly as iproute2's json_writer.c lays it out: keys in
// insertion order, compact by default, and with `-p` its own pretty form
// (`[ {` … `} ]`, four spaces a level, scalar arrays on one line:
// `"flags": [ "UP","LOWER_UP" ]`). Every `-j` printer builds a `JSONValue`
// and renders it here, so the layout lives in one place.

/// A JSON value with ordered object members.
public enum JSONValue: Equatable, Sendable {
    case string(String)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): x == y
        case (.int(let x), .int(let y)): x == y
        case (.uint(let x), .uint(let y)): x == y
        case (.double(let x), .double(let y)): x == y
        case (.bool(let x), .bool(let y)): x == y
        case (.null, .null): true
        case (.array(let x), .array(let y)): x == y
        case (.object(let x), .object(let y)):
            x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    public static func number(_ v: some BinaryInteger) -> JSONValue { .int(Int64(v)) }

    /// Renders as iproute2 does (`pretty` is `-p`), without a trailing newline.
    public func rendered(pretty: Bool = false) -> String {
        var w = JSONWriter(pretty: pretty)
        w.write(self)
        return w.out
    }
}

/// A small object builder that keeps member order: `o["dst"] = .string(…)`.
public struct JSONObject: Sendable {
    public private(set) var members: [(String, JSONValue)] = []
    public init() {}
    public subscript(key: String) -> JSONValue? {
        get { members.first(where: { $0.0 == key })?.1 }
        set {
            if let i = members.firstIndex(where: { $0.0 == key }) {
                if let v = newValue { members[i].1 = v } else { members.remove(at: i) }
            } else if let v = newValue {
                members.append((key, v))
            }
        }
    }
    public var value: JSONValue { .object(members) }
}

struct JSONWriter {
    let pretty: Bool
    var out = ""
    var depth = 0
    var separator: Character? = nil

    init(pretty: Bool) { self.pretty = pretty }

    mutating func endOfRecord() {
        if let s = separator { out.append(s) }
    }
    mutating func endOfLine() {
        guard pretty else { return }
        out.append("\n")
        out.append(String(repeating: "    ", count: depth))
    }
    mutating func begin(_ c: Character) {
        endOfRecord()
        out.append(c)
        depth += 1
        separator = nil
    }
    mutating func end(_ c: Character) {
        depth -= 1
        if separator != nil { endOfLine() }
        out.append(c)
        separator = ","
    }

    mutating func write(_ v: JSONValue) {
        switch v {
        case .array(let items):
            begin("[")
            if pretty { out.append(" ") }
            for item in items { write(item) }
            if pretty && separator != nil { out.append(" ") }
            separator = nil
            end("]")
        case .object(let members):
            begin("{")
            for (k, value) in members {
                endOfRecord()
                endOfLine()
                separator = nil
                out.append(JSONWriter.quoted(k))
                out.append(":")
                if pretty { out.append(" ") }
                write(value)
            }
            end("}")
        default:
            endOfRecord()
            out.append(JSONWriter.scalar(v))
            separator = ","
        }
    }

    static func scalar(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): quoted(s)
        case .int(let n): String(n)
        case .uint(let n): String(n)
        case .double(let d): d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .bool(let b): b ? "true" : "false"
        case .null: "null"
        default: ""
        }
    }

    static func quoted(_ s: String) -> String {
        var r = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": r += "\\\""
            case "\\": r += "\\\\"
            case "\n": r += "\\n"
            case "\r": r += "\\r"
            case "\t": r += "\\t"
            case "\u{08}": r += "\\b"
            case "\u{0C}": r += "\\f"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    r += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    r.unicodeScalars.append(u)
                }
            }
        }
        return r + "\""
    }
}
