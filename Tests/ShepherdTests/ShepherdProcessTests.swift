import Glibc
import ShepherdProtocol
import Testing

/// A job that burns some CPU (about 0.2 s in a shell loop), then exits with 5.
let busyJob = ["/bin/sh", "sh", "-c", "i=0; while [ $i -lt 250000 ]; do i=$((i+1)); done; exit 5"]
let sleepingJob = ["/bin/sleep", "sleep", "60"]

@Suite("drmaa-shepherd runs a job, reports it and keeps its outcome", .timeLimit(.minutes(1)), needsShepherdBinary)
struct ShepherdProcessTests {
    @Test("the exit status and resource usage arrive in finished and in the outcome file")
    func exitStatusAndUsage() throws {
        let run = try ShepherdRun(command: busyJob)
        defer { run.cleanUp() }
        let (jobPID, startTime) = try run.receiveStarted()
        #expect(jobPID > 1)
        let outcome = try run.receiveFinished()
        #expect(outcome.jobPID == jobPID)
        #expect(outcome.exitCode == 5)
        #expect(outcome.spawnFailure == nil)
        #expect(outcome.startTime == startTime)
        #expect(outcome.endTime >= outcome.startTime)
        #expect(outcome.usage.userMicroseconds > 0, "no user time in \(outcome.usage)")
        #expect(outcome.usage.maxRSS > 0)
        #expect(try run.waitForExit() == 0)
        #expect(try ShepherdOutcomeFile.read(directory: run.directory.path, jobID: run.jobID) == outcome)
        // Nothing else is left behind: no temporary file, no socket; the shepherd wrote no error.
        #expect(run.directory.names() == ["job.1.outcome", "stderr", "stdout"])
        #expect(readFile(run.directory.file("stderr")) == "")
    }

    @Test("the job's argv, environment and working directory are passed on exactly")
    func argumentsPassedOn() throws {
        // The shell prints its own argv (NUL-separated in /proc) and its directory.
        let script = "tr '\\000' '|' < /proc/$$/cmdline; echo; pwd"
        let run = try ShepherdRun(command: ["/bin/sh", "my-argv0", "-c", script, "two words", ""])
        defer { run.cleanUp() }
        try run.receiveStarted()
        #expect(try run.receiveFinished().exitCode == 0)
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let cwd = getcwd(&buffer, buffer.count).map { String(cString: $0) } ?? "?"
        #expect(readFile(run.directory.file("stdout")) == "my-argv0|-c|\(script)|two words||\n\(cwd)\n")
    }

    @Test("signal(SIGTERM) ends a sleeping job with that signal")
    func terminateSleepingJob() throws {
        let run = try ShepherdRun(command: sleepingJob)
        defer { run.cleanUp() }
        try run.receiveStarted()
        try run.send(.signal(SIGTERM))
        let outcome = try run.receiveFinished()
        #expect(outcome.terminatingSignal == SIGTERM)
        #expect(try run.waitForExit() == 0)
        #expect(try ShepherdOutcomeFile.read(directory: run.directory.path, jobID: run.jobID) == outcome)
    }

    @Test("a malformed or unexpected message from the daemon is ignored, reported on stderr; the next signal works")
    func malformedMessageIgnored() throws {
        let run = try ShepherdRun(command: sleepingJob)
        defer { run.cleanUp() }
        try run.receiveStarted()
        let garbage: [UInt8] = [0x51, 1, 2]
        #expect(garbage.withUnsafeBytes { send(run.control, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == 3)
        try run.send(.started(jobPID: 1, startTime: 0))
        try run.send(.signal(SIGTERM))
        #expect(try run.receiveFinished().terminatingSignal == SIGTERM)
        #expect(try run.waitForExit() == 0)
        let errors = readFile(run.directory.file("stderr"))
        #expect(errors.contains("ignored a malformed message from the daemon: unknown shepherd message tag 0x51"), "\(errors)")
        #expect(errors.contains("ignored an unexpected message from the daemon"), "\(errors)")
    }

    @Test("an outcome file that cannot be written: finished is still sent, the shepherd exits 1 and says why")
    func outcomeNotWritable() throws {
        let run = try ShepherdRun(command: ["/bin/sh", "sh", "-c", "exit 3"], outcomes: "/nonexistent-shepherd-outcomes")
        defer { run.cleanUp() }
        try run.receiveStarted()
        #expect(try run.receiveFinished().exitCode == 3)
        #expect(try run.waitForExit() == 1)
        let errors = readFile(run.directory.file("stderr"))
        #expect(errors.contains("cannot keep the outcome of job job.1: cannot create the outcome file '/nonexistent-shepherd-outcomes/.job.1.tmp': No such file or directory (errno 2)"),
                "\(errors)")
    }

    @Test("SIGSTOP and SIGCONT through the socket stop and resume the job")
    func stopAndContinue() throws {
        let run = try ShepherdRun(command: sleepingJob)
        defer { run.cleanUp() }
        let (jobPID, _) = try run.receiveStarted()
        try run.send(.signal(SIGSTOP))
        try eventually("the job is stopped") { processStat(jobPID).first == "T" }
        try run.send(.signal(SIGCONT))
        try eventually("the job runs again") { processStat(jobPID).first == "S" }
        // A stop is not an end: the shepherd is still waiting.
        #expect(run.isRunning())
        try run.send(.signal(SIGKILL))
        #expect(try run.receiveFinished().terminatingSignal == SIGKILL)
        #expect(try run.waitForExit() == 0)
    }

    @Test("a job that cannot be executed gets spawnFailure, in finished and in the outcome file",
          arguments: [("not executable", "#!/bin/sh\nexit 0\n", mode_t(0o644), "Permission denied (errno 13)"),
                      ("not a program", "\u{1}\u{2}\u{3} no magic here\n", mode_t(0o755), "Exec format error (errno 8)"),
                      ("missing", nil, mode_t(0), "No such file or directory (errno 2)")])
    func executionFailure(_ name: String, _ contents: String?, _ mode: mode_t, _ expected: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("program")
        if let contents { try writeFile(path, contents, mode: mode) }
        let run = try ShepherdRun(command: [path, "program"], directory: directory)
        defer { run.cleanUp() }
        let outcome = try run.receiveFinished()
        #expect(outcome.spawnFailure == "cannot execute '\(path)': \(expected)")
        #expect(outcome.jobPID == 0)
        #expect(outcome.waitStatus == 0)
        #expect(outcome.startTime == outcome.endTime)
        #expect(outcome.usage == ShepherdUsage())
        #expect(try run.waitForExit() == 0)
        #expect(try ShepherdOutcomeFile.read(directory: directory.path, jobID: run.jobID) == outcome)
    }

    @Test("the job leads its own process group; the shepherd leads its own session; no signal is blocked or ignored in the job")
    func groupsAndSessions() throws {
        let run = try ShepherdRun(command: sleepingJob)
        defer { run.cleanUp() }
        let (jobPID, _) = try run.receiveStarted()
        let job = processStat(jobPID), shepherd = processStat(run.pid)
        try #require(job.count > 17 && shepherd.count > 17)
        #expect(job[1] == "\(run.pid)", "the job's parent")
        #expect(job[2] == "\(jobPID)", "the job's process group")
        #expect(job[3] == "\(run.pid)", "the job's session: the shepherd's")
        #expect(shepherd[2] == "\(run.pid)", "the shepherd's process group")
        #expect(shepherd[3] == "\(run.pid)", "the shepherd's session")
        #expect(shepherd[2] != job[2], "the shepherd is not in the job's group")
        let status = readFile("/proc/\(jobPID)/status").split(separator: "\n")
        #expect(status.contains("SigBlk:\t0000000000000000"))
        // None of the 31 standard signals is ignored. (glibc's posix_spawn leaves its two internal
        // real-time signals, 32 and 33, ignored in every child it starts: not the shepherd's doing.)
        let ignored = status.first { $0.hasPrefix("SigIgn:\t") }.flatMap { UInt64($0.dropFirst(8), radix: 16) }
        #expect(ignored.map { $0 & 0x7FFF_FFFF } == 0, "SigIgn \(String(ignored ?? 0, radix: 16))")
        // The shepherd itself ignores a terminal's and a daemon's signals.
        for signal in [SIGHUP, SIGINT, SIGTERM, SIGUSR1] { kill(run.pid, signal) }
        try run.send(.signal(SIGTERM))
        #expect(try run.receiveFinished().terminatingSignal == SIGTERM)
        #expect(try run.waitForExit() == 0)
    }

    @Test("the job has only fds 0, 1 and 2, even if the daemon left others open")
    func onlyStandardDescriptors() throws {
        let input = try Pipe()
        defer { input.close() }
        // Lists its own descriptors (skipping the one the glob read the directory with), then waits.
        let script = "for f in /proc/$$/fd/*; do [ -e \"$f\" ] && echo \"${f##*/}\"; done; read x"
        let run = try ShepherdRun(command: ["/bin/sh", "sh", "-c", script], stdin: input.readEnd, forgottenFDs: [4, 7])
        defer { run.cleanUp() }
        try run.receiveStarted()
        // The shepherd got the forgotten descriptors (the test really offers them to the job).
        let shepherdFDs = TemporaryDirectory.list("/proc/\(run.pid)/fd")
        #expect(shepherdFDs.contains("4") && shepherdFDs.contains("7"), "the shepherd's fds: \(shepherdFDs)")
        // Once it has listed them it waits on its input: seen from outside too, it has no other.
        try eventually("the job has listed its descriptors") { readFile(run.directory.file("stdout")).hasSuffix("\n2\n") }
        #expect(readFile(run.directory.file("stdout")) == "0\n1\n2\n")
        #expect(TemporaryDirectory.list("/proc/\(run.jobPID)/fd") == ["0", "1", "2"])
        input.write("done\n")
        #expect(try run.receiveFinished().exitCode == 0)
    }

    @Test("--nice and --rlimit are in force in the job")
    func niceAndLimits() throws {
        let script = "ulimit -n; ulimit -Hn; ulimit -c; read f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 f11 f12 f13 f14 f15 f16 f17 f18 nice rest < /proc/self/stat; echo $nice"
        let run = try ShepherdRun(["--nice", "7", "--rlimit", "\(RLIMIT_NOFILE.rawValue)=64:128", "--rlimit", "\(RLIMIT_CORE.rawValue)=0:0"],
                                  command: ["/bin/sh", "sh", "-c", script])
        defer { run.cleanUp() }
        try run.receiveStarted()
        #expect(try run.receiveFinished().exitCode == 0)
        #expect(readFile(run.directory.file("stdout")) == "64\n128\n0\n7\n")
    }

    @Test("a limit that cannot be set is the job's spawnFailure; the job does not run without it")
    func limitThatCannotBeSet() throws {
        // RLIMIT_NOFILE can never be infinite (above fs.nr_open), not even for root.
        let run = try ShepherdRun(["--rlimit", "\(RLIMIT_NOFILE.rawValue)=inf:inf"], command: ["/bin/sh", "sh", "-c", "echo ran"])
        defer { run.cleanUp() }
        let outcome = try run.receiveFinished()
        #expect(outcome.spawnFailure == "cannot set resource limit \(RLIMIT_NOFILE.rawValue) to inf:inf: Operation not permitted (errno 1)")
        #expect(try run.waitForExit() == 0)
        #expect(readFile(run.directory.file("stdout")) == "")
    }

    @Test("with --listen, a new connection after the daemon's end gets started, can signal the job and gets finished")
    func reconnection() throws {
        // The socket goes into the run's own directory: made first, then given.
        let directory = try TemporaryDirectory()
        let listening = try ShepherdRun(["--listen", directory.path], command: sleepingJob, directory: directory)
        defer { listening.cleanUp() }
        let (jobPID, startTime) = try listening.receiveStarted()
        #expect(access(listening.socketPath, F_OK) != 0, "no socket while the daemon is connected")
        listening.closeControl()
        try eventually("the listening socket appears") { access(listening.socketPath, F_OK) == 0 }
        var info = stat()
        try #require(stat(listening.socketPath, &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFSOCK)
        #expect(info.st_mode & 0o777 == 0o600)
        // Every new connection hears `started` again, the same.
        for _ in 0..<2 {
            let fd = try connectSeqPacket(listening.socketPath)
            defer { close(fd) }
            let again = try listening.receiveStarted(on: fd)
            #expect(again.jobPID == jobPID && again.startTime == startTime)
        }
        let fd = try connectSeqPacket(listening.socketPath)
        defer { close(fd) }
        #expect(try listening.receiveStarted(on: fd).jobPID == jobPID)
        try listening.send(.signal(SIGTERM), on: fd)
        let outcome = try listening.receiveFinished(on: fd)
        #expect(outcome.terminatingSignal == SIGTERM)
        #expect(try listening.waitForExit() == 0)
        #expect(access(listening.socketPath, F_OK) != 0, "the shepherd removes its socket")
        #expect(try ShepherdOutcomeFile.read(directory: directory.path, jobID: listening.jobID) == outcome)
    }

    @Test("the job outlives the control socket's close, and its outcome file is there afterwards")
    func jobOutlivesDaemon() throws {
        let input = try Pipe()
        defer { input.close() }
        let run = try ShepherdRun(command: ["/bin/sh", "sh", "-c", "read x; exit 7"], stdin: input.readEnd)
        defer { run.cleanUp() }
        let (jobPID, startTime) = try run.receiveStarted()
        run.closeControl()
        // The job is blocked on its input until the test writes: both must still be there.
        usleep(100_000)  // time for the shepherd to act on the end of the connection: it must go on
        #expect(kill(jobPID, 0) == 0)
        #expect(run.isRunning())
        #expect(access(run.outcomePath, F_OK) != 0)
        input.write("go\n")
        #expect(try run.waitForExit() == 0)
        let outcome = try #require(try ShepherdOutcomeFile.read(directory: run.directory.path, jobID: run.jobID))
        #expect(outcome.exitCode == 7)
        #expect(outcome.jobPID == jobPID && outcome.startTime == startTime)
        #expect(!run.directory.names().contains(where: { $0.hasSuffix(".sock") }), "no socket without --listen")
    }

    @Test("a bad command line exits 125 with a message, and runs nothing",
          arguments: [
              (["--nice", "40"], "invalid --nice '40'"),
              (["--nice", "+3"], "invalid --nice '+3'"),
              (["--rlimit", "7=10:5"], "the soft limit is above the hard limit"),
              (["--rlimit", "7=1:x"], "invalid --rlimit '7=1:x'"),
              (["--rlimit", "99=1:1"], "invalid --rlimit '99=1:1'"),
              (["--rlimit", "7=1:1", "--rlimit", "7=2:2"], "--rlimit of resource 7 is given twice"),
              (["--listen", "relative"], "--listen 'relative' is not an absolute path"),
              (["--frobnicate"], "unknown option '--frobnicate'"),
              (["--job", "again"], "--job is given twice"),
          ])
    func badUsage(_ options: [String], _ message: String) throws {
        let run = try ShepherdRun(options, command: ["/bin/sh", "sh", "-c", "echo ran"])
        defer { run.cleanUp() }
        #expect(try run.waitForExit() == 125)
        let errors = readFile(run.directory.file("stderr"))
        #expect(errors.contains(message), "stderr: \(errors)")
        #expect(errors.contains("usage: drmaa-shepherd"))
        #expect(readFile(run.directory.file("stdout")) == "")
        #expect(access(run.outcomePath, F_OK) != 0)
    }

    @Test("a command line without the job's command, or with a relative executable, exits 125",
          arguments: [[], ["/bin/true"], ["bin/true", "true"]])
    func badCommand(_ command: [String]) throws {
        let run = try ShepherdRun(command: command)
        defer { run.cleanUp() }
        #expect(try run.waitForExit() == 125)
        #expect(readFile(run.directory.file("stderr")).contains("usage: drmaa-shepherd"))
    }
}

extension TemporaryDirectory {
    /// The names in any directory (such as /proc/<pid>/fd), sorted numerically if they are numbers.
    static func list(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted { (Int($0) ?? 0, $0) < (Int($1) ?? 0, $1) }
    }
}
