import CLocalDRM
import DRMAACore
import Glibc
import Synchronization

/// The backend of one LocalDRM session: a slot-limited FIFO queue of jobs that run as child
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

    struct Job {
        var request: JobRequest
        /// The submitter's environment when the job was submitted (shared by the tasks of a bulk job).
        var environment: [String]
        var phase: Phase
        var terminateRequested = false
        var startTime: Double = 0
        /// True while `drmaa_start_time` lies in the future: the job is not in the queue yet.
        var waitsForStartTime = false
        /// The supervisor timer that ends the wait, for cancelling it.
        var startTimer: UInt64?
        /// Deadline and wall-clock limit timers, cancelled when the job finishes.
        var timers: [UInt64] = []
        /// Run-duration limit timers: they count only running time, so suspension cancels them.
        var runTimers: [UInt64] = []
        /// Seconds spent running before the current run (suspensions excluded).
        var ranBefore: Double = 0
        /// Monotonic time (ns) the current run began.
        var runningSince: Int64 = 0
    }

    struct State {
        var jobs: [String: Job] = [:]
        /// Queued job ids in order; ids that left the queued phase are skipped when popped.
        var queue: [String] = []
        var queueHead = 0
        var running = 0
        var slots: Int

        mutating func popQueued() -> String? {
            while queueHead < queue.count {
                let id = queue[queueHead]
                queueHead += 1
                if queueHead > 1024 && queueHead * 2 > queue.count {
                    queue.removeFirst(queueHead)
                    queueHead = 0
                }
                if case .queued? = jobs[id]?.phase { return id }
            }
            return nil
        }
    }

    let table: JobTable
    let supervisor: Supervisor
    let configuration: LocalDRM.Configuration
    private let state: Mutex<State>

    var homeDirectory: String { configuration.homeDirectory }
    var clock: any WallClock { configuration.clock }
    var timeZone: any TimeZoneRule { configuration.timeZone }

    init(configuration: LocalDRM.Configuration, table: JobTable, supervisor: Supervisor) {
        self.configuration = configuration
        self.table = table
        self.supervisor = supervisor
        self.state = Mutex(State(slots: configuration.slots))
    }

    // MARK: Submission

    func submit(_ requests: [JobRequest]) throws(DRMAAError) {
        let environment = Syscall.environment()
        let now = Syscall.monotonicNanoseconds()
        let wallNow = clock.now()
        var delayed: [(String, Int64)] = []
        state.withLock { state in
            for request in requests {
                let waitsForStart = request.startTime.map { Double($0) > wallNow } ?? false
                state.jobs[request.jobID] = Job(request: request, environment: environment, phase: request.hold ? .held : .queued,
                                                waitsForStartTime: waitsForStart)
                if waitsForStart {
                    delayed.append((request.jobID, now + Int64((Double(request.startTime!) - wallNow) * 1e9)))
                } else if !request.hold {
                    state.queue.append(request.jobID)
                }
            }
        }
        for (id, deadline) in delayed {
            let token = supervisor.schedule(atMonotonic: deadline) { [weak self] in self?.startTimeReached(id) }
            state.withLock { $0.jobs[id]?.startTimer = token }
        }
        for request in requests {
            guard let deadline = request.deadlineTime else { continue }
            let at = now + Int64(max(0, Double(deadline) - wallNow) * 1e9)
            let token = supervisor.schedule(atMonotonic: at) { [weak self] in self?.deadlineReached(request.jobID) }
            state.withLock { $0.jobs[request.jobID]?.timers.append(token) }
        }
        schedule()
    }

    /// `drmaa_deadline_time` has come: a pending job is terminated (it never ran); a started one
    /// is killed with SIGKILL, as a hard limit would.
    private func deadlineReached(_ id: String) {
        state.withLock { state in
            guard let job = state.jobs[id] else { return }
            switch job.phase {
            case .queued, .held:
                if let timer = job.startTimer { supervisor.cancel(timer) }
                for timer in job.timers { supervisor.cancel(timer) }
                state.jobs[id] = nil
                table.reportFinished(id, JobOutcome(termination: .aborted(reason: "its drmaa_deadline_time passed before it started"), usage: nil))
            case .starting:
                state.jobs[id]?.terminateRequested = true
                table.reportTerminating(id)
            case .running(let pid), .suspended(let pid):
                try? Syscall.signalGroup(pid, SIGKILL)
            case .exited:
                break
            }
        }
    }

    /// A limit timer fired: signal the job's group if it still runs (SIGKILL for hard limits,
    /// the warning signal for soft ones).
    private func limitReached(_ id: String, _ signal: Int32) {
        state.withLock { state in
            switch state.jobs[id]?.phase {
            case .running(let pid)?, .suspended(let pid)?: try? Syscall.signalGroup(pid, signal)
            default: break
            }
        }
    }

    /// Arms the wall-clock limits of a job that just started (called with the lock held).
    private func armWallclockLimits(_ job: inout Job, now: Int64) {
        let id = job.request.jobID
        for (limit, signal) in [(job.request.hardWallclockLimit, SIGKILL), (job.request.softWallclockLimit, LocalDRM.softWallclockSignal)] {
            guard let limit else { continue }
            job.timers.append(supervisor.schedule(atMonotonic: now + Int64(limit) * 1_000_000_000) { [weak self] in
                self?.limitReached(id, signal)
            })
        }
    }

    /// Arms the run-duration limits for the time the job has left to run (lock held).
    private func armRunLimits(_ job: inout Job, now: Int64) {
        let id = job.request.jobID
        job.runningSince = now
        for (limit, signal) in [(job.request.hardRunDurationLimit, SIGKILL), (job.request.softRunDurationLimit, LocalDRM.softRunDurationSignal)] {
            guard let limit else { continue }
            let remaining = max(0, Double(limit) - job.ranBefore)
            job.runTimers.append(supervisor.schedule(atMonotonic: now + Int64(remaining * 1e9)) { [weak self] in
                self?.limitReached(id, signal)
            })
        }
    }

    /// Stops the run-duration clock of a job being suspended (lock held).
    private func pauseRunLimits(_ job: inout Job, now: Int64) {
        job.ranBefore += Double(now - job.runningSince) / 1e9
        for timer in job.runTimers { supervisor.cancel(timer) }
        job.runTimers = []
    }

    /// A job's `drmaa_start_time` has come: it joins the queue (unless it is held).
    private func startTimeReached(_ id: String) {
        state.withLock { state in
            guard var job = state.jobs[id] else { return }
            job.waitsForStartTime = false
            job.startTimer = nil
            state.jobs[id] = job
            if case .queued = job.phase { state.queue.append(id) }
        }
        schedule()
    }

    /// Starts queued jobs while slots are free. Spawning happens outside the lock.
    private func schedule() {
        while true {
            let next = state.withLock { state -> Job? in
                guard state.running < state.slots, let id = state.popQueued(), var job = state.jobs[id] else { return nil }
                job.phase = .starting
                state.jobs[id] = job
                state.running += 1
                return job
            }
            guard let job = next else { return }
            start(job)
        }
    }

    private func start(_ job: Job) {
        let id = job.request.jobID
        let startTime = clock.now()
        let pid: pid_t
        do {
            pid = try Spawner.spawn(job.request, baseEnvironment: job.environment)
        } catch {
            finish(id, .aborted(reason: "the job could not be started: \(error.reason)"), reaped: nil, startTime: startTime)
            return
        }
        state.withLock { state in
            guard var job = state.jobs[id] else { return }
            job.phase = .running(pid: pid)
            job.startTime = startTime
            let now = Syscall.monotonicNanoseconds()
            armWallclockLimits(&job, now: now)
            armRunLimits(&job, now: now)
            state.jobs[id] = job
            if job.terminateRequested {
                try? Syscall.signalGroup(pid, SIGKILL)
            } else {
                table.reportState(id, .running)
            }
        }
        do {
            try supervisor.watch(pid: pid, willReap: { [self] in
                state.withLock { $0.jobs[id]?.phase = .exited }
            }, didReap: { [self] reaped in
                finish(id, nil, reaped: reaped, startTime: startTime)
            })
        } catch {
            // Without a pidfd the job cannot be supervised: end it now rather than lose track of it.
            state.withLock { $0.jobs[id]?.phase = .exited }
            try? Syscall.signalGroup(pid, SIGKILL)
            let reaped = try? Syscall.reap(pid)
            finish(id, .aborted(reason: "the job could not be supervised: \(error)"), reaped: reaped, startTime: startTime)
        }
    }

    /// Records a finished job in the table and frees its slot. Without an explicit `termination`
    /// it follows from the wait status (and from whether TERMINATE was requested).
    private func finish(_ id: String, _ termination: Termination?, reaped: ReapedProcess?, startTime: Double) {
        guard let job = state.withLock({ state -> Job? in
            guard let job = state.jobs.removeValue(forKey: id) else { return nil }
            state.running -= 1
            return job
        }) else { return }
        for timer in job.timers + job.runTimers { supervisor.cancel(timer) }
        var usage = ResourceUsage()
        usage.submissionTime = job.request.submissionTime
        usage.startTime = startTime
        usage.endTime = clock.now()
        let outcome: Termination
        if let reaped {
            usage.fill(from: reaped)
            let status = reaped.status
            if clocaldrm_wifsignaled(status) != 0 {
                usage.signal = clocaldrm_wtermsig(status)
                usage.exitStatus = 128 + usage.signal
                outcome = .signaled(signal: usage.signal, coreDumped: clocaldrm_wcoredump(status) != 0)
            } else {
                usage.exitStatus = clocaldrm_wexitstatus(status)
                outcome = .exited(status: usage.exitStatus)
            }
        } else {
            outcome = .aborted(reason: "the job's exit status was lost: another part of this process reaped it")
        }
        let final: Termination
        if let termination {
            final = termination
        } else if job.terminateRequested {
            final = .aborted(reason: "terminated through drmaa_control")
        } else {
            final = outcome
        }
        table.reportFinished(id, JobOutcome(termination: final, usage: usage))
        schedule()
    }

    // MARK: Control

    func control(_ jobID: String, _ action: JobControlAction) throws(DRMAAError) {
        let reschedule = try state.withLock { state throws(DRMAAError) -> Bool in
            guard var job = state.jobs[jobID] else {
                // Finished since the table last looked: only the no-op actions succeed.
                _ = try JobState.done.decide(action, jobID: jobID)
                return false
            }
            var remove = false
            defer { state.jobs[jobID] = remove ? nil : job }
            switch (action, job.phase) {
            case (.suspend, .running(let pid)):
                try signal(pid, SIGSTOP, jobID)
                job.phase = .suspended(pid: pid)
                pauseRunLimits(&job, now: Syscall.monotonicNanoseconds())
                table.reportState(jobID, .userSuspended)
            case (.resume, .suspended(let pid)):
                try signal(pid, SIGCONT, jobID)
                job.phase = .running(pid: pid)
                armRunLimits(&job, now: Syscall.monotonicNanoseconds())
                table.reportState(jobID, .running)
            case (.hold, .queued):
                job.phase = .held
                table.reportState(jobID, .userOnHold)
            case (.hold, .held), (.release, _):
                guard case .held = job.phase else { return false }
                job.phase = .queued
                if !job.waitsForStartTime { state.queue.append(jobID) }
                table.reportState(jobID, .queuedActive)
                return true
            case (.terminate, .queued), (.terminate, .held):
                if let timer = job.startTimer { supervisor.cancel(timer) }
                for timer in job.timers { supervisor.cancel(timer) }
                remove = true
                table.reportFinished(jobID, JobOutcome(termination: .aborted(reason: "terminated through drmaa_control before it started"), usage: nil))
            case (.terminate, .starting):
                job.terminateRequested = true
                table.reportTerminating(jobID)
            case (.terminate, .running(let pid)), (.terminate, .suspended(let pid)):
                job.terminateRequested = true
                table.reportTerminating(jobID)
                // SIGKILL ends stopped processes too; the pid cannot be reaped (and reused) while we hold the lock.
                try signal(pid, SIGKILL, jobID)
            case (.terminate, .exited):
                break
            case (.suspend, _), (.resume, _), (.hold, _):
                _ = try job.phase.state.decide(action, jobID: jobID)
            }
            return false
        }
        if reschedule { schedule() }
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
