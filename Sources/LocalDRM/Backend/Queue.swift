import CLocalDRM
import DRMAACore
import Glibc
import Synchronization

/// The jobs of a LocalDRM session and its queue: phases, what a submission shares, the state
/// behind the backend's lock, and the slot-limited priority queue.
extension LocalBackend {
    /// Where a job is in its life, as far as LocalDRM is concerned. Jobs leave the map when they finish.
    enum Phase {
        case queued
        case held
        /// Taken from the queue and being spawned outside the lock.
        case starting
        case running(pid: pid_t)
        case suspended(pid: pid_t)
        /// The supervisor is about to reap the pid: it must not be signalled any more.
        case exited
    }

    /// What the jobs of one `runJob` or `runBulkJobs` call share, made once per call: a bulk job
    /// of 100,000 tasks holds one of these, and each task only its own small ``Job``.
    final class Batch: Sendable {
        let submission: Submission
        let options: JobOptions
        /// The settings of the session that submitted it (its emulation, terminate sequence…).
        let settings: LocalDRM.Settings
        let environment: JobEnvironment
        /// The bulk job's task indexes, for the scheduler variables; `nil` for a single job.
        let tasks: TaskRange?
        /// The submitter's current directory, for Slurm's `SLURM_SUBMIT_DIR`; `nil` otherwise.
        let submitDirectory: String?
        /// In the daemon, the session it belongs to: a session's jobs use at most its
        /// `settings.slots` of the shared pool at once. `nil` in the embedded mode (one session).
        let session: String?

        init(submission: Submission, options: JobOptions, settings: LocalDRM.Settings, environment: JobEnvironment,
             submitDirectory: String? = nil, session: String? = nil) {
            (self.submission, self.options, self.settings, self.environment) = (submission, options, settings, environment)
            self.session = session
            tasks = TaskRange(submission.taskIndexes)
            self.submitDirectory = submitDirectory
        }

        /// What the jobs of `submission` share: its environment (from the submitter's, read only
        /// if the options inherit it) and the submitter's directory (read only for Slurm's profile).
        convenience init(submission: Submission, options: JobOptions, settings: LocalDRM.Settings,
                         environment: () -> [String], currentDirectory: () -> String?, session: String?) {
            let emulation = settings.emulation
            self.init(submission: submission, options: options, settings: settings,
                      environment: JobEnvironment(base: options.inheritsEnvironment ? environment() : [],
                                                  overrides: submission.first.environment,
                                                  managed: JobVariables.managedNames(emulation)),
                      submitDirectory: emulation == .slurm ? currentDirectory() : nil, session: session)
        }

        /// The request every task shares (hold, times, limits); see ``Submission/first``.
        var request: JobRequest { submission.first }
    }

    /// A job that has not finished: a few dozen bytes.
    struct Job: Sendable {
        let batch: Batch
        /// The bulk task index, `nil` for a single job.
        let taskIndex: Int?
        var phase: Phase
        /// Submission order, for the queue.
        let sequence: UInt64
        /// True while the job has an entry in the queue (or among its bulk job's parked tasks).
        var enqueued = false
        var terminateRequested = false
        /// Its deadline passed while it was being spawned: SIGKILL as soon as it exists.
        var killWhenStarted = false
        /// True while `drmaa_start_time` lies in the future: the job is not in the queue yet.
        var waitsForStartTime = false
        /// The timer that ends the wait for the start time, and the deadline's, for cancelling them.
        var startTimer: TimerToken?
        var deadlineTimer: TimerToken?
        /// Set only on a removed job: its deferral, whose timer and file are to be released.
        var deferral: Deferral?

        var options: JobOptions { batch.options }
        func queueEntry(_ id: String) -> QueueEntry { QueueEntry(priority: options.priority, sequence: sequence, id: id) }
        /// The bulk job whose task limit applies to this job, if any.
        var limitedBulkJob: String? { options.taskLimit == nil ? nil : batch.submission.bulkJobID }
    }

    /// What only a started job needs, kept apart so that pending jobs stay small.
    struct RunState {
        var startTime: Double
        /// Wall-clock limit and teardown timers, cancelled when the job finishes.
        var timers: [TimerToken] = []
        /// Run-duration limit timers: they count only running time, so suspension cancels them.
        var runTimers: [TimerToken] = []
        /// Seconds spent running before the current run (suspensions excluded).
        var ranBefore: Double = 0
        /// Monotonic time (ns) the current run began.
        var runningSince: Int64 = 0
        /// The steps of the terminate sequence taken so far.
        var teardownStep = 0
        /// The run-duration limits (hard, soft) that have fired: a resume does not re-arm them.
        var hardRunLimitFired = false
        var softRunLimitFired = false
        /// The signals LocalDRM sent the job's group that may end it, and why, in order: the
        /// reason of the one it dies of becomes its kill reason.
        var sentSignals: [SentSignal] = []
        /// Its private `TMPDIR`, removed when it ends.
        var temporaryDirectory: PrivateTemporaryDirectory?
        /// Its shepherd's control socket, in the durable mode: signals go through it.
        var shepherd: ShepherdLink?
    }

    /// Sends `signal` to a started job's process group: directly, or through its shepherd, which
    /// holds the job unreaped (so the group cannot be a reused one). Called with the lock held.
    static func deliver(_ signal: Int32, toGroup pid: pid_t, via shepherd: ShepherdLink?) throws(Errno) {
        if let shepherd {
            try shepherd.signal(signal)
        } else {
            try Syscall.signalGroup(pid, signal)
        }
    }

    /// A signal LocalDRM sent to a started job's process group, and why.
    struct SentSignal {
        var signal: Int32
        var reason: String
    }

    /// A job that could not start yet and waits to be tried again (a FIFO not ready, or no
    /// file descriptors, processes or memory left): it is queued but out of the queue, holds no
    /// slots, and a timer puts it back in line.
    struct Deferral {
        /// Attempts so far; the wait doubles with each, from 20 ms to at most 1 s.
        var attempts = 0
        var timer: TimerToken?
        /// An input FIFO kept open between attempts (see ``Spawner/Opened/notReady(reason:heldInput:)``).
        var heldInput: Int32?

        /// The wait after the latest attempt: 20 ms after the first, doubling, at most 1 s.
        var delay: Double { min(0.01 * Double(1 << min(attempts, 10)), 1.0) }
    }

    /// A job's place in the queue: higher priority first, then submission order.
    struct QueueEntry: Comparable {
        var priority: Int
        var sequence: UInt64
        var id: String
        static func < (a: Self, b: Self) -> Bool { (-a.priority, a.sequence) < (-b.priority, b.sequence) }
        static func == (a: Self, b: Self) -> Bool { a.sequence == b.sequence && a.id == b.id }
    }

    struct State {
        var jobs: [String: Job] = [:]
        var runs: [String: RunState] = [:]
        /// Jobs waiting to be tried again; usually empty.
        var deferred: [String: Deferral] = [:]
        /// Set when supervision ended: no job is accepted or put back to wait from then on.
        var supervisionFailure: String?
        /// Jobs waiting for slots. Entries of jobs that left the queued phase are skipped when met.
        var queue = Heap<QueueEntry>()
        /// Tasks of bulk jobs at their task limit, taken out of the queue until a sibling finishes.
        var parked: [String: Heap<QueueEntry>] = [:]
        /// Running (or starting) tasks per bulk job that has a task limit.
        var runningTasks: [String: Int] = [:]
        /// In the daemon: the slots each session's started jobs use, and its jobs taken out of the
        /// queue because the session was at its slots, until one of its jobs frees some.
        var sessionSlots: [String: Int] = [:]
        var parkedBySession: [String: Heap<QueueEntry>] = [:]
        var usedSlots = 0
        let slots: Int
        var nextSequence: UInt64 = 0

        /// Takes the next job that may start now out of the queue, marking it starting, with the
        /// input FIFO a deferred job holds; `nil` when the queue is empty or its first job needs
        /// more slots than are free (no job overtakes it).
        mutating func takeStartable() -> (String, Job, heldInput: Int32?)? {
            while let entry = queue.min {
                guard var job = jobs[entry.id], job.sequence == entry.sequence else {
                    queue.popMin()
                    continue
                }
                guard case .queued = job.phase, !job.waitsForStartTime else {
                    queue.popMin()
                    job.enqueued = false
                    jobs[entry.id] = job
                    if let bulk = job.limitedBulkJob { unpark(bulk, limit: job.options.taskLimit!) }
                    continue
                }
                if let bulk = job.limitedBulkJob, runningTasks[bulk, default: 0] >= job.options.taskLimit! {
                    queue.popMin()
                    parked[bulk, default: Heap()].insert(entry)
                    continue
                }
                if let session = job.batch.session, sessionSlots[session, default: 0] + job.options.slots > job.batch.settings.slots {
                    queue.popMin()
                    parkedBySession[session, default: Heap()].insert(entry)
                    continue
                }
                guard usedSlots + job.options.slots <= slots else { return nil }
                queue.popMin()
                job.enqueued = false
                job.phase = .starting
                jobs[entry.id] = job
                usedSlots += job.options.slots
                if let session = job.batch.session { sessionSlots[session, default: 0] += job.options.slots }
                if let bulk = job.limitedBulkJob { runningTasks[bulk, default: 0] += 1 }
                var heldInput: Int32?
                if !deferred.isEmpty, let held = deferred[entry.id]?.heldInput {
                    deferred[entry.id]?.heldInput = nil
                    heldInput = held
                }
                return (entry.id, job, heldInput)
            }
            return nil
        }

        /// Puts a job in the queue unless it is there already.
        mutating func enqueue(_ id: String) {
            guard var job = jobs[id], !job.enqueued else { return }
            job.enqueued = true
            jobs[id] = job
            queue.insert(job.queueEntry(id))
        }

        /// A task of `bulk` stopped running, or one of its queue entries went stale: if the bulk job
        /// is below its limit, its first parked task that still waits goes back to the queue.
        mutating func unpark(_ bulk: String, limit: Int) {
            guard runningTasks[bulk, default: 0] < limit else { return }
            while let entry = parked[bulk]?.popMin() {
                guard var job = jobs[entry.id], job.sequence == entry.sequence else { continue }
                guard case .queued = job.phase, !job.waitsForStartTime else {
                    job.enqueued = false
                    jobs[entry.id] = job
                    continue
                }
                queue.insert(entry)
                break
            }
            if parked[bulk]?.isEmpty == true { parked[bulk] = nil }
        }

        /// A started job of `job`'s session gave back its slots: they go back to the session, and
        /// its parked jobs that may fit now return to the queue.
        private mutating func releaseSessionSlots(of job: Job) {
            guard let session = job.batch.session else { return }
            let used = sessionSlots[session, default: job.options.slots] - job.options.slots
            sessionSlots[session] = used > 0 ? used : nil
            var free = job.batch.settings.slots - max(0, used)
            while free > 0, let entry = parkedBySession[session]?.popMin() {
                guard let parkedJob = jobs[entry.id], parkedJob.sequence == entry.sequence else { continue }
                guard case .queued = parkedJob.phase, !parkedJob.waitsForStartTime else {
                    jobs[entry.id]?.enqueued = false
                    continue
                }
                queue.insert(entry)
                free -= parkedJob.options.slots
            }
            if parkedBySession[session]?.isEmpty == true { parkedBySession[session] = nil }
        }

        /// A job that was taken from the queue to start cannot start yet: it gives back its
        /// slots and is queued again, out of line (the caller sets a retry timer).
        mutating func putBack(_ id: String) {
            guard var job = jobs[id], case .starting = job.phase else { return }
            job.phase = .queued
            jobs[id] = job
            usedSlots -= job.options.slots
            releaseSessionSlots(of: job)
            if let bulk = job.limitedBulkJob {
                let running = runningTasks[bulk, default: 1] - 1
                runningTasks[bulk] = running > 0 ? running : nil
                unpark(bulk, limit: job.options.taskLimit!)
            }
        }

        /// A job is gone: forgets it, frees its slots if it had started and lets a parked sibling
        /// back into the queue. Returns the job and its run state; a deferral's file and timer
        /// are released by ``LocalBackend/cancelTimers(_:_:)`` with the job's.
        mutating func remove(_ id: String) -> (Job, RunState?)? {
            guard var job = jobs.removeValue(forKey: id) else { return nil }
            jobs.shrinkIfSparse()
            let run = runs.removeValue(forKey: id)
            if let deferral = deferred.removeValue(forKey: id) {
                job.deferral = deferral
            }
            switch job.phase {
            case .queued, .held:
                // It may have been the entry that stood in the queue for its parked siblings.
                if let bulk = job.limitedBulkJob { unpark(bulk, limit: job.options.taskLimit!) }
                return (job, run)
            default:
                break
            }
            usedSlots -= job.options.slots
            releaseSessionSlots(of: job)
            if let bulk = job.limitedBulkJob {
                let running = runningTasks[bulk, default: 1] - 1
                runningTasks[bulk] = running > 0 ? running : nil
                unpark(bulk, limit: job.options.taskLimit!)
            }
            return (job, run)
        }
    }
}
