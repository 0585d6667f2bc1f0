import DRMAACore
import Glibc
import LocalDRM

/// The backend of one DRMAA session on Slurm. Its jobs are tagged `--comment=drmaa:<session
/// key>`; a poller thread runs one `squeue` for all of them per interval and reports what
/// changed into the session's table.
final class SlurmBackend: Backend {
    let system: SlurmDRM
    let sessionKey: String
    let table: JobTable
    let pollInterval: ClosedRange<Double>
    var homeDirectory: String { system.homeDirectory }
    var clock: any WallClock { system.clock }
    var timeZone: any TimeZoneRule { system.timeZone }
    var reportsEveryChange: Bool { false }
    var namesJobsOnSubmission: Bool { true }

    /// The poller thread: none (idle), polling (running), or asked to end (stopped).
    private enum Poller { case idle, running, stopped }
    private struct State {
        /// Jobs not yet finished, with the state last reported.
        var live: [String: JobState] = [:]
        /// Jobs this session suspended (Slurm shows a user's and an operator's suspend alike).
        var suspendedByUs: Set<String> = []
        var poller: Poller = .idle
        /// The next poll is soon (a submission or a change happened).
        var hurry = true
        /// Jobs neither the controller nor accounting knew, since when (accounting may lag behind).
        var unknownSince: [String: Double] = [:]
        /// Accounting answered that it is not configured: not asked again.
        var noAccounting = false
        /// Jobs of this session already reaped: to `drmaa_job_ps` they are no longer jobs.
        var reaped: Set<String> = []
        /// The least time left before a running job of the session reaches its time limit.
        var soonestLimit: Double?
        /// When squeue last answered.
        var lastPoll = -Double.infinity
    }
    /// `drmaa_job_ps` answers from a poll at most this old (seconds); an older one is renewed
    /// first, so that many status calls in a row cost one squeue per interval, not one each.
    static let statusFreshness = 1.0
    /// How long a job may be missing from both the controller and accounting before its end is unknown.
    static let unknownGrace = 30.0
    private let state = Mutex(State())
    private let wake = Wakeup()

    /// sbatch options by job category.
    let categories: [String: [String]]
    let journal: SessionJournal?

    init(system: SlurmDRM, sessionKey: String, table: JobTable, pollInterval: ClosedRange<Double>,
         categories: [String: [String]] = [:], journal: SessionJournal? = nil) {
        (self.system, self.sessionKey, self.table, self.pollInterval) = (system, sessionKey, table, pollInterval)
        (self.categories, self.journal) = (categories, journal)
    }

    /// The process that made the backend: a forked child gets a session of its own (its poller
    /// thread did not survive the fork, and the jobs are the parent's).
    private let owner = getpid()
    var isOwnedByThisProcess: Bool { getpid() == owner }

    /// A process that re-attaches with the contact must reach Slurm too, whatever its environment says.
    var contactOptions: [(name: String, value: String)] { [("backend", "slurm")] }

    var sessionTag: String { "drmaa:\(sessionKey)" }

    /// The bulk job of a task id (`7` of `7_3`); `nil` for a single job's id.
    static func bulkJobID(of jobID: String) -> String? {
        jobID.firstIndex(of: "_").map { String(jobID[..<$0]) }
    }

    func taskJobID(bulkJobID: String, taskIndex: Int) -> String { "\(bulkJobID)_\(taskIndex)" }

    func submit(_ submission: Submission) throws(DRMAAError) {
        throw DRMAAError(.internalError, "Slurm names its jobs: submitNamingJob is the call")
    }

    func validate(_ template: JobTemplate) throws(DRMAAError) {
        _ = try sbatchWords(template)
        for (name, _) in template.jobEnvironment {
            let scalars = Array(name.unicodeScalars)
            let valid = !scalars.isEmpty && scalars.allSatisfy { $0.isASCII && ($0 == "_" || ($0.properties.isAlphabetic) || ("0"..."9").contains($0)) }
                && !("0"..."9").contains(scalars[0])
            guard valid else {
                throw DRMAAError(.deniedByDRM, "drmaa_v_env: '\(name)' is not a variable name a batch script can set (letters, digits and _, not starting with a digit)")
            }
        }
    }

    /// The sbatch options a template adds: its job category's, then its native specification's
    /// (so that the latter win), with LocalDRM's bulk throttle (`--task-limit=n`, `-tc n`) taken
    /// out to become the array's `%n`.
    func sbatchWords(_ template: JobTemplate) throws(DRMAAError) -> (words: [String], taskLimit: Int?) {
        var words = template.jobCategory.flatMap { categories[$0] } ?? []
        if let specification = template.nativeSpecification, !specification.isEmpty {
            do throws(NativeValues.WordError) {
                words += try NativeValues.shellWords(specification)
            } catch {
                throw DRMAAError(.deniedByDRM, "drmaa_native_specification '\(specification)' \(error.message)")
            }
        }
        var kept: [String] = []
        var taskLimit: Int?
        var index = 0
        while index < words.count {
            let word = words[index]
            var value: String?
            if word == "--task-limit" || word == "-tc" {
                guard index + 1 < words.count else { throw DRMAAError(.deniedByDRM, "drmaa_native_specification: \(word) needs a number of tasks") }
                value = words[index + 1]
                index += 1
            } else if word.hasPrefix("--task-limit=") {
                value = String(word.dropFirst("--task-limit=".count))
            }
            if let value {
                guard let limit = Int(value), (1...Session.maximumBulkTasks).contains(limit) else {
                    throw DRMAAError(.deniedByDRM, "drmaa_native_specification: task limit '\(value)' is invalid: it takes a whole number from 1 to \(Session.maximumBulkTasks)")
                }
                taskLimit = limit
            } else {
                kept.append(word)
            }
            index += 1
        }
        return (kept, taskLimit)
    }

    func submitNamingJob(_ submission: Submission, record: (Submission) -> Void) throws(DRMAAError) -> String {
        let (words, taskLimit) = try sbatchWords(submission.template)
        let batch = BatchSubmission(submission, sessionTag: sessionTag, nativeWords: words, taskLimit: taskLimit,
                                    localTime: { [timeZone] in Self.localTime($0, timeZone) })
        let answer = try system.commands.run("sbatch", batch.options, input: batch.script)
        guard Self.succeeded(answer) else {
            throw Self.refusal("sbatch", answer.error.isEmpty ? answer.output : answer.error)
        }
        // `--parsable`: `<id>` or `<id>;<cluster>`.
        let line = answer.output.split(whereSeparator: \.isNewline).last.map(String.init) ?? ""
        let id = String(line.split(separator: ";").first ?? "")
        guard !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw DRMAAError(.internalError, "sbatch accepted the job but printed no job id: '\(answer.output)'")
        }
        let named = submission.named(id)
        record(named)  // the table knows the jobs before the poller can report on them
        // The job runs whatever happens here: a journal that cannot be written costs only the
        // re-attach from another process (which then finds those of the jobs Slurm still runs).
        try? journal?.recordSubmission(id, tasks: submission.taskIndexes)
        let initial: JobState = submission.first.hold ? .userOnHold : .queuedActive
        state.withLock { state in
            for jobID in named.jobIDs { state.live[jobID] = initial }
            state.hurry = true
        }
        startPoller()
        return id
    }

    /// Whether a command succeeded: exit status 0, or, where the host reaps our children itself
    /// (SIGCHLD ignored, `waitpid(-1)`) so that no status can be had, nothing on stderr.
    static func succeeded(_ answer: (status: Int32?, output: String, error: String)) -> Bool {
        answer.status == 0 || (answer.status == nil && answer.error.isEmpty)
    }

    /// Slurm's refusal: DENIED_BY_DRM with its own message, or DRM_COMMUNICATION_FAILURE when the
    /// controller could not be reached (so that clients such as Snakemake retry).
    static func refusal(_ command: String, _ message: String) -> DRMAAError {
        let text = String(message.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
        let unreachable = ["Unable to contact slurm controller", "Socket timed out", "Connection refused",
                           "Zero Bytes were transmitted", "Unable to establish", "slurm_persist_conn"]
        if unreachable.contains(where: { text.contains($0) }) {
            return DRMAAError(.drmCommunicationFailure, "\(command): the Slurm controller cannot be reached: \(text)")
        }
        return DRMAAError(.deniedByDRM, "\(command) refused the job: \(text)")
    }

    static func localTime(_ instant: Int64, _ timeZone: any TimeZoneRule) -> String {
        let civil = CivilTime(epochSeconds: instant + Int64(timeZone.utcOffset(at: instant)))
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(civil.year)-\(two(civil.month))-\(two(civil.day))T\(two(civil.hour)):\(two(civil.minute)):\(two(civil.second))"
    }

    // MARK: Monitoring

    func updateStates(of jobIDs: [String]) throws(DRMAAError) {
        let now = clock.now()
        guard state.withLock({ now - $0.lastPoll >= Self.statusFreshness }) else { return }
        try poll()
    }

    private func startPoller() {
        let start = state.withLock { state -> Bool in
            guard state.poller == .idle else { return false }
            state.poller = .running
            return true
        }
        if start {
            if !startBackgroundThread({ [weak self] in self?.pollLoop() }) {
                state.withLock { $0.poller = .idle }  // polled on demand (jobStatus) instead
            }
        } else {
            wake.signal()
        }
    }

    private func pollLoop() {
        var interval = pollInterval.lowerBound
        while true {
            let live = state.withLock { state -> Bool in
                // The thread ends (idle) when nothing is live or the session exited (stopped).
                if state.live.isEmpty || state.poller == .stopped { state.poller = .idle; return false }
                return true
            }
            guard live else { return }
            let changed = (try? poll()) ?? false
            let hurry = state.withLock { state -> Bool in
                defer { state.hurry = false }
                return state.hurry
            }
            interval = changed || hurry ? pollInterval.lowerBound : min(interval * 1.5, pollInterval.upperBound)
            // A job about to reach its time limit ends soon: polls at most a second apart until then.
            if let soonest = state.withLock({ $0.soonestLimit }), soonest <= interval {
                interval = max(pollInterval.lowerBound, min(interval, 1))
            }
            wake.sleep(seconds: interval)
        }
    }

    /// One `squeue` for every job of the user; the session's jobs that changed are reported, and
    /// those that ended get their outcome from the controller or accounting. True if anything changed.
    @discardableResult
    private func poll() throws(DRMAAError) -> Bool {
        let live = state.withLock { $0.live }
        guard !live.isEmpty else { return false }
        let queue: [String: SlurmRecords.Queued]
        do throws(DRMAAError) {
            let answer = try system.commands.run("squeue", ["-h", "-t", "all", "-u", String(getuid()), "-o", SlurmRecords.queueFields], input: [])
            guard Self.succeeded(answer) else { throw Self.refusal("squeue", answer.error) }
            queue = SlurmRecords.queue(answer.output)
            let now = clock.now()
            state.withLock { $0.lastPoll = now }
        } catch {
            throw error.code == .deniedByDRM ? DRMAAError(.drmCommunicationFailure, error.message) : error
        }
        var changed = false
        var ended: [String] = []
        var soonest: Double?
        let suspended = state.withLock { $0.suspendedByUs }
        for (id, last) in live {
            guard let record = queue[id] else { ended.append(id); continue }
            state.withLock { _ = $0.unknownSince.removeValue(forKey: id) }  // listed again: a later miss starts its grace anew
            if record.state == "RUNNING", let left = record.timeLeft { soonest = min(soonest ?? left, left) }
            if let now = SlurmRecords.state(record, suspendedByUs: suspended.contains(id)) {
                // Another poll (a status call's, the poller's) may have finished the job meanwhile.
                if now != last, state.withLock({ state -> Bool in
                    guard state.live[id] != nil else { return false }
                    state.live[id] = now
                    return true
                }) {
                    table.reportState(id, now)
                    changed = true
                }
            } else {
                ended.append(id)
            }
        }
        state.withLock { $0.soonestLimit = soonest }
        if !ended.isEmpty {
            finish(ended, inQueue: queue)
            changed = true
        }
        return changed
    }

    /// Reports the outcomes of jobs that ended: from accounting (`sacct`: exit, times, CPU time
    /// and peak memory) where it has their end, else from the controller (`scontrol show job`)
    /// while it still holds them. A job neither knows is waited for a while (accounting may lag
    /// behind the controller), then ends as lost, with the reason; never assumed DONE.
    private func finish(_ ids: [String], inQueue queue: [String: SlurmRecords.Queued]) {
        var outcomes: [String: SlurmRecords.Ended] = [:]
        var accountingError: String?
        if state.withLock({ $0.noAccounting }) {
            accountingError = "accounting is not configured"
        } else {
            do throws(DRMAAError) {
                // Ask for the jobs of bulk tasks (`7`, not `7_3`, also finds tasks).
                let asked = Set(ids.map { Self.bulkJobID(of: $0) ?? $0 }).sorted()
                let answer = try system.commands.run("sacct", ["-n", "-P", "-j", asked.joined(separator: ","),
                                                               "-o", SlurmRecords.accountingFields], input: [])
                if Self.succeeded(answer) {
                    let known = SlurmRecords.accounting(answer.output, timeZone: timeZone)
                    for id in ids {
                        // An array none of whose tasks ran may be one record under the job's own id.
                        if let record = known[id] ?? Self.bulkJobID(of: id).flatMap({ known[$0] }), SlurmRecords.isEnded(record.state) {
                            outcomes[id] = record
                        }
                    }
                } else {
                    accountingError = answer.error
                    if answer.error.contains("accounting storage is disabled") {
                        state.withLock { $0.noAccounting = true }
                    }
                }
            } catch {
                accountingError = error.message
            }
        }
        let inController = ids.filter { outcomes[$0] == nil && queue[$0] != nil }
        if !inController.isEmpty, let answer = try? system.commands.run("scontrol", ["show", "job", "-o"], input: []), Self.succeeded(answer) {
            let known = SlurmRecords.controller(answer.output, timeZone: timeZone)
            for id in inController { if let record = known[id], SlurmRecords.isEnded(record.state) { outcomes[id] = record } }
        }
        let now = clock.now()
        for id in ids {
            let outcome: JobOutcome
            if let record = outcomes[id] {
                outcome = SlurmRecords.outcome(record)
            } else if queue[id] != nil {
                continue  // ended, but its end is not recorded yet: the next poll
            } else {
                // Accounting that answers may simply be late; one that cannot be asked will not change.
                let since = state.withLock { state -> Double in
                    if let since = state.unknownSince[id] { return since }
                    state.unknownSince[id] = now
                    return now
                }
                // Only accounting that is not configured will not change; one that failed (slurmdbd
                // restarting) may answer at the next poll.
                if !state.withLock({ $0.noAccounting }) && now - since < Self.unknownGrace { continue }
                let why = accountingError.map { "and accounting cannot be asked (\($0))" } ?? "and accounting (sacct) has no record of it"
                outcome = JobOutcome(termination: .aborted(reason: "the job's end is unknown: Slurm's controller no longer lists it \(why)"), usage: nil)
            }
            let wasLive = state.withLock { state -> Bool in
                state.suspendedByUs.remove(id)
                state.unknownSince.removeValue(forKey: id)
                return state.live.removeValue(forKey: id) != nil
            }
            if wasLive { table.reportFinished(id, outcome) }
        }
    }

    // MARK: Sessions across processes

    /// Restores the session's unreaped jobs into the table from its journal (or, without one,
    /// from the jobs Slurm lists with the session's tag) and brings their states up to date.
    /// False if neither names a job.
    func rebuild() throws(DRMAAError) -> Bool {
        let journaled = try journal?.read()
        var jobs: [JobTable.RestoredJob] = []
        var seen: Set<String> = []
        let reaped = journaled?.reaped ?? []
        for submission in journaled?.submitted ?? [] {
            let bulk = submission.tasks == nil ? nil : submission.id
            for id in submission.jobIDs where !reaped.contains(id) && seen.insert(id).inserted {
                jobs.append(JobTable.RestoredJob(id: id, bulkJobID: bulk, state: .queuedActive))
            }
        }
        // Jobs Slurm lists with the session's tag that the journal lacks (it could not be written).
        let answer = try system.commands.run("squeue", ["-h", "-t", "all", "-u", String(getuid()), "-o", "%i|%T|%r|%k"], input: [])
        guard Self.succeeded(answer) else { throw Self.refusal("squeue", answer.error) }
        for line in answer.output.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: "|", maxSplits: 3, omittingEmptySubsequences: false)
            guard fields.count == 4, fields[3] == sessionTag else { continue }
            // Without a journal (removed when the session ended with every job reaped, or never
            // written) an ended job may have been reaped already: only unfinished ones are taken.
            if journaled == nil,
               SlurmRecords.state(SlurmRecords.Queued(state: String(fields[1]), reason: String(fields[2])), suspendedByUs: false) == nil { continue }
            for id in SlurmRecords.expand(String(fields[0])) where !reaped.contains(id) && seen.insert(id).inserted {
                jobs.append(JobTable.RestoredJob(id: id, bulkJobID: Self.bulkJobID(of: id), state: .queuedActive))
            }
        }
        guard journaled != nil || !jobs.isEmpty else { return false }
        table.restore(jobs)
        state.withLock { state in
            state.reaped = reaped
            for job in jobs { state.live[job.id] = job.state }
        }
        try poll()
        startPoller()
        return true
    }

    func jobsReaped(_ jobIDs: [String]) {
        state.withLock { $0.reaped.formUnion(jobIDs) }
        try? journal?.recordReaped(jobIDs)
    }

    // MARK: Control

    func control(_ jobID: String, _ action: JobControlAction) throws(DRMAAError) {
        if let error = control([jobID], action)[jobID] { throw error }
    }

    /// Ids per control command: a long bulk job's ids would pass the kernel's limit on one
    /// argument (scontrol's comma-separated list) or on the whole command line.
    static let controlChunk = 1_000

    func control(_ jobIDs: [String], _ action: JobControlAction) -> [String: DRMAAError] {
        var errors: [String: DRMAAError] = [:]
        var done: [String] = []
        for start in stride(from: 0, to: jobIDs.count, by: Self.controlChunk) {
            let chunk = Array(jobIDs[start..<min(start + Self.controlChunk, jobIDs.count)])
            if let error = controlCommand(chunk, action) {
                for id in chunk { errors[id] = error }
            } else {
                done += chunk
            }
        }
        state.withLock { state in
            switch action {
            case .suspend: state.suspendedByUs.formUnion(done)
            case .resume: state.suspendedByUs.subtract(done)
            default: break
            }
            state.hurry = true
            state.lastPoll = -.infinity  // the next status call asks Slurm again
        }
        wake.signal()
        return errors
    }

    /// One scontrol or scancel call for `jobIDs`; its error, if it failed.
    private func controlCommand(_ jobIDs: [String], _ action: JobControlAction) -> DRMAAError? {
        let (command, arguments): (String, [String]) = switch action {
        case .hold: ("scontrol", ["hold"])
        case .release: ("scontrol", ["release"])
        case .suspend: ("scontrol", ["suspend"])
        case .resume: ("scontrol", ["resume"])
        case .terminate: ("scancel", [])
        }
        do throws(DRMAAError) {
            // scontrol takes one job list argument (comma-separated); scancel takes ids as words.
            let ids = command == "scancel" ? jobIDs : [jobIDs.joined(separator: ",")]
            let answer = try system.commands.run(command, arguments + ids, input: [])
            guard !Self.succeeded(answer) else { return nil }
            let text = answer.error.isEmpty ? answer.output : answer.error
            if text.contains("Access/permission denied") || text.contains("Permission denied") || text.contains("Only operators") {
                let what = action == .suspend || action == .resume ? "; Slurm lets only operators and administrators suspend and resume jobs" : ""
                return DRMAAError(.deniedByDRM, "\(command) \(arguments.joined(separator: " ")): \(text)\(what)")
            }
            // A job that changed state since the core checked it (or that Slurm forgot).
            let state: ErrorCode? = switch action {
            case .hold where text.contains("pending"): .holdInconsistentState
            case .release where text.contains("pending") || text.contains("not held"): .releaseInconsistentState
            case .suspend where text.contains("not running") || text.contains("already suspended") || text.contains("pending"): .suspendInconsistentState
            case .resume where text.contains("not suspended") || text.contains("pending"): .resumeInconsistentState
            default: text.contains("Invalid job id") ? .invalidJob : nil
            }
            if let state { return DRMAAError(state, "\(command) \(arguments.joined(separator: " ")): \(text)") }
            return Self.refusal(command, text)
        } catch {
            return error
        }
    }

    func stateOfOtherJob(_ jobID: String) throws(DRMAAError) -> JobState? {
        if state.withLock({ $0.reaped.contains(jobID) }) { return nil }
        let answer = try system.commands.run("squeue", ["-h", "-t", "all", "-j", jobID, "-o", SlurmRecords.queueFields], input: [])
        guard Self.succeeded(answer) else {
            // Slurm does not know the id; anything else (the controller down) is no answer about it.
            if answer.error.contains("Invalid job id") { return nil }
            throw Self.refusal("squeue", answer.error)
        }
        let queue = SlurmRecords.queue(answer.output)
        guard let record = queue[jobID] else { return nil }
        if let state = SlurmRecords.state(record, suspendedByUs: false) { return state }
        return SlurmRecords.outcome(SlurmRecords.Ended(state: record.state, exitCode: 0, signal: 0)).finalState
    }

    func controlOtherJob(_ jobID: String, _ action: JobControlAction) throws(DRMAAError) -> Bool {
        guard try stateOfOtherJob(jobID) != nil else { return false }
        if let error = control([jobID], action)[jobID] { throw error }
        return true
    }

    func sessionDidExit() {
        state.withLock { $0.poller = $0.poller == .running ? .stopped : $0.poller }
        wake.signal()
        // Nothing left to re-attach to.
        if !table.hasJobs { journal?.remove() }
    }

    func sessionDidReattach() {
        state.withLock { state in
            if state.poller == .stopped { state.poller = .running }
            state.hurry = true
        }
        startPoller()
    }
}
