import DRMAACore
import LocalDRMWire
import Glibc

/// LocalDRM: a DRMAA resource manager that runs jobs as child processes of this process.
///
/// ```swift
/// let session = Session(system: LocalDRM())
/// ```
///
/// Contact string options (`name=value`, separated by `;`): `slots=<n>`, the number of slots
/// (default: `$DRMAA_LOCAL_SLOTS`, else the number of online CPUs); `grace=<seconds>`, the time a
/// terminated job has between SIGTERM and SIGKILL; `categories=<path>`, a job category file
/// (see ``JobCategories``; default `$DRMAA_LOCAL_CATEGORIES`); `emulate=sge|slurm|none`, the
/// scheduler whose variables and file names jobs see (see ``Emulation``; default
/// `$DRMAA_LOCAL_EMULATE`); `nonzero_exit=done|failed`, the state of a job that ends with a
/// non-zero exit status or a signal (see ``NonzeroExit``; default `$DRMAA_LOCAL_NONZERO_EXIT`).
public struct LocalDRM: DRMSystem {
    /// Settings of a LocalDRM session. Contact string options override them.
    public struct Configuration: Sendable {
        /// How many slots jobs share (a job takes one, or `--slots=<n>`); the others wait in the
        /// queue. `nil`: `$DRMAA_LOCAL_SLOTS` if set, else one per online CPU.
        public var slots: Int?
        /// The jobs' home directory (`$drmaa_hd_ph$`, default working directory).
        public var homeDirectory: String
        /// The wall clock for submission times and `drmaa_start_time`.
        public var clock: any WallClock
        /// The clock of start times, deadlines, limits and terminate grace periods; `nil` for the
        /// supervisor's monotonic timers. Tests pass a ``ManualClock`` here and as `clock`.
        public var timers: (any TimerClock)?
        /// The local time zone for partial timestamps without a zone.
        public var timeZone: any TimeZoneRule
        /// How TERMINATE ends a started job; SIGKILL follows the last step.
        public var terminateSequence: [TeardownStep]
        /// Job categories; `nil`: the file named by `$DRMAA_LOCAL_CATEGORIES` if set, else none.
        public var jobCategories: JobCategories?
        /// The scheduler jobs are made to look like; `nil`: `$DRMAA_LOCAL_EMULATE` if set, else none.
        public var emulation: Emulation?
        /// The state of a job that ran and did not exit with 0; `nil`: `$DRMAA_LOCAL_NONZERO_EXIT`
        /// if set, else ``NonzeroExit/done``.
        public var nonzeroExit: NonzeroExit?
        /// Where jobs' private temporary directories (their `TMPDIR`) are made; `nil`: the
        /// submitting process's `$TMPDIR` when it submits (if it is an absolute path), else `/tmp`.
        public var temporaryRoot: String?
        /// Where jobs run: in this process (``Mode/embedded``) or under the user's daemon
        /// (``Mode/durable``). `nil`: the contact's `mode=`, else `$DRMAA_LOCAL_MODE`, else
        /// ``defaultMode``. Set, it wins over `$DRMAA_LOCAL_MODE` (the contact still wins).
        public var mode: Mode?
        /// The mode when neither the contact, ``mode`` nor `$DRMAA_LOCAL_MODE` names one:
        /// embedded for Swift programs, durable for `libdrmaa.so`.
        public var defaultMode: Mode = .embedded
        /// The durable mode's state directory (daemon socket, spool); `nil`: `$DRMAA_LOCAL_STATE_DIR`,
        /// else `$XDG_STATE_HOME/swift-drmaa`, else `~/.local/state/swift-drmaa`.
        public var stateDirectory: String?

        /// Settings; each one left `nil` takes its default: the slots as described at ``slots``;
        /// `$HOME` (else the password database); the system clock, timers and time zone.
        public init(
            slots: Int? = nil,
            homeDirectory: String? = nil,
            clock: any WallClock = SystemClock(),
            timers: (any TimerClock)? = nil,
            timeZone: any TimeZoneRule = SystemTimeZone(),
            terminateSequence: [TeardownStep] = LocalDRM.defaultTerminateSequence,
            jobCategories: JobCategories? = nil,
            emulation: Emulation? = nil,
            nonzeroExit: NonzeroExit? = nil,
            temporaryRoot: String? = nil
        ) {
            self.slots = slots
            self.homeDirectory = homeDirectory ?? Syscall.homeDirectory()
            self.clock = clock
            self.timers = timers
            self.timeZone = timeZone
            self.terminateSequence = terminateSequence
            self.jobCategories = jobCategories
            self.emulation = emulation
            self.nonzeroExit = nonzeroExit
            self.temporaryRoot = temporaryRoot
        }
    }

    /// Where a session's jobs run.
    public enum Mode: String, Sendable, CaseIterable {
        /// As children of the process that submits them (supervised by its threads); they end
        /// with it. For Swift programs and their tests.
        case embedded
        /// Under the user's daemon (`drmaad`), each with a shepherd: they outlive the process
        /// that submitted them, any process of the user can see and control them, and a
        /// session can be re-attached from another process, as on a cluster.
        case durable
    }

    /// The environment variable that chooses the mode (`embedded` or `durable`).
    public static let modeVariable = "DRMAA_LOCAL_MODE"

    /// The DRMAA state of a job that ran to its end but did not exit with status 0 (a non-zero exit
    /// status, or a signal not sent through DRMAA). `wait` reports how it ended either way.
    public enum NonzeroExit: String, Sendable, Equatable, CaseIterable {
        /// DONE, as DRMAA 1.0 and Grid Engine have it: the job ran and ended; its status says how.
        case done
        /// FAILED, as slurm-drmaa reports a job that Slurm counts as failed.
        case failed
    }

    /// One step of ending a started job through TERMINATE: send `signal` to its process group,
    /// then give it `seconds` to end before the next step. SIGKILL follows the last step.
    public struct TeardownStep: Sendable, Equatable {
        /// The signal sent to the job's process group.
        public var signal: Int32
        /// How long the job may take to end before the next step.
        public var seconds: Double

        /// A step: `signal`, then at most `seconds`.
        public init(signal: Int32, seconds: Double) {
            (self.signal, self.seconds) = (signal, seconds)
        }
    }

    /// SIGTERM, then SIGKILL 5 seconds later if the job is still there (Slurm's `scancel` does
    /// the same with its KillWait of 30 s; Grid Engine's `qdel` sends SIGKILL at once).
    public static let defaultTerminateSequence = [TeardownStep(signal: 15, seconds: 5)]

    /// The settings every session made from this value starts with.
    public var configuration: Configuration

    /// Tests only: a supervisor and launcher of this value's own instead of the process's.
    var privateRuntime: Runtime?

    /// LocalDRM with the given settings.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// LocalDRM with default settings in `mode`: ``Mode/durable`` runs jobs under the user's
    /// daemon, so that they outlive the program, as on a cluster.
    public init(mode: Mode) {
        var configuration = Configuration()
        configuration.mode = mode
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
    /// The environment variable that names the default job category file.
    public static let categoriesVariable = "DRMAA_LOCAL_CATEGORIES"
    /// The environment variable that sets the default emulation (`sge`, `slurm` or `none`).
    public static let emulationVariable = "DRMAA_LOCAL_EMULATE"
    /// The environment variable that sets the default ``NonzeroExit`` (`done` or `failed`).
    public static let nonzeroExitVariable = "DRMAA_LOCAL_NONZERO_EXIT"
    /// The values `emulate=` and `$DRMAA_LOCAL_EMULATE` take: each ``Emulation``, and `none`.
    public static let emulationValues = Emulation.allCases.map(\.rawValue) + ["none"]

    /// The emulation a contact or environment value names: `.some(nil)` for `none`, `nil` if invalid.
    static func emulation(named value: String) -> Emulation?? {
        if value == "none" { return .some(nil) }
        return Emulation(rawValue: value).map { .some($0) }
    }

    /// The implementation's name and version.
    public static let implementation = "swift-drmaa 0.1.0 (DRMAA 1.0)"

    public var drmsInfo: String { "LocalDRM (local processes)" }
    public var drmaaImplementation: String { Self.implementation }

    /// A configuration with the contact options applied: `categoriesPath` if `categories=` names
    /// one, `emulationChosen` if `emulate=` was given (`none` included).
    static func parseOptions(_ options: [(name: String, value: String)], into base: Configuration) throws(DRMAAError)
        -> (configuration: Configuration, categoriesPath: String?, emulationChosen: Bool) {
        var configuration = base
        var categoriesPath: String?
        var emulationChosen = false
        for (name, value) in options {
            switch name {
            case "mode":
                guard let mode = Mode(rawValue: value) else {
                    throw DRMAAError(.invalidContactString, "contact option mode=\(value) is invalid: it takes \(Mode.allCases.map(\.rawValue).joined(separator: " or "))")
                }
                configuration.mode = mode
            case "slots":
                guard let slots = Int(value), Self.slotRange.contains(slots) else {
                    throw DRMAAError(.invalidContactString, "contact option slots=\(value) is invalid: it takes a whole number from 1 to \(Self.slotRange.upperBound)")
                }
                configuration.slots = slots
            case "grace":
                guard let seconds = Double(value), Self.graceRange.contains(seconds) else {
                    throw DRMAAError(.invalidContactString, "contact option grace=\(value) is invalid: it takes seconds from 0 to \(Int(Self.graceRange.upperBound))")
                }
                configuration.terminateSequence = seconds == 0 ? [] : [TeardownStep(signal: 15, seconds: seconds)]
            case "categories":
                guard !value.isEmpty else {
                    throw DRMAAError(.invalidContactString, "contact option categories= needs the path of a job category file")
                }
                categoriesPath = value
            case "emulate":
                guard let emulation = Self.emulation(named: value) else {
                    throw DRMAAError(.invalidContactString, "contact option emulate=\(value) is invalid: it takes \(Self.emulationValues.joined(separator: ", "))")
                }
                configuration.emulation = emulation
                emulationChosen = true
            case "nonzero_exit":
                guard let state = NonzeroExit(rawValue: value) else {
                    throw DRMAAError(.invalidContactString, "contact option nonzero_exit=\(value) is invalid: it takes \(NonzeroExit.allCases.map(\.rawValue).joined(separator: " or "))")
                }
                configuration.nonzeroExit = state
            default:
                throw DRMAAError(.invalidContactString, "contact option '\(name)' is unknown to LocalDRM (known: session, mode, slots, grace, categories, emulate, nonzero_exit)")
            }
        }
        return (configuration, categoriesPath, emulationChosen)
    }

    public func makeBackend(sessionKey: String, options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> any Backend {
        let (configuration, categoriesPath, emulationChosen) = try Self.parseOptions(options, into: configuration)
        guard try Self.mode(of: configuration) == .durable else { return try makeBackend(options: options, jobs: jobs) }
        let (settings, sent, directory) = try durableSession(configuration, categoriesPath: categoriesPath, emulationChosen: emulationChosen)
        return try DurableBackend.open(key: sessionKey, settings: settings, table: jobs, stateDirectory: directory, options: sent)
    }

    public func reattachBackend(sessionKey: String, options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> (any Backend)? {
        let (configuration, categoriesPath, emulationChosen) = try Self.parseOptions(options, into: configuration)
        guard try Self.mode(of: configuration) == .durable else { return nil }
        let (settings, sent, directory) = try durableSession(configuration, categoriesPath: categoriesPath, emulationChosen: emulationChosen)
        return try DurableBackend.reattached(key: sessionKey, settings: settings, table: jobs, stateDirectory: directory, options: sent)
    }

    /// The mode a configuration (with the contact's options applied) runs in.
    static func mode(of configuration: Configuration) throws(DRMAAError) -> Mode {
        if let mode = configuration.mode { return mode }
        if let text = Syscall.environmentValue(modeVariable), !text.isEmpty {
            guard let mode = Mode(rawValue: text) else {
                throw DRMAAError(.drmsInitFailed, "\(modeVariable)='\(text)' is invalid: it takes \(Mode.allCases.map(\.rawValue).joined(separator: " or "))")
            }
            return mode
        }
        return configuration.defaultMode
    }

    /// A durable session's settings as this process reads them (for templates), the options the
    /// daemon opens it with (every default resolved here, from this process's environment), and
    /// the state directory.
    private func durableSession(_ configuration: Configuration, categoriesPath: String?, emulationChosen: Bool) throws(DRMAAError)
        -> (Settings, [NamedValue], String) {
        guard configuration.jobCategories == nil else {
            throw DRMAAError(.drmsInitFailed, "LocalDRM's durable mode reads job categories from a file (categories=<path> or $\(Self.categoriesVariable)), not from LocalDRM.Configuration.jobCategories")
        }
        let steps = configuration.terminateSequence
        guard steps.isEmpty || (steps.count == 1 && steps[0].signal == 15) else {
            throw DRMAAError(.drmsInitFailed, "LocalDRM's durable mode ends terminated jobs with SIGTERM, then SIGKILL after grace= seconds: it cannot use another terminateSequence")
        }
        let settings = try Settings(configuration, categoriesPath: categoriesPath, emulationChosen: emulationChosen,
                                    environment: Syscall.environmentValue)
        var sent = [NamedValue(name: "slots", value: String(settings.slots)),
                    NamedValue(name: "grace", value: steps.isEmpty ? "0" : "\(steps[0].seconds)"),
                    NamedValue(name: "emulate", value: settings.emulation?.rawValue ?? "none"),
                    NamedValue(name: "nonzero_exit", value: settings.nonzeroExit.rawValue)]
        if var path = categoriesPath ?? Syscall.environmentValue(Self.categoriesVariable), !path.isEmpty {
            if !path.hasPrefix("/"), let directory = try? Syscall.currentDirectory() { path = directory + "/" + path }
            sent.append(NamedValue(name: "categories", value: path))
        }
        let directory: String
        if let chosen = configuration.stateDirectory { directory = chosen } else { directory = try StateDirectory.path() }
        return (settings, sent, directory)
    }

    public func makeBackend(options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> any Backend {
        let (configuration, categoriesPath, emulationChosen) = try Self.parseOptions(options, into: configuration)
        let settings = try Settings(configuration, categoriesPath: categoriesPath, emulationChosen: emulationChosen,
                                    environment: Syscall.environmentValue)
        switch Syscall.childStatusDiscarding() {
        case .kept: break
        case .ignored:
            throw DRMAAError(.drmsInitFailed, "this process sets SIGCHLD to SIG_IGN, so the kernel discards the exit status of every child and LocalDRM could not report how its jobs end; set SIGCHLD back to SIG_DFL before drmaa_init (in Python: signal.signal(signal.SIGCHLD, signal.SIG_DFL))")
        case .noChildWait:
            throw DRMAAError(.drmsInitFailed, "this process's SIGCHLD handler has the SA_NOCLDWAIT flag, so the kernel discards the exit status of every child and LocalDRM could not report how its jobs end; install the handler without SA_NOCLDWAIT before drmaa_init")
        }
        let runtime: Runtime
        do throws(Errno) {
            if let privateRuntime { runtime = privateRuntime } else { runtime = try Runtime.shared() }
        } catch {
            if error.rawValue == ENOSYS {
                throw DRMAAError(.drmsInitFailed, "LocalDRM cannot supervise jobs on this kernel: it has no pidfd_open (Linux 5.3 or later is needed)")
            }
            throw DRMAAError(.drmsInitFailed, "LocalDRM cannot start its process supervisor: \(error)")
        }
        return LocalBackend(settings: settings, table: jobs, runtime: runtime, timers: configuration.timers)
    }

    /// The number of slots a session may have: 1 … 1,048,576.
    public static let slotRange = 1...1_048_576
    /// The terminate grace period of the contact option `grace=`, in seconds: 0 … one year.
    public static let graceRange = 0.0...31_536_000.0
    /// The largest job category file read, in bytes.
    public static let maximumCategoryFileSize = 1 << 20

    /// A session's settings with every default resolved.
    struct Settings {
        var configuration: Configuration
        var slots: Int
        var categories: JobCategories
        /// The scheduler jobs are made to look like, `nil` for none; it also decides how native
        /// specifications read the single-letter options that Grid Engine and Slurm spell alike
        /// (`nil`: inferred from each specification's other options).
        var emulation: Emulation?
        /// The state of a job that did not exit with 0.
        var nonzeroExit: NonzeroExit

        /// Resolves the defaults: contact options (already in `configuration`, or `categoriesPath`;
        /// `emulationChosen` when the contact named an emulation, `none` included), then the
        /// configuration, then the environment (read through `environment`), then the machine.
        init(_ configuration: Configuration, categoriesPath: String?, emulationChosen: Bool = false,
             environment: (String) -> String?) throws(DRMAAError) {
            self.configuration = configuration
            if emulationChosen || configuration.emulation != nil {
                emulation = configuration.emulation
            } else if let text = environment(LocalDRM.emulationVariable), !text.isEmpty {
                guard let named = LocalDRM.emulation(named: text) else {
                    throw DRMAAError(.drmsInitFailed, "\(LocalDRM.emulationVariable)='\(text)' is invalid: it takes \(LocalDRM.emulationValues.joined(separator: ", "))")
                }
                emulation = named
            }
            if let state = configuration.nonzeroExit {
                nonzeroExit = state
            } else if let text = environment(LocalDRM.nonzeroExitVariable), !text.isEmpty {
                guard let state = NonzeroExit(rawValue: text) else {
                    throw DRMAAError(.drmsInitFailed, "\(LocalDRM.nonzeroExitVariable)='\(text)' is invalid: it takes \(NonzeroExit.allCases.map(\.rawValue).joined(separator: " or "))")
                }
                nonzeroExit = state
            } else {
                nonzeroExit = .done
            }
            if let slots = configuration.slots {
                guard LocalDRM.slotRange.contains(slots) else {
                    throw DRMAAError(.drmsInitFailed, "LocalDRM.Configuration(slots: \(slots)) is invalid: it takes a whole number from 1 to \(LocalDRM.slotRange.upperBound)")
                }
                self.slots = slots
            } else if let text = environment(LocalDRM.slotsVariable), !text.isEmpty {
                guard let slots = Int(text), LocalDRM.slotRange.contains(slots) else {
                    throw DRMAAError(.drmsInitFailed, "\(LocalDRM.slotsVariable)='\(text)' is invalid: it takes a whole number from 1 to \(LocalDRM.slotRange.upperBound)")
                }
                self.slots = slots
            } else {
                self.slots = Syscall.onlineProcessors()
            }
            if let path = categoriesPath ?? (configuration.jobCategories == nil ? environment(LocalDRM.categoriesVariable) : nil), !path.isEmpty {
                let text = try JobCategories.fileText(path)
                categories = try JobCategories(parsing: text, origin: path, emulation: emulation, sessionSlots: slots)
            } else {
                categories = configuration.jobCategories ?? JobCategories()
            }
        }
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
