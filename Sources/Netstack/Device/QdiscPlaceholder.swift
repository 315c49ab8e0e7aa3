// Temporary: replaced by Sched/ (pfifo_fast, netem) when that lands.
public enum Qdisc {
    case noqueue
    public var kindName: String { "noqueue" }
    static func defaultQdisc(for kind: DeviceKind) -> Qdisc { .noqueue }
}
