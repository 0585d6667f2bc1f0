import CLocalDRM
import DRMAACore
import Glibc
import Synchronization

/// Time: start times, deadlines, wall-clock and run-duration limits, each a timer of the
/// backend's clock.
extension LocalBackend {
    /// `drmaa_deadline_time` has come: a pending job is terminated (it never ran); a started one
    /// is killed with SIGKILL, as a hard limit would.
    func deadlineReached(_ id: String) {
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
                try? Self.deliver(SIGKILL, toGroup: pid, via: state.runs[id]?.shepherd)
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
                try? Self.deliver(signal, toGroup: pid, via: state.runs[id]?.shepherd)
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
    func cancelTimers(_ job: Job, _ run: RunState?) {
        for timer in [job.startTimer, job.deadlineTimer, job.deferral?.timer].compactMap({ $0 }) + (run?.timers ?? []) + (run?.runTimers ?? []) {
            timers.cancel(timer)
        }
        if let fd = job.deferral?.heldInput { Syscall.close(fd) }
    }

    /// Arms the wall-clock limits of a job that just started (called with the lock held).
    func armWallclockLimits(_ id: String, _ request: JobRequest, _ run: inout RunState, now: Int64) {
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
    func armRunLimits(_ id: String, _ request: JobRequest, _ run: inout RunState, now: Int64) {
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
                try? Self.deliver(signal, toGroup: pid, via: run.shepherd)
            default:
                state.runs[id] = run
            }
        }
    }

    /// Stops the run-duration clock of a job being suspended (lock held).
    func pauseRunLimits(_ run: inout RunState, now: Int64) {
        run.ranBefore += Double(now - run.runningSince) / 1e9
        for timer in run.runTimers { timers.cancel(timer) }
        run.runTimers = []
    }

    /// A job's `drmaa_start_time` has come: it joins the queue (unless it is held).
    func startTimeReached(_ id: String) {
        state.withLock { state in
            guard var job = state.jobs[id] else { return }
            job.waitsForStartTime = false
            job.startTimer = nil
            state.jobs[id] = job
            if case .queued = job.phase { state.enqueue(id) }
        }
        scheduleFromTimer()
    }
}
