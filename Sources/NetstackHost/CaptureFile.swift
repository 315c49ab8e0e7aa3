// Capture files on disk: pcap and pcapng, written with buffered appends and
// read whole. The formats themselves live in NetWire/Capture.swift; this
// file only moves bytes, through `CaptureFileSyscalls` so that tests can
// make open/write/close fail.
//
// Kernel counterpart: none; this is what `tcpdump -w FILE` / `-r FILE` do
// on top of libpcap's savefile code.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NetWire

/// The syscalls capture files use, as function values: `.live` calls the C
/// library; a test builds one whose `write` fails or writes short.
/// Each returns what the C call returns; failures set `errno` via `lastError`.
public struct CaptureFileSyscalls: Sendable {
    public var open: @Sendable (_ path: String, _ flags: Int32, _ mode: UInt32) -> Int32
    public var read: @Sendable (_ fd: Int32, _ into: UnsafeMutableRawBufferPointer) -> Int
    public var write: @Sendable (_ fd: Int32, _ from: UnsafeRawBufferPointer) -> Int
    public var close: @Sendable (_ fd: Int32) -> Int32
    /// errno after a failed call.
    public var lastError: @Sendable () -> Int32

    public init(open: @escaping @Sendable (String, Int32, UInt32) -> Int32,
                read: @escaping @Sendable (Int32, UnsafeMutableRawBufferPointer) -> Int,
                write: @escaping @Sendable (Int32, UnsafeRawBufferPointer) -> Int,
                close: @escaping @Sendable (Int32) -> Int32,
                lastError: @escaping @Sendable () -> Int32) {
        self.open = open
        self.read = read
        self.write = write
        self.close = close
        self.lastError = lastError
    }

    public static let live = CaptureFileSyscalls(
        open: { path, flags, mode in
            #if canImport(Glibc)
            Glibc.open(path, flags, mode_t(mode))
            #else
            Darwin.open(path, flags, mode_t(mode))
            #endif
        },
        read: { fd, buffer in
            #if canImport(Glibc)
            Glibc.read(fd, buffer.baseAddress, buffer.count)
            #else
            Darwin.read(fd, buffer.baseAddress, buffer.count)
            #endif
        },
        write: { fd, buffer in
            #if canImport(Glibc)
            Glibc.write(fd, buffer.baseAddress, buffer.count)
            #else
            Darwin.write(fd, buffer.baseAddress, buffer.count)
            #endif
        },
        close: { fd in
            #if canImport(Glibc)
            Glibc.close(fd)
            #else
            Darwin.close(fd)
            #endif
        },
        lastError: { errno }
    )
}

/// Why a capture file could not be opened, read or written.
public enum CaptureFileError: Error, Equatable, Sendable, CustomStringConvertible {
    case open(path: String, errno: Int32)
    case read(path: String, errno: Int32)
    case write(errno: Int32)
    case close(errno: Int32)
    /// The bytes are not a valid capture (or a record could not be encoded).
    case format(CaptureError)
    /// The writer was already closed.
    case closed

    public var description: String {
        switch self {
        case .open(let path, let e): "\(path): \(Self.message(e))"
        case .read(let path, let e): "\(path): read: \(Self.message(e))"
        case .write(let e): "write: \(Self.message(e))"
        case .close(let e): "close: \(Self.message(e))"
        case .format(let e): e.description
        case .closed: "capture file already closed"
        }
    }

    static func message(_ e: Int32) -> String {
        guard let text = strerror(e) else { return "errno \(e)" }
        return String(cString: text)
    }
}

public enum CaptureFile {
    /// Reads a whole file into memory (capture files for `decode` are small
    /// enough; a streaming reader can come later).
    public static func readAll(path: String, system: CaptureFileSyscalls = .live) throws(CaptureFileError) -> [UInt8] {
        let fd = system.open(path, O_RDONLY | O_CLOEXEC, 0)
        guard fd >= 0 else { throw .open(path: path, errno: system.lastError()) }
        defer { _ = system.close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { system.read(fd, $0) }
            if n == 0 { return out }
            if n < 0 {
                let e = system.lastError()
                if e == EINTR { continue }
                throw .read(path: path, errno: e)
            }
            out.append(contentsOf: chunk[0..<n])
        }
    }
}

/// Appends frames to a pcap or pcapng file.
///
/// Records are encoded into one reusable buffer and written when it fills
/// (or on `flush`/`close`): once the buffer has reached its capacity,
/// writing a frame allocates nothing. A class, not a noncopyable struct,
/// so that a device decorator can hold and share it; it is not thread-safe
/// (one shard writes, as one tcpdump reads one device).
public final class CaptureWriter {
    public enum Format: Sendable {
        /// Classic pcap: one link type for every frame; interface index 0 only.
        case pcap(linkType: LinkType = .ethernet, snapLength: Int = CaptureLimits.defaultSnapLength,
                  resolution: TimestampResolution = .microseconds)
        /// pcapng with these interfaces declared up front (more can be added).
        case pcapng(interfaces: [PcapngEncoder.Interface])
    }

    enum Encoder {
        case pcap(PcapEncoder)
        case pcapng(PcapngEncoder)
    }

    public let path: String
    let system: CaptureFileSyscalls
    var fd: Int32
    var encoder: Encoder
    var buffer: [UInt8]
    let flushThreshold: Int
    /// Frames written (buffered or on disk).
    public private(set) var frameCount = 0

    /// Creates (or truncates) `path` and writes the file header.
    public init(path: String, format: Format, bufferSize: Int = 1 << 16,
                system: CaptureFileSyscalls = .live) throws(CaptureFileError) {
        self.path = path
        self.system = system
        flushThreshold = max(bufferSize, 1024)
        buffer = []
        buffer.reserveCapacity(flushThreshold + PcapngEncoder.enhancedPacketOverhead + CaptureLimits.defaultSnapLength)
        switch format {
        case .pcap(let linkType, let snapLength, let resolution):
            let e = PcapEncoder(linkType: linkType, snapLength: snapLength, resolution: resolution)
            e.appendFileHeader(to: &buffer)
            encoder = .pcap(e)
        case .pcapng(let interfaces):
            var e = PcapngEncoder()
            e.appendSectionHeader(to: &buffer)
            for interface in interfaces { e.appendInterface(interface, to: &buffer) }
            encoder = .pcapng(e)
        }
        fd = system.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .open(path: path, errno: system.lastError()) }
    }

    deinit {
        if fd >= 0 {
            _ = try? flush()
            _ = system.close(fd)
        }
    }

    /// Declares another interface (pcapng only) and returns its index.
    public func addInterface(_ interface: PcapngEncoder.Interface) throws(CaptureFileError) -> Int {
        guard fd >= 0 else { throw .closed }
        guard case .pcapng(var e) = encoder else { throw .format(.noSuchInterface(1)) }
        let index = e.appendInterface(interface, to: &buffer)
        encoder = .pcapng(e)
        return index
    }

    /// Appends one frame. `timestampNanoseconds` counts from the Unix epoch;
    /// `originalLength` defaults to the frame's length.
    public func write(timestampNanoseconds ns: UInt64, frame: UnsafeRawBufferPointer, interface: Int = 0,
                      originalLength: Int? = nil) throws(CaptureFileError) {
        guard fd >= 0 else { throw .closed }
        do throws(CaptureError) {
            switch encoder {
            case .pcap(let e):
                guard interface == 0 else { throw .noSuchInterface(interface) }
                try e.appendRecord(timestampNanoseconds: ns, frame: frame, originalLength: originalLength, to: &buffer)
            case .pcapng(let e):
                try e.appendPacket(interface: interface, timestampNanoseconds: ns, frame: frame,
                                   originalLength: originalLength, to: &buffer)
            }
        } catch {
            throw .format(error)
        }
        frameCount += 1
        if buffer.count >= flushThreshold { try flush() }
    }

    /// Writes buffered bytes to the file. On failure the unwritten bytes
    /// stay buffered and the error is thrown.
    public func flush() throws(CaptureFileError) {
        guard fd >= 0 else { throw .closed }
        var done = 0
        defer {
            if done == buffer.count {
                buffer.removeAll(keepingCapacity: true)
            } else if done > 0 {
                buffer.removeFirst(done)
            }
        }
        while done < buffer.count {
            let n = buffer.withUnsafeBytes { system.write(fd, UnsafeRawBufferPointer(rebasing: $0[done...])) }
            if n < 0 {
                let e = system.lastError()
                if e == EINTR { continue }
                throw .write(errno: e)
            }
            if n == 0 { throw .write(errno: EIO) }
            done += n
        }
    }

    /// Flushes and closes. The file is closed even if the flush fails.
    public func close() throws(CaptureFileError) {
        guard fd >= 0 else { throw .closed }
        var flushError: CaptureFileError?
        do { try flush() } catch { flushError = error }
        let rc = system.close(fd)
        let closeErrno = rc != 0 ? system.lastError() : 0
        fd = -1
        if let flushError { throw flushError }
        if rc != 0 { throw .close(errno: closeErrno) }
    }
}
