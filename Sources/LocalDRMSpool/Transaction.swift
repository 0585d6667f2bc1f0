import DRMAACore

/// The operations of one spool transaction, given to the body of ``Spool/write(_:)`` or
/// ``Spool/read(_:)``; it cannot outlive the body. In a read transaction every change is
/// refused with `INTERNAL_ERROR`.
///
/// Bad arguments (an unknown session or submission, a task that is not one of its submission's,
/// a duplicate) are refused with `INVALID_ARGUMENT` or `INVALID_JOB` naming the thing, and the
/// whole transaction is rolled back when the body lets the error through.
public struct SpoolTransaction: ~Copyable {
    private let database: Database
    private let writable: Bool

    init(database: Database, writable: Bool) {
        self.database = database
        self.writable = writable
    }

    private func mutating(_ what: String) throws(DRMAAError) {
        guard writable else { throw DRMAAError(.internalError, "\(what) in a read transaction of the spool '\(database.path)'") }
    }

    // MARK: Job ids

    /// Reserves `count` consecutive job ids (see ``Spool/nextJobIDs(count:)``).
    public func reserveJobIDs(count: Int) throws(DRMAAError) -> ClosedRange<Int64> {
        try mutating("reserving job ids")
        guard count >= 1 else { throw DRMAAError.invalidArgument("cannot reserve \(count) job ids: the count must be at least 1") }
        let next = try database.query("SELECT value FROM counters WHERE name = 'job'") { $0.integer(0) }
        guard let first = next.first else { throw DRMAAError(.internalError, "the spool '\(database.path)' has no job id counter") }
        let (end, overflow) = first.addingReportingOverflow(Int64(count))
        guard !overflow else { throw DRMAAError(.internalError, "the job ids of the spool '\(database.path)' are exhausted") }
        try database.run("UPDATE counters SET value = ? WHERE name = 'job'", .integer(end))
        return first...(end - 1)
    }

    // MARK: Sessions

    /// Adds a session; its key must be new.
    public func insertSession(_ session: SessionRecord) throws(DRMAAError) {
        try mutating("adding a session")
        guard try self.session(session.key) == nil else { throw DRMAAError.invalidArgument("the spool already has a session '\(session.key)'") }
        try database.run("INSERT INTO sessions(key, options, created_at, last_attached_at, closed_at) VALUES (?, ?, ?, ?, ?)",
                         .text(session.key), .text(session.options), .real(session.createdAt), .real(session.lastAttachedAt),
                         session.closedAt.map(SQLValue.real) ?? .null)
    }

    /// Records that a client attached to the session `key` at `time` (it is open again if it was closed).
    public func markAttached(_ key: String, at time: Double) throws(DRMAAError) {
        try mutating("attaching a session")
        guard try database.run("UPDATE sessions SET last_attached_at = ?, closed_at = NULL WHERE key = ?", .real(time), .text(key)) == 1 else {
            throw unknownSession(key)
        }
    }

    /// Records that the session `key` was closed at `time`; its jobs stay.
    public func markClosed(_ key: String, at time: Double) throws(DRMAAError) {
        try mutating("closing a session")
        guard try database.run("UPDATE sessions SET closed_at = ? WHERE key = ?", .real(time), .text(key)) == 1 else {
            throw unknownSession(key)
        }
    }

    /// Deletes the session `key` with all its submissions, jobs and outcomes.
    public func deleteSession(_ key: String) throws(DRMAAError) {
        try mutating("deleting a session")
        guard try database.run("DELETE FROM sessions WHERE key = ?", .text(key)) == 1 else { throw unknownSession(key) }
    }

    /// The session `key`, nil if the spool has none.
    public func session(_ key: String) throws(DRMAAError) -> SessionRecord? {
        try database.query("SELECT key, options, created_at, last_attached_at, closed_at FROM sessions WHERE key = ?", .text(key), row: Self.session).first
    }

    /// Every session, by key.
    public func sessions() throws(DRMAAError) -> [SessionRecord] {
        try database.query("SELECT key, options, created_at, last_attached_at, closed_at FROM sessions ORDER BY key", row: Self.session)
    }

    private static func session(_ row: Row) -> SessionRecord {
        SessionRecord(key: row.text(0), options: row.text(1), createdAt: row.real(2), lastAttachedAt: row.real(3),
                      closedAt: row.isNull(4) ? nil : row.real(4))
    }

    private func unknownSession(_ key: String) -> DRMAAError {
        DRMAAError(.invalidContactString, "the spool has no session '\(key)'")
    }

    // MARK: Submissions

    /// Adds a submission (one row, whatever its number of tasks) to an existing session; its id
    /// must be new (reserve it with ``reserveJobIDs(count:)``).
    public func insertSubmission(_ submission: SubmissionRecord) throws(DRMAAError) {
        try mutating("adding a submission")
        guard try session(submission.session) != nil else { throw unknownSession(submission.session) }
        guard submission.id >= 1 else { throw DRMAAError.invalidArgument("invalid submission id \(submission.id): ids start at 1") }
        guard try self.submission(submission.id) == nil else {
            throw DRMAAError.invalidArgument("the spool already has a submission with id \(submission.id)")
        }
        let kind: String, first: Int, last: Int, step: Int
        switch submission.kind {
        case .single: (kind, first, last, step) = ("single", 0, 0, 1)
        case .bulk(let f, let l, let s):
            guard f >= 1, l >= f, s >= 1 else {
                throw DRMAAError.invalidArgument("invalid bulk job \(submission.id): tasks \(f) to \(l) by \(s) (need 1 <= first <= last and step >= 1)")
            }
            (kind, first, last, step) = ("bulk", f, l, s)
        }
        try database.run("""
            INSERT INTO submissions(id, session, kind, first_task, last_task, step, held, submitted_at, unreaped, payload)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, .integer(submission.id), .text(submission.session), .text(kind), .integer(Int64(first)), .integer(Int64(last)),
            .integer(Int64(step)), .integer(submission.held ? 1 : 0), .real(submission.submittedAt),
            .integer(Int64(submission.kind.taskCount)), .blob(submission.payload))
    }

    /// The submission `id`, nil if the spool has none (or no longer has it: fully reaped).
    public func submission(_ id: Int64) throws(DRMAAError) -> SubmissionRecord? {
        try database.query("""
            SELECT id, session, kind, first_task, last_task, step, held, submitted_at, unreaped, payload
            FROM submissions WHERE id = ?
            """, .integer(id), row: Self.submission).first
    }

    /// The submissions of the session `key`, by id.
    public func submissions(ofSession key: String) throws(DRMAAError) -> [SubmissionRecord] {
        try database.query("""
            SELECT id, session, kind, first_task, last_task, step, held, submitted_at, unreaped, payload
            FROM submissions WHERE session = ? ORDER BY id
            """, .text(key), row: Self.submission)
    }

    /// Every submission, by id.
    public func allSubmissions() throws(DRMAAError) -> [SubmissionRecord] {
        try database.query("""
            SELECT id, session, kind, first_task, last_task, step, held, submitted_at, unreaped, payload
            FROM submissions ORDER BY id
            """, row: Self.submission)
    }

    /// The tasks of submission `id` that have an outcome (reaped or not), by task.
    public func finishedTasks(ofSubmission id: Int64) throws(DRMAAError) -> [Int] {
        try database.query("SELECT task FROM outcomes WHERE submission = ? ORDER BY task", .integer(id)) { Int($0.integer(0)) }
    }

    /// Deletes the submission `id` with its jobs and outcomes.
    public func deleteSubmission(_ id: Int64) throws(DRMAAError) {
        try mutating("deleting a submission")
        guard try database.run("DELETE FROM submissions WHERE id = ?", .integer(id)) == 1 else { throw DRMAAError.invalidJob("\(id)") }
    }

    private static func submission(_ row: Row) -> SubmissionRecord {
        let kind: SubmissionKind = row.text(2) == "bulk"
            ? .bulk(first: Int(row.integer(3)), last: Int(row.integer(4)), step: Int(row.integer(5))) : .single
        var record = SubmissionRecord(id: row.integer(0), session: row.text(1), kind: kind, held: row.integer(6) != 0,
                                      submittedAt: row.real(7), payload: row.blob(9))
        record.unreaped = Int(row.integer(8))
        return record
    }

    /// The kind of submission `key.submission`; refuses a key that is not one of its jobs.
    private func checkJob(_ key: JobKey) throws(DRMAAError) {
        let kinds = try database.query("SELECT kind, first_task, last_task, step FROM submissions WHERE id = ?", .integer(key.submission)) { row in
            row.text(0) == "bulk" ? SubmissionKind.bulk(first: Int(row.integer(1)), last: Int(row.integer(2)), step: Int(row.integer(3))) : .single
        }
        guard let kind = kinds.first, kind.contains(task: key.task) else { throw DRMAAError.invalidJob(key.description) }
    }

    // MARK: Jobs

    /// Writes the row of a job that left its submission's initial state (replacing its row).
    /// A job that already has an outcome is refused: it finished.
    public func putJob(_ job: JobRecord) throws(DRMAAError) {
        try mutating("writing a job")
        try checkJob(job.key)
        guard try outcome(job.key) == nil else {
            throw DRMAAError(.invalidJob, "job '\(job.key)' has finished: its state can no longer change")
        }
        try database.run("""
            INSERT OR REPLACE INTO jobs(submission, task, state, shepherd_pid, shepherd_start_time, started_at)
            VALUES (?, ?, ?, ?, ?, ?)
            """, .integer(job.key.submission), .integer(Int64(job.key.task)), .text(job.state.rawValue),
            job.shepherd.map { .integer(Int64($0.pid)) } ?? .null,
            job.shepherd.map { .integer(Int64(bitPattern: $0.startTime)) } ?? .null,
            job.startedAt.map(SQLValue.real) ?? .null)
    }

    /// The row of job `key`, nil if it has none (still in its submission's initial state, or finished).
    public func job(_ key: JobKey) throws(DRMAAError) -> JobRecord? {
        try database.query("""
            SELECT submission, task, state, shepherd_pid, shepherd_start_time, started_at FROM jobs
            WHERE submission = ? AND task = ?
            """, .integer(key.submission), .integer(Int64(key.task)), row: Self.job).first
    }

    /// The job rows of submission `id`, by task.
    public func jobs(ofSubmission id: Int64) throws(DRMAAError) -> [JobRecord] {
        try database.query("""
            SELECT submission, task, state, shepherd_pid, shepherd_start_time, started_at FROM jobs
            WHERE submission = ? ORDER BY task
            """, .integer(id), row: Self.job)
    }

    /// Every job row of the spool (what a restarted daemon re-adopts), by key.
    public func allJobs() throws(DRMAAError) -> [JobRecord] {
        try database.query("""
            SELECT submission, task, state, shepherd_pid, shepherd_start_time, started_at FROM jobs ORDER BY submission, task
            """, row: Self.job)
    }

    /// Deletes the row of job `key` (it went back to its submission's initial state); true if it had one.
    @discardableResult
    public func deleteJob(_ key: JobKey) throws(DRMAAError) -> Bool {
        try mutating("deleting a job")
        return try database.run("DELETE FROM jobs WHERE submission = ? AND task = ?", .integer(key.submission), .integer(Int64(key.task))) == 1
    }

    private static func job(_ row: Row) throws(DRMAAError) -> JobRecord {
        let stateName = row.text(2)
        guard let state = StoredJobState(rawValue: stateName) else { throw DRMAAError(.internalError, "the spool has a job in the unknown state '\(stateName)'") }
        let shepherd = row.isNull(3) ? nil : ProcessIdentity(pid: Int32(truncatingIfNeeded: row.integer(3)), startTime: UInt64(bitPattern: row.integer(4)))
        return JobRecord(key: JobKey(submission: row.integer(0), task: Int(row.integer(1))), state: state,
                         shepherd: shepherd, startedAt: row.isNull(5) ? nil : row.real(5))
    }

    // MARK: Outcomes

    /// Records a finished job's outcome and removes its job row. Idempotent: an outcome already
    /// recorded for the job (an outcome file ingested twice) is kept, and false returned; so is
    /// one of a submission that was issued but is gone (reaped whole, or its session deleted).
    @discardableResult
    public func recordOutcome(_ outcome: OutcomeRecord) throws(DRMAAError) -> Bool {
        try mutating("recording an outcome")
        if try submission(outcome.key.submission) == nil {
            let next = try database.query("SELECT value FROM counters WHERE name = 'job'") { $0.integer(0) }.first ?? 1
            if outcome.key.submission >= 1 && outcome.key.submission < next { return false }
        }
        try checkJob(outcome.key)
        let submission = outcome.key.submission, task = Int64(outcome.key.task)
        let inserted = try database.run("""
            INSERT OR IGNORE INTO outcomes(submission, task, session, finished_at, reaped, payload) VALUES (?, ?, ?, ?, 0, ?)
            """, .integer(submission), .integer(task), .text(outcome.session), .real(outcome.finishedAt), .blob(outcome.payload)) == 1
        if inserted { try database.run("DELETE FROM jobs WHERE submission = ? AND task = ?", .integer(submission), .integer(task)) }
        return inserted
    }

    /// The outcome of job `key` (also a reaped one, without payload), nil if it has none.
    public func outcome(_ key: JobKey) throws(DRMAAError) -> OutcomeRecord? {
        try database.query("""
            SELECT submission, task, session, finished_at, reaped, payload FROM outcomes WHERE submission = ? AND task = ?
            """, .integer(key.submission), .integer(Int64(key.task)), row: Self.outcome).first
    }

    /// The unreaped outcomes of the session `key`, by job.
    public func unreapedOutcomes(ofSession key: String) throws(DRMAAError) -> [OutcomeRecord] {
        try database.query("""
            SELECT submission, task, session, finished_at, reaped, payload FROM outcomes
            WHERE session = ? AND reaped = 0 ORDER BY submission, task
            """, .text(key), row: Self.outcome)
    }

    /// The reaped tasks of submission `id` (kept so that they are not queued again), by task.
    public func reapedTasks(ofSubmission id: Int64) throws(DRMAAError) -> [Int] {
        try database.query("SELECT task FROM outcomes WHERE submission = ? AND reaped = 1 ORDER BY task", .integer(id)) { Int($0.integer(0)) }
    }

    /// Marks the outcomes of `keys` delivered: their payload is dropped, and a submission whose
    /// last job is reaped is deleted with everything of it. Keys without an unreaped outcome
    /// are skipped; returns how many were reaped.
    @discardableResult
    public func markReaped(_ keys: [JobKey]) throws(DRMAAError) -> Int {
        try mutating("reaping outcomes")
        var reaped = 0
        for key in keys {
            let changed = try database.run("UPDATE outcomes SET reaped = 1, payload = NULL WHERE submission = ? AND task = ? AND reaped = 0",
                                           .integer(key.submission), .integer(Int64(key.task)))
            guard changed == 1 else { continue }
            reaped += 1
            try database.run("UPDATE submissions SET unreaped = unreaped - 1 WHERE id = ?", .integer(key.submission))
            try database.run("DELETE FROM submissions WHERE id = ? AND unreaped = 0", .integer(key.submission))
        }
        return reaped
    }

    /// Purges the unreaped outcomes that finished before `time` (the retention's limit), as if
    /// they had been reaped; returns how many.
    @discardableResult
    public func purgeOutcomes(finishedBefore time: Double) throws(DRMAAError) -> Int {
        try mutating("purging outcomes")
        let old = try database.query("SELECT submission, task FROM outcomes WHERE reaped = 0 AND finished_at < ?", .real(time)) {
            JobKey(submission: $0.integer(0), task: Int($0.integer(1)))
        }
        return try markReaped(old)
    }

    private static func outcome(_ row: Row) -> OutcomeRecord {
        var record = OutcomeRecord(key: JobKey(submission: row.integer(0), task: Int(row.integer(1))), session: row.text(2),
                                   finishedAt: row.real(3), payload: row.blob(5))
        record.reaped = row.integer(4) != 0
        return record
    }
}
