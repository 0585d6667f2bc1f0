import DRMAACore
import Foundation
import Glibc
import LocalDRM
import Testing

/// Control of many jobs at once (`SESSION_ALL`, a bulk id) against real processes: a sweep is one
/// action, so a slot freed by it never starts a job of the same sweep.
@Suite("LocalDRM: TERMINATE and HOLD of many jobs are one action", .timeLimit(.minutes(2)))
struct SweepTests {
    /// A job that leaves two traces when it starts: its output file `out.<tag>.<index>` (`out.<tag>`
    /// for a single job), made by
    /// LocalDRM just before the spawn, and `ran.<job id>` with its pid, written by its command;
    /// then it sleeps (the same process: the shell execs `sleep`).
    func sweeper(_ f: Fixture, tag: String, single: Bool = false, script: String = "") -> JobTemplate {
        f.shell("\(script)echo $$ > \(f.path("ran."))$DRMAA_JOB_ID; exec sleep 60")
            .with { $0.outputPath = ":$drmaa_hd_ph$/out.\(tag)" + (single ? "" : ".$drmaa_incr_ph$") }
    }

    /// True if the job left any trace of having been started.
    func started(_ f: Fixture, _ id: String, tag: String) -> Bool {
        let parts = id.split(separator: ".")
        let output = parts.count == 2 ? "out.\(tag).\(parts[1])" : "out.\(tag)"
        return FileManager.default.fileExists(atPath: f.path("ran.\(id)"))
            || FileManager.default.fileExists(atPath: f.path(output))
    }

    /// Waits until the job's command has begun and the job shows RUNNING.
    func awaitRunning(_ f: Fixture, _ id: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!f.awaitFile("ran.\(id)").isEmpty, "\(id) did not start", sourceLocation: sourceLocation)
        #expect(awaitState(f.session, id, .running), "\(id) is not RUNNING", sourceLocation: sourceLocation)
    }

    /// The bulk job id of a task id.
    func bulkID(_ task: String) -> String { String(task.split(separator: ".")[0]) }

    @Test("TERMINATE of a bulk id while task 1 runs (1 slot): no other task ever starts; all end aborted, only task 1 with usage",
          arguments: [6, 2000])
    func terminateBulk(tasks count: Int) throws {
        // No grace period: the running task dies at once, the moment its slot would be refilled.
        let f = try Fixture(slots: 1, contact: "grace=0")
        let tasks = try f.session.runBulkJobs(sweeper(f, tag: "A"), beginIndex: 1, endIndex: count, step: 1)
        awaitRunning(f, tasks[0])

        try f.session.control(bulkID(tasks[0]), .terminate)

        for task in tasks { #expect(try f.session.jobStatus(task) == .failed, "\(task)") }
        let first = try f.session.wait(tasks[0])
        #expect(first.wasAborted && first.hasResourceUsage && !first.hasSignal)
        for task in tasks.dropFirst() {
            let info = try f.session.wait(task, timeout: .noWait)  // ended at once
            #expect(info.wasAborted && !info.hasResourceUsage, "\(task)")
            #expect(!started(f, task, tag: "A"), "\(task) was started")
        }
    }

    @Test("TERMINATE of SESSION_ALL across two bulk jobs and a single job (1 slot): only the running task ever ran")
    func terminateSessionAll() throws {
        let f = try Fixture(slots: 1, contact: "grace=0")
        let a = try f.session.runBulkJobs(sweeper(f, tag: "A"), beginIndex: 1, endIndex: 4, step: 1)
        let b = try f.session.runBulkJobs(sweeper(f, tag: "B"), beginIndex: 1, endIndex: 4, step: 1)
        let single = try f.session.runJob(sweeper(f, tag: "S", single: true))
        awaitRunning(f, a[0])

        try f.session.control(Session.jobIDsSessionAll, .terminate)

        try f.session.synchronize([Session.jobIDsSessionAll])
        #expect(try f.session.wait(a[0]).hasResourceUsage)
        for (id, tag) in a.dropFirst().map({ ($0, "A") }) + b.map({ ($0, "B") }) + [(single, "S")] {
            let info = try f.session.wait(id)
            #expect(info.wasAborted && !info.hasResourceUsage, "\(id)")
            #expect(!started(f, id, tag: tag), "\(id) was started")
        }
    }

    @Test("HOLD of a bulk id while task 1 runs: when task 1 ends no other task starts until RELEASE; then they run in order")
    func holdBulk() throws {
        let f = try Fixture(slots: 1)
        let tasks = try f.session.runBulkJobs(sweeper(f, tag: "A"), beginIndex: 1, endIndex: 6, step: 1)
        awaitRunning(f, tasks[0])

        try f.session.control(bulkID(tasks[0]), .hold)  // skips the running task

        #expect(try f.session.jobStatus(tasks[0]) == .running)
        for task in tasks.dropFirst() { #expect(try f.session.jobStatus(task) == .userOnHold, "\(task)") }
        // A job submitted after the tasks stands behind them in the queue: it can start only if
        // the scheduler found none of them startable when task 1's slot came free.
        let later = try f.session.runJob(sweeper(f, tag: "L", single: true))
        try f.session.control(tasks[0], .terminate)
        #expect(try f.session.wait(tasks[0]).wasAborted)
        awaitRunning(f, later)
        for task in tasks.dropFirst() {
            #expect(try f.session.jobStatus(task) == .userOnHold, "\(task)")
            #expect(!started(f, task, tag: "A"), "\(task) was started while held")
        }

        try f.session.control(bulkID(tasks[0]), .release)
        for task in tasks.dropFirst() { #expect(try f.session.jobStatus(task) == .queuedActive, "\(task)") }
        try f.session.control(later, .terminate)
        _ = try f.session.wait(later)
        awaitRunning(f, tasks[1])
        for task in tasks.dropFirst(2) { #expect(try f.session.jobStatus(task) == .queuedActive, "\(task)") }
    }

    @Test("A sweep over a bulk job with finished, reaped, running and queued tasks: finished ones keep their outcome, no queued one starts")
    func mixedSweep() throws {
        let f = try Fixture(slots: 1, contact: "grace=0")
        // Tasks 1 and 2 exit 7 at once; task 3 runs; 4 to 6 wait for the slot.
        let template = sweeper(f, tag: "A", script: "[ \"$DRMAA_TASK_ID\" -le 2 ] && exit 7; ")
        let tasks = try f.session.runBulkJobs(template, beginIndex: 1, endIndex: 6, step: 1)
        #expect(try f.session.wait(tasks[0]).exitStatus == 7)  // reaped: no longer a target
        try f.session.synchronize([tasks[1]])                    // finished, not reaped
        awaitRunning(f, tasks[2])

        // SUSPEND is legal only for the running task: the others are skipped.
        try f.session.control(bulkID(tasks[0]), .suspend)
        #expect(try f.session.jobStatus(tasks[2]) == .userSuspended)
        try f.session.control(bulkID(tasks[0]), .terminate)

        let done = try f.session.wait(tasks[1])
        #expect(done.hasExited && done.exitStatus == 7 && !done.wasAborted)
        let terminated = try f.session.wait(tasks[2])
        #expect(terminated.wasAborted && terminated.hasResourceUsage)
        for task in tasks.dropFirst(3) {
            let info = try f.session.wait(task, timeout: .noWait)
            #expect(info.wasAborted && !info.hasResourceUsage, "\(task)")
            #expect(!started(f, task, tag: "A"), "\(task) was started")
        }
        // Every task reaped: the bulk id is unknown now.
        expectDRMAAError(.invalidJob) { try f.session.control(bulkID(tasks[0]), .terminate) }
    }

    @Test("TERMINATE of SESSION_ALL ends pending jobs of every kind without running them: queued, held, waiting for a start time, waiting for a retry")
    func terminateEveryKindOfPendingJob() throws {
        let clock = ManualClock()
        let f = try Fixture(slots: 2, clock: clock)
        // Waits for a retry: its output FIFO has no reader (it gives its slot back meanwhile).
        let fifo = f.path("out.fifo")
        try #require(mkfifo(fifo, 0o600) == 0)
        var retrying = f.template("/bin/echo", ["never"], output: ":" + fifo)
        retrying.joinFiles = true
        let deferred = try f.session.runJob(retrying)
        #expect(awaitTimeoutDiagnosis(f.session, deferred, mentioning: "out.fifo"))
        // Two running jobs fill the slots; then a queued one, a held one and one with a start time ahead.
        let running = try f.session.runJob(sweeper(f, tag: "R", single: true))
        let running2 = try f.session.runJob(sweeper(f, tag: "R2", single: true))
        awaitRunning(f, running)
        awaitRunning(f, running2)
        let queued = try f.session.runJob(sweeper(f, tag: "Q", single: true))
        let held = try f.session.runJob(sweeper(f, tag: "H", single: true).with { $0.jobSubmissionState = .hold })
        let scheduled = try f.session.runBulkJobs(sweeper(f, tag: "T").with { $0.startTime = "00:05" },
                                                  beginIndex: 1, endIndex: 3, step: 1)

        try f.session.control(Session.jobIDsSessionAll, .terminate)

        let pending = [(deferred, "-"), (queued, "Q"), (held, "H")] + scheduled.map { ($0, "T") }
        for (id, _) in pending {
            let info = try f.session.wait(id, timeout: .noWait)
            #expect(info.wasAborted && !info.hasResourceUsage, "\(id)")
        }
        // Past the start time, the retry and the grace period: still nothing else starts.
        clock.advance(by: 3600)
        for id in [running, running2] { #expect(try f.session.wait(id).wasAborted) }
        for (id, tag) in pending { #expect(!started(f, id, tag: tag), "\(id) was started") }
    }

    @Test("SUSPEND, RESUME and RELEASE of a bulk id act on every task where legal")
    func suspendResumeRelease() throws {
        let f = try Fixture(slots: 3)
        let tasks = try f.session.runBulkJobs(sweeper(f, tag: "A"), beginIndex: 1, endIndex: 3, step: 1)
        let pids = try tasks.map { task in
            let pid = try #require(Int32(f.awaitFile("ran.\(task)")))
            #expect(awaitState(f.session, task, .running))
            return pid
        }
        try f.session.control(bulkID(tasks[0]), .suspend)
        for (task, pid) in zip(tasks, pids) {
            #expect(try f.session.jobStatus(task) == .userSuspended)
            #expect(awaitProcess(pid, state: "T"), "\(task)")
        }
        try f.session.control(bulkID(tasks[0]), .resume)
        for (task, pid) in zip(tasks, pids) {
            #expect(try f.session.jobStatus(task) == .running)
            #expect(awaitProcess(pid, state: "S"), "\(task)")
        }
        let held = try f.session.runBulkJobs(sweeper(f, tag: "H").with { $0.jobSubmissionState = .hold },
                                             beginIndex: 1, endIndex: 3, step: 1)
        try f.session.control(bulkID(held[0]), .release)
        for task in held { #expect(try f.session.jobStatus(task) == .queuedActive) }
        try f.session.control(bulkID(tasks[0]), .terminate)
        for task in held { #expect(!f.awaitFile("ran.\(task)").isEmpty, "\(task)") }
    }
}

/// Polls until a wait for the job with NO_WAIT times out with a diagnosis mentioning `text`
/// (a deferred job's note); false after a few seconds.
func awaitTimeoutDiagnosis(_ session: Session, _ id: String, mentioning text: String) -> Bool {
    for _ in 0..<1000 {
        do {
            _ = try session.wait(id, timeout: .noWait)
            return false
        } catch {
            if error.code == .exitTimeout && error.message.contains(text) { return true }
        }
        usleep(5_000)
    }
    return false
}

extension JobTemplate {
    /// A copy changed by `change`.
    func with(_ change: (inout JobTemplate) -> Void) -> JobTemplate {
        var copy = self
        change(&copy)
        return copy
    }
}
