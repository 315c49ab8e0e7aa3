// The lab-script interpreter: runs a parsed `LabScript` against a `LabWorld`
// in virtual time.
//
// Scheduling. Every command runs as a `LabProcess`. A foreground command is
// started and then the scheduler loops: poll every running process (all jobs,
// in the order they were started — deterministic), and if the foreground is
// still running, ask the world to `advance(until:)` the earliest of the
// processes' wake times and the world's next event, then poll again. `sleep`
// is a process like any other, so background jobs and the network run while
// the script sleeps. Output is routed the moment a process writes it, so
// background output interleaves with the foreground's in virtual-time order.
//
// Bounds. A run stops with status 124 and a message on stderr when virtual
// time would pass `timeLimit`, when nothing can ever wake the command being
// waited for (no timers, no network events), or when `maxSteps` scheduler
// iterations/commands or `maxStepsPerInstant` iterations without time moving
// are exceeded — a broken process or `while true; do :; done` cannot hang.
//
// Deviations from bash, chosen for determinism (the Linux oracle matches them
// where it can: LinuxOracle.swift):
// - The whole script is parsed before anything runs: a syntax error anywhere
//   runs nothing (bash runs the lines before it).
// - A pipeline runs its stages one after another: each stage runs to
//   completion and its whole stdout becomes the next stage's stdin (then end
//   of file). Only the last stage's status counts (or with `set -o pipefail`,
//   the last non-zero one).
// - When the script ends, background jobs still running are killed (SIGKILL:
//   no further output), as when the oracle's PID namespace ends.
// - bash's notices about jobs killed by a signal ("Terminated") are not
//   printed (the oracle's normaliser removes them); `$!`/PIDs are small
//   deterministic numbers, not the kernel's.
// - `NAME=value cmd` assignments do not reach world commands (they have no
//   environment); files written with `>` live in memory only.
// - In a subshell or `$(…)`, variables and functions are restored afterwards;
//   background jobs started there belong to the script.
import Netstack

/// Where the interpreter writes what the script prints.
public protocol LabSink: AnyObject {
    func write(_ bytes: [UInt8], to stream: LabStream)
}

/// A sink that keeps everything in memory (tests, differential runs).
public final class LabCapture: LabSink {
    public private(set) var chunks: [(stream: LabStream, bytes: [UInt8])] = []
    public init() {}
    public func write(_ bytes: [UInt8], to stream: LabStream) { chunks.append((stream, bytes)) }
    public var stdout: String { text(of: .stdout) }
    public var stderr: String { text(of: .stderr) }
    /// stdout and stderr interleaved as written (what `2>&1` would show).
    public var combined: String { String(decoding: chunks.flatMap(\.bytes), as: UTF8.self) }
    private func text(of stream: LabStream) -> String {
        String(decoding: chunks.filter { $0.stream == stream }.flatMap(\.bytes), as: UTF8.self)
    }
}

/// How virtual time relates to the wall clock. The interpreter calls `wait`
/// before every jump of virtual time; a virtual clock returns at once, a
/// realtime one sleeps until the wall clock has caught up (the realtime
/// implementation lives with the CLI, the one place that reads clocks).
/// `netstack run`'s clock also wakes early for events from outside the
/// world (a frame on a TAP, a control request) and returns the instant
/// it woke at; the world is then advanced only that far.
public protocol LabClock: AnyObject {
    /// Waits until `instant` (or until something outside woke it) and
    /// returns the instant to advance the world to, `>= worldNow`.
    func wait(until instant: Instant, worldNow: Instant) -> Instant
    /// Whether events can come from outside the world (then waiting with
    /// no timer pending is not a deadlock: the clock waits for them).
    var hasExternalEvents: Bool { get }
    /// Set when the run must end (SIGINT/SIGTERM, `netstack stop`): the
    /// interpreter unwinds with `stopStatus`.
    var stopStatus: Int32? { get }
    /// Whether virtual time follows the wall clock (`--realtime`): then the
    /// world's work takes time, and a world busy at one instant is moved on
    /// to the wall clock's instant between steps instead of standing still.
    var followsWallClock: Bool { get }
}

extension LabClock {
    public var hasExternalEvents: Bool { false }
    public var followsWallClock: Bool { false }
    public var stopStatus: Int32? { nil }
}

/// Virtual time: jumps, never waits.
public final class VirtualLabClock: LabClock {
    public init() {}
    public func wait(until instant: Instant, worldNow: Instant) -> Instant { instant }
}

/// Interpreter settings.
public struct LabOptions {
    /// `$0` and the prefix of bash-style messages (`lab.sh: line 3: …`).
    public var scriptName = "lab.sh"
    /// Virtual time a run may last from its start.
    public var timeLimit: TimeDelta = .seconds(3600)
    /// Scheduler iterations plus commands executed, over the whole run.
    public var maxSteps = 5_000_000
    /// Scheduler iterations in a row without virtual time moving.
    public var maxStepsPerInstant = 100_000
    public var clock: any LabClock = VirtualLabClock()
    /// `netstack run`: when the script ends, its background jobs keep
    /// running (and the world with them) until the clock says stop.
    public var keepRunningAfterScript = false
    public init() {}
}

/// Runs lab scripts against a world. One interpreter runs one script.
public final class LabInterpreter {
    public let world: any LabWorld
    public let sink: any LabSink
    public let options: LabOptions

    /// Files written by `> FILE`, by name (readable after the run).
    public private(set) var files: [String: [UInt8]] = [:]
    /// Shell variables (readable after the run).
    public private(set) var variables: [String: String] = [:]

    private var functions: [String: LabNode] = [:]
    private var positional: [String] = []
    private var localFrames: [[String: String?]] = []
    private var errexit = false
    private var xtrace = false
    private var nounset = false
    private var pipefail = false
    private var lastStatus: Int32 = 0
    private var lastBackgroundPID: Int?
    private var line = 0
    private var steps = 0
    private var nextPID = 100
    private var running: [Job] = []       // started, unfinished, in start order
    private var jobTable: [Job] = []      // background jobs not yet swept
    private var pidStatus: [Int: Int32] = [:]
    private var pidJob: [Int: Job] = [:]
    private var loopDepth = 0
    private var deadline = Instant.distantFuture

    public init(world: any LabWorld, sink: any LabSink, options: LabOptions = LabOptions()) {
        self.world = world
        self.sink = sink
        self.options = options
    }

    /// Parses and runs `source`. A parse error is printed (`NAME: line N:
    /// message`) and returns 2 with nothing run.
    public func run(source: String) -> Int32 {
        do {
            return run(try LabScript.parse(source))
        } catch {
            sink.write(Array("\(options.scriptName): line \(error.line): \(error.message)\n".utf8), to: .stderr)
            return 2
        }
    }

    /// Runs a parsed script; returns its exit status.
    public func run(_ script: LabScript) -> Int32 {
        deadline = world.now + options.timeLimit
        var status: Int32
        do throws(Unwind) {
            status = try exec(script.body, Context())
            if options.keepRunningAfterScript {
                try schedule(waitingFor: "netstack stop") { false }
            }
        } catch {
            switch error {
            case .exit(let s): status = s
            case .fatal(let message, let s):
                sink.write(Array("netstack lab: \(options.scriptName): line \(line): \(message)\n".utf8), to: .stderr)
                status = s
            case .returnFromFunction(let s): status = s
            case .breakLoop, .continueLoop: status = lastStatus
            }
        }
        // The script is over: kill what is left, silently.
        for job in running {
            if let p = job.current {
                var discard = LabOutput()
                _ = p.signal(.kill, now: world.now, output: &discard)
                job.current = nil
                job.status = 128 + LabSignal.kill.rawValue
            }
        }
        running = []
        return status & 0xFF
    }

    // MARK: - Execution state

    enum Unwind: Error {
        case exit(Int32)
        case returnFromFunction(Int32)
        case breakLoop(Int)
        case continueLoop(Int)
        /// A limit or an interpreter error: message, status.
        case fatal(String, Int32)
    }

    final class Buffer {
        var bytes: [UInt8] = []
    }

    enum Destination {
        case terminal(LabStream)
        case null
        case file(String)
        case buffer(Buffer)
    }

    struct Context {
        var stdout = Destination.terminal(.stdout)
        var stderr = Destination.terminal(.stderr)
        var stdin: [UInt8] = []
        var namespace: String?
        /// Inside a condition, `!`, or a non-final part of `&&`/`||`.
        var noErrexit = false
    }

    /// One stage of a job, expanded and redirected, ready to start.
    struct Stage {
        var argv: [String]
        var namespace: String?
        var stdout: Destination
        var stderr: Destination
        var stdin: [UInt8]?        // from a redirection; else the pipe or the context's
        var pipe: Buffer?          // this stage's stdout feeds the next stage
        var failure: (message: String, status: Int32)?
        var pid: Int
        var line: Int
    }

    final class Job {
        let number: Int            // %N; 0 for a foreground job
        var stages: [Stage]
        var index = -1
        var current: LabProcess?
        var wakeAt: Instant?
        var statuses: [Int32] = []
        var status: Int32?
        let contextStdin: [UInt8]
        init(number: Int, stages: [Stage], stdin: [UInt8]) {
            self.number = number
            self.stages = stages
            self.contextStdin = stdin
        }
        var pids: [Int] { stages.map(\.pid) }
    }

    // MARK: - Nodes

    private func exec(_ node: LabNode, _ ctx: Context) throws(Unwind) -> Int32 {
        let status: Int32
        switch node {
        case .simple(let command):
            status = try execSimple(command, ctx)
        case .pipeline(let stages, let negated):
            var c = ctx
            if negated { c.noErrexit = true }
            let s = try runForeground(stages, c)
            status = negated ? (s == 0 ? 1 : 0) : s
            if !negated { try checkErrexit(status, ctx) }
        case .negate(let inner):
            var c = ctx
            c.noErrexit = true
            status = try exec(inner, c) == 0 ? 1 : 0
        case .and(let l, let r):
            var c = ctx
            c.noErrexit = true
            let s = try exec(l, c)
            status = s == 0 ? try exec(r, ctx) : s
        case .or(let l, let r):
            var c = ctx
            c.noErrexit = true
            let s = try exec(l, c)
            status = s != 0 ? try exec(r, ctx) : s
        case .sequence(let items):
            var s: Int32 = 0
            for item in items { s = try exec(item, ctx) }
            status = s
        case .background(let stages, let l):
            line = l
            try countStep()
            let job = try prepareJob(stages, ctx, number: nextJobNumber())
            jobTable.append(job)
            lastBackgroundPID = job.pids.last
            start(job)
            status = 0
        case .ifThen(let branches, let otherwise):
            var c = ctx
            c.noErrexit = true
            var result: Int32?
            for b in branches where result == nil {
                if try exec(b.condition, c) == 0 { result = try exec(b.body, ctx) }
            }
            if result == nil, let o = otherwise { result = try exec(o, ctx) }
            status = result ?? 0
        case .forLoop(let variable, let words, let body, let l):
            line = l
            let items = try words.map { (w) throws(Unwind) in try expandFields(w, ctx) } ?? positional
            status = try loop(items.makeIterator(), ctx) { (item) throws(Unwind) in
                self.setVariable(variable, item)
                return try self.exec(body, ctx)
            }
        case .whileLoop(let condition, let body, let until):
            var c = ctx
            c.noErrexit = true
            var s: Int32 = 0
            loopDepth += 1
            defer { loopDepth -= 1 }
            while true {
                try countStep()
                let cs = try exec(condition, c)
                if (cs == 0) == until { break }
                do throws(Unwind) {
                    s = try exec(body, ctx)
                } catch {
                    if case .breakLoop(let n) = error { if n > 1 { throw .breakLoop(n - 1) }; break }
                    if case .continueLoop(let n) = error { if n > 1 { throw .continueLoop(n - 1) }; continue }
                    throw error
                }
            }
            status = s
        case .group(let body, let redirections):
            guard let (c, _) = try redirect(redirections, ctx) else { status = 1; break }
            status = try exec(body, c)
        case .subshell(let body, let redirections):
            guard let (c, _) = try redirect(redirections, ctx) else { status = 1; break }
            let saved = saveShell()
            defer { restoreShell(saved) }
            do throws(Unwind) {
                status = try exec(body, c)
            } catch {
                switch error {
                case .exit(let s): status = s
                default: throw error
                }
            }
            lastStatus = status
            try checkErrexit(status, ctx)
        case .function(let name, let body):
            functions[name] = body
            status = 0
        }
        lastStatus = status
        return status
    }

    private func loop<I: IteratorProtocol>(_ items: I, _ ctx: Context, _ body: (I.Element) throws(Unwind) -> Int32) throws(Unwind) -> Int32 {
        var items = items
        var s: Int32 = 0
        loopDepth += 1
        defer { loopDepth -= 1 }
        while let item = items.next() {
            try countStep()
            do throws(Unwind) {
                s = try body(item)
            } catch {
                if case .breakLoop(let n) = error { if n > 1 { throw .breakLoop(n - 1) }; break }
                if case .continueLoop(let n) = error { if n > 1 { throw .continueLoop(n - 1) }; continue }
                throw error
            }
        }
        return s
    }

    private func checkErrexit(_ status: Int32, _ ctx: Context) throws(Unwind) {
        if status != 0 && errexit && !ctx.noErrexit { throw .exit(status) }
    }

    private func countStep() throws(Unwind) {
        steps += 1
        if steps > options.maxSteps {
            throw .fatal("step limit of \(options.maxSteps) exceeded (a loop or a process makes no progress)", 124)
        }
    }

    private struct SavedShell {
        var variables: [String: String]
        var functions: [String: LabNode]
        var positional: [String]
        var flags: (Bool, Bool, Bool, Bool)
    }

    private func saveShell() -> SavedShell {
        SavedShell(variables: variables, functions: functions, positional: positional,
                   flags: (errexit, xtrace, nounset, pipefail))
    }

    private func restoreShell(_ s: SavedShell) {
        variables = s.variables
        functions = s.functions
        positional = s.positional
        (errexit, xtrace, nounset, pipefail) = s.flags
    }

    // MARK: - Simple commands

    /// Commands bash runs without forking (no job-table cleanup after them).
    static let bashBuiltins: Set<String> = ["echo", "printf", "true", "false", "test", "[", ":"]

    static let shellBuiltins: Set<String> = [
        ":", "exit", "set", "wait", "kill", "export", "unset", "local", "return", "shift",
        "break", "continue", "cd", "readonly",
    ]

    private func execSimple(_ command: LabSimpleCommand, _ ctx: Context) throws(Unwind) -> Int32 {
        line = command.line
        try countStep()
        lastSubstitutionStatus = nil
        let argv = try expandFields(command.words, ctx)
        var assignments: [(String, String)] = []
        for a in command.assignments { assignments.append((a.name, try expandString(a.value, ctx))) }
        if xtrace {
            let words = assignments.map { "\($0.0)=\(LabInterpreter.quote($0.1))" } + argv.map(LabInterpreter.quote)
            write(Array(("+ " + words.joined(separator: " ") + "\n").utf8), to: ctx.stderr)
        }
        guard let name = argv.first else {
            for (n, v) in assignments { setVariable(n, v) }
            guard try redirect(command.redirections, ctx) != nil else { return 1 }
            return lastSubstitutionStatus ?? 0
        }
        if let body = functions[name] {
            guard let (c, stdin) = try redirect(command.redirections, ctx) else { return 1 }
            var inner = c
            if let stdin { inner.stdin = stdin }
            return try call(body, arguments: Array(argv.dropFirst()), inner)
        }
        if LabInterpreter.shellBuiltins.contains(name) {
            guard let (c, _) = try redirect(command.redirections, ctx) else { return 1 }
            var output = LabOutput()
            let status = try builtin(argv, ctx: c, output: &output)
            for chunk in output.take() { write(chunk.bytes, to: chunk.stream == .stdout ? c.stdout : c.stderr) }
            try checkErrexit(status, ctx)
            return status
        }
        let status = try runForeground([command], ctx, expanded: argv)
        try checkErrexit(status, ctx)
        return status
    }

    private var lastSubstitutionStatus: Int32?

    private func call(_ body: LabNode, arguments: [String], _ ctx: Context) throws(Unwind) -> Int32 {
        let savedPositional = positional
        positional = arguments
        localFrames.append([:])
        defer {
            positional = savedPositional
            for (name, old) in localFrames.removeLast() {
                if let old { variables[name] = old } else { variables[name] = nil }
            }
        }
        do throws(Unwind) {
            return try exec(body, ctx)
        } catch {
            if case .returnFromFunction(let s) = error { return s }
            throw error
        }
    }

    private func setVariable(_ name: String, _ value: String) {
        variables[name] = value
    }

    // MARK: - Shell builtins

    private func builtin(_ argv: [String], ctx: Context, output: inout LabOutput) throws(Unwind) -> Int32 {
        let args = Array(argv.dropFirst())
        let prefix = "\(options.scriptName): line \(line): \(argv[0])"
        switch argv[0] {
        case ":":
            return 0
        case "exit":
            guard let a = args.first else { throw .exit(lastStatus) }
            guard let n = Int64(a) else {
                output.write("\(prefix): \(a): numeric argument required\n", to: .stderr)
                flush(&output, ctx)
                throw .exit(2)
            }
            throw .exit(Int32(truncatingIfNeeded: n & 0xFF))
        case "return":
            guard !localFrames.isEmpty else {
                output.write("\(prefix): can only `return' from a function or sourced script\n", to: .stderr)
                return 1
            }
            throw .returnFromFunction(args.first.flatMap { Int32($0) }.map { $0 & 0xFF } ?? lastStatus)
        case "break", "continue":
            let n = args.first.flatMap(Int.init) ?? 1
            guard loopDepth > 0 else { return 0 }
            throw argv[0] == "break" ? .breakLoop(max(1, n)) : .continueLoop(max(1, n))
        case "set":
            return set(args, prefix: prefix, output: &output)
        case "export", "readonly", "local":
            for a in args where !a.hasPrefix("-") {
                let (name, value): (String, String?) = if let eq = a.firstIndex(of: "=") {
                    (String(a[..<eq]), String(a[a.index(after: eq)...]))
                } else { (a, nil) }
                guard LabLexer.isValidName(name) else {
                    output.write("\(prefix): `\(a)': not a valid identifier\n", to: .stderr)
                    return 1
                }
                if argv[0] == "local" {
                    guard !localFrames.isEmpty else {
                        output.write("\(prefix): can only be used in a function\n", to: .stderr)
                        return 1
                    }
                    if localFrames[localFrames.count - 1][name] == nil {
                        localFrames[localFrames.count - 1][name] = .some(variables[name])
                    }
                    variables[name] = value ?? ""
                } else if let value {
                    setVariable(name, value)
                }
            }
            return 0
        case "unset":
            for a in args where !a.hasPrefix("-") {
                variables[a] = nil
                if args.contains("-f") { functions[a] = nil }
            }
            return 0
        case "shift":
            let n = args.first.flatMap(Int.init) ?? 1
            guard n <= positional.count else { return 1 }
            positional.removeFirst(n)
            return 0
        case "cd":
            output.write("netstack lab: cd: directories are not modelled\n", to: .stderr)
            return 1
        case "wait":
            return try wait(args, prefix: prefix, output: &output)
        case "kill":
            return kill(args, prefix: prefix, output: &output)
        default:
            return 127
        }
    }

    private func flush(_ output: inout LabOutput, _ ctx: Context) {
        for chunk in output.take() { write(chunk.bytes, to: chunk.stream == .stdout ? ctx.stdout : ctx.stderr) }
    }

    private func set(_ args: [String], prefix: String, output: inout LabOutput) -> Int32 {
        var i = 0
        while i < args.count {
            let a = args[i]
            guard let sign = a.first, sign == "-" || sign == "+", a.count > 1 else {
                positional = Array(args[i...])
                return 0
            }
            let on = sign == "-"
            if a.dropFirst() == "o" {
                i += 1
                guard i < args.count else { return 0 }
                switch args[i] {
                case "errexit": errexit = on
                case "xtrace": xtrace = on
                case "nounset": nounset = on
                case "pipefail": pipefail = on
                default:
                    output.write("\(prefix): \(args[i]): invalid option name\n", to: .stderr)
                    return 1
                }
            } else if a == "--" {
                positional = Array(args[(i + 1)...])
                return 0
            } else {
                for c in a.dropFirst() {
                    switch c {
                    case "e": errexit = on
                    case "x": xtrace = on
                    case "u": nounset = on
                    default:
                        output.write("\(prefix): \(sign)\(c): invalid option\n", to: .stderr)
                        return 2
                    }
                }
            }
            i += 1
        }
        return 0
    }

    private func lookupJob(_ spec: String) -> Job? {
        if spec == "%%" || spec == "%+" || spec == "%" { return jobTable.last }
        if spec == "%-" { return jobTable.count >= 2 ? jobTable[jobTable.count - 2] : nil }
        guard let n = Int(spec.dropFirst()) else { return nil }
        return jobTable.first { $0.number == n }
    }

    private func wait(_ args: [String], prefix: String, output: inout LabOutput) throws(Unwind) -> Int32 {
        let targets = args.filter { $0 != "-f" }
        if targets.isEmpty {
            let jobs = jobTable
            try schedule(waitingFor: "wait") { jobs.allSatisfy { $0.status != nil } }
            sweepJobs()
            return 0
        }
        var status: Int32 = 0
        for t in targets {
            if t.hasPrefix("%") {
                guard let job = lookupJob(t) else {
                    output.write("\(prefix): \(t): no such job\n", to: .stderr)
                    status = 127
                    continue
                }
                try schedule(waitingFor: "wait \(t)") { job.status != nil }
                status = job.status ?? 127
                jobTable.removeAll { $0 === job }
            } else if let pid = Int(t) {
                if let s = pidStatus[pid] {
                    status = s
                    if let job = pidJob[pid] { jobTable.removeAll { $0 === job } }
                    continue
                }
                guard let job = pidJob[pid] else {
                    output.write("\(prefix): pid \(pid) is not a child of this shell\n", to: .stderr)
                    status = 127
                    continue
                }
                try schedule(waitingFor: "wait \(t)") { self.pidStatus[pid] != nil || job.status != nil }
                status = pidStatus[pid] ?? job.status ?? 127
                jobTable.removeAll { $0 === job }
            } else {
                output.write("\(prefix): `\(t)': not a pid or valid job spec\n", to: .stderr)
                status = 2
            }
        }
        return status
    }

    private func kill(_ args: [String], prefix: String, output: inout LabOutput) -> Int32 {
        var signal = LabSignal.term
        var rest = args[...]
        if let first = rest.first, first.hasPrefix("-"), first.count > 1 {
            if first == "-s" || first == "-n" {
                guard rest.count >= 2, let s = LabSignal(name: rest[rest.startIndex + 1]) else {
                    output.write("\(prefix): \(rest.dropFirst().first ?? ""): invalid signal specification\n", to: .stderr)
                    return 1
                }
                signal = s
                rest = rest.dropFirst(2)
            } else {
                guard let s = LabSignal(name: String(first.dropFirst())) else {
                    output.write("\(prefix): \(first.dropFirst()): invalid signal specification\n", to: .stderr)
                    return 1
                }
                signal = s
                rest = rest.dropFirst()
            }
        }
        guard !rest.isEmpty else {
            output.write("\(prefix): usage: kill [-s sigspec | -n signum | -sigspec] pid | jobspec ... or kill -l [sigspec]\n", to: .stderr)
            return 2
        }
        var status: Int32 = 0
        for t in rest {
            let job: Job?
            if t.hasPrefix("%") {
                job = lookupJob(t)
                if job == nil || job?.status != nil {
                    output.write("\(prefix): \(t): no such job\n", to: .stderr)
                    status = 1
                    continue
                }
            } else if let pid = Int(t) {
                job = pidJob[pid]
                if job == nil || job?.status != nil || pidStatus[pid] != nil {
                    output.write("\(prefix): (\(pid)) - No such process\n", to: .stderr)
                    status = 1
                    continue
                }
            } else {
                output.write("\(prefix): \(t): arguments must be process or job IDs\n", to: .stderr)
                status = 1
                continue
            }
            if let job { deliver(signal, to: job) }
        }
        return status
    }

    /// Signals the running stage of a job; if it dies, the whole job ends
    /// (a pipeline's process group dies together).
    private func deliver(_ signal: LabSignal, to job: Job) {
        guard let p = job.current else { return }
        if (signal == .int || signal == .quit) && job.number > 0 && !p.catches(signal) { return }
        var out = LabOutput()
        let state = p.signal(signal, now: world.now, output: &out)
        route(out, job.stages[job.index])
        switch state {
        case .running(let wake):
            job.wakeAt = wake
        case .exited(let s):
            job.current = nil
            for k in job.index..<job.stages.count { pidStatus[job.stages[k].pid] = s }
            job.statuses.append(s)
            job.status = s
            running.removeAll { $0 === job }
        }
    }

    // MARK: - Jobs and scheduling

    private func nextJobNumber() -> Int { (jobTable.map(\.number).max() ?? 0) + 1 }

    /// Removes finished background jobs from the job table. bash does this
    /// when a foreground command it forked (not a builtin) completes; `wait`
    /// also removes the jobs it waited for. A finished job's status stays
    /// known by PID.
    private func sweepJobs() {
        jobTable.removeAll { $0.status != nil }
    }

    private func runForeground(_ stages: [LabSimpleCommand], _ ctx: Context, expanded: [String]? = nil) throws(Unwind) -> Int32 {
        let job = try prepareJob(stages, ctx, number: 0, expandedFirst: expanded)
        if let first = job.stages.first { line = first.line }
        start(job)
        try schedule(waitingFor: job.stages.map { $0.argv.joined(separator: " ") }.joined(separator: " | ")) { job.status != nil }
        if job.stages.count > 1 || !LabInterpreter.bashBuiltins.contains(job.stages[0].argv.first ?? ":") { sweepJobs() }
        return job.status ?? 0
    }

    private func prepareJob(_ commands: [LabSimpleCommand], _ ctx: Context, number: Int, expandedFirst: [String]? = nil) throws(Unwind) -> Job {
        var stages: [Stage] = []
        for (k, command) in commands.enumerated() {
            line = command.line
            var argv: [String]
            if k == 0, let expandedFirst {
                argv = expandedFirst
            } else {
                argv = try expandFields(command.words, ctx)
                if xtrace {
                    write(Array(("+ " + argv.map(LabInterpreter.quote).joined(separator: " ") + "\n").utf8), to: ctx.stderr)
                }
            }
            var stage = Stage(argv: argv, namespace: ctx.namespace, stdout: ctx.stdout, stderr: ctx.stderr,
                              stdin: nil, pipe: nil, failure: nil, pid: nextPID, line: command.line)
            nextPID += 1
            if k < commands.count - 1 {
                let pipe = Buffer()
                stage.pipe = pipe
                stage.stdout = .buffer(pipe)
            }
            var c = ctx
            c.stdout = stage.stdout
            if let (redirected, stdin) = try redirect(command.redirections, c) {
                stage.stdout = redirected.stdout
                stage.stderr = redirected.stderr
                stage.stdin = stdin
            } else {
                stage.failure = ("", 1)
            }
            if argv.isEmpty && stage.failure == nil { stage.failure = ("", 0) }
            if let name = argv.first, stage.failure == nil,
               functions[name] != nil || LabInterpreter.shellBuiltins.contains(name) {
                stage.failure = ("netstack lab: \(options.scriptName): line \(command.line): \(name): shell builtins and functions cannot run in a pipeline or in the background\n", 2)
            }
            stages.append(stage)
        }
        let job = Job(number: number, stages: stages, stdin: ctx.stdin)
        for s in stages { pidJob[s.pid] = job }
        return job
    }

    /// Starts a job's first stage and polls it once at the current instant.
    private func start(_ job: Job) {
        running.append(job)
        startNextStage(job)
        pump(job)
    }

    private func startNextStage(_ job: Job) {
        job.index += 1
        let stage = job.stages[job.index]
        let stdin = stage.stdin ?? (job.index > 0 ? job.stages[job.index - 1].pipe?.bytes ?? [] : job.contextStdin)
        job.current = makeProcess(stage, stdin: stdin)
        job.wakeAt = nil
    }

    /// Resolves a stage to a process: `ip netns exec` unwrapping, `bash -c`,
    /// builtins, then the world.
    private func makeProcess(_ stage: Stage, stdin: [UInt8]) -> LabProcess {
        if let failure = stage.failure { return ImmediateProcess(status: failure.status, stderr: failure.message) }
        var argv = stage.argv
        var namespace = stage.namespace
        var viaNetnsExec = false
        var guardCount = 0
        while argv.count >= 3, argv[0] == "ip", argv[1] == "netns" || argv[1] == "netn" || argv[1] == "net",
              argv[2] == "exec" || argv[2] == "exe", guardCount < 64 {
            guardCount += 1
            guard argv.count >= 4 else {
                return ImmediateProcess(status: 1, stderr: "No netns name specified\n")
            }
            let ns = argv[3]
            guard world.namespaceExists(ns) else {
                return ImmediateProcess(status: 255, stderr: "Cannot open network namespace \"\(ns)\": No such file or directory\n")
            }
            namespace = ns
            viaNetnsExec = true
            argv = Array(argv.dropFirst(4))
            guard !argv.isEmpty else { return ImmediateProcess(status: 1, stderr: "No command specified\n") }
        }
        if let p = LabBuiltins.process(argv, stdin: stdin, files: files,
                                       prefix: viaNetnsExec ? "" : "\(options.scriptName): line \(stage.line): ") { return p }
        if let p = world.spawn(argv, namespace: namespace, stdin: stdin) { return p }
        if viaNetnsExec {
            return ImmediateProcess(status: 1, stderr: "exec of \"\(argv[0])\" failed: No such file or directory\n")
        }
        return ImmediateProcess(status: 127, stderr: "\(options.scriptName): line \(stage.line): \(argv[0]): command not found\n")
    }

    /// Polls a job's running stage; starts the next stage when one exits
    /// (at the same instant), until a stage keeps running or the job ends.
    private func pump(_ job: Job) {
        var guardCount = 0
        while let p = job.current, guardCount <= job.stages.count {
            guardCount += 1
            var out = LabOutput()
            let state = p.poll(now: world.now, output: &out)
            route(out, job.stages[job.index])
            switch state {
            case .running(let wake):
                job.wakeAt = wake
                return
            case .exited(let s):
                job.current = nil
                pidStatus[job.stages[job.index].pid] = s
                job.statuses.append(s)
                if job.index + 1 < job.stages.count {
                    startNextStage(job)
                } else {
                    job.status = pipefail ? (job.statuses.last { $0 != 0 } ?? 0) : s
                    running.removeAll { $0 === job }
                }
            }
        }
    }

    private func route(_ output: LabOutput, _ stage: Stage) {
        var o = output
        for chunk in o.take() { write(chunk.bytes, to: chunk.stream == .stdout ? stage.stdout : stage.stderr) }
    }

    private func write(_ bytes: [UInt8], to destination: Destination) {
        guard !bytes.isEmpty else { return }
        switch destination {
        case .terminal(let s): sink.write(bytes, to: s)
        case .null: break
        case .file(let name): files[name, default: []] += bytes
        case .buffer(let b): b.bytes += bytes
        }
    }

    /// Polls every running process and moves virtual time until `done`.
    private func schedule(waitingFor what: @autoclosure () -> String, until done: () -> Bool) throws(Unwind) {
        var sameInstant = 0
        while true {
            for job in running { pump(job) }
            if done() { return }
            if let s = options.clock.stopStatus { throw .exit(s) }
            try countStep()
            var next = world.nextEventTime
            for job in running where job.current != nil {
                if let w = job.wakeAt { next = next.map { min($0, w) } ?? w }
            }
            if next == nil && options.clock.hasExternalEvents { next = deadline }
            guard let next else {
                throw .fatal("`\(what())' would wait forever: no process timer or network event is pending", 124)
            }
            let now = world.now
            let target = max(next, now)
            if target > deadline {
                throw .fatal("virtual time limit of \(options.timeLimit) exceeded while waiting for `\(what())'", 124)
            }
            var reached = target
            if target == now {
                sameInstant += 1
                if sameInstant > options.maxStepsPerInstant {
                    throw .fatal("`\(what())': \(options.maxStepsPerInstant) scheduling steps at \(now)s without time moving", 124)
                }
                // Outside events must not starve behind a busy world; on the
                // wall clock, the time the work took has passed.
                if options.clock.hasExternalEvents || options.clock.followsWallClock {
                    reached = max(now, options.clock.wait(until: now, worldNow: now))
                    if reached > now { sameInstant = 0 }
                }
            } else {
                sameInstant = 0
                reached = max(now, options.clock.wait(until: target, worldNow: now))
            }
            world.advance(until: reached)
        }
    }

    // MARK: - Redirections

    /// Applies redirections to a context; nil (after printing the error) when
    /// one fails. The second value is stdin from `<F`/here-documents.
    private func redirect(_ redirections: [LabRedirection], _ ctx: Context) throws(Unwind) -> (Context, [UInt8]?)? {
        var c = ctx
        var stdin: [UInt8]?
        for r in redirections {
            switch r {
            case .toFile(let fd, let word, let append):
                let name = try expandString(word, ctx)
                let d = open(name, append: append, c)
                if fd == 1 { c.stdout = d } else { c.stderr = d }
            case .bothToFile(let word, let append):
                let d = open(try expandString(word, ctx), append: append, c)
                c.stdout = d
                c.stderr = d
            case .duplicate(let fd, let from):
                let d = from == 1 ? c.stdout : c.stderr
                if fd == 1 { c.stdout = d } else { c.stderr = d }
            case .fromFile(let word):
                let name = try expandString(word, ctx)
                if name == "/dev/null" { stdin = [] } else if let data = files[name] { stdin = data } else {
                    write(Array("\(options.scriptName): line \(line): \(name): No such file or directory\n".utf8), to: c.stderr)
                    return nil
                }
            case .hereDocument(let word):
                stdin = Array(try expandString(word, ctx).utf8)
            }
        }
        if let stdin { c.stdin = stdin }
        return (c, stdin)
    }

    private func open(_ name: String, append: Bool, _ c: Context) -> Destination {
        switch name {
        case "/dev/null": return .null
        case "/dev/stdout": return c.stdout
        case "/dev/stderr": return c.stderr
        default:
            if !append || files[name] == nil { files[name] = [] }
            return .file(name)
        }
    }

    // MARK: - Expansion

    /// Expands words into fields (parameter, command and arithmetic
    /// expansion; unquoted results split on blanks).
    private func expandFields(_ words: [LabWord], _ ctx: Context) throws(Unwind) -> [String] {
        var result: [String] = []
        result.reserveCapacity(words.count)
        for w in words {
            // Most words are one literal: no splitting, no expansion.
            if w.parts.count == 1, case .literal(let s, let quoted) = w.parts[0] {
                if quoted || !s.isEmpty { result.append(s) }
                continue
            }
            result.append(contentsOf: try expandFields(w, ctx))
        }
        return result
    }

    private func expandFields(_ word: LabWord, _ ctx: Context) throws(Unwind) -> [String] {
        var fields: [String] = []
        var current = ""
        var live = false
        func splitAppend(_ s: String) {
            for ch in s {
                if ch == " " || ch == "\t" || ch == "\n" {
                    if live { fields.append(current); current = ""; live = false }
                } else {
                    current.append(ch)
                    live = true
                }
            }
        }
        for part in word.parts {
            if case .parameter(let name, nil, true) = part, name == "@" {
                // "$@": one field per positional parameter.
                for (k, p) in positional.enumerated() {
                    if k > 0 { fields.append(current); current = "" }
                    current += p
                    live = true
                }
                continue
            }
            let (value, quoted) = try expandPart(part, ctx)
            if quoted {
                current += value
                live = true
            } else if case .literal = part {
                current += value
                live = live || !value.isEmpty
            } else {
                splitAppend(value)
            }
        }
        if live { fields.append(current) }
        return fields
    }

    /// Expands a word into one string (assignments, redirection targets,
    /// here-documents): no field splitting.
    private func expandString(_ word: LabWord, _ ctx: Context) throws(Unwind) -> String {
        var s = ""
        for part in word.parts {
            if case .parameter(let name, nil, _) = part, name == "@" || name == "*" {
                s += positional.joined(separator: " ")
                continue
            }
            s += try expandPart(part, ctx).0
        }
        return s
    }

    private func expandPart(_ part: LabWordPart, _ ctx: Context) throws(Unwind) -> (String, quoted: Bool) {
        switch part {
        case .literal(let s, let q):
            return (s, q)
        case .parameter(let name, let modifier, let q):
            return (try expandParameter(name, modifier, ctx), q)
        case .command(let script, let q):
            return (try substitute(script, ctx), q)
        case .arithmetic(let expr, let q):
            let text = try expandString(expr, ctx)
            var arithmetic = LabArithmetic(text: text) { self.variables[$0] }
            switch arithmetic.evaluate() {
            case .success(let v): return (String(v), q)
            case .failure(let message):
                write(Array("\(options.scriptName): line \(line): \(text.trimmingBlanks): \(message)\n".utf8), to: ctx.stderr)
                throw .exit(1)
            }
        }
    }

    private func parameter(_ name: String) -> String? {
        switch name {
        case "?": return String(lastStatus)
        case "!": return lastBackgroundPID.map(String.init)
        case "$": return "1"
        case "#": return String(positional.count)
        case "0": return options.scriptName
        case "@", "*": return positional.joined(separator: " ")
        case "-": return (errexit ? "e" : "") + (nounset ? "u" : "") + (xtrace ? "x" : "")
        default:
            if let n = Int(name) { return n >= 1 && n <= positional.count ? positional[n - 1] : nil }
            return variables[name]
        }
    }

    private func expandParameter(_ name: String, _ modifier: LabParameterModifier?, _ ctx: Context) throws(Unwind) -> String {
        let value = parameter(name)
        switch modifier {
        case nil:
            if let value { return value }
            if nounset && name != "@" && name != "*" {
                write(Array("\(options.scriptName): line \(line): \(name): unbound variable\n".utf8), to: ctx.stderr)
                throw .exit(127)
            }
            return ""
        case .length:
            return String((value ?? "").count)
        case .useDefault(let word, let colon):
            if let value, !(colon && value.isEmpty) { return value }
            return try expandString(word, ctx)
        case .assignDefault(let word, let colon):
            if let value, !(colon && value.isEmpty) { return value }
            let v = try expandString(word, ctx)
            setVariable(name, v)
            return v
        case .useAlternative(let word, let colon):
            if let value, !(colon && value.isEmpty) { return try expandString(word, ctx) }
            return ""
        }
    }

    /// `$(…)`: runs the script with stdout captured, in a subshell (variables
    /// restored, `exit` ends only the substitution); trailing newlines removed.
    private func substitute(_ script: LabScript, _ ctx: Context) throws(Unwind) -> String {
        let buffer = Buffer()
        var c = ctx
        c.stdout = .buffer(buffer)
        let saved = saveShell()
        let savedLine = line
        errexit = false   // bash does not inherit errexit into $(…) (no inherit_errexit)
        var status: Int32
        do throws(Unwind) {
            status = try exec(script.body, c)
        } catch {
            switch error {
            case .exit(let s): status = s
            case .fatal: restoreShell(saved); throw error
            case .returnFromFunction(let s): status = s
            case .breakLoop, .continueLoop: status = 0
            }
        }
        restoreShell(saved)
        line = savedLine
        lastStatus = status
        lastSubstitutionStatus = status
        var text = String(decoding: buffer.bytes, as: UTF8.self)
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    /// Quotes a word as `set -x` shows it.
    static func quote(_ s: String) -> String {
        if s.isEmpty { return "''" }
        let special: Set<Character> = [" ", "\t", "\n", "'", "\"", "\\", "$", "|", "&", ";", "(", ")", "<", ">",
                                       "*", "?", "[", "]", "{", "}", "~", "#", "!", "`"]
        guard s.contains(where: { special.contains($0) }) else { return s }
        return "'" + s.replacingAll("'", with: "'\\''") + "'"
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
