// IPv4 options (RFC 791 §3.1, the checks of ip_options_compile()): the
// input is the option bytes. validateOptions must never trap; options it
// accepts must survive emit → parse inside a header.

func fuzzTarget(_ input: UnsafeRawBufferPointer) {
    guard input.count <= OptionBytes.capacity else { return }
    do throws(WireError) {
        try IPv4Repr.validateOptions(input)
    } catch {
        fuzzCheck(error == .badOption, "validateOptions threw \(error)")
        return
    }
    // Options as they would sit on the wire: padded with EOL to 4 bytes.
    var padded = OptionBytes(input)!
    while padded.count % 4 != 0 {
        var eol = UInt8(0)
        _ = withUnsafeBytes(of: &eol) { padded.append($0) }
    }
    let repr = IPv4Repr(source: IPv4Address(192, 0, 2, 1), destination: IPv4Address(198, 51, 100, 7),
                        protocol: .udp, payloadLength: 8, identification: 7, options: padded)
    withScratch(repr.headerLength + 8) { out in
        do throws(WireError) {
            try repr.emit(into: out)
            let packet = try IPv4Packet(UnsafeRawBufferPointer(out))
            fuzzCheck(packet.options.elementsEqual(padded.array), "options not emitted as given")
            let again = try IPv4Repr.parse(packet)
            fuzzCheck(again == repr, "IPv4 options round trip: \(repr.options.array) -> \(again.options.array)")
        } catch {
            fuzzCheck(false, "accepted options fail emit/parse: \(error) \(hexDump(input))")
        }
    }
}
