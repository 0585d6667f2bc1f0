/// A distributed resource management system that DRMAA sessions can use: LocalDRM, and later
/// Slurm or a vendor's libdrmaa. It describes itself and makes one ``Backend`` per session.
public protocol DRMSystem: Sendable {
    /// What `drmaa_get_DRM_system` returns; the same before and after `init`.
    var drmsInfo: String { get }
    /// What `drmaa_get_DRMAA_implementation` returns; the same before and after `init`.
    var drmaaImplementation: String { get }
    /// Makes the backend of a new session. `options` are the contact string's `name=value`
    /// pairs other than `session`; an unknown or malformed one is `INVALID_CONTACT_STRING`.
    /// The backend reports what happens to its jobs into `jobs`.
    func makeBackend(options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> any Backend

    /// Makes the backend of a new session whose key (`session=<key>` in its contact) is
    /// `sessionKey`: a system that keeps sessions beyond this process (a daemon, a resource
    /// manager's job tags) records it, so that another process can re-attach. The default calls
    /// ``makeBackend(options:jobs:)``.
    func makeBackend(sessionKey: String, options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> any Backend

    /// Re-attaches to session `sessionKey`, which this process did not open (it was opened by
    /// another process, or before a restart): returns its backend after restoring every unreaped
    /// job into `jobs` (``JobTable/restore(_:)``), or `nil` if the system knows no such session —
    /// the default, for systems whose sessions live in one process. `options` are the contact's
    /// other options.
    func reattachBackend(sessionKey: String, options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> (any Backend)?
}

extension DRMSystem {
    public func makeBackend(sessionKey: String, options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> any Backend {
        try makeBackend(options: options, jobs: jobs)
    }

    public func reattachBackend(sessionKey: String, options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> (any Backend)? {
        nil
    }
}

/// Where a backend reports what happens to jobs: the session's ``JobTable``, or (in a daemon
/// that runs jobs for sessions in other processes) whatever forwards the reports to them.
public protocol JobReports: AnyObject, Sendable {
    /// ``JobTable/reportState(_:_:)``.
    func reportState(_ jobID: String, _ newState: JobState)
    /// ``JobTable/reportTerminating(_:)``.
    func reportTerminating(_ jobID: String)
    /// ``JobTable/reportNote(_:_:)``.
    func reportNote(_ jobID: String, _ note: String?)
    /// ``JobTable/reportFinished(_:_:)``.
    func reportFinished(_ jobID: String, _ outcome: JobOutcome)
}

extension JobTable: JobReports {}

/// The seam every backend implements: it runs jobs and carries out control actions, and
/// reports states and outcomes into the session's ``JobTable``. All DRMAA rules (states, legality,
/// waiting, reaping, placeholders, templates) stay in DRMAACore.
///
/// Calls may arrive on any thread, concurrently.
public protocol Backend: AnyObject, Sendable {
    /// The home directory of the jobs' user, for `$drmaa_hd_ph$` and the default working directory.
    var homeDirectory: String { get }
    /// The wall clock used for submission times and partial timestamps.
    var clock: any WallClock { get }
    /// The local time zone of the submitting host, for partial timestamps without a zone.
    var timeZone: any TimeZoneRule { get }

    /// Checks what only the backend understands (native specification, job category) before any
    /// job id is allocated; a refusal is `DENIED_BY_DRM` with the offending option named.
    func validate(_ template: JobTemplate) throws(DRMAAError)

    /// The template a submission's jobs run with: it checks what ``validate(_:)`` checks, and may
    /// fill attributes that `template` leaves unset from what only the backend reads (a job name,
    /// working directory, environment entries or limits given in the native specification or job
    /// category), so that placeholders, relative paths and default output names follow from them.
    /// Called first when `run_job` or `run_bulk_jobs` submits, before any job id is allocated;
    /// the caller's template is never changed. The default validates and returns `template`.
    func effectiveTemplate(for template: JobTemplate) throws(DRMAAError) -> JobTemplate

    /// Accepts the jobs of one `run_job` or `run_bulk_jobs` call. The table already holds them as
    /// QUEUED_ACTIVE or USER_ON_HOLD. On a throw the whole submission is withdrawn.
    /// A bulk job's task requests are made on demand (``Submission/request(taskIndex:)``), so a
    /// backend need not hold one request per task.
    func submit(_ submission: Submission) throws(DRMAAError)

    /// True for a backend whose resource manager names a submission's job when it accepts it
    /// (Slurm's `sbatch` prints the id): the session then calls ``submitNamingJob(_:)`` instead
    /// of ``newJobID()`` and ``submit(_:)``. False (the default) for backends that can hand out
    /// ids first (LocalDRM, its daemon).
    var namesJobsOnSubmission: Bool { get }

    /// Accepts the jobs of one `run_job` or `run_bulk_jobs` call and returns the id of the job,
    /// or of the bulk job, that the resource manager gave it (tasks are then
    /// ``taskJobID(bulkJobID:taskIndex:)``). `submission`'s ``Submission/jobID`` is empty: its
    /// requests must not be used for anything that names the job. As soon as the id is known,
    /// and before the backend reports anything about the jobs, it calls `record` with the
    /// submission under that id (``Submission/named(_:)``): that puts the jobs into the table.
    /// On a throw nothing was submitted and `record` was not called. Called only when
    /// ``namesJobsOnSubmission`` is true; the default refuses.
    func submitNamingJob(_ submission: Submission, record: (Submission) -> Void) throws(DRMAAError) -> String

    /// Carries out a control action that the legality matrix allows for the job's last known
    /// state. If the job's real state has moved on, throw the matching inconsistent-state error.
    /// TERMINATE of a pending job reports it finished (aborted, no usage); of a started job,
    /// ``JobTable/reportTerminating(_:)`` now and the outcome when it is gone.
    func control(_ jobID: String, _ action: JobControlAction) throws(DRMAAError)

    /// Carries out one control action on many jobs as one action: `control(SESSION_ALL, …)` and
    /// control of a bulk job id call it once, with every job of the sweep for which the legality
    /// matrix allows the action in its last known state (never empty, each id once). For
    /// TERMINATE the pending jobs (queued, held) come first in `jobIDs`.
    ///
    /// What callers rely on: no job of the sweep starts after the call began, whether the action
    /// is TERMINATE (a slot freed by a terminated job must not start a pending one of the same
    /// sweep: the pending ones end first, without running) or HOLD (every queued job of the sweep
    /// is held before any of them can be taken to start). Each job is acted on by the rules of
    /// ``control(_:_:)-(String,_)``, including its inconsistent-state errors when its real state
    /// has moved on.
    ///
    /// Returns the jobs the action could not be carried out for, with the error
    /// ``control(_:_:)-(String,_)`` would have thrown for each (a failure of the whole request,
    /// such as a resource manager that cannot be reached, is reported for every job); the
    /// other jobs were acted on. A sweep skips these jobs: DRMAA lets `SESSION_ALL` succeed.
    ///
    /// A backend that can act on many jobs at once (Slurm's `scancel` of many ids, a daemon
    /// taking one request) implements it natively. The default calls ``control(_:_:)-(String,_)``
    /// for each job in turn: enough where jobs only move when told to (EmbeddedDRM), but between
    /// two of its calls a job of the sweep could start on its own.
    func control(_ jobIDs: [String], _ action: JobControlAction) -> [String: DRMAAError]

    /// False for a backend that learns of state changes by asking (a resource manager polled, a
    /// daemon over a socket): the session then calls ``updateStates(of:)`` before it reads states
    /// for `jobStatus` or for the legality check of `control`. True (the default) for a backend
    /// that reports every change into the table as it happens (LocalDRM, EmbeddedDRM).
    var reportsEveryChange: Bool { get }

    /// Brings the table's states of these jobs up to date: asks the resource manager now and
    /// reports what changed (``JobTable/reportState(_:_:)``, ``JobTable/reportFinished(_:_:)``)
    /// before returning. Ids it does not know are left alone. Throws
    /// `DRM_COMMUNICATION_FAILURE` when the resource manager cannot be reached. Called only when
    /// ``reportsEveryChange`` is false.
    func updateStates(of jobIDs: [String]) throws(DRMAAError)

    /// The state of a job this session does not hold: another session's or another process's
    /// job of the same user, which `drmaa_job_ps` accepts on a resource manager that knows it
    /// (Grid Engine and Slurm do). `nil` (the default) if the backend knows no such job: then it
    /// is `INVALID_JOB`. The job cannot be waited for from this session.
    func stateOfOtherJob(_ jobID: String) throws(DRMAAError) -> JobState?

    /// Carries out a control action on a job this session does not hold (as ``stateOfOtherJob(_:)``),
    /// deciding its legality on the job's current state; false (the default) if the backend knows
    /// no such job, which is then `INVALID_JOB`.
    func controlOtherJob(_ jobID: String, _ action: JobControlAction) throws(DRMAAError) -> Bool

    /// These jobs were reaped (by `wait`, or `synchronize` with dispose): the session forgets
    /// them, and a backend that keeps outcomes for sessions that re-attach (a daemon, a spool)
    /// may drop theirs. Called after the table reaped them, before the call that reaped them
    /// returns, so an outcome the caller has seen is never handed out again.
    func jobsReaped(_ jobIDs: [String])

    /// The session exited: jobs keep running and stay supervised; the table keeps their outcomes
    /// for a session that re-attaches.
    func sessionDidExit()

    /// A session re-attached with this backend's contact.
    func sessionDidReattach()

    /// Options the session's contact string must carry so that another process re-attaches
    /// through the same system (`backend=slurm` when the environment chose Slurm), added to the
    /// contact's own options where it does not name them. The default is none.
    var contactOptions: [(name: String, value: String)] { get }

    /// False in a process forked from the one that made this backend: its jobs are the parent's,
    /// so the session must not use it (the child gets a new session instead). Checked on every call.
    var isOwnedByThisProcess: Bool { get }

    /// The id of the next job (or bulk job) submitted, unique among the backend's jobs; called
    /// after ``effectiveTemplate(for:)`` succeeded, so refused submissions use up no id. A backend
    /// whose ids come from elsewhere (a daemon, a resource manager) may fail to get one: then the
    /// submission fails with that error.
    func newJobID() throws(DRMAAError) -> String

    /// The id of task `taskIndex` of bulk job `bulkJobID`. The default is DRMAA's usual
    /// `"<bulk id>.<index>"` (Grid Engine's spelling); a resource manager with its own spelling
    /// (Slurm's `7_3`) returns that, so its tools understand the ids. Must be unique, and
    /// different from every single job's and bulk job's id.
    func taskJobID(bulkJobID: String, taskIndex: Int) -> String
}

extension Backend {
    public func validate(_ template: JobTemplate) throws(DRMAAError) {}
    public func effectiveTemplate(for template: JobTemplate) throws(DRMAAError) -> JobTemplate {
        try validate(template)
        return template
    }
    public func sessionDidExit() {}
    public var namesJobsOnSubmission: Bool { false }
    public func submitNamingJob(_ submission: Submission, record: (Submission) -> Void) throws(DRMAAError) -> String {
        throw DRMAAError(.internalError, "this backend does not name jobs on submission")
    }
    public func sessionDidReattach() {}
    public var contactOptions: [(name: String, value: String)] { [] }
    public var isOwnedByThisProcess: Bool { true }
    public var reportsEveryChange: Bool { true }
    public func jobsReaped(_ jobIDs: [String]) {}
    public func stateOfOtherJob(_ jobID: String) throws(DRMAAError) -> JobState? { nil }
    public func controlOtherJob(_ jobID: String, _ action: JobControlAction) throws(DRMAAError) -> Bool { false }
    public func updateStates(of jobIDs: [String]) throws(DRMAAError) {}
    /// Calls ``control(_:_:)-(String,_)`` for each job in turn and collects their errors.
    public func control(_ jobIDs: [String], _ action: JobControlAction) -> [String: DRMAAError] {
        var failures: [String: DRMAAError] = [:]
        for id in jobIDs {
            do throws(DRMAAError) {
                try control(id, action)
            } catch {
                failures[id] = error
            }
        }
        return failures
    }
    /// Numbers from a process-wide counter that starts at 1.
    public func newJobID() -> String { String(JobIDs.next()) }
    /// `"<bulk id>.<index>"`.
    public func taskJobID(bulkJobID: String, taskIndex: Int) -> String { "\(bulkJobID).\(taskIndex)" }
}
