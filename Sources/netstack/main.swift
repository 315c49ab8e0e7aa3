// netstack: the multi-call command-line tool (DESIGN.md §1).
import ArgumentParser
import NetWire

struct NetstackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netstack",
        abstract: "The Linux network stack, rebuilt in Swift.",
        version: NetstackVersion.string,
        subcommands: [Lab.self, Decode.self]
    )
}

enum NetstackVersion {
    static let string = "0.1.0"
}

// Top-level entry (not @main): a main.swift in a multi-file target is top-level code.
NetstackCommand.main()
