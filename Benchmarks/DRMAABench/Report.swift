/// A JSON value, rendered by hand (the benchmark does without Foundation).
enum JSON {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    func render(indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent + 1), closing = String(repeating: "  ", count: indent)
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .int(let value): return String(value)
        case .double(let value):
            guard value.isFinite else { return "null" }
            return format(value, 6, trimZeros: true)
        case .string(let value): return Self.quote(value)
        case .array(let values):
            if values.isEmpty { return "[]" }
            return "[\n" + values.map { pad + $0.render(indent: indent + 1) }.joined(separator: ",\n") + "\n\(closing)]"
        case .object(let members):
            if members.isEmpty { return "{}" }
            return "{\n" + members.map { pad + Self.quote($0.0) + ": " + $0.1.render(indent: indent + 1) }
                .joined(separator: ",\n") + "\n\(closing)}"
        }
    }

    static func quote(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}

/// `value` with `decimals` digits after the point (no Foundation `String(format:)`).
func format(_ value: Double, _ decimals: Int, trimZeros: Bool = false) -> String {
    guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    guard scaled < 9e18 else { return String(value) }
    let total = UInt64(scaled)
    let sign = value < 0 && total != 0 ? "-" : ""
    let whole = total / UInt64(scale)
    guard decimals > 0 else { return sign + String(whole) }
    var fraction = String(total % UInt64(scale))
    fraction = String(repeating: "0", count: decimals - fraction.count) + fraction
    if trimZeros {
        while fraction.hasSuffix("0") { fraction.removeLast() }
        if fraction.isEmpty { return sign + String(whole) }
    }
    return sign + String(whole) + "." + fraction
}

/// A count with thousands separators: `100,000`.
func grouped(_ value: Int) -> String {
    let digits = String(abs(value))
    var result = ""
    for (index, character) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { result += "," }
        result.append(character)
    }
    return (value < 0 ? "-" : "") + result
}

/// Bytes as MiB with one decimal.
func mebibytes(_ bytes: Int) -> String { format(Double(bytes) / 1_048_576, 1) + " MiB" }

/// Seconds as milliseconds with three decimals.
func milliseconds(_ seconds: Double) -> String { format(seconds * 1000, 3) + " ms" }

/// Latency samples in seconds.
struct Samples {
    private(set) var sorted: [Double]

    init(_ values: [Double]) { sorted = values.sorted() }

    /// Nearest-rank percentile (`p` in 0...1): the smallest sample with at least p·n samples at or below it.
    func percentile(_ p: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let rank = Int((p * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count - 1, max(0, rank - 1))]
    }

    var mean: Double { sorted.isEmpty ? .nan : sorted.reduce(0, +) / Double(sorted.count) }
    var largest: Double { sorted.last ?? .nan }

    /// p50, p90, p99, max and mean, in seconds.
    var json: JSON {
        .object([("count", .int(sorted.count)), ("p50_s", .double(percentile(0.5))), ("p90_s", .double(percentile(0.9))),
                 ("p99_s", .double(percentile(0.99))), ("max_s", .double(largest)), ("mean_s", .double(mean))])
    }
}

/// A table for the terminal.
struct Table {
    var title: String
    var header: [String]
    var rows: [[String]] = []
    var notes: [String] = []
    /// How many leading columns are text (left-aligned); the others are numbers (right-aligned).
    var textColumns = 1

    func render() -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = Swift.max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                let padding = String(repeating: " ", count: widths[index] - cell.count)
                return index < textColumns ? cell + padding : padding + cell
            }.joined(separator: "  ")
        }
        var text = "== \(title)\n" + line(header) + "\n" + line(widths.map { String(repeating: "-", count: $0) }) + "\n"
        for row in rows { text += line(row) + "\n" }
        for note in notes { text += "   note: \(note)\n" }
        return text
    }
}

/// One performance target and whether this run meets it, in one mode.
struct TargetCheck {
    var mode: BenchMode
    /// The system measured, when it is not one of LocalDRM's modes (`slurm`).
    var system: String? = nil
    var name: String
    var goal: String
    var measured: String
    var met: Bool

    /// The mode, or the system.
    var label: String { system ?? mode.rawValue }

    var json: JSON {
        .object([("mode", .string(label)), ("name", .string(name)), ("goal", .string(goal)),
                 ("measured", .string(measured)), ("met", .bool(met))])
    }
}

/// What a scenario produced.
struct ScenarioResult {
    var name: String
    var tables: [Table] = []
    var json: JSON = .null
    var targets: [TargetCheck] = []
    var notes: [String] = []
}
