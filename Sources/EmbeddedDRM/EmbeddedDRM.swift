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
    private let made = Mutex<[EmbeddedBackend]>([])

    /// A system whose backends use the given home, clock, time zone and task id spelling.
    public init(homeDirectory: String = "/home/tester", clock: any WallClock = FixedClock(1_000_000_000),
                timeZone: any TimeZoneRule = FixedOffsetTimeZone.utc, taskIDSeparator: String = ".") {
        self.homeDirectory = homeDirectory
        self.clock = clock
        self.timeZone = timeZone
        self.taskIDSeparator = taskIDSeparator
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
    private let table: JobTable
    private let jobs = Mutex<[String: Job]>([:])
    private let submissions = Mutex<[[JobRequest]]>([])
    /// Native specifications containing this text are refused with `DENIED_BY_DRM`.
    public static let refusedNativeOption = "--refuse"

    init(system: EmbeddedDRM, table: JobTable) {
        (homeDirectory, clock, timeZone) = (system.homeDirectory, system.clock, system.timeZone)
        taskIDSeparator = system.taskIDSeparator
        self.table = table
    }

    public func taskJobID(bulkJobID: String, taskIndex: Int) -> String {
        "\(bulkJobID)\(taskIDSeparator)\(taskIndex)"
    }

    public func validate(_ template: JobTemplate) throws(DRMAAError) {
        if let native = template.nativeSpecification, native.contains(Self.refusedNativeOption) {
            throw DRMAAError(.deniedByDRM, "native option \(Self.refusedNativeOption) is refused")
        }
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
            table.reportState(id, .running)
        }
    }

    /// Ends a job with the given termination; usage defaults to an empty record.
    public func finish(_ id: String, _ termination: Termination, usage: ResourceUsage? = ResourceUsage()) {
        jobs.withLock { jobs in
            guard jobs.removeValue(forKey: id) != nil else { return }
            table.reportFinished(id, JobOutcome(termination: termination, usage: usage))
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
                    table.reportFinished(jobID, JobOutcome(termination: .aborted(reason: "terminated before it started"), usage: nil))
                } else {
                    job.state = .failed
                    jobs[jobID] = job
                    table.reportTerminating(jobID)
                }
                return
            }
            jobs[jobID] = job
            table.reportState(jobID, job.state)
        }
    }
}
