// The lab's world: a Stack stepped in virtual time, and the commands a
// lab script runs against it (`ip`, `sysctl`, `ping`, `nc`, `ss`, `tc`).
import NetWire
import Netstack

/// A `LabWorld` over a `Stack`.
public final class StackLabWorld: LabWorld {
    public let stack: Stack
    /// `--realtime`: virtual time follows the wall clock, so tools may act
    /// the way they do on a real host (iperf3 writes whenever its socket
    /// has room instead of on a pacing tick that keeps virtual time moving),
    /// and `advance` does the work due at the wall's instant
    /// (`advanceOnWallClock`).
    public var realtime = false
    /// The commands a script can run, by name.
    public var commands: [String: (StackLabWorld, [String], NetworkNamespace, [UInt8]) -> LabProcess?] = [:]

    public init(seed: UInt64 = 1) {
        stack = Stack(seed: seed)
        commands["ip"] = { world, argv, ns, _ in
            LabFinishedProcess(IPCommand.run(Array(argv.dropFirst()), stack: world.stack, namespace: ns))
        }
        let sysctl = SysctlTable()
        commands["sysctl"] = { _, argv, ns, _ in LabFinishedProcess(sysctl.run(argv, namespace: ns)) }
        commands["ss"] = { _, argv, ns, _ in LabFinishedProcess(SocketStatistics.run(argv, namespace: ns)) }
        commands["ping"] = { _, argv, ns, _ in ToolLabProcess(PingProcess(argv: argv, namespace: ns), catchesInterrupt: true) }
        commands["nc"] = { _, argv, ns, stdin in ToolLabProcess(NetcatProcess(argv: argv, namespace: ns, stdin: stdin), catchesInterrupt: false) }
        commands["iperf3"] = { world, argv, ns, _ in
            let p = Iperf3Process(argv: argv, namespace: ns)
            p.writesWhenWritable = world.realtime
            return ToolLabProcess(p, catchesInterrupt: true)
        }
        commands["serve"] = { _, argv, ns, _ in ToolLabProcess(ServeProcess(argv: argv, namespace: ns), catchesInterrupt: false) }
        commands["tc"] = { world, argv, ns, _ in LabFinishedProcess(TCRunner.run(Array(argv.dropFirst()), namespace: ns)) }
        commands["ethtool"] = { [ethtool = EthtoolTable()] _, argv, ns, _ in LabFinishedProcess(ethtool.run(argv, namespace: ns)) }
    }

    public var now: Instant { stack.now }

    public var nextEventTime: Instant? { stack.nextDeadline }

    public func advance(until: Instant) {
        if realtime {
            advanceOnWallClock(until)
            return
        }
        flushObservers()
        var steps = 0
        while let d = stack.nextDeadline, d <= until, steps < 1_000_000 {
            stack.poll(now: max(d, stack.now))
            flushObservers()
            steps += 1
            if d <= stack.now, stack.nextDeadline == d { break }  // no progress: avoid spinning
        }
        stack.poll(now: until)
        flushObservers()
    }

    /// `--realtime`: `until` is the wall clock's instant, and the work due
    /// by then is done at `until` — packets waiting since an earlier poll
    /// arrive now, timers due meanwhile fire now (late, as on a busy host).
    ///
    /// Replaying that work at the instants it fell due, as the virtual
    /// world does, stamps it before the wall time its processing took:
    /// the scheduler polls processes only between `advance` calls, so what
    /// a process does in answer (a reader's read and the ACK it releases,
    /// tcp_cleanup_rbuf) comes a whole step later on the clock, while the
    /// stack's own samples say no time passed (RTTs of 0, so a probe
    /// timeout of TCP_TIMEOUT_MIN). The world then jumped past the timers
    /// armed during that work before the reader could answer: a bulk flow
    /// sent a spurious tail loss probe nearly every step (~900 in 3 s,
    /// each D-SACKed). Stamped at the instant it is done, the work's wall
    /// time shows in the RTT, and the timers scale with it, as on Linux,
    /// where the reader runs alongside on another CPU. (`netstack run`
    /// polls its world the same way: RunWorld.advance.)
    private func advanceOnWallClock(_ until: Instant) {
        flushObservers()
        stack.poll(now: until)
        flushObservers()
    }

    // MARK: --trace and --pcap

    /// Where rendered trace lines go (stderr of the lab), when tracing.
    private var traceSink: (any LabSink)?
    private var traceRenderer = TraceRenderer()
    private var tracesLost: UInt64 = 0
    /// Where capture files' bytes go: `(file name without .pcap, bytes to append)`.
    private var captureOutput: ((String, UnsafeRawBufferPointer) -> Void)?

    /// `--trace FILTER`: packets matching `filter` are traced; each decision
    /// is rendered as a line on `sink`'s stderr after the poll that took it.
    public func startTracing(_ filter: PacketFilter, sink: any LabSink) {
        stack.traceFilter = filter
        traceSink = sink
    }

    /// `--pcap DIR`: every frame a device receives or transmits is encoded
    /// as pcap; after each poll the new bytes of each device's file are
    /// handed to `output` (name `NS-DEV`, or `DEV` in the initial namespace;
    /// the first bytes for a name start with the pcap file header).
    public func startCapture(_ output: @escaping (String, UnsafeRawBufferPointer) -> Void) {
        stack.capture = PacketCapture()
        captureOutput = output
    }

    /// Renders pending trace records and hands out pending capture bytes.
    /// `advance` calls it after every poll; call it once more when the
    /// script ends (packets sent by the last commands).
    public func flushObservers() {
        if let sink = traceSink {
            let lost = stack.shard.traces.overwritten
            let records = stack.shard.takeTraces()
            if lost > tracesLost {
                sink.write(Array("\(TraceRenderer.timestamp(stack.now)) trace: \(lost - tracesLost) records lost (ring full)\n".utf8),
                           to: .stderr)
                tracesLost = lost
            }
            if !records.isEmpty {
                var text = ""
                for r in records { text += traceRenderer.render(r, stack: stack) }
                sink.write(Array(text.utf8), to: .stderr)
            }
        }
        if let output = captureOutput, let capture = stack.capture {
            capture.drain(output)
        }
    }

    public func namespaceExists(_ name: String) -> Bool { stack.namespace(named: name) != nil }

    public func spawn(_ argv: [String], namespace: String?, stdin: [UInt8]) -> LabProcess? {
        guard let name = argv.first, let command = commands[name] else { return nil }
        let ns: NetworkNamespace
        if let n = namespace {
            guard let found = stack.namespace(named: n) else {
                return LabFinishedProcess(.failure("Cannot open network namespace \"\(n)\": No such file or directory", status: 255))
            }
            ns = found
        } else {
            ns = stack.initial
        }
        return command(self, argv, ns, stdin)
    }
}
