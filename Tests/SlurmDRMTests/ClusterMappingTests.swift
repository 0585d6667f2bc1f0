import DRMAACore
import Glibc
import LocalDRM
import Testing
@testable import SlurmDRM

/// Runs one of Slurm's commands for a test (`sbatch`, `squeue`, `scontrol`); its output, or nil.
func slurm(_ command: String, _ arguments: [String]) -> String? {
    guard let path = Command.find(command), let result = try? Command.run(path, arguments, timeout: 60),
          result.exitStatus == 0 else { return nil }
    return result.outputText
}

/// A value of `scontrol show config` (`MinJobAge` → `2 sec`).
func slurmConfiguration(_ key: String) -> String? {
    slurm("scontrol", ["show", "config"])?.split(separator: "\n")
        .first { $0.hasPrefix(key + " ") }
        .flatMap { $0.split(separator: "=", maxSplits: 1).last }
        .map { String($0.drop(while: \.isWhitespace)) }
}

/// slurmctld forgets ended jobs soon enough (MinJobAge) for a test to see it.
let slurmForgetsSoon: Bool = slurmAnswers && (slurmConfiguration("MinJobAge").flatMap { Int($0.split(separator: " ").first ?? "") }.map { $0 <= 30 } ?? false)
/// `sacct` answers (accounting through slurmdbd).
let slurmHasAccounting: Bool = slurmAnswers && slurmConfiguration("AccountingStorageType")?.contains("slurmdbd") == true
/// The node enforces jobs' memory limits (task/cgroup).
let slurmEnforcesMemory: Bool = slurmAnswers && (slurmConfiguration("TaskPlugin")?.contains("cgroup") ?? false)

let clusterSkipReason: Comment = "run by make test-slurm, with DRMAA_SLURM_TESTS=1 and a Slurm controller that answers (Scripts/slurm-up.sh starts one)"

/// A session on the cluster with fast polling and a scratch directory, both ended by `close()`.
struct ClusterFixture {
    let session: Session
    let directory: String

    init() throws {
        session = Session(system: SlurmDRM())
        try session.initialize(contact: "poll_min=0.05;poll_max=0.5")
        directory = try scratchDirectory()
    }

    func close() {
        try? session.control(Session.jobIDsSessionAll, .terminate)
        try? session.exit()
        removeTree(directory)
    }

    func template(_ command: String, _ arguments: [String] = [], native: String? = nil, bulk: Bool = false) -> JobTemplate {
        var template = JobTemplate()
        template.remoteCommand = command
        template.args = arguments
        template.workingDirectory = directory
        template.outputPath = bulk ? ":\(directory)/out.$drmaa_incr_ph$" : ":\(directory)/out"
        template.joinFiles = true
        template.nativeSpecification = native
        return template
    }

    /// Waits up to `seconds` for `condition`.
    func eventually(_ seconds: Double = 60, _ condition: () throws -> Bool) rethrows -> Bool {
        for _ in 0..<Int(seconds * 20) {
            if try condition() { return true }
            usleep(50_000)
        }
        return try condition()
    }
}

@Suite("Slurm: arrays, foreign ids, suspend, usage and forgotten jobs on a real cluster", .serialized, .timeLimit(.minutes(5)),
       .enabled(if: slurmAnswers, clusterSkipReason))
struct SlurmClusterMappingTests {
    @Test("an array with --task-limit=2 runs as --array=…%2: Slurm shows the throttle and never runs more than 2 tasks at once")
    func throttle() throws {
        let f = try ClusterFixture()
        defer { f.close() }
        let ids = try f.session.runBulkJobs(f.template("/bin/sleep", ["2"], native: "--task-limit=2", bulk: true), beginIndex: 1, endIndex: 6, step: 1)
        let bulk = String(try #require(ids.first?.split(separator: "_").first))
        #expect(slurm("scontrol", ["show", "job", bulk])?.contains("ArrayTaskThrottle=2") == true)
        var most = 0
        while try !ids.allSatisfy({ [.done, .failed].contains(try f.session.jobStatus($0)) }) {
            let running = slurm("squeue", ["-h", "-r", "-t", "running", "-j", bulk, "-o", "%i"])?.split(separator: "\n").count ?? 0
            most = max(most, running)
            usleep(100_000)
        }
        #expect(most <= 2 && most >= 1, "at most \(most) tasks ran at once")
        for id in ids { #expect(try f.session.wait(id, timeout: .noWait).exitStatus == 0) }
    }

    @Test("a working directory that does not exist: the job does not run (Slurm alone would run it in /tmp); it ends with status 1")
    func missingWorkingDirectory() throws {
        let f = try ClusterFixture()
        defer { f.close() }
        var template = f.template("/bin/sh", ["-c", "touch \(f.directory)/ran"])
        template.workingDirectory = "\(f.directory)/missing"
        let id = try f.session.runJob(template)
        let info = try f.session.wait(id, timeout: .seconds(120))
        #expect(info.hasExited && info.exitStatus == 1)
        #expect(readFile("\(f.directory)/ran") == nil)
    }

    @Test("a job this session did not submit (plain sbatch): job_ps sees it, hold, release and terminate act on it")
    func foreignJob() throws {
        let f = try ClusterFixture()
        defer { f.close() }
        let foreign = try #require(slurm("sbatch", ["--parsable", "--hold", "-o", "/dev/null", "--wrap", "sleep 300"])?
            .split(separator: "\n").first.map(String.init))
        defer { _ = slurm("scancel", [foreign]) }
        #expect(try f.session.jobStatus(foreign) == .userOnHold)
        try f.session.control(foreign, .release)
        #expect(try f.eventually { try f.session.jobStatus(foreign) == .running })
        try f.session.control(foreign, .terminate)
        #expect(try f.eventually { try f.session.jobStatus(foreign) == .failed })
        // It is not this session's: waiting for it is refused.
        do {
            _ = try f.session.wait(foreign, timeout: .noWait)
            Issue.record("wait on another session's job must be refused")
        } catch {
            #expect(error.code == .invalidJob)
        }
    }

    @Test("suspend and resume (root is a Slurm operator): USER_SUSPENDED, then RUNNING; the job still ends with its own status",
          .enabled(if: getuid() == 0, "Slurm lets only operators suspend jobs, and this test is not run as root"))
    func suspendResume() throws {
        let f = try ClusterFixture()
        defer { f.close() }
        let id = try f.session.runJob(f.template("/bin/sh", ["-c", "sleep 3; exit 4"]))
        #expect(try f.eventually { try f.session.jobStatus(id) == .running })
        try f.session.control(id, .suspend)
        #expect(try f.session.jobStatus(id) == .userSuspended)
        try f.session.control(id, .resume)
        #expect(try f.eventually { try f.session.jobStatus(id) == .running })
        #expect(try f.session.wait(id, timeout: .seconds(120)).exitStatus == 4)
    }

    @Test("usage from sacct under LocalDRM's keys: cpu, ru_maxrss, ru_wallclock, start and end times",
          .enabled(if: slurmHasAccounting, "this Slurm has no accounting (Scripts/slurm-up.sh starts it with SLURM_ACCOUNTING=1, the default)"))
    func usage() throws {
        let f = try ClusterFixture()
        defer { f.close() }
        // Burns about a second of CPU time.
        let id = try f.session.runJob(f.template("/bin/sh", ["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"]))
        let usage = try f.session.wait(id, timeout: .seconds(120)).resourceUsage
        for key in ["cpu", "ru_maxrss", "ru_wallclock", "start_time", "end_time", "submission_time"] {
            #expect(usage[key] != nil, "usage has \(key): \(usage)")
        }
        #expect((usage["cpu"].flatMap(Double.init) ?? 0) > 0, "\(usage)")
    }

    @Test("a job that ended while its session was detached and that slurmctld forgot (MinJobAge): its exit status comes from sacct, not DONE",
          .enabled(if: slurmForgetsSoon, "slurmctld keeps ended jobs longer than 30 s (MinJobAge): Scripts/slurm-up.sh with SLURM_MINJOBAGE=2, as make test-slurm starts it"))
    func outlivesMinJobAge() throws {
        let f = try ClusterFixture()
        defer { f.close() }
        let id = try f.session.runJob(f.template("/bin/sh", ["-c", "exit 7"]))
        let contact = f.session.contact
        try f.session.exit()
        // slurmctld purges ended jobs older than MinJobAge every few seconds.
        #expect(f.eventually(120) { slurm("scontrol", ["show", "job", id]) == nil }, "slurmctld still lists job \(id)")
        try f.session.initialize(contact: contact)
        let info = try f.session.wait(id, timeout: .seconds(120))
        #expect(info.hasExited && info.exitStatus == 7)
    }
}

@Suite("Slurm: a wall-clock limit ends the job as TIMEOUT", .timeLimit(.minutes(5)), .enabled(if: slurmAnswers, clusterSkipReason))
struct SlurmTimeoutTests {
    @Test("drmaa_wct_hlimit of 60 s on a job that sleeps 300 s: FAILED, aborted, the reason names the time limit")
    func timeout() throws {
        let f = try ClusterFixture()
        defer { f.close() }
        var template = f.template("/bin/sleep", ["300"])
        template.hardWallclockTimeLimit = 60
        let id = try f.session.runJob(template)
        let info = try f.session.wait(id, timeout: .seconds(240))
        #expect(info.wasAborted)
        #expect(info.abortReason?.contains("time limit") == true, "\(info)")
    }

    @Test("memory enforcement: OUT_OF_MEMORY is FAILED with the reason, where the node enforces memory",
          .enabled(if: slurmEnforcesMemory, "this node does not enforce memory (it needs TaskPlugin=task/cgroup with ConstrainRAMSpace; the test node runs without cgroups)"))
    func outOfMemory() throws {
        let f = try ClusterFixture()
        defer { f.close() }
        let id = try f.session.runJob(f.template("/usr/bin/python3", ["-c", "x = bytearray(1 << 30); import time; time.sleep(5)"], native: "--mem=50M"))
        let info = try f.session.wait(id, timeout: .seconds(240))
        #expect(info.wasAborted && info.abortReason?.contains("memory") == true, "\(info)")
    }
}
