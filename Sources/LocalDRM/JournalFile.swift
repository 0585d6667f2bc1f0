import DRMAACore
import Glibc

/// A small append-only text file of the user's (a session's journal): lines appended with one
/// `write` each (`O_APPEND`, so that processes appending at once never interleave within a line),
/// read back whole. Used by backends whose sessions must be found again by another process.
package enum JournalFile {
    /// The directory `name` in the user's state directory (``StateDirectory/path(environment:)``),
    /// made with mode 0700 and checked to be the user's own.
    package static func directory(_ name: String) throws(DRMAAError) -> String {
        let base = try StateDirectory.path()
        try StateDirectory.prepare(base)
        let path = base.hasSuffix("/") ? base + name : base + "/" + name
        try StateDirectory.prepare(path)
        return path
    }

    /// Appends `line` and a newline to `path` (created with mode 0600).
    package static func append(_ line: String, to path: String) throws(DRMAAError) {
        do throws(Errno) {
            let fd = try Syscall.open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, mode: 0o600)
            defer { Syscall.close(fd) }
            try Syscall.writeAll(fd, Array((line + "\n").utf8))
        } catch {
            throw DRMAAError(.internalError, "cannot write the session journal '\(path)': \(error)")
        }
    }

    /// The whole of `path`, `nil` if there is no such file.
    package static func read(_ path: String, limit: Int = 1 << 28) throws(DRMAAError) -> String? {
        do throws(Syscall.ConfigurationFileError) {
            return try Syscall.readConfigurationFile(path, limit: limit)
        } catch {
            if case .cannotOpen(let errno) = error, errno.rawValue == ENOENT { return nil }
            throw DRMAAError(.internalError, "cannot read the session journal '\(path)': \(error)")
        }
    }

    /// Removes `path`; a missing file is not an error.
    package static func remove(_ path: String) { Syscall.removeFile(path) }
}
