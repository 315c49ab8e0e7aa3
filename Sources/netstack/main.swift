// netstack: the multi-call command-line tool (DESIGN.md §1).
import ArgumentParser
import NetWire

@main
struct NetstackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netstack",
        abstract: "The Linux network stack, rebuilt in Swift.",
        version: NetstackVersion.string,
        subcommands: []
    )
}

enum NetstackVersion {
    static let string = "0.1.0"
}
