/// The words and values of native specifications: shell-word splitting, and the time and memory
/// amounts of Grid Engine and Slurm.
package enum NativeValues {
    /// Why a text is not a sequence of shell words.
    package struct WordError: Error {
        package let message: String
    }

    /// Splits `text` into words as a POSIX shell does, without expanding anything: blanks, tabs and
    /// newlines separate words; `'…'` keeps everything literally; `"…"` keeps everything but `\"`,
    /// `\\`, `\$` and `` \` `` (the character) and backslash-newline (nothing); outside quotes a
    /// backslash keeps the next character literally (backslash-newline is nothing). `''` is an
    /// empty word. Works on Unicode scalars, so that a combining mark cannot hide a quote.
    package static func shellWords(_ text: String) throws(WordError) -> [String] {
        var words: [String] = []
        var word = String.UnicodeScalarView()
        var inWord = false
        var scalars = text.unicodeScalars.makeIterator()
        func finish() {
            if inWord { words.append(String(word)) }
            word = String.UnicodeScalarView()
            inWord = false
        }
        while let scalar = scalars.next() {
            switch scalar {
            case " ", "\t", "\n":
                finish()
            case "'":
                inWord = true
                while true {
                    guard let next = scalars.next() else { throw WordError(message: "has an unterminated single quote (')") }
                    if next == "'" { break }
                    word.append(next)
                }
            case "\"":
                inWord = true
                while true {
                    guard let next = scalars.next() else { throw WordError(message: "has an unterminated double quote (\")") }
                    if next == "\"" { break }
                    if next == "\\" {
                        guard let escaped = scalars.next() else { throw WordError(message: "has an unterminated double quote (\")") }
                        switch escaped {
                        case "\"", "\\", "$", "`": word.append(escaped)
                        case "\n": break
                        default: word.append(next); word.append(escaped)
                        }
                        continue
                    }
                    word.append(next)
                }
            case "\\":
                guard let escaped = scalars.next() else {
                    // A trailing backslash stands for itself, as in sh.
                    inWord = true
                    word.append(scalar)
                    continue
                }
                if escaped == "\n" { continue }
                inWord = true
                word.append(escaped)
            default:
                inWord = true
                word.append(scalar)
            }
        }
        finish()
        return words
    }

    /// `word` quoted so that ``shellWords(_:)`` gives it back as one word.
    static func quoted(_ word: String) -> String {
        if !word.isEmpty, word.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || "0123456789-_=.,:/%+@".unicodeScalars.contains($0) }) {
            return word
        }
        return "'" + word.replacing("'", with: "'\\''") + "'"
    }

    /// Why a time or an amount could not be read.
    enum ValueError: Error, Equatable {
        /// Not written as the option takes it.
        case malformed
        /// Well formed, but beyond what LocalDRM can represent (``maximumSeconds``, ``maximumBytes``).
        case tooLarge
    }

    /// The longest time limit that can be given: `Int.max` seconds.
    static let maximumSeconds = Int.max
    /// The largest memory amount that can be given, in bytes: the largest `Double` below 2⁶⁴
    /// (`UInt64.max` stands for `INFINITY`).
    static let maximumBytes: UInt64 = 18_446_744_073_709_549_568 - 2048

    /// True if `text` is a whole number as written: an optional sign and at least one ASCII digit.
    static func isWholeNumber(_ text: Substring) -> Bool {
        let digits = text.first == "-" || text.first == "+" ? text.dropFirst() : text
        return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// A time limit: a number of seconds, or none (`INFINITY`, `UNLIMITED`).
    enum Time: Equatable {
        case seconds(Int)
        case unlimited
    }

    /// Grid Engine's time: `INFINITY`, seconds (`3600`), or `hours:minutes:seconds` with every
    /// field present as digits or empty for 0 (`1:00:00`, `0:30:0`, `1::1`).
    static func gridEngineTime(_ text: Substring) throws(ValueError) -> Time {
        if text.lowercased() == "infinity" { return .unlimited }
        let fields = text.split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count == 1 || fields.count == 3 else { throw .malformed }
        if fields.count == 1, fields[0].isEmpty { throw .malformed }
        return .seconds(try sum(fields, [3600, 60, 1].suffix(fields.count)))
    }

    /// Slurm's time (`--time`): `UNLIMITED`/`INFINITE`; `minutes`, `minutes:seconds`,
    /// `hours:minutes:seconds`, `days-hours`, `days-hours:minutes`, `days-hours:minutes:seconds`;
    /// 0 means no limit.
    static func slurmTime(_ text: Substring) throws(ValueError) -> Time {
        let upper = text.uppercased()
        if upper == "UNLIMITED" || upper == "INFINITE" { return .unlimited }
        let seconds: Int
        if let dash = text.firstIndex(of: "-") {
            let days = text[..<dash]
            let rest = text[text.index(after: dash)...].split(separator: ":", omittingEmptySubsequences: false)
            guard (1...3).contains(rest.count) else { throw .malformed }
            seconds = try sum([days] + rest, [86_400, 3600, 60, 1].prefix(rest.count + 1), emptyAllowed: false)
        } else {
            let fields = text.split(separator: ":", omittingEmptySubsequences: false)
            switch fields.count {
            case 1: seconds = try sum(fields, [60], emptyAllowed: false)
            case 2: seconds = try sum(fields, [60, 1], emptyAllowed: false)
            case 3: seconds = try sum(fields, [3600, 60, 1], emptyAllowed: false)
            default: throw .malformed
            }
        }
        return seconds == 0 ? .unlimited : .seconds(seconds)
    }

    /// Digit fields times their units, added: malformed on a non-digit or an empty field (unless
    /// allowed, counting 0), too large beyond ``maximumSeconds``. Every field is checked for
    /// digits first, so that `99999999999999999999:x` is malformed, not too large.
    private static func sum<C: Collection, U: Sequence>(_ fields: C, _ units: U, emptyAllowed: Bool = true) throws(ValueError) -> Int where C.Element == Substring, U.Element == Int {
        for field in fields {
            guard field.allSatisfy({ $0.isASCII && $0.isNumber }) else { throw .malformed }
            if field.isEmpty && !emptyAllowed { throw .malformed }
        }
        var total = 0
        for (field, unit) in zip(fields, units) {
            guard let value = field.isEmpty ? 0 : Int(field) else { throw .tooLarge }  // digits only: too many of them
            let (scaled, o1) = value.multipliedReportingOverflow(by: unit)
            let (added, o2) = total.addingReportingOverflow(scaled)
            guard !o1, !o2 else { throw .tooLarge }
            total = added
        }
        return total
    }

    /// Grid Engine's memory (`sge_types`): `INFINITY` (`UInt64.max`), or a decimal number, a
    /// fraction allowed, with an optional multiplier `k` 1000, `K` 1024, `m` 1000², `M` 1024²,
    /// `g`, `G`, `t`, `T`; bytes otherwise; at most ``maximumBytes``.
    static func gridEngineMemory(_ text: Substring) throws(ValueError) -> UInt64 {
        if text.lowercased() == "infinity" { return .max }
        var number = text
        var multiplier = 1.0
        if let last = text.last, let factor = gridEngineMultipliers[last] {
            number = text.dropLast()
            multiplier = factor
        }
        return try amount(number, times: multiplier)
    }

    private static let gridEngineMultipliers: [Character: Double] = [
        "k": 1e3, "K": 1024, "m": 1e6, "M": 1_048_576, "g": 1e9, "G": 1_073_741_824, "t": 1e12, "T": 1_099_511_627_776,
    ]

    /// Slurm's memory (`--mem`, `--mem-per-cpu`): a whole number of megabytes (MiB), or with a
    /// suffix `K`, `M`, `G` or `T` (either case, powers of 1024); at most ``maximumBytes``.
    static func slurmMemory(_ text: Substring) throws(ValueError) -> UInt64 {
        var number = text
        var multiplier: Double = 1_048_576
        let powers: [Character: Double] = ["k": 1024, "K": 1024, "m": 1_048_576, "M": 1_048_576, "g": 1_073_741_824,
                                           "G": 1_073_741_824, "t": 1_099_511_627_776, "T": 1_099_511_627_776]
        if let last = text.last, let power = powers[last] {
            number = text.dropLast()
            multiplier = power
        }
        guard number.allSatisfy({ $0.isASCII && $0.isNumber }) else { throw .malformed }
        return try amount(number, times: multiplier)
    }

    /// A decimal number (digits, at most one `.`) times `multiplier`, rounded down.
    private static func amount(_ number: Substring, times multiplier: Double) throws(ValueError) -> UInt64 {
        guard !number.isEmpty, number != ".", number.filter({ $0 == "." }).count <= 1,
              number.allSatisfy({ $0 == "." || ($0.isASCII && $0.isNumber) }),
              let value = Double(number) else { throw .malformed }
        let bytes = (value * multiplier).rounded(.down)
        guard bytes.isFinite, bytes <= Double(maximumBytes) else { throw .tooLarge }  // below UInt64.max as a Double
        return UInt64(bytes)
    }

    /// `y`, `yes`, `n`, `no` (Grid Engine's booleans of -b, -j, -shell …), any case.
    static func yesNo(_ text: Substring) -> Bool? {
        switch text.lowercased() {
        case "y", "yes", "true": true
        case "n", "no", "false": false
        default: nil
        }
    }

    /// How far apart two option names are (edits), for "did you mean" hints.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars), b = Array(b.unicodeScalars)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
