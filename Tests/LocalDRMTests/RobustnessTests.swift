import DRMAACore
import Foundation
import Glibc
@testable import LocalDRM
import Synchronization
import Testing

/// Edge cases found in review: each would have lost a job, crashed the host process or leaked.
@Suite("LocalDRM robustness", .timeLimit(.minutes(2)))
struct RobustnessTests {
    @Test("a throttled bulk job's parked tasks still run when the sibling that stood for them in the queue is terminated")
    func parkedTaskNotLost() throws {
        let f = try Fixture(slots: 2)
        let blocker = try f.session.runJob(f.template("/bin/sleep", ["30"]))
        let template = f.sleeper(native: "--task-limit=1")
        let tasks = try f.session.runBulkJobs(template, beginIndex: 1, endIndex: 3, step: 1)
        let urgent = f.sleeper(native: "--priority=10")
        let other = try f.session.runJob(urgent)
        #expect(try f.session.jobStatus(tasks[0]) == .running)
        #expect(try f.session.jobStatus(other) == .queuedActive)
        // Task 2 leaves the parked set for the queue, the urgent job takes the free slot, and
        // task 2 is terminated while still queued: task 3 must not stay parked for ever.
        try f.session.control(tasks[0], .terminate)
        #expect(awaitState(f.session, other, .running))
        try f.session.control(tasks[1], .terminate)
        try f.session.control(blocker, .terminate)
        #expect(awaitState(f.session, tasks[2], .running))
    }

    @Test("a bulk job of 20,000 tasks that all fail to start ends normally (no recursion per failed task)")
    func manyStartFailures() throws {
        let f = try Fixture(slots: 1)
        // A bare name not on the job's PATH fails in this process, before posix_spawn: the same
        // failure path (start, finish, next task) as a failed exec, at a fraction of the cost.
        let ids = try f.session.runBulkJobs(f.template("drmaa-test-no-such-command", output: ":/dev/null"), beginIndex: 1, endIndex: 20_000, step: 1)
        try f.session.synchronize([Session.jobIDsSessionAll])
        let info = try f.session.wait(ids[19_999])
        #expect(info.wasAborted && info.abortReason?.contains("drmaa-test-no-such-command") == true)
    }

    @Test("limits, grace periods and dates centuries ahead mean 'never', not an arithmetic overflow")
    func hugeTimes() throws {
        let f = try Fixture(configure: { $0.terminateSequence = [.init(signal: SIGTERM, seconds: 1e12)] })
        var template = f.template("/bin/sleep", ["30"])
        template.hardWallclockTimeLimit = 999_999_999_999
        template.hardRunDurationLimit = 999_999_999_999
        template.deadlineTime = "2400/01/01 00:00"
        let id = try f.session.runJob(template)
        #expect(try f.session.jobStatus(id) == .running)
        var later = f.template("/bin/true")
        later.startTime = "2399/12/31 23:59"
        let waiting = try f.session.runJob(later)
        #expect(try f.session.jobStatus(waiting) == .queuedActive)
        try f.session.control(waiting, .terminate)
        #expect(monotonic(10, plus: 1e300) == Int64.max && monotonic(10, plus: -5) == 10 && monotonic(10, plus: 1) == 1_000_000_010)
    }

    @Test("a run-duration limit fires once: a resume does not re-arm a spent limit")
    func spentRunLimit() throws {
        let clock = ManualClock()
        let f = try Fixture(clock: clock)
        var template = f.shell("trap 'echo X >> xcpu' XCPU; echo ready > ready; while :; do sleep 0.05; done")
        template.softRunDurationLimit = 10
        let id = try f.session.runJob(template)
        _ = f.awaitFile("ready")
        clock.advance(by: 10)
        #expect(f.awaitFile("xcpu") == "X")
        #expect(clock.pendingTimers == 0)
        try f.session.control(id, .suspend)
        try f.session.control(id, .resume)
        #expect(clock.pendingTimers == 0, "the spent soft limit is not armed again")
    }

    @Test("no timer outlives its job, even when jobs end while their bulk job is being submitted")
    func noTimerLeak() throws {
        let clock = ManualClock()
        let f = try Fixture(clock: clock)
        var template = f.template("/bin/true")
        template.jobSubmissionState = .hold
        template.deadlineTime = "2026/06/01 00:00"
        template.startTime = "2026/05/01 00:00"
        let session = f.session
        let stop = Atomic<Bool>(false)
        let terminator = Thread { while !stop.load(ordering: .relaxed) { try? session.control(Session.jobIDsSessionAll, .terminate) } }
        terminator.start()
        for _ in 0..<10 { _ = try f.session.runBulkJobs(template, beginIndex: 1, endIndex: 1_000, step: 1) }
        stop.store(true, ordering: .relaxed)
        try f.session.control(Session.jobIDsSessionAll, .terminate)
        try f.session.synchronize([Session.jobIDsSessionAll], dispose: true)
        #expect(clock.pendingTimers == 0)
    }

    @Test("invalid settings are refused at initialize: slots 0 (DRMS_INIT_FAILED), an empty categories= (INVALID_CONTACT_STRING)")
    func invalidSettings() throws {
        let zero = Session(system: LocalDRM(configuration: .init(slots: 0)))
        let error = #expect(throws: DRMAAError.self) { try zero.initialize() }
        #expect(error?.code == .drmsInitFailed && error?.message.contains("slots: 0") == true)
        let session = Session(system: LocalDRM())
        let contact = #expect(throws: DRMAAError.self) { try session.initialize(contact: "categories=") }
        #expect(contact?.code == .invalidContactString)
    }

    @Test("the queue's heap gives memory back after a burst")
    func heapShrinks() {
        var heap = Heap<Int>()
        for value in 0..<100_000 { heap.insert(value) }
        for _ in 0..<99_000 { heap.popMin() }
        #expect(heap.count == 1_000 && heap.elements.capacity < 10_000)
        #expect(heap.min == 99_000)
    }
}
