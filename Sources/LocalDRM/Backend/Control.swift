import CLocalDRM
import DRMAACore
import Glibc
import Synchronization

/// Control actions: suspend, resume, hold, release and terminate, one job or a sweep under one
/// lock, and the terminate teardown (its signal sequence, and its end at `drmaa_exit`).
extension LocalBackend {
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
            try signal(pid, SIGSTOP, jobID, via: run.shepherd)
            job.phase = .suspended(pid: pid)
            pauseRunLimits(&run, now: timers.monotonicNow())
            table.reportState(jobID, .userSuspended)
        case (.resume, .suspended(let pid)):
            try signal(pid, SIGCONT, jobID, via: run.shepherd)
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
    private func signal(_ pid: pid_t, _ signal: Int32, _ jobID: String, via shepherd: ShepherdLink?) throws(DRMAAError) {
        do {
            try Self.deliver(signal, toGroup: pid, via: shepherd)
        } catch {
            if error == .noSuchProcess { return }
            throw DRMAAError(.internalError, "cannot send \(SignalNames.name(of: signal)) to job \(jobID) (process group \(pid)): \(error)")
        }
    }

    /// Takes the next step of the terminate sequence for a started job (lock held): its signal
    /// to the group and a timer for the step after, or SIGKILL once the steps are used up. A
    /// suspended job is continued so that it can act on the signal.
    private func advanceTeardown(_ id: String, _ job: inout Job, _ run: inout RunState, pid: pid_t) throws(DRMAAError) {
        let steps = job.batch.settings.configuration.terminateSequence
        guard run.teardownStep < steps.count else {
            // SIGKILL ends stopped processes too.
            let after = run.teardownStep > 0 ? ", \(Self.seconds(steps[run.teardownStep - 1].seconds)) after \(SignalNames.name(of: steps[run.teardownStep - 1].signal))" : ""
            run.sentSignals.append(SentSignal(signal: SIGKILL, reason: "terminated through drmaa_control: SIGKILL\(after)"))
            try signal(pid, SIGKILL, id, via: run.shepherd)
            return
        }
        let step = steps[run.teardownStep]
        run.teardownStep += 1
        run.sentSignals.append(SentSignal(signal: step.signal, reason: "terminated through drmaa_control: \(SignalNames.name(of: step.signal))"))
        try signal(pid, step.signal, id, via: run.shepherd)
        if case .suspended = job.phase {
            try signal(pid, SIGCONT, id, via: run.shepherd)
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
                    let steps = job.batch.settings.configuration.terminateSequence
                    run.teardownStep = steps.count
                    run.sentSignals.append(SentSignal(signal: SIGKILL, reason: "terminated through drmaa_control: SIGKILL at drmaa_exit, during the grace period after \(SignalNames.name(of: steps[0].signal))"))
                    try? signal(pid, SIGKILL, id, via: run.shepherd)
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
}
