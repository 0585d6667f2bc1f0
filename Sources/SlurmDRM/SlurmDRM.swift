import DRMAACore
import Glibc
import LocalDRM

/// Runs Slurm's commands; replaceable in tests.
public protocol SlurmCommands: Sendable {
    /// Runs `command` (`sbatch`, `squeue`, `sacct`, `scontrol`, `scancel`) with `arguments` and `input` on stdin.
    func run(_ command: String, _ arguments: [String], input: [UInt8]) throws(DRMAAError) -> (status: Int32?, output: String, error: String)
}

/// Slurm's commands found on `PATH`, each given at most `timeout` seconds.
public struct SystemSlurmCommands: SlurmCommands {
    public var timeout: Double
    public init(timeout: Double = 60) { self.timeout = timeout }

    /// Set for every command, whatever the user's environment says: times as ISO 8601
    /// (`SLURM_TIME_FORMAT` could make them relative), array task lists never cut short
    /// (`SLURM_BITSTR_LEN` is 64 characters by default: `7_[1,3,5,…]` would lose tasks).
    static let environment = ["SLURM_TIME_FORMAT": "standard", "SLURM_BITSTR_LEN": "0"]

    public func run(_ command: String, _ arguments: [String], input: [UInt8]) throws(DRMAAError) -> (status: Int32?, output: String, error: String) {
        guard let path = Command.find(command) else {
            throw DRMAAError(.drmCommunicationFailure, "Slurm's \(command) is not on PATH: is Slurm installed on this host?")
        }
        let result = try Command.run(path, arguments, input: input, environment: Self.environment, timeout: timeout)
        if let signal = result.signal {
            throw DRMAAError(.drmCommunicationFailure, "\(command) died of \(SignalNames.name(of: signal))")
        }
        return (result.exitStatus, result.outputText, result.errorText)
    }
}

/// Slurm as a DRMAA system: jobs go to the cluster with `sbatch`, are watched with one `squeue`
/// per poll for all of a session's jobs, controlled with `scontrol` and `scancel`, and their
/// outcomes come from the controller (`scontrol show job`) or accounting (`sacct`). Never
/// linked to libslurm: it works with any Slurm release whose commands it can run.
///
/// Contact options: `poll_min=` and `poll_max=` (seconds between polls: fast after a
/// submission, backing off to the maximum while nothing changes); `categories=<path>`, a job
/// category file of sbatch options (default `$DRMAA_SLURM_CATEGORIES`). A session's contact
/// (`session=<key>;backend=slurm;…`) re-attaches from any process of the user (``SessionJournal``).
public final class SlurmDRM: DRMSystem {
    public let commands: any SlurmCommands
    public let clock: any WallClock
    public let timeZone: any TimeZoneRule
    public let homeDirectory: String
    private let version = Mutex<String?>(nil)

    public init(commands: any SlurmCommands = SystemSlurmCommands(), clock: any WallClock = SystemClock(),
                timeZone: any TimeZoneRule = SystemTimeZone(), homeDirectory: String? = nil) {
        self.commands = commands
        self.clock = clock
        self.timeZone = timeZone
        self.homeDirectory = homeDirectory ?? (Glibc.getenv("HOME").map { String(cString: $0) } ?? "/")
    }

    /// `Slurm 22.05.8`, from `sbatch --version`; `Slurm` alone if it cannot be run.
    public var drmsInfo: String {
        if let known = version.withLock({ $0 }) { return known }
        guard let answer = try? commands.run("sbatch", ["--version"], input: []), SlurmBackend.succeeded(answer) else { return "Slurm" }
        let words = answer.output.split(separator: " ")
        let text = words.count >= 2 ? "Slurm \(words[1])" : "Slurm"
        version.withLock { $0 = text }
        return text
    }

    public var drmaaImplementation: String { LocalDRM.implementation }

    public func makeBackend(options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> any Backend {
        try makeBackend(sessionKey: "p\(getpid())-\(UInt32.random(in: 0...UInt32.max))", options: options, jobs: jobs)
    }

    public func makeBackend(sessionKey: String, options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> any Backend {
        try backend(sessionKey: sessionKey, options: options, jobs: jobs)
    }

    /// Re-attaches to session `sessionKey` opened by another process: its journal (and, without
    /// one, the jobs Slurm still lists with the session's tag) names its jobs; Slurm says how
    /// each is now. `nil` if no job of the session is known.
    public func reattachBackend(sessionKey: String, options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> (any Backend)? {
        let backend = try backend(sessionKey: sessionKey, options: options, jobs: jobs)
        guard try backend.rebuild() else { return nil }
        return backend
    }

    /// The environment variable naming the default job category file (sbatch options per category).
    public static let categoriesVariable = "DRMAA_SLURM_CATEGORIES"

    private func backend(sessionKey: String, options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> SlurmBackend {
        var minimum = 0.1, maximum = 5.0
        var categoriesPath = Glibc.getenv(Self.categoriesVariable).map { String(cString: $0) }
        for (name, value) in options {
            switch name {
            case "poll_min", "poll_max":
                guard let seconds = Double(value), seconds > 0, seconds <= 3600 else {
                    throw DRMAAError(.invalidContactString, "contact option \(name)=\(value): need seconds, more than 0 and at most 3600")
                }
                if name == "poll_min" { minimum = seconds } else { maximum = seconds }
            case "categories":
                guard !value.isEmpty else {
                    throw DRMAAError(.invalidContactString, "contact option categories= needs the path of a job category file")
                }
                categoriesPath = value
            case "backend": continue
            default:
                throw DRMAAError(.invalidContactString, "the Slurm backend takes the contact options session, backend, poll_min, poll_max and categories, not '\(name)'")
            }
        }
        guard minimum <= maximum else {
            throw DRMAAError(.invalidContactString, "contact option poll_min=\(minimum) is more than poll_max=\(maximum)")
        }
        var categories: [String: [String]] = [:]
        if let path = categoriesPath, !path.isEmpty {
            let text = try JobCategories.fileText(path)
            _ = try JobCategories(parsing: text, origin: path) { (name: String, specification: String) throws(DRMAAError) in
                do throws(NativeValues.WordError) {
                    categories[name] = try NativeValues.shellWords(specification)
                } catch {
                    throw DRMAAError(.drmsInitFailed, "job category '\(name)': \(error.message)")
                }
            }
        }
        do throws(DRMAAError) {
            let answer = try commands.run("squeue", ["--version"], input: [])
            guard SlurmBackend.succeeded(answer) else { throw DRMAAError(.drmsInitFailed, "squeue --version failed: \(answer.error)") }
        } catch {
            throw DRMAAError(.drmsInitFailed, "cannot use Slurm: \(error.message)")
        }
        // Without a journal (no usable state directory) a session is found again only through the
        // jobs Slurm still lists with its tag.
        let journal = try? SessionJournal(sessionKey: sessionKey)
        return SlurmBackend(system: self, sessionKey: sessionKey, table: jobs, pollInterval: minimum...maximum,
                            categories: categories, journal: journal)
    }
}
