// netstack: the multi-call command-line tool (DESIGN.md §1).
import ArgumentParser
import NetWire
import NetstackHost

struct NetstackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netstack",
        abstract: "The Linux network stack, rebuilt in Swift.",
        discussion: """
        Against a running `netstack run`: netstack ip|ss|sysctl|ping|tc|nc|serve|iperf3 ARGS… \
        runs the command in that stack (control socket: $NETSTACK_CONTROL, default \
        /run/netstack.sock); `netstack stop` ends it.
        """,
        version: NetstackVersion.string,
        subcommands: [Lab.self, Run.self, Decode.self]
    )
}

enum NetstackVersion {
    static let string = "0.1.0"
}

// Top-level entry (not @main): a main.swift in a multi-file target is top-level code.
// `netstack ip …` and friends pass their arguments through untouched.
// Freed socket buffers stay in the heap for the next refill (see HostProcess).
HostProcess.keepFreedMemory()
let arguments = CommandLine.arguments
if arguments.count >= 2, RemoteCommand.names.contains(arguments[1]) {
    RemoteCommand.run(Array(arguments.dropFirst()))
}
NetstackCommand.main()
