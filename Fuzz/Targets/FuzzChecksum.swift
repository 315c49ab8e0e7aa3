// Internet checksum, differential: InternetChecksum (wide native-order
// loads, any split into two ranges, odd offsets) against RFC 1071 §4.1's
// naive loop over big-endian 16-bit words. The first input byte chooses the
// split; the rest is the data.

/// RFC 1071 §4.1, one byte pair at a time.
func naiveChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
    var sum: UInt32 = 0
    var i = 0
    while i + 1 < bytes.count {
        sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
        if sum & 0x8000_0000 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        i += 2
    }
    if i < bytes.count { sum += UInt32(bytes[i]) << 8 }
    while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
    return ~UInt16(truncatingIfNeeded: sum)
}

func fuzzTarget(_ input: UnsafeRawBufferPointer) {
    guard let control = input.first else { return }
    let data = input.bytes(1, input.count)
    let expected = naiveChecksum(data)
    fuzzCheck(InternetChecksum.checksum(data) == expected, "one-shot checksum of \(data.count) bytes")

    let split = data.isEmpty ? 0 : Int(control) % (data.count + 1)
    var c = InternetChecksum()
    c.add(data.bytes(0, split))
    c.add(data.bytes(split, data.count))
    fuzzCheck(c.value == expected, "split at \(split) of \(data.count)")

    // A range that contains its own correct checksum verifies.
    if data.count >= 2 && data.count % 2 == 0 {
        withScratch(data.count) { copy in
            copy.copy(data, to: 0)
            copy.setBE16(0, 0)
            copy.setBE16(0, InternetChecksum.checksum(UnsafeRawBufferPointer(copy)))
            var v = InternetChecksum()
            v.add(UnsafeRawBufferPointer(copy))
            fuzzCheck(v.verifies, "stored checksum does not verify")
        }
    }

    // RFC 1624 incremental update of the first word equals recomputing.
    if data.count >= 2 {
        withScratch(data.count) { copy in
            copy.copy(data, to: 0)
            let before = InternetChecksum.checksum(UnsafeRawBufferPointer(copy))
            let oldWord = UInt16(copy[0]) << 8 | UInt16(copy[1])
            let newWord = ~oldWord &+ UInt16(control)
            copy.setBE16(0, newWord)
            let recomputed = InternetChecksum.checksum(UnsafeRawBufferPointer(copy))
            let updated = InternetChecksum.update(before, old: oldWord, new: newWord)
            // 0x0000 and 0xFFFF are the same one's-complement number.
            let sameNumber = updated == recomputed
                || (updated == 0 && recomputed == 0xFFFF) || (updated == 0xFFFF && recomputed == 0)
            fuzzCheck(sameNumber,
                      "RFC 1624 update \(updated) != recomputed \(recomputed)")
        }
    }
}
