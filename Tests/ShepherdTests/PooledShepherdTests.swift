import CLocalDRM
import Glibc
import ShepherdProtocol
import Testing

@Suite("drmaa-shepherd --pool runs jobs one after another for the daemon", .timeLimit(.minutes(1)), needsShepherdBinary)
struct PooledShepherdTests {
    @Test("one pooled shepherd runs two jobs, each with exactly its argv, environment, directory and files, as their parent")
    func jobsOneAfterAnother() throws {
        let shepherd = try PooledShepherd()
        defer { shepherd.cleanUp() }
        let script = "tr '\\000' '|' < /proc/$$/cmdline; echo; pwd; tr '\\000' '|' < /proc/$$/environ; echo; echo $PPID >&2; exit 3"
        try shepherd.send("a.1", command: ["/bin/sh", "argv0-a", "-c", script, "two words"], environment: ["ONLY_A=x", "PATH=/usr/bin:/bin"],
                          workingDirectory: "/")
        #expect(try shepherd.receiveAny() == .accepted, "accepted comes first, before the spawn")
        let first = try shepherd.receiveStarted()
        let outcomeA = try shepherd.receiveFinished()
        #expect(outcomeA.jobPID == first && outcomeA.exitCode == 3 && outcomeA.spawnFailure == nil)
        try shepherd.send("b.2", command: ["/bin/sh", "argv0-b", "-c", script], environment: ["ONLY_B=y", "PATH=/usr/bin:/bin", "E=="],
                          workingDirectory: shepherd.directory.path)
        try shepherd.receiveStarted()
        let outcomeB = try shepherd.receiveFinished()
        #expect(outcomeB.exitCode == 3)
        // /proc/<pid>/environ: exactly the environment the job was started with.
        #expect(readFile(shepherd.directory.file("a.1.out")) == "argv0-a|-c|\(script)|two words|\n/\nONLY_A=x|PATH=/usr/bin:/bin|\n")
        #expect(readFile(shepherd.directory.file("b.2.out")) == "argv0-b|-c|\(script)|\n\(shepherd.directory.path)\nONLY_B=y|PATH=/usr/bin:/bin|E==|\n")
        #expect(readFile(shepherd.directory.file("a.1.err")) == "\(shepherd.pid)\n")
        #expect(readFile(shepherd.directory.file("b.2.err")) == "\(shepherd.pid)\n")
        #expect(try ShepherdOutcomeFile.read(directory: shepherd.directory.path, jobID: "a.1") == outcomeA)
        #expect(try ShepherdOutcomeFile.read(directory: shepherd.directory.path, jobID: "b.2") == outcomeB)
        #expect(shepherd.isRunning(), "the pooled shepherd left after its jobs")
        #expect(readFile(shepherd.directory.file("log")) == "")
    }

    @Test("each job gets its own process group in the shepherd's session; the job's lock is held while it runs, given up after")
    func groupSessionAndLock() throws {
        let shepherd = try PooledShepherd()
        defer { shepherd.cleanUp() }
        try shepherd.send("lock.1", command: ["/bin/sleep", "sleep", "60"])
        let job = try shepherd.receiveStarted()
        let stat = processStat(job)
        #expect(stat.count > 3 && stat[2] == "\(job)" && stat[3] == "\(shepherd.pid)", "pgrp and session of the job: \(stat)")
        #expect(shepherd.lockIsHeld("lock.1"))
        try shepherd.sendSignal(SIGKILL)
        #expect(try shepherd.receiveFinished().terminatingSignal == SIGKILL)
        try eventually("the lock is given up") { !shepherd.lockIsHeld("lock.1") }
    }

    @Test("a signal that comes while no job runs is dropped; the next job's signal reaches that job")
    func signalWhileIdleIsDropped() throws {
        let shepherd = try PooledShepherd()
        defer { shepherd.cleanUp() }
        try shepherd.sendSignal(SIGTERM)
        try shepherd.send("s.1", command: ["/bin/sleep", "sleep", "60"])
        try shepherd.receiveStarted()
        try shepherd.sendSignal(SIGTERM)
        #expect(try shepherd.receiveFinished().terminatingSignal == SIGTERM)
        #expect(shepherd.isRunning())
    }

    @Test("a job that cannot be executed ends with its spawnFailure, and the shepherd takes the next")
    func spawnFailureThenNext() throws {
        let shepherd = try PooledShepherd()
        defer { shepherd.cleanUp() }
        try shepherd.send("bad.1", command: ["/nonexistent/program", "program"])
        let failed = try shepherd.receiveFinished()
        #expect(failed.spawnFailure?.contains("cannot execute '/nonexistent/program'") == true, "\(failed)")
        #expect(shepherd.accepted == 1, "accepted before the spawn failed")
        #expect(try ShepherdOutcomeFile.read(directory: shepherd.directory.path, jobID: "bad.1") == failed)
        try shepherd.send("good.2", command: ["/bin/true", "true"])
        try shepherd.receiveStarted()
        #expect(try shepherd.receiveFinished().exitCode == 0)
    }

    @Test("a run without its five descriptors is answered with a spawnFailure; the shepherd stays")
    func runWithoutDescriptors() throws {
        let shepherd = try PooledShepherd()
        defer { shepherd.cleanUp() }
        try shepherd.send("nofds.1", command: ["/bin/true", "true"], descriptors: [])
        let refused = try shepherd.receiveFinished()
        #expect(refused.spawnFailure?.contains("0 descriptors, 5 expected") == true, "\(refused)")
        #expect(shepherd.accepted == 0, "a refused job is not accepted")
        try shepherd.send("next.2", command: ["/bin/true", "true"])
        try shepherd.receiveStarted()
        #expect(try shepherd.receiveFinished().exitCode == 0)
    }

    @Test("it leaves when its connection closes while no job runs")
    func leavesWhenIdleConnectionCloses() throws {
        let shepherd = try PooledShepherd()
        defer { shepherd.cleanUp() }
        try shepherd.send("t.1", command: ["/bin/true", "true"])
        try shepherd.receiveStarted()
        _ = try shepherd.receiveFinished()
        shepherd.closeControl()
        #expect(try shepherd.waitForExit() == 0)
    }

    @Test("its connection closed while a job runs: the job goes on, its outcome is kept in its file, the shepherd leaves after it")
    func connectionClosedDuringJob() throws {
        let shepherd = try PooledShepherd()
        defer { shepherd.cleanUp() }
        try shepherd.send("long.1", command: ["/bin/sh", "sh", "-c", "sleep 0.5; exit 7"])
        try shepherd.receiveStarted()
        shepherd.closeControl()
        #expect(try shepherd.waitForExit() == 0)
        let outcome = try #require(try ShepherdOutcomeFile.read(directory: shepherd.directory.path, jobID: "long.1"))
        #expect(outcome.exitCode == 7)
        #expect(!shepherd.lockIsHeld("long.1"))
    }

    @Test("the daemon gone right after it sent a job: the job runs all the same, its outcome is kept, the shepherd leaves after it")
    func daemonGoneAfterSending() throws {
        let shepherd = try PooledShepherd()
        defer { shepherd.cleanUp() }
        try shepherd.send("orphan.1", command: ["/bin/sh", "sh", "-c", "echo ran; exit 4"])
        shepherd.closeControl()
        #expect(try shepherd.waitForExit() == 0)
        let outcome = try #require(try ShepherdOutcomeFile.read(directory: shepherd.directory.path, jobID: "orphan.1"))
        #expect(outcome.exitCode == 4 && outcome.spawnFailure == nil, "\(outcome)")
        #expect(readFile(shepherd.directory.file("orphan.1.out")) == "ran\n")
    }

    @Test("a failure text that names a very long path is cut to 4 KiB, so that it fits the daemon's buffer")
    func longFailureTextIsCut() throws {
        let shepherd = try PooledShepherd()
        defer { shepherd.cleanUp() }
        let path = "/" + String(repeating: "x/", count: 3000) + "missing"
        try shepherd.send("long.1", command: [path, "missing"])
        let outcome = try shepherd.receiveFinished()
        let text = try #require(outcome.spawnFailure)
        #expect(text.utf8.count <= 4000 && text.hasSuffix("(cut)"), "\(text.utf8.count) bytes")
        #expect(shepherd.isRunning())
    }

    @Test("--pool refuses a job's options and a command, saying why")
    func poolUsage() throws {
        let binary = try #require(shepherdBinary)
        for (arguments, message) in [
            (["--pool", "--outcomes", "/tmp", "--job", "x"], "--job is not for a pooled shepherd"),
            (["--pool", "--outcomes", "/tmp", "--nice", "3"], "--nice is not for a pooled shepherd"),
            (["--pool", "--outcomes", "/tmp", "--", "/bin/true", "true"], "a pooled shepherd takes no command"),
            (["--outcomes", "/tmp", "--pool"], "--pool must come first"),
        ] {
            let (status, stderr) = try runToEnd(binary, arguments)
            #expect(status == 125, "\(arguments): status \(status)")
            #expect(stderr.contains(message), "\(arguments): \(stderr)")
        }
    }
}

/// Runs `binary` with `arguments` (stdin /dev/null, fd 3 closed) to its end: its exit code and standard error.
func runToEnd(_ binary: String, _ arguments: [String]) throws -> (Int32, String) {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, directory.file("stderr"), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    clocaldrm_spawn_addclosefrom(&actions, 3)
    var argv: [UnsafeMutablePointer<CChar>?] = ([binary] + arguments).map { strdup($0) }
    argv.append(nil)
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, binary, &actions, nil, argv, environ) == 0 else { throw TestFailure("posix_spawn") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    return ((status >> 8) & 0xff, readFile(directory.file("stderr")))
}
