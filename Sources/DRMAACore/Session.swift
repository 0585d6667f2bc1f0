import Synchronization

/// The DRMAA version this library implements.
public struct Version: Sendable, Equatable, CustomStringConvertible {
    public let major: UInt32
    public let minor: UInt32
    public var description: String { "\(major).\(minor)" }
}

/// A DRMAA session: the entry point for submitting, controlling and monitoring jobs.
///
/// Every call blocks the calling thread (the C binding's model); ``wait(_:timeout:)-(String,_)``
/// and ``synchronize(_:timeout:dispose:)-(_,_,Bool)`` also have `async` forms that never block a
/// cooperative thread. Any number of sessions may live in one process; each owns its backend.
///
/// ```swift
/// let session = Session(system: LocalDRM())
/// try session.initialize()
/// var template = JobTemplate()
/// template.remoteCommand = "/bin/echo"
/// template.args = ["hello"]
/// let id = try session.runJob(template)
/// let info = try session.wait(id)
/// try session.exit()
/// ```
public final class Session: Sendable {
    /// `DRMAA_JOB_IDS_SESSION_ANY`: wait for any job of the session.
    public static let jobIDsSessionAny = "DRMAA_JOB_IDS_SESSION_ANY"
    /// `DRMAA_JOB_IDS_SESSION_ALL`: every job of the session (synchronize, control).
    public static let jobIDsSessionAll = "DRMAA_JOB_IDS_SESSION_ALL"
    /// The most tasks one bulk job may have; more is `DENIED_BY_DRM` (Grid Engine's `max_aj_tasks`
    /// plays the same role).
    public static let maximumBulkTasks = 1_000_000
    /// The DRMAA version, 1.0.
    public static let version = Version(major: 1, minor: 0)

    /// The resource manager this session talks to.
    public let system: any DRMSystem

    /// Where the session is in its life. `opening` covers the time `initialize` spends outside
    /// the lock making the backend (which may read files), so that no other call waits for it.
    private enum State {
        case closed
        case opening
        case open(Attachment)
    }
    private let state = Mutex<State>(.closed)

    /// A session on `system`; call ``initialize(contact:)`` before anything else.
    public init(system: any DRMSystem) {
        self.system = system
    }

    // MARK: Lifecycle

    /// Opens the session (`drmaa_init`). `nil` or `""` opens a new session; `session=<key>` (a
    /// ``contact`` of an exited session of this process) re-attaches to that session's jobs.
    /// Other `name=value` pairs, separated by `;`, are options for the backend.
    ///
    /// In a process forked from the one that opened the session, the inherited session belongs
    /// to the parent: `initialize` opens a new one, and every other call first replaces the
    /// inherited session with a new one of the same settings (the parent's jobs stay the parent's).
    public func initialize(contact: String? = nil) throws(DRMAAError) {
        let (key, options) = try Self.parseContact(contact ?? "")
        try state.withLock { state throws(DRMAAError) in
            switch state {
            case .open(let current) where current.backend.isOwnedByThisProcess:
                throw DRMAAError(.alreadyActiveSession, "drmaa_init was already called; call drmaa_exit first")
            case .opening:
                throw DRMAAError(.alreadyActiveSession, "drmaa_init is already in progress in another thread")
            case .open, .closed:
                state = .opening
            }
        }
        do throws(DRMAAError) {
            let attachment = try open(key: key, options: options, contact: contact ?? "")
            state.withLock { $0 = .open(attachment) }
        } catch {
            state.withLock { $0 = .closed }
            throw error
        }
    }

    /// The attachment `initialize` installs: a re-attached one, or a new one (made outside any lock).
    private func open(key: String?, options: [ContactOption], contact: String) throws(DRMAAError) -> Attachment {
        guard let key else { return try Attachment(system: system, key: Attachment.newKey(), options: options) }
        // The key is claimed first, so that no other session can take it meanwhile.
        guard Attachment.claim(key) else {
            throw DRMAAError(.invalidContactString, "session \(key) is open already (in this or another Session object of this process)")
        }
        do throws(DRMAAError) {
            if let detached = try Attachment.takeDetached(key: key) {
                guard options.isEmpty || Attachment.merged(options, detached.backend.contactOptions).elementsEqual(detached.options, by: ==) else {
                    Attachment.storeDetached(detached)
                    throw DRMAAError(.invalidContactString, "contact '\(contact)' gives other settings than session \(key) was opened with ('\(detached.contact)'): a re-attached session keeps its settings")
                }
                detached.table.reattach()
                detached.backend.sessionDidReattach()
                return detached
            }
            // An exited session that had no jobs left is not kept (it would cost memory for nothing):
            // re-attaching to it opens an empty session with the same key and the settings its contact names.
            guard Attachment.wasIssuedHere(key) else {
                if let reattached = try Attachment.reattached(system: system, key: key, options: options) {
                    return reattached
                }
                throw DRMAAError(.invalidContactString, "no session 'session=\(key)' is known to this process or to \(system.drmsInfo) to re-attach to: it never existed, or it ended with every job reaped")
            }
            return try Attachment(system: system, key: key, options: options, claimed: true)
        } catch {
            Attachment.unclaim(key)
            throw error
        }
    }

    /// Closes the session (`drmaa_exit`). Jobs keep running; their results stay available to a
    /// session that re-attaches with ``contact``. Waits in progress end with `NO_ACTIVE_SESSION`.
    public func exit() throws(DRMAAError) {
        let closed = try state.withLock { state throws(DRMAAError) -> Attachment in
            switch state {
            case .open(let active):
                state = .closed
                return active
            case .opening:
                throw DRMAAError(.noActiveSession, "drmaa_exit called while drmaa_init is still in progress in another thread")
            case .closed:
                throw DRMAAError(.noActiveSession, "drmaa_exit called without an active session")
            }
        }
        // A session inherited through fork() is the parent's: it is only forgotten here.
        guard closed.backend.isOwnedByThisProcess else { return }
        closed.table.detach()
        closed.backend.sessionDidExit()
        // Kept before its key is given up, so that a re-attach in between cannot miss it.
        if closed.table.hasJobs { Attachment.storeDetached(closed) }
        Attachment.unclaim(closed.key)
    }

    /// The contact string of the active session, `""` when there is none: `session=<key>`,
    /// followed by the backend options it was opened with (`;slots=4`), so that re-attaching with
    /// it restores the same settings.
    public var contact: String {
        state.withLock { state in
            if case .open(let attachment) = state { attachment.contact } else { "" }
        }
    }

    /// A description of the resource manager (`drmaa_get_DRM_system`).
    public var drmsInfo: String { system.drmsInfo }
    /// The name and version of this implementation (`drmaa_get_DRMAA_implementation`).
    public var drmaaImplementation: String { system.drmaaImplementation }
    /// The DRMAA version, 1.0 (`drmaa_version`).
    public var version: Version { Self.version }

    /// How many exited sessions this process keeps for a re-attach (those with unreaped jobs).
    package static var keptExitedSessions: Int { Attachment.detachedCount }

    /// True between ``initialize(contact:)`` and ``exit()``.
    public var isActive: Bool {
        state.withLock { state in
            if case .open = state { true } else { false }
        }
    }

    private func active() throws(DRMAAError) -> Attachment {
        let current = try state.withLock { state throws(DRMAAError) -> Attachment in
            switch state {
            case .open(let attachment): return attachment
            case .opening: throw DRMAAError(.noActiveSession, "the DRMAA session is still being opened by drmaa_init in another thread")
            case .closed: throw DRMAAError(.noActiveSession, "no active DRMAA session: call initialize (drmaa_init) first")
            }
        }
        guard !current.backend.isOwnedByThisProcess else { return current }
        return try replaceInherited(current)
    }

    /// This process was forked from the one that opened `inherited`: gives it a session of its
    /// own, with the same settings and no jobs (the parent's jobs are not this process's children).
    private func replaceInherited(_ inherited: Attachment) throws(DRMAAError) -> Attachment {
        try state.withLock { state throws(DRMAAError) in
            guard case .open(let current) = state, current === inherited else {
                throw DRMAAError(.noActiveSession, "the DRMAA session inherited through fork() is being replaced by another thread")
            }
            state = .opening
        }
        do throws(DRMAAError) {
            let fresh = try Attachment(system: system, key: Attachment.newKey(), options: inherited.options)
            state.withLock { $0 = .open(fresh) }
            return fresh
        } catch {
            state.withLock { $0 = .closed }
            throw error
        }
    }

    // MARK: Templates

    /// A new, empty job template (`drmaa_allocate_job_template`); needs an active session.
    public func createJobTemplate() throws(DRMAAError) -> JobTemplate {
        _ = try active()
        return JobTemplate()
    }

    /// Releases a template (`drmaa_delete_job_template`). Templates are values, so this does
    /// nothing; submitted jobs are never affected. Allowed without a session.
    public func deleteJobTemplate(_ template: JobTemplate) {}

    // MARK: Submission

    /// Submits one job (`drmaa_run_job`) and returns its id.
    public func runJob(_ template: JobTemplate) throws(DRMAAError) -> String {
        let session = try active()
        // The backend's reading of the native specification first: what it fills in is what
        // placeholders, relative paths and default names resolve against.
        let effective = try session.backend.effectiveTemplate(for: template)
        let builder = try session.builder(effective, bulk: false)
        if session.backend.namesJobsOnSubmission {
            return try session.submitNamingJob(Submission(jobID: "", taskIndexes: nil, builder: builder,
                                                          taskID: Self.taskID(session.backend)), template: effective)[0]
        }
        let submission = Submission(jobID: try session.backend.newJobID(), taskIndexes: nil, builder: builder,
                                    taskID: Self.taskID(session.backend))
        try session.submit(submission, ids: [submission.jobID], template: effective)
        return submission.jobID
    }

    /// Submits a bulk job (`drmaa_run_bulk_jobs`): tasks `beginIndex`, `beginIndex + step`, …
    /// up to `endIndex`, with ids `"<job>.<index>"`, returned in index order.
    public func runBulkJobs(_ template: JobTemplate, beginIndex: Int, endIndex: Int, step: Int) throws(DRMAAError) -> [String] {
        let session = try active()
        guard beginIndex >= 1, endIndex >= beginIndex, step >= 1, endIndex <= Int(Int32.max) else {
            throw .invalidArgument("bulk job indexes \(beginIndex)...\(endIndex) step \(step) are invalid: need 1 <= begin <= end <= 2147483647 and step >= 1")
        }
        let count = (endIndex - beginIndex) / step + 1
        guard count <= Self.maximumBulkTasks else {
            throw .denied("a bulk job of \(count) tasks exceeds the limit of \(Self.maximumBulkTasks) tasks per bulk job")
        }
        let effective = try session.backend.effectiveTemplate(for: template)
        let builder = try session.builder(effective, bulk: true)
        let indexes = stride(from: beginIndex, through: endIndex, by: step)
        if session.backend.namesJobsOnSubmission {
            return try session.submitNamingJob(Submission(jobID: "", taskIndexes: indexes, builder: builder,
                                                          taskID: Self.taskID(session.backend)), template: effective)
        }
        let submission = Submission(jobID: try session.backend.newJobID(), taskIndexes: indexes,
                                    builder: builder, taskID: Self.taskID(session.backend))
        let ids = submission.jobIDs
        try session.submit(submission, ids: ids, template: effective)
        return ids
    }

    /// How `backend` spells the ids of bulk tasks.
    private static func taskID(_ backend: any Backend) -> @Sendable (String, Int) -> String {
        { [backend] bulk, index in backend.taskJobID(bulkJobID: bulk, taskIndex: index) }
    }

    // MARK: Control and status

    /// Suspends, resumes, holds, releases or terminates a job (`drmaa_control`). A bulk job id
    /// applies the action to each of its tasks, and `SESSION_ALL` to every job of the session,
    /// as one action: jobs for which the action is not legal are skipped, and no job of the sweep
    /// starts after the call began (TERMINATE ends the pending ones without running them, HOLD
    /// holds every queued one at once).
    public func control(_ jobID: String, _ action: JobControlAction) throws(DRMAAError) {
        let session = try active()
        if jobID != Self.jobIDsSessionAll, !session.table.knows(jobID), try session.backend.controlOtherJob(jobID, action) {
            return  // another session's job, acted on by the backend
        }
        var targets = try session.table.controlTargets(jobID)
        if !session.backend.reportsEveryChange {
            // Decide legality on the resource manager's current states, not the last ones heard.
            try session.backend.updateStates(of: targets.map(\.id))
            targets = try session.table.controlTargets(jobID)
        }
        if jobID != Self.jobIDsSessionAll, targets.count == 1, let target = targets.first, target.id == jobID {
            guard try target.state.decide(action, jobID: jobID) == .perform else { return }
            try session.backend.control(jobID, action)
            return
        }
        // A sweep: the jobs where the action is legal go to the backend in one call, the others
        // are skipped, and so are those that changed state meanwhile (digest §4.4: SESSION_ALL succeeds).
        var sweep: [String] = []
        var started: [String] = []
        for target in targets where (try? target.state.decide(action, jobID: target.id)) == .perform {
            // TERMINATE: pending jobs first, so that a backend acting on one job at a time never
            // frees a slot while a pending job of the sweep could still take it.
            if action == .terminate && target.state.isStarted { started.append(target.id) } else { sweep.append(target.id) }
        }
        sweep += started
        guard !sweep.isEmpty else { return }
        // Jobs the backend could not act on are skipped as above, unless it acted on none and a
        // failure of the system itself (the controller unreachable, the action refused) is why:
        // then nothing happened, and the call says so.
        let skippable: Set<ErrorCode> = [.resumeInconsistentState, .suspendInconsistentState, .holdInconsistentState,
                                         .releaseInconsistentState, .invalidJob]
        let errors = session.backend.control(sweep, action)
        if sweep.allSatisfy({ errors[$0] != nil }),
           let failure = sweep.lazy.compactMap({ errors[$0] }).first(where: { !skippable.contains($0.code) }) {
            throw failure
        }
    }

    /// The state of a job (`drmaa_job_ps`).
    public func jobStatus(_ jobID: String) throws(DRMAAError) -> JobState {
        let session = try active()
        if !session.table.knows(jobID), let state = try session.backend.stateOfOtherJob(jobID) {
            return state  // another session's job
        }
        if !session.backend.reportsEveryChange {
            try session.backend.updateStates(of: [jobID])
        }
        return try session.table.status(jobID)
    }

    // MARK: Waiting

    /// Waits for a job (or any job, with ``jobIDsSessionAny``) to finish, reaps it and returns its
    /// outcome (`drmaa_wait`). Throws `EXIT_TIMEOUT` when the timeout expires first, and
    /// `INVALID_JOB` for unknown or already reaped jobs.
    public func wait(_ jobID: String, timeout: Timeout = .forever) throws(DRMAAError) -> JobInfo {
        let session = try active()
        let info = try session.table.blockingWait(timeout: timeout, session.table.waitAttempt(jobID))
        session.backend.jobsReaped([info.jobID])
        return info
    }

    /// Waits until every listed job has finished (`drmaa_synchronize`); unknown and reaped ids
    /// count as finished, ``jobIDsSessionAll`` means every job of the session. With `dispose`,
    /// the jobs are reaped, otherwise they remain for ``wait(_:timeout:)-(String,_)``.
    public func synchronize(_ jobIDs: [String], timeout: Timeout = .forever, dispose: Bool = false) throws(DRMAAError) {
        let session = try active()
        let reaped = try session.table.blockingWait(timeout: timeout, session.table.synchronizeAttempt(jobIDs, dispose: dispose))
        if !reaped.isEmpty { session.backend.jobsReaped(reaped) }
    }

    /// The async form of ``wait(_:timeout:)-(String,_)``; suspends without blocking a thread.
    public func wait(_ jobID: String, timeout: Timeout = .forever) async throws(DRMAAError) -> JobInfo {
        let session = try active()
        let info = try await session.table.asyncWait(timeout: timeout, session.table.waitAttempt(jobID))
        session.backend.jobsReaped([info.jobID])
        return info
    }

    /// The async form of ``synchronize(_:timeout:dispose:)-(_,_,Bool)``.
    public func synchronize(_ jobIDs: [String], timeout: Timeout = .forever, dispose: Bool = false) async throws(DRMAAError) {
        let session = try active()
        let reaped = try await session.table.asyncWait(timeout: timeout, session.table.synchronizeAttempt(jobIDs, dispose: dispose))
        if !reaped.isEmpty { session.backend.jobsReaped(reaped) }
    }

    // MARK: Contact strings

    /// Splits `name=value;name=value`; `session` is ours, the rest goes to the backend.
    static func parseContact(_ contact: String) throws(DRMAAError) -> (key: String?, options: [ContactOption]) {
        var key: String?
        var options: [ContactOption] = []
        for part in contact.split(separator: ";", omittingEmptySubsequences: true) {
            let pair = part.trimmingSpaces
            if pair.isEmpty { continue }
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw DRMAAError(.invalidContactString, "contact string '\(contact)' is invalid: '\(pair)' is not name=value (expected e.g. 'session=<key>')")
            }
            let name = String(pair[..<equals]), value = String(pair[pair.index(after: equals)...])
            if name == "session" {
                guard !value.isEmpty else {
                    throw DRMAAError(.invalidContactString, "contact string '\(contact)' has an empty session key")
                }
                key = value
            } else {
                options.append((name, value))
            }
        }
        return (key, options)
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}

/// A backend option of a contact string, `name=value`.
public typealias ContactOption = (name: String, value: String)

/// A session's live parts: its key, job table and backend. Kept in a process-wide registry
/// while the session is exited with jobs left, so that `initialize(contact:)` can re-attach to it.
final class Attachment: Sendable {
    let key: String
    let table: JobTable
    let backend: any Backend
    /// The contact string's backend options, for ``contact`` and for a forked child's new session.
    let options: [ContactOption]

    /// A new attachment with an empty table and a backend made by `system`. Its key is marked
    /// open (``claim(_:)``) unless the caller did so already.
    init(system: any DRMSystem, key: String, options: [ContactOption], claimed: Bool = false) throws(DRMAAError) {
        let table = JobTable()
        (self.key, self.table) = (key, table)
        let backend = try system.makeBackend(sessionKey: key, options: options, jobs: table)
        (self.backend, self.options) = (backend, Self.merged(options, backend.contactOptions))
        if !claimed { _ = Self.claim(key) }
    }

    /// The contact's options, then those the backend needs that it does not name.
    static func merged(_ options: [ContactOption], _ needed: [ContactOption]) -> [ContactOption] {
        options + needed.filter { option in !options.contains { $0.name == option.name } }
    }

    /// The attachment of a session re-attached through its system (``DRMSystem/reattachBackend(sessionKey:options:jobs:)``);
    /// `nil` if the system knows no session `key`. The key must be claimed.
    static func reattached(system: any DRMSystem, key: String, options: [ContactOption]) throws(DRMAAError) -> Attachment? {
        let table = JobTable()
        guard let backend = try system.reattachBackend(sessionKey: key, options: options, jobs: table) else { return nil }
        return Attachment(key: key, table: table, backend: backend, options: merged(options, backend.contactOptions))
    }

    private init(key: String, table: JobTable, backend: any Backend, options: [ContactOption]) {
        (self.key, self.table, self.backend, self.options) = (key, table, backend, options)
    }

    /// `session=<key>` and the options, as `drmaa_get_contact` returns them.
    var contact: String {
        (["session=\(key)"] + options.map { "\($0.name)=\($0.value)" }).joined(separator: ";")
    }

    func builder(_ template: JobTemplate, bulk: Bool) throws(DRMAAError) -> RequestBuilder {
        try RequestBuilder(template: template, homeDirectory: backend.homeDirectory, now: backend.clock.now(),
                           timeZone: backend.timeZone, bulk: bulk)
    }

    /// Records and hands over a submission; the template was validated (by us and the backend)
    /// before its id was allocated.
    func submit(_ submission: Submission, ids: [String], template: JobTemplate) throws(DRMAAError) {
        table.add(ids, bulkJobID: submission.bulkJobID, state: template.jobSubmissionState == .hold ? .userOnHold : .queuedActive)
        do throws(DRMAAError) {
            try backend.submit(submission)
        } catch {
            table.remove(ids, bulkJobID: submission.bulkJobID)
            throw error
        }
    }

    /// Hands a submission to a backend that names its job (``Backend/namesJobsOnSubmission``),
    /// then records its jobs under the ids it got; returns them in index order.
    func submitNamingJob(_ submission: Submission, template: JobTemplate) throws(DRMAAError) -> [String] {
        var ids: [String] = []
        let jobID = try backend.submitNamingJob(submission) { named in
            ids = named.jobIDs
            table.add(ids, bulkJobID: named.bulkJobID, state: template.jobSubmissionState == .hold ? .userOnHold : .queuedActive)
        }
        guard !ids.isEmpty, ids == submission.named(jobID).jobIDs else {
            throw DRMAAError(.internalError, "the backend accepted the job as '\(jobID)' but did not record it under that id")
        }
        return ids
    }

    private static let detached = Mutex<[String: Attachment]>([:])
    private static let sessionCounter = Atomic<Int>(0)
    /// Distinguishes this process's session keys from another process's.
    private static let processNonce: String = {
        var generator = SystemRandomNumberGenerator()
        // 64 bits: keys of the durable mode's sessions must differ across every process of the user.
        return String(generator.next() as UInt64, radix: 16)
    }()

    /// `<process nonce>-<n>-<random>`: the random part keeps apart the keys of processes forked
    /// from one (they inherit the nonce and the counter, and may each open their session n).
    static func newKey() -> String {
        var generator = SystemRandomNumberGenerator()
        return "\(processNonce)-\(sessionCounter.add(1, ordering: .relaxed).newValue)-\(String(generator.next() as UInt32, radix: 16))"
    }

    /// True if `key` is one ``newKey()`` has returned in this process.
    static func wasIssuedHere(_ key: String) -> Bool {
        let parts = key.split(separator: "-")
        guard parts.count == 3, parts[0] == processNonce, let number = Int(parts[1]) else { return false }
        return number >= 1 && number <= sessionCounter.load(ordering: .relaxed)
    }

    /// The keys of the sessions open in this process (kept or not, an exited session's key is not here).
    private static let openKeys = Mutex<Set<String>>([])

    /// Marks `key` open; false if a session with it is open already.
    static func claim(_ key: String) -> Bool {
        openKeys.withLock { $0.insert(key).inserted }
    }

    static func unclaim(_ key: String) {
        _ = openKeys.withLock { $0.remove(key) }
    }

    static func storeDetached(_ attachment: Attachment) {
        detached.withLock { $0[attachment.key] = attachment }
    }

    /// The exited session with `key`, taken out of the registry; `nil` if none is kept.
    /// One inherited through fork() belongs to the parent process and cannot be re-attached here.
    static func takeDetached(key: String) throws(DRMAAError) -> Attachment? {
        guard let attachment = detached.withLock({ $0.removeValue(forKey: key) }) else { return nil }
        guard attachment.backend.isOwnedByThisProcess else {
            throw DRMAAError(.invalidContactString, "session \(key) belongs to the process this one was forked from: its jobs are that process's children, so they cannot be re-attached here")
        }
        return attachment
    }

    /// How many exited sessions are kept for a re-attach (for tests).
    static var detachedCount: Int { detached.withLock { $0.count } }
}

/// Job ids: a process-wide counter from 1, never reused, even across sessions.
public enum JobIDs {
    private static let counter = Atomic<Int>(0)
    public static func next() -> Int { counter.add(1, ordering: .relaxed).newValue }
}
