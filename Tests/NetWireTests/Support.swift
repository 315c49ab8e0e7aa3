import Testing
@testable import NetWire

/// Bytes from a hex string; whitespace and newlines are ignored.
func hex(_ text: String) -> [UInt8] {
    let digits = text.filter { !$0.isWhitespace }
    precondition(digits.count % 2 == 0, "odd hex digit count")
    var out: [UInt8] = []
    var i = digits.startIndex
    while i < digits.endIndex {
        let j = digits.index(i, offsetBy: 2)
        out.append(UInt8(digits[i..<j], radix: 16)!)
        i = j
    }
    return out
}

/// A tiny deterministic generator (SplitMix64) for round-trip properties:
/// the same seed gives the same cases on every run and machine.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Emits `repr` into a zeroed buffer of `size` and returns the bytes.
func emitted(size: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> Void) throws -> [UInt8] {
    var out = [UInt8](repeating: 0, count: size)
    try out.withUnsafeMutableBytes { try body($0) }
    return out
}

/// The WireError `body` throws, or nil if it succeeds. (Test closures use
/// untyped `throws`: typed throws in closures trips this toolchain.)
func wireError(_ body: () throws -> Void) -> WireError? {
    do { try body(); return nil } catch let e as WireError { return e } catch { return nil }
}

/// Runs `body` over the bytes of `array`.
func withBytes<R>(_ array: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try array.withUnsafeBytes { try body($0) }
}
