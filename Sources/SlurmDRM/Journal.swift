import DRMAACore
import LocalDRM

/// A Slurm session's journal: which jobs it submitted and which of them were reaped, one line
/// each, in `<state directory>/slurm/<session key>`. A process that re-attaches to the session
/// reads it to rebuild the job list, since Slurm forgets ended jobs (after `MinJobAge`) and need
/// not keep job comments in accounting. Lines:
///
///     submitted <id>                      a single job
///     submitted <id> <first> <last> <step>  a bulk job, tasks <id>_<index>
///     reaped <id> <id> …
struct SessionJournal: Sendable {
    let path: String

    /// The journal of session `key`; throws when the state directory cannot be used.
    init(sessionKey key: String) throws(DRMAAError) {
        path = try JournalFile.directory("slurm") + "/" + Self.fileName(key)
    }

    /// The key itself when it is a plain name, else `x` and its bytes in hex (a key may hold `/`).
    static func fileName(_ key: String) -> String {
        let plain = !key.isEmpty && key.first != "." && key.utf8.count <= 200
            && key.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) }
        if plain { return key }
        let digits = Array("0123456789abcdef".utf8)
        return "x" + String(decoding: key.utf8.prefix(120).flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
    }

    func recordSubmission(_ id: String, tasks: StrideThrough<Int>?) throws(DRMAAError) {
        let line = tasks.map { range -> String in
            let (first, last, step) = arrayBounds(range)
            return "submitted \(id) \(first) \(last) \(step)"
        } ?? "submitted \(id)"
        try JournalFile.append(line, to: path)
    }

    func recordReaped(_ ids: [String]) throws(DRMAAError) {
        guard !ids.isEmpty else { return }
        try JournalFile.append("reaped " + ids.joined(separator: " "), to: path)
    }

    func remove() { JournalFile.remove(path) }

    /// One submission the journal names.
    struct Submitted {
        var id: String
        /// A bulk job's task indexes.
        var tasks: StrideThrough<Int>?

        /// Its job ids: the job's, or its tasks' (`<id>_<index>`).
        var jobIDs: [String] { tasks.map { $0.map { "\(id)_\($0)" } } ?? [id] }
    }

    /// The journal's submissions and reaped ids; `nil` if it does not exist. Lines it does not
    /// understand (a torn last line) are skipped.
    func read() throws(DRMAAError) -> (submitted: [Submitted], reaped: Set<String>)? {
        guard let text = try JournalFile.read(path) else { return nil }
        return Self.parse(text)
    }

    static func parse(_ text: String) -> (submitted: [Submitted], reaped: Set<String>) {
        var submitted: [Submitted] = []
        var reaped: Set<String> = []
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            switch words.first {
            case "submitted" where words.count == 2:
                submitted.append(Submitted(id: String(words[1]), tasks: nil))
            case "submitted" where words.count == 5:
                guard let first = Int(words[2]), let last = Int(words[3]), let step = Int(words[4]), step >= 1, last >= first,
                      (last - first) / step < Session.maximumBulkTasks else { continue }
                submitted.append(Submitted(id: String(words[1]), tasks: stride(from: first, through: last, by: step)))
            case "reaped":
                reaped.formUnion(words.dropFirst().map(String.init))
            default:
                continue
            }
        }
        return (submitted, reaped)
    }
}

/// The first and last index and the step of a bulk job's task indexes.
func arrayBounds(_ indexes: StrideThrough<Int>) -> (first: Int, last: Int, step: Int) {
    var iterator = indexes.makeIterator()
    guard let first = iterator.next() else { return (0, 0, 1) }
    guard let second = iterator.next() else { return (first, first, 1) }
    var last = second
    while let next = iterator.next() { last = next }
    return (first, last, second - first)
}
