import DRMAACore
import Foundation
import Glibc
import LocalDRM
import Testing
import TestSupport

/// A private state directory with its own daemon, stopped (with SIGKILL, after its jobs ended)
/// and removed at the end; and sessions on it in the durable mode.
final class DurableFixture: Sendable {
    let state: String
    let home: String

    init() throws {
        let base = NSTemporaryDirectory() + "drmaa-durable-" + UUID().uuidString
        state = base + "/state"
        home = base + "/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
    }

    deinit {
        // Every test ends its jobs; the daemon is then idle and can go at once.
        if let pid = daemonPID() { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(atPath: (state as NSString).deletingLastPathComponent)
    }

    /// A new, initialised session (`contact` to re-attach).
    func session(slots: Int = 2, contact: String? = nil) throws -> Session {
        var configuration = LocalDRM.Configuration(slots: slots, homeDirectory: home)
        configuration.mode = .durable
        configuration.stateDirectory = state
        let session = Session(system: LocalDRM(configuration: configuration))
        try session.initialize(contact: contact)
        return session
    }

    func shell(_ script: String) -> JobTemplate {
        var template = JobTemplate()
        template.remoteCommand = "/bin/sh"
        template.args = ["-c", script]
        template.outputPath = ":/dev/null"
        template.joinFiles = true
        return template
    }

    func path(_ name: String) -> String { home + "/" + name }
    func read(_ name: String) -> String { (try? String(contentsOfFile: path(name), encoding: .utf8)) ?? "" }

    /// The running daemon's pid, from its log's last "serving" line.
    func daemonPID() -> pid_t? {
        guard let log = try? String(contentsOfFile: state + "/daemon.log", encoding: .utf8) else { return nil }
        guard let line = log.split(separator: "\n").last(where: { $0.contains(" serving ") }),
              let range = line.range(of: "(pid ") else { return nil }
        let digits = line[range.upperBound...].prefix(while: \.isNumber)
        guard let pid = pid_t(digits), kill(pid, 0) == 0 else { return nil }
        return pid
    }
}

@Suite("LocalDRM durable mode: jobs under the user's daemon", .serialized, .timeLimit(.minutes(2)))
struct DurableModeTests {
    @Test("a job outlives drmaa_exit, and a session re-attached by its contact reaps its outcome exactly once")
    func jobOutlivesExitAndIsReapedOnce() throws {
        let fixture = try DurableFixture()
        let first = try fixture.session()
        let id = try first.runJob(fixture.shell("sleep 0.3; echo done > \(fixture.path("out"))"))
        let contact = first.contact
        try first.exit()

        let second = try fixture.session(contact: contact)
        defer { try? second.exit() }
        let info = try second.wait(id, timeout: .seconds(30))
        #expect(info.hasExited && info.exitStatus == 0)
        #expect(fixture.read("out") == "done\n")
        expectDRMAAError(.invalidJob) { try second.wait(id, timeout: .noWait) }
    }

    @Test("drmaa_job_ps and drmaa_control accept another session's job; wait stays with its own session")
    func otherSessionsJobIsSeenAndControlled() throws {
        let fixture = try DurableFixture()
        let owner = try fixture.session()
        defer { try? owner.exit() }
        let id = try owner.runJob(fixture.shell("echo started > \(fixture.path("started")); sleep 30"))
        let other = try fixture.session()
        defer { try? other.exit() }
        let deadline = Date().addingTimeInterval(20)
        while fixture.read("started").isEmpty && Date() < deadline { usleep(10_000) }
        #expect(try other.jobStatus(id) == .running)
        expectDRMAAError(.invalidJob) { try other.wait(id, timeout: .noWait) }
        try other.control(id, .terminate)
        let info = try owner.wait(id, timeout: .seconds(30))
        #expect(info.wasAborted || info.hasSignal)
        expectDRMAAError(.invalidJob) { try other.jobStatus("999999") }
    }

    @Test("queued bulk tasks run after the session exits, each once, within the session's slots")
    func queuedTasksRunAfterExit() throws {
        let fixture = try DurableFixture()
        let first = try fixture.session(slots: 1)
        let ids = try first.runBulkJobs(fixture.shell("echo $DRMAA_TASK_ID >> \(fixture.path("tasks"))"),
                                        beginIndex: 1, endIndex: 4, step: 1)
        let contact = first.contact
        try first.exit()
        let second = try fixture.session(slots: 1, contact: contact)
        defer { try? second.exit() }
        try second.synchronize(ids, timeout: .seconds(60), dispose: true)
        let lines = fixture.read("tasks").split(separator: "\n").sorted()
        #expect(lines == ["1", "2", "3", "4"])
    }

    @Test("the daemon killed with SIGKILL while a job runs and another queues: after its restart both end, each once")
    func daemonRestartKeepsRunningAndQueuedJobs() throws {
        let fixture = try DurableFixture()
        let first = try fixture.session(slots: 1)
        let running = try first.runJob(fixture.shell("echo run >> \(fixture.path("a")); sleep 1"))
        let queued = try first.runJob(fixture.shell("echo run >> \(fixture.path("b"))"))
        let contact = first.contact
        try first.exit()
        let deadline = Date().addingTimeInterval(20)
        while fixture.read("a").isEmpty && Date() < deadline { usleep(10_000) }
        let daemon = try #require(fixture.daemonPID())
        kill(daemon, SIGKILL)
        while kill(daemon, 0) == 0 { usleep(5_000) }

        let second = try fixture.session(slots: 1, contact: contact)
        defer { try? second.exit() }
        #expect(try second.wait(running, timeout: .seconds(30)).exitStatus == 0)
        #expect(try second.wait(queued, timeout: .seconds(30)).exitStatus == 0)
        #expect(fixture.read("a") == "run\n")
        #expect(fixture.read("b") == "run\n")
    }
}

extension DurableModeTests {
    @Test("a shepherd killed with SIGKILL: its job is killed with it and ends FAILED with the reason")
    func killedShepherdTakesItsJob() throws {
        let fixture = try DurableFixture()
        let session = try fixture.session()
        defer { try? session.exit() }
        let id = try session.runJob(fixture.shell("echo $$ > \(fixture.path("pid")); exec sleep 30"))
        let deadline = Date().addingTimeInterval(20)
        while fixture.read("pid").isEmpty && Date() < deadline { usleep(10_000) }
        let job = try #require(pid_t(fixture.read("pid").trimmingCharacters(in: .whitespacesAndNewlines)))
        // The job's parent is its shepherd.
        let stat = try String(contentsOfFile: "/proc/\(job)/stat", encoding: .utf8)
        let fields = stat[stat.range(of: ")")!.upperBound...].split(separator: " ")
        let shepherd = try #require(pid_t(fields[1]))
        #expect(try String(contentsOfFile: "/proc/\(shepherd)/cmdline", encoding: .utf8).contains("drmaa-shepherd"))
        kill(shepherd, SIGKILL)
        let info = try session.wait(id, timeout: .seconds(30))
        #expect(info.wasAborted)
        #expect(info.abortReason?.contains("shepherd") == true)
        #expect(info.abortReason?.contains("killed with it") == true)
        var gone = false
        for _ in 0..<500 where !gone {
            gone = kill(job, 0) != 0
            if !gone { usleep(10_000) }
        }
        #expect(gone, "the job \(job) outlived its shepherd")
    }
}

extension DurableModeTests {
    @Test("the contact's mode= takes embedded or durable only (7); the durable mode refuses what it cannot carry to the daemon (10)")
    func modeChoicesAndRefusals() throws {
        let fixture = try DurableFixture()
        let bogus = Session(system: LocalDRM(mode: .embedded))
        let error = expectDRMAAError(.invalidContactString) { try bogus.initialize(contact: "mode=cluster") }
        #expect(error?.message.contains("embedded or durable") == true)

        var inMemory = LocalDRM.Configuration(homeDirectory: fixture.home)
        inMemory.mode = .durable
        inMemory.stateDirectory = fixture.state
        inMemory.jobCategories = JobCategories()
        expectDRMAAError(.drmsInitFailed) { try Session(system: LocalDRM(configuration: inMemory)).initialize() }

        var sequence = LocalDRM.Configuration(homeDirectory: fixture.home,
                                              terminateSequence: [LocalDRM.TeardownStep(signal: SIGINT, seconds: 1)])
        sequence.mode = .durable
        sequence.stateDirectory = fixture.state
        expectDRMAAError(.drmsInitFailed) { try Session(system: LocalDRM(configuration: sequence)).initialize() }

        // The contact wins over the configuration: this session runs its jobs in this process.
        let embedded = try fixture.session(contact: "mode=embedded")
        defer { try? embedded.exit() }
        #expect(embedded.contact.contains("mode=embedded"))
        #expect(fixture.daemonPID() == nil)
    }
}

extension DurableModeTests {
    /// The parent of the job that wrote its `$PPID` into `name`.
    private func parent(_ fixture: DurableFixture, _ name: String) -> pid_t? {
        pid_t(fixture.read(name).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test("jobs one after another run under one pooled shepherd; a job with a nice level gets a shepherd of its own; a dead idle one is replaced")
    func pooledShepherds() throws {
        let fixture = try DurableFixture()
        let session = try fixture.session(slots: 1)
        defer { try? session.exit() }
        for name in ["p1", "p2"] {
            let id = try session.runJob(fixture.shell("echo $PPID > \(fixture.path(name))"))
            #expect(try session.wait(id, timeout: .seconds(30)).exitStatus == 0)
        }
        let pooled = try #require(parent(fixture, "p1"))
        #expect(parent(fixture, "p2") == pooled, "the second job had another parent than the first")
        #expect(try String(contentsOfFile: "/proc/\(pooled)/cmdline", encoding: .utf8).contains("--pool"))

        var niced = fixture.shell("echo $PPID > \(fixture.path("n")); cut -d' ' -f19 /proc/$$/stat > \(fixture.path("nice"))")
        niced.nativeSpecification = "--nice 7"
        let id = try session.runJob(niced)
        #expect(try session.wait(id, timeout: .seconds(30)).exitStatus == 0)
        #expect(parent(fixture, "n") != pooled)
        #expect(fixture.read("nice") == "7\n")

        // The idle pooled shepherd dies: the next job gets another, and runs.
        kill(pooled, SIGKILL)
        let next = try session.runJob(fixture.shell("echo $PPID > \(fixture.path("p3"))"))
        #expect(try session.wait(next, timeout: .seconds(30)).exitStatus == 0)
        let replacement = try #require(parent(fixture, "p3"))
        #expect(replacement != pooled)
        // The nice level of the one-shot job did not stick to the pool.
        let stat = try String(contentsOfFile: "/proc/\(replacement)/stat", encoding: .utf8)
        #expect(stat[stat.range(of: ")")!.upperBound...].split(separator: " ")[16] == "0")
    }
}

extension DurableModeTests {
    @Test("TERMINATE of held bulk tasks: every outcome is durable (the daemon killed right after), each reaped once, none ran")
    func terminatedHeldTasksAreDurable() throws {
        let fixture = try DurableFixture()
        let first = try fixture.session()
        var template = fixture.shell("echo ran >> \(fixture.path("ran"))")
        template.jobSubmissionState = .hold
        let ids = try first.runBulkJobs(template, beginIndex: 1, endIndex: 300, step: 1)
        try first.control(Session.jobIDsSessionAll, .terminate)
        let contact = first.contact
        try first.exit()
        let daemon = try #require(fixture.daemonPID())
        kill(daemon, SIGKILL)
        while kill(daemon, 0) == 0 { usleep(5_000) }

        let second = try fixture.session(contact: contact)
        defer { try? second.exit() }
        var reaped = Set<String>()
        for _ in ids {
            let info = try second.wait(Session.jobIDsSessionAny, timeout: .seconds(30))
            #expect(info.wasAborted && !info.hasExited, "\(info.jobID): \(info)")
            #expect(reaped.insert(info.jobID).inserted, "\(info.jobID) reaped twice")
        }
        #expect(reaped == Set(ids))
        expectDRMAAError(.invalidJob) { try second.wait(Session.jobIDsSessionAny, timeout: .noWait) }
        #expect(fixture.read("ran").isEmpty)
    }
}
