// `netstack lab FILE.sh`: run a lab script against in-process namespaces in
// virtual time (DESIGN.md §1), printing what the script prints and exiting
// with its status. `-` reads the script from stdin.
//
// The world comes from `makeLabWorld(options:sink:)`: the in-process stack,
// with `--trace FILTER` (decisions about matching packets, on stderr) and
// `--pcap DIR` (a pcap file per device that carries traffic).
import ArgumentParser
import Netstack
import NetstackControl

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds the world a lab script runs against: the stack's world, with
/// `--trace` lines going to `sink`'s stderr and `--pcap` files written into
/// the directory. Throws the message for a bad filter or directory.
func makeLabWorld(options: LabWorldOptions, sink: any LabSink) throws(LabSetupError) -> StackLabWorld {
    let world = StackLabWorld(seed: options.seed)
    world.realtime = options.realtime
    if let text = options.trace {
        do throws(TraceFilterError) {
            world.startTracing(try TraceFilter.parse(text), sink: sink)
        } catch {
            throw LabSetupError("--trace: \(error)")
        }
    }
    if let directory = options.pcapDirectory {
        let files = try PcapDirectory(directory)
        world.startCapture { name, bytes in files.append(name, bytes) }
    }
    return world
}

/// What `netstack lab` and `netstack run` both take: the script and the
/// world's observers and seed.
struct ScriptOptions: ParsableArguments {
    @Argument(help: "The script file (`-` for stdin).")
    var file: String

    @Option(help: "Trace packets matching FILTER (e.g. 'icmp'), on stderr.")
    var trace: String?

    @Option(help: "Write a pcap file per device into DIR.")
    var pcap: String?

    @Option(help: "Seed for every random choice (MACs, ports, impairments).")
    var seed: UInt64 = 1
}

struct LabSetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `--pcap DIR`: `NAME.pcap` files, created (truncated) the first time a
/// name shows up and appended to after each poll. A write error is reported
/// once and stops that file.
final class PcapDirectory {
    let path: String
    private var files: [String: Int32] = [:]
    private var failed: Set<String> = []

    init(_ path: String) throws(LabSetupError) {
        self.path = path
        var st = stat()
        if stat(path, &st) != 0 {
            guard mkdir(path, 0o755) == 0 else {
                throw LabSetupError("--pcap: \(path): \(String(cString: strerror(errno)))")
            }
        } else if st.st_mode & S_IFMT != S_IFDIR {
            throw LabSetupError("--pcap: \(path): Not a directory")
        }
    }

    deinit {
        for fd in files.values { close(fd) }
    }

    func append(_ name: String, _ bytes: UnsafeRawBufferPointer) {
        guard !failed.contains(name) else { return }
        let fd: Int32
        if let open = files[name] {
            fd = open
        } else {
            let file = path + "/" + name + ".pcap"
            fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                writeAll(2, "netstack lab: --pcap: \(file): \(String(cString: strerror(errno)))\n")
                failed.insert(name)
                return
            }
            files[name] = fd
        }
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                writeAll(2, "netstack lab: --pcap: \(path)/\(name).pcap: \(String(cString: strerror(errno)))\n")
                failed.insert(name)
                return
            }
            done += n
        }
    }
}

struct Lab: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a lab script (a Linux shell subset) against in-process namespaces in virtual time.",
        discussion: """
        The script is valid bash for the subset it uses: run it as root on Linux and it \
        builds the same world in kernel namespaces. Same script and seed, same output bytes.
        """
    )

    @OptionGroup var script: ScriptOptions
    var file: String { script.file }
    var trace: String? { script.trace }
    var pcap: String? { script.pcap }
    var seed: UInt64 { script.seed }

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
        let sink = TerminalSink()
        let world: StackLabWorld
        do throws(LabSetupError) {
            world = try makeLabWorld(options: worldOptions, sink: sink)
        } catch {
            writeAll(2, "netstack lab: \(error)\n")
            throw ExitCode(2)
        }
        let interpreter = LabInterpreter(world: world, sink: sink, options: options)
        let status = interpreter.run(source: source)
        world.flushObservers()
        // Everything is written (unbuffered): leave without tearing down the
        // parsed script and the world, which costs a tenth of a big lab's
        // run and changes nothing (pcap files are closed by the kernel).
        Glibc.exit(status)
    }

    private func readScript() -> String? { readScriptFile(file) }
}

/// The script's text (`-` reads stdin); nil when it cannot be read.
func readScriptFile(_ file: String) -> String? {
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
    var followsWallClock: Bool { true }
    private let clock = ContinuousClock()
    private var start: ContinuousClock.Instant?
    private var origin = Instant.zero

    func wait(until instant: Instant, worldNow: Instant) -> Instant {
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
        // When the world is slower than the wall clock, it catches up to
        // the wall (timers fire late, as they would on a busy host) instead
        // of running on behind it: rates measured in realtime mode are
        // per wall-clock second.
        return max(instant, origin + TimeDelta(clock.now - start!))
    }
}

func writeAll(_ fd: Int32, _ text: String) { writeAll(fd, Array(text.utf8)) }

func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
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
