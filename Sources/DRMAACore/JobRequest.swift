/// One job as a backend receives it: a template validated and expanded for one job or bulk task.
///
/// Placeholders are substituted, paths are absolute and stripped of their host part, times are
/// resolved to instants, so a backend only has to run it.
public struct JobRequest: Sendable {
    /// The job id (`"7"`, or `"7.3"` for task 3 of bulk job 7).
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
    /// `drmaa_job_name`, or the base name of the command.
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

/// Turns a template into ``JobRequest``s: the submission-time checks of digest §2.3 and the
/// placeholder rules of §3.
struct RequestBuilder {
    let template: JobTemplate
    let homeDirectory: String
    let now: Double
    let timeZone: any TimeZoneRule

    func request(jobID: String, bulkJobID: String?, taskIndex: Int?) throws(DRMAAError) -> JobRequest {
        guard let command = template.remoteCommand, !command.isEmpty else {
            throw .denied("the job template has no drmaa_remote_command")
        }
        let workingDirectory = try expandWorkingDirectory(taskIndex: taskIndex)
        func path(_ attribute: AttributeName) throws(DRMAAError) -> String? {
            guard let raw = template[scalar: attribute] else { return nil }
            return try expandPath(raw, attribute: attribute, workingDirectory: workingDirectory, taskIndex: taskIndex)
        }
        let start = try template.startTime.map { (text) throws(DRMAAError) in
            try PartialTimestamp(parsing: text, attribute: "drmaa_start_time").resolve(now: now, timeZone: timeZone)
        }
        let deadline = try template.deadlineTime.map { (text) throws(DRMAAError) in
            try PartialTimestamp(parsing: text, attribute: "drmaa_deadline_time").resolve(now: now, timeZone: timeZone)
        }
        let name = template.jobName ?? String(command.split(separator: "/").last ?? Substring(command))
        return JobRequest(
            jobID: jobID, bulkJobID: bulkJobID, taskIndex: taskIndex,
            remoteCommand: command, arguments: template.args,
            environment: (template[vector: .jobEnvironment] ?? []).map(JobTemplate.splitEnvironmentEntry),
            workingDirectory: workingDirectory,
            inputPath: try path(.inputPath), outputPath: try path(.outputPath), errorPath: try path(.errorPath),
            joinFiles: template.joinFiles, jobName: name, hold: template.jobSubmissionState == .hold,
            startTime: start, deadlineTime: deadline,
            hardWallclockLimit: template.hardWallclockTimeLimit, softWallclockLimit: template.softWallclockTimeLimit,
            hardRunDurationLimit: template.hardRunDurationLimit, softRunDurationLimit: template.softRunDurationLimit,
            nativeSpecification: template.nativeSpecification, jobCategory: template.jobCategory,
            submissionTime: now)
    }

    /// `drmaa_wd`: unset → home; `$drmaa_hd_ph$` at the start; `$drmaa_incr_ph$` anywhere (bulk only);
    /// `$drmaa_wd_ph$` is refused; a relative path is relative to home.
    func expandWorkingDirectory(taskIndex: Int?) throws(DRMAAError) -> String {
        guard let raw = template.workingDirectory else { return homeDirectory }
        if raw.contains(Placeholder.workingDirectory) {
            throw .denied("drmaa_wd '\(raw)' uses $drmaa_wd_ph$, which is allowed only in the input, output and error paths")
        }
        var path = try substituteTaskIndex(raw, attribute: .workingDirectory, taskIndex: taskIndex)
        path = substitutePrefix(path, Placeholder.homeDirectory, with: homeDirectory)
        return absolute(path, relativeTo: homeDirectory)
    }

    /// A `[host]:path` attribute: host dropped, placeholders substituted, made absolute against the working directory.
    func expandPath(_ raw: String, attribute: AttributeName, workingDirectory: String, taskIndex: Int?) throws(DRMAAError) -> String {
        var path = raw.firstIndex(of: ":").map { String(raw[raw.index(after: $0)...]) } ?? raw
        path = try substituteTaskIndex(path, attribute: attribute, taskIndex: taskIndex)
        path = substitutePrefix(path, Placeholder.homeDirectory, with: homeDirectory)
        path = substitutePrefix(path, Placeholder.workingDirectory, with: workingDirectory)
        guard !path.isEmpty else {
            throw .denied("\(attribute.rawValue) '\(raw)' names no file")
        }
        return absolute(path, relativeTo: workingDirectory)
    }

    private func substituteTaskIndex(_ text: String, attribute: AttributeName, taskIndex: Int?) throws(DRMAAError) -> String {
        guard text.contains(Placeholder.taskIndex) else { return text }
        guard let taskIndex else {
            throw .denied("\(attribute.rawValue) '\(text)' uses $drmaa_incr_ph$, which only bulk jobs (drmaa_run_bulk_jobs) may use")
        }
        return text.replacing(Placeholder.taskIndex, with: String(taskIndex))
    }

    /// Replaces a placeholder at the very start; elsewhere it stays literal text.
    private func substitutePrefix(_ text: String, _ placeholder: String, with value: String) -> String {
        guard text.hasPrefix(placeholder) else { return text }
        let rest = text.dropFirst(placeholder.count)
        if rest.isEmpty { return value }
        return rest.hasPrefix("/") ? value + rest : value + "/" + rest
    }

    private func absolute(_ path: String, relativeTo base: String) -> String {
        if path.hasPrefix("/") { return path }
        return base.hasSuffix("/") ? base + path : base + "/" + path
    }
}
