// Shared by every fuzz target: the libFuzzer entry point and the checks.
//
// Each target binary is swiftc over Sources/NetWire/*.swift + this file +
// one Targets/<Name>.swift, which defines
//
//     func fuzzTarget(_ input: UnsafeRawBufferPointer)
//
// The input is libFuzzer's exactly-sized heap copy, so AddressSanitizer
// reports any read past a view's bytes. A failed check traps (fatalError);
// libFuzzer saves the input under Fuzz/bin/artifacts/<Name>/.

@_cdecl("LLVMFuzzerTestOneInput")
public func LLVMFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzTarget(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// Traps with `message` when `condition` is false.
@inline(__always)
func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String,
               file: StaticString = #fileID, line: UInt = #line) {
    if !condition { fatalError("fuzz check failed: \(message())", file: file, line: line) }
}

/// A zeroed scratch buffer for emit, handed to `body` and freed afterwards.
func withScratch<R>(_ count: Int, _ body: (UnsafeMutableRawBufferPointer) -> R) -> R {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 8)
    buffer.initializeMemory(as: UInt8.self, repeating: 0)
    defer { buffer.deallocate() }
    return body(buffer)
}

/// The bytes as hex, for failure messages.
func hexDump(_ bytes: UnsafeRawBufferPointer) -> String {
    let digits = Array("0123456789abcdef")
    var text = ""
    for byte in bytes { text.append(digits[Int(byte >> 4)]); text.append(digits[Int(byte & 15)]) }
    return text
}
