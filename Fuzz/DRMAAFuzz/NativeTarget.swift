import DRMAACore
import LocalDRM

/// LocalDRM's native specification: `JobOptions.applying` (LocalDRM's own options, Grid Engine's
/// and Slurm's, shell words), `JobCategories.options` and `JobOptions.inferredDialect(of:)`.
///
/// Input: a specification `A`, optionally followed by a NUL byte and a second one `B` (a job's
/// category specification and its own native specification).
/// Invariants, in each reading (no emulation, Grid Engine's, Slurm's): a refusal is DENIED_BY_DRM
/// whose message starts with the specification; accepted options are in their documented ranges;
/// their canonical text (one spelling per effect, every word shell-quoted) gives them back; the
/// words of `A`, each quoted and joined by blanks, split into the same words; without an emulation
/// the options are those of the inferred dialect (or a refusal when the dialects are mixed); a
/// category whose specification is `A` gives the same options; `A` then `B` equals `A B` (a later
/// option overrides an earlier one) where no word crosses the boundary.
enum NativeTarget {
    static let sessionSlots = 16
    static let readings: [Emulation?] = [nil, .sge, .slurm]

    static func run(_ data: [UInt8]) -> Int32 {
        let parts = data.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
        let a = String(decoding: parts[0], as: UTF8.self)
        let b = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : nil
        checkWords(a)
        for emulation in readings {
            let optionsA = apply(a, to: JobOptions(), emulation)
            if let optionsA {
                checkRanges(optionsA, a)
                let form = canonical(optionsA)
                let again = apply(form, to: JobOptions(), .sge)
                check(again == optionsA, "\(quoted(a)) [\(String(describing: emulation))]: canonical \(quoted(form)) gives \(String(describing: again)), not \(optionsA)")
            }
            if emulation == nil { checkInference(a, optionsA) }
            let categories = JobCategories(["c": a])
            let viaCategory: JobOptions?
            do {
                viaCategory = try categories.options(category: "c", nativeSpecification: b, emulation: emulation, sessionSlots: sessionSlots)
            } catch {
                check(error.code == .deniedByDRM, "category \(quoted(a)) native \(String(describing: b)): error \(error.code)")
                viaCategory = nil
            }
            guard let b else {
                check(viaCategory == optionsA, "category \(quoted(a)) gives \(String(describing: viaCategory)), its text \(String(describing: optionsA))")
                continue
            }
            let sequential = optionsA.flatMap { apply(b, to: $0, emulation) }
            check(viaCategory == sequential, "category \(quoted(a)) + native \(quoted(b)): \(String(describing: viaCategory)) vs \(String(describing: sequential))")
            // Joined, the dialect is inferred from both: only a fixed reading compares. A trailing
            // backslash, an optional --nice value or -soft would reach across the boundary.
            guard let emulation, let sequential, apply(b, to: JobOptions(), emulation) != nil,
                  a.unicodeScalars.last != "\\", let words = try? JobOptions.words(of: a),
                  words.last != "--nice", !words.contains("-soft") else { continue }
            let joined = apply(a + " " + b, to: JobOptions(), emulation)
            check(joined == sequential, "\(quoted(a)) then \(quoted(b)) is \(sequential), joined \(String(describing: joined))")
        }
        return 0
    }

    static func apply(_ text: String, to options: JobOptions, _ emulation: Emulation?) -> JobOptions? {
        do {
            return try options.applying(text, emulation: emulation, sessionSlots: sessionSlots)
        } catch {
            check(error.code == .deniedByDRM && error.message.hasPrefix("drmaa_native_specification '\(text.replacing("\0", with: "\\0"))'"), "\(quoted(text)): error \(error.code) \(quoted(error.message))")
            return nil
        }
    }

    /// Without an emulation, a specification reads as in its inferred dialect; mixed, as Grid
    /// Engine's or refused.
    static func checkInference(_ text: String, _ options: JobOptions?) {
        let inferred = JobOptions.inferredDialect(of: text)
        let fixed = apply(text, to: JobOptions(), inferred ?? .sge)
        if inferred != nil || options != nil {
            check(options == fixed, "\(quoted(text)): without emulation \(String(describing: options)), as \(String(describing: inferred)) \(String(describing: fixed))")
        }
    }

    /// The shell-word splitter against an independent quoting.
    static func checkWords(_ text: String) {
        guard let words = try? JobOptions.words(of: text) else { return }
        let requoted = words.map(shellQuoted).joined(separator: " ")
        let again = try? JobOptions.words(of: requoted)
        check(again == words, "\(quoted(text)) splits into \(words); quoted again \(quoted(requoted)) into \(String(describing: again))")
    }

    static func shellQuoted(_ word: String) -> String {
        "'" + word.replacing("'", with: "'\\''") + "'"
    }

    static func checkRanges(_ o: JobOptions, _ text: String) {
        check(LocalDRM.slotRange.contains(o.slots), "\(quoted(text)): slots \(o.slots)")
        if o.tasks != nil || o.cpusPerTask != nil {
            check((o.tasks ?? 1) * (o.cpusPerTask ?? 1) == o.slots, "\(quoted(text)): slots \(o.slots) are not tasks × CPUs")
        }
        check((-1023...1024).contains(o.priority), "\(quoted(text)): priority \(o.priority)")
        if let nice = o.nice { check((0...19).contains(nice), "\(quoted(text)): nice \(nice)") }
        if let limit = o.taskLimit { check((1...Session.maximumBulkTasks).contains(limit), "\(quoted(text)): task limit \(limit)") }
        for (resource, limit) in o.resourceLimits {
            check(limit.soft != nil || limit.hard != nil, "\(quoted(text)): empty limit of \(resource)")
            for value in [limit.soft, limit.hard].compactMap({ $0 }) {
                check(value > 0 || resource == .core || resource == .fsize, "\(quoted(text)): \(resource) limit \(value)")
            }
        }
        if case .seconds(let s)? = o.hardWallclockLimit { check(s > 0, "\(quoted(text)): h_rt \(s)") }
        for entry in o.environment {
            check(!entry.name.isEmpty && !entry.name.contains("=") && !entry.name.contains(","), "\(quoted(text)): variable \(quoted(entry.name))")
        }
        if let name = o.jobName { check(!name.isEmpty, "\(quoted(text)): empty job name") }
    }

    /// One spelling per effect, read back with the Grid Engine emulation: letters as Grid Engine's,
    /// Slurm's effects in their long spellings.
    static func canonical(_ o: JobOptions) -> String {
        var words: [String] = []
        if o.tasks != nil || o.cpusPerTask != nil {
            if let tasks = o.tasks { words.append("--ntasks=\(tasks)") }
            if let cpus = o.cpusPerTask { words.append("--cpus-per-task=\(cpus)") }
        } else {
            words.append("--slots=\(o.slots)")
        }
        words.append("-p \(o.priority)")
        if let nice = o.nice { words.append("--nice=\(nice)") }
        if let limit = o.taskLimit { words.append("-tc \(limit)") }
        func amount(_ value: UInt64) -> String { value == .max ? "INFINITY" : String(value) }
        for (resource, limit) in o.resourceLimits.sorted(by: { $0.key < $1.key }) {
            if let hard = limit.hard { words.append("-l h_\(resource.rawValue)=\(amount(hard))") }
            if let soft = limit.soft { words.append("-l s_\(resource.rawValue)=\(amount(soft))") }
        }
        switch o.memoryRequest {
        case .perJob(let bytes)?: words.append("--mem=\(bytes / 1024)K")
        case .perSlot(let bytes)?: words.append("-l mem_free=\(bytes)")
        case nil: break
        }
        if !o.inheritsEnvironment { words.append("--export=NONE") }
        for entry in o.environment {
            words.append("-v")
            words.append(shellQuoted(entry.name + (entry.value.map { "=" + $0 } ?? "")))
        }
        if let name = o.jobName { words.append("-N " + shellQuoted(name)) }
        switch o.workingDirectory {
        case .current?: words.append("-cwd")
        case .path(let path)?: words.append("-wd " + shellQuoted(path))
        case nil: break
        }
        func time(_ limit: JobOptions.TimeLimit) -> String {
            switch limit {
            case .seconds(let seconds): String(seconds)
            case .unlimited: "INFINITY"
            }
        }
        if let hard = o.hardWallclockLimit { words.append("-l h_rt=\(time(hard))") }
        if let soft = o.softWallclockLimit { words.append("-l s_rt=\(time(soft))") }
        if o.hold { words.append("-h") }
        if let join = o.joinFiles { words.append(join ? "-j y" : "-j n") }
        for (path, letter, long) in [(o.inputPath, "i", "input"), (o.outputPath, "o", "output"), (o.errorPath, "e", "error")] {
            guard let path else { continue }
            words.append(path.dialect == .sge ? "-\(letter) " + shellQuoted(path.pattern) : "--\(long)=" + shellQuoted(path.pattern))
        }
        return words.joined(separator: " ")
    }
}

/// Job category files: `JobCategories(parsing:origin:)`.
///
/// Invariants: refusals are DRMS_INIT_FAILED; every category has a non-empty name without
/// blanks or `#` and a specification that applies; the file written back from the parsed
/// categories parses to the same; the same file with CRLF line ends parses the same way.
enum CategoriesTarget {
    static func run(_ data: [UInt8]) -> Int32 {
        let text = String(decoding: data, as: UTF8.self)
        let parsed = parse(text)
        let crlf = parse(text.replacing("\n", with: "\r\n"))
        check(parsed == crlf, "\(quoted(text)) parses as \(String(describing: parsed)), with CRLF line ends as \(String(describing: crlf))")
        guard let parsed else { return 0 }
        for (name, specification) in parsed.specifications {
            check(!name.isEmpty && !name.contains(where: { $0 == " " || $0 == "\t" || $0 == "#" || $0 == "\n" }), "category name \(quoted(name)) from \(quoted(text))")
            check((try? JobOptions().applying(specification, sessionSlots: 16)) != nil, "category \(quoted(name)) has the invalid specification \(quoted(specification))")
            check(!specification.contains("#"), "category \(quoted(name)) keeps a comment: \(quoted(specification))")
        }
        let written = parsed.specifications.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: "\n")
        check(parse(written) == parsed, "\(quoted(text)) written back as \(quoted(written)) parses as \(String(describing: parse(written)))")
        return 0
    }

    static func parse(_ text: String) -> JobCategories? {
        do {
            return try JobCategories(parsing: text, origin: "fuzz", sessionSlots: 16)
        } catch {
            check(error.code == .drmsInitFailed && error.message.hasPrefix("fuzz:"), "\(quoted(text)): error \(error.code) \(error.message)")
            return nil
        }
    }
}
