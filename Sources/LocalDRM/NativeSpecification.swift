import DRMAACore

/// Reads one native specification into ``JobOptions``: LocalDRM's own options, Grid Engine's and
/// Slurm's (the table in `Docs/Semantics.md`).
///
/// Spellings: `--name=value` and `--name value` for long options (LocalDRM's own, else Slurm's);
/// `-name value` for Grid Engine's multi-letter options (`-pe`, `-cwd`, `-wd` …); `-x value` for a
/// single letter, read as Grid Engine's or Slurm's by the dialect where the two differ.
struct NativeParser {
    let specification: String
    let source: String
    let words: [String]
    let dialect: Emulation
    let sessionSlots: Int
    var options: JobOptions
    /// Grid Engine's `-soft`: the resources requested after it are wishes, not limits.
    private var soft = false

    init(_ specification: String, source: String, emulation: Emulation?, sessionSlots: Int, options: JobOptions) throws(DRMAAError) {
        (self.specification, self.source, self.sessionSlots, self.options) = (specification, source, max(1, sessionSlots), options)
        do {
            words = try NativeValues.shellWords(specification)
        } catch {
            throw Self.refusal(source, specification, error.message, separator: " ")
        }
        if let emulation {
            dialect = emulation
        } else if let inferred = Self.inferredDialect(words) {
            dialect = inferred
        } else {
            // Both schedulers' options: a letter they spell differently cannot be read.
            if let (letter, meanings) = words.lazy.compactMap({ word in Self.ambiguousLetter(word).map { (word, $0) } }).first {
                throw Self.refusal(source, specification, "it mixes Grid Engine and Slurm options, and '\(letter)' means different things to them (\(meanings)); use the long or Grid Engine spelling, or set the session's emulation")
            }
            dialect = .sge
        }
    }

    // MARK: Dialect

    /// Slurm if the words hold Slurm options and no Grid Engine option, Grid Engine if the reverse
    /// or neither, `nil` if both.
    static func inferredDialect(_ words: [String]) -> Emulation? {
        var gridEngine = false, slurm = false
        for word in words {
            switch marker(word) {
            case .sge?: gridEngine = true
            case .slurm?: slurm = true
            case nil: break
            }
        }
        if gridEngine && slurm { return nil }
        return slurm ? .slurm : .sge
    }

    /// The scheduler a word is an option of, if only one of them has it.
    private static func marker(_ word: String) -> Emulation? {
        if word.hasPrefix("--") {
            let name = String(word.dropFirst(2).prefix { $0 != "=" })
            return longOptions[name] != nil && !JobOptions.names.contains("--" + name) ? .slurm : nil
        }
        guard word.hasPrefix("-") else { return nil }
        let name = String(word.dropFirst())
        if gridEngineOptions[name] != nil { return .sge }
        // `-c4`, `-pdebug`: only Slurm (getopt) takes a value attached to a letter.
        if attachedSlurmValue(word, anyLetter: false) != nil { return .slurm }
        guard name.unicodeScalars.count == 1, let letter = letters[Character(name)] else { return nil }
        switch (letter.sge, letter.slurm) {
        case (_?, nil): return .sge
        case (nil, _?): return .slurm
        default: return nil
        }
    }

    /// `-c4` read as Slurm's `-c 4` (getopt's attached value): the letter's Slurm option, its
    /// spelling and the value; `nil` if the word is a Grid Engine option or its letter takes no
    /// value in Slurm. Without `anyLetter` (to tell the dialect of a specification) only the
    /// letters whose value is checked or that no Grid Engine option begins with: `-pee smp 2`
    /// stays Grid Engine's, with a typo of `-pe`, not Slurm's partition `ee`.
    static func attachedSlurmValue(_ word: String, anyLetter: Bool) -> (spelling: String, option: Option, value: String)? {
        guard word.hasPrefix("-"), !word.hasPrefix("--"), case let name = word.dropFirst(), name.count > 1,
              gridEngineOptions[String(name)] == nil, let first = name.first,
              anyLetter || Self.attachableWithoutEmulation.contains(first),
              let option = letters[first]?.slurm, option.arity == .value else { return nil }
        return ("-\(first)", option, String(name.dropFirst()))
    }

    /// Slurm letters whose attached value marks a specification as Slurm's: CPUs, tasks, nodes
    /// and time (numbers, checked) and the job name (`-J`, which no Grid Engine option starts with).
    static let attachableWithoutEmulation: Set<Character> = ["c", "n", "N", "t", "J"]

    /// What a single letter means to each scheduler, if they differ.
    private static func ambiguousLetter(_ word: String) -> String? {
        guard word.hasPrefix("-"), word.unicodeScalars.count == 2, let letter = letters[Character(String(word.dropFirst()))],
              let sge = letter.sge, let slurm = letter.slurm, sge.effect != slurm.effect || sge.arity != slurm.arity else { return nil }
        return "Grid Engine: \(sge.meaning), Slurm: \(slurm.meaning)"
    }

    // MARK: The options

    enum Arity: Equatable {
        /// No value.
        case flag
        /// One value: `--name=value`, `--name value`, `-name value`.
        case value
        /// Only `--name=value`, or none.
        case optionalValue
        /// `--nice`: `--nice=n`, `--nice n` (a number), or none.
        case niceValue
        /// `-pe <name> <slots>`.
        case pair
        /// `-binding [set|env|pe] <strategy>`.
        case binding
    }

    enum Check: Equatable {
        case anything, yesNo, number, slurmTime
    }

    enum Stream: Equatable { case input, output, error }

    enum Effect: Equatable {
        case slots, priority, processNice, taskLimit
        case parallelEnvironment, cpusPerTask, tasks, nodes
        case jobName, currentDirectory, workingDirectory
        case exportAll, variables, export
        case resources, soft, hard
        case time, memory(perCPU: Bool)
        case hold, join
        case stream(Stream, Emulation)
        /// Accepted; the value is checked, and has no effect on one machine.
        case ignored(Check)
        /// `y` is refused for the reason given, `n` accepted.
        case refusedIfYes(String)
        /// Refused, for the reason given.
        case refused(String)
    }

    struct Option {
        let arity: Arity
        let effect: Effect
        /// What it means, for the message about a letter two schedulers spell alike.
        let meaning: String
        init(_ arity: Arity, _ effect: Effect, _ meaning: String) { (self.arity, self.effect, self.meaning) = (arity, effect, meaning) }
    }

    static let useBulkJobs = "array jobs are DRMAA bulk jobs: submit with drmaa_run_bulk_jobs (and --task-limit or -tc to throttle them)"
    static let useWait = "wait for the job with drmaa_wait or drmaa_synchronize instead"
    static let useDependencies = "LocalDRM does not order jobs by dependencies: wait for the job (drmaa_wait or drmaa_synchronize) before submitting the next"
    static let useStartTime = "use drmaa_start_time for a job that must not start before a time"
    static let useDeadline = "use drmaa_deadline_time"
    static let noGenericResources = "LocalDRM allocates no GPUs or other generic resources; leave the option out to run the job without such an allocation"
    static let noImmediate = "LocalDRM queues every job; to give up on one that has not started, wait with a timeout and terminate it"

    /// LocalDRM's own long options and Slurm's, by name without `--`.
    static let longOptions: [String: Option] = [
        // LocalDRM's own (Slurm spells --priority and --nice alike; these are the meanings).
        "slots": Option(.value, .slots, "slots"),
        "priority": Option(.value, .priority, "queue priority"),
        "nice": Option(.niceValue, .processNice, "nice level"),
        "task-limit": Option(.value, .taskLimit, "bulk task limit"),
        // Slurm: resources.
        "cpus-per-task": Option(.value, .cpusPerTask, "CPUs per task"),
        "ntasks": Option(.value, .tasks, "tasks"),
        "ntasks-per-node": Option(.value, .tasks, "tasks"),
        "nodes": Option(.value, .nodes, "nodes"),
        "mem": Option(.value, .memory(perCPU: false), "memory"),
        "mem-per-cpu": Option(.value, .memory(perCPU: true), "memory per CPU"),
        "time": Option(.value, .time, "time limit"),
        "time-min": Option(.value, .ignored(.slurmTime), "minimum time"),
        // Slurm: attributes DRMAA has too.
        "job-name": Option(.value, .jobName, "job name"),
        "chdir": Option(.value, .workingDirectory, "working directory"),
        "workdir": Option(.value, .workingDirectory, "working directory"),
        "export": Option(.value, .export, "environment"),
        "input": Option(.value, .stream(.input, .slurm), "input"),
        "output": Option(.value, .stream(.output, .slurm), "output"),
        "error": Option(.value, .stream(.error, .slurm), "error"),
        "hold": Option(.flag, .hold, "hold"),
        // Slurm: meaningless on one machine.
        "partition": Option(.value, .ignored(.anything), "partition"),
        "account": Option(.value, .ignored(.anything), "account"),
        "qos": Option(.value, .ignored(.anything), "quality of service"),
        "reservation": Option(.value, .ignored(.anything), "reservation"),
        "constraint": Option(.value, .ignored(.anything), "constraint"),
        "comment": Option(.value, .ignored(.anything), "comment"),
        "mail-type": Option(.value, .ignored(.anything), "mail"),
        "mail-user": Option(.value, .ignored(.anything), "mail"),
        "wckey": Option(.value, .ignored(.anything), "wckey"),
        "licenses": Option(.value, .ignored(.anything), "licenses"),
        "clusters": Option(.value, .ignored(.anything), "clusters"),
        "distribution": Option(.value, .ignored(.anything), "distribution"),
        "hint": Option(.value, .ignored(.anything), "hint"),
        "nodelist": Option(.value, .ignored(.anything), "node list"),
        "exclude": Option(.value, .ignored(.anything), "excluded nodes"),
        "mincpus": Option(.value, .ignored(.number), "minimum CPUs per node"),
        "tmp": Option(.value, .ignored(.anything), "temporary disk"),
        "threads-per-core": Option(.value, .ignored(.number), "threads per core"),
        "cores-per-socket": Option(.value, .ignored(.number), "cores per socket"),
        "sockets-per-node": Option(.value, .ignored(.number), "sockets per node"),
        "kill-on-invalid-dep": Option(.value, .ignored(.yesNo), "dependency handling"),
        "acctg-freq": Option(.value, .ignored(.anything), "accounting"),
        "profile": Option(.value, .ignored(.anything), "profiling"),
        "exclusive": Option(.optionalValue, .ignored(.anything), "exclusive node"),
        "propagate": Option(.optionalValue, .ignored(.anything), "limit propagation"),
        "get-user-env": Option(.optionalValue, .ignored(.anything), "login environment"),
        "no-kill": Option(.optionalValue, .ignored(.anything), "no kill on node failure"),
        "requeue": Option(.flag, .ignored(.anything), "requeue"),
        "no-requeue": Option(.flag, .ignored(.anything), "no requeue"),
        "oversubscribe": Option(.flag, .ignored(.anything), "oversubscribe"),
        "overcommit": Option(.flag, .ignored(.anything), "overcommit"),
        "contiguous": Option(.flag, .ignored(.anything), "contiguous nodes"),
        "spread-job": Option(.flag, .ignored(.anything), "spread"),
        "parsable": Option(.flag, .ignored(.anything), "output format"),
        "quiet": Option(.flag, .ignored(.anything), "quiet"),
        "verbose": Option(.flag, .ignored(.anything), "verbose"),
        // Slurm: what LocalDRM cannot do.
        "array": Option(.value, .refused(useBulkJobs), "array"),
        "dependency": Option(.value, .refused(useDependencies), "dependency"),
        "begin": Option(.value, .refused(useStartTime), "begin time"),
        "deadline": Option(.value, .refused(useDeadline), "deadline"),
        "wait": Option(.flag, .refused(useWait), "wait"),
        "immediate": Option(.optionalValue, .refused(noImmediate), "immediate"),
        "gres": Option(.value, .refused(noGenericResources), "generic resources"),
        "gpus": Option(.value, .refused(noGenericResources), "GPUs"),
        "gpus-per-node": Option(.value, .refused(noGenericResources), "GPUs"),
        "gpus-per-task": Option(.value, .refused(noGenericResources), "GPUs"),
        "gpus-per-socket": Option(.value, .refused(noGenericResources), "GPUs"),
        "cpus-per-gpu": Option(.value, .refused(noGenericResources), "GPUs"),
        "mem-per-gpu": Option(.value, .refused(noGenericResources), "GPUs"),
    ]

    /// Grid Engine's multi-letter options, by name without `-`.
    static let gridEngineOptions: [String: Option] = [
        "pe": Option(.pair, .parallelEnvironment, "parallel environment"),
        "cwd": Option(.flag, .currentDirectory, "current directory"),
        "wd": Option(.value, .workingDirectory, "working directory"),
        "tc": Option(.value, .taskLimit, "task concurrency"),
        "soft": Option(.flag, .soft, "soft requests"),
        "hard": Option(.flag, .hard, "hard requests"),
        "shell": Option(.value, .ignored(.yesNo), "shell"),
        "notify": Option(.flag, .ignored(.anything), "notify"),
        "pty": Option(.value, .ignored(.yesNo), "pseudo terminal"),
        "terse": Option(.flag, .ignored(.anything), "output format"),
        "ckpt": Option(.value, .ignored(.anything), "checkpointing"),
        "js": Option(.value, .ignored(.number), "job share"),
        "ac": Option(.value, .ignored(.anything), "context"),
        "dc": Option(.value, .ignored(.anything), "context"),
        "sc": Option(.value, .ignored(.anything), "context"),
        "masterq": Option(.value, .ignored(.anything), "master queue"),
        "binding": Option(.binding, .ignored(.anything), "core binding"),
        "sync": Option(.value, .refusedIfYes(useWait), "sync"),
        "now": Option(.value, .refusedIfYes(noImmediate), "immediate"),
        "hold_jid": Option(.value, .refused(useDependencies), "dependency"),
        "hold_jid_ad": Option(.value, .refused(useDependencies), "dependency"),
        "dl": Option(.value, .refused(useDeadline), "deadline"),
    ]

    /// Single letters: what each scheduler means by them (`nil`: it has no such option, or none
    /// that means anything in a native specification, such as Slurm's -h help or -V version).
    static let letters: [Character: (sge: Option?, slurm: Option?)] = [
        "A": (Option(.value, .ignored(.anything), "account"), Option(.value, .ignored(.anything), "account")),
        "a": (Option(.value, .refused(useStartTime), "start time"), Option(.value, .refused(useBulkJobs), "array")),
        "b": (Option(.value, .ignored(.yesNo), "binary"), Option(.value, .refused(useStartTime), "begin time")),
        "c": (Option(.value, .ignored(.anything), "checkpoint interval"), Option(.value, .cpusPerTask, "CPUs per task")),
        "C": (Option(.value, .ignored(.anything), "directive prefix"), Option(.value, .ignored(.anything), "constraint")),
        "d": (nil, Option(.value, .refused(useDependencies), "dependency")),
        "D": (nil, Option(.value, .workingDirectory, "working directory")),
        "e": (Option(.value, .stream(.error, .sge), "error path"), Option(.value, .stream(.error, .slurm), "error pattern")),
        "G": (nil, Option(.value, .refused(noGenericResources), "GPUs")),
        "h": (Option(.flag, .hold, "hold"), nil),
        "H": (nil, Option(.flag, .hold, "hold")),
        "i": (Option(.value, .stream(.input, .sge), "input path"), Option(.value, .stream(.input, .slurm), "input pattern")),
        "j": (Option(.value, .join, "join"), nil),
        "J": (nil, Option(.value, .jobName, "job name")),
        "k": (nil, Option(.flag, .ignored(.anything), "no kill")),
        "l": (Option(.value, .resources, "resources"), nil),
        "L": (nil, Option(.value, .ignored(.anything), "licenses")),
        "m": (Option(.value, .ignored(.anything), "mail"), Option(.value, .ignored(.anything), "distribution")),
        "M": (Option(.value, .ignored(.anything), "mail"), Option(.value, .ignored(.anything), "clusters")),
        "n": (nil, Option(.value, .tasks, "tasks")),
        "N": (Option(.value, .jobName, "job name"), Option(.value, .nodes, "nodes")),
        "o": (Option(.value, .stream(.output, .sge), "output path"), Option(.value, .stream(.output, .slurm), "output pattern")),
        "O": (nil, Option(.flag, .ignored(.anything), "overcommit")),
        "p": (Option(.value, .priority, "priority"), Option(.value, .ignored(.anything), "partition")),
        "P": (Option(.value, .ignored(.anything), "project"), nil),
        "q": (Option(.value, .ignored(.anything), "queue"), Option(.value, .ignored(.anything), "quality of service")),
        "Q": (nil, Option(.flag, .ignored(.anything), "quiet")),
        "r": (Option(.value, .ignored(.yesNo), "rerunnable"), nil),
        "R": (Option(.value, .ignored(.yesNo), "reservation"), nil),
        "s": (nil, Option(.flag, .ignored(.anything), "oversubscribe")),
        "S": (Option(.value, .ignored(.anything), "shell"), Option(.value, .ignored(.anything), "core specialization")),
        "t": (Option(.value, .refused(useBulkJobs), "array"), Option(.value, .time, "time limit")),
        "v": (Option(.value, .variables, "variables"), Option(.flag, .ignored(.anything), "verbose")),
        "V": (Option(.flag, .exportAll, "export all"), nil),
        "w": (Option(.value, .ignored(.anything), "verification"), Option(.value, .ignored(.anything), "node list")),
        "W": (nil, Option(.flag, .refused(useWait), "wait")),
        "x": (nil, Option(.value, .ignored(.anything), "excluded nodes")),
    ]

    /// Grid Engine's `-l` resources LocalDRM reads.
    enum Resource {
        /// `h_rt`, `s_rt`: the wall-clock limits.
        case wallclock(hard: Bool)
        /// `h_vmem`, `s_cpu` …: a resource limit of the job's process.
        case limit(JobOptions.ResourceLimit.Resource, hard: Bool, time: Bool)
        /// `mem_free` …: memory wanted, not enforced.
        case advisoryMemory
        /// `h_rss`, `s_rss`: a memory limit Linux does not enforce (RLIMIT_RSS does nothing).
        case unenforcedMemory
        /// `arch`, `hostname` …: host selection, meaningless on one machine.
        case host
    }

    static let resources: [String: Resource] = {
        var table: [String: Resource] = [
            "h_rt": .wallclock(hard: true), "s_rt": .wallclock(hard: false),
            "h_rss": .unenforcedMemory, "s_rss": .unenforcedMemory,
        ]
        for resource in JobOptions.ResourceLimit.Resource.allCases {
            table["h_" + resource.rawValue] = .limit(resource, hard: true, time: resource == .cpu)
            table["s_" + resource.rawValue] = .limit(resource, hard: false, time: resource == .cpu)
        }
        for name in ["mem_free", "mf", "virtual_free", "vf", "mem_total", "mt", "virtual_total", "vt", "swap_free", "sf",
                     "swap_total", "st", "mem_used", "mu", "m_mem_free", "mem_req", "mem"] {
            table[name] = .advisoryMemory
        }
        for name in ["arch", "a", "hostname", "h", "qname", "q", "calendar", "c", "num_proc", "p", "cpu", "load_avg", "la",
                     "np_load_avg", "nla", "exclusive", "excl"] {
            table[name] = .host
        }
        return table
    }()

    // MARK: Reading

    /// A refusal naming the specification; a NUL byte in it is shown as `\0` (a C caller's
    /// diagnosis would end there).
    private func denied(_ message: String) -> DRMAAError {
        Self.refusal(source, specification, message)
    }

    /// Every refusal: `DENIED_BY_DRM`, the specification quoted first, then `message`; a NUL byte
    /// (which would end the text in C) shown as `\0`.
    static func refusal(_ source: String, _ specification: String, _ message: String, separator: String = ": ") -> DRMAAError {
        .denied("\(source) '\(specification)'\(separator)\(message)".replacing("\0", with: "\\0"))
    }

    /// `--name=value`, `-name value`: how an option and its value are shown in messages.
    private func shown(_ spelling: String, _ value: String?) -> String {
        guard let value else { return spelling }
        return spelling.hasPrefix("--") ? "\(spelling)=\(value)" : "\(spelling) \(value)"
    }

    private func invalid(_ spelling: String, _ value: String, _ takes: String) -> DRMAAError {
        denied("\(shown(spelling, value)) is invalid: it takes \(takes)")
    }

    /// A value written as the option takes it, but above what it accepts: `bound` says how far it goes.
    private func tooLarge(_ spelling: String, _ value: String, _ bound: String) -> DRMAAError {
        denied("\(shown(spelling, value)) is too large: \(bound)")
    }

    static let timeBound = "a time can be at most \(NativeValues.maximumSeconds) seconds"
    static let memoryBound = "a memory amount must be below 2^64 bytes (16 EiB, 16777216T)"

    mutating func run() throws(DRMAAError) {
        var index = 0
        func next() -> String? {
            guard index < words.count else { return nil }
            defer { index += 1 }
            return words[index]
        }
        while let word = next() {
            let (spelling, option, inline) = try classify(word)
            var value = inline
            var second: String?
            switch option.arity {
            case .flag:
                if inline != nil { throw denied("option \(spelling) takes no value") }
            case .value:
                if value == nil {
                    guard let word = next() else { throw denied("option \(spelling) needs a value") }
                    value = word
                }
            case .optionalValue:
                break
            case .niceValue:
                if value == nil, index < words.count, Int(words[index]) != nil { value = next() }
            case .pair:
                guard let name = next(), let slots = next() else {
                    throw denied("option \(spelling) needs a parallel environment name and a number of slots, as in '\(spelling) smp 4'")
                }
                (value, second) = (name, slots)
            case .binding:
                guard let first = next() else { throw denied("option \(spelling) needs a binding strategy, as in '\(spelling) linear:1'") }
                value = first
                if ["set", "env", "pe"].contains(first) {
                    guard let strategy = next() else { throw denied("option \(spelling) \(first) needs a binding strategy") }
                    second = strategy
                }
            }
            // A C string ends at a NUL: the job would get a shorter name, variable or path than the
            // one given, or fail to start. Only a Swift caller can pass one.
            if [value, second].contains(where: { $0?.utf8.contains(0) == true }) {
                throw denied("the value of \(spelling) contains a NUL byte, which no job name, path, argument or environment entry can hold")
            }
            try apply(option.effect, spelling, value, second)
        }
    }

    /// The option a word names, its spelling for messages, and a value given with `=`.
    private func classify(_ word: String) throws(DRMAAError) -> (String, Option, String?) {
        if word.hasPrefix("--") {
            let body = word.dropFirst(2)
            let name = body.prefix { $0 != "=" }
            guard !name.isEmpty else { throw denied("'\(word)' is not an option") }
            let inline = name.endIndex < body.endIndex ? String(body[body.index(after: name.endIndex)...]) : nil
            guard let option = Self.longOptions[String(name)] else { throw unknown("--" + name) }
            return ("--" + name, option, inline)
        }
        guard word.hasPrefix("-"), word.count > 1 else {
            throw denied("'\(word)' is not an option (a value must follow the option it belongs to)")
        }
        let name = String(word.dropFirst())
        if let option = Self.gridEngineOptions[name] { return (word, option, nil) }
        if name.unicodeScalars.count == 1, let letter = Self.letters[Character(name)] {
            let option = dialect == .slurm ? (letter.slurm ?? letter.sge) : (letter.sge ?? letter.slurm)
            if let option { return (word, option, nil) }
        }
        if dialect == .slurm, let (spelling, option, value) = Self.attachedSlurmValue(word, anyLetter: true) {
            return (spelling, option, value)
        }
        throw unknown(word)
    }

    /// Every long and Grid Engine option as written, for "did you mean" hints.
    private static let spellings = longOptions.keys.map { "--" + $0 } + gridEngineOptions.keys.map { "-" + $0 }

    private func unknown(_ spelling: String) -> DRMAAError {
        let known = Self.spellings
        // No option name is longer than 20 characters: a longer word is no typo of one.
        let closest = spelling.count > 24 ? nil : known.map { ($0, NativeValues.distance($0, spelling)) }.min { ($0.1, $0.0) < ($1.1, $1.0) }
        let hint = closest.flatMap { $0.1 <= 2 && $0.1 < spelling.count / 2 ? " (did you mean \($0.0)?)" : nil } ?? ""
        return denied("unknown option '\(spelling)'\(hint); LocalDRM takes its own options (\(JobOptions.names.joined(separator: ", "))) and Grid Engine's and Slurm's submission options listed in swift-drmaa's Docs/Semantics.md")
    }

    /// A whole number within `range`; above it (or too many digits to hold), the message says it
    /// is too large and gives the bound, with `unit` (`slots`) and `note` (`this session has 4`).
    private func number(_ spelling: String, _ value: String, _ range: ClosedRange<Int>, unit: String = "", note: String = "") throws(DRMAAError) -> Int {
        guard let number = Int(value), range.contains(number) else {
            if Self.isAbove(value, range.upperBound) {
                throw tooLarge(spelling, value, "at most \(range.upperBound)\(unit.isEmpty ? "" : " " + unit)\(note.isEmpty ? "" : " (\(note))")")
            }
            let bounds = range.upperBound == Int.max ? "a whole number >= \(range.lowerBound)" : "a whole number from \(range.lowerBound) to \(range.upperBound)"
            throw invalid(spelling, value, bounds)
        }
        return number
    }

    /// True if `text` is a whole number above `bound`, also one with too many digits for an `Int`.
    static func isAbove(_ text: String, _ bound: Int) -> Bool {
        guard NativeValues.isWholeNumber(Substring(text)) else { return false }
        if let value = Int(text) { return value > bound }
        return !text.hasPrefix("-")
    }

    /// What a message adds to the bound of a slot count: the session's own, if it has fewer.
    private var sessionSlotsNote: String {
        sessionSlots < LocalDRM.slotRange.upperBound ? "and no more than this session's \(sessionSlots) to ever start" : ""
    }

    private mutating func apply(_ effect: Effect, _ spelling: String, _ value: String?, _ second: String?) throws(DRMAAError) {
        func text() throws(DRMAAError) -> String {
            guard let value, !value.isEmpty else { throw denied("option \(spelling) needs a non-empty value") }
            return value
        }
        switch effect {
        case .slots:
            options.setSlots(try number(spelling, value ?? "", LocalDRM.slotRange, unit: "slots", note: sessionSlotsNote))
        case .priority:
            options.priority = try number(spelling, value ?? "", -1023...1024)
        case .processNice:
            // LocalDRM's nice level, and Slurm's --nice[=adjustment] (default 100): either way the
            // job yields to others; the level goes up to 19.
            guard let value else { options.nice = 19; break }
            guard let level = Int(value), (0...2_147_483_645).contains(level) else {
                if Self.isAbove(value, 2_147_483_645) { throw tooLarge(spelling, value, "at most 2147483645, Slurm's bound (above 19 counts as 19)") }
                throw invalid(spelling, value, "a whole number from 0 to 2147483645, Slurm's bound (only lowering the priority is offered; above 19 counts as 19)")
            }
            options.nice = Int32(min(level, 19))
        case .taskLimit:
            options.taskLimit = try number(spelling, value ?? "", 1...Session.maximumBulkTasks)
        case .parallelEnvironment:
            try parallelEnvironment(spelling, value ?? "", second ?? "")
        case .cpusPerTask:
            options.cpusPerTask = try number(spelling, value ?? "", LocalDRM.slotRange, unit: "CPUs", note: sessionSlotsNote)
            try slurmSlots(spelling)
        case .tasks:
            options.tasks = try number(spelling, value ?? "", LocalDRM.slotRange, unit: "tasks", note: sessionSlotsNote)
            try slurmSlots(spelling)
        case .nodes:
            try nodes(spelling, value ?? "")
        case .jobName:
            options.jobName = try text()
        case .currentDirectory:
            options.workingDirectory = .current
        case .workingDirectory:
            options.workingDirectory = .path(try text())
        case .exportAll:
            options.inheritsEnvironment = true
        case .variables:
            options.environment += try environmentEntries(spelling, try text(), export: false)
        case .export:
            options.environment += try environmentEntries(spelling, try text(), export: true)
        case .resources:
            try resources(spelling, try text())
        case .soft:
            soft = true
        case .hard:
            soft = false
        case .time:
            let time: NativeValues.Time
            do {
                time = try NativeValues.slurmTime(Substring(value ?? ""))
            } catch .tooLarge {
                throw tooLarge(spelling, value ?? "", "\(Self.timeBound); UNLIMITED means no limit")
            } catch {
                throw invalid(spelling, value ?? "", "minutes, minutes:seconds, hours:minutes:seconds, days-hours, days-hours:minutes, days-hours:minutes:seconds or UNLIMITED")
            }
            options.hardWallclockLimit = JobOptions.TimeLimit(time)
        case .memory(let perCPU):
            let bytes: UInt64
            do {
                bytes = try NativeValues.slurmMemory(Substring(value ?? ""))
            } catch .tooLarge {
                throw tooLarge(spelling, value ?? "", Self.memoryBound)
            } catch {
                throw invalid(spelling, value ?? "", "a whole number of megabytes, or with a suffix K, M, G or T")
            }
            options.memoryRequest = perCPU ? .perSlot(bytes: bytes) : .perJob(bytes: bytes)
        case .hold:
            options.hold = true
        case .join:
            guard let join = NativeValues.yesNo(Substring(value ?? "")) else { throw invalid(spelling, value ?? "", "y or n") }
            options.joinFiles = join
        case .stream(let stream, let dialect):
            let path = try text()
            if dialect == .sge, path.contains(",") {
                throw denied("\(shown(spelling, path)) names several paths; LocalDRM runs every job on this host: give one")
            }
            let value = JobOptions.StreamPath(path, dialect: dialect)
            switch stream {
            case .input: options.inputPath = value
            case .output: options.outputPath = value
            case .error: options.errorPath = value
            }
        case .ignored(let check):
            switch check {
            case .anything:
                if let value, value.isEmpty { throw denied("option \(spelling) needs a non-empty value") }
            case .yesNo:
                if NativeValues.yesNo(Substring(value ?? "")) == nil { throw invalid(spelling, value ?? "", "y or n") }
            case .number:
                _ = try number(spelling, value ?? "", 0...Int.max)
            case .slurmTime:
                do {
                    _ = try NativeValues.slurmTime(Substring(value ?? ""))
                } catch .tooLarge {
                    throw tooLarge(spelling, value ?? "", "\(Self.timeBound); UNLIMITED means no limit")
                } catch {
                    throw invalid(spelling, value ?? "", "a Slurm time such as 30, 1:00:00 or 1-0")
                }
            }
        case .refusedIfYes(let reason):
            guard let yes = NativeValues.yesNo(Substring(value ?? "")) else { throw invalid(spelling, value ?? "", "y or n") }
            if yes { throw denied("\(shown(spelling, value)) is not available: \(reason)") }
        case .refused(let reason):
            throw denied("\(shown(spelling, value)) is not available: \(reason)")
        }
    }

    /// `-pe <name> <n>`, or a range `n-m`, `n-`, `-m`: the largest count the session can give
    /// within the range (Grid Engine gives as many as it can), at least `n`.
    private mutating func parallelEnvironment(_ spelling: String, _ name: String, _ range: String) throws(DRMAAError) {
        guard !name.isEmpty else { throw denied("option \(spelling) needs a parallel environment name") }
        let shownValue = "\(name) \(range)"
        let takes = "a parallel environment name and a number of slots or a range n-m, as in '-pe smp 4' or '-pe smp 2-8'"
        let bounds = range.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        func count(_ text: Substring?, _ absent: Int) throws(DRMAAError) -> Int {
            guard let text, !text.isEmpty else { return absent }
            guard let value = Int(text), LocalDRM.slotRange.contains(value) else {
                if Self.isAbove(String(text), LocalDRM.slotRange.upperBound) {
                    let note = sessionSlotsNote
                    throw tooLarge(spelling, shownValue, "a job takes at most \(LocalDRM.slotRange.upperBound) slots\(note.isEmpty ? "" : " (\(note))")")
                }
                throw invalid(spelling, shownValue, takes)
            }
            return value
        }
        guard !range.isEmpty, range != "-" else { throw invalid(spelling, shownValue, takes) }
        let lower = try count(bounds[0], 1)
        let upper = bounds.count == 2 ? try count(bounds[1], LocalDRM.slotRange.upperBound) : lower
        guard lower <= upper else { throw invalid(spelling, shownValue, "a range whose first number is not above its second") }
        options.setSlots(max(lower, min(upper, sessionSlots)))
    }

    /// Slurm: the slots are the tasks times the CPUs per task.
    private mutating func slurmSlots(_ spelling: String) throws(DRMAAError) {
        let (product, overflow) = (options.tasks ?? 1).multipliedReportingOverflow(by: options.cpusPerTask ?? 1)
        guard !overflow, LocalDRM.slotRange.contains(product) else {
            throw denied("\(spelling) makes the job ask for more than \(LocalDRM.slotRange.upperBound) slots (tasks × CPUs per task)")
        }
        options.slots = product
    }

    /// Slurm's `--nodes=<n>` or `<min>-<max>`: one machine is one node.
    private func nodes(_ spelling: String, _ value: String) throws(DRMAAError) {
        let bounds = value.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        if Int(bounds[0]) == nil, Self.isAbove(String(bounds[0]), 1) {  // more digits than an Int holds
            throw denied("\(shown(spelling, value)) asks for \(bounds[0]) nodes: LocalDRM runs every job on this one machine")
        }
        guard let lower = Int(bounds[0]), lower >= 1,
              bounds.count == 1 || (Int(bounds[1]).map { $0 >= lower } ?? Self.isAbove(String(bounds[1]), lower)) else {
            throw invalid(spelling, value, "a number of nodes or a range min-max")
        }
        if lower > 1 {
            throw denied("\(shown(spelling, value)) asks for \(lower) nodes: LocalDRM runs every job on this one machine")
        }
    }

    /// Grid Engine's `-v A=b,C` and Slurm's `--export=[ALL|NONE,]A=b,C`: entries, and for
    /// `--export` whether the submitting process's environment is passed on.
    private mutating func environmentEntries(_ spelling: String, _ list: String, export: Bool) throws(DRMAAError) -> [JobOptions.EnvironmentEntry] {
        var entries: [JobOptions.EnvironmentEntry] = []
        var all = false
        for item in list.split(separator: ",", omittingEmptySubsequences: false) {
            if export, item == "ALL" { all = true; continue }
            if export, item == "NONE" || item == "NIL" { continue }
            let name = item.prefix { $0 != "=" }
            guard !name.isEmpty else { throw invalid(spelling, list, "a comma-separated list of NAME or NAME=value\(export ? ", with ALL or NONE" : "")") }
            let value = name.endIndex < item.endIndex ? String(item[item.index(after: name.endIndex)...]) : nil
            entries.append(JobOptions.EnvironmentEntry(name: String(name), value: value))
        }
        if export { options.inheritsEnvironment = all }
        return entries
    }

    /// Grid Engine's `-l name=value,name=value`.
    private mutating func resources(_ spelling: String, _ list: String) throws(DRMAAError) {
        for item in list.split(separator: ",", omittingEmptySubsequences: false) {
            let namePart = item.prefix { $0 != "=" }
            let name = String(namePart)
            let value: Substring? = namePart.endIndex < item.endIndex ? item[item.index(after: namePart.endIndex)...] : nil
            guard !name.isEmpty else { throw invalid(spelling, list, "a comma-separated list of resource=value") }
            guard let resource = Self.resources[name] else {
                throw denied("\(shown(spelling, String(item))): unknown resource '\(name)'; LocalDRM knows h_rt, s_rt, h_vmem, s_vmem, h_cpu, s_cpu, h_data, s_data, h_stack, s_stack, h_fsize, s_fsize, h_core, s_core, mem_free and the other advisory ones, and the host selectors arch, hostname, qname, num_proc, calendar, exclusive (Docs/Semantics.md)")
            }
            func needsValue() throws(DRMAAError) -> Substring {
                guard let value, !value.isEmpty else { throw denied("\(shown(spelling, String(item))): resource \(name) needs a value") }
                return value
            }
            func memory() throws(DRMAAError) -> UInt64 {
                let value = try needsValue()
                do {
                    return try NativeValues.gridEngineMemory(value)
                } catch .tooLarge {
                    throw denied("\(shown(spelling, String(item))) is too large: \(Self.memoryBound); INFINITY means no limit")
                } catch {
                    throw denied("\(shown(spelling, String(item))) is invalid: \(name) takes a memory amount such as 2G, 512M, 1.5g (k, m, g: powers of 1000; K, M, G: of 1024) or INFINITY")
                }
            }
            func time() throws(DRMAAError) -> NativeValues.Time {
                let value = try needsValue()
                do {
                    return try NativeValues.gridEngineTime(value)
                } catch .tooLarge {
                    throw denied("\(shown(spelling, String(item))) is too large: \(Self.timeBound); INFINITY means no limit")
                } catch {
                    throw denied("\(shown(spelling, String(item))) is invalid: \(name) takes seconds, hours:minutes:seconds (such as 3600 or 1:00:00) or INFINITY")
                }
            }
            switch resource {
            case .wallclock(let hard):
                let limit = JobOptions.TimeLimit(try time())
                guard limit != .seconds(0) else { throw denied("\(shown(spelling, String(item))) is invalid: \(name) must be more than 0 (INFINITY for none)") }
                if soft { break }
                if hard { options.hardWallclockLimit = limit } else { options.softWallclockLimit = limit }
            case .limit(let kind, let hard, let isTime):
                let amount: UInt64
                if isTime {
                    switch try time() {
                    case .seconds(let seconds): amount = UInt64(seconds)
                    case .unlimited: amount = .max
                    }
                } else {
                    amount = try memory()
                }
                guard amount > 0 || kind == .core || kind == .fsize else { throw denied("\(shown(spelling, String(item))) is invalid: \(name) must be more than 0") }
                if soft { break }
                var limit = options.resourceLimits[kind] ?? JobOptions.ResourceLimit()
                if hard { limit.hard = amount } else { limit.soft = amount }
                options.resourceLimits[kind] = limit
            case .advisoryMemory:
                let bytes = try memory()
                if !soft { options.memoryRequest = .perSlot(bytes: bytes) }
            case .unenforcedMemory:
                _ = try memory()
            case .host:
                if let value, value.isEmpty { throw denied("\(shown(spelling, String(item))): resource \(name) needs a value") }
            }
        }
    }
}

extension JobOptions.TimeLimit {
    init(_ time: NativeValues.Time) {
        switch time {
        case .seconds(let seconds): self = .seconds(seconds)
        case .unlimited: self = .unlimited
        }
    }
}
