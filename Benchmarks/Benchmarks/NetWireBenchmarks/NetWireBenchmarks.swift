// NetWire benchmarks (ordo-one/benchmark). Absolute figures: ns per operation
// (wall clock) and mallocs per operation. Per-packet work must not allocate:
// Thresholds/*.json pins mallocCountTotal at 0 for every benchmark here.
//
// Each measured iteration does `scale` operations (scalingFactor .kilo), so
// the reported time is per checksum / per frame.
//
//     swift package benchmark                      # run and print
//     swift package benchmark thresholds check     # compare with Thresholds/
import Benchmark
import CChecksum
import NetWire
import Netstack

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 2_000
    )

    // MARK: Internet checksum, Swift vs the same algorithm in C (-O3)

    for size in [1500, 65536] {
        let name = size == 1500 ? "1500B" : "64KiB"
        let buffer = Fixtures.randomBytes(size)
        let bytes = UnsafeRawBufferPointer(buffer)

        // One byte changes per call so no implementation's (pure) call can be
        // hoisted out of the loop; every implementation pays the same store.
        Benchmark("Checksum-Swift-\(name)") { benchmark in
            var acc: UInt32 = 0
            for k in benchmark.scaledIterations {
                buffer.storeBytes(of: UInt8(truncatingIfNeeded: k), toByteOffset: 0, as: UInt8.self)
                acc &+= UInt32(InternetChecksum.checksum(bytes))
            }
            blackHole(acc)
        }

        Benchmark("Checksum-C-acc32-\(name)") { benchmark in
            var acc: UInt32 = 0
            for k in benchmark.scaledIterations {
                buffer.storeBytes(of: UInt8(truncatingIfNeeded: k), toByteOffset: 0, as: UInt8.self)
                acc &+= UInt32(netstack_c_checksum_acc32(bytes.baseAddress, bytes.count))
            }
            blackHole(acc)
        }

        Benchmark("Checksum-C-adc64-\(name)") { benchmark in
            var acc: UInt32 = 0
            for k in benchmark.scaledIterations {
                buffer.storeBytes(of: UInt8(truncatingIfNeeded: k), toByteOffset: 0, as: UInt8.self)
                acc &+= UInt32(netstack_c_checksum_adc64(bytes.baseAddress, bytes.count))
            }
            blackHole(acc)
        }
    }

    // MARK: Parse + emit, per frame (views + Reprs)

    // Ethernet + IPv4 (no options) + 64 payload bytes: parse both headers
    // through the checked views (IPv4 header checksum verified), then emit
    // both Reprs (IPv4 checksum computed) into a second buffer.
    let plain = Fixtures.ethernetIPv4Frame(options: [], payload: 64)
    let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 64)
    Benchmark("ParseEmit-Ethernet-IPv4") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(Fixtures.parseAndEmit(UnsafeRawBufferPointer(plain), into: out))
        }
    }

    // The same with 8 option bytes (Router Alert + NOPs): the option walk
    // and the inline OptionBytes copy.
    let withOptions = Fixtures.ethernetIPv4Frame(options: [148, 4, 0, 0, 1, 1, 1, 0], payload: 64)
    Benchmark("ParseEmit-Ethernet-IPv4-Options") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(Fixtures.parseAndEmit(UnsafeRawBufferPointer(withOptions), into: out))
        }
    }

    // Ethernet + IPv4 + TCP with Linux's SYN options (MSS, SACK-permitted,
    // timestamps, window scale) + 64 payload bytes: parse all three through
    // the checked views (IPv4 header checksum and TCP checksum over the
    // pseudo-header verified), then emit all three (checksums computed).
    let tcpFrame = Fixtures.ethernetIPv4TCPFrame(payload: 64)
    Benchmark("ParseEmit-Ethernet-IPv4-TCP") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(Fixtures.parseAndEmitTCP(UnsafeRawBufferPointer(tcpFrame), into: out))
        }
    }

    // MARK: PacketPool

    // One get (pop from the shard's free stack, headroom reserved) and one
    // put (the buffer's deinit pushes the slot back).
    let pool = PacketPool(slotSize: 2048, count: 1024)
    Benchmark("PacketPool-get-put") { benchmark in
        for _ in benchmark.scaledIterations {
            let buffer = pool.allocate()
            blackHole(buffer?.headroom ?? 0)
        }
    }
}

enum Fixtures {
    /// Deterministic pseudo-random bytes (an LCG), cache-line aligned.
    static func randomBytes(_ size: Int) -> UnsafeMutableRawBufferPointer {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        var state = UInt64(size)
        for i in 0..<size {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            buffer[i] = UInt8(truncatingIfNeeded: state >> 56)
        }
        return buffer
    }

    /// A valid Ethernet/IPv4 frame emitted by NetWire itself.
    static func ethernetIPv4Frame(options: [UInt8], payload: Int) -> UnsafeMutableRawBufferPointer {
        let ip = IPv4Repr(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2),
                          protocol: .udp, payloadLength: payload, ttl: 64, identification: 0x1234,
                          dontFragment: true, options: OptionBytes(options)!)
        let eth = EthernetRepr(destination: MACAddress(2, 0, 0, 0, 0, 2), source: MACAddress(2, 0, 0, 0, 0, 1),
                               etherType: .ipv4)
        let size = EthernetRepr.headerLength + ip.headerLength + payload
        let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        frame.initializeMemory(as: UInt8.self, repeating: 0xA5)
        do {
            try eth.emit(into: frame)
            try ip.emit(into: UnsafeMutableRawBufferPointer(rebasing: frame[EthernetRepr.headerLength...]))
        } catch {
            fatalError("fixture frame does not emit: \(error)")
        }
        return frame
    }

    /// One frame's receive-side parse and transmit-side emit. Returns the
    /// emitted length (0 on a parse or emit failure, which the fixture never
    /// hits).
    @inline(__always)
    static func parseAndEmit(_ frame: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int {
        do throws(WireError) {
            let ethernet = try EthernetFrame(frame)
            let eth = EthernetRepr.parse(ethernet)
            guard eth.etherType == .ipv4 else { return 0 }
            let packet = try IPv4Packet(ethernet.payload)
            let ip = try IPv4Repr.parse(packet)
            try eth.emit(into: out)
            try ip.emit(into: UnsafeMutableRawBufferPointer(rebasing: out[EthernetRepr.headerLength...]))
            return EthernetRepr.headerLength &+ ip.headerLength
        } catch {
            return 0
        }
    }
    static func ethernetIPv4TCPFrame(payload: Int) -> UnsafeMutableRawBufferPointer {
        let tcp = TCPRepr(sourcePort: 40000, destinationPort: 5201, sequenceNumber: TCPSeqNumber(0x1234_5678),
                          acknowledgmentNumber: TCPSeqNumber(0x9ABC_DEF0), flags: [.ack, .psh], windowSize: 502,
                          options: TCPOptions(maximumSegmentSize: 1460, windowScale: 7, sackPermitted: true,
                                              timestamps: TCPTimestamps(value: 1, echoReply: 2)),
                          payloadLength: payload)
        let ip = IPv4Repr(source: IPv4Address(10, 0, 0, 1), destination: IPv4Address(10, 0, 0, 2), protocol: .tcp,
                          payloadLength: tcp.headerLength + payload, dontFragment: true)
        let total = EthernetRepr.headerLength + ip.headerLength + tcp.headerLength + payload
        let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: total, alignment: 64)
        frame.initializeMemory(as: UInt8.self, repeating: 0x5A)
        try! EthernetRepr(destination: MACAddress(2, 0, 0, 0, 0, 2), source: MACAddress(2, 0, 0, 0, 0, 1),
                          etherType: .ipv4).emit(into: frame)
        let l3 = UnsafeMutableRawBufferPointer(rebasing: frame[EthernetRepr.headerLength...])
        try! ip.emit(into: l3)
        try! tcp.emit(into: UnsafeMutableRawBufferPointer(rebasing: l3[ip.headerLength...]), pseudoHeader: ip.pseudoHeader)
        return frame
    }

    /// Receive-side parse of Ethernet/IPv4/TCP with both checksums
    /// verified, then transmit-side emit of all three headers (checksums
    /// computed; the payload is not copied — it stays in `out` as a real
    /// transmit path leaves it in the buffer). Returns the header bytes.
    @inline(__always)
    static func parseAndEmitTCP(_ frame: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int {
        do throws(WireError) {
            let ethernet = try EthernetFrame(frame)
            let eth = EthernetRepr.parse(ethernet)
            guard eth.etherType == .ipv4 else { return 0 }
            let packet = try IPv4Packet(ethernet.payload)
            let ip = try IPv4Repr.parse(packet)
            guard ip.protocol == .tcp else { return 0 }
            let tcp = try TCPRepr.parse(try TCPSegment(packet.payload), pseudoHeader: ip.pseudoHeader)
            try eth.emit(into: out)
            let l3 = UnsafeMutableRawBufferPointer(rebasing: out[EthernetRepr.headerLength...])
            try ip.emit(into: l3)
            let l4 = UnsafeMutableRawBufferPointer(rebasing: l3[ip.headerLength..<(ip.headerLength &+ tcp.headerLength &+ tcp.payloadLength)])
            try tcp.emit(into: l4, pseudoHeader: ip.pseudoHeader)
            return EthernetRepr.headerLength &+ ip.headerLength &+ tcp.headerLength
        } catch {
            return 0
        }
    }
}
