// Frames entering the stack from outside it: a host port, a test harness or
// a benchmark hands a frame to a device as its driver would (netif_rx:
// queue on the device's receive ring; the next `Stack.poll` processes it).
// Kernel counterpart: netif_rx() in net/core/dev.c.

extension NetDevice {
    /// netif_rx(): queues `frame` (starting at its Ethernet header) on this
    /// device's receive ring. A full ring drops it with `cpuBacklog`
    /// (counted in `rx_dropped`), as the backlog does; returns false then.
    @discardableResult
    public func receive(_ frame: consuming PacketBuffer) -> Bool {
        let dropped = statistics.rxDropped
        namespace.enqueueReceive(frame, on: self)
        return statistics.rxDropped == dropped
    }
}

extension NetDevice {
    /// Free places in the receive ring (a host reading a super-frame that
    /// becomes many segments checks there is room first).
    public var receiveRoom: Int { receiveRing.capacity - receiveRing.count }

    /// A frame from the host side that could not be taken (tun_get_user:
    /// a bad virtio_net_hdr counts rx_frame_errors).
    public func countHostFrameError() {
        statistics.rxFrameErrors &+= 1
        statistics.rxErrors &+= 1
    }
}
