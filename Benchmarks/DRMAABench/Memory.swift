import DRMAACore
import LocalDRM

/// Submission at scale: a bulk job of N held tasks (nothing runs): the time of `runBulkJobs`
/// and the memory it adds, then `control(SESSION_ALL, .terminate)` and
/// `synchronize(dispose: true)` to reap them all.
struct SubmissionScenario {
    var sizes: [Int]
    var slots: Int

    func run() throws -> ScenarioResult {
        var result = ScenarioResult(name: "submission")
        var table = Table(title: "submission at scale: runBulkJobs of N held tasks (nothing runs)",
                          header: ["N", "submit s", "RSS growth", "heap growth", "bytes/task", "terminate s", "reap s"])
        var runs: [JSON] = []
        for n in sizes {
            let run = try withSession(slots: slots) { session in
                let template = quietTemplate(hold: true)
                try preflight(session, quietTemplate())
                let before = Memory.snapshot()
                let start = monotonicNanoseconds()
                let ids = try session.runBulkJobs(template, beginIndex: 1, endIndex: n, step: 1)
                let submit = seconds(since: start)
                let rss = Memory.residentBytes() - before.rss, heap = Memory.heapInUseBytes() - before.heap
                guard ids.count == n, try session.jobStatus(ids[n - 1]) == .userOnHold else {
                    throw BenchFailure("submission: the bulk job's tasks are not on hold")
                }
                let terminateStart = monotonicNanoseconds()
                try session.control(Session.jobIDsSessionAll, .terminate)
                let terminate = seconds(since: terminateStart)
                let reapStart = monotonicNanoseconds()
                try synchronizeAll(session, timeout: 120, dispose: true, "submission (\(n) held tasks)")
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
                return (submit, rss, heap, terminate, reap)
            }
            let (submit, rss, heap, terminate, reap) = run
            table.rows.append([grouped(n), format(submit, 3), mebibytes(rss), mebibytes(heap), grouped(heap / n),
                               format(terminate, 3), format(reap, 3)])
            runs.append(.object([
                ("n", .int(n)), ("submit_s", .double(submit)), ("rss_growth_bytes", .int(rss)),
                ("heap_growth_bytes", .int(heap)), ("terminate_s", .double(terminate)), ("reap_s", .double(reap)),
            ]))
            if n == sizes.last {
                result.targets = [
                    TargetCheck(name: "submit \(grouped(n)) held tasks", goal: "< 1 s", measured: format(submit, 3) + " s", met: submit < 1),
                    TargetCheck(name: "RSS growth, \(grouped(n)) held tasks", goal: "< 100 MB",
                                measured: mebibytes(rss), met: rss < 100_000_000),
                ]
            }
        }
        table.notes.append("RSS growth: VmRSS after runBulkJobs minus VmRSS before (after malloc_trim); heap growth: live malloc bytes (mallinfo2)")
        result.tables.append(table)
        result.json = .object([("runs", .array(runs))])
        return result
    }
}

/// Memory: N `/bin/true` jobs that really ran, finished but not reaped (`synchronize(dispose:
/// false)`): resident memory per job, then the cost of reaping them one by one with `wait`.
struct MemoryScenario {
    var sizes: [Int]
    var slots: Int
    /// The leak check: `rounds` rounds of `size` jobs in one session, each fully reaped.
    var leakCheck: (size: Int, rounds: Int)

    func run() throws -> ScenarioResult {
        var result = ScenarioResult(name: "memory")
        var table = Table(title: "memory: N x /bin/true finished but not reaped",
                          header: ["N", "run s", "jobs/s", "RSS/job", "heap/job", "reap s", "heap left after reap", "after exit"])
        var runs: [JSON] = []
        for n in sizes {
            let before = Memory.snapshot()
            let (run, rss, heap, reap, heapAfterReap) = try withSession(slots: slots) { session in
                let template = quietTemplate()
                try preflight(session, template)
                let before = Memory.snapshot()
                let start = monotonicNanoseconds()
                // The ids are dropped at once: what remains is the library's, not ours.
                _ = try session.runBulkJobs(template, beginIndex: 1, endIndex: n, step: 1)
                try synchronizeAll(session, timeout: 240, dispose: false, "memory (\(n) jobs)")
                let run = seconds(since: start)
                let rss = Memory.residentBytes() - before.rss, heap = Memory.heapInUseBytes() - before.heap
                let reapStart = monotonicNanoseconds()
                for _ in 0..<n {
                    try expectSuccess(try session.wait(Session.jobIDsSessionAny, timeout: .seconds(30)), "memory")
                }
                let reap = seconds(since: reapStart)
                return (run, rss, heap, reap, Memory.snapshot().heap - before.heap)
            }
            let afterExit = Memory.snapshot().heap - before.heap
            table.rows.append([grouped(n), format(run, 2), format(Double(n) / run, 0), grouped(rss / n) + " B",
                               grouped(heap / n) + " B", format(reap, 3), mebibytes(heapAfterReap), mebibytes(afterExit)])
            runs.append(.object([
                ("n", .int(n)), ("run_s", .double(run)), ("rss_growth_bytes", .int(rss)), ("heap_growth_bytes", .int(heap)),
                ("rss_bytes_per_job", .double(Double(rss) / Double(n))), ("heap_bytes_per_job", .double(Double(heap) / Double(n))),
                ("reap_s", .double(reap)), ("heap_left_after_reap_bytes", .int(heapAfterReap)),
                ("heap_left_after_session_exit_bytes", .int(afterExit)),
            ]))
            if n == sizes.last {
                result.targets = [TargetCheck(name: "RSS per finished, unreaped job (\(grouped(n)))", goal: "< 1 KiB",
                                              measured: grouped(rss / n) + " B", met: rss / n < 1024)]
            }
        }
        table.notes.append("RSS/job: VmRSS growth (no trim after) / N; heap/job: live malloc bytes / N; reap: N x wait(SESSION_ANY)")
        table.notes.append("heap left: live malloc bytes still held after every job was reaped, and after session.exit()")
        result.tables.append(table)

        let leak = try leakRounds()
        var leakTable = Table(title: "memory: leak check, \(leakCheck.rounds) rounds of \(grouped(leakCheck.size)) x /bin/true in one session, each reaped",
                              header: ["after round"] + (1...leakCheck.rounds).map { "#\($0)" })
        leakTable.rows = [["live heap"] + leak.map { mebibytes($0) }]
        // Round 1 grows the tables to their size; from then on the same work must not need more memory.
        let perJob = Double(leak.last! - leak[0]) / Double((leakCheck.rounds - 1) * leakCheck.size)
        leakTable.notes.append("growth after round 1: \(format(perJob, 0)) bytes per job (0 = no leak)")
        result.tables.append(leakTable)
        result.targets.append(TargetCheck(name: "heap growth per job in steady state (leak)", goal: "< 16 B",
                                          measured: format(perJob, 0) + " B", met: perJob < 16))
        result.json = .object([
            ("runs", .array(runs)),
            ("leak_check", .object([("jobs_per_round", .int(leakCheck.size)), ("heap_after_round_bytes", .array(leak.map { .int($0) })),
                                    ("growth_bytes_per_job_after_round_1", .double(perJob))])),
        ])
        return result
    }

    /// Live heap bytes after each round of the leak check.
    private func leakRounds() throws -> [Int] {
        try withSession(slots: slots) { session in
            let template = quietTemplate()
            var heap: [Int] = []
            for round in 1...leakCheck.rounds {
                _ = try session.runBulkJobs(template, beginIndex: 1, endIndex: leakCheck.size, step: 1)
                try synchronizeAll(session, timeout: 120, dispose: true, "leak check round \(round)")
                heap.append(Memory.snapshot().heap)
            }
            return heap
        }
    }
}
