import DRMAACore
import Glibc
import LocalDRM

/// The job of the exit→wake measurement: this executable started with `--exit-stamp` writes
/// CLOCK_MONOTONIC (ns) as one line to its standard output and exits at once with `_exit(0)`.
/// The stamp is taken before the process's own exit, so the measured delay is an upper bound:
/// it also holds the kernel's tear-down of the process (measured separately as the floor).
func exitStampMain() -> Never {
    let line = Array("\(monotonicNanoseconds())\n".utf8)
    _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
    _exit(0)
}

/// Latency: the `runJob` → `wait` round trip of `/bin/true`, and the delay from a job's exit to
/// `wait` returning, in each mode, against the floor of a bare `posix_spawn` + blocking `waitpid`.
struct LatencyScenario {
    var count: Int
    var slots: Int
    var temporaryDirectory: String
    var setups: [ModeSetup]

    /// The durable mode's round-trip goal: three requests to the daemon, a shepherd and the job.
    static let durableRoundTripGoal = 0.002

    func run() throws -> ScenarioResult {
        var result = ScenarioResult(name: "latency")
        let helper = executablePath()
        var table = Table(title: "latency: \(count) sequential jobs, \(slots) slots (times in ms)",
                          header: ["mode", "measure", "p50", "p90", "p99", "max", "mean"], textColumns: 2)
        func row(_ mode: String, _ name: String, _ samples: Samples) -> [String] {
            [mode, name] + [samples.percentile(0.5), samples.percentile(0.9), samples.percentile(0.99), samples.largest, samples.mean]
                .map { format($0 * 1000, 3) }
        }
        var modeJSON: [(String, JSON)] = []

        for setup in setups {
            let stampFile = temporaryDirectory + "/stamps-" + setup.mode.rawValue
            let stamps = try StampReader(path: stampFile)
            defer { stamps.close() }
            let (roundTrips, stampTrips, wakeDelays) = try withSession(setup, slots: slots) { session in
                let template = quietTemplate()
                for _ in 0..<10 { try preflight(session, template) }  // warm-up: first spawns page in code
                var roundTrips: [Double] = []
                for _ in 0..<count {
                    let start = monotonicNanoseconds()
                    let id = try session.runJob(template)
                    let info = try session.wait(id, timeout: .seconds(30))
                    roundTrips.append(seconds(since: start))
                    try expectSuccess(info, "latency round trip")
                }
                var stamped = quietTemplate(helper, ["--exit-stamp"])
                stamped.outputPath = ":" + stampFile
                var stampTrips: [Double] = [], wakeDelays: [Double] = []
                for _ in 0..<count {
                    let start = monotonicNanoseconds()
                    let id = try session.runJob(stamped)
                    let info = try session.wait(id, timeout: .seconds(30))
                    let woke = monotonicNanoseconds()
                    try expectSuccess(info, "exit-to-wake")
                    let exited = try stamps.next()
                    stampTrips.append(Double(woke - start) / 1e9)
                    wakeDelays.append(Double(woke - exited) / 1e9)
                }
                return (Samples(roundTrips), Samples(stampTrips), Samples(wakeDelays))
            }
            let mode = setup.mode.rawValue
            table.rows += [
                row(mode, "runJob -> wait, /bin/true", roundTrips),
                row(mode, "runJob -> wait, exit-stamp helper", stampTrips),
                row(mode, "exit -> wait returns (DRMAA)", wakeDelays),
            ]
            modeJSON.append((mode, .object([
                ("round_trip_true", roundTrips.json),
                ("round_trip_stamp_helper", stampTrips.json),
                ("exit_to_wake", wakeDelays.json),
            ])))
            switch setup.mode {
            case .embedded:
                result.targets += [
                    TargetCheck(mode: .embedded, name: "exit->wake p50", goal: "< 1 ms", measured: milliseconds(wakeDelays.percentile(0.5)),
                                met: wakeDelays.percentile(0.5) < 0.001),
                    TargetCheck(mode: .embedded, name: "exit->wake p99", goal: "< 5 ms", measured: milliseconds(wakeDelays.percentile(0.99)),
                                met: wakeDelays.percentile(0.99) < 0.005),
                ]
            case .durable:
                let p50 = roundTrips.percentile(0.5)
                result.targets.append(TargetCheck(mode: .durable, name: "runJob->wait round trip p50 (/bin/true)",
                                                  goal: "< \(format(Self.durableRoundTripGoal * 1000, 0)) ms",
                                                  measured: milliseconds(p50), met: p50 < Self.durableRoundTripGoal))
            }
        }

        // The floor: the same helper, spawned and waited for with a blocking waitpid (the kernel
        // wakes the waiter directly, no supervisor thread in between).
        let stampFile = temporaryDirectory + "/stamps-floor"
        let stamps = try StampReader(path: stampFile)
        defer { stamps.close() }
        var floorDelays: [Double] = []
        for _ in 0..<count {
            let pid = try ChildProcess.spawn(helper, [helper, "--exit-stamp"], streams: .init(output: stampFile))
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let woke = monotonicNanoseconds()
            guard ChildProcess.exitedSuccessfully(status) else { throw BenchFailure("exit-stamp helper failed (status \(status))") }
            floorDelays.append(Double(woke - (try stamps.next())) / 1e9)
        }
        let floor = Samples(floorDelays)
        table.rows.append(row("-", "exit -> waitpid returns (floor)", floor))
        table.notes.append("exit = the helper's CLOCK_MONOTONIC stamp just before _exit(0); both exit rows include the kernel's process tear-down")
        if setups.contains(where: { $0.mode == .durable }) {
            table.notes.append("durable: runJob = 1 request to the daemon (submit; job ids come 32 per request), wait = 1 (reap); the job's exit reaches the client through its shepherd, the daemon and the spool")
        }
        result.tables.append(table)
        result.json = .object([("count", .int(count)), ("baselines", .object([("exit_to_waitpid_floor", floor.json)]))] + modeJSON)
        return result
    }
}

/// Reads the helper's stamps, one line per finished helper, from a file they append to.
final class StampReader {
    private let fd: Int32
    private var pending: [UInt8] = []

    init(path: String) throws(BenchFailure) {
        let created = open(path, O_RDONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard created >= 0 else { throw BenchFailure("cannot create \(path): \(String(cString: strerror(errno)))") }
        fd = created
    }

    /// The next stamp: the helper has exited, so its line is complete.
    func next() throws(BenchFailure) -> Int64 {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                guard let value = Int64(line) else { throw BenchFailure("malformed exit stamp '\(line)'") }
                return value
            }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw BenchFailure("the exit-stamp helper wrote no stamp") }
            pending += buffer[..<count]
        }
    }

    func close() { Glibc.close(fd) }
}
