// PacketCapture: every frame a device receives or transmits, encoded as
// pcap records in memory, one file's worth per device (`netstack lab
// --pcap DIR`). Kernel counterpart: the AF_PACKET taps of
// dev_queue_xmit_nit (transmit) and __netif_receive_skb_core (receive)
// that tcpdump reads through; the bytes are NetWire's pcap encoding, and
// the host side (the lab CLI) moves them to disk.
//
// Sans-IO: nothing here writes files. The owner drains the pending bytes of
// each file after a poll (`drain`) and appends them to `NAME.pcap`; the
// first bytes drained for a name start with the file header.
//
// Cost: a capture installed on the Stack is one branch per frame when
// absent; when present, a dictionary lookup on two integers and the
// encoder's append to a reused array (no allocation once the array has
// grown to a drain interval's worth).
import NetWire

public final class PacketCapture {
    /// One output file and the bytes not yet drained.
    public struct File: Sendable {
        /// `NS-DEV` (`DEV` in the initial namespace), without extension.
        public let name: String
        public fileprivate(set) var pending: [UInt8] = []
        /// Frames recorded into this file since it was created.
        public fileprivate(set) var frameCount = 0
    }

    struct Key: Hashable {
        var namespace: Int
        var ifindex: Int32
    }

    public let encoder: PcapEncoder
    public private(set) var files: [File] = []
    private var index: [Key: Int] = [:]

    /// Nanosecond timestamps: virtual time is kept exactly.
    public init(encoder: PcapEncoder = PcapEncoder(linkType: .ethernet, resolution: .nanoseconds)) {
        self.encoder = encoder
    }

    /// The file name for a device: `NS-DEV`, or `DEV` in the initial namespace.
    public static func fileName(namespace: String, device: String) -> String {
        namespace.isEmpty ? device : "\(namespace)-\(device)"
    }

    /// Records one frame (starting at its Ethernet header) seen on `device`.
    func record(_ frame: UnsafeRawBufferPointer, namespace ns: NetworkNamespace, device: NetDevice, now: Instant) {
        let key = Key(namespace: ns.id, ifindex: device.ifindex)
        let i: Int
        if let found = index[key] {
            i = found
        } else {
            i = open(Self.fileName(namespace: ns.name, device: device.name))
            index[key] = i
        }
        let ns = UInt64(clamping: now.nanoseconds)
        if (try? encoder.appendRecord(timestampNanoseconds: ns, frame: frame, to: &files[i].pending)) != nil {
            files[i].frameCount &+= 1
        }
    }

    /// The file for `name`, created with its header on first use (a device
    /// deleted and re-created under the same name continues its file).
    private func open(_ name: String) -> Int {
        if let i = files.firstIndex(where: { $0.name == name }) { return i }
        var f = File(name: name)
        f.pending.reserveCapacity(1 << 16)
        encoder.appendFileHeader(to: &f.pending)
        files.append(f)
        return files.count - 1
    }

    /// A device went away: a new device with its ifindex gets its own file.
    func forget(namespace: Int, ifindex: Int32) {
        index[Key(namespace: namespace, ifindex: ifindex)] = nil
    }

    /// Hands each file's pending bytes to `body` (in file creation order)
    /// and empties them, keeping their capacity.
    public func drain(_ body: (_ name: String, _ bytes: UnsafeRawBufferPointer) -> Void) {
        for i in files.indices where !files[i].pending.isEmpty {
            let name = files[i].name
            files[i].pending.withUnsafeBytes { body(name, $0) }
            files[i].pending.removeAll(keepingCapacity: true)
        }
    }
}
