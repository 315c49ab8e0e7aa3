// The contract between the lab-script interpreter and the world it drives.
//
// The interpreter (LabInterpreter.swift) is a small shell: it parses a script,
// expands words, wires redirections and pipes, and schedules commands in
// virtual time. Everything network-shaped lives behind `LabWorld`: the
// namespaces, and the commands that act on them (`ip`, `ping`, `nc`, `ss`,
// `sysctl`, `tc`, …), each of which runs as a `LabProcess` — a state machine
// stepped in time, never a thread.
//
// Time: the world owns `now`. The interpreter never moves time by itself; it
// asks the world to `advance(until:)` the earliest instant at which anything
// can happen (a process timer or a network event), then polls every running
// process. In realtime mode a `LabClock` makes the wall clock catch up with
// that instant first (LabClock.swift).
//
// Determinism: the interpreter polls processes in spawn order and routes their
// output in the order it is written, so the same script, world and seed give
// the same bytes.
import Netstack

/// Which standard stream a process writes to.
public enum LabStream: Sendable, Hashable {
    case stdout
    case stderr
}

/// What a process printed during one `poll` or `signal`, in order.
/// Text is UTF-8; commands write whole lines where they can.
public struct LabOutput: Sendable {
    public private(set) var chunks: [(stream: LabStream, bytes: [UInt8])] = []

    public init() {}

    public var isEmpty: Bool { chunks.isEmpty }

    public mutating func write(_ text: String, to stream: LabStream = .stdout) {
        guard !text.isEmpty else { return }
        chunks.append((stream, Array(text.utf8)))
    }

    public mutating func write(bytes: [UInt8], to stream: LabStream = .stdout) {
        guard !bytes.isEmpty else { return }
        chunks.append((stream, bytes))
    }

    /// Writes a `CommandResult`'s stdout then stderr.
    public mutating func write(_ result: CommandResult) {
        write(result.stdout, to: .stdout)
        write(result.stderr, to: .stderr)
    }

    /// Takes the chunks out, leaving the output empty.
    public mutating func take() -> [(stream: LabStream, bytes: [UInt8])] {
        defer { chunks = [] }
        return chunks
    }
}

/// Where a process stands after a `poll` or a `signal`.
public enum LabProcessState: Sendable, Equatable {
    /// Still running. `wakeAt` is when its own timer fires (ping's next
    /// probe, `sleep`'s end, a `-w` deadline); nil when only network events
    /// (or a signal) can make progress. A `wakeAt` at or before `now` asks
    /// to be polled again without time moving.
    case running(wakeAt: Instant?)
    /// Finished with this exit status (0…255; 128+n for death by signal n).
    case exited(Int32)
}

/// The signals a lab script can send (`kill -INT %1`), with Linux numbers.
public enum LabSignal: Int32, Sendable, CaseIterable {
    case hup = 1
    case int = 2
    case quit = 3
    case kill = 9
    case usr1 = 10
    case usr2 = 12
    case term = 15

    /// Parses `INT`, `SIGINT`, `int` or `2`.
    public init?(name: String) {
        if let n = Int32(name) {
            self.init(rawValue: n)
            return
        }
        var upper = name.uppercased()
        if upper.hasPrefix("SIG") { upper.removeFirst(3) }
        guard let match = LabSignal.allCases.first(where: { $0.name == upper }) else { return nil }
        self = match
    }

    /// The name without `SIG`, as `kill -l` prints it.
    public var name: String {
        switch self {
        case .hup: "HUP"
        case .int: "INT"
        case .quit: "QUIT"
        case .kill: "KILL"
        case .usr1: "USR1"
        case .usr2: "USR2"
        case .term: "TERM"
        }
    }
}

/// A running command (ping, nc -l, sleep…): a state machine stepped in
/// virtual time. The interpreter owns it from `spawn` until it exits.
///
/// Rules the interpreter relies on:
/// - `poll` is called first at the spawn instant, then whenever time moved or
///   a network event may have woken it; it may be called when nothing is due
///   and must then just return its state again.
/// - Once a process returned `.exited`, it is never called again.
/// - Output written during a call is routed (terminal, file, pipe, /dev/null)
///   by the interpreter, in order.
public protocol LabProcess: AnyObject {
    /// Advance the process to `now`; append what it prints.
    func poll(now: Instant, output: inout LabOutput) -> LabProcessState

    /// Deliver a signal (`kill`, or `.kill` when the script ends). Return the
    /// new state: `.exited(128 + n)` for the default action, `.exited(s)`
    /// after a handler ran (ping on SIGINT prints its statistics and exits 0
    /// or 1), `.running` when ignored. `.kill` must exit, silently.
    func signal(_ signal: LabSignal, now: Instant, output: inout LabOutput) -> LabProcessState

    /// Whether the process installs its own handler for `signal`. A
    /// non-interactive shell starts background jobs with SIGINT and SIGQUIT
    /// ignored (POSIX): the interpreter delivers those two to a background
    /// job only if the process catches them (iputils ping catches SIGINT and
    /// prints its statistics; sleep and nc do not, and keep running).
    func catches(_ signal: LabSignal) -> Bool
}

extension LabProcess {
    /// Default: no handlers (SIGINT/SIGQUIT to a background job are ignored).
    public func catches(_ signal: LabSignal) -> Bool { false }

    /// The default action of every signal the lab sends: die with 128+n.
    public func signal(_ signal: LabSignal, now: Instant, output: inout LabOutput) -> LabProcessState {
        .exited(128 + signal.rawValue)
    }
}

/// The world a lab script runs against: namespaces, devices, and the
/// commands that act on them.
public protocol LabWorld: AnyObject {
    /// Current virtual time.
    var now: Instant { get }

    /// The earliest pending network event or timer, nil when idle.
    var nextEventTime: Instant? { get }

    /// Run packet processing and timers up to and including `until`; then
    /// `now == until`. The interpreter never asks to go backwards. A world
    /// on the wall clock does that work at `until`, the instant it is done
    /// (StackLabWorld.advanceOnWallClock); a virtual one at the instant
    /// each piece fell due.
    func advance(until: Instant)

    /// Whether a named namespace exists (for `ip netns exec NS …`, which the
    /// interpreter unwraps itself).
    func namespaceExists(_ name: String) -> Bool

    /// Start a command in namespace `namespace` (nil: the initial namespace)
    /// with `stdin` as its whole standard input (then end of file).
    /// Commands that finish at once (ip, sysctl, tc, ss…) return a process
    /// that exits on its first poll. Return nil for a command the world does
    /// not know: the interpreter prints bash's `command not found` (127).
    ///
    /// `argv[0]` is the command as written (`ip`, `ping`…); `ip netns exec`
    /// has already been unwrapped, `ip -n NS …` has not.
    func spawn(_ argv: [String], namespace: String?, stdin: [UInt8]) -> LabProcess?
}

/// A process that prints a fixed result and exits on its first poll: what
/// most world commands (`ip`, `sysctl`…) return from `spawn`.
public final class LabFinishedProcess: LabProcess {
    private let result: CommandResult

    public init(_ result: CommandResult) { self.result = result }

    public func poll(now: Instant, output: inout LabOutput) -> LabProcessState {
        output.write(result)
        return .exited(result.status)
    }
}

/// What `netstack lab` asks of the world it creates (the world factory
/// reads these; the interpreter does not).
public struct LabWorldOptions: Sendable, Equatable {
    /// `--trace FILTER`: per-packet traces for packets matching the filter.
    public var trace: String?
    /// `--pcap DIR`: a capture file per device in this directory.
    public var pcapDirectory: String?
    /// `--seed N`: seeds every random choice (MACs, ports, impairments).
    public var seed: UInt64
    /// `--realtime`: the world runs on the wall clock.
    public var realtime: Bool

    public init(trace: String? = nil, pcapDirectory: String? = nil, seed: UInt64 = 1, realtime: Bool = false) {
        self.trace = trace
        self.pcapDirectory = pcapDirectory
        self.seed = seed
        self.realtime = realtime
    }
}
