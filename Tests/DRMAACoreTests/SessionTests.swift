import Dispatch
import Synchronization
import Testing
@testable import DRMAACore
import EmbeddedDRM

@Suite("Session lifecycle and contact strings", .timeLimit(.minutes(1)))
struct SessionTests {
    @Test("§10.1 version is 1.0 without a session")
    func item1_versionWithoutSession() {
        let session = Session(system: EmbeddedDRM())
        #expect(session.version.major == 1)
        #expect(session.version.minor == 0)
        #expect(Session.version == Version(major: 1, minor: 0))
        #expect(session.version.description == "1.0")
        #expect(!session.isActive)
    }

    @Test("An EmbeddedDRM system, its backends and its sessions are freed when no longer used")
    func embeddedSystemIsFreed() throws {
        weak var weakSystem: EmbeddedDRM?
        weak var weakBackend: EmbeddedBackend?
        do {
            let system = EmbeddedDRM()
            let session = Session(system: system)
            try session.initialize()
            var template = JobTemplate()
            template.remoteCommand = "/bin/true"
            _ = try session.runJob(template)
            weakSystem = system
            weakBackend = system.backend
            #expect(weakBackend != nil)
        }
        #expect(weakSystem == nil)
        #expect(weakBackend == nil)
    }

    @Test("§10.2 contact before initialize is empty")
    func item2_contactBeforeInit() {
        let session = Session(system: EmbeddedDRM())
        #expect(session.contact == "")
    }

    @Test("§10.3 drmsInfo and drmaaImplementation are non-empty and unchanged by initialize/exit")
    func item3_systemInfoStable() throws {
        let session = Session(system: EmbeddedDRM())
        let drms = session.drmsInfo, implementation = session.drmaaImplementation
        #expect(!drms.isEmpty)
        #expect(!implementation.isEmpty)
        try session.initialize()
        #expect(session.drmsInfo == drms)
        #expect(session.drmaaImplementation == implementation)
        try session.exit()
        #expect(session.drmsInfo == drms)
        #expect(session.drmaaImplementation == implementation)
    }

    @Test("§10.5 initialize(nil) succeeds")
    func item5_initNil() throws {
        let session = Session(system: EmbeddedDRM())
        try session.initialize(contact: nil)
        #expect(session.isActive)
        try session.exit()
    }

    @Test("§10.5 initialize(\"\") succeeds")
    func item5_initEmpty() throws {
        let session = Session(system: EmbeddedDRM())
        try session.initialize(contact: "")
        #expect(session.isActive)
        try session.exit()
    }

    @Test("§10.6 a second initialize while active is ALREADY_ACTIVE_SESSION")
    func item6_secondInit() throws {
        let (session, _) = try makeSession()
        expectDRMAAError(.alreadyActiveSession) { try session.initialize() }
        expectDRMAAError(.alreadyActiveSession) { try session.initialize(contact: "") }
        // The first session is still usable.
        #expect(session.isActive)
        _ = try session.runJob(commandTemplate())
    }

    @Test("§10.7 exit without initialize, and a second exit, are NO_ACTIVE_SESSION")
    func item7_exitWithoutSession() throws {
        let session = Session(system: EmbeddedDRM())
        expectDRMAAError(.noActiveSession) { try session.exit() }
        try session.initialize()
        try session.exit()
        expectDRMAAError(.noActiveSession) { try session.exit() }
    }

    @Test("§10.8 initialize → exit → initialize gives a new, usable session")
    func item8_reinitialize() throws {
        let (session, system) = try makeSession()
        let first = session.contact
        try session.exit()
        try session.initialize()
        #expect(session.isActive)
        #expect(session.contact != first)
        let id = try session.runJob(commandTemplate())
        #expect(try session.jobStatus(id) == .queuedActive)
        #expect(try system.requireBackend().job(id) != nil)
        try session.exit()
    }

    @Test("§10.9 createJobTemplate before initialize and after exit is NO_ACTIVE_SESSION")
    func item9_templateNeedsSession() throws {
        let session = Session(system: EmbeddedDRM())
        expectDRMAAError(.noActiveSession) { try session.createJobTemplate() }
        try session.initialize()
        let template = try session.createJobTemplate()
        #expect(template == JobTemplate())
        try session.exit()
        expectDRMAAError(.noActiveSession) { try session.createJobTemplate() }
        // Deleting a template needs no session and never fails.
        session.deleteJobTemplate(template)
    }

    @Test("§10.10 runJob, runBulkJobs, control, wait, synchronize and jobStatus after exit are NO_ACTIVE_SESSION")
    func item10_callsAfterExit() async throws {
        let (session, _) = try makeSession()
        let id = try session.runJob(commandTemplate())
        try session.exit()
        expectDRMAAError(.noActiveSession) { try session.runJob(commandTemplate()) }
        expectDRMAAError(.noActiveSession) { try session.runBulkJobs(commandTemplate(), beginIndex: 1, endIndex: 2, step: 1) }
        for action in JobControlAction.allCases {
            expectDRMAAError(.noActiveSession) { try session.control(id, action) }
        }
        expectDRMAAError(.noActiveSession) { try session.control(Session.jobIDsSessionAll, .terminate) }
        expectDRMAAError(.noActiveSession) { try session.wait(id, timeout: .noWait) }
        expectDRMAAError(.noActiveSession) { try session.wait(Session.jobIDsSessionAny) }
        expectDRMAAError(.noActiveSession) { try session.synchronize([id], timeout: .noWait) }
        expectDRMAAError(.noActiveSession) { try session.synchronize([]) }
        expectDRMAAError(.noActiveSession) { try session.jobStatus(id) }
        await expectDRMAAErrorAsync(.noActiveSession) { try await session.wait(id) }
        await expectDRMAAErrorAsync(.noActiveSession) { try await session.synchronize([Session.jobIDsSessionAll]) }
    }

    @Test("§10.11 contact after initialize is non-empty and re-attaches after exit")
    func item11_contactReattach() throws {
        let (session, _) = try makeSession()
        let contact = session.contact
        #expect(!contact.isEmpty)
        #expect(contact.hasPrefix("session="))
        #expect(contact.utf8.count < 1024)
        try session.exit()
        #expect(session.contact == "")
        try session.initialize(contact: contact)
        #expect(session.isActive)
        #expect(session.contact == contact)
        try session.exit()
        // A fresh Session object of the same process can re-attach, too.
        let other = Session(system: EmbeddedDRM())
        try other.initialize(contact: contact)
        #expect(other.contact == contact)
        try other.exit()
    }

    @Test("§10.12 initialize(\"garbage\") is INVALID_CONTACT_STRING", arguments: [
        "garbage", "=x", "session=", "session", "a=b", "session=abc;bogus", " ;x",
    ])
    func item12_invalidContact(_ contact: String) {
        let session = Session(system: EmbeddedDRM())
        expectDRMAAError(.invalidContactString) { try session.initialize(contact: contact) }
        #expect(!session.isActive)
        #expect(session.contact == "")
    }

    @Test("§10.12 initialize(\"session=unknown\") is INVALID_CONTACT_STRING")
    func item12_unknownSessionKey() throws {
        let session = Session(system: EmbeddedDRM())
        expectDRMAAError(.invalidContactString) { try session.initialize(contact: "session=unknown") }
        expectDRMAAError(.invalidContactString) { try session.initialize(contact: "session=ffffffff-999999") }
        #expect(!session.isActive)
        // A failed initialize leaves the session closed but usable.
        try session.initialize()
        try session.exit()
    }

    @Test("§10.12 an unknown contact option is INVALID_CONTACT_STRING also when re-attaching")
    func item12_unknownOptionOnReattach() throws {
        let (session, _) = try makeSession()
        let contact = session.contact
        try session.exit()
        // A fresh session refuses the option (EmbeddedDRM takes none) ...
        let fresh = Session(system: EmbeddedDRM())
        expectDRMAAError(.invalidContactString) { try fresh.initialize(contact: "bogus=1") }
        // ... so the same option must not be silently dropped on re-attach.
        expectDRMAAError(.invalidContactString) { try session.initialize(contact: contact + ";bogus=1") }
        #expect(!session.isActive)
    }

    @Test("§10.11 the contact of an active session cannot be attached twice")
    func item11_activeContactNotReattachable() throws {
        let (session, _) = try makeSession()
        let other = Session(system: EmbeddedDRM())
        expectDRMAAError(.invalidContactString) { try other.initialize(contact: session.contact) }
        try session.exit()
    }

    @Test("§10.13 two threads calling initialize together: exactly one succeeds, the others get ALREADY_ACTIVE_SESSION")
    func item13_concurrentInit() throws {
        for _ in 0..<20 {
            let session = Session(system: EmbeddedDRM())
            let results = Mutex<[ErrorCode?]>([])
            DispatchQueue.concurrentPerform(iterations: 4) { _ in
                let result = Result { () throws(DRMAAError) in try session.initialize() }
                results.withLock { $0.append(code(result)) }
            }
            let codes = results.withLock { $0 }
            #expect(codes.count == 4)
            #expect(codes.filter { $0 == nil }.count == 1)
            #expect(codes.filter { $0 == .alreadyActiveSession }.count == 3)
            try session.exit()
        }
    }

    @Test("§10.15 a thread blocked in wait(FOREVER) returns NO_ACTIVE_SESSION when another thread calls exit")
    func item15_exitWakesWait() throws {
        let (session, system) = try makeObservedSession()
        let id = try session.runJob(commandTemplate())
        let waiter = inBackground { try session.wait(id) }
        let anyWaiter = inBackground { try session.wait(Session.jobIDsSessionAny) }
        let syncWaiter = inBackground { try session.synchronize([Session.jobIDsSessionAll]) }
        system.awaitParked(3)
        #expect(!waiter.isFinished)
        try session.exit()
        #expect(code(try #require(waiter.join())) == .noActiveSession)
        #expect(code(try #require(anyWaiter.join())) == .noActiveSession)
        #expect(code(try #require(syncWaiter.join())) == .noActiveSession)
    }

    @Test("§10.15 async wait and synchronize end with NO_ACTIVE_SESSION when the session exits")
    func item15_exitWakesAsyncWait() async throws {
        let (session, system) = try makeObservedSession()
        let id = try session.runJob(commandTemplate())
        let wait = Task { try await session.wait(id) }
        let sync = Task { try await session.synchronize([id]) }
        await system.awaitParkedAsync(2)
        try session.exit()
        await expectDRMAAErrorAsync(.noActiveSession) { try await wait.value }
        await expectDRMAAErrorAsync(.noActiveSession) { try await sync.value }
    }

    @Test("A wait started before exit does not complete in a re-initialised session")
    func waitDoesNotSurviveExitAndReattach() throws {
        let (session, system) = try makeObservedSession()
        let id = try session.runJob(commandTemplate())
        let contact = session.contact
        let waiter = inBackground { try session.wait(id) }
        system.awaitParked(1)
        try session.exit()
        try session.initialize(contact: contact)
        #expect(code(try #require(waiter.join())) == .noActiveSession)
        // The job itself is still there for the re-attached session.
        #expect(try session.jobStatus(id) == .queuedActive)
    }

    @Test("Re-attaching with the contact restores unreaped jobs, including ones that finished while detached")
    func reattachRestoresJobs() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let reaped = try session.runJob(commandTemplate())
        let running = try session.runJob(commandTemplate())
        let finishedWhileDetached = try session.runJob(commandTemplate())
        let held = try session.runJob({ var t = commandTemplate(); t.jobSubmissionState = .hold; return t }())
        backend.start(reaped)
        backend.start(running)
        backend.start(finishedWhileDetached)
        backend.finish(reaped, .exited(status: 0))
        _ = try session.wait(reaped)
        let contact = session.contact
        try session.exit()

        backend.finish(finishedWhileDetached, .exited(status: 7))
        expectDRMAAError(.noActiveSession) { try session.jobStatus(running) }

        try session.initialize(contact: contact)
        #expect(system.backend === backend)
        #expect(try session.jobStatus(running) == .running)
        #expect(try session.jobStatus(held) == .userOnHold)
        #expect(try session.jobStatus(finishedWhileDetached) == .done)
        expectDRMAAError(.invalidJob) { try session.jobStatus(reaped) }
        let info = try session.wait(finishedWhileDetached, timeout: .noWait)
        #expect(info.jobID == finishedWhileDetached)
        #expect(info.exitStatus == 7)
        backend.finish(running, .exited(status: 0))
        #expect(try session.wait(Session.jobIDsSessionAny).jobID == running)
        try session.control(held, .terminate)
        #expect(try session.wait(held).wasAborted)
        expectDRMAAError(.invalidJob) { try session.wait(Session.jobIDsSessionAny) }
        try session.exit()
    }

    @Test("A new session (no contact) cannot wait for the jobs of an exited one; job_ps and control reach them as another session's jobs")
    func newSessionIsolated() throws {
        let (session, _) = try makeSession()
        let id = try session.runJob(commandTemplate())
        try session.exit()
        try session.initialize()
        // EmbeddedDRM, like Grid Engine and Slurm, lets any session see and control a job of the system.
        #expect(try session.jobStatus(id) == .queuedActive)
        try session.control(id, .hold)
        expectDRMAAError(.invalidJob) { try session.wait(id, timeout: .noWait) }
        expectDRMAAError(.invalidJob) { try session.wait(Session.jobIDsSessionAny, timeout: .noWait) }
        try session.synchronize([id], timeout: .noWait)
        try session.exit()
    }

    @Test("Two Session objects are independent sessions")
    func twoSessionsIndependent() throws {
        let (a, _) = try makeSession()
        let (b, _) = try makeSession()
        #expect(a.contact != b.contact)
        let id = try a.runJob(commandTemplate())
        expectDRMAAError(.invalidJob) { try b.jobStatus(id) }
        try a.exit()
        try b.exit()
    }
}
