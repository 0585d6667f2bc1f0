import Dispatch
import Synchronization

/// The DRMAA bookkeeping of one session's jobs, shared by every backend.
///
/// It owns job states and outcomes, reaping, `SESSION_ANY` / `SESSION_ALL`, timeouts and any number
/// of threads (or tasks) waiting at once. Backends only report what happens to their jobs
/// (``reportState(_:_:)``, ``reportTerminating(_:)``, ``reportFinished(_:_:)``); waiting is done here.
///
/// Records exist from submission until they are reaped (by a successful wait, or by
/// synchronize with dispose); a reaped or never-submitted id is unknown (`INVALID_JOB`).
public final class JobTable: Sendable {
    /// A job's entry while it is not reaped: 16 bytes, so that pending jobs cost little; a
    /// finished job's outcome is boxed.
    struct Record {
        var state: JobState
        /// Set once TERMINATE was accepted: the job shows FAILED from then on.
        var terminating = false
        /// The bulk job the job is a task of: its slot in ``State/bulks`` plus one, 0 for none.
        /// Stored, never parsed from the id, so a backend may spell task ids its own way
        /// (Slurm's `7_3`); it fits in the record's padding (still 16 bytes).
        var bulk: UInt32 = 0
        /// Set when the backend reports the outcome; `wait` may then reap the job.
        var outcome: FinishedOutcome?
        var finished: Bool { outcome != nil }
    }

    /// A bulk job's tasks, and how many of them are not reaped yet.
    struct Bulk {
        var id: String
        var ids: [String]
        var unreaped: Int
    }

    /// A finished job's outcome, boxed: a pointer in the record instead of 144 bytes in every
    /// record, pending or not.
    final class FinishedOutcome: Sendable {
        let outcome: JobOutcome
        init(_ outcome: JobOutcome) { self.outcome = outcome }
    }

    /// The jobs a `synchronize` still waits for. A class, so that removing one finished id
    /// does not copy the set (which made synchronizing N jobs cost O(N²)).
    final class PendingJobs {
        var ids: Set<String>
        init(_ ids: Set<String>) { self.ids = ids }
    }

    /// What a parked waiter waits for.
    enum Interest {
        case job(String)
        case anyJob
        /// Every job of the set; the table removes ids as they finish and wakes at empty.
        case all(PendingJobs)
    }

    struct Waiter {
        var interest: Interest
        var wake: @Sendable () -> Void
    }

    struct State {
        var records: [String: Record] = [:]
        /// Finished, unreaped job ids in finishing order, for `SESSION_ANY` (may hold reaped ids; skipped).
        var finishedOrder: [String] = []
        var finishedHead = 0
        /// The bulk jobs with unreaped tasks, by slot (``Record/bulk`` minus one); `nil` slots are free.
        var bulks: [Bulk?] = []
        /// Bulk job id → its slot in `bulks`.
        var bulkSlots: [String: UInt32] = [:]
        var freeBulkSlots: [UInt32] = []

        /// The tasks of bulk job `id`, if it has unreaped ones.
        func bulk(_ id: String) -> Bulk? {
            bulkSlots[id].flatMap { bulks[Int($0)] }
        }

        /// Records a bulk job; returns the value its tasks' records carry.
        mutating func addBulk(_ id: String, tasks: [String]) -> UInt32 {
            removeBulk(id)
            let slot = freeBulkSlots.popLast() ?? {
                bulks.append(nil)
                return UInt32(bulks.count - 1)
            }()
            bulks[Int(slot)] = Bulk(id: id, ids: tasks, unreaped: tasks.count)
            bulkSlots[id] = slot
            return slot + 1
        }

        mutating func removeBulk(_ id: String) {
            guard let slot = bulkSlots.removeValue(forKey: id) else { return }
            bulks[Int(slot)] = nil
            freeBulkSlots.append(slot)
        }
        var waiters: [Int: Waiter] = [:]
        var nextWaiterID = 0
        /// What the backend says about jobs that wait for something (usually none).
        var notes: [String: String] = [:]
        /// False while the session is exited; waiters then fail with `NO_ACTIVE_SESSION`.
        var attached = true
        /// Bumped by every detach, so a waiter also notices an exit followed by a quick re-attach.
        var epoch = 0

        /// Removes the waiters selected by `fire`, returning their wake-up calls.
        mutating func takeWaiters(_ fire: (Interest) -> Bool) -> [@Sendable () -> Void] {
            var woken: [@Sendable () -> Void] = []
            for (id, waiter) in waiters where fire(waiter.interest) {
                waiters[id] = nil
                woken.append(waiter.wake)
            }
            return woken
        }

        mutating func reap(_ id: String) -> [@Sendable () -> Void] {
            guard let record = records.removeValue(forKey: id) else { return [] }
            if !notes.isEmpty { notes[id] = nil }
            if record.bulk != 0, case let slot = Int(record.bulk - 1), let bulk = bulks[slot] {
                if bulk.unreaped <= 1 {
                    removeBulk(bulk.id)
                } else {
                    bulks[slot]?.unreaped -= 1
                }
            }
            // Jobs reaped by id leave stale entries behind; drop them once they outnumber the live
            // ones, so the list stays proportional to the table (amortised O(1) per reap).
            if finishedOrder.count - finishedHead > 2 * records.count + 1024 {
                finishedOrder = finishedOrder[finishedHead...].filter { records[$0]?.finished == true }
                finishedHead = 0
            }
            records.shrinkIfSparse()
            let noneLeft = records.isEmpty
            return takeWaiters { interest in
                switch interest {
                case .job(let waited): return waited == id
                case .anyJob: return noneLeft
                case .all(let pending):
                    pending.ids.remove(id)
                    return pending.ids.isEmpty
                }
            }
        }

        /// The notes of the jobs a timed-out waiter waited for, as the end of its diagnosis.
        func notesText(_ interest: Interest) -> String {
            guard !notes.isEmpty else { return "" }
            let relevant: [(String, String)]
            switch interest {
            case .job(let id): relevant = notes[id].map { [(id, $0)] } ?? []
            case .anyJob: relevant = notes.sorted { $0.key < $1.key }
            case .all(let pending): relevant = notes.filter { pending.ids.contains($0.key) }.sorted { $0.key < $1.key }
            }
            guard !relevant.isEmpty else { return "" }
            let shown = relevant.prefix(3).map { "job \($0.0): \($0.1)" }.joined(separator: "; ")
            return " (\(shown)\(relevant.count > 3 ? "; and \(relevant.count - 3) more" : ""))"
        }

        mutating func popFinished() -> String? {
            while finishedHead < finishedOrder.count {
                let id = finishedOrder[finishedHead]
                finishedHead += 1
                if records[id]?.finished == true { return id }
            }
            if finishedHead > 0 {
                finishedOrder = []
                finishedHead = 0
            }
            return nil
        }
    }

    let state = Mutex(State())

    /// An empty table.
    public init() {}

    // MARK: Reports from backends

    /// A backend reports a job's new state (queued, on hold, running, suspended).
    /// Ignored once the job is finished or being terminated.
    public func reportState(_ jobID: String, _ newState: JobState) {
        state.withLock { state in
            guard var record = state.records[jobID], !record.finished, !record.terminating else { return }
            record.state = newState
            state.records[jobID] = record
        }
    }

    /// A backend accepted TERMINATE for a job that is still running: it shows FAILED from now on,
    /// while ``wait`` still waits for its outcome.
    public func reportTerminating(_ jobID: String) {
        state.withLock { state in
            guard var record = state.records[jobID], !record.finished else { return }
            record.terminating = true
            record.state = .failed
            state.records[jobID] = record
        }
    }

    /// A backend says why a job waits (for example for a FIFO's writer, or for free file
    /// descriptors), or `nil` once it no longer does. The note is part of the diagnosis when a
    /// wait for the job times out, and ``note(_:)`` returns it.
    public func reportNote(_ jobID: String, _ note: String?) {
        state.withLock { state in
            guard let record = state.records[jobID], !record.finished || note == nil else { return }
            state.notes[jobID] = note
        }
    }

    /// What the backend last said about a job that waits, if anything.
    public func note(_ jobID: String) -> String? {
        state.withLock { $0.notes[jobID] }
    }

    /// A backend reports that a job has finished, with its outcome. Each job finishes once.
    public func reportFinished(_ jobID: String, _ outcome: JobOutcome) {
        let woken = state.withLock { state -> [@Sendable () -> Void] in
            guard var record = state.records[jobID], !record.finished else { return [] }
            if !state.notes.isEmpty { state.notes[jobID] = nil }
            record.outcome = FinishedOutcome(outcome)
            record.state = outcome.finalState
            state.records[jobID] = record
            state.finishedOrder.append(jobID)
            return state.takeWaiters { interest in
                switch interest {
                case .job(let waited): return waited == jobID
                case .anyJob: return true
                case .all(let pending):
                    guard pending.ids.remove(jobID) != nil else { return false }
                    return pending.ids.isEmpty
                }
            }
        }
        for wake in woken { wake() }
    }

    /// A job of a session being re-attached, as its system still knows it.
    public struct RestoredJob: Sendable {
        public var id: String
        /// The bulk job it is a task of, `nil` for a single job.
        public var bulkJobID: String?
        /// Its state; ignored when `outcome` is set (the job is finished).
        public var state: JobState
        /// Its outcome if it finished and was not reaped.
        public var outcome: JobOutcome?
        public init(id: String, bulkJobID: String? = nil, state: JobState, outcome: JobOutcome? = nil) {
            (self.id, self.bulkJobID, self.state, self.outcome) = (id, bulkJobID, state, outcome)
        }
    }

    /// Fills the table of a session being re-attached (``DRMSystem/reattachBackend(sessionKey:options:jobs:)``)
    /// with its unreaped jobs; finished ones can be waited for at once, in the order given.
    public func restore(_ jobs: [RestoredJob]) {
        state.withLock { state in
            state.records.reserveCapacity(state.records.count + jobs.count)
            var bulks: [String: [String]] = [:]
            for job in jobs {
                if let bulk = job.bulkJobID { bulks[bulk, default: []].append(job.id) }
            }
            var slots: [String: UInt32] = [:]
            for (bulk, tasks) in bulks { slots[bulk] = state.addBulk(bulk, tasks: tasks) }
            for job in jobs {
                var record = Record(state: job.outcome.map { $0.finalState } ?? job.state,
                                    bulk: job.bulkJobID.flatMap { slots[$0] } ?? 0)
                if let outcome = job.outcome {
                    record.outcome = FinishedOutcome(outcome)
                    state.finishedOrder.append(job.id)
                }
                state.records[job.id] = record
            }
        }
    }

    /// Brings the table up to date with what a backend that lives elsewhere says of these jobs
    /// after it was out of touch (its connection to a daemon broke and came back, or a forked child
    /// connected anew): a job the table holds takes the reported state, or its outcome (which
    /// wakes its waiters); a job it does not hold is restored (``restore(_:)``).
    public func merge(_ jobs: [RestoredJob]) {
        var unknown: [RestoredJob] = []
        for job in jobs {
            guard knows(job.id) else {
                unknown.append(job)
                continue
            }
            if let outcome = job.outcome {
                reportFinished(job.id, outcome)
            } else if job.state == .failed {
                reportTerminating(job.id)
            } else {
                reportState(job.id, job.state)
            }
        }
        if !unknown.isEmpty { restore(unknown) }
    }

    // MARK: Used by Session

    func add(_ ids: [String], bulkJobID: String?, state initial: JobState) {
        state.withLock { state in
            if ids.count > 1 { state.records.reserveCapacity(state.records.count + ids.count) }
            let bulk = bulkJobID.map { state.addBulk($0, tasks: ids) } ?? 0
            for id in ids { state.records[id] = Record(state: initial, bulk: bulk) }
        }
    }

    func remove(_ ids: [String], bulkJobID: String?) {
        let woken = state.withLock { state in
            var woken: [@Sendable () -> Void] = []
            for id in ids { woken += state.reap(id) }
            if let bulkJobID { state.removeBulk(bulkJobID) }
            return woken
        }
        for wake in woken { wake() }
    }

    /// True if `jobID` is an unreaped job, or a bulk job with unreaped tasks, of this session.
    func knows(_ jobID: String) -> Bool {
        state.withLock { $0.records[jobID] != nil || $0.bulk(jobID) != nil }
    }

    func status(_ jobID: String) throws(DRMAAError) -> JobState {
        try state.withLock { state throws(DRMAAError) in
            guard let record = state.records[jobID] else {
                if let bulk = state.bulk(jobID) {
                    throw DRMAAError(.invalidJob, "'\(jobID)' is a bulk job; query its tasks (such as '\(bulk.ids.first ?? jobID)') instead")
                }
                throw .invalidJob(jobID)
            }
            return record.state
        }
    }

    /// The jobs a control request applies to, with their states: one job, the tasks of a bulk
    /// job, or every unreaped job for `SESSION_ALL`.
    func controlTargets(_ jobID: String) throws(DRMAAError) -> [(id: String, state: JobState)] {
        try state.withLock { state throws(DRMAAError) in
            if jobID == Session.jobIDsSessionAll {
                return state.records.map { ($0.key, $0.value.state) }
            }
            if let record = state.records[jobID] { return [(jobID, record.state)] }
            if let tasks = state.bulk(jobID) {
                return tasks.ids.compactMap { id in state.records[id].map { (id, $0.state) } }
            }
            throw .invalidJob(jobID)
        }
    }

    /// Ends every wait in progress with `NO_ACTIVE_SESSION` and refuses new ones until ``reattach()``.
    func detach() {
        let woken = state.withLock { state in
            state.attached = false
            state.epoch += 1
            // An exited session may be kept for a long time (for a re-attach): give back what it can.
            state.records.shrinkIfSparse()
            if state.finishedHead > 0 {
                state.finishedOrder = Array(state.finishedOrder[state.finishedHead...])
                state.finishedHead = 0
            }
            return state.takeWaiters { _ in true }
        }
        for wake in woken { wake() }
    }

    /// True while any job of the table is not reaped.
    public var hasJobs: Bool { state.withLock { !$0.records.isEmpty } }

    func reattach() {
        state.withLock { $0.attached = true }
    }

    // MARK: Waiting

    enum Attempt<Result> {
        /// Ready, with the wake-ups that reaping caused (called once the lock is released).
        case done(Result, woken: [@Sendable () -> Void])
        case pending(Interest)
    }

    /// One look at the table for `wait`: reap and return a finished job, or say what to wait for.
    func waitAttempt(_ jobID: String) -> (inout State) throws(DRMAAError) -> Attempt<JobInfo> {
        { state throws(DRMAAError) in
            if jobID == Session.jobIDsSessionAny {
                if let id = state.popFinished(), let outcome = state.records[id]?.outcome?.outcome {
                    return .done(JobInfo(jobID: id, outcome: outcome), woken: state.reap(id))
                }
                guard !state.records.isEmpty else {
                    throw DRMAAError(.invalidJob, "this session has no jobs left to wait for (all were reaped or none were submitted)")
                }
                return .pending(.anyJob)
            }
            guard let record = state.records[jobID] else {
                if let bulk = state.bulk(jobID) {
                    throw DRMAAError(.invalidJob, "'\(jobID)' is a bulk job; wait for its tasks (such as '\(bulk.ids.first ?? jobID)') instead")
                }
                throw .invalidJob(jobID)
            }
            if let outcome = record.outcome?.outcome {
                return .done(JobInfo(jobID: jobID, outcome: outcome), woken: state.reap(jobID))
            }
            return .pending(.job(jobID))
        }
    }

    /// One look at the table for `synchronize`: done when every listed job is finished
    /// (unknown and reaped ids count as finished).
    /// With `dispose`, the jobs are reaped once all have finished; on a timeout nothing is.
    /// Its result is the ids it reaped.
    func synchronizeAttempt(_ jobIDs: [String], dispose: Bool) -> (inout State) throws(DRMAAError) -> Attempt<[String]> {
        var targets: [String]?
        return { state in
            if targets == nil {
                targets = jobIDs.contains(Session.jobIDsSessionAll) ? Array(state.records.keys) : jobIDs
            }
            let pending = targets!.filter { state.records[$0].map { !$0.finished } ?? false }
            guard pending.isEmpty else { return .pending(.all(PendingJobs(Set(pending)))) }
            var woken: [@Sendable () -> Void] = []
            var reaped: [String] = []
            if dispose {
                for id in targets! where state.records[id] != nil {
                    woken += state.reap(id)
                    reaped.append(id)
                }
            }
            return .done(reaped, woken: woken)
        }
    }

    private enum Step<Result: Sendable>: Sendable {
        case done(Result)
        case failed(DRMAAError)
        case parked(waiter: Int)
    }

    /// The one look of every wait loop, blocking or async: under the lock, check the session is
    /// still attached, try, and if nothing is ready (and time remains) park a waiter.
    private func step<Result>(
        epoch: inout Int?, waiter: inout Int?, timedOut: Bool,
        attempt: (inout State) throws(DRMAAError) -> Attempt<Result>, wake: @escaping @Sendable () -> Void
    ) -> Step<Result> where Result: Sendable {
        let (step, woken) = state.withLock { state -> (Step<Result>, [@Sendable () -> Void]) in
            if let id = waiter { state.waiters[id] = nil }
            waiter = nil
            if epoch == nil { epoch = state.epoch }
            guard state.attached, state.epoch == epoch else {
                return (.failed(DRMAAError(.noActiveSession, "the session was exited while this call was waiting")), [])
            }
            do throws(DRMAAError) {
                switch try attempt(&state) {
                case .done(let result, let woken):
                    return (.done(result), woken)
                case .pending(let interest):
                    if timedOut {
                        return (.failed(DRMAAError(.exitTimeout, "the timeout expired before the job\(interest.isSingle ? "" : "s") finished\(state.notesText(interest))")), [])
                    }
                    let id = state.nextWaiterID
                    state.nextWaiterID += 1
                    state.waiters[id] = Waiter(interest: interest, wake: wake)
                    waiter = id
                    return (.parked(waiter: id), [])
                }
            } catch {
                return (.failed(error), [])
            }
        }
        for wake in woken { wake() }
        return step
    }

    /// Blocks the calling thread until `attempt` is done, the timeout expires (`EXIT_TIMEOUT`) or
    /// the session exits (`NO_ACTIVE_SESSION`).
    func blockingWait<Result: Sendable>(
        timeout: Timeout, _ attempt: (inout State) throws(DRMAAError) -> Attempt<Result>
    ) throws(DRMAAError) -> Result {
        let deadline = timeout.deadline
        let semaphore = DispatchSemaphore(value: 0)
        var epoch: Int?
        var waiter: Int?
        var timedOut = timeout.seconds == 0
        while true {
            switch step(epoch: &epoch, waiter: &waiter, timedOut: timedOut, attempt: attempt,
                        wake: { semaphore.signal() }) {
            case .done(let result): return result
            case .failed(let error): throw error
            case .parked:
                if semaphore.wait(timeout: deadline ?? .distantFuture) == .timedOut { timedOut = true }
            }
        }
    }

    /// The async form of ``blockingWait``: parks a continuation instead of a thread.
    func asyncWait<Result: Sendable>(
        timeout: Timeout, _ attempt: @escaping (inout State) throws(DRMAAError) -> Attempt<Result>
    ) async throws(DRMAAError) -> Result {
        let deadline = timeout.deadline
        var epoch: Int?
        var waiter: Int?
        var timedOut = timeout.seconds == 0
        while true {
            if let deadline, DispatchTime.now() >= deadline { timedOut = true }
            let current: Step<Result> = await withCheckedContinuation { (continuation: CheckedContinuation<Step<Result>, Never>) in
                let once = ResumeOnce(continuation)
                let result = step(epoch: &epoch, waiter: &waiter, timedOut: timedOut, attempt: attempt,
                                  wake: { once.resume(.parked(waiter: -1)) })
                switch result {
                case .parked(let id):
                    if let deadline {
                        DispatchQueue.global().asyncAfter(deadline: deadline) { [self] in
                            let wake = state.withLock { $0.waiters.removeValue(forKey: id)?.wake }
                            wake?()
                        }
                    }
                default:
                    once.resume(result)
                }
            }
            switch current {
            case .done(let result): return result
            case .failed(let error): throw error
            case .parked: waiter = nil
            }
        }
    }
}

extension JobTable.Interest {
    var isSingle: Bool { if case .job = self { true } else { false } }
}

/// Resumes a continuation exactly once, whichever of the wake-up paths gets there first.
private final class ResumeOnce<Value: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<Value, Never>?>
    init(_ continuation: CheckedContinuation<Value, Never>) { self.continuation = Mutex(continuation) }
    func resume(_ value: Value) {
        continuation.withLock { c -> CheckedContinuation<Value, Never>? in defer { c = nil }; return c }?.resume(returning: value)
    }
}

extension Dictionary {
    /// Rebuilds the dictionary at its minimum size when fewer than an eighth of its buckets are
    /// used: a Swift dictionary never shrinks on its own. Amortised O(1) per removal.
    package mutating func shrinkIfSparse() {
        guard capacity > 1024, count * 8 < capacity else { return }
        self = Dictionary(uniqueKeysWithValues: self.lazy.map { ($0.key, $0.value) })
    }
}
