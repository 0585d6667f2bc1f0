/// How a finished job ended, as a backend reports it.
public enum Termination: Sendable, Equatable {
    /// The process exited normally with this status (0...255).
    case exited(status: Int32)
    /// A signal not sent through DRMAA ended the process.
    case signaled(signal: Int32, coreDumped: Bool)
    /// The job was terminated through ``Session/control(_:_:)`` or could not start.
    /// `reason` says which; it reaches the Swift caller as ``JobInfo/abortReason``.
    case aborted(reason: String)
}

/// The resource usage of one finished job, in a compact form.
///
/// Kept as plain numbers so that finished-but-unreaped jobs cost little memory;
/// ``entries`` renders the Grid Engine-compatible `name=value` list on demand.
public struct ResourceUsage: Sendable, Equatable {
    /// Seconds since the epoch when the job was submitted, started and ended.
    public var submissionTime: Double = 0
    public var startTime: Double = 0
    public var endTime: Double = 0
    /// User and system CPU seconds.
    public var userTime: Double = 0
    public var systemTime: Double = 0
    /// Peak resident set size in KiB (`ru_maxrss`).
    public var maxRSS: Int64 = 0
    public var minorFaults: Int64 = 0
    public var majorFaults: Int64 = 0
    public var blockInputs: Int64 = 0
    public var blockOutputs: Int64 = 0
    public var voluntarySwitches: Int64 = 0
    public var involuntarySwitches: Int64 = 0
    public var signalsReceived: Int64 = 0
    /// The exit status as Grid Engine reports it (128 + signal when signalled).
    public var exitStatus: Int32 = 0
    /// The terminating signal number, 0 if none.
    public var signal: Int32 = 0

    public init() {}

    /// The usage as Grid Engine-style `name=value` entries, values with four decimals.
    public var entries: [(name: String, value: String)] {
        let wallclock = max(0, endTime - startTime)
        let cpu = userTime + systemTime
        func n(_ v: Double) -> String { formatFourDecimals(v) }
        func n(_ v: Int64) -> String { formatFourDecimals(Double(v)) }
        return [
            ("cpu", n(cpu)),
            ("end_time", n(endTime)),
            ("exit_status", n(Int64(exitStatus))),
            ("io", n(0.0)),
            ("maxvmem", n(0.0)),
            ("mem", n(0.0)),
            ("ru_inblock", n(blockInputs)),
            ("ru_majflt", n(majorFaults)),
            ("ru_maxrss", n(maxRSS)),
            ("ru_minflt", n(minorFaults)),
            ("ru_nivcsw", n(involuntarySwitches)),
            ("ru_nsignals", n(signalsReceived)),
            ("ru_nvcsw", n(voluntarySwitches)),
            ("ru_oublock", n(blockOutputs)),
            ("ru_stime", n(systemTime)),
            ("ru_utime", n(userTime)),
            ("ru_wallclock", n(wallclock)),
            ("signal", n(Int64(signal))),
            ("start_time", n(startTime)),
            ("submission_time", n(submissionTime)),
            ("vmem", n(0.0)),
        ]
    }
}

/// Formats a non-negative number with exactly four decimals, as Grid Engine prints usage.
func formatFourDecimals(_ value: Double) -> String {
    guard value.isFinite, value >= 0 else { return "0.0000" }
    let scaled = (value * 10_000).rounded()
    guard scaled < 9.0e18 else { return "0.0000" }
    let total = Int64(scaled)
    let fraction = String(total % 10_000)
    return "\(total / 10_000)." + String(repeating: "0", count: 4 - fraction.count) + fraction
}

/// Everything known about a job once it has finished.
public struct JobOutcome: Sendable, Equatable {
    public var termination: Termination
    /// Usage data; `nil` when no process was ever started (the job was terminated while
    /// pending), which the C binding reports as `DRMAA_ERRNO_NO_RUSAGE`.
    public var usage: ResourceUsage?
    /// Why a started job's process was ended, when the backend knows: which signal ended it and who
    /// sent it (a terminate, a time limit, the deadline), or that a signal came from elsewhere.
    /// It reaches the Swift caller as ``JobInfo/killReason``, C callers as `drmaa_kill_reason`.
    public var killReason: String?
    /// The backend counts this job as failed although it ran to its end (LocalDRM's
    /// `nonzero_exit=failed`): it shows FAILED instead of DONE; its termination is unchanged.
    public var countsAsFailed: Bool

    public init(termination: Termination, usage: ResourceUsage?, killReason: String? = nil, countsAsFailed: Bool = false) {
        self.termination = termination
        self.usage = usage
        self.killReason = killReason
        self.countsAsFailed = countsAsFailed
    }

    /// The DRMAA state a job with this outcome shows: FAILED when aborted or counted as failed, else DONE.
    public var finalState: JobState {
        if case .aborted = termination { return .failed }
        return countsAsFailed ? .failed : .done
    }
}

/// The `stat` integer of `drmaa_wait` and the decoding done by the `drmaa_w*` helpers.
///
/// Layout (Grid Engine's, with POSIX signal numbers): bit 0 exited, bit 1 signalled,
/// bit 2 core dumped, bit 3 aborted, bits 4–11 exit status, bits 12–27 signal number.
/// Decoding accepts any integer and yields only 0/1 flags and in-range numbers.
public struct JobStatus: Sendable, Equatable, RawRepresentable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// Encodes a termination.
    public init(_ termination: Termination) {
        switch termination {
        case .exited(let status): rawValue = 0x1 | ((status & 0xFF) << 4)
        case .signaled(let signal, let core): rawValue = 0x2 | (core ? 0x4 : 0) | ((signal & 0xFFFF) << 12)
        case .aborted: rawValue = 0x8
        }
    }

    /// `drmaa_wifexited`: 1 if the job exited normally.
    public var exited: Bool { rawValue & 0x1 != 0 && rawValue & 0xA == 0 }
    /// `drmaa_wexitstatus`: the exit status, 0 unless ``exited``.
    public var exitStatus: Int32 { exited ? (rawValue >> 4) & 0xFF : 0 }
    /// `drmaa_wifsignaled`: 1 if a signal ended the job.
    public var signaled: Bool { rawValue & 0x2 != 0 && rawValue & 0x9 == 0 }
    /// The signal number, 0 unless ``signaled``.
    public var signalNumber: Int32 { signaled ? (rawValue >> 12) & 0xFFFF : 0 }
    /// `drmaa_wtermsig`: the signal's name (`"SIGKILL"`), `""` unless ``signaled``.
    public var signalName: String { signaled ? SignalNames.name(of: signalNumber) : "" }
    /// `drmaa_wcoredump`: 1 if a core image was written.
    public var coreDumped: Bool { signaled && rawValue & 0x4 != 0 }
    /// `drmaa_wifaborted`: 1 if the job was terminated through DRMAA or never ran.
    public var aborted: Bool { rawValue & 0x8 != 0 }
}

/// Linux signal numbers and their POSIX names.
public enum SignalNames {
    private static let names: [Int32: String] = [
        1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
        8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE",
        14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP",
        20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ",
        26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
    ]

    /// The name of a signal: `SIGKILL` for 9, `SIGRTMIN+n` for real-time signals, else `SIG<n>`.
    public static func name(of signal: Int32) -> String {
        if let name = names[signal] { return name }
        if signal >= 34 && signal <= 64 { return signal == 34 ? "SIGRTMIN" : "SIGRTMIN+\(signal - 34)" }
        return "SIG\(signal)"
    }
}

/// What ``Session/wait(_:timeout:)`` returns: the outcome of one reaped job,
/// with the fields of drmaa-python's `JobInfo`.
public struct JobInfo: Sendable, Equatable {
    /// The id of the job that finished (useful after waiting for `SESSION_ANY`).
    public let jobID: String
    /// How the job ended.
    public let outcome: JobOutcome

    public init(jobID: String, outcome: JobOutcome) {
        self.jobID = jobID
        self.outcome = outcome
    }

    /// The encoded `stat` value the C binding returns.
    public var status: JobStatus { JobStatus(outcome.termination) }
    /// True if the process exited normally; then ``exitStatus`` is meaningful.
    public var hasExited: Bool { status.exited }
    /// The exit status (0...255); 0 unless ``hasExited``.
    public var exitStatus: Int32 { status.exitStatus }
    /// True if a signal not sent through DRMAA ended the process.
    public var hasSignal: Bool { status.signaled }
    /// The signal's POSIX name, such as `"SIGKILL"`; `""` unless ``hasSignal``.
    public var terminatedSignal: String { status.signalName }
    /// True if the process dumped core.
    public var hasCoreDump: Bool { status.coreDumped }
    /// True if the job was terminated through DRMAA or could not be started.
    public var wasAborted: Bool { status.aborted }
    /// Why the job was aborted (for example `cannot open input file /x: No such file or directory`).
    public var abortReason: String? {
        if case .aborted(let reason) = outcome.termination { return reason }
        return nil
    }
    /// Why the job's process was ended, if LocalDRM knows (for example `killed with SIGKILL: it
    /// reached its drmaa_wct_hlimit of 10 s`); `nil` for a job that ended on its own.
    public var killReason: String? { outcome.killReason }
    /// False when no process was ever started (terminated while pending): `NO_RUSAGE` in C.
    public var hasResourceUsage: Bool { outcome.usage != nil }
    /// Grid Engine-compatible usage entries (`cpu`, `ru_wallclock`, `exit_status`, …); empty
    /// when ``hasResourceUsage`` is false.
    public var resourceUsage: [String: String] {
        var result: [String: String] = [:]
        for entry in outcome.usage?.entries ?? [] { result[entry.name] = entry.value }
        return result
    }
}
