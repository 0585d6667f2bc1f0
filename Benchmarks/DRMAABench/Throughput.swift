import DRMAACore
import Glibc
import LocalDRM

/// Throughput: N `/bin/true` jobs through `runBulkJobs` + `synchronize(dispose: true)` with
/// one slot per CPU, in each mode, against a bare `posix_spawn` + `wait4` loop, `xargs -P` and
/// GNU `parallel -j` at the same concurrency.
struct ThroughputScenario {
    var sizes: [Int]
    var concurrency: Int
    /// How often each runner runs per size; the fastest run counts.
    var repeats: Int
    /// GNU parallel costs milliseconds per job (it is Perl); above this size it is skipped.
    var parallelLimit: Int
    /// The modes DRMAA runs in (each a runner of its own).
    var setups: [ModeSetup]

    /// The target ratio to the bare loop per mode: the embedded mode is the process's own
    /// children; the durable mode starts a shepherd per job, so two processes per job.
    static func goal(_ mode: BenchMode) -> Double { mode == .embedded ? 0.8 : 0.6 }

    func run() throws -> ScenarioResult {
        var result = ScenarioResult(name: "throughput")
        var table = Table(title: "throughput: N x /bin/true, \(concurrency) at a time (slots = CPUs)",
                          header: ["runner", "N", "seconds", "jobs/s", "vs bare loop"])
        var baselineRuns: [JSON] = []
        var modeRuns: [BenchMode: [JSON]] = [:]
        // DRMAA's ratio to the bare loop per mode and size, for the targets.
        var drmaaRatios: [BenchMode: [Int: Double]] = [:]
        let xargs = findOnPath("xargs"), parallel = findOnPath("parallel")
        if xargs == nil { table.notes.append("xargs not installed: skipped") }
        if parallel == nil { table.notes.append("GNU parallel not installed (apt-get install parallel): skipped") }

        for n in sizes {
            // Each runner runs `repeats` times, interleaved, and its fastest run counts: the machine may
            // be shared, and the minimum is the best estimate of the uncontended cost. The bare loop
            // waits with wait4(-1), so it only ever runs while no DRMAA job exists.
            var runners: [(name: String, key: String, mode: BenchMode?, run: () throws -> Double)] = [
                ("bare posix_spawn+wait4", "bare_loop", nil, { try bareSpawnLoop(n) }),
            ]
            for setup in setups {
                runners.append(("DRMAA \(setup.mode.rawValue): runBulkJobs+synchronize", "drmaa", setup.mode, { try drmaaBulk(n, setup) }))
            }
            if let xargs {
                runners.append(("xargs -P \(concurrency)", "xargs", nil, {
                    try ChildProcess.run("/bin/sh", ["sh", "-c", "seq 1 \(n) | \(xargs) -P \(concurrency) -n 1 /bin/true"], timeout: 120)
                }))
            }
            var samples = [[Double]](repeating: [], count: runners.count)
            for _ in 0..<repeats {
                for (index, runner) in runners.enumerated() { samples[index].append(try runner.run()) }
            }
            // GNU parallel costs milliseconds per job (it is Perl): one run, and only up to parallelLimit jobs.
            var measured = zip(runners, samples).map { (name: $0.name, key: $0.key, mode: $0.mode, runs: $1) }
            var skipped: [String]?
            if let parallel {
                let name = "GNU parallel -j \(concurrency)"
                if n <= parallelLimit {
                    measured.append((name, "gnu_parallel", nil, [try ChildProcess.run("/bin/sh", [
                        "sh", "-c", "seq 1 \(n) | \(parallel) --will-cite -j \(concurrency) /bin/true",
                    ], timeout: 120)]))
                } else {
                    skipped = [name, grouped(n), "-", "-", "skipped (> \(grouped(parallelLimit)) jobs)"]
                }
            }
            let bare = measured[0].runs.min()!
            var baselineEntries: [(String, JSON)] = [("n", .int(n))]
            for runner in measured {
                let elapsed = runner.runs.min()!
                let rate = Double(n) / elapsed
                table.rows.append([runner.name, grouped(n), format(elapsed, 3), format(rate, 0), format(bare / elapsed, 2) + "x"])
                let entry = JSON.object([
                    ("seconds", .double(elapsed)), ("jobs_per_s", .double(rate)), ("ratio_to_bare", .double(bare / elapsed)),
                    ("all_runs_s", .array(runner.runs.map { .double($0) })),
                ])
                if let mode = runner.mode {
                    drmaaRatios[mode, default: [:]][n] = bare / elapsed
                    modeRuns[mode, default: []].append(.object([("n", .int(n)), ("drmaa", entry)]))
                } else {
                    baselineEntries.append((runner.key, entry))
                }
            }
            if let skipped { table.rows.append(skipped) }
            baselineRuns.append(.object(baselineEntries))
        }
        table.notes.append("best of \(repeats) interleaved runs (GNU parallel: 1 run); vs bare loop = bare-loop time / runner time")
        if setups.contains(where: { $0.mode == .durable }) {
            table.notes.append("durable: each job is spawned by a pooled drmaa-shepherd, which the daemon hands it to (one shepherd start per pool member, not per job), and passes through the daemon and its spool")
        }
        result.tables.append(table)
        // The targets are stated at 2,000 jobs; quick mode checks its largest size instead.
        for setup in setups {
            let ratios = drmaaRatios[setup.mode] ?? [:]
            let goal = Self.goal(setup.mode)
            if let n = ratios[2_000] != nil ? 2_000 : ratios.keys.max(), let ratio = ratios[n] {
                result.targets.append(TargetCheck(mode: setup.mode, name: "throughput vs bare loop (\(grouped(n)) jobs)",
                                                  goal: ">= \(format(goal, 2))x", measured: format(ratio, 2) + "x", met: ratio >= goal))
            }
        }
        result.json = .object([("concurrency", .int(concurrency)), ("baselines", .object([("runs", .array(baselineRuns))]))]
            + setups.map { ($0.mode.rawValue, JSON.object([("runs", .array(modeRuns[$0.mode] ?? []))])) })
        return result
    }

    /// Runs n `/bin/true` with `posix_spawn`, keeping `concurrency` children in flight and
    /// reaping them with `wait4(-1)`. Returns the seconds taken.
    func bareSpawnLoop(_ n: Int) throws(BenchFailure) -> Double {
        let argv = CStringArray(["/bin/true"])
        defer { argv.free() }
        let envp = UnsafePointer<UnsafeMutablePointer<CChar>?>(environ)
        var inFlight = 0, started = 0, failed = 0
        var spawnError: Int32 = 0
        let start = monotonicNanoseconds()
        while started < n || inFlight > 0 {
            while spawnError == 0 && inFlight < concurrency && started < n {
                var pid: pid_t = 0
                let result = argv.withPointer { posix_spawn(&pid, "/bin/true", nil, nil, $0, envp) }
                if result != 0 { spawnError = result; break }
                started += 1
                inFlight += 1
            }
            if spawnError != 0 && inFlight == 0 { break }
            var status: Int32 = 0
            let pid = wait4(-1, &status, 0, nil)
            if pid < 0 {
                if errno == EINTR { continue }
                throw BenchFailure("bare loop: wait4 failed with \(inFlight) children in flight: \(String(cString: strerror(errno)))")
            }
            inFlight -= 1
            if !ChildProcess.exitedSuccessfully(status) { failed += 1 }
        }
        let elapsed = seconds(since: start)
        if spawnError != 0 { throw BenchFailure("bare loop: posix_spawn failed: \(String(cString: strerror(spawnError)))") }
        if failed > 0 { throw BenchFailure("bare loop: \(failed) of \(n) /bin/true failed") }
        return elapsed
    }

    /// Submits n `/bin/true` as one bulk job and synchronizes with dispose. Returns the seconds
    /// from the submission to `synchronize` returning.
    func drmaaBulk(_ n: Int, _ setup: ModeSetup) throws -> Double {
        try withSession(setup, slots: concurrency) { session in
            let template = quietTemplate()
            try preflight(session, template)
            let start = monotonicNanoseconds()
            let ids = try session.runBulkJobs(template, beginIndex: 1, endIndex: n, step: 1)
            try synchronizeAll(session, timeout: max(120, Double(n) / 100), dispose: true, "throughput \(setup.mode.rawValue) (\(n) jobs)")
            let elapsed = seconds(since: start)
            guard ids.count == n else { throw BenchFailure("runBulkJobs returned \(ids.count) ids for \(n) tasks") }
            return elapsed
        }
    }
}
