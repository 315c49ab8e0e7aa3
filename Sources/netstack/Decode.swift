// `netstack decode FILE`: print a pcap or pcapng file one line per packet,
// like `tcpdump -n -r FILE`.
//
// Each line is `HH:MM:SS.ffffff SUMMARY` — tcpdump's default clock format,
// but in UTC (tcpdump prints local time) so output does not depend on TZ.
// Errors go to stderr as `netstack decode: FILE: MESSAGE` with exit status 1;
// when a file is damaged part-way, the packets before the damage are printed
// first.
import ArgumentParser
import NetWire
import NetstackHost

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a pcap or pcapng capture file, one line per packet (like tcpdump -n -r).",
        discussion: "Timestamps are HH:MM:SS.ffffff in UTC."
    )

    @Argument(help: "The capture file (pcap or pcapng, either byte order).")
    var file: String

    func run() throws {
        let bytes: [UInt8]
        do {
            bytes = try CaptureFile.readAll(path: file)
        } catch {
            fail("\(error)")
        }
        var failure: String?
        var output = ""
        bytes.withUnsafeBytes { raw in
            do throws(CaptureError) {
                var reader = try CaptureReader(raw)
                while let record = try reader.next() {
                    output += FrameSummary.clockTime(nanoseconds: record.timestampNanoseconds) + " "
                        + FrameSummary.line(linkType: record.linkType, frame: record.frame,
                                            originalLength: record.originalLength) + "\n"
                    if output.utf8.count >= 1 << 16 { emit(&output) }
                }
            } catch {
                failure = "\(file): \(error)"
            }
        }
        emit(&output)
        if let failure { fail(failure) }
    }

    /// Writes to fd 1 directly (unbuffered), so that stdout and stderr
    /// interleave in order and nothing is lost on exit.
    private func emit(_ text: inout String) {
        writeAll(1, text)
        text = ""
    }

    private func fail(_ message: String) -> Never {
        writeAll(2, "netstack decode: \(message)\n")
        Decode.exit(withError: ExitCode.failure)
    }

    private func writeAll(_ fd: Int32, _ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var done = 0
            while done < bytes.count {
                let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                done += n
            }
        }
    }
}
