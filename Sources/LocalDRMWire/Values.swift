import DRMAACore

// The wire encodings of the DRMAACore values the protocol and the spool carry.
// Numbers and tags written here are part of the format: never renumber, only add.

extension WireDecoder {
    /// A DRMAA constant (`DRMAA_PS_*`, `DRMAA_CONTROL_*`) written as its C value; `what` and
    /// `family` name it in the error.
    mutating func readConstant<T: RawRepresentable>(_ type: T.Type, _ what: String, _ family: String) throws(WireError) -> T where T.RawValue == Int32 {
        let start = position
        let raw = try readUInt64("a \(what)")
        guard raw <= UInt64(Int32.max), let value = T(rawValue: Int32(raw)) else {
            throw WireError(.unknownTag, "\(what) \(raw) at offset \(start) is not a \(family) value")
        }
        return value
    }
}

extension JobState: WireCodable {
    /// The `DRMAA_PS_*` value.
    public func encode(to encoder: inout WireEncoder) { encoder.write(UInt64(UInt32(bitPattern: rawValue))) }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        self = try decoder.readConstant(JobState.self, "job state", "DRMAA_PS_*")
    }
}

extension JobControlAction: WireCodable {
    /// The `DRMAA_CONTROL_*` value.
    public func encode(to encoder: inout WireEncoder) { encoder.write(UInt64(UInt32(bitPattern: rawValue))) }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        self = try decoder.readConstant(JobControlAction.self, "control action", "DRMAA_CONTROL_*")
    }
}

extension DRMAAError: WireCodable {
    /// The `DRMAA_ERRNO_*` code, then the message (never empty).
    public func encode(to encoder: inout WireEncoder) {
        encoder.write(UInt64(UInt32(bitPattern: code.rawValue)))
        encoder.write(message)
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        let start = decoder.position
        let raw = try decoder.readUInt64("an error code")
        guard raw <= UInt64(Int32.max), let code = ErrorCode(rawValue: Int32(raw)) else {
            throw WireError(.unknownTag, "error code \(raw) at offset \(start) is not a DRMAA_ERRNO_* value")
        }
        let messageStart = decoder.position
        let message = try decoder.readString("an error message")
        // An empty message would come back as the code's standard text: not the bytes sent.
        guard !message.isEmpty else { throw WireError(.malformed, "the error message at offset \(messageStart) is empty") }
        self.init(code, message)
    }
}

extension Termination: WireCodable {
    /// A tag (0 exited, 1 signaled, 2 aborted), then the case's fields.
    public func encode(to encoder: inout WireEncoder) {
        switch self {
        case .exited(let status):
            encoder.write(UInt64(0))
            encoder.write(status)
        case .signaled(let signal, let coreDumped):
            encoder.write(UInt64(1))
            encoder.write(signal)
            encoder.write(coreDumped)
        case .aborted(let reason):
            encoder.write(UInt64(2))
            encoder.write(reason)
        }
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        let start = decoder.position
        switch try decoder.readUInt64("a termination") {
        case 0: self = .exited(status: try decoder.readInt32("an exit status"))
        case 1: self = .signaled(signal: try decoder.readInt32("a signal number"), coreDumped: try decoder.readBool("the core-dump flag"))
        case 2: self = .aborted(reason: try decoder.readString("an abort reason"))
        case let tag: throw WireError(.unknownTag, "termination kind \(tag) at offset \(start) is not exited (0), signaled (1) or aborted (2)")
        }
    }
}

extension ResourceUsage.Entry: WireCodable {
    public func encode(to encoder: inout WireEncoder) {
        encoder.write(name)
        encoder.write(value)
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        self.init(name: try decoder.readString("a usage entry's name"), value: try decoder.readString("a usage entry's value"))
    }
}

extension ResourceUsage: WireCodable {
    /// The five times as doubles, the eight counters (zigzag), exit status and signal, then the extra entries.
    public func encode(to encoder: inout WireEncoder) {
        encoder.write(submissionTime)
        encoder.write(startTime)
        encoder.write(endTime)
        encoder.write(userTime)
        encoder.write(systemTime)
        encoder.write(maxRSS)
        encoder.write(minorFaults)
        encoder.write(majorFaults)
        encoder.write(blockInputs)
        encoder.write(blockOutputs)
        encoder.write(voluntarySwitches)
        encoder.write(involuntarySwitches)
        encoder.write(signalsReceived)
        encoder.write(exitStatus)
        encoder.write(signal)
        encoder.write(extraEntries) { $0.write($1) }
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        self.init()
        submissionTime = try decoder.readDouble("the submission time")
        startTime = try decoder.readDouble("the start time")
        endTime = try decoder.readDouble("the end time")
        userTime = try decoder.readDouble("the user time")
        systemTime = try decoder.readDouble("the system time")
        maxRSS = try decoder.readInt64("ru_maxrss")
        minorFaults = try decoder.readInt64("ru_minflt")
        majorFaults = try decoder.readInt64("ru_majflt")
        blockInputs = try decoder.readInt64("ru_inblock")
        blockOutputs = try decoder.readInt64("ru_oublock")
        voluntarySwitches = try decoder.readInt64("ru_nvcsw")
        involuntarySwitches = try decoder.readInt64("ru_nivcsw")
        signalsReceived = try decoder.readInt64("ru_nsignals")
        exitStatus = try decoder.readInt32("the usage's exit status")
        signal = try decoder.readInt32("the usage's signal")
        extraEntries = try decoder.readList("the extra usage entries", minimumSize: 2) { (decoder) throws(WireError) in
            try decoder.read(ResourceUsage.Entry.self)
        }
    }
}

extension JobOutcome: WireCodable {
    /// The termination, the optional usage, the optional kill reason, the counts-as-failed flag.
    public func encode(to encoder: inout WireEncoder) {
        encoder.write(termination)
        encoder.write(usage) { $0.write($1) }
        encoder.write(killReason)
        encoder.write(countsAsFailed)
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        let termination = try decoder.read(Termination.self)
        let usage = try decoder.readOptional("the resource usage") { (decoder) throws(WireError) in try decoder.read(ResourceUsage.self) }
        let killReason = try decoder.readOptionalString("the kill reason")
        let countsAsFailed = try decoder.readBool("the counts-as-failed flag")
        self.init(termination: termination, usage: usage, killReason: killReason, countsAsFailed: countsAsFailed)
    }
}

/// The wire numbers of the job template attributes: fixed forever, independent of the order of
/// ``AttributeName``'s cases. A later attribute gets the next number.
enum AttributeNumbers {
    static let table: [(AttributeName, UInt64)] = [
        (.remoteCommand, 1), (.jobSubmissionState, 2), (.workingDirectory, 3), (.jobCategory, 4),
        (.nativeSpecification, 5), (.blockEmail, 6), (.startTime, 7), (.jobName, 8),
        (.inputPath, 9), (.outputPath, 10), (.errorPath, 11), (.joinFiles, 12),
        (.transferFiles, 13), (.deadlineTime, 14), (.hardWallclockTimeLimit, 15),
        (.softWallclockTimeLimit, 16), (.hardRunDurationLimit, 17), (.softRunDurationLimit, 18),
        (.args, 19), (.jobEnvironment, 20), (.email, 21),
    ]
    /// The attributes in ascending wire number, the order in which a template is written.
    static let ordered: [(AttributeName, UInt64)] = table.sorted { $0.1 < $1.1 }
    /// Attribute by wire number (index = number).
    static let byNumber: [AttributeName?] = {
        var byNumber = [AttributeName?](repeating: nil, count: Int(table.map(\.1).max()!) + 1)
        for (attribute, number) in table { byNumber[Int(number)] = attribute }
        return byNumber
    }()
}

extension JobTemplate: WireCodable {
    /// The number of attributes set, then each in ascending wire number: the number, then the
    /// value (scalar) or the list of values (vector). Every attribute is kept exactly as stored.
    ///
    /// Decoding sets each attribute by its DRMAA name, so a value the template itself would
    /// refuse is refused (`malformed`, with the template's diagnosis), and an attribute number
    /// this version does not know is refused as `unknownTag` naming the number: a template from a
    /// newer library is never read with an attribute silently dropped. (The daemon and the
    /// library of one installation always agree: the handshake requires one protocol version.)
    public func encode(to encoder: inout WireEncoder) {
        var count = 0
        for (attribute, _) in AttributeNumbers.ordered
        where attribute.isVector ? self[vector: attribute] != nil : self[scalar: attribute] != nil {
            count += 1
        }
        encoder.write(unsigned: count)
        for (attribute, number) in AttributeNumbers.ordered {
            if attribute.isVector {
                guard let values = self[vector: attribute] else { continue }
                encoder.write(number)
                encoder.write(values)
            } else {
                guard let value = self[scalar: attribute] else { continue }
                encoder.write(number)
                encoder.write(value)
            }
        }
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        self.init()
        let count = try decoder.readCount("the attribute count of a job template", minimumSize: 2)
        var previous: UInt64 = 0
        for _ in 0..<count {
            let start = decoder.position
            let number = try decoder.readUInt64("a job template attribute number")
            guard number < UInt64(AttributeNumbers.byNumber.count), let attribute = AttributeNumbers.byNumber[Int(number)] else {
                throw WireError(.unknownTag, "job template attribute number \(number) at offset \(start) is unknown to this version")
            }
            guard number > previous else {
                throw WireError(.malformed, "job template attribute \(attribute.rawValue) at offset \(start) is out of order or repeated")
            }
            previous = number
            do {
                if attribute.isVector {
                    try setVectorAttribute(attribute.rawValue, try decoder.readStrings(attribute.rawValue))
                } else {
                    try setAttribute(attribute.rawValue, try decoder.readString(attribute.rawValue))
                }
            } catch let error as WireError {
                throw error
            } catch let error as DRMAAError {
                throw WireError(.malformed, "job template attribute at offset \(start): \(error.message)")
            } catch {
                throw WireError(.malformed, "job template attribute at offset \(start): \(error)")
            }
        }
    }
}

/// A `name=value` pair: a session option, or a variable of the submitter's environment.
public struct NamedValue: Sendable, Hashable, WireCodable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    public func encode(to encoder: inout WireEncoder) {
        encoder.write(name)
        encoder.write(value)
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        self.init(name: try decoder.readString("a name"), value: try decoder.readString("a value"))
    }
}

/// The task indexes of a bulk job: `begin`, `begin + step`, … up to `end` (`drmaa_run_bulk_jobs`).
/// Carried as given; the session has checked them before anything is sent.
public struct TaskRange: Sendable, Hashable, WireCodable {
    public var begin: Int
    public var end: Int
    public var step: Int

    public init(begin: Int, end: Int, step: Int) {
        (self.begin, self.end, self.step) = (begin, end, step)
    }

    public func encode(to encoder: inout WireEncoder) {
        encoder.write(begin)
        encoder.write(end)
        encoder.write(step)
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        self.init(begin: try decoder.readInt("the first task index"), end: try decoder.readInt("the last task index"),
                  step: try decoder.readInt("the task step"))
    }
}

/// What the daemon needs to make every request of one `run_job` / `run_bulk_jobs` again, at any
/// time and after any restart: the effective template and what its expansion depends on. It is
/// also the spool's submission row (one per submission, however many tasks it has).
public struct SubmissionInputs: Sendable, Equatable, WireCodable {
    /// The effective template (``Submission/template``).
    public var template: JobTemplate
    /// The submitter's home directory (`$drmaa_hd_ph$`, the default working directory).
    public var homeDirectory: String
    /// When the job was submitted, seconds since the epoch (partial timestamps resolve against it).
    public var submissionTime: Double
    /// The submitter's environment, in its order (a job's environment starts from it).
    public var environment: [NamedValue]
    /// The submitter's current directory.
    public var currentDirectory: String
    /// The task indexes of a bulk job, `nil` for a single job.
    public var taskRange: TaskRange?

    public init(template: JobTemplate, homeDirectory: String, submissionTime: Double,
                environment: [NamedValue], currentDirectory: String, taskRange: TaskRange?) {
        self.template = template
        self.homeDirectory = homeDirectory
        self.submissionTime = submissionTime
        self.environment = environment
        self.currentDirectory = currentDirectory
        self.taskRange = taskRange
    }

    public func encode(to encoder: inout WireEncoder) {
        encoder.write(template)
        encoder.write(homeDirectory)
        encoder.write(submissionTime)
        encoder.write(environment) { $0.write($1) }
        encoder.write(currentDirectory)
        encoder.write(taskRange) { $0.write($1) }
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        template = try decoder.read(JobTemplate.self)
        homeDirectory = try decoder.readString("the home directory")
        submissionTime = try decoder.readDouble("the submission time")
        environment = try decoder.readList("the environment", minimumSize: 2) { (decoder) throws(WireError) in
            try decoder.read(NamedValue.self)
        }
        currentDirectory = try decoder.readString("the current directory")
        taskRange = try decoder.readOptional("the task range") { (decoder) throws(WireError) in try decoder.read(TaskRange.self) }
    }
}

/// One job as the daemon knows it: for re-attaching a session (``JobTable/RestoredJob``) and
/// for answering a status request.
public struct JobRecord: Sendable, Equatable, WireCodable {
    public var jobID: String
    /// The bulk job it is a task of, `nil` for a single job.
    public var bulkJobID: String?
    public var state: JobState
    /// Its outcome if it finished and was not reaped.
    public var outcome: JobOutcome?

    public init(jobID: String, bulkJobID: String? = nil, state: JobState, outcome: JobOutcome? = nil) {
        (self.jobID, self.bulkJobID, self.state, self.outcome) = (jobID, bulkJobID, state, outcome)
    }

    /// The record as the session's table restores it.
    public var restoredJob: JobTable.RestoredJob {
        JobTable.RestoredJob(id: jobID, bulkJobID: bulkJobID, state: state, outcome: outcome)
    }

    public func encode(to encoder: inout WireEncoder) {
        encoder.write(jobID)
        encoder.write(bulkJobID)
        encoder.write(state)
        encoder.write(outcome) { $0.write($1) }
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        jobID = try decoder.readString("a job id")
        bulkJobID = try decoder.readOptionalString("a bulk job id")
        state = try decoder.read(JobState.self)
        outcome = try decoder.readOptional("a job outcome") { (decoder) throws(WireError) in try decoder.read(JobOutcome.self) }
    }
}

/// A job a request could not act on, and why.
public struct JobFailure: Sendable, Equatable, WireCodable {
    public var jobID: String
    public var error: DRMAAError

    public init(jobID: String, error: DRMAAError) {
        self.jobID = jobID
        self.error = error
    }

    public func encode(to encoder: inout WireEncoder) {
        encoder.write(jobID)
        encoder.write(error)
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        jobID = try decoder.readString("a job id")
        error = try decoder.read(DRMAAError.self)
    }
}
