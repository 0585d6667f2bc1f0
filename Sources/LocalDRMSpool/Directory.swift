import DRMAACore
import Glibc

/// Where a user's spool lives, and the checks that it is the user's own.
public enum SpoolLocation {
    /// The spool directory for `environment` (the process's by default):
    /// `$DRMAA_LOCAL_STATE_DIR` if set (it must be absolute), else `$XDG_STATE_HOME/swift-drmaa`
    /// (an unset, empty or relative `XDG_STATE_HOME` is ignored, as the XDG specification says),
    /// else `$HOME/.local/state/swift-drmaa` (the password database's home if `HOME` is unset).
    public static func directory(environment: [String: String]? = nil) throws(DRMAAError) -> String {
        let environment = environment ?? processEnvironment()
        if let explicit = environment["DRMAA_LOCAL_STATE_DIR"], !explicit.isEmpty {
            guard explicit.hasPrefix("/") else {
                throw DRMAAError(.drmsInitFailed, "DRMAA_LOCAL_STATE_DIR '\(explicit)' is not an absolute path")
            }
            return explicit
        }
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") { return joined(state, "swift-drmaa") }
        var home = environment["HOME"] ?? ""
        if home.isEmpty, let entry = getpwuid(geteuid()), let dir = entry.pointee.pw_dir { home = String(cString: dir) }
        guard home.hasPrefix("/") else {
            throw DRMAAError(.drmsInitFailed, "no spool directory: HOME is not set and the password database has no home for uid \(geteuid()); set DRMAA_LOCAL_STATE_DIR")
        }
        return joined(joined(home, ".local/state"), "swift-drmaa")
    }

    private static func joined(_ parent: String, _ name: String) -> String {
        parent.hasSuffix("/") ? parent + name : parent + "/" + name
    }

    private static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            let pair = String(cString: pointer)
            if let equals = pair.firstIndex(of: "=") { result[String(pair[..<equals])] = String(pair[pair.index(after: equals)...]) }
            entry += 1
        }
        return result
    }
}

/// The file-system calls of the spool (the directory's checks, the database file's creation).
enum SpoolFiles {
    /// Makes `path` and its missing parents with mode 0700 (as the XDG specification asks), then
    /// checks that it is a directory of this user with no access for group or others.
    static func prepareDirectory(_ path: String) throws(DRMAAError) {
        guard path.hasPrefix("/") else { throw DRMAAError(.drmsInitFailed, "the spool directory '\(path)' is not an absolute path") }
        guard !path.utf8.contains(0) else { throw DRMAAError(.drmsInitFailed, "the spool directory '\(path)' contains a NUL byte") }
        try makeDirectories(path)
        var info = stat()
        guard stat(path, &info) == 0 else { throw DRMAAError(.drmsInitFailed, "cannot examine the spool directory '\(path)': \(errorText())") }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw DRMAAError(.drmsInitFailed, "the spool directory '\(path)' exists but is not a directory")
        }
        guard info.st_uid == geteuid() else {
            throw DRMAAError(.drmsInitFailed, "the spool directory '\(path)' belongs to uid \(info.st_uid), not to this user (uid \(geteuid())); refusing to keep jobs in it")
        }
        let mode = info.st_mode & 0o7777
        guard mode & 0o077 == 0 else {
            throw DRMAAError(.drmsInitFailed, "the spool directory '\(path)' has mode \(octal(mode)): group and others must have no access to it (chmod 700 '\(path)')")
        }
    }

    private static func makeDirectories(_ path: String) throws(DRMAAError) {
        if mkdir(path, 0o700) == 0 { return }
        let error = errno
        if error == EEXIST { return }
        if error == ENOENT {
            var parent = path
            while parent.count > 1, parent.hasSuffix("/") { parent.removeLast() }
            if let slash = parent.lastIndex(of: "/"), slash != parent.startIndex {
                try makeDirectories(String(parent[..<slash]))
                if mkdir(path, 0o700) == 0 || errno == EEXIST { return }
            }
        }
        throw DRMAAError(.drmsInitFailed, "cannot create the spool directory '\(path)': \(errorText())")
    }

    /// Creates the database file with mode 0600 if it does not exist (SQLite gives its journal
    /// files the database's mode); refuses a symbolic link or anything but a regular file.
    static func prepareDatabaseFile(_ path: String) throws(DRMAAError) {
        var fd: Int32
        repeat { fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0o600) } while fd == -1 && errno == EINTR
        guard fd >= 0 else { throw DRMAAError(.drmsInitFailed, "cannot open the spool database '\(path)': \(errorText())") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw DRMAAError(.drmsInitFailed, "the spool database '\(path)' is not a regular file")
        }
    }

    private static func errorText() -> String { String(cString: strerror(errno)) }

    static func octal(_ mode: mode_t) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

/// Which process a pid names, durably: the pid and the kernel's start time of the process, so
/// that a restarted daemon can tell its shepherd from an unrelated process that reused the pid.
public struct ProcessIdentity: Sendable, Hashable {
    /// The process id.
    public var pid: Int32
    /// The process's start time in clock ticks after boot (field 22 of `/proc/<pid>/stat`).
    public var startTime: UInt64

    /// The identity of process `pid` started at `startTime`.
    public init(pid: Int32, startTime: UInt64) {
        self.pid = pid
        self.startTime = startTime
    }

    /// The identity of the live process `pid`, nil if there is none (or `/proc` is unreadable).
    public static func of(pid: Int32) -> ProcessIdentity? {
        guard pid > 0 else { return nil }
        var fd: Int32
        repeat { fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC) } while fd == -1 && errno == EINTR
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1024)
        var count = 0
        while count < buffer.count {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
            if n == -1 && errno == EINTR { continue }
            guard n > 0 else { break }
            count += n
        }
        // The command name (field 2) is in parentheses and may hold spaces or ')': fields are
        // counted after the last ')'. The start time is the 20th field after it (field 22).
        guard let close = buffer[..<count].lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = buffer[(close + 1)..<count].split(separator: UInt8(ascii: " "))
        guard fields.count >= 20, let start = UInt64(String(decoding: fields[19], as: UTF8.self)) else { return nil }
        return ProcessIdentity(pid: pid, startTime: start)
    }

    /// True if the process is still the one this identity names.
    public var isAlive: Bool { ProcessIdentity.of(pid: pid) == self }
}
