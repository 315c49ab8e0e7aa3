// What every command implementation returns: text on stdout/stderr and an
// exit status, as the Linux tool would produce them. A command that fails
// applies nothing (commands validate fully before they change state).

/// The result of running one command.
public struct CommandResult: Equatable, Sendable {
    public var stdout: String
    public var stderr: String
    public var status: Int32

    public init(stdout: String = "", stderr: String = "", status: Int32 = 0) {
        self.stdout = stdout
        self.stderr = stderr
        self.status = status
    }

    /// A failure with one message line on stderr (newline added).
    public static func failure(_ message: String, status: Int32 = 1) -> CommandResult {
        CommandResult(stderr: message.hasSuffix("\n") ? message : message + "\n", status: status)
    }
}

/// A command error worded as the Linux tool words it (`Error: …`,
/// `RTNETLINK answers: File exists`), with the tool's exit status
/// (iproute2: 1 for usage errors, 2 for kernel refusals, 255 for `invarg`).
public struct CommandFailure: Error, Equatable, Sendable {
    public var message: String
    public var status: Int32
    public init(_ message: String, status: Int32 = 1) {
        self.message = message
        self.status = status
    }
    public var result: CommandResult { .failure(message, status: status) }

    /// iproute2's incomplete_command(): an option without its value.
    public static let incompleteCommandLine = CommandFailure("Command line is not complete. Try option \"help\"", status: 255)
}
