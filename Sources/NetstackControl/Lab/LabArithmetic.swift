// `$(( … ))`: bash integer arithmetic (64-bit, wrapping) for the operators
// lab scripts use: + - * / % ** unary - + ! ~, comparisons, == !=, && ||,
// & | ^ << >>, parentheses, decimal/0x/0 literals and variable names (an
// unset or empty variable is 0). No assignment operators.

struct LabArithmetic {
    enum Failure: Error { case message(String) }

    private let chars: [Character]
    private var i = 0
    private let lookup: (String) -> String?
    private var depth = 0

    init(text: String, lookup: @escaping (String) -> String?) {
        chars = Array(text)
        self.lookup = lookup
    }

    mutating func evaluate() -> Result<Int64, Failure> {
        do throws(Failure) {
            skip()
            if i >= chars.count { return .success(0) }
            let v = try binary(0)
            skip()
            if i < chars.count { throw .message("syntax error in expression (error token is \"\(String(chars[i...]))\")") }
            return .success(v)
        } catch {
            return .failure(error)
        }
    }

    private mutating func skip() { while i < chars.count, chars[i] == " " || chars[i] == "\t" || chars[i] == "\n" { i += 1 } }

    // Precedence, loosest first.
    private static let levels: [[String]] = [
        ["||"], ["&&"], ["|"], ["^"], ["&"], ["==", "!="], ["<=", ">=", "<", ">"], ["<<", ">>"], ["+", "-"], ["*", "/", "%"],
    ]

    private mutating func matchOperator(_ ops: [String]) -> String? {
        skip()
        for op in ops {
            let o = Array(op)
            guard i + o.count <= chars.count, Array(chars[i..<(i + o.count)]) == o else { continue }
            // Do not read `&&` as `&`, `||` as `|`, `<<` as `<`, `**` as `*`.
            if o.count == 1, i + 1 < chars.count {
                let next = chars[i + 1]
                if (op == "&" && next == "&") || (op == "|" && next == "|") || (op == "<" && next == "<")
                    || (op == ">" && next == ">") || (op == "*" && next == "*") || (op == "<" && next == "=")
                    || (op == ">" && next == "=") { continue }
            }
            i += o.count
            return op
        }
        return nil
    }

    private mutating func binary(_ level: Int) throws(Failure) -> Int64 {
        if level == LabArithmetic.levels.count { return try power() }
        var left = try binary(level + 1)
        while let op = matchOperator(LabArithmetic.levels[level]) {
            let right = try binary(level + 1)
            left = try apply(op, left, right)
        }
        return left
    }

    private func apply(_ op: String, _ l: Int64, _ r: Int64) throws(Failure) -> Int64 {
        switch op {
        case "||": return (l != 0 || r != 0) ? 1 : 0
        case "&&": return (l != 0 && r != 0) ? 1 : 0
        case "|": return l | r
        case "^": return l ^ r
        case "&": return l & r
        case "==": return l == r ? 1 : 0
        case "!=": return l != r ? 1 : 0
        case "<=": return l <= r ? 1 : 0
        case ">=": return l >= r ? 1 : 0
        case "<": return l < r ? 1 : 0
        case ">": return l > r ? 1 : 0
        case "<<": return l << (r & 63)
        case ">>": return l >> (r & 63)
        case "+": return l &+ r
        case "-": return l &- r
        case "*": return l &* r
        case "/", "%":
            guard r != 0 else { throw .message("division by 0 (error token is \"\(r)\")") }
            if l == .min && r == -1 { return op == "/" ? .min : 0 }
            return op == "/" ? l / r : l % r
        default: throw .message("syntax error: operand expected")
        }
    }

    private mutating func power() throws(Failure) -> Int64 {
        let base = try unary()
        guard matchOperator(["**"]) != nil else { return base }
        let exponent = try power()
        guard exponent >= 0 else { throw .message("exponent less than 0 (error token is \"\(exponent)\")") }
        var result: Int64 = 1
        for _ in 0..<min(exponent, 64) { result = result &* base }
        return result
    }

    private mutating func unary() throws(Failure) -> Int64 {
        skip()
        guard i < chars.count else { throw .message("syntax error: operand expected (error token is \"\")") }
        depth += 1
        defer { depth -= 1 }
        guard depth < 200 else { throw .message("expression recursion level exceeded") }
        switch chars[i] {
        case "-": i += 1; return 0 &- (try unary())
        case "+": i += 1; return try unary()
        case "!": i += 1; return try unary() == 0 ? 1 : 0
        case "~": i += 1; return ~(try unary())
        case "(":
            i += 1
            let v = try binary(0)
            skip()
            guard i < chars.count, chars[i] == ")" else { throw .message("missing `)' (error token is \"\(String(chars[i...]))\")") }
            i += 1
            return v
        default:
            return try operand()
        }
    }

    private mutating func operand() throws(Failure) -> Int64 {
        let start = i
        while i < chars.count, chars[i] == "_" || (chars[i].isASCII && (chars[i].isLetter || chars[i].isNumber)) { i += 1 }
        let token = String(chars[start..<i])
        guard let first = token.first else {
            throw .message("syntax error: operand expected (error token is \"\(String(chars[i...]))\")")
        }
        if first.isNumber {
            guard let v = LabBuiltins.parseInteger(token) else {
                throw .message("value too great for base (error token is \"\(token)\")")
            }
            return v
        }
        // A variable: its value is itself an expression in bash; lab scripts
        // hold numbers, so read a number (empty or unset is 0).
        guard let text = lookup(token), !text.trimmingBlanks.isEmpty else { return 0 }
        guard let v = LabBuiltins.parseInteger(text.trimmingBlanks) else {
            throw .message("syntax error: operand expected (error token is \"\(text)\")")
        }
        return v
    }
}
