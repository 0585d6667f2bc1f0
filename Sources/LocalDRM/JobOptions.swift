import DRMAACore
import Glibc

/// What LocalDRM reads from `drmaa_native_specification` and `drmaa_job_category`.
///
/// A native specification is a list of shell words (quotes and backslashes as in `sh`, nothing
/// expanded) holding LocalDRM's own options and Grid Engine's and Slurm's submission options:
///
/// | Option | Values | Effect |
/// |---|---|---|
/// | `--slots=<n>` | 1 … the session's slots | the job takes `n` slots while it runs |
/// | `--priority=<p>` | -1023 … 1024, default 0 | higher starts first; equal priorities start in submission order |
/// | `--nice[=<n>]` | 0 … 2,147,483,645 (above 19 counts as 19; no value: 19) | the job's processes run at this nice level |
/// | `--task-limit=<n>` | 1 … 1,000,000 | at most `n` tasks of this bulk job run at once (Slurm's `--array=…%n`) |
/// | Grid Engine: `-pe <pe> <n>`, `-p`, `-N`, `-cwd`, `-wd`, `-V`, `-v`, `-l h_rt=…,h_vmem=…`, `-tc`, … | | see `Docs/Semantics.md` |
/// | Slurm: `--cpus-per-task`, `-c`, `--ntasks`, `-n`, `-J`, `--chdir`, `--export`, `--time`, `--mem`, … | | see `Docs/Semantics.md` |
///
/// Single-letter options that the two schedulers spell alike (`-p` is a priority to Grid Engine and
/// a partition to Slurm) are read in the session's emulation, else in the dialect of the
/// specification's other options, else as Grid Engine's. A later option overrides an earlier one.
/// Options with a DRMAA attribute (job name, working directory, environment entries, wall-clock
/// limits, hold, join, input/output/error paths) apply only where the template leaves that
/// attribute unset. Options with no meaning on one machine (queues, partitions, accounts, mail…)
/// are accepted and ignored. Anything else is `DENIED_BY_DRM` at submission, with a message naming
/// the option.
public struct JobOptions: Sendable, Equatable {
    /// Slots the job occupies while it runs.
    public var slots = 1
    /// Queue order: higher first.
    public var priority = 0
    /// The nice level of the job's process group, `nil` to inherit this process's.
    public var nice: Int32?
    /// For a bulk job: how many of its tasks may run at once, `nil` for no limit.
    public var taskLimit: Int?
    /// Resource limits set on the job's process right after it starts (Grid Engine's `h_vmem`,
    /// `s_vmem`, `h_cpu`, …), as given: those that Grid Engine scales by slots are per slot.
    public var resourceLimits: [ResourceLimit.Resource: ResourceLimit] = [:]
    /// A memory request LocalDRM cannot enforce (Grid Engine's `mem_free`, Slurm's `--mem`,
    /// `--mem-per-cpu`): recorded, no effect.
    public var memoryRequest: MemoryRequest?
    /// Whether the job gets the submitting process's environment (Slurm's `--export=NONE` or
    /// `--export=<names>` without `ALL`: it does not).
    public var inheritsEnvironment = true

    // Attributes that DRMAA has too: used only where the template leaves them unset.

    /// `-N`, `-J`, `--job-name`: `drmaa_job_name`.
    public var jobName: String?
    /// `-cwd`, `-wd`, `-D`, `--chdir`: `drmaa_wd`.
    public var workingDirectory: WorkingDirectory?
    /// `-v`, `--export`: environment entries, before `drmaa_v_env`'s (which win); a name without a
    /// value takes the submitting process's value.
    public var environment: [EnvironmentEntry] = []
    /// `-l h_rt=`, `--time`: `drmaa_wct_hlimit`; `-l s_rt=`: `drmaa_wct_slimit`.
    public var hardWallclockLimit: TimeLimit?
    public var softWallclockLimit: TimeLimit?
    /// `-h`, `-H`, `--hold`: submitted on hold (`drmaa_js_state`).
    public var hold = false
    /// `-j y|n`: `drmaa_join_files`.
    public var joinFiles: Bool?
    /// `-i`, `-o`, `-e`, `--input`, `--output`, `--error`: the job's streams, with the scheduler's
    /// placeholders, expanded per job when it starts.
    public var inputPath: StreamPath?
    public var outputPath: StreamPath?
    public var errorPath: StreamPath?

    /// Slurm's `--ntasks` and `--cpus-per-task`: the job takes their product of slots.
    public internal(set) var tasks: Int?
    public internal(set) var cpusPerTask: Int?

    /// The defaults: one slot, priority 0, inherited nice level, limits and environment, no task limit.
    public init() {}

    /// LocalDRM's own option names.
    public static let names = ["--slots", "--priority", "--nice", "--task-limit"]

    /// A time limit given as an option.
    public enum TimeLimit: Sendable, Equatable {
        case seconds(Int)
        /// `INFINITY`, `UNLIMITED`, Slurm's 0: no limit.
        case unlimited
    }

    /// The working directory an option names.
    public enum WorkingDirectory: Sendable, Equatable {
        /// `-cwd`: the submitting process's current directory.
        case current
        /// `-wd`, `--chdir`: a path, relative to the submitting process's current directory.
        case path(String)
    }

    /// An environment entry of `-v` or `--export`.
    public struct EnvironmentEntry: Sendable, Equatable {
        public var name: String
        /// `nil`: the submitting process's value (the entry is left out if it has none).
        public var value: String?
        public init(name: String, value: String?) { (self.name, self.value) = (name, value) }
    }

    /// A path option with the placeholders of the scheduler whose spelling it used: Grid Engine's
    /// `$JOB_ID`, `$JOB_NAME`, `$TASK_ID`, `$HOME`, `$USER`, `$HOSTNAME` and `[host:]`; Slurm's `%j`,
    /// `%A`, `%a`, `%x`, `%u`, `%N`, `%n`, `%t`, `%%`.
    public struct StreamPath: Sendable, Equatable {
        public var pattern: String
        public var dialect: Emulation
        public init(_ pattern: String, dialect: Emulation) { (self.pattern, self.dialect) = (pattern, dialect) }
    }

    /// A memory amount asked for but not enforced.
    public enum MemoryRequest: Sendable, Equatable {
        case perJob(bytes: UInt64)
        case perSlot(bytes: UInt64)
    }

    /// A resource limit of the job's process (`setrlimit` semantics), per slot where
    /// ``Resource/scalesWithSlots``. `nil` leaves that side as the job inherits it; `UInt64.max`
    /// is `INFINITY`.
    public struct ResourceLimit: Sendable, Equatable {
        public var soft: UInt64?
        public var hard: UInt64?
        public init(soft: UInt64? = nil, hard: UInt64? = nil) { (self.soft, self.hard) = (soft, hard) }

        /// The limits Grid Engine's `-l h_<x>`/`s_<x>` set, by their Grid Engine name.
        public enum Resource: String, Sendable, CaseIterable, Comparable {
            case vmem, cpu, data, stack, fsize, core

            /// The `RLIMIT_*` number.
            var rlimit: Int32 {
                switch self {
                case .vmem: Int32(RLIMIT_AS.rawValue)
                case .cpu: Int32(RLIMIT_CPU.rawValue)
                case .data: Int32(RLIMIT_DATA.rawValue)
                case .stack: Int32(RLIMIT_STACK.rawValue)
                case .fsize: Int32(RLIMIT_FSIZE.rawValue)
                case .core: Int32(RLIMIT_CORE.rawValue)
                }
            }

            /// Grid Engine multiplies these by the job's slots (its shepherd's `setrlimits`).
            public var scalesWithSlots: Bool {
                switch self {
                case .vmem, .cpu, .data, .stack: true
                case .fsize, .core: false
                }
            }

            public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
        }

        /// The limit to set on a process that has `current`, for a job of `slots` slots, as Grid
        /// Engine's shepherd does: the per-slot values times the slots (saturating at `INFINITY`);
        /// a hard limit without a soft one sets both; a soft limit above the hard one is lowered
        /// to it. A hard limit is never raised above `current`'s (that would need privilege).
        func applied(to current: rlimit, resource: Resource, slots: Int) -> rlimit {
            func scaled(_ value: UInt64) -> UInt64 {
                guard resource.scalesWithSlots, value != .max else { return value }
                let (product, overflow) = value.multipliedReportingOverflow(by: UInt64(max(1, slots)))
                return overflow ? .max : product
            }
            var result = current
            if let hard { result.rlim_max = min(current.rlim_max, rlim_t(scaled(hard))) }
            if let soft {
                result.rlim_cur = rlim_t(scaled(soft))
            } else if hard != nil {
                result.rlim_cur = result.rlim_max
            }
            result.rlim_cur = min(result.rlim_cur, result.rlim_max)
            return result
        }
    }

    /// The options of a native specification, applied on top of `self`. `source` names where the
    /// text came from, for error messages (`drmaa_native_specification`, or a job category).
    /// `emulation` decides how single-letter options that Grid Engine and Slurm spell alike are
    /// read (`nil`: as the specification's other options suggest, else Grid Engine's);
    /// `sessionSlots` is the session's number of slots, which a Grid Engine slot range (`-pe smp 2-8`)
    /// is fitted to.
    public func applying(_ specification: String, source: String = "drmaa_native_specification",
                         emulation: Emulation? = nil, sessionSlots: Int = LocalDRM.slotRange.upperBound) throws(DRMAAError) -> JobOptions {
        var parser = try NativeParser(specification, source: source, emulation: emulation, sessionSlots: sessionSlots, options: self)
        try parser.run()
        return parser.options
    }

    /// The dialect in which ``applying(_:source:emulation:sessionSlots:)`` reads the single-letter
    /// options of `specification` without an emulation: Slurm if its other options are Slurm's only,
    /// else Grid Engine (`nil` if it mixes both, which is refused when it has such a letter).
    public static func inferredDialect(of specification: String) -> Emulation? {
        guard let words = try? NativeValues.shellWords(specification) else { return .sge }
        return NativeParser.inferredDialect(words)
    }

    /// Splits a native specification into words as a shell does (quotes and backslashes, no
    /// expansion); an unterminated quote is `DENIED_BY_DRM`.
    public static func words(of specification: String) throws(DRMAAError) -> [String] {
        do {
            return try NativeValues.shellWords(specification)
        } catch {
            throw NativeParser.refusal("drmaa_native_specification", specification, error.message, separator: " ")
        }
    }

    // MARK: Slurm's slot arithmetic

    /// `--slots` or `-pe`: a slot count of its own, replacing Slurm's tasks and CPUs per task.
    mutating func setSlots(_ count: Int) {
        slots = count
        tasks = nil
        cpusPerTask = nil
    }

    // MARK: Effects

    /// `template` with the attributes it leaves unset taken from these options: job name,
    /// working directory (resolved against the submitting process's current directory),
    /// environment entries (before the template's own), wall-clock limits, hold and join.
    /// `environmentValue` reads the submitting process's environment.
    func filling(_ template: JobTemplate, environmentValue: (String) -> String?,
                 currentDirectory: () throws(Errno) -> String) throws(DRMAAError) -> JobTemplate {
        var template = template
        if template[scalar: .jobName] == nil, let jobName { template.jobName = jobName }
        if template[scalar: .workingDirectory] == nil, let workingDirectory {
            func current() throws(DRMAAError) -> String {
                do {
                    return try currentDirectory()
                } catch {
                    throw .denied("the working directory of the native specification is relative to this process's current directory, which cannot be found: \(error)")
                }
            }
            switch workingDirectory {
            case .current:
                template.workingDirectory = try current()
            case .path(let path):
                template.workingDirectory = path.hasPrefix("/") ? path : try current() + "/" + path
            }
        }
        if !environment.isEmpty {
            let entries = environment.compactMap { entry in
                (entry.value ?? environmentValue(entry.name)).map { "\(entry.name)=\($0)" }
            }
            try template.setVectorAttribute(AttributeName.jobEnvironment.rawValue, entries + (template[vector: .jobEnvironment] ?? []))
        }
        if template[scalar: .hardWallclockTimeLimit] == nil, case .seconds(let seconds)? = hardWallclockLimit {
            template.hardWallclockTimeLimit = seconds
        }
        if template[scalar: .softWallclockTimeLimit] == nil, case .seconds(let seconds)? = softWallclockLimit {
            template.softWallclockTimeLimit = seconds
        }
        if template[scalar: .jobSubmissionState] == nil, hold { template.jobSubmissionState = .hold }
        if template[scalar: .joinFiles] == nil {
            if let joinFiles {
                template.joinFiles = joinFiles
            } else if outputPath?.dialect == .slurm, errorPath == nil, template[scalar: .errorPath] == nil {
                // Slurm sends standard error where --output sends standard output unless --error says otherwise.
                template.joinFiles = true
            }
        }
        return template
    }

    /// `request` with the input, output and error paths these options give, where the template set none.
    func resolvingStreams(_ request: JobRequest, homeDirectory: String) -> JobRequest {
        guard inputPath != nil || outputPath != nil || errorPath != nil else { return request }
        var request = request
        if request.inputPath == nil, let inputPath { request.inputPath = inputPath.expanded(for: request, homeDirectory: homeDirectory) }
        if request.outputPath == nil, let outputPath { request.outputPath = outputPath.expanded(for: request, homeDirectory: homeDirectory) }
        if request.errorPath == nil, let errorPath { request.errorPath = errorPath.expanded(for: request, homeDirectory: homeDirectory) }
        return request
    }

    /// Sets the resource limits on a job's process that has just been spawned.
    func applyResourceLimits(to pid: pid_t) throws(Errno) {
        for (resource, limit) in resourceLimits.sorted(by: { $0.key < $1.key }) {
            let current = try Syscall.resourceLimit(of: pid, resource.rlimit)
            let wanted = limit.applied(to: current, resource: resource, slots: slots)
            if wanted.rlim_cur != current.rlim_cur || wanted.rlim_max != current.rlim_max {
                try Syscall.setResourceLimit(of: pid, resource.rlimit, wanted)
            }
        }
    }
}

extension JobOptions {
    /// Why a job's process that died of `signal` was probably killed by the kernel for a limit
    /// these options set (Grid Engine's `-l h_cpu`, `s_cpu`, `h_fsize`, `s_fsize`, `h_stack`,
    /// `s_stack`), or `nil` if they set none that sends it. `cpuSeconds`, the process's CPU time,
    /// tells whether it came near enough a CPU limit to have reached it; a SIGSEGV may as well be
    /// a fault of the program's own, which the reason says.
    func kernelKillReason(signal: Int32, cpuSeconds: Double) -> String? {
        let name = SignalNames.name(of: signal)
        /// The limit in force (soft, or hard alone, which sets both) and the option that set it.
        func inForce(_ resource: ResourceLimit.Resource, hard wantHard: Bool = false) -> (value: UInt64, option: String)? {
            guard let limit = resourceLimits[resource] else { return nil }
            let value: UInt64?, prefix: String
            if wantHard {
                (value, prefix) = (limit.hard, "h_")
            } else if let soft = limit.soft {
                (value, prefix) = (soft, "s_")
            } else {
                (value, prefix) = (limit.hard, "h_")
            }
            guard let value, value != .max else { return nil }
            return (value, "-l \(prefix)\(resource.rawValue)")
        }
        /// `1 s`, or `1 s per slot, 2 s for its 2 slots` where Grid Engine scales it.
        func shown(_ value: UInt64, _ resource: ResourceLimit.Resource, seconds: Bool) -> String {
            func text(_ value: UInt64) -> String { seconds ? "\(value) s" : Self.bytes(value) }
            guard resource.scalesWithSlots, slots > 1 else { return text(value) }
            let (total, overflow) = value.multipliedReportingOverflow(by: UInt64(slots))
            return overflow ? "\(text(value)) per slot" : "\(text(value)) per slot, \(text(total)) for its \(slots) slots"
        }
        func reached(_ value: UInt64) -> Bool {
            // The kernel checks RLIMIT_CPU against CPU time sampled at each tick (the process that
            // runs at a tick is charged all of it), while the usage reported is its measured run
            // time: on a busy machine the sample runs ahead, by a quarter or more when the
            // machine is overloaded (seen: SIGKILL at 0.74 s for a limit of 1 s). Half the limit
            // tells a limit's signal from one sent early by someone else.
            let (total, overflow) = value.multipliedReportingOverflow(by: UInt64(max(1, slots)))
            return !overflow && cpuSeconds >= 0.5 * Double(total)
        }
        switch signal {
        case SIGXCPU:
            guard let (value, option) = inForce(.cpu), reached(value) else { return nil }
            return "killed by the kernel with \(name): it reached its \(option) of \(shown(value, .cpu, seconds: true))"
        case SIGKILL:
            guard let (value, option) = inForce(.cpu, hard: true), reached(value) else { return nil }
            return "killed by the kernel with \(name): it reached its \(option) of \(shown(value, .cpu, seconds: true))"
        case SIGXFSZ:
            guard let (value, option) = inForce(.fsize) else { return nil }
            return "killed by the kernel with \(name): a file it wrote reached its \(option) of \(shown(value, .fsize, seconds: false))"
        case SIGSEGV:
            guard let (value, option) = inForce(.stack) else { return nil }
            return "it died of \(name), probably because its stack reached its \(option) of \(shown(value, .stack, seconds: false)) (a memory fault of its own also gives \(name))"
        default:
            return nil
        }
    }

    /// An amount of bytes as Grid Engine writes it when it is a whole number of K, M, G or T
    /// (powers of 1024): `4K`, `1M`; else `1000 bytes`.
    static func bytes(_ value: UInt64) -> String {
        for (suffix, shift) in [("T", 40), ("G", 30), ("M", 20), ("K", 10)] as [(String, UInt64)] where value >= 1 << shift && value % (1 << shift) == 0 {
            return "\(value >> shift)\(suffix)"
        }
        return "\(value) bytes"
    }
}

extension JobOptions.StreamPath {
    /// The path of one job: the scheduler's placeholders replaced, relative to its working directory.
    func expanded(for job: JobRequest, homeDirectory: String) -> String {
        var path: String
        switch dialect {
        case .sge:
            // [[host]:]path: the host part names where to write; everything is on this host.
            let text = pattern.firstIndex(of: ":").map { String(pattern[pattern.index(after: $0)...]) } ?? pattern
            path = Self.gridEngineExpansion(text, job, homeDirectory: homeDirectory)
        case .slurm:
            path = Self.slurmExpansion(pattern, job)
        }
        if path.hasPrefix("/") { return path }
        return job.workingDirectory + (job.workingDirectory.hasSuffix("/") ? "" : "/") + path
    }

    /// Grid Engine's pseudo environment variables of `-o`, `-e` and `-i`.
    private static func gridEngineExpansion(_ text: String, _ job: JobRequest, homeDirectory: String) -> String {
        guard text.contains("$") else { return text }
        let values: [(String, () -> String)] = [
            ("$HOME", { homeDirectory }), ("$USER", { Syscall.userName() }),
            ("$JOB_ID", { job.bulkJobID ?? job.jobID }), ("$JOB_NAME", { job.jobName }),
            ("$HOSTNAME", { Syscall.hostName() }), ("$TASK_ID", { job.taskIndex.map(String.init) ?? "undefined" }),
        ]
        var result = ""
        var rest = Substring(text)
        outer: while let dollar = rest.firstIndex(of: "$") {
            result += rest[..<dollar]
            rest = rest[dollar...]
            for (name, value) in values where rest.hasPrefix(name) {
                result += value()
                rest = rest.dropFirst(name.count)
                continue outer
            }
            result += "$"
            rest = rest.dropFirst()
        }
        return result + rest
    }

    /// The widest zero padding of a Slurm filename pattern; a wider one counts as this (Slurm's rule).
    static let maximumSlurmWidth = 10

    /// Slurm's filename patterns (`%j` and the others, with an optional zero-padding width: `%4a`,
    /// at most ``maximumSlurmWidth``).
    private static func slurmExpansion(_ text: String, _ job: JobRequest) -> String {
        guard text.contains("%") else { return text }
        var result = ""
        var scalars = Array(text.unicodeScalars)[...]
        while let scalar = scalars.popFirst() {
            guard scalar == "%" else { result.unicodeScalars.append(scalar); continue }
            var width = ""
            var probe = scalars
            while let digit = probe.first, ("0"..."9").contains(digit), width.count < 9 {
                width.unicodeScalars.append(digit)
                probe = probe.dropFirst()
            }
            guard let letter = probe.first else { result += "%" + width; scalars = probe; continue }
            let value: String?
            switch letter {
            case "%": value = width.isEmpty ? "%" : nil
            case "j", "J": value = job.jobID
            case "A": value = job.bulkJobID ?? job.jobID
            case "a": value = job.taskIndex.map(String.init) ?? "4294967294"  // Slurm's NO_VAL for a job that is no array task
            case "x": value = job.jobName
            case "u": value = Syscall.userName()
            case "N": value = Syscall.hostName().split(separator: ".").first.map(String.init) ?? ""
            case "n", "t": value = "0"
            case "s": value = "batch"
            default: value = nil
            }
            guard var value else {
                // Not a pattern: kept as written.
                result += "%" + width
                scalars = probe
                continue
            }
            // Slurm pads to at most 10 digits (its MAX_WIDTH): `%999999999j` must not make a
            // gigabyte of zeros.
            if let count = Int(width).map({ min($0, Self.maximumSlurmWidth) }), value.count < count, letter != "%" {
                value = String(repeating: "0", count: count - value.count) + value
            }
            result += value
            scalars = probe.dropFirst()
        }
        return result
    }
}
/// Job categories: names that stand for native specifications, so that portable code can say
/// `drmaa_job_category = "bigmem"` and each site decides what that means.
///
/// The file format (`$DRMAA_LOCAL_CATEGORIES` or the contact option `categories=<path>`) is one
/// category per line, its name, blanks, then its native specification; `#` starts a comment:
///
/// ```
/// # name      native specification
/// serial      --slots=1
/// smp         --slots=2 --priority=10
/// background  --nice=19 --priority=-100
/// ```
///
/// A category not listed runs with the defaults, as Grid Engine does with a category that its
/// `qtask` file does not mention.
public struct JobCategories: Sendable, Equatable {
    /// The native specification of each category.
    public var specifications: [String: String]

    /// Categories from a dictionary of name → native specification.
    public init(_ specifications: [String: String] = [:]) {
        self.specifications = specifications
    }

    /// Reads the file format above; `origin` names the text in error messages. `emulation` and
    /// `sessionSlots` are the session's, as for ``JobOptions/applying(_:source:emulation:sessionSlots:)``.
    /// A malformed line or an invalid specification throws `DRMS_INIT_FAILED` naming the line.
    public init(parsing text: String, origin: String, emulation: Emulation? = nil,
                sessionSlots: Int = LocalDRM.slotRange.upperBound) throws(DRMAAError) {
        try self.init(parsing: text, origin: origin) { (name: String, specification: String) throws(DRMAAError) in
            _ = try JobOptions().applying(specification, source: "job category '\(name)'", emulation: emulation, sessionSlots: sessionSlots)
        }
    }

    /// The text of the job category file at `path` (a regular file of at most
    /// ``LocalDRM/maximumCategoryFileSize`` bytes); `DRMS_INIT_FAILED` if it cannot be read.
    package static func fileText(_ path: String) throws(DRMAAError) -> String {
        do {
            return try Syscall.readConfigurationFile(path, limit: LocalDRM.maximumCategoryFileSize)
        } catch {
            throw DRMAAError(.drmsInitFailed, "cannot read the job category file '\(path)': \(error) (it must be a regular file of at most \(LocalDRM.maximumCategoryFileSize) bytes)")
        }
    }

    /// Reads the file format above, with each specification checked by `check` (given the
    /// category's name and specification): another backend's categories hold its own options.
    package init(parsing text: String, origin: String,
                 checking check: (_ name: String, _ specification: String) throws(DRMAAError) -> Void) throws(DRMAAError) {
        var specifications: [String: String] = [:]
        // Split by Unicode scalars, not Characters: CRLF is one Character, and a "prepend" scalar
        // (U+0605, U+110BD, …) would join the blank after it into one.
        func isBlank(_ scalar: Unicode.Scalar) -> Bool { scalar == " " || scalar == "\t" || scalar == "\r" }
        let lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
        for (number, rawLine) in lines.enumerated() {
            let line = rawLine.prefix { $0 != "#" }.drop(while: isBlank).reversed().drop(while: isBlank).reversed()
            if line.isEmpty { continue }
            let nameScalars = line.prefix { $0 != " " && $0 != "\t" }
            let name = String(String.UnicodeScalarView(nameScalars))
            let specification = String(String.UnicodeScalarView(line.dropFirst(nameScalars.count).drop(while: isBlank)))
            do throws(DRMAAError) {
                try check(name, specification)
            } catch {
                throw DRMAAError(.drmsInitFailed, "\(origin):\(number + 1): \(error.message)")
            }
            specifications[name] = specification
        }
        self.specifications = specifications
    }

    /// The options of a job: its category's specification, then its own native specification
    /// (each read in its own dialect, see ``JobOptions/applying(_:source:emulation:sessionSlots:)``).
    public func options(category: String?, nativeSpecification: String?, emulation: Emulation? = nil,
                        sessionSlots: Int = LocalDRM.slotRange.upperBound) throws(DRMAAError) -> JobOptions {
        var options = JobOptions()
        if let category, let specification = specifications[category] {
            options = try options.applying(specification, source: "job category '\(category)' (\(specification))",
                                           emulation: emulation, sessionSlots: sessionSlots)
        }
        if let nativeSpecification {
            options = try options.applying(nativeSpecification, emulation: emulation, sessionSlots: sessionSlots)
        }
        return options
    }
}

extension Substring {
    var trimmingBlanks: Substring {
        var s = self
        while let first = s.first, first == " " || first == "\t" || first == "\r" { s = s.dropFirst() }
        while let last = s.last, last == " " || last == "\t" || last == "\r" { s = s.dropLast() }
        return s
    }
}
