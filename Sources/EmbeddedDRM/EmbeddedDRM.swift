import DRMAACore
import Synchronization

/// A deterministic, in-memory DRM system for tests: no processes, no threads, no clock.
///
/// Jobs stay where the test puts them. The test drives them with ``EmbeddedBackend/start(_:)``
/// and ``EmbeddedBackend/finish(_:_:usage:)``; control actions change states at once, exactly as
/// the DRMAA rules say. It plays the role of NIO's `EmbeddedChannel` for DRMAACore: every
/// rule of the session and job table can be tested without a real backend.
public final class EmbeddedDRM: DRMSystem {
    /// The settings the backends are made with.
    public let homeDirectory: String
    public let clock: any WallClock
    public let timeZone: any TimeZoneRule
    /// What joins a bulk job's id and a task index in task ids: DRMAA's usual `.`, or another
    /// spelling (`_`, as Slurm's) to test that nothing in DRMAACore parses ids.
    public let taskIDSeparator: String
    /// When the session hears of what happens to jobs.
    public let delivery: Delivery
    /// True: the backends name each submission's job as they accept it
    /// (``Backend/namesJobsOnSubmission``, as Slurm's `sbatch` does), with ids `S1`, `S2`, ….
    public let namesJobsOnSubmission: Bool
    private let made = Mutex<[EmbeddedBackend]>([])
    /// Every backend of this system, weakly, so that a session can see and control another
    /// session's jobs, as on a cluster.
    let siblings = Siblings()

    /// When a backend's changes reach the session's job table.
    public enum Delivery: Sendable {
        /// At once, as LocalDRM reports them.
        case asTheyHappen
        /// Only when the session asks (``Backend/updateStates(of:)``, before `jobStatus` and
        /// `control`) or the test says so (``EmbeddedBackend/deliver()``, a poll of a remote
        /// resource manager): the core's rules tested against a remote, delayed backend.
        case whenAsked
    }

    /// A system whose backends use the given home, clock, time zone and task id spelling.
    public init(homeDirectory: String = "/home/tester", clock: any WallClock = FixedClock(1_000_000_000),
                timeZone: any TimeZoneRule = FixedOffsetTimeZone.utc, taskIDSeparator: String = ".",
                delivery: Delivery = .asTheyHappen, namesJobsOnSubmission: Bool = false) {
        self.namesJobsOnSubmission = namesJobsOnSubmission
        self.homeDirectory = homeDirectory
        self.clock = clock
        self.timeZone = timeZone
        self.taskIDSeparator = taskIDSeparator
        self.delivery = delivery
    }

    public var drmsInfo: String { "EmbeddedDRM (in-memory test system)" }
    public var drmaaImplementation: String { "swift-drmaa EmbeddedDRM" }

    /// The backend of the most recent session made from this system.
    public var backend: EmbeddedBackend? { made.withLock { $0.last } }

    public func makeBackend(options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> any Backend {
        if let option = options.first {
            throw DRMAAError(.invalidContactString, "EmbeddedDRM takes no contact options, not '\(option.name)'")
        }
        let backend = EmbeddedBackend(system: self, table: jobs)
        made.withLock { $0.append(backend) }
        return backend
    }
}

/// The backends of one system, held weakly (the system holds them; a backend holding its
/// siblings strongly would be a cycle).
final class Siblings: Sendable {
    final class Reference: Sendable {
        weak let backend: EmbeddedBackend?
        init(_ backend: EmbeddedBackend) { self.backend = backend }
    }
    private let references = Mutex<[Reference]>([])

    func add(_ backend: EmbeddedBackend) {
        references.withLock { $0.removeAll { $0.backend == nil }; $0.append(Reference(backend)) }
    }

    var all: [EmbeddedBackend] { references.withLock { $0.compactMap(\.backend) } }
}

/// The backend of one ``EmbeddedDRM`` session.
public final class EmbeddedBackend: Backend {
    /// A job as the embedded backend holds it.
    public struct Job: Sendable {
        public var request: JobRequest
        public var state: JobState
    }

    /// The system's settings, copied: a reference to the system, which keeps its backends, would
    /// be a cycle, and no system or session made from one would ever be freed.
    public let homeDirectory: String
    public let clock: any WallClock
    public let timeZone: any TimeZoneRule
    private let taskIDSeparator: String
    private let siblings: Siblings
    private let delivery: EmbeddedDRM.Delivery
    private let table: JobTable
    /// What the table has not heard yet (``EmbeddedDRM/Delivery/whenAsked``), by job, in order.
    private let undelivered = Mutex<[String: [Report]]>([:])

    enum Report {
        case state(JobState)
        case terminating
        case finished(JobOutcome)
    }
    private let jobs = Mutex<[String: Job]>([:])
    private let submissions = Mutex<[[JobRequest]]>([])
    /// Native specifications containing this text are refused with `DENIED_BY_DRM`.
    public static let refusedNativeOption = "--refuse"

    init(system: EmbeddedDRM, table: JobTable) {
        (homeDirectory, clock, timeZone) = (system.homeDirectory, system.clock, system.timeZone)
        taskIDSeparator = system.taskIDSeparator
        delivery = system.delivery
        namesJobsOnSubmission = system.namesJobsOnSubmission
        siblings = system.siblings
        self.table = table
        siblings.add(self)
    }

    /// Another session's job of the same system, and its backend.
    private func other(_ jobID: String) -> (EmbeddedBackend, Job)? {
        for backend in siblings.all where backend !== self {
            if let job = backend.job(jobID) { return (backend, job) }
        }
        return nil
    }

    public func stateOfOtherJob(_ jobID: String) throws(DRMAAError) -> JobState? {
        other(jobID)?.1.state
    }

    public func controlOtherJob(_ jobID: String, _ action: JobControlAction) throws(DRMAAError) -> Bool {
        guard let (backend, _) = other(jobID) else { return false }
        try backend.control(jobID, action)
        return true
    }

    public var reportsEveryChange: Bool { delivery == .asTheyHappen }

    private let reaped = Mutex<[String]>([])

    /// The jobs the session reported reaped (``Backend/jobsReaped(_:)``), in order.
    public var reapedJobs: [String] { reaped.withLock { $0 } }

    public func jobsReaped(_ jobIDs: [String]) {
        reaped.withLock { $0 += jobIDs }
    }

    public func updateStates(of jobIDs: [String]) throws(DRMAAError) {
        let reports = undelivered.withLock { pending in jobIDs.compactMap { id in pending.removeValue(forKey: id).map { (id, $0) } } }
        for (id, list) in reports { for report in list { apply(report, id) } }
    }

    /// Delivers every change the table has not heard of yet, as a poll of a remote resource
    /// manager would (``EmbeddedDRM/Delivery/whenAsked``).
    public func deliver() {
        let reports = undelivered.withLock { pending in
            defer { pending = [:] }
            return pending
        }
        for (id, list) in reports.sorted(by: { $0.key < $1.key }) { for report in list { apply(report, id) } }
    }

    private func report(_ report: Report, _ id: String) {
        if delivery == .asTheyHappen {
            apply(report, id)
        } else {
            undelivered.withLock { $0[id, default: []].append(report) }
        }
    }

    private func apply(_ report: Report, _ id: String) {
        switch report {
        case .state(let state): table.reportState(id, state)
        case .terminating: table.reportTerminating(id)
        case .finished(let outcome): table.reportFinished(id, outcome)
        }
    }

    public func taskJobID(bulkJobID: String, taskIndex: Int) -> String {
        "\(bulkJobID)\(taskIDSeparator)\(taskIndex)"
    }

    public func validate(_ template: JobTemplate) throws(DRMAAError) {
        if let native = template.nativeSpecification, native.contains(Self.refusedNativeOption) {
            throw DRMAAError(.deniedByDRM, "native option \(Self.refusedNativeOption) is refused")
        }
    }

    public let namesJobsOnSubmission: Bool

    public func submitNamingJob(_ submission: Submission, record: (Submission) -> Void) throws(DRMAAError) -> String {
        let jobID = "S\(JobIDs.next())"
        let named = submission.named(jobID)
        record(named)
        try submit(named)
        return jobID
    }

    public func submit(_ submission: Submission) throws(DRMAAError) {
        let requests = submission.requests
        jobs.withLock { jobs in
            for request in requests {
                jobs[request.jobID] = Job(request: request, state: request.hold ? .userOnHold : .queuedActive)
            }
        }
        submissions.withLock { $0.append(requests) }
    }

    /// Every submission so far (one entry per run_job / run_bulk_jobs call).
    public var submitted: [[JobRequest]] { submissions.withLock { $0 } }

    /// The backend's view of a job (nil once finished).
    public func job(_ id: String) -> Job? { jobs.withLock { $0[id] } }

    /// Moves a queued job to RUNNING.
    public func start(_ id: String) {
        jobs.withLock { jobs in
            guard jobs[id]?.state == .queuedActive else { return }
            jobs[id]!.state = .running
            report(.state(.running), id)
        }
    }

    /// Ends a job with the given termination; usage defaults to an empty record.
    public func finish(_ id: String, _ termination: Termination, usage: ResourceUsage? = ResourceUsage()) {
        jobs.withLock { jobs in
            guard jobs.removeValue(forKey: id) != nil else { return }
            report(.finished(JobOutcome(termination: termination, usage: usage)), id)
        }
    }

    public func control(_ jobID: String, _ action: JobControlAction) throws(DRMAAError) {
        try jobs.withLock { jobs throws(DRMAAError) in
            guard var job = jobs[jobID] else {
                _ = try JobState.done.decide(action, jobID: jobID)
                return
            }
            guard try job.state.decide(action, jobID: jobID) == .perform else { return }
            switch action {
            case .suspend: job.state = .userSuspended
            case .resume: job.state = .running
            case .hold: job.state = .userOnHold
            case .release: job.state = .queuedActive
            case .terminate:
                if job.state.isPending {
                    jobs[jobID] = nil
                    report(.finished(JobOutcome(termination: .aborted(reason: "terminated before it started"), usage: nil)), jobID)
                } else {
                    job.state = .failed
                    jobs[jobID] = job
                    report(.terminating, jobID)
                }
                return
            }
            jobs[jobID] = job
            report(.state(job.state), jobID)
        }
    }
}
