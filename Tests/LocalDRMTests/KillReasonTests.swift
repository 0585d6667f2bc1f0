import DRMAACore
import Foundation
import Glibc
import LocalDRM
import Testing

/// Why a started job's process ended (`JobInfo.killReason`; `drmaa_kill_reason` in C).
@Suite("LocalDRM kill reasons of started jobs", .timeLimit(.minutes(2)))
struct KillReasonTests {
    @Test("a hard wall-clock limit: killed with SIGKILL, the reason names drmaa_wct_hlimit and its value")
    func hardWallclockLimit() throws {
        let f = try Fixture(clock: ManualClock())
        var template = f.template("/bin/sleep", ["30"])
        template.hardWallclockTimeLimit = 60
        let id = try f.session.runJob(template)
        f.clock!.advance(by: 60)
        let info = try f.session.wait(id)
        #expect(info.terminatedSignal == "SIGKILL" && !info.wasAborted)
        #expect(info.killReason == "killed with SIGKILL: it reached its drmaa_wct_hlimit of 60 s")
    }

    @Test("a hard run-duration limit: the reason names drmaa_duration_hlimit")
    func hardRunDurationLimit() throws {
        let f = try Fixture(clock: ManualClock())
        var template = f.template("/bin/sleep", ["30"])
        template.hardRunDurationLimit = 5
        let id = try f.session.runJob(template)
        f.clock!.advance(by: 5)
        let info = try f.session.wait(id)
        #expect(info.killReason == "killed with SIGKILL: it reached its drmaa_duration_hlimit of 5 s")
    }

    @Test("a soft limit's warning signal the job does not handle: the reason says which limit sent it")
    func softLimitSignal() throws {
        let f = try Fixture(clock: ManualClock())
        var template = f.template("/bin/sleep", ["30"])
        template.softWallclockTimeLimit = 10
        let id = try f.session.runJob(template)
        f.clock!.advance(by: 10)
        let info = try f.session.wait(id)
        #expect(info.terminatedSignal == "SIGUSR1")
        #expect(info.killReason == "SIGUSR1, the warning that it reached its drmaa_wct_slimit of 10 s")
    }

    @Test("the deadline of a started job: killed with SIGKILL, the reason names drmaa_deadline_time")
    func deadline() throws {
        let f = try Fixture(clock: ManualClock())
        var template = f.template("/bin/sleep", ["30"])
        template.deadlineTime = "00:01"
        let id = try f.session.runJob(template)
        #expect(try f.session.jobStatus(id) == .running)
        f.clock!.advance(by: 60)
        let info = try f.session.wait(id)
        #expect(info.killReason == "killed with SIGKILL: its drmaa_deadline_time passed")
    }

    @Test("TERMINATE: the reason says which signals the teardown sent; a job that exits on SIGTERM says so")
    func terminate() throws {
        let f = try Fixture(clock: ManualClock())
        let stubborn = try f.session.runJob(f.shell("trap '' TERM; echo ready > ready1; while :; do sleep 0.05; done"))
        #expect(f.awaitFile("ready1") == "ready")
        try f.session.control(stubborn, .terminate)
        f.clock!.advance(by: 5)
        let killed = try f.session.wait(stubborn)
        #expect(killed.wasAborted && killed.abortReason == "terminated through drmaa_control")
        #expect(killed.killReason == "terminated through drmaa_control: SIGKILL, 5 s after SIGTERM")

        let polite = try f.session.runJob(f.shell("trap 'exit 3' TERM; echo ready > ready2; while :; do sleep 0.05; done"))
        #expect(f.awaitFile("ready2") == "ready")
        try f.session.control(polite, .terminate)
        let exited = try f.session.wait(polite)
        #expect(exited.wasAborted)
        #expect(exited.killReason == "terminated through drmaa_control: it exited with status 3 after SIGTERM")
    }

    @Test("drmaa_exit during a TERMINATE's grace period ends it with SIGKILL at once (the process may quit right after)")
    func exitFinishesTeardown() throws {
        let f = try Fixture(clock: ManualClock())
        let stubborn = try f.session.runJob(f.shell("trap '' TERM; echo ready > ready; while :; do sleep 0.05; done"))
        let bystander = try f.session.runJob(f.sleeper())
        #expect(f.awaitFile("ready") == "ready")
        try f.session.control(stubborn, .terminate)
        let contact = f.session.contact
        try f.session.exit()  // no time passes: only the exit can send the SIGKILL
        try f.session.initialize(contact: contact)
        let killed = try f.session.wait(stubborn, timeout: .seconds(30))
        #expect(killed.wasAborted)
        #expect(killed.killReason == "terminated through drmaa_control: SIGKILL at drmaa_exit, during the grace period after SIGTERM")
        // A job that was not being terminated keeps running.
        #expect(try f.session.jobStatus(bystander) == .running)
    }

    @Test("grace=0: TERMINATE kills at once and says so")
    func terminateAtOnce() throws {
        let f = try Fixture(contact: "grace=0")
        let id = try f.session.runJob(f.sleeper())
        try f.session.control(id, .terminate)
        #expect(try f.session.wait(id).killReason == "terminated through drmaa_control: SIGKILL")
    }

    @Test("a signal LocalDRM did not send: the reason says so")
    func outsideSignal() throws {
        let f = try Fixture()
        let info = try f.session.wait(try f.session.runJob(f.shell("kill -TERM $$")))
        #expect(info.terminatedSignal == "SIGTERM" && !info.wasAborted)
        #expect(info.killReason == "it died of SIGTERM, which LocalDRM did not send (the job itself or another process did)")
    }

    @Test("a job that ends on its own has no kill reason")
    func noReason() throws {
        let f = try Fixture()
        let info = try f.session.wait(try f.session.runJob(f.shell("exit 2")))
        #expect(info.killReason == nil && info.abortReason == nil)
    }
}
