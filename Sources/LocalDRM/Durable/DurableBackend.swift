import CLocalDRM
import DRMAACore
import Glibc
import LocalDRMWire

/// The backend of a LocalDRM session in the durable mode: a client of the user's daemon, which
/// runs the jobs. The session's table learns of changes from the events the daemon pushes (no
/// polling); `jobStatus` and `control` ask the daemon for fresh states first.
///
/// Jobs do not depend on this process: they keep running, queued ones start, and their
/// outcomes are kept, after `drmaa_exit`, after this process ends or is killed. A forked child
/// uses the session over a connection of its own (made on its first call); the parent's is
/// untouched.
final class DurableBackend: Backend {
    let key: String
    let settings: LocalDRM.Settings
    let table: JobTable
    let stateDirectory: String
    /// The options the daemon's session was opened with.
    let options: [NamedValue]

    private struct State {
        /// The connection, and whether it is attached to the session (after open or re-attach).
        var client: DaemonClient?
        /// Set by `drmaa_exit`: the connection is closed and not made again until a re-attach.
        var exited = false
        /// Jobs reaped while the daemon could not be told: told first on the next connection, so
        /// that it never hands their outcomes out again.
        var unsentReaps: [String] = []
        /// Job ids the daemon reserved for this process's next submissions, and the process
        /// they are for (a forked child must not use its parent's).
        var reservedIDs: (owner: pid_t, next: Int64, end: Int64) = (0, 0, 0)
        /// False once the daemon answered that it cannot reserve ids in blocks (an older one).
        var reservesBlocks = true
    }
    private let state = Mutex(State())

    var homeDirectory: String { settings.configuration.homeDirectory }
    var clock: any WallClock { settings.configuration.clock }
    var timeZone: any TimeZoneRule { settings.configuration.timeZone }
    var reportsEveryChange: Bool { false }

    /// Opens session `key` in the daemon (`reattach`: attaches to an existing one, restoring its
    /// unreaped jobs into `table`; `nil` is returned by ``reattached`` when the daemon knows no such session).
    private init(key: String, settings: LocalDRM.Settings, table: JobTable, stateDirectory: String, options: [NamedValue]) {
        (self.key, self.settings, self.table, self.stateDirectory, self.options) = (key, settings, table, stateDirectory, options)
    }

    /// A new session `key` in the daemon of `stateDirectory`.
    static func open(key: String, settings: LocalDRM.Settings, table: JobTable, stateDirectory: String,
                     options: [NamedValue]) throws(DRMAAError) -> DurableBackend {
        let backend = DurableBackend(key: key, settings: settings, table: table, stateDirectory: stateDirectory, options: options)
        let client = try backend.makeClient()
        do throws(DRMAAError) {
            _ = try client.request(.openSession(options: options, key: key)) { reply in
                // A session the daemon knew already (this process's, exited): its jobs come back.
                if case .reattached(let records) = reply { table.restore(records.map(\.restoredJob)) }
            }
        } catch {
            client.close()
            throw error
        }
        backend.state.withLock { $0.client = client }
        return backend
    }

    /// Session `key` re-attached from the daemon, its unreaped jobs restored into `table`; `nil`
    /// if the daemon knows no such session.
    static func reattached(key: String, settings: LocalDRM.Settings, table: JobTable, stateDirectory: String,
                           options: [NamedValue]) throws(DRMAAError) -> DurableBackend? {
        let backend = DurableBackend(key: key, settings: settings, table: table, stateDirectory: stateDirectory, options: options)
        let client = try backend.makeClient()
        do throws(DRMAAError) {
            try backend.attach(client, restoring: true)
        } catch where error.code == .invalidContactString {
            client.close()
            return nil
        } catch {
            client.close()
            throw error
        }
        backend.state.withLock { $0.client = client }
        return backend
    }

    /// Attaches `client` to the session; the records update the table on the connection's thread,
    /// before any event that follows them.
    private func attach(_ client: DaemonClient, restoring: Bool) throws(DRMAAError) {
        let table = self.table
        _ = try client.request(.reattach(key: key)) { reply in
            guard case .reattached(let records) = reply else { return }
            let jobs = records.map(\.restoredJob)
            if restoring { table.restore(jobs) } else { table.merge(jobs) }
        }
    }

    private func makeClient() throws(DRMAAError) -> DaemonClient {
        let table = self.table
        return try DaemonClient.connect(stateDirectory: stateDirectory, onEvent: { event in
            switch event {
            case .stateChanged(let id, let state): table.reportState(id, state)
            case .finished(let id, let outcome): table.reportFinished(id, outcome)
            case .terminating(let id): table.reportTerminating(id)
            case .note(let id, let text): table.reportNote(id, text)
            case .unknown: break
            }
        }, onClose: { [weak self] _ in
            self?.connectionLost()
        })
    }

    /// The connection broke (the daemon died or was stopped): a new one is made, to a daemon
    /// started anew if need be, and the table is brought up to date; waits in progress go on.
    private func connectionLost() {
        // Not when this side closed it (drmaa_exit), nor for a connection already replaced.
        guard state.withLock({ !$0.exited && ($0.client?.isClosed ?? true) }) else { return }
        try? Syscall.startThread { [weak self] ready in
            ready()
            var delay: UInt32 = 10_000
            while let self, self.state.withLock({ !$0.exited }) {
                if (try? self.reconnect()) != nil { return }
                usleep(delay)
                delay = min(delay * 2, 2_000_000)
            }
        }
    }

    /// A new connection, attached and merged; replaces the current one.
    @discardableResult
    private func reconnect() throws(DRMAAError) -> DaemonClient {
        let client = try makeClient()
        do throws(DRMAAError) {
            let unsent = state.withLock { $0.unsentReaps }
            if !unsent.isEmpty {
                _ = try client.request(.reap(jobIDs: unsent))
                state.withLock { $0.unsentReaps.removeFirst(min(unsent.count, $0.unsentReaps.count)) }
            }
            try attach(client, restoring: false)
        } catch {
            client.close()
            throw error
        }
        let old = state.withLock { state -> DaemonClient? in
            defer { state.client = client }
            return state.client
        }
        if let old, old !== client, old.ownerProcessID == Syscall.processID() { old.close() }
        return client
    }

    /// The connection of this process, made anew in a forked child or after the connection broke.
    private func client() throws(DRMAAError) -> DaemonClient {
        let current = state.withLock { $0.client }
        if let current, current.ownerProcessID == Syscall.processID(), !current.isClosed { return current }
        // A forked child never touches the parent's connection (its thread is not in the child).
        return try reconnect()
    }

    private func request(_ request: Request) throws(DRMAAError) -> Reply {
        try client().request(request)
    }

    // MARK: Backend

    var isOwnedByThisProcess: Bool { true }

    func effectiveTemplate(for template: JobTemplate) throws(DRMAAError) -> JobTemplate {
        let options = try LocalBackend.options(category: template.jobCategory, nativeSpecification: template.nativeSpecification,
                                               settings: settings)
        return try options.filling(template, environmentValue: Syscall.environmentValue, currentDirectory: Syscall.currentDirectory)
    }

    /// How many job ids one request reserves: a process that submits one job after another asks
    /// the daemon once per block, not once per job. Ids a process never uses stay unused (gaps).
    static let jobIDBlock = 32

    func newJobID() throws(DRMAAError) -> String {
        let pid = Syscall.processID()
        let (cached, blocks) = state.withLock { state -> (Int64?, Bool) in
            let ids = state.reservedIDs
            guard ids.owner == pid, ids.next < ids.end else { return (nil, state.reservesBlocks) }
            state.reservedIDs.next += 1
            return (ids.next, state.reservesBlocks)
        }
        if let cached { return String(cached) }
        if blocks {
            do throws(DRMAAError) {
                if case .reservedJobIDs(let first, let count) = try request(.reserveJobIDs(count: Self.jobIDBlock)) {
                    state.withLock { $0.reservedIDs = (pid, first + 1, first + Int64(count)) }
                    return String(first)
                }
            } catch where error.code == .internalError {
                // A daemon of an earlier release does not know the request: one id per request.
            }
            state.withLock { $0.reservesBlocks = false }
        }
        guard case .submitted(let id) = try request(.reserveJobID) else {
            throw DRMAAError(.drmCommunicationFailure, "the LocalDRM daemon answered a job id request with another reply")
        }
        return id
    }

    func submit(_ submission: Submission) throws(DRMAAError) {
        var template = submission.template
        // Fully specified instants: the daemon resolves them to exactly what this session did.
        if let start = submission.first.startTime { try template.setAttribute(AttributeName.startTime.rawValue, PartialTimestamp.fullySpecified(start)) }
        if let deadline = submission.first.deadlineTime { try template.setAttribute(AttributeName.deadlineTime.rawValue, PartialTimestamp.fullySpecified(deadline)) }
        let environment = Syscall.environment().map { entry -> NamedValue in
            guard let equals = entry.firstIndex(of: "=") else { return NamedValue(name: entry, value: "") }
            return NamedValue(name: String(entry[..<equals]), value: String(entry[entry.index(after: equals)...]))
        }
        let range = submission.taskIndexes.flatMap { indexes -> LocalDRMWire.TaskRange? in
            guard let first = indexes.first(where: { _ in true }) else { return nil }
            let last = indexes.reversed().first ?? first
            return LocalDRMWire.TaskRange(begin: first, end: last, step: Self.step(of: indexes))
        }
        let inputs = SubmissionInputs(template: template, homeDirectory: homeDirectory, submissionTime: submission.first.submissionTime,
                                      environment: environment, currentDirectory: (try? Syscall.currentDirectory()) ?? homeDirectory,
                                      taskRange: range)
        _ = try request(.submit(jobID: submission.jobID, inputs))
    }

    /// The step of a stride (its second element less its first; 1 for one element).
    private static func step(of indexes: StrideThrough<Int>) -> Int {
        var iterator = indexes.makeIterator()
        guard let first = iterator.next(), let second = iterator.next() else { return 1 }
        return second - first
    }

    func control(_ jobID: String, _ action: JobControlAction) throws(DRMAAError) {
        if let error = control([jobID], action)[jobID] { throw error }
    }

    func control(_ jobIDs: [String], _ action: JobControlAction) -> [String: DRMAAError] {
        do throws(DRMAAError) {
            guard case .controlled(let failures) = try request(.control(jobIDs: jobIDs, action: action)) else {
                throw DRMAAError(.drmCommunicationFailure, "the LocalDRM daemon answered a control request with another reply")
            }
            return Dictionary(failures.map { ($0.jobID, $0.error) }, uniquingKeysWith: { first, _ in first })
        } catch {
            return Dictionary(jobIDs.map { ($0, error) }, uniquingKeysWith: { first, _ in first })
        }
    }

    func updateStates(of jobIDs: [String]) throws(DRMAAError) {
        guard case .statuses(let records, _) = try request(.status(jobIDs: jobIDs)) else {
            throw DRMAAError(.drmCommunicationFailure, "the LocalDRM daemon answered a status request with another reply")
        }
        table.merge(records.map(\.restoredJob))
    }

    func stateOfOtherJob(_ jobID: String) throws(DRMAAError) -> JobState? {
        guard case .statuses(let records, let failures) = try request(.status(jobIDs: [jobID])) else {
            throw DRMAAError(.drmCommunicationFailure, "the LocalDRM daemon answered a status request with another reply")
        }
        if let record = records.first(where: { $0.jobID == jobID }) { return record.outcome?.finalState ?? record.state }
        if let failure = failures.first(where: { $0.jobID == jobID }), failure.error.code != .invalidJob { throw failure.error }
        return nil
    }

    func controlOtherJob(_ jobID: String, _ action: JobControlAction) throws(DRMAAError) -> Bool {
        guard let error = control([jobID], action)[jobID] else { return true }
        if error.code == .invalidJob { return false }
        throw error
    }

    func jobsReaped(_ jobIDs: [String]) {
        do throws(DRMAAError) {
            _ = try request(.reap(jobIDs: jobIDs))
        } catch {
            state.withLock { $0.unsentReaps += jobIDs }
        }
    }

    func sessionDidExit() {
        let client = state.withLock { state -> DaemonClient? in
            state.exited = true
            defer { state.client = nil }
            return state.client
        }
        guard let client, client.ownerProcessID == Syscall.processID() else { return }
        _ = try? client.request(.exitSession, timeout: 10)
        client.close()
    }

    func sessionDidReattach() {
        state.withLock { $0.exited = false }
        _ = try? reconnect()
    }

    func taskJobID(bulkJobID: String, taskIndex: Int) -> String { "\(bulkJobID).\(taskIndex)" }
}
