import DRMAACore
import Foundation
import LocalDRM
import Testing

/// Start times, deadlines and limits, driven by a ``ManualClock``: nothing here waits for real time.
@Suite("LocalDRM start times, deadlines and time limits (manual clock)", .timeLimit(.minutes(2)))
struct LimitTests {
    @Test("§10.42 drmaa_start_time 2 minutes ahead: the job stays QUEUED_ACTIVE until then, then runs")
    func startTimeAhead() throws {
        let f = try Fixture(clock: ManualClock())
        var template = f.template("/bin/sleep", ["30"])
        template.startTime = "00:02"  // the clock reads 2026-01-01 00:00:00 UTC
        let id = try f.session.runJob(template)
        #expect(try f.session.jobStatus(id) == .queuedActive)
        f.clock!.advance(by: 119.9)
        #expect(try f.session.jobStatus(id) == .queuedActive)
        f.clock!.advance(by: 0.1)
        #expect(try f.session.jobStatus(id) == .running)
    }

    @Test("a held job whose start time passes stays held; RELEASE then starts it at once")
    func startTimeWhileHeld() throws {
        let f = try Fixture(clock: ManualClock())
        var template = f.template("/bin/sleep", ["30"])
        template.startTime = "00:01"
        template.jobSubmissionState = .hold
        let id = try f.session.runJob(template)
        f.clock!.advance(by: 120)
        #expect(try f.session.jobStatus(id) == .userOnHold)
        try f.session.control(id, .release)
        #expect(try f.session.jobStatus(id) == .running)
    }

    @Test("a job released before its start time still waits for it")
    func releaseBeforeStartTime() throws {
        let f = try Fixture(clock: ManualClock())
        var template = f.template("/bin/sleep", ["30"])
        template.startTime = "00:01"
        template.jobSubmissionState = .hold
        let id = try f.session.runJob(template)
        try f.session.control(id, .release)
        #expect(try f.session.jobStatus(id) == .queuedActive)
        f.clock!.advance(by: 60)
        #expect(try f.session.jobStatus(id) == .running)
    }

    @Test("a hard wall-clock limit kills the job with SIGKILL when reached, not before: DONE, signalled (digest §4.3)")
    func hardWallclockLimit() throws {
        let f = try Fixture(clock: ManualClock())
        var template = f.template("/bin/sleep", ["30"])
        template.hardWallclockTimeLimit = 60
        let id = try f.session.runJob(template)
        f.clock!.advance(by: 59.9)
        #expect(try f.session.jobStatus(id) == .running)
        f.clock!.advance(by: 0.1)
        let info = try f.session.wait(id)
        #expect(info.hasSignal && info.terminatedSignal == "SIGKILL" && !info.wasAborted)
    }

    @Test("the wall-clock limit counts time suspended")
    func wallclockCountsSuspension() throws {
        let f = try Fixture(clock: ManualClock())
        var template = f.template("/bin/sleep", ["30"])
        template.hardWallclockTimeLimit = 10
        let id = try f.session.runJob(template)
        try f.session.control(id, .suspend)
        f.clock!.advance(by: 10)
        let info = try f.session.wait(id)
        #expect(info.hasSignal && info.terminatedSignal == "SIGKILL")
    }

    @Test("a soft wall-clock limit sends the warning signal (SIGUSR1) to the group")
    func softWallclockLimit() throws {
        let f = try Fixture(clock: ManualClock())
        var template = f.shell("trap 'echo warned; exit 0' USR1; echo ready > ready; while :; do sleep 0.05; done")
        template.softWallclockTimeLimit = 30
        let id = try f.session.runJob(template)
        #expect(f.awaitFile("ready") == "ready")
        f.clock!.advance(by: 30)
        let info = try f.session.wait(id)
        #expect(info.hasExited && info.exitStatus == 0)
        #expect(f.read("out") == "warned\n")
    }

    @Test("a soft run-duration limit sends SIGXCPU; a job that does not handle it dies of it")
    func softRunDurationLimit() throws {
        let f = try Fixture(clock: ManualClock())
        var template = f.template("/bin/sleep", ["30"])
        template.softRunDurationLimit = 5
        let id = try f.session.runJob(template)
        f.clock!.advance(by: 5)
        let info = try f.session.wait(id)
        #expect(info.hasSignal && info.terminatedSignal == "SIGXCPU")
    }

    @Test("a hard run-duration limit counts only time not suspended")
    func hardRunDurationLimit() throws {
        let f = try Fixture(clock: ManualClock())
        var template = f.template("/bin/sleep", ["30"])
        template.hardRunDurationLimit = 10
        let id = try f.session.runJob(template)
        f.clock!.advance(by: 6)
        try f.session.control(id, .suspend)
        f.clock!.advance(by: 100)
        #expect(try f.session.jobStatus(id) == .userSuspended)
        try f.session.control(id, .resume)
        f.clock!.advance(by: 3.9)
        #expect(try f.session.jobStatus(id) == .running)
        f.clock!.advance(by: 0.1)
        let info = try f.session.wait(id)
        #expect(info.hasSignal && info.terminatedSignal == "SIGKILL")
    }

    @Test("a deadline that passes while the job is held ends it FAILED without usage")
    func deadlineWhileHeld() throws {
        let f = try Fixture(clock: ManualClock())
        var template = f.template("/bin/true")
        template.jobSubmissionState = .hold
        template.deadlineTime = "2026/01/01 00:01:00"
        let id = try f.session.runJob(template)
        f.clock!.advance(by: 59)
        #expect(try f.session.jobStatus(id) == .userOnHold)
        f.clock!.advance(by: 1)
        let info = try f.session.wait(id)
        #expect(info.wasAborted && !info.hasResourceUsage)
        #expect(info.abortReason?.contains("deadline") == true)
    }

    @Test("a deadline that passes while the job runs kills it with SIGKILL")
    func deadlineWhileRunning() throws {
        let f = try Fixture(clock: ManualClock())
        var template = f.template("/bin/sleep", ["30"])
        template.deadlineTime = "00:00:30"
        let id = try f.session.runJob(template)
        f.clock!.advance(by: 30)
        let info = try f.session.wait(id)
        #expect(info.hasSignal && info.terminatedSignal == "SIGKILL")
    }

    @Test("the system clock's timers enforce a limit too (timerfd on the supervisor thread)")
    func systemTimers() throws {
        let f = try Fixture()
        var template = f.template("/bin/sleep", ["30"])
        template.hardWallclockTimeLimit = 1
        let info = try f.session.wait(try f.session.runJob(template))
        #expect(info.hasSignal && info.terminatedSignal == "SIGKILL")
    }

    @Test("a finished job leaves no timer behind")
    func timersCancelled() throws {
        let clock = ManualClock()
        let f = try Fixture(clock: clock)
        var template = f.template("/bin/true")
        template.hardWallclockTimeLimit = 60
        template.softRunDurationLimit = 60
        template.deadlineTime = "01:00"
        _ = try f.session.wait(try f.session.runJob(template))
        #expect(clock.pendingTimers == 0)
    }
}
