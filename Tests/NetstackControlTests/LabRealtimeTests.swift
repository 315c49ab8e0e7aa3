// `netstack lab --realtime`: virtual time follows the wall clock, so a
// world busy at one instant is moved on to the wall's instant between steps,
// and iperf3 writes whenever its socket has room (not on a 1 ms tick).
import Testing
import NetWire
import Netstack
@testable import NetstackControl

/// A wall clock the test drives: each step of work "takes" `cost`, so the
/// wall is always a little ahead of a world that has work (also used by
/// LabRealtimeStampTests).
final class SimulatedWallClock: LabClock {
    let cost: TimeDelta
    private(set) var wall = Instant.zero
    init(cost: TimeDelta) { self.cost = cost }
    var followsWallClock: Bool { true }
    func wait(until instant: Instant, worldNow: Instant) -> Instant {
        wall = max(wall, worldNow) + cost
        return max(instant, wall)
    }
}

@Suite struct LabRealtimeTests {
    /// Each busy step "takes" 100 ms of wall time: the world must leave
    /// its instant between steps (a world that stood still while busy would
    /// hit the same-instant limit, set low here), and the unpaced sender
    /// keeps the flow going until its 1-second test ends.
    @Test func busyWorldFollowsTheWallClockAndIperf3WritesWhenWritable() {
        let world = StackLabWorld(seed: 5)
        world.realtime = true
        let clock = SimulatedWallClock(cost: .milliseconds(100))
        var options = LabOptions()
        options.clock = clock
        options.maxStepsPerInstant = 50
        let capture = LabCapture()
        let body = """
        ip netns exec b iperf3 -s -1 >/dev/null &
        sleep 1
        ip netns exec a iperf3 -c 10.0.0.2 -t 1
        wait

        """
        let status = LabInterpreter(world: world, sink: capture, options: options)
            .run(source: LabHosts.script() + body)
        #expect(status == 0)
        #expect(capture.stderr == "")
        #expect(capture.stdout.contains("sender"))
        #expect(capture.stdout.contains("receiver"))
    }
}
