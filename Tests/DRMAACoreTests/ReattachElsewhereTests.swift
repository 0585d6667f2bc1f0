import Synchronization
import Testing
@testable import DRMAACore
import EmbeddedDRM

/// A system that keeps sessions beyond this process, as a daemon would: it is told each new
/// session's key, and re-attaches to keys this process never issued by restoring their jobs.
final class KeepingDRM: DRMSystem {
    let embedded = EmbeddedDRM()
    /// The keys of the sessions made, and the sessions it "keeps" (as another process left them).
    let madeKeys = Mutex<[String]>([])
    let kept: [String: [JobTable.RestoredJob]]

    init(kept: [String: [JobTable.RestoredJob]]) { self.kept = kept }

    var drmsInfo: String { embedded.drmsInfo }
    var drmaaImplementation: String { embedded.drmaaImplementation }

    func makeBackend(options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> any Backend {
        try embedded.makeBackend(options: options, jobs: jobs)
    }

    func makeBackend(sessionKey: String, options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> any Backend {
        madeKeys.withLock { $0.append(sessionKey) }
        return try embedded.makeBackend(options: options, jobs: jobs)
    }

    func reattachBackend(sessionKey: String, options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> (any Backend)? {
        guard let restored = kept[sessionKey] else { return nil }
        let backend = try embedded.makeBackend(options: options, jobs: jobs)
        jobs.restore(restored)
        return backend
    }
}

@Suite("Re-attaching to a session another process opened, through its system", .serialized, .timeLimit(.minutes(1)))
// Serialized: two of its tests open the same key, which a process holds once (process-wide).
struct ReattachElsewhereTests {
    static let usage: ResourceUsage = {
        var usage = ResourceUsage()
        usage.exitStatus = 4
        return usage
    }()

    let system = KeepingDRM(kept: ["elsewhere-1": [
        .init(id: "41", state: .done, outcome: JobOutcome(termination: .exited(status: 4), usage: usage)),
        .init(id: "42", state: .running),
        .init(id: "50_1", bulkJobID: "50", state: .queuedActive),
        .init(id: "50_2", bulkJobID: "50", state: .done, outcome: JobOutcome(termination: .aborted(reason: "terminated"), usage: nil)),
    ]])

    @Test("the system is told each new session's key")
    func newSessionKeyTold() throws {
        let session = Session(system: system)
        try session.initialize()
        defer { try? session.exit() }
        let key = session.contact.split(separator: ";").first.map { String($0.dropFirst("session=".count)) }
        #expect(system.madeKeys.withLock { $0 } == [key])
    }

    @Test("a key this process never issued re-attaches to the restored jobs: states, outcomes, bulk membership")
    func restoredJobs() throws {
        let session = Session(system: system)
        try session.initialize(contact: "session=elsewhere-1")
        defer { try? session.exit() }
        #expect(session.contact == "session=elsewhere-1")
        #expect(try session.jobStatus("42") == .running)
        #expect(try session.jobStatus("50_1") == .queuedActive)
        #expect(try session.jobStatus("50_2") == .failed)
        #expect(expectDRMAAError(.invalidJob) { _ = try session.jobStatus("50") }?.message.contains("bulk job") == true)
        let first = try session.wait(Session.jobIDsSessionAny, timeout: .noWait)
        #expect(first.jobID == "41" && first.exitStatus == 4)
        #expect(try session.wait("50_2", timeout: .noWait).wasAborted)
        expectDRMAAError(.exitTimeout) { _ = try session.wait("42", timeout: .noWait) }
    }

    @Test("a key neither this process nor the system knows is INVALID_CONTACT_STRING; one open here cannot be opened twice")
    func unknownKeys() throws {
        let session = Session(system: system)
        expectDRMAAError(.invalidContactString) { try session.initialize(contact: "session=nowhere-9") }
        try session.initialize(contact: "session=elsewhere-1")
        defer { try? session.exit() }
        let second = Session(system: system)
        expectDRMAAError(.invalidContactString) { try second.initialize(contact: "session=elsewhere-1") }
    }
}

@Suite("Another session's jobs: job_ps and control accept them, wait stays with the session", .timeLimit(.minutes(1)))
struct OtherSessionJobTests {
    @Test("a job of another session of the same system: status and control work, wait is INVALID_JOB")
    func otherSessionsJob() throws {
        let system = EmbeddedDRM()
        let owner = Session(system: system), other = Session(system: system)
        try owner.initialize()
        defer { try? owner.exit() }
        var template = JobTemplate()
        template.remoteCommand = "/bin/true"
        let id = try owner.runJob(template)
        try other.initialize()
        defer { try? other.exit() }
        #expect(try other.jobStatus(id) == .queuedActive)
        try other.control(id, .hold)
        #expect(try owner.jobStatus(id) == .userOnHold)
        #expect(try other.jobStatus(id) == .userOnHold)
        // The legality is the job's: RESUME of a held job is refused as for its own session.
        expectDRMAAError(.resumeInconsistentState) { try other.control(id, .resume) }
        expectDRMAAError(.invalidJob) { _ = try other.wait(id, timeout: .noWait) }
        expectDRMAAError(.invalidJob) { _ = try other.jobStatus("no-such-job") }
        expectDRMAAError(.invalidJob) { try other.control("no-such-job", .hold) }
        // SESSION_ALL stays the session's own: the other session has none, the job stays held.
        try other.control(Session.jobIDsSessionAll, .release)
        #expect(try owner.jobStatus(id) == .userOnHold)
    }
}
