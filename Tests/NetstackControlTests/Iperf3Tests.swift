// `iperf3` in the lab: client and server against each other through lab
// scripts (text and -J output), the bytes the client puts on the control
// connection (checked against a hand-driven fake server), and iperf3's
// errors for bad arguments.
import Foundation
import Netstack
import NetstackControl
import Testing

@Suite("iperf3")
struct Iperf3Tests {
    static let twoHosts = LabHosts.script()

    static func run(_ body: String) -> (status: Int32, stdout: String, stderr: String, world: StackLabWorld) {
        LabHosts.run(body, seed: 7)
    }

    /// The client's JSON document: the text from the first "{" at a line start.
    static func clientJSON(_ out: String) throws -> [String: Any] {
        let start = try #require(out.range(of: "\n{\n")?.lowerBound ?? (out.hasPrefix("{") ? out.startIndex : nil))
        let text = String(out[start...])
        let data = try #require(text.data(using: .utf8))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func tcpTextOutput() {
        let r = Self.run("""
            ip netns exec b iperf3 -s -1 > /tmp/ignored-server-output &
            sleep 1
            ip netns exec a iperf3 -c 10.0.0.2 -t 2
            echo "client: $?"
            wait
            echo "server: $?"
            """)
        #expect(r.status == 0)
        let out = r.stdout
        #expect(out.contains("Connecting to host 10.0.0.2, port 5201\n"))
        #expect(out.contains("[  5] local 10.0.0.1 port "))
        #expect(out.contains(" connected to 10.0.0.2 port 5201\n"))
        #expect(out.contains("[ ID] Interval           Transfer     Bitrate         Retr  Cwnd\n"))
        #expect(out.contains("[  5]   0.00-1.00   sec "))
        #expect(out.contains("[  5]   1.00-2.00   sec "))
        #expect(out.contains("- - - - - - - - - - - - - - - - - - - - - - - - -\n[ ID] Interval           Transfer     Bitrate         Retr\n"))
        #expect(out.contains("[  5]   0.00-2.00   sec "))
        #expect(out.contains("sender\n"))
        #expect(out.contains("receiver\n\niperf Done.\nclient: 0\nserver: 0\n"))
        // The sender and receiver lines report the same transfer.
        let summary = out.split(separator: "\n").filter { $0.hasSuffix("sender") || $0.hasSuffix("receiver") }
        #expect(summary.count == 2)
        if summary.count == 2 {
            let field = { (s: Substring) in s.dropFirst(24).prefix(12) }
            #expect(field(summary[0]) == field(summary[1]))
        }
    }

    @Test func serverTextOutput() {
        let r = Self.run("""
            ip netns exec b iperf3 -s -1 &
            sleep 1
            ip netns exec a iperf3 -c 10.0.0.2 -t 1 > /dev/null
            wait
            """)
        let out = r.stdout
        #expect(out.hasPrefix("-----------------------------------------------------------\nServer listening on 5201 (test #1)\n-----------------------------------------------------------\n"))
        #expect(out.contains("Accepted connection from 10.0.0.1, port "))
        #expect(out.contains("[  5] local 10.0.0.2 port 5201 connected to 10.0.0.1 port "))
        #expect(out.contains("[ ID] Interval           Transfer     Bitrate\n"))
        #expect(out.contains("receiver\n"))
        #expect(!out.contains("sender\n"))
    }

    @Test func tcpJSONSentEqualsReceived() throws {
        let r = Self.run("""
            ip netns exec b iperf3 -s -1 > /dev/null &
            sleep 1
            ip netns exec a iperf3 -c 10.0.0.2 -t 2 -J
            wait
            """)
        let j = try Self.clientJSON(r.stdout)
        let start = try #require(j["start"] as? [String: Any])
        let testStart = try #require(start["test_start"] as? [String: Any])
        #expect(testStart["protocol"] as? String == "TCP")
        #expect(testStart["duration"] as? Int == 2)
        #expect((start["cookie"] as? String)?.count == 36)
        let connected = try #require(start["connected"] as? [[String: Any]])
        #expect(connected.first?["remote_port"] as? Int == 5201)
        let intervals = try #require(j["intervals"] as? [[String: Any]])
        #expect(intervals.count == 2)
        let end = try #require(j["end"] as? [String: Any])
        let sent = try #require(end["sum_sent"] as? [String: Any])
        let received = try #require(end["sum_received"] as? [String: Any])
        let sentBytes = try #require(sent["bytes"] as? Int)
        #expect(sentBytes > 0)
        #expect(sentBytes == received["bytes"] as? Int)
        let intervalBytes = intervals.compactMap { ($0["sum"] as? [String: Any])?["bytes"] as? Int }.reduce(0, +)
        #expect(intervalBytes == sentBytes)
    }

    @Test func reverseMode() throws {
        let r = Self.run("""
            ip netns exec b iperf3 -s -1 > /dev/null &
            sleep 1
            ip netns exec a iperf3 -c 10.0.0.2 -t 1 -R -J
            wait
            """)
        let j = try Self.clientJSON(r.stdout)
        let end = try #require(j["end"] as? [String: Any])
        let streams = try #require(end["streams"] as? [[String: Any]])
        let sender = try #require(streams.first?["sender"] as? [String: Any])
        let receiver = try #require(streams.first?["receiver"] as? [String: Any])
        #expect(sender["sender"] as? Bool == false)
        let bytes = try #require(receiver["bytes"] as? Int)
        #expect(bytes > 0)
        #expect(bytes == sender["bytes"] as? Int)
        let text = Self.run("""
            ip netns exec b iperf3 -s -1 > /dev/null &
            sleep 1
            ip netns exec a iperf3 -c 10.0.0.2 -t 1 -R
            wait
            """).stdout
        #expect(text.contains("Reverse mode, remote host 10.0.0.2 is sending\n"))
        #expect(text.contains("[ ID] Interval           Transfer     Bitrate\n[  5]   0.00-1.00"))
    }

    @Test func udpAtTenMegabits() throws {
        let r = Self.run("""
            ip netns exec b iperf3 -s -1 > /dev/null &
            sleep 1
            ip netns exec a iperf3 -c 10.0.0.2 -u -b 10M -t 2
            wait
            """)
        #expect(r.stdout.contains("[ ID] Interval           Transfer     Bitrate         Total Datagrams\n"))
        #expect(r.stdout.contains("[ ID] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams\n"))
        #expect(r.stdout.contains("  10.0 Mbits/sec"))
        #expect(r.stdout.contains(" ms  0/"))
        let j = try Self.clientJSON(Self.run("""
            ip netns exec b iperf3 -s -1 > /dev/null &
            sleep 1
            ip netns exec a iperf3 -c 10.0.0.2 -u -b 10M -t 2 -J
            wait
            """).stdout)
        let end = try #require(j["end"] as? [String: Any])
        let sum = try #require(end["sum_received"] as? [String: Any])
        let bps = try #require(sum["bits_per_second"] as? Double)
        #expect(bps > 9.5e6 && bps < 10.5e6)
        #expect(sum["lost_packets"] as? Int == 0)
        let sent = try #require(end["sum_sent"] as? [String: Any])
        #expect((sent["packets"] as? Int ?? 0) > 1600)
    }

    @Test func parallelStreamsSum() throws {
        let r = Self.run("""
            ip netns exec b iperf3 -s -1 > /dev/null &
            sleep 1
            ip netns exec a iperf3 -c 10.0.0.2 -P 2 -t 1 -J
            wait
            """)
        let j = try Self.clientJSON(r.stdout)
        let end = try #require(j["end"] as? [String: Any])
        let streams = try #require(end["streams"] as? [[String: Any]])
        #expect(streams.count == 2)
        let each = streams.compactMap { ($0["sender"] as? [String: Any])?["bytes"] as? Int }
        let sum = try #require((end["sum_sent"] as? [String: Any])?["bytes"] as? Int)
        #expect(each.count == 2 && each.allSatisfy { $0 > 0 })
        #expect(each.reduce(0, +) == sum)
        let text = Self.run("""
            ip netns exec b iperf3 -s -1 > /dev/null &
            sleep 1
            ip netns exec a iperf3 -c 10.0.0.2 -P 2 -t 1
            wait
            """).stdout
        #expect(text.contains("[  7] local 10.0.0.1 port "))
        #expect(text.contains("[SUM]   0.00-1.00   sec "))
    }

    @Test func badArguments() {
        var r = Self.run("iperf3\necho $?")
        #expect(r.stderr == "iperf3: parameter error - must either be a client (-c) or server (-s)\n\n")
        #expect(r.stdout.hasPrefix("Usage: iperf3 [-s|-c host] [options]\n"))
        #expect(r.stdout.hasSuffix("1\n"))
        r = Self.run("iperf3 -c 10.0.0.2 -p 0\necho $?")
        #expect(r.stderr == "iperf3: parameter error - port number must be between 1 and 65535 inclusive\n\n")
        r = Self.run("iperf3 -s -u\necho $?")
        #expect(r.stderr == "iperf3: parameter error - some option you are trying to set is client only\n\n")
        r = Self.run("iperf3 -c 10.0.0.2 -P 200")
        #expect(r.stderr == "iperf3: parameter error - number of parallel streams too large (maximum = 128)\n\n")
        r = Self.run("iperf3 -x\necho $?")
        #expect(r.stderr.hasPrefix("iperf3: invalid option -- 'x'\nUsage: iperf3"))
        #expect(r.stdout == "1\n")
        r = Self.run("ip netns exec a iperf3 -c 10.0.0.2 -p 5999\necho $?")
        #expect(r.stderr == "iperf3: error - unable to connect to server: Connection refused\n")
        #expect(r.stdout == "1\n")
    }

    // MARK: protocol transcript against a hand-driven server

    @Test func controlConnectionTranscript() throws {
        let world = StackLabWorld(seed: 3)
        let capture = LabCapture()
        _ = LabInterpreter(world: world, sink: capture).run(source: Self.twoHosts)
        let a = try #require(world.stack.namespace(named: "a"))
        let b = try #require(world.stack.namespace(named: "b"))
        let listener = b.tcpSocket()
        try listener.bind(nil, port: 5201)
        try listener.listen(backlog: 4)
        let client = Iperf3Process(argv: ["iperf3", "-c", "10.0.0.2", "-t", "3", "-l", "64K"], namespace: a)
        var out = ToolOutput()
        var conn: TCPSocket?
        var received: [UInt8] = []
        var state = client.poll(now: world.now, output: &out)
        func step() throws {
            world.advance(until: world.now + .milliseconds(1))
            state = client.poll(now: world.now, output: &out)
            if conn == nil { conn = try listener.accept() }
            if let c = conn, let bytes = try? c.receive(max: 65536) { received += bytes }
        }
        for _ in 0..<50 where received.count < 37 { try step() }
        // The cookie: 36 characters of [a-z2-7] and a NUL.
        #expect(received.count == 37)
        #expect(received.last == 0)
        let allowed = Set("abcdefghijklmnopqrstuvwxyz234567".utf8)
        #expect(received.dropLast().allSatisfy { allowed.contains($0) })
        received = []
        _ = try conn?.send([9])  // PARAM_EXCHANGE
        for _ in 0..<50 {
            try step()
            if received.count >= 4 {
                let n = Int(received[0]) << 24 | Int(received[1]) << 16 | Int(received[2]) << 8 | Int(received[3])
                if received.count >= 4 + n { break }
            }
        }
        #expect(received.count > 4)
        let n = Int(received[0]) << 24 | Int(received[1]) << 16 | Int(received[2]) << 8 | Int(received[3])
        #expect(received.count == 4 + n)
        let body = Data(received.dropFirst(4))
        let params = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        #expect(params["tcp"] as? Bool == true)
        #expect(params["omit"] as? Int == 0)
        #expect(params["time"] as? Int == 3)
        #expect(params["num"] as? Int == 0)
        #expect(params["blockcount"] as? Int == 0)
        #expect(params["parallel"] as? Int == 1)
        #expect(params["len"] as? Int == 65536)
        #expect(params["pacing_timer"] as? Int == 1000)
        #expect(params["client_version"] as? String == "3.12")
        #expect(params["reverse"] == nil)
        // Compact JSON in iperf3's key order.
        let text = String(decoding: body, as: UTF8.self)
        #expect(text == #"{"tcp":true,"omit":0,"time":3,"num":0,"blockcount":0,"parallel":1,"len":65536,"pacing_timer":1000,"client_version":"3.12"}"#)
        #expect(out.stdout == "Connecting to host 10.0.0.2, port 5201\n")
        // ACCESS_DENIED ends the client with iperf3's message.
        _ = try conn?.send([0xFF])
        for _ in 0..<20 { if case .exited = state { break }; try step() }
        #expect(state == .exited(1))
        #expect(out.stderr == "iperf3: error - the server is busy running a test. try again later\n")
    }
}
