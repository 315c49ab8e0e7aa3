// `netstack run FILE.sh`: the lab's script language in real time, as a
// host on the machine (DESIGN.md §1). `ip tuntap add` attaches the stack's
// devices to host TAP/TUNs; the script's background jobs (`serve`, `nc`…)
// keep running after the script ends, until SIGINT/SIGTERM or `netstack
// stop`; `netstack ip|ss|sysctl|ping|tc|nc …` act on the running stack
// through the control socket.
//
// One thread runs everything: the interpreter's scheduler asks `HostClock`
// to wait for the next deadline, and the clock waits in epoll on the TAP
// fds, the control socket and a signalfd, waking early when any is ready
// (after a wake-up that brought work it first polls for `--poll-usecs`).
import ArgumentParser
import Netstack
import NetstackControl
import NetstackHost

#if canImport(Glibc)
import Glibc
#endif

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a lab script in real time as a host on TAP/TUN devices, until SIGINT/SIGTERM or `netstack stop`.",
        discussion: """
        `ip tuntap add dev NAME mode tap|tun` in the script attaches to (or makes) the host's \
        TAP/TUN of that name. While it runs, `netstack ip|ss|sysctl|ping|tc|nc|serve …` act on it \
        through the control socket (--control, or $NETSTACK_CONTROL, default /run/netstack.sock; \
        mode 0600, served to root and the owner only). A TAP the run made is removed when it ends; \
        one that existed before is left as it was.
        """
    )

    @OptionGroup var script: ScriptOptions
    var file: String { script.file }
    var trace: String? { script.trace }
    var pcap: String? { script.pcap }
    var seed: UInt64 { script.seed }

    @Option(help: "The control socket's path.")
    var control: String?

    @Option(name: .customLong("poll-usecs"),
            help: "After a wake-up that brought work, keep polling for this many microseconds before sleeping in epoll (0: sleep at once).")
    var pollMicroseconds: Int = RunHost.defaultPollMicroseconds

    // Checked before anything is opened (the control socket, TAPs).
    func validate() throws {
        guard (0...1_000_000).contains(pollMicroseconds) else {
            throw ValidationError("--poll-usecs must be between 0 and 1000000 (got \(pollMicroseconds))")
        }
    }

    func run() throws {
        guard let source = readScriptFile(file) else {
            writeAll(2, "netstack run: \(file): cannot read the file\n")
            throw ExitCode(2)
        }
        let system = LinuxHostSystem()
        let sink = TerminalSink()
        let world: StackLabWorld
        do throws(LabSetupError) {
            world = try makeLabWorld(options: LabWorldOptions(trace: trace, pcapDirectory: pcap, seed: seed, realtime: true),
                                     sink: sink)
        } catch {
            writeAll(2, "netstack run: \(error)\n")
            throw ExitCode(2)
        }
        let host: RunHost
        do throws(HostError) {
            host = try RunHost(system: system, world: world, controlPath: control ?? defaultControlPath())
        } catch {
            writeAll(2, "netstack run: \(error)\n")
            throw ExitCode(1)
        }
        host.clock.adaptivePollNanoseconds = Int64(pollMicroseconds) * 1000
        var options = LabOptions()
        options.scriptName = file == "-" ? "bash" : file
        options.clock = host.clock
        options.keepRunningAfterScript = true
        options.timeLimit = .seconds(10 * 365 * 86400)
        options.maxSteps = Int.max
        options.maxStepsPerInstant = Int.max
        let interpreter = LabInterpreter(world: host.world, sink: sink, options: options)
        let status = interpreter.run(source: source)
        host.shutdown()
        world.flushObservers()
        if status != 0 { throw ExitCode(status) }
    }
}

/// Everything `netstack run` owns on the host: the epoll set, the signal
/// fd, the TUN/TAP driver and the control socket.
final class RunHost {
    let system: any HostSystem
    let poller: Int32
    let signalFD: Int32
    let driver: TunTapDriver
    var control: ControlServer!
    let world: RunWorld
    let clock: HostClock
    static let signalToken: UInt64 = 1
    /// `--poll-usecs`' default: long enough to cover a request/response
    /// peer's turnaround on this kind of machine (a kernel peer answers in
    /// 20–30 µs), short enough that a lone packet costs little spinning.
    static let defaultPollMicroseconds = 50

    init(system: any HostSystem, world inner: StackLabWorld, controlPath: String) throws(HostError) {
        self.system = system
        poller = try system.pollerCreate()
        signalFD = try system.signalDescriptor([SIGINT, SIGTERM])
        try system.pollerAdd(poller, fd: signalFD, token: RunHost.signalToken)
        let poller = self.poller
        let register: (Int32, UInt64) throws(HostError) -> Void = { fd, token throws(HostError) in
            try system.pollerAdd(poller, fd: fd, token: token)
        }
        let unregister: (Int32) -> Void = { fd in system.pollerRemove(poller, fd: fd) }
        driver = TunTapDriver(system: system, stack: inner.stack, register: register, unregister: unregister)
        inner.stack.hostDriver = driver
        world = RunWorld(inner: inner, driver: driver)
        clock = HostClock(system: system)
        control = try ControlServer(system: system, path: controlPath, register: register, unregister: unregister)
        world.control = control
        world.clock = clock
        clock.host = self
    }

    /// Handles ready fds; returns whether anything came in from outside.
    func handle(_ events: [HostEvent]) -> Bool {
        var woke = false
        for e in events {
            if e.token == RunHost.signalToken {
                if system.readSignal(signalFD) != nil { clock.stop = 0 }
                woke = true
            } else if driver.owns(e.token) {
                if driver.receive(token: e.token) > 0 { woke = true }
            } else if e.token == control.listenToken {
                control.acceptClients()
            } else if control.owns(e.token) {
                if let request = control.readRequest(e.token) {
                    world.submit(request, token: e.token)
                    woke = true
                }
            }
        }
        return woke
    }

    func shutdown() {
        world.finishControlJobs()
        control.close()
        driver.detachAll()
        world.inner.stack.hostDriver = nil
        system.close(signalFD)
        system.close(poller)
    }
}

/// Real time for the interpreter: virtual instant t is wall time start + t.
/// Waits in epoll until the deadline, and returns early (at the current
/// instant) when a frame, a control request or a signal arrived.
final class HostClock: LabClock {
    let system: any HostSystem
    let start: Int64
    weak var host: RunHost?
    var stop: Int32?

    init(system: any HostSystem) {
        self.system = system
        start = system.monotonicNanoseconds()
    }

    /// The adaptive polling window (`--poll-usecs`), in ns; 0: off.
    var adaptivePollNanoseconds: Int64 = 0
    /// When a wake-up last brought work (monotonic ns since `start`).
    private var lastActivity = Int64.min / 2

    /// Something came in: the world moves to the wall clock's instant
    /// (never less, so a reply read now is stamped now), and the adaptive
    /// window restarts.
    private func woken(_ worldNow: Instant) -> Instant {
        let now = current()
        lastActivity = now.nanoseconds
        return max(worldNow, now)
    }

    /// Until when (ns) to poll without sleeping, from `now`: busy_poll's
    /// span, or the adaptive window after the last wake-up that brought
    /// work, whichever ends later; never past the deadline. `now` or less:
    /// sleep at once.
    static func pollEnd(now: Int64, busyPoll: Int64, lastActivity: Int64, window: Int64, deadline: Int64) -> Int64 {
        var end = now + busyPoll
        if window > 0, now - lastActivity < window { end = max(end, lastActivity + window) }
        return min(end, deadline)
    }

    var hasExternalEvents: Bool { true }
    var stopStatus: Int32? { stop }

    func current() -> Instant { Instant(nanoseconds: system.monotonicNanoseconds() - start) }

    func wait(until instant: Instant, worldNow: Instant) -> Instant {
        guard let host else { return instant }
        // Frames the script's processes sent since the world last moved
        // (a reply written in `poll`) go out before we sleep.
        host.driver.flushTransmit()
        // Polling instead of sleeping: a frame that arrives meanwhile turns
        // around without a wake-up's latency (on a VM, waking a thread whose
        // vCPU halted costs tens of µs per message); the CPU spins meanwhile.
        // net.core.busy_poll polls that long before every sleep; the adaptive
        // window polls only while traffic flows: for adaptivePollNanoseconds
        // after the last wake-up that brought work (as NAPI stays in polling
        // mode for gro_flush_timeout after a poll that found packets,
        // napi_defer_hard_irqs). Idle, the loop sleeps at once.
        let start = current().nanoseconds
        let spinEnd = HostClock.pollEnd(now: start, busyPoll: Int64(host.world.inner.stack.busyPollMicroseconds) * 1000,
                                        lastActivity: lastActivity, window: adaptivePollNanoseconds,
                                        deadline: instant.nanoseconds)
        if spinEnd > start {
            var spins = 0
            while spins < 10_000_000, current().nanoseconds < spinEnd {
                spins += 1
                let events = system.pollerWait(host.poller, timeoutMilliseconds: 0, max: 64)
                if events.isEmpty { continue }
                let woke = host.handle(events)
                if woke || stop != nil { return woken(worldNow) }
            }
        }
        var rounds = 0
        while rounds < 1_000_000 {
            rounds += 1
            let now = current()
            let left = instant.nanoseconds - now.nanoseconds
            // Round up to whole milliseconds: waking early would only spin.
            let timeout = left <= 0 ? 0 : Int32(min((left + 999_999) / 1_000_000, 1_000_000))
            let events = system.pollerWait(host.poller, timeoutMilliseconds: timeout, max: 64)
            let woke = host.handle(events)
            let after = current()
            // Woken from outside: the world moves to the wall clock's
            // instant (never less, so a reply read now is stamped now).
            if woke || stop != nil { return woken(worldNow) }
            if after >= instant || timeout == 0 { return max(worldNow, after) }
        }
        return max(worldNow, current())
    }
}

/// The world of `netstack run`: the lab's world, plus the commands that
/// came through the control socket and the TAP writes after each step.
final class RunWorld: LabWorld {
    let inner: StackLabWorld
    let driver: TunTapDriver
    weak var control: ControlServer?
    weak var clock: HostClock?

    private struct ControlJob {
        let token: UInt64
        let process: LabProcess
        var wakeAt: Instant?
        var polled = false
    }
    private var jobs: [ControlJob] = []

    init(inner: StackLabWorld, driver: TunTapDriver) {
        self.inner = inner
        self.driver = driver
    }

    var now: Instant { inner.now }

    var nextEventTime: Instant? {
        var next = inner.nextEventTime
        for j in jobs {
            let w = j.polled ? j.wakeAt : now
            if let w { next = next.map { min($0, w) } ?? w }
        }
        return next
    }

    func advance(until: Instant) {
        // Real time: whatever is due by `until` is handled at `until`, and
        // frames read from a TAP arrive now, not at the stack's last poll
        // (StackLabWorld steps through each earlier deadline in order, which
        // would stamp a frame read now with an old instant and inflate RTTs).
        inner.stack.poll(now: until)
        inner.advance(until: until)
        if !jobs.isEmpty {
            pollJobs()
            inner.advance(until: until)  // what the commands just sent
        }
        driver.flushTransmit()
    }

    func namespaceExists(_ name: String) -> Bool { inner.namespaceExists(name) }

    // What a command sends goes out when the clock next waits (it flushes first).
    func spawn(_ argv: [String], namespace: String?, stdin: [UInt8]) -> LabProcess? {
        inner.spawn(argv, namespace: namespace, stdin: stdin)
    }

    /// A request from the control socket: `stop`, or a command to run.
    func submit(_ request: ControlRequest, token: UInt64) {
        var argv = request.argv
        var namespace = request.namespace
        // `netstack ip netns exec NS CMD…`, as the lab unwraps it.
        while argv.count >= 4, argv[0] == "ip", argv[1] == "netns", argv[2] == "exec" {
            namespace = argv[3]
            argv = Array(argv.dropFirst(4))
        }
        if argv == ["stop"] {
            control?.finish(token, status: 0)
            clock?.stop = 0
            return
        }
        guard let process = inner.spawn(argv, namespace: namespace, stdin: request.stdin) else {
            control?.send(token, .stderr, Array("netstack: \(argv.first ?? ""): command not found\n".utf8))
            control?.finish(token, status: 127)
            return
        }
        jobs.append(ControlJob(token: token, process: process))
    }

    private func pollJobs() {
        var i = 0
        while i < jobs.count {
            var output = LabOutput()
            let state = jobs[i].process.poll(now: now, output: &output)
            jobs[i].polled = true
            for chunk in output.take() {
                control?.send(jobs[i].token, chunk.stream == .stdout ? .stdout : .stderr, chunk.bytes)
            }
            switch state {
            case .running(let wakeAt):
                jobs[i].wakeAt = wakeAt
                i += 1
            case .exited(let status):
                control?.finish(jobs[i].token, status: status)
                jobs.remove(at: i)
            }
        }
    }

    /// The run is ending: commands still running are killed, their clients told.
    func finishControlJobs() {
        for j in jobs {
            var discard = LabOutput()
            _ = j.process.signal(.kill, now: now, output: &discard)
            control?.finish(j.token, status: 128 + LabSignal.kill.rawValue)
        }
        jobs.removeAll()
    }
}

/// `netstack ip|ss|sysctl|ping|tc|nc|serve …`: the command runs in the
/// stack that `netstack run` keeps, through its control socket.
enum RemoteCommand {
    static let names: Set<String> = ["ip", "ss", "sysctl", "ping", "tc", "nc", "serve", "iperf3", "ethtool", "stop"]

    /// Commands whose standard input matters (read to its end first, as
    /// the command would; give `< /dev/null` when there is none).
    static let readsInput: Set<String> = ["nc"]

    static func run(_ argv: [String]) -> Never {
        var input: [UInt8] = []
        if let name = argv.first, readsInput.contains(name) {
            guard let data = readAllInput(limit: ControlRequest.maximumInput) else {
                writeAll(2, "netstack \(name): standard input is larger than \(ControlRequest.maximumInput) bytes\n")
                exit(1)
            }
            input = data
        }
        let status = ControlClient.run(ControlRequest(namespace: nil, argv: argv, stdin: input), path: defaultControlPath())
        exit(status)
    }

    private static func readAllInput(limit: Int) -> [UInt8]? {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = read(0, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return bytes }
            bytes += buffer[0..<n]
            if bytes.count > limit { return nil }
        }
    }
}
