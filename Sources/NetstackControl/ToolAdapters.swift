// The tools (ping, nc) as lab processes: their output and states mapped
// onto the interpreter's, and the signals they catch.
import Netstack

/// A tool stepped by the lab interpreter.
protocol SteppedTool: AnyObject {
    func poll(now: Instant, output: inout ToolOutput) -> ToolState
    func terminate(now: Instant, output: inout ToolOutput)
    /// Death by a signal it does not catch: the kernel closes its sockets.
    func killed()
}

extension SteppedTool {
    func killed() {}
}

extension PingProcess: SteppedTool {}
extension NetcatProcess: SteppedTool {}

final class ToolLabProcess: LabProcess {
    let tool: SteppedTool
    /// ping prints its statistics on SIGINT (and SIGQUIT shows a summary);
    /// nc takes the default action.
    let catchesInterrupt: Bool

    init(_ tool: SteppedTool, catchesInterrupt: Bool) {
        self.tool = tool
        self.catchesInterrupt = catchesInterrupt
    }

    static func forward(_ o: ToolOutput, into output: inout LabOutput) {
        output.write(bytes: o.stdoutBytes, to: .stdout)
        output.write(o.stderr, to: .stderr)
    }

    func poll(now: Instant, output: inout LabOutput) -> LabProcessState {
        var o = ToolOutput()
        let s = tool.poll(now: now, output: &o)
        ToolLabProcess.forward(o, into: &output)
        switch s {
        case .running(let w): return .running(wakeAt: w)
        case .exited(let c): return .exited(c)
        }
    }

    func catches(_ signal: LabSignal) -> Bool { catchesInterrupt && signal == .int }

    func signal(_ signal: LabSignal, now: Instant, output: inout LabOutput) -> LabProcessState {
        guard catchesInterrupt, signal == .int else {
            tool.killed()
            return .exited(128 + signal.rawValue)
        }
        var o = ToolOutput()
        tool.terminate(now: now, output: &o)
        let s = tool.poll(now: now, output: &o)
        ToolLabProcess.forward(o, into: &output)
        if case .exited(let c) = s { return .exited(c) }
        return .exited(130)
    }
}
