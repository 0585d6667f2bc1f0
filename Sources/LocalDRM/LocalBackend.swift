import CLocalDRM
import DRMAACore
import Glibc
import Synchronization

/// The backend of one LocalDRM session: a slot-limited priority queue of jobs that run as child
/// processes of this process, supervised by the process-wide ``Supervisor``.
final class LocalBackend: Backend {
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
        let environment: JobEnvironment
        /// The bulk job's task indexes, for the scheduler variables; `nil` for a single job.
        let tasks: TaskRange?
        /// The submitter's current directory, for Slurm's `SLURM_SUBMIT_DIR`; `nil` otherwise.
        let submitDirectory: String?

        init(submission: Submission, options: JobOptions, environment: JobEnvironment, submitDirectory: String? = nil) {
            (self.submission, self.options, self.environment) = (submission, options, environment)
            tasks = TaskRange(submission.taskIndexes)
            self.submitDirectory = submitDirectory
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
                guard usedSlots + job.options.slots <= slots else { return nil }
                queue.popMin()
                job.enqueued = false
                job.phase = .starting
                jobs[entry.id] = job
                usedSlots += job.options.slots
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

        /// A job that was taken from the queue to start cannot start yet: it gives back its
        /// slots and is queued again, out of line (the caller sets a retry timer).
        mutating func putBack(_ id: String) {
            guard var job = jobs[id], case .starting = job.phase else { return }
            job.phase = .queued
            jobs[id] = job
            usedSlots -= job.options.slots
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
            if let bulk = job.limitedBulkJob {
                let running = runningTasks[bulk, default: 1] - 1
                runningTasks[bulk] = running > 0 ? running : nil
                unpark(bulk, limit: job.options.taskLimit!)
            }
            return (job, run)
        }
    }

    let table: JobTable
    let supervisor: Supervisor
    let launcher: Launcher
    /// Removes the temporary directories of jobs reaped on the supervisor thread.
    let cleaner: Launcher
    let timers: any TimerClock
    let settings: LocalDRM.Settings
    private let state: Mutex<State>
    /// The options read last, see ``options(category:nativeSpecification:)``.
    private let lastOptions = Mutex<ReadOptions?>(nil)
    /// The process that made this backend; in a forked child, the backend is not used.
    private let ownerProcessID = Syscall.processID()
    /// True while a pass of ``schedule()`` is waiting on the launcher.
    private let scheduleRequested = Atomic<Bool>(false)
    /// Whether timer actions run on the supervisor thread (the default clock), where nothing may spawn.
    private let timersOnSupervisor: Bool

    var homeDirectory: String { settings.configuration.homeDirectory }
    var clock: any WallClock { settings.configuration.clock }
    var timeZone: any TimeZoneRule { settings.configuration.timeZone }

    init(settings: LocalDRM.Settings, table: JobTable, runtime: Runtime, timers: (any TimerClock)?) {
        LocalJobIDs.noteProcess()
        self.settings = settings
        self.table = table
        self.supervisor = runtime.supervisor
        self.launcher = runtime.launcher
        self.cleaner = runtime.cleaner
        self.timers = timers ?? runtime.supervisor
        self.timersOnSupervisor = timers == nil
        self.state = Mutex(State(slots: settings.slots))
        supervisor.observeFailure(ObjectIdentifier(self)) { [weak self] reason in self?.supervisionEnded(reason) }
    }

    deinit {
        // In a forked child the supervisor is the parent's: its lock may have been held at fork.
        if isOwnedByThisProcess { supervisor.stopObservingFailure(ObjectIdentifier(self)) }
    }

    var isOwnedByThisProcess: Bool { Syscall.processID() == ownerProcessID }

    func newJobID() -> String { LocalJobIDs.next() }

    // MARK: Submission

    /// The options of a template's jobs: its category's native specification, then its own.
    /// Reading them depends on nothing but these two texts and the session's fixed settings, so the
    /// last result is kept: ``effectiveTemplate(for:)`` reads them, and the ``submit(_:)`` that
    /// follows takes them from here instead of reading the same texts again.
    private func options(category: String?, nativeSpecification: String?) throws(DRMAAError) -> JobOptions {
        if let last = lastOptions.withLock({ $0 }), last.matches(category, nativeSpecification) { return last.options }
        let options = try settings.categories.options(category: category, nativeSpecification: nativeSpecification,
                                                      emulation: settings.emulation, sessionSlots: settings.slots)
        guard options.slots <= settings.slots else {
            throw .denied("the job asks for \(options.slots) slots, more than this session's \(settings.slots): it could never start")
        }
        lastOptions.withLock { $0 = ReadOptions(category: category, nativeSpecification: nativeSpecification, options: options) }
        return options
    }

    /// Options and the texts they were read from.
    private struct ReadOptions {
        var category: String?
        var nativeSpecification: String?
        var options: JobOptions

        /// True if read from exactly these texts. Bytes are compared, not `String`s: those are equal
        /// when canonically equivalent (`é` as one scalar or two), and the job would see the bytes.
        func matches(_ category: String?, _ nativeSpecification: String?) -> Bool {
            func same(_ a: String?, _ b: String?) -> Bool {
                switch (a, b) {
                case (nil, nil): true
                case (let a?, let b?): a.utf8.elementsEqual(b.utf8)
                default: false
                }
            }
            return same(self.category, category) && same(self.nativeSpecification, nativeSpecification)
        }
    }

    func validate(_ template: JobTemplate) throws(DRMAAError) {
        _ = try options(category: template.jobCategory, nativeSpecification: template.nativeSpecification)
    }

    /// The template with what its native specification and category say for the attributes it
    /// leaves unset (Grid Engine's precedence: explicit attributes win).
    func effectiveTemplate(for template: JobTemplate) throws(DRMAAError) -> JobTemplate {
        let options = try options(category: template.jobCategory, nativeSpecification: template.nativeSpecification)
        return try options.filling(template, environmentValue: Syscall.environmentValue, currentDirectory: Syscall.currentDirectory)
    }

    /// Why a session whose supervisor failed takes no more jobs.
    private static func supervisionEndedError(_ failure: String) -> DRMAAError {
        DRMAAError(.internalError, "\(failure): this session can run no more jobs; drmaa_exit and drmaa_init open a new one")
    }

    func submit(_ submission: Submission) throws(DRMAAError) {
        if let failure = supervisor.failure { throw Self.supervisionEndedError(failure) }
        let first = submission.first
        let emulation = settings.emulation
        let options = try options(category: first.jobCategory, nativeSpecification: first.nativeSpecification)
        let batch = Batch(submission: submission, options: options,
                          environment: JobEnvironment(base: options.inheritsEnvironment ? Syscall.environment() : [],
                                                      overrides: first.environment,
                                                      managed: JobVariables.managedNames(emulation)),
                          submitDirectory: emulation == .slurm ? try? Syscall.currentDirectory() : nil)
        let now = timers.monotonicNow()
        let wallNow = clock.now()
        func at(_ instant: Int64) -> Int64 { monotonic(now, plus: Double(instant) - wallNow) }
        let waitsForStart = first.startTime.map { Double($0) > wallNow } ?? false
        let indexes: [Int?] = submission.taskIndexes.map { $0.map { Optional($0) } } ?? [nil]
        try state.withLock { state throws(DRMAAError) in
            // Checked again under the lock: supervision may have ended since the check above.
            if let failure = state.supervisionFailure { throw Self.supervisionEndedError(failure) }
            state.jobs.reserveCapacity(state.jobs.count + indexes.count)
            for index in indexes {
                let id = submission.jobID(taskIndex: index)
                var job = Job(batch: batch, taskIndex: index, phase: first.hold ? .held : .queued,
                              sequence: state.nextSequence, waitsForStartTime: waitsForStart)
                state.nextSequence += 1
                // Timers are armed under the lock, so that no job can end before its tokens are
                // stored (they would never be cancelled). Their actions run outside this call.
                if waitsForStart {
                    job.startTimer = timers.schedule(at: at(first.startTime!)) { [weak self] in self?.startTimeReached(id) }
                }
                if let deadline = first.deadlineTime {
                    job.deadlineTimer = timers.schedule(at: at(deadline)) { [weak self] in self?.deadlineReached(id) }
                }
                state.jobs[id] = job
                if !waitsForStart && !first.hold { state.enqueue(id) }
            }
        }
        schedule()
    }

    /// `drmaa_deadline_time` has come: a pending job is terminated (it never ran); a started one
    /// is killed with SIGKILL, as a hard limit would.
    private func deadlineReached(_ id: String) {
        let freed = state.withLock { state -> Bool in
            guard let job = state.jobs[id] else { return false }
            switch job.phase {
            case .queued, .held:
                if let (job, run) = state.remove(id) { cancelTimers(job, run) }
                table.reportFinished(id, JobOutcome(termination: .aborted(reason: "its drmaa_deadline_time passed before it started"), usage: nil))
                return true
            case .starting:
                state.jobs[id]?.killWhenStarted = true
            case .running(let pid), .suspended(let pid):
                state.runs[id]?.sentSignals.append(SentSignal(signal: SIGKILL, reason: "killed with SIGKILL: its drmaa_deadline_time passed"))
                try? Syscall.signalGroup(pid, SIGKILL)
            case .exited:
                break
            }
            return false
        }
        // A pending task of a throttled bulk job may have let a sibling into the queue.
        if freed { scheduleFromTimer() }
    }

    /// A limit timer fired: signal the job's group if it still runs (SIGKILL for hard limits,
    /// the warning signal for soft ones), noting `reason`.
    private func limitReached(_ id: String, _ signal: Int32, _ reason: String) {
        state.withLock { state in
            switch state.jobs[id]?.phase {
            case .running(let pid)?, .suspended(let pid)?:
                state.runs[id]?.sentSignals.append(SentSignal(signal: signal, reason: reason))
                try? Syscall.signalGroup(pid, signal)
            default: break
            }
        }
    }

    /// Why a limit's signal was sent: `killed with SIGKILL: it reached its drmaa_wct_hlimit of 10 s`.
    private static func limitReason(_ signal: Int32, _ attribute: String, _ seconds: Int, hard: Bool) -> String {
        hard ? "killed with \(SignalNames.name(of: signal)): it reached its \(attribute) of \(seconds) s"
             : "\(SignalNames.name(of: signal)), the warning that it reached its \(attribute) of \(seconds) s"
    }

    /// Releases what a removed job still holds: its timers and a deferral's input FIFO.
    private func cancelTimers(_ job: Job, _ run: RunState?) {
        for timer in [job.startTimer, job.deadlineTimer, job.deferral?.timer].compactMap({ $0 }) + (run?.timers ?? []) + (run?.runTimers ?? []) {
            timers.cancel(timer)
        }
        if let fd = job.deferral?.heldInput { Syscall.close(fd) }
    }

    /// Arms the wall-clock limits of a job that just started (called with the lock held).
    private func armWallclockLimits(_ id: String, _ request: JobRequest, _ run: inout RunState, now: Int64) {
        for (limit, signal, attribute) in [(request.hardWallclockLimit, SIGKILL, "drmaa_wct_hlimit"),
                                           (request.softWallclockLimit, LocalDRM.softWallclockSignal, "drmaa_wct_slimit")] {
            guard let limit else { continue }
            let reason = Self.limitReason(signal, attribute, limit, hard: signal == SIGKILL)
            run.timers.append(timers.schedule(at: monotonic(now, plus: Double(limit))) { [weak self] in
                self?.limitReached(id, signal, reason)
            })
        }
    }

    /// Arms the run-duration limits that have not fired yet, for the time the job has left to run (lock held).
    private func armRunLimits(_ id: String, _ request: JobRequest, _ run: inout RunState, now: Int64) {
        run.runningSince = now
        for (limit, hard) in [(request.hardRunDurationLimit, true), (request.softRunDurationLimit, false)] {
            guard let limit, !(hard ? run.hardRunLimitFired : run.softRunLimitFired) else { continue }
            let reason = Self.limitReason(hard ? SIGKILL : LocalDRM.softRunDurationSignal,
                                          hard ? "drmaa_duration_hlimit" : "drmaa_duration_slimit", limit, hard: hard)
            run.runTimers.append(timers.schedule(at: monotonic(now, plus: Double(limit) - run.ranBefore)) { [weak self] in
                self?.runLimitReached(id, hard: hard, reason)
            })
        }
    }

    /// A run-duration limit fired: it is spent, and its signal goes to the group.
    private func runLimitReached(_ id: String, hard: Bool, _ reason: String) {
        state.withLock { state in
            guard var run = state.runs[id] else { return }
            if hard { run.hardRunLimitFired = true } else { run.softRunLimitFired = true }
            let signal = hard ? SIGKILL : LocalDRM.softRunDurationSignal
            switch state.jobs[id]?.phase {
            case .running(let pid)?, .suspended(let pid)?:
                run.sentSignals.append(SentSignal(signal: signal, reason: reason))
                state.runs[id] = run
                try? Syscall.signalGroup(pid, signal)
            default:
                state.runs[id] = run
            }
        }
    }

    /// Stops the run-duration clock of a job being suspended (lock held).
    private func pauseRunLimits(_ run: inout RunState, now: Int64) {
        run.ranBefore += Double(now - run.runningSince) / 1e9
        for timer in run.runTimers { timers.cancel(timer) }
        run.runTimers = []
    }

    /// Takes the next step of the terminate sequence for a started job (lock held): its signal
    /// to the group and a timer for the step after, or SIGKILL once the steps are used up. A
    /// suspended job is continued so that it can act on the signal.
    private func advanceTeardown(_ id: String, _ job: inout Job, _ run: inout RunState, pid: pid_t) throws(DRMAAError) {
        let steps = settings.configuration.terminateSequence
        guard run.teardownStep < steps.count else {
            // SIGKILL ends stopped processes too.
            let after = run.teardownStep > 0 ? ", \(Self.seconds(steps[run.teardownStep - 1].seconds)) after \(SignalNames.name(of: steps[run.teardownStep - 1].signal))" : ""
            run.sentSignals.append(SentSignal(signal: SIGKILL, reason: "terminated through drmaa_control: SIGKILL\(after)"))
            try signal(pid, SIGKILL, id)
            return
        }
        let step = steps[run.teardownStep]
        run.teardownStep += 1
        run.sentSignals.append(SentSignal(signal: step.signal, reason: "terminated through drmaa_control: \(SignalNames.name(of: step.signal))"))
        try signal(pid, step.signal, id)
        if case .suspended = job.phase {
            try signal(pid, SIGCONT, id)
            job.phase = .running(pid: pid)
        }
        run.timers.append(timers.schedule(at: monotonic(timers.monotonicNow(), plus: step.seconds)) { [weak self] in
            self?.teardownStepElapsed(id)
        })
    }

    /// The session exited: a TERMINATE still in its grace period ends now with SIGKILL. The
    /// process may end right after `drmaa_exit` (Snakemake's Ctrl-C: cancel, exit, quit), and then
    /// no timer would be left to send it: a job that ignores SIGTERM would outlive its TERMINATE.
    /// Other jobs keep running, as DRMAA says.
    func sessionDidExit() {
        state.withLock { state in
            for (id, var run) in state.runs where run.teardownStep > 0 {
                guard let job = state.jobs[id] else { continue }
                switch job.phase {
                case .running(let pid), .suspended(let pid):
                    let steps = settings.configuration.terminateSequence
                    run.teardownStep = steps.count
                    run.sentSignals.append(SentSignal(signal: SIGKILL, reason: "terminated through drmaa_control: SIGKILL at drmaa_exit, during the grace period after \(SignalNames.name(of: steps[0].signal))"))
                    try? signal(pid, SIGKILL, id)
                    state.runs[id] = run
                default:
                    continue
                }
            }
        }
    }

    /// Seconds as a reason shows them: `5 s`, `0.5 s`.
    private static func seconds(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? "\(Int(value)) s" : "\(value) s"
    }

    /// The time a terminated job had for the last step is up: take the next one if it still runs.
    private func teardownStepElapsed(_ id: String) {
        state.withLock { state in
            guard var job = state.jobs[id], var run = state.runs[id] else { return }
            switch job.phase {
            case .running(let pid), .suspended(let pid):
                try? advanceTeardown(id, &job, &run, pid: pid)
                state.jobs[id] = job
                state.runs[id] = run
            default:
                break
            }
        }
    }

    /// A job's `drmaa_start_time` has come: it joins the queue (unless it is held).
    private func startTimeReached(_ id: String) {
        state.withLock { state in
            guard var job = state.jobs[id] else { return }
            job.waitsForStartTime = false
            job.startTimer = nil
            state.jobs[id] = job
            if case .queued = job.phase { state.enqueue(id) }
        }
        scheduleFromTimer()
    }

    /// The wait of a deferred job is over: it goes back in line (unless it is held, or was
    /// terminated meanwhile).
    private func retryDue(_ id: String) {
        state.withLock { state in
            guard state.deferred[id] != nil, let job = state.jobs[id] else { return }
            state.deferred[id]?.timer = nil
            if case .queued = job.phase, !job.waitsForStartTime { state.enqueue(id) }
        }
        scheduleFromTimer()
    }

    /// A job taken from the queue cannot start yet: it waits `delay` out of line, with `reason`
    /// shown in the table (a wait's timeout diagnosis names it). Terminated or past its deadline
    /// meanwhile, it ends instead.
    private func deferStart(_ id: String, reason: String, heldInput: Int32?) {
        let ended = state.withLock { state -> Termination? in
            guard let job = state.jobs[id] else { return nil }
            if job.terminateRequested || job.killWhenStarted {
                return .aborted(reason: job.terminateRequested ? "terminated through drmaa_control before it started"
                                                               : "its drmaa_deadline_time passed before it started")
            }
            if let failure = state.supervisionFailure {
                return .aborted(reason: "\(failure) before the job started")  // no timer would fire
            }
            state.putBack(id)
            var deferral = state.deferred[id] ?? Deferral()
            deferral.attempts += 1
            deferral.heldInput = heldInput
            let delay = deferral.delay
            if let stale = deferral.timer { timers.cancel(stale) }
            deferral.timer = timers.schedule(at: monotonic(timers.monotonicNow(), plus: delay)) { [weak self] in self?.retryDue(id) }
            state.deferred[id] = deferral
            // Under the lock, so that a start or an end cannot come between and leave it stale.
            table.reportNote(id, "\(reason); LocalDRM tries again")
            return nil
        }
        if let ended {
            if let heldInput { Syscall.close(heldInput) }
            finish(id, ended, reaped: nil, startTime: clock.now(), reschedule: false, usage: false)
        }
    }

    /// Supervision ended: every job that has not started ends FAILED with the reason (the
    /// supervisor reports the started ones itself).
    private func supervisionEnded(_ reason: String) {
        let pending = state.withLock { state -> [(String, Job, RunState?)] in
            state.supervisionFailure = reason
            let ids = state.jobs.compactMap { id, job -> String? in
                switch job.phase {
                case .queued, .held: id
                default: nil
                }
            }
            return ids.compactMap { id in state.remove(id).map { (id, $0.0, $0.1) } }
        }
        for (id, job, run) in pending {
            cancelTimers(job, run)
            table.reportFinished(id, JobOutcome(termination: .aborted(reason: "\(reason) before the job started"), usage: nil))
        }
    }

    /// Starts queued jobs while slots are free, on the calling thread (never the supervisor's).
    /// Spawning happens outside the lock. A job that fails to start is finished without
    /// rescheduling: this loop goes on, so a bulk job of many tasks that all fail cannot nest
    /// calls (and overflow the stack).
    private func schedule() {
        while let (id, job, heldInput) = state.withLock({ $0.takeStartable() }) {
            start(id, job, heldInput: heldInput)
        }
    }

    /// Has ``schedule()`` run on the launcher thread soon; requests made before it runs are one pass.
    private func scheduleOnLauncher() {
        guard !scheduleRequested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        launcher.submit { [weak self] in
            guard let self else { return }
            scheduleRequested.store(false, ordering: .releasing)
            schedule()
        }
    }

    /// ``schedule()`` after a timer fired: on the launcher if timers run on the supervisor thread.
    private func scheduleFromTimer() {
        if timersOnSupervisor { scheduleOnLauncher() } else { schedule() }
    }

    private func start(_ id: String, _ job: Job, heldInput: Int32?) {
        let startTime = clock.now()
        let request = job.options.resolvingStreams(job.batch.submission.request(taskIndex: job.taskIndex), homeDirectory: homeDirectory)
        if let failure = supervisor.failure {
            if let heldInput { Syscall.close(heldInput) }
            finish(id, .aborted(reason: "\(failure) before the job started"), reaped: nil, startTime: startTime, reschedule: false, usage: false)
            return
        }
        let files: JobFiles
        do {
            switch try Spawner.openFiles(request, environment: job.batch.environment, heldInput: heldInput,
                                         emulation: settings.emulation) {
            case .ready(let opened): files = opened
            case .notReady(let reason, let heldInput):
                deferStart(id, reason: reason, heldInput: heldInput)
                return
            }
        } catch {
            startFailed(id, error, startTime: startTime)
            return
        }
        let temporary: PrivateTemporaryDirectory?
        let variables: [(name: String, value: String)]
        do {
            (temporary, variables) = try prepareEnvironment(id, job, request, files)
        } catch {
            files.close()
            startFailed(id, error, startTime: startTime)
            return
        }
        let pid: pid_t
        do {
            defer { files.close() }  // the child has its own copies; closing first frees fds for pidfd_open
            pid = try Spawner.spawn(request, files, environment: job.batch.environment, variables: variables)
        } catch {
            temporary?.remove()
            startFailed(id, error, startTime: startTime)
            return
        }
        if let nice = job.options.nice {
            // posix_spawn cannot set a nice level; the group is reniced before the job can have
            // left it, and whatever it starts later inherits the level.
            do {
                try Syscall.setGroupNice(pid, nice)
            } catch {
                abandon(id, pid: pid, reason: "its nice level \(nice) could not be set: \(error)", startTime: startTime,
                        reschedule: false, temporary: temporary)
                return
            }
        }
        if !job.options.resourceLimits.isEmpty {
            // Nor resource limits: they are set on the job's process the same way, before it can
            // have done much (it may have forked a child meanwhile, which keeps the old limits).
            do {
                try job.options.applyResourceLimits(to: pid)
            } catch {
                abandon(id, pid: pid, reason: "its resource limits (-l h_vmem and the like) could not be set: \(error)", startTime: startTime,
                        reschedule: false, temporary: temporary)
                return
            }
        }
        let kept = state.withLock { state -> Bool in
            guard var job = state.jobs[id] else { return false }
            if !state.deferred.isEmpty, let deferral = state.deferred.removeValue(forKey: id) {
                if let timer = deferral.timer { timers.cancel(timer) }
                table.reportNote(id, nil)
            }
            job.phase = .running(pid: pid)
            var run = RunState(startTime: startTime)
            run.temporaryDirectory = temporary
            let now = timers.monotonicNow()
            armWallclockLimits(id, request, &run, now: now)
            armRunLimits(id, request, &run, now: now)
            if job.terminateRequested || job.killWhenStarted {
                // Terminated, or past its deadline, while it was being spawned: it has only just
                // begun (posix_spawn returns once it has exec'd), so it ends at once.
                run.sentSignals.append(SentSignal(signal: SIGKILL, reason: job.terminateRequested
                    ? "terminated through drmaa_control while it was being started: SIGKILL"
                    : "killed with SIGKILL: its drmaa_deadline_time passed while it was being started"))
                try? Syscall.signalGroup(pid, SIGKILL)
            }
            state.jobs[id] = job
            state.runs[id] = run
            if !job.terminateRequested {
                table.reportState(id, .running)
            }
            return true
        }
        if !kept { temporary?.remove() }  // not expected: a starting job leaves only through this call
        do {
            try supervisor.watch(pid: pid, willReap: { [self] in
                state.withLock { $0.jobs[id]?.phase = .exited }
            }, didReap: { [self] reaped in
                finish(id, nil, reaped: reaped, startTime: startTime, onSupervisor: true)
            })
        } catch {
            // Without a pidfd the job cannot be supervised: end it now rather than lose track of it.
            abandon(id, pid: pid, reason: "the job could not be supervised: \(error)", startTime: startTime, reschedule: false)
        }
    }

    /// The job's private `TMPDIR` (unless `drmaa_v_env` sets `TMPDIR`) and the variables LocalDRM
    /// sets in it. A directory that cannot be made fails the job.
    private func prepareEnvironment(_ id: String, _ job: Job, _ request: JobRequest, _ files: JobFiles)
        throws(StartFailure) -> (PrivateTemporaryDirectory?, [(name: String, value: String)]) {
        let environment = job.batch.environment
        var temporary: PrivateTemporaryDirectory?
        if !environment.sets(JobVariables.temporaryDirectoryVariable) {
            let parent = settings.configuration.temporaryRoot ?? PrivateTemporaryDirectory.parent(forBase: environment.temporaryBase)
            do {
                temporary = try PrivateTemporaryDirectory.make(in: parent, jobID: id)
            } catch {
                var failure = StartFailure("cannot make the job's private temporary directory (TMPDIR) in '\(parent)'", error)
                failure.transient = false  // mkdtemp opens nothing: no error of it passes by itself
                throw failure
            }
        }
        let emulation = settings.emulation
        let facts = JobFacts(request: request, slots: job.options.slots, files: files,
                             temporaryDirectory: temporary?.path, tasks: job.batch.tasks,
                             submitDirectory: job.batch.submitDirectory,
                             taskNumber: emulation == .slurm && request.taskIndex != nil ? LocalJobIDs.next() : nil)
        return (temporary, JobVariables.of(facts, emulation: emulation))
    }

    /// A job could not be started: a transient failure defers it, any other ends it FAILED.
    private func startFailed(_ id: String, _ error: StartFailure, startTime: Double) {
        if error.transient {
            deferStart(id, reason: "it could not be started (\(error.reason))", heldInput: nil)
        } else {
            finish(id, .aborted(reason: "the job could not be started: \(error.reason)"), reaped: nil, startTime: startTime, reschedule: false)
        }
    }

    /// Ends a job that was spawned but cannot be run as it should: kills and reaps it, and
    /// reports it aborted with `reason`.
    /// If someone else reaped it already (a host's SIGCHLD handler), its status is reported lost.
    /// `temporary`: its private TMPDIR, if the job has no run state that holds it yet.
    private func abandon(_ id: String, pid: pid_t, reason: String, startTime: Double, reschedule: Bool,
                         temporary: PrivateTemporaryDirectory? = nil) {
        state.withLock { $0.jobs[id]?.phase = .exited }
        let reaped = Supervisor.killAndReap(pid)
        temporary?.remove()
        if case .lost = reaped {
            finish(id, nil, reaped: reaped, startTime: startTime, reschedule: reschedule)
        } else {
            finish(id, .aborted(reason: reason), reaped: reaped, startTime: startTime, reschedule: reschedule)
        }
    }

    /// Records a finished job in the table and frees its slots. Without an explicit `termination`
    /// it follows from the wait status (and from whether TERMINATE was requested). With
    /// `reschedule`, the freed slots are filled, on the launcher (called from the supervisor thread,
    /// or from a thread that is not inside ``schedule()``). A job that never ran has no `usage`.
    /// Its private TMPDIR is removed before the job is reported finished: here, or on the cleaner
    /// thread when called `onSupervisor` (which only waits and reaps).
    private func finish(_ id: String, _ termination: Termination?, reaped: Reaped?, startTime: Double,
                        reschedule: Bool = true, usage hasUsage: Bool = true, onSupervisor: Bool = false) {
        guard let (job, run) = state.withLock({ $0.remove(id) }) else { return }
        cancelTimers(job, run)
        var usage = ResourceUsage()
        usage.submissionTime = job.batch.request.submissionTime
        usage.startTime = startTime
        usage.endTime = clock.now()
        let outcome: Termination
        var killReason: String?
        switch reaped {
        case .process(let reaped)?:
            usage.fill(from: reaped)
            let status = reaped.status
            if clocaldrm_wifsignaled(status) != 0 {
                usage.signal = clocaldrm_wtermsig(status)
                usage.exitStatus = 128 + usage.signal
                outcome = .signaled(signal: usage.signal, coreDumped: clocaldrm_wcoredump(status) != 0)
                if let sent = run?.sentSignals.last(where: { $0.signal == usage.signal }) {
                    killReason = sent.reason
                } else if case .aborted(let reason)? = termination {
                    killReason = "killed with \(SignalNames.name(of: usage.signal)): \(reason)"
                } else if let reason = job.options.kernelKillReason(signal: usage.signal, cpuSeconds: usage.userTime + usage.systemTime) {
                    killReason = reason  // a limit LocalDRM set on the process, enforced by the kernel
                } else {
                    killReason = "it died of \(SignalNames.name(of: usage.signal)), which LocalDRM did not send (the job itself or another process did)"
                }
            } else {
                usage.exitStatus = clocaldrm_wexitstatus(status)
                outcome = .exited(status: usage.exitStatus)
                if job.terminateRequested, let last = run?.sentSignals.last {
                    killReason = "terminated through drmaa_control: it exited with status \(usage.exitStatus) after \(SignalNames.name(of: last.signal))"
                }
            }
        case .lost(let reason)?:
            outcome = .aborted(reason: "the job's exit status is unknown: \(reason)")
        case nil:
            outcome = .aborted(reason: "the job ended without an exit status")
        }
        let final: Termination
        if let termination {
            final = termination
        } else if job.terminateRequested {
            final = .aborted(reason: "terminated through drmaa_control")
        } else {
            final = outcome
        }
        var failed = false
        if settings.nonzeroExit == .failed {
            switch final {
            case .exited(let status): failed = status != 0
            case .signaled: failed = true
            case .aborted: break
            }
        }
        let result = JobOutcome(termination: final, usage: hasUsage ? usage : nil, killReason: killReason, countsAsFailed: failed)
        if let directory = run?.temporaryDirectory {
            if onSupervisor {
                // On a thread of its own: a job may leave a large tree, which must hold up neither
                // reaping nor the starting of other jobs.
                cleaner.submit { [table] in
                    directory.remove()
                    table.reportFinished(id, result)
                }
            } else {
                directory.remove()
                table.reportFinished(id, result)
            }
        } else {
            table.reportFinished(id, result)
        }
        if reschedule { scheduleOnLauncher() }
    }

    // MARK: Control

    func control(_ jobID: String, _ action: JobControlAction) throws(DRMAAError) {
        let reschedule = try state.withLock { state throws(DRMAAError) in try act(action, on: jobID, &state) }
        if reschedule { schedule() }
    }

    /// A sweep (`SESSION_ALL`, a bulk id) is one critical section, so nothing can start a job of it
    /// meanwhile: the scheduler and the supervisor's reaping both need the lock. TERMINATE ends the
    /// pending jobs (queued, held, waiting for their start time or for a retry) first, marks those
    /// being spawned, then tears down the started ones; no slot they free is filled before the
    /// lock is released, and by then no job of the sweep is left to take it. HOLD holds every
    /// queued job of the sweep before the scheduler can look at the queue again.
    func control(_ jobIDs: [String], _ action: JobControlAction) -> [String: DRMAAError] {
        let (failures, reschedule) = state.withLock { state -> ([String: DRMAAError], Bool) in
            var failures: [String: DRMAAError] = [:]
            var reschedule = false
            var ordered = jobIDs
            if action == .terminate {
                // Whatever order the session gave: the job's real phase decides.
                var started: [String] = []
                ordered = []
                for id in jobIDs {
                    switch state.jobs[id]?.phase {
                    case .queued?, .held?, nil: ordered.append(id)
                    default: started.append(id)
                    }
                }
                ordered += started
            }
            for id in ordered {
                do throws(DRMAAError) {
                    if try act(action, on: id, &state) { reschedule = true }
                } catch {
                    failures[id] = error
                }
            }
            return (failures, reschedule)
        }
        if reschedule { schedule() }
        return failures
    }

    /// Carries out `action` on one job, with the lock held; true if the queue gained a job that may start.
    private func act(_ action: JobControlAction, on jobID: String, _ state: inout State) throws(DRMAAError) -> Bool {
        guard var job = state.jobs[jobID] else {
            // Finished since the table last looked: only the no-op actions succeed.
            _ = try JobState.done.decide(action, jobID: jobID)
            return false
        }
        var run = state.runs[jobID] ?? RunState(startTime: 0)
        var removed = false
        defer {
            if !removed {
                state.jobs[jobID] = job
                if state.runs[jobID] != nil { state.runs[jobID] = run }
            }
        }
        switch (action, job.phase) {
        case (.suspend, .running(let pid)):
            try signal(pid, SIGSTOP, jobID)
            job.phase = .suspended(pid: pid)
            pauseRunLimits(&run, now: timers.monotonicNow())
            table.reportState(jobID, .userSuspended)
        case (.resume, .suspended(let pid)):
            try signal(pid, SIGCONT, jobID)
            job.phase = .running(pid: pid)
            armRunLimits(jobID, job.batch.request, &run, now: timers.monotonicNow())
            table.reportState(jobID, .running)
        case (.hold, .queued):
            job.phase = .held
            table.reportState(jobID, .userOnHold)
        case (.hold, .held), (.release, _):
            guard case .held = job.phase else { return false }
            job.phase = .queued
            table.reportState(jobID, .queuedActive)
            guard !job.waitsForStartTime, !job.enqueued else { return false }
            job.enqueued = true
            state.queue.insert(job.queueEntry(jobID))
            return true
        case (.terminate, .queued), (.terminate, .held):
            removed = true
            if let (job, run) = state.remove(jobID) { cancelTimers(job, run) }
            table.reportFinished(jobID, JobOutcome(termination: .aborted(reason: "terminated through drmaa_control before it started"), usage: nil))
            // A pending task of a throttled bulk job may have let a sibling into the queue.
            return job.limitedBulkJob != nil
        case (.terminate, .starting):
            job.terminateRequested = true
            table.reportTerminating(jobID)
        case (.terminate, .running(let pid)), (.terminate, .suspended(let pid)):
            job.terminateRequested = true
            table.reportTerminating(jobID)
            // The pid cannot be reaped (and reused) while we hold the lock.
            try advanceTeardown(jobID, &job, &run, pid: pid)
        case (.terminate, .exited):
            break
        case (.hold, .starting):
            // Being spawned: it is as good as running, and a running job cannot be held.
            _ = try JobState.running.decide(action, jobID: jobID)
        case (.suspend, _), (.resume, _), (.hold, _):
            _ = try job.phase.state.decide(action, jobID: jobID)
        }
        return false
    }

    /// Signals a job's process group; called with the state lock held, so the group cannot be reaped meanwhile.
    private func signal(_ pid: pid_t, _ signal: Int32, _ jobID: String) throws(DRMAAError) {
        do {
            try Syscall.signalGroup(pid, signal)
        } catch {
            if error == .noSuchProcess { return }
            throw DRMAAError(.internalError, "cannot send \(SignalNames.name(of: signal)) to job \(jobID) (process group \(pid)): \(error)")
        }
    }
}

extension LocalBackend.Phase {
    /// The DRMAA state this phase shows.
    var state: JobState {
        switch self {
        case .queued, .starting: .queuedActive
        case .held: .userOnHold
        case .running, .exited: .running
        case .suspended: .userSuspended
        }
    }
}

extension ResourceUsage {
    mutating func fill(from reaped: ReapedProcess) {
        let u = reaped.usage
        userTime = Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6
        systemTime = Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
        maxRSS = Int64(u.ru_maxrss)
        minorFaults = Int64(u.ru_minflt)
        majorFaults = Int64(u.ru_majflt)
        blockInputs = Int64(u.ru_inblock)
        blockOutputs = Int64(u.ru_oublock)
        voluntarySwitches = Int64(u.ru_nvcsw)
        involuntarySwitches = Int64(u.ru_nivcsw)
        signalsReceived = Int64(u.ru_nsignals)
    }
}
