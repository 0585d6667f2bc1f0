import DRMAACore
import Foundation
import Glibc
@testable import LocalDRM
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

    /// A job of `script` with `native`, waited for.
    private func run(_ script: String, native: String) throws -> JobInfo {
        let f = try Fixture()
        var template = f.shell(script)
        template.nativeSpecification = native
        return try f.session.wait(try f.session.runJob(template))
    }

    @Test("-l h_cpu reached: the kernel's SIGKILL is named as the limit's, not as a signal from elsewhere")
    func hardCPULimit() throws {
        let info = try run("while :; do :; done", native: "-l h_cpu=1,h_core=0")
        #expect(info.terminatedSignal == "SIGKILL" && !info.wasAborted)
        #expect(info.killReason == "killed by the kernel with SIGKILL: it reached its -l h_cpu of 1 s", "\(info.resourceUsage)")
    }

    @Test("-l s_cpu reached: the kernel's SIGXCPU is named as the limit's")
    func softCPULimit() throws {
        let info = try run("while :; do :; done", native: "-l s_cpu=1,h_core=0")
        #expect(info.terminatedSignal == "SIGXCPU")
        #expect(info.killReason == "killed by the kernel with SIGXCPU: it reached its -l s_cpu of 1 s", "\(info.resourceUsage)")
    }

    @Test("-l h_fsize reached: SIGXFSZ is named as the limit's")
    func fileSizeLimit() throws {
        // The limit is set just after the job starts: it waits for it, or dd could be done before.
        let script = "while [ \"$(ulimit -f)\" = unlimited ]; do sleep 0.01; done; exec dd if=/dev/zero of=big bs=1024 count=16 2>/dev/null"
        let info = try run(script, native: "-l h_fsize=4K,h_core=0")
        #expect(info.terminatedSignal == "SIGXFSZ")
        #expect(info.killReason == "killed by the kernel with SIGXFSZ: a file it wrote reached its -l h_fsize of 4K")
    }

    @Test("SIGSEGV with a stack limit: probably the limit, and the reason says it may be the program's own fault")
    func stackLimit() throws {
        let info = try run("kill -SEGV $$", native: "-l h_stack=8M,h_core=0")
        #expect(info.terminatedSignal == "SIGSEGV")
        #expect(info.killReason == "it died of SIGSEGV, probably because its stack reached its -l h_stack of 8M (a memory fault of its own also gives SIGSEGV)")
    }

    @Test("the signal of a limit the job has, but before it could have reached it (CPU time): a signal from elsewhere")
    func limitNotReached() throws {
        for (signal, native) in [("KILL", "-l h_cpu=100"), ("XCPU", "-l s_cpu=100,h_core=0")] {
            let info = try run("kill -\(signal) $$", native: native)
            #expect(info.killReason == "it died of SIG\(signal), which LocalDRM did not send (the job itself or another process did)")
        }
    }

    @Test("the limits as the reason shows them: per slot where Grid Engine scales them, bytes as K, M, G, T")
    func kernelReasonWording() throws {
        var options = try JobOptions().applying("--slots=2 -l h_cpu=3,s_cpu=1,h_stack=1000")
        #expect(options.kernelKillReason(signal: SIGXCPU, cpuSeconds: 2) == "killed by the kernel with SIGXCPU: it reached its -l s_cpu of 1 s per slot, 2 s for its 2 slots")
        #expect(options.kernelKillReason(signal: SIGXCPU, cpuSeconds: 1.0) != nil)  // ticks may run ahead of the usage
        #expect(options.kernelKillReason(signal: SIGXCPU, cpuSeconds: 0.9) == nil)
        #expect(options.kernelKillReason(signal: SIGKILL, cpuSeconds: 6) == "killed by the kernel with SIGKILL: it reached its -l h_cpu of 3 s per slot, 6 s for its 2 slots")
        #expect(options.kernelKillReason(signal: SIGSEGV, cpuSeconds: 0)?.contains("its -l h_stack of 1000 bytes per slot, 2000 bytes for its 2 slots") == true)
        #expect(options.kernelKillReason(signal: SIGXFSZ, cpuSeconds: 0) == nil)
        #expect(options.kernelKillReason(signal: SIGTERM, cpuSeconds: 99) == nil)
        options = try JobOptions().applying("-l h_cpu=INFINITY,s_fsize=1G")
        #expect(options.kernelKillReason(signal: SIGKILL, cpuSeconds: 1e9) == nil)
        #expect(options.kernelKillReason(signal: SIGXFSZ, cpuSeconds: 0) == "killed by the kernel with SIGXFSZ: a file it wrote reached its -l s_fsize of 1G")
    }
}
