// The Linux kernel as an oracle: run a lab script with bash on the real
// kernel, isolated, and return what it printed — for differential tests that
// run the same script here (`LabInterpreter`) and compare (after
// `OracleNormalize`).
//
// Isolation. The script runs as
//
//     unshare --mount --net --pid --fork --kill-child --mount-proc --propagation private \
//       bash -c 'mount -t tmpfs … /run/netns && cd WORKDIR && exec bash -c SCRIPT NAME'
//
// - its own mount namespace with a private tmpfs on /run/netns: `ip netns add`
//   names live there only, so they cannot collide with the host's or another
//   run's, and they vanish with the mount namespace;
// - its own network namespace: commands without `ip netns exec`/`-n` act on a
//   fresh namespace (only `lo`, DOWN), never on the host's;
// - its own PID namespace with bash as PID 1: when the script ends, the
//   kernel kills every process it left behind (background `ping`, `nc -l`…),
//   which is also what the lab interpreter does; `$$` is 1 in both;
// - its own process group: on timeout the whole group is killed by PGID;
// - an empty temporary working directory (removed afterwards): `> FILE`
//   writes there, unmatched globs stay literal;
// - `LC_ALL=C`, stdin from /dev/null, a fixed PATH.
//
// Error messages name the script as `NAME: line N: …`, as the interpreter
// does with the same `scriptName`.
//
// This file is test support: it spawns processes and reads the clock, which
// nothing in Netstack may do.
#if canImport(Glibc)
import Glibc

public enum LinuxOracle {
    /// What the script printed and its exit status.
    public struct Result: Equatable, Sendable {
        public var stdout: String
        public var stderr: String
        public var status: Int32
        /// The run was killed at the timeout (status is then 128+9).
        public var timedOut: Bool
    }

    static let searchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// Root, and `ip`, `unshare`, `mount` and `bash` present: differential
    /// tests use `.enabled(if: LinuxOracle.isAvailable)`.
    public static var isAvailable: Bool {
        geteuid() == 0 && ["ip", "unshare", "mount", "bash"].allSatisfy { find($0) != nil }
    }

    /// Finds an executable in the fixed PATH.
    static func find(_ name: String) -> String? {
        for dir in searchPath.split(separator: ":") {
            let path = "\(dir)/\(name)"
            if access(path, X_OK) == 0 { return path }
        }
        return nil
    }

    /// Runs `script` with bash on the kernel, isolated as described above.
    /// Never leaves a process or a namespace behind; on `timeout` the whole
    /// process group is killed.
    public static func run(script: String, scriptName: String = "lab.sh", timeout: Duration = .seconds(30)) -> Result {
        guard let unshare = find("unshare"), let bash = find("bash") else {
            return Result(stdout: "", stderr: "LinuxOracle: unshare or bash not found\n", status: 127, timedOut: false)
        }
        var template = Array("/tmp/netstack-oracle-XXXXXX".utf8CString)
        guard let dirPointer = mkdtemp(&template) else {
            return Result(stdout: "", stderr: "LinuxOracle: mkdtemp failed\n", status: 126, timedOut: false)
        }
        let workdir = String(cString: dirPointer)
        defer { removeTree(workdir) }
        let wrapper = #"mkdir -p /run/netns && mount -t tmpfs -o mode=0755 netstack-oracle /run/netns && cd "$3" && exec bash -c "$1" "$2""#
        let argv = [unshare, "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
                    "--propagation", "private", "--", bash, "-c", wrapper, "oracle", script, scriptName, workdir]
        let env = ["PATH=\(searchPath)", "LC_ALL=C", "LANG=C", "TERM=dumb", "HOME=\(workdir)"]
        return spawnAndCollect(argv: argv, env: env, timeout: timeout)
    }

    // MARK: - Process plumbing

    private static func spawnAndCollect(argv: [String], env: [String], timeout: Duration) -> Result {
        var out: [Int32] = [-1, -1]
        var err: [Int32] = [-1, -1]
        guard pipe(&out) == 0, pipe(&err) == 0 else {
            return Result(stdout: "", stderr: "LinuxOracle: pipe failed\n", status: 126, timedOut: false)
        }
        // Close-on-exec: only the dup2'd copies reach the child.
        for fd in out + err { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, err[1], 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Own process group (killed by PGID), default signal dispositions and
        // an empty mask whatever the test runner set.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup($0) } + [nil]
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        close(out[1])
        close(err[1])
        guard spawned == 0 else {
            close(out[0])
            close(err[0])
            return Result(stdout: "", stderr: "LinuxOracle: posix_spawn failed (\(spawned))\n", status: 126, timedOut: false)
        }

        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var stdoutBytes: [UInt8] = []
        var stderrBytes: [UInt8] = []
        var open = [out[0], err[0]]
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !open.isEmpty {
            let left = deadline - clock.now
            if left <= .zero && !timedOut {
                timedOut = true
                kill(-pid, SIGKILL)
            }
            // After a kill, keep draining briefly: the pipes close as the
            // group dies.
            let waitMs: Int32 = timedOut ? 2000 : Int32(clamping: max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let n = poll(&fds, nfds_t(fds.count), waitMs)
            if n < 0 && errno == EINTR { continue }
            if n == 0 && timedOut { break }
            for f in fds where f.revents != 0 {
                let count = read(f.fd, &buffer, buffer.count)
                if count > 0 {
                    if f.fd == out[0] { stdoutBytes += buffer[0..<count] } else { stderrBytes += buffer[0..<count] }
                } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                    close(f.fd)
                    open.removeAll { $0 == f.fd }
                }
            }
        }
        for fd in open { close(fd) }

        // Wait without reaping, kill whatever is left in the group while its
        // leader (a zombie at worst) keeps the PGID from being reused, then reap.
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
        kill(-pid, SIGKILL)
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        let status: Int32 = (raw & 0x7F) == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F)
        return Result(stdout: String(decoding: stdoutBytes, as: UTF8.self),
                      stderr: String(decoding: stderrBytes, as: UTF8.self),
                      status: status, timedOut: timedOut)
    }

    /// Removes the (flat, small) working directory the script wrote in.
    private static func removeTree(_ path: String) {
        if let dir = opendir(path) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name == "." || name == ".." { continue }
                let child = path + "/" + name
                if unlink(child) != 0 { removeTree(child) }
            }
            closedir(dir)
        }
        rmdir(path)
    }

    /// Names in the host's /run/netns (to check that a run leaked nothing).
    public static func hostNamespaceNames() -> [String] {
        guard let dir = opendir("/run/netns") else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}
#endif
