import DRMAACore
import LocalDRM
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Contact strings: `Session.initialize(contact:)` (the `name=value;…` split and `session=<key>`)
/// and LocalDRM's options `slots=`, `grace=`, `categories=`, `emulate=`, `nonzero_exit=`.
///
/// Input: the contact on the first line; the rest is the text of the job category file `c` in
/// the harness's scratch directory (a `categories=` value must be a plain file name, which
/// LocalDRM is given inside that directory; values with `/` are skipped, so that the fuzzer
/// never opens devices). `$KEY` in the contact
/// stands for the key of an exited session, so that re-attaching is reached too.
/// Invariants: a session on a recording system gets options with non-empty names and values
/// stripped as documented, and formatting them back gives the same options; errors are
/// INVALID_CONTACT_STRING; LocalDRM accepts the options exactly when each is valid as documented
/// and the category file parses.
enum ContactTarget {
    /// The exited session `$KEY` names; re-attached and exited again by each input that uses it.
    /// Re-attaching works from any `Session` object; a session that did not re-attach is dropped
    /// without `exit`, so that the registry of exited sessions does not grow with the inputs.
    static let exitedKey: String = {
        let session = Session(system: RecordingSystem())
        do {
            try session.initialize()
        } catch {
            fail("a session without contact options does not start: \(error)")
        }
        let key = String(session.contact.dropFirst("session=".count))
        try? session.exit()
        return key
    }()

    /// A scratch directory: the category file `c` and a directory `d`.
    static let directory: String = {
        var template = Array("/tmp/drmaa-fuzz-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { fail("mkdtemp failed") }
        let path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard mkdir(path + "/d", 0o700) == 0 else { fail("cannot set up \(path)") }
        unsetenv(LocalDRM.slotsVariable)
        unsetenv(LocalDRM.categoriesVariable)
        unsetenv(LocalDRM.emulationVariable)
        unsetenv(LocalDRM.nonzeroExitVariable)
        return path
    }()

    static func run(_ data: [UInt8]) -> Int32 {
        _ = directory
        let parts = data.split(separator: UInt8(ascii: "\n"), maxSplits: 1, omittingEmptySubsequences: false)
        var contact = String(decoding: parts[0], as: UTF8.self)
        let categoryFile = parts.count > 1 ? Array(parts[1]) : []
        let usesKey = contact.contains("$KEY")
        if usesKey { contact = contact.replacing("$KEY", with: exitedKey) }

        let system = RecordingSystem()
        let session = Session(system: system)
        do {
            try session.initialize(contact: contact)
        } catch {
            check(error.code == .invalidContactString, "contact \(quoted(contact)): error \(error.code) \(error.message)")
            check(!session.isActive, "contact \(quoted(contact)) failed but left the session active")
            return 0
        }
        guard let options = system.options else {
            // Re-attached: only `session=` parts, and no backend was made. Exit stores it again.
            check(usesKey && session.contact == "session=\(exitedKey)", "contact \(quoted(contact)) re-attached to \(session.contact)")
            try? session.exit()
            return 0
        }
        for (name, value) in options {
            check(!name.isEmpty && name != "session" && !name.contains(";") && !name.contains("=") && name.first != " ",
                  "contact \(quoted(contact)) gives the option name \(quoted(name))")
            check(!value.contains(";") && value.last != " ", "contact \(quoted(contact)) gives the value \(quoted(value))")
        }
        let formatted = options.map { "\($0.name)=\($0.value)" }.joined(separator: ";")
        let again = RecordingSystem()
        do {
            try Session(system: again).initialize(contact: formatted)
        } catch {
            fail("contact \(quoted(contact)) formatted as \(quoted(formatted)) is refused: \(error.message)")
        }
        check(again.options.map { $0.map { "\($0.name)=\($0.value)" } } == options.map { "\($0.name)=\($0.value)" },
              "contact \(quoted(contact)) formatted as \(quoted(formatted)) gives other options")
        return checkLocalDRM(options, categoryFile: categoryFile, contact: contact)
    }

    static func checkLocalDRM(_ options: [(name: String, value: String)], categoryFile: [UInt8], contact: String) -> Int32 {
        var expected = true
        var categories: String?
        var inDirectory = options
        for (index, (name, value)) in options.enumerated() {
            switch name {
            case "slots": if !(Int(value).map { LocalDRM.slotRange.contains($0) } ?? false) { expected = false }
            case "grace": if !(Double(value).map { LocalDRM.graceRange.contains($0) } ?? false) { expected = false }
            case "emulate": if !LocalDRM.emulationValues.contains(value) { expected = false }
            case "nonzero_exit": if LocalDRM.NonzeroExit(rawValue: value) == nil { expected = false }
            case "categories":
                if value.contains("/") { return -1 }
                if value.isEmpty { expected = false } else { categories = value; inDirectory[index].value = directory + "/" + value }
            default: expected = false
            }
        }
        if expected, let categories {
            if categories == "c" {
                guard writeFile(directory + "/c", categoryFile) else { fail("cannot write the category file") }
                expected = (try? JobCategories(parsing: String(decoding: categoryFile, as: UTF8.self), origin: directory + "/c")) != nil
            } else {
                expected = false  // no such file, or the directory `d`, `.` or `..`
            }
        }
        let configuration = LocalDRM.Configuration(slots: 2, homeDirectory: directory, clock: FixedClock(1_700_000_000),
                                                   timeZone: FixedOffsetTimeZone.utc)
        do {
            _ = try LocalDRM(configuration: configuration).makeBackend(options: inDirectory, jobs: JobTable())
            check(expected, "LocalDRM accepts the contact \(quoted(contact))")
        } catch {
            check(!expected, "LocalDRM refuses the contact \(quoted(contact)): \(error.message)")
            check(error.code == .invalidContactString || error.code == .drmsInitFailed, "contact \(quoted(contact)): error \(error.code)")
        }
        return 0
    }

    static func writeFile(_ path: String, _ bytes: [UInt8]) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count
    }
}

/// A DRM system that records the contact options it is given and runs nothing.
final class RecordingSystem: DRMSystem {
    private let recorded = Mutex<[(name: String, value: String)]?>(nil)
    var options: [(name: String, value: String)]? { recorded.withLock { $0 } }
    var drmsInfo: String { "recording" }
    var drmaaImplementation: String { "recording" }

    func makeBackend(options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> any Backend {
        recorded.withLock { $0 = options }
        return InertBackend()
    }
}

/// A backend that accepts submissions and does nothing with them.
final class InertBackend: Backend {
    var homeDirectory: String { "/home/fuzz" }
    var clock: any WallClock { FixedClock(1_700_000_000) }
    var timeZone: any TimeZoneRule { FixedOffsetTimeZone.utc }
    func submit(_ submission: Submission) throws(DRMAAError) {}
    func control(_ jobID: String, _ action: JobControlAction) throws(DRMAAError) {}
}
