import DRMAACore
import Glibc
import LocalDRM
import Synchronization
import Testing
@testable import SlurmDRM

@Suite("Slurm: batch scripts and what Slurm's commands print", .timeLimit(.minutes(1)))
struct SlurmRecordTests {
    @Test("the batch script gives the command its argv and environment byte for byte (quotes, $, newlines, globs, invalid UTF-8)")
    func scriptRoundTrips() throws {
        let words = ["plain", "with space", "it's", "\"double\"", "$HOME", "`date`", "*", "a\nb", "back\\slash", "", "-n",
                     String(exactBytes: [0xFF, 0xFE, 0x41])]
        var template = JobTemplate()
        template.remoteCommand = "/usr/bin/printf"
        template.args = ["%s|"] + words
        template.jobEnvironment = ["DRMAA_TEST_VALUE": "it's $x\nand `more`"]
        let builder = try Submission(jobID: "1", taskIndexes: nil, template: template, homeDirectory: "/tmp", submissionTime: 0,
                                     timeZone: FixedOffsetTimeZone.utc)
        let batch = BatchSubmission(builder, sessionTag: "drmaa:t", nativeWords: [], localTime: { String($0) })
        let sh = try #require(Command.find("sh"))
        let result = try Command.run(sh, ["-s"], input: batch.script, timeout: 30)
        #expect(result.exitStatus == 0)
        #expect(result.output == (words.flatMap { $0.exactBytes + [0x7C] }))
        template.remoteCommand = "/bin/sh"
        template.args = ["-c", "printf %s \"$DRMAA_TEST_VALUE\""]
        let printEnv = BatchSubmission(try Submission(jobID: "1", taskIndexes: nil, template: template, homeDirectory: "/tmp", submissionTime: 0,
                                                      timeZone: FixedOffsetTimeZone.utc),
                                       sessionTag: "drmaa:t", nativeWords: [], localTime: { String($0) })
        let env = try Command.run(sh, ["-s"], input: printEnv.script, timeout: 30)
        #expect(env.outputText == "it's $x\nand `more`")
    }

    @Test("sbatch options: names, paths with % escaped, $drmaa_incr_ph$ as %a, join, hold, time limit, array with step, session tag, native words last")
    func options() throws {
        var template = JobTemplate()
        template.remoteCommand = "/bin/true"
        template.jobName = "job"
        template.outputPath = ":$drmaa_hd_ph$/out%.$drmaa_incr_ph$"
        template.joinFiles = true
        template.jobSubmissionState = .hold
        template.hardWallclockTimeLimit = 3_661
        template.nativeSpecification = "-c 2"
        let submission = try Submission(jobID: "", taskIndexes: stride(from: 1, through: 9, by: 4), template: template,
                                        homeDirectory: "/home/u", submissionTime: 0, timeZone: FixedOffsetTimeZone.utc)
        let batch = BatchSubmission(submission, sessionTag: "drmaa:k", nativeWords: ["-c", "2"], localTime: { String($0) })
        #expect(batch.options == ["--parsable", "--job-name=job", "--chdir=/home/u", "--output=/home/u/out%%.%a", "--hold",
                                  "--time=0-01:01:01", "--comment=drmaa:k", "--array=1-9:4", "-c", "2"])
    }

    @Test("the script enters the working directory itself (Slurm would run the job in /tmp): a missing one ends it with status 1; a task's own directory via $SLURM_ARRAY_TASK_ID")
    func workingDirectory() throws {
        var template = JobTemplate()
        template.remoteCommand = "/bin/echo"
        template.args = ["ran"]
        template.workingDirectory = "/nonexistent-drmaa-dir/$drmaa_incr_ph$/x"
        let bulk = try Submission(jobID: "", taskIndexes: stride(from: 1, through: 2, by: 1), template: template,
                                  homeDirectory: "/tmp", submissionTime: 0, timeZone: FixedOffsetTimeZone.utc)
        let batch = BatchSubmission(bulk, sessionTag: "drmaa:t", nativeWords: [], localTime: { String($0) })
        #expect(batch.options.contains("--chdir=/nonexistent-drmaa-dir"))
        let text = String(decoding: batch.script, as: UTF8.self)
        #expect(text.contains("cd -- '/nonexistent-drmaa-dir/'\"$SLURM_ARRAY_TASK_ID\"'/x' || "), "\(text)")
        let sh = try #require(Command.find("sh"))
        let result = try Command.run(sh, ["-s"], input: batch.script, timeout: 30)
        #expect(result.exitStatus == 1)
        #expect(result.outputText.isEmpty)
        #expect(result.errorText.contains("cannot enter its working directory"))
    }

    @Test("squeue's array records expand to their tasks; states map as DRMAA clients expect")
    func queue() {
        let text = "7_[1-3,5%2]|PENDING|JobHeldUser\n8|RUNNING|None\n9_[2-6:2]|PENDING|Priority\n10|PENDING|JobHeldAdmin\n11|SUSPENDED|None\n"
        let jobs = SlurmRecords.queue(text)
        #expect(Set(jobs.keys) == ["7_1", "7_2", "7_3", "7_5", "8", "9_2", "9_4", "9_6", "10", "11"])
        #expect(jobs["7_2"].flatMap { SlurmRecords.state($0, suspendedByUs: false) } == .userOnHold)
        #expect(jobs["10"].flatMap { SlurmRecords.state($0, suspendedByUs: false) } == .systemOnHold)
        #expect(jobs["9_4"].flatMap { SlurmRecords.state($0, suspendedByUs: false) } == .queuedActive)
        #expect(jobs["8"].flatMap { SlurmRecords.state($0, suspendedByUs: false) } == .running)
        #expect(jobs["11"].flatMap { SlurmRecords.state($0, suspendedByUs: true) } == .userSuspended)
        #expect(jobs["11"].flatMap { SlurmRecords.state($0, suspendedByUs: false) } == .systemSuspended)
        #expect(SlurmRecords.state(.init(state: "COMPLETED", reason: "None"), suspendedByUs: false) == nil)
        // Malformed records never trap.
        #expect(SlurmRecords.expand("7_[-,:,1-,x-3,5:0]") == ["7_1"])
        #expect(SlurmRecords.memoryKiB("infK") == nil && SlurmRecords.memoryKiB("nanM") == nil && SlurmRecords.memoryKiB("1e300G") == nil)
        let limited = SlurmRecords.queue("20|RUNNING|None|1:30\n21|RUNNING|None|UNLIMITED\n22|RUNNING|None|1-00:00:05\n")
        #expect(limited["20"]?.timeLeft == 90)
        #expect(limited["21"]?.timeLeft == nil)
        #expect(limited["22"]?.timeLeft == 86_405)
    }

    @Test("outcomes: exit status and signal exact for COMPLETED and FAILED; TIMEOUT, OUT_OF_MEMORY, CANCELLED… are aborts that say why")
    func outcomes() {
        let utc = FixedOffsetTimeZone.utc
        let sacct = "12|FAILED|3:0|2026-12-02T21:37:00|2026-12-02T21:37:01|2026-12-02T21:37:03|00:01.500|\n12.batch|FAILED|3:0|||||2048K\n13|CANCELLED by 0|0:15||||00:00:00|\n14_2|TIMEOUT|0:0||||01:02:03|\n15|FAILED|0:9||||00:00.010|\n"
        let jobs = SlurmRecords.accounting(sacct, timeZone: utc)
        let failed = SlurmRecords.outcome(jobs["12"]!)
        #expect(failed.termination == .exited(status: 3))
        #expect(failed.usage?.maxRSS == 2048)
        #expect(failed.usage?.userTime == 1.5)
        #expect(failed.usage.map { $0.endTime - $0.startTime } == 2)
        #expect(SlurmRecords.outcome(jobs["15"]!).termination == .signaled(signal: 9, coreDumped: false))
        if case .aborted(let reason) = SlurmRecords.outcome(jobs["13"]!).termination { #expect(reason.contains("cancelled")) } else { Issue.record("CANCELLED is an abort") }
        if case .aborted(let reason) = SlurmRecords.outcome(jobs["14_2"]!).termination { #expect(reason.contains("time limit")) } else { Issue.record("TIMEOUT is an abort") }
        #expect(jobs["14_2"]?.cpuSeconds == 3723)
        // Tasks that never ran: one record for all of them, no node, no usage (wait gives NO_RUSAGE).
        let pending = SlurmRecords.accounting("16_1|COMPLETED|0:0|2026-12-02T21:37:00|2026-12-02T21:37:01|2026-12-02T21:37:02|00:00:01||vm\n16_[2-4%1]|CANCELLED by 0|0:0|2026-12-02T21:37:00|None|2026-12-02T21:37:05|00:00:00||None assigned\n", timeZone: utc)
        #expect(Set(pending.keys) == ["16_1", "16_2", "16_3", "16_4"])
        #expect(SlurmRecords.outcome(pending["16_1"]!).usage != nil)
        #expect(SlurmRecords.outcome(pending["16_3"]!).usage == nil)
        #expect(SlurmRecords.outcome(pending["16_3"]!).termination != .exited(status: 0))
    }

    @Test("scontrol show job -o: values with spaces, array tasks by their task id")
    func controller() {
        let line = "JobId=5 ArrayJobId=2 ArrayTaskId=1 JobName=my job Command=/bin/echo a b JobState=COMPLETED Reason=None ExitCode=0:0 SubmitTime=2026-12-02T21:37:00 StartTime=Unknown EndTime=2026-12-02T21:37:01\nJobId=6 JobName=x JobState=FAILED Reason=NonZeroExitCode ExitCode=2:0\n"
        let jobs = SlurmRecords.controller(line, timeZone: FixedOffsetTimeZone.utc)
        #expect(jobs["2_1"]?.state == "COMPLETED")
        #expect(jobs["2_1"]?.start == nil)
        #expect(SlurmRecords.keyValues(String(line.split(separator: "\n")[0]))["Command"] == "/bin/echo a b")
        #expect(jobs["6"]?.exitCode == 2)
        let unsplit = SlurmRecords.controller("JobId=45 ArrayJobId=45 ArrayTaskId=1,4,7 JobState=CANCELLED Reason=JobHeldUser ExitCode=0:0 NodeList=(null)\n", timeZone: FixedOffsetTimeZone.utc)
        #expect(Set(unsplit.keys) == ["45_1", "45_4", "45_7"])
        #expect(unsplit["45_4"]?.ran == false)
    }

    @Test("a refusal names sbatch's own message; a controller that cannot be reached is DRM_COMMUNICATION_FAILURE")
    func refusals() {
        #expect(SlurmBackend.refusal("sbatch", "sbatch: error: invalid partition specified: nope\n").code == .deniedByDRM)
        #expect(SlurmBackend.refusal("sbatch", "sbatch: error: invalid partition specified: nope").message.contains("invalid partition specified: nope"))
        #expect(SlurmBackend.refusal("squeue", "slurm_load_jobs error: Unable to contact slurm controller (connect failure)").code == .drmCommunicationFailure)
    }
    @Test("the session journal: submissions and reaped ids read back; a torn or foreign line is skipped; keys become safe file names")
    func journal() {
        let text = "submitted 41\nsubmitted 42 1 9 4\nreaped 41 42_5\nsubmitted 43 2 1 1\nsubmi\nsubmitted 44 1 3"
        let (submitted, reaped) = SessionJournal.parse(text)
        #expect(submitted.map(\.id) == ["41", "42"])
        #expect(submitted.flatMap(\.jobIDs) == ["41", "42_1", "42_5", "42_9"])
        #expect(reaped == ["41", "42_5"])
        #expect(SessionJournal.fileName("p12-345") == "p12-345")
        #expect(SessionJournal.fileName("../x") == "x2e2e2f78")
        #expect(SessionJournal.fileName(".hidden") == "x2e68696464656e")
        #expect(arrayBounds(stride(from: 1, through: 10, by: 3)) == (1, 10, 3))
        #expect(arrayBounds(stride(from: 5, through: 5, by: 2)) == (5, 5, 1))
    }

    @Test("--task-limit=n, --task-limit n and -tc n become the array's %n; a bad limit is DENIED_BY_DRM; categories come first")
    func taskLimitAndCategories() throws {
        let backend = SlurmBackend(system: SlurmDRM(commands: FakeSlurm()), sessionKey: "k", table: JobTable(), pollInterval: 1...1,
                                   categories: ["big": ["--mem=4G", "-c", "4"]])
        var template = JobTemplate()
        template.remoteCommand = "/bin/true"
        template.jobCategory = "big"
        template.nativeSpecification = "-c 8 --task-limit=3 --gres='gpu:1'"
        let words = try backend.sbatchWords(template)
        #expect(words.words == ["--mem=4G", "-c", "4", "-c", "8", "--gres=gpu:1"])
        #expect(words.taskLimit == 3)
        template.nativeSpecification = "-tc 2"
        #expect(try backend.sbatchWords(template).taskLimit == 2)
        template.nativeSpecification = "--task-limit 5"
        #expect(try backend.sbatchWords(template).taskLimit == 5)
        for bad in ["--task-limit=0", "-tc", "--task-limit=x", "'unclosed"] {
            template.nativeSpecification = bad
            #expect(throws: DRMAAError.self, "\(bad)") { _ = try backend.sbatchWords(template) }
        }
        var submission = try Submission(jobID: "", taskIndexes: stride(from: 1, through: 100, by: 1), template: template,
                                        homeDirectory: "/h", submissionTime: 0, timeZone: FixedOffsetTimeZone.utc)
        submission = submission.named("9")
        let batch = BatchSubmission(submission, sessionTag: "drmaa:k", nativeWords: [], taskLimit: 4, localTime: { String($0) })
        #expect(batch.options.contains("--array=1-100%4"))
    }

    @Test("categories=<file>: each category's sbatch words; a malformed file is DRMS_INIT_FAILED naming the line")
    func categoryFile() throws {
        let directory = try scratchDirectory()
        defer { removeTree(directory) }
        let good = "\(directory)/good", bad = "\(directory)/bad"
        try writeText("# sbatch options by category\nbig --mem=4G -c 4\ngpu --gres='gpu:1'\n", to: good)
        try writeText("fine -c 1\nbroken --comment='open\n", to: bad)
        let system = SlurmDRM(commands: FakeSlurm())
        let backend = try #require(try system.makeBackend(sessionKey: "cat-test", options: [("categories", good)], jobs: JobTable()) as? SlurmBackend)
        #expect(backend.categories == ["big": ["--mem=4G", "-c", "4"], "gpu": ["--gres=gpu:1"]])
        do {
            _ = try system.makeBackend(sessionKey: "cat-test", options: [("categories", bad)], jobs: JobTable())
            Issue.record("a malformed category file must be refused")
        } catch {
            #expect(error.code == .drmsInitFailed)
            #expect(error.message.contains("\(bad):2"), "\(error.message)")
        }
    }
}

/// Records scontrol calls and refuses those naming `refused`, as Slurm refuses a job no longer pending.
final class RecordingControl: SlurmCommands {
    let refused: String
    let calls = Mutex<[[String]]>([])
    init(refusing refused: String) { self.refused = refused }

    func run(_ command: String, _ arguments: [String], input: [UInt8]) throws(DRMAAError) -> (status: Int32?, output: String, error: String) {
        calls.withLock { $0.append([command] + arguments) }
        let ids = arguments.last.map { $0.split(separator: ",").map(String.init) } ?? []
        return ids.contains(refused) ? (1, "", "scontrol: error: Job is no longer pending execution for job \(refused)\n") : (0, "", "")
    }
}

extension SlurmRecordTests {
    @Test("control of many ids: one scontrol per 1,000; a refusal is its chunk's only, as HOLD_INCONSISTENT_STATE")
    func controlInChunks() {
        let commands = RecordingControl(refusing: "9_1500")
        let backend = SlurmBackend(system: SlurmDRM(commands: commands), sessionKey: "k", table: JobTable(), pollInterval: 1...1)
        let ids = (1...2_500).map { "9_\($0)" }
        let errors = backend.control(ids, .hold)
        #expect(commands.calls.withLock { $0.count } == 3)
        #expect(commands.calls.withLock { $0.allSatisfy { $0.prefix(2) == ["scontrol", "hold"] } })
        #expect(Set(errors.keys) == Set(ids[1_000..<2_000]))
        #expect(errors["9_1500"]?.code == .holdInconsistentState)
    }
}

/// Answers `squeue --version` only: enough to make a backend without a cluster.
struct FakeSlurm: SlurmCommands {
    func run(_ command: String, _ arguments: [String], input: [UInt8]) throws(DRMAAError) -> (status: Int32?, output: String, error: String) {
        arguments == ["--version"] ? (0, "slurm 22.05.8\n", "") : (1, "", "not a cluster")
    }
}

func writeText(_ text: String, to path: String) throws {
    guard let file = fopen(path, "w") else { throw DRMAAError(.internalError, "cannot write \(path)") }
    defer { fclose(file) }
    fputs(text, file)
}
