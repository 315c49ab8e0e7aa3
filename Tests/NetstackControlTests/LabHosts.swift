// The two-host lab the tool suites (serve, iperf3, ss -i) start from:
// namespaces a and b on a veth, e0 at each end (02:00:00:00:00:01 /
// 10.0.0.1 and …:02 / 10.0.0.2; with `ipv6`, fd00::1 and fd00::2 too).
import NetstackControl

enum LabHosts {
    static func script(ipv6: Bool = false) -> String {
        """
        ip netns add a
        ip netns add b
        ip -n a link add e0 address 02:00:00:00:00:01 type veth peer name e0 address 02:00:00:00:00:02 netns b
        ip -n a addr add 10.0.0.1/24 dev e0
        ip -n b addr add 10.0.0.2/24 dev e0

        """ + (ipv6 ? """
        ip -n a -6 addr add fd00::1/64 dev e0 nodad
        ip -n b -6 addr add fd00::2/64 dev e0 nodad

        """ : "") + """
        ip -n a link set e0 up
        ip -n b link set e0 up

        """
    }

    /// Runs the two-host script and then `body` in a fresh world.
    static func run(_ body: String, seed: UInt64, ipv6: Bool = false)
        -> (status: Int32, stdout: String, stderr: String, world: StackLabWorld) {
        let world = StackLabWorld(seed: seed)
        let capture = LabCapture()
        let status = LabInterpreter(world: world, sink: capture).run(source: script(ipv6: ipv6) + body)
        return (status, capture.stdout, capture.stderr, world)
    }
}
