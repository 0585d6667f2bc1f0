// DRMAABench: the benchmark suite of swift-drmaa. See Docs/Performance.md.
//
//   DRMAABench [--quick] [--json PATH] [--only scenario,...] [--modes embedded,durable] [--python PATH]
//              [--lib PATH] [--script PATH] [--daemon PATH] [--shepherd PATH]
//
// Prints a table per scenario and the targets, writes the results as JSON with --json. Every
// scenario runs in each mode of --modes (LocalDRM's embedded and durable modes, default both).
// Exits 0 unless something functionally fails (a job did not finish or failed, a process
// outlived the run); times are never asserted.
import Glibc

// The job of the exit->wake measurement runs this very executable; it must do nothing else.
if CommandLine.arguments.count == 2 && CommandLine.arguments[1] == "--exit-stamp" {
    exitStampMain()
}

let allScenarios = ["throughput", "latency", "submission", "memory", "python", "cost", "slurm"]

struct Options {
    var quick = false
    var jsonPath: String?
    var only = allScenarios
    var modes = BenchMode.allCases
    var python = "out/venv/bin/python"
    var library = "out/lib/libdrmaa.so"
    var script = "Benchmarks/python/bench_drmaa.py"
    var daemon: String?
    var shepherd: String?
}

func usage() -> Never {
    print("""
    usage: DRMAABench [--quick] [--json PATH] [--only scenario,...] [--modes embedded,durable] [--python PATH]
                      [--lib PATH] [--script PATH] [--daemon PATH] [--shepherd PATH]
      --quick         small sizes, runs in seconds (make bench-quick)
      --json PATH     also write the results as JSON to PATH
      --only LIST     run only these scenarios: \(allScenarios.joined(separator: ","))
                      (cost: the durable mode's cost per job, by part; durable mode only)
      --modes LIST    LocalDRM's modes to run each scenario in: embedded,durable (default both)
      --python PATH   the venv's python with drmaa-python (default out/venv/bin/python)
      --lib PATH      libdrmaa.so for drmaa-python (default out/lib/libdrmaa.so)
      --script PATH   the Python benchmark (default Benchmarks/python/bench_drmaa.py)
      --daemon PATH   drmaad for the durable mode (default: beside --lib)
      --shepherd PATH drmaa-shepherd for the durable mode (default: beside --lib)
    """)
    exit(2)
}

func parseOptions() -> Options {
    var options = Options()
    var arguments = CommandLine.arguments.dropFirst()
    func value(_ flag: String) -> String {
        guard let value = arguments.popFirst() else { print("\(flag) needs a value"); usage() }
        return value
    }
    while let argument = arguments.popFirst() {
        switch argument {
        case "--quick": options.quick = true
        case "--json": options.jsonPath = value(argument)
        case "--only":
            options.only = value(argument).split(separator: ",").map(String.init)
            for name in options.only where !allScenarios.contains(name) {
                print("unknown scenario '\(name)'")
                usage()
            }
        case "--modes":
            var modes: [BenchMode] = []
            for name in value(argument).split(separator: ",") {
                guard let mode = BenchMode(rawValue: String(name)) else {
                    print("unknown mode '\(name)'")
                    usage()
                }
                if !modes.contains(mode) { modes.append(mode) }
            }
            guard !modes.isEmpty else { print("--modes needs at least one mode"); usage() }
            // Embedded first: the tables read "durable beside embedded" in a fixed order.
            options.modes = BenchMode.allCases.filter(modes.contains)
        case "--daemon": options.daemon = value(argument)
        case "--shepherd": options.shepherd = value(argument)
        case "--python": options.python = value(argument)
        case "--lib": options.library = value(argument)
        case "--script": options.script = value(argument)
        case "-h", "--help": usage()
        default:
            print("unknown argument '\(argument)'")
            usage()
        }
    }
    return options
}

let options = parseOptions()
let cpus = onlineCPUs()
let quick = options.quick
let modes = options.modes
let startedAt = monotonicNanoseconds()
let date = todayString()

// The durable mode's programs; the daemon the library starts inherits this environment, so it
// finds the shepherd and leaves a second after its last client.
let libraryDirectory: String = {
    let library = absolutePath(options.library)
    return library.lastIndex(of: "/").map { String(library[..<$0]) } ?? "."
}()
let daemonPath = absolutePath(options.daemon ?? libraryDirectory + "/drmaad")
let shepherdPath = absolutePath(options.shepherd ?? libraryDirectory + "/drmaa-shepherd")
if modes.contains(.durable) {
    for (path, what) in [(daemonPath, "drmaad (--daemon)"), (shepherdPath, "drmaa-shepherd (--shepherd)")] where !fileExists(path, executable: true) {
        print("FAILED: the durable mode needs \(what) at \(path): make lib, or --modes embedded")
        exit(1)
    }
    setenv("DRMAA_LOCAL_DAEMON", daemonPath, 1)
    setenv("DRMAA_LOCAL_SHEPHERD", shepherdPath, 1)
    setenv("DRMAA_LOCAL_IDLE_EXIT", "1", 1)
}

let loadAtStart = loadAverage()
print("DRMAABench (\(quick ? "quick" : "full")) \(date), nproc \(cpus), \(kernelName()), modes \(modes.map(\.rawValue).joined(separator: ", ")), load average \(format(loadAtStart, 2))\n")
fflush(nil)

var results: [ScenarioResult] = []
var failures: [(String, String)] = []
let temporaryDirectory: String
do {
    temporaryDirectory = try makeTemporaryDirectory()
} catch {
    print("FAILED: \(error)")
    exit(1)
}

/// One scenario's sessions in `mode`: the durable ones in a private state directory (a daemon of
/// their own) under the temporary directory.
func setup(_ mode: BenchMode, _ name: String) -> ModeSetup {
    ModeSetup(mode: mode, stateDirectory: temporaryDirectory + "/state-" + name)
}

for name in options.only {
    let scenarioStart = monotonicNanoseconds()
    let setups = modes.map { setup($0, name) }
    do {
        let result: ScenarioResult
        switch name {
        case "throughput":
            result = try ThroughputScenario(sizes: quick ? [200] : [500, 2_000, 10_000], concurrency: cpus,
                                            repeats: quick ? 1 : 3, parallelLimit: quick ? 200 : 2_000, setups: setups).run()
        case "latency":
            result = try LatencyScenario(count: quick ? 50 : 500, slots: cpus, temporaryDirectory: temporaryDirectory,
                                         setups: setups).run()
        case "submission":
            result = try SubmissionScenario(sizes: quick ? [10_000] : [10_000, 100_000], slots: cpus, setups: setups).run()
        case "memory":
            result = try MemoryScenario(sizes: quick ? [2_000] : [10_000, 30_000, 100_000], slots: cpus,
                                        leakCheck: quick ? (1_000, 3) : (5_000, 4), setups: setups, freshSetup: setup).run()
        case "python":
            result = try PythonScenario(jobs: quick ? 50 : 500, roundTrips: quick ? 20 : 100, slots: cpus,
                                        python: absolutePath(options.python), library: absolutePath(options.library),
                                        script: absolutePath(options.script), temporaryDirectory: temporaryDirectory,
                                        setups: setups).run()
        case "slurm":
            result = try SlurmScenario(bulkTasks: quick ? 100 : 1_000, jobs: quick ? 20 : 200, repeats: quick ? 1 : 2,
                                       interval: 0.5, temporaryDirectory: temporaryDirectory).run()
        default:
            guard modes.contains(.durable) else {
                print("== cost: skipped (the durable mode's cost per job; --modes has no durable)\n")
                continue
            }
            result = try DurableCostScenario(shepherdRuns: quick ? 50 : 500, requests: quick ? 200 : 2_000,
                                             spoolWrites: quick ? 200 : 2_000, roundTrips: quick ? 50 : 500, slots: cpus,
                                             shepherd: shepherdPath, durable: setup(.durable, name),
                                             embedded: modes.contains(.embedded) ? setup(.embedded, name) : nil,
                                             temporaryDirectory: temporaryDirectory).run()
        }
        for table in result.tables { print(table.render()) }
        print("   (\(name): \(format(seconds(since: scenarioStart), 1)) s, load average now \(format(loadAverage(), 2)))\n")
        results.append(result)
    } catch {
        print("== \(name): FAILED: \(error)\n")
        failures.append((name, "\(error)"))
    }
    fflush(nil)
}

// Every daemon and shepherd of the run leaves by itself (the daemons a second after their last
// client); one still there after 30 s is killed, and the run fails.
let leftovers = ProcessTable.awaitExit(naming: temporaryDirectory, timeout: 30)
if !leftovers.isEmpty {
    print("FAILED: processes of the durable mode did not end by themselves (killed): \(leftovers.joined(separator: "; "))\n")
    failures.append(("cleanup", "processes outlived the run: \(leftovers.joined(separator: "; "))"))
}
removeTree(temporaryDirectory)

let targets = results.flatMap(\.targets)
if !targets.isEmpty {
    var table = Table(title: "targets", header: ["mode", "target", "goal", "measured", "met"], textColumns: 2)
    table.rows = targets.map { [$0.label, $0.name, $0.goal, $0.measured, $0.met ? "yes" : "NO"] }
    print(table.render())
}
let total = seconds(since: startedAt)
print("total \(format(total, 1)) s; \(failures.isEmpty ? "no failures" : "\(failures.count) scenario(s) FAILED")")

if let path = options.jsonPath {
    let json = JSON.object([
        ("date", .string(date)),
        ("nproc", .int(cpus)),
        ("kernel", .string(kernelName())),
        ("mode", .string(quick ? "quick" : "full")),
        ("modes", .array(modes.map { .string($0.rawValue) })),
        ("load_average_1min_at_start", .double(loadAtStart)),
        ("load_average_1min_at_end", .double(loadAverage())),
        ("total_s", .double(total)),
        ("scenarios", .object(results.map { ($0.name, $0.json) })),
        ("targets", .array(targets.map(\.json))),
        ("failures", .array(failures.map { .object([("scenario", .string($0.0)), ("error", .string($0.1))]) })),
    ])
    if let slash = path.lastIndex(of: "/") { makeDirectories(String(path[..<slash])) }
    do {
        try writeFile(path, json.render() + "\n")
        print("results written to \(path)")
    } catch {
        print("FAILED: \(error)")
        exit(1)
    }
}
exit(failures.isEmpty ? 0 : 1)
