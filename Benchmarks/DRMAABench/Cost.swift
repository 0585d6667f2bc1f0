import CLocalDRM
import DRMAACore
import Glibc
import LocalDRM
import LocalDRMSpool
import LocalDRMWire
import ShepherdProtocol

/// The durable mode's cost per job, by part. A `runJob` → `wait` of one job in the durable mode
/// is three requests to the daemon (a job id, the submission, the reap), three spool
/// transactions (the submission, the outcome, the reap; job ids are reserved 64 at a time) and
/// a shepherd that starts the job, waits for it and reports. Each part is measured on its own:
///
/// - the shepherd: `drmaa-shepherd` spawned the way the daemon spawns it (its control socket as
///   fd 3, `--job`, `--outcomes`, `--listen`, then the job), timed to its first message
///   (`started`), its last (`finished`) and its exit;
/// - a request: `jobStatus` of a held job (the daemon answers from memory) and of a finished,
///   unreaped one (the daemon reads the spool);
/// - the spool: the daemon's three transactions, on a spool of its own in the temporary directory.
///
/// The round trips of both modes, measured here too, show what the parts leave unexplained
/// (thread hand-offs in the daemon and the client).
struct DurableCostScenario {
    var shepherdRuns: Int
    var requests: Int
    var spoolWrites: Int
    var roundTrips: Int
    var slots: Int
    var shepherd: String
    var durable: ModeSetup
    /// For the embedded round trip beside the durable one; `nil` when that mode is not run.
    var embedded: ModeSetup?
    var temporaryDirectory: String

    func run() throws -> ScenarioResult {
        var result = ScenarioResult(name: "cost")
        let shepherd = try shepherdTimes()
        let pooled = try pooledShepherdTimes()
        let bare = try bareSpawnTimes()
        let (held, finished) = try requestTimes()
        let spool = try spoolTimes()
        let durableTrip = try roundTripTimes(durable)
        let embeddedTrip = try embedded.map(roundTripTimes)

        var table = Table(title: "durable cost per job (times in ms)",
                          header: ["part", "per job", "p50", "p90", "p99", "mean"])
        func row(_ name: String, _ perJob: String, _ samples: Samples) -> [String] {
            [name, perJob] + [samples.percentile(0.5), samples.percentile(0.9), samples.percentile(0.99), samples.mean]
                .map { format($0 * 1000, 3) }
        }
        table.rows = [
            row("pooled shepherd: job sent -> 'accepted'", "1", pooled.accepted),
            row("pooled shepherd: job sent -> 'started'", "1", pooled.started),
            row("pooled shepherd: job sent -> 'finished' (/bin/true ran)", "1", pooled.finished),
            row("one-shot shepherd start: spawn -> 'started'", "-", shepherd.started),
            row("one-shot shepherd: spawn -> 'finished' (/bin/true ran)", "-", shepherd.finished),
            row("one-shot shepherd: spawn -> exit reaped", "-", shepherd.reaped),
            row("(bare posix_spawn /bin/true -> waitpid)", "-", bare),
            row("request: job_ps of a held job", "2", held),
            row("request: job_ps of a finished job (spool read)", "-", finished),
            row("spool: submission insert", "1", spool.submission),
            row("spool: outcome insert", "1", spool.outcome),
            row("spool: mark reaped", "1", spool.reap),
            row("spool: job id block (64 ids)", "1/64", spool.reserve),
        ]
        let parts = pooled.finished.percentile(0.5) + 2 * held.percentile(0.5) + spool.submission.percentile(0.5)
            + spool.outcome.percentile(0.5) + spool.reap.percentile(0.5) + spool.reserve.percentile(0.5) / 64
        let measured = durableTrip.percentile(0.5)
        table.rows.append(["sum of the parts (p50s, times per job)", "-", format(parts * 1000, 3), "", "", ""])
        table.rows.append(row("runJob -> wait, durable (measured)", "-", durableTrip))
        if let embeddedTrip { table.rows.append(row("runJob -> wait, embedded (measured)", "-", embeddedTrip)) }
        table.rows.append(["not in the parts (measured - sum, p50)", "-", format((measured - parts) * 1000, 3), "", "", ""])
        table.notes.append("pooled shepherd: \(shepherdRuns) jobs (/bin/true) sent to one drmaa-shepherd --pool with their files, as the daemon sends them; the daemon's default for jobs without a nice level or limits")
        table.notes.append("one-shot shepherd: \(shepherdRuns) runs of drmaa-shepherd --job ... -- /bin/true, spawned by this process as the daemon spawns it (fd 3 its control socket); for jobs with a nice level or limits")
        table.notes.append("request: \(requests) x jobStatus in a durable session, client <-> daemon over its Unix socket; per job: submit and reap (job ids come 32 per request)")
        table.notes.append("spool: \(spoolWrites) x each of the daemon's transactions (WAL, synchronous=NORMAL) on a spool in the temporary directory, with real payloads (\(spool.submissionBytes) B submission, \(spool.outcomeBytes) B outcome)")
        table.notes.append("not in the parts: the daemon's and the client's thread hand-offs (pidfd wake-up, events), the client's table, the job's own files")
        result.tables.append(table)
        var json: [(String, JSON)] = [
            ("shepherd_spawn_to_started", shepherd.started.json), ("shepherd_spawn_to_finished", shepherd.finished.json),
            ("shepherd_spawn_to_reaped", shepherd.reaped.json),
            ("pooled_sent_to_accepted", pooled.accepted.json), ("pooled_sent_to_started", pooled.started.json),
            ("pooled_sent_to_finished", pooled.finished.json), ("bare_spawn_to_waitpid", bare.json),
            ("request_job_ps_held", held.json), ("request_job_ps_finished", finished.json),
            ("spool_submission_insert", spool.submission.json), ("spool_outcome_insert", spool.outcome.json),
            ("spool_mark_reaped", spool.reap.json), ("spool_reserve_64_ids", spool.reserve.json),
            ("spool_submission_payload_bytes", .int(spool.submissionBytes)), ("spool_outcome_payload_bytes", .int(spool.outcomeBytes)),
            ("sum_of_parts_p50_s", .double(parts)), ("round_trip_durable", durableTrip.json),
        ]
        if let embeddedTrip { json.append(("round_trip_embedded", embeddedTrip.json)) }
        result.json = .object([("durable", .object(json))])
        return result
    }

    // MARK: The shepherd

    /// Spawns `drmaa-shepherd` `shepherdRuns` times, each running `/bin/true`, and times each run
    /// to its `started` message, its `finished` message and its exit.
    private func shepherdTimes() throws -> (started: Samples, finished: Samples, reaped: Samples) {
        let directory = temporaryDirectory + "/shepherd-cost"
        makeDirectories(directory)
        let errors = temporaryDirectory + "/shepherd-cost.err"
        let environment = CStringArray(currentEnvironment())
        defer { environment.free() }
        var started: [Double] = [], finished: [Double] = [], reaped: [Double] = []
        for run in 0..<shepherdRuns {
            let jobID = "cost-\(run % 8)"
            let arguments = CStringArray([shepherd, "--job", jobID, "--outcomes", directory, "--listen", directory,
                                          "--", "/bin/true", "/bin/true"])
            defer { arguments.free() }
            let start = monotonicNanoseconds()
            let (pid, ours) = try spawnShepherd(arguments, environment, errors: errors)
            defer { close(ours) }
            var messages: [ShepherdMessage] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while messages.count < 2 {
                let count = buffer.withUnsafeMutableBytes { recv(ours, $0.baseAddress, $0.count, 0) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                let message: ShepherdMessage
                do {
                    message = try ShepherdMessage(decoding: buffer[..<count])
                } catch {
                    throw BenchFailure("drmaa-shepherd sent an unreadable message: \(error)")
                }
                if messages.isEmpty { started.append(seconds(since: start)) } else { finished.append(seconds(since: start)) }
                messages.append(message)
            }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            reaped.append(seconds(since: start))
            guard messages.count == 2, case .started = messages[0], case .finished(let outcome) = messages[1],
                  outcome.spawnFailure == nil, outcome.waitStatus == 0, ChildProcess.exitedSuccessfully(status) else {
                let stderr = (readFile(errors) ?? "").split(separator: "\n").suffix(4).joined(separator: "\n")
                throw BenchFailure("drmaa-shepherd run \(run): \(messages) (exit status \(status))\n\(stderr)")
            }
            unlink(ShepherdOutcomeFile.path(directory: directory, jobID: jobID))
        }
        return (Samples(started), Samples(finished), Samples(reaped))
    }

    /// Starts one `drmaa-shepherd --pool` and sends it `shepherdRuns` jobs of `/bin/true`, each with
    /// its five descriptors (streams, directory, lock) as the daemon sends them; times each from the
    /// send to `accepted`, `started` and `finished`.
    private func pooledShepherdTimes() throws -> (accepted: Samples, started: Samples, finished: Samples) {
        let directory = temporaryDirectory + "/pooled-cost"
        makeDirectories(directory)
        let arguments = CStringArray([shepherd, "--pool", "--outcomes", directory, "--listen", directory])
        defer { arguments.free() }
        let empty = CStringArray([])
        defer { empty.free() }
        let (pid, ours) = try spawnShepherd(arguments, empty, errors: directory + "/log")
        defer {
            close(ours)  // an idle pooled shepherd leaves when its connection closes
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        let environment = currentEnvironment().map { Array($0.utf8) }
        var accepted: [Double] = [], started: [Double] = [], finished: [Double] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        for run in 0..<shepherdRuns {
            let jobID = "pooled-\(run % 8)"
            let job = ShepherdJob(jobID: jobID, executable: Array("/bin/true".utf8), arguments: [Array("/bin/true".utf8)],
                                  environment: environment)
            let files = [open("/dev/null", O_RDONLY | O_CLOEXEC), open("/dev/null", O_WRONLY | O_CLOEXEC),
                         open("/dev/null", O_WRONLY | O_CLOEXEC), open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC),
                         open(directory + "/\(jobID).lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)]
            defer { for fd in files where fd >= 0 { close(fd) } }
            guard !files.contains(-1) else { throw BenchFailure("cannot open a job's files: \(String(cString: strerror(errno)))") }
            let bytes = ShepherdMessage.run(job).encoded()
            let start = monotonicNanoseconds()
            let sent = bytes.withUnsafeBytes { raw in
                files.withUnsafeBufferPointer { clocaldrm_send_with_descriptors(ours, raw.baseAddress, raw.count, $0.baseAddress, Int32($0.count)) }
            }
            guard sent == 0 else { throw BenchFailure("sendmsg to the pooled shepherd: \(String(cString: strerror(errno)))") }
            var done = false
            while !done {
                let count = buffer.withUnsafeMutableBytes { recv(ours, $0.baseAddress, $0.count, 0) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { throw BenchFailure("the pooled shepherd closed its connection at run \(run)") }
                let elapsed = seconds(since: start)
                switch try? ShepherdMessage(decoding: buffer[..<count]) {
                case .accepted?: accepted.append(elapsed)
                case .started?: started.append(elapsed)
                case .finished(let outcome)?:
                    guard outcome.spawnFailure == nil, outcome.waitStatus == 0 else {
                        throw BenchFailure("the pooled shepherd's run \(run) failed: \(outcome)")
                    }
                    finished.append(elapsed)
                    done = true
                default:
                    throw BenchFailure("the pooled shepherd sent an unreadable message at run \(run)")
                }
            }
            unlink(ShepherdOutcomeFile.path(directory: directory, jobID: jobID))
        }
        return (Samples(accepted), Samples(started), Samples(finished))
    }

    /// Spawns `drmaa-shepherd` as the daemon does: `/dev/null` as its standard input and output,
    /// `errors` (appended) as its standard error, one end of a `SOCK_SEQPACKET` pair as fd 3 and
    /// nothing else. Its pid and the other end.
    private func spawnShepherd(_ arguments: CStringArray, _ environment: CStringArray, errors: String) throws -> (pid_t, Int32) {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw BenchFailure("socketpair: \(String(cString: strerror(errno)))")
        }
        // The shepherd's end above 3, so that placing it on 3 never clobbers another descriptor.
        let shepherdEnd = fcntl(pair[1], F_DUPFD_CLOEXEC, 10)
        close(pair[1])
        let ours = pair[0]
        guard shepherdEnd >= 0 else {
            close(ours)
            throw BenchFailure("fcntl(F_DUPFD_CLOEXEC): \(String(cString: strerror(errno)))")
        }
        defer { close(shepherdEnd) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, errors, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, shepherdEnd, 3)
        clocaldrm_spawn_addclosefrom(&actions, 4)
        var pid: pid_t = 0
        let spawned = arguments.withPointer { argv in
            environment.withPointer { envp in posix_spawn(&pid, shepherd, &actions, nil, argv, envp) }
        }
        guard spawned == 0 else {
            close(ours)
            throw BenchFailure("cannot start \(shepherd): \(String(cString: strerror(spawned)))")
        }
        return (pid, ours)
    }

    /// `posix_spawn` of `/bin/true` to a blocking `waitpid`, `shepherdRuns` times: what the embedded
    /// mode's spawn of a job costs at the least.
    private func bareSpawnTimes() throws -> Samples {
        var times: [Double] = []
        for _ in 0..<shepherdRuns {
            let start = monotonicNanoseconds()
            let pid = try ChildProcess.spawn("/bin/true", ["/bin/true"], streams: .init(output: "/dev/null", error: "/dev/null"))
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            times.append(seconds(since: start))
            guard ChildProcess.exitedSuccessfully(status) else { throw BenchFailure("/bin/true failed (status \(status))") }
        }
        return Samples(times)
    }

    // MARK: Requests

    /// `jobStatus` of a held job and of a finished, unreaped one, `requests` times each,
    /// alternately (so that both see the same machine), after a warm-up.
    private func requestTimes() throws -> (held: Samples, finished: Samples) {
        try withSession(durable, slots: slots) { session in
            try preflight(session)
            let held = try session.runJob(quietTemplate(hold: true))
            let done = try session.runJob(quietTemplate())
            try session.synchronize([done], timeout: .seconds(30), dispose: false)
            func time(_ id: String, _ expected: JobState) throws -> Double {
                let start = monotonicNanoseconds()
                let state = try session.jobStatus(id)
                let elapsed = seconds(since: start)
                guard state == expected else { throw BenchFailure("cost: job \(id) is \(state), not \(expected)") }
                return elapsed
            }
            for _ in 0..<20 { _ = (try time(held, .userOnHold), try time(done, .done)) }
            var heldTimes: [Double] = [], doneTimes: [Double] = []
            for _ in 0..<requests {
                heldTimes.append(try time(held, .userOnHold))
                doneTimes.append(try time(done, .done))
            }
            return (Samples(heldTimes), Samples(doneTimes))
        }
    }

    // MARK: The spool

    /// The daemon's transactions of one job, `spoolWrites` times each, on a spool of its own.
    private func spoolTimes() throws -> (submission: Samples, outcome: Samples, reap: Samples, reserve: Samples,
                                         submissionBytes: Int, outcomeBytes: Int) {
        let directory = temporaryDirectory + "/spool-cost"
        let spool = try Spool(directory: directory)
        let now = Double(time(nil))
        let environment = currentEnvironment().map { entry -> NamedValue in
            guard let equals = entry.firstIndex(of: "=") else { return NamedValue(name: entry, value: "") }
            return NamedValue(name: String(entry[..<equals]), value: String(entry[entry.index(after: equals)...]))
        }
        // What the client sends and the daemon keeps: the template, home, environment and directory.
        let submissionPayload = SubmissionInputs(template: quietTemplate(), homeDirectory: "/root", submissionTime: now,
                                                 environment: environment, currentDirectory: currentDirectory(), taskRange: nil).wireBytes
        var usage = ResourceUsage()
        (usage.submissionTime, usage.startTime, usage.endTime, usage.maxRSS, usage.minorFaults) = (now, now, now, 1_400, 80)
        let outcomePayload = JobOutcome(termination: .exited(status: 0), usage: usage).wireBytes
        let session = "bench-cost"
        try spool.write { tx throws(DRMAAError) in try tx.insertSession(SessionRecord(key: session, options: "", createdAt: now)) }

        var reserve: [Double] = [], ids: [Int64] = []
        while ids.count < spoolWrites {
            let start = monotonicNanoseconds()
            let block = try spool.nextJobIDs(count: 64)
            reserve.append(seconds(since: start))
            ids += Array(block)
        }
        ids = Array(ids.prefix(spoolWrites))
        var submissions: [Double] = [], outcomes: [Double] = [], reaps: [Double] = []
        for id in ids {
            let key = JobKey.single(id)
            var start = monotonicNanoseconds()
            try spool.write { tx throws(DRMAAError) in
                try tx.insertSubmission(SubmissionRecord(id: id, session: session, kind: .single, held: false, submittedAt: now,
                                                         payload: submissionPayload))
            }
            submissions.append(seconds(since: start))
            start = monotonicNanoseconds()
            let recorded = try spool.write { tx throws(DRMAAError) in
                try tx.recordOutcome(OutcomeRecord(key: key, session: session, finishedAt: now, payload: outcomePayload))
            }
            outcomes.append(seconds(since: start))
            start = monotonicNanoseconds()
            let reaped = try spool.write { tx throws(DRMAAError) in try tx.markReaped([key]) }
            reaps.append(seconds(since: start))
            guard recorded, reaped == 1 else { throw BenchFailure("cost: the spool did not record or reap job \(id)") }
        }
        return (Samples(submissions), Samples(outcomes), Samples(reaps), Samples(reserve), submissionPayload.count, outcomePayload.count)
    }

    // MARK: Round trips

    /// `runJob` → `wait` of `/bin/true`, `roundTrips` times, after 10 warm-up jobs.
    private func roundTripTimes(_ setup: ModeSetup) throws -> Samples {
        try withSession(setup, slots: slots) { session in
            let template = quietTemplate()
            for _ in 0..<10 { try preflight(session, template) }
            var times: [Double] = []
            for _ in 0..<roundTrips {
                let start = monotonicNanoseconds()
                let info = try session.wait(try session.runJob(template), timeout: .seconds(30))
                times.append(seconds(since: start))
                try expectSuccess(info, "cost round trip")
            }
            return Samples(times)
        }
    }
}
