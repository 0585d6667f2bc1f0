import CLocalDRM
import DRMAACore
import Glibc
import LocalDRMWire
import ShepherdProtocol

/// What the daemon keeps durably (the spool): implemented over SQLite by `drmaad`, so that this
/// module (linked into `libdrmaa.so`) does not link SQLite. Every call is one transaction.
package protocol DaemonStore: Sendable {
    /// `count` new consecutive job ids, unique for the user across processes and restarts (1, 2, 3…).
    func reserveJobIDs(count: Int) throws(DRMAAError) -> ClosedRange<Int64>
    /// Records a new session; `INVALID_CONTACT_STRING` if the key is taken.
    func openSession(key: String, options: String, at time: Double) throws(DRMAAError)
    /// The options a session was opened with, `nil` if there is no such session.
    func sessionOptions(_ key: String) throws(DRMAAError) -> String?
    /// `drmaa_exit` of a session (it stays, for re-attaching).
    func closeSession(_ key: String, at time: Double) throws(DRMAAError)
    /// One `run_job` / `run_bulk_jobs`, before any of its jobs can start.
    func recordSubmission(id: Int64, session: String, tasks: LocalDRMWire.TaskRange?, held: Bool, at time: Double, payload: [UInt8]) throws(DRMAAError)
    /// Withdraws a submission the scheduler refused (none of its jobs ran).
    func withdrawSubmission(id: Int64) throws(DRMAAError)
    /// A job's outcome (task 0 for a single job), kept until it is reaped.
    func recordOutcome(submission: Int64, task: Int, session: String, at time: Double, payload: [UInt8]) throws(DRMAAError)
    /// Many outcomes in one transaction (the jobs one `drmaa_control` ended before they started).
    func recordOutcomes(_ outcomes: [DaemonOutcome]) throws(DRMAAError)
    /// The unreaped outcomes of a session.
    func unreapedOutcomes(session: String) throws(DRMAAError) -> [(submission: Int64, task: Int, bulk: Bool, payload: [UInt8])]
    /// A finished job's session and outcome, `nil` if unknown or reaped.
    func outcome(submission: Int64, task: Int) throws(DRMAAError) -> (session: String, bulk: Bool, payload: [UInt8])?
    /// Marks outcomes reaped (`wait`, `synchronize` with dispose).
    func markReaped(_ jobs: [(submission: Int64, task: Int)]) throws(DRMAAError)
    /// A pending job was held or released by `drmaa_control` (a restarted daemon queues it so).
    func recordHold(submission: Int64, task: Int, held: Bool) throws(DRMAAError)
    /// Every submission with jobs that have no outcome yet: what a restarted daemon queues
    /// again or takes back from their shepherds.
    func unfinishedSubmissions() throws(DRMAAError) -> [UnfinishedSubmission]
    /// Drops the unreaped outcomes of jobs that finished before `time` (the retention); how many.
    func purgeOutcomes(finishedBefore time: Double) throws(DRMAAError) -> Int
}

/// One outcome to record (``DaemonStore/recordOutcomes(_:)``).
package struct DaemonOutcome: Sendable {
    package var submission: Int64
    package var task: Int
    package var session: String
    package var time: Double
    package var payload: [UInt8]
}

/// A submission some of whose jobs have not finished, as a restarted daemon finds it.
package struct UnfinishedSubmission: Sendable {
    package var id: Int64
    package var session: String
    /// The options the session was opened with (``Daemon`` spells them).
    package var sessionOptions: String
    /// The submission's ``SubmissionInputs``, encoded.
    package var payload: [UInt8]
    /// Submitted on hold.
    package var held: Bool
    /// The tasks (0 for a single job) with an outcome, reaped or not.
    package var finished: Set<Int>
    /// Pending tasks held or released since submission.
    package var holds: [Int: Bool]

    package init(id: Int64, session: String, sessionOptions: String, payload: [UInt8], held: Bool,
                 finished: Set<Int>, holds: [Int: Bool]) {
        (self.id, self.session, self.sessionOptions, self.payload, self.held, self.finished, self.holds) =
            (id, session, sessionOptions, payload, held, finished, holds)
    }
}

/// The per-user daemon of LocalDRM's durable mode (`drmaad`): it owns the queue, the slots and
/// every job of every session of the user, runs each job under a shepherd, keeps sessions and
/// outcomes in its store, and serves library processes over a Unix socket.
package final class Daemon: JobReports, Sendable {
    /// Where the daemon keeps its files and what it runs jobs with.
    package struct Configuration: Sendable {
        /// The state directory (mode 0700): the socket, the lock, the spool, shepherd files.
        package var stateDirectory: String
        /// The `drmaa-shepherd` executable.
        package var shepherdPath: String
        /// The slots every session shares; `nil`: `$DRMAA_LOCAL_SLOTS`, else one per CPU.
        package var slots: Int?
        /// Seconds without clients and without unfinished jobs after which ``run()`` returns.
        package var idleExitSeconds: Double
        /// How long the outcome of a finished job that nobody reaps is kept, in seconds.
        package var retentionSeconds: Double
        /// How many idle pooled shepherds are kept (0: every job gets a shepherd of its own).
        package var shepherdPool: Int

        /// The default retention of unreaped outcomes: 7 days.
        package static let defaultRetention = 7.0 * 86_400

        package init(stateDirectory: String, shepherdPath: String, slots: Int? = nil, idleExitSeconds: Double = 60,
                     retentionSeconds: Double = Configuration.defaultRetention, shepherdPool: Int = ShepherdPool.defaultSize) {
            (self.stateDirectory, self.shepherdPath, self.slots, self.idleExitSeconds) = (stateDirectory, shepherdPath, slots, idleExitSeconds)
            (self.retentionSeconds, self.shepherdPool) = (retentionSeconds, shepherdPool)
        }
    }

    /// A job that has not finished.
    private struct LiveJob {
        var state: JobState
        var session: String
        var bulkJobID: String?
    }

    private struct Session {
        var settings: LocalDRM.Settings
        /// Connections attached to it, which get its events.
        var attached: [ObjectIdentifier: Connection] = [:]
    }

    private struct Client {
        let connection: Connection
        var greeted = false
        var session: String?
    }

    private struct State {
        var sessions: [String: Session] = [:]
        var clients: [ObjectIdentifier: Client] = [:]
        var live: [String: LiveJob] = [:]
        /// When the daemon last became idle (no clients, no unfinished jobs), `nil` while busy.
        var idleSince: Double? = 0
        /// Jobs finished since the daemon last gave freed memory back to the system.
        var finishedSinceTrim = 0
        var stopping = false
    }

    let configuration: Configuration
    let store: any DaemonStore
    private let state = Mutex(State())
    /// Set once, before the first client is accepted (the backend reports to this daemon).
    private let backendBox = Mutex<LocalBackend?>(nil)
    private let poolSlots: Int
    private let wakeup: Int32

    /// The socket clients connect to.
    package static func socketPath(stateDirectory: String) -> String { stateDirectory + "/daemon.sock" }
    /// The lock file that makes the daemon unique per state directory.
    package static func lockPath(stateDirectory: String) -> String { stateDirectory + "/daemon.lock" }
    /// Shepherds' outcome files and listening sockets.
    static func shepherdDirectory(stateDirectory: String) -> String { stateDirectory + "/shepherds" }

    package init(configuration: Configuration, store: any DaemonStore) throws(DRMAAError) {
        self.configuration = configuration
        self.store = store
        let settings = try LocalDRM.Settings(LocalDRM.Configuration(slots: configuration.slots), categoriesPath: nil,
                                             environment: Syscall.environmentValue)
        poolSlots = settings.slots
        do throws(Errno) {
            wakeup = try Syscall.eventFD()
            try Syscall.makeDirectory(Self.shepherdDirectory(stateDirectory: configuration.stateDirectory))
        } catch {
            throw DRMAAError(.drmsInitFailed, "the LocalDRM daemon cannot prepare '\(configuration.stateDirectory)': \(error)")
        }
        let runtime: Runtime
        do throws(Errno) {
            runtime = try Runtime.shared()
        } catch {
            throw DRMAAError(.drmsInitFailed, "the LocalDRM daemon cannot start its process supervisor: \(error)")
        }
        let shepherds = ShepherdLaunch(executable: configuration.shepherdPath,
                                       directory: Self.shepherdDirectory(stateDirectory: configuration.stateDirectory),
                                       poolSize: configuration.shepherdPool)
        let backend = LocalBackend(settings: settings, table: self, runtime: runtime, timers: nil, shepherds: shepherds)
        backendBox.withLock { $0 = backend }
    }

    private var backend: LocalBackend? { backendBox.withLock { $0 } }

    // MARK: Serving

    /// Serves clients on `listener` (a listening stream socket) until the daemon has been idle
    /// for ``Configuration/idleExitSeconds`` or ``stop()`` is called. Returns why it stopped.
    package func run(listener: Int32) -> String {
        let uid = geteuid()
        var nextPurge: Double = 0
        while true {
            let now = Double(Syscall.monotonicNanoseconds()) / 1e9
            if now >= nextPurge {
                purgeExpiredOutcomes()
                nextPurge = now + 3600
            }
            let idleFor: Double? = state.withLock { state in
                if state.stopping { return -1 }
                guard let since = state.idleSince else { return nil }
                return (Double(Syscall.monotonicNanoseconds()) / 1e9) - since
            }
            if let idleFor {
                if idleFor < 0 { return "stopped" }
                if state.withLock({ $0.idleSince }) == 0 {
                    state.withLock { $0.idleSince = (Double(Syscall.monotonicNanoseconds()) / 1e9) }
                } else if idleFor >= configuration.idleExitSeconds {
                    // Checked again under the lock with a client that may be connecting now:
                    // the listener is closed by the caller only after this returns.
                    return "idle for \(Int(configuration.idleExitSeconds)) s with no client and no unfinished job"
                }
            }
            var timeout: Int32 = idleFor == nil ? -1 : Int32(max(10, min(1000, (configuration.idleExitSeconds - (idleFor ?? 0)) * 1000)))
            let untilPurge = Int32(max(10, min(3_600_000, (nextPurge - now) * 1000)))
            if timeout < 0 || untilPurge < timeout { timeout = untilPurge }
            let events: [Int16]
            do throws(Errno) {
                events = try Syscall.poll([(listener, Int16(POLLIN)), (wakeup, Int16(POLLIN))], timeoutMilliseconds: timeout)
            } catch {
                return "poll on the daemon socket failed: \(error)"
            }
            if events[1] != 0 { Syscall.drain(wakeup) }
            guard events[0] != 0 else { continue }
            let fd: Int32
            do throws(Errno) {
                fd = try Syscall.accept(listener)
            } catch {
                if [EAGAIN, ECONNABORTED, EINTR].contains(error.rawValue) { continue }
                if [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.rawValue) {
                    log("cannot accept a client: \(error); trying again")
                    usleep(50_000)
                    continue
                }
                return "accept on the daemon socket failed: \(error)"
            }
            // Only this user's processes: the socket's mode says so, and the kernel's credentials prove it.
            guard let peer = try? Syscall.peerCredentials(fd), peer.uid == uid else {
                let who = (try? Syscall.peerCredentials(fd)).map { "uid \($0.uid), pid \($0.pid)" } ?? "an unknown peer"
                log("refused a connection from \(who): the daemon serves only uid \(uid)")
                if let refusal = try? DaemonMessage.refused(DRMAAError(.authFailure,
                    "this LocalDRM daemon serves only uid \(uid)")).framed() {
                    try? Syscall.sendAll(fd, refusal)
                }
                Syscall.close(fd)
                continue
            }
            accept(fd)
        }
    }

    /// Drops the outcomes no one reaped within the retention (the sessions that would have reaped
    /// them are gone for good, or forgot them).
    private func purgeExpiredOutcomes() {
        guard configuration.retentionSeconds.isFinite else { return }
        do throws(DRMAAError) {
            let purged = try store.purgeOutcomes(finishedBefore: Syscall.realtimeSeconds() - configuration.retentionSeconds)
            if purged > 0 { log("purged \(purged) outcome(s) older than the retention of \(Int(configuration.retentionSeconds)) s that no session reaped") }
        } catch {
            log("cannot purge old outcomes: \(error.message)")
        }
    }

    /// Ends the idle pooled shepherds (when the daemon leaves; those running jobs go on).
    package func dismissIdleShepherds() {
        backend?.shepherds?.pool?.dismissAll()
    }

    /// Makes ``run(listener:)`` return soon.
    package func stop() {
        state.withLock { $0.stopping = true }
        Syscall.notify(wakeup)
    }

    private func accept(_ fd: Int32) {
        let connection: Connection
        do throws(Errno) {
            connection = try Connection(descriptor: fd)
        } catch {
            log("cannot serve a client: \(error)")
            return
        }
        let id = ObjectIdentifier(connection)
        state.withLock { state in
            state.clients[id] = Client(connection: connection)
            state.idleSince = nil
        }
        do throws(Errno) {
            // Registered first: the client's first frame may arrive at once.
            try connection.start(onFrame: { [weak self] frame in
                self?.received(frame, from: id)
            }, onClose: { [weak self] reason in
                self?.disconnected(id, reason)
            })
        } catch {
            log("cannot serve a client: \(error)")
            state.withLock { state in
                state.clients[id] = nil
                markIdleIfIdle(&state)
            }
        }
    }

    private func disconnected(_ id: ObjectIdentifier, _ reason: String) {
        state.withLock { state in
            guard let client = state.clients.removeValue(forKey: id) else { return }
            if let key = client.session { state.sessions[key]?.attached[id] = nil }
            markIdleIfIdle(&state)
        }
        Syscall.notify(wakeup)
    }

    private func markIdleIfIdle(_ state: inout State) {
        if state.clients.isEmpty && state.live.isEmpty && state.idleSince == nil { state.idleSince = 0 }
    }

    private func received(_ frame: [UInt8], from id: ObjectIdentifier) {
        guard let client = state.withLock({ $0.clients[id] }) else { return }
        let message: ClientMessage
        do throws(WireError) {
            message = try ClientMessage(wireBytes: frame)
        } catch {
            if !client.greeted, let refusal = try? DaemonMessage.refused(DRMAAError(.drmCommunicationFailure,
                "the LocalDRM daemon could not read the first message: \(error)")).framed() {
                client.connection.send(refusal)
            }
            log("dropping a client that sent an invalid message: \(error)")
            client.connection.close()
            return
        }
        switch message {
        case .hello(let hello):
            let answer = WireProtocol.answer(hello, daemonPID: Syscall.processID())
            if let frame = try? answer.framed() { client.connection.send(frame) }
            if case .refused = answer {
                client.connection.close()
            } else {
                state.withLock { $0.clients[id]?.greeted = true }
            }
        case .request(let requestID, let request):
            guard client.greeted else {
                client.connection.close()
                return
            }
            // Replies that must be ordered with the session's events are sent by the handler.
            if let reply = handle(request, requestID: requestID, client: id) {
                respond(client.connection, requestID, reply)
            }
        }
    }

    private func respond(_ connection: Connection, _ requestID: UInt64, _ reply: Reply) {
        do throws(WireError) {
            connection.send(try DaemonMessage.reply(id: requestID, reply).framed())
        } catch {
            if let frame = try? DaemonMessage.reply(id: requestID, .failed(DRMAAError(.internalError, "the reply is too large: \(error)"))).framed() {
                connection.send(frame)
            }
        }
    }

    // MARK: Requests

    /// The reply to a request, or `nil` if the handler sent it itself.
    private func handle(_ request: Request, requestID: UInt64, client id: ObjectIdentifier) -> Reply? {
        do throws(DRMAAError) {
            switch request {
            case .openSession(let options, let key):
                let settings = try Self.settings(options)
                // A key the daemon knows (a session this process exited and opens again): the
                // session goes on with its jobs, as a re-attach.
                var known = state.withLock { $0.sessions[key] != nil }
                if !known { known = try store.sessionOptions(key) != nil }
                if known {
                    return try reattach(id, key: key, requestID: requestID)
                }
                try store.openSession(key: key, options: Self.text(options), at: Syscall.realtimeSeconds())
                attach(id, to: key, settings: settings)
                return .ok
            case .reattach(let key):
                return try reattach(id, key: key, requestID: requestID)
            case .reserveJobID:
                return .submitted(jobID: String(try nextJobID()))
            case .reserveJobIDs(let count):
                let ids = try store.reserveJobIDs(count: count)
                return .reservedJobIDs(first: ids.lowerBound, count: ids.count)
            case .submit(let jobID, let inputs):
                return .submitted(jobID: try submit(jobID, inputs, client: id))
            case .control(let ids, let action):
                return .controlled(failures: control(ids, action))
            case .status(let ids):
                return try status(ids)
            case .reap(let ids):
                try store.markReaped(ids.compactMap(Self.key))
                return .ok
            case .exitSession:
                if let key = state.withLock({ $0.clients[id]?.session }) {
                    try store.closeSession(key, at: Syscall.realtimeSeconds())
                }
                return .ok
            case .unknown(let tag, _):
                return .failed(DRMAAError(.internalError, "this LocalDRM daemon does not know request \(tag)"))
            }
        } catch {
            return .failed(error)
        }
    }

    private func attach(_ id: ObjectIdentifier, to key: String, settings: LocalDRM.Settings) {
        state.withLock { state in
            guard let client = state.clients[id] else { return }
            if let previous = client.session { state.sessions[previous]?.attached[id] = nil }
            state.clients[id]?.session = key
            if state.sessions[key] == nil { state.sessions[key] = Session(settings: settings) }
            state.sessions[key]?.attached[id] = client.connection
        }
    }

    /// Attaches the client and answers with every unreaped job of the session, under the lock
    /// that events take: no event of the session can come between the records and the reply.
    private func reattach(_ id: ObjectIdentifier, key: String, requestID: UInt64) throws(DRMAAError) -> Reply? {
        let known = state.withLock { $0.sessions[key] != nil }
        var settings: LocalDRM.Settings?
        if !known {
            guard let text = try store.sessionOptions(key) else {
                return .failed(DRMAAError(.invalidContactString, "the LocalDRM daemon knows no session '\(key)'"))
            }
            settings = try Self.settings(Self.options(text))
        }
        let outcomes = try store.unreapedOutcomes(session: key)
        return try state.withLock { state throws(DRMAAError) -> Reply? in
            guard let client = state.clients[id] else { return nil }
            if state.sessions[key] == nil, let settings { state.sessions[key] = Session(settings: settings) }
            if let previous = client.session { state.sessions[previous]?.attached[id] = nil }
            state.clients[id]?.session = key
            state.sessions[key]?.attached[id] = client.connection
            var records: [LocalDRMWire.JobRecord] = []
            for (jobID, job) in state.live where job.session == key {
                records.append(LocalDRMWire.JobRecord(jobID: jobID, bulkJobID: job.bulkJobID, state: job.state))
            }
            for outcome in outcomes {
                let jobID = Self.jobID(outcome.submission, outcome.task)
                guard state.live[jobID] == nil else { continue }
                let decoded: JobOutcome
                do throws(WireError) {
                    decoded = try JobOutcome(wireBytes: outcome.payload)
                } catch {
                    throw DRMAAError(.internalError, "the spool holds an unreadable outcome of job \(jobID): \(error)")
                }
                records.append(LocalDRMWire.JobRecord(jobID: jobID, bulkJobID: outcome.bulk ? String(outcome.submission) : nil,
                                                      state: decoded.finalState, outcome: decoded))
            }
            respond(client.connection, requestID, .reattached(records))
            return nil
        }
    }

    private func submit(_ jobID: String, _ inputs: SubmissionInputs, client id: ObjectIdentifier) throws(DRMAAError) -> String {
        guard let backend else { throw DRMAAError(.internalError, "the LocalDRM daemon is not ready") }
        guard let number = Int64(jobID), number >= 1 else { throw DRMAAError(.invalidArgument, "job id '\(jobID)' was not issued by this daemon") }
        guard let (key, sessionSettings) = state.withLock({ state -> (String, LocalDRM.Settings)? in
            guard let key = state.clients[id]?.session, let session = state.sessions[key] else { return nil }
            return (key, session.settings)
        }) else {
            throw DRMAAError(.noActiveSession, "submit on a connection without a session")
        }
        var settings = sessionSettings
        settings.configuration.homeDirectory = inputs.homeDirectory
        let indexes = inputs.taskRange.map { stride(from: $0.begin, through: $0.end, by: $0.step) }
        let submission = try Submission(jobID: jobID, taskIndexes: indexes, template: inputs.template,
                                        homeDirectory: inputs.homeDirectory, submissionTime: inputs.submissionTime,
                                        timeZone: SystemTimeZone())
        let first = submission.first
        let options = try LocalBackend.options(category: first.jobCategory, nativeSpecification: first.nativeSpecification,
                                               settings: settings)
        guard options.slots <= poolSlots else {
            throw .denied("the job asks for \(options.slots) slots, more than the \(poolSlots) this user's LocalDRM daemon has (drmaad --slots, or $\(LocalDRM.slotsVariable) when it started): it could never start")
        }
        try store.recordSubmission(id: number, session: key, tasks: inputs.taskRange, held: first.hold,
                                   at: inputs.submissionTime, payload: inputs.wireBytes)
        let initial: JobState = first.hold ? .userOnHold : .queuedActive
        let ids = submission.jobIDs
        state.withLock { state in
            state.live.reserveCapacity(state.live.count + ids.count)
            for id in ids { state.live[id] = LiveJob(state: initial, session: key, bulkJobID: submission.bulkJobID) }
            state.idleSince = nil
        }
        do throws(DRMAAError) {
            try backend.submit(submission, options: options, settings: settings,
                               environment: { inputs.environment.map { "\($0.name)=\($0.value)" } },
                               currentDirectory: { inputs.currentDirectory }, session: key)
        } catch {
            state.withLock { state in
                for id in ids { state.live[id] = nil }
                markIdleIfIdle(&state)
            }
            try? store.withdrawSubmission(id: number)
            throw error
        }
        return jobID
    }

    private func control(_ ids: [String], _ action: JobControlAction) -> [JobFailure] {
        guard let backend else { return ids.map { JobFailure(jobID: $0, error: DRMAAError(.internalError, "the LocalDRM daemon is not ready")) } }
        var live: [String] = []
        var failures: [JobFailure] = []
        for id in ids {
            if state.withLock({ $0.live[id] != nil }) {
                live.append(id)
                continue
            }
            // Finished (or unknown): decided on its final state, as the session would.
            do throws(DRMAAError) {
                guard let key = Self.key(id), let found = try store.outcome(submission: key.submission, task: key.task) else {
                    throw DRMAAError(.invalidJob, "job \(id) is not known to LocalDRM (never submitted, or reaped)")
                }
                let outcome: JobOutcome
                do throws(WireError) {
                    outcome = try JobOutcome(wireBytes: found.payload)
                } catch {
                    throw DRMAAError(.internalError, "the spool holds an unreadable outcome of job \(id): \(error)")
                }
                _ = try outcome.finalState.decide(action, jobID: id)
            } catch {
                failures.append(JobFailure(jobID: id, error: error))
            }
        }
        if !live.isEmpty {
            // The jobs this ends before they started (a TERMINATE of 100,000 held tasks) finish on
            // this thread: their outcomes go to the spool in one transaction, not one each.
            let results = collectingOutcomes { backend.control(live, action) }
            for (id, error) in results { failures.append(JobFailure(jobID: id, error: error)) }
        }
        return failures
    }

    /// An outcome reported while its thread collects them, with what ``reportFinished(_:_:)`` needs.
    private struct CollectedOutcome {
        var jobID: String
        var outcome: JobOutcome
        var session: String
    }

    /// Outcomes reported on a thread inside ``collectingOutcomes(_:)``, by thread.
    private let collected = Mutex<[UInt: [CollectedOutcome]]>([:])

    /// Runs `body`; the outcomes reported meanwhile on this thread are recorded in one spool
    /// transaction at the end, and only then announced (each durable before a client sees it).
    private func collectingOutcomes<R>(_ body: () -> R) -> R {
        let thread = UInt(pthread_self())
        collected.withLock { $0[thread] = [] }
        let result = body()
        let outcomes = collected.withLock { $0.removeValue(forKey: thread) } ?? []
        guard !outcomes.isEmpty else { return result }
        let now = Syscall.realtimeSeconds()
        let records = outcomes.compactMap { collected -> DaemonOutcome? in
            guard let key = Self.key(collected.jobID) else { return nil }
            return DaemonOutcome(submission: key.submission, task: key.task, session: collected.session, time: now,
                                 payload: collected.outcome.wireBytes)
        }
        do throws(DRMAAError) {
            try store.recordOutcomes(records)
        } catch {
            // The transaction is rolled back whole: each is tried on its own, so that one bad
            // record costs only its own outcome.
            for record in records {
                do throws(DRMAAError) {
                    try store.recordOutcome(submission: record.submission, task: record.task, session: record.session,
                                            at: record.time, payload: record.payload)
                } catch {
                    log("cannot record the outcome of job \(record.submission).\(record.task): \(error.message)")
                }
            }
        }
        for outcome in outcomes { announceFinished(outcome.jobID, outcome.outcome, session: outcome.session) }
        return result
    }

    private func status(_ ids: [String]) throws(DRMAAError) -> Reply {
        var records: [LocalDRMWire.JobRecord] = []
        var failures: [JobFailure] = []
        for id in ids {
            if let job = state.withLock({ $0.live[id] }) {
                records.append(LocalDRMWire.JobRecord(jobID: id, bulkJobID: job.bulkJobID, state: job.state))
                continue
            }
            guard let key = Self.key(id), let found = try store.outcome(submission: key.submission, task: key.task) else {
                failures.append(JobFailure(jobID: id, error: DRMAAError(.invalidJob, "job \(id) is not known to LocalDRM (never submitted, or reaped)")))
                continue
            }
            do throws(WireError) {
                let outcome = try JobOutcome(wireBytes: found.payload)
                records.append(LocalDRMWire.JobRecord(jobID: id, bulkJobID: found.bulk ? String(key.submission) : nil,
                                                      state: outcome.finalState, outcome: outcome))
            } catch {
                failures.append(JobFailure(jobID: id, error: DRMAAError(.internalError, "the spool holds an unreadable outcome of job \(id): \(error)")))
            }
        }
        return .statuses(records, failures: failures)
    }

    /// Job ids reserved in the store and not handed out yet: a block is reserved at a time, so
    /// that most submissions write nothing for their id (a restart skips the rest of a block).
    /// After this many finished jobs, once none is left, freed memory is given back (malloc_trim).
    static let trimAfter = 10_000

    private let reservedIDs = Mutex<ClosedRange<Int64>?>(nil)
    static let idBlock = 64

    private func nextJobID() throws(DRMAAError) -> Int64 {
        try reservedIDs.withLock { block throws(DRMAAError) -> Int64 in
            if let current = block, !current.isEmpty {
                block = current.count > 1 ? (current.lowerBound + 1)...current.upperBound : nil
                return current.lowerBound
            }
            let fresh = try store.reserveJobIDs(count: Self.idBlock)
            block = fresh.count > 1 ? (fresh.lowerBound + 1)...fresh.upperBound : nil
            return fresh.lowerBound
        }
    }

    // MARK: Recovery

    /// Takes up what a previous daemon left (called once, before clients are served): jobs whose
    /// shepherds still run are adopted, outcomes written while no daemon ran are taken in, and
    /// jobs that never started are queued again, held or not as they were. A job whose shepherd
    /// is gone without an outcome ends as lost, with the reason. Returns what it found, for the log.
    package func recover() -> String {
        guard let backend else { return "not ready" }
        let unfinished: [UnfinishedSubmission]
        do throws(DRMAAError) {
            unfinished = try store.unfinishedSubmissions()
        } catch {
            return "cannot read the spool: \(error.message)"
        }
        let directory = Self.shepherdDirectory(stateDirectory: configuration.stateDirectory)
        var queued = 0, adopted = 0, ingested = 0, lost = 0
        var settingsBySession: [String: LocalDRM.Settings] = [:]
        for entry in unfinished {
            do throws(DRMAAError) {
                let sessionSettings: LocalDRM.Settings
                if let known = settingsBySession[entry.session] {
                    sessionSettings = known
                } else {
                    sessionSettings = try Self.settings(Self.options(entry.sessionOptions))
                    settingsBySession[entry.session] = sessionSettings
                }
                let inputs: SubmissionInputs
                do throws(WireError) {
                    inputs = try SubmissionInputs(wireBytes: entry.payload)
                } catch {
                    throw DRMAAError(.internalError, "submission \(entry.id) in the spool is unreadable: \(error)")
                }
                var settings = sessionSettings
                settings.configuration.homeDirectory = inputs.homeDirectory
                let submission = try Submission(jobID: String(entry.id), taskIndexes: inputs.taskRange.map { stride(from: $0.begin, through: $0.end, by: $0.step) },
                                                template: inputs.template, homeDirectory: inputs.homeDirectory,
                                                submissionTime: inputs.submissionTime, timeZone: SystemTimeZone())
                let first = submission.first
                let options = try LocalBackend.options(category: first.jobCategory, nativeSpecification: first.nativeSpecification,
                                                       settings: settings)
                let environment = inputs.environment.map { "\($0.name)=\($0.value)" }
                state.withLock { state in
                    if state.sessions[entry.session] == nil { state.sessions[entry.session] = Session(settings: sessionSettings) }
                }
                var pendingQueued: [Int?] = [], pendingHeld: [Int?] = []
                let indexes: [Int?] = submission.taskIndexes.map { $0.map { Optional($0) } } ?? [nil]
                for index in indexes {
                    let task = index ?? 0
                    guard !entry.finished.contains(task) else { continue }
                    let id = submission.jobID(taskIndex: index)
                    let lockPath = ShepherdLaunch.lockPath(directory: directory, jobID: id)
                    func takeIn(_ link: ShepherdLink?, jobPID: pid_t, startTime: Double, ended: ShepherdOutcome?, reason: String) {
                        state.withLock { state in
                            state.live[id] = LiveJob(state: .running, session: entry.session, bulkJobID: submission.bulkJobID)
                            state.idleSince = nil
                        }
                        backend.adopt(submission, taskIndex: index, options: options, settings: settings, environment: environment,
                                      currentDirectory: inputs.currentDirectory, session: entry.session, link: link, jobPID: jobPID,
                                      startTime: startTime, temporary: ShepherdLaunch.temporaryDirectory(inLock: lockPath),
                                      ended: ended, lostReason: reason)
                    }
                    let outcomeFile = { (try? ShepherdOutcomeFile.read(directory: directory, jobID: id)) ?? nil }
                    if let ended = outcomeFile() {
                        takeIn(nil, jobPID: ended.jobPID, startTime: ended.startTime, ended: ended, reason: "")
                        ingested += 1
                        continue
                    }
                    guard Syscall.identity(of: lockPath) != nil else {
                        // Never started: queued again.
                        if entry.holds[task] ?? entry.held { pendingHeld.append(index) } else { pendingQueued.append(index) }
                        continue
                    }
                    if let (link, jobPID, startTime) = Self.reconnect(jobID: id, directory: directory, lockPath: lockPath) {
                        takeIn(link, jobPID: jobPID, startTime: startTime, ended: nil, reason: "")
                        adopted += 1
                    } else if let ended = outcomeFile() {
                        takeIn(nil, jobPID: ended.jobPID, startTime: ended.startTime, ended: ended, reason: "")
                        ingested += 1
                    } else {
                        takeIn(nil, jobPID: 0, startTime: inputs.submissionTime, ended: nil,
                               reason: "its shepherd ended while no LocalDRM daemon ran, and left no outcome (the daemon was killed while it started the job, or the shepherd was killed)")
                        lost += 1
                    }
                }
                for (tasks, held) in [(pendingQueued, false), (pendingHeld, true)] where !tasks.isEmpty {
                    state.withLock { state in
                        for index in tasks {
                            state.live[submission.jobID(taskIndex: index)] = LiveJob(state: held ? .userOnHold : .queuedActive,
                                                                                     session: entry.session, bulkJobID: submission.bulkJobID)
                        }
                        state.idleSince = nil
                    }
                    try backend.submit(submission, options: options, settings: settings, environment: { environment },
                                       currentDirectory: { inputs.currentDirectory }, session: entry.session, only: tasks, held: held)
                    queued += tasks.count
                }
            } catch {
                log("cannot take up submission \(entry.id): \(error.message)")
            }
        }
        if unfinished.isEmpty { return "nothing to take up" }
        return "took up \(adopted) running job(s) from their shepherds, \(ingested) outcome(s) written meanwhile, \(queued) job(s) to run; \(lost) lost"
    }

    /// Connects to the shepherd of job `jobID`, which listens once its daemon is gone: its link,
    /// and the job's pid and start time from its first message. `nil` once its lock is free (the
    /// shepherd ended) or after 10 s.
    private static func reconnect(jobID: String, directory: String, lockPath: String) -> (ShepherdLink, pid_t, Double)? {
        let socket = ShepherdListenSocket.path(directory: directory, jobID: jobID)
        let deadline = Syscall.monotonicNanoseconds() + 10_000_000_000
        while Syscall.monotonicNanoseconds() < deadline {
            if let fd = try? Syscall.connectUnix(socket, type: Syscall.packetSocket) {
                var buffer = [UInt8](repeating: 0, count: 4096)
                if let ready = try? Syscall.poll([(fd, Int16(POLLIN))], timeoutMilliseconds: 2000), ready[0] != 0,
                   let count = try? Syscall.receive(fd, into: &buffer), count > 0,
                   case .started(let pid, let start)? = try? ShepherdMessage(decoding: buffer[..<count]) {
                    return (ShepherdLink(descriptor: fd), pid, start)
                }
                Syscall.close(fd)
            }
            // Free: no shepherd holds it any more.
            if let fd = try? Syscall.tryLock(lockPath) {
                Syscall.close(fd)
                return nil
            }
            usleep(20_000)
        }
        return nil
    }

    // MARK: Reports from the scheduler

    package func reportState(_ jobID: String, _ newState: JobState) {
        var previous: JobState?
        push(jobID, .stateChanged(jobID: jobID, state: newState)) { job in
            previous = job.state
            job.state = newState
        }
        // Holds and releases of pending jobs are kept: a restarted daemon queues them as they were.
        let pending: Set<JobState> = [.userOnHold, .queuedActive]
        if pending.contains(newState), let previous, pending.contains(previous), previous != newState, let key = Self.key(jobID) {
            do throws(DRMAAError) {
                try store.recordHold(submission: key.submission, task: key.task, held: newState == .userOnHold)
            } catch {
                log("cannot record the hold of job \(jobID): \(error.message)")
            }
        }
    }

    package func reportTerminating(_ jobID: String) {
        push(jobID, .terminating(jobID: jobID)) { $0.state = .failed }
    }

    package func reportNote(_ jobID: String, _ note: String?) {
        push(jobID, .note(jobID: jobID, text: note)) { _ in }
    }

    package func reportFinished(_ jobID: String, _ outcome: JobOutcome) {
        guard let job = state.withLock({ $0.live[jobID] }) else { return }
        let thread = UInt(pthread_self())
        let isCollected = collected.withLock { collected -> Bool in
            guard collected[thread] != nil else { return false }
            collected[thread]!.append(CollectedOutcome(jobID: jobID, outcome: outcome, session: job.session))
            return true
        }
        if isCollected { return }
        // Durable first: once a client has seen the outcome, a restarted daemon must still have it.
        if let key = Self.key(jobID) {
            do throws(DRMAAError) {
                try store.recordOutcome(submission: key.submission, task: key.task, session: job.session,
                                        at: Syscall.realtimeSeconds(), payload: outcome.wireBytes)
            } catch {
                log("cannot record the outcome of job \(jobID): \(error.message)")
            }
        }
        announceFinished(jobID, outcome, session: job.session)
    }

    /// After its outcome is in the spool: the job's files go, and its session's clients are told.
    private func announceFinished(_ jobID: String, _ outcome: JobOutcome, session: String) {
        ShepherdLaunch.removeFiles(directory: Self.shepherdDirectory(stateDirectory: configuration.stateDirectory), jobID: jobID)
        let (connections, trim) = state.withLock { state -> ([Connection], Bool) in
            state.live[jobID] = nil
            let attached = state.sessions[session].map { Array($0.attached.values) } ?? []
            markIdleIfIdle(&state)
            state.finishedSinceTrim += 1
            // Once a large batch has ended, the memory its queue took goes back to the system.
            let trim = state.live.isEmpty && state.finishedSinceTrim >= Self.trimAfter
            if trim { state.finishedSinceTrim = 0 }
            return (attached, trim)
        }
        send(.finished(jobID: jobID, outcome: outcome), to: connections)
        Syscall.notify(wakeup)
        if trim { Syscall.returnFreedMemory() }
    }

    private func push(_ jobID: String, _ event: Event, _ update: (inout LiveJob) -> Void) {
        let connections = state.withLock { state -> [Connection] in
            guard var job = state.live[jobID] else { return [] }
            update(&job)
            state.live[jobID] = job
            return state.sessions[job.session].map { Array($0.attached.values) } ?? []
        }
        send(event, to: connections)
    }

    private func send(_ event: Event, to connections: [Connection]) {
        guard !connections.isEmpty, let frame = try? DaemonMessage.event(event).framed() else { return }
        for connection in connections { connection.send(frame) }
    }

    // MARK: Helpers

    /// The settings of a session opened with these options (the client resolved its environment's defaults).
    static func settings(_ options: [NamedValue]) throws(DRMAAError) -> LocalDRM.Settings {
        let parsed = try LocalDRM.parseOptions(options.map { ($0.name, $0.value) }, into: LocalDRM.Configuration())
        return try LocalDRM.Settings(parsed.configuration, categoriesPath: parsed.categoriesPath,
                                     emulationChosen: parsed.emulationChosen, environment: { _ in nil })
    }

    /// Session options as the spool keeps them: their wire encoding in hexadecimal.
    static func text(_ options: [NamedValue]) -> String {
        var encoder = WireEncoder()
        encoder.write(options) { $0.write($1) }
        return encoder.bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    static func options(_ text: String) throws(DRMAAError) -> [NamedValue] {
        let digits = Array(text.utf8)
        var bytes: [UInt8] = []
        var index = 0
        while index + 1 < digits.count {
            guard let byte = UInt8(String(decoding: digits[index...index + 1], as: UTF8.self), radix: 16) else { break }
            bytes.append(byte)
            index += 2
        }
        var decoder = WireDecoder(bytes)
        do throws(WireError) {
            let options = try decoder.readList("the session options", minimumSize: 2) { (decoder) throws(WireError) in
                try decoder.read(NamedValue.self)
            }
            try decoder.finish("the session options")
            return options
        } catch {
            throw DRMAAError(.internalError, "the spool holds unreadable session options: \(error)")
        }
    }

    /// The submission and task of a job id this daemon issued (`7`, `7.3`).
    static func key(_ jobID: String) -> (submission: Int64, task: Int)? {
        let parts = jobID.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let submission = Int64(parts[0]), submission >= 1 else { return nil }
        guard parts.count == 2 else { return (submission, 0) }
        guard let task = Int(parts[1]), task >= 1 else { return nil }
        return (submission, task)
    }

    static func jobID(_ submission: Int64, _ task: Int) -> String { task == 0 ? "\(submission)" : "\(submission).\(task)" }

    func log(_ message: String) { DaemonProcess.log(message) }
}

