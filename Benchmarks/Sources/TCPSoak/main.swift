// TCP soak: the stress harness of Tests/NetstackTests (TCPStressHarness.swift,
// symlinked here) at full size in release. Every transfer case must arrive
// intact (FNV-1a digests of what was written and read match) and leave the
// pool and socket tables as they were; the SYN flood must let every
// legitimate client through; churn must return to baseline. Exits non-zero
// on any mismatch, stall or leak.
//
//   swift build -c release --product TCPSoak
//   .build/release/TCPSoak [--mb N] [--churn N] [--flood-rate N] [--flood-seconds N] [--only NAME] [-v]
//
// Defaults: 100 MB per transfer case, 100,000 churn cycles, 10,000 spoofed
// SYNs per virtual second for 10 s.
import BenchSupport
import Netstack
import NetWire
#if canImport(Glibc)
import Glibc
#endif

var megabytes = 100
var churnCycles = 100_000
var floodRate = 10_000
var floodSeconds = 10
var only: String?
var verbose = false
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    func value() -> Int {
        guard let v = args.popFirst().flatMap({ Int($0) }) else { print("\(a) needs a number"); exit(2) }
        return v
    }
    switch a {
    case "--mb": megabytes = value()
    case "--churn": churnCycles = value()
    case "--flood-rate": floodRate = value()
    case "--flood-seconds": floodSeconds = value()
    case "--only": only = args.popFirst()
    case "-v", "--verbose": verbose = true
    default:
        print("usage: TCPSoak [--mb N] [--churn N] [--flood-rate N] [--flood-seconds N] [--only transfer|flood|churn|CASE] [-v]")
        exit(2)
    }
}

func seconds(_ d: TimeDelta) -> Double { Double(d.nanoseconds) / 1e9 }
func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }

var failures = 0
let bytes = megabytes * 1_000_000

let runTransfers = only == nil || only == "transfer" || SoakCase.matrix.contains { $0.name == only }
if runTransfers {
    print("### Transfers a → b over a veth with netem on both ends, \(megabytes) MB each (release)")
    print(pad("case", 52) + lpad("MB", 6) + lpad("virtual s", 11) + lpad("MB/vs", 9) + lpad("retrans", 9)
          + lpad("RTOs", 6) + lpad("csum err", 9) + lpad("wall s", 8) + "  result")
    let pattern = SoakPattern(seed: 11)
    for (i, c) in SoakCase.matrix.enumerated() where only == nil || only == "transfer" || only == c.name {
        let t0 = now()
        let r = soakTransfer(c, bytes: bytes, seed: UInt64(100 + i), pattern: pattern)
        let wall = now() - t0
        var verdict = "ok"
        if !r.intact {
            verdict = "FAIL: " + (r.failure ?? "digest \(String(r.receivedHash, radix: 16)) != \(String(r.sentHash, radix: 16)), \(r.received) of \(r.bytes) bytes")
        } else if !r.clean {
            verdict = "FAIL: leak: pool \(r.poolAfter)/\(r.poolBefore), sockets a \(r.socketsAfter.a) b \(r.socketsAfter.b)"
        } else if r.checksumErrors != 0 && (c.forward?.corrupt ?? 0) == 0 && (c.reverse?.corrupt ?? 0) == 0 {
            // Nothing corrupts packets: a failed checksum is a bug (a segment
            // sent without the checksum it claims).
            verdict = "FAIL: \(r.checksumErrors) checksum errors without corruption"
        }
        if verdict != "ok" { failures += 1 }
        print(pad(c.name, 52) + lpad(fmt(Double(r.received) / 1e6, 1), 6) + lpad(fmt(seconds(r.virtualTime), 2), 11)
              + lpad(fmt(r.goodput, 2), 9) + lpad("\(r.retransmits)", 9) + lpad("\(r.timeouts)", 6)
              + lpad("\(r.checksumErrors)", 9) + lpad(fmt(wall, 2), 8) + "  " + verdict)
        if verbose { for s in r.samples { print("    " + s) } }
    }
}

if only == nil || only == "flood" {
    print()
    print("### SYN flood: \(floodRate) spoofed SYNs per virtual second for \(floodSeconds) s, a legitimate client every 100 ms (tcp_syncookies=1, backlog 128)")
    let t0 = now()
    let r = soakSynFlood(seed: 3, synsPerSecond: floodRate, duration: .seconds(Int64(floodSeconds)))
    let wall = now() - t0
    print("spoofed SYNs \(r.spoofedSyns), SYN queue peak \(r.maxSynQueue), cookies sent \(r.cookiesSent), cookies accepted \(r.cookiesReceived), listen drops \(r.listenDrops)")
    print("legitimate clients \(r.legitimate), completed \(r.completed), wall \(fmt(wall, 2)) s")
    let ok = r.failed.isEmpty && r.completed == r.legitimate && r.legitimate > 0 && r.poolAfter == r.poolBefore
        && r.socketsAfter.a == 0 && r.socketsAfter.b == 0
    if !ok {
        failures += 1
        print("FAIL: \(r.failed.prefix(5)) pool \(r.poolAfter)/\(r.poolBefore), sockets a \(r.socketsAfter.a) b \(r.socketsAfter.b)")
    } else {
        print("ok")
    }
}

if only == nil || only == "churn" {
    print()
    print("### Churn: \(churnCycles) connect / 100-byte request / 100-byte answer / close cycles, 100 at a time")
    let t0 = now()
    let r = soakChurn(cycles: churnCycles, concurrency: 100, seed: 5)
    let wall = now() - t0
    print("cycles \(r.cycles), virtual \(fmt(seconds(r.virtualTime), 1)) s, wall \(fmt(wall, 2)) s, peak sockets a \(r.peakSockets.a) b \(r.peakSockets.b)")
    print("after TIME-WAIT: pool \(r.poolAfter)/\(r.poolBefore), sockets a \(r.socketsAfter.a)/\(r.socketsBefore.a) b \(r.socketsAfter.b)/\(r.socketsBefore.b)")
    let ok = r.failures == 0 && r.cycles == churnCycles && r.poolAfter == r.poolBefore
        && r.socketsAfter.a == r.socketsBefore.a && r.socketsAfter.b == r.socketsBefore.b
    if !ok {
        failures += 1
        print("FAIL: \(r.failures) failures, first: \(r.firstFailure ?? "-")")
    } else {
        print("ok")
    }
}

if failures > 0 {
    print("\n\(failures) FAILED")
    exit(1)
}
