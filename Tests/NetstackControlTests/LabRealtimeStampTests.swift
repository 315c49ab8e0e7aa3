// `netstack lab --realtime`: the world does the work due by the wall
// clock's instant at that instant (StackLabWorld.advanceOnWallClock), so
// the wall time a step of work takes shows in TCP's RTT samples, and the
// timers armed during the step do not expire before the processes that
// answer it (a reader releasing its held-back ACK) have run.
import Testing
import NetWire
import Netstack
@testable import NetstackControl

@Suite struct LabRealtimeStampTests {
    /// The `Retr` column of iperf3's `sender` summary line.
    static func senderRetransmits(_ stdout: String) -> Int? {
        guard let line = stdout.split(separator: "\n").last(where: { $0.hasSuffix("sender") }) else { return nil }
        let fields = line.split(separator: " ")
        guard fields.count >= 2 else { return nil }
        return Int(fields[fields.count - 2])
    }

    @Test func retrColumnIsRead() {
        let out = "[  5]   0.00-1.00   sec  1.29 GBytes  11.1 Gbits/sec  331             sender\n"
        #expect(Self.senderRetransmits(out) == 331)
        #expect(Self.senderRetransmits("no summary\n") == nil)
    }

    /// One bulk flow, one MSS per packet, each scheduler step costing 3 ms
    /// of wall time. Replaying a step's work at the instants it fell due
    /// sampled RTTs of 0 and then moved the clock 3 ms on before the
    /// receiving iperf3 read (and so ACKed): a tail loss probe 2 ms after
    /// every burst, each a retransmission the receiver reported back as a
    /// duplicate (here 331 in the second; Linux: none). Done at the wall's
    /// instant, the RTT is the step's cost and nothing is sent twice.
    @Test func bulkFlowOnASlowWallClockSendsNoSpuriousRetransmissions() {
        let world = StackLabWorld(seed: 7)
        world.realtime = true
        var options = LabOptions()
        // Every scheduler step "takes" 3 ms of wall time: more than
        // TCP_TIMEOUT_MIN (2 ms), the tail loss probe's margin above 2·SRTT.
        options.clock = SimulatedWallClock(cost: .milliseconds(3))
        let capture = LabCapture()
        let body = """
        ip netns exec a ethtool -K e0 tso off gso off
        ip netns exec b ethtool -K e0 tso off gso off
        ip netns exec b iperf3 -s -1 >/dev/null &
        sleep 1
        ip netns exec a iperf3 -c 10.0.0.2 -t 1
        wait

        """
        let status = LabInterpreter(world: world, sink: capture, options: options)
            .run(source: LabHosts.script() + body)
        #expect(status == 0)
        #expect(capture.stderr == "")
        let retransmits = Self.senderRetransmits(capture.stdout)
        #expect(retransmits == 0, "\(capture.stdout)")
        let retransSegs = world.stack.shard.counters[.tcpRetransSegs]
        let dsacks = world.stack.shard.counters[.tcpExtTCPDSACKRecv]
        #expect(retransSegs == 0)
        #expect(dsacks == 0)
    }
}
