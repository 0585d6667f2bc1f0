import DRMAACore
import LocalDRM

/// LocalDRM's native specification: `JobOptions.applying` and `JobCategories.options`.
///
/// Input: a specification `A`, optionally followed by a NUL byte and a second one `B` (a job's
/// category specification and its own native specification).
/// Invariants: accepted options are in their documented ranges; their canonical text, in both
/// `--name=value` and `--name value` forms, gives them back; a category whose specification is
/// `A` gives the same options; `A` then `B` equals `A B` (a later option overrides an earlier one).
enum NativeTarget {
    static func run(_ data: [UInt8]) -> Int32 {
        let parts = data.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
        let a = String(decoding: parts[0], as: UTF8.self)
        let b = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : nil
        let optionsA = apply(a, to: JobOptions())
        if let optionsA {
            checkRanges(optionsA, a)
            for form in [canonical(optionsA, separator: "="), canonical(optionsA, separator: " ")] {
                check(apply(form, to: JobOptions()) == optionsA, "\(quoted(a)): canonical \(quoted(form)) gives \(String(describing: apply(form, to: JobOptions())))")
            }
        }
        let categories = JobCategories(["c": a])
        let viaCategory: JobOptions?
        do {
            viaCategory = try categories.options(category: "c", nativeSpecification: b)
        } catch {
            check(error.code == .deniedByDRM, "category \(quoted(a)) native \(String(describing: b)): error \(error.code)")
            viaCategory = nil
        }
        guard let b else {
            check(viaCategory == optionsA, "category \(quoted(a)) gives \(String(describing: viaCategory)), its text \(String(describing: optionsA))")
            return 0
        }
        let sequential = optionsA.flatMap { apply(b, to: $0) }
        check(viaCategory == sequential, "category \(quoted(a)) + native \(quoted(b)): \(String(describing: viaCategory)) vs \(String(describing: sequential))")
        if let sequential, apply(b, to: JobOptions()) != nil {
            let joined = apply(a + " " + b, to: JobOptions())
            check(joined == sequential, "\(quoted(a)) then \(quoted(b)) is \(sequential), joined \(String(describing: joined))")
        }
        return 0
    }

    static func apply(_ text: String, to options: JobOptions) -> JobOptions? {
        do {
            return try options.applying(text)
        } catch {
            check(error.code == .deniedByDRM && !error.message.isEmpty, "\(quoted(text)): error \(error.code)")
            return nil
        }
    }

    static func checkRanges(_ o: JobOptions, _ text: String) {
        check(LocalDRM.slotRange.contains(o.slots), "\(quoted(text)): slots \(o.slots)")
        check((-1023...1024).contains(o.priority), "\(quoted(text)): priority \(o.priority)")
        if let nice = o.nice { check((0...19).contains(nice), "\(quoted(text)): nice \(nice)") }
        if let limit = o.taskLimit { check((1...Session.maximumBulkTasks).contains(limit), "\(quoted(text)): task limit \(limit)") }
    }

    static func canonical(_ o: JobOptions, separator: String) -> String {
        var words = ["--slots\(separator)\(o.slots)", "--priority\(separator)\(o.priority)"]
        if let nice = o.nice { words.append("--nice\(separator)\(nice)") }
        if let limit = o.taskLimit { words.append("--task-limit\(separator)\(limit)") }
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
            check((try? JobOptions().applying(specification)) != nil, "category \(quoted(name)) has the invalid specification \(quoted(specification))")
            check(!specification.contains("#"), "category \(quoted(name)) keeps a comment: \(quoted(specification))")
        }
        let written = parsed.specifications.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: "\n")
        check(parse(written) == parsed, "\(quoted(text)) written back as \(quoted(written)) parses as \(String(describing: parse(written)))")
        return 0
    }

    static func parse(_ text: String) -> JobCategories? {
        do {
            return try JobCategories(parsing: text, origin: "fuzz")
        } catch {
            check(error.code == .drmsInitFailed && error.message.hasPrefix("fuzz:"), "\(quoted(text)): error \(error.code) \(error.message)")
            return nil
        }
    }
}
