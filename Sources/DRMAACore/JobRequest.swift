/// One job as a backend receives it: a template validated and expanded for one job or bulk task.
///
/// Placeholders are substituted, paths are absolute and stripped of their host part, times are
/// resolved to instants, so a backend only has to run it.
public struct JobRequest: Sendable {
    /// The job id (`"7"`, or `"7.3"` for task 3 of bulk job 7; a backend may spell task ids its
    /// own way, ``Backend/taskJobID(bulkJobID:taskIndex:)``).
    public var jobID: String
    /// The bulk job id (`"7"`) for a bulk task, else `nil`.
    public var bulkJobID: String?
    /// The bulk task index, else `nil`.
    public var taskIndex: Int?
    /// `drmaa_remote_command`, as given (resolution against the working directory or `PATH` is the backend's).
    public var remoteCommand: String
    /// `drmaa_v_argv`, exactly.
    public var arguments: [String]
    /// `drmaa_v_env` split at the first `=`, in template order.
    public var environment: [(name: String, value: String)]
    /// The absolute working directory.
    public var workingDirectory: String
    /// Absolute paths of the standard streams, `nil` where the template sets none.
    public var inputPath: String?
    public var outputPath: String?
    public var errorPath: String?
    /// Standard error goes to the output path.
    public var joinFiles: Bool
    /// `drmaa_job_name`, or the base name of the command when it is unset or empty.
    public var jobName: String
    /// Submitted on hold.
    public var hold: Bool
    /// Earliest start and deadline, seconds since the epoch.
    public var startTime: Int64?
    public var deadlineTime: Int64?
    /// Time limits in seconds.
    public var hardWallclockLimit: Int?
    public var softWallclockLimit: Int?
    public var hardRunDurationLimit: Int?
    public var softRunDurationLimit: Int?
    /// Backend-specific text, passed through.
    public var nativeSpecification: String?
    public var jobCategory: String?
    /// When the job was submitted, seconds since the epoch.
    public var submissionTime: Double
}

/// What a backend receives from one `runJob` or `runBulkJobs` call: a validated template, from
/// which the request of each job or bulk task is made when the backend needs it.
///
/// A bulk job of 100,000 tasks is one `Submission`, not 100,000 requests: a backend keeps it and
/// asks for ``request(taskIndex:)`` when a task starts (Grid Engine treats array jobs the same way).
public struct Submission: Sendable {
    /// The job id of a single job, or the bulk job id.
    public let jobID: String
    /// The task indexes of a bulk job (`begin`, `begin + step`, … ≤ `end`), `nil` for a single job.
    public let taskIndexes: StrideThrough<Int>?
    /// The request of the single job, or of the first task: what every task shares (hold, times,
    /// limits, native specification, category, command…) can be read here.
    public let first: JobRequest
    /// The template as the caller submitted it, after the backend's
    /// ``Backend/effectiveTemplate(for:)``: for backends that expand placeholders themselves
    /// (a resource manager's own `%a`, a daemon that makes each task's request when it starts).
    public var template: JobTemplate { builder.template }
    private let builder: RequestBuilder
    private let taskID: @Sendable (_ bulkJobID: String, _ taskIndex: Int) -> String

    init(jobID: String, taskIndexes: StrideThrough<Int>?, builder: RequestBuilder,
         taskID: @escaping @Sendable (_ bulkJobID: String, _ taskIndex: Int) -> String = { "\($0).\($1)" }) {
        self.jobID = jobID
        self.taskIndexes = taskIndexes
        self.builder = builder
        self.taskID = taskID
        let index = taskIndexes?.first(where: { _ in true })
        self.first = builder.request(jobID: index.map { taskID(jobID, $0) } ?? jobID,
                                     bulkJobID: index == nil ? nil : jobID, taskIndex: index)
    }

    /// The same submission under the id a resource manager gave it.
    public func named(_ jobID: String) -> Submission {
        Submission(jobID: jobID, taskIndexes: taskIndexes, builder: builder, taskID: taskID)
    }

    /// True for a bulk job.
    public var isBulk: Bool { taskIndexes != nil }

    /// The bulk job id of a bulk job, else `nil`.
    public var bulkJobID: String? { isBulk ? jobID : nil }

    /// How many jobs: 1, or the number of tasks.
    public var count: Int { taskIndexes?.underestimatedCount ?? 1 }

    /// The id of the job (`taskIndex == nil`) or of a bulk task (`"<bulk id>.<index>"`, or as
    /// the backend spells it).
    public func jobID(taskIndex: Int?) -> String {
        taskIndex.map { taskID(jobID, $0) } ?? jobID
    }

    /// The ids of every job of the submission, in index order.
    public var jobIDs: [String] {
        guard let taskIndexes else { return [jobID] }
        var ids: [String] = []
        ids.reserveCapacity(count)
        for index in taskIndexes { ids.append(jobID(taskIndex: index)) }
        return ids
    }

    /// The request of the single job (`nil`) or of the task with `taskIndex`; cheap when nothing
    /// in the template depends on the index.
    public func request(taskIndex: Int?) -> JobRequest {
        if taskIndex == first.taskIndex { return first }
        return builder.request(jobID: jobID(taskIndex: taskIndex), bulkJobID: taskIndex == nil ? nil : jobID, taskIndex: taskIndex)
    }

    /// The request every task shares, with `$drmaa_incr_ph$` in the working directory and the
    /// paths replaced by `indexText` instead of a task's index: for a resource manager that
    /// expands its own pattern per task (Slurm's `%a`). `taskIndex` is `nil` in it.
    public func sharedRequest(taskIndexText indexText: String) -> JobRequest {
        builder.request(jobID: jobID, bulkJobID: bulkJobID, taskIndex: nil, indexText: isBulk ? indexText : nil)
    }

    /// Every request, in index order (for backends that want them all at once).
    public var requests: [JobRequest] {
        guard let taskIndexes else { return [first] }
        return taskIndexes.map { request(taskIndex: $0) }
    }
}

/// Turns a template into ``JobRequest``s: the submission-time checks of digest §2.3 and the
/// placeholder rules of §3. Everything that can fail is checked once, at `init`; making the
/// request of a job or task then cannot fail.
struct RequestBuilder: Sendable {
    let template: JobTemplate
    let homeDirectory: String
    let now: Double
    let timeZone: any TimeZoneRule
    private let command: String
    private let startTime: Int64?
    private let deadlineTime: Int64?
    /// What does not depend on the task index, expanded once.
    private let workingDirectory: String
    private let paths: [AttributeName: String]
    /// The attributes that contain `$drmaa_incr_ph$`, expanded per task.
    private let perTask: Set<AttributeName>
    private static let pathAttributes: [AttributeName] = [.inputPath, .outputPath, .errorPath]

    /// Validates `template` for a single job (`bulk == false`) or the tasks of a bulk job.
    init(template: JobTemplate, homeDirectory: String, now: Double, timeZone: any TimeZoneRule, bulk: Bool) throws(DRMAAError) {
        (self.template, self.homeDirectory, self.now, self.timeZone) = (template, homeDirectory, now, timeZone)
        guard let command = template.remoteCommand, !command.isEmpty else {
            throw .denied("the job template has no drmaa_remote_command")
        }
        self.command = command
        var perTask = Set<AttributeName>()
        for attribute in [AttributeName.workingDirectory] + Self.pathAttributes {
            guard var raw = template[scalar: attribute] else { continue }
            if attribute != .workingDirectory, let colon = raw.firstIndex(of: ":") {
                raw = String(raw[raw.index(after: colon)...])  // the host part is ignored
            }
            guard raw.contains(Placeholder.taskIndex) else { continue }
            guard bulk else {
                throw .denied("\(attribute.rawValue) '\(raw)' uses $drmaa_incr_ph$, which only bulk jobs (drmaa_run_bulk_jobs) may use")
            }
            perTask.insert(attribute)
        }
        self.perTask = perTask
        // Expanding with a sample index finds every error; real indexes cannot add one.
        let sample: String? = bulk ? "1" : nil
        let workingDirectory = try Self.expandWorkingDirectory(template, homeDirectory: homeDirectory, taskIndex: sample)
        self.workingDirectory = workingDirectory
        var paths: [AttributeName: String] = [:]
        for attribute in Self.pathAttributes {
            guard let raw = template[scalar: attribute] else { continue }
            paths[attribute] = try Self.expandPath(raw, attribute: attribute, workingDirectory: workingDirectory,
                                                   homeDirectory: homeDirectory, taskIndex: sample)
        }
        self.paths = paths
        startTime = try template.startTime.map { (text) throws(DRMAAError) in
            try PartialTimestamp(parsing: text, attribute: "drmaa_start_time").resolve(now: now, timeZone: timeZone)
        }
        deadlineTime = try template.deadlineTime.map { (text) throws(DRMAAError) in
            try PartialTimestamp(parsing: text, attribute: "drmaa_deadline_time").resolve(now: now, timeZone: timeZone)
        }
    }

    /// The request of one job or task (`taskIndex` set for bulk tasks).
    func request(jobID: String, bulkJobID: String?, taskIndex: Int?) -> JobRequest {
        request(jobID: jobID, bulkJobID: bulkJobID, taskIndex: taskIndex, indexText: taskIndex.map { String($0) })
    }

    /// The request with `$drmaa_incr_ph$` replaced by `indexText` (the task's index, or a
    /// resource manager's own pattern for it).
    func request(jobID: String, bulkJobID: String?, taskIndex: Int?, indexText: String?) -> JobRequest {
        var workingDirectory = self.workingDirectory
        if let indexText, perTask.contains(.workingDirectory) {
            workingDirectory = (try? Self.expandWorkingDirectory(template, homeDirectory: homeDirectory, taskIndex: indexText)) ?? workingDirectory
        }
        func path(_ attribute: AttributeName) -> String? {
            guard let expanded = paths[attribute] else { return nil }
            guard let indexText, perTask.contains(attribute) || perTask.contains(.workingDirectory),
                  let raw = template[scalar: attribute] else { return expanded }
            return (try? Self.expandPath(raw, attribute: attribute, workingDirectory: workingDirectory,
                                         homeDirectory: homeDirectory, taskIndex: indexText)) ?? expanded
        }
        // An empty drmaa_job_name counts as none: it would name hidden files (`.o7`).
        let name = template.jobName.flatMap { $0.isEmpty ? nil : $0 } ?? String(command.split(separator: "/").last ?? Substring(command))
        return JobRequest(
            jobID: jobID, bulkJobID: bulkJobID,
            taskIndex: taskIndex,
            remoteCommand: command, arguments: template.args,
            environment: (template[vector: .jobEnvironment] ?? []).map(JobTemplate.splitEnvironmentEntry),
            workingDirectory: workingDirectory,
            inputPath: path(.inputPath), outputPath: path(.outputPath), errorPath: path(.errorPath),
            joinFiles: template.joinFiles, jobName: name, hold: template.jobSubmissionState == .hold,
            startTime: startTime, deadlineTime: deadlineTime,
            hardWallclockLimit: template.hardWallclockTimeLimit, softWallclockLimit: template.softWallclockTimeLimit,
            hardRunDurationLimit: template.hardRunDurationLimit, softRunDurationLimit: template.softRunDurationLimit,
            nativeSpecification: template.nativeSpecification, jobCategory: template.jobCategory,
            submissionTime: now)
    }

    /// `drmaa_wd`: unset → home; `$drmaa_hd_ph$` at the start; `$drmaa_incr_ph$` anywhere (bulk only);
    /// `$drmaa_wd_ph$` is refused; a relative path is relative to home.
    static func expandWorkingDirectory(_ template: JobTemplate, homeDirectory: String, taskIndex: String?) throws(DRMAAError) -> String {
        guard let raw = template.workingDirectory else { return homeDirectory }
        if raw.contains(Placeholder.workingDirectory) {
            throw .denied("drmaa_wd '\(raw)' uses $drmaa_wd_ph$, which is allowed only in the input, output and error paths")
        }
        var path = try substituteTaskIndex(raw, attribute: .workingDirectory, taskIndex: taskIndex)
        path = substitutePrefix(path, Placeholder.homeDirectory, with: homeDirectory)
        return absolute(path, relativeTo: homeDirectory)
    }

    /// A `[host]:path` attribute: host dropped, placeholders substituted, made absolute against the working directory.
    static func expandPath(_ raw: String, attribute: AttributeName, workingDirectory: String, homeDirectory: String, taskIndex: String?) throws(DRMAAError) -> String {
        var path = raw.firstIndex(of: ":").map { String(raw[raw.index(after: $0)...]) } ?? raw
        path = try substituteTaskIndex(path, attribute: attribute, taskIndex: taskIndex)
        path = substitutePrefix(path, Placeholder.homeDirectory, with: homeDirectory)
        path = substitutePrefix(path, Placeholder.workingDirectory, with: workingDirectory)
        guard !path.isEmpty else {
            throw .denied("\(attribute.rawValue) '\(raw)' names no file")
        }
        return absolute(path, relativeTo: workingDirectory)
    }

    private static func substituteTaskIndex(_ text: String, attribute: AttributeName, taskIndex: String?) throws(DRMAAError) -> String {
        guard text.contains(Placeholder.taskIndex) else { return text }
        guard let taskIndex else {
            throw .denied("\(attribute.rawValue) '\(text)' uses $drmaa_incr_ph$, which only bulk jobs (drmaa_run_bulk_jobs) may use")
        }
        return text.replacing(Placeholder.taskIndex, with: taskIndex)
    }

    /// Replaces a placeholder at the very start; elsewhere it stays literal text.
    private static func substitutePrefix(_ text: String, _ placeholder: String, with value: String) -> String {
        guard text.hasPrefix(placeholder) else { return text }
        let rest = text.dropFirst(placeholder.count)
        if rest.isEmpty { return value }
        return rest.hasPrefix("/") ? value + rest : value + "/" + rest
    }

    private static func absolute(_ path: String, relativeTo base: String) -> String {
        if path.hasPrefix("/") { return path }
        return base.hasSuffix("/") ? base + path : base + "/" + path
    }
}

extension Submission {
    /// A submission made again from what a client sent (a daemon that receives `run_job` and
    /// `run_bulk_jobs` from library processes): `template` is the effective template the client's
    /// session submitted, checked again here as the session checks it (`DENIED_BY_DRM` as there).
    /// `submissionTime` and `homeDirectory` are the client's, so every request comes out as the
    /// client's session would have made it; partial timestamps resolve against `submissionTime` in
    /// `timeZone` (a client that sends them fully specified, zone included, makes that moot).
    public init(jobID: String, taskIndexes: StrideThrough<Int>?, template: JobTemplate, homeDirectory: String,
                submissionTime: Double, timeZone: any TimeZoneRule,
                taskID: @escaping @Sendable (_ bulkJobID: String, _ taskIndex: Int) -> String = { "\($0).\($1)" }) throws(DRMAAError) {
        let builder = try RequestBuilder(template: template, homeDirectory: homeDirectory, now: submissionTime,
                                         timeZone: timeZone, bulk: taskIndexes != nil)
        self.init(jobID: jobID, taskIndexes: taskIndexes, builder: builder, taskID: taskID)
    }
}

extension PartialTimestamp {
    /// The fully specified timestamp of an instant, in UTC (`2026/12/02 07:30:00 +00:00`): it
    /// resolves to exactly that instant whatever the time zone and the time of resolution.
    public static func fullySpecified(_ instant: Int64) -> String {
        let civil = CivilTime(epochSeconds: instant)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let year = String(civil.year)
        return "\(String(repeating: "0", count: max(0, 4 - year.count)))\(year)/\(two(civil.month))/\(two(civil.day)) \(two(civil.hour)):\(two(civil.minute)):\(two(civil.second)) +00:00"
    }
}
