import Testing
@testable import DRMAACore
import EmbeddedDRM

@Suite("Control actions and the legality matrix", .timeLimit(.minutes(1)))
struct ControlTests {
    @Test("§10.52 control on an unknown id, and on a reaped id, is INVALID_JOB")
    func item52_unknownAndReaped() throws {
        let (session, system) = try makeSession()
        for action in JobControlAction.allCases {
            expectDRMAAError(.invalidJob) { try session.control("no-such-job", action) }
            expectDRMAAError(.invalidJob) { try session.control("", action) }
            expectDRMAAError(.invalidJob) { try session.control(Session.jobIDsSessionAny, action) }
        }
        let id = try session.runJob(commandTemplate())
        let backend = try system.requireBackend()
        backend.start(id)
        backend.finish(id, .exited(status: 0))
        _ = try session.wait(id)
        for action in JobControlAction.allCases {
            expectDRMAAError(.invalidJob) { try session.control(id, action) }
        }
        // Disposed by synchronize counts as reaped, too.
        let other = try session.runJob(commandTemplate())
        backend.finish(other, .exited(status: 0))
        try session.synchronize([other], dispose: true)
        expectDRMAAError(.invalidJob) { try session.control(other, .terminate) }
    }

    @Test("§10.53 JobControlAction(code: 99) is INVALID_ARGUMENT; 0...4 are the C actions")
    func item53_invalidActionCode() throws {
        for code: Int32 in [99, -1, 5, Int32.max, Int32.min] {
            expectDRMAAError(.invalidArgument) { try JobControlAction(code: code) }
        }
        #expect(try JobControlAction(code: 0) == .suspend)
        #expect(try JobControlAction(code: 1) == .resume)
        #expect(try JobControlAction(code: 2) == .hold)
        #expect(try JobControlAction(code: 3) == .release)
        #expect(try JobControlAction(code: 4) == .terminate)
        #expect(JobControlAction.allCases.map(\.description) == ["suspend", "resume", "hold", "release", "terminate"])
    }

    @Test("§10.54 SUSPEND a running job → USER_SUSPENDED (0x22); RESUME → RUNNING (0x20)")
    func item54_suspendResume() throws {
        let (session, system) = try makeSession()
        let id = try session.runJob(commandTemplate())
        let backend = try system.requireBackend()
        backend.start(id)
        try session.control(id, .suspend)
        #expect(try session.jobStatus(id) == .userSuspended)
        #expect(try session.jobStatus(id).rawValue == 0x22)
        #expect(backend.job(id)?.state == .userSuspended)
        try session.control(id, .resume)
        #expect(try session.jobStatus(id) == .running)
        #expect(try session.jobStatus(id).rawValue == 0x20)
    }

    @Test("§10.55 RESUME of a running, queued, held or finished job is RESUME_INCONSISTENT_STATE")
    func item55_resumeInconsistent() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let queued = try session.runJob(commandTemplate())
        expectDRMAAError(.resumeInconsistentState) { try session.control(queued, .resume) }
        let running = try session.runJob(commandTemplate())
        backend.start(running)
        expectDRMAAError(.resumeInconsistentState) { try session.control(running, .resume) }
        var hold = commandTemplate()
        hold.jobSubmissionState = .hold
        let held = try session.runJob(hold)
        expectDRMAAError(.resumeInconsistentState) { try session.control(held, .resume) }
        let finished = try session.runJob(commandTemplate())
        backend.finish(finished, .exited(status: 0))
        expectDRMAAError(.resumeInconsistentState) { try session.control(finished, .resume) }
        #expect(try session.jobStatus(queued) == .queuedActive)
        #expect(try session.jobStatus(running) == .running)
        #expect(try session.jobStatus(held) == .userOnHold)
    }

    @Test("§10.56 SUSPEND of a queued, held, already suspended or finished job is SUSPEND_INCONSISTENT_STATE")
    func item56_suspendInconsistent() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let queued = try session.runJob(commandTemplate())
        expectDRMAAError(.suspendInconsistentState) { try session.control(queued, .suspend) }
        var hold = commandTemplate()
        hold.jobSubmissionState = .hold
        let held = try session.runJob(hold)
        expectDRMAAError(.suspendInconsistentState) { try session.control(held, .suspend) }
        let suspended = try session.runJob(commandTemplate())
        backend.start(suspended)
        try session.control(suspended, .suspend)
        expectDRMAAError(.suspendInconsistentState) { try session.control(suspended, .suspend) }
        let finished = try session.runJob(commandTemplate())
        backend.finish(finished, .exited(status: 0))
        expectDRMAAError(.suspendInconsistentState) { try session.control(finished, .suspend) }
        #expect(try session.jobStatus(queued) == .queuedActive)
        #expect(try session.jobStatus(held) == .userOnHold)
        #expect(try session.jobStatus(suspended) == .userSuspended)
    }

    @Test("§10.57 HOLD a queued job → USER_ON_HOLD; RELEASE → queued again and it can run")
    func item57_holdRelease() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let id = try session.runJob(commandTemplate())
        try session.control(id, .hold)
        #expect(try session.jobStatus(id) == .userOnHold)
        backend.start(id)   // a held job does not start
        #expect(try session.jobStatus(id) == .userOnHold)
        try session.control(id, .hold)   // HOLD of a held job: no-op
        #expect(try session.jobStatus(id) == .userOnHold)
        try session.control(id, .release)
        #expect(try session.jobStatus(id) == .queuedActive)
        backend.start(id)
        #expect(try session.jobStatus(id) == .running)
        backend.finish(id, .exited(status: 0))
        #expect(try session.wait(id).hasExited)
    }

    @Test("HOLD of a running, suspended or finished job is HOLD_INCONSISTENT_STATE")
    func holdInconsistent() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let running = try session.runJob(commandTemplate())
        backend.start(running)
        expectDRMAAError(.holdInconsistentState) { try session.control(running, .hold) }
        let suspended = try session.runJob(commandTemplate())
        backend.start(suspended)
        try session.control(suspended, .suspend)
        expectDRMAAError(.holdInconsistentState) { try session.control(suspended, .hold) }
        let finished = try session.runJob(commandTemplate())
        backend.finish(finished, .exited(status: 0))
        expectDRMAAError(.holdInconsistentState) { try session.control(finished, .hold) }
    }

    @Test("§10.58 RELEASE of a job that is not held succeeds and changes nothing")
    func item58_releaseNotHeld() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let queued = try session.runJob(commandTemplate())
        try session.control(queued, .release)
        #expect(try session.jobStatus(queued) == .queuedActive)
        let running = try session.runJob(commandTemplate())
        backend.start(running)
        try session.control(running, .release)
        #expect(try session.jobStatus(running) == .running)
        let suspended = try session.runJob(commandTemplate())
        backend.start(suspended)
        try session.control(suspended, .suspend)
        try session.control(suspended, .release)
        #expect(try session.jobStatus(suspended) == .userSuspended)
        let finished = try session.runJob(commandTemplate())
        backend.finish(finished, .exited(status: 4))
        try session.control(finished, .release)
        #expect(try session.jobStatus(finished) == .done)
        #expect(try session.wait(finished).exitStatus == 4)
    }

    @Test("§10.59 TERMINATE a running job → FAILED at once; wait gives aborted, not signalled")
    func item59_terminateRunning() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let id = try session.runJob(commandTemplate())
        backend.start(id)
        try session.control(id, .terminate)
        #expect(try session.jobStatus(id) == .failed)
        #expect(try session.jobStatus(id).rawValue == 0x40)
        // Still running down: not yet waitable, and further actions see FAILED.
        expectDRMAAError(.exitTimeout) { try session.wait(id, timeout: .noWait) }
        try session.control(id, .terminate)
        expectDRMAAError(.suspendInconsistentState) { try session.control(id, .suspend) }
        backend.start(id)
        #expect(try session.jobStatus(id) == .failed)
        backend.finish(id, .aborted(reason: "terminated"))
        let info = try session.wait(id)
        #expect(info.wasAborted)
        #expect(!info.hasSignal)
        #expect(!info.hasExited)
        #expect(info.terminatedSignal == "")
        #expect(info.abortReason == "terminated")
        #expect(info.hasResourceUsage)
    }

    @Test("TERMINATE a suspended job → FAILED")
    func terminateSuspended() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let id = try session.runJob(commandTemplate())
        backend.start(id)
        try session.control(id, .suspend)
        try session.control(id, .terminate)
        #expect(try session.jobStatus(id) == .failed)
        expectDRMAAError(.resumeInconsistentState) { try session.control(id, .resume) }
    }

    @Test("§10.60 TERMINATE a held job: wait reports no usage (NO_RUSAGE in C) with the job id; a second wait is INVALID_JOB")
    func item60_terminateHeld() throws {
        let (session, _) = try makeSession()
        var hold = commandTemplate()
        hold.jobSubmissionState = .hold
        let id = try session.runJob(hold)
        try session.control(id, .terminate)
        #expect(try session.jobStatus(id) == .failed)
        let info = try session.wait(id, timeout: .noWait)
        #expect(info.jobID == id)
        #expect(!info.hasResourceUsage)
        #expect(info.resourceUsage.isEmpty)
        #expect(info.wasAborted)
        #expect(!info.hasExited && !info.hasSignal)
        expectDRMAAError(.invalidJob) { try session.wait(id) }
        expectDRMAAError(.invalidJob) { try session.jobStatus(id) }
    }

    @Test("TERMINATE a queued job finishes it at once as FAILED without usage")
    func terminateQueued() throws {
        let (session, system) = try makeSession()
        let id = try session.runJob(commandTemplate())
        try session.control(id, .terminate)
        #expect(try session.jobStatus(id) == .failed)
        #expect(try system.requireBackend().job(id) == nil)
        let info = try session.wait(Session.jobIDsSessionAny, timeout: .noWait)
        #expect(info.jobID == id)
        #expect(!info.hasResourceUsage)
    }

    @Test("§10.61 TERMINATE on a finished, unreaped job succeeds; wait then returns its real outcome")
    func item61_terminateFinished() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let id = try session.runJob(commandTemplate())
        backend.start(id)
        backend.finish(id, .exited(status: 0))
        try session.control(id, .terminate)
        #expect(try session.jobStatus(id) == .done)
        let info = try session.wait(id)
        #expect(info.hasExited)
        #expect(!info.wasAborted)
        #expect(info.exitStatus == 0)
        // Also for a job that finished FAILED.
        let failed = try session.runJob(commandTemplate())
        backend.finish(failed, .aborted(reason: "could not start"))
        try session.control(failed, .terminate)
        #expect(try session.wait(failed).abortReason == "could not start")
    }

    @Test("§10.62 control(SESSION_ALL, TERMINATE) ends every unfinished job of the session")
    func item62_terminateAll() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let queued = try session.runJob(commandTemplate())
        var hold = commandTemplate()
        hold.jobSubmissionState = .hold
        let held = try session.runJob(hold)
        let running = try session.runJob(commandTemplate())
        backend.start(running)
        let suspended = try session.runJob(commandTemplate())
        backend.start(suspended)
        try session.control(suspended, .suspend)
        let done = try session.runJob(commandTemplate())
        backend.start(done)
        backend.finish(done, .exited(status: 3))
        let tasks = try session.runBulkJobs(commandTemplate(), beginIndex: 1, endIndex: 3, step: 1)
        backend.start(tasks[1])

        try session.control(Session.jobIDsSessionAll, .terminate)

        for id in [queued, held, running, suspended] + tasks {
            #expect(try session.jobStatus(id) == .failed, "\(id)")
        }
        #expect(try session.jobStatus(done) == .done)
        #expect(try session.wait(done).exitStatus == 3)
        // Pending ones are finished already; the started ones finish when the backend says so.
        for id in [running, suspended, tasks[1]] { backend.finish(id, .aborted(reason: "terminated")) }
        try session.synchronize([Session.jobIDsSessionAll], timeout: .noWait, dispose: true)
        expectDRMAAError(.invalidJob) { try session.wait(Session.jobIDsSessionAny) }
    }

    @Test("§10.62 control(SESSION_ALL, …) on an empty session succeeds for every action")
    func item62_emptySession() throws {
        let (session, _) = try makeSession()
        for action in JobControlAction.allCases {
            try session.control(Session.jobIDsSessionAll, action)
        }
    }

    @Test("control(SESSION_ALL, …) skips jobs for which the action is not legal")
    func sessionAllSkipsIllegal() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let queued = try session.runJob(commandTemplate())
        let running = try session.runJob(commandTemplate())
        backend.start(running)
        try session.control(Session.jobIDsSessionAll, .suspend)
        #expect(try session.jobStatus(queued) == .queuedActive)
        #expect(try session.jobStatus(running) == .userSuspended)
        try session.control(Session.jobIDsSessionAll, .resume)
        #expect(try session.jobStatus(running) == .running)
        try session.control(Session.jobIDsSessionAll, .hold)
        #expect(try session.jobStatus(queued) == .userOnHold)
        #expect(try session.jobStatus(running) == .running)
        try session.control(Session.jobIDsSessionAll, .release)
        #expect(try session.jobStatus(queued) == .queuedActive)
    }

    @Test("Control on a bulk parent id applies the action to every task")
    func bulkParentControl() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let tasks = try session.runBulkJobs(commandTemplate(), beginIndex: 1, endIndex: 4, step: 1)
        let parent = String(tasks[0].split(separator: ".")[0])
        try session.control(parent, .hold)
        for task in tasks { #expect(try session.jobStatus(task) == .userOnHold) }
        try session.control(parent, .release)
        for task in tasks { #expect(try session.jobStatus(task) == .queuedActive) }
        backend.start(tasks[0])
        backend.start(tasks[1])
        // SUSPEND applies where legal and skips the queued tasks.
        try session.control(parent, .suspend)
        #expect(try session.jobStatus(tasks[0]) == .userSuspended)
        #expect(try session.jobStatus(tasks[1]) == .userSuspended)
        #expect(try session.jobStatus(tasks[2]) == .queuedActive)
        try session.control(parent, .resume)
        #expect(try session.jobStatus(tasks[0]) == .running)
        // A reaped task is no longer a target.
        backend.finish(tasks[1], .exited(status: 0))
        _ = try session.wait(tasks[1])
        try session.control(parent, .terminate)
        for task in [tasks[0], tasks[2], tasks[3]] { #expect(try session.jobStatus(task) == .failed) }
        // Once every task is reaped the parent id is unknown.
        backend.finish(tasks[0], .aborted(reason: "terminated"))
        try session.synchronize(tasks, dispose: true)
        expectDRMAAError(.invalidJob) { try session.control(parent, .terminate) }
    }

    @Test("Control on a single bulk task acts on that task only and reports its errors")
    func bulkTaskControl() throws {
        let (session, _) = try makeSession()
        let tasks = try session.runBulkJobs(commandTemplate(), beginIndex: 1, endIndex: 2, step: 1)
        try session.control(tasks[0], .hold)
        #expect(try session.jobStatus(tasks[0]) == .userOnHold)
        #expect(try session.jobStatus(tasks[1]) == .queuedActive)
        expectDRMAAError(.suspendInconsistentState) { try session.control(tasks[1], .suspend) }
    }

    @Test("The legality matrix of digest §4.4", arguments: JobState.allCases)
    func legalityMatrix(_ state: JobState) throws {
        func outcome(_ action: JobControlAction) -> Result<ControlDecision, DRMAAError> {
            Result { () throws(DRMAAError) in try state.decide(action, jobID: "1") }
        }
        #expect(code(outcome(.suspend)) == (state == .running ? nil : .suspendInconsistentState))
        #expect(code(outcome(.resume)) == (state == .userSuspended ? nil : .resumeInconsistentState))
        switch state {
        case .queuedActive: #expect(try outcome(.hold).get() == .perform)
        case .userOnHold: #expect(try outcome(.hold).get() == .nothing)
        case .running, .userSuspended, .done, .failed: #expect(code(outcome(.hold)) == .holdInconsistentState)
        default: break
        }
        #expect(try outcome(.release).get() == (state == .userOnHold ? .perform : .nothing))
        #expect(try outcome(.terminate).get() == (state.isFinished ? .nothing : .perform))
    }
}
