import DRMAACore
import Foundation
import LocalDRM
import Testing

@Suite("LocalDRM deadline and time limits")
struct LimitTests {
    @Test("a hard wall-clock limit kills the job with SIGKILL: DONE, signalled (digest §4.3)")
    func hardWallclockLimit() throws {
        let f = try Fixture()
        var template = f.shell("exec sleep 30")
        template.hardWallclockTimeLimit = 1
        let info = try f.session.wait(try f.session.runJob(template))
        #expect(info.hasSignal && info.terminatedSignal == "SIGKILL" && !info.wasAborted)
    }

    @Test("a soft wall-clock limit sends the warning signal (SIGUSR1)")
    func softWallclockLimit() throws {
        let f = try Fixture()
        var template = f.shell("trap 'echo warned; exit 0' USR1; sleep 30 & wait")
        template.softWallclockTimeLimit = 1
        let info = try f.session.wait(try f.session.runJob(template))
        #expect(info.hasExited && info.exitStatus == 0)
        #expect(f.read("out") == "warned\n")
    }

    @Test("a hard run-duration limit kills the job (time suspended does not count, so it still ends)")
    func hardRunDurationLimit() throws {
        let f = try Fixture()
        var template = f.shell("exec sleep 30")
        template.hardRunDurationLimit = 1
        let id = try f.session.runJob(template)
        try f.session.control(id, .suspend)
        try f.session.control(id, .resume)
        let info = try f.session.wait(id)
        #expect(info.hasSignal && info.terminatedSignal == "SIGKILL")
    }

    @Test("a deadline that passes while the job is held ends it FAILED without usage")
    func deadlineWhileHeld() throws {
        let f = try Fixture()
        var template = f.template("/bin/true")
        template.jobSubmissionState = .hold
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy/MM/dd HH:mm:ss"
        template.deadlineTime = formatter.string(from: Date(timeIntervalSinceNow: 1))
        let id = try f.session.runJob(template)
        let info = try f.session.wait(id)
        #expect(info.wasAborted && !info.hasResourceUsage)
        #expect(info.abortReason?.contains("deadline") == true)
    }
}
