import DRMAACore
import Foundation
import Glibc
import Synchronization
@testable import LocalDRM
import Testing

/// The order of a queue is observed through one slot: each job appends its name to `order`
/// when it starts, after a blocker that holds the slot until it is terminated.
private func runInOrder(_ f: Fixture, _ jobs: [(name: String, spec: String?, category: String?)]) throws -> [String] {
    let blocker = try f.session.runJob(f.template("/bin/sleep", ["30"]))
    #expect(try f.session.jobStatus(blocker) == .running)
    var ids: [String] = []
    for job in jobs {
        var template = f.shell("echo \(job.name) >> order")
        template.nativeSpecification = job.spec
        template.jobCategory = job.category
        ids.append(try f.session.runJob(template))
    }
    for id in ids { #expect(try f.session.jobStatus(id) == .queuedActive) }
    try f.session.control(blocker, .terminate)
    try f.session.synchronize(ids + [blocker], dispose: true)
    return f.read("order").split(separator: "\n").map(String.init)
}

@Suite("LocalDRM native specification, job categories and queue order", .timeLimit(.minutes(2)))
struct NativeSpecificationTests {
    @Test("the grammar: --name=value and --name value, later options override earlier ones")
    func grammar() throws {
        let options = try JobOptions().applying("--slots=2 --priority 10\t--nice=5 --task-limit=3 --slots 1")
        #expect(options.slots == 1 && options.priority == 10 && options.nice == 5 && options.taskLimit == 3)
        #expect(try JobOptions().applying("") == JobOptions())
        #expect(try JobOptions().applying("   ") == JobOptions())
    }

    @Test("unknown options, stray words, missing and out-of-range values are DENIED_BY_DRM naming the option",
          arguments: [
              ("--memory=4G", "unknown option '--memory'"),
              ("-pe smp", "option -pe needs a parallel environment name and a number of slots"),
              ("slots=2", "'slots=2' is not an option"),
              ("--slots", "option --slots needs a value"),
              ("--slots=0", "--slots=0 is invalid"),
              ("--slots=two", "--slots=two is invalid"),
              ("--nice=-1", "--nice=-1 is invalid: it takes a whole number from 0 to 2147483645"),
              ("--nice=x", "--nice=x is invalid"),
              ("--priority=2000", "--priority=2000 is too large: at most 1024"),
              ("--task-limit=0", "--task-limit=0 is invalid"),
              ("--", "'--' is not an option"),
          ])
    func invalid(specification: String, message: String) throws {
        let error = #expect(throws: DRMAAError.self) { try JobOptions().applying(specification) }
        #expect(error?.code == .deniedByDRM)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
    }

    @Test("a bad native specification fails runJob and runBulkJobs with DENIED_BY_DRM, recording no job")
    func refusedAtSubmission() throws {
        let f = try Fixture()
        var template = f.template("/bin/true")
        template.nativeSpecification = "--slots=1 --walltime=10"
        let single = #expect(throws: DRMAAError.self) { try f.session.runJob(template) }
        #expect(single?.code == .deniedByDRM && single?.message.contains("--walltime") == true)
        let bulk = #expect(throws: DRMAAError.self) { try f.session.runBulkJobs(template, beginIndex: 1, endIndex: 3, step: 1) }
        #expect(bulk?.code == .deniedByDRM)
        let none = #expect(throws: DRMAAError.self) { try f.session.wait(Session.jobIDsSessionAny, timeout: .noWait) }
        #expect(none?.code == .invalidJob)
    }

    @Test("--slots above the session's slots is DENIED_BY_DRM: it could never start")
    func tooManySlots() throws {
        let f = try Fixture(slots: 2)
        var template = f.template("/bin/true")
        template.nativeSpecification = "--slots=3"
        let error = #expect(throws: DRMAAError.self) { try f.session.runJob(template) }
        #expect(error?.code == .deniedByDRM && error?.message.contains("more than this session's 2") == true)
    }

    @Test("--priority orders the queue: higher first, then submission order")
    func priorityOrder() throws {
        let f = try Fixture(slots: 1)
        let order = try runInOrder(f, [
            ("a", nil, nil), ("b", "--priority=10", nil), ("c", nil, nil), ("d", "--priority=-5", nil), ("e", "--priority=10", nil),
        ])
        #expect(order == ["b", "e", "a", "c", "d"])
    }

    @Test("a released job keeps its place in submission order")
    func releasedJobKeepsItsPlace() throws {
        let f = try Fixture(slots: 1)
        let blocker = try f.session.runJob(f.template("/bin/sleep", ["30"]))
        var first = f.shell("echo first >> order")
        first.jobSubmissionState = .hold
        let held = try f.session.runJob(first)
        let second = try f.session.runJob(f.shell("echo second >> order"))
        try f.session.control(held, .release)
        try f.session.control(blocker, .terminate)
        try f.session.synchronize([held, second, blocker], dispose: true)
        #expect(f.read("order") == "first\nsecond\n")
    }

    @Test("--slots=n takes n slots; the first job in the queue is never overtaken by a smaller one")
    func slotsPerJob() throws {
        let f = try Fixture(slots: 2)
        let small = try f.session.runJob(f.template("/bin/sleep", ["30"]))
        let wide = f.sleeper(native: "--slots=2")
        let big = try f.session.runJob(wide)
        let later = try f.session.runJob(f.template("/bin/sleep", ["30"]))
        // One slot is free, but the two-slot job is first in line.
        #expect(try f.session.jobStatus(small) == .running)
        #expect(try f.session.jobStatus(big) == .queuedActive)
        #expect(try f.session.jobStatus(later) == .queuedActive)
        try f.session.control(small, .terminate)
        #expect(awaitState(f.session, big, .running))
        #expect(try f.session.jobStatus(later) == .queuedActive)
        try f.session.control(big, .terminate)
        #expect(awaitState(f.session, later, .running))
    }

    @Test("a job category stands for its native specification; the template's own options override it")
    func categories() throws {
        let f = try Fixture(slots: 1) { $0.jobCategories = JobCategories(["urgent": "--priority=100", "low": "--priority=-100"]) }
        let order = try runInOrder(f, [
            ("a", nil, "low"), ("b", nil, nil), ("c", nil, "urgent"), ("d", "--priority=200", "low"), ("e", nil, "unknown-category"),
        ])
        #expect(order == ["d", "c", "b", "e", "a"])
    }

    @Test("a category with an option beyond the session's slots is refused at submission")
    func categoryRefused() throws {
        let f = try Fixture(slots: 1) { $0.jobCategories = JobCategories(["wide": "--slots=4"]) }
        var template = f.template("/bin/true")
        template.jobCategory = "wide"
        let error = #expect(throws: DRMAAError.self) { try f.session.runJob(template) }
        #expect(error?.code == .deniedByDRM)
    }

    @Test("a category file: name and native specification per line, comments; named by the contact or $DRMAA_LOCAL_CATEGORIES")
    func categoryFile() throws {
        let text = "# site categories\nsmp   --slots=2 --priority=5\n\n  background --nice=19   # lowest\n"
        let categories = try JobCategories(parsing: text, origin: "cats")
        #expect(categories.specifications == ["smp": "--slots=2 --priority=5", "background": "--nice=19"])
        let bad = #expect(throws: DRMAAError.self) { try JobCategories(parsing: "ok --slots=1\nbad --gpus=1\n", origin: "cats") }
        #expect(bad?.code == .drmsInitFailed && bad?.message.hasPrefix("cats:2: job category 'bad'") == true)

        let path = NSTemporaryDirectory() + "drmaa-categories-" + UUID().uuidString
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fromContact = try LocalDRM.Settings(LocalDRM.Configuration(), categoriesPath: path) { _ in nil }
        #expect(fromContact.categories == categories)
        let fromEnvironment = try LocalDRM.Settings(LocalDRM.Configuration(), categoriesPath: nil) { $0 == "DRMAA_LOCAL_CATEGORIES" ? path : nil }
        #expect(fromEnvironment.categories == categories)
        let missing = #expect(throws: DRMAAError.self) {
            try LocalDRM.Settings(LocalDRM.Configuration(), categoriesPath: path + ".missing") { _ in nil }
        }
        #expect(missing?.code == .drmsInitFailed && missing?.message.contains("No such file") == true)
        let session = Session(system: LocalDRM())
        #expect(throws: DRMAAError.self) { try session.initialize(contact: "categories=\(path).missing") }
        try session.initialize(contact: "categories=\(path)")
        try session.exit()
    }

    @Test("a category file with CRLF line ends reads as with LF ends")
    func categoryFileWithCRLF() throws {
        let text = "# site categories\nsmp   --slots=2 --priority=5\n\n  background --nice=19   # lowest\n"
        let expected = try JobCategories(parsing: text, origin: "cats")
        #expect(try JobCategories(parsing: text.replacing("\n", with: "\r\n"), origin: "cats") == expected)
        #expect(try JobCategories(parsing: "a --slots=1\r\nb --nice=2", origin: "cats").specifications == ["a": "--slots=1", "b": "--nice=2"])
        let bad = #expect(throws: DRMAAError.self) { try JobCategories(parsing: "ok --slots=1\r\nbad --gpus=1\r\n", origin: "cats") }
        #expect(bad?.message.hasPrefix("cats:2: job category 'bad'") == true)
    }

    @Test("a category file path with a NUL byte is refused, not cut at the NUL")
    func categoryPathWithNUL() throws {
        let path = NSTemporaryDirectory() + "drmaa-categories-" + UUID().uuidString
        try "smp --slots=2\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let refused = #expect(throws: DRMAAError.self) {
            try LocalDRM.Settings(LocalDRM.Configuration(), categoriesPath: path + "\0.other") { _ in nil }
        }
        #expect(refused?.code == .drmsInitFailed)
        let session = Session(system: LocalDRM())
        #expect(throws: DRMAAError.self) { try session.initialize(contact: "categories=\(path)\0.other") }
        #expect(!session.isActive)
    }

    @Test("--nice=n: the job's processes run at nice level n")
    func nice() throws {
        let f = try Fixture()
        var template = f.shell("sleep 0.1; exec nice")
        template.nativeSpecification = "--nice=7"
        let info = try f.session.wait(try f.session.runJob(template))
        #expect(info.exitStatus == 0)
        #expect(f.read("out") == "7\n")
    }
}

@Suite("LocalDRM bulk task limit (--task-limit)", .timeLimit(.minutes(2)))
struct TaskLimitTests {
    @Test("at most n tasks of the bulk job run at once; a finished task lets the next one start")
    func limit() throws {
        let f = try Fixture(slots: 4)
        let template = f.sleeper(native: "--task-limit=2")
        let ids = try f.session.runBulkJobs(template, beginIndex: 1, endIndex: 6, step: 1)
        func states() throws -> [JobState] { try ids.map { try f.session.jobStatus($0) } }
        #expect(try states() == [.running, .running, .queuedActive, .queuedActive, .queuedActive, .queuedActive])
        try f.session.control(ids[0], .terminate)
        #expect(awaitState(f.session, ids[2], .running))
        #expect(try states().filter { $0 == .running }.count == 2)
        // A held task is passed over; its release puts it back in its place.
        try f.session.control(ids[3], .hold)
        try f.session.control(ids[1], .terminate)
        #expect(awaitState(f.session, ids[4], .running))
        try f.session.control(ids[3], .release)
        try f.session.control(ids[2], .terminate)
        #expect(awaitState(f.session, ids[3], .running))
        #expect(try states().filter { $0 == .running }.count == 2)
    }

    @Test("a throttled bulk job does not hold up other jobs")
    func othersPass() throws {
        let f = try Fixture(slots: 3)
        let template = f.sleeper(native: "--task-limit=1")
        let tasks = try f.session.runBulkJobs(template, beginIndex: 1, endIndex: 5, step: 1)
        let other = try f.session.runJob(f.template("/bin/sleep", ["30"]))
        #expect(try f.session.jobStatus(tasks[0]) == .running)
        #expect(try f.session.jobStatus(tasks[1]) == .queuedActive)
        #expect(try f.session.jobStatus(other) == .running)
    }

    @Test("every task of a throttled bulk job runs, also when tasks are terminated while parked")
    func allTasksRun() throws {
        let f = try Fixture(slots: 4)
        var template = f.template("/bin/sh", ["-c", "sleep 0.02"], output: ":/dev/null")
        template.nativeSpecification = "--task-limit=2"
        let ids = try f.session.runBulkJobs(template, beginIndex: 1, endIndex: 20, step: 1)
        for id in ids[10..<14] { try f.session.control(id, .terminate) }
        var exited = 0, aborted = 0
        for id in ids {
            let info = try f.session.wait(id)
            if info.wasAborted { aborted += 1 } else if info.hasExited { exited += 1 }
        }
        #expect(exited + aborted == 20)
        #expect(aborted <= 4)
    }
}

@Suite("LocalDRM terminate teardown", .timeLimit(.minutes(2)))
struct TeardownTests {
    @Test("TERMINATE sends SIGTERM first; a job that ignores it gets SIGKILL when the grace period ends")
    func graceThenKill() throws {
        let clock = ManualClock()
        let f = try Fixture(clock: clock) { $0.terminateSequence = [.init(signal: SIGTERM, seconds: 10)] }
        let id = try f.session.runJob(f.shell("trap '' TERM; echo $$ > pid; exec sleep 30"))
        let pid = try #require(Int32(f.awaitFile("pid")))
        try f.session.control(id, .terminate)
        #expect(try f.session.jobStatus(id) == .failed)
        clock.advance(by: 9.9)
        #expect(processState(pid) == "S" || processState(pid) == "R", "SIGTERM is ignored; the job is still alive")
        clock.advance(by: 0.1)
        let info = try f.session.wait(id)
        #expect(info.wasAborted && !info.hasSignal && !info.hasExited)
        #expect(processState(pid) == nil)
    }

    @Test("a job that handles SIGTERM can clean up and exit, the result still FAILED (aborted); a suspended job is continued so that it can",
          arguments: [false, true])
    func jobCleansUp(suspendedFirst: Bool) throws {
        let f = try Fixture(clock: ManualClock())
        let id = try f.session.runJob(f.shell("trap 'echo cleaned up; exit 0' TERM; echo $$ > pid; while :; do sleep 0.05; done"))
        let pid = try #require(Int32(f.awaitFile("pid")))
        if suspendedFirst {
            try f.session.control(id, .suspend)
            // dash starts `sleep` with vfork: if SIGSTOP reaches the child before its exec, the
            // shell stays in the kernel's vfork wait (state D) rather than stopping (T).
            #expect(awaitProcess(pid, state: "T", orStates: ["D"]))
        }
        try f.session.control(id, .terminate)
        let info = try f.session.wait(id)
        #expect(info.wasAborted)
        #expect(f.read("out") == "cleaned up\n")
    }

    @Test("a teardown of several steps sends each signal in turn; an empty one kills at once")
    func sequenceAsData() throws {
        let clock = ManualClock()
        let f = try Fixture(clock: clock) {
            $0.terminateSequence = [.init(signal: SIGINT, seconds: 1), .init(signal: SIGTERM, seconds: 1)]
        }
        let id = try f.session.runJob(f.shell("trap 'echo INT > int' INT; trap 'echo TERM > term' TERM; echo ready > ready; while :; do sleep 0.05; done"))
        _ = f.awaitFile("ready")
        try f.session.control(id, .terminate)
        #expect(f.awaitFile("int") == "INT")
        #expect(f.read("term").isEmpty)
        clock.advance(by: 1)
        #expect(f.awaitFile("term") == "TERM")
        clock.advance(by: 1)
        #expect(try f.session.wait(id).wasAborted)

        let g = try Fixture(clock: ManualClock()) { $0.terminateSequence = [] }
        let other = try g.session.runJob(g.shell("trap '' TERM; echo $$ > pid; exec sleep 30"))
        _ = g.awaitFile("pid")
        try g.session.control(other, .terminate)
        #expect(try g.session.wait(other).wasAborted)
    }

    @Test("the contact option grace=<seconds> sets the grace period; grace=0 kills at once")
    func graceContactOption() throws {
        let f = try Fixture(clock: ManualClock(), contact: "grace=0")
        let id = try f.session.runJob(f.shell("trap '' TERM; echo $$ > pid; exec sleep 30"))
        _ = f.awaitFile("pid")
        try f.session.control(id, .terminate)
        #expect(try f.session.wait(id).wasAborted)
        let session = Session(system: LocalDRM())
        let error = #expect(throws: DRMAAError.self) { try session.initialize(contact: "grace=-1") }
        #expect(error?.code == .invalidContactString)
    }
}

@Suite("LocalDRM slots configuration", .timeLimit(.minutes(2)))
struct SlotsConfigurationTests {
    @Test("slots: the contact option, else the configuration, else $DRMAA_LOCAL_SLOTS, else the CPUs")
    func precedence() throws {
        let environment: (String) -> String? = { $0 == LocalDRM.slotsVariable ? "3" : nil }
        #expect(try LocalDRM.Settings(.init(slots: 5), categoriesPath: nil, environment: environment).slots == 5)
        #expect(try LocalDRM.Settings(.init(), categoriesPath: nil, environment: environment).slots == 3)
        let cpus = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #expect(try LocalDRM.Settings(.init(), categoriesPath: nil) { _ in nil }.slots == cpus)
        #expect(try LocalDRM.Settings(.init(), categoriesPath: nil) { _ in "" }.slots == cpus)
    }

    @Test("an invalid $DRMAA_LOCAL_SLOTS fails initialize with DRMS_INIT_FAILED naming it", arguments: ["0", "two", "-1"])
    func invalidEnvironment(value: String) throws {
        let error = #expect(throws: DRMAAError.self) {
            try LocalDRM.Settings(.init(), categoriesPath: nil) { $0 == LocalDRM.slotsVariable ? value : nil }
        }
        #expect(error?.code == .drmsInitFailed && error?.message.contains("DRMAA_LOCAL_SLOTS='\(value)'") == true)
    }

    @Test("the contact option slots=<n> overrides the configuration")
    func contactSlots() throws {
        let f = try Fixture(slots: 4, contact: "slots=1")
        let first = try f.session.runJob(f.template("/bin/sleep", ["30"]))
        let second = try f.session.runJob(f.template("/bin/sleep", ["30"]))
        #expect(try f.session.jobStatus(first) == .running)
        #expect(try f.session.jobStatus(second) == .queuedActive)
    }
}

@Suite("LocalDRM building blocks: heap, manual clock, job environment", .timeLimit(.minutes(2)))
struct BuildingBlockTests {
    @Test("the heap yields its elements in order, also after filtering")
    func heap() {
        var heap = Heap<Int>()
        var generator = SystemRandomNumberGenerator()
        let values = (0..<500).map { _ in Int.random(in: 0..<1000, using: &generator) }
        for value in values { heap.insert(value) }
        heap.filter { $0 % 2 == 0 }
        var popped: [Int] = []
        while let value = heap.popMin() { popped.append(value) }
        #expect(popped == values.filter { $0 % 2 == 0 }.sorted())
    }

    @Test("a manual clock fires due timers in deadline order on advance, including ones scheduled meanwhile")
    func manualClock() {
        let clock = ManualClock(wallTime: 1000)
        let fired = Mutex<[String]>([])
        _ = clock.schedule(at: 2_000_000_000) { fired.withLock { $0.append("b") } }
        _ = clock.schedule(at: 1_000_000_000) {
            fired.withLock { $0.append("a") }
            _ = clock.schedule(at: clock.monotonicNow() + 500_000_000) { fired.withLock { $0.append("a+0.5") } }
        }
        let cancelled = clock.schedule(at: 1_500_000_000) { fired.withLock { $0.append("cancelled") } }
        clock.cancel(cancelled)
        _ = clock.schedule(at: 9_000_000_000) { fired.withLock { $0.append("late") } }
        clock.advance(by: 2)
        #expect(fired.withLock { $0 } == ["a", "a+0.5", "b"])
        #expect(clock.now() == 1002 && clock.monotonicNow() == 2_000_000_000)
        #expect(clock.pendingTimers == 1)
    }

    @Test("§10.36 the job environment: submitter's, drmaa_v_env over it, then DRMAA_JOB_ID / DRMAA_TASK_ID unless drmaa_v_env sets them")
    func environment() {
        let base = ["PATH=/usr/bin", "HOME=/h", "DRMAA_JOB_ID=parent", "DRMAA_TASK_ID=9", "KEEP=1"]
        let plain = JobEnvironment(base: base, overrides: [("HOME", "/other"), ("X", "a=b"), ("X", "c")])
        #expect(Set(plain.entries(jobID: "7", taskIndex: nil)) == ["PATH=/usr/bin", "KEEP=1", "HOME=/other", "X=c", "DRMAA_JOB_ID=7"])
        #expect(Set(plain.entries(jobID: "7.3", taskIndex: 3)) ==
                ["PATH=/usr/bin", "KEEP=1", "HOME=/other", "X=c", "DRMAA_JOB_ID=7.3", "DRMAA_TASK_ID=3"])
        #expect(plain.path == "/usr/bin")
        let own = JobEnvironment(base: base, overrides: [("DRMAA_JOB_ID", "mine"), ("PATH", "/opt/bin")])
        #expect(Set(own.entries(jobID: "7", taskIndex: nil)) == ["PATH=/opt/bin", "HOME=/h", "KEEP=1", "DRMAA_JOB_ID=mine"])
        #expect(own.path == "/opt/bin")
    }
}
