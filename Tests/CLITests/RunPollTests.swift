import Foundation
import Testing
@testable import netstack

/// `netstack run`'s choice between polling and sleeping (HostClock.pollEnd):
/// poll only while traffic flows, or for net.core.busy_poll's span.
@Suite struct RunPollTests {
    let us: Int64 = 1000

    @Test func idleSleepsAtOnce() {
        // The last wake-up with work was 1 ms ago; the window is 50 µs.
        let end = HostClock.pollEnd(now: 1_000 * us, busyPoll: 0, lastActivity: 0, window: 50 * us, deadline: 5_000 * us)
        #expect(end <= 1_000 * us)
    }

    @Test func recentWorkPollsUntilTheWindowEnds() {
        let end = HostClock.pollEnd(now: 1_020 * us, busyPoll: 0, lastActivity: 1_000 * us, window: 50 * us, deadline: 5_000 * us)
        #expect(end == 1_050 * us)
    }

    @Test func neverPastTheDeadline() {
        let end = HostClock.pollEnd(now: 1_020 * us, busyPoll: 0, lastActivity: 1_000 * us, window: 50 * us, deadline: 1_030 * us)
        #expect(end == 1_030 * us)
    }

    @Test func windowZeroTurnsAdaptivePollingOff() {
        let end = HostClock.pollEnd(now: 1_020 * us, busyPoll: 0, lastActivity: 1_000 * us, window: 0, deadline: 5_000 * us)
        #expect(end <= 1_020 * us)
    }

    /// A window out of range is refused before anything is opened: a usage
    /// error, and no control socket left behind.
    @Test func anOutOfRangeWindowIsAUsageError() throws {
        let exe = try #require(CLI.netstack)
        let control = FileManager.default.temporaryDirectory.appendingPathComponent("poll-\(UUID().uuidString).sock").path
        for bad in ["-1", "1000001"] {
            let r = try CLI.run(exe, ["run", "--poll-usecs=\(bad)", "--control", control, "/dev/null"])
            #expect(r.exited && r.status == 64)
            #expect(r.stderr.contains("--poll-usecs must be between 0 and 1000000 (got \(bad))"))
            #expect(!FileManager.default.fileExists(atPath: control))
        }
    }

    @Test func busyPollPollsBeforeEverySleepAndTheLaterEndWins() {
        // Idle: busy_poll alone.
        #expect(HostClock.pollEnd(now: 1_000 * us, busyPoll: 30 * us, lastActivity: 0, window: 50 * us, deadline: 5_000 * us) == 1_030 * us)
        // Active: the window ends later than busy_poll's span.
        #expect(HostClock.pollEnd(now: 1_020 * us, busyPoll: 10 * us, lastActivity: 1_000 * us, window: 50 * us, deadline: 5_000 * us) == 1_050 * us)
        // Active: busy_poll's span ends later.
        #expect(HostClock.pollEnd(now: 1_020 * us, busyPoll: 100 * us, lastActivity: 1_000 * us, window: 50 * us, deadline: 5_000 * us) == 1_120 * us)
    }
}
