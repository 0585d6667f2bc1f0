import Testing
@testable import DRMAACore
import EmbeddedDRM

/// The core's rules against a backend that reports changes only when asked, as a polled resource
/// manager or a daemon would: `jobStatus` and the legality check of `control` ask it first;
/// waiting sees only what was delivered.
@Suite("A remote, delayed backend: states fetched before jobStatus and control", .timeLimit(.minutes(1)))
struct DelayedBackendTests {
    let system = EmbeddedDRM(delivery: .whenAsked)
    let session: Session

    init() throws {
        session = Session(system: system)
        try session.initialize()
    }

    func submit() throws -> String {
        var template = JobTemplate()
        template.remoteCommand = "/bin/true"
        return try session.runJob(template)
    }

    @Test("jobStatus shows the resource manager's state, not the last one delivered")
    func statusIsFresh() throws {
        defer { try? session.exit() }
        let id = try submit()
        let backend = try #require(system.backend)
        backend.start(id)
        #expect(try session.jobStatus(id) == .running)
        backend.finish(id, .exited(status: 3))
        #expect(try session.jobStatus(id) == .done)
        let info = try session.wait(id, timeout: .noWait)
        #expect(info.exitStatus == 3)
    }

    @Test("control decides legality on the current state: SUSPEND of a job that started meanwhile is carried out")
    func controlUsesFreshState() throws {
        defer { try? session.exit() }
        let id = try submit()
        let backend = try #require(system.backend)
        backend.start(id)  // the table still says QUEUED_ACTIVE
        try session.control(id, .suspend)
        #expect(backend.job(id)?.state == .userSuspended)
        #expect(try session.jobStatus(id) == .userSuspended)
    }

    @Test("wait sees a finish only once it is delivered (a poll); until then it times out")
    func waitSeesDeliveredOnly() throws {
        defer { try? session.exit() }
        let id = try submit()
        let backend = try #require(system.backend)
        backend.start(id)
        backend.finish(id, .exited(status: 0))
        expectDRMAAError(.exitTimeout) { _ = try session.wait(id, timeout: .noWait) }
        backend.deliver()
        #expect(try session.wait(id, timeout: .noWait).exitStatus == 0)
    }

    @Test("a sweep refreshes every target: HOLD of SESSION_ALL holds the queued job and skips the one that started")
    func sweepRefreshes() throws {
        defer { try? session.exit() }
        let queued = try submit(), started = try submit()
        let backend = try #require(system.backend)
        backend.start(started)
        try session.control(Session.jobIDsSessionAll, .hold)
        #expect(try session.jobStatus(queued) == .userOnHold)
        #expect(try session.jobStatus(started) == .running)
        try session.control(Session.jobIDsSessionAll, .terminate)
        backend.finish(started, .signaled(signal: 9, coreDumped: false))  // the resource manager killed it
        backend.deliver()
        try session.synchronize([Session.jobIDsSessionAll], timeout: .noWait, dispose: true)
    }

    @Test("reaping is reported to the backend: by wait and by synchronize with dispose, never by a timeout or without dispose")
    func reapingReported() throws {
        defer { try? session.exit() }
        let a = try submit(), b = try submit(), c = try submit()
        let backend = try #require(system.backend)
        for id in [a, b, c] { backend.start(id); backend.finish(id, .exited(status: 0)) }
        expectDRMAAError(.exitTimeout) { _ = try session.wait(a, timeout: .noWait) }
        backend.deliver()
        try session.synchronize([a, b], timeout: .noWait, dispose: false)
        #expect(backend.reapedJobs.isEmpty)
        _ = try session.wait(a, timeout: .noWait)
        #expect(backend.reapedJobs == [a])
        _ = try session.wait(b, timeout: .noWait)
        #expect(backend.reapedJobs == [a, b])
        try session.synchronize([Session.jobIDsSessionAll], timeout: .noWait, dispose: true)
        #expect(backend.reapedJobs == [a, b, c])
    }

    @Test("the async wait and synchronize report reaping too")
    func asyncReapingReported() async throws {
        defer { try? session.exit() }
        let a = try submit(), b = try submit()
        let backend = try #require(system.backend)
        for id in [a, b] { backend.start(id); backend.finish(id, .exited(status: 0)) }
        backend.deliver()
        _ = try await session.wait(a, timeout: .noWait)
        try await session.synchronize([b], timeout: .noWait, dispose: true)
        #expect(backend.reapedJobs == [a, b])
    }
}

/// The core against a backend whose resource manager names each job as it accepts it (Slurm's
/// `sbatch` prints the id): no id is asked for first, and the ids it gives are the ones used.
@Suite("A backend that names jobs on submission", .timeLimit(.minutes(1)))
struct NamingBackendTests {
    let system = EmbeddedDRM(taskIDSeparator: "_", namesJobsOnSubmission: true)
    let session: Session

    init() throws {
        session = Session(system: system)
        try session.initialize()
    }

    @Test("run_job and run_bulk_jobs return the ids the backend gave; the jobs are waited for under them")
    func idsComeFromTheBackend() throws {
        defer { try? session.exit() }
        var template = JobTemplate()
        template.remoteCommand = "/bin/true"
        let single = try session.runJob(template)
        #expect(single.hasPrefix("S"))
        let tasks = try session.runBulkJobs(template, beginIndex: 2, endIndex: 6, step: 2)
        let bulk = try #require(tasks.first?.split(separator: "_").first.map(String.init))
        #expect(tasks == ["\(bulk)_2", "\(bulk)_4", "\(bulk)_6"])
        let backend = try #require(system.backend)
        #expect(backend.submitted.map { $0.map(\.jobID) } == [[single], tasks])
        for id in [single] + tasks {
            backend.start(id)
            backend.finish(id, .exited(status: 0))
        }
        #expect(try session.wait(single, timeout: .noWait).jobID == single)
        try session.synchronize(tasks, timeout: .noWait, dispose: true)
        expectDRMAAError(.invalidJob) { _ = try session.jobStatus(single) }
    }

    @Test("a refused submission adds no job to the session")
    func refusedAddsNothing() throws {
        defer { try? session.exit() }
        var template = JobTemplate()
        template.remoteCommand = "/bin/true"
        template.nativeSpecification = EmbeddedBackend.refusedNativeOption
        expectDRMAAError(.deniedByDRM) { _ = try session.runJob(template) }
        expectDRMAAError(.invalidJob) { _ = try session.wait(Session.jobIDsSessionAny, timeout: .noWait) }
        #expect(system.backend?.submitted.isEmpty == true)
    }
}
