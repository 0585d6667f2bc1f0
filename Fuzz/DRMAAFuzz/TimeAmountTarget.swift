import DRMAACore

/// `[[h:]m:]s` time amounts: `TimeAmount.parse` and the four time-limit attributes.
///
/// Invariants: the parser accepts exactly the texts of one to three fields of ASCII digits
/// whose value (computed here in 128 bits) fits an `Int`, with that value; refusals are
/// INVALID_ATTRIBUTE_FORMAT; the seconds and `h:mm:ss` forms of a value parse back to it; the
/// attribute setter agrees with the parser and the typed property reads the value back.
enum TimeAmountTarget {
    static func run(_ data: [UInt8]) -> Int32 {
        let text = String(decoding: data, as: UTF8.self)
        let expected = reference(text)
        let parsed: Int?
        do {
            parsed = try TimeAmount.parse(text)
        } catch {
            check(error.code == .invalidAttributeFormat, "error \(error.code) for \(quoted(text))")
            parsed = nil
        }
        check(parsed == expected, "\(quoted(text)) parses as \(String(describing: parsed)), expected \(String(describing: expected))")
        var template = JobTemplate()
        let accepted = (try? template.setAttribute("drmaa_wct_hlimit", text)) != nil
        check(accepted == (parsed != nil), "drmaa_wct_hlimit=\(quoted(text)) accepted: \(accepted), parse: \(String(describing: parsed))")
        guard let value = parsed else { return 0 }
        check(template.hardWallclockTimeLimit == value, "drmaa_wct_hlimit=\(quoted(text)) reads back as \(String(describing: template.hardWallclockTimeLimit))")
        check((try? TimeAmount.parse(String(value))) == value, "\(value) does not parse back")
        let hms = "\(value / 3600):\(value / 60 % 60):\(value % 60)"
        check((try? TimeAmount.parse(hms)) == value, "\(hms) does not parse back to \(value)")
        var typed = JobTemplate()
        typed.softRunDurationLimit = value
        check(typed.softRunDurationLimit == value, "softRunDurationLimit = \(value) reads back as \(String(describing: typed.softRunDurationLimit))")
        return 0
    }

    /// The specification, independently: one to three fields of ASCII digits, value < 2^63
    /// (computed in 128 bits, saturating, so that no field length overflows it).
    static func reference(_ text: String) -> Int? {
        let fields = Array(text.utf8).split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        guard (1...3).contains(fields.count) else { return nil }
        var total: Int128 = 0
        for field in fields {
            guard !field.isEmpty, field.allSatisfy({ (48...57).contains($0) }) else { return nil }
            let value = field.reduce(Int128(0)) { min($0 * 10 + Int128($1 - 48), Int128(Int.max) + 1) }
            total = min(total * 60 + value, Int128(Int.max) + 1)
        }
        return total <= Int128(Int.max) ? Int(total) : nil
    }
}
