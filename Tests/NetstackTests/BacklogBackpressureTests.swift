// TCP output against a device backlog (Stack.backlogFull): a sender whose
// congestion window outgrows the peer's 1,000-frame backlog must stop at
// its edge and go on after the receiver drained, not overflow it and
// retransmit what the backlog dropped.
import Testing
import NetWire
@testable import Netstack

@Suite struct BacklogBackpressureTests {
    /// 40 MB of MTU-sized segments over a veth (GSO off, so a window is
    /// thousands of frames) arrive with no backlog drop and no retransmit.
    @Test func aBulkSenderNeverOverflowsThePeersBacklog() throws {
        let (stack, a, b, v0, v1) = try twoHosts()
        for d in [v0, v1] {
            d.segmentationOffload = false
            d.genericSegmentation = false
        }
        // SO_RCVBUF 16 MB on the listener: the receive window is no limit.
        let listener = b.tcpSocket()
        listener.receiveBufferRequest = 16 << 20
        try listener.bind(nil, port: 5001)
        try listener.listen(backlog: 8)
        let client = a.tcpSocket()
        try tcpStartConnect(client, .v4(IPv4Address(10, 0, 0, 2)), 5001)
        var accepted: TCPSocket?
        tcpRun(stack) {
            if accepted == nil { accepted = try? listener.accept() }
            return accepted != nil && client.isConnected
        }
        let server = try #require(accepted)
        let total = 40 << 20
        let chunk = [UInt8](repeating: 0x42, count: 65536)
        var sent = 0, got = 0
        var sink = [UInt8](repeating: 0, count: 262_144)
        tcpRun(stack, for: .seconds(30)) {
            while sent < total, let n = chunk.withUnsafeBytes({ try? client.send(UnsafeRawBufferPointer(rebasing: $0[0..<min($0.count, total - sent)])) }), n > 0 { sent += n }
            while let n = sink.withUnsafeMutableBytes({ try? server.receive(into: $0) }), n > 0 { got += n }
            return got >= total
        }
        #expect(got == total)
        #expect(v1.statistics.rxDropped == 0)
        #expect(client.info?.totalRetrans == 0)
        // The window did outgrow the backlog (else the test shows nothing).
        #expect((client.info?.sndCwnd ?? 0) > 1000)
    }
}
