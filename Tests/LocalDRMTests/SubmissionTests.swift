import DRMAACore
import Foundation
import Glibc
import LocalDRM
import Testing

@Suite("LocalDRM submission (digest §10 Submission)", .timeLimit(.minutes(2)))
struct SubmissionTests {
    @Test("§10.35 argv reaches the program unchanged")
    func item35_argvExact() throws {
        let f = try Fixture()
        let args = ["a b", "\"quoted\"", "$HOME", "*", "", "tab\there"]
        let id = try f.session.runJob(f.template("/usr/bin/printf", ["%s|\\n"] + args))
        let info = try f.session.wait(id)
        #expect(info.hasExited && info.exitStatus == 0)
        #expect(f.read("out") == args.map { $0 + "|\n" }.joined())
    }

    @Test("§10.36 drmaa_v_env entries are visible; a value containing = stays intact")
    func item36_environment() throws {
        let f = try Fixture()
        var template = f.shell("printf '%s;%s' \"$FOO\" \"$PATH\"")
        template.jobEnvironment = ["FOO": "a=b=c"]
        _ = try f.session.wait(try f.session.runJob(template))
        let expectedPath = ProcessInfo.processInfo.environment["PATH"] ?? ""
        #expect(f.read("out") == "a=b=c;\(expectedPath)")
    }

    @Test("§10.37 without drmaa_wd the job runs in $HOME")
    func item37_defaultWorkingDirectory() throws {
        let f = try Fixture()
        _ = try f.session.wait(try f.session.runJob(f.template("/bin/pwd")))
        #expect(f.read("out") == f.home + "\n")
    }

    @Test("§10.38 drmaa_wd = $drmaa_hd_ph$/sub runs the job in $HOME/sub")
    func item38_homePlaceholderWorkingDirectory() throws {
        let f = try Fixture()
        try FileManager.default.createDirectory(atPath: f.path("sub"), withIntermediateDirectories: true)
        var template = f.template("/bin/pwd")
        template.workingDirectory = "$drmaa_hd_ph$/sub"
        _ = try f.session.wait(try f.session.runJob(template))
        #expect(f.read("out") == f.home + "/sub\n")
    }

    @Test("§10.39 output path :$drmaa_wd_ph$/out lands in the working directory")
    func item39_workingDirectoryPlaceholderOutput() throws {
        let f = try Fixture()
        try FileManager.default.createDirectory(atPath: f.path("wd"), withIntermediateDirectories: true)
        var template = f.template("/bin/echo", ["hi"], output: ":$drmaa_wd_ph$/result")
        template.workingDirectory = f.path("wd")
        _ = try f.session.wait(try f.session.runJob(template))
        #expect(f.read("wd/result") == "hi\n")
    }

    @Test("§10.43/§10.46 bulk tasks: ids N.i, one output file per task index, DRMAA_TASK_ID set")
    func item46_bulkOutputPerTask() throws {
        let f = try Fixture()
        let template = f.template("/bin/sh", ["-c", "echo $DRMAA_TASK_ID $DRMAA_JOB_ID"], output: ":$drmaa_hd_ph$/task.$drmaa_incr_ph$")
        let ids = try f.session.runBulkJobs(template, beginIndex: 1, endIndex: 10, step: 3)
        let bulk = ids[0].split(separator: ".")[0]
        #expect(ids == [1, 4, 7, 10].map { "\(bulk).\($0)" })
        try f.session.synchronize(ids, dispose: true)
        for index in [1, 4, 7, 10] {
            #expect(f.read("task.\(index)") == "\(index) \(bulk).\(index)\n")
        }
    }

    @Test("§10.48 a command that does not exist: FAILED, wait succeeds with aborted and a reason")
    func item48_missingCommand() throws {
        let f = try Fixture()
        let id = try f.session.runJob(f.template("/nonexistent/command"))
        try f.session.synchronize([id])
        #expect(try f.session.jobStatus(id) == .failed)
        let info = try f.session.wait(id)
        #expect(info.wasAborted && !info.hasExited && !info.hasSignal)
        #expect(info.abortReason?.contains("/nonexistent/command") == true)
        #expect(info.hasResourceUsage)
    }

    @Test("§10.48 a bare command name not found on the job's PATH is a start failure")
    func item48_commandNotOnPath() throws {
        let f = try Fixture()
        var template = f.template("sh", ["-c", "true"])
        template.jobEnvironment = ["PATH": f.home]
        let info = try f.session.wait(try f.session.runJob(template))
        #expect(info.wasAborted)
        #expect(info.abortReason?.contains("not found on the job's PATH") == true)
        let found = try f.session.wait(try f.session.runJob(f.template("echo", ["on PATH"])))
        #expect(found.hasExited && f.read("out") == "on PATH\n")
    }

    @Test("§10.49 a missing working directory or unreadable input file: FAILED, aborted")
    func item49_badWorkingDirectoryOrInput() throws {
        let f = try Fixture()
        var badDirectory = f.template("/bin/true")
        badDirectory.workingDirectory = f.path("missing")
        let first = try f.session.wait(try f.session.runJob(badDirectory))
        #expect(first.wasAborted)
        #expect(first.abortReason?.contains("working directory") == true)
        var badInput = f.template("/bin/cat")
        badInput.inputPath = ":" + f.path("no-such-input")
        let second = try f.session.wait(try f.session.runJob(badInput))
        #expect(second.wasAborted)
        #expect(second.abortReason?.contains("input file") == true)
    }

    @Test("§10.50 drmaa_join_files = y sends stderr to the output file")
    func item50_joinFiles() throws {
        let f = try Fixture()
        var template = f.shell("echo out; echo err >&2")
        template.joinFiles = true
        _ = try f.session.wait(try f.session.runJob(template))
        #expect(f.read("out") == "out\nerr\n")
        #expect(f.read("err") == "")
    }

    @Test("§10.51 the input path is the job's stdin; without one stdin is empty")
    func item51_input() throws {
        let f = try Fixture()
        try "line one\nline two\n".write(toFile: f.path("in"), atomically: true, encoding: .utf8)
        var template = f.template("/bin/cat")
        template.inputPath = ":$drmaa_hd_ph$/in"
        _ = try f.session.wait(try f.session.runJob(template))
        #expect(f.read("out") == "line one\nline two\n")
        var empty = f.template("/bin/cat", output: ":$drmaa_hd_ph$/empty")
        empty.inputPath = nil
        let info = try f.session.wait(try f.session.runJob(empty))
        #expect(info.exitStatus == 0 && f.read("empty") == "")
    }

    @Test("a relative command is relative to the working directory")
    func relativeCommand() throws {
        let f = try Fixture()
        try "#!/bin/sh\necho relative\n".write(toFile: f.path("script.sh"), atomically: true, encoding: .utf8)
        chmod(f.path("script.sh"), 0o755)
        _ = try f.session.wait(try f.session.runJob(f.template("./script.sh")))
        #expect(f.read("out") == "relative\n")
    }

    @Test("without an output path, output goes to <job name>.o<job id> in the working directory (Grid Engine's default)")
    func defaultOutputPath() throws {
        let f = try Fixture()
        var template = JobTemplate()
        template.remoteCommand = "/bin/echo"
        template.args = ["default"]
        let id = try f.session.runJob(template)
        _ = try f.session.wait(id)
        #expect(f.read("echo.o\(id)") == "default\n")
        #expect(FileManager.default.fileExists(atPath: f.path("echo.e\(id)")))
    }

    @Test("§10.42 a job with drmaa_start_time ahead is not RUNNING before then, and runs afterwards")
    func item42_startTime() throws {
        // The manual clock stands at 2026-01-01 00:00:00 UTC; time moves only when advanced.
        // (The supervisor's real timers are covered by LimitTests.systemTimers.)
        let clock = ManualClock()
        let f = try Fixture(clock: clock)
        var template = f.template("/bin/echo", ["ran"])
        template.startTime = "2026/01/01 00:00:02"
        let id = try f.session.runJob(template)
        #expect(try f.session.jobStatus(id) == .queuedActive)
        clock.advance(by: 1.9)
        #expect(try f.session.jobStatus(id) == .queuedActive)
        clock.advance(by: 0.1)
        let info = try f.session.wait(id, timeout: .seconds(10))
        #expect(info.hasExited && info.exitStatus == 0)
        #expect(f.read("out") == "ran\n")
        let startedAt = try #require(info.resourceUsage["start_time"].flatMap(Double.init))
        #expect(startedAt >= clock.origin + 2)
    }

    @Test("a held job whose start time passed while held runs once released")
    func heldThenStartTimeThenRelease() throws {
        let clock = ManualClock()
        let f = try Fixture(clock: clock)
        var template = f.template("/bin/echo", ["late"])
        template.jobSubmissionState = .hold
        template.startTime = "2026/01/01 00:00:01"
        let id = try f.session.runJob(template)
        clock.advance(by: 2)
        #expect(try f.session.jobStatus(id) == .userOnHold)
        #expect(throws: DRMAAError.self) { try f.session.wait(id, timeout: .noWait) }
        try f.session.control(id, .release)
        #expect(try f.session.wait(id, timeout: .seconds(10)).hasExited)
        #expect(f.read("out") == "late\n")
    }
}
