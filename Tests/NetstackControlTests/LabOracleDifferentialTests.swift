// The interpreter against bash itself: scripts that use only the shell (no
// network commands) must print the same bytes and exit with the same status
// in the lab and on Linux (LinuxOracle).
import Netstack
import NetstackControl
import NetstackTesting
import Testing

/// A world with no commands: only the interpreter's builtins run.
final class EmptyLabWorld: LabWorld {
    var now = Instant.zero
    var nextEventTime: Instant? { nil }
    func advance(until: Instant) { now = until }
    func namespaceExists(_ name: String) -> Bool { false }
    func spawn(_ argv: [String], namespace: String?, stdin: [UInt8]) -> LabProcess? { nil }
}

@Suite("Lab interpreter vs bash", .serialized)
struct LabOracleDifferentialTests {
    static let scripts: [String] = [
        // words, quoting, expansion
        #"""
        X="two  words"; Y=
        printf '[%s]\n' 'a b' "c $X" d\ e $X "" '$X' "\$X \"q\"" ${X}s $Y "$Y" ${Y:-dflt} ${#X}
        echo -n a; echo -e 'b\tc'; echo -e 'x\c' ignored; echo
        printf '%5s|%-4d|%03d|%x|%%\n' ab 7 5 255
        printf '%s-%s\n' 1 2 3
        echo $((7 / 2)) $((7 % 3)) $((2 ** 10)) $(( (1 + 2) * -3 )) $((1 < 2 && 3 > 4))
        echo "$(echo inner; echo lines)" $(printf 'a\nb\n')
        """#,
        // control flow, functions, statuses
        #"""
        f() { local v=$1; echo "f $v $#"; return 4; }
        f one two; echo "st $?"; echo "v=${v-unset}"
        for i in 1 2 3; do if [ $i -eq 2 ]; then continue; fi; echo "i$i"; done
        n=0; while [ $n -lt 5 ]; do n=$((n + 1)); [ $n -eq 3 ] && break; done; echo "n=$n"
        until [ $n -eq 0 ]; do n=$((n - 1)); done; echo "n=$n"
        false || echo "or $?"; true && echo and; ! true; echo "neg $?"
        if false; then echo no; elif [ -z "" ]; then echo elif; else echo else; fi
        [ a = b ]; echo "test $?"; [ 1 -lt ]; echo "bad test $?"
        ( X=sub; exit 6 ); echo "subshell $? X=${X-unset}"
        { echo grouped; echo two; } > g.txt; cat g.txt
        """#,
        // errors, set -e, unknown commands
        #"""
        echo start
        nope arg
        echo "after $?"
        cat missing.txt
        set -e
        false && echo no
        if false; then :; fi
        echo still
        ( exit 0 )
        sleep bad
        echo never
        """#,
        // set -u
        "set -u\necho ${UNSET:-ok}\necho $UNSET\necho never",
        // here-documents, pipes, redirections
        #"""
        V=val
        cat <<EOF
        expanded $V $((1+1))
        EOF
        cat <<'EOF'
        literal $V
        EOF
        cat <<-EOF
        	tabs stripped
        	EOF
        echo piped | cat | cat
        echo to-stderr >&2
        echo both &> both.txt; cat both.txt
        cat < both.txt
        cat <<< "here $V"
        echo x > /dev/null; echo "dev null $?"
        cat nope 2>&1 | cat
        """#,
        // jobs and time (statuses only: no time printed; job numbers only
        // where bash's job-table cleanup is not a race)
        #"""
        sleep 0.2 &
        p=$!
        sleep 0.1 &
        wait $p; echo "wait pid $?"
        wait
        sleep 5 &
        kill %1
        wait %1; echo "killed $?"
        sleep 5 &
        sleep 0.05
        kill -INT $!
        kill -s TERM $!
        wait $!; echo "int ignored, then term $?"
        kill %5; echo "kill none $?"
        wait 99999; echo "wait none $?"
        sleep 0.05; echo done
        """#,
        // set -x traces
        "set -x\necho 'a b' c\nX=1\ntrue && echo $X\nset +x\necho quiet",
        "exit 300",
    ]

    @Test(.enabled(if: LinuxOracle.isAvailable), arguments: scripts.indices)
    func sameOutputAsBash(_ index: Int) {
        let script = Self.scripts[index]
        let linux = LinuxOracle.run(script: script, timeout: .seconds(20))
        let capture = LabCapture()
        let lab = LabInterpreter(world: EmptyLabWorld(), sink: capture).run(source: script)
        #expect(capture.stdout == OracleNormalize.output(linux.stdout), "stdout of script \(index)")
        #expect(capture.stderr == OracleNormalize.output(linux.stderr), "stderr of script \(index)")
        #expect(lab == linux.status, "status of script \(index)")
    }
}
