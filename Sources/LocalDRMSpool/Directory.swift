import DRMAACore
import Glibc
import LocalDRM

/// The file-system calls of the spool (the directory's checks, the database file's creation).
enum SpoolFiles {
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
