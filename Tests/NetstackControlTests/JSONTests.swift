import Testing
@testable import NetstackControl

@Suite struct JSONTests {
    // Captured from `ip -j -p addr show lo` (iproute2 6.1) and trimmed.
    let value = JSONValue.array([.object([
        ("ifindex", .int(1)),
        ("flags", .array([.string("LOOPBACK"), .string("UP")])),
        ("addr_info", .array([
            .object([("family", .string("inet")), ("prefixlen", .int(8))]),
            .object([("family", .string("inet6"))]),
        ])),
        ("empty", .array([])),
    ])])

    @Test func compactMatchesIproute2() {
        #expect(value.rendered() == #"[{"ifindex":1,"flags":["LOOPBACK","UP"],"addr_info":[{"family":"inet","prefixlen":8},{"family":"inet6"}],"empty":[]}]"#)
    }

    @Test func prettyMatchesIproute2() {
        let expected = """
        [ {
                "ifindex": 1,
                "flags": [ "LOOPBACK","UP" ],
                "addr_info": [ {
                        "family": "inet",
                        "prefixlen": 8
                    },{
                        "family": "inet6"
                    } ],
                "empty": [ ]
            } ]
        """
        #expect(value.rendered(pretty: true) == expected)
    }

    @Test func escapesControlCharacters() {
        #expect(JSONValue.string("a\"b\\\n\u{01}").rendered() == #""a\"b\\\n\u0001""#)
    }
}
