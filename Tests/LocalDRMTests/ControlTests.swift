import DRMAACore
import Foundation
import Glibc
import LocalDRM
import Testing

@Suite("LocalDRM control, states and outcomes (digest §10)", .timeLimit(.minutes(2)))
struct ControlTests {
    /// Starts a long job that writes its pid to `name`; returns its id and pid.
    func longJob(_ f: Fixture, pidFile name: String = "pid", seconds: Int = 60) throws -> (String, Int32) {
        let id = try f.session.runJob(f.shell("echo $$ > \(f.path(name)); exec sleep \(seconds)"))
        let pid = try #require(Int32(f.awaitFile(name)))
        return (id, pid)
    }

    @Test("§10.54/§10.84 SUSPEND stops the whole process, job_ps 0x22; RESUME continues it, back to 0x20")
    func item54_suspendResume() throws {
        let f = try Fixture()
        let (id, pid) = try longJob(f)
        #expect(try f.session.jobStatus(id) == .running)
        try f.session.control(id, .suspend)
        #expect(try f.session.jobStatus(id) == .userSuspended)
        #expect(awaitProcess(pid, state: "T"))
        try f.session.control(id, .resume)
        #expect(try f.session.jobStatus(id) == .running)
        #expect(awaitProcess(pid, state: "S"))
    }

    @Test("§10.55/§10.56 RESUME of a running job → 19; SUSPEND of a suspended or held job → 20")
    func item55_56_inconsistentStates() throws {
        let f = try Fixture()
        let (id, _) = try longJob(f)
        #expect(throws: DRMAAError.self) { try f.session.control(id, .resume) }
        do { try f.session.control(id, .resume) } catch { #expect(error.code == .resumeInconsistentState) }
        try f.session.control(id, .suspend)
        do { try f.session.control(id, .suspend); Issue.record("expected 20") } catch { #expect(error.code == .suspendInconsistentState) }
        var held = f.template("/bin/true")
        held.jobSubmissionState = .hold
        let heldID = try f.session.runJob(held)
        do { try f.session.control(heldID, .suspend); Issue.record("expected 20") } catch { #expect(error.code == .suspendInconsistentState) }
    }

    @Test("§10.47/§10.57 a held job never starts; RELEASE lets it run; HOLD of a queued job holds it")
    func item47_57_holdAndRelease() throws {
        let f = try Fixture(slots: 1)
        let (blocker, _) = try longJob(f)
        let queued = try f.session.runJob(f.template("/bin/echo", ["queued"], output: ":$drmaa_hd_ph$/queued"))
        #expect(try f.session.jobStatus(queued) == .queuedActive)
        try f.session.control(queued, .hold)
        #expect(try f.session.jobStatus(queued) == .userOnHold)
        var template = f.template("/bin/echo", ["held"], output: ":$drmaa_hd_ph$/held")
        template.jobSubmissionState = .hold
        let held = try f.session.runJob(template)
        #expect(try f.session.jobStatus(held) == .userOnHold)
        try f.session.control(blocker, .terminate)
        _ = try f.session.wait(blocker)
        #expect(throws: DRMAAError.self) { try f.session.wait(held, timeout: .seconds(0.2)) }
        #expect(try f.session.jobStatus(held) == .userOnHold)
        try f.session.control(held, .release)
        try f.session.control(queued, .release)
        #expect(try f.session.wait(held).exitStatus == 0)
        #expect(try f.session.wait(queued).exitStatus == 0)
        #expect(f.read("held") == "held\n" && f.read("queued") == "queued\n")
    }

    @Test("§10.58 RELEASE of a job that is not held succeeds")
    func item58_releaseNotHeld() throws {
        let f = try Fixture()
        let (id, _) = try longJob(f)
        try f.session.control(id, .release)
        #expect(try f.session.jobStatus(id) == .running)
    }

    @Test("§10.59 TERMINATE a running job: job_ps FAILED; wait gives aborted, not signalled, with usage")
    func item59_terminateRunning() throws {
        let f = try Fixture()
        let (id, pid) = try longJob(f)
        try f.session.control(id, .terminate)
        #expect(try f.session.jobStatus(id) == .failed)
        let info = try f.session.wait(id)
        #expect(info.wasAborted && !info.hasSignal && !info.hasExited)
        #expect(info.hasResourceUsage)
        #expect(processState(pid) == nil)
    }

    @Test("§10.59 TERMINATE a suspended job ends it")
    func item59_terminateSuspended() throws {
        let f = try Fixture()
        let (id, pid) = try longJob(f)
        try f.session.control(id, .suspend)
        #expect(awaitProcess(pid, state: "T"))
        try f.session.control(id, .terminate)
        let info = try f.session.wait(id)
        #expect(info.wasAborted)
        #expect(processState(pid) == nil)
    }

    @Test("§10.60 TERMINATE a held job: wait reports no usage (NO_RUSAGE in C); a second wait → 18")
    func item60_terminateHeld() throws {
        let f = try Fixture()
        var template = f.template("/bin/true")
        template.jobSubmissionState = .hold
        let id = try f.session.runJob(template)
        try f.session.control(id, .terminate)
        #expect(try f.session.jobStatus(id) == .failed)
        let info = try f.session.wait(id)
        #expect(info.jobID == id && info.wasAborted && !info.hasResourceUsage)
        do { _ = try f.session.wait(id); Issue.record("expected 18") } catch { #expect(error.code == .invalidJob) }
    }

    @Test("§10.61 TERMINATE a finished, unreaped job succeeds and wait still returns its outcome")
    func item61_terminateFinished() throws {
        let f = try Fixture()
        let id = try f.session.runJob(f.shell("exit 5"))
        try f.session.synchronize([id])
        try f.session.control(id, .terminate)
        let info = try f.session.wait(id)
        #expect(info.hasExited && info.exitStatus == 5 && !info.wasAborted)
    }

    @Test("§10.62 control(SESSION_ALL, TERMINATE) ends every unfinished job; succeeds on an empty session")
    func item62_terminateAll() throws {
        let f = try Fixture(slots: 2)
        try f.session.control(Session.jobIDsSessionAll, .terminate)
        let ids = try (0..<4).map { _ in try f.session.runJob(f.shell("exec sleep 60")) }
        try f.session.control(Session.jobIDsSessionAll, .terminate)
        for id in ids {
            #expect(try f.session.wait(id).wasAborted)
        }
    }

    @Test("§10.63 exit 3: DONE before wait; wait gives exited 1, status 3, aborted 0")
    func item63_exitStatus() throws {
        let f = try Fixture()
        let id = try f.session.runJob(f.shell("exit 3"))
        try f.session.synchronize([id])
        #expect(try f.session.jobStatus(id) == .done)
        let info = try f.session.wait(id)
        #expect(info.hasExited && info.exitStatus == 3 && !info.wasAborted && !info.hasSignal)
        #expect(info.status.rawValue == 0x31)
        #expect(info.resourceUsage["exit_status"] == "3.0000")
    }

    @Test("§10.64 a job killing itself with SIGKILL: signalled, SIGKILL, not exited, DONE")
    func item64_selfKill() throws {
        let f = try Fixture()
        let id = try f.session.runJob(f.shell("kill -KILL $$"))
        try f.session.synchronize([id])
        #expect(try f.session.jobStatus(id) == .done)
        let info = try f.session.wait(id)
        #expect(info.hasSignal && info.terminatedSignal == "SIGKILL" && !info.hasExited && !info.wasAborted)
        #expect(info.resourceUsage["signal"] == "9.0000")
    }

    @Test("§10.67/§10.68 wait with NO_WAIT or 1 s on a long job → 23; the job can be waited again")
    func item67_68_waitTimeouts() throws {
        let f = try Fixture()
        let (id, _) = try longJob(f, seconds: 30)
        do { _ = try f.session.wait(id, timeout: .noWait); Issue.record("expected 23") } catch { #expect(error.code == .exitTimeout) }
        do { _ = try f.session.wait(id, timeout: .seconds(1)); Issue.record("expected 23") } catch { #expect(error.code == .exitTimeout) }
        try f.session.control(id, .terminate)
        #expect(try f.session.wait(id, timeout: .forever).jobID == id)
    }

    @Test("§10.70 a successful wait carries Grid Engine-style usage entries")
    func item70_resourceUsage() throws {
        let f = try Fixture()
        let info = try f.session.wait(try f.session.runJob(f.shell("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")))
        let usage = info.resourceUsage
        for key in ["cpu", "ru_wallclock", "ru_utime", "ru_stime", "ru_maxrss", "exit_status", "start_time", "end_time", "submission_time"] {
            #expect(usage[key] != nil, "missing \(key)")
        }
        #expect(Double(usage["ru_maxrss"] ?? "0")! > 0)
        #expect(Double(usage["cpu"] ?? "0")! > 0)
    }

    @Test("§10.14 a job running when exit is called keeps running; re-attaching with the contact finds it (§2.1)")
    func item14_exitLeavesJobsRunning() throws {
        let f = try Fixture()
        let id = try f.session.runJob(f.shell("sleep 0.3; echo finished > \(f.path("marker"))"))
        let contact = f.session.contact
        try f.session.exit()
        #expect(throws: DRMAAError.self) { try f.session.jobStatus(id) }
        try f.session.initialize(contact: contact)
        let info = try f.session.wait(id)
        #expect(info.exitStatus == 0)
        #expect(f.read("marker") == "finished\n")
    }

    @Test("async wait and synchronize with LocalDRM")
    func asyncWaiting() async throws {
        let f = try Fixture()
        let ids = try f.session.runBulkJobs(f.shell("exit 0"), beginIndex: 1, endIndex: 4, step: 1)
        try await f.session.synchronize(ids, timeout: .forever, dispose: false)
        for id in ids {
            let info = try await f.session.wait(id, timeout: .forever)
            #expect(info.hasExited)
        }
    }
}

/// Digest §4.4 against real processes: one job in each state, every action, by id and through SESSION_ALL.
@Suite("LocalDRM legality matrix (digest §4.4)", .timeLimit(.minutes(2)))
struct LegalityMatrixTests {
    /// Jobs in every state a job can be controlled in: two slots, held by a running and a suspended job.
    struct Jobs {
        let f: Fixture
        let done, running, suspended, queued, held: String
        var all: [(String, JobState)] {
            [(done, .done), (running, .running), (suspended, .userSuspended), (queued, .queuedActive), (held, .userOnHold)]
        }

        init() throws {
            f = try Fixture(slots: 2)
            done = try f.session.runJob(f.template("/bin/true"))
            try f.session.synchronize([done])
            running = try f.session.runJob(f.template("/bin/sleep", ["30"]))
            suspended = try f.session.runJob(f.template("/bin/sleep", ["30"]))
            try f.session.control(suspended, .suspend)
            queued = try f.session.runJob(f.template("/bin/sleep", ["30"]))
            var template = f.template("/bin/sleep", ["30"])
            template.jobSubmissionState = .hold
            held = try f.session.runJob(template)
            // A job's launch is asynchronous (under TSan it may lag): each state is waited for.
            for (id, state) in all {
                for _ in 0..<200 where try f.session.jobStatus(id) != state { usleep(50_000) }
                #expect(try f.session.jobStatus(id) == state, "job \(id)")
            }
        }
    }

    /// The state after `action` where it is legal; unchanged otherwise.
    static func after(_ action: JobControlAction, _ state: JobState) -> JobState {
        switch (action, state) {
        case (.suspend, .running): .userSuspended
        case (.resume, .userSuspended): .running
        case (.hold, .queuedActive): .userOnHold
        case (.release, .userOnHold): .queuedActive
        case (.terminate, .done): .done
        case (.terminate, _): .failed
        default: state
        }
    }

    @Test("§10.52–§10.62 each action on a job in each state: the matrix's result code and the new state",
          arguments: JobControlAction.allCases)
    func byID(_ action: JobControlAction) throws {
        let jobs = try Jobs()
        for (id, state) in jobs.all {
            let expected: ErrorCode? = {
                do throws(DRMAAError) { _ = try state.decide(action, jobID: id); return nil } catch { return error.code }
            }()
            let got: ErrorCode? = {
                do throws(DRMAAError) { try jobs.f.session.control(id, action); return nil } catch { return error.code }
            }()
            #expect(got == expected, "\(action) of a \(state) job")
            #expect(try jobs.f.session.jobStatus(id) == Self.after(action, state), "\(action) of a \(state) job")
        }
    }

    @Test("§10.62 control(SESSION_ALL, action) succeeds and acts on exactly the jobs where the action is legal",
          arguments: JobControlAction.allCases)
    func sessionAll(_ action: JobControlAction) throws {
        let jobs = try Jobs()
        try jobs.f.session.control(Session.jobIDsSessionAll, action)
        for (id, state) in jobs.all {
            #expect(try jobs.f.session.jobStatus(id) == Self.after(action, state), "\(action) of a \(state) job")
        }
    }
}
