// Lab scripts: the subset of bash that network labs use, parsed into a tree
// before anything runs (so a script with unsupported syntax fails with a line
// number and changes nothing, exit status 2, as bash does for a syntax error).
//
// Supported (bash semantics unless noted):
// - comments, blank lines, `\` line continuations, '…', "…", `\x` escapes
// - lists: `;` newline `&&` `||` `&` (background: a simple command or a
//   pipeline of simple commands), pipelines `a | b`, `! pipeline`
// - words: `$NAME` `${NAME}` `${NAME:-w}` `${NAME-w}` `${NAME:+w}` `${#NAME}`
//   `$?` `$!` `$$` `$#` `$@` `$*` `$0`…`$9`, `$(…)`, `$((…))`; unquoted
//   expansions are split on blanks; no globbing (a pattern stays literal, as
//   in bash when nothing matches — the Linux oracle runs in an empty directory)
// - redirections: `>F` `>>F` `<F` `2>F` `2>>F` `2>&1` `>&2` `&>F` `&>>F`
//   `<<WORD` `<<-WORD` `<<'WORD'` `<<<word` (files live in memory: `cat F`
//   reads what `> F` wrote)
// - compound: `if/elif/else/fi`, `for X in …; do …; done`, `while`/`until`,
//   `{ …; }`, `( … )` (a subshell: variables restored afterwards),
//   functions `f() { …; }` / `function f { …; }` with `local` and `return`
// Not supported (parse error): `case`, `[[ ]]`, backquotes, `select`, process
// substitution, background compound commands (`{ …; } &`), `|&`.

/// A parse failure, with the 1-based line where it was found.
public struct LabParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }
    public var description: String { "line \(line): \(message)" }
}

/// A parsed lab script.
public struct LabScript: Sendable {
    public var body: LabNode

    /// Parses a whole script; throws the first syntax error.
    public static func parse(_ text: String, firstLine: Int = 1) throws(LabParseError) -> LabScript {
        try parse(bytes: Array(text.utf8), firstLine: firstLine)
    }

    static func parse(bytes: [UInt8], firstLine: Int) throws(LabParseError) -> LabScript {
        var lexer = LabLexer(bytes: bytes, firstLine: firstLine)
        let tokens = try lexer.tokenize()
        var parser = LabParser(tokens: tokens, heredocs: lexer.heredocs)
        return LabScript(body: try parser.parseProgram())
    }
}

// MARK: - Tree

/// One piece of a word, before expansion.
///
/// Not `indirect`: no case contains a `LabWordPart` directly (words and
/// scripts hold theirs in arrays and boxes), so a literal part is stored
/// inline in its word's array instead of in a box of its own.
public enum LabWordPart: Sendable, Equatable {
    /// Literal text; `quoted` when it came from quotes or an escape (it then
    /// keeps an empty word alive and is never a reserved word).
    case literal(String, quoted: Bool)
    /// `$NAME`, `${NAME}`, `$?`…; `modifier` for `${NAME:-word}` and kin.
    case parameter(String, modifier: LabParameterModifier?, quoted: Bool)
    /// `$(…)`.
    case command(LabScript, quoted: Bool)
    /// `$((…))`: the expression, itself expanded before evaluation.
    case arithmetic(LabWord, quoted: Bool)

    var isQuoted: Bool {
        switch self {
        case .literal(_, let q), .parameter(_, _, let q), .command(_, let q), .arithmetic(_, let q): q
        }
    }
}

extension LabScript: Equatable {
    public static func == (a: LabScript, b: LabScript) -> Bool { a.body == b.body }
}

/// `${NAME:-word}` (`useDefault`), `${NAME:+word}` (`useAlternative`),
/// `${#NAME}` (`length`); `colon` false for the `-`/`+` forms that test
/// set-ness only.
public enum LabParameterModifier: Sendable, Equatable {
    case useDefault(LabWord, colon: Bool)
    case assignDefault(LabWord, colon: Bool)
    case useAlternative(LabWord, colon: Bool)
    case length
}

/// A word: parts concatenated, expanded at run time into zero or more fields.
public struct LabWord: Sendable, Equatable {
    public var parts: [LabWordPart]
    public init(_ parts: [LabWordPart]) { self.parts = parts }

    /// The text when the word is a single unquoted literal (reserved words,
    /// assignment names, function names).
    var plainLiteral: String? {
        if parts.count == 1, case .literal(let s, quoted: false) = parts[0] { return s }
        return nil
    }
}

/// A redirection: `fd` is the file descriptor it applies to (1 or 2; 0 for input).
public enum LabRedirection: Sendable, Equatable {
    case toFile(fd: Int, LabWord, append: Bool)      // >F >>F 2>F
    case bothToFile(LabWord, append: Bool)           // &>F &>>F
    case duplicate(fd: Int, from: Int)               // 2>&1 >&2
    case fromFile(LabWord)                           // <F
    case hereDocument(LabWord)                       // <<WORD (body), <<<word (plus newline)
}

/// A simple command: assignments, words and redirections, on a line.
public struct LabSimpleCommand: Sendable, Equatable {
    public var assignments: [(name: String, value: LabWord)]
    public var words: [LabWord]
    public var redirections: [LabRedirection]
    public var line: Int

    public static func == (a: LabSimpleCommand, b: LabSimpleCommand) -> Bool {
        a.words == b.words && a.redirections == b.redirections && a.line == b.line
            && a.assignments.count == b.assignments.count
            && zip(a.assignments, b.assignments).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }
}

/// The script tree.
public indirect enum LabNode: Sendable, Equatable {
    case simple(LabSimpleCommand)
    /// Stages are simple commands; `negated` for `! a | b`.
    case pipeline([LabSimpleCommand], negated: Bool)
    case and(LabNode, LabNode)
    case or(LabNode, LabNode)
    case sequence([LabNode])
    /// `cmd &`: a simple command or pipeline run as a job.
    case background([LabSimpleCommand], line: Int)
    case ifThen(branches: [(condition: LabNode, body: LabNode)], otherwise: LabNode?)
    case forLoop(variable: String, words: [LabWord]?, body: LabNode, line: Int)
    case whileLoop(condition: LabNode, body: LabNode, until: Bool)
    case group(LabNode, redirections: [LabRedirection])
    case subshell(LabNode, redirections: [LabRedirection])
    case function(name: String, body: LabNode)
    case negate(LabNode)

    public static func == (a: LabNode, b: LabNode) -> Bool {
        switch (a, b) {
        case (.simple(let x), .simple(let y)): x == y
        case (.pipeline(let x, let n), .pipeline(let y, let m)): x == y && n == m
        case (.and(let x1, let x2), .and(let y1, let y2)), (.or(let x1, let x2), .or(let y1, let y2)):
            x1 == y1 && x2 == y2
        case (.sequence(let x), .sequence(let y)): x == y
        case (.background(let x, let l), .background(let y, let m)): x == y && l == m
        case (.ifThen(let xb, let xo), .ifThen(let yb, let yo)):
            xo == yo && xb.count == yb.count
                && zip(xb, yb).allSatisfy { $0.condition == $1.condition && $0.body == $1.body }
        case (.forLoop(let v, let w, let b, let l), .forLoop(let v2, let w2, let b2, let l2)):
            v == v2 && w == w2 && b == b2 && l == l2
        case (.whileLoop(let c, let b, let u), .whileLoop(let c2, let b2, let u2)): c == c2 && b == b2 && u == u2
        case (.group(let n, let r), .group(let n2, let r2)), (.subshell(let n, let r), .subshell(let n2, let r2)):
            n == n2 && r == r2
        case (.function(let n, let b), .function(let n2, let b2)): n == n2 && b == b2
        case (.negate(let x), .negate(let y)): x == y
        default: false
        }
    }
}

// MARK: - Lexer

enum LabToken: Equatable {
    /// `reserved` when the word is a single unquoted literal that is a
    /// reserved word (or `coproc`), decided once by the lexer.
    case word(LabWord, reserved: Bool)
    case op(LabOperator)
    /// `>` `>>` `<` `>&` `<&` `&>` `&>>` `<<<` with an explicit fd number if written (`2>`).
    case redirect(String, fd: Int?)
    /// `<<WORD`: index into the lexer's here-document bodies.
    case hereDocument(Int)
    case newline
    case end
}

/// The lexer works on the script's UTF-8 bytes: every character the shell
/// syntax gives a meaning to is ASCII, and a byte of a multi-byte UTF-8
/// sequence is never an ASCII byte, so comparing bytes finds exactly the
/// operators, quotes and blanks that comparing characters would. Text is
/// turned into `String`s once per word part, from runs of bytes (walking
/// `Character`s cost a grapheme-cluster break test per character).
/// The control operators.
enum LabOperator: String {
    case semicolon = ";", background = "&", and = "&&", or = "||", pipe = "|", open = "(", close = ")"
}

struct LabLexer {
    private let bytes: [UInt8]
    private var i = 0
    private(set) var line: Int
    private(set) var tokens: [(LabToken, Int)] = []
    private(set) var heredocs: [LabWord] = []
    private var pending: [(index: Int, delimiter: [UInt8], expand: Bool, stripTabs: Bool, line: Int)] = []
    /// The literal being collected (reused across words; empty between them).
    private var literal: [UInt8] = []

    init(_ text: String, firstLine: Int) {
        self.init(bytes: Array(text.utf8), firstLine: firstLine)
    }

    init(bytes: [UInt8], firstLine: Int) {
        self.bytes = bytes
        line = firstLine
    }

    private func peek(_ k: Int = 0) -> UInt8? { i + k < bytes.count ? bytes[i + k] : nil }

    private static func isMeta(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: ";"), UInt8(ascii: "&"),
             UInt8(ascii: "|"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "<"), UInt8(ascii: ">"):
            true
        default: false
        }
    }

    /// A byte that stands for itself in an unquoted word.
    private static func isPlainWordByte(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "$"), UInt8(ascii: "`"): false
        default: !isMeta(c)
        }
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    /// The length of the UTF-8 sequence that starts with `lead`.
    private static func scalarLength(_ lead: UInt8) -> Int {
        lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
    }

    private func text(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }

    /// `LabParser.isReserved` for a run of the script's bytes, without a slice.
    private func isReserved(_ range: Range<Int>) -> Bool {
        guard range.count <= 8 else { return false }
        var value: UInt64 = 0
        for k in range { value = value << 8 | UInt64(bytes[k]) }
        return LabParser.reservedPacked.contains(value)
    }

    mutating func tokenize() throws(LabParseError) -> [(LabToken, Int)] {
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") { i += 1; continue }
            if c == UInt8(ascii: "\\") && peek(1) == UInt8(ascii: "\n") { i += 2; line += 1; continue }
            if c == UInt8(ascii: "#") {
                while i < bytes.count && bytes[i] != UInt8(ascii: "\n") { i += 1 }
                continue
            }
            if c == UInt8(ascii: "\n") {
                tokens.append((.newline, line))
                i += 1
                line += 1
                if !pending.isEmpty { try readHereDocumentBodies() }
                continue
            }
            if try lexOperator() { continue }
            // An IO number: digits directly followed by < or >.
            var j = i
            while j < bytes.count, LabLexer.isDigit(bytes[j]) { j += 1 }
            if j > i, j < bytes.count, bytes[j] == UInt8(ascii: "<") || bytes[j] == UInt8(ascii: ">") {
                let fd = Int(text(i..<j)) ?? 0
                i = j
                _ = try lexOperator(fd: fd)
                continue
            }
            let (word, reserved) = try lexWord()
            tokens.append((.word(word, reserved: reserved), line))
        }
        if let p = pending.first {
            throw LabParseError(line: p.line, message: "here-document delimited by end-of-file (wanted `\(String(decoding: p.delimiter, as: UTF8.self))')")
        }
        tokens.append((.end, line))
        return tokens
    }

    /// Lexes an operator at `i` if there is one.
    private mutating func lexOperator(fd: Int? = nil) throws(LabParseError) -> Bool {
        let c = bytes[i]
        let n = peek(1)
        let n2 = peek(2)
        func emit(_ o: LabOperator, _ len: Int) { tokens.append((.op(o), line)); i += len }
        func redirect(_ s: String, _ len: Int) { tokens.append((.redirect(s, fd: fd), line)); i += len }
        switch c {
        case UInt8(ascii: ";") where fd == nil:
            if n == UInt8(ascii: ";") { throw LabParseError(line: line, message: "unsupported syntax: `;;' (case statements are not supported)") }
            emit(.semicolon, 1)
        case UInt8(ascii: "&") where fd == nil:
            if n == UInt8(ascii: "&") { emit(.and, 2) }
            else if n == UInt8(ascii: ">") {
                let append = n2 == UInt8(ascii: ">")
                tokens.append((.redirect(append ? "&>>" : "&>", fd: nil), line))
                i += append ? 3 : 2
            }
            else { emit(.background, 1) }
        case UInt8(ascii: "|") where fd == nil:
            if n == UInt8(ascii: "|") { emit(.or, 2) }
            else if n == UInt8(ascii: "&") { throw LabParseError(line: line, message: "unsupported syntax: `|&'") }
            else { emit(.pipe, 1) }
        case UInt8(ascii: "(") where fd == nil: emit(.open, 1)
        case UInt8(ascii: ")") where fd == nil: emit(.close, 1)
        case UInt8(ascii: ">"):
            if n == UInt8(ascii: ">") { redirect(">>", 2) }
            else if n == UInt8(ascii: "&") { redirect(">&", 2) }
            else if n == UInt8(ascii: "|") { redirect(">", 2) }
            else if n == UInt8(ascii: "(") { throw LabParseError(line: line, message: "unsupported syntax: process substitution `>(…)'") }
            else { redirect(">", 1) }
        case UInt8(ascii: "<"):
            if n == UInt8(ascii: "<") && n2 == UInt8(ascii: "<") { redirect("<<<", 3) }
            else if n == UInt8(ascii: "<") {
                i += 2
                var stripTabs = false
                if peek() == UInt8(ascii: "-") { stripTabs = true; i += 1 }
                try lexHereDocumentDelimiter(stripTabs: stripTabs)
            }
            else if n == UInt8(ascii: "&") { redirect("<&", 2) }
            else if n == UInt8(ascii: "(") { throw LabParseError(line: line, message: "unsupported syntax: process substitution `<(…)'") }
            else { redirect("<", 1) }
        default:
            return false
        }
        return true
    }

    private mutating func lexHereDocumentDelimiter(stripTabs: Bool) throws(LabParseError) {
        while peek() == UInt8(ascii: " ") || peek() == UInt8(ascii: "\t") { i += 1 }
        guard let c = peek(), !LabLexer.isMeta(c) else {
            throw LabParseError(line: line, message: "syntax error: here-document without a delimiter")
        }
        let (word, _) = try lexWord()
        var delimiter = ""
        var quoted = false
        for part in word.parts {
            switch part {
            case .literal(let s, let q): delimiter += s; quoted = quoted || q
            default: throw LabParseError(line: line, message: "unsupported syntax: expansion in a here-document delimiter")
            }
        }
        let index = heredocs.count
        heredocs.append(LabWord([]))
        pending.append((index, Array(delimiter.utf8), !quoted, stripTabs, line))
        tokens.append((.hereDocument(index), line))
    }

    private mutating func readHereDocumentBodies() throws(LabParseError) {
        for doc in pending {
            var body: [UInt8] = []
            var found = false
            while i < bytes.count {
                var end = i
                while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
                var start = i
                i = min(end + 1, bytes.count)
                line += 1
                if doc.stripTabs { while start < end && bytes[start] == UInt8(ascii: "\t") { start += 1 } }
                if bytes[start..<end].elementsEqual(doc.delimiter) { found = true; break }
                body += bytes[start..<end]
                body.append(UInt8(ascii: "\n"))
            }
            guard found else {
                throw LabParseError(line: doc.line, message: "here-document delimited by end-of-file (wanted `\(String(decoding: doc.delimiter, as: UTF8.self))')")
            }
            if doc.expand {
                var sub = LabLexer(bytes: body, firstLine: doc.line + 1)
                heredocs[doc.index] = try sub.lexExpandable(stopAt: nil, escapable: .hereDocument, quoted: true)
            } else {
                heredocs[doc.index] = LabWord([.literal(String(decoding: body, as: UTF8.self), quoted: true)])
            }
        }
        pending = []
    }

    /// Ends the literal being collected as a part (if it is not empty).
    private mutating func flush(into parts: inout [LabWordPart], quoted: Bool) {
        if !literal.isEmpty {
            parts.append(.literal(String(decoding: literal, as: UTF8.self), quoted: quoted))
            literal.removeAll(keepingCapacity: true)
        }
    }

    /// Reads one word up to an unquoted metacharacter; `reserved` when it
    /// is a reserved word (see `LabToken.word`).
    private mutating func lexWord() throws(LabParseError) -> (LabWord, reserved: Bool) {
        var parts: [LabWordPart] = []
        var literalQuoted = false
        // The common word is one run of plain bytes: one String, no copy.
        let start = i
        while i < bytes.count, LabLexer.isPlainWordByte(bytes[i]) { i += 1 }
        if i == bytes.count || LabLexer.isMeta(bytes[i]) {
            guard i > start else { return (LabWord([]), false) }
            return (LabWord([.literal(text(start..<i), quoted: false)]), isReserved(start..<i))
        }
        literal.append(contentsOf: bytes[start..<i])
        while let c = peek(), !LabLexer.isMeta(c) {
            switch c {
            case UInt8(ascii: "'"):
                let start = line
                i += 1
                let from = i
                while let d = peek(), d != UInt8(ascii: "'") {
                    if d == UInt8(ascii: "\n") { line += 1 }
                    i += 1
                }
                guard peek() == UInt8(ascii: "'") else {
                    throw LabParseError(line: start, message: "unexpected EOF while looking for matching `''")
                }
                flush(into: &parts, quoted: literalQuoted)
                parts.append(.literal(text(from..<i), quoted: true))
                i += 1
            case UInt8(ascii: "\""):
                let start = line
                i += 1
                flush(into: &parts, quoted: literalQuoted)
                let inner = try lexExpandable(stopAt: UInt8(ascii: "\""), escapable: .doubleQuotes, quoted: true)
                guard peek() == UInt8(ascii: "\"") else {
                    throw LabParseError(line: start, message: "unexpected EOF while looking for matching `\"'")
                }
                i += 1
                // Keep `""` alive as an (empty) quoted literal.
                parts.append(contentsOf: inner.parts.isEmpty ? [.literal("", quoted: true)] : inner.parts)
            case UInt8(ascii: "\\"):
                if peek(1) == UInt8(ascii: "\n") { i += 2; line += 1; continue }
                if let d = peek(1) {
                    // The escaped character, whole (all its UTF-8 bytes).
                    let end = min(i + 1 + LabLexer.scalarLength(d), bytes.count)
                    if !literalQuoted { flush(into: &parts, quoted: false); literalQuoted = true }
                    literal.append(contentsOf: bytes[(i + 1)..<end])
                    i = end
                } else {
                    if literalQuoted { flush(into: &parts, quoted: true); literalQuoted = false }
                    literal.append(UInt8(ascii: "\\"))
                    i += 1
                }
            case UInt8(ascii: "$"):
                if let part = try lexDollar(quoted: false) {
                    flush(into: &parts, quoted: literalQuoted)
                    parts.append(part)
                } else {
                    if literalQuoted { flush(into: &parts, quoted: true); literalQuoted = false }
                    literal.append(UInt8(ascii: "$"))
                    i += 1
                }
            case UInt8(ascii: "`"):
                throw LabParseError(line: line, message: "unsupported syntax: backquote command substitution (use $(…))")
            default:
                if literalQuoted { flush(into: &parts, quoted: true); literalQuoted = false }
                let from = i
                i += 1
                while i < bytes.count, LabLexer.isPlainWordByte(bytes[i]) { i += 1 }
                literal.append(contentsOf: bytes[from..<i])
            }
        }
        flush(into: &parts, quoted: literalQuoted)
        let word = LabWord(parts)
        return (word, word.plainLiteral.map { LabParser.isReserved($0.utf8) } ?? false)
    }

    /// The characters a backslash escapes in double-quote-like text.
    struct Escapable: OptionSet {
        let rawValue: UInt8
        static let dollar = Escapable(rawValue: 1)
        static let backslash = Escapable(rawValue: 2)
        static let backquote = Escapable(rawValue: 4)
        static let doubleQuote = Escapable(rawValue: 8)
        static let newline = Escapable(rawValue: 16)
        static let closeBrace = Escapable(rawValue: 32)

        static let doubleQuotes: Escapable = [.dollar, .backslash, .backquote, .doubleQuote, .newline]
        static let hereDocument: Escapable = [.dollar, .backslash, .backquote, .newline]
        static let arithmetic: Escapable = [.dollar, .backslash, .backquote, .doubleQuote]
        static let braced: Escapable = [.dollar, .backslash, .backquote, .doubleQuote, .closeBrace]

        func contains(byte c: UInt8) -> Bool {
            switch c {
            case UInt8(ascii: "$"): contains(.dollar)
            case UInt8(ascii: "\\"): contains(.backslash)
            case UInt8(ascii: "`"): contains(.backquote)
            case UInt8(ascii: "\""): contains(.doubleQuote)
            case UInt8(ascii: "\n"): contains(.newline)
            case UInt8(ascii: "}"): contains(.closeBrace)
            default: false
            }
        }
    }

    /// Reads double-quote-like content: `$` expansions and `\` escapes of
    /// `escapable` characters, up to `stopAt` (not consumed) or the end.
    mutating func lexExpandable(stopAt: UInt8?, escapable: Escapable, quoted: Bool) throws(LabParseError) -> LabWord {
        var parts: [LabWordPart] = []
        while let c = peek(), c != stopAt {
            switch c {
            case UInt8(ascii: "\\"):
                if let d = peek(1), escapable.contains(byte: d) {
                    if d == UInt8(ascii: "\n") { line += 1 } else { literal.append(d) }
                    i += 2
                } else {
                    literal.append(UInt8(ascii: "\\"))
                    i += 1
                }
            case UInt8(ascii: "$"):
                if let part = try lexDollar(quoted: quoted) {
                    flush(into: &parts, quoted: quoted)
                    parts.append(part)
                } else {
                    literal.append(UInt8(ascii: "$"))
                    i += 1
                }
            case UInt8(ascii: "`"):
                throw LabParseError(line: line, message: "unsupported syntax: backquote command substitution (use $(…))")
            default:
                let from = i
                while let d = peek(), d != stopAt, d != UInt8(ascii: "\\"), d != UInt8(ascii: "$"), d != UInt8(ascii: "`") {
                    if d == UInt8(ascii: "\n") { line += 1 }
                    i += 1
                }
                literal.append(contentsOf: bytes[from..<i])
            }
        }
        flush(into: &parts, quoted: quoted)
        return LabWord(parts)
    }

    private static func isNameStart(_ c: Character) -> Bool { c == "_" || (c.isASCII && c.isLetter) }
    private static func isNameChar(_ c: Character) -> Bool { c == "_" || (c.isASCII && (c.isLetter || c.isNumber)) }
    private static func isNameStart(_ c: UInt8) -> Bool {
        c == UInt8(ascii: "_") || (c | 0x20 >= UInt8(ascii: "a") && c | 0x20 <= UInt8(ascii: "z"))
    }
    private static func isNameChar(_ c: UInt8) -> Bool { isNameStart(c) || isDigit(c) }

    /// Lexes an expansion at `$`; nil when the `$` is literal.
    private mutating func lexDollar(quoted: Bool) throws(LabParseError) -> LabWordPart? {
        guard let n = peek(1) else { return nil }
        if n == UInt8(ascii: "(") {
            if peek(2) == UInt8(ascii: "(") {
                let start = line
                i += 3
                let text = try scanBalanced(open: UInt8(ascii: "("), close: UInt8(ascii: ")"), depth: 2, startLine: start)
                // text ends with the inner ")" of "))".
                guard text.last == UInt8(ascii: ")") else {
                    throw LabParseError(line: start, message: "syntax error in arithmetic expansion")
                }
                var sub = LabLexer(bytes: Array(text.dropLast()), firstLine: start)
                let expr = try sub.lexExpandable(stopAt: nil, escapable: .arithmetic, quoted: true)
                return .arithmetic(expr, quoted: quoted)
            }
            let start = line
            i += 2
            let text = try scanBalanced(open: UInt8(ascii: "("), close: UInt8(ascii: ")"), depth: 1, startLine: start)
            let script = try LabScript.parse(bytes: Array(text), firstLine: start)
            return .command(script, quoted: quoted)
        }
        if n == UInt8(ascii: "{") {
            let start = line
            i += 2
            let text = try scanBalanced(open: UInt8(ascii: "{"), close: UInt8(ascii: "}"), depth: 1, startLine: start)
            return try parseBraced(String(decoding: text, as: UTF8.self), quoted: quoted, line: start)
        }
        switch n {
        case UInt8(ascii: "?"), UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "#"), UInt8(ascii: "@"),
             UInt8(ascii: "*"), UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            i += 2
            return .parameter(String(UnicodeScalar(n)), modifier: nil, quoted: quoted)
        default:
            break
        }
        if LabLexer.isNameStart(n) {
            i += 1
            let from = i
            while let c = peek(), LabLexer.isNameChar(c) { i += 1 }
            return .parameter(text(from..<i), modifier: nil, quoted: quoted)
        }
        return nil
    }

    /// Scans to the matching close bracket (quote-aware), consuming it;
    /// returns the text between.
    private mutating func scanBalanced(open: UInt8, close: UInt8, depth start: Int, startLine: Int) throws(LabParseError) -> ArraySlice<UInt8> {
        var depth = start
        let from = i
        while let c = peek() {
            if c == UInt8(ascii: "\n") { line += 1 }
            if c == UInt8(ascii: "\\"), let d = peek(1) {
                i += 2
                if d == UInt8(ascii: "\n") { line += 1 }
                continue
            }
            if c == UInt8(ascii: "'") && open == UInt8(ascii: "(") {
                i += 1
                while let d = peek(), d != UInt8(ascii: "'") { if d == UInt8(ascii: "\n") { line += 1 }; i += 1 }
                if peek() != nil { i += 1 }
                continue
            }
            if c == UInt8(ascii: "\"") {
                i += 1
                while let d = peek(), d != UInt8(ascii: "\"") {
                    if d == UInt8(ascii: "\n") { line += 1 }
                    if d == UInt8(ascii: "\\"), peek(1) != nil { i += 2; continue }
                    i += 1
                }
                if peek() != nil { i += 1 }
                continue
            }
            if c == open { depth += 1 }
            if c == close {
                depth -= 1
                if depth == 0 { i += 1; return bytes[from..<(i - 1)] }
            }
            i += 1
        }
        throw LabParseError(line: startLine, message: "unexpected EOF while looking for matching `\(Character(UnicodeScalar(close)))'")
    }

    private func parseBraced(_ text: String, quoted: Bool, line: Int) throws(LabParseError) -> LabWordPart {
        if text.hasPrefix("#"), text.count > 1 {
            let name = String(text.dropFirst())
            guard LabLexer.isValidName(name) else { throw LabParseError(line: line, message: "${\(text)}: bad substitution") }
            return .parameter(name, modifier: .length, quoted: quoted)
        }
        var name = ""
        var rest = Substring(text)
        if let f = rest.first, "?!$#@*0123456789".contains(f) && !LabLexer.isNameStart(f) {
            name = String(f)
            rest = rest.dropFirst()
            if f.isNumber { while let d = rest.first, d.isNumber { name.append(d); rest = rest.dropFirst() } }
        } else {
            while let c = rest.first, LabLexer.isNameChar(c) { name.append(c); rest = rest.dropFirst() }
        }
        guard !name.isEmpty else { throw LabParseError(line: line, message: "${\(text)}: bad substitution") }
        if rest.isEmpty { return .parameter(name, modifier: nil, quoted: quoted) }
        var colon = false
        if rest.first == ":" { colon = true; rest = rest.dropFirst() }
        guard let op = rest.first, "-=+".contains(op) else {
            throw LabParseError(line: line, message: "unsupported syntax: ${\(text)}")
        }
        var sub = LabLexer(String(rest.dropFirst()), firstLine: line)
        let word = try sub.lexExpandable(stopAt: nil, escapable: .braced, quoted: quoted)
        let modifier: LabParameterModifier = switch op {
        case "-": .useDefault(word, colon: colon)
        case "=": .assignDefault(word, colon: colon)
        default: .useAlternative(word, colon: colon)
        }
        return .parameter(name, modifier: modifier, quoted: quoted)
    }

    static func isValidName(_ s: String) -> Bool {
        var u = s.utf8.makeIterator()
        guard let f = u.next(), isNameStart(f) else { return false }
        while let c = u.next() { guard isNameChar(c) else { return false } }
        return true
    }
}

// MARK: - Parser

struct LabParser {
    let tokens: [(LabToken, Int)]
    let heredocs: [LabWord]
    var p = 0

    init(tokens: [(LabToken, Int)], heredocs: [LabWord]) {
        self.tokens = tokens
        self.heredocs = heredocs
    }

    static let reserved: Set<String> = ["if", "then", "else", "elif", "fi", "for", "in", "do", "done",
                                        "while", "until", "{", "}", "!", "case", "esac", "select", "function", "[["]
    static let unsupportedWords: [String: String] = [
        "case": "case statements", "esac": "case statements", "select": "select loops", "[[": "[[ … ]] (use [ … ])",
        "coproc": "coproc",
    ]

    var token: LabToken { tokens[p].0 }
    var line: Int { tokens[p].1 }

    /// The reserved words (and `coproc`) packed as in `packed`.
    static let reservedPacked: [UInt64] = (reserved.map { $0 } + ["coproc"]).compactMap { packed($0.utf8) }

    /// Up to 8 bytes in an integer (nil when longer): a reserved-word test
    /// without hashing.
    private static func packed(_ bytes: some Sequence<UInt8>) -> UInt64? {
        var value: UInt64 = 0
        var n = 0
        for b in bytes {
            n += 1
            if n > 8 { return nil }
            value = value << 8 | UInt64(b)
        }
        return value
    }

    /// Whether the word spelled by `bytes` is a reserved word or `coproc`.
    static func isReserved(_ bytes: some Sequence<UInt8>) -> Bool {
        guard let v = packed(bytes) else { return false }
        return reservedPacked.contains(v)
    }

    /// The reserved word at the cursor, if the token is one.
    var keyword: String? {
        if case .word(let w, reserved: true) = tokens[p].0 { return w.plainLiteral }
        return nil
    }

    /// Whether the token at `p + ahead` is the operator `o`.
    func at(_ o: LabOperator, _ ahead: Int = 0) -> Bool {
        if case .op(let x) = tokens[p + ahead].0 { return x == o }
        return false
    }

    var atNewline: Bool {
        if case .newline = tokens[p].0 { return true }
        return false
    }

    var atEnd: Bool {
        if case .end = tokens[p].0 { return true }
        return false
    }

    mutating func skipNewlines() { while atNewline { p += 1 } }

    func unexpected() -> LabParseError {
        let text: String = switch token {
        case .end: "end of file"
        case .newline: "newline"
        case .op(let o): o.rawValue
        case .redirect(let s, _): s
        case .hereDocument: "<<"
        case .word(let w, _): w.plainLiteral ?? "word"
        }
        if text == "end of file" { return LabParseError(line: line, message: "syntax error: unexpected end of file") }
        return LabParseError(line: line, message: "syntax error near unexpected token `\(text)'")
    }

    mutating func expectKeyword(_ k: String) throws(LabParseError) {
        skipNewlines()
        guard keyword == k else { throw unexpected() }
        p += 1
    }

    mutating func parseProgram() throws(LabParseError) -> LabNode {
        let body = try parseList(terminators: [])
        guard atEnd else { throw unexpected() }
        return body
    }

    /// A list of and-or lists separated by `;`, `&` or newlines, up to a
    /// terminator keyword, `)` or the end.
    mutating func parseList(terminators: Set<String>) throws(LabParseError) -> LabNode {
        var items: [LabNode] = []
        while true {
            skipNewlines()
            if atEnd || at(.close) { break }
            if let k = keyword, terminators.contains(k) { break }
            let startLine = line
            let item = try parseAndOr()
            if at(.background) {
                p += 1
                switch item {
                case .simple(let c): items.append(.background([c], line: startLine))
                case .pipeline(let stages, negated: false): items.append(.background(stages, line: startLine))
                default:
                    throw LabParseError(line: startLine, message: "unsupported syntax: only a simple command or a pipeline can run in the background with `&'")
                }
                continue
            }
            items.append(item)
            if at(.semicolon) { p += 1; continue }
            if atNewline { continue }
            break
        }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    mutating func parseAndOr() throws(LabParseError) -> LabNode {
        var node = try parsePipeline()
        while true {
            if at(.and) {
                p += 1
                skipNewlines()
                node = .and(node, try parsePipeline())
            } else if at(.or) {
                p += 1
                skipNewlines()
                node = .or(node, try parsePipeline())
            } else {
                return node
            }
        }
    }

    mutating func parsePipeline() throws(LabParseError) -> LabNode {
        var negated = false
        if keyword == "!" { negated = true; p += 1 }
        let first = try parseCommand()
        guard at(.pipe) else { return negated ? .negate(first) : first }
        var stages: [LabSimpleCommand] = []
        func stage(_ node: LabNode, _ line: Int) throws(LabParseError) -> LabSimpleCommand {
            guard case .simple(let c) = node else {
                throw LabParseError(line: line, message: "unsupported syntax: pipeline stages must be simple commands")
            }
            return c
        }
        stages.append(try stage(first, line))
        while at(.pipe) {
            p += 1
            skipNewlines()
            let l = line
            stages.append(try stage(try parseCommand(), l))
        }
        return .pipeline(stages, negated: negated)
    }

    mutating func parseCommand() throws(LabParseError) -> LabNode {
        let startLine = line
        if let k = keyword {
            if let what = LabParser.unsupportedWords[k] {
                throw LabParseError(line: startLine, message: "unsupported syntax: \(what)")
            }
            switch k {
            case "if": return try parseIf()
            case "for": return try parseFor()
            case "while", "until":
                p += 1
                let cond = try parseList(terminators: ["do"])
                try expectKeyword("do")
                let body = try parseList(terminators: ["done"])
                try expectKeyword("done")
                try rejectTrailingRedirections()
                return .whileLoop(condition: cond, body: body, until: k == "until")
            case "{":
                p += 1
                let body = try parseList(terminators: ["}"])
                try expectKeyword("}")
                return .group(body, redirections: try parseRedirections())
            case "function":
                p += 1
                guard case .word(let w, _) = token, let name = w.plainLiteral, LabLexer.isValidName(name) else { throw unexpected() }
                p += 1
                if at(.open) {
                    p += 1
                    guard at(.close) else { throw unexpected() }
                    p += 1
                }
                return try parseFunctionBody(name: name)
            default:
                throw unexpected()
            }
        }
        if at(.open) {
            p += 1
            let body = try parseList(terminators: [])
            guard at(.close) else { throw unexpected() }
            p += 1
            return .subshell(body, redirections: try parseRedirections())
        }
        // A function definition: NAME ( )
        if p + 2 < tokens.count, at(.open, 1), at(.close, 2),
           case .word(let w, _) = token, let name = w.plainLiteral, LabLexer.isValidName(name) {
            p += 3
            return try parseFunctionBody(name: name)
        }
        return .simple(try parseSimple())
    }

    mutating func parseFunctionBody(name: String) throws(LabParseError) -> LabNode {
        skipNewlines()
        guard keyword == "{" || at(.open) else {
            throw LabParseError(line: line, message: "unsupported syntax: a function body must be { …; } or ( … )")
        }
        return .function(name: name, body: try parseCommand())
    }

    mutating func rejectTrailingRedirections() throws(LabParseError) {
        switch token {
        case .redirect, .hereDocument:
            throw LabParseError(line: line, message: "unsupported syntax: redirection of a compound command other than { } or ( )")
        default: break
        }
    }

    mutating func parseIf() throws(LabParseError) -> LabNode {
        p += 1
        var branches: [(condition: LabNode, body: LabNode)] = []
        var otherwise: LabNode?
        let cond = try parseList(terminators: ["then"])
        try expectKeyword("then")
        let body = try parseList(terminators: ["elif", "else", "fi"])
        branches.append((cond, body))
        while true {
            skipNewlines()
            switch keyword {
            case "elif":
                p += 1
                let c = try parseList(terminators: ["then"])
                try expectKeyword("then")
                let b = try parseList(terminators: ["elif", "else", "fi"])
                branches.append((c, b))
            case "else":
                p += 1
                otherwise = try parseList(terminators: ["fi"])
                try expectKeyword("fi")
                try rejectTrailingRedirections()
                return .ifThen(branches: branches, otherwise: otherwise)
            case "fi":
                p += 1
                try rejectTrailingRedirections()
                return .ifThen(branches: branches, otherwise: otherwise)
            default:
                throw unexpected()
            }
        }
    }

    mutating func parseFor() throws(LabParseError) -> LabNode {
        let startLine = line
        p += 1
        guard case .word(let w, _) = token, let name = w.plainLiteral, LabLexer.isValidName(name) else {
            if at(.open) { throw LabParseError(line: line, message: "unsupported syntax: arithmetic for loops") }
            throw unexpected()
        }
        p += 1
        var words: [LabWord]?
        skipNewlines()
        if keyword == "in" {
            p += 1
            var list: [LabWord] = []
            while case .word(let w, _) = token { list.append(w); p += 1 }
            words = list
            guard at(.semicolon) || atNewline else { throw unexpected() }
            p += 1
        } else if at(.semicolon) {
            p += 1
        }
        try expectKeyword("do")
        let body = try parseList(terminators: ["done"])
        try expectKeyword("done")
        try rejectTrailingRedirections()
        return .forLoop(variable: name, words: words, body: body, line: startLine)
    }

    mutating func parseRedirections() throws(LabParseError) -> [LabRedirection] {
        var result: [LabRedirection] = []
        while let r = try parseRedirection() { result.append(r) }
        return result
    }

    /// One redirection at the cursor, if there is one.
    mutating func parseRedirection() throws(LabParseError) -> LabRedirection? {
        switch token {
        case .hereDocument(let index):
            p += 1
            return .hereDocument(heredocs[index])
        case .redirect(let op, let fd):
            let l = line
            p += 1
            guard case .word(let target, _) = token else { throw unexpected() }
            p += 1
            switch op {
            case ">", ">>":
                let n = fd ?? 1
                guard n == 1 || n == 2 else { throw LabParseError(line: l, message: "unsupported syntax: redirection of fd \(n)") }
                return .toFile(fd: n, target, append: op == ">>")
            case "&>", "&>>":
                return .bothToFile(target, append: op == "&>>")
            case ">&":
                let n = fd ?? 1
                guard let s = target.plainLiteral, let from = Int(s), from == 1 || from == 2, n == 1 || n == 2 else {
                    throw LabParseError(line: l, message: "unsupported syntax: redirection `\(op)' other than 2>&1 or >&2")
                }
                return .duplicate(fd: n, from: from)
            case "<":
                guard fd == nil || fd == 0 else { throw LabParseError(line: l, message: "unsupported syntax: input redirection of fd \(fd!)") }
                return .fromFile(target)
            case "<<<":
                return .hereDocument(LabWord(target.parts + [.literal("\n", quoted: true)]))
            default:
                throw LabParseError(line: l, message: "unsupported syntax: redirection `\(op)'")
            }
        default:
            return nil
        }
    }

    mutating func parseSimple() throws(LabParseError) -> LabSimpleCommand {
        var command = LabSimpleCommand(assignments: [], words: [], redirections: [], line: line)
        // One allocation for the words (appending one by one regrows it).
        var count = 0
        while p + count < tokens.count, case .word = tokens[p + count].0 { count += 1 }
        command.words.reserveCapacity(count)
        while true {
            guard case .word(let w, let reserved) = tokens[p].0 else {
                if let r = try parseRedirection() { command.redirections.append(r); continue }
                break
            }
            if command.words.isEmpty, let (name, value) = LabParser.assignment(w) {
                command.assignments.append((name, value))
            } else {
                // Every unsupported word is also a reserved one (or coproc).
                if command.words.isEmpty, reserved, let s = w.plainLiteral, let what = LabParser.unsupportedWords[s] {
                    throw LabParseError(line: line, message: "unsupported syntax: \(what)")
                }
                command.words.append(w)
            }
            p += 1
        }
        if command.words.isEmpty && command.assignments.isEmpty && command.redirections.isEmpty {
            throw unexpected()
        }
        return command
    }

    /// `NAME=value` as a word: the name must be an unquoted literal prefix.
    static func assignment(_ w: LabWord) -> (String, LabWord)? {
        guard case .literal(let s, quoted: false)? = w.parts.first, let eq = s.utf8.firstIndex(of: UInt8(ascii: "=")) else { return nil }
        let name = String(s[..<eq])
        guard LabLexer.isValidName(name) else { return nil }
        var rest = Array(w.parts.dropFirst())
        let tail = String(s[s.index(after: eq)...])
        if !tail.isEmpty { rest.insert(.literal(tail, quoted: false), at: 0) }
        return (name, LabWord(rest))
    }
}
