import DRMAACore
import LocalDRM
import LocalDRMSpool
import LocalDRMWire

/// The daemon's store over the user's SQLite spool: every call one transaction.
struct SpoolStore: DaemonStore {
    let spool: Spool

    func reserveJobIDs(count: Int) throws(DRMAAError) -> ClosedRange<Int64> {
        try spool.nextJobIDs(count: count)
    }

    func openSession(key: String, options: String, at time: Double) throws(DRMAAError) {
        try spool.write { tx throws(DRMAAError) in
            guard try tx.session(key) == nil else {
                throw DRMAAError(.invalidContactString, "a LocalDRM session with key '\(key)' exists already; re-attach with drmaa_init(\"session=\(key)\")")
            }
            try tx.insertSession(SessionRecord(key: key, options: options, createdAt: time))
        }
    }

    func sessionOptions(_ key: String) throws(DRMAAError) -> String? {
        try spool.read { tx throws(DRMAAError) in try tx.session(key)?.options }
    }

    func closeSession(_ key: String, at time: Double) throws(DRMAAError) {
        try spool.write { tx throws(DRMAAError) in try tx.markClosed(key, at: time) }
    }

    func recordSubmission(id: Int64, session: String, tasks: LocalDRMWire.TaskRange?, held: Bool, at time: Double, payload: [UInt8]) throws(DRMAAError) {
        let kind: SubmissionKind = tasks.map { .bulk(first: $0.begin, last: $0.end, step: $0.step) } ?? .single
        try spool.write { tx throws(DRMAAError) in
            try tx.insertSubmission(SubmissionRecord(id: id, session: session, kind: kind, held: held, submittedAt: time, payload: payload))
        }
    }

    func withdrawSubmission(id: Int64) throws(DRMAAError) {
        try spool.write { tx throws(DRMAAError) in try tx.deleteSubmission(id) }
    }

    func recordOutcome(submission: Int64, task: Int, session: String, at time: Double, payload: [UInt8]) throws(DRMAAError) {
        _ = try spool.write { tx throws(DRMAAError) in
            try tx.recordOutcome(OutcomeRecord(key: JobKey(submission: submission, task: task), session: session, finishedAt: time, payload: payload))
        }
    }

    func recordOutcomes(_ outcomes: [DaemonOutcome]) throws(DRMAAError) {
        _ = try spool.write { tx throws(DRMAAError) in
            for outcome in outcomes {
                try tx.recordOutcome(OutcomeRecord(key: JobKey(submission: outcome.submission, task: outcome.task), session: outcome.session,
                                                   finishedAt: outcome.time, payload: outcome.payload))
            }
        }
    }

    func unreapedOutcomes(session: String) throws(DRMAAError) -> [(submission: Int64, task: Int, bulk: Bool, payload: [UInt8])] {
        try spool.read { tx throws(DRMAAError) in
            try tx.unreapedOutcomes(ofSession: session).map { ($0.key.submission, $0.key.task, $0.key.task != 0, $0.payload) }
        }
    }

    func outcome(submission: Int64, task: Int) throws(DRMAAError) -> (session: String, bulk: Bool, payload: [UInt8])? {
        try spool.read { tx throws(DRMAAError) in
            guard let record = try tx.outcome(JobKey(submission: submission, task: task)), !record.reaped else { return nil }
            return (record.session, task != 0, record.payload)
        }
    }

    func recordHold(submission: Int64, task: Int, held: Bool) throws(DRMAAError) {
        try spool.write { tx throws(DRMAAError) in
            try tx.putJob(JobRecord(key: JobKey(submission: submission, task: task), state: held ? .held : .queued))
        }
    }

    func unfinishedSubmissions() throws(DRMAAError) -> [UnfinishedSubmission] {
        try spool.read { tx throws(DRMAAError) in
            var result: [UnfinishedSubmission] = []
            for submission in try tx.allSubmissions() {
                let finished = Set(try tx.finishedTasks(ofSubmission: submission.id))
                guard finished.count < submission.kind.taskCount else { continue }
                guard let session = try tx.session(submission.session) else { continue }
                var holds: [Int: Bool] = [:]
                for job in try tx.jobs(ofSubmission: submission.id) {
                    switch job.state {
                    case .held: holds[job.key.task] = true
                    case .queued: holds[job.key.task] = false
                    case .running, .suspended: break
                    }
                }
                result.append(UnfinishedSubmission(id: submission.id, session: submission.session, sessionOptions: session.options,
                                                   payload: submission.payload, held: submission.held, finished: finished, holds: holds))
            }
            return result
        }
    }

    func purgeOutcomes(finishedBefore time: Double) throws(DRMAAError) -> Int {
        try spool.write { tx throws(DRMAAError) in try tx.purgeOutcomes(finishedBefore: time) }
    }

    func markReaped(_ jobs: [(submission: Int64, task: Int)]) throws(DRMAAError) {
        guard !jobs.isEmpty else { return }
        _ = try spool.write { tx throws(DRMAAError) in try tx.markReaped(jobs.map { JobKey(submission: $0.submission, task: $0.task) }) }
    }
}
