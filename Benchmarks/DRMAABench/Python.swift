/// Through the C library: drmaa-python (ctypes) on out/lib/libdrmaa.so, driven by
/// Benchmarks/python/bench_drmaa.py in a child process, once per mode (`DRMAA_LOCAL_MODE`; the
/// durable one with the setup's private `DRMAA_LOCAL_STATE_DIR`).
struct PythonScenario {
    var jobs: Int
    var roundTrips: Int
    var slots: Int
    var python: String
    var library: String
    var script: String
    var temporaryDirectory: String
    var setups: [ModeSetup]

    func run() throws -> ScenarioResult {
        var result = ScenarioResult(name: "python")
        var table = Table(title: "through the C library: drmaa-python 0.7.9 on libdrmaa.so, \(slots) slots",
                          header: ["mode", "measure", "N", "seconds", "jobs/s"], textColumns: 2)
        let missing = [(python, "out/venv (make venv)"), (library, "out/lib/libdrmaa.so (make lib)"), (script, "the script")]
            .filter { !fileExists($0.0) }
        guard missing.isEmpty else {
            let note = "skipped: missing " + missing.map { "\($0.1) at \($0.0)" }.joined(separator: ", ")
            table.notes.append(note)
            result.tables.append(table)
            result.json = .object([("skipped", .string(note))])
            return result
        }
        let keys = ["run_job_submit_s", "run_job_wait_s", "run_job_total_s", "bulk_total_s", "round_trip_p50_s", "round_trip_p99_s"]
        var modeJSON: [(String, JSON)] = []
        for setup in setups {
            let mode = setup.mode.rawValue
            let output = temporaryDirectory + "/python-\(mode).out", errors = temporaryDirectory + "/python-\(mode).err"
            let replaced = ["DRMAA_LIBRARY_PATH=", "DRMAA_LOCAL_SLOTS=", "DRMAA_LOCAL_MODE=", "DRMAA_LOCAL_STATE_DIR="]
            var environment = currentEnvironment().filter { entry in !replaced.contains { entry.hasPrefix($0) } }
            environment += ["DRMAA_LIBRARY_PATH=\(library)", "DRMAA_LOCAL_SLOTS=\(slots)", "DRMAA_LOCAL_MODE=\(mode)"]
            if setup.mode == .durable { environment.append("DRMAA_LOCAL_STATE_DIR=\(setup.stateDirectory)") }
            do {
                try ChildProcess.run(python, [python, script, "--jobs", String(jobs), "--round-trips", String(roundTrips)],
                                     streams: .init(output: output, error: errors), environment: environment, timeout: 180)
            } catch {
                let stderr = readFile(errors) ?? ""
                throw BenchFailure("\(mode): \(error.description)\n\(stderr.split(separator: "\n").suffix(8).joined(separator: "\n"))")
            }
            var values: [String: Double] = [:]
            for line in (readFile(output) ?? "").split(separator: "\n") {
                let parts = line.split(separator: " ")
                if parts.count == 2, let value = Double(parts[1]) { values[String(parts[0])] = value }
            }
            guard keys.allSatisfy({ values[$0] != nil }) else {
                throw BenchFailure("bench_drmaa.py (\(mode)) printed no complete result:\n\(readFile(output) ?? "")")
            }
            func row(_ name: String, _ count: Int, _ key: String) -> [String] {
                [mode, name, grouped(count), format(values[key]!, 3), format(Double(count) / values[key]!, 0)]
            }
            table.rows += [
                row("runJob x N (submit only)", jobs, "run_job_submit_s"),
                row("wait x N (by id)", jobs, "run_job_wait_s"),
                row("runJob x N + wait x N", jobs, "run_job_total_s"),
                row("runBulkJobs + synchronize", jobs, "bulk_total_s"),
                [mode, "runJob -> wait round trip p50 / p99 (ms)", grouped(roundTrips),
                 format(values["round_trip_p50_s"]! * 1000, 3) + " / " + format(values["round_trip_p99_s"]! * 1000, 3), "-"],
            ]
            modeJSON.append((mode, .object(keys.map { ($0, .double(values[$0]!)) })))
        }
        result.tables.append(table)
        result.json = .object([("jobs", .int(jobs)), ("round_trips", .int(roundTrips))] + modeJSON)
        return result
    }
}
