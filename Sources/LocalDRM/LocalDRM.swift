import DRMAACore

/// LocalDRM: a DRMAA resource manager that runs jobs as child processes of this process.
///
/// ```swift
/// let session = Session(system: LocalDRM())
/// ```
///
/// Contact string options (`name=value`, separated by `;`): `slots=<n>`, the number of jobs
/// that run at once (default: the number of online CPUs).
public struct LocalDRM: DRMSystem {
    /// Settings of a LocalDRM session.
    public struct Configuration: Sendable {
        /// How many jobs run at once; the others wait in FIFO order.
        public var slots: Int
        /// The jobs' home directory (`$drmaa_hd_ph$`, default working directory).
        public var homeDirectory: String
        /// The wall clock for submission times and `drmaa_start_time`.
        public var clock: any WallClock
        /// The local time zone for partial timestamps without a zone.
        public var timeZone: any TimeZoneRule

        /// Settings; each one left `nil` takes its default: `$DRMAA_LOCAL_SLOTS` slots if set,
        /// else one per online CPU; `$HOME` (else the password database); the system clock and time zone.
        public init(
            slots: Int? = nil,
            homeDirectory: String? = nil,
            clock: any WallClock = SystemClock(),
            timeZone: any TimeZoneRule = SystemTimeZone()
        ) {
            let fromEnvironment = Syscall.environmentValue(LocalDRM.slotsVariable).flatMap { Int($0) }
            self.slots = max(1, slots ?? fromEnvironment ?? Syscall.onlineProcessors())
            self.homeDirectory = homeDirectory ?? Syscall.homeDirectory()
            self.clock = clock
            self.timeZone = timeZone
        }
    }

    /// The settings every session made from this value starts with.
    public var configuration: Configuration

    /// LocalDRM with the given settings.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// The warning signal sent to a job's process group when it reaches its soft wall-clock limit
    /// (`drmaa_wct_slimit`): SIGUSR1, as Grid Engine sends for `s_rt`.
    public static let softWallclockSignal: Int32 = 10
    /// The warning signal for the soft run-duration limit (`drmaa_duration_slimit`): SIGXCPU,
    /// as Grid Engine sends for `s_cpu`.
    public static let softRunDurationSignal: Int32 = 24

    /// The environment variable that sets the default number of slots (for C and CLI users).
    public static let slotsVariable = "DRMAA_LOCAL_SLOTS"

    /// The implementation's name and version.
    public static let implementation = "swift-drmaa 0.1.0 (DRMAA 1.0)"

    public var drmsInfo: String { "LocalDRM (local processes)" }
    public var drmaaImplementation: String { Self.implementation }

    public func makeBackend(options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> any Backend {
        var configuration = configuration
        for (name, value) in options {
            switch name {
            case "slots":
                guard let slots = Int(value), slots >= 1 else {
                    throw DRMAAError(.invalidContactString, "contact option slots=\(value) is invalid: it takes a whole number >= 1")
                }
                configuration.slots = slots
            default:
                throw DRMAAError(.invalidContactString, "contact option '\(name)' is unknown to LocalDRM (known: session, slots)")
            }
        }
        let supervisor: Supervisor
        switch Supervisor.shared {
        case .success(let shared): supervisor = shared
        case .failure(let error):
            throw DRMAAError(.drmsInitFailed, "LocalDRM cannot start its process supervisor: \(error)")
        }
        return LocalBackend(configuration: configuration, table: jobs, supervisor: supervisor)
    }
}

extension Session {
    /// A session on LocalDRM with default settings.
    public convenience init() {
        self.init(system: LocalDRM())
    }
}

/// The system's wall clock (`CLOCK_REALTIME`).
public struct SystemClock: WallClock {
    public init() {}
    public func now() -> Double { Syscall.realtimeSeconds() }
}

/// The system's local time zone, as `localtime_r` sees it (`TZ`, `/etc/localtime`).
public struct SystemTimeZone: TimeZoneRule {
    public init() {}
    public func utcOffset(at instant: Int64) -> Int { Syscall.utcOffset(at: instant) }
}
