import CLocalDRM
import DRMAACore
import Glibc
import Synchronization

/// The backend of one LocalDRM session: a slot-limited priority queue of jobs that run as child
/// processes of this process, supervised by the process-wide ``Supervisor``.
final class LocalBackend: Backend {
    /// Where jobs' states and outcomes go: the session's table, or the daemon's forwarding.
    let table: any JobReports
    let supervisor: Supervisor
    let launcher: Launcher
    /// Removes the temporary directories of jobs reaped on the supervisor thread.
    let cleaner: Launcher
    let timers: any TimerClock
    let settings: LocalDRM.Settings
    let state: Mutex<State>
    /// The options read last, see ``options(category:nativeSpecification:)``.
    private let lastOptions = Mutex<ReadOptions?>(nil)
    /// The process that made this backend; in a forked child, the backend is not used.
    private let ownerProcessID = Syscall.processID()
    /// True while a pass of ``schedule()`` is waiting on the launcher.
    let scheduleRequested = Atomic<Bool>(false)
    /// Whether timer actions run on the supervisor thread (the default clock), where nothing may spawn.
    let timersOnSupervisor: Bool
    /// In the durable mode's daemon: jobs start through shepherds. `nil`: jobs are children of this process.
    let shepherds: ShepherdLaunch?

    var homeDirectory: String { settings.configuration.homeDirectory }
    var clock: any WallClock { settings.configuration.clock }
    var timeZone: any TimeZoneRule { settings.configuration.timeZone }

    init(settings: LocalDRM.Settings, table: any JobReports, runtime: Runtime, timers: (any TimerClock)?,
         shepherds: ShepherdLaunch? = nil) {
        self.shepherds = shepherds
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
        let options = try Self.options(category: category, nativeSpecification: nativeSpecification, settings: settings)
        lastOptions.withLock { $0 = ReadOptions(category: category, nativeSpecification: nativeSpecification, options: options) }
        return options
    }

    /// The options of a template's jobs read with a session's `settings` (its categories, its
    /// emulation); a job that needs more slots than there are is refused.
    static func options(category: String?, nativeSpecification: String?, settings: LocalDRM.Settings) throws(DRMAAError) -> JobOptions {
        let options = try settings.categories.options(category: category, nativeSpecification: nativeSpecification,
                                                      emulation: settings.emulation, sessionSlots: settings.slots)
        guard options.slots <= settings.slots else {
            throw .denied("the job asks for \(options.slots) slots, more than this session's \(settings.slots): it could never start")
        }
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

    /// The template with what its native specification and category say for the attributes it
    /// leaves unset (Grid Engine's precedence: explicit attributes win). Reading the options is
    /// also the validation: a bad one is `DENIED_BY_DRM` here, before any job id is allocated.
    func effectiveTemplate(for template: JobTemplate) throws(DRMAAError) -> JobTemplate {
        let options = try options(category: template.jobCategory, nativeSpecification: template.nativeSpecification)
        return try options.filling(template, environmentValue: Syscall.environmentValue, currentDirectory: Syscall.currentDirectory)
    }

    /// Why a session whose supervisor failed takes no more jobs.
    private static func supervisionEndedError(_ failure: String) -> DRMAAError {
        DRMAAError(.internalError, "\(failure): this session can run no more jobs; drmaa_exit and drmaa_init open a new one")
    }

    func submit(_ submission: Submission) throws(DRMAAError) {
        let first = submission.first
        let options = try options(category: first.jobCategory, nativeSpecification: first.nativeSpecification)
        try submit(submission, options: options, settings: settings, environment: { Syscall.environment() },
                   currentDirectory: { try? Syscall.currentDirectory() })
    }

    /// Accepts a submission whose jobs run with `settings` (a daemon's backend runs the jobs of many
    /// sessions, each with its own), `options` read with them, and the submitter's environment and
    /// current directory (read only if the jobs need them). `session`: the daemon's session, whose
    /// jobs then use at most `settings.slots` of the backend's slots at once. A restarted daemon
    /// submits `only` the tasks that are still to run (`nil` for a single job), on hold or not as `held` says.
    func submit(_ submission: Submission, options: JobOptions, settings: LocalDRM.Settings,
                environment: () -> [String], currentDirectory: () -> String?, session: String? = nil,
                only tasks: [Int?]? = nil, held: Bool? = nil) throws(DRMAAError) {
        if let failure = supervisor.failure { throw Self.supervisionEndedError(failure) }
        let first = submission.first
        let batch = Batch(submission: submission, options: options, settings: settings, environment: environment,
                          currentDirectory: currentDirectory, session: session)
        let now = timers.monotonicNow()
        let wallNow = clock.now()
        func at(_ instant: Int64) -> Int64 { monotonic(now, plus: Double(instant) - wallNow) }
        let waitsForStart = first.startTime.map { Double($0) > wallNow } ?? false
        let indexes: [Int?] = tasks ?? submission.taskIndexes.map { $0.map { Optional($0) } } ?? [nil]
        let hold = held ?? first.hold
        try state.withLock { state throws(DRMAAError) in
            // Checked again under the lock: supervision may have ended since the check above.
            if let failure = state.supervisionFailure { throw Self.supervisionEndedError(failure) }
            state.jobs.reserveCapacity(state.jobs.count + indexes.count)
            for index in indexes {
                let id = submission.jobID(taskIndex: index)
                var job = Job(batch: batch, taskIndex: index, phase: hold ? .held : .queued,
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
                if !waitsForStart && !hold { state.enqueue(id) }
            }
        }
        schedule()
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
