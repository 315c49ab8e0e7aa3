import Netstack
import NetstackControl
import Testing

@Suite("Lab interpreter")
struct LabInterpreterTests {
    // MARK: words

    @Test func quotingAndExpansion() {
        let r = runLab(#"""
        X="two words"
        printf '[%s]\n' 'a b' "c $X" d\ e $X "" '$X' "\$X \"q\"" ${X}s
        echo -n no-newline; echo
        echo -e 'tab\there'
        """#)
        #expect(r.status == 0)
        #expect(r.stdout == """
        [a b]
        [c two words]
        [d e]
        [two]
        [words]
        []
        [$X]
        [$X "q"]
        [two]
        [wordss]
        no-newline
        tab\there

        """)
    }

    @Test func lineContinuationCommentsAndDefaults() {
        let r = runLab("""
        # a comment
        echo one \\
          two   # trailing comment

        echo ${UNSET:-dflt} ${#X} "${Y-unset}"
        """)
        #expect(r.stdout == "one two\ndflt 0 unset\n")
    }

    @Test func commandSubstitutionArithmeticAndLoops() {
        let r = runLab("""
        n=$(echo 3)
        echo $((n * 2 + 1)) $(( (1 + 2) % 2 ))
        for i in $(seq 1 $n); do echo "i=$i"; done
        count=0
        while [ $count -lt 2 ]; do count=$((count + 1)); done
        echo count=$count
        if [ "$n" = 4 ]; then echo four; elif [ "$n" -eq 3 ]; then echo three; else echo other; fi
        greet() { local who=$1; echo "hello $who ($#)"; return 3; }
        greet world x
        echo "status $? who=${who:-none}"
        """)
        #expect(r.stdout == "7 1\ni=1\ni=2\ni=3\ncount=2\nthree\nhello world (2)\nstatus 3 who=none\n")
    }

    // MARK: lists and errors

    @Test func andOrLists() {
        let r = runLab("""
        true && echo yes1
        false && echo no1
        false || echo yes2
        true || echo no2
        fail 3 || echo "after fail: $?"
        ! false && echo negated
        """)
        #expect(r.stdout == "yes1\nyes2\nafter fail: 3\nnegated\n")
        #expect(r.stderr == "fail 3\n")
        #expect(r.status == 0)
    }

    @Test func errexitStopsAtTheFirstFailureWithItsStatus() {
        let r = runLab("""
        set -e
        false || true
        if fail 4; then echo no; fi
        fail 5 && echo no
        echo before
        fail 7
        echo after
        """)
        #expect(r.status == 7)
        #expect(r.stdout == "before\n")
        #expect(r.stderr == "fail 4\nfail 5\nfail 7\n")
    }

    @Test func withoutErrexitTheScriptContinuesAndExitSetsTheStatus() {
        let r = runLab("fail 7\necho after $?\nexit 3\necho never")
        #expect(r.status == 3)
        #expect(r.stdout == "after 7\n")
    }

    @Test func unknownCommandIsReportedLikeBash() {
        let r = runLab("echo a\nnope arg\necho $?", options: named("t.sh"))
        #expect(r.stdout == "a\n127\n")
        #expect(r.stderr == "t.sh: line 2: nope: command not found\n")
    }

    @Test func nounsetAndXtrace() {
        let r = runLab("set -x\necho 'a b' c\nset +x -u\necho $MISSING\necho never")
        #expect(r.stderr == "+ echo 'a b' c\n+ set +x -u\nlab.sh: line 4: MISSING: unbound variable\n")
        #expect(r.status == 127)
        #expect(r.stdout == "a b c\n")
    }

    // MARK: time and jobs

    @Test func sleepAdvancesVirtualTime() {
        let r = runLab("now\nsleep 1.5\nnow\nsleep 0.25 0.25\nnow\nsleep 1m\nnow")
        #expect(r.stdout == "0.000000\n1.500000\n2.000000\n62.000000\n")
        // Virtual: the world was advanced straight to each deadline.
        #expect(r.world.advances == [Instant(nanoseconds: 1_500_000_000), Instant(nanoseconds: 2_000_000_000),
                                     Instant(nanoseconds: 62_000_000_000)])
    }

    @Test func invalidSleepIntervalFailsLikeCoreutils() {
        let r = runLab("sleep 1x")
        #expect(r.status == 1)
        #expect(r.stderr == "sleep: invalid time interval '1x'\nTry 'sleep --help' for more information.\n")
    }

    @Test func backgroundOutputInterleavesInVirtualTimeOrder() {
        let r = runLab("""
        tick 3 1 A &
        tick 2 1.5 B &
        sleep 2.5
        echo "mid $(now)"
        wait
        echo "end $(now)"
        """)
        #expect(r.stdout == """
        A 1 1.000000
        B 1 1.500000
        A 2 2.000000
        mid 2.500000
        A 3 3.000000
        B 2 3.000000
        end 3.000000

        """)
    }

    @Test func waitReturnsTheJobStatus() {
        let r = runLab("""
        tick 1 2 &
        pid=$!
        wait $pid
        echo "status $? at $(now)"
        fail 9 2>/dev/null &
        wait %1
        echo "status $?"
        wait 4242
        echo "status $?"
        """)
        #expect(r.stdout == "tick 1 2.000000\nstatus 0 at 2.000000\nstatus 9\nstatus 127\n")
        #expect(r.stderr == "lab.sh: line 8: wait: pid 4242 is not a child of this shell\n")
    }

    @Test func killTerminatesAJob() {
        let r = runLab("""
        tick 100 1 &
        sleep 2.5
        kill %1
        wait %1
        echo "term status $?"
        tick 100 1 P &
        sleep 1
        kill -INT $!
        wait $!
        echo "int status $?"
        kill %1
        echo "kill again $?"
        """)
        #expect(r.stdout == """
        tick 1 1.000000
        tick 2 2.000000
        term status 143
        P 1 3.500000
        P stopped after 1
        int status 0
        kill again 1

        """)
        #expect(r.stderr == "lab.sh: line 11: kill: %1: no such job\n")
    }

    @Test func scriptEndKillsBackgroundJobsSilently() {
        let r = runLab("tick 100 1 &\nsleep 1.5\necho done")
        #expect(r.status == 0)
        #expect(r.stdout == "tick 1 1.000000\ndone\n")
        #expect(r.world.now == Instant(nanoseconds: 1_500_000_000))
    }

    @Test func networkEventsWakeProcesses() {
        let world = FakeLabWorld()
        world.events = [Instant(nanoseconds: 700_000_000), Instant(nanoseconds: 5_000_000_000)]
        let r = runLab("recv\nrecv &\nwait\nnow", world: world)
        #expect(r.stdout == "received at 0.700000\nreceived at 5.000000\n5.000000\n")
    }

    // MARK: namespaces, pipes, redirections

    @Test func ipNetnsExecSetsTheNamespace() {
        let r = runLab("""
        ns
        ip netns exec a ns
        ip netns exec a ip netns exec b ns
        ip netns exec b ip -n a link show
        ip -n a addr
        ip netns exec zz ns
        echo "status $?"
        ip netns exec a nope
        echo "status $?"
        ip netns exec a echo builtin-in-ns
        """)
        #expect(r.stdout == """
        -
        a
        b
        ip -n a link show ns=b
        ip -n a addr ns=-
        status 255
        status 1
        builtin-in-ns

        """)
        #expect(r.stderr == """
        Cannot open network namespace "zz": No such file or directory
        exec of "nope" failed: No such file or directory

        """)
    }

    @Test func pipesFeedStdin() {
        let r = runLab("""
        echo hello | upper
        printf 'a%s\\n' 1 2 | cat | upper
        upper <<EOF
        doc $((1 + 1))
        EOF
        upper <<'EOF'
        raw $X
        EOF
        upper <<< "here string"
        """)
        #expect(r.stdout == "HELLO\nA1\nA2\nDOC 2\nRAW $X\nHERE STRING\n")
    }

    @Test func redirectionsAndInMemoryFiles() {
        let r = runLab("""
        echo one > out.txt
        echo two >> out.txt
        fail 2 2>&1 >/dev/null | upper
        fail 3 2>/dev/null
        fail 4 > both.txt 2>&1
        echo visible >&2
        cat out.txt both.txt
        cat missing.txt
        upper < out.txt
        [ -s out.txt ] && echo nonempty
        """)
        #expect(r.stdout == "FAIL 2\none\ntwo\nfail 4\nONE\nTWO\nnonempty\n")
        #expect(r.stderr == "visible\ncat: missing.txt: No such file or directory\n")
        #expect(r.interpreter.files["out.txt"] == Array("one\ntwo\n".utf8))
    }

    // MARK: parse errors and bounds

    @Test func parseErrorsStopBeforeAnythingRuns() {
        for (script, line, fragment) in [
            ("ip link\ncase x in a) ;; esac", 2, "case"),
            ("ip link\necho 'unterminated\n\n", 2, "matching `''"),
            ("ip link\n\nfi", 3, "unexpected token `fi'"),
            ("ip link\n{ ip link; } &", 2, "background"),
            ("if true; then\n  echo x\n", 3, "unexpected end of file"),
            ("echo `date`", 1, "backquote"),
        ] {
            let r = runLab(script)
            #expect(r.status == 2, "\(script)")
            #expect(r.world.spawned.isEmpty, "nothing runs: \(script)")
            #expect(r.stderr.hasPrefix("lab.sh: line \(line): "), "\(script): \(r.stderr)")
            #expect(r.stderr.contains(fragment), "\(script): \(r.stderr)")
        }
    }

    @Test func aProcessThatNeverWakesIsReported() {
        let r = runLab("forever")
        #expect(r.status == 124)
        #expect(r.stderr.contains("line 1: `forever' would wait forever"))
    }

    @Test func virtualTimeLimitStopsLongRunsQuickly() {
        var options = LabOptions()
        options.timeLimit = .seconds(10)
        let r = runLab("echo start\ntick 1000000 0.001", options: options)
        #expect(r.status == 124)
        #expect(r.stderr.contains("virtual time limit of 10s exceeded"))
        #expect(r.world.now <= Instant(nanoseconds: 10_000_000_000))
        #expect(r.stdout.hasPrefix("start\ntick 1 0.001000\n"))
    }

    @Test func aSpinningProcessOrLoopHitsTheStepBounds() {
        var options = LabOptions()
        options.maxStepsPerInstant = 1000
        let spin = runLab("spin", options: options)
        #expect(spin.status == 124)
        #expect(spin.stderr.contains("without time moving"))

        options.maxSteps = 10_000
        let loop = runLab("while true; do :; done", options: options)
        #expect(loop.status == 124)
        #expect(loop.stderr.contains("step limit of 10000"))
    }

    @Test func sameScriptSameBytes() {
        let script = "tick 5 0.3 A &\ntick 4 0.4 B &\nfor i in 1 2 3; do sleep 0.35; echo $i; done\nwait"
        let a = runLab(script)
        let b = runLab(script)
        #expect(a.combined == b.combined)
        #expect(a.combined.contains("A 5 1.500000"))
    }

    private func named(_ name: String) -> LabOptions {
        var o = LabOptions()
        o.scriptName = name
        return o
    }
}

