import Testing
@testable import NetWire

@Suite struct ChecksumTests {
    /// RFC 1071 §3 example: the sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2.
    @Test func rfc1071Example() {
        let bytes = hex("0001f203f4f5f6f7")
        var c = InternetChecksum()
        bytes.withUnsafeBytes { c.add($0) }
        #expect(c.folded == 0xDDF2)
        #expect(c.value == ~0xDDF2)
    }

    /// The reference: RFC 1071 §4.1's loop, over big-endian 16-bit words.
    static func reference(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i + 1 < bytes.count { sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1]); i += 2 }
        if i < bytes.count { sum += UInt32(bytes[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    @Test func matchesReferenceForEveryLengthAndSplit() {
        var rng = SplitMix64(seed: 1071)
        for length in 0...300 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let expected = Self.reference(bytes)
            #expect(bytes.withUnsafeBytes { InternetChecksum.checksum($0) } == expected, "length \(length)")
            // Any split into two ranges (odd or even) gives the same answer.
            let split = length == 0 ? 0 : Int.random(in: 0...length, using: &rng)
            var c = InternetChecksum()
            bytes.withUnsafeBytes { c.add(UnsafeRawBufferPointer(rebasing: $0[0..<split])) }
            bytes.withUnsafeBytes { c.add(UnsafeRawBufferPointer(rebasing: $0[split...])) }
            #expect(c.value == expected, "length \(length) split \(split)")
        }
    }

    @Test func fieldsAtOddOffsetsMatchBytes() {
        // 3 bytes then a 16-bit field: the field straddles a word boundary.
        var a = InternetChecksum()
        [UInt8(1), 2, 3].withUnsafeBytes { a.add($0) }
        a.add(be16: 0xABCD)
        #expect(a.value == Self.reference([1, 2, 3, 0xAB, 0xCD]))
    }

    @Test func largeBufferMatchesReference() {
        var rng = SplitMix64(seed: 65536)
        let bytes = (0..<65536 + 7).map { _ in UInt8.random(in: 0...255, using: &rng) }
        #expect(bytes.withUnsafeBytes { InternetChecksum.checksum($0) } == Self.reference(bytes))
        let ones = [UInt8](repeating: 0xFF, count: 65536)
        #expect(ones.withUnsafeBytes { InternetChecksum.checksum($0) } == Self.reference(ones))
    }

    /// RFC 1624 §4 example: HC = 0xDD2F, m = 0x5555 → m' = 0x3285 gives 0x0000.
    @Test func incrementalUpdateRFC1624() {
        #expect(InternetChecksum.update(0xDD2F, old: 0x5555, new: 0x3285) == 0x0000)
    }

    @Test func incrementalUpdateEqualsRecompute() {
        var rng = SplitMix64(seed: 1624)
        for _ in 0..<500 {
            var words = (0..<10).map { _ in UInt16.random(in: 0...0xFFFF, using: &rng) }
            func sum(_ w: [UInt16]) -> UInt16 { Self.reference(w.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }) }
            let before = sum(words)
            let index = Int.random(in: 0..<10, using: &rng)
            let old = words[index]
            words[index] = UInt16.random(in: 0...0xFFFF, using: &rng)
            let updated = InternetChecksum.update(before, old: old, new: words[index])
            // 0x0000 and 0xFFFF are the same one's-complement value.
            let recomputed = sum(words)
            #expect(updated == recomputed || (updated | recomputed == 0xFFFF && updated & recomputed == 0))
        }
    }
}
