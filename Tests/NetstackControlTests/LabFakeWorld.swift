// A fake LabWorld for interpreter tests: a clock, scheduled "network events",
// a set of namespaces and a few commands whose behaviour is easy to predict.
import Netstack
import NetstackControl

final class FakeLabWorld: LabWorld {
    var now = Instant.zero
    var namespaces: Set<String> = ["a", "b"]
    /// Pending network events (sorted); `advance` consumes those it passes.
    var events: [Instant] = []
    var delivered: [Instant] = []
    var spawned: [(argv: [String], namespace: String?)] = []
    var advances: [Instant] = []

    var nextEventTime: Instant? { events.first }

    func advance(until: Instant) {
        precondition(until >= now, "time went backwards")
        advances.append(until)
        while let e = events.first, e <= until {
            delivered.append(e)
            events.removeFirst()
        }
        now = until
    }

    func namespaceExists(_ name: String) -> Bool { namespaces.contains(name) }

    func spawn(_ argv: [String], namespace: String?, stdin: [UInt8]) -> LabProcess? {
        spawned.append((argv, namespace))
        let args = Array(argv.dropFirst())
        switch argv[0] {
        case "ip":
            return LabFinishedProcess(CommandResult(stdout: "ip \(args.joined(separator: " ")) ns=\(namespace ?? "-")\n"))
        case "ns":
            return LabFinishedProcess(CommandResult(stdout: "\(namespace ?? "-")\n"))
        case "now":
            return LabFinishedProcess(CommandResult(stdout: "\(now)\n"))
        case "fail":
            let n = Int32(args.first ?? "1") ?? 1
            return LabFinishedProcess(CommandResult(stderr: "fail \(n)\n", status: n))
        case "upper":
            return LabFinishedProcess(CommandResult(stdout: String(decoding: stdin, as: UTF8.self).uppercased()))
        case "tick":
            return Ticker(count: Int(args[0])!, interval: TimeDelta(seconds: Double(args[1])!), label: args.count > 2 ? args[2] : "tick")
        case "forever":
            return Forever()
        case "spin":
            return Spinner()
        case "recv":
            return Receiver(world: self)
        default:
            return nil
        }
    }
}

/// Prints `LABEL i T` every interval, `count` times, then exits 0; on SIGINT
/// prints a summary and exits 0 (as ping does); other signals kill it.
final class Ticker: LabProcess {
    let count: Int
    let interval: TimeDelta
    let label: String
    var sent = 0
    var next: Instant?

    init(count: Int, interval: TimeDelta, label: String) {
        self.count = count
        self.interval = interval
        self.label = label
    }

    func poll(now: Instant, output: inout LabOutput) -> LabProcessState {
        if next == nil { next = now + interval }
        while let n = next, n <= now, sent < count {
            sent += 1
            output.write("\(label) \(sent) \(now)\n")
            next = n + interval
        }
        return sent >= count ? .exited(0) : .running(wakeAt: next)
    }

    func catches(_ signal: LabSignal) -> Bool { signal == .int }

    func signal(_ signal: LabSignal, now: Instant, output: inout LabOutput) -> LabProcessState {
        guard signal == .int else { return .exited(128 + signal.rawValue) }
        output.write("\(label) stopped after \(sent)\n")
        return .exited(0)
    }
}

/// Never finishes, never asks to be woken.
final class Forever: LabProcess {
    func poll(now: Instant, output: inout LabOutput) -> LabProcessState { .running(wakeAt: nil) }
}

/// Asks to be polled again at the same instant, forever (a broken process).
final class Spinner: LabProcess {
    func poll(now: Instant, output: inout LabOutput) -> LabProcessState { .running(wakeAt: now) }
}

/// Waits for the next network event the world delivers, then prints its time.
final class Receiver: LabProcess {
    unowned let world: FakeLabWorld
    let seen: Int
    init(world: FakeLabWorld) {
        self.world = world
        seen = world.delivered.count
    }
    func poll(now: Instant, output: inout LabOutput) -> LabProcessState {
        guard world.delivered.count > seen else { return .running(wakeAt: nil) }
        output.write("received at \(world.delivered[seen])\n")
        return .exited(0)
    }
}

/// Runs a script against a fresh fake world; returns everything.
func runLab(_ source: String, world: FakeLabWorld = FakeLabWorld(), options: LabOptions = LabOptions())
    -> (status: Int32, stdout: String, stderr: String, combined: String, world: FakeLabWorld, interpreter: LabInterpreter) {
    let capture = LabCapture()
    let interpreter = LabInterpreter(world: world, sink: capture, options: options)
    let status = interpreter.run(source: source)
    return (status, capture.stdout, capture.stderr, capture.combined, world, interpreter)
}
