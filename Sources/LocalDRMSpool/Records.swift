/// A job in the spool: its submission (the id `run_job` or `run_bulk_jobs` returned) and, for a
/// task of a bulk job, its index (0 for a single job; bulk indices are at least 1).
public struct JobKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The submission's id.
    public var submission: Int64
    /// The task's index in a bulk job, 0 for a single job.
    public var task: Int

    /// The job `task` of `submission`.
    public init(submission: Int64, task: Int) {
        self.submission = submission
        self.task = task
    }

    /// The single job `id`.
    public static func single(_ id: Int64) -> JobKey { JobKey(submission: id, task: 0) }

    public static func < (a: JobKey, b: JobKey) -> Bool { (a.submission, a.task) < (b.submission, b.task) }

    /// `7` for a single job, `7.3` for task 3 of bulk job 7.
    public var description: String { task == 0 ? "\(submission)" : "\(submission).\(task)" }
}

/// A DRMAA session kept in the spool.
public struct SessionRecord: Sendable, Equatable {
    /// The session key (the contact string's `session=` value).
    public var key: String
    /// The options the session was opened with, as the daemon spells them.
    public var options: String
    /// When it was opened, in seconds since the epoch.
    public var createdAt: Double
    /// When a client last attached to it.
    public var lastAttachedAt: Double
    /// When `drmaa_exit` closed it, nil while it is open.
    public var closedAt: Double?

    /// A session; last attached when created unless told.
    public init(key: String, options: String, createdAt: Double, lastAttachedAt: Double? = nil, closedAt: Double? = nil) {
        self.key = key
        self.options = options
        self.createdAt = createdAt
        self.lastAttachedAt = lastAttachedAt ?? createdAt
        self.closedAt = closedAt
    }
}

/// One `run_job` (a single job) or one `run_bulk_jobs` (every task of it).
public enum SubmissionKind: Sendable, Equatable {
    case single
    /// Tasks `first`, `first + step`, … up to `last` (DRMAA: 1 <= first <= last, step >= 1).
    case bulk(first: Int, last: Int, step: Int)

    /// The number of jobs of the submission.
    public var taskCount: Int {
        switch self {
        case .single: 1
        case .bulk(let first, let last, let step): (last - first) / step + 1
        }
    }

    /// True if `task` is a job of the submission (0 for a single job).
    public func contains(task: Int) -> Bool {
        switch self {
        case .single: task == 0
        case .bulk(let first, let last, let step): task >= first && task <= last && (task - first) % step == 0
        }
    }
}

/// A submission: one row however many tasks it has. Its jobs stay implicit (queued, or held if
/// `held`) until one of them changes: see ``JobRecord``.
public struct SubmissionRecord: Sendable, Equatable {
    /// The job id of a single job, the bulk job's id of a bulk job (from `nextJobIDs`).
    public var id: Int64
    /// The key of the session it belongs to.
    public var session: String
    /// One job, or the tasks of a bulk job.
    public var kind: SubmissionKind
    /// Its jobs start on hold (`drmaa_js_state` `drmaa_hold`).
    public var held: Bool
    /// When it was submitted, in seconds since the epoch.
    public var submittedAt: Double
    /// The caller's encoding of everything else (the template, home, environment…): opaque here.
    public var payload: [UInt8]
    /// Its jobs not yet reaped (set by the spool: all of them when it is inserted). The
    /// submission is deleted with everything of it when the last one is reaped.
    public internal(set) var unreaped: Int

    /// A submission of which no job is reaped yet.
    public init(id: Int64, session: String, kind: SubmissionKind, held: Bool, submittedAt: Double, payload: [UInt8]) {
        self.id = id
        self.session = session
        self.kind = kind
        self.held = held
        self.submittedAt = submittedAt
        self.payload = payload
        self.unreaped = kind.taskCount
    }
}

/// The state of a job that has a row: one that left its submission's initial state.
public enum StoredJobState: String, Sendable, CaseIterable {
    /// Queued: released from its submission's initial hold.
    case queued
    /// Held while queued (`drmaa_control` HOLD of a queued job of a submission that was not held).
    case held
    /// Started: its shepherd runs it.
    case running
    /// Started and suspended.
    case suspended
}

/// A job whose state differs from its submission's initial one: held or released while queued,
/// or started (a row is written only then, so 100,000 held tasks cost one submission row). A
/// finished job has an ``OutcomeRecord`` instead; recording it removes this row.
public struct JobRecord: Sendable, Equatable {
    /// The job.
    public var key: JobKey
    /// Where it is.
    public var state: StoredJobState
    /// The job's shepherd, once started.
    public var shepherd: ProcessIdentity?
    /// When it started, in seconds since the epoch.
    public var startedAt: Double?

    /// A job row.
    public init(key: JobKey, state: StoredJobState, shepherd: ProcessIdentity? = nil, startedAt: Double? = nil) {
        self.key = key
        self.state = state
        self.shepherd = shepherd
        self.startedAt = startedAt
    }
}

/// A finished job's outcome and accounting, kept until it is reaped.
public struct OutcomeRecord: Sendable, Equatable {
    /// The job.
    public var key: JobKey
    /// The key of the job's session (kept here so that a session's outcomes are found by index).
    public var session: String
    /// When it finished, in seconds since the epoch.
    public var finishedAt: Double
    /// The caller's encoding of the outcome and usage; empty once reaped.
    public var payload: [UInt8]
    /// True once `wait` or `synchronize(dispose)` delivered it (or the retention purged it).
    public internal(set) var reaped: Bool

    /// An unreaped outcome.
    public init(key: JobKey, session: String, finishedAt: Double, payload: [UInt8]) {
        self.key = key
        self.session = session
        self.finishedAt = finishedAt
        self.payload = payload
        self.reaped = false
    }
}
