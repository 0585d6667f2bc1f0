import Synchronization
import Testing
@testable import DRMAACore
import EmbeddedDRM

/// An EmbeddedDRM whose backend records the control calls the session makes, and can report
/// chosen jobs of a sweep as failed (without acting on them), as a resource manager might.
final class RecordingDRM: DRMSystem {
    let embedded = EmbeddedDRM()
    private let made = Mutex<[RecordingBackend]>([])

    var drmsInfo: String { embedded.drmsInfo }
    var drmaaImplementation: String { embedded.drmaaImplementation }

    func makeBackend(options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> any Backend {
        let backend = RecordingBackend(try embedded.makeBackend(options: options, jobs: jobs) as! EmbeddedBackend)
        made.withLock { $0.append(backend) }
        return backend
    }

    var backend: RecordingBackend { made.withLock { $0.last! } }
}

/// Forwards to an ``EmbeddedBackend``; the batch control is the protocol's default unless a
/// failure is injected.
final class RecordingBackend: Backend {
    enum Call: Equatable {
        case single(String, JobControlAction)
        case batch([String], JobControlAction)
    }

    let embedded: EmbeddedBackend
    private let log = Mutex<[Call]>([])
    /// Jobs a batch call reports as failed, without acting on them.
    let failing = Mutex<[String: DRMAAError]>([:])

    init(_ embedded: EmbeddedBackend) { self.embedded = embedded }

    var calls: [Call] { log.withLock { $0 } }
    func clearCalls() { log.withLock { $0 = [] } }

    var homeDirectory: String { embedded.homeDirectory }
    var clock: any WallClock { embedded.clock }
    var timeZone: any TimeZoneRule { embedded.timeZone }
    func validate(_ template: JobTemplate) throws(DRMAAError) { try embedded.validate(template) }
    func submit(_ submission: Submission) throws(DRMAAError) { try embedded.submit(submission) }

    func control(_ jobID: String, _ action: JobControlAction) throws(DRMAAError) {
        log.withLock { $0.append(.single(jobID, action)) }
        try embedded.control(jobID, action)
    }

    func control(_ jobIDs: [String], _ action: JobControlAction) -> [String: DRMAAError] {
        log.withLock { $0.append(.batch(jobIDs, action)) }
        let injected = failing.withLock { $0 }
        var failures = embedded.control(jobIDs.filter { injected[$0] == nil }, action)
        for id in jobIDs { if let error = injected[id] { failures[id] = error } }
        return failures
    }
}

@Suite("Control of many jobs (SESSION_ALL, a bulk id) is one backend action", .timeLimit(.minutes(1)))
struct SweepTests {
    /// A session with one job in each controllable state, plus a finished one.
    struct Jobs {
        let session: Session
        let system: RecordingDRM
        let queued, held, running, suspended, done: String

        init() throws {
            system = RecordingDRM()
            session = Session(system: system)
            try session.initialize()
            let embedded = system.backend.embedded
            queued = try session.runJob(commandTemplate())
            var hold = commandTemplate()
            hold.jobSubmissionState = .hold
            held = try session.runJob(hold)
            running = try session.runJob(commandTemplate())
            embedded.start(running)
            suspended = try session.runJob(commandTemplate())
            embedded.start(suspended)
            try session.control(suspended, .suspend)
            done = try session.runJob(commandTemplate())
            embedded.start(done)
            embedded.finish(done, .exited(status: 0))
            system.backend.clearCalls()
        }

        var states: [(String, JobState)] {
            [(queued, .queuedActive), (held, .userOnHold), (running, .running), (suspended, .userSuspended), (done, .done)]
        }
    }

    @Test("control(SESSION_ALL, action) makes one batch call with exactly the jobs where the action is legal",
          arguments: JobControlAction.allCases)
    func sessionAllIsOneBatch(_ action: JobControlAction) throws {
        let jobs = try Jobs()
        try jobs.session.control(Session.jobIDsSessionAll, action)
        let expected = Set(jobs.states.compactMap { id, state in
            (try? state.decide(action, jobID: id)) == .perform ? id : nil
        })
        let calls = jobs.system.backend.calls
        if expected.isEmpty {
            #expect(calls.isEmpty)
            return
        }
        try #require(calls.count == 1, "\(calls)")
        guard case .batch(let ids, let got) = calls[0] else {
            Issue.record("expected a batch call, got \(calls[0])")
            return
        }
        #expect(got == action)
        #expect(Set(ids) == expected && ids.count == expected.count, "\(ids)")
    }

    @Test("A TERMINATE sweep lists the pending jobs before the started ones")
    func terminatePendingFirst() throws {
        let jobs = try Jobs()
        try jobs.session.control(Session.jobIDsSessionAll, .terminate)
        guard case .batch(let ids, .terminate)? = jobs.system.backend.calls.first else {
            Issue.record("expected one batch call: \(jobs.system.backend.calls)")
            return
        }
        #expect(Set(ids.prefix(2)) == [jobs.queued, jobs.held], "\(ids)")
        #expect(Set(ids.suffix(2)) == [jobs.running, jobs.suspended], "\(ids)")
        for (id, state) in jobs.states {
            #expect(try jobs.session.jobStatus(id) == (state == .done ? .done : .failed), "\(id)")
        }
    }

    @Test("A bulk id makes one batch call with its unreaped tasks where legal; a task id or a job id goes to single-job control")
    func bulkIdIsOneBatch() throws {
        let system = RecordingDRM()
        let session = Session(system: system)
        try session.initialize()
        let tasks = try session.runBulkJobs(commandTemplate(), beginIndex: 1, endIndex: 5, step: 1)
        let parent = String(tasks[0].split(separator: ".")[0])
        let embedded = system.backend.embedded
        embedded.start(tasks[0])
        embedded.start(tasks[1])
        embedded.finish(tasks[1], .exited(status: 0))
        _ = try session.wait(tasks[1])
        embedded.start(tasks[2])
        embedded.finish(tasks[2], .exited(status: 0))

        try session.control(parent, .hold)
        #expect(system.backend.calls == [.batch([tasks[3], tasks[4]], .hold)])
        system.backend.clearCalls()
        try session.control(parent, .terminate)
        #expect(system.backend.calls == [.batch([tasks[3], tasks[4], tasks[0]], .terminate)])
        system.backend.clearCalls()

        // Single ids: one call of the single-job control, and its errors are reported.
        let single = try session.runJob(commandTemplate())
        try session.control(single, .hold)
        expectDRMAAError(.suspendInconsistentState) { try session.control(single, .suspend) }
        #expect(system.backend.calls == [.single(single, .hold)])
        let pair = try session.runBulkJobs(commandTemplate(), beginIndex: 1, endIndex: 2, step: 1)
        system.backend.clearCalls()
        try session.control(pair[1], .terminate)
        #expect(system.backend.calls == [.single(pair[1], .terminate)])
    }

    @Test("A bulk job of one task: its bulk id is a sweep, its task id a single job")
    func bulkOfOneTask() throws {
        let system = RecordingDRM()
        let session = Session(system: system)
        try session.initialize()
        let tasks = try session.runBulkJobs(commandTemplate(), beginIndex: 3, endIndex: 3, step: 1)
        let parent = String(tasks[0].split(separator: ".")[0])
        // Not legal for the queued task: skipped by the sweep, reported for the task id.
        try session.control(parent, .suspend)
        expectDRMAAError(.suspendInconsistentState) { try session.control(tasks[0], .suspend) }
        #expect(system.backend.calls.isEmpty)
        try session.control(parent, .hold)
        #expect(system.backend.calls == [.batch(tasks, .hold)])
    }

    @Test("A sweep with nothing to act on succeeds without asking the backend")
    func nothingToDo() throws {
        let system = RecordingDRM()
        let session = Session(system: system)
        try session.initialize()
        for action in JobControlAction.allCases { try session.control(Session.jobIDsSessionAll, action) }
        let id = try session.runJob(commandTemplate())
        system.backend.embedded.finish(id, .exited(status: 0))
        for action in JobControlAction.allCases { try session.control(Session.jobIDsSessionAll, action) }
        #expect(system.backend.calls.isEmpty)
    }

    @Test("Jobs the backend reports failed in a sweep are skipped: the sweep succeeds and acts on the others")
    func backendFailuresAreSkipped() throws {
        let jobs = try Jobs()
        let backend = jobs.system.backend
        backend.failing.withLock {
            $0[jobs.queued] = DRMAAError(.holdInconsistentState, "job \(jobs.queued) started meanwhile")
            $0[jobs.running] = DRMAAError(.drmCommunicationFailure, "the resource manager did not answer for \(jobs.running)")
        }
        try jobs.session.control(Session.jobIDsSessionAll, .hold)
        #expect(try jobs.session.jobStatus(jobs.queued) == .queuedActive)
        try jobs.session.control(Session.jobIDsSessionAll, .terminate)
        #expect(try jobs.session.jobStatus(jobs.queued) == .queuedActive)
        #expect(try jobs.session.jobStatus(jobs.running) == .running)
        #expect(try jobs.session.jobStatus(jobs.held) == .failed)
        #expect(try jobs.session.jobStatus(jobs.suspended) == .failed)
    }

    @Test("A sweep the backend could act on for no job, because the system failed, fails with that error")
    func sweepThatDidNothingFails() throws {
        let jobs = try Jobs()
        let backend = jobs.system.backend
        backend.failing.withLock { failing in
            for id in [jobs.queued, jobs.running, jobs.held, jobs.suspended] {
                failing[id] = DRMAAError(.drmCommunicationFailure, "the resource manager did not answer for \(id)")
            }
        }
        do {
            try jobs.session.control(Session.jobIDsSessionAll, .terminate)
            Issue.record("a sweep that acted on no job must fail")
        } catch {
            #expect(error.code == .drmCommunicationFailure)
        }
        #expect(try jobs.session.jobStatus(jobs.running) == .running)
    }

    @Test("The default batch control applies the single-job rules to each job and returns the errors by job")
    func defaultBatchControl() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let queued = try session.runJob(commandTemplate())
        let other = try session.runJob(commandTemplate())
        let running = try session.runJob(commandTemplate())
        backend.start(running)

        let failures = backend.control([queued, running, other, "no-such-job"], .hold)
        #expect(Set(failures.keys) == [running, "no-such-job"])
        #expect(failures[running]?.code == .holdInconsistentState)
        #expect(failures[running]?.message.contains(running) == true)
        #expect(try session.jobStatus(queued) == .userOnHold)
        #expect(try session.jobStatus(other) == .userOnHold)
        #expect(try session.jobStatus(running) == .running)

        #expect(backend.control([queued, other, running], .terminate).isEmpty)
        for id in [queued, other, running] { #expect(try session.jobStatus(id) == .failed) }
        #expect(backend.control([], .terminate).isEmpty)
    }
}
