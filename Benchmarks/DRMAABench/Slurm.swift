import DRMAACore
import Glibc
import LocalDRM
import SlurmDRM
import Synchronization

/// Slurm's commands, counted: how many times the backend ran each.
final class CountingSlurmCommands: SlurmCommands {
    private let inner = SystemSlurmCommands()
    private let counts = Mutex<[String: Int]>([:])

    func run(_ command: String, _ arguments: [String], input: [UInt8]) throws(DRMAAError) -> (status: Int32?, output: String, error: String) {
        counts.withLock { $0[command, default: 0] += 1 }
        return try inner.run(command, arguments, input: input)
    }

    /// The counts so far, and zero again.
    func take() -> [String: Int] { counts.withLock { counts in defer { counts = [:] }; return counts } }
}

/// The Slurm backend on the cluster that answers here (skipped without one): a bulk job of many
/// tasks is one sbatch and their status one squeue per poll; many trivial jobs from submission to
/// all reaped beside a plain shell script that submits them with sbatch and polls squeue at the
/// same interval, in the same run.
struct SlurmScenario {
    var bulkTasks: Int
    var jobs: Int
    var repeats: Int
    var interval: Double
    var temporaryDirectory: String

    func run() throws -> ScenarioResult {
        var result = ScenarioResult(name: "slurm")
        guard let sinfo = Command.find("sinfo"), let answer = try? Command.run(sinfo, ["-h", "-o", "%T"], timeout: 10),
              answer.exitStatus == 0, !answer.outputText.isEmpty else {
            var table = Table(title: "the Slurm backend", header: ["measure", "value"])
            table.notes.append("skipped: no Slurm controller answers here (Scripts/slurm-up.sh starts one)")
            result.tables.append(table)
            result.json = .object([("skipped", .string("no Slurm controller answers"))])
            return result
        }
        let commands = CountingSlurmCommands()
        let system = SlurmDRM(commands: commands)
        let version = system.drmsInfo

        // A bulk job: held, every task's status asked, released, waited for.
        let session = Session(system: system)
        try session.initialize(contact: "poll_min=0.1;poll_max=1")
        _ = commands.take()
        var start = monotonicNanoseconds()
        let ids = try session.runBulkJobs(quietTemplate(hold: true), beginIndex: 1, endIndex: bulkTasks, step: 1)
        let submitSeconds = seconds(since: start)
        let submitted = commands.take()
        start = monotonicNanoseconds()
        for id in ids where try session.jobStatus(id) != .userOnHold { throw BenchFailure("task \(id) is not held") }
        let statusSeconds = seconds(since: start)
        let statusCalls = commands.take()
        start = monotonicNanoseconds()
        try session.control(Session.jobIDsSessionAll, .release)
        try session.synchronize([Session.jobIDsSessionAll], timeout: .seconds(1_800), dispose: true)
        let runSeconds = seconds(since: start)
        let running = commands.take()
        try session.exit()

        var table = Table(title: "the Slurm backend on \(version): a bulk job of \(grouped(bulkTasks)) tasks (/bin/true)",
                          header: ["step", "seconds", "sbatch", "squeue", "sacct", "scontrol"], textColumns: 1)
        func row(_ name: String, _ seconds: Double, _ counts: [String: Int]) -> [String] {
            [name, format(seconds, 3)] + ["sbatch", "squeue", "sacct", "scontrol"].map { String(counts[$0] ?? 0) }
        }
        table.rows = [row("runBulkJobs (held)", submitSeconds, submitted),
                      row("jobStatus of every task", statusSeconds, statusCalls),
                      row("release all + synchronize", runSeconds, running)]
        let polls = running["squeue"] ?? 0
        table.notes.append("\(polls) polls while the tasks ran, each one squeue for all of them: \(format(Double(polls) / max(runSeconds, 0.001), 2)) squeue/s")
        result.tables.append(table)
        result.targets.append(TargetCheck(mode: .embedded, system: "slurm", name: "\(grouped(bulkTasks))-task bulk job", goal: "1 sbatch",
                                          measured: "\(submitted["sbatch"] ?? 0) sbatch", met: submitted["sbatch"] == 1))
        result.targets.append(TargetCheck(mode: .embedded, system: "slurm", name: "status of \(grouped(bulkTasks)) tasks", goal: "1 squeue per poll, not per job",
                                          measured: "\(statusCalls["squeue"] ?? 0) squeue for \(grouped(bulkTasks)) jobStatus", met: (statusCalls["squeue"] ?? 0) <= statusSqueueBound(statusSeconds)))

        // Trivial jobs: DRMAA beside the shell script, alternating, best of each.
        var drmaaTimes: [Double] = [], shellTimes: [Double] = []
        let script = """
            ids=
            i=0
            while [ $i -lt \(jobs) ]; do sbatch --parsable -o /dev/null -e /dev/null --wrap /bin/true >/dev/null || exit 1; i=$((i+1)); done
            uid=$(id -u)
            while [ -n "$(squeue -h -u $uid -t PD,R,CG,CF,S -o %i)" ]; do sleep \(interval); done
            """
        for _ in 0..<repeats {
            try awaitIdleQueue()
            shellTimes.append(try ChildProcess.run("/bin/sh", ["sh", "-c", script], timeout: 1_800))
            try awaitIdleQueue()
            let session = Session(system: SlurmDRM())
            try session.initialize(contact: "poll_min=\(interval);poll_max=\(interval)")
            let start = monotonicNanoseconds()
            for _ in 0..<jobs { _ = try session.runJob(quietTemplate()) }
            try session.synchronize([Session.jobIDsSessionAll], timeout: .seconds(1_800), dispose: true)
            drmaaTimes.append(seconds(since: start))
            try session.exit()
        }
        let drmaa = drmaaTimes.min() ?? .nan, shell = shellTimes.min() ?? .nan
        var versus = Table(title: "\(jobs) trivial jobs, submission to all reaped, polling every \(format(interval, 1)) s (best of \(repeats))",
                           header: ["client", "seconds", "jobs/s"], textColumns: 1)
        versus.rows = [["shell: sbatch x \(jobs), then squeue until empty", format(shell, 2), format(Double(jobs) / shell, 1)],
                       ["SlurmDRM: runJob x \(jobs), synchronize(dispose), exit statuses from sacct", format(drmaa, 2), format(Double(jobs) / drmaa, 1)]]
        versus.notes.append("ratio \(format(drmaa / shell, 3)) (all runs: shell \(shellTimes.map { format($0, 2) }.joined(separator: ", ")); SlurmDRM \(drmaaTimes.map { format($0, 2) }.joined(separator: ", ")))")
        result.tables.append(versus)
        result.targets.append(TargetCheck(mode: .embedded, system: "slurm", name: "\(jobs) jobs vs sbatch+squeue script", goal: "<= 1.1x",
                                          measured: format(drmaa / shell, 3) + "x", met: drmaa / shell <= 1.1))
        result.json = .object([
            ("version", .string(version)), ("bulk_tasks", .int(bulkTasks)),
            ("bulk_submit_s", .double(submitSeconds)), ("bulk_sbatch_calls", .int(submitted["sbatch"] ?? 0)),
            ("bulk_status_s", .double(statusSeconds)), ("bulk_status_squeue_calls", .int(statusCalls["squeue"] ?? 0)),
            ("bulk_run_s", .double(runSeconds)), ("bulk_run_squeue_calls", .int(polls)), ("bulk_run_sacct_calls", .int(running["sacct"] ?? 0)),
            ("jobs", .int(jobs)), ("interval_s", .double(interval)),
            ("drmaa_s", .array(drmaaTimes.map { .double($0) })), ("shell_s", .array(shellTimes.map { .double($0) })),
            ("ratio", .double(drmaa / shell)),
        ])
        return result
    }

    /// The most squeue calls status calls over `seconds` may cost: one per freshness interval of
    /// their own, and the poller's (at most one per `poll_min`, 0.1 s, here).
    func statusSqueueBound(_ seconds: Double) -> Int {
        Int(seconds / SlurmStatusFreshness.seconds) + 1 + Int(seconds / 0.1) + 1
    }

    /// Waits until the user has no job left in the queue (a run must not start beside the last one's jobs).
    func awaitIdleQueue() throws {
        guard let squeue = Command.find("squeue") else { throw BenchFailure("squeue is not on PATH") }
        for _ in 0..<600 {
            let answer = try Command.run(squeue, ["-h", "-u", String(getuid()), "-t", "PD,R,CG,CF,S", "-o", "%i"], timeout: 60)
            if answer.exitStatus == 0 && answer.outputText.isEmpty { return }
            pause(0.1)
        }
        throw BenchFailure("the Slurm queue did not empty within a minute")
    }
}

/// The Slurm backend's bound on a status answer's age (``SlurmDRM``'s documentation): status
/// calls in a row within it cost one squeue.
enum SlurmStatusFreshness { static let seconds = 1.0 }
