import Synchronization
import Testing
@testable import DRMAACore
import EmbeddedDRM

@Suite("wait and synchronize", .timeLimit(.minutes(1)))
struct WaitTests {
    @Test("§10.63 a job exiting with 3 is DONE before wait; wait gives exited, status 3, not aborted")
    func item63_exit3() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let id = try session.runJob(commandTemplate())
        backend.start(id)
        #expect(try session.jobStatus(id) == .running)
        backend.finish(id, .exited(status: 3))
        #expect(try session.jobStatus(id) == .done)
        #expect(try session.jobStatus(id).rawValue == 0x30)
        let info = try session.wait(id)
        #expect(info.jobID == id)
        #expect(info.hasExited)
        #expect(info.exitStatus == 3)
        #expect(!info.wasAborted)
        #expect(!info.hasSignal)
        #expect(info.terminatedSignal == "")
        #expect(!info.hasCoreDump)
        #expect(info.abortReason == nil)
        #expect(info.status.rawValue == 0x31)
    }

    @Test("§10.64 a job killed by SIGKILL (not through DRMAA): signalled, SIGKILL, not exited, DONE")
    func item64_selfKilled() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let id = try session.runJob(commandTemplate())
        backend.start(id)
        backend.finish(id, .signaled(signal: 9, coreDumped: false))
        #expect(try session.jobStatus(id) == .done)
        let info = try session.wait(id)
        #expect(info.hasSignal)
        #expect(info.terminatedSignal == "SIGKILL")
        #expect(!info.hasExited)
        #expect(!info.wasAborted)
        #expect(!info.hasCoreDump)
        #expect(info.status.rawValue == 0x9002)
        let core = try session.runJob(commandTemplate())
        backend.start(core)
        backend.finish(core, .signaled(signal: 11, coreDumped: true))
        let coreInfo = try session.wait(core)
        #expect(coreInfo.terminatedSignal == "SIGSEGV")
        #expect(coreInfo.hasCoreDump)
    }

    @Test("§10.65 wait and jobStatus on a reaped job are INVALID_JOB")
    func item65_reaped() throws {
        let (session, system) = try makeSession()
        let id = try session.runJob(commandTemplate())
        try system.requireBackend().finish(id, .exited(status: 0))
        _ = try session.wait(id)
        expectDRMAAError(.invalidJob) { try session.wait(id) }
        expectDRMAAError(.invalidJob) { try session.wait(id, timeout: .noWait) }
        expectDRMAAError(.invalidJob) { try session.jobStatus(id) }
        expectDRMAAError(.invalidJob) { try session.wait("never-submitted") }
    }

    @Test("§10.66 wait(SESSION_ANY) with no jobs is INVALID_JOB, also once all were reaped")
    func item66_anyWithoutJobs() throws {
        let (session, system) = try makeSession()
        expectDRMAAError(.invalidJob) { try session.wait(Session.jobIDsSessionAny) }
        let id = try session.runJob(commandTemplate())
        try system.requireBackend().finish(id, .exited(status: 0))
        #expect(try session.wait(Session.jobIDsSessionAny).jobID == id)
        expectDRMAAError(.invalidJob) { try session.wait(Session.jobIDsSessionAny) }
    }

    @Test("§10.67 wait(id, NO_WAIT) on a pending or running job is EXIT_TIMEOUT; a later wait succeeds")
    func item67_noWait() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let id = try session.runJob(commandTemplate())
        expectDRMAAError(.exitTimeout) { try session.wait(id, timeout: .noWait) }
        expectDRMAAError(.exitTimeout) { try session.wait(Session.jobIDsSessionAny, timeout: .noWait) }
        backend.start(id)
        expectDRMAAError(.exitTimeout) { try session.wait(id, timeout: .noWait) }
        // Timing out reaps nothing.
        #expect(try session.jobStatus(id) == .running)
        backend.finish(id, .exited(status: 0))
        let info = try session.wait(id, timeout: .forever)
        #expect(info.jobID == id)
    }

    @Test("§10.67 wait(id, NO_WAIT) on a finished job succeeds at once")
    func item67_noWaitFinished() throws {
        let (session, system) = try makeSession()
        let id = try session.runJob(commandTemplate())
        try system.requireBackend().finish(id, .exited(status: 1))
        #expect(try session.wait(id, timeout: .noWait).exitStatus == 1)
    }

    @Test("§10.68 wait(id, 0.05 s) on a job that does not finish is EXIT_TIMEOUT and reaps nothing")
    func item68_shortTimeout() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let id = try session.runJob(commandTemplate())
        backend.start(id)
        expectDRMAAError(.exitTimeout) { try session.wait(id, timeout: .seconds(0.05)) }
        expectDRMAAError(.exitTimeout) { try session.wait(Session.jobIDsSessionAny, timeout: .seconds(0.05)) }
        expectDRMAAError(.exitTimeout) { try session.synchronize([id], timeout: .seconds(0.05)) }
        #expect(try session.jobStatus(id) == .running)
        backend.finish(id, .exited(status: 0))
        _ = try session.wait(id, timeout: .seconds(0.05))
    }

    @Test("§10.69 wait(SESSION_ANY) returns each finished job exactly once, with its id")
    func item69_anyExactlyOnce() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        var ids = try (0..<5).map { _ in try session.runJob(commandTemplate()) }
        ids += try session.runBulkJobs(commandTemplate(), beginIndex: 1, endIndex: 3, step: 1)
        // Finish in an order different from submission.
        let order = [ids[3], ids[0], ids[6], ids[1], ids[7], ids[2], ids[5], ids[4]]
        for (n, id) in order.enumerated() { backend.finish(id, .exited(status: Int32(n))) }
        var seen: [String] = []
        for _ in ids {
            let info = try session.wait(Session.jobIDsSessionAny, timeout: .noWait)
            seen.append(info.jobID)
            #expect(info.exitStatus == Int32(order.firstIndex(of: info.jobID)!))
        }
        #expect(seen.sorted() == ids.sorted())
        #expect(Set(seen).count == ids.count)
        expectDRMAAError(.invalidJob) { try session.wait(Session.jobIDsSessionAny) }
    }

    @Test("§10.69 wait(SESSION_ANY) skips jobs reaped by wait(id) and returns jobs finished before the call")
    func item69_anySkipsReaped() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let a = try session.runJob(commandTemplate())
        let b = try session.runJob(commandTemplate())
        let c = try session.runJob(commandTemplate())
        backend.finish(a, .exited(status: 0))
        backend.finish(b, .exited(status: 0))
        _ = try session.wait(a)
        #expect(try session.wait(Session.jobIDsSessionAny).jobID == b)
        expectDRMAAError(.exitTimeout) { try session.wait(Session.jobIDsSessionAny, timeout: .noWait) }
        backend.finish(c, .exited(status: 0))
        #expect(try session.wait(Session.jobIDsSessionAny).jobID == c)
    }

    @Test("§10.70 a successful wait of a job that ran has usage entries with names and values")
    func item70_usage() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let id = try session.runJob(commandTemplate())
        backend.start(id)
        var usage = ResourceUsage()
        usage.userTime = 1.5
        usage.exitStatus = 3
        backend.finish(id, .exited(status: 3), usage: usage)
        let info = try session.wait(id)
        #expect(info.hasResourceUsage)
        #expect(!info.resourceUsage.isEmpty)
        for (name, value) in info.resourceUsage {
            #expect(!name.isEmpty && !name.contains("="))
            #expect(!value.isEmpty)
        }
        #expect(info.resourceUsage["exit_status"] == "3.0000")
        #expect(info.resourceUsage["ru_utime"] == "1.5000")
        #expect(info.resourceUsage["cpu"] == "1.5000")
    }

    @Test("a backend's extra usage entries are listed; one with a standard name replaces that value")
    func extraUsageEntries() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let id = try session.runJob(commandTemplate())
        backend.start(id)
        var usage = ResourceUsage()
        usage.extraEntries = [.init(name: "maxvmem", value: "1048576.0000"), .init(name: "slurm_state", value: "COMPLETED")]
        backend.finish(id, .exited(status: 0), usage: usage)
        let info = try session.wait(id)
        #expect(info.resourceUsage["maxvmem"] == "1048576.0000")
        #expect(info.resourceUsage["slurm_state"] == "COMPLETED")
        #expect(info.outcome.usage?.entries.filter { $0.name == "maxvmem" }.count == 1)
    }

    @Test("§10.72 two threads waiting for the same id: one succeeds, the other gets INVALID_JOB")
    func item72_twoWaitersSameID() throws {
        let (session, system) = try makeObservedSession()
        let id = try session.runJob(commandTemplate())
        let first = inBackground { try session.wait(id) }
        let second = inBackground { try session.wait(id) }
        system.awaitParked(2)
        system.backend.finish(id, .exited(status: 0))
        let results = [try #require(first.join()), try #require(second.join())]
        let successes = results.compactMap { try? $0.get() }
        #expect(successes.count == 1)
        #expect(successes.first?.jobID == id)
        #expect(results.compactMap(code) == [.invalidJob])
    }

    @Test("§10.73 N threads in wait(SESSION_ANY) on N jobs get N distinct ids")
    func item73_threadsWaitAny() throws {
        let n = 8
        let (session, system) = try makeObservedSession()
        let ids = try (0..<n).map { _ in try session.runJob(commandTemplate()) }
        let waiters = (0..<n).map { _ in inBackground { try session.wait(Session.jobIDsSessionAny) } }
        system.awaitParked(n)
        for id in ids { system.backend.finish(id, .exited(status: 0)) }
        let received = try waiters.map { try #require($0.join()).get().jobID }
        #expect(Set(received) == Set(ids))
        #expect(received.count == n)
    }

    @Test("§10.73 exactly-once delivery: threads looping on wait(SESSION_ANY) while jobs finish")
    func item73_exactlyOnceStress() throws {
        let jobs = 200, threads = 6
        let (session, system) = try makeObservedSession()
        let ids = try (0..<jobs).map { _ in try session.runJob(commandTemplate()) }
        let waiters = (0..<threads).map { _ in
            Background { () -> [String] in
                var mine: [String] = []
                while true {
                    do throws(DRMAAError) {
                        mine.append(try session.wait(Session.jobIDsSessionAny).jobID)
                    } catch {
                        if error.code != .invalidJob { mine.append("error \(error)") }
                        return mine
                    }
                }
            }
        }
        // Let some waiters park, then finish jobs from this thread and from two more threads.
        system.awaitParked(1)
        let finishers = [Array(ids[0..<70]), Array(ids[70..<140]), Array(ids[140...])].map { slice in
            Background { for id in slice { system.backend.finish(id, .exited(status: 0)) } }
        }
        for finisher in finishers { _ = finisher.join() }
        let delivered = waiters.flatMap { $0.join() ?? [] }
        #expect(delivered.count == jobs)
        #expect(Set(delivered) == Set(ids))
    }

    @Test("wait(SESSION_ANY) racing wait(id): the job goes to exactly one of them")
    func anyRacingSpecific() throws {
        for _ in 0..<20 {
            let (session, system) = try makeObservedSession()
            let a = try session.runJob(commandTemplate())
            let b = try session.runJob(commandTemplate())
            let specific = inBackground { try session.wait(a) }
            let any = inBackground { try session.wait(Session.jobIDsSessionAny) }
            system.awaitParked(2)
            system.backend.finish(a, .exited(status: 0))
            // Whoever lost a: the specific waiter gets INVALID_JOB, the ANY waiter keeps waiting for b.
            let specificResult = try #require(specific.join())
            if case .failure(let error) = specificResult {
                #expect(error.code == .invalidJob)
                #expect(try #require(any.join()).get().jobID == a)
            } else {
                #expect(try specificResult.get().jobID == a)
                system.backend.finish(b, .exited(status: 0))
                #expect(try #require(any.join()).get().jobID == b)
            }
            try session.exit()
        }
    }

    @Test("A parked wait(SESSION_ANY) ends with INVALID_JOB when its last candidate is reaped by wait(id)")
    func anyWokenWhenNoneLeft() throws {
        for _ in 0..<20 {
            let (session, system) = try makeObservedSession()
            let id = try session.runJob(commandTemplate())
            let any = inBackground { try session.wait(Session.jobIDsSessionAny) }
            let specific = inBackground { try session.wait(id) }
            system.awaitParked(2)
            system.backend.finish(id, .exited(status: 0))
            let results = [try #require(any.join()), try #require(specific.join())]
            #expect(results.compactMap { try? $0.get().jobID } == [id])
            #expect(results.compactMap(code) == [.invalidJob])
            try session.exit()
        }
    }

    @Test("A blocked wait(SESSION_ANY) also receives jobs submitted after it started")
    func anySeesLaterSubmissions() throws {
        let (session, system) = try makeObservedSession()
        let first = try session.runJob(commandTemplate())
        let any = inBackground { try session.wait(Session.jobIDsSessionAny) }
        system.awaitParked(1)
        let later = try session.runJob(commandTemplate())
        system.backend.finish(later, .exited(status: 0))
        #expect(try #require(any.join()).get().jobID == later)
        #expect(try session.jobStatus(first) == .queuedActive)
    }

    @Test("§10.69 wait(SESSION_ANY) stays exactly-once over thousands of jobs, mixed with wait(id)")
    func item69_manyJobsMixed() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let ids = try (0..<3000).map { _ in try session.runJob(commandTemplate()) }
        for id in ids { backend.finish(id, .exited(status: 0)) }
        var delivered: [String] = []
        var reapedDirectly: Set<String> = []
        for (n, id) in ids.enumerated() where n % 3 == 2 {
            _ = try session.wait(id, timeout: .noWait)
            reapedDirectly.insert(id)
        }
        while true {
            do throws(DRMAAError) {
                delivered.append(try session.wait(Session.jobIDsSessionAny, timeout: .noWait).jobID)
            } catch {
                #expect(error.code == .invalidJob)
                break
            }
        }
        #expect(delivered.count + reapedDirectly.count == ids.count)
        #expect(Set(delivered).isDisjoint(with: reapedDirectly))
        #expect(Set(delivered).union(reapedDirectly) == Set(ids))
        // Finishing order is kept.
        #expect(delivered == ids.filter { !reapedDirectly.contains($0) })
    }

    @Test("synchronize racing wait: a job reaped by wait counts as finished for synchronize")
    func synchronizeRacingWait() throws {
        let (session, system) = try makeObservedSession()
        let a = try session.runJob(commandTemplate())
        let b = try session.runJob(commandTemplate())
        let sync = inBackground { try session.synchronize([a, b], dispose: true) }
        system.awaitParked(1)
        system.backend.finish(a, .exited(status: 0))
        #expect(try session.wait(a).jobID == a)
        #expect(!sync.isFinished)
        system.backend.finish(b, .exited(status: 0))
        try #require(sync.join()).get()
        expectDRMAAError(.invalidJob) { try session.wait(b) }
    }

    @Test("§10.74 synchronize([id], FOREVER, dispose: false) then wait(id) succeeds")
    func item74_synchronizeKeeps() throws {
        let (session, system) = try makeObservedSession()
        let id = try session.runJob(commandTemplate())
        let sync = inBackground { try session.synchronize([id], timeout: .forever, dispose: false) }
        system.awaitParked(1)
        #expect(!sync.isFinished)
        system.backend.finish(id, .exited(status: 5))
        try #require(sync.join()).get()
        #expect(try session.jobStatus(id) == .done)
        #expect(try session.wait(id).exitStatus == 5)
    }

    @Test("§10.75 synchronize([id], FOREVER, dispose: true) then wait(id) is INVALID_JOB")
    func item75_synchronizeDisposes() throws {
        let (session, system) = try makeSession()
        let id = try session.runJob(commandTemplate())
        try system.requireBackend().finish(id, .exited(status: 0))
        try session.synchronize([id], timeout: .forever, dispose: true)
        expectDRMAAError(.invalidJob) { try session.wait(id) }
        expectDRMAAError(.invalidJob) { try session.jobStatus(id) }
        expectDRMAAError(.invalidJob) { try session.wait(Session.jobIDsSessionAny) }
    }

    @Test("§10.75 synchronize with dispose that times out disposes nothing")
    func item75_timeoutDisposesNothing() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let a = try session.runJob(commandTemplate())
        let b = try session.runJob(commandTemplate())
        backend.finish(a, .exited(status: 0))
        expectDRMAAError(.exitTimeout) { try session.synchronize([a, b], timeout: .noWait, dispose: true) }
        #expect(try session.jobStatus(a) == .done)
        #expect(try session.wait(a).jobID == a)
    }

    @Test("§10.76 synchronize([SESSION_ALL]) returns only after every job of the session has finished")
    func item76_synchronizeAll() throws {
        let (session, system) = try makeObservedSession()
        let ids = try (0..<3).map { _ in try session.runJob(commandTemplate()) }
            + session.runBulkJobs(commandTemplate(), beginIndex: 1, endIndex: 2, step: 1)
        let sync = inBackground { try session.synchronize([Session.jobIDsSessionAll], timeout: .forever, dispose: false) }
        system.awaitParked(1)
        for id in ids.dropLast() {
            system.backend.finish(id, .exited(status: 0))
            expectDRMAAError(.exitTimeout) { try session.synchronize([Session.jobIDsSessionAll], timeout: .noWait) }
            #expect(!sync.isFinished)
        }
        #expect(system.parkedWaiters == 1)
        system.backend.finish(ids.last!, .exited(status: 0))
        try #require(sync.join()).get()
        for id in ids { #expect(try session.jobStatus(id) == .done) }
        try session.synchronize([Session.jobIDsSessionAll], timeout: .noWait, dispose: true)
        expectDRMAAError(.invalidJob) { try session.wait(Session.jobIDsSessionAny) }
    }

    @Test("§10.76 SESSION_ALL anywhere in the list covers every job")
    func item76_allAnywhereInList() throws {
        let (session, system) = try makeSession()
        let id = try session.runJob(commandTemplate())
        let other = try session.runJob(commandTemplate())
        try system.requireBackend().finish(id, .exited(status: 0))
        expectDRMAAError(.exitTimeout) { try session.synchronize([id, Session.jobIDsSessionAll], timeout: .noWait) }
        try system.requireBackend().finish(other, .exited(status: 0))
        try session.synchronize(["junk", Session.jobIDsSessionAll], timeout: .noWait)
    }

    @Test("§10.77 synchronize on unknown or reaped ids (including single characters of an id) succeeds at once")
    func item77_unknownIDsCountAsFinished() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let reaped = try session.runJob(commandTemplate())
        backend.finish(reaped, .exited(status: 0))
        _ = try session.wait(reaped)
        let characters = reaped.map(String.init)
        try session.synchronize([reaped], timeout: .noWait)
        try session.synchronize(characters, timeout: .noWait)
        try session.synchronize(["x", "", "DRMAA_JOB_IDS_SESSION_ANY", "99999999"], timeout: .noWait)
        try session.synchronize([reaped], timeout: .seconds(5), dispose: true)
        // Unknown ids do not hide a pending one.
        let pending = try session.runJob(commandTemplate())
        expectDRMAAError(.exitTimeout) { try session.synchronize(["x", pending, reaped], timeout: .noWait) }
    }

    @Test("§10.78 synchronize([running], NO_WAIT) is EXIT_TIMEOUT")
    func item78_synchronizeNoWait() throws {
        let (session, system) = try makeSession()
        let id = try session.runJob(commandTemplate())
        try system.requireBackend().start(id)
        expectDRMAAError(.exitTimeout) { try session.synchronize([id], timeout: .noWait, dispose: false) }
        expectDRMAAError(.exitTimeout) { try session.synchronize([id], timeout: .noWait, dispose: true) }
        #expect(try session.jobStatus(id) == .running)
    }

    @Test("§10.79 synchronize with an empty list succeeds at once")
    func item79_synchronizeEmpty() throws {
        let (session, _) = try makeSession()
        try session.synchronize([], timeout: .noWait)
        try session.synchronize([], timeout: .forever, dispose: true)
        _ = try session.runJob(commandTemplate())
        try session.synchronize([], timeout: .forever)
    }

    @Test("Async wait: returns the job once the backend finishes it")
    func asyncWait() async throws {
        let (session, system) = try makeObservedSession()
        let id = try session.runJob(commandTemplate())
        let task = Task { try await session.wait(id) }
        await system.awaitParkedAsync(1)
        system.backend.start(id)
        system.backend.finish(id, .exited(status: 9))
        let info = try await task.value
        #expect(info.jobID == id)
        #expect(info.exitStatus == 9)
        await expectDRMAAErrorAsync(.invalidJob) { try await session.wait(id) }
    }

    @Test("Async wait(SESSION_ANY) and async synchronize([SESSION_ALL])")
    func asyncAnyAndSynchronize() async throws {
        let (session, system) = try makeObservedSession()
        let a = try session.runJob(commandTemplate())
        let b = try session.runJob(commandTemplate())
        let any = Task { try await session.wait(Session.jobIDsSessionAny) }
        let sync = Task { try await session.synchronize([Session.jobIDsSessionAll]) }
        await system.awaitParkedAsync(2)
        system.backend.finish(b, .exited(status: 0))
        #expect(try await any.value.jobID == b)
        system.backend.finish(a, .exited(status: 0))
        try await sync.value
        try await session.synchronize([a], timeout: .noWait, dispose: true)
        await expectDRMAAErrorAsync(.invalidJob) { try await session.wait(a) }
        await expectDRMAAErrorAsync(.invalidJob) { try await session.wait(Session.jobIDsSessionAny) }
    }

    @Test("Async wait and synchronize time out with EXIT_TIMEOUT (.noWait and 0.05 s) and reap nothing")
    func asyncTimeouts() async throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let id = try session.runJob(commandTemplate())
        backend.start(id)
        await expectDRMAAErrorAsync(.exitTimeout) { try await session.wait(id, timeout: .noWait) }
        await expectDRMAAErrorAsync(.exitTimeout) { try await session.wait(id, timeout: .seconds(0.05)) }
        await expectDRMAAErrorAsync(.exitTimeout) { try await session.wait(Session.jobIDsSessionAny, timeout: .seconds(0.05)) }
        await expectDRMAAErrorAsync(.exitTimeout) { try await session.synchronize([id], timeout: .noWait) }
        await expectDRMAAErrorAsync(.exitTimeout) { try await session.synchronize([id], timeout: .seconds(0.05), dispose: true) }
        #expect(try session.jobStatus(id) == .running)
        backend.finish(id, .exited(status: 0))
        try await session.synchronize([id], timeout: .seconds(0.05))
        #expect(try await session.wait(id, timeout: .noWait).jobID == id)
    }

    @Test("Async wait errors: unknown id, empty session, bulk parent")
    func asyncErrors() async throws {
        let (session, _) = try makeSession()
        await expectDRMAAErrorAsync(.invalidJob) { try await session.wait("nope") }
        await expectDRMAAErrorAsync(.invalidJob) { try await session.wait(Session.jobIDsSessionAny) }
        let tasks = try session.runBulkJobs(commandTemplate(), beginIndex: 1, endIndex: 2, step: 1)
        let parent = String(tasks[0].split(separator: ".")[0])
        await expectDRMAAErrorAsync(.invalidJob) { try await session.wait(parent) }
        try await session.synchronize([], timeout: .noWait)
    }

    @Test("Many concurrent async waiters on SESSION_ANY each get a distinct job")
    func asyncManyAny() async throws {
        let n = 20
        let (session, system) = try makeObservedSession()
        let ids = try (0..<n).map { _ in try session.runJob(commandTemplate()) }
        let received = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<n {
                group.addTask { try await session.wait(Session.jobIDsSessionAny).jobID }
            }
            await system.awaitParkedAsync(n)
            for id in ids { system.backend.finish(id, .exited(status: 0)) }
            var all: [String] = []
            for try await id in group { all.append(id) }
            return all
        }
        #expect(received.count == n)
        #expect(Set(received) == Set(ids))
    }

    @Test("Timeout values of the C binding: -1 forever, 0 no wait, n seconds; other negatives INVALID_ARGUMENT")
    func timeoutDecoding() throws {
        #expect(try Timeout(drmaaValue: -1) == .forever)
        #expect(try Timeout(drmaaValue: 0) == .noWait)
        #expect(try Timeout(drmaaValue: 7).seconds == 7)
        #expect(Timeout.forever.seconds == nil)
        #expect(Timeout.seconds(0.05).seconds == 0.05)
        #expect(Timeout.seconds(-3) == .noWait)
        for bad in [-2, -100, Int.min] {
            expectDRMAAError(.invalidArgument) { try Timeout(drmaaValue: bad) }
        }
    }
}
