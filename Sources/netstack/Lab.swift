// `netstack lab FILE.sh`: run a lab script against in-process namespaces in
// virtual time (DESIGN.md §1), printing what the script prints and exiting
// with its status. `-` reads the script from stdin.
//
// The world comes from `makeLabWorld(options:)`: the in-process stack.
import ArgumentParser
import Netstack
import NetstackControl

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds the world a lab script runs against. The lead replaces this stub
/// with the stack's world (namespaces, devices, ip/ping/nc/ss/sysctl/tc).
func makeLabWorld(options: LabWorldOptions) -> any LabWorld {
    StackLabWorld(seed: options.seed)
}

struct Lab: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a lab script (a Linux shell subset) against in-process namespaces in virtual time.",
        discussion: """
        The script is valid bash for the subset it uses: run it as root on Linux and it \
        builds the same world in kernel namespaces. Same script and seed, same output bytes.
        """
    )

    @Argument(help: "The script file (`-` for stdin).")
    var file: String

    @Option(help: "Trace packets matching FILTER (e.g. 'icmp').")
    var trace: String?

    @Option(help: "Write a pcap file per device into DIR.")
    var pcap: String?

    @Option(help: "Seed for every random choice (MACs, ports, impairments).")
    var seed: UInt64 = 1

    @Flag(help: "Run on the wall clock instead of jumping through virtual time.")
    var realtime = false

    @Option(help: "Stop the run after this much virtual time, in seconds (exit status 124).")
    var timeout: Double = 3600

    func validate() throws {
        guard timeout > 0, timeout.isFinite else { throw ValidationError("--timeout must be a positive number of seconds") }
    }

    func run() throws {
        guard let source = readScript() else {
            writeAll(2, "netstack lab: \(file): cannot read the file\n")
            throw ExitCode(2)
        }
        let worldOptions = LabWorldOptions(trace: trace, pcapDirectory: pcap, seed: seed, realtime: realtime)
        var options = LabOptions()
        options.scriptName = file == "-" ? "bash" : file
        options.timeLimit = TimeDelta(seconds: timeout)
        if realtime { options.clock = WallClock() }
        let interpreter = LabInterpreter(world: makeLabWorld(options: worldOptions), sink: TerminalSink(), options: options)
        let status = interpreter.run(source: source)
        if status != 0 { throw ExitCode(status) }
    }

    private func readScript() -> String? {
        let fd: Int32 = file == "-" ? 0 : open(file, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { if fd != 0 { close(fd) } }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return nil }
            if n == 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Writes straight to fd 1 and 2, unbuffered, so stdout and stderr
/// interleave in the order the script produced them.
final class TerminalSink: LabSink {
    func write(_ bytes: [UInt8], to stream: LabStream) {
        writeAll(stream == .stdout ? 1 : 2, bytes)
    }
}

/// Realtime mode: virtual instant `t` happens at wall time `start + (t - origin)`.
/// The one place the lab reads a clock.
final class WallClock: LabClock {
    private let clock = ContinuousClock()
    private var start: ContinuousClock.Instant?
    private var origin = Instant.zero

    func wait(until instant: Instant, worldNow: Instant) {
        if start == nil {
            start = clock.now
            origin = worldNow
        }
        let due = start! + (instant - origin).duration
        var left = due - clock.now
        var guardCount = 0
        while left > .zero && guardCount < 1000 {
            guardCount += 1
            let (seconds, attoseconds) = left.components
            var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
            _ = nanosleep(&request, nil)
            left = due - clock.now
        }
    }
}

private func writeAll(_ fd: Int32, _ text: String) { writeAll(fd, Array(text.utf8)) }

private func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    bytes.withUnsafeBufferPointer { buffer in
        var done = 0
        while done < buffer.count {
            let n = write(fd, buffer.baseAddress! + done, buffer.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            done += n
        }
    }
}
