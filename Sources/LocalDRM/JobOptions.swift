import DRMAACore

/// What LocalDRM reads from `drmaa_native_specification` and `drmaa_job_category`.
///
/// The native specification is a list of long options separated by blanks, each either
/// `--name=value` or `--name value`:
///
/// | Option | Values | Meaning |
/// |---|---|---|
/// | `--slots=<n>` | 1 … the session's slots (at most 1,048,576) | the job takes `n` slots while it runs |
/// | `--priority=<p>` | -1023 … 1024, default 0 | higher starts first; equal priorities start in submission order |
/// | `--nice=<n>` | 0 … 19 | the job's processes run at this nice level |
/// | `--task-limit=<n>` | 1 … 1,000,000 | at most `n` tasks of this bulk job run at once (Slurm's `--array=…%n`) |
///
/// A later option overrides an earlier one. Anything else is `DENIED_BY_DRM` at submission, with
/// a message naming the option.
public struct JobOptions: Sendable, Equatable {
    /// Slots the job occupies while it runs.
    public var slots = 1
    /// Queue order: higher first.
    public var priority = 0
    /// The nice level of the job's process group, `nil` to inherit this process's.
    public var nice: Int32?
    /// For a bulk job: how many of its tasks may run at once, `nil` for no limit.
    public var taskLimit: Int?

    /// The defaults: one slot, priority 0, inherited nice level, no task limit.
    public init() {}

    /// The option names, as the error messages list them.
    public static let names = ["--slots", "--priority", "--nice", "--task-limit"]

    /// The options of a native specification, applied on top of `self`. `source` names where the
    /// text came from, for error messages (`drmaa_native_specification`, or a job category).
    public func applying(_ specification: String, source: String = "drmaa_native_specification") throws(DRMAAError) -> JobOptions {
        var options = self
        var words = specification.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).makeIterator()
        while let word = words.next() {
            guard word.hasPrefix("--"), word.count > 2 else {
                throw .denied("\(source) '\(specification)': '\(word)' is not an option; LocalDRM takes \(Self.names.map { "\($0)=<n>" }.joined(separator: ", "))")
            }
            let name: Substring, value: Substring
            if let equals = word.firstIndex(of: "=") {
                (name, value) = (word[..<equals], word[word.index(after: equals)...])
            } else {
                guard Self.names.contains(String(word)) else { throw unknown(word, specification, source) }
                guard let next = words.next() else {
                    throw .denied("\(source) '\(specification)': option \(word) needs a value")
                }
                (name, value) = (word, next)
            }
            func number(_ range: ClosedRange<Int>) throws(DRMAAError) -> Int {
                guard let number = Int(value), range.contains(number) else {
                    let bounds = range.upperBound == Int.max ? "a whole number >= \(range.lowerBound)" : "a whole number from \(range.lowerBound) to \(range.upperBound)"
                    throw .denied("\(source) '\(specification)': \(name)=\(value) is invalid: it takes \(bounds)")
                }
                return number
            }
            switch name {
            case "--slots": options.slots = try number(LocalDRM.slotRange)
            case "--priority": options.priority = try number(-1023...1024)
            case "--nice": options.nice = Int32(try number(0...19))
            case "--task-limit": options.taskLimit = try number(1...Session.maximumBulkTasks)
            default: throw unknown(name, specification, source)
            }
        }
        return options
    }

    private func unknown(_ name: Substring, _ specification: String, _ source: String) -> DRMAAError {
        .denied("\(source) '\(specification)': unknown option '\(name)'; LocalDRM knows \(Self.names.joined(separator: ", "))")
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

    /// Reads the file format above; `origin` names the text in error messages.
    /// A malformed line or an invalid specification throws `DRMS_INIT_FAILED` naming the line.
    public init(parsing text: String, origin: String) throws(DRMAAError) {
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
                _ = try JobOptions().applying(specification, source: "job category '\(name)'")
            } catch {
                throw DRMAAError(.drmsInitFailed, "\(origin):\(number + 1): \(error.message)")
            }
            specifications[name] = specification
        }
        self.specifications = specifications
    }

    /// The options of a job: its category's specification, then its own native specification.
    public func options(category: String?, nativeSpecification: String?) throws(DRMAAError) -> JobOptions {
        var options = JobOptions()
        if let category, let specification = specifications[category] {
            options = try options.applying(specification, source: "job category '\(category)' (\(specification))")
        }
        if let nativeSpecification {
            options = try options.applying(nativeSpecification)
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
