import CLocalDRM
import DRMAACore
import Glibc
import ShepherdProtocol
import Synchronization

/// A job's life after submission: scheduling, starting (files, environment, spawn), deferral
/// and retries, and its end (reaped, abandoned, or its supervision lost).
extension LocalBackend {
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
    func supervisionEnded(_ reason: String) {
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
    func schedule() {
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
    func scheduleFromTimer() {
        if timersOnSupervisor { scheduleOnLauncher() } else { schedule() }
    }

    private func start(_ id: String, _ job: Job, heldInput: Int32?) {
        let startTime = clock.now()
        let request = job.options.resolvingStreams(job.batch.submission.request(taskIndex: job.taskIndex),
                                                   homeDirectory: job.batch.settings.configuration.homeDirectory)
        if let failure = supervisor.failure {
            if let heldInput { Syscall.close(heldInput) }
            finish(id, .aborted(reason: "\(failure) before the job started"), reaped: nil, startTime: startTime, reschedule: false, usage: false)
            return
        }
        let files: JobFiles
        do {
            switch try Spawner.openFiles(request, environment: job.batch.environment, heldInput: heldInput,
                                         emulation: job.batch.settings.emulation) {
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
        let shepherd: ShepherdLink?
        do {
            defer { files.close() }  // the child has its own copies; closing first frees fds for pidfd_open
            if let shepherds {
                (pid, shepherd) = try shepherds.spawn(jobID: id, request: request, files: files, environment: job.batch.environment,
                                                      variables: variables, options: job.options, temporary: temporary)
            } else {
                pid = try Spawner.spawn(request, files, environment: job.batch.environment, variables: variables)
                shepherd = nil
            }
        } catch {
            temporary?.remove()
            startFailed(id, error, startTime: startTime)
            return
        }
        // A shepherd sets the nice level and the limits on itself before it starts the job.
        if shepherd == nil, let nice = job.options.nice {
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
        if shepherd == nil, !job.options.resourceLimits.isEmpty {
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
            run.shepherd = shepherd
            let now = timers.monotonicNow()
            armWallclockLimits(id, request, &run, now: now)
            armRunLimits(id, request, &run, now: now)
            if job.terminateRequested || job.killWhenStarted {
                // Terminated, or past its deadline, while it was being spawned: it has only just
                // begun (posix_spawn returns once it has exec'd), so it ends at once.
                run.sentSignals.append(SentSignal(signal: SIGKILL, reason: job.terminateRequested
                    ? "terminated through drmaa_control while it was being started: SIGKILL"
                    : "killed with SIGKILL: its drmaa_deadline_time passed while it was being started"))
                try? Self.deliver(SIGKILL, toGroup: pid, via: shepherd)
            }
            state.jobs[id] = job
            state.runs[id] = run
            if !job.terminateRequested {
                table.reportState(id, .running)
            }
            return true
        }
        if !kept { temporary?.remove() }  // not expected: a starting job leaves only through this call
        let willReap: @Sendable () -> Void = { [self] in
            state.withLock { $0.jobs[id]?.phase = .exited }
        }
        let didReap: @Sendable (Reaped) -> Void = { [self] reaped in
            if let shepherd, let shepherds {
                // The shepherd reaped the job and said how it ended, on its socket or in its file.
                let (outcome, jobPID) = shepherd.outcome(jobID: id, directory: shepherds.directory)
                let orphanKilled = outcome == nil && ShepherdLink.killOrphan(jobPID: jobPID, shepherdPID: pid)
                let (termination, job, hasUsage) = ShepherdLaunch.result(of: outcome, shepherd: reaped, shepherdPID: pid,
                                                                         orphanKilled: orphanKilled)
                finish(id, termination, reaped: job, startTime: startTime, usage: hasUsage, onSupervisor: true)
            } else {
                finish(id, nil, reaped: reaped, startTime: startTime, onSupervisor: true)
            }
        }
        do {
            if let shepherd, shepherd.pooled, let pool = shepherds?.pool, let socket = shepherd.descriptor {
                try watchPooled(id, shepherd: shepherd, pid: pid, socket: socket, pool: pool, startTime: startTime,
                                willReap: willReap, didReap: didReap)
            } else {
                try supervisor.watch(pid: pid, willReap: willReap, didReap: didReap)
            }
        } catch {
            // Without a pidfd the job cannot be supervised: end it now rather than lose track of it.
            if let shepherd {
                // Killing the shepherd would leave the job running: it kills the job, then ends
                // (a pooled one once its connection is closed).
                try? shepherd.signal(SIGKILL)
                if shepherd.pooled { shepherd.close() }
                _ = try? Syscall.reap(pid)
                shepherd.close()
                finish(id, .aborted(reason: "the job could not be supervised: \(error)"), reaped: nil, startTime: startTime, reschedule: false)
                return
            }
            abandon(id, pid: pid, reason: "the job could not be supervised: \(error)", startTime: startTime, reschedule: false)
        }
    }

    /// Supervises a job run by a pooled shepherd, which does not exit when the job ends: through
    /// its socket. Its `finished` ends the job and gives the shepherd back to the pool. If the
    /// connection ends first, the shepherd goes on as a one-shot one (it leaves after the job):
    /// it is then watched by its pid, as those are.
    private func watchPooled(_ id: String, shepherd: ShepherdLink, pid: pid_t, socket: Int32, pool: ShepherdPool,
                             startTime: Double, willReap: @escaping @Sendable () -> Void,
                             didReap: @escaping @Sendable (Reaped) -> Void) throws(Errno) {
        try supervisor.watch(readable: socket, onReadable: { [self] in
            switch shepherd.pooledEvent() {
            case .running:
                return .keep
            case .finished(let outcome):
                // The shepherd reaped the job: nothing may signal on its behalf any more.
                willReap()
                let (termination, job, hasUsage) = ShepherdLaunch.result(of: outcome, shepherd: .lost(reason: "unused"), shepherdPID: pid)
                return .done(then: { [self] in
                    pool.giveBack(ShepherdPool.Member(pid: pid, link: shepherd))
                    finish(id, termination, reaped: job, startTime: startTime, usage: hasUsage, onSupervisor: true)
                })
            case .closed:
                return .done(then: { [self] in
                    do throws(Errno) {
                        try supervisor.watch(pid: pid, willReap: willReap, didReap: didReap)
                    } catch {
                        willReap()
                        didReap(Supervisor.killAndReap(pid))
                    }
                })
            }
        }, onFailure: { reason in
            // Killing the shepherd would leave the job running: it kills the job, then (with its
            // connection closed) records the outcome and leaves.
            willReap()
            try? shepherd.signal(SIGKILL)
            shepherd.close()
            _ = try? Syscall.reap(pid)
            didReap(.lost(reason: "\(reason); the job was killed"))
        })
    }

    /// The job's private `TMPDIR` (unless `drmaa_v_env` sets `TMPDIR`) and the variables LocalDRM
    /// sets in it. A directory that cannot be made fails the job.
    private func prepareEnvironment(_ id: String, _ job: Job, _ request: JobRequest, _ files: JobFiles)
        throws(StartFailure) -> (PrivateTemporaryDirectory?, [(name: String, value: String)]) {
        let environment = job.batch.environment
        var temporary: PrivateTemporaryDirectory?
        if !environment.sets(JobVariables.temporaryDirectoryVariable) {
            let parent = job.batch.settings.configuration.temporaryRoot ?? PrivateTemporaryDirectory.parent(forBase: environment.temporaryBase)
            do {
                temporary = try PrivateTemporaryDirectory.make(in: parent, jobID: id)
            } catch {
                var failure = StartFailure("cannot make the job's private temporary directory (TMPDIR) in '\(parent)'", error)
                failure.transient = false  // mkdtemp opens nothing: no error of it passes by itself
                throw failure
            }
        }
        let emulation = job.batch.settings.emulation
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
                        reschedule: Bool = true, usage hasUsage: Bool = true, onSupervisor: Bool = false, endTime: Double? = nil) {
        guard let (job, run) = state.withLock({ $0.remove(id) }) else { return }
        cancelTimers(job, run)
        var usage = ResourceUsage()
        usage.submissionTime = job.batch.request.submissionTime
        usage.startTime = startTime
        usage.endTime = endTime ?? clock.now()
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
        if job.batch.settings.nonzeroExit == .failed {
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
}

extension LocalBackend {
    /// A job that a shepherd runs already, found by a restarted daemon: it holds its slots from
    /// now on, is running (suspended if its process is stopped), its limits count from when it
    /// started, and it ends when its shepherd says so (a thread of its own waits for that: the
    /// shepherd is not this process's child).
    ///
    /// Without a `link`, the job's shepherd has ended while no daemon ran: it is taken in and
    /// finished at once with `ended` (its outcome file), or as lost when that is `nil`.
    func adopt(_ submission: Submission, taskIndex: Int?, options: JobOptions, settings: LocalDRM.Settings,
               environment: [String], currentDirectory: String?, session: String?,
               link: ShepherdLink?, jobPID: pid_t, startTime: Double, temporary: PrivateTemporaryDirectory?,
               ended: ShepherdOutcome? = nil, lostReason: String = "") {
        let first = submission.first
        let batch = Batch(submission: submission, options: options, settings: settings, environment: { environment },
                          currentDirectory: { currentDirectory }, session: session)
        let id = submission.jobID(taskIndex: taskIndex)
        let request = submission.request(taskIndex: taskIndex)
        let suspended = Syscall.isStopped(jobPID)
        let ran = max(0, clock.now() - startTime)
        state.withLock { state in
            var job = Job(batch: batch, taskIndex: taskIndex, phase: suspended ? .suspended(pid: jobPID) : .running(pid: jobPID),
                          sequence: state.nextSequence)
            state.nextSequence += 1
            let now = timers.monotonicNow()
            if let deadline = first.deadlineTime {
                job.deadlineTimer = timers.schedule(at: monotonic(now, plus: Double(deadline) - clock.now())) { [weak self] in
                    self?.deadlineReached(id)
                }
            }
            state.jobs[id] = job
            state.usedSlots += options.slots
            if let session { state.sessionSlots[session, default: 0] += options.slots }
            if let bulk = job.limitedBulkJob { state.runningTasks[bulk, default: 0] += 1 }
            var run = RunState(startTime: startTime)
            run.shepherd = link
            run.temporaryDirectory = temporary
            armWallclockLimits(id, request, &run, now: monotonic(now, plus: -ran))
            run.ranBefore = ran  // its suspensions while the daemon was down are not known
            if !suspended { armRunLimits(id, request, &run, now: now) }
            state.runs[id] = run
            if link != nil { table.reportState(id, suspended ? .userSuspended : .running) }
        }
        guard let link else {
            let (termination, reaped, hasUsage) = ended.map {
                ShepherdLaunch.result(of: $0, shepherd: .lost(reason: lostReason), shepherdPID: 0)
            } ?? (nil, .lost(reason: lostReason), false)
            finish(id, termination, reaped: reaped, startTime: ended?.startTime ?? startTime, usage: hasUsage,
                   endTime: ended?.endTime)
            return
        }
        let directory = shepherds?.directory ?? ""
        do throws(Errno) {
            try Syscall.startThread { [weak self] ready in
                ready()
                let outcome = link.awaitOutcome(jobID: id, directory: directory)
                guard let self else { return }
                let (termination, reaped, hasUsage) = ShepherdLaunch.result(of: outcome, shepherd: .lost(reason: "it was not this daemon's child"),
                                                                             shepherdPID: 0)
                finish(id, termination, reaped: reaped, startTime: startTime, usage: hasUsage)
            }
        } catch {
            // No thread to wait with: the job is killed through its shepherd, whose outcome is
            // then read from its file by the next daemon.
            try? link.signal(SIGKILL)
            link.close()
            finish(id, .aborted(reason: "the restarted daemon could not watch the job's shepherd: \(error)"), reaped: nil,
                   startTime: startTime, usage: false)
        }
    }
}
