// IPv4 header: checked view (every accessor), Repr parse with and without
// checksum verification, and parse(emit(repr)) == repr with the payload
// carried over.

func fuzzTarget(_ input: UnsafeRawBufferPointer) {
    guard let packet = try? IPv4Packet(input) else { return }
    // Every accessor must stay inside the validated bytes (ASan watches).
    let fields = (packet.headerLength, packet.tos, packet.totalLength, packet.identification,
                  packet.fragmentOffset, packet.isFragment, packet.ttl, packet.protocol,
                  packet.headerChecksum, packet.source, packet.destination, packet.options.count,
                  packet.payload.count, packet.headerChecksumVerifies, packet.reservedFlag)
    fuzzCheck(fields.0 + fields.12 == fields.2, "header + payload != total length")

    for verify in [true, false] {
        let repr: IPv4Repr
        do throws(WireError) {
            repr = try IPv4Repr.parse(packet, verifyChecksum: verify)
        } catch {
            fuzzCheck(error == .badChecksum || error == .badOption, "unexpected parse error \(error)")
            continue
        }
        fuzzCheck(repr.headerLength == packet.headerLength, "Repr header length \(repr.headerLength)")
        let length = repr.headerLength + repr.payloadLength
        withScratch(length) { out in
            do throws(WireError) {
                try repr.emit(into: out)
                out.copy(packet.payload, to: repr.headerLength)
                let again = try IPv4Repr.parse(try IPv4Packet(UnsafeRawBufferPointer(out)))
                fuzzCheck(again == repr, "IPv4 round trip: \(repr) -> \(again)")
            } catch {
                fuzzCheck(false, "IPv4 emit/parse of a parsed header failed: \(error) " +
                          hexDump(packet.header))
            }
        }
    }
}
