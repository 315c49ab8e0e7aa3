// Ethernet II header and 802.1Q/802.1ad tags: checked view, Repr parse, and
// parse(emit(repr)) == repr; emit must also give back the header bytes.

func fuzzTarget(_ input: UnsafeRawBufferPointer) {
    guard let frame = try? EthernetFrame(input) else {
        fuzzCheck(input.count < EthernetFrame.headerLength, "short-frame rule")
        return
    }
    let repr = EthernetRepr.parse(frame)
    _ = frame.payload.count
    withScratch(EthernetRepr.headerLength) { out in
        do throws(WireError) {
            try repr.emit(into: out)
            fuzzCheck(out.elementsEqual(input.prefix(EthernetRepr.headerLength)),
                      "Ethernet emit differs from input \(hexDump(input.bytes(0, 14)))")
            let again = EthernetRepr.parse(try EthernetFrame(UnsafeRawBufferPointer(out)))
            fuzzCheck(again == repr, "Ethernet round trip: \(repr) -> \(again)")
        } catch {
            fuzzCheck(false, "Ethernet emit/parse of a parsed header failed: \(error)")
        }
    }

    // Walk a stack of VLAN tags, as vlan_do_receive() would.
    var etherType = repr.etherType
    var rest = frame.payload
    while etherType.isVLANTag, let tag = try? VLANTag(rest) {
        let vlan = VLANRepr.parse(tag)
        withScratch(VLANRepr.headerLength) { out in
            do throws(WireError) {
                try vlan.emit(into: out)
                fuzzCheck(out.elementsEqual(rest.prefix(VLANRepr.headerLength)), "VLAN emit differs from input")
                let again = VLANRepr.parse(try VLANTag(UnsafeRawBufferPointer(out)))
                fuzzCheck(again == vlan, "VLAN round trip: \(vlan) -> \(again)")
            } catch {
                fuzzCheck(false, "VLAN emit/parse of a parsed tag failed: \(error)")
            }
        }
        etherType = vlan.innerEtherType
        rest = tag.payload
    }
}
