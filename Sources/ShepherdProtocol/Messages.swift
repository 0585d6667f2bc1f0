import Glibc

/// Why bytes exchanged with a shepherd (a message or an outcome file) could not be used, or an
/// outcome file not be written or read: the text says what was wrong and where.
public struct ShepherdProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, for a log or a job's failure reason.
    public var description: String

    init(_ description: String) { self.description = description }
}

/// The resource usage of a reaped job, from `wait4(2)`'s `struct rusage`; times in microseconds,
/// `maxRSS` in KiB, the rest counts.
public struct ShepherdUsage: Sendable, Equatable {
    /// CPU time in user mode (`ru_utime`), in microseconds.
    public var userMicroseconds: Int64
    /// CPU time in the kernel (`ru_stime`), in microseconds.
    public var systemMicroseconds: Int64
    /// Peak resident set size in KiB (`ru_maxrss`).
    public var maxRSS: Int64
    /// Page faults served without I/O (`ru_minflt`).
    public var minorFaults: Int64
    /// Page faults that needed I/O (`ru_majflt`).
    public var majorFaults: Int64
    /// File system reads (`ru_inblock`).
    public var blockInputs: Int64
    /// File system writes (`ru_oublock`).
    public var blockOutputs: Int64
    /// Context switches while waiting (`ru_nvcsw`).
    public var voluntarySwitches: Int64
    /// Context switches by preemption (`ru_nivcsw`).
    public var involuntarySwitches: Int64
    /// Signals received (`ru_nsignals`; Linux leaves it 0).
    public var signalsReceived: Int64

    /// A usage with the given values (all 0 by default: a job that never started).
    public init(userMicroseconds: Int64 = 0, systemMicroseconds: Int64 = 0, maxRSS: Int64 = 0,
                minorFaults: Int64 = 0, majorFaults: Int64 = 0, blockInputs: Int64 = 0, blockOutputs: Int64 = 0,
                voluntarySwitches: Int64 = 0, involuntarySwitches: Int64 = 0, signalsReceived: Int64 = 0) {
        self.userMicroseconds = userMicroseconds
        self.systemMicroseconds = systemMicroseconds
        self.maxRSS = maxRSS
        self.minorFaults = minorFaults
        self.majorFaults = majorFaults
        self.blockInputs = blockInputs
        self.blockOutputs = blockOutputs
        self.voluntarySwitches = voluntarySwitches
        self.involuntarySwitches = involuntarySwitches
        self.signalsReceived = signalsReceived
    }

    /// The usage `wait4(2)` reported.
    public init(_ usage: rusage) {
        // Wrapping arithmetic: the kernel's values are far below the limits, but these are runtime data.
        func microseconds(_ time: timeval) -> Int64 {
            Int64(time.tv_sec) &* 1_000_000 &+ Int64(time.tv_usec)
        }
        self.init(userMicroseconds: microseconds(usage.ru_utime), systemMicroseconds: microseconds(usage.ru_stime),
                  maxRSS: Int64(usage.ru_maxrss), minorFaults: Int64(usage.ru_minflt), majorFaults: Int64(usage.ru_majflt),
                  blockInputs: Int64(usage.ru_inblock), blockOutputs: Int64(usage.ru_oublock),
                  voluntarySwitches: Int64(usage.ru_nvcsw), involuntarySwitches: Int64(usage.ru_nivcsw),
                  signalsReceived: Int64(usage.ru_nsignals))
    }

    /// The fields in their encoded order.
    fileprivate var fields: [Int64] {
        [userMicroseconds, systemMicroseconds, maxRSS, minorFaults, majorFaults, blockInputs, blockOutputs,
         voluntarySwitches, involuntarySwitches, signalsReceived]
    }

    fileprivate static let fieldNames = [
        "userMicroseconds", "systemMicroseconds", "maxRSS", "minorFaults", "majorFaults", "blockInputs",
        "blockOutputs", "voluntarySwitches", "involuntarySwitches", "signalsReceived",
    ]
}

/// How a job ended, as its shepherd saw it: kept in the outcome file and sent in `finished`.
public struct ShepherdOutcome: Sendable, Equatable {
    /// The job's pid; 0 if the job never started.
    public var jobPID: Int32
    /// The raw `wait4(2)` status; 0 if the job never started.
    public var waitStatus: Int32
    /// `CLOCK_REALTIME` seconds when the job was spawned (or when spawning failed).
    public var startTime: Double
    /// `CLOCK_REALTIME` seconds when it was reaped (or when spawning failed).
    public var endTime: Double
    /// Its resource usage (all 0 if it never started).
    public var usage: ShepherdUsage
    /// Non-nil: the job could not be started, and why, such as
    /// `cannot execute '/x': Permission denied (errno 13)`.
    public var spawnFailure: String?

    /// An outcome with the given values.
    public init(jobPID: Int32, waitStatus: Int32, startTime: Double, endTime: Double,
                usage: ShepherdUsage = ShepherdUsage(), spawnFailure: String? = nil) {
        self.jobPID = jobPID
        self.waitStatus = waitStatus
        self.startTime = startTime
        self.endTime = endTime
        self.usage = usage
        self.spawnFailure = spawnFailure
    }

    /// Int32 pid, Int32 status, Double start, Double end, 10 × Int64 usage, UInt8 hasFailure
    /// (0 or 1), then if 1 the failure text (UInt32 length + UTF-8).
    func encode(into writer: inout ByteWriter) {
        writer.write(jobPID)
        writer.write(waitStatus)
        writer.write(startTime)
        writer.write(endTime)
        for field in usage.fields { writer.write(field) }
        if let spawnFailure {
            writer.write(UInt8(1))
            writer.write(spawnFailure)
        } else {
            writer.write(UInt8(0))
        }
    }

    /// The bytes of an outcome without a failure text.
    static let fixedSize = 4 + 4 + 8 + 8 + 10 * 8 + 1

    init(decoding reader: inout ByteReader) throws(ShepherdProtocolError) {
        jobPID = try reader.read(Int32.self, "jobPID")
        waitStatus = try reader.read(Int32.self, "waitStatus")
        startTime = try reader.readDouble("startTime")
        endTime = try reader.readDouble("endTime")
        var values: [Int64] = []
        for name in ShepherdUsage.fieldNames { values.append(try reader.read(Int64.self, "usage.\(name)")) }
        usage = ShepherdUsage(userMicroseconds: values[0], systemMicroseconds: values[1], maxRSS: values[2],
                              minorFaults: values[3], majorFaults: values[4], blockInputs: values[5],
                              blockOutputs: values[6], voluntarySwitches: values[7], involuntarySwitches: values[8],
                              signalsReceived: values[9])
        let flagOffset = reader.offset
        switch try reader.readByte("hasFailure") {
        case 0: spawnFailure = nil
        case 1: spawnFailure = try reader.readString("spawnFailure")
        case let flag:
            throw ShepherdProtocolError("\(reader.what): invalid hasFailure byte \(flag) at offset \(flagOffset) (0 or 1 expected)")
        }
    }
}

/// A job for a pooled shepherd (`drmaa-shepherd --pool`), which runs one job after another: what
/// the one-shot shepherd takes from its command line and its own environment. The job's files
/// travel beside it in the same packet (SCM_RIGHTS), in the order of ``descriptorRoles``.
public struct ShepherdJob: Sendable, Equatable {
    /// The job's id: it names the outcome file, the lock and the socket a restarted daemon connects to.
    public var jobID: String
    /// The absolute path executed.
    public var executable: [UInt8]
    /// The job's argv, `argv[0]` first: C strings without their NUL.
    public var arguments: [[UInt8]]
    /// The job's whole environment, `NAME=value` C strings without their NUL.
    public var environment: [[UInt8]]

    /// The descriptors sent with a job, in order: standard input, output and error, the working
    /// directory, and the job's lock file (held until its outcome is kept).
    public static let descriptorRoles = ["standard input", "standard output", "standard error", "working directory", "lock file"]

    public init(jobID: String, executable: [UInt8], arguments: [[UInt8]], environment: [[UInt8]]) {
        self.jobID = jobID
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
    }

    func encode(into writer: inout ByteWriter) {
        writer.write(jobID)
        writer.writeBytes(executable)
        writer.write(UInt32(truncatingIfNeeded: arguments.count))
        for argument in arguments { writer.writeBytes(argument) }
        writer.write(UInt32(truncatingIfNeeded: environment.count))
        for entry in environment { writer.writeBytes(entry) }
    }

    var encodedSize: Int {
        4 + jobID.utf8.count + 4 + executable.count + 8 + arguments.reduce(0) { $0 + 4 + $1.count }
            + environment.reduce(0) { $0 + 4 + $1.count }
    }

    init(decoding reader: inout ByteReader) throws(ShepherdProtocolError) {
        jobID = try reader.readString("jobID")
        executable = try reader.readCString("executable")
        guard executable.first == UInt8(ascii: "/") else {
            throw ShepherdProtocolError("\(reader.what): the executable is not an absolute path")
        }
        func strings(_ field: String) throws(ShepherdProtocolError) -> [[UInt8]] {
            let count = Int(try reader.read(UInt32.self, "the count of \(field)"))
            // Each needs its 4-byte length at least: a count beyond that cannot be right.
            guard count <= reader.remaining / 4 else {
                throw ShepherdProtocolError("\(reader.what): \(count) \(field) cannot fit in the \(reader.remaining) bytes that remain")
            }
            var values: [[UInt8]] = []
            values.reserveCapacity(count)
            for index in 0..<count { values.append(try reader.readCString("\(field)[\(index)]")) }
            return values
        }
        arguments = try strings("arguments")
        guard !arguments.isEmpty else { throw ShepherdProtocolError("\(reader.what): argv is empty") }
        environment = try strings("environment")
    }
}

/// One message between the daemon and a job's shepherd; each travels as one `SOCK_SEQPACKET`
/// packet (so no framing): a tag byte, then fixed-width little-endian fields.
public enum ShepherdMessage: Sendable, Equatable {
    /// Daemon → shepherd: send this signal to the job's process group. Tag `K`, Int32.
    case signal(Int32)
    /// Shepherd → daemon: the job runs (sent again on every re-connection). Tag `S`, Int32 pid,
    /// Double start time.
    case started(jobPID: Int32, startTime: Double)
    /// Shepherd → daemon: the job ended (the last message of a one-shot shepherd). Tag `E`, the outcome.
    case finished(ShepherdOutcome)
    /// Daemon → pooled shepherd: run this job (its files travel beside it). Tag `R`.
    case run(ShepherdJob)
    /// Pooled shepherd → daemon: it took the job and starts it now (before the spawn, so that a
    /// shepherd gone without saying so never started it). Tag `A`, no fields.
    case accepted

    private static let signalTag: UInt8 = 0x4B    // 'K'
    private static let startedTag: UInt8 = 0x53   // 'S'
    private static let finishedTag: UInt8 = 0x45  // 'E'
    private static let runTag: UInt8 = 0x52       // 'R'
    private static let acceptedTag: UInt8 = 0x41  // 'A'

    /// The message's bytes: one packet.
    public func encoded() -> [UInt8] {
        switch self {
        case .signal(let number):
            var writer = ByteWriter(capacity: 5)
            writer.write(Self.signalTag)
            writer.write(number)
            return writer.bytes
        case .started(let pid, let startTime):
            var writer = ByteWriter(capacity: 13)
            writer.write(Self.startedTag)
            writer.write(pid)
            writer.write(startTime)
            return writer.bytes
        case .finished(let outcome):
            var writer = ByteWriter(capacity: 1 + ShepherdOutcome.fixedSize + 4 + (outcome.spawnFailure?.utf8.count ?? 0))
            writer.write(Self.finishedTag)
            outcome.encode(into: &writer)
            return writer.bytes
        case .run(let job):
            var writer = ByteWriter(capacity: 1 + job.encodedSize)
            writer.write(Self.runTag)
            job.encode(into: &writer)
            return writer.bytes
        case .accepted:
            return [Self.acceptedTag]
        }
    }

    /// Decodes one packet; throws on empty, short, long or unknown input, saying which.
    public init(decoding bytes: some Collection<UInt8>) throws(ShepherdProtocolError) {
        guard let tag = bytes.first else { throw ShepherdProtocolError("empty shepherd message") }
        switch tag {
        case Self.signalTag:
            var reader = ByteReader(bytes, what: "signal message", skipping: 1)
            let number = try reader.read(Int32.self, "the signal number")
            try reader.expectEnd()
            self = .signal(number)
        case Self.startedTag:
            var reader = ByteReader(bytes, what: "started message", skipping: 1)
            let pid = try reader.read(Int32.self, "jobPID")
            let startTime = try reader.readDouble("startTime")
            try reader.expectEnd()
            self = .started(jobPID: pid, startTime: startTime)
        case Self.finishedTag:
            var reader = ByteReader(bytes, what: "finished message", skipping: 1)
            let outcome = try ShepherdOutcome(decoding: &reader)
            try reader.expectEnd()
            self = .finished(outcome)
        case Self.runTag:
            var reader = ByteReader(bytes, what: "run message", skipping: 1)
            let job = try ShepherdJob(decoding: &reader)
            try reader.expectEnd()
            self = .run(job)
        case Self.acceptedTag:
            let reader = ByteReader(bytes, what: "accepted message", skipping: 1)
            try reader.expectEnd()
            self = .accepted
        default:
            throw ShepherdProtocolError("unknown shepherd message tag 0x\(String(tag, radix: 16, uppercase: true)) "
                                        + "(\(bytes.count) bytes); expected K, S, E, R or A")
        }
    }
}
