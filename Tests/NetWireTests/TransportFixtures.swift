// Golden frames from a real Linux capture: Tests/NetWireTests/Fixtures/
// transport-veth.pcap, made by Fixtures/capture-transport.sh (veth between
// namespaces tp-a 10.99.0.1 and tp-b 10.99.0.2, tp-b routing to tp-c
// 10.99.1.2 over an MTU-1280 veth, kernel VXLAN VNI 42, TX checksum offload
// off so checksums on the wire are complete). Each constant is one whole
// Ethernet frame, named with its tshark frame number; field values quoted in
// the tests are what `tshark -r transport-veth.pcap -V` prints.

enum Golden {
    /// Frame 1 (42 bytes).
    static let arpRequest = hex("""
        fffffffffffffae1d528dbff08060001080006040001fae1d528dbff0a6300010000000000000a630002
        """)
    /// Frame 2 (42 bytes).
    static let arpReply = hex("""
        fae1d528dbff1aa995e91bfe080600010800060400021aa995e91bfe0a630002fae1d528dbff0a630001
        """)
    /// Frame 3 (66 bytes).
    static let echoRequest = hex("""
        1aa995e91bfefae1d528dbff08004500003498e5400040018d1b0a6300010a6300020800b5d9123400016e6574737461
        636b6e6574737461636b6e6574737461636b
        """)
    /// Frame 4 (66 bytes).
    static let echoReply = hex("""
        fae1d528dbff1aa995e91bfe0800450000349dc500004001c83b0a6300020a6300010000bdd9123400016e6574737461
        636b6e6574737461636b6e6574737461636b
        """)
    /// Frame 5 (74 bytes).
    static let tcpSyn = hex("""
        1aa995e91bfefae1d528dbff08004500003c93fb4000400691f80a6300010a63000299521388dba9e27500000000a002
        faf085a90000020405b40402080a6b76dc29000000000103030a
        """)
    /// Frame 6 (74 bytes).
    static let tcpSynAck = hex("""
        fae1d528dbff1aa995e91bfe08004500003c00004000400625f40a6300020a63000113889952c81bcd0bdba9e276a012
        fe88b6830000020405b40402080a6292d3c26b76dc290103030a
        """)
    /// Frame 7 (66 bytes).
    static let tcpAck = hex("""
        1aa995e91bfefae1d528dbff08004500003493fc4000400691ff0a6300010a63000299521388dba9e276c81bcd0c8010
        003fe39c00000101080a6b76dc296292d3c2
        """)
    /// Frame 8 (71 bytes).
    static let tcpData = hex("""
        1aa995e91bfefae1d528dbff08004500003993fd4000400691f90a6300010a63000299521388dba9e276c81bcd0c8018
        003ffabe00000101080a6b76dc296292d3c270696e670a
        """)
    /// Frame 12 (66 bytes).
    static let tcpFinAck = hex("""
        1aa995e91bfefae1d528dbff08004500003493ff4000400691fc0a6300010a63000299521388dba9e27bc81bcd118011
        003fe39100000101080a6b76dc296292d3c2
        """)
    /// Frame 15 (74 bytes).
    static let tcpSynClosedPort = hex("""
        1aa995e91bfefae1d528dbff08004500003ccfcc4000400656270a6300010a630002eafe1389617ac09100000000a002
        faf0a3450000020405b40402080a0aac69be000000000103030a
        """)
    /// Frame 16 (54 bytes).
    static let tcpRstAck = hex("""
        fae1d528dbff1aa995e91bfe08004500002800004000400626080a6300020a6300011389eafe00000000617ac0925014
        00007a730000
        """)
    /// Frame 17 (52 bytes).
    static let udp = hex("""
        1aa995e91bfefae1d528dbff080045000026b9da400040116c240a6300010a6300029c4014e90012107768656c6c6f20
        7564700a
        """)
    /// Frame 18 (80 bytes).
    static let icmpPortUnreachable = hex("""
        fae1d528dbff1aa995e91bfe080045c000429ddb00004001c7570a6300020a630001030311e90000000045000026b9da
        400040116c240a6300010a6300029c4014e90012107768656c6c6f207564700a
        """)
    /// Frame 20 (590 bytes).
    static let icmpFragmentationNeeded = hex("""
        fae1d528dbff1aa995e91bfe080045c002409ddf00004001c5550a6300020a63000103042b3200000500450005940000
        400040011fa10a6300010a63010208004e80123400016e6574737461636b6e6574737461636b6e6574737461636b6e65
        74737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e65
        74737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e65
        74737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e65
        74737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e65
        74737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e65
        74737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e65
        74737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e65
        74737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e65
        74737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e65
        74737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e6574737461636b6e65
        74737461636b6e6574737461636b
        """)
    /// Frame 21 (58 bytes).
    static let echoRequestTTL1 = hex("""
        1aa995e91bfefae1d528dbff08004500002c801b40000101e3ed0a6300010a6301020800707f123400016e6574737461
        636b6e6574737461636b
        """)
    /// Frame 22 (86 bytes).
    static let icmpTimeExceeded = hex("""
        fae1d528dbff1aa995e91bfe080045c000489de200004001c74a0a6300020a6300010b00f4ff000000004500002c801b
        40000101e3ed0a6300010a6301020800707f123400016e6574737461636b6e6574737461636b
        """)
    /// Frame 23 (92 bytes).
    static let vxlanARPRequest = hex("""
        1aa995e91bfefae1d528dbff08004500004eb9e700004011abef0a6300010a6300028b3e12b5003a7aea080000000000
        2a00ffffffffffff0a9204d94ace080600010800060400010a9204d94acec0a82a01000000000000c0a82a02
        """)
    /// Frame 24 (92 bytes).
    static let vxlanARPReply = hex("""
        fae1d528dbff1aa995e91bfe08004500004e05b10000401160260a6300020a6300018b3e12b5003a4cb5080000000000
        2a000a9204d94acedad548f7f34c08060001080006040002dad548f7f34cc0a82a020a9204d94acec0a82a01
        """)
    /// Frame 25 (100 bytes).
    static let vxlanEchoRequest = hex("""
        1aa995e91bfefae1d528dbff080045000056b9e800004011abe60a6300010a6300029e1c12b500428e7c080000000000
        2a00dad548f7f34c0a9204d94ace08004500002482a040004001e2e4c0a82a01c0a82a0208002b25123400016e657473
        7461636b
        """)
    /// Frame 26 (100 bytes).
    static let vxlanEchoReply = hex("""
        fae1d528dbff1aa995e91bfe08004500005605b200004011601d0a6300020a6300019e1c12b500428e7c080000000000
        2a000a9204d94acedad548f7f34c0800450000249615000040010f70c0a82a02c0a82a0100003325123400016e657473
        7461636b
        """)

    static let all: [(String, [UInt8])] = [
        ("arpRequest", arpRequest),
        ("arpReply", arpReply),
        ("echoRequest", echoRequest),
        ("echoReply", echoReply),
        ("tcpSyn", tcpSyn),
        ("tcpSynAck", tcpSynAck),
        ("tcpAck", tcpAck),
        ("tcpData", tcpData),
        ("tcpFinAck", tcpFinAck),
        ("tcpSynClosedPort", tcpSynClosedPort),
        ("tcpRstAck", tcpRstAck),
        ("udp", udp),
        ("icmpPortUnreachable", icmpPortUnreachable),
        ("icmpFragmentationNeeded", icmpFragmentationNeeded),
        ("echoRequestTTL1", echoRequestTTL1),
        ("icmpTimeExceeded", icmpTimeExceeded),
        ("vxlanARPRequest", vxlanARPRequest),
        ("vxlanARPReply", vxlanARPReply),
        ("vxlanEchoRequest", vxlanEchoRequest),
        ("vxlanEchoReply", vxlanEchoReply),
    ]
}
