// Lab start-up benchmark: 100 namespaces with 1,000 routes each, built as a
// lab script builds them, through the control layer:
//
//   ip netns add nI
//   ip link add vI type veth peer name eth0 netns nI
//   ip link set vI up ; ip -n nI link set lo up ; ip -n nI link set eth0 up
//   ip -n nI addr add 10.I.0.2/24 dev eth0
//   ip -n nI route add 172.16.X.Y/32 via 10.I.0.1     × 1000
//
// Two figures: (1) the `ip` command runner (`IPCommand.run`) called with
// argv per line, as `ip -batch` would; (2) the lab interpreter running the
// same lines as one generated script (`netstack lab`'s path: parse, expand,
// run). Best of 3 each.
//
//   swift build -c release --product LabBench && .build/release/LabBench [namespaces] [routes]
import BenchSupport
import Netstack
import NetstackControl
import NetWire
#if canImport(Glibc)
import Glibc
#endif

let args = CommandLine.arguments
let namespaces = args.count > 1 ? Int(args[1])! : 100
let routesPer = args.count > 2 ? Int(args[2])! : 1000

@MainActor func lines() -> [[String]] {
    var out: [[String]] = []
    out.reserveCapacity(namespaces * (routesPer + 6))
    for i in 0..<namespaces {
        let n = "n\(i)"
        out.append(["ip", "netns", "add", n])
        out.append(["ip", "link", "add", "v\(i)", "type", "veth", "peer", "name", "eth0", "netns", n])
        out.append(["ip", "link", "set", "v\(i)", "up"])
        out.append(["ip", "-n", n, "link", "set", "lo", "up"])
        out.append(["ip", "-n", n, "link", "set", "eth0", "up"])
        out.append(["ip", "-n", n, "addr", "add", "10.\(i / 250).\(i % 250).2/24", "dev", "eth0"])
        for k in 0..<routesPer {
            out.append(["ip", "-n", n, "route", "add", "172.\(16 + k / 65536).\((k / 256) % 256).\(k % 256)/32",
                        "via", "10.\(i / 250).\(i % 250).1"])
        }
    }
    return out
}

let script = lines()
let commandCount = script.count

@MainActor func check(_ stack: Stack) {
    var routes = 0
    for ns in stack.namespaces where !ns.name.isEmpty {
        routes += ns.routing.tables[RouteTableID.main]?.prefixCount(ipv4: true) ?? 0
    }
    let expected = namespaces * (routesPer + 1)  // + the connected /24
    if stack.namespaces.count != namespaces + 1 || routes != expected {
        print("ERROR: \(stack.namespaces.count - 1) namespaces, \(routes) main-table routes (expected \(expected))")
        exit(1)
    }
}

// (1) The ip command runner, argv per line.
var bestRunner = Double.infinity
for _ in 0..<3 {
    let s = now()
    let stack = Stack(seed: 1)
    for argv in script {
        var argv = argv
        argv.removeFirst()
        var ns = stack.initial
        if argv.first == "-n" {
            ns = stack.namespace(named: argv[1])!
            argv.removeFirst(2)
        }
        let r = IPCommand.run(argv, stack: stack, namespace: ns)
        if r.status != 0 { print("ERROR: ip \(argv.joined(separator: " ")): \(r.stderr)"); exit(1) }
    }
    let e = now() - s
    check(stack)
    bestRunner = min(bestRunner, e)
}
print("ip command runner: \(namespaces) namespaces × \(routesPer) routes (\(commandCount) commands) in \(fmt(bestRunner, 3)) s"
      + " (\(fmt(bestRunner / Double(commandCount) * 1e6, 2)) µs/command)")

// (2) The lab interpreter on the generated script.
let source = script.map { $0.joined(separator: " ") }.joined(separator: "\n") + "\n"
var bestLab = Double.infinity
for _ in 0..<3 {
    let s = now()
    let world = StackLabWorld(seed: 1)
    let capture = LabCapture()
    let lab = LabInterpreter(world: world, sink: capture)
    let status = lab.run(source: source)
    let e = now() - s
    if status != 0 { print("ERROR: lab exit \(status): \(capture.stderr.prefix(400))"); exit(1) }
    check(world.stack)
    bestLab = min(bestLab, e)
}
print("lab script: \(namespaces) namespaces × \(routesPer) routes (\(source.utf8.count / 1024) KiB script) in \(fmt(bestLab, 3)) s"
      + " (\(fmt(bestLab / Double(commandCount) * 1e6, 2)) µs/line)")
