import DRMAACore
import LocalDRM

/// Submission at scale: a bulk job of N held tasks (nothing runs), in each mode: the time of
/// `runBulkJobs` and the memory it adds (this process's, and in the durable mode the daemon's),
/// then `control(SESSION_ALL, .terminate)` and `synchronize(dispose: true)` to reap them all.
struct SubmissionScenario {
    var sizes: [Int]
    var slots: Int
    var setups: [ModeSetup]

    /// The submission goal per mode: the durable mode also sends the submission to the daemon,
    /// which keeps it in its spool and queues every task.
    static func goal(_ mode: BenchMode) -> Double { mode == .embedded ? 1 : 2 }

    func run() throws -> ScenarioResult {
        var result = ScenarioResult(name: "submission")
        var table = Table(title: "submission at scale: runBulkJobs of N held tasks (nothing runs)",
                          header: ["mode", "N", "submit s", "RSS growth", "heap growth", "bytes/task", "daemon RSS growth",
                                   "terminate s", "reap s"])
        var runs: [BenchMode: [JSON]] = [:]
        for setup in setups {
            for n in sizes {
                let run = try withSession(setup, slots: slots) { session in
                    let template = quietTemplate(hold: true)
                    try preflight(session, quietTemplate())
                    let daemon = setup.mode == .durable ? try setup.daemon() : nil
                    let daemonBefore = try daemon?.memory()
                    let before = Memory.snapshot()
                    let start = monotonicNanoseconds()
                    let ids = try session.runBulkJobs(template, beginIndex: 1, endIndex: n, step: 1)
                    let submit = seconds(since: start)
                    let rss = Memory.residentBytes() - before.rss, heap = Memory.heapInUseBytes() - before.heap
                    // The daemon has queued every task before it answers the submission.
                    let daemonRSS = try daemonBefore.map { try daemon!.memory().rss - $0.rss }
                    guard ids.count == n, try session.jobStatus(ids[n - 1]) == .userOnHold else {
                        throw BenchFailure("submission: the bulk job's tasks are not on hold")
                    }
                    let terminateStart = monotonicNanoseconds()
                    try session.control(Session.jobIDsSessionAll, .terminate)
                    let terminate = seconds(since: terminateStart)
                    let reapStart = monotonicNanoseconds()
                    try synchronizeAll(session, timeout: max(120, Double(n) / 500), dispose: true,
                                       "submission \(setup.mode.rawValue) (\(n) held tasks)")
                    let reap = seconds(since: reapStart)
                    let stillKnown: Bool
                    do throws(DRMAAError) {
                        _ = try session.jobStatus(ids[0])
                        stillKnown = true
                    } catch {
                        guard error.code == .invalidJob else { throw error }
                        stillKnown = false
                    }
                    if stillKnown { throw BenchFailure("submission: task \(ids[0]) is still known after synchronize(dispose: true)") }
                    return (submit, rss, heap, daemonRSS, terminate, reap)
                }
                let (submit, rss, heap, daemonRSS, terminate, reap) = run
                table.rows.append([setup.mode.rawValue, grouped(n), format(submit, 3), mebibytes(rss), mebibytes(heap), grouped(heap / n),
                                   daemonRSS.map(mebibytes) ?? "-", format(terminate, 3), format(reap, 3)])
                var entries: [(String, JSON)] = [
                    ("n", .int(n)), ("submit_s", .double(submit)), ("rss_growth_bytes", .int(rss)),
                    ("heap_growth_bytes", .int(heap)), ("terminate_s", .double(terminate)), ("reap_s", .double(reap)),
                ]
                if let daemonRSS { entries.append(("daemon_rss_growth_bytes", .int(daemonRSS))) }
                runs[setup.mode, default: []].append(.object(entries))
                guard n == sizes.last else { continue }
                let goal = Self.goal(setup.mode)
                result.targets.append(TargetCheck(mode: setup.mode, name: "submit \(grouped(n)) held tasks", goal: "< \(format(goal, 0)) s",
                                                  measured: format(submit, 3) + " s", met: submit < goal))
                if setup.mode == .embedded {
                    result.targets.append(TargetCheck(mode: .embedded, name: "RSS growth, \(grouped(n)) held tasks", goal: "< 100 MB",
                                                      measured: mebibytes(rss), met: rss < 100_000_000))
                }
            }
        }
        table.notes.append("RSS growth: VmRSS after runBulkJobs minus VmRSS before (after malloc_trim); heap growth: live malloc bytes (mallinfo2); both of this process")
        if setups.contains(where: { $0.mode == .durable }) {
            table.notes.append("daemon RSS growth: the daemon's VmRSS after runBulkJobs returned minus before (no trim: another process); terminate: SESSION_ALL, one request for all tasks")
        }
        result.tables.append(table)
        result.json = .object(setups.map { ($0.mode.rawValue, JSON.object([("runs", .array(runs[$0.mode] ?? []))])) })
        return result
    }
}

/// Memory: N `/bin/true` jobs that really ran, finished but not reaped (`synchronize(dispose:
/// false)`), in each mode: resident memory per job (this process's, and in the durable mode the
/// daemon's, which owns the jobs), then the cost of reaping them one by one with `wait`, and
/// what reaping gives back.
struct MemoryScenario {
    var sizes: [Int]
    var slots: Int
    /// The leak check: `rounds` rounds of `size` jobs in one session, each fully reaped.
    var leakCheck: (size: Int, rounds: Int)
    var setups: [ModeSetup]
    /// A state directory of its own (a fresh daemon) per size and for the leak check.
    var freshSetup: (BenchMode, String) -> ModeSetup

    /// The durable mode's goal for the daemon's resident memory per finished, unreaped job.
    static let durableDaemonGoal = 2048

    func run() throws -> ScenarioResult {
        var result = ScenarioResult(name: "memory")
        var table = Table(title: "memory: N x /bin/true finished but not reaped",
                          header: ["mode", "N", "run s", "jobs/s", "RSS/job", "heap/job", "daemon RSS/job", "reap s",
                                   "heap left after reap", "daemon RSS after reap", "after exit"])
        var runs: [BenchMode: [JSON]] = [:]
        for mode in setups.map(\.mode) {
            for n in sizes {
                let setup = freshSetup(mode, "memory-\(n)")
                let before = Memory.snapshot()
                let run = try withSession(setup, slots: slots) { session in
                    let template = quietTemplate()
                    try preflight(session, template)
                    let daemon = mode == .durable ? try setup.daemon() : nil
                    let daemonBefore = try daemon?.memory()
                    let before = Memory.snapshot()
                    let start = monotonicNanoseconds()
                    // The ids are dropped at once: what remains is the library's, not ours.
                    _ = try session.runBulkJobs(template, beginIndex: 1, endIndex: n, step: 1)
                    try synchronizeAll(session, timeout: max(240, Double(n) / 100), dispose: false, "memory \(mode.rawValue) (\(n) jobs)")
                    let run = seconds(since: start)
                    let rss = Memory.residentBytes() - before.rss, heap = Memory.heapInUseBytes() - before.heap
                    let daemonAfterRun = try daemon?.memory()
                    let reapStart = monotonicNanoseconds()
                    for _ in 0..<n {
                        try expectSuccess(try session.wait(Session.jobIDsSessionAny, timeout: .seconds(30)), "memory")
                    }
                    let reap = seconds(since: reapStart)
                    let daemonAfterReap = try daemon?.memory()
                    if let daemon, try setup.daemon().pid != daemon.pid {
                        throw BenchFailure("memory: the daemon was replaced during the run (pid \(daemon.pid))")
                    }
                    let daemonRun = daemonBefore.flatMap { first in daemonAfterRun.map { $0.rss - first.rss } }
                    let daemonReaped = daemonBefore.flatMap { first in daemonAfterReap.map { $0.rss - first.rss } }
                    return (run, rss, heap, daemonRun, reap, Memory.snapshot().heap - before.heap, daemonReaped)
                }
                let (elapsed, rss, heap, daemonRun, reap, heapAfterReap, daemonAfterReap) = run
                let afterExit = Memory.snapshot().heap - before.heap
                table.rows.append([mode.rawValue, grouped(n), format(elapsed, 2), format(Double(n) / elapsed, 0), grouped(rss / n) + " B",
                                   grouped(heap / n) + " B", daemonRun.map { grouped($0 / n) + " B" } ?? "-", format(reap, 3),
                                   mebibytes(heapAfterReap), daemonAfterReap.map(mebibytes) ?? "-", mebibytes(afterExit)])
                var entries: [(String, JSON)] = [
                    ("n", .int(n)), ("run_s", .double(elapsed)), ("rss_growth_bytes", .int(rss)), ("heap_growth_bytes", .int(heap)),
                    ("rss_bytes_per_job", .double(Double(rss) / Double(n))), ("heap_bytes_per_job", .double(Double(heap) / Double(n))),
                    ("reap_s", .double(reap)), ("heap_left_after_reap_bytes", .int(heapAfterReap)),
                    ("heap_left_after_session_exit_bytes", .int(afterExit)),
                ]
                if let daemonRun, let daemonAfterReap {
                    entries += [("daemon_rss_growth_bytes", .int(daemonRun)), ("daemon_rss_bytes_per_job", .double(Double(daemonRun) / Double(n))),
                                ("daemon_rss_growth_after_reap_bytes", .int(daemonAfterReap))]
                }
                runs[mode, default: []].append(.object(entries))
                guard n == sizes.last else { continue }
                switch mode {
                case .embedded:
                    result.targets.append(TargetCheck(mode: .embedded, name: "RSS per finished, unreaped job (\(grouped(n)))", goal: "< 1 KiB",
                                                      measured: grouped(rss / n) + " B", met: rss / n < 1024))
                case .durable:
                    let perJob = (daemonRun ?? 0) / n
                    result.targets.append(TargetCheck(mode: .durable, name: "daemon RSS per finished, unreaped job (\(grouped(n)))",
                                                      goal: "< 2 KiB", measured: grouped(perJob) + " B", met: perJob < Self.durableDaemonGoal))
                }
            }
        }
        table.notes.append("RSS/job: this process's VmRSS growth (no trim after) / N; heap/job: live malloc bytes / N; reap: N x wait(SESSION_ANY)")
        table.notes.append("heap left: this process's live malloc bytes still held after every job was reaped, and after session.exit()")
        if setups.contains(where: { $0.mode == .durable }) {
            table.notes.append("durable: a fresh daemon per size; daemon RSS/job: its VmRSS growth from before runBulkJobs to all N finished, / N (it includes the high-water mark of N queued jobs); after reap: its growth still held once every job was reaped")
        }
        result.tables.append(table)

        var leakTable = Table(title: "memory: leak check, \(leakCheck.rounds) rounds of \(grouped(leakCheck.size)) x /bin/true in one session, each reaped",
                              header: ["mode", "after round"] + (1...leakCheck.rounds).map { "#\($0)" }, textColumns: 2)
        var leakJSON: [BenchMode: JSON] = [:]
        for mode in setups.map(\.mode) {
            let leak = try leakRounds(freshSetup(mode, "memory-leak"))
            // Round 1 grows the tables to their size; from then on the same work must not need more memory.
            func perJob(_ values: [Int]) -> Double { Double(values.last! - values[0]) / Double((leakCheck.rounds - 1) * leakCheck.size) }
            let heapPerJob = perJob(leak.map(\.heap))
            leakTable.rows.append([mode.rawValue, "live heap"] + leak.map { mebibytes($0.heap) })
            leakTable.notes.append("\(mode.rawValue): heap growth after round 1: \(format(heapPerJob, 0)) bytes per job (0 = no leak)")
            var entries: [(String, JSON)] = [
                ("jobs_per_round", .int(leakCheck.size)), ("heap_after_round_bytes", .array(leak.map { .int($0.heap) })),
                ("growth_bytes_per_job_after_round_1", .double(heapPerJob)),
            ]
            if mode == .durable {
                let daemon = leak.map { $0.daemon ?? 0 }
                let daemonPerJob = perJob(daemon)
                leakTable.rows.append([mode.rawValue, "daemon RSS"] + daemon.map { mebibytes($0) })
                leakTable.notes.append("durable: daemon RSS growth after round 1: \(format(daemonPerJob, 0)) bytes per job")
                entries += [("daemon_rss_after_round_bytes", .array(daemon.map { .int($0) })),
                            ("daemon_rss_growth_bytes_per_job_after_round_1", .double(daemonPerJob))]
            }
            leakJSON[mode] = .object(entries)
            if mode == .embedded {
                result.targets.append(TargetCheck(mode: .embedded, name: "heap growth per job in steady state (leak)", goal: "< 16 B",
                                                  measured: format(heapPerJob, 0) + " B", met: heapPerJob < 16))
            }
        }
        result.tables.append(leakTable)
        result.json = .object(setups.map { setup in
            (setup.mode.rawValue, JSON.object([("runs", .array(runs[setup.mode] ?? [])), ("leak_check", leakJSON[setup.mode] ?? .null)]))
        })
        return result
    }

    /// Live heap bytes (and the daemon's VmRSS in the durable mode) after each round of the leak check.
    private func leakRounds(_ setup: ModeSetup) throws -> [(heap: Int, daemon: Int?)] {
        try withSession(setup, slots: slots) { session in
            let template = quietTemplate()
            var readings: [(heap: Int, daemon: Int?)] = []
            for round in 1...leakCheck.rounds {
                _ = try session.runBulkJobs(template, beginIndex: 1, endIndex: leakCheck.size, step: 1)
                try synchronizeAll(session, timeout: 120, dispose: true, "leak check \(setup.mode.rawValue) round \(round)")
                let daemon = setup.mode == .durable ? try setup.daemon().memory().rss : nil
                readings.append((Memory.snapshot().heap, daemon))
            }
            return readings
        }
    }
}
